"""Differences from torch found by the keyword-signature probe, each checked against torch: torch's keyword names
that ours refused with a TypeError (``other=`` on mul / maximum / minimum / matmul / isclose / atan2 / hypot / xlogy /
logaddexp / copysign / nextafter / true_divide / ldexp / igamma / kron / max / min, ``vec2=`` on outer / ger,
``tensor=`` on dot, ``input=`` on the ``*_like`` creators, combinations, as_strided_copy, nuclear_norm, xlogy,
F.linear / layer_norm / batch_norm / one_hot / the dropouts and torch.linalg's functions whose Python keyword is
``input`` (cholesky, eigh, matrix_norm, lstsq(input=, b=), tensorsolve(input=, other=), ...), ``A=`` / ``B=`` on
linalg.det / inv / solve, ``x=`` on torch.special's functions, ``mat=`` / ``vec=`` / ``vec1=`` / ``batch1=`` on
addmv / addr / addbmm, ``size=`` on sum_to_size / resize_, ``fill_value=`` on full_like; and ``copy_(src, True)``
(non_blocking positionally). Each call runs on both libraries with the same inputs and must give the same values,
dtypes and shapes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as tgF

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
TF = torch.nn.functional

SPD = np.array([[4.0, 1, 0.5, 0], [1, 3, 0, 0.2], [0.5, 0, 2, 0.1], [0, 0.2, 0.1, 5]], np.float32)


def env(T: Any, F: Any, a: np.ndarray | None = None, b: np.ndarray | None = None) -> dict[str, Any]:
    """The same named inputs on either library (``T`` the torch module or ours)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 3)).astype(np.float32) if a is None else a
    b = rng.standard_normal((4, 3)).astype(np.float32) if b is None else b
    t = T.tensor
    return dict(T=T, F=F, a=t(a), b=t(b), v=t(np.array([0.3, 1.2, -0.7, 2.1], np.float32)),
                w=t(np.array([0.5, 1.0, -1.0], np.float32)), sq=t(rng.standard_normal((3, 3)).astype(np.float32)),
                spd=t(SPD), idx=t(np.array([1, 3])), idxl=t(np.array([0, 3, 1, 2, 3])),
                a3=t(rng.standard_normal((2, 3, 4)).astype(np.float32)))


def flat(r: Any) -> list[np.ndarray]:
    if isinstance(r, (tuple, list)):
        return [x for item in r for x in flat(item)]
    if hasattr(r, "detach"):
        return [np.asarray(r.detach().numpy())]
    return [np.asarray(r)]


def run_both(call: str, **arrays: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    ref = flat(eval(call, env(torch, TF, **arrays)))
    ours = flat(eval(call, env(tg, tgF, **arrays)))
    return ref, ours


def check_same(call: str, **arrays: Any) -> None:
    ref, ours = run_both(call, **arrays)
    assert len(ref) == len(ours), call
    for r, o in zip(ref, ours):
        assert (o.shape, o.dtype) == (r.shape, r.dtype), (call, o.shape, o.dtype, r.shape, r.dtype)
        np.testing.assert_allclose(o.astype(np.float64), r.astype(np.float64), rtol=1e-4, atol=1e-5,
                                   equal_nan=True, err_msg=call)


BINARY_OTHER = ["mul", "multiply", "maximum", "minimum", "isclose", "logaddexp", "atan2", "arctan2", "hypot", "xlogy",
                "copysign", "nextafter", "true_divide", "kron", "max", "min"]

CALLS = [
    *[f"T.{n}(input=a, other=b)" for n in BINARY_OTHER],
    *[f"a.{n}(other=b)" for n in BINARY_OTHER],
    "T.matmul(input=a, other=sq)", "a.matmul(other=sq)", "T.igamma(input=a.abs(), other=b.abs())",
    "a.abs().igamma(other=b.abs())", "T.ldexp(input=a, other=b.round())", "a.ldexp(other=b.round())",
    "T.special.xlogy(input=a, other=b)", "T.linalg.matmul(input=a, other=sq)",
    "T.outer(input=v, vec2=w)", "v.outer(vec2=w)", "T.ger(input=v, vec2=w)", "v.ger(vec2=w)",
    "T.dot(input=w, tensor=w)", "w.dot(tensor=w)", "T.vdot(input=w, other=w)", "w.vdot(other=w)",
    "T.max(a, b)", "a.min(b)",
    "T.ones_like(input=a)", "T.zeros_like(input=a, dtype=T.float64)", "T.full_like(input=a, fill_value=2.0)",
    "T.empty_like(input=a).shape", "T.rand_like(input=a).shape", "T.randn_like(input=a, dtype=T.float64) * 0",
    "T.combinations(input=v, r=2)", "T.as_strided_copy(input=a, size=(2, 2), stride=(1, 2))",
    "T.nuclear_norm(input=a)",
    "F.dropout(input=a, p=0.0, training=False)", "F.alpha_dropout(input=a, p=0.0, training=False)",
    "F.feature_alpha_dropout(input=a, p=0.0, training=False)", "F.dropout1d(input=a, p=0.0, training=False)",
    "F.dropout2d(input=a3, p=0.0, training=False)", "F.linear(input=a, weight=sq, bias=w)",
    "F.layer_norm(input=a, normalized_shape=(3,))", "F.one_hot(input=idxl, num_classes=4)",
    "F.batch_norm(input=a, running_mean=None, running_var=None, training=True)",
    "T.linalg.det(A=spd)", "T.linalg.inv(A=spd)", "T.linalg.solve(A=spd, B=a)",
    *[f"T.linalg.{n}(input=spd)" for n in ("cholesky", "cholesky_ex", "cond", "eigvalsh", "matrix_exp", "matrix_norm",
                                            "matrix_rank", "norm", "pinv", "vector_norm", "ldl_factor")],
    "T.linalg.eigh(input=spd).eigenvalues", "T.linalg.matrix_power(input=spd, n=2)",
    "T.linalg.lstsq(input=spd, b=a).solution", "T.linalg.tensorsolve(input=spd, other=v)",
    "T.linalg.solve_triangular(input=spd.triu(), B=spd, upper=True)",
    "T.linalg.householder_product(input=spd, tau=v)",
    *[f"T.special.{n}(x=v.abs() + 0.5)" for n in ("bessel_j0", "modified_bessel_i0", "i1e", "erfcx", "airy_ai",
                                                  "spherical_bessel_j0", "scaled_modified_bessel_k0",
                                                  "scaled_modified_bessel_k1")],
    "T.special.i1e(input=v)", "T.special.bessel_j0(v)",
    *[f"T.special.{n}(x=v, n=3)" for n in ("chebyshev_polynomial_t", "legendre_polynomial_p", "hermite_polynomial_h",
                                           "shifted_chebyshev_polynomial_w", "laguerre_polynomial_l")],
    "T.addmv(input=v, mat=a, vec=w)", "v.addmv(a, vec=w, beta=0.5)", "T.addr(input=a, vec1=v, vec2=w, alpha=2)",
    "T.addbmm(input=sq, batch1=a3.transpose(1, 2)[:, :3], batch2=a3[:, :, :3])", "T.addmv(v, a, w, beta=2)",
    "a.sum_to_size(size=(1, 3))", "a.sum_to_size(1, 3)", "a.clone().resize_(size=(3, 4))",
    "a.clone().copy_(b, True)", "a.clone().copy_(b, non_blocking=True)",
]


@pytest.mark.parametrize("call", CALLS)
def test_torch_keyword_spellings(call: str) -> None:
    """torch's keyword names (and the positional non_blocking), which ours refused with a TypeError."""
    check_same(call)


# the spellings torch itself refuses: ours refuses them too (TypeError both), so that no program depends on them
REFUSED = ["T.special.chebyshev_polynomial_t(input=v, n=3)", "T.special.airy_ai(input=v)",
           "T.max(a, 1, other=b)", "a.sum_to_size((1, 3), size=(1, 3))", "T.linalg.cholesky(spd, input=spd)",
           "T.addmv(v, a, w, vec=w)", "T.addmv(v, mat=a)",
           "T.linalg.cholesky(input=spd, A=spd)"]


@pytest.mark.parametrize("call", REFUSED)
def test_refused_as_torch(call: str) -> None:
    with pytest.raises(TypeError):
        eval(call, env(torch, TF))
    with pytest.raises(TypeError):
        eval(call, env(tg, tgF))


EDGE = st.sampled_from([0.0, -0.0, 1e-30, -1.5, 2.0, 1e30, float("inf"), float("-inf"), float("nan")])
ARRAYS = hnp.arrays(np.float32, (4, 3), elements=st.one_of(st.floats(-50, 50, width=32), EDGE))


@settings(max_examples=25, deadline=None)
@given(a=ARRAYS, b=ARRAYS, name=st.sampled_from(["mul", "maximum", "minimum", "atan2", "hypot", "xlogy",
                                                  "logaddexp", "copysign", "nextafter", "isclose", "true_divide"]))
def test_binary_other_keyword_values(a: np.ndarray, b: np.ndarray, name: str) -> None:
    """The keyword form gives torch's values (edge values included) and binds ``other`` to the second operand."""
    check_same(f"T.{name}(input=a, other=b)", a=a, b=b)
    check_same(f"T.{name}(b, other=a)", a=a, b=b)


@settings(max_examples=15, deadline=None)
@given(a=hnp.arrays(np.float32, (4, 3), elements=st.floats(-3, 3, width=32)),
       b=hnp.arrays(np.float32, (4, 3), elements=st.floats(-3, 3, width=32)))
def test_keyword_calls_keep_gradients(a: np.ndarray, b: np.ndarray) -> None:
    """Gradients through the keyword spellings equal torch's (mul / maximum / matmul / F.linear)."""
    grads = []
    for T, F in ((torch, TF), (tg, tgF)):
        x, y = T.tensor(a, requires_grad=True), T.tensor(b, requires_grad=True)
        out = (T.mul(input=x, other=y).sum() + T.maximum(input=x, other=y * 0.5).sum()
               + T.matmul(input=x, other=y.T).sum() + F.linear(input=x, weight=y[:3]).sum())
        out.backward()
        grads.append([x.grad.detach().numpy(), y.grad.detach().numpy()])
    for r, o in zip(*grads):
        np.testing.assert_allclose(o, r, rtol=1e-4, atol=1e-4)
