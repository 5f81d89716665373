"""Three small programs of the pytorch/examples repository in their 2017-2019 spelling, at tiny sizes:

- ``time_sequence_prediction``: ``generate_sine_wave`` (numpy sine waves, ``torch.save``d as a numpy array and
  ``torch.load``ed back), the ``Sequence`` of two ``nn.LSTMCell``s stepped over ``input.chunk(input.size(1), dim=1)``
  from ``torch.zeros(..., dtype=torch.double)`` states, ``torch.stack(outputs, 1).squeeze(2)`` (or the 2019
  ``split`` / ``cat``), ``future`` extrapolation, the model made ``.double()``, ``optim.LBFGS(lr=0.8)`` with a
  closure that prints the loss, and a ``torch.no_grad()`` prediction read back by ``pred.detach().numpy()``.
- ``regression``: fitting a degree-4 polynomial with ``make_features`` / ``f`` / ``get_batch`` / ``poly_desc``, a
  ``torch.nn.Linear`` updated by hand through ``param.data.add_(-0.1 * param.grad)`` (or the 2017
  ``param.grad.data`` and ``b_target[0]``) until the smooth L1 loss is under 1e-3. ``W_target`` / ``b_target`` are
  module globals drawn by ``torch.randn`` (a test may replace them), and ``get_batch`` draws ``torch.randn`` unless
  handed the draw.
- ``super_resolution``: the sub-pixel CNN (``nn.PixelShuffle``, ``init.orthogonal_`` with ``calculate_gain``)
  trained by Adam + MSELoss on synthetic (low-res, high-res) luminance pairs from a Dataset / DataLoader, the test's
  PSNR ``10 * log10(1 / mse.item())`` (or ``torch.log10``), a per-epoch checkpoint of the state dicts (a whole model
  cannot be pickled across libraries) with a resume, and ``super_resolve`` on an RGB numpy image (the YCbCr split
  and merge done with numpy, nearest upsampling of the chroma in place of PIL's bicubic)."""
# ruff: noqa: A001, A002, B007, SIM108, SIM115 - the examples' own names and spelling

from itertools import count
from math import log10

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.init as init
import torch.optim as optim
from torch.utils.data import DataLoader, Dataset

# ---------------------------------------------------------------- time_sequence_prediction


def generate_sine_wave(path, T=20, L=1000, N=100):
    np.random.seed(2)
    x = np.empty((N, L), 'int64')
    x[:] = np.array(range(L)) + np.random.randint(-4 * T, 4 * T, N).reshape(N, 1)
    data = np.sin(x / 1.0 / T).astype('float64')
    torch.save(data, open(path, 'wb'))


class Sequence(nn.Module):
    def __init__(self, new_spelling=False):
        super(Sequence, self).__init__()  # noqa: UP008 - the examples' spelling
        self.lstm1 = nn.LSTMCell(1, 51)
        self.lstm2 = nn.LSTMCell(51, 51)
        self.linear = nn.Linear(51, 1)
        self.new_spelling = new_spelling

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), 51, dtype=torch.double)
        c_t = torch.zeros(input.size(0), 51, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), 51, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), 51, dtype=torch.double)

        steps = input.split(1, dim=1) if self.new_spelling else input.chunk(input.size(1), dim=1)
        for i, input_t in enumerate(steps):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for i in range(future):  # if we should predict the future
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        if self.new_spelling:
            return torch.cat(outputs, dim=1)
        outputs = torch.stack(outputs, 1).squeeze(2)
        return outputs


def train_sequence(seq, path, steps=15, future=1000):
    """The example's main on the data ``generate_sine_wave`` wrote to ``path``: per step the train losses the
    closure printed, the test loss and the (3, L - 1 + future) prediction."""
    data = torch.load(path, weights_only=False)
    input = torch.from_numpy(data[3:, :-1])
    target = torch.from_numpy(data[3:, 1:])
    test_input = torch.from_numpy(data[:3, :-1])
    test_target = torch.from_numpy(data[:3, 1:])
    seq.double()
    criterion = nn.MSELoss()
    # use LBFGS as optimizer since we can load the whole data to train
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8)
    log = {"loss": [], "test": [], "pred": []}
    # begin to train
    for i in range(steps):
        print('STEP: ', i)

        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            print('loss:', loss.item())
            log["loss"].append(loss.item())
            loss.backward()
            return loss
        optimizer.step(closure)
        # begin to predict, no need to track gradient here
        with torch.no_grad():
            pred = seq(test_input, future=future)
            loss = criterion(pred[:, :-future], test_target)
            print('test loss:', loss.item())
            y = pred.detach().numpy()
        log["test"].append(loss.item())
        log["pred"].append(y)
    state = optimizer.state_dict()["state"][0]
    log["lbfgs"] = [int(state["func_evals"]), int(state["n_iter"]), float(state["H_diag"]), float(state["t"])]
    log["params"] = {k: v.detach().numpy().copy() for k, v in seq.state_dict().items()}
    return log


# ---------------------------------------------------------------- regression

POLY_DEGREE = 4
W_target = torch.randn(POLY_DEGREE, 1) * 5
b_target = torch.randn(1) * 5


def make_features(x):
    """Builds features i.e. a matrix with columns [x, x^2, x^3, x^4]."""
    x = x.unsqueeze(1)
    return torch.cat([x ** i for i in range(1, POLY_DEGREE+1)], 1)


def f(x, legacy=False):
    """Approximated function."""
    if legacy:
        return x.mm(W_target) + b_target[0]
    return x.mm(W_target) + b_target.item()


def poly_desc(W, b):
    """Creates a string description of a polynomial."""
    result = 'y = '
    for i, w in enumerate(W):
        result += '{:+.2f} x^{} '.format(w, i + 1)  # noqa: UP032
    result += '{:+.2f}'.format(b[0])  # noqa: UP032
    return result


def get_batch(batch_size=32, random=None, legacy=False):
    """Builds a batch i.e. (x, f(x)) pair: (batch_size, 4) and (batch_size, 1). ``random``: the (batch_size,) draw,
    ``torch.randn``'s when None."""
    if random is None:
        random = torch.randn(batch_size)
    x = make_features(random)
    y = f(x, legacy)
    return x, y


def fit(fc, draws=None, legacy=False, max_batches=None):
    """The example's loop from ``fc``: per batch the loss and gradient norm; the printed lines. ``draws`` yields the
    batches' (32,) numpy draws (``torch.randn``'s when None); ``max_batches`` stops a run that has not converged."""
    log = {"loss": [], "norm": [], "lines": []}
    for batch_idx in count(1):
        # Get data
        batch_x, batch_y = get_batch(random=None if draws is None else torch.from_numpy(next(draws)), legacy=legacy)

        # Reset gradients
        fc.zero_grad()

        # Forward pass
        output = F.smooth_l1_loss(fc(batch_x), batch_y)
        loss = output.item()

        # Backward pass
        output.backward()
        log["norm"].append(torch.cat([p.grad.view(-1) for p in fc.parameters()]).norm().item())

        # Apply gradients
        for param in fc.parameters():
            if legacy:
                param.data.add_(-0.1 * param.grad.data)
            else:
                param.data.add_(-0.1 * param.grad)
        log["loss"].append(loss)

        # Stop criterion
        if loss < 1e-3 or batch_idx == max_batches:
            break

    log["lines"].append('Loss: {:.6f} after {} batches'.format(loss, batch_idx))  # noqa: UP032
    log["lines"].append('==> Learned function:\t' + poly_desc(fc.weight.view(-1), fc.bias))
    log["lines"].append('==> Actual function:\t' + poly_desc(W_target.view(-1), b_target))
    log["params"] = {k: v.detach().numpy().copy() for k, v in fc.state_dict().items()}
    return log


# ---------------------------------------------------------------- super_resolution


class Net(nn.Module):
    def __init__(self, upscale_factor):
        super(Net, self).__init__()  # noqa: UP008

        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(1, 64, (5, 5), (1, 1), (2, 2))
        self.conv2 = nn.Conv2d(64, 64, (3, 3), (1, 1), (1, 1))
        self.conv3 = nn.Conv2d(64, 32, (3, 3), (1, 1), (1, 1))
        self.conv4 = nn.Conv2d(32, upscale_factor ** 2, (3, 3), (1, 1), (1, 1))
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)

        self._initialize_weights()

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = self.relu(self.conv3(x))
        x = self.pixel_shuffle(self.conv4(x))
        return x

    def _initialize_weights(self):
        init.orthogonal_(self.conv1.weight, init.calculate_gain('relu'))
        init.orthogonal_(self.conv2.weight, init.calculate_gain('relu'))
        init.orthogonal_(self.conv3.weight, init.calculate_gain('relu'))
        init.orthogonal_(self.conv4.weight)


def make_images(n, size, upscale_factor, seed):
    """n smooth random luminance images: low-res inputs (n, 1, size, size) (block means) and high-res targets
    (n, 1, size * r, size * r), float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    side = size * upscale_factor
    yy, xx = np.meshgrid(np.arange(side), np.arange(side), indexing='ij')
    freq, phase = rng.uniform(0.1, 0.8, (n, 3, 2)), rng.uniform(0, 2 * np.pi, (n, 3))
    waves = np.sin(freq[..., 0, None, None] * yy + freq[..., 1, None, None] * xx + phase[..., None, None])
    hr = (0.5 + waves.mean(1) / 2).astype(np.float32)[:, None]
    lr = hr.reshape(n, 1, size, upscale_factor, size, upscale_factor).mean((3, 5))
    return lr, hr


class DatasetFromArrays(Dataset):
    def __init__(self, inputs, targets):
        super(DatasetFromArrays, self).__init__()  # noqa: UP008
        self.inputs = inputs
        self.targets = targets

    def __getitem__(self, index):
        return torch.from_numpy(self.inputs[index]), torch.from_numpy(self.targets[index])

    def __len__(self):
        return len(self.inputs)


def train(epoch, model, optimizer, criterion, training_data_loader, log):
    epoch_loss = 0
    for iteration, batch in enumerate(training_data_loader, 1):
        input, target = batch[0], batch[1]

        optimizer.zero_grad()
        loss = criterion(model(input), target)
        epoch_loss += loss.item()
        loss.backward()
        log["norm"].append(sum(p.grad.norm() ** 2 for p in model.parameters()).sqrt().item())
        optimizer.step()
        log["loss"].append(loss.item())

        print("===> Epoch[{}]({}/{}): Loss: {:.4f}".format(  # noqa: UP032
            epoch, iteration, len(training_data_loader), loss.item()))

    print("===> Epoch {} Complete: Avg. Loss: {:.4f}".format(  # noqa: UP032
        epoch, epoch_loss / len(training_data_loader)))


def test(model, criterion, testing_data_loader, torch_log10=False):
    avg_psnr = 0
    with torch.no_grad():
        for batch in testing_data_loader:
            input, target = batch[0], batch[1]

            prediction = model(input)
            mse = criterion(prediction, target)
            if torch_log10:
                psnr = (10 * torch.log10(1 / mse)).item()
            else:
                psnr = 10 * log10(1 / mse.item())
            avg_psnr += psnr
    print("===> Avg. PSNR: {:.4f} dB".format(avg_psnr / len(testing_data_loader)))  # noqa: UP032
    return avg_psnr / len(testing_data_loader)


def checkpoint(epoch, model, optimizer, folder):
    model_out_path = folder / "model_epoch_{}.pth".format(epoch)  # noqa: UP032
    torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict()}, model_out_path)
    print("Checkpoint saved to {}".format(model_out_path.name))  # noqa: UP032


def run_super_resolution(model, folder, epochs=3, lr=0.01, upscale_factor=2, resume_epoch=None):
    """Train ``epochs`` epochs (test and checkpoint after each) on 8 pairs in batches of 4; with ``resume_epoch``
    the model's and a fresh optimizer's states are loaded from that epoch's checkpoint in ``folder`` first. Per step
    the losses and gradient norms, per epoch both PSNRs; the final parameters."""
    train_set = DatasetFromArrays(*make_images(8, 6, upscale_factor, seed=0))
    test_set = DatasetFromArrays(*make_images(4, 6, upscale_factor, seed=1))
    training_data_loader = DataLoader(dataset=train_set, batch_size=4, shuffle=False)
    testing_data_loader = DataLoader(dataset=test_set, batch_size=2, shuffle=False)
    criterion = nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    start = 1
    if resume_epoch is not None:
        state = torch.load(folder / "model_epoch_{}.pth".format(resume_epoch))  # noqa: UP032
        model.load_state_dict(state['model'])
        optimizer.load_state_dict(state['optimizer'])
        start = resume_epoch + 1
    log = {"loss": [], "norm": [], "psnr": [], "psnr_torch": []}
    for epoch in range(start, epochs + 1):
        train(epoch, model, optimizer, criterion, training_data_loader, log)
        log["psnr"].append(test(model, criterion, testing_data_loader))
        log["psnr_torch"].append(test(model, criterion, testing_data_loader, torch_log10=True))
        checkpoint(epoch, model, optimizer, folder)
    log["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    log["model"] = model
    return log


def rgb_to_ycbcr(img):
    """PIL's ``convert('YCbCr')`` (ITU-R BT.601, full range) of an (H, W, 3) uint8 image: three (H, W) uint8."""
    rgb = img.astype(np.float64)
    y = rgb @ [0.299, 0.587, 0.114]
    cb = 128 + rgb @ [-0.168736, -0.331264, 0.5]
    cr = 128 + rgb @ [0.5, -0.418688, -0.081312]
    return [np.uint8(np.clip(np.round(c), 0, 255)) for c in (y, cb, cr)]


def ycbcr_to_rgb(y, cb, cr):
    """The inverse of ``rgb_to_ycbcr``: (H, W, 3) uint8."""
    y, cb, cr = (c.astype(np.float64) for c in (y, cb, cr))
    rgb = np.stack([y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128),
                    y + 1.772 * (cb - 128)], -1)
    return np.uint8(np.clip(np.round(rgb), 0, 255))


def super_resolve(model, img, legacy=False):
    """The example's super_resolve.py on an (H, W, 3) uint8 RGB image: the (H * r, W * r, 3) uint8 result and the
    model's (H * r, W * r) float luminance before clipping."""
    y, cb, cr = rgb_to_ycbcr(img)
    input = torch.from_numpy(y.astype(np.float32) / 255.).view(1, -1, y.shape[0], y.shape[1])
    out = model(input)
    out = out.cpu()
    if legacy:
        out_img_y = out.data[0].numpy()
    else:
        out_img_y = out[0].detach().numpy()
    raw = out_img_y.copy()
    out_img_y *= 255.0
    out_img_y = out_img_y.clip(0, 255)
    out_img_y = np.uint8(out_img_y[0])

    r = out_img_y.shape[0] // y.shape[0]
    out_img_cb = cb.repeat(r, 0).repeat(r, 1)
    out_img_cr = cr.repeat(r, 0).repeat(r, 1)
    return ycbcr_to_rgb(out_img_y, out_img_cb, out_img_cr), raw[0]
