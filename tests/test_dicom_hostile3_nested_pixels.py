"""A complete image file without Pixel Data in its data set whose only Pixel Data element is
nested in a sequence's item (an icon in IconImageSequence (0088,0200), a vendor's thumbnail) was
skipped as an 'unreadable DICOM header ... an element before it has a wrong length or is
damaged', pointing at the icon's pixels as if they were the image's: the file's header reads
whole (pydicom reads it, and finds no Pixel Data). The skip now says the file holds no image and
where the nested element is (a tiny icon in undefined-length items, which the search for a
damaged header's Pixel Data does not find, was 'truncated?': now found the same way); a header
whose damaged length swallows its Pixel Data is still called damaged.
"""

from __future__ import annotations

import struct
import warnings

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")


def _icon(size: int) -> Dataset:
    item = Dataset()
    item.Rows = item.Columns = size
    item.BitsAllocated = item.BitsStored = 8
    item.HighBit, item.PixelRepresentation, item.SamplesPerPixel = 7, 0, 1
    item.PhotometricInterpretation = "MONOCHROME2"
    item.PixelData = bytes(size * size)
    return item


def _skip(folder) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = lv.scan(folder)
    assert list(report) == []
    ((_, reason, *_),) = report.skipped
    return reason


@pytest.mark.parametrize("size", [1, 2, 64])
@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
@pytest.mark.parametrize("undefined", [False, True], ids=["defined", "undefined-lengths"])
def test_an_icon_without_the_image_is_no_damaged_header(tmp_path, size, implicit, undefined):
    f = write_dicom_series(tmp_path / "s", (8, 6, 1), seed=1).files[0]
    ds = pydicom.dcmread(f)
    del ds.PixelData
    ds.IconImageSequence = Sequence([_icon(size)])
    ds.IconImageSequence.is_undefined_length = undefined
    ds.IconImageSequence[0].is_undefined_length_sequence_item = undefined
    if implicit:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(f, enforce_file_format=True)
    reason = _skip(tmp_path / "s")
    assert "damaged" not in reason and "wrong length" not in reason, reason
    assert "no Pixel Data (7FE0,0010) in its data set, which was read whole" in reason, reason
    assert "lies in an item of IconImageSequence (0088,0200)" in reason, reason


def test_a_length_swallowing_the_pixel_data_is_still_a_damaged_header(tmp_path):
    f = write_dicom_series(tmp_path / "s", (8, 6, 1), seed=1).files[0]
    ds = pydicom.dcmread(f)
    ds.add_new(0x00091010, "UN", b"\x00" * 8)  # (a private block before the pixels)
    ds.add_new(0x00090010, "LO", "ACME")
    ds.save_as(f, enforce_file_format=True)
    data = bytearray(open(f, "rb").read())
    at = data.find(b"\x09\x00\x10\x10UN\x00\x00")
    struct.pack_into("<L", data, at + 8, len(data) - at - 12)  # its length runs to the end
    open(f, "wb").write(bytes(data))
    reason = _skip(tmp_path / "s")
    assert "the file holds its Pixel Data (7FE0,0010) at byte" in reason, reason
    assert "lies in an item" not in reason, reason
