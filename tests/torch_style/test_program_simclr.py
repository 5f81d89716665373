"""``simclr.py`` (sthalles/SimCLR with imagenet/main.py's utilities) run on torch and, imports swapped, on ours: from
torch's initial weights and the same numpy-driven augmentations, the views, the contrastive losses, top-1 / top-5,
the lrs logged through the deprecated ``get_lr()``, gradient norms, the printed meter lines, the checkpoint dict
(model and Adam state), the linear evaluation (frozen backbone whose BatchNorm statistics still move) and the final
parameters agree, as do the warnings the program meets (``torch.cuda.amp``'s deprecations, ``get_lr()``,
``pin_memory`` without an accelerator); ``info_nce_loss`` alone with two and three views; and a run resumed from a
checkpoint equals the uninterrupted one bit for bit in each library, its logged ``get_lr()`` being torch's.

Tolerances: float32, the two runs differing by summation order in convolutions, BatchNorm and matmuls. Measured over
9 and 12 Adam steps (3 or 4 batches an epoch) and 3 linear-evaluation steps, the larger of the two runs: views
within 3.0e-7 absolute (of ~1), contrastive losses 3.8e-7 relative, gradient norms 6.3e-7 relative, checkpoint
parameters and BatchNorm statistics 2.4e-7 absolute, Adam's moments 4.6e-7 absolute, linear-evaluation losses 1.1e-7
relative and its final parameters 4.8e-7 absolute; we allow rtol 3e-6, atol 1.5e-6. Accuracies (percentages of
counts) and the logged lrs (Python floats) are equal. The printed ``f"{loss}"`` shows all of a float32's digits
(seen: 3.0636496543884277 / 3.063650131225586), so printed numbers are compared within the same tolerance and the
rest of each line as text. The file takes 4-6 s (torch on one thread) on a shared 2-core machine."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "simclr.py"
TOL = {"rtol": 3e-6, "atol": 1.5e-6}
COUNTS = ("acc/top1", "acc/top5", "train_top1", "top1", "top5")  # percentages of counts: equal
ADAM_NAMES = {"t": "step", "m": "exp_avg", "v": "exp_avg_sq"}  # ours are the paper's (README)


def numbers(state: dict) -> dict:
    """A state_dict's tensors as float64 arrays (ints kept as they are)."""
    return {k: v.detach().numpy().astype(np.float64) if hasattr(v, "detach") else v for k, v in state.items()}


def run(lib: str, folder: Path, weights: dict | None, eval_fc: dict | None) -> dict:
    """Pretraining (3 epochs of 3 batches of 8 images, one warmup epoch) then the linear evaluation (3 epochs), in
    ``lib`` from ``weights`` (torch's initial state_dict; None: this run's own, which is torch's)."""
    out = {}
    with program(PROGRAM, lib) as m, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m.torch.manual_seed(0)
        model = m.ResNetSimCLR("resnet_tiny", 16)
        if weights is not None:
            model.load_state_dict(weights)
        out["init"] = numbers(model.state_dict())
        images, _ = m.make_images(3)
        source = m.NumpySource(0)
        views = m.ContrastiveLearningViewGenerator(m.BatchAugment(16, rand=source.rand, randn=source.randn))
        out["views"] = [v.numpy() for v in views([(m.torch.from_numpy(x), 0) for x in images[:8]])[0]]
        args = m.default_args(epochs=3, warmup_epochs=1, log_dir=str(folder))
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            simclr, path = m.pretrain(model, images, args, m.NumpySource(1))
            checkpoint = m.torch.load(path)
            eval_model = m.resnet_tiny(num_classes=8)
            if eval_fc is not None:
                eval_model.fc.load_state_dict(eval_fc)
            out["eval_fc"] = {k: v.numpy().copy() for k, v in eval_model.fc.state_dict().items()}
            _, history = m.linear_eval(eval_model, path, m.make_images(2, seed=1), m.make_images(2, seed=2))
        out["lines"] = printed.getvalue().replace(str(folder), "<dir>").splitlines()
        out["scalars"] = simclr.writer.scalars
        out["grad_norms"] = simclr.grad_norms
        out["lr"] = simclr.optimizer.param_groups[0]["lr"]
        out["checkpoint"] = {k: v for k, v in checkpoint.items() if k not in ("state_dict", "optimizer")}
        out["state_dict"] = numbers(checkpoint["state_dict"])
        out["adam"] = {f"{i}.{ADAM_NAMES.get(k, k)}": np.asarray(v.numpy() if hasattr(v, "numpy") else v, np.float64)
                       for i, s in checkpoint["optimizer"]["state"].items() for k, v in s.items()}
        out["param_groups"] = checkpoint["optimizer"]["param_groups"]
        out["history"] = history
        out["final"] = numbers(eval_model.state_dict())
    out["warnings"] = sorted({(w.category.__name__, str(w.message).split("\n")[0]) for w in caught})
    return out


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        theirs = run("torch", tmp_path_factory.mktemp("torch"), None, None)
        ours = run("ours", tmp_path_factory.mktemp("ours"), theirs["init"], theirs["eval_fc"])
    finally:
        torch.set_num_threads(threads)
    return theirs, ours


def same_line(got: str, want: str) -> None:
    """Printed lines equal but for their numbers, which may differ in the last printed digits (f"{loss}" prints
    all of a float32's digits), each within ``TOL``."""
    words, want_words = re.split(r"([\s()]+)", got), re.split(r"([\s()]+)", want)
    assert len(words) == len(want_words), (got, want)
    for word, want_word in zip(words, want_words):
        try:
            number, want_number = float(word), float(want_word)
        except ValueError:
            assert word == want_word, (got, want)
        else:
            assert number == pytest.approx(want_number, rel=TOL["rtol"], abs=TOL["atol"]), (got, want)


def test_simclr_pretraining_matches_torch(both: tuple[dict, dict]) -> None:
    theirs, ours = both
    for a, b in zip(ours["views"], theirs["views"], strict=True):
        np.testing.assert_allclose(a, b, err_msg="views", **TOL)
    assert ours["scalars"].keys() == theirs["scalars"].keys()
    for tag in theirs["scalars"]:
        steps, values = zip(*ours["scalars"][tag])
        want_steps, want = zip(*theirs["scalars"][tag])
        assert steps == want_steps
        np.testing.assert_allclose(values, want, err_msg=tag, **({"rtol": 0} if tag in COUNTS else TOL))
    np.testing.assert_allclose(ours["grad_norms"], theirs["grad_norms"], **TOL)
    assert ours["lr"] == theirs["lr"] and ours["checkpoint"] == theirs["checkpoint"]
    shared = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "initial_lr", "params")
    assert [{k: g[k] for k in shared} for g in ours["param_groups"]] == \
        [{k: g[k] for k in shared} for g in theirs["param_groups"]]
    assert_params_close(ours["state_dict"], theirs["state_dict"], **TOL)
    assert_params_close(ours["adam"], theirs["adam"], **TOL)
    assert len(ours["lines"]) == len(theirs["lines"])
    for got, want in zip(ours["lines"], theirs["lines"]):
        same_line(got, want)
    once = "Converting a tensor with requires_grad=True"  # torch warns once per process: maybe earlier in a session
    def gist(said: list) -> list:  # each library words its warnings its own way: compared by what they name
        def named(m: str) -> str:
            for key in ("get_last_lr", "'pin_memory'"):
                if key in m:
                    return key
            if " is deprecated" in m:
                return m.split(" is deprecated")[0]
            return "no GPU" if "not available" in m or "needs a GPU" in m else m
        return [(c, named(m)) for c, m in said if once not in m and "Reading a Python number" not in m]

    assert gist(ours["warnings"]) == gist(theirs["warnings"])


def test_linear_evaluation_matches_torch(both: tuple[dict, dict]) -> None:
    theirs, ours = both
    for key in theirs["history"]:
        np.testing.assert_allclose(ours["history"][key], theirs["history"][key], err_msg=key,
                                   **({"rtol": 0} if key in COUNTS else TOL))
    assert_params_close(ours["final"], theirs["final"], **TOL)
    for name, value in ours["final"].items():  # frozen: only fc and BatchNorm's running statistics moved
        moved = not np.array_equal(value, ours["state_dict"][f"backbone.{name}"]) if "fc" not in name else True
        assert moved == ("fc" in name or "running" in name or "num_batches" in name), name


def resume_runs(lib: str, folder: Path) -> list[tuple]:
    """Two epochs in one run, and one epoch, its checkpoint, and a second run resumed from it (imagenet's resume;
    the cosine schedule rebuilt with ``last_epoch=0``): each run's SimCLR object, final state_dict and printed
    lines."""
    runs = []
    with program(PROGRAM, lib) as m, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        images, _ = m.make_images(2)  # 2 batches an epoch
        for name, stops in (("whole", (2,)), ("resumed", (1, 2))):
            m.torch.manual_seed(0)
            model = m.ResNetSimCLR("resnet_tiny", 16)
            path = ""
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                for epochs in stops:
                    (folder / f"{lib}_{name}{epochs}").mkdir()
                    args = m.default_args(epochs=epochs, warmup_epochs=0, log_dir=str(folder / f"{lib}_{name}{epochs}"),
                                          resume=path)
                    simclr, path = m.pretrain(model, images, args, m.NumpySource(1))
            runs.append((simclr, numbers(model.state_dict()), printed.getvalue().splitlines()))
    return runs


def test_resume_equals_the_uninterrupted_run(one_torch_thread: None, tmp_path: Path) -> None:
    """In each library the resumed run's second epoch is the uninterrupted run's, bit for bit, but for the lr that
    sthalles logs through ``get_lr()``: right after the rebuilt scheduler's construction torch's CosineAnnealingLR
    gives the closed form at the current step (the lr in use), where the uninterrupted run's call gives the next
    step's lr by the recursive formula; ours gives the same numbers."""
    logged = {}
    for lib in ("torch", "ours"):
        (whole, whole_params, whole_lines), (resumed, params, lines) = resume_runs(lib, tmp_path)
        assert lines[-5:-2] == whole_lines[-5:-2]  # the second epoch's meters (before "Training has finished.")
        assert "=> loaded checkpoint 'checkpoint_0001.pth.tar' (epoch 1)" in lines
        assert resumed.grad_norms == whole.grad_norms[2:]
        for tag in ("loss", "acc/top1", "acc/top5"):
            assert resumed.writer.scalars[tag] == whole.writer.scalars[tag][1:], tag
        assert resumed.optimizer.param_groups[0]["lr"] == whole.optimizer.param_groups[0]["lr"]
        for name in whole_params:
            assert np.array_equal(params[name], whole_params[name]), name
        logged[lib] = (whole.writer.scalars["learning_rate"], resumed.writer.scalars["learning_rate"])
    assert logged["ours"] == logged["torch"]
    (_, after_one_step), (_, after_resume) = logged["ours"][0][1], logged["ours"][1][0]
    assert after_resume == pytest.approx(3e-4 * (1 + np.cos(np.pi / 2)) / 2, rel=1e-15) != after_one_step


@pytest.mark.parametrize("n_views", [2, 3])
def test_info_nce_loss_matches_torch(n_views: int) -> None:
    """sthalles's loss alone on the same features, with two views and with three (two positives per row, so the
    CrossEntropy target 0 names only the first): logits, loss, top-1 / top-5 and the features' gradient."""
    features = np.random.default_rng(n_views).standard_normal((4 * n_views, 6)).astype(np.float32)
    results = []
    for lib in ("torch", "ours"):
        with program(PROGRAM, lib) as m:
            simclr = m.SimCLR(model=m.nn.Identity(), optimizer=None, scheduler=None,
                              args=m.default_args(batch_size=4, n_views=n_views))
            x = m.torch.tensor(features, requires_grad=True)
            logits, labels = simclr.info_nce_loss(x)
            loss = simclr.criterion(logits, labels)
            loss.backward()
            top1, top5 = m.accuracy(logits, labels, topk=(1, 5))
            results.append((logits.detach().numpy(), labels.numpy(), loss.item(), x.grad.numpy(), top1.tolist(),
                            top5.tolist()))
    (logits, labels, loss, grad, top1, top5), want = results[1], results[0]
    assert logits.shape == want[0].shape == (4 * n_views, 4 * n_views - 1) and labels.tolist() == want[1].tolist()
    np.testing.assert_allclose(logits, want[0], **TOL)
    assert loss == pytest.approx(want[2], rel=TOL["rtol"])
    np.testing.assert_allclose(grad, want[3], **TOL)
    assert (top1, top5) == (want[4], want[5])


def test_default_augmentation_draws_from_the_library_generator() -> None:
    """Without a numpy source the views come from ``torch.rand`` / ``torch.randn`` (our generator in ours): two
    views differ, a reseeded generator repeats them, and crops, flips and jitter keep the pixels in range."""
    with program(PROGRAM, "ours") as m:
        images = [(m.torch.from_numpy(x), 0) for x in m.make_images(1)[0]]
        views = m.ContrastiveLearningViewGenerator(m.BatchAugment(16))
        m.torch.manual_seed(3)
        (first, second), labels = views(images)
        m.torch.manual_seed(3)
        (again, _), _ = views(images)
    assert first.shape == (8, 3, 16, 16) and labels.tolist() == [0] * 8
    assert not np.allclose(first.numpy(), second.numpy()) and np.array_equal(first.numpy(), again.numpy())
    assert first.min().item() > -0.2 and first.max().item() < 1.2  # [0, 1] plus noise of std 0.02
