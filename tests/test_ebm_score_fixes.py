"""What the EBM / score-matching program (``tests/torch_style/ebm_score.py``) met, against torch 2.13: an optimizer's
per-parameter state read by torch's names. IGEBM's ``clip_grad`` bounds each gradient by Adam's
``state["exp_avg_sq"]`` and ``state["step"]``, skipping parameters with ``"step" not in state``: ours keeps the step
count as ``t`` and the moments as ``m`` / ``v``, so the test was always true and the clipping silently never ran (a
different number, no error). ``optimizer.state[p]`` now answers torch's names for the entries it holds (arrays as
Tensors sharing them, the step as torch's float32 0-d tensor), ``in`` and ``get`` included, while its keys,
``state_dict`` and checkpoints keep the library's names."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

# (name, kwargs): every torch optimizer whose state this library mirrors
OPTIMIZERS = [
    ("Adam", {}), ("Adam", {"amsgrad": True}), ("AdamW", {}), ("Adamax", {}), ("NAdam", {}), ("RAdam", {}),
    ("Adagrad", {}), ("Adadelta", {}), ("RMSprop", {}), ("RMSprop", {"centered": True, "momentum": 0.9}),
    ("Rprop", {}), ("ASGD", {}), ("SGD", {"lr": 0.1}), ("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adafactor", {}),
]
# torch's state names, read on ours; those torch lacks for a configuration must be absent here too
TORCH_NAMES = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "exp_inf", "sum", "square_avg", "acc_delta",
               "grad_avg", "momentum_buffer", "prev", "step_size", "ax", "eta", "mu", "mu_product", "row_var",
               "col_var", "variance")
VALUES = st.floats(-1e4, 1e4, allow_nan=False, width=32) | st.sampled_from([0.0, -0.0, 1e-30, -1e-30, 1e30])
SHAPES = st.sampled_from([(), (0,), (3,), (2, 3)])


def as_numpy(value: object) -> np.ndarray:
    """A state entry (Tensor, array or number) of either library as a float64 array."""
    if isinstance(value, (torch.Tensor, tg.Tensor)):
        value = value.detach().numpy()
    return np.asarray(value, np.float64)


def make(lib: object, name: str, kwargs: dict, data: np.ndarray) -> tuple[object, object]:
    p = lib.nn.Parameter(lib.tensor(data))
    return p, getattr(lib.optim, name)([p], **kwargs)


def both_states(name: str, kwargs: dict, data: np.ndarray,
                grads: list[np.ndarray]) -> tuple[dict, dict, object, dict]:
    """torch's and ours' state of one parameter after a step per gradient; our optimizer; and the largest magnitude
    each of torch's entries held after any step."""
    out, peaks = [], {}
    for lib in (torch, tg):
        p, opt = make(lib, name, kwargs, data)
        for g in grads:
            p.grad = lib.tensor(g)
            opt.step()
            for key, value in opt.state[p].items() if lib is torch else ():
                peaks[key] = max(peaks.get(key, 0.0), np.nanmax(np.abs(as_numpy(value)), initial=0.0))
        out.append((opt.state[p], opt))
    return out[0][0], out[1][0], out[1][1], peaks


@pytest.mark.parametrize(("name", "kwargs"), OPTIMIZERS, ids=[f"{n}-{k}" for n, k in OPTIMIZERS])
@settings(deadline=None, max_examples=15)
@given(shape=SHAPES, seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 3), extreme=VALUES)
def test_state_reads_by_torch_names(name: str, kwargs: dict, shape: tuple, seed: int, steps: int,
                                    extreme: float) -> None:
    if name == "Adafactor" and len(shape) != 2:
        shape = (2, 3)  # (an empty or 0-d parameter: ours refuses, torch divides by zero)
    if name == "RMSprop" and kwargs.get("centered") and abs(extreme) > 1e18:
        extreme = 1e18  # (g_avg**2 overflowing float32: torch's addcmul keeps inf - inf as inf, ours gives nan)
    rng = np.random.default_rng(seed)
    data = rng.standard_normal(shape).astype(np.float32)
    grads = [rng.standard_normal(shape).astype(np.float32) for _ in range(steps)]
    if grads[0].size:
        grads[0].reshape(-1)[0] = extreme
    theirs, ours, _, peaks = both_states(name, kwargs, data, grads)
    for key in TORCH_NAMES:
        assert (key in ours) == (key in theirs), key
        if key not in theirs:
            assert ours.get(key) is None and ours.get(key, 7) == 7
            with pytest.raises(KeyError):
                ours[key]
            continue
        want, got = theirs[key], ours[key]
        # an ulp of the largest value the entry held (Adam's lerp vs multiply-add; an earlier step's rounding carried
        # through a cancellation: centered RMSprop's momentum buffer -10.05 then -0.31, 6.4e-7 apart, found by a
        # hypothesis run)
        scale = peaks[key] if np.isfinite(peaks[key]) else np.nanmax(np.abs(as_numpy(want)), initial=0.0)
        tol = {"rtol": 2e-6, "atol": 1e-6 * scale if np.isfinite(scale) else 0}
        np.testing.assert_allclose(as_numpy(got), as_numpy(want), **tol, err_msg=key)
        np.testing.assert_allclose(as_numpy(ours.get(key)), as_numpy(want), **tol, err_msg=key)
        if key == "step" and torch.is_tensor(want):
            assert isinstance(got, tg.Tensor) and got.shape == want.shape == ()
            assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1] == "float32"
        elif torch.is_tensor(want) and want.shape == torch.Size(shape) and key in ours.aliases:
            # (entries under torch's own name here, Rprop's ``prev``, ASGD's ``ax``: the raw array, as before)
            assert isinstance(got, tg.Tensor) and tuple(got.shape) == shape, key


@settings(deadline=None, max_examples=20)
@given(seed=st.integers(0, 2**32 - 1), beta2=st.sampled_from([0.999, 0.9, 0.0]),
       big=st.sampled_from([1.0, 1e6, 1e-6]))
def test_igebm_clip_grad_clips_as_torch(seed: int, beta2: float, big: float) -> None:
    """igebm-pytorch's clip_grad after an Adam step: the bound from ``exp_avg_sq`` and ``step``, as torch's."""
    rng = np.random.default_rng(seed)
    data, g1 = rng.standard_normal((2, 5)).astype(np.float32)
    g2 = (rng.standard_normal(5) * big * 100).astype(np.float32)
    results = []
    for lib in (torch, tg):
        p, opt = make(lib, "Adam", {"lr": 1e-3, "betas": (0.0, beta2)}, data)
        p.grad = lib.tensor(g1 * big)
        state = opt.state[p]  # read before a step: empty, no "step"
        assert "step" not in state and "exp_avg_sq" not in state
        opt.step()
        p.grad = lib.tensor(g2)
        with lib.no_grad():
            for group in opt.param_groups:
                for q in group["params"]:
                    state = opt.state[q]
                    if "step" not in state or state["step"] < 1:
                        continue
                    step = state["step"]
                    _, b2 = group["betas"]
                    bound = 3 * lib.sqrt(state["exp_avg_sq"] / (1 - b2 ** step)) + 0.1
                    q.grad.data.copy_(lib.max(lib.min(q.grad.data, bound), -bound))
        results.append(p.grad.numpy().copy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6)
    assert np.abs(results[1]).max() < np.abs(g2).max() or big < 1


def test_torch_names_share_the_state_and_survive_checkpoints() -> None:
    """A Tensor read as ``exp_avg`` shares the state, as torch's (it sees the next step); keys, ``state_dict``
    (torch's names), a ``load_state_dict``, ``torch.save`` / ``load`` and ``deepcopy`` keep the entries and the
    aliases."""
    p, opt = make(tg, "Adam", {}, np.ones(3, np.float32))
    p.grad = tg.tensor([1.0, 2.0, 3.0])
    opt.step()
    state = opt.state[p]
    first = state["exp_avg"]
    opt.step()
    np.testing.assert_allclose(first.numpy(), state["exp_avg"].numpy())
    assert float(state["step"]) == 2.0 and sorted(state) == ["m", "t", "v"] and len(state) == 3
    saved = opt.state_dict()
    assert sorted(saved["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]  # torch's, as torch.save writes them
    buffer = io.BytesIO()
    tg.save(saved, buffer)
    buffer.seek(0)
    loaded = make(tg, "Adam", {}, np.ones(3, np.float32))[1]
    loaded.load_state_dict(tg.load(buffer))
    for other in (loaded, copy.deepcopy(opt)):
        (q,) = other.param_groups[0]["params"]
        np.testing.assert_allclose(other.state[q]["exp_avg_sq"].numpy(), state["v"])
        assert "step" in other.state[q] and float(other.state[q]["step"]) == 2.0
    clone = copy.deepcopy(state)
    assert type(clone) is type(state) and float(clone["step"]) == 2.0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), steps=st.integers(1, 4), reset=st.sampled_from(["exp_avg", "exp_avg_sq", "step"]))
def test_writing_torch_names_resets_the_state_as_torch(seed: int, steps: int, reset: str) -> None:
    """``state["exp_avg"] = zeros_like(p)`` (or ``state["step"] = tensor(0.)``) writes the entry the update reads, as
    in torch; before, it added a key the update never read and the next step ignored the reset, silently."""
    rng = np.random.default_rng(seed)
    w0, grads = rng.standard_normal(4).astype(np.float32), rng.standard_normal((steps + 1, 4)).astype(np.float32)
    results = []
    for lib in (torch, tg):
        p, opt = make(lib, "Adam", {}, w0)
        for g in grads[:-1]:
            p.grad = lib.tensor(g)
            opt.step()
        state = opt.state[p]
        state[reset] = lib.tensor(0.0) if reset == "step" else lib.zeros_like(p) + 0.5
        p.grad = lib.tensor(grads[-1])
        opt.step()
        results.append((p.detach().numpy().copy(), float(state["step"]), state["exp_avg"].numpy().copy()))
    for want, got in zip(results[0], results[1]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="shape"):
        opt.state[p]["exp_avg"] = tg.zeros(5)
