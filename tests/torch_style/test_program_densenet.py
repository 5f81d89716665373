"""``densenet.py`` (torchvision's DenseNet, shrunk: growth 4, blocks (2, 2), 8 initial features, bn_size 2, 16x16
images) run on torch and, imports swapped, on ours: from torch's initial weights and the same numpy images, the
losses, gradient norms, learning rates, parameters and BatchNorm buffers after every step of SGD (momentum, Nesterov,
weight decay) under CosineAnnealingLR, the printed lines and the eval logits agree, with ``memory_efficient`` False
and True. The memory-efficient path checkpoints each dense layer's ``bn_function`` through
``torch.utils.checkpoint.checkpoint(closure, *prev_features, use_reentrant=False)``, whose backward runs the
bottleneck again: in both libraries the losses, gradients and parameters equal the plain path's bit for bit, and the
recomputation updates each ``norm1``'s running statistics a second time (``num_batches_tracked`` counts 2 a step,
as in torch), so those buffers, and the eval logits, differ from the plain path's while matching torch's. A resume
from the checkpoint saved at step 2 equals the uninterrupted run exactly; the eval mode of a ``drop_rate`` 0.2 net
(dropout off), the memory-efficient path in eval mode with grad enabled (gradients, no buffer update), and
torchvision's regex remapping of an old-style state dict (``norm.1.weight``, no ``num_batches_tracked``) agree.

Tolerances: float32, the libraries differing by summation order in convolutions and BatchNorm. Measured over 6
steps (either path): losses within 8.4e-8 relative, gradient norms 1.0e-7 relative, parameters 1.2e-7 and buffers
2.4e-7 absolute, eval logits 3.6e-7 absolute. We allow rtol 1e-6, atol 1e-6. Learning rates, printed lines and
``num_batches_tracked`` are equal. The file takes about 5 s (torch on one thread) on the shared 2-core machine."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "densenet.py"
STEPS, SAVE_AT = 6, 2
RTOL, ATOL = 1e-6, 1e-6


def data() -> tuple[np.ndarray, np.ndarray]:
    with program(PROGRAM, "torch") as m:
        return m.synthetic_images()


def training_run(tmp_path: Path, memory_efficient: bool) -> tuple[dict, dict]:
    """Both libraries' logs of a whole run (saving at SAVE_AT), each with ``"resumed"``: the run resumed from it."""
    images, labels = data()

    def run(m: object, model: object, lib: str) -> dict:
        out = io.StringIO()
        path = tmp_path / f"{lib}_{memory_efficient}.pth"
        with contextlib.redirect_stdout(out):
            log = m.train(model, images, labels, STEPS, save=path, save_at=SAVE_AT)
        log["printed"] = out.getvalue().splitlines()
        log["eval"] = m.evaluate(model, images)
        fresh = m.densenet_tiny(memory_efficient=memory_efficient)
        with contextlib.redirect_stdout(io.StringIO()):
            log["resumed"] = m.train(fresh, images, labels, STEPS, resume=path)
        log["resumed"]["eval"] = m.evaluate(fresh, images)
        return log

    return from_torch_weights(PROGRAM, lambda m: m.densenet_tiny(memory_efficient=memory_efficient), run)


def assert_logs_close(ours: dict, theirs: dict) -> None:
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=RTOL)
    np.testing.assert_allclose(ours["grad_norm"], theirs["grad_norm"], rtol=RTOL)
    assert ours["lr"] == theirs["lr"]
    for step, (p_ours, p_theirs, b_ours, b_theirs) in enumerate(zip(ours["params"], theirs["params"],
                                                                   ours["buffers"], theirs["buffers"])):
        assert list(p_ours) == list(p_theirs) and list(b_ours) == list(b_theirs)
        for name in p_theirs:
            np.testing.assert_allclose(p_ours[name], p_theirs[name], rtol=RTOL, atol=ATOL, err_msg=f"{step} {name}")
        for name in b_theirs:
            if name.endswith("num_batches_tracked"):
                assert int(b_ours[name]) == int(b_theirs[name]), (step, name)
            else:
                np.testing.assert_allclose(b_ours[name], b_theirs[name], rtol=RTOL, atol=ATOL,
                                           err_msg=f"{step} {name}")
    np.testing.assert_allclose(ours["eval"], theirs["eval"], rtol=RTOL, atol=ATOL)


def resumed_equals_whole(log: dict) -> None:
    resumed = log["resumed"]
    whole = {k: log[k][SAVE_AT + 1:] for k in ("loss", "grad_norm", "lr")}
    assert_same_run(whole, {k: resumed[k] for k in whole})
    for key in ("params", "buffers"):
        for a, b in zip(log[key][SAVE_AT + 1:], resumed[key]):
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a), key
    assert np.array_equal(log["eval"], resumed["eval"])


def test_densenet_trains_as_torch(one_torch_thread: None, tmp_path: Path) -> None:
    runs = {me: training_run(tmp_path, me) for me in (False, True)}
    for theirs, ours in runs.values():
        assert_logs_close(ours, theirs)
        assert ours["printed"] == theirs["printed"]
        assert len(ours["printed"]) == STEPS and ours["printed"][0].startswith("step 0 loss ")
        resumed_equals_whole(ours)
        resumed_equals_whole(theirs)
    for lib in (0, 1):  # memory_efficient: the same losses, gradients and parameters; norm1 updated twice
        plain, efficient = runs[False][lib], runs[True][lib]
        assert plain["loss"] == efficient["loss"] and plain["grad_norm"] == efficient["grad_norm"]
        for a, b in zip(plain["params"], efficient["params"]):
            assert all(np.array_equal(a[k], b[k]) for k in a)
        last_plain, last_efficient = plain["buffers"][-1], efficient["buffers"][-1]
        for name in last_plain:
            twice = ".norm1." in name
            if name.endswith("num_batches_tracked"):
                assert int(last_efficient[name]) == (2 if twice else 1) * STEPS, name
            else:
                assert np.array_equal(last_plain[name], last_efficient[name]) != twice, name
        assert not np.allclose(plain["eval"], efficient["eval"], rtol=0, atol=1e-6)


def test_densenet_eval_paths_match_torch(one_torch_thread: None) -> None:
    """A drop_rate 0.2 net in eval mode; the memory-efficient path in eval mode under grad (checkpointed, gradients
    as the plain path's, buffers untouched); both as torch's."""
    images, _ = data()

    def run(m: object, model: object, lib: str) -> dict:
        lib_torch = m.torch
        out = {"dropout_eval": m.evaluate(model, images)}
        plain = m.densenet_tiny(memory_efficient=False, drop_rate=0.2)
        plain.load_state_dict(model.state_dict())
        for net in (model, plain):
            net.eval()
            x = lib_torch.from_numpy(images[:4]).requires_grad_(True)
            logits = net(x)
            (logits * lib_torch.arange(5.0)).sum().backward()
            key = "efficient" if net is model else "plain"
            out[key] = [logits.detach().numpy(), x.grad.numpy()] + [p.grad.numpy() for p in net.parameters()]
            out[key + "_buffers"] = {k: v.numpy().copy() for k, v in net.named_buffers()}
        return out

    theirs, ours = from_torch_weights(PROGRAM, lambda m: m.densenet_tiny(memory_efficient=True, drop_rate=0.2), run)
    np.testing.assert_allclose(ours["dropout_eval"], theirs["dropout_eval"], rtol=RTOL, atol=ATOL)
    for result in (theirs, ours):
        for a, b in zip(result["efficient"], result["plain"]):
            assert np.array_equal(a, b)
        assert all(np.array_equal(v, result["plain_buffers"][k]) for k, v in result["efficient_buffers"].items())
        assert int(result["efficient_buffers"]["features.denseblock1.denselayer1.norm1.num_batches_tracked"]) == 0
    for a, b in zip(ours["efficient"], theirs["efficient"]):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def test_old_checkpoint_keys_remapped_as_torch(one_torch_thread: None) -> None:
    """torchvision's regex turns ``...denselayer1.norm.1.weight`` into ``...denselayer1.norm1.weight``; the model
    loads the remapped dict (BatchNorm keeps its ``num_batches_tracked`` where the old dict has none)."""
    images, labels = data()

    def run(m: object, model: object, lib: str) -> dict:
        with contextlib.redirect_stdout(io.StringIO()):
            m.train(model, images, labels, 2)
        old = m.old_style_state_dict(model)
        old_keys = list(old)
        fresh = m.densenet_tiny()
        m._load_state_dict(fresh, old)
        return {"old_keys": old_keys, "new_keys": list(old), "logits": m.evaluate(fresh, images),
                "expected": m.evaluate(model, images),
                "tracked": [int(v) for k, v in fresh.state_dict().items() if k.endswith("num_batches_tracked")]}

    theirs, ours = from_torch_weights(PROGRAM, lambda m: m.densenet_tiny(), run)
    assert "features.denseblock1.denselayer1.norm.1.weight" in theirs["old_keys"]
    assert "features.denseblock2.denselayer2.conv.2.weight" in theirs["old_keys"]
    assert ours["old_keys"] == theirs["old_keys"] and ours["new_keys"] == theirs["new_keys"]
    assert "features.denseblock1.denselayer1.norm1.running_var" in ours["new_keys"]
    assert ours["tracked"] == theirs["tracked"]
    for result in (theirs, ours):
        assert np.array_equal(result["logits"], result["expected"])
    np.testing.assert_allclose(ours["logits"], theirs["logits"], rtol=RTOL, atol=ATOL)
