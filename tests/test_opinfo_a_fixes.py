"""Fixes from sweeping PyTorch's OpInfo samples over the ops named a-l (no dot): addbmm's integer dtype, linspace /
logspace arguments torch refuses, diff with a negative order, gradient(spacing=None), conj_physical_."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as ta

torch = pytest.importorskip("torch", reason="the oracle for these comparisons is PyTorch")

INT_DTYPES = ["uint8", "int8", "int16", "int32", "int64"]


@settings(max_examples=25, deadline=None)
@given(dtype=st.sampled_from(INT_DTYPES), b=st.integers(1, 4), n=st.integers(1, 3), k=st.integers(1, 3),
       m=st.integers(1, 3), seed=st.integers(0, 2**16), beta=st.integers(0, 3), alpha=st.integers(0, 3),
       self_shape=st.sampled_from(["full", "row", "scalar"]))
def test_addbmm_keeps_integer_dtype_and_wraps_as_torch(dtype: str, b: int, n: int, k: int, m: int, seed: int,
                                                       beta: int, alpha: int, self_shape: str) -> None:
    """addbmm of integer tensors stays in their dtype (the batch sum must not widen to int64 / uint64), wrapping on
    overflow as torch's does."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    draw = lambda *shape: rng.integers(info.min, int(info.max) + 1, size=shape, dtype=dtype)  # noqa: E731
    shape = {"full": (n, m), "row": (m,), "scalar": ()}[self_shape]
    s, b1, b2 = draw(*shape), draw(b, n, k), draw(b, k, m)
    want = torch.addbmm(torch.tensor(s), torch.tensor(b1), torch.tensor(b2), beta=beta, alpha=alpha)
    got = ta.addbmm(ta.tensor(s), ta.tensor(b1), ta.tensor(b2), beta=beta, alpha=alpha)
    assert str(got.dtype) == str(want.dtype).replace("torch.", "")
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    method = ta.tensor(s).addbmm(ta.tensor(b1), ta.tensor(b2), beta=beta, alpha=alpha)
    assert method.dtype == got.dtype


def test_addbmm_float_still_differentiable() -> None:
    """The dtype fix leaves floating addbmm and its gradients as torch's."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in ((2, 4), (3, 2, 5), (3, 5, 4))]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    oo = [ta.tensor(a, requires_grad=True) for a in arrays]
    torch.addbmm(*tt, beta=0.5, alpha=2.0).sum().backward()
    out = ta.addbmm(*oo, beta=0.5, alpha=2.0)
    assert out.dtype == ta.float32
    out.sum().backward()
    for t, o in zip(tt, oo):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["linspace", "logspace"])
@pytest.mark.parametrize("steps", [1.0, 2.5, 3.0])
def test_span_float_steps_raise_type_error(name: str, steps: float) -> None:
    """A float steps is refused (torch's parser: TypeError), not truncated or rounded into a count."""
    with pytest.raises(TypeError):
        getattr(torch, name)(0, 3, steps)
    with pytest.raises(TypeError):
        getattr(ta, name)(0, 3, steps)


@pytest.mark.parametrize("name", ["linspace", "logspace"])
@pytest.mark.parametrize("steps", [1, 3])
def test_span_bounds_must_be_0d(name: str, steps: int) -> None:
    """Start and end of more than one element raise (torch: RuntimeError; shape errors here are ValueError)."""
    with pytest.raises(RuntimeError):
        getattr(torch, name)(torch.tensor([1, 1]), torch.tensor([3, 3]), steps)
    with pytest.raises(ValueError):
        getattr(ta, name)(ta.tensor([1, 1]), ta.tensor([3, 3]), steps)


@pytest.mark.parametrize("name", ["linspace", "logspace"])
@pytest.mark.parametrize("steps", [np.int64(4), "tensor", 0, 1, 5])
def test_span_integer_steps_match_torch(name: str, steps: object) -> None:
    """Integer-like steps (a numpy integer, a 0-d integer tensor) and 0-d bounds still work, as torch's."""
    t_steps = torch.tensor(4) if isinstance(steps, str) else steps
    o_steps = ta.tensor(4) if isinstance(steps, str) else steps
    want = getattr(torch, name)(torch.tensor(1.0), torch.tensor(3.0), t_steps)
    got = getattr(ta, name)(ta.tensor(1.0), ta.tensor(3.0), o_steps)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", ["linspace", "logspace"])
def test_span_negative_steps_raise(name: str) -> None:
    with pytest.raises(RuntimeError):
        getattr(torch, name)(0, 3, -1)
    with pytest.raises(ValueError):
        getattr(ta, name)(0, 3, -1)


@pytest.mark.parametrize("n", [-1, -3])
def test_diff_negative_order_raises(n: int) -> None:
    """torch refuses a negative order (RuntimeError); ours raised nothing and returned the input's copy."""
    x = np.array([[0.5, 2.0, -1.0]], dtype=np.float32)
    with pytest.raises(RuntimeError):
        torch.diff(torch.tensor(x), n)
    with pytest.raises(ValueError):
        ta.diff(ta.tensor(x), n)
    with pytest.raises(ValueError):
        ta.tensor(x).diff(n)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_diff_non_negative_orders_still_match(n: int) -> None:
    x = np.array([[0.5, 2.0, -1.0, 4.0]], dtype=np.float32)
    np.testing.assert_array_equal(ta.diff(ta.tensor(x), n).numpy(), torch.diff(torch.tensor(x), n).numpy())


@settings(max_examples=20, deadline=None)
@given(shape=st.sampled_from([(5,), (4, 3), (3, 4, 3)]), edge_order=st.sampled_from([1, 2]),
       seed=st.integers(0, 2**16), with_dim=st.booleans())
def test_gradient_spacing_none_is_unit_spacing(shape: tuple, edge_order: int, seed: int, with_dim: bool) -> None:
    """spacing=None (and dim=None) given explicitly are the defaults, as torch's."""
    x = np.random.default_rng(seed).standard_normal(shape)
    dim = 0 if with_dim else None  # (torch refuses spacing=None with a tuple of dims)
    want = torch.gradient(torch.tensor(x), spacing=None, dim=dim, edge_order=edge_order)
    got = ta.gradient(ta.tensor(x), spacing=None, dim=dim, edge_order=edge_order)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-12, atol=1e-12)


def test_conj_physical_in_place_is_identity() -> None:
    """On real tensors conj_physical_ changes nothing and returns the tensor itself, as torch's."""
    x = torch.tensor([1.0, -2.0])
    assert x.conj_physical_() is x and torch.conj_physical_(x) is x
    y = ta.tensor([1.0, -2.0])
    assert y.conj_physical_() is y and ta.conj_physical_(y) is y
    np.testing.assert_array_equal(y.numpy(), x.numpy())


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.floats(-12, 12, width=16), min_size=1, max_size=40))
def test_float16_trigamma_and_digamma_gradient_match_torch(values: list) -> None:
    """polygamma(1, x) for float16 x (and so digamma's gradient) computes in float32 and rounds once, as torch's CPU
    kernel: in float16 arithmetic its series drifted by up to ~15 float16 units (x = -4.324: 13.52, torch 13.414)."""
    x = np.array(values + [-4.324, 0.01, -2.4], dtype=np.float16)
    want = torch.polygamma(1, torch.tensor(x)).numpy()
    got = ta.polygamma(1, ta.tensor(x)).numpy()
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, want)
    tx, ox = torch.tensor(x, requires_grad=True), ta.tensor(x, requires_grad=True)
    torch.digamma(tx).sum().backward()
    ta.digamma(ox).sum().backward()
    np.testing.assert_array_equal(ox.grad.numpy(), tx.grad.numpy())


LOGIT_X = [0.1, 0.5, 0.55, 0.6, 0.7, float("nan"), -1.0, 2.0, 0.0, 1.0, -0.1, 1.1, 0.05, 0.95, -0.0]  # (-0.0: g inf)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("eps", [None, 0.0, 1e-6, 0.3, 0.5, 0.6, 0.9, 1.5, -0.2, -1.0])
def test_logit_values_and_gradients_match_torch(dtype: str, eps: float | None) -> None:
    """logit with eps above 0.5 (crossed bounds: below eps -> eps first, as torch's kernel), a negative eps (none, in
    torch's first-order gradient: nan outside [0, 1]) and a nan input (nan gradient with an eps, not 0)."""
    x = np.array(LOGIT_X, dtype=dtype)
    tx, ox = torch.tensor(x, requires_grad=True), ta.tensor(x, requires_grad=True)
    want, got = torch.logit(tx, eps), ta.logit(ox, eps)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(ox.logit(eps).detach().numpy(), want.detach().numpy(), rtol=1e-6, equal_nan=True)
    want.sum().backward()
    got.sum().backward()
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-6, equal_nan=True)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (numpy's, from mul / div backward at x = 0 / 1)
@pytest.mark.parametrize("eps", [None, 0.3, 0.6, -0.2])
def test_logit_double_backward_still_matches_torch(eps: float | None) -> None:
    """With create_graph torch uses another formula (0 at a nan x with an eps; a negative eps bounds the range):
    the first-order fix leaves that path as torch's."""
    x = np.array(LOGIT_X)
    tx, ox = torch.tensor(x, requires_grad=True), ta.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(torch.logit(tx, eps).sum(), tx, create_graph=True)
    (h,) = ta.autograd.grad(ta.logit(ox, eps).sum(), ox, create_graph=True)
    np.testing.assert_allclose(h.detach().numpy(), g.detach().numpy(), rtol=1e-9, equal_nan=True)
    (gg,) = torch.autograd.grad(g.sum(), tx)
    (hh,) = ta.autograd.grad(h.sum(), ox)
    np.testing.assert_allclose(hh.numpy(), gg.numpy(), rtol=1e-9, equal_nan=True)


@pytest.mark.parametrize("self_dtype", ["float32", "int64"])
@pytest.mark.parametrize(("t1_dtype", "t2_dtype"), [("int64", "int64"), ("int32", "bool"), ("bool", "bool"),
                                                    ("float32", "int64"), ("int64", "float64")])
def test_addcdiv_refuses_integer_division_whatever_self_is(self_dtype: str, t1_dtype: str, t2_dtype: str) -> None:
    """torch refuses addcdiv when tensor1 and tensor2 are both integer (or bool), even into a float self; ours
    divided them as floats and returned a value."""
    s, t1, t2 = np.array([1, 2], self_dtype), np.array([3, 4], t1_dtype), np.array([2, 1], t2_dtype)
    try:
        want = torch.addcdiv(torch.tensor(s), torch.tensor(t1), torch.tensor(t2), value=2)
    except RuntimeError:
        with pytest.raises(TypeError):
            ta.addcdiv(ta.tensor(s), ta.tensor(t1), ta.tensor(t2), value=2)
        with pytest.raises(TypeError):
            ta.tensor(s).addcdiv(ta.tensor(t1), ta.tensor(t2), value=2)
        return
    got = ta.addcdiv(ta.tensor(s), ta.tensor(t1), ta.tensor(t2), value=2)
    assert str(got.dtype) == str(want.dtype).replace("torch.", "")
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


@pytest.mark.filterwarnings("ignore:torch.lu is deprecated")
@pytest.mark.parametrize("matrix", [np.zeros((2, 2)), np.array([[1.0, 2.0], [2.0, 4.0]]), np.zeros((3, 2, 2)),
                                    np.array([[[4.0, 1.0], [1.0, 3.0]], [[1.0, 2.0], [2.0, 4.0]]])])
def test_deprecated_lu_factors_singular_matrices(matrix: np.ndarray) -> None:
    """torch.lu (deprecated) returns (LU, pivots) of a singular matrix without raising (its get_infos=False path
    checks nothing); ours raised LinAlgError, and so did lu_unpack / lu_solve chains built on it."""
    want = torch.lu(torch.tensor(matrix))
    got = ta.lu(ta.tensor(matrix))
    assert len(got) == len(want) == 2
    for g, w in zip(got, want):
        assert str(g.dtype) == str(w.dtype).replace("torch.", "")
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-12)
    for g, w in zip(ta.lu_unpack(*got), torch.lu_unpack(*want)):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-12)
    info = ta.lu(ta.tensor(matrix), get_infos=True)[2]
    np.testing.assert_array_equal(info.numpy(), torch.lu(torch.tensor(matrix), get_infos=True)[2].numpy())


ADDR_DTYPES = ["float16", "float32", "float64", "int32", "int64", "uint8"]


@settings(max_examples=40, deadline=None)
@given(dtypes=st.tuples(*[st.sampled_from(ADDR_DTYPES)] * 3), scaled=st.booleans(), in_place=st.booleans())
def test_addr_promotes_mixed_dtypes_as_torch(dtypes: tuple, scaled: bool, in_place: bool) -> None:
    """torch's addr promotes self, vec1 and vec2 to one dtype (the other add-products refuse a mix); ours refused
    the mix. In place, the promoted result is cast into self where torch allows it."""
    s, v1, v2 = (np.array(v).astype(d) for v, d in zip(([[0, 1], [2, 3]], [1, 2], [3, 1]), dtypes))
    kw = {"beta": 2, "alpha": 3} if scaled else {}
    lt, lo = (torch.tensor(s), torch.tensor(v1), torch.tensor(v2)), (ta.tensor(s), ta.tensor(v1), ta.tensor(v2))
    call = (lambda t: t[0].addr_(t[1], t[2], **kw)) if in_place else (lambda t: torch.addr(*t, **kw))
    try:
        want = call(lt)
    except RuntimeError:  # (an in-place float result into an integer self)
        with pytest.raises((RuntimeError, TypeError)):
            lo[0].addr_(lo[1], lo[2], **kw)
        return
    got = lo[0].addr_(lo[1], lo[2], **kw) if in_place else ta.addr(*lo, **kw)
    assert str(got.dtype) == str(want.dtype).replace("torch.", "")
    np.testing.assert_allclose(got.numpy().astype(float), want.numpy().astype(float), rtol=1e-3)


def test_addr_mixed_float_gradients() -> None:
    tt = [torch.tensor(np.ones((2, 3), np.float32), requires_grad=True),
          torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True),
          torch.tensor([0.5, -1.0, 3.0], dtype=torch.float64, requires_grad=True)]
    oo = [ta.tensor(t.detach().numpy(), requires_grad=True) for t in tt]
    torch.addr(*tt, beta=0.5, alpha=2.0).sum().backward()
    out = ta.addr(*oo, beta=0.5, alpha=2.0)
    assert out.dtype == ta.float64
    out.sum().backward()
    for t, o in zip(tt, oo):
        assert str(o.grad.dtype) == str(t.grad.dtype).replace("torch.", "")
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-12)
