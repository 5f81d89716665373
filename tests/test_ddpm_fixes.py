"""What the DDPM program (``tests/torch_style/ddpm.py``) needed, against torch 2.13.

- ``torch.cumprod(alphas, axis=0)`` (lucidrains' schedule) raised TypeError here: torch's argument parser takes
  ``axis=`` for the ``dim`` of every native op, function or method (``gather``, ``index_select``, ``topk``,
  ``prod``, ``amax``, ``median``, ``scatter_``, ``index_add_``, ...: about fifty more raised here too); both given
  raises TypeError. torch's ops written in Python (``split``, ``unique_consecutive``, ``Tensor.unflatten``) refuse
  ``axis``, and so do ours.
- float32 ``cumsum`` / ``cumprod`` carried the running value in float32: silently off from torch, whose CPU scans
  carry float32 in float64 and round each output once (a million 0.1s: torch 100000, ours 100958; dome272's
  ``alpha_hat = torch.cumprod(1 - linspace(1e-4, 0.02, 1000))`` differed in the last bits). float16 was already
  carried in float32 for cumsum, now also for cumprod. numpy's "invalid value" warnings from inf - inf in them are
  silenced (torch never warns).

Mutations run (each made a test here fail, then was restored):
- ``attach`` binding the methods without ``_axis_alias``: test_axis_is_torchs_alias_of_dim fails (methods).
- ``FUNCTIONS`` not passed through ``_axis_alias``: it fails (functions).
- ``_function`` / ``_values_indices`` / ``_in_place`` without ``__wrapped__``: it fails for ``torch.gather`` (and
  more), ``mode``, and ``index_add_`` / ``scatter_`` respectively.
- ``_NO_AXIS_ALIAS_METHODS`` empty: test_python_level_ops_refuse_axis_as_torch fails.
- ``elementwise.WIDER`` without its float32 entry (the scans use it): test_cumsum_and_cumprod_are_torchs_bits,
  test_running_op_gradients_match_torch and test_a_long_float32_running_sum fail.
- ``cumprod`` without ``dtype=WIDER...``: the same three fail.
- ``_running_sum`` without ``ignore_fp_errors``: test_cumsum_and_cumprod_are_torchs_bits fails under
  ``-W error::RuntimeWarning``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SPECIAL = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-40, -1e-30, 3e38, -3e38, 65504.0, 1e-8]


X = np.random.default_rng(0).uniform(0.5, 1.5, (3, 4)).astype(np.float32)
INDEX = np.array([[0, 1, 2, 0], [2, 1, 0, 0], [1, 1, 1, 1]])
AXIS_CALLS = {  # (lib, x) -> a tensor or a tuple of tensors, ``axis=1`` for ``dim``
    "cumsum": lambda L, t: L.cumsum(t, axis=1), "cumprod": lambda L, t: L.cumprod(t, axis=1),
    "cummax": lambda L, t: L.cummax(t, axis=1), "cummin": lambda L, t: t.cummin(axis=1),
    "logcumsumexp": lambda L, t: L.logcumsumexp(t, axis=1), "cumsum_": lambda L, t: t.clone().cumsum_(axis=1),
    "gather": lambda L, t: L.gather(t, axis=1, index=L.tensor(INDEX)),
    "m.gather": lambda L, t: t.gather(axis=1, index=L.tensor(INDEX)),
    "take_along_dim": lambda L, t: L.take_along_dim(t, L.tensor(INDEX), axis=1),
    "index_select": lambda L, t: t.index_select(axis=1, index=L.tensor([0, 2])),
    "chunk": lambda L, t: L.chunk(t, 2, axis=1), "unbind": lambda L, t: t.unbind(axis=1),
    "narrow": lambda L, t: L.narrow(t, axis=1, start=0, length=2), "select": lambda L, t: t.select(axis=1, index=2),
    "tensor_split": lambda L, t: L.tensor_split(t, 2, axis=1), "unflatten": lambda L, t: L.unflatten(t, axis=1,
                                                                                                   sizes=(2, 2)),
    "sort": lambda L, t: t.sort(axis=1), "argsort": lambda L, t: L.argsort(t, axis=1),
    "topk": lambda L, t: t.topk(2, axis=1), "kthvalue": lambda L, t: L.kthvalue(t, 2, axis=1),
    "median": lambda L, t: t.median(axis=1), "nanmedian": lambda L, t: L.nanmedian(t, axis=1),
    "mode": lambda L, t: t.mode(axis=1), "prod": lambda L, t: L.prod(t, axis=1), "m.prod": lambda L, t: t.prod(axis=1),
    "all": lambda L, t: (t > 1).all(axis=1), "any": lambda L, t: L.any(t > 1, axis=1),
    "count_nonzero": lambda L, t: t.count_nonzero(axis=1), "nansum": lambda L, t: L.nansum(t, axis=1),
    "nanmean": lambda L, t: L.nanmean(t, axis=1), "amax": lambda L, t: t.amax(axis=1),
    "aminmax": lambda L, t: L.aminmax(t, axis=1), "var_mean": lambda L, t: L.var_mean(t, axis=1),
    "std_mean": lambda L, t: L.std_mean(t, axis=1), "repeat_interleave": lambda L, t: t.repeat_interleave(2, axis=1),
    "renorm": lambda L, t: L.renorm(t, 2, axis=0, maxnorm=1.0),
    "index_add": lambda L, t: L.index_add(t, axis=1, index=L.tensor([0, 2]), source=t[:, :2]),
    "index_add_": lambda L, t: t.clone().index_add_(axis=1, index=L.tensor([0, 2]), source=t[:, :2]),
    "index_copy": lambda L, t: t.index_copy(axis=1, index=L.tensor([0, 2]), source=t[:, :2]),
    "index_fill": lambda L, t: L.index_fill(t, axis=1, index=L.tensor([0, 2]), value=0.0),
    "scatter": lambda L, t: L.scatter(t, axis=1, index=L.tensor(INDEX), src=t),
    "scatter_": lambda L, t: t.clone().scatter_(axis=1, index=L.tensor(INDEX), src=t),
    "scatter_add": lambda L, t: L.scatter_add(t, axis=1, index=L.tensor(INDEX), src=t),
}


def flat(out: object) -> list[np.ndarray]:
    return [np.asarray(o.numpy()) for o in (out if isinstance(out, tuple | list) else [out])]


@pytest.mark.parametrize("name", sorted(AXIS_CALLS))
def test_axis_is_torchs_alias_of_dim(name: str) -> None:
    want = flat(AXIS_CALLS[name](torch, torch.from_numpy(X)))
    got = flat(AXIS_CALLS[name](tg, tg.tensor(X)))
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=2.4e-7, atol=0)  # logcumsumexp: exp / log within an ulp


@pytest.mark.parametrize("call", [lambda L, t: L.gather(t, 1, axis=1, index=L.tensor(INDEX)),
                                  lambda L, t: t.cumsum(dim=1, axis=1), lambda L, t: L.cumsum(t)])
def test_dim_and_axis_together_or_neither_raise_as_torch(call: object) -> None:
    with pytest.raises(TypeError):
        call(torch, torch.from_numpy(X))
    with pytest.raises(TypeError):
        call(tg, tg.tensor(X))


@pytest.mark.parametrize("call", [lambda L, t: t.split(2, axis=1), lambda L, t: t.unflatten(axis=1, sizes=(2, 2)),
                                  lambda L, t: L.unique_consecutive(t, axis=1)])
def test_python_level_ops_refuse_axis_as_torch(call: object) -> None:
    with pytest.raises(TypeError):
        call(torch, torch.from_numpy(X))
    with pytest.raises(TypeError):
        call(tg, tg.tensor(X))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.sampled_from([0, 1, 2, 7, 300, 1500]), rows=st.sampled_from([0, 1, 3]),
       dtype=st.sampled_from(["float16", "float32", "float64"]), scale=st.sampled_from([1e-3, 1.0, 1e4, 1e30]),
       specials=st.integers(0, 3), dim=st.sampled_from([0, 1, -1]), name=st.sampled_from(["cumsum", "cumprod"]),
       zero_d=st.booleans())
def test_cumsum_and_cumprod_are_torchs_bits(seed: int, n: int, rows: int, dtype: str, scale: float, specials: int,
                                            dim: int, name: str, zero_d: bool) -> None:
    """Long running sums and products (of values near 1 for products, so they neither die nor blow up at once),
    with extreme values, NaN, inf, empty and 0-d inputs: the same bits as torch."""
    rng = np.random.default_rng(seed)
    if name == "cumsum":
        x = rng.standard_normal((rows, n)) * scale
    else:
        x = 1 + rng.standard_normal((rows, n)) * min(scale, 1e-3)
    x = x.ravel()
    if x.size:
        x[rng.integers(0, x.size, specials)] = rng.choice(SPECIAL, specials)
    x = x.reshape(rows, n)
    if zero_d:
        x, dim = np.array(x.ravel()[0] if x.size else 1.5), 0
    with np.errstate(over="ignore"):
        x = x.astype(dtype)
    got = getattr(tg, name)(tg.tensor(x), dim).numpy()
    want = getattr(torch, name)(torch.from_numpy(x), dim).numpy()
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 800), name=st.sampled_from(["cumsum", "cumprod"]))
def test_running_op_gradients_match_torch(seed: int, n: int, name: str) -> None:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.99, 1.01, (2, n)).astype(np.float32)
    g = rng.standard_normal((2, n)).astype(np.float32)
    ours, theirs = tg.tensor(x, requires_grad=True), torch.from_numpy(x).requires_grad_()
    getattr(tg, name)(ours, 1).backward(tg.tensor(g))
    getattr(torch, name)(theirs, 1).backward(torch.from_numpy(g))
    if name == "cumsum":  # the reversed running sum: the same bits
        np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    else:
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_a_long_float32_running_sum() -> None:
    x = np.full(1_000_000, 0.1, np.float32)
    assert tg.cumsum(tg.tensor(x), 0)[-1].item() == torch.cumsum(torch.from_numpy(x), 0)[-1].item() == 100000.0
    alphas = 1.0 - np.linspace(1e-4, 0.02, 1000, dtype=np.float32)
    np.testing.assert_array_equal(tg.tensor(alphas).cumprod(0).numpy(), torch.from_numpy(alphas).cumprod(0).numpy())
