"""``decision_transformer.py`` (kzl/decision-transformer's gym code over its own small GPT-2 and its atari minGPT
code, and nikhilbarhate99/min-decision-transformer) run on torch and, imports swapped, on ours: from torch's initial
weights and the same numpy trajectories and batches, the masked action losses, the gradient norms clipped to 0.25
(1.0 for atari), every gradient, the warmup / token-counted learning rates and every parameter after each AdamW step
agree, the printed logs agree, and the evaluation rollouts (kzl's ``get_action`` on the last K steps, left-padded by
``torch.cat`` with float64 states promoted and cast back, the target return decremented each step, in ``'normal'``,
``'delayed'`` and ``'noise'`` modes and with dropout 0.1 switched off by ``eval``; min-DT's preallocated buffers and
its reloaded best checkpoint; atari's sampled actions, ``torch.multinomial`` being the inverse CDF of shared numpy
uniforms) take the same actions step by step.

Tolerances: float32; the runs differ by summation order in the matmuls, convolutions, the attention and LayerNorm.
Measured over 6 AdamW steps (4 for atari) at lr up to 1e-3: losses within 2.0e-7 relative, gradient norms within
1.2e-7 relative, gradients within 1.3e-7 absolute, parameters within 8.7e-8 absolute (kzl, atari), rollout actions
within 1.5e-7, atari's sampling probabilities within 3e-8. We allow rtol 1e-6 on losses and norms, atol 5e-7 on
gradients, 2e-7 on parameters and 1e-6 on actions and probabilities; learning rates are equal, sampled actions and
returns equal. Two exceptions, both AdamW normalising rounding noise (in torch alone too): min-DT's separate
``k_net.bias`` has a gradient that is zero but for rounding (below 1e-8 in both libraries, checked; softmax ignores a
shift shared by a row's scores), so its steps are noise of lr size (measured 2.7e-5 apart, allowed 1e-4); and one
min-DT weight whose gradient is 9e-8 (next to eps 1e-8) differs by 2.2e-6 after the first step from gradients
2.7e-9 apart, so min-DT's parameters are compared within 5e-6. The printed values (floats to all digits in kzl's
logs) within rtol 1e-5, min-DT's five-decimal lines within 2e-5. The file takes about 5 s (torch on one thread) on a
shared 2-core machine, most of it the first optimizer steps' one-off costs."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "decision_transformer.py"
RTOL, ATOL, GRADS, ACTIONS = 1e-6, 2e-7, 5e-7, 1e-6


def make_kzl(m: types.ModuleType) -> Any:
    """kzl's DecisionTransformer: K = 4 steps, hidden 8, two layers of two heads, 12 positions (3 K tokens)."""
    return m.DecisionTransformer(4, 2, 8, max_length=4, max_ep_len=20, n_layer=2, n_head=2, n_positions=12)


def make_min(m: types.ModuleType) -> Any:
    """min-DT's DecisionTransformer: two blocks of two heads, h_dim 8, context 4, no dropout."""
    return m.MinDecisionTransformer(4, 2, 2, 8, 4, 2, 0.0, max_timestep=20)


def agree(theirs: dict, ours: dict, actions: list[str], atol: float = ATOL) -> None:
    """Step-by-step losses, gradient norms, gradients, parameters after each step, and the rollouts' actions.
    Key biases (``k_net.bias``) have a gradient that is zero but for rounding (softmax ignores a shift shared by a
    row's scores): it is checked to be below 1e-8 in both libraries, and the parameter, moved by AdamW's
    normalised rounding noise, only within 1e-4."""
    assert ours["lr"] == theirs["lr"]
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=RTOL, err_msg="loss")
    np.testing.assert_allclose(ours["norm"], theirs["norm"], rtol=RTOL, err_msg="norm")
    assert len(ours["grads"]) == len(theirs["grads"]) == len(ours["params"]) == len(theirs["params"])
    for step in range(len(ours["params"])):
        for key in ("grads", "params"):
            got, want = ours[key][step], theirs[key][step]
            assert got.keys() == want.keys()
            for name in want:
                tol = atol if key == "params" else GRADS
                if name.endswith("k_net.bias"):
                    tol = 1e-4 if key == "params" else 1e-8
                    assert key == "params" or np.abs(want[name]).max() < 1e-8
                np.testing.assert_allclose(got[name], want[name], rtol=0, atol=tol, err_msg=f"{name}, step {step}")
    for key in actions:
        got, want = np.stack(ours[key]), np.stack(theirs[key])
        assert got.shape == want.shape and got.dtype == want.dtype == np.float32, key
        np.testing.assert_allclose(got, want, rtol=0, atol=ACTIONS, err_msg=key)


def test_kzl_decision_transformer_trains_and_rolls_out_like_torch(one_torch_thread: None,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        logs, history = m.experiment(model, m.make_trajectories(), max_iters=2, num_steps_per_iter=3,
                                     warmup_steps=4, learning_rate=1e-3, max_ep_len=8)
        history["logs"] = [{k: v for k, v in log.items() if not k.startswith("time/")} for log in logs]
        return history

    theirs, ours = from_torch_weights(PATH, make_kzl, run)
    assert ours["lr"] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3], rel=1e-12)
    agree(theirs, ours, ["actions_3600", "actions_1800"])
    assert len(ours["actions_3600"]) == 16  # two evaluations of max_ep_len 8 steps (timesteps clipped to 7 in batches)
    for got, want in zip(ours["logs"], theirs["logs"], strict=True):
        assert got.keys() == want.keys()
        np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=1e-5)
    out = capsys.readouterr().out
    assert out.count("6 trajectories, 56 timesteps found") == 2 and out.count("Iteration 2") == 2


def test_min_decision_transformer_trains_and_rolls_out_like_torch(one_torch_thread: None) -> None:
    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        lines, history = m.train_min(model, m.make_trajectories(), context_len=4, batch_size=3)
        history["lines"] = lines
        return history

    theirs, ours = from_torch_weights(PATH, make_min, run)
    agree(theirs, ours, ["actions"], atol=5e-6)
    assert len(ours["actions"]) == 19  # episodes of 9 and 10 steps (the point leaves the box), past the context
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):
        g, w = got.splitlines(), want.splitlines()
        assert [x.split(":")[0] for x in g] == [x.split(":")[0] for x in w] and g[1] == w[1]
        np.testing.assert_allclose([float(x.split(":")[1]) for x in g[2:]], [float(x.split(":")[1]) for x in w[2:]],
                                   rtol=0, atol=2e-5)


def test_one_batch_forward_backward(one_torch_thread: None) -> None:
    """One get_batch through kzl's model: the left-padded float64 mask, the three predictions (return, state and
    Tanh'd action), the attention weights with the padded keys at -10000 and the causal ones at -1e4, and the
    gradients of a loss on all three heads."""
    def step(m: types.ModuleType, model: Any, lib: str) -> dict:
        trajectories = m.make_trajectories()
        get_batch, _, _ = m.make_get_batch(trajectories, 4, 2, 4, 20, 10.0, np.random.RandomState(3))
        s, a, r, d, rtg, t, mask = get_batch(5)
        assert mask.dtype == m.torch.float64 and t.dtype == d.dtype == m.torch.int64 and rtg.shape == (5, 5, 1)
        state_preds, action_preds, return_preds = model(s, a, r, rtg[:, :-1], t, attention_mask=mask)
        loss = (action_preds ** 2).mean() + (state_preds ** 2).mean() + return_preds.abs().mean()
        loss.backward()
        out = model.transformer(inputs_embeds=m.torch.ones((2, 6, 8)), attention_mask=m.torch.tensor(
            [[1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1]]), output_attentions=True)
        return {"mask": mask.numpy(), "preds": [x.detach().numpy() for x in (state_preds, action_preds, return_preds)],
                "attn": out["attentions"][0].detach().numpy(),
                "grads": {n: p.grad.numpy().copy() for n, p in model.named_parameters()}}

    theirs, ours = from_torch_weights(PATH, make_kzl, step)
    np.testing.assert_array_equal(ours["mask"], theirs["mask"])
    assert (ours["mask"] == 0).any()  # some windows are left-padded
    for got, want in zip(ours["preds"], theirs["preds"], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours["attn"], theirs["attn"], rtol=1e-5, atol=1e-7)
    assert_params_close(ours["grads"], theirs["grads"], rtol=1e-5, atol=1e-7)


def test_get_action_pads_and_casts(one_torch_thread: None) -> None:
    """get_action on a history shorter than K (zeros and a zero mask on the left) and longer (the last K): float64
    states and returns cast to float32, float timesteps to long; and ``discount_cumsum``."""
    rng = np.random.default_rng(4)
    states, actions = rng.standard_normal((7, 4)), rng.standard_normal((7, 2)).astype(np.float32)
    rtg = rng.standard_normal((1, 7))
    results = []
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            torch.manual_seed(0)
            model = make_kzl(m)
            if results:
                model.load_state_dict(results[0]["weights"])
            model.eval()
            got = {"weights": {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}}
            with m.torch.no_grad():
                for n in (1, 3, 7):
                    action = model.get_action(m.torch.from_numpy(states[:n]), m.torch.from_numpy(actions[:n]), None,
                                              m.torch.from_numpy(rtg[:, :n]),
                                              m.torch.arange(n, dtype=m.torch.float64).reshape(1, n))
                    assert action.dtype == m.torch.float32 and tuple(action.shape) == (2,)
                    got[n] = action.numpy()
            got["cumsum"] = m.discount_cumsum(np.array([1.0, 2.0, 3.0]), 0.5)
            results.append(got)
    theirs, ours = results
    for n in (1, 3, 7):
        np.testing.assert_allclose(ours[n], theirs[n], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours["cumsum"], [2.75, 3.5, 3.0])


@pytest.mark.parametrize("mode", ["normal", "delayed", "noise"])
def test_rollouts_in_eval_mode_with_dropout(one_torch_thread: None, mode: str) -> None:
    """kzl's model built with dropout 0.1 (as experiment.py's default) rolls out in eval mode under no_grad: the
    dropout is off, so the actions agree; ``'delayed'`` keeps the target return, ``'noise'`` perturbs the first
    state from ``np.random``."""
    def rollout(m: types.ModuleType, model: Any, lib: str) -> dict:
        np.random.seed(5)
        _, mean, std = m.make_get_batch(m.make_trajectories(), 4, 2, 4, 20, 10.0, np.random.RandomState(0))
        taken: list = []
        with m.torch.no_grad():
            ret, length = m.evaluate_episode_rtg(m.PointEnv(4, 2, seed=9), 4, 2, model, max_ep_len=12, scale=10.0,
                                                 state_mean=mean, state_std=std, device="cpu", target_return=2.0,
                                                 mode=mode, actions_taken=taken)
        assert not model.training
        return {"ret": ret, "length": length, "actions": taken}

    def make(m: types.ModuleType) -> Any:
        return m.DecisionTransformer(4, 2, 8, max_length=4, max_ep_len=20, n_layer=2, n_head=2, n_positions=12,
                                     resid_pdrop=0.1, attn_pdrop=0.1)

    theirs, ours = from_torch_weights(PATH, make, rollout)
    assert ours["length"] == theirs["length"] >= 5
    np.testing.assert_allclose(np.stack(ours["actions"]), np.stack(theirs["actions"]), rtol=0, atol=ACTIONS)
    assert ours["ret"] == pytest.approx(theirs["ret"], rel=0, abs=1e-6)


def test_min_checkpoint_reloaded_for_test(one_torch_thread: None, tmp_path: Path) -> None:
    """min-DT's train.py saves the best model's state_dict; test.py loads it into a fresh model built with dropout
    0.1 (``torch.load(map_location=...)``) and evaluates two episodes in eval mode: the actions agree, and each
    library's reloaded model reproduces its own trained weights."""
    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        path = str(tmp_path / f"{lib}.pt")
        m.train_min(model, m.make_trajectories(), save_model_path=path)
        results, taken = m.test(path, m.make_trajectories())
        return {"results": results, "actions": taken,
                "saved": {k: v.numpy() for k, v in m.torch.load(path).items()}}

    theirs, ours = from_torch_weights(PATH, make_min, run)
    assert ours["results"].keys() == theirs["results"].keys()
    np.testing.assert_allclose(list(ours["results"].values()), list(theirs["results"].values()), rtol=1e-5)
    np.testing.assert_allclose(np.stack(ours["actions"]), np.stack(theirs["actions"]), rtol=0, atol=ACTIONS)
    assert ours["saved"].keys() == theirs["saved"].keys()
    assert ours["saved"]["transformer.0.attention.mask"].dtype == np.float32


def same_draws(lib: types.ModuleType, probs: list, rng: np.random.Generator) -> Any:
    """A ``torch.multinomial(probs, num_samples=1)`` stand-in for ``lib``: the inverse CDF of numpy uniforms from
    ``rng`` (the same in both libraries); each call's probabilities are kept in ``probs``."""
    def multinomial(p: Any, num_samples: int) -> Any:
        probs.append(p.numpy().copy())
        below = np.cumsum(probs[-1], axis=-1) < rng.random((len(probs[-1]), 1))
        return lib.from_numpy(np.minimum(below.sum(-1, keepdims=True), p.shape[-1] - 1))
    return multinomial


@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true", "ignore:'pin_memory' is True")
def test_atari_mingpt_trains_and_samples_like_torch(one_torch_thread: None, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """kzl's atari code: the dataset's windows cut at the dones, the conv state encoder, the strided token
    assignment, the global position embeddings by ``repeat_interleave`` + ``gather``, configure_optimizers' sets,
    the token-counted warmup + cosine lr, and get_returns' sampled rollouts (``torch.tensor(actions, dtype=long)``
    over the list of sampled (1, 1) tensors); ``torch.multinomial`` is the inverse CDF of shared numpy uniforms."""
    def make(m: types.ModuleType) -> Any:
        return m.GPT(m.atari_setup()[1])

    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        probs: list = []
        with monkeypatch.context() as patch:
            patch.setattr(m.torch, "multinomial", same_draws(m.torch, probs, np.random.default_rng(3)))
            history = m.run_dt_atari(model, m.atari_setup()[0])
        history["probs"] = probs
        return history

    theirs, ours = from_torch_weights(PATH, make, run)
    np.testing.assert_allclose(ours["lr"], theirs["lr"], rtol=1e-12)
    agree(theirs, ours, [])
    assert ours["actions"] == theirs["actions"] and len(ours["actions"]) == 12  # 2 evaluations of 6 steps
    np.testing.assert_allclose(np.concatenate(ours["probs"]), np.concatenate(theirs["probs"]), rtol=0, atol=1e-6)
    assert ours["eval_return"] == theirs["eval_return"]
    out = capsys.readouterr().out
    assert out.count("epoch 2 iter 1: train loss") == 2 and out.count("iter 2:") == 0
