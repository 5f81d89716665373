"""nn.functional: every layer op and loss against finite differences (float64) and PyTorch (same inputs)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F
from tinygrad_adam import backend

rng = np.random.default_rng(7)


def distinct(shape: tuple[int, ...]) -> np.ndarray:
    """Values at least 0.05 apart (a shuffled grid), so max pooling has no near-ties for finite differences."""
    return rng.permutation(np.arange(int(np.prod(shape)), dtype=np.float64)).reshape(shape) * 0.05 - 1


def compare_with_torch(ours: Callable, theirs: Callable, arrays: list[np.ndarray], grad_of: tuple[int, ...],
                       rtol: float = 1e-10, atol: float = 1e-12) -> None:
    """Same float64 inputs through both; outputs and the gradients of sum(out * w) must agree."""
    torch = pytest.importorskip("torch")
    xs = [tg.Tensor(a, requires_grad=i in grad_of) for i, a in enumerate(arrays)]
    ts = [torch.tensor(a, requires_grad=i in grad_of) for i, a in enumerate(arrays)]
    out, ref = ours(*xs), theirs(*ts)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=rtol, atol=atol)
    w = rng.standard_normal(out.shape)
    (out * tg.Tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    for i in grad_of:
        np.testing.assert_allclose(xs[i].grad.numpy(), ts[i].grad.numpy(), rtol=rtol, atol=atol)


def gradcheck(fn: Callable, arrays: list[np.ndarray], grad_of: tuple[int, ...]) -> None:
    xs = [tg.Tensor(a, requires_grad=i in grad_of) for i, a in enumerate(arrays)]
    assert tg.gradcheck(fn, xs, atol=1e-7, rtol=1e-6)


# ---------------------------------------------------------------- linear
@pytest.mark.parametrize("x_shape", [(4, 5), (2, 3, 5), (5,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(x_shape: tuple[int, ...], bias: bool) -> None:
    torch = pytest.importorskip("torch")
    arrays = [rng.standard_normal(x_shape), rng.standard_normal((3, 5))] + ([rng.standard_normal(3)] if bias else [])
    grad_of = tuple(range(len(arrays)))
    gradcheck(F.linear, arrays, grad_of)
    compare_with_torch(F.linear, torch.nn.functional.linear, arrays, grad_of)


# ---------------------------------------------------------------- conv2d
# (N, C, H, W), (O, kh, kw), stride, padding: odd sizes, non-square kernels, strides that skip pixels
CONV_CASES = [
    ((2, 3, 7, 6), (4, 3, 3), 1, 0),
    ((2, 2, 7, 7), (3, 3, 2), 2, 1),
    ((1, 2, 5, 8), (2, 3, 5), (2, 1), (0, 2)),
    ((3, 1, 9, 9), (2, 5, 5), 1, 2),
    ((2, 2, 6, 5), (3, 1, 1), 3, 0),
    ((1, 2, 3, 3), (2, 5, 5), 1, 1),  # kernel exactly the padded input: a 1x1 output
    ((2, 3, 8, 7), (2, 3, 3), (3, 2), (1, 0)),
    ((1, 2, 4, 5), (2, 2, 2), 2, 2),  # padding wider than kernel - 1: some windows see only padding
]


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "padding"), CONV_CASES)
def test_conv2d_gradcheck_and_torch(x_shape, w_shape, stride, padding) -> None:
    torch = pytest.importorskip("torch")
    o, kh, kw = w_shape
    arrays = [rng.standard_normal(x_shape), rng.standard_normal((o, x_shape[1], kh, kw)), rng.standard_normal(o)]

    def ours(x, w, b):
        return F.conv2d(x, w, b, stride=stride, padding=padding)

    def theirs(x, w, b):
        return torch.nn.functional.conv2d(x, w, b, stride=stride, padding=padding)
    gradcheck(ours, arrays, (0, 1, 2))
    compare_with_torch(ours, theirs, arrays, (0, 1, 2))


def test_conv2d_without_bias_and_frozen_input() -> None:
    torch = pytest.importorskip("torch")
    arrays = [rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))]
    compare_with_torch(lambda x, w: F.conv2d(x, w, padding=1), lambda x, w: torch.nn.functional.conv2d(x, w, padding=1),
                       arrays, (1,))


def test_conv2d_at_the_paper_size_matches_torch_in_float32() -> None:
    """5x5 kernels with padding 2 on 28x28 images, float32 end to end."""
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4, 3, 28, 28)).astype(np.float32)
    w = (rng.standard_normal((8, 3, 5, 5)) * 0.1).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    tx, tw, tb = (tg.Tensor(a, requires_grad=True) for a in (x, w, b))
    px, pw, pb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out, ref = F.conv2d(tx, tw, tb, padding=2), torch.nn.functional.conv2d(px, pw, pb, padding=2)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-4)
    out.sum().backward()
    ref.sum().backward()
    for ours, theirs in ((tx, px), (tw, pw), (tb, pb)):
        assert ours.grad.dtype == np.float32
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-4, atol=1e-3)


def test_conv2d_errors() -> None:
    x = tg.randn(2, 3, 5, 5)
    w = tg.randn(4, 3, 3, 3)
    with pytest.raises(ValueError, match=r"expected 3-D \(unbatched\) or 4-D \(batched\) input, got shape \(5, 5\)"):
        F.conv2d(tg.randn(5, 5), w)
    with pytest.raises(ValueError, match=r"expects 3 input channels, got 2"):
        F.conv2d(tg.randn(2, 2, 5, 5), w)
    with pytest.raises(ValueError, match=r"kernel size \(8, 8\) is larger than the padded input \(7, 7\)"):
        F.conv2d(x, tg.randn(4, 3, 8, 8), padding=1)
    with pytest.raises(ValueError, match=r"stride must be an int or a pair of ints >= 1, got 0"):
        F.conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match=r"padding must be an int or a pair of ints >= 0, got \(1, -1\)"):
        F.conv2d(x, w, padding=(1, -1))
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\), got \(3,\)"):
        F.conv2d(x, w, tg.randn(3))
    with pytest.raises(ValueError, match=r"4-D weight"):
        F.conv2d(x, tg.randn(4, 3, 3))
    with pytest.raises(TypeError, match=r"share a dtype, got \['float32', 'float64'\]"):
        F.conv2d(x, w.double())


# ---------------------------------------------------------------- max_pool2d
POOL_CASES = [
    ((2, 3, 7, 7), 3, 2, 1),  # the paper's 3x3 / stride 2, overlapping windows
    ((1, 2, 6, 5), 2, None, 0),  # stride defaults to the kernel
    ((2, 1, 8, 8), (3, 2), (1, 2), (1, 0)),
    ((1, 2, 5, 6), 3, 2, 0),
    ((1, 1, 4, 4), 4, 1, 2),  # windows far into the padding
]


@pytest.mark.parametrize(("x_shape", "kernel", "stride", "padding"), POOL_CASES)
def test_max_pool2d_gradcheck_and_torch(x_shape, kernel, stride, padding) -> None:
    torch = pytest.importorskip("torch")
    arrays = [distinct(x_shape)]
    gradcheck(lambda x: F.max_pool2d(x, kernel, stride, padding), arrays, (0,))
    compare_with_torch(lambda x: F.max_pool2d(x, kernel, stride, padding),
                       lambda x: torch.nn.functional.max_pool2d(x, kernel, stride, padding), arrays, (0,))


def test_max_pool2d_ties_route_the_gradient_to_one_element_as_torch_does() -> None:
    """After a ReLU many windows are all zeros: each output's gradient goes to the first maximum only."""
    arrays = [np.maximum(rng.standard_normal((2, 3, 9, 9)) - 0.8, 0.0)]
    torch = pytest.importorskip("torch")
    compare_with_torch(lambda x: F.max_pool2d(x, 3, 2, 1), lambda x: torch.nn.functional.max_pool2d(x, 3, 2, 1),
                       arrays, (0,))


def test_max_pool2d_errors() -> None:
    with pytest.raises(ValueError, match=r"expected 3-D \(unbatched\) or 4-D \(batched\) input"):
        F.max_pool2d(tg.randn(5, 5), 2)
    with pytest.raises(ValueError, match=r"padding \(2, 2\) must be at most half the kernel size \(3, 3\)"):
        F.max_pool2d(tg.randn(1, 1, 5, 5), 3, padding=2)
    with pytest.raises(ValueError, match=r"kernel size \(4, 4\) is larger than the padded input \(3, 3\)"):
        F.max_pool2d(tg.randn(1, 1, 3, 3), 4)
    with pytest.raises(ValueError, match=r"kernel_size must be an int or a pair"):
        F.max_pool2d(tg.randn(1, 1, 3, 3), (2, 2, 2))


# ---------------------------------------------------------------- losses
def class_targets(n: int, c: int) -> np.ndarray:
    return rng.integers(0, c, n)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(reduction: str) -> None:
    torch = pytest.importorskip("torch")
    y = class_targets(5, 4)
    arrays = [rng.standard_normal((5, 4)) * 3]
    gradcheck(lambda z: F.cross_entropy(z, y, reduction=reduction), arrays, (0,))
    compare_with_torch(lambda z: F.cross_entropy(z, tg.Tensor(y), reduction=reduction),
                       lambda z: torch.nn.functional.cross_entropy(z, torch.tensor(y), reduction=reduction),
                       arrays, (0,))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(reduction: str) -> None:
    torch = pytest.importorskip("torch")
    y = class_targets(6, 3)
    arrays = [rng.standard_normal((6, 3))]
    gradcheck(lambda z: F.nll_loss(z.log_softmax(), y, reduction=reduction), arrays, (0,))
    compare_with_torch(lambda z: F.nll_loss(z.log_softmax(), y, reduction=reduction),
                       lambda z: torch.nn.functional.nll_loss(z.log_softmax(-1), torch.tensor(y), reduction=reduction),
                       arrays, (0,))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_with_logits(reduction: str) -> None:
    torch = pytest.importorskip("torch")
    arrays = [rng.standard_normal((3, 4)) * 3, rng.uniform(0, 1, (3, 4))]
    gradcheck(lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction=reduction), arrays, (0, 1))
    compare_with_torch(lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction=reduction),
                       lambda z, y: torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction=reduction),
                       arrays, (0, 1))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction: str) -> None:
    torch = pytest.importorskip("torch")
    arrays = [rng.standard_normal((3, 4)), rng.standard_normal((3, 4))]
    gradcheck(lambda a, b: F.mse_loss(a, b, reduction=reduction), arrays, (0, 1))
    compare_with_torch(lambda a, b: F.mse_loss(a, b, reduction=reduction),
                       lambda a, b: torch.nn.functional.mse_loss(a, b, reduction=reduction), arrays, (0, 1))


def test_activations_and_softmax_match_torch() -> None:
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    arrays = [rng.uniform(0.2, 2.0, (3, 5)) * rng.choice([-1.0, 1.0], (3, 5))]
    for ours, theirs in [(F.relu, tf.relu), (F.sigmoid, torch.sigmoid), (F.tanh, torch.tanh),
                         (lambda x: F.softplus(x, beta=2.0), lambda x: tf.softplus(x, beta=2.0)),
                         (lambda x: F.log_softmax(x, axis=0), lambda x: tf.log_softmax(x, dim=0)),
                         (F.softmax, lambda x: tf.softmax(x, dim=-1))]:
        compare_with_torch(ours, theirs, arrays, (0,))


def test_cross_entropy_backward_is_softmax_minus_onehot() -> None:
    z = rng.standard_normal((4, 3))
    y = np.array([0, 2, 1, 2])
    t = tg.Tensor(z, requires_grad=True)
    F.cross_entropy(t, y, reduction="sum").backward()
    softmax = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(t.grad.numpy(), softmax - np.eye(3)[y], rtol=1e-12, atol=1e-14)


def test_losses_are_stable_for_huge_logits_in_float32() -> None:
    z = tg.Tensor(np.array([1e4, -1e4, 1e4, -1e4, 30.0], np.float32), requires_grad=True)
    y = np.array([1, 0, 0, 1, 1], np.float32)
    loss = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    loss.sum().backward()
    np.testing.assert_allclose(loss.numpy(), [0, 0, 1e4, 1e4, np.log1p(np.exp(-30.0))], rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(z.grad.numpy(), [0, 0, 1, -1, -np.exp(-30.0)], rtol=1e-5, atol=1e-12)
    logits = tg.Tensor(np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, 1e4]], np.float32), requires_grad=True)
    ce = F.cross_entropy(logits, [1, 2], reduction="none")
    ce.sum().backward()
    np.testing.assert_allclose(ce.numpy(), [1e4, 0.0])
    np.testing.assert_allclose(logits.grad.numpy(), [[1, -1, 0], [0, 0, 0]], atol=1e-30)


def test_loss_errors() -> None:
    z = tg.randn(4, 3)
    with pytest.raises(ValueError, match=r"target shape \(4,\) does not match input shape \(4, 3\) \(expected \(4, 3\) "
                                         r"for probabilities; class indices must be an integer tensor\)"):  # as torch
        F.cross_entropy(z, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"class targets must lie in \[0, 3\), got \[3, -1\]"):
        F.cross_entropy(z, np.array([0, 3, 1, -1]))
    with pytest.raises(ValueError, match=r"target shape \(3,\) does not match input shape \(4, 3\) \(expected \(4,\)"):
        F.nll_loss(z, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"target shape \(4,\) does not match input shape \(4, 3, 2\) "
                                         r"\(expected \(4, 2\)"):
        F.cross_entropy(tg.randn(4, 3, 2), np.zeros(4, int))
    with pytest.raises(ValueError, match=r"reduction must be one of \('mean', 'sum', 'none'\), got 'avg'"):
        F.cross_entropy(z, np.zeros(4, int), reduction="avg")
    with pytest.raises(ValueError, match=r"reduction must be one of"):
        F.mse_loss(z, z, reduction="avg")
    with pytest.raises(ValueError, match=r"targets shape \(4, 2\) must equal input shape \(4, 3\)"):
        F.binary_cross_entropy_with_logits(z, np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"target shape \(4,\) must equal input shape \(4, 1\)"):
        F.mse_loss(tg.randn(4, 1), tg.randn(4))  # (torch: an (4, 4) loss, with a warning)
    with pytest.raises(ValueError, match=r"input shape \(2, 4\) does not end in in_features=3"):
        F.linear(tg.randn(2, 4), tg.randn(5, 3))
    with pytest.raises(TypeError, match=r"share a dtype"):
        F.linear(tg.randn(2, 3), tg.randn(5, 3).double())


def test_float32_in_float32_out_everywhere() -> None:
    """No silent upcast to float64 through any layer or loss, forward or backward."""
    x = tg.randn(2, 3, 8, 8, requires_grad=True)
    w = tg.randn(4, 3, 3, 3, requires_grad=True)
    h = F.max_pool2d(F.relu(F.conv2d(x, w, tg.randn(4), padding=1)), 3, 2, 1)
    h = F.dropout(h.flatten(1), 0.3)
    logits = F.linear(h, tg.randn(10, h.shape[1], requires_grad=True), tg.randn(10))
    mu, logvar = logits[:, :5], logits[:, 5:]
    losses = [F.cross_entropy(logits, [1, 2]), F.nll_loss(F.log_softmax(logits), [3, 4]),
              F.binary_cross_entropy_with_logits(logits, tg.rand(2, 10)), F.mse_loss(logits, tg.rand(2, 10)),
              F.gaussian_kl(mu, logvar).mean(), F.reparameterize(mu, logvar).sum(),
              F.bernoulli_log_likelihood(logits, tg.rand(2, 10)).sum()]
    total = losses[0]
    for loss in losses:
        assert loss.dtype == np.float32, loss
        total = total + loss
    total.backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


# ---------------------------------------------------------------- dropout
def test_dropout_statistics_and_gradient() -> None:
    x = tg.ones(400, 250, requires_grad=True)
    y = F.dropout(x, p=0.3)
    values = y.numpy()
    assert y.dtype == np.float32
    assert set(np.unique(values).tolist()) == {0.0, np.float32(1 / 0.7)}
    assert abs((values == 0).mean() - 0.3) < 0.01  # 100,000 draws: 7 standard deviations
    assert abs(values.mean() - 1.0) < 0.015  # inverted dropout keeps the expectation
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), values)  # gradient = mask / (1 - p)


def test_dropout_identity_in_eval_and_at_p_zero_and_seeded() -> None:
    x = tg.randn(5, 6)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    tg.manual_seed(11)
    a = F.dropout(x, 0.5).numpy()
    tg.manual_seed(11)
    b = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    for p in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\], got"):
            F.dropout(x, p)


# ---------------------------------------------------------------- VAE pieces
def test_reparameterize_uses_the_seeded_normal_draw_and_its_gradients() -> None:
    mu = tg.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    logvar = tg.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    tg.manual_seed(5)
    z = F.reparameterize(mu, logvar)
    tg.manual_seed(5)
    eps = tg.randn(3, 4, dtype=np.float64).numpy()
    np.testing.assert_allclose(z.numpy(), mu.numpy() + np.exp(logvar.numpy() / 2) * eps, rtol=1e-14)
    z.sum().backward()
    np.testing.assert_allclose(mu.grad.numpy(), np.ones((3, 4)))
    np.testing.assert_allclose(logvar.grad.numpy(), 0.5 * np.exp(logvar.numpy() / 2) * eps, rtol=1e-14)

    def seeded(m, lv):
        tg.manual_seed(5)
        return F.reparameterize(m, lv)
    gradcheck(seeded, [mu.numpy(), logvar.numpy()], (0, 1))


def test_reparameterize_statistics() -> None:
    mu = tg.full((20000, 2), 1.5)
    logvar = tg.Tensor(np.tile(np.log([0.25, 4.0]).astype(np.float32), (20000, 1)))
    z = F.reparameterize(mu, logvar).numpy()
    np.testing.assert_allclose(z.mean(0), [1.5, 1.5], atol=0.05)
    np.testing.assert_allclose(z.std(0), [0.5, 2.0], rtol=0.03)


def test_gaussian_kl_and_bernoulli_log_likelihood_match_torch_distributions() -> None:
    torch = pytest.importorskip("torch")
    dist = torch.distributions

    def kl(mu, logvar):
        return dist.kl_divergence(dist.Normal(mu, (logvar / 2).exp()), dist.Normal(0.0, 1.0)).sum(-1)
    arrays = [rng.standard_normal((3, 4)), rng.standard_normal((3, 4))]
    gradcheck(F.gaussian_kl, arrays, (0, 1))
    compare_with_torch(F.gaussian_kl, kl, arrays, (0, 1))
    x = (rng.uniform(0, 1, (3, 5)) > 0.5).astype(np.float64)
    compare_with_torch(lambda z: F.bernoulli_log_likelihood(z, x),
                       lambda z: dist.Bernoulli(logits=z).log_prob(torch.tensor(x)).sum(-1),
                       [rng.standard_normal((3, 5)) * 2], (0,))
    with pytest.raises(ValueError, match=r"mu \(3, 4\) and logvar \(3, 2\) must have the same shape"):
        F.gaussian_kl(tg.randn(3, 4), tg.randn(3, 2))
    with pytest.raises(ValueError, match=r"mu \(3, 4\) and logvar \(3, 2\) must have the same shape"):
        F.reparameterize(tg.randn(3, 4), tg.randn(3, 2))


# ---------------------------------------------------------------- GPU
@pytest.mark.gpu
def test_layers_and_losses_on_gpu_match_cpu() -> None:
    x = rng.standard_normal((4, 3, 12, 12)).astype(np.float32)
    w = (rng.standard_normal((5, 3, 5, 5)) * 0.2).astype(np.float32)
    lw = (rng.standard_normal((10, 5 * 6 * 6)) * 0.1).astype(np.float32)
    y = np.array([1, 4, 9, 0])

    def run(device: str) -> list[np.ndarray]:
        tx, tw, tlw = (tg.Tensor(a, requires_grad=True, device=device) for a in (x, w, lw))
        h = F.max_pool2d(F.relu(F.conv2d(tx, tw, padding=2, stride=1)), 3, 2, 1)
        logits = F.linear(h.flatten(1), tlw)
        assert logits.device == backend.parse_device(device) and logits.dtype == np.float32
        loss = F.cross_entropy(logits, y) + F.binary_cross_entropy_with_logits(logits, tg.Tensor(
            (np.abs(x[:, 0, 0, :10]) > 0.5).astype(np.float32), device=device))
        loss.backward()
        return [loss.numpy(), tx.grad.numpy(), tw.grad.numpy(), tlw.grad.numpy()]
    for gpu, cpu in zip(run("cuda"), run("cpu")):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
def test_dropout_and_reparameterize_on_gpu_are_seeded() -> None:
    x = tg.ones(100, 100, device="cuda")
    tg.manual_seed(3)
    a = F.dropout(x, 0.25)
    tg.manual_seed(3)
    b = F.dropout(x, 0.25)
    assert a.device == "cuda:0" and a.dtype == np.float32
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert abs((a.numpy() == 0).mean() - 0.25) < 0.03
    z = F.reparameterize(tg.zeros(10, 3, device="cuda"), tg.zeros(10, 3, device="cuda"))
    assert z.device == "cuda:0" and z.dtype == np.float32
