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
    ]
    y, z = x * 1, x * 1
    y.exp_()
    z.addcmul_(x, x, value=0.5)
    parts += [y, z]
    rnn = nn.GRU(4, 3, batch_first=True).to(device)
    parts.append(rnn(x)[0])
    mha = nn.MultiheadAttention(4, 2, batch_first=True).to(device)
    parts.append(mha(x, x, x)[0])
    total = sum((p.sum() for p in parts), tg.zeros((), device=device))
    total.backward()
    samples = [tg.normal(tg.zeros(5, device=device), 1.0), tg.bernoulli(tg.full((5,), 0.5, device=device)),
               tg.poisson(tg.full((5,), 2.0, device=device)), x.detach().clone().exponential_(),
               tg.unique(tg.tensor([3, 1, 3], device=device)), tg.bincount(tg.tensor([0, 2, 2], device=device))]
    return [*parts, total, x.grad, *samples]


@pytest.mark.gpu
def test_new_names_on_the_gpu_match_the_cpu() -> None:
    cpu, gpu = program("cpu"), program("cuda")
    for i, (a, b) in enumerate(zip(cpu[:-6], gpu[:-6], strict=True)):
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape, i
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=str(i))
    for a, b in zip(cpu[-6:], gpu[-6:], strict=True):  # samples: each device has its own stream
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape
