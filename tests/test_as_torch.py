"""``tinygrad_adam.as_torch``: an unmodified PyTorch script run on ours (``python -m tinygrad_adam.as_torch``, or
``import tinygrad_adam.as_torch`` first) prints what it prints on torch 2.13; its errors. Each run is a subprocess:
the finder takes over ``import torch`` for the whole process, and this one holds the torch oracle."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent('''
    """A small PyTorch training script, as written for torch."""
    import sys

    import numpy as np
    import torch
    import torch.backends.cudnn as cudnn
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.optim as optim
    from torch import Tensor
    from torch.optim.lr_scheduler import StepLR
    from torch.utils.data import DataLoader, TensorDataset


    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(4, 8), nn.Linear(8, 3)

        def forward(self, x: Tensor) -> Tensor:
            return F.log_softmax(self.fc2(F.relu(self.fc1(x))), dim=1)


    def main() -> None:
        cudnn.benchmark = True
        rng = np.random.default_rng(0)
        model = Net()
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.tensor(rng.uniform(-0.5, 0.5, tuple(p.shape)).astype(np.float32)))
        data = TensorDataset(torch.tensor(rng.normal(size=(32, 4)).astype(np.float32)),
                             torch.tensor(rng.integers(0, 3, 32)))
        opt = optim.Adam(model.parameters(), lr=0.01)
        sched = StepLR(opt, step_size=1, gamma=0.5)
        for epoch in range(2):
            for x, y in DataLoader(data, batch_size=8, num_workers=int(sys.argv[1])):
                opt.zero_grad()
                loss = F.nll_loss(model(x), y)
                loss.backward()
                opt.step()
                print(f"{epoch} {loss.item():.5f}")
            sched.step()
        print("library", torch.__name__, nn.__name__, F.__name__, type(model.fc1.weight).__module__.split(".")[0])


    if __name__ == "__main__":
        main()
''')


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TINYGRAD_ADAM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def lines(out: str) -> tuple[list[tuple[int, float]], list[str]]:
    losses = [(int(a), float(b)) for a, b in (line.split() for line in out.splitlines() if line[:1].isdigit())]
    return losses, [line for line in out.splitlines() if line.startswith("library")]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_an_unmodified_torch_script_runs_on_ours_as_on_torch(tmp_path: Path, workers: str) -> None:
    (tmp_path / "train.py").write_text(SCRIPT)
    theirs = run("train.py", workers, cwd=tmp_path)
    ours = run("-m", "tinygrad_adam.as_torch", "train.py", workers, cwd=tmp_path)
    assert theirs.returncode == 0 and ours.returncode == 0, (theirs.stderr[-2000:], ours.stderr[-2000:])
    (their_losses, their_names), (our_losses, our_names) = lines(theirs.stdout), lines(ours.stdout)
    assert their_names == ["library torch torch.nn torch.nn.functional torch"]
    assert our_names == ["library tinygrad_adam tinygrad_adam.nn tinygrad_adam.nn.functional tinygrad_adam"]
    assert len(our_losses) == len(their_losses) == 8
    for (e1, a), (e2, b) in zip(our_losses, their_losses):
        assert e1 == e2 and a == pytest.approx(b, abs=2e-5)


def test_import_first_gives_our_modules_unchanged(tmp_path: Path) -> None:
    code = textwrap.dedent('''
        import tinygrad_adam.as_torch
        import tinygrad_adam.nn
        import torch, torch.nn, torch.cuda.amp, torch.backends.cudnn, torch.utils.data.distributed
        from torch.nn.utils.rnn import pad_sequence
        import tinygrad_adam
        assert torch is tinygrad_adam and torch.nn is tinygrad_adam.nn
        assert torch.backends.cudnn is tinygrad_adam.backends.cudnn  # (a namespace registered by hand)
        import torch.distributions  # loaded through the finder (tinygrad_adam.distributions was not imported)
        for module in (tinygrad_adam, tinygrad_adam.nn, tinygrad_adam.distributions):
            assert module.__spec__.name == module.__name__ and module.__name__.startswith("tinygrad_adam")
        assert torch.distributions is tinygrad_adam.distributions
        assert pad_sequence is tinygrad_adam.nn.utils.rnn.pad_sequence
        tinygrad_adam.as_torch.install()  # again: nothing more
        import sys
        assert sum(type(f).__name__ == "TorchFinder" for f in sys.meta_path) == 1
        try:
            import torch.onnx
        except ModuleNotFoundError as e:
            print(e)
    ''')
    done = run("-c", code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ("No module named 'torch.onnx': tinygrad_adam has no tinygrad_adam.onnx (see "
                                   "README, 'Differences from PyTorch')")


def test_torch_imported_first_is_refused(tmp_path: Path) -> None:
    done = run("-c", "import torch\nimport tinygrad_adam.as_torch", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "RuntimeError: torch is already imported, so its modules cannot be swapped for tinygrad_adam's; import "
        "tinygrad_adam.as_torch before anything imports torch")


@pytest.mark.parametrize("args", [[], ["missing.py"]])
def test_command_line_mistakes_are_one_line(tmp_path: Path, args: list[str]) -> None:
    done = run("-m", "tinygrad_adam.as_torch", *args, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    want = ("usage: python -m tinygrad_adam.as_torch SCRIPT [ARGS...]" if not args else
            "tinygrad_adam.as_torch: no such script 'missing.py'; give the path of a Python file")
    assert done.stderr.startswith(want) and len(done.stderr.strip().splitlines()) == 1


def test_every_torch_import_of_the_torch_style_programs_resolves(tmp_path: Path) -> None:
    """The ``import torch...`` statements of tests/torch_style's programs (as written for torch), each run under the
    finder: every one gives our module or name."""
    statements = set()
    for program in sorted((ROOT / "tests" / "torch_style").glob("*.py")):
        if program.name.startswith("test_") or program.name == "conftest.py":
            continue
        for node in ast.walk(ast.parse(program.read_text())):
            if isinstance(node, ast.Import):
                paths = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                paths = [node.module or ""]
            else:
                continue
            if any(p.split(".")[0] == "torch" for p in paths):
                statements.add(ast.unparse(node))
    assert len(statements) > 50
    code = "import tinygrad_adam.as_torch\nimport sys\nfailed = []\n" + "".join(
        f"try:\n    exec({s!r}, {{}})\nexcept Exception as e:\n    failed.append(({s!r}, repr(e)))\n"
        for s in sorted(statements)) + "print(failed)\nassert 'tinygrad_adam' in sys.modules['torch'].__name__\n"
    done = run("-c", code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


VISION_SCRIPT = textwrap.dedent('''
    """pytorch/examples' MNIST data pipeline, as written for torch + torchvision."""
    import torch
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    test = datasets.MNIST("DATA", train=False, download=False, transform=transform)
    loader = torch.utils.data.DataLoader(test, batch_size=4, shuffle=False)
    images, labels = next(iter(loader))
    print(len(test), tuple(images.shape), images.dtype, labels.tolist(), f"{images.mean().item():.6f}")
    try:
        import torchvision.models  # noqa: F401
    except ModuleNotFoundError as e:
        print(e)
''')


@pytest.mark.data("mnist")
def test_torchvision_mnist_pipeline_runs_on_ours(tmp_path: Path) -> None:
    import numpy as np

    import tinygrad_adam as tg
    from tinygrad_adam.data import MNIST

    root = str(Path(os.environ.get("TINYGRAD_ADAM_DATA", Path.home() / ".cache" / "tinygrad_adam")))
    (tmp_path / "main.py").write_text(VISION_SCRIPT.replace("DATA", root))
    done = run("-m", "tinygrad_adam.as_torch", "main.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    first, missing = done.stdout.strip().splitlines()
    raw = MNIST(root, train=False)
    want = (np.stack([raw[i][0] for i in range(4)]).astype(np.float32) / 255 - 0.1307) / 0.3081
    assert first == (f"10000 (4, 1, 28, 28) {tg.ones(1).dtype} {[raw[i][1] for i in range(4)]} "
                     f"{float(want.mean()):.6f}")
    assert missing == ("No module named 'torchvision.models': tinygrad_adam has no tinygrad_adam.vision.models (see "
                       "README, 'Differences from PyTorch')")
