"""Correctness of the DICOM fast paths (slab reads, header walker) against pydicom, voxel by voxel."""

from __future__ import annotations

import gc
import os
import warnings

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

SHAPE = (20, 24, 12)


def pydicom_volume(files: list[str], dtype: str = "float64", scale: bool = True) -> np.ndarray:
    """(i, j, k) volume from pydicom's pixel_array (its own unused-bit and byte-order handling)."""
    planes = []
    for f in files:
        ds = pydicom.dcmread(f)
        a = ds.pixel_array.astype(np.float64)
        if scale:
            a = a * float(getattr(ds, "RescaleSlope", 1)) + float(
                getattr(ds, "RescaleIntercept", 0)
            )
        planes.append(a.T)
    return np.stack(planes, axis=-1).astype(dtype)


VARIANTS = [
    dict(dtype="int16", bits_stored=12, intercept=-1024.0, dirty_high_bits=True),
    dict(dtype="int16", bits_stored=16, intercept=-1024.0),
    dict(dtype="uint16", bits_stored=12, dirty_high_bits=True, syntax="big"),
    dict(dtype="int16", bits_stored=10, dirty_high_bits=True, syntax="implicit", slope=2.0),
    dict(dtype="uint8", syntax="big"),
    dict(dtype="int8", bits_stored=6, dirty_high_bits=True),
    dict(dtype="int32", bits_stored=20, dirty_high_bits=True, slope=0.25, intercept=3.5),
    dict(dtype="uint16", slope=[1.0] * 6 + [0.5] * 6, intercept=[0.0] * 3 + [7.0] * 9),
    dict(dtype="uint8", slope=3.0, intercept=-5.0),  # integer scale into a wider integer dtype
    dict(dtype="int16", slope=[2.0] * 6 + [1.0] * 6, intercept=[0.0] * 6 + [-1024.0] * 6),
]


@pytest.mark.parametrize(
    "kw", VARIANTS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items())[:60]
)
@pytest.mark.parametrize("chunks", [(20, 24, 5), (7, 24, 12), (20, 9, 4)])
def test_slab_reads_match_pydicom(tmp_path, kw, chunks):
    truth = write_dicom_series(tmp_path / "s", SHAPE, seed=5, **kw)
    vol = lv.open(tmp_path / "s", chunks=chunks)
    ref = pydicom_volume(truth.files)
    got = vol.data.compute()
    assert got.dtype == vol.dtype
    np.testing.assert_array_equal(got.astype(np.float64), ref)
    raw = lv.open(tmp_path / "s", chunks=chunks, scale=False).data.compute()
    np.testing.assert_array_equal(raw, pydicom_volume(truth.files, scale=False))
    # Strided and partial selections go through the same slab reader.
    np.testing.assert_array_equal(
        vol[3:17:2, ::-3, 1:11:3].compute().astype(np.float64), ref[3:17:2, ::-3, 1:11:3]
    )


def test_int16_output_stays_int16_when_range_allows(tmp_path):
    truth = write_dicom_series(
        tmp_path / "s", SHAPE, dtype="int16", bits_stored=12, intercept=-1024.0
    )
    vol = lv.open(tmp_path / "s")
    assert vol.dtype == np.int16
    np.testing.assert_array_equal(vol.data.compute(), pydicom_volume(truth.files, "int16"))


def test_big_slabs_come_from_the_block_pool_and_stay_correct(tmp_path):
    """Slabs of 1 MiB or more are pooled block maps (a pass's later slabs reuse the pages of its
    earlier ones instead of faulting fresh memory in); every pass still gives pydicom's values,
    and a slab the caller keeps is never handed to the next one."""
    from lazyvol import _blockpool

    truth = write_dicom_series(
        tmp_path / "s", (256, 256, 24), dtype="int16", bits_stored=12, intercept=-1024.0, seed=3
    )
    ref = pydicom_volume(truth.files, "int16")
    _blockpool.clear()
    vol = lv.open(tmp_path / "s", chunks=(256, 256, 8))  # 1 MiB slabs
    for _ in range(2):
        assert int(vol.data.sum(dtype=np.int64).compute()) == int(ref.sum(dtype=np.int64))
        gc.collect()
        assert _blockpool.pooled_bytes() >= 2**20
    kept = vol[:, :, 0:8].compute()
    again = vol[:, :, 8:16].compute()  # may reuse a pooled map, never the one ``kept`` holds
    np.testing.assert_array_equal(kept, ref[:, :, 0:8])
    np.testing.assert_array_equal(again, ref[:, :, 8:16])
    _blockpool.clear()


def test_forced_dtype_and_gap_fill(tmp_path):
    truth = write_dicom_series(
        tmp_path / "s", SHAPE, dtype="int16", bits_stored=12, intercept=-1024.0
    )
    ref = pydicom_volume(truth.files)
    vol = lv.open(tmp_path / "s", dtype="float32", chunks=(20, 24, 5))
    np.testing.assert_array_equal(vol.data.compute(), ref.astype(np.float32))
    os.remove(truth.files[6])
    vol = lv.open(tmp_path / "s", allow_gaps=True, fill=-2000, chunks=(20, 24, 5))
    got = vol.data.compute()
    np.testing.assert_array_equal(got[..., 6], -2000)
    keep = [k for k in range(12) if k != 6]
    np.testing.assert_array_equal(got[..., keep], ref[..., keep])


def test_truncated_file_names_file(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE, dtype="int16")
    vol = lv.open(tmp_path / "s", chunks=(20, 24, 4))
    # Same size, so open-time checks pass; then truncate behind the scan's back.
    with open(truth.files[5], "r+b") as f:
        f.truncate(os.path.getsize(truth.files[5]) - 10)
    with pytest.raises(lv.FormatError, match="truncated"):
        vol.data.compute()


# -- the minimal header walker ---------------------------------------------------------------------


def _records_both_ways(monkeypatch, path: str):
    from lazyvol.dicom import header

    def norm(res):
        if isinstance(res, list):
            return [r.to_list() for r in res]
        return res.to_list() if hasattr(res, "to_list") else res

    fast = norm(header.read_header(path, walker=True))
    ref = norm(header.read_header(path, walker=False))
    return fast, ref


def _walked(path: str) -> bool:
    from lazyvol.dicom import walker

    fd = os.open(path, os.O_RDONLY)
    try:
        fetch = lambda pos, n: os.pread(fd, n, pos)  # noqa: E731
        return walker.walk_file(fetch, os.fstat(fd).st_size) is not None
    finally:
        os.close(fd)


def _sequences(undefined: bool, nested: bool):
    """A private-free SQ (ReferencedImageSequence) with items, optionally of undefined length."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    items = []
    for n in range(2):
        it = Dataset()
        it.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        it.ReferencedSOPInstanceUID = f"1.2.3.{n}"
        if nested:
            inner = Dataset()
            inner.CodeValue = "X" * (n + 1)
            inner.CodingSchemeDesignator = "DCM"
            it.PurposeOfReferenceCodeSequence = Sequence([inner])
        items.append(it)
    return Sequence(items)


WALKER_VARIANTS = [
    dict(syntax="explicit"),
    dict(syntax="implicit"),
    dict(syntax="big"),
    dict(syntax="explicit", dtype="uint8"),
    dict(syntax="implicit", dtype="int32", bits_stored=20, slope=0.5, intercept=-3.25),
    dict(syntax="big", dtype="uint16", bits_stored=12, description="Ünïcode desc"),
    dict(syntax="explicit", extra={"SpecificCharacterSet": "ISO_IR 100"}, description="Ünïcode"),
    dict(syntax="explicit", orientation="oblique", reverse_instance_numbers=True),
]


@pytest.mark.parametrize(
    "kw", WALKER_VARIANTS, ids=lambda kw: "-".join(f"{k}" for k in kw.values())[:50]
)
@pytest.mark.parametrize("seq", ["none", "defined", "undefined", "undefined-nested"])
def test_walker_records_identical_to_pydicom_path(tmp_path, monkeypatch, kw, seq):
    import pydicom

    truth = write_dicom_series(tmp_path / "s", (6, 5, 3), **kw)
    if seq != "none":
        for f in truth.files:
            ds = pydicom.dcmread(f)
            ds.ReferencedImageSequence = _sequences(seq != "defined", seq.endswith("nested"))
            ds.add_new(0x00091010, "LO", "private value")  # private tag before the wanted ones
            if seq != "defined":
                elem = ds["ReferencedImageSequence"]
                elem.is_undefined_length = True
                for it in elem.value:
                    it.is_undefined_length_sequence_item = True
                    if "PurposeOfReferenceCodeSequence" in it:
                        it["PurposeOfReferenceCodeSequence"].is_undefined_length = True
                        for inner in it.PurposeOfReferenceCodeSequence:
                            inner.is_undefined_length_sequence_item = True
            ds.save_as(f, enforce_file_format=True)
    for f in truth.files:
        assert _walked(f), f"walker fell back on a plain generated file {f}"
        fast, ref = _records_both_ways(monkeypatch, f)
        assert fast == ref


def _pydicom_test_files() -> list[str]:
    """Every file pydicom ships in its wheel (its downloadable extras are not fetched here)."""
    import pydicom.data

    root = os.path.dirname(pydicom.data.__file__)
    out = []
    for folder, _, names in os.walk(root):
        out += [os.path.join(folder, n) for n in names if not n.endswith((".py", ".pyc"))]
    return sorted(out)


def test_walker_identical_on_every_pydicom_test_file(monkeypatch):
    files = _pydicom_test_files()
    assert len(files) > 50
    walked = 0
    for f in files:
        fast, ref = _records_both_ways(monkeypatch, f)
        assert fast == ref, f
        walked += _walked(f)
    # Most of them are taken by the walker (the rest fall back to pydicom by design).
    assert walked > len(files) // 2


def _walk_result(walk, data: bytes, start: int):
    """``walk(window, start, out)`` on ``data``: (position, raw values) or the Unusual message."""
    from lazyvol.dicom import walker

    w = walker.Window(lambda off, n: data[off : off + n], len(data), 0, data[: walker.WINDOW])
    out: dict = {}
    try:
        at = walk(w, start, out)
    except walker.Unusual as exc:
        return ("unusual", str(exc))
    return (at, {t: (v.value, v.is_little_endian) for t, v in out.items()})


def test_explicit_little_endian_walk_equals_the_general_walk_on_damaged_headers(tmp_path):
    """The Explicit VR Little Endian loop (``_walk_le``, nearly every file) is a specialisation of
    the general walk: the same position, values and refusals on intact headers with sequences and
    private elements, and on truncated and damaged copies (the general walk is checked against
    pydicom above)."""
    import random

    import pydicom

    from lazyvol.dicom import walker

    truth = write_dicom_series(tmp_path / "s", (6, 5, 2), syntax="explicit")
    ds = pydicom.dcmread(truth.files[0])
    ds.ReferencedImageSequence = _sequences(True, True)
    ds["ReferencedImageSequence"].is_undefined_length = True
    for n in range(40):
        ds.add_new(0x00091000 | (0x10 + n), "LO", f"private value {n}")
    ds.save_as(truth.files[0], enforce_file_format=True)
    data = open(truth.files[0], "rb").read()
    start = 132
    while data[start : start + 2] == b"\x02\x00":  # past the file meta group
        vr = data[start + 4 : start + 6]
        if vr in walker._LONG_VRS:
            start += 12 + int.from_bytes(data[start + 8 : start + 12], "little")
        else:
            start += 8 + int.from_bytes(data[start + 6 : start + 8], "little")

    def general(w, pos, out):
        return walker._walk(w, pos, False, "<", out)

    intact = _walk_result(walker._walk_le, data, start)
    assert intact[0] not in ("unusual", -1) and len(intact[1]) > 10
    assert intact == _walk_result(general, data, start)
    rng = random.Random(15)
    damaged = [data[:cut] for cut in range(start, len(data), 37)]  # truncated anywhere
    private = data.find(b"\x09\x00\x10\x10")  # (0009,1010): an item tag where it cannot be
    damaged.append(data[:private] + b"\xfe\xff\x00\xe0" + data[private + 4 :])
    for _ in range(600):
        bad = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            bad[rng.randrange(start, len(data) - 100)] = rng.randrange(256)
        damaged.append(bytes(bad))
    outcomes = set()
    for bad in damaged:
        fast = _walk_result(walker._walk_le, bad, start)
        assert fast == _walk_result(general, bad, start)
        outcomes.add(fast[1] if fast[0] == "unusual" else "walked")
    # Every kind of outcome was exercised: walked, and refused for each of these reasons.
    assert "walked" in outcomes
    for reason in ("end of file inside an element header", "outside a sequence", "VR b"):
        assert any(reason in o for o in outcomes), reason


def test_walker_never_reads_past_the_header_or_trusts_lengths(tmp_path, monkeypatch):
    truth = write_dicom_series(tmp_path / "s", (256, 256, 1), dtype="int16")
    f = truth.files[0]
    data = bytearray(open(f, "rb").read())
    from lazyvol.dicom import header

    reads: list[int] = []
    real = os.pread
    monkeypatch.setattr(header.os, "pread", lambda fd, n, off: reads.append(n) or real(fd, n, off))
    rec = header.read_header(f)
    assert sum(reads) < 0.1 * len(data)
    assert rec.pixel_length == 256 * 256 * 2
    # A wanted element claiming 4 GB: no 4 GB allocation, falls back, and still a sane answer.
    pos = data.find(b"\x08\x00\x3e\x10")  # SeriesDescription (0008,103E), explicit VR LO
    assert pos > 0
    bad = tmp_path / "bad.dcm"
    data[pos + 4 : pos + 8] = b"UT\x00\x00"
    bad.write_bytes(bytes(data[: pos + 8]) + b"\xff\xff\xff\x7f" + bytes(data[pos + 8 :]))
    reads.clear()
    res = header.read_header(str(bad))
    assert max(reads) < 1 << 20
    assert isinstance(res, header.HeaderSkip)


def test_auto_slabs_are_whole_slices_within_8_mib_unless_configured(tmp_path, monkeypatch):
    write_dicom_series(tmp_path / "s", (256, 256, 100), dtype="int16")
    monkeypatch.delenv("LAZYVOL_CHUNK_SIZE", raising=False)
    vol = lv.open(tmp_path / "s")
    assert vol.chunks[:2] == ((256,), (256,))
    assert vol.chunks[2] == (64, 36)  # 8 MiB / (256*256*2 bytes) = 64 slices
    monkeypatch.setenv("LAZYVOL_CHUNK_SIZE", "32MiB")
    assert lv.open(tmp_path / "s").chunks[2] == (100,)


def test_standard_tag_table_matches_the_dicom_dictionary():
    """lazyvol's keyword -> (tag, VR) table (kept so that opening needs no pydicom import) agrees
    with pydicom's DICOM dictionary, entry by entry."""
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    from lazyvol.dicom.header_values import STANDARD_TAGS

    for keyword, (tag, vr) in STANDARD_TAGS.items():
        assert tag == tag_for_keyword(keyword), keyword
        assert vr == dictionary_VR(tag), keyword


@pytest.mark.parametrize(
    ("charset", "raw"),
    [
        (None, b"plain ascii T1"),
        ("ISO_IR 100", "Séquence pondérée T2".encode("latin-1")),
        ("ISO_IR 192", "Последовательность 磁共振".encode()),
        ("ISO_IR 192", b"broken \xff\xfe utf-8"),  # not UTF-8: pydicom's fallback decides
        ("ISO_IR 144", "Последовательность".encode("iso8859_5")),  # pydicom's codecs
        (["", "ISO 2022 IR 87"], b"\x1b$B%*%k\x1b(B"),  # ISO 2022 escapes: pydicom's decoder
    ],
)
def test_series_description_decodes_as_pydicom_does(tmp_path, charset, raw):
    """SeriesDescription read by the walker (own codecs for the usual character sets, pydicom's
    decoder for the rest) equals pydicom's decoded value of the same file."""
    from lazyvol.dicom.header import read_header

    folder = tmp_path / "s"
    write_dicom_series(folder, (8, 8, 2))
    path = sorted(folder.glob("*.dcm"))[0]
    ds = pydicom.dcmread(path)
    if charset is not None:
        ds.SpecificCharacterSet = charset
    ds["SeriesDescription"] = pydicom.DataElement(0x0008103E, "LO", raw)
    ds.save_as(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = str(pydicom.dcmread(path).SeriesDescription).strip(" \x00")
        rec = read_header(str(path))  # (pydicom's fallback warns on undecodable bytes)
    assert rec.series_description == expected


@pytest.mark.parametrize(
    ("charset", "raw"),
    [
        ("ISO_IR 100", "Universitätsklinikum Zürich".encode("latin-1")),
        ("ISO_IR 192", "Universitätsklinikum Zürich \u2013 磁共振".encode()),
        ("ISO_IR 144", "Москва".encode("iso8859_5")),
        (["", "ISO 2022 IR 87"], b"\x1b$B%*%k\x1b(B"),
    ],
)
def test_sidecar_text_decodes_as_pydicom_does(tmp_path, charset, raw):
    """The sidecar's text values (InstitutionName, ProtocolName, ...) were decoded as Latin-1
    whatever the file's Specific Character Set (UTF-8 or Cyrillic names came out garbled, while
    the series description was right): each equals pydicom's decoded value of the same file."""
    folder = tmp_path / "s"
    write_dicom_series(folder, (8, 8, 2), modality="MR")
    for path in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.SpecificCharacterSet = charset
        ds["InstitutionName"] = pydicom.DataElement(0x00080080, "LO", raw)
        ds["ProtocolName"] = pydicom.DataElement(0x00181030, "LO", raw)
        ds["StudyDescription"] = pydicom.DataElement(0x00081030, "LO", raw)
        ds.save_as(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        bids = lv.open(folder).meta["bids"]
    for key in ("InstitutionName", "ProtocolName", "StudyDescription"):
        assert bids[key] == str(ds[key].value).strip(" \x00"), key


def test_header_text_caches_do_not_keep_a_long_value_alive(tmp_path):
    """The answers remembered per Manufacturer / Specific Character Set text (vendor_of,
    bids.manufacturer, the character set names) kept every text they were asked about alive after
    the scan, 64 of each however long: a folder of files with a 5 MB Manufacturer each left them
    in memory. A long text is answered, not kept; the usual short one still is."""
    import sys

    from lazyvol.dicom import bids, charset, vendor

    write_dicom_series(tmp_path, (8, 8, 2))
    f = sorted(tmp_path.iterdir())[0]
    ds = pydicom.dcmread(f)
    ds.Manufacturer = "GE MEDICAL SYSTEMS " + "x" * 100_000
    ds.save_as(f, enforce_file_format=False)
    long_text = "ACME " + "y" * 100_000
    long_set = b"ISO_IR 100" + b" " * 100_000
    before = [sys.getrefcount(x) for x in (long_text, long_set)]
    assert vendor.vendor_of(long_text) == "" and bids.manufacturer(long_text) == long_text
    assert charset._names(long_set) == ("ISO_IR 100",)
    assert [sys.getrefcount(x) for x in (long_text, long_set)] == before
    assert len(lv.scan(tmp_path)) == 1  # (the scan's path through them)
    assert vendor.vendor_of("GE MEDICAL SYSTEMS") == "GE"  # (short texts: as before)


def test_image_type_caches_do_not_keep_a_long_value_alive(tmp_path):
    """The ImageType spellings remembered per value list (is_localizer, tiles.is_mosaic,
    image_component, component_conflict: 256 lists) kept every list they were asked about alive
    after the scan however long (the walker reads ImageType whole): a folder of files with a 2 MB
    ImageType each left them in memory (repro: 4 files, 2.4 -> 26 MB still allocated). A long list
    is answered, not kept; the answers are the same either way."""
    import sys

    from lazyvol.dicom import grouping, tiles
    from lazyvol.dicom.records import FrameRecord

    long_value = "MOSAIC " + "y" * 100_000
    rec = FrameRecord(
        "f", 0, 0, "", image_type=["ORIGINAL", "PRIMARY", "p", "LOCALIZER", long_value]
    )
    before = sys.getrefcount(long_value)
    assert rec.is_localizer and not tiles.is_mosaic(rec)
    assert grouping.image_component(rec) == "PHASE" and grouping.component_conflict(rec) == ""
    assert sys.getrefcount(long_value) == before
    rec = FrameRecord("f", 0, 0, "", image_type=["ORIGINAL", "PRIMARY", " m ", "MOSAIC"])
    assert (
        tiles.is_mosaic(rec)
        and not rec.is_localizer
        and grouping.image_component(rec) == "MAGNITUDE"
    )
    write_dicom_series(tmp_path, (8, 8, 2))
    f = sorted(tmp_path.iterdir())[0]
    ds = pydicom.dcmread(f)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "x" * 100_000]
    ds.save_as(f, enforce_file_format=False)
    assert len(lv.scan(tmp_path)) >= 1  # (the scan's path through them)
