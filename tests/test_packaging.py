"""Packaging: only ``tinygrad_adam`` is installed as a top-level name; ``models/`` is ``tinygrad_adam.models``."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest
from cli_process import cli

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

REPO = Path(__file__).resolve().parent.parent
DECOY = 'raise SystemExit("the decoy models.py of the working directory was imported")\n'


def test_the_package_list_covers_every_subpackage() -> None:
    """pyproject.toml lists the packages by hand (models/ is mapped into tinygrad_adam), so a new subpackage
    must be added there or it would be missing from a wheel."""
    setup = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "tinygrad_adam").rglob("__init__.py")}
    assert set(setup["packages"]) == on_disk | {"tinygrad_adam.models"}
    assert setup["package-dir"] == {"tinygrad_adam.models": "models"}
    assert {name.split(".")[0] for name in setup["packages"]} == {"tinygrad_adam"}


def test_only_tinygrad_adam_is_installed_at_the_top_level(tmp_path: Path) -> None:
    top_level = importlib.metadata.distribution("tinygrad-adam").read_text("top_level.txt")
    if top_level is not None:
        assert top_level.split() == ["tinygrad_adam"]
    code = ("import importlib.util, tinygrad_adam.models as m; "
            "print(importlib.util.find_spec('models') is None, m.MLP.__module__, m.__file__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    found_models, module, path = out.stdout.split()
    assert found_models == "True" and module == "tinygrad_adam.models.mlp"
    assert Path(path).resolve().parent.name == "models"


def test_cli_ignores_a_users_models_py(tmp_path: Path) -> None:
    """A models.py (or models/) in the working directory, common in ML projects, must not shadow ours."""
    (tmp_path / "models.py").write_text(DECOY)
    out = cli("train", "--help", cwd=tmp_path)
    assert out.returncode == 0 and "--model" in out.stdout, out.stderr
    (tmp_path / "models.py").unlink()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text(DECOY)
    out = cli("info", cwd=tmp_path)
    assert out.returncode == 0 and "decoy" not in out.stderr, out.stderr


@pytest.mark.data("mnist")
def test_cli_trains_the_mlp_next_to_a_users_models_py(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text("class MLP:\n    pass\n")
    out = cli("train", "--model", "mlp", "--epochs", 1, "--limit", 200, "--no-progress", "--out", "run", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "run" / "checkpoint.npz").is_file()
