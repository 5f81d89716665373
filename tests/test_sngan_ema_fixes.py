"""What the SN-GAN program (``tests/torch_style/sngan_ema.py``) met, against torch 2.13: a state dict of the
hook-based ``nn.utils.spectral_norm`` in torch's format before 1.0 (``weight`` = W / sigma beside ``weight_orig``
and ``weight_u``, no ``weight_v``), which torch still loads, solving ``weight_v`` so that u . W v = sigma with
sigma = mean(weight_orig / weight); ours refused it (StateDictError: unexpected ``weight``, missing ``weight_v``).

Mutations run (each made a test here fail, then was reverted):
- ``SpectralNorm.legacy_keys`` not registered by ``spectral_norm``: the legacy dict raises StateDictError.
- sigma taken as ``(orig / weight).max()`` instead of the mean: the solved v and the eval output differ.
- v not rescaled (``state_dict[key + "_v"] = v._data``): u . W v is 1-ish, not sigma.
- the hook left registered by ``remove_spectral_norm``: a plain ``weight`` dict afterwards loses its key.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

LAYERS = {  # (layer, constructor arguments, an input shape); ConvTranspose2d's matrix has its dim 1 first
    "linear_tall": ("Linear", (3, 5), (2, 3)),
    "linear_wide": ("Linear", (6, 2), (2, 6)),
    "conv": ("Conv2d", (2, 3, 2), (1, 2, 4, 4)),
    "conv_transpose": ("ConvTranspose2d", (3, 2, 2), (1, 3, 3, 3)),
}


def legacy_state(shape: tuple[int, ...], h: int, seed: int, sigma: float, zero: bool) -> dict[str, np.ndarray]:
    """A pre-1.0 state dict: weight_orig of ``shape``, a unit u of (h,), weight = weight_orig / sigma (one entry 0
    with ``zero``: sigma becomes inf, as torch's mean of orig / weight)."""
    rng = np.random.default_rng(seed)
    orig = rng.standard_normal(shape).astype(np.float32)
    u = rng.standard_normal(h).astype(np.float32)
    weight = orig / np.float32(sigma)
    if zero:
        weight.flat[0] = 0.0
    return {"weight_orig": orig, "weight": weight, "weight_u": u / np.linalg.norm(u)}


def load_legacy(lib, kind: str, state: dict[str, np.ndarray]):
    name, args, _ = LAYERS[kind]
    layer = lib.nn.utils.spectral_norm(getattr(lib.nn, name)(*args))
    layer.load_state_dict({"bias": np.zeros(layer.bias.shape, np.float32), **state} if lib is tg else
                          {"bias": torch.zeros(layer.bias.shape), **{k: torch.tensor(v) for k, v in state.items()}})
    return layer.eval()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's at x / 0 and inf * 0 (torch does not warn)
@settings(deadline=None, max_examples=30)
@given(st.sampled_from(sorted(LAYERS)), st.integers(0, 2**16), st.sampled_from([0.5, 1.0, 3.7, 1e-3, 1e4]),
       st.booleans())
def test_pre_1_0_spectral_norm_state_dict_loads_as_torch(kind: str, seed: int, sigma: float, zero: bool) -> None:
    """weight_v solved as torch solves it: u . W v equals mean(orig / weight) (with a 0 in weight, v is inf / nan),
    the eval forward (no power step) gives torch's output, and v itself matches where W has full column rank (a
    wide W's v is pinv's rounding in the null space, in torch too)."""
    name, args, x_shape = LAYERS[kind]
    probe = torch.nn.utils.spectral_norm(getattr(torch.nn, name)(*args))
    state = legacy_state(tuple(probe.weight_orig.shape), probe.weight_u.shape[0], seed, sigma, zero)
    theirs, ours = load_legacy(torch, kind, state), load_legacy(tg, kind, state)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    x = np.random.default_rng(seed + 1).standard_normal(x_shape).astype(np.float32)
    with torch.no_grad():
        want = theirs(torch.tensor(x)).numpy()
    got = ours(tg.tensor(x)).detach().numpy()
    if not zero and not np.isfinite(theirs.weight_v.numpy()).all():  # torch's v through pinverse(W^T W) of a wide
        want = got  # W can come out nan (seed 362, sigma 0.5: its rounding of the rank-2 6 x 6); ours stays finite
        # and is held to u W v = sigma below
    # (float32 sums of terms up to the largest output's size: at sigma 1e-3 an output of 0.137 beside ones of 2500
    # is 1e-4 apart in the two libraries)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=max(1e-5, 1e-6 * float(np.abs(want).max(initial=0))))
    u, v = ours.weight_u.numpy(), ours.weight_v.numpy()
    mat = ours.weight_orig.numpy()
    mat = (mat.swapaxes(0, 1) if kind == "conv_transpose" else mat).reshape(len(u), -1)
    if zero:
        assert not np.isfinite(v).any() and not np.isfinite(theirs.weight_v.numpy()).any()
    else:
        np.testing.assert_allclose(u @ mat @ v, (state["weight_orig"] / state["weight"]).mean(), rtol=1e-4)
    if kind == "linear_tall" and not zero:
        np.testing.assert_allclose(v, theirs.weight_v.numpy(), rtol=1e-3, atol=1e-5)


def test_current_state_dict_and_removed_norm_load_unchanged() -> None:
    """A dict in today's format (weight_v, no weight) loads as it is; after remove_spectral_norm a plain dict with
    ``weight`` loads into the plain parameter."""
    layer = tg.nn.utils.spectral_norm(tg.nn.Linear(3, 2))
    state = {k: np.random.default_rng(0).standard_normal(v.shape).astype(np.float32)
             for k, v in layer.state_dict().items()}
    layer.load_state_dict(state)
    assert all(np.array_equal(layer.state_dict()[k].numpy(), v) for k, v in state.items())
    tg.nn.utils.remove_spectral_norm(layer)
    plain = {"bias": state["bias"], "weight": state["weight_orig"], "weight_orig": state["weight_orig"],
             "weight_u": state["weight_u"]}
    assert layer.load_state_dict(plain, strict=False).unexpected_keys == ["weight_orig", "weight_u"]
    np.testing.assert_array_equal(layer.weight.numpy(), state["weight_orig"])
