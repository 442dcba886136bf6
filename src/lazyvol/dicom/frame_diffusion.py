"""An enhanced frame's diffusion values: its MR Diffusion macro (MRDiffusionSequence (0018,9117)).

The b-value is DiffusionBValue (0018,9087); the direction DiffusionGradientOrientation (0018,9089)
of DiffusionGradientDirectionSequence (0018,9076), in the patient frame (LPS). A frame whose
DiffusionDirectionality (0018,9075) is BMATRIX states no direction: its B-matrix
(DiffusionBMatrixSequence (0018,9601): DiffusionBValueXX ... ZZ (0018,9602-9607), in the patient
frame too) is ``b g g^T`` for the unit direction ``g`` it was made with, so ``g`` is the matrix's
principal eigenvector, up to its sign (a B-matrix holds no polarity: dcm2niix's issue 265 says so
of the Siemens B_matrix it reads likewise); lazyvol gives it its first non-zero component
positive. Such a frame was read as having no direction, so a directional volume became a
'derived trace' with a zero .bvec (the installed dcm2niix writes a broken table for such a file:
two b-values for six volumes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .records import FrameRecord

__all__ = ["BMATRIX_SOURCE", "frame_diffusion"]

_SEQ = "MRDiffusionSequence"
_SOURCE = "MRDiffusionSequence (0018,9117) DiffusionBValue / DiffusionGradientOrientation"
#: The diffusion source of a frame whose direction comes from its B-matrix.
BMATRIX_SOURCE = (
    "MRDiffusionSequence (0018,9117) DiffusionBValue / DiffusionBMatrixSequence (0018,9601) "
    "(direction up to its sign: a B-matrix holds no polarity)"
)
_MATRIX = ("XX", "XY", "XZ", "YY", "YZ", "ZZ")
#: Eigenvalue share below which a B-matrix has no single direction (an isotropic one: 1/3, or a
#: damaged one): its principal eigenvalue holds the trace for a matrix made of one direction, nearly
#: all of it where the imaging gradients add their small terms (a scanner's effective B-matrix).
_RANK_ONE = 0.9


def _bmatrix_direction(item: Any) -> list[float] | None:
    """The unit direction of a DiffusionBMatrixSequence item (module docstring), None when it
    states no whole finite matrix or no single direction."""
    try:
        xx, xy, xz, yy, yz, zz = (float(item.get(f"DiffusionBValue{n}")) for n in _MATRIX)
    except (TypeError, ValueError):
        return None
    m = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    trace = xx + yy + zz
    if not np.isfinite(m).all() or trace <= 0:
        return None
    values, vectors = np.linalg.eigh(m)
    if values[-1] < _RANK_ONE * trace:
        return None
    g = vectors[:, -1] / np.linalg.norm(vectors[:, -1])
    lead = next((c for c in g if abs(c) > 1e-6), 1.0)
    return [0.0 if abs(c) < 1e-9 else float(math.copysign(c, c * lead)) for c in g]


def frame_diffusion(
    fr: FrameRecord,
    groups: list[Any],
    find: Callable[..., Any],
    floats: Callable[[Any, int], list[float] | None],
) -> None:
    """Set ``fr``'s b-value, direction and their source from its functional ``groups`` (``find``:
    the attribute of the first item of a sequence in the first group that has it; ``floats``: a
    value's ``n`` numbers, as the multi-frame reader reads them); a frame whose groups state no
    b-value keeps the file's."""
    try:
        b = float(find(groups, _SEQ, "DiffusionBValue"))
    except (TypeError, ValueError):
        return
    fr.b_value, fr.gradient, fr.diffusion_source = b, None, _SOURCE
    dir_seq = find(groups, _SEQ, "DiffusionGradientDirectionSequence")
    if dir_seq:
        fr.gradient = floats(dir_seq[0].get("DiffusionGradientOrientation"), 3)
        return
    matrix = find(groups, _SEQ, "DiffusionBMatrixSequence")
    if matrix and (g := _bmatrix_direction(matrix[0])) is not None:
        fr.gradient, fr.diffusion_source = g, BMATRIX_SOURCE
