"""Philips enhanced files whose frames hold ImagePositionPatient / ImageOrientationPatient only in
the private per-frame sequence (2005,140F) (a PACS or anonymiser stripped the public ones; see
dcm2niix's Philips/README.md): read from there, as dcm2niix reads them, and said. Truth: the
synthetic writer's geometry and dcm2niix's conversion of the same file, in world space."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

import lazyvol as lv
from lazyvol.errors import SeriesError
from lazyvol.testing import write_enhanced_dicom

pytestmark = pytest.mark.usefixtures("dicom_cache")

SHAPE = (6, 5, 4)


def _private_geometry(path, manufacturer, orientation_too):
    """An enhanced file whose frames' positions (and orientation) are only in (2005,140F)."""
    truth = write_enhanced_dicom(
        path, SHAPE, orientation="oblique", dtype="uint16", origin=(-5.0, -6.0, -7.0)
    )
    ds = pydicom.dcmread(path)
    ds.Manufacturer = manufacturer
    shared = ds.SharedFunctionalGroupsSequence[0]
    iop = list(shared.PlaneOrientationSequence[0].ImageOrientationPatient)
    if orientation_too:
        del shared.PlaneOrientationSequence
    ds.add_new(0x20050010, "LO", "Philips MR Imaging DD 001")
    ds.add_new(0x20050014, "LO", "Philips MR Imaging DD 005")
    dims = []  # (StackID, InStackPositionNumber), as Philips writes them (dcm2niix needs them)
    for pointer in (0x00209056, 0x00209057):
        dim = Dataset()
        dim.DimensionIndexPointer = pointer
        dim.FunctionalGroupPointer = 0x00209111
        dims.append(dim)
    ds.DimensionIndexSequence = DicomSequence(dims)
    for n, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        item.FrameContentSequence[0].StackID = "1"
        item.FrameContentSequence[0].DimensionIndexValues = [1, n + 1]
        private = Dataset()
        private.ImagePositionPatient = list(item.PlanePositionSequence[0].ImagePositionPatient)
        private.ImageOrientationPatient = iop
        private.add_new(0x20050010, "LO", "Philips MR Imaging DD 001")
        del item.PlanePositionSequence
        item.add_new(0x20050014, "LO", "Philips MR Imaging DD 005")
        item.add_new(0x2005140F, "SQ", DicomSequence([private]))
    ds.save_as(path)
    return truth


@pytest.mark.parametrize("orientation_too", [False, True])
def test_philips_private_positions_as_dcm2niix(tmp_path, dcm2niix, orientation_too):
    path = tmp_path / "in" / "p.dcm"
    truth = _private_geometry(path, "Philips Medical Systems", orientation_too)
    vol = lv.open(path)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-4)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert "(2005,140F)" in vol.meta["position_source"]
    assert ("(2005,140F)" in vol.meta.get("orientation_source", "")) == orientation_too
    assert any("(2005,140F)" in w for w in vol.meta["warnings"])
    (ref,) = dcm2niix(path.parent, tmp_path / "out")
    from test_dicom_realdata import compare_with_reference

    compare_with_reference(vol, ref)  # (world space: affine and values on dcm2niix's grid)


def test_private_positions_of_other_vendors_are_not_read(tmp_path):
    """(2005,140F) is Philips' element: another vendor's file without public positions stays
    refused, lazyvol inventing no geometry."""
    path = tmp_path / "in" / "p.dcm"
    _private_geometry(path, "SIEMENS", False)
    with pytest.raises(SeriesError, match="ImagePositionPatient"):
        lv.open(path)
