"""What porting SeanNaren/deepspeech.pytorch (``tests/torch_style/deepspeech.py``) found, against torch.

- ``nn.modules.conv`` was missing (loud: AttributeError). DeepSpeech's ``get_seq_lens`` walks ``self.conv.modules()``
  and keeps ``if type(m) == nn.modules.conv.Conv2d``, so the model could not run a forward. ``nn/modules/conv.py``
  now holds torch.nn.modules.conv's public classes (the same objects as ``nn.Conv1d`` ... ``nn.LazyConvTranspose3d``)
  and ``_ConvNd``; the test below checks the names and the repository's length formula against the convs' real
  output lengths, in both libraries, over hypothesis-drawn conv configurations and lengths.

Nothing else differed: every number the program computes (MaskConv, packed bidirectional LSTM / GRU, Lookahead,
CTC with ``zero_infinity``, SGD + Nesterov, AdamW, the greedy decoder) agreed with torch within float32 rounding."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam
import tinygrad_adam.nn as nn

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

NAMES = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "LazyConv1d",
         "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d", "_ConvNd"]


def test_modules_conv_reached_without_importing_it() -> None:
    """``import tinygrad_adam.nn as nn`` alone makes ``nn.modules.conv.Conv2d`` reachable, as ``import torch.nn`` does
    (a fresh interpreter: in this one another test may have imported the submodule)."""
    code = "import tinygrad_adam.nn as nn; assert nn.modules.conv.Conv2d is nn.Conv2d"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", NAMES)
def test_modules_conv_names_are_the_nn_classes(name: str) -> None:
    """``nn.modules.conv.X`` is ``nn.X`` in both libraries, through the attribute and through an import."""
    ours = importlib.import_module("tinygrad_adam.nn.modules.conv")
    assert getattr(nn.modules.conv, name) is getattr(ours, name)
    if not name.startswith("_"):
        assert getattr(ours, name) is getattr(nn, name)
        assert getattr(torch.nn.modules.conv, name) is getattr(torch.nn, name)


def seq_lens(lib: object, model: object, length: object) -> list[int]:
    """deepspeech.pytorch's ``get_seq_lens``, as written (``type(m) == nn.modules.conv.Conv2d``, ``true_divide``)."""
    seq_len = length
    for m in model.modules():
        if type(m) == lib.nn.modules.conv.Conv2d:  # noqa: E721 - the repository's spelling
            seq_len = seq_len + 2 * m.padding[1] - m.dilation[1] * (m.kernel_size[1] - 1) - 1
            seq_len = seq_len.true_divide(m.stride[1]) + 1
    return seq_len.int().tolist()


@settings(max_examples=25, deadline=None)
@given(kernel=st.integers(1, 5), stride=st.integers(1, 3), padding=st.integers(0, 2), dilation=st.integers(1, 2),
       length=st.integers(1, 30), second=st.booleans())
def test_get_seq_lens_through_modules_conv(kernel: int, stride: int, padding: int, dilation: int, length: int,
                                           second: bool) -> None:
    """The formula finds the Conv2d layers (not BatchNorm2d / Hardtanh / a Conv1d) and gives their output length."""
    if length + 2 * padding < dilation * (kernel - 1) + 1:
        return  # the conv itself refuses an input shorter than its window
    results = []
    for lib in (torch, tinygrad_adam):
        lib.manual_seed(0)
        layers = [lib.nn.Conv2d(1, 2, kernel_size=(3, kernel), stride=(2, stride), padding=(1, padding),
                                dilation=(1, dilation)), lib.nn.BatchNorm2d(2), lib.nn.Hardtanh(0, 20, inplace=True)]
        if second:
            layers.append(lib.nn.Conv2d(2, 2, kernel_size=(3, 3), stride=(1, 2), padding=(1, 1)))
        model = lib.nn.Sequential(*layers, lib.nn.Sequential(lib.nn.Conv1d(1, 1, 3)))
        real = lib.nn.Sequential(*layers)(lib.zeros(1, 1, 5, length)).shape[3]
        got = seq_lens(lib, model, lib.tensor([length], dtype=lib.int32))
        assert got == [real], (lib.__name__, got, real)
        results.append(got)
    assert results[0] == results[1]
