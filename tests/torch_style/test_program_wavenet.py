"""``wavenet.py`` (r9y9/wavenet_vocoder's WaveNet with pytorch-wavenet's mu-law and one-hot inputs) run on torch and,
imports swapped, on ours, from torch's initial weights.

Two models: a mu-law (256 classes) one-hot model with local conditioning through ``ConvInUpsampleNetwork``
(``F.interpolate`` stretches + weight-normed Conv2d, LeakyReLU), global conditioning by a speaker Embedding and
``MaskedCrossEntropyLoss`` with a step lr decay; and a scalar-input model with the older weight-normed
``ConvTranspose2d`` upsampling and the discretized mixture-of-logistics loss. Per step: the loss, the clipped gradient
norm, every parameter's gradient norm, the lr and every parameter; then the EMA shadow, the averaged and the trained
model's eval losses, the final parameters. Generation (incremental, the linearized weights cached and cleared by the
backward hook) with handed-in uniforms gives the same samples in both libraries, after two and after four steps;
the incremental softmax with teacher forcing equals the full forward's, and each generated sample is the one the full
forward's output and the same uniforms give. A run (the mixture model's) saved and reloaded after two steps equals the
whole one exactly.

Tolerances (float32, dropout 0): measured max differences, ours against torch: losses 3.1e-7 relative, EMA and eval
losses 3.2e-7 relative; the clipped total gradient norm 5.0e-6 and each parameter's 7.8e-6 relative (the
mixture loss's ``log(cdf_delta)`` cancels); parameters and the EMA shadow 2.1e-6 absolute (Adam scales the rounding
of near-zero gradient entries up; 5.1e-6 on an Intel Xeon, where torch runs other float32 kernels); generated
mixture samples 4.8e-7 absolute, one-hot samples equal. Allowed: rtol 2e-6 for the losses, rtol 3e-5 (atol 1e-6)
for gradient norms, atol 1.5e-5 for parameters, 2e-6 for the samples.
One parameter is noise in both libraries: the scalar model's ``first_conv.weight_v`` (see ``params_close``),
3.6e-4 apart, whose signs must agree. Within a library, incremental against full forward: probabilities within
2.3e-9 absolute of ~4e-3 (allowed rtol 1e-5, atol 1e-8), mixture samples 7.5e-8 (allowed 1e-6).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 2e-6, "atol": 1e-7}  # losses
GRADS = {"rtol": 3e-5, "atol": 1e-6}  # the clipped total and each parameter's gradient norm
PARAMS = {"rtol": 0, "atol": 1.5e-5}  # parameters, the EMA shadow
B, T, HOP, CIN, CIN_PAD = 2, 16, 4, 3, 1
OLD = pytest.mark.filterwarnings("ignore:.*weight_norm`? is deprecated:FutureWarning",
                                 "ignore:Using a non-full backward hook:FutureWarning",
                                 "ignore:Using a non-full backward hook:UserWarning",
                                 "ignore:register_backward_hook on a Module:FutureWarning")
CONFIGS = {
    "mulaw": dict(out_channels=256, layers=4, stacks=2, residual_channels=8, gate_channels=16, skip_out_channels=8,
                  kernel_size=3, dropout=0.0, cin_channels=CIN, gin_channels=2, n_speakers=2,
                  upsample_conditional_features=True, upsample_net="ConvInUpsampleNetwork",
                  upsample_params={"upsample_scales": [2, 2], "cin_channels": CIN, "cin_pad": CIN_PAD,
                                   "upsample_activation": "LeakyReLU",
                                   "upsample_activation_params": {"negative_slope": 0.4}},
                  scalar_input=False, use_speaker_embedding=True, cin_pad=CIN_PAD),
    "mol": dict(out_channels=6, layers=4, stacks=1, residual_channels=8, gate_channels=16, skip_out_channels=8,
                kernel_size=2, dropout=0.0, cin_channels=CIN, upsample_conditional_features=True,
                upsample_net="ConvTransposeUpsample", upsample_params={"upsample_scales": [2, 2]},
                scalar_input=True),
}


def batches(kind: str, n: int = 4) -> list[tuple]:
    """``n`` batches of (waves, lengths, mels, quantized, speakers): sines plus noise in [-1, 1], the second example
    zero-padded after 12 samples; "mel" features in [0, 1] (padded by ``cin_pad`` frames for the mu-law model)."""
    rng = np.random.default_rng(7)
    out = []
    for _ in range(n):
        t = np.arange(T)
        waves = np.stack([0.6 * np.sin(2 * np.pi * rng.uniform(0.03, 0.2) * t + rng.uniform(0, 6)) for _ in range(B)])
        waves = np.clip(waves + rng.normal(0, 0.05, waves.shape), -0.99, 0.99)
        waves[1, 12:] = 0.0
        pad = CIN_PAD if kind == "mulaw" else 0
        mels = rng.uniform(0, 1, (B, CIN, T // HOP + 2 * pad))
        out.append((waves, [T, 12], mels))
    return out


def make(m, kind: str):
    return m.WaveNet(**CONFIGS[kind])


def gen_noise(kind: str) -> np.ndarray:
    rng = np.random.default_rng(11)
    if kind == "mulaw":
        return rng.uniform(0, 1, (T, 1)).astype(np.float32)
    return rng.uniform(1e-5, 1 - 1e-5, (T, 2, 1, 1, 2)).astype(np.float32)


def speakers_of(kind: str):
    return [0, 1] if kind == "mulaw" else None


def run(m, model, kind: str, resume_at: int | None = None) -> dict:
    data = [(*b, speakers_of(kind)) for b in batches(kind)]
    quantized = kind == "mulaw"
    history = m.train(model, data, quantized, init_lr=3e-3, ema_decay=0.9,
                      lr_schedule_kwargs={"anneal_rate": 0.5, "anneal_interval": 2} if quantized else None,
                      make_model=lambda: make(m, kind), resume_at=resume_at, generate_every=2,
                      gen_noise=gen_noise(kind), gen_T=T)
    return history


def params_close(ours: dict, theirs: dict) -> None:
    """``assert_params_close`` but for the scalar model's ``first_conv.weight_v`` (Conv1d(1, 8, 1) weight-normed over
    dim 0: each row is one number, so its gradient is 0 but for rounding, which Adam scales up to steps of up to lr):
    there the signs, which alone reach the weight (g * v / |v|), must agree, and the values within 4 steps of lr."""
    noisy = "first_conv.weight_v"
    if ours.get(noisy) is not None and ours[noisy].size == 8:
        np.testing.assert_array_equal(np.sign(ours[noisy]), np.sign(theirs[noisy]))
        np.testing.assert_allclose(ours[noisy], theirs[noisy], atol=4 * 3e-3)
        ours, theirs = ({k: v for k, v in d.items() if k != noisy} for d in (ours, theirs))
    assert_params_close(ours, theirs, **PARAMS)


def collate_kwargs(kind: str) -> dict:
    return {"quantize_channels": 256, "quantized": kind == "mulaw"}


@OLD
@pytest.mark.parametrize("kind", ["mulaw", "mol"])
def test_wavenet_training_matches_torch(one_torch_thread: None, kind: str) -> None:
    theirs, ours = from_torch_weights(HERE / "wavenet.py", lambda m: make(m, kind),
                                      lambda m, model, lib: run(m, model, kind))
    assert ours["lr"] == theirs["lr"]
    np.testing.assert_allclose(ours["loss"], theirs["loss"], **TOL)
    np.testing.assert_allclose(ours["grad_norm"], theirs["grad_norm"], **GRADS)
    # (the last block's conv1x1_out gets no gradient: its residual output is unused; None, nan here, in both)
    np.testing.assert_allclose(np.array(ours["grads"], dtype=float), np.array(theirs["grads"], dtype=float), **GRADS)
    for o, t in [*zip(ours["params"], theirs["params"], strict=True), (ours["ema"], theirs["ema"]),
                 (ours["final"], theirs["final"])]:
        params_close(o, t)
    np.testing.assert_allclose([ours["ema_loss"], ours["eval_loss"]], [theirs["ema_loss"], theirs["eval_loss"]],
                               **TOL)
    assert len(ours["generated"]) == len(theirs["generated"]) == 2
    for o, t in zip(ours["generated"], theirs["generated"], strict=True):
        if kind == "mulaw":
            np.testing.assert_array_equal(o, t)
            assert o.shape == (1, 256, T) and (o.sum(1) == 1).all()
        else:
            np.testing.assert_allclose(o, t, atol=2e-6)
            assert o.shape == (1, 1, T)
    assert ours["loss"][-1] < ours["loss"][0]
    if kind == "mulaw":
        assert theirs["lr"] == [3e-3, 3e-3, 1.5e-3, 1.5e-3]


@OLD
@pytest.mark.parametrize("lib", ["torch", "ours"])
@pytest.mark.parametrize("kind", ["mulaw", "mol"])
def test_incremental_forward_equals_full_forward(one_torch_thread: None, lib: str, kind: str) -> None:
    """After two training steps (so the linearized weights must have been cleared by the backward hook): the
    teacher-forced incremental softmax equals the full forward's (mu-law), and each freely generated sample is the one
    the full forward on the generated inputs and the same uniforms give (both models); again after
    ``make_generation_fast_``."""
    with program(HERE / "wavenet.py", lib) as m:
        m.torch.manual_seed(0)
        model = make(m, kind)
        data = [(*b, speakers_of(kind)) for b in batches(kind, 2)]
        x, _, c, g, _ = m.collate(*data[0], **collate_kwargs(kind))
        model.eval()
        with m.torch.no_grad():
            model.incremental_forward(c=c[:1], g=None if g is None else g[:1], T=T, noise=gen_noise(kind))
        m.train(model, data, kind == "mulaw", init_lr=3e-3, make_model=lambda: make(m, kind))
        model.eval()
        for fast in (False, True):
            if fast:
                model.make_generation_fast_()
            with m.torch.no_grad():
                if kind == "mulaw":
                    full = model(x, c, g, softmax=True).numpy()
                    inc = model.incremental_forward(c=c, g=g, test_inputs=x, T=None, softmax=True, quantize=False)
                    np.testing.assert_allclose(inc.numpy(), full, rtol=1e-5, atol=1e-8)
                noise = gen_noise(kind)
                gen = model.incremental_forward(c=c[:1], g=None if g is None else g[:1], T=T, noise=noise)
                if kind == "mulaw":
                    first = m.torch.zeros(1, 256, 1)
                    first[:, 127] = 1
                    inputs = m.torch.cat([first, gen[:, :, :-1]], dim=2)
                    probs = model(inputs, c[:1], g[:1], softmax=True)
                    again = m.torch.stack([m.sample_one_hot(probs[:, :, t], noise[t]) for t in range(T)], dim=2)
                    np.testing.assert_array_equal(again.numpy(), gen.numpy())
                else:
                    inputs = m.torch.cat([m.torch.zeros(1, 1, 1), gen[:, :, :-1]], dim=2)
                    y_hat = model(inputs, c[:1])
                    again = m.torch.cat([m.sample_from_discretized_mix_logistic(y_hat[:, :, t:t + 1], noise=noise[t])
                                         for t in range(T)], dim=1)
                    np.testing.assert_allclose(again.numpy(), gen.view(1, T).numpy(), atol=1e-6)
                if fast:  # the repository's own draws (OneHotCategorical, ``new(...).uniform_``): each library's
                    free = model.incremental_forward(c=c[:1], g=None if g is None else g[:1], T=T)
                    if kind == "mulaw":
                        assert tuple(free.shape) == (1, 256, T) and (free.sum(1) == 1).all()
                    else:
                        assert tuple(free.shape) == (1, 1, T) and (free.abs() <= 1).all()
        # (3 - 1) * (1 + 2 + 1 + 2) + 1, and 1 + 2 + 4 + 8 + 1
        assert model.receptive_field == (13 if kind == "mulaw" else 16)


@OLD
@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_checkpoint_resume_is_exact(one_torch_thread: None, lib: str) -> None:
    with program(HERE / "wavenet.py", lib) as m:
        runs = []
        for resume_at in (None, 2):
            m.torch.manual_seed(0)
            runs.append(run(m, make(m, "mol"), "mol", resume_at=resume_at))
    whole, resumed = runs
    for key in ("loss", "grad_norm", "lr", "grads"):
        assert whole[key] == resumed[key], key
    for a, b in zip(whole["params"] + [whole["final"]], resumed["params"] + [resumed["final"]], strict=True):
        for name in a:
            assert np.array_equal(a[name], b[name]), name
    for a, b in zip(whole["generated"], resumed["generated"], strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_mulaw_round_trips_and_one_hot(lib: str) -> None:
    """util.py's mu-law on tensors equals its numpy branch; the quantize / inverse round trip is within one step;
    pytorch-wavenet's numpy encoding and ``np.digitize`` bins with its ``scatter_`` one-hot."""
    with program(HERE / "wavenet.py", lib) as m:
        x = np.linspace(-1, 1, 101).astype(np.float32)
        xt = m.torch.from_numpy(x)
        np.testing.assert_allclose(m.mulaw(xt, 255).numpy(), m.mulaw(x, 255), atol=1e-6)
        np.testing.assert_allclose(m.inv_mulaw(m.mulaw(xt, 255), 255).numpy(), x, atol=1e-5)
        q = m.mulaw_quantize(xt, 255)
        assert q.dtype == m.torch.int64
        np.testing.assert_array_equal(q.numpy(), m.mulaw_quantize(x, 255))
        np.testing.assert_allclose(m.inv_mulaw_quantize(q, 255).numpy(), m.inv_mulaw_quantize(q.numpy(), 255),
                                   atol=1e-6)
        data = m.quantize_data(x, 256)
        np.testing.assert_allclose(m.mu_law_expansion(m.mu_law_encoding(x, 255), 255), x, atol=1e-6)
        one_hot, target = m.one_hot_item(m.torch.from_numpy(data), 256, 100)
        assert tuple(one_hot.shape) == (256, 100) and (one_hot.sum(0) == 1).all()
        np.testing.assert_array_equal(one_hot.argmax(0).numpy(), data[:100])
        np.testing.assert_array_equal(target.numpy(), data[None, 1:])
