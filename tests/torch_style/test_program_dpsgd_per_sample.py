"""``dpsgd_per_sample.py`` (DP-SGD without Opacus: torch.func per-sample gradients by ``vmap(grad(...))`` over
``functional_call`` with ``in_dims=(None, None, 0, 0)``, also via ``grad_and_value``; per-sample clipping by the
stacked per-parameter norms and a clamped factor, ``einsum("i,i...->...")`` to sum, numpy-drawn Gaussian noise,
the mean written into ``p.grad``, SGD) on a Conv2d + GroupNorm CNN and an MLP, run on torch and, imports swapped, on
ours from torch's initial weights and the same numpy batches: per step the per-example losses, per-sample norms,
clip factors (``max_grad_norm`` chosen so that some examples are clipped and some are not), per-sample gradients,
the loss after the step, and the final parameters; in each library the vmapped per-sample gradients equal a loop of
single-example ``backward()`` calls.

Tolerances: float32. Measured against torch: per-example losses within 2.4e-7, per-sample norms within 9.6e-7 (of
about 6), clip factors within 9e-8, per-sample gradients within 5.4e-7, losses after each step equal, parameters
within 6e-8. The vmapped gradients match the loop within 6.6e-7 in torch (its vmap batches the convolutions; ours
is a loop, so exactly). We allow rtol 1e-5 / atol 2e-6 for everything, 1e-6 for the vmap-vs-loop gap. About 1 s."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

FILE = HERE / "dpsgd_per_sample.py"
TOL = {"rtol": 1e-5, "atol": 2e-6}


def batches(seed: int, shape: tuple[int, ...], n: int = 3, size: int = 6) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((size, *shape)).astype(np.float32), rng.integers(0, 3, size)) for _ in range(n)]


@pytest.mark.parametrize(("model", "shape", "max_grad_norm"), [("SmallCNN", (1, 8, 8), 6.0), ("MLP", (10,), 2.0)])
def test_dpsgd_per_sample_clipping_matches_torch(one_torch_thread: None, model: str, shape: tuple[int, ...],
                                                 max_grad_norm: float) -> None:
    data = batches(0, shape)

    def run(m, net, lib: str) -> dict:
        history = m.train(net, data, lr=0.1, max_grad_norm=max_grad_norm, noise_multiplier=0.5, seed=1)
        history["params"] = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
        return history

    want, got = from_torch_weights(FILE, lambda m: getattr(m, model)(), run)
    assert max(want["loop_gap"]) < 1e-6 and max(got["loop_gap"]) < 1e-6
    factors = np.concatenate(want["factors"])
    assert (factors == 1.0).any() and (factors < 1.0).any()  # both branches of the clamp taken
    for key in ("loss", "norms", "factors"):
        for a, b in zip(got[key], want[key], strict=True):
            np.testing.assert_allclose(a, b, err_msg=key, **TOL)
    for a, b in zip(got["grads"], want["grads"], strict=True):
        assert_params_close(a, b, **TOL)
        assert all(v.shape[0] == 6 for v in a.values())
    np.testing.assert_allclose(got["batch_loss"], want["batch_loss"], **TOL)
    assert_params_close(got["params"], want["params"], **TOL)
