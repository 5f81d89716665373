"""``growing_nca.py`` (the Growing Neural Cellular Automata port: depthwise Sobel perception, the zero-initialised
update rule, stochastic updates, alive masks, pool training with damage, per-parameter gradient normalisation, Adam
under ExponentialLR or MultiStepLR, a checkpoint resume) run on torch and, imports swapped, on ours from torch's
initial weights; both draw the stochastic update's uniforms, the pool's indices, the damage and the step counts
from one numpy generator (the program's ``rand`` hook replaced by it), so the runs see the same masks and batches.
Compared step by step: losses (the batch's and each sample's), the loss ranking of each pool batch, gradient norms
before the normalisation, learning rates, the grids after each step's CA run, the pool, the printed lines, the
final parameters and a growth from the seed; the resumed run equals the uninterrupted one exactly in each library.
And a rotated perception (``angle=30``) with a nonzero update rule: its grids and input gradients.

Tolerances: float32; the runs differ by rounding in the convolutions and matmuls, which the alive masks and Adam's
normalised steps do not amplify here. Measured over 6 steps of 6-8 CA updates (both schedules): losses within
7.5e-9 (of ~0.1; each sample's within 1.5e-8), gradient norms within 1.9e-9 (of ~0.03), grids and pool within
1.2e-7 (of ~1.3), parameters within 4.9e-8, growth frames within 7.5e-9; the rotated perception's grids equal and
its input gradients within 2.4e-7 (of ~3). We allow rtol 1e-5 and atol 1e-6, for parameters atol 5e-7. Learning
rates, rankings and the alive pattern (which cells are nonzero) must be equal: a cell could flip only where its
alpha lies within rounding of 0.1, which these seeds never meet. A printed loss could round the other way in its sixth
decimal, so the lines are compared with the loss by value."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 1e-6}
EPOCHS, CHECKPOINT = 6, 2
TRAIN = {"n_epoch": EPOCHS, "steps": (6, 9)}


def make(m: object, kind: str = "linear") -> object:
    if kind == "conv":
        return m.CAConv(16, hidden_n=32)
    return m.CAModel(16, 0.5, m.torch.device("cpu"), hidden_size=32)


def feed_uniforms(m: object, rng: np.random.Generator) -> None:
    """The program's ``rand`` hook drawing float32 uniforms of the asked size from ``rng``."""
    m.rand = lambda *size: m.torch.from_numpy(rng.random(tuple(np.ravel(size)), dtype=np.float32))


def run(m: object, model: object, kind: str, schedule: str) -> dict:
    """The whole run (checkpointed after step ``CHECKPOINT``), its growth from the seed, and the resumed run."""
    rng = np.random.default_rng(0)
    feed_uniforms(m, rng)
    log = m.train(model, rng=rng, schedule=schedule, checkpoint_at=CHECKPOINT, **TRAIN)
    log["grow"] = m.grow(model, 5)
    rng = np.random.default_rng(1)  # the checkpoint restores the generator's state
    feed_uniforms(m, rng)
    log["resumed"] = m.train(make(m, kind), rng=rng, schedule=schedule, resume=log.pop("checkpoint"), **TRAIN)
    return log


def agree(theirs: dict, ours: dict) -> None:
    for key in ("loss", "grad_norm", "batch_losses", "x"):
        assert len(ours[key]) == len(theirs[key]) == EPOCHS, key
        for got, want in zip(ours[key], theirs[key]):
            np.testing.assert_allclose(got, want, err_msg=key, **TOL)
    for key in ("pool", "grow"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
        assert np.array_equal(ours[key] != 0, theirs[key] != 0), key  # the same cells alive
    assert ours["lr"] == theirs["lr"] and ours["rank"] == theirs["rank"]
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):
        got, want = got.split(), want.split()  # "{i} loss = {loss} lr = {lr}"
        assert float(got.pop(3)) == pytest.approx(float(want.pop(3)), abs=1.1e-6) and got == want
    assert_params_close(ours["params"], theirs["params"], rtol=0, atol=5e-7)


@pytest.mark.parametrize(("kind", "schedule"), [("linear", "exponential"), ("conv", "multistep")])
def test_growing_nca_matches_torch(one_torch_thread: None, kind: str, schedule: str) -> None:
    theirs, ours = from_torch_weights(HERE / "growing_nca.py", lambda m: make(m, kind),
                                      lambda m, model, lib: run(m, model, kind, schedule))
    agree(theirs, ours)
    for log in (theirs, ours):  # the resumed run is the uninterrupted one's last steps, bit for bit
        resumed = log.pop("resumed")
        whole = {key: log[key][CHECKPOINT + 1:] for key in ("loss", "rank", "grad_norm", "lr", "lines")}
        assert_same_run(whole, {key: resumed[key] for key in whole})
        for key in ("batch_losses", "x"):
            assert all(np.array_equal(a, b) for a, b in zip(log[key][CHECKPOINT + 1:], resumed[key], strict=True))
        assert np.array_equal(log["pool"], resumed["pool"])
        assert_same_run({"params": log["params"]}, {"params": resumed["params"]})
    if schedule == "multistep":
        assert ours["lr"] == pytest.approx([2e-3, 2e-3, 6e-4, 6e-4, 6e-4, 1.8e-4])
    assert ours["loss"][-1] < ours["loss"][0]  # it learned
    assert [rank[0] for rank in ours["rank"]] != [0] * EPOCHS  # the worst sample moves to the front


def test_zero_update_rule_fire_rate_and_torch_rand(one_torch_thread: None, capsys: pytest.CaptureFixture) -> None:
    with program(HERE / "growing_nca.py", "ours") as o:
        o.torch.manual_seed(0)
        model = make(o)
        assert not model.fc1.weight.detach().numpy().any() and model.fc1.bias is None
        seed = o.torch.from_numpy(o.make_seed((16, 16), 16)[None])
        with o.torch.no_grad():
            np.testing.assert_array_equal(model(seed, steps=3).numpy(), seed.numpy())  # fc1 = 0: no change
            with o.torch.no_grad():
                model.fc1.weight.fill_(0.01)
            x = o.torch.from_numpy(np.repeat(seed.numpy(), 64, 0))
            assert np.array_equal(model(x, steps=1, fire_rate=1.0).numpy(), x.numpy())  # rand > 1: none fire
            fired = (model(x, steps=1).numpy() != x.numpy()).any(-1)  # the library's torch.rand, fire_rate 0.5
            assert 0.4 < fired[:, 7:10, 7:10].mean() < 0.6 and not fired[:, :6].any()  # only next to the seed


def test_rotated_perception_matches_torch(one_torch_thread: None) -> None:
    def rotated(m: object, model: object, lib: str) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(2)
        feed_uniforms(m, rng)
        with m.torch.no_grad():
            model.fc1.weight.copy_(m.torch.from_numpy(rng.normal(0, 0.1, (16, 32)).astype(np.float32)))
        cells = rng.uniform(0, 1, (2, 12, 12, 16)).astype(np.float32)
        cells[..., 3] *= rng.uniform(0, 1, (2, 12, 12)) < 0.1  # a few alive cells, the rest die unless near one
        x = m.torch.from_numpy(cells).requires_grad_()
        out = model(x, steps=3, angle=30.0)
        (out ** 2).sum().backward()
        return out.detach().numpy(), x.grad.numpy()

    theirs, ours = from_torch_weights(HERE / "growing_nca.py", make, rotated)
    for got, want in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(got, want, **TOL)
    assert (ours[0] == 0).any() and (ours[0] != 0).any()  # some cells died, some live
