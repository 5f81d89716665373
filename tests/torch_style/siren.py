# ruff: noqa: A002, B007, UP031, E721, SIM102 - the repository's own spellings (``input`` / ``type`` arguments, unused
# loop indices, % formatting, ``type(m) == nn.Linear`` in nested ifs)
"""SIREN (Sitzmann et al. 2020, vsitzmann/siren) as its ``explore_siren.ipynb`` notebook writes it, with the pieces
of ``modules.py`` / ``diff_operators.py`` / ``loss_functions.py`` / ``training.py`` it mirrors, shrunk to a 16x16
synthetic image (a smooth pattern plus a little noise, from numpy) and a short 1-D signal.

- ``SineLayer``: ``nn.Linear`` with SIREN's init under ``torch.no_grad()`` (``uniform_(-1 / in, 1 / in)`` for the
  first layer, ``uniform_(-sqrt(6 / in) / omega_0, ...)`` otherwise) and ``sin(omega_0 * linear(x))``;
  ``forward_with_intermediate``.
- ``Siren``: the layers in an ``nn.Sequential``, ``outermost_linear`` with the final layer's init, ``forward``
  cloning / detaching the coordinates and making them require grad, ``forward_with_activations`` (``retain_grad``,
  an ``OrderedDict`` of activations); the notebook's activation-distribution section (a 1-D linspace signal,
  ``next(reversed(activations))``, ``output.mean().backward()``, 256-bin density histograms of values and grads).
- ``gradient`` / ``divergence`` / ``laplace`` as diff_operators.py, all by ``torch.autograd.grad(create_graph=True)``.
- ``get_mgrid``: ``linspace`` + ``meshgrid`` (the notebook's ``indexing``-less call, or ``indexing="ij"``) + ``stack``.
- The notebook's fits: the image (Adam lr 1e-4 on ``((model_output - ground_truth)**2).mean()``), the Poisson
  fits from the Sobel gradients (``gradients_mse``) or the Laplacian (``laplace_mse``) of ``scipy.ndimage``, so the
  training differentiates second and third derivatives of a sine network, and the audio Siren
  (``first_omega_0=3000``) on a 1-D signal; ``total_steps`` / ``steps_til_summary`` prints.
- training.py-style checkpoints (model and optimizer ``state_dict``, the step) and a resume.
- diff_operators.py's ``hessian`` / ``jacobian`` (rows written into ``torch.zeros`` by index assignment, a nan
  status), loss_functions.py's ``sdf`` (``torch.where`` constraints, ``F.cosine_similarity`` of the network's
  gradient to the normals, the eikonal term) on a circle's points, and modules.py's FCBlock / SingleBVPNet (one
  shared activation module, ``Module.apply`` of ``sine_init`` / ``first_layer_sine_init`` / kaiming / xavier inits,
  the ``{'coords': ...}`` input and ``{'model_in', 'model_out'}`` output; ``Sine``'s misspelt ``__init`` kept as the
  repository has it) trained over loss dicts as training.py sums them.
"""

import os
from collections import OrderedDict

import numpy as np
import scipy.ndimage
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd import grad
from torch.utils.data import DataLoader, Dataset


def synthetic_image(sidelength, seed=0):
    """A smooth pattern plus a little noise in [0, 1] (a stand-in for skimage's cameraman)."""
    rng = np.random.default_rng(seed)
    y, x = np.meshgrid(np.linspace(0, 1, sidelength), np.linspace(0, 1, sidelength), indexing="ij")
    img = 0.5 + 0.3 * np.sin(2 * np.pi * x) * np.cos(3 * np.pi * y)
    img = img + 0.15 * np.exp(-((x - 0.6) ** 2 + (y - 0.4) ** 2) * 8)
    img = img + 0.02 * rng.standard_normal(img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def get_cameraman_tensor(sidelength):
    """As the notebook's (Resize, ToTensor, Normalize(0.5, 0.5)): a (1, H, W) tensor in [-1, 1]."""
    img = torch.from_numpy(synthetic_image(sidelength)).unsqueeze(0)
    img = (img - torch.tensor([0.5]).view(-1, 1, 1)) / torch.tensor([0.5]).view(-1, 1, 1)
    return img


def get_mgrid(sidelen, dim=2, indexing=None):
    """Generates a flattened grid of (x,y,...) coordinates in a range of -1 to 1."""
    tensors = tuple(dim * [torch.linspace(-1, 1, steps=sidelen)])
    if indexing is None:
        mgrid = torch.stack(torch.meshgrid(*tensors), dim=-1)
    else:
        mgrid = torch.stack(torch.meshgrid(*tensors, indexing=indexing), dim=-1)
    mgrid = mgrid.reshape(-1, dim)
    return mgrid


class SineLayer(nn.Module):
    # See the paper's supplement, Sec. 1.5, for the init: omega_0 scales the first layer's input so the sines span
    # many periods; the other layers' weights are divided by omega_0 so their pre-activations stay distributed alike.

    def __init__(self, in_features, out_features, bias=True, is_first=False, omega_0=30):
        super().__init__()
        self.omega_0 = omega_0
        self.is_first = is_first

        self.in_features = in_features
        self.linear = nn.Linear(in_features, out_features, bias=bias)

        self.init_weights()

    def init_weights(self):
        with torch.no_grad():
            if self.is_first:
                self.linear.weight.uniform_(-1 / self.in_features,
                                            1 / self.in_features)
            else:
                self.linear.weight.uniform_(-np.sqrt(6 / self.in_features) / self.omega_0,
                                            np.sqrt(6 / self.in_features) / self.omega_0)

    def forward(self, input):
        return torch.sin(self.omega_0 * self.linear(input))

    def forward_with_intermediate(self, input):
        # For visualization of activation distributions
        intermediate = self.omega_0 * self.linear(input)
        return torch.sin(intermediate), intermediate


class Siren(nn.Module):
    def __init__(self, in_features, hidden_features, hidden_layers, out_features, outermost_linear=False,
                 first_omega_0=30, hidden_omega_0=30.):
        super().__init__()

        self.net = []
        self.net.append(SineLayer(in_features, hidden_features,
                                  is_first=True, omega_0=first_omega_0))

        for i in range(hidden_layers):
            self.net.append(SineLayer(hidden_features, hidden_features,
                                      is_first=False, omega_0=hidden_omega_0))

        if outermost_linear:
            final_linear = nn.Linear(hidden_features, out_features)

            with torch.no_grad():
                final_linear.weight.uniform_(-np.sqrt(6 / hidden_features) / hidden_omega_0,
                                             np.sqrt(6 / hidden_features) / hidden_omega_0)

            self.net.append(final_linear)
        else:
            self.net.append(SineLayer(hidden_features, out_features,
                                      is_first=False, omega_0=hidden_omega_0))

        self.net = nn.Sequential(*self.net)

    def forward(self, coords):
        coords = coords.clone().detach().requires_grad_(True)  # allows to take derivative w.r.t. input
        output = self.net(coords)
        return output, coords

    def forward_with_activations(self, coords, retain_grad=False):
        '''Returns not only model output, but also intermediate activations.
        Only used for visualizing activations later!'''
        activations = OrderedDict()

        activation_count = 0
        x = coords.clone().detach().requires_grad_(True)
        activations['input'] = x
        for i, layer in enumerate(self.net):
            if isinstance(layer, SineLayer):
                x, intermed = layer.forward_with_intermediate(x)

                if retain_grad:
                    x.retain_grad()
                    intermed.retain_grad()

                activations['_'.join((str(layer.__class__), "%d" % activation_count))] = intermed
                activation_count += 1
            else:
                x = layer(x)

                if retain_grad:
                    x.retain_grad()

            activations['_'.join((str(layer.__class__), "%d" % activation_count))] = x
            activation_count += 1

        return activations


# modules.py: the FCBlock / SingleBVPNet spelling of the same network, its layer inits applied by ``Module.apply``


class Sine(nn.Module):
    def __init(self):
        super().__init__()

    def forward(self, input):
        # See paper sec. 3.2, final paragraph, and supplement Sec. 1.5 for discussion of factor 30
        return torch.sin(30 * input)


def init_weights_normal(m):
    if type(m) == nn.Linear:
        if hasattr(m, 'weight'):
            nn.init.kaiming_normal_(m.weight, a=0.0, nonlinearity='relu', mode='fan_in')


def init_weights_xavier(m):
    if type(m) == nn.Linear:
        if hasattr(m, 'weight'):
            nn.init.xavier_normal_(m.weight)


def sine_init(m):
    with torch.no_grad():
        if hasattr(m, 'weight'):
            num_input = m.weight.size(-1)
            # See supplement Sec. 1.5 for discussion of factor 30
            m.weight.uniform_(-np.sqrt(6 / num_input) / 30, np.sqrt(6 / num_input) / 30)


def first_layer_sine_init(m):
    with torch.no_grad():
        if hasattr(m, 'weight'):
            num_input = m.weight.size(-1)
            # See paper sec. 3.2, final paragraph, and supplement Sec. 1.5 for discussion of factor 30
            m.weight.uniform_(-1 / num_input, 1 / num_input)


class FCBlock(nn.Module):
    '''A fully connected neural network (modules.py's, with nn.Linear for its BatchLinear).'''

    def __init__(self, in_features, out_features, num_hidden_layers, hidden_features,
                 outermost_linear=False, nonlinearity='relu', weight_init=None):
        super().__init__()

        self.first_layer_init = None

        # Dictionary that maps nonlinearity name to the respective function, initialization, and, if applicable,
        # special first-layer initialization scheme
        nls_and_inits = {'sine': (Sine(), sine_init, first_layer_sine_init),
                         'relu': (nn.ReLU(inplace=True), init_weights_normal, None),
                         'tanh': (nn.Tanh(), init_weights_xavier, None)}

        nl, nl_weight_init, first_layer_init = nls_and_inits[nonlinearity]

        if weight_init is not None:  # Overwrite weight init if passed
            self.weight_init = weight_init
        else:
            self.weight_init = nl_weight_init

        self.net = []
        self.net.append(nn.Sequential(
            nn.Linear(in_features, hidden_features), nl
        ))

        for i in range(num_hidden_layers):
            self.net.append(nn.Sequential(
                nn.Linear(hidden_features, hidden_features), nl
            ))

        if outermost_linear:
            self.net.append(nn.Sequential(nn.Linear(hidden_features, out_features)))
        else:
            self.net.append(nn.Sequential(
                nn.Linear(hidden_features, out_features), nl
            ))

        self.net = nn.Sequential(*self.net)
        if self.weight_init is not None:
            self.net.apply(self.weight_init)

        if first_layer_init is not None:  # Apply special initialization to first layer, if applicable.
            self.net[0].apply(first_layer_init)

    def forward(self, coords, params=None, **kwargs):
        output = self.net(coords)
        return output


class SingleBVPNet(nn.Module):
    '''A canonical representation network for a BVP.'''

    def __init__(self, out_features=1, type='sine', in_features=2, hidden_features=256, num_hidden_layers=3,
                 **kwargs):
        super().__init__()
        self.net = FCBlock(in_features=in_features, out_features=out_features, num_hidden_layers=num_hidden_layers,
                           hidden_features=hidden_features, outermost_linear=True, nonlinearity=type)

    def forward(self, model_input, params=None):
        # Enables us to compute gradients w.r.t. coordinates
        coords_org = model_input['coords'].clone().detach().requires_grad_(True)
        coords = coords_org

        output = self.net(coords)
        return {'model_in': coords_org, 'model_out': output}


def fit_bvp(model, dataloader, total_steps=5, lr=1e-4, loss='laplace'):
    """training.py's loop on a SingleBVPNet: the ``{'coords': ...}`` input, a loss dict from loss_functions.py."""
    optim = torch.optim.Adam(lr=lr, params=model.parameters())
    log = {"loss": [], "norm": [], "params": []}
    model_input, gt = next(iter(dataloader))
    for step in range(total_steps):
        model_output = model({'coords': model_input})
        if loss == 'laplace':
            losses = {'laplace_loss': laplace_mse(model_output['model_out'], model_output['model_in'],
                                                  gt['laplace'])}
        else:
            losses = {'img_loss': image_mse(model_output['model_out'], gt['pixels'])}
        train_loss = 0.
        for loss_name, loss_ in losses.items():
            train_loss += loss_.mean()
        optim.zero_grad()
        train_loss.backward()
        log["loss"].append(train_loss.item())
        log["norm"].append(grad_norm(model))
        optim.step()
        log["params"].append(snapshot(model))
    return log


def activation_histograms(net, num_points=256):
    """The notebook's activation-distribution section: a 1-D linspace signal through ``forward_with_activations``
    with ``retain_grad``, ``output.mean().backward()``, and per activation the 256-bin densities of its values and
    of its gradients (the plots' ``hist(..., bins=256, density=True)``, by numpy)."""
    input_signal = torch.linspace(-1, 1, num_points).view(1, num_points, 1)
    activations = net.forward_with_activations(input_signal, retain_grad=True)
    output = activations[next(reversed(activations))]

    # Compute gradients. Because we have retain_grad=True on activations, each activation stores its own gradient!
    output.mean().backward()

    histograms = OrderedDict()
    for idx, (key, value) in enumerate(activations.items()):
        grad_value = value.grad.cpu().detach().squeeze(0)
        flat_grad = grad_value.view(-1)
        value = value.cpu().detach().squeeze(0)
        flat_value = value.view(-1)
        histograms[key.split("'")[-1] + str(idx)] = (np.histogram(flat_value.numpy(), bins=256, density=True),
                                                    np.histogram(flat_grad.numpy(), bins=256, density=True),
                                                    flat_value.numpy(), flat_grad.numpy())
    return histograms


def hessian(y, x):
    ''' hessian of y wrt x
    y: shape (meta_batch_size, num_observations, channels)
    x: shape (meta_batch_size, num_observations, 2)
    '''
    meta_batch_size, num_observations = y.shape[:2]
    grad_y = torch.ones_like(y[..., 0]).to(y.device)
    h = torch.zeros(meta_batch_size, num_observations, y.shape[-1], x.shape[-1], x.shape[-1]).to(y.device)
    for i in range(y.shape[-1]):
        # calculate dydx over batches for each feature value of y
        dydx = grad(y[..., i], x, grad_y, create_graph=True)[0]

        # calculate hessian on y for each x value
        for j in range(x.shape[-1]):
            h[..., i, j, :] = grad(dydx[..., j], x, grad_y, create_graph=True)[0][..., :]

    status = 0
    if torch.any(torch.isnan(h)):
        status = -1
    return h, status


def jacobian(y, x):
    ''' jacobian of y wrt x '''
    meta_batch_size, num_observations = y.shape[:2]
    jac = torch.zeros(meta_batch_size, num_observations, y.shape[-1], x.shape[-1]).to(y.device)
    for i in range(y.shape[-1]):
        # calculate dydx over batches for each feature value of y
        y_flat = y[..., i].view(-1, 1)
        jac[:, :, i, :] = grad(y_flat, x, torch.ones_like(y_flat), create_graph=True)[0]

    status = 0
    if torch.any(torch.isnan(jac)):
        status = -1
    return jac, status


def laplace(y, x):
    grad = gradient(y, x)
    return divergence(grad, x)


def divergence(y, x):
    div = 0.
    for i in range(y.shape[-1]):
        div += torch.autograd.grad(y[..., i], x, torch.ones_like(y[..., i]), create_graph=True)[0][..., i:i+1]
    return div


def gradient(y, x, grad_outputs=None):
    if grad_outputs is None:
        grad_outputs = torch.ones_like(y)
    grad = torch.autograd.grad(y, [x], grad_outputs=grad_outputs, create_graph=True)[0]
    return grad


class ImageFitting(Dataset):
    def __init__(self, sidelength, indexing=None):
        super().__init__()
        img = get_cameraman_tensor(sidelength)
        self.pixels = img.permute(1, 2, 0).view(-1, 1)
        self.coords = get_mgrid(sidelength, 2, indexing)

    def __len__(self):
        return 1

    def __getitem__(self, idx):
        if idx > 0:
            raise IndexError

        return self.coords, self.pixels


class PoissonEqn(Dataset):
    def __init__(self, sidelength):
        super().__init__()
        img = get_cameraman_tensor(sidelength)

        # Compute gradient and laplacian
        grads_x = scipy.ndimage.sobel(img.numpy(), axis=1).squeeze(0)[..., None]
        grads_y = scipy.ndimage.sobel(img.numpy(), axis=2).squeeze(0)[..., None]
        grads_x, grads_y = torch.from_numpy(grads_x), torch.from_numpy(grads_y)

        self.grads = torch.stack((grads_x, grads_y), dim=-1).view(-1, 2)
        self.laplace = scipy.ndimage.laplace(img.numpy()).squeeze(0)[..., None]
        self.laplace = torch.from_numpy(self.laplace).view(-1, 1)

        self.pixels = img.permute(1, 2, 0).view(-1, 1)
        self.coords = get_mgrid(sidelength, 2)

    def __len__(self):
        return 1

    def __getitem__(self, idx):
        return self.coords, {'pixels': self.pixels, 'grads': self.grads, 'laplace': self.laplace}


def synthetic_audio(n, rate=8000, seed=1):
    """A short chirp plus noise as int16 samples, like ``wavfile.read``'s (stereo, averaged as the notebook does)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    mono = 8000 * np.sin(2 * np.pi * (200 + 1500 * t) * t) + 500 * rng.standard_normal(n)
    return rate, np.stack([mono, 0.9 * mono], axis=1).astype(np.int16)


class AudioFile(Dataset):
    def __init__(self, n):
        self.rate, self.data = synthetic_audio(n)
        if len(self.data.shape) > 1 and self.data.shape[1] == 2:
            self.data = np.mean(self.data, axis=1)
        self.data = self.data.astype(np.float32)
        self.timepoints = get_mgrid(len(self.data), 1)

    def get_num_samples(self):
        return self.timepoints.shape[0]

    def __len__(self):
        return 1

    def __getitem__(self, idx):
        amplitude = self.data
        scale = np.max(np.abs(amplitude))
        amplitude = (amplitude / scale)
        amplitude = torch.Tensor(amplitude).view(-1, 1)
        return self.timepoints, amplitude


# loss_functions.py


def image_mse(model_output, gt):
    return ((model_output - gt) ** 2).mean()


def gradients_mse(model_output, coords, gt_gradients):
    # compute gradients on the model
    gradients = gradient(model_output, coords)
    # compare them with the ground-truth
    gradients_loss = torch.mean((gradients - gt_gradients).pow(2).sum(-1))
    return gradients_loss


def laplace_mse(model_output, coords, gt_laplace):
    # compute laplacian on the model
    laplacian = laplace(model_output, coords)
    # compare them with the ground truth
    laplace_loss = torch.mean((laplacian - gt_laplace) ** 2)
    return laplace_loss


def sdf(model_output, gt):
    '''loss_functions.sdf: the SDF on the surface, the off-surface exponential, the normals by cosine similarity to
    the network's gradient, and the eikonal constraint.'''
    gt_sdf = gt['sdf']
    gt_normals = gt['normals']

    coords = model_output['model_in']
    pred_sdf = model_output['model_out']

    gradient_ = gradient(pred_sdf, coords)

    # Wherever boundary_values is not equal to zero, we interpret it as a boundary constraint.
    sdf_constraint = torch.where(gt_sdf != -1, pred_sdf, torch.zeros_like(pred_sdf))
    inter_constraint = torch.where(gt_sdf != -1, torch.zeros_like(pred_sdf), torch.exp(-1e2 * torch.abs(pred_sdf)))
    normal_constraint = torch.where(gt_sdf != -1, 1 - F.cosine_similarity(gradient_, gt_normals, dim=-1)[..., None],
                                    torch.zeros_like(gradient_[..., :1]))
    grad_constraint = torch.abs(gradient_.norm(dim=-1) - 1)
    # Exp      # Lapl
    # -----------------
    return {'sdf': torch.abs(sdf_constraint).mean() * 3e3,  # 1e4      # 3e3
            'inter': inter_constraint.mean() * 1e2,  # 1e2                   # 1e3
            'normal_constraint': normal_constraint.mean() * 1e2,  # 1e2
            'grad_constraint': grad_constraint.mean() * 5e1}  # 1e1      # 5e1


def circle_sdf_batch(n, seed=2):
    """Points on the unit-radius-0.5 circle (sdf 0, outward normals) and off-surface points (sdf -1), as
    PointCloud's batches: coords (1, 2n, 2), sdf (1, 2n, 1), normals (1, 2n, 2)."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0, 2 * np.pi, n)
    normals = np.stack([np.cos(theta), np.sin(theta)], -1)
    off = rng.uniform(-1, 1, (n, 2))
    coords = np.concatenate([0.5 * normals, off]).astype(np.float32)[None]
    sdf_ = np.concatenate([np.zeros((n, 1)), -np.ones((n, 1))]).astype(np.float32)[None]
    normals = np.concatenate([normals, -np.ones((n, 2))]).astype(np.float32)[None]
    return torch.from_numpy(coords), {'sdf': torch.from_numpy(sdf_), 'normals': torch.from_numpy(normals)}


def fit_sdf(model, coords, gt, total_steps=5, lr=1e-4):
    """training.py's loop over loss_functions.sdf's dict: the losses summed, Adam, the per-term values logged."""
    optim = torch.optim.Adam(lr=lr, params=model.parameters())
    log = {"loss": [], "terms": [], "norm": [], "params": []}
    for step in range(total_steps):
        output, model_in = model(coords)
        losses = sdf({'model_in': model_in, 'model_out': output}, gt)
        train_loss = 0.
        for loss_name, loss in losses.items():
            single_loss = loss.mean()
            train_loss += single_loss
        log["terms"].append({k: v.item() for k, v in losses.items()})
        optim.zero_grad()
        train_loss.backward()
        log["loss"].append(train_loss.item())
        log["norm"].append(grad_norm(model))
        optim.step()
        log["params"].append(snapshot(model))
    return log


def grad_norm(model):
    """The loss gradient's global 2-norm (for the harness's comparisons; fitting derivatives, the final bias gets
    no gradient)."""
    return torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters() if p.grad is not None)).item()


def snapshot(model, what="params"):
    return {name: None if t is None else t.detach().numpy().copy()
            for name, p in model.named_parameters() for t in [p.grad if what == "grads" else p]}


def fit(model, dataloader, mode="image", total_steps=6, steps_til_summary=2, lr=1e-4, log=None, optim=None,
        start=0, checkpoint_dir=None, stop=None):
    """The notebook's loops: ``mode`` ``image`` / ``audio`` (the pixels or samples), ``grads`` (the notebook's
    ``gradients_mse``), ``grads_mean`` (``((img_grad - gt_grad)**2).mean()``) or ``laplace`` (``laplace_mse``).
    Steps ``start`` .. ``stop`` (default ``total_steps``); checkpoints into ``checkpoint_dir`` every summary."""
    log = log if log is not None else {"loss": [], "norm": [], "grads": [], "params": [], "lines": [], "fields": []}
    if optim is None:
        optim = torch.optim.Adam(lr=lr, params=model.parameters())

    model_input, ground_truth = next(iter(dataloader))
    for step in range(start, total_steps if stop is None else stop):
        model_output, coords = model(model_input)
        if mode == "image":
            loss = ((model_output - ground_truth)**2).mean()
        elif mode == "audio":
            loss = F.mse_loss(model_output, ground_truth)
        elif mode == "grads":
            loss = gradients_mse(model_output, coords, ground_truth['grads'])
        elif mode == "grads_mean":
            img_grad = gradient(model_output, coords)
            loss = ((img_grad - ground_truth['grads'])**2).mean()
        else:
            loss = laplace_mse(model_output, coords, ground_truth['laplace'])

        if not step % steps_til_summary:
            line = "Step %d, Total loss %0.6f" % (step, loss)
            print(line)
            log["lines"].append(line)
            if mode != "audio":
                img_grad = gradient(model_output, coords)
                img_laplacian = laplace(model_output, coords)
                log["fields"].append((model_output.detach().numpy().copy(), img_grad.norm(dim=-1).detach().numpy(),
                                      img_grad.detach().numpy(), img_laplacian.detach().numpy()))

        optim.zero_grad()
        loss.backward()
        log["loss"].append(loss.item())
        log["norm"].append(grad_norm(model))
        log["grads"].append(snapshot(model, "grads"))
        optim.step()
        log["params"].append(snapshot(model))

        if checkpoint_dir is not None and not (step + 1) % steps_til_summary:
            torch.save({'step': step + 1, 'model': model.state_dict(), 'optimizer': optim.state_dict()},
                       os.path.join(checkpoint_dir, 'model_step_%04d.pth' % (step + 1)))
    return log


def resume(model, path, lr=1e-4):
    """training.py-style resume: the model and optimizer state_dicts and the step from a checkpoint."""
    checkpoint = torch.load(path)
    model.load_state_dict(checkpoint['model'])
    optim = torch.optim.Adam(lr=lr, params=model.parameters())
    optim.load_state_dict(checkpoint['optimizer'])
    return optim, checkpoint['step']


def loader(dataset):
    return DataLoader(dataset, batch_size=1, pin_memory=True, num_workers=0)
