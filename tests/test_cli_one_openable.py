"""A DICOM folder where exactly one volume can be opened beside refused ones (a scan and a series
with a missing slice): ``stats``, ``convert`` and ``references`` asked for ``--series`` (exit 2)
though there was nothing to choose. They use the one volume, say on stderr which were refused
and why, and exit 0; two openable volumes, or a refused part split off the openable volume's own
series (which may leave it incomplete), still need ``--series``. ``lv.open`` is unchanged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.cli import main
from lazyvol.dicom.choose import only_openable
from lazyvol.testing import write_dicom_series


def _gapped(folder: Path, number: int) -> None:
    """A series missing its third slice (by position, read back with pydicom): refused."""
    write_dicom_series(folder, (8, 8, 5), series_number=number, description="gap", seed=number)
    files = sorted(
        folder.iterdir(), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2])
    )
    os.remove(files[2])


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, np.ndarray]:
    root = tmp_path / "study"
    _gapped(root / "a", 2)
    truth = write_dicom_series(root / "b", (8, 8, 5), series_number=3, description="whole")
    return root, truth.stored


def test_stats_uses_the_one_volume_that_opens_and_names_the_refused(folder, capsys):
    root, stored = folder
    assert main(["stats", str(root), "--json"]) == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert doc["count"] == stored.size and doc["sum"] == int(stored.sum())  # (pydicom's values)
    assert doc["series"]["number"] == 3 and doc["series"]["description"] == "whole"
    err = cap.err.splitlines()
    assert len(err) == 1 and err[0].startswith("lazyvol: warning: ")
    assert "only #1" in err[0] and "'whole'" in err[0]
    assert "Refused: #0" in err[0] and "number=2" in err[0]
    assert "irregular slice spacing" in err[0]


def test_convert_and_references_use_it_too(folder, tmp_path, capsys):
    root, stored = folder
    out = tmp_path / "out.nii"
    assert main(["-q", "convert", str(root), str(out)]) == 0
    assert "Refused: #0" in capsys.readouterr().err
    np.testing.assert_array_equal(np.asarray(nib.load(out).dataobj), stored)
    refs = tmp_path / "refs.json"
    assert main(["-q", "references", str(root), "-o", str(refs)]) == 0
    assert "Refused: #0" in capsys.readouterr().err
    assert json.loads(refs.read_text())["refs"]
    with pytest.raises(lv.MultipleSeriesError):  # (the API still asks for series=)
        lv.open(root)


def test_two_openable_volumes_still_need_series(folder, tmp_path, capsys):
    root, _ = folder
    write_dicom_series(root / "c", (8, 8, 4), series_number=4, description="other")
    assert main(["-q", "stats", str(root)]) == 2
    err = capsys.readouterr().err
    assert "choose one with --series" in err and "warning" not in err
    assert only_openable(lv.scan(root)) is None


def test_a_refused_part_of_the_same_series_still_needs_series(tmp_path, capsys):
    """Slices of one SeriesInstanceUID split in two (one part refused for a gap): the openable
    part may be only part of the series, so it is not taken without a choice."""
    uid = "1.2.826.0.1.3680043.8.498.1"
    write_dicom_series(tmp_path / "a", (8, 8, 3), series_uid=uid, description="ok")
    pos = np.array([[0, 0, 0], [0, 0, 2.5], [0, 0, 20.0]])
    write_dicom_series(
        tmp_path / "b", (6, 6, 3), series_uid=uid, positions=pos, prefix="B", description="gap"
    )
    report = lv.scan(tmp_path)
    assert len(report) == 2 and sum(1 for i in report if i.error) == 1
    assert only_openable(report) is None
    assert main(["-q", "stats", str(tmp_path)]) == 2
    assert "choose one with --series" in capsys.readouterr().err


def test_series_given_is_never_second_guessed(folder, capsys):
    root, _ = folder
    assert main(["-q", "stats", str(root), "--series", "2"]) == 2  # (the refused one, asked)
    err = capsys.readouterr().err
    assert "irregular slice spacing" in err and "warning" not in err
