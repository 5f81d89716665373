"""``moco.py`` (facebookresearch/moco's builder.py, main_moco.py and main_lincls.py) run on torch and, imports swapped,
on ours: from torch's initial weights (the random queue buffer included) and the same numpy crops, flips and batch
shuffles, the losses, (K+1)-way contrast accuracies, gradient norms, learning rates, the queue and its pointer, both
encoders' parameters and BatchNorm statistics after every step and the printed progress lines agree; the key encoder
is the momentum average of the query encoder, the queue holds the unit keys at the pointer's columns, a resumed run
equals the uninterrupted one, and the linear evaluation (renamed ``module.encoder_q.`` weights, a frozen net,
``sanity_check``) agrees from each library's checkpoint.

Tolerances: float32, the runs differing by summation order in convolutions, BatchNorm, matmuls and the einsums.
Measured over 4 steps (mlp head, cosine schedule) and 2 (plain fc): losses within 1.6e-7 relative, gradient norms
3.0e-7, parameters / BatchNorm statistics / queue within 1.8e-7 absolute; the linear evaluation's losses within
1.9e-7 relative and its fc within 1.2e-7. We allow rtol 1e-6 and atol 1e-6. The runs are kept short on purpose: at
T = 0.07 and lr 0.3 the dynamics amplify a difference ~2.5x a step, in torch alone too (one ulp added to its initial
weights grows from 6e-7 to 6e-5 in 6 steps, as ours against torch's does). Accuracies, learning rates, queue
pointers and printed lines are compared exactly. The file takes about 3 s (torch on one thread) on a shared 2-core
machine."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "moco.py"
M, K, B = 0.9, 16, 4
LINCLS = ["--epochs", "2", "-b", str(B), "--lr", "1.0", "--schedule", "1"]
RTOL, ATOL = 1e-6, 1e-6
ARGS = ["-b", str(B), "--lr", "0.1", "--moco-k", str(K), "-p", "1"]


def make(m: object, mlp: bool = True) -> object:
    return m.MoCo(m.TinyNet, dim=8, K=K, m=M, T=0.2, mlp=mlp)


def pretrain(tmp_path: Path, argv: list[str], mlp: bool = True) -> tuple[dict, dict]:
    def run(m: object, model: object, lib: str) -> dict:
        np.random.seed(0)
        history = collections.defaultdict(list)
        m.pretrain([*ARGS, *argv, "--checkpoint", str(tmp_path / f"{lib}.pt")], model, m.make_images(8), history)
        return history
    return from_torch_weights(PROGRAM, lambda m: make(m, mlp), run)


def agree(theirs: dict, ours: dict) -> None:
    """Losses, gradient norms, the queue, both encoders and the buffers after every step, and the accuracies."""
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=RTOL)
    np.testing.assert_allclose(ours["grad_norm"], theirs["grad_norm"], rtol=RTOL)
    np.testing.assert_allclose(ours["queue"], theirs["queue"], rtol=0, atol=ATOL)
    for step, (got, want) in enumerate(zip(ours["state"], theirs["state"], strict=True)):
        assert got.keys() == want.keys()
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=ATOL, err_msg=f"{name} at step {step}")
    assert ours["acc"] == theirs["acc"] and ours["queue_ptr"] == theirs["queue_ptr"]


def test_moco_without_mlp_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    """The plain ``fc`` head (MoCo v1) under the step schedule, one epoch."""
    theirs, ours = pretrain(tmp_path, ["--epochs", "1"], mlp=False)
    agree(theirs, ours)
    assert "encoder_q.fc.weight" in ours["state"][0] and ours["lr"] == theirs["lr"] == [0.1, 0.1]
    momentum_and_queue_hold(ours)


def test_moco_pretrain_and_lincls_match_torch(one_torch_thread: None, tmp_path: Path) -> None:
    theirs, ours = pretrain(tmp_path, ["--epochs", "2", "--cos"])
    agree(theirs, ours)
    assert ours["lr"] == theirs["lr"] == [0.1, 0.1, 0.05, 0.05]  # cosine over 2 epochs
    assert ours["queue_ptr"] == theirs["queue_ptr"] == [4, 8, 12, 0]
    assert ours["acc"] == theirs["acc"] and ours["lines"] == theirs["lines"]
    assert ours["lines"][1].startswith("Epoch: [0][1/2]\tLoss ")
    for out in (ours, theirs):
        momentum_and_queue_hold(out)

    runs = []
    for lib in ("torch", "ours"):
        with program(PROGRAM, lib) as m:
            history = collections.defaultdict(list)
            fc_weight = None if lib == "torch" else runs[0]["fc_init"]
            m.lincls(LINCLS + ["--pretrained", str(tmp_path / f"{lib}.pt")], m.make_images(8, 1), history,
                     fc_weight=fc_weight)
            runs.append(history)
    want, got = runs
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=RTOL)
    assert got["acc"] == want["acc"] and got["lr"] == want["lr"] == [1.0, 1.0, 0.1, 0.1]
    for name in want["fc"]:
        np.testing.assert_allclose(got["fc"][name], want["fc"][name], rtol=0, atol=ATOL, err_msg=name)


def momentum_and_queue_hold(out: dict) -> None:
    """Each step the key encoder's parameters are m * old + (1 - m) * the query encoder's before its step (its
    BatchNorm statistics its own), and the queue changes only at the B columns from the old pointer, to unit keys."""
    for step in range(1, len(out["state"])):
        before, after = out["state"][step - 1], out["state"][step]
        for name in before:
            if name.startswith("encoder_k.") and "running" not in name and "num_batches" not in name:
                want = M * before[name] + (1 - M) * before["encoder_q." + name[len("encoder_k."):]]
                np.testing.assert_allclose(after[name], want, rtol=0, atol=1e-7, err_msg=name)
        ptr = out["queue_ptr"][step - 1]
        new, old = out["queue"][step], out["queue"][step - 1]
        np.testing.assert_allclose(np.linalg.norm(new[:, ptr:ptr + B], axis=0), 1, rtol=1e-6)
        keep = np.r_[0:ptr, ptr + B:K]
        np.testing.assert_array_equal(new[:, keep], old[:, keep])
        assert not np.allclose(new[:, ptr:ptr + B], old[:, ptr:ptr + B])
    last = out["state"][-1]
    assert not np.allclose(last["encoder_k.bn1.running_mean"], last["encoder_q.bn1.running_mean"])


def test_resume_equals_uninterrupted(tmp_path: Path) -> None:
    """Ours, under the step schedule: 2 epochs at once, or 1 epoch, the checkpoint, and ``--resume`` for the second
    (the numpy draws continued by hand), give the same numbers exactly."""
    argv = [*ARGS, "--schedule", "1", "--checkpoint", str(tmp_path / "moco.pt")]
    runs = []
    with program(PROGRAM, "ours") as m:
        resume = ["--epochs", "2", "--resume", str(tmp_path / "moco.pt")]
        for parts in ([["--epochs", "2"]], [["--epochs", "1"], resume]):
            np.random.seed(0)
            m.torch.manual_seed(0)
            history = collections.defaultdict(list)
            for extra in parts:
                m.pretrain(argv + extra, make(m), m.make_images(8), history)
            runs.append({"loss": history["loss"][-2:], "lr": history["lr"][-2:], "acc": history["acc"][-2:],
                         "queue_ptr": history["queue_ptr"][-2:], "params": history["state"][-1]})
    assert runs[0]["lr"] == [0.010000000000000002] * 2
    assert_same_run(*runs)


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_builder_structure(lib: str, tmp_path: Path) -> None:
    """What both libraries must build: the mlp head, the frozen key copy, the queue buffers, the pointer cycling
    through the queue, the shuffle undone, the logits' shape and labels, lincls' own fc init and sanity_check."""
    with program(PROGRAM, lib) as m:
        m.torch.manual_seed(0)
        model = make(m)
        fc = model.encoder_q.fc
        assert [type(layer).__name__ for layer in fc] == ["Linear", "ReLU", "Linear"]
        assert tuple(fc[0].weight.shape) == (16, 16) and tuple(fc[2].weight.shape) == (8, 16)
        for q, k in zip(model.encoder_q.parameters(), model.encoder_k.parameters(), strict=True):
            assert q.requires_grad and not k.requires_grad
            np.testing.assert_array_equal(q.detach().numpy(), k.numpy())
        state = model.state_dict()
        assert list(state)[:2] == ["queue", "queue_ptr"] and str(state["queue_ptr"].dtype).endswith("int64")
        np.testing.assert_allclose(np.linalg.norm(state["queue"].numpy(), axis=0), 1, rtol=1e-6)
        assert tuple(state["queue"].shape) == (8, K) and state["queue_ptr"].tolist() == [0]

        keys = m.torch.from_numpy(np.arange(4 * B * 8, dtype=np.float32).reshape(4, B, 8))
        for i in range(4):
            model._dequeue_and_enqueue(keys[i])
            assert int(model.queue_ptr) == (i + 1) * B % K
        np.testing.assert_array_equal(model.queue.numpy(), keys.reshape(K, 8).numpy().T)
        with pytest.raises(AssertionError):
            model._dequeue_and_enqueue(keys[0, :3])

        np.random.seed(1)
        x = m.torch.from_numpy(np.arange(B * 2, dtype=np.float32).reshape(B, 2))
        shuffled, idx_unshuffle = model._batch_shuffle_ddp(x)
        assert not np.array_equal(shuffled.numpy(), x.numpy())
        np.testing.assert_array_equal(model._batch_unshuffle_ddp(shuffled, idx_unshuffle).numpy(), x.numpy())

        images = m.torch.from_numpy(m.make_images(B)[0])
        logits, labels = model(im_q=images, im_k=images)
        assert tuple(logits.shape) == (B, 1 + K) and labels.tolist() == [0] * B and logits.requires_grad
        assert int(model.queue_ptr) == B

        m.save_checkpoint({"state_dict": m.torch.nn.DataParallel(model).state_dict()}, False, tmp_path / "ck.pt")
        history = collections.defaultdict(list)
        linear = m.lincls(LINCLS + ["--pretrained", str(tmp_path / "ck.pt")], m.make_images(8, 1), history)
        assert 0.005 < history["fc_init"].std() < 0.02  # normal_(0, 0.01), this library's own draw
        assert [n for n, p in linear.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]
        saved = linear.state_dict()
        saved["bn1.running_var"] = saved["bn1.running_var"] + 1
        with pytest.raises(AssertionError, match=r"bn1\.running_var is changed in linear classifier training"):
            m.sanity_check(saved, str(tmp_path / "ck.pt"))

