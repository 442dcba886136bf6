"""An enhanced file's DimensionIndexSequence (lazyvol.dicom.dimension_index)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_enhanced_dicom


@pytest.mark.parametrize("label", ["Time", None])
def test_an_empty_dimension_index_pointer_does_not_refuse_the_file(tmp_path, label):
    """A DimensionIndexSequence item whose DimensionIndexPointer (0020,9165) is empty (stripped by
    an anonymiser; dcm2niix converts the file) left the whole file skipped as 'unreadable
    functional groups (ValueError: Unable to create an element tag from '-1')'. Its index still
    orders the volumes (dcm2niix sorts by it), named by its label."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    path = tmp_path / "s" / "e.dcm"
    truth = write_enhanced_dicom(path, (6, 5, 4), n_volumes=3)
    ds = pydicom.dcmread(path)
    for item in ds.PerFrameFunctionalGroupsSequence:
        fc = item.FrameContentSequence[0]
        fc.DimensionIndexValues = [int(fc.InStackPositionNumber), int(fc.TemporalPositionIndex)]
    dims = []
    for ptr in (0x00209057, None):
        item = Dataset()
        item.DimensionIndexPointer = ptr
        item.FunctionalGroupPointer = 0x00209111
        if ptr is None and label:
            item.DimensionDescriptionLabel = label
        dims.append(item)
    ds.DimensionIndexSequence = DicomSequence(dims)
    ds.save_as(path)
    vol = lv.open(tmp_path / "s")
    assert vol.shape == (6, 5, 4, 3)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-5)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
