"""What the neural ODE / CNF program (``tests/torch_style/neural_ode.py``) met, against torch 2.13: its float64
``torch.autograd.gradcheck`` of the divergence. ``torch.autograd.gradcheck`` did not exist (AttributeError; only our
own ``tinygrad_adam.gradcheck``, which takes a sequence only, a Tensor output only, rtol 1e-4, and casts float32
inputs to float64, so a float32 check torch fails passed). Our check also ran ``backward()``, so every Parameter
the checked function closes over got a ``.grad`` (torch's check leaves them as they were: silently polluted
gradients before the next optimizer step); with no input requiring grad it raised backward's RuntimeError where
torch raises a ValueError; ``GradcheckError`` was not a RuntimeError (``except RuntimeError`` missed it); and
``torch.autograd.gradgradcheck`` was missing too.

Mutations (each reverted after seeing the tests here fail):
- ``autograd.__getattr__`` without its ``"gradcheck"`` branch: every torch-API test fails (AttributeError).
- ``gradcheck`` back to ``total.backward()`` and ``x.grad``: test_closed_over_parameters_keep_their_grad fails.
- ``autograd_gradcheck`` passing ``in_float64=True``: test_float32_inputs_warn_and_fail_as_torch fails.
- ``autograd_gradcheck``'s ``rtol`` default 1e-4: test_wrong_backward_verdict_matches_torch fails (off by 8e-4).
- ``GradcheckError(AssertionError)`` alone: test_wrong_backward_verdict_matches_torch fails (not a RuntimeError).
- the ``if not wanted: raise ValueError`` lines removed: test_no_input_requiring_grad_raises_as_torch fails.
- ``autograd_gradgradcheck``'s vjp with ``create_graph=False``: test_gradgradcheck_passes_as_torch fails."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

FUNCS = {"tanh": lambda lib, x: lib.tanh(x) * x, "square": lambda lib, x: x * x,
         "tuple": lambda lib, x: (lib.sin(x), (x ** 3).sum()), "exp": lambda lib, x: lib.exp(x).cumsum(0)}


def scaled_double(lib, factor: float):
    """x * 2 whose backward is off by ``factor``: a custom autograd.Function."""

    class Double(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * (2 * factor)

    return Double.apply


def verdict(lib, fn, inputs) -> str:
    """True / False from ``raise_exception=False``, and whether the raising call raises a RuntimeError."""
    result = lib.autograd.gradcheck(fn, inputs, raise_exception=False)
    try:
        lib.autograd.gradcheck(fn, inputs)
        raised = "no error"
    except RuntimeError:
        raised = "RuntimeError"
    return f"{result}, {raised}"


@settings(deadline=None, max_examples=30)
@given(st.sampled_from(sorted(FUNCS)), st.lists(st.floats(-2, 2), min_size=1, max_size=4), st.booleans())
def test_verdict_matches_torch(name: str, values: list[float], one_tensor: bool) -> None:
    """Correct float64 gradients pass in both (one Tensor or a tuple of inputs, a Tensor or a tuple of outputs)."""
    x = np.array(values)
    got = [verdict(lib, lambda t, lib=lib: FUNCS[name](lib, t),
                   (lambda t: t if one_tensor else (t,))(lib.tensor(x, dtype=lib.float64, requires_grad=True)))
           for lib in (tg, torch)]
    assert got[0] == got[1] == "True, no error"


@settings(deadline=None, max_examples=30)
@given(st.lists(st.floats(0.5, 3), min_size=1, max_size=4), st.sampled_from([1 + 2e-4, 1 - 8e-4, 1.01, 0.9, 3.0]))
def test_wrong_backward_verdict_matches_torch(values: list[float], factor: float) -> None:
    """A backward off by a relative 2e-4..8e-4 passes torch's default rtol 1e-3; by 1% or more it fails, raising a
    RuntimeError (GradcheckError) in both."""
    x = np.array(values)
    got = [verdict(lib, scaled_double(lib, factor), lib.tensor(x, dtype=lib.float64, requires_grad=True))
           for lib in (tg, torch)]
    assert got[0] == got[1] == ("True, no error" if abs(factor - 1) < 1e-3 else "False, RuntimeError")


def test_float32_inputs_warn_and_fail_as_torch() -> None:
    """torch's check runs in the inputs' dtype: float32 finite differences with eps 1e-6 are rounding noise."""
    for lib in (tg, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert lib.autograd.gradcheck(lambda t: t * 2, (x,), raise_exception=False) is False
        assert [w.category for w in caught] == [UserWarning]
        said = "input 0 requires grad but is not float64" if lib is tg else "Input #0 requires gradient and is not"
        assert said in str(caught[0].message)


@settings(deadline=None, max_examples=15)
@given(st.integers(1, 3), st.integers(1, 3))
def test_closed_over_parameters_keep_their_grad(n: int, width: int) -> None:
    """The checked function closes over a Linear layer: after the check its weight and bias have no .grad in
    either library (and the input's own .grad stays None)."""
    rng = np.random.default_rng(n * 10 + width)
    weight, bias, x = rng.standard_normal((width, 2)), rng.standard_normal(width), rng.standard_normal((n, 2))
    for lib in (tg, torch):
        layer = lib.nn.Linear(2, width).double()
        layer.load_state_dict({"weight": lib.tensor(weight), "bias": lib.tensor(bias)})
        inp = lib.tensor(x, requires_grad=True)
        assert lib.autograd.gradcheck(lambda t, layer=layer, lib=lib: lib.tanh(layer(t)), inp)
        assert layer.weight.grad is None and layer.bias.grad is None and inp.grad is None


@settings(deadline=None, max_examples=20)
@given(st.sampled_from(sorted(FUNCS)), st.lists(st.floats(-2, 2), min_size=1, max_size=3), st.booleans())
def test_gradgradcheck_passes_as_torch(name: str, values: list[float], given_grad_outputs: bool) -> None:
    """``torch.autograd.gradgradcheck`` (also missing) of correct second derivatives: True in both, with drawn or
    given ``grad_outputs``."""
    x = np.array(values)
    for lib in (tg, torch):
        inp = lib.tensor(x, dtype=lib.float64, requires_grad=True)
        out = FUNCS[name](lib, inp)
        shapes = [o.shape for o in ((out,) if isinstance(out, lib.Tensor) else out)]
        grads = tuple(lib.tensor(np.full(s, 0.7), requires_grad=True) for s in shapes) if given_grad_outputs else None
        assert lib.autograd.gradgradcheck(lambda t, lib=lib: FUNCS[name](lib, t), (inp,), grads)


def test_no_input_requiring_grad_raises_as_torch() -> None:
    for lib in (tg, torch):
        with pytest.raises(ValueError, match="no input has requires_grad=True" if lib is tg
                           else "at least one input tensor to require gradient"):
            lib.autograd.gradcheck(lambda t: t * 2, lib.tensor([1.0], dtype=lib.float64))
