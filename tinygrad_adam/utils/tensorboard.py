"""``torch.utils.tensorboard``: ``SummaryWriter``, which writes TensorBoard event files as torch's does (the same
events, tested by reading both back), through the ``tensorboard`` package's event-file writer and protocol buffers.
Like torch's, it needs that package (without it the import raises ModuleNotFoundError); images need Pillow and
figures matplotlib, as torch's.

Written as torch writes them: ``add_scalar`` (old or ``new_style``), ``add_scalars`` (one run directory per tag),
``add_histogram`` (torch's default "tensorflow" bins, ``max_bins``) and ``add_histogram_raw``, ``add_text``,
``add_image`` / ``add_images`` (any ``dataformats``; batches tiled 8 across), ``add_figure``, ``add_audio``,
``add_pr_curve`` (and raw), ``add_embedding`` (the projector's files), ``add_custom_scalars`` (and its chart forms),
``add_hparams`` (a run directory per call), ``purge_step``, ``flush`` / ``close`` (a closed writer reopens on the
next add). ``add_graph``, ``add_video``, ``add_mesh``, ``add_image_with_boxes`` and ``add_tensor`` raise
NotImplementedError."""

from __future__ import annotations

import importlib.util
import io
import math
import os
import socket
import time
from datetime import datetime
from typing import Any

import numpy

if importlib.util.find_spec("tensorboard") is None:
    raise ModuleNotFoundError("No module named 'tensorboard' (torch.utils.tensorboard needs it: pip install "
                              "tensorboard)", name="tensorboard")

from google.protobuf import struct_pb2
from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.plugins.text.plugin_data_pb2 import TextPluginData
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from .. import backend
from ..tensor import Tensor


def _array(x: Any) -> numpy.ndarray:
    """A host numpy array of a Tensor (detached), an array or a number."""
    if isinstance(x, Tensor):
        return backend.to_numpy(x.detach()._data)
    return numpy.asarray(x)


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

    def flush(self) -> None:
        self.event_writer.flush()

    def close(self) -> None:
        self.event_writer.close()


def _default_bins() -> list[float]:
    """torch's "tensorflow" bins: +-1e-12 growing by 1.1 up to 1e20, and 0."""
    edges, v = [], 1e-12
    while v < 1e20:
        edges.append(v)
        v *= 1.1
    return [-e for e in reversed(edges)] + [0] + edges


def _histogram(values: numpy.ndarray, bins: Any, max_bins: int | None) -> HistogramProto:
    """The histogram of ``values`` on ``bins`` (numpy's), ``max_bins`` merging neighbours, cut to the buckets that
    hold values, with the empty one before them (TensorBoard reads only right edges)."""
    values = values.astype(float).reshape(-1)
    if values.size == 0:
        raise ValueError("The input has no element.")
    counts, limits = numpy.histogram(values, bins=bins)
    if max_bins is not None and len(counts) > max_bins:
        step = len(counts) // max_bins
        counts = numpy.pad(counts, (0, -len(counts) % step)).reshape(-1, step).sum(axis=1)
        limits = numpy.append(limits[:-1:step], limits[-1])
    held = numpy.flatnonzero(counts)
    if held.size == 0:
        raise ValueError("The histogram is empty (no value falls in the bins)")
    first, last = int(held[0]), int(held[-1])
    counts = counts[first - 1:last + 1] if first else numpy.concatenate([[0], counts[:last + 1]])
    return HistogramProto(min=values.min(), max=values.max(), num=len(values), sum=values.sum(),
                          sum_squares=values.dot(values), bucket_limit=limits[first:last + 2].tolist(),
                          bucket=counts.tolist())


def _tiled(images: numpy.ndarray, across: int = 8) -> numpy.ndarray:
    """(N, C, H, W) images with 1 or 3 channels as one (3, H rows, W columns) image, ``across`` to a row."""
    if images.shape[1] == 1:
        images = numpy.repeat(images, 3, axis=1)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"add_images: images need 1 or 3 channels, got shape {images.shape}")
    n, _, h, w = images.shape
    cols = min(n, across)
    rows = math.ceil(n / cols)
    canvas = numpy.zeros((3, h * rows, w * cols), images.dtype)
    for i in range(n):
        r, c = divmod(i, cols)
        canvas[:, r * h:(r + 1) * h, c * w:(c + 1) * w] = images[i]
    return canvas


def _hwc(image: numpy.ndarray, dataformats: str) -> numpy.ndarray:
    """``image`` laid out as ``dataformats`` (letters of NCHW) as (H, W, C) with 3 channels (or 4, RGBA)."""
    layout = dataformats.upper()
    if len(set(layout)) != len(layout) or image.ndim != len(layout):
        raise ValueError(f"add_image: dataformats {dataformats!r} does not describe an image of shape "
                         f"{image.shape} (one letter of N, C, H, W per dimension, each once)")
    if len(layout) == 4:
        return _tiled(image.transpose([layout.find(c) for c in "NCHW"])).transpose(1, 2, 0)
    if len(layout) == 3:
        image = image.transpose([layout.find(c) for c in "HWC"])
        return numpy.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
    return numpy.repeat(image.transpose([layout.find(c) for c in "HW"])[:, :, None], 3, axis=2)


def _image(tag: str, image: Any, dataformats: str) -> Summary:
    """A PNG image summary: floats are taken as [0, 1] (times 255), uint8 as [0, 255]."""
    from PIL import Image

    pixels = _hwc(_array(image), dataformats)
    scale = 1 if pixels.dtype == numpy.uint8 else 255
    pixels = (pixels.astype(numpy.float32) * scale).clip(0, 255).astype(numpy.uint8)
    height, width, channels = pixels.shape
    png = io.BytesIO()
    Image.fromarray(pixels).resize((width, height), Image.Resampling.LANCZOS).save(png, format="PNG")
    return Summary(value=[Summary.Value(tag=tag, image=Summary.Image(
        height=height, width=width, colorspace=channels, encoded_image_string=png.getvalue()))])


def _figure_pixels(figure: Any, close: bool) -> numpy.ndarray:
    """A matplotlib figure rendered as a (3, H, W) uint8 image."""
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    width, height = figure.canvas.get_width_height()
    rgb = numpy.frombuffer(canvas.buffer_rgba(), numpy.uint8).reshape(height, width, 4)[:, :, :3]
    if close:
        plt.close(figure)
    return numpy.moveaxis(rgb, 2, 0)


def _curve(labels: numpy.ndarray, predictions: numpy.ndarray, thresholds: int, weights: Any) -> numpy.ndarray:
    """(6, thresholds): the true and false positives, true and false negatives, precision and recall of calling
    positive every prediction in [0, 1] at or above each of ``thresholds`` evenly spaced cut-offs (weighted)."""
    weights = 1.0 if weights is None else weights
    bucket = numpy.floor(predictions * (thresholds - 1)).astype(numpy.int32)
    positive = labels.astype(numpy.float64)
    per_bucket = [numpy.histogram(bucket, bins=thresholds, range=(0, thresholds - 1), weights=w * weights)[0]
                  for w in (positive, 1.0 - positive)]
    tp, fp = (numpy.cumsum(counts[::-1])[::-1] for counts in per_bucket)  # at or above each cut-off
    tn, fn = fp[0] - fp, tp[0] - tp
    return numpy.stack((tp, fp, tn, fn, tp / numpy.maximum(1e-7, tp + fp), tp / numpy.maximum(1e-7, tp + fn)))


def _pr_curve(tag: str, data: numpy.ndarray, thresholds: int) -> Summary:
    """The PR-curve plugin's summary of ``data`` (its six rows), as float32."""
    from tensorboard.plugins.pr_curve.plugin_data_pb2 import PrCurvePluginData

    meta = _plugin("pr_curves", PrCurvePluginData(version=0, num_thresholds=thresholds).SerializeToString())
    proto = TensorProto(dtype="DT_FLOAT", float_val=data.reshape(-1).tolist(), tensor_shape=TensorShapeProto(
        dim=[TensorShapeProto.Dim(size=n) for n in data.shape]))
    return Summary(value=[Summary.Value(tag=tag, metadata=meta, tensor=proto)])


def _audio(tag: str, sound: Any, sample_rate: int) -> Summary:
    """A mono 16-bit WAV clip of ``sound`` (1-D after squeezing, in [-1, 1]: louder is clipped, with a notice)."""
    import wave

    samples = _array(sound).squeeze()
    if abs(samples).max() > 1:
        print("warning: audio amplitude out of range, auto clipped.")
        samples = samples.clip(-1, 1)
    if samples.ndim != 1:
        raise AssertionError("input tensor should be 1 dimensional.")
    pcm = (samples * numpy.iinfo(numpy.int16).max).astype("<i2")
    wav = io.BytesIO()
    with wave.open(wav, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.data)
    return Summary(value=[Summary.Value(tag=tag, audio=Summary.Audio(
        sample_rate=sample_rate, num_channels=1, length_frames=pcm.shape[-1], encoded_audio_string=wav.getvalue(),
        content_type="audio/wav"))])


def _custom_scalars(layout: dict[str, dict[str, list[Any]]]) -> Summary:
    """The custom-scalars plugin's layout: {category: {chart title: ["Multiline", tags] or ["Margin", [value,
    lower, upper]]}}."""
    from tensorboard.plugins.custom_scalar import layout_pb2

    categories = []
    for category, charts in layout.items():
        made = []
        for title, (kind, tags) in charts.items():
            if kind == "Margin":
                if len(tags) != 3:
                    raise AssertionError("len(tags) != 3")
                series = layout_pb2.MarginChartContent.Series(value=tags[0], lower=tags[1], upper=tags[2])
                made.append(layout_pb2.Chart(title=title, margin=layout_pb2.MarginChartContent(series=[series])))
            else:
                made.append(layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=tags)))
        categories.append(layout_pb2.Category(title=category, chart=made))
    proto = TensorProto(dtype="DT_STRING", string_val=[layout_pb2.Layout(category=categories).SerializeToString()],
                        tensor_shape=TensorShapeProto())
    return Summary(value=[Summary.Value(tag="custom_scalars__config__", tensor=proto,
                                        metadata=_plugin("custom_scalars"))])


def _plugin(name: str, content: bytes = b"") -> SummaryMetadata:
    return SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name=name, content=content))


def _hparams(hparam_dict: dict[str, Any], metric_dict: dict[str, Any],
             domains: dict[str, list[Any]]) -> tuple[Summary, Summary, Summary]:
    """The hparams plugin's experiment, session-start and session-end summaries, as torch writes them (a number,
    bool included, as a float64 hparam; a string as a string one; a Tensor as its first element)."""
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    for k, v in domains.items():
        if k not in hparam_dict or not isinstance(v, list) or not all(isinstance(d, type(hparam_dict[k])) for d in v):
            raise TypeError(f"parameter: hparam_domain_discrete[{k}] should be a list of same type as "
                            f"hparam_dict[{k}].")
    infos, start = [], plugin_data_pb2.SessionStartInfo()
    for k, v in hparam_dict.items():
        if v is None:
            continue
        if isinstance(v, Tensor):
            v = float(_array(v).reshape(-1)[0])
        if isinstance(v, (int, float)):
            start.hparams[k].number_value = v
            kind, field = "DATA_TYPE_FLOAT64", "number_value"
        elif isinstance(v, str):
            start.hparams[k].string_value = v
            kind, field = "DATA_TYPE_STRING", "string_value"
        else:
            raise ValueError("value should be one of int, float, str, bool, or torch.Tensor")
        domain = (struct_pb2.ListValue(values=[struct_pb2.Value(**{field: d}) for d in domains[k]])
                  if k in domains else None)
        infos.append(api_pb2.HParamInfo(name=k, type=api_pb2.DataType.Value(kind), domain_discrete=domain))

    def summary(tag: str, **content: Any) -> Summary:
        data = plugin_data_pb2.HParamsPluginData(version=metadata.PLUGIN_DATA_VERSION, **content)
        return Summary(value=[Summary.Value(tag=tag, metadata=_plugin(metadata.PLUGIN_NAME,
                                                                      data.SerializeToString()))])

    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=[
        api_pb2.MetricInfo(name=api_pb2.MetricName(tag=k)) for k in metric_dict])
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.Status.Value("STATUS_SUCCESS"))
    return (summary(metadata.EXPERIMENT_TAG, experiment=experiment),
            summary(metadata.SESSION_START_INFO_TAG, session_start_info=start),
            summary(metadata.SESSION_END_INFO_TAG, session_end_info=end))


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
        self.default_bins = _default_bins()
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
        value = _array(scalar_value).squeeze()
        if value.ndim != 0:
            raise AssertionError(f"Tensor should contain one element (0 dimensions). Was given size: {value.size} "
                                 f"and {value.ndim} dimensions.")
        number = float(value)
        if new_style:
            proto = (TensorProto(double_val=[number], dtype="DT_DOUBLE") if double_precision
                     else TensorProto(float_val=[number], dtype="DT_FLOAT"))
            summary = Summary(value=[Summary.Value(tag=tag, tensor=proto, metadata=_plugin("scalars"))])
        else:
            summary = Summary(value=[Summary.Value(tag=tag, simple_value=number)])
        self._get_file_writer().add_summary(summary, global_step, walltime)

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
            number = float(_array(value).squeeze())
            self.all_writers[where].add_summary(Summary(value=[Summary.Value(tag=main_tag, simple_value=number)]),
                                                global_step, walltime)

    def add_histogram(self, tag: str, values: Any, global_step: int | None = None, bins: Any = "tensorflow",
                      walltime: float | None = None, max_bins: int | None = None) -> None:
        """A histogram of ``values`` (any shape): torch's default bins, or numpy's ``bins`` ("auto", a count, edges)."""
        bins = self.default_bins if isinstance(bins, str) and bins == "tensorflow" else bins
        summary = Summary(value=[Summary.Value(tag=tag, histo=_histogram(_array(values), bins, max_bins))])
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_histogram_raw(self, tag: str, min: float, max: float, num: int, sum: float,  # noqa: A002 - torch's
                          sum_squares: float, bucket_limits: Any, bucket_counts: Any, global_step: int | None = None,
                          walltime: float | None = None) -> None:
        """A histogram given as its statistics and buckets (right edges and counts, of one length)."""
        limits, counts = _array(bucket_limits).tolist(), _array(bucket_counts).tolist()
        if len(limits) != len(counts):
            raise ValueError("len(bucket_limits) != len(bucket_counts), see the document.")
        histo = HistogramProto(min=min, max=max, num=num, sum=sum, sum_squares=sum_squares, bucket_limit=limits,
                               bucket=counts)
        self._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, histo=histo)]), global_step,
                                            walltime)

    def add_text(self, tag: str, text_string: str, global_step: int | None = None,
                 walltime: float | None = None) -> None:
        """Text (markdown in TensorBoard) under ``<tag>/text_summary``."""
        proto = TensorProto(dtype="DT_STRING", string_val=[text_string.encode("utf_8")],
                            tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]))
        meta = _plugin("text", TextPluginData(version=0).SerializeToString())
        summary = Summary(value=[Summary.Value(tag=tag + "/text_summary", metadata=meta, tensor=proto)])
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_image(self, tag: str, img_tensor: Any, global_step: int | None = None, walltime: float | None = None,
                  dataformats: str = "CHW") -> None:
        """An image (floats in [0, 1] or uint8), laid out as ``dataformats``; needs Pillow."""
        self._get_file_writer().add_summary(_image(tag, img_tensor, dataformats), global_step, walltime)

    def add_images(self, tag: str, img_tensor: Any, global_step: int | None = None, walltime: float | None = None,
                   dataformats: str = "NCHW") -> None:
        """A batch of images, tiled 8 across into one."""
        self._get_file_writer().add_summary(_image(tag, img_tensor, dataformats), global_step, walltime)

    def add_figure(self, tag: str, figure: Any, global_step: int | None = None, close: bool = True,
                   walltime: float | None = None) -> None:
        """A matplotlib figure (or a list of them, tiled) as an image; closed unless ``close=False``."""
        if isinstance(figure, list):
            pixels, layout = numpy.stack([_figure_pixels(f, close) for f in figure]), "NCHW"
        else:
            pixels, layout = _figure_pixels(figure, close), "CHW"
        self.add_image(tag, pixels, global_step, walltime, dataformats=layout)

    def add_pr_curve(self, tag: str, labels: Any, predictions: Any, global_step: int | None = None,
                     num_thresholds: int = 127, weights: Any = None, walltime: float | None = None) -> None:
        """A precision-recall curve of ``predictions`` (probabilities in [0, 1]) against 0 / 1 ``labels``, at
        ``num_thresholds`` cut-offs (at most 127, as torch)."""
        thresholds = min(num_thresholds, 127)
        data = _curve(_array(labels), _array(predictions), thresholds, weights)
        self._get_file_writer().add_summary(_pr_curve(tag, data, thresholds), global_step, walltime)

    def add_pr_curve_raw(self, tag: str, true_positive_counts: Any, false_positive_counts: Any,
                         true_negative_counts: Any, false_negative_counts: Any, precision: Any, recall: Any,
                         global_step: int | None = None, num_thresholds: int = 127, weights: Any = None,
                         walltime: float | None = None) -> None:
        """A precision-recall curve given as its six rows (one value per threshold each)."""
        data = numpy.stack([_array(v) for v in (true_positive_counts, false_positive_counts, true_negative_counts,
                                                false_negative_counts, precision, recall)])
        self._get_file_writer().add_summary(_pr_curve(tag, data, min(num_thresholds, 127)), global_step, walltime)

    def add_audio(self, tag: str, snd_tensor: Any, global_step: int | None = None, sample_rate: int = 44100,
                  walltime: float | None = None) -> None:
        """A sound clip (samples in [-1, 1]) as 16-bit mono WAV."""
        self._get_file_writer().add_summary(_audio(tag, snd_tensor, sample_rate), global_step, walltime)

    def add_custom_scalars(self, layout: dict[str, dict[str, list[Any]]]) -> None:
        """The layout of TensorBoard's CUSTOM SCALARS tab (see ``_custom_scalars``)."""
        self._get_file_writer().add_summary(_custom_scalars(layout))

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

        points = _array(mat)
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
            thumbs = _array(label_img)
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

        tiled = _tiled(thumbs, across=math.ceil(thumbs.shape[0] ** 0.5))
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
        summaries = _hparams(hparam_dict, metric_dict, domains)
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
                                  f"add_custom_scalars and add_hparams are")
    method.__name__ = name
    return method


for _name in ("add_graph", "add_onnx_graph", "add_video", "add_mesh", "add_image_with_boxes", "add_tensor"):
    setattr(SummaryWriter, _name, _not_here(_name))

__all__ = ["FileWriter", "SummaryWriter"]
