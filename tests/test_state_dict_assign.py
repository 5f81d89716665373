"""``Module.load_state_dict(..., assign=True)`` against torch: parameters and buffers take the loaded tensors
themselves (their dtype, memory shared with the state_dict), requires_grad stays the module's, a shape mismatch
still raises. Ours keeps the Parameter objects (README, Differences); torch makes new ones.

Mutation run (failed here): ``assign`` copying into the present arrays as without it (dtype and sharing differ)."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_assign_takes_the_loaded_tensors_as_torch(dtype: str) -> None:
    seen = []
    for lib in (torch, tg):
        model = lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.BatchNorm1d(3))
        model[0].bias.requires_grad_(False)
        rng = np.random.default_rng(0)
        state = {k: lib.tensor(rng.uniform(0.5, 1.5, v.shape).astype(dtype)) if v.dtype != lib.int64 else v.clone()
                 for k, v in model.state_dict().items()}
        result = model.load_state_dict(state, assign=True)
        assert list(result.missing_keys) == [] and list(result.unexpected_keys) == []
        state["0.weight"][0, 0] = 7.0  # shared memory: the module sees the write
        state["1.running_mean"][1] = -3.0
        out = model(lib.tensor(np.arange(8).reshape(4, 2) % 3, dtype=getattr(lib, dtype)))
        seen.append(([str(p.dtype).split(".")[-1] for p in model.state_dict().values()],
                     [p.requires_grad for p in model.parameters()], model[0].weight.detach().numpy().copy(),
                     model[1].running_mean.numpy().copy(), out.detach().numpy()))
    theirs, ours = seen
    assert ours[:2] == theirs[:2]
    for a, b in zip(ours[2:], theirs[2:]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_assign_still_checks_shapes() -> None:
    model = tg.nn.Linear(2, 3)
    with pytest.raises(ValueError, match="shape mismatch"):
        model.load_state_dict({"weight": tg.zeros(3, 3), "bias": tg.zeros(3)}, assign=True)
    with pytest.raises(RuntimeError):
        torch.nn.Linear(2, 3).load_state_dict({"weight": torch.zeros(3, 3), "bias": torch.zeros(3)}, assign=True)
