"""Fixes found by porting torchvision's classification reference (``torch_style/tv_classification.py``), each
against torch: ``torch._sample_dirichlet`` (RandomMixup / RandomCutmix draw their lambda with it; ours had none) and
the ``nn.modules.batchnorm`` / ``nn.modules.instancenorm`` paths to ``_BatchNorm`` / ``_InstanceNorm``
(``utils.set_weight_decay``'s norm classes; ours had neither module)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as ours

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SHAPES = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)
ALPHAS = st.sampled_from([1e-30, 1e-3, 0.2, 1.0, 7.5, 1e6, 1e30])


@settings(max_examples=30, deadline=None)
@given(shape=SHAPES, alpha=ALPHAS, dtype=st.sampled_from(["float32", "float64"]), seed=st.integers(0, 2**31 - 1))
def test_sample_dirichlet_matches_torch(shape: tuple[int, ...], alpha: float, dtype: str, seed: int) -> None:
    """Same shape and dtype as torch's; each vector along the last dim on the simplex (a 0-d input gives the float
    below 1, as torch's), every entry in [tiny, the float below 1]; all-tiny concentrations give equal shares, as
    torch's clamped draws do."""
    a = np.full(shape, alpha, dtype=dtype)
    ours.manual_seed(seed)
    got = ours._sample_dirichlet(ours.tensor(a)).numpy()
    want = torch._sample_dirichlet(torch.tensor(a)).numpy()
    assert got.shape == want.shape and got.dtype == want.dtype
    tiny = np.finfo(dtype).tiny
    below_one = np.nextafter(np.array(1, dtype), np.array(0, dtype))
    assert ((got >= tiny) & (got <= below_one)).all() and ((want >= tiny) & (want <= below_one)).all()
    if got.ndim == 0:
        assert got == want == below_one
    elif got.size:
        np.testing.assert_allclose(got.sum(-1), 1, rtol=1e-5 if dtype == "float32" else 1e-12)
        if alpha == 1e-30:
            np.testing.assert_allclose(got, want)  # every draw clamped to tiny: equal shares in both


def test_sample_dirichlet_statistics_match_torch() -> None:
    """Mean and variance of 20000 draws of Dirichlet(0.5, 2, 3) (torchvision's mixup lambda is one coordinate of
    Dirichlet(alpha, alpha)) within sampling error of torch's and of the closed forms."""
    alpha = np.array([0.5, 2.0, 3.0])
    batch = np.tile(alpha, (20000, 1))
    ours.manual_seed(0)
    torch.manual_seed(0)
    got = ours._sample_dirichlet(ours.tensor(batch)).numpy()
    want = torch._sample_dirichlet(torch.tensor(batch)).numpy()
    mean = alpha / alpha.sum()
    var = mean * (1 - mean) / (alpha.sum() + 1)
    for draws in (got, want):
        np.testing.assert_allclose(draws.mean(0), mean, atol=float(5 * np.sqrt(var / 20000).max()))
        np.testing.assert_allclose(draws.var(0), var, rtol=0.05)


def test_sample_dirichlet_errors_match_torch() -> None:
    """Integer concentrations raise NotImplementedError in both; backward through the draw raises (torch has no
    derivative for it) instead of passing a zero gradient, which would be silently wrong."""
    with pytest.raises(NotImplementedError):
        torch._sample_dirichlet(torch.tensor([1, 1]))
    with pytest.raises(NotImplementedError):
        ours._sample_dirichlet(ours.tensor([1, 1]))
    for lib in (torch, ours):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        out = lib._sample_dirichlet(a)
        assert out.requires_grad
        with pytest.raises((NotImplementedError, RuntimeError)):
            out.sum().backward()


@pytest.mark.parametrize(("module", "base", "classes"), [
    ("batchnorm", "_BatchNorm", ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm"]),
    ("instancenorm", "_InstanceNorm", ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]),
])
def test_norm_module_paths_match_torch(module: str, base: str, classes: list[str]) -> None:
    """``nn.modules.<module>.<base>`` exists and is a base of the same public classes as in torch; the other norm
    layers torchvision lists (LayerNorm, GroupNorm, LocalResponseNorm) are not, nor is an InstanceNorm a
    ``_BatchNorm`` (ours was: ``isinstance(m, _BatchNorm)`` silently caught instance norms) or a BatchNorm an
    ``_InstanceNorm``; both derive from ``_NormBase``."""
    for name in classes:
        assert getattr(getattr(ours.nn.modules, module), name) is getattr(ours.nn, name)
    for name in [*classes, "InstanceNorm2d", "BatchNorm2d", "LayerNorm", "GroupNorm", "LocalResponseNorm", "Linear"]:
        want = issubclass(getattr(torch.nn, name), getattr(getattr(torch.nn.modules, module), base))
        assert issubclass(getattr(ours.nn, name), getattr(getattr(ours.nn.modules, module), base)) == want, name
    for name in ("BatchNorm2d", "InstanceNorm2d"):
        assert issubclass(getattr(ours.nn, name), ours.nn.modules.batchnorm._NormBase)
        assert issubclass(getattr(torch.nn, name), torch.nn.modules.batchnorm._NormBase)
