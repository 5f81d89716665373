"""What the word2vec program (``tests/torch_style/word2vec.py``) met, against torch 2.13: the old ports update
``embedding(sparse=True)`` tables by hand, ``p.data.add_(-lr, p.grad.data)`` (the deprecated overload),
``p.data.add_(p.grad, alpha=-lr)``, ``p.data.sub_(lr * p.grad.data)`` or ``p -= lr * p.grad``, and hooks scale the
gradient (``lambda g: g * 2``). So a sparse gradient scales by a Python number (``* / - mul_ div_ *= /=``, rows and
layout kept; ``grad.data`` a new gradient on the same arrays, ``mul_`` / ``zero_`` into new arrays but ``div_`` into
the same ones, all as torch's: so ``grad.data.zero_()`` / ``grad.data.mul_(s)`` leave ``grad`` as it was, and
``grad.data.div_(s)`` changes it), and a dense tensor's ``add sub add_ sub_ +=
-=`` add alpha times each listed value into its entry (repeats one by one; entries not listed untouched, -0.0 and
all, whatever alpha); anything else on a sparse gradient still raises naming ``.to_dense()``.

Coefficients and scalars are multiples of 1/4 (and inf, nan, -0), so sums are exact in any order and the values
must agree bit for bit (torch adds the rows of an uncoalesced gradient one by one; ours sums them first).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_sparse_adam import COEF, DTYPES, close, same_grad

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
warnings.filterwarnings("ignore", message="Sparse invariant checks")  # torch's note on building sparse tensors

SETTINGS = settings(max_examples=40, deadline=None)
SCALARS = st.integers(-8, 8).map(lambda i: i / 4) | st.sampled_from([-0.0, 0, 3, np.inf, -np.inf, np.nan])
LIBS = {"torch": torch, "ours": tg}


@st.composite
def lookups(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A (n, d) table, a batch of row numbers (repeats; maybe none) and the output gradient's coefficients."""
    n, d = draw(st.integers(1, 6)), draw(st.integers(1, 3))
    dtype = draw(DTYPES)
    idx = np.array(draw(st.lists(st.integers(0, n - 1), max_size=6)), np.int64)
    table = np.array(draw(st.lists(COEF, min_size=n * d, max_size=n * d)), dtype).reshape(n, d)
    coef = np.array(draw(st.lists(COEF, min_size=idx.size * d, max_size=idx.size * d)), dtype).reshape(-1, d)
    return table, idx, coef


def sparse_grad(lib: Any, table: np.ndarray, idx: np.ndarray, coef: np.ndarray,
                hook: Callable[[Any], Any] | None = None) -> Any:
    """The weight of a sparse embedding lookup of ``idx`` whose output gradient is ``coef``, after backward."""
    w = lib.tensor(table.copy(), requires_grad=True)
    if hook is not None:
        w.register_hook(hook)
    (lib.nn.functional.embedding(lib.from_numpy(idx.copy()), w, sparse=True) * lib.from_numpy(coef.copy())).sum() \
        .backward()
    return w


SCALINGS: dict[str, Callable[[Any, float], Any]] = {
    "mul": lambda g, s: g * s, "rmul": lambda g, s: s * g, "div": lambda g, s: g / s, "neg": lambda g, s: -g,
    "mul_": lambda g, s: g.mul_(s), "div_": lambda g, s: g.div_(s), "data.mul_": lambda g, s: g.data.mul_(s),
    "data.div_": lambda g, s: g.data.div_(s), "data.zero_": lambda g, s: g.data.zero_(),
    "zero_": lambda g, s: g.zero_(),
}


@pytest.mark.parametrize("name", SCALINGS)
@SETTINGS
@given(case=lookups(), s=SCALARS)
def test_sparse_gradient_scales_by_a_number_as_torch(name: str, case: tuple, s: float) -> None:
    grads = [sparse_grad(lib, *case).grad for lib in LIBS.values()]
    with np.errstate(all="ignore"):
        outs = [SCALINGS[name](g, s) for g in grads]
    same_grad(outs[1], outs[0])
    same_grad(grads[1], grads[0])  # the in-place ones changed the gradient itself, the others did not


@SETTINGS
@given(case=lookups(), s=SCALARS)
def test_augmented_scaling_keeps_the_gradient_object(case: tuple, s: float) -> None:
    for op in ("__imul__", "__itruediv__"):
        grads = [sparse_grad(lib, *case).grad for lib in LIBS.values()]
        with np.errstate(all="ignore"):
            outs = [getattr(g, op)(s) for g in grads]
        assert outs[1] is grads[1] and outs[0] is grads[0]
        same_grad(grads[1], grads[0])


@SETTINGS
@given(case=lookups(), s=SCALARS)
def test_a_hook_scaling_the_sparse_gradient(case: tuple, s: float) -> None:
    with np.errstate(all="ignore"):
        grads = [sparse_grad(lib, *case, hook=lambda g, s=s: g * s).grad for lib in LIBS.values()]
    same_grad(grads[1], grads[0])


UPDATES: dict[str, Callable[[Any, Any, Any, float], Any]] = {  # (lib, dense p, sparse g, lr)
    "add_alpha": lambda lib, p, g, lr: p.add_(g, alpha=-lr),
    "add_deprecated": lambda lib, p, g, lr: p.add_(-lr, g),
    "sub_scaled": lambda lib, p, g, lr: p.sub_(lr * g),
    "sub_alpha": lambda lib, p, g, lr: p.sub_(g, alpha=lr),
    "isub": lambda lib, p, g, lr: p.__isub__(lr * g),
    "iadd": lambda lib, p, g, lr: p.__iadd__(g),
    "add": lambda lib, p, g, lr: lib.add(p, g, alpha=lr),
    "sub_method": lambda lib, p, g, lr: p.sub(g, alpha=lr),
}


@pytest.mark.parametrize("name", UPDATES)
@SETTINGS
@given(case=lookups(), lr=SCALARS)
def test_dense_update_by_a_sparse_gradient_as_torch(name: str, case: tuple, lr: float) -> None:
    outs = []
    for lib in LIBS.values():
        w = sparse_grad(lib, *case)
        with lib.no_grad(), warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # the deprecated overload's warning (both warn)
            out = UPDATES[name](lib, w.data, w.grad.data, lr)
        outs.append((out, w))
    (theirs, tw), (ours, ow) = outs
    assert not ours.is_sparse
    same_bits(ours, theirs)
    same_bits(ow.detach(), tw.detach())  # in place: the table itself; out of place: the table as it was


def same_bits(ours: Any, theirs: Any) -> None:
    """Equal values, dtypes and shapes, and the same sign of every zero (an entry not listed keeps its -0.0)."""
    close(ours, theirs)
    a, b = ours.numpy(), theirs.detach().numpy()
    assert (np.signbit(a) == np.signbit(b))[~np.isnan(b)].all()


def test_deprecated_add_with_a_sparse_gradient_warns_as_torch() -> None:
    w = sparse_grad(tg, np.ones((3, 2), np.float32), np.array([2, 2]), np.ones((2, 2), np.float32))
    with pytest.warns(UserWarning, match="deprecated"):
        w.data.add_(-0.5, w.grad.data)
    assert w.detach().numpy().tolist() == [[1, 1], [1, 1], [0, 0]]


def test_dense_plus_sparse_matrix_as_torch() -> None:
    """The same entry point takes torch.sparse's COO matrices (sparse.py): dense +- sparse is dense."""
    i, v = np.array([[0, 1, 1], [2, 0, 0]]), np.array([1.0, 2.0, 0.5], np.float32)
    outs = [lib.ones(2, 3).sub_(lib.sparse_coo_tensor(lib.from_numpy(i), lib.from_numpy(v), (2, 3)), alpha=2)
            for lib in LIBS.values()]
    close(outs[1], outs[0])


def test_what_still_refuses_names_to_dense() -> None:
    """Scaling by anything but a Python number, and sparse +- dense, raise (never a wrong value)."""
    g = sparse_grad(tg, np.ones((3, 2), np.float32), np.array([2, 0]), np.ones((2, 2), np.float32)).grad
    for expr in (lambda: g * tg.ones(3, 2), lambda: g * g, lambda: g / tg.tensor(2.0), lambda: g.mul_(tg.ones(1)),
                 lambda: g * "2", lambda: 2 / g, lambda: g - g, lambda: g.add_(g), lambda: g + tg.ones(3, 2) * 0 - g):
        with pytest.raises((TypeError, AttributeError), match="to_dense"):
            expr()
    assert g.to_dense().numpy().tolist() == [[1, 1], [0, 0], [1, 1]]  # nothing changed it
    for lib in LIBS.values():  # a dense tensor of another size: RuntimeError naming the sizes, as torch's
        grad = sparse_grad(lib, np.ones((3, 2), np.float32), np.array([2, 0]), np.ones((2, 2), np.float32)).grad
        with pytest.raises(RuntimeError, match="size"):
            lib.ones(4, 2).add_(grad, alpha=2)


@pytest.mark.gpu
def test_sparse_scaling_and_dense_update_on_the_fake_gpu() -> None:
    """Under the strict fake cupy (TINYGRAD_ADAM_FAKE_GPU=1): the scaled gradient and the update stay on the GPU."""
    w = tg.tensor(np.ones((4, 2), np.float32), requires_grad=True, device="cuda")
    (tg.nn.functional.embedding(tg.tensor([1, 3, 1], device="cuda"), w, sparse=True) * 2).sum().backward()
    g = w.grad * 0.5
    assert g.device == w.device and g._nnz() == 3
    with tg.no_grad():
        w.data.add_(g, alpha=-1.0)
    assert w.device == g.device
    assert w.detach().cpu().numpy().tolist() == [[1, 1], [-1, -1], [1, 1], [0, 0]]
