"""Fixes found by probing normalization and convolution functionals / layers against torch (the norm_conv probe)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as ours

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)

momenta = st.sampled_from([None, 0.0, 0.1, 0.5, 1.0])
# (N, C, *spatial) with more than one value per channel
bn_shapes = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(2, 3), st.integers(1, 2))
scales = st.sampled_from([1e-3, 1.0, 50.0, 1e4])


def _data(shape: tuple[int, ...], seed: int, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def _both(fn: Any) -> tuple[Any, Any]:
    return fn(torch), fn(ours)


def _close(a: Any, b: Any, tol: float = 1e-5) -> None:
    np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=tol, atol=tol)


@SETTINGS
@given(bn_shapes, momenta, st.integers(0, 100))
def test_batchnorm_track_running_stats_flipped_off_leaves_running_stats(shape: tuple[int, ...], momentum: float | None,
                                                                        seed: int) -> None:
    """torch passes no running statistics in training once ``track_running_stats`` is False (set after __init__):
    they stay as they are (and so does num_batches_tracked); ours used to update them silently."""
    x = _data(shape, seed)

    def run(lib: Any) -> list[Any]:
        m = lib.nn.BatchNorm2d(shape[1], momentum=momentum)
        m(lib.tensor(x))
        m.track_running_stats = False
        y = m(lib.tensor(x * 3 + 1))
        m.eval()
        return [y, m(lib.tensor(x)), m.running_mean, m.running_var, m.num_batches_tracked]

    for a, b in zip(*_both(run)):
        _close(a, b)


def test_batchnorm_track_running_stats_flipped_on_without_buffers() -> None:
    """A BatchNorm made without running statistics and switched to track them: batch statistics, no count to bump
    (torch checks num_batches_tracked for None; ours raised AttributeError)."""
    x = _data((4, 3), 0)

    def run(lib: Any) -> list[Any]:
        m = lib.nn.BatchNorm1d(3, track_running_stats=False)
        m.track_running_stats = True
        return [m(lib.tensor(x)), m.eval()(lib.tensor(x))]

    for a, b in zip(*_both(run)):
        _close(a, b)


@SETTINGS
@given(st.integers(1, 4), st.sampled_from([(0, 3), (0, 3, 4), (2, 3, 0), (0, 3, 2, 2)]), momenta)
def test_batch_norm_empty_batch_in_training(seed: int, shape: tuple[int, ...], momentum: float | None) -> None:
    """torch normalises an empty batch in training to an empty output and leaves the running statistics alone (its
    check is for exactly one value per channel); ours raised."""
    def run(lib: Any) -> list[Any]:
        m = getattr(lib.nn, f"BatchNorm{max(len(shape) - 2, 1)}d")(3, momentum=momentum)
        with lib.no_grad():
            m.running_mean.fill_(float(seed))
            m.running_var.fill_(3.0)
        x = lib.zeros(shape, requires_grad=True)
        y = m(x)
        y.sum().backward()
        return [y, x.grad, m.weight.grad, m.bias.grad, m.running_mean, m.running_var, m.num_batches_tracked]

    for a, b in zip(*_both(run)):
        assert tuple(a.shape) == tuple(b.shape)
        _close(a, b)
    for lib in (torch, ours):
        with pytest.raises((ValueError, RuntimeError)):
            lib.nn.BatchNorm1d(3)(lib.zeros(1, 3))


def _eval_output(lib: Any, m: Any, x: Any, frozen: bool) -> Any:
    """m(x) in eval mode; ``frozen``: from copies of the running statistics (torch's backward then reads the values
    its forward used, as ours always does)."""
    if not frozen:
        return m(x)
    return lib.nn.functional.batch_norm(x, m.running_mean.clone(), m.running_var.clone(), m.weight, m.bias, False,
                                        0.0, m.eps)


@SETTINGS
@given(bn_shapes, momenta, scales, st.lists(st.booleans(), min_size=2, max_size=4), st.integers(0, 100))
def test_batchnorm_eval_output_backward_after_a_training_step(shape: tuple[int, ...], momentum: float | None,
                                                              scale: float, modes: list[bool], seed: int) -> None:
    """An eval-mode batch norm output whose running statistics a later training forward moves: ours differentiates
    the forward computed (the statistics it used), torch's backward reads the moved buffers (its kernel's writes
    bump no version) and so is not the gradient of its own output (README's Differences). Compared against torch
    given copies of the statistics."""
    x = _data(shape, seed, scale)
    up = _data(shape, seed + 1)

    def run(lib: Any) -> list[Any]:
        m = lib.nn.BatchNorm2d(shape[1], momentum=momentum)
        with lib.no_grad():
            m.weight.copy_(lib.tensor(_data((shape[1],), seed + 2)))
        t = lib.tensor(x, requires_grad=True)
        loss = 0
        for j, training in enumerate(modes + [True]):
            m.train(training)
            y = m(t * (j + 1) - j) if training else _eval_output(lib, m, t * (j + 1) - j, lib is torch)
            loss = loss + (y * lib.tensor(up)).sum()
        loss.backward()
        return [t.grad, m.weight.grad, m.bias.grad, m.running_var]

    for a, b in zip(*_both(run)):
        _close(a, b, 2e-4)


@SETTINGS
@given(st.sampled_from([(5,), (3, 5), (2, 3, 5), (0, 5)]), st.sampled_from([None, (), (1,), (4,)]),
       st.integers(0, 50))
def test_linear_one_d_weight_and_broadcast_bias(xshape: tuple[int, ...], bshape: tuple[int, ...] | None,
                                                seed: int) -> None:
    """torch's F.linear takes a 1-D weight (x @ w) and a bias that broadcasts (a scalar or (1,)) to a 2-D weight's
    output; ours raised on both."""
    x, w1, w2 = _data(xshape, seed), _data((5,), seed + 1), _data((4, 5), seed + 2)
    b = None if bshape is None else _data(bshape, seed + 3)

    def run(lib: Any) -> list[Any]:
        xt, w2t = lib.tensor(x, requires_grad=True), lib.tensor(w2, requires_grad=True)
        bt = None if b is None else lib.tensor(b, requires_grad=True)
        out = [lib.nn.functional.linear(xt, w2t, bt)]
        if b is None:
            out.append(lib.nn.functional.linear(xt, lib.tensor(w1)))
        grads = lib.autograd.grad(sum(o.sum() for o in out), [t for t in (xt, w2t, bt) if t is not None])
        return out + list(grads)

    for a, b_ in zip(*_both(run)):
        assert tuple(a.shape) == tuple(b_.shape)
        _close(a, b_)


@pytest.mark.parametrize(("n_in", "n_out"), [(0, 3), (3, 0), (0, 0)])
def test_linear_with_zero_features(n_in: int, n_out: int) -> None:
    """torch's nn.Linear takes 0 in or out features (an empty weight; the output is the bias, 0 for fan_in 0);
    ours raised ValueError."""
    x = _data((2, n_in), 0)
    with pytest.warns(UserWarning):
        torch_m = torch.nn.Linear(n_in, n_out)
    m = ours.nn.Linear(n_in, n_out)
    assert tuple(m.weight.shape) == (n_out, n_in)
    _close(torch_m(torch.tensor(x)), m(ours.tensor(x)))
    for lib in (torch, ours):
        with pytest.raises((ValueError, RuntimeError)):
            lib.nn.Linear(-1, 3)


def test_layer_norm_empty_normalized_shape_raises() -> None:
    """torch requires at least one normalized dim; ours returned the input unnormalised."""
    for lib in (torch, ours):
        with pytest.raises((ValueError, RuntimeError)):
            lib.nn.functional.layer_norm(lib.ones(2, 3), ())


@SETTINGS
@given(st.integers(1, 3), st.integers(0, 1), st.integers(0, 20))
def test_conv_transpose_output_size_of_zero_d_tensors(nd: int, extra: int, seed: int) -> None:
    """``ConvTranspose*d.forward(x, output_size=[tensor(6), ...])`` (sizes read off another tensor's shape as 0-d
    tensors) works in torch; ours raised ValueError."""
    x = _data((1, 2) + (3,) * nd, seed)
    size = [5 + extra] * nd

    def run(lib: Any) -> Any:
        m = getattr(lib.nn, f"ConvTranspose{nd}d")(2, 3, 3, stride=2, padding=1)
        with lib.no_grad():
            m.weight.copy_(lib.tensor(_data(tuple(m.weight.shape), seed + 1)))
            m.bias.copy_(lib.tensor(_data((3,), seed + 2)))
        return m(lib.tensor(x), output_size=[lib.tensor(n) for n in size])

    a, b = _both(run)
    assert tuple(a.shape) == tuple(b.shape) == (1, 3, *size)
    _close(a, b)


@settings(max_examples=10, deadline=None, derandomize=True)
@given(bn_shapes, momenta, st.integers(0, 100))
def test_batchnorm_eval_double_backward_after_a_training_step(shape: tuple[int, ...], momentum: float | None,
                                                              seed: int) -> None:
    """The same with ``create_graph=True`` (the double-backward path): the first gradient and the gradient of that
    use the statistics the forward used."""
    x = _data(shape, seed)

    def run(lib: Any) -> list[Any]:
        m = lib.nn.BatchNorm2d(shape[1], momentum=momentum).eval()
        t = lib.tensor(x, requires_grad=True)
        y = _eval_output(lib, m, t, lib is torch)
        m.train()
        m(t * 2 + 1)
        (g,) = lib.autograd.grad((y ** 3).sum(), t, create_graph=True)
        (gg,) = lib.autograd.grad((g ** 2).sum(), t)
        return [g, gg]

    for a, b in zip(*_both(run)):
        _close(a, b, 2e-4)
