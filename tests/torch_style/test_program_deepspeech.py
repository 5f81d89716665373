"""``deepspeech.py`` (SeanNaren/deepspeech.pytorch's DeepSpeech 2: MaskConv, BatchRNN over packed sequences,
Lookahead, the SequenceWise head, CTC training with ``check_loss``, the greedy decoder's WER / CER, checkpoints and
``--continue-from``) run on torch and, imports swapped, on ours, from torch's initial weights and the same numpy
spectrograms and bucket shuffles: the losses, gradient norms, parameters and BatchNorm buffers after every step, the
output lengths, the printed lines, the eval-mode softmax outputs, the decoded strings, WER / CER and the annealed
learning rates agree; for the bidirectional LSTM under SGD + Nesterov on sorted batches, the unidirectional GRU with
Lookahead under AdamW on unsorted ones, and ``zero_infinity=False``, where the batch holding the impossible target
gets an inf loss in both and its update is skipped. A resumed run equals the uninterrupted one exactly.

Tolerances: float32, the runs differing by summation order in the convolutions, BatchNorm (over the T*N rows,
padding included, as the repository's SequenceWise does), the recurrent matmuls and the CTC recursion. Measured over
6 steps per run (3 for the inf run): losses within 2.2e-7 relative, gradient norms 4.7e-6 relative (the GRU /
Lookahead model, whose gradients are ill-conditioned: against a float64 torch run of the same first step, torch's
float32 gradients are 2.1e-5 off per element, ours 9.1e-6), parameters and buffers 2.7e-6 absolute, eval softmax
outputs 1.5e-6. We allow rtol 1e-5 for losses and norms, atol 1e-5 for parameters, buffers and probabilities.
Output lengths, decoded strings, references, WER / CER, learning rates and skipped steps are compared exactly; the
printed lines' text exactly and their numbers to their printed precision (a loss of 22.19435 printed as 22.1943 in
one and 22.1944 in the other). The resume runs with ``--no-shuffle`` and ``--learning-anneal 1.0``: the repository
saves the epoch checkpoint before annealing (so a resumed run would restart at the unannealed lr), its
BucketingSampler shuffles each bin's ids in place (a fresh sampler starts from the unshuffled ones; the sorted
collate makes that order irrelevant, the corpus having distinct lengths) and its AverageMeter spans epochs (so
only the summary lines are compared). The file takes about 5 s (torch on one thread) on a shared 2-core machine,
2.5 s of it torch's first optimizer importing torch._dynamo."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "deepspeech.py"
RTOL, ATOL = 1e-5, 1e-5
NUMBER = re.compile(r"\d+\.\d+")
AUDIO_CONF = dict(sample_rate=3000, window_size=0.01, window_stride=0.005, window="hamming")
SGD = ["--lr", "0.02", "--momentum", "0.9"]
ADAMW = ["--optim", "adam", "--lr", "5e-3", "--weight-decay", "1e-2", "--max-norm", "5"]


def train(tmp_path: Path, argv: list[str]) -> tuple[dict, dict]:
    """Both libraries' runs of ``main(argv)`` on the same corpora, from torch's initial weights."""
    def make(m: object) -> object:
        return m.make_model(m.parser.parse_args(argv), AUDIO_CONF)

    def run(m: object, model: object, lib: str) -> dict:
        folder = tmp_path / lib
        folder.mkdir()
        np.random.seed(0)
        history: dict = {}
        m.main([*argv, "--checkpoint", "--save-folder", str(folder), "--model-path", str(folder / "best.pth")],
               m.make_corpus(12, 0, long_target=True), m.make_corpus(6, 1), model, history)
        return history
    return from_torch_weights(PROGRAM, make, run)


def agree(theirs: dict, ours: dict) -> None:
    """Every step's loss, gradient norm, parameters and buffers; the exact series; the eval outputs."""
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=RTOL)
    assert [n is None for n in ours["grad_norm"]] == [n is None for n in theirs["grad_norm"]]
    norms = [(o, t) for o, t in zip(ours["grad_norm"], theirs["grad_norm"], strict=True) if t is not None]
    np.testing.assert_allclose(*zip(*norms, strict=True), rtol=RTOL)
    for step, (got, want) in enumerate(zip(ours["state"], theirs["state"], strict=True)):
        assert list(got) == list(want)
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=ATOL, err_msg=f"{name} at step {step}")
    for got, want in zip(ours["eval_probs"], theirs["eval_probs"], strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)
    assert len(ours["lines"]) == len(theirs["lines"])
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):  # the text, and the numbers to print precision
        assert NUMBER.split(got) == NUMBER.split(want), (got, want)
        np.testing.assert_allclose([float(v) for v in NUMBER.findall(got)], [float(v) for v in NUMBER.findall(want)],
                                   rtol=0, atol=1.01e-4, err_msg=want)
    for key in ("output_sizes", "decoded", "references", "wer", "cer", "lr", "skipped", "loss_value",
                "loss_results", "wer_results", "cer_results"):
        if key in ("loss_value", "loss_results"):
            np.testing.assert_allclose(ours[key], theirs[key], rtol=RTOL)
        else:
            assert ours[key] == theirs[key], key


def test_bidirectional_lstm_sgd_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    theirs, ours = train(tmp_path, SGD)
    agree(theirs, ours)
    assert ours["lr"] == pytest.approx([0.02 / 1.1, 0.02 / 1.1 ** 2], rel=1e-15)
    assert not ours["skipped"] and all(math.isfinite(v) for v in ours["loss"])
    # the sorted collate: lengths descending in every batch, the impossible utterance (5 output frames) in the first
    assert all(sizes == sorted(sizes, reverse=True) for sizes in ours["output_sizes"])
    assert 5 in ours["output_sizes"][0]
    assert {"rnns.1.rnn.weight_hh_l0_reverse", "rnns.1.batch_norm.module.running_mean"} <= set(ours["state"][0])


def test_unidirectional_gru_adamw_unsorted_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    theirs, ours = train(tmp_path, [*ADAMW, "--unidirectional", "--rnn-type", "gru", "--unsorted"])
    agree(theirs, ours)
    assert "lookahead.0.conv.weight" in ours["state"][0]
    assert min(ours["grad_norm"]) > 5  # clip_grad_norm_(max_norm=5) scaled every step
    assert any(sizes != sorted(sizes, reverse=True) for sizes in ours["output_sizes"])


def test_infinite_loss_skips_the_step(one_torch_thread: None, tmp_path: Path) -> None:
    """Without zero_infinity the batch with the impossible target has an inf loss in both libraries: check_loss
    rejects it, no update is made (the state is the one before), and the logged loss value is 0."""
    theirs, ours = train(tmp_path, [*SGD, "--no-zero-infinity", "--epochs", "1"])
    agree(theirs, ours)
    assert ours["skipped"] == [(0, 0, "WARNING: received an inf loss")]
    assert ours["loss"][0] == math.inf and ours["loss_value"][0] == 0 and ours["grad_norm"][0] is None
    with program(PROGRAM, "torch") as m:
        torch.manual_seed(0)
        start = m.make_model(m.parser.parse_args(SGD), AUDIO_CONF).state_dict()
    for name, value in start.items():  # the forward ran (BatchNorm statistics moved), the parameters did not
        same = np.array_equal(ours["state"][0][name], value.numpy())
        assert same == ("running" not in name and "num_batches" not in name), name


def test_resume_equals_uninterrupted(tmp_path: Path) -> None:
    """Ours: 2 epochs at once, or 1 epoch, its ``deepspeech_1.pth.tar`` and ``--continue-from`` for the second (the
    numpy draws continued, bins unshuffled), give the same numbers exactly."""
    runs = []
    with program(PROGRAM, "ours") as m:
        corpora = (m.make_corpus(12, 0, long_target=True), m.make_corpus(6, 1))
        for resume in (False, True):
            folder = tmp_path / str(resume)
            folder.mkdir()
            argv = [*SGD, "--checkpoint", "--save-folder", str(folder), "--model-path", str(folder / "best.pth"),
                    "--no-shuffle", "--learning-anneal", "1.0"]
            np.random.seed(0)
            m.torch.manual_seed(0)
            history: dict = {}
            model = m.make_model(m.parser.parse_args(SGD), AUDIO_CONF)
            if resume:  # the first epoch's bucket draws, replayed; then its checkpoint from the run above
                list(m.BucketingSampler(range(12), batch_size=4))
                argv += ["--continue-from", str(tmp_path / "False" / "deepspeech_1.pth.tar")]
            model = m.main(argv, *corpora, model, history)
            runs.append({"loss": history["loss"][-3:], "lr": history["lr"][-1:], "wer": history["wer"][-1:],
                         "lines": history["lines"][-2:], "decoded": history["decoded"][-2:],
                         "params": {k: v.detach().numpy() for k, v in model.state_dict().items()}})
    assert_same_run(*runs)


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_model_pieces(one_torch_thread: None, lib: str) -> None:
    """What both libraries must compute: the conv length formula against the convs' real output lengths, MaskConv's
    zeros past each length, the padded collate's truncated sizes, the summed directions, Lookahead as a depthwise
    causal-right window, eval-mode probabilities, the greedy decoder, WER / CER and check_loss."""
    with program(PROGRAM, lib) as m:
        t = m.torch
        t.manual_seed(0)
        model = m.make_model(m.parser.parse_args(["--unidirectional", "--context", "3"]), AUDIO_CONF)
        some = [1, 2, 3, 4, 5, 12, 13, 24, 25]
        lengths = t.IntTensor(some)
        convs = model.conv.seq_module
        real = [convs[3](convs[0](t.zeros(1, 1, 16, n))).size(3) for n in some]
        assert model.get_seq_lens(lengths).tolist() == real and model.get_seq_lens(lengths).dtype == t.int32

        x = t.from_numpy(np.random.default_rng(0).normal(size=(3, 1, 16, 13)).astype(np.float32)) + 1
        sizes = t.IntTensor([13, 9, 4])
        out, _ = model.conv(x, model.get_seq_lens(sizes))
        assert out.shape == (3, 4, 4, 7) and bool((out[1, :, :, 5:] == 0).all()) and bool((out[2, :, :, 2:] == 0).all())
        hard = out.detach()  # Hardtanh(0, 20) last
        assert bool((hard[0] != 0).any()) and float(hard.max()) <= 20 and float(hard.min()) >= 0

        model.eval()
        probs, out_sizes = model(x, sizes)
        assert probs.shape == (3, 7, len(m.LABELS)) and out_sizes.tolist() == [7, 5, 2]
        np.testing.assert_allclose(probs.detach().sum(-1).numpy(), 1, rtol=1e-6)
        model.train()
        logits, _ = model(x, sizes)
        assert not np.allclose(logits.detach().sum(-1).numpy(), 1)

        look = model.lookahead[0]
        seq = t.from_numpy(np.random.default_rng(1).normal(size=(5, 2, 8)).astype(np.float32))
        w = look.conv.weight.detach().numpy()[:, 0]  # (8, 3)
        padded = np.concatenate([seq.numpy(), np.zeros((2, 2, 8), np.float32)])
        want = sum(padded[k:k + 5] * w[:, k] for k in range(3))
        np.testing.assert_allclose(look(seq).detach().numpy(), want, rtol=1e-5, atol=1e-6)

        bi = m.BatchRNN(8, 4, rnn_type=m.nn.LSTM, bidirectional=True, batch_norm=False)
        bi.flatten_parameters()
        y = bi(seq, t.IntTensor([5, 3]))
        packed = m.nn.utils.rnn.pack_padded_sequence(seq, t.tensor([5, 3]), enforce_sorted=False)
        full, _ = m.nn.utils.rnn.pad_packed_sequence(bi.rnn(packed)[0])
        np.testing.assert_allclose(y.detach().numpy(), (full[..., :4] + full[..., 4:]).detach().numpy(), rtol=1e-6)
        assert y.shape == (5, 2, 4) and bool((y[3:, 1] == 0).all())

        batch = [(t.ones(16, n), [2, 3]) for n in (7, 13, 9)]
        inputs, targets, percentages, target_sizes = m._collate_fn(batch)
        assert inputs.shape == (3, 1, 16, 13) and targets.dtype == t.int32 and target_sizes.tolist() == [2, 2, 2]
        assert percentages.mul_(13).int().tolist() == [13, 9, 7] and float(inputs[2, 0, 0, 7:].sum()) == 0

        decoder = m.GreedyDecoder(m.LABELS)
        seq_ids = t.tensor([[0, 3, 3, 0, 3, 12, 12, 4, 0, 0]])
        onehot = m.F.one_hot(seq_ids, len(m.LABELS)).float()
        strings, offsets = decoder.decode(onehot, [10])
        assert strings == [["BB C"]] and offsets[0][0].tolist() == [1, 4, 5, 7]
        assert decoder.decode(onehot, [3])[0] == [["B"]] and decoder.decode(onehot, [1])[1][0][0].tolist() == []
        assert decoder.wer("the cat sat", "the hat sat down") == 2 and decoder.cer("ab c", "abd") == 1
        assert m.levenshtein("kitten", "sitting") == 3 and m.levenshtein("", "abc") == 3

        nan = t.tensor(float("nan"))
        assert m.check_loss(nan, nan.item()) == (False, "WARNING: received a nan loss, setting loss value to 0")
        assert m.check_loss(t.tensor(-1.0), -1.0) == (False, "WARNING: received a negative loss")
        assert m.check_loss(t.tensor(2.0), 2.0) == (True, "")
