"""Synthetic single-frame DICOM series with known truth (written with pydicom): one file per slice.

See :func:`write_dicom_series`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .dicom_base import (
    _SYNTAXES,
    DicomSeriesTruth,
    _check_choice,
    _check_shape,
    _ds_str,
    _phantom_values,
    _series_geometry,
    orientation_cosines,
)

__all__ = ["write_dicom_series", "write_series"]


def write_dicom_series(
    folder: str | os.PathLike[str],
    shape: Sequence[int] = (32, 48, 16),
    *,
    orientation: str | Sequence[float] = "axial",
    spacing: Sequence[float] = (0.8, 0.7, 2.5),
    origin: Sequence[float] = (-12.5, -20.0, 30.0),
    dtype: Any = "int16",
    bits_stored: int | None = None,
    dirty_high_bits: bool = False,
    slope: float | Sequence[float] = 1.0,
    intercept: float | Sequence[float] = 0.0,
    syntax: str = "explicit",
    reverse_instance_numbers: bool = False,
    shuffle_names: bool = False,
    tilt_deg: float = 0.0,
    modality: str = "CT",
    series_uid: str | None = None,
    series_number: int = 1,
    description: str = "lazyvol synthetic",
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    positions: np.ndarray | None = None,
    extra: dict[str, Any] | None = None,
    per_slice: Sequence[dict[str, Any]] | None = None,
    prefix: str = "IM",
    seed: int = 0,
    compress: str | None = None,
) -> DicomSeriesTruth:
    """Write a single-frame DICOM series of a known volume, one file per slice.

    Parameters
    ----------
    folder : path
        Created if needed; files are named ``{prefix}{n:05d}.dcm`` (shuffled if asked).
    shape, orientation : (ni, nj, nk), str or six floats
        Columns, rows and slices; ``"axial"``, ``"coronal"``, ``"sagittal"``, ``"oblique"``, or
        six ImageOrientationPatient values.
    spacing, origin : (di, dj, dk), three floats
        Column, row (PixelSpacing is ``[dj, di]``) and slice spacing; ImagePositionPatient (LPS)
        of slice 0.
    dtype : dtype
        Stored dtype: (u)int8/16/32 (BitsAllocated from its size); float32 / float64: Float /
        Double Float Pixel Data (7FE0,0008 / 0009), without BitsStored and PixelRepresentation.
    bits_stored : int, optional
        BitsStored (default: all allocated bits); values are drawn within its range;
        ``dirty_high_bits=True`` fills the unused high bits with junk (readers ignore them).
    slope, intercept : float or one per slice
        RescaleSlope / RescaleIntercept.
    syntax : {"explicit", "implicit", "big"}
        Explicit VR little endian, implicit VR little endian, or explicit VR big endian.
    reverse_instance_numbers, shuffle_names : bool
        InstanceNumber runs against the slice order; file names carry no slice order.
    tilt_deg, positions : float, (nk, 3) array, optional
        Gantry tilt (slices shifted along the column direction by ``k * dk * tan(tilt)``);
        explicit ImagePositionPatient per slice (overrides origin/spacing/tilt along k).
    extra, per_slice : dict, list of dict, optional
        Extra attributes (keyword -> value) of every file, of each slice k.
    seed : int
        Seed of the pixel values.
    compress : str, optional
        Transfer syntax UID to compress each file with (pydicom's encoders, e.g. RLE Lossless
        ``1.2.840.10008.1.2.5`` or JPEG 2000 Lossless ``1.2.840.10008.1.2.4.90``); the values
        stay exactly the same (lossless syntaxes only). Not with ``syntax="big"`` (ValueError).

    Returns
    -------
    DicomSeriesTruth
    """
    from pydicom.uid import generate_uid

    folder = os.fspath(folder)
    nk = _check_shape(shape)[2]
    stored, bits, slopes, inters = _values(shape, dtype, bits_stored, slope, intercept, seed)
    row, col = orientation_cosines(orientation)
    pos, affine = _series_geometry(row, col, spacing, origin, nk, tilt_deg, positions)
    series_uid = series_uid or generate_uid(
        entropy_srcs=[f"lazyvol-{seed}-{series_number}-{prefix}"]
    )
    ident = (str(series_uid), series_number, description, tuple(image_type), prefix, modality)
    common = _common(ident, syntax, row, col, spacing, bits, stored, compress)
    common = replace(common, reverse=reverse_instance_numbers)
    os.makedirs(folder, exist_ok=True)
    perm = np.random.default_rng(seed + 1).permutation(nk) if shuffle_names else range(nk)
    names = [f"{prefix}{n:05d}.dcm" for n in perm]
    files = []
    for k in range(nk):
        attrs = {**(extra or {}), **(per_slice[k] if per_slice else {})}
        plane = _plane(stored[:, :, k], bits, dirty_high_bits, seed + 100 + k)
        path = os.path.join(folder, names[k])
        files.append(_write_slice(path, common, k, pos[k], (slopes[k], inters[k]), attrs, plane))
    return DicomSeriesTruth(
        files=files,
        stored=stored,
        slopes=slopes,
        intercepts=inters,
        affine=affine,
        series_uid=str(series_uid),
        positions=pos,
        meta={"modality": modality, "description": description, "series_number": series_number},
    )


def _values(
    shape: Sequence[int],
    dtype: Any,
    bits_stored: int | None,
    slope: float | Sequence[float],
    intercept: float | Sequence[float],
    seed: int,
) -> tuple[np.ndarray, int, list[float], list[float]]:
    """Stored values (i, j, k), BitsStored, and the rescale slope and intercept of each slice."""
    nk = int(shape[2])
    dt = np.dtype(dtype)
    if dt.kind == "f" and dt.itemsize in (4, 8) and bits_stored is None:
        bits = dt.itemsize * 8
        stored = _phantom_values(tuple(int(n) for n in shape), dt, bits, seed)
    elif dt.kind not in "iu" or dt.itemsize not in (1, 2, 4):
        raise ValueError(f"dtype must be an 8/16/32-bit integer type or float32/64, got {dt}")
    else:
        bits = dt.itemsize * 8 if bits_stored is None else int(bits_stored)
        stored = _phantom_values(tuple(int(n) for n in shape), dt, bits, seed)
    slopes = [float(s) for s in (slope if isinstance(slope, Sequence) else [slope] * nk)]
    inters = [
        float(s) for s in (intercept if isinstance(intercept, Sequence) else [intercept] * nk)
    ]
    if len(slopes) != nk or len(inters) != nk:
        raise ValueError("slope/intercept sequences need one value per slice")
    return stored, bits, slopes, inters


def _common(
    ident: tuple[str, int, str, tuple[str, ...], str, str],
    syntax: str,
    row: np.ndarray,
    col: np.ndarray,
    spacing: Sequence[float],
    bits: int,
    stored: np.ndarray,
    compress: str | None,
) -> _Common:
    """What the slices of a series share; ``ident``: (series UID, number, description, image
    type, file prefix, modality)."""
    from pydicom.uid import generate_uid

    _check_choice("syntax", syntax, tuple(_SYNTAXES))
    if compress and syntax == "big":  # (was written with its values byte-swapped)
        raise ValueError(
            "compress= and syntax='big' do not go together: compressed transfer syntaxes are "
            "little endian; leave syntax at 'explicit'"
        )
    series_uid, series_number, description, image_type, prefix, modality = ident
    # Study and frame of reference follow the series (not the pixel seed): the files of one
    # series written in several calls share them, as a scanner's do.
    return _Common(
        generate_uid(entropy_srcs=[f"lazyvol-study-{series_uid}"]),
        series_uid,
        generate_uid(entropy_srcs=[f"lazyvol-for-{series_uid}"]),
        _SYNTAXES[syntax],
        modality,
        series_number,
        description,
        image_type,
        [_ds_str(v) for v in (*row, *col)],
        tuple(float(s) for s in spacing),
        prefix,
        bits,
        int(stored.shape[2]),
        False,
        syntax != "big",
        compress or "",
        stored.dtype.kind == "i",
    )


@dataclass(frozen=True)
class _Common:
    """What every slice file of one series shares."""

    study_uid: str
    series_uid: str
    for_uid: str
    tsyntax: str
    modality: str
    series_number: int
    description: str
    image_type: tuple[str, ...]
    iop: list[str]
    spacing: tuple[float, ...]
    prefix: str
    bits: int
    nk: int
    reverse: bool
    little: bool
    compress: str
    signed: bool


def _write_slice(
    path: str,
    c: _Common,
    k: int,
    position: np.ndarray,
    rescale: tuple[float, float],
    attrs: dict[str, Any],
    plane: np.ndarray,
) -> str:
    """Write slice ``k`` (``plane``: stored values as (rows, columns)) to ``path``."""
    ds = _slice_dataset(c, k, position)
    ds.Rows, ds.Columns = plane.shape
    bits_alloc = plane.dtype.itemsize * 8
    ds.BitsAllocated = bits_alloc
    if plane.dtype.kind != "f":  # the Floating Point Image Pixel module has none of these
        ds.BitsStored = c.bits
        ds.HighBit = c.bits - 1
        ds.PixelRepresentation = 1 if c.signed else 0
    slope, inter = rescale
    if slope != 1.0 or inter != 0.0 or c.modality == "CT":
        ds.RescaleSlope = _ds_str(slope)
        ds.RescaleIntercept = _ds_str(inter)
    for key, value in attrs.items():
        setattr(ds, key, value)
    data = plane.astype(plane.dtype.newbyteorder("<" if c.little else ">")).tobytes()
    if plane.dtype.kind == "f":
        # Float Pixel Data (7FE0,0008, OF) or Double Float Pixel Data (7FE0,0009, OD).
        setattr(ds, "FloatPixelData" if bits_alloc == 32 else "DoubleFloatPixelData", data)
    else:
        ds.PixelData = data
        ds["PixelData"].VR = "OB" if bits_alloc == 8 else "OW"
    if c.compress:
        ds.compress(c.compress, encoding_plugin="", generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)
    return path


def _slice_dataset(c: _Common, k: int, position: np.ndarray) -> Any:
    """The dataset of slice ``k`` without its pixel attributes."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, generate_uid

    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(
        "1.2.840.10008.5.1.4.1.1.2"
        if c.modality == "CT"
        else ("1.2.840.10008.5.1.4.1.1.4" if c.modality == "MR" else "1.2.840.10008.5.1.4.1.1.7")
    )
    sop_uid = generate_uid(entropy_srcs=[c.series_uid, str(k), c.prefix])
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = UID(c.tsyntax)
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = c.study_uid
    ds.SeriesInstanceUID = c.series_uid
    ds.FrameOfReferenceUID = c.for_uid
    ds.Modality = c.modality
    ds.SeriesNumber = c.series_number
    ds.SeriesDescription = c.description
    ds.PatientName = "Lazyvol^Phantom"
    ds.PatientID = "LV0001"
    ds.InstanceNumber = (c.nk - k) if c.reverse else (k + 1)
    ds.ImageType = list(c.image_type)
    ds.ImagePositionPatient = [_ds_str(v) for v in position]
    ds.ImageOrientationPatient = c.iop
    di, dj, dk = c.spacing
    ds.PixelSpacing = [_ds_str(dj), _ds_str(di)]
    ds.SliceThickness = _ds_str(dk)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    return ds


def _plane(values: np.ndarray, bits: int, dirty: bool, seed: int) -> np.ndarray:
    """One slice (i, j) as stored (rows, columns); ``dirty``: junk in the unused high bits."""
    plane = np.ascontiguousarray(values.T)
    itemsize = plane.dtype.itemsize
    if dirty and bits < itemsize * 8:
        raw = plane.view(f"u{itemsize}").copy()
        junk = np.random.default_rng(seed).integers(
            0, 2 ** (itemsize * 8 - bits), size=raw.shape, dtype=np.uint64
        )
        mask = (1 << bits) - 1
        raw = (raw.astype(np.uint64) & mask) | (junk << np.uint64(bits))
        plane = raw.astype(f"u{itemsize}")
    return plane


#: Short alias of :func:`write_dicom_series`.
write_series = write_dicom_series
