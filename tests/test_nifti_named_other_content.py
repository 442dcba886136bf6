"""A file named as NIfTI that holds another format (a DICOM slice exported as ``.nii``, a gzipped
DICOM named ``.nii.gz``, a NumPy or HDF5 file) is refused saying what it holds and how to read
it, not only that its ``sizeof_hdr`` is wrong."""

from __future__ import annotations

import gzip
import os
import shutil

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series


@pytest.fixture
def dicom_file(tmp_path):
    folder = str(tmp_path / "ct")
    write_dicom_series(folder, (8, 8, 3))
    return sorted(os.path.join(folder, f) for f in os.listdir(folder))[0]


def test_a_dicom_file_named_nii_is_named_dicom_and_opens_once_named_dcm(tmp_path, dicom_file):
    named = tmp_path / "slice.nii"
    shutil.copy(dicom_file, named)
    with pytest.raises(lv.FormatError, match=r"sizeof_hdr = .*DICOM file \('DICM' at byte 128\)"):
        lv.open(str(named))
    renamed = tmp_path / "slice.dcm"
    shutil.copy(dicom_file, renamed)  # the fix the message gives
    ref = pydicom.dcmread(dicom_file).pixel_array
    np.testing.assert_array_equal(lv.open(str(renamed)).compute()[:, :, 0], ref.T)


def test_a_gzipped_dicom_file_named_nii_gz_is_named_so(tmp_path, dicom_file):
    named = tmp_path / "slice.nii.gz"
    named.write_bytes(gzip.compress(open(dicom_file, "rb").read()))
    with pytest.raises(lv.FormatError, match=r"gzip-compressed DICOM file.*gunzip it"):
        lv.open(str(named))


@pytest.mark.parametrize(
    ("head", "what"),
    [
        (b"\x93NUMPY", "NumPy .npy array"),
        (b"\x89HDF\r\n\x1a\n", "HDF5 file"),
        (b"PK\x03\x04", "zip archive"),
    ],
)
def test_other_formats_named_nii_are_named(tmp_path, head, what):
    named = tmp_path / "x.nii"
    named.write_bytes(head + bytes(600))
    with pytest.raises(lv.FormatError, match=f"sizeof_hdr = .*the file is an? {what}"):
        lv.open(str(named))


def test_a_real_npy_file_named_nii_is_named(tmp_path):
    named = tmp_path / "x.nii"
    with open(named, "wb") as fh:
        np.save(fh, np.zeros((10, 10, 10), np.int16))
    with pytest.raises(lv.FormatError, match=r"NumPy \.npy array"):
        lv.open(str(named))


def test_unknown_content_keeps_the_plain_refusal(tmp_path):
    named = tmp_path / "x.nii"
    named.write_bytes(b"hello world\n" * 60)
    with pytest.raises(lv.FormatError, match=r"not a NIfTI/Analyze header$"):
        lv.open(str(named))
