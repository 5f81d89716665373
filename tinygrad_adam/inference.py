"""Use a trained model: rebuild it from a run directory and evaluate it.

    import tinygrad_adam as tg
    model = tg.load_run("runs/mlp")                  # the trained MLP, in eval mode, on the CPU
    logits = model(tg.Tensor(images.reshape(len(images), -1)))    # images: (N, 1, 28, 28) float32 in [0, 1]

A run directory is what ``tinygrad-adam train`` wrote: ``config.json`` says which model with which settings,
``checkpoint.npz`` holds its weights (and, with ``--temporal-average``, the averaged weights it was evaluated with).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy

from . import data, nn, optim
from .rundir import RunDirError
from .train import Config, build_model, check_own_checkpoint, evaluate, load_checkpoint, load_data

# the input of each dataset's models, per example (the CNN keeps MNIST's image shape, the others flatten it)
INPUT_SHAPE = {"mnist": (1, 28, 28), "imdb": (10_000,)}


def run_config(run_dir: str | os.PathLike[str]) -> Config:
    """The Config a run directory was trained with (from its ``config.json``); a RunDirError (one line) if that
    file is damaged."""
    path = Path(run_dir) / "config.json"
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"no run directory at {run_dir}")
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory: it has no config.json (train writes one)")
    try:
        saved = json.loads(path.read_text())
        if not isinstance(saved, dict):
            raise TypeError(f"a JSON {type(saved).__name__}, not an object")
        cfg = Config.from_json(saved)
        dataclasses.replace(cfg, device="cpu").resolved()  # every setting has a valid value
    except (OSError, ValueError, TypeError) as e:
        raise RunDirError(f"{path} is damaged ({e}): restore it from a copy (train writes it when a run "
                          f"starts or resumes)") from None
    return cfg


def load_run(run_dir: str | os.PathLike[str], device: str = "cpu", averaged: bool = True) -> nn.Module:
    """The model trained in ``run_dir``, with its last checkpoint's weights, on ``device``, in eval mode.

    Inputs are what the run trained on: MNIST as (N, 784) float32 in [0, 1] (the CNN: (N, 1, 28, 28)), IMDB as
    (N, 10000) bag-of-words rows; classifiers return (N, classes) logits, the VAE its reconstruction logits.
    With temporal averaging (``--temporal-average``), ``averaged=True`` gives the averaged weights the run was
    evaluated with, ``averaged=False`` the last iterate.
    """
    cfg = run_config(run_dir)
    ckpt = Path(run_dir) / "checkpoint.npz"
    if not ckpt.is_file():
        raise FileNotFoundError(f"{run_dir} has no checkpoint.npz: no epoch has finished yet")
    cfg = dataclasses.replace(cfg, device=device).resolved()
    shape = INPUT_SHAPE[cfg.dataset] if cfg.model == "cnn" else (int(numpy.prod(INPUT_SHAPE[cfg.dataset])),)
    model = build_model(cfg, data.Split(numpy.zeros((1, *shape), numpy.float32), numpy.zeros(1, numpy.int64)))
    state, saved = load_checkpoint(ckpt)  # (checked: a damaged tree is one CheckpointError)
    check_own_checkpoint(Path(run_dir), saved)  # another run's checkpoint would be read with this run's model
    model.load_state_dict(state["model"])
    model.to(cfg.device)
    if averaged and state.get("average"):
        average = optim.TemporalAverage(model.parameters(), beta=state["average"]["beta"])
        average.load_state_dict(state["average"])
        for p, avg in zip(model.parameters(), average.averages()):
            p._data[...] = avg._data
    return model.eval()


def evaluate_run(run_dir: str | os.PathLike[str], split: str = "test", device: str = "cpu",
                 limit: int | None = None, data_dir: str | None = None, download: bool = False) -> dict[str, Any]:
    """Loss (and accuracy for classifiers) of ``run_dir``'s model on the whole ``split`` ("train" or "test") of
    its dataset, or on ``limit`` examples of it (drawn as ``train --limit`` draws them)."""
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; choose from train, test")
    cfg = run_config(run_dir)
    model = load_run(run_dir, device=device)
    cfg = dataclasses.replace(cfg, limit=limit, data_dir=data_dir or cfg.data_dir, download=download)
    train, test = load_data(cfg)
    chosen = train if split == "train" else test
    result = {k.removeprefix("test_"): v for k, v in evaluate(model, chosen, device).items()}
    return {"split": split, "examples": len(chosen.y), **result}
