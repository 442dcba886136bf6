"""Siemens mosaic files of one series whose volumes do not lie at the same slice positions (a
volume moved by prospective motion correction, a file edited, two runs under one
SeriesInstanceUID; nibabel's 0.dcm/1.dcm pair lies one slice apart).

Each mosaic file is one whole volume. lazyvol took their tiles as slices of one stack: a volume
moved by half a slice made one 3D volume of twice the slices at half the spacing, two time points
interleaved along k, without a word; a volume moved by whole slices was refused as "positions
repeat a different number of times ... missing images or mixed acquisitions". dcm2niix stacks
such files as a 4D image in the first file's geometry (the others misplaced), silently too. Now
the refusal says the mosaic files do not hold the same positions, naming the moved file and by
how far.

Reference: the synthetic truth of :func:`lazyvol.testing.write_mosaic_series` and the positions
pydicom reads from the files.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_mosaic_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

SHAPE = (8, 6, 5)
SPACING = 3.0


def _series(tmp_path, volumes: int = 3):
    truth = write_mosaic_series(
        tmp_path / "m", SHAPE, volumes=volumes, spacing=(2.0, 2.0, SPACING), orientation="oblique"
    )
    files = sorted(truth.files, key=lambda p: int(pydicom.dcmread(p).InstanceNumber))
    return truth, files


def _move(path, mm: float) -> None:
    """Move the mosaic ``path`` by ``mm`` along its slice normal (ImagePositionPatient)."""
    ds = pydicom.dcmread(path)
    iop = np.array(ds.ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    ds.ImagePositionPatient = [
        f"{v:.6f}" for v in np.array(ds.ImagePositionPatient, float) + mm * normal
    ]
    ds.save_as(path)


@pytest.mark.parametrize(
    "moved_by",
    [SPACING / 2, -SPACING / 2, SPACING, 2 * SPACING, 0.4],
    ids=["half-slice", "half-slice-back", "one-slice", "two-slices", "0.4mm"],
)
def test_a_moved_mosaic_volume_is_refused_naming_it(tmp_path, moved_by):
    _, files = _series(tmp_path)
    _move(files[1], moved_by)
    with pytest.raises(lv.SeriesError) as e:
        lv.open(tmp_path / "m", use_index=False)
    text = str(e.value)
    assert "mosaic files of this series do not hold the same slice positions" in text, text
    assert str(files[1]) in text and f"{abs(moved_by):.4g} mm along the slice normal" in text, text
    (info,) = lv.scan(tmp_path / "m", use_index=False)
    assert info.error and "do not hold the same slice positions" in info.error


def test_mosaic_volumes_at_the_same_positions_still_stack(tmp_path):
    truth, files = _series(tmp_path)
    _move(files[1], 1e-4)  # (rounding-level: the same positions)
    vol = lv.open(tmp_path / "m", use_index=False)
    assert vol.shape == truth.stored.shape
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-3)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
