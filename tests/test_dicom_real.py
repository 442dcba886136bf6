"""Real files pydicom ships: values and geometry against pydicom and SimpleITK."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

import lazyvol as lv

pytestmark = pytest.mark.usefixtures("dicom_cache")

NAMES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_expb.dcm",
    "MR_small_implicit.dcm",
    "MR_small_padded.dcm",
]


def pydicom_affine(ds: pydicom.Dataset, dk: float) -> np.ndarray:
    row = np.array(ds.ImageOrientationPatient[:3], float)
    col = np.array(ds.ImageOrientationPatient[3:], float)
    lps = np.eye(4)
    lps[:3, 0] = row * float(ds.PixelSpacing[1])
    lps[:3, 1] = col * float(ds.PixelSpacing[0])
    lps[:3, 2] = np.cross(row, col) * dk
    lps[:3, 3] = np.array(ds.ImagePositionPatient, float)
    return np.diag([-1.0, -1.0, 1, 1]) @ lps


@pytest.mark.parametrize("name", NAMES)
def test_real_file_matches_pydicom_and_simpleitk(name):
    import SimpleITK as sitk

    path = get_testdata_file(name)
    ds = pydicom.dcmread(path)
    vol = lv.open(path, scale=False)
    assert vol.shape == (ds.Columns, ds.Rows, 1)
    np.testing.assert_array_equal(vol.compute()[:, :, 0], ds.pixel_array.T)
    dk = float(ds.get("SpacingBetweenSlices") or ds.SliceThickness)
    np.testing.assert_allclose(vol.affine, pydicom_affine(ds, dk), atol=1e-6)
    img = sitk.ReadImage(path)
    arr = sitk.GetArrayFromImage(img)[0].T  # (rows, cols) -> (i, j)
    # SimpleITK (GDCM) applies RescaleSlope/Intercept as lazyvol does with scale=True.
    scaled = lv.open(path).compute()[:, :, 0]
    np.testing.assert_allclose(scaled, arr, atol=1e-3)
    origin_ras = np.array(img.GetOrigin()) * [-1, -1, 1]
    np.testing.assert_allclose(vol.affine[:3, 3], origin_ras, atol=1e-4)
    d = np.array(img.GetDirection()).reshape(3, 3)
    sp = np.array(img.GetSpacing())
    np.testing.assert_allclose(
        vol.affine[:3, :2], (np.diag([-1, -1, 1]) @ d * sp)[:, :2], atol=1e-5
    )


def test_real_truncated_file_is_refused():
    with pytest.raises(lv.FormatError, match="truncated") as exc:
        lv.open(get_testdata_file("MR_truncated.dcm"))
    assert "MR_truncated.dcm" in str(exc.value)


def test_real_non_images_skipped():
    for name in ("test-SR.dcm", "rtplan.dcm", "rtstruct.dcm", "waveform_ecg.dcm"):
        report = lv.scan(get_testdata_file(name))
        assert len(report) == 0
        assert "no Pixel Data" in report.skipped[0][1]
    with pytest.raises(lv.FormatError, match="no DICOM image volume"):
        lv.open(get_testdata_file("rtplan.dcm"))
