"""Fixes found by sweeping torch's OpInfo samples (plain names m-z, special.*, linalg.*), each against torch."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SETTINGS = settings(max_examples=30, deadline=None)
POLYNOMIALS = ["chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v",
               "chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he", "laguerre_polynomial_l",
               "legendre_polynomial_p", "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u",
               "shifted_chebyshev_polynomial_v", "shifted_chebyshev_polynomial_w"]


def _close(ours: "tg.Tensor", ref: "torch.Tensor", rtol: float = 1e-6, atol: float = 1e-9) -> None:
    assert str(ours.dtype).split(".")[-1] == str(ref.dtype).split(".")[-1]
    a, b = np.asarray(ours.detach().numpy()), ref.detach().numpy()
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.parametrize("name", ["xlogy", "special.xlog1py", "special.zeta", "special.chebyshev_polynomial_t",
                                  "special.hermite_polynomial_he"])
@pytest.mark.parametrize("a, b", [(2, 3), (2.5, 3), (0, 1.0)])
def test_two_numbers_raise_type_error_as_torch(name: str, a: float, b: float) -> None:
    """Two Python numbers once gave a tensor of shape (a,) (the legacy sizes reading): now TypeError, as torch."""
    def get(mod: object) -> object:
        for part in name.split("."):
            mod = getattr(mod, part)
        return mod
    with pytest.raises(TypeError):
        get(torch)(a, b)
    with pytest.raises(TypeError):
        get(tg)(a, b)
    x = [1.0, 2.0]  # a tensor beside a number still works
    _close(get(tg)(tg.tensor(x), b), get(torch)(torch.tensor(x), b), rtol=1e-5)


@pytest.mark.parametrize("name", POLYNOMIALS)
def test_polynomial_degree_outside_int64_is_zero_and_large_degree_is_fast(name: str) -> None:
    """torch converts n to int64: nan, inf and |n| >= 2**63 come out negative (0); a huge n whose recurrence turns
    NaN stops early instead of looping n times."""
    x = np.array([2.0, 0.5, 1.0, -1.0, 0.0, -3.0, 1e-3, 0.25], np.float32)
    for n in [np.nan, np.inf, -np.inf, 2.0 ** 63, 1e20, -1e20, 3.0]:
        _close(getattr(tg.special, name)(tg.tensor(x), tg.tensor(n)),
               getattr(torch.special, name)(torch.tensor(x), torch.tensor(n)), rtol=1e-5, atol=1e-6)
    if name == "laguerre_polynomial_l":  # (its recurrence stays finite for x > 1: torch too loops n times)
        return
    big = np.array([2.0, -3.0, 5.0], np.float64)  # |x| > 1: the recurrence overflows to NaN quickly (without the
    # early stop this call would step 1e8 times, minutes)
    ours = getattr(tg.special, name)(tg.tensor(big), tg.tensor(1e8))
    _close(ours, getattr(torch.special, name)(torch.tensor(big), torch.tensor(1e8)))


@SETTINGS
@given(x=hnp.arrays(np.float64, st.integers(1, 12), elements=st.floats(-3, 3)),
       n=hnp.arrays(np.float64, st.integers(1, 12), elements=st.integers(-2, 90).map(float)),
       name=st.sampled_from(POLYNOMIALS))
def test_polynomials_match_torch_with_early_stop(x: np.ndarray, n: np.ndarray, name: str) -> None:
    """Degrees past the early-stop checks (multiples of 16) give torch's values, NaN entries and all."""
    m = min(len(x), len(n))
    ours = getattr(tg.special, name)(tg.tensor(x[:m]), tg.tensor(n[:m]))
    ref = getattr(torch.special, name)(torch.tensor(x[:m]), torch.tensor(n[:m]))
    a, b = ours.numpy(), ref.numpy()
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9 * np.nanmax(np.abs(np.where(np.isinf(b), 0, b)),
                                                                       initial=1.0), equal_nan=True)


@pytest.mark.parametrize("top", [15, 16, 17, 32])
@pytest.mark.parametrize("name", POLYNOMIALS)
def test_polynomials_whose_highest_degree_is_a_multiple_of_16(name: str, top: int) -> None:
    """The early-stop check runs every 16 steps: a highest degree of exactly 16 or 32 (the last step) must not
    reach it (it raised UnboundLocalError there)."""
    x, n = np.array([-0.7, 0.3, 0.5, 2.5]), np.array([float(top), 3.0, float(top), 1.0])
    a = getattr(tg.special, name)(tg.tensor(x), tg.tensor(n)).numpy()
    b = getattr(torch.special, name)(torch.tensor(x), torch.tensor(n)).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@SETTINGS
@given(dtype=st.sampled_from(["uint8", "int8", "int16", "int32", "int64", "float32", "float64"]),
       shape=st.sampled_from([(), (3,), (2, 4)]), n=st.sampled_from([None, 2, 4]))
def test_linalg_vander_dtype_and_0d_as_torch(dtype: str, shape: tuple, n: int | None) -> None:
    """Integer inputs give int64 (uint8 gave uint64, int32 kept int32 columns before); a 0-d x reads as (1,)."""
    x = np.arange(1, 1 + int(np.prod(shape))).reshape(shape).astype(dtype)
    if shape == () and n is None:
        with pytest.raises(RuntimeError):
            torch.linalg.vander(torch.tensor(x))
        with pytest.raises(ValueError):  # (N would be 1)
            tg.linalg.vander(tg.tensor(x))
        return
    kw = {} if n is None else {"N": n}
    _close(tg.linalg.vander(tg.tensor(x), **kw), torch.linalg.vander(torch.tensor(x), **kw))


@SETTINGS
@given(x=hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 6)),
                    elements=st.one_of(st.floats(-10, 10), st.just(np.nan))),
       q=hnp.arrays(np.float64, st.integers(1, 4), elements=st.floats(0, 1)),
       nan_version=st.booleans(), dim=st.sampled_from([None, 1, 0]), keepdim=st.booleans())
def test_quantile_gradient_reaches_q(x: np.ndarray, q: np.ndarray, nan_version: bool, dim: int | None,
                                     keepdim: bool) -> None:
    """With linear interpolation the result depends on q: its gradient reached x only (q got zeros)."""
    name = "nanquantile" if nan_version else "quantile"
    got = []
    for mod in (torch, tg):
        xt, qt = mod.tensor(x, requires_grad=True), mod.tensor(q, requires_grad=True)
        y = getattr(mod, name)(xt, qt, dim=dim, keepdim=keepdim)
        w = mod.tensor(np.linspace(-1.0, 2.0, int(np.prod(y.shape))).reshape(tuple(y.shape)))
        (y * w).sum().backward()
        got.append([np.asarray(v.detach().numpy()) for v in (y, xt.grad, qt.grad)])
    (y_o, xg_o, qg_o), (y_t, xg_t, qg_t) = got[1], got[0]
    np.testing.assert_allclose(y_o, y_t, rtol=1e-9, atol=1e-9, equal_nan=True)
    axes = None if dim is None else dim
    ordered = np.sort(x, axis=axes)  # (flattened for dim=None)
    ties = (np.diff(ordered, axis=-1 if axes is None else axes) == 0).any() or (np.isnan(x).sum(axis=axes) > 1).any()
    if ties:  # equal values (or NaNs) tie: each sort may put another one where the gradient goes, so compare what
        xg_o, xg_t = xg_o.sum(axis=axes), xg_t.sum(axis=axes)  # each slice gets (README: the index picked among ties)
    np.testing.assert_allclose(xg_o, xg_t, rtol=1e-9, atol=1e-9)
    if nan_version and np.isnan(qg_t).any():  # torch's rank q * (0 - 1) over an all-NaN slice is -0. at q = 0,
        assert (q == 0).any() and np.isnan(x).all(axis=axes).any()  # which its clamp at 0 misses: a NaN gradient
        qg_t = np.where(np.isnan(qg_t), qg_o, qg_t)  # there (0 at any other q); ours is 0 at every q
    np.testing.assert_allclose(qg_o, qg_t, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dtype", ["int32", "int16", "uint8", "bool", "float32"])
def test_prod_and_sum_to_size_of_0d_integer_give_int64(dtype: str) -> None:
    """A 0-d int32 / int16 prod over dim 0 kept its dtype, as did sum_to_size(()) of a 0-d integer or bool."""
    t, r = tg.tensor(3, dtype=getattr(tg, dtype)), torch.tensor(3).to(getattr(torch, dtype))
    _close(tg.prod(t, 0), torch.prod(r, 0))
    _close(t.prod(0, keepdim=True), r.prod(0, keepdim=True))
    _close(t.sum_to_size(()), r.sum_to_size(()))
    _close(tg.tensor([[1, 2]], dtype=getattr(tg, dtype)).sum_to_size((1,)),
           torch.tensor([[1, 2]]).to(getattr(torch, dtype)).sum_to_size((1,)))


def test_sum_to_size_of_0d_float_keeps_gradient() -> None:
    x = tg.tensor(2.0, requires_grad=True)
    (x.sum_to_size(()) * 3).backward()
    assert float(x.grad) == 3.0


@pytest.mark.parametrize("start", [True, 2.0, [2]])
def test_narrow_refuses_a_non_integer_or_non_0d_tensor_start(start: object) -> None:
    """A bool 0-d start read as 1 (int(True)); torch refuses it, as a float or 1-D one."""
    with pytest.raises(RuntimeError):
        torch.narrow(torch.arange(10.0), 0, torch.tensor(start), 3)
    with pytest.raises(TypeError):
        tg.narrow(tg.arange(10.0), 0, tg.tensor(start), 3)
    _close(tg.narrow(tg.arange(10.0), 0, tg.tensor(2), 3), torch.narrow(torch.arange(10.0), 0, torch.tensor(2), 3))
