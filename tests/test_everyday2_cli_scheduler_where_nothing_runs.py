"""``--scheduler`` (and ``--connect-timeout``) given to ``info`` or ``references``, which run no
dask computation (headers, sizes and byte addresses only): the command connected to the address
for nothing and failed when nothing answered there ("connection refused"), or took the option
and ignored it. They are refused as for ``cache``, one line and status 2, before any work, as
other options without effect are (docs/cli.md); ``stats`` and ``convert`` still take them."""

from __future__ import annotations

import pytest

from lazyvol.cli import main
from lazyvol.testing import write_phantom_nifti


@pytest.mark.parametrize("command", ["info", "references"])
@pytest.mark.parametrize(
    "options",
    [
        ["--scheduler", "processes"],
        ["--scheduler", "tcp://127.0.0.1:9"],  # (nothing listens there)
        ["--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", "1"],
    ],
)
def test_a_scheduler_for_a_command_that_computes_nothing_is_refused(
    tmp_path, capsys, command, options
):
    nii = str(write_phantom_nifti(tmp_path / "p.nii", (4, 4, 3)))
    out = tmp_path / "r.json"
    argv = [command, nii, *options] + (["-o", str(out)] if command == "references" else [])
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and not out.exists()
    (line,) = captured.err.splitlines()
    flag = "--scheduler"  # (named first)
    assert line.startswith(f"lazyvol: error: {flag}: '{command}' computes nothing; drop {flag}")


def test_the_commands_that_compute_take_a_scheduler(tmp_path, capsys):
    nii = str(write_phantom_nifti(tmp_path / "p.nii", (4, 4, 3)))
    assert main(["-q", "stats", nii, "--scheduler", "synchronous"]) == 0
    assert main(["-q", "convert", nii, str(tmp_path / "o.nii"), "--scheduler", "threads"]) == 0
    assert main(["info", nii]) == 0
    capsys.readouterr()
