"""``load`` reads torch.save's files (zip or legacy format) weights-only (``torch_format``): a checkpoint written by
torch (state dicts of a model and its optimizer, nested trees, views of one storage, every dtype both libraries
have) loads as torch.load reads it, and training resumed from it here continues torch's run; a file that pickles
anything else (a class, a function, numpy arrays, bfloat16) raises one clear CheckpointError and runs nothing,
unless ``weights_only=False`` trusts it, as torch's. ``save`` writes torch's format (``torch_save``) where torch's
weights-only load reads the tree back, so torch.load reads a model saved here; a whole model or optimizer is pickled
whole, as torch.save pickles it, and loads back with ``weights_only=False``."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import Counter, OrderedDict
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tinygrad_adam as tg  # noqa: E402
from tinygrad_adam.checkpoint import CheckpointError  # noqa: E402

DTYPES = [torch.float32, torch.float64, torch.float16, torch.int64, torch.int32, torch.int16, torch.int8,
          torch.uint8, torch.bool]


def _same(ours, theirs) -> None:
    """``ours`` (loaded here) holds what ``theirs`` (torch.load's) does, type for type."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, tg.Tensor), type(ours)
        assert isinstance(ours, tg.nn.Parameter) == isinstance(theirs, torch.nn.Parameter)
        assert ours.requires_grad == theirs.requires_grad and tuple(ours.shape) == tuple(theirs.shape)
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())
        assert ours.storage_offset() == theirs.storage_offset()  # (where it lies in its storage, as torch's)
        assert ours.numel() == 0 or ours.stride() == theirs.stride()
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs)
        for k in theirs:
            _same(ours[k], theirs[k])
    elif isinstance(theirs, list | tuple) and not isinstance(theirs, torch.Size):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _same(a, b)
    elif isinstance(theirs, torch.dtype):
        assert ours == getattr(tg, str(theirs).removeprefix("torch."))
    elif isinstance(theirs, torch.Size):
        assert isinstance(ours, tg.Size) and tuple(ours) == tuple(theirs)
    elif isinstance(theirs, torch.device):
        assert ours == tg.device(str(theirs))
    else:
        assert type(ours) is type(theirs) and ours == theirs


@st.composite
def _tensors(draw):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(st.lists(st.integers(0, 4), max_size=3))
    n = int(np.prod(shape))
    if dtype == torch.bool:
        values = torch.tensor(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=dtype)
    elif dtype.is_floating_point:
        info = torch.finfo(dtype)
        floats = st.floats(-info.max, info.max, width=16 if dtype == torch.float16 else 64 if dtype == torch.float64
                           else 32)
        values = torch.tensor(draw(st.lists(floats | st.sampled_from([float("nan"), float("inf"), -float("inf")]),
                                            min_size=n, max_size=n)), dtype=dtype)
    else:
        info = torch.iinfo(dtype)
        values = torch.tensor(draw(st.lists(st.integers(info.min, info.max), min_size=n, max_size=n)), dtype=dtype)
    t = values.reshape(shape)
    view = draw(st.sampled_from(["whole", "t", "slice", "narrow", "param"]))
    if view == "t" and t.dim() >= 2:
        t = t.transpose(0, -1)
    elif view == "slice" and t.dim() >= 1 and t.shape[0] > 1:
        t = t[1::2]
    elif view == "narrow" and t.dim() >= 1 and t.shape[-1] > 1:
        t = t.narrow(-1, 1, t.shape[-1] - 1)
    elif view == "param" and dtype.is_floating_point:
        t = torch.nn.Parameter(t, requires_grad=draw(st.booleans()))
    return t


def _torch_tree(tensors: list) -> dict:
    """A checkpoint-like tree around ``tensors``: three views of one storage, and every other kind of value torch's
    weights-only load reads."""
    base = torch.arange(12.0).reshape(3, 4)
    return {"tensors": tensors, "views": (base, base[1], base.t()[2:]), "n": 3, "x": 0.5, "s": "a", "none": None,
            "b": b"\x00\xff", "flags": {1, 2}, "od": OrderedDict(k=torch.ones(2)), "dt": torch.float16,
            "size": torch.Size([2, 3]), "dev": torch.device("cpu"), "c": 1 - 2j, "ba": bytearray(b"x"),
            "count": Counter("aab"), 2.5: [True, (None,)], (1, "k"): {3}}


def _one_storage(views) -> None:
    """``_torch_tree``'s views have one storage, as torch's: a write through one shows in the others."""
    views[0][1, 2] = -7.0
    assert views[1][2].item() == -7.0 and views[2][0, 1].item() == -7.0
    assert len({v.untyped_storage().data_ptr() for v in views}) == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(_tensors(), min_size=1, max_size=4), st.booleans(), st.booleans())
def test_trees_of_tensors_load_as_torch_load_reads_them(tensors, as_stream: bool, legacy: bool) -> None:
    """Zip or legacy format, from a path or a stream."""
    buffer = io.BytesIO()
    torch.save(_torch_tree(tensors), buffer, _use_new_zipfile_serialization=not legacy)
    buffer.seek(0)
    theirs = torch.load(io.BytesIO(buffer.getvalue()))
    ours = tg.load(buffer if as_stream else io.BytesIO(buffer.getvalue()))
    _same(ours, theirs)
    _one_storage(ours["views"])


@settings(max_examples=60, deadline=None)
@given(st.lists(_tensors(), min_size=1, max_size=4), st.booleans(), st.sampled_from([2, 3, 4, 5]))
def test_trees_saved_here_load_in_torch_as_they_went_in(tensors, legacy: bool, protocol: int) -> None:
    """What ``save`` writes here (a tree read from torch's file: every dtype, views, Parameters, sets, Size,
    dtypes, devices, bytes...), in either of torch's formats and any pickle protocol, torch.load reads as it went in,
    each view with its offset and strides in one storage (loaded views of one storage were written as a storage
    each before they were linked to it) (weights only, its default, at torch's default protocol 2: its
    weights-only unpickler reads no protocol 4 frames or protocol 3 bytes, in torch's own files too); and ``load``
    reads it too."""
    buffer = io.BytesIO()
    torch.save(_torch_tree(tensors), buffer)
    buffer.seek(0)
    ours = tg.load(buffer)
    ours["np"], ours["np_dtype"] = np.float32(1.5), ours["views"][0].dtype  # (written as 1.5, torch.float32)
    mine = io.BytesIO()
    tg.save(ours, mine, pickle_protocol=protocol, _use_new_zipfile_serialization=not legacy)
    assert tg.serialization._written_by(io.BytesIO(mine.getvalue())) == ("torch legacy" if legacy else "torch")
    theirs = torch.load(io.BytesIO(mine.getvalue()), weights_only=protocol == 2)
    back = tg.load(io.BytesIO(mine.getvalue()))
    assert theirs.pop("np") == back.pop("np") == 1.5 and type(back["x"]) is float
    assert theirs.pop("np_dtype") == torch.float32 and back.pop("np_dtype") == tg.float32
    ours.pop("np"), ours.pop("np_dtype")
    _same(ours, theirs)
    _same(back, theirs)
    for mine_t, their_t in zip([*ours["tensors"], *ours["views"]], [*theirs["tensors"], *theirs["views"]]):
        assert mine_t.numel() == 0 or mine_t.stride() == their_t.stride()
    _one_storage(theirs["views"])


def test_saved_zip_has_torchs_layout(tmp_path: Path) -> None:
    """Each record is stored (not compressed) with its bytes on a 64-byte boundary, as torch writes them, so
    ``torch.load(mmap=True)`` maps the storages in place; a tensor of negative strides (no such view in torch) is
    written as a contiguous copy, with torch's strides for its shape."""
    path = tmp_path / "w.pt"
    flipped = {(2, 3): tg.arange(6.0).reshape(2, 3).flip(1), (3, 1, 2): tg.arange(6.0).reshape(3, 1, 2).flip(0)}
    tg.save({"w": tg.arange(10.0), "i": tg.ones(3, dtype=tg.int8), "e": tg.zeros(0), "flipped": flipped}, path)
    with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
        for info in archive.infolist():
            raw.seek(info.header_offset + 26)
            name_length, extra_length = int.from_bytes(raw.read(2), "little"), int.from_bytes(raw.read(2), "little")
            assert info.compress_type == zipfile.ZIP_STORED
            assert (info.header_offset + 30 + name_length + extra_length) % 64 == 0, info.filename
    loaded = torch.load(path, mmap=True)
    assert loaded["w"].tolist() == list(range(10)) and loaded["i"].tolist() == [1, 1, 1] and loaded["e"].numel() == 0
    for shape, t in loaded["flipped"].items():
        assert t.stride() == torch.empty(shape).stride() and t.tolist() == flipped[shape].tolist()


def test_a_model_trained_here_runs_in_torch(tmp_path: Path) -> None:
    """A small CNN trained here, its state_dict saved with ``save``: torch's model of the same layers loads it
    (strict: every key, shape and dtype, BatchNorm's int64 counter too) and computes what ours does."""
    def model(lib):
        return lib.nn.Sequential(lib.nn.Conv2d(1, 4, 3), lib.nn.BatchNorm2d(4), lib.nn.ReLU(), lib.nn.Flatten(),
                                 lib.nn.Linear(4 * 6 * 6, 3))
    tg.manual_seed(0)
    ours, x = model(tg), tg.randn(5, 1, 8, 8)
    opt = tg.optim.Adam(ours.parameters(), lr=0.01)
    for _ in range(3):
        opt.zero_grad()
        ours(x).pow(2).mean().backward()
        opt.step()
    tg.save(ours.state_dict(), tmp_path / "model.pt")
    theirs = model(torch)
    theirs.load_state_dict(torch.load(tmp_path / "model.pt"))
    assert theirs[1].num_batches_tracked.item() == 3
    ours.eval(), theirs.eval()
    np.testing.assert_allclose(theirs(torch.from_numpy(x.numpy())).detach().numpy(), ours(x).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_a_tree_torch_would_not_read_back_is_written_as_ours(tmp_path: Path) -> None:
    """A Namespace, a numpy array, a frozenset or a dict subclass in the tree (torch's weights-only load refuses the
    first three and reads none of them back as it went in): the file is our .npz, which load reads and torch.load
    does not; anything else is torch's."""
    import argparse

    path = tmp_path / "ck.pt"

    class Settings(dict):
        pass
    for tree in ({"args": argparse.Namespace(lr=0.1), "w": tg.ones(2)}, {"w": tg.ones(2), "np": np.arange(3.0)},
                 {"f": frozenset([1])}, [Settings(a=1)]):
        tg.save(tree, path)
        assert tg.serialization._written_by(path) == "ours"
        with pytest.raises(RuntimeError):
            torch.load(path)
        assert tg.load(path)[0] == {"a": 1} if isinstance(tree, list) else tg.load(path).keys() == tree.keys()
    tg.save({"w": tg.ones(2), "epoch": 3}, path)
    assert tg.serialization._written_by(path) == "torch" and torch.load(path)["epoch"] == 3


def test_big_endian_file_loads(tmp_path: Path) -> None:
    """A file whose ``byteorder`` record says big (written on such a machine) is read with its bytes swapped."""
    path = tmp_path / "le.pt"
    torch.save({"w": torch.arange(6, dtype=torch.int32).reshape(2, 3), "h": torch.tensor([1.5], dtype=torch.float16)},
               path)
    swapped = tmp_path / "be.pt"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(swapped, "w") as dst:
        prefix = next(n for n in src.namelist() if n.endswith("/data.pkl"))[:-len("data.pkl")]
        kinds = {"0": np.int32, "1": np.float16}
        for name in src.namelist():
            data = src.read(name)
            if name == prefix + "byteorder":
                data = b"big"
            elif name.startswith(prefix + "data/"):
                data = np.frombuffer(data, kinds[name.rsplit("/", 1)[1]]).byteswap().tobytes()
            dst.writestr(name, data)
    ours = tg.load(swapped)
    assert ours["w"].tolist() == [[0, 1, 2], [3, 4, 5]] and ours["h"].tolist() == [1.5]


@pytest.mark.parametrize("legacy", [False, True])
def test_training_resumed_here_from_torch_checkpoint_continues_torch_run(tmp_path: Path, legacy: bool) -> None:
    """A model, Adam and a step LR schedule trained 3 steps in torch and saved with torch.save; 3 more steps here,
    from the loaded state dicts, give the parameters torch's uninterrupted run gives."""
    torch.manual_seed(0)
    data = [(torch.randn(8, 5), torch.randint(0, 3, (8,))) for _ in range(6)]

    def torch_model():
        return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.BatchNorm1d(7), torch.nn.Tanh(),
                                   torch.nn.Linear(7, 3))

    def run(model, opt, sched, lib, batches):
        for x, y in batches:
            x, y = (x, y) if lib is torch else (tg.tensor(x.numpy()), tg.tensor(y.numpy()))
            opt.zero_grad()
            lib.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            sched.step()

    model = torch_model()
    opt = torch.optim.Adam(model.parameters(), lr=0.05, weight_decay=0.01, amsgrad=True)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    run(model, opt, sched, torch, data[:3])
    path = tmp_path / "ck.pt"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "step": 3}, path,
               _use_new_zipfile_serialization=not legacy)
    run(model, opt, sched, torch, data[3:])

    ck = tg.load(path)
    ours = tg.nn.Sequential(tg.nn.Linear(5, 7), tg.nn.BatchNorm1d(7), tg.nn.Tanh(), tg.nn.Linear(7, 3))
    ours.load_state_dict(ck["model"])
    ours_opt = tg.optim.Adam(ours.parameters(), lr=0.05, weight_decay=0.01, amsgrad=True)
    ours_opt.load_state_dict(ck["opt"])
    ours_sched = tg.optim.lr_scheduler.StepLR(ours_opt, step_size=2, gamma=0.5)
    ours_sched.load_state_dict(ck["sched"])
    assert ck["step"] == 3
    run(ours, ours_opt, ours_sched, tg, data[3:])
    for (name, theirs), mine in zip(model.state_dict().items(), ours.state_dict().values()):
        np.testing.assert_allclose(np.asarray(mine, dtype=np.float64), theirs.double().numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=name)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def _evil_zip(tmp_path: Path, payload: bytes) -> Path:
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2)}, path)
    with zipfile.ZipFile(path) as src:
        members = {name: src.read(name) for name in src.namelist()}
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in members.items():
            dst.writestr(name, payload if name.endswith("/data.pkl") else data)
    return path


@pytest.mark.parametrize("payload,what", [
    (pickle.dumps({"x": _Evil()}, protocol=2), r"the global (posix|os)\.system"),
    (pickle.dumps({"a": np.ones(2)}, protocol=2), r"the global numpy"),
    (pickle.dumps(Path("x"), protocol=4), r"the global pathlib"),
])
def test_a_file_pickling_other_globals_is_refused_and_runs_nothing(tmp_path: Path, payload: bytes, what: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    called = []
    monkeypatch.setattr(os, "system", lambda *a: called.append(a))
    with pytest.raises(CheckpointError, match=what + r".*weights-only load") as info:
        tg.load(_evil_zip(tmp_path, payload))
    assert "\n" not in str(info.value) and not called


def test_torch_pickled_class_instance_bfloat16_and_uint16_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    torch.save(torch.nn.Linear(2, 2), path)  # a whole module: torch's default weights_only load refuses it too
    with pytest.raises(CheckpointError, match=r"torch\.nn\.modules\.linear\.Linear.*weights-only load"):
        tg.load(path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    for dtype, named in ((torch.bfloat16, r"torch\.BFloat16Storage"),
                         (torch.uint16, r"torch\._utils\._rebuild_tensor_v3")):
        torch.save({"w": torch.ones(2, dtype=dtype)}, path)
        with pytest.raises(CheckpointError, match=rf"a dtype this library has no \({named}\).*\.float\(\)"):
            tg.load(path)


def test_attribute_state_cannot_replace_a_tensor_method(tmp_path: Path) -> None:
    """torch pickles a Parameter's Python attributes beside it; they load, but not over a name the class has."""
    p = torch.nn.Parameter(torch.ones(2))
    p.note = "kept"
    path = tmp_path / "p.pt"
    torch.save(p, path)
    assert tg.load(path).note == "kept"
    p.note, p.__dict__["backward"] = "kept", "not a method"
    torch.save(p, path)
    with pytest.raises(CheckpointError, match=r"attribute 'backward'"):
        tg.load(path)


def test_damaged_torch_file_raises_checkpoint_error(tmp_path: Path) -> None:
    path = tmp_path / "ck.pt"
    torch.save({"w": torch.arange(10.0)}, path)
    with zipfile.ZipFile(path) as src:
        members = {name: src.read(name) for name in src.namelist() if "/data/" not in name}
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in members.items():
            dst.writestr(name, data)
    with pytest.raises(CheckpointError, match=r"damaged torch\.save file"):
        tg.load(path)


@pytest.mark.parametrize("where", ["cpu", {"cuda:0": "cpu"}, "fn"])
def test_map_location_applies_to_torch_files(tmp_path: Path, where) -> None:
    path = tmp_path / "ck.pt"
    torch.save({"w": torch.arange(3.0)}, path)
    seen = []
    location = (lambda t, loc: seen.append(loc)) if where == "fn" else where
    assert tg.load(path, map_location=location)["w"].tolist() == [0.0, 1.0, 2.0]
    assert seen == ([] if where != "fn" else ["cpu"])


@pytest.mark.gpu
@pytest.mark.parametrize("legacy", [False, True])
def test_torch_file_loads_onto_the_gpu(tmp_path: Path, legacy: bool) -> None:
    """``map_location="cuda"``: each storage goes to the device once, its views stay views there."""
    path = tmp_path / "ck.pt"
    base = torch.arange(12.0).reshape(3, 4)
    torch.save({"w": base, "row": base[1], "p": torch.nn.Parameter(torch.ones(2))}, path,
               _use_new_zipfile_serialization=not legacy)
    ours = tg.load(path, map_location="cuda")
    assert all(str(t.device).startswith("cuda") for t in ours.values()) and isinstance(ours["p"], tg.nn.Parameter)
    ours["w"][1, 0] = -1.0
    assert ours["row"].cpu().tolist() == [-1.0, 5.0, 6.0, 7.0] and ours["p"].cpu().tolist() == [1.0, 1.0]


@pytest.mark.gpu
def test_gpu_tensors_saved_here_load_in_torch(tmp_path: Path) -> None:
    """A GPU tensor's storage is written with torch's location of it ("cuda:0"), which torch.load hands its
    ``map_location``; its values come back on the CPU."""
    path = tmp_path / "ck.pt"
    tg.save({"w": tg.arange(6.0, device="cuda").reshape(2, 3), "cpu": tg.ones(2)}, path)
    locations = []
    loaded = torch.load(path, map_location=lambda storage, location: locations.append(location) or storage)
    assert sorted(locations) == ["cpu", "cuda:0"]
    assert loaded["w"].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]] and loaded["cpu"].tolist() == [1.0, 1.0]


@pytest.mark.gpu
def test_gpu_optimizer_state_dict_is_torchs_and_loads_on_the_gpu(tmp_path: Path) -> None:
    """An Adam over a GPU parameter: its state_dict holds GPU Tensors under torch's names, which torch.load reads
    (onto the CPU through ``map_location``) and which load back onto the GPU here, continuing as the live one."""
    p = tg.tensor([1.0, -2.0, 3.0], device="cuda", requires_grad=True)
    opt = tg.optim.Adam([p], lr=0.1)
    for g in ([0.5, 1.0, -1.0], [2.0, 0.0, 1.0]):
        p.grad = tg.tensor(g, device="cuda")
        opt.step()
    path = tmp_path / "opt.pt"
    tg.save(opt.state_dict(), path)
    saved = opt.state_dict()["state"][0]
    assert saved["exp_avg"].device.type == "cuda" and saved["step"].item() == 2.0
    theirs = torch.load(path, map_location="cpu")["state"][0]
    np.testing.assert_array_equal(theirs["exp_avg_sq"].numpy(), saved["exp_avg_sq"].cpu().numpy())
    q = tg.tensor(p.cpu().tolist(), device="cuda", requires_grad=True)
    again = tg.optim.Adam([q], lr=0.1)
    again.load_state_dict(tg.load(path))
    for r, o in ((p, opt), (q, again)):
        r.grad = tg.tensor([1.0, 1.0, 1.0], device="cuda")
        o.step()
    assert q.cpu().tolist() == p.cpu().tolist()


@pytest.mark.gpu
def test_a_whole_gpu_model_loads_on_map_location(tmp_path: Path) -> None:
    """A model on the GPU saved whole: ``map_location="cuda"`` puts it back there, "cpu" on the CPU (its parameters
    still Parameters of the same values, its outputs the same)."""
    model = tg.nn.Linear(3, 2).to("cuda")
    path = tmp_path / "gpu.pt"
    tg.save(model, path)
    x = tg.ones(1, 3)
    for where in ("cuda", "cpu"):
        again = tg.load(path, map_location=where, weights_only=False)
        assert again.weight.device.type == where and isinstance(again.weight, tg.nn.Parameter)
        assert again(x.to(where)).cpu().tolist() == model(x.to("cuda")).cpu().tolist()


def test_safe_globals_let_a_trusted_file_load_as_torch_does(tmp_path: Path) -> None:
    """torch's ``serialization.add_safe_globals`` / ``safe_globals``: a run's ``argparse.Namespace`` and numpy arrays
    saved beside the weights load once allowed (refused before, naming the call), here as in torch."""
    import argparse

    path = tmp_path / "ck.pt"
    tree = {"args": argparse.Namespace(lr=0.1, depth=3), "w": torch.ones(2), "np": np.arange(3.0)}
    torch.save(tree, path)
    numpy_globals = [np._core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype("float64"))]
    with pytest.raises(CheckpointError, match=r"argparse\.Namespace.*add_safe_globals\(\[Namespace\]\)"):
        tg.load(path)
    with tg.serialization.safe_globals([argparse.Namespace]):
        assert tg.serialization.get_safe_globals() == [argparse.Namespace]
        with pytest.raises(CheckpointError, match=r"_reconstruct"):
            tg.load(path)
    assert tg.serialization.get_safe_globals() == []
    try:
        tg.serialization.add_safe_globals([argparse.Namespace, *numpy_globals])
        torch.serialization.add_safe_globals([argparse.Namespace, *numpy_globals])
        ours, theirs = tg.load(path), torch.load(path)
    finally:
        tg.serialization.clear_safe_globals()
        torch.serialization.clear_safe_globals()
    assert ours["args"] == theirs["args"] == tree["args"] and ours["w"].tolist() == [1.0, 1.0]
    np.testing.assert_array_equal(ours["np"], theirs["np"])
    assert tg.serialization.get_safe_globals() == []
    torch.save({"cfg": _Config(width=8)}, path)  # a class by another name: (object, "module.name"), as torch's
    with tg.serialization.safe_globals([(argparse.Namespace, f"{__name__}._Config")]):
        assert tg.serialization.get_safe_globals() == [(argparse.Namespace, f"{__name__}._Config")]
        assert tg.load(path)["cfg"] == argparse.Namespace(width=8)


class _Config:
    def __init__(self, **settings: int) -> None:
        self.__dict__.update(settings)


OPTIMIZERS = [("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}), ("SGD", {"lr": 0.1}),
              ("Adam", {"lr": 0.01, "amsgrad": True}), ("AdamW", {"lr": 0.01}), ("Adamax", {"lr": 0.01}),
              ("NAdam", {"lr": 0.01, "decoupled_weight_decay": True, "weight_decay": 0.1}), ("RAdam", {"lr": 0.01}),
              ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}), ("Adadelta", {"lr": 1.0}),
              ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}), ("Rprop", {"lr": 0.01}),
              ("ASGD", {"lr": 0.01, "t0": 1}), ("LBFGS", {"lr": 0.5, "history_size": 3, "max_iter": 4})]


def _train(lib, model, opt, batches) -> None:
    """Closure steps of a mean squared error, one per (x, y) batch of torch tensors (as numpy ones for ours)."""
    for x, y in batches:
        x, y = (x, y) if lib is torch else (tg.tensor(x.numpy()), tg.tensor(y.numpy()))

        def closure(x=x, y=y):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            return loss
        opt.step(closure)


def _small_model(lib, double: bool = False):
    model = lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.Tanh(), lib.nn.Linear(8, 2))
    return model.double() if double else model


def _resume_in_the_other(saver, name: str, settings_: dict, xs, ys) -> tuple:
    """3 steps in ``saver``'s library (torch or ours), its model and optimizer saved there; the other library loads
    the file and takes the 3 more steps that the saver takes too. (The saver's model, the loader's, the loaded tree.)"""
    loader = tg if saver is torch else torch
    double = xs.dtype == torch.float64
    first = _small_model(saver, double)
    opt = getattr(saver.optim, name)(first.parameters(), **settings_)
    _train(saver, first, opt, zip(xs[:3], ys[:3]))
    buffer = io.BytesIO()
    saver.save({"model": first.state_dict(), "opt": opt.state_dict()}, buffer)
    _train(saver, first, opt, zip(xs[3:], ys[3:]))
    buffer.seek(0)
    ck = loader.load(buffer)
    second = _small_model(loader, double)
    second.load_state_dict(ck["model"])
    second_opt = getattr(loader.optim, name)(second.parameters(), **settings_)
    second_opt.load_state_dict(ck["opt"])
    _train(loader, second, second_opt, zip(xs[3:], ys[3:]))
    return first, second, ck


@pytest.mark.parametrize(("name", "settings_"), OPTIMIZERS)
def test_each_optimizer_resumes_from_a_torch_checkpoint(name: str, settings_: dict) -> None:
    """torch trains 3 steps and saves model and optimizer; 3 more steps here from that file end where torch's own
    3 more steps do (LBFGS's state, flat tensors and lists of them in torch's file, raised AttributeError at the
    first step here)."""
    torch.manual_seed(1)
    theirs, ours, _ = _resume_in_the_other(torch, name, settings_, torch.randn(6, 16, 4), torch.randn(6, 16, 2))
    for mine, reference in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(mine.detach().numpy(), reference.detach().numpy(), rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize(("name", "settings_"), [*OPTIMIZERS, ("Adafactor", {"lr": 0.01})])
def test_each_optimizer_saved_here_resumes_in_torch(name: str, settings_: dict) -> None:
    """The other way: 3 steps here, model and optimizer saved with ``save``; torch's optimizer of the same name
    loads the file with ``torch.load`` and its 3 more steps end where ours do. The state_dict has torch's layout:
    its entries under torch's names, as Tensors, the step count a float32 0-d tensor (ours also keeps SGD's ``t``)
    (it was the paper's names and numpy arrays, so the file was our .npz and torch could not read it). In float64,
    so that the two continuations agree to rounding (float32 LBFGS turns a rounding difference into 1e-5)."""
    torch.manual_seed(2)
    tg.manual_seed(2)
    xs, ys = torch.randn(6, 16, 4, dtype=torch.float64), torch.randn(6, 16, 2, dtype=torch.float64)
    ours, theirs, ck = _resume_in_the_other(tg, name, settings_, xs, ys)
    for mine, reference in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(mine.detach().numpy(), reference.detach().numpy(), rtol=1e-10, atol=1e-12)
    if name != "LBFGS":  # (its state is one entry of flat tensors and lists, as torch's)
        fresh = _small_model(torch, double=True)
        own = getattr(torch.optim, name)(fresh.parameters(), **settings_)
        _train(torch, fresh, own, zip(xs[:3], ys[:3]))
        for index, state in own.state_dict()["state"].items():
            mine = ck["opt"]["state"][index]
            assert {k: type(v) for k, v in state.items()} == {k: type(v) for k, v in mine.items() if k != "t"}
            assert mine["step"].dtype == torch.float32 if "step" in state else "t" in mine
            assert {k: v.dtype for k, v in mine.items() if isinstance(v, torch.Tensor) and v.ndim} == {
                k: v.dtype for k, v in state.items() if isinstance(v, torch.Tensor) and v.ndim}


class _Net(tg.nn.Module):
    """A model of the user's, as ``torch.save(model, f)`` meets it: layers, a buffer, a numpy array, a dtype."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn, self.fc = tg.nn.Conv2d(1, 3, 3), tg.nn.BatchNorm2d(3), tg.nn.Linear(3, 2)
        self.register_buffer("mask", tg.tensor([True, False]))
        self.meta = {"mean": np.arange(3.0), "dtype": tg.float16, "scale": np.float32(1.5)}

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).mean((2, 3))) * self.mask


@pytest.mark.parametrize("legacy", [False, True])
def test_a_whole_model_and_optimizer_saved_here_load_back_with_weights_only_false(tmp_path: Path,
                                                                                  legacy: bool) -> None:
    """``torch.save({"model": model, "optimizer": opt}, f)`` pickles them whole, as torch's (it raised TypeError:
    no pickle); ``load`` refuses the file by default, naming the class and ``weights_only=False``, as torch >= 2.6
    does, and with ``weights_only=False`` gives back a model whose outputs are the saved one's and an optimizer over
    its very parameters, the two training on bit for bit as the saved ones do."""
    tg.manual_seed(0)
    x = tg.randn(4, 1, 5, 5)
    model = _Net()
    opt = tg.optim.Adam(model.parameters(), lr=0.05)

    def step(m, o) -> None:
        o.zero_grad()
        m(x).square().sum().backward()
        o.step()
    step(model, opt)
    path = tmp_path / "whole.pt"
    tg.save({"model": model, "optimizer": opt, "epoch": 1}, path, _use_new_zipfile_serialization=not legacy)
    for default in ({}, {"weights_only": None}, {"weights_only": True}):  # (None: torch's default, True)
        with pytest.raises(CheckpointError, match=r"the global .*_Net.*weights_only=False") as info:
            tg.load(path, **default)
        assert "\n" not in str(info.value)
    loaded = tg.load(path, weights_only=False)
    again, again_opt = loaded["model"], loaded["optimizer"]
    assert type(again) is _Net and loaded["epoch"] == 1 and again is not model
    assert again_opt.param_groups[0]["params"][0] is again.conv.weight
    assert again.mask.tolist() == [True, False] and again.meta["dtype"] is tg.float16
    np.testing.assert_array_equal(again.meta["mean"], np.arange(3.0))
    assert again.bn.num_batches_tracked.item() == 1
    for _ in range(2):
        step(model, opt)
        step(again, again_opt)
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_weights_only_false_reads_torch_files_of_numpy_and_namespaces_but_no_torch_class(tmp_path: Path) -> None:
    """A torch checkpoint holding an argparse.Namespace and numpy arrays (refused by default, as torch's) loads with
    ``weights_only=False``, as torch's; a whole torch module does not (ours cannot build a torch object), naming
    the state_dict fix."""
    import argparse

    path = tmp_path / "ck.pt"
    torch.save({"args": argparse.Namespace(lr=0.1), "mean": np.arange(3.0), "w": torch.ones(2)}, path)
    with pytest.raises(CheckpointError, match="weights_only=False"):
        tg.load(path)
    ck = tg.load(path, weights_only=False)
    assert ck["args"] == argparse.Namespace(lr=0.1) and ck["w"].tolist() == [1.0, 1.0]
    np.testing.assert_array_equal(ck["mean"], np.arange(3.0))
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(CheckpointError, match=r"torch\.nn\.modules\.linear\.Linear; a torch object.*state_dict\(\)"):
        tg.load(path, weights_only=False)


def test_what_cannot_be_pickled_raises_one_line(tmp_path: Path) -> None:
    """A model holding a lambda: TypeError naming the fix, and no file left (the old one kept)."""
    path = tmp_path / "m.pt"
    tg.save({"w": tg.ones(2)}, path)
    model = tg.nn.Linear(2, 2)
    model.act = lambda v: v
    with pytest.raises(TypeError, match=r"cannot be pickled.*state_dict\(\)") as info:
        tg.save(model, path)
    assert "\n" not in str(info.value) and tg.load(path)["w"].tolist() == [1.0, 1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
    parametrized = tg.nn.utils.parametrizations.weight_norm(tg.nn.Linear(2, 2))  # (refused as torch refuses it)
    with pytest.raises(TypeError, match=r"ParametrizedLinear cannot be pickled") as info:
        tg.save(parametrized, path)
    assert str(info.value).count("state_dict()") == 1


SCHEDULERS = {
    "StepLR": lambda S, opt: S.StepLR(opt, 2, 0.5), "MultiStepLR": lambda S, opt: S.MultiStepLR(opt, [2, 5, 5], 0.3),
    "CosineAnnealingWarmRestarts": lambda S, opt: S.CosineAnnealingWarmRestarts(opt, 3, 2, 0.001),
    "OneCycleLR": lambda S, opt: S.OneCycleLR(opt, 1.0, total_steps=20),
    "CyclicLR": lambda S, opt: S.CyclicLR(opt, 0.01, 0.1, 3),
    "ReduceLROnPlateau": lambda S, opt: S.ReduceLROnPlateau(opt, patience=1),
    "SequentialLR": lambda S, opt: S.SequentialLR(opt, [S.LinearLR(opt, 0.1, 1.0, 3), S.ExponentialLR(opt, 0.8)], [3]),
    "ChainedScheduler": lambda S, opt: S.ChainedScheduler([S.ExponentialLR(opt, 0.9), S.StepLR(opt, 2, 0.5)]),
    "LambdaLR": lambda S, opt: S.LambdaLR(opt, lambda epoch: 0.9 ** epoch),
}


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_each_lr_scheduler_resumes_from_a_torch_checkpoint(name: str) -> None:
    """A schedule stepped 4 times in torch and saved with its optimizer continues here with torch's learning rates
    (MultiStepLR's milestones are a collections.Counter in torch's file: refused before it joined the globals)."""
    losses = [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.7, 0.8, 0.9]

    def setup(lib):
        opt = lib.optim.SGD([lib.nn.Parameter(lib.zeros(2))], lr=0.1, momentum=0.9)
        return opt, SCHEDULERS[name](lib.optim.lr_scheduler, opt)

    def steps(lib, opt, schedule, which) -> list[float]:
        rates = []
        for i in which:
            opt.param_groups[0]["params"][0].grad = lib.ones(2)
            opt.step()
            schedule.step(losses[i]) if name == "ReduceLROnPlateau" else schedule.step()
            rates.append(opt.param_groups[0]["lr"])
        return rates
    opt, schedule = setup(torch)
    steps(torch, opt, schedule, range(4))
    buffer = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "schedule": schedule.state_dict()}, buffer)
    theirs = steps(torch, opt, schedule, range(4, 10))
    buffer.seek(0)
    ck = tg.load(buffer)
    ours_opt, ours_schedule = setup(tg)
    ours_opt.load_state_dict(ck["opt"])
    ours_schedule.load_state_dict(ck["schedule"])
    assert steps(tg, ours_opt, ours_schedule, range(4, 10)) == pytest.approx(theirs, rel=1e-12)
