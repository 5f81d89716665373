"""``captioning.py`` (yunjey's image_captioning: EncoderCNN over a tiny backbone, the packed-sequence DecoderRNN,
the sorting collate_fn, train.py and sample.py) run on torch and, imports swapped, on ours from torch's initial
weights and the same numpy-drawn batch order: the losses, perplexities, gradient norms, printed lines, the captions
sampled from the saved checkpoints (``torch.save`` / ``load_state_dict(torch.load(...))``), the greedy ids of a
probe batch and the final parameters and BatchNorm buffers agree; for the repository's sorted decoder (one and two
LSTM layers) and the unsorted variant (``enforce_sorted=False`` + ``pad_packed_sequence`` + ``ignore_index``).

Tolerances: float32; the runs differ by summation order in the convolutions, the LSTM's matmuls and the softmax.
Measured over 48 Adam steps (lr 2e-2): losses within 4.8e-7 (of 0.3-2.6), perplexities within 6.1e-6 absolute
(4.8e-7 relative), gradient norms within 4.2e-7 (1.3e-6 relative), parameters within 1.8e-6. We allow rtol 1e-5 and
atol 1e-5. The repository's ``Linear`` bias in front of ``BatchNorm1d`` gets a gradient that is pure rounding
(about 1e-9: the batch norm subtracts it out), which Adam scales up to full steps, so ``encoder.linear.bias`` (up to
0.16 apart) and ``encoder.bn.running_mean`` (0.04, its moving average) are rounding-decided in both libraries and
only checked for shape; nothing they feed in training mode differs. The greedy ids (training-mode batch norm),
the captions sampled in eval mode from the checkpoints and the log lines must be equal (no argmax met a near-tie,
and no printed number sat on a rounding edge, in these runs)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 1e-5}
RATTLED = ("encoder.linear.bias", "encoder.bn.running_mean")  # see the docstring
EMBED, HIDDEN, BATCH, EPOCHS, LR = 16, 24, 8, 8, 2e-2


def run(m: object, model: object, decoder_class: str, num_layers: int) -> dict:
    """Train ``model`` (a ModuleDict of the encoder and decoder) for EPOCHS on 48 images, save, sample."""
    images, captions = m.make_images(48, 0)
    vocab = m.build_vocab(captions, threshold=1)
    order = [int(i) for i in np.random.default_rng(1).permutation(len(captions))]
    collate = m.collate_unsorted if decoder_class == "DecoderRNNUnsorted" else m.collate_fn
    loader = m.get_loader(images, captions, vocab, order, BATCH, collate)
    encoder, decoder = model["encoder"], model["decoder"]
    with tempfile.TemporaryDirectory() as folder:
        out = m.train(encoder, decoder, loader, EPOCHS, LR, save_step=len(loader), model_path=folder)
        ckpt = [str(Path(folder) / f"{part}-{EPOCHS}-{len(loader)}.ckpt") for part in ("encoder", "decoder")]
        probe, truth = m.make_images(6, 2)
        out["sampled"] = [m.sample(image, vocab, *ckpt, EMBED, HIDDEN, num_layers, getattr(m, decoder_class))
                          for image in probe]
    out["truth"] = truth
    with m.torch.no_grad():  # in train mode: BatchNorm1d's momentum=0.01 stats are still near their start
        feats = encoder(m.torch.from_numpy((probe - 0.5) / 0.5))
        out["ids"] = decoder.sample(feats).numpy().tolist()
    out["greedy"] = [" ".join(vocab.idx2word[i] for i in ids[1:ids.index(2)]) for ids in out["ids"]]
    out["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return out


def both(decoder_class: str, num_layers: int) -> tuple[dict, dict]:
    def make(m: object) -> object:
        vocab_size = len(m.build_vocab(m.make_images(48, 0)[1], threshold=1))
        return m.nn.ModuleDict({"encoder": m.EncoderCNN(EMBED),
                                "decoder": getattr(m, decoder_class)(EMBED, HIDDEN, vocab_size, num_layers)})
    return from_torch_weights(HERE / "captioning.py", make, lambda m, model, lib: run(m, model, decoder_class,
                                                                                       num_layers))


@pytest.mark.parametrize(("decoder_class", "num_layers"), [("DecoderRNN", 1), ("DecoderRNN", 2),
                                                            ("DecoderRNNUnsorted", 1)])
def test_captioning_matches_torch(one_torch_thread: None, decoder_class: str, num_layers: int) -> None:
    theirs, ours = both(decoder_class, num_layers)
    for key in ("loss", "perplexity", "grad_norm"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    for key in ("lines", "sampled", "ids", "greedy"):
        assert ours[key] == theirs[key], key
    noise = {k: theirs["params"].pop(k).shape == ours["params"].pop(k).shape for k in RATTLED}
    assert all(noise.values()), noise
    assert_params_close(ours["params"], theirs["params"], **TOL)
    assert ours["loss"][-1] < 0.2 * ours["loss"][0]
    colours = [[[w for w in c.split() if w in ("red", "green", "blue")] for c in ours[k]] for k in ("greedy", "truth")]
    right = sum(got == want for got, want in zip(*colours, strict=True))
    assert right >= 4, (ours["greedy"], ours["truth"])  # it reads the colour off the image (chance: 2 of 6)
