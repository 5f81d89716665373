"""What the Mixture-of-Experts / Forward-Forward program (``tests/torch_style/moe_ff.py``) met, against torch 2.13.
``cv_squared`` takes ``var()`` of the per-expert importance; with too few elements for the correction (one expert,
or ``correction >= N``) torch returns nan / inf and warns (UserWarning "var(): degrees of freedom is <= 0", also for
``std`` and ``var_mean`` / ``std_mean`` under their own names, and also where the result is empty). Ours returned
the same numbers silently, gave numpy's RuntimeWarning "Mean of empty slice" for an empty input instead, and made
the variance of no elements 0 where the correction is negative (torch: nan). ``F.one_hot`` of int32 / uint8 / bool
class indices (the Switch router's argmax, were it cast) is refused by torch ("only applicable to index tensor of
type LongTensor"); ours computed it.

Mutations (each made the tests below fail, then was reverted):
- ``spread_mean`` without the warning: no UserWarning where torch gives one.
- its condition as ``n - correction < 0``: the N == correction cases stay silent.
- its name as ``op`` whatever the caller: ``var_mean`` warns as "var()".
- its count as ``n`` for an empty input too: (1, 0) over dim 0 at correction 0 stays silent.
- the divisor of an empty reduction as ``max(n - correction, 0)`` again: correction -1 gives 0, not nan.
- the mean as numpy's ``mean`` again: an empty input adds numpy's RuntimeWarning "Mean of empty slice".
- ``one_hot`` accepting any integer dtype again (``t.dtype.kind not in "iu"``): int32 / uint8 compute."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

VALUES = st.floats(allow_nan=True, allow_infinity=True, width=32)


def run(lib: object, make: object) -> tuple[list[tuple[type, str]], object]:
    """(the warnings ``make(lib)`` gave, as (category, the text before the first '.'), and its result or error)."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            out = make(lib)
        except (RuntimeError, TypeError, ValueError) as e:
            out = type(e)
    return [(w.category, str(w.message).split(":")[0]) for w in seen], out  # the op named (each words the rest)


def numbers(out: object) -> object:
    if isinstance(out, tuple):
        return [numbers(o) for o in out]
    return out if isinstance(out, type) else np.asarray(out.detach().numpy(), dtype=np.float64)


@settings(deadline=None, max_examples=120)
@given(shape=st.lists(st.integers(0, 3), max_size=3), data=st.data(),
       correction=st.sampled_from([0, 1, 2, 1.5, -1]),
       form=st.sampled_from(["var", "std", "var_mean", "std_mean", "torch.var"]),
       dtype=st.sampled_from(["float32", "float64"]), keepdim=st.booleans())
def test_var_std_warn_where_the_degrees_of_freedom_run_out_as_torch(shape: list[int], data: st.DataObject,
                                                                     correction: float, form: str, dtype: str,
                                                                     keepdim: bool) -> None:
    x = np.array(data.draw(st.lists(VALUES, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))),
                 dtype=dtype).reshape(shape)
    dim = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1)) if shape else None

    def make(lib: object, a: np.ndarray = x) -> object:
        t = lib.tensor(a)
        if form in ("var", "std"):
            return getattr(t, form)(dim, correction=correction, keepdim=keepdim)
        fn = lib.var if form == "torch.var" else getattr(lib, form)
        return fn(t, dim, correction=correction, keepdim=keepdim)

    (want_w, want), (got_w, got) = run(torch, make), run(tg, make)
    assert got_w == want_w
    if isinstance(want, type):
        assert isinstance(got, type)
    else:
        finite = np.abs(x[np.isfinite(x)])
        scale = float(finite.max()) ** 2 if finite.size else 0.0  # float32 sums of large values round off
        if form.endswith("_mean") and not np.isfinite(x).all():
            # torch's fused var_mean / std_mean (Welford) gives a mean of nan or inf by where an inf stands in the
            # slice ([[0, 0], [inf, 0]]: nan); ours is torch.mean's (inf): only the spread is compared there
            got, want = got[0], want[0]
        got, want = numbers(got), numbers(want)
        if dtype == "float32" and np.isfinite(x).all():  # torch's float32 var of a whole tensor can overflow its
            wide = numbers(make(torch, x.astype(np.float64)))  # own mean ([1.7e38] * 2: inf); ours is the float64
            with np.errstate(over="ignore"):  # var rounded once (README): compared with that where torch's is not
                want = np.where(np.isfinite(want) | ~np.isfinite(np.float32(wide)), want, wide)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize(("shape", "dim", "correction"), [((1, 0), 0, 0), ((0, 3), 1, 0), ((3, 0), 0, -1),
                                                          ((0, 3), 0, -1), ((2, 3), 1, 3), ((2, 3), None, 5.5)])
def test_var_of_empty_and_small_reductions_as_torch(shape: tuple[int, ...], dim: int | None,
                                                    correction: float) -> None:
    """torch's count is numel / out numel, 0 for an empty input whatever the reduced dims' length (so (1, 0) over
    dim 0 warns at correction 0), and an empty reduction is nan even with a negative correction."""
    x = np.arange(float(np.prod(shape)), dtype=np.float32).reshape(shape)
    (want_w, want), (got_w, got) = (run(lib, lambda lib: lib.tensor(x).var(dim, correction=correction))
                                    for lib in (torch, tg))
    assert got_w == want_w
    np.testing.assert_array_equal(numbers(got), numbers(want))


def test_cv_squared_of_one_expert_warns_as_torch() -> None:
    """davidmrau's cv_squared without its one-expert guard: nan, and torch's warning."""
    for lib in (torch, tg):
        said = r"degrees of freedom is <= 0" if lib is torch else "no degrees of freedom are left"
        with pytest.warns(UserWarning, match=r"var\(\): " + said):
            out = lib.tensor([3.0]).float().var() / (lib.tensor([3.0]).float().mean() ** 2 + 1e-10)
        assert np.isnan(out.item())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tg.tensor([3.0, 1.0]).var()  # two elements: no warning


@pytest.mark.parametrize("dtype", ["int64", "int32", "int16", "int8", "uint8", "bool", "float32"])
def test_one_hot_takes_int64_only_as_torch(dtype: str) -> None:
    idx = np.array([1, 0, 1])
    want = run(torch, lambda lib: lib.nn.functional.one_hot(lib.tensor(idx).to(getattr(lib, dtype)), 2))[1]
    got = run(tg, lambda lib: lib.nn.functional.one_hot(lib.tensor(idx).to(getattr(lib, dtype)), 2))[1]
    if dtype == "int64":
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert got.dtype == tg.int64
    else:
        assert want is RuntimeError and issubclass(got, RuntimeError) and issubclass(got, TypeError)
