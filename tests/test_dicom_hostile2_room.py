"""A compressed frame whose Rows x Columns claim more than its codestream can hold, by codec: the
JPEG and JPEG-LS codestreams code at least one bit per sample (lossless JPEG), per 8 x 8 block
(DCT JPEG of Huffman coding) or per line (JPEG-LS), as RLE decodes to at most 64 bytes per 2. A
few hundred bytes stating 30000 x 30000 (under the 2 GiB frame limit) opened, and the read
allocated the claimed frame (1.8 GB, twice: the block and the decoder's output) before the
decoder found the data short. Now refused at open naming the file, Rows/Columns and the least
the codec needs, nothing allocated for the claim. The most compressible valid frames (blank
ones) still read as pydicom decodes them.
"""

from __future__ import annotations

import struct
import tracemalloc
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames

import lazyvol as lv
from lazyvol.testing import write_dicom_series
from test_dicom_damaged_codestreams import encoded

pytestmark = pytest.mark.usefixtures("dicom_cache")

imagecodecs = pytest.importorskip("imagecodecs")

#: id -> (transfer syntax, dtype, encoder; None: pydicom's, by write_dicom_series)
CODECS = {
    "jpeg-ls": ("1.2.840.10008.1.2.4.80", "uint16", None),
    "jpeg-lossless": ("1.2.840.10008.1.2.4.70", "uint16", imagecodecs.ljpeg_encode),
    "jpeg-baseline": (
        "1.2.840.10008.1.2.4.50",
        "uint8",
        lambda a: imagecodecs.jpeg8_encode(a, level=95),
    ),
}


def _series(folder, codec: str, shape, blank: bool = False) -> list[str]:
    syntax, dtype, encode = CODECS[codec]
    if encode is None:
        truth = write_dicom_series(folder, shape, dtype=dtype, compress=syntax, seed=4)
        if not blank:
            return truth.files
        files = truth.files
        for f in files:  # re-encoded blank, by pydicom's encoder
            ds = pydicom.dcmread(f)
            ds.decompress()
            ds.PixelData = np.zeros_like(ds.pixel_array).tobytes()
            ds.compress(syntax, encoding_plugin="")
            ds.save_as(f)
        return files
    files = write_dicom_series(folder, shape, dtype=dtype, seed=4).files
    if blank:
        for f in files:
            ds = pydicom.dcmread(f)
            ds.PixelData = bytes(len(ds.PixelData))
            ds.save_as(f)
    return encoded(files, syntax, encode)


def _claim(files: list[str], rows: int, columns: int) -> None:
    """State ``rows`` x ``columns`` in the header and in each frame's codestream (its SOF
    segment), the frame's bytes unchanged otherwise."""
    for f in files:
        ds = pydicom.dcmread(f)
        frame = bytearray(next(generate_frames(ds.PixelData, number_of_frames=1)))
        at = next(frame.find(m) for m in (b"\xff\xf7", b"\xff\xc3", b"\xff\xc0") if m in frame)
        frame[at + 5 : at + 9] = struct.pack(">HH", rows, columns)
        ds.PixelData = encapsulate([bytes(frame)])
        ds.Rows, ds.Columns = rows, columns
        ds.save_as(f)


@pytest.mark.parametrize("codec", CODECS)
def test_a_frame_claiming_more_than_its_codestream_holds_is_refused_at_open(tmp_path, codec):
    files = _series(tmp_path / "s", codec, (16, 12, 2))
    _claim(files, 30000, 30000)
    tracemalloc.start()
    try:
        with pytest.raises(lv.FormatError) as info, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lv.open(tmp_path / "s")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(info.value)
    assert any(f in msg for f in files), msg
    assert "cannot hold Rows (0028,0010) x Columns (0028,0011) = 30000 x 30000" in msg, msg
    assert "at least one bit per" in msg and "fix Rows/Columns or re-encode" in msg, msg
    assert peak < 50 * 2**20  # (the claim is 900 MB to 1.8 GB a frame)


@pytest.mark.parametrize(
    ("codec", "shape"),
    [
        ("jpeg-ls", (512, 512, 2)),
        ("jpeg-ls", (4, 2048, 2)),  # (tall and narrow: the floor is per line)
        ("jpeg-lossless", (256, 256, 2)),  # (one bit per sample: the floor itself)
        ("jpeg-baseline", (256, 256, 2)),
    ],
)
def test_blank_frames_read_as_pydicom_decodes_them(tmp_path, codec, shape):
    files = _series(tmp_path / "s", codec, shape, blank=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = lv.open(tmp_path / "s").compute()
        for k, f in enumerate(files):
            want = pydicom.dcmread(f).pixel_array
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got[:, :, k].T, want)
