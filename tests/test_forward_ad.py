"""``autograd.forward_ad`` (dual tensors; PyTorch's forward-mode AD tutorial) against torch's: tangents of random
functions of one or two duals (hypothesis), the tutorial's module pattern (parameters replaced by duals), a
primal that requires grad (its tangent differentiable, its backward intact), an in-place write to a dual, the end
of the level, and torch's errors. Ours takes the tangent by reverse mode (README: Differences)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tinygrad_adam as tg
from tinygrad_adam.autograd import forward_ad as ours_ad

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
import torch.autograd.forward_ad as torch_ad  # noqa: E402 - after the importorskip

AD = {tg: ours_ad, torch: torch_ad}
FUNCTIONS = {
    "sin": lambda lib, x, y: (x.sin() * 2 + y).exp(),
    "matmul": lambda lib, x, y: x @ y.T,
    "softmax": lambda lib, x, y: lib.softmax(x * y, -1),
    "layer_norm": lambda lib, x, y: lib.nn.functional.layer_norm(x, (x.shape[-1],)) * y,
    "reductions": lambda lib, x, y: lib.stack([x.sum(0), (x * y).amax(0), y.mean(0)]),
    "tanh_pow": lambda lib, x, y: lib.tanh(x) ** 3 - y.abs().sqrt(),
    "logsumexp": lambda lib, x, y: lib.logsumexp(x - y, 1, keepdim=True) * x,
}
VALUES = st.floats(-3, 3, width=32)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(FUNCTIONS)), data=st.data(), both=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_tangents_as_torch(name: str, data: st.DataObject, both: bool, dtype: Any) -> None:
    shape = data.draw(st.tuples(st.integers(1, 4), st.integers(1, 4)))
    x, y, tx, ty = (data.draw(arrays(dtype, shape, elements=VALUES)) for _ in range(4))
    if name == "tanh_pow":
        y = y + np.where(y >= 0, 0.5, -0.5).astype(dtype)  # (away from sqrt's kink at 0)
    results = []
    for lib in (torch, tg):
        ad = AD[lib]
        with ad.dual_level():
            X = ad.make_dual(lib.tensor(x), lib.tensor(tx))
            Y = ad.make_dual(lib.tensor(y), lib.tensor(ty)) if both else lib.tensor(y)
            primal, tangent = ad.unpack_dual(FUNCTIONS[name](lib, X, Y))
            results.append((primal.detach().numpy(), tangent.detach().numpy()))
    for ours, theirs in zip(results[1], results[0]):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        tol = 2e-4 if dtype == np.float32 else 1e-10
        np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)


def test_module_parameters_as_duals() -> None:
    """The tutorial's pattern: each parameter deleted and set back as a dual; the output's tangent as torch's."""
    rng = np.random.default_rng(0)
    inp = rng.standard_normal((4, 3)).astype(np.float32)
    results = []
    for lib in (torch, tg):
        model = lib.nn.Sequential(lib.nn.Linear(3, 5), lib.nn.Tanh(), lib.nn.Linear(5, 2))
        model.load_state_dict({k: lib.tensor(rng2) for k, rng2 in zip(
            model.state_dict(), (np.linspace(-1, 1, v.numel(), dtype=np.float32).reshape(tuple(v.shape))
                                 for v in model.state_dict().values()))})
        ad = AD[lib]
        with ad.dual_level():
            for module in (model[0], model[2]):
                for name, p in list(module.named_parameters()):
                    delattr(module, name)
                    setattr(module, name, ad.make_dual(p, lib.ones_like(p) * 0.5))
            out = model(lib.tensor(inp))
            results.append(ad.unpack_dual(out).tangent.detach().numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)


def test_primal_that_requires_grad_and_in_place_writes() -> None:
    for lib in (torch, tg):
        ad = AD[lib]
        w = lib.tensor([0.5, -1.0], requires_grad=True)
        with ad.dual_level():
            z = (ad.make_dual(w, lib.tensor([1.0, 2.0])) ** 2).sum() + w.sum()  # w also reached outside the dual
            tangent = ad.unpack_dual(z).tangent
            assert tangent.requires_grad and tangent.item() == pytest.approx(2 * 0.5 * 1 - 2 * 1.0 * 2)
            tangent.backward(retain_graph=True)  # d(2 w . t)/dw = 2 t (ours runs through z's graph: retained)
            np.testing.assert_allclose(w.grad.numpy(), [2.0, 4.0])
            w.grad = None
            z.backward()  # the primal's graph: 2 w + 1
            np.testing.assert_allclose(w.grad.numpy(), [2.0, -1.0])
            e = ad.make_dual(lib.tensor([1.0, 2.0, 3.0]), lib.tensor([1.0, 0.0, 0.5]))
            e.mul_(3)
            np.testing.assert_allclose(ad.unpack_dual(e).tangent.numpy(), [3.0, 0.0, 1.5])
            assert ad.unpack_dual(lib.tensor([1.0]) * 2).tangent is None  # independent of the duals
            assert ad.unpack_dual(e > 1).tangent is None  # not floating
            kept = e * 2
        assert ad.unpack_dual(kept).tangent is None  # the level is closed


def test_errors_as_torch() -> None:
    for lib in (torch, tg):
        ad = AD[lib]
        with pytest.raises(RuntimeError, match="no level exists"):
            ad.make_dual(lib.ones(2), lib.ones(2))
        with ad.dual_level():
            with pytest.raises(RuntimeError, match="different size"):
                ad.make_dual(lib.ones(3), lib.ones(2))
            with pytest.raises(ValueError, match="floating point"):
                ad.make_dual(lib.tensor([1, 2]), lib.tensor([1, 2]))
            with pytest.raises(RuntimeError, match="Nested"), ad.dual_level():
                pass
            d = ad.make_dual(lib.ones(2), lib.ones(2))
            with pytest.raises(RuntimeError, match="already has a forward gradient"):
                ad.make_dual(d, lib.ones(2))


@pytest.mark.gpu
def test_tangents_on_the_gpu() -> None:
    x, t = np.linspace(-1, 1, 6).reshape(2, 3), np.linspace(0.5, 2, 6).reshape(2, 3)
    got = []
    for device in ("cpu", "cuda"):
        with ours_ad.dual_level():
            d = ours_ad.make_dual(tg.tensor(x, device=device), tg.tensor(t, device=device))
            tangent = ours_ad.unpack_dual(tg.softmax(d.sin() * 3, -1)).tangent
            assert str(tangent.device).startswith(device)
            got.append(tangent.cpu().numpy())
    np.testing.assert_allclose(got[1], got[0], rtol=1e-12, atol=1e-12)
