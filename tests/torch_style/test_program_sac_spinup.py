"""``sac_spinup.py`` (OpenAI Spinning Up's PyTorch SAC on a numpy point-reaching task) run on torch and, imports
swapped, on ours from torch's initial weights: ``Normal.rsample``'s noise is drawn from numpy's global generator in
both (each library's standard-normal draw is patched; the ``loc + eps * scale`` and everything around it are the
libraries' own), and the replay minibatches come from ``np.random.randint`` as the buffer draws them, so both runs
see the same states and actions but for rounding. Compared per update: the Q and policy losses, the Q1 values, the
log-probs with the tanh correction, the target networks' parameters after the Polyak update, and the size of the Q1
gradients after the policy step (the original's one-shot ``itertools.chain`` leaves the Q networks unfrozen, so the
policy loss reaches them; with the forks' list they keep the Q step's gradients); then the training and test
episodes' returns, the variable counts and the final parameters of both networks.

Tolerances: float32; the runs differ by rounding in the networks, which Adam carries on. Measured over 300 steps
(250 updates, 16-unit networks): losses within 2.4e-7 (of ~1), Q1 values within 4.8e-7, log-probs within 1.9e-6 (of
~4), target parameters within 2.1e-7, Q1 gradient sums within 7.3e-6 (of ~17), episode returns within 2.8e-6 (of
~22), final parameters within 1.8e-7. We allow rtol 1e-5 with atol 1e-5 for the series, atol 2e-6 for parameters.
The number of episodes and the variable counts must be equal."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 1e-5}
PARAMS = {"rtol": 0.0, "atol": 2e-6}
CONFIG = {"steps_per_epoch": 100, "epochs": 3, "replay_size": 1000, "start_steps": 100, "update_after": 50,
          "update_every": 25, "batch_size": 32, "num_test_episodes": 2, "max_ep_len": 20}


@pytest.fixture
def numpy_noise(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both libraries' ``Normal.rsample`` draw eps from numpy's global generator (which ``sac`` seeds)."""
    import torch.distributions.normal as theirs

    import tinygrad_adam
    import tinygrad_adam.distributions.normal as ours

    def numpy_draw(lib: object) -> object:
        return lambda shape, dtype, device: lib.as_tensor(np.random.standard_normal(tuple(shape)), dtype=dtype)
    monkeypatch.setattr(theirs, "_standard_normal", numpy_draw(torch))
    monkeypatch.setattr(ours, "randn", numpy_draw(tinygrad_adam))


def both(**options: object) -> tuple[dict, dict]:
    def make(m: object) -> object:
        env = m.PointEnv()
        return m.MLPActorCritic(env.observation_space, env.action_space, hidden_sizes=(16, 16))

    return from_torch_weights(HERE / "sac_spinup.py", make, lambda m, model, lib: m.sac(
        m.PointEnv, actor_critic=lambda *_: model, **CONFIG, **options))


@pytest.mark.parametrize("q_params_list", [False, True], ids=["spinup_chain", "frozen_list"])
def test_sac_matches_torch(one_torch_thread: None, numpy_noise: None, q_params_list: bool) -> None:
    theirs, ours = both(q_params_list=q_params_list)
    assert ours.keys() == theirs.keys()
    assert ours["var_counts"] == theirs["var_counts"] == (420, 401, 401)
    for key in ("loss_q", "loss_pi", "q1", "logp", "targ", "q_grad", "ep_ret", "test_ret"):
        assert [np.shape(v) for v in ours[key]] == [np.shape(v) for v in theirs[key]], key
        np.testing.assert_allclose(np.concatenate([np.ravel(v) for v in ours[key]]),
                                   np.concatenate([np.ravel(v) for v in theirs[key]]), err_msg=key, **TOL)
    assert len(ours["loss_q"]) == 250 and len(ours["ep_ret"]) > 10
    for key in ("params", "targ_params"):
        assert_params_close(ours[key], theirs[key], **PARAMS)
