"""``torch._inductor``: its ``config`` (``coordinate_descent_tuning``, ``triton.cudagraphs``, ...) as scripts set
it. Nothing is compiled here, so the settings change nothing."""

from __future__ import annotations

from .compiler import Settings

__all__ = ["config"]

# torch's defaults for the settings scripts most often set (gpt-fast's coordinate_descent_tuning, ...)
config = Settings("torch._inductor.config", coordinate_descent_tuning=False, max_autotune=False, epilogue_fusion=True,
                  fx_graph_cache=True, freezing=False,
                  triton=Settings("torch._inductor.config.triton", cudagraphs=False, unique_kernel_names=True))
