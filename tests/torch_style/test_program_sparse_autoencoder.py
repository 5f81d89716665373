"""``sparse_autoencoder.py`` (openai/sparse_autoencoder's TopK autoencoder: model.py's Autoencoder / TopK /
TiedTranspose with its ``stats_last_nonzero`` buffer and ``state_dict`` / ``from_state_dict``, loss.py's normalized
MSE and L1, kernels.py's ``mse`` / ``normalized_mse`` / ``triton_add_mul_`` written densely, and train.py's tied
decoder init, ``unit_norm_decoder_``, the einsum ``unit_norm_decoder_grad_adjustment_``, the AuxK loss on dead
latents (``x.data *= dead_mask``, ``topk``, ``nan_to_num``), ``init_from_data_``, Adam(eps=6.25e-10, fused=True),
the ``_foreach_mul_`` clipping, the ``_foreach_lerp_`` EMA with its bias-corrected weight swap, ``batch_tensors``)
run on torch and, imports swapped, on ours, from torch's initial weights and the same numpy activations: every
step's logged values (scaled MSE, AuxK term, normalized MSE, loss, gradient norm, the dead-latent count), each
parameter's gradient after the adjustment and clipping, the decoder's column norms (1 within rounding) and the
gradient's component along each column (0 within rounding), the parameters and the stats buffer after each step,
the init lines, the EMA weights and the EMA-swapped evaluation, and an exact resume through ``torch.save`` /
``from_state_dict``. Besides: ``from_state_dict`` / ``state_dict`` of the TopK and ReLU (tied) models with
``encode`` / ``decode`` / ``encode_pre_act(latent_slice=)`` and ``autoencoder_loss``; the NaN guard of the AuxK term
on a constant batch; and ``torch.topk`` with ties (what torch defines: values, and the result where the tie lies
inside the top k).

Tolerances: float32, the runs differ by summation order (matmuls, norms, means). Measured: the logged losses within
3.1e-7 relative, gradient norms 2.8e-7, gradients 8.9e-8 absolute, parameters 2.4e-7 absolute, EMA weights 1.2e-7
and the swapped-in bias-corrected ones 1.6e-7, the EMA model's reconstructions 9.5e-7 (of ~8); the models' outputs
2.4e-7 and gradients 1.5e-8. We allow rtol 2e-6 / atol 1e-6 (rtol 2e-6 / atol 3e-6 for the reconstructions). The
dead-latent counts, the stats buffer, the init lines' text up to the numbers, the state_dict keys, the warnings and
the topk results where torch defines them are compared exactly; each library's decoder column norms are within
1.8e-7 of 1 and the gradient components along the columns within 1.5e-8 (allowed: 4 ulps / 2e-7). The resumed
run equals the uninterrupted one bit for bit in each library (torch's only with the resumed decoder put back in the
column-major layout ``tied_init_`` gave it: its sums differ in the last bit otherwise, and a top-k choice flips).
The repo's ``state_dict`` holds TopK's ``activation.k`` / ``activation.postact_fn`` too (the module recursion calls
TopK's override), which its strict ``from_state_dict`` refuses in both libraries: the resume loads with
``strict=False``. The file takes about 2.5 s (torch on one thread) on a shared 2-core machine."""

from __future__ import annotations

import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "sparse_autoencoder.py"
TOL = {"rtol": 2e-6, "atol": 1e-6}
EXACT = ("n_dead",)


def tensors_of(state: dict) -> dict:
    """The array entries of a state_dict (the saved ``activation`` names left out)."""
    return {k: v.detach().numpy().copy() for k, v in state.items() if hasattr(v, "detach")}


def train(m: types.ModuleType, weights: dict, tmp_path: Path, lib: str) -> tuple[dict, dict]:
    """The 12-step run recording every step, and in the same library an 8-step run saved, reloaded and resumed."""
    cfg = m.Config()
    torch_ = m.torch
    acts = m.make_acts(0, 400, cfg.d_model)
    torch.manual_seed(0)
    ae = m.make_autoencoder(cfg)
    ae.load_state_dict({k: torch_.from_numpy(v) for k, v in weights.items()})
    init = tensors_of(ae.state_dict())
    log: dict[str, list] = {"grads": [], "col_err": [], "parallel": [], "params": [], "stats": []}

    def on_grads(i: int, ae: Any) -> None:
        log["grads"].append({n: p.grad.numpy().copy() for n, p in ae.named_parameters()})
        w, g = ae.decoder.weight.data, ae.decoder.weight.grad
        log["col_err"].append(float(np.abs(w.norm(dim=0).numpy() - 1).max()))
        log["parallel"].append(float(np.abs(torch_.einsum("bn,bn->n", w, g).numpy()).max()))

    def on_step(i: int, ae: Any) -> None:
        log["params"].append({n: p.detach().numpy().copy() for n, p in ae.named_parameters()})
        log["stats"].append(ae.stats_last_nonzero.numpy().copy())

    out = m.main(ae, cfg, acts, on_grads=on_grads, on_step=on_step)
    log.update(lines=out["lines"], mse_scale=out["mse_scale"], history=out["history"])
    log["ema"] = [w.detach().numpy().copy() for w in out["ema"].ema_weights]
    probe = torch_.from_numpy(acts[384:])
    with out["ema"].use_ema_weights():
        log["ema_recons"] = ae(probe)[2].numpy().copy()
        log["ema_params"] = [p.detach().numpy().copy() for p in ae.parameters()]
    log["after_swap"] = [p.detach().numpy().copy() for p in ae.parameters()]
    assert all(np.array_equal(a, b) for a, b in zip(log["after_swap"], log["params"][-1].values()))

    # an 8-step run, saved, and resumed from disk on the remaining 4 batches
    torch.manual_seed(0)
    first = m.make_autoencoder(cfg)
    first.load_state_dict({k: torch_.from_numpy(v) for k, v in init.items()})
    part = m.main(first, cfg, acts[:256])
    path = tmp_path / f"{lib}_sae.pt"
    torch_.save(m.checkpoint(first, part["opt"], part["ema"]), path)
    ckpt = torch_.load(path)
    assert ckpt["ae"]["activation"] == "TopK" and ckpt["ae"]["activation_state_dict"] == {"k": 4, "postact_fn": "ReLU"}
    res = m.resume(ckpt, cfg, acts[256:384], part["mse_scale"])
    assert isinstance(res["ae"].activation, m.TopK) and res["ae"].activation.k == 4 and res["ae"].normalize
    resumed = {"history": part["history"] + res["history"],
               "params": {n: p.detach().numpy() for n, p in res["ae"].named_parameters()},
               "stats": res["ae"].stats_last_nonzero.numpy(),
               "ema": [w.detach().numpy() for w in res["ema"].ema_weights]}
    return log, resumed


@pytest.mark.filterwarnings("ignore:Positional args are being deprecated:FutureWarning",
                            "ignore:.*destination, prefix or keep_vars by position:FutureWarning")
@pytest.mark.filterwarnings("ignore:`torch.cuda.amp.GradScaler:FutureWarning")
def test_sparse_autoencoder_training_like_torch(one_torch_thread: None, tmp_path: Path) -> None:
    logs, weights = [], None
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            if weights is None:
                torch.manual_seed(0)
                weights = tensors_of(m.make_autoencoder(m.Config()).state_dict())
            log, resumed = train(m, weights, tmp_path, lib)
            logs.append(log)
            # the resume equals the uninterrupted run, bit for bit, in each library
            assert resumed["history"] == log["history"], lib
            for name, value in resumed["params"].items():
                assert np.array_equal(value, log["params"][-1][name]), (lib, name)
            assert np.array_equal(resumed["stats"], log["stats"][-1]), lib
            assert all(np.array_equal(a, b) for a, b in zip(resumed["ema"], log["ema"])), lib
    theirs, ours = logs
    assert len(ours["history"]) == len(theirs["history"]) == 12
    for got, want in zip(ours["history"], theirs["history"]):
        assert got.keys() == want.keys()
        for key in want:
            if key in EXACT:
                assert got[key] == want[key], key
            else:
                assert got[key] == pytest.approx(want[key], rel=TOL["rtol"], abs=TOL["atol"]), key
    assert theirs["history"][0]["n_dead"] > 0 and theirs["history"][-1]["train_maxk_recons"] > 0
    assert ours["mse_scale"] == pytest.approx(theirs["mse_scale"], rel=TOL["rtol"])
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):
        assert got.rsplit(" ", 1)[0] == want.rsplit(" ", 1)[0]
        assert float(got.rsplit(" ", 1)[1]) == pytest.approx(float(want.rsplit(" ", 1)[1]), rel=TOL["rtol"])
    for key in ("grads", "params"):
        for step, (got, want) in enumerate(zip(ours[key], theirs[key], strict=True)):
            for name in want:
                np.testing.assert_allclose(got[name], want[name], err_msg=f"{key} {name} step {step}", **TOL)
    for step, (got, want) in enumerate(zip(ours["stats"], theirs["stats"], strict=True)):
        assert got.dtype == want.dtype and np.array_equal(got, want), step
    for log in logs:
        assert max(log["col_err"]) <= 4 * np.finfo(np.float32).eps and max(log["parallel"]) <= 2e-7
    for key in ("ema", "ema_params"):
        for got, want in zip(ours[key], theirs[key], strict=True):
            np.testing.assert_allclose(got, want, err_msg=key, **TOL)
    np.testing.assert_allclose(ours["ema_recons"], theirs["ema_recons"], rtol=2e-6, atol=3e-6)


def test_state_dict_round_trip_and_models_like_torch(one_torch_thread: None) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 12)).astype(np.float32)
    results = []
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            torch_ = m.torch
            torch.manual_seed(0)
            topk = m.Autoencoder(20, 12, activation=m.TopK(3), normalize=False)
            tied = m.Autoencoder(20, 12, activation=m.nn.ReLU(), tied=True)
            if results:
                topk.load_state_dict({k: torch_.from_numpy(v) for k, v in results[0]["topk_init"].items()})
                tied.load_state_dict({k: torch_.from_numpy(v) for k, v in results[0]["tied_init"].items()})
            out: dict = {"topk_init": tensors_of(topk.state_dict()), "tied_init": tensors_of(tied.state_dict())}
            with torch_.no_grad():
                topk.latent_bias.data = torch_.linspace(-0.2, 0.2, 20)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                sd = topk.state_dict()  # super().state_dict(destination, prefix, keep_vars): positional, deprecated
                m.training_loop_(topk, [], None, lr=1e-3, ema_multiplier=None)  # torch.cuda.amp.GradScaler(...)
            out["warnings"] = sorted({(w.category.__name__, str(w.message)) for w in caught})
            out["keys"] = list(sd)
            out["names"] = (sd["activation"], sd["activation_state_dict"])
            with pytest.raises(RuntimeError) as refused:  # the repo's own state_dict: TopK's names under activation.
                m.Autoencoder.from_state_dict(dict(sd))
            out["refused"] = [key in str(refused.value) for key in ("activation.k", "activation.postact_fn")]
            loaded = m.Autoencoder.from_state_dict(dict(sd), strict=False)
            assert loaded.normalize and isinstance(loaded.activation, m.TopK) and loaded.activation.k == 3
            xt = torch_.from_numpy(x)
            for name, model in (("topk", topk), ("loaded", loaded), ("tied", tied)):
                latents, info = model.encode(xt)
                out[f"{name}_encode"] = latents.detach().numpy()
                out[f"{name}_decode"] = model.decode(latents, info).detach().numpy()
                pre, lat, rec = model(xt)
                loss = m.autoencoder_loss(rec, xt, lat, l1_weight=0.1)
                loss.backward()
                out[f"{name}_forward"] = [t.detach().numpy() for t in (pre, lat, rec)]
                out[f"{name}_loss"] = loss.item()
                out[f"{name}_grads"] = [p.grad.numpy().copy() for p in model.parameters()]
                out[f"{name}_stats"] = model.stats_last_nonzero.numpy().copy()
            out["slice"] = topk.encode_pre_act(xt, latent_slice=slice(2, 9)).detach().numpy()
            assert tied.decoder.weight.shape == (12, 20)
            tied_sd = tied.state_dict()
            out["tied_keys"] = list(tied_sd)
            out["tied_names"] = tied_sd["activation"]
            results.append(out)
    theirs, ours = results
    # the same two FutureWarnings, each naming what is deprecated (the sentences are each library's own)
    assert [c for c, _ in ours["warnings"]] == [c for c, _ in theirs["warnings"]] == ["FutureWarning"] * 2
    for said, positional in ((theirs, "Positional args"), (ours, "by position")):
        text = " ".join(message for _, message in said["warnings"])
        assert "GradScaler" in text and positional in text and "state_dict" in text, said["warnings"]
    assert ours["keys"] == theirs["keys"] and ours["names"] == theirs["names"]
    assert "activation.k" in theirs["keys"] and ours["refused"] == theirs["refused"] == [True, True]
    assert ours["tied_keys"] == theirs["tied_keys"] and ours["tied_names"] == theirs["tied_names"] == "ReLU"
    for key in theirs:
        if key.endswith(("_init", "keys", "names", "refused", "warnings")):
            continue
        if key.endswith("_stats"):
            assert np.array_equal(ours[key], theirs[key]), key
        elif key.endswith("_loss"):
            assert ours[key] == pytest.approx(theirs[key], rel=TOL["rtol"]), key
        elif isinstance(theirs[key], list):
            for got, want in zip(ours[key], theirs[key], strict=True):
                np.testing.assert_allclose(got, want, err_msg=key, **TOL)
        else:
            np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)


def test_auxk_nan_guard_like_torch(one_torch_thread: None) -> None:
    """A constant batch makes normalized_mse's denominator 0: inf for a wrong reconstruction (``nan_to_num(0)`` gives
    float32's max), NaN for an exact one (the guard gives 0). The gradients through the guard are torch's: NaN where
    the guard's zero meets the 1 / 0 of the division."""
    results = []
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            torch_ = m.torch
            xs = torch_.ones(4, 3) * 0.5
            out = []
            for start in (np.linspace(0, 1, 12, dtype=np.float32).reshape(4, 3), np.full((4, 3), 0.5, np.float32)):
                recon = torch_.tensor(start, requires_grad=True)
                raw = m.normalized_mse(recon, xs)
                guarded = raw.nan_to_num(0)
                guarded.backward()
                out.append((raw.item(), guarded.item(), recon.grad.numpy().copy()))
            results.append(out)
    (wrong_t, exact_t), (wrong_o, exact_o) = results
    assert np.isinf(wrong_t[0]) and np.isinf(wrong_o[0]) and np.isnan(exact_t[0]) and np.isnan(exact_o[0])
    assert wrong_o[1] == wrong_t[1] == np.finfo(np.float32).max and exact_o[1] == exact_t[1] == 0.0
    for (_, _, grad_o), (_, _, grad_t) in ((wrong_o, wrong_t), (exact_o, exact_t)):
        np.testing.assert_array_equal(grad_o, grad_t)  # NaN where torch's is NaN, equal elsewhere


def test_topk_with_ties_like_torch(one_torch_thread: None) -> None:
    """torch.topk with repeated values. Inside the top k a tie is fully defined (both chosen): the TopK output and
    its gradient are compared whole. Across the k-th place torch does not define which of the tied indices it
    returns: there the values, each index pointing at its value, and the output's sorted nonzeros are compared."""
    inside = np.array([[3.0, 1.0, 3.0, -2.0, 0.5, 0.0], [2.0, 2.0, 2.0, 5.0, -1.0, 1.0]], dtype=np.float32)
    across = np.array([[1.0, 4.0, 1.0, 1.0, -3.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                       [-1.0, -1.0, 2.0, -1.0, -1.0, -1.0]], dtype=np.float32)
    weights = np.arange(1, 7, dtype=np.float32)
    results = []
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            torch_ = m.torch
            out = {}
            for name, data, k in (("inside", inside, 4), ("across", across, 3)):
                x = torch_.tensor(data, requires_grad=True)
                top = torch_.topk(x, k=k, dim=-1)
                y = m.TopK(k)(x)
                (y * torch_.from_numpy(weights)).sum().backward()
                idx = top.indices.numpy()
                assert idx.dtype == np.int64 and all(len(set(row)) == k for row in idx)
                assert np.array_equal(np.take_along_axis(data, idx, -1), top.values.detach().numpy())
                chosen = np.zeros(data.shape, bool)
                np.put_along_axis(chosen, idx, True, -1)
                ynp, g = y.detach().numpy(), x.grad.numpy()
                assert np.array_equal(ynp, np.where(chosen, np.maximum(data, 0), 0))
                assert np.array_equal(g, np.where(chosen & (data > 0), weights, 0))
                out[name] = {"values": top.values.detach().numpy(), "indices": idx, "y": ynp, "grad": g,
                             "sorted": np.sort(ynp, axis=-1)}
            results.append(out)
    theirs, ours = results
    for key in ("values", "y", "grad"):
        np.testing.assert_array_equal(ours["inside"][key], theirs["inside"][key], err_msg=key)
    # the order of tied indices within the sorted output is not defined either (torch: [3, 1, 0, 2]): as sets
    np.testing.assert_array_equal(np.sort(ours["inside"]["indices"]), np.sort(theirs["inside"]["indices"]))
    for key in ("values", "sorted"):
        np.testing.assert_array_equal(ours["across"][key], theirs["across"][key], err_msg=key)
