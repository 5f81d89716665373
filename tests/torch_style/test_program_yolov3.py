"""``yolov3.py`` (eriklindernoren/PyTorch-YOLOv3's models.py, utils/loss.py, utils/utils.py and train.py, shrunk) run
on torch and, imports swapped, on ours: a tiny Darknet parsed from a cfg string (convolutional + BatchNorm2d +
LeakyReLU, a shortcut, routes, a nearest Upsample, two YOLO layers and ``yolo_layers`` kept as a plain list of
modules already held by ``module_list``), trained from torch's initial weights on the same numpy batches of 2-4
32x32 images: the loss components (CIoU box, objectness, class, total), gradient norms, burn-in / step learning
rates, parameters and BatchNorm buffers after every step and the printed lines agree; then the eval-mode outputs
(sigmoid xy + grid, exp wh * anchor_grid) and the non_max_suppression detections (pure-torch NMS) agree, and a
resumed run equals the uninterrupted one.

Tolerances: float32, the runs differing by summation order in convolutions, BatchNorm and the reductions of the
losses. Measured over 8 steps (torch on one thread, and on two): loss components within 1.8e-7 relative, gradient
norms 1.5e-7 relative, parameters and buffers within 6.3e-7 absolute, eval outputs within 3.8e-6 absolute (pixel
coordinates up to ~40, i.e. 1e-7 relative) and the 59 detections within 1.9e-6 absolute (their scores, at
conf_thres 0.26 above the ~0.25 that 8 steps leave everywhere, at least 4.9e-6 apart, so their order is stable).
We allow rtol 1e-6 for losses and gradient norms, atol 2e-6 for parameters / buffers, and rtol 1e-6 + atol 1e-5
for eval outputs and detections; the number of detections, their classes, the learning rates and the printed lines
are compared exactly. The file takes about 4 s (torch on one thread) on a shared 2-core machine."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "yolov3.py"
RTOL, ATOL, EVAL_ATOL = 1e-6, 2e-6, 1e-5
CONF_THRES = 0.26


def train_both(tmp_path: Path) -> tuple[dict, dict]:
    """Both libraries over 2 epochs of 4 batches from torch's initial weights, then their eval outputs."""
    def run(m: object, model: object, lib: str) -> dict:
        history = collections.defaultdict(list)
        batches = m.make_batches(4)
        m.train(model, batches, 2, history, str(tmp_path / f"{lib}.pt"))
        history["outputs"], history["detections"] = m.evaluate(model, batches[1][0], conf_thres=CONF_THRES)
        return history
    return from_torch_weights(PROGRAM, lambda m: m.Darknet(), run)


def test_yolov3_training_and_detection_match_torch(one_torch_thread: None, tmp_path: Path) -> None:
    theirs, ours = train_both(tmp_path)
    np.testing.assert_allclose(ours["loss_components"], theirs["loss_components"], rtol=RTOL)
    np.testing.assert_allclose(ours["grad_norm"], theirs["grad_norm"], rtol=RTOL)
    assert ours["lr"] == theirs["lr"] == [0.01 * (i / 3) for i in range(3)] + [0.01, 0.01, 0.005, 0.005, 0.0005]
    assert ours["lines"] == theirs["lines"] and len(ours["lines"]) == 8
    for step, (got, want) in enumerate(zip(ours["state"], theirs["state"], strict=True)):
        assert list(got) == list(want) and not any(k.startswith("yolo_layers") for k in got)
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=ATOL, err_msg=f"{name} at step {step}")
    last = ours["state"][-1]
    assert int(last["module_list.0.batch_norm_0.num_batches_tracked"]) == 8
    assert not np.allclose(last["module_list.0.batch_norm_0.running_mean"], 0)
    # the burn-in's first step (lr 0) leaves the weights as they were; the BatchNorm statistics move
    np.testing.assert_array_equal(ours["state"][0]["module_list.6.conv_6.weight"],
                                  theirs["state"][0]["module_list.6.conv_6.weight"])

    assert ours["outputs"].shape == theirs["outputs"].shape == (ours["outputs"].shape[0], 3 * (16 * 16 + 8 * 8), 7)
    np.testing.assert_allclose(ours["outputs"], theirs["outputs"], rtol=RTOL, atol=EVAL_ATOL)
    assert [d.shape for d in ours["detections"]] == [d.shape for d in theirs["detections"]]
    assert sum(len(d) for d in theirs["detections"]) > 0
    for got, want in zip(ours["detections"], theirs["detections"], strict=True):
        np.testing.assert_array_equal(got[:, 5], want[:, 5])
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=EVAL_ATOL)
        assert (got[:, 4] > CONF_THRES).all() and (np.diff(got[:, 4]) <= 0).all()

    for lib, run in (("torch", theirs), ("ours", ours)):  # each library's checkpoint restores its final state
        with program(PROGRAM, lib) as m:
            model = m.Darknet()
            state = m.torch.load(str(tmp_path / f"{lib}.pt"))
            model.load_state_dict(state["model"])
            assert state["epoch"] == 2 and len(state["optimizer"]["state"]) == len(list(model.parameters()))
            for name, value in model.state_dict().items():
                np.testing.assert_array_equal(value.numpy(), run["state"][-1][name], err_msg=name)


def test_resume_equals_uninterrupted(tmp_path: Path) -> None:
    """Ours: 2 epochs at once, or 1 epoch, the checkpoint (model, Adam state, epoch) and a resume into a fresh model
    for the second, give the same numbers exactly."""
    runs = []
    with program(PROGRAM, "ours") as m:
        batches = m.make_batches(3, seed=1)
        for parts in ([dict(epochs=2)], [dict(epochs=1), dict(epochs=2, resume=str(tmp_path / "yolo.pt"))]):
            m.torch.manual_seed(0)
            history = collections.defaultdict(list)
            for kwargs in parts:
                m.train(m.Darknet(), batches, history=history, checkpoint=str(tmp_path / "yolo.pt"), **kwargs)
            runs.append({"loss": [c.tolist() for c in history["loss_components"][-3:]], "lr": history["lr"][-3:],
                         "lines": history["lines"][-3:], "params": history["state"][-1]})
    assert runs[0]["lr"] == [0.01, 0.01, 0.005]
    assert_same_run(*runs)


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")  # ours' 0 / 0 (numpy)
@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_targets_loss_and_nms_pieces(lib: str) -> None:
    """build_targets' anchor matching and grid cells, CIoU (nan for identical boxes, in torch too), xywh2xyxy, and
    NMS by hand."""
    with program(PROGRAM, lib) as m:
        t = m.torch
        m.torch.manual_seed(0)
        model = m.Darknet()
        assert [type(layer).__name__ for layer in model.yolo_layers] == ["YOLOLayer", "YOLOLayer"]
        assert [type(x).__name__ for x in model.module_list[10]] == ["Upsample"]
        outputs = model(t.zeros(2, 3, 32, 32))
        assert [tuple(o.shape) for o in outputs] == [(2, 3, 8, 8, 7), (2, 3, 16, 16, 7)]
        assert [layer.stride for layer in model.yolo_layers] == [4, 2]
        targets = t.tensor([[0, 1, 0.5, 0.5, 0.5, 0.5], [1, 0, 0.99, 0.1, 0.1, 0.1]])
        tcls, tbox, indices, anch = m.build_targets(outputs, targets, model)
        # layer 0 (8x8, anchors / 4): the 16-pixel box matches anchors 9x12, 13x10, 16x16, the 3.2-pixel one 9x12
        # only (ratios 2.8 and 3.75); t[j] lists them anchor-major
        assert [i.tolist() for i in indices[0]] == [[0, 1, 0, 0], [0, 0, 1, 2], [4, 0, 4, 4], [4, 7, 4, 4]]
        assert tcls[0].tolist() == [1, 0, 1, 1]
        np.testing.assert_allclose(tbox[0].numpy()[[0, 2, 3]], [[0, 0, 4, 4]] * 3)
        # layer 1 (16x16, anchors / 2): the small box at x = 0.99 is clamped to cell 15
        assert indices[1][3].tolist()[-1] == 15 and indices[1][0].tolist()[-1] == 1
        np.testing.assert_allclose(anch[0].numpy(), [[2.25, 3], [2.25, 3], [3.25, 2.5], [4, 4]])

        box = t.tensor([[0.5, 0.5, 2.0, 3.0]])
        # a box shifted by 1 in x: IoU 1 / 3, rho2 / c2 = 1 / 18, the same aspect ratio so v = 0
        other = t.tensor([[1.5, 0.5, 2.0, 3.0]])
        np.testing.assert_allclose(m.bbox_iou(box.T, other, x1y1x2y2=False, CIoU=True).numpy(), [1 / 3 - 1 / 18],
                                   rtol=1e-6)
        assert t.isnan(m.bbox_iou(box.T, box, x1y1x2y2=False, CIoU=True)).all()  # the repo's 0 / 0 alpha
        np.testing.assert_allclose(m.xywh2xyxy(box).numpy(), [[-0.5, -1.0, 1.5, 2.0]])
        boxes = t.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 9, 10]]).float()
        scores = t.tensor([0.9, 0.8, 0.7, 0.95])
        assert m.nms(boxes, scores, 0.5).tolist() == [3, 2]
        assert m.nms(boxes, scores, 0.95).tolist() == [3, 0, 1, 2]
