"""Fixes found porting custom optimizers (Lion, Adan, Lamb, SophiaG) to our ``torch._foreach_*`` ops, against torch:

- a 0-d tensor as the shared operand of ``_foreach_add`` (without alpha), ``_sub``, ``_pow``, ``_maximum``,
  ``_minimum``, ``_clamp_min`` / ``_clamp_max`` is the Number it holds, as torch's argument parser reads it: a 0-d
  list element keeps its dtype (ours promoted it, float32 + a float64 0-d tensor gave float64, and an int64 element
  plus ``tensor(1.5, dtype=float64)`` float64 for torch's float32: silently); ``_mul`` / ``_div`` and ``_add`` with
  alpha keep tensor promotion; a 0-d tensor that requires grad raises where only the Number overload exists;
- ``alpha=`` is taken only by ``_foreach_add`` / ``_sub`` with a tensor list and ``_add`` with a 0-d tensor: ours
  applied it to a Number or a list of numbers (``_foreach_add(ts, 2, alpha=3)`` added 6) where torch raises;
- ``_foreach_lerp`` / ``_foreach_lerp_`` read a 0-d weight without grad as its Number too (ours took the tensor-weight
  lerp: float16 results differed in 1361 of 3000 elements, silently); one with grad, or 1-d, raises TypeError;
- in-place ``_foreach_mul_`` by a number or a list of numbers rounds the number to float16 for a float16 tensor first,
  as torch's does (unlike its ``_foreach_mul`` and ``mul_``): ``0.9999`` is 1 and ``1e5`` inf (0 * it nan); ours
  multiplied by the float32 number (528 of 3000 float16 products differed, silently);
- ``Optimizer.__setstate__`` exists, so a subclass's ``__setstate__`` calling ``super().__setstate__(state)``
  (Adan's, SophiaG's) unpickles and deep-copies (ours raised AttributeError)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

LIBS = (torch, tinygrad_adam)
OPS = ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "clamp_min", "clamp_max")
DTYPES = ("float32", "float64", "int64", "bool", "float16")
VALUES = st.sampled_from([0.0, -0.0, 1.0, -2.0, 0.5, 3.0, 1e-38, 1e-45, 3e38, float("inf"), float("-inf"),
                          float("nan")]) | st.floats(-10, 10)


@st.composite
def lists(draw: st.DrawFn) -> list[tuple[np.ndarray, str]]:
    """1 to 3 arrays with their dtype names, 0-d and empty ones among them."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        shape = draw(st.sampled_from([(), (), (0,), (3,), (2, 2)]))
        dtype = draw(st.sampled_from(DTYPES[:3]))
        values = draw(st.lists(st.floats(-5, 5, width=32), min_size=int(np.prod(shape)),
                               max_size=int(np.prod(shape))))
        out.append((np.array(values).reshape(shape), dtype))
    return out


def outcome(fn: object) -> object:
    """``fn()``'s tensors as (dtype, values) pairs, or the exception's type (TypeError / RuntimeError)."""
    try:
        got = fn()
    except (TypeError, RuntimeError) as e:
        return type(e) if isinstance(e, TypeError) else RuntimeError
    return [(str(t.dtype).removeprefix("torch."), t.detach().numpy().astype(np.float64)) for t in got]


def call(fn: object, ts: list, other: object, in_place: bool, **kwargs: object) -> object:
    """``fn(ts, other, **kwargs)``: the list itself for an in-place op, else what it returned."""
    out = fn(ts, other, **kwargs)
    return ts if in_place else out


def same(got: object, want: object) -> None:
    if not isinstance(want, list):
        assert got == want
        return
    assert isinstance(got, list) and len(got) == len(want)
    for (gd, gv), (wd, wv) in zip(got, want, strict=True):
        assert gd == wd
        # (float32: 4 ulps, torch's pow by a number in its scalar tail loop rounds from double: README's "x ** number";
        # 2 ** 8.151787 is 3 ulps apart: 284.402008 here, 284.401917 in torch)
        np.testing.assert_allclose(gv, wv, rtol=5e-7 if gd != "float16" else 1e-3, atol=0, equal_nan=True)


@settings(max_examples=120, deadline=None)
@given(lists(), st.sampled_from(OPS), st.booleans(), VALUES, st.sampled_from(DTYPES))
def test_zero_dim_tensor_operand_is_torchs_number(arrays: list, op: str, in_place: bool, value: float,
                                                  dtype: str) -> None:
    """``_foreach_<op>[_](tensors, 0-d tensor)``: torch's result dtypes and values (or its error), in-place and
    not, over float / int lists with 0-d and empty members and 0-d operands of five dtypes."""
    if dtype == "int64":
        value = float(int(np.clip(value, -1e6, 1e6))) if np.isfinite(value) else 2.0
    if dtype == "bool":
        value = bool(value)
    if op == "pow" and value and not np.float32(value) and any(d in ("float32", "float16") for _, d in arrays):
        return  # README's "x ** number": the exponent is rounded to float32 here, as in torch's vector loop (1e-224
        # becomes 0, so 0 ** it is 1); torch's scalar loop keeps it in float64 there (0 ** 1e-224 is 0)
    results = []
    for lib in LIBS:
        ts = [lib.tensor(a, dtype=getattr(lib, d)) for a, d in arrays]
        other = lib.tensor(value, dtype=getattr(lib, dtype))
        fn = getattr(lib, f"_foreach_{op}{'_' if in_place else ''}")
        results.append(outcome(lambda fn=fn, ts=ts, other=other: call(fn, ts, other, in_place)))
    if isinstance(results[0], type) and isinstance(results[1], type):  # both refuse; subtracting a bool is torch's
        return  # RuntimeError and ours TypeError (README: dtype refusals are TypeErrors here)
    same(results[1], results[0])


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("kind", ["number", "numbers", "zero_dim", "tensors"])
def test_alpha_only_where_torch_takes_it(op: str, in_place: bool, kind: str) -> None:
    """``alpha=``: torch's result, or its TypeError, for each operand kind."""
    results = []
    for lib in LIBS:
        ts = [lib.tensor([1.0, 2.0]), lib.tensor(3.0)]
        other = {"number": 2.0, "numbers": [2.0, 3.0], "zero_dim": lib.tensor(0.25),
                 "tensors": [lib.tensor([0.5, 1.0]), lib.tensor(0.75)]}[kind]
        fn = getattr(lib, f"_foreach_{op}{'_' if in_place else ''}")
        results.append(outcome(lambda fn=fn, ts=ts, other=other: call(fn, ts, other, in_place, alpha=2)))
    same(results[1], results[0])


@pytest.mark.parametrize("op", OPS)
def test_zero_dim_operand_with_grad(op: str) -> None:
    """A 0-d operand that requires grad: a TypeError where torch has only the Number overload, else the result."""
    results = []
    for lib in LIBS:
        ts = [lib.tensor([1.0, 2.0]), lib.tensor(3.0)]
        other = lib.tensor(0.5, requires_grad=True)
        results.append(outcome(lambda lib=lib, ts=ts, other=other: getattr(lib, f"_foreach_{op}")(ts, other)))
    same(results[1], results[0])


def make_sophia_like(lib: object) -> type:
    """An Optimizer subclass as SophiaG / Adan write theirs: a ``__setstate__`` calling the base class's first, then
    turning int steps into tensors; the step a per-parameter 0-d tensor."""

    class Sub(lib.optim.Optimizer):
        def __init__(self, params: object, lr: float = 0.1) -> None:
            super().__init__(params, dict(lr=lr))

        def __setstate__(self, state: dict) -> None:
            super().__setstate__(state)
            for group in self.param_groups:
                group.setdefault("maximize", False)
            for s in self.state.values():
                if not lib.is_tensor(s["step"]):
                    s["step"] = lib.tensor(float(s["step"]))

        @lib.no_grad()
        def step(self) -> None:
            for group in self.param_groups:
                for p in group["params"]:
                    state = self.state[p]
                    if len(state) == 0:
                        state["step"] = 0
                        state["exp_avg"] = lib.zeros_like(p)
                    state["step"] += 1
                    state["exp_avg"].mul_(0.9).add_(p.grad, alpha=0.1)
                    p.add_(state["exp_avg"].sign(), alpha=-group["lr"])

    return Sub


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 3), st.floats(1e-3, 1.0), st.lists(st.floats(-3, 3, width=32), min_size=3, max_size=3))
def test_subclass_setstate_calls_the_base(steps: int, lr: float, values: list[float]) -> None:
    """``copy.deepcopy`` and pickle of a subclass whose ``__setstate__`` calls ``super().__setstate__`` (ours had
    none: AttributeError): torch's groups and state (the int steps now 0-d tensors) in the copies, which step on."""
    import copy
    import pickle

    results = []
    for lib in LIBS:
        cls = make_sophia_like(lib)
        globals()["Sub"] = cls  # pickle finds the class by its module-level name
        cls.__qualname__ = "Sub"
        w = lib.tensor(values, requires_grad=True)
        opt = cls([w], lr=lr)
        for _ in range(steps):
            (w * w).sum().backward()
            opt.step()
            opt.zero_grad()
        out = []
        for twin in (copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))):
            sd = twin.state_dict()
            out.append((sd["param_groups"], {k: {n: (lib.is_tensor(v), float(v) if n == "step" else v.tolist())
                                                 for n, v in s.items()} for k, s in sd["state"].items()}))
            p = twin.param_groups[0]["params"][0]
            p.grad = lib.ones_like(p)
            twin.step()
            out.append(p.detach().numpy().tolist())
        results.append(out)
    assert results[1] == results[0]


HALF = st.floats(-65504, 65504, width=16) | st.sampled_from([0.0, -0.0, 6e-8, 1e-4, 0.1, 1.0, 65504.0, float("inf"),
                                                               float("-inf"), float("nan")])
NUMBERS = st.sampled_from([0.9999, 1e5, 1e-8, 1.7, -3.3, 0.5, 3, True, 70000.0, 1 - 1e-3 * 1e-2]) | st.floats(-100, 100)


@settings(max_examples=60, deadline=None)
@given(st.lists(HALF, min_size=0, max_size=40), st.lists(st.floats(-3, 3, width=32), min_size=0, max_size=5),
       NUMBERS, st.booleans())
def test_foreach_mul_in_place_rounds_the_number_to_half(half: list[float], single: list[float], value: float,
                                                        as_list: bool) -> None:
    """``_foreach_mul_([float16, float32 tensors], number or [numbers])``: torch's values bit for bit (nan where
    torch's are), the out-of-place form equal to torch's too."""
    results = []
    for lib in LIBS:
        ts = [lib.tensor(half, dtype=lib.float16), lib.tensor(single, dtype=lib.float32),
              lib.tensor(half[0] if half else 1.0, dtype=lib.float16)]
        other = [value] * 3 if as_list else value
        out = lib._foreach_mul(ts, other)
        lib._foreach_mul_(ts, other)
        results.append([t.numpy().astype(np.float64) for t in (*ts, *out)])
    for o, t in zip(results[1], results[0], strict=True):
        np.testing.assert_array_equal(o, t)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 40), st.floats(-2, 2) | st.sampled_from([0.0, 0.5]),
       st.sampled_from(["float16", "float32", "float64", "int64", "bool"]), st.booleans())
def test_foreach_lerp_zero_dim_weight_is_a_number(seed: int, n: int, weight: float, wdtype: str,
                                                  in_place: bool) -> None:
    """``_foreach_lerp[_](starts, ends, 0-d weight)`` on float16 and float32 lists (normal values, with zeros,
    infinities, nan and float16's largest among them): torch's bits."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(2, n)) * 3
    values.flat[rng.integers(0, 2 * n, size=3)] = rng.choice([0.0, -0.0, np.inf, -np.inf, np.nan, 65504.0], size=3)
    if wdtype in ("int64", "bool"):
        weight = int(weight) if wdtype == "int64" else bool(weight)
    results = []
    for lib in LIBS:
        starts = [lib.tensor(values[0], dtype=lib.float16), lib.tensor(values[0], dtype=lib.float32)]
        ends = [lib.tensor(values[1], dtype=lib.float16), lib.tensor(values[1], dtype=lib.float32)]
        w = lib.tensor(weight, dtype=getattr(lib, wdtype))
        got = lib._foreach_lerp_(starts, ends, w) and starts if in_place else lib._foreach_lerp(starts, ends, w)
        results.append([(str(t.dtype).removeprefix("torch."), t.numpy().astype(np.float64)) for t in got])
    for (od, ov), (td, tv) in zip(results[1], results[0], strict=True):
        assert od == td
        np.testing.assert_array_equal(ov, tv)


@pytest.mark.parametrize("weight", ["grad", "1-d"])
def test_foreach_lerp_refuses_other_tensor_weights(weight: str) -> None:
    for lib in LIBS:
        w = lib.tensor(0.5, requires_grad=True) if weight == "grad" else lib.tensor([0.5])
        with pytest.raises(TypeError):
            lib._foreach_lerp([lib.ones(2)], [lib.zeros(2)], w)
