"""A Siemens CSA header with an item past an element's value count that is not empty.

nibabel's csareader asserts such an item is empty (``assert item_len == 0``): an
``AssertionError``, not the ``ValueError`` lazyvol's item-by-item reading
(``csa_numbers.read``) falls back on, so the whole header was refused and the mosaic with it.
dcm2niix skips every item by its length (``lPos += ((xx2_Len + 3) / 4) * 4``) and reads the
rest. Now read item by item: the item past the count skipped by its length, the values kept.

References: nibabel's csareader (the structure), dcm2niix's CSA item walk, the synthetic truth
of :func:`lazyvol.testing.write_mosaic_series`.
"""

from __future__ import annotations

import struct

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.dicom.csa_numbers import read
from lazyvol.testing import write_mosaic_series

pytestmark = pytest.mark.usefixtures("dicom_cache")


def _csa2(tags):
    """CSA2 bytes of ``{name: (vr, vm, items)}``, every item written as given (a value past
    ``vm`` too)."""
    out = [b"SV10", b"\x04\x03\x02\x01", struct.pack("<2I", len(tags), 77)]
    for name, (vr, vm, items) in tags.items():
        out.append(struct.pack("<64si4s3i", name.encode(), vm, vr.encode(), 0, len(items), 77))
        for v in items:
            text = v.encode() + b"\x00" if v else b""
            n = len(text)
            out.append(struct.pack("<4i", n, n, 77, n))
            out.append(text + b"\x00" * ((4 - n % 4) % 4))
    return b"".join(out)


TAGS = {
    "NumberOfImagesInMosaic": ("US", 1, ["4", "", ""]),
    "SliceNormalVector": ("FD", 3, ["0.0", "0.0", "1.0", "7.5"]),  # (a 4th item past vm 3)
    "AcquisitionMatrixText": ("SH", 1, ["8p*8"]),
    "MosaicRefAcqTimes": ("FD", 0, ["0.0", "500.0", "1000.0", "1500.0"]),
}


def test_an_item_past_the_count_is_skipped_not_the_header():
    tags = read(_csa2(TAGS))["tags"]
    assert tags["SliceNormalVector"]["items"] == [0.0, 0.0, 1.0]
    assert tags["NumberOfImagesInMosaic"]["items"] == [4]
    assert tags["AcquisitionMatrixText"]["items"] == ["8p*8"]
    assert tags["MosaicRefAcqTimes"]["items"] == [0.0, 500.0, 1000.0, 1500.0]


def test_a_mosaic_with_such_a_header_opens(tmp_path):
    truth = write_mosaic_series(tmp_path / "m", (8, 8, 4), volumes=2)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds[0x00291010].value = _csa2(TAGS)
        ds.save_as(f)
    vol = lv.open(tmp_path / "m", use_index=False)
    assert vol.shape == (8, 8, 4, 2)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert vol.meta["bids"]["SliceTiming"] == [0.0, 0.5, 1.0, 1.5]
