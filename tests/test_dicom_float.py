"""Float Pixel Data (7FE0,0008) and Double Float Pixel Data (7FE0,0009): IEEE floats, against the
values written, pydicom's decoding and dcm2niix's conversion."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.errors import FormatError, MultipleSeriesError
from lazyvol.testing import write_dicom_series, write_enhanced_dicom

pytestmark = pytest.mark.usefixtures("dicom_cache")

SHAPE = (12, 10, 5)


def _canonical(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    img = nib.as_closest_canonical(nib.Nifti1Image(np.asarray(data), affine))
    return np.asarray(img.dataobj), img.affine


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("syntax", ["explicit", "implicit", "big"])
def test_float_pixels_match_written_values_and_pydicom(tmp_path, dtype, syntax):
    truth = write_dicom_series(tmp_path / "s", SHAPE, dtype=dtype, syntax=syntax, modality="MR")
    vol = lv.open(tmp_path / "s")
    assert vol.dtype == np.dtype(dtype)
    got = vol.compute()
    np.testing.assert_array_equal(got, truth.stored)  # bit for bit, the extremes included
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    # pydicom's own decoding of each file is the same plane (rows, columns) = (j, i).
    for path in truth.files:
        ds = pydicom.dcmread(path)
        np.testing.assert_array_equal(got[:, :, int(ds.InstanceNumber) - 1].T, ds.pixel_array)
    # Small reads (the direct path) and one slab agree with the whole.
    np.testing.assert_array_equal(vol[3:7, 2:9, 1:4].compute(), got[3:7, 2:9, 1:4])


def test_float_pixels_rescaled(tmp_path):
    slopes = [0.5, 1.0, 0.25, 1.0, 0.75]
    truth = write_dicom_series(tmp_path / "s", SHAPE, dtype="float32", slope=slopes, intercept=-3)
    vol = lv.open(tmp_path / "s")
    assert vol.dtype == np.float32
    # the rescale in float64, rounded once (as pydicom's Modality LUT; docs/dicom.md)
    want = (truth.stored.astype(np.float64) * slopes - 3.0).astype(np.float32)
    np.testing.assert_array_equal(vol.compute(), want)
    raw = lv.open(tmp_path / "s", scale=False)
    np.testing.assert_array_equal(raw.compute(), truth.stored)


def test_float_pixels_rescale_past_float32_refused_then_read_in_float64(tmp_path):
    # The phantom holds -3e38: a slope of 2 takes it past float32, never silently to -inf.
    truth = write_dicom_series(tmp_path / "s", SHAPE, dtype="float32", slope=2.0)
    with pytest.raises(FormatError, match=r"float32 range.*dtype='float64'"):
        lv.open(tmp_path / "s").compute()
    wide = lv.open(tmp_path / "s", dtype="float64").compute()
    np.testing.assert_array_equal(wide, truth.stored.astype(np.float64) * 2.0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_pixels_against_dcm2niix(tmp_path, dtype, dcm2niix):
    write_dicom_series(
        tmp_path / "s", SHAPE, dtype=dtype, orientation="oblique", slope=0.5, intercept=1.5
    )
    (nii,) = dcm2niix(tmp_path / "s", tmp_path / "nii")
    img = nib.load(nii)
    vol = lv.open(tmp_path / "s")
    mine, my_aff = _canonical(vol.compute(), vol.affine)
    theirs, their_aff = _canonical(img.get_fdata(dtype=np.float64), img.affine)
    np.testing.assert_allclose(my_aff, their_aff, atol=1e-3)
    # dcm2niix stores the file's floats and the rescale as scl_slope/scl_inter; nibabel applies
    # them in float64, lazyvol in float32 (the stored precision).
    np.testing.assert_allclose(mine, theirs, rtol=1e-6)


def _rewrite(path: str, **attrs: object) -> None:
    ds = pydicom.dcmread(path)
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.save_as(path)


def test_float_pixels_with_wrong_bits_allocated_refused(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE, dtype="float32")
    for path in truth.files:
        _rewrite(path, BitsAllocated=16)
    with pytest.raises(FormatError, match=r"FloatPixelData \(7FE0,0008\).*BitsAllocated"):
        lv.open(tmp_path / "s")


def test_float_and_integer_files_are_two_volumes(tmp_path):
    floats = write_dicom_series(tmp_path / "s", SHAPE, dtype="float32", series_uid="1.2.3.4")
    ints = write_dicom_series(
        tmp_path / "i", SHAPE, dtype="int16", series_uid="1.2.3.4", prefix="INT"
    )
    for path in ints.files:
        shutil.move(path, tmp_path / "s")
    with pytest.raises(MultipleSeriesError, match=r"float \(5 files\), integer \(5 files\)"):
        lv.open(tmp_path / "s")
    got = {}
    for row in ("#0", "#1"):
        vol = lv.open(tmp_path / "s", series=row)
        got[vol.dtype.kind] = vol.compute()
    np.testing.assert_array_equal(got["f"], floats.stored)
    np.testing.assert_array_equal(got["i"], ints.stored)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_enhanced_multiframe_float_pixels(tmp_path, dtype):
    # A parametric map's layout: one enhanced file, frames out of slice order, two volumes.
    truth = write_enhanced_dicom(
        tmp_path / "pm.dcm", SHAPE, dtype=dtype, frame_order=[3, 0, 4, 1, 2], n_volumes=2
    )
    vol = lv.open(tmp_path / "pm.dcm")
    assert vol.dtype == np.dtype(dtype) and vol.shape == (*SHAPE, 2)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)


def test_integer_bit_fields_beside_float_pixels_are_ignored_as_pydicom_does(tmp_path):
    # BitsStored 16 of 32 on float data made lazyvol clear "unused" bits: a bare TypeError.
    truth = write_dicom_series(tmp_path / "s", SHAPE, dtype="float32")
    for path in truth.files:
        _rewrite(path, BitsStored=16, HighBit=15, PixelRepresentation=0)
    vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    ds = pydicom.dcmread(truth.files[0])
    np.testing.assert_array_equal(vol.compute()[:, :, int(ds.InstanceNumber) - 1].T, ds.pixel_array)
