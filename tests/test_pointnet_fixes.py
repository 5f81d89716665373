"""What the PointNet program (``tests/torch_style/pointnet.py``) and the PointNet++ helpers around it needed, against
torch 2.13: ``x.repeat(...)`` is new memory, as torch's. It was a broadcast view reshaped, so wherever numpy could
express the tiles as a view (``arange(N).view(1, 1, N).repeat([B, S, 1])``, ``a.repeat(3, 1)`` of a (1, n) ``a``,
any ``repeat(1, ..., 1)``) the result was a read-only window on ``a``'s memory: PointNet++'s ``query_ball_point``
(``group_idx[sqrdists > radius ** 2] = N``) raised "assignment destination is read-only", and a later in-place write
into ``a`` silently changed the repeated tensor. Values, dtypes, gradients and second-order gradients are compared
with torch's (nan, inf, -0.0, empty and 0-d tensors among them). And ``print(model.load_state_dict(checkpoint))``
prints torch's text ("<All keys matched successfully>", or ``_IncompatibleKeys(missing_keys=..., ...)``); a state
dict without BatchNorm's ``num_batches_tracked`` (fxia22's checkpoints predate torch 0.4.1, which added it) loads
with strict=True, each count kept, as torch's (it raised "missing keys")."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_higher_order_grad import DTYPES, second_order, small_arrays, typed
from test_torch_movement_names import arrays

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


@st.composite
def array_and_sizes(draw: Any, elements: Any = None) -> tuple[np.ndarray, tuple[int, ...]]:
    """An array (0 to 3 dims, sides 0 to 4, nan / inf / -0.0 among the values) and repeat sizes for it: one per dim,
    maybe with up to 2 leading extra ones, each 0 to 3 (1 often)."""
    a = draw(arrays(elements=elements))
    count = a.ndim + draw(st.integers(0 if a.ndim else 1, 2))
    return a, tuple(draw(st.lists(st.sampled_from([1, 1, 0, 2, 3]), min_size=count, max_size=count)))


@settings(max_examples=60, deadline=None)
@given(case=array_and_sizes(), dtype=st.sampled_from([np.float64, np.float32, np.int64, np.bool_]))
def test_repeat_matches_torch_and_owns_its_memory(case: tuple[np.ndarray, tuple[int, ...]], dtype: Any) -> None:
    a, sizes = case
    a = np.nan_to_num(a).astype(dtype) if np.dtype(dtype).kind in "ib" else typed(a, dtype)
    ours, theirs = tg.tensor(a), torch.tensor(a)
    got, want = ours.repeat(*sizes), theirs.repeat(*sizes)
    assert tuple(got.shape) == tuple(want.shape) and got.dtype == a.dtype
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(ours.repeat(list(sizes)).numpy(), want.numpy())  # a list, as PointNet++'s
    before = want.numpy().copy()
    ours.zero_()  # a write into the source after the repeat leaves the repeated tensor alone
    np.testing.assert_array_equal(got.numpy(), before)
    if got.numel():
        got.view(-1)[0] = 1  # and the repeated tensor can be written, leaving the source alone
        assert not ours.numpy().any()


@settings(max_examples=40, deadline=None)
@given(case=array_and_sizes(elements=st.floats(-4, 4) | st.sampled_from([0.0, -0.0, np.inf, np.nan])),
       dtype=DTYPES)
def test_repeat_gradients_match_torch(case: tuple[np.ndarray, tuple[int, ...]], dtype: Any) -> None:
    """First and second order (create_graph=True differentiates through the new node): each tile's gradient
    summed back."""
    a, sizes = case
    second_order(lambda lib, x: x.repeat(*sizes) * x.repeat(*sizes).sin(), typed(a, dtype))


@settings(max_examples=20, deadline=None)
@given(x=small_arrays(min_dims=2, max_dims=2, min_side=1))
def test_repeat_of_a_computed_tensor_then_written_in_place(x: np.ndarray) -> None:
    """The repeated tensor written in place (``iden = ...repeat(b, 1)`` then ``iden += ...``) differentiates as
    torch's."""
    results = []
    for lib in (torch, tg):
        t = lib.tensor(x, requires_grad=True)
        tiled = (t * 2).repeat(2, 1)
        tiled[0] += t[0] * 3
        (tiled * tiled).sum().backward()
        results.append((tiled.detach().numpy(), t.grad.numpy()))
    for got, want in zip(results[1], results[0]):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9, equal_nan=True)


def query_ball_point(lib: Any, radius: float, nsample: int, xyz: Any, new_xyz: Any) -> Any:
    """PointNet++'s ball query, as yanx27/Pointnet_Pointnet2_pytorch writes it."""
    B, N, _ = xyz.shape
    _, S, _ = new_xyz.shape
    group_idx = lib.arange(N, dtype=lib.long).to(xyz.device).view(1, 1, N).repeat([B, S, 1])
    sqrdists = (-2 * lib.matmul(new_xyz, xyz.permute(0, 2, 1)) + lib.sum(new_xyz ** 2, -1).view(B, S, 1)
                + lib.sum(xyz ** 2, -1).view(B, 1, N))
    group_idx[sqrdists > radius ** 2] = N
    group_idx = group_idx.sort(dim=-1)[0][:, :, :nsample]
    group_first = group_idx[:, :, 0].view(B, S, 1).repeat([1, 1, nsample])
    mask = group_idx == N
    group_idx[mask] = group_first[mask]
    return group_idx


def test_pointnet2_ball_query_writes_into_a_repeat() -> None:
    xyz = np.random.default_rng(0).normal(size=(2, 16, 3))
    got = query_ball_point(tg, 1.5, 5, tg.tensor(xyz), tg.tensor(xyz[:, :4]))
    want = query_ball_point(torch, 1.5, 5, torch.tensor(xyz), torch.tensor(xyz[:, :4]))
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_the_identity_repeat_is_a_copy() -> None:
    """STN3d's ``iden = Variable(...).view(1, 9).repeat(batchsize, 1)``, written afterwards, as torch's."""
    source = tg.autograd.Variable(tg.from_numpy(np.eye(3, dtype=np.float32).ravel())).view(1, 9)
    iden = source.repeat(4, 1)
    iden[:, 0] += 1.0
    source.mul_(0)
    np.testing.assert_array_equal(iden.numpy()[:, :4], [[2, 0, 0, 0]] * 4)


@settings(max_examples=20, deadline=None)
@given(drop=st.lists(st.sampled_from(["conv.weight", "conv.bias", "bn.running_mean", "bn.num_batches_tracked"]),
                     unique=True), extra=st.lists(st.sampled_from(["fc.weight", "bn.extra"]), max_size=1))
def test_load_state_dict_prints_as_torch(drop: list[str], extra: list[str]) -> None:
    """(One unexpected key at most: torch lists them module by module, ours in the dict's order.)"""
    printed = []
    for lib in (torch, tg):
        torch.manual_seed(0)
        model = lib.nn.Module()
        model.conv, model.bn = lib.nn.Conv1d(3, 4, 1), lib.nn.BatchNorm1d(4)
        state = {k: v for k, v in model.state_dict().items() if k not in drop}
        state.update({k: lib.zeros(2) for k in extra})
        result = model.load_state_dict(state, strict=False)
        printed.append((repr(result), str(result), f"{result}", result.missing_keys, result.unexpected_keys))
    assert printed[1] == printed[0]


@pytest.mark.parametrize("norm", ["BatchNorm1d", "BatchNorm2d", "SyncBatchNorm"])
def test_a_checkpoint_without_num_batches_tracked_loads_as_in_torch(norm: str) -> None:
    counts = []
    for lib in (torch, tg):
        model = lib.nn.Sequential(lib.nn.Linear(2, 3), getattr(lib.nn, norm)(3))
        model[1].num_batches_tracked += 5
        old = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
        copied = copy.deepcopy(model)  # (the hook follows the copy, not the original)
        copied[1].num_batches_tracked += 2
        loaded = model.load_state_dict(old), copied.load_state_dict(old)
        assert [repr(r) for r in loaded] == ["<All keys matched successfully>"] * 2
        counts.append((model[1].num_batches_tracked.item(), copied[1].num_batches_tracked.item()))
    assert counts[1] == counts[0] == (5, 7)


@pytest.mark.gpu
def test_repeat_on_the_gpu_matches_the_cpu() -> None:
    results = []
    for device in ("cpu", "cuda"):
        x = tg.tensor(np.arange(6.0).reshape(1, 2, 3), device=device, requires_grad=True)
        out = x.repeat(2, 1, 1, 2)
        (out * tg.arange(out.numel(), device=device).view(out.shape)).sum().backward()
        assert out.device.type == device
        results.append([t.detach().cpu().numpy() for t in (out, x.grad)])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
