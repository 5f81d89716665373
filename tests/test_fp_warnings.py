"""remainder by a zero divisor makes nan without a numpy RuntimeWarning, as fmod (torch emits none); the other
ops' warnings at 0 divisors and logs of 0 are numpy's (README: quieting them costs a context switch per op).
Values and gradients are checked against torch 2.13 under ``warnings.simplefilter("error")``, float64 and float32,
with hypothesis inputs holding zeros, -0, negatives, nan and +-inf.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_higher_order_grad import DTYPES, TOL, _close, _np, typed

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

VALUES = st.floats(-3, 3) | st.sampled_from([0.0, -0.0, 0.0, -1.0, np.nan, np.inf, -np.inf])
OPS: dict[str, Callable[..., Any]] = {
    "remainder": lambda lib, a, b: lib.remainder(a, b), "remainder_number": lambda lib, a, b: a % 0.0,
}


def _run(lib: Any, f: Callable[..., Any], a: np.ndarray, b: np.ndarray, w: np.ndarray) -> list[Any]:
    x, y = lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=True)
    out = f(lib, x, y)
    out.backward(lib.tensor(w))
    return [_np(out), _np(x.grad), _np(y.grad)]


@pytest.mark.parametrize("name", sorted(OPS))
@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=DTYPES)
def test_no_warning_and_torch_values(name: str, data: st.DataObject, dtype: Any) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=0, max_side=4) | st.just((0,)))
    a, b, w = (typed(data.draw(hnp.arrays(np.float64, shape, elements=VALUES)), dtype) for _ in range(3))
    theirs = _run(torch, OPS[name], a, b, w)
    if name == "remainder":  # torch's vector loop (8+ elements) makes nan where a / b overflows (1 mod 5e-324), its
        with np.errstate(all="ignore"):  # scalar loop and ours the exact remainder (0: 1 is 2^1074 x 5e-324)
            overflow = np.isinf(np.broadcast_to(a / b, theirs[0].shape)) & np.isfinite(a) & np.isfinite(b)
            theirs[0] = np.where(overflow, np.remainder(a, b), theirs[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = _run(tg, OPS[name], a, b, w)
    for mine, ref in zip(ours, theirs, strict=True):
        _close(mine, ref, TOL[a.dtype.type])


@pytest.mark.gpu
def test_on_the_gpu_as_on_the_cpu() -> None:
    """remainder on the GPU as on the CPU (cupy never warns)."""
    def program(device: str) -> list[Any]:
        x = tg.tensor([0.0, -1.0, 2.0, np.inf], device=device, requires_grad=True)
        y = tg.tensor([0.0, 0.0, 3.0, -1.0], device=device, requires_grad=True)
        tg.remainder(x, y).sum().backward()
        return [x.grad, y.grad]
    for a, b in zip(program("cpu"), program("cuda"), strict=True):
        assert b.device.startswith("cuda")
        np.testing.assert_array_equal(a.numpy(), b.detach().numpy())


def test_a_warning_from_inside_a_fused_kernel_shows_one_line_of_it() -> None:
    """float16 Adam whose v overflows: numpy warns from the generated kernel, whose file name was once the whole
    kernel's source, so the warning printed every line of it."""
    p = tg.nn.Parameter(tg.tensor([1.3], dtype=tg.float16))
    opt = tg.optim.Adam([p], lr=0.01)
    p.grad = tg.tensor([6e4], dtype=tg.float16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt.step()
    kernel = [w for w in caught if "fused kernel" in w.filename]
    assert kernel, [str(w.message) for w in caught]
    for w in kernel:
        shown = warnings.formatwarning(w.message, w.category, w.filename, w.lineno).strip().splitlines()
        assert "\n" not in w.filename and len(shown) == 2 and "numpy." in shown[1], shown
