"""``metric_learning.py`` (an embedding MLP trained by batch-hard triplet mining, then knowledge distillation) run
on torch and, imports swapped, on ours: from torch's initial weights and the same numpy points and batches, every
loss (hand-written batch-hard, TripletMarginLoss, CosineEmbeddingLoss, MarginRankingLoss, SoftMarginLoss; the KD
KL terms in their four spellings and the label-smoothed cross-entropy), the mined positive / negative indices,
gradient norms, learning rates, recall@k, R-precision, nearest-centroid and classification accuracies, the
neighbour lists, and the final parameters and BatchNorm statistics agree; a checkpoint saved to a BytesIO mid-way
and resumed gives the uninterrupted run's numbers exactly; and both parts learned.

Tolerances: float32 throughout, 12 SGD steps of 16 points, 15 Adam steps on the teacher and 24 on the student.
The runs differ only by rounding (summation order in matmul, norms and reductions), which the steps carry on.
Measured over the four distance forms: losses within 1.6e-6 absolute (4.5e-6 relative), gradient norms (~5-9)
within 2.9e-6 (2.1e-6 relative), parameters within 4.4e-7, BatchNorm running means within 2.4e-7 and running
variances (~1-3.5) within 3.8e-6 (1.8e-6 relative), R-precision within 6e-8; the distillation's series within
7.2e-7 and its parameters within 9e-8. We allow rtol 1e-5 and atol 2e-6. The mined indices, neighbour lists,
recall@k and accuracies must be equal exactly: they could differ only where two distances lie within rounding of
each other, which these seeds never meet. ``addmm`` goes through torch's deprecated ``addmm_(beta, alpha, mat1,
mat2)`` overload (its warning is silenced here; ``tests/test_metric_learning_fixes.py`` checks it)."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 2e-6}
EXACT = ("active", "pos_idx", "neg_idx", "lr", "train_acc", "test_acc", "teacher_acc", "resumed_epoch")


def agree(theirs: dict, ours: dict, skip: tuple[str, ...] = ()) -> None:
    assert ours.keys() == theirs.keys()
    for key in theirs.keys() - set(skip):
        if key in EXACT:
            assert ours[key] == theirs[key], key
        elif isinstance(theirs[key], dict):  # final parameters and buffers
            assert ours[key].keys() == theirs[key].keys(), key
            for name, value in theirs[key].items():
                assert ours[key][name].dtype == value.dtype, name  # num_batches_tracked stays int64
                np.testing.assert_allclose(ours[key][name], value, err_msg=name, **TOL)
        else:
            np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)


def embedding_runs(how: str) -> tuple[dict, dict]:
    results, weights = [], None
    for lib in ("torch", "ours"):
        with program(HERE / "metric_learning.py", lib) as m:
            x, y = m.make_clusters(12)
            torch.manual_seed(0)
            model = m.EmbeddingNet()
            if weights is None:
                weights = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
            else:
                assert list(model.state_dict()) == list(weights)
                model.load_state_dict(weights)
            results.append(m.train_embedding(model, x, y, how=how))
    return results[0], results[1]


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.filterwarnings("ignore:This overload of addmm_ is deprecated")
@pytest.mark.parametrize("how", ["cdist", "expanded", "gram", "addmm"])
def test_batch_hard_triplet_embedding_matches_torch(how: str) -> None:
    theirs, ours = embedding_runs(how)
    agree(theirs, ours, skip=("eval",))
    assert len(ours["eval"]) == len(theirs["eval"]) == 4  # before training and after each epoch
    for got, want in zip(ours["eval"], theirs["eval"]):
        assert got.keys() == want.keys()
        np.testing.assert_array_equal(got["neighbours"], want["neighbours"])
        assert got["r_precision"] == pytest.approx(want["r_precision"], abs=1e-6)
        for key in ("recall@1", "recall@2", "recall@4", "centroid_acc"):
            assert got[key] == want[key], key
    first, last = ours["eval"][0], ours["eval"][-1]
    assert last["recall@1"] > first["recall@1"] + 0.15 and last["r_precision"] > first["r_precision"] + 0.2
    assert np.mean(ours["hard"][-4:]) < 0.6 * np.mean(ours["hard"][:4])  # the triplets got easier
    assert ours["lr"][-1] == [0.0125] * 4 and ours["state"]["backbone.1.num_batches_tracked"] == 12


def split(m) -> tuple[np.ndarray, ...]:
    """192 training points and 64 test points of the same 8 clusters."""
    x, y = m.make_clusters(32, spread=1.5, seed=1)
    order = np.random.default_rng(2).permutation(len(y))
    return x[order[64:]], y[order[64:]], x[order[:64]], y[order[:64]]


def distill_run(lib: str, resume_after: int | None, teacher_weights: dict, student_weights: dict) -> dict:
    with program(HERE / "metric_learning.py", lib) as m:
        x, y, x_test, y_test = split(m)
        teacher, student = m.MLP(hidden=64), m.MLP(hidden=16)
        teacher.load_state_dict({k: m.torch.from_numpy(v) for k, v in teacher_weights.items()})
        student.load_state_dict({k: m.torch.from_numpy(v) for k, v in student_weights.items()})
        out = m.distill(teacher, student, x, y, x_test, y_test, resume_after=resume_after)
        out["teacher"] = {k: v.detach().numpy().copy() for k, v in teacher.named_parameters()}
        return out


@pytest.mark.usefixtures("one_torch_thread")
def test_knowledge_distillation_matches_torch_and_resumes_exactly() -> None:
    with program(HERE / "metric_learning.py", "torch") as t, program(HERE / "metric_learning.py", "ours") as o:
        torch.manual_seed(0)
        teachers, students = (t.MLP(hidden=64), o.MLP(hidden=64)), (t.MLP(hidden=16), o.MLP(hidden=16))
        for theirs, ours in (teachers, students):
            ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
        x, y = split(t)[:2]
        teacher_losses = [lib.train_teacher(model, x, y) for lib, model in zip((t, o), teachers)]
        np.testing.assert_allclose(teacher_losses[1], teacher_losses[0], **TOL)
        assert teacher_losses[1][-1] < 0.5 * teacher_losses[1][0]
        teacher_weights = {k: v.detach().numpy().copy() for k, v in teachers[0].named_parameters()}
        student_weights = {k: v.detach().numpy().copy() for k, v in students[0].named_parameters()}
    theirs = distill_run("torch", 2, teacher_weights, student_weights)
    ours = distill_run("ours", 2, teacher_weights, student_weights)
    agree(theirs, ours)
    for name, value in teacher_weights.items():  # the teacher stayed fixed
        np.testing.assert_array_equal(ours["teacher"][name], value)
    np.testing.assert_allclose(ours["kd_log_target"], ours["kd"], rtol=1e-6)
    np.testing.assert_allclose(ours["kd_functional"], ours["kd"], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ours["kd_mean"]) * 8, ours["kd"], rtol=1e-6)  # 8 classes
    uninterrupted = distill_run("ours", None, teacher_weights, student_weights)
    assert ours.pop("resumed_epoch") == 1
    for key in ours:  # the checkpoint round trip loses nothing: the same numbers bit for bit
        if key in ("params", "teacher"):
            for name in ours[key]:
                np.testing.assert_array_equal(ours[key][name], uninterrupted[key][name], err_msg=name)
        else:
            assert ours[key] == uninterrupted[key], key
    assert ours["test_acc"][-1] > ours["test_acc"][0] and ours["test_loss"][-1] < ours["test_loss"][0]
    assert ours["teacher_acc"] > 0.8 and ours["lr"][-1] == pytest.approx(1e-4)
