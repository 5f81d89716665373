"""``torch.utils.benchmark``: ``Timer`` (``timeit``, ``autorange``, ``blocked_autorange``, ``adaptive_autorange``),
the ``Measurement`` each returns (per-run ``times``, ``mean``, ``median``, ``iqr``, torch's printed summary) and
``Compare``, a table of measurements by label, sub-label, description and thread count.

As torch's, a Timer runs ``setup`` once, then times ``stmt`` in blocks of ``number`` runs with ``num_threads``
threads (default 1; the thread setting is put back after). Python statements only (torch's C++ ``language`` and
Callgrind are not here)."""

from __future__ import annotations

import dataclasses
import math
import statistics
import textwrap
import timeit
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .. import backend

__all__ = ["Compare", "Measurement", "TaskSpec", "Timer", "select_unit"]
UNIT_NAMES = {"ns": "nanoseconds", "us": "microseconds", "ms": "milliseconds", "s": "seconds"}


def select_unit(t: float) -> tuple[str, float]:
    """The unit a time of ``t`` seconds reads in, and its size in seconds: ns, us, ms or s, as torch picks it."""
    exponent = math.floor(math.log10(t)) // 3 if t > 0 else 0
    return {-3: ("ns", 1e-9), -2: ("us", 1e-6), -1: ("ms", 1e-3)}.get(exponent, ("s", 1.0))


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """What a Timer times (all but its globals): the statement, its setup and the labels a summary prints."""

    stmt: str
    setup: str
    global_setup: str = ""
    label: str | None = None
    sub_label: str | None = None
    description: str | None = None
    env: str | None = None
    num_threads: int = 1

    @property
    def title(self) -> str:
        """The label (and sub-label), else the one-line statement (and sub-label), else the indented statement."""
        suffix = f": {self.sub_label}" if self.sub_label else ""
        if self.label is not None:
            return self.label + suffix
        if "\n" not in self.stmt:
            return self.stmt + suffix
        return f"stmt:{f' ({self.sub_label})' if self.sub_label else ''}\n" + textwrap.indent(self.stmt, "  ")

    def setup_str(self) -> str:
        """The setup as a summary prints it ("" for none)."""
        if not self.setup or self.setup == "pass":
            return ""
        return f"setup:\n{textwrap.indent(self.setup, '  ')}" if "\n" in self.setup else f"setup: {self.setup}"

    def summarize(self) -> str:
        """Title, description and setup, one section a line (a blank line after a section of several lines)."""
        sections = [part for part in (self.title, self.description or "", self.setup_str()) if part]
        return "\n".join(part + "\n" if "\n" in part else part for part in sections)


TASK_FIELDS = tuple(f.name for f in dataclasses.fields(TaskSpec))


class Measurement:
    """The result of a Timer, ``Measurement(number_per_run, raw_times, task_spec, metadata=None)``: ``raw_times``
    (seconds per block of ``number_per_run`` runs) and the statistics of ``times``, the seconds per run. The task's
    fields (``stmt``, ``label``, ``num_threads`` ...) read as its own attributes."""

    def __init__(self, number_per_run: int, raw_times: list[float], task_spec: TaskSpec,
                 metadata: dict[Any, Any] | None = None) -> None:
        self.number_per_run, self.raw_times = number_per_run, list(raw_times)
        self.task_spec, self.metadata = task_spec, metadata

    def __getattr__(self, name: str) -> Any:
        if name in TASK_FIELDS:
            return getattr(self.task_spec, name)
        raise AttributeError(f"'Measurement' object has no attribute {name!r}")

    @staticmethod
    def merge(measurements: Iterable[Measurement]) -> list[Measurement]:
        """One Measurement per distinct task of ``measurements``, holding all their per-run times (one run a block;
        metadata dropped)."""
        groups: dict[TaskSpec, list[float]] = {}
        for m in measurements:
            groups.setdefault(m.task_spec, []).extend(m.times)
        return [Measurement(1, times, task) for task, times in groups.items()]

    def meets_confidence(self, threshold: float = 0.1) -> bool:
        """Whether the interquartile range is under ``threshold`` of the median."""
        return self.iqr / self.median < threshold

    @property
    def as_row_name(self) -> str:
        """The name of this measurement's row in a table: its sub-label, else its statement."""
        return self.sub_label or self.stmt or "[Unknown]"

    @property
    def times(self) -> list[float]:
        return [t / self.number_per_run for t in self.raw_times]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def _quartiles(self) -> tuple[float, float]:
        times = sorted(self.times)
        if len(times) < 2:
            return times[0], times[0]
        q = statistics.quantiles(times, n=4, method="inclusive")
        return q[0], q[2]

    @property
    def iqr(self) -> float:
        lo, hi = self._quartiles()
        return hi - lo

    @property
    def has_warnings(self) -> bool:
        """Whether the spread is large: an interquartile range of at least 10% of the median (torch's threshold;
        25% and more is a gross one)."""
        return self.median > 0 and not self.meets_confidence(0.1)

    @property
    def significant_figures(self) -> int:
        """The digits the spread allows (2 for one measurement; at most 4)."""
        if len(self.times) < 2 or self.iqr <= 0:
            return 2 if len(self.times) < 2 else 4
        return max(1, min(4, math.floor(math.log10(self.median / self.iqr)) + 1))

    @property
    def title(self) -> str:
        return self.task_spec.title

    def __repr__(self) -> str:
        unit, scale = select_unit(self.median)
        lines = [object.__repr__(self), *self.task_spec.summarize().split("\n")]
        threads = f"{self.num_threads} thread{'s' if self.num_threads != 1 else ''}"
        if len(self.times) == 1:
            lines += [f"  {self.median / scale:.2f} {unit}", f"  1 measurement, {self.number_per_run} runs , "
                                                               f"{threads}"]
        else:  # (the quartiles of fewer than 4 measurements are not printed, as in torch)
            lo, hi = self._quartiles()
            lines += [f"  Median: {self.median / scale:.2f} {unit}"]
            lines += [f"  IQR:    {self.iqr / scale:.2f} {unit} ({lo / scale:.2f} to {hi / scale:.2f})"] \
                if len(self.times) >= 4 else []
            lines += [f"  {len(self.times)} measurements, {self.number_per_run} runs per measurement, {threads}"]
        if self.has_warnings:
            gross = not self.meets_confidence(0.25)
            lines += [f"  WARNING: Interquartile range is {self.iqr / self.median * 100:.1f}% of the median "
                      "measurement.", "           " + ("This suggests significant environmental influence." if gross
                                                       else "This could indicate system fluctuation.")]
        return "\n".join(lines)


class Timer:
    """``Timer(stmt, setup, globals=..., label=, sub_label=, description=, num_threads=1)``: times ``stmt`` (a
    string of Python, run with ``globals``) after running ``setup`` once."""

    def __init__(self, stmt: str = "pass", setup: str = "pass", global_setup: str = "",
                 timer: Callable[[], float] = timeit.default_timer, globals: dict[str, Any] | None = None,  # noqa: A002
                 label: str | None = None, sub_label: str | None = None, description: str | None = None,
                 env: str | None = None, num_threads: int = 1, language: Any = "python") -> None:
        if str(getattr(language, "name", language)).lower() not in ("python", "py"):
            raise NotImplementedError("benchmark.Timer: only Python statements can be timed here (no C++)")
        if not isinstance(stmt, str):
            raise ValueError("Currently only a `str` stmt is supported.")
        self._task_spec = TaskSpec(stmt, setup, global_setup, label, sub_label, description, env, num_threads)
        namespace = dict(globals or {})
        if global_setup:
            exec(global_setup, namespace)
        self._timer = timeit.Timer(stmt=stmt, setup=setup, timer=timer, globals=namespace)

    def _time(self, number: int) -> float:
        with backend.num_threads(self._task_spec.num_threads):
            return self._timer.timeit(number)

    def _measurement(self, number: int, times: list[float]) -> Measurement:
        return Measurement(number, times, self._task_spec)

    def timeit(self, number: int = 1000000) -> Measurement:
        """One block of ``number`` runs (after a warm-up of up to 100 runs, as torch's)."""
        self._time(min(number, 100))
        return self._measurement(number, [self._time(number)])

    def repeat(self, repeat: int = -1, number: int = -1) -> None:
        raise NotImplementedError("See `Timer.blocked_autorange.`")

    def _block_size(self, min_run_time: float) -> int:
        """Runs per block, as torch's: the first power of ten whose block takes at least a thousandth of
        ``min_run_time`` and 1e4 times the timing loop's own cost (or more than ``min_run_time``)."""
        empty = timeit.Timer(stmt="pass", timer=self._timer.timer)
        overhead = statistics.median(empty.timeit(1) for _ in range(5))
        number = 1
        while number < 10 ** 9:
            seconds = self._time(number)
            if (seconds >= min_run_time / 1000 and overhead <= 1e-4 * seconds) or seconds > min_run_time:
                break
            number *= 10
        return number

    def blocked_autorange(self, callback: Callable[[int, float], None] | None = None,
                          min_run_time: float = 0.2) -> Measurement:
        """Blocks of runs until their total time reaches ``min_run_time`` seconds; ``callback(number, seconds)``
        after each block."""
        number, times = self._block_size(min_run_time), []
        while sum(times) < min_run_time or not times:
            times.append(self._time(number))
            if callback is not None:
                callback(number, times[-1])
        return self._measurement(number, times)

    def autorange(self, callback: Callable[[int, float], None] | None = None) -> Measurement:
        """timeit's autorange: the fewest runs (1, 2, 5, 10, 20, ...) that take at least 0.2 s, as one block."""
        number, seconds = self._timer.autorange(callback)
        return self._measurement(number, [seconds])

    def adaptive_autorange(self, threshold: float = 0.1, *, min_run_time: float = 0.01, max_run_time: float = 10.0,
                           callback: Callable[[int, float], None] | None = None) -> Measurement:
        """Blocks of about ``min_run_time`` each until the interquartile range is within ``threshold`` of the
        median (from 4 blocks on) or ``max_run_time`` is spent."""
        number, times = self._block_size(min_run_time), []
        while True:
            times.append(self._time(number))
            if callback is not None:
                callback(number, times[-1])
            m = self._measurement(number, times)
            if (len(times) >= 4 and sum(times) >= min_run_time and m.iqr / m.median < threshold) \
                    or sum(times) >= max_run_time:
                return m


class Compare:
    """A table of measurements: one per label, rows by thread count and sub-label (else the statement), a column per
    description; ``print()`` shows it, in the unit of the fastest time."""

    def __init__(self, results: Sequence[Measurement]) -> None:
        self.results = list(results)
        self._trim = self._warnings = False

    def trim_significant_figures(self) -> None:
        self._trim = True

    def colorize(self, rowwise: bool = False) -> None:
        """Accepted; the table is plain text here."""

    def highlight_warnings(self) -> None:
        self._warnings = True

    def _cell(self, m: Measurement | None, scale: float) -> str:
        """One measurement's median in the table's unit (to its significant figures once trimmed)."""
        if m is None:
            return ""
        digits = max(0, m.significant_figures - 1 - math.floor(math.log10(m.median / scale)))
        text = f"{m.median / scale:.{digits if self._trim else 1}f}"
        return text + (f" (! {m.iqr / m.median * 100:.0f}%)" if self._warnings and m.has_warnings else "")

    def _table(self, label: str | None, group: list[Measurement]) -> list[str]:
        """The lines of one label's table."""
        cells = {((m.num_threads, m.as_row_name), m.description): m for m in group}
        rows = sorted(dict.fromkeys(r for r, _ in cells), key=lambda r: r[0])  # (by thread count, then as given)
        columns = list(dict.fromkeys(c for _, c in cells))
        unit, scale = select_unit(min(m.median for m in group))
        width = max(len(str(sub)) for _, sub in rows) + 2
        header = " " * width + "|" + "|".join(f"  {c or '':^7}  " for c in columns)
        lines = [f"[{'-' * 10} {label or ''} {'-' * 10}]", header]
        for i, (threads, sub) in enumerate(rows):
            if i == 0 or rows[i - 1][0] != threads:
                lines.append(f"{threads} threads: ".ljust(len(header), "-"))
            lines.append(f"{sub!s:>{width - 2}}  |" + "|".join(
                f"  {self._cell(cells.get(((threads, sub), c)), scale):^7}  " for c in columns))
        return [*lines, "", f"Times are in {UNIT_NAMES[unit]} ({unit}).", ""]

    def __str__(self) -> str:
        labels = dict.fromkeys(m.label for m in self.results)
        return "\n".join(line for label in labels
                         for line in self._table(label, [m for m in self.results if m.label == label]))

    def print(self) -> None:
        print(str(self))
