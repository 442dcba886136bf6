"""Pure affine math: slicing, voxel sizes and orientation codes. No I/O.

Conventions (see DESIGN.md): voxel axes are ``(i, j, k[, t])`` and the affine maps ``(i, j, k, 1)``
to RAS+ millimetres, as nibabel.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
from nibabel.orientations import aff2axcodes

__all__ = [
    "canonical_index",
    "orientation_codes",
    "slice_affine",
    "voxel_sizes",
]


def canonical_index(index: object, shape: Sequence[int]) -> tuple[slice | int, ...]:
    """Expand ``index`` into one normalised ``slice`` or ``int`` per axis of ``shape``.

    Parameters
    ----------
    index : object
        A basic numpy index: integers, slices and at most one ``Ellipsis``.
    shape : sequence of int
        The shape being indexed.

    Returns
    -------
    tuple
        One entry per axis: a ``slice`` with explicit ``start`` and ``step`` and a non-negative
        ``stop`` (``None`` when a negative step runs to index 0), or a non-negative ``int``.

    Raises
    ------
    IndexError
        For fancy indexing (arrays, lists, booleans), ``None``, more than one ``Ellipsis``, too many
        indices, an integer out of range, or a zero step.
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
            # A negative step that runs to the front gives stop == -1, which would mean "the last
            # element" if used as an index again: spell it None.
            out.append(slice(start, stop if stop >= 0 else None, step))
        elif isinstance(item, numbers.Integral) and not isinstance(item, bool):
            value = int(item)
            if not -n <= value < n:
                raise IndexError(f"index {value} is out of bounds for axis {axis} with size {n}")
            out.append(value % n)
        elif item is None:
            raise IndexError("new axes (None) are not supported on a Volume; index .data instead")
        else:
            raise IndexError(
                f"only integers, slices and '...' index a Volume (got {type(item).__name__}); "
                "use vol.data for fancy indexing"
            )
    return tuple(out)


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


def orientation_codes(affine: np.ndarray) -> str:
    """Three-letter orientation code such as ``'RAS'`` or ``'LPI'`` (nibabel's ``aff2axcodes``)."""
    codes = aff2axcodes(np.asarray(affine, dtype=np.float64))
    return "".join(c if c is not None else "?" for c in codes)
