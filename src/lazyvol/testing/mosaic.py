"""Synthetic Siemens mosaic series with known truth (written with pydicom).

:func:`write_mosaic_series` writes one MOSAIC image file per volume (time point or diffusion
direction), the slices laid out as tiles of a ``ceil(sqrt(n))`` grid, with the Siemens private
elements readers use: the CSA image header (0029,1010) with NumberOfImagesInMosaic,
SliceNormalVector, MosaicRefAcqTimes, B_value, DiffusionGradientDirection,
PhaseEncodingDirectionPositive and BandwidthPerPixelPhaseEncode, and (0019,100A)
NumberOfImagesInMosaic. ImagePositionPatient is written as Siemens does: the position of the
mosaic's top-left corner (not of the first tile). Both slice numberings: F>>H (tile 0 is the
lowest slice along the normal of ImageOrientationPatient) and H>>F (tile 0 is the highest; the CSA
SliceNormalVector points the other way).

The CSA header is the Siemens "CSA2" (``SV10``) binary layout; nibabel has a reader
(:mod:`nibabel.nicom.csareader`) but no writer, so :func:`csa2_bytes` builds it here (test data
only; lazyvol itself parses CSA with nibabel).
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .dicom import _ds_str, dicom_time, orientation_cosines
from .dicom_base import _check_choice, _check_shape

__all__ = ["MosaicSeriesTruth", "csa2_bytes", "write_mosaic_series", "write_uih_grid_series"]


def csa2_bytes(tags: dict[str, tuple[str, Sequence[Any]]]) -> bytes:
    """A Siemens CSA2 (``SV10``) header holding ``{name: (vr, values)}``.

    Each value is written as its text (numbers with ``repr``-exact precision), NUL terminated and
    padded to 4 bytes, as the scanner writes them.
    """
    out = [b"SV10", b"\x04\x03\x02\x01", struct.pack("<2I", len(tags), 77)]
    for name, (vr, values) in tags.items():
        vals = list(values)
        # As the scanner: a fixed multiplicity (vm) is followed by empty items up to six; a
        # variable-length array (MosaicRefAcqTimes) has vm 0 and one item per value.
        vm = 0 if len(vals) > 6 else len(vals)
        n_items = max(6, len(vals))
        out.append(
            struct.pack(
                "<64si4s3i",
                name.encode("ascii"),
                vm,
                vr.encode("ascii"),
                0,
                n_items,
                77,
            )
        )
        for v in vals:
            text = (f"{v:.8f}" if isinstance(v, float) else str(v)).encode("ascii") + b"\x00"
            n = len(text)
            out.append(struct.pack("<4i", n, n, 77, n))
            out.append(text + b"\x00" * ((4 - n % 4) % 4))
        for _ in range(n_items - len(vals)):
            out.append(struct.pack("<4i", 0, 0, 77, 0))
    return b"".join(out)


@dataclass
class MosaicSeriesTruth:
    """What a generated mosaic series holds.

    Attributes
    ----------
    files : list of str
        One file per volume, in volume order.
    stored : numpy.ndarray
        Stored values, axes (i, j, k[, t]) = (column, row, slice[, volume]), slices in ascending
        order along the normal of ImageOrientationPatient (as lazyvol and nibabel order them).
    affine : (4, 4) ndarray
        Voxel (i, j, k) to RAS+ millimetres.
    series_uid : str
    bvals : list of float or None
    gradients_lps : list of [x, y, z] or None
        Per volume, as written in the CSA header (LPS, unit or zero vectors).
    slice_times_ms : list of float
        MosaicRefAcqTimes of each *tile* (acquisition time of tile t, t = 0, 1, ...).
    """

    files: list[str]
    stored: np.ndarray
    affine: np.ndarray
    series_uid: str
    bvals: list[float] | None = None
    gradients_lps: list[list[float]] | None = None
    slice_times_ms: list[float] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def write_mosaic_series(
    folder: str | os.PathLike[str],
    shape: Sequence[int] = (16, 12, 7),
    *,
    volumes: int = 1,
    orientation: str | Sequence[float] = "axial",
    spacing: Sequence[float] = (2.0, 2.5, 3.5),
    origin: Sequence[float] = (-20.0, -18.0, -10.0),
    head_first: bool = False,
    bvals: Sequence[float] | None = None,
    gradients_lps: Sequence[Sequence[float]] | None = None,
    syntax: str = "explicit",
    phase: str = "COL",
    phase_positive: int = 1,
    bandwidth_pe: float = 30.0,
    repetition_ms: float = 2000.0,
    echo_ms: float = 30.0,
    n_in_csa: bool = True,
    n_in_private: bool = True,
    n_override: int | None = None,
    csa_override: bytes | None = None,
    drop_csa_tags: Sequence[str] = (),
    series_number: int = 7,
    description: str = "lazyvol mosaic",
    prefix: str = "MOS",
    seed: int = 0,
    compress: str | None = None,
) -> MosaicSeriesTruth:
    """Write a Siemens mosaic series, one MOSAIC file per volume, of known values and geometry.

    Parameters
    ----------
    folder : path
        Created if needed; files ``{prefix}{t:04d}.dcm``.
    shape : (ni, nj, nk)
        Tile columns, tile rows and slices (NumberOfImagesInMosaic).
    volumes : int
        Number of files (time points / diffusion directions); AcquisitionNumber = t + 1.
    orientation, spacing, origin : str or six floats, (di, dj, dk), three floats
        As :func:`lazyvol.testing.write_dicom_series` (slice spacing: SpacingBetweenSlices);
        origin: LPS position of the first voxel of the lowest slice (k = 0).
    head_first : bool
        H>>F numbering: tile 0 is the highest slice, SliceNormalVector is minus the normal.
    bvals, gradients_lps : one per volume, optional
        Diffusion b-values and directions (CSA B_value / DiffusionGradientDirection; zero
        vectors are omitted as the scanner omits them for b = 0).
    syntax : {"explicit", "implicit"}
    phase, phase_positive, bandwidth_pe, repetition_ms, echo_ms
        InPlanePhaseEncodingDirection, CSA PhaseEncodingDirectionPositive,
        BandwidthPerPixelPhaseEncode, RepetitionTime, EchoTime.
    n_in_csa, n_in_private, n_override, csa_override, drop_csa_tags
        Bad-input makers: leave NumberOfImagesInMosaic out of the CSA header / out of (0019,100A),
        write ``n_override`` as its value, write these bytes as the CSA header, or leave named CSA
        elements out.
    compress : str, optional
        Lossless transfer syntax UID to compress each file with (pydicom's encoders).
    """
    from pydicom.uid import generate_uid

    folder = os.fspath(folder)
    ni, nj, nk = _check_shape(shape)
    _check_choice("syntax", syntax, ("explicit", "implicit"))
    os.makedirs(folder, exist_ok=True)
    nt = int(volumes)
    grid = math.ceil(math.sqrt(nk))
    stored = _stored_values((ni, nj, nk, nt), seed)
    row, col = orientation_cosines(orientation)
    affine, corner, csa_normal, k_of_tile = _mosaic_geometry(
        row, col, spacing, origin, (ni, nj, nk), grid, head_first
    )
    times = _slice_times(nk, repetition_ms)
    series_uid = str(generate_uid(entropy_srcs=[f"lazyvol-mosaic-{seed}-{series_number}"]))
    spec = _MosaicSpec(
        (folder, prefix, syntax, compress or ""),
        (series_uid, seed, series_number, description),
        (phase, repetition_ms, echo_ms, n_in_private),
        (row, col, tuple(float(s) for s in spacing), corner),
    )
    count = (nk if n_override is None else int(n_override), n_in_csa)
    bad, pe = (tuple(drop_csa_tags), csa_override), (phase_positive, bandwidth_pe)
    csa = _CsaSpec(count, csa_normal, times, pe, bad, (nj, ni))
    diffusion: list[tuple[float, list[float]] | None] = [None] * nt
    if bvals is not None:
        grads = gradients_lps or [(0.0, 0.0, 0.0)] * nt
        diffusion = [(float(bvals[t]), [float(x) for x in grads[t]]) for t in range(nt)]
    files = [
        _write_mosaic_file(spec, csa, t, _mosaic_image(stored[..., t], grid, k_of_tile), d)
        for t, d in enumerate(diffusion)
    ]
    return MosaicSeriesTruth(
        files=files,
        stored=stored if nt > 1 else stored[..., 0],
        affine=affine,
        series_uid=series_uid,
        bvals=None if bvals is None else [float(b) for b in bvals],
        gradients_lps=None if bvals is None else [d[1] for d in diffusion if d is not None],
        slice_times_ms=times,
        meta={"grid": grid, "mosaic_shape": (grid * nj, grid * ni), "k_of_tile": k_of_tile},
    )


@dataclass(frozen=True)
class _MosaicSpec:
    """What every file of a mosaic series shares."""

    #: (folder, file prefix, syntax name, compression transfer syntax or "")
    output: tuple[str, str, str, str]
    #: (SeriesInstanceUID, seed, SeriesNumber, SeriesDescription)
    series: tuple[str, int, int, str]
    #: (InPlanePhaseEncodingDirection, RepetitionTime ms, EchoTime ms, (0019,100A) written)
    acquisition: tuple[str, float, float, bool]
    #: (row cosines, column cosines, spacing (di, dj, dk), ImagePositionPatient of the corner)
    geometry: tuple[np.ndarray, np.ndarray, tuple[float, ...], np.ndarray]


@dataclass(frozen=True)
class _CsaSpec:
    """What goes into each file's CSA image header (and (0019,100A))."""

    #: (NumberOfImagesInMosaic written, written in the CSA header)
    count: tuple[int, bool]
    normal: np.ndarray
    times: list[float]
    #: (PhaseEncodingDirectionPositive, BandwidthPerPixelPhaseEncode)
    phase: tuple[int, float]
    #: (CSA elements left out, bytes written instead of the header)
    bad: tuple[tuple[str, ...], bytes | None]
    tile: tuple[int, int]


def _stored_values(shape: tuple[int, int, int, int], seed: int) -> np.ndarray:
    """Random 12-bit values (i, j, k, t) with both extremes present."""
    rng = np.random.default_rng(seed)
    stored = rng.integers(0, 4096, size=shape, dtype=np.uint16)
    stored[0, 0] = 0
    stored[-1, -1] = 4095
    return stored


def _slice_times(nk: int, repetition_ms: float) -> list[float]:
    """Interleaved acquisition times of the slices (ms): 0, 2, 4, ..., then 1, 3, ..."""
    slot_ms = repetition_ms / max(1, nk)
    times = [0.0] * nk
    for n, t in enumerate([*range(0, nk, 2), *range(1, nk, 2)]):
        times[t] = round(n * slot_ms, 4)
    return times


def _mosaic_image(volume: np.ndarray, grid: int, k_of_tile: list[int]) -> np.ndarray:
    """The (rows, columns) mosaic image of one (i, j, k) volume."""
    ni, nj, nk = volume.shape
    mosaic = np.zeros((grid * nj, grid * ni), dtype=np.uint16)
    for tile in range(nk):
        r0, c0 = (tile // grid) * nj, (tile % grid) * ni
        mosaic[r0 : r0 + nj, c0 : c0 + ni] = volume[:, :, k_of_tile[tile]].T
    return mosaic


def _mosaic_geometry(
    row: np.ndarray,
    col: np.ndarray,
    spacing: Sequence[float],
    origin: Sequence[float],
    shape: tuple[int, int, int],
    grid: int,
    head_first: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """RAS affine, the mosaic's ImagePositionPatient (its corner), the CSA SliceNormalVector and
    the slice held by each tile."""
    ni, nj, nk = shape
    mrows, mcols = grid * nj, grid * ni
    normal = np.cross(row, col)
    di, dj, dk = (float(s) for s in spacing)
    pos = np.asarray(origin, dtype=np.float64)[None, :] + np.arange(nk)[:, None] * dk * normal
    affine_lps = np.eye(4)
    affine_lps[:3, 0] = row * di
    affine_lps[:3, 1] = col * dj
    affine_lps[:3, 2] = normal * dk
    affine_lps[:3, 3] = pos[0]
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine_lps
    # tile t holds slice k(t)
    k_of_tile = [nk - 1 - t for t in range(nk)] if head_first else list(range(nk))
    csa_normal = -normal if head_first else normal
    first_tile = pos[k_of_tile[0]]
    corner = first_tile - row * di * (mcols - ni) / 2.0 - col * dj * (mrows - nj) / 2.0
    return affine, corner, csa_normal, k_of_tile


def _csa(c: _CsaSpec, diffusion: tuple[float, list[float]] | None) -> bytes:
    """The CSA image header (0029,1010) of one file."""
    drop, override = c.bad
    if override is not None:
        return override
    nj, ni = c.tile
    n_value, n_in_csa = c.count
    phase_positive, bandwidth_pe = c.phase
    tags: dict[str, tuple[str, Sequence[Any]]] = {}
    if n_in_csa:
        tags["NumberOfImagesInMosaic"] = ("US", [n_value])
    tags["AcquisitionMatrixText"] = ("SH", [f"{nj}p*{ni}"])
    tags["SliceNormalVector"] = ("FD", [float(v) for v in c.normal])
    tags["MosaicRefAcqTimes"] = ("FD", [float(x) for x in c.times])
    tags["PhaseEncodingDirectionPositive"] = ("IS", [int(phase_positive)])
    tags["BandwidthPerPixelPhaseEncode"] = ("FD", [float(bandwidth_pe)])
    if diffusion is not None:
        b, g = diffusion
        tags["B_value"] = ("IS", [round(b)])
        if any(g):
            tags["DiffusionGradientDirection"] = ("FD", g)
    for name in drop:
        tags.pop(name, None)
    return csa2_bytes(tags)


def _write_mosaic_file(
    spec: _MosaicSpec,
    csa: _CsaSpec,
    t: int,
    mosaic: np.ndarray,
    diffusion: tuple[float, list[float]] | None,
) -> str:
    """Write volume ``t`` (``mosaic``: its (rows, columns) mosaic image) as one MOSAIC file."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, generate_uid

    folder, prefix, syntax, compress = spec.output
    series_uid, seed, series_number, description = spec.series
    phase, repetition_ms, echo_ms, n_in_private = spec.acquisition
    row, col, (di, dj, dk), corner = spec.geometry
    tsyntax = {"explicit": "1.2.840.10008.1.2.1", "implicit": "1.2.840.10008.1.2"}[syntax]
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.4")
    sop_uid = generate_uid(entropy_srcs=[series_uid, str(t), prefix])
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = UID(tsyntax)
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[f"lazyvol-study-{seed}"])
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[f"lazyvol-for-{seed}"])
    ds.Modality = "MR"
    ds.Manufacturer = "SIEMENS"
    ds.ManufacturerModelName = "Lazyvol"
    ds.MagneticFieldStrength = "3"
    ds.SeriesNumber = series_number
    ds.SeriesDescription = description
    ds.ProtocolName = description
    ds.PatientName = "Lazyvol^Mosaic"
    ds.PatientID = "LV0002"
    ds.PatientPosition = "HFS"
    ds.InstanceNumber = t + 1
    ds.AcquisitionNumber = t + 1
    secs = 36000.0 + t * repetition_ms / 1000.0
    ds.AcquisitionTime = dicom_time(secs)
    kind = "DIFFUSION" if diffusion is not None else "M"
    ds.ImageType = ["ORIGINAL", "PRIMARY", kind, "ND", "MOSAIC"]
    ds.ImagePositionPatient = [_ds_str(v) for v in corner]
    ds.ImageOrientationPatient = [_ds_str(v) for v in (*row, *col)]
    ds.PixelSpacing = [_ds_str(dj), _ds_str(di)]
    ds.SliceThickness = _ds_str(dk)
    ds.SpacingBetweenSlices = _ds_str(dk)
    ds.RepetitionTime = _ds_str(repetition_ms)
    ds.EchoTime = _ds_str(echo_ms)
    ds.FlipAngle = "90"
    ds.InPlanePhaseEncodingDirection = phase
    ds.Rows, ds.Columns = mosaic.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.add_new(0x00190010, "LO", "SIEMENS MR HEADER")
    if n_in_private:
        ds.add_new(0x0019100A, "US", csa.count[0])
    ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
    ds.add_new(0x00291010, "OB", _csa(csa, diffusion))
    ds.PixelData = mosaic.astype("<u2").tobytes()
    ds["PixelData"].VR = "OW"
    path = os.path.join(folder, f"{prefix}{t:04d}.dcm")
    if compress:
        ds.compress(compress, encoding_plugin="", generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_uih_grid_series(
    folder: str | os.PathLike[str],
    shape: Sequence[int] = (16, 12, 7),
    *,
    volumes: int = 1,
    orientation: str | Sequence[float] = "axial",
    spacing: Sequence[float] = (2.0, 2.5, 3.5),
    origin: Sequence[float] = (-20.0, -18.0, -10.0),
    head_first: bool = False,
    syntax: str = "explicit",
    vframe: bool = True,
    count: int | str | None = "n",
    positions: bool = True,
    ipp: str = "first",
    seed: int = 0,
    series_number: int = 9,
    prefix: str = "GRID",
) -> MosaicSeriesTruth:
    """Write a UIH GRID series (one file per volume), of known values and geometry.

    As dcm2niix's UIH/README.md describes the format: ImageType (0008,0008) ends with VFRAME;
    MR Number Of Slice In Volume (0065,1050) gives the slice count ``n``; the tiles are laid out
    row by row, ``ceil(sqrt(n))`` tile columns and ``ceil(n / columns)`` tile rows; MR VFrame
    Sequence (0065,1051) holds one item per tile with its ImagePositionPatient and
    AcquisitionTime; the file's ImagePositionPatient is the first tile's.

    Parameters
    ----------
    folder, shape, volumes, orientation, spacing, origin, head_first, syntax, seed
        As :func:`write_mosaic_series` (``head_first``: tile 0 is the highest slice).
    vframe : bool
        Write VFRAME in ImageType.
    count : int, None or "n"
        The (0065,1050) value: the slice count ("n"), another number, or None to leave it out.
    positions : bool
        Write the (0065,1051) sequence.
    ipp : {"first", "corner"}
        The file's ImagePositionPatient: the first tile's (as UIH) or the image's corner (as a
        Siemens mosaic: a bad input for a GRID).
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    ni, nj, nk = (int(n) for n in shape)
    truth = write_mosaic_series(
        folder, shape, volumes=volumes, orientation=orientation, spacing=spacing,
        origin=origin, head_first=head_first, syntax=syntax, series_number=series_number,
        description="lazyvol uih grid", prefix=prefix, seed=seed,
    )  # fmt: skip
    columns = math.ceil(math.sqrt(nk))
    rows = math.ceil(nk / columns)
    k_of_tile = truth.meta["k_of_tile"]
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ truth.affine
    tile_pos = [lps @ np.array([0.0, 0.0, k_of_tile[t], 1.0]) for t in range(nk)]
    stored = truth.stored if truth.stored.ndim == 4 else truth.stored[..., None]
    for v, path in enumerate(truth.files):
        ds = _read(path)
        for tag in [t for t in ds.keys() if t.group in (0x0019, 0x0029)]:
            del ds[tag]
        ds.Manufacturer = "UIH"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", *(["VFRAME"] if vframe else [])]
        if ipp == "first":
            ds.ImagePositionPatient = [_ds_str(x) for x in tile_pos[0][:3]]
        image = np.zeros((rows * nj, columns * ni), dtype=np.uint16)
        for t in range(nk):
            r0, c0 = (t // columns) * nj, (t % columns) * ni
            image[r0 : r0 + nj, c0 : c0 + ni] = stored[:, :, k_of_tile[t], v].T
        ds.Rows, ds.Columns = image.shape
        ds.PixelData = image.astype("<u2").tobytes()
        ds.add_new(0x00650010, "LO", "Image Private Header")
        if count is not None:
            ds.add_new(0x00651050, "DS", str(nk if count == "n" else count))
        if positions:
            items = []
            for t in range(nk):
                item = Dataset()
                item.ImagePositionPatient = [_ds_str(x) for x in tile_pos[t][:3]]
                secs = 36000.0 + v * 2.0 + truth.slice_times_ms[t] / 1000.0
                item.AcquisitionTime = dicom_time(secs)
                items.append(item)
            ds.add_new(0x00651051, "SQ", DicomSequence(items))
        ds.save_as(path, enforce_file_format=True)
    truth.meta.update(grid=(rows, columns), mosaic_shape=(rows * nj, columns * ni))
    return truth


def _read(path: str) -> Any:
    from pydicom import dcmread

    return dcmread(path)
