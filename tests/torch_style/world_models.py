"""ctallec/world-models (Ha & Schmidhuber's World Models in PyTorch) at tiny sizes on synthetic numpy rollouts.

models/vae.py (the conv Encoder with ``fc_mu`` / ``fc_logsigma``, the transposed-conv Decoder ending in
``F.sigmoid``, VAE's reparameterisation by ``logsigma.exp()`` and ``torch.randn_like`` whose draw the harness
replaces by numpy noise), trainvae.py (``loss_function``'s summed ``F.mse_loss(..., size_average=False)`` + the KLD
in ``logsigma``, Adam, ``ReduceLROnPlateau`` and utils/learning's ``EarlyStopping`` with their ``state_dict``\\ s,
``save_checkpoint`` of ``torch.save``\\ d dicts to ``checkpoint.tar`` / ``best.tar``, the reload of ``best.tar``,
decoded samples), models/mdrnn.py (``gmm_loss`` through ``Normal(mus, sigmas).log_prob`` and a hand-written
logsumexp, ``_MDRNNBase``'s ``gmm_linear``, ``MDRNN`` over ``nn.LSTM`` and ``MDRNNCell`` over ``nn.LSTMCell`` with
their ``gmm_outs`` slicing, ``torch.exp`` sigmas and ``f.log_softmax`` mixture weights), trainmdrnn.py (``to_latent``
under ``torch.no_grad()`` with ``f.upsample(..., mode='bilinear', align_corners=True)``, ``get_loss``'s GMM +
``binary_cross_entropy_with_logits`` + ``mse_loss`` over ``scale``, RMSprop(alpha=.9), ``data_pass`` with its
cumulated terms and postfix line), models/controller.py's linear Controller on ``torch.cat(inputs, dim=1)``, and
utils/misc.py's ``flatten_parameters`` / ``unflatten_parameters`` (``torch.Tensor(params)``) / ``load_parameters``
(``p.data.copy_``) with the RolloutGenerator's rollouts through an MDRNNCell loaded by ``k.strip('_l0')`` keys, on a
numpy toy environment, in place of CMA-ES. The harness runs it on torch and, with the imports swapped, on ours."""

from functools import partial
from os import mkdir
from os.path import exists, join

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.functional as f
from torch.distributions.normal import Normal
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.utils.data import DataLoader, Dataset

ASIZE, LSIZE, RSIZE, RED_SIZE, SIZE = 3, 4, 8, 64, 32
GAUSSIANS, BSIZE, SEQ_LEN = 3, 2, 3

# ---------------------------------------------------------------- the harness's noise (the generators differ)
NOISE = {"rng": np.random.default_rng(0)}


def set_noise(seed):
    """The numpy generator that replaces ``torch.randn_like`` / ``torch.randn`` draws from now on."""
    NOISE["rng"] = np.random.default_rng(seed)


def feed(drawn):
    """``drawn`` (a torch draw) replaced by numpy standard normals of its shape, float32."""
    return torch.from_numpy(NOISE["rng"].standard_normal(tuple(drawn.shape)).astype(np.float32))


# ---------------------------------------------------------------- synthetic rollouts
def make_rollouts(n=3, length=5, seed=0):
    """``n`` rollouts as the data generation's .npz files hold them: uint8 ``observations`` (length, SIZE, SIZE, 3) of
    a moving blob, float ``actions`` (length, ASIZE), ``rewards`` and 0/1 ``terminals`` (length,)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    rollouts = []
    for _ in range(n):
        pos = rng.uniform(8, SIZE - 8, 2)
        actions = rng.uniform(-1, 1, (length, ASIZE))
        obs, rewards = [], []
        for t in range(length):
            pos = np.clip(pos + 2 * actions[t, :2], 0, SIZE - 1)
            blob = np.exp(-((yy - pos[0]) ** 2 + (xx - pos[1]) ** 2) / 18.0)
            img = np.stack([blob, 0.5 * blob + 0.2 * (actions[t, 2] + 1), 1 - blob], -1)
            obs.append((255 * np.clip(img + rng.uniform(0, 0.05, img.shape), 0, 1)).astype(np.uint8))
            rewards.append(float(blob[SIZE // 2, SIZE // 2] - 0.1))
        terminals = np.zeros(length)
        terminals[-1] = 1
        rollouts.append({"observations": np.stack(obs), "actions": actions, "rewards": np.array(rewards),
                         "terminals": terminals})
    return rollouts


class RolloutObservationDataset(Dataset):
    """Single observations, as the VAE trains on them (the transform: resized to RED_SIZE, to a CHW float)."""

    def __init__(self, rollouts, transform):
        self._data = [obs for r in rollouts for obs in r["observations"]]
        self._transform = transform

    def __len__(self):
        return len(self._data)

    def __getitem__(self, i):
        return self._transform(self._data[i])


class RolloutSequenceDataset(Dataset):
    """Sequences of SEQ_LEN transitions: obs, action, reward, terminal, next_obs (as _get_data slices them)."""

    def __init__(self, rollouts, seq_len, transform):
        self._rollouts = rollouts
        self._seq_len = seq_len
        self._transform = transform
        self._index = [(r, s) for r in range(len(rollouts)) for s in range(len(rollouts[r]["rewards"]) - seq_len)]

    def __len__(self):
        return len(self._index)

    def __getitem__(self, i):
        r, seq_index = self._index[i]
        data = self._rollouts[r]
        obs_data = data['observations'][seq_index:seq_index + self._seq_len + 1]
        obs_data = self._transform(obs_data.astype(np.float32))
        obs, next_obs = obs_data[:-1], obs_data[1:]
        action = data['actions'][seq_index + 1:seq_index + self._seq_len + 1]
        action = action.astype(np.float32)
        reward, terminal = [data[key][seq_index + 1:seq_index + self._seq_len + 1].astype(np.float32)
                            for key in ('rewards', 'terminals')]
        return obs, action, reward, terminal, next_obs


def vae_transform(obs):
    """The VAE's transform, in numpy: SIZE -> RED_SIZE by pixel repetition, HWC uint8 -> CHW float32 in [0, 1]."""
    obs = np.repeat(np.repeat(obs, RED_SIZE // SIZE, 0), RED_SIZE // SIZE, 1)
    return np.transpose(obs, (2, 0, 1)).astype(np.float32) / 255


# ---------------------------------------------------------------- models/vae.py
class Decoder(nn.Module):
    """ VAE decoder """
    def __init__(self, img_channels, latent_size):
        super(Decoder, self).__init__()  # noqa: UP008 - the repository's spelling
        self.latent_size = latent_size
        self.img_channels = img_channels

        self.fc1 = nn.Linear(latent_size, 32)
        self.deconv1 = nn.ConvTranspose2d(32, 16, 5, stride=2)
        self.deconv2 = nn.ConvTranspose2d(16, 8, 5, stride=2)
        self.deconv3 = nn.ConvTranspose2d(8, 4, 6, stride=2)
        self.deconv4 = nn.ConvTranspose2d(4, img_channels, 6, stride=2)

    def forward(self, x):  # pylint: disable=arguments-differ
        x = F.relu(self.fc1(x))
        x = x.unsqueeze(-1).unsqueeze(-1)
        x = F.relu(self.deconv1(x))
        x = F.relu(self.deconv2(x))
        x = F.relu(self.deconv3(x))
        reconstruction = F.sigmoid(self.deconv4(x))
        return reconstruction


class Encoder(nn.Module):  # pylint: disable=too-many-instance-attributes
    """ VAE encoder """
    def __init__(self, img_channels, latent_size):
        super(Encoder, self).__init__()  # noqa: UP008
        self.latent_size = latent_size
        # self.img_size = img_size
        self.img_channels = img_channels

        self.conv1 = nn.Conv2d(img_channels, 4, 4, stride=2)
        self.conv2 = nn.Conv2d(4, 8, 4, stride=2)
        self.conv3 = nn.Conv2d(8, 8, 4, stride=2)
        self.conv4 = nn.Conv2d(8, 16, 4, stride=2)

        self.fc_mu = nn.Linear(2 * 2 * 16, latent_size)
        self.fc_logsigma = nn.Linear(2 * 2 * 16, latent_size)

    def forward(self, x):  # pylint: disable=arguments-differ
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        x = F.relu(self.conv4(x))
        x = x.view(x.size(0), -1)

        mu = self.fc_mu(x)
        logsigma = self.fc_logsigma(x)

        return mu, logsigma


class VAE(nn.Module):
    """ Variational Autoencoder """
    def __init__(self, img_channels, latent_size):
        super(VAE, self).__init__()  # noqa: UP008
        self.encoder = Encoder(img_channels, latent_size)
        self.decoder = Decoder(img_channels, latent_size)

    def forward(self, x):  # pylint: disable=arguments-differ
        mu, logsigma = self.encoder(x)
        sigma = logsigma.exp()
        eps = torch.randn_like(sigma)
        eps = feed(eps)  # (the harness: the same numpy draw in both runs)
        z = eps.mul(sigma).add_(mu)

        recon_x = self.decoder(z)
        return recon_x, mu, logsigma


# ---------------------------------------------------------------- models/mdrnn.py
def gmm_loss(batch, mus, sigmas, logpi, reduce=True):  # pylint: disable=too-many-arguments
    """ Computes the gmm loss: - log sum_k pi_k N(batch; mu_k, sigma_k), averaged unless ``reduce`` is False. """
    batch = batch.unsqueeze(-2)
    normal_dist = Normal(mus, sigmas)
    g_log_probs = normal_dist.log_prob(batch)
    g_log_probs = logpi + torch.sum(g_log_probs, dim=-1)
    max_log_probs = torch.max(g_log_probs, dim=-1, keepdim=True)[0]
    g_log_probs = g_log_probs - max_log_probs

    g_probs = torch.exp(g_log_probs)
    probs = torch.sum(g_probs, dim=-1)

    log_prob = max_log_probs.squeeze() + torch.log(probs)
    if reduce:
        return - torch.mean(log_prob)
    return - log_prob


class _MDRNNBase(nn.Module):
    def __init__(self, latents, actions, hiddens, gaussians):
        super().__init__()
        self.latents = latents
        self.actions = actions
        self.hiddens = hiddens
        self.gaussians = gaussians

        self.gmm_linear = nn.Linear(
            hiddens, (2 * latents + 1) * gaussians + 2)

    def forward(self, *inputs):
        pass


class MDRNN(_MDRNNBase):
    """ MDRNN model for multi steps forward """
    def __init__(self, latents, actions, hiddens, gaussians):
        super().__init__(latents, actions, hiddens, gaussians)
        self.rnn = nn.LSTM(latents + actions, hiddens)

    def forward(self, actions, latents):  # pylint: disable=arguments-differ
        """ MULTI STEPS forward: (SEQ_LEN, BSIZE, ...) inputs to mus, sigmas, logpi, rs, ds. """
        seq_len, bs = actions.size(0), actions.size(1)

        ins = torch.cat([actions, latents], dim=-1)
        outs, _ = self.rnn(ins)
        gmm_outs = self.gmm_linear(outs)

        stride = self.gaussians * self.latents

        mus = gmm_outs[:, :, :stride]
        mus = mus.view(seq_len, bs, self.gaussians, self.latents)

        sigmas = gmm_outs[:, :, stride:2 * stride]
        sigmas = sigmas.view(seq_len, bs, self.gaussians, self.latents)
        sigmas = torch.exp(sigmas)

        pi = gmm_outs[:, :, 2 * stride: 2 * stride + self.gaussians]
        pi = pi.view(seq_len, bs, self.gaussians)
        logpi = f.log_softmax(pi, dim=-1)

        rs = gmm_outs[:, :, -2]

        ds = gmm_outs[:, :, -1]

        return mus, sigmas, logpi, rs, ds


class MDRNNCell(_MDRNNBase):
    """ MDRNN model for one step forward """
    def __init__(self, latents, actions, hiddens, gaussians):
        super().__init__(latents, actions, hiddens, gaussians)
        self.rnn = nn.LSTMCell(latents + actions, hiddens)

    def forward(self, action, latent, hidden):  # pylint: disable=arguments-differ
        """ ONE STEP forward: mus, sigmas, logpi, r, d, next_hidden. """
        in_al = torch.cat([action, latent], dim=1)

        next_hidden = self.rnn(in_al, hidden)
        out_rnn = next_hidden[0]

        out_full = self.gmm_linear(out_rnn)

        stride = self.gaussians * self.latents

        mus = out_full[:, :stride]
        mus = mus.view(-1, self.gaussians, self.latents)

        sigmas = out_full[:, stride:2 * stride]
        sigmas = sigmas.view(-1, self.gaussians, self.latents)
        sigmas = torch.exp(sigmas)

        pi = out_full[:, 2 * stride:2 * stride + self.gaussians]
        pi = pi.view(-1, self.gaussians)
        logpi = f.log_softmax(pi, dim=-1)

        r = out_full[:, -2]

        d = out_full[:, -1]

        return mus, sigmas, logpi, r, d, next_hidden


# ---------------------------------------------------------------- models/controller.py
class Controller(nn.Module):
    """ Controller """
    def __init__(self, latents, recurrents, actions):
        super().__init__()
        self.fc = nn.Linear(latents + recurrents, actions)

    def forward(self, *inputs):
        cat_in = torch.cat(inputs, dim=1)
        return self.fc(cat_in)


# ---------------------------------------------------------------- utils/learning.py, utils/misc.py
class EarlyStopping(object):  # noqa: UP004
    """ Stops when the monitored quantity has not improved for ``patience`` epochs (ReduceLROnPlateau's logic). """
    def __init__(self, mode='min', patience=10, threshold=1e-4, threshold_mode='rel'):
        self.patience = patience
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.best = None
        self.num_bad_epochs = None
        self.mode_worse = None  # the worse value for the chosen mode
        self.is_better = None
        self.last_epoch = -1
        self._init_is_better(mode=mode, threshold=threshold, threshold_mode=threshold_mode)
        self._reset()

    def _reset(self):
        self.best = self.mode_worse
        self.num_bad_epochs = 0

    def step(self, metrics, epoch=None):
        current = metrics
        if epoch is None:
            epoch = self.last_epoch = self.last_epoch + 1
        self.last_epoch = epoch

        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1

    def _cmp(self, mode, threshold_mode, threshold, a, best):  # pylint: disable=too-many-arguments
        if mode == 'min' and threshold_mode == 'rel':
            rel_epsilon = 1. - threshold
            return a < best * rel_epsilon
        if mode == 'min' and threshold_mode == 'abs':
            return a < best - threshold
        if mode == 'max' and threshold_mode == 'rel':
            rel_epsilon = threshold + 1.
            return a > best * rel_epsilon
        return a > best + threshold

    def _init_is_better(self, mode, threshold, threshold_mode):
        self.mode_worse = float('inf') if mode == 'min' else -float('inf')
        self.is_better = partial(self._cmp, mode, threshold_mode, threshold)

    @property
    def stop(self):
        """ Should we stop learning? """
        return self.num_bad_epochs > self.patience

    def state_dict(self):
        """ Returns early stopping state """
        return {key: value for key, value in self.__dict__.items() if key != 'is_better'}

    def load_state_dict(self, state_dict):
        """ Loads early stopping state """
        self.__dict__.update(state_dict)
        self._init_is_better(mode=self.mode, threshold=self.threshold, threshold_mode=self.threshold_mode)


def save_checkpoint(state, is_best, filename, best_filename):
    """ Save state in filename. Also save in best_filename if is_best. """
    torch.save(state, filename)
    if is_best:
        torch.save(state, best_filename)


def flatten_parameters(params):
    """ Flattening parameters: a numpy array. """
    return torch.cat([p.detach().view(-1) for p in params], dim=0).cpu().numpy()


def unflatten_parameters(params, example, device):
    """ Unflatten parameters to the shapes of ``example``'s. """
    params = torch.Tensor(params).to(device)
    idx = 0
    unflattened = []
    for e_p in example:
        unflattened += [params[idx:idx + e_p.numel()].view(e_p.size())]
        idx += e_p.numel()
    return unflattened


def load_parameters(params, controller):
    """ Load flattened parameters into controller. """
    proto = next(controller.parameters())
    params = unflatten_parameters(
        params, controller.parameters(), proto.device)

    for p, p_0 in zip(controller.parameters(), params):
        p.data.copy_(p_0)


def grad_norm(model, log=None):
    """The global gradient norm; with ``log``, each parameter's gradient appended to ``log["grads"]`` (numpy)."""
    if log is not None:
        log.setdefault("grads", []).append({n: p.grad.numpy().copy() for n, p in model.named_parameters()})
    return float(sum(p.grad.norm(2) ** 2 for p in model.parameters() if p.grad is not None)) ** 0.5


def snapshot(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------- trainvae.py
def loss_function(recon_x, x, mu, logsigma):
    """ VAE loss function """
    BCE = F.mse_loss(recon_x, x, size_average=False)

    # see Appendix B from VAE paper:
    # Kingma and Welling. Auto-Encoding Variational Bayes. ICLR, 2014
    # https://arxiv.org/abs/1312.6114
    # 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2)
    KLD = -0.5 * torch.sum(1 + 2 * logsigma - mu.pow(2) - (2 * logsigma).exp())
    return BCE + KLD, BCE, KLD


def train_vae(model, rollouts_train, rollouts_test, logdir, epochs=3, noreload=True, log=None):
    """trainvae.py's main: returns the per-step / per-epoch history (``log`` lists, numpy arrays)."""
    log = {} if log is None else log
    for key in ("loss", "mse", "kld", "norm", "params", "lr", "test", "stops", "samples", "recon"):
        log.setdefault(key, [])
    device = torch.device("cpu")
    dataset_train = RolloutObservationDataset(rollouts_train, vae_transform)
    dataset_test = RolloutObservationDataset(rollouts_test, vae_transform)
    train_loader = DataLoader(dataset_train, batch_size=2, shuffle=False)
    test_loader = DataLoader(dataset_test, batch_size=2, shuffle=False)

    optimizer = torch.optim.Adam(model.parameters())
    scheduler = ReduceLROnPlateau(optimizer, 'min', factor=0.5, patience=0, threshold=0.01)
    earlystopping = EarlyStopping('min', patience=1, threshold=0.01)

    def train(epoch):
        """ One training epoch """
        model.train()
        train_loss = 0
        for batch_idx, data in enumerate(train_loader):
            data = data.to(device)
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss, bce, kld = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            log["norm"].append(grad_norm(model, log))
            optimizer.step()
            log["loss"].append(loss.item())
            log["mse"].append(bce.item())
            log["kld"].append(kld.item())
            log["params"].append(snapshot(model))
            if batch_idx % 1 == 0:
                print('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(  # noqa: UP032
                    epoch, batch_idx * len(data), len(train_loader.dataset),
                    100. * batch_idx / len(train_loader),
                    loss.item() / len(data)))

        print('====> Epoch: {} Average loss: {:.4f}'.format(  # noqa: UP032
            epoch, train_loss / len(train_loader.dataset)))

    def test():
        """ One test epoch """
        model.eval()
        test_loss = 0
        with torch.no_grad():
            for data in test_loader:
                data = data.to(device)
                recon_batch, mu, logvar = model(data)
                test_loss += loss_function(recon_batch, data, mu, logvar)[0].item()

        test_loss /= len(test_loader.dataset)
        print('====> Test set loss: {:.4f}'.format(test_loss))  # noqa: UP032
        log["recon"].append(recon_batch.numpy().copy())
        return test_loss

    vae_dir = join(logdir, 'vae')
    if not exists(vae_dir):
        mkdir(vae_dir)
        mkdir(join(vae_dir, 'samples'))

    reload_file = join(vae_dir, 'best.tar')
    if not noreload and exists(reload_file):
        state = torch.load(reload_file)
        print("Reloading model at epoch {}"
              ", with test error {}".format(
                  state['epoch'],
                  state['precision']))
        model.load_state_dict(state['state_dict'])
        optimizer.load_state_dict(state['optimizer'])
        scheduler.load_state_dict(state['scheduler'])
        earlystopping.load_state_dict(state['earlystopping'])

    cur_best = None

    for epoch in range(1, epochs + 1):
        set_noise(100 + epoch)
        train(epoch)
        test_loss = test()
        scheduler.step(test_loss)
        earlystopping.step(test_loss)
        log["test"].append(test_loss)
        log["lr"].append(optimizer.param_groups[0]['lr'])
        log["stops"].append((earlystopping.num_bad_epochs, earlystopping.stop, scheduler.num_bad_epochs))

        # checkpointing
        best_filename = join(vae_dir, 'best.tar')
        filename = join(vae_dir, 'checkpoint.tar')
        is_best = not cur_best or test_loss < cur_best
        if is_best:
            cur_best = test_loss

        save_checkpoint({
            'epoch': epoch,
            'state_dict': model.state_dict(),
            'precision': test_loss,
            'optimizer': optimizer.state_dict(),
            'scheduler': scheduler.state_dict(),
            'earlystopping': earlystopping.state_dict()
        }, is_best, filename, best_filename)

        with torch.no_grad():
            sample = feed(torch.randn(8, LSIZE)).to(device)
            sample = model.decoder(sample).cpu()
            log["samples"].append(sample.view(8, 3, RED_SIZE, RED_SIZE).numpy().copy())

        if earlystopping.stop:
            print("End of Training because of early stopping at epoch {}".format(epoch))  # noqa: UP032
            break
    return log


# ---------------------------------------------------------------- trainmdrnn.py
def train_mdrnn(rollouts_train, rollouts_test, logdir, epochs=2, include_reward=True, make=None, log=None):
    """trainmdrnn.py's main, the VAE loaded from ``logdir/vae/best.tar``; ``make`` builds the MDRNN (the harness
    hands both runs torch's initial weights). Returns the history."""
    log = {} if log is None else log
    for key in ("gmm", "bce", "mse", "loss", "norm", "params", "lr", "test", "postfix", "latents"):
        log.setdefault(key, [])
    device = torch.device("cpu")
    vae_file = join(logdir, 'vae', 'best.tar')
    assert exists(vae_file), "No trained VAE in the logdir..."
    state = torch.load(vae_file)
    print("Loading VAE at epoch {} "
          "with test error {}".format(
              state['epoch'], state['precision']))

    vae = VAE(3, LSIZE).to(device)
    vae.load_state_dict(state['state_dict'])

    # Loading model
    rnn_dir = join(logdir, 'mdrnn')
    rnn_file = join(rnn_dir, 'best.tar')

    if not exists(rnn_dir):
        mkdir(rnn_dir)

    mdrnn = make() if make is not None else MDRNN(LSIZE, ASIZE, RSIZE, GAUSSIANS)
    mdrnn.to(device)
    optimizer = torch.optim.RMSprop(mdrnn.parameters(), lr=1e-3, alpha=.9)
    scheduler = ReduceLROnPlateau(optimizer, 'min', factor=0.5, patience=0, threshold=0.05)
    earlystopping = EarlyStopping('min', patience=30)

    # (the repository's transform, made C-contiguous: numpy keeps the transposed layout, torch 2.13's collate keeps
    # those channels-last strides, bilinear upsampling and the convs propagate them, and the encoder's
    # ``x.view(x.size(0), -1)`` then raises in torch)
    transform = lambda x: np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)) / 255)  # noqa: E731
    train_loader = DataLoader(RolloutSequenceDataset(rollouts_train, SEQ_LEN, transform),
                              batch_size=BSIZE, shuffle=False, drop_last=True)
    test_loader = DataLoader(RolloutSequenceDataset(rollouts_test, SEQ_LEN, transform),
                             batch_size=BSIZE, shuffle=False, drop_last=True)

    def to_latent(obs, next_obs):
        """ Transform observations to latent space. """
        with torch.no_grad():
            obs, next_obs = [
                f.upsample(x.view(-1, 3, SIZE, SIZE), size=RED_SIZE,
                           mode='bilinear', align_corners=True)
                for x in (obs, next_obs)]

            (obs_mu, obs_logsigma), (next_obs_mu, next_obs_logsigma) = [
                vae(x)[1:] for x in (obs, next_obs)]

            latent_obs, latent_next_obs = [
                (x_mu + x_logsigma.exp() * feed(torch.randn_like(x_mu))).view(BSIZE, SEQ_LEN, LSIZE)
                for x_mu, x_logsigma in
                [(obs_mu, obs_logsigma), (next_obs_mu, next_obs_logsigma)]]
        return latent_obs, latent_next_obs

    def get_loss(latent_obs, action, reward, terminal, latent_next_obs, include_reward: bool):
        """ Compute losses: gmm, bce, mse and their (gmm + bce + mse) / scale. """
        latent_obs, action,\
            reward, terminal,\
            latent_next_obs = [arr.transpose(1, 0)
                               for arr in [latent_obs, action,
                                           reward, terminal,
                                           latent_next_obs]]
        mus, sigmas, logpi, rs, ds = mdrnn(action, latent_obs)
        gmm = gmm_loss(latent_next_obs, mus, sigmas, logpi)
        bce = f.binary_cross_entropy_with_logits(ds, terminal)
        if include_reward:
            mse = f.mse_loss(rs, reward)
            scale = LSIZE + 2
        else:
            mse = 0
            scale = LSIZE + 1
        loss = (gmm + bce + mse) / scale
        return dict(gmm=gmm, bce=bce, mse=mse, loss=loss)

    def data_pass(epoch, train, include_reward):  # pylint: disable=too-many-locals
        """ One pass through the data """
        if train:
            mdrnn.train()
            loader = train_loader
        else:
            mdrnn.eval()
            loader = test_loader

        cum_loss = 0
        cum_gmm = 0
        cum_bce = 0
        cum_mse = 0

        for i, data in enumerate(loader):
            obs, action, reward, terminal, next_obs = [arr.to(device) for arr in data]

            # transform obs
            latent_obs, latent_next_obs = to_latent(obs, next_obs)
            log["latents"].append(latent_obs.numpy().copy())

            if train:
                losses = get_loss(latent_obs, action, reward,
                                  terminal, latent_next_obs, include_reward)

                optimizer.zero_grad()
                losses['loss'].backward()
                log["norm"].append(grad_norm(mdrnn, log))
                optimizer.step()
                for key in ("gmm", "bce", "loss"):
                    log[key].append(losses[key].item())
                log["mse"].append(losses['mse'].item() if hasattr(losses['mse'], 'item') else losses['mse'])
                log["params"].append(snapshot(mdrnn))
            else:
                with torch.no_grad():
                    losses = get_loss(latent_obs, action, reward,
                                      terminal, latent_next_obs, include_reward)

            cum_loss += losses['loss'].item()
            cum_gmm += losses['gmm'].item()
            cum_bce += losses['bce'].item()
            cum_mse += losses['mse'].item() if hasattr(losses['mse'], 'item') else \
                losses['mse']

            log["postfix"].append("loss={loss:10.6f} bce={bce:10.6f} "  # noqa: UP032 - (tqdm's postfix string)
                                  "gmm={gmm:10.6f} mse={mse:10.6f}".format(
                                      loss=cum_loss / (i + 1), bce=cum_bce / (i + 1),
                                      gmm=cum_gmm / LSIZE / (i + 1), mse=cum_mse / (i + 1)))
        return cum_loss * BSIZE / len(loader.dataset)

    train = partial(data_pass, train=True, include_reward=include_reward)
    test = partial(data_pass, train=False, include_reward=include_reward)

    cur_best = None
    for e in range(epochs):
        set_noise(200 + e)
        train(e)
        test_loss = test(e)
        scheduler.step(test_loss)
        earlystopping.step(test_loss)
        log["test"].append(test_loss)
        log["lr"].append(optimizer.param_groups[0]['lr'])

        is_best = not cur_best or test_loss < cur_best
        if is_best:
            cur_best = test_loss
        checkpoint_fname = join(rnn_dir, 'checkpoint.tar')
        save_checkpoint({
            "state_dict": mdrnn.state_dict(),
            "optimizer": optimizer.state_dict(),
            'scheduler': scheduler.state_dict(),
            'earlystopping': earlystopping.state_dict(),
            "precision": test_loss,
            "epoch": e}, is_best, checkpoint_fname,
            rnn_file)

        if earlystopping.stop:
            print("End of Training because of early stopping at epoch {}".format(e))  # noqa: UP032
            break
    return log, mdrnn


# ---------------------------------------------------------------- utils/misc.py's RolloutGenerator, on a toy env
class ToyEnv:
    """A numpy stand-in for CarRacing: a blob moved by the first two action components; reward for being central."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.yy, self.xx = np.mgrid[0:RED_SIZE, 0:RED_SIZE]

    def _obs(self):
        blob = np.exp(-((self.yy - self.pos[0]) ** 2 + (self.xx - self.pos[1]) ** 2) / 60.0)
        return (255 * np.stack([blob, 0.5 * blob, 1 - blob], -1)).astype(np.uint8)

    def reset(self):
        self.pos = self.rng.uniform(16, RED_SIZE - 16, 2)
        return self._obs()

    def step(self, action):
        self.pos = np.clip(self.pos + 4 * np.tanh(action[:2]), 0, RED_SIZE - 1)
        reward = -np.abs(self.pos - RED_SIZE / 2).sum() / RED_SIZE
        return self._obs(), reward, False, {}


def transform(obs):
    """ToTensor: HWC uint8 -> CHW float in [0, 1]."""
    return torch.from_numpy(obs).permute(2, 0, 1).float().div(255)


class RolloutGenerator(object):  # noqa: UP004
    """ Utility to generate rollouts: the VAE, an MDRNNCell and a Controller loaded from ``mdir``'s best.tar files. """
    def __init__(self, mdir, device, time_limit, seed=0):
        vae_file, rnn_file, ctrl_file = \
            [join(mdir, m, 'best.tar') for m in ['vae', 'mdrnn', 'ctrl']]

        assert exists(vae_file) and exists(rnn_file), \
            "Either vae or mdrnn is untrained."

        vae_state, rnn_state = [
            torch.load(fname, map_location={'cuda:0': str(device)})
            for fname in (vae_file, rnn_file)]

        for m, s in (('VAE', vae_state), ('MDRNN', rnn_state)):
            print("Loading {} at epoch {} "
                  "with test loss {}".format(
                      m, s['epoch'], s['precision']))

        self.vae = VAE(3, LSIZE).to(device)
        self.vae.load_state_dict(vae_state['state_dict'])

        self.mdrnn = MDRNNCell(LSIZE, ASIZE, RSIZE, GAUSSIANS).to(device)
        self.mdrnn.load_state_dict(
            {k.strip('_l0'): v for k, v in rnn_state['state_dict'].items()})

        self.controller = Controller(LSIZE, RSIZE, ASIZE).to(device)

        # load controller if it was previously saved
        if exists(ctrl_file):
            ctrl_state = torch.load(ctrl_file, map_location={'cuda:0': str(device)})
            print("Loading Controller with reward {}".format(
                ctrl_state['reward']))
            self.controller.load_state_dict(ctrl_state['state_dict'])

        self.env = ToyEnv(seed)
        self.device = device

        self.time_limit = time_limit

    def get_action_and_transition(self, obs, hidden):
        """ Get action and transition. """
        _, latent_mu, _ = self.vae(obs)
        action = self.controller(latent_mu, hidden[0])
        _, _, _, _, _, next_hidden = self.mdrnn(action, latent_mu, hidden)
        return action.squeeze().cpu().numpy(), next_hidden

    def rollout(self, params, render=False, actions=None):
        """ Execute a rollout and returns minus cumulative reward. """
        # copy params into the controller
        if params is not None:
            load_parameters(params, self.controller)

        obs = self.env.reset()

        hidden = [
            torch.zeros(1, RSIZE).to(self.device)
            for _ in range(2)]

        cumulative = 0
        i = 0
        while True:
            obs = transform(obs).unsqueeze(0).to(self.device)
            action, hidden = self.get_action_and_transition(obs, hidden)
            if actions is not None:
                actions.append(action.copy())
            obs, reward, done, _ = self.env.step(action)

            cumulative += reward
            if done or i > self.time_limit:
                return - cumulative
            i += 1


def evaluate_controllers(logdir, pop_size=3, time_limit=2, seed=5, initial=None):
    """A CMA-ES-free stand-in for controller training: a population of float64 parameter vectors (numpy) evaluated
    by rollouts under ``no_grad``, the best written back and saved to ``ctrl/best.tar``, then reloaded."""
    out = {"returns": [], "actions": [], "flat": [], "dtype": None}
    ctrl_dir = join(logdir, 'ctrl')
    if not exists(ctrl_dir):
        mkdir(ctrl_dir)
    if initial is not None:  # (the harness: torch's initial Controller weights, numpy, for both runs)
        torch.save({'epoch': -1, 'reward': 0.0, 'state_dict': {k: torch.from_numpy(v) for k, v in initial.items()}},
                   join(ctrl_dir, 'best.tar'))
    set_noise(300)
    with torch.no_grad():
        r_gen = RolloutGenerator(logdir, torch.device("cpu"), time_limit, seed=seed)
        parameters = r_gen.controller.parameters()
        flat = flatten_parameters(parameters)
        out["flat"].append(flat)
        out["dtype"] = str(torch.Tensor(flat.astype(np.float64)).dtype)
        rng = np.random.default_rng(seed)
        population = [flat + 0.5 * rng.standard_normal(flat.shape) for _ in range(pop_size)]  # float64
        for params in population:
            actions = []
            out["returns"].append(r_gen.rollout(params, actions=actions))
            out["actions"].append(np.stack(actions))
            out["flat"].append(flatten_parameters(r_gen.controller.parameters()))
        best = population[int(np.argmin(out["returns"]))]
        load_parameters(best, r_gen.controller)
        torch.save({'epoch': 0, 'reward': -float(min(out["returns"])), 'state_dict': r_gen.controller.state_dict()},
                   join(ctrl_dir, 'best.tar'))
        r_gen = RolloutGenerator(logdir, torch.device("cpu"), time_limit, seed=seed)
        out["reloaded"] = flatten_parameters(r_gen.controller.parameters())
        out["best_return"] = r_gen.rollout(None)
    return out


def mdrnn_cell_matches(logdir, latents, actions):
    """The MDRNN checkpoint loaded by ``k.strip('_l0')`` into an MDRNNCell and unrolled over (SEQ_LEN, BSIZE, ...)
    inputs: its outputs stacked, beside the MDRNN's on the same inputs (float32 numpy)."""
    rnn_state = torch.load(join(logdir, 'mdrnn', 'best.tar'))
    mdrnn = MDRNN(LSIZE, ASIZE, RSIZE, GAUSSIANS)
    mdrnn.load_state_dict(rnn_state['state_dict'])
    cell = MDRNNCell(LSIZE, ASIZE, RSIZE, GAUSSIANS)
    keys = {k.strip('_l0'): v for k, v in rnn_state['state_dict'].items()}
    cell.load_state_dict(keys)
    latents, actions = torch.from_numpy(latents), torch.from_numpy(actions)
    with torch.no_grad():
        full = mdrnn(actions, latents)
        hidden = [torch.zeros(latents.size(1), RSIZE) for _ in range(2)]
        steps = []
        for t in range(latents.size(0)):
            mus, sigmas, logpi, r, d, hidden = cell(actions[t], latents[t], hidden)
            steps.append((mus, sigmas, logpi, r, d))
        stepped = [torch.stack([s[k] for s in steps]) for k in range(5)]
        per_sample = gmm_loss(latents, *full[:3], reduce=False)
    return {"keys": sorted(keys), "full": [x.numpy().copy() for x in full],
            "stepped": [x.numpy().copy() for x in stepped], "per_sample": per_sample.numpy().copy()}


def read_checkpoint(filename):
    """A ``save_checkpoint`` file loaded back (``torch.load``), its tensors as numpy arrays, its floats as floats."""
    def plain(x):
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        if torch.is_tensor(x):
            return x.numpy().copy()
        return x
    return plain(torch.load(filename))
