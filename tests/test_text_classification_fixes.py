"""What the text classification tutorial (tests/torch_style/text_classification.py) needed: torch's submodule import
paths ``torch.utils.data.dataset`` and ``torch.utils.data.dataloader`` (the tutorial writes
``from torch.utils.data.dataset import random_split``)."""

from __future__ import annotations

import importlib

import pytest

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


@pytest.mark.parametrize("sub", ["dataset", "dataloader"])
def test_torch_utils_data_submodules_hold_the_names_torch_defines_there(sub: str) -> None:
    theirs = importlib.import_module(f"torch.utils.data.{sub}")
    ours = importlib.import_module(f"tinygrad_adam.utils.data.{sub}")
    assert getattr(tg.utils.data, sub) is ours  # the attribute path too: torch.utils.data.dataset.random_split
    defined = [n for n in tg.utils.data.__all__
               if getattr(getattr(theirs, n, None), "__module__", "") == theirs.__name__]
    assert defined  # Dataset, Subset, random_split, ...; DataLoader, default_collate
    for name in defined:
        assert getattr(ours, name) is getattr(tg.utils.data, name), name


def test_the_tutorials_random_split_through_the_dataset_path() -> None:
    from tinygrad_adam.utils.data.dataset import random_split

    train_dataset = [(i % 4, f"review {i}") for i in range(40)]
    num_train = int(len(train_dataset) * 0.95)
    split_train_, split_valid_ = random_split(train_dataset, [num_train, len(train_dataset) - num_train],
                                              generator=tg.Generator().manual_seed(0))
    assert (len(split_train_), len(split_valid_)) == (38, 2)
    assert sorted([*split_train_, *split_valid_]) == sorted(train_dataset)
