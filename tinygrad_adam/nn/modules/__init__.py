"""torch.nn.modules' path, for code that reaches the module-wide hooks through it (``nn.modules.module``), the norm
base classes (``nn.modules.batchnorm._BatchNorm``, ``nn.modules.instancenorm._InstanceNorm``) or the conv classes
(``nn.modules.conv.Conv2d``), the activation, recurrent and transformer classes
(``nn.modules.activation``, ``nn.modules.rnn``, ``nn.modules.transformer``), ``nn.modules.utils`` (``_pair``, ...),
and torch's other submodules (``nn.modules.loss._Loss``, ``nn.modules.pooling``, ``nn.modules.container``, ...): the
ones in ``_NAMES`` are namespaces made here of the classes defined elsewhere in nn, name for name as torch's."""

import sys
import types

from .. import adaptive, attention, chunked_loss, layers, lazy, loss
from .. import module as module_classes
from . import activation, batchnorm, conv, instancenorm, module, rnn, transformer, utils

# torch.nn.modules.<name>: the classes torch defines there (those this library has)
_NAMES = {
    "linear": "Identity Linear NonDynamicallyQuantizableLinear Bilinear LazyLinear",
    "loss": "_Loss _WeightedLoss L1Loss NLLLoss NLLLoss2d PoissonNLLLoss GaussianNLLLoss KLDivLoss MSELoss BCELoss "
            "BCEWithLogitsLoss HingeEmbeddingLoss MultiLabelMarginLoss SmoothL1Loss HuberLoss SoftMarginLoss "
            "CrossEntropyLoss LinearCrossEntropyLoss MultiLabelSoftMarginLoss CosineEmbeddingLoss MarginRankingLoss "
            "MultiMarginLoss TripletMarginLoss TripletMarginWithDistanceLoss CTCLoss",
    "container": "Container Sequential ModuleList ModuleDict ParameterList ParameterDict",
    "normalization": "LocalResponseNorm CrossMapLRN2d LayerNorm GroupNorm RMSNorm",
    "dropout": "_DropoutNd Dropout Dropout1d Dropout2d Dropout3d AlphaDropout FeatureAlphaDropout",
    "sparse": "Embedding EmbeddingBag",
    "pooling": "_MaxPoolNd MaxPool1d MaxPool2d MaxPool3d _MaxUnpoolNd MaxUnpool1d MaxUnpool2d MaxUnpool3d _AvgPoolNd "
               "AvgPool1d AvgPool2d AvgPool3d FractionalMaxPool2d FractionalMaxPool3d _LPPoolNd LPPool1d LPPool2d "
               "LPPool3d _AdaptiveMaxPoolNd AdaptiveMaxPool1d AdaptiveMaxPool2d AdaptiveMaxPool3d _AdaptiveAvgPoolNd "
               "AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d",
    "padding": "_CircularPadNd CircularPad1d CircularPad2d CircularPad3d _ConstantPadNd ConstantPad1d ConstantPad2d "
               "ConstantPad3d _ReflectionPadNd ReflectionPad1d ReflectionPad2d ReflectionPad3d _ReplicationPadNd "
               "ReplicationPad1d ReplicationPad2d ReplicationPad3d ZeroPad1d ZeroPad2d ZeroPad3d",
    "pixelshuffle": "PixelShuffle PixelUnshuffle",
    "upsampling": "Upsample UpsamplingNearest2d UpsamplingBilinear2d",
    "distance": "PairwiseDistance CosineSimilarity",
    "flatten": "Flatten Unflatten",
    "fold": "Fold Unfold",
    "channelshuffle": "ChannelShuffle",
    "adaptive": "_ASMoutput AdaptiveLogSoftmaxWithLoss",
    "lazy": "LazyModuleMixin",
    "linear_cross_entropy_options": "LinearCrossEntropyOptions",
}
_SOURCES = (layers, loss, lazy, adaptive, attention, chunked_loss, module_classes)  # where nn defines them


def _namespace(name: str, names: str) -> types.ModuleType:
    """``nn.modules.<name>`` holding ``names``, registered so that it imports by that path."""
    namespace = types.ModuleType(f"{__name__}.{name}", f"torch.nn.modules.{name}'s classes, as defined in nn.")
    for cls in names.split():
        setattr(namespace, cls, next(getattr(src, cls) for src in _SOURCES if hasattr(src, cls)))
    namespace.__all__ = [cls for cls in names.split() if not cls.startswith("_")]
    sys.modules[namespace.__name__] = namespace
    return namespace


globals().update({name: _namespace(name, names) for name, names in _NAMES.items()})

__all__ = ["activation", "batchnorm", "conv", "instancenorm", "module", "rnn", "transformer", "utils", *_NAMES]
