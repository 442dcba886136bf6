"""A series whose files differ in BitsAllocated (0028,0100) or PixelRepresentation (0028,0103):
one volume, each image read as its own header says, into a dtype that holds every image's values.

dcm2niix stacks such series (rordenlab/dcm2niix#458: "Saving as 32-bit float (bits allocated
varies)"); lazyvol split them into interleaved partial volumes, none of them the series. The
truth here is the values written into each file, checked against pydicom file by file.
"""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless

import lazyvol as lv
from lazyvol.dicom.saved_scan import read_json_checked
from lazyvol.testing import write_dicom_series
from test_dicom_bits_stored import assert_blocks_read_alike

pytestmark = pytest.mark.usefixtures("dicom_cache")
SHAPE = (16, 12, 6)


def _range(kind: str, bits: int) -> tuple[int, int]:
    if kind.startswith("i"):
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _store(path, values, kind: str, bits: int) -> None:
    """Rewrite ``path``'s pixels as ``values`` ((i, j) ints) stored as ``kind`` with BitsStored
    ``bits``."""
    ds = pydicom.dcmread(path)
    dt = np.dtype(kind)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = dt.itemsize * 8, bits, bits - 1
    ds.PixelRepresentation = int(dt.kind == "i")
    ds.PixelData = np.ascontiguousarray(values.T).astype(f"<{kind}").tobytes()
    ds.save_as(path)


def _series(tmp_path, kinds, *, slope=1.0, intercept=0.0, seed=0, name="s", **kw):
    """Slice k stored as ``kinds[k % len(kinds)]`` = (dtype, BitsStored), its values drawn over
    that kind's whole range (both ends included). Returns (writer truth, values (i, j, k))."""
    truth = write_dicom_series(
        tmp_path / name, SHAPE, dtype="uint16", slope=slope, intercept=intercept, **kw
    )
    rng = np.random.default_rng(seed)
    values = np.zeros(SHAPE, dtype=np.int64)
    for k, f in enumerate(truth.files):
        kind, bits = kinds[k % len(kinds)]
        lo, hi = _range(kind, bits)
        v = rng.integers(lo, hi + 1, size=SHAPE[:2])
        v[0, 0], v[1, 0] = lo, hi
        values[:, :, k] = v
        _store(f, v, kind, bits)
    return truth, values


def _pydicom_stack(files, scaled=True):
    out = []
    for f in files:
        ds = pydicom.dcmread(f)
        arr = ds.pixel_array.T.astype(np.float64 if scaled else np.int64)
        out.append(arr * float(ds.RescaleSlope) + float(ds.RescaleIntercept) if scaled else arr)
    return np.stack(out, axis=-1)


MIXED_SIGN = [("u2", 16), ("i2", 16)]


def test_signed_and_unsigned_slices_are_one_volume(tmp_path):
    # uint16 up to 65535 and int16 down to -32768: only int32 holds both.
    truth, values = _series(tmp_path, MIXED_SIGN, orientation="oblique")
    (info,) = lv.scan(tmp_path / "s")
    assert info.error is None and info.shape == SHAPE and info.dtype == "i4"
    vol = lv.open(tmp_path / "s")
    assert vol.dtype == np.int32
    np.testing.assert_array_equal(vol.compute(), values)
    np.testing.assert_array_equal(vol.compute(), _pydicom_stack(truth.files))
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    assert vol.meta["stored_dtype"] == "i4"
    assert vol.meta["stored_dtype_counts"] == {"i2": 3, "u2": 3}
    assert any("PixelRepresentation" in w and "u2 (3 images)" in w for w in vol.meta["warnings"])
    stored = lv.open(tmp_path / "s", scale=False)
    assert stored.dtype == np.int32
    np.testing.assert_array_equal(stored.compute(), values)
    # Blocks that cut across the runs of one stored dtype, and single slices.
    assert_blocks_read_alike(tmp_path / "s", values, [(16, 12, 1), (16, 12, 4), (5, 7, 4)])


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        ([("u2", 12), ("i2", 16)], np.int16),  # 12-bit unsigned values fit int16
        ([("u1", 8), ("u2", 16)], np.uint16),  # 8-bit derived slices among 16-bit ones
        ([("u1", 8), ("i2", 12)], np.int16),
        ([("i1", 8), ("u1", 8)], np.int16),
        ([("u2", 16), ("i2", 16), ("u1", 8)], np.int32),
    ],
    ids=["u12+i16", "u8+u16", "u8+i12", "i8+u8", "u16+i16+u8"],
)
def test_the_narrowest_dtype_holding_every_images_values(tmp_path, kinds, expected):
    truth, values = _series(tmp_path, kinds)
    vol = lv.open(tmp_path / "s")
    assert vol.dtype == expected
    np.testing.assert_array_equal(vol.compute(), values)
    np.testing.assert_array_equal(vol.compute(), _pydicom_stack(truth.files))


def test_rescaled_values_of_mixed_stored_dtypes(tmp_path):
    # A fractional slope: float32, each image's stored values scaled from its own dtype.
    truth, values = _series(tmp_path, [("u1", 8), ("u2", 12)], slope=0.5, intercept=-10.0)
    vol = lv.open(tmp_path / "s")
    assert vol.dtype == np.float32
    np.testing.assert_allclose(vol.compute(), values * 0.5 - 10.0, rtol=0, atol=1e-3)
    np.testing.assert_allclose(vol.compute(), _pydicom_stack(truth.files), rtol=0, atol=1e-3)
    # Integral rescale of signed and unsigned 16-bit slices: the exact integer dtype (int32).
    truth, values = _series(tmp_path, MIXED_SIGN, slope=2.0, intercept=-1024.0, name="t")
    vol = lv.open(tmp_path / "t")
    assert vol.dtype == np.int32
    np.testing.assert_array_equal(vol.compute(), values * 2 - 1024)


def test_integral_rescales_stay_exact_integers(tmp_path):
    # uint32 and int16 slices need int64 as stored; an intercept of -1024 on that whole range
    # overflows int64 and fell to float32 (values off by up to 128). Each image's own range,
    # scaled by its own pair, fits int64 exactly.
    _, values = _series(tmp_path, [("u4", 32), ("i2", 16)], intercept=-1024.0)
    vol = lv.open(tmp_path / "s")
    assert vol.dtype == np.int64
    np.testing.assert_array_equal(vol.compute(), values - 1024)
    # Each image's range by its own rescale: 12-bit unsigned at -1024 and 16-bit signed at 0
    # both fit int16 (the union of ranges under both rescales would need int32).
    per = [{"RescaleIntercept": "-1024" if k % 2 == 0 else "0"} for k in range(SHAPE[2])]
    _, values = _series(tmp_path, [("u2", 12), ("i2", 16)], per_slice=per, name="t")
    vol = lv.open(tmp_path / "t")
    assert vol.dtype == np.int16
    shift = np.array([-1024 if k % 2 == 0 else 0 for k in range(SHAPE[2])])
    np.testing.assert_array_equal(vol.compute(), values + shift)


def test_an_unreadable_stored_dtype_fails_alone(tmp_path):
    # A file whose stored dtype lazyvol cannot read (PixelRepresentation 2, BitsAllocated 12)
    # is a group of its own: the series' other files still open, the file's group says why.
    for n, (attr, value) in enumerate([("PixelRepresentation", 2), ("BitsAllocated", 12)]):
        truth = write_dicom_series(tmp_path / f"s{n}", SHAPE, dtype="int16")
        ds = pydicom.dcmread(truth.files[-1])
        setattr(ds, attr, value)
        ds.save_as(truth.files[-1])
        report = lv.scan(tmp_path / f"s{n}")
        good = [i for i in report if i.error is None]
        assert [i.shape for i in good] == [(*SHAPE[:2], SHAPE[2] - 1)], [i.error for i in report]
        bad = [i for i in report if i.error]
        assert len(bad) == 1 and attr in bad[0].error
        vol = lv.open(tmp_path / f"s{n}", series=good[0].id)
        np.testing.assert_array_equal(vol.compute(), truth.stored[:, :, :-1])


def test_a_bits_stored_beyond_bits_allocated_fails_the_series(tmp_path):
    # Not a group of its own (the rest would open short, under the series' id): the series
    # fails, naming the file and the field, as before stored dtypes could mix.
    truth = write_dicom_series(tmp_path / "s", SHAPE, dtype="int16")
    ds = pydicom.dcmread(truth.files[2])
    ds.BitsStored = 20
    ds.save_as(truth.files[2])
    (info,) = lv.scan(tmp_path / "s")
    assert info.error and "BitsStored" in info.error and truth.files[2] in info.error


def test_compressed_and_native_slices_of_mixed_stored_dtypes(tmp_path):
    # Per-frame stored dtype and per-frame transfer syntax together: every other file RLE.
    from pydicom.pixels import get_encoder

    if not get_encoder(RLELossless).is_available:
        pytest.skip("no pydicom RLE encoder installed")
    truth, values = _series(tmp_path, [("u1", 8), ("u1", 8), ("i2", 16)])
    for f in truth.files[::2]:
        ds = pydicom.dcmread(f)
        ds.compress(RLELossless)
        ds.save_as(f)
    vol = lv.open(tmp_path / "s", chunks=(16, 12, 4))
    assert len(vol.meta["transfer_syntaxes"]) == 2
    np.testing.assert_array_equal(vol.compute(), values)


def test_the_saved_scan_keeps_each_frames_stored_dtype(tmp_path):
    from lazyvol.dicom.saved_scan import index_path

    _, values = _series(tmp_path, MIXED_SIGN)
    np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), values)
    report = index_path(str(tmp_path / "s")).with_suffix(".report.json")
    doc = read_json_checked(report)
    assert doc["series"][0]["frames"]["stored_types"] == ["u2", "i2"] * 3
    np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), values)


@pytest.mark.parametrize("same", [True, False], ids=["same-values", "other-values"])
def test_copies_of_one_image_stored_signed_and_unsigned(tmp_path, same):
    # A copy under another PixelRepresentation is the same image when its values are: dropped as
    # a duplicate. The same bytes read signed are other values (40000 -> -25536): refused.
    truth, values = _series(tmp_path, [("u2", 16)])
    copy = tmp_path / "s" / "copy.dcm"
    shutil.copy(truth.files[2], copy)
    v = values[:, :, 2] % 30000 if same else values[:, :, 2]
    if same:
        _store(truth.files[2], v, "u2", 16)
        values[:, :, 2] = v
    ds = pydicom.dcmread(copy)
    ds.PixelRepresentation = 1
    ds.PixelData = np.ascontiguousarray(v.T).astype("<u2").tobytes()  # the same bytes
    ds.save_as(copy)
    if not same:
        with pytest.raises(lv.SeriesError, match=r"BitsAllocated/PixelRepresentation .*16/0"):
            lv.open(tmp_path / "s")
        return
    vol = lv.open(tmp_path / "s")
    assert vol.dtype == np.uint16
    np.testing.assert_array_equal(vol.compute(), values)
    assert any("copy.dcm" in w and "same pixel values" in w for w in vol.meta["warnings"])


def test_a_rescaled_copy_in_another_stored_dtype_is_the_same_image(tmp_path):
    # 12-bit unsigned CT at intercept -1024, re-exported next to it as signed values in HU at
    # intercept 0 with the same SOPInstanceUIDs: the same images, dropped as duplicates. The
    # same bytes under another intercept are other values: refused.
    truth, values = _series(tmp_path, [("u2", 12)], intercept=-1024.0)
    for k, f in enumerate(truth.files[:2]):
        copy = tmp_path / "s" / f"hu{k}.dcm"
        shutil.copy(f, copy)
        _store(copy, values[:, :, k] - 1024, "i2", 16)
        ds = pydicom.dcmread(copy)
        ds.RescaleIntercept = "0"
        ds.save_as(copy)
    vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), values - 1024)
    (note,) = [w for w in vol.meta["warnings"] if "same pixel values" in w]
    assert note.startswith("exact duplicates dropped: 2 images repeat images kept")
    assert "hu0.dcm repeats" in note and "hu1.dcm repeats" in note
    other = tmp_path / "s" / "other.dcm"
    shutil.copy(truth.files[3], other)
    ds = pydicom.dcmread(other)
    ds.RescaleIntercept = "0"  # the same stored bytes, other values
    ds.save_as(other)
    with pytest.raises(lv.SeriesError, match=r"RescaleSlope/RescaleIntercept .*1/-1024 and 1/0"):
        lv.open(tmp_path / "s")


def test_copies_compared_as_the_volume_rescales_them(tmp_path):
    # A fractional slope reached two ways (12-bit unsigned at -1024, signed x - 10240 at 0)
    # gives the same real values up to float64 rounding: the same image, not a conflict.
    truth, values = _series(tmp_path, [("u2", 12)], slope=0.1, intercept=-1024.0)
    signed = tmp_path / "s" / "signed.dcm"
    shutil.copy(truth.files[2], signed)
    _store(signed, values[:, :, 2] - 10240, "i2", 16)
    ds = pydicom.dcmread(signed)
    ds.RescaleIntercept = "0"
    ds.save_as(signed)
    vol = lv.open(tmp_path / "s")
    np.testing.assert_allclose(vol.compute(), values * 0.1 - 1024, rtol=0, atol=1e-3)
    assert any("signed.dcm" in w and "same pixel values" in w for w in vol.meta["warnings"])
    # Equal bytes with RescaleSlope 0 (read as 1, with a warning) beside slope 1: the same
    # image, dropped as before.
    truth, values = _series(tmp_path, [("i2", 16)], name="z")
    zero = tmp_path / "z" / "zero.dcm"
    shutil.copy(truth.files[1], zero)
    ds = pydicom.dcmread(zero)
    ds.RescaleSlope = "0"
    ds.save_as(zero)
    vol = lv.open(tmp_path / "z")
    np.testing.assert_array_equal(vol.compute(), values)
    assert any("zero.dcm" in w and "exact duplicate" in w for w in vol.meta["warnings"])


def test_enhanced_copies_compare_frame_by_frame(tmp_path):
    # An enhanced file stored as uint8 with per-frame slopes 1..4, and a re-export of it (same
    # SOPInstanceUID) stored as the real values in uint16 at slope 1: the same frames. Each
    # frame's pair applies to that frame only (applied to the whole file, frames differed).
    from lazyvol.testing import write_enhanced_dicom

    slopes = [1.0, 2.0, 3.0, 4.0]
    truth = write_enhanced_dicom(tmp_path / "s" / "a.dcm", (16, 12, 4), dtype="uint8", slope=slopes)
    copy = tmp_path / "s" / "b.dcm"
    ds = pydicom.dcmread(truth.files[0])
    real = np.stack([ds.pixel_array[f].astype(np.uint16) * 1 for f in range(4)])
    for f, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        k = round(float(item.PlanePositionSequence[0].ImagePositionPatient[2] - 30.0) / 2.5)
        real[f] *= int(slopes[k])
        item.PixelValueTransformationSequence[0].RescaleSlope = "1"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelData = real.astype("<u2").tobytes()
    ds["PixelData"].VR = "OW"
    ds.save_as(copy)
    vol = lv.open(tmp_path / "s")
    expected = truth.stored * np.array(slopes)[None, None, :]
    np.testing.assert_array_equal(vol.compute(), expected)
    (note,) = [w for w in vol.meta["warnings"] if "same pixel values" in w]
    assert note.startswith("exact duplicates dropped: 4 images repeat images kept")
    assert "b.dcm (frame 1 of 4) repeats" in note and "and 1 more" in note


def test_split_4d_volumes_each_their_own_stored_dtype(tmp_path):
    nk, nt = 3, 2
    pos = np.array([[-12.5, -20.0, 30.0 + 2.5 * (n % nk)] for n in range(nk * nt)])
    per = [{"TemporalPositionIdentifier": n // nk + 1} for n in range(nk * nt)]
    truth = write_dicom_series(
        tmp_path / "s", (16, 12, nk * nt), dtype="uint16", positions=pos, per_slice=per
    )
    ref = np.zeros((16, 12, nk, nt), dtype=np.int64)
    rng = np.random.default_rng(3)
    for n, f in enumerate(truth.files):
        kind = ("u1", "i2")[n // nk]
        v = rng.integers(*_range(kind, 8 * np.dtype(kind).itemsize), size=(16, 12))
        _store(f, v, kind, 8 * np.dtype(kind).itemsize)
        ds = pydicom.dcmread(f)
        k = round((float(ds.ImagePositionPatient[2]) - 30.0) / 2.5)
        ref[:, :, k, int(ds.TemporalPositionIdentifier) - 1] = ds.pixel_array.T
    whole = lv.open(tmp_path / "s")
    assert whole.dtype == np.int16
    np.testing.assert_array_equal(whole.compute(), ref)
    infos = lv.scan(tmp_path / "s", split_4d=True)
    assert len(infos) == 2
    for t, info in enumerate(infos):
        vol = lv.open(tmp_path / "s", series=info.id, split_4d=True)
        np.testing.assert_array_equal(vol.compute(), ref[..., t])
        assert vol.meta["stored_dtype"] == ("u1", "i2")[t]
        assert "stored_dtype_counts" not in vol.meta
        # Each volume's own dtype, and no warning about dtypes it does not mix.
        assert vol.dtype == (np.uint8, np.int16)[t]
        assert not any("PixelRepresentation" in w for w in vol.meta.get("warnings", []))
        stored = lv.open(tmp_path / "s", series=info.id, split_4d=True, scale=False)
        np.testing.assert_array_equal(stored.compute(), ref[..., t])


def test_references_refuse_mixed_stored_dtypes(tmp_path):
    # A Zarr array has one stored dtype: references cannot describe per-file dtypes.
    from lazyvol.refs import references

    _series(tmp_path, MIXED_SIGN)
    with pytest.raises(lv.UnsupportedError, match=r"stored as i2, u2"):
        references(tmp_path / "s")


def test_one_volume_as_dcm2niix_stacks_it(tmp_path, dcm2niix):
    # dcm2niix stacks 8- and 16-bit slices of one series as float32 (dcm2niix#458); the values
    # and the geometry are the same as lazyvol's.
    import nibabel as nib

    _series(tmp_path, [("u1", 8), ("u2", 16)], orientation="oblique", name="in")
    (nii,) = dcm2niix(tmp_path / "in", tmp_path / "out")  # one volume
    img = nib.as_closest_canonical(nib.load(nii))
    vol = lv.open(tmp_path / "in")
    mine = nib.as_closest_canonical(nib.Nifti1Image(vol.compute(), vol.affine))
    np.testing.assert_allclose(mine.affine, img.affine, atol=1e-3)
    np.testing.assert_array_equal(np.asarray(mine.dataobj), img.get_fdata())
