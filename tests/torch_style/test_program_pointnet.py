"""The PointNet program (``pointnet.py``) on torch and, with the imports swapped, on ours: from torch's initial weights
and the same numpy point clouds, fxia22's classification loop (with the feature transform and its regularizer) and
segmentation loop give the same losses, accuracies, printed lines, gradient norms, StepLR learning rates, BatchNorm
momenta (set by ``model.apply``), input and feature transforms of the first batch, eval-mode test losses / accuracies
(yanx27's per-class one too) / part IoUs, final parameters and BatchNorm running statistics (``num_batches_tracked``
exactly). Each epoch's checkpoint dict (``torch.save``) holds torch's numbers (Adam's moments under the paper's
names here), its state_dict loads into a fresh model that predicts what the trained one does, and training resumed
from the first epoch's equals the uninterrupted run bit for bit; eval mode switches a p=0.3 Dropout off in both.

Tolerances, measured. In float64 (``model.double()``, the Dataset casting its clouds) the two libraries agree to
rounding all the way: losses within 1.8e-13 relative, gradient norms 3.5e-12, transforms 3.1e-12 absolute, final
parameters 1.3e-10 absolute (Adam divides two small numbers for weights whose gradients nearly vanish); we allow
rtol 1e-9 / atol 1e-10 (parameters atol 1e-8). Accuracies and IoUs, counts of argmaxes, agree exactly. In float32
the model itself amplifies rounding: BatchNorm over 8 samples in the fully connected layers of the T-nets divides by
small batch deviations, so a one-ulp difference upstream moves the 16 x 16 feature transform by up to 2.7e-5 in the
first forward already, and Adam's steps grow it (the losses of the two libraries 9e-4 apart after 9 steps). So in
float32 we check the first step against torch's float64 run (the truth): ours must be as close to it as torch's
float32 is. Measured errors against the float64 run, torch's float32 / ours: loss 9.0e-7 / 2.4e-8 relative,
gradient norm 6.4e-5 / 1.6e-5 relative, input transform 2.1e-6 / 1.8e-6 and feature transform 2.3e-5 / 7.7e-6
absolute; we allow loss rtol 3e-6, norm rtol 2e-4, transforms atol 1e-5 / 1e-4 (about 3x torch's own float32
error, for both libraries)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

import tinygrad_adam  # noqa: E402

PROGRAM = HERE / "pointnet.py"
LIBS = {"torch": torch, "ours": tinygrad_adam}
TOL64 = {"rtol": 1e-9, "atol": 1e-10}
PARAM_TOL64 = {"rtol": 1e-9, "atol": 1e-8}


def make(m, task: str, feature_transform: bool, dropout: float = 0.0):
    if task == "cls":
        return m.PointNetCls(k=3, feature_transform=feature_transform, dropout=dropout)
    return m.PointNetDenseCls(k=2, feature_transform=feature_transform)


def run(task: str, feature_transform: bool, dtype: str, folder: Path, nepoch: int = 3,
        resume: tuple[Path, int] | None = None) -> dict[str, dict]:
    """Both libraries' ``train`` on 24 clouds (8 per class, 64 of 96 points each) from torch's initial weights,
    torch on one thread; each result holds the history, what it printed and the final state_dict. With ``resume``
    (folder, epoch), each library goes on from its own checkpoint of that epoch in that folder (its Datasets'
    generators first drawn as far)."""
    results, weights = {}, None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for lib in LIBS:
            with program(PROGRAM, lib) as m:
                dt = getattr(m.torch, dtype)
                torch.manual_seed(0)
                model = make(m, task, feature_transform).to(dt)
                if weights is None:
                    weights = {k: v.numpy().copy() for k, v in model.state_dict().items()}
                else:
                    model.load_state_dict(weights)
                train = m.PointCloudDataset(*m.make_clouds(8, seed=0), seed=0, dtype=dt)
                test = m.PointCloudDataset(*m.make_clouds(4, seed=1), data_augmentation=False, seed=1, dtype=dt)
                start = None
                if resume is not None:
                    start = resume[0] / f"{lib}_{resume[1]}.pth"
                    for _ in range(resume[1] + 1):  # the draws of the epochs done, test set twice (loss, accuracy)
                        [train[i] for i in range(len(train))] + [test[i % len(test)] for i in range(2 * len(test))]
                with contextlib.redirect_stdout(io.StringIO()) as out:
                    history = m.train(model, train, test, nepoch=nepoch, task=task, checkpoint=folder / lib,
                                      resume=start)
                state = {k: np.asarray(v).copy() for k, v in model.state_dict().items()}
                results[lib] = {"history": history, "printed": out.getvalue(), "state": state, "module": m,
                                "model": model, "test": test}
    finally:
        torch.set_num_threads(threads)
    return results


def assert_same_run(got: dict, want: dict, exact: bool = False) -> None:
    """``got`` against ``want``: within the float64 tolerances, or bit for bit with ``exact``."""
    assert got["printed"] == want["printed"]
    hg, hw = got["history"], want["history"]
    for key in ("lr", "momentum", "acc", "test_acc"):  # (test_acc: fxia22's and yanx27's per-class, or the IoU)
        assert hg[key] == hw[key], key
    tol = {"rtol": 0, "atol": 0} if exact else TOL64
    for key in ("loss", "norm", "test_loss", "trans", "trans_feat"):
        assert len(hg[key]) == len(hw[key]), key
        np.testing.assert_allclose(np.array(hg[key]), np.array(hw[key]), err_msg=key, **tol)
    assert list(got["state"]) == list(want["state"])
    for name, value in want["state"].items():
        assert got["state"][name].dtype == value.dtype, name
        if name.endswith("num_batches_tracked"):
            assert got["state"][name] == value == 9, name
        else:
            np.testing.assert_allclose(got["state"][name], value, err_msg=name, **(tol if exact else PARAM_TOL64))


@pytest.fixture(scope="module")
def cls_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict], Path]:
    """The classifier with the feature transform in float64, and the folder of its checkpoints."""
    folder = tmp_path_factory.mktemp("pointnet")
    return run("cls", True, "float64", folder), folder


@pytest.mark.parametrize("task", ["cls", "seg"])
def test_pointnet_with_feature_transform_matches_torch_in_float64(task: str, tmp_path: Path,
                                                                  request: pytest.FixtureRequest) -> None:
    if task == "cls":
        results, tmp_path = request.getfixturevalue("cls_run")
    else:
        results = run(task, True, "float64", tmp_path)
    assert_same_run(results["ours"], results["torch"])
    history = results["ours"]["history"]
    assert results["ours"]["printed"].count("\n") == 9 and history["lr"] == [0.001, 0.0005, 0.0005]
    assert history["momentum"] == [0.1, 0.05, 0.025]
    assert len(history["trans_feat"]) == 3 and history["trans_feat"][0].shape == (8, 16, 16)
    assert history["trans"][0].shape == (8, 3, 3)
    assert history["loss"][-1] < history["loss"][0]  # it learned
    for lib, result in results.items():  # each epoch's checkpoint
        m, model = result["module"], result["model"]
        fresh = make(m, task, True).double()
        fresh.load_state_dict(LIBS[lib].load(tmp_path / f"{lib}_2.pth")["model_state_dict"])
        fresh.eval()
        model.eval()
        points = m.torch.stack([result["test"][i][0] for i in range(4)]).transpose(2, 1)
        with m.torch.no_grad():
            np.testing.assert_array_equal(fresh(points)[0].numpy(), model(points)[0].numpy())
    saved = {lib: LIBS[lib].load(tmp_path / f"{lib}_0.pth") for lib in LIBS}
    assert saved["ours"]["epoch"] == saved["torch"]["epoch"] == 0
    assert list(saved["ours"]["model_state_dict"]) == list(results["ours"]["state"])
    for name, value in saved["torch"]["model_state_dict"].items():
        np.testing.assert_allclose(np.asarray(saved["ours"]["model_state_dict"][name]), value.numpy(),
                                   err_msg=name, **PARAM_TOL64)
    groups = [saved[lib]["optimizer_state_dict"]["param_groups"] for lib in LIBS]
    for key in ("lr", "betas", "eps", "weight_decay", "initial_lr", "params"):
        assert [g[key] for g in groups[0]] == [g[key] for g in groups[1]], key
    got, states = (saved[lib]["optimizer_state_dict"]["state"] for lib in ("ours", "torch"))
    assert sorted(got) == sorted(states)
    for index, want in states.items():
        assert float(got[index]["step"]) == float(want["step"]) == 3
        for theirs in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(np.asarray(got[index][theirs]), want[theirs].numpy(), err_msg=theirs,
                                       **PARAM_TOL64)


def test_pointnet_resumes_exactly_from_a_checkpoint(cls_run: tuple[dict[str, dict], Path], tmp_path: Path) -> None:
    """yanx27's checkpoint dict of the first epoch (model, Adam and StepLR state through torch.save / torch.load),
    loaded into fresh objects: the last two epochs are the uninterrupted run's, bit for bit, in each library."""
    whole, folder = cls_run
    resumed = run("cls", True, "float64", tmp_path, resume=(folder, 0))
    for lib in LIBS:
        done = {**whole[lib], "history": {k: v[1:] for k, v in whole[lib]["history"].items()}}
        done["history"].update({k: whole[lib]["history"][k][3:] for k in ("loss", "acc", "norm")})
        done["printed"] = "".join(whole[lib]["printed"].splitlines(keepends=True)[3:])
        assert_same_run(resumed[lib], done, exact=True)


def test_pointnet_first_step_in_float32_is_as_close_to_float64_as_torch(tmp_path: Path) -> None:
    truth = run("cls", True, "float64", tmp_path, nepoch=1)["torch"]["history"]
    for lib, result in run("cls", True, "float32", tmp_path, nepoch=1).items():
        got = result["history"]
        assert got["trans"][0].dtype == got["trans_feat"][0].dtype == np.float32
        np.testing.assert_allclose(got["loss"][0], truth["loss"][0], rtol=3e-6, err_msg=lib)
        np.testing.assert_allclose(got["norm"][0], truth["norm"][0], rtol=2e-4, err_msg=lib)
        np.testing.assert_allclose(got["trans"][0], truth["trans"][0], atol=1e-5, err_msg=lib)
        np.testing.assert_allclose(got["trans_feat"][0], truth["trans_feat"][0], atol=1e-4, err_msg=lib)


def test_pointnet_eval_mode_switches_dropout_off(one_torch_thread: None) -> None:
    """fxia22's p=0.3 Dropout in eval mode (BatchNorm on its running statistics): the same log-probabilities."""
    outputs, weights = {}, None
    points = np.random.default_rng(5).normal(size=(4, 3, 32)).astype(np.float32)
    for lib in LIBS:
        with program(PROGRAM, lib) as m:
            torch.manual_seed(0)
            model = make(m, "cls", False, dropout=0.3)
            if weights is None:
                weights = {k: v.numpy().copy() for k, v in model.state_dict().items()}
            else:
                model.load_state_dict(weights)
            model.eval()
            with m.torch.no_grad():
                outputs[lib] = [model(m.torch.from_numpy(points))[0].numpy() for _ in range(2)]
    np.testing.assert_array_equal(outputs["ours"][0], outputs["ours"][1])
    np.testing.assert_allclose(outputs["ours"][0], outputs["torch"][0], rtol=1e-5, atol=1e-6)
