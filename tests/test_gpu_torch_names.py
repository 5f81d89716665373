"""This round's torch names on the GPU (cupy) give the CPU's values and gradients; on a machine without one, run
with ``TINYGRAD_ADAM_FAKE_GPU=1`` (the strict fake cupy), which checks every cupy call they make."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F
from tinygrad_adam import nn


def program(device: str) -> list[Any]:
    tg.manual_seed(0)
    x = tg.tensor(np.linspace(-2, 2, 24, dtype=np.float32).reshape(2, 3, 4), device=device, requires_grad=True)
    idx = tg.tensor([2, 0, 0], device=device)
    parts = [
        x.round(), x.floor() + x.ceil() + x.trunc() + x.frac(), (x + 3).log1p(), x.expm1(), x.erf(),
        tg.atan2(x, x + 1), tg.hypot(x, 2 * x), tg.logaddexp(x, -x), tg.fmod(x, 0.7), tg.lerp(x, x * 3, 0.25),
        x.repeat(1, 2, 1), x.flip(2), x.roll(1, 2), x.narrow(2, 1, 2), x.movedim(0, 2), x.diagonal(0, 1, 2),
        x.index_select(2, idx), x.cumprod(2), x.median(2).values, x.kthvalue(2, 2).values,
        x.index_add(2, idx, x[..., :3]), x.index_fill(2, idx, 0.5), x.masked_select(x > 0),
        x.take(tg.tensor([0, 5, 7], device=device)), tg.take_along_dim(x, tg.tensor([[[1]]], device=device), 2),
        F.leaky_relu(x), F.elu(x), F.selu(x), F.hardswish(x), F.mish(x), F.logsigmoid(x), F.glu(x, -1),
        F.smooth_l1_loss(x, x * 0.5, reduction="none"), F.huber_loss(x, x * 0.5), F.normalize(x, dim=2),
        F.cosine_similarity(x, x + 1, dim=2), F.pad(x, (1, 2), mode="reflect"),
        F.avg_pool2d(x[None], 2), F.adaptive_avg_pool2d(x[None], 1),
        F.scaled_dot_product_attention(x, x, x, is_causal=True), x.norm(3, dim=2),
        # the eleventh stop's
        tg.nansum(x, 1), tg.nanmean(x, 2), x.diff(dim=2, prepend=x[..., :1]), tg.logit(x.sigmoid(), 0.1),
        x.aminmax(dim=1).max, x.deg2rad(), tg.float_power(x, 2).float(), x.H if x.ndim == 2 else x[0].H,
        # the fourteenth stop's
        tg.copysign(x, -x), tg.ldexp(x, tg.tensor([3, -2, 0, 1], device=device)), tg.ldexp(x, x),
        x.frexp().mantissa, x.renorm(2, 1, 1.5), x.nanmedian(2).values, x.nanmedian(),
        F.max_pool2d(x[None], 2, 1, 1, dilation=(2, 1)),
    ]
    y, z = x * 1, x * 1
    y.exp_()
    z.addcmul_(x, x, value=0.5)
    parts += [y, z]
    rnn = nn.GRU(4, 3, batch_first=True).to(device)
    parts.append(rnn(x)[0])
    mha = nn.MultiheadAttention(4, 2, batch_first=True).to(device)
    parts.append(mha(x, x, x)[0])
    # the fifteenth stop's: Embedding's options (the table is renormed in place, its gradient scaled by frequency)
    emb = nn.Embedding(5, 4, padding_idx=1, max_norm=1.5, norm_type=3.0, scale_grad_by_freq=True).to(device)
    parts.append(emb(tg.tensor([[2, 1, 2], [0, 4, 2]], device=device)) * x[:, :3].detach())
    bag_idx, bag_offsets = tg.tensor([2, 0, 2, 1, 0, 0], device=device), tg.tensor([0, 2, 2, 5], device=device)
    parts += [F.embedding_bag(bag_idx, x[0], bag_offsets, mode=mode, padding_idx=1) for mode in ("sum", "mean", "max")]
    parts.append(F.embedding_bag(bag_idx.reshape(2, 3), x[1], mode="sum", per_sample_weights=x[0, :2, :3]))
    parts += [nn.RMSNorm(4).to(device)(x), F.rms_norm(x, (3, 4), x[0] + 2, eps=1e-5), F.softshrink(x),
              F.hardshrink(x, 0.3), F.tanhshrink(x), F.softmin(x, 1), F.pixel_shuffle(x.reshape(1, 4, 3, 2), 2),
              F.pixel_unshuffle(x.reshape(2, 1, 4, 3)[..., :2], 2), nn.ReflectionPad1d(1)(x),
              nn.ReplicationPad2d(1)(x[None]), nn.CircularPad1d(2)(x), nn.ZeroPad2d((1, 0, 2, 1))(x),
              nn.UpsamplingBilinear2d(scale_factor=2)(x[None]), *F.adaptive_max_pool2d(x, (2, 3), True),
              F.adaptive_max_pool1d(x, 3), F.lp_pool2d(x.abs(), 2, 2), F.lp_pool1d(x, 3, 2, 1),
              F.channel_shuffle(x.reshape(2, 4, 3), 2), F.pdist(x[0]), F.rrelu(x, 0.1, 0.3),
              F.triplet_margin_with_distance_loss(x[0], x[1], x[0].flip(1), swap=True),
              F.max_unpool2d(*F.max_pool2d(x[None], 2, return_indices=True), 2, output_size=(3, 4)),
              (x / 2.5).asin(), (x / 2.5).acos(), x.atan(), x.sinh(), x.cosh(), x.asinh(), (x.abs() + 1.5).acosh(),
              (x / 2.5).atanh(), x.sinc(), x.tile(2, 1, 1), x.ravel(), x.fliplr(), x[0].trace(),
              tg.mv(x[0], x[0, 0]), tg.dot(x[0, 0], x[1, 0]), x.unflatten(2, (2, 2)), tg.fmax(x, x.flip(2)),
              tg.fmin(x, 0.5), tg.logaddexp2(x, x.flip(1)), x.rot90(1, (1, 2)), *x.tensor_split(3, 2),
              tg.inner(x, x[0]), tg.diagflat(x[0, 0], 1), tg.addmv(x[0, :, 0], x[0], x[1, 0], beta=0.5),
              tg.addr(x[0], x[1, :, 0], x[1, 0], alpha=2), tg.baddbmm(x[:, :, :3], x, x.transpose(1, 2)[:, :, :3]),
              tg.addbmm(x[0, :, :3], x, x.transpose(1, 2)[:, :, :3]), tg.cross(x[..., :3], x[..., 1:], dim=2),
              x[:, :3, :3].matrix_power(3), x[:, :3, :3].matrix_power(0)]
    wn = nn.utils.parametrizations.weight_norm(nn.Linear(4, 3).to(device))
    sn = nn.utils.parametrizations.spectral_norm(nn.Conv2d(2, 3, 2).to(device))
    tg.manual_seed(0)  # spectral_norm drew its u, v from the device's own stream: the CPU's must not have moved
    sn.parametrizations.weight[0]._u.data[...] = tg.tensor(np.linspace(-1, 1, 3, dtype=np.float32), device=device).data
    sn.parametrizations.weight[0]._v.data[...] = tg.tensor(np.linspace(1, 2, 8, dtype=np.float32), device=device).data
    from tinygrad_adam.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn
    averaged = [AveragedModel(wn, use_buffers=True), AveragedModel(wn, multi_avg_fn=get_ema_multi_avg_fn(0.9))]
    for avg in averaged:
        for _ in range(2):
            avg.update_parameters(wn)
    bn_model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).to(device)
    update_bn([x.detach().reshape(6, 4)], bn_model)
    parts += [averaged[0](x), averaged[1](x), bn_model[1].running_mean, bn_model[1].running_var]
    parts += [wn(x), sn(x.reshape(2, 2, 3, 2)), sn.eval()(x.reshape(2, 2, 3, 2)),
              nn.utils.weight_norm(nn.Linear(4, 2).to(device))(x)]
    parts += [nn.RNNCell(4, 3, nonlinearity="relu").to(device)(x[0]), nn.GRUCell(4, 3).to(device)(x[1], x[0, :, :3])]
    parts += nn.LSTMCell(4, 3, bias=False).to(device)(x[0, 0], (x[1, 0, :3], x[1, 1, 1:]))
    # the sixteenth stop's
    at = {k: tg.tensor([[v] * 3] * 2, device=device) for k, v in (("p", [0, 0, 3]), ("m", [1, 1, 2]), ("n", [0, 2, 2]))}
    parts += [x.scatter_reduce(2, at["p"], x[..., :3] * 2, "prod", include_self=False),
              x.scatter_reduce(2, at["m"], x[..., :3], "amax"), x.scatter_reduce(2, at["m"], x[..., 1:], "mean"),
              (x * 1).scatter_reduce_(2, at["n"], x[..., :3], "amin")]
    m3 = x[0, :, :3] + tg.eye(3, device=device) * 3
    parts += [tg.diag_embed(x, 1, 0, 2), x.diag_embed(-1), x[1].cov(correction=0), tg.corrcoef(x[0] * x[0]),
              tg.cov(x[0], fweights=tg.tensor([1, 2, 0, 3], device=device),
                     aweights=tg.tensor([0.5, 1.0, 2.0, 0.25], device=device)),
              m3.logdet(), tg.logdet(-m3), tg.linalg.slogdet(m3)[1], tg.block_diag(x[0], m3, x[1, 0], x[1, 1, 1]),
              tg.diag(x[0, 0], 1)]
    v = tg.tensor(np.cos(np.arange(480, dtype=np.float32)).reshape(2, 4, 3, 4, 5), device=device, requires_grad=True)
    w3 = tg.tensor(np.sin(np.arange(144, dtype=np.float32)).reshape(6, 2, 2, 3, 2), device=device)
    bn3, in3 = nn.BatchNorm3d(4).to(device), nn.InstanceNorm3d(4, affine=True, track_running_stats=True).to(device)
    parts += [F.conv3d(v, w3, stride=(1, 2, 1), padding=(1, 0, 1), dilation=(2, 1, 1), groups=2),
              F.conv3d(v, w3, padding="same", groups=2),
              nn.Conv3d(4, 2, (2, 1, 3), padding=1, padding_mode="replicate").to(device)(v),
              F.max_pool3d(v, 2, 1, 1, dilation=(1, 2, 1), ceil_mode=True),
              F.max_pool3d(v, (2, 2, 3), (1, 2, 2), return_indices=True)[0],
              F.avg_pool3d(v, 2, 1, 1, ceil_mode=True, count_include_pad=False), F.avg_pool3d(v, 2, divisor_override=3),
              F.adaptive_avg_pool3d(v, (2, 3, None)), bn3(v), in3(v), nn.MaxPool3d(2)(v[0])]
    put_i, put_j = tg.tensor([1, 1, -1], device=device), tg.tensor([0, 2, 2], device=device)
    parts += [x[0].index_put((put_i, put_j), x[1, 0, :1] * 2), x[0].index_put((put_i, put_j), x[1, 1, :3],
                                                                                accumulate=True),
              (x[0] * 1).index_put_((x[0, :, 0] > 0,), x[1, 2], accumulate=True)]
    theta = tg.tensor(np.array([[[0.9, -0.2, 0.1], [0.3, 1.1, -0.2]], [[1.2, 0.1, 0.0], [0.0, 0.8, 0.3]]],
                               dtype=np.float32), device=device, requires_grad=True)
    image = x.reshape(2, 3, 4, 1).expand(2, 3, 4, 5).contiguous()[:, :, :, :4].reshape(2, 3, 4, 4)
    for align in (False, True):
        grid = F.affine_grid(theta, (2, 3, 6, 7), align_corners=align)
        parts += [grid] + [F.grid_sample(image, grid * 1.3, mode=mode, padding_mode=pad, align_corners=align)
                           for mode in ("bilinear", "nearest", "bicubic") for pad in ("zeros", "border", "reflection")]
    total = sum((p.sum() for p in parts), tg.zeros((), device=device))
    total.backward()
    parts += [emb.weight.detach(), emb.weight.grad, v.grad, theta.grad, bn3.running_mean, bn3.running_var,
              in3.running_var]
    samples = [tg.normal(tg.zeros(5, device=device), 1.0), tg.bernoulli(tg.full((5,), 0.5, device=device)),
               tg.poisson(tg.full((5,), 2.0, device=device)), x.detach().clone().exponential_(),
               tg.unique(tg.tensor([3, 1, 3], device=device)), tg.bincount(tg.tensor([0, 2, 2], device=device))]
    i, u, s = (tg.tensor(v, device=device) for v in ([[5, -7, 2**40], [0, 1, -1]], [3, 200, 255], [-1, 0, 3, 70]))
    j, k, m = i.clone(), u.clone(), x > 0
    j <<= 2
    k.bitwise_or_(tg.tensor(6, device=device))
    m &= x < 1
    ints = [tg.gcd(tg.tensor([4, 6], device=device), tg.tensor([6, 9], device=device)), x.signbit(),
            x.frexp().exponent, x.histc(5, -1.0, 1.0), x.histc(3),
            (x > 0) & (x < 1), ~(x > 0) ^ (x < 0.5), (x > 0) | True, i & 5, 3 | i, i ^ i.flip(1), ~i, ~u,
            tg.bitwise_and(300, u), i.bitwise_xor(2 ** 63), i[0, 0] << s, i[1, 2] >> s, u << 3,
            u >> tg.tensor(9, device=device), tg.bitwise_left_shift(i, 63), j, k, m, u + 300, u * -1,
            tg.tensor([[3, 1, 4]], device=device).scatter_reduce(1, tg.tensor([[0, 0, 2]], device=device),
                                                                 tg.tensor([[2, 5, 7]], device=device), "prod"),
            *tg.unique_consecutive(tg.tensor([1.0, 1.0, float("nan"), float("nan"), 2.0], device=device),
                                   return_inverse=True, return_counts=True),
            *tg.unique_consecutive(x.detach().round(), dim=1, return_counts=True),
            *tg.unique(x.detach().round().clamp(-1, 1), dim=2, return_inverse=True, return_counts=True),
            F.max_pool3d(v, (2, 2, 3), (1, 2, 2), return_indices=True)[1],
            tg.index_put(tg.zeros(4, dtype=tg.int64, device=device), (tg.tensor([3, 3], device=device),),
                         tg.tensor(5, device=device), True)]
    return [*parts, *ints, total, x.grad, *samples]


@pytest.mark.gpu
def test_new_names_on_the_gpu_match_the_cpu() -> None:
    cpu, gpu = program("cpu"), program("cuda")
    for i, (a, b) in enumerate(zip(cpu[:-6], gpu[:-6], strict=True)):
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape, i
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=str(i))
    for a, b in zip(cpu[-6:], gpu[-6:], strict=True):  # samples: each device has its own stream
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape


def program_tenth_stop(device: str) -> list[Any]:
    """The tenth stop's layers, losses and optimizer (its math functions have their own GPU test), and the
    eleventh's grouped and dilated convolutions and max pooling's ceil_mode and indices."""
    tg.manual_seed(0)
    x = tg.tensor(np.linspace(-2, 2, 96, dtype=np.float32).reshape(2, 3, 4, 4), device=device, requires_grad=True)
    seq = x.reshape(2, 3, 16)
    flat = x.reshape(6, 16)
    target = tg.tensor([1, -1, 1, 1, -1, 1], device=device, dtype=tg.float32)
    w1, wt = tg.randn(2, 3, 3).to(device), tg.randn(3, 2, 3, 3).to(device)  # the CPU's stream on both
    parts = [
        F.conv1d(seq, w1, padding=1), F.conv_transpose2d(x, wt, stride=2, padding=1, output_padding=1),
        F.conv2d(x, wt[:, :1], padding="same", dilation=2, groups=3),  # depthwise, dilated
        F.conv_transpose2d(x, wt[:, :1], stride=2, dilation=2, groups=3, output_padding=1),
        nn.Conv1d(3, 3, 2, padding="same", groups=3, padding_mode="circular").to(device)(seq),
        F.max_pool2d(x, 3, 2, 1, ceil_mode=True), F.max_pool2d(x, 2, ceil_mode=True, return_indices=True)[1] * 0.5,
        F.max_pool1d(seq, 3, 2), F.avg_pool1d(seq, 2), F.adaptive_avg_pool1d(seq, 4),
        F.fold(F.unfold(x, 2, padding=1), (4, 4), 2, padding=1), F.interpolate(x, scale_factor=2),
        F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=False), F.interpolate(seq, 9, mode="linear"),
        F.group_norm(x, 3), F.instance_norm(x), F.local_response_norm(x, 2), nn.Softmax2d()(x),
        F.margin_ranking_loss(flat[:, 0], flat[:, 1], target), F.hinge_embedding_loss(flat, target[:, None]),
        F.soft_margin_loss(flat[:, 0], target), F.cosine_embedding_loss(flat, flat.flip(1), target),
        F.triplet_margin_loss(flat, flat * 0.5, flat.flip(1)), F.gaussian_nll_loss(flat, flat * 0.5, flat.abs() + 1),
        F.poisson_nll_loss(flat, flat.abs()), F.multi_margin_loss(flat, tg.tensor([0, 3, 5, 1, 2, 4], device=device)),
        F.multilabel_soft_margin_loss(flat, (flat > 0).float()), F.pairwise_distance(flat, flat.flip(0)),
    ]
    bil = nn.Bilinear(16, 16, 3).to(device)
    parts.append(bil(flat, flat.flip(1)))
    enc = nn.TransformerEncoderLayer(16, 2, dim_feedforward=8, dropout=0.0, batch_first=True).to(device)
    parts.append(enc(seq, is_causal=True, src_mask=nn.Transformer.generate_square_subsequent_mask(3, device=device)))
    lstm = nn.LSTM(16, 3, batch_first=True).to(device)
    packed = nn.utils.rnn.pack_padded_sequence(seq, tg.tensor([3, 2]), batch_first=True)
    parts.append(nn.utils.rnn.pad_packed_sequence(lstm(packed)[0], batch_first=True)[0])
    parts.append(nn.utils.rnn.pad_sequence([flat[0], flat[1, :5]]))
    # weighted sums, not plain ones: the sum of a LayerNorm's outputs does not depend on its input, and the encoder's
    # gradients would be rounding noise, which RAdam's normalised steps blow up to lr-sized differences
    total = sum(((p * tg.tensor(np.cos(np.arange(p.numel())).reshape(p.shape).astype(np.float32), device=device)).sum()
                 for p in parts), tg.zeros((), device=device))
    total.backward()
    # (not the attention's input bias: its key third's gradient is exactly 0, a softmax ignores a shift: rounding)
    opt = tg.optim.RAdam([p for n, p in enc.named_parameters() if n != "self_attn.in_proj_bias"], lr=0.1,
                         weight_decay=0.01)
    for _ in range(7):  # past RAdam's warm-up: the rectified step runs too
        opt.step()
    return [*parts, total, x.grad, *enc.parameters()]


@pytest.mark.gpu
def test_tenth_stop_names_on_the_gpu_match_the_cpu() -> None:
    for i, (a, b) in enumerate(zip(program_tenth_stop("cpu"), program_tenth_stop("cuda"), strict=True)):
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape, i
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=str(i))


def optimizers_seventeenth_stop(device: str) -> list[Any]:
    """The seventeenth stop's optimizers: four steps each on parameters of several shapes, one gradient with a nan."""
    out = []
    for make in (lambda ps: tg.optim.Rprop(ps, step_sizes=(1e-3, 1.0)),
                 lambda ps: tg.optim.ASGD(ps, t0=2, weight_decay=0.01),
                 lambda ps: tg.optim.Adafactor(ps, weight_decay=0.01)):
        ps = [tg.tensor(np.sin(np.arange(int(np.prod(s)), dtype=np.float32) + 1).reshape(s), device=device,
                        requires_grad=True) for s in ((3, 4), (5,), (), (2, 3, 2))]
        opt = make(ps)
        for step in range(4):
            for i, p in enumerate(ps):
                g = np.cos(np.arange(p.numel(), dtype=np.float32) * (step + 1) + i).reshape(p.shape)
                if i == 1 and step == 2:
                    g[0] = np.nan
                p.grad = tg.tensor(g, device=device)
            opt.step()
        out += ps
    return out


@pytest.mark.gpu
def test_seventeenth_stop_optimizers_on_the_gpu_match_the_cpu() -> None:
    for i, (a, b) in enumerate(zip(optimizers_seventeenth_stop("cpu"), optimizers_seventeenth_stop("cuda"),
                                   strict=True)):
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape, i
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=str(i))


def linalg_seventeenth_stop(device: str) -> list[Any]:
    """The seventeenth stop's linalg (factorizations, spectral family) and sparse embedding gradients."""
    tg.manual_seed(0)
    b = np.cos(np.arange(18.0)).reshape(2, 3, 3)
    s = tg.tensor(b @ b.transpose(0, 2, 1) + 3 * np.eye(3), device=device, requires_grad=True)
    r = tg.tensor(np.sin(np.arange(12.0)).reshape(2, 3, 2), device=device, requires_grad=True)
    x = tg.tensor(np.sin(np.arange(24.0) * 0.7).reshape(2, 3, 4), device=device, requires_grad=True)
    L = tg.linalg.cholesky(s)
    parts = [
        L, tg.linalg.cholesky(s, upper=True), tg.linalg.solve_triangular(s, r, upper=True),
        tg.linalg.solve_triangular(s, r.mT, upper=False, left=False), tg.cholesky_solve(r, L), tg.cholesky_inverse(L),
        tg.linalg.matrix_exp(s * 0.3), tg.linalg.matrix_power(s, -2), tg.linalg.multi_dot([s[0], s[1], r[0]]),
        tg.linalg.vander(r[0, :, 0]), tg.linalg.inv_ex(s).inverse, tg.linalg.solve_ex(s, r).result,
        tg.linalg.svdvals(x), tg.linalg.pinv(x), tg.linalg.matrix_norm(x, "nuc"), tg.linalg.cond(x),
        (lambda u, sv, vh: (u * sv[..., None, :]) @ vh)(*tg.linalg.svd(x, full_matrices=False)),
        tg.linalg.qr(x.transpose(1, 2)).R, tg.linalg.qr(x).Q.abs(),
        (lambda w, v: (v * w[..., None, :]) @ v.transpose(1, 2))(*tg.linalg.eigh(x @ x.transpose(1, 2))),
        tg.linalg.lstsq(x.transpose(1, 2), x.transpose(1, 2)[..., :2] + 1).solution,
        tg.linalg.householder_product(x.transpose(1, 2), x[:, 0, :3])]
    total = sum(((p * tg.tensor(np.cos(np.arange(p.numel())).reshape(p.shape), device=device)).sum()
                 for p in parts), tg.zeros((), dtype=tg.float64, device=device))
    total.backward()
    ints = [tg.linalg.cholesky_ex(s - 10).info, tg.linalg.inv_ex(s * 0).info]
    w = tg.tensor(np.arange(10.0, dtype=np.float32).reshape(5, 2), device=device, requires_grad=True)
    idx = tg.tensor([[1, 3, 1], [4, 3, 0]], device=device)
    (F.embedding(idx, w, padding_idx=3, sparse=True) * 2).sum().backward()
    grad = w.grad.coalesce()
    dense = w.grad.to_dense()
    opt = tg.optim.SparseAdam([w], lr=0.1)
    opt.step()
    return [*parts, total, s.grad, r.grad, x.grad, *ints, dense, grad.values(), grad.indices(), w]


@pytest.mark.gpu
def test_seventeenth_stop_linalg_on_the_gpu_matches_the_cpu() -> None:
    for i, (a, b) in enumerate(zip(linalg_seventeenth_stop("cpu"), linalg_seventeenth_stop("cuda"), strict=True)):
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape, i
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-8, err_msg=str(i))


def volumetric_seventeenth_stop(device: str) -> list[Any]:
    """The seventeenth stop's 3-D / fractional pools, transposed 3-D convolution and 5-D sampling."""
    tg.manual_seed(0)
    v = tg.tensor(np.sin(np.arange(480.0) * 0.37).reshape(2, 4, 3, 4, 5).astype(np.float32), device=device,
                  requires_grad=True)
    wt = tg.tensor(np.cos(np.arange(96.0)).reshape(4, 2, 2, 3, 2).astype(np.float32), device=device,
                   requires_grad=True)
    b = tg.tensor([0.5, -0.25, 0.125, 1.0], dtype=tg.float32, device=device)
    u2 = tg.tensor(np.linspace(0.05, 0.95, 16).reshape(2, 4, 2), dtype=tg.float32, device=device)
    u3 = tg.tensor(np.linspace(0.1, 0.9, 24).reshape(2, 4, 3), dtype=tg.float32, device=device)
    p, i = F.max_pool3d_with_indices(v, 2, 1)
    theta = tg.tensor(np.array([[[1.0, 0.1, 0.0, 0.2], [0.0, 0.9, 0.1, 0.0], [0.1, 0.0, 1.1, -0.1]]] * 2),
                      dtype=tg.float32, device=device)
    layer = nn.ConvTranspose3d(4, 2, 2, stride=2).to(device)
    tg.manual_seed(0)
    parts = [F.conv_transpose3d(v, wt, b, stride=(2, 1, 2), padding=(1, 0, 1), output_padding=(1, 0, 0), groups=2,
                                dilation=(1, 2, 1)),
             layer(v, output_size=(6, 8, 11)), F.adaptive_max_pool3d(v, (2, 3, None)), nn.AdaptiveMaxPool3d(2)(v),
             p, F.max_unpool3d(p, i, 2, 1), nn.MaxUnpool3d(2, 1)(p, i, (3, 4, 5)), F.lp_pool3d(v, 2, 2, 1),
             F.fractional_max_pool2d(v[:, :, 0], 2, (3, 3), _random_samples=u2),
             F.fractional_max_pool3d(v, (1, 2, 2), output_ratio=0.6, _random_samples=u3),
             F.interpolate(v, scale_factor=1.7, mode="trilinear"),
             F.interpolate(v, size=(2, 5, 3), mode="trilinear", align_corners=True),
             F.interpolate(v, scale_factor=(0.6, 1.5, 2.0), mode="nearest-exact"),
             tg.conv_transpose3d(v, wt, stride=2), tg.max_pool3d(v, 2, ()), tg.channel_shuffle(v, 2)]
    for align in (False, True):
        grid = F.affine_grid(theta, (2, 4, 2, 3, 4), align)
        parts += [F.grid_sample(v, grid * 1.3, mode, pad, align) for mode in ("bilinear", "nearest")
                  for pad in ("zeros", "border", "reflection")]
    total = sum(((q * tg.tensor(np.cos(np.arange(q.numel())).reshape(q.shape).astype(np.float32),
                                device=device)).sum() for q in parts), tg.zeros((), device=device))
    total.backward()
    ints = [i, F.adaptive_max_pool3d(v, 2, return_indices=True)[1],
            F.fractional_max_pool3d(v, (1, 2, 2), output_ratio=0.6, return_indices=True, _random_samples=u3)[1]]
    return [*parts, *ints, total, v.grad, wt.grad]


@pytest.mark.gpu
def test_seventeenth_stop_volumetric_on_the_gpu_matches_the_cpu() -> None:
    for i, (a, b) in enumerate(zip(volumetric_seventeenth_stop("cpu"), volumetric_seventeenth_stop("cuda"),
                                   strict=True)):
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape, i
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5, err_msg=str(i))


def aliases_seventeenth_stop(device: str) -> list[Any]:
    """The seventeenth stop's torch names: in-place forms, scatters, stacks, windows and top-level functional names."""
    tg.manual_seed(0)
    x = tg.tensor(np.linspace(-2, 2, 24, dtype=np.float32).reshape(2, 3, 4), device=device, requires_grad=True)
    idx = tg.tensor([2, 0, 0], device=device)
    h = x * 1
    h.tril_(1)
    h.cumsum_(2)
    h.subtract_(x, alpha=2)
    h.divide_(x + 5)
    h.arctan2_(x + 1)
    h.scatter_(2, tg.tensor([[[0, 1, 2, 3]]], device=device).expand(2, 3, 4), x * 2)
    h.scatter_add_(2, tg.tensor([[[0, 0, 1, 1]]], device=device).expand(2, 3, 4), x)
    h.put_(tg.tensor([0, 5, -1], device=device), tg.tensor([1.0, 2.0, 3.0], device=device), accumulate=True)
    h.index_reduce_(2, idx, x[..., :3] + 3, "prod")
    m = x[0] * 1
    m.fill_diagonal_(0.5, wrap=True)
    m.addmm_(x[0, :, :3], x[1, :3], beta=0.5)
    c = x.detach() * 1
    c.gt_(0.1)
    c.logical_or_(x.detach() < -1)
    parts = [
        h, m, c, x.index_reduce(2, idx, x[..., :3], "amax", include_self=False),
        x.put(tg.tensor([3, 1], device=device), tg.tensor([7.0, 8.0], device=device)),
        tg.select_scatter(x, x[:, 0] * 3, 1, 0), tg.slice_scatter(x, x[..., 1:3] * 2, 2, 1, 3),
        tg.diagonal_scatter(x, x.diagonal(0, 1, 2) * 5, 0, 1, 2), x.select(2, -1), x.sum_to_size(3, 1),
        tg.nextafter(x, x + 1), tg.hstack([x, x]), tg.vstack([x[0], x[1]]), tg.dstack([x[0], x[1]]),
        tg.column_stack([x[0, 0], x[1, 0]]), *tg.atleast_3d(x[0, 0], x[0]), *tg.broadcast_tensors(x, x[0, 0]),
        tg.dist(x, x.flip(0), 3), tg.msort(x), tg.cumulative_trapezoid(x, dx=0.5), tg.frobenius_norm(x, (1, 2)),
        x.hardshrink(0.3), x.prelu(tg.tensor([0.2], device=device)), tg.kl_div(x, x.detach().exp(), 2),
        tg.poisson_nll_loss(x, x.detach().abs(), True, False, 1e-8, 1), tg.layer_norm(x, (4,)), tg.celu(x),
        x.adjoint(), x.narrow_copy(2, 1, 2), tg.isin(x.detach(), x.detach()[0]).float(), x.short().float(),
        tg.logspace(0, 2, 5, device=device), tg.hann_window(5, device=device), tg.bartlett_window(5, device=device)]
    total = sum(((p * tg.tensor(np.cos(np.arange(p.numel())).reshape(p.shape).astype(np.float32),
                                device=device)).sum() for p in parts), tg.zeros((), device=device))
    total.backward()
    return [*parts, total, x.grad]


@pytest.mark.gpu
def test_seventeenth_stop_aliases_on_the_gpu_match_the_cpu() -> None:
    for i, (a, b) in enumerate(zip(aliases_seventeenth_stop("cpu"), aliases_seventeenth_stop("cuda"), strict=True)):
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape, i
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5, err_msg=str(i))


def higher_order_seventeenth_stop(device: str) -> list[Any]:
    """The seventeenth stop's create_graph=True and torch.func transforms."""
    tg.manual_seed(0)
    x = tg.tensor([[0.5, -1.0, 2.0], [0.1, 0.2, -0.3]], dtype=tg.float64, device=device, requires_grad=True)
    t = tg.tensor([2, 0], device=device)
    (g,) = tg.autograd.grad((x.tanh() ** 3).sum(), x, create_graph=True)
    (h,) = tg.autograd.grad(g.sum(), x)
    (ce,) = tg.autograd.grad(F.cross_entropy(x * x, t), x, create_graph=True)
    (ce2,) = tg.autograd.grad(ce.sum(), x)
    mixed = (x[:, :1] * F.gelu(x) + x.relu().abs() + tg.maximum(x, x * 0.5)).sum()
    (gm,) = tg.autograd.grad(mixed, x, create_graph=True)
    (hm,) = tg.autograd.grad((gm * gm).sum(), x)
    import tinygrad_adam.autograd.functional as AF
    lin = nn.Linear(3, 2).double().to(device)
    params = {k: v.detach() for k, v in lin.named_parameters()}
    grads = tg.func.grad(lambda p, u: tg.func.functional_call(lin, p, (u,)).tanh().sum())(params, x.detach())
    return [g, h, ce, ce2, gm, hm, tg.func.grad(lambda u: (u.sin() * u).sum())(x.detach()),
            tg.func.jacrev(lambda u: u.tanh())(x.detach()),
            tg.func.vmap(lambda a, b: a @ b, in_dims=(0, None))(x.detach(), x.detach()[0]),
            grads["weight"], grads["bias"], AF.jacobian(lambda u: u.exp(), x.detach()[0]),
            AF.hessian(lambda u: (u.sin() * u).sum(), x.detach()[0]),
            AF.jvp(lambda u: u.exp(), x.detach()[0], x.detach()[1])[1]]


@pytest.mark.gpu
def test_seventeenth_stop_higher_order_on_the_gpu_matches_the_cpu() -> None:
    for i, (a, b) in enumerate(zip(higher_order_seventeenth_stop("cpu"), higher_order_seventeenth_stop("cuda"),
                                   strict=True)):
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape, i
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=str(i))


def double_backward_nn_seventeenth_stop(device: str) -> list[Any]:
    """The seventeenth stop's double backwards of the nn ops: a conv WGAN-GP critic's penalty, pools, reductions."""
    tg.manual_seed(0)
    x = tg.tensor(np.sin(np.arange(96.0) * 0.3).reshape(2, 3, 4, 4), device=device, requires_grad=True)
    w = tg.tensor(np.cos(np.arange(54.0)).reshape(2, 3, 3, 3) * 0.3, device=device, requires_grad=True)
    ids = tg.tensor([[0, 2, 1], [3, 3, 0]], device=device)
    table = tg.tensor(np.sin(np.arange(12.0)).reshape(4, 3), device=device, requires_grad=True)
    h = F.leaky_relu(F.conv2d(x, w, stride=2, padding=1), 0.2)
    h = F.layer_norm(h, h.shape[1:])
    critic = (h.sum((1, 2, 3)) + F.max_pool2d(x, 2).sum((1, 2, 3)) + F.avg_pool2d(x, 2).sum((1, 2, 3))
              + x.logsumexp(1).sum((1, 2)) + x.amax(1).sum((1, 2)))
    (gx,) = tg.autograd.grad(critic.sum(), x, create_graph=True)
    penalty = ((gx.reshape(2, -1).norm(2, 1) - 1) ** 2).mean()
    emb = (F.embedding(ids, table, padding_idx=3) ** 2).sum()
    (gt,) = tg.autograd.grad(emb, table, create_graph=True)
    (penalty + (gt * gt).sum()).backward()
    return [gx, penalty, gt, x.grad, w.grad, table.grad]


@pytest.mark.gpu
def test_seventeenth_stop_nn_double_backward_on_the_gpu_matches_the_cpu() -> None:
    for i, (a, b) in enumerate(zip(double_backward_nn_seventeenth_stop("cpu"),
                                   double_backward_nn_seventeenth_stop("cuda"), strict=True)):
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape, i
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-9, atol=1e-11, err_msg=str(i))
