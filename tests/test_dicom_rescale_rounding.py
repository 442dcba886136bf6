"""A DICOM rescale to float32 gives, value by value, the float32 nearest the real one.

RescaleSlope and RescaleIntercept are decimal strings (DS): 0.3 is no float32. pydicom's Modality
LUT (``apply_modality_lut``) and dcm2niix apply them in double precision; float32 arithmetic
(the slope rounded, the product rounded, the sum rounded) left about half of such values one or
two units in the last place off the nearest float32 of pydicom's value. Every pixel path is
checked: native single-frame files, a compressed series, an enhanced multi-frame file with a
rescale per frame, and Float Pixel Data.
"""

from __future__ import annotations

import warnings

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

import lazyvol as lv
from lazyvol.scaling import scale_rounded_into
from lazyvol.testing import write_dicom_series, write_enhanced_dicom

#: Slopes and intercepts whose float32 arithmetic is not correctly rounded for most values.
SLOPES = [0.3, 1.7, 0.0123, 2.9]
INTERS = [-7.25, 0.1, 1024.6, -3.3]


def _pydicom_volume(files: list[str]) -> np.ndarray:
    """pydicom's values with its Modality LUT (float64), as (i, j, k) ordered by position."""
    planes = []
    for path in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
            planes.append(
                (float(ds.ImagePositionPatient[2]), apply_modality_lut(ds.pixel_array, ds))
            )
    planes.sort(key=lambda p: p[0])
    return np.stack([a.T for _, a in planes], axis=-1)


@pytest.mark.parametrize(
    ("dtype", "compress"),
    [
        ("uint16", None),
        ("int16", None),
        ("uint8", None),
        ("int16", "1.2.840.10008.1.2.5"),  # RLE: the decoded-frame path
    ],
)
def test_rescaled_float32_values_are_the_nearest_to_pydicoms(tmp_path, dtype, compress) -> None:
    truth = write_dicom_series(
        tmp_path / "s",
        shape=(21, 17, 4),
        dtype=dtype,
        slope=SLOPES,
        intercept=INTERS,
        compress=compress,
    )
    vol = lv.open(tmp_path / "s")
    assert vol.dtype == np.float32
    got = vol.compute()
    ref = _pydicom_volume(truth.files)
    np.testing.assert_array_equal(got, ref.astype(np.float32))
    np.testing.assert_array_equal(got, truth.scaled(np.float32))
    # a slab read rounds alike
    np.testing.assert_array_equal(vol[2:9, 1:, 1:3].compute(), got[2:9, 1:, 1:3])


def test_enhanced_frames_rescaled_per_frame_round_once(tmp_path) -> None:
    truth = write_enhanced_dicom(
        tmp_path / "e" / "mf.dcm",
        shape=(21, 17, 4),
        dtype="uint16",
        slope=SLOPES,
        intercept=INTERS,
        frame_order=[2, 0, 3, 1],
    )
    got = lv.open(tmp_path / "e").compute()
    np.testing.assert_array_equal(got, truth.scaled(np.float32))


def test_float_pixel_data_rescaled_rounds_once(tmp_path) -> None:
    # (slopes within 1: the phantom holds -3e38, which a larger slope takes past float32)
    slopes = [s / 3 for s in SLOPES]
    truth = write_dicom_series(
        tmp_path / "f", shape=(21, 17, 4), dtype="float32", slope=slopes, intercept=INTERS
    )
    got = lv.open(tmp_path / "f").compute()
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, _pydicom_volume(truth.files).astype(np.float32))


@pytest.mark.parametrize("slope, inter", [(np.inf, 0.0), (-np.inf, 1.0), (1.0, np.inf)])
def test_an_infinite_scaling_is_the_typed_overflow_error(slope, inter):
    """An infinite slope reached ``float.as_integer_ratio`` (a bare OverflowError); it is the
    FormatError of a scaling that takes values past the float32 range, as a NaN slope is."""
    out = np.empty(3, np.float32)
    with pytest.raises(lv.FormatError, match="slope / intercept"):
        scale_rounded_into(np.array([0, 1, 2], np.int16), out, slope, inter)


def test_a_huge_finite_slope_is_the_typed_error_without_numpy_warnings():
    """A slope of 1e308 (finite, past float32) let numpy's 'overflow encountered in cast'
    RuntimeWarning out of the fast-path test before the typed overflow error."""
    out = np.empty(3, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(lv.FormatError, match="slope / intercept"):
            scale_rounded_into(np.array([0, 1, 2], np.int16), out, 1e308, 0.0)
