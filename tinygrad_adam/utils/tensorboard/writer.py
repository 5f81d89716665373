"""``SummaryWriter`` and ``FileWriter`` (torch's ``torch.utils.tensorboard.writer``): event files under a log
directory, through tensorboard's ``EventFileWriter``; the summaries come from ``summary.py``."""

from __future__ import annotations

import math
import os
import socket
import time
import warnings
from datetime import datetime
from typing import Any

import numpy
from tensorboard.compat.proto.event_pb2 import Event, SessionLog, TaggedRunMetadata
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from . import summary as S
from .graph import graph
from .summary import as_array


class FileWriter:
    """One event file in ``log_dir`` (torch's ``writer.FileWriter``): events and summaries queued and flushed by
    tensorboard's ``EventFileWriter``."""

    def __init__(self, log_dir: str, max_queue: int = 10, flush_secs: int = 120, filename_suffix: str = "") -> None:
        self.event_writer = EventFileWriter(str(log_dir), max_queue, flush_secs, filename_suffix)

    def get_logdir(self) -> str:
        return self.event_writer.get_logdir()

    def add_event(self, event: Event, step: int | None = None, walltime: float | None = None) -> None:
        event.wall_time = time.time() if walltime is None else walltime
        if step is not None:
            event.step = int(step)
        self.event_writer.add_event(event)

    def add_summary(self, summary: Summary, global_step: int | None = None, walltime: float | None = None) -> None:
        self.add_event(Event(summary=summary), global_step, walltime)

    def add_graph(self, graph_profile: tuple[Any, Any], walltime: float | None = None) -> None:
        """A (GraphDef, RunMetadata) pair as torch writes it: the graph, then the step stats tagged "step1"."""
        graph_def, stats = graph_profile
        self.add_event(Event(graph_def=graph_def.SerializeToString()), None, walltime)
        tagged = TaggedRunMetadata(tag="step1", run_metadata=stats.SerializeToString())
        self.add_event(Event(tagged_run_metadata=tagged), None, walltime)

    def flush(self) -> None:
        self.event_writer.flush()

    def close(self) -> None:
        self.event_writer.close()



class SummaryWriter:
    """``torch.utils.tensorboard.SummaryWriter``: summaries into event files under ``log_dir`` (default
    ``runs/<date>_<host><comment>``); see the module's docstring for what it writes."""

    def __init__(self, log_dir: str | os.PathLike[str] | None = None, comment: str = "",
                 purge_step: int | None = None, max_queue: int = 10, flush_secs: int = 120,
                 filename_suffix: str = "") -> None:
        if not log_dir:
            log_dir = os.path.join("runs", datetime.now().strftime("%b%d_%H-%M-%S") + "_" + socket.gethostname()
                                   + comment)
        self.log_dir, self.purge_step = str(log_dir), purge_step
        self.max_queue, self.flush_secs, self.filename_suffix = max_queue, flush_secs, filename_suffix
        self.file_writer: FileWriter | None = None
        self.all_writers: dict[str, FileWriter] | None = None
        self.default_bins = S.default_bins()
        self._get_file_writer()

    def _get_file_writer(self) -> FileWriter:
        """The main event file's writer, made again after ``close``."""
        if self.file_writer is None or self.all_writers is None:
            self.file_writer = FileWriter(self.log_dir, self.max_queue, self.flush_secs, self.filename_suffix)
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            if self.purge_step is not None:  # TensorBoard hides the events at and past this step of earlier files
                self.file_writer.add_event(Event(step=self.purge_step, file_version="brain.Event:2"))
                self.file_writer.add_event(Event(step=self.purge_step,
                                                 session_log=SessionLog(status=SessionLog.START)))
                self.purge_step = None
        return self.file_writer

    def get_logdir(self) -> str:
        return self.log_dir

    def add_scalar(self, tag: str, scalar_value: Any, global_step: int | None = None, walltime: float | None = None,
                   new_style: bool = False, double_precision: bool = False) -> None:
        """One number (a Python number, a one-element tensor or array) at ``global_step``."""
        self._get_file_writer().add_summary(S.scalar(tag, scalar_value, new_style, double_precision), global_step,
                                            walltime)

    def add_scalars(self, main_tag: str, tag_scalar_dict: dict[str, Any], global_step: int | None = None,
                    walltime: float | None = None) -> None:
        """Several numbers under ``main_tag``, each in a run directory of its own (``<log_dir>/<main_tag>_<tag>``)."""
        walltime = time.time() if walltime is None else walltime
        root = self._get_file_writer().get_logdir()
        assert self.all_writers is not None
        for tag, value in tag_scalar_dict.items():
            where = root + "/" + main_tag.replace("/", "_") + "_" + tag
            if where not in self.all_writers:
                self.all_writers[where] = FileWriter(where, self.max_queue, self.flush_secs, self.filename_suffix)
            self.all_writers[where].add_summary(S.scalar(main_tag, value), global_step, walltime)

    def add_histogram(self, tag: str, values: Any, global_step: int | None = None, bins: Any = "tensorflow",
                      walltime: float | None = None, max_bins: int | None = None) -> None:
        """A histogram of ``values`` (any shape): torch's default bins, or numpy's ``bins`` ("auto", a count, edges)."""
        bins = self.default_bins if isinstance(bins, str) and bins == "tensorflow" else bins
        self._get_file_writer().add_summary(S.histogram(tag, values, bins, max_bins), global_step, walltime)

    def add_histogram_raw(self, tag: str, min: float, max: float, num: int, sum: float,  # noqa: A002 - torch's
                          sum_squares: float, bucket_limits: Any, bucket_counts: Any, global_step: int | None = None,
                          walltime: float | None = None) -> None:
        """A histogram given as its statistics and buckets (right edges and counts, of one length)."""
        summary = S.histogram_raw(tag, min, max, num, sum, sum_squares, bucket_limits, bucket_counts)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_text(self, tag: str, text_string: str, global_step: int | None = None,
                 walltime: float | None = None) -> None:
        """Text (markdown in TensorBoard) under ``<tag>/text_summary``."""
        self._get_file_writer().add_summary(S.text(tag, text_string), global_step, walltime)

    def add_image(self, tag: str, img_tensor: Any, global_step: int | None = None, walltime: float | None = None,
                  dataformats: str = "CHW") -> None:
        """An image (floats in [0, 1] or uint8), laid out as ``dataformats``; needs Pillow."""
        self._get_file_writer().add_summary(S.image(tag, img_tensor, dataformats), global_step, walltime)

    def add_image_with_boxes(self, tag: str, img_tensor: Any, box_tensor: Any, global_step: int | None = None,
                             walltime: float | None = None, rescale: float = 1, dataformats: str = "CHW",
                             labels: list[str] | str | None = None) -> None:
        """An image with boxes (N, 4: xmin, ymin, xmax, ymax, in pixels) drawn on it, one label each if given."""
        if isinstance(labels, str):
            labels = [labels]
        if labels is not None and len(labels) != len(as_array(box_tensor)):  # (torch drops them without a word)
            warnings.warn(f"add_image_with_boxes: {len(labels)} labels for {len(as_array(box_tensor))} boxes, so the "
                          f"boxes are drawn without labels; give one label per box", UserWarning, stacklevel=2)
            labels = None
        self._get_file_writer().add_summary(S.image_boxes(tag, img_tensor, box_tensor, rescale, dataformats, labels),
                                            global_step, walltime)

    def add_images(self, tag: str, img_tensor: Any, global_step: int | None = None, walltime: float | None = None,
                   dataformats: str = "NCHW") -> None:
        """A batch of images, tiled 8 across into one."""
        self._get_file_writer().add_summary(S.image(tag, img_tensor, dataformats), global_step, walltime)

    def add_figure(self, tag: str, figure: Any, global_step: int | None = None, close: bool = True,
                   walltime: float | None = None) -> None:
        """A matplotlib figure (or a list of them, tiled) as an image; closed unless ``close=False``."""
        if isinstance(figure, list):
            pixels, layout = numpy.stack([S.figure_pixels(f, close) for f in figure]), "NCHW"
        else:
            pixels, layout = S.figure_pixels(figure, close), "CHW"
        self.add_image(tag, pixels, global_step, walltime, dataformats=layout)

    def add_pr_curve(self, tag: str, labels: Any, predictions: Any, global_step: int | None = None,
                     num_thresholds: int = 127, weights: Any = None, walltime: float | None = None) -> None:
        """A precision-recall curve of ``predictions`` (probabilities in [0, 1]) against 0 / 1 ``labels``, at
        ``num_thresholds`` cut-offs (at most 127, as torch)."""
        thresholds = min(num_thresholds, 127)
        data = S.compute_curve(as_array(labels), as_array(predictions), thresholds, weights)
        self._get_file_writer().add_summary(S.curve_summary(tag, data, thresholds), global_step, walltime)

    def add_pr_curve_raw(self, tag: str, true_positive_counts: Any, false_positive_counts: Any,
                         true_negative_counts: Any, false_negative_counts: Any, precision: Any, recall: Any,
                         global_step: int | None = None, num_thresholds: int = 127, weights: Any = None,
                         walltime: float | None = None) -> None:
        """A precision-recall curve given as its six rows (one value per threshold each)."""
        data = numpy.stack([as_array(v) for v in (true_positive_counts, false_positive_counts, true_negative_counts,
                                                false_negative_counts, precision, recall)])
        self._get_file_writer().add_summary(S.curve_summary(tag, data, min(num_thresholds, 127)), global_step,
                                            walltime)

    def add_audio(self, tag: str, snd_tensor: Any, global_step: int | None = None, sample_rate: int = 44100,
                  walltime: float | None = None) -> None:
        """A sound clip (samples in [-1, 1]) as 16-bit mono WAV."""
        self._get_file_writer().add_summary(S.audio(tag, snd_tensor, sample_rate), global_step, walltime)

    def add_graph(self, model: Any, input_to_model: Any = None, verbose: bool = False,
                  use_strict_trace: bool = True) -> None:
        """The graph of one forward run of ``model`` on ``input_to_model`` (a tensor or a tuple of them), for
        TensorBoard's graph tab (see ``graph.py``; ``use_strict_trace`` is torch's tracer's, and means nothing
        here)."""
        self._get_file_writer().add_graph(graph(model, input_to_model, verbose))

    def add_tensor(self, tag: str, tensor: Any, global_step: int | None = None, walltime: float | None = None
                   ) -> None:
        """The whole tensor, for TensorBoard's "tensor" plugin (see ``summary.tensor``)."""
        self._get_file_writer().add_summary(S.tensor(tag, tensor), global_step, walltime)

    def add_mesh(self, tag: str, vertices: Any, colors: Any = None, faces: Any = None,
                 config_dict: dict[str, Any] | None = None, global_step: int | None = None,
                 walltime: float | None = None) -> None:
        """A point cloud or mesh: vertices (B, N, 3), colors (B, N, 3; 0-255), faces (B, F, 3) vertex indices."""
        self._get_file_writer().add_summary(S.mesh(tag, vertices, colors, faces, config_dict), global_step, walltime)

    def add_custom_scalars(self, layout: dict[str, dict[str, list[Any]]]) -> None:
        """The layout of TensorBoard's CUSTOM SCALARS tab (see ``summary.custom_scalars``)."""
        self._get_file_writer().add_summary(S.custom_scalars(layout))

    def add_custom_scalars_multilinechart(self, tags: list[str], category: str = "default",
                                          title: str = "untitled") -> None:
        self.add_custom_scalars({category: {title: ["Multiline", tags]}})

    def add_custom_scalars_marginchart(self, tags: list[str], category: str = "default",
                                       title: str = "untitled") -> None:
        if len(tags) != 3:
            raise AssertionError(f"Expected 3 tags, got {len(tags)}.")
        self.add_custom_scalars({category: {title: ["Margin", tags]}})

    def add_embedding(self, mat: Any, metadata: list[Any] | None = None, label_img: Any = None,
                      global_step: int | None = None, tag: str = "default",
                      metadata_header: list[str] | None = None) -> None:
        """Points (N, D) for the PROJECTOR tab, with per-point ``metadata`` (labels, or rows under
        ``metadata_header``) and ``label_img`` (N, C, H, W) thumbnails, under ``<log_dir>/<step>/<tag>``; the
        projector config lists every embedding this writer added."""
        from google.protobuf import text_format
        from tensorboard.plugins.projector.projector_config_pb2 import EmbeddingInfo, ProjectorConfig

        points = as_array(mat)
        step = 0 if global_step is None else global_step
        safe = tag.replace("%", "%25").replace("/", "%2f").replace("\\", "%5c")
        subdir = f"{str(step).zfill(5)}/{safe}"
        path = os.path.join(self._get_file_writer().get_logdir(), subdir)
        if os.path.isdir(path):
            print("warning: Embedding dir exists, did you set global_step for add_embedding()?")
        elif os.path.exists(path):
            raise NotADirectoryError(f"Path: `{path}` exists, but is a file. Cannot proceed.")
        else:
            os.makedirs(path)
        info = EmbeddingInfo(tensor_name=f"{tag}:{str(step).zfill(5)}", tensor_path=f"{subdir}/tensors.tsv")
        if metadata is not None:
            if points.shape[0] != len(metadata):
                raise AssertionError("#labels should equal with #data points")
            if metadata_header and len(metadata_header) != len(metadata[0]):
                raise AssertionError("len of header must be equal to the number of columns in metadata")
            lines = ([str(x) for x in metadata] if not metadata_header else
                     ["\t".join(str(e) for e in row) for row in [metadata_header, *metadata]])
            with open(os.path.join(path, "metadata.tsv"), "wb") as f:
                f.write(("\n".join(lines) + "\n").encode())
            info.metadata_path = f"{subdir}/metadata.tsv"
        if label_img is not None:
            thumbs = as_array(label_img)
            if points.shape[0] != thumbs.shape[0]:
                raise AssertionError("#images should equal with #data points")
            self._sprite(thumbs, path)
            info.sprite.image_path = f"{subdir}/sprite.png"
            info.sprite.single_image_dim.extend([thumbs.shape[3], thumbs.shape[2]])
        if points.ndim != 2:
            raise AssertionError("mat should be 2D, where mat.size(0) is the number of data points")
        with open(os.path.join(path, "tensors.tsv"), "wb") as f:
            for row in points:
                f.write(("\t".join(str(v.item()) for v in row) + "\n").encode())
        if not hasattr(self, "_projector_config"):
            self._projector_config = ProjectorConfig()
        self._projector_config.embeddings.extend([info])
        with open(os.path.join(self._get_file_writer().get_logdir(), "projector_config.pbtxt"), "wb") as f:
            f.write(text_format.MessageToString(self._projector_config).encode())

    @staticmethod
    def _sprite(thumbs: numpy.ndarray, path: str) -> None:
        """The thumbnails tiled into a square PNG, ceil(sqrt(N)) across."""
        from PIL import Image

        tiled = S.tiled(thumbs, across=math.ceil(thumbs.shape[0] ** 0.5))
        square = numpy.zeros((tiled.shape[2], tiled.shape[2], 3))
        square[:tiled.shape[1]] = tiled.transpose(1, 2, 0)
        Image.fromarray(numpy.uint8((square * 255).clip(0, 255))).save(os.path.join(path, "sprite.png"), "PNG")

    def add_hparams(self, hparam_dict: dict[str, Any], metric_dict: dict[str, Any],
                    hparam_domain_discrete: dict[str, list[Any]] | None = None, run_name: str | None = None,
                    global_step: int | None = None) -> None:
        """A run's hyperparameters and final metrics for TensorBoard's HPARAMS tab, in a run directory of their
        own (``run_name``, default the time)."""
        if type(hparam_dict) is not dict or type(metric_dict) is not dict:
            raise TypeError("hparam_dict and metric_dict should be dictionary.")
        domains = hparam_domain_discrete or {}
        if not isinstance(domains, dict):
            raise TypeError("parameter: hparam_domain_discrete should be a dictionary, nothing logged.")
        summaries = S.hparams(hparam_dict, metric_dict, domains)
        logdir = os.path.join(self._get_file_writer().get_logdir(), run_name or str(time.time()))
        with SummaryWriter(log_dir=logdir) as run:
            for summary in summaries:
                run._get_file_writer().add_summary(summary, global_step)
            for k, v in metric_dict.items():
                run.add_scalar(k, v, global_step)

    def flush(self) -> None:
        """Write what is queued to disk."""
        for writer in (self.all_writers or {}).values():
            writer.flush()

    def close(self) -> None:
        """Flush and close every event file (a later add opens a new one)."""
        for writer in (self.all_writers or {}).values():
            writer.flush()
            writer.close()
        self.file_writer = self.all_writers = None

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _not_here(name: str) -> Any:
    def method(self: SummaryWriter, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"SummaryWriter.{name} is not implemented here; add_scalar(s), add_histogram, "
                                  f"add_text, add_image(s), add_figure, add_audio, add_pr_curve, add_embedding, "
                                  f"add_custom_scalars, add_hparams, add_graph, add_tensor, add_mesh and "
                                  f"add_image_with_boxes are")
    method.__name__ = name
    return method


for _name in ("add_onnx_graph", "add_video"):
    setattr(SummaryWriter, _name, _not_here(_name))

__all__ = ["FileWriter", "SummaryWriter"]
