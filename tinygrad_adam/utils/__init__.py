"""torch's import path for data loading: ``tinygrad_adam.utils.data`` is ``torch.utils.data`` (see ``data``)."""

from . import data

__all__ = ["data"]
