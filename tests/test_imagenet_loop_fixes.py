"""Fixes found by porting pytorch/examples' imagenet/main.py (``tests/torch_style/imagenet_loop.py``), each against
torch.

- ``import torch.backends.cudnn as cudnn`` (main.py's line) failed: ``backends`` was a plain module whose ``cudnn``
  was an attribute, not an importable submodule.
- An integer device (``x.to(0)``, ``best_acc1.to(args.gpu)``, ``model.to(0)``, ``torch.device(0)``) raised "unknown
  device '0'" (``Module.to(0)`` took it for a dtype); torch reads it as the accelerator's index, cuda:N.
  ``torch.cuda.set_device`` (main.py's ``--gpu``) was missing.
- ``DataLoader(...).sampler`` was None without a ``sampler=`` (main.py's ``len(val_loader.sampler)`` raised
  TypeError); torch's is a SequentialSampler or a RandomSampler. An empty dataset with ``shuffle=True`` now raises
  as torch's RandomSampler does.
- ``torch.utils.data.distributed.DistributedSampler`` (main.py's train / val samplers) was missing: added, with
  torch's shares, padding, ``drop_last`` and ``set_epoch`` (shuffled by our generator, seeded by seed + epoch).

Mutations (each made the named test fail, then was reverted):
- backends.py without the ``sys.modules.update``: test_backends_submodules_import_as_torch_s.
- backend.parse_device without the int branch: test_an_integer_device_is_the_gpu_of_that_index.
- backend.device.__new__ without the int branch: test_an_integer_device_is_the_gpu_of_that_index.
- Module.to with ``isinstance(device, str)`` again: test_an_integer_device_is_the_gpu_of_that_index.
- cuda.set_device removed: test_set_device.
- DataLoader keeping ``sampler=None``: test_the_loader_s_sampler_is_torch_s.
- DataLoader's ``_indices`` iterating the default RandomSampler (two permutations drawn an epoch):
  test_the_loader_s_sampler_is_torch_s (the shuffled order after ``manual_seed`` changed).
- DistributedSampler padded with the order's end, seeded without the epoch, or without the
  ``utils.data.distributed`` module: test_distributed_sampler_shares_as_torch_s.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as ours
from tinygrad_adam import backend
from tinygrad_adam.data.dataset import permutation
from tinygrad_adam.utils.data import DataLoader, TensorDataset

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
no_gpu = pytest.mark.skipif(ours.cuda.is_available(), reason="checks the error raised without a GPU")


@pytest.mark.parametrize("name", ["cudnn", "cuda", "mps"])
def test_backends_submodules_import_as_torch_s(name: str) -> None:
    theirs = importlib.import_module(f"torch.backends.{name}")
    mine = importlib.import_module(f"tinygrad_adam.backends.{name}")
    assert mine is getattr(ours.backends, name) and theirs is getattr(torch.backends, name)
    if name == "cudnn":
        benchmark = mine.benchmark
        try:
            mine.benchmark = True  # main.py's ``cudnn.benchmark = True``, seen through torch.backends.cudnn
            assert ours.backends.cudnn.benchmark is True
        finally:
            mine.benchmark = benchmark
    if name == "mps":
        assert mine.is_available() is theirs.is_available() is False


@given(st.integers(0, 10**6))
@settings(max_examples=40, deadline=None)
def test_an_integer_device_is_the_gpu_of_that_index(index: int) -> None:
    d = ours.device(index)
    assert d == f"cuda:{index}" and d.type == "cuda" and d.index == index
    assert repr(d) == f"device(type='cuda', index={index})"  # torch's with a GPU (its CPU build raises)
    x, model = ours.ones(2), ours.nn.Linear(2, 1)
    moves = (lambda: backend.parse_device(index), lambda: x.to(index), lambda: x.cuda(index), lambda: model.to(index),
             lambda: model.cuda(index))
    for move in moves:
        if ours.cuda.is_available() and index == 0:
            move()
            continue
        with pytest.raises(RuntimeError, match=f"'cuda:{index}'"):  # a GPU of that index, not "unknown device '0'"
            move()
    assert x.device == "cpu" and model.weight.device == "cpu"


@pytest.mark.parametrize("bad", [-1, True, "0"])
def test_an_integer_device_keeps_refusing_what_is_no_index(bad: object) -> None:
    with pytest.raises(RuntimeError, match="unknown device"):
        ours.ones(2).to(bad)


@pytest.mark.skipif(not ours.cuda.is_available(), reason="needs a GPU")
def test_an_integer_device_moves_to_the_gpu() -> None:
    assert ours.ones(2).to(0).device == "cuda:0" and ours.tensor(3.0).to(0).item() == 3.0
    assert ours.nn.Linear(2, 1).to(0).weight.device == "cuda:0"
    ours.cuda.set_device(0)


@no_gpu
@pytest.mark.parametrize("device", [0, "cuda", "cuda:0", ours.device("cuda", 0)])
def test_set_device(device: object) -> None:
    with pytest.raises(RuntimeError, match="is not usable"):  # torch's CPU build raises too
        ours.cuda.set_device(device)
    with pytest.raises(ValueError, match="Expected a cuda device"):
        torch.cuda.set_device("cpu")
    with pytest.raises(ValueError, match="is not a cuda device"):
        ours.cuda.set_device("cpu")


@given(n=st.integers(0, 40), batch_size=st.integers(1, 9), shuffle=st.booleans(), drop_last=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
@settings(max_examples=60, deadline=None)
def test_the_loader_s_sampler_is_torch_s(n: int, batch_size: int, shuffle: bool, drop_last: bool, seed: int) -> None:
    data = np.arange(n, dtype=np.float32)
    made = []
    for lib, loader_class, dataset_class in ((torch, torch.utils.data.DataLoader, torch.utils.data.TensorDataset),
                                             (ours, DataLoader, TensorDataset)):
        dataset = dataset_class(lib.tensor(data))
        try:
            made.append(loader_class(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last))
        except ValueError as e:
            made.append(str(e))
    theirs, mine = made
    if isinstance(theirs, str):  # an empty dataset shuffled: RandomSampler's num_samples=0
        # both refuse, naming num_samples=0 (each library in its own words)
        assert isinstance(mine, str) and "num_samples=0" in mine and "num_samples=0" in theirs and n == 0 and shuffle
        return
    assert type(mine.sampler).__name__ == type(theirs.sampler).__name__
    assert len(mine.sampler) == len(theirs.sampler) == n and len(mine) == len(theirs)
    assert mine.sampler.data_source is mine.dataset
    if not shuffle:
        assert [b[0].tolist() for b in mine] == [b[0].tolist() for b in theirs]
        return
    ours.manual_seed(seed)  # the shuffled order is drawn as before: one permutation of the global stream an epoch
    got = [np.concatenate([b[0].numpy() for b in mine] or [np.zeros(0, np.float32)]) for _ in range(2)]
    ours.manual_seed(seed)
    for epoch in got:
        assert epoch.tolist() == permutation(n, None)[:len(epoch)].tolist()
        assert len(epoch) == (n - n % batch_size if drop_last else n)


def test_the_loader_s_random_sampler_takes_its_generator() -> None:
    g = ours.Generator().manual_seed(3)
    loader = DataLoader(TensorDataset(ours.arange(10)), batch_size=4, shuffle=True, generator=g)
    assert loader.sampler.generator is g
    first = [b[0].tolist() for b in loader]
    g.manual_seed(3)
    assert [b[0].tolist() for b in loader] == first and sorted(i for batch in first for i in batch) == list(range(10))


@given(n=st.integers(0, 30), replicas=st.integers(1, 5), drop_last=st.booleans(), data=st.data())
@settings(max_examples=80, deadline=None)
def test_distributed_sampler_shares_as_torch_s(n: int, replicas: int, drop_last: bool, data: st.DataObject) -> None:
    import tinygrad_adam.utils.data.distributed as mine  # main.py's ``import torch.utils.data.distributed``
    import torch.utils.data.distributed as theirs

    rank = data.draw(st.integers(0, replicas - 1))
    options = {"num_replicas": replicas, "rank": rank, "drop_last": drop_last}
    want = theirs.DistributedSampler(torch.utils.data.TensorDataset(torch.arange(n)), shuffle=False, **options)
    got = mine.DistributedSampler(TensorDataset(ours.arange(n)), shuffle=False, **options)
    assert list(got) == list(want) and len(got) == len(want) == len(list(got))
    shuffled = [mine.DistributedSampler(TensorDataset(ours.arange(n)), num_replicas=replicas, rank=r, seed=3,
                                        drop_last=drop_last) for r in range(replicas)]
    orders = []
    for epoch in (0, 1, 0):
        for sampler in shuffled:
            sampler.set_epoch(epoch)
        orders.append([list(sampler) for sampler in shuffled])
        assert [len(share) for share in orders[-1]] == [len(want)] * replicas
        taken = sorted(i for share in orders[-1] for i in share)  # one permutation shared out, as torch's
        assert set(taken) == set(range(n)) if not drop_last else len(set(taken)) == len(taken)
    assert orders[0] == orders[2]  # set_epoch(e) fixes the order
    if n >= 6 and replicas == 1:
        assert orders[0] != orders[1]


def test_distributed_sampler_refuses_what_torch_s_refuses() -> None:
    from tinygrad_adam.utils.data import DistributedSampler

    dataset = TensorDataset(ours.arange(4))
    with pytest.raises(ValueError, match="Invalid rank 2"):
        torch.utils.data.distributed.DistributedSampler(torch.arange(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match=r"rank 2 lies outside 0\.\.1"):  # our own words
        DistributedSampler(dataset, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="process group"):  # torch's CPU build: "Default process group has not ..."
        torch.utils.data.distributed.DistributedSampler(torch.arange(4))
    with pytest.raises(ValueError, match="process group"):
        DistributedSampler(dataset)
