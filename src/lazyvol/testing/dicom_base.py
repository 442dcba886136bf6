"""Shared pieces of the synthetic DICOM writers: the truth record, orientations, phantom values."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["DicomSeriesTruth", "orientation_cosines"]

#: LPS direction cosines (row direction = +i, column direction = +j) of named orientations.
_ORIENTATIONS = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
}


def _check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    """ValueError naming ``name`` and what it takes unless ``value`` is one of ``choices`` (a
    misspelt option raised a bare KeyError, or was ignored and the truth was not what was asked,
    after some files were written)."""
    if value not in choices:
        raise ValueError(f"{name}={value!r}: use one of {', '.join(map(repr, choices))}")


def _check_shape(shape: Sequence[int], lengths: Sequence[int] = (3,)) -> tuple[int, ...]:
    """``shape`` as ints, each at least 1, of one of ``lengths``; else ValueError (a 0 or negative
    size raised an IndexError, or wrote a header-only file: test data a caller did not ask for)."""
    out = tuple(int(n) for n in shape)
    if len(out) not in lengths or min(out, default=0) < 1:
        raise ValueError(
            f"shape={tuple(shape)!r}: give {' or '.join(map(str, lengths))} sizes, each at least 1"
        )
    return out


_SYNTAXES = {
    "explicit": "1.2.840.10008.1.2.1",
    "implicit": "1.2.840.10008.1.2",
    "big": "1.2.840.10008.1.2.2",
}


@dataclass
class DicomSeriesTruth:
    """What a generated series holds.

    Attributes
    ----------
    files : list of str
        The files written, in slice order k = 0, 1, ... (names may be shuffled on disk).
    stored : numpy.ndarray
        Stored values, axes (i, j, k) = (column, row, slice), as pydicom's ``pixel_array`` returns
        them (unused high bits removed, sign extended).
    slopes, intercepts : list of float
        RescaleSlope / RescaleIntercept of each slice k.
    affine : (4, 4) ndarray
        Voxel (i, j, k) to RAS+ millimetres.
    series_uid : str
    positions : (n, 3) ndarray
        ImagePositionPatient (LPS) of each slice k.
    """

    files: list[str]
    stored: np.ndarray
    slopes: list[float]
    intercepts: list[float]
    affine: np.ndarray
    series_uid: str
    positions: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def scaled(self, dtype: Any = np.float64) -> np.ndarray:
        """``stored * slope + intercept`` per slice, in ``dtype`` (float64 by default)."""
        out = self.stored.astype(np.float64)
        out *= np.asarray(self.slopes, dtype=np.float64)[None, None, :]
        out += np.asarray(self.intercepts, dtype=np.float64)[None, None, :]
        return out.astype(dtype)


def orientation_cosines(orientation: str | Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column direction cosines (LPS) for a name or a 6-value ImageOrientationPatient.

    ``"oblique"`` is the axial orientation rotated 20 degrees about x then 30 degrees about y.
    """
    if isinstance(orientation, str):
        if orientation == "oblique":
            ax, ay = np.deg2rad(20.0), np.deg2rad(30.0)
            rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
            ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
            rot = ry @ rx
            return rot[:, 0].copy(), rot[:, 1].copy()
        try:
            row, col = _ORIENTATIONS[orientation]
        except KeyError:
            raise ValueError(
                f"unknown orientation {orientation!r}; use axial, coronal, sagittal, oblique "
                "or six direction cosines"
            ) from None
        return np.array(row), np.array(col)
    values = np.asarray(orientation, dtype=np.float64)
    r, c = values[:3], values[3:6]
    return r / np.linalg.norm(r), c / np.linalg.norm(c)


def _series_geometry(
    row: np.ndarray,
    col: np.ndarray,
    spacing: Sequence[float],
    origin: Sequence[float],
    nk: int,
    tilt_deg: float,
    positions: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """ImagePositionPatient (LPS) of each slice and the RAS+ affine of the volume."""
    normal = np.cross(row, col)
    di, dj, dk = (float(s) for s in spacing)
    step = normal * dk + col * dk * np.tan(np.deg2rad(tilt_deg))
    if positions is None:
        pos = np.asarray(origin, dtype=np.float64)[None, :] + np.arange(nk)[:, None] * step[None, :]
    else:
        pos = np.asarray(positions, dtype=np.float64)
        step = (pos[-1] - pos[0]) / max(1, nk - 1) if nk > 1 else normal * dk
    affine_lps = np.eye(4)
    affine_lps[:3, 0] = row * di
    affine_lps[:3, 1] = col * dj
    affine_lps[:3, 2] = step
    affine_lps[:3, 3] = pos[0]
    return pos, np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine_lps


def _part10_dataset(sop_class: str, entropy: str) -> Any:
    """An empty data set with its file meta (explicit VR little endian) and SOP identity:
    ``sop_class`` and a SOPInstanceUID made from ``entropy`` (the same for the same text)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, generate_uid

    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    sop_uid = generate_uid(entropy_srcs=[entropy])
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.1")
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    return ds


def _save_one_file(ds: Any, path: str | os.PathLike[str], compress: str | None) -> str:
    """Write the one file of a multi-frame writer (compressed with pydicom's encoder for the
    transfer syntax ``compress``, if given), its folder made; its path."""
    if compress:
        ds.compress(compress, encoding_plugin="", generate_instance_uid=False)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _ds_str(value: float) -> str:
    from pydicom.valuerep import format_number_as_ds

    return str(format_number_as_ds(float(value)))


def dicom_time(seconds: float) -> str:
    """A DICOM TM value (``HHMMSS.FFFFFF``) for ``seconds`` after midnight, wrapped past 24 h.

    Parameters
    ----------
    seconds : float
        Seconds after midnight; a value of a day or more (or below zero) wraps around midnight,
        as a scanner's clock does.

    Returns
    -------
    str
        Hours, minutes and seconds with six decimals, e.g. ``dicom_time(36000.5)`` gives
        ``"100000.500000"``.
    """
    secs = round(float(seconds), 6) % 86400.0  # rounded first: never "60.000000" seconds
    hh, rem = divmod(secs, 3600.0)
    mm, ss = divmod(rem, 60.0)
    return f"{int(hh):02d}{int(mm):02d}{ss:09.6f}"


def _phantom_values(shape: Sequence[int], dt: np.dtype, bits: int, seed: int) -> np.ndarray:
    """Deterministic phantom covering the stored range (both extremes appear)."""
    if dt.kind == "f":
        return _float_values(shape, dt, seed)
    ni, nj, nk = (int(n) for n in shape)
    signed = dt.kind == "i"
    rng = np.random.default_rng(seed)
    lo = -(2 ** (bits - 1)) if signed else 0
    hi = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    # A smooth ramp plus noise, covering the extremes of the stored range.
    ii, jj, kk = np.meshgrid(np.arange(ni), np.arange(nj), np.arange(nk), indexing="ij")
    base = (ii * 7 + jj * 13 + kk * 29) % 251
    values = lo + (base / 250.0) * (hi - lo) * 0.8 + rng.integers(0, 3, size=base.shape)
    stored = np.clip(np.round(values), lo, hi).astype(np.int64)
    stored[0, 0, :] = lo
    stored[-1, -1, :] = hi
    return stored.astype(dt)


def _float_values(shape: Sequence[int], dt: np.dtype, seed: int) -> np.ndarray:
    """A float phantom: a signed ramp with fractions and noise, a huge and a tiny value, and a
    value float16 cannot hold (2049.0625: a narrowing read shows)."""
    ni, nj, nk = (int(n) for n in shape)
    rng = np.random.default_rng(seed)
    ii, jj, kk = np.meshgrid(np.arange(ni), np.arange(nj), np.arange(nk), indexing="ij")
    values = (ii * 0.37 - jj * 1.3 + kk * 11.1) + rng.standard_normal((ni, nj, nk))
    values[0, 0, :] = -3.0e38 if dt.itemsize == 4 else -1.0e300
    values[-1, -1, :] = 1.0e-30
    values[-1, 0, :] = 2049.0625
    return values.astype(dt)
