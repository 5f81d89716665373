"""``ppo.py`` (CleanRL's PPO with a discrete and a continuous agent, and nikhilbarhate99/PPO-PyTorch's PPO with its
save / load) run on torch and, imports swapped, on ours: from torch's initial weights, with the actions torch
sampled handed to ours and numpy's global generator seeded alike (environment and minibatch shuffles), both walk
the same trajectories, so the episodes' returns and clip fractions are equal, and the log-probs, values, GAE
advantages and returns, learning rates, losses, approx_kl, gradient norms, explained variances and final
parameters agree; ours also samples its own actions of torch's shapes and dtypes.

Tolerances: float32 throughout; the runs differ only by rounding in the networks, which Adam carries on. Measured
(CleanRL: 5 updates of 64 steps, 112-120 minibatch steps at lr 2e-2; PPO-PyTorch: 5 updates of 4 epochs):
parameters within 9.4e-7 absolute, log-probs within 4.6e-6, values, advantages and returns within 2e-6, losses
within 3.9e-6 (v_loss up to about 8) and PPO-PyTorch's per-sample losses within 2.3e-6, approx_kl and
old_approx_kl within 8.4e-7, gradient norms within 1.3e-6, explained variances within 1.2e-7. We allow rtol
1e-4 with atol 1e-5 (parameters 3e-6). The clip fractions and returns must be equal exactly: a clip fraction
could differ only where a ratio lies within rounding of 1 +- clip_coef, which these seeds never meet. The printed
lines are compared as numbers (a 4-decimal rounding can fall either side of a boundary) and the episodes' lines
as text."""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-4, "atol": 1e-5}
PARAMS = {"rtol": 1e-4, "atol": 3e-6}
EXACT = ("actions", "clipfrac", "episodic_return", "ep_rewards", "action_std")


def both(make: str, continuous: bool, **config: object) -> tuple[dict, dict]:
    """CleanRL's ``run`` (``make="make_agent"``, ``config`` its Args) or PPO-PyTorch's ``train_barhate`` on torch,
    then on ours from torch's initial weights and with the actions torch sampled."""
    taken: dict = {}

    def train(m: object, model: object, lib: str) -> dict:
        if make == "make_agent":
            lines: list = []
            out = m.run(model, m.Args(continuous=continuous, **config), taken.get("actions"), log=lines.append)
            out["lines"] = lines
        else:
            out = m.train_barhate(model, continuous, actions_to_take=taken.get("actions"), **config)
        taken["actions"] = out["actions"]
        return out

    return from_torch_weights(HERE / "ppo.py", lambda m: getattr(m, make)(continuous), train)


def agree(theirs: dict, ours: dict) -> None:
    assert ours.keys() == theirs.keys()
    for key in theirs:
        if key in EXACT:
            assert np.array_equal(np.asarray(ours[key]), np.asarray(theirs[key])), key
        elif key in ("params", "loaded"):
            assert_params_close(ours[key], theirs[key], **PARAMS)
        elif key == "lines":
            for got, want in zip(ours[key], theirs[key], strict=True):
                assert re.sub(r"-?\d+\.\d+", "#", got) == re.sub(r"-?\d+\.\d+", "#", want), (got, want)
                if got.startswith("global_step"):
                    assert got == want
                np.testing.assert_allclose(*(np.array(re.findall(r"-?\d+\.\d+", line), float)
                                             for line in (got, want)), atol=1.5e-4)
        else:
            flat = [np.concatenate([np.ravel(np.asarray(v, float)) for v in r[key]]) for r in (ours, theirs)]
            np.testing.assert_allclose(*flat, err_msg=key, **TOL)


@pytest.mark.parametrize("config", [
    {"learning_rate": 2e-2, "update_epochs": 6},
    {"continuous": True, "learning_rate": 2e-2, "update_epochs": 6, "target_kl": 0.02},
], ids=["discrete", "continuous-target-kl"])
def test_cleanrl_ppo_matches_torch(one_torch_thread: None, config: dict) -> None:
    config = dict(config)
    theirs, ours = both("make_agent", config.pop("continuous", False), **config)
    agree(theirs, ours)
    assert max(ours["clipfrac"]) > 0.05  # the clipped objective was active
    if config.get("target_kl"):  # some updates stopped early on approx_kl
        assert len(ours["grad_norm"]) < 5 * 6 * 4


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
def test_ppo_pytorch_matches_torch(one_torch_thread: None, tmp_path: object, continuous: bool) -> None:
    theirs, ours = both("make_actor_critic", continuous, checkpoint_path=str(tmp_path / "ppo.pth"))
    agree(theirs, ours)
    for name, value in ours["params"].items():  # policy_old saved and loaded back into a fresh agent
        assert np.array_equal(ours["loaded"][name], value)
    if continuous:
        assert ours["action_std"] == [0.55, 0.5]


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
def test_ours_samples_actions_as_torch(continuous: bool) -> None:
    """Without handed actions, ours samples its own: torch's shapes, dtypes and range."""
    with program(HERE / "ppo.py", "ours") as m:
        args = m.Args(continuous=continuous, total_timesteps=64)
        out = m.run(m.make_agent(continuous), args, log=lambda line: None)
    actions = np.asarray(out["actions"][0])
    if continuous:
        assert actions.shape == (16, 4, 1) and actions.dtype == np.float32 and actions.std() > 0.5
    else:
        assert actions.shape == (16, 4) and actions.dtype == np.int64 and set(actions.ravel()) == {0, 1, 2}
