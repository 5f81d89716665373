"""torch.backends.cuda's attention-kernel switches (``enable_flash_sdp``, ``flash_sdp_enabled``, the deprecated
``sdp_kernel`` context manager) and ``nn.attention.sdpa_kernel``'s effect on them, step by step against torch.

Before: ``torch.backends.cuda.enable_flash_sdp(True)`` (a line of many training scripts) raised AttributeError.
"""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as ours
import tinygrad_adam.nn.attention as ours_attention

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
import torch.nn.attention as torch_attention  # noqa: E402

KERNELS = ("flash", "mem_efficient", "math", "cudnn")
STEP = st.one_of(
    st.tuples(st.just("enable"), st.sampled_from(KERNELS), st.sampled_from([True, False, 1, "yes"])),
    st.tuples(st.just("sdp_kernel"), st.sampled_from(KERNELS), st.booleans()),
    st.tuples(st.just("sdpa_kernel"), st.lists(st.sampled_from(["MATH", "FLASH_ATTENTION", "EFFICIENT_ATTENTION",
                                                                 "CUDNN_ATTENTION"]), min_size=1, max_size=3)),
)


def run(lib, attention, steps: list[tuple]) -> list:
    """Applies the steps to one library's switches; returns every query's answer and each step's error type."""
    cuda = lib.backends.cuda
    seen: list = []
    saved = {k: getattr(cuda, f"{k}_sdp_enabled")() for k in KERNELS}
    try:
        for step in steps:
            if step[0] == "enable":
                try:
                    getattr(cuda, f"enable_{step[1]}_sdp")(step[2])
                except Exception as e:  # the type is compared
                    seen.append(type(e).__name__)
                seen.append([getattr(cuda, f"{k}_sdp_enabled")() for k in KERNELS])
            else:
                if step[0] == "sdp_kernel":
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        manager = cuda.sdp_kernel(**{f"enable_{step[1]}": step[2]})
                        manager.__enter__()
                    seen.append(any(issubclass(w.category, FutureWarning) for w in caught))
                else:
                    manager = attention.sdpa_kernel([getattr(attention.SDPBackend, b) for b in step[1]])
                    manager.__enter__()
                seen.append([getattr(cuda, f"{k}_sdp_enabled")() for k in KERNELS])
                manager.__exit__(None, None, None)
                seen.append([getattr(cuda, f"{k}_sdp_enabled")() for k in KERNELS])
    finally:
        for k, on in saved.items():
            getattr(cuda, f"enable_{k}_sdp")(on)
    return seen


@given(steps=st.lists(STEP, max_size=6))
@settings(max_examples=150, deadline=None)
def test_sdp_switches_follow_torch_s(steps: list[tuple]) -> None:
    assert run(ours, ours_attention, steps) == run(torch, torch_attention, steps)


def test_flags_script_lines_run() -> None:
    """A training script's checks: the defaults, and that no flash kernel is claimed on this build."""
    cuda = ours.backends.cuda
    assert [getattr(cuda, f"{k}_sdp_enabled")() for k in KERNELS] == [True] * 4
    assert cuda.is_built() is torch.backends.cuda.is_built() is False
    assert cuda.is_flash_attention_available() is False
