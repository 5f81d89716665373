"""Where the tests find the real datasets, and what a test marked ``@pytest.mark.data("mnist", ...)`` does
when they are absent: skip with a one-line reason naming $TINYGRAD_ADAM_DATA, or, with
``TINYGRAD_ADAM_REQUIRE_DATA=1`` (as in CI), fail, so that no test silently stops running there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tinygrad_adam.data import cifar10, imdb, mnist, shakespeare
from tinygrad_adam.data.paths import DATA_ENV, DatasetFiles, data_dirs

REQUIRE_ENV = "TINYGRAD_ADAM_REQUIRE_DATA"
SPECS: dict[str, DatasetFiles] = {"mnist": mnist.FILES, "imdb": imdb.FILES, "cifar10": cifar10.FILES,
                                  "tinyshakespeare": shakespeare.FILES}


def find(name: str) -> Path | None:
    """The data directory (holding ``<name>/``) where the loaders would find dataset ``name``, or None."""
    spec = SPECS[name]
    for path, _ in data_dirs():
        if all((path / spec.name / f).is_file() for f in spec.files):
            return path
    return None


def root() -> Path:
    """The data directory holding MNIST and IMDB, for tests that pass it to a loader (marked ``data``)."""
    found = find("mnist") or find("imdb")
    assert found is not None, "a test marked data ran without the data"
    return found


def require(names: tuple[str, ...], required: bool) -> None:
    """Skip (or fail, when ``required``) unless every dataset in ``names`` is found."""
    missing = [n for n in names if find(n) is None]
    if not missing:
        return
    what = missing[0] if len(missing) == 1 else "all"
    why = (f"needs the real {' and '.join(missing)} data: set ${DATA_ENV} to a directory holding "
           f"{', '.join(m + '/' for m in missing)} (tinygrad-adam download {what})")
    if required:
        pytest.fail(f"{REQUIRE_ENV}=1 but the test {why}", pytrace=False)
    pytest.skip(why)
