"""``made_maf.py`` (karpathy's MADE on binary data, ikostrikov's MAF with BatchNormFlow and Reverse) run on torch
and, imports swapped, on ours from torch's initial weights: masks equal exactly; per step the losses, log-dets and
gradient norms agree, per epoch the BatchNormFlow running stats and the validation log-likelihoods, then the best
model's test loss, samples from fed noise, their log-dets and the final parameters; a run stopped after two epochs,
checkpointed and resumed in fresh objects equals the uninterrupted one bit for bit in each library.

Tolerances: float32. Measured (MADE: 3 epochs of 4 steps; MAF 2-D: 4 epochs of 5 steps, 4-D: 2 epochs): MADE losses
within 5e-7, gradient norms 7e-8, parameters 1.5e-8, sampled bits equal. MAF losses within 5e-7, log-dets 6e-7,
gradient norms 3e-7, validation / test log-likelihoods 7e-6 (values 2.4-6.5), samples 7.6e-5 (values up to 3.6),
their log-dets 7e-6, parameters 3e-8. We allow rtol 1e-4, atol 5e-5. Some MAF numbers are decided by rounding
alone: a MADE block's output biases for the first feature's shift and every feature's log-scale change nothing once
the BatchNormFlow after it renormalizes (their gradients are zero but for rounding, about 1e-8), and the last
BatchNormFlow's ``beta`` / ``log_gamma`` start at their optimum; Adam turns that noise into steps of about lr, so
these parameters differ by up to 8e-4 and the running stats (which see them) by up to 1.4e-3, while everything
they feed is invariant. Those are allowed atol 2e-3."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "made_maf.py"
TOL = {"rtol": 1e-4, "atol": 5e-5}
FLAT = {"rtol": 0, "atol": 2e-3}  # rounding-decided by Adam on exactly flat directions (see the docstring)
LEGACY = pytest.mark.filterwarnings("ignore:size_average and reduce args will be deprecated:UserWarning",
                                    "ignore:size_average= and reduce= are deprecated:UserWarning")


def flat(name: str) -> bool:
    """The parameters and buffers Adam moves on rounding noise alone (and the running stats that see them)."""
    return name.endswith(("trunk.3.linear.bias", "running_mean", "running_var")) or name.startswith("4.")


def agree(theirs: dict, ours: dict) -> None:
    assert ours.keys() == theirs.keys()
    for key in theirs:
        if key == "masks":
            assert all(np.array_equal(a, b) for x, y in zip(ours[key], theirs[key], strict=True)
                       for a, b in zip(x, y, strict=True))
        elif key == "params":
            assert ours[key].keys() == theirs[key].keys()
            for name in theirs[key]:
                tol = {"rtol": 0, "atol": 0} if name.endswith("mask") else FLAT if flat(name) else TOL
                np.testing.assert_allclose(ours[key][name], theirs[key][name], err_msg=name, **tol)
        elif key == "running":
            np.testing.assert_allclose(np.ravel(ours[key]), np.ravel(theirs[key]), err_msg=key, **FLAT)
        elif key == "best_epoch":
            assert ours[key] == theirs[key]
        else:
            np.testing.assert_allclose(np.asarray(ours[key], float), np.asarray(theirs[key], float), err_msg=key,
                                       **TOL)


@LEGACY
def test_karpathy_made_matches_torch(one_torch_thread: None) -> None:
    """Two orderings cycled by the seed, an ensemble of both at test time, StepLR, sigmoid sampling."""
    theirs, ours = from_torch_weights(PATH, lambda m: m.MADE(4, [16, 16], 4, num_masks=2),
                                      lambda m, model, lib: m.run_made(model))
    np.testing.assert_array_equal(ours.pop("samples"), theirs.pop("samples"))
    agree(theirs, ours)
    assert ours["test"][-1] < ours["test"][0]


def test_made_masks_match_torch() -> None:
    """karpathy's masks for natural / permuted orderings and nout = 2 * nin, and ikostrikov's get_mask, exactly."""
    with program(PATH, "torch") as t, program(PATH, "ours") as o:
        for kwargs in ({"natural_ordering": True}, {"num_masks": 3}):
            made = [m.MADE(5, [7, 6], 10, **kwargs) for m in (t, o)]
            for _ in range(3):
                for a, b in zip(*(list(m.net.modules())[1::2] for m in made), strict=True):
                    assert a.mask.dtype == torch.float32 and b.mask.dtype.name == "float32"
                    np.testing.assert_array_equal(b.mask.numpy(), a.mask.numpy())
                for m in made:
                    m.update_masks()
        for mask_type in ("input", None, "output"):
            for sizes in ((3, 8, 3), (8, 8, 4), (8, 4, 2)):
                mask = o.get_mask(*sizes, mask_type=mask_type)
                assert mask.dtype.name == "float32"
                np.testing.assert_array_equal(mask.numpy(), t.get_mask(*sizes, mask_type=mask_type).numpy())


@pytest.mark.parametrize("d, epochs", [(2, 4), (4, 2)])
def test_maf_matches_torch(one_torch_thread: None, d: int, epochs: int) -> None:
    theirs, ours = from_torch_weights(PATH, lambda m: m.make_maf(d, 16, 2),
                                      lambda m, model, lib: m.run_maf(model, epochs=epochs, d=d))
    assert ours.pop("roundtrip") < 1e-5 and theirs.pop("roundtrip") < 1e-5  # inverse(direct) is the identity
    agree(theirs, ours)
    assert ours["valid"][-1] < ours["valid"][0]


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_maf_resume_is_exact(one_torch_thread: None, lib: str) -> None:
    with program(PATH, lib) as m:
        runs = []
        for resume_at in (None, 2):
            m.torch.manual_seed(0)
            runs.append(m.run_maf(m.make_maf(2, 16, 2), epochs=3, resume_at=resume_at))
    whole, resumed = runs
    assert whole.keys() == resumed.keys()
    for key in whole:
        if key == "params":
            assert_params_close(resumed[key], whole[key], rtol=0, atol=0)
        else:
            assert np.array_equal(np.asarray(whole[key]), np.asarray(resumed[key])), key
