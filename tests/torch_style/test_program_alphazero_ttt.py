"""``alphazero_ttt.py`` (AlphaZero on tic-tac-toe) run on torch and, imports swapped, on ours, from torch's initial
weights and one numpy generator seeded alike: two iterations of two self-play games each (PUCT search over the
residual policy / value net evaluated under ``torch.no_grad()`` in eval mode, illegal moves ``masked_fill``ed with
``-inf`` before the softmax, Dirichlet root noise and the moves drawn from numpy), the eight ``rot90`` / ``flip``
symmetries of each position, a train-mode epoch of SGD (momentum, weight decay) on MSE(value) + ``cross_entropy``
with probability targets (and the hand-written ``-(pi * log_softmax).sum(1).mean()`` beside it), and the greedy
arena against numpy's random player. Compared: every game's move list and outcome, the losses, the arena scores and
the final state_dict (BatchNorm running statistics and ``num_batches_tracked`` included); and, on a fresh net,
the masked priors and value of a mid-game position and the symmetries of one example; and alpha-zero-general's
coach loop (``copy.deepcopy`` of the previous net, the pit, rejection by ``load_state_dict``, ``torch.save`` /
``torch.load`` of the best checkpoint); and alpha-zero-general's own net / wrapper spelling (tolerances in its
test's docstring).

The games are compared exactly: they stay equal only while the search's scores, which the net's priors and values
feed, order the moves alike in both libraries (a flip would show as a different move list).

Tolerances: float32; the runs differ by summation order in the convolutions, BatchNorm and the losses. Measured:
losses within 2.4e-7 (of 1 to 3.4), value losses within 6e-8, the soft cross-entropy within 2.4e-7 of torch's and
within 2.4e-7 of the hand-written form in torch (equal to it in ours), the final parameters and running statistics
within 2.1e-7, the priors within 1.5e-8 and the value equal; the coach's losses within 4.8e-7 and parameters within
2e-7. We allow rtol 1e-6 / atol 1e-6; boards, symmetric policies, games, pit scores and decisions are compared
exactly. The file takes about 7 s (torch on one thread; most of it the search's many one-position evaluations)."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "alphazero_ttt.py"
TOL = {"rtol": 1e-6, "atol": 1e-6}


def make(m: types.ModuleType) -> Any:
    return m.PolicyValueNet()


def test_alphazero_self_play_and_training_like_torch(one_torch_thread: None) -> None:
    def run(m: types.ModuleType, net: Any, lib: str) -> dict:
        out = m.learn(net)
        out["state"] = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
        assert net.training is False  # the arena's predict left it in eval mode
        return out

    theirs, ours = from_torch_weights(PATH, make, run)
    assert ours["records"] == theirs["records"]
    assert ours["arena"] == theirs["arena"]
    assert len(theirs["loss"]) >= 6 and theirs["loss"][-1] < theirs["loss"][0]
    for key in ("loss", "value", "policy", "manual"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    for out in (ours, theirs):
        np.testing.assert_allclose(out["policy"], out["manual"], **TOL)
    assert ours["state"]["stem.1.num_batches_tracked"] == theirs["state"]["stem.1.num_batches_tracked"] > 0
    assert_params_close(ours["state"], theirs["state"], **TOL)


def test_masked_priors_and_symmetries_like_torch(one_torch_thread: None) -> None:
    def run(m: types.ModuleType, net: Any, lib: str) -> dict:
        game = m.TicTacToe()
        for move in (4, 0, 8):
            game.play(move)
        priors, value = m.predict(net, game)
        assert not net.training
        pi = np.arange(9, dtype=np.float64) / 36
        pairs = m.symmetries(m.encode(game), pi)
        return {"priors": priors, "value": value, "boards": np.stack([b.numpy() for b, _ in pairs]),
                "pis": np.stack([p.numpy() for _, p in pairs])}

    theirs, ours = from_torch_weights(PATH, make, run)
    assert [p == 0 for p in ours["priors"]] == [p == 0 for p in theirs["priors"]] == [
        m in (0, 4, 8) for m in range(9)]
    np.testing.assert_allclose(ours["priors"], theirs["priors"], **TOL)
    assert ours["value"] == pytest.approx(theirs["value"], rel=1e-6, abs=1e-6)
    assert ours["boards"].dtype == ours["pis"].dtype == np.float32
    np.testing.assert_array_equal(ours["boards"], theirs["boards"])
    np.testing.assert_array_equal(ours["pis"], theirs["pis"])
    assert len({p.tobytes() for p in ours["pis"]}) == 8


def test_coach_accepts_rejects_and_reloads_like_torch(one_torch_thread: None, tmp_path: Path) -> None:
    """alpha-zero-general's loop (seed 3: the first iteration's net rejected, the second's accepted, the third's
    rejected): the pit scores and decisions equal; a rejection restores the deep-copied previous weights in place
    (the SGD made before still holds the same Parameters and keeps stepping them); the best checkpoint (iteration 2)
    is loaded back at the end."""

    def run(m: types.ModuleType, net: Any, lib: str) -> dict:
        folder = tmp_path / lib
        folder.mkdir()
        params = list(net.parameters())
        log = m.coach(net, str(folder), seed=3)
        assert all(a is b for a, b in zip(params, net.parameters(), strict=True))
        log["state"] = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
        saved = m.torch.load(folder / "best.pth.tar")
        for k, v in saved["state_dict"].items():
            np.testing.assert_array_equal(v.numpy(), log["state"][k], err_msg=k)
        return log

    theirs, ours = from_torch_weights(PATH, make, run)
    assert ours["pit"] == theirs["pit"]
    assert ours["accepted"] == theirs["accepted"] == [False, True, False]
    assert ours["best_iteration"] == theirs["best_iteration"] == 2
    np.testing.assert_allclose(ours["loss"], theirs["loss"], **TOL)
    assert_params_close(ours["state"], theirs["state"], **TOL)


PRE_BN_BIASES = ("conv1.bias", "conv2.bias", "conv3.bias", "conv4.bias", "fc1.bias", "fc2.bias")


def test_alpha_zero_general_wrapper_like_torch(one_torch_thread: None) -> None:
    """alpha-zero-general's TicTacToeNNet / NNetWrapper spelling: ``predict`` before training (eval mode, fresh
    running statistics) and two epochs of Adam on its hand-written ``loss_pi`` / ``loss_v``.

    Each conv / fc bias feeds a BatchNorm, which removes it in training mode: its gradient is zero in exact
    arithmetic, and Adam turns both libraries' rounding noise there into lr-sized steps of either sign (README's
    differences list this). Those biases, and the running means they shift, are left out of the parameter
    comparison; the training losses do not see them. Measured: policy losses within 4.8e-7 (of 2.4), value losses
    within 1.1e-6 (of 0.8), the other parameters within 7.8e-7, the untrained prediction within 7.5e-9. We allow
    rtol 1e-6 / atol 2e-6 for the losses and parameters, 1e-6 for the prediction."""

    def make(m: types.ModuleType) -> Any:
        return m.TicTacToeNNet()

    def run(m: types.ModuleType, net: Any, lib: str) -> dict:
        wrapper = m.NNetWrapper(net)
        assert wrapper.cuda is False
        board = m.agz_examples(2, 1)[0][0]
        pi, v = wrapper.predict(board)
        assert isinstance(pi, np.ndarray) and pi.dtype == np.float32 and pi.shape == (10,) and v.shape == (1,)
        log = wrapper.train(m.agz_examples(0), np.random.default_rng(1))
        log["predict"] = np.append(pi, v)
        after, _ = wrapper.predict(board)
        assert abs(after.sum() - 1) < 1e-6 and not net.training
        log["params"] = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()
                         if k not in PRE_BN_BIASES and not k.endswith("running_mean")}
        return log

    theirs, ours = from_torch_weights(PATH, make, run)
    np.testing.assert_allclose(ours["predict"], theirs["predict"], rtol=0, atol=1e-6)
    for key in ("pi", "v", "avg"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, rtol=1e-6, atol=2e-6)
    assert len(ours["pi"]) == 6
    assert_params_close(ours["params"], theirs["params"], rtol=1e-6, atol=2e-6)
