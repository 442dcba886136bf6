"""Whole volumes of one series at several flip angles or repetition times (a variable flip angle
T1 map, an MP2RAGE's two inversions, a saturation-recovery series of several TRs stored under one
SeriesInstanceUID): dcm2niix writes one file per value ("Slices not stacked: flip angle varies",
"TR varies"); lazyvol stacked them as time points of one 4D volume whose sidecar left FlipAngle
or RepetitionTime out. Now one volume per value, each with its own value, as dcm2niix; a value
that differs image to image inside a volume still keeps the volume (with the note).

References: dcm2niix run on the same folder (skipped when it is not installed), and the synthetic
truth of :func:`lazyvol.testing.write_dicom_4d_series`.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series, write_mosaic_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

#: (attribute, value of each volume as written, sidecar key's value per volume)
CASES = {
    "flip-angle": ("FlipAngle", ["4", "18", "4", "18"], [4, 18]),
    "repetition-time": ("RepetitionTime", ["1500", "1500", "3000", "3000"], [1.5, 3.0]),
}


def _write(folder: Path, attribute: str, per_volume: list[str], numbering: str):
    truth = write_dicom_4d_series(
        folder, (6, 5, 4), n_volumes=len(per_volume), numbering=numbering, modality="MR",
        labels=("AcquisitionTime", "TemporalPositionIdentifier"),
    )  # fmt: skip
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(path)
        t = int(ds.TemporalPositionIdentifier) - 1
        ds.RepetitionTime, ds.FlipAngle = "2000", "90"
        setattr(ds, attribute, per_volume[t])
        ds.save_as(path)
    return truth


@pytest.mark.parametrize("numbering", ["volume", "position"])
@pytest.mark.parametrize("case", list(CASES))
def test_whole_volumes_of_several_values_are_one_volume_each_as_dcm2niix(
    tmp_path, dcm2niix, case, numbering
):
    attribute, per_volume, values = CASES[case]
    truth = _write(tmp_path / "in", attribute, per_volume, numbering)
    report = lv.scan(tmp_path / "in", use_index=False)
    assert len(report) == len(values), [i.shape for i in report]
    got = {}
    for info in report:
        assert info.shape == (*truth.stored.shape[:3], 2), info.shape
        assert any(f"{attribute} (0018," in r and "whole volumes" in r for r in info.reasons)
        vol = lv.open(tmp_path / "in", series=info.id, use_index=False)
        vol.to_nifti(tmp_path / f"{info.id}.nii")
        side = json.loads((tmp_path / f"{info.id}.json").read_text())
        # (a TR other than the volumes' AcquisitionTime step is RepetitionTimeExcitation, the
        # sidecar's RepetitionTime that step, as dcm2niix writes them)
        got[side.get(f"{attribute}Excitation", side[attribute])] = vol
        np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-4)
    assert sorted(got) == values
    scale = 1000 if attribute == "RepetitionTime" else 1  # (ms written, s in the sidecar)
    for value, vol in got.items():  # each volume holds the truth's volumes of its value
        ts = [t for t, v in enumerate(per_volume) if np.isclose(float(v) / scale, value)]
        np.testing.assert_array_equal(vol.compute(), truth.stored[..., ts])
    refs = dcm2niix(tmp_path / "in", tmp_path / "ref")
    assert len(refs) == len(values)  # dcm2niix: one file per value too
    assert sorted(nib.load(r).shape for r in refs) == [(*truth.stored.shape[:3], 2)] * len(values)


def test_a_value_differing_inside_volumes_keeps_the_volume(tmp_path):
    """Two images of the same slice at another flip angle: not whole volumes, one volume kept
    (dcm2niix splits it into volumes missing slices), with the note."""
    truth = _write(tmp_path / "in", "FlipAngle", ["4", "4", "4", "4"], "volume")
    for path in sorted((tmp_path / "in").iterdir()):
        ds = pydicom.dcmread(path)
        if int(ds.TemporalPositionIdentifier) in (1, 3) and int(ds.InstanceNumber) % 4 == 2:
            ds.FlipAngle = "18"
            ds.save_as(path)
    (info,) = lv.scan(tmp_path / "in", use_index=False)
    assert info.shape == truth.stored.shape
    assert any("FlipAngle (0018,1314): 4 degrees" in w for w in info.warnings), info.warnings


def test_mosaic_volumes_at_two_flip_angles_are_split(tmp_path):
    """Siemens mosaics (one file per volume; the values on the file's first tile only)."""
    truth = write_mosaic_series(tmp_path / "m", (8, 6, 5), volumes=4)
    for n, f in enumerate(
        sorted(truth.files, key=lambda p: int(pydicom.dcmread(p).InstanceNumber))
    ):
        ds = pydicom.dcmread(f)
        ds.FlipAngle = "5" if n % 2 else "3"
        ds.save_as(f)
    report = lv.scan(tmp_path / "m", use_index=False)
    assert sorted(i.shape for i in report) == [(8, 6, 5, 2), (8, 6, 5, 2)]
