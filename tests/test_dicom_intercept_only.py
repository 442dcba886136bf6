"""A RescaleIntercept (0028,1052) stated without its RescaleSlope (0028,1053), which the standard
has together: dcm2niix reads slope 1 and the intercept, pydicom applies no rescale to the file.
lazyvol reads it as dcm2niix, and says so (the two readers' values differ), naming the files.

References: dcm2niix's values, pydicom's apply_modality_lut, the synthetic truth.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

import lazyvol as lv
from lazyvol.testing import write_dicom_series

SHAPE = (6, 5, 4)


@pytest.mark.parametrize("dropped", [[1], [0, 1, 2, 3]])
def test_intercept_without_slope_is_read_as_dcm2niix_with_a_note(tmp_path, dcm2niix, dropped):
    src = tmp_path / "s"
    truth = write_dicom_series(src, shape=SHAPE, intercept=-100.0)
    for k in dropped:
        ds = pydicom.dcmread(truth.files[k])
        del ds.RescaleSlope
        ds.save_as(truth.files[k])
    (ref,) = dcm2niix(src, tmp_path / "out")
    expected = truth.stored.astype(np.int32) - 100  # slope 1, the intercept: as dcm2niix
    ref_values = np.sort(np.asarray(nib.load(ref).get_fdata()).ravel())
    np.testing.assert_array_equal(ref_values, np.sort(expected.ravel()))
    ds = pydicom.dcmread(truth.files[dropped[0]])
    plain = apply_modality_lut(ds.pixel_array, ds)
    np.testing.assert_array_equal(plain, ds.pixel_array)  # pydicom: no rescale
    with pytest.warns(RuntimeWarning, match=r"RescaleIntercept \(0028,1052\) stated without"):
        vol = lv.open(src)
    named = [truth.files[k] for k in dropped]
    assert vol.meta["rescale_intercept_only"] == sorted(named)
    (note,) = [w for w in vol.meta["warnings"] if w.startswith("RescaleIntercept (0028,1052)")]
    assert f"{len(dropped)} file(s)" in note and str(named[0]) in note
    np.testing.assert_array_equal(vol.compute(), expected)
    with pytest.warns(RuntimeWarning, match="RescaleIntercept"):  # again from the saved report
        lv.open(src)


def test_no_note_when_the_pair_is_stated_or_the_intercept_is_zero(tmp_path):
    src = tmp_path / "s"
    truth = write_dicom_series(src, shape=SHAPE, intercept=-100.0)
    assert "rescale_intercept_only" not in lv.open(src).meta
    src2 = tmp_path / "z"
    truth = write_dicom_series(src2, shape=SHAPE)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.RescaleIntercept = 0
        if "RescaleSlope" in ds:
            del ds.RescaleSlope
        ds.save_as(f)
    assert "rescale_intercept_only" not in lv.open(src2).meta
