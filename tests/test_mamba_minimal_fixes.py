"""What the mamba-minimal program (``tests/torch_style/mamba_minimal.py``) met, against torch 2.13: its
``x_and_res.split(split_size=[d_inner, d_inner], dim=-1)``. torch's method names the argument ``split_size`` and
``torch.split`` names it ``split_size_or_sections`` (with ``tensor`` for the input); ours took
``split_size_or_sections`` in both, so the program's keyword raised TypeError. Each name is now taken where torch
takes it and refused (TypeError) where torch refuses it; neither takes ``axis=``.

And the program in float64 (``model.double()``; half models alike): its ``A = -torch.exp(self.A_log.float())`` meets
float64 ``delta`` in ``einsum('bld,dn->bldn', delta, A)``. torch's einsum multiplies a pair of operands that sums
no letter both hold (other than size 1) with ``*``, which promotes (float64 here), and refuses two dtypes only where
the pair is contracted by bmm; ours refused any two dtypes (TypeError). Floating operands of two dtypes are now
promoted where torch multiplies them (the gradient back in each operand's dtype), and refused where torch
contracts them; integer and bool ones still must share a dtype, and an empty contraction of two dtypes, which torch
computes, raises (as matmul's, README). A half model's cast of a large float (``x.half()``, ``.to(float16)``), and
the cast of its gradient back, gave numpy's "overflow encountered in cast" RuntimeWarning; torch casts to inf
silently, and so does ours now.

Mutations (each makes a test here fail):
- the method's parameter named ``split_size_or_sections`` again (and ``torch.split`` built from the method).
- ``torch.split``'s parameter named ``split_size``.
- ``split_function`` left out of ``_NO_AXIS_ALIAS`` (``torch.split(x, 2, axis=0)`` then works where torch refuses).
- einsum refusing floating operands of two dtypes again (``mixed and not all(...)`` -> ``mixed``).
- ``_promoted_product`` not refusing a contraction (``if any(...)`` -> ``if False``).
- ``_promoted_product`` casting to the first operand's dtype instead of the promoted one.
- ``elementwise.astype``'s forward cast, or its backward cast, outside ``ignore_fp_errors``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

VALUES = [0.0, -0.0, 1.5, -3e38, np.nan, np.inf, -np.inf, 1e-45]


@st.composite
def splits(draw: st.DrawFn) -> tuple[np.ndarray, int | list[int], int]:
    """An array of 1-3 dims (a dim may be empty), a dim of it, and a split size or a list of sizes adding up."""
    shape = draw(st.lists(st.integers(0, 5), min_size=1, max_size=3))
    x = np.array(draw(st.lists(st.sampled_from(VALUES), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))),
                 dtype=np.float32).reshape(shape)
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    if draw(st.booleans()):
        return x, draw(st.integers(1, n + 1)), dim
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    return x, [b - a for a, b in zip([0, *cuts], [*cuts, n], strict=True)], dim


def same(ours: tuple, theirs: tuple) -> None:
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs, strict=True):
        assert tuple(o.shape) == tuple(t.shape)
        np.testing.assert_array_equal(o.numpy(), t.numpy())


@settings(deadline=None, max_examples=60)
@given(splits())
def test_split_takes_torchs_keyword_names(case: tuple[np.ndarray, int | list[int], int]) -> None:
    x, sizes, dim = case
    o, t = tg.tensor(x), torch.tensor(x)
    same(o.split(split_size=sizes, dim=dim), t.split(split_size=sizes, dim=dim))
    same(tg.split(o, split_size_or_sections=sizes, dim=dim), torch.split(t, split_size_or_sections=sizes, dim=dim))
    same(tg.split(tensor=o, split_size_or_sections=sizes, dim=dim),
         torch.split(tensor=t, split_size_or_sections=sizes, dim=dim))
    same(o.split(sizes, dim), t.split(sizes, dim))


@pytest.mark.parametrize("call", [
    lambda lib, x: x.split(split_size_or_sections=[1, 2]),
    lambda lib, x: lib.split(x, split_size=[1, 2]),
    lambda lib, x: lib.split(x, 1, axis=0),
    lambda lib, x: x.split(1, axis=0),
])
def test_split_refuses_the_other_names_as_torch(call) -> None:
    for lib in (torch, tg):
        with pytest.raises(TypeError, match="unexpected keyword argument"):
            call(lib, lib.zeros(3))


def test_split_keeps_the_gradient() -> None:
    grads = []
    for lib in (torch, tg):
        x = lib.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
        a, b = x.split(split_size=[1, 2], dim=-1)
        (a * 2 + b.sum(-1, keepdim=True)).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(grads[1], grads[0])


EINSUMS = ["bld,dn->bldn", "bld,bln,bld->bldn", "bdn,bn->bd", "ij,j->ij", "i,j->ij", "ij,ij->i", "ij,kj->ikj",
           "ij,k->ik", "ii,i->i", "ij,jk,k->ik", "ij,jk->ik", "i,i->"]
FLOATS = ("float16", "float32", "float64")


@settings(deadline=None, max_examples=80)
@given(st.sampled_from(EINSUMS), st.lists(st.sampled_from(FLOATS), min_size=3, max_size=3),
       st.dictionaries(st.sampled_from("bdijkln"), st.integers(1, 3)), st.integers(0, 2**32 - 1))
def test_einsum_of_two_float_dtypes_as_torch(equation: str, dtypes: list[str], sizes: dict[str, int],
                                             seed: int) -> None:
    """Where torch multiplies, ours promotes (values, dtype, gradients); where torch contracts two dtypes, both
    refuse. Sizes of 1 (no contraction in torch) and values with inf, NaN, -0 and float16 overflow included."""
    subs = equation.split("->")[0].split(",")
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore"):  # 7e4 is inf in float16
        arrays = [np.where(rng.random(shape := tuple(sizes.get(c, 2) for c in s)) < 0.2,
                           rng.choice([np.inf, -np.inf, np.nan, -0.0, 7e4], shape), rng.standard_normal(shape)
                           ).astype(d) for s, d in zip(subs, dtypes, strict=False)]
    results = []
    for lib in (torch, tg):
        operands = [lib.tensor(a, requires_grad=True) for a in arrays]
        try:
            out = lib.einsum(equation, *operands)
        except (RuntimeError, TypeError) as e:
            results.append(e)
            continue
        weights = np.random.default_rng(seed + 1).standard_normal(tuple(out.shape))
        (out * lib.tensor(weights.astype(str(out.dtype).split(".")[-1]))).sum().backward()
        results.append((out.detach().numpy(), [o.grad.numpy() for o in operands]))
    theirs, ours = results
    assert isinstance(ours, TypeError) == isinstance(theirs, RuntimeError), (theirs, ours)
    if isinstance(ours, TypeError):
        assert "share a dtype" in str(ours)
        return
    tol = {"rtol": 5e-3 if "float16" in dtypes else 1e-6, "atol": 1e-6}  # float16: a few of its ulps
    assert ours[0].dtype == theirs[0].dtype
    np.testing.assert_allclose(ours[0], theirs[0], **tol)
    if "float16" in dtypes:  # a float16 gradient sums terms that can cancel, each library in its order: 0.57% apart
        tol["rtol"] = 2e-2  # in a local hypothesis run (bld,dn->bldn, seed 8191)
    for got, want in zip(ours[1], theirs[1], strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, **tol)


def test_mamba_scan_einsums_in_float64_as_torch() -> None:
    """The program's discretisation with a float32 A in a float64 model: float64 results, float32 A gradient."""
    rng = np.random.default_rng(0)
    delta, b, u = (rng.random((2, 3, 4)), rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 3, 4)))
    a = -np.exp(rng.standard_normal((4, 5))).astype(np.float32)
    got = []
    for lib in (torch, tg):
        ts = [lib.tensor(v, requires_grad=True) for v in (delta, a, b, u)]
        delta_a = lib.exp(lib.einsum("bld,dn->bldn", ts[0], ts[1]))
        delta_b_u = lib.einsum("bld,bln,bld->bldn", ts[0], ts[2], ts[3])
        (delta_a * delta_b_u).sum().backward()
        got.append([delta_a.detach().numpy(), delta_b_u.detach().numpy()] + [t.grad.numpy() for t in ts])
    for o, t in zip(got[1], got[0], strict=True):
        assert o.dtype == t.dtype
        np.testing.assert_allclose(o, t, rtol=1e-6)
    assert got[1][0].dtype == np.float64 and got[1][3].dtype == np.float32


def test_empty_contraction_of_two_dtypes_raises() -> None:
    """torch computes it (bmm skips its dtype check for empty operands); ours refuses, as matmul (README)."""
    assert torch.einsum("ij,jk->ik", torch.ones(2, 0, dtype=torch.float16), torch.ones(0, 3)).shape == (2, 3)
    with pytest.raises(TypeError, match="share a dtype where 'ij,jk->ik' contracts"):
        tg.einsum("ij,jk->ik", tg.ones(2, 0, dtype=tg.float16), tg.ones(0, 3))


@settings(deadline=None, max_examples=40)
@given(st.lists(st.sampled_from([*VALUES, 1e10, -7e4, 65504.0, 65520.0, 3.5e38]), min_size=0, max_size=6),
       st.sampled_from(["float64", "float32"]), st.sampled_from(["half", "float", "to16"]),
       st.sampled_from([1.0, 1e10, -1e39]))
def test_float_casts_overflow_to_inf_silently_as_torch(values: list[float], source: str, cast: str,
                                                       upstream: float) -> None:
    got = []
    for lib in (torch, tg):
        with np.errstate(over="ignore"):
            x = lib.tensor(np.array(values, dtype=source), requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch does not warn; numpy's cast would
            y = x.half() if cast == "half" else x.float() if cast == "float" else x.to(lib.float16)
            z = y.double().mul(upstream)
        total = z.sum()  # (inf - inf in a sum is silent by the package's warnings filter, which "error" overrides)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            total.backward()
        got.append((y.detach().numpy(), x.grad.numpy()))
    for o, t in zip(got[1], got[0], strict=True):
        assert o.dtype == t.dtype
        np.testing.assert_array_equal(o, t)
