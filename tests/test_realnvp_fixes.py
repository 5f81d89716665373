"""What the RealNVP program (``tests/torch_style/realnvp.py``) needed, against torch 2.13: ``clip_grad_value_`` and
``clip_grad_norm_`` take ``foreach=`` (it picks torch's kernels; the values are the same), and ``nn.utils``
has torch's two halves of ``clip_grad_norm_``: ``get_total_norm`` (a 0-d Tensor) and ``clip_grads_with_norm_``
(values, nan / inf / -0.0 / empty / 0-d gradients, dtypes, and the errors torch raises; the infinity norm of an
empty gradient now raises as torch's, and a one-element gradient's norm is its |g| as torch's, with no overflow).
``module._modules`` reads as torch's dict of children (``FlowSequential`` walks ``self._modules.values()``) and
writes through, as do ``_parameters`` and ``_buffers`` (which held persistence flags); ``Tensor(3, 2)`` and
``Tensor(5)``, torch's legacy sizes form, no longer make a scalar 3 (or 5)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_torch_movement_names import SPECIAL, arrays

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

NORMS = st.sampled_from([1.0, 2.0, 3.5, float("inf"), "inf", 2])  # torch takes "inf" (float() of it) and ints
# no magnitudes below 1e-100: |g|^p underflows in both, but torch's norm of a one-element tensor is |g| exactly
ELEMENTS = st.floats(-1e3, 1e3).filter(lambda v: v == 0 or abs(v) > 1e-100) | SPECIAL
GRADS = st.lists(arrays(max_dims=2, elements=ELEMENTS), min_size=1, max_size=3)
MAX_NORMS = st.sampled_from([0.0, 0.5, 1.0, 1e6])


def params(lib: Any, grads: list[np.ndarray | None]) -> list[Any]:
    """One float64 parameter per gradient (``None``: a parameter without one), its ``.grad`` set."""
    out = []
    for g in grads:
        p = lib.zeros(np.shape(g) if g is not None else (2,), dtype=lib.float64, requires_grad=True)
        p.grad = None if g is None else lib.tensor(g.copy())
        out.append(p)
    return out


def values(ps: list[Any]) -> list[np.ndarray | None]:
    return [None if p.grad is None else np.asarray(p.grad.numpy()) for p in ps]


def outcome(f: Any) -> Any:
    try:
        return f()
    except (RuntimeError, ValueError, TypeError) as e:
        return type(e)


@pytest.mark.parametrize("foreach", [None, True, False])
@settings(max_examples=30, deadline=None)
@given(grads=GRADS, clip=st.sampled_from([0.0, 0.1, 2.0]))
def test_clip_grad_value_takes_foreach(foreach: bool | None, grads: list[np.ndarray], clip: float) -> None:
    ours, theirs = params(tg, [*grads, None]), params(torch, [*grads, None])
    assert tg.nn.utils.clip_grad_value_(ours, clip, foreach=foreach) is None
    torch.nn.utils.clip_grad_value_(theirs, clip, foreach=foreach)
    for a, b in zip(values(ours), values(theirs)):
        np.testing.assert_array_equal(a, b)  # nan kept, -0.0 kept (array_equal ignores the sign: check it)
        assert a is None or (np.signbit(a) == np.signbit(b)).all()


@pytest.mark.parametrize("foreach", [None, True, False])
@settings(max_examples=30, deadline=None)
@given(grads=GRADS, max_norm=MAX_NORMS, norm_type=NORMS)
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_clip_grad_norm_takes_foreach(foreach: bool | None, grads: list[np.ndarray], max_norm: float,
                                      norm_type: float) -> None:
    ours, theirs = params(tg, grads), params(torch, grads)
    want = outcome(lambda: torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type, foreach=foreach))
    if isinstance(want, type):  # the inf norm of an empty gradient: RuntimeError in both, gradients untouched
        assert outcome(lambda: tg.nn.utils.clip_grad_norm_(ours, max_norm, norm_type, foreach=foreach)) is want
        assert all(np.array_equal(a, g, equal_nan=True) for a, g in zip(values(ours), grads))
        return
    total = tg.nn.utils.clip_grad_norm_(ours, max_norm, norm_type, foreach=foreach)
    assert tg.optim.clip_grad_norm_(params(tg, grads), max_norm, norm_type, foreach=foreach) == pytest.approx(
        total.item(), nan_ok=True)
    if np.isfinite(want.item()):  # (float64 sums of |g|^p of 1e300 overflow in both)
        np.testing.assert_allclose(total.numpy(), want.numpy(), rtol=1e-12)
        for a, b in zip(values(ours), values(theirs)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)


@settings(max_examples=60, deadline=None)
@given(grads=GRADS, norm_type=NORMS, error=st.booleans(), dtype=st.sampled_from(["float64", "float32"]))
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_get_total_norm_matches_torch(grads: list[np.ndarray], norm_type: float, error: bool, dtype: str) -> None:
    grads, p = [g.astype(dtype) for g in grads], float(norm_type)
    with np.errstate(all="ignore"):
        if dtype == "float32" or not all(np.isfinite(np.abs(g) ** p).all() for g in grads if g.size):
            grads = [np.nan_to_num(g, nan=np.nan, posinf=np.inf, neginf=-np.inf) for g in grads]
    want = outcome(lambda: torch.nn.utils.get_total_norm([torch.tensor(g) for g in grads], norm_type, error))
    got = outcome(lambda: tg.nn.utils.get_total_norm([tg.tensor(g) for g in grads], norm_type, error))
    if isinstance(want, type):  # error_if_nonfinite at a nan / inf norm: RuntimeError in both
        assert got is want
        return
    assert isinstance(got, tg.Tensor) and got.shape == () and str(got.dtype) == dtype
    overflow = any(np.isinf(np.abs(g.astype(np.float64)) ** p).any() for g in grads if g.size) \
        or (dtype == "float32" and any(np.abs(g).max(initial=0) > 1e18 for g in grads))
    if not overflow:  # ours sums |g|^p in float64: where torch's float32 sum overflows ours is finite (README)
        # (atol: a subnormal norm, which torch's float32 squares flush to 0, is ours from float64: 1e-45 for 0)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6 if dtype == "float32" else 1e-12,
                                   atol=float(np.finfo(dtype).tiny))


def test_get_total_norm_edges_match_torch() -> None:
    for lib in (tg, torch):
        empty = lib.nn.utils.get_total_norm([])
        assert empty.item() == 0.0 and str(empty.dtype).endswith("float32")
        assert lib.nn.utils.get_total_norm(lib.tensor([3.0, -4.0], dtype=lib.float64)).item() == 5.0  # one tensor
        assert lib.nn.utils.get_total_norm([lib.tensor(-2.0), lib.zeros(0)]).item() == 2.0  # 0-d, empty
        with pytest.raises(RuntimeError, match="infinity norm"):  # a max over nothing
            lib.nn.utils.get_total_norm([lib.tensor(-2.0), lib.zeros(0)], "inf")
        with pytest.raises(RuntimeError):
            lib.nn.utils.get_total_norm([lib.tensor([np.nan, 1.0])], error_if_nonfinite=True)
    for lib in (tg, torch):  # one element's norm is its |x|: 1e300 squared would overflow, 1e-160 underflow
        huge = lib.zeros((), dtype=lib.float64, requires_grad=True)
        huge.grad = lib.tensor(-1e300, dtype=lib.float64)
        assert lib.nn.utils.get_total_norm([huge.grad]).item() == 1e300  # (beside another tensor: inf in both)
        assert lib.nn.utils.get_total_norm([lib.tensor([1e-160], dtype=lib.float64)], 3).item() == 1e-160
        assert lib.nn.utils.clip_grad_norm_(huge, 2.0).item() == 1e300 and huge.grad.item() == -2.0
    with pytest.raises(RuntimeError, match="floating"):  # as torch
        tg.nn.utils.get_total_norm([tg.tensor([1, 2])])
    with pytest.raises(RuntimeError):
        torch.nn.utils.get_total_norm([torch.tensor([1, 2])])
    for p in (0.5, 0):  # torch computes the quasi-norm (p < 1) and the count of non-zeros (p = 0)
        assert tg.nn.utils.get_total_norm([tg.tensor([1.0, 2.0])], p).item() == pytest.approx(
            torch.nn.utils.get_total_norm([torch.tensor([1.0, 2.0])], p).item(), rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(grads=GRADS, max_norm=MAX_NORMS,
       total=st.sampled_from([0.0, -0.0, 0.3, 1.0, 7.0, 1e300, np.inf, np.nan]))
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_clip_grads_with_norm_matches_torch(grads: list[np.ndarray], max_norm: float, total: float) -> None:
    ours, theirs = params(tg, [*grads, None]), params(torch, [*grads, None])
    with np.errstate(all="ignore"):
        assert tg.nn.utils.clip_grads_with_norm_(ours, max_norm, tg.tensor(total, dtype=tg.float64)) is None
    torch.nn.utils.clip_grads_with_norm_(theirs, max_norm, torch.tensor(total, dtype=torch.float64))
    for a, b in zip(values(ours)[:-1], values(theirs)[:-1]):
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=0)
    assert ours[-1].grad is None


def test_clip_grads_with_norm_needs_a_tensor_norm() -> None:
    for lib in (tg, torch):
        p = lib.zeros(2, requires_grad=True)
        p.grad = lib.ones(2)
        with pytest.raises(TypeError):
            lib.nn.utils.clip_grads_with_norm_([p], 1.0, 5.0)


def test_clip_grad_norm_is_get_total_norm_then_clip_grads_with_norm() -> None:
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s) for s in ((3, 4), (5,), ())]
    ours, split = params(tg, grads), params(tg, grads)
    total = tg.nn.utils.clip_grad_norm_(ours, 0.7)
    norm = tg.nn.utils.get_total_norm([p.grad for p in split])
    tg.nn.utils.clip_grads_with_norm_(split, 0.7, norm)
    assert norm.item() == total.item()
    for a, b in zip(values(ours), values(split)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.gpu
def test_get_total_norm_and_clip_grads_with_norm_on_cuda_equal_cpu() -> None:
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(s).astype(np.float32) for s in ((30, 4), (1,), ())]
    results = []
    for device in ("cpu", "cuda"):
        ps = [tg.zeros(g.shape, requires_grad=True, device=device) for g in grads]
        for p, g in zip(ps, grads):
            p.grad = tg.tensor(g.copy(), device=device)
        norm = tg.nn.utils.get_total_norm([p.grad for p in ps], 3.0)
        tg.nn.utils.clip_grads_with_norm_(ps, 0.5, norm)
        tg.nn.utils.clip_grad_value_(ps, 0.01, foreach=True)
        results.append((norm.item(), [p.grad.numpy() for p in ps]))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-12)
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)


def tree(lib: Any, kind: str) -> Any:
    nn = lib.nn
    if kind == "sequential":
        return nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2))
    if kind == "list":
        return nn.ModuleList([nn.ReLU(), nn.Linear(2, 2)])
    if kind == "dict":
        return nn.ModuleDict({"act": nn.Tanh(), "fc": nn.Linear(2, 1)})
    m = nn.Module()
    m.fc, m.w, m.act = nn.Linear(2, 2), nn.Parameter(lib.zeros(2)), nn.Sequential(nn.ReLU())
    return m


def names(m: Any) -> tuple[list[str], ...]:
    return (list(m._modules), [type(v).__name__ for v in m._modules.values()],
            [type(v).__name__ for v in reversed(m._modules.values())], list(m.state_dict()), list(m._parameters),
            [type(v).__name__ for v in m._parameters.values()], list(m._buffers))


@pytest.mark.parametrize("kind", ["sequential", "list", "dict", "module"])
def test_modules_dict_reads_and_writes_as_torch(kind: str) -> None:
    ours, theirs = tree(tg, kind), tree(torch, kind)
    assert names(ours) == names(theirs) and len(ours._modules) == len(theirs._modules)
    assert ours._modules[next(iter(ours._modules))] is next(ours.children())
    for m, lib in ((ours, tg), (theirs, torch)):
        m._modules["extra"] = lib.nn.Linear(1, 1)  # written through: a child, in the state_dict
        del m._modules[next(iter(m._modules))]
    assert names(ours) == names(theirs)
    assert isinstance(ours.extra, tg.nn.Linear) and "extra" in dict(ours.named_children())
    for mutate in (lambda d: d.pop("extra"), lambda d: d.update(x=tg.nn.ReLU()), lambda d: d.clear(),
                   lambda d: d.setdefault("y", tg.nn.ReLU()), lambda d: d.popitem()):
        with pytest.raises(NotImplementedError, match="views of the module's attributes"):
            mutate(ours._modules)  # not lost silently on a snapshot
    assert names(ours) == names(theirs)


@pytest.mark.parametrize("persistent", [True, False])
def test_parameters_and_buffers_dicts_read_and_write_as_torch(persistent: bool) -> None:
    """torch code reads ``module._buffers`` (ours held {name: persistent flag} there: True where a tensor belongs)
    and writes ``module._parameters`` / ``_buffers`` (AWD-LSTM's weight drop deletes a Parameter through it)."""
    ms = []
    for lib in (tg, torch):
        m = lib.nn.BatchNorm1d(2)
        m.register_buffer("mask", lib.ones(2), persistent=persistent)
        ms.append(m)
    ours, theirs = ms
    assert names(ours) == names(theirs)
    for m, lib in ((ours, tg), (theirs, torch)):
        assert m._buffers["mask"] is m.mask and m._parameters["weight"] is m.weight
        m._buffers["mask"] = lib.zeros(2)  # keeps its persistence
        m._buffers["extra"] = lib.ones(1)
        m._parameters["scale"] = lib.nn.Parameter(lib.ones(1))
        del m._parameters["weight"]
        del m._buffers["running_var"]
        assert not hasattr(m, "weight") and not hasattr(m, "running_var")
        assert m.mask.sum().item() == 0
    assert names(ours) == names(theirs)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    with pytest.raises(NotImplementedError, match="views of the module's attributes"):
        ours._buffers.pop("mask")
    with pytest.raises(TypeError, match="must be a Parameter"):  # torch's plain dict takes it, unchecked
        ours._parameters["plain"] = tg.ones(1)
    ours.extras = [tg.nn.Parameter(tg.ones(1))]  # ours's own extension (a Parameter in a plain list): not an entry
    assert "extras.0" in dict(ours.named_parameters()) and "extras.0" not in ours._parameters


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 3), max_size=5), as_size=st.booleans())
def test_legacy_sizes_form_of_tensor_as_torch(sizes: list[int], as_size: bool) -> None:
    """torch.Tensor(3, 2) is a 3 x 2 float32 tensor, torch.Tensor(x.size()) one of x's shape and torch.Tensor() the
    empty (0,) (``nn.Parameter(torch.Tensor(out_features, in_features))`` then an init). Ours's Tensor(data,
    requires_grad) made a scalar 3 (requiring grad) until the twenty-second stop, then raised; Tensor(x.size()) made
    the values [3., 2.] until the twenty-third. Ours are zeros where torch's memory is uninitialised."""
    args = (tg.Size(sizes),) if as_size else tuple(sizes)
    theirs = torch.Tensor(torch.Size(sizes)) if as_size else torch.Tensor(*sizes)
    ours = tg.Tensor(*args)
    assert ours.shape == tuple(theirs.shape) and ours.dtype == np.float32 and not ours.requires_grad
    assert not ours.numpy().any()


def test_legacy_sizes_form_takes_only_device_and_ints() -> None:
    """What torch's legacy form refuses raises here too (bar a positional device); ours's (data, requires_grad) form
    for non-ints stays."""
    for bad in (lambda t: t.Tensor(2, 3.0), lambda t: t.Tensor(2, dtype=t.float64), lambda t: t.Tensor(-1),
                lambda t: t.Tensor(t.Size([2]), 3), lambda t: t.Tensor(2, 3, 4, 5, "a"),
                lambda t: t.Tensor(2, requires_grad=True)):
        with pytest.raises((TypeError, RuntimeError)):
            bad(torch)
        with pytest.raises((TypeError, ValueError)):
            bad(tg)
    assert tg.Tensor(2, 3, device="cpu").shape == (2, 3) and tg.nn.Parameter(tg.Tensor(4)).shape == (4,)
    assert tg.Tensor(3.0, True).requires_grad and tg.Tensor(3.0).shape == ()  # ours's (data, requires_grad) form
    assert tg.Tensor(2.0, 1).requires_grad and tg.Tensor(True).shape == ()  # a float or a bool is data
    for sizes in ((3, 2), (2, 3, 4), (0, 5), (5,), (0,)):
        assert tuple(tg.FloatTensor(*sizes).shape) == tuple(torch.Tensor(*sizes).shape)


def test_a_custom_layer_built_on_legacy_tensor_sizes_matches_torch() -> None:
    """The pre-1.0 custom-layer pattern: ``Parameter(torch.Tensor(out, in))`` filled by ``reset_parameters`` (here a
    deterministic fill so both sides agree), and noise made as ``torch.Tensor(x.size()).fill_(...)``."""
    def run(lib: Any) -> Any:
        class MyLinear(lib.nn.Module):
            def __init__(self, in_features, out_features):
                super().__init__()
                self.weight = lib.nn.Parameter(lib.Tensor(out_features, in_features))
                self.bias = lib.nn.Parameter(lib.Tensor(out_features))
                self.reset_parameters()

            def reset_parameters(self):
                with lib.no_grad():
                    self.weight.copy_(lib.arange(self.weight.numel(), dtype=lib.float32).view(self.weight.size()) / 10)
                    self.bias.fill_(0.5)

            def forward(self, x):
                return x @ self.weight.t() + self.bias + lib.Tensor(x.size()[0], self.bias.size(0)).fill_(0.25)
        layer = MyLinear(3, 2)
        x = lib.tensor([[1.0, -2.0, 0.5]])
        y = layer(x)
        y.sum().backward()
        made = lib.Tensor(x.size()).shape, lib.Tensor(y.shape).shape, lib.Tensor(tuple(y.shape)).tolist()
        return [t.detach().numpy() for t in (y, layer.weight.grad, layer.bias.grad)] + [made]
    ours, theirs = run(tg), run(torch)
    assert ours.pop() == theirs.pop()  # (shapes only: torch's values are uninitialised memory)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-6)
        assert a.shape == b.shape and a.dtype == b.dtype


@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3).map(
           lambda shape: (*shape[:-1], 2)), elements=ELEMENTS),
       dtypes=st.sampled_from([("float32", "float64"), ("float64", "float32"), ("float32", "float32")]))
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_multivariate_normal_log_prob_of_another_dtype_as_torch(x: np.ndarray, dtypes: tuple[str, str]) -> None:
    """A float64 value under a float32 MultivariateNormal (a prior built with torch.zeros / torch.eye, z from numpy):
    torch's solve casts it to the distribution's dtype, so the log-prob is float32; ours raised TypeError. (No empty
    batch: torch's reshape to (0, -1) fails there, ours returns an empty log-prob.)"""
    def log_prob(lib: Any, exact: bool = False) -> list[np.ndarray]:
        """(exact: in float64, from the same inputs rounded to their dtypes)"""
        def rounded(values: Any, dtype: str, grad: bool = False) -> Any:
            a = np.asarray(values, dtype)
            return lib.tensor(a.astype(np.float64) if exact else a, requires_grad=grad)
        loc = rounded([0.1, -0.2], dtypes[0], True)
        prior = lib.distributions.MultivariateNormal(loc, rounded([[2.0, 0.3], [0.3, 1.0]], dtypes[0]))
        value = rounded(x, dtypes[1], True)
        out = prior.log_prob(value)  # (a nan is outside the support: ValueError in both)
        out.sum().backward()
        return [np.asarray(t.detach().numpy()) for t in (out, loc.grad, value.grad)]

    outs = [outcome(lambda lib=lib: log_prob(lib)) for lib in (tg, torch)]
    if isinstance(outs[1], type):
        assert outs[0] is outs[1]
        return
    for i, (a, b) in enumerate(zip(*outs)):
        assert a.dtype == b.dtype and a.shape == b.shape
        rtol = 2e-6 if "float32" in (a.dtype, *dtypes) else 1e-12
        # loc's gradient sums the rows' -value gradients, which cancel (-171.1 + 200.3 = 29.18 in float32: ours
        # 4e-5 off, torch 2e-5): within rtol of the terms' sum
        terms = np.abs(outs[1][2]).reshape(-1, 2).sum(0) if i == 1 else 0.0
        close = np.isclose(a, b, rtol=rtol, atol=1e-6, equal_nan=True) | (np.abs(a - b) <= rtol * terms)
        if not close.all():  # each row's gradient cancels too, inside the solve (x = (-58, -224): 4.6492124 here,
            exact = log_prob(torch, exact=True)[i]  # 4.649223 in torch, 4.6492147 in float64): no farther from
            with np.errstate(invalid="ignore"):  # the float64 result than torch's
                close |= np.abs(a - exact) <= np.abs(b - exact)
        assert close.all(), (i, a, b)

def test_a_module_pickled_with_the_old_buffer_flags_keeps_its_buffers() -> None:
    """Before ``_buffers`` became torch's view, a module kept its buffers' persistence flags in ``__dict__`` under
    that name; such a pickle must load with its buffers (the view would hide the flags: buffers silently lost)."""
    import pickle

    bn = tg.nn.BatchNorm1d(3)
    bn.register_buffer("scratch", tg.ones(2), persistent=False)
    bn.running_mean.fill_(2.5)
    old = pickle.loads(pickle.dumps(bn))
    old.__dict__["_buffers"] = old.__dict__.pop("_buffer_persistence")  # the old layout
    loaded = pickle.loads(pickle.dumps(old))
    assert list(loaded.state_dict()) == list(bn.state_dict())
    assert [n for n, _ in loaded.named_buffers()] == [n for n, _ in bn.named_buffers()]
    np.testing.assert_array_equal(loaded.state_dict()["running_mean"], np.full(3, 2.5, np.float32))
    assert list(loaded._buffers) == list(bn._buffers)
