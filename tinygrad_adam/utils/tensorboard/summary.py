"""The summaries ``SummaryWriter`` writes (torch's ``torch.utils.tensorboard.summary``): TensorBoard's protocol
buffers for scalars, histograms, text, images, figures, audio, PR curves, custom-scalar layouts, hparams, raw tensors
and meshes, built as torch builds them (the same bytes; a float16 or uint8 raw tensor as TensorBoard reads one)."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import numpy
from google.protobuf import struct_pb2
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.plugins.text.plugin_data_pb2 import TextPluginData

from ... import backend
from ...tensor import Tensor


def as_array(x: Any) -> numpy.ndarray:
    """A host numpy array of a Tensor (detached), an array or a number."""
    if isinstance(x, Tensor):
        return backend.to_numpy(x.detach()._data)
    return numpy.asarray(x)


def shape_proto(shape: tuple[int, ...]) -> TensorShapeProto:
    return TensorShapeProto(dim=[TensorShapeProto.Dim(size=n) for n in shape])


def tensor_proto(a: numpy.ndarray, kind: str = "DT_FLOAT", field: str = "float_val") -> TensorProto:
    """``a``'s values (flattened, into ``field``) and shape as a TensorProto of dtype ``kind``."""
    return TensorProto(dtype=kind, tensor_shape=shape_proto(a.shape), **{field: a.reshape(-1).tolist()})


def scalar(tag: str, value: Any, new_style: bool = False, double_precision: bool = False) -> Summary:
    """One number (a Python number, a one-element tensor or array): a ``simple_value``, or with ``new_style`` a
    float (or double) tensor of the scalars plugin."""
    value = as_array(value).squeeze()
    if value.ndim != 0:
        raise AssertionError(f"Tensor should contain one element (0 dimensions). Was given size: {value.size} "
                             f"and {value.ndim} dimensions.")
    number = float(value)
    if not new_style:
        return Summary(value=[Summary.Value(tag=tag, simple_value=number)])
    proto = (TensorProto(double_val=[number], dtype="DT_DOUBLE") if double_precision
             else TensorProto(float_val=[number], dtype="DT_FLOAT"))
    return Summary(value=[Summary.Value(tag=tag, tensor=proto, metadata=plugin("scalars"))])


def histogram(tag: str, values: Any, bins: Any, max_bins: int | None = None) -> Summary:
    """A histogram of ``values`` (any shape) on numpy's ``bins``."""
    return Summary(value=[Summary.Value(tag=tag, histo=make_histogram(as_array(values), bins, max_bins))])


def histogram_raw(tag: str, min: float, max: float, num: int, sum: float, sum_squares: float,  # noqa: A002
                  bucket_limits: Any, bucket_counts: Any) -> Summary:
    """A histogram given as its statistics and buckets (right edges and counts, of one length)."""
    limits, counts = as_array(bucket_limits).tolist(), as_array(bucket_counts).tolist()
    if len(limits) != len(counts):
        raise ValueError("len(bucket_limits) != len(bucket_counts), see the document.")
    histo = HistogramProto(min=min, max=max, num=num, sum=sum, sum_squares=sum_squares, bucket_limit=limits,
                           bucket=counts)
    return Summary(value=[Summary.Value(tag=tag, histo=histo)])


def text(tag: str, string: str) -> Summary:
    """Text (markdown in TensorBoard) under ``<tag>/text_summary``."""
    proto = TensorProto(dtype="DT_STRING", string_val=[string.encode("utf_8")],
                        tensor_shape=shape_proto((1,)))
    meta = plugin("text", TextPluginData(version=0).SerializeToString())
    return Summary(value=[Summary.Value(tag=tag + "/text_summary", metadata=meta, tensor=proto)])


def default_bins() -> list[float]:
    """torch's "tensorflow" bins: +-1e-12 growing by 1.1 up to 1e20, and 0."""
    edges, v = [], 1e-12
    while v < 1e20:
        edges.append(v)
        v *= 1.1
    return [-e for e in reversed(edges)] + [0] + edges


def make_histogram(values: numpy.ndarray, bins: Any, max_bins: int | None) -> HistogramProto:
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


def tiled(images: numpy.ndarray, across: int = 8) -> numpy.ndarray:
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
        return tiled(image.transpose([layout.find(c) for c in "NCHW"])).transpose(1, 2, 0)
    if len(layout) == 3:
        image = image.transpose([layout.find(c) for c in "HWC"])
        return numpy.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
    return numpy.repeat(image.transpose([layout.find(c) for c in "HW"])[:, :, None], 3, axis=2)


def image(tag: str, img: Any, dataformats: str) -> Summary:
    """A PNG image summary: floats are taken as [0, 1] (times 255), uint8 as [0, 255]."""
    return Summary(value=[Summary.Value(tag=tag, image=encoded(pixels_of(img, dataformats)))])


def image_boxes(tag: str, img: Any, boxes: Any, rescale: float, dataformats: str, labels: list[str] | None
                ) -> Summary:
    """An image with boxes (N, 4: xmin, ymin, xmax, ymax, in pixels) drawn on it, each labelled when ``labels``
    is given, then scaled by ``rescale``, as torch's."""
    pixels = pixels_of(img, dataformats)
    return Summary(value=[Summary.Value(tag=tag, image=encoded(pixels, rescale, as_array(boxes), labels))])


def pixels_of(img: Any, dataformats: str) -> numpy.ndarray:
    """``img`` as (H, W, C) uint8: floats taken as [0, 1] (times 255), uint8 as [0, 255]."""
    pixels = _hwc(as_array(img), dataformats)
    scale = 1 if pixels.dtype == numpy.uint8 else 255
    return (pixels.astype(numpy.float32) * scale).clip(0, 255).astype(numpy.uint8)


def encoded(pixels: numpy.ndarray, rescale: float = 1, boxes: numpy.ndarray | None = None,
            labels: list[str] | None = None) -> Summary.Image:
    """(H, W, C) uint8 pixels as a PNG image (boxes drawn first; then resized by ``rescale``, LANCZOS); the
    height and width it reports are the pixels' own, as torch's."""
    from PIL import Image

    height, width, channels = pixels.shape
    picture = Image.fromarray(pixels)
    if boxes is not None:
        draw_boxes(picture, boxes, labels)
    png = io.BytesIO()
    picture.resize((int(width * rescale), int(height * rescale)), Image.Resampling.LANCZOS).save(png, format="PNG")
    return Summary.Image(height=height, width=width, colorspace=channels, encoded_image_string=png.getvalue())


def draw_boxes(picture: Any, boxes: numpy.ndarray, labels: list[str] | None) -> None:
    """Each box as a red outline 2 pixels wide; a label in black on a red band across the box's bottom left."""
    from PIL import ImageDraw, ImageFont

    draw, font = ImageDraw.Draw(picture), ImageFont.load_default()
    for i, (left, top, right, bottom) in enumerate(boxes):
        draw.line([(left, top), (left, bottom), (right, bottom), (right, top), (left, top)], width=2, fill="Red")
        if labels is not None and labels[i]:
            x0, y0, x1, y1 = font.getbbox(labels[i])
            margin = math.ceil(0.05 * (y1 - y0))
            draw.rectangle([(left, bottom - (y1 - y0) - 2 * margin), (left + x1 - x0, bottom)], fill="Red")
            draw.text((left + margin, bottom - (y1 - y0) - margin), labels[i], fill="black", font=font)


def figure_pixels(figure: Any, close: bool) -> numpy.ndarray:
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


def compute_curve(labels: numpy.ndarray, predictions: numpy.ndarray, thresholds: int, weights: Any) -> numpy.ndarray:
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


def curve_summary(tag: str, data: numpy.ndarray, thresholds: int) -> Summary:
    """The PR-curve plugin's summary of ``data`` (its six rows), as float32."""
    from tensorboard.plugins.pr_curve.plugin_data_pb2 import PrCurvePluginData

    meta = plugin("pr_curves", PrCurvePluginData(version=0, num_thresholds=thresholds).SerializeToString())
    return Summary(value=[Summary.Value(tag=tag, metadata=meta, tensor=tensor_proto(data))])


def audio(tag: str, sound: Any, sample_rate: int) -> Summary:
    """A mono 16-bit WAV clip of ``sound`` (1-D after squeezing, in [-1, 1]: louder is clipped, with a notice)."""
    import wave

    samples = as_array(sound).squeeze()
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


def custom_scalars(layout: dict[str, dict[str, list[Any]]]) -> Summary:
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
                                        metadata=plugin("custom_scalars"))])


def plugin(name: str, content: bytes = b"") -> SummaryMetadata:
    return SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name=name, content=content))


def hparams(hparam_dict: dict[str, Any], metric_dict: dict[str, Any],
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
            v = float(as_array(v).reshape(-1)[0])
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
        return Summary(value=[Summary.Value(tag=tag, metadata=plugin(metadata.PLUGIN_NAME,
                                                                      data.SerializeToString()))])

    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=[
        api_pb2.MetricInfo(name=api_pb2.MetricName(tag=k)) for k in metric_dict])
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.Status.Value("STATUS_SUCCESS"))
    return (summary(metadata.EXPERIMENT_TAG, experiment=experiment),
            summary(metadata.SESSION_START_INFO_TAG, session_start_info=start),
            summary(metadata.SESSION_END_INFO_TAG, session_end_info=end))


TENSOR_FIELDS = {  # numpy dtype name -> (TensorProto dtype, its value field)
    "float32": ("DT_FLOAT", "float_val"), "float64": ("DT_DOUBLE", "double_val"), "float16": ("DT_HALF", "half_val"),
    "int8": ("DT_INT8", "int_val"), "int16": ("DT_INT16", "int_val"), "int32": ("DT_INT32", "int_val"),
    "uint8": ("DT_UINT8", "int_val"), "int64": ("DT_INT64", "int64_val"), "bool": ("DT_BOOL", "bool_val")}


def tensor(tag: str, value: Any) -> Summary:
    """A whole tensor as a TensorProto, for the "tensor" plugin. float16 values go in as their 16-bit patterns and
    uint8 ones in int_val, as TensorBoard reads them back (torch writes float32 patterns and uint32_val there)."""
    a = as_array(value)
    if a.nbytes >= 1 << 31:
        raise ValueError("tensor is bigger than protocol buffer's hard limit of 2GB in size")
    if a.dtype.name not in TENSOR_FIELDS:
        raise ValueError(f"{tag} has unsupported tensor dtype {a.dtype}")
    proto = tensor_proto(a.view(numpy.uint16) if a.dtype == numpy.float16 else a, *TENSOR_FIELDS[a.dtype.name])
    return Summary(value=[Summary.Value(tag=tag, metadata=plugin("tensor"), tensor=proto)])


def mesh(tag: str, vertices: Any, colors: Any, faces: Any, config_dict: dict[str, Any] | None) -> Summary:
    """The mesh plugin's summaries of a (B, N, 3) point cloud or mesh: vertices, then faces and colors where given,
    each a float tensor under its own instance name, with the ThreeJS ``config_dict`` as JSON."""
    from tensorboard.plugins.mesh import metadata
    from tensorboard.plugins.mesh.plugin_data_pb2 import MeshPluginData

    config = "{}" if config_dict is None else json.dumps(config_dict, sort_keys=True)
    parts = [(a, kind) for a, kind in ((vertices, MeshPluginData.VERTEX), (faces, MeshPluginData.FACE),
                                       (colors, MeshPluginData.COLOR)) if a is not None]
    components = metadata.get_components_bitmask([kind for _, kind in parts])
    values = []
    for a, kind in parts:
        a = as_array(a)
        if a.ndim != 3:
            raise ValueError(f"add_mesh: vertices, faces and colors are (B, N, 3) tensors; got shape {a.shape}")
        meta = metadata.create_summary_metadata(tag, None, kind, components, a.shape, None, json_config=config)
        values.append(Summary.Value(tag=metadata.get_instance_name(tag, kind), tensor=tensor_proto(a), metadata=meta))
    return Summary(value=values)
