"""``hooks_telemetry.py`` (fast.ai's 2019 "Deep Learning from the Foundations" notebooks 06 and 07a: Hook / Hooks
with append_stats and histc histograms, get_hist / get_min, GeneralRelu, init_cnn, a one-cycle combine_scheds /
sched_cos setting ``pg['lr']``, LSUV, a forward pre-hook, full backward hooks and the global module forward hook)
run on torch and, imports swapped, on ours from torch's initial weights: the learning rates are equal exactly, the
losses, gradient norms, each layer's activation means / stds / histograms, the pre-hook's and backward hooks'
statistics, the LSUV means / stds / call counts and final biases, and the final parameters agree.

Tolerances: float32 throughout, 8 SGD steps (telemetry) and 4 (LSUV). Measured: losses, gradient norms, the
pre-hook's and backward hooks' statistics within 2.1e-7 relative, the layers' means within 1.2e-7 absolute (7.4e-7
relative) and stds 1.1e-7 relative, the LSUV means / stds / biases within 1.2e-7 relative, parameters within 2.4e-7
absolute. We allow rtol 5e-6 and atol 5e-7. The histograms' counts are equal (checked exactly); their log1p differs by
at most 1 ulp (numpy's float32 log1p against torch's), inside the tolerance, where one count more or less in a bin
would move it by over 1e-3. The learning rates (Python floats from float32 ``pcts``), get_min, the global hook's
log and the LSUV call counts are equal exactly."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 5e-6, "atol": 5e-7}
BACKWARD_WARNING = pytest.mark.filterwarnings("ignore:Full backward hook is firing:UserWarning")


def both(make, run: str) -> tuple[dict, dict]:
    """``run(make(), *data())`` on the program with torch's imports, then ours from torch's initial weights."""
    return from_torch_weights(HERE / "hooks_telemetry.py", make,
                              lambda m, model, lib: getattr(m, run)(model, *m.data()))


def split(value: object) -> tuple[list[float], list[object]]:
    """A nested record's numbers (flattened) and its other leaves (None, names, shapes), in order."""
    if isinstance(value, (list, tuple)) and not (value and all(isinstance(v, int) for v in value)):
        parts = [split(v) for v in value]
        return [x for p in parts for x in p[0]], [x for p in parts for x in p[1]]
    if isinstance(value, (float, np.ndarray, np.floating)):
        return np.ravel(value).astype(float).tolist(), []
    return [], [value]


def agree(theirs: dict, ours: dict, exact: tuple[str, ...]) -> None:
    assert ours.keys() == theirs.keys()
    for key in theirs:
        if key == "params":
            assert_params_close(ours[key], theirs[key], **TOL)
        elif key in exact:
            assert split(ours[key]) == split(theirs[key]), key
        else:
            (got, other_o), (want, other_t) = split(ours[key]), split(theirs[key])
            assert other_o == other_t, key
            np.testing.assert_allclose(got, want, err_msg=key, **TOL)


@BACKWARD_WARNING
def test_hook_telemetry_one_cycle_matches_torch(one_torch_thread: None) -> None:
    def make(m):
        model = m.get_cnn_model(layer=m.conv_layer, leak=0.1, sub=0.4, maxv=6.)
        m.init_cnn(model)
        return model

    theirs, ours = both(make, "telemetry")
    agree(theirs, ours, exact=("lr", "global", "min"))
    for got, want in zip(ours["hist"], theirs["hist"], strict=True):
        assert np.array_equal(np.rint(np.expm1(got.astype(float))), np.rint(np.expm1(want.astype(float))))
    assert len(ours["global"]) == 48  # 3 convs x (8 training + 8 validation calls)
    assert ours["loss"][-1] < ours["loss"][0]


def test_lsuv_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both(lambda m: m.get_cnn_model(layer=m.ConvLayer, leak=0.1, sub=0.4), "lsuv")
    agree(theirs, ours, exact=("lr",))
    assert [c for _, _, c in ours["lsuv"]] == [c for _, _, c in theirs["lsuv"]]
    assert all(abs(s - 1) <= 1e-3 for _, s, _ in ours["lsuv"])
