"""``set_transformer.py`` (juho-lee/set_transformer's MAB / SAB / ISAB / PMA, DeepSet and SetTransformer, and the
amortized-clustering demo on mixtures of diagonal Gaussians) run on torch and, imports swapped, on ours from torch's
initial weights and the same numpy batches: the training losses (-log-likelihood), gradient norms, learning rates,
test log-likelihoods and printed lines, the plot-free ``plot``'s mixture (pi, mu, sigma), labels and log-likelihood,
and the final parameters, for the SetTransformer with and without LayerNorms and for the DeepSet; each building block
and every parameter's gradient after one step; a ``model.tar`` resume equal to the uninterrupted run.

Tolerances: float32; the runs differ by summation order in the matmuls, softmaxes and logsumexps. Measured over 10
and 40 Adam steps: losses within 5e-7 relative (of 4 to 14), gradient norms within 6e-7 relative (of up to 270), test
log-likelihoods within 1e-7 relative, the plot's mixture within 7e-7, parameters within 5.5e-7 (40 steps without
LayerNorms: 4e-6), but for the directions the loss does not depend on: softmax is blind to a shift of its logits, so
every ``fc_k.bias`` and the last Linear's bias for the mixture logits (``dec.3.bias[0]``) get a gradient that is
rounding noise (1e-9 to 2e-8 in both libraries, against gradient norms of ~10), and Adam, dividing by the gradient's
own size, turns that noise into steps of up to lr in a sign set by rounding: these moved apart by up to 1.2e-2 over
40 steps (2 * the summed lr, 4.2e-2, bounds them), and ``fc_k.weight``, whose component along the keys' common part is
likewise near-null, by up to 7.2e-5. One step from the same weights: block outputs within 5.4e-7, gradients within
3.4e-6. We allow rtol 2e-6 (atol 1e-6) for the series, 2e-6 for the block outputs, atol 5e-6 for the gradients, 1e-5
for parameters and 1.5e-4 for ``fc_k.weight``. Lines are text and must be equal, the plot's labels (argmax over
components) too. Runtime: about 4 s."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "set_transformer.py"
TOL = {"rtol": 2e-6, "atol": 1e-6}
NETS = {"set_transformer_ln": ["--ln"], "set_transformer": [], "deepset": ["--net", "deepset"]}


def both(argv: list[str], tmp_path) -> tuple[dict, dict]:
    dirs = iter([tmp_path / "torch", tmp_path / "ours"])
    for folder in (tmp_path / "torch", tmp_path / "ours"):
        folder.mkdir()
    return from_torch_weights(PATH, lambda m: m.build(m.parser.parse_args(argv)),
                              lambda m, model, lib: m.main(argv, str(next(dirs)), model))


def gradient_free(name: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """A mask of the entries of the SetTransformer's parameter ``name`` (of ``shape``) whose gradient is rounding
    noise (softmax's shift invariance), None where there are none."""
    if name.endswith("fc_k.bias"):
        return np.ones(shape, bool)
    if name == "dec.3.bias":
        return np.arange(shape[0]) == 0
    return None


def agree(theirs: dict, ours: dict) -> None:
    for key in ("loss", "norm", "test"):
        assert len(ours[key]) == len(theirs[key]), key
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert ours["lr"] == theirs["lr"] and ours["lines"] == theirs["lines"]
    for key in ("ll", "pi", "mu", "sigma", "cov", "X"):
        np.testing.assert_allclose(ours["plot"][key], theirs["plot"][key], err_msg=key, **TOL)
    np.testing.assert_array_equal(ours["plot"]["labels"], theirs["plot"]["labels"])
    assert ours["params"].keys() == theirs["params"].keys()
    for name, want in theirs["params"].items():
        got, free = ours["params"][name], gradient_free(name, want.shape)
        if free is not None:
            assert np.abs(got - want)[..., free].max() <= 2 * sum(theirs["lr"]), name
            got, want = got[..., ~free], want[..., ~free]
        np.testing.assert_allclose(got, want, rtol=0, atol=1.5e-4 if name.endswith("fc_k.weight") else 1e-5,
                                   err_msg=name)


@pytest.mark.parametrize("net", sorted(NETS))
def test_set_transformer_matches_torch(one_torch_thread: None, tmp_path, net: str) -> None:
    theirs, ours = both(NETS[net], tmp_path)
    agree(theirs, ours)
    assert len(ours["loss"]) == 10 and ours["lr"][3:5] == [1e-3, 1e-3 * 0.1]  # cut at step 5
    assert ours["lines"][0].startswith("step 5, lr 1.000e-04, test ll ") and len(ours["lines"]) == 2
    plot = ours["plot"]
    assert plot["pi"].shape == (4, 4) and plot["mu"].shape == (4, 4, 2) and plot["sigma"].shape == (4, 4, 1)
    np.testing.assert_array_equal(plot["cov"], plot["sigma"][..., None] ** 2 * np.eye(2))
    np.testing.assert_allclose(plot["pi"].sum(-1), 1, rtol=1e-6)
    assert plot["sigma"].min() > 0 and plot["labels"].shape == plot["X"].shape[:2]


def test_set_transformer_learns_like_torch(one_torch_thread: None, tmp_path) -> None:
    theirs, ours = both(["--num_steps", "40", "--test_freq", "5", "--save_freq", "40"], tmp_path)
    agree(theirs, ours)
    assert ours["test"][-1] > ours["test"][0] + 0.5  # -5.35 at step 5, -4.43 at 40; the oracle's: -1.39
    assert np.mean(ours["loss"][-10:]) < 0.6 * np.mean(ours["loss"][:3])


def test_one_step_blocks_and_gradients_match_torch(one_torch_thread: None) -> None:
    """Each block's output and, after one backward of the demo's loss, every parameter's gradient; the
    gradient-free directions are rounding noise in both libraries."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 7, 2)).astype(np.float32)
    results = []
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            torch.manual_seed(0)
            blocks = [m.MAB(2, 2, 8, 2), m.MAB(2, 2, 8, 4, ln=True), m.SAB(2, 8, 2, ln=True), m.ISAB(2, 8, 2, 5),
                      m.PMA(2, 1, 3, ln=True), m.SetTransformer(2, 4, 4, num_inds=5, dim_hidden=8, ln=True),
                      m.DeepSet(2, 4, 4, dim_hidden=8)]
            if results:
                for block, weights in zip(blocks, results[0]["weights"]):
                    block.load_state_dict(weights)
            X = m.torch.tensor(x)
            outs = [b(X, X) if isinstance(b, m.MAB) else b(X) for b in blocks]
            grads = []
            for model, raw in zip(blocks[-2:], outs[-2:]):
                loss = -m.mog.log_prob(X, *m.mvn.parse(raw))
                loss.backward()
                grads.append({k: p.grad.numpy().copy() for k, p in model.named_parameters()})
            results.append({"weights": [{k: v.detach().numpy() for k, v in b.state_dict().items()} for b in blocks],
                            "outs": [o.detach().numpy() for o in outs], "grads": grads})
    theirs, ours = results
    assert [o.shape for o in ours["outs"]] == [(3, 7, 8)] * 4 + [(3, 3, 2), (3, 4, 4), (3, 4, 4)]
    for got, want in zip(ours["outs"], theirs["outs"]):
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)
    for got, want in zip(ours["grads"], theirs["grads"]):
        assert got.keys() == want.keys()
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=5e-6, err_msg=name)
            free = gradient_free(name, want[name].shape)
            if free is not None:
                assert np.abs(got[name][..., free]).max() < 1e-7 and np.abs(want[name][..., free]).max() < 1e-7
        assert max(np.abs(g).max() for g in got.values()) > 0.1


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_resume_from_model_tar_equals_whole_run(one_torch_thread: None, tmp_path, lib: str) -> None:
    argv = ["--ln", "--num_steps", "8", "--test_freq", "2", "--save_freq", "3"]
    with program(PATH, lib) as m:
        torch.manual_seed(0)
        weights = {k: v.clone() for k, v in m.build(m.parser.parse_args(argv)).state_dict().items()}
        logs = []
        for folder, runs in (("whole", [[]]), ("parts", [["--stop", "6"], ["--resume"]])):
            (tmp_path / folder).mkdir()
            log = {}
            for extra in runs:
                net = m.build(m.parser.parse_args(argv))
                net.load_state_dict(weights)  # the resumed part overwrites it from model.tar
                part = m.main(argv + extra, str(tmp_path / folder), net)
                for key, value in part.items():
                    log[key] = log.get(key, []) + value if isinstance(value, list) else value
            logs.append(log)
    whole, resumed = logs
    assert len(whole["loss"]) == 8 and whole["lr"][2:4] == [1e-3, 1e-3 * 0.1]
    plots = [log.pop("plot") for log in logs]
    assert_same_run(whole, resumed)
    for key in plots[0]:
        np.testing.assert_array_equal(plots[0][key], plots[1][key], err_msg=key)


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_inducing_points_and_seeds_are_xavier_uniform(lib: str) -> None:
    """``nn.Parameter(torch.Tensor(1, n, d))`` + ``xavier_uniform_``: fan_in n * d, fan_out d (a 3-D tensor's)."""
    with program(PATH, lib) as m:
        torch.manual_seed(0)
        for param, (n, d) in ((m.ISAB(2, 64, 4, 32).I, (32, 64)), (m.PMA(64, 4, 16).S, (16, 64))):
            values, bound = param.detach().numpy(), np.sqrt(6 / (n * d + d))
            assert values.shape == (1, n, d) and param.requires_grad
            assert np.abs(values).max() <= bound and np.abs(values).max() > 0.95 * bound
            assert abs(values.mean()) < 0.05 * bound and values.std() == pytest.approx(bound / np.sqrt(3), rel=0.05)
