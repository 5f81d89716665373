"""torch.func and torch.autograd.functional against torch 2.13: functional_call, grad, grad_and_value, vjp, jacrev,
jacfwd, hessian, jvp, vmap, stack_module_state; jacobian, hessian, vjp, jvp, hvp, vhp (values, dtypes, shapes,
structures of tuples / dicts, argnums, has_aux, empty and 0-d tensors, float32 and float64, errors).

``agree(f, *arrays)`` (test_torch_movement_names) calls ``f(lib, *tensors)`` in both libraries, so one lambda runs
``lib.func.grad(...)`` in torch and here. With ``grads=False`` the inputs do not require grad (first order); with
``grads=True`` a gradient is backpropagated through the transform's result too, which is second order: those tests
need ``autograd.grad(create_graph=True)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_torch_movement_names import agree, arrays, dim_of, raises

import tinygrad_adam as tg
from tinygrad_adam.autograd import functional as AF

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
pytest.importorskip("torch.func")

second_order = pytest.mark.skipif(not AF.supports_create_graph(),
                                  reason="needs autograd.grad(create_graph=True), not in this build yet")
DTYPES = st.sampled_from([np.float32, np.float64])
ERRORS = (ValueError, IndexError, TypeError, RuntimeError, NotImplementedError)

# small functions of one tensor, written once for both libraries
UNARY = {
    "sin*x": lambda u: u.sin() * u,
    "exp": lambda u: u.exp(),
    "tanh": lambda u: u.tanh(),
    "square": lambda u: u * u,
    "mean": lambda u: u.mean(),
    "sum_sq": lambda u: (u ** 2).sum(),
}
MILD = st.floats(-3, 3, width=32)  # exp / tanh / products stay finite: a transform is compared, not overflow


def tol(dtype: Any) -> float:
    return 1e-5 if dtype == np.float32 else 1e-12


def without_cancellation(name: str, x: np.ndarray) -> np.ndarray:
    """``x`` for UNARY[name], with -1e300 made -2 for the mean: beside 1e300 it cancels, and the sum of the rest then
    depends on the order of the adds (mean([[1e300, -1e300, 1], [1, 1, 1]]) is 4 / 6 here and exactly, 2 / 6 in
    torch's vectorised sum; a hypothesis run found it)."""
    return np.where(x == -1e300, -2.0, x).astype(x.dtype) if name == "mean" else x


def items(d: dict[str, Any]) -> tuple[Any, ...]:
    """A dict's values in key order (agree flattens tuples, not dicts)."""
    return tuple(d[k] for k in sorted(d))


# ---------------------------------------------------------------- grad / grad_and_value
@settings(max_examples=40, deadline=None)
@given(x=arrays(), name=st.sampled_from(sorted(UNARY)), dtype=DTYPES)
def test_grad_of_small_functions(x: np.ndarray, name: str, dtype: type) -> None:
    fn = UNARY[name]
    x = without_cancellation(name, x.astype(dtype))
    agree(lambda lib, t: lib.func.grad(lambda u: fn(u).sum())(t), x, grads=False, rtol=tol(dtype))
    agree(lambda lib, t: lib.func.grad_and_value(lambda u: fn(u).sum())(t), x, grads=False, rtol=tol(dtype))


@settings(max_examples=30, deadline=None)
@given(data=st.data(), dtype=DTYPES, argnums=st.sampled_from([0, 1, -1, (0,), (1, 0), (0, 1)]))
def test_grad_argnums_has_aux_matmul(data: st.DataObject, dtype: type, argnums: Any) -> None:
    n, k, m = (data.draw(st.integers(0, 3)) for _ in range(3))
    a = data.draw(hnp.arrays(dtype, (n, k), elements=MILD))
    b = data.draw(hnp.arrays(dtype, (k, m), elements=MILD))

    def f(u: Any, v: Any) -> Any:
        y = (u @ v).tanh()
        return y.sum(), (y, u.sum())

    agree(lambda lib, s, t: lib.func.grad(f, argnums=argnums, has_aux=True)(s, t), a, b, grads=False,
          rtol=tol(dtype))
    agree(lambda lib, s, t: lib.func.grad_and_value(f, argnums=argnums, has_aux=True)(s, t), a, b, grads=False,
          rtol=tol(dtype))


@settings(max_examples=20, deadline=None)
@given(x=arrays(elements=MILD), dtype=DTYPES)
def test_grad_of_pytree_arguments_and_kwargs(x: np.ndarray, dtype: type) -> None:
    x = x.astype(dtype)

    def f(tree: Any, scale: float = 1.0) -> Any:
        return ((tree["a"] * tree["b"][0]).sin().sum() + tree["b"][1].sum()) * scale

    def call(lib: Any, t: Any) -> Any:
        g = lib.func.grad(f)({"a": t, "b": [t * 2, t + 1]}, scale=3.0)
        return g["a"], g["b"][0], g["b"][1]

    agree(call, x, grads=False, rtol=tol(dtype))


def test_grad_gives_zeros_for_an_unused_or_constant_input_and_keeps_dtypes() -> None:
    for lib in (torch, tg):
        x = lib.ones(2, 3, dtype=lib.float64)
        y = lib.ones(4, dtype=lib.float32)
        gx, gy = lib.func.grad(lambda a, b: (a * 2).sum(), argnums=(0, 1))(x, y)
        assert gy.dtype == lib.float32 and tuple(gy.shape) == (4,) and float(gy.abs().sum()) == 0.0
        assert float(lib.func.grad(lambda a, lib=lib: lib.tensor(1.0))(y).abs().sum()) == 0.0
        assert not gx.requires_grad


@pytest.mark.parametrize("bad", [
    lambda lib: lib.func.grad(lambda u: u * 2)(lib.ones(3)),  # not a scalar
    lambda lib: lib.func.grad(lambda u: (u * 2).sum().reshape(1))(lib.ones(3)),  # one element, but 1-d
    lambda lib: lib.func.grad(lambda u: 3.0)(lib.ones(3)),  # not a Tensor
    lambda lib: lib.func.grad(lambda u: (u.sum(), u.sum()))(lib.ones(3)),  # a tuple without has_aux
    lambda lib: lib.func.grad(lambda u: u.sum(), has_aux=True)(lib.ones(3)),  # has_aux but no (out, aux)
    lambda lib: lib.func.grad(lambda u, v: u.sum(), argnums=2)(lib.ones(3), lib.ones(3)),
    lambda lib: lib.func.grad(lambda u, v: u.sum(), argnums=(0, 0))(lib.ones(3), lib.ones(3)),
    lambda lib: lib.func.grad(lambda u, v: u.sum(), argnums=())(lib.ones(3), lib.ones(3)),
    lambda lib: lib.func.grad(lambda u, v: u.sum(), argnums=[0])(lib.ones(3), lib.ones(3)),
    lambda lib: lib.func.grad(lambda u: u.sum())(3.0),  # not a Tensor to differentiate
    lambda lib: lib.func.grad(lambda u: u.sum())(lib.ones(3, dtype=lib.int64)),  # integers
    lambda lib: lib.func.grad(lambda: lib.ones(()))(),  # nothing to differentiate
])
def test_grad_refuses_what_torch_refuses(bad: Any) -> None:
    raises(bad)


# ---------------------------------------------------------------- vjp / jacrev
@settings(max_examples=30, deadline=None)
@given(x=arrays(elements=MILD), dtype=DTYPES, name=st.sampled_from(sorted(UNARY)), has_aux=st.booleans())
def test_vjp_single_and_tuple_outputs(x: np.ndarray, dtype: type, name: str, has_aux: bool) -> None:
    fn = UNARY[name]
    x = x.astype(dtype)

    def call(lib: Any, t: Any) -> Any:
        def f(u: Any, w: Any) -> Any:
            out = (fn(u), (u * w).cos())
            return (out, u.sum()) if has_aux else out

        w = t.detach() + 1
        res = lib.func.vjp(f, t, w, has_aux=has_aux)
        out, vjp_fn = res[0], res[1]
        ct = tuple(lib.tensor(np.cos(np.arange(o.numel()) + 0.5).reshape(tuple(o.shape)), dtype=o.dtype) for o in out)
        first, again = vjp_fn(ct), vjp_fn(ct)  # vjp_fn may be called again
        assert isinstance(first, tuple) and len(first) == 2
        return (*out, *first, *again, *res[2:])

    agree(call, x, grads=False, rtol=tol(dtype))


@settings(max_examples=30, deadline=None)
@given(data=st.data(), dtype=DTYPES, argnums=st.sampled_from([0, 1, (0, 1), (1,)]), has_aux=st.booleans())
def test_jacrev_structures(data: st.DataObject, dtype: type, argnums: Any, has_aux: bool) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    a = data.draw(hnp.arrays(dtype, shape, elements=MILD))
    b = data.draw(hnp.arrays(dtype, shape, elements=MILD))

    def f(u: Any, v: Any) -> Any:
        out = ((u * v).sin(), (u - v).sum(), u.exp())
        return (out, v * 2) if has_aux else out

    def call(lib: Any, s: Any, t: Any) -> Any:
        res = lib.func.jacrev(f, argnums=argnums, has_aux=has_aux)(s, t)
        return res

    agree(call, a, b, grads=False, rtol=tol(dtype))


@settings(max_examples=20, deadline=None)
@given(x=arrays(max_dims=2, elements=MILD), dtype=DTYPES)
def test_jacrev_of_a_dict_argument_and_output(x: np.ndarray, dtype: type) -> None:
    x = x.astype(dtype)

    def call(lib: Any, t: Any) -> Any:
        jac = lib.func.jacrev(lambda d: {"p": d["a"].tanh(), "q": (d["a"] * d["b"]).sum()})({"a": t, "b": t + 1})
        return items(jac["p"]) + items(jac["q"])

    agree(call, x, grads=False, rtol=tol(dtype))


def test_vjp_and_jacrev_refuse_what_torch_refuses() -> None:
    raises(lambda lib: lib.func.vjp(lambda u: 3.0, lib.ones(2)))
    raises(lambda lib: lib.func.vjp(lambda u: (), lib.ones(2)))
    raises(lambda lib: lib.func.vjp(lambda u: (u > 0), lib.ones(2)))  # integer / bool output
    raises(lambda lib: lib.func.vjp(lambda u: (u, u), lib.ones(2))[1](lib.ones(2)))  # cotangents' structure
    raises(lambda lib: lib.func.vjp(lambda u: u * 2, lib.ones(2))[1](lib.ones(3)))  # cotangent's shape
    raises(lambda lib: lib.func.vjp(lambda u: u, lib.ones(2), has_aux=True))
    raises(lambda lib: lib.func.jacrev(lambda u: [], argnums=0)(lib.ones(2)))
    raises(lambda lib: lib.func.jacrev(lambda u: u, chunk_size=0)(lib.ones(2)))


# ---------------------------------------------------------------- vmap
@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=DTYPES)
def test_vmap_in_dims_out_dims(data: st.DataObject, dtype: type) -> None:
    batch = data.draw(st.integers(1, 3))
    x = data.draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3),
                             elements=MILD))
    dx = data.draw(st.integers(0, x.ndim))
    xb = np.stack([x * (i + 1) for i in range(batch)], axis=dx)  # batched along dx
    y = data.draw(hnp.arrays(dtype, x.shape, elements=MILD))
    out0 = dim_of(data, x.ndim + 1)
    in_dims = data.draw(st.sampled_from([(dx - xb.ndim if data.draw(st.booleans()) else dx, None), (dx, (None, None))]))
    # (torch 2.13 expands an unbatched output at any out_dim but 0 to a garbage size: 0 for that one)
    out_dims = data.draw(st.sampled_from([(out0, None), (out0, 0), 0]))

    def f(u: Any, w: Any) -> Any:
        w = w[0] if isinstance(w, tuple) else w
        return (u * w).sin() + u, w.sum()

    def call(lib: Any, s: Any, t: Any) -> Any:
        w = (t, t) if isinstance(in_dims[1], tuple) else t
        outs = lib.func.vmap(f, in_dims=in_dims, out_dims=out_dims)(s, w)
        return outs

    agree(call, xb, y, grads=False, rtol=tol(dtype))


@settings(max_examples=20, deadline=None)
@given(data=st.data(), dtype=DTYPES)
def test_vmap_of_grad_and_nested_vmap(data: st.DataObject, dtype: type) -> None:
    b, n = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))  # (a mapped size 0: see below)
    x = data.draw(hnp.arrays(dtype, (b, 2, n), elements=MILD))
    agree(lambda lib, t: lib.func.vmap(lib.func.grad(lambda u: (u.sin() * u).sum()))(t), x, grads=False,
          rtol=tol(dtype))
    agree(lambda lib, t: lib.func.vmap(lib.func.vmap(lambda u: u.exp().sum(), in_dims=1), in_dims=0)(t), x,
          grads=False, rtol=tol(dtype))
    agree(lambda lib, t: lib.func.vmap(lambda u: u @ u.T, in_dims=2, out_dims=-1)(t), x, grads=False,
          rtol=tol(dtype))


@settings(max_examples=20, deadline=None)
@given(x=arrays(min_dims=1, min_side=1, elements=MILD))
def test_vmap_is_differentiable(x: np.ndarray) -> None:
    agree(lambda lib, t: lib.func.vmap(lambda u: (u * u).sum())(t), x, grads=True)


def test_vmap_over_an_empty_dimension_raises_not_implemented() -> None:
    """torch runs f once on an empty batch; this loop runs it zero times, so cannot know the result's shape."""
    assert tuple(torch.func.vmap(lambda u: u * 2)(torch.ones(0, 3)).shape) == (0, 3)
    with pytest.raises(NotImplementedError, match="size 0"):
        tg.func.vmap(lambda u: u * 2)(tg.ones(0, 3))


def test_vmap_none_arguments_and_outputs() -> None:
    for lib in (torch, tg):  # None is a leaf: mapped with in_dim 0 it is an error, with None passed on
        said = "cannot vmap over non-Tensor" if lib is torch else "only Tensors can be mapped"
        with pytest.raises(ValueError, match=said):
            lib.func.vmap(lambda a, n: a)(lib.ones(3, 2), None)
        out = lib.func.vmap(lambda a, n: (a * 2, n, [a.sum()]), in_dims=(0, None), out_dims=(0, None, 0))(
            lib.ones(3, 2), None)
        assert tuple(out[0].shape) == (3, 2) and out[1] is None and tuple(out[2][0].shape) == (3,)
        with pytest.raises(RuntimeError):
            lib.func.vjp(lambda a: None, lib.ones(2))


def test_vmap_dict_inputs_and_kwargs() -> None:
    def call(lib: Any) -> Any:
        d = {"w": lib.arange(6.0).reshape(2, 3), "b": lib.arange(3.0)}
        return lib.func.vmap(lambda p, k=1.0: (p["w"] * p["b"] * k).sum(), in_dims=({"w": 0, "b": None},))(d, k=2.0)
    np.testing.assert_array_equal(call(tg).numpy(), call(torch).numpy())


@pytest.mark.parametrize("bad", [
    lambda lib: lib.func.vmap(lambda a, b: a + b)(lib.ones(2, 3), lib.ones(3, 3)),  # sizes 2 and 3
    lambda lib: lib.func.vmap(lambda a: a, in_dims=None)(lib.ones(2)),  # nothing mapped
    lambda lib: lib.func.vmap(lambda a: a)(),  # no inputs
    lambda lib: lib.func.vmap(lambda a: a, in_dims=2)(lib.ones(2, 3)),  # dim out of range
    lambda lib: lib.func.vmap(lambda a: a, in_dims=[0])(lib.ones(2, 3)),  # a list in_dims
    lambda lib: lib.func.vmap(lambda a, b: a, in_dims=(0, 0, 0))(lib.ones(2), lib.ones(2)),  # wrong structure
    lambda lib: lib.func.vmap(lambda a: a, in_dims=(1.5,))(lib.ones(2)),
    lambda lib: lib.func.vmap(lambda a, b: a, in_dims=(0, 0))(lib.ones(2), 3.0),  # mapping a float
    lambda lib: lib.func.vmap(lambda a: 3.0)(lib.ones(2)),  # a float output with out_dim 0
    lambda lib: lib.func.vmap(lambda a: a, out_dims=None)(lib.arange(2.0)),  # batched output, out_dim None
    lambda lib: lib.func.vmap(lambda a: a, out_dims=(0, 0))(lib.ones(2)),  # out_dims of the wrong structure
    lambda lib: lib.func.vmap(lambda a: a, out_dims=2.0)(lib.ones(2)),
    lambda lib: lib.func.vmap(lambda a: a, out_dims=3)(lib.ones(2, 2)),  # out_dim out of range
    lambda lib: lib.func.vmap(lambda a: a + lib.rand(3))(lib.ones(2, 3)),  # random in "error" mode
    lambda lib: lib.func.vmap(lambda a: a.bernoulli())(lib.ones(2, 3) / 2),
    lambda lib: lib.func.vmap(lambda a: a, randomness="sometimes")(lib.ones(2)),
    lambda lib: lib.func.vmap(lambda a: a, chunk_size=0)(lib.ones(2)),
])
def test_vmap_refuses_what_torch_refuses(bad: Any) -> None:
    raises(bad)


def test_vmap_error_types_and_messages_as_torch() -> None:
    for lib in (torch, tg):
        said = "same size in the mapped dimension, got sizes" if lib is torch else "mapped dimension's size:"
        with pytest.raises(ValueError, match=said + " \\[2, 3\\]"):
            lib.func.vmap(lambda a, b: a + b)(lib.ones(2, 3), lib.ones(3, 3))
        with pytest.raises(RuntimeError, match="randomness error mode"):
            lib.func.vmap(lambda a, lib=lib: a + lib.randn(3))(lib.ones(2, 3))
        none = "at least one Tensor to vmap over" if lib is torch else "nothing to map over"  # each library's words
        with pytest.raises(ValueError, match=none):
            lib.func.vmap(lambda a: a, in_dims=(None,))(lib.ones(2))


def test_vmap_unbatched_outputs_with_out_dims_none_and_randomness() -> None:
    for lib in (torch, tg):
        c = lib.arange(3.0)
        out, const = lib.func.vmap(lambda a, c=c: (a * 2, c), out_dims=(0, None))(lib.ones(4, 3))
        assert tuple(out.shape) == (4, 3) and const is c
        x = lib.zeros(5, 1000)
        same = lib.func.vmap(lambda a, lib=lib: a + lib.rand(1000), randomness="same")(x)
        diff = lib.func.vmap(lambda a, lib=lib: a + lib.rand(1000), randomness="different")(x)
        assert bool((same == same[0]).all()) and not bool((diff == diff[0]).all())


# ---------------------------------------------------------------- functional_call / stack_module_state
def _linears(dtype: Any) -> tuple[Any, Any]:
    ours = tg.nn.Linear(3, 2).to(dtype=dtype)
    theirs = torch.nn.Linear(3, 2).to(torch.float32 if dtype == np.float32 else torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.numpy()))
        theirs.bias.copy_(torch.from_numpy(ours.bias.numpy()))
    return ours, theirs


@settings(max_examples=25, deadline=None)
@given(data=st.data(), dtype=DTYPES)
def test_functional_call_linear_tanh_with_grad_over_parameters(data: st.DataObject, dtype: type) -> None:
    n = data.draw(st.integers(1, 4))  # (vmap over an empty batch raises here: see below)
    x = data.draw(hnp.arrays(dtype, (n, 3), elements=MILD))
    w = data.draw(hnp.arrays(dtype, (2, 3), elements=MILD))
    b = data.draw(hnp.arrays(dtype, (2,), elements=MILD))
    ours, theirs = _linears(dtype)
    for lib, model in ((tg, ours), (torch, theirs)):
        own = {k: v.detach().clone() for k, v in model.named_parameters()}
        params = {"weight": lib.tensor(w), "bias": lib.tensor(b)}

        def loss(p: Any, inp: Any, model: Any = model, lib: Any = lib) -> Any:
            return lib.func.functional_call(model, p, (inp,)).tanh().sum()

        out = lib.func.functional_call(model, params, lib.tensor(x))
        g = lib.func.grad(loss)(params, lib.tensor(x))
        jac = lib.func.jacrev(lambda p, inp, model=model, lib=lib: lib.func.functional_call(model, p, inp).tanh())(
            params, lib.tensor(x))
        per_example = lib.func.vmap(lib.func.grad(loss), in_dims=(None, 0))(params, lib.tensor(x))
        results = [out, g["weight"], g["bias"], jac["weight"], jac["bias"], per_example["weight"]]
        data_ = [r.detach().numpy() for r in results]
        for k, v in model.named_parameters():  # the module's own parameters are back
            assert v.detach().numpy().tobytes() == own[k].numpy().tobytes()
        if lib is tg:
            mine = data_
        else:
            for a, e in zip(mine, data_):
                assert a.dtype == e.dtype and a.shape == e.shape
                np.testing.assert_allclose(a, e, rtol=tol(dtype), atol=tol(dtype))


def test_functional_call_restores_after_an_error_and_checks_keys() -> None:
    for lib in (torch, tg):
        model = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.Linear(2, 1))
        before = model[0].weight
        with pytest.raises((RuntimeError, ValueError)):  # (the library's linear raises ValueError for shapes)
            lib.func.functional_call(model, {"0.weight": lib.ones(5, 5)}, (lib.ones(1, 2),))
        assert model[0].weight is before
        with pytest.raises(RuntimeError, match="Missing key"):
            lib.func.functional_call(model, {"0.weight": lib.ones(2, 2)}, (lib.ones(1, 2),), strict=True)
        with pytest.raises(RuntimeError, match="Unexpected key"):
            params = {k: v.detach() for k, v in model.named_parameters()}
            lib.func.functional_call(model, {**params, "2.weight": lib.ones(1)}, (lib.ones(1, 2),), strict=True)
        with pytest.raises(ValueError):
            lib.func.functional_call(model, ({"0.bias": lib.ones(2)}, {"0.bias": lib.ones(2)}), (lib.ones(1, 2),))
        with pytest.raises(ValueError):
            lib.func.functional_call(model, 3, (lib.ones(1, 2),))
        with pytest.raises(TypeError):
            lib.func.functional_call(model, {"0.bias": 3.0}, (lib.ones(1, 2),))
        out = lib.func.functional_call(model, ({"0.weight": lib.zeros(2, 2)}, {"0.bias": lib.ones(2)}),
                                       lib.ones(1, 2))
        expected = model[1](lib.ones(1, 2))
        np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-6)
        assert model[0].weight is before


def test_functional_call_tied_weights_and_buffers() -> None:
    for lib in (torch, tg):
        shared = lib.nn.Linear(2, 2, bias=False)
        model = lib.nn.Sequential(shared, shared)
        w = lib.eye(2) * 3
        tied = lib.func.functional_call(model, {"0.weight": w}, (lib.ones(1, 2),))
        np.testing.assert_allclose(tied.detach().numpy(), [[9.0, 9.0]])
        bn = lib.nn.BatchNorm1d(2)
        mean = lib.zeros(2)
        state = {"running_mean": mean}
        lib.func.functional_call(bn, state, (lib.tensor([[1.0, 2.0], [3.0, 4.0]]),))
        np.testing.assert_allclose(mean.numpy(), [0.2, 0.3], rtol=1e-6)  # updated in place, as torch's
        assert float(bn.running_mean.abs().sum()) == 0.0


def test_stack_module_state_and_ensemble_vmap() -> None:
    ours = [tg.nn.Linear(3, 2) for _ in range(3)]
    params, buffers = tg.func.stack_module_state(ours)
    assert params["weight"].shape == (3, 2, 3) and params["weight"].requires_grad and params["weight"].is_leaf
    assert buffers == {}
    x = tg.randn(4, 3)
    out = tg.func.vmap(lambda p, b, inp: tg.func.functional_call(ours[0], (p, b), (inp,)), in_dims=(0, 0, None))(
        params, buffers, x)
    for i, m in enumerate(ours):
        np.testing.assert_allclose(out[i].detach().numpy(), m(x).detach().numpy(), rtol=1e-6)
    for lib in (torch, tg):
        with pytest.raises(RuntimeError):
            lib.func.stack_module_state([])
        with pytest.raises(RuntimeError):
            lib.func.stack_module_state([lib.nn.Linear(1, 1), lib.nn.Linear(1, 1).eval()])
        with pytest.raises(RuntimeError):
            lib.func.stack_module_state([lib.nn.Linear(1, 1), lib.nn.Tanh()])


# ---------------------------------------------------------------- autograd.functional
def _af(lib: Any) -> Any:
    return lib.autograd.functional


@settings(max_examples=30, deadline=None)
@given(data=st.data(), dtype=DTYPES, tuple_in=st.booleans(), tuple_out=st.booleans(), vectorize=st.booleans())
def test_jacobian_structures(data: st.DataObject, dtype: type, tuple_in: bool, tuple_out: bool,
                             vectorize: bool) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    a = data.draw(hnp.arrays(dtype, shape, elements=MILD))
    b = data.draw(hnp.arrays(dtype, shape, elements=MILD))

    def call(lib: Any, s: Any, t: Any) -> Any:
        def f(*ins: Any) -> Any:
            u, v = ins if tuple_in else (ins[0], t.detach())
            return ((u * v).sin(), (u + 1).sum()) if tuple_out else (u * v).sin()
        return _af(lib).jacobian(f, (s, t) if tuple_in else s, vectorize=vectorize)

    agree(call, a, b, grads=False, rtol=tol(dtype))


@settings(max_examples=30, deadline=None)
@given(data=st.data(), dtype=DTYPES, tuple_in=st.booleans(), tuple_out=st.booleans())
def test_autograd_functional_vjp(data: st.DataObject, dtype: type, tuple_in: bool, tuple_out: bool) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    a = data.draw(hnp.arrays(dtype, shape, elements=MILD))
    v = data.draw(hnp.arrays(dtype, shape, elements=MILD))

    def call(lib: Any, s: Any, vv: Any) -> Any:
        def f(*ins: Any) -> Any:
            u = ins[0]
            return (u.exp(), u.tanh() * 2) if tuple_out else u.exp()
        return _af(lib).vjp(f, (s, s * 2) if tuple_in else s, (vv, vv) if tuple_out else vv)

    agree(call, a, v, grads=False, rtol=tol(dtype))
    for lib in (torch, tg):  # v None: one one-element output
        _, g = _af(lib).vjp(lambda u: (u * u).sum(), lib.tensor([1.0, 2.0]))
        np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])


@pytest.mark.parametrize("bad", [
    lambda lib: lib.autograd.functional.vjp(lambda u: u * 2, lib.ones(2)),  # v None, two elements
    lambda lib: lib.autograd.functional.vjp(lambda u: u * 2, lib.ones(2), lib.ones(3)),
    lambda lib: lib.autograd.functional.vjp(lambda u: (u, u), lib.ones(2), lib.ones(2)),
    lambda lib: lib.autograd.functional.vjp(lambda u: u * 2, 3.0, lib.ones(2)),
    lambda lib: lib.autograd.functional.vjp(lambda u: 3.0, lib.ones(2)),
    lambda lib: lib.autograd.functional.vjp(lambda u: lib.ones(2), lib.ones(2), lib.ones(2), strict=True),
    lambda lib: lib.autograd.functional.jacobian(lambda u: lib.ones(2), lib.ones(2), strict=True),
    lambda lib: lib.autograd.functional.jacobian(lambda u, v: u * 2, (lib.ones(2), lib.ones(2)), strict=True),
    lambda lib: lib.autograd.functional.jacobian(lambda u: u * 2, lib.ones(2), strategy="forward-mode"),
    lambda lib: lib.autograd.functional.jacobian(lambda u: u * 2, lib.ones(2), strict=True, vectorize=True),
    lambda lib: lib.autograd.functional.jacobian(lambda u: u * 2, lib.ones(2, dtype=lib.int64)),
    lambda lib: lib.autograd.functional.jacobian(lambda u: u[:0], lib.ones(2)),  # an empty output, unvectorized
])
def test_autograd_functional_refuses_what_torch_refuses(bad: Any) -> None:
    raises(bad)


def test_autograd_functional_error_types_as_torch() -> None:
    for lib in (torch, tg):
        with pytest.raises(TypeError, match="must be either a Tensor or a tuple of Tensors" if lib is torch
                           else "must be one Tensor or a tuple of them"):
            _af(lib).jacobian(lambda u: u, (lib.ones(2), 3))
        with pytest.raises(RuntimeError, match="independent of input 1"):
            _af(lib).jacobian(lambda u, v: u * 2, (lib.ones(2), lib.ones(2)), strict=True)
        with pytest.raises(RuntimeError, match="v can only be None" if lib is torch else "v may be omitted only"):
            _af(lib).vjp(lambda u: u * 2, lib.ones(2))
        with pytest.raises(AssertionError, match="Expected strategy" if lib is torch else "unknown strategy"):
            _af(lib).jacobian(lambda u: u * 2, lib.ones(2), strategy="sideways")
        out = _af(lib).jacobian(lambda u: u * 2, lib.ones(2), vectorize=True, strategy="forward-mode")
        np.testing.assert_array_equal(out.numpy(), 2 * np.eye(2))


# ---------------------------------------------------------------- second order (create_graph)
@second_order
@settings(max_examples=25, deadline=None)
@given(x=arrays(elements=MILD), dtype=DTYPES, name=st.sampled_from(["sin*x", "exp", "tanh", "square"]))
def test_second_order_autograd_functional(x: np.ndarray, dtype: type, name: str) -> None:
    fn = UNARY[name]
    x = x.astype(dtype)
    v = np.cos(np.arange(x.size) + 0.5).reshape(x.shape).astype(dtype)
    r = tol(dtype) * 10
    agree(lambda lib, t, w: _af(lib).hessian(lambda u: fn(u).sum(), t), x, v, grads=False, rtol=r)
    agree(lambda lib, t, w: _af(lib).hvp(lambda u: fn(u).sum(), t, w), x, v, grads=False, rtol=r)
    agree(lambda lib, t, w: _af(lib).vhp(lambda u: fn(u).sum(), t, w), x, v, grads=False, rtol=r)
    agree(lambda lib, t, w: _af(lib).jvp(fn, t, w), x, v, grads=False, rtol=r)
    agree(lambda lib, t, w: _af(lib).hessian(lambda u, s: (fn(u) * s).sum(), (t, w)), x, v, grads=False, rtol=r)
    agree(lambda lib, t, w: _af(lib).hvp(lambda u, s: (fn(u) * s.tanh()).sum(), (t, w), (w, t)), x, v, grads=False,
          rtol=r)
    agree(lambda lib, t, w: _af(lib).vhp(lambda u, s: (fn(u) * s.tanh()).sum(), (t, w), (w, t)), x, v, grads=False,
          rtol=r)
    agree(lambda lib, t, w: _af(lib).jvp(lambda u, s: (fn(u), u * s), (t, w), (w, t)), x, v, grads=False, rtol=r)
    agree(lambda lib, t, w: _af(lib).jacobian(fn, t, create_graph=True), x, v, grads=True, rtol=r)
    agree(lambda lib, t, w: _af(lib).vjp(fn, t, w, create_graph=True), x, v, grads=True, rtol=r)


@second_order
@settings(max_examples=25, deadline=None)
@given(x=arrays(elements=MILD), dtype=DTYPES, name=st.sampled_from(["sin*x", "exp", "tanh", "square"]))
def test_second_order_func(x: np.ndarray, dtype: type, name: str) -> None:
    fn = UNARY[name]
    x = x.astype(dtype)
    v = np.cos(np.arange(x.size) + 0.5).reshape(x.shape).astype(dtype)
    r = tol(dtype) * 10
    agree(lambda lib, t, w: lib.func.hessian(lambda u: fn(u).sum())(t), x, v, grads=False, rtol=r)
    agree(lambda lib, t, w: lib.func.jvp(fn, (t,), (w,)), x, v, grads=False, rtol=r)
    agree(lambda lib, t, w: lib.func.jacfwd(fn)(t), x, v, grads=False, rtol=r)
    agree(lambda lib, t, w: lib.func.jvp(lambda u, s: ((fn(u), u * s), s.sum()), (t, w), (w, t), has_aux=True), x, v,
          grads=False, rtol=r)
    agree(lambda lib, t, w: lib.func.grad(lib.func.grad(lambda u: fn(u).sum()).__call__)(t)
          if x.ndim == 0 else lib.func.jacrev(lib.func.grad(lambda u: fn(u).sum()))(t), x, v, grads=False, rtol=r)
    agree(lambda lib, t, w: lib.func.grad(lambda u: fn(u).sum())(t), x, v, grads=True, rtol=r)  # backward through
    agree(lambda lib, t, w: lib.func.jacrev(fn)(t), x, v, grads=True, rtol=r)


@second_order
@pytest.mark.parametrize("bad", [
    lambda lib: lib.autograd.functional.hvp(lambda u: (u * u).sum(), lib.ones(2)),  # v None, two elements
    lambda lib: lib.autograd.functional.vhp(lambda u: u * u, lib.ones(2), lib.ones(2)),  # not one element
    lambda lib: lib.autograd.functional.hessian(lambda u: (u, u), lib.ones(1)),
    lambda lib: lib.autograd.functional.hessian(lambda u: u * 2, lib.ones(2)),
    lambda lib: lib.autograd.functional.hessian(lambda u: (u * 2).sum(), lib.ones(2), strict=True),  # linear
    lambda lib: lib.autograd.functional.hvp(lambda u: (u * 2).sum(), lib.ones(2), lib.ones(2), strict=True),
    lambda lib: lib.autograd.functional.jvp(lambda u: u * 2, lib.ones(2), lib.ones(3)),
    lambda lib: lib.func.jvp(lambda u: u * 2, lib.ones(2), lib.ones(2)),  # primals not a tuple
    lambda lib: lib.func.jvp(lambda u: u * 2, (lib.ones(2),), (lib.ones(2), lib.ones(2))),
    lambda lib: lib.func.jvp(lambda u: lib.ones(2), (lib.ones(2),), (lib.ones(2),), strict=True),
])
def test_second_order_refuses_what_torch_refuses(bad: Any) -> None:
    raises(bad)


@second_order
def test_nested_grad_keeps_its_arguments_apart() -> None:
    for lib in (torch, tg):  # d/dx [d/dy (x * y) at y = x] = d/dx x = 1, not 2
        x = lib.tensor(3.0, dtype=lib.float64)
        g = lib.func.grad(lambda a, lib=lib: lib.func.grad(lambda b: a * b)(a))(x)
        assert float(g) == 1.0


def test_second_order_raises_without_create_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where autograd.grad lacks create_graph, the transforms that need it raise instead of dropping a graph."""
    monkeypatch.setattr(AF, "supports_create_graph", lambda: False)
    monkeypatch.setattr(tg.func, "supports_create_graph", lambda: False)
    x = tg.tensor([1.0, 2.0])
    for call in (lambda: AF.hessian(lambda u: u.sum(), x), lambda: AF.hvp(lambda u: u.sum(), x, x),
                 lambda: AF.vhp(lambda u: u.sum(), x, x), lambda: AF.jvp(lambda u: u, x, x),
                 lambda: tg.func.jvp(lambda u: u, (x,), (x,)), lambda: tg.func.hessian(lambda u: u.sum())(x),
                 lambda: tg.func.grad(lambda u: u.sum())(tg.tensor([1.0], requires_grad=True)),
                 lambda: AF.jacobian(lambda u: u, x, create_graph=True)):
        with pytest.raises(NotImplementedError, match="create_graph"):
            call()
    assert float(tg.func.grad(lambda u: (u * u).sum())(x).sum()) == 6.0  # first order still works
    with tg.no_grad():  # under no_grad, as torch, nothing outside is recorded: first order suffices
        assert float(tg.func.grad(lambda u: (u * u).sum())(tg.tensor([1.0], requires_grad=True))) == 2.0


def test_import_paths() -> None:
    import importlib
    import subprocess
    import sys

    fresh = ("import tinygrad_adam.autograd.functional as AF, tinygrad_adam._autograd.functional as B, "
             "tinygrad_adam as tg; assert AF is B is tg.autograd.functional and tg.func.vjp")
    subprocess.run([sys.executable, "-c", fresh], check=True)
    assert importlib.import_module("tinygrad_adam.autograd.functional") is AF is tg.autograd.functional
    assert importlib.import_module("tinygrad_adam._autograd.functional") is AF  # never a second copy
    assert tg.func is importlib.import_module("tinygrad_adam.func")
    for lib in (torch, tg):  # torch.vmap is torch.func.vmap
        np.testing.assert_array_equal(lib.vmap(lambda u: u.sum(), in_dims=1)(lib.ones(2, 3)).numpy(), [2.0] * 3)
    assert set(AF.__all__) <= set(dir(torch.autograd.functional))
    assert set(tg.func.__all__) <= set(dir(torch.func))


# ---------------------------------------------------------------- linearize, replace_all_batch_norm_modules_
@settings(max_examples=40, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(UNARY)), dtype=DTYPES)
def test_linearize_value_and_jvp_as_torch(data: st.DataObject, name: str, dtype: Any) -> None:
    x = without_cancellation(name, data.draw(arrays()).astype(dtype))
    tangents = [data.draw(hnp.arrays(dtype, x.shape, elements=MILD)) for _ in range(2)]
    f = UNARY[name]

    def both(lib: Any, u: Any, t0: Any, t1: Any) -> Any:
        out, jvp_fn = lib.func.linearize(f, u)
        return out, jvp_fn(t0), jvp_fn(t1)  # one linearization, two tangents

    agree(both, x, *tangents, grads=False, rtol=tol(dtype))


def test_linearize_keeps_an_outer_graph_and_refuses_misshaped_tangents() -> None:
    for lib in (tg, torch):
        w = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        x = lib.tensor([1.0, 2.0, 3.0])
        out, jvp_fn = lib.func.linearize(lambda a, w=w: (a * w).sin(), x)
        assert out.requires_grad and jvp_fn(lib.ones(3)).requires_grad
        plain, plain_fn = lib.func.linearize(lib.sin, x)
        assert not plain.requires_grad
        with pytest.raises(RuntimeError, match=r"tangent:?\s?0 with shape|tangent 0 has shape \(4,\), its primal"):
            plain_fn(lib.ones(4))
        with pytest.raises(RuntimeError):
            plain_fn(lib.ones(3), lib.ones(3))
    two = [lib.func.linearize(lambda a, b: (a * b, a + b), lib.tensor([1.0, 2.0]), lib.tensor([3.0, -1.0]))[1](
        lib.ones(2), lib.zeros(2)) for lib in (tg, torch)]
    assert [t.tolist() for t in two[0]] == [t.tolist() for t in two[1]] == [[3.0, -1.0], [1.0, 1.0]]


def test_replace_all_batch_norm_modules_as_torch() -> None:
    def model(lib: Any) -> Any:
        lib.manual_seed(0)
        return lib.nn.Sequential(lib.nn.BatchNorm1d(3), lib.nn.Sequential(lib.nn.BatchNorm2d(3)),
                                 lib.nn.InstanceNorm1d(3, track_running_stats=True))

    theirs = torch.func.replace_all_batch_norm_modules_(model(torch))
    ours = model(tg)
    assert tg.func.replace_all_batch_norm_modules_(ours) is ours
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for mine, want in ((ours[0], theirs[0]), (ours[1][0], theirs[1][0]), (ours[2], theirs[2])):
        assert mine.track_running_stats == want.track_running_stats
        assert (mine.running_mean is None) == (want.running_mean is None)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    ours.eval(), theirs.eval()  # batch statistics even in eval: nothing is tracked
    np.testing.assert_allclose(ours[0](tg.tensor(x)).numpy(), theirs[0](torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
