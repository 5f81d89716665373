"""WaveNet as r9y9/wavenet_vocoder writes it (with vincentherrmann/pytorch-wavenet's numpy mu-law, ``np.digitize``
quantization and ``scatter_`` one-hot inputs), at tiny sizes, on synthetic numpy waveforms and "mel" features.

From r9y9: util.py's ``mulaw`` / ``inv_mulaw`` / ``mulaw_quantize`` / ``inv_mulaw_quantize`` (numpy or torch by
the argument's type), conv.py's incremental ``Conv1d`` (an ``nn.Conv1d`` subclass whose ``incremental_forward``
runs the forward pre-hooks (weight norm), shifts an input buffer and applies a linearized weight cached until a
backward hook clears it), modules.py's weight-normed ``Conv1d`` factory (``std_mul`` init), ``Conv1d1x1`` and
``ResidualConv1dGLU`` (causal trim, gated tanh * sigmoid after ``split``, local / global conditioning by 1x1
convs, skip and residual outputs), upsample.py's ``Stretch2d`` / ``UpsampleNetwork`` / ``ConvInUpsampleNetwork``
(and the older weight-normed ``ConvTranspose2d`` stack), wavenet.py's ``receptive_field_size`` and ``WaveNet``
(skips scaled by ``sqrt(1 / len(layers))``, ``incremental_forward``, ``clear_buffer``, ``make_generation_fast_``),
mixture.py's discretized mixture of logistics loss and sampler, train.py's ``sequence_mask``,
``MaskedCrossEntropyLoss``, ``DiscretizedMixturelogisticLoss``, ``ExponentialMovingAverage``,
``clone_as_averaged_model``, the step lr decay and ``__train_step`` (Adam, ``clip_grad_norm_``, the EMA update),
and its checkpoint dicts.

Differences from the repositories, forced by the tiny CPU setting or by the comparison: no CUDA / data_parallel /
tensorboard / hparams module (the hparams are arguments); dropout 0 where numbers must match (the two libraries'
generators differ); the samplers take optional handed-in uniforms (``noise``) in place of their
``uniform_`` / ``OneHotCategorical`` / ``np.random.choice`` draws, which they still make when none are given;
``train`` returns a history of the numbers the test compares.
"""

import io
import math

import numpy as np
import torch
from torch import nn, optim
from torch.nn import functional as F

# ---------------------------------------------------------------- util.py (r9y9)


def _sign(x):
    isnumpy = isinstance(x, np.ndarray)
    isscalar = np.isscalar(x)
    return np.sign(x) if (isnumpy or isscalar) else torch.sign(x)


def _log1p(x):
    isnumpy = isinstance(x, np.ndarray)
    isscalar = np.isscalar(x)
    return np.log1p(x) if (isnumpy or isscalar) else torch.log1p(x)


def _abs(x):
    isnumpy = isinstance(x, np.ndarray)
    isscalar = np.isscalar(x)
    return np.abs(x) if (isnumpy or isscalar) else torch.abs(x)


def _asint(x):
    # ugly wrapper to support torch/numpy arrays
    isnumpy = isinstance(x, np.ndarray)
    isscalar = np.isscalar(x)
    return x.astype(np.int64) if isnumpy else int(x) if isscalar else x.long()


def _asfloat(x):
    isnumpy = isinstance(x, np.ndarray)
    isscalar = np.isscalar(x)
    return x.astype(np.float32) if isnumpy else float(x) if isscalar else x.float()


def mulaw(x, mu=256):
    """Mu-Law companding: y = sign(x) * ln(1 + mu|x|) / ln(1 + mu), for x in [-1, 1]."""
    return _sign(x) * _log1p(mu * _abs(x)) / np.log1p(mu)


def inv_mulaw(y, mu=256):
    """Inverse of mu-law companding (mu-law expansion)."""
    return _sign(y) * (1.0 / mu) * ((1.0 + mu)**_abs(y) - 1.0)


def mulaw_quantize(x, mu=256):
    """Mu-Law companding and quantization to [0, mu]."""
    y = mulaw(x, mu)
    # scale [-1, 1] to [0, mu]
    return _asint((y + 1) / 2 * mu + 0.5)


def inv_mulaw_quantize(y, mu=256):
    """Inverse of mu-law companding + quantization."""
    y = 2 * _asfloat(y) / mu - 1
    return inv_mulaw(y, mu)


# ---------------------------------------------------------------- vincentherrmann/pytorch-wavenet's numpy mu-law


def mu_law_encoding(data, mu):
    mu_x = np.sign(data) * np.log(1 + mu * np.abs(data)) / np.log(mu + 1)
    return mu_x


def mu_law_expansion(data, mu):
    s = np.sign(data) * (np.exp(np.abs(data) * np.log(mu + 1)) - 1) / mu
    return s


def quantize_data(data, classes):
    mu_x = mu_law_encoding(data, classes)
    bins = np.linspace(-1, 1, classes)
    quantized = np.digitize(mu_x, bins) - 1
    return quantized


def one_hot_item(example, classes, item_length):
    """WavenetDataset.__getitem__'s one-hot input: a (classes, item_length) float tensor by ``scatter_``."""
    one_hot = torch.FloatTensor(classes, item_length).zero_()
    one_hot.scatter_(0, example[:item_length].unsqueeze(0), 1.)
    target = example[-item_length:].unsqueeze(0)
    return one_hot, target


# ---------------------------------------------------------------- conv.py (r9y9, from fairseq)


class Conv1d(nn.Conv1d):
    """Extended nn.Conv1d for incremental dilated convolutions
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.clear_buffer()
        self._linearized_weight = None
        self.register_backward_hook(self._clear_linearized_weight)

    def incremental_forward(self, input):  # noqa: A002
        # input: (B, T, C)
        if self.training:
            raise RuntimeError('incremental_forward only supports eval mode')

        # run forward pre hooks (e.g., weight norm)
        for hook in self._forward_pre_hooks.values():
            hook(self, input)

        # reshape weight
        weight = self._get_linearized_weight()
        kw = self.kernel_size[0]
        dilation = self.dilation[0]

        bsz = input.size(0)  # input: bsz x len x dim
        if kw > 1:
            input = input.data  # noqa: A001
            if self.input_buffer is None:
                self.input_buffer = input.new(bsz, kw + (kw - 1) * (dilation - 1), input.size(2))
                self.input_buffer.zero_()
            else:
                # shift buffer
                self.input_buffer[:, :-1, :] = self.input_buffer[:, 1:, :].clone()
            # append next input
            self.input_buffer[:, -1, :] = input[:, -1, :]
            input = self.input_buffer  # noqa: A001
            if dilation > 1:
                input = input[:, 0::dilation, :].contiguous()  # noqa: A001
        output = F.linear(input.view(bsz, -1), weight, self.bias)
        return output.view(bsz, 1, -1)

    def clear_buffer(self):
        self.input_buffer = None

    def _get_linearized_weight(self):
        if self._linearized_weight is None:
            kw = self.kernel_size[0]
            # nn.Conv1d
            if self.weight.size() == (self.out_channels, self.in_channels, kw):
                weight = self.weight.transpose(1, 2).contiguous()
            else:
                # fairseq.modules.conv_tbc.ConvTBC
                weight = self.weight.transpose(2, 1).transpose(1, 0).contiguous()
            assert weight.size() == (self.out_channels, kw, self.in_channels)
            self._linearized_weight = weight.view(self.out_channels, -1)
        return self._linearized_weight

    def _clear_linearized_weight(self, *args):
        self._linearized_weight = None


# ---------------------------------------------------------------- modules.py (r9y9)


def WeightNormConv1d(in_channels, out_channels, kernel_size, dropout=0, std_mul=4.0, **kwargs):  # noqa: N802
    """modules.py's ``Conv1d``: the incremental conv, normal init scaled by fan-in and dropout, weight-normed."""
    m = Conv1d(in_channels, out_channels, kernel_size, **kwargs)
    std = math.sqrt((std_mul * (1.0 - dropout)) / (m.kernel_size[0] * in_channels))
    nn.init.normal_(m.weight, mean=0, std=std)
    nn.init.constant_(m.bias, 0)
    return nn.utils.weight_norm(m)


def Embedding(num_embeddings, embedding_dim, padding_idx, std=0.01):  # noqa: N802
    m = nn.Embedding(num_embeddings, embedding_dim, padding_idx)
    m.weight.data.normal_(0, std)
    return m


def ConvTranspose2d(in_channels, out_channels, kernel_size, weight_normalization=True, **kwargs):  # noqa: N802
    freq_axis_kernel_size = kernel_size[0]
    m = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, **kwargs)
    m.weight.data.fill_(1.0 / freq_axis_kernel_size)
    m.bias.data.zero_()
    if weight_normalization:
        return nn.utils.weight_norm(m)
    else:
        return m


def Conv1d1x1(in_channels, out_channels, bias=True, weight_normalization=True):  # noqa: N802
    """1-by-1 convolution layer
    """
    if weight_normalization:
        assert bias
        return WeightNormConv1d(in_channels, out_channels, kernel_size=1, padding=0,
                                dilation=1, bias=bias, std_mul=1.0)
    else:
        return Conv1d(in_channels, out_channels, kernel_size=1, padding=0,
                      dilation=1, bias=bias)


def _conv1x1_forward(conv, x, is_incremental):
    """Conv1x1 forward
    """
    if is_incremental:  # noqa: SIM108
        x = conv.incremental_forward(x)
    else:
        x = conv(x)
    return x


class ResidualConv1dGLU(nn.Module):
    """Residual dilated conv1d + Gated linear unit

    Args:
        residual_channels (int): Residual input / output channels
        gate_channels (int): Gated activation channels.
        kernel_size (int): Kernel size of convolution layers.
        skip_out_channels (int): Skip connection channels. If None, set to same
          as ``residual_channels``.
        cin_channels (int): Local conditioning channels. If negative value is
          set, local conditioning is disabled.
        gin_channels (int): Global conditioning channels. If negative value is
          set, global conditioning is disabled.
        dropout (float): Dropout probability.
        padding (int): Padding for convolution layers. If None, proper padding
          is computed depends on dilation and kernel_size.
        dilation (int): Dilation factor.
    """

    def __init__(self, residual_channels, gate_channels, kernel_size,
                 skip_out_channels=None,
                 cin_channels=-1, gin_channels=-1,
                 dropout=1 - 0.95, padding=None, dilation=1, causal=True,
                 bias=True, weight_normalization=True, *args, **kwargs):
        super().__init__()
        self.dropout = dropout
        if skip_out_channels is None:
            skip_out_channels = residual_channels
        if padding is None:
            # no future time stamps available
            if causal:  # noqa: SIM108
                padding = (kernel_size - 1) * dilation
            else:
                padding = (kernel_size - 1) // 2 * dilation
        self.causal = causal

        if weight_normalization:
            assert bias
            self.conv = WeightNormConv1d(residual_channels, gate_channels, kernel_size,
                                         padding=padding, dilation=dilation,
                                         bias=bias, std_mul=1.0, *args, **kwargs)  # noqa: B026
        else:
            self.conv = Conv1d(residual_channels, gate_channels, kernel_size,
                               padding=padding, dilation=dilation,
                               bias=bias, *args, **kwargs)  # noqa: B026

        # local conditioning
        if cin_channels > 0:
            self.conv1x1c = Conv1d1x1(cin_channels, gate_channels,
                                      bias=bias,
                                      weight_normalization=weight_normalization)
        else:
            self.conv1x1c = None

        # global conditioning
        if gin_channels > 0:
            self.conv1x1g = Conv1d1x1(gin_channels, gate_channels, bias=bias,
                                      weight_normalization=weight_normalization)
        else:
            self.conv1x1g = None

        # conv output is split into two groups
        gate_out_channels = gate_channels // 2
        self.conv1x1_out = Conv1d1x1(gate_out_channels, residual_channels, bias=bias,
                                     weight_normalization=weight_normalization)
        self.conv1x1_skip = Conv1d1x1(gate_out_channels, skip_out_channels, bias=bias,
                                      weight_normalization=weight_normalization)

    def forward(self, x, c=None, g=None):
        return self._forward(x, c, g, False)

    def incremental_forward(self, x, c=None, g=None):
        return self._forward(x, c, g, True)

    def _forward(self, x, c, g, is_incremental):
        """Forward

        Args:
            x (Tensor): B x C x T
            c (Tensor): B x C x T, Local conditioning features
            g (Tensor): B x C x T, Expanded global conditioning features
            is_incremental (Bool) : Whether incremental mode or not

        Returns:
            Tensor: output
        """
        residual = x
        x = F.dropout(x, p=self.dropout, training=self.training)
        if is_incremental:
            splitdim = -1
            x = self.conv.incremental_forward(x)
        else:
            splitdim = 1
            x = self.conv(x)
            # remove future time steps
            x = x[:, :, :residual.size(-1)] if self.causal else x

        a, b = x.split(x.size(splitdim) // 2, dim=splitdim)

        # local conditioning
        if c is not None:
            assert self.conv1x1c is not None
            c = _conv1x1_forward(self.conv1x1c, c, is_incremental)
            ca, cb = c.split(c.size(splitdim) // 2, dim=splitdim)
            a, b = a + ca, b + cb

        # global conditioning
        if g is not None:
            assert self.conv1x1g is not None
            g = _conv1x1_forward(self.conv1x1g, g, is_incremental)
            ga, gb = g.split(g.size(splitdim) // 2, dim=splitdim)
            a, b = a + ga, b + gb

        x = torch.tanh(a) * torch.sigmoid(b)

        # For skip connection
        s = _conv1x1_forward(self.conv1x1_skip, x, is_incremental)

        # For residual connection
        x = _conv1x1_forward(self.conv1x1_out, x, is_incremental)

        x = (x + residual) * math.sqrt(0.5)
        return x, s

    def clear_buffer(self):
        for c in [self.conv, self.conv1x1_out, self.conv1x1_skip,
                  self.conv1x1c, self.conv1x1g]:
            if c is not None:
                c.clear_buffer()


# ---------------------------------------------------------------- upsample.py (r9y9)


class Stretch2d(nn.Module):
    def __init__(self, x_scale, y_scale, mode="nearest"):
        super(Stretch2d, self).__init__()  # noqa: UP008 - the repository's spelling
        self.x_scale = x_scale
        self.y_scale = y_scale
        self.mode = mode

    def forward(self, x):
        return F.interpolate(
            x, scale_factor=(self.y_scale, self.x_scale), mode=self.mode)


def _get_activation(upsample_activation):
    nonlinear = getattr(nn, upsample_activation)
    return nonlinear


class UpsampleNetwork(nn.Module):
    def __init__(self, upsample_scales, upsample_activation="none",
                 upsample_activation_params={}, mode="nearest",  # noqa: B006 - the repository's spelling
                 freq_axis_kernel_size=1, cin_pad=0, cin_channels=80):
        super(UpsampleNetwork, self).__init__()  # noqa: UP008
        self.up_layers = nn.ModuleList()
        total_scale = np.prod(upsample_scales)
        self.indent = cin_pad * total_scale
        for scale in upsample_scales:
            freq_axis_padding = (freq_axis_kernel_size - 1) // 2
            k_size = (freq_axis_kernel_size, scale * 2 + 1)
            padding = (freq_axis_padding, scale)
            stretch = Stretch2d(scale, 1, mode)
            conv = nn.Conv2d(1, 1, kernel_size=k_size, padding=padding, bias=False)
            conv.weight.data.fill_(1. / np.prod(k_size))
            conv = nn.utils.weight_norm(conv)
            self.up_layers.append(stretch)
            self.up_layers.append(conv)
            if upsample_activation != "none":
                nonlinear = _get_activation(upsample_activation)
                self.up_layers.append(nonlinear(**upsample_activation_params))

    def forward(self, c):
        """
        Args:
            c : B x C x T
        """

        # B x 1 x C x T
        c = c.unsqueeze(1)
        for f in self.up_layers:
            c = f(c)
        # B x C x T
        c = c.squeeze(1)

        if self.indent > 0:
            c = c[:, :, self.indent:-self.indent]
        return c


class ConvInUpsampleNetwork(nn.Module):
    def __init__(self, upsample_scales, upsample_activation="none",
                 upsample_activation_params={}, mode="nearest",  # noqa: B006 - the repository's spelling
                 freq_axis_kernel_size=1, cin_pad=0,
                 cin_channels=80):
        super(ConvInUpsampleNetwork, self).__init__()  # noqa: UP008
        # To capture wide-context information in conditional features
        # meaningless if cin_pad == 0
        ks = 2 * cin_pad + 1
        self.conv_in = nn.Conv1d(cin_channels, cin_channels, kernel_size=ks, bias=False)
        self.upsample = UpsampleNetwork(
            upsample_scales, upsample_activation, upsample_activation_params,
            mode, freq_axis_kernel_size, cin_pad=0, cin_channels=cin_channels)

    def forward(self, c):
        c_up = self.upsample(self.conv_in(c))
        return c_up


class ConvTransposeUpsample(nn.Module):
    """The 2018 wavenet.py's ``upsample_conv``: weight-normed ConvTranspose2d stretches, each followed by an
    in-place ReLU, held in a ModuleList and applied on (B, 1, C, T)."""

    def __init__(self, upsample_scales, freq_axis_kernel_size=3, weight_normalization=True):
        super().__init__()
        self.upsample_conv = nn.ModuleList()
        for s in upsample_scales:
            freq_axis_padding = (freq_axis_kernel_size - 1) // 2
            convt = ConvTranspose2d(1, 1, (freq_axis_kernel_size, s),
                                    padding=(freq_axis_padding, 0),
                                    dilation=1, stride=(1, s),
                                    weight_normalization=weight_normalization)
            self.upsample_conv.append(convt)
            # assuming we use [0, 1] scaled features
            # this should avoid non-negative upsampling output
            self.upsample_conv.append(nn.ReLU(inplace=True))

    def forward(self, c):
        # B x 1 x C x T
        c = c.unsqueeze(1)
        for f in self.upsample_conv:
            c = f(c)
        # B x C x T
        c = c.squeeze(1)
        return c


# ---------------------------------------------------------------- wavenet.py (r9y9)


def _expand_global_features(B, T, g, bct=True):
    """Expand global conditioning features to all time steps

    Args:
        B (int): Batch size.
        T (int): Time length.
        g (Tensor): Global features, (B x C) or (B x C x 1).
        bct (bool) : returns (B x C x T) if True, otherwise (B x T x C)

    Returns:
        Tensor: B x C x T or B x T x C or None
    """
    if g is None:
        return None
    g = g.unsqueeze(-1) if g.dim() == 2 else g
    if bct:
        g_bct = g.expand(B, -1, T)
        return g_bct.contiguous()
    else:
        g_btc = g.expand(B, -1, T).transpose(1, 2)
        return g_btc.contiguous()


def receptive_field_size(total_layers, num_cycles, kernel_size,
                         dilation=lambda x: 2**x):
    """Compute receptive field size

    Args:
        total_layers (int): total layers
        num_cycles (int): cycles
        kernel_size (int): kernel size
        dilation (lambda): lambda to compute dilation factor. ``lambda x : 1``
          to disable dilated convolution.

    Returns:
        int: receptive field size in sample

    """
    assert total_layers % num_cycles == 0
    layers_per_cycle = total_layers // num_cycles
    dilations = [dilation(i % layers_per_cycle) for i in range(total_layers)]
    return (kernel_size - 1) * sum(dilations) + 1


UPSAMPLE_NETS = {"UpsampleNetwork": UpsampleNetwork, "ConvInUpsampleNetwork": ConvInUpsampleNetwork,
                 "ConvTransposeUpsample": ConvTransposeUpsample}


class WaveNet(nn.Module):
    """The WaveNet model that supports local and global conditioning.

    Args:
        out_channels (int): Output channels. If input_type is mu-law quantized
          one-hot vecror. this must equal to the quantize channels. Other wise
          num_mixtures x 3 (pi, mu, log_scale).
        layers (int): Number of total layers
        stacks (int): Number of dilation cycles
        residual_channels (int): Residual input / output channels
        gate_channels (int): Gated activation channels.
        skip_out_channels (int): Skip connection channels.
        kernel_size (int): Kernel size of convolution layers.
        dropout (float): Dropout probability.
        cin_channels (int): Local conditioning channels. If negative value is
          set, local conditioning is disabled.
        gin_channels (int): Global conditioning channels. If negative value is
          set, global conditioning is disabled.
        n_speakers (int): Number of speakers. Used only if global conditioning
          is enabled.
        upsample_conditional_features (bool): Whether upsampling local
          conditioning features by transposed convolution layers or not.
        scalar_input (Bool): If True, scalar input ([-1, 1]) is expected, otherwise
          quantized one-hot vector is expected.
        use_speaker_embedding (Bool): Use speaker embedding or Not. Set to False
          if you want to disable embedding layer and use external features
          directly.
    """

    def __init__(self, out_channels=256, layers=20, stacks=2,
                 residual_channels=512,
                 gate_channels=512,
                 skip_out_channels=512,
                 kernel_size=3, dropout=1 - 0.95,
                 cin_channels=-1, gin_channels=-1, n_speakers=None,
                 upsample_conditional_features=False,
                 upsample_net="ConvInUpsampleNetwork",
                 upsample_params={"upsample_scales": [4, 4, 4, 4]},  # noqa: B006 - the repository's spelling
                 scalar_input=False,
                 use_speaker_embedding=False,
                 output_distribution="Logistic",
                 cin_pad=0,
                 ):
        super(WaveNet, self).__init__()  # noqa: UP008
        self.scalar_input = scalar_input
        self.out_channels = out_channels
        self.cin_channels = cin_channels
        self.output_distribution = output_distribution
        assert layers % stacks == 0
        layers_per_stack = layers // stacks
        if scalar_input:
            self.first_conv = Conv1d1x1(1, residual_channels)
        else:
            self.first_conv = Conv1d1x1(out_channels, residual_channels)

        self.conv_layers = nn.ModuleList()
        for layer in range(layers):
            dilation = 2**(layer % layers_per_stack)
            conv = ResidualConv1dGLU(
                residual_channels, gate_channels,
                kernel_size=kernel_size,
                skip_out_channels=skip_out_channels,
                bias=True,  # magenda uses bias, but musyoku doesn't
                dilation=dilation, dropout=dropout,
                cin_channels=cin_channels,
                gin_channels=gin_channels)
            self.conv_layers.append(conv)
        self.last_conv_layers = nn.ModuleList([
            nn.ReLU(inplace=True),
            Conv1d1x1(skip_out_channels, skip_out_channels),
            nn.ReLU(inplace=True),
            Conv1d1x1(skip_out_channels, out_channels),
        ])

        if gin_channels > 0 and use_speaker_embedding:
            assert n_speakers is not None
            self.embed_speakers = Embedding(
                n_speakers, gin_channels, padding_idx=None, std=0.1)
        else:
            self.embed_speakers = None

        # Upsample conv net
        if upsample_conditional_features:
            self.upsample_net = UPSAMPLE_NETS[upsample_net](**upsample_params)
        else:
            self.upsample_net = None

        self.receptive_field = receptive_field_size(layers, stacks, kernel_size)

    def has_speaker_embedding(self):
        return self.embed_speakers is not None

    def local_conditioning_enabled(self):
        return self.cin_channels > 0

    def forward(self, x, c=None, g=None, softmax=False):
        """Forward step

        Args:
            x (Tensor): One-hot encoded audio signal, shape (B x C x T)
            c (Tensor): Local conditioning features,
              shape (B x cin_channels x T)
            g (Tensor): Global conditioning features,
              shape (B x gin_channels x 1) or speaker Ids of shape (B x 1).
              Note that ``self.use_speaker_embedding`` must be False when you
              want to disable embedding layer and use external features
              directly (e.g., one-hot vector).
              Also type of input tensor must be FloatTensor, not LongTensor
              in case of ``self.use_speaker_embedding`` equals False.
            softmax (bool): Whether applies softmax or not.

        Returns:
            Tensor: output, shape B x out_channels x T
        """
        B, _, T = x.size()

        if g is not None:  # noqa: SIM102
            if self.embed_speakers is not None:
                # (B x 1) -> (B x 1 x gin_channels)
                g = self.embed_speakers(g.view(B, -1))
                # (B x gin_channels x 1)
                g = g.transpose(1, 2)
                assert g.dim() == 3
        # Expand global conditioning features to all time steps
        g_bct = _expand_global_features(B, T, g, bct=True)

        if c is not None and self.upsample_net is not None:
            c = self.upsample_net(c)
            assert c.size(-1) == x.size(-1)

        # Feed data to network
        x = self.first_conv(x)
        skips = 0
        for f in self.conv_layers:
            x, h = f(x, c, g_bct)
            skips += h
        skips *= math.sqrt(1.0 / len(self.conv_layers))

        x = skips
        for f in self.last_conv_layers:
            x = f(x)

        x = F.softmax(x, dim=1) if softmax else x

        return x

    def incremental_forward(self, initial_input=None, c=None, g=None,
                            T=100, test_inputs=None,
                            tqdm=lambda x: x, softmax=True, quantize=True,
                            log_scale_min=-7.0, noise=None):
        """Incremental forward step

        Due to linearized convolutions, inputs of shape (B x C x T) are reshaped
        to (B x T x C) internally and fed to the network for each time step.
        Input of each time step will be of shape (B x 1 x C).

        Args:
            initial_input (Tensor): Initial decoder input, (B x C x 1)
            c (Tensor): Local conditioning features, shape (B x C' x T)
            g (Tensor): Global conditioning features, shape (B x C'' or B x C''x 1)
            T (int): Number of time steps to generate.
            test_inputs (Tensor): Teacher forcing inputs (for debugging)
            tqdm (lamda) : tqdm
            softmax (bool) : Whether applies softmax or not
            quantize (bool): Whether quantize softmax output before feeding the
              network output to input for the next time step. TODO: rename
            log_scale_min (float):  Log scale minimum value.
            noise (array): (T, B) uniforms for the softmax sampler or (T, 2, B, nr_mix) for the mixture's, handed
              in for the ``OneHotCategorical`` / ``uniform_`` draws (not in the repository)

        Returns:
            Tensor: Generated one-hot encoded samples. B x C x T
              or scaler vector B x 1 x T
        """
        self.clear_buffer()
        B = 1

        # Note: shape should be **(B x T x C)**, not (B x C x T) opposed to
        # batch forward due to linealized convolution
        if test_inputs is not None:
            if self.scalar_input:
                if test_inputs.size(1) == 1:
                    test_inputs = test_inputs.transpose(1, 2).contiguous()
            else:
                if test_inputs.size(1) == self.out_channels:
                    test_inputs = test_inputs.transpose(1, 2).contiguous()

            B = test_inputs.size(0)
            if T is None:  # noqa: SIM108
                T = test_inputs.size(1)
            else:
                T = max(T, test_inputs.size(1))
        # cast to int in case of numpy.int64...
        T = int(T)

        # Global conditioning
        if g is not None:  # noqa: SIM102
            if self.embed_speakers is not None:
                g = self.embed_speakers(g.view(B, -1))
                # (B x gin_channels, 1)
                g = g.transpose(1, 2)
                assert g.dim() == 3
        g_btc = _expand_global_features(B, T, g, bct=False)

        # Local conditioning
        if c is not None and self.upsample_net is not None:
            c = self.upsample_net(c)
            assert c.size(-1) == T
        if c is not None and c.size(-1) == T:
            c = c.transpose(1, 2).contiguous()

        outputs = []
        if initial_input is None:
            if self.scalar_input:
                initial_input = torch.zeros(B, 1, 1)
            else:
                initial_input = torch.zeros(B, 1, self.out_channels)
                initial_input[:, :, 127] = 1  # TODO: is this ok?
            # https://github.com/pytorch/pytorch/issues/584#issuecomment-275169567
            if next(self.parameters()).is_cuda:
                initial_input = initial_input.cuda()
        else:
            if initial_input.size(1) == self.out_channels:
                initial_input = initial_input.transpose(1, 2).contiguous()

        current_input = initial_input

        for t in tqdm(range(T)):
            if test_inputs is not None and t < test_inputs.size(1):
                current_input = test_inputs[:, t, :].unsqueeze(1)
            else:
                if t > 0:
                    current_input = outputs[-1]

            # Conditioning features for single time step
            ct = None if c is None else c[:, t, :].unsqueeze(1)
            gt = None if g is None else g_btc[:, t, :].unsqueeze(1)

            x = current_input
            x = self.first_conv.incremental_forward(x)
            skips = 0
            for f in self.conv_layers:
                x, h = f.incremental_forward(x, ct, gt)
                skips += h
            skips *= math.sqrt(1.0 / len(self.conv_layers))
            x = skips
            for f in self.last_conv_layers:
                try:
                    x = f.incremental_forward(x)
                except AttributeError:
                    x = f(x)

            # Generate next input by sampling
            if self.scalar_input:
                x = sample_from_discretized_mix_logistic(
                    x.view(B, -1, 1), log_scale_min=log_scale_min,
                    noise=None if noise is None else noise[t])
            else:
                x = F.softmax(x.view(B, -1), dim=1) if softmax else x.view(B, -1)
                if quantize:
                    if noise is None:
                        dist = torch.distributions.OneHotCategorical(x)
                        x = dist.sample()
                    else:
                        x = sample_one_hot(x, noise[t])
            outputs += [x.data]
        # T x B x C
        outputs = torch.stack(outputs)
        # B x C x T
        outputs = outputs.transpose(0, 1).transpose(1, 2).contiguous()

        self.clear_buffer()
        return outputs

    def clear_buffer(self):
        self.first_conv.clear_buffer()
        for f in self.conv_layers:
            f.clear_buffer()
        for f in self.last_conv_layers:
            try:  # noqa: SIM105
                f.clear_buffer()
            except AttributeError:
                pass

    def make_generation_fast_(self):
        def remove_weight_norm(m):
            try:
                nn.utils.remove_weight_norm(m)
            except ValueError:  # this module didn't have weight norm
                return
        self.apply(remove_weight_norm)


def sample_one_hot(probs, u):
    """The categorical draw from the softmax by inverse CDF with handed-in uniforms ``u`` (B,), one-hot again by
    ``scatter_`` as pytorch-wavenet builds its next input."""
    u = torch.as_tensor(u, dtype=probs.dtype)
    index = (probs.cumsum(dim=1) < u.unsqueeze(1)).sum(dim=1).clamp(max=probs.size(1) - 1)
    out = torch.zeros_like(probs)
    out.scatter_(1, index.view(-1, 1), 1.)
    return out


# ---------------------------------------------------------------- mixture.py (r9y9)


def log_sum_exp(x):
    """ numerically stable log_sum_exp implementation that prevents overflow """
    # TF ordering
    axis = len(x.size()) - 1
    m, _ = torch.max(x, dim=axis)
    m2, _ = torch.max(x, dim=axis, keepdim=True)
    return m + torch.log(torch.sum(torch.exp(x - m2), dim=axis))


def discretized_mix_logistic_loss(y_hat, y, num_classes=256,
                                  log_scale_min=-7.0, reduce=True):
    """Discretized mixture of logistic distributions loss

    Note that it is assumed that input is scaled to [-1, 1].

    Args:
        y_hat (Tensor): Predicted output (B x C x T)
        y (Tensor): Target (B x T x 1).
        num_classes (int): Number of classes
        log_scale_min (float): Log scale minimum value
        reduce (bool): If True, the losses are averaged or summed for each
          minibatch.

    Returns
        Tensor: loss
    """
    assert y_hat.dim() == 3
    assert y_hat.size(1) % 3 == 0
    nr_mix = y_hat.size(1) // 3

    # (B x T x C)
    y_hat = y_hat.transpose(1, 2)

    # unpack parameters. (B, T, num_mixtures) x 3
    logit_probs = y_hat[:, :, :nr_mix]
    means = y_hat[:, :, nr_mix:2 * nr_mix]
    log_scales = torch.clamp(y_hat[:, :, 2 * nr_mix:3 * nr_mix], min=log_scale_min)

    # B x T x 1 -> B x T x num_mixtures
    y = y.expand_as(means)

    centered_y = y - means
    inv_stdv = torch.exp(-log_scales)
    plus_in = inv_stdv * (centered_y + 1. / (num_classes - 1))
    cdf_plus = torch.sigmoid(plus_in)
    min_in = inv_stdv * (centered_y - 1. / (num_classes - 1))
    cdf_min = torch.sigmoid(min_in)

    # log probability for edge case of 0 (before scaling)
    # equivalent: torch.log(torch.sigmoid(plus_in))
    log_cdf_plus = plus_in - F.softplus(plus_in)

    # log probability for edge case of 255 (before scaling)
    # equivalent: (1 - torch.sigmoid(min_in)).log()
    log_one_minus_cdf_min = -F.softplus(min_in)

    # probability for all other cases
    cdf_delta = cdf_plus - cdf_min

    mid_in = inv_stdv * centered_y
    # log probability in the center of the bin, to be used in extreme cases
    # (not actually used in our code)
    log_pdf_mid = mid_in - log_scales - 2. * F.softplus(mid_in)

    # tf equivalent
    """
    log_probs = tf.where(x < -0.999, log_cdf_plus,
                         tf.where(x > 0.999, log_one_minus_cdf_min,
                                  tf.where(cdf_delta > 1e-5,
                                           tf.log(tf.maximum(cdf_delta, 1e-12)),
                                           log_pdf_mid - np.log(127.5))))
    """
    # TODO: cdf_delta <= 1e-5 actually can happen. How can we choose the value
    # for num_classes=65536 case? 1e-7? not sure..
    inner_inner_cond = (cdf_delta > 1e-5).float()

    inner_inner_out = inner_inner_cond * \
        torch.log(torch.clamp(cdf_delta, min=1e-12)) + \
        (1. - inner_inner_cond) * (log_pdf_mid - np.log((num_classes - 1) / 2))
    inner_cond = (y > 0.999).float()
    inner_out = inner_cond * log_one_minus_cdf_min + (1. - inner_cond) * inner_inner_out
    cond = (y < -0.999).float()
    log_probs = cond * log_cdf_plus + (1. - cond) * inner_out

    log_probs = log_probs + F.log_softmax(logit_probs, -1)

    if reduce:
        return -torch.sum(log_sum_exp(log_probs))
    else:
        return -log_sum_exp(log_probs).unsqueeze(-1)


def to_one_hot(tensor, n, fill_with=1.):
    # we perform one hot encore with respect to the last axis
    one_hot = torch.FloatTensor(tensor.size() + (n,)).zero_()
    if tensor.is_cuda:
        one_hot = one_hot.cuda()
    one_hot.scatter_(len(tensor.size()), tensor.unsqueeze(-1), fill_with)
    return one_hot


def sample_from_discretized_mix_logistic(y, log_scale_min=-7.0, clamp_log_scale=False, noise=None):
    """
    Sample from discretized mixture of logistic distributions

    Args:
        y (Tensor): B x C x T
        log_scale_min (float): Log scale minimum value
        noise (array): (2, B, T, nr_mix) uniforms in (1e-5, 1 - 1e-5) for the two ``uniform_`` draws (the
          second uses [..., 0]), or None to draw them (not in the repository)

    Returns:
        Tensor: sample in range of [-1, 1].
    """
    assert y.size(1) % 3 == 0
    nr_mix = y.size(1) // 3

    # B x T x C
    y = y.transpose(1, 2)
    logit_probs = y[:, :, :nr_mix]

    # sample mixture indicator from softmax
    if noise is None:
        temp = logit_probs.data.new(logit_probs.size()).uniform_(1e-5, 1.0 - 1e-5)
    else:
        temp = torch.from_numpy(noise[0])
    temp = logit_probs.data - torch.log(- torch.log(temp))
    _, argmax = temp.max(dim=-1)

    # (B, T) -> (B, T, nr_mix)
    one_hot = to_one_hot(argmax, nr_mix)
    # select logistic parameters
    means = torch.sum(y[:, :, nr_mix:2 * nr_mix] * one_hot, dim=-1)
    log_scales = torch.sum(y[:, :, 2 * nr_mix:3 * nr_mix] * one_hot, dim=-1)
    if clamp_log_scale:
        log_scales = torch.clamp(log_scales, min=log_scale_min)
    # sample from logistic & clip to interval
    # we don't actually round to the nearest 8bit value when sampling
    if noise is None:
        u = means.data.new(means.size()).uniform_(1e-5, 1.0 - 1e-5)
    else:
        u = torch.from_numpy(noise[1][..., 0])
    x = means + torch.exp(log_scales) * (torch.log(u) - torch.log(1. - u))

    x = torch.clamp(torch.clamp(x, min=-1.), max=1.)

    return x


# ---------------------------------------------------------------- train.py / lrschedule.py (r9y9)


def sequence_mask(sequence_length, max_len=None):
    if max_len is None:
        max_len = sequence_length.data.max()
    batch_size = sequence_length.size(0)
    seq_range = torch.arange(0, max_len).long()
    seq_range_expand = seq_range.unsqueeze(0).expand(batch_size, max_len)
    if sequence_length.is_cuda:
        seq_range_expand = seq_range_expand.cuda()
    seq_length_expand = sequence_length.unsqueeze(1) \
        .expand_as(seq_range_expand)
    return (seq_range_expand < seq_length_expand).float()


class ExponentialMovingAverage:
    def __init__(self, decay):
        self.decay = decay
        self.shadow = {}

    def register(self, name, val):
        self.shadow[name] = val.clone()

    def update(self, name, x):
        assert name in self.shadow
        update_delta = self.shadow[name] - x
        self.shadow[name] -= (1.0 - self.decay) * update_delta


class MaskedCrossEntropyLoss(nn.Module):
    def __init__(self):
        super(MaskedCrossEntropyLoss, self).__init__()  # noqa: UP008
        self.criterion = nn.CrossEntropyLoss(reduction='none')

    def forward(self, input, target, lengths=None, mask=None, max_len=None):  # noqa: A002
        if lengths is None and mask is None:
            raise RuntimeError("Should provide either lengths or mask")

        # (B, T, 1)
        if mask is None:
            mask = sequence_mask(lengths, max_len).unsqueeze(-1)

        # (B, T, D)
        mask_ = mask.expand_as(target)
        losses = self.criterion(input, target)
        return ((losses * mask_).sum()) / mask_.sum()


class DiscretizedMixturelogisticLoss(nn.Module):
    def __init__(self, num_classes=256, log_scale_min=-7.0):
        super(DiscretizedMixturelogisticLoss, self).__init__()  # noqa: UP008
        self.num_classes = num_classes
        self.log_scale_min = log_scale_min

    def forward(self, input, target, lengths=None, mask=None, max_len=None):  # noqa: A002
        if lengths is None and mask is None:
            raise RuntimeError("Should provide either lengths or mask")

        # (B, T, 1)
        if mask is None:
            mask = sequence_mask(lengths, max_len).unsqueeze(-1)

        # (B, T, 1)
        mask_ = mask.expand_as(target)

        losses = discretized_mix_logistic_loss(
            input, target, num_classes=self.num_classes,
            log_scale_min=self.log_scale_min, reduce=False)
        assert losses.size() == target.size()
        return ((losses * mask_).sum()) / mask_.sum()


def step_learning_rate_decay(init_lr, global_step,
                             anneal_rate=0.98,
                             anneal_interval=30000):
    return init_lr * anneal_rate ** (global_step // anneal_interval)


def clone_as_averaged_model(make_model, model, ema):
    assert ema is not None
    averaged_model = make_model()
    averaged_model.load_state_dict(model.state_dict())
    for name, param in averaged_model.named_parameters():
        if name in ema.shadow:
            param.data = ema.shadow[name].clone()
    return averaged_model


def save_checkpoint(model, optimizer, step, epoch):
    buffer = io.BytesIO()
    torch.save({
        "state_dict": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "global_step": step,
        "global_epoch": epoch,
    }, buffer)
    buffer.seek(0)
    return buffer


def load_checkpoint(buffer, model, optimizer):
    checkpoint = torch.load(buffer)
    model.load_state_dict(checkpoint["state_dict"])
    optimizer_state = checkpoint["optimizer"]
    if optimizer_state is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    return checkpoint["global_step"], checkpoint["global_epoch"]


def train_step(model, optimizer, criterion, ema, x, y, c, g, input_lengths, global_step, quantized,
               init_lr=1e-3, lr_schedule_kwargs=None, clip_thresh=1.0):
    """train.py's ``__train_step`` for the "train" phase; returns the loss and the gradient norm."""
    model.train()
    current_lr = init_lr
    if lr_schedule_kwargs is not None:
        current_lr = step_learning_rate_decay(init_lr, global_step, **lr_schedule_kwargs)
        for param_group in optimizer.param_groups:
            param_group['lr'] = current_lr
    optimizer.zero_grad()

    # (B, T, 1)
    mask = sequence_mask(input_lengths, max_len=x.size(-1)).unsqueeze(-1)
    mask = mask[:, 1:, :]

    # Apply model: Run the model in regular eval mode
    # NOTE: softmax is handled in F.cross_entrypy_loss
    # y_hat: (B x C x T)
    y_hat = model(x, c, g, False)

    if quantized:
        # wee need 4d inputs for spatial cross entropy loss
        # (B, C, T, 1)
        y_hat = y_hat.unsqueeze(-1)
        loss = criterion(y_hat[:, :, :-1, :], y[:, 1:, :], mask=mask)
    else:
        loss = criterion(y_hat[:, :, :-1], y[:, 1:, :], mask=mask)

    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip_thresh)
    optimizer.step()
    # update moving average
    if ema is not None:
        for name, param in model.named_parameters():
            if name in ema.shadow:
                ema.update(name, param.data)
    return loss.item(), float(grad_norm)


def eval_loss(model, criterion, x, y, c, g, input_lengths, quantized):
    """train.py's ``eval_model`` loss part: the same masked loss in eval mode without gradients."""
    model.eval()
    with torch.no_grad():
        mask = sequence_mask(input_lengths, max_len=x.size(-1)).unsqueeze(-1)[:, 1:, :]
        y_hat = model(x, c, g, False)
        if quantized:
            loss = criterion(y_hat.unsqueeze(-1)[:, :, :-1, :], y[:, 1:, :], mask=mask)
        else:
            loss = criterion(y_hat[:, :, :-1], y[:, 1:, :], mask=mask)
    return loss.item()


def collate(waves, lengths, mels, speakers=None, quantize_channels=256, quantized=True):
    """``collate_fn`` at tiny sizes: padded waves (numpy, in [-1, 1]) become (B, C, T) one-hot inputs by
    ``scatter_`` and (B, T, 1) long targets (mu-law quantized), or (B, 1, T) scalar inputs and (B, T, 1) targets."""
    wave = torch.from_numpy(waves.astype(np.float32))
    if quantized:
        y = mulaw_quantize(wave, quantize_channels - 1)
        x = torch.zeros(y.size(0), quantize_channels, y.size(1))
        x.scatter_(1, y.unsqueeze(1), 1.)
        y = y.unsqueeze(-1)
    else:
        x = wave.unsqueeze(1)
        y = wave.unsqueeze(-1)
    c = None if mels is None else torch.from_numpy(mels.astype(np.float32))
    g = None if speakers is None else torch.LongTensor(speakers)
    return x, y, c, g, torch.LongTensor(lengths)


def train(model, batches, quantized, steps_per_epoch=None, init_lr=1e-3, ema_decay=0.9999, lr_schedule_kwargs=None,
          clip_thresh=1.0, quantize_channels=256, log_scale_min=-7.0, make_model=None, resume_at=None,
          generate_every=None, gen_noise=None, gen_T=None):
    """train.py's ``train_loop`` over ``batches`` (numpy tuples for ``collate``): per step the loss, the
    gradient norm, each parameter's gradient norm and the lr; the EMA shadow and the averaged model's eval loss at
    the end, and (every ``generate_every`` steps) a generation with ``gen_noise``. ``resume_at``: after that step,
    save a checkpoint and go on from fresh objects loaded from it (the EMA shadow, which train.py does not save,
    re-registered from the loaded model's parameters)."""
    optimizer = optim.Adam(model.parameters(), lr=init_lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                           amsgrad=False)
    if quantized:
        criterion = MaskedCrossEntropyLoss()
    else:
        criterion = DiscretizedMixturelogisticLoss(num_classes=quantize_channels, log_scale_min=log_scale_min)
    ema = ExponentialMovingAverage(ema_decay)
    for name, param in model.named_parameters():
        if param.requires_grad:
            ema.register(name, param.data)

    history = {"loss": [], "grad_norm": [], "grads": [], "lr": [], "params": [], "generated": []}
    global_step = 0
    for batch in batches:
        x, y, c, g, input_lengths = collate(*batch, quantize_channels=quantize_channels, quantized=quantized)
        loss, grad_norm = train_step(model, optimizer, criterion, ema, x, y, c, g, input_lengths, global_step,
                                     quantized, init_lr=init_lr, lr_schedule_kwargs=lr_schedule_kwargs,
                                     clip_thresh=clip_thresh)
        global_step += 1  # noqa: SIM113
        history["loss"].append(loss)
        history["grad_norm"].append(grad_norm)
        history["grads"].append([None if p.grad is None else p.grad.norm().item() for p in model.parameters()])
        history["lr"].append(optimizer.param_groups[0]["lr"])
        history["params"].append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
        if generate_every and global_step % generate_every == 0:
            model.eval()
            with torch.no_grad():
                out = model.incremental_forward(c=None if c is None else c[:1], g=None if g is None else g[:1],
                                                T=gen_T, softmax=True, quantize=True,
                                                log_scale_min=log_scale_min, noise=gen_noise)
            history["generated"].append(out.numpy().copy())
        if global_step == resume_at:
            buffer = save_checkpoint(model, optimizer, global_step, 0)
            model = make_model()
            optimizer = optim.Adam(model.parameters(), lr=init_lr, betas=(0.9, 0.999), eps=1e-8)
            load_checkpoint(buffer, model, optimizer)
            ema = ExponentialMovingAverage(ema_decay)
            for name, param in model.named_parameters():
                if param.requires_grad:
                    ema.register(name, param.data)

    averaged = clone_as_averaged_model(make_model, model, ema)
    x, y, c, g, input_lengths = collate(*batches[0], quantize_channels=quantize_channels, quantized=quantized)
    history["ema"] = {k: v.numpy().copy() for k, v in ema.shadow.items()}
    history["ema_loss"] = eval_loss(averaged, criterion, x, y, c, g, input_lengths, quantized)
    history["eval_loss"] = eval_loss(model, criterion, x, y, c, g, input_lengths, quantized)
    history["final"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return history
