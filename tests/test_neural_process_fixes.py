"""What the Neural Process program (``tests/torch_style/neural_process.py``) checks against torch 2.13 beyond the run
itself: ``Normal``'s log_prob, entropy, ``kl_divergence(Normal, Normal)`` and the gradient of ``rsample`` through a
fixed eps, with their gradients, at extreme scales (subnormal and huge sigmas, huge locations and values, float32
and float64, empty and 0-d tensors, Python numbers), the program's sigma heads (``0.1 + 0.9 * sigmoid`` and
``0.1 + 0.9 * softplus``) at saturation, and the idioms around them (``np.float64 * tensor`` stays float32, the
``unsqueeze(1).repeat(1, n, 1)`` / ``view`` flattening, ``mean(dim=1)`` aggregation).

No library difference was found here: these tests pin the agreement (nan where torch's is nan, infinities with
torch's signs). ``torch.Tensor(float64 ndarray)`` (the notebook's ``x_target``) keeps float64 in ours, a documented
difference (README, Differences from PyTorch); it raises a dtype mismatch at the first Linear, not silently.

Sensitivity checked by mutation (each restored): ``rsample`` returning ``loc + eps * scale.detach()`` fails 6 tests
here and in the program's; ``log_prob``'s variance times (1 + 2^-20) fails 3; the KL's ``log(var_ratio)`` written as
``2 * (log p.scale - log q.scale)`` (equal in exact arithmetic) fails 6."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
import tinygrad_adam.distributions.normal as ours_normal

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
import torch.distributions.normal as torch_normal  # noqa: E402 - after the importorskip

TOL = {"float32": {"rtol": 4e-6, "atol": 0}, "float64": {"rtol": 1e-13, "atol": 0}}
TINY = {"float32": [float(np.float32(v)) for v in (1e-45, 1e-38, 1e-30, 1e-20)],
        "float64": [5e-324, 1e-308, 1e-300, 1e-150]}
HUGE = {"float32": [float(np.float32(v)) for v in (1e20, 1e30, 3e38)], "float64": [1e100, 1e300, 1.7e308]}


def arrays(dtype: str, n: int, positive: bool) -> st.SearchStrategy[np.ndarray]:
    """``n`` floats of ``dtype``: anything finite, or the tiny / huge edges (positive ones for a scale)."""
    width = 32 if dtype == "float32" else 64
    edges = TINY[dtype] + HUGE[dtype] + [0.1, 1.0]
    if positive:
        floats = st.floats(min_value=TINY[dtype][0], max_value=HUGE[dtype][-1], width=width)
        edges = [*edges, np.inf]
    else:
        floats = st.floats(allow_nan=False, allow_infinity=False, width=width)
        edges = edges + [-e for e in edges] + [0.0, np.inf, -np.inf]
    one = floats | st.sampled_from(edges)
    return st.lists(one, min_size=n, max_size=n).map(lambda v: np.array(v, dtype=dtype))


@st.composite
def normals(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """(loc, scale, value, loc2, scale2, eps) of one dtype and length 0..6."""
    dtype = draw(st.sampled_from(["float32", "float64"]))
    n = draw(st.integers(0, 6))
    return (draw(arrays(dtype, n, False)), draw(arrays(dtype, n, True)), draw(arrays(dtype, n, False)),
            draw(arrays(dtype, n, False)), draw(arrays(dtype, n, True)),
            draw(st.lists(st.floats(-5, 5, width=32), min_size=n, max_size=n).map(lambda v: np.array(v, dtype))))


def same(ours: object, theirs: object, dtype: str, what: str, size: np.ndarray | None = None) -> None:
    """Equal dtypes and shapes, values within ``TOL`` of the value (or of ``size``, the magnitude of the terms a value
    is the sum of, where they cancel); nan where torch's is nan, infinities equal."""
    got = ours.detach().numpy() if hasattr(ours, "detach") else np.asarray(ours)
    want = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    assert got.dtype == want.dtype and got.shape == want.shape, what
    if size is None:
        np.testing.assert_allclose(got, want, equal_nan=True, err_msg=what, **TOL[dtype])
        return
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite], want[~finite], err_msg=what)
    error = np.abs(got[finite].astype(np.float64) - want[finite])
    assert np.all(error <= TOL[dtype]["rtol"] * np.maximum(size[finite], np.abs(want[finite]))), what


def term_sizes(loc: np.ndarray, scale: np.ndarray, value: np.ndarray, loc2: np.ndarray,
               scale2: np.ndarray) -> dict:
    """For each of ``normal_numbers``' results, the sum of the magnitudes of the terms it adds (float64 numpy):
    rounding in each library is relative to these, not to a result that cancels to near 0."""
    with np.errstate(all="ignore"):
        loc, scale, value, loc2, scale2 = (np.asarray(a, np.float64) for a in (loc, scale, value, loc2, scale2))
        z, d = (value - loc) / scale, (loc - loc2) / scale2
        ratio = (scale / scale2) ** 2
        return {"log_prob": z**2 / 2 + np.abs(np.log(scale)) + 1, "entropy": np.abs(np.log(scale)) + 1.5,
                "kl": ratio + d**2 + 1 + np.abs(np.log(ratio)),
                "d_loc": np.abs(z / scale) + np.abs(d / scale2),
                "d_scale": z**2 / scale + 3 / scale + scale / scale2**2,
                "d_loc2": np.abs(d / scale2), "d_scale2": ratio * scale2 + d**2 / scale2 + 1 / scale2}


def normal_numbers(lib: object, loc: np.ndarray, scale: np.ndarray, value: np.ndarray, loc2: np.ndarray,
                   scale2: np.ndarray) -> dict:
    """log_prob, entropy and KL(p || q) with the gradients of their sum to loc, scale, loc2 and scale2."""
    leaves = [lib.tensor(a, requires_grad=True) for a in (loc, scale, loc2, scale2)]
    p = lib.distributions.Normal(leaves[0], leaves[1])
    q = lib.distributions.Normal(leaves[2], leaves[3])
    out = {"log_prob": p.log_prob(lib.tensor(value)), "entropy": p.entropy(),
           "kl": lib.distributions.kl_divergence(p, q)}
    total = out["log_prob"].sum() + out["entropy"].sum() + out["kl"].sum()
    for name, g in zip(("d_loc", "d_scale", "d_loc2", "d_scale2"), lib.autograd.grad(total, leaves), strict=True):
        out[name] = g
    return out


@settings(deadline=None, max_examples=80)
@given(normals())
@example(tuple(np.array(v, np.float32) for v in ([0, 1e30, -3e38, 3, 0], [1e-45, 1e-20, 3e38, 1e-38, 1],
                                                  [0, -1e30, 3e38, 3, 1e-30], [1e30, 0, 0, -3, 0],
                                                  [1, 1e-45, 1e-30, 3e38, 1e-38], [0.5, -1, 2, 0, -3])))
@example(tuple(np.array(v, np.float64) for v in ([0, 1e300], [5e-324, 1e-300], [1e-300, -1e300], [0, 0],
                                                 [1.7e308, 1e-150], [1, -1])))
def test_normal_log_prob_entropy_kl_match_torch(arrays: tuple[np.ndarray, ...]) -> None:
    loc, scale, value, loc2, scale2, _ = arrays
    dtype = str(loc.dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's overflow / divide warnings at these extremes
        got = normal_numbers(tg, loc, scale, value, loc2, scale2)
    want = normal_numbers(torch, loc, scale, value, loc2, scale2)
    sizes = term_sizes(loc, scale, value, loc2, scale2)
    for name in want:
        same(got[name], want[name], dtype, name, sizes[name])


def rsample_numbers(lib: object, module: object, patch: str, loc: np.ndarray, scale: np.ndarray,
                    eps: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> tuple:
    """``Normal(loc, scale).rsample()`` with its standard normal draw patched to ``eps``, and the gradient of
    ``(z * z).sum()`` to loc and scale."""
    monkeypatch.setattr(module, patch, lambda shape, dtype=None, device=None: lib.as_tensor(eps.reshape(shape)))
    leaves = [lib.tensor(loc, requires_grad=True), lib.tensor(scale, requires_grad=True)]
    z = lib.distributions.Normal(*leaves).rsample()
    return (z, *lib.autograd.grad((z * z).sum(), leaves))


@settings(deadline=None, max_examples=60)
@given(normals())
@example(tuple(np.array(v, np.float32) for v in ([0, 1e30, -3e38, 3], [1e-45, 1e-20, 3e38, 1e-38], [0] * 4,
                                                  [0] * 4, [1] * 4, [0.5, -1, 2, 0])))
def test_rsample_with_fixed_eps_and_its_gradient_match_torch(arrays: tuple[np.ndarray, ...]) -> None:
    """loc + eps * scale and d/d(loc, scale) of its square: overflow to inf and 0 * inf = nan as torch's."""
    loc, scale, _, _, _, eps = arrays
    dtype = str(loc.dtype)
    with pytest.MonkeyPatch.context() as monkeypatch, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = rsample_numbers(tg, ours_normal, "randn", loc, scale, eps, monkeypatch)
        want = rsample_numbers(torch, torch_normal, "_standard_normal", loc, scale, eps, monkeypatch)
    for name, a, b in zip(("z", "d_loc", "d_scale"), got, want, strict=True):
        same(a, b, dtype, name)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_zero_d_empty_and_number_parameters(dtype: str) -> None:
    """0-d tensors, empty tensors and Python numbers as loc / scale: the same values, shapes and dtypes."""
    cases = [(np.array(0.5, dtype), np.array(1e-30, dtype), np.array(0.25, dtype)),
             (np.zeros(0, dtype), np.ones(0, dtype), np.zeros(0, dtype)),
             (np.zeros((2, 0), dtype), np.ones((2, 0), dtype), np.zeros((2, 0), dtype))]
    for loc, scale, value in cases:
        for name in ("log_prob", "entropy", "kl", "d_loc", "d_scale"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                got = normal_numbers(tg, loc, scale, value, loc[()] if loc.ndim == 0 else loc, scale)[name]
            want = normal_numbers(torch, loc, scale, value, loc[()] if loc.ndim == 0 else loc, scale)[name]
            same(got, want, dtype, name)
    for loc, scale in ((0.0, 1.0), (1.0, 1e-3), (-2.0, 1e3)):
        value = np.array(0.5, dtype)
        p, q = tg.distributions.Normal(loc, scale), torch.distributions.Normal(loc, scale)
        same(p.log_prob(tg.tensor(value)), q.log_prob(torch.tensor(value)), dtype, "log_prob of numbers")
        same(p.entropy(), q.entropy(), "float32", "entropy of numbers")
        same(tg.distributions.kl_divergence(p, tg.distributions.Normal(1.0, 2.0)),
             torch.distributions.kl_divergence(q, torch.distributions.Normal(1.0, 2.0)), "float32", "kl of numbers")


@pytest.mark.parametrize(("loc", "scale", "value"), [
    (np.nan, 1.0, 0.5), (0.0, 0.0, 0.5), (0.0, -1.0, 0.5), (0.0, np.nan, 0.5), (0.0, 1.0, np.nan),
    (np.inf, 1.0, 0.5), (0.0, np.inf, 0.5), (0.0, 1e-45, 0.5), (0.0, 1.0, -np.inf)])
def test_argument_validation_matches_torch(loc: float, scale: float, value: float) -> None:
    """Normal's default validation: a ValueError where torch raises one (nan loc, scale <= 0 or nan, a nan value),
    and torch's log_prob where it does not (infinite loc, scale or value, a subnormal scale)."""
    results = []
    for lib in (torch, tg):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                normal = lib.distributions.Normal(lib.tensor([loc]), lib.tensor([scale]))
                results.append(normal.log_prob(lib.tensor([value])).numpy())
        except ValueError:
            results.append("ValueError")
    if isinstance(results[0], str):
        assert results[1] == results[0]
    else:
        np.testing.assert_array_equal(results[1], results[0])


@settings(deadline=None, max_examples=60)
@given(st.sampled_from(["float32", "float64"]).flatmap(lambda d: arrays(d, 6, False)))
@example(np.array([0, 100, -100, 1e30, -1e30, 20.5], np.float32))
def test_sigma_heads_match_torch(x: np.ndarray) -> None:
    """MuSigmaEncoder's ``0.1 + 0.9 * sigmoid(h)`` and Decoder's ``0.1 + 0.9 * softplus(h)`` with their gradients,
    saturated included."""
    out = []
    for lib in (torch, tg):
        h = lib.tensor(x, requires_grad=True)
        sigmas = (0.1 + 0.9 * lib.sigmoid(h), 0.1 + 0.9 * lib.nn.functional.softplus(h))
        grads = [lib.autograd.grad(s.sum(), h)[0] for s in sigmas]
        out.append([*sigmas, *grads])
    for what, got, want in zip(("sigmoid", "softplus", "d_sigmoid", "d_softplus"), out[1], out[0], strict=True):
        same(got, want, str(x.dtype), what)


@given(st.floats(-1, 1), st.integers(1, 5))
@settings(deadline=None, max_examples=20)
def test_sine_data_and_decoder_idioms_match_torch(a: float, num_points: int) -> None:
    """SineData's ``np.float64 * torch.sin(x - b)`` stays float32; the decoder's ``z.unsqueeze(1).repeat(1, n, 1)``
    and ``view`` flattening and the aggregation ``torch.mean(r_i, dim=1)`` agree."""
    out = []
    for lib in (torch, tg):
        x = lib.linspace(-np.pi, np.pi, num_points).unsqueeze(1)
        y = np.float64(a) * lib.sin(x - np.float64(a / 2))
        assert y.dtype == lib.float32
        z = lib.tensor(np.arange(6, dtype=np.float32).reshape(2, 3)).unsqueeze(1).repeat(1, num_points, 1)
        r = lib.mean(z.view(2 * num_points, 3).view(2, num_points, 3) * y.view(1, num_points, 1), dim=1)
        out.append((x, y, z, r))
    for what, got, want in zip("xyzr", out[1], out[0], strict=True):  # sin near its zeros: absolute rounding
        assert str(got.dtype) == "float32" and want.dtype == torch.float32, what
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=4e-6, atol=1e-7, err_msg=what)
