"""Command-line fixes of the fifty-third stop."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli_probe_fixes import main, one_error_line


@pytest.mark.parametrize("overwrite", [(), ("--overwrite",)])
def test_tune_names_a_directory_given_as_tuned_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    overwrite: tuple[str, ...]) -> None:
    """A directory given as --tuned-file is named as one with or without --overwrite (without, the error said to
    pass --overwrite, which then failed on the directory)."""
    folder = tmp_path / "tuned"
    folder.mkdir()
    line = one_error_line(main(capsys, "tune", "--experiment", "mnist-logreg", "--optimizers", "adam", "--lrs",
                               "0.001", "--tuned-file", folder, "--out", tmp_path / "out", *overwrite))
    assert "is a directory: give the path of a JSON file" in line
    assert list(folder.iterdir()) == [] and not (tmp_path / "out").exists()
