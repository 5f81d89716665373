"""Six of PyTorch's own tutorials as their readers type them, shrunk to seconds: "Learning PyTorch with Examples"
(a cubic fitted by hand-written gradients, autograd, a custom ``autograd.Function`` for the Legendre polynomial
P3, ``nn.Sequential`` with ``Flatten(0, 1)``, RMSprop, and the DynamicNet whose depth is drawn each step); "What is
torch.nn really?" (logistic regression from raw tensors with ``requires_grad_()`` and in-place updates under
``no_grad``, then ``nn.Parameter``, ``nn.Linear``, ``optim``, ``TensorDataset`` / ``DataLoader``, a ``Lambda``
layer, a CNN ending in ``AdaptiveAvgPool2d`` and a ``WrappedDataLoader``); the LSTM part-of-speech tagger; the
character-level RNN that classifies names (one-hot letters, a hand-written RNN cell over ``cat``, ``p.data.add_``
updates, ``topk``); FGSM adversarial examples (``data.requires_grad``, the sign of the input gradient, ``clamp``);
and "Fusing Convolution and Batch Norm using Custom Function" (``F.grad.conv2d_input`` / ``conv2d_weight``,
``ctx.save_for_backward``, ``gradcheck`` in float64, a fused layer trained beside the unfused one).

Random data, control flow and initial weights come from numpy / ``random`` and from torch's run (``weights``), so
both libraries see the same numbers. ``run(weights)`` returns what the test compares."""

# ruff: noqa: A001, A002, N801, N802, SIM108, SIM905, RUF059 - the tutorials' own spellings
import math
import random

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable
from torch.utils.data import DataLoader, TensorDataset


def _state(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def _start(module, weights, key, log):
    """``module`` with torch's initial weights (``weights[key]``) when given; its own recorded in ``log``."""
    if weights is not None:
        module.load_state_dict(weights[key])
    log["weights"][key] = _state(module)
    return module


# ------------------------------------------------------------------ Learning PyTorch with Examples
class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


class DynamicNet(torch.nn.Module):
    def __init__(self, a, b, c, d, e):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a))
        self.b = torch.nn.Parameter(torch.tensor(b))
        self.c = torch.nn.Parameter(torch.tensor(c))
        self.d = torch.nn.Parameter(torch.tensor(d))
        self.e = torch.nn.Parameter(torch.tensor(e))

    def forward(self, x, extra):
        y = self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3
        for exp in range(4, extra):
            y = y + self.e * x ** exp  # the same parameter reused (weight sharing)
        return y

    def string(self):
        return (f'y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + {self.d.item()} x^3 + '
                f'{self.e.item()} x^4 ? + {self.e.item()} x^5 ?')


def polynomial(log, steps=40):
    x = torch.linspace(-math.pi, math.pi, 200)
    y = torch.sin(x)
    coeffs = [0.3, -0.2, 0.1, 0.05]
    # tensors and hand-written gradients
    a, b, c, d = (torch.tensor(v) for v in coeffs)
    lr = 1e-6
    for _ in range(steps):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        grad_y_pred = 2.0 * (y_pred - y)
        a = a - lr * grad_y_pred.sum()
        b = b - lr * (grad_y_pred * x).sum()
        c = c - lr * (grad_y_pred * x ** 2).sum()
        d = d - lr * (grad_y_pred * x ** 3).sum()
    log["manual"] = [t.item() for t in (a, b, c, d)]
    # autograd, with updates under no_grad
    a, b, c, d = (torch.tensor(v, requires_grad=True) for v in coeffs)
    for _ in range(steps):
        loss = (a + b * x + c * x ** 2 + d * x ** 3 - y).pow(2).sum()
        loss.backward()
        with torch.no_grad():
            for t in (a, b, c, d):
                t -= lr * t.grad
                t.grad = None
    log["autograd"] = [t.item() for t in (a, b, c, d)]
    # the custom Function: y = a + b P3(c + d x)
    a, b, c, d = (torch.full((), v, dtype=torch.float, requires_grad=True) for v in (0.0, -1.0, 0.0, 0.3))
    P3 = LegendrePolynomial3.apply
    for _ in range(steps):
        loss = (a + b * P3(c + d * x) - y).pow(2).sum()
        loss.backward()
        with torch.no_grad():
            for t in (a, b, c, d):
                t -= 5e-6 * t.grad
                t.grad = None
    log["legendre"] = [t.item() for t in (a, b, c, d)]
    # nn: the powers of x as features, Linear(3, 1) and Flatten(0, 1)
    p = torch.tensor([1, 2, 3])
    xx = x.unsqueeze(-1).pow(p)
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
    _start(model, log.get("given"), "poly_nn", log)
    loss_fn = torch.nn.MSELoss(reduction='sum')
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(steps):
        loss = loss_fn(model(xx), y)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    linear_layer = model[0]
    log["nn_losses"] = losses
    log["nn_coeffs"] = [linear_layer.bias.item(), *linear_layer.weight[:, 0:3].detach().flatten().tolist()]
    # DynamicNet: depth drawn from Python's random each step, SGD with momentum
    dyn = DynamicNet(0.1, 0.2, -0.1, 0.05, 0.01)
    opt = torch.optim.SGD(dyn.parameters(), lr=1e-8, momentum=0.9)
    draw = random.Random(0)
    losses = []
    for _ in range(steps):
        loss = torch.nn.MSELoss(reduction='sum')(dyn(x, draw.randint(4, 6)), y)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    log["dyn_losses"] = losses
    log["dyn_string_len"] = len(dyn.string().split())


# ------------------------------------------------------------------ What is torch.nn really?
class Mnist_Logistic(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(784, 10)

    def forward(self, xb):
        return self.lin(xb)


class Lambda(nn.Module):
    def __init__(self, func):
        super().__init__()
        self.func = func

    def forward(self, x):
        return self.func(x)


class WrappedDataLoader:
    def __init__(self, dl, func):
        self.dl = dl
        self.func = func

    def __len__(self):
        return len(self.dl)

    def __iter__(self):
        for b in self.dl:
            yield (self.func(*b))


def loss_batch(model, loss_func, xb, yb, opt=None):
    loss = loss_func(model(xb), yb)
    if opt is not None:
        loss.backward()
        opt.step()
        opt.zero_grad()
    return loss.item(), len(xb)


def fit(epochs, model, loss_func, opt, train_dl, valid_dl):
    history = []
    for _ in range(epochs):
        model.train()
        for xb, yb in train_dl:
            loss_batch(model, loss_func, xb, yb, opt)
        model.eval()
        with torch.no_grad():
            losses, nums = zip(*[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl])
        history.append(np.sum(np.multiply(losses, nums)) / np.sum(nums))
    return history


def nn_really(log, weights):
    rng = np.random.default_rng(3)
    x_train = torch.tensor(rng.random((96, 784), dtype=np.float32))
    y_train = torch.tensor(rng.integers(0, 10, 96))
    x_valid, y_valid = x_train[:32] * 0.9, y_train[:32]
    bs, lr = 16, 0.1
    # from scratch: Xavier-scaled weights, requires_grad_() after the scaling, hand-written log_softmax and nll
    if weights is None:
        w0 = torch.randn(784, 10) / math.sqrt(784)
    else:
        w0 = torch.tensor(weights["scratch_w"])
    log["weights"]["scratch_w"] = w0.numpy().copy()
    weights_ = w0.clone()
    weights_.requires_grad_()
    bias = torch.zeros(10, requires_grad=True)

    def log_softmax(x):
        return x - x.exp().sum(-1).log().unsqueeze(-1)

    def model(xb):
        return log_softmax(xb @ weights_ + bias)

    def nll(input, target):
        return -input[range(target.shape[0]), target].mean()

    def accuracy(out, yb):
        preds = torch.argmax(out, dim=1)
        return (preds == yb).float().mean()

    n = x_train.shape[0]
    for _ in range(2):
        for i in range((n - 1) // bs + 1):
            start_i = i * bs
            end_i = start_i + bs
            xb = x_train[start_i:end_i]
            yb = y_train[start_i:end_i]
            loss = nll(model(xb), yb)
            loss.backward()
            with torch.no_grad():
                weights_ -= weights_.grad * lr
                bias -= bias.grad * lr
                weights_.grad.zero_()
                bias.grad.zero_()
    log["scratch"] = [nll(model(x_valid), y_valid).item(), accuracy(model(x_valid), y_valid).item()]
    # nn.Linear, optim, DataLoader
    loss_func = F.cross_entropy
    lin = _start(Mnist_Logistic(), weights, "mnist_logistic", log)
    opt = torch.optim.SGD(lin.parameters(), lr=lr)
    train_dl = DataLoader(TensorDataset(x_train, y_train), batch_size=bs)
    valid_dl = DataLoader(TensorDataset(x_valid, y_valid), batch_size=bs * 2)
    log["fit_logistic"] = fit(2, lin, loss_func, opt, train_dl, valid_dl)
    # a CNN after a Lambda that reshapes, then a WrappedDataLoader doing that instead
    cnn = nn.Sequential(
        Lambda(lambda x: x.view(-1, 1, 28, 28)),
        nn.Conv2d(1, 4, kernel_size=3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(4, 4, kernel_size=3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(4, 10, kernel_size=3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        Lambda(lambda x: x.view(x.size(0), -1)),
    )
    _start(cnn, weights, "cnn", log)
    opt = torch.optim.SGD(cnn.parameters(), lr=0.1, momentum=0.9)
    log["fit_cnn"] = fit(2, cnn, loss_func, opt, train_dl, valid_dl)

    def preprocess(x, y):
        return x.view(-1, 1, 28, 28), y

    wrapped = WrappedDataLoader(DataLoader(TensorDataset(x_train, y_train), batch_size=bs), preprocess)
    log["wrapped_batches"] = [len(wrapped), *[tuple(xb.shape) for xb, _ in wrapped][:1]]


# ------------------------------------------------------------------ Sequence models: the LSTM tagger
def prepare_sequence(seq, to_ix):
    idxs = [to_ix[w] for w in seq]
    return torch.tensor(idxs, dtype=torch.long)


class LSTMTagger(nn.Module):
    def __init__(self, embedding_dim, hidden_dim, vocab_size, tagset_size):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim)
        self.hidden2tag = nn.Linear(hidden_dim, tagset_size)

    def forward(self, sentence):
        embeds = self.word_embeddings(sentence)
        lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
        tag_space = self.hidden2tag(lstm_out.view(len(sentence), -1))
        return F.log_softmax(tag_space, dim=1)


def tagger(log, weights, epochs=30):
    training_data = [
        ("The dog ate the apple".split(), ["DET", "NN", "V", "DET", "NN"]),
        ("Everybody read that book".split(), ["NN", "V", "DET", "NN"]),
    ]
    word_to_ix = {}
    for sent, _tags in training_data:
        for word in sent:
            if word not in word_to_ix:
                word_to_ix[word] = len(word_to_ix)
    tag_to_ix = {"DET": 0, "NN": 1, "V": 2}
    model = _start(LSTMTagger(6, 6, len(word_to_ix), len(tag_to_ix)), weights, "tagger", log)
    loss_function = nn.NLLLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with torch.no_grad():
        log["tag_scores_before"] = model(prepare_sequence(training_data[0][0], word_to_ix)).numpy().copy()
    for _ in range(epochs):
        for sentence, tags in training_data:
            model.zero_grad()
            sentence_in = prepare_sequence(sentence, word_to_ix)
            targets = prepare_sequence(tags, tag_to_ix)
            loss = loss_function(model(sentence_in), targets)
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        scores = model(prepare_sequence(training_data[0][0], word_to_ix))
    log["tag_scores_after"] = scores.numpy().copy()
    log["tags"] = scores.argmax(dim=1).tolist()


# ------------------------------------------------------------------ NLP from scratch: classifying names
all_letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,;'"
n_letters = len(all_letters)


def letterToIndex(letter):
    return all_letters.find(letter)


def lineToTensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)
    for li, letter in enumerate(line):
        tensor[li][0][letterToIndex(letter)] = 1
    return tensor


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):
        combined = torch.cat((input, hidden), 1)
        hidden = self.i2h(combined)
        output = self.softmax(self.i2o(combined))
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


def names(log, weights):
    category_lines = {"English": ["Smith", "Jones", "Taylor"], "Italian": ["Rossi", "Bianchi", "Romano"],
                      "Japanese": ["Sato", "Suzuki", "Takahashi"]}
    all_categories = list(category_lines)
    rnn = _start(RNN(n_letters, 16, len(all_categories)), weights, "names_rnn", log)
    criterion = nn.NLLLoss()
    learning_rate = 0.005

    def categoryFromOutput(output):
        top_n, top_i = output.topk(1)
        category_i = top_i[0].item()
        return all_categories[category_i], category_i

    def train(category_tensor, line_tensor):
        hidden = rnn.initHidden()
        rnn.zero_grad()
        for i in range(line_tensor.size()[0]):
            output, hidden = rnn(line_tensor[i], hidden)
        loss = criterion(output, category_tensor)
        loss.backward()
        for p in rnn.parameters():
            p.data.add_(p.grad.data, alpha=-learning_rate)
        return output, loss.item()

    draw = random.Random(1)
    losses, guesses = [], []
    for _ in range(30):
        category = all_categories[draw.randint(0, len(all_categories) - 1)]
        line = category_lines[category][draw.randint(0, 2)]
        category_tensor = torch.tensor([all_categories.index(category)], dtype=torch.long)
        output, loss = train(category_tensor, lineToTensor(line))
        losses.append(loss)
        guesses.append(categoryFromOutput(output)[1])
    log["names_losses"] = losses
    log["names_guesses"] = guesses
    log["line_tensor"] = lineToTensor("Jones").numpy().copy()


# ------------------------------------------------------------------ FGSM
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 5)
        self.conv2 = nn.Conv2d(4, 8, 5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(32, 16)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = x.view(-1, 32)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, training=self.training)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def fgsm_attack(image, epsilon, data_grad):
    sign_data_grad = data_grad.sign()
    perturbed_image = image + epsilon * sign_data_grad
    perturbed_image = torch.clamp(perturbed_image, 0, 1)
    return perturbed_image


def denorm(batch, mean=(0.1307,), std=(0.3081,)):
    if isinstance(mean, (list, tuple)):
        mean = torch.tensor(mean)
    if isinstance(std, (list, tuple)):
        std = torch.tensor(std)
    return batch * std.view(1, -1, 1, 1) + mean.view(1, -1, 1, 1)


def fgsm(log, weights):
    model = _start(Net(), weights, "fgsm_net", log)
    model.eval()
    rng = np.random.default_rng(5)
    images = torch.tensor(rng.standard_normal((6, 1, 20, 20), dtype=np.float32))
    targets = torch.tensor(rng.integers(0, 10, 6))
    log["fgsm_correct"], log["fgsm_preds"], log["fgsm_max"] = [], [], []
    for epsilon in (0.0, 0.1, 0.3):
        correct = 0
        for data, target in zip(images.split(1), targets.split(1)):
            data.requires_grad = True
            output = model(data)
            init_pred = output.max(1, keepdim=True)[1]
            loss = F.nll_loss(output, target)
            model.zero_grad()
            loss.backward()
            data_grad = data.grad.data
            data_denorm = denorm(data)
            perturbed_data = fgsm_attack(data_denorm, epsilon, data_grad)
            perturbed_data_normalized = (perturbed_data - 0.1307) / 0.3081
            output = model(perturbed_data_normalized)
            final_pred = output.max(1, keepdim=True)[1]
            correct += int(final_pred.item() == target.item())
            log["fgsm_preds"].append([init_pred.item(), final_pred.item()])
            log["fgsm_max"].append(output.max().item())
        log["fgsm_correct"].append(correct)


# ------------------------------------------------------------------ Fusing Convolution and Batch Norm
def convolution_backward(grad_out, X, weight):
    grad_input = F.conv2d(X.transpose(0, 1), grad_out.transpose(0, 1)).transpose(0, 1)
    grad_X = torch.nn.functional.conv_transpose2d(grad_out, weight)
    return grad_X, grad_input


class Conv2D(torch.autograd.Function):
    @staticmethod
    def forward(ctx, X, weight):
        ctx.save_for_backward(X, weight)
        return F.conv2d(X, weight)

    @staticmethod
    def backward(ctx, grad_out):
        X, weight = ctx.saved_tensors
        return convolution_backward(grad_out, X, weight)


def unsqueeze_all(t):
    return t[None, :, None, None]


def batch_norm_backward(grad_out, X, sum, sqrt_var, N, eps):
    tmp = ((X - unsqueeze_all(sum) / N) * grad_out).sum(dim=(0, 2, 3))
    tmp *= -1
    d_denom = tmp / (sqrt_var + eps) ** 2
    d_var = d_denom / (2 * sqrt_var)
    d_mean_dx = grad_out / unsqueeze_all(sqrt_var + eps)
    d_mean_dx = unsqueeze_all(-d_mean_dx.sum(dim=(0, 2, 3)) / N)
    grad_input = X * unsqueeze_all(d_var * N)
    grad_input += unsqueeze_all(-d_var * sum)
    grad_input *= 2 / ((N - 1) * N)
    grad_input += d_mean_dx
    grad_input *= unsqueeze_all(sqrt_var + eps)
    grad_input += grad_out
    grad_input /= unsqueeze_all(sqrt_var + eps)
    return grad_input


class BatchNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, X, eps=1e-3):
        sum = X.sum(dim=(0, 2, 3))
        var = X.var(unbiased=True, dim=(0, 2, 3))
        N = X.numel() / X.size(1)
        sqrt_var = torch.sqrt(var)
        ctx.save_for_backward(X)
        ctx.eps = eps
        ctx.sum = sum
        ctx.N = N
        ctx.sqrt_var = sqrt_var
        mean = sum / N
        denom = sqrt_var + eps
        out = X - unsqueeze_all(mean)
        out /= unsqueeze_all(denom)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        X, = ctx.saved_tensors
        return batch_norm_backward(grad_out, X, ctx.sum, ctx.sqrt_var, ctx.N, ctx.eps)


class FusedConvBN2DFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, X, conv_weight, eps=1e-3):
        assert X.ndim == 4
        ctx.save_for_backward(X, conv_weight)
        X = F.conv2d(X, conv_weight)
        sum = X.sum(dim=(0, 2, 3))
        var = X.var(unbiased=True, dim=(0, 2, 3))
        N = X.numel() / X.size(1)
        sqrt_var = torch.sqrt(var)
        ctx.eps = eps
        ctx.sum = sum
        ctx.N = N
        ctx.sqrt_var = sqrt_var
        mean = sum / N
        denom = sqrt_var + eps
        out = X - unsqueeze_all(mean)
        out /= unsqueeze_all(denom)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        X, conv_weight, = ctx.saved_tensors
        X_conv_out = F.conv2d(X, conv_weight)  # recomputed, as the tutorial does, to save memory
        grad_out = batch_norm_backward(grad_out, X_conv_out, ctx.sum, ctx.sqrt_var, ctx.N, ctx.eps)
        grad_X = torch.nn.grad.conv2d_input(X.shape, conv_weight, grad_out)
        grad_weight = F.grad.conv2d_weight(X, conv_weight.shape, grad_out)
        return grad_X, grad_weight, None, None, None, None, None


class FusedConvBN(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, exp_avg_factor=0.1, eps=1e-3, device=None,
                 dtype=None):
        super().__init__()
        factory_kwargs = {'device': device, 'dtype': dtype}
        weight_shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.conv_weight = nn.Parameter(torch.empty(*weight_shape, **factory_kwargs))
        self.eps = eps
        self.reset_parameters()

    def forward(self, X):
        return FusedConvBN2DFunction.apply(X, self.conv_weight, self.eps)

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.conv_weight, a=math.sqrt(5))


def fused(log, weights):
    rng = np.random.default_rng(7)
    w = torch.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    X = torch.tensor(rng.standard_normal((4, 2, 5, 5)), requires_grad=True)
    log["gradcheck_conv"] = torch.autograd.gradcheck(Conv2D.apply, (X, w))
    a = torch.tensor(rng.standard_normal((2, 3, 4, 5)), requires_grad=True)
    log["gradcheck_bn"] = torch.autograd.gradcheck(BatchNorm.apply, (a,), fast_mode=False)
    log["gradcheck_fused"] = torch.autograd.gradcheck(FusedConvBN2DFunction.apply, (X, w))
    # the unfused (Conv2d + BatchNorm2d) and fused nets trained side by side on the same batches
    nets = {}
    for name, block in (("unfused", lambda: nn.Sequential(nn.Conv2d(1, 4, 3, bias=False),
                                                          nn.BatchNorm2d(4, affine=False, eps=1e-3))),
                        ("fused", lambda: nn.Sequential(FusedConvBN(1, 4, 3)))):
        net = nn.Sequential(block(), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
        nets[name] = _start(net, weights, name, log)
    if weights is None:  # both start from the same weights (the unfused conv's)
        nets["fused"][0][0].conv_weight.data.copy_(nets["unfused"][0][0].weight.data)
        nets["fused"][3].load_state_dict(nets["unfused"][3].state_dict())
        log["weights"]["fused"] = _state(nets["fused"])
    for name, net in nets.items():
        opt = torch.optim.SGD(net.parameters(), lr=0.01)
        draw = np.random.default_rng(9)
        losses = []
        for _ in range(5):
            xb = torch.tensor(draw.standard_normal((8, 1, 8, 8), dtype=np.float32))
            yb = torch.tensor(draw.integers(0, 10, 8))
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        log[f"{name}_losses"] = losses


def run(weights=None):
    torch.manual_seed(0)
    log = {"weights": {}, "given": weights}
    polynomial(log)
    nn_really(log, weights)
    tagger(log, weights)
    names(log, weights)
    fgsm(log, weights)
    fused(log, weights)
    log.pop("given")
    return log
