"""``vqvae.py`` (zalandoresearch/pytorch-vq-vae's VQ-VAE with its plain and EMA quantizers, rosinality's EMA
``Quantize`` and his two-level VQ-VAE-2, on synthetic 3x16x16 images) run on torch and, imports swapped, on ours from
torch's initial weights and buffers and the same minibatches: per Adam step the reconstruction errors, VQ losses,
perplexities, gradient norms, code indices and EMA buffers; the printed lines; the eval-mode reconstructions (which
must leave the buffers alone), VQ-VAE-2's eval codes and ``decode_code`` of them, and the final state dicts
(parameters and buffers, in torch's order). A checkpoint of both state dicts through ``torch.save`` / ``torch.load``
into a fresh model and optimizer resumes to exactly the uninterrupted run's numbers. The runs start from codes set to
encoder outputs (``init_codes``): from the originals' random codebooks every latent of these small runs picks the one
nearest code and the perplexity stays 1 in both libraries, which would test little.

Tolerances: float32; the runs differ by summation order in the convolutions and matmuls, which Adam carries on.
Measured over 12 steps (four runs): recon errors within 2e-7 relative, VQ losses within 7.3e-7, perplexities within
3e-7, gradient norms within 2.5e-7, EMA buffers within 3e-7 relative (cluster sizes up to ~44, sums up to ~13),
reconstructions and decoded samples within 6e-8 absolute, parameters within 1.9e-6 absolute (the EMA sums) and
4.5e-7 elsewhere. We allow rtol 1e-5 and atol 1e-6 for the series, buffers and images, rtol 1e-5 and atol 5e-6 for
parameters. Code indices must be equal wherever torch's nearest code is more than 1e-6 closer than its second
nearest (the squared distances are ~0.1-0.3, the latents agree to ~3e-7 relative); of the 6528 latents of the
four runs, 60 lie closer than that to a tie (the closest 3e-8), and ours picked torch's code for every one of them.
``decode_code`` of the eval codes equals the eval forward exactly in each library (straight-through adds 0)."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 1e-6}
PARAM_TOL = {"rtol": 1e-5, "atol": 5e-6}
STEPS, RESUME_AT = 12, 5
TIE = 1e-6
QUANTIZERS = ("plain", "ema", "rosinality")


def train(m: object, model: object, quantizer: str, resume_at: int | None = None) -> dict:
    return m.train(model, STEPS, lambda: m.Model(quantizer=quantizer), resume_at=resume_at,
                   init_codes=True, log_every=5)


def agree(theirs: dict, ours: dict) -> None:
    for key in ("recon_error", "vq_loss", "perplexity", "norm"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    for step, (got, want, margin) in enumerate(zip(ours["indices"], theirs["indices"], theirs["margins"],
                                                   strict=True)):
        assert got.dtype == want.dtype == np.int64
        clear = margin > TIE
        assert np.array_equal(got[clear], want[clear]), step
    for got, want in zip(ours["buffers"], theirs["buffers"], strict=True):
        assert list(got) == list(want)
        assert_params_close(got, want, **TOL)
    assert len(ours["lines"]) == len(theirs["lines"]) == 6
    for got, want in zip(ours["lines"], theirs["lines"]):  # '%.3f' can round the other way: the numbers by value
        if ":" in want:
            (got, got_value), (want, want_value) = got.split(": "), want.split(": ")
            assert float(got_value) == pytest.approx(float(want_value), abs=1.1e-3)
        assert got == want
    np.testing.assert_allclose(ours["eval"], theirs["eval"], **TOL)
    assert list(ours["params"]) == list(theirs["params"])
    assert_params_close(ours["params"], theirs["params"], **PARAM_TOL)


@pytest.mark.parametrize("quantizer", QUANTIZERS)
def test_vqvae_matches_torch_and_resumes_exactly(one_torch_thread: None, quantizer: str) -> None:
    theirs, ours = from_torch_weights(HERE / "vqvae.py", lambda m: m.Model(quantizer=quantizer),
                                      lambda m, model, lib: train(m, model, quantizer))
    agree(theirs, ours)
    assert max(ours["perplexity"]) > 2
    assert ours["eval"].shape == (16, 3, 16, 16)
    with program(HERE / "vqvae.py", "torch") as t:
        torch.manual_seed(0)
        weights = {k: v.numpy().copy() for k, v in t.Model(quantizer=quantizer).state_dict().items()}
    with program(HERE / "vqvae.py", "ours") as m:
        model = m.Model(quantizer=quantizer)
        model.load_state_dict(weights)
        resumed = train(m, model, quantizer, resume_at=RESUME_AT)
    for key in ours:
        whole, again = (ours[key], resumed[key]) if isinstance(ours[key], list) else ([ours[key]], [resumed[key]])
        for a, b in zip(whole, again, strict=True):
            assert (a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a) if isinstance(a, dict)
                    else np.array_equal(a, b)), key


def test_vqvae2_matches_torch(one_torch_thread: None) -> None:
    """rosinality's two-level VQ-VAE-2 (torch.cat of decoded top latents with the bottom encoder's, ConvTranspose2d
    upsampling, two ``Quantize``), its train loop's progress lines, and ``decode_code`` of the eval codes."""
    theirs, ours = from_torch_weights(HERE / "vqvae.py", lambda m: m.VQVAE(),
                                      lambda m, model, lib: m.train_vqvae2(model, STEPS))
    for key in ("recon", "latent", "norm", "sample", "decoded"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    for key, margin in zip(("id_t", "id_b"), theirs["eval_margins"], strict=True):
        assert ours[key].shape == theirs[key].shape
        clear = margin.reshape(ours[key].shape) > TIE
        assert np.array_equal(ours[key][clear], theirs[key][clear]), key
    np.testing.assert_array_equal(ours["decoded"], ours["sample"])  # eval: the codes' embeddings, exactly
    for got, want in zip(ours["buffers"], theirs["buffers"], strict=True):
        assert_params_close(got, want, **TOL)
    assert ours["lines"] == theirs["lines"] and ours["lines"][-1].endswith("lr: 0.00030")
    assert list(ours["params"]) == list(theirs["params"])
    assert_params_close(ours["params"], theirs["params"], **PARAM_TOL)
