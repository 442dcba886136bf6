"""A file whose name starts with '-' (``-scan.nii.gz``, a habit of some export tools): argparse
reads it as an option, and the error said only "the following arguments are required: path".
The error names the file and says how to give it (``./-scan.nii.gz`` or ``--`` before it)."""

from __future__ import annotations

import pytest

from lazyvol.cli import main
from lazyvol.testing import write_phantom_nifti


@pytest.mark.parametrize("command", [["info"], ["stats"], ["convert"]])
def test_a_name_starting_with_a_dash_is_told_how_to_give(tmp_path, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)
    write_phantom_nifti("-scan.nii.gz", (4, 4, 3))
    argv = [*command, "-scan.nii.gz"] + (["out.nii"] if command == ["convert"] else [])
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "-scan.nii.gz starts with '-'" in line
    assert "write ./-scan.nii.gz, or put -- before it" in line
    assert main([*command[:1], "-q", "--", "-scan.nii.gz", *argv[2:]]) == 0  # as it says
    capsys.readouterr()


def test_negative_numbers_and_unknown_options_get_no_such_hint(tmp_path, capsys):
    src = str(write_phantom_nifti(tmp_path / "p.nii.gz", (4, 4, 3)))
    assert main(["-q", "stats", src, "--range", "-5", "5"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["info", src, "--bogus"])
    assert "starts with '-'" not in capsys.readouterr().err
