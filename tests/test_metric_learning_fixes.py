"""What the metric-learning program (``tests/torch_style/metric_learning.py``) needed, against torch 2.13: torch's
deprecated overloads that lead with the scalar factors, which older GitHub code still writes and torch still runs
(with a UserWarning): open-reid's ``dist.addmm_(1, -2, x, y.t())``, the old optimizers' ``exp_avg.add_(1 - beta1,
grad)`` / ``exp_avg_sq.addcmul_(1 - beta2, grad, grad)`` / ``p.addcdiv_(-step, exp_avg, denom)``, and
``torch.addmm(beta, input, alpha, mat1, mat2)``. Values, dtypes, shapes and gradients (nan, inf, -0.0, empty and 0-d
tensors), in place and not, method and function forms; the calls torch refuses still raise. And what the add-products
(addmm, addmv, addr, baddbmm, addbmm) got wrong silently around them: addr with alpha = 0 dropped its outer product
(torch multiplies, so a nan or inf in it gives nan), integer tensors with a float factor of integer value (alpha=2.0)
gave a float result (torch: int64; its addr raises), bool tensors were computed (int64 results with a bool factor)
where torch raises."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_torch_movement_names import agree, arrays

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SCALARS = st.sampled_from([0.5, -2.0, 1, -1, 0, 0.0, -0.0, np.inf, np.nan, 3]) | st.floats(-10, 10)
FACTORS = st.sampled_from([0.5, -2.0, 1, -1, 0, 0.0, -0.0, 3]) | st.floats(-10, 10)  # (beta, alpha: finite)
# (no values near the float64 range's ends: torch's addcdiv writes the gradient in the divisor z as -value t / z^2,
# nan or inf where z^2 under- or overflows; ours, -(value t / z) / z, stays finite there, whatever the overload)
ELEMENTS = (st.floats(-1e3, 1e3).filter(lambda v: v == 0 or abs(v) > 1e-100)
            | st.sampled_from([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan]))

ELEMENTWISE: dict[str, Callable[..., Any]] = {  # (lib, s, x, y, z): the old overload
    "add": lambda lib, s, x, y, z: x.add(s, y),
    "add_": lambda lib, s, x, y, z: (x * 1).add_(s, y),
    "sub": lambda lib, s, x, y, z: x.sub(s, y),
    "sub_": lambda lib, s, x, y, z: (x * 1).sub_(s, y),
    "torch.add": lambda lib, s, x, y, z: lib.add(x, s, y),
    "torch.sub": lambda lib, s, x, y, z: lib.sub(x, s, y),
    "addcmul": lambda lib, s, x, y, z: x.addcmul(s, y, z),
    "addcmul_": lambda lib, s, x, y, z: (x * 1).addcmul_(s, y, z),
    "addcdiv": lambda lib, s, x, y, z: x.addcdiv(s, y, z),
    "addcdiv_": lambda lib, s, x, y, z: (x * 1).addcdiv_(s, y, z),
    "torch.addcmul": lambda lib, s, x, y, z: lib.addcmul(x, s, y, z),
    "torch.addcdiv": lambda lib, s, x, y, z: lib.addcdiv(x, s, y, z),
    "0-d scalar": lambda lib, s, x, y, z: (x * 1).add_(lib.tensor(s), y),
    "0-d value": lambda lib, s, x, y, z: lib.addcmul(x, lib.tensor(s), y, z),
}


@pytest.mark.filterwarnings("ignore:This overload of")
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@settings(max_examples=15, deadline=None)
@given(data=st.data(), s=SCALARS)
def test_scalar_first_overloads_of_elementwise_ops_match_torch(name: str, data: st.DataObject, s: float) -> None:
    x = data.draw(arrays(elements=ELEMENTS))
    y, z = (data.draw(hnp.arrays(np.float64, x.shape, elements=ELEMENTS)) for _ in range(2))
    agree(lambda lib, x, y, z: ELEMENTWISE[name](lib, s, x, y, z), x, y, z)


@st.composite
def products(draw: st.DrawFn, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(input, a, b) for ``name``: matrices, vectors or batches of sizes 0-3, nan / inf / -0.0 among finite values."""
    b, n, k, m = (draw(st.integers(0, 3)) for _ in range(4))
    shapes = {"addmm": ((n, m), (n, k), (k, m)), "addmv": ((n,), (n, k), (k,)), "addr": ((n, m), (n,), (m,)),
              "baddbmm": ((b, n, m), (b, n, k), (b, k, m)), "addbmm": ((n, m), (b, n, k), (b, k, m))}[name]
    elements = st.floats(-3, 3) | st.sampled_from([0.0, -0.0, np.inf, np.nan])
    return tuple(draw(hnp.arrays(np.float64, shape, elements=elements)) for shape in shapes)


PRODUCT_FORMS: dict[str, Callable[..., Any]] = {  # (lib, op, beta, alpha, input, a, b)
    "method(beta, alpha, a, b)": lambda lib, op, beta, alpha, c, a, b: getattr(c, op)(beta, alpha, a, b),
    "method_(beta, alpha, a, b)": lambda lib, op, beta, alpha, c, a, b: getattr(c * 1, f"{op}_")(beta, alpha, a, b),
    "method(beta, a, b)": lambda lib, op, beta, alpha, c, a, b: getattr(c, op)(beta, a, b),
    "method_(beta, a, b)": lambda lib, op, beta, alpha, c, a, b: getattr(c * 1, f"{op}_")(beta, a, b),
    "torch.op(beta, input, alpha, a, b)": lambda lib, op, beta, alpha, c, a, b: getattr(lib, op)(beta, c, alpha, a, b),
    "torch.op(beta, input, a, b)": lambda lib, op, beta, alpha, c, a, b: getattr(lib, op)(beta, c, a, b),
    "method_(0-d beta, 0-d alpha, a, b)": lambda lib, op, beta, alpha, c, a, b: getattr(c * 1, f"{op}_")(
        lib.tensor(beta, dtype=lib.float64), lib.tensor(alpha, dtype=lib.float64), a, b),
}


@pytest.mark.filterwarnings("ignore:This overload of")
@pytest.mark.parametrize("op", ["addmm", "addmv", "addr", "baddbmm", "addbmm"])
@settings(max_examples=30, deadline=None)
@given(data=st.data(), form=st.sampled_from(sorted(PRODUCT_FORMS)), beta=FACTORS, alpha=FACTORS)
def test_scalar_first_overloads_of_add_products_match_torch(op: str, data: st.DataObject, form: str, beta: float,
                                                            alpha: float) -> None:
    c, a, b = data.draw(products(op))
    # torch's baddbmm drops alpha * product for alpha = 0 in its BLAS path (larger batches) but not in its own loop
    # (small ones: a nan or inf in a or b gives nan there); ours always drops it, as addmm, addmv and addbmm do
    finite = np.isfinite(a).all() and np.isfinite(b).all()
    assume(not (op == "baddbmm" and alpha == 0 and not finite))
    # ours scales g by alpha before the product's backward, torch's after (README): a subnormal alpha g against an
    # infinite operand is 0 x inf = nan here, +-inf there; and torch's BLAS scales an operand by alpha before the
    # product, so alpha = 2.2e-308 times a = 4e-20 underflows to 0 there and meets b = inf as nan, where ours is
    # alpha (a b) = inf (the limit; full run, no seed: a random draw), or where alpha a underflows past the
    # subnormals to 0 (alpha = 3e-108, a = 1.7e-275: hunt 50017)
    tiny = np.finfo(np.float64).tiny
    scaled = [abs(alpha) * np.abs(x[x != 0]).min(initial=np.inf) for x in (a, b)]
    assume(finite or not (0 < abs(alpha) < tiny or (alpha != 0 and any(v < tiny for v in scaled))))
    agree(lambda lib, c, a, b: PRODUCT_FORMS[form](lib, op, beta, alpha, c, a, b), c, a, b, rtol=1e-10)


def test_the_reid_distance_and_the_old_optimizer_updates_match_torch() -> None:
    """open-reid's euclidean_dist and an old Adam written with the scalar-first overloads, step by step."""
    rng = np.random.default_rng(0)
    x, grads = rng.standard_normal((5, 3)), rng.standard_normal((4, 5, 3))
    results = []
    for lib in (torch, tg):
        emb = lib.tensor(x, requires_grad=True)
        sq = lib.pow(emb, 2).sum(1, keepdim=True).expand(5, 5)
        dist = sq + sq.t()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dist.addmm_(1, -2, emb, emb.t())
        if lib is tg:  # (torch warns once a process)
            assert [str(w.message).split(":")[0] for w in caught] == ["This overload of addmm_ is deprecated"]
            assert caught[0].category is UserWarning and caught[0].filename == __file__
        dist = dist.clamp(min=1e-12).sqrt()
        dist.sum().backward()
        p, exp_avg, exp_avg_sq = lib.tensor(x), lib.zeros(5, 3, dtype=lib.float64), lib.zeros(5, 3, dtype=lib.float64)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "This overload of")
            for step, g in enumerate(lib.tensor(grads), 1):
                exp_avg.mul_(0.9).add_(1 - 0.9, g)
                exp_avg_sq.mul_(0.999).addcmul_(1 - 0.999, g, g)
                denom = exp_avg_sq.sqrt().add_(1e-8)
                p.addcdiv_(-0.1 * (1 - 0.999 ** step) ** 0.5 / (1 - 0.9 ** step), exp_avg, denom)
        results.append([dist.detach().numpy(), emb.grad.numpy(), p.numpy()])
    for ours, theirs in zip(results[1], results[0]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("call", [
    lambda lib, c, a, b: lib.addmm(c, 0.5, a, b),  # the scalar must come first in the function form
    lambda lib, c, a, b: c.clone().addmm_(0.5, a, b, beta=2.0),  # beta twice
    lambda lib, c, a, b: c.clone().addmm_(0.5, 2.0, 3.0, a, b),  # three scalars
    lambda lib, c, a, b: c.addmm(0.5, a, b.numpy()),  # a tensor operand that is not a Tensor
    lambda lib, c, a, b: c.clone().add_(0.5, a[:, :1], alpha=2),  # alpha twice
    lambda lib, c, a, b: c.clone().add_(True, a[:, :1]),  # a bool alpha for a float result
    lambda lib, c, a, b: c.long().add_(0.5, a[:, :1].long()),  # a float alpha for an integer result
    lambda lib, c, a, b: c.clone().addcmul_(0.5, a[:, :1], a[:, :1], value=2.0),  # value twice
    lambda lib, c, a, b: c.long().addcdiv_(2, c.long(), c.long()),  # integer addcdiv
    lambda lib, c, a, b: lib.tensor([1.0, 2.0], requires_grad=True).add_(0.5, lib.ones(2)),  # a leaf in place
])
def test_calls_torch_refuses_still_raise(call: Callable[..., Any]) -> None:
    arrays_ = [np.ones((2, 3)), np.ones((2, 4)), np.ones((4, 3))]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "This overload of")
        for lib in (torch, tg):
            with pytest.raises((TypeError, RuntimeError, ValueError)):
                call(lib, *(lib.tensor(a) for a in arrays_))


@pytest.mark.parametrize("call", [
    lambda lib: lib.ones(2).add(lib.ones(2), alpha=2),
    lambda lib: lib.ones(2).add_(lib.ones(2)),
    lambda lib: lib.add(lib.ones(2), 3),
    lambda lib: lib.ones(2, 2).addmm(lib.ones(2, 2), lib.ones(2, 2), beta=0.5),
    lambda lib: lib.addcmul(lib.ones(2), lib.ones(2), lib.ones(2), value=2),
    lambda lib: lib.addmm(lib.tensor(1.0), lib.ones(2, 2), lib.ones(2, 2)),  # a 0-d input is not a beta
    lambda lib: lib.addcmul(lib.tensor(1.0), lib.ones(2), lib.tensor(2.0)),
    lambda lib: lib.ones(2).add(lib.tensor(3.0)),
])
def test_the_present_overloads_give_no_warning(call: Callable[[Any], Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(call(tg).numpy(), call(torch).numpy())


@pytest.mark.parametrize("alpha", [0, 0.0, -0.0, 1.5])
def test_addr_multiplies_its_outer_product_by_alpha_even_when_it_is_zero(alpha: float) -> None:
    """torch's addr computes alpha * outer(x, y) for alpha = 0 too (nan where x or y holds nan or inf), unlike the
    other add-products, which drop the term (BLAS's convention): values and gradients."""
    x, y = np.array([np.nan, 1.0, -0.0]), np.array([np.inf, 2.0])
    agree(lambda lib, c, x, y: c.addr(x, y, alpha=alpha), np.ones((3, 2)), x, y)
    agree(lambda lib, c, x, y: lib.addr(c, x, y, beta=0, alpha=alpha), np.full((3, 2), np.nan), x, y)
    agree(lambda lib, c, x, y: lib.addmm(c, x[:, None], y[None], alpha=alpha), np.ones((3, 2)), x, y)  # dropped


@pytest.mark.parametrize("op", ["addmm", "addmv", "addr", "baddbmm", "addbmm"])
def test_integer_add_products_take_integer_factors_only(op: str) -> None:
    shapes = {"addmm": ((2, 2), (2, 3), (3, 2)), "addmv": ((2,), (2, 3), (3,)), "addr": ((2, 3), (2,), (3,)),
              "baddbmm": ((2, 2, 2), (2, 2, 3), (2, 3, 2)), "addbmm": ((2, 2), (2, 2, 3), (2, 3, 2))}[op]
    args = [np.arange(np.prod(shape)).reshape(shape) - 2 for shape in shapes]
    integral = ({"alpha": 2.0}, {"beta": 0.0}, {"alpha": np.float64(1.0), "beta": -1.0})
    for kw in ({"beta": 2, "alpha": -3}, {"alpha": 0}, {"beta": 0}, *(() if op == "addr" else integral)):
        agree(lambda lib, c, a, b, kw=kw: getattr(lib, op)(c, a, b, **kw), *args, grads=False)  # int64 results
    for kw in (*integral, {"alpha": 2.5}) if op == "addr" else ({"alpha": 2.5}, {"beta": np.nan}):
        with pytest.raises(TypeError, match="must be integers, not floating point numbers"):  # torch's other four
            getattr(tg, op)(*(tg.tensor(a) for a in args), **kw)  # truncate 2.5 to 2; its addr raises
        if op == "addr":
            with pytest.raises(RuntimeError, match="must not be a floating point number"):
                getattr(torch, op)(*(torch.tensor(a) for a in args), **kw)
    with pytest.raises(TypeError, match="bool tensors are not supported"):  # (torch: all but addr refuse them)
        getattr(tg, op)(*(tg.tensor(a > 0) for a in args))


def test_addr_takes_no_bool_factor_for_numeric_tensors() -> None:
    for lib in (torch, tg):
        for kw in ({"alpha": True}, {"beta": False}):
            with pytest.raises((TypeError, RuntimeError), match=r"(?i)bool"):
                lib.ones(2, 2).addr(lib.ones(2), lib.ones(2), **kw)
    agree(lambda lib, c, a, b: c.addmm(a, b, alpha=True, beta=False), np.ones((2, 2)), np.ones((2, 3)),
          np.ones((3, 2)))  # (the other add-products read a bool factor as 0 / 1, as torch)
