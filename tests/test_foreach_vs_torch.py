"""Every ``torch._foreach_*`` list op against torch (hypothesis: lists of 1-3 tensors, 0-d and empty ones among them,
extreme values, nan and inf), and against our own single op on each tensor: each foreach op is a loop of that op,
so the two must give the same bits. Values agree with torch exactly for the exact ops and within a few float32 ulps
for the transcendental ones (their kernels round differently; ``tests/test_numerics.py`` holds our ulp bounds).
The existing binary / lerp checks are in ``test_sparse_autoencoder_fixes.py``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam
from tinygrad_adam.ops.foreach import UNARY

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

LIBS = (torch, tinygrad_adam)
F32_MAX = float(np.finfo(np.float32).max)
SPECIAL = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 1e-38, 1e-45, 88.7, -104.0, np.inf, -np.inf, np.nan])
VALUES = st.floats(-F32_MAX, F32_MAX, allow_nan=False, width=32) | st.floats(-30, 30, width=32) | SPECIAL
SHAPES = st.sampled_from([(), (0,), (3,), (2, 3), (1, 0, 2)])
EXACT = {"abs", "ceil", "floor", "frac", "neg", "round", "sign", "trunc", "reciprocal", "add", "sub", "mul", "div",
         "clamp_min", "clamp_max", "maximum", "minimum", "max", "zero_", "copy_", "clone"}
# trigonometric kernels reduce huge arguments differently: compared from the first finite value on below 1e4
TRIG = {"cos", "sin", "tan"}


@st.composite
def float_lists(draw: st.DrawFn, values: st.SearchStrategy[float] = VALUES) -> list[np.ndarray]:
    """1 to 3 float32 arrays, 0-d and empty ones among them."""
    shapes = draw(st.lists(SHAPES, min_size=1, max_size=3))
    return [np.array(draw(st.lists(values, min_size=int(np.prod(s)), max_size=int(np.prod(s)))),
                     dtype=np.float32).reshape(s) for s in shapes]


def as_numpy(t: object) -> np.ndarray:
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def close(got: object, want: object, exact: bool) -> None:
    """Two lists / tuples of tensors: the same container type, dtypes, shapes, nan / inf positions, and values equal
    (``exact``) or within 4 ulps of torch's (and 1e-37 absolute, for results that round to subnormals)."""
    assert type(got) is type(want) and len(got) == len(want)
    for g, w in zip(got, want):
        assert str(g.dtype).removeprefix("torch.") == str(w.dtype).removeprefix("torch.")
        assert tuple(g.shape) == tuple(w.shape)
        g, w = as_numpy(g), as_numpy(w)
        if exact:
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g, w, rtol=4 * np.finfo(np.float32).eps, atol=1e-37)


def run(op: str, arrays: list[np.ndarray], *args: object, in_place: bool = False, **kwargs: object) -> list[object]:
    """``lib._foreach_<op>[_](tensors, *args)`` in both libraries, each argument a function of the library; what
    each returned (the tensors for in-place forms, checked to be the list itself) or the exception's type."""
    results = []
    for lib in LIBS:
        tensors = [lib.tensor(a.copy()) for a in arrays]
        fn = getattr(lib, f"_foreach_{op}{'_' if in_place else ''}")
        try:
            with np.errstate(all="ignore"):
                out = fn(tensors, *(a(lib) for a in args), **{k: v(lib) for k, v in kwargs.items()})
        except (RuntimeError, ValueError, TypeError, NotImplementedError) as e:
            results.append(type(e))
            continue
        if in_place:
            assert isinstance(out, list) and all(o is t for o, t in zip(out, tensors))
        results.append(tensors if in_place else out)
    return results


def agree(results: list[object], exact: bool) -> None:
    want, got = results
    if isinstance(want, type) or isinstance(got, type):
        assert isinstance(want, type) and isinstance(got, type), f"torch: {want}, ours: {got}"
        return
    close(got, list(want) if isinstance(got, list) else tuple(want), exact)


def per_tensor(op: str, arrays: list[np.ndarray], *operands: object) -> list[np.ndarray]:
    """Our single op on each tensor (``operands`` one per tensor): what the list op must equal bit for bit."""
    with np.errstate(all="ignore"):
        return [as_numpy(getattr(tinygrad_adam.tensor(a.copy()), op)(*(o[i] for o in operands)))
                for i, a in enumerate(arrays)]


@settings(max_examples=25, deadline=None)
@pytest.mark.parametrize("op", UNARY)
@given(arrays=float_lists(), in_place=st.booleans())
def test_unary_like_torch(op: str, arrays: list[np.ndarray], in_place: bool) -> None:
    if op in TRIG:
        arrays = [np.where(np.abs(a) < 1e4, a, np.float32(0.5)) for a in arrays]
    if op == "lgamma":  # torch's float32 lgamma overflows from about 4e36 (lgamma(4.04e36) = 3.36e38 is inf there, ours
        arrays = [np.where(np.abs(a) < 1e36, a, np.float32(0.5)) for a in arrays]  # the float64 value rounded)
    results = run(op, arrays, in_place=in_place)
    agree(results, op in EXACT)
    if not isinstance(results[1], type):
        for g, w in zip(results[1], per_tensor(op, arrays)):
            np.testing.assert_array_equal(as_numpy(g), w)


@settings(max_examples=10, deadline=None)
@pytest.mark.parametrize("op", ["sqrt", "abs", "neg", "sign", "sigmoid", "floor", "frac"])
@given(st.lists(st.integers(-5, 5), min_size=0, max_size=4), st.booleans(), st.booleans())
def test_unary_on_integers_and_bools_like_torch(op: str, ints: list[int], as_bool: bool, in_place: bool) -> None:
    """Integer lists: sqrt / sigmoid give float32, in place they cannot (both raise); neg of bool and frac of
    integers raise."""
    array = np.array(ints, dtype=np.bool_ if as_bool else np.int64)
    agree(run(op, [array, array[:1]], in_place=in_place), exact=op != "sigmoid")


def operand(kind: str, arrays: list[np.ndarray], scalars: list[float]) -> object:
    """A function of the library giving the second operand: a number, a 0-d tensor, numbers or tensors."""
    if kind == "number":
        return lambda lib: scalars[0]
    if kind == "0-d":
        return lambda lib: lib.tensor(np.float32(scalars[0]))
    if kind == "numbers":
        return lambda lib: scalars[: len(arrays)]
    return lambda lib: [lib.tensor(np.full(a.shape, s, np.float32)) for a, s in zip(arrays, scalars)]


@settings(max_examples=40, deadline=None)
@pytest.mark.parametrize("op", ["pow", "clamp_min", "clamp_max", "maximum", "minimum"])
@given(arrays=float_lists(), scalars=st.lists(VALUES, min_size=3, max_size=3),
       kind=st.sampled_from(["number", "0-d", "numbers", "tensors"]), in_place=st.booleans())
def test_binary_like_torch(op: str, arrays: list[np.ndarray], scalars: list[float], kind: str,
                           in_place: bool) -> None:
    """The ops beyond add / sub / mul / div; maximum / minimum by a number are clamps, as torch."""
    if op in ("maximum", "minimum") and kind in ("number", "numbers"):
        scalars = [s for s in scalars if not np.isnan(s)] or [0.0]  # torch's Scalar clamp: nan bound is its own case
        scalars = (scalars * 3)[:3]
    results = run(op, arrays, operand(kind, arrays, scalars), in_place=in_place)
    if op != "pow" or kind not in ("number", "numbers") or isinstance(results[0], type):
        agree(results, exact=op != "pow")
        return
    # a float32 base to a number power: torch's scalar loop (a 0-d or short tensor) computes in float64, its vector
    # loop and ours round the exponent to float32 first, which moves x ** e by up to |e ln x| 2^-24 relatively
    # (0.5 ** 88.7: 17 ulps)
    for i, (g, w) in enumerate(zip(results[1], results[0], strict=True)):
        g, w, x = as_numpy(g), as_numpy(w), arrays[i].astype(np.float64)
        e = scalars[0] if kind == "number" else scalars[i]
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
        np.testing.assert_array_equal(g[np.isinf(w)], w[np.isinf(w)])
        with np.errstate(all="ignore"):
            moved = np.nan_to_num(np.abs(e * np.log(np.abs(x))), posinf=0.0) * 2.0 ** -24
            bound = (4 * np.finfo(np.float32).eps + moved) * np.abs(w.astype(np.float64)) + 1e-37
            finite = np.isfinite(w)
            assert (np.abs(g.astype(np.float64) - w)[finite] <= bound[finite]).all(), (x, e, g, w)


@settings(max_examples=30, deadline=None)
@given(arrays=float_lists(st.floats(-30, 30, width=32) | SPECIAL), base=st.floats(-3, 3, width=32) | SPECIAL)
def test_pow_of_a_number_like_torch(arrays: list[np.ndarray], base: float) -> None:
    """``_foreach_pow(number, exponents)``: the number to each tensor's powers."""
    results = []
    for lib in LIBS:
        with np.errstate(all="ignore"):
            results.append(lib._foreach_pow(base, [lib.tensor(a.copy()) for a in arrays]))
    close(results[1], results[0], exact=False)


@settings(max_examples=40, deadline=None)
@pytest.mark.parametrize("op", ["addcmul", "addcdiv"])
@given(arrays=float_lists(), scalars=st.lists(st.floats(-4, 4, width=32) | SPECIAL, min_size=3, max_size=3),
       kind=st.sampled_from(["default", "value", "numbers", "1-d tensor", "too short"]), in_place=st.booleans())
def test_addcmul_addcdiv_like_torch(op: str, arrays: list[np.ndarray], scalars: list[float], kind: str,
                                    in_place: bool) -> None:
    """``t + s * t1 * t2`` / ``t + s * t1 / t2``: the scale a default 1, a ``value=``, a list or a 1-D tensor of
    scalars, one per tensor (the wrong count raises in both)."""
    n = len(arrays) + (1 if kind == "too short" else 0)
    ones = [lambda lib, a=a: lib.tensor(np.flip(a).copy()) for a in arrays]
    first = lambda lib: [f(lib) for f in ones]  # noqa: E731
    second = lambda lib: [lib.tensor(np.full(a.shape, scalars[2], np.float32)) for a in arrays]  # noqa: E731
    extra: dict[str, object] = {}
    args: tuple[object, ...] = (first, second)
    if kind == "value":
        extra = {"value": lambda lib: scalars[0]}
    elif kind in ("numbers", "too short"):
        args += ((lambda lib: (scalars * 2)[:n]),)
    elif kind == "1-d tensor":
        args += ((lambda lib: lib.tensor(np.array(scalars[: len(arrays)], np.float32))),)
    results = run(op, arrays, *args, in_place=in_place, **extra)
    if kind == "too short":
        assert all(isinstance(r, type) for r in results), results
        return
    agree(results, exact=False)


@settings(max_examples=40, deadline=None)
@given(arrays=float_lists(), ord=st.sampled_from([2, 1, 3, 0, 0.5, -1, np.inf, -np.inf, 2.5]),
       dtype=st.sampled_from([None, "float64"]))
def test_norm_and_powsum_like_torch(arrays: list[np.ndarray], ord: float, dtype: str | None) -> None:  # noqa: A002
    """``_foreach_norm``: ``linalg.vector_norm`` of each (inf norms of an empty tensor raise in both);
    ``_foreach_powsum``: sum |t|^ord; both in ``dtype`` when given."""
    kwargs = {} if dtype is None else {"dtype": lambda lib: getattr(lib, dtype)}
    agree(run("norm", arrays, lambda lib: ord, **kwargs), exact=False)
    results = run("powsum", arrays, lambda lib: ord, **kwargs)
    want, got = results
    if not isinstance(want, type):  # torch sums in its own vector order: a few ulps per term of difference
        for g, w in zip(got, want):
            np.testing.assert_allclose(as_numpy(g), as_numpy(w), rtol=1e-5, atol=1e-37)
    else:
        assert isinstance(got, type)


@settings(max_examples=30, deadline=None)
@given(arrays=float_lists())
def test_max_zero_copy_clone_like_torch(arrays: list[np.ndarray]) -> None:
    """``_foreach_max`` (nan wins; an empty tensor raises), ``_foreach_zero_``, ``_foreach_copy_`` from flipped
    copies, ``_foreach_clone``."""
    agree(run("max", arrays), exact=True)
    agree(run("zero", arrays, in_place=True), exact=True)
    agree(run("copy", arrays, lambda lib: [lib.tensor(np.flip(a).copy()) for a in arrays], in_place=True),
          exact=True)
    results = run("clone", arrays)
    agree(results, exact=True)
    tensors = [tinygrad_adam.tensor(a.copy()) for a in arrays]
    copies = tinygrad_adam._foreach_clone(tensors)
    tinygrad_adam._foreach_zero_(tensors)
    for c, a in zip(copies, arrays):  # copies, not views
        np.testing.assert_array_equal(c.numpy(), a)


def test_every_foreach_name_of_torch() -> None:
    """Each ``torch._foreach_*`` function has ours, and each unary one is a loop of the op its name says."""
    names = {n for n in dir(torch) if n.startswith("_foreach_")}
    assert names <= set(dir(tinygrad_adam)), sorted(names - set(dir(tinygrad_adam)))
    x = tinygrad_adam.tensor([0.25, 0.5, 2.0])
    for name in names & {f"_foreach_{op}" for op in dir(x)}:
        if name.removeprefix("_foreach_") in UNARY:
            np.testing.assert_array_equal(getattr(tinygrad_adam, name)([x])[0].numpy(),
                                          getattr(x, name.removeprefix("_foreach_"))().numpy())


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=3))
def test_mm_like_torch(shapes: list[tuple[int, int, int]]) -> None:
    """``_foreach_mm``: a matrix product per pair, empty dimensions among them."""
    rng = np.random.default_rng(0)
    lefts = [rng.standard_normal((n, k)).astype(np.float32) for n, k, _ in shapes]
    rights = [rng.standard_normal((k, m)).astype(np.float32) for _, k, m in shapes]
    want, got = run("mm", lefts, lambda lib: [lib.tensor(r) for r in rights])
    assert type(got) is tuple and len(got) == len(want)
    for g, w in zip(got, want):  # sums of up to 3 products, in BLAS's order: float32 rounding apart
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6, atol=1e-6)


def test_refusals_like_torch() -> None:
    """Empty lists, unequal lengths, a 1-D tensor as the shared operand, integer results into integer tensors."""
    calls = [
        lambda lib: lib._foreach_sqrt([]),
        lambda lib: lib._foreach_addcmul_([lib.ones(2)], [lib.ones(2)], []),
        lambda lib: lib._foreach_copy_([lib.ones(2), lib.ones(2)], [lib.ones(2)]),
        lambda lib: lib._foreach_add([lib.ones(2)], lib.tensor([2.0, 1.0])),
        lambda lib: lib._foreach_sqrt_([lib.arange(3)]),
        lambda lib: lib._foreach_max([lib.ones(0)]),
        lambda lib: lib._foreach_norm([lib.arange(3)]),
        lambda lib: lib._foreach_powsum([lib.arange(3)]),
        lambda lib: lib._foreach_mm([lib.ones(2, 3)], [lib.ones(2, 3)]),
    ]
    for call in calls:
        for lib in LIBS:
            with pytest.raises((RuntimeError, ValueError, TypeError)):
                call(lib)


def hand_written_adam(lib: object, steps: int) -> list[np.ndarray]:
    """A multi-tensor Adam written with foreach ops, as torch's ``_multi_tensor_adam`` is: the moments by
    ``_foreach_lerp_`` / ``_foreach_mul_`` + ``_foreach_addcmul_``, the denominators by ``_foreach_sqrt`` /
    ``_foreach_div_`` / ``_foreach_add_``, the step by ``_foreach_addcdiv_`` with one scale per tensor."""
    rng = np.random.default_rng(1)
    params = [lib.nn.Parameter(lib.tensor(rng.standard_normal(s).astype(np.float32))) for s in ((3, 4), (4,), ())]
    m = [lib.zeros_like(p) for p in params]
    v = [lib.zeros_like(p) for p in params]
    lr, beta1, beta2, eps = 1e-2, 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        loss = sum((p * p).sum() + p.sin().sum() for p in params)
        for p in params:
            p.grad = None
        loss.backward()
        grads = [p.grad for p in params]
        with lib.no_grad():
            lib._foreach_lerp_(m, grads, 1 - beta1)
            lib._foreach_mul_(v, beta2)
            lib._foreach_addcmul_(v, grads, grads, 1 - beta2)
            denom = lib._foreach_sqrt(v)
            lib._foreach_div_(denom, (1 - beta2**t) ** 0.5)
            lib._foreach_add_(denom, eps)
            lib._foreach_addcdiv_(params, m, denom, [-lr / (1 - beta1**t)] * len(params))
    return [p.detach().numpy().copy() for p in params]


def test_hand_written_multi_tensor_adam_like_torch() -> None:
    """Ten steps of the foreach Adam above from the same weights: the parameters agree with torch's to float32
    rounding (measured 1e-7 relative)."""
    for got, want in zip(hand_written_adam(tinygrad_adam, 10), hand_written_adam(torch, 10), strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)


def test_out_of_place_ops_record_the_graph_like_torch() -> None:
    """Out-of-place foreach results are in the graph, as each single op's: the gradient of
    sum(sum(sqrt(p) * 2 + maximum(p, 1))) reaches each parameter as torch's does."""
    grads = []
    for lib in LIBS:
        params = [lib.tensor([0.25, 4.0, 1.0], requires_grad=True), lib.tensor(9.0, requires_grad=True)]
        roots = lib._foreach_mul(lib._foreach_sqrt(params), 2.0)
        tops = lib._foreach_maximum(params, [lib.ones(3), lib.tensor(1.0)])
        sum(r.sum() + s.sum() for r, s in zip(roots, tops)).backward()
        grads.append([p.grad.numpy() for p in params])
    for got, want in zip(grads[1], grads[0], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-7)
