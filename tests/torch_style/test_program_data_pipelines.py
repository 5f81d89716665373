"""``data_pipelines.py`` (the ``torch.utils.data`` patterns of training scripts) run on torch and, imports swapped, on
ours: every batch's structure (dicts, tuples, namedtuples kept as their type, nested lists, strings kept as lists),
its tensors' dtypes (numpy float64 / Python float -> float64, int -> int64, bool, float32 tensors), shapes and
values agree, through ``default_collate`` (also by the ``torch.utils.data.dataloader`` path), ``default_convert``
(``batch_size=None``), a ``pad_sequence`` collate_fn, ``drop_last``, the samplers and a BatchSampler, an
IterableDataset sharded by ``get_worker_info()``, ConcatDataset / ChainDataset / Subset / TensorDataset /
StackDataset, and the errors of mismatched example shapes (type and message). Where a generator decides the order
(SubsetRandomSampler, WeightedRandomSampler, shuffle, random_split) only what does not depend on its stream is
compared: sizes, ``len(loader)``, that each epoch is a permutation of the same indices, the sampled index sets.
With ``num_workers=2`` (and ``worker_init_fn`` / ``persistent_workers`` / ``prefetch_factor`` / ``pin_memory``) the
map-style batches are those of ``num_workers=0`` and the iterable ones are the workers' shards interleaved batch by
batch, as torch's worker processes give them. A tiny model trained by Adam on the map-style loader's batches, and on
two workers' shards of a stream, gives the same losses and parameters after every step.

Tolerances: float32 training, the two runs differing only in summation order. Measured over 6 steps (map-style) and
8 (stream): losses within 1.4e-7 relative, parameters within 6.0e-8 absolute. We allow rtol 1e-6 on the losses and
atol 1e-6 on the parameters. The batch descriptions are compared exactly. The file takes about 3 s (torch on one
thread, its worker processes included) on a shared 2-core machine."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from test_programs import HERE, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "data_pipelines.py"
RTOL, ATOL = 1e-6, 1e-6


def on_both(name: str) -> tuple[object, object, list[list[str]]]:
    """``m.<name>(*m.make_data())`` (or with no arguments) on torch and on ours, and the warnings each raised."""
    results, caught = [], []
    for lib in ("torch", "ours"):
        with program(PROGRAM, lib) as m, warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            fn = getattr(m, name)
            results.append(fn(*m.make_data()) if fn.__code__.co_argcount else fn())
            caught.append([str(w.message) for w in seen])
    return results[0], results[1], caught


def test_batches_match_torch(one_torch_thread: None) -> None:
    theirs, ours, _ = on_both("main")
    for part in theirs:
        if part == "mismatched":  # each library's sentence: compared below by type and the shapes it names
            continue
        if isinstance(theirs[part], dict):
            for key in theirs[part]:
                assert ours[part][key] == theirs[part][key], (part, key)
        assert ours[part] == theirs[part], part
    first = ours["collation"]["dict"][0][1]
    kinds = {key: value[1] if value[0] == "tensor" else value[0] for key, value in first}
    assert kinds == {"x": "float64", "x32": "float32", "label": "int64", "weight": "float64", "flag": "bool",
                     "name": "list", "meta": "dict"}
    assert ours["collation"]["namedtuple"][0][0] == "Example" and ours["collation"]["same_function"]
    assert ours["collation"]["len"] == [3, 2, 10] and len(ours["collation"]["dict_drop_last"]) == 2
    assert ours["datasets"]["random_split"][:2] == (8, 2) and ours["datasets"]["random_split_3"][0] == [4, 2, 1]
    assert ours["samplers"]["subset_random"][0][0] == ([2, 2, 1], [1, 3, 5, 7, 9])
    assert "stack" in ours["datasets"] and ours["iterables"]["len"] == "TypeError"

    def named(said: list) -> list:
        return [(m[0], re.findall(r"\[[^\]]*\]", m[1])) for m in said]

    assert named(ours["mismatched"]) == named(theirs["mismatched"])
    assert ["cannot be stacked into one batch" in m[1] for m in ours["mismatched"]] == [1, 1, 0]


def test_workers_match_torch(one_torch_thread: None) -> None:
    theirs, ours, caught = on_both("workers")
    assert ours == theirs
    assert all(all(ok) for key, ok in ours.items() if key in ("plain", "init_fn", "persistent", "prefetch",
                                                                "pin_memory"))
    assert [b[3] for b in ours["range_2"]] == [[3, 4], [7, 8], [5, 6], [9]]  # worker 0 has 3..6, worker 1 7..9
    assert ours["unsharded_2"] == [[0, 1], [0, 1], [2], [2]]  # each worker reads the whole stream
    pinned = ["'pin_memory'" in line for line in caught[0]], ["'pin_memory'" in line for line in caught[1]]
    assert sum(pinned[1]) == sum(pinned[0]) == 2


@pytest.mark.parametrize("stream", [False, True])
def test_training_matches_torch(one_torch_thread: None, stream: bool) -> None:
    """Adam on the loader's dict batches: losses, the batch's names and the parameters after every step."""
    epochs = 2 if stream else 3

    def run(m: object, model: object, lib: str) -> dict:
        return m.train(model, *m.make_data(), epochs=epochs, stream=stream)

    theirs, ours = from_torch_weights(PROGRAM, lambda m: m.TinyNet(), run)
    assert ours["names"] == theirs["names"]
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=RTOL)
    for step, (got, want) in enumerate(zip(ours["params"], theirs["params"], strict=True)):
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=ATOL, err_msg=f"{name} at step {step}")
    if stream:
        assert ours["names"][:2] == [["item0", "item2", "item4"], ["item1", "item3", "item5"]]
