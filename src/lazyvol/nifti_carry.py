"""NIfTI header fields a NIfTI source's volume carries into the NIfTI written from it.

``nib.save(nib.load(f), g)`` keeps every header field; lazyvol builds the written header from the
volume (its affine, dtype, shape, units and 4th-axis step), so the fields that describe the data
beyond those are read at open (``meta["nifti_fields"]``) and written back: the intent (a t-map's
code and degrees of freedom, a vector image), the display range (``cal_min``/``cal_max``), the time
offset (written by :func:`lazyvol.nifti_make.written_header`: the 4th axis' origin), and the
per-axis fields: ``dim_info`` (which voxel axes are the frequency, phase and slice
encoding ones) and the slice timing (``slice_code``, ``slice_start``, ``slice_end``,
``slice_duration``). A volume sliced, flipped or transposed since it was opened gets the per-axis
fields mapped onto its own axes (as the JSON sidecar's SliceTiming is): ``dim_info`` follows its
axes; the slice timing is kept only while the slice axis is whole and in its order, and left out
otherwise (it would describe slices the volume no longer has). The header extensions are
written back as nibabel keeps them, except a CIFTI-2 file's on a cut volume
(:func:`cifti_dropped`); a vector or matrix intent is left out of a cut that dropped the axis of
its components (:func:`components_dropped`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._source_index import SOURCE_INDEX_KEY, axis_steps, source_axes
from .geometry import axis_map
from .nifti_codes import COMPONENT_INTENTS, INTENTS
from .nifti_fields import (
    CARRIED_KEY,
    CARRIED_PLAIN,
    CARRIED_SLICE_TIMING,
    EXTENSIONS_KEY,
    extension_bytes,
    non_finite,
)
from .nifti_text import held_text, text_bytes

__all__ = [
    "ALIGNED",
    "QFORM_DIFFERS",
    "axis_zooms",
    "carry_fields",
    "cifti_dropped",
    "components_dropped",
    "qform_holds",
    "same_transform",
    "set_acquisition_fields",
    "set_text",
    "slice_code",
    "xform_codes",
]


def _dims(dim_info: int) -> tuple[int, int, int]:
    """(freq, phase, slice) axes of a ``dim_info`` byte, 0-based, -1 when not set."""
    return tuple(((dim_info >> shift) & 3) - 1 for shift in (0, 2, 4))  # type: ignore[return-value]


#: Farthest a qform may place a voxel from the affine, in voxels (of the smallest voxel size),
#: and still be labelled valid: positions and cosines a scanner rounds (six significant digits)
#: slant a stack by far less; a gantry tilt moves the far slices by many voxels.
QFORM_TOL_VOXELS = 0.1


def _corners(shape: tuple[int, ...]) -> np.ndarray:
    """(4, 8) homogeneous voxel coordinates of the corners of a volume of ``shape``."""
    ext = [max(int(n) - 1, 0) for n in (*shape, 1, 1, 1)[:3]]
    corners = np.array(np.meshgrid(*[[0, e] for e in ext], indexing="ij")).reshape(3, -1)
    return np.vstack([corners, np.ones((1, corners.shape[1]))])


def qform_holds(affine: Any, shape: tuple[int, ...]) -> bool:
    """True when a NIfTI qform (a rotation, voxel sizes and a flip: nibabel's ``set_qform`` strips
    any shear, the nearest rotation by polar decomposition, as here) places every voxel of a
    volume of ``shape`` within :data:`QFORM_TOL_VOXELS` of where ``affine`` does."""
    lin = np.asarray(affine, dtype=np.float64)[:3, :3]
    with np.errstate(over="ignore", invalid="ignore"):  # (sizes past float64: not held)
        sizes = np.linalg.norm(lin, axis=0)
    if not np.all(np.isfinite(lin)) or not np.all(np.isfinite(sizes)) or not np.all(sizes > 0):
        return False
    p, _, q = np.linalg.svd(lin / sizes)
    # (voxel sizes near float64's limit overflow here: NaN or inf, which compares False: the
    # qform does not hold, said without numpy's RuntimeWarning)
    with np.errstate(over="ignore", invalid="ignore"):
        off = lin - (p @ q) * sizes  # the shear the qform drops, per voxel step
        far = np.max(np.linalg.norm(off @ _corners(shape)[:3], axis=0))
    return bool(far <= QFORM_TOL_VOXELS * sizes.min())


def same_transform(affine: Any, other: Any, shape: tuple[int, ...]) -> bool:
    """True when ``other`` places every voxel of a volume of ``shape`` within
    :data:`QFORM_TOL_VOXELS` (of ``affine``'s smallest voxel size) of where ``affine`` does: one
    transform, as a scanner's qform (float32 quaternion) and sform of one space are."""
    a = np.asarray(affine, dtype=np.float64)
    b = np.asarray(other, dtype=np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return False
    corners = _corners(shape)
    off = np.max(np.linalg.norm(((a - b) @ corners)[:3], axis=0))
    return bool(off <= QFORM_TOL_VOXELS * np.linalg.norm(a[:3, :3], axis=0).min())


#: ``meta[CARRIED_KEY]`` key set when a NIfTI source's qform (code != 0) holds another transform
#: than the sform its affine came from (a scanner qform beside an MNI sform, after registration).
QFORM_DIFFERS = "qform_differs"
#: The sform code of an affine no source transform states: nibabel's for a new image's affine.
ALIGNED = 2


def _code(value: Any) -> int:
    """A valid NIfTI xform code (1..5), else 0."""
    return value if isinstance(value, int) and 1 <= value <= 5 else 0


def xform_codes(
    meta: dict[str, Any], affine: Any, shape: tuple[int, ...], base: Any = None
) -> tuple[int, int]:
    """``(sform_code, qform_code)`` a NIfTI written from a volume with ``meta`` (``affine``,
    ``shape``) states, both fields holding ``affine``: each code says what the transform written
    under it is.

    A NIfTI or Analyze source, or a NIfTI-Zarr store whose header gave the affine
    (``meta["affine_source"]``: ``"sform"``, ``"qform"``, ``"base"``, an Analyze pair's SPM
    ``"mat"``, or the same after
    ``"nifti-"``):

    - affine from the sform: the sform's code; the qform's code only when the source's qform held
      the same transform (:data:`QFORM_DIFFERS` not set), else 0 (a scanner qform beside an MNI
      sform is not the MNI transform written);
    - affine from the qform (no usable sform): the qform's code for both;
    - no transform (both codes 0, Analyze, also with an SPM ``.mat``): 0 and 0 while ``affine`` is ``base``, the affine
      readers give the written header with both codes 0 (nibabel's ``get_base_affine``); else 2,
      "aligned", and 0, as nibabel codes a new image's affine (a cut or an SPM ``.mat``).

    Another volume (DICOM, Zarr, one built in Python): its ``meta`` codes when set, else 1,
    "scanner" (as dcm2niix writes for DICOM); a qform code 0 beside a set sform stays 0.

    Whatever the source, the qform code is 0 where the qform cannot hold ``affine``
    (:func:`qform_holds`: a gantry-tilted CT's sheared affine, not the rounding of a scanner's
    cosines): the shear-stripped qform is another transform, and readers that prefer the qform
    (ITK, SimpleITK) would place the voxels millimetres away; the sform holds it exactly."""
    source = str(meta.get("affine_source") or "").removeprefix("nifti-")
    s_code, q_code = _code(meta.get("sform_code")), _code(meta.get("qform_code"))
    holds = qform_holds(affine, shape)
    if source in ("base", "mat"):
        if base is not None and np.allclose(base, affine, rtol=1e-6, atol=1e-6):
            return 0, 0
        return ALIGNED, 0
    if source == "sform" and s_code:
        fields = meta.get(CARRIED_KEY)
        differs = isinstance(fields, dict) and bool(fields.get(QFORM_DIFFERS))
        return s_code, q_code if (q_code and holds and not differs) else 0
    if source == "qform" and q_code:
        return q_code, q_code if holds else 0
    if meta.get("qform_code") == 0 and s_code:
        return s_code, 0
    return s_code or 1, (q_code or 1) if holds else 0


def axis_zooms(meta: dict[str, Any], ndim: int) -> dict[int, float]:
    """``{axis: step}`` of the axes from the 4th on of a volume of ``ndim`` axes whose step comes
    from a source of more than 4 axes (its ``pixdim[5:]``, carried as ``zooms``), following its
    axes as cut: times the cut's step, moved down where an integer index dropped an axis before
    them. The 4th axis is left out while it is the source's 4th (its step and unit:
    :func:`lazyvol.zarr_nifti.axis4_step`). Empty when the source's axes are not known."""
    fields = meta.get(CARRIED_KEY)
    zooms = fields.get("zooms") if isinstance(fields, dict) else None
    if not isinstance(zooms, list) or ndim < 4:
        return {}
    steps = axis_steps(meta, ndim)
    if steps is None:
        if len(zooms) != ndim:
            return {}  # not cut (then its axes would be known) yet not the source's axes
        steps = [(axis, 1) for axis in range(3, ndim)]
    return {
        3 + n: float(zooms[src]) * step
        for n, (src, step) in enumerate(steps)
        if src != 3 and src < len(zooms)
    }


#: The ecode of a CIFTI-2 extension (its XML describes the data's grid) and the intent codes of
#: CIFTI files (NIfTI's 3000-3099).
CIFTI_ECODE = 32
CIFTI_INTENTS = range(3000, 3100)


def _uncut(meta: dict[str, Any], affine: Any, shape: tuple[int, ...]) -> bool:
    """True when a volume is its NIfTI source as opened: same shape and affine, and no axis
    cut, reversed or strided (``meta["source_index"]`` holds each axis' source indices)."""
    fields = meta.get(CARRIED_KEY) or {}
    m = axis_map(fields.get("affine"), affine)
    if m is None or not np.array_equal(m, np.eye(3, 4)):
        return False
    if list(shape) != list(fields.get("shape") or []):
        return False
    index = meta.get(SOURCE_INDEX_KEY)
    if not isinstance(index, dict):
        return True
    ids = [index.get("t")] + [axis[1] for axis in index.get("axes") or ()]
    return all(i is None or list(i) == list(range(len(i))) for i in ids)


def cifti_dropped(meta: dict[str, Any], affine: Any, shape: tuple[int, ...]) -> bool:
    """True when a NIfTI source's CIFTI-2 extension and intent are not written for a volume of
    ``affine`` and ``shape``: the XML describes the grid of the file as opened, so a cut volume
    that kept them would claim a CIFTI layout it no longer has."""
    fields = meta.get(CARRIED_KEY)
    if not isinstance(fields, dict):
        return False
    codes = [extension_bytes(item) for item in fields.get(EXTENSIONS_KEY) or ()]
    cifti = any(found and found[0] == CIFTI_ECODE for found in codes)
    cifti = cifti or fields.get("intent_code") in CIFTI_INTENTS
    return cifti and not _uncut(meta, affine, shape)


def components_dropped(meta: dict[str, Any], shape: tuple[int, ...]) -> bool:
    """True when a NIfTI source's intent says its values are the components of a vector or matrix
    (:data:`~lazyvol.nifti_codes.COMPONENT_INTENTS`) and a volume of ``shape`` cut from it holds
    none of the axes they were on: ``vol[..., 0]`` of a 5-axis vector series (components on
    dim[5]) or ``vol[..., 0]`` of FSL's 4-axis field (on dim[4]). Its 4th axis, if any, is then
    the source's time axis, which the intent would make a reader take for components (FSL's
    layout: lazyvol stats split a 7-volume series of one component into 7 components)."""
    fields = meta.get(CARRIED_KEY)
    if not isinstance(fields, dict):
        return False
    code = fields.get("intent_code")
    name = INTENTS.get(code, "") if isinstance(code, int) else ""
    if name.strip() not in COMPONENT_INTENTS:
        return False
    source_ndim = len(fields.get("shape") or ())
    if source_ndim >= 5:  # the standard's dim[5] on: kept while a recorded axis is one of them
        axes = source_axes(meta, len(shape))
        return axes is not None and not any(src >= 4 for src in axes)
    return source_ndim == 4 and len(shape) == 3


def set_text(hdr: Any, key: str, text: str, meta: dict[str, Any]) -> None:
    """Set the text field ``key`` of the nibabel header ``hdr`` to ``text`` as its source held it
    (:func:`lazyvol.nifti_text.text_bytes`): all the field's bytes (80 for ``descrip``, 24
    ``aux_file``, 16 ``intent_name``, unterminated when full, as nibabel writes them)."""
    size = hdr.structarr.dtype[key].itemsize
    hdr[key] = text_bytes(key, text, meta.get(CARRIED_KEY), size)


def carry_fields(hdr: Any, meta: dict[str, Any], affine: Any, shape: tuple[int, ...]) -> None:
    """Set the carried fields of ``meta`` on the nibabel header ``hdr`` of a volume of ``affine``
    and ``shape`` (see the module docstring); a NaN or infinite one as read (nibabel writes it
    back so)."""
    fields = meta.get(CARRIED_KEY)
    if not isinstance(fields, dict):
        return
    dropped = cifti_dropped(meta, affine, shape)
    no_intent = dropped or components_dropped(meta, shape)
    for key in CARRIED_PLAIN:
        if not (no_intent and key.startswith("intent")):
            _carry(hdr, fields, key)
    for key in ("intent_name", "aux_file"):
        if held_text(fields, key) and not (no_intent and key == "intent_name"):
            set_text(hdr, key, str(fields.get(key) or ""), meta)
    from nibabel.nifti1 import Nifti1Extension  # (writing: nibabel makes the header)

    for item in fields.get(EXTENSIONS_KEY) or ():
        found = extension_bytes(item)
        if found is not None and not (dropped and found[0] == CIFTI_ECODE):
            hdr.extensions.append(Nifti1Extension(*found))
    m = axis_map(fields.get("affine"), affine)
    source_shape = list(fields.get("shape") or [])
    if m is None:
        return
    if "dim_info" not in fields:
        # No axes named: the slice timing holds for the volume as it was opened, and only so.
        if np.array_equal(m, np.eye(3, 4)) and list(shape[:3]) == source_shape[:3]:
            for key in CARRIED_SLICE_TIMING:
                _carry(hdr, fields, key)
        return
    new = [-1, -1, -1]
    for n, axis in enumerate(_dims(int(fields["dim_info"]))):
        if 0 <= axis < 3:
            new[n] = int(np.flatnonzero(m[axis, :3])[0])
    hdr.set_dim_info(*(None if a < 0 else a for a in new))
    slice_axis, was = new[2], _dims(int(fields["dim_info"]))[2]
    if (
        slice_axis >= 0
        and len(source_shape) > was
        and m[was, slice_axis] == 1
        and m[was, 3] == 0
        and shape[slice_axis] == source_shape[was]
    ):
        for key in CARRIED_SLICE_TIMING:
            _carry(hdr, fields, key)


def _carry(hdr: Any, fields: dict[str, Any], key: str) -> None:
    """Set ``hdr[key]`` to the carried value of ``key``: as read, a NaN or an infinity too
    (:data:`~lazyvol.nifti_fields.NON_FINITE_KEY`), as ``nib.save`` of the loaded image writes it."""
    if key in fields:
        hdr[key] = fields[key]
        return
    odd = non_finite(fields, key)
    if odd is not None:
        hdr[key] = odd


def _orders(n: int) -> dict[int, list[int]]:
    """NIfTI slice_code -> acquisition order of ``n`` slices (slice indices, first acquired first)."""
    up, down = list(range(n)), list(range(n - 1, -1, -1))
    return {
        1: up,  # sequential increasing
        2: down,  # sequential decreasing
        3: up[0::2] + up[1::2],  # alternating increasing
        4: down[0::2] + down[1::2],  # alternating decreasing
        5: up[1::2] + up[0::2],  # alternating increasing, starting at slice 1
        6: down[1::2] + down[0::2],  # alternating decreasing, starting at slice n - 2
    }


def slice_code(times: Any) -> tuple[int, float] | None:
    """``(slice_code, slice_duration)`` of per-slice acquisition times (one per k, seconds) that
    follow one of NIfTI's slice orders at a regular step, else None (several slices at one time,
    as in multiband, or an order NIfTI has no code for). Times within a tenth of the step count
    as regular: scanners round them (Siemens writes 0.2225 for the 4th slice at 0.075 s steps)."""
    t = np.asarray(times, dtype=np.float64)
    n = t.size
    if n < 2 or not np.all(np.isfinite(t)):
        return None
    step = (t.max() - t.min()) / (n - 1)
    ranked = np.sort(t) - t.min()
    if step <= 0 or np.max(np.abs(ranked - step * np.arange(n))) > 0.1 * step:
        return None
    acquired = [int(k) for k in np.argsort(t, kind="stable")]
    for code, order in _orders(n).items():
        if acquired == order:
            return code, float(step)
    return None


def set_acquisition_fields(
    hdr: Any, slice_times: Any, phase_direction: Any, slice_axis: int | None
) -> None:
    """``dim_info`` and the slice timing of a DICOM volume's NIfTI header, from its BIDS values
    mapped onto the volume's axes (:func:`lazyvol.sidecar.sidecar`): PhaseEncodingDirection or
    PhaseEncodingAxis (``"j-"``, ``"j"``: phase along j) and SliceTiming (one time per k, given
    only while k is the slice axis). ``slice_axis``: the volume axis the slices were stacked along
    (2 as opened; another after a transpose; None when unknown): the frequency axis is the one
    left, as dcm2niix writes it."""
    axes = {"i": 0, "j": 1, "k": 2}
    phase = axes.get(str(phase_direction or "")[:1])
    if slice_axis is None or phase == slice_axis:
        return  # no slice axis known, or a phase "along the slices": nothing sound to state
    if phase is None:
        hdr.set_dim_info(slice=slice_axis)
    else:
        freq = ({0, 1, 2} - {phase, slice_axis}).pop()
        hdr.set_dim_info(freq=freq, phase=phase, slice=slice_axis)
    found = slice_code(slice_times) if slice_times is not None and slice_axis == 2 else None
    if found is not None:
        hdr["slice_code"], hdr["slice_duration"] = found
        hdr["slice_start"], hdr["slice_end"] = 0, len(slice_times) - 1
