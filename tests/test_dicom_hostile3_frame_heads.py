"""The codestream head of every frame of a compressed multi-frame file is checked at open, not only
the first frame's: a later JPEG frame whose SOF states another size than Rows x Columns (or a
wider precision, other components, or too few bytes for the image) opened, and the volume failed
only when that frame was read (before it was decoded: no allocation), an hour later in a long
compute. Now the scan reads each located frame's first bytes (one read of 1 KiB a frame) and
refuses the file at open naming the frame.
"""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate

import lazyvol as lv
from lazyvol.testing import write_enhanced_dicom

pytestmark = pytest.mark.usefixtures("dicom_cache")

imagecodecs = pytest.importorskip("imagecodecs")

LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"


def _jpeg_enhanced(path, shape, tamper=None) -> None:
    """An enhanced file of ``shape`` whose frames are lossless JPEG (imagecodecs), one fragment
    each, with a Basic Offset Table; ``tamper(k, frame) -> frame`` changes frame ``k``."""
    write_enhanced_dicom(path, shape, dtype="uint16")
    ds = pydicom.dcmread(path)
    frames = [imagecodecs.ljpeg_encode(f) for f in ds.pixel_array]
    if tamper:
        frames = [tamper(k, f) for k, f in enumerate(frames)]
    ds.PixelData = encapsulate(frames, has_bot=True)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = LOSSLESS_SV1
    ds.save_as(path, enforce_file_format=True)


def _swap_sof(k: int, frame: bytes) -> bytes:
    """Frame 2's SOF3 states its rows and columns swapped (the same count of samples)."""
    if k != 2:
        return frame
    out = bytearray(frame)
    at = out.find(b"\xff\xc3")
    rows, columns = struct.unpack_from(">HH", out, at + 5)
    struct.pack_into(">HH", out, at + 5, columns, rows)
    return bytes(out)


def test_a_later_frame_stating_another_size_is_refused_at_open(tmp_path):
    path = tmp_path / "e.dcm"
    _jpeg_enhanced(path, (8, 6, 4), _swap_sof)
    with pytest.raises(lv.FormatError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lv.open(path)
    msg = str(info.value)
    assert str(path) in msg and "(frame 3 of 4)" in msg, msg
    assert "compressed image is 8 rows x 6 columns but Rows (0028,0010)" in msg, msg


def test_sound_frames_open_and_read_as_pydicom_decodes_them(tmp_path):
    path = tmp_path / "e.dcm"
    _jpeg_enhanced(path, (8, 6, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = lv.open(path, scale=False).compute()
    want = pydicom.dcmread(path).pixel_array
    np.testing.assert_array_equal(np.moveaxis(got, 2, 0).transpose(0, 2, 1), want)
