"""``mean_teacher.py`` (CuriousAI's mean-teacher: a student trained by SGD + Nesterov with weight decay on the
labelled ``CrossEntropyLoss(size_average=False, ignore_index=NO_LABEL)`` plus a sigmoid-ramped consistency cost to a
``detach_``ed EMA teacher, the two-head residual logit cost, the linear lr warmup and per-step cosine rampdown,
TwoStreamBatchSampler batches over a relabelled dataset, topk ``accuracy`` into AverageMeterSets, validation and
checkpoints) run on torch and, imports swapped, on ours from torch's initial weights (student and teacher) and the
same numpy data, noise and batch order: every step's lr, consistency weight, losses (class, teacher class,
consistency, residual, total), top-1 of student and teacher, student and teacher state_dicts (BatchNorm buffers
included), the validation precisions, the printed lines and the warnings (torch warns of the deprecated
``add_(Number, Tensor)`` once a process, ours every time the filters let it) agree; the run resumed from a checkpoint
equals the uninterrupted one bit for bit in each library.

Tolerances: float32; the runs differ by summation order in the convolutions and matmuls, which SGD carries on.
Measured over 28 steps each: convnet with mse consistency: parameters and buffers of student and teacher within
2.4e-7 (values up to about 2), losses within 6e-8 (consistency 1.5e-8, residual 5e-10); MLP with kl consistency:
parameters within 8.6e-8, losses within 4.2e-7, the kl cost within 3.6e-7 (1.2e-5 relative: the KL of two close
softmaxes cancels, and float64 says ours is the closer). lrs, consistency weights and validation precisions are
equal (Python floats from numpy in both; counts). A top-1 of ``k * (100.0 / n)`` can differ in its last float32
unit (seen 100.00000763 / 100.0): torch computes ``100.0 / n`` as ``reciprocal(n) * 100`` (README's Differences).
We allow rtol 1e-5 and atol 1e-6; the printed lines (3-4 decimals) must be equal as text.
The ``.view(-1)`` of ``correct[:k]`` in ``accuracy`` is spelled ``.reshape(-1)``, as later forks do: torch 2.13
refuses the view of the transposed slice, as ours does."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 1e-6}
WARNS = ("pin_memory", "overload of add_", "size_average", "volatile")  # the words both libraries' messages share
EXACT = ("lr", "cons_weight", "prec1")
CONFIGS = {"convnet_mse": {"arch": "convnet"},
           "mlp_kl": {"arch": "mlp", "consistency_type": "kl", "logit_distance_cost": -1, "lr": 0.2}}


def states(*models: object) -> list[dict]:
    return [{k: v.detach().numpy().copy() for k, v in model.state_dict().items()} for model in models]


def run(lib: str, weights: list[dict] | None = None, resume_at: int | None = None, **config: object) -> dict:
    """The program's main loop over 4 epochs (7 steps each); student and teacher start from ``weights`` if given.
    With ``resume_at`` it stops after that epoch and a fresh student, teacher and optimizer resume from the
    checkpoint. Returns the trace with the lines, the warnings and the initial weights."""
    with program(HERE / "mean_teacher.py", lib) as m, tempfile.TemporaryDirectory() as folder, \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m.torch.manual_seed(0)
        args = m.Args(**config)
        model, ema_model = m.create_model(args.arch), m.create_model(args.arch, ema=True)
        if weights is None:
            weights = states(model, ema_model)
        for net, state in zip((model, ema_model), weights, strict=True):
            net.load_state_dict({k: m.torch.tensor(v) for k, v in state.items()})
        assert all(not p.requires_grad for p in ema_model.parameters())
        np.random.seed(0)
        train_loader, eval_loader = m.create_data_loaders(args)
        trainer = m.MeanTeacher(args, model, ema_model)
        trace = trainer.main(train_loader, eval_loader, folder, stop_after=resume_at)
        if resume_at is not None:
            resumed = m.MeanTeacher(args, m.create_model(args.arch), m.create_model(args.arch, ema=True))
            resumed.trace, resumed.lines = trace, trainer.lines
            resumed.resume(str(Path(folder) / f"checkpoint.{resume_at - 1}.ckpt"))
            trace = resumed.main(train_loader, eval_loader, folder)
            model, ema_model = resumed.model, resumed.ema_model
            assert not any(p.requires_grad for p in ema_model.parameters())  # load_state_dict kept detach_'s mark
        assert all(p.grad is None for p in ema_model.parameters())  # the teacher never takes part in backward
        trace["lines"] = [line.replace(folder, "DIR") for line in trainer.lines]
        said = [str(w.message) for w in caught]
        trace["warnings"] = sorted({("UserWarning", next((k for k in WARNS if k in text), text)) for text in said})
        assert all(w.category is UserWarning for w in caught)
        trace["weights"] = weights
    return trace


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_mean_teacher_matches_torch(one_torch_thread: None, config: str) -> None:
    theirs = run("torch", **CONFIGS[config])
    ours = run("ours", theirs["weights"], **CONFIGS[config])
    assert ours.keys() == theirs.keys()
    for key in theirs:
        if key in ("student", "teacher"):
            assert len(ours[key]) == len(theirs[key]) == 28
            for got, want in zip(ours[key], theirs[key]):
                assert_params_close(got, want, **TOL)
        elif key in ("lines", *EXACT):
            assert ours[key] == theirs[key], key
        elif key not in ("weights", "warnings"):
            np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert ours["warnings"] == [("UserWarning", k) for k in sorted(WARNS)]  # torch warns of add_ once a process
    assert set(theirs["warnings"]) | {("UserWarning", "overload of add_")} == set(ours["warnings"])
    assert ours["cons_weight"][0] == pytest.approx(10 * np.exp(-5)) and ours["cons_weight"][-1] == 10.0
    assert ours["lr"][0] == 0.01 and max(ours["lr"]) == pytest.approx(0.1 if config == "convnet_mse" else 0.2, 0.1)
    assert ours["prec1"][-1][1] >= 75 and ours["loss"][-1] < ours["loss"][0]  # the teacher learned the shapes
    # step 1's alpha is min(1 - 1 / 2, 0.97): the teacher is the true average of its start and the student
    first = {k: v for k, v in ours["student"][0].items() if "running" not in k and "batches" not in k}
    assert_params_close({k: ours["teacher"][0][k] for k in first}, {k: (v + ours["weights"][1][k]) / 2 for k, v in
                                                                   first.items()}, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_checkpoint_resume_is_exact(one_torch_thread: None, lib: str) -> None:
    """Stopped after epoch 2, the checkpoint (student, teacher, SGD momenta, global_step, best_prec1) loaded into
    fresh models and optimizer: every number and line equals the uninterrupted run's."""
    whole = run(lib)
    resumed = run(lib, whole["weights"], resume_at=2)
    assert any(line.startswith("=> loaded checkpoint 'DIR/checkpoint.1.ckpt'") for line in resumed["lines"])
    resumed["lines"] = [line for line in resumed["lines"] if not line.startswith("=> loaded")]
    for key in whole:
        if key in ("student", "teacher", "weights"):
            for got, want in zip(resumed[key], whole[key], strict=True):
                assert got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in want), key
        elif key == "warnings" and lib == "torch":  # torch warns of add_'s overload once a process: in whichever
            once = {("UserWarning", "overload of add_")}  # run comes first, or in neither after an earlier test
            assert set(resumed[key]) - once == set(whole[key]) - once, key
        else:
            assert resumed[key] == whole[key], key


def test_data_pipeline() -> None:
    """relabel_dataset drops the unlisted labels and refuses unknown names; TwoStreamBatchSampler puts the
    unlabelled indices first and the labelled ones last in every batch, each unlabelled index once an epoch."""
    with program(HERE / "mean_teacher.py", "ours") as m:
        np.random.seed(0)
        args = m.Args()
        loader, _ = m.create_data_loaders(args)
        labels = [target for _, target in loader.dataset.imgs]
        assert labels[:24] == [i % 4 for i in range(24)] and set(labels[24:]) == {m.NO_LABEL}
        batches = list(loader.batch_sampler)
        assert len(batches) == len(loader) == 7 and all(len(b) == 16 for b in batches)
        unlabelled = [i for b in batches for i in b[:10]]
        assert len(set(unlabelled)) == 70 and min(unlabelled) >= 24
        assert all(i < 24 for b in batches for i in b[10:])
        with pytest.raises(LookupError, match=r"1 unknown files: nope\.png"):
            m.relabel_dataset(loader.dataset, {"nope.png": "bar"})
        assert m.linear_rampup(0.5, 1) == 0.5 and m.cosine_rampdown(5, 5) == 0.0 and m.sigmoid_rampup(7, 0) == 1.0
