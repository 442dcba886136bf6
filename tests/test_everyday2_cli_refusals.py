"""A DICOM folder whose every volume is refused gives no volume: ``info`` printed its table (or
JSON) and exited 0, as for a folder it could read, while ``stats`` and ``convert`` exit 2 on it.
``info`` still prints the report, then fails (status 2) with one error line; a folder where some
volumes open is a report that succeeded (status 0), and ``stats``/``convert`` need ``--series``
when none opens (where one alone opens they use it: test_cli_one_openable)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pydicom
import pytest

from lazyvol.cli import main
from lazyvol.testing import write_dicom_series


def _gapped(folder: Path, number: int, description: str) -> None:
    """A series missing its third slice (by position, read back with pydicom): refused."""
    write_dicom_series(folder, (8, 8, 5), series_number=number, description=description)
    files = sorted(
        folder.iterdir(), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2])
    )
    os.remove(files[2])


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    _gapped(tmp_path / "all" / "a", 2, "gap one")
    _gapped(tmp_path / "all" / "b", 3, "gap two")
    _gapped(tmp_path / "some" / "a", 2, "gap one")
    write_dicom_series(tmp_path / "some" / "b", (8, 8, 5), series_number=3, description="whole")
    return {"all": tmp_path / "all", "one": tmp_path / "all" / "a", "some": tmp_path / "some"}


@pytest.mark.parametrize("which", ["all", "one"])
def test_info_fails_after_its_report_when_no_volume_opens(folders, capsys, which):
    path = str(folders[which])
    assert main(["-q", "info", path]) == 2
    out, err = capsys.readouterr()
    refusals = [line for line in out.splitlines() if line.startswith("  #")]
    assert len(refusals) == (2 if which == "all" else 1)
    assert all("refused: irregular slice spacing" in line for line in refusals)
    assert "choose a volume with --series" not in out  # (there is none to choose)
    assert err.startswith("lazyvol: error: ") and err.count("\n") == 1
    assert path in err and "the table above says why" in err

    assert main(["-q", "info", path, "--json"]) == 2
    out, err = capsys.readouterr()
    rows = json.loads(out)["series"]  # the report is still printed, whole
    assert len(rows) == (2 if which == "all" else 1)
    assert all(r["status"].startswith("refused: ") and r["shape"] is None for r in rows)
    assert '"error" in the JSON says why' in err


def test_info_succeeds_when_some_volume_opens(folders, capsys):
    path = str(folders["some"])
    assert main(["-q", "info", path]) == 0
    out, err = capsys.readouterr()
    assert "refused: irregular slice spacing" in out and " ok" in out
    assert "choose a volume with --series" in out and err == ""
    assert main(["-q", "info", path, "--json"]) == 0
    statuses = sorted(r["status"][:7] for r in json.loads(capsys.readouterr().out)["series"])
    assert statuses == ["ok", "refused"]


@pytest.mark.parametrize("which", ["all", "one"])
def test_stats_and_convert_fail_on_the_same_folders(folders, tmp_path, capsys, which):
    path = str(folders[which])
    assert main(["-q", "stats", path]) == 2
    out = tmp_path / f"{which}.nii"
    assert main(["-q", "convert", path, str(out)]) == 2
    assert not out.exists() and not any(p.name.startswith(".") for p in tmp_path.iterdir())
    capsys.readouterr()


def test_the_volume_that_opens_is_chosen_by_series(folders, tmp_path, capsys):
    path = str(folders["some"])
    assert main(["-q", "info", path, "--series", "whole"]) == 0
    assert main(["-q", "info", path, "--series", "gap one"]) == 2
    out = tmp_path / "whole.nii"
    assert main(["-q", "convert", path, "--series", "3", str(out)]) == 0
    assert out.exists()


def test_the_listing_of_volumes_keeps_one_line_each(tmp_path, capsys):
    """A listing line holding an unclosed bracket (a SeriesDescription cut at 64 characters
    inside an aside, or a refusal the listing cuts short: "(tol...") swallowed the lines after
    it: the command joined every line break after an opening bracket that never closes."""
    write_dicom_series(tmp_path / "a", (8, 8, 3), series_number=2, description="MPRAGE (1mm")
    write_dicom_series(tmp_path / "b", (8, 8, 3), series_number=3, description="whole")
    assert main(["-q", "stats", str(tmp_path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("lazyvol: error: ") and "choose one with --series" in lines[0]
    rows = [line for line in lines[1:] if line.startswith("  #")]
    assert [r.split()[0] for r in rows] == ["#0", "#1"]
    assert "description='MPRAGE (1mm'" in rows[0] and "description='whole'" in rows[1]
