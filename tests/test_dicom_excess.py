"""Native Pixel Data longer than the image its header states: padding read, data refused.

PS3.5 8.1.1: receivers accept padding past the image (pydicom warns and trims it), and padding
holds no data. Past a whole row, non-zero bytes mean Rows or Columns under-state the image.
"""

from __future__ import annotations

import warnings

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series, write_enhanced_dicom, write_mosaic_series

pytestmark = pytest.mark.usefixtures("dicom_cache")
SHAPE = (8, 6, 4)  # 6 rows x 8 columns x 4 slices, int16: a row is 16 bytes


def _edit(files, **attrs):
    for f in files:
        ds = pydicom.dcmread(f)
        for keyword, value in attrs.items():
            setattr(ds, keyword, value)
        ds.save_as(f, enforce_file_format=False)


def test_rows_under_stated_by_one_is_refused_at_open(tmp_path):
    # Rows 5 over 6 rows of pixels: every slice lost its last row without a word (pydicom warns
    # of "excess padding" and trims it). The excess is a row of data: refused at open.
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    _edit(truth.files, Rows=5)
    with pytest.warns(UserWarning, match="excess padding"):
        cut = pydicom.dcmread(truth.files[0]).pixel_array
    np.testing.assert_array_equal(cut, truth.stored[:, :5, 0].T)  # the last row is lost
    with pytest.raises(
        lv.FormatError, match=r"holds 96 bytes, 16 more than the 80 .*Rows \(0028,0010\)"
    ) as exc:
        lv.open(tmp_path / "s")
    assert any(f in str(exc.value) for f in truth.files) and "fix Rows/Columns" in str(exc.value)
    with pytest.raises(lv.FormatError, match=r"IM\d+\.dcm: Pixel Data \(7FE0,0010\) holds"):
        lv.open(tmp_path / "s")  # again, from the saved scan
    with pytest.raises(lv.FormatError, match=r"non-zero bytes"):
        lv.open(truth.files[0])


@pytest.mark.parametrize(
    "tail", [b"\0" * 32, b"\0" * 94, b"\0" * 6], ids=["two-rows", "most-of-a-frame", "short"]
)
def test_zero_padding_is_read(tmp_path, tail):
    # Zeros past the image, up to a frame, are padding (real files have them; pydicom trims
    # them): the series reads its true values.
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.PixelData = ds.PixelData + tail
        ds.save_as(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = np.stack([pydicom.dcmread(f).pixel_array.T for f in truth.files], axis=-1)
    np.testing.assert_array_equal(want, truth.stored)
    np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), truth.stored)


def test_a_mosaic_with_rows_under_stated_is_refused(tmp_path):
    # A 3 x 3 grid of 6-row tiles (18 rows) stated as 12: tiles were cut across their borders and
    # the affine shifted, without a word. Its blank tiles leave only zeros past the stated rows,
    # so past a mosaic a row or more is refused whatever it holds.
    truth = write_mosaic_series(tmp_path / "m", (8, 6, 5), volumes=1)
    assert pydicom.dcmread(truth.files[0]).Rows == 18
    _edit(truth.files, Rows=12)
    with pytest.raises(lv.FormatError, match=r"288 more than the 576 .*past a mosaic") as exc:
        lv.open(tmp_path / "m")
    assert truth.files[0] in str(exc.value)


def test_a_mosaic_padded_by_less_than_a_row_is_read(tmp_path):
    truth = write_mosaic_series(tmp_path / "m", (8, 6, 5), volumes=1)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.PixelData = ds.PixelData + b"\0" * 16  # a row is 48 bytes
        ds.save_as(f)
    np.testing.assert_array_equal(lv.open(tmp_path / "m", scale=False).compute(), truth.stored)


def test_an_enhanced_file_with_rows_under_stated_by_one_is_refused(tmp_path):
    # 6 frames of 48 rows stated as 47: 6 rows more, less than a frame. Its frames were located
    # at the stated size, each one row further off. Refused at open, naming the file.
    path = tmp_path / "e.dcm"
    write_enhanced_dicom(path, shape=(32, 48, 6))
    _edit([path], Rows=47)
    with pytest.raises(
        lv.FormatError, match=r"e\.dcm.*holds 18432 bytes, 384 more .*Rows \(0028,0010\)"
    ):
        lv.open(path)


def test_an_enhanced_file_with_zero_padding_is_read(tmp_path):
    path = tmp_path / "e.dcm"
    truth = write_enhanced_dicom(path, shape=(32, 48, 6))
    ds = pydicom.dcmread(path)
    ds.PixelData = ds.PixelData + b"\0" * 640  # ten rows of zeros
    ds.save_as(path)
    np.testing.assert_array_equal(lv.open(path).compute(), truth.stored)


@pytest.mark.parametrize(
    ("length", "size", "read"),
    [
        (96, 1000, []),
        (97, 1000, []),
        (110, 1000, [(196, 14)]),
        (120, 1000, [(196, 24)]),
        (120, 200, [(196, 4)]),
    ],
    ids=["none", "pad-byte", "under-a-row", "two-rows", "past-the-file"],
)
def test_the_scan_reads_the_excess_only_when_there_is_one(length, size, read):
    # 6 rows x 8 columns x 16 bits = 96 bytes at byte 100: a file without an excess (or with an
    # odd length's pad byte only) costs no read; one whose header claims bytes the file does not
    # hold reads those it has.
    from lazyvol.dicom.excess import excess_holds_data
    from lazyvol.dicom.records import FrameRecord

    rec = FrameRecord("f", size, 0, "1.2.840.10008.1.2.1", rows=6, columns=8, bits_allocated=16)
    rec.pixel_offset, rec.pixel_length = 100, length
    calls = []

    def fetch(path, offset, n, total):
        calls.append((offset, n))
        return b"\0" * n

    assert excess_holds_data(rec, fetch) is False
    assert calls == read


def test_columns_under_stated_on_a_wide_image_is_refused(tmp_path):
    """A 6-row x 8-column image with Columns stated 7 leaves 6 pixels (12 bytes) past the stated
    image: less than a row (14 bytes), so it was taken for padding and every slice read sheared
    (h30). Non-zero bytes past the image are data whatever their length (bar a pad byte)."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 3))
    assert pydicom.dcmread(truth.files[0]).Columns == 8
    _edit(truth.files, Columns=7)
    with pytest.raises(lv.FormatError, match=r"12 more than the 84 .*non-zero bytes.*Columns"):
        lv.open(tmp_path / "s")


def test_one_byte_frames_with_their_pad_byte_are_read(tmp_path):
    # An image of one 8-bit pixel has an odd length, which the pad byte makes even (PS3.5 7.1.1;
    # pydicom writes it): that byte is as long as a frame, and such files were refused as holding
    # 'at least one whole frame more'. Single-frame and enhanced files alike read as pydicom reads
    # them; a frame more than the header states is still refused.
    truth = write_dicom_series(tmp_path / "s", (1, 1, 3), dtype="uint8")
    assert len(pydicom.dcmread(truth.files[0]).PixelData) == 2
    want = np.stack([pydicom.dcmread(f).pixel_array.T for f in truth.files], axis=-1)
    np.testing.assert_array_equal(want, truth.stored)
    np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), truth.stored)
    enhanced = write_enhanced_dicom(tmp_path / "e" / "e.dcm", (1, 1, 3), dtype="uint8")
    assert len(pydicom.dcmread(enhanced.files[0]).PixelData) == 4
    np.testing.assert_array_equal(
        lv.open(enhanced.files[0], scale=False).compute(), enhanced.stored
    )
    ds = pydicom.dcmread(truth.files[0])
    ds.PixelData = b"\x07\x08"  # two frames' bytes under a header stating one, even: data
    ds.save_as(tmp_path / "two.dcm")
    with pytest.raises(lv.FormatError, match="at least one whole frame more"):
        lv.open(tmp_path / "two.dcm")
