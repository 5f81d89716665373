"""``torch.multiprocessing``: Python's ``multiprocessing`` (every name of it: ``Process``, ``Queue``, ``Pool``,
``set_start_method``, ``get_context`` ...) plus torch's sharing strategies and ``spawn`` / ``start_processes``.

Tensors cross processes by pickling (their arrays are copied), so the sharing strategy is recorded and changes
nothing; ``Tensor.share_memory_`` is the way to share one tensor's memory.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
from collections.abc import Callable, Sequence
from multiprocessing import *  # noqa: F403 - torch.multiprocessing re-exports all of multiprocessing
from typing import Any

_STRATEGIES = {"file_descriptor", "file_system"}
_strategy = ["file_descriptor"]


def get_all_sharing_strategies() -> set[str]:
    """The sharing strategies this system supports (torch's names on Linux)."""
    return set(_STRATEGIES)


def get_sharing_strategy() -> str:
    return _strategy[0]


def set_sharing_strategy(new_strategy: str) -> None:
    """Record the strategy (one of ``get_all_sharing_strategies()``; another raises AssertionError, as torch's)."""
    assert new_strategy in _STRATEGIES, f"unknown sharing strategy {new_strategy!r}"
    _strategy[0] = new_strategy


class ProcessException(Exception):
    """A spawned process failed; ``error_index`` is its index, ``pid`` its process id."""

    def __init__(self, msg: str, error_index: int, pid: int | None) -> None:
        super().__init__(msg)
        self.msg, self.error_index, self.pid = msg, error_index, pid


class ProcessExitedException(ProcessException):
    """A spawned process ended with a non-zero exit code (``exit_code``) or a signal."""

    def __init__(self, msg: str, error_index: int, error_pid: int | None, exit_code: int | None) -> None:
        super().__init__(msg, error_index, error_pid)
        self.exit_code = exit_code


class ProcessRaisedException(ProcessException):
    """A spawned process raised: the message holds its traceback."""


def _wrap(fn: Callable[..., Any], i: int, args: tuple[Any, ...], errors: Any) -> None:
    """Run ``fn(i, *args)`` in the child; send its traceback to the parent if it raises."""
    import sys
    import traceback

    try:
        fn(i, *args)
    except KeyboardInterrupt:
        pass
    except Exception:
        errors.put(traceback.format_exc())
        sys.exit(1)


class ProcessContext:
    """The processes ``start_processes`` started: ``join()`` waits for them (True once all ended) and raises the
    first failure as ``ProcessRaisedException`` / ``ProcessExitedException``, stopping the others."""

    def __init__(self, processes: Sequence[Any], error_queues: Sequence[Any]) -> None:
        self.processes, self.error_queues = list(processes), list(error_queues)

    def pids(self) -> list[int | None]:
        return [p.pid for p in self.processes]

    def join(self, timeout: float | None = None) -> bool:
        """Wait (up to ``timeout`` seconds) for the processes; True when all have ended cleanly."""
        running = [p.sentinel for p in self.processes if p.exitcode is None]
        if running:
            multiprocessing.connection.wait(running, timeout=timeout)
        codes = [p.exitcode for p in self.processes]  # (read once: a process may end while they are checked)
        for i, p in enumerate(self.processes):
            if codes[i] not in (None, 0):
                for other in self.processes:
                    if other.is_alive():
                        other.terminate()
                    other.join()
                if not self.error_queues[i].empty():
                    raise ProcessRaisedException(f"\n\n-- Process {i} terminated with the following error:\n"
                                                 f"{self.error_queues[i].get()}", i, p.pid)
                raise ProcessExitedException(f"process {i} terminated with exit code {codes[i]}", i, p.pid,
                                             codes[i])
        if None in codes:
            return False
        for p in self.processes:
            p.join()
        return True


def start_processes(fn: Callable[..., Any], args: tuple[Any, ...] = (), nprocs: int = 1, join: bool = True,
                    daemon: bool = False, start_method: str = "spawn") -> ProcessContext | None:
    """Start ``nprocs`` processes running ``fn(i, *args)`` (``i`` = 0 .. nprocs - 1) with ``start_method``; with
    ``join``, wait for them all and return None, else return their ``ProcessContext``."""
    ctx = multiprocessing.get_context(start_method)
    processes, queues = [], []
    for i in range(nprocs):
        errors = ctx.SimpleQueue()
        process = ctx.Process(target=_wrap, args=(fn, i, tuple(args), errors), daemon=daemon)
        process.start()
        processes.append(process)
        queues.append(errors)
    context = ProcessContext(processes, queues)
    if not join:
        return context
    while not context.join():
        pass
    return None


def spawn(fn: Callable[..., Any], args: tuple[Any, ...] = (), nprocs: int = 1, join: bool = True,
          daemon: bool = False, start_method: str = "spawn") -> ProcessContext | None:
    """``torch.multiprocessing.spawn``: ``start_processes`` with the "spawn" start method."""
    return start_processes(fn, args, nprocs, join, daemon, start_method=start_method)


__all__ = [*multiprocessing.__all__, "ProcessContext", "ProcessExitedException", "ProcessRaisedException",
           "get_all_sharing_strategies", "get_sharing_strategy", "set_sharing_strategy", "spawn", "start_processes"]
