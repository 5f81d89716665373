"""What the Growing Neural Cellular Automata program (``tests/torch_style/growing_nca.py``) met, against torch 2.13:
the program ran as torch's, but ``Tensor.T`` on a tensor that is not 2-D (CA code transposes stacked kernels and
batched grids with it) never warned here, where torch warns once per process that it is deprecated (UserWarning),
and on a 0-d tensor once more that it is the identity. Now ours warns the same, each once.

Mutations run (each made a test here fail, then was restored):
- ``_T`` without its warnings: test_T_warns_as_torch_in_a_fresh_process fails.
- the 0-d warning's condition ``self.ndim == 0`` made ``self.ndim < 2``: the same test fails (1-D got both).
- the once-flags never set (a warning per call): the same test fails (the repeated calls warned again)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
from tinygrad_adam import methods

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

CALLS = [[2, 3], [3], [2, 3], [], [2, 0, 4], [], [4, 1, 2]]  # the shapes .T is taken of, in this order
RECORD = """
import json, sys, warnings
import {lib} as torch
out = []
for shape in json.loads(sys.argv[1]):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = torch.ones(shape).T
    out.append([list(y.shape), [[w.category.__name__, str(w.message).split(" (Triggered")[0]] for w in caught]])
print(json.dumps(out))
"""


def record(lib: str) -> list:
    """The shapes and warnings of ``CALLS`` in a fresh process (torch's warnings are once per process)."""
    done = subprocess.run([sys.executable, "-c", RECORD.format(lib=lib), json.dumps(CALLS)], capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)


def test_T_warns_as_torch_in_a_fresh_process() -> None:  # noqa: N802 - torch's name
    theirs = record("torch")
    assert [len(warned) for _, warned in theirs] == [0, 1, 0, 1, 0, 0, 0]  # once each: 1-D's, then 0-d's own
    assert record("tinygrad_adam") == theirs


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(0, 3), max_size=5), seed=st.integers(0, 2**16))
def test_T_reverses_the_dims_as_torch(shape: list[int], seed: int) -> None:  # noqa: N802 - torch's name
    a = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    a.flat[:2] = [np.nan, np.inf][:a.size]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ours, theirs = tg.tensor(a).T, torch.tensor(a).T
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_2d_T_never_warns(monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: N802 - torch's name
    monkeypatch.setattr(methods, "_T_warned", {"0-d": False, "not 2-d": False})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tg.ones(2, 3).T.shape == (3, 2) and tg.ones(0, 3).T.shape == (3, 0)
