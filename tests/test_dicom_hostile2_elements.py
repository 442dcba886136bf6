"""Two pixel elements in one data set, by kind: two Pixel Data (7FE0,0010) elements (pydicom
reads the last), or Pixel Data beside Float Pixel Data (7FE0,0008) (pydicom refuses the file).
The skip named the second element only and said pydicom reads the last in both cases; it now
names both elements and what pydicom does with such a file.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")


def _skips(folder) -> list[tuple[str, str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = lv.scan(folder)
    assert list(report) == []
    return [(s[0], s[1]) for s in report.skipped]


def test_pixel_data_beside_float_pixel_data_names_both(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 2))
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.FloatPixelData = np.ones((6, 8), "<f4").tobytes()  # (7FE0,0008): written first
        ds.save_as(f)
    with pytest.raises(AttributeError, match="One and only one"):  # the reference refuses it
        _ = pydicom.dcmread(truth.files[0]).pixel_array
    skips = _skips(tmp_path / "s")
    assert sorted(p for p, _ in skips) == sorted(map(os.fspath, truth.files))
    for _, reason in skips:
        assert reason.startswith(
            "a second pixel element (7FE0,0010) PixelData follows Float Pixel Data (7FE0,0008)"
        ), reason
        assert "pydicom refuses" in reason and "pydicom reads the last" not in reason, reason


def test_two_pixel_data_elements_name_both(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 2))
    for f in truth.files:
        data = Path(f).read_bytes()
        Path(f).write_bytes(data + b"\xe0\x7f\x10\x00OW\0\0" + struct.pack("<I", 96) + bytes(96))
    assert not pydicom.dcmread(truth.files[0]).pixel_array.any()  # pydicom: the last, zeros
    for _, reason in _skips(tmp_path / "s"):
        assert reason.startswith(
            "a second pixel element (7FE0,0010) PixelData follows Pixel Data (7FE0,0010)"
        ), reason
        assert "pydicom reads the last" in reason, reason


@pytest.mark.parametrize("syntax", ["explicit", "big"])
@pytest.mark.parametrize("vr", [b"OF", b"OD"])
@pytest.mark.parametrize("dtype", ["int32", "uint32", "int16"])
def test_pixel_data_written_with_a_float_vr_holds_integers(tmp_path, dtype, vr, syntax):
    # Whether the pixels are floats is said by the element, (7FE0,0008) / (7FE0,0009), not by
    # the VR Pixel Data (7FE0,0010) is written with: an int32 image written with VR OF was read as
    # float32, its integers' bits taken for floats, where pydicom reads the integers.
    truth = write_dicom_series(tmp_path / "s", (8, 6, 2), dtype=dtype, syntax=syntax)
    tag = b"\xe0\x7f\x10\x00" if syntax == "explicit" else b"\x7f\xe0\x00\x10"
    for f in truth.files:
        data = bytearray(Path(f).read_bytes())
        at = data.rfind(tag + b"O")
        assert at > 0 and data[at + 4 : at + 6] in (b"OW", b"OB")
        data[at + 4 : at + 6] = vr
        Path(f).write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = lv.open(tmp_path / "s", scale=False).compute()
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, truth.stored)
    for k, f in enumerate(truth.files):
        np.testing.assert_array_equal(got[:, :, k].T, pydicom.dcmread(f).pixel_array)
