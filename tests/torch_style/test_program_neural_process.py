"""``neural_process.py`` (EmilienDupont/neural-processes: Encoder, MuSigmaEncoder, Decoder, NeuralProcess with
``Normal`` latents and ``rsample``, the trainer's -log-likelihood + ``kl_divergence`` loss, ``context_target_split``,
SineData, Adam, eval-mode predictions and a state_dict round trip; and an Attentive NP's deterministic path under
uniform / laplace / dot-product / multihead cross-attention) run on torch and, imports swapped, on ours from torch's
initial weights. The noise is fed identically: each library's standard-normal draw inside ``Normal.rsample``
(torch's ``torch.distributions.normal._standard_normal``, ours' ``tinygrad_adam.distributions.normal.randn``) and
the notebook's ``torch.randn`` prior draws are patched to one numpy generator seeded 1; the ``loc + eps * scale``
and everything around it are the libraries' own. The context sizes come from Python's ``random`` and the locations
from ``np.random.choice``, both seeded 0 before each run, so the runs see the same points.

Compared after every step: the log-likelihood and KL terms, the loss, the gradient norm and every parameter; then the
per-epoch average loss lines, the prior and posterior predictive means / stds, and a resume from a checkpoint of the
model and Adam's state (exact against the uninterrupted run in each library).

Tolerances: float32, the runs differing by rounding in the matmuls and reductions. Measured over 8 steps (plain NP)
and 4 (each attentive one): the log-likelihood terms, losses and epoch averages within 1.1e-7 relative, gradient
norms within 1.3e-7, parameters within 6e-8 absolute, prior / posterior means and stds within 1.2e-7. The KL term
is tiny this early (1.8e-6 at least), so its relative error reaches 1.1e-5 at 7.3e-10 absolute. We allow rtol 1e-6,
atol 5e-9 on the KL, atol 2e-7 on parameters and predictions. Two parameters have a zero gradient in exact
arithmetic (laplace's last key bias, cancelling in |k - q|, and multihead's key bias rows, which softmax ignores):
each library's gradient there is rounding noise (1e-10) that Adam turns into steps of up to lr, so they are held
to 2 lr per step. The 3-decimal ``iteration`` lines allow one unit in the last place. The file takes about 4 s."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "neural_process.py"
RTOL, ATOL, KL_ATOL = 1e-6, 2e-7, 5e-9
ATTENTION = ["uniform", "laplace", "dot_product", "multihead"]
LR = 3e-3
# Parameters whose gradient is zero in exact arithmetic, so each library's is rounding noise (1e-10) that Adam turns
# into steps of up to lr: the key MLP's last bias cancels in laplace's |k - q|, as does its first bias's unit 0 (w
# 0.15, b 0.85: active for every x in [-pi, pi], so it shifts k and q alike; ours rounds its gradient to exactly 0,
# torch on an AVX-512 EPYC to noise that Adam made 4.6e-6 in a step), and the key rows of the multihead
# in_proj_bias add the same q . b_k to every logit of a row, which softmax ignores.
NULL = {"laplace": {"attention.x_to_key.2.bias": slice(None), "attention.x_to_key.0.bias": slice(0, 1)},
        "multihead": {"attention.mha.in_proj_bias": slice(8, 16)}}


@pytest.fixture
def numpy_noise(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """``Normal.rsample``'s eps and ``torch.randn`` draw from a numpy generator that each run reseeds (``reseed``)."""
    import random

    import torch.distributions.normal as theirs

    import tinygrad_adam
    import tinygrad_adam.distributions.normal as ours

    state = {"rng": np.random.default_rng(1)}

    def reseed() -> None:
        state["rng"] = np.random.default_rng(1)
        np.random.seed(0)
        random.seed(0)

    def draw(lib: object) -> Callable[..., object]:
        def standard_normal(shape: tuple[int, ...], dtype: object = None, device: object = None) -> object:
            values = state["rng"].standard_normal(tuple(shape)).astype(np.float32)
            return lib.as_tensor(values) if dtype is None else lib.as_tensor(values, dtype=dtype)
        return standard_normal

    monkeypatch.setattr(theirs, "_standard_normal", draw(torch))
    monkeypatch.setattr(ours, "randn", draw(tinygrad_adam))
    monkeypatch.setattr(torch, "randn", draw(torch))
    monkeypatch.setattr(tinygrad_adam, "randn", draw(tinygrad_adam))
    return reseed


def make(m: object, attention: str | None) -> object:
    """The plain NeuralProcess, or the attentive one with ``attention``."""
    if attention is None:
        return m.NeuralProcess(m.x_dim, m.y_dim, m.r_dim, m.z_dim, m.h_dim)
    return m.AttentiveNeuralProcess(m.x_dim, m.y_dim, m.r_dim, m.z_dim, m.h_dim, attention_type=attention)


def both(reseed: Callable[[], None], tmp_path: Path, attention: str | None = None,
         **options: object) -> tuple[dict, dict]:
    """The program's training and predictions on torch and on ours from torch's initial weights, with the same
    noise, context sizes and locations: each run's history, predictions, printed lines and data."""
    def run(m: object, model: object, lib: str) -> dict:
        reseed()
        out = StringIO()
        with redirect_stdout(out):
            model, dataset, trainer = m.train_sine(model, path=tmp_path / f"{lib}.pt", attentive=attention is not None,
                                                   **options)
            preds = m.predict(model, dataset)
        log = dict(trainer.history, **preds, lines=out.getvalue().splitlines(),
                   epoch_loss=trainer.epoch_loss_history)
        log["data"] = [(x.numpy().copy(), y.numpy().copy()) for x, y in dataset.data]
        return log
    return from_torch_weights(PROGRAM, lambda m: make(m, attention), run)


def numbers(line: str) -> tuple[str, list[float]]:
    """A printed line's words and its numbers apart."""
    return re.sub(r"-?\d+\.\d+(e-?\d+)?", "#", line), [float(x) for x in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", line)]


def agree(theirs: dict, ours: dict, null: dict | None = None) -> None:
    """Every series, parameter, prediction and printed line within the tolerances. ``null``: {parameter name:
    slice} of parameters with zero exact gradient, held to 2 ``LR`` per step instead."""
    assert ours["sizes"] == theirs["sizes"] and len(ours["sizes"]) > 0
    for (ox, oy), (tx, ty) in zip(ours["data"], theirs["data"], strict=True):
        np.testing.assert_allclose(ox, tx, rtol=0, atol=1e-7)
        np.testing.assert_allclose(oy, ty, rtol=0, atol=2e-7)
    for key in ("log_likelihood", "loss", "grad_norm", "epoch_loss"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=RTOL, err_msg=key)
    np.testing.assert_allclose(ours["kl"], theirs["kl"], rtol=RTOL, atol=KL_ATOL)
    for step, (got, want) in enumerate(zip(ours["params"], theirs["params"], strict=True)):
        assert list(got) == list(want), step
        for name, part in (null or {}).items():
            np.testing.assert_allclose(got[name][part], want[name][part], rtol=0, atol=2 * LR * (step + 1))
            got, want = dict(got), dict(want)
            got[name], want[name] = np.delete(got[name], part), np.delete(want[name], part)
        assert_params_close(got, want, rtol=0, atol=ATOL)
    for key in ("prior_mu", "post_mu", "post_std"):
        assert len(ours[key]) == len(theirs[key])
        np.testing.assert_allclose(np.array(ours[key]), np.array(theirs[key]), rtol=0, atol=ATOL, err_msg=key)
    assert len(ours["lines"]) == len(theirs["lines"])
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):
        (got_words, got_numbers), (want_words, want_numbers) = numbers(got), numbers(want)
        assert got_words == want_words
        np.testing.assert_allclose(got_numbers, want_numbers, rtol=RTOL, atol=1e-3 if "iteration" in got else 0)


def test_neural_process_matches_torch(one_torch_thread: None, numpy_noise: Callable[[], None], tmp_path: Path) -> None:
    theirs, ours = both(numpy_noise, tmp_path)
    agree(theirs, ours)
    assert len(ours["loss"]) == 8 and ours["lines"][0].startswith("iteration 3, loss ")
    assert np.all(np.array(ours["post_std"]) >= 0.1)  # 0.1 + 0.9 * softplus
    assert ours["post_mu"][0].shape == (12, 1)


@pytest.mark.parametrize("attention", ATTENTION)
def test_attentive_neural_process_matches_torch(one_torch_thread: None, numpy_noise: Callable[[], None], tmp_path: Path,
                                                attention: str) -> None:
    theirs, ours = both(numpy_noise, tmp_path, attention=attention, epochs=1)
    agree(theirs, ours, NULL.get(attention))
    assert ours["prior_mu"] == []


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_checkpoint_resume_is_exact(one_torch_thread: None, numpy_noise: Callable[[], None], tmp_path: Path,
                                    lib: str) -> None:
    """Saved after one epoch (model and Adam state), loaded into a fresh model and optimizer and trained on: every
    number equals the uninterrupted run's."""
    runs = []
    for resume_at in (None, 1):
        with program(PROGRAM, lib) as m:
            numpy_noise()
            m.torch.manual_seed(0)
            with redirect_stdout(StringIO()):
                model, dataset, trainer = m.train_sine(make(m, None), path=tmp_path / "ckpt.pt", resume_at=resume_at)
                runs.append((trainer.history, m.predict(model, dataset)))
    (whole, whole_preds), (resumed, resumed_preds) = runs
    for key in ("log_likelihood", "kl", "loss", "grad_norm", "sizes"):
        assert whole[key] == resumed[key], key
    for got, want in zip(resumed["params"], whole["params"], strict=True):
        for name in want:
            assert np.array_equal(got[name], want[name]), name
    for key in whole_preds:
        assert np.array_equal(np.array(resumed_preds[key]), np.array(whole_preds[key])), key


def test_state_dict_round_trip(one_torch_thread: None, numpy_noise: Callable[[], None], tmp_path: Path) -> None:
    """main_experiment.py's ``torch.save(state_dict)``: a fresh model loaded from it predicts the same; and ours
    loads torch's file's arrays (same names, same shapes)."""
    saved = {}
    for lib in ("torch", "ours"):
        with program(PROGRAM, lib) as m:
            numpy_noise()
            m.torch.manual_seed(0)
            model = make(m, "dot_product")
            fresh = m.save_and_reload(model, tmp_path / f"{lib}.pt", attentive=True)
            saved[lib] = {k: v.numpy().copy() for k, v in model.state_dict().items()}
            for key, value in fresh.state_dict().items():
                assert np.array_equal(value.numpy(), saved[lib][key]), key
    assert list(saved["ours"]) == list(saved["torch"])
    assert [v.shape for v in saved["ours"].values()] == [v.shape for v in saved["torch"].values()]
