"""A file without Pixel Data that holds its data in a private element (7FE1,xx10) instead (Siemens
CSA non-image data: spectroscopy, raw data) is complete, valid DICOM of a kind lazyvol does not
read. Under an image SOP class it was skipped as "without Pixel Data (7FE0,0010): truncated?" (or
"truncated: required attributes missing"), sending the user to copy a complete file again; it is
now an unsupported-kind skip naming the element, its creator and size. A file cut inside such an
element is still called truncated.
"""

from __future__ import annotations

import warnings

import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

MR = "1.2.840.10008.5.1.4.1.1.4"
_IMAGE = ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation")


def _file(folder, *, image_attributes=True, implicit=False, sop=MR, nbytes=4096) -> str:
    f = write_dicom_series(folder, (8, 8, 1), dtype="uint16", seed=1).files[0]
    ds = pydicom.dcmread(f)
    del ds.PixelData
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop
    if not image_attributes:
        for k in _IMAGE:
            delattr(ds, k)
    ds.add_new(0x7FE10010, "LO", "SIEMENS CSA NON-IMAGE")
    ds.add_new(0x7FE11010, "OB", bytes(range(256)) * (nbytes // 256))
    if implicit:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(f, enforce_file_format=True)
    return f


def _refusal(folder) -> Exception:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(lv.LazyvolError) as info:
            lv.open(folder)
    return info.value


@pytest.mark.parametrize(
    ("image_attributes", "implicit"), [(True, False), (False, False), (True, True)]
)
def test_private_data_without_pixel_data_is_an_unsupported_kind(
    tmp_path, image_attributes, implicit
):
    f = _file(tmp_path / "s", image_attributes=image_attributes, implicit=implicit)
    err = _refusal(tmp_path / "s")
    msg = str(err)
    assert isinstance(err, lv.UnsupportedError), msg
    assert f in msg and "truncated" not in msg, msg
    assert "4096 bytes in the private element (7FE1,1010)" in msg, msg
    assert "'SIEMENS CSA NON-IMAGE'" in msg and "spectroscopy" in msg, msg


def test_a_file_cut_inside_its_private_data_is_still_truncated(tmp_path):
    f = _file(tmp_path / "s")
    with open(f, "r+b") as fh:
        fh.truncate(len(fh.read()) - 3000)
    msg = str(_refusal(tmp_path / "s"))
    assert "truncated" in msg and "private element" not in msg, msg


def test_the_siemens_private_class_is_named(tmp_path):
    _file(tmp_path / "s", sop="1.3.12.2.1107.5.9.1")
    msg = str(_refusal(tmp_path / "s"))
    assert "Siemens CSA Non-Image Storage (1.3.12.2.1107.5.9.1)" in msg, msg
