"""``tinygrad_adam.backends``, as ``torch.backends``: the flags training scripts set and query.

The switches (``cudnn.benchmark``, ``cudnn.deterministic``, ``allow_tf32``, ...) are kept so that such a script
runs; they change nothing here (no cuDNN, no TF32: GPU matmuls are float32). ``mps.is_available()`` is False
(no Apple GPU backend), so device-picking code falls through to "cuda" or "cpu".
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

cudnn = SimpleNamespace(enabled=True, benchmark=False, deterministic=False, allow_tf32=False,
                        is_available=lambda: False)
cuda = SimpleNamespace(matmul=SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=False))
mps = SimpleNamespace(is_available=lambda: False, is_built=lambda: False)
# torch's are submodules: `import torch.backends.cudnn as cudnn` (imagenet/main.py's line) finds them here
sys.modules.update({f"{__name__}.{name}": flags for name, flags in (("cudnn", cudnn), ("cuda", cuda), ("mps", mps))})
