"""models/: output shapes, the architectures against PyTorch equivalents, and a few descending steps each."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F
from tinygrad_adam import models, nn

rng = np.random.default_rng(11)


def descend(model: nn.Module, loss_fn: Callable[[], tg.Tensor], steps: int, lr: float) -> list[float]:
    """Plain gradient descent (p -= lr * grad) on a fixed batch; the loss before each step, which must fall
    at every step (a small enough step on a smooth objective)."""
    losses = []
    for _ in range(steps):
        model.zero_grad()
        loss = loss_fn()
        loss.backward()
        losses.append(loss.item())
        for p in model.parameters():
            assert p.grad.dtype == p.dtype == np.float32  # no float64 anywhere on the way
            p.data -= lr * p.grad.data
    assert all(np.diff(losses) < 0), losses
    return losses


def images(n: int, c: int, side: int) -> tg.Tensor:
    return tg.Tensor(rng.uniform(0, 1, (n, c, side, side)).astype(np.float32))


def labels(n: int, classes: int = 10) -> np.ndarray:
    return rng.integers(0, classes, n)


def test_logistic_regression_shape_and_descent() -> None:
    model = models.LogisticRegression(784, 10)
    x, y = images(16, 1, 28), labels(16)
    assert model(x).shape == (16, 10) and model(x.flatten(1)).shape == (16, 10)
    losses = descend(model, lambda: F.cross_entropy(model(x), y), steps=5, lr=0.03)
    assert losses[-1] < 0.8 * losses[0]


def test_mlp_layout_dropout_and_descent() -> None:
    model = models.MLP(in_features=784, hidden=(32, 16), num_classes=10, dropout=0.5)
    kinds = [type(m).__name__ for m in model.net]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert [type(m).__name__ for m in models.MLP(hidden=(8,), dropout=0).net] == ["Linear", "ReLU", "Linear"]
    x, y = images(16, 1, 28), labels(16)
    assert model(x).shape == (16, 10) and model(x).dtype == np.float32
    model.eval()  # deterministic objective for the descent check
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())
    losses = descend(model, lambda: F.cross_entropy(model(x), y), steps=6, lr=0.25)
    assert losses[-1] < 0.9 * losses[0]


def test_mlp_defaults_are_the_paper_s_784_1000_1000_10() -> None:
    model = models.MLP()
    shapes = [p.shape for p in model.parameters()]
    assert shapes == [(1000, 784), (1000,), (1000, 1000), (1000,), (10, 1000), (10,)]


@pytest.mark.parametrize(("in_channels", "side"), [(1, 28), (3, 32)])
def test_cnn_shapes_for_mnist_and_cifar(in_channels: int, side: int) -> None:
    model = models.CNN(in_channels=in_channels, channels=(4, 4, 8), fc=16, image_size=side)
    out = model(images(2, in_channels, side))
    assert out.shape == (2, 10) and out.dtype == np.float32
    fc = next(m for m in model.modules() if isinstance(m, nn.Linear))
    assert fc.weight.shape == (16, 8 * 4 * 4)  # 28 -> 14 -> 7 -> 4 and 32 -> 16 -> 8 -> 4
    with pytest.raises(ValueError, match=rf"CNN expects images of shape \(N, {in_channels}, {side}, {side}\), got"):
        model(images(2, in_channels, side + 1))


def test_cnn_defaults_are_the_paper_s_c64_c64_c128_1000() -> None:
    model = models.CNN()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.weight.shape for c in convs] == [(64, 1, 5, 5), (64, 64, 5, 5), (128, 64, 5, 5)]
    assert all(c.padding == (2, 2) for c in convs)
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    assert [(p.kernel_size, p.stride) for p in pools] == [(3, 2)] * 3  # as given, as torch keeps them
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [lin.weight.shape for lin in linears] == [(1000, 128 * 4 * 4), (10, 1000)]
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.2, 0.5]


def test_cnn_matches_an_equivalent_torch_network() -> None:
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    ours = models.CNN(in_channels=3, channels=(3, 4, 5), fc=6, num_classes=4, image_size=32).to(dtype=np.float64)
    theirs = tnn.Sequential(tnn.Dropout(0.2), tnn.Conv2d(3, 3, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(3, 2, 1),
                            tnn.Conv2d(3, 4, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(3, 2, 1),
                            tnn.Conv2d(4, 5, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(3, 2, 1),
                            tnn.Flatten(), tnn.Linear(5 * 4 * 4, 6), tnn.ReLU(), tnn.Dropout(0.5),
                            tnn.Linear(6, 4)).double()
    theirs.load_state_dict({k.removeprefix("net."): torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((2, 3, 32, 32))
    np.testing.assert_allclose(ours(tg.Tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10)


def test_cnn_descends_on_a_fixed_batch() -> None:
    model = models.CNN(channels=(4, 4, 8), fc=16, input_dropout=0, dropout=0)
    x, y = images(8, 1, 28), labels(8)
    losses = descend(model, lambda: F.cross_entropy(model(x), y), steps=6, lr=0.1)
    assert losses[-1] < losses[0] - 0.05


def test_vae_shapes_and_loss_is_the_negative_elbo() -> None:
    model = models.VAE(in_features=20, hidden=8, latent=3)
    assert [type(m).__name__ for m in model.encoder] == ["Linear", "Softplus"]
    assert [type(m).__name__ for m in model.decoder] == ["Linear", "Softplus", "Linear"]
    x = tg.Tensor((rng.uniform(0, 1, (5, 20)) > 0.5).astype(np.float32))
    tg.manual_seed(4)
    logits, mu, logvar = model(x)
    assert logits.shape == (5, 20) and mu.shape == (5, 3) and logvar.shape == (5, 3)
    # by hand, with the same eps: -log p(x|z) as Bernoulli with p = sigmoid(logits), plus the Gaussian KL
    p = 1 / (1 + np.exp(-logits.numpy().astype(np.float64)))
    xn = x.numpy()
    nll = -(xn * np.log(p) + (1 - xn) * np.log(1 - p)).sum(1)
    m, lv = mu.numpy().astype(np.float64), logvar.numpy().astype(np.float64)
    kl = 0.5 * (m ** 2 + np.exp(lv) - 1 - lv).sum(1)
    tg.manual_seed(4)
    loss = model.loss(x)
    assert loss.shape == () and loss.dtype == np.float32
    assert loss.item() == pytest.approx((nll + kl).mean(), rel=1e-5)


def test_vae_defaults_and_descent() -> None:
    assert [p.shape for p in models.VAE().encoder.parameters()] == [(500, 784), (500,)]
    assert models.VAE().mu.weight.shape == (50, 500)
    model = models.VAE(in_features=30, hidden=16, latent=4)
    x = tg.Tensor((rng.uniform(0, 1, (12, 30)) > 0.5).astype(np.float32))

    def loss() -> tg.Tensor:
        tg.manual_seed(0)  # the same eps every step: a fixed objective
        return model.loss(x)
    losses = descend(model, loss, steps=8, lr=0.09)
    assert losses[-1] < 0.9 * losses[0]


def test_model_docstrings_cite_the_paper_section() -> None:
    for module, section in [(models.logistic, "6.1"), (models.mlp, "6.2"), (models.cnn, "6.3"), (models.vae, "6.4")]:
        assert f"section {section}" in module.__doc__


@pytest.mark.gpu
def test_cnn_on_gpu_matches_cpu() -> None:
    model = models.CNN(channels=(4, 4, 8), fc=16, input_dropout=0, dropout=0)
    x, y = images(3, 1, 28), labels(3)

    def loss_and_grads(device: str) -> list[np.ndarray]:
        model.to(device).zero_grad()
        loss = F.cross_entropy(model(x.to(device)), y)
        loss.backward()
        return [loss.numpy(), *(p.grad.numpy() for p in model.parameters())]
    for gpu, cpu in zip(loss_and_grads("cuda"), loss_and_grads("cpu")):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-5)


@pytest.mark.gpu
def test_vae_descends_on_gpu() -> None:
    model = models.VAE(in_features=784, hidden=16, latent=4).to("cuda")
    x = images(12, 1, 28).flatten(1).to("cuda")

    def loss() -> tg.Tensor:
        tg.manual_seed(0)
        out = model.loss(x)
        assert out.device == "cuda:0" and out.dtype == np.float32
        return out
    descend(model, loss, steps=5, lr=0.01)
