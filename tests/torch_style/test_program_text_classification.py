"""The text classification program (``text_classification.py``: a Counter vocabulary, ``collate_batch`` with flat
text and cumsum offsets, EmbeddingBag in mode "mean", "max" or "sum" with per_sample_weights, SGD at lr=5,
clip_grad_norm_, StepLR stepped when the validation accuracy drops, ``predict``) run on torch and on ours from
torch's initial weights and the same batch order: the same numbers step by step, on synthetic text and on IMDB."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import realdata
from test_programs import HERE, EpochOrder, needs, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

FILE = HERE / "text_classification.py"


def synthetic_text(seed: int, n: int, noise: float = 0.15, empty: bool = True) -> list[tuple[int, str]]:
    """(label, text) pairs in 4 classes: 5-30 words from a shared pool of 40 and the label's own 10, with
    punctuation; a fraction ``noise`` of the labels is random, so accuracy stays below 1 and can fall. With
    ``empty``, review 3 has no words at all (an empty bag: zeros in every mode)."""
    rng = np.random.default_rng(seed)
    data = []
    for _ in range(n):
        label = int(rng.integers(4))
        words = [f"w{rng.integers(40)}" if rng.random() < 0.6 else f"c{label}x{rng.integers(10)}"
                 for _ in range(rng.integers(5, 31))]
        text = " ".join(words[:3]).capitalize() + ", " + " ".join(words[3:]) + rng.choice([".", "!", "?"])
        data.append((int(rng.integers(4)) if rng.random() < noise else label, text))
    if empty:
        data[3] = (data[3][0], "<br /><br />")
    return data


def imdb_text(n_train: int, n_valid: int, n_test: int) -> tuple[list, list, list]:
    """(label, text) reviews from the real IMDB file: training and validation reviews from a fixed permutation of
    the training split, test reviews from one of the test split."""
    path = realdata.find("imdb") / "imdb" / "imdb_reviews.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = f.readlines()  # the 25,000 training reviews, then the 25,000 test reviews

    def reviews(first: int, seed: int, n: int) -> list[tuple[int, str]]:
        records = [json.loads(lines[first + i]) for i in np.random.default_rng(seed).permutation(25_000)[:n]]
        assert all(r["split"] == ("train", "test")[first > 0] for r in records)
        return [(r["label"], r["text"]) for r in records]

    pick = reviews(0, 0, n_train + n_valid)
    return pick[:n_train], pick[n_train:], reviews(25_000, 1, n_test)


def run_both(data: tuple[list, list, list], mode: str, num_class: int, embed_dim: int,
             **options) -> tuple[dict, dict, object, object]:
    """The program on both from torch's initial weights; (ours, torch's) histories and models."""
    train_data, valid_data, test_data = data
    histories, models = {}, {}
    with program(FILE, "torch") as t, program(FILE, "ours") as o:
        vocab = t.build_vocab(train_data)
        assert o.build_vocab(train_data).itos == vocab.itos
        idf = t.inverse_document_frequency(train_data, vocab) if mode == "sum" else None
        torch.manual_seed(0)
        models["torch"] = t.TextClassificationModel(len(vocab), embed_dim, num_class, mode)
        models["ours"] = o.TextClassificationModel(len(vocab), embed_dim, num_class, mode)
        assert list(models["ours"].state_dict()) == list(models["torch"].state_dict())
        models["ours"].load_state_dict({k: v.numpy() for k, v in models["torch"].state_dict().items()})
        for lib, m in (("torch", t), ("ours", o)):
            pipeline = m.Pipeline(m.build_vocab(train_data), idf)
            histories[lib] = m.run(models[lib], pipeline, train_data, valid_data, test_data,
                                   EpochOrder(len(train_data), 5), **options)
    return histories["ours"], histories["torch"], models["ours"], models["torch"]


def assert_same(got: dict, want: dict, ours, theirs, rtol: float, atol: float) -> None:
    """The same accuracies, schedule and predictions; losses and gradient norms within ``rtol``, the trained
    weights within ``atol``; and it learned."""
    # every count of right answers is an integer: the accuracies (and so the schedule and the lrs) agree exactly
    for key in ("train_acc", "valid_acc", "lr", "predicted"):
        assert got[key] == want[key], key
    assert got["test_acc"] == want["test_acc"]
    for key in ("loss", "norm", "valid_loss", "test_loss"):
        np.testing.assert_allclose(got[key], want[key], rtol=rtol, err_msg=key)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(dict(ours.named_parameters())[name].detach().numpy(), p.detach().numpy(),
                                   atol=atol, err_msg=name)
    assert np.mean(got["loss"][-5:]) < np.mean(got["loss"][:5]) - 0.05  # it learned
    assert got["lr"][-1] < got["lr"][0] == 5  # the validation accuracy fell: StepLR cut the rate


# SGD at lr=5 makes each step's rounding grow: in float32, torch's own results differ from its float64 results by
# ~1e-4 relative in a small gradient norm on IMDB (1e-5 in the loss), as much as ours differ from torch's; on the
# synthetic text (a small vocabulary, short reviews) both stay under 1e-6. A wrong gradient moves a weight by up to
# lr * max_norm = 0.5 in one step, far beyond these tolerances.
@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("mode", ["mean", "max", "sum"])
def test_text_classification_on_synthetic_text_matches_torch(mode: str) -> None:
    data = synthetic_text(0, 320), synthetic_text(1, 64), synthetic_text(2, 64, noise=0.0, empty=False)
    got, want, ours, theirs = run_both(data, mode, 4, 16, epochs=6)
    assert_same(got, want, ours, theirs, rtol=1e-5, atol=2e-6)
    assert got["test_acc"] > 0.9


@needs("imdb")
@pytest.mark.usefixtures("one_torch_thread")
def test_text_classification_on_imdb_matches_torch() -> None:
    got, want, ours, theirs = run_both(imdb_text(768, 96, 96), "mean", 2, 64, epochs=5)
    assert_same(got, want, ours, theirs, rtol=3e-4, atol=3e-5)
    assert got["valid_acc"][-1] > 0.6 and got["test_acc"] > 0.6


@pytest.mark.gpu
@pytest.mark.parametrize("mode", ["mean", "max", "sum"])
def test_text_classification_on_the_gpu_gives_the_cpu_numbers(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same program with its ``device`` the GPU: the bags (an empty one included), clipping, the schedule and
    ``predict`` (back on the CPU) give the CPU's numbers."""
    import tinygrad_adam as tg

    data = synthetic_text(0, 96), synthetic_text(1, 32), synthetic_text(2, 16, noise=0.0, empty=False)
    runs = {}
    with program(FILE, "ours") as o:
        vocab = o.build_vocab(data[0])
        pipeline = o.Pipeline(vocab, o.inverse_document_frequency(data[0], vocab) if mode == "sum" else None)
        state = o.TextClassificationModel(len(vocab), 8, 4, mode).state_dict()  # CPU tensors
        for device in ("cpu", "cuda"):
            monkeypatch.setattr(o, "device", tg.device(device))
            assert pipeline.collate_batch(data[0][:2])[1].device.type == device
            model = o.TextClassificationModel(len(vocab), 8, 4, mode)
            model.load_state_dict(state)
            runs[device] = o.run(model, pipeline, *data, EpochOrder(96, 5), epochs=3)
    for key, want in runs["cpu"].items():
        np.testing.assert_allclose(runs["cuda"][key], want, rtol=1e-5, atol=1e-6, err_msg=key)
