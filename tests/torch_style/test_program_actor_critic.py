"""``actor_critic.py`` (REINFORCE, the one-step actor-critic of PyTorch's examples, and A2C with GAE over a batch
of numpy CartPoles) run on torch and, imports swapped, on ours: from torch's initial weights and the same uniforms,
both take the same actions, so every episode's reward is equal and its losses, log-probabilities, entropies,
gradient norms and the final parameters agree; and each variant learned something.

Tolerances: float32 throughout. The runs see the same states (numpy) and actions, so they differ only by rounding
in the network, which Adam carries on: a step moves a weight by about lr whatever the gradient's rounding, and the
policy's changes feed the next episode's returns. Measured after 25-40 updates: parameters within 3e-6, log-probs,
entropies and gradient norms within 1.2e-5 relative, REINFORCE's loss within 3e-5 absolute (it is a cancelling sum:
the normalised returns sum to zero, so terms of ~1 give values of ~0.1). We allow rtol 1e-4 and atol 2e-5. The
actions, and so the rewards and episode counts, must be equal exactly: an action could differ only where a uniform
lies within rounding of a CDF boundary, which these seeds never meet. ``m.sample()`` draws from each library's
own generator, so only its shape, dtype and range are compared."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-4, "atol": 2e-5}
EXACT = ("ep_reward", "running_reward", "episodes")


def both(run: str, net: str, *args: int, **kwargs: float) -> tuple[dict, dict]:
    """``run(net(), ...)`` on the program with torch's imports, then ours from torch's initial weights."""
    return from_torch_weights(HERE / "actor_critic.py", lambda m: getattr(m, net)(),
                              lambda m, model, lib: getattr(m, run)(model, *args, **kwargs))


def agree(theirs: dict, ours: dict) -> None:
    assert ours.keys() == theirs.keys()
    for key in theirs:
        if key == "sample":  # the generators differ: shape, dtype and range only
            assert [s[:2] for s in ours[key]] == [s[:2] for s in theirs[key]] == [((3, 1), True)] * len(ours[key])
            assert all(0 <= s[2] <= s[3] <= 1 for s in ours[key])
        elif key in EXACT:
            assert ours[key] == theirs[key], key
        elif key == "params":
            assert_params_close(ours[key], theirs[key], **TOL)
        else:
            assert [np.shape(v) for v in ours[key]] == [np.shape(v) for v in theirs[key]], key
            flat = [np.concatenate([np.ravel(v) for v in r[key]]).astype(float) for r in (ours, theirs)]
            np.testing.assert_allclose(*flat, err_msg=key, **TOL)


def test_reinforce_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both("reinforce", "PolicyNet", 30, lr=5e-2)
    agree(theirs, ours)
    rewards = ours["ep_reward"]
    assert np.mean(rewards[20:]) > 1.5 * np.mean(rewards[:10])  # it learned to balance longer


def test_actor_critic_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both("actor_critic", "Policy", 25)
    agree(theirs, ours)
    rewards, entropy = ours["ep_reward"], ours["entropy"]
    assert np.mean(rewards[-5:]) > 2 * np.mean(rewards[:5])
    assert all(0 < e <= np.log(2) + 1e-6 for episode in entropy for e in episode)


def test_a2c_with_gae_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both("a2c", "ActorCritic", 40, gamma=0.9)
    agree(theirs, ours)
    value_loss, episodes = ours["value_loss"], np.diff([0, *ours["episodes"]])
    assert np.mean(value_loss[-10:]) < 0.6 * np.mean(value_loss[:10])  # the critic learned the returns
    assert episodes[-10:].sum() < episodes[:10].sum()  # fewer, so longer, episodes
    assert all(a.shape == (8, 4) for a in ours["advantages"])
