"""torch.utils.data behaviours the data_utils probe found different, each checked against torch."""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
import torch.utils.data as TD  # noqa: E402

import tinygrad_adam as tg  # noqa: E402
import tinygrad_adam.utils.data as GD  # noqa: E402

DTYPES = ["float16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64", "bool"]
Pt = collections.namedtuple("Pt", "x y")


def _same(ours: tg.Tensor, theirs: torch.Tensor) -> None:
    """Same dtype, shape and values."""
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_array_equal(np.asarray(ours.numpy()), theirs.numpy())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(DTYPES), min_size=1, max_size=4), st.sampled_from([(), (0,), (3,), (2, 1)]),
       st.sampled_from(["tensor", "ndarray"]), st.integers(0, 2**16))
def test_default_collate_promotes_as_torch_stack(dtypes: list[str], shape: tuple[int, ...], kind: str,
                                                 seed: int) -> None:
    """Examples of different dtypes stack to torch's promotion (float32 with int64 is float32, not float64)."""
    rng = np.random.default_rng(seed)
    arrays = [(rng.standard_normal(shape) * 1e3).clip(-100, 100).astype(dt) for dt in dtypes]
    if kind == "tensor":
        ours, theirs = GD.default_collate([tg.tensor(a) for a in arrays]), TD.default_collate(
            [torch.tensor(a) for a in arrays])
    else:
        ours = GD.default_collate([a.copy() for a in arrays])
        try:
            theirs = TD.default_collate([a.copy() for a in arrays])
        except TypeError:  # numpy scalars of a bool and an int (0-d draws): torch.as_tensor refuses the mix ("'numpy.
            # bool' object cannot be interpreted as an integer"; a local run); ours stacks them as their tensors would
            assert shape == () and "bool" in dtypes
            theirs = TD.default_collate([torch.tensor(a) for a in arrays])
    _same(ours, theirs)


_numbers = st.one_of(st.booleans(), st.integers(-2**62, 2**62),
                     st.floats(allow_nan=False, width=32), st.sampled_from([math.inf, -0.0, 1e-45, 3e38]))


@settings(max_examples=80, deadline=None)
@given(st.one_of(st.booleans(), st.integers(-2**62, 2**62)), st.lists(_numbers, max_size=5))
def test_default_collate_python_numbers_infer_as_torch_tensor(first: int, rest: list) -> None:
    """A batch led by a Python int or bool takes torch.tensor's dtype: [1, 2.5] is float32 (not truncated to
    int64), [True, 2] int64, all bools bool."""
    batch = [first, *rest]
    _same(GD.default_collate(batch), TD.default_collate(batch))


def test_default_collate_numpy_scalars_among_python_ints() -> None:
    """A numpy scalar among Python ints keeps its dtype in the promotion, as torch.tensor's."""
    for batch in ([1, np.float64(2.5)], [1, np.float16(2)], [True, np.int8(3)], [1, np.int32(2)]):
        _same(GD.default_collate(batch), TD.default_collate(batch))


def test_default_collate_strings_stay_as_given() -> None:
    """Strings transposed out of tuples stay tuples (torch returns the string batch as given)."""
    for batch in ([("a", "b"), ("c", "d")], [Pt("a", 1), Pt("b", 2)]):
        ours, theirs = GD.default_collate(batch), TD.default_collate(batch)
        assert type(ours) is type(theirs)
        assert type(ours[0]) is type(theirs[0]) and ours[0] == theirs[0]
    ds = GD.StackDataset(["a", "b", "c"], [1, 2, 3])
    ours = next(iter(GD.DataLoader(ds, batch_size=2)))
    theirs = next(iter(TD.DataLoader(TD.StackDataset(["a", "b", "c"], [1, 2, 3]), batch_size=2)))
    assert ours[0] == theirs[0] and type(ours[0]) is tuple


@pytest.mark.parametrize("make", [lambda v: collections.OrderedDict(a=v, b=[v]),
                                  lambda v: collections.defaultdict(list, a=v, b=[v])])
def test_default_collate_and_convert_keep_the_mapping_type(make) -> None:
    """An OrderedDict / defaultdict example collates (and converts) to its own type, as torch's."""
    ours, theirs = GD.default_collate([make(1), make(2)]), TD.default_collate([make(1), make(2)])
    assert type(ours) is type(theirs) and list(ours) == list(theirs)
    _same(ours["a"], theirs["a"])
    if isinstance(theirs, collections.defaultdict):
        assert ours.default_factory is theirs.default_factory
    converted = GD.default_convert(make(np.float32(1)))
    assert type(converted) is type(TD.default_convert(make(np.float32(1))))


@pytest.mark.parametrize("kwargs", [dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(shuffle=True),
                                    dict(batch_size=2, sampler=[4, 1, 2]), dict(batch_size=None),
                                    dict(batch_sampler=[[1, 2], [0]])])
def test_dataloader_batch_sampler_attributes(kwargs: dict) -> None:
    """loader.batch_sampler is a BatchSampler of loader.sampler when batching, None with batch_size=None; a given
    batch_sampler sets batch_size None and drop_last False; the batches and len stay torch's."""
    data = list(range(7))
    ours, theirs = GD.DataLoader(data, **kwargs), TD.DataLoader(data, **kwargs)
    assert ours.batch_size == theirs.batch_size and ours.drop_last == theirs.drop_last
    assert type(ours.batch_sampler).__name__ == type(theirs.batch_sampler).__name__
    if isinstance(theirs.batch_sampler, TD.BatchSampler):
        assert ours.batch_sampler.batch_size == theirs.batch_sampler.batch_size
        assert ours.batch_sampler.drop_last == theirs.batch_sampler.drop_last
        assert ours.batch_sampler.sampler is ours.sampler
        if not kwargs.get("shuffle"):
            assert list(ours.batch_sampler) == list(theirs.batch_sampler)
    assert len(ours) == len(theirs)
    if not kwargs.get("shuffle"):
        got, want = list(ours), list(theirs)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            if isinstance(w, torch.Tensor):
                _same(g, w)
            else:
                assert g == w


def _split(mod, n: int, lengths: list) -> object:
    """The split sizes, or the exception type raised."""
    try:
        gen = (torch if mod is TD else tg).Generator().manual_seed(0)
        return [len(s) for s in mod.random_split(list(range(n)), lengths, generator=gen)]
    except (ValueError, TypeError) as e:
        return ValueError if isinstance(e, ValueError) else TypeError


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 40), st.lists(st.one_of(st.floats(-0.5, 1.5), st.integers(-3, 40)), min_size=1, max_size=5))
@pytest.mark.filterwarnings("ignore:Length of split", "ignore:random_split. split")
def test_random_split_sizes_and_errors(n: int, lengths: list) -> None:
    """random_split's sizes (fractions' remainders dealt round-robin) and errors as torch's: a fraction outside
    [0, 1] and lengths not summing to the dataset's length (0.5 + 0.6 of 0 examples too) raise ValueError."""
    want, got = _split(TD, n, lengths), _split(GD, n, lengths)
    if want is TypeError and all(k == int(k) for k in lengths):  # torch cannot slice by 2.0; ours takes it as 2
        assert got == _split(TD, n, [int(k) for k in lengths])
    else:  # other float lengths that are not fractions: TypeError (ours dropped the examples lost to truncation)
        assert got == want


@pytest.mark.parametrize("n,lengths", [(0, [0.5, 0.6]), (1, [3, -2]), (1, [-1, 2]), (10, [1 / 3] * 3), (5, [0.1] * 10),
                                       (10, [2.5, 7.5]), (2, [0.5, 1.5])])
@pytest.mark.filterwarnings("ignore:Length of split", "ignore:random_split. split")
def test_random_split_edge_lengths(n: int, lengths: list) -> None:
    """The edge lengths the probe found: silent splits before, torch's ValueError / sizes now."""
    assert _split(GD, n, lengths) == _split(TD, n, lengths)


def test_subset_and_stack_getitems() -> None:
    """Subset / StackDataset have torch's batched __getitems__ (through the inner dataset's where it has one)."""
    want = TD.Subset(list(range(10)), [3, 5, 7]).__getitems__([0, 2])
    assert GD.Subset(list(range(10)), [3, 5, 7]).__getitems__([0, 2]) == want
    inner_g, inner_t = GD.Subset(list(range(5)), [4, 0, 2]), TD.Subset(list(range(5)), [4, 0, 2])
    assert GD.Subset(inner_g, [2, 1]).__getitems__([1, 0]) == TD.Subset(inner_t, [2, 1]).__getitems__([1, 0])
    want = TD.StackDataset([1, 2, 3], "abc").__getitems__([0, 2])
    assert GD.StackDataset([1, 2, 3], "abc").__getitems__([0, 2]) == want
    assert GD.StackDataset(x=[1, 2, 3], y=inner_g).__getitems__([2, 1]) == TD.StackDataset(
        x=[1, 2, 3], y=inner_t).__getitems__([2, 1])


@pytest.mark.parametrize("weights,num_samples,replacement",
                         [([0, 0], 1, True), ([-1, 2], 1, True), ([math.inf, 1], 1, True), ([math.nan, 1], 1, True),
                          ([], 1, True), ([1, 2, 3], 4, False)])
def test_weighted_random_sampler_errors_are_runtime_errors(weights: list, num_samples: int,
                                                          replacement: bool) -> None:
    """Bad weights raise a RuntimeError, torch's family (torch at the first pass, ours at construction, still a
    ValueError too)."""
    with pytest.raises(RuntimeError):
        list(TD.WeightedRandomSampler(weights, num_samples, replacement))
    with pytest.raises(RuntimeError):
        list(GD.WeightedRandomSampler(weights, num_samples, replacement))
    with pytest.raises(ValueError):
        GD.WeightedRandomSampler(weights, num_samples, replacement)


def test_dataset_argument_errors_are_torchs_family() -> None:
    """TensorDataset size mismatch and an empty ConcatDataset raise AssertionError (torch's assert); a 0-d tensor
    IndexError; all still ValueErrors."""
    def lib(m: object) -> object:
        return tg if m is GD else torch

    for make, family in ((lambda m: m.TensorDataset(lib(m).zeros(3), lib(m).zeros(4)), AssertionError),
                         (lambda m: m.ConcatDataset([]), AssertionError),
                         (lambda m: m.TensorDataset(lib(m).tensor(1.0)), IndexError)):
        with pytest.raises(family):
            make(TD)
        with pytest.raises(family):
            make(GD)
        with pytest.raises(ValueError):
            make(GD)
