"""An empty fragment (a zero-length item) before a frame's codestream, which pydicom's frame
reader skips: the check of a frame's codestream head at open read the empty item's next item
header as the codestream ('holds no JPEG codestream (it starts feff00e0)') and refused a file
pydicom reads correctly. The head is now read from the first fragment that is not empty.
"""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames

import lazyvol as lv
from lazyvol.testing import write_dicom_series, write_enhanced_dicom

pytestmark = pytest.mark.usefixtures("dicom_cache")

JLS = "1.2.840.10008.1.2.4.80"


def _items(fragments: list[bytes]) -> bytes:
    """An encapsulated value of ``fragments`` (each one item), with an empty offset table."""
    out = b"\xfe\xff\x00\xe0\x00\x00\x00\x00"
    for f in fragments:
        f += b"\0" * (len(f) % 2)
        out += b"\xfe\xff\x00\xe0" + struct.pack("<L", len(f)) + f
    return out + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


def _open(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lv.open(path, scale=False).compute()


def test_an_empty_fragment_before_a_later_frame(tmp_path):
    path = tmp_path / "e.dcm"
    truth = write_enhanced_dicom(path, (8, 6, 3), dtype="uint16", compress=JLS, seed=2)
    ds = pydicom.dcmread(path)
    frames = list(generate_frames(ds.PixelData, number_of_frames=3))
    ds.PixelData = _items([frames[0], b"", frames[1], frames[2]])
    ds.save_as(path)
    want = np.moveaxis(pydicom.dcmread(path).pixel_array, 0, -1).transpose(1, 0, 2)
    np.testing.assert_array_equal(want, truth.stored)  # (pydicom reads it)
    np.testing.assert_array_equal(_open(path), truth.stored)


def test_an_empty_fragment_before_a_single_frame(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 2), dtype="uint16", compress=JLS, seed=2)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        frame = next(generate_frames(ds.PixelData, number_of_frames=1))
        ds.PixelData = _items([b"", frame])
        ds.save_as(f)
    assert np.array_equal(pydicom.dcmread(truth.files[0]).pixel_array.T, truth.stored[:, :, 0])
    np.testing.assert_array_equal(_open(tmp_path / "s"), truth.stored)
