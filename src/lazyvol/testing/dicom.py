"""Synthetic DICOM series with known truth (written with pydicom).

:func:`write_dicom_series` writes one single-frame image file per slice of a volume whose voxel
values, geometry (RAS affine) and rescale parameters are known exactly, in any orientation, with the
encodings real archives use (implicit/explicit VR, big endian, 8/16/32-bit, signed/unsigned,
BitsStored < BitsAllocated), and with the traps lazyvol must get right (reversed instance numbers,
shuffled file names, gantry tilt, per-slice rescale).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "DicomSeriesTruth",
    "orientation_cosines",
    "write_dicom_4d_series",
    "write_dicom_series",
    "write_enhanced_dicom",
]

#: LPS direction cosines (row direction = +i, column direction = +j) of named orientations.
_ORIENTATIONS = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
}

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


def _ds_str(value: float) -> str:
    from pydicom.valuerep import format_number_as_ds

    return str(format_number_as_ds(float(value)))


def _phantom_values(shape: Sequence[int], dt: np.dtype, bits: int, seed: int) -> np.ndarray:
    """Deterministic phantom covering the stored range (both extremes appear)."""
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
    shape : (ni, nj, nk)
        Columns, rows and slices.
    orientation : str or six floats
        ``"axial"``, ``"coronal"``, ``"sagittal"``, ``"oblique"``, or ImageOrientationPatient.
    spacing : (di, dj, dk)
        Column spacing, row spacing (PixelSpacing is written as ``[dj, di]``) and slice spacing.
    origin : three floats
        ImagePositionPatient (LPS) of slice 0.
    dtype : dtype
        Stored dtype: uint8, int8, uint16, int16, uint32 or int32 (BitsAllocated from its size).
    bits_stored : int, optional
        BitsStored (default: all allocated bits); values are drawn within its range.
    dirty_high_bits : bool
        Fill the unused high bits with junk (readers must ignore them, as pydicom does).
    slope, intercept : float or one per slice
        RescaleSlope / RescaleIntercept.
    syntax : {"explicit", "implicit", "big"}
        Transfer syntax: explicit VR little endian, implicit VR little endian, explicit big endian.
    reverse_instance_numbers : bool
        InstanceNumber runs against the slice order.
    shuffle_names : bool
        File names carry no slice order.
    tilt_deg : float
        Gantry tilt: slices shifted along the column direction by ``k * dk * tan(tilt)``.
    positions : (nk, 3) array, optional
        Explicit ImagePositionPatient per slice (overrides origin/spacing/tilt along k).
    extra : dict, optional
        Extra attributes set on every file (keyword -> value).
    per_slice : list of dict, optional
        Extra attributes per slice k.
    seed : int
        Seed of the pixel values.
    compress : str, optional
        Transfer syntax UID to compress each file with (pydicom's encoders, e.g. RLE Lossless
        ``1.2.840.10008.1.2.5`` or JPEG 2000 Lossless ``1.2.840.10008.1.2.4.90``); the values
        stay exactly the same (lossless syntaxes only).

    Returns
    -------
    DicomSeriesTruth
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    ni, nj, nk = (int(n) for n in shape)
    dt = np.dtype(dtype)
    if dt.kind not in "iu" or dt.itemsize not in (1, 2, 4):
        raise ValueError(f"dtype must be an 8/16/32-bit integer type, got {dt}")
    bits_alloc = dt.itemsize * 8
    bits = bits_alloc if bits_stored is None else int(bits_stored)
    signed = dt.kind == "i"
    stored = _phantom_values((ni, nj, nk), dt, bits, seed)

    slopes = [float(s) for s in (slope if isinstance(slope, Sequence) else [slope] * nk)]
    inters = [
        float(s) for s in (intercept if isinstance(intercept, Sequence) else [intercept] * nk)
    ]
    if len(slopes) != nk or len(inters) != nk:
        raise ValueError("slope/intercept sequences need one value per slice")

    row, col = orientation_cosines(orientation)
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
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine_lps

    tsyntax = _SYNTAXES[syntax]
    series_uid = series_uid or generate_uid(
        entropy_srcs=[f"lazyvol-{seed}-{series_number}-{prefix}"]
    )
    study_uid = generate_uid(entropy_srcs=[f"lazyvol-study-{seed}"])
    for_uid = generate_uid(entropy_srcs=[f"lazyvol-for-{seed}"])
    names = [f"{prefix}{n:05d}.dcm" for n in range(nk)]
    if shuffle_names:
        perm = np.random.default_rng(seed + 1).permutation(nk)
        names = [names[p] for p in perm]
    files: list[str] = []
    iop = [_ds_str(v) for v in (*row, *col)]
    for k in range(nk):
        ds = Dataset()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = UID(
            "1.2.840.10008.5.1.4.1.1.2"
            if modality == "CT"
            else ("1.2.840.10008.5.1.4.1.1.4" if modality == "MR" else "1.2.840.10008.5.1.4.1.1.7")
        )
        sop_uid = generate_uid(entropy_srcs=[series_uid, str(k), prefix])
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = UID(tsyntax)
        ds.file_meta = meta
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = sop_uid
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = for_uid
        ds.Modality = modality
        ds.SeriesNumber = series_number
        ds.SeriesDescription = description
        ds.PatientName = "Lazyvol^Phantom"
        ds.PatientID = "LV0001"
        ds.InstanceNumber = (nk - k) if reverse_instance_numbers else (k + 1)
        ds.ImageType = list(image_type)
        ds.ImagePositionPatient = [_ds_str(v) for v in pos[k]]
        ds.ImageOrientationPatient = iop
        ds.PixelSpacing = [_ds_str(dj), _ds_str(di)]
        ds.SliceThickness = _ds_str(dk)
        ds.Rows = nj
        ds.Columns = ni
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = bits_alloc
        ds.BitsStored = bits
        ds.HighBit = bits - 1
        ds.PixelRepresentation = 1 if signed else 0
        if slopes[k] != 1.0 or inters[k] != 0.0 or modality == "CT":
            ds.RescaleSlope = _ds_str(slopes[k])
            ds.RescaleIntercept = _ds_str(inters[k])
        for key, value in (extra or {}).items():
            setattr(ds, key, value)
        for key, value in (per_slice[k] if per_slice else {}).items():
            setattr(ds, key, value)
        plane = np.ascontiguousarray(stored[:, :, k].T)  # (rows, columns)
        if dirty_high_bits and bits < bits_alloc:
            raw = plane.view(f"u{dt.itemsize}").copy()
            junk = np.random.default_rng(seed + 100 + k).integers(
                0, 2 ** (bits_alloc - bits), size=raw.shape, dtype=np.uint64
            )
            mask = (1 << bits) - 1
            raw = (raw.astype(np.uint64) & mask) | (junk << np.uint64(bits))
            plane = raw.astype(f"u{dt.itemsize}")
        little = syntax != "big"
        pixel_bytes = plane.astype(plane.dtype.newbyteorder("<" if little else ">")).tobytes()
        ds.PixelData = pixel_bytes
        ds["PixelData"].VR = "OB" if bits_alloc == 8 else "OW"
        path = os.path.join(folder, names[k])
        if compress:
            ds.compress(compress, encoding_plugin="", generate_instance_uid=False)
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    assert tsyntax != ExplicitVRLittleEndian or syntax == "explicit"
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
    MREchoSequence), giving a 4D truth ``stored[..., t]``.

    Returns
    -------
    DicomSeriesTruth
        ``stored`` has shape (ni, nj, nk) or (ni, nj, nk, n_volumes); ``files`` holds the one path.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import UID, generate_uid

    ni, nj, nk = (int(n) for n in shape)
    dt = np.dtype(dtype)
    vols = [_phantom_values((ni, nj, nk), dt, dt.itemsize * 8, seed + t) for t in range(n_volumes)]
    stored = np.stack(vols, axis=-1) if n_volumes > 1 else vols[0]
    slopes = [float(s) for s in (slope if isinstance(slope, Sequence) else [slope] * nk)]
    inters = [
        float(s) for s in (intercept if isinstance(intercept, Sequence) else [intercept] * nk)
    ]
    row, col = orientation_cosines(orientation)
    normal = np.cross(row, col)
    di, dj, dk = (float(s) for s in spacing)
    pos = np.asarray(origin, float)[None, :] + np.arange(nk)[:, None] * (normal * dk)[None, :]
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = row * di, col * dj, normal * dk, pos[0]
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    order = list(range(nk)) if frame_order is None else [int(k) for k in frame_order]

    sop_class = "1.2.840.10008.5.1.4.1.1.4.1" if modality == "MR" else "1.2.840.10008.5.1.4.1.1.2.1"
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    sop_uid = generate_uid(entropy_srcs=[f"lazyvol-enh-{seed}"])
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.1")
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
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
    ds.BitsAllocated = ds.BitsStored = dt.itemsize * 8
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
    per = []
    frames = []
    for t in range(n_volumes):
        for k in order:
            item = Dataset()
            pp = Dataset()
            pp.ImagePositionPatient = [_ds_str(v) for v in pos[k]]
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
            pv.RescaleSlope = _ds_str(slopes[k])
            pv.RescaleIntercept = _ds_str(inters[k])
            pv.RescaleType = "US"
            item.PixelValueTransformationSequence = DicomSequence([pv])
            per.append(item)
            plane = stored[:, :, k, t] if n_volumes > 1 else stored[:, :, k]
            frames.append(np.ascontiguousarray(plane.T).astype(dt.newbyteorder("<")).tobytes())
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per)
    ds.NumberOfFrames = len(frames)
    ds.PixelData = b"".join(frames)
    ds["PixelData"].VR = "OB" if dt.itemsize == 1 else "OW"
    if compress:
        ds.compress(compress, encoding_plugin="", generate_instance_uid=False)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
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


#: Short alias of :func:`write_dicom_series`.
write_series = write_dicom_series


#: Private creators and elements of the vendor diffusion attributes (as the scanners write them).
_VENDOR_DIFFUSION = {
    "GE": {
        "creators": {0x00190010: "GEMS_ACQU_01", 0x00430010: "GEMS_PARM_01"},
        "manufacturer": "GE MEDICAL SYSTEMS",
    },
    "SIEMENS": {"creators": {0x00190010: "SIEMENS MR HEADER"}, "manufacturer": "SIEMENS"},
    "PHILIPS": {
        "creators": {0x20010010: "Philips Imaging DD 001", 0x20050010: "Philips MR Imaging DD 001"},
        "manufacturer": "Philips Medical Systems",
    },
}


def _diffusion_elements(
    ds: Any, vendor: str, b: float, g: Sequence[float], ge_offset: bool
) -> None:
    """Write a b-value and gradient direction with the vendor's (or the standard) attributes."""
    if vendor == "standard":
        ds.DiffusionBValue = float(b)
        ds.DiffusionGradientOrientation = [float(x) for x in g]
        return
    spec = _VENDOR_DIFFUSION[vendor]
    ds.Manufacturer = spec["manufacturer"]
    for tag, creator in spec["creators"].items():  # type: ignore[attr-defined]
        ds.add_new(tag, "LO", creator)
    if vendor == "GE":
        first = round(b) + (1_000_000_000 if ge_offset else 0)
        ds.add_new(0x00431039, "IS", [first, 8, 0, 0])
        for tag, x in zip((0x001910BB, 0x001910BC, 0x001910BD), g):
            ds.add_new(tag, "DS", _ds_str(x))
    elif vendor == "SIEMENS":
        ds.add_new(0x0019100C, "IS", round(b))
        ds.add_new(0x0019100E, "FD", [float(x) for x in g])
    else:
        ds.add_new(0x20011003, "FL", float(b))
        for tag, x in zip((0x200510B0, 0x200510B1, 0x200510B2), g):
            ds.add_new(tag, "FL", float(x))


def write_dicom_4d_series(
    folder: str | os.PathLike[str],
    shape: Sequence[int] = (16, 12, 5),
    n_volumes: int = 4,
    *,
    labels: Sequence[str] = ("AcquisitionTime",),
    numbering: str = "volume",
    bvals: Sequence[float] | None = None,
    bvecs: Sequence[Sequence[float]] | None = None,
    vendor: str = "standard",
    ge_bvalue_offset: bool = False,
    components: Sequence[str] | None = None,
    tr_s: float = 2.0,
    echoes: int = 1,
    shuffle_names: bool = True,
    seed: int = 0,
    **series_kw: Any,
) -> DicomSeriesTruth:
    """Write a 4D series stored one single-frame file per slice per volume (fMRI / DWI / ASL).

    Parameters
    ----------
    folder : path
    shape : (ni, nj, nk)
    n_volumes : int
        Volumes (time points, diffusion directions, ...), written in acquisition order t = 0, 1, ...
    labels : sequence of str
        Which attributes tell the volumes apart: any of ``"AcquisitionTime"`` (interleaved slice
        times within each TR, volumes ``tr_s`` apart), ``"TemporalPositionIdentifier"``,
        ``"AcquisitionNumber"``; empty: only InstanceNumber (as GE fMRI).
    numbering : {"volume", "position"}
        InstanceNumber runs volume by volume (GE, Siemens) or position by position (Philips).
    bvals, bvecs : optional
        Diffusion series: b-value and gradient direction (LPS) per volume, written with
        ``vendor``'s attributes: ``"standard"`` (0018,9087)/(0018,9089), ``"GE"``,
        ``"SIEMENS"`` or ``"PHILIPS"`` private elements. ``ge_bvalue_offset`` adds GE's 1e9.
        Without ``bvals``, a vendor only sets Manufacturer (and, for GE ``components``, the
        private image kind (0043,102F) with the same ImageType for every component, as GE does).
    components : sequence of str, optional
        Complex-data series: one ImageType value per volume (e.g. ``["M", "P"]``): the files of
        all components share the SeriesInstanceUID and positions; ``stored[..., t]`` is the
        volume of ``components[t]``.
    echoes : int
        Multi-echo time series: each volume is written ``echoes`` times (EchoNumbers 1.., EchoTime
        15 ms apart, same AcquisitionTime); ``stored[..., t * echoes + e]`` is echo e of volume t.
    **series_kw
        Passed to :func:`write_dicom_series` (orientation, spacing, dtype, modality, ...).

    Returns
    -------
    DicomSeriesTruth
        ``stored`` is (ni, nj, nk, n_volumes) in acquisition order; ``meta`` holds ``bvals``,
        ``bvecs``, ``components`` and ``acquisition_times`` (per volume and slice) when written.
    """
    from pydicom.uid import generate_uid

    ni, nj, nk = (int(n) for n in shape)
    if components is not None:
        n_volumes = len(components)
    if bvals is not None:
        n_volumes = len(bvals)
    series_number = int(series_kw.pop("series_number", 1))
    series_uid = series_kw.pop("series_uid", None) or generate_uid(
        entropy_srcs=[f"lazyvol-4d-{seed}-{series_number}"]
    )
    modality = series_kw.pop("modality", "MR")
    image_type = tuple(series_kw.pop("image_type", ("ORIGINAL", "PRIMARY", "EPI", "NONE")))
    # interleaved slice order within each TR: 0, 2, 4, ..., 1, 3, ...
    slice_rank = {k: n for n, k in enumerate([*range(0, nk, 2), *range(1, nk, 2)])}
    volumes = []
    files: list[str] = []
    times = np.zeros((n_volumes * echoes, nk))
    truth0: DicomSeriesTruth | None = None
    n_written = n_volumes * echoes
    for w in range(n_written):
        t, e = divmod(w, echoes)
        per_slice = []
        for k in range(nk):
            inst = w * nk + k + 1 if numbering == "volume" else k * n_written + w + 1
            attrs: dict[str, Any] = {
                "InstanceNumber": inst,
                "EchoTime": _ds_str(30 + 15 * e),
                "EchoNumbers": e + 1,
            }
            attrs["RepetitionTime"] = _ds_str(tr_s * 1000)
            secs = 10 * 3600 + t * tr_s + slice_rank[k] * tr_s / nk
            times[w, k] = secs
            if "AcquisitionTime" in labels:
                hh, rem = divmod(secs, 3600)
                mm, ss = divmod(rem, 60)
                attrs["AcquisitionTime"] = f"{int(hh):02d}{int(mm):02d}{ss:09.6f}"
            else:
                attrs["AcquisitionTime"] = "100000"
            if "TemporalPositionIdentifier" in labels:
                attrs["TemporalPositionIdentifier"] = t + 1
                attrs["NumberOfTemporalPositions"] = n_volumes
            attrs["AcquisitionNumber"] = t + 1 if "AcquisitionNumber" in labels else 1
            per_slice.append(attrs)
        itype = image_type if components is None else (*image_type[:2], components[w], "ND")
        truth = write_dicom_series(
            folder,
            (ni, nj, nk),
            series_uid=series_uid,
            series_number=series_number,
            modality=modality,
            image_type=itype,
            per_slice=per_slice,
            prefix=f"V{w:03d}_",
            seed=seed * 1000 + w,
            shuffle_names=False,
            **series_kw,
        )
        if bvals is not None:
            from pydicom import dcmread

            g = bvecs[t] if bvecs is not None else (0.0, 0.0, 0.0)
            for path in truth.files:
                ds = dcmread(path)
                _diffusion_elements(ds, vendor, float(bvals[t]), g, ge_bvalue_offset)
                ds.save_as(path, enforce_file_format=True)
        elif vendor != "standard":
            from pydicom import dcmread

            for path in truth.files:
                ds = dcmread(path)
                ds.Manufacturer = _VENDOR_DIFFUSION[vendor]["manufacturer"]
                if vendor == "GE" and components is not None:
                    # GE keeps ImageType and says the kind in (0043,102F)
                    ds.ImageType = list(image_type)
                    ds.add_new(0x00430010, "LO", "GEMS_PARM_01")
                    kind = {"M": 0, "P": 1, "R": 2, "I": 3}.get(components[w], 0)
                    ds.add_new(0x0043102F, "SS", kind)
                ds.save_as(path, enforce_file_format=True)
        truth0 = truth0 or truth
        volumes.append(truth.stored)
        files.extend(truth.files)
    assert truth0 is not None
    if shuffle_names:
        rng = np.random.default_rng(seed + 7)
        perm = rng.permutation(len(files))
        tmp = [f + ".tmp" for f in files]
        for src, dst in zip(files, tmp):
            os.replace(src, dst)
        new = [files[p] for p in perm]
        for src, dst in zip(tmp, new):
            os.replace(src, dst)
        files = new  # files[n] now holds what was written as the n-th file
    meta: dict[str, Any] = {"modality": modality, "series_number": series_number}
    if bvals is not None:
        meta["bvals"] = [float(b) for b in bvals]
        meta["bvecs"] = [list(map(float, g)) for g in (bvecs or [(0, 0, 0)] * n_volumes)]
    if components is not None:
        meta["components"] = list(components)
    if "AcquisitionTime" in labels:
        meta["acquisition_times"] = times.tolist()
    return DicomSeriesTruth(
        files=files,
        stored=np.stack(volumes, axis=-1),
        slopes=truth0.slopes,
        intercepts=truth0.intercepts,
        affine=truth0.affine,
        series_uid=str(series_uid),
        positions=truth0.positions,
        meta=meta,
    )
