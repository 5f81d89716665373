"""``conformer.py`` (a small ESPnet / WeNet-style Conformer CTC recognizer: a matmul-DFT log-mel front end over
``unfold`` frames, SpecAugment masks, Conv2dSubsampling4, RelPositionalEncoding + RelPositionMultiHeadedAttention
with ``rel_shift``, the GLU / depthwise-Conv1d / BatchNorm1d ConvolutionModule, macaron FFNs, CTC + intermediate
CTC, AdamW under a Noam LambdaLR, clip_grad_norm_, greedy ``unique_consecutive`` decoding) run on torch and, imports
swapped, on ours from torch's initial weights and the same numpy waveforms and SpecAugment starts.

Tolerances: float32. The front end's log of near-silent frames magnifies 1-ulp differences of ``10 ** x`` (the mel
points), ``cos`` / ``sin`` and the DFT sums (measured 8.6e-5 absolute in the normalised features, torch itself being
3.3e-5 from a float64 run). The linear_pos weight's cosine columns at low frequencies see pos_emb features that are
nearly constant over positions, so their gradients are ~1e-8 with float32 noise ~1e-9 and Adam turns that noise into
full-size steps in both libraries: only its sine columns are compared. Measured over 18 steps: losses 6.9e-7 and
gradient norms 1.6e-6 relative, parameters 1.8e-4 and BatchNorm running stats 7.6e-4 absolute, eval log-probs
3.6e-5, attention 3.7e-6."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_programs import run_on_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = Path(__file__).resolve().parent / "conformer.py"


def test_conformer_ctc_trains_like_torch(one_torch_thread: None) -> None:
    theirs, ours = run_on_torch_weights(PROGRAM)
    np.testing.assert_array_equal(ours["rel_shift"], theirs["rel_shift"])
    np.testing.assert_allclose(ours["fbank"], theirs["fbank"], rtol=1e-4, atol=5e-6)
    np.testing.assert_allclose(ours["feats"], theirs["feats"], atol=3e-4)
    assert ours["feat_lens"] == theirs["feat_lens"]
    assert ours["out_lens"] == theirs["out_lens"]
    assert ours["lr"] == theirs["lr"]
    for key in ("loss", "ctc", "inter", "grad_norm"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, err_msg=key)
    assert theirs["loss"][-1] < 0.6 * theirs["loss"][0]
    np.testing.assert_allclose(ours["eval_logp"], theirs["eval_logp"], atol=2e-4)
    np.testing.assert_allclose(ours["attn"], theirs["attn"], atol=2e-5)
    assert ours["hyps"] == theirs["hyps"] and ours["cer"] == theirs["cer"]
    assert ours["params"].keys() == theirs["params"].keys()
    for name, want in theirs["params"].items():
        got = ours["params"][name]
        if "linear_pos" in name:
            got, want = got[:, 0::2], want[:, 0::2]
        np.testing.assert_allclose(got, want, atol=2e-3, err_msg=name)
