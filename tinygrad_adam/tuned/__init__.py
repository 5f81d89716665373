"""Tuned hyperparameters: one JSON file per experiment, written by ``tinygrad-adam tune`` and committed here.

A file holds the grid that was searched, the budget (epochs, examples, seeds), every trial's score and, under
``"chosen"``, the best setting per curve of the figure: ``{"adam": {"optimizer": "adam", "overrides": {}, "lr": 0.1,
"momentum": null, "score": 0.27}, ...}``. ``compare`` reads the file of its experiment; ``train`` reads the value of
a plain curve (no overrides) of the file whose model and dataset match, so both start from the same tuned rates.
Nothing here imports the rest of the package.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).resolve().parent


def path_of(experiment: str) -> Path:
    """The committed tuned file of ``experiment``."""
    return FOLDER / f"{experiment}.json"


def read(path: str | Path) -> dict[str, Any]:
    """A tuned file's content; a missing or malformed file is a one-line ValueError naming it."""
    path = Path(path)
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise ValueError(f"no tuned file at {path}: run `tinygrad-adam tune --experiment ...` first") from e
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not a tuned file (invalid JSON: {e})") from e
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a tuned file (not UTF-8 JSON text)") from None
    except OSError as e:  # a directory, an unreadable file
        raise ValueError(f"cannot read the tuned file {path} ({e.strerror}): give the JSON file tune wrote") from None
    if not isinstance(content, dict) or not isinstance(content.get("chosen"), dict):
        raise ValueError(f"{path} is not a tuned file: it has no 'chosen' settings")
    for key, entry in content["chosen"].items():
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), (int, float, type(None)))
                                                  for k in ("lr", "momentum")):
            raise ValueError(f"{path} is damaged: its chosen {key!r} is {entry!r:.60}, not a dict with a numeric "
                             f"'lr' and 'momentum'; run tune again, or restore the file")
    return content


def find(model: str, dataset: str, optimizer: str, folder: Path = FOLDER) -> tuple[Path, str, dict[str, Any]] | None:
    """The committed file, curve key and content whose plain curve (no overrides) tunes ``optimizer`` on ``model``
    and ``dataset``; None when no file has one."""
    for path, content in [(path, read(path)) for path in sorted(folder.glob("*.json"))]:  # broken one: always an error
        if (content.get("model"), content.get("dataset")) != (model, dataset):
            continue
        for key, entry in content["chosen"].items():
            if entry.get("optimizer") == optimizer and not entry.get("overrides"):
                return path, key, content
    return None


def lookup(model: str, dataset: str, optimizer: str, folder: Path = FOLDER) -> dict[str, Any]:
    """``{"lr": ..., "momentum": ...}`` tuned for ``optimizer`` on a plain curve of ``model`` on ``dataset``,
    or ``{}`` when no committed file has one."""
    found = find(model, dataset, optimizer, folder)
    if found is None:
        return {}
    entry = found[2]["chosen"][found[1]]
    return {k: entry[k] for k in ("lr", "momentum") if entry.get(k) is not None}
