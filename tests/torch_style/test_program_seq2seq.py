"""The seq2seq program (``seq2seq.py``: a bidirectional LSTM encoder over a packed batch, an LSTMCell decoder with
additive or dot attention, teacher forcing, Adam, clip_grad_norm_, ReduceLROnPlateau, greedy decoding) run on torch
and on ours from torch's initial weights and the same numpy batches: the same numbers step by step."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

VOCAB = 13  # PAD, SOS, EOS and ten digits


def reversal_data(seed: int, steps: int, batch: int) -> tuple[list, list, list]:
    """``steps`` training batches and one validation batch of (digits, reversed digits) of lengths 1..6, and a
    teacher-forcing coin (p = 0.5) per step and target position."""
    rng = np.random.default_rng(seed)

    def pairs(n: int) -> list[tuple[list[int], list[int]]]:
        seqs = [[int(v) for v in rng.integers(3, VOCAB, rng.integers(1, 7))] for _ in range(n)]
        return [(s, s[::-1]) for s in seqs]

    batches = [pairs(batch) for _ in range(steps)]
    teacher = [[bool(c) for c in rng.random(7) < 0.5] for _ in range(steps)]
    return batches, pairs(batch), teacher


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize(("attention", "steps"), [("additive", 24), ("dot", 12)])
def test_seq2seq_with_attention_matches_torch(attention: str, steps: int) -> None:
    batches, val, teacher = reversal_data({"additive": 0, "dot": 1}[attention], steps, 16)
    with program(HERE / "seq2seq.py", "torch") as t, program(HERE / "seq2seq.py", "ours") as o:
        torch.manual_seed(0)
        theirs = t.Seq2Seq(VOCAB, attention=attention)
        ours = o.Seq2Seq(VOCAB, attention=attention)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
        want = t.run(theirs, batches, val, teacher)
        got = o.run(ours, batches, val, teacher)
    # float32 through ~100 recurrent steps per batch and Adam: rounding differences grow to ~1e-6 relative; 2e-5
    # leaves room for other BLAS builds while any real difference (a wrong mask, gate or gradient) is far larger
    for key in ("loss", "norm", "val_loss", "lr"):
        np.testing.assert_allclose(got[key], want[key], rtol=2e-5, err_msg=key)
    np.testing.assert_array_equal(got["decoded"], want["decoded"])
    np.testing.assert_allclose(got["attention"], want["attention"], rtol=1e-4, atol=1e-6)
    # Adam steps by about lr whatever a gradient's size. The attention's gradients are tiny (1e-5: the scores are
    # near-uniform and the softmax cancels most of each), so their rounding is ~1e-5 relative and those weights
    # drift apart by up to ~1e-4 (a few thousandths of 24 steps' travel); the others agree to ~1e-6. A wrong
    # gradient would move a weight by ~lr = 2e-2.
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(dict(ours.named_parameters())[name].detach().numpy(), p.detach().numpy(),
                                   rtol=1e-4, atol=3e-4 if ".attention." in name else 1e-5, err_msg=name)
    # the padding rows of both embeddings never move, and no attention falls on a padding position
    assert not ours.encoder.embedding.weight[0].detach().numpy().any()
    assert not ours.decoder.embedding.weight[0].detach().numpy().any()
    lengths = np.array([len(s) for s, _ in val])
    pad = np.arange(got["attention"].shape[2])[None, None, :] >= lengths[:, None, None]
    assert not got["attention"][np.broadcast_to(pad, got["attention"].shape)].any()
    np.testing.assert_allclose(got["attention"].sum(-1), 1.0, rtol=1e-5)
    # it trained: the loss fell, the plateau schedule cut the rate at least once
    assert np.mean(got["loss"][-4:]) < np.mean(got["loss"][:4]) - 0.1
    assert got["lr"][-1] < got["lr"][0]


@pytest.mark.gpu
def test_seq2seq_on_the_gpu_gives_the_cpu_numbers() -> None:
    """The same program on our GPU (tensors made on the default device): packing, the bidirectional LSTM, the
    attention decoder, Adam and the schedule give the CPU's numbers."""
    import tinygrad_adam as tg

    batches, val, teacher = reversal_data(1, 4, 8)
    runs = {}
    with program(HERE / "seq2seq.py", "ours") as o:
        state = {k: tg.tensor(v).numpy() for k, v in o.Seq2Seq(VOCAB, attention="dot").state_dict().items()}
        for device in ("cpu", "cuda"):
            tg.set_default_device(device)
            try:
                model = o.Seq2Seq(VOCAB, attention="dot").to(device)
                model.load_state_dict(state)
                assert str(next(model.parameters()).device).startswith(device)
                runs[device] = o.run(model, batches, val, teacher)
            finally:
                tg.set_default_device("cpu")
    for key, want in runs["cpu"].items():
        np.testing.assert_allclose(runs["cuda"][key], want, rtol=1e-4, atol=1e-6, err_msg=key)
