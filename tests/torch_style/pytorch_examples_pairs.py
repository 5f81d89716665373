"""Two programs of the pytorch/examples repository in their 2021-2023 spelling, on 1x12x12 synthetic "digits"
(``make_digits``: ten numpy templates plus noise, uint8 like MNIST's ``data``):

- ``siamese_network``: a ResNet-like backbone (``TinyResNet``, standing in for torchvision's resnet18: its
  ``conv1`` overwritten for one channel, ``fc.in_features`` read, then ``fc`` dropped through
  ``nn.Sequential(*(list(children())[:-1]))``), ``forward_once`` / ``torch.cat`` / the Linear-ReLU-Linear head /
  ``nn.Sigmoid``, ``init_weights`` through ``apply`` (``xavier_uniform_``, ``bias.data.fill_(0.01)``), the
  ``APP_MATCHER`` pair Dataset drawing same / different classes with Python's ``random`` and its
  ``torch.from_numpy(np.array([target], dtype=np.float32))`` targets, ``nn.BCELoss``, Adadelta + StepLR, and the
  test's ``torch.where(outputs > 0.5, 1, 0)`` accuracy.
- ``mnist_rnn``: an ``nn.LSTM(batch_first=True)`` over the image rows, its last output through ``BatchNorm1d``,
  ``nn.Dropout2d`` on the 2-D (N, C) activations (deprecated in torch, with a warning, and element-wise there),
  ``fc1`` / ``fc2``, ``log_softmax`` + ``nll_loss``, Adadelta + StepLR, the ``args.dry_run`` break, and
  ``torch.save(model.state_dict(), "mnist_rnn.pt")`` reloaded into a fresh ``Net`` and re-evaluated.

Both print the examples' lines; ``train`` also records each step's loss and gradient norm and ``main`` each
epoch's lr into ``log`` (the test's additions)."""
# ruff: noqa: A001, A002, N801, RUF059, UP008, UP032, UP034 - the examples' own names and spelling

import argparse
import os
import random

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import Dataset


def make_digits(n, seed):
    """(n, 12, 12) uint8 images of ten noisy binary templates and their (n,) int64 labels, balanced."""
    templates = np.random.default_rng(123).random((10, 12, 12)) > 0.6
    rng = np.random.default_rng(seed)
    targets = rng.permutation(np.arange(n) % 10)  # every class at least twice (n >= 20): pairs exist
    images = templates[targets] * 200.0 + rng.normal(0, 30, (n, 12, 12))
    return np.clip(images, 0, 255).astype(np.uint8), targets


def grad_norm(model):
    return torch.norm(torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None])).item()


def parse(argv, batch_size, lr, epochs):
    parser = argparse.ArgumentParser(description='PyTorch Example')
    parser.add_argument('--batch-size', type=int, default=batch_size, metavar='N')
    parser.add_argument('--test-batch-size', type=int, default=32, metavar='N')
    parser.add_argument('--epochs', type=int, default=epochs, metavar='N')
    parser.add_argument('--lr', type=float, default=lr, metavar='LR')
    parser.add_argument('--gamma', type=float, default=0.7, metavar='M')
    parser.add_argument('--no-cuda', action='store_true', default=True)
    parser.add_argument('--dry-run', action='store_true', default=False)
    parser.add_argument('--seed', type=int, default=1, metavar='S')
    parser.add_argument('--log-interval', type=int, default=2, metavar='N')
    parser.add_argument('--save-model', action='store_true', default=False)
    parser.add_argument('--shuffle', action='store_true', default=False)  # ours: torch's generator is not shared
    parser.add_argument('--n-train', type=int, default=64)
    parser.add_argument('--n-test', type=int, default=32)
    return parser.parse_args(argv)


# ---------------------------------------------------------------- siamese_network


class TinyResNet(nn.Module):
    def __init__(self, num_classes=1000):
        super(TinyResNet, self).__init__()
        self.conv1 = nn.Conv2d(3, 8, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.layer1(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class SiameseNetwork(nn.Module):
    def __init__(self):
        super(SiameseNetwork, self).__init__()
        # get resnet model
        self.resnet = TinyResNet()

        # over-write the first conv layer to be able to read MNIST images
        self.resnet.conv1 = nn.Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
        self.fc_in_features = self.resnet.fc.in_features

        # remove the last layer of resnet (linear layer which is after the avgpool layer)
        self.resnet = torch.nn.Sequential(*(list(self.resnet.children())[:-1]))

        # add linear layers to compare between the features of the two images
        self.fc = nn.Sequential(
            nn.Linear(self.fc_in_features * 2, 256),
            nn.ReLU(inplace=True),
            nn.Linear(256, 1),
        )

        self.sigmoid = nn.Sigmoid()

        # initialize the weights
        self.resnet.apply(self.init_weights)
        self.fc.apply(self.init_weights)

    def init_weights(self, m):
        if isinstance(m, nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            m.bias.data.fill_(0.01)

    def forward_once(self, x):
        output = self.resnet(x)
        output = output.view(output.size()[0], -1)
        return output

    def forward(self, input1, input2):
        # get two images' features
        output1 = self.forward_once(input1)
        output2 = self.forward_once(input2)

        # concatenate both images' features
        output = torch.cat((output1, output2), 1)

        # pass the concatenation to the linear layers
        output = self.fc(output)

        # pass the out of the linear layers to sigmoid layer
        output = self.sigmoid(output)

        return output


class APP_MATCHER(Dataset):
    def __init__(self, n, seed):
        super(APP_MATCHER, self).__init__()
        images, targets = make_digits(n, seed)
        self.data = torch.from_numpy(images).unsqueeze(1).clone()
        self.targets = torch.from_numpy(targets)
        self.group_examples()

    def group_examples(self):
        # get the targets
        np_arr = np.array(self.targets.clone())

        # group examples based on class
        self.grouped_examples = {}
        for i in range(0, 10):
            self.grouped_examples[i] = np.where((np_arr == i))[0]

    def __len__(self):
        return self.data.shape[0]

    def __getitem__(self, index):
        # pick some random class for the first image
        selected_class = random.randint(0, 9)

        # pick a random index for the first image in the grouped indices based of the label of the class
        random_index_1 = random.randint(0, self.grouped_examples[selected_class].shape[0] - 1)

        # pick the index to get the first image
        index_1 = self.grouped_examples[selected_class][random_index_1]

        # get the first image
        image_1 = self.data[index_1].clone().float()

        # same class
        if index % 2 == 0:
            # pick a random index for the second image
            random_index_2 = random.randint(0, self.grouped_examples[selected_class].shape[0] - 1)

            # ensure that the index of the second image isn't the same as the first image
            while random_index_2 == random_index_1:
                random_index_2 = random.randint(0, self.grouped_examples[selected_class].shape[0] - 1)

            # pick the index to get the second image
            index_2 = self.grouped_examples[selected_class][random_index_2]

            # get the second image
            image_2 = self.data[index_2].clone().float()

            # set the label for this example to be positive (1)
            target = torch.from_numpy(np.array([1], dtype=np.float32))

        # different class
        else:
            # pick a random class
            other_selected_class = random.choice([c for c in range(10) if c != selected_class])

            # pick a random index for the second image in the grouped indices based of the label of the class
            random_index_2 = random.randint(0, self.grouped_examples[other_selected_class].shape[0] - 1)

            # pick the index to get the second image
            index_2 = self.grouped_examples[other_selected_class][random_index_2]

            # get the second image
            image_2 = self.data[index_2].clone().float()

            # set the label for this example to be negative (0)
            target = torch.from_numpy(np.array([0], dtype=np.float32))

        return image_1, image_2, target


def siamese_train(args, model, device, train_loader, optimizer, epoch, log):
    model.train()

    # we aren't using `TripletLoss` as the MNIST dataset is simple, so `BCELoss` can do the trick.
    criterion = nn.BCELoss()

    for batch_idx, (images_1, images_2, targets) in enumerate(train_loader):
        images_1, images_2, targets = images_1.to(device), images_2.to(device), targets.to(device)
        optimizer.zero_grad()
        outputs = model(images_1, images_2)
        loss = criterion(outputs, targets)
        loss.backward()
        log["loss"].append(loss.item())
        log["norm"].append(grad_norm(model))
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            print('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(
                epoch, batch_idx * len(images_1), len(train_loader.dataset),
                100. * batch_idx / len(train_loader), loss.item()))
            if args.dry_run:
                break


def siamese_test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0

    # we aren't using `TripletLoss` as the MNIST dataset is simple, so `BCELoss` can do the trick.
    criterion = nn.BCELoss()

    with torch.no_grad():
        for (images_1, images_2, targets) in test_loader:
            images_1, images_2, targets = images_1.to(device), images_2.to(device), targets.to(device)
            outputs = model(images_1, images_2)
            test_loss += criterion(outputs, targets).sum().item()  # sum up batch loss
            pred = torch.where(outputs > 0.5, 1, 0)  # get the index of the max log-probability
            correct += pred.eq(targets.view_as(pred)).sum().item()

    test_loss /= len(test_loader.dataset)

    print('\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\n'.format(
        test_loss, correct, len(test_loader.dataset),
        100. * correct / len(test_loader.dataset)))
    return test_loss, correct


def siamese_main(argv=None, model=None):
    args = parse(argv, batch_size=16, lr=1.0, epochs=2)
    torch.manual_seed(args.seed)
    device = torch.device("cpu")

    train_kwargs = {'batch_size': args.batch_size, 'shuffle': args.shuffle}
    test_kwargs = {'batch_size': args.test_batch_size}

    train_dataset = APP_MATCHER(args.n_train, seed=0)
    test_dataset = APP_MATCHER(args.n_test, seed=1)
    train_loader = torch.utils.data.DataLoader(train_dataset, **train_kwargs)
    test_loader = torch.utils.data.DataLoader(test_dataset, **test_kwargs)

    model = (model or SiameseNetwork()).to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)

    log = {"loss": [], "norm": [], "lr": [], "test": []}
    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    for epoch in range(1, args.epochs + 1):
        log["lr"].append(optimizer.param_groups[0]['lr'])
        siamese_train(args, model, device, train_loader, optimizer, epoch, log)
        log["test"].append(siamese_test(model, device, test_loader))
        scheduler.step()

    if args.save_model:
        torch.save(model.state_dict(), "siamese_network.pt")
    return model, log


# ---------------------------------------------------------------- mnist_rnn


class Net(nn.Module):
    def __init__(self, p1=0.25, p2=0.5):
        super(Net, self).__init__()
        self.rnn = nn.LSTM(input_size=12, hidden_size=16, batch_first=True)
        self.batchnorm = nn.BatchNorm1d(16)
        self.dropout1 = nn.Dropout2d(p1)
        self.dropout2 = nn.Dropout2d(p2)
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, input):
        # Shape of input is (batch_size,1, 12, 12)
        # converting shape of input to (batch_size, 12, 12)
        # as required by RNN when batch_first is set True
        input = input.reshape(-1, 12, 12)
        output, (hidden, cell) = self.rnn(input)

        # RNN output shape is (batch, seq_len, hidden_size)
        # Get last output of RNN
        output = output[:, -1, :]
        output = self.batchnorm(output)
        output = self.dropout1(output)
        output = self.fc1(output)
        output = F.relu(output)
        output = self.dropout2(output)
        output = self.fc2(output)
        output = F.log_softmax(output, dim=1)
        return output


class Digits(Dataset):
    """The synthetic digits as MNIST with ``ToTensor`` + ``Normalize((0.1307,), (0.3081,))``."""

    def __init__(self, n, seed):
        images, targets = make_digits(n, seed)
        self.images = ((images / 255.0 - 0.1307) / 0.3081).astype(np.float32)[:, None]
        self.targets = targets

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        return torch.from_numpy(self.images[index]), int(self.targets[index])


def rnn_train(args, model, device, train_loader, optimizer, epoch, log):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        log["loss"].append(loss.item())
        log["norm"].append(grad_norm(model))
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            print('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader), loss.item()))
            if args.dry_run:
                break


def rnn_test(args, model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
            correct += pred.eq(target.view_as(pred)).sum().item()

    test_loss /= len(test_loader.dataset)

    print('\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\n'.format(
        test_loss, correct, len(test_loader.dataset),
        100. * correct / len(test_loader.dataset)))
    return test_loss, correct


def rnn_main(argv=None, model=None, folder="."):
    args = parse(argv, batch_size=16, lr=0.1, epochs=2)
    torch.manual_seed(args.seed)
    device = torch.device("cpu")

    kwargs = {}
    train_loader = torch.utils.data.DataLoader(Digits(args.n_train, seed=2), batch_size=args.batch_size,
                                               shuffle=args.shuffle, **kwargs)
    test_loader = torch.utils.data.DataLoader(Digits(args.n_test, seed=3), batch_size=args.test_batch_size,
                                              shuffle=args.shuffle, **kwargs)

    model = (model or Net()).to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)

    log = {"loss": [], "norm": [], "lr": [], "test": []}
    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    for epoch in range(1, args.epochs + 1):
        log["lr"].append(optimizer.param_groups[0]['lr'])
        rnn_train(args, model, device, train_loader, optimizer, epoch, log)
        log["test"].append(rnn_test(args, model, device, test_loader))
        scheduler.step()

    if args.save_model:
        path = os.path.join(folder, "mnist_rnn.pt")
        torch.save(model.state_dict(), path)
        reloaded = Net(model.dropout1.p, model.dropout2.p)
        reloaded.load_state_dict(torch.load(path))
        log["reloaded"] = rnn_test(args, reloaded.to(device), device, test_loader)
    return model, log
