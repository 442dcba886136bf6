"""Damaged functional groups of an enhanced multi-frame file: the refusal names the file, the
group sequence, the item and the element (it said only "unreadable functional groups
(AttributeError: 'str' object has no attribute 'get')")."""

from __future__ import annotations

import re
import struct
import warnings

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_enhanced_dicom


def _damage(path, where: str, item: int, keyword: str, vr: str, value) -> None:
    """Replace ``keyword`` (a functional group macro) in item ``item`` (0-based) of ``where``
    with a ``vr`` element holding ``value``, as pydicom writes it."""
    ds = pydicom.dcmread(path)
    it = getattr(ds, where)[item]
    tag = pydicom.datadict.tag_for_keyword(keyword)
    del it[tag]
    it.add_new(tag, vr, value)
    ds.save_as(path)
    assert pydicom.dcmread(path)[where][item][tag].VR == vr  # (what a reader finds there)


@pytest.mark.parametrize(
    ("where", "item", "keyword", "vr", "value", "named"),
    [
        (
            "PerFrameFunctionalGroupsSequence",
            1,
            "PlanePositionSequence",
            "LO",
            "abc",
            r"PerFrameFunctionalGroupsSequence \(5200,9230\) item 2: PlanePositionSequence "
            r"\(0020,9113\) is not a sequence \(VR LO",
        ),
        (
            "SharedFunctionalGroupsSequence",
            0,
            "PixelMeasuresSequence",
            "DS",
            "0.5",
            r"SharedFunctionalGroupsSequence \(5200,9229\) item 1: PixelMeasuresSequence "
            r"\(0028,9110\) is not a sequence \(VR DS",
        ),
    ],
)
def test_a_damaged_functional_group_is_named(tmp_path, where, item, keyword, vr, value, named):
    path = tmp_path / "e.dcm"
    truth = write_enhanced_dicom(path, shape=(16, 12, 3))
    np.testing.assert_array_equal(lv.open(path).compute(), truth.stored)
    _damage(path, where, item, keyword, vr, value)
    with pytest.raises(lv.FormatError) as exc:
        lv.open(path)
    message = str(exc.value)
    assert re.search(named, message), message
    assert str(path) in message and "re-export" in message
    assert "AttributeError" not in message


@pytest.mark.parametrize("vr", [b"OB", b"OW"])
@pytest.mark.parametrize("tag", [0x52009229, 0x52009230], ids=["shared", "per-frame"])
def test_a_functional_groups_sequence_written_with_another_vr_is_named(tmp_path, tag, vr):
    """A functional groups sequence whose VR says OB or OW (a writer's or anonymiser's damage):
    its bytes read as numbers, it was refused as "'int' object has no attribute 'keys'" or as
    holding hundreds of items; the refusal names the sequence, its VR and the fix."""
    path = tmp_path / "mf.dcm"
    write_enhanced_dicom(path, shape=(8, 6, 3))
    raw = bytearray(path.read_bytes())
    at = raw.find(struct.pack("<HH", tag >> 16, tag & 0xFFFF) + b"SQ")
    assert at > 0
    raw[at + 4 : at + 6] = vr
    path.write_bytes(bytes(raw))
    with pytest.raises(lv.FormatError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lv.open(path)
    msg = str(info.value)
    name = (
        "SharedFunctionalGroupsSequence"
        if tag == 0x52009229
        else "PerFrameFunctionalGroupsSequence"
    )
    assert f"{name} (5200,92{tag & 0xFF:02X}) is not a sequence of items" in msg, msg
    assert f"its VR is {vr.decode()}" in msg and "re-export it" in msg and str(path) in msg, msg
