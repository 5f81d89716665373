"""``s4d_ssm.py`` (an S4D-real diagonal state-space model: ZOH discretisation by ``exp``, the kernel by powers through
``arange`` / broadcasting / ``einsum``, the causal convolution by ``unfold`` + matmul or by a ``cumprod`` /
``cumsum`` scan, LayerNorm / GELU / Dropout1d / 1x1 Conv1d / GLU blocks, AdamW with ``_optim``-tagged SSM parameters
in their own no-decay, smaller-lr group via ``add_param_group``, CosineAnnealingLR) run on torch and, imports
swapped, on ours from torch's initial weights and the same numpy sequences: the kernels, both convolutions and the
gradients of one backward; per step the losses, per epoch the group lrs, and the final parameters. With dropout on,
Dropout1d zeroes whole channels (and scales the rest by 1 / (1 - p)) in each library, and eval mode ignores it.

Tolerances: float32; the libraries differ by summation order (einsum, matmul, LayerNorm, the cumsum). Measured:
kernels within 4.5e-8 and the convolutions within 2.4e-7 absolute (of ~1), the scan and the unfold within 6e-8 of
each other in each library, losses within 2.2e-7 relative, gradients and parameters within 3.2e-7 absolute after 9
steps; we allow rtol 2e-6 / atol 1e-6 (gradients rtol 1e-5 / atol 1e-6). Learning rates and group settings compared
exactly. In float64 (checked once) the runs agree to 2.2e-16. The file takes about 3 s (torch on one thread)."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "s4d_ssm.py"
TOL = {"rtol": 2e-6, "atol": 1e-6}


def sequences(seed: int, n: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((4, 16, 1)).astype(np.float32) for _ in range(n)]


@pytest.mark.parametrize("mode", ["unfold", "scan"])
def test_s4d_trains_like_torch(one_torch_thread: None, mode: str) -> None:
    data = sequences(0)

    def run(m, model, lib: str) -> dict:
        t = m.torch
        out: dict = {}
        ssm = model.layers[0].ssm
        assert ssm.log_dt._optim == {"weight_decay": 0.0, "lr": 1e-3} and not hasattr(ssm.C, "_optim")
        u = model.encoder(t.from_numpy(data[0])).transpose(-1, -2)
        out["kernel"] = ssm.kernel(16).detach().numpy()
        out["unfold"] = ssm.conv_unfold(u, ssm.kernel(16)).detach().numpy()
        out["scan"] = ssm.conv_scan(u).detach().numpy()
        assert np.abs(out["unfold"] - out["scan"]).max() < 2e-7
        y = m.target_filter(t.from_numpy(data[1]))
        F = m.F
        F.mse_loss(model(t.from_numpy(data[1])), y).backward()
        out["grads"] = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
        model.zero_grad()
        out.update(m.train(model, [t.from_numpy(d) for d in data]))
        out["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        return out

    theirs, ours = from_torch_weights(PATH, lambda m: m.S4DModel(mode=mode), run)
    assert ours["groups"] == theirs["groups"] == [(16, 0.01, 0.01), (4, 0.001, 0.0)]
    assert ours["lr"] == theirs["lr"]
    for key in ("kernel", "unfold", "scan", "loss"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert_params_close(ours["grads"], theirs["grads"], rtol=1e-5, atol=1e-6)
    assert_params_close(ours["params"], theirs["params"], **TOL)
    assert ours["loss"][-1] < 0.3 * ours["loss"][0]  # it learned


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_dropout1d_drops_whole_channels(one_torch_thread: None, lib: str) -> None:
    x = sequences(1, 1)[0]
    with program(PATH, lib) as m:
        m.torch.manual_seed(0)
        block = m.S4DBlock(8, 4, dropout=0.5, lr=None, mode="unfold")
        z = m.torch.from_numpy(np.random.default_rng(2).standard_normal((4, 8, 16)).astype(np.float32))
        dropped = block.dropout(z).numpy()
        kept = np.abs(dropped).sum(-1) > 0
        assert 0 < kept.sum() < kept.size
        np.testing.assert_allclose(dropped[kept], 2 * z.numpy()[kept], rtol=1e-6)
        assert not dropped[~kept].any()
        block.eval()
        np.testing.assert_array_equal(block.dropout(z).numpy(), z.numpy())
        assert block(z).shape == z.shape and x.shape == (4, 16, 1)
