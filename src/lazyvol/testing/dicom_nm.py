"""Synthetic nuclear medicine (SPECT) reconstructions: NM multi-frame files of known truth."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .dicom_base import (
    DicomSeriesTruth,
    _ds_str,
    _part10_dataset,
    _phantom_values,
    _save_one_file,
    _series_geometry,
    orientation_cosines,
)

__all__ = ["write_nm_tomo"]

#: NM Image Storage.
NM_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.20"


def write_nm_tomo(
    path: str | os.PathLike[str],
    shape: Sequence[int] = (32, 24, 16),
    *,
    orientation: str | Sequence[float] = "axial",
    spacing: Sequence[float] = (4.0, 4.0, 4.0),
    origin: Sequence[float] = (-60.0, -50.0, -30.0),
    frame_order: Sequence[int] | None = None,
    dtype: Any = "uint16",
    slope: float = 1.0,
    compress: str | None = None,
    seed: int = 0,
) -> DicomSeriesTruth:
    """Write one NM Image Storage file of a tomographic reconstruction (ImageType
    ``ORIGINAL\\PRIMARY\\RECON TOMO\\EMISSION``), as SPECT systems export them.

    The NM Image IOD has no functional groups: the first slice's ImagePositionPatient and the
    ImageOrientationPatient lie in the one item of DetectorInformationSequence (0054,0022), the
    slice distance in SpacingBetweenSlices (0018,0088), negative when the slices are stacked
    against the normal row x column (``spacing[2] < 0``; PS3.3 C.8.4.15), and Frame Increment
    Pointer (0028,0009) names SliceVector (0054,0080), the slice number (1 = first) of each frame.
    Frames are stored in ``frame_order`` (slice indices; default slice order).

    Returns
    -------
    DicomSeriesTruth
        ``stored[:, :, k]`` is slice number ``k + 1``; ``affine`` maps (i, j, k) to RAS+ mm.
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import generate_uid

    ni, nj, nk = (int(n) for n in shape)
    dt = np.dtype(dtype)
    stored = _phantom_values((ni, nj, nk), dt, dt.itemsize * 8, seed)
    row, col = orientation_cosines(orientation)
    pos, affine = _series_geometry(row, col, spacing, origin, nk, 0.0, None)
    di, dj, dk = (float(s) for s in spacing)
    order = list(range(nk)) if frame_order is None else [int(k) for k in frame_order]

    ds = _part10_dataset(NM_SOP_CLASS, f"lazyvol-nm-{seed}")
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[f"lazyvol-nm-study-{seed}"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[f"lazyvol-nm-series-{seed}"])
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[f"lazyvol-nm-for-{seed}"])
    ds.Modality, ds.Manufacturer = "NM", "LAZYVOL"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.SeriesDescription = "lazyvol SPECT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.Rows, ds.Columns = nj, ni
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = dt.itemsize * 8
    ds.HighBit = dt.itemsize * 8 - 1
    ds.PixelRepresentation = 1 if dt.kind == "i" else 0
    ds.PixelSpacing = [_ds_str(dj), _ds_str(di)]
    ds.SliceThickness = _ds_str(abs(dk))
    ds.SpacingBetweenSlices = _ds_str(dk)
    if slope != 1.0:
        ds.RescaleSlope, ds.RescaleIntercept = _ds_str(slope), "0"
    detector = Dataset()
    detector.ImagePositionPatient = [_ds_str(v) for v in pos[0]]
    detector.ImageOrientationPatient = [_ds_str(v) for v in (*row, *col)]
    ds.DetectorInformationSequence = DicomSequence([detector])
    ds.NumberOfDetectors = 1
    ds.NumberOfSlices = nk
    ds.SliceVector = [k + 1 for k in order]
    ds.FrameIncrementPointer = 0x00540080
    ds.NumberOfFrames = len(order)
    frames = [np.ascontiguousarray(stored[:, :, k].T).astype(dt.newbyteorder("<")) for k in order]
    ds.PixelData = b"".join(f.tobytes() for f in frames)
    ds["PixelData"].VR = "OB" if dt.itemsize == 1 else "OW"
    path = _save_one_file(ds, path, compress)
    return DicomSeriesTruth(
        files=[path],
        stored=stored,
        slopes=[float(slope)] * nk,
        intercepts=[0.0] * nk,
        affine=affine,
        series_uid=str(ds.SeriesInstanceUID),
        positions=pos,
        meta={"modality": "NM"},
    )
