"""Second linalg probe's fixes, against torch: slogdet's sign is part of the graph (requires_grad, no gradient),
matrix_power of a non-square input raises torch's RuntimeError family."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

BATCH = st.sampled_from([(), (2,), (0,), (2, 1)])


@settings(max_examples=25, deadline=None)
@given(batch=BATCH, n=st.integers(0, 4), seed=st.integers(0, 2**16), scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_slogdet_sign_in_graph(batch: tuple[int, ...], n: int, seed: int, scale: float) -> None:
    """sign requires grad as torch's; backward from random upstream gradients on both outputs matches torch."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((*batch, n, n)) * scale
    outs = {}
    for m in (torch, tg):
        x = m.tensor(a, requires_grad=True)
        sign, logabs = m.linalg.slogdet(x)
        assert sign.requires_grad and logabs.requires_grad
        up = np.random.default_rng(seed + 1).standard_normal((2, *batch))
        ((sign * m.tensor(up[0])).sum() + (logabs * m.tensor(up[1])).sum()).backward()
        outs[m] = (sign.detach().numpy(), logabs.detach().numpy(), x.grad.numpy())
    for t, o in zip(outs[torch], outs[tg]):
        np.testing.assert_allclose(o, t, rtol=1e-8, atol=1e-10 * scale ** -n if n else 1e-10)


def test_slogdet_sign_alone_has_no_gradient() -> None:
    """Backward from the sign alone leaves grad None (torch's undefined gradient), also under create_graph."""
    a = np.random.default_rng(0).standard_normal((2, 3, 3))
    for m in (torch, tg):
        x = m.tensor(a, requires_grad=True)
        m.linalg.slogdet(x)[0].sum().backward()
        assert x.grad is None
        x = m.tensor(a, requires_grad=True)
        assert m.autograd.grad(m.linalg.slogdet(x).sign.sum(), x, allow_unused=True, create_graph=True) == (None,)
        x = m.tensor(a, requires_grad=True)
        with m.no_grad():
            assert not m.linalg.slogdet(x)[0].requires_grad


def test_slogdet_sign_double_backward() -> None:
    """d/dx of (sign * logabsdet)'s gradient: as torch's (the sign a constant factor)."""
    a = np.random.default_rng(3).standard_normal((3, 3))
    res = []
    for m in (torch, tg):
        x = m.tensor(a, requires_grad=True)
        s, la = m.linalg.slogdet(x)
        g, = m.autograd.grad(s * la, x, create_graph=True)
        res.append(m.autograd.grad(g.sum(), x)[0].numpy())
    np.testing.assert_allclose(res[1], res[0], rtol=1e-8)


@pytest.mark.parametrize("shape", [(3, 5), (5,), (), (2, 3, 4)])
def test_matrix_power_non_square_raises_runtime_error(shape: tuple[int, ...]) -> None:
    x = np.ones(shape)
    for m in (torch, tg):
        with pytest.raises(RuntimeError):
            m.linalg.matrix_power(m.tensor(x), 2)
        with pytest.raises(RuntimeError):
            m.tensor(x).matrix_power(-1)


ORDS = [0, 1, 2, 3.5, 0.5, -1, float("inf"), -float("inf")]


@settings(max_examples=30, deadline=None)
@given(shape=st.sampled_from([(2, 3), (2, 1, 3), (4,), (), (0, 3)]), ord_=st.sampled_from(ORDS),
       keepdim=st.booleans(), seed=st.integers(0, 2**16), scale=st.sampled_from([1e-200, 1.0, 1e200]))
def test_vector_norm_empty_dim_tuple_is_all_dims(shape: tuple[int, ...], ord_: float, keepdim: bool, seed: int,
                                                 scale: float) -> None:
    """dim=() (or []) reduces over every dim, as torch (it used to reduce over none); values, shapes, gradients."""
    a = np.random.default_rng(seed).standard_normal(shape) * scale
    res = []
    for m in (torch, tg):
        x = m.tensor(a, requires_grad=True)
        try:
            y = m.linalg.vector_norm(x, ord_, dim=(), keepdim=keepdim)
        except RuntimeError:
            res.append(None)
            continue
        if ord_ != 0:
            (y * m.tensor(np.full(tuple(y.shape), 0.7))).sum().backward()
        res.append((y.detach().numpy(), None if x.grad is None else x.grad.numpy()))
    assert (res[0] is None) == (res[1] is None)
    if res[0] is not None:
        for t, o in zip(res[0], res[1]):
            assert (t is None) == (o is None)
            if t is not None:
                assert t.shape == o.shape
                np.testing.assert_allclose(o, t, rtol=1e-8, atol=0)


@pytest.mark.parametrize("dim", [(), [], (0, 1, 2)])
def test_linalg_norm_dim_must_hold_one_or_two(dim: tuple[int, ...]) -> None:
    x = np.ones((2, 3, 2))
    for m in (torch, tg):
        with pytest.raises(RuntimeError):
            m.linalg.norm(m.tensor(x), dim=dim)


@settings(max_examples=25, deadline=None)
@given(shapes=st.sampled_from([((2, 1, 3, 3), (1, 4, 3, 2)), ((1, 3, 3), (4, 3, 2)), ((2, 1, 4, 3), (1, 2, 4, 2)),
                               ((2, 1, 0, 3), (1, 4, 0, 2)), ((2, 1, 3, 0), (1, 4, 3, 2)), ((1, 2, 5, 3), (3, 2, 5, 1)),
                               ((3, 3), (3,)), ((2, 1, 3, 3), (2, 1, 3))]),
       driver=st.sampled_from(["gelsd", "gelss", "gelsy", "gels"]), seed=st.integers(0, 2**16))
def test_lstsq_rank_and_singular_values_keep_a_batch_shape(shapes: tuple[tuple[int, ...], tuple[int, ...]],
                                                           driver: str, seed: int) -> None:
    """With B's batch dims broadcasting A's, rank and singular_values have A's own batch shape (as torch)."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    t = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
    o = tg.linalg.lstsq(tg.tensor(a), tg.tensor(b), driver=driver)
    for x, y in zip(t, o):
        assert tuple(x.shape) == tuple(y.shape) and str(x.dtype).split(".")[-1] == str(y.dtype)
        np.testing.assert_allclose(y.numpy(), x.numpy(), rtol=1e-7, atol=1e-9)
