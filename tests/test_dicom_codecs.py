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


def _mixed_series(tmp_path, recode):
    """A 6-slice series whose odd slices are re-encoded by ``recode(ds, path)``."""
    truth = write_dicom_series(tmp_path / "s", (16, 12, 6), slope=2.0, intercept=-5.0)
    for f in truth.files[1::2]:
        recode(pydicom.dcmread(f), f)
    return truth


def _rle(ds, path):
    ds.compress(RLELossless)
    ds.save_as(path)


def _implicit(ds, path):
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=True)


def test_series_partly_compressed_is_never_read_one_way(tmp_path):
    # Some files RLE, some native: one volume decoded with the first file's syntax read the others'
    # compressed bytes as pixels (wrong values, no error). The encodings are groups of their own,
    # each read right, and opening the folder says why there are two.
    truth = _mixed_series(tmp_path, _rle)
    expected = truth.stored * 2.0 - 5.0
    report = lv.scan(tmp_path / "s")
    assert len(report) == 2
    for info in report:
        assert info.error is None
        assert any("TransferSyntaxUID (0002,0010)" in r for r in info.reasons)
        ks = [truth.files.index(f) for f in info.files]
        assert ks in ([0, 2, 4], [1, 3, 5])
        vol = lv.open(tmp_path / "s", series=info.id)
        np.testing.assert_array_equal(vol.compute(), expected[:, :, ks])
    with pytest.raises(lv.LazyvolError, match="pixel encoding"):
        lv.open(tmp_path / "s")


def test_series_mixing_implicit_and_explicit_vr_is_one_volume(tmp_path):
    # Both little-endian native syntaxes store the same pixel bytes: one volume, as before.
    truth = _mixed_series(tmp_path, _implicit)
    vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.stored * 2.0 - 5.0)


def test_series_mixing_byte_orders_is_never_read_one_way(tmp_path):
    little = write_dicom_series(tmp_path / "le", (16, 12, 4), series_uid="1.2.3.4.5", seed=3)
    big = write_dicom_series(
        tmp_path / "be", (16, 12, 4), series_uid="1.2.3.4.5", seed=3, syntax="big"
    )
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for k in range(4):
        src = (little if k % 2 else big).files[k]
        (mixed / f"{k}.dcm").write_bytes(open(src, "rb").read())
    report = lv.scan(mixed)
    assert len(report) == 2
    for info in report:
        ks = sorted(int(f.rsplit("/", 1)[1].split(".")[0]) for f in info.files)
        vol = lv.open(mixed, series=info.id)
        np.testing.assert_array_equal(vol.compute(), little.stored[:, :, ks])


def test_a_volume_never_holds_two_pixel_encodings():
    # The last guard behind grouping's split: records of two encodings are refused as one volume.
    from lazyvol.dicom.checks import check_records
    from lazyvol.dicom.records import FrameRecord

    native = FrameRecord(path="/d/a.dcm", size=1, mtime_ns=0, transfer_syntax="1.2.840.10008.1.2.1")
    rle = FrameRecord(path="/d/b.dcm", size=1, mtime_ns=0, transfer_syntax=str(RLELossless))
    found = check_records([native, rle], {}, [])
    assert found is not None
    kind, message = found
    assert kind == "series" and "TransferSyntaxUID (0002,0010)" in message
    assert "/d/a.dcm" in message and "/d/b.dcm" in message
