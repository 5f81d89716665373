"""``dqn.py`` (the DQN tutorial's agent in its 2019 and 2017 spellings, Double DQN, hard / Polyak / state-dict target
updates, RMSprop with ``grad.data.clamp_`` and Adam / AdamW with ``clip_grad_value_``, a checkpoint resume, and the
Udacity-style agent) run on torch and, imports swapped, on ours: from torch's initial weights and the same numpy
generator (exploration and minibatches), both take the same actions at every step, so the episodes' returns are
equal and the losses, Q values, TD targets, gradients' largest entries and final parameters (policy and target)
agree; the resumed run equals the uninterrupted one bit for bit in each library; and every agent learned to walk
right.

Tolerances: float32 throughout; the runs see the same states and actions and differ only by rounding in the
networks, which RMSprop / Adam carry on (a step moves a weight by about lr whatever the gradient's rounding).
Measured over 300 steps (285 updates; the Udacity agent 79): parameters and target parameters within 2.2e-7
absolute, Q values and TD targets within 2.4e-7 (values up to about 1), losses within 2e-8 absolute (3e-6
relative), the gradients' largest entries within 1.2e-7, the optimizers' state within 3e-9. We allow rtol 1e-4 and
atol 2e-6. The actions must be equal
exactly: they could differ only where two Q values lie within rounding of each other, which these seeds never
meet. The optimizers' state_dict holds torch's names and tensors in both."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-4, "atol": 2e-6}
STEPS = 300
EXACT = ("actions", "returns", "greedy", "scores", "window", "loaded_equal")
LEGACY = pytest.mark.filterwarnings("ignore:.*(volatile|uint8).*:UserWarning")  # the 2017 spelling's deprecations


def both(make: str, run: str, *args: int, **kwargs: object) -> tuple[dict, dict]:
    """``run(make(), ...)`` on the program with torch's imports, then ours from torch's initial weights."""
    return from_torch_weights(HERE / "dqn.py", lambda m: getattr(m, make)(),
                              lambda m, model, lib: getattr(m, run)(model, *args, **kwargs))


def agree(theirs: dict, ours: dict) -> None:
    assert ours.keys() == theirs.keys()
    for key in theirs:
        if key in EXACT:
            assert [np.asarray(v).tolist() for v in ours[key]] == [np.asarray(v).tolist() for v in theirs[key]] \
                if isinstance(theirs[key], list) else ours[key] == theirs[key], key
        elif key in ("params", "target", "optimizer"):
            assert_params_close(ours[key], theirs[key], **TOL)
        else:
            assert [np.shape(v) for v in ours[key]] == [np.shape(v) for v in theirs[key]], key
            flat = [np.concatenate([np.ravel(v) for v in r[key]]).astype(float) for r in (ours, theirs)]
            np.testing.assert_allclose(*flat, err_msg=key, **TOL)


def learned(out: dict) -> None:
    """Walking right pays 1 at the far end: the greedy policy goes right from every cell, returns grew."""
    assert np.asarray(out["greedy"][-1]).tolist() == [1] * 6
    assert np.mean(out["returns"][-10:]) > np.mean(out["returns"][:10]) + 0.1


def test_dqn_rmsprop_hard_update_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both("DQN", "run", STEPS, kind="rmsprop", target_update="hard")
    agree(theirs, ours)
    learned(ours)
    assert max(ours["grad"]) <= 1.0  # clamp_(-1, 1) held


def test_double_dqn_adam_soft_update_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both("DQN", "run", STEPS, kind="adam", target_update="soft", double=True)
    agree(theirs, ours)
    learned(ours)


def test_soft_update_through_state_dict_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both("DQN", "run", STEPS, kind="adamw", target_update="soft_dict")
    agree(theirs, ours)
    learned(ours)


@LEGACY
def test_2017_spelling_matches_torch(one_torch_thread: None) -> None:
    """Variable(volatile=True), .type(FloatTensor), ByteTensor masks, zeros(n).type(Tensor)."""
    theirs, ours = both("DQN", "run", STEPS, kind="rmsprop", legacy=True)
    agree(theirs, ours)
    learned(ours)


@LEGACY
@pytest.mark.parametrize("lib", ["torch", "ours"])
@pytest.mark.parametrize("config", [{"kind": "rmsprop", "legacy": True}, {"kind": "adam", "double": True,
                                                                           "target_update": "soft"}])
def test_checkpoint_resume_is_exact(one_torch_thread: None, lib: str, config: dict) -> None:
    """Stopped after 90 steps, saved (both state dicts, the optimizer, the step count), loaded into fresh objects
    and trained on: every number equals the uninterrupted run's."""
    with program(HERE / "dqn.py", lib) as m:
        runs = []
        for resume_at in (None, 90):
            m.torch.manual_seed(0)
            net = m.DQN()
            runs.append(m.run(net, 150, resume_at=resume_at, **config))
    whole, resumed = runs
    assert whole.keys() == resumed.keys()
    for key in whole:
        if key == "greedy":  # the resumed run also evaluated at the checkpoint
            assert np.array_equal(whole[key][-1], resumed[key][-1])
        elif isinstance(whole[key], dict):
            for name in whole[key]:
                assert np.array_equal(whole[key][name], resumed[key][name]), (key, name)
        else:
            assert all(np.array_equal(a, b) for a, b in zip(whole[key], resumed[key], strict=True)), key


def test_udacity_agent_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both("QNetwork", "dqn", 40)
    agree(theirs, ours)
    assert ours["loaded_equal"] and ours["greedy"] == [1] * 6
    assert ours["window"] > np.mean(ours["scores"][:5])
