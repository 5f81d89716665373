"""``torch.autograd.profiler`` (the older profiling API: ``profile``, ``record_function``, ``emit_nvtx``) and
``torch.nn.utils.stateless.functional_call`` against torch.

Mutations (each reverted after the run):
- ``enabled`` ignored: test_a_disabled_profile_records_nothing fails.
- stateless's warning dropped: test_stateless_functional_call_as_torch fails.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


@pytest.mark.parametrize("lib", [tg, torch], ids=["ours", "torch"])
def test_profile_records_the_named_blocks(lib: Any) -> None:
    from importlib import import_module

    profiler = import_module(f"{lib.__name__}.autograd.profiler")
    with profiler.profile(use_cuda=False, record_shapes=True) as prof:
        for _ in range(3):
            with profiler.record_function("my_block"):
                (lib.ones(8) * 2).sum()
    keys = {e.key: e.count for e in prof.key_averages()}
    assert keys["my_block"] == 3
    assert "my_block" in prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10)
    assert sum(e.name == "my_block" for e in prof.function_events) == 3


def test_emit_nvtx_does_nothing() -> None:
    with tg.autograd.profiler.emit_nvtx(), tg.autograd.profiler.emit_itt():  # (torch's needs a CUDA build)
        assert float((tg.ones(2) * 3).sum()) == 6.0


def test_a_disabled_profile_records_nothing() -> None:
    with tg.autograd.profiler.profile(enabled=False) as prof, tg.autograd.profiler.record_function("x"):
        pass
    assert len(prof.function_events) == 0


def test_stateless_functional_call_as_torch() -> None:
    results = []
    for lib in (torch, tg):
        from importlib import import_module

        stateless = import_module(f"{lib.__name__}.nn.utils.stateless")
        lib.manual_seed(0)
        model = lib.nn.Linear(3, 2)
        given = {"weight": lib.tensor(np.arange(6.0).reshape(2, 3), dtype=lib.float32), "bias": lib.ones(2)}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = stateless.functional_call(model, given, (lib.ones(4, 3),))
        assert [w.category for w in caught] == [FutureWarning]
        assert "torch.func.functional_call" in str(caught[0].message)
        results.append(out.detach().numpy())
        assert not np.array_equal(model.weight.detach().numpy(), np.arange(6.0).reshape(2, 3))  # its own put back
    np.testing.assert_array_equal(results[0], results[1])
