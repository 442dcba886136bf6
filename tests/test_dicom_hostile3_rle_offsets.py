"""An RLE frame whose header locates its segments wrongly (offsets not 64 and on, increasing,
within the frame: PS3.5 G.5). pydicom's own RLE decoder read a frame whose first offset points
into the header as wrong values without an error; lazyvol (pylibjpeg-rle) refused such frames
in other words, or named the wrong fault ('the header under-states its pixels', for a second
offset past the frame's end or equal to the first). Now refused at open naming the offsets.
"""

from __future__ import annotations

import struct
import warnings

import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

RLE = "1.2.840.10008.1.2.5"


def _first(frame: bytearray) -> bytearray:
    struct.pack_into("<L", frame, 4, 16)  # into the header
    return frame


def _past(frame: bytearray) -> bytearray:
    struct.pack_into("<L", frame, 8, len(frame) + 100)
    return frame


def _equal(frame: bytearray) -> bytearray:
    struct.pack_into("<L", frame, 8, 64)
    return frame


def _swapped(frame: bytearray) -> bytearray:
    first, second = struct.unpack_from("<2L", frame, 4)
    struct.pack_into("<2L", frame, 4, second, first)
    return frame


@pytest.mark.parametrize("damage", [_first, _past, _equal, _swapped])
def test_rle_segment_offsets_that_do_not_locate_the_segments_are_refused(tmp_path, damage):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 2), dtype="int16", seed=4, compress=RLE)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        frame = bytearray(next(generate_frames(ds.PixelData, number_of_frames=1)))
        ds.PixelData = encapsulate([bytes(damage(frame))])
        ds.save_as(f)
    with pytest.raises(lv.FormatError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lv.open(tmp_path / "s")
    msg = str(info.value)
    assert any(f in msg for f in truth.files), msg
    assert "RLE header locates its 2 segment(s) at byte(s)" in msg, msg
    assert "its segment offsets are damaged" in msg, msg
