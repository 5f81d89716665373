"""``resume_trainer.py`` (a hand-written trainer: TensorDataset, random_split / Subset, DataLoader with a collate_fn
(a random scaling from Python's ``random``) and drop_last, an MLP with dropout, accumulation over 2 micro-batches,
AdamW in two groups with clip_grad_norm_, OneCycleLR per optimizer step, ReduceLROnPlateau per epoch, checkpoints
holding ``get_rng_state()``, ``cuda.get_rng_state_all()`` and ``random.getstate()``, loaded with
``map_location="cpu", weights_only=True``) run on torch and, imports swapped, on ours.

Across the libraries (dropout off, the same numpy split and batch order, torch's initial weights): the per-step
losses and learning rates, the per-epoch validation loss / accuracy and group lrs (where the plateau's halving
shows), and the final parameters agree; and a run stopped after the checkpoint epoch and resumed from the file into
new objects equals the uninterrupted one bit for bit. Within each library with dropout on, the random_split
generator and a shuffling DataLoader on the global generator: the resumed run equals the uninterrupted one bit for
bit (the restored generator states give the same dropout masks, scalings and batch orders; another seed differs);
and so does a resume from a mid-epoch checkpoint with the loader's own generator set back to the epoch's start and
the used batches fetched and dropped. (The resume script called ``torch.cuda.get_rng_state_all``, which ours
lacked; see tests/test_programs_s36b_fixes.py.)

Tolerances: float32, the libraries differ by summation order in the matmuls, LayerNorm and the collate's std.
Measured: losses within 1.3e-7 relative, validation losses within 8.4e-8 relative, parameters within 2.4e-7
absolute; we allow rtol 2e-6 / atol 1e-6. Learning rates (Python floats) within 1e-12 relative, accuracies exactly.
The file takes about 4 s (torch on one thread)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, assert_same_run, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "resume_trainer.py"
TOL = {"rtol": 2e-6, "atol": 1e-6}
CONFIG = {"seed": 0, "val_size": 24, "batch_size": 6, "accum": 2, "epochs": 5, "save_at": 2, "lr": 0.02}


def dataset() -> tuple[np.ndarray, np.ndarray]:
    """96 rows of 10 features; 3 classes by two noisy linear scores."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 10)).astype(np.float32) * rng.uniform(0.5, 3, 10).astype(np.float32)
    score = x @ rng.standard_normal((10, 2)) + 0.5 * rng.standard_normal((96, 2))
    y = np.digitize(score[:, 0] - 0.5 * score[:, 1], [-1.0, 1.0]).astype(np.int64)
    return x, y


class NumpyEpochs:
    """A sampler: epoch ``e``'s order is a permutation from numpy seeded by (seed, e), so both libraries (and a
    resumed run, given its start epoch) see the same batches."""

    def __init__(self, n: int, seed: int, epoch: int = 0) -> None:
        self.n, self.seed, self.epoch = n, seed, epoch

    def __iter__(self):
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n).tolist()
        self.epoch += 1
        return iter(order)

    def __len__(self) -> int:
        return self.n


def numbers(model, history: dict) -> dict:
    out = {k: list(v) for k, v in history.items()}
    out["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return out


def test_trainer_matches_torch_and_resumes_exactly(one_torch_thread: None, tmp_path: Path) -> None:
    x, y = dataset()
    order = np.random.default_rng(1).permutation(96)
    indices = (order[24:].tolist(), order[:24].tolist())
    config = dict(CONFIG, dropout=0.0)
    with program(PATH, "torch") as t:
        torch.manual_seed(0)
        initial = {k: v.numpy().copy() for k, v in t.MLP(p=0.0).state_dict().items()}
    results = {}
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            ckpt = tmp_path / f"{lib}.pt"
            model, whole, _, _ = m.run(x, y, config, checkpoint=ckpt, indices=indices, sampler=NumpyEpochs(72, 3),
                                       model_state={k: m.torch.from_numpy(v) for k, v in initial.items()})
            whole = numbers(model, whole)
            train_set, val_set = m.make_datasets(x, y, 24, indices=indices)
            loaders = m.make_loaders(train_set, val_set, 6, NumpyEpochs(72, 3, epoch=config["save_at"]))
            m.torch.manual_seed(123)  # a "new process": the generator states are whatever they are
            random.seed(123)
            resumed_model, resumed = m.resume(ckpt, config, *loaders)
            assert_same_run(whole, numbers(resumed_model, resumed))
            results[lib] = whole
    theirs, ours = results["torch"], results["ours"]
    assert len(ours["loss"]) == 5 * 6 and len(ours["val_loss"]) == 5
    assert ours["lr"] == pytest.approx(theirs["lr"], rel=1e-12)
    np.testing.assert_allclose(ours["epoch_lr"], theirs["epoch_lr"], rtol=1e-12)
    assert ours["epoch_lr"][3][0] == pytest.approx(0.00266955 / 2)  # the plateau halved OneCycle's lr after epoch 4
    assert ours["val_acc"] == theirs["val_acc"]
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert_params_close(ours["params"], theirs["params"], **TOL)
    assert ours["val_loss"][-1] < 0.6 * ours["val_loss"][0]  # it learned


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_resume_with_dropout_and_shuffling_is_exact(one_torch_thread: None, tmp_path: Path, lib: str) -> None:
    x, y = dataset()
    config = dict(CONFIG, dropout=0.2)
    with program(PATH, lib) as m:
        ckpt = tmp_path / "ckpt.pt"
        model, whole, _, (train_set, val_set) = m.run(x, y, config, checkpoint=ckpt)
        assert len(train_set) == 72 and len(val_set) == 24
        assert not set(train_set.indices) & set(val_set.indices)
        again = m.make_datasets(x, y, 24, seed=0)
        assert list(again[0].indices) == list(train_set.indices)  # the seeded generator repeats the split
        whole = numbers(model, whole)

        m.run(x, y, config, checkpoint=ckpt, stop_after=config["save_at"])
        m.torch.manual_seed(123)
        random.seed(123)
        loaders = m.make_loaders(*m.make_datasets(x, y, 24, seed=0), 6)
        resumed_model, resumed = m.resume(ckpt, config, *loaders)
        assert_same_run(whole, numbers(resumed_model, resumed))

        _, other, _, _ = m.run(x, y, dict(config, seed=1))  # the generator matters
        assert other["loss"] != whole["loss"]


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_mid_epoch_resume_with_a_loader_generator_is_exact(one_torch_thread: None, tmp_path: Path, lib: str) -> None:
    """A checkpoint after optimizer step 8 (epoch 2, 4 micro-batches in) with the loader generator's state at the
    epoch's start: the resume sets it back, fetches and drops the used batches (their collate draws from Python's
    ``random``), restores the other generators, and continues exactly."""
    x, y = dataset()
    config = dict(CONFIG, dropout=0.2, loader_seed=5, save_step=8)
    with program(PATH, lib) as m:
        step_ckpt = tmp_path / "step.pt"
        model, whole, _, _ = m.run(x, y, config, step_checkpoint=step_ckpt)
        whole = numbers(model, whole)
        saved = m.torch.load(step_ckpt)
        assert (saved["epoch"], saved["batches_done"], len(saved["history"]["loss"])) == (1, 4, 8)
        m.torch.manual_seed(123)
        random.seed(123)
        generator = m.torch.Generator().manual_seed(99)  # a new process's generator, set back from the file
        loaders = m.make_loaders(*m.make_datasets(x, y, 24, seed=0), 6, generator=generator)
        resumed_model, resumed = m.resume_mid_epoch(step_ckpt, config, *loaders)
        assert_same_run(whole, numbers(resumed_model, resumed))
