"""Damaged functional groups of an enhanced multi-frame file: the refusal names the file, the
group sequence, the item and the element (it said only "unreadable functional groups
(AttributeError: 'str' object has no attribute 'get')")."""

from __future__ import annotations

import re

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
