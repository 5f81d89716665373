"""``prune_parametrize.py`` (PyTorch's Pruning Tutorial and Parametrizations Tutorial on a LeNet-like model) run on
torch and, imports swapped, on ours, from torch's initial weights and the same numpy data: the tutorial's masks
(``random_unstructured``'s draw fed through ``custom_from_mask``; with the draw itself only the structure and the
count of zeros), the pruned weights, the pre-hook lists (a ``PruningContainer`` after iterative pruning), the
parameter / buffer names before and after ``prune.remove``, ``global_unstructured``'s masks and printed sparsity
lines, the custom ``BasePruningMethod``, ``is_pruned``, state_dict keys and a saved / reloaded pruned model; the
Symmetric / Skew + MatrixExponential / right_inverse / cached / remove_parametrizations steps; spectral_norm (fed
the same ``_u`` / ``_v`` through the state_dict), orthogonal and weight_norm; and Adam / SGD training through the
pruned and the parametrized models: losses, gradient norms and parameters after each step.

Tolerances: float32. Measured: masks, hook lists, names, printed sparsity lines and the pruned weights equal; the
parametrizations tutorial's weights within 1.2e-7 absolute; losses within 1.2e-7 absolute (8.3e-8 relative), gradient
norms within 7.8e-7 relative, parameters within 1.7e-7 absolute after the SGD and Adam steps, but for one Householder
reflector entry under Adam (3.8e-6 to 4.7e-6, depending on torch's thread count: its gradient is 0 at step 1 and
-4.3e-8 at step 2, where Adam's eps = 1e-8 amplifies the 1e-10 float noise). We allow rtol 1e-5 / atol 1e-6, and
atol 2e-5 for the parameters of the Adam run through the built-in parametrizations.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "prune_parametrize.py"
TOL = {"rtol": 1e-5, "atol": 1e-6}
TRAIN = {"rtol": 1e-5, "atol": 1e-6}
ADAM_ATOL = 2e-5


def data(seed: int = 0, steps: int = 3) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((4, 1, 12, 12)).astype(np.float32) for _ in range(steps)]
    ys = [rng.integers(0, 4, 4).astype(np.int64) for _ in range(steps)]
    return xs, ys


def assert_logs_close(ours: dict, theirs: dict, **tol: float) -> None:
    """Two logs of the same keys: arrays close, dicts of arrays close, everything else equal."""
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        mine = ours[key]
        if isinstance(value, np.ndarray):
            np.testing.assert_allclose(mine, value, err_msg=key, **tol)
        elif isinstance(value, dict) and value and isinstance(next(iter(value.values())), np.ndarray):
            assert_params_close(mine, value, **tol)
        elif isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            for a, b in zip(mine, value, strict=True):
                np.testing.assert_allclose(a, b, err_msg=key, **tol)
        elif isinstance(value, float):
            np.testing.assert_allclose(mine, value, err_msg=key, **tol)
        else:
            assert mine == value, key


def assert_train_close(ours: dict, theirs: dict, params_atol: float = TRAIN["atol"]) -> None:
    """Losses, gradient norms (by name), parameters after each step, final weights and zero counts."""
    np.testing.assert_allclose(ours["loss"], theirs["loss"], **TRAIN)
    for a, b in zip(ours["grad"], theirs["grad"], strict=True):
        assert list(a) == list(b)
        np.testing.assert_allclose(list(a.values()), list(b.values()), **TRAIN)
    for a, b in zip(ours["params"], theirs["params"], strict=True):
        assert_params_close(a, b, rtol=TRAIN["rtol"], atol=params_atol)
    assert_params_close(ours["weights"], theirs["weights"], rtol=TRAIN["rtol"], atol=params_atol)
    assert ours["zeros"] == theirs["zeros"]


def test_pruning_tutorial_matches_torch(one_torch_thread: None) -> None:
    mask = (np.random.default_rng(1).random((6, 1, 3, 3)) > 0.3).astype(np.float32)
    theirs, ours = from_torch_weights(PATH, lambda m: m.LeNet(), lambda m, model, lib: m.pruning_tutorial(model, mask))
    assert_logs_close(ours, theirs, **TOL)
    assert theirs["params1"] == ["bias", "weight_orig"] and theirs["buffers1"] == ["weight_mask"]
    assert theirs["container"] == ["CustomFromMask", "LnStructured"] and theirs["hooks4"] == ["L1Unstructured"]
    assert (theirs["mask3"].reshape(6, -1).any(1)).sum() == 3  # half the channels kept


def test_random_unstructured_structure_matches_torch(one_torch_thread: None) -> None:
    """random_unstructured draws from each library's generator: names, hooks and the count of zeros agree."""
    theirs, ours = from_torch_weights(PATH, lambda m: m.LeNet(), lambda m, model, lib: m.pruning_tutorial(model))
    for key in ("params1", "buffers1", "hooks1", "hooks2", "container", "state_keys", "params4", "buffers4",
                "hooks4", "is_pruned", "weight4_is_param"):
        assert ours[key] == theirs[key], key
    assert (ours["mask1"] == 0).sum() == (theirs["mask1"] == 0).sum() == round(0.3 * 54)
    np.testing.assert_array_equal(ours["weight1"] == 0, ours["mask1"] == 0)
    np.testing.assert_array_equal(ours["bias_mask"], theirs["bias_mask"])


def test_global_pruning_reload_and_training_match_torch(one_torch_thread: None) -> None:
    xs, ys = data()

    def run(m, model, lib: str) -> dict:
        log = {"many": m.prune_many(m.LeNet()), **m.global_pruning(model)}
        fresh = m.reload_pruned(model, m.LeNet)
        log["reloaded_keys"] = list(fresh.state_dict().keys())
        log["reloaded"] = {k: v.detach().numpy().copy() for k, v in fresh.state_dict().items()}
        log["train"] = m.train(fresh, xs, ys, "adam", 1e-2)
        return log

    theirs, ours = from_torch_weights(PATH, lambda m: m.LeNet(), run)
    t_train, o_train = theirs.pop("train"), ours.pop("train")
    assert_logs_close(ours, theirs, **TOL)
    assert_train_close(o_train, t_train)
    assert theirs["lines"][-1] == "Global sparsity: 20.00%" and len(theirs["lines"]) == 6
    assert "fc3.bias_orig" in theirs["state_keys"] and "conv1.weight_mask" in theirs["state_keys"]
    assert t_train["zeros"][0] == t_train["zeros"][-1]  # the masks hold pruned weights at zero through Adam


def test_parametrizations_tutorial_matches_torch(one_torch_thread: None) -> None:
    rng = np.random.default_rng(2)
    X, x = rng.standard_normal((3, 3)).astype(np.float32), rng.standard_normal((2, 3)).astype(np.float32)

    def run(m, model, lib: str) -> dict:
        return m.parametrizations_tutorial(model[0], model[1], X, x)

    theirs, ours = from_torch_weights(PATH, lambda m: m.nn.ModuleList([m.nn.Linear(3, 3), m.nn.Linear(3, 3)]), run)
    assert_logs_close(ours, theirs, **TOL)
    np.testing.assert_allclose(theirs["orth_QtQ"], np.eye(3), atol=1e-5)
    assert theirs["sym_removed_params"] == ["bias", "weight"]


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_builtin_parametrizations_training_matches_torch(one_torch_thread: None, opt: str) -> None:
    xs, ys = data(3)

    def run(m, model, lib: str) -> dict:
        before = m.builtin_report(model)
        return {"before": before, "train": m.train(model, xs, ys, opt, 0.05 if opt == "sgd" else 1e-2),
                "after": m.builtin_report(model)}

    theirs, ours = from_torch_weights(PATH, lambda m: m.ParamNet(), run)
    # Adam's step 2 on a Householder reflector entry whose gradient is 0 at step 1 and -4.3e-8 at step 2 (float
    # noise 1e-10 in both libraries): with eps = 1e-8 comparable to sqrt(v_hat) the step amplifies that noise to 5e-6.
    atol = ADAM_ATOL if opt == "adam" else TRAIN["atol"]
    assert_logs_close(ours["before"], theirs["before"], **TRAIN)
    assert_logs_close(ours["after"], theirs["after"], rtol=TRAIN["rtol"], atol=atol)
    assert_train_close(ours["train"], theirs["train"], atol)
    assert abs(theirs["after"]["sigma"] - 1) < 0.05
    assert "conv1.parametrizations.weight.0._u" in theirs["before"]["keys"]


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_remove_unpruned_raises(lib: str) -> None:
    said = "has to be pruned" if lib == "torch" else "is not pruned"  # each library's own words
    with program(PATH, lib) as m, pytest.raises(ValueError, match=said):
        m.prune.remove(m.LeNet().conv1, "weight")
