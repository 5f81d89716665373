"""What the nanoGPT program (``tests/torch_style/nanogpt.py``) met, against torch 2.13: train.py chooses its dtype
by ``'bfloat16' if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else 'float16'``, and sample.py
likewise; ``cuda.is_bf16_supported`` was missing, so on a machine where cupy sees a GPU the line raised
AttributeError. It answers False here (there is no bfloat16 dtype, so such a program takes its float16 branch);
torch answers False on its CPU build and True on a GPU of compute capability 8 or more. It takes torch's
``including_emulation`` argument.

Mutations (each makes a test here fail):
- ``is_bf16_supported`` removed from ``tinygrad_adam/cuda.py``.
- its ``including_emulation`` parameter removed.
- it answering ``is_available()`` (True where cupy sees a GPU: the program then asks for ``torch.bfloat16``)."""

from __future__ import annotations

import inspect

import pytest

import tinygrad_adam as tg
from tinygrad_adam import backend

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def test_is_bf16_supported_answers_false_with_torchs_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tg.cuda.is_bf16_supported() is False and tg.cuda.is_bf16_supported(including_emulation=False) is False
    assert list(inspect.signature(tg.cuda.is_bf16_supported).parameters) == \
        list(inspect.signature(torch.cuda.is_bf16_supported).parameters)
    assert tg.cuda.is_bf16_supported() == torch.cuda.is_bf16_supported()  # torch's CPU build
    monkeypatch.setattr(backend, "cupy_available", lambda: True)  # as on a machine with a GPU
    assert tg.cuda.is_available() and tg.cuda.is_bf16_supported() is False
    dtype = 'bfloat16' if tg.cuda.is_available() and tg.cuda.is_bf16_supported() else 'float16'  # train.py's line
    assert dtype == 'float16'
