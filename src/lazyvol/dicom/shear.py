"""A stack whose slice step leans from the slice normal (a CT gantry tilt, or any shear of the
positions): how far and which way it leans, and whether the lean is a gantry tilt. The affine
keeps the shear exactly (:func:`lazyvol.geometry.dicom_affine` takes the step as found); this
module only names it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import geometry as geo

__all__ = ["shear_notes"]

#: Smallest lean, in degrees, taken for a shear when the orientation is written exactly.
_LEAST_DEG = 0.01


def _leans_deg(
    step: np.ndarray, row: np.ndarray, col: np.ndarray, normal: np.ndarray
) -> list[float]:
    """Angles in degrees: the step's whole lean from ``normal``, then its signed lean toward
    ``row`` (voxel axis i), toward ``col`` (axis j) and toward patient x (LPS), the left-right
    axis a CT gantry tilts about (a gantry tilt leans no way toward it)."""
    along = abs(float(step @ normal))
    slant = step - normal * float(step @ normal)
    return [
        float(np.degrees(np.arctan2(float(np.linalg.norm(slant)), along))),
        float(np.degrees(np.arctan2(float(slant @ row), along))),
        float(np.degrees(np.arctan2(float(slant @ col), along))),
        float(np.degrees(np.arctan2(float(slant[0]), along))),
    ]


def shear_notes(
    slice_step: Sequence[float] | np.ndarray, iop: Sequence[float], precision_deg: Any = 0.0
) -> tuple[dict[str, Any], str]:
    """``(meta, warning)`` of a stack whose slices step by ``slice_step`` (LPS mm) with
    ImageOrientationPatient ``iop``: empty when the step is along the normal within 0.01 degrees
    or the orientation's written precision ``precision_deg`` (a normal only that exact has no
    lean within it); else ``sheared``, ``shear_deg`` (the signed lean toward voxel axes i and j)
    and, when the lean is a gantry tilt's (a transverse stack leaning no way toward the patient's
    left-right axis), ``gantry_tilt_deg`` (its size), with the warning."""
    row, col, normal = geo.dicom_cosines(iop)
    step = np.asarray(slice_step, dtype=np.float64)
    tilt, toward_i, toward_j, toward_x = _leans_deg(step, row, col, normal)
    least = max(_LEAST_DEG, float(precision_deg or 0.0))
    if tilt <= least:
        return {}, ""
    meta: dict[str, Any] = {"sheared": True, "shear_deg": [round(toward_i, 4), round(toward_j, 4)]}
    # a CT gantry tilts about the patient's left-right axis and takes transverse images: an axial
    # plane's stack leaning no way toward left-right (a sagittal plane's leans so in any case)
    axial = abs(normal[2]) >= max(abs(normal[0]), abs(normal[1]))
    if axial and abs(toward_x) <= least:
        meta["gantry_tilt_deg"] = round(tilt, 4)
        what = f"gantry tilt {tilt:.3f} degrees"
    else:
        what = (
            f"{tilt:.3f} degrees, leaning {toward_i:.3f} toward the row direction (i) and "
            f"{toward_j:.3f} toward the column direction (j): not a gantry tilt, which leans "
            "a transverse stack no way toward the patient's left-right axis"
        )
    warning = (
        f"slices are sheared ({what}, found from the positions): the affine keeps the shear exactly"
    )
    return meta, warning
