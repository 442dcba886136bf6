"""Sidecar ImageType and EchoTrainLength as dcm2niix writes them (rule-based BIDS tools, such as
heudiconv, match on dcm2niix's form).

- ImageType: dcm2niix splits the DICOM values at "_" and appends the image kind (MAGNITUDE,
  PHASE, REAL, IMAGINARY, or FIELDMAPHZ for a real B0 map) the text does not name; the DICOM
  header (``vol.header``) keeps the values as they are.
- EchoTrainLength only above 1, for every vendor (GE writes 1 for single-shot EPI).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series
from test_dicom_mosaic import sidecar_pair

pytestmark = pytest.mark.usefixtures("dicom_cache")

REAL = Path(
    os.environ.get("LAZYVOL_REAL_DICOM", Path(__file__).parents[2] / "shared" / "dicom-real")
)


def _series(folder: Path, image_type: list[str], manufacturer: str, **elements: Any) -> Path:
    truth = write_dicom_series(folder, (6, 6, 3), modality="MR")
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.Manufacturer = manufacturer
        ds.ImageType = image_type
        for key, value in elements.items():
            if key == "ge_kind":
                ds.add_new(0x00430010, "LO", "GEMS_PARM_01")
                ds.add_new(0x0043102F, "SS", value)
            else:
                setattr(ds, key, value)
        ds.save_as(f)
    return folder


@pytest.mark.parametrize(
    ("image_type", "manufacturer", "elements", "expected"),
    [
        (["ORIGINAL", "PRIMARY", "M", "ND", "ECHO_00", "NORM"], "SIEMENS", {},
         ["ORIGINAL", "PRIMARY", "M", "ND", "ECHO", "00", "NORM", "MAGNITUDE"]),
        (["ORIGINAL", "PRIMARY", "P", "ND"], "SIEMENS", {},
         ["ORIGINAL", "PRIMARY", "P", "ND", "PHASE"]),
        (["ORIGINAL", "PRIMARY", "PHASE"], "SIEMENS", {},
         ["ORIGINAL", "PRIMARY", "PHASE", "PHASE"]),  # (dcm2niix looks for "_PHASE_")
        (["ORIGINAL", "PRIMARY", "PHASE", "ND"], "SIEMENS", {}, ["ORIGINAL", "PRIMARY", "PHASE", "ND"]),
        (["ORIGINAL", "PRIMARY", "M"], "SIEMENS", {}, ["ORIGINAL", "PRIMARY", "M"]),
        (["ORIGINAL", "PRIMARY", "M_FFE", "M", "FFE"], "Philips Medical Systems", {},
         ["ORIGINAL", "PRIMARY", "M", "FFE", "M", "FFE", "MAGNITUDE"]),
        (["ORIGINAL", "PRIMARY", "R_FFE", "R", "FFE"], "Philips Medical Systems", {},
         ["ORIGINAL", "PRIMARY", "R", "FFE", "R", "FFE", "REAL"]),
        (["ORIGINAL", "PRIMARY", "PHASE MAP", "P", "FFE"], "Philips Medical Systems", {},
         ["ORIGINAL", "PRIMARY", "PHASE MAP", "P", "FFE", "PHASE"]),
        (["ORIGINAL", "PRIMARY", "I", "R", "P", "M"], "SIEMENS", {},
         ["ORIGINAL", "PRIMARY", "I", "R", "P", "M", "PHASE", "REAL", "IMAGINARY"]),
        (["ORIGINAL", "PRIMARY", "B0", "MAP", "R", "X"], "SIEMENS", {},
         ["ORIGINAL", "PRIMARY", "B0", "MAP", "R", "X", "FIELDMAPHZ"]),
        (["ORIGINAL", "PRIMARY", "EPI", "NONE"], "GE MEDICAL SYSTEMS", {"ge_kind": 0},
         ["ORIGINAL", "PRIMARY", "EPI", "NONE", "MAGNITUDE"]),
        (["ORIGINAL", "PRIMARY", "EPI", "NONE"], "GE MEDICAL SYSTEMS", {"ge_kind": 1},
         ["ORIGINAL", "PRIMARY", "EPI", "NONE", "PHASE"]),
        (["ORIGINAL", "PRIMARY", "OTHER"], "SIEMENS", {"ComplexImageComponent": "IMAGINARY"},
         ["ORIGINAL", "PRIMARY", "OTHER", "IMAGINARY"]),
        (["ORIGINAL", "PRIMARY", "P", "ND"], "SIEMENS", {"ComplexImageComponent": "MAGNITUDE"},
         ["ORIGINAL", "PRIMARY", "P", "ND", "MAGNITUDE", "PHASE"]),
        (["ORIGINAL", "", "M"], "SIEMENS", {}, ["ORIGINAL", "M"]),
        (["", "PRIMARY", "M"], "SIEMENS", {}, ["", "PRIMARY", "M"]),
        # dcm2niix keeps 65 characters of the joined text
        (["ORIGINAL", "PRIMARY", *["ABCDEFGHIJ"] * 4, "A", "M", "X"], "SIEMENS", {},
         ["ORIGINAL", "PRIMARY", *["ABCDEFGHIJ"] * 4, "A", "M", "MAGNITUDE"]),
    ],
)  # fmt: skip
def test_image_type_as_dcm2niix(tmp_path, image_type, manufacturer, elements, expected):
    src = _series(tmp_path / "s", image_type, manufacturer, **elements)
    mine, ref = sidecar_pair(src, tmp_path)
    assert ref["ImageType"] == expected
    assert mine["ImageType"] == expected
    vol = lv.open(src)
    assert vol.meta["bids"]["ImageType"] == expected
    assert list(vol.header.ImageType) == image_type  # the DICOM header keeps DICOM's values


@pytest.mark.parametrize(
    "manufacturer", ["GE MEDICAL SYSTEMS", "SIEMENS", "Philips Medical Systems"]
)
@pytest.mark.parametrize("echo_train", [0, 1, 2, 64])
def test_echo_train_length_only_above_one(tmp_path, manufacturer, echo_train):
    src = _series(
        tmp_path / "s", ["ORIGINAL", "PRIMARY", "OTHER"], manufacturer, EchoTrainLength=echo_train
    )
    mine, ref = sidecar_pair(src, tmp_path)
    assert mine.get("EchoTrainLength") == ref.get("EchoTrainLength")
    assert mine.get("EchoTrainLength") == (echo_train if echo_train > 1 else None)


REFS = sorted(REAL.glob("*/Ref/*.json"))


@pytest.mark.skipif(
    not REFS, reason=f"real DICOM data not found at {REAL} (set LAZYVOL_REAL_DICOM)"
)
@pytest.mark.parametrize("ref", REFS, ids=lambda p: f"{p.parents[1].name}/{p.stem}")
def test_real_series_image_type_and_echo_train_match_dcm2niix(ref: Path, tmp_path: Path) -> None:
    side = json.loads(ref.read_text())
    report = lv.scan(ref.parents[1] / "In", use_index=False)
    (info,) = [
        i
        for i in report
        if i.number == side["SeriesNumber"] and i.description == side["SeriesDescription"]
    ]
    vol = lv.open(ref.parents[1] / "In", series=info.id, use_index=False)
    vol.to_nifti(tmp_path / "v.nii")
    mine = json.loads((tmp_path / "v.json").read_text())
    assert mine["ImageType"] == side["ImageType"]
    assert mine.get("EchoTrainLength") == side.get("EchoTrainLength")
