"""``torch.autograd.variable``: the legacy ``Variable`` (see ``autograd.Variable``), at torch's path."""

from ..autograd import Variable

__all__ = ["Variable"]
