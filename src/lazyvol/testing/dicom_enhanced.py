"""A synthetic enhanced multi-frame DICOM file with known truth (written with pydicom)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .dicom_base import (
    DicomSeriesTruth,
    _check_choice,
    _check_shape,
    _ds_str,
    _part10_dataset,
    _phantom_values,
    _save_one_file,
    _series_geometry,
    orientation_cosines,
)

__all__ = ["write_enhanced_dicom"]


def write_enhanced_dicom(
    path: str | os.PathLike[str],
    shape: Sequence[int] = (32, 48, 12),
    *,
    orientation: str | Sequence[float] = "axial",
    spacing: Sequence[float] = (0.8, 0.7, 2.5),
    origin: Sequence[float] = (-12.5, -20.0, 30.0),
    dtype: Any = "int16",
    slope: float | Sequence[float] = 1.0,
    intercept: float | Sequence[float] = 0.0,
    frame_order: Sequence[int] | None = None,
    n_volumes: int = 1,
    volume_tag: str = "TemporalPositionIndex",
    compress: str | None = None,
    modality: str = "MR",
    seed: int = 0,
) -> DicomSeriesTruth:
    """Write one enhanced multi-frame file (Enhanced MR/CT Image Storage) of a known volume.

    Geometry lives only in the functional groups: orientation and pixel measures in the shared
    group, ImagePositionPatient and FrameContent per frame. Frames are stored in ``frame_order``
    (a permutation of slice indices; default: slice order), so readers must sort by position.
    ``n_volumes > 1`` repeats every position with a different ``volume_tag`` value
    (``TemporalPositionIndex`` in FrameContentSequence, or ``EffectiveEchoTime`` in
    MREchoSequence; ``"none"`` writes neither, a bad input: nothing tells the volumes apart),
    giving a 4D truth ``stored[..., t]``. A misspelt ``volume_tag``, a ``frame_order`` that is
    not a permutation of the slices or a size under 1 in ``shape`` is a ValueError.

    Returns
    -------
    DicomSeriesTruth
        ``stored`` has shape (ni, nj, nk) or (ni, nj, nk, n_volumes); ``files`` holds the one path.
    """
    from pydicom.sequence import Sequence as DicomSequence

    ni, nj, nk = _check_shape(shape)
    _check_choice("volume_tag", volume_tag, ("TemporalPositionIndex", "EffectiveEchoTime", "none"))
    if frame_order is not None and sorted(int(k) for k in frame_order) != list(range(nk)):
        raise ValueError(
            f"frame_order={list(frame_order)!r}: give a permutation of the {nk} slice indices "
            f"0..{nk - 1} (each frame written once)"
        )
    dt = np.dtype(dtype)
    vols = [_phantom_values((ni, nj, nk), dt, dt.itemsize * 8, seed + t) for t in range(n_volumes)]
    stored = np.stack(vols, axis=-1) if n_volumes > 1 else vols[0]
    slopes = [float(s) for s in (slope if isinstance(slope, Sequence) else [slope] * nk)]
    inters = [
        float(s) for s in (intercept if isinstance(intercept, Sequence) else [intercept] * nk)
    ]
    row, col = orientation_cosines(orientation)
    pos, affine = _series_geometry(row, col, spacing, origin, nk, 0.0, None)
    di, dj, dk = (float(s) for s in spacing)
    order = list(range(nk)) if frame_order is None else [int(k) for k in frame_order]
    ds = _enhanced_header(modality, seed, (ni, nj), dt, row, col, (di, dj, dk))
    per = []
    frames = []
    for t in range(n_volumes):
        for k in order:
            per.append(_frame_item(pos[k], k, t, volume_tag, slopes[k], inters[k]))
            plane = stored[:, :, k, t] if n_volumes > 1 else stored[:, :, k]
            frames.append(np.ascontiguousarray(plane.T).astype(dt.newbyteorder("<")).tobytes())
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per)
    ds.NumberOfFrames = len(frames)
    if dt.kind == "f":  # a parametric map's Float / Double Float Pixel Data (OF, OD)
        setattr(
            ds, "FloatPixelData" if dt.itemsize == 4 else "DoubleFloatPixelData", b"".join(frames)
        )
    else:
        ds.PixelData = b"".join(frames)
        ds["PixelData"].VR = "OB" if dt.itemsize == 1 else "OW"
    path = _save_one_file(ds, path, compress)
    return DicomSeriesTruth(
        files=[path],
        stored=stored,
        slopes=slopes,
        intercepts=inters,
        affine=affine,
        series_uid=str(ds.SeriesInstanceUID),
        positions=pos,
        meta={"modality": modality},
    )


def _enhanced_header(
    modality: str,
    seed: int,
    size: tuple[int, int],
    dt: np.dtype,
    row: np.ndarray,
    col: np.ndarray,
    spacing: tuple[float, float, float],
) -> Any:
    """The enhanced file's dataset: identity, pixel format, shared functional groups."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import generate_uid

    ni, nj = size
    di, dj, dk = spacing
    sop_class = "1.2.840.10008.5.1.4.1.1.4.1" if modality == "MR" else "1.2.840.10008.5.1.4.1.1.2.1"
    ds = _part10_dataset(sop_class, f"lazyvol-enh-{seed}")
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[f"lazyvol-study-{seed}"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[f"lazyvol-enh-series-{seed}"])
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[f"lazyvol-for-{seed}"])
    ds.Modality = modality
    ds.SeriesNumber = 1
    ds.SeriesDescription = "lazyvol enhanced"
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.Rows, ds.Columns = nj, ni
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = dt.itemsize * 8
    if dt.kind != "f":  # the Floating Point Image Pixel module has none of these
        ds.BitsStored = dt.itemsize * 8
        ds.HighBit = dt.itemsize * 8 - 1
        ds.PixelRepresentation = 1 if dt.kind == "i" else 0
    shared = Dataset()
    po = Dataset()
    po.ImageOrientationPatient = [_ds_str(v) for v in (*row, *col)]
    shared.PlaneOrientationSequence = DicomSequence([po])
    pm = Dataset()
    pm.PixelSpacing = [_ds_str(dj), _ds_str(di)]
    pm.SliceThickness = _ds_str(dk)
    shared.PixelMeasuresSequence = DicomSequence([pm])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    return ds


def _frame_item(
    position: np.ndarray, k: int, t: int, volume_tag: str, slope: float, inter: float
) -> Any:
    """The per-frame functional groups of slice ``k`` of volume ``t``."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    item = Dataset()
    pp = Dataset()
    pp.ImagePositionPatient = [_ds_str(v) for v in position]
    item.PlanePositionSequence = DicomSequence([pp])
    fc = Dataset()
    fc.InStackPositionNumber = k + 1
    if volume_tag == "TemporalPositionIndex":
        fc.TemporalPositionIndex = t + 1
    item.FrameContentSequence = DicomSequence([fc])
    if volume_tag == "EffectiveEchoTime":
        me = Dataset()
        me.EffectiveEchoTime = 10.0 * (t + 1)
        item.MREchoSequence = DicomSequence([me])
    pv = Dataset()
    pv.RescaleSlope = _ds_str(slope)
    pv.RescaleIntercept = _ds_str(inter)
    pv.RescaleType = "US"
    item.PixelValueTransformationSequence = DicomSequence([pv])
    return item
