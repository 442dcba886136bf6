"""A series whose files differ in BitsStored (0028,0101): one volume, each frame's unused high
bits cleared or sign-extended by its own BitsStored, checked against pydicom file by file.

Real CT series do this: some scanners set HighBit (and BitsStored) from each slice's own maximum
(innolitics/dicom-numpy#15). dcm2niix stacks such slices; lazyvol split them into interleaved
partial volumes, none of them the series. (Files that differ in BitsAllocated or
PixelRepresentation: tests/test_dicom_stored_dtype.py.)
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless

import lazyvol as lv
from lazyvol.dicom.saved_scan import read_json_checked, write_json_atomic
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")
SHAPE = (16, 12, 7)
#: BitsStored of slice k: the series' 12, and 16 (the whole word) on every third slice.
BITS = [16 if k % 3 == 1 else 12 for k in range(SHAPE[2])]


def _series(tmp_path, dtype="int16", slope=1.0, intercept=0.0, **kw):
    """12-bit values with junk in the high bits of every file; slices of BITS[k] == 16 say that
    junk is data. Without each file's own mask the values differ from pydicom's."""
    per = [{"BitsStored": b, "HighBit": b - 1} for b in BITS]
    return write_dicom_series(
        tmp_path / "s",
        SHAPE,
        dtype=dtype,
        bits_stored=12,
        dirty_high_bits=True,
        slope=slope,
        intercept=intercept,
        per_slice=per,
        orientation="oblique",
        **kw,
    )


def _pydicom_stack(files, scaled=True):
    """(i, j, k) values of ``files`` in slice order, from pydicom alone (its pixel_array applies
    each file's own BitsStored), rescaled by each file's slope and intercept."""
    out = []
    for f in files:
        ds = pydicom.dcmread(f)
        arr = ds.pixel_array.T
        out.append(arr * float(ds.RescaleSlope) + float(ds.RescaleIntercept) if scaled else arr)
    return np.stack(out, axis=-1)


def assert_blocks_read_alike(path, expected, chunkings):
    """The volume at ``path`` equals ``expected`` read in each of ``chunkings`` (whole, and a
    sub-block that cuts every axis), and slice by slice: blocks that cut across runs of frames
    read in different ways."""
    for chunks in chunkings:
        part = lv.open(path, chunks=chunks)
        np.testing.assert_array_equal(part.compute(), expected)
        np.testing.assert_array_equal(part[2:13, 1:9, 1:6].compute(), expected[2:13, 1:9, 1:6])
    vol = lv.open(path)
    for k in range(expected.shape[2]):
        np.testing.assert_array_equal(vol[:, :, k : k + 1].compute(), expected[:, :, k : k + 1])


@pytest.mark.parametrize("dtype", ["int16", "uint16"])
def test_slices_of_several_bits_stored_are_one_volume(tmp_path, dtype):
    truth = _series(tmp_path, dtype=dtype, slope=2.0, intercept=-1024.0)
    (info,) = lv.scan(tmp_path / "s")
    assert info.error is None and info.shape == SHAPE
    vol = lv.open(tmp_path / "s")
    expected = _pydicom_stack(truth.files)
    # The junk is data in the 16-bit slices: a mask from the first file would change them.
    assert not np.array_equal(expected[:, :, 1], truth.stored[:, :, 1] * 2.0 - 1024.0)
    np.testing.assert_array_equal(vol.compute(), expected)
    # From the widest BitsStored: 16-bit values * 2 - 1024 need int32 (12-bit ones fit int16).
    assert vol.dtype == np.int32
    assert vol.meta["bits_stored"] == 16
    assert vol.meta["bits_stored_counts"] == {"12": BITS.count(12), "16": BITS.count(16)}
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    # Blocks that cut across the runs of one BitsStored, and single slices.
    assert_blocks_read_alike(tmp_path / "s", expected, [(16, 12, 1), (16, 12, 2), (5, 7, 4)])
    stored = lv.open(tmp_path / "s", scale=False)
    np.testing.assert_array_equal(stored.compute(), _pydicom_stack(truth.files, scaled=False))


def test_compressed_and_native_slices_of_several_bits_stored(tmp_path):
    # Per-frame BitsStored and per-frame transfer syntax together: every other file RLE.
    from pydicom.pixels import get_encoder

    if not get_encoder(RLELossless).is_available:
        pytest.skip("no pydicom RLE encoder installed")
    truth = _series(tmp_path)
    for f in truth.files[::2]:
        ds = pydicom.dcmread(f)
        ds.compress(RLELossless)
        ds.save_as(f)
    vol = lv.open(tmp_path / "s", chunks=(16, 12, 3))
    assert len(vol.meta["transfer_syntaxes"]) == 2
    np.testing.assert_array_equal(vol.compute(), _pydicom_stack(truth.files))


def test_the_saved_scan_keeps_each_frames_bits_stored(tmp_path, monkeypatch):
    # The second open parses no header and masks as the first did; a report whose column lost
    # an entry is not used (the folder is scanned again).
    import importlib

    from lazyvol.dicom.saved_scan import index_path

    header_scan = importlib.import_module("lazyvol.dicom.header_scan")
    truth = _series(tmp_path)
    expected = _pydicom_stack(truth.files)
    np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), expected)
    report = index_path(str(tmp_path / "s")).with_suffix(".report.json")
    doc = read_json_checked(report)
    assert doc["series"][0]["frames"]["stored_bits"] == BITS
    calls: list[str] = []
    orig = header_scan.read_header
    monkeypatch.setattr(
        header_scan, "read_header", lambda p, **kw: calls.append(p) or orig(p, **kw)
    )
    np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), expected)
    assert calls == []
    doc["series"][0]["frames"]["stored_bits"] = BITS[:-1]
    write_json_atomic(report, doc)
    index_path(str(tmp_path / "s")).unlink(missing_ok=True)
    np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), expected)
    assert len(calls) == SHAPE[2]


def test_references_refuse_slices_of_several_bits_stored(tmp_path):
    # A Zarr array applies one mask: references cannot describe per-file high bits.
    from lazyvol.refs import references

    _series(tmp_path)
    with pytest.raises(lv.UnsupportedError, match=r"BitsStored \(0028,0101\) \(12, 16\)"):
        references(tmp_path / "s")


@pytest.mark.parametrize("dirty", [False, True], ids=["clean", "junk-in-high-bits"])
def test_copies_of_one_image_with_another_bits_stored(tmp_path, dirty):
    # The same bytes under another BitsStored are the same image only when the high bits hold
    # nothing: then the copy is dropped as a duplicate; else the copies disagree and the series
    # is refused (the bytes alone used to say "same pixel data" and keep either).
    import shutil

    truth = write_dicom_series(
        tmp_path / "s", SHAPE, dtype="int16", bits_stored=12, dirty_high_bits=dirty
    )
    copy = tmp_path / "s" / "copy.dcm"
    shutil.copy(truth.files[3], copy)
    ds = pydicom.dcmread(copy)
    ds.BitsStored, ds.HighBit = 16, 15
    ds.save_as(copy)
    if dirty:
        with pytest.raises(lv.SeriesError, match=r"BitsStored \(0028,0101\) \(12 and 16\)"):
            lv.open(tmp_path / "s")
        return
    vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert any("copy.dcm" in w and "BitsStored" in w for w in vol.meta["warnings"])


def test_volume_ids_are_those_earlier_versions_gave(tmp_path):
    # Ids are what users pass as series=...; the BitsStored change must not move them. These
    # are the ids lazyvol gave these series before it (commit 941aa96, same writer and UIDs).
    write_dicom_series(
        tmp_path / "a",
        SHAPE,
        dtype="int16",
        bits_stored=12,
        series_uid="1.2.826.0.1.3680043.8.498.4242",
    )
    write_dicom_series(
        tmp_path / "b",
        SHAPE,
        dtype="uint16",
        series_uid="1.2.826.0.1.3680043.8.498.4243",
        orientation="oblique",
    )
    assert [i.id for i in lv.scan(tmp_path / "a")] == ["cadd9d7f"]
    assert [i.id for i in lv.scan(tmp_path / "b")] == ["64fe08aa"]


def _4d_series(tmp_path, per_volume):
    """4 slices x 2 volumes told apart by TemporalPositionIdentifier; ``per_volume[t]``: extra
    attributes of volume t's files."""
    nk, nt = 4, 2
    pos = np.array([[-12.5, -20.0, 30.0 + 2.5 * (n % nk)] for n in range(nk * nt)])
    per = [
        {"TemporalPositionIdentifier": n // nk + 1, **per_volume[n // nk]} for n in range(nk * nt)
    ]
    truth = write_dicom_series(
        tmp_path / "s",
        (16, 12, nk * nt),
        dtype="int16",
        bits_stored=12,
        dirty_high_bits=True,
        positions=pos,
        per_slice=per,
    )
    ref = np.zeros((16, 12, nk, nt), dtype=np.int16)
    return truth, ref


def _fill_from_pydicom(truth, ref):
    for f in truth.files:
        ds = pydicom.dcmread(f)
        k = round((float(ds.ImagePositionPatient[2]) - 30.0) / 2.5)
        ref[:, :, k, int(ds.TemporalPositionIdentifier) - 1] = ds.pixel_array.T


@pytest.mark.parametrize("differ", ["bits_stored", "transfer_syntax"])
def test_split_4d_volumes_read_each_frame_their_own_way(tmp_path, differ):
    # split_4d=True cut the frame table per volume but kept the whole table's per-frame columns:
    # volume 1 was read with volume 0's BitsStored or transfer syntax (compressed bytes read as
    # pixels), wrong values with no error.
    per = [{}, {"BitsStored": 16, "HighBit": 15} if differ == "bits_stored" else {}]
    truth, ref = _4d_series(tmp_path, per)
    if differ == "transfer_syntax":
        from pydicom.pixels import get_encoder

        if not get_encoder(RLELossless).is_available:
            pytest.skip("no pydicom RLE encoder installed")
        for f in truth.files[4:]:
            ds = pydicom.dcmread(f)
            ds.compress(RLELossless)
            ds.save_as(f)
    _fill_from_pydicom(truth, ref)
    np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), ref)
    infos = lv.scan(tmp_path / "s", split_4d=True)
    assert len(infos) == 2
    for t, info in enumerate(infos):
        vol = lv.open(tmp_path / "s", series=info.id, split_4d=True)
        np.testing.assert_array_equal(vol.compute(), ref[..., t])
        if differ == "bits_stored":  # each volume's own BitsStored, no longer varying
            assert vol.meta["bits_stored"] == (12, 16)[t]
            assert "bits_stored_counts" not in vol.meta


def test_one_volume_as_dcm2niix_stacks_it(tmp_path, dcm2niix):
    # dcm2niix stacks slices of several BitsStored into one volume too (it splits on
    # BitsAllocated only). It keeps unused high bits as stored where pydicom and lazyvol clear
    # them, so the comparison uses clean high bits (a CT series whose HighBit follows each
    # slice's maximum is clean).
    import nibabel as nib

    per = [{"BitsStored": b, "HighBit": b - 1} for b in BITS]
    write_dicom_series(
        tmp_path / "in", SHAPE, dtype="int16", bits_stored=12, per_slice=per, orientation="oblique"
    )
    (nii,) = dcm2niix(tmp_path / "in", tmp_path / "out")  # one volume, not one per BitsStored
    img = nib.as_closest_canonical(nib.load(nii))
    vol = lv.open(tmp_path / "in")
    mine = nib.as_closest_canonical(nib.Nifti1Image(vol.compute(), vol.affine))
    np.testing.assert_allclose(mine.affine, img.affine, atol=1e-3)
    np.testing.assert_array_equal(np.asarray(mine.dataobj), img.get_fdata())


@pytest.mark.parametrize("value", [None, 0], ids=["missing", "zero"])
def test_a_missing_bits_stored_is_named_as_missing(tmp_path, value):
    # A file without BitsStored was refused as 'BitsStored (0028,0101) = 0', a value it does not
    # hold; the message says it is missing (or 0) and how to set it.
    files = write_dicom_series(tmp_path / "s", (8, 6, 3)).files
    for f in files:
        ds = pydicom.dcmread(f)
        if value is None:
            del ds.BitsStored
        else:
            ds.BitsStored = value
        ds.save_as(f)
    with pytest.raises(lv.FormatError) as exc:
        lv.open(tmp_path / "s")
    message = str(exc.value)
    assert "BitsStored (0028,0101) is missing, empty or 0" in message
    assert "= 0" not in message and "dcmodify" in message


@pytest.mark.parametrize("bits_stored", [2, 12, 15])
def test_a_bits_stored_below_high_bit_is_refused_not_masked(tmp_path, bits_stored):
    # BitsStored damaged to a value below HighBit + 1 (HighBit 15 intact): lazyvol read every
    # value masked to BitsStored bits, as pydicom does, without a word (dcm2niix, reading
    # HighBit's bits, gives the stored values). The two disagree: refused, naming both. (h197)
    truth = write_dicom_series(tmp_path / "s", (6, 5, 3), dtype="int16")
    victim = truth.files[1]
    ds = pydicom.dcmread(victim)
    assert (ds.BitsStored, ds.HighBit) == (16, 15)
    ds.BitsStored = bits_stored
    ds.save_as(victim)
    with pytest.raises(lv.FormatError) as err:
        lv.open(tmp_path / "s", use_index=False).compute()
    msg = str(err.value)
    assert victim in msg and "BitsStored (0028,0101)" in msg and "HighBit (0028,0102) = 15" in msg


def test_a_high_bit_below_bits_stored_still_reads_as_pydicom(tmp_path):
    # the other way round (HighBit damaged low, or absent: read as 0) cuts nothing
    truth = write_dicom_series(tmp_path / "s", (6, 5, 3), dtype="int16")
    for path in truth.files:
        ds = pydicom.dcmread(path)
        ds.HighBit = 7
        ds.save_as(path)
    got = lv.open(tmp_path / "s", use_index=False, scale=False).compute()
    for k, path in enumerate(truth.files):
        np.testing.assert_array_equal(got[:, :, k].T, pydicom.dcmread(path).pixel_array)
