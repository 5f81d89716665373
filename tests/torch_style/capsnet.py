"""A Capsule Network (Sabour et al. 2017, "Dynamic Routing Between Capsules"), written as the popular GitHub PyTorch
ports write it, at a tiny size on synthetic 12x12 images: a Conv2d + ReLU, PrimaryCaps as an ``nn.ModuleList`` of
stride-2 Conv2d stacked with ``torch.stack(..., dim=1)`` and ``.view(x.size(0), -1, 8)``, the squash written with
``(input_tensor ** 2).sum(-1, keepdim=True)`` and ``torch.sqrt``, DigitCaps with a weight
``nn.Parameter(torch.randn(1, num_routes, num_caps, out_ch, in_ch))``, ``torch.stack([x] * num_caps, dim=2)
.unsqueeze(4)``, ``torch.cat([W] * batch_size, dim=0)`` and a broadcasting ``torch.matmul``, dynamic routing for
3 iterations (``F.softmax(b_ij, dim=1)``, ``u_hat.detach()`` in the inner iterations, the agreement
``b_ij = b_ij + a_ij.mean(dim=0, keepdim=True)``), the margin loss with ``F.relu(0.9 - v_c).view(batch, -1) ** 2``,
a reconstruction decoder masked by ``torch.sparse.torch.eye(10).index_select(dim=0, index=...)`` and
``masked[:, :, None, None]``, or by ``torch.eye(10)[idx]`` and ``masked.unsqueeze(2).unsqueeze(3)``; the MSE
reconstruction loss scaled by 0.0005 (``nn.MSELoss()``, or ``nn.MSELoss(size_average=False)`` over the batch
size), Adam, the accuracy by ``np.argmax(masked.data.cpu().numpy(), 1)``, and a state_dict ``torch.save`` /
``torch.load`` round trip. The harness runs it on torch and, with the imports swapped, on ours."""

import io

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

IMAGE = 12


class ConvLayer(nn.Module):
    def __init__(self, in_channels=1, out_channels=16, kernel_size=3):
        super().__init__()
        self.conv = nn.Conv2d(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size, stride=1)

    def forward(self, x):
        return F.relu(self.conv(x))


def squash(input_tensor, dim=-1):
    squared_norm = (input_tensor ** 2).sum(dim, keepdim=True)
    output_tensor = squared_norm * input_tensor / ((1. + squared_norm) * torch.sqrt(squared_norm))
    return output_tensor


class PrimaryCaps(nn.Module):
    def __init__(self, num_capsules=8, in_channels=16, out_channels=4, kernel_size=3):
        super().__init__()
        self.capsules = nn.ModuleList([
            nn.Conv2d(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size, stride=2, padding=0)
            for _ in range(num_capsules)])

    def forward(self, x):
        u = [capsule(x) for capsule in self.capsules]
        u = torch.stack(u, dim=1)
        u = u.view(x.size(0), -1, 8)
        return squash(u)


class DigitCaps(nn.Module):
    def __init__(self, num_capsules=10, num_routes=64, in_channels=8, out_channels=16, routing_iterations=3):
        super().__init__()
        self.in_channels = in_channels
        self.num_routes = num_routes
        self.num_capsules = num_capsules
        self.routing_iterations = routing_iterations
        self.W = nn.Parameter(torch.randn(1, num_routes, num_capsules, out_channels, in_channels) * 0.1)

    def forward(self, x):
        """x (batch, num_routes, in_channels) -> v_j (batch, num_capsules, out_channels, 1), c_ij per iteration"""
        batch_size = x.size(0)
        x = torch.stack([x] * self.num_capsules, dim=2).unsqueeze(4)
        W = torch.cat([self.W] * batch_size, dim=0)
        u_hat = torch.matmul(W, x)
        u_hat_detached = u_hat.detach()
        b_ij = torch.autograd.Variable(torch.zeros(1, self.num_routes, self.num_capsules, 1))
        couplings = []
        for iteration in range(self.routing_iterations):
            c_ij = F.softmax(b_ij, dim=1)
            couplings.append(c_ij.data.clone())
            c_ij = torch.cat([c_ij] * batch_size, dim=0).unsqueeze(4)
            if iteration == self.routing_iterations - 1:
                s_j = (c_ij * u_hat).sum(dim=1, keepdim=True)
                v_j = squash(s_j, dim=-2)
            else:
                s_j = (c_ij * u_hat_detached).sum(dim=1, keepdim=True)
                v_j = squash(s_j, dim=-2)
                a_ij = torch.matmul(u_hat_detached.transpose(3, 4), torch.cat([v_j] * self.num_routes, dim=1))
                b_ij = b_ij + a_ij.squeeze(4).mean(dim=0, keepdim=True)
        return v_j.squeeze(1), couplings


class Decoder(nn.Module):
    def __init__(self, num_capsules=10, capsule_dim=16, hidden=64, use_eye_index=False):
        super().__init__()
        self.num_capsules = num_capsules
        self.use_eye_index = use_eye_index
        self.reconstraction_layers = nn.Sequential(
            nn.Linear(capsule_dim * num_capsules, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, IMAGE * IMAGE),
            nn.Sigmoid())

    def forward(self, x, data):
        classes = torch.sqrt((x ** 2).sum(2))
        classes = F.softmax(classes, dim=1)
        _, max_length_indices = classes.max(dim=1)
        if self.use_eye_index:
            masked = torch.eye(self.num_capsules)[max_length_indices.squeeze(1)]
            t = (x * masked.unsqueeze(2).unsqueeze(3)).view(x.size(0), -1)
        else:
            masked = torch.autograd.Variable(torch.sparse.torch.eye(self.num_capsules))
            masked = masked.index_select(dim=0, index=torch.autograd.Variable(max_length_indices.squeeze(1).data))
            t = (x * masked[:, :, None, None]).view(x.size(0), -1)
        reconstructions = self.reconstraction_layers(t)
        reconstructions = reconstructions.view(-1, 1, IMAGE, IMAGE)
        return reconstructions, masked


class CapsNet(nn.Module):
    def __init__(self, use_eye_index=False, summed_mse=False):
        super().__init__()
        self.conv_layer = ConvLayer()
        self.primary_capsules = PrimaryCaps()
        self.digit_capsules = DigitCaps()
        self.decoder = Decoder(use_eye_index=use_eye_index)
        self.summed_mse = summed_mse
        self.mse_loss = nn.MSELoss(size_average=False) if summed_mse else nn.MSELoss()

    def forward(self, data):
        output, couplings = self.digit_capsules(self.primary_capsules(self.conv_layer(data)))
        reconstructions, masked = self.decoder(output, data)
        return output, reconstructions, masked, couplings

    def loss(self, data, x, target, reconstructions):
        return self.margin_loss(x, target) + self.reconstruction_loss(data, reconstructions)

    def margin_loss(self, x, labels, size_average=True):
        batch_size = x.size(0)
        v_c = torch.sqrt((x ** 2).sum(dim=2, keepdim=True))
        left = F.relu(0.9 - v_c).view(batch_size, -1) ** 2
        right = F.relu(v_c - 0.1).view(batch_size, -1) ** 2
        loss = labels * left + 0.5 * (1.0 - labels) * right
        loss = loss.sum(dim=1)
        if size_average:
            loss = loss.mean()
        return loss

    def reconstruction_loss(self, data, reconstructions):
        loss = self.mse_loss(reconstructions.view(reconstructions.size(0), -1),
                             data.view(reconstructions.size(0), -1))
        if self.summed_mse:  # the other ports' form: a summed squared error, averaged over the batch
            return 0.0005 * loss / data.size(0)
        return loss * 0.0005


def make_data(n=96, seed=0):
    """``n`` 12x12 images in [0, 1] (float32, (n, 1, 12, 12)) of 10 classes: each class a fixed random blob
    pattern, plus noise; labels (n,) int64."""
    rng = np.random.default_rng(seed)
    prototypes = (rng.random((10, IMAGE, IMAGE)) > 0.7).astype(np.float32)
    labels = rng.integers(0, 10, n)
    images = np.clip(prototypes[labels] * 0.8 + 0.2 * rng.random((n, IMAGE, IMAGE)), 0, 1).astype(np.float32)
    return images[:, None], labels.astype(np.int64)


def grad_norm(model):
    return torch.sqrt(sum((p.grad.data ** 2).sum() for p in model.parameters() if p.grad is not None)).item()


def train(model, images, labels, epochs=2, batch_size=8, lr=5e-3):
    """Adam over the batches in order; per step the loss, margin and reconstruction parts, the last routing
    coefficients' first row, the gradient norm and the batch accuracy."""
    optimizer = optim.Adam(model.parameters(), lr=lr)
    history = {"loss": [], "margin": [], "recon": [], "coupling": [], "norm": [], "accuracy": [], "argmax": []}
    for _ in range(epochs):
        model.train()
        train_loss = 0
        for batch_id in range(len(images) // batch_size):
            data = torch.from_numpy(images[batch_id * batch_size:(batch_id + 1) * batch_size])
            target = torch.from_numpy(labels[batch_id * batch_size:(batch_id + 1) * batch_size])
            target = torch.sparse.torch.eye(10).index_select(dim=0, index=target)
            data, target = torch.autograd.Variable(data), torch.autograd.Variable(target)
            optimizer.zero_grad()
            output, reconstructions, masked, couplings = model(data)
            margin = model.margin_loss(output, target)
            recon = model.reconstruction_loss(data, reconstructions)
            loss = model.loss(data, output, target, reconstructions)
            loss.backward()
            history["norm"].append(grad_norm(model))
            optimizer.step()
            train_loss += loss.item()
            predicted = np.argmax(masked.data.cpu().numpy(), 1)
            accuracy = sum(predicted == np.argmax(target.data.cpu().numpy(), 1)) / float(batch_size)
            history["loss"].append(loss.item())
            history["margin"].append(margin.item())
            history["recon"].append(recon.item())
            history["coupling"].append(couplings[-1][0].numpy().copy())
            history["accuracy"].append(accuracy)
            history["argmax"].append(predicted)
    return history


def evaluate(model, images, labels, batch_size=16):
    model.eval()
    correct = 0
    test_loss = 0.0
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            data = torch.from_numpy(images[start:start + batch_size])
            target = torch.eye(10)[torch.from_numpy(labels[start:start + batch_size])]
            output, reconstructions, masked, _ = model(data)
            test_loss += model.loss(data, output, target, reconstructions).item()
            correct += sum(np.argmax(masked.data.cpu().numpy(), 1) == np.argmax(target.data.cpu().numpy(), 1))
    return test_loss, correct / len(images)


def save_and_load(model):
    """A state_dict round trip through torch.save / torch.load into a fresh CapsNet; returns the copy."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    copy = CapsNet(use_eye_index=model.decoder.use_eye_index, summed_mse=model.summed_mse)
    copy.load_state_dict(torch.load(buffer))
    return copy
