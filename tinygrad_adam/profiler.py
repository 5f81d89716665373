"""``torch.profiler``: ``profile``, ``record_function``, ``schedule``, ``ProfilerActivity``, ``ProfilerAction``,
``tensorboard_trace_handler``.

What is recorded: the wall-clock time of each ``record_function`` block (and ``profile`` 's own span, as
"ProfilerStep#n" per ``step()`` under a schedule, as torch). The library's ops are not traced one by one, so
``key_averages().table()`` lists the named blocks only (torch's lists its ``aten::`` ops too); there is no device
time: a ``ProfilerActivity.CUDA`` request is dropped with torch's CPU-only warning.
"""

from __future__ import annotations

import enum
import functools
import json
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["ProfilerAction", "ProfilerActivity", "profile", "record_function", "schedule",
           "tensorboard_trace_handler"]


class ProfilerActivity(enum.Enum):
    """What a profile may trace: CPU here (a device activity is dropped with a warning)."""

    CPU = 0
    XPU = 1
    MTIA = 2
    CUDA = 3
    HPU = 4
    PrivateUse1 = 5


class ProfilerAction(enum.Enum):
    """What a profile does at a step, as a ``schedule`` says."""

    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def schedule(*, wait: int, warmup: int, active: int, repeat: int = 0, skip_first: int = 0) -> Callable[[int],
                                                                                                          ProfilerAction]:
    """``torch.profiler.schedule``: skip ``skip_first`` steps, then cycle ``wait`` idle, ``warmup`` warming and
    ``active`` recording steps (the last one saves: ``on_trace_ready``), ``repeat`` times (0: forever)."""
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise AssertionError("schedule: wait, warmup, repeat and skip_first must be >= 0 and active > 0")
    if warmup == 0:
        warnings.warn("schedule: no warmup steps, so the first recorded steps may include start-up costs", UserWarning,
                      stacklevel=2)
    cycle = wait + warmup + active

    def action(step: int) -> ProfilerAction:
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if repeat > 0 and step // cycle >= repeat:
            return ProfilerAction.NONE
        at = step % cycle
        if at < wait:
            return ProfilerAction.NONE
        if at < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if at < cycle - 1 else ProfilerAction.RECORD_AND_SAVE
    return action


class FunctionEvent:
    """One recorded block: ``name`` (``key``), start and end in microseconds, its thread."""

    def __init__(self, name: str, start_us: float, end_us: float, thread: int) -> None:
        self.name = self.key = name
        self.time_range_start, self.time_range_end, self.thread = start_us, end_us, thread
        self.count = 1

    @property
    def cpu_time_total(self) -> float:
        return self.time_range_end - self.time_range_start

    def __repr__(self) -> str:
        return f"<FunctionEvent name={self.name} cpu_time_total={self.cpu_time_total:.3f}us>"


class FunctionEventAvg:
    """The events of one name together: ``count``, ``cpu_time_total``, ``self_cpu_time_total`` (less the time of
    blocks recorded inside them), ``cpu_time`` (the mean); device times are 0."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.count = 0
        self.cpu_time_total = self.self_cpu_time_total = 0.0
        self.device_time_total = self.self_device_time_total = self.cuda_time = self.device_time = 0.0
        self.cpu_memory_usage = self.self_cpu_memory_usage = 0
        self.input_shapes = self.stack = None

    @property
    def cpu_time(self) -> float:
        return self.cpu_time_total / max(self.count, 1)

    def __repr__(self) -> str:
        return (f"<FunctionEventAvg key={self.key} self_cpu_time={self.self_cpu_time_total:.3f}us "
                f"cpu_time={self.cpu_time:.3f}us count={self.count}>")


def _us(value: float) -> str:
    """A time in torch's table units."""
    if value >= 1e6:
        return f"{value / 1e6:.3f}s"
    if value >= 1e3:
        return f"{value / 1e3:.3f}ms"
    return f"{value:.3f}us"


class EventList(list):
    """A list of events (or of their averages) with ``table()`` and ``key_averages()``, as torch's."""

    def key_averages(self, group_by_input_shape: bool = False, group_by_stack_n: int = 0) -> EventList:
        """One ``FunctionEventAvg`` per name, in order of first appearance."""
        groups: dict[str, FunctionEventAvg] = {}
        children = _time_inside(self)
        for event in self:
            avg = groups.setdefault(event.key, FunctionEventAvg(event.key))
            avg.count += event.count
            avg.cpu_time_total += event.cpu_time_total
            avg.self_cpu_time_total += event.cpu_time_total - children.get(id(event), 0.0)
        return EventList(groups.values())

    def table(self, sort_by: str | None = None, row_limit: int = 100, max_src_column_width: int = 75,
              max_name_column_width: int = 55, max_shapes_column_width: int = 80, header: str | None = None,
              top_level_events_only: bool = False, time_unit: str | None = None) -> str:
        """The averages as torch's text table (Name, Self CPU %, Self CPU, CPU total %, CPU total, CPU time avg,
        # of Calls), sorted by ``sort_by`` (an attribute such as "cpu_time_total"; its "self_cpu_time_total" too)
        descending, at most ``row_limit`` rows (a negative one: all)."""
        rows = list(self if all(isinstance(r, FunctionEventAvg) for r in self) else self.key_averages())
        if sort_by is not None:
            key = sort_by.replace("cuda", "device")
            rows.sort(key=lambda r: getattr(r, key, 0.0), reverse=True)
        if row_limit is not None and row_limit >= 0:
            rows = rows[:row_limit]
        total = sum(r.self_cpu_time_total for r in self.key_averages()) if not isinstance(
            next(iter(self), None), FunctionEventAvg) else sum(r.self_cpu_time_total for r in self)
        name_width = max([len("Name"), *(min(len(r.key), max_name_column_width) for r in rows)]) + 2
        heads = ("Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg", "# of Calls")
        line = "-" * name_width + "  " + "  ".join("-" * 12 for _ in heads) + "  "
        out = [header] if header else []
        out += [line, "Name".rjust(name_width) + "  " + "  ".join(h.rjust(12) for h in heads) + "  ", line]
        def share(t: float) -> str:
            return f"{100 * t / total:.2f}%" if total else "0.00%"
        for r in rows:
            cells = (share(r.self_cpu_time_total), _us(r.self_cpu_time_total), share(r.cpu_time_total),
                     _us(r.cpu_time_total), _us(r.cpu_time), str(r.count))
            out.append(r.key[:max_name_column_width].rjust(name_width) + "  " + "  ".join(c.rjust(12) for c in cells)
                       + "  ")
        out += [line, f"Self CPU time total: {_us(total)}", ""]
        return "\n".join(out)

    def total_average(self) -> FunctionEventAvg:
        avg = FunctionEventAvg("Total")
        for r in self.key_averages():
            avg.count += r.count
            avg.cpu_time_total += r.cpu_time_total
            avg.self_cpu_time_total += r.self_cpu_time_total
        return avg


def _time_inside(events: Iterable[FunctionEvent]) -> dict[int, float]:
    """id(event) -> the total time of the events directly inside it (on its thread): one sweep per thread in order
    of start (the longer of two that start together first), with a stack of the events still open."""
    threads: dict[int, list[FunctionEvent]] = {}
    for event in events:
        threads.setdefault(event.thread, []).append(event)
    inside: dict[int, float] = {}
    for evs in threads.values():
        open_events: list[FunctionEvent] = []
        for event in sorted(evs, key=lambda e: (e.time_range_start, -e.time_range_end)):
            while open_events and open_events[-1].time_range_end < event.time_range_end:
                open_events.pop()  # ended before this one: not around it
            if open_events:
                parent = id(open_events[-1])
                inside[parent] = inside.get(parent, 0.0) + event.cpu_time_total
            open_events.append(event)
    return inside


_active: list[profile] = []  # the open profiles (innermost last)


def _now_us() -> float:
    return time.perf_counter_ns() / 1e3


class record_function:  # noqa: N801 - torch's name
    """``with record_function("name"):`` (also a decorator): the block's time is recorded under that name by the
    open profiles that are recording."""

    def __init__(self, name: str, args: str | None = None) -> None:
        self.name, self.args = name, args
        self._start: list[float] = []

    def __enter__(self) -> record_function:
        self._start.append(_now_us())
        return self

    def __exit__(self, *exc: object) -> None:
        start, end = self._start.pop(), _now_us()
        for prof in _active:
            prof._record(self.name, start, end)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with record_function(self.name, self.args):
                return fn(*args, **kwargs)
        return wrapped


class profile:  # noqa: N801 - torch's name
    """``with profile(activities=..., schedule=..., on_trace_ready=...) as prof:`` ... ``prof.step()`` ...;
    ``prof.key_averages().table(...)``, ``prof.events()``, ``prof.export_chrome_trace(path)``. Records the
    ``record_function`` blocks (see the module's docstring); the other options are accepted and change nothing."""

    def __init__(self, *, activities: Iterable[Any] | None = None, schedule: Callable[[int], ProfilerAction] | None
                 = None, on_trace_ready: Callable[..., Any] | None = None, record_shapes: bool = False,
                 profile_memory: bool = False, with_stack: bool = False, with_flops: bool = False,
                 with_modules: bool = False, experimental_config: Any = None, execution_trace_observer: Any = None,
                 acc_events: bool = False, use_cuda: bool | None = None, custom_trace_id_callback: Any = None,
                 post_processing_timeout_s: float | None = None) -> None:
        acts = set(ProfilerActivity) - {ProfilerActivity.CPU} if activities is None else set(activities)
        if use_cuda or (activities is not None and acts - {ProfilerActivity.CPU}):
            warnings.warn("profile: CUDA is not available here, so only CPU time is recorded", UserWarning,
                          stacklevel=2)
        self.activities = {ProfilerActivity.CPU}
        self.schedule = schedule if schedule is not None else (lambda step: ProfilerAction.RECORD)
        self.on_trace_ready, self.step_num = on_trace_ready, 0
        self.record_shapes, self.profile_memory, self.with_stack = record_shapes, profile_memory, with_stack
        self._events, self._saved = EventList(), EventList()
        self._action, self._step_start = ProfilerAction.NONE, 0.0
        self._custom = schedule is not None

    def _record(self, name: str, start: float, end: float) -> None:
        if self._action in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE):
            import threading

            self._events.append(FunctionEvent(name, start, end, threading.get_ident()))

    def start(self) -> None:
        """Begin profiling (``__enter__`` calls it)."""
        _active.append(self)
        self._action, self._step_start = self.schedule(self.step_num), _now_us()

    def _close_step(self) -> None:
        """Record the step's span (under a schedule) and hand a finished trace to ``on_trace_ready``."""
        if self._custom and self._action in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE):
            import threading

            self._events.append(FunctionEvent(f"ProfilerStep#{self.step_num}", self._step_start, _now_us(),
                                              threading.get_ident()))

    def _save(self) -> None:
        self._saved = EventList(self._events)
        self._events = EventList()
        if self.on_trace_ready is not None:
            self.on_trace_ready(self)

    def step(self) -> None:
        """End a step: the schedule says what the next one does (a trace is saved at a RECORD_AND_SAVE step's end)."""
        self._close_step()
        previous = self._action
        self.step_num += 1
        self._action, self._step_start = self.schedule(self.step_num), _now_us()
        if previous == ProfilerAction.RECORD_AND_SAVE or (
                previous == ProfilerAction.RECORD and self._action in (ProfilerAction.NONE, ProfilerAction.WARMUP)):
            self._save()

    def stop(self) -> None:
        """End profiling: a trace still being recorded is saved (``on_trace_ready``)."""
        if self in _active:
            _active.remove(self)
        if self._action in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE):
            if self._custom:
                self._close_step()
            self._save()
        self._action = ProfilerAction.NONE

    def __enter__(self) -> profile:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def events(self) -> EventList:
        """The events of the last saved trace."""
        return self._saved

    def key_averages(self, group_by_input_shape: bool = False, group_by_stack_n: int = 0,
                     group_by_overload_name: bool = False) -> EventList:
        return self._saved.key_averages()

    def export_chrome_trace(self, path: str) -> None:
        """Write the saved events as a Chrome trace (JSON, "X" events; open in chrome://tracing or Perfetto)."""
        trace = {"traceEvents": [{"name": e.name, "ph": "X", "ts": e.time_range_start, "dur": e.cpu_time_total,
                                  "pid": os.getpid(), "tid": e.thread, "cat": "user_annotation"}
                                 for e in self._saved]}
        with open(path, "w") as f:
            json.dump(trace, f)


def tensorboard_trace_handler(dir_name: str, worker_name: str | None = None,
                              use_gzip: bool = False) -> Callable[[profile], None]:
    """An ``on_trace_ready`` that writes each trace into ``dir_name`` as ``<worker>.<ms>.pt.trace.json``."""
    def handler(prof: profile) -> None:
        os.makedirs(dir_name, exist_ok=True)
        worker = worker_name or f"{socket.gethostname()}_{os.getpid()}"
        path = os.path.join(dir_name, f"{worker}.{time.time_ns() // 1_000_000}.pt.trace.json")
        prof.export_chrome_trace(path)
        if use_gzip:
            import gzip
            import shutil

            with open(path, "rb") as src, gzip.open(path + ".gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.remove(path)
    return handler
