"""Hostile inputs of issue 13 that are not Zarr/cache integrity, gzip or CLI cases.

Non-regular paths (FIFO, socket, device), file names that are not valid UTF-8, DICOM files
rewritten after open, malformed DICOM geometry/rescale values, and NIfTI headers with broken
transforms. Each test builds the bad input with pydicom / nibabel / the OS and checks the error
class and that the message names the file and the field; expected data comes from nibabel/pydicom
or the synthetic truth, never from lazyvol itself.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.errors import FormatError, LazyvolError, SourceChangedError
from lazyvol.testing import write_dicom_series, write_phantom_nifti

SHAPE = (12, 10, 5)


def _fsname(folder: Path, raw: bytes) -> str:
    """A path whose last component is the raw bytes ``raw`` (not valid UTF-8)."""
    return os.fsdecode(os.path.join(os.fsencode(folder), raw))


def _run_with_timeout(code: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter: a hang fails the test instead of freezing the suite."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


# -- a path that is a FIFO, socket or device ------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_socket_device_paths_are_typed_errors_not_hangs(tmp_path):
    os.mkfifo(tmp_path / "p")
    os.mkfifo(tmp_path / "p.nii")
    os.mkfifo(tmp_path / "p.nii.gz")
    code = f"""
import os, socket, lazyvol as lv
from lazyvol.dicom import open_dicom
from lazyvol.nifti import open_nifti
from lazyvol.errors import FormatError, LazyvolError, SourceChangedError
sock = socket.socket(socket.AF_UNIX)
sock.bind("s.sock")
calls = [lambda: lv.open("p"), lambda: lv.open("p.nii"), lambda: lv.open("p.nii.gz"),
         lambda: lv.open("p", cache=True), lambda: open_dicom("p"), lambda: open_nifti("p.nii"),
         lambda: lv.scan("p"), lambda: lv.open("s.sock"), lambda: lv.open({os.devnull!r})]
for call in calls:
    try:
        call()
    except FormatError as exc:
        print(str(exc).splitlines()[0])
    else:
        print("NO ERROR")
"""
    res = _run_with_timeout(code, tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 9 and "NO ERROR" not in lines
    assert all("not a regular file" in line for line in lines)
    assert sum("FIFO" in line for line in lines) == 7
    assert "socket" in lines[7] and "device" in lines[8] and os.devnull in lines[8]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_inside_dicom_folder_and_analyze_pair_with_fifo_image(tmp_path):
    write_dicom_series(tmp_path / "d", shape=SHAPE)
    os.mkfifo(tmp_path / "d" / "zz_pipe.dcm")
    nib.Nifti1Pair(np.zeros(SHAPE, "int16"), np.eye(4)).to_filename(tmp_path / "pair.img")
    os.unlink(tmp_path / "pair.img")
    os.mkfifo(tmp_path / "pair.img")
    code = """
import lazyvol as lv
from lazyvol.errors import FormatError, LazyvolError, SourceChangedError
print(lv.open("d").shape)
try:
    lv.open("pair.hdr")
except FormatError as exc:
    print(exc)
"""
    res = _run_with_timeout(code, tmp_path)
    assert res.returncode == 0, res.stderr
    first, second = res.stdout.splitlines()[:2]
    assert first == str(SHAPE)
    assert "pair.img" in second and "FIFO" in second


def test_socket_path_refused_in_process(tmp_path):
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "s.nii"))
    except OSError as exc:  # pragma: no cover - path too long for AF_UNIX
        pytest.skip(f"cannot bind a unix socket here: {exc}")
    try:
        with pytest.raises(FormatError, match=r"s\.nii.*socket"):
            lv.open(tmp_path / "s.nii")
    finally:
        sock.close()


# -- file names that are not valid UTF-8 ----------------------------------------------------------


@pytest.mark.parametrize("suffix", [b".nii", b".nii.gz"])
def test_nifti_non_utf8_name_opens(tmp_path, suffix):
    src = write_phantom_nifti(tmp_path / ("a" + suffix.decode()), shape=SHAPE)
    expected = np.asarray(nib.load(src).dataobj)
    np.save(tmp_path / "expected.npy", expected)
    os.rename(src, _fsname(tmp_path, b"caf\xe9" + suffix))
    # In a child process: a gzip library that crashes on such a name (indexed_gzip segfaults when
    # given one) fails this test instead of killing the test run.
    code = f"""
import os, numpy as np, lazyvol as lv
name = os.fsdecode(os.fsencode(os.getcwd()) + b"/caf\\xe9" + {suffix!r})
expected = np.load("expected.npy")
vol = lv.open(name)
assert np.array_equal(vol.compute(), expected)
assert np.array_equal(vol[2:5, :, 1:3].compute(), expected[2:5, :, 1:3])
assert np.array_equal(lv.open(name, cache=True).compute(), expected)
print("ok")
"""
    res = _run_with_timeout(code, tmp_path, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", (res.returncode, res.stderr[-2000:])


def test_analyze_pair_non_utf8_name_opens(tmp_path):
    expected = np.arange(np.prod(SHAPE), dtype="int16").reshape(SHAPE)
    nib.Nifti1Pair(expected, np.diag([2.0, 2.0, 3.0, 1.0])).to_filename(tmp_path / "a.img")
    os.rename(tmp_path / "a.hdr", _fsname(tmp_path, b"\xff\xfe.hdr"))
    os.rename(tmp_path / "a.img", _fsname(tmp_path, b"\xff\xfe.img"))
    vol = lv.open(_fsname(tmp_path, b"\xff\xfe.hdr"))
    np.testing.assert_array_equal(vol.compute(), expected)


def test_dicom_folder_with_non_utf8_name_opens(tmp_path):
    folder = tmp_path / "d"
    truth = write_dicom_series(folder, shape=SHAPE)
    first = sorted(folder.iterdir())[0]
    renamed = _fsname(folder, b"IM\xff\xfe.dcm")
    os.rename(first, renamed)
    vol = lv.open(folder)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert renamed in vol.meta["files"]
    # Second open: the scan index and the saved report hold the name and read it back.
    again = lv.open(folder)
    np.testing.assert_array_equal(again.compute(), truth.stored)
    np.testing.assert_array_equal(lv.open(folder, cache=True).compute(), truth.stored)
    # The single file opens too.
    one = lv.open(renamed)
    ref = pydicom.dcmread(renamed).pixel_array.T
    np.testing.assert_array_equal(one.compute()[..., 0], ref)


def test_error_message_with_non_utf8_name_is_printable(tmp_path):
    name = _fsname(tmp_path, b"bad\xe9.nii")
    with open(name, "wb") as f:
        f.write(b"\0" * 400)
    with pytest.raises(FormatError) as err:
        lv.open(name)
    text = str(err.value)
    text.encode("utf-8")  # no lone surrogates left: printable on any UTF-8 stream
    assert "bad\\xe9.nii" in text


# -- a DICOM file rewritten, replaced or moved after open -----------------------------------------


def _resave_with_one_more_element(path: str) -> None:
    ds = pydicom.dcmread(path)
    ds.PatientComments = "x" * 40  # one more element before Pixel Data: it moves 48 bytes
    ds.save_as(path)


@pytest.mark.parametrize("compress", [None, "1.2.840.10008.1.2.5"])
def test_dicom_rewritten_after_open_is_refused_at_read(tmp_path, compress):
    folder = tmp_path / "d"
    truth = write_dicom_series(folder, shape=SHAPE, compress=compress)
    vol = lv.open(folder)
    victim = sorted(str(p) for p in folder.iterdir())[2]
    before = os.path.getsize(victim)
    _resave_with_one_more_element(victim)
    assert os.path.getsize(victim) != before
    with pytest.raises(SourceChangedError, match="changed after it was opened") as err:
        vol.compute()
    assert victim in str(err.value) and "Open the source again" in str(err.value)
    # Slices of other files still read; a new open rescans and reads the new layout correctly.
    np.testing.assert_array_equal(vol[:, :, :2].compute(), truth.stored[:, :, :2])
    np.testing.assert_array_equal(lv.open(folder).compute(), truth.stored)


def test_dicom_same_size_rewrite_with_restored_mtime_is_refused(tmp_path):
    folder = tmp_path / "d"
    write_dicom_series(folder, shape=SHAPE)
    vol = lv.open(folder)
    victim = sorted(str(p) for p in folder.iterdir())[1]
    st = os.stat(victim)
    raw = bytearray(Path(victim).read_bytes())
    raw[-1] ^= 0xFF
    Path(victim).write_bytes(bytes(raw))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(victim).st_size == st.st_size
    assert os.stat(victim).st_mtime_ns == st.st_mtime_ns
    with pytest.raises(SourceChangedError, match="changed after it was opened") as err:
        vol.compute()
    assert victim in str(err.value) and "ctime_ns" in str(err.value)


def test_dicom_replaced_or_deleted_after_open_is_refused(tmp_path):
    folder = tmp_path / "d"
    write_dicom_series(folder, shape=SHAPE)
    other = tmp_path / "other"
    write_dicom_series(other, shape=SHAPE, seed=3)
    vol = lv.open(folder)
    files = sorted(str(p) for p in folder.iterdir())
    os.replace(sorted(str(p) for p in other.iterdir())[0], files[0])  # same size, new inode
    with pytest.raises(SourceChangedError, match="inode"):
        vol[:, :, 0:1].compute()
    folder2 = tmp_path / "d2"
    write_dicom_series(folder2, shape=SHAPE)
    vol = lv.open(folder2)
    files = sorted(str(p) for p in folder2.iterdir())
    os.unlink(files[3])
    with pytest.raises(SourceChangedError, match=r"removed or moved.*open the series again") as err:
        vol[:, :, 3:4].compute()
    assert files[3] in str(err.value)


# -- DICOM values that cannot describe an image ---------------------------------------------------


def _open_error(tmp_path, extra, per_slice=None):
    folder = tmp_path / "bad"
    write_dicom_series(folder, shape=SHAPE, extra=extra, per_slice=per_slice)
    report = lv.scan(folder)
    assert len(report) == 1 and report[0].error  # refused at scan, the reason in `lazyvol info`
    with pytest.raises(FormatError) as err:
        lv.open(folder)
    assert report[0].error == str(err.value)
    return str(err.value)


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"Rows": 0}, "Rows (0028,0010) = 0"),
        ({"Columns": 0}, "Columns (0028,0011) = 0"),
        ({"BitsAllocated": 0}, "BitsAllocated (0028,0100) = 0"),
        ({"BitsAllocated": 7}, "BitsAllocated (0028,0100) = 7"),
    ],
)
def test_dicom_zero_dimensions_and_bad_bits_refused(tmp_path, extra, named):
    msg = _open_error(tmp_path, extra)
    assert named in msg and "IM0000" in msg


@pytest.mark.parametrize("frames", [-3])  # (0 over one native frame is one frame: test_dicom_bad)
def test_dicom_number_of_frames_below_one_refused(tmp_path, frames):
    folder = tmp_path / "nf"
    write_dicom_series(folder, shape=SHAPE, extra={"NumberOfFrames": frames})
    with pytest.raises(FormatError, match=rf"NumberOfFrames \(0028,0008\) = {frames}"):
        lv.open(folder, series="#0")


@pytest.mark.parametrize(
    ("spacing", "shown"),
    [([-0.7, -0.8], "[-0.7, -0.8]"), ([0, 0], "[0.0, 0.0]"), ([0.7, -0.8], "[0.7, -0.8]")],
)
def test_dicom_pixel_spacing_negative_or_zero_refused(tmp_path, spacing, shown):
    msg = _open_error(tmp_path, {"PixelSpacing": spacing})
    assert f"PixelSpacing (0028,0030) = {shown}" in msg


@pytest.mark.parametrize("keyword", ["PixelSpacing", "RescaleSlope", "RescaleIntercept"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_dicom_non_finite_values_refused(tmp_path, keyword, value):
    extra: dict[str, object] = {
        "PixelSpacing": [value, "0.7"],
        "RescaleSlope": value,
        "RescaleIntercept": value,
    }
    tag = {"PixelSpacing": "(0028,0030)", "RescaleSlope": "(0028,1053)"}
    with pytest.warns(UserWarning):  # pydicom's own warning about the invalid DS value
        msg = _open_error(tmp_path, {keyword: extra[keyword]})
    assert keyword in msg and tag.get(keyword, "(0028,1052)") in msg and value in msg


def test_dicom_non_finite_position_refused(tmp_path):
    with pytest.warns(UserWarning):
        write_dicom_series(
            tmp_path / "p", shape=SHAPE, extra={"ImagePositionPatient": ["nan", 0, 0]}
        )
    with pytest.raises(LazyvolError, match=r"ImagePositionPatient \(0020,0032\)") as err:
        lv.open(tmp_path / "p")
    assert "nan" in str(err.value) and "IM00000" in str(err.value)


def test_dicom_skewed_orientation_refused(tmp_path):
    msg = _open_error(tmp_path, {"ImageOrientationPatient": [1, 0, 0, 0.7, 0.7, 0]})
    assert "ImageOrientationPatient (0020,0037) = [1.0, 0.0, 0.0, 0.7, 0.7, 0.0]" in msg
    assert "45.00 degrees" in msg


def test_dicom_orientation_rounding_is_normalised(tmp_path):
    # Cosines written with 4 decimals of a 10-degree in-plane rotation: unit length and
    # perpendicular only to ~1e-4.
    a = np.radians(10.0)
    iop = [round(x, 4) for x in (np.cos(a), np.sin(a), 0.0, -np.sin(a), np.cos(a), 0.0)]
    truth = write_dicom_series(tmp_path / "r", shape=SHAPE, orientation=iop)
    vol = lv.open(tmp_path / "r")
    rot = vol.affine[:3, :3] / np.asarray(vol.spacing)
    np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-12)  # exactly orthonormal
    np.testing.assert_allclose(vol.affine, truth.affine, atol=2e-3)
    np.testing.assert_array_equal(vol.compute(), truth.stored)


def test_dicom_rescale_slope_zero_taken_as_one_with_warning(tmp_path):
    folder = tmp_path / "s"
    truth = write_dicom_series(
        folder,
        shape=SHAPE,
        per_slice=[{"RescaleSlope": 0 if k == 2 else 1} for k in range(5)],
        intercept=-100.0,
    )
    with pytest.warns(RuntimeWarning, match=r"RescaleSlope \(0028,1053\) = 0 .*IM00002"):
        vol = lv.open(folder)
    assert vol.meta["rescale_slope_zero"] == [truth.files[2]]
    expected = truth.stored.astype(np.int32) - 100  # slope 1 everywhere, as dcm2niix
    np.testing.assert_array_equal(vol.compute(), expected)
    assert not np.all(vol.compute()[:, :, 2] == -100)  # not every voxel the intercept
    with pytest.warns(RuntimeWarning, match="RescaleSlope"):  # again from the saved scan report
        lv.open(folder)


# -- NIfTI: non-finite or singular transforms; writers raise only lazyvol errors -------------------

NII_SHAPE = (4, 5, 3)


def _raw_nifti(path: Path, edit) -> tuple[str, np.ndarray]:
    """A .nii written byte by byte from a nibabel header changed by ``edit`` (nibabel's writer
    would recompute the transforms)."""
    data = np.arange(np.prod(NII_SHAPE), dtype="int16").reshape(NII_SHAPE)
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(NII_SHAPE)
    hdr.set_data_dtype("int16")
    hdr.set_zooms((2.0, 3.0, 4.0))
    hdr.set_sform(np.diag([2.0, 3.0, 4.0, 1.0]) + np.c_[np.zeros((4, 3)), [5, 6, 7, 0]], code=1)
    hdr.set_qform(np.diag([2.0, 3.0, 4.0, 1.0]), code=1)
    hdr["vox_offset"] = 352
    edit(hdr)
    path.write_bytes(hdr.binaryblock + b"\0" * 4 + data.tobytes(order="F"))
    return str(path), data


def _sform_nan(h):
    h["srow_x"][0] = np.nan


def _sform_inf(h):
    h["srow_z"][3] = np.inf


def _sform_zero(h):
    for k in ("srow_x", "srow_y", "srow_z"):
        h[k] = 0


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (_sform_nan, "srow_x = [nan"),
        (_sform_inf, "srow_z = [0, 0, 4, inf]"),
        (_sform_zero, "singular"),
    ],
)
def test_nifti_bad_sform_falls_back_to_qform_with_warning(tmp_path, edit, field):
    path, data = _raw_nifti(tmp_path / "a.nii", edit)
    with pytest.warns(RuntimeWarning, match="sform") as rec:
        vol = lv.open(path)
    assert field in str(rec[0].message) and path in str(rec[0].message)
    # nibabel's next choice: the qform, exactly as nibabel computes it
    np.testing.assert_allclose(vol.affine, nib.load(path).header.get_qform())
    assert vol.meta["affine_source"] == "qform" and "sform" in vol.meta["affine_fallback"]
    np.testing.assert_array_equal(vol.compute(), data)


@pytest.mark.parametrize(
    ("edit", "field"), [(_sform_nan, "srow_x = [nan"), (_sform_zero, "singular")]
)
def test_nifti_bad_sform_without_qform_refused(tmp_path, edit, field):
    def no_qform(h):
        edit(h)
        h["qform_code"] = 0

    path, _ = _raw_nifti(tmp_path / "a.nii", no_qform)
    with pytest.raises(FormatError, match="no usable affine") as err:
        lv.open(path)
    assert field in str(err.value) and path in str(err.value)


@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("codes", [(0, 1), (0, 0)])
def test_nifti_non_finite_pixdim_refused(tmp_path, value, codes):
    def edit(h):
        h["sform_code"], h["qform_code"] = codes
        h["pixdim"][1] = value

    path, _ = _raw_nifti(tmp_path / "a.nii", edit)
    with pytest.raises(FormatError, match=r"pixdim") as err:
        lv.open(path)
    assert str(value) in str(err.value) and path in str(err.value)


def test_nifti_non_finite_quaternion_with_good_sform_uses_sform(tmp_path):
    def edit(h):
        h["quatern_b"] = np.nan

    path, _ = _raw_nifti(tmp_path / "a.nii", edit)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the sform is fine: nothing to warn about
        vol = lv.open(path)
    np.testing.assert_allclose(vol.affine, nib.load(path).header.get_sform())
    assert vol.meta["affine_source"] == "sform"


@pytest.mark.parametrize("qfac", [0.5, np.nan, 0.0, -3.0])
def test_nifti_odd_qfac_as_nibabel(tmp_path, qfac):
    def edit(h):
        h["sform_code"] = 0
        h["pixdim"][0] = qfac

    path, data = _raw_nifti(tmp_path / "a.nii", edit)
    vol = lv.open(path)
    # nibabel reads any qfac but -1 as 1 (its load-time fix): the same affine, finite
    np.testing.assert_allclose(vol.affine, nib.load(path).affine)
    assert np.isfinite(vol.affine).all()
    np.testing.assert_array_equal(vol.compute(), data)


@pytest.mark.parametrize("offset", [-352, -1, 12])
def test_nifti_negative_or_small_vox_offset_refused(tmp_path, offset):
    def edit(h):
        h["vox_offset"] = offset

    path, _ = _raw_nifti(tmp_path / "a.nii", edit)
    with pytest.raises(FormatError, match="vox_offset"):
        lv.open(path)


@pytest.mark.parametrize(
    "affine",
    [np.diag([0.0, 0.0, 0.0, 1.0]), np.diag([np.nan, 1.0, 1.0, 1.0]), np.diag([1.0, np.inf, 1, 1])],
)
def test_writers_raise_only_lazyvol_errors(tmp_path, affine):
    vol = lv.Volume(np.zeros(NII_SHAPE, "int16"), np.eye(4))
    vol.affine = affine  # (a non-finite one is refused by Volume(...); the attribute can be set)
    for call in (
        lambda: vol.to_nifti(tmp_path / "o.nii"),
        lambda: vol.to_nifti(tmp_path / "o.nii.gz"),
        vol.to_nibabel,
    ):
        with pytest.raises(LazyvolError, match="affine"):
            call()
    assert not list(tmp_path.iterdir())  # nothing left behind
    bad_dtype = lv.Volume(np.zeros(NII_SHAPE, "complex256"), np.eye(4))
    with pytest.raises(LazyvolError):
        bad_dtype.to_nibabel()
    with pytest.raises(LazyvolError):
        bad_dtype.to_nifti(tmp_path / "c.nii")


@pytest.mark.parametrize("level", [99, -5, "9", 1.5, True])
def test_a_gzip_level_zlib_refuses_is_an_option_error_before_writing(tmp_path, level):
    """to_nifti(..., compresslevel=99) ended in zlib's bare ValueError ("Invalid initialization
    option") once the write had begun; checked first now, nothing written."""
    vol = lv.Volume(np.zeros(NII_SHAPE, "int16"), np.eye(4))
    with pytest.raises(lv.OptionError, match="compresslevel"):
        vol.to_nifti(tmp_path / "o.nii.gz", compresslevel=level)
    assert not list(tmp_path.iterdir())
    for ok in (0, 9, -1, np.int64(5)):
        vol.to_nifti(tmp_path / f"ok{ok}.nii.gz", compresslevel=ok)
    vol.to_nifti(tmp_path / "plain.nii", compresslevel=99)  # (no gzip: the level is unused)


def test_references_of_nifti_with_unknown_options_is_a_typed_error(tmp_path):
    """lv.references(x.nii, bogus=1) raised a bare TypeError (lv.open: UnknownOptionError)."""
    path = write_phantom_nifti(tmp_path / "a.nii", (4, 5, 6))
    for kw in ({"bogus": 1}, {"series": 1}):
        with pytest.raises(lv.UnknownOptionError, match=r"a\.nii: unexpected options"):
            lv.references(path, **kw)


def test_references_and_open_with_invalid_option_values_are_typed_errors(tmp_path):
    """lv.references(per_slice_rescale='no') and storage_options given for a local path (lv.open,
    lv.references, open_cached) raised bare ValueErrors; chunk_bytes='abc' int()'s ValueError,
    and chunk_bytes=0 or -5 or 1.5 made one-slice chunks. Now OptionErrors naming the source and
    the option (still ValueErrors); valid values as before."""
    path = write_phantom_nifti(tmp_path / "a.nii", (4, 5, 6))
    with pytest.raises(lv.errors.OptionError, match=r"a\.nii: per_slice_rescale='no'"):
        lv.references(path, per_slice_rescale="no")
    for bad in ("abc", 0, -5, 1.5, True):
        with pytest.raises(lv.errors.OptionError, match=r"a\.nii: chunk_bytes="):
            lv.references(path, chunk_bytes=bad)
    for call in (lv.open, lv.references):
        with pytest.raises(lv.errors.OptionError, match="storage_options are for URLs"):
            call(path, storage_options={"anon": True})
    refs = lv.references(path, chunk_bytes=np.int64(4 * 5 * 2 * 2))  # (int16: slabs of 2 slices)
    assert sorted(k for k in refs["refs"] if k[6:7].isdigit()) == [
        f"image/{k}.0.0" for k in range(3)
    ]


def test_zarr_round_trip_never_gives_a_non_finite_affine(tmp_path):
    with pytest.raises(LazyvolError, match="non-finite"):  # refused when made, written or opened
        vol = lv.Volume(np.zeros(NII_SHAPE, "int16"), np.diag([np.nan, 1.0, 1.0, 1.0]))
        lv.open(vol.to_zarr(tmp_path / "s.zarr"))


def test_dicom_pixel_representation_not_0_or_1_refused(tmp_path):
    msg = _open_error(tmp_path, {"PixelRepresentation": 2})
    assert "PixelRepresentation (0028,0103) = 2" in msg


def test_nifti_negative_sform_code_follows_nibabel(tmp_path):
    def edit(h):
        h["sform_code"] = -1

    path, data = _raw_nifti(tmp_path / "a.nii", edit)
    vol = lv.open(path)
    np.testing.assert_allclose(vol.affine, nib.load(path).affine)  # nibabel: code != 0 -> sform
    np.testing.assert_array_equal(vol.compute(), data)


def test_enhanced_multiframe_functional_group_values_checked(tmp_path):
    # Geometry and rescale from the functional groups go through the same checks.
    from lazyvol.testing import write_enhanced_dicom

    write_enhanced_dicom(tmp_path / "neg" / "mf.dcm", (8, 6, 4), spacing=(-0.8, 0.7, 2.5))
    with pytest.raises(FormatError, match=r"PixelSpacing \(0028,0030\) = \[0.7, -0.8\]"):
        lv.open(tmp_path / "neg")
    truth = write_enhanced_dicom(tmp_path / "z" / "mf.dcm", (8, 6, 4), slope=[1, 0, 1, 1])
    with pytest.warns(RuntimeWarning, match=r"RescaleSlope \(0028,1053\) = 0"):
        vol = lv.open(tmp_path / "z")
    np.testing.assert_array_equal(vol.compute(), truth.stored)  # slope 0 taken as 1


@pytest.mark.parametrize("codes", [(0, 1), (0, 0)])
def test_nifti_zero_pixdim_repair_is_warned_and_recorded(tmp_path, codes):
    def edit(h):
        h["sform_code"], h["qform_code"] = codes
        h["pixdim"][3] = 0.0

    path, data = _raw_nifti(tmp_path / "a.nii", edit)
    with pytest.warns(RuntimeWarning, match=r"pixdim\[1:4\] = \[2.0, 3.0, 0.0\]"):
        vol = lv.open(path)
    np.testing.assert_allclose(vol.affine, nib.load(path).affine)  # nibabel's repaired affine
    assert vol.meta["pixdim_repaired"] == {"stored": [2.0, 3.0, 0.0], "used": [2.0, 3.0, 1.0]}
    np.testing.assert_array_equal(vol.compute(), data)


def test_dicom_bits_allocated_12_is_unsupported_not_corrupt(tmp_path):
    folder = tmp_path / "b12"
    write_dicom_series(folder, shape=SHAPE, extra={"BitsAllocated": 12, "BitsStored": 12})
    with pytest.raises(lv.UnsupportedError, match=r"BitsAllocated \(0028,0100\) = 12"):
        lv.open(folder)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("how", ["same size, mtime restored", "replaced", "removed", "cut"])
def test_nifti_rewritten_after_open_is_refused_at_read(tmp_path, suffix, how):
    """Every read checks the data file is the one opened (size, mtime, inode, ctime), on the
    direct path, through dask and for .nii.gz; nothing is served from another file."""
    path = data = Path(write_phantom_nifti(tmp_path / f"a{suffix}", (16, 12, 10), dtype="int16"))
    vol = lv.open(path)
    truth = np.asanyarray(nib.load(path).dataobj)
    st = os.stat(data)
    if how == "same size, mtime restored":
        raw = bytearray(data.read_bytes())
        raw[-1] ^= 0xFF
        data.write_bytes(bytes(raw))
        os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert os.stat(data).st_size == st.st_size
    elif how == "replaced":
        other = Path(write_phantom_nifti(tmp_path / f"b{suffix}", (16, 12, 10), dtype="int16"))
        os.replace(other, data)
    elif how == "removed":
        data.unlink()
    else:
        data.write_bytes(data.read_bytes()[: st.st_size // 2])
    for read in (vol.compute, lambda: vol.data.sum().compute(), vol[:, :, 2:3].compute):
        with pytest.raises(SourceChangedError, match=r"(?i)open the source again") as err:
            read()
        assert data.name in str(err.value)
    assert truth.shape == vol.shape
