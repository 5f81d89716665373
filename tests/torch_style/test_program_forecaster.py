"""``forecaster.py`` (a seq2seq nn.Transformer with teacher forcing and an autoregressive forecast, and a two-layer
LSTM encoder with a Linear head, on sliding windows of a sine-plus-noise series) run on torch and, imports swapped,
on ours: from torch's initial weights and the same numpy series, the windows, the causal mask and the positional
buffer are equal, and every step's loss (L1 and MSE), LambdaLR warmup rate and clip_grad_norm_ norm, each epoch's
MAE / RMSE, the forecasts, the forecasts after a torch.save / torch.load round trip, and the final parameters agree.

Tolerances: float32 throughout; the runs differ only by rounding (summation order in matmuls and reductions), which
AdamW (lr 1e-2) carries on for 21 steps. Measured: losses, norms, MAE and RMSE within 2.2e-6 relative, parameters
within 5.5e-6 absolute (1.2e-4 relative only on weights near zero), the LSTM's forecasts within 2.7e-7 and the
Transformer's within 1.4e-5 absolute (its forecast feeds each prediction back in, four times). We allow rtol 1e-5 /
atol 1e-6 on the series, atol 5e-5 on the forecasts and rtol 1e-4 / atol 5e-6 on the parameters. One exception: the
attention key biases (the middle third of each ``in_proj_bias``). Their gradient is zero in exact arithmetic (adding
q.b_k to every score of a query leaves its softmax unchanged), so in both libraries they receive rounding noise of
~1e-9, which Adam's g / sqrt(v) turns into steps of up to lr: they wander (seen up to 2.5e-3 from zero, 3.1e-3
apart) and are checked only against that bound, 21 steps of at most lr each, in each library."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SERIES_TOL = {"rtol": 1e-5, "atol": 1e-6}
FORECAST_TOL = {"rtol": 1e-5, "atol": 5e-5}
PARAM_TOL = {"rtol": 1e-4, "atol": 5e-6}
SERIES = ("loss", "lr", "norm", "mae", "rmse", "predictions", "reloaded")
D_MODEL, LR, STEPS = 16, 1e-2, 21


def both(net: str, loss: str, tmp_path) -> tuple[dict, dict]:
    """``run(net(), series)`` on the program with torch's imports, then ours from torch's initial weights."""
    def run(m, model, lib: str) -> dict:
        out = m.run(model, m.make_series(96), loss=loss, path=tmp_path / f"{lib}.pt")
        out["params"] = {k: v.detach().numpy().copy() for k, v in model.named_parameters()}
        out["training"] = model.training
        return out
    return from_torch_weights(HERE / "forecaster.py", lambda m: getattr(m, net)(), run)


def split_key_biases(params: dict) -> tuple[dict, dict]:
    """(params without the attention key biases, {name: key bias})."""
    rest, keys = dict(params), {}
    for name, value in params.items():
        if name.endswith("in_proj_bias"):
            keys[name] = value[D_MODEL:2 * D_MODEL]
            rest[name] = np.concatenate([value[:D_MODEL], value[2 * D_MODEL:]])
    return rest, keys


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("loss", ["l1", "mse"])
@pytest.mark.parametrize("net", ["TransformerForecaster", "LSTMForecaster"])
def test_forecaster_matches_torch(net: str, loss: str, tmp_path) -> None:
    theirs, ours = both(net, loss, tmp_path)
    for key in SERIES:
        got, want = np.asarray(ours[key]), np.asarray(theirs[key])
        assert got.shape == want.shape, key
        tol = FORECAST_TOL if key in ("predictions", "reloaded") else SERIES_TOL
        np.testing.assert_allclose(got, want, err_msg=key, **tol)
    np.testing.assert_array_equal(ours["reloaded"], ours["predictions"])  # the checkpoint forecasts the same
    assert ours["predictions"].shape == (8, 4, 1) and ours["predictions"].dtype == np.float32
    assert len(ours["loss"]) == STEPS and len(ours["mae"]) == 3  # drop_last: 57 windows -> 7 batches per epoch
    np.testing.assert_allclose(ours["lr"][:5], [LR * 2 / 5, LR * 3 / 5, LR * 4 / 5, LR, LR], rtol=1e-12)
    assert ours["training"] is theirs["training"] is False  # evaluate() left it in eval mode
    rest_o, keys_o = split_key_biases(ours["params"])
    rest_t, keys_t = split_key_biases(theirs["params"])
    assert_params_close(rest_o, rest_t, **PARAM_TOL)
    assert keys_o.keys() == keys_t.keys() and len(keys_t) == (6 if net == "TransformerForecaster" else 0)
    for name in keys_t:  # zero at the start; noise-driven Adam steps of at most lr each since
        assert np.abs(keys_o[name]).max() <= STEPS * LR and np.abs(keys_t[name]).max() <= STEPS * LR, name
    first, last = np.mean(ours["loss"][:7]), np.mean(ours["loss"][-7:])
    assert last < 0.85 * first  # it learned (epoch means: single batches are noisy)


def test_windows_mask_and_positional_buffer_match_torch() -> None:
    with program(HERE / "forecaster.py", "torch") as t, program(HERE / "forecaster.py", "ours") as o:
        series = t.make_series(40, n_features=2)
        np.testing.assert_array_equal(o.make_series(40, n_features=2), series)
        data_t, data_o = t.WindowDataset(series, 12, 4), o.WindowDataset(series, 12, 4)
        assert len(data_o) == len(data_t) == 25
        for i in range(len(data_t)):  # no IndexError past the end: iterating the Dataset itself would not stop
            (past_o, fut_o), (past_t, fut_t) = data_o[i], data_t[i]
            assert str(past_o.dtype) == str(past_t.dtype).removeprefix("torch.") == "float32"
            np.testing.assert_array_equal(past_o.numpy(), past_t.numpy())
            np.testing.assert_array_equal(fut_o.numpy(), fut_t.numpy())
        mask_o = o.nn.Transformer.generate_square_subsequent_mask(5)
        np.testing.assert_array_equal(mask_o.numpy(), t.nn.Transformer.generate_square_subsequent_mask(5).numpy())
        pe_o, pe_t = o.PositionalEncoding(D_MODEL), t.PositionalEncoding(D_MODEL)
        assert list(pe_o.state_dict()) == list(pe_t.state_dict()) == ["pe"]
        np.testing.assert_allclose(pe_o.pe.numpy(), pe_t.pe.numpy(), rtol=0, atol=1e-6)  # sin/cos kernels' last bit
        batches_o = list(o.DataLoader(data_o, batch_size=8, shuffle=False, drop_last=True))
        batches_t = list(t.DataLoader(data_t, batch_size=8, shuffle=False, drop_last=True))
        assert len(batches_o) == len(batches_t) == 3
        for (past_o, fut_o), (past_t, fut_t) in zip(batches_o, batches_t):
            assert tuple(past_o.shape) == tuple(past_t.shape) == (8, 12, 2)
            np.testing.assert_array_equal(fut_o.numpy(), fut_t.numpy())


@pytest.mark.usefixtures("one_torch_thread")
def test_cached_memory_forecast_matches_torch() -> None:
    """Encoding once and looping the decoder over the memory forecasts what the full model does, in both."""
    forecasts, weights = [], None
    for lib in ("torch", "ours"):
        with program(HERE / "forecaster.py", lib) as m:
            torch.manual_seed(0)
            model = m.TransformerForecaster()
            if weights is None:
                weights = {k: v.numpy().copy() for k, v in model.state_dict().items()}
            else:
                model.load_state_dict(weights)
            past = m.torch.tensor(m.make_series(40)[:36].reshape(3, 12, 1))
            model.eval()
            full, cached = model.forecast(past, 5), model.forecast_cached(past, 5)
            assert not cached.requires_grad and tuple(cached.shape) == (3, 5, 1)
            np.testing.assert_allclose(cached.numpy(), full.numpy(), rtol=1e-5, atol=1e-6)
            forecasts.append(cached.numpy())
    np.testing.assert_allclose(forecasts[1], forecasts[0], rtol=1e-5, atol=1e-6)
