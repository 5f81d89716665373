"""A differential fuzzer against PyTorch: random small graphs run in both libraries, every value and gradient compared.

Each graph starts from a few leaves (random shapes with broadcasting, 0-d and size-0 dims; values that include
ties, huge and tiny magnitudes, nan and inf) and applies random ops: elementwise with tensors and Python scalars,
reductions with axis/keepdims, movement, getitem, matmul, concatenate/stack/pad, conv2d/max_pool2d, the losses.
Ops may reuse any earlier node (shared subexpressions). Then one to three outputs are differentiated, either by
``backward`` one after the other (retain_graph, so gradients accumulate) or by ``autograd.grad``.

The same program runs in ours (float32 or float64), in torch in the same dtype, and in torch in float64. Every
node's value, every leaf's gradient (None where torch has None), dtypes and shapes are compared; where one library
raises, the other must too. A float32 value may match either torch float32 or torch float64; tolerances scale
with the largest magnitude in the graph, so the fuzzer looks for wrong semantics (a wrong element, sign, factor,
nan or inf, a lost or doubled gradient), while tests/test_numerics.py checks precision to the ulp.

Our library is called through ``tinygrad_adam.ops`` functions (and operators), not Tensor methods, whose
signatures follow torch's and may change. The default run is bounded (``FUZZ_EXAMPLES`` hypothesis examples per
dtype); ``pytest -m slow tests/test_fuzz_vs_torch.py`` with ``FUZZ_MINUTES=20`` runs seeded programs for that long.
A failure prints the program and its seed; ``FUZZ_SEED=<seed>`` replays one program.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
from tinygrad_adam import autograd
from tinygrad_adam.ops import conv, elementwise, linalg, linear, loss, movement, pool, reduce

torch = pytest.importorskip("torch", reason="the fuzzer needs PyTorch as its oracle")
TF = torch.nn.functional


# ---------------------------------------------------------------- choices: hypothesis draws or a seeded numpy RNG
class Chooser:
    """The program generator's source of decisions (hypothesis in the default run, a numpy RNG in the long one)."""

    def __init__(self, data: Any = None, seed: int = 0) -> None:
        self.data, self.rng = data, np.random.default_rng(seed)

    def int(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi]."""
        if self.data is not None:
            return self.data.draw(st.integers(lo, hi))
        return int(self.rng.integers(lo, hi + 1))

    def pick(self, options: list[Any]) -> Any:
        return options[self.int(0, len(options) - 1)]

    def coin(self, p: float = 0.5) -> bool:
        return self.int(0, 999) < p * 1000


SPECIALS = [0.0, -0.0, 1.0, -1.0, 2.0, 0.5, 1e-30, -1e-30, 1e30, -1e30, 3e38, -3e38, 1e300, -1e300,
            np.inf, -np.inf, np.nan]


def values(ch: Chooser, shape: tuple[int, ...], dtype: type, profile: int, rng: np.random.Generator) -> np.ndarray:
    """Leaf values: normal, or small integers (ties), with a fraction of extreme/special values by ``profile``."""
    x = np.asarray(rng.standard_normal(shape) * ch.pick([1.0, 3.0]))
    if ch.coin(0.3):
        x = np.asarray(rng.integers(-2, 3, size=shape), dtype=np.float64)
    p_special = [0.0, 0.0, 0.05, 0.2][profile]
    if p_special and x.size:
        mask = rng.random(shape) < p_special
        x[mask] = rng.choice(SPECIALS, size=int(mask.sum()))
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype=dtype)


# ---------------------------------------------------------------- the program: nodes computed in three runs at once
@dataclass
class Node:
    ours: Any  # tg.Tensor (or raised)
    same: Any  # torch tensor, same dtype
    ref: Any  # torch tensor, float64
    text: str
    args: tuple[int, ...] = ()  # the nodes this one was computed from
    pert: Any = None  # torch float64 on leaves moved by one rounding error: how much rounding can move this node
    local: Any = None  # torch's op (same dtype) on our input values: the op alone, without what came before it


@dataclass
class Program:
    dtype: type
    seed: int
    nodes: list[Node] = field(default_factory=list)
    leaves: list[int] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    comparisons: int = 0
    overflow_ambiguous: int = 0
    has_float32: bool = False
    conv_nonfinite: bool = False
    forward_ambiguous: bool = False  # a value compared only as "non-finite" (see compare())
    branches_differ: bool = False  # a tie or a kink decided apart by rounding (see op_reduce, branches_apart)
    grads_unchecked: int = 0
    has_sum: bool = False  # a matmul, linear, sum or mean: results accumulated in some order
    sum_overflowed: bool = False  # one of them overflowed from finite inputs: its order decides inf or not
    grad_flow: float = 0.0  # the largest finite gradient contribution along any edge of the float64 run

    def note_flow(self, grad_inputs: tuple[Any, ...], _grad_outputs: Any) -> None:
        """A torch node hook: record how large the contributions it sends to its inputs are."""
        for g in grad_inputs:
            if g is not None and g.numel():
                a = g.detach().abs()
                a = a[torch.isfinite(a)]
                if a.numel():
                    self.grad_flow = max(self.grad_flow, float(a.max()))

    def describe(self) -> str:
        return f"seed {self.seed}, {np.dtype(self.dtype).name}:\n  " + "\n  ".join(self.lines)


TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def add_leaf(prog: Program, arr: np.ndarray, name: str = "leaf") -> int:
    ours = tg.Tensor(arr, requires_grad=True)
    same = torch.tensor(arr, requires_grad=True)
    ref = torch.tensor(arr.astype(np.float64), requires_grad=True)
    rng = np.random.default_rng(prog.seed + len(prog.nodes))  # each leaf moved by a random half to one rounding
    move = rng.uniform(0.5, 1.0, arr.shape) * rng.choice([-1.0, 1.0], arr.shape)  # error: equal values move apart
    eps = float(np.finfo(np.float32 if prog.dtype == np.float32 else np.float64).eps)
    pert = torch.tensor(arr.astype(np.float64) * (1 + eps * move), requires_grad=True)
    prog.nodes.append(Node(ours, same, ref, f"n{len(prog.nodes)}", (), pert))
    prog.leaves.append(len(prog.nodes) - 1)
    shown = np.array2string(arr.ravel()[:8], precision=3)
    prog.lines.append(f"n{len(prog.nodes) - 1} = {name}({arr.dtype}, shape {arr.shape}) = {shown}")
    return len(prog.nodes) - 1


def apply(prog: Program, text: str, ours: Callable, theirs: Callable, args: list[int],
          ref_fn: Callable | None = None) -> int | None:
    """Run one op in the three runs; both libraries must raise or neither. Returns the new node's index."""
    a_ours = [prog.nodes[i].ours for i in args]
    line = f"n{len(prog.nodes)} = {text.format(*[f'n{i}' for i in args])}"
    prog.lines.append(line)
    err_ours = err_theirs = None
    try:
        with np.errstate(all="ignore"):
            out = ours(*a_ours)
    except (ValueError, TypeError, RuntimeError, IndexError) as e:
        err_ours = e
    try:
        same = theirs(*[prog.nodes[i].same for i in args])
        ref = (ref_fn or theirs)(*[prog.nodes[i].ref for i in args])
        pert = (ref_fn or theirs)(*[prog.nodes[i].pert for i in args])
    except (ValueError, TypeError, RuntimeError, IndexError) as e:
        err_theirs = e
    prog.comparisons += 1
    assert (err_ours is None) == (err_theirs is None), (
        f"{line}: ours {'raised ' + repr(err_ours) if err_ours else 'did not raise'}, torch "
        f"{'raised ' + repr(err_theirs) if err_theirs else 'did not raise'}\n{prog.describe()}")
    if err_ours is not None:
        prog.lines[-1] = f"{text.format(*[f'n{i}' for i in args])}   # both raise: {type(err_ours).__name__}"
        return None
    try:  # the op alone, on our inputs (see compare())
        local = theirs(*[torch.from_numpy(np.array(to_np(prog.nodes[i].ours))) for i in args])
    except (ValueError, TypeError, RuntimeError, IndexError):
        local = None
    prog.nodes.append(Node(out, same, ref, line, tuple(args), pert, local))
    if isinstance(ref, torch.Tensor) and ref.grad_fn is not None:
        ref.grad_fn.register_hook(prog.note_flow)
    if text.startswith(SUMMING):
        prog.has_sum = True
        prog.sum_overflowed |= overflowed(same, [prog.nodes[i].same for i in args])
    return len(prog.nodes) - 1


# ops whose results are sums, accumulated in some order (conv2d: products of 1e30 and 1e300 overflow to +-inf,
# and their sum is inf or nan by the order: FUZZ_SEED=1025420)
SUMMING = ("matmul(", "linear(", "sum(", "mean(", "conv2d(")


ZERO_TIES = ("minimum(", "maximum(")  # torch's pick between +0 and -0 depends on the length (see signs_differ)


def rtol_of(prog: Program, dtype: np.dtype) -> float:
    """The relative tolerance of a comparison (its absolute one: this times the graph's scale)."""
    return 2e-4 if dtype == np.float32 or prog.has_float32 else 1e-9  # astype may take float64 through float32


def signs_differ(prog: Program, n: Node, scale: float) -> bool:
    """Opposite signs in ours and torch where both are rounding noise around zero (within the absolute
    tolerance): a cancellation may land on either side (logsumexp of a log_softmax row is 0 up to rounding: ours
    0, torch -7e-18, so sqrt of it is 0 or nan: FUZZ_SEED=842877), and what is computed from it (sqrt, log,
    division) is then compared in shape and dtype only. Exact zeros of opposite sign are checked (relu(-0) is -0
    in torch), except where the sign of a zero is the library's: a sum (torch's own mm gives -1 * 0 as -0, its bmm
    +0, a sum of -0s +0; dividing by it gives inf or -inf: FUZZ_SEED=140344), and minimum/maximum of +0 and -0
    (torch returns the first operand in short tensors and the second where its loop is vectorised, numpy the
    second: FUZZ_SEED=911375)."""
    if not isinstance(n.same, torch.Tensor) or not n.same.is_floating_point():
        return False
    o, s = to_np(n.ours), to_np(n.same)
    atol = rtol_of(prog, o.dtype) * scale
    with np.errstate(invalid="ignore"):
        differ = (np.abs(o) <= atol) & (np.abs(s) <= atol) & (np.signbit(o) != np.signbit(s))
    if not n.text.split(" = ", 1)[-1].startswith(SUMMING + ZERO_TIES):
        differ &= (o != 0) | (s != 0)
    return bool(differ.any())


def branches_apart(prog: Program, ours: np.ndarray, theirs: np.ndarray, bound: float) -> None:
    """Marks ``prog.branches_differ`` where ours and torch's values lie on different sides of ``bound``: a clip's or a
    maximum's choice, and so where its gradient goes, then follows rounding (a conv2d output that cancels terms of
    1e30 is 0 in one and 4 in the other, around a clip at 0.5: FUZZ_SEED=7761613), and gradients are then
    compared only in presence, dtype and shape. (Values that differ beyond rounding fail their own comparison.)"""
    if ours.shape == theirs.shape:
        with np.errstate(invalid="ignore"):
            prog.branches_differ |= bool((((ours > bound) != (theirs > bound)) |
                                          ((ours < bound) != (theirs < bound))).any())


def overflowed(out: Any, inputs: list[Any]) -> bool:
    """Whether ``out`` holds an inf or nan although every input was finite (in the run's own dtype)."""
    def finite(t: Any) -> bool:
        return not (isinstance(t, torch.Tensor) and t.is_floating_point()) or bool(torch.isfinite(t).all())
    return not finite(out) and all(finite(t) for t in inputs)


# ---------------------------------------------------------------- comparison
NP_DTYPE = {torch.float32: np.float32, torch.float64: np.float64, torch.int64: np.int64, torch.bool: np.bool_}


def to_np(t: Any) -> np.ndarray:
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.numpy()


def scale_of(prog: Program, grads: bool) -> float:
    """The largest finite magnitude anywhere in the float64 run: the absolute tolerance is relative to it."""
    s = 1.0
    for n in prog.nodes:
        for t in ([n.ref] if not grads else []) + ([n.ref.grad] if grads and n.ref.grad is not None else []):
            a = np.abs(to_np(t).astype(np.float64, copy=False))
            a = a[np.isfinite(a)]
            if a.size:
                s = max(s, float(a.max()))
    return s


def close(ours: np.ndarray, ref: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    """Elementwise: nan where nan, the same inf where inf, else within tolerance."""
    ours, ref = ours.astype(np.float64), ref.astype(np.float64)
    both_nan = np.isnan(ours) & np.isnan(ref)
    with np.errstate(invalid="ignore"):
        same_inf = np.isinf(ours) & (ours == ref)
        near = np.isfinite(ours) & np.isfinite(ref) & (np.abs(ours - ref) <= atol + rtol * np.abs(ref))
    return both_nan | same_inf | near


def compare(prog: Program, what: str, ours: Any, same: Any, ref: Any, scale: float, largest: float,
            pert: Any = None, local: Any = None) -> None:
    """One tensor against torch's: absolute tolerance relative to ``scale``; ``largest``: the graph's largest
    finite magnitude (values or gradients); ``pert``: torch float64's result from leaves moved by one rounding
    error each, which says how far rounding alone can move this result; ``local``: torch's op on our inputs."""
    prog.comparisons += 1
    where = f"{what}\n{prog.describe()}"
    if same is None:
        assert ours is None, f"{where}: torch has no gradient, ours {ours}"
        return
    assert ours is not None, f"{where}: ours has no gradient, torch {same}"
    o, s = to_np(ours), to_np(same)
    assert o.dtype == s.dtype, f"{where}: dtype ours {o.dtype}, torch {s.dtype}"
    assert o.shape == s.shape, f"{where}: shape ours {o.shape}, torch {s.shape}"
    ambiguous = prog.forward_ambiguous or prog.branches_differ
    if what.startswith("downstream") or (ambiguous and not what.startswith("value")):
        # a forward value was inf in one order of accumulation and nan in the other (both allowed below): the
        # gradients downstream of it then differ for real (sign(inf) = 1, sign(nan) = 0: FUZZ_SEED=105921), so
        # only their presence, dtypes and shapes are compared, as for the values computed from it
        prog.grads_unchecked += 1
        return
    if o.dtype.kind not in "fc":
        np.testing.assert_array_equal(o, s, err_msg=where)
        return
    rtol = rtol_of(prog, o.dtype)
    with np.errstate(over="ignore"):
        r = to_np(ref).astype(o.dtype)
    ok = close(o, s, rtol, rtol * scale) | close(o, r, rtol, rtol * scale)
    if o.dtype == np.float32 and not ok.all():
        # no further from torch float64 than a few times torch float32's own error there: rounding amplified by
        # what follows (a cancelled conv2d result divided into 1e30: FUZZ_SEED=187435) is as large in both
        with np.errstate(invalid="ignore", over="ignore"):
            r64 = to_np(ref).astype(np.float64)
            ok |= np.abs(o.astype(np.float64) - r64) <= 4 * np.abs(s.astype(np.float64) - r64)
    if pert is not None and not ok.all():
        # ill-conditioned here: a sum of terms that cancel, then scaled up (1e30 - 1e30 + 1.5, times 1e30:
        # FUZZ_SEED=345211) is moved far by one rounding error per input, so any order of evaluation may land
        # anywhere within that distance; and where the perturbed run is non-finite and the exact one is not (or the
        # other way round), the result sits on an overflow edge
        with np.errstate(invalid="ignore", over="ignore"):
            r64, p64 = to_np(ref).astype(np.float64), to_np(pert).astype(np.float64)
            moved = np.abs(p64 - r64)
            ok |= np.abs(o.astype(np.float64) - r64) <= 8 * moved
            ok |= np.isfinite(r64) != np.isfinite(p64)
    strict = ok.copy()
    if local is not None and not ok.all() and o.shape == tuple(local.shape):
        # our inputs passed within rounding, and on them torch's op gives ours: the op is right, and it amplifies a
        # rounding difference that torch avoids by structure (torch's logsumexp of its log_softmax is exactly 0,
        # ours 2^-25 in float32, and x^-2 of it 1e15, not inf: FUZZ_SEED=7447617); then as for an overflow below,
        # what is computed from it is compared only in presence, dtype and shape
        with np.errstate(invalid="ignore", over="ignore"):
            ok |= close(o, to_np(local).astype(o.dtype), rtol, rtol * scale)
    if not ok.all() and (largest >= np.finfo(o.dtype).max * 1e-4 or prog.conv_nonfinite or prog.sum_overflowed):
        # finite values near overflow (or a sum of products that overflowed: FUZZ_SEED=70291): whether a sum or
        # product overflows to inf, or inf - inf makes nan, depends on the order of accumulation (BLAS, pairwise
        # sums); there only the finite results are compared. Likewise
        # after a padded conv2d of a non-finite tensor: whether a padding zero meets an inf weight (0 * inf = nan)
        # depends on torch's backend (im2col or mkldnn) for the shapes at hand (README, Differences from PyTorch)
        ok |= ~np.isfinite(o) | ~np.isfinite(s)
        prog.overflow_ambiguous += int((~np.isfinite(o) | ~np.isfinite(s)).sum())
    if not ok.all() and prog.has_sum and largest * largest >= np.finfo(o.dtype).max:
        # two such magnitudes multiply past the largest float (a value and a gradient, in backward), and a sum of
        # such products may end as inf, -inf or nan (inf - inf) by its order of accumulation (FUZZ_SEED=70501):
        # where both are non-finite, which one is not compared
        both = ~np.isfinite(o) & ~np.isfinite(s)
        ok |= both
        prog.overflow_ambiguous += int(both.sum())
    if what.startswith("value") and not (ok == strict).all():
        prog.forward_ambiguous = True
    if not ok.all():
        bad = np.argwhere(~ok)[:5]
        raise AssertionError(f"{where}\n{what}: ours differs at {bad.tolist()}: ours {o[~ok][:5]}, torch {s[~ok][:5]}"
                             f", torch float64 {to_np(ref)[~ok][:5]}")


# ---------------------------------------------------------------- op generators: each adds (at most) one node
def broadcast_partner(ch: Chooser, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts with ``shape``: a suffix of it, with some dims set to 1, maybe a new leading dim."""
    s = list(shape[ch.int(0, len(shape)):]) if ch.coin(0.3) else list(shape)
    s = [1 if ch.coin(0.25) else n for n in s]
    if ch.coin(0.15):
        s = [ch.int(1, 2)] + s
    return tuple(s)


def shape_of(ch: Chooser) -> tuple[int, ...]:
    return tuple(ch.pick([0, 1, 1, 2, 2, 3, 3, 4]) if ch.coin(0.97) else 0 for _ in range(ch.int(0, 3)))


@dataclass
class Num:
    """A Python number as an operand."""
    value: int | float | bool


def other_operand(ch: Chooser, prog: Program, i: int, gen: Any) -> int | Num:
    """The second operand of a binary op: an earlier node that broadcasts, a fresh leaf, or a Python number."""
    shape = prog.nodes[i].ours.shape
    r = ch.int(0, 9)
    if r < 3:
        fits = [j for j, n in enumerate(prog.nodes) if _broadcasts(n.ours.shape, shape)]
        return ch.pick(fits) if fits else i
    if r < 5:
        return Num(ch.pick([2, -1, 0, 3, 1.5, -0.5, 0.0, 1e30, 1e-3, True]))
    return add_leaf(prog, gen(broadcast_partner(ch, shape)))


def _broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(x == y or x == 1 or y == 1 for x, y in zip(a[::-1], b[::-1]))


UNARY = {
    "neg": (elementwise.neg, torch.neg), "exp": (elementwise.exp, torch.exp), "log": (elementwise.log, torch.log),
    "sqrt": (elementwise.sqrt, torch.sqrt), "tanh": (elementwise.tanh, torch.tanh),
    "sigmoid": (elementwise.sigmoid, torch.sigmoid), "relu": (elementwise.relu, torch.relu),
    "softplus": (tg.nn.functional.softplus, TF.softplus), "abs": (elementwise.abs, torch.abs),
}
BINARY = {
    "add": (elementwise.add, torch.add), "sub": (elementwise.sub, torch.sub), "mul": (elementwise.mul, torch.mul),
    "div": (elementwise.div, torch.div), "pow": (elementwise.pow, torch.pow),
    "maximum": (elementwise.maximum, torch.maximum), "minimum": (elementwise.minimum, torch.minimum),
}


def softplus_reference(beta: float) -> Callable:
    """torch's softplus (its threshold 20) from torch's primitives, for the float64 reference: torch's own backward
    multiplies the incoming gradient by exp(beta x) before dividing by exp(beta x) + 1, so a gradient of 7.5e299 at
    beta x = 19.9 overflows to inf there, where the exact (and our) value is 7.5e299 (FUZZ_SEED=10139797)."""
    def reference(a: Any) -> Any:
        z = torch.clamp(a * beta, max=20.0)  # (the branch not taken stays finite, so its zero gradient stays 0)
        return torch.where(a * beta > 20.0, a, torch.log1p(torch.exp(z)) / beta)
    return reference


def op_unary(ch: Chooser, prog: Program, i: int, gen: Any) -> None:
    name = ch.pick([*UNARY, "softplus_beta", "clip", "astype"])
    if name == "softplus_beta":
        beta = ch.pick([0.5, 2.0, 10.0])
        apply(prog, f"softplus({{}}, beta={beta})", lambda a: tg.nn.functional.softplus(a, beta),
              lambda a: TF.softplus(a, beta), [i], softplus_reference(beta))  # torch's threshold 20 (FUZZ_SEED=486003)
    elif name == "clip":
        lo, hi = ch.pick([(-1.0, 1.0), (0.0, None), (None, 0.5), (1.0, 1.0)])
        apply(prog, f"clip({{}}, {lo}, {hi})", lambda a: elementwise.clip(a, lo, hi), lambda a: torch.clamp(a, lo, hi),
              [i])
        x = prog.nodes[i]
        for bound in (lo, hi):
            if bound is not None:
                branches_apart(prog, to_np(x.ours), to_np(x.same), bound)
    elif name == "astype":
        other = np.float64 if prog.dtype == np.float32 else np.float32
        prog.has_float32 = True
        apply(prog, f"astype({{}}, {np.dtype(other).name})", lambda a: elementwise.astype(a, other),
              lambda a: a.to(TORCH_DTYPE[other]), [i], ref_fn=lambda a: a * 1)
    else:
        f, t = UNARY[name]
        apply(prog, f"{name}({{}})", f, t, [i])
        if name in ("relu", "abs"):  # their gradient turns at 0 (an input 0 in one and 2.5e-31 in the other by the
            x = prog.nodes[i]        # order of a sum: FUZZ_SEED=8319495)
            branches_apart(prog, to_np(x.ours), to_np(x.same), 0.0)


def op_binary(ch: Chooser, prog: Program, i: int, gen: Any) -> None:
    name = ch.pick([*BINARY, "where"])
    j = other_operand(ch, prog, i, gen)
    if name in ("maximum", "minimum", "where") and isinstance(j, Num):
        j = add_leaf(prog, gen(prog.nodes[i].ours.shape))
    if name == "where":
        apply(prog, "where({0} > 0, {0}, {1})",
              lambda a, b: elementwise.where(elementwise.compare(a, 0, "greater"), a, b),
              lambda a, b: torch.where(a > 0, a, b), [i, j])
        branches_apart(prog, to_np(prog.nodes[i].ours), to_np(prog.nodes[i].same), 0.0)
        return
    f, t = BINARY[name]
    if isinstance(j, Num):  # a Python number, on either side
        c = j.value
        # (torch 2.13's backward of True ** x fails an internal assert: that one is not a divergence to test)
        if ch.coin() or name in ("maximum", "minimum") or (name == "pow" and isinstance(c, bool)):
            apply(prog, f"{name}({{}}, {c!r})", lambda a: f(a, c), lambda a: t(a, c), [i])
        else:
            # (c / a as torch.div, not torch's `c / a`: that is reciprocal(a) * c, whose gradient is nan or inf where
            # 1 / a^2 overflows, even for c = 0; ours differentiates the division: README, Differences from PyTorch)
            reflected = {"add": lambda a: c + a, "sub": lambda a: c - a, "mul": lambda a: c * a,
                         "div": lambda a: torch.div(torch.full_like(a, c, dtype=torch.result_type(a, c)), a),
                         "pow": lambda a: c ** a}[name]
            apply(prog, f"{name}({c!r}, {{}})", lambda a: f(c, a), reflected, [i])
        return
    if apply(prog, f"{name}({{}}, {{}})", f, t, [i, j]) is not None and name in ("maximum", "minimum"):
        a, b = prog.nodes[i], prog.nodes[j]  # (their other operand is always a node: see above)
        with np.errstate(invalid="ignore", over="ignore"):
            branches_apart(prog, to_np(a.ours) - to_np(b.ours), to_np(a.same) - to_np(b.same), 0.0)


def axis_arg(ch: Chooser, ndim: int) -> Any:
    if ch.coin(0.25):
        return None
    n = max(ndim, 1)
    if ch.coin(0.7):
        return ch.int(-n, n - 1)
    axes = [a for a in range(n) if ch.coin()] or [ch.int(0, n - 1)]  # not (): see README, Differences from PyTorch
    return tuple(a - n if ch.coin() else a for a in axes)


def exact_logsumexp(a: Any, dim: Any, keep: bool) -> Any:
    """torch's logsumexp with the max shifted out by hand, so its gradient is exp(x - m) / sum = softmax. torch's own
    backward, exp(x - lse), is off by |lse| * eps (12 equal float64 logits of 1e30 get 1 each, not 1/12: README)."""
    if a.numel() == 0:
        return torch.logsumexp(a, dim=dim, keepdim=keep)
    m = torch.amax(a, dim=dim, keepdim=True).detach()
    shift = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    # a row holding +inf: its finite elements get exp(x - inf) = 0 as in torch, not exp(x - 0), which overflows
    # (x = 1e300: FUZZ_SEED=37722); the inf itself gets exp(inf - 0) = inf, whose gradient is nan as in torch
    each = torch.where((m == torch.inf) & (a != torch.inf), m, shift)
    out = shift + torch.log(torch.sum(torch.exp(a - each), dim=dim, keepdim=True))
    return out if keep else out.squeeze(dim) if isinstance(dim, int) else out.reshape(
        [n for k, n in enumerate(out.shape) if k not in {d % max(a.ndim, 1) for d in dim}])


def op_reduce(ch: Chooser, prog: Program, i: int, gen: Any) -> None:
    x = prog.nodes[i].ours
    name = ch.pick(["sum", "mean", "max", "min", "logsumexp", "softmax", "log_softmax"])
    keep = ch.coin()
    if name in ("softmax", "log_softmax"):
        ax = ch.int(-max(x.ndim, 1), max(x.ndim, 1) - 1)
        apply(prog, f"{name}({{}}, axis={ax})", lambda a: getattr(reduce, name)(a, ax),
              lambda a: getattr(torch, name)(a, ax), [i])
        return
    ax = axis_arg(ch, x.ndim)
    if name in ("max", "min"):
        tfn = (lambda a: getattr(a, name)().reshape([1] * a.ndim if keep else [])) if ax is None else \
            (lambda a: getattr(torch, "a" + name)(a, dim=ax, keepdim=keep))
        # both split the gradient among the elements tied at the extreme, but torch's elementwise kernels may round
        # equal inputs apart by an ulp (softplus's vector and tail loops: FUZZ_SEED=7406269), so the tied sets, and
        # the gradients, may differ for real; then only their presence, dtypes and shapes are compared
        xo, xs = to_np(x), to_np(prog.nodes[i].same)
        if xo.size and xo.ndim and xo.shape == xs.shape:
            extreme = np.max if name == "max" else np.min
            with np.errstate(invalid="ignore"):
                prog.branches_differ |= not np.array_equal(xo == extreme(xo, axis=ax, keepdims=True),
                                                       xs == extreme(xs, axis=ax, keepdims=True))
    elif name == "logsumexp":
        tfn = lambda a: exact_logsumexp(a, tuple(range(a.ndim)) if ax is None else ax, keep)  # noqa: E731
    else:
        tfn = (lambda a: getattr(torch, name)(a, dim=ax, keepdim=keep)) if ax is not None else \
            (lambda a: getattr(torch, name)(a, dim=tuple(range(a.ndim)), keepdim=keep) if keep
             else getattr(torch, name)(a))
    apply(prog, f"{name}({{}}, axis={ax}, keepdims={keep})", lambda a: getattr(reduce, name)(a, ax, keep), tfn, [i])


def op_movement(ch: Chooser, prog: Program, i: int, gen: Any) -> None:
    x = prog.nodes[i].ours
    shape, nd = x.shape, x.ndim
    name = ch.pick(["reshape", "transpose", "broadcast_to", "squeeze", "unsqueeze", "flatten", "pad"])
    if name == "reshape":
        target = ch.pick([shape[::-1], (-1,), (1, *shape), tuple(-1 if k == 0 else n for k, n in enumerate(shape))])
        apply(prog, f"reshape({{}}, {target})", lambda a: movement.reshape(a, target), lambda a: a.reshape(target), [i])
    elif name == "transpose" and nd:
        perm = list(range(nd))
        for k in range(nd - 1, 0, -1):
            m = ch.int(0, k)
            perm[k], perm[m] = perm[m], perm[k]
        apply(prog, f"transpose({{}}, {perm})", lambda a: movement.transpose(a, perm), lambda a: a.permute(perm), [i])
    elif name == "broadcast_to":
        target = tuple([ch.int(0, 2)] if ch.coin(0.4) else []) + tuple(ch.int(1, 3) if n == 1 and ch.coin() else n
                                                                      for n in shape)
        apply(prog, f"broadcast_to({{}}, {target})", lambda a: movement.broadcast_to(a, target),
              lambda a: a.expand(target), [i])
    elif name == "squeeze":
        ones = [k for k, n in enumerate(shape) if n == 1]
        if ones and ch.coin():
            ax = ch.pick(ones)
            apply(prog, f"squeeze({{}}, {ax})", lambda a: movement.squeeze(a, ax), lambda a: a.squeeze(ax), [i])
        else:
            apply(prog, "squeeze({})", lambda a: movement.squeeze(a), lambda a: a.squeeze(), [i])
    elif name == "unsqueeze":
        ax = ch.int(-nd - 1, nd)
        apply(prog, f"unsqueeze({{}}, {ax})", lambda a: movement.unsqueeze(a, ax), lambda a: a.unsqueeze(ax), [i])
    elif name == "flatten" and nd:
        s, e = sorted((ch.int(0, nd - 1), ch.int(0, nd - 1)))
        apply(prog, f"flatten({{}}, {s}, {e})", lambda a: movement.flatten(a, s, e), lambda a: torch.flatten(a, s, e),
              [i])
    elif name == "pad" and nd:
        widths = [(ch.int(0, 2), ch.int(0, 2)) for _ in range(nd)]
        value = ch.pick([0.0, -1.5])
        flat = [w for pair in reversed(widths) for w in pair]
        apply(prog, f"pad({{}}, {widths}, {value})", lambda a: movement.pad(a, widths, value),
              lambda a: TF.pad(a, flat, value=value), [i])


def index_of(ch: Chooser, shape: tuple[int, ...]) -> tuple[Any, Any, str]:
    """A random index for ``shape`` (ours, torch's, text): slices, ints, one integer array, negatives."""
    ours, theirs, text, used_array = [], [], [], False
    for n in shape[:ch.int(1, len(shape))]:
        r = ch.int(0, 9)
        if r < 3 and n:
            k = ch.int(-n, n - 1)
            ours.append(k), theirs.append(k), text.append(str(k))
        elif r < 5 and n and not used_array:
            idx = np.array([ch.int(-n, n - 1) for _ in range(ch.int(0, 4))], dtype=np.int64)
            used_array = True
            ours.append(idx), theirs.append(torch.from_numpy(idx)), text.append(str(idx.tolist()))
        else:
            lo = ch.pick([None, 0, 1, -1, -n - 1 if n else 0])
            hi = ch.pick([None, n, -1, 1, n + 2])
            step = ch.pick([None, 1, 2, 3])
            s = slice(lo, hi, step)
            ours.append(s), theirs.append(s), text.append(f"{lo}:{hi}:{step}")
    return tuple(ours), tuple(theirs), ", ".join(text)


def op_getitem(ch: Chooser, prog: Program, i: int, gen: Any) -> None:
    x = prog.nodes[i].ours
    if not x.ndim:
        return
    io, it, text = index_of(ch, x.shape)
    apply(prog, f"{{}}[{text}]", lambda a: movement.getitem(a, io), lambda a: a[it], [i])


def op_join(ch: Chooser, prog: Program, i: int, gen: Any) -> None:
    x = prog.nodes[i].ours
    if ch.coin() and x.ndim:
        ax = ch.int(-x.ndim, x.ndim - 1)
        shape = list(x.shape)
        shape[ax] = ch.int(0, 2)
        j = i if ch.coin(0.3) else add_leaf(prog, gen(tuple(shape)))
        apply(prog, f"concatenate([{{}}, {{}}], axis={ax})", lambda a, b: movement.concatenate([a, b], ax),
              lambda a, b: torch.cat([a, b], ax), [i, j])
    else:
        ax = ch.int(-x.ndim - 1, x.ndim)
        j = i if ch.coin(0.3) else add_leaf(prog, gen(x.shape))
        apply(prog, f"stack([{{}}, {{}}], axis={ax})", lambda a, b: movement.stack([a, b], ax),
              lambda a, b: torch.stack([a, b], ax), [i, j])


def op_matmul(ch: Chooser, prog: Program, i: int, gen: Any) -> None:
    x = prog.nodes[i].ours
    if x.ndim == 0 or x.ndim > 3:
        return
    k = x.shape[-1]
    if ch.coin(0.25) and x.ndim >= 2:  # x @ x^T: a shared operand
        perm = list(range(x.ndim - 2)) + [x.ndim - 1, x.ndim - 2]
        j = apply(prog, f"transpose({{}}, {perm})", lambda a: movement.transpose(a, perm), lambda a: a.permute(perm),
                  [i])
    else:
        m = ch.int(0, 3)
        other = ch.pick([(k,), (k, m), (ch.pick([1, 2]), k, m)])
        if x.ndim == 3 and len(other) == 3 and ch.coin():
            other = (x.shape[0], k, m)
        j = add_leaf(prog, gen(other))
    if j is not None:
        apply(prog, "matmul({}, {})", linalg.matmul, strict_matmul, [i, j])


def one_dtype(name: str, fn: Callable) -> Callable:
    """torch's ``fn``, raising for operands of two dtypes as torch does everywhere but where the result is empty
    (a batched matmul with an empty dim returns zeros: FUZZ_SEED=57124; a conv2d of an empty batch an empty
    result: FUZZ_SEED=874406; README, Differences from PyTorch)."""
    def strict(*args: Any) -> Any:
        if len({a.dtype for a in args}) > 1:
            raise RuntimeError(f"expected the operands of {name} to have one dtype, got {[a.dtype for a in args]}")
        return fn(*args)
    return strict


strict_matmul = one_dtype("matmul", torch.matmul)


def op_linear(ch: Chooser, prog: Program, i: int, gen: Any) -> None:
    x = prog.nodes[i].ours
    if x.ndim == 0:
        return
    o = ch.int(0, 3)
    w = add_leaf(prog, gen((o, x.shape[-1])))
    if ch.coin():
        b = add_leaf(prog, gen((o,)))
        apply(prog, "linear({}, {}, {})", linear.linear, TF.linear, [i, w, b])
    else:
        apply(prog, "linear({}, {})", linear.linear, TF.linear, [i, w])


def image(ch: Chooser, prog: Program, i: int, gen: Any) -> int:
    """A 4-D node: ``i`` when it is one, else a fresh (N, C, H, W) leaf."""
    if prog.nodes[i].ours.ndim == 4 and ch.coin(0.7):
        return i
    return add_leaf(prog, gen((ch.int(0, 2), ch.int(1, 2), ch.int(1, 6), ch.int(1, 6))))


def op_conv(ch: Chooser, prog: Program, i: int, gen: Any) -> None:
    x = image(ch, prog, i, gen)
    c = prog.nodes[x].ours.shape[1]
    stride, padding = (ch.int(1, 3), ch.int(1, 3)), (ch.int(0, 2), ch.int(0, 2))
    if ch.coin(0.6) and c:  # zero input channels: see README, Differences from PyTorch
        weight = add_leaf(prog, gen((ch.int(1, 3), c, ch.int(1, 3), ch.int(1, 3))))
        args = [x, weight] + ([add_leaf(prog, gen((prog.nodes[weight].ours.shape[0],)))] if ch.coin() else [])
        prog.conv_nonfinite |= (padding != (0, 0) or stride != (1, 1)) and not all(
            np.isfinite(prog.nodes[a].ours.numpy()).all() for a in args)
        apply(prog, f"conv2d({', '.join(['{}'] * len(args))}, stride={stride}, padding={padding})",
              lambda *a: conv.conv2d(*a, stride=stride, padding=padding),
              one_dtype("conv2d", lambda *a: TF.conv2d(*a, stride=stride, padding=padding)), args)
    else:
        k = (ch.int(1, 3), ch.int(1, 3))
        st_ = ch.pick([None, stride])
        pd = (ch.int(0, k[0] // 2), ch.int(0, k[1] // 2))
        apply(prog, f"max_pool2d({{}}, {k}, {st_}, {pd})", lambda a: pool.max_pool2d(a, k, st_, pd),
              lambda a: TF.max_pool2d(a, k, st_, pd), [x])


def op_loss(ch: Chooser, prog: Program, i: int, gen: Any) -> None:
    x = prog.nodes[i].ours
    red = ch.pick(["mean", "sum", "none"])
    name = ch.pick(["cross_entropy", "nll_loss", "bce", "mse"])
    if name in ("cross_entropy", "nll_loss"):
        if x.ndim != 2 or x.shape[1] == 0 or ch.coin(0.3):
            i = add_leaf(prog, gen((ch.int(0, 3), ch.int(1, 4))))
        n, c = prog.nodes[i].ours.shape
        t = np.array([ch.int(0, c - 1) for _ in range(n)], dtype=np.int64)
        f, tf = getattr(loss, name), getattr(TF, name)
        apply(prog, f"{name}({{}}, {t.tolist()}, {red!r})", lambda a: f(a, t, red),
              lambda a: tf(a, torch.from_numpy(t), reduction=red), [i])
    elif name == "bce":
        y = add_leaf(prog, np.asarray(np.random.default_rng(ch.int(0, 99)).random(x.shape) if ch.coin()
                                      else np.random.default_rng(ch.int(0, 99)).integers(0, 2, x.shape),
                                      dtype=prog.dtype))
        apply(prog, f"bce_with_logits({{}}, {{}}, {red!r})",
              lambda a, b: loss.binary_cross_entropy_with_logits(a, b, red),
              lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction=red), [i, y])
    else:
        y = add_leaf(prog, gen(x.shape))
        apply(prog, f"mse_loss({{}}, {{}}, {red!r})", lambda a, b: tg.nn.functional.mse_loss(a, b, reduction=red),
              lambda a, b: TF.mse_loss(a, b, reduction=red), [i, y])


OPS = [(op_unary, 4), (op_binary, 5), (op_reduce, 3), (op_movement, 3), (op_getitem, 2), (op_join, 1),
       (op_matmul, 2), (op_linear, 1), (op_conv, 1), (op_loss, 1)]
WEIGHTED = [f for f, w in OPS for _ in range(w)]


# ---------------------------------------------------------------- one graph: build, differentiate, compare
def run_program(ch: Chooser, dtype: type, seed: int) -> Program:
    """Build and check one random graph; returns it (with its count of comparisons)."""
    prog = Program(dtype, seed)
    try:
        return build_and_check(ch, prog)
    except AssertionError:
        raise
    except Exception as e:  # an unexpected error in either library: show the program that made it
        raise AssertionError(f"{e!r}\n{prog.describe()}") from e


def build_and_check(ch: Chooser, prog: Program) -> Program:
    dtype, seed = prog.dtype, prog.seed
    rng = np.random.default_rng(seed)
    profile = ch.int(0, 3)

    def gen(shape: tuple[int, ...]) -> np.ndarray:
        return values(ch, shape, dtype, profile, rng)

    for _ in range(ch.int(1, 2)):
        add_leaf(prog, gen(shape_of(ch)))
    for _ in range(ch.int(1, 6)):
        i = ch.int(max(0, len(prog.nodes) - 3), len(prog.nodes) - 1) if ch.coin(0.7) else ch.int(0, len(prog.nodes) - 1)
        ch.pick(WEIGHTED)(ch, prog, i, gen)
    scale = scale_of(prog, grads=False)
    tainted: set[int] = set()  # values downstream of one that was inf in one accumulation order and nan in another
    for k, n in enumerate(prog.nodes):
        if tainted.intersection(n.args):  # (FUZZ_SEED=244918: minimum(nan, -0) is nan, minimum(inf, -0) is -0)
            tainted.add(k)
            compare(prog, f"downstream value of n{k}", n.ours, n.same, n.ref, scale, scale, n.pert)
            continue
        was, prog.forward_ambiguous = prog.forward_ambiguous, False
        compare(prog, f"value of n{k}", n.ours, n.same, n.ref, scale, scale, n.pert, n.local)
        if prog.forward_ambiguous or signs_differ(prog, n, scale):
            # (the gradients then too: FUZZ_SEED=371582)
            prog.forward_ambiguous = True
            tainted.add(k)
        prog.forward_ambiguous |= was
    # outputs: the last node and maybe others that carry a gradient
    cands = [k for k, n in enumerate(prog.nodes) if n.ours.requires_grad and n.ours.dtype.kind == "f"]
    outs = sorted({len(prog.nodes) - 1} | {ch.pick(cands) for _ in range(ch.int(0, 2))} if cands else set())
    outs = [k for k in outs if prog.nodes[k].ours.requires_grad]
    if not outs:
        return prog
    ws = [np.random.default_rng(seed + k).standard_normal(prog.nodes[k].ours.shape).astype(
        prog.nodes[k].ours.dtype) for k in outs]
    mode = ch.pick(["backward", "grad"])
    prog.lines.append(f"differentiate sum(out * w) for outputs {[f'n{k}' for k in outs]} by {mode}")
    if mode == "backward":
        for m, (k, w) in enumerate(zip(outs, ws)):
            keep = m < len(outs) - 1
            node = prog.nodes[k]
            node.ours.backward(tg.Tensor(w), retain_graph=keep)
            node.same.backward(torch.from_numpy(w), retain_graph=keep)
            node.ref.backward(torch.from_numpy(w.astype(np.float64)), retain_graph=keep)
            node.pert.backward(torch.from_numpy(w.astype(np.float64)), retain_graph=keep)
            unalias_torch_grads(prog)
        gscale = cancellation_scale(prog, scale_of(prog, grads=True), scale, ws)
        for k in prog.leaves:
            n = prog.nodes[k]
            compare(prog, f"grad of n{k}", n.ours.grad, n.same.grad, n.ref.grad, gscale, max(scale, gscale),
                    n.pert.grad)
    else:
        leaves = [prog.nodes[k] for k in prog.leaves]
        go = [tg.Tensor(w) for w in ws]
        ours = autograd.grad([prog.nodes[k].ours for k in outs], [n.ours for n in leaves], go, allow_unused=True)
        same = torch.autograd.grad([prog.nodes[k].same for k in outs], [n.same for n in leaves],
                                   [torch.from_numpy(w) for w in ws], allow_unused=True)
        ref = torch.autograd.grad([prog.nodes[k].ref for k in outs], [n.ref for n in leaves],
                                  [torch.from_numpy(w.astype(np.float64)) for w in ws], allow_unused=True)
        perts = torch.autograd.grad([prog.nodes[k].pert for k in outs], [n.pert for n in leaves],
                                    [torch.from_numpy(w.astype(np.float64)) for w in ws], allow_unused=True)
        gscale = max([1.0] + [float(np.nanmax(np.abs(np.where(np.isfinite(g), g, 0)), initial=0))
                              for g in (r.numpy() for r in ref if r is not None)])
        gscale = cancellation_scale(prog, gscale, scale, ws)
        for k, o, s, r, pg in zip(prog.leaves, ours, same, ref, perts):
            compare(prog, f"autograd.grad of n{k}", o, s, r, gscale, max(scale, gscale), pg)
        assert all(n.ours.grad is None for n in leaves), "autograd.grad touched .grad"
    return prog


def cancellation_scale(prog: Program, gscale: float, scale: float, ws: list[np.ndarray]) -> float:
    """The scale a gradient's absolute tolerance is taken from: the gradients' own, or, when larger, what a few
    rounding errors of the largest value times the largest output weight amount to. Two contributions of that
    size that cancel (d/dx of (1e30 / x) * x: FUZZ_SEED=104754) leave only rounding noise, different in every
    order of evaluation. The same holds for the contributions a leaf or node accumulates from several paths: at
    x = 1e-30, d/dx of -x / x sends +-3e29 along two paths and 0.73 along a third (flatten), and whether the 0.73
    survives depends on the order the three are added in (torch: 0; ours: 0.73, exact: FUZZ_SEED=624834), so four
    rounding errors of the largest contribution (``prog.grad_flow``) are noise too."""
    single = prog.dtype == np.float32 or prog.has_float32
    rtol, eps = (2e-4, float(np.finfo(np.float32).eps)) if single else (1e-9, float(np.finfo(np.float64).eps))
    wmax = max([1.0] + [float(np.abs(w).max(initial=0)) for w in ws])
    # compare() takes rtol * this as the absolute tolerance
    return max(gscale, 4 * eps / rtol * scale * wmax, 4 * eps / rtol * prog.grad_flow)


def unalias_torch_grads(prog: Program) -> None:
    """Give every torch leaf a .grad of its own. torch 2.13 can leave several leaves' .grad as views of one
    array (stack of 0-d leaves, then the expanded gradient of a sum: FUZZ_SEED=41422), and the next backward's
    in-place accumulation then adds into all of them (README, Differences from PyTorch; ours is right there)."""
    for k in prog.leaves:
        for t in (prog.nodes[k].same, prog.nodes[k].ref, prog.nodes[k].pert):
            if t.grad is not None:
                t.grad = t.grad.clone()


# ---------------------------------------------------------------- the tests
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(data=st.data(), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_random_graphs_match_torch(dtype: type, data: Any, seed: int) -> None:
    run_program(Chooser(data), dtype, seed)


@pytest.mark.skipif("FUZZ_SEED" not in os.environ, reason="set FUZZ_SEED=<seed> to replay one seeded program")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_replay_seed(dtype: type) -> None:
    seed = int(os.environ["FUZZ_SEED"])
    run_program(Chooser(seed=seed), dtype, seed)


@pytest.mark.slow
@pytest.mark.skipif("FUZZ_MINUTES" not in os.environ, reason="the long run: set FUZZ_MINUTES (e.g. 20)")
def test_long_run() -> None:
    end = time.monotonic() + 60 * float(os.environ["FUZZ_MINUTES"])
    first = int(os.environ.get("FUZZ_FIRST_SEED", "0"))
    graphs = comparisons = ambiguous = unchecked = 0
    for seed in range(first, first + 10**9):
        if time.monotonic() > end:
            break
        for dtype in (np.float64, np.float32):
            prog = run_program(Chooser(seed=seed), dtype, seed)
            graphs, comparisons, ambiguous = graphs + 1, comparisons + prog.comparisons, \
                ambiguous + prog.overflow_ambiguous
            unchecked += prog.grads_unchecked
    print(f"\nfuzz long run: {graphs} graphs, {comparisons} comparisons (values, gradients, raise-or-not), "
          f"{ambiguous} elements left unchecked as overflow-order dependent, {unchecked} values and gradients compared "
          f"only in shape and dtype downstream of such a value; seeds {first}..{seed - 1}")
    assert graphs > 0
