"""NIfTI header fields a NIfTI source's volume carries into the NIfTI written from it.

``nib.save(nib.load(f), g)`` keeps every header field; lazyvol builds the written header from the
volume (its affine, dtype, shape, units and 4th-axis step), so the fields that describe the data
beyond those are read at open (``meta["nifti_fields"]``) and written back: the intent (a t-map's
code and degrees of freedom, a vector image), the display range (``cal_min``/``cal_max``), the time
offset, and the per-axis fields: ``dim_info`` (which voxel axes are the frequency, phase and slice
encoding ones) and the slice timing (``slice_code``, ``slice_start``, ``slice_end``,
``slice_duration``). A volume sliced, flipped or transposed since it was opened gets the per-axis
fields mapped onto its own axes (as the JSON sidecar's SliceTiming is): ``dim_info`` follows its
axes; the slice timing is kept only while the slice axis is whole and in its order, and left out
otherwise (it would describe slices the volume no longer has). A 4th axis cut from volume ``t0`` on
moves ``toffset`` by ``t0`` steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._source_index import SOURCE_INDEX_KEY
from .geometry import axis_map
from .nifti_fields import CARRIED_KEY, CARRIED_PLAIN, CARRIED_SLICE_TIMING

__all__ = ["carry_fields"]


def _dims(dim_info: int) -> tuple[int, int, int]:
    """(freq, phase, slice) axes of a ``dim_info`` byte, 0-based, -1 when not set."""
    return tuple(((dim_info >> shift) & 3) - 1 for shift in (0, 2, 4))  # type: ignore[return-value]


def carry_fields(hdr: Any, meta: dict[str, Any], affine: Any, shape: tuple[int, ...]) -> None:
    """Set the carried fields of ``meta`` on the nibabel header ``hdr`` of a volume of ``affine``
    and ``shape`` (see the module docstring)."""
    fields = meta.get(CARRIED_KEY)
    if not isinstance(fields, dict):
        return
    for key in CARRIED_PLAIN:
        if key in fields:
            hdr[key] = fields[key]
    if fields.get("intent_name"):
        hdr["intent_name"] = str(fields["intent_name"]).encode("latin-1", "replace")[:15]
    if "toffset" in fields:
        index = meta.get(SOURCE_INDEX_KEY)
        ts = index.get("t") if isinstance(index, dict) else None
        t0 = int(ts[0]) if isinstance(ts, list) and ts else 0
        step = meta.get("axis4_spacing")
        hdr["toffset"] = float(fields["toffset"]) + (t0 * float(step) if step and t0 else 0.0)
    m = axis_map(fields.get("affine"), affine)
    source_shape = list(fields.get("shape") or [])
    if m is None:
        return
    if "dim_info" not in fields:
        # No axes named: the slice timing holds for the volume as it was opened, and only so.
        if np.array_equal(m, np.eye(3, 4)) and list(shape[:3]) == source_shape[:3]:
            for key in CARRIED_SLICE_TIMING:
                if key in fields:
                    hdr[key] = fields[key]
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
            if key in fields:
                hdr[key] = fields[key]
