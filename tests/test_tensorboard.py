"""``utils.tensorboard.SummaryWriter`` against torch's: the same calls write the same events (every field but the
wall time), in the same run directories, read back with tensorboard's own event-file loader; and what it does not
write raises."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
pytest.importorskip("tensorboard", reason="SummaryWriter needs the tensorboard package (the test extra has it)")
from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader  # noqa: E402
from torch.utils.tensorboard import SummaryWriter as TorchWriter  # noqa: E402

from tinygrad_adam.utils.tensorboard import SummaryWriter  # noqa: E402


def events(root: Path) -> dict[str, list[bytes]]:
    """Every run directory under ``root`` (relative) with its events, wall times zeroed, serialized."""
    found: dict[str, list[bytes]] = {}
    for folder, _, files in os.walk(root):
        for name in sorted(f for f in files if f.startswith("events.out.tfevents")):
            got = found.setdefault(os.path.relpath(folder, root), [])
            for event in LegacyEventFileLoader(os.path.join(folder, name)).Load():
                event.wall_time = 0
                got.append(event.SerializeToString())
    return found


def log(writer: Any, lib: Any) -> None:
    rng = np.random.default_rng(0)
    for step in range(3):
        writer.add_scalar("loss/train", 1.0 / (step + 1), step)
        writer.add_scalar("loss/tensor", lib.tensor(0.5 * step), step, new_style=True)
        writer.add_scalar("lr", np.float32(0.1), step, new_style=True, double_precision=True)
        writer.add_scalars("run", {"a": step, "b": lib.tensor([2.0 * step])}, step)
        writer.add_histogram("weights", lib.tensor(rng.standard_normal((50, 4))), step)
        writer.add_histogram("counts", rng.integers(0, 9, 100), step, bins="auto")
        writer.add_histogram("few", lib.tensor(rng.standard_normal(1000)), step, max_bins=7, bins=40)
    writer.add_histogram_raw("raw", -1.0, 2.0, 3, 1.5, 5.0, [0.0, 1.0, 2.0], [1, 1, 1], 7)
    writer.add_text("notes", "**lr** 0.1, *Adam*", 1)
    labels, scores = lib.tensor(rng.integers(0, 2, 60)), lib.tensor(rng.random(60))
    writer.add_pr_curve("pr", labels, scores, 0)
    writer.add_pr_curve("pr_weighted", labels, scores, 1, num_thresholds=300, weights=rng.random(60))
    writer.add_pr_curve_raw("pr_raw", [3, 2, 1], [2, 1, 0], [0, 1, 2], [0, 1, 2], [0.6, 0.66, 1.0],
                            [1.0, 0.66, 0.33], 2, num_thresholds=200)  # (the metadata's count capped at 127)
    writer.add_image("one", lib.tensor(rng.random((3, 5, 4), dtype=np.float32)), 0)
    writer.add_image("gray_hw", rng.random((6, 3)), 0, dataformats="HW")
    writer.add_image("uint8_hwc", rng.integers(0, 255, (4, 4, 1), dtype=np.uint8), 0, dataformats="HWC")
    writer.add_images("batch", lib.tensor(rng.random((10, 1, 3, 2), dtype=np.float32)), 0)
    picture = lib.tensor(rng.random((3, 40, 60), dtype=np.float32))
    boxes = lib.tensor([[2.0, 3.0, 30.0, 25.0], [10.5, 12.0, 55.0, 38.0]])
    writer.add_image_with_boxes("boxes", picture, boxes, 0)
    writer.add_image_with_boxes("boxes_labelled", picture, boxes, 1, labels=["cat", "a dog"])
    writer.add_image_with_boxes("boxes_one_label", picture, boxes[:1], 2, labels="cat", rescale=2)
    writer.add_image_with_boxes("boxes_hwc", rng.integers(0, 255, (40, 60, 3), dtype=np.uint8), boxes, 3,
                                dataformats="HWC", rescale=0.5)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure = plt.figure(figsize=(1, 1), dpi=20)
    plt.plot([0, 1], [1, 0])
    writer.add_figure("figure", figure, 0)
    writer.add_audio("clip", lib.tensor(np.sin(np.linspace(0, 20, 400)) * 1.2), 0, sample_rate=8000)
    writer.add_custom_scalars({"losses": {"both": ["Multiline", ["loss/train", "loss/tensor"]],
                                          "band": ["Margin", ["lr", "lr", "lr"]]}})
    writer.add_custom_scalars_multilinechart(["a", "b"], category="more", title="ab")
    writer.add_custom_scalars_marginchart(["a", "b", "c"])
    points = lib.tensor(rng.standard_normal((6, 3)).astype(np.float32))
    writer.add_embedding(points, metadata=list("abcdef"), label_img=lib.tensor(rng.random((6, 3, 4, 4))),
                         global_step=3, tag="feat/x")
    writer.add_embedding(points * 2, metadata=[[i, i % 2] for i in range(6)], metadata_header=["id", "odd"])
    for dtype in ("float32", "float64", "int8", "int16", "int32", "int64", "bool"):
        writer.add_tensor(f"raw/{dtype}", lib.tensor(rng.standard_normal((2, 3)) * 50).to(getattr(lib, dtype)), 1)
    writer.add_tensor("raw/0d", lib.tensor(2.5), 2)
    vertices = lib.tensor(rng.standard_normal((1, 4, 3)).astype(np.float32))
    writer.add_mesh("cloud", vertices, colors=lib.tensor(rng.integers(0, 255, (1, 4, 3))), global_step=1)
    writer.add_mesh("mesh", vertices, faces=lib.tensor([[[0, 1, 2], [1, 2, 3]]]), global_step=2,
                    config_dict={"material": {"cls": "x"}, "camera": {"fov": 75, "cls": "PerspectiveCamera"}})
    writer.add_hparams({"lr": 0.1, "bs": 32, "opt": "adam", "bn": True}, {"hparam/acc": 0.9},
                       hparam_domain_discrete={"opt": ["adam", "sgd"]}, run_name="hp", global_step=2)
    writer.flush()
    writer.close()
    writer.add_scalar("after_close", 1.0, 9)  # a closed writer opens a new file
    writer.close()


def other_files(root: Path) -> dict[str, bytes]:
    """The files beside the event files (the projector's), by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and not p.name.startswith("events.out.tfevents")}


def test_the_same_events_as_torch_s(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for lib, make in ((torch, TorchWriter), (tg, SummaryWriter)):
        with make(tmp_path / lib.__name__, purge_step=1) as writer:
            log(writer, lib)
        assert "audio amplitude out of range" in capsys.readouterr().out
    theirs, ours = events(tmp_path / "torch"), events(tmp_path / "tinygrad_adam")
    assert sorted(ours) == sorted(theirs)
    for folder in theirs:  # (one event file per writer opening, in order: the file names hold the times)
        assert sorted(ours[folder]) == sorted(theirs[folder]), folder
        assert len(ours[folder]) == len(theirs[folder])
    theirs_files, ours_files = other_files(tmp_path / "torch"), other_files(tmp_path / "tinygrad_adam")
    assert sorted(theirs_files) == sorted(ours_files) and len(theirs_files) == 6  # 2 x tensors, 2 x metadata,
    for name, content in theirs_files.items():  # a sprite, the projector config
        assert ours_files[name] == content, name


def test_default_log_dir_errors_and_what_it_does_not_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    from tinygrad_adam.utils.tensorboard import summary, writer  # torch's module layout
    assert writer.SummaryWriter is SummaryWriter and callable(summary.scalar) and callable(summary.histogram)
    with SummaryWriter(comment="_lr0.1") as writer:
        assert writer.get_logdir().startswith("runs" + os.sep) and writer.get_logdir().endswith("_lr0.1")
        for lib_writer in (writer, TorchWriter(str(tmp_path / "t"))):
            with pytest.raises(AssertionError, match="one element"):
                lib_writer.add_scalar("x", np.ones(2), 0)
            with pytest.raises(TypeError):
                lib_writer.add_hparams([("lr", 0.1)], {})
            with pytest.raises(ValueError):
                lib_writer.add_histogram("empty", np.zeros(0), 0)
        with pytest.raises(NotImplementedError, match="add_video"):
            writer.add_video("v", tg.ones(1, 2, 3, 4, 4))


def test_raw_tensors_read_back_by_tensorboard(tmp_path: Path) -> None:
    """float16 and uint8 as TensorBoard reads them (torch writes float16 as float32 bit patterns in half_val and
    uint8 in uint32_val, which tensorboard's make_ndarray reads as other numbers); the rest as torch's (above)."""
    from tensorboard.util.tensor_util import make_ndarray

    values = {"float16": np.array([[1.5, -0.0], [65504, np.nan]], np.float16), "uint8": np.array([0, 7, 255], np.uint8),
              "float32": np.array([1e-45, 3.4e38], np.float32), "bool": np.array([True, False])}
    with SummaryWriter(tmp_path) as writer:
        for name, a in values.items():
            writer.add_tensor(name, tg.tensor(a), 0)
        with pytest.raises(ValueError, match="unsupported tensor dtype"):
            writer.add_tensor("u16", tg.tensor(np.array([1], np.uint16)))
        with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
            writer.add_mesh("flat", tg.ones(4, 3))
    found = {}
    for path in tmp_path.glob("events.out.tfevents*"):
        for event in LegacyEventFileLoader(str(path)).Load():
            for value in event.summary.value:
                found[value.tag] = make_ndarray(value.tensor)
    assert sorted(found) == sorted(values)
    for name, a in values.items():
        assert found[name].dtype == a.dtype and found[name].shape == a.shape
        np.testing.assert_array_equal(found[name], a)


def test_box_labels_that_do_not_match_the_boxes(tmp_path: Path) -> None:
    """torch drops them without a word; ours warns, then draws the boxes as torch's does."""
    boxes, picture = tg.tensor([[2.0, 3.0, 30.0, 25.0], [10.0, 12.0, 55.0, 38.0]]), tg.ones(3, 40, 60) * 0.5
    with SummaryWriter(tmp_path / "ours") as writer, pytest.warns(UserWarning, match="one label per box"):
        writer.add_image_with_boxes("b", picture, boxes, 0, labels=["only one"])
    with TorchWriter(str(tmp_path / "torch")) as writer:
        writer.add_image_with_boxes("b", torch.ones(3, 40, 60) * 0.5, torch.tensor(boxes.numpy()), 0, labels=["x"])
    assert events(tmp_path / "ours") == events(tmp_path / "torch")


@pytest.mark.gpu
def test_gpu_tensors_log_as_cpu_ones(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    values = rng.standard_normal(100)
    for device in ("cpu", "cuda"):
        with SummaryWriter(tmp_path / device) as writer:
            writer.add_scalar("loss", tg.tensor(0.25, device=device), 1)
            writer.add_histogram("w", tg.tensor(values, device=device), 1)
            writer.add_image("img", tg.tensor(rng.random((3, 2, 2)), device=device) * 0 + 0.5, 1)
    assert events(tmp_path / "cuda") == events(tmp_path / "cpu")
