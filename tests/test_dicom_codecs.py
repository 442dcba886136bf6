"""Compressed (encapsulated) single-frame series decoded per frame through pydicom's decoders."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import JPEG2000Lossless, RLELossless

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")
SHAPE = (32, 48, 8)


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "j2k"])
@pytest.mark.parametrize("dtype", ["int16", "uint8"])
def test_compressed_series_equals_uncompressed_twin(tmp_path, syntax, dtype):
    plain = write_dicom_series(tmp_path / "plain", SHAPE, dtype=dtype, orientation="oblique")
    comp = write_dicom_series(
        tmp_path / "comp", SHAPE, dtype=dtype, orientation="oblique", compress=syntax
    )
    assert pydicom.dcmread(comp.files[0]).file_meta.TransferSyntaxUID == syntax
    a = lv.open(tmp_path / "plain").compute()
    vol = lv.open(tmp_path / "comp")
    np.testing.assert_array_equal(vol.compute(), a)
    np.testing.assert_array_equal(a, plain.stored)
    np.testing.assert_allclose(vol.affine, plain.affine, atol=1e-6)
    assert vol.meta["transfer_syntax"] == syntax


def test_one_slice_decodes_one_frame(tmp_path, monkeypatch):
    from lazyvol.dicom import pixels

    write_dicom_series(tmp_path / "s", SHAPE, compress=RLELossless)
    calls = []
    orig = pixels._decode
    monkeypatch.setattr(pixels, "_decode", lambda plan, n: calls.append(n) or orig(plan, n))
    vol = lv.open(tmp_path / "s", chunks=(32, 48, 1))
    assert calls == []
    vol[:, :, 5:6].compute()
    assert calls == [5]


@pytest.mark.parametrize(
    "name", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"]
)
def test_real_compressed_files_match_pydicom(name):
    path = get_testdata_file(name)
    vol = lv.open(path, scale=False)
    np.testing.assert_array_equal(vol.compute()[:, :, 0], pydicom.dcmread(path).pixel_array.T)


def test_truncated_encapsulated_data_fails_at_open(tmp_path):
    comp = write_dicom_series(tmp_path / "s", SHAPE, compress=RLELossless)
    victim = comp.files[2]
    data = open(victim, "rb").read()
    open(victim, "wb").write(data[:-40])
    with pytest.raises(lv.FormatError, match="truncated") as exc:
        lv.open(tmp_path / "s")
    assert victim in str(exc.value)


def test_missing_decoder_names_syntax_and_package(tmp_path, monkeypatch):
    from pydicom.pixels.decoders.base import Decoder

    write_dicom_series(tmp_path / "s", SHAPE, compress=JPEG2000Lossless)
    monkeypatch.setattr(Decoder, "is_available", property(lambda self: False))
    with pytest.raises(lv.UnsupportedError, match="JPEG 2000") as exc:
        lv.open(tmp_path / "s")
    assert "lazyvol[codecs]" in str(exc.value)
