"""A DICOM file gzip-compressed whole (``.dcm.gz``): lazyvol does not inflate files, but the
SeriesInstanceUID read from a bounded inflate of its start names the series it belongs to, which
is then flagged incomplete (an end slice left the series one slice short without a word; a middle
one left a gap whose refusal never named it). A file whose start is too damaged to name a series
counts as damage naming none. Each is checked against pydicom's reading of the inflated file."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info

import lazyvol as lv
from lazyvol.dicom.scan_index import scan_files
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")


def _deflated(path: Path) -> None:
    """Write ``path`` again with a Deflated data set (a valid file lazyvol does not read)."""
    ds = pydicom.dcmread(path)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    head, body = DicomBytesIO(), DicomBytesIO()
    write_file_meta_info(head, meta)
    body.is_implicit_VR, body.is_little_endian = False, True
    write_dataset(body, ds)
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = c.compress(body.getvalue()) + c.flush()
    path.write_bytes(b"\0" * 128 + b"DICM" + head.getvalue() + data)


def _gzip(path: str, kind: str = "explicit") -> str:
    """gzip ``path`` into ``path.gz`` (removing it): as written, without its 128-byte preamble
    and 'DICM' (a bare data set), or with a Deflated data set."""
    src = Path(path)
    if kind == "deflated":
        _deflated(src)
    data = src.read_bytes()
    if kind == "bare":
        data = data[132:]
    out = path + ".gz"
    Path(out).write_bytes(gzip.compress(data))
    src.unlink()
    return out


def _uid_of(gz: str) -> str:
    """The reference: pydicom's reading of the inflated file."""
    with gzip.open(gz) as f:
        return str(pydicom.dcmread(f, force=True).SeriesInstanceUID)


@pytest.mark.parametrize("kind", ["explicit", "implicit", "bare", "deflated"])
def test_a_gzipped_end_slice_flags_its_series_incomplete(tmp_path, kind):
    """The last slice gzip'd: the volume opened 7 of 8 slices with no warning. Now its series is
    flagged incomplete, the warning naming the file and the fix (gunzip)."""
    syntax = "implicit" if kind == "implicit" else "explicit"
    truth = write_dicom_series(tmp_path / "s", (8, 6, 8), syntax=syntax)
    victim = _gzip(truth.files[-1], kind)
    assert _uid_of(victim) == truth.series_uid
    scan = scan_files(str(tmp_path / "s"), use_index=False)
    assert scan.incomplete == {truth.series_uid: [victim]}
    report = lv.scan(tmp_path / "s", use_index=False)
    assert victim not in report.unnamed
    vol = lv.open(tmp_path / "s", use_index=False)
    assert vol.shape == (8, 6, 7)
    np.testing.assert_array_equal(vol.compute(), truth.stored[..., :7])
    (warning,) = [w for w in vol.meta["warnings"] if "incomplete" in w]
    assert victim in warning and "gunzip" in warning


def test_a_gzipped_middle_slice_is_named_in_the_gap_refusal_and_the_fill_warning(tmp_path):
    """A middle slice gzip'd: the gap refusal recommended allow_gaps=True (zero fill) without
    naming the file, and allow_gaps=True filled it silently."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 6))
    victim = _gzip(truth.files[3])
    assert _uid_of(victim) == truth.series_uid
    with pytest.raises(lv.SeriesError, match=r"slice\(s\) missing") as exc:
        lv.open(tmp_path / "s", use_index=False)
    assert victim in str(exc.value) and "gunzip" in str(exc.value)
    vol = lv.open(tmp_path / "s", allow_gaps=True, use_index=False)
    assert vol.meta["filled_slices"] == [3]
    assert any(victim in w and "gunzip" in w for w in vol.meta["warnings"])
    got = vol.compute()
    np.testing.assert_array_equal(np.delete(got, 3, axis=-1), np.delete(truth.stored, 3, axis=-1))


def test_a_gzipped_object_names_its_series_too(tmp_path):
    """The same through the byte layer (a bucket prefix: read_object_header)."""
    import fsspec

    truth = write_dicom_series(tmp_path / "s", (8, 6, 5))
    victim = _gzip(truth.files[-1])
    memory = fsspec.filesystem("memory")
    for f in sorted((tmp_path / "s").iterdir()):
        memory.pipe(f"/{tmp_path.name}/{f.name}", f.read_bytes())
    (info,) = lv.scan(f"memory://{tmp_path.name}", use_index=False)
    assert info.shape == (8, 6, 4)
    (warning,) = [w for w in info.warnings if "incomplete" in w]
    assert Path(victim).name in warning and "gunzip" in warning


def test_a_gzipped_file_too_damaged_to_name_a_series_counts_as_damage(tmp_path):
    """A gzip stream cut before the SeriesInstanceUID: it names no series, and counts as a
    damaged file that may be a slice of any volume beside it (not as junk, skipped quietly)."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 5))
    data = Path(truth.files[-1]).read_bytes()
    uid_at = data.index(truth.series_uid.encode())
    # Stored (level 0) deflate blocks: the first uid_at compressed bytes inflate to fewer.
    packed = gzip.compress(data, compresslevel=0)[:uid_at]
    victim = truth.files[-1] + ".gz"
    Path(victim).write_bytes(packed)
    Path(truth.files[-1]).unlink()
    inflated = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(packed)
    assert inflated[128:132] == b"DICM" and truth.series_uid.encode() not in inflated
    report = lv.scan(tmp_path / "s", use_index=False)
    assert report.unnamed == {victim}
    (reason,) = [why for p, why in report.skipped if p == victim]
    assert "SeriesInstanceUID" in reason and "gunzip" in reason
    vol = lv.open(tmp_path / "s", use_index=False)
    assert vol.shape == (8, 6, 4)
    assert any(victim in w and "name no series" in w for w in vol.meta["warnings"])


def test_a_gzip_file_that_is_not_dicom_is_still_junk(tmp_path):
    """A gzip'd text file beside a series: not DICOM, skipped quietly as before (no damage)."""
    write_dicom_series(tmp_path / "s", (8, 6, 3))
    junk = tmp_path / "s" / "notes.txt.gz"
    junk.write_bytes(gzip.compress(b"hello\n" * 100))
    report = lv.scan(tmp_path / "s", use_index=False)
    assert report.unnamed == frozenset()
    assert dict(report.skipped)[str(junk)].startswith("not a DICOM file")
    assert not lv.open(tmp_path / "s", use_index=False).meta.get("warnings")


def test_a_gzipped_copy_of_a_file_present_is_no_lost_slice(tmp_path):
    """``x.dcm.gz`` beside ``x.dcm`` (the same image: pydicom reads one SOPInstanceUID from both):
    the volume was flagged "series incomplete: 1 file skipped" though no image is missing. Now
    the copy is noted as such, naming it and the file it copies; a gzipped file whose image is
    not read (its original gone) still flags the series incomplete."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 6))
    copy = truth.files[2] + ".gz"
    Path(copy).write_bytes(gzip.compress(Path(truth.files[2]).read_bytes()))
    with gzip.open(copy) as f:
        assert pydicom.dcmread(f).SOPInstanceUID == pydicom.dcmread(truth.files[2]).SOPInstanceUID
    vol = lv.open(tmp_path / "s", use_index=False)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    warnings = vol.meta.get("warnings", [])
    assert not [w for w in warnings if w.startswith("series incomplete")]
    (note,) = [w for w in warnings if copy in w]
    assert note.startswith("gzip-compressed copies") and f"(of {truth.files[2]})" in note
    lost = _gzip(truth.files[-1])  # the last slice: gzipped, its original removed
    vol = lv.open(tmp_path / "s", use_index=False)
    assert vol.shape == (8, 6, 5)
    (incomplete,) = [w for w in vol.meta["warnings"] if w.startswith("series incomplete")]
    assert "1 file(s)" in incomplete and lost in incomplete and copy not in incomplete
    assert "gunzip" in incomplete and "SOPInstanceUID" not in incomplete
    assert any(copy in w for w in vol.meta["warnings"] if w.startswith("gzip-compressed copies"))
