"""One CT slice of a gantry-tilted acquisition (GantryDetectorTilt (0018,1120) non-zero, the image
plane tilted with the gantry): the third affine column.

One slice has no neighbour to step to, so its third column is the slice's own geometry: the image
normal times SliceThickness (orthogonal to the plane, where the slice's thickness lies). dcm2niix,
when GantryDetectorTilt is non-zero, writes that column with its patient-z component replaced by
the thickness, whatever the tilt's size or sign (a sagittal slice gets (2, 0, 2) for a 2 mm
thickness): not a geometry the headers state, so lazyvol keeps the normal; the slice's voxel
centres (first two columns and origin) are the same in both.

References: the synthetic truth of :func:`lazyvol.testing.write_dicom_series` (orientation and
thickness as written) and dcm2niix's NIfTI of the same file.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

_C, _S = np.cos(np.radians(20)), np.sin(np.radians(20))
ORIENTATIONS = {
    "axial-tilted": [1, 0, 0, 0, _C, -_S],
    "axial-tilted-and-turned": [_C, 0, _S, 0, 1, 0],
    "sagittal": [0, 1, 0, 0, 0, -1],
}
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


@pytest.mark.parametrize("tilt", [20.0, -7.5])
@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_one_tilted_slice_keeps_its_normal_as_the_third_column(
    tmp_path, dcm2niix, orientation, tilt
):
    iop = ORIENTATIONS[orientation]
    truth = write_dicom_series(tmp_path / "in", (8, 6, 1), orientation=iop, modality="CT")
    (path,) = truth.files
    ds = pydicom.dcmread(path)
    ds.GantryDetectorTilt = tilt
    ds.SliceThickness = 2.0
    ds.save_as(path)
    vol = lv.open(tmp_path / "in", use_index=False)
    row, col = np.asarray(iop[:3], float), np.asarray(iop[3:], float)
    np.testing.assert_allclose(vol.affine[:3, 2], LPS_TO_RAS @ np.cross(row, col) * 2.0, atol=1e-6)
    np.testing.assert_allclose(vol.affine[:3, :2], truth.affine[:3, :2], atol=1e-6)
    np.testing.assert_allclose(vol.affine[:3, 3], truth.affine[:3, 3], atol=1e-4)
    (ref,) = dcm2niix(tmp_path / "in", tmp_path / "ref")
    theirs = nib.load(ref).affine
    # the same voxel centres: dcm2niix's grid is lazyvol's with j flipped (its row order)
    centres = vol.affine @ np.array([[0, 0, 0, 1], [7, 0, 0, 1], [0, 5, 0, 1], [7, 5, 0, 1]]).T
    ijk = np.linalg.inv(theirs) @ centres
    np.testing.assert_allclose(ijk[2], 0.0, atol=1e-4)
    np.testing.assert_allclose(ijk[:2], np.round(ijk[:2]), atol=1e-4)
