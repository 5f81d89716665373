"""``clip_model.py`` (openai/CLIP's clip/model.py with an open_clip-style loop) run on torch and, imports swapped, on
ours: from torch's initial weights and the same numpy images and token ids, the ModifiedResNet and the
VisionTransformer variants agree step by step (image / text features, logits, symmetric contrastive losses,
gradients, every parameter and BatchNorm statistic after each Adam step with the ``logit_scale`` clamp), the
zero-shot classifier and its logits / accuracies agree, ``build_model`` infers the same config from a state dict
in both, and its fp16 model (``convert_weights``) gives the same fp16 logits within fp16 rounding.

Tolerances: float32, the runs differing by summation order in convs, BatchNorm, matmuls and attention. Against a
float64 torch run at step 0 ours was as close as torch's own float32 run (on a width-8 ResNet: losses 2.6e-6 vs
1.2e-6, logits 1.3e-5 vs 8.9e-6), and adding one ulp to torch's initial weights moves torch's own ResNet gradients
by 2.6e-5 / 3.4e-5 of their largest entry at steps 0 / 1 (BatchNorm over 4 samples at the 1x1 stage; a config with
one text layer reached 1.2e-2 at step 1 in torch alone, so the configs are fixed). Adam's first steps move each
parameter by about ``lr * g / (|g| + eps)``: with CLIP's eps = 1e-6 a gradient entry near 1e-6 turns float32 noise
into an update difference of order lr (3e-4 of lr 1e-3 was seen), so the compared runs use eps = 1e-3 (``train``'s
default keeps CLIP's 1e-6). Measured over 2 steps (ResNet / ViT): losses within 8.5e-7 / 2.3e-7 relative, features
4.5e-6 / 1.9e-6, logits 1.5e-5 / 3.3e-6, gradients 4.2e-5 / 2.5e-6 of each tensor's largest entry, parameters and
BatchNorm statistics 3.9e-6 / 2.0e-7, the zero-shot classifier 6.7e-7 / 1.4e-6 and its (x100) logits 3.5e-5 /
7.2e-5, ``build_model``'s float32 source model's logits 2.9e-6 / 2.4e-6. We allow rtol 1e-5 (losses), atol 2e-4
(features, logits), 2e-4 of the largest entry (gradients), 2e-5 (parameters, classifier), 1e-3 (zero-shot logits);
accuracies exactly.

fp16: torch's CPU runs every op of ``convert_weights``' model (half convs and Linears, BatchNorm on half inputs
with float weights, the float32 LayerNorm, half attention). Ours matches its Linears (after the fix in
``ops/linear.py``) and convs to summation-order ulps, but not its attention: torch's CPU flash kernel keeps the
scores in float32 and rounds the unnormalised probabilities to half before the value product (with its own
vectorised exp), ours composes half ops, so about half of each attention output differs by an ulp. Measured
(ResNet / ViT): fp16 logits within 5.7e-3 / 7.3e-3 (torch) and 6.0e-3 / 7.6e-3 (ours) of the float32 ones (largest
~7 / ~4.6) and 7.8e-3 / 1.1e-2 of each other; we allow 2e-2. The file takes about 6 s (torch on one thread) on a
shared 2-core machine."""

from __future__ import annotations

import collections
from collections.abc import Callable

import numpy as np
import pytest
from test_programs import HERE, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "clip_model.py"
CONTEXT, VOCAB = 8, 24
RN = dict(embed_dim=16, image_resolution=32, vision_layers=(1, 1, 1, 1), vision_width=4, vision_patch_size=None,
          context_length=CONTEXT, vocab_size=VOCAB, transformer_width=64, transformer_heads=1, transformer_layers=2)
VIT = dict(embed_dim=16, image_resolution=16, vision_layers=2, vision_width=128, vision_patch_size=8,
           context_length=CONTEXT, vocab_size=VOCAB, transformer_width=64, transformer_heads=1,
           transformer_layers=2)
STEPS, BATCH, EPS = 2, 4, 1e-3
LOSS_RTOL, FEATURE_ATOL, GRAD_RTOL, PARAM_ATOL = 1e-5, 2e-4, 2e-4, 2e-5
CLASSIFIER_ATOL, ZERO_SHOT_ATOL, FP16_ATOL = 2e-5, 1e-3, 2e-2
CLASSES = ["cat", "dog", "car"]


def template(i: int) -> Callable[[str], np.ndarray]:
    """A prompt template as token ids: start, template word ``i + 1``, the class word, end of text."""
    def tokens(classname: str) -> np.ndarray:
        out = np.zeros(CONTEXT, dtype=np.int64)
        out[:4] = [VOCAB - 2, i + 1, 10 + CLASSES.index(classname), VOCAB - 1]
        return out
    return tokens


def train_and_zero_shot(cfg: dict) -> tuple[dict, dict]:
    """Both libraries from torch's initial weights: ``STEPS`` Adam steps, then the zero-shot classifier and eval."""
    def run(m: object, model: object, lib: str) -> dict:
        history = collections.defaultdict(list)
        batches = m.make_batches(STEPS, BATCH, cfg["image_resolution"], CONTEXT, VOCAB)
        m.train(model, batches, history, eps=EPS)
        classifier = m.zero_shot_classifier(model, CLASSES, [template(i) for i in range(3)])
        rng = np.random.RandomState(1)
        images = rng.uniform(-1, 1, (6, 3, cfg["image_resolution"], cfg["image_resolution"])).astype(np.float32)
        history["classifier"] = classifier.numpy()
        history["zero_shot"] = m.zero_shot(model, classifier, images, np.array([0, 1, 2, 0, 1, 2]))
        return history
    return from_torch_weights(PROGRAM, lambda m: m.CLIP(**cfg), run)


def worst(theirs: list, ours: list) -> float:
    """The largest absolute difference over paired arrays."""
    return max(float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in zip(theirs, ours, strict=True))


@pytest.mark.parametrize("cfg", [RN, VIT], ids=["resnet", "vit"])
def test_clip_training_matches_torch(one_torch_thread: None, cfg: dict) -> None:
    """Features, logits, losses, gradients, parameters / buffers after each step, the classifier and zero-shot."""
    theirs, ours = train_and_zero_shot(cfg)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=LOSS_RTOL)
    for key in ("image_features", "text_features", "logits"):
        assert worst(theirs[key], ours[key]) < FEATURE_ATOL, key
    for step in range(STEPS):
        assert theirs["grads"][step].keys() == ours["grads"][step].keys()
        for name, want in theirs["grads"][step].items():
            np.testing.assert_allclose(ours["grads"][step][name], want, rtol=0,
                                       atol=GRAD_RTOL * (np.abs(want).max() + 1e-3), err_msg=f"{name} at {step}")
        assert theirs["state"][step].keys() == ours["state"][step].keys()
        for name, want in theirs["state"][step].items():
            np.testing.assert_allclose(ours["state"][step][name], want, rtol=0, atol=PARAM_ATOL,
                                       err_msg=f"{name} at {step}")
    assert all(s["logit_scale"] <= 4.6052 for s in ours["state"])
    np.testing.assert_allclose(ours["classifier"], theirs["classifier"], rtol=0, atol=CLASSIFIER_ATOL)
    np.testing.assert_allclose(np.linalg.norm(ours["classifier"], axis=0), 1, rtol=1e-6)
    np.testing.assert_allclose(ours["zero_shot"][0], theirs["zero_shot"][0], rtol=0, atol=ZERO_SHOT_ATOL)
    assert ours["zero_shot"][1:] == theirs["zero_shot"][1:]


def test_logit_scale_clamp(one_torch_thread: None) -> None:
    """A logit_scale above ln(100) is clamped back to 4.6052 after the step in both."""
    def run(m: object, model: object, lib: str) -> dict:
        with m.torch.no_grad():
            model.logit_scale.fill_(4.7)
        history = collections.defaultdict(list)
        m.train(model, m.make_batches(1, BATCH, 16, CONTEXT, VOCAB), history, eps=EPS)
        return history
    theirs, ours = from_torch_weights(PROGRAM, lambda m: m.CLIP(**VIT), run)
    assert float(ours["state"][0]["logit_scale"]) == float(theirs["state"][0]["logit_scale"]) == np.float32(4.6052)


@pytest.mark.parametrize("cfg", [RN, VIT], ids=["resnet", "vit"])
def test_build_model_round_trip_and_fp16(one_torch_thread: None, cfg: dict) -> None:
    """torch's initial state dict (with the ``input_resolution`` / ``context_length`` / ``vocab_size`` entries of
    OpenAI's checkpoints) given to ``build_model`` in each library: the same config inferred, Conv / Linear / MHA /
    projection weights in fp16, LayerNorm / BatchNorm / embeddings float32, the float32 model's logits equal and the
    fp16 model's within fp16 rounding of them and of torch's fp16 logits."""
    images = texts = weights = None
    out = {}
    for lib in ("torch", "ours"):
        with program(PROGRAM, lib) as m:
            m.torch.manual_seed(0)
            model = m.CLIP(**cfg)
            if weights is None:
                weights = {k: v.numpy().copy() for k, v in model.state_dict().items()}
                images, texts = m.make_batches(1, BATCH, cfg["image_resolution"], CONTEXT, VOCAB)[0]
            model.load_state_dict({k: m.torch.from_numpy(v.copy()) for k, v in weights.items()})
            state_dict = {k: m.torch.from_numpy(v.copy()) for k, v in weights.items()}
            state_dict["input_resolution"] = m.torch.tensor(cfg["image_resolution"])
            state_dict["context_length"] = m.torch.tensor(CONTEXT)
            state_dict["vocab_size"] = m.torch.tensor(VOCAB)
            built = m.build_model(state_dict)
            assert "input_resolution" not in state_dict and not built.training
            visual = built.visual
            assert built.context_length == CONTEXT and built.vocab_size == VOCAB
            assert built.transformer.width == cfg["transformer_width"]
            assert built.transformer.layers == cfg["transformer_layers"]
            assert visual.input_resolution == cfg["image_resolution"] and visual.output_dim == cfg["embed_dim"]
            if isinstance(cfg["vision_layers"], tuple):
                assert [len(getattr(visual, f"layer{i}")) for i in range(1, 5)] == list(cfg["vision_layers"])
                assert visual.attnpool.num_heads == cfg["vision_width"] * 32 // 64
            else:
                assert len(visual.transformer.resblocks) == cfg["vision_layers"]
            dtypes = {k: str(v.dtype).replace("torch.", "") for k, v in built.state_dict().items()}
            half = {k for k, v in dtypes.items() if v == "float16"}
            assert "text_projection" in half and "transformer.resblocks.0.attn.in_proj_weight" in half
            assert "transformer.resblocks.0.attn.out_proj.weight" in half and "ln_final.weight" not in half
            assert "token_embedding.weight" not in half and "logit_scale" not in half
            model.eval()
            with m.torch.no_grad():
                image, text = m.torch.from_numpy(images), m.torch.from_numpy(texts)
                logits32 = model(image, text)[0].numpy()
                logits16 = built(image, text)[0]
            assert str(logits16.dtype).endswith("float16")
            out[lib] = (dtypes, logits32, logits16.numpy().astype(np.float32))
    assert out["ours"][0] == out["torch"][0]
    np.testing.assert_allclose(out["ours"][1], out["torch"][1], rtol=0, atol=FEATURE_ATOL)
    for lib in ("torch", "ours"):
        np.testing.assert_allclose(out[lib][2], out["torch"][1], rtol=0, atol=FP16_ATOL, err_msg=lib)
    np.testing.assert_allclose(out["ours"][2], out["torch"][2], rtol=0, atol=FP16_ATOL)


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_structure(lib: str) -> None:
    """The causal mask, the zeroed ``bn3`` weights, the antialiased downsample, the ViT's class token and the text
    tower's end-of-text pick, in both libraries."""
    with program(PROGRAM, lib) as m:
        m.torch.manual_seed(0)
        model = m.CLIP(**RN)
        mask = model.build_attention_mask().numpy()
        np.testing.assert_array_equal(mask, np.triu(np.full((CONTEXT, CONTEXT), -np.inf, np.float32), 1))
        block = model.visual.layer2[0]
        assert list(block.downsample._modules) == ["-1", "0", "1"]
        assert not block.bn3.weight.detach().numpy().any()
        assert isinstance(model.transformer.resblocks[0].mlp.gelu, m.QuickGELU)
        assert model.transformer.resblocks[0].attn.q_proj_weight is None
        assert abs(float(model.logit_scale.detach()) - np.log(1 / 0.07)) < 1e-6
        vit = m.CLIP(**VIT)
        images, texts = m.make_batches(1, 2, 16, CONTEXT, VOCAB)[0]
        assert tuple(vit.encode_image(m.torch.from_numpy(images)).shape) == (2, 16)
        text = m.torch.from_numpy(texts)
        feats = vit.encode_text(text)
        assert tuple(feats.shape) == (2, 16)
        changed = texts.copy()
        changed[:, -1] = 5 * (changed[:, -1] == 0)  # after the end-of-text token: ignored (causal mask)
        np.testing.assert_array_equal(vit.encode_text(m.torch.from_numpy(changed)).detach().numpy(),
                                      feats.detach().numpy())
