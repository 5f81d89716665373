"""``moe_ff.py`` (davidmrau's sparsely-gated Mixture-of-Experts with its SparseDispatcher, a Switch top-1 layer with
a capacity, and pytorch/examples' Forward-Forward) run on torch and, imports swapped, on ours from torch's initial
weights, the same batches, the same gating noise and the same negative-label permutation: per step the losses, aux
losses, gradient norms and how many parameters got a gradient, the gates, loads (the smooth ``_prob_in_top_k``
estimate, or token counts), importances, the dispatched part sizes, each expert's summed output, the Switch
positions-in-expert and dropped counts; the eval predictions and final parameters; for Forward-Forward each layer's
loss, mean goodness of the positive and negative data and weight-gradient norm per epoch, the goodness per label,
the error rates and the printed lines; and a checkpoint resume of the MoE equal to the uninterrupted run.

Tolerances: float32; the runs differ by summation order in the matmuls and, inside each expert, by the order of its
examples (torch's ``sort`` of the nonzero gates is not stable past a few dozen rows, ours is: README). Measured over
8 Adam steps: MoE losses within 2.4e-7 (of ~1.1), aux losses within 9.3e-10, gradient norms within 6e-8, gates
within 1.2e-7, loads within 3.8e-6 (of ~19), importances within 1.9e-6, summed expert outputs within 3.8e-6 (of
~32), parameters within 1.8e-7; Switch losses, aux losses and norms within 2.4e-7, parameters within 1.9e-7;
Forward-Forward (40 epochs a layer, Adam at lr 0.03) per-epoch series within 9.6e-7, goodness within 1.2e-6 (of
~5.6), parameters within 8.3e-6 (4.5e-5 on an AMD EPYC with OpenBLAS's Haswell kernels). We allow rtol 1e-5 and
atol 1e-5 (parameters atol 1e-5, Forward-Forward's 1e-4).
Part sizes, positions, dropped counts, gradient counts, predictions and error rates are integers (or counts over a
batch) and must be equal: they could differ only where two logits or two goodness values lie within rounding, which
these seeds never meet (the closest goodness pair is 0.013 apart)."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "moe_ff.py"
TOL = {"rtol": 1e-5, "atol": 1e-5}
EXACT = ("part_sizes", "position", "dropped", "n_grads", "eval_pred")
MOES = {"noisy_top2": ({"num_experts": 4, "hidden_size": 16, "k": 2}, 32),
        "log_space": ({"num_experts": 4, "hidden_size": 16, "k": 2, "log_space": True}, 32),
        "idle_experts": ({"num_experts": 8, "hidden_size": 16, "k": 1, "log_space": True}, 6)}


def batches(n: int, steps: int, experts: int, seed: int = 0) -> tuple[list, list]:
    """``steps`` batches of (x (n, 8) float32, labels (n,) int64, three classes from a random linear teacher) and
    the gating noise (n, experts) of each step."""
    rng = np.random.default_rng(seed)
    teacher = rng.normal(size=(8, 3))
    xs = [rng.normal(size=(n, 8)).astype(np.float32) for _ in range(steps)]
    noise = [rng.normal(size=(n, experts)).astype(np.float32) for _ in range(steps)]
    return [(x, (x @ teacher).argmax(1)) for x in xs], noise


def agree(theirs: dict, ours: dict) -> None:
    assert ours.keys() == theirs.keys()
    for key in theirs:
        if key in EXACT:
            assert [np.asarray(v).tolist() for v in ours[key]] == [np.asarray(v).tolist() for v in theirs[key]], key
        elif key == "params":
            assert_params_close(ours[key], theirs[key], rtol=0, atol=1e-5)
        elif theirs[key]:
            flat = [np.concatenate([np.ravel(np.asarray(v, dtype=np.float64)) for v in r[key]]) for r in (ours, theirs)]
            np.testing.assert_allclose(*flat, err_msg=key, **TOL)


@pytest.mark.parametrize("config", sorted(MOES))
def test_sparse_moe_matches_torch(one_torch_thread: None, config: str) -> None:
    options, n = MOES[config]
    data, noise = batches(n, 8, options["num_experts"])
    theirs, ours = from_torch_weights(PATH, lambda m: m.MoE(8, 3, **options),
                                      lambda m, model, lib: m.train_moe(model, data, noise))
    agree(theirs, ours)
    assert all(sum(sizes) == n * options["k"] for sizes in ours["part_sizes"])  # k experts per example
    assert ours["n_grads"] == [2 + 4 * options["num_experts"]] * 8  # idle experts too: zero gradients, not None
    if config == "idle_experts":
        assert any(0 in sizes for sizes in ours["part_sizes"])
    assert ours["loss"][-1] < ours["loss"][0]


def test_switch_top1_with_capacity_matches_torch(one_torch_thread: None) -> None:
    data, _ = batches(32, 8, 4, seed=1)
    theirs, ours = from_torch_weights(PATH, lambda m: m.SwitchClassifier(8, 3),
                                      lambda m, model, lib: m.train_moe(model, data))
    agree(theirs, ours)
    assert max(max(sizes) for sizes in ours["part_sizes"]) == 8 and sum(ours["dropped"]) > 0  # capacity 32 / 4
    assert all(sum(sizes) + dropped == 32 for sizes, dropped in zip(ours["part_sizes"], ours["dropped"]))


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_moe_checkpoint_resume_is_exact(one_torch_thread: None, lib: str) -> None:
    """Stopped after 4 of 8 steps, saved (model, Adam, step) with ``torch.save``, loaded into a fresh model and Adam:
    the remaining steps and the final parameters equal the uninterrupted run's."""
    data, noise = batches(32, 8, 4)
    with program(PATH, lib) as m:
        def make() -> object:
            m.torch.manual_seed(0)
            return m.MoE(8, 3, 4, 16, k=2)
        whole = m.train_moe(make(), data, noise)
        first = m.train_moe(make(), data, noise, stop_at=4)
        rest = m.train_moe(None, data, noise, resume_from=first["checkpoint"], make=make)
    assert first["loss"] == whole["loss"][:4] and rest["loss"] == whole["loss"][4:]
    assert rest["norm"] == whole["norm"][4:] and rest["aux"] == whole["aux"][4:]
    for name, value in whole["params"].items():
        np.testing.assert_array_equal(rest["params"][name], value, err_msg=name)


def digits(rng: np.random.Generator, prototypes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n noisy copies of ten 30-pixel prototypes (normalised-MNIST-like values) and their labels."""
    y = rng.integers(0, 10, n)
    return (prototypes[y] + 0.3 * rng.normal(size=(n, 30))).astype(np.float32), y


def test_forward_forward_matches_torch(one_torch_thread: None) -> None:
    rng = np.random.default_rng(1)
    prototypes = rng.normal(size=(10, 30)).astype(np.float32)
    (x, y), (x_te, y_te) = digits(rng, prototypes, 100), digits(rng, prototypes, 50)
    perm = rng.permutation(100)
    results, weights = [], None
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m, contextlib.redirect_stdout(io.StringIO()) as out:
            torch.manual_seed(0)
            net = m.Net([30, 24, 24], num_epochs=40)
            # the layers sit in a plain list, so weights go layer by layer (torch's Net.state_dict() is empty; ours
            # registers modules found in lists: a known difference, which this program does not depend on)
            if weights is None:
                weights = [{k: v.numpy().copy() for k, v in layer.state_dict().items()} for layer in net.layers]
            else:
                for layer, state in zip(net.layers, weights, strict=True):
                    layer.load_state_dict(state)
            results.append((m.forward_forward(net, x, y, x_te, y_te, perm), out.getvalue().splitlines()))
    (theirs, their_lines), (ours, lines) = results
    np.testing.assert_array_equal(ours["x_neg"], theirs["x_neg"])
    for got, want in zip(ours["log"], theirs["log"], strict=True):
        np.testing.assert_allclose(np.array(got), np.array(want), **TOL)
    np.testing.assert_allclose(ours["goodness"], theirs["goodness"], **TOL)
    assert ours["train_error"] == theirs["train_error"] and ours["test_error"] == theirs["test_error"]
    assert lines == their_lines and lines[:2] == ["training layer 0 ...", "training layer 1 ..."]
    for got, want in zip(ours["params"], theirs["params"], strict=True):
        assert_params_close(got, want, rtol=0, atol=1e-4)
    assert ours["train_error"] < 0.3 and ours["test_error"] < 0.3  # it learned (chance: 0.9)
    assert ours["log"][0][-1][1] > ours["log"][0][-1][2]  # positive data has more goodness than negative
