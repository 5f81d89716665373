"""The word language model program (``word_lm.py``, after pytorch/examples' word_language_model: Corpus /
Dictionary, batchify, get_batch, the LSTM RNNModel with a detached hidden tuple and the TransformerModel with a
PositionalEncoding buffer and the square subsequent mask, NLLLoss, clip_grad_norm_, hand-written SGD, lr /= 4 on a
validation plateau, perplexity, the best state_dict kept) run on torch and on ours from torch's initial weights: the
same numbers step by step, on a synthetic corpus and on a slice of Tiny Shakespeare. Series within rtol 2e-4,
parameters within rtol 2e-3 and atol 3e-5 (hand-written SGD at lr 20 on tied GRU weights: on an AMD EPYC with
OpenBLAS's Haswell kernels one embedding entry of 0.002 was 1.5e-5 off)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import realdata
from test_programs import HERE, needs, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

FILE = HERE / "word_lm.py"
SERIES = ("loss", "norm", "lr", "val_loss", "val_ppl", "epoch_lr", "test_loss", "test_ppl")


def synthetic_lines(seed: int, n: int) -> list[str]:
    """Lines of 3-9 words from a 20-word vocabulary where each word mostly picks its successor from 3: learnable."""
    rng = np.random.default_rng(seed)
    successors = np.random.default_rng(0).integers(0, 20, (20, 3))
    lines = []
    for _ in range(n):
        word, words = int(rng.integers(20)), []
        for _ in range(rng.integers(3, 10)):
            words.append(f"w{word}")
            word = int(successors[word, rng.integers(3)]) if rng.random() < 0.9 else int(rng.integers(20))
        lines.append(" ".join(words))
    return lines


def write_corpus(folder: Path, train: list[str], valid: list[str], test: list[str]) -> Path:
    for name, lines in (("train", train), ("valid", valid), ("test", test)):
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf8")
    return folder


def run_both(folder: Path, model: str, epochs: int, build: dict | None = None,
             **options) -> tuple[dict, dict, object, object]:
    """The program on both from torch's initial weights; (ours, torch's) histories and the trained models."""
    with program(FILE, "torch") as t, program(FILE, "ours") as o:
        corpora = o.Corpus(str(folder)), t.Corpus(str(folder))
        assert corpora[0].dictionary.idx2word == corpora[1].dictionary.idx2word
        for split in ("train", "valid", "test"):
            got, want = getattr(corpora[0], split), getattr(corpora[1], split)
            assert want.dtype == torch.int64 and str(got.dtype) == "int64"
            np.testing.assert_array_equal(got.numpy(), want.numpy())
        ntokens = len(corpora[1].dictionary)
        torch.manual_seed(0)
        theirs = getattr(t, model)(ntokens, **(build or {}))
        ours = getattr(o, model)(ntokens, **(build or {}))
        assert list(ours.state_dict()) == list(theirs.state_dict())  # the pe buffer included
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
        got = o.run(ours, corpora[0], epochs, **options)
        want = t.run(theirs, corpora[1], epochs, **options)
    return got, want, ours, theirs


def assert_same(got: dict, want: dict, ours, theirs, rtol: float) -> None:
    for key in SERIES:
        np.testing.assert_allclose(got[key], want[key], rtol=rtol, err_msg=key)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(dict(ours.named_parameters())[name].numpy(), p.detach().numpy(), rtol=10 * rtol,
                                   atol=3e-5, err_msg=name)


def test_batchify_and_get_batch_match_torch() -> None:
    ids = np.arange(23)
    with program(FILE, "torch") as t, program(FILE, "ours") as o:
        for lib, mod in ((torch, t), (__import__("tinygrad_adam"), o)):
            source = mod.batchify(lib.tensor(ids), 4)
            assert tuple(source.shape) == (5, 4) and source.is_contiguous()
            np.testing.assert_array_equal(source.numpy(), ids[:20].reshape(4, 5).T)
            data, target = mod.get_batch(source, 3, 7)  # the last slice is shorter than bptt
            np.testing.assert_array_equal(data.numpy(), source.numpy()[3:4])
            np.testing.assert_array_equal(target.numpy(), source.numpy()[4:5].reshape(-1))


def test_the_examples_whole_model_save_loads_back(tmp_path: Path) -> None:
    """The example keeps its best model by ``torch.save(model, f)`` and reads it back by ``torch.load(f)``: ours
    pickles the module whole, as torch's (it raised: no pickle), and ``weights_only=False`` gives it back, its
    weights the saved ones (this copy of the program saves the state_dict, which both defaults load)."""
    import tinygrad_adam

    with program(FILE, "ours") as o:
        model = o.RNNModel(5)
        with open(tmp_path / "model.pt", "wb") as f:
            tinygrad_adam.save(model, f)
        with open(tmp_path / "model.pt", "rb") as f:
            again = tinygrad_adam.load(f, weights_only=False)
    assert type(again).__name__ == "RNNModel" and list(again.state_dict()) == list(model.state_dict())
    for a, b in zip(again.state_dict().values(), model.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize(("model", "build", "lr"), [
    ("RNNModel", {}, 20.0),
    ("RNNModel", {"rnn_type": "GRU", "nhid": 16, "tie_weights": True}, 20.0),
    ("RNNModel", {"rnn_type": "RNN_RELU", "nlayers": 1}, 5.0),
    ("TransformerModel", {}, 2.0),
])
def test_word_lm_matches_torch_on_a_synthetic_corpus(tmp_path: Path, model: str, build: dict, lr: float) -> None:
    folder = write_corpus(tmp_path, synthetic_lines(1, 25), synthetic_lines(2, 6), synthetic_lines(3, 6))
    got, want, ours, theirs = run_both(folder, model, 3, build, lr=lr)
    if build.get("tie_weights"):
        assert ours.decoder.weight is ours.encoder.weight
    assert_same(got, want, ours, theirs, rtol=2e-4)
    assert got["val_loss"][-1] < got["val_loss"][0] and np.mean(got["loss"][-5:]) < np.mean(got["loss"][:5])
    assert min(got["epoch_lr"]) < lr  # a plateau annealed the rate at least once


@needs("tinyshakespeare")
def test_word_lm_matches_torch_on_tiny_shakespeare(tmp_path: Path) -> None:
    from tinygrad_adam.data import load_tinyshakespeare

    text = load_tinyshakespeare(realdata.find("tinyshakespeare"))  # checksum-verified
    lines = [line for line in text.splitlines() if line.strip()]
    folder = write_corpus(tmp_path, lines[:80], lines[80:100], lines[100:120])
    got, want, ours, theirs = run_both(folder, "RNNModel", 2, bptt=10, batch_size=8)
    assert_same(got, want, ours, theirs, rtol=2e-4)
    assert np.mean(got["loss"][-3:]) < np.mean(got["loss"][:3])  # too little text for the validation loss to fall
