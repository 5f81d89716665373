"""The ``torch.utils.data`` patterns that training scripts use, as a small program: map-style ``Dataset``s returning
dicts, tuples, namedtuples and nested lists of numpy arrays, Python numbers, strings and tensors, collated by
``default_collate`` (and ``default_convert`` when auto-batching is off); a padding ``collate_fn`` with
``pad_sequence``; ``DataLoader`` with ``batch_size`` / ``drop_last`` / ``batch_size=None`` / samplers (sequential,
``SubsetRandomSampler``, ``WeightedRandomSampler``) and a ``BatchSampler``; an ``IterableDataset`` that shards
itself by ``get_worker_info()``; ``num_workers`` / ``worker_init_fn`` / ``persistent_workers`` / ``prefetch_factor``
/ ``pin_memory``; ``ConcatDataset`` / ``ChainDataset`` / ``Subset`` / ``random_split`` / ``TensorDataset`` /
``StackDataset``; and a tiny model trained by Adam on a loader's batches. Each function returns plain Python
descriptions (types, dtypes, shapes, values) so that the harness can compare the two libraries' runs."""

import collections
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.data
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)
from torch.utils.data.dataloader import default_collate as dataloader_default_collate

Example = collections.namedtuple("Example", ["features", "label"])


def describe(obj):
    """A batch as nested plain Python: tensors as ("tensor", dtype name, shape, values), containers by type."""
    if isinstance(obj, torch.Tensor):
        return ("tensor", str(obj.dtype).split(".")[-1], tuple(obj.shape), obj.tolist())
    if isinstance(obj, dict):
        return ("dict", [(k, describe(v)) for k, v in obj.items()])
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return (type(obj).__name__, [describe(v) for v in obj])
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [describe(v) for v in obj])
    if isinstance(obj, np.ndarray):
        return ("ndarray", str(obj.dtype), obj.shape, obj.tolist())
    return (type(obj).__name__, obj)


class RecordDataset(Dataset):
    """A map-style dataset whose examples are dicts of everything a script's __getitem__ returns."""

    def __init__(self, features, labels, names):
        self.features = features
        self.labels = labels
        self.names = names

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        x = self.features[idx]
        return {
            "x": x,                                        # numpy float64 -> float64 tensor
            "x32": torch.from_numpy(x.astype(np.float32)),  # a tensor
            "label": int(self.labels[idx]),                # int -> int64
            "weight": float(self.labels[idx]) / 2 + 0.25,  # float -> float64
            "flag": bool(self.labels[idx] % 2),            # bool -> bool
            "name": self.names[idx],                       # strings stay a list
            "meta": {"index": idx, "scale": np.float32(0.5 * idx), "pair": (idx, -idx)},
        }


class TupleDataset(Dataset):
    """(features, label) tuples, namedtuples or nested lists, as the ``kind`` asks."""

    def __init__(self, features, labels, kind="tuple"):
        self.features = features
        self.labels = labels
        self.kind = kind

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        x, y = self.features[idx], self.labels[idx]
        if self.kind == "namedtuple":
            return Example(torch.tensor(x, dtype=torch.float32), y)
        if self.kind == "nested":
            return [x[:2], [np.int64(y), [x[2:], float(y)]]]
        return x, y


class SequenceDataset(Dataset):
    """Variable-length token sequences and their labels."""

    def __init__(self, sequences, labels):
        self.sequences = sequences
        self.labels = labels

    def __len__(self):
        return len(self.sequences)

    def __getitem__(self, idx):
        return torch.tensor(self.sequences[idx]), self.labels[idx]


def pad_collate(batch, padding_value=-1):
    """Pad the sequences to (B, T) with ``padding_value``; lengths and labels as tensors."""
    sequences, labels = zip(*batch)
    lengths = torch.tensor([len(s) for s in sequences])
    padded = pad_sequence(sequences, batch_first=True, padding_value=padding_value)
    return padded, lengths, torch.tensor(labels)


class RangeStream(IterableDataset):
    """The integers start..end - 1, split between the DataLoader's workers (all of them in the main process)."""

    def __init__(self, start, end):
        super().__init__()
        self.start = start
        self.end = end

    def __iter__(self):
        worker_info = get_worker_info()
        if worker_info is None:
            iter_start, iter_end = self.start, self.end
        else:
            per_worker = int(math.ceil((self.end - self.start) / float(worker_info.num_workers)))  # noqa: RUF046
            iter_start = self.start + worker_info.id * per_worker
            iter_end = min(iter_start + per_worker, self.end)
        return iter(range(iter_start, iter_end))


class SquareStream(IterableDataset):
    """(x, x * x) pairs for x in 0..n - 1, sharded by striding over the workers."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        worker_id, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for x in range(worker_id, self.n, num_workers):
            yield np.array([x], dtype=np.float32), x * x


def shard_init_fn(worker_id):
    """The torch docs' worker_init_fn: each worker narrows its copy of the dataset to its share."""
    worker_info = get_worker_info()
    dataset = worker_info.dataset
    overall_start, overall_end = dataset.start, dataset.end
    per_worker = int(math.ceil((overall_end - overall_start) / float(worker_info.num_workers)))  # noqa: RUF046
    dataset.start = overall_start + worker_id * per_worker
    dataset.end = min(dataset.start + per_worker, overall_end)


class WholeRange(IterableDataset):
    """start..end - 1 with no sharding of its own (``shard_init_fn`` narrows it per worker)."""

    def __init__(self, start, end):
        self.start = start
        self.end = end

    def __iter__(self):
        return iter(range(self.start, self.end))


def make_data(n=10, dim=4, seed=0):
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, dim))
    labels = rng.integers(0, 3, n)
    names = [f"item{i}" for i in range(n)]
    return features, labels, names


def collation(features, labels, names):
    """Batches of dicts / tuples / namedtuples / nested lists through DataLoader and default_collate directly."""
    out = {}
    records = RecordDataset(features, labels, names)
    out["dict"] = [describe(b) for b in DataLoader(records, batch_size=4, shuffle=False)]
    out["dict_drop_last"] = [describe(b) for b in DataLoader(records, batch_size=4, drop_last=True)]
    out["len"] = [len(DataLoader(records, batch_size=4)), len(DataLoader(records, batch_size=4, drop_last=True)),
                  len(DataLoader(records, batch_size=None))]
    out["tuple"] = [describe(b) for b in DataLoader(TupleDataset(features, labels), batch_size=3)]
    out["namedtuple"] = [describe(b) for b in DataLoader(TupleDataset(features, labels, "namedtuple"), batch_size=3)]
    out["nested"] = [describe(b) for b in DataLoader(TupleDataset(features, labels, "nested"), batch_size=3)]
    out["direct"] = describe(default_collate([records[0], records[1]]))
    out["import_path"] = describe(dataloader_default_collate([(1, 2.5, True), (3, -1.0, False)]))
    out["same_function"] = dataloader_default_collate is default_collate
    out["numbers"] = describe(default_collate([np.float64(1.5), np.float64(2.0)]))
    out["ints"] = describe(default_collate([np.int32(1), np.int32(2)]))
    pair = [torch.ones(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)]
    out["tensors"] = describe(default_collate(pair))
    out["convert"] = [describe(default_convert(x)) for x in (
        features[0], np.float32(2.5), (features[1], 3), Example(features[2], 1), {"a": np.arange(3)},
        [np.int64(4), "s"], "text", 7)]
    out["no_batch"] = [describe(b) for b in DataLoader(records, batch_size=None)][:3]
    out["no_batch_tuples"] = [describe(b) for b in DataLoader(TupleDataset(features, labels), batch_size=None)][:2]
    return out


def sequences_and_padding(rng_seed=1, padding_value=-1):
    rng = np.random.default_rng(rng_seed)
    sequences = [rng.integers(1, 9, rng.integers(1, 6)) for _ in range(7)]
    labels = [int(s.sum() % 2) for s in sequences]
    loader = DataLoader(SequenceDataset(sequences, labels), batch_size=3,
                        collate_fn=lambda b: pad_collate(b, padding_value))
    return [describe(b) for b in loader]


def samplers(features, labels):
    """What does not depend on the generator's stream: lengths, permutations, index sets."""
    out = {}
    data = TensorDataset(torch.from_numpy(features), torch.from_numpy(labels), torch.arange(len(labels)))
    out["tensor_dataset"] = [describe(b) for b in DataLoader(data, batch_size=4)]
    out["tensor_dataset_item"] = describe(data[3])
    seq = DataLoader(data, batch_size=3, sampler=SequentialSampler(data))
    out["sequential"] = [describe(b) for b in seq]
    out["sequential_len"] = len(seq)
    g = torch.Generator().manual_seed(0)
    subset = [1, 3, 5, 7, 9]
    loader = DataLoader(data, batch_size=2, sampler=SubsetRandomSampler(subset, generator=g))
    epochs = []
    for _ in range(2):
        seen = [b[2].tolist() for b in loader]
        epochs.append(([len(s) for s in seen], sorted(i for s in seen for i in s)))
    out["subset_random"] = (epochs, len(loader), len(loader.sampler))
    raw = [list(SubsetRandomSampler(subset, generator=g)) for _ in range(2)]
    out["subset_random_perm"] = [sorted(r) for r in raw]
    weights = [0.0, 1.0, 2.0, 0.0, 3.0, 0.0, 1.0, 0.0, 0.5, 0.0]
    sampler = WeightedRandomSampler(weights, num_samples=12, replacement=True, generator=g)
    drawn = list(sampler)
    out["weighted"] = (len(drawn), len(sampler), all(weights[i] > 0 for i in drawn),
                       all(type(i) is int for i in drawn))
    without = list(WeightedRandomSampler(weights, num_samples=5, replacement=False, generator=g))
    out["weighted_without"] = sorted(without)
    wloader = DataLoader(data, batch_size=5, sampler=WeightedRandomSampler(weights, 12, generator=g))
    out["weighted_loader"] = [tuple(b[0].shape) for b in wloader], len(wloader)
    bs = BatchSampler(SequentialSampler(range(10)), batch_size=4, drop_last=False)
    out["batch_sampler"] = (list(bs), len(bs), len(BatchSampler(range(10), 4, True)))
    bloader = DataLoader(data, batch_sampler=BatchSampler(SequentialSampler(data), batch_size=4, drop_last=True))
    out["batch_sampler_loader"] = [describe(b) for b in bloader], len(bloader)
    rloader = DataLoader(data, batch_sampler=BatchSampler(SubsetRandomSampler(range(10), generator=g), 3, False))
    out["random_batch_sampler"] = sorted([i for b in rloader for i in b[2].tolist()]), [len(b[2]) for b in rloader]
    shuffled = DataLoader(data, batch_size=4, shuffle=True, generator=g)
    out["shuffle_perm"] = [sorted([i for b in shuffled for i in b[2].tolist()]) for _ in range(2)]
    perms = [sorted([i for b in shuffled for i in b[0][:, 0].tolist()]) for _ in range(2)]
    out["shuffle_is_perm"] = all(p == sorted(features[:, 0].tolist()) for p in perms)
    return out


def datasets(features, labels, names):
    out = {}
    a = TupleDataset(features[:6], labels[:6])
    b = TupleDataset(features[6:], labels[6:])
    concat = ConcatDataset([a, b])
    out["concat"] = (len(concat), concat.cumulative_sizes, describe(concat[7]), describe(concat[-1]))
    out["concat_add"] = len(a + b)
    chain = ChainDataset([RangeStream(0, 3), RangeStream(10, 12)])
    out["chain"] = list(chain), [describe(x) for x in DataLoader(chain, batch_size=2)]
    sub = Subset(concat, [9, 0, 4])
    out["subset"] = len(sub), [describe(sub[i]) for i in range(len(sub))]
    g = torch.Generator().manual_seed(0)
    train, val = random_split(concat, [0.8, 0.2], generator=g)
    out["random_split"] = (len(train), len(val), sorted(train.indices + val.indices),
                           type(train).__name__, type(train.indices).__name__)
    parts = random_split(range(7), [0.5, 0.3, 0.2], generator=g)
    out["random_split_3"] = [len(p) for p in parts], sorted([i for p in parts for i in list(p)])
    parts = random_split(range(10), [3, 7], generator=torch.Generator().manual_seed(42))
    out["random_split_ints"] = [len(p) for p in parts]
    StackDataset = getattr(torch.utils.data, "StackDataset", None)
    if StackDataset is not None:
        records = RecordDataset(features, labels, names)
        stack = StackDataset(TensorDataset(torch.from_numpy(features)), records)
        out["stack"] = len(stack), describe(stack[2])
        kw = StackDataset(x=TensorDataset(torch.from_numpy(features)), y=TupleDataset(features, labels))
        out["stack_kw"] = len(kw), describe(kw[1]), [describe(bt) for bt in DataLoader(kw, batch_size=4)]
    return out


def iterables():
    out = {}
    stream = RangeStream(3, 10)
    loader = DataLoader(stream, batch_size=3)
    out["main"] = [describe(b) for b in loader]
    out["main_drop_last"] = [describe(b) for b in DataLoader(stream, batch_size=3, drop_last=True)]
    out["no_batch"] = [describe(b) for b in DataLoader(stream, batch_size=None)]
    out["squares"] = [describe(b) for b in DataLoader(SquareStream(5), batch_size=2)]
    out["info_in_main"] = get_worker_info() is None
    try:
        len(loader)
        out["len"] = "no error"
    except TypeError:
        out["len"] = "TypeError"
    return out


def workers(features, labels, names):
    """num_workers=2 and its options: the map-style results are those of num_workers=0; the iterable ones are the
    workers' shards interleaved batch by batch."""
    out = {}
    records = RecordDataset(features, labels, names)
    base = [describe(b) for b in DataLoader(records, batch_size=4)]
    for name, kwargs in (("plain", {}), ("init_fn", {"worker_init_fn": lambda worker_id: None}),
                         ("persistent", {"persistent_workers": True}), ("prefetch", {"prefetch_factor": 3}),
                         ("pin_memory", {"pin_memory": True})):
        loader = DataLoader(records, batch_size=4, num_workers=2, **kwargs)
        out[name] = [[describe(b) for b in loader] == base for _ in range(2 if name == "persistent" else 1)]
    pinned = DataLoader(records, batch_size=4, num_workers=0, pin_memory=True)
    out["pin_memory_0"] = [describe(b) for b in pinned] == base
    out["range_2"] = [describe(b) for b in DataLoader(RangeStream(3, 10), batch_size=2, num_workers=2)]
    out["range_2_none"] = [describe(b) for b in DataLoader(RangeStream(3, 10), batch_size=None, num_workers=2)]
    out["squares_2"] = [describe(b) for b in DataLoader(SquareStream(7), batch_size=2, num_workers=2)]
    sharded = DataLoader(WholeRange(3, 10), batch_size=2, num_workers=2, worker_init_fn=shard_init_fn)
    out["init_fn_shard"] = [[describe(b) for b in sharded] for _ in range(2)]
    persistent = DataLoader(WholeRange(3, 10), num_workers=2, worker_init_fn=shard_init_fn, persistent_workers=True)
    out["init_fn_persistent"] = [[b.tolist() for b in persistent] for _ in range(2)]
    out["unsharded_2"] = [b.tolist() for b in DataLoader(WholeRange(0, 3), batch_size=2, num_workers=2)]
    return out


def mismatched_shapes():
    """Both raise on examples of different shapes; the messages are returned."""
    out = []
    for batch in ([torch.zeros(2), torch.zeros(3)], [np.zeros(2), np.zeros(3)], [[1, 2], [1, 2, 3]]):
        try:
            default_collate(batch)
            out.append(None)
        except RuntimeError as e:
            out.append(("RuntimeError", str(e)))
    return out


class TinyNet(nn.Module):
    def __init__(self, dim=4, hidden=8, classes=3):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class RecordStream(IterableDataset):
    """A RecordDataset's examples streamed, each worker taking every num_workers-th one."""

    def __init__(self, records):
        self.records = records

    def __iter__(self):
        info = get_worker_info()
        start, step = (info.id, info.num_workers) if info is not None else (0, 1)
        for i in range(start, len(self.records), step):
            yield self.records[i]


def train(model, features, labels, names, epochs=2, lr=1e-2, stream=False):
    """Adam on the dict batches (features as float32, the label's cross-entropy weighted by the batch's weight
    column), from the map-style dataset or (``stream``) from two workers' shards of a stream; per step the loss,
    the names in the batch and the parameters."""
    history = collections.defaultdict(list)
    records = RecordDataset(features, labels, names)
    if stream:
        loader = DataLoader(RecordStream(records), batch_size=3, num_workers=2, persistent_workers=True)
    else:
        loader = DataLoader(records, batch_size=4, drop_last=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _epoch in range(epochs):
        for batch in loader:
            x = batch["x"].float()
            y = batch["label"]
            w = batch["weight"].to(torch.float32)
            logits = model(x)
            loss = (F.cross_entropy(logits, y, reduction="none") * w).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            history["loss"].append(loss.item())
            history["names"].append(batch["name"])
            history["params"].append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
    return history


def main(features, labels, names):
    return {"collation": collation(features, labels, names), "padding": sequences_and_padding(),
            "samplers": samplers(features, labels), "datasets": datasets(features, labels, names),
            "iterables": iterables(), "mismatched": mismatched_shapes()}
