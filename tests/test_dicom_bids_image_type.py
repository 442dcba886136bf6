"""Sidecar values as dcm2niix writes them (rule-based BIDS tools, such as heudiconv, match on
dcm2niix's form).

- EchoTrainLength only above 1, for every vendor (GE writes 1 for single-shot EPI).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")


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


def _sidecars(tmp_path: Path, dcm2niix, src: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    vol = lv.open(src)
    vol.to_nifti(tmp_path / "v.nii")
    dcm2niix.run(src, tmp_path / "out", sidecar=True, check=True)
    (ref,) = sorted((tmp_path / "out").glob("*.json"))
    return json.loads((tmp_path / "v.json").read_text()), json.loads(ref.read_text())


@pytest.mark.parametrize(
    "manufacturer", ["GE MEDICAL SYSTEMS", "SIEMENS", "Philips Medical Systems"]
)
@pytest.mark.parametrize("echo_train", [0, 1, 2, 64])
def test_echo_train_length_only_above_one(tmp_path, dcm2niix, manufacturer, echo_train):
    src = _series(
        tmp_path / "s", ["ORIGINAL", "PRIMARY", "OTHER"], manufacturer, EchoTrainLength=echo_train
    )
    mine, ref = _sidecars(tmp_path, dcm2niix, src)
    assert mine.get("EchoTrainLength") == ref.get("EchoTrainLength")
    assert mine.get("EchoTrainLength") == (echo_train if echo_train > 1 else None)
