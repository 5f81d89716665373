"""The PyTorch "Spatial Transformer Networks" tutorial (Ghassen Hamrouni), written as that tutorial's code, at a tiny
size: 20x20 synthetic images (shifted, rotated and scaled squares, crosses and bars; 3 classes) instead of MNIST.

- ``Net``: the localization net (Conv2d + MaxPool2d + ReLU(True)) and ``fc_loc`` (nn.Sequential, its last Linear
  initialised to the identity transform through ``.data.zero_()`` / ``.data.copy_(torch.tensor(...))``), ``stn``:
  ``theta.view(-1, 2, 3)``, ``F.affine_grid(theta, x.size())``, ``F.grid_sample(x, grid)`` (the tutorial's
  defaults, or explicit ``align_corners`` / ``mode`` / ``padding_mode``), then the classifier with Dropout2d,
  ``F.max_pool2d(..., 2)``, ``F.dropout(x, training=self.training)`` and ``F.log_softmax(x, dim=1)``.
- ``train`` / ``test``: the tutorial's loops (SGD lr 0.01, the ``100. * batch_idx / len(train_loader)`` line,
  ``F.nll_loss(output, target, size_average=False).item()``, ``output.max(1, keepdim=True)[1]``,
  ``pred.eq(target.view_as(pred)).sum().item()``).
- ``convert_image_np`` and ``visualize_stn`` (with a torchvision-free ``make_grid``), and a state_dict round trip."""

import io

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

SIZE = 20
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def make_shapes(n, seed):
    """n images (n, 1, SIZE, SIZE) float32, normalised as MNIST's transform, and labels (n,) int64: 0 a hollow
    square, 1 a cross, 2 a bar; each rotated, scaled and shifted at random."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    c = np.arange(SIZE) - (SIZE - 1) / 2
    yy, xx = np.meshgrid(c, c, indexing="ij")
    images = np.zeros((n, 1, SIZE, SIZE), dtype=np.float32)
    for i, label in enumerate(labels):
        angle, scale = rng.uniform(-0.6, 0.6), rng.uniform(0.8, 1.2)
        dx, dy = rng.uniform(-3, 3, 2)
        u = (np.cos(angle) * (xx - dx) + np.sin(angle) * (yy - dy)) / scale
        v = (-np.sin(angle) * (xx - dx) + np.cos(angle) * (yy - dy)) / scale
        if label == 0:
            shape = (np.maximum(abs(u), abs(v)) < 5) & (np.maximum(abs(u), abs(v)) > 3)
        elif label == 1:
            shape = ((abs(u) < 1.2) & (abs(v) < 6)) | ((abs(v) < 1.2) & (abs(u) < 6))
        else:
            shape = (abs(u) < 6) & (abs(v) < 1.5)
        images[i, 0] = shape + 0.1 * rng.standard_normal((SIZE, SIZE))
    return (images - 0.1307) / 0.3081, labels.astype(np.int64)


def loaders(train_n=64, test_n=32, batch_size=16):
    x, y = make_shapes(train_n, 0)
    xt, yt = make_shapes(test_n, 1)
    train_loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=batch_size)
    test_loader = DataLoader(TensorDataset(torch.from_numpy(xt), torch.from_numpy(yt)), batch_size=batch_size)
    return train_loader, test_loader


class Net(nn.Module):
    def __init__(self, p=0.5, align_corners=None, mode="bilinear", padding_mode="zeros"):
        super(Net, self).__init__()  # noqa: UP008 - the tutorial's spelling
        self.p, self.align_corners, self.mode, self.padding_mode = p, align_corners, mode, padding_mode
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5)
        self.conv2 = nn.Conv2d(6, 12, kernel_size=3)
        self.conv2_drop = nn.Dropout2d(p)
        self.fc1 = nn.Linear(12 * 3 * 3, 24)
        self.fc2 = nn.Linear(24, 3)

        # Spatial transformer localization-network
        self.localization = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=5),
            nn.MaxPool2d(2, stride=2),
            nn.ReLU(True),
            nn.Conv2d(8, 10, kernel_size=3),
            nn.MaxPool2d(2, stride=2),
            nn.ReLU(True)
        )

        # Regressor for the 3 * 2 affine matrix
        self.fc_loc = nn.Sequential(
            nn.Linear(10 * 3 * 3, 32),
            nn.ReLU(True),
            nn.Linear(32, 3 * 2)
        )

        # Initialize the weights/bias with identity transformation
        self.fc_loc[2].weight.data.zero_()
        self.fc_loc[2].bias.data.copy_(torch.tensor([1, 0, 0, 0, 1, 0], dtype=torch.float))

    def theta(self, x):
        xs = self.localization(x)
        xs = xs.view(-1, 10 * 3 * 3)
        theta = self.fc_loc(xs)
        return theta.view(-1, 2, 3)

    # Spatial transformer network forward function
    def stn(self, x):
        theta = self.theta(x)
        if self.align_corners is None and self.mode == "bilinear" and self.padding_mode == "zeros":
            grid = F.affine_grid(theta, x.size())  # the tutorial's line (warns: align_corners defaults to False)
            x = F.grid_sample(x, grid)
        else:
            grid = F.affine_grid(theta, x.size(), align_corners=self.align_corners)
            x = F.grid_sample(x, grid, mode=self.mode, padding_mode=self.padding_mode,
                              align_corners=self.align_corners)
        return x

    def forward(self, x):
        # transform the input
        x = self.stn(x)

        # Perform the usual forward pass
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = x.view(-1, 12 * 3 * 3)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, p=self.p, training=self.training)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def train(model, optimizer, train_loader, epoch, log, lines):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)

        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        norm = torch.sqrt(sum(p.grad.norm() ** 2 for p in model.parameters()))
        log["loc_grad"].append(model.fc_loc[2].weight.grad.abs().sum().item())
        optimizer.step()
        log["loss"].append(loss.item())
        log["norm"].append(norm.item())
        if batch_idx % 2 == 0:
            lines.append('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(  # noqa: UP032
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader), loss.item()))


def test(model, test_loader, lines):
    with torch.no_grad():
        model.eval()
        test_loss = 0
        test_loss_sum = 0
        correct = 0
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)

            # sum up batch loss
            test_loss += F.nll_loss(output, target, size_average=False).item()
            test_loss_sum += F.nll_loss(output, target, reduction='sum').item()
            # get the index of the max log-probability
            pred = output.max(1, keepdim=True)[1]
            correct += pred.eq(target.view_as(pred)).sum().item()

        test_loss /= len(test_loader.dataset)
        test_loss_sum /= len(test_loader.dataset)
        lines.append('Test set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)'  # noqa: UP032
                     .format(test_loss, correct, len(test_loader.dataset),
                             100. * correct / len(test_loader.dataset)))
        return test_loss, test_loss_sum, correct


def convert_image_np(inp):
    """Convert a Tensor to numpy image."""
    inp = inp.numpy().transpose((1, 2, 0))
    mean = np.array([0.485, 0.456, 0.406])
    std = np.array([0.229, 0.224, 0.225])
    inp = std * inp + mean
    inp = np.clip(inp, 0, 1)
    return inp


def make_grid(tensor, nrow=4, padding=2):
    """torchvision.utils.make_grid's layout: a (B, 1, H, W) batch as one (3, rows * (H + p) + p, ...) image."""
    tensor = torch.cat((tensor, tensor, tensor), 1)
    nmaps = tensor.size(0)
    xmaps = min(nrow, nmaps)
    ymaps = int(np.ceil(float(nmaps) / xmaps))
    height, width = int(tensor.size(2) + padding), int(tensor.size(3) + padding)
    grid = tensor.new_full((3, height * ymaps + padding, width * xmaps + padding), 0.0)
    k = 0
    for y in range(ymaps):
        for x in range(xmaps):
            if k >= nmaps:
                break
            grid.narrow(1, y * height + padding, height - padding).narrow(
                2, x * width + padding, width - padding).copy_(tensor[k])
            k = k + 1
    return grid


def visualize_stn(model, test_loader):
    with torch.no_grad():
        # Get a batch of training data
        data = next(iter(test_loader))[0].to(device)

        input_tensor = data.cpu()
        transformed_input_tensor = model.stn(data).cpu()

        in_grid = convert_image_np(make_grid(input_tensor))
        out_grid = convert_image_np(make_grid(transformed_input_tensor))
        return in_grid, out_grid, transformed_input_tensor.numpy()


def state_dict_round_trip(model, make):
    """torch.save of the state_dict to a buffer, torch.load into a fresh model; that model's test outputs."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = make()
    fresh.load_state_dict(torch.load(buffer))
    fresh.eval()
    return fresh


def run(model, epochs=3, lr=0.01):
    model = model.to(device)
    train_loader, test_loader = loaders()
    optimizer = optim.SGD(model.parameters(), lr=lr)
    log = {"loss": [], "norm": [], "loc_grad": [], "test": [], "theta": []}
    lines = []
    probe = next(iter(test_loader))[0].to(device)
    for epoch in range(1, epochs + 1):
        train(model, optimizer, train_loader, epoch, log, lines)
        log["test"].append(test(model, test_loader, lines))
        with torch.no_grad():
            log["theta"].append(model.theta(probe).cpu().numpy())
    log["lines"] = lines
    log["visual"] = visualize_stn(model, test_loader)
    log["params"] = {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
    return log
