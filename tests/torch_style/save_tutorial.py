"""PyTorch's "Saving and Loading Models" tutorial as its code writes it, on a small synthetic batch: the state_dict
saved and loaded for inference, the entire model saved with ``torch.save(model, PATH)`` and read back with
``torch.load(PATH, weights_only=False)``, a general checkpoint (epoch, model and optimizer state dicts, the loss
tensor) resumed, several models and optimizers in one file, warm-starting another model with ``strict=False``, and
``map_location``. ``run(weights)`` returns what the test compares; ``weights`` (torch's initial ones) makes ours
start where torch's run started."""

import os
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


class TheModelClass(nn.Module):
    def __init__(self):
        super(TheModelClass, self).__init__()  # noqa: UP008 - the tutorial's spelling
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 16 * 5 * 5)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


def run(weights=None):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    log = {}
    d = tempfile.mkdtemp()
    model = TheModelClass()
    if weights is not None:
        model.load_state_dict(weights["m"])
    log["weights"] = {"m": {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}}
    optimizer = optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    log["keys"] = [(k, tuple(v.size())) for k, v in model.state_dict().items()]
    log["opt_keys"] = sorted(optimizer.state_dict().keys())
    criterion = nn.CrossEntropyLoss()
    x = torch.tensor(rng.standard_normal((4, 3, 32, 32)).astype(np.float32))
    y = torch.tensor(rng.integers(0, 10, 4))
    for epoch in range(2):  # noqa: B007 - the checkpoint saves the last epoch
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    PATH = os.path.join(d, "sd.pt")
    torch.save(model.state_dict(), PATH)
    m2 = TheModelClass()
    m2.load_state_dict(torch.load(PATH, weights_only=True))
    m2.eval()
    log["sd_out"] = m2(x).detach().numpy().copy()
    PATH = os.path.join(d, "whole.pt")
    torch.save(model, PATH)
    m3 = torch.load(PATH, weights_only=False)
    m3.eval()
    log["whole_out"] = m3(x).detach().numpy().copy()
    PATH = os.path.join(d, "ckpt.tar")
    torch.save({
        'epoch': epoch,
        'model_state_dict': model.state_dict(),
        'optimizer_state_dict': optimizer.state_dict(),
        'loss': loss,
    }, PATH)
    model4 = TheModelClass()
    optimizer4 = optim.SGD(model4.parameters(), lr=0.001, momentum=0.9)
    checkpoint = torch.load(PATH, weights_only=True)
    model4.load_state_dict(checkpoint['model_state_dict'])
    optimizer4.load_state_dict(checkpoint['optimizer_state_dict'])
    log["ck_epoch"] = checkpoint['epoch']
    log["ck_loss"] = checkpoint['loss'].item()
    log["ck_loss_rg"] = checkpoint['loss'].requires_grad
    model4.train()
    for _ in range(2):
        for net, opt in ((model4, optimizer4), (model, optimizer)):
            opt.zero_grad()
            criterion(net(x), y).backward()
            opt.step()
    log["resumed"] = [p.detach().numpy().copy() for p in model4.parameters()][-1]
    log["straight"] = [p.detach().numpy().copy() for p in model.parameters()][-1]
    # multiple models
    netA, netB = TheModelClass(), TheModelClass()
    optA, optB = optim.Adam(netA.parameters()), optim.Adam(netB.parameters())
    PATH = os.path.join(d, "multi.tar")
    torch.save({'modelA_state_dict': netA.state_dict(), 'modelB_state_dict': netB.state_dict(),
                'optimizerA_state_dict': optA.state_dict(), 'optimizerB_state_dict': optB.state_dict()}, PATH)
    ck = torch.load(PATH, weights_only=True)
    optA.load_state_dict(ck['optimizerA_state_dict'])
    log["multi_keys"] = sorted(ck)
    # warmstart: partial
    class Other(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.fc9 = nn.Linear(2, 2)
    other = Other()
    res = other.load_state_dict(torch.load(os.path.join(d, "sd.pt"), weights_only=True), strict=False)
    log["missing"] = sorted(res.missing_keys)
    log["unexpected"] = sorted(res.unexpected_keys)
    device = torch.device("cpu")
    m5 = TheModelClass()
    m5.load_state_dict(torch.load(os.path.join(d, "sd.pt"), map_location=device, weights_only=True))
    m5.to(device)
    log["m5"] = m5(x).detach().numpy().copy()
    return log
