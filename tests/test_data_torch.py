"""The torch-shaped data API: Dataset, TensorDataset, DataLoader and default_collate against torch.utils.data,
torchvision's MNIST and transforms, the split indexing fix, and the Tiny Shakespeare loader."""

from __future__ import annotations

import hashlib
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import realdata

import tinygrad_adam as tg
from tinygrad_adam import data
from tinygrad_adam.data import (
    MNIST,
    DataCorruptError,
    DataLoader,
    Dataset,
    Split,
    TensorDataset,
    default_collate,
    random_split,
    transforms,
)
from tinygrad_adam.data import shakespeare as shakespeare_module

torch = pytest.importorskip("torch")
needs_mnist = pytest.mark.data("mnist")
needs_shakespeare = pytest.mark.data("tinyshakespeare")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYGRAD_ADAM_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def as_numpy(batch: object) -> object:
    """Ours or torch's collated batch as nested numpy/str structures, for comparison."""
    if isinstance(batch, tg.Tensor | torch.Tensor):
        return batch.numpy()
    if isinstance(batch, dict):
        return {k: as_numpy(v) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch).__name__, [as_numpy(b) for b in batch]
    return batch


def assert_same_batch(ours: object, theirs: object) -> None:
    a, b = as_numpy(ours), as_numpy(theirs)
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same_batch(ours[k], theirs[k])
    elif isinstance(a, tuple):
        assert a[0] == b[0] and len(ours) == len(theirs)
        for x, y in zip(ours, theirs, strict=True):
            assert_same_batch(x, y)
    else:
        assert a == b


# ---------------------------------------------------------------- default_collate
Pair = namedtuple("Pair", "a b")
EXAMPLES = {
    "tuples of array and int": [(np.full((2, 3), i, np.float32), i) for i in range(4)],
    "floats and bools": [(float(i) / 3, i % 2 == 0) for i in range(3)],
    "numpy scalars": [np.int32(i) for i in range(3)],
    "dicts with strings": [{"x": np.arange(3) * i, "name": f"n{i}"} for i in range(2)],
    "lists": [[i, float(i)] for i in range(3)],
    "namedtuples": [Pair(np.ones(2) * i, i) for i in range(3)],
}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_default_collate_matches_torch(name: str) -> None:
    from torch.utils.data import default_collate as torch_collate

    batch = EXAMPLES[name]
    theirs = torch_collate(batch)
    ours = default_collate(batch)
    assert_same_batch(ours, theirs)
    collated_tensors = default_collate([tg.Tensor(np.ones(2) * i) for i in range(3)])
    assert collated_tensors.shape == (3, 2) and collated_tensors.dtype == np.float64


# ---------------------------------------------------------------- Dataset, TensorDataset, DataLoader
class Squares(Dataset):
    """A user dataset as in the torch tutorials."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return np.array([i, i * i], np.float32), i % 3


def test_torch_import_path_of_the_data_api() -> None:
    from tinygrad_adam.utils.data import DataLoader as ByPath

    assert ByPath is DataLoader and tg.utils.data.TensorDataset is TensorDataset


def test_dataloader_defaults_match_torch() -> None:
    ours, theirs = DataLoader(Squares(5)), torch.utils.data.DataLoader(Squares(5))
    assert len(ours) == len(theirs) == 5 and ours.dataset is not None and isinstance(ours.dataset, Squares)
    for a, b in zip(ours, theirs, strict=True):
        assert_same_batch(a, b)
        assert a[0].shape == (1, 2)


@pytest.mark.parametrize("batch_size,drop_last", [(2, False), (2, True), (5, False), (7, True), (1, True)])
def test_dataloader_batches_and_len_match_torch(batch_size: int, drop_last: bool) -> None:
    ours = DataLoader(Squares(11), batch_size=batch_size, drop_last=drop_last)
    theirs = torch.utils.data.DataLoader(Squares(11), batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs) == len(list(ours))
    for a, b in zip(ours, theirs, strict=True):
        assert_same_batch(a, b)


def test_tensor_dataset_matches_torch_and_fast_path_equals_collation() -> None:
    x, y = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32), np.arange(10) % 4
    ours, theirs = TensorDataset(tg.Tensor(x), y), torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))
    assert len(ours) == len(theirs) == 10
    for i in (0, 7, -1):
        for a, b in zip(ours[i], theirs[i], strict=True):
            assert a.shape == tuple(b.shape) and a.dtype == np.dtype(str(b.dtype).removeprefix("torch."))
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    fast = list(DataLoader(ours, batch_size=4))
    slow = list(DataLoader(ours, batch_size=4, collate_fn=default_collate))
    ref = list(torch.utils.data.DataLoader(theirs, batch_size=4))
    for f, s, r in zip(fast, slow, ref, strict=True):
        for a, b, c in zip(f, s, r, strict=True):
            assert a.dtype == b.dtype and a.dtype == np.dtype(str(c.dtype).removeprefix("torch."))
            np.testing.assert_array_equal(a.numpy(), b.numpy())
            np.testing.assert_array_equal(a.numpy(), c.numpy())
    with pytest.raises(ValueError, match="tensor 0 has 10 rows"):
        TensorDataset(x, y[:5])


def test_shuffle_is_a_permutation_repeatable_with_manual_seed_or_a_generator() -> None:
    ds = TensorDataset(np.arange(20))

    def order(**kw: object) -> list[int]:
        return [int(v) for (b,) in DataLoader(ds, batch_size=3, shuffle=True, **kw) for v in b.numpy()]

    tg.manual_seed(5)
    first, second = order(), order()
    assert sorted(first) == list(range(20)) and first != list(range(20)) and first != second  # new order each epoch
    tg.manual_seed(5)
    assert order() == first
    assert order(generator=tg.Generator().manual_seed(1)) == order(generator=tg.Generator().manual_seed(1))
    assert order(generator=np.random.default_rng(1)) == order(generator=np.random.default_rng(1))
    with pytest.raises(TypeError, match="generator"):
        order(generator=object())


def test_samplers_and_batch_size_none() -> None:
    ds = Squares(6)
    picked = [int(x.numpy()[0, 0]) for x, _ in DataLoader(ds, sampler=[5, 0, 3])]
    assert picked == [5, 0, 3]
    batches = [b[1].tolist() for b in DataLoader(ds, batch_sampler=[[0, 1, 2], [3]])]
    assert batches == [[0, 1, 2], [0]]
    x, label = next(iter(DataLoader(ds, batch_size=None)))
    assert isinstance(x, tg.Tensor) and label == 0  # uncollated but converted, as torch's batch_size=None
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=[0], shuffle=True)
    with pytest.raises(ValueError, match="positive integer"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(TypeError, match="map-style dataset"):
        DataLoader(iter(range(3)))
    with pytest.raises(TypeError, match=r"TensorDataset\(x, y\), or use ArrayLoader"):  # the old array-loader call
        DataLoader((np.zeros((5, 2)), np.zeros(5)), batch_size=2)


def test_random_split_sizes_and_disjointness() -> None:
    ds = Squares(10)
    a, b = random_split(ds, [7, 3])
    assert len(a) == 7 and len(b) == 3 and sorted(a.indices + b.indices) == list(range(10))
    parts = random_split(ds, [0.5, 0.3, 0.2], generator=np.random.default_rng(0))
    theirs = torch.utils.data.random_split(ds, [0.5, 0.3, 0.2])
    assert [len(p) for p in parts] == [len(p) for p in theirs]
    with pytest.raises(ValueError, match="do not add up"):
        random_split(ds, [3, 3])


# ---------------------------------------------------------------- splits: the indexing fix
def test_split_indexing_gives_one_example() -> None:
    x, y = np.arange(12, dtype=np.float32).reshape(4, 3), np.array([3, 1, 0, 2])
    split = Split(x, y)
    xi, yi = split[2]
    np.testing.assert_array_equal(xi, x[2])
    assert yi == 0 and len(split) == 4
    assert [int(label) for _, label in split] == [3, 1, 0, 2]  # iterating visits examples, as a torch dataset
    sparse = Split(data.CSRMatrix.from_dense(x), y)
    np.testing.assert_array_equal(sparse[1][0], x[1])
    xb, yb = next(iter(DataLoader(sparse, batch_size=3)))
    assert isinstance(xb, tg.Tensor) and xb.shape == (3, 3) and yb.dtype == np.int64
    with pytest.raises(TypeError, match=r"split.x and split.y"):
        split[0:2]


# ---------------------------------------------------------------- MNIST and transforms
@needs_mnist
def test_mnist_as_torchvision() -> None:
    root = realdata.find("mnist")
    train, test = MNIST(root, train=True), MNIST(root, train=False, transform=transforms.ToTensor())
    assert len(train) == 60000 and len(test) == 10000
    image, label = train[0]
    assert isinstance(image, np.ndarray) and image.shape == (28, 28) and image.dtype == np.uint8 and label == 5
    assert train.data.shape == (60000, 28, 28) and train.targets.dtype == np.int64
    assert train.targets[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    image, label = test[0]
    assert image.shape == (1, 28, 28) and image.dtype == np.float32 and label == 7
    _, split = data.load_mnist(realdata.find("mnist"))
    np.testing.assert_array_equal(image.numpy(), split.x[0])
    normalized = MNIST(realdata.find("mnist"), train=False, transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]),
        target_transform=transforms.Lambda(lambda t: t + 100))
    image, label = normalized[0]
    np.testing.assert_allclose(image.numpy(), (split.x[0] - np.float32(0.1307)) / np.float32(0.3081), rtol=1e-6)
    assert label == 107
    xb, yb = next(iter(DataLoader(normalized, batch_size=8)))
    assert xb.shape == (8, 1, 28, 28) and yb.dtype == np.int64


def test_to_tensor_and_normalize_follow_torchvision() -> None:
    hwc = np.random.default_rng(0).integers(0, 256, (4, 5, 3)).astype(np.uint8)
    t = transforms.ToTensor()(hwc)
    assert t.shape == (3, 4, 5) and t.dtype == np.float32
    np.testing.assert_allclose(t.numpy(), hwc.transpose(2, 0, 1) / np.float32(255))
    floats = np.full((2, 2), 7.0)
    assert transforms.ToTensor()(floats).numpy().tolist() == [[[7.0, 7.0], [7.0, 7.0]]]  # not scaled, as torchvision
    n = transforms.Normalize([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])(t)
    np.testing.assert_allclose(n.numpy(), (t.numpy() - np.array([1, 2, 3])[:, None, None]) / 2, rtol=1e-6)
    leaf = tg.Tensor(t.numpy(), requires_grad=True)  # differentiable when asked
    transforms.Normalize([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])(leaf).sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), np.full(t.shape, 0.5))
    with pytest.raises(TypeError, match="apply ToTensor first"):
        transforms.Normalize([0.5], [0.5])(hwc)
    with pytest.raises(ValueError, match="std"):
        transforms.Normalize([0.5], [0.0])


# ---------------------------------------------------------------- Tiny Shakespeare
@needs_shakespeare
def test_tinyshakespeare_loads_verified() -> None:
    text = data.load_tinyshakespeare(realdata.find("tinyshakespeare"))
    assert len(text) == 1_115_394 and len(set(text)) == 65 and text.startswith("First Citizen:")


def test_tinyshakespeare_download_is_verified_and_corruption_raises(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    good = b"To be, or not to be"
    source = tmp_path / "mirror.txt"
    source.write_bytes(good)
    monkeypatch.setattr(shakespeare_module, "URL", source.as_uri())
    monkeypatch.setattr(shakespeare_module, "CHECKSUM", shakespeare_module.Checksum(
        len(good), "sha256", hashlib.sha256(good).hexdigest()))
    monkeypatch.delenv("TINYGRAD_ADAM_DATA", raising=False)
    root = tmp_path / "data"
    with pytest.raises(data.DataNotFoundError, match=r"load_tinyshakespeare\(download=True\)"):
        data.load_tinyshakespeare(root)
    assert data.load_tinyshakespeare(root, download=True) == "To be, or not to be"
    (root / "tinyshakespeare" / "input.txt").write_bytes(b"To be, or not to bE")
    with pytest.raises(DataCorruptError, match="sha256"):
        data.load_tinyshakespeare(root)
    source.write_bytes(b"something else")
    (root / "tinyshakespeare" / "input.txt").unlink()
    with pytest.raises(data.DownloadError):
        data.load_tinyshakespeare(root, download=True)
    assert not (root / "tinyshakespeare" / "input.txt").exists()


@pytest.mark.parametrize("example", [
    (np.arange(3, dtype=np.float32), 2), {"x": np.ones((2, 2)), "y": np.int64(4), "name": "a"},
    [np.float32(1.5), np.array(["a", "b"])], np.arange(4, dtype=np.int16), "text", 7])
def test_batch_size_none_converts_each_example_as_torch(example: object) -> None:
    """``batch_size=None``: each example through default_convert (arrays and numpy scalars to tensors of their dtype,
    tuples to lists), or through the given collate_fn; before, ours handed the example over untouched and ignored
    collate_fn."""
    class One(Dataset):
        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int) -> object:
            return example

    def plain(v: object) -> object:
        if hasattr(v, "numpy"):
            return ("tensor", str(v.numpy().dtype), v.numpy().tolist())
        if isinstance(v, dict):
            return {k: plain(w) for k, w in v.items()}
        if isinstance(v, (list, tuple)):
            return (type(v).__name__, [plain(w) for w in v])
        return (type(v).__name__, v.tolist() if isinstance(v, np.ndarray) else v)

    ours = list(DataLoader(One(), batch_size=None))
    theirs = list(torch.utils.data.DataLoader(One(), batch_size=None))
    assert [plain(v) for v in ours] == [plain(v) for v in theirs]
    assert next(iter(DataLoader(One(), batch_size=None, collate_fn=lambda e: ("seen", e))))[0] == "seen"
