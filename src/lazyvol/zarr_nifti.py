"""What makes a lazyvol store readable by neuro-imaging tools with its exact geometry.

- :func:`header_affine`, :func:`header_scaling`: reading the ``nifti`` array of the
  `NIfTI-Zarr <https://github.com/neuroscales/nifti-zarr>`_ specification (written by
  :func:`lazyvol.nifti_make.store_header_bytes`, so ``niizarr.zarr2nii(store)`` returns the exact
  affine, with shears and obliquity that OME-Zarr transforms cannot express): the affine (in its
  unit) and
  the value scaling (``scl_slope``/``scl_inter``) of such a header, whoever wrote it.
- :func:`anatomical_orientations`: the OME-Zarr RFC-4 ``orientation`` of each spatial axis
  (``{"type": "anatomical", "value": "left-to-right"}``, ...).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ._per_volume import FRAME_INTERVAL
from ._source_index import SOURCE_INDEX_KEY, axis4_reversed, axis4_source, source_stride
from .geometry import orientation_codes
from .nifti_carry import axis_zooms, same_transform
from .nifti_codes import xyzt_unit_names
from .nifti_fields import CARRIED_KEY
from .ome_units import SECONDS_PER_UNIT

__all__ = [
    "NIFTI_ARRAY",
    "RFC4",
    "SPACE_UNITS",
    "TIME_UNITS",
    "anatomical_orientations",
    "axis4_echoes",
    "axis4_first",
    "axis4_is_time",
    "axis4_origin",
    "axis4_step",
    "axis4_times",
    "header_affine",
    "header_pixdim_mm",
    "header_codes",
    "header_scaling",
    "header_time",
    "mm_per_unit",
    "nifti_time_unit",
    "ome_time_seconds",
    "repetition_time",
    "space_unit",
]

#: Name of the NIfTI-Zarr header array in a store's group.
NIFTI_ARRAY = "nifti"
#: Most bytes a ``nifti`` array may claim (a header is 348 or 540 bytes; its extensions, a few
#: kB to MB): a store claiming more is refused before anything is read or allocated.
NIFTI_ARRAY_MAX_BYTES = 16 << 20

#: RFC-4 value of an axis whose index increases towards the given RAS code.
RFC4 = {
    "R": "left-to-right",
    "L": "right-to-left",
    "A": "posterior-to-anterior",
    "P": "anterior-to-posterior",
    "S": "inferior-to-superior",
    "I": "superior-to-inferior",
}
#: Millimetres per NIfTI space unit (nibabel's ``get_xyzt_units`` names; unknown: millimetres).
_NIFTI_MM = {"meter": 1000.0, "mm": 1.0, "micron": 1e-3, "unknown": 1.0}
_NIFTI_TIME_CODES = {"second": "sec", "millisecond": "msec", "microsecond": "usec"}
_NIFTI_SECONDS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}
#: NIfTI time units (nibabel's names) a 4th axis' step may be in.
TIME_UNITS = frozenset(_NIFTI_TIME_CODES.values())
#: NIfTI space units (nibabel's names) a volume's affine may be in, and their OME-Zarr names.
SPACE_UNITS = {"mm": "millimeter", "micron": "micrometer", "meter": "meter"}


def axis4_step(meta: dict[str, Any], *, native: bool = False) -> tuple[float | None, str | None]:
    """``(step, NIfTI time unit)`` of a volume's 4th axis, as a written file or store states it:
    the source's own (a NIfTI's ``pixdim[4]`` in its ``xyzt_units``, a store's time scale), else a
    DICOM series' RepetitionTime in seconds, as dcm2niix writes it (FSL, AFNI and fMRIPrep read
    the TR there); ``(None, None)`` when unknown, or when the 4th axis holds echoes (their step is
    no TR). The unit is None when the source does not say it. An OME time axis in a unit NIfTI
    has no code for (minute, hour, day, ...: :func:`ome_time_seconds`) gives its step in seconds;
    ``native=True``: in that OME unit, as an OME-Zarr store states it. A volume cut with a step
    along its 4th axis (``vol[..., ::2]``: ``meta["source_index"]["t"]`` holds the source's
    indices) has that many source steps between its volumes (the interval, positive, also where
    the cut reverses the axis: :func:`axis4_origin`). When a cut dropped the source's 4th
    axis (:func:`lazyvol._source_index.axis4_source`: ``vol[:, :, :, 0]`` of a 5-axis volume), the
    axis now 4th has the step of the source axis it is (a NIfTI's ``pixdim[5]``, no unit: NIfTI's
    time unit is the 4th axis'), or none."""
    source = axis4_source(meta)
    if source != 3:
        index = meta[SOURCE_INDEX_KEY]
        return axis_zooms(meta, len(index["axes"]) + 3).get(3), None
    spacing = meta.get("axis4_spacing")
    if isinstance(spacing, int | float) and math.isfinite(spacing) and spacing > 0:
        step = float(spacing) * source_stride(meta)
        seconds = None if native else ome_time_seconds(meta)
        if seconds is not None:
            return step * seconds, "sec"
        units = meta.get("xyzt_units")
        unit = str(units[1]) if isinstance(units, list | tuple) and len(units) == 2 else None
        ome = meta.get("units")  # an OME store's axis units, in volume order
        if unit is None and isinstance(ome, list) and len(ome) > 3:
            unit = nifti_time_unit(ome[3])
        return step, unit
    tr = repetition_time(meta)
    return (tr * source_stride(meta), "sec") if tr is not None else (None, None)


def ome_time_seconds(meta: dict[str, Any]) -> float | None:
    """Seconds per unit of the 4th-axis step of a volume whose source is an OME-Zarr time axis in
    a unit NIfTI has no code for (minute: 60; NIfTI has sec, msec and usec, and hz, ppm and rads,
    which are not times): NIfTI files and headers state such a step and origin in seconds. None
    when a NIfTI unit states the step's unit (``meta["xyzt_units"]``), or the source is another."""
    units = meta.get("xyzt_units")
    if isinstance(units, list | tuple) and len(units) == 2 and units[1] != "unknown":
        return None
    ome, types = meta.get("units"), meta.get("axis_types")
    if meta.get("format") != "ome-zarr" or not isinstance(ome, list) or len(ome) < 4:
        return None
    if isinstance(types, list) and len(types) > 3 and types[3] != "time":
        return None
    return SECONDS_PER_UNIT.get(str(ome[3]).strip().lower())


def nifti_time_unit(ome_unit: Any) -> str | None:
    """The NIfTI time unit (nibabel's name: sec, msec, usec) of an OME time unit, None for any
    other."""
    return _NIFTI_TIME_CODES.get(str(ome_unit))


def mm_per_unit(unit: Any) -> float:
    """Millimetres per NIfTI space unit (nibabel's name; unknown or not a space unit: 1)."""
    return _NIFTI_MM.get(str(unit), 1.0)


def axis4_origin(meta: dict[str, Any], *, native: bool = False) -> float:
    """The 4th axis' value at a volume's first index as a written file or store states it, in the
    unit of its step (:func:`axis4_step`, ``native`` as there): :func:`axis4_first`, but 0 for
    a 4th axis whose values fall (:func:`lazyvol._source_index.axis4_reversed`): a written file
    or store states values rising by its positive step from this origin, so the first volume's
    would give every other volume a wrong one; the writers warn for a time axis."""
    return 0.0 if axis4_reversed(meta) else axis4_first(meta, native=native)


def axis4_first(meta: dict[str, Any], *, native: bool = False) -> float:
    """The 4th axis' value at a volume's first index, in the unit of its step (``native`` as
    :func:`axis4_step`): a NIfTI's ``toffset`` (the time of its first volume; an OME-Zarr source's
    time translation is read into the same field), moved by the source volumes a cut skipped
    (``vol[..., 5:]`` starts 5 steps later); 0 when the source states none, or when the 4th axis
    is not the source's (:func:`lazyvol._source_index.axis4_source`)."""
    if axis4_source(meta) != 3:
        return 0.0
    start = _toffset(meta)
    index = meta.get(SOURCE_INDEX_KEY)
    ts = index.get("t") if isinstance(index, dict) else None
    spacing = meta.get("axis4_spacing")
    if isinstance(ts, list) and ts and isinstance(spacing, int | float) and ts[0]:
        start += int(ts[0]) * float(spacing)
    seconds = None if native else ome_time_seconds(meta)
    return float(start) * (seconds or 1.0)


#: DICOM attributes whose values, varying along a 4th axis (``meta["axis4_values"]``), make it
#: an axis of echoes or diffusion weightings, not of acquisition times.
_NOT_TIME = frozenset({"EchoNumbers", "EchoTime", "DiffusionBValue"})


def axis4_is_time(meta: dict[str, Any]) -> bool:
    """True when a volume's 4th axis is its source's time axis: its step in a time unit
    (:func:`axis4_step`: not unknown, nor ``hz``, ``ppm``, ``rads``), and not a DICOM series'
    echoes or diffusion weightings (whose step written is the RepetitionTime)."""
    varying = meta.get("axis4_values")
    if isinstance(varying, dict) and _NOT_TIME & set(varying):
        return False
    return axis4_source(meta) == 3 and axis4_step(meta)[1] in TIME_UNITS


def axis4_times(meta: dict[str, Any], n: int) -> np.ndarray | None:
    """The time in seconds of each of the ``n`` indices of a volume's 4th axis: the source's
    first-volume time and step (a NIfTI's ``toffset`` and ``pixdim[4]`` in a time unit, an OME
    time axis' translation and scale in any OME time unit) at the source index of each
    (``meta["source_index"]["t"]``); None when the 4th axis is no time axis with a known step and
    time unit, or not the source's (:func:`lazyvol._source_index.axis4_source`)."""
    spacing = meta.get("axis4_spacing")
    units = meta.get("xyzt_units")
    unit = units[1] if isinstance(units, list | tuple) and len(units) == 2 else None
    seconds = _NIFTI_SECONDS.get(str(unit)) or ome_time_seconds(meta)
    if (
        axis4_source(meta) != 3
        or not isinstance(spacing, int | float)
        or not (math.isfinite(spacing) and spacing > 0)
        or seconds is None
    ):
        return None
    index = meta.get(SOURCE_INDEX_KEY)
    ts = index.get("t") if isinstance(index, dict) else None
    idx = np.asarray(ts if isinstance(ts, list) and len(ts) == n else range(n), dtype=np.float64)
    return (_toffset(meta) + idx * float(spacing)) * seconds


def _toffset(meta: dict[str, Any]) -> float:
    """The source's time of its first volume (a NIfTI's ``toffset``, an OME time translation), in
    the unit of its step; 0 when it states none."""
    fields = meta.get(CARRIED_KEY)
    start = fields.get("toffset") if isinstance(fields, dict) else None
    return float(start) if isinstance(start, int | float) and math.isfinite(start) else 0.0


def repetition_time(meta: dict[str, Any]) -> float | None:
    """A DICOM series' RepetitionTime in seconds, unless its 4th axis holds echoes: its sidecar's,
    or a PET series' interval its sidecar leaves out beside a FrameDuration
    (:data:`lazyvol._per_volume.FRAME_INTERVAL`), as dcm2niix writes pixdim[4]."""
    bids = meta.get("bids")
    if not isinstance(bids, dict) or axis4_echoes(meta):
        return None
    tr = bids.get("RepetitionTime", meta.get(FRAME_INTERVAL))
    return float(tr) if isinstance(tr, int | float) and math.isfinite(tr) and tr > 0 else None


def axis4_echoes(meta: dict[str, Any]) -> bool:
    """True when a DICOM series' 4th axis holds echoes (EchoTime or EchoNumbers vary along it)."""
    varying = meta.get("axis4_values")
    return isinstance(varying, dict) and bool({"EchoTime", "EchoNumbers"} & set(varying))


def space_unit(meta: dict[str, Any]) -> str:
    """The NIfTI space unit of a volume's affine: its source's ``xyzt_units`` when they name one
    of :data:`SPACE_UNITS` (a NIfTI file in microns keeps its affine in microns, as nibabel gives
    it), else ``"mm"``. Writers label what they write with it, so 0.5 um voxels stay 0.5 um."""
    units = meta.get("xyzt_units")
    if isinstance(units, list | tuple) and len(units) == 2 and units[0] in SPACE_UNITS:
        return str(units[0])
    return "mm"


def anatomical_orientations(affine: np.ndarray) -> list[dict[str, str] | None]:
    """RFC-4 orientation of voxel axes i, j, k: the direction each index increases towards.

    The nearest anatomical direction of each affine column (nibabel's ``aff2axcodes``, as
    :func:`lazyvol.geometry.orientation_codes` computes it: voxel sizes past float64's square
    root, 1e300 mm, are directions too); None for an axis with no direction (a degenerate affine).
    """
    try:
        codes = orientation_codes(np.asarray(affine, dtype=np.float64))
    except (ValueError, np.linalg.LinAlgError):
        return [None, None, None]
    return [{"type": "anatomical", "value": RFC4[c]} if c in RFC4 else None for c in codes]


def _parsed_header(raw: bytes) -> Any:
    """nibabel's header of a binary NIfTI-1 or NIfTI-2 header (either byte order); ValueError when
    ``raw`` is none."""
    import io

    import nibabel as nib

    sizes = {int.from_bytes(raw[:4], "little"), int.from_bytes(raw[:4], "big")}
    if 348 in sizes:
        cls: Any = nib.Nifti1Header
    elif 540 in sizes:
        cls = nib.Nifti2Header
    else:
        raise ValueError(f"sizeof_hdr is not 348 (NIfTI-1) or 540 (NIfTI-2) ({len(raw)} bytes)")
    try:
        return cls.from_fileobj(io.BytesIO(raw), check=False)
    except Exception as exc:  # nibabel's many error types (a short block: WrapStructError)
        raise ValueError(f"unreadable NIfTI header ({exc})") from exc


def header_pixdim_mm(raw: bytes, unit: str) -> np.ndarray:
    """The voxel sizes a binary NIfTI header's ``pixdim[1:4]`` states, in mm (``unit``: its space
    unit, as :func:`header_affine` gives it): what NIfTI-Zarr writes as the OME scale of level 0
    (niizarr), whatever its sform's column lengths (a sform may scale). ValueError when ``raw``
    is not a NIfTI header."""
    hdr = _parsed_header(raw)
    pixdim = np.abs(np.asarray(hdr["pixdim"][1:4], dtype=np.float64))
    return np.asarray(pixdim * mm_per_unit(unit), dtype=np.float64)


def header_scaling(raw: bytes) -> tuple[float, float]:
    """``(scl_slope, scl_inter)`` as stored in a binary NIfTI header (a NIfTI-Zarr ``nifti``
    array): the scaling of the store's values (:func:`lazyvol.scaling.nifti_scaling` says what
    applies). ValueError when ``raw`` is not a NIfTI header."""
    hdr = _parsed_header(raw)
    return float(hdr["scl_slope"]), float(hdr["scl_inter"])


def header_time(raw: bytes) -> tuple[float | None, str, float]:
    """``(step, NIfTI time unit, toffset)`` of the 4th axis of a binary NIfTI header (a NIfTI-Zarr
    ``nifti`` array): its ``pixdim[4]`` (None when the header has no 4th axis or no positive
    step), its ``xyzt_units`` time unit (``"unknown"`` when it states none) and its ``toffset``.
    ValueError when ``raw`` is not a NIfTI header."""
    hdr = _parsed_header(raw)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            unit = xyzt_unit_names(int(hdr["xyzt_units"]))[1]
            zooms = hdr.get_zooms()
            toffset = float(hdr["toffset"])
    except Exception as exc:  # nibabel's many error types (a short block: WrapStructError)
        raise ValueError(f"unreadable NIfTI header ({exc})") from exc
    step = float(zooms[3]) if len(zooms) > 3 and math.isfinite(zooms[3]) and zooms[3] > 0 else None
    return step, unit, toffset if math.isfinite(toffset) else 0.0


def header_codes(raw: bytes) -> tuple[int, int, bool]:
    """``(sform_code, qform_code, qform differs)`` of a binary NIfTI header (a NIfTI-Zarr ``nifti``
    array): its codes, and whether its qform (both codes set) holds another transform than its
    sform, the affine's (:func:`lazyvol.nifti_carry.same_transform`, the NIfTI reader's test; a
    qform nibabel refuses differs). ValueError when ``raw`` is not a NIfTI header."""
    hdr = _parsed_header(raw)
    s_code, q_code = int(hdr["sform_code"]), int(hdr["qform_code"])
    if s_code <= 0 or q_code <= 0:
        return s_code, q_code, False
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            shape = tuple(int(n) for n in hdr.get_data_shape())
            same = same_transform(hdr.get_sform(), hdr.get_qform(), shape)
    except Exception:  # nibabel's many error types (a qform it refuses: qfac, pixdim)
        same = False
    return s_code, q_code, not same


def header_affine(raw: bytes) -> tuple[np.ndarray, str, tuple[int, ...], str]:
    """``(affine, "sform", "qform" or "base", shape, space unit)`` of a binary NIfTI-1 or NIfTI-2
    header (a NIfTI-Zarr ``nifti`` array, either byte order): the sform when its code is set, else
    the qform, else the voxel sizes' affine (nibabel's precedence), in the header's own space unit
    as nibabel gives it (its ``xyzt_units`` name: ``"mm"``, ``"micron"``, ``"meter"``; ``"mm"``
    when it states none).

    Raises
    ------
    ValueError
        Not a NIfTI header, or an unusable affine.
    """
    hdr = _parsed_header(raw)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if int(hdr["sform_code"]) > 0:
                source, affine = "sform", hdr.get_sform()
            elif int(hdr["qform_code"]) > 0:
                source, affine = "qform", hdr.get_qform()
            else:  # no orientation stated: the voxel sizes' affine, as nibabel reads it
                source, affine = "base", hdr.get_base_affine()
            unit = xyzt_unit_names(int(hdr["xyzt_units"]))[0]
        shape = tuple(int(n) for n in hdr.get_data_shape())
    except Exception as exc:  # nibabel's many error types (a short block: WrapStructError)
        raise ValueError(f"unreadable NIfTI header ({exc})") from exc
    out = np.asarray(affine, dtype=np.float64).copy()
    if not np.all(np.isfinite(out)) or abs(np.linalg.det(out[:3, :3])) == 0:
        raise ValueError(f"its {source} is not a finite, invertible affine")
    return out, source, shape, unit if unit in SPACE_UNITS else "mm"
