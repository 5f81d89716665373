"""What porting openai/sparse_autoencoder (``tests/torch_style/sparse_autoencoder.py``) found, each against torch.

- ``torch._foreach_mul_`` / ``_foreach_lerp_`` / ``_foreach_div`` (train.py's gradient clipping and EmaModel) did
  not exist: AttributeError (loud). Added as ``ops/foreach.py`` (add / sub / mul / div and lerp, in place and not;
  a number, a 0-d tensor, a list of numbers or a list of tensors as the operand; each a loop of the tensor op, so
  dtype rules, in-place refusals and autograd are the single op's), registered in ``methods.FUNCTIONS``.
- ``Module.state_dict(destination, prefix, keep_vars)`` positionally (model.py's ``state_dict`` overrides call
  ``super().state_dict(destination, prefix, keep_vars)``) raised TypeError (loud): ours took keywords only. torch
  still accepts the positional form with a FutureWarning; ours now does the same (``nn/module.Module.state_dict``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

LIBS = (torch, tinygrad_adam)
F32_MAX = float(np.finfo(np.float32).max)
VALUES = st.floats(-F32_MAX, F32_MAX, allow_nan=False, width=32) | st.sampled_from([0.0, -0.0, 1e-38, np.inf, -np.inf])
SHAPES = st.sampled_from([(), (0,), (3,), (2, 3), (1, 0, 2)])


@st.composite
def float_lists(draw: st.DrawFn) -> list[np.ndarray]:
    """1 to 3 float32 arrays, 0-d and empty ones among them, with extreme values."""
    shapes = draw(st.lists(SHAPES, min_size=1, max_size=3))
    return [np.array(draw(st.lists(VALUES, min_size=int(np.prod(s)), max_size=int(np.prod(s)))),
                     dtype=np.float32).reshape(s) for s in shapes]


def operand(lib: object, kind: str, arrays: list[np.ndarray], scalars: list[float]) -> object:
    """The second operand of a foreach op in ``lib``: a number, a 0-d tensor, numbers or tensors, one per tensor."""
    if kind == "number":
        return scalars[0]
    if kind == "0-d":
        return lib.tensor(np.float32(scalars[0]))
    if kind == "numbers":
        return scalars[: len(arrays)]
    return [lib.tensor(np.full(a.shape, s, np.float32)) for a, s in zip(arrays, scalars)]


def same(got: object, want: object) -> None:
    """Two lists / tuples of tensors: the same container type, dtypes, shapes and values (NaN where torch's)."""
    assert type(got) is type(want) and len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == np.dtype(str(w.dtype).removeprefix("torch.")) and tuple(g.shape) == tuple(w.shape)
        np.testing.assert_array_equal(g.detach().numpy(), w.detach().numpy())


@settings(max_examples=60, deadline=None)
@given(float_lists(), st.lists(VALUES, min_size=3, max_size=3), st.sampled_from(["add", "sub", "mul", "div"]),
       st.sampled_from(["number", "0-d", "numbers", "tensors"]), st.booleans(),
       st.sampled_from([None, 2.0, -0.5]))
def test_foreach_binary_like_torch(arrays: list[np.ndarray], scalars: list[float], op: str, kind: str,
                                   in_place: bool, alpha: float | None) -> None:
    """The four ops on lists with 0-d and empty tensors and extreme values; ``alpha`` with a list of tensors."""
    kwargs = {"alpha": alpha} if alpha is not None and kind == "tensors" and op in ("add", "sub") else {}
    results = []
    for lib in LIBS:
        tensors = [lib.tensor(a.copy()) for a in arrays]
        fn = getattr(lib, f"_foreach_{op}{'_' if in_place else ''}")
        with np.errstate(all="ignore"):
            out = fn(tensors, operand(lib, kind, arrays, scalars), **kwargs)
        results.append(tensors if in_place else out)
        if in_place:
            assert isinstance(out, list) and all(o is t for o, t in zip(out, tensors))
    same(results[1], results[0] if in_place else tuple(results[0]))


@settings(max_examples=40, deadline=None)
@given(float_lists(), st.floats(-2, 2, width=32) | st.just(0.5), st.sampled_from(["number", "0-d", "tensors"]),
       st.booleans())
def test_foreach_lerp_like_torch(arrays: list[np.ndarray], weight: float, kind: str, in_place: bool) -> None:
    results = []
    for lib in LIBS:
        tensors = [lib.tensor(a.copy()) for a in arrays]
        ends = [lib.tensor(np.flip(a).copy()) for a in arrays]
        fn = lib._foreach_lerp_ if in_place else lib._foreach_lerp
        with np.errstate(all="ignore"):
            out = fn(tensors, ends, operand(lib, kind, arrays, [weight] * 3))
        results.append(tensors if in_place else out)
    same(results[1], results[0] if in_place else tuple(results[0]))


def test_foreach_lerp_into_ema_weights_keeps_torchs_graph() -> None:
    """train.py's EmaModel: ``_foreach_lerp_`` of zeros toward Parameters outside no_grad puts the EMA weights in
    the graph (torch: requires_grad, a grad_fn); their gradient reaches the parameters; the bias-corrected
    ``_foreach_div`` follows; and the clipping's ``_foreach_mul_`` by a 0-d tensor scales the .grads in place."""
    out = []
    for lib in LIBS:
        params = [lib.nn.Parameter(lib.tensor([1.0, -2.0, 3.0])), lib.nn.Parameter(lib.tensor([[0.5], [4.0]]))]
        ema = [lib.zeros_like(p, requires_grad=False) for p in params]
        lib._foreach_lerp_(ema, list(params), 1 - 0.9)
        lib._foreach_lerp_(ema, list(params), 1 - 0.9)
        assert all(e.requires_grad and e.grad_fn is not None for e in ema)
        corrected = lib._foreach_div(ema, 1 - 0.9**2)
        sum(c.sum() for c in corrected).backward()
        grads = [p.grad for p in params]
        norm = lib.tensor(5.0)
        lib._foreach_mul_(grads, 1.0 / lib.clamp(norm, min=1.0))
        out.append([e.detach().numpy() for e in ema] + [c.detach().numpy() for c in corrected]
                   + [g.numpy() for g in grads])
    for got, want in zip(out[1], out[0], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-7)


@pytest.mark.parametrize("call", ["empty", "length", "int_in_place"])
def test_foreach_refusals_like_torch(call: str) -> None:
    for lib in LIBS:
        with pytest.raises(RuntimeError):
            if call == "empty":
                lib._foreach_mul_([], 2.0)
            elif call == "length":
                lib._foreach_mul_([lib.ones(2)], [1.0, 2.0])
            else:
                lib._foreach_mul_([lib.arange(3)], 0.5)  # a float result into an int64 tensor


def positional_module(lib: object, n_args: int) -> object:
    """A module whose ``state_dict`` override passes the first ``n_args`` of (destination, prefix, keep_vars) to
    ``super().state_dict`` positionally, then adds a name, as model.py's Autoencoder does."""
    class Sub(lib.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pre_bias = lib.nn.Parameter(lib.tensor([1.0, 2.0]))
            self.lin = lib.nn.Linear(2, 2, bias=False)
            self.register_buffer("stats", lib.zeros(2, dtype=lib.long))

        def state_dict(self, destination: dict | None = None, prefix: str = "", keep_vars: bool = False) -> dict:
            sd = super().state_dict(*(destination, prefix, keep_vars)[:n_args])
            sd[prefix + "activation"] = "TopK"
            return sd

    return Sub()


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 3), st.sampled_from(["", "enc."]), st.booleans(), st.booleans())
def test_state_dict_positional_args_like_torch(n_args: int, prefix: str, keep_vars: bool, own_destination: bool
                                               ) -> None:
    """``state_dict(destination, prefix, keep_vars)`` given positionally (the first ``n_args``), as model.py's
    overrides pass them to ``super()``: torch's FutureWarning, keys, values and whether Parameters are kept."""
    results = []
    for lib in LIBS:
        module = positional_module(lib, n_args)
        with lib.no_grad():
            module.lin.weight.copy_(lib.tensor([[1.0, 2.0], [3.0, 4.0]]))
        dest = {"kept": 1} if own_destination else None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sd = module.state_dict(dest, prefix, keep_vars)
        assert (sd is dest) == (own_destination and n_args > 0)
        # the category and whether it is the by-position deprecation (the sentences are each library's)
        results.append(([(w.category.__name__, "Positional args" in str(w.message) or "by position" in str(w.message))
                         for w in caught],
                        {k: (v if isinstance(v, (str, int)) else (v.detach().numpy().tolist(),
                                                                   isinstance(v, lib.nn.Parameter)))
                         for k, v in sd.items()}))
    assert results[1] == results[0]
