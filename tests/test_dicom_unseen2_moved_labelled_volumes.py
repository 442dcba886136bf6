"""Volumes of one series told apart by TemporalPositionIdentifier / TemporalPositionIndex (a time
series; Siemens XA's one enhanced file per volume) or by their diffusion label, some of them
moved along the slice normal (prospective motion correction moves the slab between volumes)
while others share their positions.

lazyvol refused such a series with the counts of images per position only ("10 distinct slice
positions but positions repeat (5 position(s) x1, 5 position(s) x2)"), which says neither that a
volume moved nor which one (dcm2niix stops with "Check sorted order", or writes volumes of both
grids' slices). The refusal now names the volume label, the moved volume's files and by how far
it lies from the others, as the moved-mosaic refusal does. Volumes in blocks along the normal (a
moving table's stations) keep the stacking's own answer.

Reference: the files and positions :func:`lazyvol.testing.write_dicom_4d_series` /
:func:`lazyvol.testing.write_enhanced_dicom` wrote, moved here with pydicom.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series, write_enhanced_dicom

pytestmark = pytest.mark.usefixtures("dicom_cache")

SHAPE = (8, 6, 5)
SPACING = 2.5  # (write_dicom_4d_series' slice spacing)


def _move(path, mm: float) -> None:
    """Move the single-frame image ``path`` by ``mm`` along its slice normal."""
    ds = pydicom.dcmread(path)
    iop = np.array(ds.ImageOrientationPatient, dtype=float)
    at = np.array(ds.ImagePositionPatient, dtype=float) + mm * np.cross(iop[:3], iop[3:])
    ds.ImagePositionPatient = [f"{v:.6f}" for v in at]
    ds.save_as(path)


def _refusal(folder) -> str:
    with pytest.raises(lv.SeriesError) as e:
        lv.open(folder, use_index=False)
    (info,) = lv.scan(folder, use_index=False)
    assert info.error == str(e.value)
    return str(e.value)


@pytest.mark.parametrize("numbering", ["volume", "position"])
@pytest.mark.parametrize(
    ("volumes", "moved", "mm"),
    [(3, {2}, 0.3), (3, {3}, -1.25), (4, {3, 4}, 0.3), (4, {2, 4}, SPACING / 2)],
    ids=["one-of-three-0.3mm", "last-half-slice-back", "two-of-four", "alternate-half-slice"],
)
def test_moved_time_points_among_others_are_refused_naming_them(
    tmp_path, volumes, moved, mm, numbering
):
    truth = write_dicom_4d_series(
        tmp_path / "in", SHAPE, n_volumes=volumes, modality="MR", numbering=numbering,
        labels=("AcquisitionTime", "TemporalPositionIdentifier"),
    )  # fmt: skip
    moved_files = []
    for path in truth.files:
        if int(pydicom.dcmread(path).TemporalPositionIdentifier) in moved:
            _move(path, mm)
            moved_files.append(str(path))
    text = _refusal(tmp_path / "in")
    assert "TemporalPositionIdentifier (0020,0100)" in text, text
    assert "do not lie at the same slice positions" in text, text
    named = re.search(r"temporal position (\d+)'s first slice \((.+?)\) lies ([-+][\d.]+) mm", text)
    assert named, text
    assert int(named.group(1)) in moved
    assert named.group(2).split(", ")[0] in moved_files
    assert abs(float(named.group(3))) == pytest.approx(abs(mm), abs=1e-3)
    assert f"{len(moved)} of {volumes} volumes lie elsewhere" in text, text


def test_a_moved_weighted_volume_of_a_dwi_is_refused_naming_its_diffusion_label(tmp_path):
    bvals = [0, 1000, 1000, 1000]
    dirs = [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]
    truth = write_dicom_4d_series(
        tmp_path / "in", SHAPE, labels=(), bvals=bvals, bvecs=dirs, modality="MR"
    )
    for path in truth.files:
        ds = pydicom.dcmread(path)
        if [float(g) for g in ds.DiffusionGradientOrientation] == [0.0, 1.0, 0.0]:
            _move(path, 0.4)
    text = _refusal(tmp_path / "in")
    assert "the diffusion b-value and gradient direction" in text, text
    assert "diffusion (1000.0, (0.0, 1.0, 0.0))'s first slice" in text, text
    assert "+0.4 mm" in text or "-0.4 mm" in text, text


def test_an_enhanced_file_per_time_point_moved_is_refused_naming_it(tmp_path):
    """Siemens XA writes an fMRI run as one enhanced file per volume (TemporalPositionIndex)."""
    folder = tmp_path / "in"
    folder.mkdir()
    first = None
    for t in range(3):
        truth = write_enhanced_dicom(folder / f"v{t}.dcm", SHAPE, seed=t)
        ds = pydicom.dcmread(truth.files[0])
        first = first or (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID)
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = first
        ds.InstanceNumber = t + 1
        shared = ds.SharedFunctionalGroupsSequence[0]
        iop = np.array(shared.PlaneOrientationSequence[0].ImageOrientationPatient, dtype=float)
        normal = np.cross(iop[:3], iop[3:])
        for item in ds.PerFrameFunctionalGroupsSequence:
            item.FrameContentSequence[0].TemporalPositionIndex = t + 1
            plane = item.PlanePositionSequence[0]
            at = np.array(plane.ImagePositionPatient, dtype=float) + (0.3 if t == 1 else 0) * normal
            plane.ImagePositionPatient = [float(v) for v in at]
        ds.save_as(truth.files[0])
    text = _refusal(folder)
    assert "temporal position 2's first slice" in text and str(folder / "v1.dcm") in text, text
    assert "+0.3 mm" in text, text


def test_time_points_at_the_same_positions_still_stack(tmp_path):
    truth = write_dicom_4d_series(
        tmp_path / "in", SHAPE, n_volumes=3, modality="MR",
        labels=("AcquisitionTime", "TemporalPositionIdentifier"),
    )  # fmt: skip
    for path in truth.files:
        if int(pydicom.dcmread(path).TemporalPositionIdentifier) == 2:
            _move(path, 1e-4)  # (rounding-level: the same positions)
    vol = lv.open(tmp_path / "in", use_index=False)
    np.testing.assert_array_equal(vol.compute(), truth.stored)


def test_a_time_point_moved_by_a_whole_slice_is_named(tmp_path):
    """Moved by one slice, the volume shares all positions but one with the others."""
    truth = write_dicom_4d_series(
        tmp_path / "in", SHAPE, n_volumes=3, modality="MR",
        labels=("AcquisitionTime", "TemporalPositionIdentifier"),
    )  # fmt: skip
    for path in truth.files:
        if int(pydicom.dcmread(path).TemporalPositionIdentifier) == 3:
            _move(path, SPACING)
    text = _refusal(tmp_path / "in")
    assert "temporal position 3's first slice" in text and "+2.5 mm" in text, text


@pytest.mark.parametrize("short", [0, 2, 4])
def test_a_time_point_short_of_an_image_is_not_called_moved(tmp_path, short):
    truth = write_dicom_4d_series(
        tmp_path / "in", SHAPE, n_volumes=3, modality="MR",
        labels=("AcquisitionTime", "TemporalPositionIdentifier"),
    )  # fmt: skip
    z = sorted({float(pydicom.dcmread(p).ImagePositionPatient[2]) for p in truth.files})
    for path in truth.files:
        ds = pydicom.dcmread(path)
        if (
            int(ds.TemporalPositionIdentifier) == 2
            and float(ds.ImagePositionPatient[2]) == z[short]
        ):
            os.unlink(path)
    text = _refusal(tmp_path / "in")
    assert "do not lie at the same slice positions" not in text, text
    assert "positions repeat" in text, text
