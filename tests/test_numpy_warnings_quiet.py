"""torch computes inf and nan without a word; numpy's floating-point RuntimeWarnings ("overflow encountered in add",
"invalid value encountered in sqrt") came through our ops, an error under ``python -W error`` or in a test that
checks warnings (Hugging Face's ``finfo.min`` masks added to ``finfo.min`` warned on every padded GPT-2 forward).
A warnings filter for lines of this package quiets them; a user's own numpy code still warns."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import numpy as np
import tinygrad_adam as torch
big = torch.tensor([3e38, -1.0, 0.0], requires_grad=True)
masked = torch.full((2, 2), torch.finfo(torch.float32).min) + torch.finfo(torch.float32).min
y = (big * 1e10).sum() + big.sqrt().sum() + big.log().sum() + (1 / big).sum() + (big.exp() - big.exp()).sum()
y.backward()
torch.tensor([np.inf, -np.inf, 1.0], dtype=torch.float16).nansum()  # (numpy's nansum warns from numpy's own module)
print("quiet", float(masked[0, 0]), bool(big.grad.isnan().any()))
try:
    np.array([3e38], np.float32) * np.float32(1e10)
    print("user numpy silent")
except RuntimeWarning as e:
    print("user numpy warns:", e)
"""


def test_library_ops_quiet_under_w_error_user_numpy_still_warns() -> None:
    out = subprocess.run([sys.executable, "-W", "error", "-c", PROGRAM], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0] == "quiet -inf True"
    assert lines[1] == "user numpy warns: overflow encountered in multiply"


def test_the_warnings_come_back_on_request() -> None:
    program = ("import warnings, tinygrad_adam as torch\n"
               "warnings.filterwarnings('error', category=RuntimeWarning)\n"
               "try:\n    torch.tensor([3e38]) * 1e10\n    print('silent')\n"
               "except RuntimeWarning as e:\n    print('warns:', e)\n")
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "warns: overflow encountered in multiply", out.stderr[-2000:]
