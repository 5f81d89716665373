"""``torch.signal``: its ``windows`` (hann, hamming, gaussian, kaiser, ...)."""

from . import windows

__all__ = ["windows"]
