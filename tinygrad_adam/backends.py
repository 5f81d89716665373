"""``tinygrad_adam.backends``, as ``torch.backends``: the flags training scripts set and query.

The switches (``cudnn.benchmark``, ``cudnn.deterministic``, ``allow_tf32``, the attention kernels' ``enable_*_sdp``,
...) are kept so that such a script runs; they change nothing here (no cuDNN, no TF32: GPU matmuls are float32; one
attention implementation). ``mps.is_available()`` is False (no Apple GPU backend), so device-picking code falls
through to "cuda" or "cpu"; so is ``is_available()`` of ``mkldnn``, ``openmp`` and ``opt_einsum``, which are not
used.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable, Iterator
from types import SimpleNamespace

# torch.backends.cuda's attention-kernel switches, all on by default as in torch; nn.attention.sdpa_kernel sets them
SDP_ENABLED = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True}


def _sdp_switch(kernel: str) -> tuple[Callable[[bool], None], Callable[[], bool]]:
    """torch's ``enable_<kernel>_sdp(bool)`` and ``<kernel>_sdp_enabled()`` pair for one kernel."""
    def enable(enabled: bool) -> None:
        if not isinstance(enabled, bool):  # torch refuses 1 / "yes" too
            raise RuntimeError(f"enable_{kernel}_sdp expects a bool, got {type(enabled).__name__}")
        SDP_ENABLED[kernel] = enabled
    return enable, lambda: SDP_ENABLED[kernel]


@contextlib.contextmanager
def sdp_switches(**enabled: bool) -> Iterator[None]:
    """Sets the named attention-kernel switches for the block, then puts the old ones back."""
    saved = dict(SDP_ENABLED)
    SDP_ENABLED.update(enabled)
    try:
        yield
    finally:
        SDP_ENABLED.update(saved)


@contextlib.contextmanager
def sdp_kernel(enable_flash: bool = True, enable_math: bool = True, enable_mem_efficient: bool = True,
               enable_cudnn: bool = True) -> Iterator[dict]:
    """torch's deprecated ``with torch.backends.cuda.sdp_kernel(enable_flash=False): ...``."""
    warnings.warn("torch.backends.cuda.sdp_kernel() is deprecated; use torch.nn.attention.sdpa_kernel()",
                  FutureWarning, stacklevel=3)
    with sdp_switches(flash=enable_flash, math=enable_math, mem_efficient=enable_mem_efficient, cudnn=enable_cudnn):
        yield {}


cudnn = SimpleNamespace(enabled=True, benchmark=False, deterministic=False, allow_tf32=False,
                        is_available=lambda: False, version=lambda: None)  # None: no cuDNN, as torch's CPU build
_switches = {name: fn for kernel in SDP_ENABLED
             for name, fn in zip((f"enable_{kernel}_sdp", f"{kernel}_sdp_enabled"), _sdp_switch(kernel))}
cuda = SimpleNamespace(matmul=SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=False),
                       sdp_kernel=sdp_kernel, is_built=lambda: False, is_flash_attention_available=lambda: False,
                       **_switches)
mps = SimpleNamespace(is_available=lambda: False, is_built=lambda: False)
# CPU libraries torch may be built with; none is used here (numpy's BLAS and a thread pool of our own)
mkldnn = SimpleNamespace(enabled=True, is_available=lambda: False)
openmp = SimpleNamespace(is_available=lambda: False)
opt_einsum = SimpleNamespace(enabled=True, strategy="auto", is_available=lambda: False)
# torch's are submodules: `import torch.backends.cudnn as cudnn` (imagenet/main.py's line) finds them here
sys.modules.update({f"{__name__}.{name}": flags for name, flags in (("cudnn", cudnn), ("cuda", cuda), ("mps", mps),
                                                                    ("mkldnn", mkldnn), ("openmp", openmp),
                                                                    ("opt_einsum", opt_einsum))})
