"""``torch.utils.tensorboard``: needs the ``tensorboard`` package, as torch's (without it the import raises
ModuleNotFoundError, as torch's does). ``SummaryWriter`` itself is not implemented here: with tensorboard installed
the import raises ImportError saying so, rather than hand out a writer that logs nothing."""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("tensorboard") is None:
    raise ModuleNotFoundError("No module named 'tensorboard' (torch.utils.tensorboard needs it: pip install "
                              "tensorboard)", name="tensorboard")
raise ImportError("tinygrad_adam.utils.tensorboard: SummaryWriter is not implemented; log with the tensorboard "
                  "package directly, or read tinygrad_adam's run logs")
