"""Checkpoint files: a tree of arrays and values round-trips exactly; writes are atomic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tinygrad_adam as tg
from tinygrad_adam import checkpoint


def test_roundtrip_keeps_types_and_bits(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    tree = {"epoch": 3, "lr": 1e-3, "name": "adam", "flag": None, "betas": (0.9, 0.999),
            "state": {0: {"step": 7, "m": rng.standard_normal((3, 2)).astype(np.float32)},
                      1: {"v": rng.standard_normal(4)}},
            "groups": [{"params": [0, 1], "lr": np.float64(0.5)}], "big": 2**80}
    out = checkpoint.load(checkpoint.save(tmp_path / "c.npz", tree))
    assert out["epoch"] == 3 and out["name"] == "adam" and out["flag"] is None and out["big"] == 2**80
    assert out["betas"] == (0.9, 0.999) and isinstance(out["betas"], tuple)
    assert set(out["state"]) == {0, 1}  # int keys stay ints
    np.testing.assert_array_equal(out["state"][0]["m"], tree["state"][0]["m"])
    assert out["state"][0]["m"].dtype == np.float32 and out["state"][1]["v"].dtype == np.float64
    assert out["groups"][0]["lr"] == 0.5 and out["groups"][0]["params"] == [0, 1]


def test_failed_write_leaves_old_checkpoint_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = checkpoint.save(tmp_path / "c.npz", {"epoch": 1, "w": np.ones(3)})

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, {"epoch": 2, "w": np.zeros(3)})
    assert checkpoint.load(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # no temporary file left behind


def test_unstorable_value_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"cannot store an object of type object in a checkpoint$"):
        checkpoint.save(tmp_path / "c.npz", {"x": object()})
    with pytest.raises(TypeError, match=r"type Linear in a checkpoint \(save its state_dict\(\) instead"):
        checkpoint.save(tmp_path / "c.npz", {"model": tg.nn.Linear(2, 2)})
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        checkpoint.load(tmp_path / "missing.npz")


@pytest.mark.parametrize(("content", "why"), [
    (b"", "the file ends early"),
    (b"PK\x03\x04 not really a zip", "File is not a zip file"),
    (b"\x80\x04pickle", "pickled data"),
])
def test_unreadable_file_is_a_checkpoint_error_without_pickle_advice(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "c.npz"
    path.write_bytes(content)
    with pytest.raises(checkpoint.CheckpointError, match=why) as info:
        checkpoint.load(path)
    assert isinstance(info.value, ValueError) and "allow_pickle" not in str(info.value)
    assert len(str(info.value).splitlines()) == 1 and str(path) in str(info.value)


@pytest.mark.parametrize("skeleton", ['{"__array__": "a0"}', '[1, 2]', '{"__dict__": [[[1], 2]]}',
                                      '{"__dict__": [["a", {"__list__": 3}]]}', '{"a": 1, "b": 2}'])
def test_malformed_tree_is_a_checkpoint_error(tmp_path: Path, skeleton: str) -> None:
    path = tmp_path / "c.npz"
    with open(path, "wb") as f:
        np.savez(f, __tree__=np.array(skeleton))
    with pytest.raises(checkpoint.CheckpointError, match="malformed"):
        checkpoint.load(path)
