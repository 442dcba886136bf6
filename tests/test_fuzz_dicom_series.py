"""Property-based fuzzing of series stacking: one or a few odd files in a valid series.

A valid series (synthetic from :func:`lazyvol.testing.write_dicom_series`, or a real GE
one-file-per-slice fMRI series from ``../shared/dicom-real``) gets header edits in one or a few of
its files (rescale, spacing, orientation, position, dimensions, pixel representation, bits,
photometric, series UID, frames, samples, instance and echo numbers, image type, transfer syntax
(implicit VR, big endian, RLE or JPEG-LS compression), a large private element) and sometimes a
folder edit (a duplicate, plain or RLE-compressed, a twin with its own UID, a removed file).
Whatever lazyvol makes of it:

- scanning and opening raise nothing but :class:`lazyvol.LazyvolError`;
- every file of the folder is accounted for: in a series (opened or refused with its reason),
  skipped or unsupported with a reason, or named in a warning as a dropped duplicate;
- every volume that opens holds, frame by frame, exactly pydicom's decode of the file its frame
  table names, rescaled with that file's own slope and intercept, and its affine puts the frame
  at that file's ImagePositionPatient (within a fifth of a slice step: a frame in the wrong slot is
  a whole step off) with that file's row and column directions and pixel spacing;
- a volume whose reading raises (a LazyvolError naming the file) holds a file pydicom cannot
  decode either: compressed data found corrupt only when decoded.

Never a volume with a frame from the wrong file, the wrong scaling or the wrong geometry. Fast
profile by default; ``LAZYVOL_FUZZ=long`` runs the long one.
"""

from __future__ import annotations

import os
import shutil
import signal
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.pixels import get_encoder
from pydicom.uid import (
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

import lazyvol as lv
from lazyvol.testing import write_dicom_series

# lazyvol's own warnings (a zero RescaleSlope taken as 1, positions written coarsely) are part of
# what the odd files provoke; the properties below are what is checked
pytestmark = pytest.mark.filterwarnings("ignore:lazyvol:RuntimeWarning")

LONG = os.environ.get("LAZYVOL_FUZZ") == "long"
TIME_BOUND_S = 30
REAL = Path(
    os.environ.get("LAZYVOL_REAL_DICOM", Path(__file__).parents[2] / "shared" / "dicom-real")
)
GE_SERIES = REAL / "dcm_qa_nih" / "In" / "20180918GE" / "mr_0004"
#: What the examples met: folders, series refused or opened, frames compared with pydicom.
COUNTS = {"folders": 0, "refused": 0, "opened": 0, "frames": 0, "unreadable": 0}


def _fuzz(examples: int, long_examples: int) -> Any:
    return settings(
        max_examples=long_examples if LONG else examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=not LONG,
        database=None,
    )


# -- header edits (pydicom on one file) ----------------------------------------------------------


def _rotate(v: np.ndarray, axis: np.ndarray, deg: float) -> np.ndarray:
    """Rodrigues' rotation of ``v`` about ``axis`` by ``deg`` degrees."""
    axis = axis / np.linalg.norm(axis)
    th = np.deg2rad(deg)
    return (
        v * np.cos(th) + np.cross(axis, v) * np.sin(th) + axis * np.dot(axis, v) * (1 - np.cos(th))
    )


def _floats(ds: pydicom.Dataset, keyword: str) -> np.ndarray:
    return np.asarray([float(x) for x in ds[keyword].value], dtype=np.float64)


def _edit_orientation(ds: pydicom.Dataset, p: int) -> None:
    iop = _floats(ds, "ImageOrientationPatient")
    row, col = iop[:3], iop[3:]
    axis = (row, col, np.cross(row, col))[p % 3]
    deg = (0.01, 0.3, 3.0)[(p // 3) % 3]  # every axis with every angle over p = 0..11
    ds.ImageOrientationPatient = [
        f"{x:.8f}" for x in (*_rotate(row, axis, deg), *_rotate(col, axis, deg))
    ]


def _edit_position(ds: pydicom.Dataset, p: int) -> None:
    iop = _floats(ds, "ImageOrientationPatient")
    direction = (np.cross(iop[:3], iop[3:]), iop[:3])[p % 2]
    shift = (0.01, 0.5, 2.0)[p % 3]
    ipp = _floats(ds, "ImagePositionPatient") + shift * direction
    ds.ImagePositionPatient = [f"{x:.6f}" for x in ipp]


def _edit_rows(ds: pydicom.Dataset, p: int) -> None:
    arr = ds.pixel_array
    arr = arr[: arr.shape[0] - 1 - p % 2]
    ds.Rows = arr.shape[0]
    ds.PixelData = np.ascontiguousarray(arr).tobytes()


def _edit_duplicate_frames(ds: pydicom.Dataset, p: int) -> None:
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData + ds.PixelData


def _edit_private(ds: pydicom.Dataset, p: int) -> None:
    ds.add_new((0x0029, 0x0010), "LO", "LAZYVOL FUZZ")
    ds.add_new((0x0029, 0x1001), "OB", bytes((1 + p) * 4099))


EDITS: dict[str, Any] = {
    "slope": lambda ds, p: (
        setattr(ds, "RescaleSlope", ("1.5", "0.25", "3", "0")[p % 4]),
        setattr(ds, "RescaleIntercept", ("0", "-1024", "7.5")[p % 3]),
    ),
    "spacing": lambda ds, p: setattr(
        ds,
        "PixelSpacing",
        [f"{float(ds.PixelSpacing[0]) * (1.0002, 1.01, 1.1)[p % 3]:.6f}", str(ds.PixelSpacing[1])],
    ),
    "orientation": _edit_orientation,
    "position": _edit_position,
    "rows": _edit_rows,
    "pixel_representation": lambda ds, p: setattr(
        ds, "PixelRepresentation", 1 - int(ds.PixelRepresentation)
    ),
    "bits_stored": lambda ds, p: (
        setattr(ds, "BitsStored", (8, 10, 12, 15)[p % 4]),
        setattr(ds, "HighBit", (8, 10, 12, 15)[p % 4] - 1),
    ),
    "photometric": lambda ds, p: setattr(ds, "PhotometricInterpretation", "MONOCHROME1"),
    "series_uid": lambda ds, p: setattr(ds, "SeriesInstanceUID", generate_uid()),
    "frames": _edit_duplicate_frames,
    "samples": lambda ds, p: setattr(ds, "SamplesPerPixel", 3),
    "instance_number": lambda ds, p: setattr(ds, "InstanceNumber", (1, 0, 99999)[p % 3]),
    "echo": lambda ds, p: (setattr(ds, "EchoNumbers", 2), setattr(ds, "EchoTime", "31")),
    "acquisition": lambda ds, p: setattr(ds, "AcquisitionNumber", 7 + p),
    "localizer": lambda ds, p: setattr(ds, "ImageType", ["ORIGINAL", "PRIMARY", "LOCALIZER"]),
    "private": _edit_private,
    "no_position": lambda ds, p: delattr(ds, "ImagePositionPatient"),
}


#: What pydicom raises when it cannot decode or compress what earlier edits made of a file.
_CANNOT_ENCODE = (
    ValueError,
    RuntimeError,
    AttributeError,
    KeyError,
    TypeError,
    NotImplementedError,
)


def _apply(path: Path, edit: str, p: int) -> None:
    ds = pydicom.dcmread(path)
    if edit == "implicit":
        if not ds.file_meta.TransferSyntaxUID.is_little_endian:
            return  # pydicom re-encodes little-endian data only: no edit
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=True)
        return
    if edit in ("rle", "jpegls"):
        syntax = RLELossless if edit == "rle" else JPEGLSLossless
        if not get_encoder(syntax).is_available:
            return  # no encoder installed for it: no edit
        if not ds.file_meta.TransferSyntaxUID.is_little_endian:
            return  # pydicom compresses little-endian data only: no edit
        try:
            ds.compress(syntax)
        except _CANNOT_ENCODE:
            return  # pydicom cannot compress what earlier edits made of the file: no edit
        ds.save_as(path)
        return
    if edit == "big_endian":
        _save_big_endian(ds, path)
        return
    try:
        EDITS[edit](ds, p)
    except (AttributeError, KeyError):
        return  # the attribute it changes is gone (an earlier edit removed it): no edit
    try:
        ds.save_as(path)
    except _CANNOT_ENCODE:
        return  # pydicom refuses to write the result (e.g. Rows 0 in a compressed file): no edit


def _save_big_endian(ds: pydicom.Dataset, path: Path) -> None:
    """Re-encode a native little-endian file as explicit VR big endian, pixel words swapped."""
    if (
        ds.file_meta.TransferSyntaxUID.is_compressed
        or not ds.file_meta.TransferSyntaxUID.is_little_endian
    ):
        return  # only native little-endian files: no edit
    try:
        arr = ds.pixel_array
    except _CANNOT_ENCODE:
        return  # pydicom cannot decode what earlier edits made of the file: no edit
    if arr.dtype.itemsize > 1:
        ds.PixelData = arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    for _ in ds:  # every element decoded, so each is written big-endian
        pass
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    ds.set_original_encoding(False, False, ds.original_character_set)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path, implicit_vr=False, little_endian=False, enforce_file_format=True)


def _folder_edit(folder: Path, files: list[Path], kind: str, p: int) -> None:
    f = files[p % len(files)]
    if kind == "duplicate":
        shutil.copy(f, folder / f"zz-copy-{f.name}")
    elif kind == "duplicate_new_uid":
        ds = pydicom.dcmread(f)
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(folder / f"zz-twin-{f.name}")
    elif kind == "duplicate_rle":  # the same image (same SOPInstanceUID), RLE-compressed
        ds = pydicom.dcmread(f)
        ts = ds.file_meta.TransferSyntaxUID
        if ts.is_compressed or not ts.is_little_endian:
            return  # only a native little-endian file is re-encoded: no edit
        try:
            ds.compress(RLELossless, generate_instance_uid=False)
        except _CANNOT_ENCODE:
            return  # pydicom cannot compress what earlier edits made of the file: no edit
        ds.save_as(folder / f"zz-rle-{f.name}")
    elif kind == "remove_middle":
        files[len(files) // 2].unlink()


# -- the independent reference --------------------------------------------------------------------


def _pydicom_frame(path: str, index: int) -> tuple[np.ndarray, pydicom.Dataset]:
    """Frame ``index`` of ``path`` as (i, j) with that file's rescale (slope 0 taken as 1)."""
    ds = pydicom.dcmread(path)
    arr = np.asarray(ds.pixel_array)
    if arr.ndim == 3:
        arr = arr[index]
    slope = float(ds.get("RescaleSlope", 1) or 1)
    inter = float(ds.get("RescaleIntercept", 0) or 0)
    return arr.T.astype(np.float64) * (1.0 if slope == 0 else slope) + inter, ds


def _pydicom_decodes(path: str) -> bool:
    try:
        pydicom.dcmread(path).pixel_array  # noqa: B018  (decoding is the check)
    except Exception:
        return False
    return True


def _check_volume(vol: lv.Volume, paths: tuple[str, ...]) -> bool:
    """True when the volume's values and geometry match the reference; False when reading it
    raised a LazyvolError, which only a file pydicom cannot decode either may cause (compressed
    data found corrupt only when decoded: a typed error at compute, naming the file)."""
    try:
        computed = vol.compute()
    except lv.LazyvolError as exc:
        undecodable = [p for p in set(paths) if p and not _pydicom_decodes(p)]
        assert undecodable, f"computing raised {exc!r} but pydicom decodes every file"
        assert any(p in str(exc) for p in undecodable), exc
        return False
    got = np.asarray(computed, dtype=np.float64)
    nk = got.shape[2]
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ vol.affine
    step = float(np.linalg.norm(lps[:3, 2]))
    seen: dict[str, int] = {}
    for n, path in enumerate(paths):
        k, t = n % nk, n // nk
        index = seen.get(path, 0)
        seen[path] = index + 1
        ref, ds = _pydicom_frame(path, index)
        frame = got[:, :, k, t] if got.ndim == 4 else got[:, :, k]
        assert frame.shape == ref.shape, f"frame {n} ({path}): {frame.shape} vs {ref.shape}"
        np.testing.assert_allclose(
            frame, ref, rtol=1e-6, atol=1e-6, err_msg=f"frame {n} is not {path}"
        )
        ipp = _floats(ds, "ImagePositionPatient")
        iop = _floats(ds, "ImageOrientationPatient")
        spacing = _floats(ds, "PixelSpacing")
        pos = (lps @ np.array([0.0, 0.0, k, 1.0]))[:3]
        assert np.linalg.norm(pos - ipp) < max(0.2 * step, 1e-3), (
            f"frame {n} placed at {pos}, its file {path} says {ipp}"
        )
        for axis, cosines, size in ((0, iop[:3], spacing[1]), (1, iop[3:], spacing[0])):
            col = lps[:3, axis]
            assert abs(np.linalg.norm(col) - size) <= 1e-3 * size, (path, col, spacing)
            np.testing.assert_allclose(col / np.linalg.norm(col), cosines, atol=2e-3)
    return True


def _check_folder(folder: Path) -> None:
    COUNTS["folders"] += 1
    signal.alarm(TIME_BOUND_S)
    try:
        try:
            report = lv.scan(folder, use_index=False)
        except lv.LazyvolError:
            return
        except BaseException as exc:
            raise AssertionError(f"{type(exc).__name__} escaped lazyvol.scan: {exc}") from exc
        accounted = {p for p, _ in report.skipped} | {str(p) for p in report.unsupported}
        warned = " ".join(w for s in report for w in s.warnings)
        for series in report:
            accounted.update(series.files)
            if series.error:
                COUNTS["refused"] += 1
                continue
            try:
                vol = lv.open(folder, series=series.id, use_index=False)
            except lv.LazyvolError:
                COUNTS["refused"] += 1
                continue
            except BaseException as exc:
                raise AssertionError(f"{type(exc).__name__} escaped lazyvol.open: {exc}") from exc
            assert series.frames is not None
            if not _check_volume(vol, series.frames.paths):
                COUNTS["unreadable"] += 1
                continue
            COUNTS["opened"] += 1
            COUNTS["frames"] += len(series.frames.paths)
        unaccounted = [
            f.name for f in folder.iterdir() if str(f) not in accounted and f.name not in warned
        ]
        assert not unaccounted, f"files neither in a series, skipped nor named: {unaccounted}"
    finally:
        signal.alarm(0)


_EDIT = st.tuples(
    st.integers(0, 10**6),
    st.sampled_from([*EDITS, "implicit", "rle", "jpegls", "big_endian"]),
    st.integers(0, 11),
)
_FOLDER_EDIT = st.one_of(
    st.none(),
    st.tuples(
        st.sampled_from(["duplicate", "duplicate_new_uid", "duplicate_rle", "remove_middle"]),
        st.integers(0, 99),
    ),
)


@_fuzz(40, 600)
@given(
    dtype=st.sampled_from(["int16", "uint16", "uint8"]),
    orientation=st.sampled_from(["axial", "oblique", "sagittal"]),
    rescale=st.sampled_from([(1.0, 0.0), (2.0, -5.0)]),
    edits=st.lists(_EDIT, min_size=1, max_size=3),
    spread=st.booleans(),
    folder_edit=_FOLDER_EDIT,
)
def test_odd_files_in_a_synthetic_series(
    fuzz_env, dtype, orientation, rescale, edits, spread, folder_edit
):
    folder = fuzz_env / f"s{len(list(fuzz_env.iterdir()))}"
    truth = write_dicom_series(
        folder,
        (10, 8, 6),
        dtype=dtype,
        orientation=orientation,
        slope=rescale[0],
        intercept=rescale[1],
    )
    files = [Path(f) for f in truth.files]
    _edit_files(files, edits, spread)
    if folder_edit is not None:
        _folder_edit(folder, files, *folder_edit)
    _check_folder(folder)


def _edit_files(files: list[Path], edits: list[tuple[int, str, int]], spread: bool) -> None:
    """Each edit on one file, or (``spread``) on every other file from it."""
    for where, edit, p in edits:
        targets = files[where % len(files) :: 2] if spread else [files[where % len(files)]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom on the odd values written
            for path in targets:
                _apply(path, edit, p)


@pytest.mark.skipif(not GE_SERIES.is_dir(), reason=f"no real DICOM at {GE_SERIES}")
@_fuzz(8, 120)
@given(edits=st.lists(_EDIT, min_size=1, max_size=2), folder_edit=_FOLDER_EDIT)
def test_odd_files_in_a_real_ge_fmri_series(fuzz_env, edits, folder_edit):
    folder = fuzz_env / f"ge{len(list(fuzz_env.iterdir()))}"
    shutil.copytree(GE_SERIES, folder)
    files = sorted(folder.glob("*.dcm"))
    _edit_files(files, edits, spread=False)
    if folder_edit is not None:
        _folder_edit(folder, files, *folder_edit)
    _check_folder(folder)


def test_series_fuzz_examples_ran():
    # runs after the property tests in file order: the counts prove both outcomes were met
    if COUNTS["folders"] < 40:
        pytest.skip("run with the property tests")
    assert COUNTS["refused"] > 0 and COUNTS["opened"] > 0, COUNTS
    assert COUNTS["frames"] >= 2 * COUNTS["opened"], COUNTS
    print(f"DICOM series fuzz: {COUNTS}")
