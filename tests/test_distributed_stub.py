"""``torch.distributed`` for single-process programs: the guards that such code writes (rosinality's ``dist_fn``:
``if not dist.is_available() or not dist.is_initialized(): return 0``) give the single-process answers in both
libraries; the collectives raise ValueError without a process group in both. Before this stop,
``import torch.distributed as dist`` failed on ours (found by the VQ-VAE helper).

Mutation run (failed here): ``is_initialized`` returning True."""

from __future__ import annotations

import importlib

import pytest

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def get_rank(dist: object) -> int:  # as rosinality/vq-vae-2-pytorch's distributed helpers write it
    if not dist.is_available() or not dist.is_initialized():
        return 0
    return dist.get_rank()


def get_world_size(dist: object) -> int:
    if not dist.is_available() or not dist.is_initialized():
        return 1
    return dist.get_world_size()


@pytest.mark.parametrize("name", ["torch.distributed", "tinygrad_adam.distributed"])
def test_single_process_guards_and_collectives(name: str) -> None:
    dist = importlib.import_module(name)
    assert (get_rank(dist), get_world_size(dist)) == (0, 1) and not dist.is_initialized()
    for collective in ("get_rank", "get_world_size", "barrier"):
        with pytest.raises(ValueError):
            getattr(dist, collective)()
    assert dist.ReduceOp.SUM is not None


def test_ours_has_one_process_groups_only(tmp_path: object) -> None:
    """(Since the distributed probe: ``is_available()`` is True and ``init_process_group`` makes a world of one
    process, as torch's; tests/test_distributed_probe_fixes.py compares the rest with torch.)"""
    assert tg.distributed.is_available() is True and tg.distributed.is_nccl_available() is False
    with pytest.raises(RuntimeError, match="one process"):
        tg.distributed.init_process_group("gloo", init_method=f"file://{tmp_path}/s", rank=0, world_size=2)
    assert not tg.distributed.is_initialized()
