"""``old_seq2seq_tutorial.py`` (the 2017 seq2seq-with-attention translation tutorial in its original spelling, on
a synthetic corpus of reversed word sequences) run on torch and, imports swapped, on ours from torch's initial
weights and the same numpy pairs and teacher-forcing coins: per iteration the losses agree, the greedy
translations are equal, and so are their attention matrices, the final parameters of both networks and the
translation after the ``torch.save`` / ``torch.load`` round trip of both state_dicts; the tutorial's
``loss.data[0]`` raises IndexError in both.

Tolerances: float32 with plain SGD, so the runs differ by summation order only and do not drift: measured over 80
iterations at most 3.6e-7 absolute on the per-iteration losses (2.0e-7 relative), 4.5e-8 on attention weights and
2.4e-7 on parameters; we allow rtol 1e-5 with atol 1e-6 (attention weights and parameters near zero)."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "old_seq2seq_tutorial.py"
TOL = {"rtol": 1e-5, "atol": 1e-6}


def test_old_seq2seq_tutorial_matches_torch(one_torch_thread: None, tmp_path) -> None:
    def make(m):
        input_lang, output_lang, _ = m.make_pairs()
        return m.nn.ModuleList(m.make_models(input_lang, output_lang))  # one state_dict for the harness

    def run(m, models, lib):
        input_lang, output_lang, pairs = m.make_pairs()
        (tmp_path / lib).mkdir()
        return m.trainIters(models[0], models[1], input_lang, output_lang, pairs, path=tmp_path / lib)

    theirs, ours = from_torch_weights(PATH, make, run)
    assert ours["forced"] == theirs["forced"] and 0 < sum(ours["forced"]) < len(ours["forced"])
    np.testing.assert_allclose(ours["loss"], theirs["loss"], **TOL)
    assert ours["decoded"] == theirs["decoded"]
    assert [a.shape for a in ours["attentions"]] == [a.shape for a in theirs["attentions"]]
    for a, b in zip(ours["attentions"], theirs["attentions"]):
        np.testing.assert_allclose(a, b, **TOL)
        np.testing.assert_allclose(a.sum(1), 1.0, rtol=1e-5)  # each row a softmax over the encoder outputs
    assert ours["reloaded"][0] == theirs["reloaded"][0] == ours["decoded"][0]
    np.testing.assert_allclose(ours["reloaded"][1], theirs["reloaded"][1], **TOL)
    assert_params_close(ours["params"], theirs["params"], **TOL)
    assert ours["old_item"] == theirs["old_item"] == "IndexError"
    assert np.mean(ours["loss"][-20:]) < 0.9 * np.mean(ours["loss"][:20])  # it learned (2.17 -> 1.88)
