"""What the exact GP program (``tests/torch_style/exact_gp.py``) met, against torch 2.13. Its 2019 blog spelling
solves with ``torch.triangular_solve(b, A, upper=True, transpose=False, unitriangular=False)``, deprecated in torch
(a UserWarning pointing to ``linalg.solve_triangular``) but still there: it returns the namedtuple (solution,
cloned_coefficient), the second a copy of A broadcast to the batch shape, and differentiates both (the copy's
gradient goes to A whole, not only its triangle); also a Tensor method. Ours had no ``triangular_solve``
(AttributeError).

Mutations (each made the tests below fail, then was reverted):
- the triangle passed as ``upper`` whatever ``transpose``: a transposed solve reads the wrong triangle.
- A not transposed for ``transpose=True``: the solution of A X = b instead of A^T X = b.
- ``unitriangular`` not passed on: the diagonal is read.
- the coefficient returned as A itself, not broadcast: its shape is A's, not the batch's.
- the warning left out: no UserWarning where torch gives one."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

VALUES = st.floats(-3, 3) | st.sampled_from([0.0, -0.0, np.nan, np.inf, -np.inf, 1e30])
BATCHES = st.sampled_from([((), ()), ((2,), ()), ((), (2,)), ((1,), (3,)), ((2, 1), (3,)), ((0,), ())])


def solve(lib: object, a: np.ndarray, b: np.ndarray, w: tuple[np.ndarray, np.ndarray], method: bool,
          **options: bool) -> list[np.ndarray]:
    """The solution, the cloned coefficient, and A's and b's gradients of sum(w0 * solution + w1 * coefficient)."""
    ta, tb = lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's RuntimeWarnings at infs (README); the deprecation: test below
        out = tb.triangular_solve(ta, *options.values()) if method else lib.triangular_solve(tb, ta, **options)
        x, coef = out.solution, out.cloned_coefficient
        assert out[0] is x and out[1] is coef
        ((x * lib.tensor(w[0])).sum() + (coef * lib.tensor(w[1])).sum()).backward()
    return [t.detach().numpy() for t in (x, coef, ta.grad, tb.grad)]


@settings(deadline=None, max_examples=150)
@given(n=st.integers(0, 4), k=st.integers(0, 3), batches=BATCHES, data=st.data(),
       upper=st.booleans(), transpose=st.booleans(), unitriangular=st.booleans(), method=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), special=st.booleans())
def test_triangular_solve_matches_torch(n: int, k: int, batches: tuple[tuple[int, ...], tuple[int, ...]],
                                        data: st.DataObject, upper: bool, transpose: bool, unitriangular: bool,
                                        method: bool, dtype: type, special: bool) -> None:
    rng = np.random.RandomState(data.draw(st.integers(0, 2 ** 16)))
    a_shape, b_shape = batches[0] + (n, n), batches[1] + (n, k)
    a = rng.uniform(-1, 1, a_shape) + np.eye(n) * rng.choice([-3.0, 2.0, 4.0], a_shape[:-1])[..., None]
    b = rng.uniform(-2, 2, b_shape)
    if special and a.size:  # an extreme value (nan, inf, 0, 1e30, -0) somewhere in A or b
        target = a if data.draw(st.booleans()) or not b.size else b
        target.flat[data.draw(st.integers(0, target.size - 1))] = data.draw(VALUES)
    a, b = a.astype(dtype), b.astype(dtype)
    shape = np.broadcast_shapes(batches[0], batches[1])
    w = (rng.randn(*shape, n, k).astype(dtype), rng.randn(*shape, n, n).astype(dtype))
    options = {"upper": upper, "transpose": transpose, "unitriangular": unitriangular}
    want = solve(torch, a, b, w, method, **options)
    got = solve(tg, a, b, w, method, **options)
    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-12}
    for name, g, t in zip(("solution", "coefficient", "A.grad", "b.grad"), got, want, strict=True):
        assert g.shape == t.shape and g.dtype == t.dtype, name
        np.testing.assert_allclose(g, t, err_msg=name, equal_nan=True, **tol)


def test_triangular_solve_warns_and_refuses_as_torch() -> None:
    a, b = np.triu(np.ones((3, 3))) + np.eye(3), np.ones((3, 2))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        out = tg.triangular_solve(tg.tensor(b), tg.tensor(a))
    assert [w.category for w in seen] == [UserWarning]
    assert str(seen[0].message).startswith("torch.triangular_solve is deprecated") and \
        "torch.linalg.solve_triangular" in str(seen[0].message)
    np.testing.assert_allclose(out.solution.numpy(), torch.triangular_solve(torch.tensor(b), torch.tensor(a))[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for b_bad, a_bad in ((np.ones(3), a), (b, np.ones((2, 3))), (b, np.ones(3))):
            with pytest.raises(RuntimeError):
                torch.triangular_solve(torch.tensor(b_bad), torch.tensor(a_bad))
            with pytest.raises(ValueError):  # (README: shape errors are ValueError here)
                tg.triangular_solve(tg.tensor(b_bad), tg.tensor(a_bad))
        with pytest.raises(TypeError):  # (README: dtype errors are TypeError here)
            tg.triangular_solve(tg.tensor(b, dtype=tg.float32), tg.tensor(a))
