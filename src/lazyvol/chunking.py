"""Chunk plans and the bridge from small picklable read plans to dask arrays.

Readers describe a source with a frozen, picklable *plan* and a module-level function
``read_block(plan, index) -> numpy.ndarray`` that returns the block ``index`` (a tuple of slices)
of the volume. :func:`plan_to_dask` turns the pair into a dask array whose every task is
``read_block(plan, slices)``: no open file, dataset or image object lives in the graph, so it runs
unchanged on threads, processes and ``dask.distributed`` workers.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np

from .config import chunk_budget
from .sources import fingerprint

__all__ = [
    "SubPlan",
    "auto_chunks",
    "file_fingerprint",
    "normalize_chunks",
    "plan_to_dask",
    "rechunk_source",
    "source_of",
    "sub_array",
]

#: Attribute set on the dask arrays :func:`plan_to_dask` makes: ``(read_block, plan, offsets)``.
#: Any dask operation returns a new array without it, so only unmodified source arrays carry it.
_SOURCE_ATTR = "_lazyvol_source"


def auto_chunks(
    shape: Sequence[int],
    itemsize: int,
    *,
    spatial_ndim: int = 3,
    budget: int | None = None,
) -> tuple[int, ...]:
    """Chunk shape aligned to a Fortran-ordered (NIfTI) or slice-by-slice (DICOM) layout.

    Whole fast axes are kept together and the slowest spatial axis is cut into slabs of at most
    ``budget`` bytes; axes after the spatial ones (time, echo, ...) get one index per chunk, so each
    chunk is a contiguous run of bytes on disk.

    Parameters
    ----------
    shape : sequence of int
        Volume shape ``(i, j, k[, t, ...])``.
    itemsize : int
        Bytes per voxel of the array the chunks will hold.
    spatial_ndim : int
        How many leading axes are spatial (3 for volumes).
    budget : int, optional
        Bytes per chunk; default :func:`lazyvol.config.chunk_budget`.

    Returns
    -------
    tuple of int
        One chunk length per axis.
    """
    budget = chunk_budget() if budget is None else int(budget)
    elements = max(1, budget // max(1, itemsize))
    chunks: list[int] = []
    running = 1
    split = False
    for axis, n in enumerate(shape):
        n = max(1, int(n))
        if axis >= spatial_ndim:
            chunks.append(1)
            continue
        if split:
            chunks.append(1)
        elif running * n <= elements:
            chunks.append(n)
            running *= n
        else:
            chunks.append(max(1, elements // running))
            split = True
    return tuple(chunks)


def normalize_chunks(
    chunks: object,
    shape: Sequence[int],
    dtype: np.dtype,
    *,
    spatial_ndim: int = 3,
) -> tuple[tuple[int, ...], ...]:
    """Turn ``"auto"`` or any dask chunk specification into explicit per-axis chunk lengths."""
    if chunks is None or (isinstance(chunks, str) and chunks == "auto"):
        chunks = auto_chunks(shape, np.dtype(dtype).itemsize, spatial_ndim=spatial_ndim)
    return da.core.normalize_chunks(chunks, tuple(shape), dtype=np.dtype(dtype))


def plan_to_dask(
    read_block: Callable[[Any, tuple[slice, ...]], np.ndarray],
    plan: Any,
    shape: Sequence[int],
    chunks: tuple[tuple[int, ...], ...],
    dtype: np.dtype,
    name: str,
) -> da.Array:
    """Dask array whose block ``b`` is ``read_block(plan, slices_of(b))``.

    Parameters
    ----------
    read_block : callable
        Module-level function (picklable by reference) returning exactly the block asked for, with
        dtype ``dtype``.
    plan : object
        Small picklable description of the source.
    shape, chunks, dtype
        Geometry of the resulting array; ``chunks`` explicit (see :func:`normalize_chunks`).
    name : str
        Dask name; derive it from :func:`file_fingerprint` so equal sources share keys.
    """
    starts = [np.concatenate([[0], np.cumsum(c)]).astype(int) for c in chunks]
    dsk: dict[tuple, tuple] = {}
    for block in itertools.product(*(range(len(c)) for c in chunks)):
        slices = tuple(
            slice(int(starts[ax][b]), int(starts[ax][b + 1])) for ax, b in enumerate(block)
        )
        dsk[(name, *block)] = (read_block, plan, slices)
    meta = np.empty((0,) * len(shape), dtype=dtype)
    arr = da.Array(dsk, name, chunks, meta=meta, shape=tuple(shape))
    setattr(arr, _SOURCE_ATTR, (read_block, plan))
    return arr


@dataclass(frozen=True)
class SubPlan:
    """A region of another plan's array: block ``index`` of the region is block
    ``index + offsets`` of the source."""

    read_block: Callable[[Any, tuple[slice, ...]], np.ndarray]
    plan: Any
    offsets: tuple[int, ...]


def read_sub_block(sub: SubPlan, index: tuple[slice, ...]) -> np.ndarray:
    """Read block ``index`` of a region (a dask task)."""
    shifted = tuple(
        slice(sl.start + off, sl.stop + off) for sl, off in zip(index, sub.offsets, strict=True)
    )
    return sub.read_block(sub.plan, shifted)


def source_of(arr: da.Array) -> tuple[Callable[..., np.ndarray], Any] | None:
    """``(read_block, plan)`` of an unmodified array made by :func:`plan_to_dask`, else None."""
    src = getattr(arr, _SOURCE_ATTR, None)
    return src if isinstance(src, tuple) else None


def sub_array(arr: da.Array, bounds: tuple[tuple[int, int], ...]) -> da.Array | None:
    """The region ``[lo, hi)`` per axis of a source array, as a new source array that reads only
    that region (slicing a plain dask array would read every chunk it touches whole).

    Chunk boundaries stay where the source had them, so reads stay aligned to the on-disk layout.
    Returns None when ``arr`` is not an unmodified source array.
    """
    src = source_of(arr)
    if src is None:
        return None
    read_block, plan = src
    offsets = tuple(lo for lo, _ in bounds)
    if isinstance(plan, SubPlan):
        read_block, offsets = (
            plan.read_block,
            tuple(a + b for a, b in zip(plan.offsets, offsets, strict=True)),
        )
        plan = plan.plan
    new_chunks = []
    for (lo, hi), chunks in zip(bounds, arr.chunks, strict=True):
        edges = np.concatenate([[0], np.cumsum(chunks)])
        cuts = [lo, *[int(e) for e in edges if lo < e < hi], hi]
        new_chunks.append(tuple(b - a for a, b in itertools.pairwise(cuts)))
    shape = tuple(hi - lo for lo, hi in bounds)
    name = f"{arr.name}-sub-{hashlib.sha256(repr((offsets, shape, new_chunks)).encode()).hexdigest()[:16]}"
    return plan_to_dask(
        read_sub_block,
        SubPlan(read_block, plan, offsets),
        shape,
        tuple(new_chunks),
        arr.dtype,
        name,
    )


def file_fingerprint(paths: Sequence[str | os.PathLike[str]], **options: Any) -> str:
    """Token naming a source: each file's :class:`~lazyvol.sources.SourceStamp` plus the options.

    Kept for callers of the old name; see :func:`lazyvol.sources.fingerprint`.
    """
    return fingerprint(paths, **options)


def rechunk_source(arr: da.Array, chunks: Any) -> da.Array:
    """``arr`` with other chunks. An unmodified reader array is planned again with the new chunks
    (each block read once, straight into its new shape); any other array goes through
    ``dask.array.rechunk``, which may hold several source blocks at once."""
    src = source_of(arr)
    if src is None:
        return arr.rechunk(chunks)
    norm = da.core.normalize_chunks(chunks, arr.shape, dtype=arr.dtype)
    if norm == arr.chunks:
        return arr
    read_block, plan = src
    name = f"{arr.name}-rc-{hashlib.sha256(repr(norm).encode()).hexdigest()[:16]}"
    return plan_to_dask(read_block, plan, arr.shape, norm, arr.dtype, name)
