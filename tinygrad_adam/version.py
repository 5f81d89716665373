"""``torch.version``: the library's version and the accelerator toolkits it was built against (none: ``cuda``,
``hip`` ... are None, as on torch's CPU-only build; a GPU here runs through cupy, whose version ``tinygrad_adam.cuda``
reports)."""

from __future__ import annotations

from . import __version__

cuda: str | None = None
hip: str | None = None
rocm: str | None = None
xpu: str | None = None
debug = False
git_version = "unknown"  # not built from a git checkout

__all__ = ["__version__", "cuda", "debug", "git_version", "hip", "rocm", "xpu"]
