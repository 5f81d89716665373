"""torch 2.13's "infrastructure" names against torch: constants, ``dtype``, memory formats and layouts, storage and
strides (``as_strided`` and its family, ``storage_offset``, ``empty_strided``, ``untyped_storage``, shared memory),
``testing.assert_close`` / ``make_tensor``, ``jit`` / ``compiler`` pass-throughs, determinism / matmul-precision /
print options, anomaly detection, ``is_inference``, ``typename``, ``GradScaler``."""

from __future__ import annotations

import math
import os
import pickle
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
from tinygrad_adam import nn

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

FORMATS = ("contiguous_format", "channels_last", "channels_last_3d", "preserve_format")


def both(name: str) -> tuple[Any, Any]:
    return getattr(tg, name), getattr(torch, name)


# ---------------------------------------------------------------------------------------------- constants, dtype
def test_constants_are_torchs() -> None:
    for name in ("inf", "pi", "e"):
        assert getattr(tg, name) == getattr(torch, name)
    assert math.isnan(tg.nan) and tg.newaxis is torch.newaxis is None
    x = tg.zeros(2, 3)
    assert x[:, tg.newaxis].shape == (2, 1, 3)


def test_dtype_type_accepts_every_dtype_and_keeps_equality() -> None:
    for name in ("float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"):
        ours = getattr(tg, name)
        assert isinstance(ours, tg.dtype) and isinstance(getattr(torch, name), torch.dtype)
        x = tg.zeros(2, dtype=ours)
        assert isinstance(x.dtype, tg.dtype) and x.dtype == ours
    for not_a_dtype in (3, "float32", tg.zeros(1), np.zeros(1), float, None):
        assert not isinstance(not_a_dtype, tg.dtype)
    with pytest.raises(TypeError):
        tg.dtype("float32")

    def hinted(d: tg.dtype) -> tg.dtype:
        return d
    assert hinted(tg.float32) is tg.float32


# ---------------------------------------------------------------------------------------------- memory formats
def test_memory_formats_and_layout_objects() -> None:
    for name in FORMATS:
        ours, theirs = both(name)
        assert isinstance(ours, tg.memory_format) and isinstance(theirs, torch.memory_format)
        assert repr(ours) == repr(theirs).replace("torch", "tinygrad_adam")
        assert pickle.loads(pickle.dumps(ours)) is ours
    assert isinstance(tg.strided, tg.layout) and repr(tg.strided) == "tinygrad_adam.strided"
    assert pickle.loads(pickle.dumps(tg.strided)) is tg.strided
    assert tg.zeros(2).layout is tg.strided and torch.zeros(2).layout is torch.strided


def pair(shape: tuple[int, ...], perm: tuple[int, ...], step: int) -> tuple[Any, Any]:
    """The same values in both libraries, laid out by ``perm`` (a permuted contiguous tensor) and sliced by ``step``
    along the last dim: contiguous, channels-last-like, permuted or non-dense strides."""
    inverse = tuple(int(i) for i in np.argsort(perm))
    full = tuple(shape[:-1]) + (shape[-1] * step,)
    base = np.arange(math.prod(full), dtype=np.float32).reshape(tuple(full[p] for p in perm))
    ours = tg.tensor(base).permute(*inverse)[..., ::step]
    theirs = torch.tensor(base).permute(*inverse)[..., ::step]
    assert ours.stride() == theirs.stride()
    return ours, theirs


layouts_ = st.integers(3, 5).flatmap(lambda n: st.tuples(  # (empty tensors: numpy's strides, see below)
    st.lists(st.integers(1, 3), min_size=n, max_size=n).map(tuple), st.permutations(range(n)).map(tuple),
    st.sampled_from([1, 2])))


@settings(max_examples=120, deadline=None)
@given(layouts_)
def test_is_contiguous_contiguous_clone_and_like_agree_with_torch(case: Any) -> None:
    shape, perm, step = case
    ours, theirs = pair(shape, perm, step)
    for name in FORMATS:
        fmt, tfmt = both(name)
        assert ours.is_contiguous(memory_format=fmt) == theirs.is_contiguous(memory_format=tfmt), name
        for method in ("contiguous", "clone", "to"):
            kwargs = {"memory_format": fmt}
            try:
                expected = getattr(theirs, method)(memory_format=tfmt)
            except RuntimeError:
                with pytest.raises(RuntimeError):
                    getattr(ours, method)(**kwargs)
                continue
            got = getattr(ours, method)(**kwargs)
            assert got.stride() == expected.stride(), (method, name)
            assert (got is ours) == (expected is theirs), (method, name)
            np.testing.assert_array_equal(got.numpy(), expected.numpy())
        for like in ("zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"):
            try:
                expected = getattr(torch, like)(theirs, memory_format=tfmt)
            except RuntimeError:
                with pytest.raises(RuntimeError):
                    getattr(tg, like)(ours, memory_format=fmt)
                continue
            got = getattr(tg, like)(ours, memory_format=fmt)
            assert got.stride() == expected.stride() and got.shape == tuple(expected.shape), (like, name)
    assert tg.zeros_like(ours).stride() == torch.zeros_like(theirs).stride()
    assert tg.full_like(ours, 7.0).stride() == torch.full_like(theirs, 7.0).stride()
    assert tg.clone(ours).stride() == torch.clone(theirs).stride()


def test_memory_formats_of_empty_tensors_keep_shapes() -> None:
    for shape in ((0, 3, 4, 5), (2, 0, 1, 1), (0, 0, 0, 0, 0)):
        x = tg.zeros(*shape)
        for name in FORMATS:
            fmt = getattr(tg, name)
            if fmt.rank in (None, len(shape)):
                for out in (x.clone(memory_format=fmt), tg.zeros_like(x, memory_format=fmt),
                            x.to(memory_format=fmt), x.contiguous(memory_format=fmt)):
                    assert out.shape == shape
        assert x.is_contiguous() and torch.zeros(*shape).is_contiguous()


def test_memory_format_copies_are_differentiable_and_checked() -> None:
    x = tg.randn(2, 3, 4, 5, requires_grad=True)
    y = x.contiguous(memory_format=tg.channels_last)
    assert y.stride() == (60, 1, 15, 3) and y.is_contiguous(memory_format=tg.channels_last)
    assert not y.is_contiguous() and y.contiguous().is_contiguous()
    (y * tg.arange(120.0).reshape(2, 3, 4, 5)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(120.0).reshape(2, 3, 4, 5))
    np.testing.assert_array_equal((y + 1).numpy(), x.numpy() + 1)
    t = x.detach().t() if x.ndim == 2 else x.detach().transpose(0, 1)
    with pytest.raises(RuntimeError, match="preserve_format"):
        t.contiguous(memory_format=tg.preserve_format)
    with pytest.raises(TypeError, match="memory_format"):
        x.contiguous(memory_format=tg.strided)
    with pytest.raises(TypeError):
        torch.zeros(2).contiguous(memory_format=torch.strided)
    assert tg.zeros_like(x, layout=tg.strided).shape == x.shape
    with pytest.raises(NotImplementedError, match="layout"):
        tg.zeros_like(x, layout="sparse_coo")
    for make in ("zeros", "ones", "empty"):
        assert getattr(tg, make)(2, 3, layout=tg.strided).shape == (2, 3)
        with pytest.raises(NotImplementedError, match="layout"):
            getattr(tg, make)(2, layout="sparse_csr")
    assert tg.full((2,), 3.0, layout=tg.strided).tolist() == [3.0, 3.0]
    for lib in (tg, torch):
        e = lib.empty(2, 3, 4, 5, memory_format=lib.channels_last)
        assert e.stride() == (60, 1, 15, 3) and e.shape == (2, 3, 4, 5)
        with pytest.raises(RuntimeError):
            lib.empty(2, 3, memory_format=lib.channels_last)
        z = x.to(tg.float64, memory_format=tg.channels_last)
    assert z.dtype == tg.float64 and z.stride() == (60, 1, 15, 3)


def test_module_to_channels_last_lays_out_4d_parameters_only() -> None:
    tg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    x = tg.randn(2, 3, 6, 6)
    before = model(x).numpy()
    assert model.to(memory_format=tg.channels_last) is model
    weight = model[0].weight
    tmodel = torch.nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
    assert weight.stride() == tmodel.weight.stride() and model[3].weight.is_contiguous()
    np.testing.assert_allclose(model(x).numpy(), before, rtol=1e-6, atol=1e-6)
    loss = model(x.contiguous(memory_format=tg.channels_last)).sum()
    loss.backward()
    assert weight.grad.shape == weight.shape


# ---------------------------------------------------------------------------------------------- storage, as_strided
def test_storage_offset_untyped_storage_and_data_ptr_agree() -> None:
    ours, theirs = tg.arange(24.0).reshape(4, 6), torch.arange(24.0).reshape(4, 6)
    views = [lambda x: x, lambda x: x[1:], lambda x: x[2:, 3:], lambda x: x.t()[1:], lambda x: x[1][2:],
             lambda x: x[:, 1].unsqueeze(0), lambda x: x.reshape(-1)[5:9], lambda x: x.detach()[3]]
    for view in views:
        a, b = view(ours), view(theirs)
        assert a.storage_offset() == b.storage_offset() and a.stride() == b.stride()
        sa, sb = a.untyped_storage(), b.untyped_storage()
        assert sa.nbytes() == sb.nbytes() == sa.size() == len(sa) == 96
        assert a.data_ptr() == sa.data_ptr() + a.storage_offset() * a.element_size()
        assert sa.data_ptr() == ours.data_ptr()
        assert tg.is_storage(sa) and torch.is_storage(sb) and not tg.is_storage(a)
    for dtype in ("float64", "int8", "int16"):
        a, b = tg.arange(24, dtype=getattr(tg, dtype)), torch.arange(24, dtype=getattr(torch, dtype))
        for view in (lambda x: x[5:], lambda x: x.reshape(4, 6)[1:, 2:].t(), lambda x: x[3:].as_strided((2,), (3,))):
            assert view(a).storage_offset() == view(b).storage_offset()
            assert view(a).untyped_storage().nbytes() == view(b).untyped_storage().nbytes()
    fresh = tg.tensor(np.arange(10.0)[2:])  # storage is the array handed over, as torch.from_numpy's
    assert fresh.storage_offset() == torch.from_numpy(np.arange(10.0)[2:]).storage_offset() == 0


VIEW_OR_COPY = {  # ops whose result torch makes a view or a copy: ours must share (or not) the same storage
    "rot90": lambda L, a: a.rot90(), "diagonal": lambda L, a: a.diagonal(1), "T": lambda L, a: a.T,
    "expand": lambda L, a: a[:1].expand(3, 3), "unfold": lambda L, a: a.unfold(1, 2, 1),
    "narrow": lambda L, a: a.narrow(1, 1, 2), "select": lambda L, a: a.select(0, 1),
    "movedim": lambda L, a: a.movedim(0, 1), "reshape_copy": lambda L, a: a.t().reshape(-1),
    "flatten": lambda L, a: a.flatten(), "unbind": lambda L, a: a.unbind(0)[1], "split": lambda L, a: a.split(1, 1)[2],
    "chunk": lambda L, a: a.chunk(3, 1)[1], "hsplit": lambda L, a: L.hsplit(a, 3)[1], "mT": lambda L, a: a.mT,
    "to_same": lambda L, a: a.to(L.float32), "contiguous_t": lambda L, a: a.t().contiguous(),
    "detach": lambda L, a: a.detach(), "unflatten": lambda L, a: a.unflatten(1, (3, 1)),
    "view_dtype": lambda L, a: a.view(L.int32), "slice": lambda L, a: a[:, 1::2], "index": lambda L, a: a[None, 1],
    "squeeze": lambda L, a: a[None].squeeze(), "flip": lambda L, a: a.flip(1), "roll": lambda L, a: a.roll(1, 1),
    "clone_t": lambda L, a: a.t().clone(), "atleast_3d": lambda L, a: L.atleast_3d(a),
    # an alias of a view lies in the view's storage (its offset was 0 here and as_strided read its own memory)
    "detach_of_view": lambda L, a: a[1].detach(), "data_of_view": lambda L, a: a[:, 1:].data,
    "parameter_of_view": lambda L, a: L.nn.Parameter(a[1, 1:]), "buffer_of_view": lambda L, a: L.nn.Buffer(a[:, 2]),
    "alias_chain": lambda L, a: a[1:].detach()[0, 1:].detach().data,
    "data_set_to_view": lambda L, a: _with_data(L.zeros(2), a[1, 1:]),
}


def _with_data(t, value):
    """``t`` after ``t.data = value``: it takes value's storage, as torch's."""
    t.data = value
    return t


@pytest.mark.parametrize("name", sorted(VIEW_OR_COPY))
def test_views_and_copies_share_storage_as_torch(name: str) -> None:
    """as_strided reads the storage: an op that torch answers with a copy must not be a view here (or the reverse),
    else as_strided with an explicit offset would read other values silently."""
    f = VIEW_OR_COPY[name]
    a, b = f(tg, tg.arange(6.0).reshape(2, 3)), f(torch, torch.arange(6.0).reshape(2, 3))
    assert a.storage_offset() == b.storage_offset()
    assert a.untyped_storage().nbytes() == b.untyped_storage().nbytes()
    assert [s for s, n in zip(a.stride(), a.shape) if n > 1] == [s for s, n in zip(b.stride(), b.shape) if n > 1]
    size = min(2, a.untyped_storage().nbytes() // a.element_size())
    np.testing.assert_array_equal(a.as_strided((size,), (1,), 0).detach().numpy(),
                                  b.as_strided((size,), (1,), 0).detach().numpy())


geometry = st.integers(0, 3).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 4), min_size=n, max_size=n), st.lists(st.integers(0, 4), min_size=n, max_size=n),
    st.one_of(st.none(), st.integers(0, 12)), st.sampled_from(["whole", "slice", "transpose", "expand"])))


def _source(lib: Any, kind: str) -> tuple[Any, Any]:
    """(leaf, the tensor as_strided is called on): the leaf, a slice, a transpose or an overlapping expand."""
    leaf = lib.tensor(np.linspace(-1, 2, 12), requires_grad=True)
    x = leaf * 1
    view = {"whole": x, "slice": x[3:9], "transpose": x.reshape(3, 4).t(), "expand": x[:4].expand(3, 4)}[kind]
    return leaf, view


@settings(max_examples=250, deadline=None)
@given(geometry)
def test_as_strided_matches_torch_values_errors_and_gradients(case: Any) -> None:
    size, stride, offset, kind = case
    tleaf, tview = _source(torch, kind)
    leaf, view = _source(tg, kind)
    args = (size, stride) if offset is None else (size, stride, offset)
    try:
        expected = tview.as_strided(*args)
    except RuntimeError:
        with pytest.raises(RuntimeError):
            view.as_strided(*args)
        return
    got = view.as_strided(*args)
    assert got.shape == tuple(expected.shape) and got.stride() == expected.stride()
    assert got.storage_offset() == expected.storage_offset()
    np.testing.assert_array_equal(got.numpy(), expected.detach().numpy())
    np.testing.assert_array_equal(tg.as_strided_copy(view, *args).numpy(), expected.detach().numpy())
    weights = np.cos(np.arange(expected.numel()) + 1.0).reshape(tuple(expected.shape))
    (expected * torch.tensor(weights)).sum().backward()
    (got * tg.tensor(weights)).sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), tleaf.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_as_strided_views_share_memory_and_versions() -> None:
    base = tg.arange(6.0)
    window = base.as_strided((4, 3), (1, 1))  # sliding windows, overlapping
    np.testing.assert_array_equal(window.numpy(), torch.arange(6.0).as_strided((4, 3), (1, 1)).numpy())
    base[2] = 100.0
    assert window[0, 2].item() == window[1, 1].item() == window[2, 0].item() == 100.0
    assert window.untyped_storage().data_ptr() == base.untyped_storage().data_ptr()
    w = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = w.exp()
    v = y.as_strided((2,), (1,), 1)
    loss = (v * v).sum()
    with tg.no_grad():
        y[1] = 0.0  # written after as_strided's product saved v: backward must refuse
    with pytest.raises(RuntimeError, match="in-place"):
        loss.backward()


def test_as_strided_in_place_follows_torch() -> None:
    for lib in (tg, torch):
        w = lib.arange(6.0)
        assert w.as_strided_((2, 2), (1, 1), 1) is w
    ours, theirs = tg.arange(6.0)[2:], torch.arange(6.0)[2:]
    ours.as_strided_((2, 2), (2, 1), 0)
    theirs.as_strided_((2, 2), (2, 1), 0)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert ours.storage_offset() == theirs.storage_offset() and ours.stride() == theirs.stride()
    leaves = [lib.tensor(np.linspace(0, 1, 6), requires_grad=True) for lib in (tg, torch)]
    for leaf in leaves:
        c = leaf * 2
        c.as_strided_((2, 3), (1, 1), 1)
        (c * c).sum().backward()
    np.testing.assert_allclose(leaves[0].grad.numpy(), leaves[1].grad.numpy(), rtol=1e-12)
    for lib in (tg, torch):
        with pytest.raises(RuntimeError):
            lib.ones(3, requires_grad=True).as_strided_((2,), (1,))


scatter_cases = st.tuples(st.lists(st.integers(1, 3), min_size=1, max_size=2), st.lists(st.integers(0, 3),
                          min_size=1, max_size=2), st.integers(0, 6), st.booleans())


@settings(max_examples=150, deadline=None)
@given(scatter_cases)
def test_as_strided_scatter_matches_torch_and_the_true_gradient(case: Any) -> None:
    """Values, strides and errors as torch's; gradients the true ones (the input's: g with the written places
    zeroed; src's: g where each element went). torch 2.13's fail its own gradcheck there (the input's always, src's
    for a non-contiguous input), so they are compared with torch only for src of a contiguous input."""
    size, stride, offset, transposed = case
    n = min(len(size), len(stride))
    size, stride = size[:n], stride[:n]
    src_np = 100 + np.arange(math.prod(size), dtype=np.float64).reshape(size)
    base_np = np.arange(12.0).reshape(3, 4)
    tsrc = torch.tensor(src_np, requires_grad=True)
    try:
        theirs = torch.as_strided_scatter(torch.tensor(base_np).t() if transposed else torch.tensor(base_np), tsrc,
                                          size, stride, offset)
    except RuntimeError:
        with pytest.raises(RuntimeError):
            tg.as_strided_scatter(tg.tensor(base_np).t() if transposed else tg.tensor(base_np),
                                  tg.tensor(src_np), size, stride, offset)
        return
    base, src = tg.tensor(base_np, requires_grad=True), tg.tensor(src_np, requires_grad=True)
    ours = tg.as_strided_scatter(base.t() if transposed else base * 1, src, size, stride, offset)
    assert ours.stride() == theirs.stride() and ours.shape == tuple(theirs.shape)
    at = {sum(a * b for a, b in zip(i, ours.stride())): i for i in np.ndindex(*ours.shape)}  # storage place -> index
    went = {i: at[offset + sum(a * b for a, b in zip(i, stride))] for i in np.ndindex(*size)}
    if len(set(went.values())) < len(went):  # two writes to one place: torch leaves the winner unspecified
        return
    np.testing.assert_array_equal(ours.numpy(), theirs.detach().numpy())
    weights = np.cos(np.arange(12.0) + 1).reshape(tuple(ours.shape))
    (ours * tg.tensor(weights)).sum().backward()
    expected_src = np.array([weights[went[i]] for i in np.ndindex(*size)]).reshape(size)
    expected_base = weights.copy()
    for i in went.values():
        expected_base[i] = 0.0
    np.testing.assert_array_equal(src.grad.numpy(), expected_src)
    np.testing.assert_array_equal(base.grad.numpy(), expected_base.T if transposed else expected_base)
    if not transposed:
        (theirs * torch.tensor(weights)).sum().backward()
        np.testing.assert_array_equal(src.grad.numpy(), tsrc.grad.numpy())
    assert tg.gradcheck(lambda a, b: tg.as_strided_scatter(a.t() if transposed else a, b, size, stride, offset),
                        (tg.tensor(base_np, requires_grad=True), tg.tensor(src_np, requires_grad=True)))


def test_empty_strided_and_new_empty_strided() -> None:
    for size, stride in [((2, 3), (1, 2)), ((2, 3), (3, 1)), ((4,), (0,)), ((0, 3), (5, 7)), ((), ())]:
        ours, theirs = tg.empty_strided(size, stride), torch.empty_strided(size, stride)
        assert ours.stride() == theirs.stride() and ours.shape == tuple(theirs.shape) and ours.dtype == tg.float32
        new = tg.zeros(1, dtype=tg.float64).new_empty_strided(size, stride)
        assert new.stride() == stride and new.dtype == tg.float64
    assert tg.empty_strided((2,), (1,), dtype=tg.int64, requires_grad=False).dtype == tg.int64
    for lib in (tg, torch):
        with pytest.raises(RuntimeError):
            lib.empty_strided((2, 2), (1, -1))
        with pytest.raises(RuntimeError):
            lib.empty_strided((2, 2), (1,))


def test_share_memory_is_real_shared_memory_across_fork() -> None:
    x = tg.zeros(4)
    assert not x.is_shared() and not torch.zeros(4).is_shared()
    assert x.share_memory_() is x and x.is_shared() and x[1:].is_shared()
    assert x.share_memory_() is x
    view = tg.zeros(4)[1:]
    with pytest.raises(RuntimeError, match="view"):
        view.share_memory_()
    model = nn.Linear(3, 2)
    weight = model.weight.numpy().copy()
    assert model.share_memory() is model and model.weight.is_shared()
    np.testing.assert_array_equal(model.weight.numpy(), weight)
    if not hasattr(os, "fork"):
        return
    pid = os.fork()
    if pid == 0:  # the child writes; the parent must see it
        x[2] = 5.0
        with tg.no_grad():
            model.weight[0, 0] = 9.0
        os._exit(0)
    os.waitpid(pid, 0)
    assert x[2].item() == 5.0 and model.weight[0, 0].item() == 9.0


# ---------------------------------------------------------------------------------------------- testing
values = st.one_of(st.floats(-1e6, 1e6), st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-7]))
close_cases = st.tuples(
    st.lists(st.tuples(values, values, st.floats(-1e-4, 1e-4)), min_size=0, max_size=5),
    st.sampled_from(["float32", "float64", "float16", "int64", "bool"]),
    st.one_of(st.none(), st.tuples(st.sampled_from([0.0, 1e-6, 1e-3]), st.sampled_from([0.0, 1e-8, 1e-3]))),
    st.booleans())


@settings(max_examples=300, deadline=None)
@given(close_cases)
def test_assert_close_passes_and_fails_as_torch(case: Any) -> None:
    rows, dtype, tolerances, equal_nan = case
    a = np.array([r[0] for r in rows], dtype=np.float64)
    b = np.array([r[1] if i % 2 else r[0] + r[2] * max(1.0, abs(r[0])) for i, r in enumerate(rows)], np.float64)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = np.nan_to_num(a, nan=np.nan).astype(dtype), b.astype(dtype)
    kwargs = {"equal_nan": equal_nan}
    if tolerances is not None:
        kwargs.update(rtol=tolerances[0], atol=tolerances[1])
    try:
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b), **kwargs)
        theirs = None
    except AssertionError as error:
        theirs = str(error)
    try:
        tg.testing.assert_close(tg.tensor(a), tg.tensor(b), **kwargs)
        ours = None
    except AssertionError as error:
        ours = str(error)
    assert (ours is None) == (theirs is None), (ours, theirs)
    if ours is not None:
        assert ours.splitlines()[0] == theirs.splitlines()[0]
        assert ours.splitlines()[2] == theirs.splitlines()[2]  # "Mismatched elements: k / n (p%)"


def test_assert_close_messages_and_structure() -> None:
    close = tg.testing.assert_close
    with pytest.raises(AssertionError, match="'dtype' do not match"):
        close(tg.zeros(2), tg.zeros(2, dtype=tg.float64))
    close(tg.zeros(2), tg.zeros(2, dtype=tg.float64), check_dtype=False)
    with pytest.raises(AssertionError, match="'shape' do not match"):
        close(tg.zeros(2), tg.zeros(3))
    with pytest.raises(AssertionError, match="stride"):
        close(tg.zeros(2, 2).t(), tg.zeros(2, 2), check_stride=True)
    close(tg.zeros(2, 2).t(), tg.zeros(2, 2))
    with pytest.raises(AssertionError, match=r"^custom$"):
        close(tg.ones(2), tg.zeros(2), msg="custom")
    with pytest.raises(AssertionError, match=r"^XTenso$"):
        close(tg.ones(2), tg.zeros(2), msg=lambda m: "X" + m[:5])
    with pytest.raises(AssertionError, match=r"Greatest absolute difference: 2\.0 at index \(1,\)"):
        close(tg.tensor([1.0, 3.0]), tg.tensor([1.0, 1.0]))
    with pytest.raises(AssertionError, match="Scalars are not close"):
        close(tg.tensor(1.0), tg.tensor(2.0))
    close(1.0, 1.0 + 1e-8)
    for lib in (tg, torch):
        with pytest.raises(AssertionError, match="Scalars are not close"):
            lib.testing.assert_close(1.0, 1.0 + 1e-5)
        with pytest.raises(AssertionError, match="types do not match"):
            lib.testing.assert_close(1, 1.0)
        with pytest.raises(ValueError, match="atol"):
            lib.testing.assert_close(lib.zeros(1), lib.zeros(1), rtol=1e-3)
        with pytest.raises(TypeError):
            lib.testing.assert_close(lib.zeros(1), 0.0)
        with pytest.raises(AssertionError, match="length of the sequences"):
            lib.testing.assert_close([1.0, 2.0], [1.0, 2.0, 3.0])
        with pytest.raises(AssertionError, match=r"item \[1\]"):
            lib.testing.assert_close([lib.zeros(2), lib.ones(2)], [lib.zeros(2), lib.zeros(2)])
        with pytest.raises(AssertionError, match="keys of the mappings"):
            lib.testing.assert_close({"a": 1}, {"b": 1})
        lib.testing.assert_close({"a": (lib.zeros(2), 3)}, {"a": [lib.zeros(2), 3]})
        with pytest.raises(AssertionError, match="not equal"):
            lib.testing.assert_close(lib.tensor([True]), lib.tensor([False]))
    close(np.zeros(2), np.zeros(2))


def test_make_tensor_matches_torch() -> None:
    tg.manual_seed(0)
    for dtype, (lo, hi) in {"float32": (-9, 9), "float64": (-9, 9), "int64": (-9, 9), "int8": (-9, 9),
                            "uint8": (0, 9), "bool": (0, 1)}.items():
        x = tg.testing.make_tensor(400, dtype=getattr(tg, dtype), device="cpu")
        assert x.dtype == getattr(tg, dtype) and x.shape == (400,)
        v = x.numpy().astype(np.float64)
        assert lo <= v.min() and v.max() <= hi and v.max() > v.min()
    x = tg.testing.make_tensor((3, 4), dtype=tg.float32, device="cpu", low=2, high=3, requires_grad=True)
    assert x.requires_grad and x.shape == (3, 4) and x.min().item() >= 2 and x.max().item() < 3
    u = tg.testing.make_tensor(300, dtype=tg.uint8, device="cpu", low=-100, high=1000)
    assert u.numpy().min() >= 0 and u.numpy().max() <= 255
    assert tg.testing.make_tensor(5, dtype=tg.int64, device="cpu", low=1, high=1.5).numpy().tolist() == [1] * 5
    kw = {"dtype": tg.float32, "device": "cpu"}
    nc = tg.testing.make_tensor(3, 4, noncontiguous=True, **kw)
    tnc = torch.testing.make_tensor(3, 4, dtype=torch.float32, device="cpu", noncontiguous=True)
    assert nc.stride() == tnc.stride() and not nc.is_contiguous()
    cl = tg.testing.make_tensor(2, 3, 4, 5, memory_format=tg.channels_last, **kw)
    assert cl.stride() == (60, 1, 15, 3)
    nz = tg.testing.make_tensor(500, dtype=tg.int64, device="cpu", low=0, high=2, exclude_zero=True)
    assert (nz.numpy() != 0).all()
    fz = tg.testing.make_tensor(50, low=0, high=1e-30, exclude_zero=True, **kw)
    assert (fz.numpy() != 0).all()
    for bad in ({"low": 2, "high": 1}, {"low": float("nan")}):
        for lib in (tg, torch):
            with pytest.raises(ValueError):
                lib.testing.make_tensor(3, dtype=lib.float32, device="cpu", **bad)
    for lib in (tg, torch):
        with pytest.raises(ValueError):
            lib.testing.make_tensor(3, dtype=lib.int64, device="cpu", requires_grad=True)
        with pytest.raises(ValueError):
            lib.testing.make_tensor(3, dtype=lib.int64, device="cpu", low=1, high=1)


# ---------------------------------------------------------------------------------------------- jit, compiler
def test_jit_and_compiler_pass_through() -> None:
    model = nn.Linear(2, 2)
    jit = tg.jit
    assert jit.script(model) is model and jit.trace(model, tg.zeros(1, 2)) is model
    assert jit.trace_module(model, {"forward": tg.zeros(1, 2)}) is model

    @jit.ignore
    def a(x: Any) -> Any:
        return x + 1

    @jit.ignore(drop=True)
    def b(x: Any) -> Any:
        return x + 2

    @jit.unused
    def c(x: Any) -> Any:
        return x + 3

    @jit.export
    def d(x: Any) -> Any:
        return x + 4
    assert (a(1), b(1), c(1), d(1)) == (2, 3, 4, 5)
    assert not jit.is_scripting() and not jit.is_tracing() and jit.annotate(list, [1]) == [1]
    assert jit.wait(jit.fork(lambda x: x * 2, 3)) == 6
    assert not isinstance(model, jit.ScriptModule)
    limit: jit.Final[int] = 3
    assert limit == 3
    with pytest.raises(NotImplementedError, match=r"tinygrad_adam\.save"):
        jit.save(model, "m.pt")
    with pytest.raises(NotImplementedError, match=r"tinygrad_adam\.load"):
        jit.load("m.pt")
    comp = tg.compiler
    assert comp.disable(a) is a and comp.disable()(a) is a and comp.disable(recursive=False)(a) is a
    assert not comp.is_compiling() and not comp.is_dynamo_compiling() and comp.reset() is None
    assert comp.allow_in_graph(a) is a
    x = tg.ones(1, 2)
    before = model(x).numpy()
    assert model.compile(mode="max-autotune", fullgraph=True) is None  # torch 2's in-place compile: runs as is
    np.testing.assert_array_equal(model(x).numpy(), before)


# ---------------------------------------------------------------------------------------------- switches
def test_determinism_and_matmul_precision_switches_round_trip() -> None:
    try:
        for lib in (tg, torch):
            assert not lib.are_deterministic_algorithms_enabled()
            lib.use_deterministic_algorithms(True, warn_only=True)
            assert lib.are_deterministic_algorithms_enabled() and lib.is_deterministic_algorithms_warn_only_enabled()
            lib.use_deterministic_algorithms(False)
            assert not lib.is_deterministic_algorithms_warn_only_enabled()
            assert lib.get_float32_matmul_precision() == "highest"
            lib.set_float32_matmul_precision("medium")
            assert lib.get_float32_matmul_precision() == "medium"
            with pytest.warns(UserWarning):
                lib.set_float32_matmul_precision("fast")
            assert lib.get_float32_matmul_precision() == "medium"
    finally:
        for lib in (tg, torch):
            lib.use_deterministic_algorithms(False)
            lib.set_float32_matmul_precision("highest")


@pytest.fixture
def printing() -> Any:
    yield
    tg.set_printoptions(profile="default")


def test_set_printoptions_changes_repr(printing: Any) -> None:
    x = tg.tensor([1.23456789, -2.5])
    assert "1.2346" in repr(x)
    tg.set_printoptions(precision=2)
    assert "1.23," in repr(x) and "1.2346" not in repr(x)
    tg.set_printoptions(sci_mode=True)
    assert "1.23e+00" in repr(x)
    tg.set_printoptions(profile="default")
    assert "1.2346" in repr(x) and "e+" not in repr(x)
    tg.set_printoptions(sci_mode=False)
    assert "e-" not in repr(tg.tensor([1e-9, 1.0]))
    tg.set_printoptions(sci_mode=None)
    long = tg.arange(10.0)
    assert "..." not in repr(long)
    tg.set_printoptions(threshold=5)
    assert "..." in repr(long)
    torch.set_printoptions(threshold=5)
    try:
        for edge in (1, 2):
            tg.set_printoptions(edgeitems=edge)
            torch.set_printoptions(edgeitems=edge)
            shown = [t for t in repr(long).replace("[", " ").replace("]", " ").replace(",", " ").split()
                     if t.rstrip(".").isdigit()]
            theirs = [t for t in repr(torch.arange(10.0)).replace("[", " ").replace("]", " ").replace(",", " ")
                      .split() if t.rstrip(".").isdigit()]
            assert len(shown) == len(theirs) == 2 * edge
    finally:
        torch.set_printoptions(profile="default")
    tg.set_printoptions(profile="full")
    assert "..." not in repr(tg.arange(2000.0))
    tg.set_printoptions(profile="short")
    assert "1.23" in repr(x) and "1.235" not in repr(x)
    tg.set_printoptions(profile="default", linewidth=20)
    assert max(len(line) for line in repr(tg.arange(12.0)).splitlines()) <= 40
    with pytest.raises(ValueError):
        tg.set_printoptions(profile="bogus")


def test_anomaly_detection_raises_on_nan_gradients_as_torch() -> None:
    for lib in (tg, torch):
        assert not lib.is_anomaly_enabled()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with lib.autograd.detect_anomaly():
                assert lib.is_anomaly_enabled()
                q = lib.tensor([-1.0], requires_grad=True)
                with pytest.raises(RuntimeError, match="returned nan values in its 0th output"):
                    q.sqrt().sum().backward()
                fine = lib.tensor([4.0], requires_grad=True)
                fine.sqrt().sum().backward()
                assert fine.grad.item() == 0.25
            assert not lib.is_anomaly_enabled()
            q = lib.tensor([-1.0], requires_grad=True)
            q.sqrt().sum().backward()  # off: the NaN gradient goes through
            assert math.isnan(q.grad.item())
            lib.set_anomaly_enabled(True, check_nan=False)
            assert lib.is_anomaly_enabled() and not lib.is_anomaly_check_nan_enabled()
            q = lib.tensor([-1.0], requires_grad=True)
            q.sqrt().sum().backward()
            lib.set_anomaly_enabled(False)
            with lib.autograd.set_detect_anomaly(True):
                assert lib.is_anomaly_enabled()
            assert not lib.is_anomaly_enabled()


# ---------------------------------------------------------------------------------------------- tensor odds and ends
def test_is_inference_output_nr_typename_and_grad_scaler() -> None:
    for lib in (tg, torch):
        with lib.inference_mode():
            made, computed = lib.ones(2), lib.ones(2) * 2
        normal = lib.ones(2)
        with lib.no_grad():
            quiet = lib.ones(2)
        assert made.is_inference() and computed.is_inference() and made.view(2).is_inference()
        assert not normal.is_inference() and not quiet.is_inference() and not (made + 1).is_inference()
        with lib.inference_mode(False):
            assert not lib.ones(1).is_inference()
        leaf = lib.ones(3, requires_grad=True)
        assert leaf.output_nr == 0 and (leaf * 2).output_nr == 0
    assert tg.typename(tg.zeros(2)) == "tinygrad_adam.FloatTensor" and torch.typename(torch.zeros(2)).endswith(
        ".FloatTensor")
    assert tg.typename(tg.zeros(2, dtype=tg.int64)) == "tinygrad_adam.LongTensor"
    assert tg.typename(3) == torch.typename(3) == "int"
    assert tg.typename(nn.Linear(1, 1)).endswith(".Linear")
    from tinygrad_adam import amp
    assert tg.GradScaler is amp.GradScaler and torch.GradScaler is torch.amp.GradScaler


@pytest.mark.gpu
def test_storage_and_formats_on_the_gpu() -> None:
    x = tg.arange(24.0, device="cuda").reshape(2, 3, 2, 2)
    y = x.contiguous(memory_format=tg.channels_last)
    assert y.device != "cpu" and y.stride() == (12, 1, 6, 3)
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    w = tg.arange(6.0, device="cuda", requires_grad=True)
    v = (w * 1).as_strided((2, 2), (1, 1), 1)  # (on a root: the fake cupy makes a new .base object per call)
    np.testing.assert_array_equal(v.numpy(), [[1, 2], [2, 3]])
    (v * tg.tensor([[1.0, 2.0], [3.0, 4.0]], device="cuda")).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0, 1, 5, 4, 0, 0])
    assert x.storage_offset() == 0 and x.is_shared() and v.device != "cpu"
    np.testing.assert_array_equal(tg.as_strided_scatter(w.detach(), tg.ones(2, device="cuda"), (2,), (2,)).numpy(),
                                  [1, 1, 1, 3, 4, 5])
    assert tg.empty_strided((2, 3), (1, 2), device="cuda").stride() == (1, 2)
