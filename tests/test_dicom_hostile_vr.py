"""VR lies on the attributes that say how to read the pixels, by class: each of them written
with VR UL (4-byte values) over its 2-byte US value, explicit VR little and big endian. lazyvol
refuses them naming the file, the attribute and its tag, and (this was missing) what to do.
"""

from __future__ import annotations

import warnings

import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

#: keyword -> (group, element)
LAYOUT = {
    "Rows": (0x0028, 0x0010),
    "Columns": (0x0028, 0x0011),
    "SamplesPerPixel": (0x0028, 0x0002),
    "BitsAllocated": (0x0028, 0x0100),
    "BitsStored": (0x0028, 0x0101),
    "HighBit": (0x0028, 0x0102),
}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("syntax", ["explicit", "big"])
@pytest.mark.parametrize("keyword", LAYOUT)
def test_a_layout_attribute_whose_vr_lies_is_refused_with_a_fix(tmp_path, syntax, keyword):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 2), syntax=syntax)
    group, element = LAYOUT[keyword]
    order = "little" if syntax == "explicit" else "big"
    tag = group.to_bytes(2, order) + element.to_bytes(2, order)
    for f in truth.files:
        with open(f, "rb") as fh:
            data = bytearray(fh.read())
        at = data.find(tag + b"US")
        assert at > 0
        data[at + 4 : at + 6] = b"UL"
        with open(f, "wb") as fh:
            fh.write(bytes(data))
    with pytest.raises(lv.FormatError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lv.open(tmp_path / "s")
    msg = str(info.value)
    shown = f"({group:04X},{element:04X})"
    assert any(str(f) in msg for f in truth.files), msg
    assert f"{keyword} {shown}" in msg, msg
    assert "re-export the file" in msg and f'dcmodify -i "{shown}=' in msg, msg
