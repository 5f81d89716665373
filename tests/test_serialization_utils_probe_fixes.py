"""Fixes found by the serialization + nn.utils probe (``save`` / ``load`` and ``nn.utils`` against torch): the total
norm of clip_grad_norm_ / get_total_norm (any norm_type, torch's float32 overflow, the promoted dtype), save / load
of Parameters, shared storages, OrderedDicts and keys, vector_to_parameters' lengths, torch's error families, and
``nn.utils.fusion`` / ``skip_init`` / ``convert_conv2d_weight_memory_format``."""

from __future__ import annotations

import collections
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
pytest.importorskip("torch.nn.utils.fusion")  # (torch's submodules load on import)
pytest.importorskip("torch.nn.utils.parametrize")
pytest.importorskip("torch.nn.utils.prune")

SETTINGS = settings(max_examples=25, deadline=None)
ELEMENTS = st.floats(-1e3, 1e3, width=32) | st.sampled_from([0.0, -0.0, 1e-30, -1e-25, 3e19, -1e20, 1e38])


def grads(dtype: Any) -> st.SearchStrategy[list[np.ndarray]]:
    """One to three gradients: 0-d, empty and small arrays with extreme values (squares that overflow or
    underflow float32)."""
    one = hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4), elements=ELEMENTS)
    return st.lists(one, min_size=1, max_size=3)


def run(lib: Any, fn: Any) -> Any:
    """``fn(lib)``, or the exception's family where it raises."""
    try:
        return fn(lib)
    except (RuntimeError, ValueError, TypeError, IndexError) as e:
        return RuntimeError if isinstance(e, RuntimeError) else type(e)


def same(ours: Any, theirs: Any, rtol: float = 1e-5, atol: float = 1e-30) -> None:
    """Equal values, dtypes and shapes (exception families and None compared by identity)."""
    if isinstance(theirs, type) or theirs is None:
        assert ours is theirs
        return
    if isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            same(a, b, rtol, atol)
        return
    a, b = ours.detach().numpy(), theirs.detach().numpy()
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=rtol, atol=atol)


# ---------------------------------------------------------------------- the total norm
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@SETTINGS
@given(gs=grads(np.float32) | grads(np.float64),
       norm_type=st.sampled_from([2.0, 1.0, 3.0, 0.5, 0.0, -1.0, float("inf"), float("-inf"), "inf"]),
       max_norm=st.sampled_from([0.0, 0.5, 1e3, -1.0]))
@example(gs=[np.array([1e20, -3e20], np.float32)], norm_type=2.0, max_norm=1.0)  # squares overflow: inf in torch
@example(gs=[np.array([1e-30, 1e-30], np.float32)], norm_type=2.0, max_norm=1.0)  # squares underflow: 0 in torch
def test_clip_grad_norm_any_norm_type_and_float32_overflow(gs: list[np.ndarray], norm_type: Any,
                                                           max_norm: float) -> None:
    """norm_type < 1 (quasi-norms, 0 the count of non-zeros, -inf the smallest |g|) raised ValueError; float32
    squares that overflow gave a finite norm (float64 sums) where torch's is inf and zeroes the gradients. A
    negative max_norm is refused here (torch flips the gradients' sign: README's Differences)."""
    def program(lib: Any) -> Any:
        ps = []
        for g in gs:
            p = lib.zeros(g.shape, dtype=getattr(lib, str(g.dtype)), requires_grad=True)
            p.grad = lib.tensor(g.copy())
            ps.append(p)
        total = lib.nn.utils.clip_grad_norm_(ps, max_norm, norm_type)
        return [total] + [p.grad for p in ps]

    if max_norm < 0:
        with pytest.raises(ValueError, match="invalid max_norm"):
            program(tg)
        return
    same(run(tg, program), run(torch, program), rtol=2e-5)


@SETTINGS
@given(first=st.sampled_from(["float16", "float32", "float64"]), second=st.sampled_from(["float16", "float32"]))
def test_total_norm_dtype_is_the_promoted_dtype(first: str, second: str) -> None:
    """The total norm was in the first gradient's dtype (float16 for float16 and float32 gradients); torch stacks the
    per-tensor norms, so it is their promoted dtype."""
    def program(lib: Any) -> Any:
        ts = [lib.tensor([1.0, 2.0], dtype=getattr(lib, first)), lib.tensor([3.0], dtype=getattr(lib, second))]
        ps = [lib.zeros(2, dtype=ts[0].dtype, requires_grad=True), lib.zeros(1, dtype=ts[1].dtype, requires_grad=True)]
        ps[0].grad, ps[1].grad = ts[0].clone(), ts[1].clone()
        return [lib.nn.utils.get_total_norm(ts), lib.nn.utils.clip_grad_norm_(ps, 1.0)]

    same(run(tg, program), run(torch, program), rtol=1e-3)


def test_get_total_norm_of_integers_is_a_runtime_error() -> None:
    for lib in (tg, torch):
        with pytest.raises(RuntimeError):
            lib.nn.utils.get_total_norm([lib.tensor([1, 2])])


# ---------------------------------------------------------------------- save / load
def round_trip(lib: Any, obj: Any) -> Any:
    buf = io.BytesIO()
    lib.save(obj, buf)
    buf.seek(0)
    return lib.load(buf)


@SETTINGS
@given(a=hnp.arrays(st.sampled_from([np.float32, np.float64, np.float16, np.int64, np.uint8, np.bool_]),
                    hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5)),
       start=st.integers(0, 3), requires_grad=st.booleans())
def test_views_of_one_storage_stay_shared_after_load(a: np.ndarray, start: int, requires_grad: bool) -> None:
    """A tensor and its views (a slice, a transpose, the same tensor twice, a detach) loaded as independent copies;
    torch keeps them one storage (a write through one shows in the others) and the same tensor one object."""
    floating = a.dtype.kind == "f"

    def program(lib: Any) -> Any:
        base = lib.tensor(a.copy(), requires_grad=requires_grad and floating)
        objs = {"base": base, "again": base, "tail": base.reshape(-1)[start:], "t": base.t() if base.ndim == 2
                else base, "detached": base.detach(), "param": lib.nn.Parameter(base.detach(), requires_grad=False)}
        out = round_trip(lib, objs)
        assert out["again"] is out["base"]
        with lib.no_grad():
            out["base"].reshape(-1)[0] = 1  # through the storage: every view of it sees the write
        return [(k, type(v).__name__.replace("Tensor", "T"), v.requires_grad, v.shape, v.stride(), repr(v.tolist()))
                for k, v in out.items()]  # (repr: a nan compares equal to itself; a local hypothesis run drew nans)

    ours, theirs = program(tg), program(torch)
    assert [o[:2] + o[2:3] for o in ours] == [t[:2] + t[2:3] for t in theirs]
    assert [(tuple(o[3]), tuple(o[4]), o[5]) for o in ours] == [(tuple(t[3]), tuple(t[4]), t[5]) for t in theirs]


def test_parameters_and_containers_keep_their_types() -> None:
    """A Parameter loaded as a plain Tensor, an OrderedDict as a dict, a Size as a tuple; dict keys that are bool,
    None, float or tuple saved but raised CheckpointError on load; sets, bytes and complex numbers raised on save;
    torch.save's pickle options raised TypeError."""
    def program(lib: Any) -> Any:
        p = lib.nn.Parameter(lib.ones(2), requires_grad=False)
        q = lib.nn.Parameter(lib.zeros(2))
        tree = {"p": p, "q": q, "od": collections.OrderedDict([("b", 1), ("a", q)]), "size": lib.ones(2, 3).shape,
                "keys": {True: 1, None: 2, 1.5: 3, (1, ("x", None)): 4, "1": 5, 2: 6},
                "set": {1, (2, 3)}, "bytes": b"\x00ab", "complex": 1 - 2j}
        buf = io.BytesIO()
        lib.save(tree, buf, pickle_protocol=2)
        buf.seek(0)
        out = lib.load(buf, map_location="cpu")
        return [type(out["p"]).__name__, out["p"].requires_grad, type(out["q"]).__name__, out["q"].requires_grad,
                type(out["od"]).__name__, list(out["od"]), type(out["size"]).__name__, out["keys"], out["set"],
                out["bytes"], out["complex"], out["od"]["a"] is out["q"]]

    assert program(tg) == program(torch)


def test_loading_a_directory_is_an_is_a_directory_error(tmp_path: Any) -> None:
    for lib in (tg, torch):
        with pytest.raises(IsADirectoryError):
            lib.load(tmp_path)


def test_old_files_without_tensor_ids_still_load(tmp_path: Any) -> None:
    """The skeleton before the probe ({"__tensor__", "requires_grad"} only) reads as before."""
    path = tmp_path / "old.npz"
    with open(path, "wb") as f:
        np.savez(f, __tree__=np.array('{"__dict__": [["w", {"__tensor__": "a0", "requires_grad": true}]]}'),
                 a0=np.arange(3.0))
    w = tg.load(path)["w"]
    assert w.requires_grad and w.tolist() == [0.0, 1.0, 2.0] and type(w) is tg.Tensor


# ---------------------------------------------------------------------- vector_to_parameters
@SETTINGS
@given(extra=st.integers(-5, 5))
def test_vector_to_parameters_lengths(extra: int) -> None:
    """A vector longer than the parameters raised ValueError (torch uses the first elements); a shorter one raised
    ValueError where torch raises RuntimeError."""
    def program(lib: Any) -> Any:
        ps = [lib.nn.Parameter(lib.zeros(2, 3)), lib.nn.Parameter(lib.zeros(4))]
        lib.nn.utils.vector_to_parameters(lib.arange(10.0 + extra), ps)
        return ps

    same(run(tg, program), run(torch, program))


# ---------------------------------------------------------------------- error families
def test_errors_are_torchs_families() -> None:
    """weight_norm twice and assigning through a parametrization without right_inverse raised ValueError, a
    missing weight_norm / spectral_norm name ValueError: torch raises RuntimeError / AttributeError / KeyError."""
    for lib in (tg, torch):
        with pytest.warns(FutureWarning):
            once = lib.nn.utils.weight_norm(lib.nn.Linear(2, 2))
        with pytest.raises(RuntimeError), pytest.warns(FutureWarning):
            lib.nn.utils.weight_norm(once)
        with pytest.raises(RuntimeError):
            lib.nn.utils.spectral_norm(lib.nn.utils.spectral_norm(lib.nn.Linear(2, 2)))
        with pytest.raises(AttributeError), pytest.warns(FutureWarning):
            lib.nn.utils.weight_norm(lib.nn.Linear(2, 2), name="nope")
        with pytest.raises(KeyError):
            lib.nn.utils.spectral_norm(lib.nn.Linear(2, 2), name="nope")

        class Double(lib.nn.Module):
            def forward(self, x: Any) -> Any:
                return 2 * x

        m = lib.nn.Linear(2, 2)
        lib.nn.utils.parametrize.register_parametrization(m, "weight", Double())
        with pytest.raises(RuntimeError):
            m.weight = lib.ones(2, 2)


# ---------------------------------------------------------------------- prune
@SETTINGS
@given(seed=st.integers(0, 2**16), rows=st.integers(2, 5), nan_row=st.integers(-1, 4), n=st.sampled_from(
       [1, 2, float("inf")]), dim=st.sampled_from([0, -1]), amount=st.integers(1, 4))
def test_ln_structured_keeps_a_nan_channel_as_torch(seed: int, rows: int, nan_row: int, n: float, dim: int,
                                                    amount: int) -> None:
    """A channel whose norm is NaN was pruned first (NaN sorted as the smallest norm); torch's topk ranks NaN as
    the largest, so it is kept."""
    w = np.random.default_rng(seed).standard_normal((rows, 3)).astype(np.float32)
    w = w if dim == 0 else w.T.copy()
    if 0 <= nan_row < rows:
        (w[nan_row] if dim == 0 else w[:, nan_row])[1] = np.nan

    def program(lib: Any) -> Any:
        m = lib.nn.Linear(w.shape[1], w.shape[0])
        with lib.no_grad():
            m.weight.copy_(lib.tensor(w))
        lib.nn.utils.prune.ln_structured(m, "weight", amount=min(amount, rows - 1), n=n, dim=dim)
        return m.weight_mask

    same(program(tg), program(torch))


# ---------------------------------------------------------------------- nn.utils.fusion and friends
@SETTINGS
@given(kind=st.sampled_from(["conv", "convT", "linear"]), bias=st.booleans(), dtype=st.sampled_from(["float32",
       "float64"]), seed=st.integers(0, 2**16))
def test_fuse_bn_eval_matches_torch(kind: str, bias: bool, dtype: str, seed: int) -> None:
    """fuse_conv_bn_eval / fuse_linear_bn_eval were missing (AttributeError)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 4, 5, 5) if kind != "linear" else (3, 4)).astype(dtype)
    stats = [rng.standard_normal(3), rng.uniform(0.1, 3, 3), rng.standard_normal(3), rng.standard_normal(3)]

    def program(lib: Any) -> Any:
        if kind == "linear":
            layer, bn = lib.nn.Linear(4, 3, bias=bias), lib.nn.BatchNorm1d(3)
        else:
            layer = (lib.nn.Conv2d if kind == "conv" else lib.nn.ConvTranspose2d)(4, 3, 3, bias=bias)
            bn = lib.nn.BatchNorm2d(3)
        layer, bn = layer.to(getattr(lib, dtype)).eval(), bn.to(getattr(lib, dtype)).eval()
        with lib.no_grad():
            for p in layer.parameters():
                p.copy_(lib.tensor(np.cos(np.arange(p.numel()) * 0.37 + seed).reshape(tuple(p.shape))))
            for t, v in zip([bn.running_mean, bn.running_var, bn.weight, bn.bias], stats):
                t.copy_(lib.tensor(v))
        if kind == "linear":
            fused = lib.nn.utils.fuse_linear_bn_eval(layer, bn)
        else:
            fused = lib.nn.utils.fuse_conv_bn_eval(layer, bn, transpose=kind == "convT")
        out = fused(lib.tensor(x))
        out.pow(2).sum().backward()
        assert type(fused) is type(layer) and fused is not layer and layer.weight.grad is None
        assert isinstance(fused.weight, lib.nn.Parameter) and isinstance(fused.bias, lib.nn.Parameter)
        return [out, fused.weight, fused.bias, fused.weight.grad, fused.bias.grad]

    same(program(tg), program(torch), *((1e-4, 1e-4) if dtype == "float32" else (1e-10, 1e-10)))
    for lib in (tg, torch):
        with pytest.raises(AssertionError):
            lib.nn.utils.fuse_conv_bn_eval(lib.nn.Conv2d(2, 3, 1), lib.nn.BatchNorm2d(3))  # training mode


def test_skip_init_and_weight_memory_format() -> None:
    """skip_init and convert_conv2d / 3d_weight_memory_format were missing (AttributeError)."""
    for lib in (tg, torch):
        m = lib.nn.utils.skip_init(lib.nn.Linear, 3, 2, bias=False, dtype=lib.float64)
        assert tuple(m.weight.shape) == (2, 3) and m.bias is None and m.weight.dtype == lib.float64
        with pytest.raises(RuntimeError):
            lib.nn.utils.skip_init(lib.nn.Module)
        net = lib.nn.Sequential(lib.nn.Conv2d(2, 3, 2), lib.nn.Sequential(lib.nn.ConvTranspose2d(3, 2, 2)),
                                lib.nn.Conv3d(2, 2, 2))
        before = net[0].weight.detach().clone()
        assert lib.nn.utils.convert_conv2d_weight_memory_format(net, lib.channels_last) is net
        assert net[0].weight.stride() == (8, 1, 4, 2) and net[1][0].weight.stride() == (8, 1, 4, 2)
        assert net[2].weight.stride() == (16, 8, 4, 2, 1) and isinstance(net[0].weight, lib.nn.Parameter)
        assert bool((net[0].weight == before).all())
        lib.nn.utils.convert_conv3d_weight_memory_format(net, lib.channels_last_3d)
        assert net[2].weight.stride() == (16, 1, 8, 4, 2)


def test_a_runs_argparse_namespace_saves_and_loads_as_torch(tmp_path: Path) -> None:
    """``save({"args": args, "model": ...})``, a training script's habit: the Namespace (nested, holding tensors and
    lists) comes back equal, as torch's save / load (weights_only=False) gives it; it once raised TypeError."""
    import argparse

    def tree(lib: Any) -> dict[str, Any]:
        return {"args": argparse.Namespace(lr=0.1, dims=[64, 32], name="run", sub=argparse.Namespace(seed=None),
                                           scale=lib.tensor([0.5, 2.0])), "step": 3}
    tg.save(tree(tg), tmp_path / "ours.pt")
    torch.save(tree(torch), tmp_path / "torch.pt")
    ours, theirs = tg.load(tmp_path / "ours.pt"), torch.load(tmp_path / "torch.pt", weights_only=False)
    scale = ours["args"].scale
    assert isinstance(ours["args"], argparse.Namespace) and scale.tolist() == theirs["args"].scale.tolist()
    ours["args"].scale, theirs["args"].scale = None, None
    assert ours == theirs
