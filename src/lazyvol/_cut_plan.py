"""A cut of a reader's array that drops axes or reverses them, still read without dask.

``vol[..., t]`` (one volume of a 4D series) and ``vol[:, :, ::-1]`` select exactly the voxels of a
box of the source, taken with integer indices (dropping axes) or in reverse order. A
:class:`CutPlan` is that box's :class:`~lazyvol.chunking.PlanArray` and the index taken of it once
read: :meth:`CutPlan.compute` reads the box in this process (no graph, no scheduler, no import of
dask) as a plain box's direct read does; :meth:`CutPlan.to_dask` gives ``box.to_dask()[index]``,
the array the cut was before. Cuts with steps other than +-1 are not made here: their box holds
voxels the cut leaves out (``vol[::4, ::4, ::4]`` of a 4 GiB volume reads it all), so they stay
dask's, which holds only the blocks in flight; :func:`stepped_cut` marks their array.

A writer rechunking a cut into its write blocks plans the blocks on the region instead
(:func:`cut_of`, :func:`rechunk_cut`): dask's rechunk of the cut's array holds each source block
until all the blocks made from it are written (about the whole volume for one read in whole
planes and written in blocks a fraction of a plane wide).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .chunking import PlanArray, rechunk_source

if TYPE_CHECKING:
    from collections.abc import Sequence

    import dask.array as da

__all__ = ["CutPlan", "cut_of", "cut_plan", "rechunk_cut", "step_reads", "stepped_cut"]

#: Attribute of a cut's dask array holding its region, index and the array's name then.
_CUT_ATTR = "_lazyvol_cut"


def cut_plan(region: PlanArray, index: tuple[slice | int, ...]) -> CutPlan | None:
    """``region[index]`` as a :class:`CutPlan` when ``index`` (one entry per axis of ``region``,
    relative to it, as :func:`lazyvol.volume._cut` makes it) takes every voxel of ``region``:
    integers on axes of one voxel and slices of step +-1 over the whole axis; else None."""
    for item, n in zip(index, region.shape, strict=True):
        if isinstance(item, int):
            if n != 1:
                return None
        elif item.step not in (1, -1) or len(range(n)[item]) != n:
            return None
    # (a copy without the region's dask array: ``vol.data``, once made, is that array, and an
    # assignment into it after the cut must not reach the cut, as it does not reach dask's cut)
    return CutPlan(replace(region), tuple(index))


@dataclass(frozen=True, eq=False)
class CutPlan:
    """``region[index]``: a :class:`~lazyvol.chunking.PlanArray` and the index that drops or
    reverses its axes (made by :func:`cut_plan`)."""

    region: PlanArray
    index: tuple[slice | int, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(
            n
            for item, n in zip(self.index, self.region.shape, strict=True)
            if isinstance(item, slice)
        )

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.region.dtype

    @property
    def size(self) -> int:
        return self.region.size

    @property
    def nbytes(self) -> int:
        return self.region.nbytes

    @property
    def plan(self) -> Any:
        """The reader's plan the region reads (as :attr:`PlanArray.plan`)."""
        return self.region.plan

    @property
    def chunks(self) -> tuple[tuple[int, ...], ...]:
        """The chunks of :meth:`to_dask`, as dask slices them (no dask import): the region's,
        an axis reversed in reverse order, an axis taken by an integer dropped."""
        return tuple(
            axis if item.step == 1 else axis[::-1]
            for item, axis in zip(self.index, self.region.chunks, strict=True)
            if isinstance(item, slice)
        )

    def to_dask(self) -> da.Array:
        """``region.to_dask()[index]`` (made once)."""
        cached = self.__dict__.get("_dask")
        if cached is None:
            cached = self.region.to_dask()[self.index]
            setattr(cached, _CUT_ATTR, (self.region, self.index, cached.name))  # (for cut_of)
            object.__setattr__(self, "_dask", cached)
            object.__setattr__(self, "_dask_name", cached.name)
        return cached

    def assigned(self) -> bool:
        """True when :meth:`to_dask`'s array has been assigned into since it was made (its name
        changes): the plan no longer gives its values."""
        cached = self.__dict__.get("_dask")
        return cached is not None and cached.name != self.__dict__.get("_dask_name")

    def __getstate__(self) -> dict[str, Any]:
        # (as PlanArray: the dask array travels only when assigned into)
        state = dict(self.__dict__)
        if not self.assigned():
            state.pop("_dask", None)
            state.pop("_dask_name", None)
        return state

    def compute(self) -> np.ndarray:
        """Read the region in this process and take the index (no graph, no scheduler): the
        values of ``to_dask().compute()``, in the region's memory order; reversed axes are reversed
        in place (a few MiB at a time), so the peak stays about the result's size."""
        full = self.region.compute()
        for axis, item in enumerate(self.index):
            if isinstance(item, slice) and item.step == -1:
                _reverse_in_place(full, axis)
        # (a copy of the reversed view would hold the volume twice: dask's cut holds ~1.2x)
        taken: tuple[int | slice, ...] = tuple(
            0 if isinstance(item, int) else slice(None) for item in self.index
        )
        return full[taken]

    def recut(self, canon: tuple[slice | int, ...]) -> tuple[slice | int, ...]:
        """The index of ``region`` that ``self[canon]`` takes (``canon``: canonical, one entry
        per axis of this cut), for a cut of a cut to be planned on the region again."""
        out: list[slice | int] = []
        rest = iter(canon)
        for item, n in zip(self.index, self.region.shape, strict=True):
            if isinstance(item, int):
                out.append(item)
                continue
            picked = range(n)[item][next(rest)]
            if isinstance(picked, int):
                out.append(picked)
            else:
                stop = picked.stop if picked.stop >= 0 else None
                out.append(slice(picked.start, stop, picked.step))
        return tuple(out)


def stepped_cut(box: PlanArray, index: tuple[slice | int, ...]) -> da.Array:
    """``box.to_dask()[index]`` for a cut with steps other than +-1 (read through dask, see the
    module's note), marked so that :func:`cut_of` finds its box and index again.

    The box is copied without its dask array (as :func:`cut_plan` does): ``box`` may be the
    source volume's own plan, whose dask array (``vol.data``) an assignment after the cut
    changes in place, and a writer planning this cut on its box (:func:`rechunk_cut`) would
    read that assignment, which the cut made before it does not hold."""
    box = replace(box)
    arr = box.to_dask()[index]
    setattr(arr, _CUT_ATTR, (box, tuple(index), arr.name))
    return arr


def cut_of(arr: Any) -> tuple[PlanArray, tuple[slice | int, ...]] | None:
    """``(region, index)`` of the cut whose dask array ``arr`` is (a :class:`CutPlan`'s
    :meth:`CutPlan.to_dask`, a :func:`stepped_cut`), unless ``arr`` was assigned into since (its
    name changed); else None."""
    tag = getattr(arr, _CUT_ATTR, None)
    if not isinstance(tag, tuple) or len(tag) != 3 or tag[2] != getattr(arr, "name", None):
        return None
    return tag[0], tag[1]


def step_reads(index: tuple[slice | int, ...]) -> int:
    """How many voxels a block of the cut ``index`` reads per voxel it holds when planned on its
    region (:func:`rechunk_cut`): the product of the steps."""
    return math.prod(abs(item.step) for item in index if isinstance(item, slice))


def rechunk_cut(
    region: PlanArray,
    index: tuple[slice | int, ...],
    chunks: Sequence[int],
    *,
    read_ahead: bool = False,
) -> da.Array:
    """``region[index]`` (a cut found by :func:`cut_of`) in blocks of ``chunks`` (a block size
    per axis of the cut), planned on the region: each block is read from the source straight
    into the region's block it comes from, then reversed, stepped or its axis dropped
    (:func:`lazyvol.chunking.rechunk_source` on the region, then the index). A block of a cut
    with steps reads :func:`step_reads` times its voxels.

    ``dask.array.rechunk`` of the cut's own array keeps each source block until every block made
    from it is done: a volume read in whole planes (a NIfTI file's slabs) and written in blocks a
    fraction of a plane wide held about the whole volume. ``read_ahead`` as for
    :func:`~lazyvol.chunking.rechunk_source`.
    """
    import dask.array as da

    shape = tuple(
        len(range(n)[item])
        for item, n in zip(index, region.shape, strict=True)
        if isinstance(item, slice)
    )
    norm = da.core.normalize_chunks(tuple(chunks), shape, dtype=region.dtype)
    axes = iter(norm)
    region_chunks: list[tuple[int, ...]] = []
    for item, n in zip(index, region.shape, strict=True):
        if isinstance(item, int):
            region_chunks.append((int(n),))  # (an axis of one voxel, taken by its index)
            continue
        # (the region is the cut's box: its first or last voxel is the cut's first)
        spans = [c * abs(item.step) for c in next(axes)]
        spans[-1] = int(n) - sum(spans[:-1])
        region_chunks.append(tuple(spans if item.step > 0 else spans[::-1]))
    source = rechunk_source(region.to_dask(), tuple(region_chunks), read_ahead=read_ahead)
    out = source[index]
    return out if out.chunks == norm else out.rechunk(norm)


#: Bytes reversed at once by :func:`_reverse_in_place` (its only allocation).
_SWAP_BYTES = 1 << 24


def _reverse_in_place(arr: np.ndarray, axis: int) -> None:
    """Reverse ``arr`` along ``axis`` in place, a piece of at most a few MiB at a time.

    A piece is the whole of ``axis`` at one index of the outer axes, those of the largest
    strides (the slowest in memory) taken until a piece fits: each piece is read and written
    near where it lies (swapping whole slabs along an axis of small stride touched the whole
    array for every pair)."""
    if arr.shape[axis] < 2:
        return
    others = sorted((ax for ax in range(arr.ndim) if ax != axis), key=lambda ax: -arr.strides[ax])
    outer: list[int] = []
    size = arr.nbytes
    for ax in others:
        if size <= _SWAP_BYTES:
            break
        outer.append(ax)
        size //= arr.shape[ax]
    inner_axis = axis - sum(1 for ax in outer if ax < axis)
    for at in np.ndindex(*(arr.shape[ax] for ax in outer)):
        index: list[int | slice] = [slice(None)] * arr.ndim
        for ax, i in zip(outer, at, strict=True):
            index[ax] = i
        piece = arr[tuple(index)]
        piece[...] = np.flip(piece, inner_axis).copy()
