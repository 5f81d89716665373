"""``transformer_translation.py`` (the nn.Transformer translation tutorial without torchtext: BOS / EOS transforms,
a pad_sequence collate, TokenEmbedding * sqrt(d), a PositionalEncoding buffer, the tutorial's float -inf causal mask
and bool source mask, ``(src == PAD_IDX).transpose(0, 1)`` padding masks, xavier init, label-smoothed
CrossEntropyLoss(ignore_index=PAD_IDX), Adam(betas=(0.9, 0.98), eps=1e-9), and greedy decoding under no_grad; and a
batch-first, norm_first, gelu spelling with the static ``nn.Transformer.generate_square_subsequent_mask`` and a
batched greedy decode under inference_mode) on a synthetic "translation" (reverse the sentence, map each word),
run on torch and, imports swapped, on ours from torch's initial weights and the same batch order: per step the
losses, per epoch the train / validation losses, the translations and the final parameters agree.

Tolerances: float32, dropout 0 (the generators differ). Measured: losses within ~1e-6 relative, parameters within
~1e-6 absolute; we allow rtol 1e-4 / atol 2e-5."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, EpochOrder, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

FILE = HERE / "transformer_translation.py"
# both libraries say why a layer cannot take the nested-tensor path (not batch-first, or norm_first)
# (torch says its nested tensors are a prototype); and both deprecate the tutorial's float causal mask beside bool
# padding masks (tests/test_transformer_translation_fixes.py)
pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True:UserWarning",
                                        "ignore:enable_nested_tensor=True has no effect:UserWarning",
                                        "ignore:The PyTorch API of nested tensors:UserWarning",
                                        "ignore:Support for mismatched key_padding_mask:UserWarning",
                                        "ignore:key_padding_mask .* differ in dtype:UserWarning")
SRC_WORDS = [f"s{i}" for i in range(12)]


def synthetic_pairs(seed: int, n: int) -> list[tuple[str, str]]:
    """(source, target): 3-7 source words; the target is the reversed sentence with each word ``sK`` -> ``tK``."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        words = [SRC_WORDS[i] for i in rng.integers(0, len(SRC_WORDS), rng.integers(3, 8))]
        pairs.append((" ".join(words), " ".join("t" + w[1:] for w in reversed(words))))
    return pairs


def run_both(batch_first: bool, epochs: int, **options: object) -> tuple[dict, dict]:
    train, val = synthetic_pairs(0, 64), synthetic_pairs(1, 16)
    test = [src for src, _ in synthetic_pairs(2, 4)]
    n_src = len({w for s, _ in train for w in s.split()}) + 4
    n_tgt = len({w for _, t in train for w in t.split()}) + 4

    def make(m):
        model = m.Seq2SeqTransformer(2, 2, 16, 2, n_src, n_tgt, dim_feedforward=32, dropout=0.0,
                                     batch_first=batch_first, **options)
        m.init_params(model)
        return model

    def run(m, model, lib: str) -> dict:
        translator = m.Translator(train, model, batch_first=batch_first, label_smoothing=0.1, lr=0.003)
        history = m.run(translator, train, val, test, [EpochOrder(64, seed) for seed in range(epochs)])
        history["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        return history

    return from_torch_weights(FILE, make, run)


def assert_same(want: dict, got: dict) -> None:
    assert got["translations"] == want["translations"]
    for key in ("loss", "train", "val"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4, err_msg=key)
    # the key projection's bias adds one constant to every score of a query, which softmax ignores: its gradient
    # is rounding noise (in either library) that Adam scales up to lr-sized steps, so only that slice wanders apart
    for params in (got["params"], want["params"]):
        for name in [k for k in params if k.endswith("attn.in_proj_bias")]:
            d = params[name].shape[0] // 3
            params[name] = np.concatenate([params[name][:d], params[name][2 * d:]])
    assert_params_close(got["params"], want["params"], rtol=1e-4, atol=2e-5)
    assert np.mean(got["loss"][-4:]) < np.mean(got["loss"][:4]) - 0.3  # it learned


@pytest.mark.usefixtures("one_torch_thread")
def test_tutorial_translation_matches_torch() -> None:
    want, got = run_both(False, 4)
    assert_same(want, got)


@pytest.mark.usefixtures("one_torch_thread")
def test_batch_first_norm_first_translation_matches_torch() -> None:
    want, got = run_both(True, 4, norm_first=True, activation="gelu")
    assert_same(want, got)


@pytest.mark.usefixtures("one_torch_thread")
def test_batch_first_translation_on_the_nested_tensor_path_matches_torch() -> None:
    """Batch-first, post-norm relu layers with an even head count: the batched decode (eval, inference_mode, a
    padding mask) takes torch's nested-tensor encoder path, whose padded positions come out as zeros."""
    want, got = run_both(True, 3)
    assert_same(want, got)
