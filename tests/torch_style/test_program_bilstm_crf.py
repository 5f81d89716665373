"""``bilstm_crf.py`` (PyTorch's Bi-LSTM CRF tutorial as written: ``argmax`` by ``torch.max(vec, 1)`` + ``.item()``,
``log_sum_exp`` through a ``view(1, -1).expand``, the per-tag forward algorithm and Viterbi loops over
``torch.cat`` of 1-element pieces, ``_score_sentence`` indexing the transitions by 0-d long tensors, SGD with weight
decay, ``model.zero_grad()`` and the ``no_grad`` checks before and after) run on torch and, imports swapped, on
ours: from torch's initial weights, with ``init_hidden``'s ``torch.randn`` states copied from torch's run (the two
libraries' generators differ), on the tutorial's two sentences and on synthetic ones over 7 tags (+ START / STOP).

Tolerances: float32 throughout, one sentence per step. Measured: losses within 1.9e-6 absolute (values 5-19, so
1.3e-7 relative), Viterbi scores within 9.6e-7, final parameters within 2.4e-7 (the transitions' -10000
entries equal). We allow rtol 1e-5 and atol 1e-5. The Viterbi paths must be equal exactly: they could differ only
where two path scores lie within rounding of each other, which these seeds never meet."""

from __future__ import annotations

import types

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 1e-5}


def both(data: str, epochs: int, **synthetic: int) -> tuple[dict, dict]:
    """``run`` on the tutorial's data (``data="tutorial"``) or ``synthetic_data(**synthetic)``, in torch, then in
    ours from torch's initial weights and with torch's ``init_hidden`` draws, in order."""
    draws: list[list[np.ndarray]] = []

    def sentences(m: types.ModuleType) -> tuple[list, dict]:
        return (m.TUTORIAL_DATA, m.TUTORIAL_TAGS) if data == "tutorial" else m.synthetic_data(**synthetic)

    def run(m: types.ModuleType, model: object, lib: str) -> dict:
        if lib == "torch":
            draw = model.init_hidden

            def init_hidden() -> tuple:
                hidden = draw()
                draws.append([h.numpy().copy() for h in hidden])
                return hidden
        else:
            saved = iter(draws)

            def init_hidden() -> tuple:
                return tuple(m.torch.tensor(h) for h in next(saved))
        model.init_hidden = init_hidden
        return m.run(model, sentences(m)[0], epochs)

    theirs, ours = from_torch_weights(HERE / "bilstm_crf.py", lambda m: m.make_model(*sentences(m)), run)
    assert len(draws) == len(theirs["loss"]) + len(theirs["score"]) + 2  # every forward drew one state, all used
    return theirs, ours


def agree(theirs: dict, ours: dict) -> None:
    assert ours.keys() == theirs.keys()
    assert ours["path"] == theirs["path"] and ours["precheck"] == theirs["precheck"]
    assert all(isinstance(i, int) for path in ours["path"] for i in path)  # argmax's .item() gave Python ints
    for key in ("loss", "score", "precheck_nll"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert_params_close(ours["params"], theirs["params"], **TOL)


def test_tutorial_data_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both("tutorial", 8)
    agree(theirs, ours)
    losses = np.reshape(ours["loss"], (8, 2))
    assert np.all(losses[-1] < losses[0])  # both sentences' negative log-likelihoods fell


@pytest.mark.parametrize("seed", [0, 1])
def test_synthetic_tag_set_matches_torch(one_torch_thread: None, seed: int) -> None:
    theirs, ours = both("synthetic", 3, seed=seed, n_tags=7)
    agree(theirs, ours)
    assert all(len(path) >= 3 and max(path) < 7 for path in ours["path"])  # never START / STOP inside a path
    losses = np.reshape(ours["loss"], (3, -1))
    assert np.all(losses[-1] < losses[0])
