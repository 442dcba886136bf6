"""SpoilingState / SpoilingType of the sidecar, as dcm2niix writes them: from Spoiling (0018,9016)
where it says RF, GRADIENT or NONE, else from SequenceVariant (0018,0021) holding SP (a spoiled
gradient echo, an MPRAGE: every Siemens FLASH / MPRAGE and GE SPGR series). lazyvol wrote neither
key. The expected values were taken from the installed dcm2niix (v1.0.20260724) and are checked
against it too."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series, write_enhanced_dicom

KEYS = ("SpoilingState", "SpoilingType")
#: (Spoiling, SequenceVariant) -> the keys dcm2niix writes (None: the attribute absent).
CASES = [
    (None, "SP", {"SpoilingState": True}),
    (None, ["SK", "SP"], {"SpoilingState": True}),
    (None, ["SP", "MP"], {"SpoilingState": True}),
    (None, ["SK", "MTC", "SP"], {"SpoilingState": True}),
    (None, "OSP", {}),
    (None, "NONE", {}),
    (None, None, {}),
    ("GRADIENT", None, {"SpoilingState": True, "SpoilingType": "GRADIENT"}),
    ("RF_AND_GRADIENT", None, {"SpoilingState": True, "SpoilingType": "COMBINED"}),
    ("RF", "SK", {"SpoilingState": True, "SpoilingType": "COMBINED"}),
    ("NONE", "SP", {"SpoilingState": False}),
    ("GRADIENT", "SP", {"SpoilingState": True, "SpoilingType": "GRADIENT"}),
    ("JUNK", "SP", {"SpoilingState": True}),
    ("rf", None, {}),
]


def _series(folder: Path, spoiling: str | None, variant: object) -> Path:
    write_dicom_series(folder, (6, 5, 3), modality="MR")
    for path in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.ScanningSequence = "GR"
        if variant is not None:
            ds.SequenceVariant = variant
        if spoiling is not None:
            ds.Spoiling = spoiling
        ds.save_as(path)
    return folder


def _keys(vol: lv.Volume, path: Path) -> dict:
    vol.to_nifti(path)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    return {k: sidecar[k] for k in KEYS if k in sidecar}


@pytest.mark.parametrize(("spoiling", "variant", "expected"), CASES)
def test_spoiling_keys_as_dcm2niix_writes_them(tmp_path, spoiling, variant, expected):
    src = _series(tmp_path / "in", spoiling, variant)
    assert _keys(lv.open(src), tmp_path / "lz.nii") == expected


def test_spoiling_of_an_enhanced_file(tmp_path):
    """An enhanced file states Spoiling at its top level (MR Pulse Sequence module)."""
    (tmp_path / "in").mkdir()
    path = tmp_path / "in" / "e.dcm"
    write_enhanced_dicom(path, (6, 5, 3))
    ds = pydicom.dcmread(path)
    ds.Spoiling = "GRADIENT"
    ds.save_as(path)
    expected = {"SpoilingState": True, "SpoilingType": "GRADIENT"}
    assert _keys(lv.open(tmp_path / "in"), tmp_path / "lz.nii") == expected


@pytest.mark.parametrize(("spoiling", "variant", "expected"), CASES[::3])
def test_spoiling_keys_equal_dcm2niix(tmp_path, dcm2niix, spoiling, variant, expected):
    src = _series(tmp_path / "in", spoiling, variant)
    dcm2niix.run(src, tmp_path / "ref", name="x", sidecar=True, check=True)
    ref = json.loads((tmp_path / "ref" / "x.json").read_text())
    assert {k: ref[k] for k in KEYS if k in ref} == expected
    assert _keys(lv.open(src), tmp_path / "lz.nii") == expected
