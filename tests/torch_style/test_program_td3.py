"""``td3.py`` (sfujim/TD3's TD3, DDPG and OurDDPG with main.py's loop, and Spinning Up's TD3, on a numpy Pendulum) run
on torch and, imports swapped, on ours from torch's initial weights. ``torch.randn_like`` (target policy smoothing)
is patched in both libraries to draw from numpy's global generator, which the programs seed and also use for the
replay minibatches and the exploration noise, so both runs see the same draws. Compared per update: the critic and
actor losses, the Q1 estimates and the targets, every parameter of the online and target networks (sfujim's
``.data.copy_`` Polyak update and Spinning Up's ``mul_`` / ``add_``), the Q1 gradients' size after Spinning Up's
policy step (unfrozen by its one-shot ``itertools.chain``, frozen with the forks' list); then the explored actions,
the printed lines, the evaluations, both Adam states (``exp_avg`` / ``exp_avg_sq`` / ``step``), and a ``save`` /
``load`` round trip of the four ``state_dict`` files (the loaded policy's nets, optimizer states and actions equal
the saved one's exactly, in each library).

Tolerances: float32; the runs differ by rounding (one-ulp ``tanh`` differences among them), which Adam carries on.
Measured (16-unit networks; 40 updates for sfujim's TD3 / DDPG / OurDDPG, 60 for Spinning Up's): losses within 1.8e-7
relative (of up to ~160), Q values and targets within 9.6e-7 absolute, online and target parameters after every
update within 7.1e-8, Adam moments within 3.8e-6 absolute, explored actions within 2.4e-7, episode returns within
2.2e-6 (of ~170), Q1 gradient sums within 6.6e-5 (of ~760, 1e-7 relative). We allow rtol 1e-5 with atol 1e-5 for the
series and the Adam moments, atol 2e-6 for parameters; the printed lines (3 decimals) must be equal. File time about
6 s."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 1e-5}
PARAMS = {"rtol": 0.0, "atol": 2e-6}
MAIN = {"start_timesteps": 60, "eval_freq": 50, "max_timesteps": 100, "batch_size": 32, "eval_episodes": 1}
SPINUP = {"steps_per_epoch": 50, "epochs": 2, "replay_size": 1000, "start_steps": 50, "update_after": 40,
          "update_every": 20, "batch_size": 32, "num_test_episodes": 1, "max_ep_len": 20}


@pytest.fixture
def numpy_noise(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both libraries' ``randn_like`` draw from numpy's global generator (which the programs seed)."""
    import tinygrad_adam

    for lib in (torch, tinygrad_adam):
        monkeypatch.setattr(lib, "randn_like", lambda t, lib=lib, **_: lib.as_tensor(
            np.random.standard_normal(tuple(t.shape)), dtype=t.dtype))


def flat(module: object) -> np.ndarray:
    """Every parameter of ``module`` in one float64 vector."""
    return np.concatenate([p.detach().numpy().ravel() for p in module.parameters()]).astype(np.float64)


def adam_state(optimizer: object) -> list:
    """Adam's per-parameter ``step`` / ``exp_avg`` / ``exp_avg_sq`` as numpy, read by torch's names through
    ``optimizer.state[p]``, in parameter order (ours keeps its own names as the state_dict keys: see README)."""
    return [(float(s["step"]), s["exp_avg"].numpy().copy(), s["exp_avg_sq"].numpy().copy())
            for s in (optimizer.state[p] for group in optimizer.param_groups for p in group["params"])]


def nets(policy: object) -> tuple:
    return policy.actor, policy.critic, policy.actor_target, policy.critic_target


def run_sfujim(name: str, tmp_path: Path) -> tuple[dict, dict]:
    """sfujim's ``main`` with ``policy_name=name`` on both libraries; ours starts from torch's initial weights. The
    policy's ``train`` is wrapped to snapshot all four networks after each update; the run saves its models, and a
    fresh policy loads them."""
    results, weights = [], None
    for lib in ("torch", "ours"):
        with program(HERE / "td3.py", lib) as m:
            m.torch.manual_seed(0)
            kwargs = {"policy_noise": 0.2 * 2.0, "noise_clip": 0.5 * 2.0} if name == "TD3" else {}
            policy = getattr(m, name)(3, 1, 2.0, **kwargs)
            if weights is None:
                weights = [{k: v.detach().numpy().copy() for k, v in n.state_dict().items()} for n in nets(policy)]
            else:
                for n, w in zip(nets(policy), weights):
                    n.load_state_dict(w)
            snaps = []
            train = policy.train

            def snapshot(replay_buffer: object, batch_size: int, train: object = train, policy: object = policy,
                         snaps: list = snaps) -> None:
                train(replay_buffer, batch_size)
                snaps.append([flat(n) for n in nets(policy)])

            policy.train = snapshot
            file_name = str(tmp_path / f"{name}_{lib}")
            env_fn = lambda m=m: m.PendulumEnv(max_episode_steps=20)  # noqa: E731
            m.main(policy_name=name, policy=policy, env_fn=env_fn, save_model=True, file_name=file_name, **MAIN)
            log = dict(policy.log, snaps=snaps, adam=[adam_state(policy.actor_optimizer),
                                                      adam_state(policy.critic_optimizer)])
            loaded = getattr(m, name)(3, 1, 2.0, **kwargs)
            loaded.load(file_name)
            for mine, theirs in zip(nets(loaded), nets(policy)[:2] * 2):
                assert np.array_equal(flat(mine), flat(theirs))
            for opt, ref in ((loaded.actor_optimizer, policy.actor_optimizer),
                             (loaded.critic_optimizer, policy.critic_optimizer)):
                for (s1, a1, b1), (s2, a2, b2) in zip(adam_state(opt), adam_state(ref), strict=True):
                    assert s1 == s2 and np.array_equal(a1, a2) and np.array_equal(b1, b2)
                assert opt.state_dict()["param_groups"] == ref.state_dict()["param_groups"]
            state = np.array([0.5, -0.3, 1.2], np.float32)
            assert np.array_equal(loaded.select_action(state), policy.select_action(state))
            log["select"] = policy.select_action(state)
            assert (tmp_path / f"{name}_{lib}_results.npy").exists()
            results.append(log)
    return results[0], results[1]


@pytest.mark.parametrize("name", ["TD3", "DDPG", "OurDDPG"])
def test_sfujim_matches_torch(one_torch_thread: None, numpy_noise: None, tmp_path: Path, name: str) -> None:
    theirs, ours = run_sfujim(name, tmp_path)
    assert ours["lines"] == theirs["lines"] and len(theirs["lines"]) == 8
    assert len(theirs["critic_loss"]) == 40
    assert len(theirs["actor_loss"]) == (20 if name == "TD3" else 40)
    for key in ("critic_loss", "actor_loss", "current_Q1", "target_Q", "actions", "ep_reward", "evaluations",
                "select"):
        assert [np.shape(v) for v in ours[key]] == [np.shape(v) for v in theirs[key]], key
        np.testing.assert_allclose(np.concatenate([np.ravel(v) for v in ours[key]]),
                                   np.concatenate([np.ravel(v) for v in theirs[key]]), err_msg=key, **TOL)
    for step, (mine, ref) in enumerate(zip(ours["snaps"], theirs["snaps"], strict=True)):
        for which, a, b in zip(("actor", "critic", "actor_target", "critic_target"), mine, ref):
            np.testing.assert_allclose(a, b, err_msg=f"{which} after update {step}", **PARAMS)
    for mine, ref in zip(ours["adam"], theirs["adam"], strict=True):
        for (s1, a1, b1), (s2, a2, b2) in zip(mine, ref, strict=True):
            assert s1 == s2
            np.testing.assert_allclose(a1, a2, **TOL)
            np.testing.assert_allclose(b1, b2, **TOL)


def spinup(**options: object) -> tuple[dict, dict]:
    def make(m: object) -> object:
        env = m.PendulumEnv()
        return m.MLPActorCritic(env.observation_space, env.action_space, hidden_sizes=(16, 16))

    return from_torch_weights(HERE / "td3.py", make, lambda m, model, lib: m.td3(
        lambda: m.PendulumEnv(max_episode_steps=20), actor_critic=lambda *_: model, **SPINUP, **options))


@pytest.mark.parametrize("q_params_list", [False, True], ids=["spinup_chain", "frozen_list"])
def test_spinup_td3_matches_torch(one_torch_thread: None, numpy_noise: None, q_params_list: bool) -> None:
    theirs, ours = spinup(q_params_list=q_params_list)
    assert ours.keys() == theirs.keys()
    assert ours["var_counts"] == theirs["var_counts"] == (353, 369, 369)
    assert len(theirs["loss_q"]) == 60 and len(theirs["loss_pi"]) == 30
    for key in ("loss_q", "loss_pi", "q1", "q_grad", "targ", "ep_ret", "test_ret", "actions"):
        assert [np.shape(v) for v in ours[key]] == [np.shape(v) for v in theirs[key]], key
        np.testing.assert_allclose(np.concatenate([np.ravel(v) for v in ours[key]]),
                                   np.concatenate([np.ravel(v) for v in theirs[key]]), err_msg=key, **TOL)
    for key in ("params", "targ_params"):
        assert_params_close(ours[key], theirs[key], **PARAMS)
