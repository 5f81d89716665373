"""A tutorial-style classifier, written as ordinary PyTorch code ("Build the Neural Network" + "Optimizing Model
Parameters" of the PyTorch tutorials): a Dataset, DataLoaders, an nn.Module, CrossEntropyLoss, SGD with momentum and
a StepLR schedule, train and test loops. The harness runs it on torch and, with the imports swapped, on ours."""

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class DigitsDataset(Dataset):
    def __init__(self, images, labels):
        self.images = images
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        image = torch.tensor(self.images[idx], dtype=torch.float32).unsqueeze(0) / 255
        label = int(self.labels[idx])
        return image, label


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 64),
            nn.ReLU(),
            nn.Linear(64, 32),
            nn.ReLU(),
            nn.Linear(32, 10),
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


def train_loop(dataloader, model, loss_fn, optimizer):
    model.train()
    losses = []
    for X, y in dataloader:
        pred = model(X)
        loss = loss_fn(pred, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def test_loop(dataloader, model, loss_fn):
    model.eval()
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            outputs = model(X)
            test_loss += loss_fn(outputs, y).item()
            _, predicted = torch.max(outputs.data, 1)
            correct += (predicted == y).type(torch.float).sum().item()
    return test_loss / num_batches, correct / size


def run(train_images, train_labels, test_images, test_labels, init, epochs=3, batch_size=32):
    train_dataloader = DataLoader(DigitsDataset(train_images, train_labels), batch_size=batch_size)
    test_dataloader = DataLoader(DigitsDataset(test_images, test_labels), batch_size=batch_size)
    model = NeuralNetwork()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.tensor(init(name, tuple(p.shape)), dtype=torch.float32))
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = {"train": [], "test_loss": [], "accuracy": []}
    for _ in range(epochs):
        history["train"] += train_loop(train_dataloader, model, loss_fn, optimizer)
        scheduler.step()
        test_loss, accuracy = test_loop(test_dataloader, model, loss_fn)
        history["test_loss"].append(test_loss)
        history["accuracy"].append(accuracy)
    return history
