"""``convlstm_density.py`` (a ConvLSTM next-frame predictor, an RNNCell language model with an orthogonal
parametrization and AdaptiveLogSoftmaxWithLoss, a bucketized heteroscedastic regressor with GaussianNLLLoss /
PoissonNLLLoss / a MixtureSameFamily density head, and an Unfold / Fold patch autoencoder stepped under
torch.profiler) run on torch and, imports swapped, on ours from torch's initial weights and the same numpy data:
per step the losses and gradient norms, the adaptive softmax's outputs, log-probabilities and predictions, the
mixture's mean / variance / cdf, the buckets, the profiler's named range, and every final parameter.

Tolerances: float32; the libraries differ by summation order. Measured: losses within 2.4e-7 absolute, the adaptive
softmax's outputs and log-probabilities within 7.2e-7 (of ~4), the mixture's statistics within 1.8e-7, final
parameters within 3.9e-7 after four steps; we allow rtol 1e-5 and atol 2e-6. Buckets, predictions and the count of
right pixels compared exactly."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, run_on_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 2e-6}


def test_convlstm_density_programs_match_torch(one_torch_thread: None) -> None:
    theirs, ours = run_on_torch_weights(HERE / "convlstm_density.py")
    for log in (theirs, ours):
        assert log["char"]["orthogonal"] < 1e-5
        np.testing.assert_allclose(log["char"]["prob_sum"], 1.0, rtol=1e-5)
        assert log["patches"]["profiled"] is True
        assert log["convlstm"]["loss"][-1] < log["convlstm"]["loss"][0]
    for part, keys in {"convlstm": ("loss", "norm"), "char": ("loss", "output", "log_prob"),
                       "regressor": ("gaussian", "poisson", "mdn", "mdn_mean", "mdn_variance", "mdn_cdf"),
                       "patches": ("loss",)}.items():
        assert ours[part].keys() == theirs[part].keys()
        for key in keys:
            np.testing.assert_allclose(ours[part][key], theirs[part][key], err_msg=f"{part} {key}", **TOL)
    assert ours["char"]["predict"] == theirs["char"]["predict"]
    assert ours["regressor"]["buckets"] == theirs["regressor"]["buckets"]
    assert ours["convlstm"]["pixels_right"] == theirs["convlstm"]["pixels_right"]
    for part in theirs["params"]:
        assert_params_close(ours["params"][part], theirs["params"][part], **TOL)
    assert "parametrizations.weight_hh.original" in " ".join(ours["params"]["char"])
