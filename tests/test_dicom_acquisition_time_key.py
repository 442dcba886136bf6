"""The sidecar's AcquisitionTime only where the image states its date, as dcm2niix writes it:
an export without AcquisitionDate (an anonymiser that keeps times, a PACS that drops dates) gets
none from dcm2niix for MR, CT, NM, ..., while lazyvol wrote the time of day. PET keeps it (dcm2niix
writes it there without a date). Expected values from the installed dcm2niix (v1.0.20260724)."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

TIME = "101500.250000"


def _series(folder: Path, modality: str, **attrs: str | None) -> Path:
    write_dicom_series(folder, (6, 5, 3), modality=modality)
    for path in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.AcquisitionTime = TIME
        for key, value in attrs.items():
            if value is not None:
                setattr(ds, key, value)
        ds.save_as(path)
    return folder


def _time(folder: Path, out: Path) -> str | None:
    lv.open(folder).to_nifti(out)
    return json.loads(out.with_suffix(".json").read_text()).get("AcquisitionTime")


@pytest.mark.parametrize(
    ("modality", "attrs", "written"),
    [
        ("MR", {"AcquisitionDate": "20240102"}, True),
        ("MR", {}, False),
        ("MR", {"StudyDate": "20240102", "SeriesDate": "20240102"}, False),
        ("MR", {"ContentDate": "20240102"}, False),
        ("MR", {"AcquisitionDate": "00000000"}, False),
        ("CT", {}, False),
        ("CT", {"AcquisitionDate": "20240102"}, True),
        ("PT", {}, True),
    ],
)
def test_acquisition_time_needs_a_stated_date_as_dcm2niix(tmp_path, modality, attrs, written):
    src = _series(tmp_path / "in", modality, **attrs)
    assert _time(src, tmp_path / "lz.nii") == ("10:15:00.250000" if written else None)


def test_acquisition_date_time_alone_dates_the_image(tmp_path):
    src = _series(tmp_path / "in", "MR", AcquisitionDateTime="20240102" + TIME)
    for path in sorted(src.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        del ds.AcquisitionTime
        ds.save_as(path)
    assert _time(src, tmp_path / "lz.nii") == "10:15:00.250000"
