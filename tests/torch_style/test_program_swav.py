"""``swav.py`` (facebookresearch/swav's resnet50.py, main_swav.py and utils.py) run on torch and, imports swapped, on
ours: from torch's initial weights and the same numpy multi-crops (two 12x12 and two 8x8 crops, so the forward
groups the crops by resolution through ``unique_consecutive`` + ``cumsum``), the Sinkhorn codes of both assigned
crops, the swapped-prediction losses, every gradient (the prototypes' dropped while frozen), the learning rates of
the numpy warmup + cosine schedule, the model's parameters and BatchNorm statistics, the queue after every step and
the log lines agree; the queue starts empty, is filled and shifted, and is used once its last row is set; ours
resumed through ``restart_from_checkpoint`` and the saved queue equals the uninterrupted run exactly, printing
torch's restart lines; ``distributed_sinkhorn`` on fixed scores and the multi-crop forward agree tightly.

Tolerances: float32. The training run is ill-conditioned in torch alone (BatchNorm over 4-8 crops, Sinkhorn's
``exp(out / 0.05)``, softmax at temperature 0.1): one ulp added to torch's ``conv1.weight`` moves its own losses by
2.1e-6 relative, codes by 1.4e-5, gradients by 2.0e-5, parameters / statistics by 6.4e-6 and the queue by 6.1e-6
over the 4 steps. Ours against torch (lr 0.1, 4 steps): losses 8.3e-6 relative (4.6e-7 at the first step), codes
2.9e-5, gradients 2.7e-5, parameters / statistics 1.3e-5, queue 1.1e-5, all within 4x of torch's own ulp
sensitivity. Left out of the gradient comparison: ``projection_head.0.bias``, which feeds a BatchNorm, so its exact
gradient is zero and both libraries' is rounding noise (up to 4.8e-7). We allow losses rtol 2e-5, codes / gradients
atol 1e-4, parameters / queue atol 5e-5. On fixed scores the Sinkhorn codes agree within 5.5e-7 relative (both
1.6e-6 / 1.8e-6 from a float64 evaluation: ``out / 0.05`` rounds before ``exp``; allowed 1e-6) and the multi-crop
forward within 1.0e-6, its BatchNorm statistics 1.2e-7 (allowed 2e-6). Learning rates, the queue-use flags, the
restart lines and the log lines' text are compared exactly (the printed loss, 4 digits, within 1e-3). The file
takes about 6 s (torch on one thread, 2.5 s of it importing torch) on a shared 2-core machine."""

from __future__ import annotations

import collections
import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "swav.py"
B = 4
ARGS = ["--nmb_crops", "2", "2", "--size_crops", "12", "8", "--feat_dim", "8", "--nmb_prototypes", "6",
        "--hidden_mlp", "16", "--batch_size", str(B), "--base_lr", "0.1", "--final_lr", "0.01", "--warmup_epochs",
        "1", "--start_warmup", "0.05", "--freeze_prototypes_niters", "2", "--queue_length", "4",
        "--epoch_queue_starts", "1", "--wd", "1e-4"]
NOISE = "module.projection_head.0.bias"  # feeds a BatchNorm: zero gradient in exact arithmetic


def make(m: object) -> object:
    return m.resnet_tiny(normalize=True, hidden_mlp=16, output_dim=8, nmb_prototypes=6)


def train(tmp_path: Path) -> tuple[dict, dict]:
    def run(m: object, model: object, lib: str) -> dict:
        np.random.seed(0)
        history = collections.defaultdict(list)
        (tmp_path / lib).mkdir()
        m.main([*ARGS, "--epochs", "2", "--dump_path", str(tmp_path / lib)], model, m.make_images(8), history)
        return history
    return from_torch_weights(PROGRAM, make, run)


def test_swav_training_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    theirs, ours = train(tmp_path)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=2e-5)
    assert ours["lr"] == theirs["lr"] and np.allclose(theirs["lr"], [0.05, 0.1, 0.1, 0.055])
    assert ours["use_the_queue"] == theirs["use_the_queue"] == [False, False, False, True]
    for step in range(4):
        for got, want in zip(ours["codes"][step], theirs["codes"][step], strict=True):
            assert got.shape == (B, 6)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-4, err_msg=f"codes at step {step}")
            np.testing.assert_allclose(got.sum(1), 1, rtol=1e-5)  # each row an assignment
        assert ours["grads"][step].keys() == theirs["grads"][step].keys()
        frozen = "module.prototypes.weight" not in theirs["grads"][step]
        assert frozen == (step < 2)
        for name, want in theirs["grads"][step].items():
            if name != NOISE:
                np.testing.assert_allclose(ours["grads"][step][name], want, rtol=0, atol=1e-4,
                                           err_msg=f"{name} grad at step {step}")
        got_state, want_state = ours["state"][step], theirs["state"][step]
        assert list(got_state) == list(want_state)
        for name, want in want_state.items():
            np.testing.assert_allclose(got_state[name], want, rtol=0, atol=5e-5, err_msg=f"{name} at step {step}")
    assert ours["queue"][:2] == theirs["queue"][:2] == [None, None]
    for step in (2, 3):
        np.testing.assert_allclose(ours["queue"][step], theirs["queue"][step], rtol=0, atol=5e-5)
    for out in (ours, theirs):
        prototypes_and_queue_hold(out)
    assert len(ours["lines"]) == len(theirs["lines"]) == 2
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):
        number = r"\d+\.\d+"
        assert re.sub(number, "#", got) == re.sub(number, "#", want)
        np.testing.assert_allclose([float(x) for x in re.findall(number, got)],
                                   [float(x) for x in re.findall(number, want)], atol=1e-3)
    assert ours["lines"][0].startswith("Epoch: [0][0]\tLoss ") and ours["lines"][0].endswith("Lr: 0.0500")
    assert [s[0] for s in ours["scores"]] == [0, 1]
    np.testing.assert_allclose([s[1] for s in ours["scores"]], [s[1] for s in theirs["scores"]], rtol=2e-5)


def prototypes_and_queue_hold(out: dict) -> None:
    """Frozen prototypes move only by their normalisation (no gradient, no weight decay) in the first two steps; the
    queue is filled with the current embeddings (unit rows) and shifted by the batch size."""
    prototypes = [s["module.prototypes.weight"] for s in out["state"]]
    np.testing.assert_allclose(prototypes[1], prototypes[0], rtol=0, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(prototypes[0], axis=1), 1, rtol=1e-6)
    assert not np.allclose(prototypes[3], prototypes[2])
    queue = out["queue"][3]
    assert queue.shape == (2, 4, 8)
    np.testing.assert_allclose(np.linalg.norm(queue, axis=2), 1, rtol=1e-6)
    assert not np.allclose(out["queue"][3], out["queue"][2])


def test_resume_equals_uninterrupted(tmp_path: Path) -> None:
    """Ours: 2 epochs at once, or 1 epoch, then a fresh model restarted from ``checkpoint.pth.tar`` (the numpy draws
    continuing), give the same numbers exactly; the restart prints torch's lines (the optimizer's ``strict=False``
    refused by TypeError and retried)."""
    runs, printed = [], {}
    for lib in ("ours", "torch"):
        with program(PROGRAM, lib) as m:
            for parts in ((2,), (1, 2)) if lib == "ours" else ((1, 2),):
                dump = tmp_path / f"{lib}{len(parts)}"
                dump.mkdir()
                np.random.seed(0)
                m.torch.manual_seed(0)
                history = collections.defaultdict(list)
                buffer = io.StringIO()
                with contextlib.redirect_stdout(buffer):
                    for epochs in parts:
                        _, queue = m.main([*ARGS, "--epochs", str(epochs), "--dump_path", str(dump)], make(m),
                                          m.make_images(8), history)
                printed[lib] = [line.replace(str(dump), "DUMP") for line in buffer.getvalue().splitlines()
                                if not line.startswith("Epoch")]
                if lib == "ours":
                    runs.append({"loss": history["loss"][-2:], "lr": history["lr"][-2:],
                                 "use": history["use_the_queue"][-2:], "params": {**history["state"][-1],
                                                                                  "queue": queue.numpy()}})
    assert_same_run(*runs)
    assert printed["ours"] == printed["torch"]
    assert printed["ours"][0] == "Found checkpoint at DUMP/checkpoint.pth.tar"
    assert "=> loaded optimizer from checkpoint 'DUMP/checkpoint.pth.tar'" in printed["ours"]


@pytest.mark.parametrize("sizes", [(12, 12, 8, 8), (8, 12, 12), (8,)])
def test_sinkhorn_and_multicrop_forward_match_torch(one_torch_thread: None, sizes: tuple[int, ...]) -> None:
    """``distributed_sinkhorn`` on fixed scores (rows sum to 1, columns to B / K), and the forward's resolution
    groups (consecutive equal sizes batched together, in order) from the same weights."""
    rng = np.random.default_rng(0)
    scores = rng.uniform(-1, 1, (10, 6)).astype(np.float32)
    crops = [rng.normal(size=(3, 3, s, s)).astype(np.float32) for s in sizes]
    results, initial = [], None
    for lib in ("torch", "ours"):
        with program(PROGRAM, lib) as m:
            m.args = m.parser.parse_args(["--sinkhorn_iterations", "5"])
            q = m.distributed_sinkhorn(m.torch.from_numpy(scores)).numpy()
            m.torch.manual_seed(0)
            model = make(m)
            if initial is None:
                initial = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
            else:
                model.load_state_dict({k: m.torch.from_numpy(v) for k, v in initial.items()})
            embedding, output = model([m.torch.from_numpy(c) for c in crops])
            results.append((q, {k: v.detach().numpy().copy() for k, v in model.state_dict().items()},
                            embedding.detach().numpy(), output.detach().numpy()))
    (q_t, state_t, emb_t, out_t), (q_o, state_o, emb_o, out_o) = results
    np.testing.assert_allclose(q_o, q_t, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(q_o.sum(1), 1, rtol=1e-6)
    assert emb_o.shape == (3 * len(sizes), 8) and out_o.shape == (3 * len(sizes), 6)
    np.testing.assert_allclose(emb_o, emb_t, rtol=0, atol=2e-6)
    np.testing.assert_allclose(out_o, out_t, rtol=0, atol=2e-6)
    for name in state_t:  # the BatchNorm statistics of each resolution group's pass
        np.testing.assert_allclose(state_o[name], state_t[name], rtol=0, atol=2e-6, err_msg=name)
