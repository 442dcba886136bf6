"""Pure affine math: slicing, voxel sizes, orientation codes and grid comparison. No I/O.

Conventions (see DESIGN.md): voxel axes are ``(i, j, k[, t])`` and the affine maps ``(i, j, k, 1)``
to RAS+ millimetres, as nibabel.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Literal, SupportsIndex

import numpy as np
from numpy.typing import ArrayLike

from .errors import GridMismatchError

__all__ = [
    "axis_map",
    "axis_reorder",
    "LPS_TO_RAS",
    "affine_problem",
    "canonical_index",
    "check_affine",
    "check_same_grid",
    "dicom_affine",
    "dicom_cosines",
    "grid_difference",
    "orientations_match",
    "same_grid",
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


def column_lengths(matrix: ArrayLike) -> np.ndarray:
    """Euclidean length of each column of ``matrix`` (float64): ``sqrt(sum(x**2))`` as nibabel's
    ``voxel_sizes`` computes it (the same bits) where the column's largest entry lies within
    2**+-500 (its squares and their sum stay normal floats), else the column scaled by that entry
    first: a length float64 holds comes out as itself, not inf (a 1e300 mm voxel) or 0 (a 1e-170
    one), and no numpy overflow or underflow warning. A column holding inf: inf; NaN: NaN."""
    m = np.asarray(matrix, dtype=np.float64)
    big = np.max(np.abs(m), axis=0)
    safe = np.where(np.isfinite(big) & (big > 0), big, 1.0)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        plain = np.sqrt((m**2).sum(axis=0))
        lengths = safe * np.sqrt(((m / safe) ** 2).sum(axis=0))
    ordinary = (big >= 2.0**-500) & (big <= 2.0**500)
    out: np.ndarray = np.where(ordinary, plain, np.where(np.isfinite(big), lengths, big))
    return out


def voxel_sizes(affine: np.ndarray) -> tuple[float, float, float]:
    """Length of each voxel axis in millimetres (the column norms of the 3x3 part)."""
    sizes = column_lengths(np.asarray(affine, dtype=np.float64)[:3, :3])
    return (float(sizes[0]), float(sizes[1]), float(sizes[2]))


def _io_orientation(affine: np.ndarray) -> list[tuple[int, int] | None]:
    """nibabel's ``io_orientation`` (5.4): for each voxel axis, ``(world axis, +1/-1)`` it runs
    along most (None for a degenerate axis), from the polar decomposition of the 3x3 part; voxel
    axes taken strongest first (stable on ties), each world axis used once."""
    rzs = np.asarray(affine, dtype=np.float64)[:3, :3]
    zooms = column_lengths(rzs)
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


#: The relative rounding of an affine element stored in a NIfTI-1 header's float32 fields (sform
#: rows; the qform's quaternion and pixdim round about as much), with a margin: 4 float32 ulps.
#: A translation of 320 mm rounds by up to 1.5e-5 mm, more than 1e-3 of a 10 micron voxel.
FLOAT32_ROUNDING = 4 * float(np.finfo(np.float32).eps)


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
        of ``affine`` (in millimetres), plus the rounding of a NIfTI-1 header's 32-bit floats
        (:data:`FLOAT32_ROUNDING` of the element's size): a mask written to NIfTI from a volume
        with a float64 affine (DICOM, Zarr) is on that volume's grid.
    """
    a, b = tuple(int(x) for x in shape), tuple(int(x) for x in other_shape)
    spatial_ok = a == b or (broadcast_3d and len(b) == 3 and len(a) > 3 and b == a[:3])
    if not spatial_ok:
        return "shape"
    if affine is not None and other_affine is not None:
        ref = np.asarray(affine, dtype=np.float64)
        sizes = column_lengths(ref[:3, :3])
        atol = tol * float(max(sizes.min(), 1e-12))
        other = np.asarray(other_affine, dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            limit = atol + FLOAT32_ROUNDING * np.maximum(np.abs(ref), np.abs(other))
            if not np.all(np.abs(ref - other) <= limit):
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


def axis_reorder(
    shape: Sequence[int],
    affine: ArrayLike | None,
    other_shape: Sequence[int],
    other_affine: ArrayLike | None,
) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """How to lay a grid ``other`` out as the grid ``shape``/``affine`` when the two hold the same
    voxel centres in another axis order or direction: ``(axes, flipped)`` such that
    ``np.flip(other_array.transpose(axes), flipped)`` is on the first grid (its extra axes past
    the third kept in place), as :func:`grid_difference` judges it; None when no such reordering
    exists (another grid, a resampling needed) or nothing is to be done.

    A mask converted by another tool (dcm2niix flips the row axis of a DICOM series, FSL and ANTs
    reorient to their own conventions) is the same voxels in another order: taking its values
    through this reordering is exact (no interpolation), where a resampling would interpolate."""
    if affine is None or other_affine is None or len(shape) < 3 or len(other_shape) < 3:
        return None
    ref = np.asarray(affine, dtype=np.float64)
    other = np.asarray(other_affine, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        try:
            t = np.linalg.solve(other, ref)[:3, :3]  # ref voxel axes in other's voxel axes
        except np.linalg.LinAlgError:
            return None
    if not np.all(np.isfinite(t)):
        return None
    axes = tuple(int(np.argmax(np.abs(t[:, i]))) for i in range(3))
    if sorted(axes) != [0, 1, 2]:
        return None
    flipped = tuple(i for i in range(3) if t[axes[i], i] < 0)
    if axes == (0, 1, 2) and not flipped:
        return None
    moved = [int(other_shape[a]) for a in axes] + [int(n) for n in other_shape[3:]]
    index = np.eye(4)  # new voxel index -> other's voxel index
    index[:, :3] = 0.0
    for i, a in enumerate(axes):
        sign = -1.0 if i in flipped else 1.0
        index[a, i] = sign
        index[a, 3] = moved[i] - 1 if sign < 0 else 0.0
    diff = grid_difference(shape, ref, moved, other @ index, broadcast_3d=True)
    return (axes + tuple(range(3, len(other_shape))), flipped) if diff is None else None


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
    with np.errstate(over="ignore", under="ignore"):  # (a voxel volume past float64 is not 0)
        det = np.linalg.det(a[:3, :3])
    if det == 0:
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
