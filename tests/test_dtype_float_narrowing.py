"""``dtype=`` a float (or complex) dtype narrower than the image's values: a finite value past its
range is refused, never read as inf.

float64 data opened with ``dtype='float32'`` (1e300 read as inf), float32 or uint16 data with
``dtype='float16'`` (70000 or 65535 read as inf) and complex128 with ``dtype='complex64'`` came
back as inf with numpy's bare "overflow encountered in cast" warning, or with none at all where a
slope of at most 1 was applied; the integer ``dtype=`` casts were already refused the same way.
"""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series


def _nifti(path, data, slope=None):
    img = nib.Nifti1Image(data, np.eye(4), dtype=data.dtype)
    if slope is not None:
        img.header.set_slope_inter(slope, 0)
    nib.save(img, str(path))
    return str(path)


_F64 = np.array([1e300, -1e300, 1.0, 2.0, np.nan, np.inf]).reshape(1, 2, 3)


@pytest.mark.parametrize(
    ("data", "dtype", "slope", "suffix"),
    [
        (_F64, "float32", None, ".nii"),
        (_F64, "float32", 0.5, ".nii"),
        (
            np.array([7e4, -1e30, 1.5, 2, np.nan, 0], "f4").reshape(1, 2, 3),
            "float16",
            None,
            ".nii.gz",
        ),
        (np.arange(65530, 65536, dtype="u2").reshape(1, 2, 3), "float16", None, ".nii"),
        ((_F64 + 1j).astype("c16"), "complex64", None, ".nii"),
    ],
)
def test_a_narrower_float_dtype_refuses_values_past_its_range(tmp_path, data, dtype, slope, suffix):
    vol = lv.open(_nifti(tmp_path / f"a{suffix}", data, slope), dtype=dtype)
    assert vol.dtype == dtype
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no numpy overflow warning first)
        with pytest.raises(lv.LazyvolError, match=r"a\.nii.*(dtype=|float64)"):
            vol.compute()


def test_a_narrower_float_dtype_that_holds_the_values_reads_them(tmp_path):
    data = np.array([1e30, -2.5, 0.1, np.nan, np.inf, -np.inf]).reshape(1, 2, 3)
    got = lv.open(_nifti(tmp_path / "a.nii", data), dtype="float32").compute()
    np.testing.assert_array_equal(got, data.astype("float32"))


def test_a_zarr_store_opened_with_a_narrower_float_dtype(tmp_path):
    store = lv.Volume(_F64).to_zarr(tmp_path / "a.zarr")
    with pytest.raises(lv.DataTypeError, match=r"a\.zarr.*float32 asked for with dtype="):
        lv.open(store, dtype="float32").compute()


@pytest.mark.parametrize("scale", [True, False])
def test_dicom_opened_with_a_float_dtype_too_narrow_for_its_values(tmp_path, scale):
    write_dicom_series(tmp_path / "s", (4, 4, 3), dtype="uint16")  # (values up to 65535)
    vol = lv.open(tmp_path / "s", dtype="float16", scale=scale)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(lv.LazyvolError, match=r"IM0000\d\.dcm.*float16"):
            vol.compute()


def test_a_complex_value_with_one_inf_part_keeps_its_finite_part_checked(tmp_path):
    # (inf + 1e300j) is no finite value, but its imaginary part is: as complex64 it read as
    # inf + infj, silently (the check skipped every value that was not finite as a whole).
    data = np.array([complex(np.inf, 1e300), complex(np.nan, -1e300), 1, 2, 3, 4]).reshape(1, 2, 3)
    vol = lv.open(_nifti(tmp_path / "a.nii", data.astype("c16")), dtype="complex64")
    with pytest.raises(lv.DataTypeError, match=r"a\.nii.*parts -1e\+300 \.\. 1e\+300.*complex64"):
        vol.compute()
    kept = np.array([complex(np.inf, 2.5), complex(1, np.nan), 1, 2, 3, 4]).reshape(1, 2, 3)
    got = lv.open(_nifti(tmp_path / "b.nii", kept.astype("c16")), dtype="complex64").compute()
    np.testing.assert_array_equal(got, kept.astype("c8"))


def test_dicom_without_a_rescale_blames_the_dtype_asked_for_not_the_header(tmp_path):
    # RescaleSlope 1, no intercept, scale=True: 65535 past float16 was a FormatError saying the
    # scaling took the values past its range ('a damaged header?'); nothing scaled them, the
    # dtype= asked for cannot hold them (as with scale=False).
    write_dicom_series(tmp_path / "s", (4, 4, 3), dtype="uint16")
    with pytest.raises(
        lv.DataTypeError, match=r"IM0000\d\.dcm: values .*float16 asked for with dtype="
    ):
        lv.open(tmp_path / "s", dtype="float16").compute()
