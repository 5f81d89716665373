"""The fine-tuning program (``finetune.py``) on torch and, with the imports swapped, on ours: from torch's initial
weights and the same numpy data, the same pretraining losses, the same missing / unexpected keys when the new model
loads the saved backbone, the same losses, per-group learning rates, gradient norms and validation numbers through
freezing, unfreezing (a new parameter group), early stopping and a mid-training checkpoint; a run resumed from that
checkpoint equals the uninterrupted one exactly. The data pipeline (ConcatDataset, random_split, Subset, a padding
collate_fn, drop_last) gives the same batches; random_split's order is the generator's, so only its sizes and
disjointness are compared and both runs take the same index lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

import tinygrad_adam  # noqa: E402

PROGRAM = HERE / "finetune.py"
LIBS = {"torch": torch, "ours": tinygrad_adam}


def source_task(rng: np.random.Generator, n: int = 64, width: int = 10) -> tuple[np.ndarray, ...]:
    """Padded token rows (n, width), their lengths, and 5 classes by the mean token (under 8, 8 to 10, ...)."""
    lengths = rng.integers(3, width + 1, n)
    tokens = np.zeros((n, width), np.int64)
    for i, k in enumerate(lengths):
        tokens[i, :k] = rng.integers(1, 20, k)
    return tokens, lengths, ((tokens.sum(1) / lengths - 6) // 2).clip(0, 4).astype(np.int64)


def target_task(rng: np.random.Generator, n: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Variable-length token sequences (2 to 8 tokens) and 3 classes by their mean token (under 9, 9 to 11, more)."""
    sequences = [rng.integers(1, 20, rng.integers(2, 9)) for _ in range(n)]
    return sequences, np.array([int(np.digitize(s.mean(), [9, 11])) for s in sequences])


def initial_weights() -> tuple[dict, dict]:
    """torch's freshly initialised pretraining and fine-tuning models, as numpy copies."""
    with program(PROGRAM, "torch") as t:
        torch.manual_seed(0)
        nets = t.PretrainNet(), t.FineTuneNet(dropout=0.0)
    return tuple({k: v.numpy().copy() for k, v in net.state_dict().items()} for net in nets)


def as_tensors(lib: str, state: dict) -> dict:
    return {k: LIBS[lib].tensor(v) for k, v in state.items()}


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {"source": source_task(rng), "parts": (target_task(rng, 40), target_task(rng, 24)),
            "weights": initial_weights()}


def run_staged(lib: str, data: dict, folder: Path, stop_after: int | None = None) -> dict[str, Any]:
    """Pretrain, save, then the staged fine-tuning on the first 48 examples, validated on the last 16."""
    lt = LIBS[lib]
    with program(PROGRAM, lib) as m:
        pre, model = m.PretrainNet(), m.FineTuneNet(dropout=0.0)
        pre.load_state_dict(as_tensors(lib, data["weights"][0]))
        model.load_state_dict(as_tensors(lib, data["weights"][1]))
        path = folder / f"{lib}_backbone.pt"
        pretrain = m.pretrain(pre, *(lt.tensor(a) for a in data["source"]), path)
        dataset = m.build_dataset(data["parts"])
        model, keys, history = m.finetune_staged(model, path, dataset, list(range(48)), list(range(48, 64)),
                                                 checkpoint=folder / f"{lib}_checkpoint.pt", stop_after=stop_after)
    return {"pretrain": pretrain, "keys": keys, "history": history,
            "params": {k: np.asarray(v).copy() for k, v in model.state_dict().items()}}


SERIES = ("loss", "norm", "val_loss", "val_acc")


def test_staged_finetune_matches_torch_and_resumes_exactly(data: dict, tmp_path: Path, one_torch_thread: None) -> None:
    want = run_staged("torch", data, tmp_path, stop_after=3)
    whole = run_staged("ours", data, tmp_path)
    got = run_staged("ours", data, tmp_path, stop_after=3)
    (tmp_path / "early").mkdir()
    early = run_staged("ours", data, tmp_path / "early", stop_after=0)  # resumed inside the SequentialLR, frozen
    for resumed in (got, early):  # ours resumed = ours uninterrupted, bit for bit
        for key in (*SERIES, "lr", "trainable", "best_epoch"):
            assert resumed["history"][key] == whole["history"][key], key
        assert all(np.array_equal(resumed["params"][k], v) for k, v in whole["params"].items())

    # the pretraining: SGD with momentum under MultiStepLR, float32 sums of a few hundred terms (~1e-6 relative)
    np.testing.assert_allclose(got["pretrain"]["loss"], want["pretrain"]["loss"], rtol=1e-5)
    assert got["pretrain"]["lr"] == want["pretrain"]["lr"]
    assert np.mean(got["pretrain"]["loss"][4:]) < 0.9 * np.mean(got["pretrain"]["loss"][:4])  # epoch 2 < epoch 1
    assert got["keys"] == want["keys"] == (["head.1.bias", "head.1.weight", "head.3.bias", "head.3.weight"],
                                           ["classifier.bias", "classifier.weight"])

    mine, theirs = got["history"], want["history"]
    assert mine["lr"] == theirs["lr"]  # Python floats by the same formulas: exact
    assert [len(lrs) for lrs in mine["lr"]] == [1] * 12 + [2] * (len(mine["lr"]) - 12)  # unfrozen after 2 epochs
    for key in SERIES:
        np.testing.assert_allclose(mine[key], theirs[key], rtol=1e-4, err_msg=key)
    head = sum(v.size for k, v in got["params"].items() if k.startswith("head."))
    everything = head + sum(v.size for k, v in got["params"].items()
                            if k.startswith("backbone.") and "running" not in k and "num_batches" not in k)
    assert mine["trainable"] == theirs["trainable"] and mine["trainable"][:3] == [head, head, everything]
    assert mine["best_epoch"] == theirs["best_epoch"]
    assert mine["best_epoch"] > 3 and len(mine["val_loss"]) == mine["best_epoch"] + 3 < 10  # stopped early, after
    assert mine["val_loss"][-1] < mine["val_loss"][0] and np.mean(mine["loss"][-6:]) < 0.7 * np.mean(mine["loss"][:6])
    assert mine["val_loss"][mine["best_epoch"]] == min(mine["val_loss"])
    np.testing.assert_allclose(mine["final"][0], min(theirs["val_loss"]), rtol=1e-4)  # the best weights restored
    np.testing.assert_allclose(mine["final"][2].numpy(), theirs["final"][2].numpy(), rtol=1e-4, atol=1e-5)
    assert list(got["params"]) == list(want["params"])
    for key, value in want["params"].items():
        np.testing.assert_allclose(got["params"][key], value, rtol=1e-4, atol=1e-6, err_msg=key)
    checkpoints_agree(torch.load(tmp_path / "torch_checkpoint.pt"), tinygrad_adam.load(tmp_path / "ours_checkpoint.pt"))


def checkpoints_agree(theirs: dict, ours: dict) -> None:
    """The checkpoints saved after epoch 3 (after unfreezing) hold the same model, two parameter groups with the
    same hyperparameters and indices, the same momentum buffers (ours names them ``buf``, with the step count
    ``t``) and the same LambdaLR state."""
    assert ours["epoch"] == theirs["epoch"] == 3 and ours["config"] == theirs["config"] == {"dropout": 0.0}
    assert list(ours["model"]) == list(theirs["model"])
    for key, value in theirs["model"].items():
        np.testing.assert_allclose(ours["model"][key], value.numpy(), rtol=1e-4, atol=1e-6, err_msg=key)
    groups = ours["optimizer"]["param_groups"], theirs["optimizer"]["param_groups"]
    assert [len(g["params"]) for g in groups[0]] == [4, 5]  # the head's, then the backbone's added group
    for mine, want in zip(*groups, strict=True):
        assert {k: mine[k] for k in ("lr", "initial_lr", "momentum", "weight_decay", "params")} == {
            k: want[k] for k in ("lr", "initial_lr", "momentum", "weight_decay", "params")}
    assert ours["optimizer"]["state"].keys() == theirs["optimizer"]["state"].keys() == set(range(9))
    for i, state in theirs["optimizer"]["state"].items():
        assert ours["optimizer"]["state"][i]["t"] == (24 if i < 4 else 12)  # the backbone's since epoch 2
        np.testing.assert_allclose(ours["optimizer"]["state"][i]["momentum_buffer"], state["momentum_buffer"].numpy(),
                                   rtol=1e-3, atol=1e-6)
    for key in ("base_lrs", "last_epoch", "_last_lr", "lr_lambdas"):
        assert ours["scheduler"][key] == theirs["scheduler"][key], key


def test_frozen_backbone_keeps_the_pretrained_weights_and_statistics(data: dict, tmp_path: Path) -> None:
    """A head-only run: the backbone's parameters, running statistics and batch count stay as loaded."""
    with program(PROGRAM, "ours") as m:
        pre = m.PretrainNet()
        pre.load_state_dict(as_tensors("ours", data["weights"][0]))
        path = tmp_path / "backbone.pt"
        m.pretrain(pre, *(tinygrad_adam.tensor(a) for a in data["source"]), path, epochs=1)
        dataset = m.build_dataset(data["parts"])
        model, _, history = m.finetune_staged(m.FineTuneNet(), path, dataset, list(range(48)), list(range(48, 64)),
                                              epochs=2, unfreeze_at=99, patience=9)
    saved = tinygrad_adam.load(path)
    for key, value in model.state_dict().items():
        if key.startswith("backbone."):
            assert np.array_equal(np.asarray(value), saved[key]), key
    assert all(len(lrs) == 1 for lrs in history["lr"]) and history["loss"][-1] != history["loss"][0]


def test_discriminative_finetune_matches_torch(data: dict, tmp_path: Path, one_torch_thread: None) -> None:
    """Per-group lrs from the start (Adam), warmup chained with step decay, stepped per epoch."""
    results = {}
    for lib, lt in LIBS.items():
        with program(PROGRAM, lib) as m:
            pre, model = m.PretrainNet(), m.FineTuneNet(dropout=0.0)
            pre.load_state_dict(as_tensors(lib, data["weights"][0]))
            model.load_state_dict(as_tensors(lib, data["weights"][1]))
            path = tmp_path / f"{lib}.pt"
            m.pretrain(pre, *(lt.tensor(a) for a in data["source"]), path, epochs=1)
            dataset = m.build_dataset(data["parts"])
            results[lib] = m.finetune_discriminative(model, path, dataset, list(range(48)), list(range(48, 64)))[2]
    mine, theirs = results["ours"], results["torch"]
    assert mine["epoch_lr"] == theirs["epoch_lr"]
    assert mine["embedding_unchanged"] is theirs["embedding_unchanged"] is True
    np.testing.assert_allclose(mine["epoch_lr"], [[5e-4, 5e-3], [7.5e-4, 7.5e-3], [5e-4, 5e-3], [5e-4, 5e-3],
                                                  [2.5e-4, 2.5e-3]], rtol=1e-12)
    for key in ("loss", "norm", "val_loss", "val_acc"):
        np.testing.assert_allclose(mine[key], theirs[key], rtol=2e-4, err_msg=key)
    assert np.mean(mine["loss"][-6:]) < np.mean(mine["loss"][:6])


def test_data_pipeline_matches_torch(data: dict) -> None:
    """ConcatDataset's indexing, random_split's sizes and disjointness, Subset, the padding collate_fn and
    drop_last give torch's items and batches."""
    batches, splits = {}, {}
    for lib in LIBS:
        with program(PROGRAM, lib) as m:
            first, second = (m.SequenceDataset(*part) for part in data["parts"])
            dataset = m.ConcatDataset([first, second])
            assert len(dataset) == 64 and dataset.cumulative_sizes == [40, 64]
            for i in (0, 39, 40, 63, -1, -64):
                assert np.array_equal(dataset[i][0].numpy(), (first if i % 64 < 40 else second)[i % 64 - 40 * (
                    i % 64 >= 40)][0].numpy()) and dataset[i][1] == int(data["parts"][i % 64 >= 40][1][i % 64 % 40])
            with pytest.raises(IndexError):
                dataset[64]
            with pytest.raises(ValueError, match="absolute value of index" if lib == "torch" else "past the start"):
                dataset[-65]
            train, val = m.split(dataset)
            splits[lib] = (len(train), len(val), set(train.indices), set(val.indices))
            assert len(m.split(dataset, seed=1)[0]) == 48
            assert list(m.split(dataset)[0].indices) == list(train.indices)  # the seeded generator repeats
            loader, val_loader = m.make_loaders(dataset, list(range(5, 50)), list(range(50, 64)), batch_size=8)
            assert len(loader) == 5 and len(val_loader) == 2  # 45 // 8 with drop_last, ceil(14 / 8) without
            batches[lib] = [[a.numpy() for a in batch] for batch in (*loader, *val_loader)]
    for n_train, n_val, train, val in splits.values():
        assert (n_train, n_val) == (48, 16) and not train & val and train | val == set(range(64))
    for mine, theirs in zip(batches["ours"], batches["torch"], strict=True):
        for a, b in zip(mine, theirs, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)
    assert [b[0].shape[0] for b in batches["ours"]] == [8] * 5 + [8, 6]


def test_dropout_and_batch_norm_follow_train_and_eval(data: dict) -> None:
    """In eval mode the head's dropout is the identity and batch norm uses its running statistics (torch's
    outputs from the same weights); in train mode dropout zeroes about p of the features, scaling the rest."""
    outputs = {}
    sequences = [np.array(s) for s in data["parts"][0][0][:16]]
    for lib, lt in LIBS.items():
        with program(PROGRAM, lib) as m:
            model = m.FineTuneNet(dropout=0.5)
            model.load_state_dict(as_tensors(lib, data["weights"][1]))
            x, n, _ = m.collate_batch([(lt.tensor(s), 0) for s in sequences])
            model.train()
            model(x, n)  # one batch moves the running statistics
            model.eval()
            with lt.no_grad():
                outputs[lib] = model(x, n).numpy().copy(), model.backbone(x, n).numpy().copy()
            if lib == "ours":
                model.train()
                features = model.backbone(x, n)
                dropped = model.head[0](features)
                kept, alive = dropped.numpy() != 0, features.detach().numpy() != 0  # ReLU zeroes some itself
                assert not (kept & ~alive).any() and 0.3 < 1 - kept[alive].mean() < 0.7
                np.testing.assert_allclose(dropped.numpy()[kept], 2 * features.detach().numpy()[kept], rtol=1e-6)
    for mine, theirs in zip(outputs["ours"], outputs["torch"], strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
