"""NIfTI/Analyze reader against nibabel, on generated files and on nibabel's own test data."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import warnings
from pathlib import Path

import dask
import nibabel as nib
import numpy as np
import pytest
from nibabel.testing import data_path

import lazyvol as lv
import lazyvol.nifti as lvn
import lazyvol.nifti_header as lvh
import lazyvol.nifti_plan as lvp
from lazyvol import gzaccess
from lazyvol.chunking import source_of
from lazyvol.testing import write_phantom_nifti


def _oblique() -> np.ndarray:
    aff = np.eye(4)
    aff[:3, :3] = nib.eulerangles.euler2mat(0.2, 0.1, -0.3) @ np.diag([1.5, 0.8, 2.0])
    aff[:3, 3] = [10.0, -20.0, 30.0]
    return aff


def _save(tmp_path: Path, name: str, data: np.ndarray, **hdr_kw: object) -> Path:
    img = nib.Nifti1Image(data, _oblique(), dtype=data.dtype)
    if "slope" in hdr_kw:
        img.header.set_slope_inter(hdr_kw["slope"], hdr_kw.get("inter", 0.0))
    path = tmp_path / name
    nib.save(img, path)
    return path


# -- nibabel's own test images ---------------------------------------------------------------------


def _nibabel_images() -> list[str]:
    names = []
    for name in sorted(os.listdir(data_path)):
        if not name.endswith((".nii", ".nii.gz", ".hdr", ".hdr.gz")):
            continue
        path = os.path.join(data_path, name)
        try:
            img = nib.load(path)
            if not isinstance(img, nib.analyze.AnalyzeImage):
                continue
            np.asanyarray(img.dataobj)
        except Exception:
            continue  # nibabel itself cannot read it: nothing to compare with
        names.append(name)
    return names


NIBABEL_IMAGES = _nibabel_images()


def test_nibabel_ships_enough_images() -> None:
    # The nibabel wheel ships seven NIfTI images whose data it can read (the .img/.REC halves of
    # its Analyze and PAR files are left out of the wheel).
    assert len(NIBABEL_IMAGES) >= 7


@pytest.mark.parametrize("name", NIBABEL_IMAGES)
def test_nibabel_test_data_matches_nibabel(name: str) -> None:
    path = os.path.join(data_path, name)
    img = nib.load(path)
    ref = np.asanyarray(img.dataobj)
    vol = lv.open(path)
    got = vol.compute()
    if ref.ndim < 3:
        ref = ref.reshape(ref.shape + (1,) * (3 - ref.ndim))
    assert got.shape == ref.shape
    np.testing.assert_array_equal(vol.affine, img.affine)
    if got.dtype.kind in "iub" or ref.dtype.kind in "iub":
        np.testing.assert_array_equal(got, ref)
    elif got.dtype.fields is None:
        np.testing.assert_allclose(got, ref, rtol=2e-7 if got.dtype == np.float32 else 0)
    else:
        assert got.tobytes() == ref.astype(got.dtype).tobytes()


# -- generated files -------------------------------------------------------------------------------

DTYPES = [
    "uint8",
    "int8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "float32",
    "float64",
    "complex64",
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_dtypes_and_endianness(tmp_path: Path, dtype: str, endian: str, suffix: str) -> None:
    rng = np.random.default_rng(3)
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        data = rng.integers(info.min, info.max, size=(7, 9, 11), dtype=dt, endpoint=True)
    elif dt.kind == "c":
        data = (rng.normal(size=(7, 9, 11)) + 1j * rng.normal(size=(7, 9, 11))).astype(dt)
    else:
        data = rng.normal(0, 1000, size=(7, 9, 11)).astype(dt)
    data = data.astype(dt.newbyteorder(endian))
    path = _save(tmp_path, "img" + suffix, data)
    vol = lv.open(path, chunks=(7, 9, 4))
    ref = np.asanyarray(nib.load(path).dataobj)
    got = vol.compute()
    assert vol.dtype == got.dtype == dt.newbyteorder("=")
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(vol.affine, nib.load(path).affine)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize(
    ("dtype", "slope", "inter", "expected"),
    [
        ("int16", 1.0, -1024.0, "int32"),
        ("uint8", 2.0, 3.0, "uint16"),
        ("int16", 0.25, 10.0, "float32"),
        ("float32", 2.0, -1.5, "float32"),
    ],
)
def test_scaling_rule_and_values(
    tmp_path: Path, suffix: str, dtype: str, slope: float, inter: float, expected: str
) -> None:
    rng = np.random.default_rng(4)
    data = rng.integers(0, 200, size=(6, 5, 8)).astype(dtype)
    path = _save(tmp_path, "s" + suffix, data, slope=slope, inter=inter)
    img = nib.load(path)
    ref = np.asanyarray(img.dataobj)
    vol = lv.open(path)
    assert vol.dtype == np.dtype(expected)
    got = vol.compute()
    assert got.dtype == np.dtype(expected)
    if got.dtype.kind in "iu":
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-6)
    raw = lv.open(path, scale=False)
    assert raw.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(raw.compute(), img.dataobj.get_unscaled())
    forced = lv.open(path, dtype="float64")
    assert forced.compute().dtype == np.float64
    np.testing.assert_allclose(forced.compute(), ref, rtol=1e-12)


@pytest.mark.parametrize("inter", [0.0, 5.0, float("inf"), float("nan")])
@pytest.mark.parametrize("slope", [0.0, float("nan")])
def test_zero_or_nan_slope_means_no_scaling(tmp_path: Path, slope: float, inter: float) -> None:
    # nifti1.h: scaling applies when scl_slope != 0; the intercept, even infinite, then does not
    # count (an infinite one was refused before the slope was looked at).
    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    path = tmp_path / "z.nii"
    img = nib.Nifti1Image(data, np.eye(4))
    nib.save(img, path)
    raw = bytearray(path.read_bytes())
    raw[112:116] = np.float32(slope).tobytes()
    raw[116:120] = np.float32(inter).tobytes()
    path.write_bytes(bytes(raw))
    vol = lv.open(path)
    assert vol.dtype == np.int16
    np.testing.assert_array_equal(vol.compute(), np.asanyarray(nib.load(path).dataobj))


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("nifti2", [False, True])
def test_4d_phantom_chunks_and_values(tmp_path: Path, suffix: str, nifti2: bool) -> None:
    path = write_phantom_nifti(
        tmp_path / ("p" + suffix), (24, 20, 18, 3), nifti2=nifti2, slope=2, inter=-7
    )
    img = nib.load(path)
    assert isinstance(img, nib.Nifti2Image if nifti2 else nib.Nifti1Image)
    ref = np.asanyarray(img.dataobj)
    vol = lv.open(path)
    assert vol.meta["format"] == ("nifti2" if nifti2 else "nifti1")
    assert vol.chunks[3] == (3,)  # whole volumes within the chunk budget are read together
    np.testing.assert_array_equal(vol.compute(), ref)
    for chunks in [(5, 7, 3, 2), (24, 20, 1, 1), (24, 3, 18, 3)]:
        np.testing.assert_array_equal(lv.open(path, chunks=chunks).compute(), ref)
    sub = vol[2:20:3, ::-1, 4:9, 1:]
    np.testing.assert_array_equal(sub.compute(), ref[2:20:3, ::-1, 4:9, 1:])


def test_auto_chunks_are_contiguous_slabs_within_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAZYVOL_CHUNK_SIZE", str(40 * 30 * 2 * 7))
    path = write_phantom_nifti(tmp_path / "a.nii", (40, 30, 50))
    vol = lv.open(path)
    assert vol.chunks[:2] == ((40,), (30,))
    assert set(vol.chunks[2][:-1]) == {7}
    np.testing.assert_array_equal(vol.compute(), np.asanyarray(nib.load(path).dataobj))


@pytest.mark.parametrize("gz", [False, True])
def test_analyze_pair(tmp_path: Path, gz: bool) -> None:
    data = np.random.default_rng(5).integers(-500, 500, size=(8, 9, 10)).astype(np.int16)
    img = nib.AnalyzeImage(data, np.diag([2.0, 2.0, 3.0, 1.0]))
    path = tmp_path / ("a.hdr.gz" if gz else "a.hdr")
    nib.save(img, path)
    loaded = nib.load(path)
    vol = lv.open(path)
    np.testing.assert_array_equal(vol.compute(), np.asanyarray(loaded.dataobj))
    np.testing.assert_array_equal(vol.affine, loaded.affine)
    assert vol.meta["format"] == "analyze"


def test_a_dicom_file_named_img_is_read_as_dicom(tmp_path: Path) -> None:
    """PACS and old Siemens exports name DICOM files ``*.img`` (dcm2niix's dcm_qa_agfa): the name
    made it the image file of an Analyze pair ("its header ....hdr is missing"); a Part 10 file so
    named is DICOM, equal to pydicom, and the image of a real Analyze pair is still read."""
    import shutil

    import pydicom
    from pydicom.data import get_testdata_file

    src = get_testdata_file("MR_small.dcm")
    path = tmp_path / "011-0001.img"
    shutil.copy(src, path)
    ds = pydicom.dcmread(src)
    vol = lv.open(path)
    assert vol.meta["format"] == "DICOM"
    want = ds.pixel_array.T.astype(float) * float(getattr(ds, "RescaleSlope", 1)) + float(
        getattr(ds, "RescaleIntercept", 0)
    )
    np.testing.assert_allclose(np.asarray(vol.compute(), float)[:, :, 0], want)
    bare = tmp_path / "bare.img"  # the same data set without the preamble (ACR-NEMA style)
    with open(src, "rb") as f:
        f.seek(128 + 4)
        meta_length = int.from_bytes(f.read(12)[8:12], "little")  # (0002,0000) group length
        f.seek(128 + 4 + 12 + meta_length)
        bare.write_bytes(f.read())
    np.testing.assert_allclose(np.asarray(lv.open(bare).compute(), float)[:, :, 0], want)
    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    nib.AnalyzeImage(data, np.eye(4)).to_filename(tmp_path / "b.hdr")
    np.testing.assert_array_equal(lv.open(tmp_path / "b.img").compute(), data)


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("vox_offset", np.nan, "vox_offset = nan"),
        ("vox_offset", np.inf, "vox_offset = inf"),
        ("datatype", 1234, "datatype = 1234"),
    ],
)
def test_an_analyze_header_field_nibabel_refuses_is_named(
    tmp_path: Path, field: str, value: float, said: str
) -> None:
    """An Analyze header nibabel refuses gave its words only ('cannot convert float NaN to
    integer'), where the same field in a NIfTI header is named: the field is named with its
    value (the one whose value in a new header lets nibabel read the header)."""
    path = tmp_path / "a.hdr"
    nib.AnalyzeImage(np.arange(60, dtype=np.int16).reshape(3, 4, 5), np.eye(4)).to_filename(path)
    hdr = nib.AnalyzeHeader.from_fileobj(io.BytesIO(path.read_bytes()), check=False)
    hdr[field] = value
    path.write_bytes(hdr.binaryblock)
    with pytest.raises(Exception) as ref:  # nibabel refuses it (its error is untyped)
        nib.load(path).dataobj.offset  # noqa: B018
    with pytest.raises(
        lv.FormatError,
        match=rf"a\.hdr: Analyze header field {said} is invalid \(nibabel: .*corrupt",
    ) as got:
        lv.open(path)
    assert str(ref.value) in str(got.value)


def test_an_analyze_header_with_two_bad_fields_says_so_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two bad fields (datatype 1234, vox_offset NaN): no one field mends the header, and each
    trial made nibabel log 'data code 1234 not recognized' again (four lines for one open), and
    the refusal lost 'invalid header' (h35)."""
    path = tmp_path / "a.hdr"
    nib.AnalyzeImage(np.arange(60, dtype=np.int16).reshape(3, 4, 5), np.eye(4)).to_filename(path)
    hdr = nib.AnalyzeHeader.from_fileobj(io.BytesIO(path.read_bytes()), check=False)
    hdr["datatype"], hdr["vox_offset"] = 1234, np.nan
    path.write_bytes(hdr.binaryblock)
    with caplog.at_level("DEBUG", logger="nibabel.global"):
        with pytest.raises(lv.FormatError, match=r"invalid Analyze header .*several are corrupt"):
            lv.open(path)
    assert sum("1234" in r.getMessage() for r in caplog.records) == 1, caplog.records


def test_a_pair_opened_by_its_image_file_is_named_by_both_files(tmp_path: Path) -> None:
    """The ``.hdr`` of a pair opened by its ``.img`` is part of the source's identity: a header
    rewritten in place (same size, mtime put back) gives new dask keys and a new cache entry, and
    both reads equal nibabel's of the files as they are."""
    data = np.arange(16 * 16 * 8, dtype=np.int16).reshape(16, 16, 8)
    hdr = tmp_path / "a.hdr"
    nib.AnalyzeImage(data, np.eye(4)).to_filename(hdr)
    img = tmp_path / "a.img"
    with open(img, "ab") as f:
        f.write(b"\0" * 64)  # room for a later vox_offset
    cache = tmp_path / "cache"
    before = lv.open(img, cache=cache)
    np.testing.assert_array_equal(before.compute(), np.asanyarray(nib.load(hdr).dataobj))
    name_before = lv.open(img).data.name
    st = os.stat(hdr)
    h = nib.load(hdr).header.copy()
    h["vox_offset"] = 32
    raw = h.binaryblock
    assert len(raw) == st.st_size
    hdr.write_bytes(raw)
    os.utime(hdr, ns=(st.st_atime_ns, st.st_mtime_ns))
    now = np.asanyarray(nib.load(hdr).dataobj)
    assert not np.array_equal(now, data)
    after = lv.open(img)
    assert after.data.name != name_before
    np.testing.assert_array_equal(after.compute(), now)
    np.testing.assert_array_equal(lv.open(img, cache=cache).compute(), now)


def test_nifti1_pair(tmp_path: Path) -> None:
    data = np.random.default_rng(6).normal(size=(5, 6, 7)).astype(np.float32)
    nib.save(nib.Nifti1Pair(data, _oblique()), tmp_path / "p.img")
    vol = lv.open(tmp_path / "p.hdr")
    np.testing.assert_array_equal(vol.compute(), data)
    np.testing.assert_allclose(vol.affine, nib.load(tmp_path / "p.hdr").affine)


def test_rgb24_keeps_its_fields_and_ignores_scaling(tmp_path: Path) -> None:
    rgb = np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")])
    data = np.zeros((6, 7, 5), dtype=rgb)
    data["G"] = np.arange(210).reshape(6, 7, 5)
    data["B"] = 7
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_slope_inter(2.0, 1.0)
    nib.save(img, tmp_path / "rgb.nii")
    vol = lv.open(tmp_path / "rgb.nii")
    assert vol.dtype == rgb
    got = vol.compute()
    assert got.dtype == rgb
    np.testing.assert_array_equal(got["G"], data["G"])
    np.testing.assert_array_equal(got["B"], data["B"])


def test_extensions_and_unusual_offset(tmp_path: Path) -> None:
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"hello lazyvol" * 11))
    path = tmp_path / "ext.nii"
    nib.save(img, path)
    assert nib.load(path).dataobj.offset > 352
    np.testing.assert_array_equal(lv.open(path).compute(), data)
    img2 = nib.Nifti1Image(data, np.eye(4))
    img2.header.set_data_offset(1000)
    nib.save(img2, tmp_path / "off.nii")
    assert nib.load(tmp_path / "off.nii").dataobj.offset == 1000
    np.testing.assert_array_equal(lv.open(tmp_path / "off.nii").compute(), data)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_zero_padding_after_the_extensions_ends_them(tmp_path: Path, suffix: str) -> None:
    """An extension followed by zeros up to a larger vox_offset (what nibabel writes after
    set_data_offset with an extension): niftilib (SimpleITK, FSL, AFNI) stops at the zero frame
    and reads the data; nibabel fails (an untyped ValueError). lazyvol reads it as niftilib does
    (the truth: the array written); a nonzero frame that does not fit is still refused."""
    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    img = nib.Nifti1Image(data, np.diag([2.0, 2, 2, 1]))
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"comment" * 10))
    img.header.set_data_offset(2048)
    path = tmp_path / ("pad" + suffix)
    nib.save(img, path)
    with pytest.raises(ValueError):
        nib.load(path).get_fdata()
    np.testing.assert_array_equal(lv.open(path).compute(), data)
    if suffix == ".nii":
        sitk = pytest.importorskip("SimpleITK")
        np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(path))).T, data)
        raw = bytearray(path.read_bytes())
        first = 352 + int(np.frombuffer(raw[352:356], "<i4")[0])
        raw[first + 4 : first + 8] = np.int32(6).tobytes()  # ecode 6, esize 0: not padding
        path.write_bytes(bytes(raw))
        with pytest.raises(lv.FormatError, match="extension"):
            lv.open(path)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".hdr"])
def test_extensions_larger_than_the_header_cap_are_left_unread(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Extensions past what open reads (16 MiB; 4 KiB here) are valid (a big CIFTI or JSON
    extension): the image opens as nibabel reads it, not as a header cut short."""
    monkeypatch.setattr(lvh, "MAX_HEADER_BYTES", 4096)
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    klass = nib.Nifti1Pair if suffix == ".hdr" else nib.Nifti1Image
    img = klass(data, np.diag([2.0, 3.0, 4.0, 1.0]))
    img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"x" * 3000))
    img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"y" * 9000))
    path = tmp_path / ("big" + suffix)
    nib.save(img, path)
    assert len(nib.load(path).header.extensions) == 2
    vol = lv.open(path)
    np.testing.assert_array_equal(vol.compute(), np.asanyarray(nib.load(path).dataobj))
    np.testing.assert_allclose(vol.affine, nib.load(path).affine)
    # its header shows the extensions the volume carries, as a URL's does: a vox_offset claim
    # (a .gz inflated to it) is never read whole for a header
    with pytest.warns(RuntimeWarning, match=r"extensions past its first .*1 before them"):
        shown = vol.header
    assert [e.get_content() for e in shown.extensions] == [b"x" * 3000]
    assert shown.get_data_shape() == data.shape and shown.get_data_dtype() == data.dtype
    if suffix == ".nii.gz":
        return
    # an extension cut short within what open reads is still refused, as nibabel refuses it
    small = tmp_path / ("small" + suffix)
    img.header.extensions.clear()
    img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"z" * 1000))
    nib.save(img, small)
    raw = bytearray(small.read_bytes())
    raw[352:356] = np.int32(2000).tobytes()  # esize 1016 -> 2000: past the header's end
    small.write_bytes(bytes(raw))
    with pytest.raises(nib.spatialimages.HeaderDataError):
        nib.load(small)
    with pytest.raises(lv.FormatError, match="extension"):
        lv.open(small)


def test_a_nifti1_header_whose_sizeof_hdr_says_540_names_the_field(tmp_path: Path) -> None:
    """sizeof_hdr damaged to 540 in a NIfTI-1 file (magic n+1 at byte 344): parsed as NIfTI-2, it
    was refused as "dim[0] = 0 is outside 1..7". nibabel repairs the field on load; lazyvol names
    it, the magic and the fix."""
    path = tmp_path / "sz.nii"
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 6), np.int16), np.eye(4)), path)
    raw = bytearray(path.read_bytes())
    raw[0:4] = np.int32(540).tobytes()
    path.write_bytes(bytes(raw))
    assert nib.load(path).shape == (4, 5, 6)  # (nibabel repairs it, logging a warning)
    with pytest.raises(lv.FormatError, match=r"sz\.nii: NIfTI field sizeof_hdr = 540 .*n\+1.*348"):
        lv.open(path)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize(
    ("cls", "name", "size"),
    [
        (nib.Nifti1Image, "x.nii", 348),
        (nib.Nifti2Image, "x.nii", 540),
        (nib.AnalyzeImage, "x.img", 348),
    ],
    ids=["nifti1", "nifti2", "analyze"],
)
def test_a_sizeof_hdr_alone_in_the_other_byte_order_is_named_not_dim0(
    tmp_path: Path, cls, name, size, order
) -> None:
    """sizeof_hdr alone in the other byte order: the header was read in its order and refused
    blaming dim[0] (768, or 2**56 * 3 for NIfTI-2, a field that is fine). nibabel takes the order
    from dim[0] and repairs sizeof_hdr; lazyvol refuses the damaged field, naming it and the fix."""
    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    img = cls(data, np.diag([2.0, 3.0, 4.0, 1.0]), cls.header_class(endianness=order))
    nib.save(img, tmp_path / name)
    hdr = tmp_path / name.replace(".img", ".hdr")
    raw = bytearray(hdr.read_bytes())
    other = ">" if order == "<" else "<"
    raw[0:4] = np.array(size, other + "i4").tobytes()
    hdr.write_bytes(bytes(raw))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = nib.load(tmp_path / name)  # nibabel reads it (repairing sizeof_hdr)
        np.testing.assert_array_equal(np.asanyarray(ref.dataobj), data)
    ends = {"<": "little", ">": "big"}
    said = (
        rf"x\.(nii|hdr): {'Analyze' if cls is nib.AnalyzeImage else 'NIfTI'} field sizeof_hdr = {size} is stored {ends[other]}-endian, but "
        rf"dim\[0\] = 3 is {ends[order]}-endian .* set it to {size} {ends[order]}-endian"
    )
    with pytest.raises(lv.FormatError, match=said):
        lv.open(tmp_path / name)


def test_stored_values_say_what_they_mean_and_are_not_written_as_real_ones_silently(
    tmp_path: Path,
) -> None:
    """scale=False gave meta scl_slope 1 / scl_inter 0 for a file scaled by 0.5 and 3, and
    to_nifti wrote the stored integers unscaled, without a word (nibabel's copy keeps the real
    values). meta states the file's scaling; writing such a volume warns."""
    stored = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    img = nib.Nifti1Image(stored, np.eye(4))
    img.header.set_slope_inter(0.5, 3.0)
    nib.save(img, tmp_path / "s.nii")
    raw = lv.open(tmp_path / "s.nii", scale=False)
    np.testing.assert_array_equal(raw.compute(), stored)
    assert (raw.meta["scl_slope"], raw.meta["scl_inter"], raw.meta["scaled"]) == (0.5, 3.0, False)
    with pytest.warns(RuntimeWarning, match=r"stored values .*scl_slope 0\.5 / scl_inter 3\.0"):
        raw.to_nifti(tmp_path / "raw.nii")
    np.testing.assert_array_equal(nib.load(tmp_path / "raw.nii").get_fdata(), stored)
    real = lv.open(tmp_path / "s.nii")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        real.to_nifti(tmp_path / "real.nii")
    np.testing.assert_allclose(
        nib.load(tmp_path / "real.nii").get_fdata(), nib.load(tmp_path / "s.nii").get_fdata()
    )


@pytest.mark.parametrize("writer", ["to_zarr", "to_nibabel"])
def test_stored_values_given_to_a_store_or_an_image_warn_as_to_nifti(
    tmp_path: Path, writer: str
) -> None:
    """to_zarr of a volume opened with scale=False from a file scaled by 0.25 and -3 wrote the
    stored integers and a NIfTI-Zarr header stating no scaling, without a word (to_nifti warns),
    so a NIfTI-Zarr reader (niizarr) takes them for real values; to_nibabel the same. Both warn
    as to_nifti does; with scale=True they do not."""
    stored = np.random.default_rng(0).integers(-300, 300, (13, 12, 7)).astype(np.int16)
    img = nib.Nifti1Image(stored, np.eye(4))
    img.header.set_slope_inter(0.25, -3.0)
    nib.save(img, tmp_path / "s.nii")
    real = nib.load(tmp_path / "s.nii").get_fdata()
    raw = lv.open(tmp_path / "s.nii", scale=False)
    with pytest.warns(RuntimeWarning, match=r"stored values .*scl_slope 0\.25 / scl_inter -3\.0"):
        if writer == "to_zarr":
            store = raw.to_zarr(tmp_path / "s.zarr")
        else:
            image = raw.to_nibabel()
    if writer == "to_zarr":  # why: another reader of the store gets the stored values
        niizarr = pytest.importorskip("niizarr")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = niizarr.zarr2nii(store)
    np.testing.assert_array_equal(image.get_fdata(), stored)
    assert not np.allclose(image.get_fdata(), real)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaled = lv.open(tmp_path / "s.nii")
        if writer == "to_zarr":
            scaled.to_zarr(tmp_path / "real.zarr")
        else:
            scaled.to_nibabel()


# -- laziness, graph hygiene, schedulers -------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_open_reads_no_pixel_data(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_phantom_nifti(tmp_path / ("l" + suffix), (16, 16, 16))
    calls: list[tuple] = []
    real = lvp._fetch

    def counting(plan: lvn.NiftiPlan, index: tuple[slice, ...]) -> np.ndarray:
        calls.append(index)
        return real(plan, index)

    monkeypatch.setattr(lvp, "_fetch", counting)
    vol = lv.open(path, chunks=(16, 16, 4))
    sub = vol[:, :, 4:8]
    assert calls == []
    sub.compute()
    assert calls == [(slice(0, 16), slice(0, 16), slice(4, 8))]


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_slicing_reads_only_the_region(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_phantom_nifti(tmp_path / ("r" + suffix), (16, 12, 40, 2))
    ref = np.asanyarray(nib.load(path).dataobj)
    calls: list[tuple] = []
    real = lvp._fetch

    def counting(plan: lvn.NiftiPlan, index: tuple[slice, ...]) -> np.ndarray:
        calls.append(index)
        return real(plan, index)

    monkeypatch.setattr(lvp, "_fetch", counting)
    vol = lv.open(path, chunks=(16, 12, 16, 1))
    np.testing.assert_array_equal(vol[:, :, 21:22, 1].compute(), ref[:, :, 21:22, 1])
    assert calls == [(slice(0, 16), slice(0, 12), slice(21, 22), slice(1, 2))]
    calls.clear()
    # A region across a chunk boundary keeps the on-disk chunk edges: two reads, 14:16 and 16:18.
    sub = vol[2:5, :, 14:18, :1]
    assert sub.chunks[2] == (2, 2)
    np.testing.assert_array_equal(sub.compute(), ref[2:5, :, 14:18, :1])
    assert sorted(c[2].start for c in calls) == [14, 16]


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_graph_pickles_and_runs_on_processes(tmp_path: Path, suffix: str) -> None:
    path = write_phantom_nifti(tmp_path / ("g" + suffix), (20, 18, 16), slope=1.5)
    vol = lv.open(path, chunks=(20, 18, 5))
    ref = np.asanyarray(nib.load(path).dataobj)
    graph = dict(vol.data.__dask_graph__())
    clone = pickle.loads(pickle.dumps(graph))
    assert len(clone) == len(graph)
    threads = float(vol.data.mean().compute(scheduler="threads"))
    with dask.config.set(scheduler="processes", num_workers=2):
        procs = float(vol.data.mean().compute())
    assert threads == procs
    np.testing.assert_allclose(threads, ref.astype(np.float64).mean(), rtol=1e-6)


def test_distributed_local_cluster(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    plain = write_phantom_nifti(tmp_path / "d.nii", (20, 18, 16))
    gz = write_phantom_nifti(tmp_path / "d.nii.gz", (20, 18, 16))
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        for path in (plain, gz):
            vol = lv.open(path, chunks=(20, 18, 4))
            on_cluster = client.compute(vol.data.sum()).result()
            local = vol.data.sum().compute(scheduler="threads")
            assert int(on_cluster) == int(local) == int(np.asanyarray(nib.load(path).dataobj).sum())


def test_token_names_source_and_options(tmp_path: Path) -> None:
    path = write_phantom_nifti(tmp_path / "t.nii", (8, 8, 8))
    a = lv.open(path).data.name
    assert lv.open(path).data.name == a
    assert lv.open(path, scale=False, dtype="float32").data.name != a
    assert lv.open(path, chunks=(8, 8, 2)).data.name != a
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert lv.open(path).data.name != a


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_no_leaked_file_descriptors(tmp_path: Path, suffix: str) -> None:
    path = write_phantom_nifti(tmp_path / ("f" + suffix), (16, 16, 24))
    lv.open(path).compute()  # warm imports and pools
    before = _open_fds()
    for _ in range(4):
        vol = lv.open(path, chunks=(16, 16, 3))
        vol.data.sum().compute(scheduler="threads")
    # A pooled rapidgzip handle keeps its file open: the pool may hold up to MAX_HANDLES of them
    # per file (one per thread that read it at once), never one per read (8 chunks x 4 passes).
    from lazyvol.gzaccess import MAX_HANDLES

    assert _open_fds() <= before + (MAX_HANDLES if suffix == ".nii.gz" else 0)


# -- gzip seek index -----------------------------------------------------------------------------------


def test_gzip_index_saved_after_full_pass_and_reused(tmp_path: Path, _isolated_cache: Path) -> None:
    path = write_phantom_nifti(tmp_path / "i.nii.gz", (32, 32, 64))
    ref = np.asanyarray(nib.load(path).dataobj)
    index_dir = _isolated_cache / "gzindex"
    assert not index_dir.exists() or not any(index_dir.iterdir())
    vol = lv.open(path, chunks=(32, 32, 8))
    np.testing.assert_array_equal(vol.compute(scheduler="threads"), ref)
    saved = list(index_dir.glob("*.gzidx"))
    assert len(saved) == 1
    lvn.clear_gzip_handles()
    # A new reader imports the index; threads may now decompress in parallel. Values stay exact.
    vol2 = lv.open(path, chunks=(32, 32, 8))
    np.testing.assert_array_equal(vol2[:, :, 60:61].compute(), ref[:, :, 60:61])
    np.testing.assert_array_equal(vol2.compute(scheduler="threads"), ref)
    ent = next(iter(gzaccess._POOL.entries.values()))
    assert ent.indexed


def test_build_gzip_index_explicitly(tmp_path: Path) -> None:
    path = write_phantom_nifti(tmp_path / "b.nii.gz", (16, 16, 32))
    target = lvn.build_gzip_index(path)
    assert target.exists() and target.stat().st_size > 0
    vol = lv.open(path)
    np.testing.assert_array_equal(
        vol[:, :, 30:32].compute(), np.asanyarray(nib.load(path).dataobj)[:, :, 30:32]
    )


def test_corrupt_saved_index_is_ignored(tmp_path: Path) -> None:
    path = write_phantom_nifti(tmp_path / "c.nii.gz", (16, 16, 32))
    target = lvn.build_gzip_index(path)
    target.write_bytes(b"garbage" * 10)
    lvn.clear_gzip_handles()
    np.testing.assert_array_equal(lv.open(path).compute(), np.asanyarray(nib.load(path).dataobj))


def test_concurrent_threads_read_gz_correctly(tmp_path: Path) -> None:
    path = write_phantom_nifti(tmp_path / "th.nii.gz", (24, 24, 60))
    ref = np.asanyarray(nib.load(path).dataobj)
    vol = lv.open(path, chunks=(24, 24, 3))
    with dask.config.set(scheduler="threads", num_workers=4):
        for _ in range(2):
            np.testing.assert_array_equal(vol.compute(), ref)
            lvn.clear_gzip_handles()


# -- bad input -------------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(lv.SourceNotFoundError, match=r"nope\.nii"):
        lv.open(tmp_path / "nope.nii")


def test_not_nifti(tmp_path: Path) -> None:
    path = tmp_path / "junk.nii"
    path.write_bytes(b"this is not an image at all\n" * 30)
    with pytest.raises(lv.FormatError, match=r"junk\.nii"):
        lv.open(path)


def test_truncated_nii(tmp_path: Path) -> None:
    path = write_phantom_nifti(tmp_path / "t.nii", (16, 16, 16))
    size = path.stat().st_size if isinstance(path, Path) else os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 100)
    with pytest.raises(lv.FormatError, match=r"t\.nii.*truncated"):
        lv.open(path)


def test_truncated_nii_gz_caught_at_open(tmp_path: Path) -> None:
    path = write_phantom_nifti(tmp_path / "t.nii.gz", (32, 32, 32))
    raw = Path(path).read_bytes()
    Path(path).write_bytes(raw[: len(raw) // 2])
    with pytest.raises(lv.FormatError, match=r"t\.nii\.gz"):
        vol = lv.open(path)
        vol.compute()


def test_corrupt_nii_gz_raises_formaterror_on_read(tmp_path: Path) -> None:
    path = write_phantom_nifti(tmp_path / "bad.nii.gz", (32, 32, 32))
    raw = bytearray(Path(path).read_bytes())
    mid = len(raw) // 2
    raw[mid : mid + 64] = bytes(64)
    Path(path).write_bytes(bytes(raw))
    with pytest.raises(lv.FormatError, match=r"bad\.nii\.gz"):
        lv.open(path).compute()


def test_bad_crc_trailer(tmp_path: Path) -> None:
    path = write_phantom_nifti(tmp_path / "crc.nii.gz", (16, 16, 16))
    raw = bytearray(Path(path).read_bytes())
    raw[-8:-4] = bytes(b ^ 0xFF for b in raw[-8:-4])
    Path(path).write_bytes(bytes(raw))
    with pytest.raises(lv.FormatError, match=r"crc\.nii\.gz"):
        lv.open(path).compute()


def _patch_header(path: Path, offset: int, value: np.ndarray) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + value.nbytes] = value.tobytes()
    path.write_bytes(bytes(raw))


def test_dims_claiming_terabytes_rejected_before_allocation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = Path(write_phantom_nifti(tmp_path / "big.nii", (8, 8, 8)))
    _patch_header(path, 40, np.array([4, 32767, 32767, 32767, 100, 1, 1, 1], dtype="<i2"))
    with pytest.raises(lv.FormatError, match=r"big\.nii") as err:
        lv.open(path)
    assert isinstance(err.value, lv.ResourceLimitError | lv.FormatError)
    monkeypatch.setenv("LAZYVOL_MAX_VOLUME_BYTES", "1GiB")
    _patch_header(path, 40, np.array([3, 4096, 4096, 4096, 1, 1, 1, 1], dtype="<i2"))
    with pytest.raises(lv.ResourceLimitError, match="LAZYVOL_MAX_VOLUME_BYTES"):
        lv.open(path)


def test_gz_dims_beyond_deflate_ratio(tmp_path: Path) -> None:
    path = tmp_path / "lie.nii.gz"
    img = nib.Nifti1Image(np.zeros((4, 4, 4), dtype=np.int16), np.eye(4))
    img.header.set_data_shape((3000, 3000, 300))  # 5.4 GB: under the 1 TiB limit
    img.header.set_data_offset(352)
    with gzip.open(path, "wb") as f:
        f.write(img.header.binaryblock + b"\0" * 4 + np.zeros(64, np.int16).tobytes())
    # a header that no longer matches a complete stream: refused at open as a file that holds
    # less than its header says (FormatError), not as a configured limit (ResourceLimitError)
    with pytest.raises(lv.FormatError, match=r"lie\.nii\.gz: truncated.*holds \d+") as err:
        lv.open(path)
    assert not isinstance(err.value, lv.ResourceLimitError)


@pytest.mark.parametrize("engine", ["rapidgzip", "indexed_gzip"])
@pytest.mark.parametrize("cut", ["200", "in-header", "after-header", "mid-data", "in-trailer"])
def test_cut_nii_gz_is_a_truncated_formaterror_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cut: str, engine: str
) -> None:
    """A ``.nii.gz`` cut short, wherever: a FormatError (never ResourceLimitError) naming the
    file and saying it is truncated, at open, at compute and for the header alone; the engines
    never see it (rapidgzip wrote to stderr on such files)."""
    from lazyvol.headers import source_header

    monkeypatch.setenv("LAZYVOL_GZIP_ENGINE", engine)
    raw = Path(write_phantom_nifti(tmp_path / "full.nii.gz", (64, 64, 40))).read_bytes()
    n = {"200": 200, "in-header": 150, "after-header": 260, "mid-data": len(raw) // 2}
    path = tmp_path / "cut.nii.gz"
    path.write_bytes(raw[: n.get(cut, len(raw) - 5)])
    for step in (lv.open, lambda p: lv.open(p).compute(), source_header):
        with pytest.raises(lv.FormatError, match=r"cut\.nii\.gz: truncated") as err:
            step(str(path))
        assert not isinstance(err.value, lv.ResourceLimitError)


def test_empty_nii_gz_says_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.nii.gz"
    path.write_bytes(b"")
    with pytest.raises(lv.FormatError, match=r"empty\.nii\.gz: the file is empty"):
        lv.open(path)


@pytest.mark.parametrize(
    ("dim", "match"),
    [
        ([3, 8, -8, 8, 1, 1, 1, 1], "dimension < 1"),
        ([9, 8, 8, 8, 1, 1, 1, 1], r"dim\[0\]"),
        ([0, 8, 8, 8, 1, 1, 1, 1], r"dim\[0\]"),
    ],
)
def test_bad_dims(tmp_path: Path, dim: list[int], match: str) -> None:
    path = Path(write_phantom_nifti(tmp_path / "d.nii", (8, 8, 8)))
    _patch_header(path, 40, np.array(dim, dtype="<i2"))
    with pytest.raises(lv.FormatError, match=match):
        lv.open(path)


def test_unknown_datatype_and_bad_magic(tmp_path: Path) -> None:
    path = Path(write_phantom_nifti(tmp_path / "u.nii", (8, 8, 8)))
    _patch_header(path, 70, np.array([1234], dtype="<i2"))
    with pytest.raises(lv.FormatError, match=r"u\.nii"):
        lv.open(path)
    path2 = Path(write_phantom_nifti(tmp_path / "m.nii", (8, 8, 8)))
    raw = bytearray(path2.read_bytes())
    raw[0:4] = np.array([999], dtype="<i4").tobytes()
    path2.write_bytes(bytes(raw))
    with pytest.raises(lv.FormatError, match=r"m\.nii"):
        lv.open(path2)
    # NIfTI-2's magic in a NIfTI-1 (348-byte) header: named, not nibabel's "No filename or
    # fileobj present" from parsing it as Analyze.
    path3 = Path(write_phantom_nifti(tmp_path / "n.nii", (8, 8, 8)))
    raw = bytearray(path3.read_bytes())
    raw[344:348] = b"n+2\0"
    path3.write_bytes(bytes(raw))
    with pytest.raises(
        lv.FormatError, match=r"n\.nii: NIfTI field magic = b'n\+2.*expected b'n\+1"
    ):
        lv.open(path3)


@pytest.mark.parametrize(("vox_offset", "match"), [(10**7, "truncated"), (16, "vox_offset")])
def test_bad_vox_offset(tmp_path: Path, vox_offset: int, match: str) -> None:
    path = Path(write_phantom_nifti(tmp_path / "o.nii", (8, 8, 8)))
    _patch_header(path, 108, np.array([vox_offset], dtype="<f4"))
    with pytest.raises(lv.FormatError, match=match):
        lv.open(path)


def test_hdr_without_img(tmp_path: Path) -> None:
    nib.save(nib.AnalyzeImage(np.zeros((4, 4, 4), np.int16), np.eye(4)), tmp_path / "x.hdr")
    (tmp_path / "x.img").unlink()
    with pytest.raises(lv.SourceNotFoundError, match=r"x\.(hdr|img)"):
        lv.open(tmp_path / "x.hdr")


def test_infinite_slope_is_an_error(tmp_path: Path) -> None:
    path = Path(write_phantom_nifti(tmp_path / "inf.nii", (8, 8, 8)))
    _patch_header(path, 112, np.array([np.inf], dtype="<f4"))
    with pytest.raises(lv.FormatError, match="scl_slope"):
        lv.open(path)
    assert lv.open(path, scale=False).dtype == np.int16


def test_file_shrunk_after_open_is_an_error_not_garbage(tmp_path: Path) -> None:
    path = Path(write_phantom_nifti(tmp_path / "s.nii", (16, 16, 16)))
    vol = lv.open(path, chunks=(16, 16, 4))
    with open(path, "r+b") as f:
        f.truncate(352 + 16 * 16 * 6 * 2)
    with pytest.raises(lv.FormatError, match="truncated"):
        vol.compute()


def test_open_path_keyword_still_works_with_a_deprecation_warning(tmp_path):
    """``lv.open(path=...)`` (the keyword before remote sources) keeps working, with a warning."""
    import nibabel as nib

    from lazyvol.testing import write_phantom_nifti

    p = write_phantom_nifti(tmp_path / "k.nii", (6, 5, 4))
    with pytest.warns(DeprecationWarning, match="path="):
        vol = lv.open(path=p)
    np.testing.assert_array_equal(vol.compute(), np.asanyarray(nib.load(p).dataobj))
    with pytest.raises(TypeError, match="missing the source"):
        lv.open()


@pytest.mark.parametrize("big_endian", [False, True])
def test_blocks_cut_after_the_first_axis_read_their_runs_in_file_order(
    tmp_path: Path, big_endian: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gzip block whose first axis is whole but a later one is cut (half of every slice, as
    ``to_zarr`` write blocks are) reads exactly its contiguous runs, in ascending file order, into
    the block itself: the values match nibabel's for every such shape, steps included."""
    path = write_phantom_nifti(
        tmp_path / "h.nii.gz", (6, 10, 7, 3), dtype="float32", big_endian=big_endian, seed=3
    )
    ref = np.asanyarray(nib.load(path).dataobj)
    src = source_of(lv.open(path).data)
    assert src is not None and isinstance(src[1], lvp.NiftiPlan)
    plan = src[1]
    reads: list[tuple[int, int]] = []
    real = gzaccess.read

    def spy(src: gzaccess.GzSource, offset: int, view: memoryview) -> int:
        reads.append((offset, len(view)))
        return real(src, offset, view)

    monkeypatch.setattr(gzaccess, "read", spy)
    cases = [
        (slice(0, 6), slice(0, 5), slice(0, 7), slice(0, 3)),  # half of every slice
        (slice(0, 6), slice(3, 9), slice(2, 5), slice(1, 3)),
        (slice(0, 6), slice(0, 10), slice(1, 6, 2), slice(0, 2)),  # whole slices, a step
        (slice(0, 6), slice(1, 10, 3), slice(0, 7), slice(2, 3)),  # a step on the cut axis
        (slice(0, 6), slice(0, 10), slice(0, 7), slice(0, 2, 1)),  # one run per volume
    ]
    for index in cases:
        reads.clear()
        got = lvp.read_block(plan, index)
        np.testing.assert_array_equal(got, ref[index])
        offsets = [o for o, _ in reads]
        assert offsets == sorted(offsets)
        # Only the block's bytes: the runs add up to the block (no whole slices read and cut).
        assert sum(n for _, n in reads) == got.size * 4


def test_a_short_img_of_a_pair_is_named_in_the_error(tmp_path):
    """The data of an Analyze/NIfTI pair is the .img: a short one is what the error names (it
    named the intact .hdr)."""
    import lazyvol as lv

    img = nib.AnalyzeImage(np.arange(210, dtype=np.int16).reshape(5, 6, 7), np.eye(4))
    nib.save(img, tmp_path / "a.hdr")
    with open(tmp_path / "a.img", "r+b") as f:
        f.truncate(100)
    with pytest.raises(lv.FormatError, match=r"a\.img \(data of .*a\.hdr\): truncated"):
        lv.open(tmp_path / "a.hdr")


@pytest.mark.parametrize("volumes_per_budget, expected", [(2.5, (2, 2, 1)), (1.5, (1,) * 5)])
def test_4d_auto_chunks_hold_whole_volumes_within_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, volumes_per_budget: float, expected: tuple
) -> None:
    """Several whole volumes per chunk when at least two fit the budget (fewer dask tasks), one
    per chunk otherwise; the values are nibabel's either way, for whole reads and mean."""
    shape = (16, 12, 10, 5)
    path = write_phantom_nifti(tmp_path / "run.nii.gz", shape, slope=2, inter=-7)
    ref = np.asanyarray(nib.load(path).dataobj)
    monkeypatch.setenv("LAZYVOL_CHUNK_SIZE", str(int(16 * 12 * 10 * 4 * volumes_per_budget)))
    vol = lv.open(path)
    assert vol.chunks == ((16,), (12,), (10,), expected)
    np.testing.assert_array_equal(vol.compute(), ref)
    np.testing.assert_allclose(float(vol.data.mean().compute()), ref.mean(), rtol=1e-12)
    np.testing.assert_array_equal(vol[..., 3].compute(), ref[..., 3])


@pytest.mark.filterwarnings("ignore:Using large vector Freesurfer hack")
def test_freesurfer_long_vector_reads_as_nibabel_writes_it(tmp_path: Path) -> None:
    # nibabel writes an image of more than 32767 voxels along dim[1] FreeSurfer's way: dim =
    # [3, -1, 1, 1] with the length in glmin. It was refused as "a dimension < 1".
    data = np.arange(70000, dtype=np.float32).reshape(70000, 1, 1)
    path = tmp_path / "long.nii"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    assert nib.load(path).header["dim"][1] == -1
    vol = lv.open(path)
    assert vol.shape == (70000, 1, 1)
    np.testing.assert_array_equal(vol.compute(), np.asanyarray(nib.load(path).dataobj))
    np.testing.assert_array_equal(vol[69990:, :, :].compute(), data[69990:])


def test_an_integer_dtype_takes_the_scaled_values_exactly_or_refuses_them(tmp_path: Path) -> None:
    """dtype=int16 on a NIfTI scaled by 0.25 and 1 gave the intercept in every voxel (the slope
    was taken as int(0.25) = 0), then numpy's astype of nibabel's values (truncated without a
    word). A fractional scaling into an integer dtype is refused at open; values the dtype cannot
    hold (a fraction, NaN, or past its range) raise instead of truncating or wrapping."""
    stored = (np.arange(120, dtype=np.int16) + 200).reshape(4, 5, 6)
    img = nib.Nifti1Image(stored, np.eye(4))
    img.header.set_slope_inter(0.25, 1.0)
    nib.save(img, tmp_path / "s.nii")
    real = nib.load(tmp_path / "s.nii").get_fdata()
    for dtype in ("int16", "int32", "uint8"):
        with pytest.raises(lv.DataTypeError, match=r"s\.nii: .*0\.25 / 1\.0 is not a whole-number"):
            lv.open(tmp_path / "s.nii", dtype=dtype)
    img.header.set_slope_inter(4.0, 1.0)
    nib.save(img, tmp_path / "w.nii")
    real = nib.load(tmp_path / "w.nii").get_fdata()
    got = lv.open(tmp_path / "w.nii", dtype="int16")
    np.testing.assert_array_equal(got.compute(), real.astype("int16"))
    np.testing.assert_array_equal(got[1:3, :, 2:4].compute(), real[1:3, :, 2:4].astype("int16"))
    floats = np.full((4, 5, 6), 7.9, np.float32)
    floats[1, 2, 3] = np.nan
    nib.save(nib.Nifti1Image(floats, np.eye(4)), tmp_path / "f.nii")
    with pytest.raises(lv.DataTypeError, match=r"f\.nii: .*NaN or inf.*int16"):
        lv.open(tmp_path / "f.nii", dtype="int16").compute()
    img.header.set_slope_inter(1000.0, 0.0)
    nib.save(img, tmp_path / "big.nii")
    with pytest.raises(lv.DataTypeError, match=r"big\.nii: .*200000 .. 319000\).*int16"):
        lv.open(tmp_path / "big.nii", dtype="int16").compute()


def _flipped_shape_in_child(path: str, queue: object) -> None:
    queue.put(lv.open(path)[::-1, :, 1::2].compute().shape)  # type: ignore[attr-defined]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
def test_a_forked_child_computes_after_the_parent_used_dask_threads(tmp_path: Path) -> None:
    """A child forked after the parent computed through dask's threaded scheduler (a PyTorch
    DataLoader worker, say) waited forever on the parent's thread pool, copied without its
    threads, at its first flipped or strided selection."""
    import multiprocessing as mp

    path = write_phantom_nifti(tmp_path / "f.nii", (6, 5, 4))
    assert lv.open(path)[::-1].compute().shape == (6, 5, 4)  # the parent's threaded pool
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_flipped_shape_in_child, args=(str(path), queue))
    child.start()
    child.join(60)
    hung = child.is_alive()
    if hung:
        child.kill()
        child.join()
    assert not hung, "the forked child hung on dask's copied thread pool"
    assert queue.get(timeout=5) == (6, 5, 2)


def test_an_integer_dtype_keeps_wide_integers_exact_and_refuses_2_to_the_63(
    tmp_path: Path,
) -> None:
    """Through float64, dtype="int64" merged uint64 labels 2**60+1 and 2**60+3 and shifted int64
    values past 2**53; a float 2**63 read as int64 wrapped to -2**63 (float64 rounds int64's
    maximum up to 2**63)."""
    labels = np.array([2**60 + 1, 2**60 + 3, 7, 0], dtype=np.uint64).reshape(1, 2, 2)
    nib.save(nib.Nifti1Image(labels, np.eye(4), dtype=np.uint64), tmp_path / "u.nii")
    got = lv.open(tmp_path / "u.nii", dtype="int64").compute()
    np.testing.assert_array_equal(got, labels.astype(np.int64))
    img = nib.Nifti1Image(labels.astype(np.int64), np.eye(4), dtype=np.int64)
    img.header.set_slope_inter(1.0, 1.0)
    nib.save(img, tmp_path / "s.nii")
    got = lv.open(tmp_path / "s.nii", dtype="int64").compute()
    np.testing.assert_array_equal(got, labels.astype(np.int64) + 1)  # exact integer arithmetic
    big = np.array([2.0**63, 1.0], dtype=np.float64).reshape(1, 1, 2)
    nib.save(nib.Nifti1Image(big, np.eye(4)), tmp_path / "f.nii")
    with pytest.raises(lv.DataTypeError, match=r"f\.nii: values \(9\.223372036854776e\+18"):
        lv.open(tmp_path / "f.nii", dtype="int64").compute()
    with pytest.raises(lv.DataTypeError, match=r"s\.nii: values scaled by .*int8"):
        lv.open(tmp_path / "s.nii", dtype="int8").compute()
    with pytest.raises(lv.DataTypeError, match=r"s\.nii: values \(.*int8"):  # (no scaling named)
        lv.open(tmp_path / "s.nii", dtype="int8", scale=False).compute()


@pytest.mark.parametrize(
    ("shape", "chunks"),
    [
        ((4, 5), (2, 5, 1)),
        ((4, 5), (2, -1, 1)),
        ((4, 5), {0: 2, 2: 1}),
        ((4, 5), (2, 5)),
        ((7,), (2, 1, 1)),
        ((7,), (2,)),
    ],
    ids=str,
)
def test_chunks_are_for_the_shape_a_1d_or_2d_image_shows(tmp_path: Path, shape, chunks) -> None:
    """A 1-D/2-D NIfTI opens as (i, j, 1): chunks= for that shape is taken (it raised dask's
    ValueError), and one for the file's shape (nibabel's) still is; values as nibabel's."""
    path = tmp_path / "low.nii"
    data = np.arange(int(np.prod(shape)), dtype=np.int16).reshape(shape)
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    vol = lv.open(path, chunks=chunks)
    want = np.asanyarray(nib.load(path).dataobj)
    np.testing.assert_array_equal(vol.compute(), want.reshape(vol.shape))
    assert vol.chunks[0] == (2,) * (shape[0] // 2) + ((1,) if shape[0] % 2 else ())


@pytest.mark.parametrize(
    ("shape", "chunks", "axes"),
    [((4, 5), (2, 5, 1, 1), 3), ((4, 5, 6), (2, 5), 3), ((4, 5, 6, 2), (2, 5, 6), 4)],
)
def test_chunks_of_another_length_are_refused_naming_the_length(
    tmp_path: Path, shape, chunks, axes
) -> None:
    from lazyvol.errors import OptionError

    path = tmp_path / "c.nii"
    nib.save(nib.Nifti1Image(np.zeros(shape, np.int16), np.eye(4)), path)
    with pytest.raises(
        OptionError, match=rf"c\.nii: chunks=.* volume has {axes} axes.*give {axes}"
    ):
        lv.open(path, chunks=chunks)


@pytest.mark.parametrize("chunks", [(0, 1, 1), "bogus"])
def test_an_invalid_chunk_spec_is_a_typed_error(tmp_path: Path, chunks) -> None:
    from lazyvol.errors import OptionError

    path = tmp_path / "c.nii"
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 6), np.int16), np.eye(4)), path)
    with pytest.raises(OptionError, match=r"c\.nii: chunks="):
        lv.open(path, chunks=chunks)


def test_a_bad_chunk_spec_names_the_dicom_folder_and_the_store(tmp_path: Path) -> None:
    """Every reader's OptionError names its source (DICOM and Zarr named none)."""
    from lazyvol.errors import OptionError
    from lazyvol.testing import write_dicom_series

    folder = tmp_path / "series"
    write_dicom_series(str(folder), (8, 8, 4))
    with pytest.raises(OptionError, match=r"series: chunks=.*3 axes"):
        lv.open(folder, chunks=(2, 2))
    path = tmp_path / "c.nii"
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 6), np.int16), np.eye(4)), path)
    store = lv.open(path).to_zarr(tmp_path / "c.zarr")
    with pytest.raises(OptionError, match=r"c\.zarr.*: chunks=.*3 axes"):
        lv.open(store, chunks=(2, 2))


def test_a_file_named_without_a_suffix_gets_the_single_file_checks(tmp_path: Path) -> None:
    """A NIfTI known by its content (a name without a suffix: a content-addressed key) was
    checked as one file of a pair: a pair's header (magic ni1, data in a separate .img) or a
    vox_offset of 0 opened and gave the header's own bytes as voxels, as its references did."""
    import struct

    from lazyvol.errors import FormatError

    truth = np.arange(4 * 4 * 3, dtype="int16").reshape(4, 4, 3) + 1000
    nib.save(nib.Nifti1Image(truth, np.diag([2.0, 3.0, 4.0, 1.0])), tmp_path / "x.nii")
    raw = (tmp_path / "x.nii").read_bytes()
    (tmp_path / "good").write_bytes(raw)  # a valid single file, named without a suffix
    np.testing.assert_array_equal(lv.open(tmp_path / "good").compute(), truth)
    np.testing.assert_allclose(
        lv.open(tmp_path / "good").affine, nib.load(tmp_path / "x.nii").affine
    )
    nib.save(nib.Nifti1Pair(truth, np.eye(4)), tmp_path / "p.img")
    (tmp_path / "pairhead").write_bytes((tmp_path / "p.hdr").read_bytes())
    zero = bytearray(raw)
    zero[108:112] = struct.pack("<f", 0.0)  # vox_offset 0: inside the header
    (tmp_path / "zero").write_bytes(bytes(zero))
    for name, why in (("pairhead", "header of a two-file pair"), ("zero", "vox_offset = 0")):
        with pytest.raises(FormatError, match=why):
            lv.open(tmp_path / name)
        with pytest.raises(FormatError, match=why):
            lv.references(tmp_path / name)


@pytest.mark.parametrize("kind", ["nifti1", "nifti2"])
def test_vox_offset_inside_the_header_says_the_field_is_invalid_and_the_fix(
    tmp_path: Path, kind: str
) -> None:
    """vox_offset 0 (or any offset inside the header) of a single file: the refusal said "points
    inside the header (minimum 348)". It names the field as invalid, the value, the minimum, and
    where to write the offset if the data start right after the header (which then opens)."""
    import struct

    truth = np.arange(4 * 4 * 3, dtype="int16").reshape(4, 4, 3) - 7
    cls, at, fmt, first = (
        (nib.Nifti1Image, 108, "<f", 352) if kind == "nifti1" else (nib.Nifti2Image, 168, "<q", 544)
    )
    nib.save(cls(truth, np.eye(4)), tmp_path / "x.nii")
    raw = bytearray((tmp_path / "x.nii").read_bytes())
    assert struct.unpack_from(fmt, raw, at)[0] == first
    for vox in (0, 100):
        struct.pack_into(fmt, raw, at, vox)
        (tmp_path / "bad.nii").write_bytes(bytes(raw))
        with pytest.raises(lv.FormatError) as err:
            lv.open(tmp_path / "bad.nii")
        msg = str(err.value)
        assert f"vox_offset = {vox} is invalid" in msg and "not written by a NIfTI writer" in msg
        assert f"set vox_offset to {first}" in msg and f"at byte {at}" in msg
    struct.pack_into(fmt, raw, at, first)  # the advised fix
    (tmp_path / "fixed.nii").write_bytes(bytes(raw))
    np.testing.assert_array_equal(lv.open(tmp_path / "fixed.nii").compute(), truth)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("nifti2", [False, True])
@pytest.mark.parametrize("dtype", ["int16", "float64"])
def test_phantom_file_holds_the_phantom_at_its_vox_offset(
    tmp_path: Path, suffix: str, nifti2: bool, dtype: str
) -> None:
    """write_phantom_nifti wrote 4 zero bytes too many after a NIfTI-1 header (nibabel's header
    already ends with the 4-byte extension flag): the data sat 4 bytes past vox_offset, so every
    reader (nibabel too) saw it shifted by 4 bytes (float64 phantoms read as garbage like 1e154)
    and the file was 4 bytes longer than its header says. The file now holds phantom_slab's
    values exactly where its header puts them."""
    from lazyvol.testing.nifti import phantom_slab

    shape = (7, 9, 5, 2)
    path = write_phantom_nifti(tmp_path / f"p{suffix}", shape, dtype=dtype, nifti2=nifti2, seed=5)
    img = nib.load(path)
    want = np.stack([phantom_slab(shape[:3], 0, 5, dtype=dtype, seed=5, t=t) for t in range(2)], -1)
    np.testing.assert_array_equal(np.asarray(img.dataobj), want)
    if suffix == ".nii":
        itemsize = np.dtype(dtype).itemsize
        assert os.path.getsize(path) == img.dataobj.offset + want.size * itemsize
