"""Chunk plans and the bridge from small picklable read plans to dask arrays.

Readers describe a source with a frozen, picklable *plan* and a module-level function
``read_block(plan, index) -> numpy.ndarray`` that returns the block ``index`` (a tuple of slices)
of the volume. :func:`plan_to_dask` turns the pair into a dask array whose every task is
``read_block(plan, slices)``: no open file, dataset or image object lives in the graph, so it runs
unchanged on threads, processes and ``dask.distributed`` workers.

:func:`plan_array` keeps the pair as a :class:`PlanArray` instead: opening a file and cutting a
region out of it then cost no dask import and no graph, and :meth:`PlanArray.compute` runs the
read plan directly (a slice or a patch is one or two ``read_block`` calls). ``Volume.data`` turns
it into the same dask array :func:`plan_to_dask` makes, the first time it is asked for.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import scheduling
from ._chunk_spec import checked_spec
from ._readahead import after_read, before_read
from .config import chunk_budget, configured_chunk_budget
from .errors import OptionError
from .scheduling import (  # noqa: F401  (re-exported: callers import them from here)
    LOCAL_SCHEDULER_ENV,
    direct_compute_allowed,
    local_or_client_get,
    prefer_local_scheduler,
    runs_one_task_at_a_time,
)
from .sources import fingerprint

if TYPE_CHECKING:
    import dask.array as da

__all__ = [
    "PlanArray",
    "SubPlan",
    "as_plan_array",
    "auto_chunks",
    "file_fingerprint",
    "normalize_chunks",
    "plan_array",
    "plan_to_dask",
    "rechunk_source",
    "plan_of",
    "source_of",
    "sub_array",
]

#: Attribute set on the dask arrays :func:`plan_to_dask` makes: ``(read_block, plan, name)``.
#: Any dask operation returns a new array without it, so only unmodified source arrays carry it;
#: an assignment into the array (``arr[0, 0, 0] = 7``, dask's in-place ``__setitem__``) keeps the
#: attribute but gives the array a new name, so :func:`source_of` checks the name too.
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
    ``budget`` bytes. When a whole volume fits the budget at least twice, a chunk holds as many
    volumes as fit along the first axis after the spatial ones (time, echo, ...); other such axes
    get one index per chunk. Each chunk is a contiguous run of bytes on disk.

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
            # Whole volumes smaller than the budget: several per chunk along the first axis after
            # the spatial ones (still one contiguous run in a NIfTI file; one file per slice and
            # volume for DICOM either way). One volume per chunk made a 100-volume 64x64x36 fMRI
            # mean 100 dask tasks: ~90 ms against ~45 ms in 4 chunks (dask's own cost per chunk
            # is ~0.4 ms in dask 2026.8).
            if axis == spatial_ndim and not split and running * 2 <= elements:
                chunks.append(max(1, min(n, elements // running)))
                split = True
            else:
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
    default_budget: int | None = None,
    where: str = "",
) -> tuple[tuple[int, ...], ...]:
    """Turn ``"auto"`` or any dask chunk specification into explicit per-axis chunk lengths.

    ``default_budget``: a reader's own default bytes per ``"auto"`` chunk (DICOM slabs, inflated
    ``.nii.gz`` blocks), used while the user has configured no chunk budget
    (:func:`lazyvol.config.configured_chunk_budget`); a configured budget always wins.
    ``where``: the source, for messages.

    Raises
    ------
    OptionError
        ``chunks`` is not a chunk specification for ``shape`` (a tuple of another length, zero
        or negative lengths, an unknown string): the message says what it takes.
    """
    chunks = checked_spec(chunks, shape, where)
    if chunks is None or (isinstance(chunks, str) and chunks == "auto"):
        budget = None
        if default_budget is not None and configured_chunk_budget() is None:
            budget = min(chunk_budget(), int(default_budget))
        chunks = auto_chunks(
            shape, np.dtype(dtype).itemsize, spatial_ndim=spatial_ndim, budget=budget
        )
    explicit = _explicit_chunks(chunks, shape)
    if explicit is not None:
        return explicit
    at = f"{where}: " if where else ""
    if isinstance(chunks, tuple | list) and len(chunks) != len(shape):
        raise OptionError(
            f"{at}chunks={chunks!r} gives {len(chunks)} chunk lengths, but the volume has "
            f"{len(shape)} axes (shape {tuple(int(n) for n in shape)}): give {len(shape)}, one per "
            "axis (-1 or None for a whole axis), or a dict {axis: length}"
        )
    import dask.array as da

    try:
        return da.core.normalize_chunks(chunks, tuple(shape), dtype=np.dtype(dtype))
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        raise OptionError(
            f"{at}chunks={chunks!r} is not a chunk specification for shape "
            f"{tuple(int(n) for n in shape)} ({exc}); give positive lengths per axis, a dict "
            "{axis: length}, a size such as '32MiB', or 'auto'"
        ) from None


def _explicit_chunks(chunks: object, shape: Sequence[int]) -> tuple[tuple[int, ...], ...] | None:
    """Regular chunk lengths (one positive int per axis) spelled out as dask does, without dask;
    None for any other specification (dask's ``normalize_chunks`` handles those)."""
    if not isinstance(chunks, tuple | list) or len(chunks) != len(shape):
        return None
    out: list[tuple[int, ...]] = []
    for c, n in zip(chunks, shape, strict=True):
        if isinstance(c, bool) or not isinstance(c, int | np.integer) or int(c) < 1:
            return None
        c, n = int(c), int(n)
        if n == 0:
            out.append((0,))
            continue
        c = min(c, n)
        out.append((c,) * (n // c) + ((n % c,) if n % c else ()))
    return tuple(out)


def plan_to_dask(
    read_block: Callable[[Any, tuple[slice, ...]], np.ndarray],
    plan: Any,
    shape: Sequence[int],
    chunks: tuple[tuple[int, ...], ...],
    dtype: np.dtype,
    name: str,
    *,
    read_ahead: bool = False,
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
    read_ahead : bool
        Bound the read-ahead of a chained first pass (``lazyvol._readahead``), counted under
        ``name``: only for a consumer that takes one block at a time per worker (lazyvol's
        writers), with a ``name`` of its own per pass.
    """
    import dask.array as da

    prefer_local_scheduler()
    meta = np.empty((0,) * len(shape), dtype=dtype)
    if not sequential_reads(plan) or runs_one_task_at_a_time():
        # (One task at a time: dask's order would run a chain of reads to its end before any
        # block's consumer, holding every block of the volume; unchained, the reads come last
        # block first, seeking back through the stream's own seek points: slower, bounded.)
        arr = da.Array(_read_layer(read_block, plan, shape, chunks, name), name, chunks, meta=meta)
        setattr(arr, _SOURCE_ATTR, (read_block, plan, name))
        return arr
    dsk: dict[tuple, tuple] = {}
    blocks = _blocks(chunks)
    # One decompression stream serves every read: chain the reads in file order (each waits
    # for a marker set when the previous block is read), or dask's scheduling order (which
    # often starts from the last block) would inflate the file to its end first and then
    # seek back for every block. While one worker reads, the other reduces the blocks read.
    # With ``read_ahead`` (a writer's pass), each read also waits while a few blocks it read
    # are still held (:mod:`lazyvol._readahead`), so a slow writer holds a few blocks, not a
    # pile.
    marker = None
    stream = name if read_ahead else ""
    for block, slices in sorted(blocks, key=lambda b: _file_order(b[1])):
        key = (name, *block)
        dsk[key] = (_read_after, read_block, plan, slices, marker, stream, marker is None)
        marker = (f"{name}-read-order", *block)
        dsk[marker] = (_read_done, key)
    arr = da.Array(dsk, name, chunks, meta=meta, shape=tuple(shape))
    setattr(arr, _SOURCE_ATTR, (read_block, plan, name))
    return arr


def _read_layer(
    read_block: Callable[[Any, tuple[slice, ...]], np.ndarray],
    plan: Any,
    shape: Sequence[int],
    chunks: tuple[tuple[int, ...], ...],
    name: str,
) -> Any:
    """The graph of unchained reads: one Blockwise layer whose task ``(name, *b)`` is
    ``read_block(plan, slices_of(b))``, the layer ``da.from_array`` makes for its getter.

    A Blockwise producer lets dask's graph optimization fuse each read with the blockwise work
    done on its block (a reduction's per-chunk step, ``astype``, arithmetic): one task per block
    instead of two or more, and the block is consumed on the thread that read it. The keys and
    what each computes are those of a plain dict of ``(read_block, plan, slices)`` tasks.
    """
    from dask.array.core import graph_from_arraylike

    return graph_from_arraylike(
        plan, chunks, tuple(shape), name, getitem=read_block, inline_array=True
    )


def sequential_reads(plan: Any) -> bool:
    """True when ``plan`` says its blocks are best read in file order, one after the other
    (``plan.sequential_reads()``: a gzip stream without a saved seek index)."""
    inner = plan.plan if isinstance(plan, SubPlan) else plan
    probe = getattr(inner, "sequential_reads", None)
    return bool(probe()) if callable(probe) else False


def _file_order(slices: tuple[slice, ...]) -> tuple[int, ...]:
    """Sort key of a block in a Fortran-ordered file: its start, last axis most significant."""
    return tuple(int(sl.start) for sl in reversed(slices))


def _read_after(
    read_block: Callable[[Any, tuple[slice, ...]], np.ndarray],
    plan: Any,
    index: tuple[slice, ...],
    _previous: None,
    stream: str = "",
    first: bool = False,
) -> np.ndarray:
    """``read_block(plan, index)`` once the previous block in file order has been read, and
    (for ``stream``, the array's name) once few enough of the blocks read before are still held
    (:func:`lazyvol._readahead.before_read`; ``first``: the pass's first block, which starts the
    count afresh)."""
    if stream:
        before_read(stream, restart=first)
    block = read_block(plan, index)
    if stream:
        after_read(stream, block)
    return block


def _read_done(_block: np.ndarray) -> None:
    """Marker that a block has been read (holds nothing, so the block is freed with its users)."""
    return None


def _blocks(
    chunks: tuple[tuple[int, ...], ...],
) -> list[tuple[tuple[int, ...], tuple[slice, ...]]]:
    """Every block of a chunk grid: ``(block index, slices)`` in C order (dask's key order)."""
    starts = [np.concatenate([[0], np.cumsum(c)]).astype(int) for c in chunks]
    out = []
    for block in itertools.product(*(range(len(c)) for c in chunks)):
        slices = tuple(
            slice(int(starts[ax][b]), int(starts[ax][b + 1])) for ax, b in enumerate(block)
        )
        out.append((block, slices))
    return out


def plan_array(
    read_block: Callable[[Any, tuple[slice, ...]], np.ndarray],
    plan: Any,
    shape: Sequence[int],
    chunks: tuple[tuple[int, ...], ...],
    dtype: np.dtype,
    name: str,
) -> PlanArray:
    """A :class:`PlanArray`: the arguments of :func:`plan_to_dask`, turned into dask on demand."""
    return PlanArray(
        read_block, plan, tuple(int(n) for n in shape), tuple(chunks), np.dtype(dtype), name
    )


#: ``PlanArray.compute`` reads blocks on this many threads at most (native reads, inflate and
#: numpy scaling release the GIL).
_MAX_READ_THREADS = 8


@dataclass(frozen=True, eq=False)
class PlanArray:
    """A read plan and its chunk grid, not yet a dask array.

    The reader's array before anything but cutting a region has been done to it:
    :meth:`sub` cuts a region (still a plan), :meth:`compute` reads it in this process without
    building a graph or starting a scheduler, :meth:`to_dask` gives the dask array (cached).
    """

    read_block: Callable[[Any, tuple[slice, ...]], np.ndarray]
    plan: Any
    shape: tuple[int, ...]
    chunks: tuple[tuple[int, ...], ...]
    dtype: np.dtype
    name: str

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def numblocks(self) -> int:
        return int(np.prod([len(c) for c in self.chunks], dtype=np.int64))

    def to_dask(self) -> da.Array:
        """The dask array whose block ``b`` is ``read_block(plan, slices_of(b))`` (made once)."""
        cached = self.__dict__.get("_dask")
        if cached is None:
            cached = plan_to_dask(
                self.read_block, self.plan, self.shape, self.chunks, self.dtype, self.name
            )
            object.__setattr__(self, "_dask", cached)
        return cached

    def assigned(self) -> bool:
        """True when the dask array of this plan (:meth:`to_dask`, shared by every volume built
        on it) has been assigned into since (``vol.data[0, 0, 0] = 7``): the plan no longer
        gives its values."""
        cached = self.__dict__.get("_dask")
        return cached is not None and source_of(cached) is None

    def __getstate__(self) -> dict[str, Any]:
        # The cached dask array loses its source attribute in a pickle (dask pickles its graph
        # alone): unpickled, it would read as assigned into and every direct read would go
        # through dask. It is left out unless it was assigned into (its graph then holds values
        # the plan does not give).
        state = dict(self.__dict__)
        if not self.assigned():
            state.pop("_dask", None)
        return state

    def sub(self, bounds: tuple[tuple[int, int], ...]) -> PlanArray:
        """The region ``[lo, hi)`` per axis, as a plan that reads only that region."""
        read_block, plan, shape, chunks, name = _sub_plan(
            self.read_block, self.plan, self.chunks, self.name, bounds
        )
        return PlanArray(read_block, plan, shape, chunks, self.dtype, name)

    def compute(self) -> np.ndarray:
        """Read every block in this process into one array (no graph, no scheduler).

        Blocks go straight into their place in the result, so the peak is the result plus the
        blocks in flight; several blocks are read on a few threads. Errors are those of
        ``read_block``, exactly as a dask compute raises them.
        """
        blocks = _blocks(self.chunks)
        sequential = sequential_reads(self.plan)
        if sequential:
            blocks.sort(key=lambda b: _file_order(b[1]))
        if len(blocks) == 1:
            only = np.asarray(self.read_block(self.plan, blocks[0][1]))
            return only if only.flags.writeable else only.copy()
        # The result takes the memory order of the first block read: a reader's blocks are laid
        # out as their file is (NIfTI and DICOM: the first axis fastest, Fortran order), and
        # copying them into a C array would transpose every byte (a 64-slice slab of a
        # 512 x 512 int16 .nii: ~5x the time of the read itself).
        made: list[np.ndarray] = []
        lock = threading.Lock()

        def fill(item: tuple[tuple[int, ...], tuple[slice, ...]]) -> None:
            block = self.read_block(self.plan, item[1])
            with lock:
                if not made:
                    fortran = _first_axis_fastest(np.asarray(block))
                    made.append(np.empty(self.shape, self.dtype, order="F" if fortran else "C"))
            made[0][item[1]] = block

        workers = 1 if sequential else min(len(blocks), os.cpu_count() or 1, _MAX_READ_THREADS)
        if workers <= 1:
            for item in blocks:
                fill(item)
            return made[0]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers, thread_name_prefix="lazyvol-read") as pool:
            for _ in pool.map(fill, blocks):
                pass
        return made[0]


def _first_axis_fastest(block: np.ndarray) -> bool:
    """True when ``block``'s strides grow from the first axis to the last (Fortran-like), also
    for a view into a larger buffer (a 4-D NIfTI block of a few slices of whole volumes)."""
    steps = [abs(s) for s, n in zip(block.strides, block.shape, strict=True) if n > 1]
    return len(steps) > 1 and all(a <= b for a, b in itertools.pairwise(steps))


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


def as_plan_array(arr: Any) -> PlanArray | None:
    """The :class:`PlanArray` behind an unmodified source array made by :func:`plan_to_dask`
    (its dask array is ``arr`` itself), else None: readers that build their dask array directly
    (DICOM, Zarr) get the same direct reads of small selections as a reader returning a plan."""
    src = source_of(arr)
    if src is None:
        return None
    plan = PlanArray(
        src[0],
        src[1],
        tuple(int(n) for n in arr.shape),
        tuple(tuple(int(c) for c in ax) for ax in arr.chunks),
        np.dtype(arr.dtype),
        str(arr.name),
    )
    object.__setattr__(plan, "_dask", arr)
    return plan


def source_of(arr: da.Array) -> tuple[Callable[..., np.ndarray], Any] | None:
    """``(read_block, plan)`` of an unmodified array made by :func:`plan_to_dask`, else None.

    An array assigned into since (``arr[mask] = 0`` replaces its graph and name in place) is no
    longer the plan's array: None, so its values come from its own graph."""
    src = getattr(arr, _SOURCE_ATTR, None)
    if not isinstance(src, tuple) or len(src) != 3 or src[2] != getattr(arr, "name", None):
        return None
    return src[0], src[1]


def plan_of(arr: Any) -> Any:
    """The reader's plan behind a :class:`PlanArray`, an unmodified source array or a region of
    one (a :class:`SubPlan` unwrapped), else None."""
    if isinstance(arr, PlanArray):
        plan = arr.plan
    else:
        src = source_of(arr) if arr is not None else None
        if src is None:
            return None
        plan = src[1]
    return plan.plan if isinstance(plan, SubPlan) else plan


def _sub_plan(
    read_block: Callable[..., np.ndarray],
    plan: Any,
    chunks: tuple[tuple[int, ...], ...],
    name: str,
    bounds: tuple[tuple[int, int], ...],
) -> tuple[Callable[..., np.ndarray], SubPlan, tuple[int, ...], tuple, str]:
    offsets = tuple(lo for lo, _ in bounds)
    if isinstance(plan, SubPlan):
        read_block, offsets = (
            plan.read_block,
            tuple(a + b for a, b in zip(plan.offsets, offsets, strict=True)),
        )
        plan = plan.plan
    new_chunks = []
    for (lo, hi), axis_chunks in zip(bounds, chunks, strict=True):
        edges = np.concatenate([[0], np.cumsum(axis_chunks)])
        cuts = [lo, *[int(e) for e in edges if lo < e < hi], hi]
        new_chunks.append(tuple(b - a for a, b in itertools.pairwise(cuts)))
    shape = tuple(hi - lo for lo, hi in bounds)
    sub_name = (
        f"{name}-sub-{hashlib.sha256(repr((offsets, shape, new_chunks)).encode()).hexdigest()[:16]}"
    )
    return read_sub_block, SubPlan(read_block, plan, offsets), shape, tuple(new_chunks), sub_name


def sub_array(arr: da.Array, bounds: tuple[tuple[int, int], ...]) -> da.Array | None:
    """The region ``[lo, hi)`` per axis of a source array, as a new source array that reads only
    that region (slicing a plain dask array would read every chunk it touches whole).

    Chunk boundaries stay where the source had them, so reads stay aligned to the on-disk layout.
    Returns None when ``arr`` is not an unmodified source array.
    """
    src = source_of(arr)
    if src is None:
        return None
    read_block, sub, shape, chunks, name = _sub_plan(src[0], src[1], arr.chunks, arr.name, bounds)
    return plan_to_dask(read_block, sub, shape, chunks, arr.dtype, name)


def file_fingerprint(paths: Sequence[str | os.PathLike[str]], **options: Any) -> str:
    """Token naming a source: each file's :class:`~lazyvol.sources.SourceStamp` plus the options.

    Kept for callers of the old name; see :func:`lazyvol.sources.fingerprint`.
    """
    return fingerprint(paths, **options)


def rechunk_source(arr: da.Array, chunks: Any, *, read_ahead: bool = False) -> da.Array:
    """``arr`` with other chunks. An unmodified reader array is planned again with the new chunks
    (each block read once, straight into its new shape); any other array goes through
    ``dask.array.rechunk``, which may hold several source blocks at once.

    ``read_ahead``: the caller consumes one block at a time per worker (a writer), so a first pass
    over a gzip stream may bound its read-ahead (``lazyvol._readahead``); not with a
    ``dask.distributed`` client, whose workers hold blocks in other processes.
    """
    src = source_of(arr)
    if src is None:
        return arr.rechunk(chunks)
    import dask.array as da

    norm = da.core.normalize_chunks(chunks, arr.shape, dtype=arr.dtype)
    read_block, plan = src
    bound = read_ahead and sequential_reads(plan) and scheduling.current_client() is None
    if norm == arr.chunks and not bound:
        return arr
    name = f"{arr.name}-rc-{hashlib.sha256(repr(norm).encode()).hexdigest()[:16]}"
    if bound:
        name += f"-ra-{uuid.uuid4().hex[:12]}"  # the pass's own read-ahead count
    return plan_to_dask(read_block, plan, arr.shape, norm, arr.dtype, name, read_ahead=bound)
