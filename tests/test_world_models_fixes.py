"""What the World Models program (``tests/torch_style/world_models.py``) met, against torch 2.13: trainvae.py and
trainmdrnn.py save ``scheduler.state_dict()`` of a ReduceLROnPlateau into their checkpoints. Ours listed its keys in
another order (``min_lrs`` first, ``mode`` / ``threshold`` before ``cooldown``...) and held the default ``min_lr`` as
the float 0.0 where torch keeps the int 0 of its signature (in ``default_min_lr`` and ``min_lrs``): the same
numbers, a different state_dict (silent: printed or compared checkpoints differed). Now the same keys in the same
order with the same values and types, through any run of metrics, and after ``load_state_dict``.

And its data path: conv2d / conv_transpose2d (channels-last input or weight), max_pool2d (and its indices),
avg_pool2d and interpolate / upsample (every mode) now return channels-last outputs for channels-last inputs, as
torch's do; ours returned NCHW-contiguous ones (silent: ``stride()`` / ``is_contiguous()`` answered otherwise)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

METRICS = st.lists(st.one_of(st.floats(-1e30, 1e30, allow_nan=False), st.sampled_from([0.0, -0.0, math.inf,
                                                                                        -math.inf, 1e-300])),
                   min_size=0, max_size=12)
MIN_LR = st.one_of(st.none(), st.sampled_from([0, 0.0, 1e-4, 1]), st.lists(st.sampled_from([0, 1e-5, 0.5]),
                                                                             min_size=2, max_size=2))


def make(lib: Any, mode: str, threshold_mode: str, min_lr: Any, factor: float, patience: int, cooldown: int) -> Any:
    """A ReduceLROnPlateau of ``lib`` over an SGD of two parameter groups."""
    params = [lib.nn.Parameter(lib.ones(2)), lib.nn.Parameter(lib.ones(3))]
    opt = lib.optim.SGD([{"params": params[:1]}, {"params": params[1:], "lr": 0.5}], lr=1.0)
    kwargs = {} if min_lr is None else {"min_lr": min_lr}
    return lib.optim.lr_scheduler.ReduceLROnPlateau(opt, mode, factor=factor, patience=patience, cooldown=cooldown,
                                                    threshold_mode=threshold_mode, **kwargs)


def same_state(ours: dict, theirs: dict) -> None:
    """The same keys in the same order, equal values of the same types (lists element by element)."""
    assert list(ours) == list(theirs)
    for key, want in theirs.items():
        got = ours[key]
        assert type(got) is type(want), (key, got, want)
        if isinstance(want, list):
            assert [type(v) for v in got] == [type(v) for v in want], key
        assert got == want or (isinstance(want, float) and math.isnan(want) and math.isnan(got)), key


@settings(deadline=None, max_examples=60)
@given(st.sampled_from(["min", "max"]), st.sampled_from(["rel", "abs"]), MIN_LR, st.sampled_from([0.1, 0.5, 0.0]),
       st.integers(0, 2), st.integers(0, 2), METRICS)
def test_reduce_lr_on_plateau_state_dict_as_torch(mode: str, threshold_mode: str, min_lr: Any, factor: float,
                                                  patience: int, cooldown: int, metrics: list[float]) -> None:
    schedulers = [make(lib, mode, threshold_mode, min_lr, factor, patience, cooldown) for lib in (tg, torch)]
    same_state(*(s.state_dict() for s in schedulers))
    for metric in metrics:
        for s in schedulers:
            s.step(metric)
        same_state(*(s.state_dict() for s in schedulers))
        assert [g["lr"] for g in schedulers[0].optimizer.param_groups] == \
            [g["lr"] for g in schedulers[1].optimizer.param_groups]
    fresh = make(tg, "min", "rel", None, 0.1, 10, 0)
    fresh.load_state_dict(schedulers[1].state_dict())  # torch's state into ours
    same_state(fresh.state_dict(), schedulers[1].state_dict())


def test_reduce_lr_on_plateau_default_state_dict_exactly() -> None:
    """The one trainvae.py saves (no steps, one group): torch's dict, key by key, the int 0 included."""
    want = make(torch, "min", "rel", None, 0.5, 5, 0).state_dict()
    got = make(tg, "min", "rel", None, 0.5, 5, 0).state_dict()
    same_state(got, want)
    assert got["default_min_lr"] == 0 and type(got["default_min_lr"]) is int
    np.testing.assert_equal(got["min_lrs"], [0, 0])


# ---------------------------------------------------------------- channels-last outputs
# trainmdrnn.py's Dataset transposes numpy frames to CHW, the collate keeps those channels-last strides, and in torch
# the bilinear upsample, the encoder's convs and the pools keep them: ``x.view(x.size(0), -1)`` then raises there.
# Ours made every such output NCHW-contiguous (silent: other ``stride()`` / ``is_contiguous()`` answers; our ``view``
# copies where torch refuses, README's documented difference, so that raise stays torch's alone).
OPS = {
    "conv2d": lambda lib, x, w: lib.nn.functional.conv2d(x, w, padding=1),
    "conv2d_bias_stride": lambda lib, x, w: lib.nn.functional.conv2d(x, w, lib.ones(w.shape[0]), stride=2),
    "conv_transpose2d": lambda lib, x, w: lib.nn.functional.conv_transpose2d(x, w.transpose(0, 1), stride=2),
    "max_pool2d": lambda lib, x, w: lib.nn.functional.max_pool2d(x, 2, ceil_mode=True),
    "max_pool2d_indices": lambda lib, x, w: lib.nn.functional.max_pool2d(x, 2, return_indices=True)[1],
    "avg_pool2d": lambda lib, x, w: lib.nn.functional.avg_pool2d(x, 2, padding=1),
    "adaptive_avg_pool2d_even": lambda lib, x, w: lib.nn.functional.adaptive_avg_pool2d(x, 1),
    "bilinear": lambda lib, x, w: lib.nn.functional.interpolate(x, size=(5, 3), mode="bilinear", align_corners=True),
    "nearest": lambda lib, x, w: lib.nn.functional.interpolate(x, scale_factor=2, mode="nearest"),
    "bicubic": lambda lib, x, w: lib.nn.functional.interpolate(x, size=3, mode="bicubic"),
    "upsample": lambda lib, x, w: lib.nn.functional.upsample(x, size=4, mode="bilinear", align_corners=True),
}
LAYOUTS = ("contiguous", "channels_last", "numpy_hwc", "channels_last_sliced")


def laid_out(lib: Any, values: np.ndarray, layout: str) -> Any:
    """``values`` (N, C, H, W) as a tensor of ``lib`` with the strides ``layout`` names."""
    if layout == "numpy_hwc":  # an HWC numpy array transposed, as the Dataset's transform makes it
        return lib.from_numpy(np.ascontiguousarray(values.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2))
    t = lib.from_numpy(values.copy())
    if layout == "channels_last":
        return t.contiguous(memory_format=lib.channels_last)
    if layout == "channels_last_sliced":  # not dense: every other column of a channels-last tensor
        wide = lib.from_numpy(np.repeat(values, 2, axis=3)).contiguous(memory_format=lib.channels_last)
        return wide[..., ::2]
    return t


@settings(deadline=None, max_examples=80)
@given(st.sampled_from(sorted(OPS)), st.sampled_from(LAYOUTS), st.sampled_from(["contiguous", "channels_last"]),
       st.integers(0, 2), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5), st.integers(0, 2 ** 31))
def test_channels_last_outputs_as_torch(op: str, layout: str, weight_layout: str, n: int, c: int, h: int, w: int,
                                        seed: int) -> None:
    """Each op's output strides (and so ``is_contiguous(memory_format=...)``) equal torch's, for
    contiguous, channels-last, transposed-numpy and sliced channels-last inputs, size-1 and empty dims included;
    the values agree too."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((n, c, h + 1, w + 1)).astype(np.float32)
    weight = rng.standard_normal((2, c, 3, 3)).astype(np.float32)
    results = []
    for lib in (torch, tg):
        x = laid_out(lib, values, layout)
        wt = lib.from_numpy(weight.copy())
        if weight_layout == "channels_last":
            wt = wt.contiguous(memory_format=lib.channels_last)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                out = OPS[op](lib, x, wt)
            except (RuntimeError, ValueError) as e:  # (a too-small input for the kernel: both refuse)
                results.append(type(e))
                continue
        fmt = out.is_contiguous(memory_format=lib.channels_last)
        results.append((tuple(out.shape), out.stride(), out.is_contiguous(), fmt, out.detach().numpy().copy()))
    theirs, ours = results
    if not isinstance(theirs, tuple):
        assert not isinstance(ours, tuple)
        return
    if n == 0:  # (an empty result's strides: numpy's may be zeros, a separate matter; shapes only)
        assert ours[0] == theirs[0]
    else:
        assert ours[:4] == theirs[:4], (ours[:4], theirs[:4])
    np.testing.assert_allclose(ours[4], theirs[4], rtol=1e-5, atol=1e-5)
