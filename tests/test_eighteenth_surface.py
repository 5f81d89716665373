"""The eighteenth surface: views on the fake GPU, torch.distributions' missing constraints, layout=/memory_format=/
pin_memory= on the creation functions, and Wishart; each against torch 2.13."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg
from tinygrad_adam import backend
from tinygrad_adam.distributions import constraint_registry as registry
from tinygrad_adam.distributions import constraints as C

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


# ---------------------------------------------------------------- views share a version counter on every device
def stale_view_backward(device: str) -> tuple[bool, bool, str]:
    """A view's in-place write through its base: (view knows its base, its version moved, backward's error)."""
    x = tg.ones(3, device=device, requires_grad=True)
    base = x * 1
    view = base[1:]
    y = (view * view).sum()  # saves view for backward
    before = view._vbox[0] if view._vbox else -1
    base.add_(1)
    with pytest.raises(RuntimeError, match="in-place") as err:
        y.backward()
    return view._base is base, view._vbox[0] != before, str(err.value)


def test_view_version_cpu_like_torch() -> None:
    tb = torch.ones(3, requires_grad=True) * 1
    tv = tb[1:]
    ty = (tv * tv).sum()
    v0 = tv._version
    tb.add_(1)
    with pytest.raises(RuntimeError, match="inplace"):
        ty.backward()
    known, bump, _ = stale_view_backward("cpu")
    assert known and bump and tv._version - v0 == 1


@pytest.mark.gpu
def test_view_version_gpu() -> None:
    """On the GPU (or the fake cupy) a view is recognised as one, as on the CPU: ``.base`` is cupy's base object."""
    x = tg.ones(3, device="cuda")
    assert x[1:]._base is x and x[1:]._base is not None
    assert stale_view_backward("cuda")[:2] == stale_view_backward("cpu")[:2] == (True, True)


@pytest.mark.gpu
def test_cupy_base_identity() -> None:
    cp = backend.xp_of("cuda")
    a = cp.arange(6.0)
    v = a.reshape(2, 3)[1:]
    assert v.base is a and v.base is v.base and a.base is None
    assert v.T.base is a and a.flags.owndata and not v.flags.owndata


# ---------------------------------------------------------------- constraints: dependent, square, lower_triangular...
TC = torch.distributions.constraints
SPECIAL = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0, 0.5, np.nan, np.inf, -np.inf])
MATRICES = hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=3), elements=SPECIAL)


@given(MATRICES, st.booleans())
def test_square_and_lower_triangular_like_torch(a: np.ndarray, tril: bool) -> None:
    a = np.tril(a) if tril else a
    for name in ("square", "lower_triangular"):
        got, want = getattr(C, name).check(tg.tensor(a)), getattr(TC, name).check(torch.tensor(a))
        assert got.dtype == tg.bool and got.shape == tuple(want.shape), name
        np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=name)


@given(hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64]), hnp.array_shapes(min_dims=0, max_dims=2),
                  elements=st.integers(-2, 3)), st.booleans())
def test_positive_integer_like_torch(a: np.ndarray, half: bool) -> None:
    a = a + 0.5 if half and a.dtype.kind == "f" else a
    np.testing.assert_array_equal(C.positive_integer.check(tg.tensor(a)).numpy(),
                                  TC.positive_integer.check(torch.tensor(a)).numpy())


def test_constraint_attributes_like_torch() -> None:
    for name in ("square", "lower_triangular", "positive_integer", "dependent"):
        assert repr(getattr(C, name)) == repr(getattr(TC, name)), name
    for name in ("square", "lower_triangular", "positive_integer"):
        ours, theirs = getattr(C, name), getattr(TC, name)
        assert (ours.event_dim, ours.is_discrete) == (theirs.event_dim, theirs.is_discrete), name
    assert C.positive_integer.lower_bound == TC.positive_integer.lower_bound == 1
    for bad in (tg.ones(3), tg.tensor(1.0)):
        for name in ("square", "lower_triangular"):
            with pytest.raises(ValueError, match="matrices"):  # torch: IndexError / RuntimeError
                getattr(C, name).check(bad)
    assert C.lower_triangular.check(tg.ones(3, 0, 0)).numpy().tolist() == [True] * 3  # torch raises IndexError


def test_dependent_like_torch() -> None:
    for ours, theirs in ((C.dependent, TC.dependent), (C.dependent_property(), TC.dependent_property())):
        for attr in ("is_discrete", "event_dim"):
            with pytest.raises(NotImplementedError, match=f"{attr} cannot be determined statically"):
                getattr(ours, attr)
            with pytest.raises(NotImplementedError, match=f"{attr} cannot be determined statically"):
                getattr(theirs, attr)
        with pytest.raises(ValueError, match="dependent constraint has no check"):
            ours.check(tg.ones(2))
    d = C.dependent(is_discrete=True, event_dim=1)
    assert (d.is_discrete, d.event_dim, repr(d)) == (True, 1, "Dependent()")
    assert d(event_dim=2).is_discrete and d(event_dim=2).event_dim == 2
    assert C.dependent.__class__ is not C.Constraint and isinstance(C.dependent, C.Constraint)


def test_dependent_property_and_is_dependent_like_torch() -> None:
    class Box:
        low = 2.0

        @C.dependent_property(is_discrete=False, event_dim=1)
        def support(self) -> C.Constraint:
            return C.greater_than(self.low)

        @C.dependent_property
        def plain(self) -> C.Constraint:
            return C.positive

    assert repr(Box().support) == "GreaterThan(lower_bound=2.0)" and Box().plain is C.positive
    assert (Box.support.is_discrete, Box.support.event_dim, repr(Box.support)) == (False, 1, "DependentProperty()")
    with pytest.raises(NotImplementedError):
        Box.plain.event_dim  # noqa: B018
    for ours, theirs in ((Box.support, TC.dependent_property(lambda s: 0)), (C.dependent, TC.dependent),
                         (C.real, TC.real), (C.independent(C.dependent, 1), TC.independent(TC.dependent, 1)),
                         (C.dependent(event_dim=1), TC.dependent(event_dim=1))):
        assert C.is_dependent(ours) == TC.is_dependent(theirs)


def test_new_constraints_not_registered_like_torch() -> None:
    for name in ("dependent", "square", "lower_triangular", "positive_integer"):
        for reg in ("biject_to", "transform_to"):
            with pytest.raises(NotImplementedError, match="Cannot transform"):
                getattr(torch.distributions.constraint_registry, reg)(getattr(TC, name))
            with pytest.raises(NotImplementedError, match="Cannot transform"):
                getattr(registry, reg)(getattr(C, name))


# ---------------------------------------------------------------- layout= / pin_memory= on the factories
def factories(lib: object, n: int) -> dict[str, object]:
    """name -> a call ``f(**options)`` of ``lib``'s factory (tg or torch) at size ``n``."""
    return {
        "rand": lambda **k: lib.rand(n, 2, **k), "randn": lambda **k: lib.randn(n, **k),
        "arange": lambda **k: lib.arange(n, **k), "eye": lambda **k: lib.eye(n, n + 1, **k),
        "linspace": lambda **k: lib.linspace(-1, 2, n, **k), "logspace": lambda **k: lib.logspace(0, 2, n, **k),
        "full": lambda **k: lib.full((n,), 1.5, **k), "zeros": lambda **k: lib.zeros(n, **k),
        "ones": lambda **k: lib.ones(n, **k), "empty": lambda **k: lib.empty(n, **k),
        "randint": lambda **k: lib.randint(0, 5, (n,), **k), "randperm": lambda **k: lib.randperm(n, **k),
        "zeros_like": lambda **k: lib.zeros_like(lib.ones(n), **k),
        "full_like": lambda **k: lib.full_like(lib.ones(n), 2.0, **k),
        "rand_like": lambda **k: lib.rand_like(lib.ones(n), **k),
        "empty_like": lambda **k: lib.empty_like(lib.ones(n), **k),
    }


RANDOM = {"rand", "randn", "randint", "randperm", "rand_like", "empty", "empty_like"}


@given(st.integers(0, 5), st.sampled_from(sorted(factories(tg, 0))), st.sampled_from([None, "strided"]),
       st.sampled_from([None, False]))
def test_layout_and_pin_memory_accepted_like_torch(n: int, name: str, layout: str | None, pin: bool | None) -> None:
    opts = {} if layout is None else {"layout": tg.strided}
    topts = {} if layout is None else {"layout": torch.strided}
    if pin is not None or name == "zeros":
        opts["pin_memory"] = topts["pin_memory"] = False
    got, want = factories(tg, n)[name](**opts), factories(torch, n)[name](**topts)
    assert got.shape == tuple(want.shape) and str(got.dtype) == str(want.dtype).removeprefix("torch."), name
    if name not in RANDOM:
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(factories(tg, 0)))
def test_sparse_layout_and_pinned_memory_raise(name: str) -> None:
    with pytest.raises(RuntimeError, match="pin_memory"):  # torch without an accelerator: RuntimeError
        factories(torch, 2)[name](pin_memory=True)
    with pytest.raises(NotImplementedError, match="pin_memory=True"):
        factories(tg, 2)[name](pin_memory=True)
    with pytest.raises(NotImplementedError, match=r"only tinygrad_adam\.strided"):
        factories(tg, 2)[name](layout="sparse_coo")
    if name not in ("zeros", "empty", "zeros_like", "empty_like"):  # those make a sparse tensor in torch
        with pytest.raises((NotImplementedError, RuntimeError)):
            factories(torch, 2)[name](layout=torch.sparse_coo)


def test_tensor_pin_memory_and_keywords_torch_rejects() -> None:
    assert tg.tensor([1.0], pin_memory=False).tolist() == torch.tensor([1.0], pin_memory=False).tolist()
    for lib in (tg, torch):
        with pytest.raises(RuntimeError, match="pin_memory"):
            lib.tensor([1.0], pin_memory=True)
        with pytest.raises(TypeError):
            lib.tensor([1.0], layout=lib.strided)
        with pytest.raises(TypeError):
            lib.rand(2, memory_format=lib.contiguous_format)
        with pytest.raises(TypeError):
            lib.full((2,), 1.0, memory_format=lib.contiguous_format)
    assert tg.eye(2, requires_grad=True).requires_grad and torch.eye(2, requires_grad=True).requires_grad


# ---------------------------------------------------------------- Wishart
from tinygrad_adam.distributions import Wishart  # noqa: E402
from tinygrad_adam.distributions.wishart import Wishart as WishartFromModule  # noqa: E402

PARAMS = ("covariance_matrix", "precision_matrix", "scale_tril")


@st.composite
def wisharts(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, str, np.ndarray]:
    """(df, the parameter matrix, its name, a positive-definite value) in float64."""
    p = draw(st.integers(1, 3))
    batch = draw(st.sampled_from([(), (2,), (1, 2)]))
    floats = st.floats(-2, 2, allow_nan=False)
    a = draw(hnp.arrays(np.float64, (*batch, p, p), elements=floats))
    spd = a @ np.swapaxes(a, -1, -2) + 0.5 * np.eye(p)
    name = draw(st.sampled_from(PARAMS))
    matrix = np.linalg.cholesky(spd) if name == "scale_tril" else spd
    df = draw(hnp.arrays(np.float64, draw(st.sampled_from([(), batch[-1:]])), elements=st.floats(p - 0.5, p + 6)))
    v = draw(hnp.arrays(np.float64, (p, p), elements=floats))
    return df, matrix, name, v @ v.T + np.eye(p)


@settings(deadline=None, max_examples=60)
@given(wisharts(), st.booleans())
def test_wishart_like_torch(case: tuple[np.ndarray, np.ndarray, str, np.ndarray], number_df: bool) -> None:
    """A number df is given to torch as a tensor of the batch shape (torch's mean/mode/variance fail on a number
    df with batch dims: its df.view(batch + (1, 1)))."""
    df, matrix, name, value = case
    number_df = number_df and df.size > 0
    if number_df:
        df = np.full(matrix.shape[:-2], df.flat[0])
    low = np.any(df < matrix.shape[-1])
    with pytest.warns(UserWarning, match="likely singular") if low else _nothing():
        ours = Wishart(float(df.flat[0]) if number_df else tg.tensor(df, requires_grad=True),
                       **{name: tg.tensor(matrix, requires_grad=True)})
    with pytest.warns(UserWarning) if low else _nothing():
        theirs = torch.distributions.Wishart(torch.tensor(df, requires_grad=True),
                                             **{name: torch.tensor(matrix, requires_grad=True)})
    assert ours.batch_shape == theirs.batch_shape and ours.event_shape == theirs.event_shape
    for attr in ("mean", "mode", "variance", "entropy", "covariance_matrix", "precision_matrix", "scale_tril"):
        got, want = getattr(ours, attr), getattr(theirs, attr)
        got, want = (got(), want()) if callable(got) else (got, want)
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-7, atol=1e-9, err_msg=attr)
    got, want = ours.log_prob(tg.tensor(value)), theirs.log_prob(torch.tensor(value))
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-7, atol=1e-9)
    got.sum().backward()
    want.sum().backward()
    pairs = [(getattr(ours, name), getattr(theirs, name))] + ([] if number_df else [(ours.df, theirs.df)])
    for a, b in pairs:
        if a.grad is not None or b.grad is not None:  # the leaves (an expanded parameter is not one)
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6, atol=1e-9)


class _nothing:  # noqa: N801 - a context manager that checks nothing
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_wishart_gradients_like_torch() -> None:
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    value = np.array([[3.0, 0.5], [0.5, 2.0]])
    ours = (tg.tensor([3.5, 5.0], dtype=tg.float64, requires_grad=True), tg.tensor(cov, requires_grad=True))
    theirs = (torch.tensor([3.5, 5.0], dtype=torch.float64, requires_grad=True), torch.tensor(cov, requires_grad=True))
    (Wishart(ours[0], covariance_matrix=ours[1]).log_prob(tg.tensor(value)).sum()
     + Wishart(ours[0], covariance_matrix=ours[1]).entropy().sum()).backward()
    (torch.distributions.Wishart(theirs[0], covariance_matrix=theirs[1]).log_prob(torch.tensor(value)).sum()
     + torch.distributions.Wishart(theirs[0], covariance_matrix=theirs[1]).entropy().sum()).backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-7)


def test_wishart_rsample_moments_and_gradients() -> None:
    tg.manual_seed(0)
    cov = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 1.5]])
    df = tg.tensor([4.0, 6.5], dtype=tg.float64, requires_grad=True)
    w = Wishart(df, covariance_matrix=tg.tensor(cov))
    s = w.rsample((20000,))
    assert s.shape == (20000, 2, 3, 3) and s.dtype == tg.float64
    np.testing.assert_allclose(s.numpy().mean(0), w.mean.numpy(), rtol=0.05, atol=0.05)
    np.testing.assert_allclose(s.numpy().var(0), w.variance.numpy(), rtol=0.15)
    assert np.all(np.linalg.eigvalsh(s.numpy()) > 0) and np.allclose(s.numpy(), np.swapaxes(s.numpy(), -1, -2))
    s.mean(0).sum().backward()  # d E[X] / d df = sum of V's entries, reached through the samples
    np.testing.assert_allclose(df.grad.numpy(), [cov.sum()] * 2, rtol=0.05)


def test_wishart_errors_like_torch() -> None:
    assert WishartFromModule is Wishart
    eye = np.eye(2)
    for lib, dist in ((tg, Wishart), (torch, torch.distributions.Wishart)):
        said = "expected to be greater than ndim - 1 = 1" if lib is torch else "must exceed 1"  # each one's words
        with pytest.raises(ValueError, match=said):
            dist(1.0, covariance_matrix=lib.tensor(eye))
        with pytest.raises(AssertionError, match="Exactly one" if lib is torch else "just one of"):
            dist(3.0)
        with pytest.raises(AssertionError, match="Exactly one" if lib is torch else "just one of"):
            dist(3.0, covariance_matrix=lib.tensor(eye), scale_tril=lib.tensor(eye))
        with pytest.raises(ValueError, match="at least two-dimensional" if lib is torch else "2 or more dimensions"):
            dist(3.0, covariance_matrix=lib.tensor([1.0]))
        with pytest.warns(UserWarning, match="Low df values detected" if lib is torch else "likely singular"):
            dist(1.5, covariance_matrix=lib.tensor(eye))
        with pytest.raises(ValueError):
            dist(3.0, covariance_matrix=lib.tensor([[1.0, 2.0], [2.0, 1.0]]), validate_args=True)
        with pytest.raises(ValueError):
            dist(3.0, covariance_matrix=lib.tensor(eye), validate_args=True).log_prob(-lib.tensor(eye))
    assert repr(Wishart(3.0, covariance_matrix=tg.tensor(eye)).arg_constraints["df"]) == "GreaterThan(lower_bound=1)"


@pytest.mark.gpu
def test_wishart_and_new_keywords_on_gpu() -> None:
    cov, out = np.array([[2.0, 0.3], [0.3, 1.0]]), {}
    for device in ("cpu", "cuda"):
        w = Wishart(tg.tensor([3.5, 5.0], dtype=tg.float64, device=device),
                    precision_matrix=tg.tensor(cov, device=device))
        out[device] = [w.mode, w.variance, w.mean]  # log_prob/entropy need lgamma: cupyx.scipy, not in the fake
        sample = w.rsample((3,))
        assert sample.device == w.df.device and sample.shape == (3, 2, 2, 2)
        assert C.lower_triangular.check(w.scale_tril).device == sample.device
        assert tg.rand(2, device=device, layout=tg.strided, pin_memory=False).device == sample.device
    for a, b in zip(out["cpu"], out["cuda"]):
        np.testing.assert_allclose(a.numpy(), b.cpu().numpy(), rtol=1e-12)
