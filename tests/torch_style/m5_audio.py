"""A keyword-spotting classifier written as ordinary PyTorch code after torchaudio's "Speech Command Classification"
tutorial, without torchaudio: a SPEECHCOMMANDS-like Dataset of (waveform, sample_rate, label, speaker_id,
utterance_number) tuples, ``label_to_index`` / ``index_to_label``, the tutorial's ``pad_sequence`` + ``collate_fn``,
a windowed-sinc ``Resample`` module (conv1d with stride), the M5 network (Conv1d / BatchNorm1d / MaxPool1d stacks
ending in ``F.avg_pool1d(x, x.shape[-1])`` or nn.AdaptiveAvgPool1d / AdaptiveMaxPool1d, log_softmax over dim 2),
``F.nll_loss(output.squeeze(), target)``, Adam with weight decay + StepLR, ``number_of_correct`` /
``get_likely_index``, ``predict`` on one clip, and a state_dict round trip. Waveforms are synthetic tones; the
harness runs it on torch and, with the imports swapped, on ours."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, Dataset

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


class SyntheticCommands(Dataset):
    """``items`` is a list of (waveform as a float32 numpy array (L,), label, speaker); each item comes back as
    torchaudio's SPEECHCOMMANDS gives it: a (1, L) tensor, the sample rate, the word, speaker and utterance."""

    def __init__(self, items, sample_rate=16000):
        self.items, self.sample_rate = items, sample_rate

    def __len__(self):
        return len(self.items)

    def __getitem__(self, n):
        wave, label, speaker = self.items[n]
        return torch.from_numpy(wave).unsqueeze(0), self.sample_rate, label, speaker, n % 3


class Resample(nn.Module):
    """Integer-factor downsampling by a Hann-windowed sinc low-pass filter applied with a strided conv1d."""

    def __init__(self, orig_freq=16000, new_freq=8000, width=16):
        super().__init__()
        self.factor = orig_freq // new_freq
        n = torch.arange(-width, width + 1, dtype=torch.float32)
        cutoff = 0.99 / self.factor
        window = 0.5 + 0.5 * torch.cos(math.pi * n / (width + 1))
        kernel = cutoff * torch.sinc(cutoff * n) * window
        self.register_buffer("kernel", (kernel / kernel.sum()).view(1, 1, -1))
        self.width = width

    def forward(self, waveform):
        shape = waveform.shape
        x = waveform.reshape(-1, 1, shape[-1])
        x = F.pad(x, (self.width, self.width), mode="reflect")
        x = F.conv1d(x, self.kernel, stride=self.factor)
        return x.reshape(shape[:-1] + (x.shape[-1],))


def make_labels(dataset):
    return sorted(list(set(datapoint[2] for datapoint in dataset)))


class Labels:
    def __init__(self, labels):
        self.labels = labels

    def label_to_index(self, word):
        # Return the position of the word in labels
        return torch.tensor(self.labels.index(word))

    def index_to_label(self, index):
        # Return the word corresponding to the index in labels
        # This is the inverse of label_to_index
        return self.labels[index]


def pad_sequence(batch):
    # Make all tensor in a batch the same length by padding with zeros
    batch = [item.t() for item in batch]
    batch = torch.nn.utils.rnn.pad_sequence(batch, batch_first=True, padding_value=0.)
    return batch.permute(0, 2, 1)


def make_collate_fn(labels):
    def collate_fn(batch):
        # A data tuple has the form:
        # waveform, sample_rate, label, speaker_id, utterance_number
        tensors, targets = [], []
        # Gather in lists, and encode labels as indices
        for waveform, _, label, *_ in batch:
            tensors += [waveform]
            targets += [labels.label_to_index(label)]
        # Group the list of tensors into a batched tensor
        tensors = pad_sequence(tensors)
        targets = torch.stack(targets)
        return tensors, targets
    return collate_fn


class M5(nn.Module):
    """``pool`` picks the head: "avg" (the tutorial's avg_pool1d over the whole length), "adaptive" (the same by
    nn.AdaptiveAvgPool1d(1)) or "adaptive_max"; ``ceil_mode`` / ``padding`` go to the MaxPool1d layers."""

    def __init__(self, n_input=1, n_output=35, stride=16, n_channel=32, pool="avg", ceil_mode=False, padding=0):
        super().__init__()
        self.conv1 = nn.Conv1d(n_input, n_channel, kernel_size=80, stride=stride)
        self.bn1 = nn.BatchNorm1d(n_channel)
        self.pool1 = nn.MaxPool1d(4, ceil_mode=ceil_mode, padding=padding)
        self.conv2 = nn.Conv1d(n_channel, n_channel, kernel_size=3)
        self.bn2 = nn.BatchNorm1d(n_channel)
        self.pool2 = nn.MaxPool1d(4, ceil_mode=ceil_mode, padding=padding)
        self.conv3 = nn.Conv1d(n_channel, 2 * n_channel, kernel_size=3)
        self.bn3 = nn.BatchNorm1d(2 * n_channel)
        self.pool3 = nn.MaxPool1d(4, ceil_mode=ceil_mode, padding=padding)
        self.conv4 = nn.Conv1d(2 * n_channel, 2 * n_channel, kernel_size=3)
        self.bn4 = nn.BatchNorm1d(2 * n_channel)
        self.pool4 = nn.MaxPool1d(4, ceil_mode=ceil_mode, padding=padding)
        self.pool, self.n_channel = pool, n_channel
        if pool == "adaptive":
            self.head_pool = nn.AdaptiveAvgPool1d(1)
        elif pool == "adaptive_max":
            self.head_pool = nn.AdaptiveMaxPool1d(1)
        self.fc1 = nn.Linear(2 * n_channel, n_output)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(self.bn1(x))
        x = self.pool1(x)
        x = self.conv2(x)
        x = F.relu(self.bn2(x))
        x = self.pool2(x)
        x = self.conv3(x)
        x = F.relu(self.bn3(x))
        x = self.pool3(x)
        x = self.conv4(x)
        x = F.relu(self.bn4(x))
        x = self.pool4(x)
        if self.pool == "avg":  # noqa: SIM108 - the tutorial's line kept as written
            x = F.avg_pool1d(x, x.shape[-1])
        else:
            x = self.head_pool(x)
        x = x.permute(0, 2, 1)
        x = self.fc1(x)
        return F.log_softmax(x, dim=2)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def number_of_correct(pred, target):
    # count number of correct predictions
    return pred.squeeze().eq(target).sum().item()


def get_likely_index(tensor):
    # find most likely label index for each element in the batch
    return tensor.argmax(dim=-1)


def train(model, transform, optimizer, train_loader, epoch, log_interval, history):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data = data.to(device)
        target = target.to(device)
        # apply transform and model on whole batch directly on device
        data = transform(data)
        output = model(data)
        # negative log-likelihood for a tensor of size (batch x 1 x n_output)
        loss = F.nll_loss(output.squeeze(), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if batch_idx % log_interval == 0:
            history["log"].append(f"Train Epoch: {epoch} [{batch_idx * len(data)}/{len(train_loader.dataset)} "
                                  f"({100. * batch_idx / len(train_loader):.0f}%)]\tLoss: {loss.item():.6f}")
        history["loss"].append(loss.item())
        history["bn1_var"].append(model.bn1.running_var.sum().item())


def test(model, transform, test_loader, epoch, history):
    model.eval()
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data = data.to(device)
            target = target.to(device)
            # apply transform and model on whole batch directly on device
            data = transform(data)
            output = model(data)
            pred = get_likely_index(output)
            correct += number_of_correct(pred, target)
            history["test_nll"].append(F.nll_loss(output.squeeze(), target, reduction="sum").item())
    history["log"].append(f"\nTest Epoch: {epoch}\tAccuracy: {correct}/{len(test_loader.dataset)} "
                          f"({100. * correct / len(test_loader.dataset):.0f}%)\n")
    history["correct"].append(correct)


def predict(model, transform, labels, tensor):
    # Use the model to predict the label of the waveform
    tensor = tensor.to(device)
    tensor = transform(tensor)
    tensor = model(tensor.unsqueeze(0))
    tensor = get_likely_index(tensor)
    tensor = labels.index_to_label(tensor.squeeze())
    return tensor


def run(model, train_set, test_set, sampler, n_epoch=3, batch_size=16, path=None, **options):
    """The tutorial's main loop; ``sampler`` orders the training clips. Returns the recorded history."""
    labels = Labels(make_labels(train_set))
    transform = Resample(orig_freq=16000, new_freq=8000).to(device)
    collate_fn = make_collate_fn(labels)
    train_loader = DataLoader(train_set, batch_size=batch_size, sampler=sampler, collate_fn=collate_fn,
                              drop_last=False)
    test_loader = DataLoader(test_set, batch_size=batch_size, shuffle=False, drop_last=False,
                             collate_fn=collate_fn)
    model.to(device)
    optimizer = optim.Adam(model.parameters(), lr=options.get("lr", 0.01), weight_decay=0.0001)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=options.get("step_size", 2), gamma=0.1)
    history = {"loss": [], "bn1_var": [], "log": [], "test_nll": [], "correct": [], "lr": []}
    history["n_params"] = count_parameters(model)
    log_interval = 2
    for epoch in range(1, n_epoch + 1):
        train(model, transform, optimizer, train_loader, epoch, log_interval, history)
        test(model, transform, test_loader, epoch, history)
        scheduler.step()
        history["lr"].append(scheduler.get_last_lr()[0])
    history["predicted"] = [predict(model, transform, labels, test_set[i][0]) for i in range(len(test_set))]
    if path is not None:
        torch.save(model.state_dict(), path)
        fresh = type(model)(n_input=1, n_output=len(labels.labels), n_channel=model.n_channel, pool=model.pool)
        fresh.load_state_dict(torch.load(path))
        fresh.to(device).eval()
        with torch.no_grad():
            clip = transform(test_set[0][0].to(device)).unsqueeze(0)
            history["reloaded_same"] = bool(torch.equal(fresh(clip), model(clip)))
    return history
