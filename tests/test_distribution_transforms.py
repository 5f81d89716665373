"""torch 2.13's remaining torch.distributions transforms (Softplus, Softmax, LowerCholesky, PositiveDefinite,
CorrCholesky, Independent, Reshape, Cat, Stack, CumulativeDistribution), the constraints they need, ``biject_to`` /
``transform_to`` / ``ConstraintRegistry``, and torch's submodule import paths, against torch: forward, inverse,
log |det J| (values, dtypes, shapes, gradients) on hypothesis inputs with extreme values, batch shapes, 0-d and
empty tensors; domains, codomains, event dims, shapes, equality and caching; ``TransformedDistribution.log_prob``
built on them."""

from __future__ import annotations

import contextlib
import importlib
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_distributions import ANY, FLOATS, RTOL, UNIT, _array, _torch_without_ambiguous_reshape, check
from test_torch_movement_names import ERRORS

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

D = tg.distributions
MODERATE = st.floats(-5, 5) | st.sampled_from([0.0, -0.0, 1e-30, 20.0, -20.0])


def T(lib: Any) -> Any:  # noqa: N802 - the transforms module of either library
    return lib.distributions.transforms


@contextlib.contextmanager
def _torch_sums_empty_batches() -> Any:
    """torch with its sum over trailing dims given the size (torch's reshape(..., -1) raises for an empty batch,
    which ours computes: README's "empty batch" difference), in the transforms, TransformedDistribution and the
    lower-Cholesky check too."""
    import torch.distributions.constraints as constraints
    import torch.distributions.independent as independent
    import torch.distributions.transformed_distribution as transformed
    import torch.distributions.transforms as transforms

    def lower_cholesky(self: Any, value: Any) -> Any:  # torch's, its view(..., -1).min(-1) as flatten().all()
        return (value.tril() == value).flatten(-2).all(-1) & (value.diagonal(dim1=-2, dim2=-1) > 0).all(-1)

    with _torch_without_ambiguous_reshape():
        saved = transforms._sum_rightmost, transformed._sum_rightmost, constraints._LowerCholesky.check
        transforms._sum_rightmost = transformed._sum_rightmost = independent._sum_rightmost
        constraints._LowerCholesky.check = lower_cholesky
        try:
            yield
        finally:
            transforms._sum_rightmost, transformed._sum_rightmost, constraints._LowerCholesky.check = saved


def _check(f: Any, *arrays: np.ndarray, rtol: float) -> None:
    """``check`` (values, dtypes, shapes and input gradients as torch's, or both raise) with empty batches summed."""
    with _torch_sums_empty_batches():
        check(f, *arrays, rtol=rtol)


def _transform_checks(make: Any, x: np.ndarray, rtol: float, ladj: bool = True, trip: np.ndarray | None = None
                      ) -> None:
    """t(x), t.inv(t(x)) (at ``trip`` when given), log |det J|(x, t(x)) (when the transform has one) and t.inv(x),
    each against torch."""
    _check(lambda lib, x: make(lib)(x), x, rtol=rtol)
    _check(lambda lib, x: (lambda t: t.inv(t(x)))(make(lib)), x if trip is None else trip, rtol=rtol)
    _check(lambda lib, x: make(lib).inv(x), x, rtol=rtol)
    if ladj:
        _check(lambda lib, x: (lambda t: t.log_abs_det_jacobian(x, t(x)))(make(lib)), x, rtol=rtol)
        _check(lambda lib, x: (lambda t: t.inv.log_abs_det_jacobian(x, t.inv(x)))(make(lib)), x, rtol=rtol)


def _same_constraint(ours: Any, theirs: Any) -> None:
    """Same kind (class name), event dim and discreteness, recursively through independent / cat / stack."""
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.event_dim == theirs.event_dim and ours.is_discrete == theirs.is_discrete
    if hasattr(theirs, "base_constraint"):
        _same_constraint(ours.base_constraint, theirs.base_constraint)
    for a, b in zip(getattr(ours, "cseq", []), getattr(theirs, "cseq", []), strict=True):
        _same_constraint(a, b)


def _same_static(ours: Any, theirs: Any, shapes: list[tuple[int, ...]]) -> None:
    """Domains, codomains, bijective, sign (or both raise), event_dim and forward / inverse shapes as torch's."""
    for a, b in ((ours, theirs), (ours.inv, theirs.inv)):
        _same_constraint(a.domain, b.domain)
        _same_constraint(a.codomain, b.codomain)
        assert a.bijective == b.bijective
        for attr in ("sign", "event_dim"):
            try:
                want = getattr(b, attr)
            except (NotImplementedError, ValueError) as e:
                with pytest.raises(type(e)):
                    getattr(a, attr)
                continue
            got = getattr(a, attr)
            assert (got if isinstance(got, int) else got.tolist()) == (want if isinstance(want, int) else
                                                                       want.tolist())
        for shape in shapes:
            for method in ("forward_shape", "inverse_shape"):
                try:
                    want = tuple(getattr(b, method)(torch.Size(shape)))
                except ERRORS:
                    with pytest.raises(ERRORS):
                        getattr(a, method)(shape)
                    continue
                assert tuple(getattr(a, method)(shape)) == want


# ---------------------------------------------------------------------------------------------- elementwise
def _f64(lib: Any, value: float) -> Any:
    """A float64 parameter: a float32 one meets float64 values at float32 precision (torch's log(1.5) in float32
    is 1 ulp off), which is not what these tests are about."""
    return lib.tensor(value, dtype=lib.float64)


ELEMENTWISE = {
    "softplus": lambda lib: T(lib).SoftplusTransform(),
    "independent softplus": lambda lib: T(lib).IndependentTransform(T(lib).SoftplusTransform(), 1),
    "independent exp 0": lambda lib: T(lib).IndependentTransform(T(lib).ExpTransform(), 0),
    "independent of independent": lambda lib: T(lib).IndependentTransform(
        T(lib).IndependentTransform(T(lib).SigmoidTransform(), 1), 1),
    "cdf normal": lambda lib: T(lib).CumulativeDistributionTransform(lib.distributions.Normal(_f64(lib, 0.5), 2.0)),
    "cdf laplace": lambda lib: T(lib).CumulativeDistributionTransform(
        lib.distributions.Laplace(_f64(lib, -1.0), 0.5, validate_args=False)),
    "cdf exponential": lambda lib: T(lib).CumulativeDistributionTransform(
        lib.distributions.Exponential(_f64(lib, 1.5))),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS))
def test_elementwise_transforms_match_torch(name: str, data: st.DataObject, dtype: Any) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    # (not where exp(x) is subnormal, -746 < x < -708 in float64, -104 < x < -87 in float32: our sigmoid,
    # softplus's gradient, is 0 there where torch's is that subnormal, and the round trip's gradient multiplies it
    # by 1 / subnormal)
    values = ANY.filter(lambda v: not (-746 < v < -708 or -104 < v < -87)) | UNIT \
        | st.sampled_from([-30.0, 30.0, 1e-30, 40.0, -700.0, -86.0])
    x = _array(data, shape, values, dtype)
    trip = x
    if name.startswith("cdf"):  # where the cdf rounds to 0 or 1 the round trip's gradient is icdf's inf times the
        # cdf's slope, tiny here and 0 in torch where its expm1 is an ulp off (float32 expm1(-17): -1, correctly
        # -0.99999994): inf or nan, neither the float64 value; the round trip is taken at 0 there
        with np.errstate(all="ignore"), contextlib.suppress(ValueError):  # (torch's support check: both raise)
            p = ELEMENTWISE[name](torch)(torch.tensor(x)).numpy()
            trip = np.where((p == 0) | (p == 1), x.dtype.type(0), x)
    _transform_checks(ELEMENTWISE[name], x, RTOL[dtype] * 10, trip=trip)
    _same_static(ELEMENTWISE[name](tg), ELEMENTWISE[name](torch), [shape])


# ---------------------------------------------------------------------------------------------- Softmax
@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS))
def test_softmax_transform_matches_torch(data: st.DataObject, dtype: Any) -> None:
    """Forward (0-d and empty last dims included), log inverse, no log |det J| and shapes of < 1 dim raise."""
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    x = _array(data, shape, ANY | MODERATE, dtype)
    _transform_checks(lambda lib: T(lib).SoftmaxTransform(), x, RTOL[dtype] * 10, ladj=False)
    for lib in (tg, torch):
        with pytest.raises(NotImplementedError):
            T(lib).SoftmaxTransform().log_abs_det_jacobian(lib.tensor(x), lib.tensor(x))
    _same_static(T(tg).SoftmaxTransform(), T(torch).SoftmaxTransform(), [shape, ()])


# ---------------------------------------------------------------------------------------------- matrices
MATRIX = {
    "lower cholesky": lambda lib: T(lib).LowerCholeskyTransform(),
    "positive definite": lambda lib: T(lib).PositiveDefiniteTransform(),
}


@pytest.mark.parametrize("name", sorted(MATRIX))
@settings(max_examples=50, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS))
def test_matrix_transforms_match_torch(name: str, data: st.DataObject, dtype: Any) -> None:
    """Square (and a few non-square, which raise) matrices with batch dims; inverse through the Cholesky factor."""
    batch = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    n = data.draw(st.integers(0, 3))
    m = data.draw(st.sampled_from([n, n, n, n + 1]))
    x = _array(data, (*batch, n, m), MODERATE, dtype)
    make = MATRIX[name]
    rtol = RTOL[dtype] * 100
    _check(lambda lib, x: make(lib)(x), x, rtol=rtol)
    # the round trip factors L L^T again: moderate entries, so that float32 rounding does not decide whether
    # it is positive definite
    _check(lambda lib, x: (lambda t: t.inv(t(x)))(make(lib)), np.clip(x, -2, 2), rtol=rtol)
    if name == "lower cholesky":
        _check(lambda lib, x: make(lib).inv(x), x, rtol=rtol)
    for lib in (tg, torch):
        with pytest.raises(NotImplementedError):
            make(lib).log_abs_det_jacobian(lib.tensor(x), lib.tensor(x))
    _same_static(make(tg), make(torch), [(*batch, n, m)])
    if name == "lower cholesky" and n == m:
        _check(lambda lib, x: (lambda t: t.codomain.check(t(x)))(make(lib)), x, rtol=0)


# ---------------------------------------------------------------------------------------------- CorrCholesky
@settings(max_examples=80, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS))
def test_corr_cholesky_transform_matches_torch(data: st.DataObject, dtype: Any) -> None:
    """Vectors of D(D-1)/2 (and of sizes that are no such number, which raise) -> correlation Cholesky factors; the
    inverse, log |det J| (which raises for D = 1, as torch's), shapes and the corr_cholesky check."""
    batch = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    size = data.draw(st.sampled_from([0, 1, 3, 6, 10, 2, 4]))
    x = _array(data, (*batch, size), st.floats(-4, 4) | st.sampled_from([0.0, -0.0, 30.0, -30.0, np.inf, np.nan]),
               dtype)
    make = lambda lib: T(lib).CorrCholeskyTransform()  # noqa: E731
    rtol = RTOL[dtype] * 1000
    _check(lambda lib, x: make(lib)(x), x, rtol=rtol)
    # the inverse divides by 1 - (a row's sum of squares so far), near 0 for entries near +-1 (tanh(4) in a row
    # of 4): float32 cancellation decides it (nan, or torch's 3.87 for 4)
    _check(lambda lib, x: (lambda t: t.inv(t(x)))(make(lib)), np.clip(x, -2, 2), rtol=rtol)
    # log |det J| sums log(1 - a row's running sum of squares): for saturated entries (tanh(30) rounds to 1) that is
    # the log of a cancellation's rounding error in both libraries (-329.19 here, -329.05 in torch, for a row of 30s)
    _check(lambda lib, x: (lambda t: t.log_abs_det_jacobian(x, t(x)))(make(lib)), np.clip(x, -4, 4), rtol=rtol)
    _check(lambda lib, x: (lambda t: t.codomain.check(t(x)))(make(lib)), x, rtol=0)
    d = data.draw(st.integers(0, 4))
    _same_static(make(tg), make(torch), [(*batch, size), (*batch, d, d), (*batch, d, d + 1), ()])


# ---------------------------------------------------------------------------------------------- Reshape
@settings(max_examples=80, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS))
def test_reshape_transform_matches_torch(data: st.DataObject, dtype: Any) -> None:
    batch = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    in_shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    n = math.prod(in_shape)
    out_shape = data.draw(st.sampled_from([(n,), in_shape[::-1], (*in_shape, 1), (1, n), (n + 1,)]
                                          + ([()] if n == 1 else [])))
    if math.prod(out_shape) != n:
        for lib in (tg, torch):
            with pytest.raises(ValueError):
                T(lib).ReshapeTransform(in_shape, out_shape)
        return
    x = _array(data, (*batch, *in_shape), ANY, dtype)
    _transform_checks(lambda lib: T(lib).ReshapeTransform(in_shape, out_shape), x, 0.0)
    other = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3))
    _same_static(T(tg).ReshapeTransform(in_shape, out_shape), T(torch).ReshapeTransform(in_shape, out_shape),
                 [(*batch, *in_shape), (*batch, *out_shape), other])


# ---------------------------------------------------------------------------------------------- Cat, Stack
PARTS = {  # transforms that keep their input's shape
    "exp": lambda lib: T(lib).ExpTransform(),
    "sigmoid": lambda lib: T(lib).SigmoidTransform(),
    "softplus": lambda lib: T(lib).SoftplusTransform(),
    "tanh": lambda lib: T(lib).TanhTransform(),
    "affine": lambda lib: T(lib).AffineTransform(0.5, -2.0),
    "identity": lambda lib: T(lib).identity_transform,
    "independent softplus": lambda lib: T(lib).IndependentTransform(T(lib).SoftplusTransform(), 1),
    "inverse sigmoid": lambda lib: T(lib).SigmoidTransform().inv,
}
PART_VALUES = st.floats(-3, 3) | st.sampled_from([0.0, 0.5, 1e-30, 20.0, -20.0])


@settings(max_examples=80, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS))
def test_cat_transform_matches_torch(data: st.DataObject, dtype: Any) -> None:
    """Parts on slices of drawn lengths along a drawn dim; log |det J| joined along a batch dim, summed along an
    event dim; the domain / codomain checks; wrong sizes and dims raise AssertionError, as torch's."""
    names = data.draw(st.lists(st.sampled_from(sorted(PARTS)), min_size=1, max_size=3))
    lengths = data.draw(st.lists(st.integers(0, 2), min_size=len(names), max_size=len(names)))
    shape = list(data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3)))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    shape[dim] = sum(lengths)
    x = _array(data, tuple(shape), PART_VALUES, dtype)
    use_lengths = data.draw(st.booleans()) or set(lengths) != {1}
    make = lambda lib: T(lib).CatTransform([PARTS[n](lib) for n in names], dim,  # noqa: E731
                                           lengths if use_lengths else None)
    _transform_checks(make, x, RTOL[dtype] * 10)
    _check(lambda lib, x: (lambda t: (t.domain.check(x), t.codomain.check(t(x))))(make(lib)), x, rtol=0)
    ours, theirs = make(tg), make(torch)
    _same_static(ours, theirs, [tuple(shape)])
    assert ours.length == theirs.length
    bad = tuple(s + 1 if i == dim % len(shape) else s for i, s in enumerate(shape))
    for lib, t in ((tg, ours), (torch, theirs)):
        for value in (lib.zeros(bad, dtype=lib.float64), lib.zeros(()) if dim not in (0, -1) else lib.zeros(bad)):
            for call in (t, t.inv, lambda v, t=t: t.log_abs_det_jacobian(v, v)):
                with pytest.raises(AssertionError):
                    call(value)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS))
def test_stack_transform_matches_torch(data: st.DataObject, dtype: Any) -> None:
    names = data.draw(st.lists(st.sampled_from(sorted(PARTS)), min_size=1, max_size=3))
    shape = list(data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3)))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    shape[dim] = len(names)
    x = _array(data, tuple(shape), PART_VALUES, dtype)
    make = lambda lib: T(lib).StackTransform([PARTS[n](lib) for n in names], dim)  # noqa: E731
    _transform_checks(make, x, RTOL[dtype] * 10)
    _check(lambda lib, x: (lambda t: (t.domain.check(x), t.codomain.check(t(x))))(make(lib)), x, rtol=0)
    _same_static(make(tg), make(torch), [tuple(shape)])
    bad = tuple(s + 1 if i == dim % len(shape) else s for i, s in enumerate(shape))
    for lib in (tg, torch):
        t = make(lib)
        for call in (t, t.inv, lambda v, t=t: t.log_abs_det_jacobian(v, v)):
            with pytest.raises(AssertionError):
                call(lib.zeros(bad))


def _refused(lib: Any) -> list[Any]:
    """Calls that torch refuses with AssertionError: parts that are not transforms / constraints, lengths that do
    not fit them, dims out of range."""
    t, c = T(lib), lib.distributions.constraints
    return [lambda: t.CatTransform([t.ExpTransform(), 1]), lambda: t.StackTransform([None]),
            lambda: t.CatTransform([t.ExpTransform()], lengths=[1, 2]),
            lambda: c.cat([c.real, 1]), lambda: c.stack([c.real, "x"]), lambda: c.cat([c.real], 0, [1, 1]),
            lambda: c.cat([c.real], 2).check(lib.zeros(2)), lambda: c.stack([c.real], -2).check(lib.zeros(1))]


def test_cat_and_stack_refuse_what_torch_refuses() -> None:
    for lib in (tg, torch):
        for bad in _refused(lib):
            with pytest.raises(AssertionError):
                bad()


# ---------------------------------------------------------------------------------------------- constraints
CONSTRAINTS = {  # name -> (maker(lib, parameter tensor), value shape for a parameter of shape s, value elements)
    "corr_cholesky": (lambda lib, p: lib.distributions.constraints.corr_cholesky, lambda s: (*s, 3, 3)),
    "positive_semidefinite": (lambda lib, p: lib.distributions.constraints.positive_semidefinite,
                              lambda s: (*s, 2, 2)),
    "positive_definite": (lambda lib, p: lib.distributions.constraints.positive_definite, lambda s: (*s, 2, 2)),
    "symmetric": (lambda lib, p: lib.distributions.constraints.symmetric, lambda s: (*s, 2, 2)),
    "cat": (lambda lib, p: lib.distributions.constraints.cat(
        [lib.distributions.constraints.positive, lib.distributions.constraints.real_vector], -1, [1, 2]),
        lambda s: (*s, 3)),
    "stack": (lambda lib, p: lib.distributions.constraints.stack(
        [lib.distributions.constraints.unit_interval, lib.distributions.constraints.greater_than(p)], -1),
        lambda s: (*s, 2)),
    "stack 0": (lambda lib, p: lib.distributions.constraints.stack(
        [lib.distributions.constraints.simplex, lib.distributions.constraints.real_vector], 0),
        lambda s: (2, *s, 1)),
}


@pytest.mark.parametrize("name", sorted(CONSTRAINTS))
@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS))
def test_new_constraints_check_as_torch(name: str, data: st.DataObject, dtype: Any) -> None:
    """check on hypothesis values (correlation factors made by torch's transform and nudged, symmetric matrices
    and their negations, the cat / stack pieces) as torch's; event_dim and is_discrete as torch's."""
    make, value_shape = CONSTRAINTS[name]
    batch = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    p = _array(data, batch, st.floats(-1, 1), dtype)
    v = _array(data, value_shape(batch), st.floats(-2, 2) | st.sampled_from([0.0, 1.0, 0.5, np.nan]), dtype)
    kind = data.draw(st.sampled_from(["raw", "structured"]))
    if kind == "structured" and name == "corr_cholesky":
        factor = T(torch).CorrCholeskyTransform()(torch.tensor(v[..., 0, :]))  # rows scaled off unit norm by
        scale = 1 + data.draw(st.sampled_from([0.0, 1e-3, 1e-9, 2e-6, 2e-15]))  # between tolerances 1x and 10x
        v = (factor * torch.tensor(scale, dtype=factor.dtype)).numpy()
    elif kind == "structured" and v.ndim >= 2 and v.shape[-1] == v.shape[-2]:
        v = v @ np.swapaxes(v, -1, -2) * data.draw(st.sampled_from([1.0, -1.0]))
    if name.startswith("positive_"):  # whether an exactly singular matrix factors (or has its 0 eigenvalue >= 0)
        m = v.astype(np.float64)     # is rounding: our Cholesky passes [[a, a], [a, a]] where torch's fails
        assume(not np.any(np.abs(np.linalg.det(m)) <= 1e-6 * (1 + np.sum(m * m, axis=(-2, -1)))))
    _check(lambda lib, p, v: make(lib, p).check(v), p, v, rtol=0)
    _same_constraint(make(tg, tg.tensor(p)), make(torch, torch.tensor(p)))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("scale", [1.0, 1 + 2e-6, 1 + 5e-6, 1 + 2e-15, 1 + 1e-13, 1 - 2e-6])
def test_corr_cholesky_check_tolerance_as_torch(dtype: Any, scale: float) -> None:
    """Rows off unit norm by less or more than torch's tolerance 10 n eps: the same verdict as torch's."""
    x = np.array([[0.3, -0.5, 0.2], [2.0, 0.0, -1.0]], dtype)
    theirs = T(torch).CorrCholeskyTransform()(torch.tensor(x)) * torch.tensor(scale, dtype=torch.float64)
    theirs = theirs.to(torch.float32 if dtype == np.float32 else torch.float64)
    ours = tg.tensor(theirs.numpy())
    assert D.constraints.corr_cholesky.check(ours).tolist() == \
        torch.distributions.constraints.corr_cholesky.check(theirs).tolist()


# ---------------------------------------------------------------------------------------------- biject_to, transform_to
REGISTRY_CASES = {  # name -> (constraint maker(lib, p), unconstrained shape for a parameter of shape s)
    "real": (lambda lib, c, p: c.real, lambda s: s),
    "real_vector": (lambda lib, c, p: c.real_vector, lambda s: (*s, 2)),
    "positive": (lambda lib, c, p: c.positive, lambda s: s),
    "nonnegative": (lambda lib, c, p: c.nonnegative, lambda s: s),
    "greater_than": (lambda lib, c, p: c.greater_than(p), lambda s: s),
    "greater_than number": (lambda lib, c, p: c.greater_than(-1.5), lambda s: s),
    "greater_than_eq": (lambda lib, c, p: c.greater_than_eq(p), lambda s: s),
    "less_than": (lambda lib, c, p: c.less_than(p), lambda s: s),
    "interval": (lambda lib, c, p: c.interval(p, p + 2), lambda s: s),
    "interval numbers": (lambda lib, c, p: c.interval(-1.0, 3.0), lambda s: s),
    "interval from 0": (lambda lib, c, p: c.interval(0.0, 2.0), lambda s: s),
    "interval to 1": (lambda lib, c, p: c.half_open_interval(-1, 1), lambda s: s),
    "interval to a tensor of ones": (lambda lib, c, p: c.interval(0.0, p * 0 + 1), lambda s: s),
    "unit_interval": (lambda lib, c, p: c.unit_interval, lambda s: s),
    "unit interval as ints": (lambda lib, c, p: c.interval(0, 1), lambda s: s),
    "half_open_interval": (lambda lib, c, p: c.half_open_interval(p - 1, p), lambda s: s),
    "simplex": (lambda lib, c, p: c.simplex, lambda s: (*s, 3)),
    "lower_cholesky": (lambda lib, c, p: c.lower_cholesky, lambda s: (*s, 2, 2)),
    "positive_definite": (lambda lib, c, p: c.positive_definite, lambda s: (*s, 2, 2)),
    "positive_semidefinite": (lambda lib, c, p: c.positive_semidefinite, lambda s: (*s, 2, 2)),
    "corr_cholesky": (lambda lib, c, p: c.corr_cholesky, lambda s: (*s, 3)),
    "independent": (lambda lib, c, p: c.independent(c.positive, 1), lambda s: (*s, 2)),
    "independent simplex": (lambda lib, c, p: c.independent(c.simplex, 1), lambda s: (*s, 2, 3)),
    "cat": (lambda lib, c, p: c.cat([c.positive, c.unit_interval, c.real], -1, [1, 2, 1]), lambda s: (*s, 4)),
    "stack": (lambda lib, c, p: c.stack([c.positive, c.less_than(2.0)], -1), lambda s: (*s, 2)),
    "stack of vectors": (lambda lib, c, p: c.stack([c.simplex, c.real_vector], 0), lambda s: (2, *s, 3)),
    # not registered: NotImplementedError from both
    "boolean": (lambda lib, c, p: c.boolean, lambda s: s),
    "nonnegative_integer": (lambda lib, c, p: c.nonnegative_integer, lambda s: s),
    "integer_interval": (lambda lib, c, p: c.integer_interval(0, 3), lambda s: s),
    "one_hot": (lambda lib, c, p: c.one_hot, lambda s: (*s, 3)),
    "multinomial": (lambda lib, c, p: c.multinomial(3), lambda s: (*s, 3)),
    "symmetric": (lambda lib, c, p: c.symmetric, lambda s: (*s, 2, 2)),
}


def _registered(lib: Any, registry: str, name: str, p: Any) -> Any:
    return getattr(lib.distributions, registry)(REGISTRY_CASES[name][0](lib, lib.distributions.constraints, p))


@pytest.mark.parametrize("registry", ["biject_to", "transform_to"])
@pytest.mark.parametrize("name", sorted(REGISTRY_CASES))
@settings(max_examples=25, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS))
def test_registries_match_torch(registry: str, name: str, data: st.DataObject, dtype: Any) -> None:
    """The same transform (repr, static properties) as torch's registry gives, or NotImplementedError from both;
    its forward, inverse and log |det J| on hypothesis inputs as torch's, and its values in the constraint."""
    batch = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    p = _array(data, batch, st.floats(-3, 3), dtype)
    try:
        theirs = _registered(torch, registry, name, torch.tensor(p))
    except NotImplementedError:
        with pytest.raises(NotImplementedError):
            _registered(tg, registry, name, tg.tensor(p))
        return
    ours = _registered(tg, registry, name, tg.tensor(p))
    assert repr(ours) == repr(theirs)
    shape = REGISTRY_CASES[name][1](batch)
    _same_static(ours, theirs, [shape])
    x = _array(data, shape, st.floats(-4, 4) | st.sampled_from([0.0, -0.0, 15.0, -15.0]), dtype)
    rtol = RTOL[dtype] * 1000
    _check(lambda lib, p, x: _registered(lib, registry, name, p)(x), p, x, rtol=rtol)
    # the round trips away from saturation (x = 15 puts sigmoid, tanh and stick breaking within float32's eps of
    # their bounds, where both libraries' inverses are cancellation) and from ill-conditioned L L^T
    moderate = np.clip(x, -2, 2) if name.startswith("positive_") or name == "corr_cholesky" else np.clip(x, -4, 4)
    _check(lambda lib, p, x: (lambda t: t.inv(t(x)))(_registered(lib, registry, name, p)), p, moderate, rtol=rtol)
    _check(lambda lib, p, x: (lambda t: t.log_abs_det_jacobian(x, t(x)))(_registered(lib, registry, name, p)), p, x,
           rtol=rtol)
    in_codomain = moderate if name.startswith("positive_") else x  # (whether L L^T factors: as the round trip)
    _check(lambda lib, p, x: (lambda t: t.codomain.check(t(x)))(_registered(lib, registry, name, p)), p, in_codomain,
           rtol=0)


def test_registry_identity_and_register() -> None:
    """real -> the module's identity_transform; register takes a class or an instance, as a decorator or not,
    refuses non-constraints; a lookup of an unregistered constraint raises NotImplementedError."""
    c = D.constraints
    assert D.biject_to(c.real) is D.transforms.identity_transform is D.identity_transform
    assert D.transform_to(c.real) is D.identity_transform
    registry = D.constraint_registry.ConstraintRegistry()
    with pytest.raises(NotImplementedError, match="_GreaterThan"):
        registry(c.positive)

    @registry.register(c.positive)
    def _softplus(constraint: Any) -> Any:
        return D.transforms.SoftplusTransform()

    assert _softplus(None) == registry(c.greater_than(2.0)) == D.transforms.SoftplusTransform()
    registry.register(c.interval, lambda constraint: D.transforms.SigmoidTransform())
    assert isinstance(registry(c.unit_interval), D.transforms.SigmoidTransform)
    for bad in (1, "positive", int):
        with pytest.raises(TypeError):
            registry.register(bad, _softplus)
        with pytest.raises(TypeError):
            torch.distributions.constraint_registry.ConstraintRegistry().register(bad, _softplus)


# ---------------------------------------------------------------------------------------------- TransformedDistribution
def _loc(lib: Any, a: Any, n: int) -> Any:
    """a (batch) -> (batch, n) locations."""
    return a.unsqueeze(-1) + lib.arange(n, dtype=a.dtype)


DISTRIBUTIONS = {  # name -> maker(lib, a, validate) of a TransformedDistribution; a value maker(lib, t, z)
    "softplus": lambda lib, a, v: lib.distributions.TransformedDistribution(
        lib.distributions.Normal(a, 1.5), T(lib).SoftplusTransform(), validate_args=v),
    "independent exp": lambda lib, a, v: lib.distributions.TransformedDistribution(
        lib.distributions.Normal(_loc(lib, a, 3), 1.0), T(lib).IndependentTransform(T(lib).ExpTransform(), 1),
        validate_args=v),
    "corr cholesky": lambda lib, a, v: lib.distributions.TransformedDistribution(
        lib.distributions.Independent(lib.distributions.Normal(_loc(lib, a, 3), 1.0), 1),
        T(lib).CorrCholeskyTransform(), validate_args=v),
    "reshape": lambda lib, a, v: lib.distributions.TransformedDistribution(
        lib.distributions.Normal(_loc(lib, a, 6).reshape(*a.shape, 2, 3), 2.0),
        [T(lib).ReshapeTransform((2, 3), (6,)), T(lib).SigmoidTransform()], validate_args=v),
    "cat": lambda lib, a, v: lib.distributions.TransformedDistribution(
        lib.distributions.Normal(_loc(lib, a, 3), 1.0),
        T(lib).CatTransform([T(lib).ExpTransform(), T(lib).SigmoidTransform()], -1, [1, 2]), validate_args=v),
    "stack": lambda lib, a, v: lib.distributions.TransformedDistribution(
        lib.distributions.Normal(_loc(lib, a, 2), 1.0),
        T(lib).StackTransform([T(lib).SoftplusTransform(), T(lib).TanhTransform()], -1), validate_args=v),
    "gaussian copula": lambda lib, a, v: lib.distributions.TransformedDistribution(
        lib.distributions.MultivariateNormal(
            _loc(lib, a, 2) * 0.1, scale_tril=lib.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=a.dtype)),
        T(lib).CumulativeDistributionTransform(lib.distributions.Normal(0.0, 1.0)), validate_args=v),
    "stick breaking then reshape": lambda lib, a, v: lib.distributions.TransformedDistribution(
        lib.distributions.Normal(_loc(lib, a, 3), 1.0),
        [T(lib).StickBreakingTransform(), T(lib).ReshapeTransform((4,), (2, 2))], validate_args=v),
}


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
@settings(max_examples=30, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), validate=st.booleans())
def test_transformed_distribution_log_prob_matches_torch(name: str, data: st.DataObject, dtype: Any,
                                                         validate: bool) -> None:
    """log_prob of values made by the distribution's own transforms from hypothesis points (and of raw points,
    out of the support: raise when validating, as torch), with gradients to the location and the point; batch /
    event shapes, support and rsample shapes and gradients as torch's."""
    make = DISTRIBUTIONS[name]
    batch = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    a = _array(data, batch, st.floats(-3, 3), dtype)
    with _torch_sums_empty_batches():
        ours, theirs = make(tg, tg.tensor(a), validate), make(torch, torch.tensor(a), validate)
    assert tuple(ours.batch_shape) == tuple(theirs.batch_shape)
    assert tuple(ours.event_shape) == tuple(theirs.event_shape)
    _same_constraint(ours.support, theirs.support)
    base_shape = tuple(theirs.base_dist.batch_shape + theirs.base_dist.event_shape)
    z = _array(data, base_shape, st.floats(-3, 3) | st.sampled_from([0.0, 6.0, -6.0]), dtype)

    def log_prob(lib: Any, a: Any, z: Any) -> Any:
        d = make(lib, a, validate)
        y = z
        for t in d.transforms:
            y = t(y)
        return d.log_prob(y.detach() + 0 * y)  # gradient to z through the value too, not through a cache

    rtol = RTOL[dtype] * 1000
    _check(log_prob, a, z, rtol=rtol)
    raw = _array(data, tuple(theirs.batch_shape + theirs.event_shape), ANY | UNIT, dtype)
    _check(lambda lib, a, y: make(lib, a, validate).log_prob(y), a, raw, rtol=rtol)
    sample = ours.rsample((2,))
    assert sample.shape == (2, *theirs.batch_shape, *theirs.event_shape)


def test_lower_cholesky_and_softmax_distributions_raise_in_log_prob() -> None:
    """No log |det J| for the non-bijective transforms: log_prob raises NotImplementedError in both libraries."""
    for lib in (tg, torch):
        for t, shape in ((T(lib).LowerCholeskyTransform(), (2, 2)), (T(lib).SoftmaxTransform(), (3,))):
            d = lib.distributions.TransformedDistribution(
                lib.distributions.Independent(lib.distributions.Normal(lib.zeros(shape), 1.0), len(shape)), t)
            with pytest.raises(NotImplementedError):
                d.log_prob(d.sample())


# ---------------------------------------------------------------------------------------------- equality, caching
MADE = {  # fresh instances of each new transform, in both libraries
    "softplus": lambda lib: T(lib).SoftplusTransform(),
    "softmax": lambda lib: T(lib).SoftmaxTransform(),
    "lower cholesky": lambda lib: T(lib).LowerCholeskyTransform(),
    "positive definite": lambda lib: T(lib).PositiveDefiniteTransform(),
    "corr cholesky": lambda lib: T(lib).CorrCholeskyTransform(),
    "independent": lambda lib: T(lib).IndependentTransform(T(lib).ExpTransform(), 1),
    "reshape": lambda lib: T(lib).ReshapeTransform((2, 3), (6,)),
    "cat": lambda lib: T(lib).CatTransform([T(lib).ExpTransform(), T(lib).SoftplusTransform()], 0, [3, 3]),
    "stack": lambda lib: T(lib).StackTransform([T(lib).ExpTransform(), T(lib).SoftplusTransform()], 0),
    "cdf": lambda lib: T(lib).CumulativeDistributionTransform(lib.distributions.Normal(0.0, 1.0)),
}


@pytest.mark.parametrize("name", sorted(MADE))
def test_equality_repr_and_caching_as_torch(name: str) -> None:
    """== between fresh instances and with other kinds, repr, with_cache (the same object for the same size, a
    cached copy else) and a cached transform's inverse returning the very x it saw, as torch's."""
    ours, theirs = MADE[name](tg), MADE[name](torch)
    assert (ours == MADE[name](tg)) == (theirs == MADE[name](torch))
    assert (ours != MADE[name](tg)) == (theirs != MADE[name](torch))
    assert (ours == T(tg).ExpTransform()) == (theirs == T(torch).ExpTransform()) is False
    assert ours == ours and ours.inv.inv is ours and (ours.inv == MADE[name](tg).inv) == (
        theirs.inv == MADE[name](torch).inv)
    assert repr(ours) == repr(theirs) and repr(ours.inv) == repr(theirs.inv)
    assert ours.with_cache(0) is ours
    cached = ours.with_cache(1)
    assert type(cached) is type(ours) and cached._cache_size == 1 and cached.with_cache(1) is cached
    shape = {"reshape": (2, 3), "stack": (2, 3), "lower cholesky": (3, 2, 2), "positive definite": (3, 2, 2)}
    x = tg.tensor(np.linspace(-1, 1, 12)[:math.prod(shape.get(name, (6, 1)))].reshape(shape.get(name, (6, 1))))
    y = cached(x)
    assert cached(x) is y and cached.inv(y) is x
    assert ours.inv.with_cache(1).inv._cache_size == 1


def test_functor_caches_reach_their_parts() -> None:
    """with_cache on Independent / Cat / Stack caches their parts too (torch's), and a cached functor's inverse
    returns the input it saw."""
    for lib in (tg, torch):
        t = T(lib)
        for functor in (t.IndependentTransform(t.ExpTransform(), 1, cache_size=1),
                        t.CatTransform([t.ExpTransform()], 0, [2], cache_size=1),
                        t.StackTransform([t.ExpTransform(), t.TanhTransform()], 0, cache_size=1)):
            parts = getattr(functor, "transforms", None) or [functor.base_transform]
            assert all(p._cache_size == 1 for p in parts)
            x = lib.tensor([0.5, -0.25])
            assert functor.inv(functor(x)) is x
        with pytest.raises(ValueError):
            t.IndependentTransform(t.ExpTransform(), 1, cache_size=2)


# ---------------------------------------------------------------------------------------------- utils, modules
@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS))
def test_tril_vector_helpers_match_torch(data: st.DataObject, dtype: Any) -> None:
    """distributions.utils.vec_to_tril_matrix / tril_matrix_to_vec (row order, any diag; sizes that are no
    triangle and diags out of range raise) with gradients, as torch's."""
    from torch.distributions import utils as torch_utils

    from tinygrad_adam.distributions import utils as our_utils

    batch = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    n, diag = data.draw(st.integers(0, 4)), data.draw(st.integers(-3, 1))
    m = data.draw(st.sampled_from([sum(max(0, min(n, r + diag + 1)) for r in range(n)), 2, 4, 5]))
    pick = lambda lib: our_utils if lib is tg else torch_utils  # noqa: E731
    vec = _array(data, (*batch, m), ANY, dtype)
    _check(lambda lib, v: pick(lib).vec_to_tril_matrix(v, diag), vec, rtol=0)
    mat = _array(data, (*batch, n, n), ANY, dtype)
    _check(lambda lib, v: pick(lib).tril_matrix_to_vec(v, diag), mat, rtol=0)


MODULES = {"chi2": ["Chi2"], "half_cauchy": ["HalfCauchy"], "log_normal": ["LogNormal"],
           "logistic_normal": ["LogisticNormal"], "pareto": ["Pareto"], "weibull": ["Weibull"],
           "relaxed_bernoulli": ["LogitRelaxedBernoulli", "RelaxedBernoulli"],
           "relaxed_categorical": ["ExpRelaxedCategorical", "RelaxedOneHotCategorical"], "studentT": ["StudentT"],
           "constraint_registry": ["ConstraintRegistry", "biject_to", "transform_to"]}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_torch_submodule_import_paths(module: str) -> None:
    """``from tinygrad_adam.distributions.<m> import X`` wherever ``from torch.distributions.<m> import X`` works,
    the same objects as the package's, the same ``__all__``."""
    ours = importlib.import_module(f"tinygrad_adam.distributions.{module}")
    theirs = importlib.import_module(f"torch.distributions.{module}")
    assert sorted(ours.__all__) == sorted(theirs.__all__) == sorted(MODULES[module])
    for name in ours.__all__:
        obj = getattr(ours, name)
        home = D.relaxed if name in ("LogitRelaxedBernoulli", "ExpRelaxedCategorical") else \
            D.constraint_registry if name == "ConstraintRegistry" else D
        assert obj is getattr(home, name)
    assert set(torch.distributions.transforms.__all__) <= set(D.transforms.__all__)
    new = {"biject_to", "transform_to", "identity_transform", "CatTransform", "StackTransform", "ReshapeTransform"}
    assert new <= set(D.__all__) and all(hasattr(D, n) for n in D.__all__)


# ---------------------------------------------------------------------------------------------- GPU
def _gpu_program(device: str) -> list[Any]:
    x = tg.tensor(np.cos(np.arange(24.0)).reshape(2, 3, 4), dtype=np.float32, device=device, requires_grad=True)
    t = D.transforms
    sq = x[..., :3]
    corr = t.CorrCholeskyTransform()
    y = corr(x[..., :3])
    outs = [t.SoftplusTransform()(x), t.SoftplusTransform().inv(x.abs() + 0.1), t.SoftmaxTransform()(x),
            t.LowerCholeskyTransform()(sq), t.PositiveDefiniteTransform()(sq),
            t.PositiveDefiniteTransform().inv(t.PositiveDefiniteTransform()(sq)), y, corr.inv(y),
            corr.log_abs_det_jacobian(x[..., :3], y), t.ReshapeTransform((3, 4), (12,))(x),
            t.CatTransform([t.ExpTransform(), t.SigmoidTransform()], -1, [1, 3])(x),
            t.StackTransform([t.ExpTransform(), t.TanhTransform()], 0).log_abs_det_jacobian(x, x),
            t.CumulativeDistributionTransform(D.Normal(0.0, 1.0))(x),
            D.constraints.corr_cholesky.check(y).float(), D.constraints.positive_semidefinite.check(sq).float()]
    sum(o.sum() for o in outs if o.requires_grad).backward()
    return [*outs, x.grad]


@pytest.mark.gpu
def test_transforms_on_the_gpu_match_the_cpu() -> None:
    for i, (a, b) in enumerate(zip(_gpu_program("cpu"), _gpu_program("cuda"), strict=True)):
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape, i
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=str(i))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_stack_refuses_dims_out_of_range_as_torch(data: st.DataObject) -> None:
    """StackTransform's log |det J| stacks results of fewer dims than its input: ``stack`` must raise IndexError for
    a dim out of range (it wrapped it round silently before)."""
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    dim = data.draw(st.integers(-len(shape) - 3, len(shape) + 2))
    x = np.zeros(shape)
    _check(lambda lib, a: lib.stack([a, a + 1], dim), x, rtol=0)


@settings(max_examples=40, deadline=None)
@given(dim=st.integers(-4, 3), n=st.integers(1, 3))
def test_cat_of_only_1d_empties_takes_any_dim_as_torch(dim: int, n: int) -> None:
    """CatTransform / the cat constraint join (0,)-shaped pieces: torch's cat leaves 1-D empties out and checks no
    dim when nothing else is left; so does ours (it raised IndexError before)."""
    _check(lambda lib, a: lib.cat([a] * n, dim), np.zeros(0), rtol=0)
    _check(lambda lib, a, b: lib.cat([a, b], dim), np.zeros(0), np.ones((2, 3)), rtol=0)
