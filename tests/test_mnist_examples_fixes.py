"""``tinygrad_adam.accelerator`` as ``torch.accelerator`` (added for pytorch/examples' current MNIST program, which
picks its device with ``torch.accelerator.current_accelerator()``): without a GPU the same answers and the same
errors as torch's CPU build; with one (or the strict fake cupy) the CUDA device."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_adam as tg
from tinygrad_adam import backend

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


@pytest.mark.skipif(backend.cupy_available() or torch.accelerator.is_available(), reason="checks the CPU-only case")
@pytest.mark.parametrize("check_available", [False, True])
def test_no_accelerator_answers_as_torch(check_available: bool) -> None:
    assert tg.accelerator.is_available() is torch.accelerator.is_available() is False
    assert tg.accelerator.current_accelerator(check_available) is None
    assert torch.accelerator.current_accelerator(check_available) is None
    assert tg.accelerator.device_count() == torch.accelerator.device_count() == 0
    for name in ("current_device_index", "synchronize"):
        with pytest.raises(RuntimeError):
            getattr(torch.accelerator, name)()
        with pytest.raises(RuntimeError, match="no accelerator is available"):
            getattr(tg.accelerator, name)()


def test_the_example_device_choice_runs() -> None:
    """pytorch/examples' lines: ``use_accel = not args.no_accel and torch.accelerator.is_available()``, then the
    accelerator or the CPU; a model and a batch moved there compute as on the CPU."""
    use_accel = tg.accelerator.is_available()
    device = tg.accelerator.current_accelerator() if use_accel else tg.device("cpu")
    assert device.type == ("cuda" if use_accel else "cpu")
    model = tg.nn.Linear(3, 2).to(device)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    w, b = (p.cpu().detach().numpy() for p in (model.weight, model.bias))
    np.testing.assert_allclose(model(tg.tensor(x).to(device)).cpu().detach().numpy(), x @ w.T + b, rtol=1e-6)


@pytest.mark.gpu
def test_the_accelerator_is_cuda_on_the_gpu() -> None:
    assert tg.accelerator.is_available() and tg.accelerator.device_count() >= 1
    assert tg.accelerator.current_accelerator() == tg.device("cuda") == tg.accelerator.current_accelerator(True)
    assert tg.accelerator.current_accelerator().type == "cuda" and tg.accelerator.current_device_index() == 0
    tg.accelerator.synchronize()
    tg.accelerator.synchronize(0)
