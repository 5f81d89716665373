"""``spatial_transformer.py`` (the Spatial Transformer Networks tutorial on 20x20 synthetic shapes) run on torch and,
imports swapped, on ours from torch's initial weights and the same batches: the training losses, gradient norms
(of the whole model, and of the zero-initialised last ``fc_loc`` layer, which only the grid_sample -> affine_grid
gradient reaches), the thetas on a probe batch after each epoch, the test losses (``size_average=False`` and
``reduction='sum'``) and accuracies, the printed lines, ``visualize_stn``'s grids and transformed images, the final
parameters and a ``torch.save`` / ``torch.load`` state_dict round trip; for the tutorial's defaults (which warn:
align_corners=False), ``align_corners=True``, and ``mode='nearest'`` with ``padding_mode='border'``.

Tolerances: float32; the runs differ by summation order in the convolutions and matmuls. Measured over 12 SGD steps
(lr 0.01): losses within 2.4e-7, gradient norms within 2.4e-7 (of ~1), the fc_loc gradient sums within 6e-7 (of
~2), thetas within 4e-9, transformed images within 8.4e-6 (of ~3: bilinear weights times a normalised image; 2.4e-5
on an AMD EPYC with OpenBLAS's Haswell kernels),
parameters within 1.5e-8; over 60 steps at lr 0.05 (the learning check) losses within 1.8e-7, gradient norms within
1.5e-6, thetas within 3.6e-7, parameters within 2.4e-7. We allow rtol 1e-5 and atol 5e-5 for the series and images,
atol 1e-6 for parameters. Accuracies are counts and must be equal. A printed loss can round the other way in its
sixth decimal (seen: 1.117384 / 1.117385), so the lines are compared as text up to that number, and it by value.
With nearest sampling the grid gets no gradient (as torch), so ``fc_loc`` stays the identity in both."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 5e-5}
VARIANTS = {"tutorial": {}, "align_corners": {"align_corners": True},
            "nearest_border": {"align_corners": False, "mode": "nearest", "padding_mode": "border"}}


def both(epochs: int, lr: float, **options: object) -> tuple[dict, dict]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Default grid_sample and affine_grid behavior")  # the tutorial's lines
        warnings.filterwarnings("ignore", "size_average and reduce args")
        return from_torch_weights(HERE / "spatial_transformer.py", lambda m: m.Net(p=0.0, **options),
                                  lambda m, model, lib: m.run(model, epochs=epochs, lr=lr))


def agree(theirs: dict, ours: dict) -> None:
    for key in ("loss", "norm", "loc_grad", "theta"):
        assert [np.shape(v) for v in ours[key]] == [np.shape(v) for v in theirs[key]], key
        np.testing.assert_allclose(np.array(ours[key]), np.array(theirs[key]), err_msg=key, **TOL)
    for (loss, loss_sum, correct), (want, _, want_correct) in zip(ours["test"], theirs["test"], strict=True):
        assert correct == want_correct and type(correct) is int
        assert loss == pytest.approx(want, rel=1e-6) and loss_sum == pytest.approx(loss, rel=1e-6)
    assert len(ours["lines"]) == len(theirs["lines"])
    for got, want in zip(ours["lines"], theirs["lines"]):
        if got.startswith("Train"):
            (got, got_loss), (want, want_loss) = got.rsplit(" ", 1), want.rsplit(" ", 1)
            assert float(got_loss) == pytest.approx(float(want_loss), abs=1.1e-6)
        assert got == want
    for got, want, what in zip(ours["visual"], theirs["visual"], ("in_grid", "out_grid", "transformed")):
        assert got.shape == want.shape and got.dtype == want.dtype, what
        np.testing.assert_allclose(got, want, err_msg=what, **TOL)
    assert_params_close(ours["params"], theirs["params"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_spatial_transformer_matches_torch(one_torch_thread: None, variant: str) -> None:
    theirs, ours = both(3, 0.01, **VARIANTS[variant])
    agree(theirs, ours)
    assert len(ours["loss"]) == 12 and ours["lines"][0] == theirs["lines"][0]
    in_grid, out_grid, transformed = ours["visual"]
    assert in_grid.shape == out_grid.shape == (2 + 4 * 22, 2 + 4 * 22, 3) and transformed.shape == (16, 1, 20, 20)
    assert in_grid.min() >= 0 and in_grid.max() <= 1  # convert_image_np's np.clip
    if variant == "nearest_border":
        assert ours["loc_grad"] == [0.0] * 12 and ours["theta"][-1][0].tolist() == [[1, 0, 0], [0, 1, 0]]
    else:
        assert min(ours["loc_grad"]) > 0  # affine_grid -> grid_sample carries the gradient to fc_loc


def test_spatial_transformer_learns_like_torch(one_torch_thread: None) -> None:
    theirs, ours = both(15, 0.05)
    agree(theirs, ours)
    assert ours["test"][-1][2] >= 24 and ours["loss"][-1] < 0.75 * ours["loss"][0]  # of 32; torch's run: 27
    assert np.abs(ours["theta"][-1] - ours["theta"][0]).max() > 1e-3  # the transformer moved off the identity


def test_identity_init_dropout_and_state_dict_round_trip(one_torch_thread: None) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Default grid_sample and affine_grid behavior")
        with program(HERE / "spatial_transformer.py", "ours") as o:
            torch.manual_seed(0)
            model = o.Net()  # the tutorial's dropout (p=0.5)
            fc = model.fc_loc[2]
            assert not fc.weight.detach().numpy().any() and fc.bias.detach().numpy().tolist() == [1, 0, 0, 0, 1, 0]
            assert fc.weight.requires_grad and fc.bias.requires_grad  # .data writes keep them parameters
            data = next(iter(o.loaders()[1]))[0]
            with o.torch.no_grad():  # the identity theta: grid_sample reproduces the image (align_corners=False)
                np.testing.assert_allclose(model.stn(data).numpy(), data.numpy(), rtol=0, atol=2e-6)
            model.train()
            first, second = model(data), model(data)
            assert first.shape == (16, 3) and not np.allclose(first.detach().numpy(), second.detach().numpy())
            first.sum().backward()
            model.eval()
            with o.torch.no_grad():
                want = model(data).numpy()
                np.testing.assert_array_equal(model(data).numpy(), want)  # eval: no dropout
                fresh = o.state_dict_round_trip(model, o.Net)
                np.testing.assert_array_equal(fresh(data).numpy(), want)
            assert list(fresh.state_dict()) == list(model.state_dict())
