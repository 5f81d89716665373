"""``byol.py`` (lucidrains' byol-pytorch with its README's loop) run on torch and, imports swapped, on ours: from
torch's initial weights (the lazily built projector and the deep-copied target encoder included, both made by the
constructor's mock forward) and the same numpy / ``random`` draws for the augmentations, the losses, gradient norms,
the online and target encoders' parameters and BatchNorm statistics after every step, the predictor, the embeddings
of ``return_embedding=True`` and the saved net's state_dict agree, for the hidden layer found by name
(``'avgpool'``) and by index (``-2``), and for ``use_momentum=False`` (the SimSiam MLP, no target copy). In each
library the target is the EMA of the online parameters (``beta * old + (1 - beta) * new``) while its BatchNorm
statistics come from its own forwards; the hook fires once per forward on the layer found, into the wrapper that
owns it (the deep copy's hook writes into the copy's ``hidden``); and the projector is built once, from the hidden's
width.

Tolerances: float32, the runs differing by summation order in convolutions, BatchNorm and matmuls. Three biases sit
right before a BatchNorm over the batch (the projector's and predictor's first Linear) or feed one through a Linear
only (the projector's last): their exact gradient is 0, each library's rounding leaves ~1e-7 there, and Adam turns
that noise into steps of about lr = 3e-4 of either sign. These ``NOISE`` entries (and the running mean fed by the
first) are allowed 2 * lr per step. The target's copy of the projector's last bias moves the target projections and
so the loss, which therefore drifts: measured over 4 steps, losses within 6.0e-6 relative, gradient norms 1.1e-6
relative, the other online parameters and statistics within 2.4e-7 absolute (of ~1), the target's within 1.2e-7,
representations within 4.5e-8 and the saved net within 2.4e-7; the eval-mode projections, which read the noisy bias
and running mean, within 1.8e-3. We allow rtol 2e-5 on losses and gradient norms, atol 1e-6 on parameters and
representations, 2 * lr * steps on the noise entries and 5e-3 on the eval projections. ``use_momentum=False`` (no
bias before its BatchNorms but the predictor's): losses within 1.2e-7 relative, gradient norms 1.2e-6, parameters
2.4e-7; we allow rtol 5e-6 there. The two ways of naming the layer find the same one, so their numbers are equal.
The file takes about 3 s (torch on one thread) on a shared 2-core machine."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "byol.py"
STEPS, LR, BETA = 4, 3e-4, 0.99
NOISE = ("projector.0.bias", "projector.3.bias", "projector.1.running_mean", "predictor.0.bias",
         "predictor.1.running_mean")  # exact gradient 0 (see above)
ATOL = 1e-6


def both(tmp_path: Path, **options: object) -> tuple[dict, dict]:
    def run(m: object, learner: object, lib: str) -> dict:
        return m.train(learner, m.make_images(16), STEPS, lr=LR, save_path=tmp_path / f"{lib}.pt")
    return from_torch_weights(PROGRAM, lambda m: m.make_learner(**options), run)


def states_close(ours: dict, theirs: dict, step: int) -> None:
    """Two encoder state snapshots: equal keys, each entry within ATOL, the noise entries within 2 lr a step."""
    assert ours.keys() == theirs.keys()
    for name in theirs:
        atol = 2 * LR * (step + 1) + ATOL if name.endswith(NOISE) else ATOL
        np.testing.assert_allclose(ours[name], theirs[name], rtol=0, atol=atol, err_msg=f"{name} at step {step}")


def agree(theirs: dict, ours: dict) -> None:
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=2e-5)
    np.testing.assert_allclose(ours["grad_norm"], theirs["grad_norm"], rtol=2e-5)
    for key in ("online", "target"):
        assert len(ours[key]) == len(theirs[key])
        for step, (got, want) in enumerate(zip(ours[key], theirs[key])):
            states_close(got, want, step)
    states_close({f"online_predictor.{k}": v for k, v in ours["predictor"].items()},
                  {f"online_predictor.{k}": v for k, v in theirs["predictor"].items()}, STEPS - 1)
    (projection, embedding, alone), (want_projection, want_embedding, _) = ours["embedding"], theirs["embedding"]
    np.testing.assert_allclose(embedding, want_embedding, rtol=0, atol=ATOL)
    np.testing.assert_array_equal(alone, embedding)  # return_projection=False: the representation alone
    np.testing.assert_allclose(projection, want_projection, rtol=0, atol=5e-3)


def ema_holds(out: dict) -> None:
    """Each step the target's parameters are beta * old + (1 - beta) * online's; its BatchNorm statistics are its
    own (they differ from the online encoder's)."""
    for before, after, online in zip(out["target"], out["target"][1:], out["online"][1:]):
        for name in before:
            if "running" in name or "num_batches" in name:
                continue
            want = BETA * before[name] + (1 - BETA) * online[name]
            np.testing.assert_allclose(after[name], want, rtol=0, atol=1e-7, err_msg=name)
    last_target, last_online = out["target"][-1], out["online"][-1]
    assert not np.allclose(last_target["net.bn1.running_mean"], last_online["net.bn1.running_mean"])
    # the constructor's mock forward counted once in the online encoder, and again in its fresh copy
    assert last_target["net.bn1.num_batches_tracked"] == last_online["net.bn1.num_batches_tracked"] + 1 == STEPS + 2


@pytest.mark.parametrize("hidden_layer", ["avgpool", -2])
def test_byol_matches_torch(one_torch_thread: None, tmp_path: Path, hidden_layer: str | int) -> None:
    theirs, ours = both(tmp_path, hidden_layer=hidden_layer)
    agree(theirs, ours)
    ema_holds(ours)
    ema_holds(theirs)
    assert ours["embedding"][1].shape == (8, 16) and ours["embedding"][0].shape == (8, 16)
    with program(PROGRAM, "ours") as o:
        saved = o.torch.load(tmp_path / "ours.pt")
        net = o.TinyResNet()
        net.load_state_dict(saved)  # the improved network, reloaded
    want = torch.load(tmp_path / "torch.pt")
    assert list(saved) == list(want)
    for name, value in net.state_dict().items():
        np.testing.assert_allclose(value.numpy(), want[name].numpy(), rtol=0, atol=ATOL, err_msg=name)
        np.testing.assert_array_equal(value.numpy(), ours["online"][-1][f"net.{name}"])


def test_simsiam_without_momentum_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    theirs, ours = both(tmp_path, hidden_layer=-2, use_momentum=False)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=5e-6)
    np.testing.assert_allclose(ours["grad_norm"], theirs["grad_norm"], rtol=5e-6)
    assert ours["target"] == theirs["target"] == []
    for step, (got, want) in enumerate(zip(ours["online"], theirs["online"], strict=True)):
        states_close(got, want, step)
    assert "projector.7.running_mean" in ours["online"][0] and "projector.7.weight" not in ours["online"][0]


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_hook_projector_and_target_copy(lib: str) -> None:
    """The structure both libraries must build: the layer the hook sits on, the hook firing once per forward into
    its own wrapper, the lazy projector made once from the hidden's width, the deep-copied target without
    gradients, reset_moving_average, and the original's assertions."""
    with program(PROGRAM, lib) as m:
        m.torch.manual_seed(0)
        learner = m.make_learner("avgpool")
        online, target = learner.online_encoder, learner.target_encoder
        assert [n for n, _ in learner.named_children()] == ["net", "augment1", "online_encoder", "online_predictor",
                                                            "target_encoder"]
        assert learner.augment2 is learner.augment1 and online.net is learner.net
        assert online._find_layer() is learner.net.avgpool
        assert m.NetWrapper(learner.net, 16, 32, layer=-2)._find_layer() is learner.net.avgpool
        projector = online.projector
        assert [tuple(p.shape) for p in projector.parameters()] == [(32, 16), (32,), (32,), (32,), (16, 32), (16,)]
        assert projector.to(m.torch.zeros(1)) is projector and online._get_projector(None) is projector
        assert not any(p.requires_grad for p in target.parameters())
        assert all(p.requires_grad for p in online.parameters())
        assert target.net is not learner.net and target.hidden is not online.hidden and target.hook_registered

        calls = []
        learner.net.avgpool.register_forward_hook(lambda mod, args, out: calls.append(tuple(out.shape)))
        images = m.torch.from_numpy(m.make_images(4))
        projection, representation = learner(images, return_embedding=True)
        assert calls == [(4, 16, 1, 1)] and online.hidden == {} and tuple(representation.shape) == (4, 16)
        assert tuple(projection.shape) == (4, 16)
        with m.torch.no_grad():
            features = target.net.avgpool(target.net.layer2(target.net.layer1(target.net.maxpool(
                target.net.relu(target.net.bn1(target.net.conv1(images)))))))
            target_representation = target(images, return_projection=False)
        np.testing.assert_array_equal(target_representation.numpy(), features.reshape(4, -1).numpy())
        assert calls == [(4, 16, 1, 1)] and target.hidden == {}  # the copy's hook wrote into the copy

        learner.reset_moving_average()
        assert learner.target_encoder is None and "target_encoder" not in dict(learner.named_children())
        learner(images)  # makes a new copy of the online encoder, listed last again
        assert [n for n, _ in learner.named_children()][-1] == "target_encoder"
        for (name, p), q in zip(online.state_dict().items(), learner.target_encoder.state_dict().values()):
            if "running" not in name and "num_batches" not in name:
                np.testing.assert_array_equal(p.numpy(), q.numpy())

        with pytest.raises(AssertionError, match="greater than 1 sample"):
            learner(images[:1])
        with pytest.raises(AssertionError, match="not found"):
            m.NetWrapper(learner.net, 16, 32, layer="nope")(images)
        random.seed(0)
        simsiam = m.make_learner(-1, use_momentum=False)  # layer -1: the net's output, no hook
        assert simsiam.target_encoder is None and not simsiam.online_encoder.hook_registered
        assert simsiam.online_encoder.projector[0].in_features == 10
        with pytest.raises(AssertionError, match="turned off momentum"):
            simsiam.update_moving_average()
