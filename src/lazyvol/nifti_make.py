"""The NIfTI header lazyvol writes for a volume: one rule for ``to_nifti``'s file
(:mod:`lazyvol.nifti_write`) and a Zarr store's NIfTI-Zarr ``nifti`` array (:mod:`lazyvol.zarr_write`).

- NIfTI-2 for a NIfTI-2 source, and when a dimension does not fit NIfTI-1's int16 or the affine
  does not fit its 32-bit floats (:func:`needs_nifti2`).
- Units: the affine's space unit (:func:`lazyvol.zarr_nifti.space_unit`) and the 4th axis' own unit
  (a NIfTI source's ``sec``/``msec``/``usec``/``hz``/``ppm``/``rads``; an OME store's time unit,
  seconds for one NIfTI has no code for: minutes, hours, ... converted;
  seconds for a DICOM series' TR and where nothing says), with its step in ``pixdim[4]``; the
  steps of a source's axes past the 4th in ``pixdim[5:]``, following them as the volume was cut
  (:func:`lazyvol.nifti_carry.axis_zooms`).
- The affine as sform and qform, codes by :func:`lazyvol.nifti_carry.xform_codes`: each the code
  of the transform the affine came from, 0 for a qform that held another transform or cannot
  hold the affine (a sheared one), 0 and 0 for an affine the header's voxel sizes give.
- The description (``meta["descrip"]``, as the source's bytes where it is theirs) and the carried
  fields of a NIfTI source (:func:`lazyvol.nifti_carry.carry_fields`; ``toffset``: the
  4th axis' origin, :func:`lazyvol.zarr_nifti.axis4_origin`) or, for a DICOM series, ``dim_info``
  and the slice timing from its BIDS values.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._source_index import axis4_source
from .errors import OptionError, WriteError
from .geometry import affine_problem, axis_map
from .nifti_carry import axis_zooms, carry_fields, set_acquisition_fields, set_text, xform_codes
from .nifti_fields import CARRIED_KEY, base_affine, non_finite
from .nifti_text import held_text
from .scaling import numbers_hint
from .sidecar import sidecar
from .zarr_nifti import TIME_UNITS, axis4_echoes, axis4_origin, axis4_step, space_unit

__all__ = [
    "AXIS4_UNITS",
    "axis4_unit",
    "needs_nifti2",
    "overflowed",
    "store_header_bytes",
    "written_header",
]

NIFTI1_MAX_DIM = 32767
#: NIfTI units (nibabel's names) a written file's 4th axis may state: times, and the frequency,
#: chemical shift and angular frequency units of spectroscopy and frequency axes.
AXIS4_UNITS = TIME_UNITS | {"hz", "ppm", "rads"}


def axis4_unit(meta: dict[str, Any]) -> str:
    """The NIfTI unit of a volume's 4th axis as written: the source's own (a NIfTI's
    ``xyzt_units``, one of :data:`AXIS4_UNITS`), else the unit of a known step (an OME store's time
    unit, a DICOM series' TR in seconds), else ``"unknown"``: a unit the source does not state
    (a NIfTI's "unknown", a step it does not know) is not invented, as nibabel's round trip keeps
    it. A DICOM series states its times in seconds whether or not a step is known (a 3D volume, a
    PET series of no frame interval: ``pixdim[4]`` 0 in seconds, as dcm2niix writes them), unless
    its 4th axis holds echoes. ``"unknown"`` too for a 4th axis that is no time axis: not the
    source's 4th (:func:`lazyvol._source_index.axis4_source`: ``vol[:, :, :, 0]`` of a 5-axis
    volume), or an OME axis of another type (a channel axis)."""
    if not _timed(meta):
        return "unknown"
    units = meta.get("xyzt_units")
    if isinstance(units, list | tuple) and len(units) == 2 and units[1] in AXIS4_UNITS:
        return str(units[1])
    step, unit = axis4_step(meta)
    if step is not None and unit in TIME_UNITS:
        return str(unit)
    return "sec" if _dicom_times(meta) else "unknown"


def _dicom_times(meta: dict[str, Any]) -> bool:
    """True for a DICOM series (its sidecar values, ``meta["bids"]``) whose 4th axis, if any,
    does not hold echoes (:func:`lazyvol.zarr_nifti.repetition_time`'s rule)."""
    return isinstance(meta.get("bids"), dict) and not axis4_echoes(meta)


def _timed(meta: dict[str, Any]) -> bool:
    """False when a volume's 4th axis is known to be no time axis (see :func:`axis4_unit`)."""
    types = meta.get("axis_types")
    if meta.get("format") == "ome-zarr" and isinstance(types, list) and len(types) > 3:
        if types[3] and types[3] != "time":
            return False
    return axis4_source(meta) == 3


def needs_nifti2(
    shape: Sequence[int], affine: np.ndarray, meta: dict[str, Any] | None = None
) -> bool:
    """True for a NIfTI-2 source (``meta["format"]``, also through a lazyvol store: its 64-bit
    affine, ``pixdim`` and ``toffset`` are kept, as ``nib.save`` keeps NIfTI-2), and when NIfTI-1
    cannot hold the volume: an axis past 32767 voxels, or an affine whose float32 form (srow,
    pixdim, quaternion) is non-finite or singular (a 1e300 mm voxel would be written as inf, a
    file no reader can place); NIfTI-2 stores them in 64-bit floats."""
    if meta is not None and meta.get("format") == "nifti2":
        return True
    aff = np.asarray(affine, dtype=np.float64)
    sizes = np.linalg.norm(aff[:3, :3], axis=0)  # pixdim
    with np.errstate(over="ignore"):
        narrow = affine_problem(aff.astype(np.float32)) is not None
    fits = bool(np.all(sizes <= np.finfo(np.float32).max))
    return narrow or not fits or max(int(n) for n in shape) > NIFTI1_MAX_DIM


def written_header(
    shape: Sequence[int], dtype: np.dtype, affine: np.ndarray, meta: dict[str, Any]
) -> Any:
    """nibabel header (NIfTI-1 or NIfTI-2) of a volume of ``shape`` (volume order), ``dtype``,
    ``affine`` and ``meta`` as lazyvol writes it (see the module docstring), with the source's
    description (``meta["descrip"]``); no scaling set (the caller's). Errors of nibabel for a field
    it refuses escape.

    Raises
    ------
    WriteError
        ``dtype`` has no NIfTI code.
    """
    import nibabel as nib

    shape = tuple(int(n) for n in shape)
    hdr = nib.Nifti2Header() if needs_nifti2(shape, affine, meta) else nib.Nifti1Header()
    hdr.set_data_shape(shape)
    try:
        hdr.set_data_dtype(dtype)
    except Exception as exc:
        raise WriteError(
            f"dtype {dtype} cannot be stored in NIfTI; {numbers_hint(np.dtype(dtype))}"
        ) from exc
    hdr.set_xyzt_units(space_unit(meta), axis4_unit(meta))
    hdr.set_sform(affine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a sheared affine: its qform (code 0) drops the shear
        hdr.set_qform(affine, strip_shears=True)  # the voxel sizes in pixdim too
    base = base_affine(hdr["dim"], hdr["pixdim"])  # what readers give with both codes 0
    hdr["sform_code"], hdr["qform_code"] = xform_codes(meta, affine, shape, base)
    if len(shape) > 3:
        zooms = list(hdr.get_zooms())
        spacing, _ = axis4_step(meta)
        if spacing is not None:
            zooms[3] = spacing
        elif _timed(meta):  # a time step the source does not know (pixdim[4] 0 or less): 0, not
            zooms[3] = 0.0  # nibabel's default 1, no invented TR for FSL, AFNI or fMRIPrep
        for axis, step in axis_zooms(meta, len(shape)).items():
            zooms[axis] = step
        # As nibabel writes a header it read: a carried step as the source states it, its sign
        # too (set_zooms refuses a negative one; the spatial ones come from the affine).
        hdr["pixdim"][1 : len(zooms) + 1] = zooms
    carry_fields(hdr, meta, affine, shape)
    descrip = meta.get("descrip")
    descrip = descrip if isinstance(descrip, str) else ""
    if descrip or held_text(meta.get(CARRIED_KEY), "descrip"):
        set_text(hdr, "descrip", descrip, meta)
    if len(shape) > 3:  # the time of the first volume (a cut moves it, also from toffset 0)
        hdr["toffset"] = axis4_origin(meta)
        odd = non_finite(meta.get(CARRIED_KEY), "toffset")
        if odd is not None and axis4_source(meta) == 3:  # (NaN or inf: a cut keeps it so)
            hdr["toffset"] = odd
    if isinstance(meta.get("bids"), dict) and CARRIED_KEY not in meta:  # a DICOM series
        doc = sidecar(meta, affine, shape)
        phase = doc.get("PhaseEncodingDirection") or doc.get("PhaseEncodingAxis")
        m = axis_map(meta.get("bids_affine"), affine)  # where the stacking axis k went
        slice_axis = None if m is None else int(np.flatnonzero(m[2, :3])[0])
        set_acquisition_fields(hdr, doc.get("SliceTiming"), phase, slice_axis)
    return hdr


def overflowed(hdr: Any, meta: dict[str, Any], shape: Sequence[int]) -> bool:
    """True when a field of the written header ``hdr`` that the affine or the 4th axis' step
    gave (``pixdim``, quaternion, ``qoffset``) overflowed float32 to a NaN or an infinity. A
    step past the 4th axis carried as read is no overflow: a source's NaN or infinite one is
    written back as ``nib.save`` writes it (:func:`lazyvol.nifti_carry.axis_zooms`)."""
    pixdim = np.array(hdr["pixdim"], dtype=np.float64)
    for axis, step in axis_zooms(meta, len(shape)).items():
        if not np.isfinite(step) and axis + 1 < len(pixdim):
            pixdim[axis + 1] = 0.0
    fields = [pixdim] + [
        np.asarray(hdr[f], dtype=np.float64)
        for f in ("quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y", "qoffset_z")
    ]
    return not all(np.isfinite(f).all() for f in fields)


def store_header_bytes(
    shape: Sequence[int], dtype: np.dtype, affine: np.ndarray, meta: dict[str, Any]
) -> bytes | None:
    """Binary NIfTI header of a lazyvol store's volume, the NIfTI-Zarr ``nifti`` array (uint8,
    without the extension flag): :func:`written_header`, values unscaled (``scl_slope`` NaN: the
    stored values are final), its text fields (``descrip``, ``aux_file``, ``intent_name``) the
    source's, as ``to_nifti`` writes them. None when NIfTI cannot describe the volume (a dtype
    without a NIfTI code, more than 7 axes, an affine no header field holds)."""
    if len(shape) > 7 or affine_problem(np.asarray(affine, dtype=np.float64)) is not None:
        return None
    try:
        with np.errstate(over="ignore"):
            hdr = written_header(
                shape, np.dtype(np.uint8) if dtype.kind == "b" else dtype, affine, meta
            )
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception:  # WriteError for the dtype; nibabel's HeaderDataError and friends
        return None
    if overflowed(hdr, meta, shape):
        return None
    hdr.set_slope_inter(np.nan, np.nan)
    return bytes(hdr.binaryblock)


def gzip_wanted(dest: str, compresslevel: Any) -> bool:
    """Whether ``dest`` is written gzip-compressed (a ``.gz`` name), its ``compresslevel`` checked
    first: an integer from -1 (zlib's default) to 9 (zlib's own error, a bare ValueError, came
    only once the file was being written)."""
    if not dest.lower().endswith(".gz"):
        return False
    level = compresslevel
    if isinstance(level, bool | np.bool_) or not isinstance(level, int | np.integer):
        level = None
    if level is None or not -1 <= int(level) <= 9:
        raise OptionError(
            f"{dest}: compresslevel={compresslevel!r} is not a gzip level; give an integer from 0 "
            "(no compression) to 9 (smallest), or -1 (zlib's default)"
        )
    return True
