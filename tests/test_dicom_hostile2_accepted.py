"""Hostile inputs lazyvol reads, by class, each compared with pydicom (and the written truth): an
icon image sequence holding its own Pixel Data before the image's (never taken for the image), a
RealWorldValueMappingSequence without RescaleSlope/Intercept (not applied, as pydicom's modality
LUT does not; dcm2niix applies it for Philips only), and a HighBit below BitsStored - 1 (read by
BitsStored, as pydicom and dcm2niix read it). Guards against wrong refusals and wrong values.
"""

from __future__ import annotations

import warnings

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut
from pydicom.sequence import Sequence

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")


def _edit(files, change) -> None:
    for f in files:
        ds = pydicom.dcmread(f)
        change(ds)
        ds.save_as(f)


def _check_as_pydicom(folder, files) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = lv.open(folder).compute()
        for k, f in enumerate(files):
            ds = pydicom.dcmread(f)
            np.testing.assert_array_equal(got[:, :, k].T, apply_modality_lut(ds.pixel_array, ds))


@pytest.mark.parametrize("syntax", ["explicit", "implicit", "big"])
@pytest.mark.parametrize(("bits", "side", "undefined"), [(8, 4, False), (16, 64, True)])
def test_an_icon_with_its_own_pixels_is_not_the_image(tmp_path, syntax, bits, side, undefined):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 2), syntax=syntax, slope=2.0)

    def add_icon(ds):
        icon = Dataset()
        icon.SamplesPerPixel, icon.PhotometricInterpretation = 1, "MONOCHROME2"
        icon.Rows = icon.Columns = side
        icon.BitsAllocated, icon.BitsStored, icon.HighBit = bits, bits, bits - 1
        icon.PixelRepresentation = 0
        icon.PixelData = bytes(k % 251 for k in range(side * side * bits // 8))
        ds.IconImageSequence = Sequence([icon])
        ds["IconImageSequence"].is_undefined_length = undefined

    _edit(truth.files, add_icon)
    _check_as_pydicom(tmp_path / "s", truth.files)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(lv.open(tmp_path / "s", scale=False).compute(), truth.stored)


def test_a_real_world_value_mapping_alone_is_not_applied(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 2), modality="MR")

    def add_mapping(ds):
        for keyword in ("RescaleSlope", "RescaleIntercept"):
            if keyword in ds:
                delattr(ds, keyword)
        item = Dataset()
        item.RealWorldValueSlope, item.RealWorldValueIntercept = 2.5, -3.0
        item.LUTLabel = "T1"
        ds.RealWorldValueMappingSequence = Sequence([item])

    _edit(truth.files, add_mapping)
    _check_as_pydicom(tmp_path / "s", truth.files)


@pytest.mark.parametrize("dtype", ["int16", "uint16"])
def test_a_high_bit_below_the_stored_bits_reads_by_bits_stored(tmp_path, dtype):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 2), dtype=dtype, bits_stored=12)
    _edit(truth.files, lambda ds: setattr(ds, "HighBit", 10))
    _check_as_pydicom(tmp_path / "s", truth.files)
