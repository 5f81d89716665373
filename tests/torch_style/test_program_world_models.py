"""``world_models.py`` (ctallec/world-models: the conv VAE, the MDRNN / MDRNNCell and the linear Controller, with
trainvae.py's, trainmdrnn.py's and the RolloutGenerator's loops) run on torch and, imports swapped, on ours, from
torch's initial weights, the same numpy rollouts and the same numpy noise in place of ``randn_like``: step by step the
VAE's summed MSE and KLD terms and their sum, the MDRNN's GMM / BCE / MSE terms and ``(gmm + bce + mse) / scale``
(with and without the reward term), gradient norms, every parameter after every step, the test losses,
ReduceLROnPlateau's learning rates and EarlyStopping's counters (the early stop itself), the printed lines and the
postfix strings, the test reconstructions, the decoded samples, the latents from ``to_latent``, the checkpoint files
(model, Adam / RMSprop, scheduler and EarlyStopping state, loaded back by ``torch.load``), a ``best.tar`` reload
that goes on training, the MDRNNCell loaded by ``k.strip('_l0')`` unrolled against the MDRNN, ``gmm_loss`` per
sample, and the controller evaluation (``torch.Tensor(params)`` / ``load_parameters`` / rollouts / returns / the
saved and reloaded best controller).

Tolerances, measured (float32; the VAE's summed losses are about 2000 per batch of two 3x64x64 images). VAE: losses
within 1.1e-7 relative, KLD terms 7.5e-6 relative (6e-8 absolute: a sum of nearly cancelling terms), gradient norms
7.5e-7, parameters after each step 4.9e-7 absolute, reconstructions / samples 1.2e-7; each gradient within 7.6e-6 of
its own largest entry (the encoder's biases get gradients of 1e-3 from losses in the thousands, so summation order
shows there first). MDRNN: terms within 2.2e-7 relative, gradient norms 2.5e-7, gradients 2.8e-6 of their largest
entry, latents and the MDRNNCell's outputs 4.8e-7, parameters 3.7e-8 absolute except one: RMSprop's first step is
``lr * g / (sqrt(0.1 g^2) + eps)``, whose slope ``lr * eps / (sqrt(0.1) |g| + eps)^2`` is 8e4 at the 2.9e-9 gradient
of one ``weight_hh`` entry (a cancellation; the two libraries' values 2.3e-11 apart): 2.0e-6. Controller returns
7.4e-9 relative, actions 6e-8. We allow rtol 2e-6 on series (KLD 2e-5), atol 1e-6 on arrays (5e-6 on the MDRNN's
parameters and checkpoint), gradients and optimizer moments 2e-5 / 2e-6 of their largest entry. Learning rates,
EarlyStopping / scheduler counters, the early stop, checkpoint keys (the optimizer's state under torch's names), the
scheduler's state_dict and the strip('_l0') key names agree exactly; printed numbers to within the same tolerances
(their last printed digit may differ). The test takes about 5 s with one BLAS thread.

A documented difference stays: ``torch.Tensor(float64 ndarray)`` is float32 in torch and float64 here (README's
"Differences"); ``load_parameters`` then copies into the float32 parameters, so the numbers agree."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "world_models.py"
SERIES = {"rtol": 2e-6, "atol": 1e-9}
KLD = {"rtol": 2e-5, "atol": 1e-8}
ARRAYS = {"rtol": 0, "atol": 1e-6}
GRADS = 2e-5  # relative to each gradient's largest entry (see the docstring)
MOMENTS = 2e-6  # relative to each moment tensor's largest entry (its gradients differ by summation order)
RNN_PARAMS = {"rtol": 0, "atol": 5e-6}  # (see the docstring: RMSprop's first step on a 3e-9 gradient)
NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")


def run_both(tmp_path: Path) -> dict[str, dict]:
    """The whole program on torch, then on ours (torch's initial weights loaded), each in its own logdir."""
    results: dict[str, dict] = {}
    weights = None
    for lib in ("torch", "ours"):
        logdir = tmp_path / lib
        logdir.mkdir()
        with program(PATH, lib) as m:
            torch.manual_seed(0)
            nets = {"vae": m.VAE(3, m.LSIZE), "mdrnn": m.MDRNN(m.LSIZE, m.ASIZE, m.RSIZE, m.GAUSSIANS),
                    "ctrl": m.Controller(m.LSIZE, m.RSIZE, m.ASIZE),
                    "mdrnn2": m.MDRNN(m.LSIZE, m.ASIZE, m.RSIZE, m.GAUSSIANS)}
            if weights is None:
                weights = {k: {n: v.detach().numpy().copy() for n, v in net.state_dict().items()}
                           for k, net in nets.items()}
            else:
                for k, net in nets.items():
                    assert list(net.state_dict()) == list(weights[k])
                    net.load_state_dict(weights[k])
            rolls = m.make_rollouts()
            frames = [{"observations": rolls[0]["observations"][:4]}, {"observations": rolls[2]["observations"][:2]}]
            rng = np.random.default_rng(7)
            latents = rng.standard_normal((m.SEQ_LEN, m.BSIZE, m.LSIZE)).astype(np.float32)
            actions = rng.uniform(-1, 1, (m.SEQ_LEN, m.BSIZE, m.ASIZE)).astype(np.float32)
            out: dict = {}
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                out["vae"] = m.train_vae(nets["vae"], frames[:1], frames[1:], str(logdir), epochs=4)
                out["vae_ckpt"] = [m.read_checkpoint(str(logdir / "vae" / f)) for f in ("checkpoint.tar", "best.tar")]
                out["vae_resumed"] = m.train_vae(m.VAE(3, m.LSIZE), frames[:1], frames[1:], str(logdir), epochs=1,
                                                 noreload=False)
                out["rnn"], _ = m.train_mdrnn(rolls[:2], rolls[2:], str(logdir), epochs=2,
                                              make=lambda nets=nets: nets["mdrnn"])
                out["rnn_ckpt"] = m.read_checkpoint(str(logdir / "mdrnn" / "checkpoint.tar"))
                out["ctrl"] = m.evaluate_controllers(str(logdir), initial=weights["ctrl"])
                out["cell"] = m.mdrnn_cell_matches(str(logdir), latents, actions)
                out["rnn_noreward"], _ = m.train_mdrnn(rolls[:1], rolls[2:], str(logdir), epochs=1,
                                                       include_reward=False, make=lambda nets=nets: nets["mdrnn2"])
            out["printed"] = printed.getvalue()
            results[lib] = out
    return results


def assert_tree_close(ours: Any, theirs: Any, where: str = "", series: dict = SERIES, arrays: dict = ARRAYS) -> None:
    """Nested dicts / lists of arrays and numbers: the same structure and keys, arrays within ARRAYS (same shape and
    dtype), floats within ``series``, everything else equal."""
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs), where
        for k in theirs:
            assert_tree_close(ours[k], theirs[k], f"{where}/{k}", series, arrays)
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_tree_close(a, b, f"{where}[{i}]", series, arrays)
    elif isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray) and ours.shape == theirs.shape and ours.dtype == theirs.dtype, where
        np.testing.assert_allclose(ours, theirs, err_msg=where, **arrays)
    elif isinstance(theirs, float) and not isinstance(theirs, bool):
        assert ours == pytest.approx(theirs, rel=series["rtol"], abs=series["atol"]), where
    else:
        assert ours == theirs and type(ours) is type(theirs), where


def assert_lines_close(ours: str, theirs: str) -> None:
    """The same printed lines, their numbers within SERIES."""
    ours_lines, their_lines = ours.splitlines(), theirs.splitlines()
    assert len(ours_lines) == len(their_lines)
    for a, b in zip(ours_lines, their_lines):
        assert NUMBER.sub("#", a) == NUMBER.sub("#", b), (a, b)
        np.testing.assert_allclose([float(x) for x in NUMBER.findall(a)], [float(x) for x in NUMBER.findall(b)],
                                   rtol=SERIES["rtol"], atol=1e-6, err_msg=a)


def assert_checkpoint_close(ours: dict, theirs: dict, where: str, arrays: dict = ARRAYS) -> None:
    """A ``save_checkpoint`` dict: everything as ``assert_tree_close`` but the optimizer's state_dict, whose state
    holds torch's names and tensors and whose groups hold torch's hyperparameters and parameter indices (torch adds
    its implementation flags)."""
    ours, theirs = dict(ours), dict(theirs)
    opt_o, opt_t = ours.pop("optimizer"), theirs.pop("optimizer")
    assert_tree_close(ours, theirs, where, arrays=arrays)
    for group_o, group_t in zip(opt_o["param_groups"], opt_t["param_groups"], strict=True):
        for key in ("lr", "betas", "alpha", "eps", "weight_decay", "momentum", "centered", "amsgrad", "params"):
            assert group_o.get(key) == group_t.get(key), (where, key)
    assert list(opt_o["state"]) == list(opt_t["state"])
    for index, state_t in opt_t["state"].items():
        state_o = opt_o["state"][index]
        assert list(state_o) == list(state_t), where
        assert float(state_o["step"]) == float(state_t["step"]), where
        for key in list(state_t)[1:]:
            got, want = np.asarray(state_o[key]), state_t[key]
            assert got.shape == want.shape and got.dtype == want.dtype, (where, key)
            np.testing.assert_allclose(got, want, rtol=0, atol=MOMENTS * np.abs(want).max(),
                                       err_msg=f"{where}/optimizer/{index}/{key}")


def check_history(ours: dict, theirs: dict, terms: tuple[str, ...], params: dict = ARRAYS) -> None:
    """A training history: the loss terms, gradient norms and test losses within SERIES (KLD within KLD), the
    learning rates equal, the parameters after every step within ``params``."""
    for key in terms:
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **(KLD if key == "kld" else SERIES))
    for key in ("norm", "test"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **SERIES)
    assert ours["lr"] == theirs["lr"]
    assert len(ours["grads"]) == len(theirs["grads"]) == len(theirs["loss"])
    for step, (a, b) in enumerate(zip(ours["grads"], theirs["grads"])):
        assert list(a) == list(b)
        for name in b:
            np.testing.assert_allclose(a[name], b[name], rtol=0, atol=GRADS * np.abs(b[name]).max(),
                                       err_msg=f"{name}.grad at step {step}")
    assert len(ours["params"]) == len(theirs["params"])
    for step, (a, b) in enumerate(zip(ours["params"], theirs["params"])):
        assert_tree_close(a, b, f"params after step {step}", arrays=params)


@pytest.mark.filterwarnings("ignore:size_average", "ignore:.*upsample")
def test_world_models_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    """The VAE, its resumed run, the MDRNN with and without rewards, the checkpoints, the cell and the controllers."""
    results = run_both(tmp_path)
    theirs, ours = results["torch"], results["ours"]
    assert_lines_close(ours["printed"], theirs["printed"])
    assert "End of Training because of early stopping at epoch 3" in ours["printed"]
    for phase in ("vae", "vae_resumed"):
        check_history(ours[phase], theirs[phase], ("loss", "mse", "kld"))
        assert ours[phase]["stops"] == theirs[phase]["stops"]
        assert_tree_close(ours[phase]["recon"], theirs[phase]["recon"], f"{phase} recon")
        assert_tree_close(ours[phase]["samples"], theirs[phase]["samples"], f"{phase} samples")
    assert len(set(theirs["vae"]["lr"])) > 1  # ReduceLROnPlateau cut the rate
    for i in range(2):
        assert_checkpoint_close(ours["vae_ckpt"][i], theirs["vae_ckpt"][i], f"vae checkpoint {i}")
    for phase in ("rnn", "rnn_noreward"):
        check_history(ours[phase], theirs[phase], ("gmm", "bce", "mse", "loss"), RNN_PARAMS)
        assert_tree_close(ours[phase]["latents"], theirs[phase]["latents"], f"{phase} latents")
        assert_lines_close("\n".join(ours[phase]["postfix"]), "\n".join(theirs[phase]["postfix"]))
    assert ours["rnn_noreward"]["mse"] == [0] * len(ours["rnn_noreward"]["mse"])
    assert_checkpoint_close(ours["rnn_ckpt"], theirs["rnn_ckpt"], "mdrnn checkpoint", RNN_PARAMS)
    cell_o, cell_t = ours["cell"], theirs["cell"]
    assert cell_o["keys"] == cell_t["keys"] == sorted(["gmm_linear.bias", "gmm_linear.weight", "rnn.bias_hh",
                                                        "rnn.bias_ih", "rnn.weight_hh", "rnn.weight_ih"])
    assert_tree_close(cell_o, cell_t, "mdrnn cell")
    for full, stepped in zip(cell_o["full"], cell_o["stepped"]):  # the cell unrolled is the LSTM
        np.testing.assert_allclose(stepped, full, **ARRAYS)
    ctrl_o, ctrl_t = ours["ctrl"], theirs["ctrl"]
    assert ctrl_t["dtype"] == "torch.float32" and ctrl_o["dtype"] == "float64"  # the documented difference
    for key in ("returns", "actions", "flat", "reloaded", "best_return"):
        assert_tree_close([np.asarray(x) for x in np.atleast_1d(ctrl_o[key])] if key in ("returns", "best_return")
                          else ctrl_o[key],
                          [np.asarray(x) for x in np.atleast_1d(ctrl_t[key])] if key in ("returns", "best_return")
                          else ctrl_t[key], key)
    np.testing.assert_array_equal(ctrl_o["reloaded"], ctrl_o["flat"][1 + int(np.argmin(ctrl_o["returns"]))])
    assert ours["vae"]["test"][-1] < ours["vae"]["test"][0] and ours["rnn"]["test"][-1] < ours["rnn"]["test"][0]
