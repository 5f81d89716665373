"""``torch.distributed`` as far as a single process needs it: training scripts import it and ask
``is_available()`` / ``is_initialized()`` before any collective. There is no distributed backend here, so
``is_available()`` is False, no process group is ever initialized, ``init_process_group`` raises, and the
collectives raise as torch's do without a process group."""

from __future__ import annotations

import enum
from typing import Any

_NO_GROUP = ("no process group: tinygrad_adam runs in one process and has no distributed backend "
             "(check dist.is_available() and dist.is_initialized() first, as single-process code does)")


class ReduceOp(enum.Enum):
    """torch's reduction names for the collectives (``dist.ReduceOp.SUM``)."""

    SUM = "sum"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    AVG = "avg"


def is_available() -> bool:
    """False: there is no distributed backend in this library."""
    return False


def is_initialized() -> bool:
    """False: no process group is ever made."""
    return False


def is_nccl_available() -> bool:
    return False


def is_gloo_available() -> bool:
    return False


def init_process_group(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("init_process_group: tinygrad_adam has no distributed backend; train in one process")


def _collective(name: str) -> Any:
    def collective(*args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"{name}: {_NO_GROUP}")
    collective.__name__ = collective.__qualname__ = name
    collective.__doc__ = f"``dist.{name}``: raises, as torch's without a process group."
    return collective


get_rank, get_world_size, barrier, all_reduce, all_gather, broadcast, reduce, gather, scatter, destroy_process_group = (
    _collective(name) for name in ("get_rank", "get_world_size", "barrier", "all_reduce", "all_gather", "broadcast",
                                   "reduce", "gather", "scatter", "destroy_process_group"))
