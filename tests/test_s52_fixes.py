"""Found by the fifty-second stop's torch-style programs (a conformer, a Performer LM, GraphSAGE / GIN)."""
import copy

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
from tinygrad_adam.tensor import FitsError

torch = pytest.importorskip("torch", reason="torch is the reference these fixes are compared with")

INT_AND_FLOAT32 = ["uint8", "int8", "int16", "int32", "int64", "float32"]


@pytest.mark.parametrize("spelling, canonical", [("max", "amax"), ("min", "amin")])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_takes_max_and_min(spelling: str, canonical: str, include_self: bool) -> None:
    """torch's scatter_reduce takes "max" / "min" as "amax" / "amin" (ours raised ValueError); the values, the
    gradients (shared among ties) and the in-place form are those of the canonical name. torch's backward refuses
    the short names (README: Differences), so the gradients are compared with torch's under "amax" / "amin"."""
    a0 = [[0.5, -1.0, 2.0], [3.0, 3.0, -4.0]]
    s0 = [[2.0, 2.0, -7.0, 0.5], [3.0, 9.0, -4.0, 1.0]]
    i0 = [[0, 0, 1, 2], [1, 1, 2, 0]]
    results = {}
    for lib in (torch, tg):
        for name in (spelling, canonical):
            a = lib.tensor(a0, dtype=lib.float64, requires_grad=True)
            s = lib.tensor(s0, dtype=lib.float64, requires_grad=True)
            out = lib.scatter_reduce(a, 1, lib.tensor(i0), s, name, include_self=include_self)
            w = lib.arange(6, dtype=lib.float64).reshape(2, 3) + 1
            ga = gs = None
            if lib is tg or name == canonical:
                ga, gs = lib.autograd.grad((out * w).sum(), (a, s))
            inplace = a.detach().clone().scatter_reduce_(1, lib.tensor(i0), s.detach(), name,
                                                         include_self=include_self)
            results[lib.__name__, name] = [None if t is None else t.tolist() for t in (out, ga, gs, inplace)]
    assert results["tinygrad_adam", spelling] == results["tinygrad_adam", canonical] == results["torch", canonical]
    assert results["tinygrad_adam", spelling][::3] == results["torch", spelling][::3]  # the values, in place too


def test_index_select_matrix_index_is_an_index_error() -> None:
    """A 2-D index to index_select raises IndexError, as torch's (ours raised ValueError, which an
    ``except IndexError`` written against torch did not catch)."""
    for lib in (torch, tg):
        with pytest.raises(IndexError, match="vector"):
            lib.ones(3, 2).index_select(0, lib.tensor([[0, 1]]))


# ---------------------------------------------------------------- x[key] = value: what is written (an indexing fuzz)
def _write(lib, dtype: str, key: object, value: object) -> object:
    x = lib.zeros(3, dtype=getattr(lib, dtype))
    key = lib.tensor([True, False, True]) if key == "mask" else lib.tensor([0, 2]) if key == "index" else key
    value = value(lib) if callable(value) else value
    try:
        x[key] = value
    except RuntimeError:  # (ours: FitsError, a RuntimeError)
        return "RuntimeError"
    except ValueError:
        return "ValueError"
    return x.tolist()


@pytest.mark.parametrize("dtype, key, value", [
    ("uint8", "mask", lambda L: L.tensor(300)),  # torch's masked_fill_ reads the one value: it must fit
    ("uint8", "mask", lambda L: L.tensor([300])),
    ("int32", "mask", lambda L: L.tensor(float("nan"))),
    ("int32", "mask", lambda L: L.tensor(1e10)),
    ("float16", "mask", lambda L: L.tensor(1e10)),
    ("uint8", "mask", lambda L: L.tensor(-1)),  # (fits as its two's complement: 255, both)
    ("uint8", "mask", lambda L: L.tensor(7.5)),  # (truncated: 7, both)
    ("uint8", False, 300),  # torch reads the number although nothing is written
    ("int64", False, float("nan")),
    ("float32", 0, 1e39), ("float32", "index", 1e39), ("float32", "mask", 1e39),
    ("float16", 0, 1e39),  # (float16 takes float32's range and rounds to inf, as torch)
    ("bool", 0, 2 ** 63), ("float16", "mask", 2 ** 63), ("float64", slice(None), -2 ** 63 - 1),  # ints past int64
    ("float32", 0, 2 ** 62), ("int64", "index", -2 ** 63),
    ("uint8", 0, lambda L: L.tensor(300)),  # a basic key copies (torch's copy_: wrapped to 44, both)
])
def test_setitem_number_fits_as_torch(dtype: str, key: object, value: object) -> None:
    """A number written by indexing is checked as torch checks it: a value that does not fit an integer dtype or
    float32 raises (ours wrapped 300 into a uint8 mask write to 44 and nan into int32 to INT_MIN), also with a
    False key; a Python int past int64 raises ValueError for every dtype (ours wrote inf into float16)."""
    assert _write(tg, dtype, key, value) == _write(torch, dtype, key, value)


@given(values=st.lists(st.floats(-1e12, 1e12) | st.sampled_from([float("nan"), float("inf"), -1.0, 255.0, 256.0,
                                                                  -128.0, 2.0 ** 31, 7.9]), min_size=1, max_size=4),
       source=st.sampled_from(["float64", "float32", "int64"]), target=st.sampled_from(INT_AND_FLOAT32))
@settings(max_examples=150, deadline=None)
def test_setitem_through_an_index_converts_only_what_fits(values: list[float], source: str, target: str) -> None:
    """With an index array and a tensor of another dtype (torch refuses the dtype; ours converts it), every value
    must fit the tensor's dtype, as torch's one-value masked write checks it; else FitsError, never a wrapped or
    saturated number written."""
    arr = numpy.array(values, dtype=numpy.float64)
    if source == "int64":
        arr = arr[numpy.isfinite(arr)].astype(numpy.int64)
    arr = arr.astype(source)
    if arr.size == 0:
        return
    info = numpy.iinfo(target) if target != "float32" else numpy.finfo(target)
    real = arr[arr == arr].astype(numpy.float64)
    fits = (real.size == arr.size or target == "float32") and bool(
        ((real >= (-info.max if target.startswith("u") and source == "int64" else info.min)) & (real <= info.max)
         | ~numpy.isfinite(real) & (target == "float32")).all())
    x = tg.zeros(len(arr), dtype=getattr(tg, target))
    if not fits:
        with pytest.raises(FitsError):
            x[list(range(len(arr)))] = tg.tensor(arr)
        assert not x.any()
        return
    x[list(range(len(arr)))] = tg.tensor(arr)
    with numpy.errstate(all="ignore"):
        want = arr.astype(target) if not (target.startswith("u") and source == "int64") else \
            (arr % (int(info.max) + 1)).astype(target)
    numpy.testing.assert_array_equal(x.numpy(), want)


@pytest.mark.parametrize("shape, key, vshape", [((3,), 0, (1,)), ((3,), 0, (1, 1)), ((2, 2), (0, 0), (1, 1)),
                                                ((2, 3), 0, (1, 1, 3)), ((3, 3, 3), "mask", (1, 4)),
                                                ((3,), "index", (1, 1, 2))])
def test_setitem_drops_the_values_leading_ones(shape: tuple[int, ...], key: object,
                                               vshape: tuple[int, ...]) -> None:
    """``x[0] = ones(1)`` on a vector: torch leaves out the value's leading 1s before broadcasting (ours raised
    numpy's ValueError); values and both gradients as torch's."""
    got = {}
    for lib in (torch, tg):
        x = lib.zeros(shape, dtype=lib.float64, requires_grad=True)
        v = (lib.arange(numpy.prod(vshape), dtype=lib.float64) + 1).reshape(vshape).requires_grad_()
        k = key
        if key == "mask":
            k = (-1, lib.tensor([[True, True, False], [True, False, False], [False, False, True]]))
        elif key == "index":
            k = lib.tensor([0, 2])
        y = x * 1
        y[k] = v
        w = lib.arange(y.numel(), dtype=lib.float64).reshape(shape) + 2
        gx, gv = lib.autograd.grad((y * w).sum(), (x, v))
        got[lib.__name__] = [t.tolist() for t in (y, gx, gv)]
    assert got["tinygrad_adam"] == got["torch"]


@pytest.mark.parametrize("mask", [True, False])
@pytest.mark.parametrize("value", [(2.5, "float32", ()), (2.5, "float32", (1,)), (2.5, "float32", (1, 1)),
                                   (7, "int64", ()), (2.5, "float32", (2,)), (300, "int64", ()),
                                   (float("nan"), "float32", ())])
@pytest.mark.parametrize("target", ["float64", "uint8"])
@pytest.mark.parametrize("accumulate", [False, True])
def test_index_put_one_value_through_one_mask(mask: bool, value: tuple, target: str, accumulate: bool) -> None:
    """``index_put_((mask,), v)`` with one value of another dtype is torch's masked_fill_ (converted, checked to
    fit); other dtype mismatches refuse (ours refused all of them)."""
    got = []
    for lib in (torch, tg):
        x = lib.zeros(3, dtype=getattr(lib, target))
        idx = lib.tensor([True, False, True]) if mask else lib.tensor([0, 2])
        number, dtype, shape = value
        v = lib.full(shape, number, dtype=getattr(lib, dtype))
        try:
            got.append(str(x.index_put_((idx,), v, accumulate=accumulate).tolist()))  # (str: nan equals nan)
        except (RuntimeError, TypeError, ValueError):
            got.append("refused")
    assert got[1] == got[0]


def test_negative_slice_step_is_numpys_reversed_view() -> None:
    """Taken where torch refuses (README: Differences): ``x[::-k]`` reads numpy's reversed view, writes through it
    reach ``x``, and the gradient lands reversed."""
    base = numpy.arange(12.0).reshape(3, 4)
    x = tg.tensor(base.copy(), requires_grad=True)
    y = x[:, 3:0:-2]
    numpy.testing.assert_array_equal(y.detach().numpy(), base[:, 3:0:-2])
    (g,) = tg.autograd.grad((y * tg.tensor([[1.0, 2.0]])).sum(), x)
    want = numpy.zeros((3, 4))
    want[:, 3], want[:, 1] = 1.0, 2.0
    numpy.testing.assert_array_equal(g.numpy(), want)
    z = tg.zeros(5)
    z[::-2] = tg.tensor([10.0, 20.0, 30.0])
    assert z.tolist() == [30.0, 0.0, 20.0, 0.0, 10.0]
    r = z[::-1]
    r[0] = 7.0
    assert z[4].item() == 7.0


# ---------------------------------------------------------------- shape ops (a shape / view fuzz)
@given(n=st.integers(1, 5), cuts=st.lists(st.integers(-6, 6), min_size=1, max_size=4), w=st.integers(1, 9))
@settings(max_examples=100, deadline=None)
def test_tensor_split_overlapping_pieces_add_their_gradients(n: int, cuts: list[int], w: int) -> None:
    """Indices that go back (``tensor_split([2, 0])``) give pieces that share elements; each element's gradient is
    the sum over the pieces that hold it (ours kept one piece's: the shared gradient buffer of disjoint splits)."""
    got = []
    for lib in (torch, tg):
        x = lib.arange(float(n * 2)).reshape(n, 2).requires_grad_()
        pieces = x.tensor_split(cuts)
        loss = sum((p * (k * w + 1)).sum() for k, p in enumerate(pieces))
        (g,) = lib.autograd.grad(loss, x)
        got.append(g.tolist())
    assert got[1] == got[0]


def _reversed_zeros(lib, x):  # int64 zeros of x's shape, laid out in reverse
    return lib.zeros(tuple(reversed(x.shape)), dtype=lib.int64).permute(*reversed(range(x.ndim)))


LAYOUT_OPS = {
    "roll": lambda L, x: L.roll(x, 1, 0),
    "tril": lambda L, x: x.tril(),
    "triu": lambda L, x: x.triu(1),
    "cat": lambda L, x: L.cat([x, x]),
    "cat_mixed": lambda L, x: L.cat([x, x.contiguous()], 1),
    "stack": lambda L, x: L.stack([x, x]),
    "column_stack": lambda L, x: L.column_stack([x]),
    "rot90_0": lambda L, x: x.rot90(4),
    "rot90_1": lambda L, x: x.rot90(1),  # (torch's flip keeps the input's layout; then a transpose)
    "flip": lambda L, x: x.flip(0),
    "rot90_3": lambda L, x: x.rot90(-1),
    "gather": lambda L, x: x.gather(0, _reversed_zeros(L, x)),
    "take_along_dim": lambda L, x: L.take_along_dim(x, _reversed_zeros(L, x), 0),
    "index_select": lambda L, x: x.index_select(1, L.tensor([0, 2])),
    "repeat_interleave": lambda L, x: x.repeat_interleave(L.tensor([1, 2, 1, 1]), dim=1),
}
INPUTS = {
    "transposed": lambda L: L.arange(16.0).reshape(4, 4).t(),
    "sliced": lambda L: L.arange(32.0).reshape(4, 8)[:, ::2],
    "expanded": lambda L: L.arange(4.0).reshape(1, 4).expand(4, 4),
    "channels_last": lambda L: L.arange(64.0).reshape(1, 4, 4, 4).to(memory_format=L.channels_last)[0],
}


@pytest.mark.parametrize("op", sorted(LAYOUT_OPS))
@pytest.mark.parametrize("made", sorted(INPUTS))
def test_new_results_are_laid_out_as_torch(op: str, made: str) -> None:
    """roll, tril / triu, the cat family, rot90, gather / take_along_dim, index_select and repeat_interleave
    return torch's layout (row-major, or channels-last where torch keeps it), whatever the input's strides: ours
    followed a transposed or sliced input, so ``y.view(-1)`` copied and a write through it never reached ``y``."""
    got = []
    for lib in (torch, tg):
        y = LAYOUT_OPS[op](lib, INPUTS[made](lib))
        flat = y.view(-1) if y.is_contiguous() else None
        if flat is not None:
            flat[0] = -1.0
        got.append((y.stride(), y.is_contiguous(), y.tolist()))
    assert got[1] == got[0]


@pytest.mark.parametrize("shape, dim, sizes", [((2, 0), 0, [0]), ((2, 0), 0, [5, -1]), ((0, 3), 0, [1]),
                                               ((1,), 0, []), ((0, 3), 0, [0, -1]), ((4,), 0, [3, -1]),
                                               ((6, 0), 0, [2, -1]), ((0,), 0, [5, 0]), ((6, 2), -1, [-1])])
def test_unflatten_checks_the_sizes_on_empty_tensors(shape: tuple[int, ...], dim: int, sizes: list[int]) -> None:
    """unflatten's sizes must multiply to the dim's length, as torch checks; on a tensor with another dim of 0 the
    reshape alone did not see it (zeros(2, 0).unflatten(0, [0]) was (0, 0))."""
    got = []
    for lib in (torch, tg):
        try:
            got.append(tuple(lib.zeros(shape).unflatten(dim, sizes).shape))
        except (RuntimeError, ValueError):
            got.append("refused")
    assert got[1] == got[0]


def test_cat_of_0d_tensors_is_a_plain_error() -> None:
    """cat of 0-d tensors raised an internal IndexError (tuple index out of range); now a ValueError saying so."""
    with pytest.raises(ValueError, match="0-d"):
        tg.cat([tg.tensor(1.0), tg.tensor(2.0)])


@pytest.mark.parametrize("make", [lambda L: L.zeros(1).expand(0), lambda L: L.zeros(2, 1).expand(2, 0),
                                  lambda L: L.zeros(3)[2].expand(0)])
def test_filling_an_empty_expand_does_nothing(make) -> None:
    """fill_ / zero_ on an empty expand raised numpy's "assignment destination is read-only"; torch writes nothing."""
    for lib in (torch, tg):
        x = make(lib)
        assert tuple(x.fill_(7).shape) == tuple(x.zero_().shape) == tuple(make(lib).shape)


# ---------------------------------------------------------------- losses (a loss fuzz)
@pytest.mark.parametrize("name, key", [("binary_cross_entropy", "weight"),
                                       ("binary_cross_entropy_with_logits", "weight"),
                                       ("binary_cross_entropy_with_logits", "pos_weight")])
@pytest.mark.parametrize("wshape", [(2, 3), (3, 1), (3,), (1,), ()])
def test_bce_weights_do_not_grow_the_loss(name: str, key: str, wshape: tuple[int, ...]) -> None:
    """A weight / pos_weight that broadcasts the (3,) input up to (2, 3) or (3, 3) grew the loss (and its mean ran
    over the grown elements); torch refuses it, and so do we. Ones that fit give torch's values."""
    got = []
    for lib in (torch, tg):
        x, y = lib.tensor([0.3, 0.6, 0.9], dtype=lib.float64), lib.tensor([0.0, 1.0, 0.5], dtype=lib.float64)
        w = lib.arange(1, 1 + int(numpy.prod(wshape)), dtype=lib.float64).reshape(wshape)
        try:
            got.append(getattr(lib.nn.functional, name)(x, y, reduction="none", **{key: w}).tolist())
        except (RuntimeError, ValueError):
            got.append("refused")
    assert got[1] == pytest.approx(got[0]) if got[0] != "refused" else got[1] == "refused"


def test_triplet_margin_with_distance_gradient_at_the_hinge() -> None:
    """Where margin + d(a, p) - d(a, n) is exactly 0, torch's clamp_min passes the gradient (1) where ours, a relu,
    gave 0 (triplet_margin_loss itself already matched)."""
    got = []
    for lib in (torch, tg):
        a, p, n = (lib.tensor([[v]], dtype=lib.float64, requires_grad=True) for v in (0.0, 1.0, 3.0))
        loss = lib.nn.functional.triplet_margin_with_distance_loss(a, p, n, margin=1.0,
                                                                  distance_function=lambda u, v: (u - v).abs().sum(-1))
        got.append([t.tolist() for t in lib.autograd.grad(loss, (a, p, n))])
    assert got[1] == got[0]


@pytest.mark.parametrize("x, t", [(0.1, 0.1), (-1e30, -1e30), (1.0, 1.000000001), (3.0, 0.5)])
def test_huber_subtracts_a_wider_target_before_rounding(x: float, t: float) -> None:
    """huber_loss of a float32 input and a float64 target: torch subtracts in float64 and rounds the difference;
    ours rounded the target first (0.1 against 0.1 gave 0, torch 1.1e-18, the float64 value). (torch's backward
    refuses the two dtypes; ours differentiates: README.)"""
    got = []
    for lib in (torch, tg):
        loss = lib.nn.functional.huber_loss(lib.tensor([x], dtype=lib.float32), lib.tensor([t], dtype=lib.float64),
                                            reduction="sum")
        got.append((loss.item(), str(loss.dtype).split(".")[-1]))
    assert got[1] == got[0]


# ---------------------------------------------------------------- optimizers in sequences (an optimizer fuzz)
PAIRS = [(("ConstantLR", {"factor": 0.5, "total_iters": 2}), ("StepLR", {"step_size": 2, "gamma": 0.5})),
         (("ExponentialLR", {"gamma": 0.9}), ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2})),
         (("LinearLR", {"start_factor": 0.5, "total_iters": 3}), ("ExponentialLR", {"gamma": 0.8}))]


def _two_schedulers(lib, pair, resume_at: int, hand_set: bool = False) -> list:
    p = lib.tensor(numpy.array([1.0, -2.0]), requires_grad=True)

    def make():
        opt = lib.optim.SGD([p], lr=0.1, momentum=0.9)
        return opt, [getattr(lib.optim.lr_scheduler, name)(opt, **kw) for name, kw in pair]
    opt, scheds = make()
    lrs = []
    for epoch in range(7):
        p.grad = lib.tensor(numpy.array([0.5, -0.3]))
        opt.step()
        for s in scheds:
            s.step()
        if hand_set and epoch == resume_at:
            opt.param_groups[0]["lr"] = 0.1  # a user's own lr, set back to the starting one
        lrs.append(round(opt.param_groups[0]["lr"], 9))
        if epoch == resume_at:
            saved = [copy.deepcopy(x.state_dict()) for x in (opt, *scheds)]
            opt, scheds = make()
            opt.load_state_dict(saved[0])
            for s, state in zip(scheds, saved[1:]):
                s.load_state_dict(state)
            lrs.append(round(opt.param_groups[0]["lr"], 9))
    return lrs + p.tolist()


@pytest.mark.parametrize("pair", PAIRS, ids=lambda pair: f"{pair[0][0]}+{pair[1][0]}")
@pytest.mark.parametrize("resume_at", [0, 1, 2, 4])
@pytest.mark.parametrize("hand_set", [False, True])
def test_scheduler_resume_keeps_the_loaded_lrs(pair: tuple, resume_at: int, hand_set: bool) -> None:
    """Optimizer and schedulers loaded into fresh ones: a scheduler's load moved the lrs back to its own whenever
    the loaded ones happened to equal the fresh scheduler's, so two schedulers stepped together (torch's documented
    pattern) or an lr set by hand resumed at another lr (ConstantLR + StepLR ran 2x too high for the rest of the
    run). Where the optimizer's state was loaded, its lrs stand, as torch's."""
    want = _two_schedulers(torch, pair, resume_at, hand_set)
    assert _two_schedulers(tg, pair, resume_at, hand_set) == pytest.approx(want, rel=1e-13)  # (the lrs to 1e-9)


def test_a_scheduler_only_resume_still_continues_at_the_schedules_lr() -> None:
    """The documented help (README: Differences) stands where no optimizer state was loaded."""
    p = tg.zeros(2, requires_grad=True)
    opt = tg.optim.SGD([p], lr=0.1)
    sched = tg.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        opt.step()
        sched.step()
    state = copy.deepcopy(sched.state_dict())
    fresh = tg.optim.SGD([p], lr=0.1)
    tg.optim.lr_scheduler.StepLR(fresh, step_size=1, gamma=0.5).load_state_dict(state)
    assert fresh.param_groups[0]["lr"] == pytest.approx(0.0125)


def test_lbfgs_refuses_a_second_group() -> None:
    """LBFGS took add_param_group, never stepped the new group and left it out of its state_dict; torch's next step
    raises. Ours refuses the group itself."""
    opt = tg.optim.LBFGS([tg.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match="single parameter group"):
        opt.add_param_group({"params": [tg.zeros(2, requires_grad=True)]})
    assert len(opt.param_groups) == 1
