"""torch's ``out=`` keyword on the top-level functions (tinygrad_adam/out_arg.py), against torch on generated inputs.

For each drawn call, the out tensor's dtype and starting shape are drawn too (empty, the result's shape, another
shape), and the input may require grad. Where torch succeeds, ours must: the same values, dtype and shape in
``out``, ``out`` itself returned, and torch's resize warning exactly when torch gives it. Where torch raises, ours
raises too, or (where torch only insists on an exact out dtype that ours casts to within torch's rules) holds
torch's result without ``out=`` cast to out's dtype.

Mutations run (each failed here): ``_can_cast`` allowing float into int; out's dtype not passed to ``sum``'s
accumulation; the grad check dropped; the resize warning given for empty outs too; ``write_out`` returning the result
instead of ``out``; the creation functions ignoring out's dtype."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

FLOAT, ANY = ("float32", "float64"), ("float32", "float64", "int64")
# name: (the call's arguments from the library, the input x and a second input y of its shape; input dtypes)
CASES: dict[str, tuple[Any, tuple[str, ...]]] = {
    "exp": (lambda L, x, y: (x,), FLOAT), "sqrt": (lambda L, x, y: (x,), FLOAT),
    "sigmoid": (lambda L, x, y: (x,), FLOAT), "tanh": (lambda L, x, y: (x,), FLOAT),
    "floor": (lambda L, x, y: (x,), ANY), "abs": (lambda L, x, y: (x,), ANY), "neg": (lambda L, x, y: (x,), ANY),
    "round": (lambda L, x, y: (x,), FLOAT), "sign": (lambda L, x, y: (x,), ANY),
    "clamp": (lambda L, x, y: (x, -1, 1), ANY), "add": (lambda L, x, y: (x, y), ANY),
    "sub": (lambda L, x, y: (x, y), ANY), "mul": (lambda L, x, y: (x, 2), ANY), "div": (lambda L, x, y: (x, y), ANY),
    "pow": (lambda L, x, y: (x, 2), ANY), "maximum": (lambda L, x, y: (x, y), ANY),
    "atan2": (lambda L, x, y: (x, y), FLOAT), "eq": (lambda L, x, y: (x, y), ANY),
    "lt": (lambda L, x, y: (x, y), ANY), "logical_and": (lambda L, x, y: (x, y), ANY),
    "remainder": (lambda L, x, y: (x, 3), ANY), "where": (lambda L, x, y: (x > 0, x, y), ANY),
    "sum": (lambda L, x, y: (x, -1), ANY), "prod": (lambda L, x, y: (x, -1), ANY),
    "mean": (lambda L, x, y: (x, -1), FLOAT), "cumsum": (lambda L, x, y: (x, -1), ANY),
    "amax": (lambda L, x, y: (x, -1), ANY), "logsumexp": (lambda L, x, y: (x, -1), FLOAT),
    "std": (lambda L, x, y: (x, -1), FLOAT), "softmax": (lambda L, x, y: (x, -1), FLOAT),
    "matmul": (lambda L, x, y: (x, y.mT if y.ndim > 1 else y), ANY), "cat": (lambda L, x, y: ([x, y], -1), ANY),
    "stack": (lambda L, x, y: ([x, y],), ANY), "tril": (lambda L, x, y: (x,), ANY),
    "gather": (lambda L, x, y: (x, -1, L.zeros(x.shape, dtype=L.int64)), ANY),
    "argmax": (lambda L, x, y: (x, -1), ANY), "argmin": (lambda L, x, y: (x, 0, True), ANY),
    "take": (lambda L, x, y: (x, L.zeros(x.shape, dtype=L.int64)), ANY),
}
TUPLES: dict[str, Any] = {  # functions with two results (values, indices): out is a pair
    "max": lambda L, x: (x, -1), "min": lambda L, x: (x, -1), "sort": lambda L, x: (x, -1),
    "topk": lambda L, x: (x, 1), "kthvalue": lambda L, x: (x, 1), "cummax": lambda L, x: (x, -1),
}
OUT_DTYPES = ("float32", "float64", "int64", "bool", "float16")


def values(dtype: str, shape: tuple[int, ...], huge: bool = True) -> st.SearchStrategy[np.ndarray]:
    """Arrays with nan, infs, signed zeros, tiny and (``huge``) 1e30 values among ordinary ones."""
    if dtype == "int64":
        return hnp.arrays(np.int64, shape, elements=st.integers(-5, 5))
    extremes = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, -1e-30, *([1e30] if huge else [])])
    return hnp.arrays(np.dtype(dtype), shape, elements=st.floats(-4, 4, width=32) | extremes)


def attempt(lib: Any, name: str, args: tuple, out: Any) -> tuple[str, Any]:
    """("ok", (values, dtype name, shape, returned-is-out, warned)) or ("raised", the message)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            got = getattr(lib, name)(*args, out=out)
        except Exception as e:  # (which exception torch raises is what we compare)
            return "raised", f"{type(e).__name__}: {e}"
    warned = any("resized" in str(w.message) for w in caught)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    same = got is out if not isinstance(out, (tuple, list)) else all(g is o for g, o in zip(got, out, strict=True))
    return "ok", ([o.detach().numpy().astype(np.float64) for o in outs], [str(o.dtype).split(".")[-1] for o in outs],
                  [tuple(o.shape) for o in outs], same, warned)


def agree(theirs: tuple[str, Any], ours: tuple[str, Any], lenient: Any, name: str = "") -> None:
    if theirs[0] == "ok" and ours[0] == "raised" and name in ("softmax", "empty"):
        # torch's softmax(out=) skips the autograd check, and on an empty input torch runs no kernel, skipping the
        # dtype checks (cumsum into bools) too; ours raises as for any other input
        assert "autograd cannot follow a write into out=" in ours[1] or "not implemented" in ours[1], ours[1]
    elif theirs[0] == "ok":
        assert ours[0] == "ok", ours[1]
        (tv, tdt, tsh, tsame, twarn), (ov, odt, osh, osame, owarn) = theirs[1], ours[1]
        assert (odt, osh, osame, owarn) == (tdt, tsh, tsame, twarn)
        for o, t in zip(ov, tv, strict=True):
            np.testing.assert_allclose(o, t, rtol=2e-3 if "float16" in odt else 2e-6, atol=1e-30, equal_nan=True)
    elif ours[0] == "ok":  # torch wants an exact out dtype here; ours cast torch's own result into out's
        message = theirs[1]
        assert message.startswith("RuntimeError") and "can't be cast" not in message, message
        assert any(k in message for k in ("Found dtype", "Expected", "does not match")) and "type" in message, message
        want = lenient()
        (ov, odt, _, osame, _) = ours[1]
        assert osame
        for o, t in zip(ov, want, strict=True):
            np.testing.assert_allclose(o, t, rtol=2e-3 if "float16" in odt else 2e-6, atol=1e-30, equal_nan=True)


def make_out(lib: Any, dtype: str, start: str, shape: tuple[int, ...]) -> Any:
    size = {"empty": (0,), "result": shape, "other": (2, 1)}[start]
    return lib.ones(size, dtype=getattr(lib, dtype))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(CASES)), shape=st.sampled_from([(3,), (2, 3), (2, 0), (1, 1)]),
       out_dtype=st.sampled_from(OUT_DTYPES), start=st.sampled_from(["empty", "result", "other"]),
       grad=st.booleans(), grad_mode=st.booleans())
def test_out_matches_torch(data: st.DataObject, name: str, shape: tuple[int, ...], out_dtype: str, start: str,
                           grad: bool, grad_mode: bool) -> None:
    make, dtypes = CASES[name]
    dtype = data.draw(st.sampled_from(dtypes))
    if out_dtype == "float16" and name == "prod":  # (torch multiplies halves in float32; numpy rounds each step)
        out_dtype = "float32"
    huge = name != "std"  # (torch's float32 std of three 1e30s is 9e22 of rounding; ours is 0)
    x, y = data.draw(values(dtype, shape, huge)), data.draw(values(dtype, shape, huge))
    grad = grad and dtype != "int64"
    results, expected_shape = [], None
    for lib in (torch, tg):
        a = lib.tensor(x, requires_grad=grad)
        b = lib.tensor(y)
        with lib.set_grad_enabled(grad_mode):
            if expected_shape is None:
                try:
                    with lib.no_grad():
                        expected_shape = tuple(getattr(lib, name)(*make(lib, a, b)).shape)
                except (RuntimeError, IndexError, ValueError):  # (the call itself is invalid: both must raise)
                    expected_shape = (1,)
            out = make_out(lib, out_dtype, start, expected_shape)
            results.append(attempt(lib, name, make(lib, a, b), out))

    def lenient() -> list[np.ndarray]:
        with torch.no_grad():
            r = getattr(torch, name)(*make(torch, torch.tensor(x), torch.tensor(y)))
        return [r.to(getattr(torch, out_dtype)).numpy().astype(np.float64)]
    agree(*results, lenient, "empty" if x.size == 0 else name)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(TUPLES)), dtypes=st.sampled_from(
    [("float32", "int64"), ("float64", "int64"), ("float32", "float32"), ("float64", "int64")]),
       start=st.sampled_from(["empty", "result", "other"]), as_list=st.booleans())
def test_tuple_outs_match_torch(data: st.DataObject, name: str, dtypes: tuple[str, str], start: str,
                                as_list: bool) -> None:
    # distinct values: among ties and nans, which index is picked is each implementation's own choice
    x = data.draw(hnp.arrays(np.float32, (2, 3), elements=st.floats(-1e6, 1e6, width=32), unique=True))
    results = []
    for lib in (torch, tg):
        shape = tuple(getattr(lib, name)(*TUPLES[name](lib, lib.tensor(x)))[0].shape)
        outs = [make_out(lib, dt, start, shape) for dt in dtypes]
        results.append(attempt(lib, name, TUPLES[name](lib, lib.tensor(x)), list(outs) if as_list else tuple(outs)))
    theirs, ours = results
    assert theirs[0] == ours[0], (theirs[1], ours[1])
    if theirs[0] == "ok":
        agree(theirs, ours, None)


@settings(max_examples=60, deadline=None)
@given(call=st.sampled_from([("zeros", ((2, 3),)), ("ones", (3,)), ("full", ((2,), 1.5)), ("arange", (0, 5)),
                             ("arange", (0.5, 3.0, 0.5)), ("linspace", (0, 1, 5)), ("eye", (3,))]),
       out_dtype=st.sampled_from(("float32", "float64", "int64")), start=st.sampled_from(["empty", "other"]))
def test_creation_outs_take_their_dtype(call: tuple[str, tuple], out_dtype: str, start: str) -> None:
    name, args = call
    results = [attempt(lib, name, args, make_out(lib, out_dtype, start, ())) for lib in (torch, tg)]
    assert results[0][0] == results[1][0], results
    if results[0][0] == "ok":
        agree(*results, None)


def test_random_creation_fills_out_in_its_dtype() -> None:
    out = tg.empty(0, dtype=tg.float64)
    assert tg.randn(2, 3, out=out) is out and out.shape == (2, 3) and out.dtype == tg.float64
    ints = tg.empty(4, dtype=tg.int64)
    tg.randint(0, 5, (4,), out=ints)
    assert ints.dtype == tg.int64 and int(ints.min()) >= 0 and int(ints.max()) < 5
    with pytest.raises(RuntimeError, match="disagrees with the out tensor"):
        tg.zeros(2, out=out, dtype=tg.float32)


def test_out_writes_through_views_and_in_place_aliases() -> None:
    base = tg.zeros(2, 3)
    seen = base[0]
    tg.add(tg.ones(3), 1, out=base[0])
    assert base.tolist() == [[2, 2, 2], [0, 0, 0]] and seen.tolist() == [2, 2, 2]
    x = tg.arange(4.0)
    assert tg.cumsum(x, 0, out=x) is x and x.tolist() == [0, 1, 3, 6]
    d = tg.tensor([-9.0, 0.5, 9.0])
    tg.clamp(d, -5, 5, out=d)
    assert d.tolist() == [-5, 0.5, 5]


def test_out_refuses_what_autograd_cannot_follow() -> None:
    w = tg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="autograd cannot follow a write into out="):
        tg.add(tg.ones(2), 1, out=w)
    with tg.no_grad():
        tg.mul(w, 3, out=w)  # the optimizer-style update: allowed without grad
    assert w.tolist() == [3, 3] and w.requires_grad
    with pytest.raises(TypeError, match="argument 'out' must be Tensor"):
        tg.add(tg.ones(2), 1, out=[1.0, 2.0])
    with pytest.raises(TypeError, match="out must be a tuple of 2 tensors"):
        tg.max(tg.ones(2, 2), 1, out=tg.empty(0))


@settings(max_examples=100, deadline=None)
@given(x=values("float32", (7,)), dtype=st.sampled_from(["float16", "float64"]))
def test_mean_in_another_dtype_matches_torch(x: np.ndarray, dtype: str) -> None:
    """torch takes a float32 mean in float32 before casting to float16, but casts to float64 first (until this stop
    ours cast to float16 first: -0.016281 for torch's -0.016205 on [1.2014059, 0.75, -2])."""
    want = torch.mean(torch.tensor(x), 0, dtype=getattr(torch, dtype)).numpy()
    got = tg.mean(tg.tensor(x), 0, dtype=getattr(tg, dtype)).numpy()
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-7, equal_nan=True)


def test_scans_in_bool_raise_as_torch() -> None:
    """torch has no bool cumsum / cumprod kernel (NotImplementedError); ours ran them in int64 and cast, so
    ``cumsum([1, -1, 0], dtype=bool)`` was silently [True, True, True] (as an out=: into a bool out)."""
    for name in ("cumsum", "cumprod"):
        for lib in (torch, tg):
            with pytest.raises(NotImplementedError):
                getattr(lib, name)(lib.tensor([1, -1, 0]), 0, dtype=lib.bool)
            with pytest.raises(NotImplementedError):
                getattr(lib, name)(lib.tensor([1.5, 2.0]), 0, out=lib.empty(0, dtype=lib.bool))


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_reductions_take_out_of_their_dtype(name: str) -> None:
    """argmax / argmin take out= (they refused the keyword), of int64 only, as torch's (no cast into a float out)."""
    for lib in (torch, tg):
        x = lib.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]])
        out = lib.empty(0, dtype=lib.int64)
        assert getattr(lib, name)(x, 1, out=out) is out
        assert out.tolist() == ([1, 0] if name == "argmax" else [0, 1])
        with pytest.raises(RuntimeError, match=r"(?i)expected out tensor to have dtype"):
            getattr(lib, name)(x, 1, out=lib.empty(2))


def test_bernoulli_and_multinomial_outs_as_torch() -> None:
    """bernoulli takes out= (it refused the keyword, as take did), in out's dtype; multinomial's out must be int64,
    as torch's (a float64 out took the indices as floats; both found by a sweep of torch's OpInfo samples)."""
    for lib in (torch, tg):
        out = lib.zeros(2, 3, dtype=lib.float64)
        assert lib.bernoulli(lib.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]), out=out) is out
        assert out.tolist() == [[1, 0, 1], [0, 0, 1]] and out.dtype == lib.float64
        probs = lib.tensor([[0.0, 1.0]], dtype=lib.float64)
        assert lib.multinomial(probs, 1, out=lib.zeros(1, 1, dtype=lib.int64)).tolist() == [[1]]
        with pytest.raises(RuntimeError, match=r"(?i)long|int64"):
            lib.multinomial(probs, 1, out=lib.zeros(1, 1, dtype=lib.float64))
