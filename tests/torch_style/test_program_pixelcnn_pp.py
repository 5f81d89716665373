"""``pixelcnn_pp.py`` (pclouds/pixel-cnn-pp: the discretized mixture of logistics losses and samplers, the shifted
weight-normed convs / deconvs, ``nin``, ``gated_resnet``, the up / down streams of ``PixelCNN`` and main.py's Adam +
StepLR loop) run on torch and, imports swapped, on ours, from torch's initial weights (nr_resnet 1, nr_filters 8,
nr_logistic_mix 2, batch 2 of 8x8 RGB images of random integers 0..255 scaled to [-1, 1], dropout 0): per step the
losses, the total gradient norms and the learning rates, per epoch the train / test bits per dim, the printed lines
(times cut out), the final parameters and a 4x4 pixel-by-pixel sample after training (drawn in the resumed run). The
samplers' uniforms come from one numpy generator in both runs (the program's ``NOISE`` replaces the
``FloatTensor(...).uniform_`` draws, the only place where the two generators would differ), so the samples are
compared by value; draws by the library's own ``uniform_`` are checked by shape and range only. A fresh model
resumed from epoch 0's checkpoint (``load_part_of_model`` + the optimizer / scheduler state_dicts) repeats epoch 1
exactly, in each library. The losses (3 channels and 1), ``log_sum_exp`` / ``log_prob_from_logits`` and their
gradients are also compared on hypothesis inputs: pixels on the 8-bit grid with the ±0.999 / ±1 edges exactly,
extreme logits, means and log-scales (clamped at -7, or far enough that ``cdf_delta`` falls under 1e-5 and the
``log_pdf_mid`` branch is taken); and each branch of the nested selection on purpose, with its gradient.

Tolerances: float32. Measured on the program: losses within 4.9e-4 of ~2430 (2.0e-7 relative), gradient norms within
5.2e-4 of ~200 (2.6e-6 relative), bits per dim within 2.8e-6 of ~18 (1.5e-7 relative), final parameters within
2.7e-6, samples within 1.2e-7; learning rates equal. We allow rtol 2e-5 for the per-step numbers, rtol 2e-5 plus
atol 1e-5 for parameters and atol 1e-6 for samples; printed numbers may differ by one in their last digit, or by
rtol 2e-5 for ``'test loss : %s'``, which prints all of a float64's digits. The hypothesis losses: see
``test_losses_match_torch`` (the formula is ill-conditioned there, both libraries are right to rounding).
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_programs import HERE, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "pixelcnn_pp.py"
TOL = {"rtol": 2e-5, "atol": 1e-5}
OLD = pytest.mark.filterwarnings("ignore:.*weight_norm`? is deprecated:FutureWarning")
NR_MIX = 2


def make(m: object) -> object:
    return m.PixelCNN(nr_resnet=1, nr_filters=8, nr_logistic_mix=NR_MIX, dropout_p=0.0)


def train(m: object, model: object, save_dir: Path, **kwargs: object) -> dict:
    """main.py's loop on ``model`` with its checkpoints in ``save_dir``; the printed lines under ``"printed"``."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        history = m.train(model, max_epochs=2, save_dir=str(save_dir), **kwargs)
    return {**history, "printed": out.getvalue().splitlines()}


def printed_agree(ours: list[str], theirs: list[str]) -> None:
    """The same lines with the numbers cut out (times dropped), the numbers within one in their last digit or
    within ``TOL["rtol"]`` (``'test loss : %s'`` prints all of a float64's digits)."""
    cut = without_times(ours), without_times(theirs)
    number = re.compile(r"-?\d+\.?\d*")
    assert [number.sub("#", line) for line in cut[0]] == [number.sub("#", line) for line in cut[1]]
    for a, b in zip(*cut, strict=True):
        for x, y in zip(number.findall(a), number.findall(b), strict=True):
            last_digit = 1.01 * 10.0 ** -len(y.partition(".")[2])
            assert abs(float(x) - float(y)) <= max(last_digit, TOL["rtol"] * abs(float(y))), (a, b)


def without_times(lines: list[str]) -> list[str]:
    return [re.sub(r", time : .*", "", line) for line in lines]


@OLD
def test_pixelcnn_pp_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    def run(m: object, model: object, lib: str) -> dict:
        """Two epochs with a checkpoint after each; then a fresh model resumed from epoch 0's checkpoint, whose
        epoch 1 must equal the whole run's exactly, and its 4x4 sample (main.py's, after the checkpoint)."""
        (tmp_path / lib).mkdir()
        whole = train(m, model, tmp_path / lib)
        m.NOISE = np.random.RandomState(0)
        resumed = train(m, make(m), tmp_path / lib, resume_from=0, do_sample=True, sample_obs=(3, 4, 4))
        assert resumed["printed"][:2] == ["added 1.0 of params:", "model parameters loaded"]
        assert resumed["printed"][-1] == "sampling..."
        assert without_times(resumed["printed"][3:-1]) == without_times(whole["printed"][4:])
        whole["samples"] = resumed.pop("samples")
        tail = {key: value[len(value) // 2:] for key, value in whole.items() if key not in ("samples", "params")}
        assert_same_run({**tail, "params": whole["params"]}, {**resumed, "printed": tail["printed"]})
        return whole
    theirs, ours = from_torch_weights(PATH, make, run)
    assert ours["lr"] == theirs["lr"] == [2e-4, 2e-4, 2e-4 * 0.999995, 2e-4 * 0.999995]
    printed_agree(ours["printed"], theirs["printed"])
    assert ours["printed"][3].startswith("test loss : ") and len(ours["printed"]) == 7
    for key in ("loss", "grad_norm", "train_bpd", "test_bpd"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, rtol=TOL["rtol"])
    assert ours.keys() == theirs.keys() and list(ours["params"]) == list(theirs["params"])
    for name in theirs["params"]:
        np.testing.assert_allclose(ours["params"][name], theirs["params"][name], err_msg=name, **TOL)
    np.testing.assert_allclose(ours["samples"], theirs["samples"], rtol=0, atol=1e-6)
    samples = np.array(ours["samples"])  # rescaling_inv of clamped draws, after the last epoch
    assert samples.shape == (1, 2, 3, 4, 4) and samples.min() >= 0 and samples.max() <= 1 and samples.std() > 0
    assert "nin_out.lin_a.weight_g" in ours["params"] and "upsize_u_stream.0.deconv.weight_v" in ours["params"]


# ------------------------------------------------------------------------------------- the utilities, one by one

EDGES = [-1.0, -0.999, 0.999, 1.0, float(np.float32(-0.999)), float(np.nextafter(np.float32(0.999), 1))]
PIXELS = st.one_of(st.sampled_from(EDGES), st.integers(0, 255).map(lambda k: k / 127.5 - 1.0))
PARAMS = st.one_of(st.floats(-8, 8, width=32),
                   st.sampled_from([-3e38, -1e30, -1e4, -50.0, -7.0, 0.0, 1e-45, 30.0, 90.0, 1e4, 1e30, 3e38]))


@st.composite
def loss_inputs(draw: st.DrawFn, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, l): pixels on the 8-bit grid (edges included) and the network's output for ``nr_mix`` components."""
    b, h, w, nr_mix = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n = b * h * w
    x = np.array(draw(st.lists(PIXELS, min_size=n * channels, max_size=n * channels)), np.float32)
    width = nr_mix * (10 if channels == 3 else 3)
    l = np.array(draw(st.lists(PARAMS, min_size=n * width, max_size=n * width)), np.float32)
    return x.reshape(b, channels, h, w), l.reshape(b, width, h, w)


LOADED: dict[str, object] = {}


def loaded(lib: str) -> object:
    """The program under ``lib``, loaded once for the utility tests (hypothesis calls them many times)."""
    if lib not in LOADED:
        with program(PATH, lib) as m:
            LOADED[lib] = m
    return LOADED[lib]


def both(fn: str, *arrays: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``fn(*arrays)`` from the program under torch and under ours: the value and the last array's gradient."""
    out = []
    for lib in ("torch", "ours"):
        m = loaded(lib)
        args = [m.torch.from_numpy(a.copy()) for a in arrays]
        args[-1].requires_grad_(True)
        value = getattr(m, fn)(*args)
        value.sum().backward()
        out.append((value.detach().numpy(), args[-1].grad.numpy()))
    return out


def near_threshold(x: np.ndarray, l: np.ndarray) -> bool:
    """Whether a middle-branch ``cdf_delta`` lies within 10% of the 1e-5 threshold, recomputed in float64: there
    float32 rounding (the cancellation below) may pick either branch, whose values differ by the midpoint rule's
    error, up to O(1) for a narrow logistic."""
    channels = x.shape[1]
    x, l = x.transpose(0, 2, 3, 1).astype(np.float64), l.transpose(0, 2, 3, 1).astype(np.float64)
    nr_mix = l.shape[-1] // (10 if channels == 3 else 3)
    rest = l[..., nr_mix:].reshape(x.shape + (-1,))
    means, log_scales = rest[..., :nr_mix].copy(), np.maximum(rest[..., nr_mix:2 * nr_mix], -7.0)
    if channels == 3:
        coeffs = np.tanh(rest[..., 2 * nr_mix:])
        means[..., 1, :] += coeffs[..., 0, :] * x[..., 0, None]
        means[..., 2, :] += coeffs[..., 1, :] * x[..., 0, None] + coeffs[..., 2, :] * x[..., 1, None]
    with np.errstate(all="ignore"):
        centered, inv_stdv = x[..., None] - means, np.exp(-log_scales)
        delta = 1 / (1 + np.exp(-inv_stdv * (centered + 1 / 255))) - 1 / (1 + np.exp(-inv_stdv * (centered - 1 / 255)))
        middle = np.broadcast_to((np.abs(x) < 0.999)[..., None], delta.shape)
        return bool((middle & (np.abs(delta / 1e-5 - 1) < 0.1)).any())


@pytest.mark.filterwarnings("ignore:(overflow|invalid value) encountered:RuntimeWarning")  # numpy's, on 3e38 inputs
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_losses_match_torch(data: st.DataObject) -> None:
    """The 3-channel and 1-channel losses and their gradients wrt the network output, on pixels at the ±0.999 / ±1
    edges (which compare in float32 in both: float32(0.999) is not > 0.999) and extreme parameters.

    The program's own formula is ill-conditioned in two places, where both libraries' float32 results are right
    to rounding and yet differ: ``cdf_plus - cdf_min`` cancels (two sigmoids near 0.45 that differ by 1e-5; torch's
    and numpy's exp / sigmoid differ by 1-3 ulp, and the log of the difference by up to ~2e-2), and parameters of
    ±1e4 scaled by exp(7) make ``mid_in`` about 1e7, whose ulp is 1. Measured over 1200 random examples: losses
    within 4.7e-3 absolute (at a loss of 12) and 6.4e-5 relative (1.0 at 1.5e4), gradients within 4.5e-3 of their
    largest entry. Allowed: rtol 2e-4 plus atol 5e-2 for losses, 2e-2 of the largest entry for gradients; a wrong
    branch (x = ±1 taken as a middle value, the tiny-probability branch missed) moves a loss by 1 or more. Inputs
    with a ``cdf_delta`` within 10% of the 1e-5 threshold are skipped (``near_threshold``): there either branch is
    right to rounding (1 random run in ~1e4 examples picked different ones, before this)."""
    channels = data.draw(st.sampled_from([3, 1]))
    x, l = data.draw(loss_inputs(channels))
    assume(not near_threshold(x, l))
    fn = "discretized_mix_logistic_loss" if channels == 3 else "discretized_mix_logistic_loss_1d"
    (want, want_grad), (got, got_grad) = both(fn, x, l)
    # parameters of 1e30 and more overflow to inf / nan: the same entries in both (assert_allclose checks that)
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=5e-2)
    finite = np.isfinite(want_grad)
    scale = max(1.0, np.abs(want_grad[finite]).max(initial=0.0))
    np.testing.assert_allclose(got_grad, want_grad, rtol=0, atol=2e-2 * scale)


def test_loss_edge_branches() -> None:
    """Each branch of the nested selection taken on purpose: x = -1 (log_cdf_plus), x = 1 (log_one_minus_cdf_min),
    a far mean (cdf_delta < 1e-5: log_pdf_mid - log(127.5)), the ±0.999 inputs (the middle branch)."""
    x = np.array([-1.0, 1.0, 0.0, -0.999, 0.999, 0.5], np.float32).reshape(1, 1, 1, 6)
    l = np.zeros((1, 3, 1, 6), np.float32)
    l[0, 1, 0, 2] = 5.0  # a mean far from x = 0
    l[0, 2] = -7.0
    (want, want_grad), (got, got_grad) = both("discretized_mix_logistic_loss_1d", x, l)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(got_grad, want_grad, rtol=1e-5, atol=1e-6)
    # the log_pdf_mid branch's d/dlog_scale (-mid_in - 1 - 2 sigmoid(mid_in) (-mid_in), mid_in = -5 e^7): not 0 as
    # through the clamped log, and through the clamp at exactly -7
    assert want_grad[0, 2, 0, 2] == pytest.approx(-(5 * np.exp(7.0) - 1), rel=1e-5)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.sampled_from([-1e30, -1e4, -30.0, 0.0, 1.0, 30.0, 1e4, 1e30]) | st.floats(-50, 50, width=32),
                min_size=6, max_size=6))
def test_log_sum_exp_and_log_prob_from_logits(values: list[float]) -> None:
    x = np.array(values, np.float32).reshape(1, 2, 3)
    for fn in ("log_sum_exp", "log_prob_from_logits"):
        (want, want_grad), (got, got_grad) = both(fn, x)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=fn)
        np.testing.assert_allclose(got_grad, want_grad, rtol=1e-6, atol=1e-6, err_msg=fn)


def test_shifts_one_hot_concat_elu_and_samplers() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    for fn in ("down_shift", "right_shift", "concat_elu"):
        (want, want_grad), (got, got_grad) = both(fn, x)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=fn)
        np.testing.assert_allclose(got_grad, want_grad, rtol=1e-6, atol=1e-7, err_msg=fn)
        if fn != "concat_elu":  # a zero first row / column, the last one dropped
            cut = (slice(None), slice(None), 0) if fn == "down_shift" else (Ellipsis, 0)
            assert not got[cut].any() and got.shape == x.shape
    index = rng.integers(0, 4, size=(2, 3, 5))
    hots = [loaded(lib).to_one_hot(loaded(lib).torch.from_numpy(index), 4, fill_with=2.).numpy()
            for lib in ("torch", "ours")]
    np.testing.assert_array_equal(hots[1], hots[0])
    want = hots[0]
    assert want.shape == (2, 3, 5, 4) and (want.sum(-1) == 2).all()
    for channels, fn in ((3, "sample_from_discretized_mix_logistic"), (1, "sample_from_discretized_mix_logistic_1d")):
        l = rng.normal(size=(2, (10 if channels == 3 else 3) * NR_MIX, 4, 4)).astype(np.float32)
        outs = []
        for lib in ("torch", "ours"):
            m = loaded(lib)
            m.NOISE = np.random.RandomState(1)
            outs.append(getattr(m, fn)(m.torch.from_numpy(l), NR_MIX).numpy())
            m.NOISE = None
        np.testing.assert_allclose(outs[1], outs[0], rtol=0, atol=1e-6, err_msg=fn)
        assert outs[0].shape == (2, channels, 4, 4) and np.abs(outs[0]).max() <= 1
        own = getattr(loaded("ours"), fn)(loaded("ours").torch.from_numpy(l), NR_MIX).numpy()  # Tensor.uniform_
        assert own.shape == outs[0].shape and np.abs(own).max() <= 1 and not np.array_equal(own, outs[0])


@OLD
def test_load_part_of_model_and_dropout(one_torch_thread: None, tmp_path: Path) -> None:
    """``load_part_of_model`` from a checkpoint whose ``nin`` has 30 outputs into one with 20 (a gated_resnet
    beside it): the three ``nin`` tensors of another shape fail their ``copy_`` (the exception printed; its wording
    differs, ours a ValueError in numpy's words, as README says), every other key loads. And ``gated_resnet``'s
    default ``Dropout2d(0.5)`` in training drops whole channels and doubles the rest."""
    printed = []
    for lib in ("torch", "ours"):
        m = loaded(lib)
        m.torch.manual_seed(0)
        other, model = [m.nn.Sequential(m.nin(8, n), m.gated_resnet(8, m.down_shifted_conv2d, m.concat_elu, 1))
                        for n in (30, 20)]
        path = str(tmp_path / f"{lib}.pth")
        m.torch.save(other.state_dict(), path)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            m.load_part_of_model(model, path)
        printed.append(out.getvalue().splitlines())
        for name, value in model.state_dict().items():
            assert np.array_equal(value.numpy(), other.state_dict()[name].numpy()) == (not name.startswith("0."))
        if lib == "ours":
            x = m.torch.ones(4, 64, 2, 2)
            y = other[1].dropout(x).numpy().reshape(4 * 64, 4)
            assert set(np.unique(y)) == {0.0, 2.0} and (y.std(1) == 0).all() and 0.3 < (y[:, 0] == 0).mean() < 0.7
    total = 3 + 3 * 2 + 3  # nin's three; conv_input's, conv_out's and nin_skip's three each
    assert printed[0][-1] == printed[1][-1] == f"added {1 - 3 / total} of params:" and len(printed[1]) == 4
