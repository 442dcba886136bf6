"""Scaling into a complex output keeps each part's value: a stored inf or NaN stays in its own
part (numpy's complex product promotes the real slope to a complex number, whose ``0 * inf``
read a real inf as ``inf+nanj`` and a complex ``inf+1j`` scaled by 2 as ``inf+nanj``).

Truth is synthetic: real part ``re * slope + inter``, imaginary part ``im * slope`` (0 for real
data), computed part by part in float64.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv

SHAPE = (4, 3, 5)


def _stored(dtype: str) -> np.ndarray:
    rng = np.random.default_rng(7)
    kind = np.dtype(dtype).kind
    values = rng.normal(size=SHAPE) * 100
    if kind == "c":
        values = values + 1j * rng.normal(size=SHAPE) * 100
    data = values.astype(dtype)
    specials = [np.inf, -np.inf, np.nan]
    if kind == "c":
        specials += [complex(np.inf, 1.0), complex(2.0, -np.inf), complex(np.nan, 3.0)]
    data.flat[: len(specials)] = specials
    return data


def _truth(data: np.ndarray, slope: float, inter: float) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"):
        real = data.real.astype(np.float64) * slope + inter
        imag = (
            data.imag.astype(np.float64) * slope if data.dtype.kind == "c" else np.zeros_like(real)
        )
    return real, imag


def _save(tmp_path: Path, data: np.ndarray, slope: float, inter: float, suffix: str) -> Path:
    img = nib.Nifti1Image(data, np.diag([2.0, 2.0, 3.0, 1.0]), dtype=data.dtype)
    img.header.set_slope_inter(slope, inter)
    path = tmp_path / f"img{suffix}"
    nib.save(img, path)
    return path


def _assert_parts(got: np.ndarray, real: np.ndarray, imag: np.ndarray) -> None:
    assert got.dtype.kind == "c"
    rtol = 1e-6 if got.dtype == np.complex64 else 1e-12
    np.testing.assert_allclose(got.real, real, rtol=rtol, equal_nan=True)
    np.testing.assert_allclose(got.imag, imag, rtol=rtol, equal_nan=True)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("stored", ["float32", "float64"])
@pytest.mark.parametrize("out", ["complex64", "complex128"])
@pytest.mark.parametrize(("slope", "inter"), [(2.0, -1.0), (0.5, 0.0), (-3.0, 7.0)])
def test_real_values_asked_for_as_complex_keep_a_zero_imaginary_part(
    tmp_path: Path, suffix: str, stored: str, out: str, slope: float, inter: float
) -> None:
    data = _stored(stored)
    path = _save(tmp_path, data, slope, inter, suffix)
    real, imag = _truth(data, slope, inter)
    vol = lv.open(path, dtype=out)
    assert vol.dtype == np.dtype(out)
    _assert_parts(vol.compute(), real, imag)
    # the first and last slices and a strided selection read the same values
    _assert_parts(vol[:, :, :1].compute(), real[:, :, :1], imag[:, :, :1])
    _assert_parts(vol[:, :, -1:].compute(), real[:, :, -1:], imag[:, :, -1:])
    _assert_parts(vol[::2, 1:, ::3].compute(), real[::2, 1:, ::3], imag[::2, 1:, ::3])


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("stored", ["complex64", "complex128"])
@pytest.mark.parametrize("out", [None, "complex128"])
@pytest.mark.parametrize(("slope", "inter"), [(2.0, 0.0), (0.25, 1.5)])
def test_complex_values_scale_part_by_part(
    tmp_path: Path, suffix: str, stored: str, out: str | None, slope: float, inter: float
) -> None:
    data = _stored(stored)
    path = _save(tmp_path, data, slope, inter, suffix)
    real, imag = _truth(data, slope, inter)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warning leaks out of the read
        got = lv.open(path, dtype=out).compute()
    _assert_parts(got, real, imag)
    # finite stored values still agree with nibabel's scaled dataobj (whose complex product
    # makes the non-finite ones inf+nanj, with a numpy warning)
    with np.errstate(invalid="ignore"):
        ref = np.asanyarray(nib.load(path).dataobj)
    finite = np.isfinite(data)
    np.testing.assert_allclose(got[finite], ref[finite], rtol=1e-6)


def test_scaling_past_the_complex64_range_is_still_refused(tmp_path: Path) -> None:
    data = np.full(SHAPE, 1e38, dtype=np.float32)
    path = _save(tmp_path, data, 10.0, 0.0, ".nii")
    with pytest.raises(lv.FormatError, match=r"img\.nii.*scl_slope / scl_inter.*complex64"):
        lv.open(path, dtype="complex64").compute()
    got = lv.open(path, dtype="complex128").compute()
    _assert_parts(got, *_truth(data, 10.0, 0.0))


@pytest.mark.skipif(
    np.finfo(np.longdouble).nmant <= np.finfo(np.float64).nmant,
    reason="long double is no wider than float64 here",
)
@pytest.mark.parametrize("value", [2**60 + 1, -(2**62) - 3, 2**53 + 1])
def test_complex256_scales_in_long_double(tmp_path: Path, value: int) -> None:
    # int64 values past float64's 53 bits: complex256's long double parts hold them exactly
    data = np.full(SHAPE, value, dtype=np.int64)
    path = _save(tmp_path, data, 1.0, 1.0, ".nii")
    got = lv.open(path, dtype="complex256").compute()
    want = np.longdouble(value) + np.longdouble(1)
    assert int(want) == value + 1  # (the truth is exact in long double)
    assert (got.real == want).all() and (got.imag == 0).all()
