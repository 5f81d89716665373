"""``torch.utils.benchmark`` (``Timer``, ``Measurement``, ``Compare``, ``select_unit``) against torch's: the same
statements give measurements of the same structure (runs per block, blocks, per-run times) and the same printed
summary with the numbers masked; the thread count is the Timer's while it times and put back after.

Mutations (each reverted after the run):
- blocked_autorange stopping after one block: test_blocked_autorange_as_torch fails (its total under min_run_time).
- the thread setting not put back: test_threads_during_and_after fails.
- a multi-line setup printed on one line: test_timeit_and_its_summary_as_torch fails.
"""

from __future__ import annotations

import pickle
import re
from importlib import import_module
from typing import Any

import pytest

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
LIBS = pytest.mark.parametrize("lib", [tg, torch], ids=["ours", "torch"])


def bench(lib: Any) -> Any:
    return import_module(f"{lib.__name__}.utils.benchmark")


def masked(measurement: Any) -> list[str]:
    """The printed summary without its first line (the object's address) and with every number as N."""
    return [re.sub(r"\d+(\.\d+)?", "N", line) for line in repr(measurement).splitlines()[1:]]


def test_select_unit_as_torch() -> None:
    for t in (3e-9, 4.5e-6, 5e-2, 2.0, 999e-9, 1e-3):
        assert bench(tg).select_unit(t) == bench(torch).select_unit(t), t


@pytest.mark.parametrize("setup", ["pass", "x = 1", "x = 1\ny = 2"])
def test_timeit_and_its_summary_as_torch(setup: str) -> None:
    summaries = []
    for lib in (tg, torch):
        timer = bench(lib).Timer("sum(range(k))", setup=setup, globals={"k": 3000}, label="L", sub_label="s",
                                 description="d")  # (some 20 us a run: well inside one unit, us, under load too)
        m = timer.timeit(200)
        assert m.number_per_run == 200 and len(m.raw_times) == 1 and m.times == [m.raw_times[0] / 200]
        assert m.mean == m.median == m.times[0] and m.iqr == 0 and m.title == "L: s" and m.description == "d"
        summaries.append(masked(m))
    assert summaries[0] == summaries[1]


@LIBS
def test_blocked_autorange_as_torch(lib: Any) -> None:
    blocks: list[tuple[int, float]] = []
    m = bench(lib).Timer("sum(range(200))").blocked_autorange(callback=lambda n, s: blocks.append((n, s)),
                                                               min_run_time=0.05)
    assert sum(m.raw_times) >= 0.05 and len(m.times) == len(blocks) >= 1
    assert all(n == m.number_per_run for n, _ in blocks) and [s for _, s in blocks] == m.raw_times
    assert min(m.times) <= m.median <= max(m.times)
    lines = masked(m)
    assert lines[0] == "sum(range(N))"
    if len(m.times) == 1:  # (one block when the machine stalls: a long one)
        assert lines[2] == "  N measurement, N runs , N thread"
    else:  # the quartiles from 4 blocks on (a loaded machine may time only 2 or 3)
        assert lines[1].startswith("  Median: N ") and lines[2].startswith("  IQR:") == (len(m.times) >= 4)


@pytest.mark.parametrize("times", [[2e-6], [2e-6, 2.1e-6], [1e-6, 1.2e-6, 1.5e-6], [1e-3, 1.01e-3, 1.02e-3, 1.03e-3],
                                   [1, 1.1, 1.15, 1.2, 1.3], [1, 1.5, 2, 2.5, 9], [5e-9] * 6])
def test_summary_as_torch_for_any_number_of_measurements(times: list[float]) -> None:
    """The printed summary of a measurement of 1, 2, 3 and more blocks, with a small, a large (10-25%) and a gross
    (25% and more) interquartile range, is torch's line for line, numbers included: the quartiles from 4 blocks on,
    torch's two warnings from any number."""
    ours, theirs = (bench(lib).Measurement(10, [t * 10 for t in times], bench(lib).TaskSpec("f(x)", "pass",
                                                                                            num_threads=2))
                    for lib in (tg, torch))
    assert repr(ours).splitlines()[1:] == repr(theirs).splitlines()[1:]
    assert ours.has_warnings == theirs.has_warnings and ours.meets_confidence() == theirs.meets_confidence()
    assert ours.meets_confidence(0.3) == theirs.meets_confidence(0.3)


TASKS = [{"stmt": "f(x)", "setup": "pass"}, {"stmt": "f(x)", "setup": "x = 1", "sub_label": "s"},
         {"stmt": "a = 1\nf(a)", "setup": "x = 1\ny = 2", "description": "d"},
         {"stmt": "a = 1\nf(a)", "setup": "", "sub_label": "s", "num_threads": 4},
         {"stmt": "f(x)", "setup": "pass", "label": "L", "sub_label": "s", "env": "e", "global_setup": "g"},
         {"stmt": "", "setup": "pass", "label": "L"}]


@pytest.mark.parametrize("task", TASKS)
def test_task_spec_and_measurement_as_torch(task: dict) -> None:
    """``TaskSpec`` (title, setup_str, summarize), ``Measurement(number_per_run, raw_times, task_spec, metadata)``
    reading the task's fields as its own, ``as_row_name``, the printed summary for one-line and multi-line
    statements and setups, and ``merge`` (one measurement per task, every per-run time), all as torch's."""
    specs = [bench(lib).TaskSpec(**task) for lib in (tg, torch)]
    assert [specs[0].title, specs[0].setup_str(), specs[0].summarize()] == \
        [specs[1].title, specs[1].setup_str(), specs[1].summarize()]
    made = [bench(lib).Measurement(4, [8e-6, 9e-6, 8.5e-6], spec, {"k": 1}) for lib, spec in zip((tg, torch), specs)]
    for field in ("stmt", "setup", "global_setup", "label", "sub_label", "description", "env", "num_threads"):
        assert getattr(made[0], field) == getattr(made[1], field) == task.get(field, getattr(specs[1], field))
    assert made[0].metadata == made[1].metadata == {"k": 1} and made[0].as_row_name == made[1].as_row_name
    assert repr(made[0]).splitlines()[1:] == repr(made[1]).splitlines()[1:]
    other = [bench(lib).TaskSpec("g()", "pass") for lib in (tg, torch)]
    merged = [bench(lib).Measurement.merge([m, bench(lib).Measurement(2, [6e-6], o),
                                            bench(lib).Measurement(1, [1e-6], s)])
              for lib, m, o, s in zip((tg, torch), made, other, specs)]
    assert [(m.number_per_run, m.raw_times, m.stmt, m.metadata) for m in merged[0]] == \
        [(m.number_per_run, m.raw_times, m.stmt, m.metadata) for m in merged[1]]
    with pytest.raises(AttributeError):
        made[0].no_such_field  # noqa: B018
    again = pickle.loads(pickle.dumps(made[0]))  # (torch's is serialisable; ours reads the task through __getattr__)
    assert again.task_spec == made[0].task_spec and repr(again).splitlines()[1:] == repr(made[0]).splitlines()[1:]


@LIBS
def test_adaptive_autorange_and_compare(lib: Any, capsys: pytest.CaptureFixture[str]) -> None:
    b = bench(lib)
    results = [b.Timer(f"sum(range({n}))", label="sums", sub_label=f"n={n}", description=kind).adaptive_autorange(
        min_run_time=0.01, max_run_time=0.5) for n in (100, 1000) for kind in ("a", "b")]
    assert all(len(m.times) >= 1 and m.median > 0 for m in results)
    compare = b.Compare(results)
    compare.trim_significant_figures()
    compare.print()
    out = capsys.readouterr().out
    for text in ("sums", "n=100", "n=1000", "1 threads", "Times are in "):
        assert text in out, text


@LIBS
def test_threads_during_and_after(lib: Any) -> None:
    before, seen = lib.get_num_threads(), []
    bench(lib).Timer("seen.append(get())", globals={"seen": seen, "get": lib.get_num_threads}, num_threads=1).timeit(3)
    assert set(seen) == {1} and lib.get_num_threads() == before
    with pytest.raises(NotImplementedError, match="blocked_autorange"):
        bench(lib).Timer("pass").repeat()
