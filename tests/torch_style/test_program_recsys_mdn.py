"""``recsys_mdn.py`` (matrix factorization on sparse embeddings, guoyang9's NCF / NeuMF / BPR, and the hardmaru /
sagelywizard mixture density networks) run on torch and, imports swapped, on ours from torch's initial weights and
the same numpy batch orders, negatives, sampled components and noise: the losses, gradient norms (a sparse
gradient's through ``to_dense()``, its coalesced rows exactly and values), the rows each step moved, the optimizers'
state, HR@10 / NDCG@10 and the ranked lists (exactly), the test predictions, the MDN's ``clip_grad_norm_`` norms,
its draws at given components and the final parameters agree; SparseAdam moves only the rows of the batch (never
rated users and items keep their initial rows), dense Adam on the biases moves them all; a SparseAdam checkpoint
resume equals the uninterrupted run bit for bit in each library.

Tolerances: float32; the runs differ by rounding in the dot products and reductions, which Adam carries on.
Measured: MF (32 steps) losses within 2.4e-7, sparse-gradient norms within 7.5e-8 and values within 1e-7,
parameters within 5.4e-7, Adam / SparseAdam moments within 1.7e-8; NCF / NeuMF / BPR (4 epochs) losses within 3.8e-6
(BPR's summed loss is ~22: 1.7e-7 relative), gradient norms within 1.6e-7, test predictions within 1.7e-6,
parameters within 1.7e-6; MDN (40 steps) losses within 1.9e-6 (of 3-18), ``clip_grad_norm_`` norms within 1.5e-5
(of up to ~50: 8e-7 relative), parameters within 4.8e-7, draws within 5.7e-6. We allow rtol 1e-5 and atol 5e-6
(atol 2e-5 for the MDN's norms and draws). The optimizers' state is compared under torch's names (ours: README's
``t``, ``m``, ``v``). No two test predictions of a user lie within rounding of each other, so the top-10 lists are
equal (tied scores would be ordered differently: README, "Sorts are always stable"). Runtime about 5 s."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "recsys_mdn.py"
TOL = {"rtol": 1e-5, "atol": 5e-6}
MDN_TOL = {"rtol": 1e-5, "atol": 2e-5}
EXACT = ("rows", "moved", "batch_users", "HR", "NDCG", "ranked", "own")
STATE_NAMES = {"step": "t", "exp_avg": "m", "exp_avg_sq": "v"}


def close(ours: object, theirs: object, key: str, tol: dict) -> None:
    """Nested dicts / lists of numbers and arrays, equal in structure and within ``tol``."""
    if isinstance(theirs, dict):
        assert ours.keys() == theirs.keys(), key
        for name in theirs:
            close(ours[name], theirs[name], f"{key}.{name}", tol)
    elif isinstance(theirs, list | tuple):
        assert len(ours) == len(theirs), key
        for i, (a, b) in enumerate(zip(ours, theirs)):
            close(a, b, f"{key}[{i}]", tol)
    else:
        assert np.shape(ours) == np.shape(theirs), key
        np.testing.assert_allclose(np.asarray(ours, float), np.asarray(theirs, float), err_msg=key, **tol)


def agree(theirs: dict, ours: dict, tol: dict = TOL) -> None:
    assert ours.keys() == theirs.keys()
    for key in theirs:
        if key in EXACT:
            assert repr(ours[key]) == repr(theirs[key]), key
        elif key == "state":
            renamed = [{k.split(".")[0] + "." + STATE_NAMES[k.split(".")[1]]: v for k, v in s.items()}
                       for s in theirs[key]]
            close(ours[key], renamed, key, tol)
        elif key == "params":
            assert_params_close(ours[key], theirs[key], **tol)
        else:
            close(ours[key], theirs[key], key, tol)


def mf(two_optimizers: bool, resume_at: int | None = None, lib: str | None = None) -> tuple[dict, ...]:
    """Matrix factorization on both libraries (or, with ``lib``, a fresh run on that one only); the initial
    weights come back under ``"initial"``."""
    data = {}

    def make(m):
        data["ratings"] = m.make_ratings()
        return m.MatrixFactorization(24, 30, sparse_bias=not two_optimizers)

    def run(m, model, _):
        initial = {k: v.numpy().copy() for k, v in model.state_dict().items()}
        log = m.train_mf(model, data["ratings"], m.EpochPermutations(256, np.random.RandomState(5)),
                         two_optimizers=two_optimizers, resume_at=resume_at)
        return {**log, "initial": initial}

    if lib is None:
        return from_torch_weights(PATH, make, run)
    with program(PATH, lib) as m:
        m.torch.manual_seed(0)
        return (run(m, make(m), lib),)


@pytest.mark.parametrize("two_optimizers", [False, True], ids=["sparse_adam", "sparse_adam_and_adam"])
def test_matrix_factorization_matches_torch(one_torch_thread: None, two_optimizers: bool) -> None:
    theirs, ours = mf(two_optimizers)
    assert ours["initial"].keys() == theirs["initial"].keys()
    agree({k: v for k, v in theirs.items() if k != "initial"}, {k: v for k, v in ours.items() if k != "initial"})
    assert np.mean(ours["loss"][-4:]) < 0.5 * np.mean(ours["loss"][:4])  # it learned (32 steps)
    sparse = ("u_weight.weight", "i_weight.weight") + (() if two_optimizers else ("u_bias.weight", "i_bias.weight"))
    for moved, users, rows in zip(ours["moved"], ours["batch_users"], ours["rows"], strict=True):
        assert moved["u_weight.weight"] == users == rows["u_weight.weight"].tolist()  # lazy: the batch's rows only
        assert sorted(rows) == sorted(sparse)
    params = ours["params"]
    for name in sparse:  # users 22, 23 and items 27-29 were never rated: SparseAdam never moved their rows
        never = [22, 23] if name.startswith("u") else [27, 28, 29]
        np.testing.assert_array_equal(params[name][never], ours["initial"][name][never])
    if two_optimizers:  # dense Adam's momentum moves every row any earlier batch touched
        seen = set()
        for moved, users in zip(ours["moved"], ours["batch_users"]):
            seen |= set(users)
            assert moved["u_bias.weight"] == sorted(seen)
        assert len(seen) == 22 and len(ours["batch_users"][-1]) < 22


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_sparse_adam_resume_is_exact(one_torch_thread: None, lib: str) -> None:
    """Saved after 5 steps (model and both optimizers), loaded into fresh objects: the same run bit for bit."""
    (whole,), (resumed,) = mf(True, lib=lib), mf(True, resume_at=5, lib=lib)
    for key in ("loss", "moved", "params", "state"):
        assert repr(whole[key]) == repr(resumed[key]), key


def implicit(make_model: str, *args: object, **options: object) -> tuple[dict, dict]:
    data = {}

    def make(m):
        data["implicit"] = m.make_implicit()
        return getattr(m, make_model)(*args)

    def run(m, model, _):
        if make_model == "make_pretrain":
            return m.neumf_pre(model, data["implicit"], np.random.RandomState(7))
        return m.train_implicit(model, data["implicit"], np.random.RandomState(7), **options)

    return from_torch_weights(PATH, make, run)


@pytest.mark.parametrize("kind, lr", [("GMF", 0.05), ("MLP", 0.02), ("NeuMF-end", 0.02)])
def test_ncf_matches_torch(one_torch_thread: None, capsys: pytest.CaptureFixture[str], kind: str, lr: float) -> None:
    theirs, ours = implicit("NCF", 16, 40, 8, 2, 0.0, kind, epochs=4, lr=lr)
    agree(theirs, ours)
    lines = capsys.readouterr().out.splitlines()
    assert lines[:4] == lines[4:] and len(lines) == 8  # the printed HR / NDCG, torch's run then ours
    assert ours["HR"][-1] > ours["HR"][0] and ours["loss"][-1] < ours["loss"][0]
    assert all(len(r) == 10 for r in ours["ranked"][-1])


@pytest.mark.parametrize("bpr_loss", ["sigmoid_log", "logsigmoid"])
def test_bpr_matches_torch(one_torch_thread: None, bpr_loss: str) -> None:
    theirs, ours = implicit("BPR", 16, 40, 8, epochs=4, lr=0.1, optimizer="sgd", bpr_loss=bpr_loss)
    agree(theirs, ours)
    assert ours["HR"][-1] > ours["HR"][0] + 0.2


def test_pretrained_neumf_matches_torch(one_torch_thread: None) -> None:
    """GMF and MLP pretrained with Adam, NeuMF-pre built from them through ``.data.copy_`` and fine-tuned by SGD."""
    theirs, ours = implicit("make_pretrain")
    assert ours.keys() == {"GMF", "MLP", "NeuMF-pre"}
    for name in theirs:
        agree(theirs[name], ours[name])


@pytest.mark.parametrize("kind", ["hardmaru", "prod", "elu", "stable"])
def test_mdn_matches_torch(one_torch_thread: None, kind: str) -> None:
    data = {}

    def make(m):
        data["xy"] = m.inverse_sine()
        return m.make_mdn(kind)

    def run(m, model, _):
        x, y = data["xy"]
        log = m.train_mdn(model, kind, x, y)
        rng = np.random.RandomState(3)
        picks, noise = rng.randint(0, 5, 200), rng.randn(200).astype(np.float32)
        noise = m.torch.tensor(noise if kind == "hardmaru" else noise[None])
        drawn, sigma, mu = m.draw(model, kind, x, m.torch.tensor(picks), noise)
        with m.torch.no_grad():  # the gathered sigma / mu are the picked components' (by numpy indexing)
            heads = [h.numpy().reshape(200, 5) for h in model(x)[1:]]
        assert np.array_equal(sigma.numpy(), heads[0][np.arange(200), picks])
        assert np.array_equal(mu.numpy(), heads[1][np.arange(200), picks])
        log["draw"] = [drawn.numpy(), sigma.numpy(), mu.numpy()]
        log["own"] = [tuple(t.shape) for t in m.draw(model, kind, x)]  # the library's own Categorical / multinomial
        return log

    theirs, ours = from_torch_weights(PATH, make, run)
    agree(theirs, ours, MDN_TOL)
    assert ours["loss"][-1] < 0.3 * ours["loss"][0]
