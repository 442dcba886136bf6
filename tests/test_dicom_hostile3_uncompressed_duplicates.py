"""Two copies of one image (one SOPInstanceUID) stored differently, one or both Encapsulated
Uncompressed (1.2.840.10008.1.2.1.98): the copies were compared by decoding both through pydicom,
which has no decoder of that syntax, so the series was refused ('one cannot be decoded') though
both hold the same values. The .98 copy is now read by lazyvol's own pixel reader (the one its
volume is read with), so the copy is dropped as a duplicate; copies whose values differ are still
refused.
"""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate

import lazyvol as lv
from lazyvol.testing import write_dicom_series, write_enhanced_dicom

pytestmark = pytest.mark.usefixtures("dicom_cache")

SYNTAX = "1.2.840.10008.1.2.1.98"


def _encapsulate(path, frames: int = 1, slope: float | None = None, add: int = 0) -> None:
    """Rewrite the native file ``path`` Encapsulated Uncompressed in ``frames`` frames; with a
    ``slope``, its stored values doubled and rescaled by that slope (the same real values when
    it is 0.5); ``add`` added to its first stored value (another image)."""
    ds = pydicom.dcmread(path)
    values = ds.pixel_array.copy()
    if slope is not None:
        values = values * 2  # (12-bit values: 13 bits now)
        ds.RescaleSlope, ds.BitsStored, ds.HighBit = slope, 16, 15
    values.flat[0] += add
    data = values.astype(values.dtype.newbyteorder("<")).tobytes()
    step = len(data) // frames
    ds.PixelData = encapsulate(
        [data[f * step : (f + 1) * step] for f in range(frames)], has_bot=frames > 1
    )
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = SYNTAX
    ds.save_as(path, enforce_file_format=True)


def _open(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lv.open(folder)


@pytest.mark.parametrize("both", [False, True], ids=["and-native", "both-98"])
def test_an_encapsulated_uncompressed_copy_of_an_image_is_dropped_as_a_duplicate(tmp_path, both):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 3), dtype="int16", bits_stored=12)
    copy = tmp_path / "s" / "copy.dcm"
    shutil.copy(truth.files[1], copy)
    _encapsulate(copy, slope=0.5)  # (the same real values, stored doubled)
    if both:
        _encapsulate(truth.files[1])
    vol = _open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert vol.shape == (8, 6, 3)


def test_an_encapsulated_uncompressed_enhanced_frame_copy_is_compared_frame_by_frame(tmp_path):
    truth = write_enhanced_dicom(tmp_path / "s" / "e.dcm", (8, 6, 4), dtype="int16")
    (path,) = truth.files
    shutil.copy(path, tmp_path / "s" / "copy.dcm")
    _encapsulate(tmp_path / "s" / "copy.dcm", frames=4)
    np.testing.assert_array_equal(_open(tmp_path / "s").compute(), truth.stored)


def test_copies_with_other_values_are_still_refused(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 3), dtype="int16", bits_stored=12)
    copy = tmp_path / "s" / "copy.dcm"
    shutil.copy(truth.files[1], copy)
    _encapsulate(copy, slope=0.5, add=2)
    with pytest.raises(lv.SeriesError) as info:
        _open(tmp_path / "s")
    msg = str(info.value)
    assert "copy.dcm" in msg and "their rescaled pixel values differ" in msg, msg
