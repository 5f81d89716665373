"""torch 2.13's ``Tensor.index_put`` / ``index_put_`` / ``torch.index_put`` (with ``accumulate``),
``torch.utils.checkpoint.checkpoint`` / ``checkpoint_sequential`` and ``torch.utils.data.WeightedRandomSampler``
against torch: values, dtypes, gradients, warnings and errors; the sampler statistically (its draws cannot match
torch's stream)."""

from __future__ import annotations

import contextlib
import warnings
from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_torch_movement_names import FINITE, SPECIAL, agree, raises

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64}


# ---------------------------------------------------------------- index_put
def _case(data: st.DataObject, masks: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(self, values, index arrays): int64 indices (negative half the time, repeats likely) broadcasting together,
    or a bool mask over the leading dims; values broadcastable to the indexed shape."""
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0 if masks else 1, max_side=4))
    x = data.draw(hnp.arrays(np.float64, shape, elements=FINITE | SPECIAL))
    if masks:
        m = data.draw(st.integers(1, len(shape)))
        mask = data.draw(hnp.arrays(np.bool_, shape[:m]))
        idx, index_shape = [mask], (int(mask.sum()),)
    else:
        k = data.draw(st.integers(1, len(shape)))
        index_shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4))
        idx = []
        for n in shape[:k]:
            own = tuple(s if data.draw(st.booleans()) else 1 for s in index_shape)[data.draw(st.integers(0, 1)):]
            idx.append(data.draw(hnp.arrays(np.int64, own, elements=st.integers(-n, n - 1))))
        m = k
        index_shape = np.broadcast_shapes(*(i.shape for i in idx))
    target = tuple(index_shape) + shape[m:]
    vshape = tuple(s if data.draw(st.booleans()) else 1 for s in target)[data.draw(st.integers(0, len(target))):]
    v = data.draw(hnp.arrays(np.float64, vshape, elements=FINITE | SPECIAL))
    return x, v, idx


@settings(max_examples=150, deadline=None)
@given(data=st.data(), masks=st.booleans(), accumulate=st.booleans(), dtype=st.sampled_from(sorted(DTYPES)))
def test_index_put_matches_torch(data: st.DataObject, masks: bool, accumulate: bool, dtype: str) -> None:
    x, v, idx = _case(data, masks)
    if dtype == "int64":
        x, v = (np.nan_to_num(a, posinf=7, neginf=-7).clip(-1e3, 1e3).astype(np.int64) for a in (x, v))

    def method(lib: Any, t: Any, vals: Any, *ii: Any) -> Any:
        dt = getattr(lib, dtype)
        return t.to(dt).index_put(tuple(ii), vals.to(dt), accumulate=accumulate)

    def function(lib: Any, t: Any, vals: Any, *ii: Any) -> Any:
        dt = getattr(lib, dtype)
        return lib.index_put(t.to(dt), list(ii), vals.to(dt), accumulate)

    def in_place(lib: Any, t: Any, vals: Any, *ii: Any) -> Any:
        dt = getattr(lib, dtype)
        out = t.to(dt) * 1  # not a leaf
        return out.index_put_(tuple(ii), vals.to(dt), accumulate), out

    rtol = 1e-5 if dtype == "float32" else 1e-12
    for f in (method, function, in_place):
        agree(f, x, v, *idx, rtol=rtol)


def test_index_put_repeats() -> None:
    """Repeated indices: accumulate sums every value; without it the last write wins (torch on CPU) and each repeat
    still gets its gradient."""
    x, v, i = np.arange(5.0), np.array([10.0, 20.0, 30.0, 40.0]), np.array([1, 1, 3, -4])
    for acc in (False, True):
        agree(lambda lib, t, vals, ii, acc=acc: t.index_put((ii,), vals, accumulate=acc), x, v, i)
        agree(lambda lib, t, vals, ii, acc=acc: t.index_put((ii,), vals.sum(), accumulate=acc), x, v, i)  # 0-d
    out = tg.zeros(3).index_put((tg.tensor([0, 0, 0]),), tg.tensor([1.0, 2.0, 3.0]), accumulate=True)
    assert out.tolist() == [6.0, 0.0, 0.0]
    out = tg.zeros(3, dtype=tg.int64).index_put((tg.tensor([2, 2]),), tg.tensor(7), accumulate=True)
    assert out.tolist() == [0, 0, 14] and out.dtype == np.int64
    b = tg.zeros(3, dtype=tg.bool).index_put((tg.tensor([0, 0]),), tg.tensor(True), accumulate=True)
    assert b.tolist() == torch.zeros(3, dtype=torch.bool).index_put(
        (torch.tensor([0, 0]),), torch.tensor(True), accumulate=True).tolist()


def test_index_put_shapes() -> None:
    """Two index tensors broadcasting, a 0-d index, int32 indices, empty indices."""
    x = np.arange(24.0).reshape(2, 3, 4)
    agree(lambda lib, t, a, b: t.index_put((a, b), lib.tensor(1.0, dtype=lib.float64), accumulate=True), x,
          np.array([[0], [1], [-1]]), np.array([0, 2, 1, 2]))
    agree(lambda lib, t, v, a: t.index_put((a,), v), x, np.ones((3, 4)), np.array(1))
    agree(lambda lib, t, v, a: t.index_put((a.int(),), v, accumulate=True), x, np.ones(4), np.array([1, 1]))
    agree(lambda lib, t, v, a: t.index_put((a,), v, True), x, np.ones(4), np.zeros(0, dtype=np.int64))


def test_index_put_in_place_semantics() -> None:
    t = tg.zeros(3)
    w = tg.tensor([7.0], requires_grad=True)
    assert t.index_put_((tg.tensor([1]),), w) is t and t.tolist() == [0.0, 7.0, 0.0] and t.requires_grad
    t.sum().backward()
    assert w.grad.tolist() == [1.0]
    u = tg.zeros(3)
    assert tg.index_put_(u, (tg.tensor([2]),), tg.tensor([1.0]), True) is u and u.tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("call", [
    lambda lib: lib.zeros(3).index_put(lib.tensor([1]), lib.tensor(1.0)),  # not a tuple
    lambda lib: lib.zeros(3).index_put((), lib.tensor(1.0)),
    lambda lib: lib.zeros(3).index_put((None,), lib.tensor(1.0)),
    lambda lib: lib.zeros(3).index_put(([1],), lib.tensor(1.0)),
    lambda lib: lib.zeros(3).index_put((lib.tensor([1]),), 1.0),  # values not a Tensor
    lambda lib: lib.zeros(3).index_put((lib.tensor([1.0]),), lib.tensor(1.0)),  # float index
    lambda lib: lib.zeros(3).index_put((lib.tensor([1], dtype=lib.int16),), lib.tensor(1.0)),
    lambda lib: lib.zeros(3).index_put((lib.tensor([1], dtype=lib.uint8),), lib.tensor([1.0])),
    lambda lib: lib.zeros(3).index_put((lib.tensor([1]),), lib.tensor(1.0, dtype=lib.float64)),  # dtype
    lambda lib: lib.zeros(3).index_put((lib.tensor([1]),), lib.tensor(1)),
    lambda lib: lib.zeros(3).index_put((lib.tensor([3]),), lib.tensor(1.0)),  # out of range
    lambda lib: lib.zeros(3).index_put((lib.tensor([-4]),), lib.tensor(1.0), accumulate=True),
    lambda lib: lib.zeros(3).index_put((lib.tensor([0]), lib.tensor([0])), lib.tensor(1.0)),  # too many
    lambda lib: lib.zeros(()).index_put((lib.tensor(0),), lib.tensor(1.0)),
    lambda lib: lib.zeros(()).index_put((lib.tensor(True),), lib.tensor(1.0)),
    lambda lib: lib.zeros(3).index_put((lib.tensor([True, False]),), lib.tensor(1.0)),  # mask shape
    lambda lib: lib.zeros(2, 3).index_put((lib.tensor(True),), lib.ones(2, 3)),  # 0-d mask (torch: an assert)
    lambda lib: lib.zeros(2, 3).index_put((lib.tensor([0, 1]), lib.tensor([0, 1, 2])), lib.tensor(1.0)),
    lambda lib: lib.zeros(3).index_put((lib.tensor([1, 2]),), lib.tensor([1.0, 2.0, 3.0])),  # values shape
    lambda lib: lib.zeros(3).index_put((lib.tensor([1, 2]),), lib.ones(1, 2)),  # values with more dims
    lambda lib: lib.zeros(3, requires_grad=True).index_put_((lib.tensor([1]),), lib.tensor([1.0])),  # leaf
])
def test_index_put_errors(call: Any) -> None:
    raises(call)


# ---------------------------------------------------------------- checkpoint
def _weights(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in ((5, 3), (5,), (2, 5), (2,))]


def _mlp_run(lib: Any, variant: dict[str, Any], x_grad: bool, dtype: str) -> tuple[list[Any], ...]:
    w1, b1, w2, b2 = (lib.tensor(a, dtype=getattr(lib, dtype), requires_grad=True) for a in _weights())
    x = lib.tensor(np.linspace(-2, 2, 12).reshape(4, 3), dtype=getattr(lib, dtype), requires_grad=x_grad)

    def block(h: Any, scale: float = 1.0) -> Any:
        return lib.tanh(h @ w1.T + b1) * scale

    ck = lib.utils.checkpoint.checkpoint
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = ck(block, x, **variant)
    out = (y @ w2.T + b2).square().sum()
    if out.requires_grad:
        out.backward()
    grads = [None if p.grad is None else p.grad.numpy() for p in (w1, b1, w2, b2, x)]
    return [out.detach().numpy() if lib is torch else out.numpy()], grads, [str(w.message) for w in caught]


@pytest.mark.parametrize("variant", [{}, {"use_reentrant": True}, {"use_reentrant": False},
                                     {"use_reentrant": False, "scale": 2.0}, {"use_reentrant": True,
                                                                               "preserve_rng_state": False}])
@pytest.mark.parametrize("x_grad", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_checkpoint_mlp(variant: dict[str, Any], x_grad: bool, dtype: str) -> None:
    """Values and gradients (params and input) as torch's, including the reentrant variant's None gradients when no
    input requires grad, and the same warnings."""
    v_ours, g_ours, w_ours = _mlp_run(tg, variant, x_grad, dtype)
    v_theirs, g_theirs, w_theirs = _mlp_run(torch, variant, x_grad, dtype)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(v_ours[0], v_theirs[0], rtol=rtol)
    assert v_ours[0].dtype == v_theirs[0].dtype
    for a, b in zip(g_ours, g_theirs):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
    w_theirs = [w for w in w_theirs if "use_reentrant" in w or "None of the inputs" in w]
    assert [("use_reentrant" in w, "no input of the checkpointed function" in w) for w in w_ours] == \
        [("use_reentrant" in w, "None of the inputs" in w) for w in w_theirs]


def test_checkpoint_context_fn_and_kwargs() -> None:
    entered: list[str] = []

    @contextlib.contextmanager
    def mark(name: str) -> Any:
        entered.append(name)
        yield

    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = tg.utils.checkpoint.checkpoint(lambda t, k=1.0: t * k, x, use_reentrant=False, k=3.0,
                                       context_fn=lambda: (mark("forward"), mark("recompute")))
    assert y.tolist() == [3.0, 6.0] and entered == ["forward"]  # (recomputed only in backward)
    assert tg.utils.checkpoint.checkpoint(lambda t: (t, 5), x, use_reentrant=False)[1] == 5


@pytest.mark.parametrize("call", [
    lambda lib: lib.utils.checkpoint.checkpoint(lambda t, k: t * k, lib.ones(2), use_reentrant=True, k=2.0),
    lambda lib: lib.utils.checkpoint.checkpoint(lambda t: t, lib.ones(2), use_reentrant=True, debug=True),
    lambda lib: lib.utils.checkpoint.checkpoint(lambda t: t, lib.ones(2), use_reentrant=True,
                                                context_fn=lambda: (contextlib.nullcontext(),) * 2),
    lambda lib: lib.utils.checkpoint.checkpoint(lambda t: t, lib.ones(2), use_reentrant=False,
                                                determinism_check="shapes"),
    lambda lib: lib.utils.checkpoint.checkpoint(lambda t: t, lib.ones(2), use_reentrant=False, debug=True,
                                                context_fn=lambda: (contextlib.nullcontext(),) * 2),
    lambda lib: lib.utils.checkpoint.checkpoint_sequential([lib.tanh], 1, lib.ones(2), use_reentrant=False, k=1),
    lambda lib: lib.utils.checkpoint.checkpoint_sequential([lib.tanh], 2, lib.ones(2), use_reentrant=False),
    lambda lib: lib.utils.checkpoint.checkpoint_sequential([], 1, lib.ones(2), use_reentrant=False),
])
def test_checkpoint_errors(call: Any) -> None:
    with pytest.raises((ValueError, ZeroDivisionError)):
        call(torch)
    with pytest.raises(ValueError):
        call(tg)


def _sequential(lib: Any) -> Any:
    rng = np.random.default_rng(1)
    layers = [lib.nn.Linear(3, 6), lib.nn.Tanh(), lib.nn.Linear(6, 6), lib.nn.ReLU(), lib.nn.Linear(6, 2)]
    for layer in layers:
        for p in layer.parameters():
            with lib.no_grad():
                p.copy_(lib.tensor(rng.standard_normal(tuple(p.shape)), dtype=lib.float32))
    return lib.nn.Sequential(*layers)


@pytest.mark.parametrize("segments", [1, 2, 3, 5])
@pytest.mark.parametrize("use_reentrant", [True, False])
@pytest.mark.parametrize("x_grad", [True, False])
@pytest.mark.parametrize("as_list", [False, True])
def test_checkpoint_sequential(segments: int, use_reentrant: bool, x_grad: bool, as_list: bool) -> None:
    results = []
    for lib in (tg, torch):
        model = _sequential(lib)
        x = lib.tensor(np.linspace(-1, 1, 12).reshape(4, 3), dtype=lib.float32, requires_grad=x_grad)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "None of the inputs have requires_grad=True" in both
            y = lib.utils.checkpoint.checkpoint_sequential(list(model) if as_list else model, segments, x,
                                                           use_reentrant=use_reentrant)
        (y * y).sum().backward()
        grads = [None if p.grad is None else p.grad.numpy() for p in [*model.parameters(), x]]
        results.append(((y.detach() if lib is torch else y).numpy(), grads))
    (y_ours, g_ours), (y_theirs, g_theirs) = results
    np.testing.assert_allclose(y_ours, y_theirs, rtol=1e-5, atol=1e-6)
    for a, b in zip(g_ours, g_theirs):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_checkpoint_sequential_warns() -> None:
    for lib in (tg, torch):
        with pytest.warns(UserWarning, match="use_reentrant"):
            lib.utils.checkpoint.checkpoint_sequential([lib.tanh], 1, lib.ones(2, requires_grad=True))


# ---------------------------------------------------------------- WeightedRandomSampler
def _sampler(lib: Any) -> Any:
    return lib.utils.data.WeightedRandomSampler


@settings(max_examples=25, deadline=None)
@given(weights=st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5]), min_size=1, max_size=6)
       .filter(lambda w: sum(w) > 0))
def test_sampler_frequencies(weights: list[float]) -> None:
    """With replacement: counts within 5 standard errors of num_samples * p, zero weights never drawn."""
    n = 4000
    draws = list(_sampler(tg)(weights, n))
    assert len(draws) == n and all(type(i) is int for i in draws)
    counts = Counter(draws)
    p = np.asarray(weights) / sum(weights)
    for i, pi in enumerate(p):
        if pi == 0:
            assert counts[i] == 0
        else:
            assert abs(counts[i] - n * pi) <= 5 * np.sqrt(n * pi * (1 - pi)) + 1, (i, counts, p)


@settings(max_examples=25, deadline=None)
@given(weights=st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5]), min_size=1, max_size=6), data=st.data())
def test_sampler_without_replacement(weights: list[float], data: st.DataObject) -> None:
    nonzero = [i for i, w in enumerate(weights) if w > 0]
    if not nonzero:
        return
    k = data.draw(st.integers(1, len(nonzero)))
    sampler = _sampler(tg)(weights, k, replacement=False)
    for _ in range(5):
        draws = list(sampler)
        assert len(draws) == len(sampler) == k and len(set(draws)) == k and set(draws) <= set(nonzero)
        assert all(type(i) is int for i in draws)
    if k == len(nonzero):
        assert sorted(draws) == nonzero


def test_sampler_first_draw_without_replacement_follows_weights() -> None:
    weights, n = [1.0, 0.0, 3.0, 6.0], 3000
    sampler = _sampler(tg)(weights, 2, replacement=False)
    first = Counter(next(iter(sampler)) for _ in range(n))
    for i, w in enumerate(weights):
        pi = w / sum(weights)
        assert abs(first[i] - n * pi) <= 5 * np.sqrt(n * pi * (1 - pi)) + 1, first


def test_sampler_reproducible_and_in_a_dataloader() -> None:
    w = np.array([0.2, 0.0, 1.0, 3.0, 0.5])
    s = _sampler(tg)(tg.tensor(w), 50)
    tg.manual_seed(7)
    a = list(s)
    tg.manual_seed(7)
    assert list(s) == a and list(s) != a  # a new draw each pass
    g1, g2 = tg.Generator().manual_seed(3), tg.Generator().manual_seed(3)
    assert list(_sampler(tg)(w, 50, generator=g1)) == list(_sampler(tg)(w, 50, generator=g2))
    assert s.weights.dtype == np.float64 == _sampler(torch)(w, 50).weights.numpy().dtype
    assert s.num_samples == 50 and s.replacement is True
    ds = tg.utils.data.TensorDataset(tg.arange(5.0))
    loader = tg.utils.data.DataLoader(ds, batch_size=8, sampler=s)
    batches = [b for (b,) in loader]
    assert len(loader) == len(batches) == 7 and all(1.0 not in b.tolist() for b in batches)


@pytest.mark.parametrize(("weights", "num_samples", "replacement"), [
    ([1.0, 2.0], 0, True), ([1.0, 2.0], -1, True), ([1.0, 2.0], 1.5, True), ([1.0, 2.0], True, True),
    ([1.0, 2.0], np.int64(2), True), ([1.0, 2.0], 2, 1), ([1.0, 2.0], 2, "yes"), ([[1.0, 2.0]], 2, True),
    (3.0, 2, True), ([-1.0, 2.0], 2, True), ([np.nan, 1.0], 2, True), ([np.inf, 1.0], 2, True),
    ([0.0, 0.0], 2, True), ([], 1, True), ([1.0, 0.0, 2.0], 4, False),
])
def test_sampler_errors(weights: Any, num_samples: Any, replacement: Any) -> None:
    """torch raises at construction or at the first pass; we raise at construction."""
    raises(lambda lib: list(_sampler(lib)(weights, num_samples, replacement)))
    with pytest.raises(ValueError):
        _sampler(tg)(weights, num_samples, replacement)


def test_sampler_refuses_zero_weights_without_replacement() -> None:
    """torch 2.13 draws zero-weight indices once the non-zero ones are used up; we raise (a deliberate difference)."""
    assert sorted(list(_sampler(torch)([1.0, 0.0, 2.0], 3, False))[2:]) == [1]
    with pytest.raises(ValueError, match="non-zero weights"):
        _sampler(tg)([1.0, 0.0, 2.0], 3, False)
