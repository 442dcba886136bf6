"""Pixel-layout attributes (US in the dictionary) holding bytes that are no whole value, by class:
1 or 3 bytes, or another VR whose bytes cannot be read as a number. Each is refused naming the
file, the attribute with its tag, what it holds, and a fix; none is called "empty" (a
PixelRepresentation of 3 bytes was skipped as 'PixelRepresentation (0028,0103) empty', and Rows
of 3 bytes said both '3 bytes is not a multiple of 2' and 'Rows is empty'). pydicom refuses every
such file too. The same attributes written as a readable other VR (UL, SS) read as pydicom reads them.
"""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pydicom
import pydicom.errors
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

#: keyword -> (group, element, the value the writer states for a 6 x 8 int16 image)
LAYOUT = {
    "Rows": (0x0028, 0x0010, 6),
    "Columns": (0x0028, 0x0011, 8),
    "SamplesPerPixel": (0x0028, 0x0002, 1),
    "BitsAllocated": (0x0028, 0x0100, 16),
    "BitsStored": (0x0028, 0x0101, 16),
    "HighBit": (0x0028, 0x0102, 15),
    "PixelRepresentation": (0x0028, 0x0103, 1),
}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))


def _rewrite(files, keyword, vr: bytes, value: bytes) -> None:
    """Replace ``keyword``'s 2-byte US element (explicit VR little endian) by ``vr`` + ``value``."""
    group, element, _ = LAYOUT[keyword]
    tag = struct.pack("<HH", group, element)
    long_vr = vr in (b"OB", b"OW", b"UN")
    for f in files:
        with open(f, "rb") as fh:
            data = bytearray(fh.read())
        at = data.find(tag + b"US\x02\x00")
        assert at > 0
        head = (
            tag
            + vr
            + (struct.pack("<HI", 0, len(value)) if long_vr else struct.pack("<H", len(value)))
        )
        data[at : at + 10] = head + value
        with open(f, "wb") as fh:
            fh.write(bytes(data))


def _open(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lv.open(path)


@pytest.mark.parametrize(
    ("kind", "vr", "value", "held"),
    [
        ("one byte", b"US", b"\x01", "holds 1 byte(s)"),
        ("three bytes", b"US", b"\x01\x00\x00", "holds 3 byte(s)"),
        ("OB", b"OB", b"\x01\x00", "is written with VR OB"),
    ],
)
@pytest.mark.parametrize("keyword", LAYOUT)
def test_a_layout_value_of_no_whole_number_is_refused_naming_it(
    tmp_path, keyword, kind, vr, value, held
):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 2))
    _rewrite(truth.files, keyword, vr, value)
    if keyword != "HighBit":  # (pydicom does not read HighBit; lazyvol checks it)
        with pytest.raises(
            (ValueError, TypeError, pydicom.errors.BytesLengthException)
        ):  # the reference refuses the file too
            _ = pydicom.dcmread(truth.files[0]).pixel_array
    with pytest.raises(lv.FormatError) as info:
        _open(tmp_path / "s")
    msg = str(info.value)
    group, element, _ = LAYOUT[keyword]
    shown = f"{keyword} ({group:04X},{element:04X})"
    assert any(str(f) in msg for f in truth.files), msg
    assert f"{shown} {held}" in msg, msg
    assert f"{shown} is empty" not in msg and f"{shown} empty" not in msg, msg
    assert "re-export the file" in msg and f'dcmodify -i "({group:04X},{element:04X})=' in msg, msg


@pytest.mark.parametrize(("vr", "fmt"), [(b"UL", "<I"), (b"SS", "<h")])
@pytest.mark.parametrize("keyword", LAYOUT)
def test_a_layout_value_written_as_another_integer_vr_reads_as_pydicom(tmp_path, keyword, vr, fmt):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 2))
    _rewrite(truth.files, keyword, vr, struct.pack(fmt, LAYOUT[keyword][2]))
    vol = _open(tmp_path / "s")
    got = vol.compute()
    for k, f in enumerate(truth.files):
        want = pydicom.dcmread(f).pixel_array
        assert got[:, :, k].dtype == want.dtype
        np.testing.assert_array_equal(got[:, :, k].T, want)


#: A readable value no image has: (keyword, value, its tag); the refusal named the file, the
#: attribute and the value, and said only 'the header is corrupt'.
IMPOSSIBLE = [
    ("Rows", 0, "(0028,0010)"),
    ("Columns", 0, "(0028,0011)"),
    ("BitsAllocated", 7, "(0028,0100)"),
    ("BitsAllocated", 0, "(0028,0100)"),
    ("SamplesPerPixel", 0, "(0028,0002)"),
    ("PixelRepresentation", 2, "(0028,0103)"),
    ("HighBit", 16, "(0028,0102)"),
    ("BitsStored", 17, "(0028,0101)"),
    ("PixelSpacing", [0.0, 0.5], "(0028,0030)"),
]


@pytest.mark.parametrize(("keyword", "value", "tag"), IMPOSSIBLE, ids=lambda x: str(x))
def test_an_impossible_layout_value_is_refused_saying_what_to_do(tmp_path, keyword, value, tag):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 2))
    for f in truth.files:
        ds = pydicom.dcmread(f)
        setattr(ds, keyword, value)
        ds.save_as(f)
    with pytest.raises(lv.FormatError) as info:
        _open(tmp_path / "s")
    msg = str(info.value)
    assert any(str(f) in msg for f in truth.files), msg
    assert f"{keyword} {tag}" in msg, msg
    assert "re-export the file" in msg and f'dcmodify -i "{tag}=<value>"' in msg, msg
