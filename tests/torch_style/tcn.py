"""locuslab/TCN (Bai, Kolter and Koltun, 2018) as its repository writes it, at tiny sizes: ``Chomp1d``,
``TemporalBlock`` (two weight-normed dilated causal Conv1d, ReLU, Dropout, a 1x1 downsample on the residual),
``TemporalConvNet``, the adding-problem regressor (``F.mse_loss``) and the sequential-MNIST classifier
(``log_softmax`` + ``nll_loss``, the lr decay by ``param_group['lr']``), on synthetic numpy data.

``weight_norm`` is the old hook-based ``torch.nn.utils.weight_norm`` (the repository's spelling) or, with
``parametrized=True``, ``torch.nn.utils.parametrizations.weight_norm``. ``train_adding`` / ``train_mnist`` run the
repository's loops and return per-step losses, gradient norms (before clipping), learning rates and accuracies;
with ``resume_at`` they stop after that epoch, go through ``torch.save`` / ``torch.load`` and go on from fresh
objects.
"""

import io

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.nn.utils import weight_norm


class Chomp1d(nn.Module):
    def __init__(self, chomp_size):
        super(Chomp1d, self).__init__()  # noqa: UP008 - the repository's spelling
        self.chomp_size = chomp_size

    def forward(self, x):
        return x[:, :, :-self.chomp_size].contiguous()


class TemporalBlock(nn.Module):
    def __init__(self, n_inputs, n_outputs, kernel_size, stride, dilation, padding, dropout=0.2, parametrized=False):
        super(TemporalBlock, self).__init__()  # noqa: UP008 - the repository's spelling
        norm = torch.nn.utils.parametrizations.weight_norm if parametrized else weight_norm
        self.conv1 = norm(nn.Conv1d(n_inputs, n_outputs, kernel_size,
                                    stride=stride, padding=padding, dilation=dilation))
        self.chomp1 = Chomp1d(padding)
        self.relu1 = nn.ReLU()
        self.dropout1 = nn.Dropout(dropout)

        self.conv2 = norm(nn.Conv1d(n_outputs, n_outputs, kernel_size,
                                    stride=stride, padding=padding, dilation=dilation))
        self.chomp2 = Chomp1d(padding)
        self.relu2 = nn.ReLU()
        self.dropout2 = nn.Dropout(dropout)

        self.net = nn.Sequential(self.conv1, self.chomp1, self.relu1, self.dropout1,
                                 self.conv2, self.chomp2, self.relu2, self.dropout2)
        self.downsample = nn.Conv1d(n_inputs, n_outputs, 1) if n_inputs != n_outputs else None
        self.relu = nn.ReLU()
        self.init_weights()

    def init_weights(self):
        # with weight norm the weight is recomputed from g and v at each forward: these two draws change nothing
        self.conv1.weight.data.normal_(0, 0.01)
        self.conv2.weight.data.normal_(0, 0.01)
        if self.downsample is not None:
            self.downsample.weight.data.normal_(0, 0.01)

    def forward(self, x):
        out = self.net(x)
        res = x if self.downsample is None else self.downsample(x)
        return self.relu(out + res)


class TemporalConvNet(nn.Module):
    def __init__(self, num_inputs, num_channels, kernel_size=2, dropout=0.2, parametrized=False):
        super(TemporalConvNet, self).__init__()  # noqa: UP008 - the repository's spelling
        layers = []
        num_levels = len(num_channels)
        for i in range(num_levels):
            dilation_size = 2 ** i
            in_channels = num_inputs if i == 0 else num_channels[i-1]
            out_channels = num_channels[i]
            layers += [TemporalBlock(in_channels, out_channels, kernel_size, stride=1, dilation=dilation_size,
                                     padding=(kernel_size-1) * dilation_size, dropout=dropout,
                                     parametrized=parametrized)]

        self.network = nn.Sequential(*layers)

    def forward(self, x):
        return self.network(x)


class TCN(nn.Module):
    """adding_problem/model.py (``classify=False``: the last step's linear output) or mnist_pixel/model.py
    (``classify=True``: its log_softmax). Input (N, input_size, L); output (N, output_size)."""

    def __init__(self, input_size, output_size, num_channels, kernel_size, dropout, classify=False,
                 parametrized=False):
        super(TCN, self).__init__()  # noqa: UP008 - the repository's spelling
        self.tcn = TemporalConvNet(input_size, num_channels, kernel_size=kernel_size, dropout=dropout,
                                   parametrized=parametrized)
        self.linear = nn.Linear(num_channels[-1], output_size)
        self.classify = classify
        self.init_weights()

    def init_weights(self):
        self.linear.weight.data.normal_(0, 0.01)

    def forward(self, inputs):
        y1 = self.tcn(inputs)
        o = self.linear(y1[:, :, -1])
        return F.log_softmax(o, dim=1) if self.classify else o


def data_generator(N, seq_length, seed=0):
    """The adding problem: channel 0 random numbers, channel 1 a mask with two ones; the target is the sum of the two
    masked numbers. X (N, 2, seq_length), Y (N, 1)."""
    rng = np.random.RandomState(seed)
    X_num = torch.from_numpy(rng.rand(N, 1, seq_length).astype(np.float32))
    X_mask = torch.zeros([N, 1, seq_length])
    Y = torch.zeros([N, 1])
    for i in range(N):
        positions = rng.choice(seq_length, size=2, replace=False)
        X_mask[i, 0, positions[0]] = 1
        X_mask[i, 0, positions[1]] = 1
        Y[i, 0] = X_num[i, 0, positions[0]] + X_num[i, 0, positions[1]]
    X = torch.cat((X_num, X_mask), dim=1)
    return X, Y


def mnist_like(N, side=8, seed=1):
    """Tiny 'digits': class c lights up row c % side and column c // 2 of a noisy side x side image, as
    (N, 1, side, side) float32 images and (N,) int64 labels."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 10, N)
    images = rng.rand(N, 1, side, side).astype(np.float32) * 0.3
    for i, c in enumerate(labels):
        images[i, 0, c % side, :] += 1.0
        images[i, 0, :, c // 2] += 0.5
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def grad_norms(model):
    return {n: p.grad.norm().item() for n, p in model.named_parameters() if p.grad is not None}


def checkpoint(model, optimizer, epoch, lr):
    buffer = io.BytesIO()
    torch.save({'epoch': epoch, 'lr': lr, 'model': model.state_dict(), 'optimizer': optimizer.state_dict()}, buffer)
    buffer.seek(0)
    return buffer


def train_adding(model, epochs=2, n_train=64, n_test=32, seq_length=24, batch_size=16, lr=2e-3, clip=0.5,
                 optim_name='Adam', log_interval=2, resume_at=None, make_model=None):
    """adding_problem/add_test.py's train / evaluate. Returns the history (losses, grad norms, lrs, test losses)
    and the final parameters; ``make_model()`` builds the fresh model a resume loads into."""
    X_train, Y_train = data_generator(n_train, seq_length, seed=0)
    X_test, Y_test = data_generator(n_test, seq_length, seed=1)
    optimizer = getattr(optim, optim_name)(model.parameters(), lr=lr)
    history = {'loss': [], 'grad': [], 'lr': [], 'test': []}

    for epoch in range(1, epochs + 1):
        model.train()
        batch_idx = 1
        total_loss = 0
        for i in range(0, X_train.size(0), batch_size):
            if i + batch_size > X_train.size(0):
                x, y = X_train[i:], Y_train[i:]
            else:
                x, y = X_train[i:(i+batch_size)], Y_train[i:(i+batch_size)]
            optimizer.zero_grad()
            output = model(x)
            loss = F.mse_loss(output, y)
            loss.backward()
            history['grad'].append(grad_norms(model))
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            batch_idx += 1
            total_loss += loss.item()
            history['loss'].append(loss.item())
            history['lr'].append(optimizer.param_groups[0]['lr'])

            if batch_idx % log_interval == 0:
                cur_loss = total_loss / log_interval
                processed = min(i+batch_size, X_train.size(0))
                print('Train Epoch: {:2d} [{:6d}/{:6d} ({:.0f}%)]\tLearning rate: {:.4f}\tLoss: {:.6f}'.format(  # noqa: UP032
                    epoch, processed, X_train.size(0), 100.*processed/X_train.size(0), lr, cur_loss))
                total_loss = 0

        model.eval()
        with torch.no_grad():
            output = model(X_test)
            test_loss = F.mse_loss(output, Y_test)
            print('\nTest set: Average loss: {:.6f}\n'.format(test_loss.item()))  # noqa: UP032
        history['test'].append(test_loss.item())

        if epoch == resume_at:
            saved = torch.load(checkpoint(model, optimizer, epoch, lr))
            model = make_model()
            model.load_state_dict(saved['model'])
            optimizer = getattr(optim, optim_name)(model.parameters(), lr=saved['lr'])
            optimizer.load_state_dict(saved['optimizer'])
    history['params'] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return history


def train_mnist(model, epochs=4, n_train=48, n_test=32, batch_size=16, lr=2e-3, clip=1.0, decay_every=2,
                permute=True, optim_name='Adam', resume_at=None, make_model=None):
    """mnist_pixel/pmnist_test.py's train / test on pixel sequences (N, 1, 64), permuted when ``permute``; the lr
    is divided by 10 every ``decay_every`` epochs by editing the param groups."""
    input_channels, seq_length = 1, 64
    train_x, train_y = mnist_like(n_train, seed=1)
    test_x, test_y = mnist_like(n_test, seed=2)
    order = torch.Tensor(np.random.RandomState(3).permutation(seq_length).astype(np.float64)).long()
    optimizer = getattr(optim, optim_name)(model.parameters(), lr=lr)
    history = {'loss': [], 'grad': [], 'lr': [], 'test': [], 'correct': []}

    for ep in range(1, epochs + 1):
        model.train()
        train_loss = 0
        for batch_idx in range(0, n_train, batch_size):
            data, target = train_x[batch_idx:batch_idx + batch_size], train_y[batch_idx:batch_idx + batch_size]
            data = data.view(-1, input_channels, seq_length)
            if permute:
                data = data[:, :, order]
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            history['grad'].append(grad_norms(model))
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            train_loss += loss
            history['loss'].append(loss.item())
            history['lr'].append(optimizer.param_groups[0]['lr'])
        print('Train Epoch: {} \tLoss: {:.6f}'.format(ep, train_loss.item() / (n_train // batch_size)))  # noqa: UP032

        model.eval()
        test_loss = 0
        correct = 0
        with torch.no_grad():
            data = test_x.view(-1, input_channels, seq_length)
            if permute:
                data = data[:, :, order]
            output = model(data)
            test_loss += F.nll_loss(output, test_y, size_average=False).item()
            pred = output.data.max(1, keepdim=True)[1]
            correct += pred.eq(test_y.data.view_as(pred)).cpu().sum()
        test_loss /= n_test
        print('\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\n'.format(  # noqa: UP032
            test_loss, correct, n_test, 100. * correct / n_test))
        history['test'].append(test_loss)
        history['correct'].append(int(correct))

        if ep % decay_every == 0:
            lr /= 10
            for param_group in optimizer.param_groups:
                param_group['lr'] = lr

        if ep == resume_at:
            saved = torch.load(checkpoint(model, optimizer, ep, lr))
            model = make_model()
            model.load_state_dict(saved['model'])
            optimizer = getattr(optim, optim_name)(model.parameters(), lr=saved['lr'])
            optimizer.load_state_dict(saved['optimizer'])
    history['params'] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return history
