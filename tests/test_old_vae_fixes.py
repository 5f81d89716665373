"""What the old pytorch/examples VAE (``tests/torch_style/old_vae.py``) met, against torch 2.13: its earliest KLD is a
chain of in-place ops on pow's output, ``mu.pow(2).add_(logvar.exp()).mul_(-1).add_(1).add_(logvar)``, which torch
differentiates (pow with a number exponent saves its input, not its output) and we refused. Probing the same idiom
(an op's output written in place, then backward) over other ops found div reading its own output for the divisor's
gradient while marked as not reading it: ``y = x / (x.abs() + 1); y.mul_(-1)`` (softsign, normalize, rsqrt = 1 /
sqrt) gave a silently wrong gradient; and a few ops whose backward reads only their input (softplus, logsigmoid,
clamp, remainder, xlogy, the hard activations, shrinks, threshold) refused it. Each gradient is compared with
torch's for the same function written out of place (nan, inf, -0.0 and empty inputs included); where a backward
does need its output (exp, sigmoid, tanh, pow with a tensor exponent that requires grad), both raise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_torch_movement_names import FINITE, SPECIAL, arrays

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

POSITIVE = st.floats(0.05, 50.0)
Op = Callable[[Any, Any, Any], Any]
# name: (op of two tensors a, b of the same shape, whether b takes part)
OPS: dict[str, tuple[Op, bool]] = {
    "pow_number": (lambda L, a, b: a.pow(2), False),
    "pow_fn_number": (lambda L, a, b: L.pow(a, 3), False),
    "pow_operator": (lambda L, a, b: a ** -1.5, False),
    "div": (lambda L, a, b: a / b, True),
    "rdiv": (lambda L, a, b: 2.0 / b, True),
    "softsign": (lambda L, a, b: L.nn.functional.softsign(a), False),
    "normalize": (lambda L, a, b: L.nn.functional.normalize(a, dim=-1), False),
    "rsqrt": (lambda L, a, b: a.rsqrt(), False),
    "softplus": (lambda L, a, b: L.nn.functional.softplus(a), False),
    "logsigmoid": (lambda L, a, b: L.nn.functional.logsigmoid(a), False),
    "clamp": (lambda L, a, b: a.clamp(-1.0, 1.0), False),
    "remainder": (lambda L, a, b: a % b, True),
    "xlogy": (lambda L, a, b: L.xlogy(a, b), True),
    "hardswish": (lambda L, a, b: L.nn.functional.hardswish(a), False),
    "hardsigmoid": (lambda L, a, b: L.nn.functional.hardsigmoid(a), False),
    "mish": (lambda L, a, b: L.nn.functional.mish(a), False),
    "softshrink": (lambda L, a, b: L.nn.functional.softshrink(a), False),
    "hardshrink": (lambda L, a, b: L.nn.functional.hardshrink(a), False),
    "threshold": (lambda L, a, b: L.nn.functional.threshold(a, 0.5, -2.0), False),
}
# torch's gradient at nan differs between its vectorised and scalar loops (by size) for these: nan left out
NAN_BY_PATH = {"hardswish", "hardshrink", "softshrink", "hardsigmoid", "threshold"}


def grads(lib: Any, op: Op, a: np.ndarray, b: np.ndarray, inplace: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Gradients for a, b of sum(op(a, b) * -1.5 + 1) with the scaling written in place (``mul_`` / ``add_`` on the
    op's output) or not."""
    ta, tb = (lib.tensor(x, requires_grad=True) for x in (a, b))
    y = op(lib, ta, tb)
    y = y.mul_(-1.5).add_(1) if inplace else y * -1.5 + 1
    y.sum().backward()
    return tuple(None if t.grad is None else t.grad.numpy() for t in (ta, tb))  # type: ignore[return-value]


@pytest.mark.parametrize("name", sorted(OPS))
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_writing_into_an_output_keeps_torchs_gradient(data: Any, name: str) -> None:
    op, binary = OPS[name]
    a = data.draw(arrays(elements=FINITE | SPECIAL.filter(lambda v: v == v)) if name in NAN_BY_PATH else arrays())
    b = data.draw(hnp.arrays(np.float64, a.shape, elements=POSITIVE | st.sampled_from([np.inf, np.nan])), label="b")
    ours, theirs = grads(tg, op, a, b, inplace=True), grads(torch, op, a, b, inplace=False)
    for got, want in zip(ours, theirs if binary else theirs[:1]):
        assert (got is None) == (want is None), name
        if want is not None:  # (atol: softplus(-710)'s gradient is a denormal in torch, 0 here; normalize's
            # 1/n - x sum(x) / n^3 cancels terms of its largest entries' size: [0, 1e-5, 766.6] leaves 2.6e-11)
            atol = 1e-300
            if name == "normalize":  # (terms of the size of the largest entry, or of 1 / |x|: 1e-300 at x = 1e300)
                inverse = 1 / np.abs(a[np.isfinite(a) & (a != 0)])
                atol = max(atol, 1e-13 * max(np.nanmax(np.abs(want), initial=0.0), inverse.max(initial=0.0)))
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=atol, equal_nan=True, err_msg=name)


def old_kld(lib: Any, mu: np.ndarray, logvar: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The 2017 example's KLD, all in place on pow's output: (value, d/dmu, d/dlogvar)."""
    m, lv = lib.tensor(mu, requires_grad=True), lib.tensor(logvar, requires_grad=True)
    KLD_element = m.pow(2).add_(lv.exp()).mul_(-1).add_(1).add_(lv)
    KLD = lib.sum(KLD_element).mul_(-0.5)
    KLD.backward()
    return KLD.item(), m.grad.numpy(), lv.grad.numpy()


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_old_in_place_kld_matches_torch(data: Any) -> None:
    mu = data.draw(arrays())
    logvar = data.draw(hnp.arrays(np.float64, mu.shape, elements=st.floats(-30, 30) | st.sampled_from([-0.0, np.nan])))
    ours, theirs = old_kld(tg, mu, logvar), old_kld(torch, mu, logvar)
    with np.errstate(all="ignore"):  # the sum's terms are ~1 + |logvar| + mu^2 + exp(logvar), and they can cancel
        terms = 1 + np.abs(logvar) + mu * mu + np.exp(logvar)  # (at mu = 0, logvar = -1.2e-7 to 3.5e-15, where
        atol = 4 * np.finfo(np.float64).eps * float(np.sum(terms[np.isfinite(terms)]))  # the two were 5.6e-17 apart)
        step = 4 * np.finfo(np.float64).eps * float(np.max(terms[np.isfinite(terms)], initial=1.0))
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12, atol=atol, equal_nan=True)
    for got, want in zip(ours[1:], theirs[1:]):  # (logvar's, -(1 - exp(logvar)) / 2, cancels alike)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=step, equal_nan=True)


@pytest.mark.parametrize("name", ["exp", "sigmoid", "tanh", "pow_tensor_exponent", "sqrt"])
def test_writing_into_an_output_its_backward_needs_raises_as_torch(name: str) -> None:
    ops = {"exp": lambda L, a: a.exp(), "sigmoid": lambda L, a: a.sigmoid(), "tanh": lambda L, a: a.tanh(),
           "pow_tensor_exponent": lambda L, a: a.pow(L.tensor([2.0, 3.0], requires_grad=True)),
           "sqrt": lambda L, a: a.sqrt()}
    for lib in (tg, torch):
        a = lib.tensor([0.5, 2.0], requires_grad=True)
        y = ops[name](lib, a)
        y.mul_(-1)
        with pytest.raises(RuntimeError, match=r"modified by an in.?place operation"):
            y.sum().backward()



def test_volatile_attribute_is_false_and_warns_as_torch() -> None:
    """0.3 code reads ``x.volatile`` (``if not x.volatile: ...``) and sets it: torch 2.13 warns, it is always False."""
    for lib, gone in ((tg, "volatile is gone"), (torch, "volatile was removed")):  # each library's words
        x = lib.autograd.Variable(lib.ones(2), requires_grad=True)
        with pytest.warns(UserWarning, match=gone):
            assert x.volatile is False
        with pytest.warns(UserWarning, match=gone + ".*(no effect|does nothing)"):
            x.volatile = True
        with pytest.warns(UserWarning):
            assert x.volatile is False and x.requires_grad
