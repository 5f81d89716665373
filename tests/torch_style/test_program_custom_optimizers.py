"""``custom_optimizers.py`` (hand-written Optimizer subclasses as public repositories write them: lucidrains' Lion
and its ``torch._foreach_*`` variant with ``decoupled_weight_decay``, sail-sg's Adan on its multi-tensor and
single-tensor paths with ``pre_grad``, ``restart_opt`` and the global-norm clip, cybertronai's Lamb with its
deprecated ``add_(alpha, tensor)`` spellings and Python trust-ratio branches, and SophiaG with ``update_hessian`` from
sampled labels) run on torch and, imports swapped, on ours: from torch's initial weights and the same numpy data, on a
tiny MLP and a tiny causal transformer, under a LambdaLR warmup rebuilt when ``add_param_group`` adds the head, the
losses, gradient norms, gradients, every parameter and every optimizer-state entry after each step agree, the lrs
are equal; a run stopped, saved (model, optimizer, scheduler) and resumed equals the uninterrupted one bit for bit in
each library.

Tolerances: float32 throughout. Measured over 8 steps: losses within 2.4e-7, gradients within 1e-7, gradient norms
within 2.4e-7; parameters: Lion's equal bit for bit (sign steps), Sophia's within 4.1e-7 and Lamb's within 3.3e-7
(the clipped ratio and the trust ratio carry the gradients' rounding), Adan's within 3.6e-6 (its update divides by
the square root of a tiny second moment where gradients are tiny: relative 1e-4 of a 1e-2 step); state entries
within 7.6e-6 absolute (Lamb's ``adam_norm``, values near 1e2), their relative differences up to 4% only on entries
near 1e-7 (Adan's ``exp_avg_diff`` of cancelling gradients). We allow rtol 1e-4 and atol 1e-5 on parameters and
state, rtol 1e-5 / atol 1e-6 on losses, gradients and norms. The step counts, the ``trust_ratio`` kinds (a 0-d
tensor, or the int 1) and the lrs must be equal.

The transformer's qkv Linear is bias-free (nanoGPT's ``bias=False``): a key bias's gradient is rounding noise, which
sign-like steps (Lion, Sophia, Adan) would follow. Lion's lr 4e-3 is one at which no momentum entry lands within
rounding of 0 (at 3e-3 one did, 8e-11 in torch and -1.5e-11 here from gradients 1e-9 apart: a whole lr apart after
the sign)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

# Lamb's deprecated ``add_(alpha, tensor)`` spellings warn in both libraries, as the repository's code does
pytestmark = pytest.mark.filterwarnings("ignore:This overload of add")
PATH = HERE / "custom_optimizers.py"
TIGHT = {"rtol": 1e-5, "atol": 1e-6}
TOL = {"rtol": 1e-4, "atol": 1e-5}
CASES = [("mlp", name) for name in ("lion", "lion_decoupled", "lion_foreach", "adan", "adan_no_prox", "adan_single",
                                    "lamb", "lamb_adam", "sophia")]
CASES += [("tf", name) for name in ("lion_foreach", "adan", "lamb", "sophia")]


def assert_states_close(ours: list, theirs: list) -> None:
    """Per parameter, the same state keys; arrays within TOL (same shape and dtype), other values equal."""
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs, strict=True):
        assert o.keys() == t.keys()
        for key in t:
            if isinstance(t[key], np.ndarray):
                assert isinstance(o[key], np.ndarray) and o[key].dtype == t[key].dtype, key
                np.testing.assert_allclose(o[key], t[key], err_msg=key, **TOL)
            else:
                assert type(o[key]) is type(t[key]) and o[key] == t[key], key


@pytest.mark.parametrize(("kind", "name"), CASES)
def test_optimizer_matches_torch_step_by_step(one_torch_thread: None, kind: str, name: str) -> None:
    theirs, ours = from_torch_weights(PATH, lambda m: m.make_model(kind), lambda m, net, lib: m.train(kind, net, name,
                                                                                                     8))
    assert ours["lrs"] == theirs["lrs"]
    for key in ("losses", "grad_norms"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TIGHT)
    for step, (o, t) in enumerate(zip(ours["grads"], theirs["grads"], strict=True)):
        for a, b in zip(o, t, strict=True):
            np.testing.assert_allclose(a, b, err_msg=f"grad at step {step}", **TIGHT)
    for step, (o, t) in enumerate(zip(ours["params"], theirs["params"], strict=True)):
        assert o.keys() == t.keys()
        for k in t:
            np.testing.assert_allclose(o[k], t[k], err_msg=f"{k} at step {step}", **TOL)
    for o, t in zip(ours["states"], theirs["states"], strict=True):
        assert_states_close(o, t)
    assert theirs["losses"][-1] < theirs["losses"][0] or kind == "mlp"


@pytest.mark.parametrize("lib", ["torch", "ours"])
@pytest.mark.parametrize(("name", "stop"), [("lion_foreach", 1), ("adan", 6), ("lamb", 3), ("sophia", 4)])
def test_checkpoint_resume_is_exact(one_torch_thread: None, tmp_path: Path, lib: str, name: str, stop: int) -> None:
    """Stopped after ``stop`` steps (before the head's group is added, or after it, after Adan's restart), saved,
    and resumed in a fresh model from other initial weights: the rest equals the uninterrupted run bit for bit."""
    path = tmp_path / "ckpt.pt"
    with program(PATH, lib) as m:
        m.torch.manual_seed(0)
        whole = m.train("tf", m.make_model("tf"), name, 8)
        m.torch.manual_seed(0)
        m.train("tf", m.make_model("tf"), name, 8, checkpoint=stop, resume_from=path)
        m.torch.manual_seed(1)
        resumed = m.train("tf", m.make_model("tf"), name, 8, resume_from=path)
    assert resumed["losses"] == whole["losses"][stop:] and resumed["lrs"] == whole["lrs"][stop:]
    assert resumed["grad_norms"] == whole["grad_norms"][stop:]
    for o, t in zip(resumed["params"], whole["params"][stop:], strict=True):
        assert all(np.array_equal(o[k], t[k]) for k in t)
    for o, t in zip(resumed["states"], whole["states"][stop:], strict=True):
        for so, st in zip(o, t, strict=True):
            assert so.keys() == st.keys() and all(np.array_equal(so[k], st[k]) for k in st)


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_foreach_paths_equal_the_loops(one_torch_thread: None, lib: str) -> None:
    """Lion's foreach variant steps exactly as its per-parameter loop; Adan's multi-tensor path as its single one."""
    with program(PATH, lib) as m:
        runs = {}
        for name in ("lion", "lion_foreach", "adan", "adan_single"):
            m.torch.manual_seed(0)
            runs[name] = m.train("mlp", m.make_model("mlp"), name, 6)
    for a, b in (("lion", "lion_foreach"), ("adan", "adan_single")):
        assert runs[a]["losses"] == runs[b]["losses"], (a, b)
        for o, t in zip(runs[a]["params"], runs[b]["params"], strict=True):
            for k in t:
                np.testing.assert_allclose(o[k], t[k], rtol=1e-5, atol=1e-7, err_msg=f"{a} {k}")


@pytest.mark.parametrize("name", ["lion", "lion_foreach"])
def test_half_parameters_step_as_torch(name: str) -> None:
    """Lion on float16 parameters with fed gradients: the foreach variant's ``_foreach_mul_(params, 1 - lr * wd)``
    rounds 0.9996 to float16 (0.99951) first as torch's does, the loop's ``p.data.mul_`` does not; bit for bit."""
    rng = np.random.default_rng(3)
    values = rng.normal(size=(2, 64)).astype(np.float16)
    grads = rng.normal(size=(3, 2, 64)).astype(np.float16)
    results = []
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            params = [m.torch.tensor(v, requires_grad=True) for v in values]
            opt = m.OPTIMIZERS[name]([{"params": params, "weight_decay": 0.1}])
            for g in grads:
                for p, gi in zip(params, g, strict=True):
                    p.grad = m.torch.tensor(gi)
                opt.step()
            results.append([p.detach().numpy().copy() for p in params])
    for o, t in zip(results[1], results[0], strict=True):
        np.testing.assert_array_equal(o, t)
