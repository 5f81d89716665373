"""Run the command line in a fresh process, as a user would: ``python -m tinygrad_adam ARGS``.

stdout and stderr are pipes (not a terminal), the working directory is the caller's choice, and the
environment is the test's own unless ``env`` adds to it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli(*args: object, cwd: Path | str | None = None, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The finished ``python -m tinygrad_adam ARGS`` process (``returncode``, ``stdout``, ``stderr``)."""
    return subprocess.run([sys.executable, "-m", "tinygrad_adam", *(str(a) for a in args)], cwd=cwd,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout)
