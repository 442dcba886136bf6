"""Compressed (encapsulated) single-frame series decoded per frame through pydicom's decoders."""

from __future__ import annotations

import struct

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

import lazyvol as lv
from lazyvol.dicom.saved_scan import read_json_checked, write_json_atomic
from lazyvol.testing import write_dicom_series, write_enhanced_dicom

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


def test_the_writer_refuses_compression_with_big_endian(tmp_path):
    """lazyvol.testing wrote a compressed series with syntax="big" with its values byte-swapped
    (compressed transfer syntaxes are little endian), so its truth was not what the files hold."""
    with pytest.raises(ValueError, match="little endian"):
        write_dicom_series(tmp_path / "s", (8, 8, 2), syntax="big", compress=RLELossless)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("syntax", [RLELossless, JPEGLSLossless], ids=["rle", "jpeg-ls"])
@pytest.mark.parametrize("photometric", ["abc", "", "YBR_FULL"])
def test_a_grayscale_photometric_that_is_junk_reads_as_native_data_does(
    tmp_path, syntax, photometric
):
    """PhotometricInterpretation (0028,0004) junk or empty in a one-sample image: native data read
    as stored (lazyvol and dcm2niix alike), but a compressed twin opened and then failed in
    compute, the decoder refusing the value lazyvol passed it (found by the byte-level fuzzer).
    The decoders are given MONOCHROME2 for it now: the same values as the native twin."""
    plain = write_dicom_series(tmp_path / "plain", SHAPE, dtype="int16")
    comp = write_dicom_series(tmp_path / "comp", SHAPE, dtype="int16", compress=syntax)
    for folder in ("plain", "comp"):
        for f in sorted((tmp_path / folder).iterdir()):
            ds = pydicom.dcmread(f)
            ds.PhotometricInterpretation = photometric
            ds.save_as(f)
    np.testing.assert_array_equal(lv.open(tmp_path / "plain").compute(), plain.stored)
    np.testing.assert_array_equal(lv.open(tmp_path / "comp").compute(), comp.stored)


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


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "j2k"])
def test_a_single_frame_with_a_damaged_offset_table_reads_its_fragments(tmp_path, syntax):
    """A single frame is all its fragments, whatever the Basic Offset Table says (PS3.5 A.4), and
    pydicom reads it so; a table stating another offset than 0 made the decoder look for the frame
    inside it, every slice then a FormatError blaming the compressed data (and the codestream checks
    passed over: they could not find the frame either)."""
    truth = write_dicom_series(tmp_path / "s", (32, 48, 3), compress=syntax)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        raw = bytearray(ds.PixelData)
        assert raw[:8] == b"\xfe\xff\x00\xe0\x04\x00\x00\x00"  # a table of one entry (0)
        raw[8:12] = struct.pack("<I", 6)
        ds.PixelData = bytes(raw)
        ds.save_as(f)
    want = np.stack([pydicom.dcmread(f).pixel_array.T for f in truth.files], axis=-1)
    np.testing.assert_array_equal(want, truth.stored)
    np.testing.assert_array_equal(lv.open(tmp_path / "s", scale=False).compute(), truth.stored)


def test_missing_decoder_names_syntax_and_package(tmp_path, monkeypatch):
    from pydicom.pixels.decoders.base import Decoder

    write_dicom_series(tmp_path / "s", SHAPE, compress=JPEG2000Lossless)
    monkeypatch.setattr(Decoder, "is_available", property(lambda self: False))
    with pytest.raises(lv.UnsupportedError, match="JPEG 2000") as exc:
        lv.open(tmp_path / "s")
    assert "lazyvol[codecs]" in str(exc.value)


def _mixed_series(tmp_path, recodes, shape=(16, 12, 6), **kw):
    """A series whose slice ``k`` is re-encoded by ``recodes[k % len(recodes)](ds, path)``."""
    truth = write_dicom_series(tmp_path / "s", shape, slope=2.0, intercept=-5.0, **kw)
    for k, f in enumerate(truth.files):
        recodes[k % len(recodes)](pydicom.dcmread(f), f)
    return truth


def _native(ds, path):
    """Left as written (explicit VR little endian)."""


def _compressed(syntax):
    from pydicom.pixels import get_encoder

    if not get_encoder(syntax).is_available:
        pytest.skip(f"no pydicom encoder installed for {syntax.name}")

    def recode(ds, path):
        ds.compress(syntax)
        ds.save_as(path)

    return recode


def _implicit(ds, path):
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=True)


def _pydicom_stack(files):
    """(i, j, k) rescaled values of ``files`` in the given order, from pydicom alone (each file
    decoded by its own transfer syntax, rescaled by its own slope and intercept)."""
    out = []
    for f in files:
        ds = pydicom.dcmread(f)
        out.append(ds.pixel_array.T * float(ds.RescaleSlope) + float(ds.RescaleIntercept))
    return np.stack(out, axis=-1)


@pytest.mark.parametrize(
    "recodes",
    [
        pytest.param(lambda: [_native, _compressed(RLELossless)], id="native-rle"),
        pytest.param(lambda: [_compressed(RLELossless), _native], id="rle-native"),
        pytest.param(
            lambda: [_native, _compressed(JPEG2000Lossless), _compressed(JPEGLSLossless)],
            id="native-j2k-jpegls",
        ),
        pytest.param(
            lambda: [_compressed(JPEGLSLossless), _implicit, _compressed(RLELossless)],
            id="jpegls-implicit-rle",
        ),
    ],
)
def test_a_series_partly_compressed_reads_each_file_its_own_way(tmp_path, recodes):
    # Some files compressed, some not (an archive that compressed part of a series; dcm2niix
    # converts it): one volume whose frames each decode by their own file's transfer syntax.
    # Before per-frame encodings, the whole volume was decoded with the first file's syntax
    # (compressed bytes read as pixels, no error), then such series were refused.
    truth = _mixed_series(tmp_path, recodes(), shape=(48, 40, 7), orientation="oblique")
    syntaxes = {str(pydicom.dcmread(f).file_meta.TransferSyntaxUID) for f in truth.files}
    assert len(syntaxes) > 1
    (info,) = lv.scan(tmp_path / "s")
    assert info.error is None and info.shape == (48, 40, 7)
    vol = lv.open(tmp_path / "s")
    assert sorted(vol.meta["transfer_syntaxes"]) == sorted(syntaxes)
    expected = truth.stored * 2.0 - 5.0
    np.testing.assert_array_equal(_pydicom_stack(truth.files), expected)  # truth is pydicom's
    np.testing.assert_array_equal(vol.compute(), expected)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    # Blocks that cut across the encodings, one frame per chunk and several, and single slices.
    for chunks in [(48, 40, 1), (48, 40, 3), (16, 9, 4)]:
        part = lv.open(tmp_path / "s", chunks=chunks)
        np.testing.assert_array_equal(part.compute(), expected)
        np.testing.assert_array_equal(part[3:21, 2:9, 1:6].compute(), expected[3:21, 2:9, 1:6])
    for k in range(7):
        np.testing.assert_array_equal(vol[:, :, k : k + 1].compute(), expected[:, :, k : k + 1])
    stored = lv.open(tmp_path / "s", scale=False)
    np.testing.assert_array_equal(stored.compute(), truth.stored)


def test_a_partly_compressed_series_reopens_from_its_saved_scan(tmp_path, monkeypatch):
    # The saved report keeps each frame's encoding: the second open parses no header and reads
    # as the first did. A report with a damaged encodings column, or of the layout that split
    # such series (format 2), is not used: the folder is scanned again.
    import importlib
    import json

    from lazyvol.dicom.saved_scan import index_path

    header_scan = importlib.import_module("lazyvol.dicom.header_scan")
    truth = _mixed_series(tmp_path, [_native, _compressed(RLELossless)])
    expected = truth.stored * 2.0 - 5.0
    np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), expected)
    report = index_path(str(tmp_path / "s")).with_suffix(".report.json")
    doc = read_json_checked(report)
    written = doc["series"][0]["frames"]["encodings"]
    assert written == ["native little-endian" if k % 2 == 0 else str(RLELossless) for k in range(6)]
    calls: list[str] = []
    orig = header_scan.read_header
    monkeypatch.setattr(
        header_scan, "read_header", lambda p, **kw: calls.append(p) or orig(p, **kw)
    )
    np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), expected)
    assert calls == []  # read from the report
    for damage in ({"encodings": written[:-1]}, {"format": 2}):
        bad = json.loads(json.dumps(doc))
        if "format" in damage:
            bad["format"] = damage["format"]
        else:
            bad["series"][0]["frames"]["encodings"] = damage["encodings"]
        write_json_atomic(report, bad)
        index_path(str(tmp_path / "s")).unlink(missing_ok=True)  # headers parsed again
        calls.clear()
        np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), expected)
        assert len(calls) == 6


def test_a_series_mixing_byte_orders_reads_each_file_its_own_way(tmp_path):
    little = write_dicom_series(tmp_path / "le", (16, 12, 4), series_uid="1.2.3.4.5", seed=3)
    big = write_dicom_series(
        tmp_path / "be", (16, 12, 4), series_uid="1.2.3.4.5", seed=3, syntax="big"
    )
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for k in range(4):
        src = (little if k % 2 else big).files[k]
        (mixed / f"{k}.dcm").write_bytes(open(src, "rb").read())
    vol = lv.open(mixed)
    np.testing.assert_array_equal(vol.compute(), little.stored)
    np.testing.assert_array_equal(vol.compute(), _pydicom_stack(little.files))


def test_eight_bit_big_endian_ow_among_little_endian_files(tmp_path):
    # 8-bit values in a big-endian OW element are stored in swapped byte pairs: that file's
    # frames are unswapped, its neighbours' not.
    little = write_dicom_series(
        tmp_path / "le", (15, 12, 4), dtype="uint8", series_uid="1.2.3.4.6", seed=4
    )
    big = write_dicom_series(
        tmp_path / "be", (15, 12, 4), dtype="uint8", series_uid="1.2.3.4.6", seed=4, syntax="big"
    )
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for k in range(4):
        src = (big if k in (1, 2) else little).files[k]
        ds = pydicom.dcmread(src)
        if k in (1, 2):
            assert not ds.file_meta.TransferSyntaxUID.is_little_endian
            pairs = np.frombuffer(ds.PixelData, dtype="<u2").byteswap()  # 180 bytes: whole words
            ds.PixelData = pairs.tobytes()
            ds["PixelData"].VR = "OW"
            ds.save_as(mixed / f"{k}.dcm", little_endian=False, implicit_vr=False)
        else:
            ds.save_as(mixed / f"{k}.dcm")
    files = sorted(str(p) for p in mixed.iterdir())
    assert pydicom.dcmread(files[1])["PixelData"].VR == "OW"
    vol = lv.open(mixed)
    np.testing.assert_array_equal(vol.compute(), little.stored)
    np.testing.assert_array_equal(vol.compute(), _pydicom_stack(files))


@pytest.mark.parametrize("shape", [(7, 9, 3), (7, 9, 4), (5, 3, 6)], ids=["3", "4", "6"])
def test_eight_bit_big_endian_ow_frames_of_odd_size_in_one_file(tmp_path, shape):
    # An enhanced file's 8-bit frames in a big-endian OW element: its bytes are swapped in pairs
    # counted from the element's start. Of odd Rows x Columns, every other frame starts inside a
    # pair: frame 1 was unswapped one byte off (wrong values, no error), and a last frame ending
    # with the element was refused as truncated (its read ran one byte past it).
    path = tmp_path / "e.dcm"
    write_enhanced_dicom(path, shape, dtype="uint8")
    ds = pydicom.dcmread(path)
    want = ds.pixel_array
    raw = want.tobytes() + b"\0" * (want.size % 2)
    ds.PixelData = np.frombuffer(raw, dtype="<u2").byteswap().tobytes()
    ds["PixelData"].VR = "OW"
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian
    pydicom.dcmwrite(path, ds, little_endian=False, implicit_vr=False, enforce_file_format=True)
    np.testing.assert_array_equal(pydicom.dcmread(path).pixel_array, want)  # the file is right
    got = lv.open(path, scale=False).compute()
    np.testing.assert_array_equal(got, np.moveaxis(want, 0, -1).transpose(1, 0, 2))


def test_a_mosaic_series_partly_compressed(tmp_path):
    # Siemens mosaics, one file per volume, every other file RLE-compressed: each volume's tiles
    # are cut from its own file's decoded (or native) mosaic.
    from lazyvol.testing import write_mosaic_series

    truth = write_mosaic_series(tmp_path / "m", (16, 12, 5), volumes=4)
    rle = _compressed(RLELossless)
    for f in truth.files[1::2]:
        rle(pydicom.dcmread(f), f)
    vol = lv.open(tmp_path / "m", scale=False)
    assert vol.shape == (16, 12, 5, 4)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    np.testing.assert_array_equal(vol[:, :, 2:4, 1:3].compute(), truth.stored[:, :, 2:4, 1:3])


def test_references_refuse_a_series_of_several_encodings(tmp_path):
    # A Zarr array has one codec: kerchunk references cannot describe frames encoded two ways.
    from lazyvol.refs import references

    _mixed_series(tmp_path, [_native, _compressed(RLELossless)])
    with pytest.raises(
        lv.UnsupportedError,
        match=r"encoded in different ways \(1\.2\.840\.10008\.1\.2\.5, native little-endian\)",
    ):
        references(tmp_path / "s")


def _swap_rows_and_columns(ds):
    ds.Rows, ds.Columns = ds.Columns, ds.Rows


@pytest.mark.parametrize("syntax", [JPEGLSLossless, JPEG2000Lossless], ids=["jpeg-ls", "j2k"])
def test_a_codestream_disagreeing_with_rows_and_columns_is_refused_at_open(tmp_path, syntax):
    # Rows and Columns swapped in the header of compressed files: the same number of pixels, so
    # decoders shaped by the header return a scrambled image with no error (pydicom's
    # pixel_array does). The codestream states its own size, read from the first fragment's head
    # at scan time: refused at open, naming the file and both sizes.
    from pydicom.pixels import get_encoder

    if not get_encoder(syntax).is_available:
        pytest.skip(f"no pydicom encoder installed for {syntax.name}")
    truth = write_dicom_series(tmp_path / "s", (48, 40, 3))  # 40 rows x 48 columns
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.compress(syntax)
        _swap_rows_and_columns(ds)
        ds.save_as(f)
    assert pydicom.dcmread(truth.files[0]).pixel_array.shape == (48, 40)  # pydicom reshapes
    with pytest.raises(
        lv.FormatError, match=r"40 rows x 48 columns but Rows .* say 48 x 40"
    ) as exc:
        lv.open(tmp_path / "s")
    assert any(f in str(exc.value) for f in truth.files)


def test_a_multi_frame_codestream_disagreeing_with_rows_and_columns_is_refused_at_open(tmp_path):
    # An enhanced file's frames share Rows x Columns: its first frame's codestream is compared
    # with them at open (it was compared only when read, after the block was allocated).
    from pydicom.pixels import get_encoder

    if not get_encoder(JPEGLSLossless).is_available:
        pytest.skip("no JPEG-LS encoder installed")
    path = tmp_path / "e.dcm"
    write_enhanced_dicom(path, (48, 40, 4), compress=JPEGLSLossless)
    ds = pydicom.dcmread(path)
    _swap_rows_and_columns(ds)
    ds.save_as(path)
    with pytest.raises(
        lv.FormatError, match=r"40 rows x 48 columns but Rows .* say 48 x 40"
    ) as exc:
        lv.open(path)
    assert str(path) in str(exc.value)


def test_a_later_frame_disagreeing_with_rows_and_columns_is_refused_at_open(tmp_path):
    # Every frame's codestream head is read at open (it was the first frame's only, the others
    # refused when read): another frame whose codestream states another size (the same number
    # of pixels) is refused at open, naming the frame.
    from pydicom.encaps import encapsulate, generate_frames
    from pydicom.pixels import get_encoder

    if not get_encoder(JPEGLSLossless).is_available:
        pytest.skip("no JPEG-LS encoder installed")
    good, swapped = tmp_path / "good.dcm", tmp_path / "swapped.dcm"
    write_enhanced_dicom(good, (48, 40, 4), compress=JPEGLSLossless)
    write_enhanced_dicom(swapped, (40, 48, 4), compress=JPEGLSLossless, seed=3)
    ds = pydicom.dcmread(good)
    frames = list(generate_frames(ds.PixelData, number_of_frames=4))
    other = list(generate_frames(pydicom.dcmread(swapped).PixelData, number_of_frames=4))
    frames[2] = other[2]  # a 48 rows x 40 columns codestream in a 40 x 48 file
    ds.PixelData = encapsulate(frames, has_bot=True)
    ds.save_as(good)
    with pytest.raises(lv.FormatError, match=r"48 rows x 40 columns but Rows .* say 40 x 48") as e:
        lv.open(good)  # (frame 1 agrees)
    assert f"{good} (frame 3 of 4)" in str(e.value)


@pytest.mark.parametrize("enhanced", [False, True], ids=["single-frame", "enhanced"])
def test_rle_frames_far_too_short_for_rows_and_columns_are_refused_at_open(tmp_path, enhanced):
    # A lying header (30000 x 30000 over 48 x 40 frames) in RLE files: accepted at open as a
    # 1.8 GB-a-slice volume, and pylibjpeg-rle then allocated what Rows x Columns claim before
    # finding the segments short, aborting the process when that failed. An RLE segment decodes
    # to at most 64 times its length, so the header is refused at open, each frame checked.
    if enhanced:
        write_enhanced_dicom(tmp_path / "e.dcm", shape=(48, 40, 4))
        files = [str(tmp_path / "e.dcm")]
    else:
        files = write_dicom_series(tmp_path / "s", (48, 40, 3)).files
    for f in files:
        ds = pydicom.dcmread(f)
        ds.compress(RLELossless)
        ds.Rows = ds.Columns = 30000
        ds.save_as(f)
    target = files[0] if enhanced else tmp_path / "s"
    need = 30000 * 30000 * 2
    with pytest.raises(
        lv.FormatError,
        match=rf"RLE frame of \d+ bytes cannot hold .* 30000 x 30000 x 2 = {need} bytes",
    ) as exc:
        lv.open(target)
    assert any(f in str(exc.value) for f in files)


def test_rle_frames_with_room_for_their_header_still_open(tmp_path):
    # The bound is RLE's own (64 bytes out per byte in): a constant image compresses ~60x and
    # still opens, its values pydicom's.
    truth = write_dicom_series(tmp_path / "s", (64, 64, 2))
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.PixelData = np.full((64, 64), 7, "<i2").tobytes()
        ds.compress(RLELossless)
        ds.save_as(f)
    assert all(len(pydicom.dcmread(f).PixelData) * 20 < 64 * 64 * 2 for f in truth.files)
    np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), 7)


#: A JPEG 2000 SIZ segment (after SOC) stating 34 x 12 from an image offset of (2, 3), one tile,
#: and one component of signed 16-bit samples (Ssiz 0x8F: sign bit, precision - 1).
_SIZ = (
    b"\xff\x4f\xff\x51\x00\x29\x00\x00"
    + b"".join(v.to_bytes(4, "big") for v in (36, 15, 2, 3, 36, 15, 0, 0))
    + b"\x00\x01\x8f\x01\x01"
)


@pytest.mark.parametrize(
    ("syntax", "header", "expected"),
    [
        # JPEG: SOI, an APP0 segment to skip, then SOF3 (lossless): 16-bit, 12 rows, 34 columns,
        # one component.
        (
            "1.2.840.10008.1.2.4.70",
            b"\xff\xd8\xff\xe0\x00\x04ab\xff\xc3\x00\x0b\x10\x00\x0c\x00\x22\x01\x01\x11\x00",
            ((12, 34), 16, 1),
        ),
        # JPEG-LS (SOF55): 12-bit, 5 rows, 7 columns, three components.
        (
            "1.2.840.10008.1.2.4.80",
            b"\xff\xd8\xff\xf7\x00\x11\x0c\x00\x05\x00\x07\x03\x01\x11\x00\x02\x11\x00",
            ((5, 7), 12, 3),
        ),
        # JPEG 2000 in a JP2 file: signature and ftyp boxes, then the codestream box (jp2c).
        (
            "1.2.840.10008.1.2.4.90",
            b"\x00\x00\x00\x0cjP  \r\n\x87\n"
            + b"\x00\x00\x00\x10ftypjp2 \x00\x00\x00\x00"
            + (8 + len(_SIZ)).to_bytes(4, "big")
            + b"jp2c"
            + _SIZ,
            ((12, 34), 16, 1),
        ),
        # A head read that ends inside the SIZ segment: the size only.
        ("1.2.840.10008.1.2.4.90", _SIZ[:24], ((12, 34), None, None)),
        # SOF0 stating 0 lines: the height comes later (a DNL segment), so no claim of size.
        (
            "1.2.840.10008.1.2.4.50",
            b"\xff\xd8\xff\xc0\x00\x0b\x08\x00\x00\x00\x22\x01\x01\x11\x00",
            (None, 8, 1),
        ),
        ("1.2.840.10008.1.2.5", b"\x01\x00\x00\x00", None),  # RLE states nothing
        ("1.2.840.10008.1.2.4.80", b"\x00\x01garbage", None),  # not a JPEG-LS stream
    ],
    ids=[
        "jpeg-app0-sof3",
        "jpeg-ls-3-components",
        "jp2-box",
        "j2k-short",
        "jpeg-dnl",
        "rle",
        "junk",
    ],
)
def test_codestream_header_reads_what_the_codestream_states(syntax, header, expected):
    from lazyvol.dicom.codestream import codestream_header

    assert codestream_header(syntax, header) == expected


def _relabel(files, **attrs):
    for f in files:
        ds = pydicom.dcmread(f)
        for keyword, value in attrs.items():
            setattr(ds, keyword, value)
        ds.save_as(f)


@pytest.mark.parametrize("syntax", [JPEGLSLossless, JPEG2000Lossless], ids=["jpeg-ls", "j2k"])
def test_a_codestream_wider_than_bits_allocated_is_refused_at_open(tmp_path, syntax):
    # A 16-bit codestream under a header saying 8/8/7 bits: the decoded values were cut to int8
    # (JPEG 2000) or read as zeros (JPEG-LS) with no error; pydicom's pixel_array is wrong too.
    truth = write_dicom_series(tmp_path / "s", (32, 32, 2), dtype="int16", compress=syntax)
    _relabel(truth.files, BitsAllocated=8, BitsStored=8, HighBit=7)
    first = pydicom.dcmread(truth.files[0]).pixel_array
    assert first.dtype == np.int8 and not np.array_equal(first, truth.stored[:, :, 0].T)
    with pytest.raises(
        lv.FormatError, match=r"16-bit samples but BitsAllocated \(0028,0100\) is 8.*fix BitsAll"
    ) as exc:
        lv.open(tmp_path / "s")
    assert any(f in str(exc.value) for f in truth.files)


@pytest.mark.parametrize("syntax", [JPEGLSLossless, JPEG2000Lossless], ids=["jpeg-ls", "j2k"])
@pytest.mark.parametrize(
    ("dtype", "attrs"),
    [
        ("uint8", {"BitsAllocated": 16, "BitsStored": 16, "HighBit": 15}),  # 8 bits in 16
        ("uint16", {"BitsStored": 12, "HighBit": 11}),  # a 16-bit codestream, BitsStored 12
        ("int16", {"BitsStored": 12, "HighBit": 11}),
    ],
    ids=["8-in-16", "u16-bs12", "i16-bs12"],
)
def test_a_codestream_within_bits_allocated_still_reads(tmp_path, syntax, dtype, attrs):
    # The codestream's values fit the header's type: read as written (as pydicom reads them).
    truth = write_dicom_series(tmp_path / "s", (32, 32, 2), dtype=dtype, compress=syntax)
    _relabel(truth.files, **attrs)
    np.testing.assert_array_equal(lv.open(tmp_path / "s", scale=False).compute(), truth.stored)


@pytest.mark.parametrize("syntax", [JPEGLSLossless, JPEG2000Lossless], ids=["jpeg-ls", "j2k"])
def test_a_codestream_sign_other_than_pixel_representation_reads_as_pydicom(tmp_path, syntax):
    # The sign is not compared: PixelRepresentation decides, as in pydicom (which corrects values
    # some encoders wrote as unsigned).
    truth = write_dicom_series(tmp_path / "s", (32, 32, 2), dtype="int16", compress=syntax)
    _relabel(truth.files, PixelRepresentation=0)
    want = np.stack([pydicom.dcmread(f).pixel_array.T for f in truth.files], axis=-1)
    np.testing.assert_array_equal(lv.open(tmp_path / "s", scale=False).compute(), want)


def test_a_codestream_of_other_components_than_samples_per_pixel_is_refused_at_open(tmp_path):
    # A three-component (RGB) codestream under SamplesPerPixel 1: decoded only to fail when read.
    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_encoder

    truth = write_dicom_series(tmp_path / "s", (16, 12, 2), dtype="uint8", compress=JPEGLSLossless)
    rgb = np.random.default_rng(0).integers(0, 255, (12, 16, 3), dtype=np.uint8)
    layout = dict(rows=12, columns=16, samples_per_pixel=3, photometric_interpretation="RGB")
    layout.update(bits_allocated=8, bits_stored=8, pixel_representation=0, number_of_frames=1)
    encoded = get_encoder(JPEGLSLossless).encode(rgb, planar_configuration=0, **layout)
    _relabel(truth.files, PixelData=encapsulate([encoded]))
    with pytest.raises(
        lv.FormatError, match=r"3 component\(s\) a pixel but SamplesPerPixel \(0028,0002\) is 1"
    ) as exc:
        lv.open(tmp_path / "s")
    assert any(f in str(exc.value) for f in truth.files)


def test_a_later_frame_wider_than_bits_allocated_is_refused_at_open(tmp_path):
    # Every frame's codestream head is read at open: a later 16-bit frame among 8-bit ones is
    # refused at open, naming the frame (it was refused by the pixel reader when read).
    from pydicom.encaps import encapsulate, generate_frames

    good, wide = tmp_path / "good.dcm", tmp_path / "wide.dcm"
    write_enhanced_dicom(good, (48, 40, 4), dtype="uint8", compress=JPEGLSLossless)
    write_enhanced_dicom(wide, (48, 40, 4), dtype="uint16", compress=JPEGLSLossless, seed=3)
    ds = pydicom.dcmread(good)
    frames = list(generate_frames(ds.PixelData, number_of_frames=4))
    frames[2] = list(generate_frames(pydicom.dcmread(wide).PixelData, number_of_frames=4))[2]
    ds.PixelData = encapsulate(frames, has_bot=True)
    ds.save_as(good)
    with pytest.raises(lv.FormatError, match=r"\(frame 3 of 4\): the compressed image has 16-bit"):
        lv.open(good)  # (frame 1 agrees)


@pytest.mark.parametrize(("keyword", "value"), [("Rows", 20), ("Columns", 24)])
@pytest.mark.parametrize("enhanced", [False, True], ids=["single-frame", "enhanced"])
def test_rle_frames_longer_than_rows_and_columns_are_refused_when_read(
    tmp_path, keyword, value, enhanced
):
    # RLE states no image size, and its decoder (pylibjpeg-rle) cuts a segment longer than Rows x
    # Columns to that size without a word: a header halving Rows or Columns gave the top half of
    # each slice, or a scrambled one. Each frame's first segment is measured before decoding.
    if enhanced:
        write_enhanced_dicom(tmp_path / "e.dcm", shape=(48, 40, 4))  # 40 rows x 48 columns
        files = [str(tmp_path / "e.dcm")]
    else:
        files = write_dicom_series(tmp_path / "s", (48, 40, 3)).files
    truth = [pydicom.dcmread(f).pixel_array for f in files]
    for f in files:
        ds = pydicom.dcmread(f)
        ds.compress(RLELossless)
        ds.save_as(f)
    target = files[0] if enhanced else tmp_path / "s"
    good = lv.open(target).compute()  # (the files as written read as pydicom reads them)
    want = truth[0] if enhanced else np.stack(truth)
    np.testing.assert_array_equal(np.moveaxis(good, -1, 0).transpose(0, 2, 1), want)
    for f in files:
        ds = pydicom.dcmread(f)
        setattr(ds, keyword, value)
        ds.save_as(f)
    vol = lv.open(target)
    with pytest.raises(lv.FormatError, match=r"RLE segments decode to 1920 bytes a plane but Rows"):
        vol.compute()


@pytest.mark.parametrize(
    ("name", "label", "found"),
    [
        ("MR_small_jp2klossless.dcm", "1.2.840.10008.1.2.4.50", "a JPEG 2000 codestream"),
        ("MR_small_jpeg_ls_lossless.dcm", "1.2.840.10008.1.2.4.90", "a JPEG codestream"),
        ("MR_small_jp2klossless.dcm", "1.2.840.10008.1.2.4.80", "a JPEG 2000 codestream"),
    ],
)
def test_a_codestream_of_another_family_than_its_syntax_is_refused(tmp_path, name, label, found):
    # A JPEG 2000 frame labelled JPEG Baseline decoded (the decoder looks at the data) into values
    # 32768 below the original's, with no error; a frame is the codestream its syntax names.
    ds = pydicom.dcmread(get_testdata_file(name))
    ds.file_meta.TransferSyntaxUID = label
    ds.save_as(tmp_path / "x.dcm")
    with pytest.raises(lv.FormatError, match=f"holds {found}, but TransferSyntaxUID") as exc:
        lv.open(tmp_path / "x.dcm")
    assert "x.dcm" in str(exc.value)


def _j2k_claiming(rows: int, columns: int) -> bytes:
    """A small JPEG 2000 codestream whose SIZ segment states ``rows`` x ``columns`` (one tile)."""
    import imagecodecs

    data = bytearray(
        imagecodecs.jpeg2k_encode(np.zeros((16, 16), "<u2"), level=0, codecformat="J2K")
    )
    at = data.find(b"\xff\x51")  # SIZ: Lsiz Rsiz, then Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz
    struct.pack_into(">6I", data, at + 6, columns, rows, 0, 0, columns, rows)
    return bytes(data)


@pytest.mark.parametrize("enhanced", [False, True], ids=["single-frame", "enhanced"])
def test_compressed_frames_claiming_more_than_the_chunk_limit_are_refused_at_open(
    tmp_path, enhanced
):
    # A header and codestream that agree on 40000 x 40000 16-bit frames (3.2 GB each) in files of
    # about a kilobyte: opened as a 9 GB volume, and reading one voxel had the decoder allocate
    # the whole frame (no byte backs a compressed frame's size; RLE's ratio bound cannot apply to
    # JPEG 2000, whose constant image takes a few bytes at any size). Refused at open as a Zarr
    # chunk over LAZYVOL_MAX_CHUNK_BYTES is, before any frame is read.
    pytest.importorskip("imagecodecs")
    from pydicom.encaps import encapsulate

    if enhanced:
        write_enhanced_dicom(tmp_path / "e.dcm", shape=(16, 16, 3))
        files = [str(tmp_path / "e.dcm")]
    else:
        files = write_dicom_series(tmp_path / "s", (16, 16, 3)).files
    for f in files:
        ds = pydicom.dcmread(f)
        frames = int(ds.get("NumberOfFrames", 1))
        ds.PixelData = encapsulate([_j2k_claiming(40000, 40000)] * frames, has_bot=True)
        ds["PixelData"].VR, ds["PixelData"].is_undefined_length = "OB", True
        ds.Rows = ds.Columns = 40000
        ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
        ds.save_as(f)
    with pytest.raises(
        lv.ResourceLimitError,
        match=r"40000 x 40000 .* with its decoder.s buffers, 16000000000 bytes per frame",
    ):
        lv.open(files[0] if enhanced else tmp_path / "s")


def test_the_frame_limit_is_the_chunk_limit_setting_and_native_frames_are_not_held_to_it(
    tmp_path, monkeypatch
):
    # A native frame's bytes are in the file (its length is checked at open): only a compressed
    # frame's size is a claim. The limit is LAZYVOL_MAX_CHUNK_BYTES, as for Zarr chunks.
    truth = write_dicom_series(tmp_path / "native", (32, 24, 3))
    write_dicom_series(tmp_path / "rle", (32, 24, 3), compress=RLELossless)
    monkeypatch.setenv("LAZYVOL_MAX_CHUNK_BYTES", str(32 * 24 * 2 - 1))
    np.testing.assert_array_equal(lv.open(tmp_path / "native").compute(), truth.stored)
    with pytest.raises(lv.ResourceLimitError, match="RLE Lossless frame of Rows x Columns 24 x 32"):
        lv.open(tmp_path / "rle")
    monkeypatch.setenv("LAZYVOL_MAX_CHUNK_BYTES", str(32 * 24 * 2))
    np.testing.assert_array_equal(lv.open(tmp_path / "rle").compute(), truth.stored)
