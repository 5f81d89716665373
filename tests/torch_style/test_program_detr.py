"""``detr.py`` (facebookresearch/detr's util, models, engine.py and main.py, shrunk) run on torch and, imports
swapped, on ours: from torch's initial weights (the "pretrained" backbone loaded through FrozenBatchNorm2d's
``_load_from_state_dict``) and the same numpy images of varying sizes, every loss term (the auxiliary decoder
layers' included), the Hungarian matches of every decoder layer, the clipped gradient norms, the learning rates, the
parameters and buffers after every step, the printed MetricLogger lines and PostProcess's detections agree; a resumed
run equals the uninterrupted one.

Tolerances: float32, the runs differing by summation order in convolutions, attention, LayerNorm and the matmuls.
Measured over 4 steps (post-norm, sine, aux loss): the total loss within 6.6e-8 relative, each loss term 2.1e-7,
gradient norms 3.4e-7, parameters / buffers 9.4e-7 absolute, detections' scores and boxes 4.4e-7 relative and the
evaluation losses 3.1e-7; we allow rtol 2e-6 for losses and norms, atol 5e-6 for parameters (AdamW's first steps
move each weight by about lr = 1e-3 whatever its gradient's size, so a parameter's error is about lr times the
gradient's relative one) and rtol 1e-5 for the detections. Over the 3 steps of the pre-norm variant (learned
embedding, no aux loss, images without objects) losses, norms and detections agree as closely (3.3e-7) but
parameters differ by up to 1.2e-5 (1.3e-5 without the empty images): the second decoder layer's query weights get
gradients of ~1e-8 there (cancellation noise against a largest gradient of 3e-3: ours 7.77e-9 where torch has
7.71e-9), the size of Adam's eps, so their updates follow the noise; we allow 1e-4 (a tenth of a step) there.
Matches, class and cardinality errors, labels and printed lines are compared exactly. The file takes 5 to 7.5 s
(torch on one thread) on a shared 2-core machine, 3 s of it torch's first optimizer importing dynamo."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "detr.py"
LOSS_RTOL, PARAM_ATOL, PRE_NORM_ATOL, DET_RTOL = 2e-6, 5e-6, 1e-4, 1e-5
EXACT = ("class_error", "cardinality_error")


def make(m: object, argv: list[str]) -> object:
    """The model built by detr.py's ``build`` from parsed arguments; the criterion and postprocessors kept aside."""
    args = m.get_args_parser().parse_args(m.TINY + argv)
    model, criterion, postprocessors = m.build(args, m.pretrained_backbone())
    m.BUILT = (criterion, postprocessors, args)
    return model


def train(argv: list[str], tmp_path: Path, n: int = 4, empty: tuple[int, ...] = ()) -> tuple[dict, dict]:
    """detr.py's main on both libraries from torch's initial weights (the images at ``empty`` without objects), then
    PostProcess on fresh images."""
    def run(m: object, model: object, lib: str) -> dict:
        criterion, postprocessors, args = m.BUILT
        args.output_dir = str(tmp_path / lib)
        Path(args.output_dir).mkdir()
        history = collections.defaultdict(list)
        samples = m.make_images(n)
        for i in empty:
            img, boxes, labels = samples[i]
            samples[i] = (img, boxes[:0], labels[:0])
        m.main(args, model, criterion, postprocessors, samples, history)
        loader = m.DataLoader(m.SyntheticDetection(m.make_images(4, seed=1)), batch_size=2, collate_fn=m.collate_fn)
        history["detections"], history["eval"] = m.evaluate(model, criterion, postprocessors, loader, "cpu")
        return history
    return from_torch_weights(PROGRAM, lambda m: make(m, argv), run)


def agree(theirs: dict, ours: dict, param_atol: float = PARAM_ATOL) -> None:
    """Loss terms, matches, norms, lines, lrs, parameters / buffers after each step, and the detections."""
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=LOSS_RTOL)
    np.testing.assert_allclose(ours["grad_norm"], theirs["grad_norm"], rtol=LOSS_RTOL)
    for step, (got, want) in enumerate(zip(ours["loss_dict"], theirs["loss_dict"], strict=True)):
        assert got.keys() == want.keys()
        for name in want:
            if name.startswith(EXACT):
                assert got[name] == want[name], (name, step)
            else:
                np.testing.assert_allclose(got[name], want[name], rtol=LOSS_RTOL, err_msg=f"{name} at step {step}")
    assert ours["indices"] == theirs["indices"] and ours["lines"] == theirs["lines"] and ours["lr"] == theirs["lr"]
    for step, (got, want) in enumerate(zip(ours["state"], theirs["state"], strict=True)):
        assert got.keys() == want.keys()
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=param_atol, err_msg=f"{name} at {step}")
    for got, want in zip(ours["detections"], theirs["detections"], strict=True):
        assert np.array_equal(got["labels"], want["labels"])
        np.testing.assert_allclose(got["scores"], want["scores"], rtol=DET_RTOL)
        np.testing.assert_allclose(got["boxes"], want["boxes"], rtol=DET_RTOL)
    assert ours["eval"].keys() == theirs["eval"].keys()
    for name in theirs["eval"]:
        np.testing.assert_allclose(ours["eval"][name], theirs["eval"][name], rtol=DET_RTOL, err_msg=name)


def test_detr_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    """Post-norm layers, the sine position embedding and the auxiliary losses, 2 epochs of 2 steps."""
    theirs, ours = train(["--epochs", "2"], tmp_path)
    agree(theirs, ours)
    assert len(ours["loss"]) == 4 and ours["lr"] == [[1e-3, 1e-4], [1e-4, 1e-5]]  # StepLR(lr_drop=2)
    assert "loss_giou_0" in ours["loss_dict"][0] and len(ours["indices"][0]) == 2  # the last layer and one aux
    assert ours["lines"][0].startswith("Epoch: [0]  lr: 0.001000  class_error: ")
    frozen = [k for k in ours["state"][0] if k.startswith("backbone.0.body.") and "layer2" not in k]
    for name in frozen:  # the frozen stem and layer1 never move; FrozenBatchNorm2d's buffers neither
        assert np.array_equal(ours["state"][-1][name], ours["state"][0][name]), name
    assert not np.allclose(ours["state"][-1]["backbone.0.body.layer2.0.weight"],
                           ours["state"][0]["backbone.0.body.layer2.0.weight"])
    saved = torch.load(tmp_path / "torch" / "checkpoint.pth", weights_only=False)
    assert saved["epoch"] == 1 and (tmp_path / "torch" / "checkpoint0001.pth").exists()
    for lib in ("torch", "ours"):
        with program(PROGRAM, lib) as m:
            mine = m.torch.load(str(tmp_path / lib / "checkpoint.pth"), weights_only=False)
            assert mine["epoch"] == 1 and mine["args"]["hidden_dim"] == 16
            assert mine["lr_scheduler"]["last_epoch"] == 2 and len(mine["optimizer"]["param_groups"]) == 2


def test_pre_norm_learned_embedding_without_aux_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    """``--pre_norm`` (forward_pre, the encoder's final LayerNorm), learned position embeddings, no aux loss; an
    image without objects beside one with, then a whole batch without (empty matches, zero box losses, the empty
    ``accuracy``)."""
    theirs, ours = train(["--epochs", "1", "--pre_norm", "--position_embedding", "learned", "--no_aux_loss"],
                         tmp_path, n=6, empty=(1, 2, 3))
    agree(theirs, ours, param_atol=PRE_NORM_ATOL)
    assert ours["indices"][1] == [[([], []), ([], [])]] and ours["loss_dict"][1]["loss_bbox"] == 0
    assert ours["loss_dict"][1]["class_error"] == 100  # 100 - the zeros([]) of an empty target
    assert "loss_ce_0" not in ours["loss_dict"][0] and len(ours["indices"][0]) == 1


def test_resume_equals_uninterrupted(tmp_path: Path) -> None:
    """Ours: 3 epochs at once, or 2, the checkpoint and ``--resume`` for the third (past StepLR's drop), agree
    exactly."""
    runs = []
    with program(PROGRAM, "ours") as m:
        for parts in ([["--epochs", "3"]], [["--epochs", "2"], ["--epochs", "3", "--resume",
                                                                str(tmp_path / "checkpoint.pth")]]):
            m.torch.manual_seed(0)
            model = make(m, [])
            history = collections.defaultdict(list)
            for extra in parts:
                args = m.get_args_parser().parse_args(m.TINY + extra + ["--output_dir", str(tmp_path)])
                criterion, postprocessors, _ = m.BUILT
                if "--resume" in extra:
                    m.torch.manual_seed(1)
                    model = make(m, [])  # a fresh net: all it has comes from the checkpoint
                model = m.main(args, model, criterion, postprocessors, m.make_images(4), history)[0]
            runs.append({"loss": history["loss"][-2:], "grad_norm": history["grad_norm"][-2:],
                         "indices": history["indices"][-2:], "lr": history["lr"][-1:], "params": history["state"][-1]})
    assert runs[0]["lr"] == [[1e-4, 1e-5]]
    assert_same_run(*runs)


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_detr_structure(lib: str, one_torch_thread: None) -> None:
    """What both libraries must build: FrozenBatchNorm2d loading a BatchNorm2d state_dict (its running statistics,
    no ``num_batches_tracked``), the frozen backbone, the two optimizer groups, padding masks, the sine embedding,
    box ops and matches that are one-to-one."""
    with program(PROGRAM, lib) as m:
        T = m.torch
        T.manual_seed(0)
        model = make(m, [])
        criterion, _, args = m.BUILT
        T.manual_seed(0)
        pretrained = m.pretrained_backbone()  # the one make loaded (its first draws)
        state = model.state_dict()
        assert not any("num_batches_tracked" in k for k in state)
        body = model.backbone[0].body
        assert type(body["bn1"]).__name__ == "FrozenBatchNorm2d" and not list(body["bn1"].parameters())
        np.testing.assert_array_equal(state["backbone.0.body.bn1.running_var"].numpy(),
                                      pretrained["bn1.running_var"].numpy())
        assert not np.allclose(pretrained["bn1.running_var"].numpy(), 1)
        trainable = [n for n, p in model.named_parameters() if "backbone" in n and p.requires_grad]
        assert trainable == ["backbone.0.body.layer2.0.weight"]
        with pytest.raises(RuntimeError, match="num_batches_tracked"):  # a plain module keeps torch's strictness
            m.TinyResNet().load_state_dict({**pretrained, "fc.num_batches_tracked": T.tensor(0)})

        images = [T.as_tensor(img) for img, _, _ in m.make_images(3)]
        nested = m.nested_tensor_from_tensor_list(images)
        tensors, mask = nested.decompose()
        assert tuple(tensors.shape[-2:]) == tuple(max(i.shape[d] for i in images) for d in (1, 2))
        for img, t, msk in zip(images, tensors, mask):
            h, w = img.shape[-2:]
            assert not msk[:h, :w].any() and msk.sum().item() == msk.numel() - h * w
            assert np.array_equal(t[:, :h, :w].numpy(), img.numpy()) and not t[:, h:, :].any()
        features, pos = model.backbone(nested)
        src, small = features[-1].decompose()
        assert small.dtype == T.bool and tuple(small.shape) == (3, *src.shape[-2:])
        assert tuple(pos[-1].shape) == (3, args.hidden_dim, *src.shape[-2:]) and pos[-1].abs().max() <= 1

        boxes = T.tensor([[0.5, 0.5, 0.2, 0.4], [0.3, 0.6, 0.1, 0.1]])
        np.testing.assert_allclose(m.box_xyxy_to_cxcywh(m.box_cxcywh_to_xyxy(boxes)).numpy(), boxes.numpy(),
                                   rtol=1e-6)
        giou = m.generalized_box_iou(m.box_cxcywh_to_xyxy(boxes), m.box_cxcywh_to_xyxy(boxes))
        np.testing.assert_allclose(T.diag(giou).numpy(), 1, rtol=1e-6)
        assert giou[0, 1].item() < 0  # disjoint boxes: GIoU below zero

        out = model(images)
        assert tuple(out["pred_logits"].shape) == (3, 5, 4) and len(out["aux_outputs"]) == 1
        assert out["pred_boxes"].min().item() > 0 and out["pred_boxes"].max().item() < 1
        targets = [m.SyntheticDetection(m.make_images(3))[i][1] for i in range(3)]
        for i, j in criterion.matcher(out, targets):
            assert i.dtype == T.int64 and len(i) == len(j) <= 5 and len(set(i.tolist())) == len(i)
            assert sorted(j.tolist()) == list(range(len(j)))
        assert criterion.empty_weight.tolist() == [1.0, 1.0, 1.0, np.float32(0.1)]
        assert "empty_weight" in criterion.state_dict()
        with pytest.raises(ValueError, match="normalize should be True"):
            m.PositionEmbeddingSine(8, scale=1.0)
