"""Submodules of ``tinygrad_adam.autograd``: that is a module (``autograd.py``), not a package, so it points its
``__path__`` here and ``import tinygrad_adam.autograd.functional`` loads ``functional.py`` of this folder under
that name (torch's ``torch.autograd.functional``). Import them through ``tinygrad_adam.autograd``; an import through
this package gets the same module objects (registered below), never a second copy."""

import sys

from ..autograd import forward_ad, functional, grad_mode, graph, profiler, variable

sys.modules[f"{__name__}.forward_ad"] = forward_ad
sys.modules[f"{__name__}.functional"] = functional
sys.modules[f"{__name__}.grad_mode"] = grad_mode
sys.modules[f"{__name__}.graph"] = graph
sys.modules[f"{__name__}.profiler"] = profiler
sys.modules[f"{__name__}.variable"] = variable
