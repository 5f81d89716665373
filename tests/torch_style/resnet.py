"""A small ResNet for 32x32 images (CIFAR-sized), written as ordinary torchvision-style PyTorch code: BasicBlock
with a conv3x3 helper and a downsampling shortcut, `_make_layer`, Kaiming init through `self.modules()`, a stem
built from an OrderedDict, weight decay only on conv / linear weights, Nesterov SGD under OneCycleLR stepped per
batch, label smoothing, random-crop and flip augmentation with tensor ops, clip_grad_value_, an eval loop counting
correct predictions and a state_dict round trip through torch.save / torch.load. The harness runs it on torch and,
with the imports swapped, on ours."""

import io
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def conv3x3(in_planes, out_planes, stride=1):
    """3x3 convolution with padding"""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution"""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x

        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)
        out = self.bn2(out)

        if self.downsample is not None:
            identity = self.downsample(x)

        out += identity
        out = self.relu(out)
        return out


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=10, width=8, zero_init_residual=False):
        super().__init__()
        self.inplanes = width
        self.stem = nn.Sequential(OrderedDict([
            ("conv", conv3x3(3, width)),
            ("bn", nn.BatchNorm2d(width)),
            ("relu", nn.ReLU(inplace=True)),
        ]))
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 4 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )

        layers = []
        layers.append(block(self.inplanes, planes, stride, downsample))
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))

        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.stem(x)

        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)

        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


def resnet_small(num_classes=10, **kwargs):
    return ResNet(BasicBlock, [2, 1, 1], num_classes=num_classes, **kwargs)


def param_groups(model, weight_decay):
    """No weight decay on biases and BatchNorm weights."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim <= 1 or name.endswith(".bias"):
            no_decay.append(param)
        else:
            decay.append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def augment(images, rng, padding=4):
    """Random crop (zero padding) and horizontal flip of a batch (N, C, H, W); the offsets come from numpy."""
    n, _, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    dy = rng.integers(0, 2 * padding + 1, size=n)
    dx = rng.integers(0, 2 * padding + 1, size=n)
    crops = [padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)]
    out = torch.stack(crops)
    flip = torch.from_numpy(rng.random(n) < 0.5)
    return torch.where(flip[:, None, None, None], torch.flip(out, dims=[3]), out)


def normalize(images, mean, std):
    return (images - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


def evaluate(model, batches, criterion, mean, std, dtype):
    model.eval()
    correct, total, loss_sum = 0, 0, 0.0
    outputs_seen = []
    with torch.no_grad():
        for images, labels in batches:
            inputs = normalize(torch.from_numpy(images).to(dtype), mean, std)
            targets = torch.from_numpy(labels).long()
            outputs = model(inputs)
            loss_sum += criterion(outputs, targets).item() * targets.size(0)
            correct += outputs.argmax(1).eq(targets).sum().item()
            total += targets.size(0)
            outputs_seen.append(outputs.numpy())
    return loss_sum / total, correct / total, np.concatenate(outputs_seen)


def grad_norm(parameters):
    norms = [p.grad.detach().norm(2) for p in parameters if p.grad is not None]
    return torch.norm(torch.stack(norms), 2).item()


def run(model, train_batches, test_batches, epochs=2, seed=0, max_lr=0.1, dtype=torch.float32):
    rng = np.random.default_rng(seed)
    mean = torch.tensor([0.4914, 0.4822, 0.4465], dtype=dtype)
    std = torch.tensor([0.2470, 0.2435, 0.2616], dtype=dtype)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    optimizer = torch.optim.SGD(param_groups(model, 5e-4), lr=max_lr, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, epochs=epochs,
                                                    steps_per_epoch=len(train_batches), pct_start=0.25)
    history = {"loss": [], "lr": [], "momentum": [], "norm": [], "train_acc": [],
               "test_loss": [], "test_acc": []}
    for _ in range(epochs):
        model.train()
        for images, labels in train_batches:
            inputs = augment(normalize(torch.from_numpy(images).to(dtype), mean, std), rng)
            targets = torch.from_numpy(labels).long()

            outputs = model(inputs)
            loss = criterion(outputs, targets)

            model.zero_grad(set_to_none=True)
            loss.backward()
            history["norm"].append(grad_norm(model.parameters()))
            torch.nn.utils.clip_grad_value_(model.parameters(), clip_value=0.1)
            optimizer.step()
            history["lr"].append(scheduler.get_last_lr()[0])
            history["momentum"].append(optimizer.param_groups[0]["momentum"])
            scheduler.step()

            history["loss"].append(loss.item())
            history["train_acc"].append(outputs.argmax(1).eq(targets).sum().item() / targets.size(0))
        test_loss, test_acc, outputs = evaluate(model, test_batches, criterion, mean, std, dtype)
        history["test_loss"].append(test_loss)
        history["test_acc"].append(test_acc)
    history["test_outputs"] = outputs

    # save the weights, load them into a fresh model and check it predicts the same
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    restored = resnet_small(num_classes=model.fc.out_features, width=model.stem.conv.out_channels).to(dtype)
    restored.load_state_dict(torch.load(buffer), strict=True)
    history["restored_outputs"] = evaluate(restored, test_batches, criterion, mean, std, dtype)[2]
    return history
