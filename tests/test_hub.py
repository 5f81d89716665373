"""``tinygrad_adam.hub`` against ``torch.hub``: the cache directory, ``load_state_dict_from_url`` of a file torch
saved (downloaded once, then read from the cache; its hash checked from the file name; torch's legacy zip),
``download_url_to_file`` with a hash prefix, and that a failed or interrupted download leaves no file behind, all
through file:// URLs (no network).

Mutations (each reverted after the run):
- the hash compared with ``!=`` against the whole digest: test_hash_checks_as_torch fails (a right prefix refused).
- the cached file not looked for first: test_downloads_once_then_reads_the_cache fails (the source is gone).
- the one-member zip not unpacked: test_legacy_zip_as_torch fails.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def saved_weights(folder: Path, **save: Any) -> tuple[Path, dict[str, Any]]:
    """A torch state dict saved under torch's naming (``name-<sha256 prefix>.pth``); its path and values."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    state = torch.nn.Linear(3, 2).state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer, **save)
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    path = folder / f"linear-{digest[:8]}.pth"
    path.write_bytes(buffer.getvalue())
    return path, {k: v.numpy() for k, v in state.items()}


def same_state(ours: dict[str, Any], want: dict[str, Any]) -> None:
    assert list(ours) == list(want)
    for k, v in want.items():
        np.testing.assert_array_equal(ours[k].numpy(), v)


def test_cache_directory_as_torch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for env in ({}, {"XDG_CACHE_HOME": str(tmp_path / "xdg")}, {"TORCH_HOME": str(tmp_path / "th")}):
        monkeypatch.delenv("TORCH_HOME", raising=False)
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        assert tg.hub.get_dir() == torch.hub.get_dir()
    before = tg.hub.get_dir()
    try:
        tg.hub.set_dir(tmp_path / "mine")
        assert tg.hub.get_dir() == str(tmp_path / "mine")
    finally:
        tg.hub.set_dir(before)


@pytest.mark.parametrize("lib", [tg, torch], ids=["ours", "torch"])
def test_downloads_once_then_reads_the_cache(lib: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, want = saved_weights(tmp_path / "server")
    cache = tmp_path / "cache"
    got = lib.hub.load_state_dict_from_url(source.as_uri(), model_dir=str(cache), progress=False, check_hash=True)
    same_state(got if lib is tg else {k: tg.tensor(v.numpy()) for k, v in got.items()}, want)
    assert sorted(p.name for p in cache.iterdir()) == [source.name]  # (no temporary file left)
    assert "Downloading" in capsys.readouterr().out
    source.unlink()
    again = lib.hub.load_state_dict_from_url(source.as_uri(), model_dir=str(cache), progress=False)
    assert "Downloading" not in capsys.readouterr().out
    assert list(again) == list(want)
    renamed = lib.hub.load_state_dict_from_url("file:///nowhere/x.pth", model_dir=str(cache), file_name=source.name)
    assert list(renamed) == list(want)
    model_zoo = importlib.import_module(f"{lib.__name__}.utils.model_zoo")  # the pre-hub name
    old_name = model_zoo.load_url(source.as_uri(), model_dir=str(cache))
    same_state(old_name if lib is tg else {k: tg.tensor(v.numpy()) for k, v in old_name.items()}, want)


@pytest.mark.parametrize("lib", [tg, torch], ids=["ours", "torch"])
def test_hash_checks_as_torch(lib: Any, tmp_path: Path) -> None:
    source, _ = saved_weights(tmp_path / "server")
    wrong = source.with_name("linear-00000000.pth")
    wrong.write_bytes(source.read_bytes())
    with pytest.raises(RuntimeError, match="invalid hash value"):
        lib.hub.load_state_dict_from_url(wrong.as_uri(), model_dir=str(tmp_path / "c"), check_hash=True,
                                         progress=False)
    assert list((tmp_path / "c").iterdir()) == []  # nothing half-checked left in the cache
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    dst = tmp_path / "mine.pth"
    dst.write_bytes(b"the user's own file")
    with pytest.raises(RuntimeError, match="invalid hash value"):
        lib.hub.download_url_to_file(source.as_uri(), str(dst), hash_prefix="ff" + digest[:6], progress=False)
    assert dst.read_bytes() == b"the user's own file"
    lib.hub.download_url_to_file(source.as_uri(), str(dst), hash_prefix=digest[:10], progress=False)
    assert dst.read_bytes() == source.read_bytes()


@pytest.mark.parametrize("lib", [tg, torch], ids=["ours", "torch"])
def test_legacy_zip_as_torch(lib: Any, tmp_path: Path) -> None:
    source, want = saved_weights(tmp_path / "server", _use_new_zipfile_serialization=False)
    packed = tmp_path / "server" / "linear.zip"
    with zipfile.ZipFile(packed, "w") as z:
        z.write(source, source.name)
    got = lib.hub.load_state_dict_from_url(packed.as_uri(), model_dir=str(tmp_path / "c"), progress=False)
    same_state(got if lib is tg else {k: tg.tensor(v.numpy()) for k, v in got.items()}, want)


def test_an_interrupted_download_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, _ = saved_weights(tmp_path / "server")

    class Dropped(io.BytesIO):
        headers: ClassVar[dict[str, str]] = {}

        def read(self, n: int = -1) -> bytes:
            if self.tell():
                raise ConnectionResetError("connection dropped")
            return super().read(10)

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Dropped(source.read_bytes()))
    with pytest.raises(ConnectionResetError):
        tg.hub.load_state_dict_from_url(source.as_uri(), model_dir=str(tmp_path / "c"), progress=False)
    assert list((tmp_path / "c").iterdir()) == []


def test_github_entry_points_refuse() -> None:
    for name in ("load", "list", "help"):
        with pytest.raises(NotImplementedError, match="hubconf"):
            getattr(tg.hub, name)("pytorch/vision", "resnet18")
