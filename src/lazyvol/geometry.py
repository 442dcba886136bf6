"""Pure affine math: slicing, voxel sizes, orientation codes and grid comparison. No I/O.

Conventions (see DESIGN.md): voxel axes are ``(i, j, k[, t])`` and the affine maps ``(i, j, k, 1)``
to RAS+ millimetres, as nibabel.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from decimal import Decimal
from typing import Literal, SupportsIndex

import numpy as np
from numpy.typing import ArrayLike

from .errors import GridMismatchError

__all__ = [
    "axis_map",
    "LPS_TO_RAS",
    "affine_problem",
    "canonical_index",
    "check_affine",
    "check_same_grid",
    "dicom_affine",
    "dicom_cosines",
    "grid_difference",
    "grid_slots",
    "orientations_match",
    "regular_grid_errors",
    "same_grid",
    "slice_projections",
    "position_quantum",
    "spacing_tolerance",
    "orientation_codes",
    "slice_affine",
    "voxel_sizes",
]


def canonical_index(index: object, shape: Sequence[int]) -> tuple[slice | int, ...]:
    """Expand ``index`` into one normalised ``slice`` or ``int`` per axis of ``shape``.

    Parameters
    ----------
    index : object
        A basic numpy index: integers (numpy's integer scalars and 0-d integer arrays too, as
        numpy takes them), slices and at most one ``Ellipsis``.
    shape : sequence of int
        The shape being indexed.

    Returns
    -------
    tuple
        One entry per axis: a ``slice`` with explicit ``start`` and ``step`` and a non-negative
        ``stop`` (``None`` when a negative step runs to index 0; ``slice(0, 0, 1)`` for an empty
        selection), or a non-negative ``int``.

    Raises
    ------
    IndexError
        For fancy indexing (arrays with axes, lists, booleans, 0-d bool or float arrays), ``None``,
        more than one ``Ellipsis``, too many indices, an integer out of range, or a zero step.
    """
    if not isinstance(index, tuple):
        index = (index,)
    n_ellipsis = sum(1 for item in index if item is Ellipsis)
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    explicit = len(index) - n_ellipsis
    if explicit > len(shape):
        raise IndexError(f"too many indices: {explicit} given for {len(shape)} axes")
    expanded: list[object] = []
    for item in index:
        if item is Ellipsis:
            expanded.extend([slice(None)] * (len(shape) - explicit))
        else:
            expanded.append(item)
    expanded.extend([slice(None)] * (len(shape) - len(expanded)))

    out: list[slice | int] = []
    for axis, (item, n) in enumerate(zip(expanded, shape, strict=True)):
        if isinstance(item, slice):
            if item.step == 0:
                raise IndexError("slice step cannot be zero")
            start, stop, step = item.indices(n)
            if not range(start, stop, step):
                # (an empty selection: a negative step's start before the front is -1, which
                # would mean "the last element" if used as an index again)
                out.append(slice(0, 0, 1))
                continue
            # A negative step that runs to the front gives stop == -1, which would mean "the last
            # element" if used as an index again: spell it None.
            out.append(slice(start, stop if stop >= 0 else None, step))
        elif item is None:
            raise IndexError("new axes (None) are not supported on a Volume; index .data instead")
        else:
            value = _integer(item)
            if value is None:
                raise IndexError(
                    f"only integers, slices and '...' index a Volume (got {type(item).__name__}); "
                    "use vol.data for fancy indexing"
                )
            if not -n <= value < n:
                raise IndexError(f"index {value} is out of bounds for axis {axis} with size {n}")
            out.append(value % n)
    return tuple(out)


def _integer(item: object) -> int | None:
    """``item`` as an integer index, as numpy takes one (``operator.index``: ``int``, numpy
    integer scalars, a 0-d integer array), None for anything else (a bool, a float, a 0-d bool
    or float array, an array with axes)."""
    if isinstance(item, bool) or not isinstance(item, SupportsIndex):
        return None
    try:
        return operator.index(item)
    except TypeError:  # (a 0-d bool or float array has __index__, which refuses)
        return None


def slice_affine(affine: np.ndarray, index: Sequence[slice | int]) -> np.ndarray:
    """Affine of a volume cut by ``index``, exactly as nibabel's ``img.slicer[index]``.

    Parameters
    ----------
    affine : (4, 4) array
        The affine of the uncut volume.
    index : sequence
        Canonical per-axis index (see :func:`canonical_index`); only the first three entries (the
        spatial axes) matter and each must be a ``slice``.

    Returns
    -------
    (4, 4) ndarray
        ``affine @ T`` where ``T`` scales each spatial axis by its step and moves the origin to the
        first voxel kept.
    """
    transform = np.eye(4)
    for axis, item in enumerate(index[:3]):
        if not isinstance(item, slice):
            raise IndexError(
                "integer indices are not allowed on spatial axes (as in nibabel); "
                f"use {item}:{item + 1} to keep axis {axis}, or index vol.data for a plain array"
            )
        transform[axis, axis] = item.step if item.step is not None else 1
        transform[axis, 3] = item.start or 0
    return np.asarray(affine, dtype=np.float64) @ transform


def voxel_sizes(affine: np.ndarray) -> tuple[float, float, float]:
    """Length of each voxel axis in millimetres (the column norms of the 3x3 part)."""
    rzs = np.asarray(affine, dtype=np.float64)[:3, :3]
    sizes = np.sqrt((rzs**2).sum(axis=0))
    return (float(sizes[0]), float(sizes[1]), float(sizes[2]))


def _io_orientation(affine: np.ndarray) -> list[tuple[int, int] | None]:
    """nibabel's ``io_orientation`` (5.4): for each voxel axis, ``(world axis, +1/-1)`` it runs
    along most (None for a degenerate axis), from the polar decomposition of the 3x3 part; voxel
    axes taken strongest first (stable on ties), each world axis used once."""
    rzs = np.asarray(affine, dtype=np.float64)[:3, :3]
    zooms = np.sqrt(np.sum(rzs * rzs, axis=0))
    zooms[zooms == 0] = 1
    rs = rzs / zooms
    p, sv, qs = np.linalg.svd(rs, full_matrices=False)
    tol = sv.max() * max(rs.shape) * np.finfo(sv.dtype).eps
    keep = sv > tol
    r = np.dot(p[:, keep], qs[keep])
    out: list[tuple[int, int] | None] = [None, None, None]
    for in_ax in np.argsort(np.min(-(r**2), axis=0), kind="stable"):
        col = r[:, in_ax]
        if not np.allclose(col, 0):
            out_ax = int(np.argmax(np.abs(col)))
            out[int(in_ax)] = (out_ax, -1 if col[out_ax] < 0 else 1)
            r[out_ax, :] = 0
    return out


def orientation_codes(affine: np.ndarray) -> str:
    """Three-letter orientation code such as ``'RAS'`` or ``'LPI'`` (nibabel's ``aff2axcodes``,
    computed here so that no caller pays for importing nibabel; ``?`` for a degenerate axis)."""
    labels = (("L", "R"), ("P", "A"), ("I", "S"))
    codes = []
    for axis in _io_orientation(affine):
        codes.append("?" if axis is None else labels[axis[0]][0 if axis[1] == -1 else 1])
    return "".join(codes)


# -- grids ------------------------------------------------------------------------------------------


def grid_difference(
    shape: Sequence[int],
    affine: ArrayLike | None,
    other_shape: Sequence[int],
    other_affine: ArrayLike | None,
    *,
    broadcast_3d: bool = False,
    tol: float = 1e-3,
) -> Literal["shape", "affine"] | None:
    """What differs between two voxel grids: ``"shape"``, ``"affine"`` or ``None`` (same grid).

    Parameters
    ----------
    shape, affine : sequence of int, array_like or None
        The reference grid. An affine of ``None`` (a plain array) matches any affine.
    other_shape, other_affine : sequence of int, array_like or None
        The grid compared with it.
    broadcast_3d : bool
        A 3D ``other_shape`` equal to the first three axes of a 4D (or more) ``shape`` is the same
        grid (a 3D mask over every volume of a series).
    tol : float
        Affines agree when every element differs by at most ``tol`` times the smallest voxel size
        of ``affine`` (in millimetres).
    """
    a, b = tuple(int(x) for x in shape), tuple(int(x) for x in other_shape)
    spatial_ok = a == b or (broadcast_3d and len(b) == 3 and len(a) > 3 and b == a[:3])
    if not spatial_ok:
        return "shape"
    if affine is not None and other_affine is not None:
        ref = np.asarray(affine, dtype=np.float64)
        sizes = np.sqrt((ref[:3, :3] ** 2).sum(axis=0))
        atol = tol * float(max(sizes.min(), 1e-12))
        if not np.allclose(ref, np.asarray(other_affine, dtype=np.float64), rtol=0, atol=atol):
            return "affine"
    return None


def same_grid(
    shape: Sequence[int],
    affine: ArrayLike | None,
    other_shape: Sequence[int],
    other_affine: ArrayLike | None,
    *,
    broadcast_3d: bool = False,
    tol: float = 1e-3,
) -> bool:
    """Whether two voxel grids are the same (see :func:`grid_difference` for the parameters)."""
    diff = grid_difference(
        shape, affine, other_shape, other_affine, broadcast_3d=broadcast_3d, tol=tol
    )
    return diff is None


def _format_affine(
    affine: ArrayLike | None, precision: int = 6, suppress_small: bool = True
) -> str:
    """``affine`` for a message: explicit options (never numpy's global print state), one line."""
    text = np.array2string(
        np.asarray(affine), separator=", ", precision=precision, suppress_small=suppress_small
    )
    return " ".join(text.split())


def check_same_grid(
    shape: Sequence[int],
    affine: ArrayLike | None,
    mask_shape: Sequence[int],
    mask_affine: ArrayLike | None,
    *,
    source: str = "",
    mask_source: str = "",
    broadcast_3d: bool = True,
) -> None:
    """Raise :class:`~lazyvol.errors.GridMismatchError` unless a mask is on a volume's grid.

    The message names both sources (``<array>`` for in-memory data), what differs, both shapes
    and affines, and how to fix it.
    """
    what = grid_difference(shape, affine, mask_shape, mask_affine, broadcast_3d=broadcast_3d)
    if what is None:
        return
    raise GridMismatchError(
        f"mask {mask_source or '<array>'} is not on the grid of volume {source or '<array>'} "
        f"({what} differs): volume shape {tuple(shape)}, affine {_format_affine(affine)}; "
        f"mask shape {tuple(mask_shape)}, affine {_format_affine(mask_affine)}. "
        "Resample the mask onto the volume's grid first (e.g. nilearn.image.resample_to_img)"
    )


# -- DICOM geometry ---------------------------------------------------------------------------------

#: LPS (DICOM patient coordinates) to RAS (NIfTI / nibabel world coordinates).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def dicom_cosines(iop: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row cosine, column cosine and slice normal (LPS) from ImageOrientationPatient.

    The row cosine is the direction of increasing column index (voxel axis i), the column cosine the
    direction of increasing row index (axis j); the normal is their cross product. The cosines are
    normalised (scanners write them rounded).

    Raises
    ------
    ValueError
        When a cosine has zero length or the two are parallel.
    """
    v = np.asarray(iop, dtype=np.float64).reshape(6)
    row, col = v[:3], v[3:]
    nr, nc = np.linalg.norm(row), np.linalg.norm(col)
    if nr < 1e-6 or nc < 1e-6:
        raise ValueError(f"ImageOrientationPatient {list(v)} has a zero-length direction")
    row, col = row / nr, col / nc
    normal = np.cross(row, col)
    nn = np.linalg.norm(normal)
    if nn < 1e-3:
        raise ValueError(
            f"ImageOrientationPatient {list(v)} has parallel row and column directions"
        )
    return row, col, normal / nn


def orientations_match(a: Sequence[float], b: Sequence[float], tol: float = 1e-3) -> bool:
    """True when two ImageOrientationPatient values (six cosines each) agree within ``tol`` on
    every cosine; a NaN never agrees. Plain Python: grouping compares every frame's cosines, and
    numpy's per-call cost was ~10x the comparison."""
    return len(a) == len(b) and all(abs(float(x) - float(y)) <= tol for x, y in zip(a, b))


def slice_projections(positions: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Distance of each ImagePositionPatient along the slice normal (the sort key of a stack)."""
    return np.asarray(positions, dtype=np.float64) @ np.asarray(normal, dtype=np.float64)


def spacing_tolerance(spacing: float, rel: float = 1e-3, floor: float = 1e-3) -> float:
    """Tolerance for slice positions: ``rel`` of the spacing with an absolute floor in mm."""
    return max(rel * abs(float(spacing)), floor)


def position_quantum(values: ArrayLike) -> float:
    """How coarsely ``values`` (decimal strings such as DICOM's DS, parsed to floats) were
    written: the step of their last written digit, in their units. 0.0 when nothing shows it.

    ``values``: one number per position, or positions as rows (one column per coordinate); a
    column that never changes is left out (its rounding is the same for every position, so it
    cannot make steps uneven), and the result is the coarsest of the other columns.

    Writers keep either a fixed number of decimals (``12.35``: 0.01) or of significant digits
    (GE's six, ``-123.457``: 0.001). Read from the shortest repr of each non-integral value of a
    column: ``D``, the most decimals any shows, and ``S``, the most significant digits any shows
    (trailing zeros are dropped, so a value shows fewer digits, never more: the maxima are the
    writer's); the step is the larger of ``10**-D`` and the ``S``-th significant digit of the
    column's largest magnitude. A full-precision writer gives a step far below any tolerance.
    """
    arr = np.asarray(values, dtype=np.float64)
    columns = arr.reshape(-1, 1) if arr.ndim < 2 else arr.reshape(-1, arr.shape[-1])
    q = 0.0
    for col in columns.T:
        if col.size and np.all(col == col[0]):
            continue
        q = max(q, _column_quantum(col))
    return q


def _column_quantum(col: np.ndarray) -> float:
    decimals = 0
    digits = 0
    largest = 0.0
    for x in col:
        v = float(x)
        if not math.isfinite(v) or v.is_integer():
            continue  # an integral value shows nothing of the writer's precision
        _sign, ds, exponent = Decimal(repr(v)).normalize().as_tuple()
        if not isinstance(exponent, int):
            continue
        decimals = max(decimals, -exponent)
        digits = max(digits, len(ds))
        largest = max(largest, abs(v))
    if largest == 0.0:
        return 0.0
    by_digits = 10.0 ** (math.floor(math.log10(largest)) - digits + 1)
    return max(10.0**-decimals, by_digits)


def _median(values: np.ndarray) -> float:
    """``float(np.median(values))`` of a non-empty 1-D array, to the same rounding, without
    ``np.median``, whose NaN check imports ``numpy.ma`` (9 ms of every cold DICOM open)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    if n == 0 or math.isnan(x[-1]):  # np.sort puts NaN last; numpy's median is then NaN
        return math.nan
    mid = n // 2
    return float(x[mid]) if n % 2 else float((x[mid - 1] + x[mid]) / 2)


def regular_grid_errors(
    projections: np.ndarray, *, rel: float = 1e-3, floor: float = 1e-3, rounded: bool = False
) -> tuple[float, list[tuple[int, float]]]:
    """Slice spacing of sorted projections and the steps that break a regular grid.

    The median step is the spacing when every step is within the tolerance of it and every slice
    on the line through the first and last. Otherwise the steps are either a regular grid with
    slices missing -- the spacing is then the step of which every step is a whole multiple (the
    median, else the smallest step when it is also the most common one: the median is not the
    base step when half of the steps or more span gaps, nor a step at all for an even number of
    steps), every slice on its grid (:func:`grid_slots`) and half of its slots or more holding
    one -- or uneven, and the spacing is then the most common step (a step that
    occurs; lazyvol never averages spacing).

    Parameters
    ----------
    projections : 1-D array
        Sorted (ascending) positions along the normal, one per slice.
    rel, floor
        Tolerance: ``max(rel * spacing, floor)`` millimetres.
    rounded
        ``floor`` is the positions' written rounding (the most it moves a step): the stack is
        regular when every slice lies within the tolerance of the grid through the first and last,
        its spacing that grid's step. Rounded steps are off the true step by up to the rounding,
        and their median as much again (2.02 and 2.03 of a 2.0273 mm step written to 0.01 mm).

    Returns
    -------
    spacing : float
        The slice spacing (the grid's step when slices are missing).
    bad : list of (index, step)
        Each step ``projections[index + 1] - projections[index]`` that differs from ``spacing`` by
        more than the tolerance (on a grid with slices missing: each step across a gap).
    """
    p = np.asarray(projections, dtype=np.float64)
    if p.size < 2:
        return 0.0, []
    steps = np.diff(p)
    fitted = (p[-1] - p[0]) / (p.size - 1)
    off = np.abs(p - (p[0] + fitted * np.arange(p.size)))
    if rounded and np.max(off) <= spacing_tolerance(fitted, rel, floor):
        return float(fitted), []
    spacing = _median(steps)
    tol = spacing_tolerance(spacing, rel, floor)
    bad = _steps_off(steps, spacing, tol)
    if not bad:
        # Small steps can still add up; check each slice against the fitted grid from slice 0.
        if np.max(off) > tol:
            i = int(np.argmax(off))
            bad = [(max(0, i - 1), float(steps[max(0, i - 1)]))]
        return spacing, bad
    if not np.all(np.isfinite(steps)):
        return spacing, bad
    common = _most_common(steps, tol)
    smallest = float(np.min(steps))
    # The smallest step is tried as the grid's step only when it is the most common step (gaps
    # are the exception): an extra slice between two (5, 2.5, 2.5, 5 mm) makes a rare small step,
    # uneven spacing, not a 2.5 mm grid with every other slice missing.
    usual = abs(common - smallest) <= spacing_tolerance(smallest, rel, floor)
    for base in (spacing, smallest) if usual else (spacing,):
        base_tol = spacing_tolerance(base, rel, floor)
        slots = grid_slots(p, base, base_tol)
        # At least half of the grid's slots hold a slice: a near-duplicate 0.01 mm from another
        # slice would otherwise make a 0.01 mm grid with hundreds of slices "missing".
        # (and one is missing: without, the steps that failed are uneven, rounding or not)
        if slots is not None and p.size < int(slots[-1]) + 1 <= 2 * p.size:
            return base, [(int(i), float(steps[i])) for i in np.flatnonzero(np.diff(slots) > 1)]
    return common, _steps_off(steps, common, spacing_tolerance(common, rel, floor))


def _steps_off(steps: np.ndarray, spacing: float, tol: float) -> list[tuple[int, float]]:
    """``(index, step)`` of each step more than ``tol`` from ``spacing``."""
    return [(int(i), float(s)) for i, s in enumerate(steps) if abs(s - spacing) > tol]


def _most_common(steps: np.ndarray, tol: float) -> float:
    """The step with the most steps within ``tol`` of it (the smallest such on a tie)."""
    ordered = np.sort(steps)
    counts = np.searchsorted(ordered, ordered + tol, "right") - np.searchsorted(
        ordered, ordered - tol, "left"
    )
    return float(ordered[int(np.argmax(counts))])


def grid_slots(projections: np.ndarray, spacing: float, tol: float) -> np.ndarray | None:
    """Grid index of each sorted projection on a regular grid of step ``spacing`` from the first,
    with slices missing where a step spans several; None when they are not on one.

    Each slice must lie within ``tol`` of the grid through the first and last slices (their step
    the span over the slots, as for a stack without gaps), and no two on one slot.
    """
    p = np.asarray(projections, dtype=np.float64)
    if p.size < 2 or not spacing > tol:
        return None
    # Slots counted step by step: from slice 0, an error of ``spacing`` (a step read from rounded
    # positions) would add up along a long stack to a wrong slot.
    slots: np.ndarray = np.concatenate([[0], np.cumsum(np.round(np.diff(p) / spacing))])
    slots = slots.astype(np.int64)
    if np.any(np.diff(slots) < 1):
        return None
    step = (p[-1] - p[0]) / float(slots[-1])
    if np.any(np.abs(p - (p[0] + slots * step)) > tol):
        return None
    return slots


def dicom_affine(
    iop: ArrayLike,
    pixel_spacing: ArrayLike,
    first_position: ArrayLike,
    slice_step: ArrayLike,
) -> np.ndarray:
    """RAS affine of a DICOM stack: i = column, j = row, k = slice.

    Parameters
    ----------
    iop : six floats
        ImageOrientationPatient (row cosine, column cosine).
    pixel_spacing : two floats
        PixelSpacing ``[row spacing (between rows, along j), column spacing (along i)]``.
    first_position : three floats
        ImagePositionPatient of slice k = 0 (centre of its first voxel, LPS).
    slice_step : three floats
        LPS vector from slice k to slice k + 1. Along the normal for ordinary stacks; with a
        component in the slice plane for gantry-tilted (sheared) stacks, kept as is.

    Returns
    -------
    (4, 4) ndarray
        Voxel ``(i, j, k)`` to RAS+ millimetres.
    """
    row, col, _ = dicom_cosines(iop)
    dr, dc = (float(x) for x in np.asarray(pixel_spacing, dtype=np.float64).reshape(2))
    lps = np.eye(4)
    lps[:3, 0] = row * dc
    lps[:3, 1] = col * dr
    lps[:3, 2] = np.asarray(slice_step, dtype=np.float64)
    lps[:3, 3] = np.asarray(first_position, dtype=np.float64)
    return LPS_TO_RAS @ lps


# -- affine sanity (every reader) -------------------------------------------------------------------


def affine_problem(affine: ArrayLike) -> str | None:
    """Why ``affine`` cannot place voxels in space (non-finite, singular, not 4x4), else None.

    Singular means the three voxel axes do not span space: a zero-length axis, or two parallel
    axes (the smallest singular value of the axes scaled to unit length below 1e-9). Very
    different voxel sizes (anisotropy) are not singular: each axis is judged by its direction.
    """
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4):
        return f"has shape {a.shape}, not (4, 4)"
    if not np.isfinite(a).all():
        return "has non-finite (NaN/inf) entries"
    axes = a[:3, :3] / np.max(np.abs(a[:3, :3]), axis=0, initial=0.0, keepdims=True).clip(1e-300)
    lengths = np.linalg.norm(axes, axis=0)
    if not np.all(lengths > 0):
        return "is singular (a voxel axis has zero length)"
    sv = np.linalg.svd(axes / lengths, compute_uv=False)
    if sv[-1] <= 1e-9:
        return "is singular (two voxel axes are parallel)"
    if np.linalg.det(a[:3, :3]) == 0:
        return "is singular (its voxel volume is below the smallest float64)"
    if not np.allclose(a[3], [0.0, 0.0, 0.0, 1.0]):
        return f"has bottom row {a[3].tolist()}, not [0, 0, 0, 1]"
    return None


def check_affine(affine: ArrayLike, source: str, field: str) -> np.ndarray:
    """``affine`` as a float64 array when it is a usable voxel-to-world transform.

    Every reader calls this where it makes a :class:`lazyvol.Volume` from a file's geometry, so a
    volume never carries a non-finite or singular affine.

    Parameters
    ----------
    affine : (4, 4) array-like
    source : str
        The file or store the affine comes from (named in the error).
    field : str
        The header fields it was computed from (e.g. ``"NIfTI srow_x/srow_y/srow_z"``).

    Raises
    ------
    lazyvol.errors.FormatError
        Non-finite, singular or malformed affine.
    """
    from .errors import FormatError

    problem = affine_problem(affine)
    if problem is not None:
        shown = _format_affine(np.asarray(affine, dtype=np.float64), 4, suppress_small=False)
        raise FormatError(
            f"{source}: the affine from {field} {problem}: {shown}; the header's geometry is "
            "corrupt (lazyvol does not invent geometry)"
        )
    return np.asarray(affine, dtype=np.float64)


def axis_map(ref: ArrayLike | None, affine: ArrayLike) -> np.ndarray | None:
    """(3, 4) map from a volume's voxel (i, j, k, 1) under ``affine`` to the voxel axes under
    ``ref`` (the affine at open), or None (no reference, or not a plain reindexing).

    Row ``a`` gives the open-time axis ``a`` index as ``m[a, :3] @ (i, j, k) + m[a, 3]``: a signed,
    possibly strided permutation when the volume was only sliced / flipped / transposed.
    """
    if ref is None:
        return None
    try:
        t = np.linalg.solve(np.asarray(ref, dtype=np.float64), np.asarray(affine, dtype=np.float64))
    except (np.linalg.LinAlgError, ValueError):
        return None
    r = np.round(t[:3, :4])
    if np.abs(t[:3, :4] - r).max() > 1e-3 or np.count_nonzero(r[:, :3]) != 3:
        return None
    if sorted(np.flatnonzero(r[:, :3]) % 3) != [0, 1, 2]:
        return None
    return r
