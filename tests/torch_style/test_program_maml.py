"""``maml.py`` (dragen1860/MAML-Pytorch's functional ``Learner`` and ``Meta``, and cbfinn/maml's sinusoid as its PyTorch
ports write it) run on torch and, imports swapped, on ours, from torch's initial weights and the same numpy tasks:
the N-way K-shot classifier (conv -> relu(inplace) -> batch_norm with passed-in running statistics -> max_pool,
twice, and a linear head) meta-trained with second-order (``create_graph=True``) and first-order inner loops, and
the sinusoid regressor (a 1-40-40-1 ReLU MLP, MSE) with and without ``stop_grad``: the query losses before and
after each inner step, the query accuracies (compared exactly), the meta-gradients themselves, the parameters and
the running statistics after every Adam meta-step, ``finetunning``'s accuracies on a ``deepcopy`` (which leaves the
net's running statistics alone), the printed lines and ``print(maml)``'s Learner lines agree. In float64 (the same
programs, the nets ``.double()``; the classifier also on the Learner's other layer kinds: convt2d, leakyrelu in
place, tanh, avg_pool2d, upsample, sigmoid, reshape) the meta-gradients of three inner steps agree with torch's to
1e-12 and, second order, with a central difference of the meta-loss, which the first-order ones miss by over 1e-2.

Tolerances: float32; the runs differ by summation order in the convolutions, batch_norm and matmuls, amplified by
three inner steps of lr 0.4 through batch_norm over 3 or 6 images. Measured over 3 meta-steps (classifier, both
orders) and 4 (sinusoid, both): losses within 1.0e-6 relative, meta-gradients within 8.7e-6 of each array's largest
element, parameters within 1.8e-7 and running statistics within 4.1e-6 absolute, the sinusoid's test losses within
3.4e-7 relative. That is torch's own spread: its run from weights one ulp away moves the losses by 8.5e-7, the
gradients by 1.1e-5, the parameters by 1.2e-7 and the running statistics by 3.6e-6. We allow rtol 5e-6 (losses),
5e-5 of the largest element (gradients), atol 1e-6 (parameters) and 2e-5 (running statistics); accuracies and the
printed classifier lines are equal. float64: losses within 1e-13 relative, gradients within 6.8e-14 of the largest
element (we allow 1e-12); the central difference (h 1e-6) agrees to 1.5e-9 (we allow 1e-6). The file takes about
5 s (6.5 s under load) on a shared 2-core machine, about 1 s of it numba's first load."""

from __future__ import annotations

import collections
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "maml.py"
ARGV = ["--epoch", "3", "--n_way", "3", "--k_spt", "1", "--k_qry", "2", "--imgsz", "8", "--task_num", "2",
        "--update_step", "3", "--update_step_test", "3", "--print_every", "1", "--test_every", "2",
        "--test_tasks", "2"]
LOSS_RTOL, GRAD_RTOL, PARAM_ATOL, BN_ATOL = 5e-6, 5e-5, 1e-6, 2e-5


def close_arrays(got: list, want: list, rtol_of_max: float, what: str) -> float:
    """Each pair of arrays within ``rtol_of_max`` of the torch array's largest magnitude; the largest such ratio."""
    worst = 0.0
    for step, (gs, ws) in enumerate(zip(got, want, strict=True)):
        for i, (g, w) in enumerate(zip(gs, ws, strict=True)):
            assert g.shape == w.shape and g.dtype == w.dtype
            ratio = float(np.max(np.abs(g - w)) / max(np.max(np.abs(w)), 1e-30))
            assert ratio <= rtol_of_max, f"{what} {i} at step {step}: {ratio}"
            worst = max(worst, ratio)
    return worst


def omniglot(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[dict, dict]:
    """omniglot_main on both libraries from torch's initial weights and the same numpy tasks; the printed lines."""
    def run(m: Any, maml: Any, lib: str) -> dict:
        np.random.seed(0)
        history = collections.defaultdict(list)
        capsys.readouterr()
        m.omniglot_main(argv, maml, history)
        lines = capsys.readouterr().out.splitlines()
        history["lines"] = [line for line in lines if line.startswith(("step:", "Test acc:", "Total trainable"))]
        history["repr"] = lines[:next(i for i, line in enumerate(lines) if "(vars)" in line)]
        history["net"] = maml.net
        return history
    return from_torch_weights(PATH, lambda m: m.make_meta(argv), run)


@pytest.mark.parametrize("first_order", [False, True])
def test_omniglot_maml_matches_torch(one_torch_thread: None, capsys: pytest.CaptureFixture[str],
                                     first_order: bool) -> None:
    """Three meta-steps of 2 tasks (3-way 1-shot, 2 queries a class, 3 inner steps), finetunning on 2 test tasks
    after steps 0 and 2."""
    theirs, ours = omniglot(ARGV + ["--first_order"] * first_order, capsys)
    assert ours["accs"] == theirs["accs"] and ours["test_accs"] == theirs["test_accs"]
    assert len(ours["accs"]) == 3 and len(ours["accs"][0]) == 4 and len(ours["test_accs"]) == 2
    assert ours["lines"] == theirs["lines"] and ours["num"] == theirs["num"] == 4 * 9 + 4 * 3 + 4 * 36 + 4 * 3 + 51
    assert ours["lines"][1].startswith("step: 0 \ttraining acc: [")
    # print(maml): Meta, Learner and its extra_repr's lines, the blank one after them included (the ParameterLists'
    # entries print differently: README's Differences)
    assert ours["repr"] == theirs["repr"] and theirs["repr"][-2:] == ["    linear:(in:16, out:3)", ""]
    np.testing.assert_allclose(ours["losses"], theirs["losses"], rtol=LOSS_RTOL)
    close_arrays(ours["grads"], theirs["grads"], GRAD_RTOL, "meta-gradient")
    for key in ("params", "bn"):
        for step, (gs, ws) in enumerate(zip(ours[key], theirs[key], strict=True)):
            for i, (g, w) in enumerate(zip(gs, ws, strict=True)):
                np.testing.assert_allclose(g, w, rtol=0, atol=PARAM_ATOL if key == "params" else BN_ATOL,
                                           err_msg=f"{key} {i} at step {step}")
    for out in (ours, theirs):  # the running statistics moved; the fine-tuned deepcopies left them alone
        assert not np.allclose(out["bn"][-1][0], 0) and not np.allclose(out["bn"][-1][1], 1)
        np.testing.assert_array_equal(out["bn"][-1][0], out["net"].vars_bn[0].numpy())


def sinusoid(stop_grad: bool, capsys: pytest.CaptureFixture[str]) -> tuple[dict, dict]:
    def run(m: Any, model: Any, lib: str) -> dict:
        np.random.seed(0)
        history = collections.defaultdict(list)
        capsys.readouterr()
        m.train_sinusoid(model, 4, 5, 3, history, test_updates=3)
        history["lines"] = capsys.readouterr().out.splitlines()
        return history
    return from_torch_weights(PATH, lambda m: m.SinusoidMAML(update_lr=0.001, num_updates=2, stop_grad=stop_grad),
                              run)


@pytest.mark.parametrize("stop_grad", [False, True])
def test_sinusoid_maml_matches_torch(one_torch_thread: None, capsys: pytest.CaptureFixture[str],
                                     stop_grad: bool) -> None:
    """Four meta-steps of 3 sinusoids (5 support and 5 query points, 2 inner steps), then a test-time fine-tune."""
    theirs, ours = sinusoid(stop_grad, capsys)
    np.testing.assert_allclose(ours["losses"], theirs["losses"], rtol=LOSS_RTOL)
    np.testing.assert_allclose(ours["test"], theirs["test"], rtol=LOSS_RTOL)
    close_arrays(ours["grads"], theirs["grads"], GRAD_RTOL, "meta-gradient")
    for step, (gs, ws) in enumerate(zip(ours["params"], theirs["params"], strict=True)):
        for i, (g, w) in enumerate(zip(gs, ws, strict=True)):
            np.testing.assert_allclose(g, w, rtol=0, atol=PARAM_ATOL, err_msg=f"param {i} at step {step}")
    assert len(ours["lines"]) == len(theirs["lines"]) == 4 and ours["lines"][0].startswith("Iteration 0: ")
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):  # printed at float32's repr: compare values
        head, values = got.split(": ")
        assert head == want.split(": ")[0]
        np.testing.assert_allclose([float(v) for v in values.split(", ")],
                                   [float(v) for v in want.split(": ")[1].split(", ")], rtol=LOSS_RTOL)
    assert ours["test"][-1] < ours["test"][0]  # the test-time fine-tune fits the support points


def float64_runs(kind: str, first_order: bool, steps: int = 1) -> dict:
    """Per library, ``steps`` meta-steps in float64 from torch's initial weights (``.double()``), Adam's lr 0 so the
    weights stay put: the meta-loss, the meta-gradients, and the library's module, its batch and the model."""
    runs: dict = {}
    weights = None
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            m.torch.manual_seed(0)
            if kind != "sinusoid":
                model = m.make_meta([*ARGV, "--meta_lr", "0"] + ["--first_order"] * first_order,
                                    m.layers_config if kind == "layers" else m.omniglot_config)
            else:
                model = m.SinusoidMAML(update_lr=0.001, meta_lr=0.0, num_updates=3, stop_grad=first_order)
            if weights is None:
                weights = {k: v.numpy().astype(np.float64) for k, v in model.state_dict().items()}
            model.net.double()
            model.load_state_dict({k: m.torch.from_numpy(v) for k, v in weights.items()})
            np.random.seed(0)
            if kind != "sinusoid":
                data = m.OmniglotNShot(2, 3, 1, 2, 8)
                batches = [[m.torch.from_numpy(a.astype(np.float64) if a.dtype == np.float32 else a)
                            for a in data.next()] for _ in range(steps)]
            else:
                data = m.SinusoidGenerator(10, 3)
                batches = []
                for _ in range(steps):
                    x, y, _, _ = data.generate_sinusoid_batch()
                    batches.append([m.torch.from_numpy(a) for a in (x[:, :5], y[:, :5], x[:, 5:], y[:, 5:])])

            def loss_and_grads(batch: list, model: Any = model) -> tuple[float, list]:
                out = model(*batch)
                loss = model.log[-1][-1] if hasattr(model, "log") else out[-1]
                return loss, [p.grad.numpy().copy() for p in model.net.parameters()]
            runs[lib] = {"m": m, "model": model, "batches": batches, "loss_and_grads": loss_and_grads,
                         "out": [loss_and_grads(batch) for batch in batches],
                         "bn": [b.numpy().copy() for b in model.net.vars_bn]}
    return runs


@pytest.mark.filterwarnings("ignore:`nn.functional.upsample_nearest` is deprecated")
@pytest.mark.parametrize("kind", ["omniglot", "layers", "sinusoid"])
def test_float64_second_order_gradients(one_torch_thread: None, kind: str) -> None:
    """In float64 the second-order meta-gradients through three inner steps equal torch's to 1e-12 (of each
    array's largest element) and a central difference of the meta-loss along a random direction; the first-order
    ones agree with torch's as closely but not with the difference. The running statistics agree to 1e-13.
    ``layers`` is the classifier on the Learner's other layer kinds (convt2d, leakyrelu in place, tanh, avg_pool2d,
    upsample, sigmoid, reshape)."""
    rng = np.random.default_rng(0)
    grads = []
    for first_order in (False, True):
        runs = float64_runs(kind, first_order)
        grads.append(runs["ours"]["out"][0][1])
        theirs, ours = runs["torch"], runs["ours"]
        for (loss_t, grads_t), (loss_o, grads_o) in zip(theirs["out"], ours["out"], strict=True):
            assert loss_o == pytest.approx(loss_t, rel=1e-13)
            close_arrays([grads_o], [grads_t], 1e-12, "float64 meta-gradient")
        close_arrays([ours["bn"]], [theirs["bn"]], 1e-13, "float64 running statistic")
        # ours against a central difference of its own meta-loss, on the first batch
        m, model, batch = ours["m"], ours["model"], ours["batches"][0]
        params = list(model.net.parameters())
        direction = [rng.standard_normal(p.shape) for p in params]
        slope = sum(float((g * d).sum()) for g, d in zip(ours["out"][0][1], direction, strict=True))
        h, values = 1e-6, []
        for sign in (1, -1):
            with m.torch.no_grad():
                for p, d in zip(params, direction, strict=True):
                    p.add_(m.torch.from_numpy(sign * h * d))
            values.append(ours["loss_and_grads"](batch)[0])
            with m.torch.no_grad():
                for p, d in zip(params, direction, strict=True):
                    p.sub_(m.torch.from_numpy(sign * h * d))
        difference = (values[0] - values[1]) / (2 * h)
        if first_order:
            assert abs(slope - difference) > 1e-2 * abs(difference)
        else:
            assert slope == pytest.approx(difference, rel=1e-6)
    gap = max(float(np.max(np.abs(a - b)) / np.max(np.abs(a))) for a, b in zip(*grads, strict=True))
    assert gap > 1e-2  # the second-order terms are there (and compared to torch's above)
