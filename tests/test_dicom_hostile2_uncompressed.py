"""Encapsulated Uncompressed Explicit VR Little Endian (1.2.840.10008.1.2.1.98): each frame's
fragments hold its values as native little-endian data do. Neither pydicom 3 nor dcm2niix decodes
it, and lazyvol refused such files ('has no pixel decoder in pydicom', no way past); it now reads
them itself. The references are the native files they were made from (pydicom's pixel_array and
modality LUT of the same values) and the written truth; a frame its header does not describe is
refused naming the file and the fix.
"""

from __future__ import annotations

import warnings

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_modality_lut

import lazyvol as lv
from lazyvol.testing import write_dicom_series, write_enhanced_dicom

pytestmark = pytest.mark.usefixtures("dicom_cache")

SYNTAX = "1.2.840.10008.1.2.1.98"


def _encapsulate(path, pieces: int = 1, frames: int = 1, cut: int = 0, extra: int = 0) -> None:
    """Rewrite the native file ``path`` with each of its ``frames`` frames in ``pieces``
    fragments under Encapsulated Uncompressed (the last ``cut`` bytes dropped, ``extra`` zero
    bytes added)."""
    ds = pydicom.dcmread(path)
    data = ds.PixelData[: len(ds.PixelData) - cut] + bytes(extra)
    if len(data) % 2:
        data += b"\0"  # (an odd count padded to even)
    step = len(data) // frames
    values = [data[f * step : (f + 1) * step] for f in range(frames)]
    ds.PixelData = encapsulate(values, fragments_per_frame=pieces, has_bot=frames > 1)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = SYNTAX
    ds.save_as(path, enforce_file_format=True)


def _native_values(files: list[str], scale: bool) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        planes = []
        for f in files:
            ds = pydicom.dcmread(f)
            planes.append((apply_modality_lut(ds.pixel_array, ds) if scale else ds.pixel_array).T)
    return np.stack(planes, axis=-1)


@pytest.mark.parametrize(
    ("dtype", "bits_stored", "shape"),
    [
        ("int16", 12, (8, 6, 3)),  # signed, high bits dirty: sign-extended as native data are
        ("uint16", 10, (8, 6, 3)),
        ("uint8", None, (7, 5, 3)),  # an odd count of bytes: padded
        ("int8", 6, (7, 5, 3)),
    ],
)
@pytest.mark.parametrize("pieces", [1, 3])
def test_an_encapsulated_uncompressed_series_reads_as_its_native_twin(
    tmp_path, dtype, bits_stored, shape, pieces
):
    kw = {"bits_stored": bits_stored, "dirty_high_bits": True} if bits_stored else {}
    truth = write_dicom_series(tmp_path / "s", shape, dtype=dtype, slope=0.5, intercept=-3, **kw)
    want = {scale: _native_values(truth.files, scale) for scale in (False, True)}
    for f in truth.files:
        _encapsulate(f, pieces)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = lv.open(tmp_path / "s", scale=False).compute()
        scaled = lv.open(tmp_path / "s").compute()
    np.testing.assert_array_equal(raw, truth.stored)
    np.testing.assert_array_equal(raw, want[False])
    np.testing.assert_array_equal(scaled, want[True])


def test_an_encapsulated_uncompressed_enhanced_file_reads_its_frames(tmp_path):
    truth = write_enhanced_dicom(tmp_path / "e.dcm", (8, 6, 4), dtype="int16")
    (path,) = truth.files
    _encapsulate(path, pieces=2, frames=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = lv.open(path, scale=False).compute()
    np.testing.assert_array_equal(got, truth.stored)


@pytest.mark.parametrize(("cut", "extra"), [(2, 0), (0, 16)], ids=["short", "excess"])
def test_an_encapsulated_uncompressed_frame_of_another_size_is_refused(tmp_path, cut, extra):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 2))
    for f in truth.files:
        _encapsulate(f, cut=cut, extra=extra)
    with pytest.raises(lv.FormatError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lv.open(tmp_path / "s")
    msg = str(info.value)
    assert any(f in msg for f in truth.files), msg
    assert "Encapsulated Uncompressed" in msg and "Rows (0028,0010) x Columns (0028,0011)" in msg
    assert ("fix Rows/Columns" if cut else "fix the header") in msg, msg
