"""A command whose output is piped into a reader that leaves early (``| head -1``, a pager quit)
gets a broken pipe. That was taken as success whatever the command found: a refused folder
(``info``) or a failing ``stats`` exited 0 when the pipe closed while their report or error was
written (racy: depending on when ``head`` left). A closed pipe ends the output quietly, and the
exit status is the command's own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from lazyvol.testing import write_dicom_series

_SRC = str(Path(__file__).resolve().parents[1] / "src")


def _run_into_closed_pipe(args: list[str], stream: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``lazyvol ARGS`` with ``stream`` ("stdout" or "stderr") a pipe nobody reads (its
    read end closed before the command starts: every write to it fails)."""
    read, write = os.pipe()
    os.close(read)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([_SRC, os.environ.get("PYTHONPATH", "")])}
    other = subprocess.PIPE
    try:
        return subprocess.run(
            [sys.executable, "-m", "lazyvol", *args],
            stdout=write if stream == "stdout" else other,
            stderr=write if stream == "stderr" else other,
            env=env,
            timeout=120,
        )
    finally:
        os.close(write)


def _gapped(folder: Path, number: int) -> None:
    write_dicom_series(folder, (8, 8, 5), series_number=number)
    files = sorted(
        folder.iterdir(), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2])
    )
    os.remove(files[2])


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))
    _gapped(tmp_path / "refused" / "a", 2)
    _gapped(tmp_path / "refused" / "b", 3)
    write_dicom_series(tmp_path / "two" / "a", (8, 8, 3), series_number=2)
    write_dicom_series(tmp_path / "two" / "b", (8, 8, 3), series_number=3)
    return tmp_path


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_failing_command_fails_into_a_closed_pipe(folders, stream):
    refused = str(folders / "refused")
    for args in (["-q", "info", refused], ["-q", "stats", str(folders / "two")]):
        run = _run_into_closed_pipe(args, stream)
        assert run.returncode == 2, (args, stream)
        seen = run.stderr if stream == "stdout" else run.stdout
        assert b"Traceback" not in seen and b"Exception ignored" not in seen


def test_a_command_that_succeeds_still_succeeds_into_a_closed_pipe(folders):
    run = _run_into_closed_pipe(["-q", "info", str(folders / "two")], "stdout")
    assert run.returncode == 0 and b"Traceback" not in run.stderr and run.stderr == b""
