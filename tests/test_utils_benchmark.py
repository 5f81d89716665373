"""``torch.utils.benchmark`` (``Timer``, ``Measurement``, ``Compare``, ``select_unit``) against torch's: the same
statements give measurements of the same structure (runs per block, blocks, per-run times) and the same printed
summary with the numbers masked; the thread count is the Timer's while it times and put back after.

Mutations (each reverted after the run):
- blocked_autorange stopping after one block: test_blocked_autorange_as_torch fails (its total under min_run_time).
- the thread setting not put back: test_threads_during_and_after fails.
- a multi-line setup printed on one line: test_timeit_and_its_summary_as_torch fails.
"""

from __future__ import annotations

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
    ours = bench(tg).Measurement(10, [t * 10 for t in times], "f(x)", num_threads=2)
    common = import_module("torch.utils.benchmark.utils.common")
    theirs = common.Measurement(10, [t * 10 for t in times], common.TaskSpec("f(x)", "pass", num_threads=2))
    assert repr(ours).splitlines()[1:] == repr(theirs).splitlines()[1:]
    assert ours.has_warnings == theirs.has_warnings


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
