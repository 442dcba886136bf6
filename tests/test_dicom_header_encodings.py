"""DICOM headers whose encoding is not what the file meta says or what the dictionary has: a
Deflated data set (never inflated whole, its series still named), a data set in the other VR
encoding than its transfer syntax says, values written with another VR, and values cut by the end
of the file. Each is checked against pydicom's reading of the same file."""

from __future__ import annotations

import importlib
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info

import lazyvol as lv
from lazyvol.dicom.header import read_header
from lazyvol.dicom.scan_index import scan_files
from lazyvol.testing import write_dicom_series

pytestmark = [
    pytest.mark.usefixtures("dicom_cache"),
    pytest.mark.filterwarnings("ignore:Expected (im|ex)plicit VR"),
]
header_mod = importlib.import_module("lazyvol.dicom.header")
DEFLATED = pydicom.uid.DeflatedExplicitVRLittleEndian


def _rewrite(
    path: str,
    says: str,
    *,
    implicit: bool = False,
    little: bool = True,
    deflate: bool = False,
    preamble: bool = True,
    extra: bytes = b"",
) -> None:
    """Write ``path``'s data set again with a file meta saying transfer syntax ``says``, the data
    set itself encoded ``implicit`` VR (or explicit), ``little`` endian (or big), deflated when
    asked, ``extra`` raw elements in front of it."""
    ds = pydicom.dcmread(path)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = (
        ds.SOPClassUID,
        ds.SOPInstanceUID,
    )
    meta.TransferSyntaxUID = says
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    head, body = DicomBytesIO(), DicomBytesIO()
    write_file_meta_info(head, meta)
    body.is_implicit_VR, body.is_little_endian = implicit, little
    write_dataset(body, ds)
    data = extra + body.getvalue()
    if deflate:
        c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        data = c.compress(data) + c.flush()
    Path(path).write_bytes((b"\0" * 128 + b"DICM" if preamble else b"") + head.getvalue() + data)


def _pydicom_volume(files: list[str]) -> np.ndarray:
    return np.stack([pydicom.dcmread(f).pixel_array.T for f in files], axis=-1)


def _no_walker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local headers read by pydicom's readers only (the walker needs os.pread)."""
    monkeypatch.setattr(header_mod, "_HAVE_PREAD", False)


# -- a data set in the other VR encoding than its transfer syntax says ------------------------------


@pytest.mark.parametrize("walker", [True, False])
@pytest.mark.parametrize(
    "says, implicit",
    [(pydicom.uid.ImplicitVRLittleEndian, False), (pydicom.uid.ExplicitVRLittleEndian, True)],
    ids=["says-implicit-is-explicit", "says-explicit-is-implicit"],
)
def test_a_data_set_in_the_other_vr_encoding_is_read_as_pydicom_reads_it(
    tmp_path, monkeypatch, walker, says, implicit
):
    """A slice whose file meta says Implicit VR but whose data set is Explicit VR (an exporter
    bug) was skipped as "truncated: required attributes missing" without its series UID: the
    series opened one slice short without a word. pydicom reads the encoding the data set is
    written in; so does lazyvol, pixels included, whichever header reader reads it."""
    truth = write_dicom_series(tmp_path / "s", (12, 10, 4), dtype="int16", intercept=-7.0)
    for f in truth.files[2:]:
        _rewrite(f, says, implicit=implicit)
    if not walker:
        _no_walker(monkeypatch)
    vol = lv.open(tmp_path / "s", scale=False)
    assert vol.shape == (12, 10, 4) and not vol.meta.get("warnings")
    np.testing.assert_array_equal(vol.compute(), _pydicom_volume(truth.files))
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    one = read_header(truth.files[-1], walker=walker)
    ref = pydicom.dcmread(truth.files[-1])
    assert one.rows == ref.Rows and one.ipp == [float(x) for x in ref.ImagePositionPatient]


@pytest.mark.parametrize("walker", [True, False])
@pytest.mark.parametrize(
    "says, little, said",
    [
        (pydicom.uid.ExplicitVRBigEndian, True, "big"),
        (pydicom.uid.ExplicitVRLittleEndian, False, "little"),
    ],
    ids=["says-big-is-little", "says-little-is-big"],
)
def test_a_data_set_in_the_other_byte_order_is_skipped_naming_the_transfer_syntax(
    tmp_path, monkeypatch, walker, says, little, said
):
    """A complete file whose file meta says one byte order and whose data set is in the other
    was skipped as "file truncated: required attributes missing": read in the stated order its
    elements are nonsense. pydicom cannot read it either; the skip names TransferSyntaxUID."""
    truth = write_dicom_series(tmp_path / "s", (12, 10, 3))
    victim = truth.files[1]
    _rewrite(victim, says, little=little)
    assert "Rows" not in pydicom.dcmread(victim, force=True)
    if not walker:
        _no_walker(monkeypatch)
    one = read_header(victim, walker=walker)
    assert f"TransferSyntaxUID (0002,0010) {says} says {said} endian" in one.reason
    assert "(0008,0008) in" in one.reason and "truncated" not in one.reason
    (reason,) = [why for path, why in lv.scan(tmp_path / "s").skipped if path == victim]
    assert "TransferSyntaxUID (0002,0010)" in reason


# -- Deflated data sets -----------------------------------------------------------------------------


@pytest.mark.parametrize("walker", [True, False])
def test_a_deflated_slice_is_read_with_its_series(tmp_path, monkeypatch, walker):
    """A valid Deflated slice was skipped (lazyvol did not read the syntax; its series opened
    flagged incomplete): it is read now, by either header reader, locally and as an object,
    with the values pydicom decodes."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 8))
    victim = truth.files[-1]
    _rewrite(victim, DEFLATED, deflate=True)
    assert pydicom.dcmread(victim).SeriesInstanceUID == truth.series_uid  # the reference
    if not walker:
        _no_walker(monkeypatch)
    scan = scan_files(str(tmp_path / "s"), use_index=False)
    assert not scan.skipped and not scan.incomplete
    vol = lv.open(tmp_path / "s", use_index=False)
    assert vol.shape == (8, 6, 8) and not any(
        "incomplete" in w for w in vol.meta.get("warnings", [])
    )
    np.testing.assert_array_equal(vol.compute()[:, :, -1], pydicom.dcmread(victim).pixel_array.T)
    import fsspec

    memory = fsspec.filesystem("memory")
    for f in truth.files:
        memory.pipe(f"/{tmp_path.name}/{Path(f).name}", Path(f).read_bytes())
    remote = lv.open(f"memory://{tmp_path.name}", use_index=False)
    np.testing.assert_array_equal(remote.compute(), vol.compute())


def _private_ob(n: int) -> bytes:
    """A private creator and an OB value of ``n`` zero bytes (group 0009, before the UIDs)."""
    creator = struct.pack("<HH2sH", 9, 0x10, b"LO", 4) + b"ACME"
    return creator + struct.pack("<HH2s2xL", 9, 0x1010, b"OB", n) + b"\0" * n


@pytest.mark.parametrize("preamble", [True, False])
@pytest.mark.parametrize("walker", [True, False])
@pytest.mark.parametrize("remote", [False, True])
def test_a_deflate_bomb_is_refused_without_inflating_it(
    tmp_path, monkeypatch, preamble, walker, remote
):
    """A 40 KB Deflated file inflating to 32 MiB (a private value of zeros): with no preamble,
    pydicom's dcmread inflated it whole (456 MiB peak for a 200 MiB bomb) before lazyvol refused
    the syntax. The file meta is read first, whatever the reader, and the data set is inflated
    in a stream, never whole: the file is read, and the allocations traced stay far below the
    inflated size."""
    truth = write_dicom_series(tmp_path / "s", (4, 4, 1))
    bomb = truth.files[0]
    _rewrite(bomb, DEFLATED, deflate=True, preamble=preamble, extra=_private_ob(32 << 20))
    assert Path(bomb).stat().st_size < 100_000
    if not walker:
        _no_walker(monkeypatch)
    target = str(bomb)
    if remote:
        import fsspec

        fsspec.filesystem("memory").pipe(f"/{tmp_path.name}/bomb.dcm", Path(bomb).read_bytes())
        target = f"memory://{tmp_path.name}/bomb.dcm"
    whole = pydicom.filereader.zlib.decompress
    calls: list[int] = []
    monkeypatch.setattr(
        pydicom.filereader.zlib, "decompress", lambda *a: calls.append(1) or whole(*a)
    )
    tracemalloc.start()
    try:
        got = lv.open(target, instance_order=not preamble).compute()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(got[..., 0], truth.stored[..., 0])
    assert calls == []
    assert peak < 8 << 20, peak


# -- values written with another VR than the dictionary's -------------------------------------------


def _replace_element(path: str, tag: tuple[int, int], vr: bytes, value: bytes) -> None:
    """Replace explicit-VR element ``tag`` (a short-VR one) of ``path`` by ``vr`` and ``value``."""
    data = Path(path).read_bytes()
    at = data.index(struct.pack("<HH", *tag))
    (n,) = struct.unpack("<H", data[at + 6 : at + 8])
    if vr in (b"OB", b"OW", b"UN"):
        new = struct.pack("<HH2s2xL", *tag, vr, len(value)) + value
    else:
        new = struct.pack("<HH2sH", *tag, vr, len(value)) + value
    Path(path).write_bytes(data[:at] + new + data[at + 8 + n :])


@pytest.mark.parametrize("walker", [True, False])
def test_values_are_decoded_by_the_vr_they_are_written_with(tmp_path, monkeypatch, walker):
    """Rows written as IS ("12") was read as the binary US 0x3231 and the file refused as too
    short; PixelSpacing written as FD gave a mojibake "is not a number". pydicom decodes by the
    VR written; so does lazyvol."""
    truth = write_dicom_series(tmp_path / "s", (10, 12, 2), dtype="uint16")
    f0, f1 = truth.files
    _replace_element(f0, (0x28, 0x10), b"IS", b"12")
    _replace_element(f1, (0x28, 0x10), b"UL", struct.pack("<L", 12))
    for f in truth.files:
        _replace_element(f, (0x28, 0x30), b"FD", struct.pack("<2d", 0.75, 1.25))
    if not walker:
        _no_walker(monkeypatch)
    vol = lv.open(tmp_path / "s", scale=False)
    ref = [pydicom.dcmread(f) for f in truth.files]
    assert all(int(ds.Rows) == 12 for ds in ref)
    np.testing.assert_array_equal(vol.compute(), _pydicom_volume(truth.files))
    dj, di = (float(x) for x in ref[0].PixelSpacing)  # PixelSpacing is [dj, di]
    assert (dj, di) == (0.75, 1.25)
    np.testing.assert_allclose(vol.spacing[:2], (di, dj))


def test_a_value_whose_written_vr_cannot_be_the_attribute_is_refused_naming_both(tmp_path):
    """Rows written as OB, or a UID written as a binary number, cannot be that attribute: the
    file is refused naming the tag and both VRs (never the bytes read as something else)."""
    truth = write_dicom_series(tmp_path / "s", (10, 12, 1), dtype="uint16")
    _replace_element(truth.files[0], (0x28, 0x10), b"OB", b"\x0c\x00")
    with pytest.raises(lv.FormatError, match=r"Rows \(0028,0010\) is written with VR OB") as exc:
        lv.open(truth.files[0])
    assert "dictionary has US" in str(exc.value) and truth.files[0] in str(exc.value)


# -- values cut by the end of the file ----------------------------------------------------------------


@pytest.mark.parametrize("walker", [True, False])
def test_a_value_cut_by_the_end_of_the_file_is_not_taken_as_the_value(
    tmp_path, monkeypatch, walker
):
    """A CT slice cut inside its SOPClassUID was called "not an image (1.2.840.1000)": pydicom
    keeps the bytes there are of a cut value, and the cut UID was taken for the file's class. A
    cut value is not a value: the file is truncated, of the class its file meta says."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 3))
    victim = truth.files[-1]
    data = Path(victim).read_bytes()
    at = data.index(b"\x08\x00\x16\x00UI")
    Path(victim).write_bytes(data[: at + 8 + 12])
    meta = pydicom.dcmread(victim, stop_before_pixels=True).file_meta
    if not walker:
        _no_walker(monkeypatch)
    skip = read_header(victim, walker=walker)
    assert "truncated inside SOPClassUID (0008,0016)" in skip.reason
    assert meta.MediaStorageSOPClassUID.name in skip.reason  # CT Image Storage
    assert "not an image" not in skip.reason
    # Cut after SeriesInstanceUID: the series is flagged incomplete.
    other = write_dicom_series(tmp_path / "t", (8, 6, 3))
    victim = other.files[-1]
    data = Path(victim).read_bytes()
    uid = data.index(b"\x20\x00\x0e\x00UI")
    cut = data.index(b"\x28\x00\x30\x00DS")  # PixelSpacing: after the UIDs
    assert uid < cut
    Path(victim).write_bytes(data[: cut + 8 + 3])
    skip = read_header(victim, walker=walker)
    assert "truncated inside PixelSpacing (0028,0030)" in skip.reason
    assert skip.series_uid == pydicom.dcmread(victim, stop_before_pixels=True).SeriesInstanceUID
