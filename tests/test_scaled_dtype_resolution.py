"""Scaled integers read in float32 only where float32 tells every stored value apart: a slope
smaller than float32's spacing at the values it gives (0.001 over an intercept of 1e9) made
neighbouring stored values one value (all 256 values of a uint8 image read 1e9, its std 0).
References: nibabel's get_fdata (float64) and pydicom's modality LUT."""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

import lazyvol as lv
from lazyvol.testing import write_dicom_series

#: (stored dtype, slope, intercept): scalings float32 cannot resolve.
FINE = [("uint8", 0.001, 1e9), ("int16", 0.01, 1e6), ("uint16", 1e-4, 5e4), ("int32", 0.5, 0.0)]


def _values(dtype: str) -> np.ndarray:
    info = np.iinfo(dtype)
    lo, hi = max(info.min, -5000), min(info.max, 5000)
    if dtype == "int32":  # (values far up, where float32's spacing is 64)
        lo, hi = 2**30, 2**30 + 300
    return np.linspace(lo, hi, 6 * 5 * 4).round().astype(dtype).reshape(6, 5, 4)


@pytest.mark.parametrize(("dtype", "slope", "inter"), FINE)
def test_nifti_scaled_values_stay_apart(tmp_path, dtype, slope, inter):
    stored = _values(dtype)
    img = nib.Nifti1Image(stored, np.eye(4))
    img.header.set_slope_inter(slope, inter)
    nib.save(img, tmp_path / "a.nii")
    ref = nib.load(tmp_path / "a.nii").get_fdata()
    vol = lv.open(tmp_path / "a.nii")
    got = np.asarray(vol.compute())
    assert len(np.unique(got)) == len(np.unique(stored))
    np.testing.assert_allclose(got, ref, rtol=1e-15, atol=0)
    stats = lv.stats(vol)
    assert stats.std == pytest.approx(float(ref.std()), rel=1e-9)


@pytest.mark.parametrize(("dtype", "slope", "inter"), FINE[:3])
def test_dicom_rescaled_values_stay_apart(tmp_path, dtype, slope, inter):
    truth = write_dicom_series(tmp_path / "s", (6, 5, 4), dtype=dtype, slope=slope, intercept=inter)
    vol = lv.open(tmp_path / "s")
    got = np.asarray(vol.compute())
    for path in truth.files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
        ref = apply_modality_lut(ds.pixel_array, ds).T  # (float64)
        z = [k for k in range(got.shape[2]) if np.allclose(got[..., k], ref, rtol=1e-15, atol=0)]
        assert z, f"{path}: no slice of the volume equals pydicom's values"
    stored = truth.stored
    assert len(np.unique(got)) == len(np.unique(stored))
