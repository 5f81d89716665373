"""What the seq2seq program's surface (tests/torch_style/seq2seq.py) turned up, against torch: grad-mode decorators
on generator functions (a streaming ``@no_grad() def decode(...): ... yield token`` ran its body with grad on),
bare (``@no_grad``), ``inference_mode(False)`` turning grad on and ``set_grad_enabled(False)`` as a plain call, as
torch's; ``bmm`` / ``mm`` / ``masked_fill`` / ``unpad_sequence`` / ``argmax`` raising where torch raises (they
broadcast, took a value tensor of any shape, dropped the sequences without a length, or took bool); and the samplers
of ``utils.data``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

MODES = ["no_grad", "enable_grad", "inference_mode"]
DECORATORS = {**{name: lambda lib, name=name: getattr(lib, name)() for name in MODES},
              "set_grad_enabled(False)": lambda lib: lib.set_grad_enabled(False),
              "set_grad_enabled(True)": lambda lib: lib.set_grad_enabled(True)}
# what the consumer does at each step after the first: take the next item, send a value, throw into the generator
ACTIONS = st.lists(st.sampled_from(["next", "send", "throw"]), max_size=6)


class Thrown(Exception):
    pass


def drive(lib, mode: str, outer_grad: bool, actions: list[str], close: bool) -> list:
    """Run a generator decorated with ``lib``'s ``mode`` through ``actions``: what grad mode its body saw at each
    resumption, what the consumer saw between them, what the generator received and returned."""
    log = []

    @DECORATORS[mode](lib)
    def gen(x):
        try:
            for i in range(len(actions) + 1):
                try:
                    got = yield (x * (i + 1)).requires_grad
                    log.append(("inside", lib.is_grad_enabled(), got))
                except Thrown:
                    log.append(("caught", lib.is_grad_enabled()))
        finally:
            log.append(("finally", lib.is_grad_enabled()))
        return "done"

    with lib.set_grad_enabled(outer_grad):
        g = gen(lib.ones(2, requires_grad=True))
        log.append(("first", next(g), lib.is_grad_enabled()))
        for i, action in enumerate(actions):
            out = next(g) if action == "next" else g.send(i) if action == "send" else g.throw(Thrown())
            log.append((action, out, lib.is_grad_enabled()))
        if close:
            g.close()
        else:
            with pytest.raises(StopIteration) as stop:
                next(g)
            log.append(("returned", stop.value.value))
        log.append(("after", lib.is_grad_enabled()))
    return log


@settings(deadline=None, max_examples=40)
@given(st.sampled_from(list(DECORATORS)), st.booleans(), ACTIONS, st.booleans())
def test_a_decorated_generator_runs_each_step_in_the_mode_as_torch(mode: str, outer: bool, actions: list[str],
                                                                   close: bool) -> None:
    assert drive(tg, mode, outer, actions, close) == drive(torch, mode, outer, actions, close)


@pytest.mark.parametrize("mode", list(DECORATORS))
def test_a_decorated_generator_keeps_its_name_and_yields_from(mode: str) -> None:
    def run(lib):
        @DECORATORS[mode](lib)
        def tokens(n):
            """Doc."""
            yield from (lib.ones(1, requires_grad=True) * i for i in range(n))
        return tokens.__name__, tokens.__doc__, [t.requires_grad for t in tokens(3)]
    assert run(tg) == run(torch)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("outer", [False, True])
def test_a_bare_mode_decorates_as_torch(mode: str, outer: bool) -> None:
    def run(lib):
        @getattr(lib, mode)
        def double(x):
            """Doc."""
            return x * 2, lib.is_grad_enabled()
        with lib.set_grad_enabled(outer):
            y, inside = double(lib.ones(2, requires_grad=True))
            return double.__name__, double.__doc__, y.requires_grad, inside, lib.is_grad_enabled()
    assert run(tg) == run(torch)


@pytest.mark.parametrize("outer", ["no_grad", "enable_grad", "inference_mode"])
def test_inference_mode_false_turns_grad_on_as_torch(outer: str) -> None:
    """torch's ``inference_mode(False)`` records a graph even inside ``no_grad`` (ours left grad off there)."""
    def run(lib):
        x = lib.ones(2, requires_grad=True)
        with getattr(lib, outer)():
            with lib.inference_mode(mode=False):
                inside = lib.is_grad_enabled(), lib.is_inference_mode_enabled(), (x * 2).requires_grad
            return inside, lib.is_grad_enabled(), lib.is_inference_mode_enabled()
    assert run(tg) == run(torch)


@pytest.mark.parametrize("outer", [False, True])
@pytest.mark.parametrize("mode", [False, True])
def test_set_grad_enabled_sets_the_mode_when_called_as_torch(outer: bool, mode: bool) -> None:
    """torch's ``set_grad_enabled(False)`` works as a plain call (ours only as ``with``); ``with`` restores the mode
    from before the call, and the decorator line changes nothing."""
    def run(lib):
        seen = []
        x = lib.ones(2, requires_grad=True)
        with lib.set_grad_enabled(outer):
            lib.set_grad_enabled(mode)
            seen += [lib.is_grad_enabled(), (x * 2).requires_grad]
            lib.set_grad_enabled(outer)
            with lib.set_grad_enabled(mode):
                seen += [lib.is_grad_enabled(), (x * 2).requires_grad]
            seen.append(lib.is_grad_enabled())

            @lib.set_grad_enabled(mode)
            def inside():
                return lib.is_grad_enabled()
            seen += [lib.is_grad_enabled(), inside(), lib.is_grad_enabled()]
        return seen, lib.is_grad_enabled()
    assert run(tg) == run(torch)


SHAPES = st.lists(st.integers(1, 3), min_size=1, max_size=4)


def product_agrees(op: str, a_shape: list[int], b_shape: list[int]) -> None:
    """``op`` of two tensors: our value and gradients are torch's, or both raise."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape).astype(np.float32), rng.standard_normal(b_shape).astype(np.float32)
    try:
        ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        want = getattr(torch, op)(ta, tb)
    except RuntimeError:
        with pytest.raises(ValueError, match=op):
            getattr(tg, op)(tg.tensor(a), tg.tensor(b))
        with pytest.raises(ValueError, match=op):
            getattr(tg.tensor(a), op)(tg.tensor(b))
        return
    oa, ob = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    got = getattr(oa, op)(ob)
    (want ** 2).sum().backward()
    (got ** 2).sum().backward()
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(oa.grad.numpy(), ta.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ob.grad.numpy(), tb.grad.numpy(), rtol=1e-5, atol=1e-6)


@settings(deadline=None)
@given(st.sampled_from(["mm", "bmm"]), SHAPES, SHAPES)
def test_mm_and_bmm_take_what_torch_takes(op: str, a_shape: list[int], b_shape: list[int]) -> None:
    product_agrees(op, a_shape, b_shape)


@pytest.mark.parametrize(("op", "a_shape", "b_shape"), [
    ("bmm", (1, 2, 3), (4, 3, 2)),  # matmul would broadcast the batch
    ("bmm", (2, 3), (3, 2)),        # matmul would multiply matrices
    ("bmm", (2, 2, 3), (2, 3, 4)),
    ("bmm", (0, 2, 3), (0, 3, 1)),  # an empty batch
    ("mm", (2, 1, 3), (3, 2)),
    ("mm", (3,), (3, 2)),
    ("mm", (2, 0), (0, 3)),         # an empty inner dim: zeros
])
def test_mm_and_bmm_at_the_edges(op: str, a_shape: tuple, b_shape: tuple) -> None:
    product_agrees(op, list(a_shape), list(b_shape))


@settings(deadline=None)
@given(st.lists(st.integers(1, 2), max_size=2), st.sampled_from([0.5, float("-inf"), float("nan")]))
def test_masked_fill_takes_a_value_tensor_only_when_torch_does(value_shape: list[int], value: float) -> None:
    x, mask = np.arange(4.0, dtype=np.float32).reshape(2, 2), np.array([[True, False], [False, True]])
    fill = np.full(value_shape, value, np.float32)
    try:
        want = torch.tensor(x).masked_fill(torch.tensor(mask), torch.tensor(fill))
    except RuntimeError:
        for method in ("masked_fill", "masked_fill_"):
            with pytest.raises(ValueError, match="0-d"):
                getattr(tg.tensor(x), method)(tg.tensor(mask), tg.tensor(fill))
        return
    np.testing.assert_array_equal(tg.tensor(x).masked_fill(tg.tensor(mask), tg.tensor(fill)).numpy(), want.numpy())


@settings(deadline=None)
@given(st.integers(1, 4), st.integers(0, 5), st.booleans())
def test_unpad_sequence_needs_one_length_per_sequence(batch: int, count: int, batch_first: bool) -> None:
    """torch zips the sequences with the lengths strictly; ours silently dropped the sequences without one."""
    padded = np.arange(batch * 3 * 2, dtype=np.float32).reshape(batch, 3, 2)
    if not batch_first:
        padded = padded.transpose(1, 0, 2).copy()
    lengths = [1 + i % 3 for i in range(count)]
    try:
        want = torch.nn.utils.rnn.unpad_sequence(torch.tensor(padded), torch.tensor(lengths), batch_first)
    except (ValueError, RuntimeError):
        with pytest.raises(ValueError, match="one per sequence"):
            tg.nn.utils.rnn.unpad_sequence(tg.tensor(padded), tg.tensor(lengths), batch_first)
        return
    got = tg.nn.utils.rnn.unpad_sequence(tg.tensor(padded), tg.tensor(lengths), batch_first)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.numpy(), w.numpy())


@settings(deadline=None)
@given(st.lists(st.sampled_from([0, 1, 2]), max_size=3), st.lists(st.sampled_from([0, 1, 2]), max_size=3),
       st.booleans(), st.integers(0, 2**31))
def test_masked_fill_broadcasts_the_tensor_as_torch(x_shape: list[int], mask_shape: list[int], in_place: bool,
                                                    seed: int) -> None:
    """Out of place, torch broadcasts the tensor against a larger mask (ours raised); in place it cannot grow."""
    rng = np.random.default_rng(seed)
    x, mask = rng.standard_normal(x_shape).astype(np.float32), rng.random(mask_shape) < 0.5
    results = []
    for lib in (torch, tg):
        leaf = lib.tensor(x, requires_grad=True)
        try:
            y = leaf * 1
            y = y.masked_fill_(lib.tensor(mask), -1.5) if in_place else y.masked_fill(lib.tensor(mask), -1.5)
        except (RuntimeError, ValueError) as e:
            results.append(type(e))
            continue
        (y * y).sum().backward()
        results.append((y.detach().numpy(), leaf.grad.numpy()))
    theirs, ours = results
    if theirs is RuntimeError:
        assert issubclass(ours, RuntimeError)
        return
    assert not isinstance(ours, type), ours
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6)


@settings(deadline=None)
@given(st.sampled_from(["argmax", "argmin", "max", "min"]), st.sampled_from(["bool", "int64", "float32"]),
       st.one_of(st.none(), st.integers(-1, 0)))
def test_argmax_refuses_bool_as_torch(op: str, dtype: str, dim: int | None) -> None:
    """A greedy decoder's ``logits.argmax(1)`` on a bool tensor raises in torch; ours answered."""
    x = np.array([[False, True, True], [True, False, True]]).astype(dtype)
    args = () if dim is None else (dim,)
    try:
        want = getattr(torch.tensor(x), op)(*args)
    except RuntimeError:
        with pytest.raises(TypeError, match="bool"):
            getattr(tg.tensor(x), op)(*args)
        return
    got = getattr(tg.tensor(x), op)(*args)
    for g, w in zip(got if dim is not None and op in ("max", "min") else [got],
                    want if dim is not None and op in ("max", "min") else [want]):
        np.testing.assert_array_equal(g.numpy(), w.numpy())


# ---------------------------------------------------------------------------------------------- samplers
# The seq2seq tutorial batches with DataLoader(data, sampler=RandomSampler(data), batch_size=...): the sampler names
# were missing from utils.data. The random ones draw from our generators, so their order is checked by its
# properties; the deterministic ones, and every length and error, against torch.
@settings(deadline=None)
@given(st.integers(1, 9), st.integers(1, 4), st.booleans(), st.booleans())
def test_sequential_and_batch_samplers_as_torch(n: int, batch: int, drop_last: bool, sequential: bool) -> None:
    def run(lib):
        data = lib.utils.data
        source = data.SequentialSampler(range(n)) if sequential else [3 * i % n for i in range(n)]
        batches = data.BatchSampler(source, batch, drop_last)
        loader = data.DataLoader(data.TensorDataset(lib.arange(10, 10 + n)), batch_sampler=batches)
        return list(source), list(batches), len(batches), [b[0].tolist() for b in loader], len(loader)
    assert run(tg) == run(torch)


@settings(deadline=None)
@given(st.integers(1, 7), st.one_of(st.none(), st.integers(1, 20)), st.booleans(), st.integers(0, 2**31))
def test_random_sampler_draws_as_torch_describes(n: int, num_samples: int | None, replacement: bool,
                                                 seed: int) -> None:
    data = tg.utils.data
    sampler = data.RandomSampler(range(n), replacement, num_samples, generator=tg.Generator().manual_seed(seed))
    k = n if num_samples is None else num_samples
    drawn = list(sampler)
    assert len(sampler) == len(torch.utils.data.RandomSampler(range(n), replacement, num_samples)) == len(drawn) == k
    assert all(type(i) is int and 0 <= i < n for i in drawn)
    if not replacement:  # whole permutations, then a part of one
        blocks = [drawn[i:i + n] for i in range(0, k, n)]
        assert all(sorted(b) == list(range(n)) for b in blocks[:k // n]) and len(set(blocks[-1])) == len(blocks[-1])
    again = data.RandomSampler(range(n), replacement, num_samples, generator=tg.Generator().manual_seed(seed))
    assert list(again) == drawn  # one seed, one order
    indices = [5 * i + 1 for i in range(n)]
    subset = list(data.SubsetRandomSampler(indices, generator=np.random.default_rng(seed)))
    assert sorted(subset) == indices and len(data.SubsetRandomSampler(indices)) == n


def test_a_random_sampler_feeds_a_loader_each_example_once() -> None:
    data = tg.utils.data
    tg.manual_seed(0)
    dataset = data.TensorDataset(tg.arange(10))
    loader = data.DataLoader(dataset, batch_size=4, sampler=data.RandomSampler(dataset))
    first, second = ([int(v) for (b,) in loader for v in b.tolist()] for _ in range(2))
    assert sorted(first) == sorted(second) == list(range(10)) and first != second and len(loader) == 3


@pytest.mark.parametrize(("name", "args"), [
    ("RandomSampler", (range(3), 1)), ("RandomSampler", (range(3), False, 0)),
    ("RandomSampler", (range(3), False, 2.0)), ("RandomSampler", (range(0),)),
    ("BatchSampler", (range(3), 0, False)), ("BatchSampler", (range(3), True, False)),
    ("BatchSampler", (range(3), 2, 1)), ("BatchSampler", (range(3), 2.0, False)),
])
def test_sampler_arguments_raise_as_torch(name: str, args: tuple) -> None:
    with pytest.raises((TypeError, ValueError)) as theirs:
        getattr(torch.utils.data, name)(*args)
    with pytest.raises(theirs.type):
        getattr(tg.utils.data, name)(*args)


def test_sampler_base_and_subclasses() -> None:
    data = tg.utils.data
    with pytest.raises(NotImplementedError):
        iter(data.Sampler())
    assert isinstance(data.WeightedRandomSampler([1.0, 2.0], 3), data.Sampler)
    assert issubclass(data.RandomSampler, data.Sampler) and issubclass(data.BatchSampler, data.Sampler)
