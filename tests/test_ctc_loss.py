"""F.ctc_loss and nn.CTCLoss against torch 2.13: losses, dtypes, shapes and gradients for random batches (T, N, C,
blank, input and target lengths including 0, repeated labels that need a blank between them, targets too long
for their input (inf losses) with and without zero_infinity), padded and concatenated targets, unbatched input,
lengths as Tensors of several integer dtypes or as tuples, every reduction, float32 and float64.

Gradients are compared two ways: through ``log_softmax`` of a leaf (the usual use), and w.r.t. log_probs that are
a leaf themselves, normalised or not (there torch's gradient is exp(lp) - occupancy, the gradient through a
log_softmax rather than d loss / d lp; ours is the same formula). Inputs include -inf log-probabilities (where
torch's gradient is nan), nan and +inf.

torch reads out of bounds for labels outside [0, C) and computes something for labels equal to the blank; both
raise here (``test_refused``), as do float targets, which torch truncates.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_torch_movement_names import raises

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F
from tinygrad_adam import nn

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
TF = torch.nn.functional

REDUCTIONS = ["none", "mean", "sum"]
LENGTH_DTYPES = [np.int64, np.int32, np.int16, np.uint8]
SPECIAL = st.sampled_from([-np.inf, np.nan, np.inf, -0.0, 0.0, 60.0, -60.0, -1e30])


@st.composite
def cases(draw: Any, specials: bool = False) -> dict[str, Any]:
    """One ctc_loss call: log-probability source x (T, N, C) or (T, C), targets, lengths and options."""
    t_max, n, c = draw(st.integers(1, 7)), draw(st.integers(1, 4)), draw(st.integers(2, 6))
    blank = draw(st.integers(0, c - 1))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    unbatched = n == 1 and draw(st.booleans())
    labels = [k for k in range(c) if k != blank]
    alphabet = labels[:draw(st.integers(1, len(labels)))]  # a small alphabet makes repeated labels common
    tl = [draw(st.integers(0, t_max + 1)) for _ in range(n)]  # L > T (or 2L - repeats > T) has an inf loss
    il = [draw(st.one_of(st.just(t_max), st.integers(0, t_max))) for _ in range(n)]
    seqs = [[draw(st.sampled_from(alphabet)) for _ in range(k)] for k in tl]
    if draw(st.booleans()):  # concatenated
        targets = np.array([v for s in seqs for v in s], dtype=np.int64)
    else:
        width = max(tl) + draw(st.integers(0, 2))
        pad = draw(st.sampled_from([0, -1, blank, c + 3]))  # never read
        targets = np.array([s + [pad] * (width - len(s)) for s in seqs], dtype=np.int64).reshape(n, width)
    if unbatched and targets.ndim == 1 and draw(st.booleans()):
        targets = targets[None]  # (1, S): accepted for an unbatched input too
    targets = targets.astype(draw(st.sampled_from([np.int64, np.int32, np.int16])))
    x = np.asarray(draw(st.lists(st.floats(-4, 4), min_size=t_max * n * c, max_size=t_max * n * c)))
    x = (x * draw(st.sampled_from([1.0, 5.0]))).reshape(t_max, n, c)
    if specials:
        for _ in range(draw(st.integers(1, 3))):
            x[draw(st.integers(0, t_max - 1)), draw(st.integers(0, n - 1)), draw(st.integers(0, c - 1))] = draw(SPECIAL)
    return {"x": x[:, 0] if unbatched else x, "dtype": dtype, "targets": targets, "il": il, "tl": tl,
            "blank": blank, "as_tensors": draw(st.booleans()), "length_dtype": draw(st.sampled_from(LENGTH_DTYPES)),
            "reduction": draw(st.sampled_from(REDUCTIONS)), "zero_infinity": draw(st.booleans())}


def run(lib: Any, case: dict[str, Any], source: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The loss and the leaf's gradient under a fixed upstream gradient. ``source``: "softmax" (log_softmax of the
    leaf), "normalised" (the leaf holds log_softmax values) or "raw" (the leaf is used as log-probabilities)."""
    x = case["x"].astype(case["dtype"])
    if source == "normalised":
        x = torch.tensor(x).log_softmax(-1).numpy()
    leaf = lib.tensor(x, requires_grad=True)
    lp = leaf.log_softmax(-1) if source == "softmax" else leaf
    il, tl = case["il"], case["tl"]
    if case["as_tensors"]:
        ldt = case["length_dtype"]
        il = lib.tensor(np.array(il, dtype=ldt).reshape(() if case["x"].ndim == 2 else -1))
        tl = lib.tensor(np.array(tl, dtype=ldt).reshape(() if case["x"].ndim == 2 else -1))
    else:
        il, tl = tuple(il), tuple(tl)
    fn = TF.ctc_loss if lib is torch else F.ctc_loss
    loss = fn(lp, lib.tensor(case["targets"]), il, tl, blank=case["blank"], reduction=case["reduction"],
              zero_infinity=case["zero_infinity"])
    upstream = np.cos(np.arange(int(np.prod(loss.shape))) + 1.0).reshape(tuple(loss.shape)).astype(case["dtype"])
    (loss * lib.tensor(upstream)).sum().backward()
    value = loss.detach().numpy() if lib is torch else loss.numpy()
    return value, leaf.grad.numpy()


def compare(case: dict[str, Any], source: str) -> None:
    theirs, ours = run(torch, case, source), run(tg, case, source)
    tol = 1e-9 if case["dtype"] == np.float64 else 2e-4
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True)


@settings(max_examples=250, deadline=None)
@given(cases(), st.sampled_from(["softmax", "normalised", "raw"]))
def test_matches_torch(case: dict[str, Any], source: str) -> None:
    compare(case, source)


@settings(max_examples=150, deadline=None)
@given(cases(specials=True), st.sampled_from(["softmax", "normalised", "raw"]))
def test_matches_torch_with_inf_and_nan(case: dict[str, Any], source: str) -> None:
    compare(case, source)


def test_hand_cases() -> None:
    """A repeated label needs T >= 2L - 1 ... exactly: "aa" fits in T = 3 (a, blank, a) but not in T = 2; an empty
    target with T = 0 has loss -0 (torch's), a non-empty one inf; zero_infinity zeroes that loss and its gradient."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 4))
    base = {"x": x, "dtype": np.float64, "targets": np.array([[1, 1], [1, 1], [2, 3], [1, 0], [0, 0]]),
            "il": [3, 2, 2, 0, 0], "tl": [2, 2, 2, 1, 0], "blank": 0, "as_tensors": True, "length_dtype": np.int64}
    for reduction in REDUCTIONS:
        for zero_infinity in (False, True):
            for source in ("softmax", "raw"):
                compare({**base, "reduction": reduction, "zero_infinity": zero_infinity}, source)
    losses = F.ctc_loss(tg.tensor(x).log_softmax(-1), base["targets"], base["il"], base["tl"], reduction="none")
    assert np.isfinite(losses.numpy()[[0, 2]]).all() and np.isinf(losses.numpy()[[1, 3]]).all()
    assert losses.numpy()[4] == 0 and np.signbit(losses.numpy()[4])


def test_module() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 2, 5)).astype(np.float32)
    targets, il, tl = np.array([1, 2, 2, 4, 3]), (6, 4), (4, 1)
    m = nn.CTCLoss(blank=0, reduction="sum", zero_infinity=True)
    assert (m.blank, m.reduction, m.zero_infinity) == (0, "sum", True)
    ours = m(tg.tensor(x).log_softmax(2), tg.tensor(targets), il, tl)
    theirs = torch.nn.CTCLoss(reduction="sum", zero_infinity=True)(torch.tensor(x).log_softmax(2),
                                                                   torch.tensor(targets), il, tl)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    default = nn.CTCLoss()
    assert (default.blank, default.reduction, default.zero_infinity) == (0, "mean", False)
    with pytest.raises(ValueError, match="reduction"):
        nn.CTCLoss(reduction="batchmean")
    assert "ctc_loss" in F.__all__ and "CTCLoss" in nn.__all__


def test_no_grad_and_targets_on_the_side() -> None:
    """Without a graph nothing is recorded; targets given as a numpy array work as a Tensor does."""
    x = tg.tensor(np.log(np.full((4, 1, 3), 1 / 3)), requires_grad=True)
    with tg.no_grad():
        out = F.ctc_loss(x, np.array([[1, 2]]), [4], [2], reduction="none")
    assert not out.requires_grad
    np.testing.assert_allclose(out.numpy(), TF.ctc_loss(torch.tensor(x.numpy()), torch.tensor([[1, 2]]), [4], [2],
                                                        reduction="none").numpy())


LP = np.log(np.full((5, 2, 4), 0.25))
PADDED = np.array([[1, 2, 2], [3, 0, 0]])


@pytest.mark.parametrize("call", [
    lambda lib, lp: lib_f(lib)(lp, t(lib, PADDED), [5, 4], [3, 1], blank=4),  # blank out of range
    lambda lib, lp: lib_f(lib)(lp, t(lib, PADDED), [5, 4], [3, 1], blank=-1),
    lambda lib, lp: lib_f(lib)(lp, t(lib, PADDED), [6, 4], [3, 1]),  # input length > T
    lambda lib, lp: lib_f(lib)(lp, t(lib, PADDED), [-1, 4], [3, 1]),
    lambda lib, lp: lib_f(lib)(lp, t(lib, PADDED), [5, 4], [-1, 1]),
    lambda lib, lp: lib_f(lib)(lp, t(lib, PADDED), [5, 4], [4, 1]),  # target length > padded width
    lambda lib, lp: lib_f(lib)(lp, t(lib, PADDED), [5], [3, 1]),  # one length per sample
    lambda lib, lp: lib_f(lib)(lp, t(lib, PADDED), [5, 4], [3, 1, 1]),
    lambda lib, lp: lib_f(lib)(lp, t(lib, PADDED[:1]), [5, 4], [3, 1]),  # padded targets of another batch
    lambda lib, lp: lib_f(lib)(lp, t(lib, np.array([1, 2, 2, 3, 1])), [5, 4], [3, 1]),  # concatenated, too long
    lambda lib, lp: lib_f(lib)(lp, t(lib, np.array([1, 2, 2])), [5, 4], [3, 1]),  # too short
    lambda lib, lp: lib_f(lib)(lp, t(lib, PADDED[None]), [5, 4], [3, 1]),  # 3-d targets
    lambda lib, lp: lib_f(lib)(lp, t(lib, np.array(1)), [5, 4], [3, 1]),  # 0-d targets
    lambda lib, lp: lib_f(lib)(lp, t(lib, PADDED), lib.tensor([5.0, 4.0]), lib.tensor([3, 1])),  # float lengths
    lambda lib, lp: lib_f(lib)(lp, t(lib, PADDED), lib.tensor([True, True]), lib.tensor([1, 1])),  # bool lengths
    lambda lib, lp: lib_f(lib)(lp, t(lib, PADDED), lib.tensor([5, 4]), (3, 1)),  # a Tensor with a tuple
    lambda lib, lp: lib_f(lib)(lp, t(lib, PADDED), (5.0, 4), (3, 1)),  # float in a tuple
    lambda lib, lp: lib_f(lib)(lp, t(lib, PADDED), (True, True), (1, 1)),
    lambda lib, lp: lib_f(lib)(lp[:, 0], t(lib, np.array([1, 2])), 5, 2),  # plain ints
    lambda lib, lp: lib_f(lib)(lp[:, 0], t(lib, np.array([1, 2, 0])), [5], [2]),  # unbatched 1-d target padded
    lambda lib, lp: lib_f(lib)(lp[:, 0, 0], t(lib, np.array([1])), [5], [1]),  # 1-d log_probs
    lambda lib, lp: lib_f(lib)(lp[None], t(lib, PADDED), [5, 4], [3, 1]),  # 4-d log_probs
    lambda lib, lp: lib_f(lib)(lp[:0], t(lib, PADDED), [0, 0], [0, 0]),  # empty
    lambda lib, lp: lib_f(lib)(lp[:, :0], t(lib, PADDED[:0]), [], []),
    lambda lib, lp: lib_f(lib)(lp[:, :, :0], t(lib, PADDED), [5, 4], [0, 0]),
    lambda lib, lp: lib_f(lib)(lp.long(), t(lib, PADDED), [5, 4], [3, 1]),  # integer log_probs
    lambda lib, lp: lib_f(lib)(lp.half(), t(lib, PADDED), [5, 4], [3, 1]),
    lambda lib, lp: lib_f(lib)(lp, t(lib, PADDED), [5, 4], [3, 1], reduction="batchmean"),
])
def test_errors_as_torch(call: Any) -> None:
    raises(lambda lib: call(lib, lib.tensor(LP)))


def lib_f(lib: Any) -> Any:
    return TF.ctc_loss if lib is torch else F.ctc_loss


def t(lib: Any, a: np.ndarray) -> Any:
    return lib.tensor(a)


@pytest.mark.parametrize(("targets", "error"), [
    (np.array([[1, 0, 2], [3, 0, 0]]), ValueError),  # a label equal to the blank (torch computes something)
    (np.array([[1, 4, 2], [3, 0, 0]]), IndexError),  # >= C (torch reads out of bounds)
    (np.array([[1, -2, 2], [3, 0, 0]]), IndexError),
    (np.array([[1.0, 2, 2], [3, 0, 0]]), TypeError),  # float targets (torch truncates them to int64)
    (np.array([[True, True, True], [True, False, False]]), TypeError),
])
def test_refused(targets: np.ndarray, error: type) -> None:
    """What torch accepts but answers wrongly or undefinedly raises here, naming the problem."""
    with pytest.raises(error, match="ctc_loss"):
        F.ctc_loss(tg.tensor(LP), tg.tensor(targets), [5, 4], [3, 1])
    assert F.ctc_loss(tg.tensor(LP), tg.tensor(np.array([[1, 2, 2], [3, -5, 9]])), [5, 4], [3, 1]).numpy().shape == ()


def test_write_before_backward_raises() -> None:
    x = tg.tensor(LP.copy(), requires_grad=True)
    lp = x * 1
    loss = F.ctc_loss(lp, tg.tensor(PADDED), [5, 4], [3, 1])
    with tg.no_grad():
        lp.add_(1)
    with pytest.raises(RuntimeError, match="in-place"):
        loss.backward()


def test_inf_blank_with_empty_target() -> None:
    """An empty target's loss is -alpha[T-1, 0] itself (torch's), so lp[., blank] = +inf gives -inf, not nan."""
    x = np.zeros((2, 2, 3))
    x[0, 1, 0] = np.inf
    compare({"x": x, "dtype": np.float64, "targets": np.zeros((2, 0), dtype=np.int64), "il": [2, 1], "tl": [0, 0],
             "blank": 0, "as_tensors": False, "length_dtype": np.int64, "reduction": "none", "zero_infinity": False},
            "raw")


def gpu_program(device: str) -> list[Any]:
    rng = np.random.default_rng(3)
    x = tg.tensor(rng.standard_normal((6, 3, 5)).astype(np.float32), device=device, requires_grad=True)
    padded = tg.tensor(np.array([[1, 2, 2, 4], [3, 3, 0, 0], [1, 0, 0, 0]]), device=device)
    il, tl = tg.tensor([6, 2, 5], device=device), tg.tensor([4, 2, 1], device=device)
    lp = x.log_softmax(2)
    outs = [F.ctc_loss(lp, padded, il, tl, reduction=r, zero_infinity=z) for r in REDUCTIONS for z in (False, True)]
    outs += [F.ctc_loss(x, tg.tensor([1, 2, 2, 4, 3, 3, 1]), (6, 2, 5), (4, 2, 1), blank=0, reduction="none",
                        zero_infinity=True),  # raw log_probs; concatenated targets from the host, as torch allows
             nn.CTCLoss(blank=4)(lp[:, 0], tg.tensor([1, 2, 2, 3], device=device), [6], [4])]
    sum((o * (i + 1)).sum() for i, o in enumerate(outs)).backward()
    return [*outs, x.grad]


@pytest.mark.gpu
def test_gpu_matches_cpu() -> None:
    for a, b in zip(gpu_program("cpu"), gpu_program("cuda"), strict=True):
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


def test_last_step_collects_only_the_path_ends() -> None:
    """At each sample's last step torch collects alpha beta at the last blank and label only: an early label with
    lp = +inf there (alpha +inf, beta -inf) gets exp(lp) = inf as its gradient, not nan."""
    x = np.log(np.full((3, 1, 4), 0.25))
    x[2, 0, 1] = np.inf
    compare({"x": x, "dtype": np.float64, "targets": np.array([[1, 2]]), "il": [3], "tl": [2], "blank": 0,
             "as_tensors": True, "length_dtype": np.int64, "reduction": "sum", "zero_infinity": False}, "raw")
