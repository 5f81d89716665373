"""``torch.utils.tensorboard``: ``SummaryWriter``, which writes TensorBoard event files as torch's does (the same
events, tested by reading both back), through the ``tensorboard`` package's event-file writer and protocol buffers.
Like torch's, it needs that package (without it the import raises ModuleNotFoundError); images need Pillow and
figures matplotlib, as torch's.

Written as torch writes them: ``add_scalar`` (old or ``new_style``), ``add_scalars`` (one run directory per tag),
``add_histogram`` (torch's default "tensorflow" bins, ``max_bins``) and ``add_histogram_raw``, ``add_text``,
``add_image`` / ``add_images`` (any ``dataformats``; batches tiled 8 across), ``add_figure``, ``add_audio``,
``add_pr_curve`` (and raw), ``add_embedding`` (the projector's files), ``add_custom_scalars`` (and its chart forms),
``add_hparams`` (a run directory per call), ``add_graph`` (one forward run's autograd graph, with torch's scope
names: ``graph.py``), ``add_tensor``, ``add_mesh``, ``purge_step``, ``flush`` / ``close`` (a closed writer reopens
on the next add), ``add_image_with_boxes`` (boxes and labels drawn as torch's). ``add_video`` and
``add_onnx_graph`` raise NotImplementedError."""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("tensorboard") is None:
    raise ModuleNotFoundError("No module named 'tensorboard' (torch.utils.tensorboard needs it: pip install "
                              "tensorboard)", name="tensorboard")

from .writer import FileWriter, SummaryWriter

__all__ = ["FileWriter", "SummaryWriter"]
