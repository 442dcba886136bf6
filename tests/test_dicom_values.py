"""Typed header values decoded from raw bytes (lazyvol.dicom.header_values.ValueReader), checked
against pydicom's own conversion of the same bytes, and malformed values noted, never raised."""

from __future__ import annotations

import struct

import pytest
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.tag import Tag

from lazyvol.dicom.header_values import STANDARD_TAGS, Parsed, ValueReader
from lazyvol.dicom.walker import _RawValue


def _reader(values: dict[str, bytes], little: bool = True) -> ValueReader:
    raw = {STANDARD_TAGS[k][0]: _RawValue(v, little) for k, v in values.items()}
    return ValueReader(Parsed(raw, "", "1.2.840.10008.1.2.1"))


def _pydicom(keyword: str, value: bytes) -> object:
    tag, vr = STANDARD_TAGS[keyword]
    raw = RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)
    return convert_raw_data_element(raw).value


@pytest.mark.filterwarnings("ignore:Invalid value for VR IS")
@pytest.mark.parametrize("text", [b"512 ", b" 7", b"+12", b"-3 ", b"0", b"1.0 ", b"1e3", b"12\\13"])
def test_integer_strings_match_pydicom(text: bytes) -> None:
    r = _reader({"InstanceNumber": text})
    want = _pydicom("InstanceNumber", text)
    first = (
        want[0] if isinstance(want, list | tuple) or type(want).__name__ == "MultiValue" else want
    )
    assert r.get_int("InstanceNumber") == int(float(first))
    assert r.bad == []


@pytest.mark.parametrize("text", [b"NaN ", b"inf ", b"1.5 ", b"abc", b"1 2"])
def test_bad_integer_strings_are_noted(text: bytes) -> None:
    r = _reader({"InstanceNumber": text})
    assert r.get_int("InstanceNumber") is None
    assert len(r.bad) == 1 and "InstanceNumber (0020,0013)" in r.bad[0]


def test_binary_integers_both_endians() -> None:
    assert _reader({"Rows": struct.pack("<H", 640)}).get_int("Rows") == 640
    assert _reader({"Rows": struct.pack(">H", 640)}, little=False).get_int("Rows") == 640
    r = _reader({"Rows": b"\x01\x02\x03"})  # 3 bytes: not a whole US value
    assert r.get_int("Rows") is None and "holds 3 byte(s), not whole 2-byte values" in r.bad[0]


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        ("SeriesInstanceUID", b"1.2.840.113619.2.1\x00"),
        ("Modality", b"MR"),
        ("ImageType", b"ORIGINAL\\PRIMARY\\M\\ND "),
        ("AcquisitionTime", b"101530.250 "),
        ("SeriesInstanceUID", b"  "),
    ],
)
def test_strings_match_pydicom(keyword: str, text: bytes) -> None:
    r = _reader({keyword: text})
    want = _pydicom(keyword, text)
    items = [str(x) for x in want] if type(want).__name__ == "MultiValue" else [str(want or "")]
    assert r.get_str(keyword) == "\\".join(items).strip()
    assert (r.get_strs(keyword) or [""]) == [x.strip() for x in items]


def test_floats_match_pydicom_and_count_is_checked() -> None:
    text = b"-120.5\\88.25\\3e1 "
    r = _reader({"ImagePositionPatient": text})
    assert r.get_floats("ImagePositionPatient", 3) == [
        float(x) for x in _pydicom("ImagePositionPatient", text)
    ]
    r = _reader({"ImagePositionPatient": b"1\\2"})
    assert r.get_floats("ImagePositionPatient", 3) is None and "3 finite numbers" in r.bad[0]


@pytest.mark.filterwarnings("ignore:Invalid value for VR DS")
@pytest.mark.parametrize("text", [b"2.5 ", b" 1e-3", b"-0", b"7", b"3\x00junk"])
def test_decimal_strings_match_pydicom(text: bytes) -> None:
    """The usual one-value text read in one step (ValueReader._one) gives pydicom's number."""
    r = _reader({"SliceThickness": text})
    assert r.get_float("SliceThickness") == float(_pydicom("SliceThickness", text.split(b"\0")[0]))
    assert r.bad == []


@pytest.mark.parametrize(
    ("text", "why"), [(b"nan", "not finite"), (b"-inf ", "not finite"), (b"abc", "not a number")]
)
def test_bad_decimal_strings_are_noted(text: bytes, why: str) -> None:
    r = _reader({"SliceThickness": text})
    assert r.get_float("SliceThickness") is None
    assert len(r.bad) == 1 and "SliceThickness (0018,0050)" in r.bad[0] and why in r.bad[0]


def test_float_triples_whose_sum_overflows_or_is_not_finite() -> None:
    """Three finite numbers are read whatever their sum; a non-finite one is noted."""
    r = _reader({"ImagePositionPatient": b"1e308\\1e308\\-0.5"})
    assert r.get_floats("ImagePositionPatient", 3) == [1e308, 1e308, -0.5] and r.bad == []
    r = _reader({"ImagePositionPatient": b"1\\nan\\2"})
    assert r.get_floats("ImagePositionPatient", 3) is None and "3 finite numbers" in r.bad[-1]


def test_empty_layout_values_are_noted_and_zero_is_not_empty() -> None:
    r = _reader({"Rows": struct.pack("<H", 0), "RescaleSlope": b"", "Columns": b""})
    r.note_empty(("Rows", "Columns", "RescaleSlope"))
    assert r.bad == ["Columns (0028,0011) is empty", "RescaleSlope (0028,1053) is empty"]


def test_absent_and_empty_values() -> None:
    r = _reader({"SeriesDescription": b""})
    assert r.get_str("SeriesDescription") == "" and r.get_str("Modality") == ""
    assert r.get_int("InstanceNumber") is None and r.get_strs("ImageType") is None
    assert r.bad == []


@pytest.mark.parametrize("vr", ["OB", "OW", "UN", "SQ", "AT", "LO", "FD"])
def test_an_empty_element_is_empty_whatever_its_vr(tmp_path, monkeypatch, vr: str) -> None:
    """An element of no value written with a VR other than the dictionary's (RescaleSlope as
    OB): the walker's reader noted 'written with VR OB ... cannot be read' beside 'is empty',
    pydicom's reader only 'is empty'; a series with the slope empty in every file opened by
    pydicom's reader (empty everywhere: absent) was refused by the walker's as malformed."""
    import pydicom
    from pydicom.dataelem import DataElement

    import lazyvol as lv
    from lazyvol.dicom.header import read_header
    from lazyvol.testing import write_dicom_series

    folder = tmp_path / "s"
    write_dicom_series(folder, (8, 8, 3), slope=2.0, intercept=1.0, dtype="uint16")
    for f in sorted(folder.iterdir()):
        ds = pydicom.dcmread(f)
        ds[0x00281053] = DataElement(0x00281053, vr, b"" if vr != "SQ" else [])
        ds.save_as(f, enforce_file_format=False)
    first = str(sorted(folder.iterdir())[0])
    walked, parsed = read_header(first), read_header(first, walker=False)
    assert walked.bad_attributes == parsed.bad_attributes == ["RescaleSlope (0028,1053) is empty"]
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))
    assert lv.open(folder).shape == (8, 8, 3)
