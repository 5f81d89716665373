"""A user's own torch-style training script, saved with ``save`` at step k and resumed by ``load`` in a fresh process,
ends bit for bit where an uninterrupted run does; ``save`` writes files as torch.save does (permissions, symlinks)
and never leaves a partial file that loads; a torch.save file of either format loads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
from tinygrad_adam.checkpoint import CheckpointError

torch = pytest.importorskip("torch", reason="torch is the oracle for save/load's file behaviour")

ROOT = Path(__file__).resolve().parents[1]

# A training script as users write it: Dropout, a shuffled DataLoader with its own Generator, augmentation from the
# global generator, numpy's and Python's generators, Adam + OneCycleLR, GradScaler, an EMA AveragedModel; at step K
# it saves everything the way PyTorch tutorials do and returns; "resume" restores it all and goes on to TOTAL.
SCRIPT = textwrap.dedent("""
    import json, random, sys
    import numpy as np
    lib, mode, ckpt, out = sys.argv[1:5]
    if lib == "torch":
        import torch
        from torch.utils import data
    else:
        import tinygrad_adam as torch
        from tinygrad_adam.utils import data
    nn, TOTAL, K = torch.nn, 9, 4
    torch.manual_seed(0); np.random.seed(1); random.seed(2)
    rs = np.random.RandomState(0)
    ds = data.TensorDataset(torch.tensor(rs.randn(30, 6).astype("float32")), torch.tensor(rs.randint(0, 3, 30)))
    g = torch.Generator().manual_seed(9)
    dl = data.DataLoader(ds, batch_size=7, shuffle=True, generator=g, drop_last=True)
    model = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Dropout(0.3), nn.Linear(12, 3))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=5e-2, total_steps=TOTAL + 1)
    scaler = torch.amp.GradScaler("cpu", init_scale=16.0, growth_interval=2)
    swa = torch.optim.swa_utils
    ema = swa.AveragedModel(model, multi_avg_fn=swa.get_ema_multi_avg_fn(0.9))
    step = skip = 0
    epoch_gen, losses = g.get_state(), []
    if mode == "resume":
        ck = torch.load(ckpt, weights_only=False)
        model.load_state_dict(ck["model"]); opt.load_state_dict(ck["opt"]); sched.load_state_dict(ck["sched"])
        scaler.load_state_dict(ck["scaler"]); ema.load_state_dict(ck["ema"])
        torch.set_rng_state(ck["rng"]); np.random.set_state(ck["np"]); random.setstate(ck["py"])
        step, skip, epoch_gen, losses = ck["step"], ck["batch"], ck["epoch_gen"], list(ck["losses"])
    while step < TOTAL:
        if skip:
            g.set_state(epoch_gen)
        epoch_gen = g.get_state()
        for bi, (xb, yb) in enumerate(dl):
            if bi < skip or step >= TOTAL:
                continue
            xb = xb + 0.01 * torch.randn(xb.shape) + 1e-3 * float(np.random.rand()) + 1e-3 * random.random()
            perm = torch.randperm(xb.shape[0])
            xb, yb = xb[perm] * torch.bernoulli(torch.full(xb.shape, 0.9)), yb[perm]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
            ema.update_parameters(model); sched.step()
            losses.append(loss.item()); step += 1
            if mode == "first" and step == K:
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                            "scaler": scaler.state_dict(), "ema": ema.state_dict(), "rng": torch.get_rng_state(),
                            "np": np.random.get_state(), "py": random.getstate(), "step": step, "batch": bi + 1,
                            "epoch_gen": epoch_gen, "losses": losses}, ckpt)
                sys.exit(0)
        skip = 0
    state = {**model.state_dict(), **{"ema." + k: v for k, v in ema.state_dict().items()}}
    json.dump({"losses": losses, "state": {k: v.detach().numpy().tolist() for k, v in state.items()}},
              open(out, "w"))
""")


def _run(tmp_path: Path, lib: str, mode: str) -> dict | None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    out = tmp_path / f"{lib}.{mode}.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, str(script), lib, mode, str(tmp_path / f"{lib}.ck"), str(out)], check=True,
                   env=env, timeout=120)
    return json.loads(out.read_text()) if out.exists() else None


def test_users_script_resumes_bit_for_bit_in_a_fresh_process(tmp_path: Path) -> None:
    # torch resumes this script exactly (run it with lib "torch"; left out here for time), so ours must: every
    # parameter, EMA buffer and loss equal
    lib = "tg"
    whole = _run(tmp_path, lib, "full")
    assert _run(tmp_path, lib, "first") is None
    resumed = _run(tmp_path, lib, "resume")
    assert resumed == whole


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("existing", [None, 0o640, 0o604])
def test_save_gives_the_file_torchs_permissions(tmp_path: Path, existing: int | None) -> None:
    # a new file gets the umask's default, an overwritten one keeps its bits (mkstemp's 0o600 leaked before)
    modes = []
    for lib, name in ((torch, "t.pt"), (tg, "g.pt")):
        path = tmp_path / name
        if existing is not None:
            path.write_bytes(b"old")
            os.chmod(path, existing)
        lib.save({"w": lib.ones(3)}, path)
        modes.append(os.stat(path).st_mode & 0o777)
    assert modes[0] == modes[1] == (0o666 & ~_umask() if existing is None else existing)
    assert tg.load(tmp_path / "g.pt")["w"].tolist() == [1.0, 1.0, 1.0]


def test_save_writes_through_a_symlink_as_torch(tmp_path: Path) -> None:
    for lib, name in ((torch, "t"), (tg, "g")):
        target, link = tmp_path / f"{name}_target.pt", tmp_path / f"{name}_link.pt"
        target.write_bytes(b"")
        link.symlink_to(target)
        lib.save({"w": lib.arange(4.0)}, link)
        assert link.is_symlink()
        assert lib.load(target)["w"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_torch_file_of_either_format_loads(tmp_path: Path) -> None:
    """torch.save's legacy format (a bare pickle) and its zip format both load, weights only (once refused; the
    formats are tested in tests/test_torch_format.py)."""
    path = tmp_path / "torch.pt"
    for legacy in (True, False):
        torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=not legacy)
        assert tg.load(path)["w"].tolist() == [1.0, 1.0]
        with open(path, "rb") as f:
            assert tg.load(f)["w"].tolist() == [1.0, 1.0]


@settings(max_examples=60, deadline=None)
@given(st.floats(0.0, 1.0, exclude_max=True), st.sampled_from(["ours", "ours legacy", "ours npz", "torch",
                                                                 "torch legacy"]))
def test_a_cut_short_file_never_loads(tmp_path_factory: pytest.TempPathFactory, where: float, writer: str) -> None:
    """A file save wrote here (torch's zip or legacy format, or our .npz where the tree holds a numpy array), or one
    torch.save wrote in either format, cut anywhere: CheckpointError, never a tree."""
    path = tmp_path_factory.mktemp("cut") / "ck.pt"
    if writer.startswith("ours"):
        tree = {"w": tg.arange(300.0).reshape(30, 10), "step": 7}
        if writer == "ours npz":
            tree["np"] = np.ones(3)
        tg.save(tree, path, _use_new_zipfile_serialization=writer != "ours legacy")
    else:
        torch.save({"w": torch.arange(300.0).reshape(30, 10), "step": 7}, path,
                   _use_new_zipfile_serialization=writer == "torch")
    data = path.read_bytes()
    path.write_bytes(data[:int(where * len(data))])
    with pytest.raises(CheckpointError):
        tg.load(path)


def test_sigkill_during_save_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    # a process killed while it rewrites a large checkpoint over and over leaves a whole one behind, never a part
    path = tmp_path / "ck.pt"
    code = (f"import tinygrad_adam as tg, numpy as np\ni = 0\nwhile True:\n"
            f"    tg.save({{'w': tg.tensor(np.full(1_500_000, float(i), np.float32)), 'i': i}}, {str(path)!r})\n"
            f"    i += 1\n")
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.4)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    state = tg.load(path)
    w = state["w"].numpy()
    assert w.shape == (1_500_000,) and np.all(w == state["i"])
