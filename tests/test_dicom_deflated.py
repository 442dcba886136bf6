"""Deflated Explicit VR Little Endian (1.2.840.10008.1.2.1.99) files are read, lazily and in a
stream, with the values pydicom decodes and the synthetic truth's geometry; what cannot be read
so (encapsulated pixels inside, a size no deflate stream expands to, a stream cut short) is a
typed refusal naming the file. dcm2niix does not convert such files ("Unsupported transfer
syntax"), so the references are pydicom and the written truth."""

from __future__ import annotations

import os
import shutil
import tracemalloc
import warnings
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import _read_file_meta_info
from pydicom.filewriter import write_file_meta_info
from pydicom.pixels import apply_rescale
from pydicom.uid import DeflatedExplicitVRLittleEndian

import lazyvol as lv
from lazyvol.dicom.deflated import inflate_spans
from lazyvol.dicom.header import read_header
from lazyvol.testing import write_dicom_series, write_enhanced_dicom, write_mosaic_series


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))


def _deflate(files) -> None:
    """Rewrite each file with its data set deflated, by pydicom."""
    for f in files:
        ds = pydicom.dcmread(f)
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        ds.save_as(f, enforce_file_format=True)


def _deflated_copy(src, dst, patch=lambda data: data) -> None:
    """``dst``: ``src`` (an explicit VR little endian file, native or encapsulated) with its data
    set, changed by ``patch``, deflated raw after a file meta saying Deflated."""
    with open(src, "rb") as f:
        f.seek(132)
        meta = _read_file_meta_info(f)
        data = patch(f.read())
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, False
    write_file_meta_info(out, meta, enforce_standard=True)
    body = zlib.compressobj(6, zlib.DEFLATED, -15)
    Path(dst).write_bytes(
        bytes(128) + b"DICM" + out.getvalue() + body.compress(data) + body.flush()
    )


def _pydicom_volume(files) -> np.ndarray:
    """pydicom's rescaled values of single-frame files, as (i, j, k)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slices = []
        for f in files:
            ds = pydicom.dcmread(f)
            slices.append(apply_rescale(ds.pixel_array, ds).T)
    return np.stack(slices, axis=-1)


def test_pydicoms_deflated_test_file_reads_as_pydicom_decodes_it():
    path = get_testdata_file("image_dfl.dcm")
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    # (it states no ImagePositionPatient: stacked by InstanceNumber, as lazyvol offers)
    vol = lv.open(path, instance_order=True)
    got = vol.compute()
    assert got.dtype == ds.pixel_array.dtype
    np.testing.assert_array_equal(got[:, :, 0], ds.pixel_array.T)


def test_a_deflated_series_reads_as_pydicom_and_the_written_truth(tmp_path):
    # 12 of 16 bits stored with junk in the high bits, a rescale per slice
    truth = write_dicom_series(
        tmp_path / "s",
        (24, 20, 6),
        bits_stored=12,
        dirty_high_bits=True,
        slope=[0.5, 1.0, 2.0, 1.0, 1.0, 4.0],
        intercept=-1024.0,
        orientation="oblique",
    )
    _deflate(truth.files)
    vol = lv.open(tmp_path / "s", chunks=(24, 20, 4))  # (a block of two files, and of four)
    np.testing.assert_array_equal(vol.compute(), _pydicom_volume(truth.files))
    np.testing.assert_allclose(vol.compute(), truth.scaled(), rtol=0, atol=0)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    raw = lv.open(tmp_path / "s", scale=False).compute()
    np.testing.assert_array_equal(raw, truth.stored)
    # a slab from the middle, and the header read by pydicom's reader gives the same record
    np.testing.assert_array_equal(vol[3:9, 2:17, 1:4].compute(), truth.scaled()[3:9, 2:17, 1:4])
    assert read_header(truth.files[2], walker=False) == read_header(truth.files[2])


def test_a_series_of_deflated_and_native_files_reads_each_its_own_way(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (16, 12, 5), dtype="uint16", slope=2.0)
    _deflate(truth.files[1::2])
    vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), _pydicom_volume(truth.files))
    np.testing.assert_array_equal(vol.compute(), truth.scaled())


def test_a_deflated_enhanced_file_reads_its_frames_in_one_pass(tmp_path, monkeypatch):
    from lazyvol.dicom import pixels

    passes: list[int] = []
    real = pixels.inflate_spans
    monkeypatch.setattr(pixels, "inflate_spans", lambda *a: passes.append(len(a[3])) or real(*a))
    path = tmp_path / "enh.dcm"
    truth = write_enhanced_dicom(path, (16, 12, 6), frame_order=[3, 0, 5, 1, 4, 2], n_volumes=2)
    _deflate([path])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frames = pydicom.dcmread(path).pixel_array
    vol = lv.open(path, chunks=(16, 12, 6, 2))
    got = vol.compute()
    np.testing.assert_array_equal(got, truth.stored)
    assert passes == [12]  # one pass over the stream for the block's 12 frames
    assert sorted(got[..., 0].T.reshape(6, -1).tolist()) == sorted(
        frames[:6].reshape(6, -1).tolist()
    )
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)


def test_encapsulated_pixels_in_a_deflated_data_set_are_refused_naming_the_file(tmp_path):
    (tmp_path / "d").mkdir()
    _deflated_copy(get_testdata_file("MR_small_RLE.dcm"), tmp_path / "d" / "rle.dcm")
    report = lv.scan(tmp_path / "d")
    (skipped,) = report.skipped
    assert skipped[0].endswith("rle.dcm") and "encapsulated" in skipped[1]
    with pytest.raises(lv.UnsupportedError, match=r"rle\.dcm.*encapsulated"):
        lv.open(tmp_path / "d")


def _pixel_length_patch(length: int):
    """A patch of a data set's Pixel Data (OW) element length."""

    def patch(data: bytes) -> bytes:
        at = data.index(b"\xe0\x7f\x10\x00OW\x00\x00")
        return data[: at + 8] + length.to_bytes(4, "little") + data[at + 12 :]

    return patch


def test_a_size_no_deflate_stream_reaches_is_refused_before_inflating(tmp_path, monkeypatch):
    truth = write_dicom_series(tmp_path / "src", (16, 12, 1))
    # Pixel Data claiming ~4 GiB in a file of a few hundred bytes: a lying header or a zip bomb
    _deflated_copy(truth.files[0], tmp_path / "bomb.dcm", _pixel_length_patch(0xFFFFFFF0))
    reads: list[int] = []
    real = zlib.decompressobj

    def counted(*a, **k):
        reads.append(1)
        return real(*a, **k)

    result = read_header(str(tmp_path / "bomb.dcm"))
    assert "cannot inflate to more than" in result.reason
    monkeypatch.setattr(zlib, "decompressobj", counted)
    read_header(str(tmp_path / "bomb.dcm"))
    assert len(reads) == 1  # the header's inflate only: the pixels' never began


def test_a_deflated_file_cut_short_is_skipped_as_truncated(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (64, 64, 3), seed=3)
    _deflate(truth.files)
    cut = Path(truth.files[1])
    cut.write_bytes(cut.read_bytes()[: -cut.stat().st_size // 3])
    report = lv.scan(tmp_path / "s")
    (skipped,) = report.skipped
    assert skipped[0] == os.fspath(cut) and skipped[1].startswith("truncated")
    assert "series incomplete" in " ".join(report[0].warnings)


def test_a_stream_inflating_beyond_its_pixel_data_keeps_only_the_frames(tmp_path):
    # 200 MiB of zeros deflate to ~200 KiB: reading a frame at its end holds that frame and
    # zlib's state, never the stream inflated before it
    body = zlib.compressobj(1, zlib.DEFLATED, -15)
    data = b"x" * 8
    for _ in range(200):
        data += body.compress(bytes(2**20))
    data += body.flush()
    path = tmp_path / "z.bin"
    path.write_bytes(data)

    def read(pos: int, n: int) -> bytes:
        with open(path, "rb") as f:
            f.seek(pos)
            return f.read(n)

    tracemalloc.start()
    try:
        got = inflate_spans(read, 8, len(data), [(150 * 2**20, 4096), (199 * 2**20, 65536)], "z")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [len(g) for g in got] == [4096, 65536] and not any(b"".join(got))
    assert peak < 8 * 2**20
    with pytest.raises(lv.FormatError, match="truncated"):
        inflate_spans(read, 8, len(data), [(201 * 2**20, 10)], "z")


def test_a_deflated_mosaic_series_reads_its_tiles(tmp_path):
    truth = write_mosaic_series(tmp_path / "m", (16, 12, 7), volumes=3)
    _deflate(truth.files)
    vol = lv.open(tmp_path / "m", chunks=(16, 12, 3, 2))
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    # each mosaic as pydicom decodes it, cut into its tiles
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = pydicom.dcmread(truth.files[1]).pixel_array
    np.testing.assert_array_equal(whole[:12, 16:32].T, vol.compute()[:, :, 1, 1])


def test_references_of_a_deflated_series_are_refused_saying_why(tmp_path):
    from lazyvol.refs import references

    truth = write_dicom_series(tmp_path / "s", (8, 6, 3))
    _deflate(truth.files)
    with pytest.raises(lv.UnsupportedError, match=r"Deflated.*no byte offset"):
        references(str(tmp_path / "s"))


def test_two_deflated_copies_of_an_image_are_compared_by_their_values(tmp_path):
    """Two copies of one SOPInstanceUID, both Deflated: compared by the values pydicom decodes
    (their pixel offsets count inflated bytes: the files' bytes there are deflate data). The same
    image is one slice; other values are a conflict."""
    truth = write_dicom_series(tmp_path / "s", (16, 12, 4), seed=7)
    _deflate(truth.files)
    same = tmp_path / "s" / "copy.dcm"
    ds = pydicom.dcmread(truth.files[1])
    ds.ImageComments = "a copy"  # (other deflate bytes before and at the pixels, the same values)
    ds.save_as(same, enforce_file_format=True)
    with pytest.warns(RuntimeWarning, match="exact duplicate"):
        vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.scaled())
    arr = ds.pixel_array.copy()
    arr[3, 4] += 1
    ds.PixelData = arr.tobytes()
    ds.save_as(same, enforce_file_format=True)
    with pytest.raises(lv.SeriesError, match=r"copy\.dcm"):
        lv.open(tmp_path / "s", use_index=False)


def test_a_deflated_file_is_checked_past_its_pixels_as_a_native_one(tmp_path):
    """The scan inflates on through the pixel data: trailing padding after them is read past,
    and bytes past the stated image that hold data are refused, as in a native file."""
    truth = write_dicom_series(tmp_path / "pad", (16, 12, 3))
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.add_new(0xFFFCFFFC, "OB", b"\0" * 100)  # DataSetTrailingPadding
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        ds.save_as(f, enforce_file_format=True)
    np.testing.assert_array_equal(lv.open(tmp_path / "pad").compute(), truth.scaled())
    more = write_dicom_series(tmp_path / "excess", (16, 12, 3))
    for f in more.files:
        ds = pydicom.dcmread(f)
        ds.PixelData = ds.PixelData + b"\x01\x02" * 8  # 16 bytes of data past the image
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        ds.save_as(f, enforce_file_format=True)
    with pytest.raises(lv.FormatError, match=r"IM00000\.dcm: Pixel Data .* 16 more .*non-zero"):
        lv.open(tmp_path / "excess")


@pytest.mark.parametrize("series", ["20180918Si/mr_0003", "20180918GE/mr_0004"])
def test_a_deflated_copy_of_a_real_series_reads_as_dcm2niix_converts_the_original(tmp_path, series):
    """Real scanner series (a Siemens mosaic, GE slices) deflated by pydicom: their values and
    geometry, and the Siemens sidecar keys of the CSA headers and the protocol text (located by
    the header scan in inflated bytes: they were read at those offsets of the file, deflate
    data, and silently left out), as dcm2niix converts the original files."""
    import nibabel as nib

    from test_dicom_mosaic import on_reference_grid, sidecar_pair
    from test_dicom_realdata import REAL
    from test_dicom_siemens_sidecar import KEYS

    src = REAL / "dcm_qa_nih" / "In" / series
    if not src.is_dir():
        pytest.skip(f"{src} not available (set LAZYVOL_REAL_DICOM to the dicom-real folder)")
    copy = tmp_path / "deflated"
    shutil.copytree(src, copy)
    _deflate(sorted(p for p in copy.iterdir() if p.suffix in (".dcm", "")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vol = lv.open(copy)
        mine, ref = sidecar_pair(src, tmp_path / "cmp", KEYS, vol=vol)
    assert mine == ref
    if "Si" in series:
        assert {"TxRefAmp", "ShimSetting", "BaseResolution"} <= ref.keys()
    reference = nib.load(tmp_path / "cmp" / "ref" / "ref.nii")
    np.testing.assert_array_equal(on_reference_grid(vol, reference), reference.get_fdata())


def _with_tail(files, nbytes: int) -> None:
    """Deflate each file with ``nbytes`` of zero trailing padding after its pixels (a data set
    inflating to far more than its image: a deflate bomb's tail)."""
    for f in files:
        ds = pydicom.dcmread(f)
        ds.add_new(0xFFFCFFFC, "OB", bytes(nbytes))  # DataSetTrailingPadding
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        ds.save_as(f, enforce_file_format=True)


def test_a_deflated_header_is_read_in_a_stream_as_pydicom_reads_it(tmp_path):
    """``vol.dicom_header()`` of a Deflated file: pydicom's elements, parsed as the data set
    inflates; pydicom's dcmread inflated the whole data set, a 64 MiB tail too, to show it."""
    truth = write_dicom_series(tmp_path / "s", (16, 12, 2))
    _with_tail(truth.files, 64 << 20)
    vol = lv.open(tmp_path / "s")
    tracemalloc.start()
    try:
        got = vol.dicom_header(k=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    ref = pydicom.dcmread(truth.files[1], stop_before_pixels=True)
    assert got.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    assert [e.tag for e in got] == [e.tag for e in ref]
    assert all(got[e.tag].value == e.value for e in ref)
    assert peak < 16 << 20, peak


def test_deflated_copies_are_compared_within_what_the_scan_inflated(tmp_path):
    """Two copies of one SOPInstanceUID, one Deflated with a 64 MiB tail after its pixels: they
    are compared by decoded values (another syntax), inflated up to the end of the pixels only;
    pydicom's reader inflated the whole data set."""
    truth = write_dicom_series(tmp_path / "s", (16, 12, 3), seed=9)
    copy = tmp_path / "s" / "copy.dcm"
    shutil.copy(truth.files[1], copy)
    _with_tail([copy], 64 << 20)
    tracemalloc.start()
    try:
        with pytest.warns(RuntimeWarning, match="exact duplicate"):
            vol = lv.open(tmp_path / "s")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(vol.compute(), truth.scaled())
    assert peak < 32 << 20, peak


@pytest.mark.parametrize("keep", [0.5, 0.2])
def test_a_deflated_header_cut_short_since_the_scan_is_an_error_not_fewer_elements(tmp_path, keep):
    """``vol.dicom_header()`` re-reads the file: one cut short since its scan (inside its
    header) gave a data set of the elements before the cut (1 of 27, or none) without a word,
    where pydicom's dcmread raises; now a FormatError naming the file."""
    from lazyvol.errors import FormatError

    text = "".join(np.random.default_rng(0).choice(list("ABCDEFGHIJ"), 4000))  # (incompressible)
    truth = write_dicom_series(tmp_path / "s", (8, 6, 2), extra={"PatientComments": text})
    _deflate(truth.files)
    vol = lv.open(tmp_path / "s")
    path = Path(vol.dicom_header(k=0).filename)
    ref = pydicom.dcmread(path, stop_before_pixels=True)
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])  # (the header is most of the file)
    with pytest.raises(Exception, match=r"truncated|incomplete"):
        pydicom.dcmread(path, stop_before_pixels=True)
    with pytest.raises(FormatError, match=str(path)):
        _header_again(path)
    path.write_bytes(raw)
    assert [e.tag for e in _header_again(path)] == [e.tag for e in ref]


def _header_again(path):
    from lazyvol.headers import read_dataset

    return read_dataset(str(path))
