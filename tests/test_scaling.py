"""The dtype rule for scaled values."""

from __future__ import annotations

import numpy as np
import pytest

from lazyvol.scaled_dtypes import scaled_dtype
from lazyvol.scaling import apply_scale


@pytest.mark.parametrize(
    ("stored", "pairs", "expected"),
    [
        ("int16", [(1, 0)], "int16"),
        (">i2", [(1, 0)], "int16"),
        ("int16", [(1, -1024)], "int32"),
        ("uint8", [(1, -1)], "int16"),
        ("uint8", [(2, 0)], "uint16"),
        ("uint16", [(1, -1024)], "int32"),
        ("int16", [(1, -1024), (2, 0)], "int32"),
        ("int16", [(0.5, 0)], "float32"),
        ("int16", [(1, 0.5)], "float32"),
        ("float32", [(2, 1)], "float32"),
        ("float64", [(2, 1)], "float64"),
        ("int32", [(3, 0)], "int64"),
        ("int64", [(3, 0)], "float64"),  # past int64; float32's spacing there is ~1e12
        ("uint8", [(0.001, 1e9)], "float64"),  # float32 would make every value 1e9
        ("int32", [(0.5, 0)], "float64"),  # 1.07e9: float32's spacing there is 64
        ("uint16", [(0.01, 1e6)], "float64"),  # 1e6: float32's spacing there is 0.0625
        ("int16", [(0.001, 0)], "float32"),  # 32.8: float32 tells 0.001 steps apart
        ("int16", [(0.3, 0), (0.0123, 1024.6)], "float32"),  # each pair's own values
        ("int16", [(3e38, 0)], "float64"),  # 32767 * 3e38 overflows float32
        ("uint8", [(2e36, 0.5)], "float64"),  # 255 * 2e36 overflows float32
        ("int16", [(1e30, 0.5)], "float32"),  # 3.3e34 fits
        ("int16", [(1e-300, 0)], "float64"),  # 1e-300 is 0 in float32
        ("float32", [(1e-300, 0)], "float64"),
        ("int16", [(1, 1e-320)], "float64"),
        ("int16", [(1e-40, 0)], "float64"),  # float32 subnormal: digits lost
        ("int16", [(1e-37, 0)], "float32"),  # a normal float32
        ("complex64", [(1e-300, 1)], "complex128"),
        ("complex64", [(2, 1)], "complex64"),
        ("complex128", [(2, 1)], "complex128"),
    ],
)
def test_scaled_dtype(stored: str, pairs: list, expected: str) -> None:
    assert scaled_dtype(np.dtype(stored), pairs) == np.dtype(expected)


def test_integer_scaling_is_exact_over_the_whole_stored_range() -> None:
    stored = np.array([-32768, -1, 0, 1, 32767], dtype=np.int16)
    out_dtype = scaled_dtype(stored.dtype, [(3, -1024)])
    got = apply_scale(stored, 3, -1024, out_dtype)
    assert got.dtype == out_dtype
    np.testing.assert_array_equal(got, stored.astype(np.int64) * 3 - 1024)


def test_float_scaling_matches_float64_reference_within_float32_precision() -> None:
    rng = np.random.default_rng(1)
    stored = rng.integers(-(2**31), 2**31 - 1, size=1000, dtype=np.int32)
    got = apply_scale(stored, 0.37, 12.5, np.dtype(np.float32))
    ref = stored.astype(np.float64) * 0.37 + 12.5
    np.testing.assert_array_equal(got, ref.astype(np.float32))


def test_a_nifti_slope_that_overflows_float32_reads_finite_values_as_nibabel(tmp_path) -> None:
    """int16 with scl_slope 3e38 (a finite float32): float32 output made -inf/inf of finite
    scaled values; float64 holds them, as nibabel's dataobj does."""
    import nibabel as nib

    import lazyvol as lv

    stored = np.array([1, -2, 3, 100], dtype=np.int16).reshape(2, 2, 1)
    img = nib.Nifti1Image(stored, np.eye(4))
    img.header.set_slope_inter(3e38, 0)
    path = tmp_path / "s.nii"
    nib.save(img, path)
    ref = np.asanyarray(nib.load(path).dataobj)
    vol = lv.open(path)
    got = vol.compute()
    assert vol.dtype == np.float64 and np.isfinite(got).all()
    np.testing.assert_allclose(got, ref, rtol=1e-6)


@pytest.mark.parametrize("stored_dtype", ["int16", "float32"])
def test_a_nifti2_slope_below_float32s_range_reads_values_not_zeros(tmp_path, stored_dtype) -> None:
    """A NIfTI-2 header holds scl_slope as float64: 1e-300 scaled the values into float32, where
    every one of them is 0. nibabel's dataobj gives the float64 values."""
    import nibabel as nib

    import lazyvol as lv

    stored = np.array([1, -2, 3, 100, 0, 7], dtype=stored_dtype).reshape(3, 2, 1)
    img = nib.Nifti2Image(stored, np.eye(4))
    img.header.set_slope_inter(1e-300, 0)
    path = tmp_path / "tiny.nii"
    nib.save(img, path)
    ref = np.asanyarray(nib.load(path).dataobj)
    vol = lv.open(path)
    got = vol.compute()
    assert vol.dtype == np.float64 and np.count_nonzero(got) == 5
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_float_data_scaled_past_its_dtype_raises_instead_of_reading_inf() -> None:
    """float32 data scaled into float32: a slope that takes finite values past float32's range
    must not turn them into inf (or 0 * inf into NaN). Found by the long NIfTI fuzz run: a damaged
    scl_slope byte gave a slope of 5e36."""
    import lazyvol as lv

    stored = np.array([0.0, 1.0, 100.0, np.nan, np.inf], dtype=np.float32)
    with pytest.raises(lv.FormatError, match=r"f\.nii: the scaling \(scl_slope / scl_inter") as e:
        apply_scale(
            stored, 5e36, 0.0, np.dtype(np.float32), where="f.nii", fields="scl_slope / scl_inter"
        )
    assert "1 finite stored values" in str(e.value) and "dtype='float64'" in str(e.value)
    with pytest.raises(lv.FormatError):  # a slope beyond float32 itself: 0 * inf would be NaN
        apply_scale(stored[:2], 1e39, 0.0, np.dtype(np.float32))
    # In range: scaled as before, and the stored NaN and inf stay what they were.
    got = apply_scale(stored, 2.0, -1.0, np.dtype(np.float32))
    np.testing.assert_array_equal(got, np.array([-1, 1, 199, np.nan, np.inf], dtype=np.float32))
    # float64 holds what float32 could not.
    wide = apply_scale(stored[:3], 5e36, 0.0, np.dtype(np.float64))
    np.testing.assert_allclose(wide, stored[:3].astype(np.float64) * np.float64(np.float32(5e36)))


def test_a_float32_nifti_whose_slope_overflows_is_refused_and_float64_reads_it(tmp_path) -> None:
    import nibabel as nib

    import lazyvol as lv

    stored = np.array([0.0, 1.5, 100.0, -7.0], dtype=np.float32).reshape(2, 2, 1)
    img = nib.Nifti1Image(stored, np.eye(4))
    img.header.set_slope_inter(5e36, 0)
    path = tmp_path / "f.nii"
    nib.save(img, path)
    ref = np.asanyarray(nib.load(path).dataobj)  # nibabel scales in float64: finite values
    assert np.isfinite(ref).all()
    vol = lv.open(path)
    assert vol.dtype == np.float32
    with pytest.raises(lv.FormatError, match="scl_slope") as e:
        vol.compute()
    assert str(path) in str(e.value)
    got = lv.open(path, dtype="float64").compute()
    np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_a_complex64_nifti_whose_slope_overflows_is_refused_and_complex128_reads_it(
    tmp_path,
) -> None:
    # Complex parts scale as floats do: a slope taking them past complex64 read as inf (no check
    # ran for complex data); now refused as float32 data is, and complex128 holds them.
    import nibabel as nib

    import lazyvol as lv

    stored = np.array([1000 + 2j, 0, -3j, 1.5], dtype=np.complex64).reshape(2, 2, 1)
    img = nib.Nifti1Image(stored, np.eye(4))
    img.header.set_slope_inter(1e36, 0)
    path = tmp_path / "c.nii"
    nib.save(img, path)
    ref = np.asanyarray(nib.load(path).dataobj)  # nibabel scales in complex128: finite
    assert np.isfinite(ref).all()
    with pytest.raises(lv.FormatError, match="complex128"):
        lv.open(path).compute()
    np.testing.assert_allclose(lv.open(path, dtype="complex128").compute(), ref, rtol=1e-6)


@pytest.mark.parametrize("stored", ["int16", "uint8", "float32", "int64", "bool"])
@pytest.mark.parametrize(
    ("slope", "inter"), [(1.0, 0.0), (0.5, -3.0), (1.0, -3.0), (3.0, -9.0), (0.1, -0.3), (1, -300)]
)
def test_dtype_bool_is_whether_the_real_value_is_nonzero(stored, slope, inter) -> None:
    """``dtype=bool`` of scaled values is numpy's ``astype(bool)`` of the real (float64) values.
    The slope and intercept were cast to bool (True) first: with an intercept every voxel read
    True (NIfTI), and DICOM's float path raised numpy's bare TypeError ('same_kind')."""
    from lazyvol.scaling import scale_rounded_into

    src = np.array([0, 1, 2, 3, 6, 100, 0, 5] * 3, dtype=stored)
    truth = (src.astype(np.float64) * np.float64(slope) + np.float64(inter)).astype(bool)
    np.testing.assert_array_equal(apply_scale(src, slope, inter, np.dtype(bool)), truth)
    dest = np.empty(src.shape, dtype=bool)
    scale_rounded_into(src, dest, slope, inter)
    np.testing.assert_array_equal(dest, truth)


def test_dtype_bool_of_a_scaled_nifti_and_dicom_series(tmp_path) -> None:
    import nibabel as nib

    import lazyvol as lv
    from lazyvol.testing import write_dicom_series

    data = np.array([0, 1, 2, 3, 6, -1, 0, 5] * 3, dtype=np.int16).reshape(2, 3, 4)
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_slope_inter(1.0, -3.0)
    nib.save(img, tmp_path / "m.nii.gz")
    ref = np.asanyarray(nib.load(tmp_path / "m.nii.gz").dataobj).astype(bool)
    got = lv.open(tmp_path / "m.nii.gz", dtype=bool).compute()
    assert got.dtype == bool and not got.all()
    np.testing.assert_array_equal(got, ref)
    write_dicom_series(tmp_path / "ct", (8, 8, 4), slope=0.5, intercept=-3.0)
    scaled = lv.open(tmp_path / "ct").compute()
    np.testing.assert_array_equal(lv.open(tmp_path / "ct", dtype=bool).compute(), scaled != 0)


@pytest.mark.parametrize(
    ("stored", "slope", "inter", "dtype"),
    [
        ("uint8", -1, 255, None),  # 255 - x: uint8
        ("int8", -1, 127, None),  # 127 - x: 0 .. 255, uint8
        ("uint16", -1, 65535, None),
        ("uint16", -2, 131070, None),  # uint32
        ("uint8", -1, 255, "uint32"),
        ("int16", -1, 0, "int64"),
    ],
)
def test_a_negative_integral_slope_into_an_unsigned_dtype(stored, slope, inter, dtype) -> None:
    """A slope of -1 (an inverted image: 255 - x) whose values all fit an unsigned dtype: the
    slope was cast to that dtype first (numpy's bare OverflowError: -1 out of bounds for uint8)."""
    info = np.iinfo(stored)
    src = np.array([info.min, info.min + 1, 0, 7, info.max - 1, info.max], dtype=stored)
    out = np.dtype(dtype) if dtype else scaled_dtype(src.dtype, [(slope, inter)])
    truth = src.astype(np.int64) * slope + inter
    got = apply_scale(src, float(slope), float(inter), out)
    assert got.dtype == out
    np.testing.assert_array_equal(got, truth)


def test_an_inverting_rescale_of_a_dicom_series_and_a_nifti_reads_as_the_references(
    tmp_path,
) -> None:
    import nibabel as nib
    import pydicom
    from pydicom.pixels import apply_modality_lut

    import lazyvol as lv
    from lazyvol.testing import write_dicom_series

    truth = write_dicom_series(tmp_path / "ct", (8, 6, 3), dtype="uint8", slope=-1, intercept=255)
    ref = np.stack(
        [
            apply_modality_lut(pydicom.dcmread(f).pixel_array, pydicom.dcmread(f)).T
            for f in truth.files
        ],
        axis=-1,
    )
    vol = lv.open(tmp_path / "ct")
    assert vol.dtype == np.uint8
    np.testing.assert_array_equal(vol.compute(), ref)
    img = nib.Nifti1Image(np.arange(24, dtype=np.uint8).reshape(2, 3, 4), np.eye(4))
    img.header.set_slope_inter(-1.0, 255.0)
    nib.save(img, tmp_path / "m.nii")
    got = lv.open(tmp_path / "m.nii").compute()
    np.testing.assert_array_equal(got, nib.load(tmp_path / "m.nii").get_fdata())
