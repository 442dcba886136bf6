"""A volume whose images state different RepetitionTime, InversionTime or FlipAngle values (a
slice re-acquired with another TR, two flip angles of a variable flip angle acquisition at the
same positions stacked along time, a first volume of longer TR) kept the volume and left the key
out of the sidecar without a word; dcm2niix writes one volume per TR and per flip angle. Now a
warning (and a note in the scan) names each value with its count of images."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series

NOTE = "acquisition parameters differ between the images of this volume"


def _series(folder: Path, change: Any) -> Path:
    write_dicom_4d_series(folder, (6, 5, 4), n_volumes=2, modality="MR", shuffle_names=False)
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(path)
        ds.RepetitionTime, ds.InversionTime, ds.FlipAngle = "2000", "900", "90"
        change(ds)
        ds.save_as(path)
    return folder


def _open(folder: Path, out: Path) -> tuple[dict, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lv.open(folder).to_nifti(out)
    return json.loads(out.with_suffix(".json").read_text()), [str(w.message) for w in caught]


def _second_volume(ds: pydicom.Dataset) -> bool:
    return int(ds.InstanceNumber) > 4


CASES = [
    (
        "FlipAngle",
        lambda ds: setattr(ds, "FlipAngle", "18" if _second_volume(ds) else "4"),
        "FlipAngle (0018,1314): 4 degrees in 4 files, 18 degrees in 4 files",
    ),
    (
        "RepetitionTime",
        lambda ds: setattr(ds, "RepetitionTime", "2500" if int(ds.InstanceNumber) == 2 else "2000"),
        "RepetitionTime (0018,0080): 2 s in 7 files, 2.5 s in 1 file",
    ),
    (
        "InversionTime",
        lambda ds: setattr(ds, "InversionTime", "900.5" if int(ds.InstanceNumber) == 3 else "900"),
        "InversionTime (0018,0082): 0.9 s in 7 files, 0.9005 s in 1 file",
    ),
]


@pytest.mark.parametrize(("key", "change", "shown"), CASES, ids=[c[0] for c in CASES])
def test_a_parameter_differing_between_images_is_warned(tmp_path, key, change, shown):
    src = _series(tmp_path / "in", change)
    sidecar, caught = _open(src, tmp_path / "lz.nii")
    assert key not in sidecar
    assert [m for m in caught if NOTE in m and shown in m]
    info = lv.scan(src)[0]
    assert any(w.startswith(NOTE) for w in info.warnings)


def test_one_value_within_float_noise_is_written_without_a_note(tmp_path):
    src = _series(
        tmp_path / "in",
        lambda ds: setattr(ds, "FlipAngle", "90.0000001" if _second_volume(ds) else "90"),
    )
    sidecar, caught = _open(src, tmp_path / "lz.nii")
    assert sidecar["FlipAngle"] == 90 and sidecar["RepetitionTime"] == 2
    assert not [m for m in caught if NOTE in m]
