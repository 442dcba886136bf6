"""Siemens TablePosition, as dcm2niix writes it: ImaRelTablePosition of the CSA image header, else
XA's (0021,1005) ("SIEMENS MR SDS 01"), else (0019,1014), its last value negated, a value that is
no number or missing read as 0. lazyvol wrote none (every Siemens sidecar, mosaics included,
lacked the [0, 0, 0] dcm2niix writes). Expected values from the installed dcm2niix
(v1.0.20260724), which the last test checks where it is installed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series
from lazyvol.testing.mosaic import csa2_bytes


def _series(folder: Path, change: Any, manufacturer: str = "SIEMENS") -> Path:
    write_dicom_series(folder, (6, 5, 3), modality="MR")
    for path in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.Manufacturer = manufacturer
        change(ds)
        ds.save_as(path)
    return folder


def _table(folder: Path, out: Path) -> Any:
    lv.open(folder).to_nifti(out)
    return json.loads(out.with_suffix(".json").read_text()).get("TablePosition")


def _rel(value: Any, vr: str = "IS") -> Any:
    def change(ds: pydicom.Dataset) -> None:
        ds.add_new(0x00190010, "LO", "SIEMENS MR HEADER")
        ds.add_new(0x00191014, vr, value)

    return change


def _xa(value: Any) -> Any:
    def change(ds: pydicom.Dataset) -> None:
        ds.SoftwareVersions = "syngo MR XA30"
        ds.add_new(0x00210010, "LO", "SIEMENS MR SDS 01")
        ds.add_new(0x00211005, "IS", value)

    return change


def _csa_epi(value: list[int], rel: list[int] | None = None) -> Any:
    def change(ds: pydicom.Dataset) -> None:
        ds.ScanningSequence = "EP"  # (an EPI: the scan parses its CSA image header)
        ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
        ds.add_new(0x00291010, "OB", csa2_bytes({"ImaRelTablePosition": ("IS", value)}))
        if rel is not None:
            _rel(rel)(ds)

    return change


CASES = [
    ("no element", lambda ds: None, None),
    ("(0019,1014)", _rel([1, 2, 3]), [1, 2, -3]),
    ("unmoved", _rel([0, 0, 0]), [0, 0, 0]),
    ("decimal", _rel(["1.5", "2", "3"], "DS"), [1.5, 2, -3]),
    ("two values", _rel([1, 2]), [1, 2, 0]),
    ("empty", _rel(""), [0, 0, 0]),
    ("text", _rel("a\\b\\c", "LO"), [0, 0, 0]),
    ("XA (0021,1005)", _xa("7\\8\\9"), [7, 8, -9]),
    ("CSA", _csa_epi([4, 5, 6]), [4, 5, -6]),
    ("CSA over (0019,1014)", _csa_epi([4, 5, 6], [1, 2, 3]), [4, 5, -6]),
]


@pytest.mark.parametrize(("case", "change", "expected"), CASES, ids=[c[0] for c in CASES])
def test_siemens_table_position_as_dcm2niix(tmp_path, case, change, expected):
    src = _series(tmp_path / "in", change)
    assert _table(src, tmp_path / "lz.nii") == expected


def test_no_table_position_for_another_vendor(tmp_path):
    src = _series(tmp_path / "in", _rel([1, 2, 3]), manufacturer="GE MEDICAL SYSTEMS")
    assert _table(src, tmp_path / "lz.nii") is None


@pytest.mark.parametrize(("case", "change", "expected"), CASES[1:4], ids=[c[0] for c in CASES[1:4]])
def test_siemens_table_position_equals_dcm2niix(tmp_path, dcm2niix, case, change, expected):
    src = _series(tmp_path / "in", change)
    dcm2niix.run(src, tmp_path / "ref", name="x", sidecar=True, check=True)
    ref = json.loads((tmp_path / "ref" / "x.json").read_text())
    assert ref.get("TablePosition") == expected == _table(src, tmp_path / "lz.nii")


@pytest.mark.parametrize("where", ["shared", "per-frame"])
def test_xa_enhanced_table_position_in_the_functional_groups(tmp_path, dcm2niix, where):
    """An XA enhanced file states (0021,1005) in the functional groups' private sequence
    (0021,10FE) ("SIEMENS MR SDS 01"), where dcm2niix reads it too ([0, 0, 1303] of -1303);
    lazyvol read it at the top level only and wrote no TablePosition."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    from lazyvol.testing import write_enhanced_dicom

    src = tmp_path / "in"
    write_enhanced_dicom(src / "e.dcm", (6, 5, 3), n_volumes=2)
    ds = pydicom.dcmread(src / "e.dcm")
    ds.Manufacturer = "SIEMENS"
    groups = (
        ds.SharedFunctionalGroupsSequence
        if where == "shared"
        else ds.PerFrameFunctionalGroupsSequence
    )
    for group in groups:
        item = Dataset()
        item.add_new(0x00210010, "LO", "SIEMENS MR SDS 01")
        item.add_new(0x00211005, "IS", ["0", "0", "-1303"])
        group.add_new(0x00210010, "LO", "SIEMENS MR SDS 01")
        group.add_new(0x002110FE, "SQ", DicomSequence([item]))
    ds.save_as(src / "e.dcm")
    dcm2niix.run(src, tmp_path / "ref", sidecar=True, check=True)
    (ref,) = (tmp_path / "ref").glob("*.json")
    assert json.loads(ref.read_text())["TablePosition"] == [0, 0, 1303]
    assert _table(src, tmp_path / "v.nii") == [0, 0, 1303]
