"""Fixes from an audit of the paper reproduction (Kingma & Ba 2015, section 6) against the paper's setup.

- ``--no-bias-correction`` was accepted by every optimizer, but only Adam and AMSGrad honoured it: AdamW trained
  with the correction anyway, and the optimizers without the paper's two hat lines ignored it, while the run's
  config recorded ``bias_correction: false``.
- A tuned file's ``command`` left out the settings that change the scores (the lr schedule, the IMDB features,
  weight decay, dropout, batch size, ...), so running it again searched another problem.
- ``compare`` took a tuned file's rates without a word when they were searched under another lr schedule, batch
  size or IMDB feature type than its runs use.

These check the paper's formulas and the command line's own round trip; torch has no bias-correction switch or
tuning files, so there is nothing of torch's to compare with.
"""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
from tinygrad_adam import cli, experiments, tune
from tinygrad_adam.train import OPTIMIZERS, Config, build_optimizer

# the optimizers with the paper's two hat lines (Algorithm 1): Adam, AMSGrad and AdamW
WITH_HATS = ("adam", "amsgrad", "adamw")
# the run settings that change a tuning trial's score
SCORED = ("batch_size", "weight_decay", "dropout", "input_dropout", "lr_schedule", "imdb_features", "channels", "seed",
          "flush_denormal", "epochs", "limit")


# ------------------------------------------------------------------ the bias-correction switch
@pytest.mark.parametrize("name", [o for o in OPTIMIZERS if o not in WITH_HATS])
def test_no_bias_correction_is_refused_where_the_optimizer_has_none(name: str) -> None:
    with pytest.raises(ValueError, match="bias correction"):
        Config(optimizer=name, bias_correction=False).resolved()
    Config(optimizer=name).resolved()  # the default (on) is fine for every optimizer


def test_no_bias_correction_is_a_one_line_cli_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:  # refused before any data loads
        cli.main(["train", "--optimizer", "adamax", "--no-bias-correction", "--epochs", "1"])
    err = capsys.readouterr().err
    assert stopped.value.code not in (0, None) and "Traceback" not in err
    assert next(line for line in err.splitlines() if "error:" in line).endswith("adamax has no such switch")


@pytest.mark.parametrize("name", WITH_HATS)
@pytest.mark.parametrize("corrected", [True, False])
def test_bias_correction_switch_reaches_the_update(name: str, corrected: bool) -> None:
    """After one step from m = v = 0, Algorithm 1 moves each weight by lr * sign(g); without the hat lines the
    step is lr * (1 - beta1) / sqrt(1 - beta2) * sign(g) (section 6.4), 3.16 lr with the default betas."""
    lr, b1, b2, wd = 0.01, 0.9, 0.999, 0.01
    theta = np.array([0.5, -1.0, 2.0])
    g = np.array([3.0, -0.2, 1e-3])
    p = tg.Tensor(theta.copy(), requires_grad=True)
    cfg = Config(optimizer=name, lr=lr, betas=(b1, b2), weight_decay=wd, bias_correction=corrected).resolved()
    opt = build_optimizer(cfg, [p])
    p.grad = tg.Tensor(g.copy())
    opt.step()
    if name == "adamw":  # decoupled: the weights shrink first, the gradient is untouched
        start, grad = theta * (1 - lr * wd), g
    else:
        start, grad = theta, g + wd * theta
    m, v = (1 - b1) * grad, (1 - b2) * grad * grad
    if corrected:
        m, v = m / (1 - b1), v / (1 - b2)
    np.testing.assert_allclose(p.detach().numpy(), start - lr * m / (np.sqrt(v) + 1e-8), rtol=1e-12, atol=1e-14)


def test_dropout_is_refused_for_the_vae() -> None:
    """The VAE has no dropout layer: a rate given for it was recorded in the run's config and never applied."""
    with pytest.raises(ValueError, match="no dropout"):
        Config(model="vae", dropout=0.5).resolved()
    assert Config(model="vae", dropout=0.0).resolved().dropout == 0.0
    assert Config(model="vae").resolved().resolved().dropout == 0.0  # a resolved config resolves again


# ------------------------------------------------------------------ the tuned file's command
def _tune_args(command: str) -> argparse.Namespace:
    words = command.split()
    assert words[:2] == ["tinygrad-adam", "tune"]
    return cli.build_parser().parse_args(words[1:])


@settings(max_examples=40, deadline=None)
@given(schedule=st.sampled_from([None, "constant", "inv-sqrt"]), features=st.sampled_from(["binary", "counts"]),
       wd=st.sampled_from([None, 0.0, 1e-4, 3e-3]), dropout=st.sampled_from([None, 0.0, 0.5]),
       batch=st.sampled_from([None, 64, 128]), seed=st.integers(0, 5), flush=st.booleans(),
       channels=st.sampled_from([(64, 64, 128), (32, 32, 64)]), limit=st.sampled_from([None, 5000]),
       momenta=st.sampled_from([(0.5, 0.9, 0.99), (0.9,), (0.5, 0.99)]))
def test_tuned_command_repeats_the_search(schedule: str | None, features: str, wd: float | None,
                                          dropout: float | None, batch: int | None, seed: int, flush: bool,
                                          channels: tuple[int, ...], limit: int | None,
                                          momenta: tuple[float, ...]) -> None:
    base = Config(epochs=3, lr_schedule=schedule, imdb_features=features, weight_decay=wd, dropout=dropout,
                  batch_size=batch, seed=seed, flush_denormal=flush, channels=channels, limit=limit)
    command = tune.command_line("imdb-logreg", base, ["adagrad"], None, momenta, 4, 2)
    args = _tune_args(command)
    again = cli.config_from(args)
    for field in SCORED:
        assert getattr(again, field) == getattr(base, field), (field, command)
    assert tuple(args.momenta) == momenta and args.seeds == 2 and args.optimizers == ["adagrad"]


def test_tuned_command_names_the_schedule_and_features() -> None:
    """The committed examples/tuned/imdb-logreg-adagrad-decayed.json was tuned with --lr-schedule inv-sqrt, which
    its command did not say."""
    base = Config(epochs=5, lr_schedule="inv-sqrt", imdb_features="counts")
    command = tune.command_line("imdb-logreg", base, ["adagrad"], None, tune.MOMENTA, 4, 1)
    assert "--lr-schedule inv-sqrt" in command and "--imdb-features counts" in command
    assert command == ("tinygrad-adam tune --experiment imdb-logreg --epochs 5 --lr-schedule inv-sqrt "
                       "--imdb-features counts --optimizers adagrad")


# ------------------------------------------------------------------ compare with rates tuned elsewhere
def _content(schedule: str, features: str = "binary", batch: int = 128) -> dict:
    return {"chosen": {"adagrad": {"optimizer": "adagrad", "lr": 0.0316, "momentum": None,
                                   "lr_schedule": schedule}},
            "budget": {"epochs": 5, "limit": None, "seeds": [0], "batch_size": batch, "imdb_features": features}}


def test_tuned_elsewhere_names_each_difference() -> None:
    exp = experiments.get_experiment("imdb-logreg")
    curve = experiments.select_curves(exp, ["adagrad"])[0]

    def resolved(**kw: object) -> list:
        return [("adagrad", experiments.curve_config(exp, curve, Config(**kw)).resolved())]

    assert experiments.tuned_elsewhere(_content("constant"), resolved()) == []
    found = experiments.tuned_elsewhere(_content("constant"), resolved(lr_schedule="inv-sqrt"))
    assert found == ["adagrad lr schedule constant, here inv-sqrt"]
    found = experiments.tuned_elsewhere(_content("constant"), resolved(imdb_features="counts", batch_size=64))
    assert found == ["batch size 128, here 64", "imdb features binary, here counts"]
    # MNIST runs have no IMDB features to differ in
    mnist = experiments.get_experiment("mnist-logreg")
    adagrad = experiments.select_curves(mnist, ["adagrad"])[0]
    cfg = experiments.curve_config(mnist, adagrad, Config()).resolved()
    assert experiments.tuned_elsewhere(_content("constant", features="counts"), [("adagrad", cfg)]) == []


class _Stop(Exception):
    pass


def test_compare_warns_before_training_with_rates_tuned_elsewhere(tmp_path, monkeypatch) -> None:
    import json

    path = tmp_path / "tuned.json"
    path.write_text(json.dumps(_content("constant")))
    lines: list[str] = []

    def stop(*args: object, **kwargs: object) -> None:
        raise _Stop

    monkeypatch.setattr(experiments, "claim_out", stop)  # stop where the runs would start
    with pytest.raises(_Stop):
        experiments.compare("imdb-logreg", ["adagrad"], Config(lr_schedule="inv-sqrt"), tmp_path / "out",
                            tuned_file=path, log=lines.append)
    assert any(line.startswith("warning:") and "lr schedule constant, here inv-sqrt" in line for line in lines)
    lines.clear()
    with pytest.raises(_Stop):  # the same settings: no warning
        experiments.compare("imdb-logreg", ["adagrad"], Config(), tmp_path / "out", tuned_file=path,
                            log=lines.append)
    assert not any(line.startswith("warning:") for line in lines)
