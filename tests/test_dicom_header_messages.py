"""Damaged headers refused with messages that name what is wrong (the element, its tag), not a
dependency's internal error or a contradiction."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file
from pydicom.datadict import dictionary_keyword

import lazyvol as lv

pytestmark = pytest.mark.usefixtures("dicom_cache")


def _damaged(tmp_path: Path, name: str, change) -> str:
    path = tmp_path / "x.dcm"
    path.write_bytes(bytes(change(bytearray(Path(get_testdata_file(name)).read_bytes()))))
    return str(path)


def _refusal(path: str) -> str:
    with pytest.raises(lv.FormatError) as exc:
        lv.open(path)
    assert path in str(exc.value)
    return str(exc.value)


@pytest.mark.parametrize("name", ["MR_small.dcm", "MR_small_bigendian.dcm"])
def test_a_transfer_syntax_element_one_byte_too_long_says_the_file_meta_is_malformed(
    tmp_path, name
):
    """Its value takes in the next element's first byte; the data set then starts one byte late
    and read as either byte order. It said 'the data set is big endian but ... 1.2.840.10008.1.2.2
    says little endian', contradicting itself."""

    def longer(data: bytearray) -> bytearray:
        at = data.index(b"\x02\x00\x10\x00UI")
        (n,) = struct.unpack("<H", data[at + 6 : at + 8])
        data[at + 6 : at + 8] = struct.pack("<H", n + 1)
        return data

    msg = _refusal(_damaged(tmp_path, name, longer))
    assert "TransferSyntaxUID (0002,0010)" in msg and "file meta is malformed" in msg
    assert "endian" not in msg


@pytest.mark.parametrize("tag", [0x00080016, 0x00280010])
def test_an_implicit_vr_element_of_undefined_length_is_named(tmp_path, tag):
    """pydicom reads it as a sequence and fails with 'can only concatenate str (not "int") to
    str'; the refusal names the element and its tag."""

    def undefined(data: bytearray) -> bytearray:
        at = data.index(struct.pack("<HH", tag >> 16, tag & 0xFFFF), 132 + 60)
        data[at + 4 : at + 8] = b"\xff\xff\xff\xff"
        return data

    msg = _refusal(_damaged(tmp_path, "MR_small_implicit.dcm", undefined))
    group, elem = f"{tag >> 16:04X}", f"{tag & 0xFFFF:04X}"
    assert f"{dictionary_keyword(tag)} ({group},{elem})" in msg
    assert "undefined length" in msg and "TypeError" not in msg


@pytest.mark.parametrize("keep", [4, 6, 8, 11])
def test_a_file_cut_inside_the_pixel_data_element_header_says_so(tmp_path, keep):
    """Cut ``keep`` bytes into the 12-byte header of Pixel Data (explicit VR OW), its tag whole:
    it said 'unreadable DICOM header: unpack requires a buffer of 4 bytes' (or 'file without
    Pixel Data')."""
    msg = _refusal(
        _damaged(tmp_path, "MR_small.dcm", lambda d: d[: d.rindex(b"\xe0\x7f\x10\x00OW") + keep])
    )
    assert "truncated inside the Pixel Data (7FE0,0010) element header" in msg
