"""The chunk, shard and codec choices of a store :func:`lazyvol.zarr_write.write_zarr` writes,
from its ``chunks=``, ``shards=`` and ``codec=`` options (each refused with an
:class:`~lazyvol.errors.OptionError` naming the option and what it takes), and the dask blocks
the store is written in."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .config import chunk_budget
from .errors import OptionError
from .zarr_ome import disk_axes

__all__ = [
    "SHARD_BELOW_BYTES",
    "SHARD_TARGET_BYTES",
    "WRITE_BLOCK_BYTES",
    "chunk_shape",
    "compressor",
    "level_count",
    "level_grid",
    "shard_shape",
    "write_blocks",
]

#: Chunks smaller than this get wrapped in shards (fewer, larger files) unless ``shards=False``.
SHARD_BELOW_BYTES = 1 * 2**20
#: Target size of an automatic shard.
SHARD_TARGET_BYTES = 16 * 2**20
#: Largest dask block a write task handles (one shard or chunk at least).
WRITE_BLOCK_BYTES = 16 * 2**20

_CODECS = ("zstd", "blosc-zstd", "blosc-lz4", "gzip", "none")


def _axis_spec(spec: Any, shape: Sequence[int], what: str) -> tuple[int, ...]:
    """A per-axis length spec in volume order (int for every spatial axis, or a sequence)."""
    nd = len(shape)
    if _is_int(spec):
        vals: list[Any] = [int(spec)] * min(3, nd) + [1] * (nd - 3)
    elif isinstance(spec, Sequence | np.ndarray) and not isinstance(spec, str):
        vals = list(spec)
        if len(vals) != nd:
            raise OptionError(f"{what}={spec!r} needs {nd} values (one per axis i, j, k[, t])")
    else:
        raise OptionError(
            f"{what}={spec!r}: give an int (the spatial axes) or one length per axis i, j, k[, t]"
        )
    out = []
    for v, n in zip(vals, shape):
        if v is None or v == -1:
            out.append(max(1, int(n)))
        elif not _is_int(v) or int(v) < 1:
            raise OptionError(
                f"{what}={spec!r}: lengths must be integers >= 1 (or -1/None for a whole axis)"
            )
        else:
            out.append(min(int(v), max(1, int(n))))
    return tuple(out)


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def chunk_shape(chunks: Any, shape: Sequence[int]) -> tuple[int, ...]:
    """The on-disk chunk in volume order for the ``chunks=`` option: the given lengths (an int:
    the spatial axes; ``-1``/None: a whole axis), clipped to the shape; None: the default,
    256 x 256 x 32 spatial, one index of later axes.

    Four default chunks side by side make a 512 x 512 x 32 slab, the write block: a contiguous
    read of any NIfTI or DICOM source, small enough (16 MiB of int16) that a 2-thread write stays
    well under 256 MiB.
    """
    if chunks is not None:
        return _axis_spec(chunks, shape, "chunks")
    limits = (256, 256, 32)
    return tuple(min(max(1, int(n)), limits[ax]) if ax < 3 else 1 for ax, n in enumerate(shape))


def _auto_shards(
    chunk_disk: Sequence[int], shape_disk: Sequence[int], itemsize: int
) -> tuple[int, ...]:
    """Grow a small chunk into a shard of about SHARD_TARGET_BYTES, fastest disk axis first."""
    shard = list(chunk_disk)
    cap = [math.ceil(n / c) * c for n, c in zip(shape_disk, chunk_disk)]
    grown = True
    while grown and math.prod(shard) * itemsize < SHARD_TARGET_BYTES:
        grown = False
        for ax in reversed(range(len(shard))):
            if shard[ax] * 2 <= cap[ax] and math.prod(shard) * itemsize * 2 <= SHARD_TARGET_BYTES:
                shard[ax] *= 2
                grown = True
    return tuple(shard)


def compressor(codec: Any) -> Any:
    """The zarr codec of the ``codec=`` option (None: no compression): a name, or a zarr
    bytes-to-bytes codec object chosen by the caller."""
    from zarr.abc.codec import BytesBytesCodec
    from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

    if codec is None or isinstance(codec, BytesBytesCodec):
        return codec
    name = codec.lower() if isinstance(codec, str) else None
    if name == "none":
        return None
    if name == "zstd":
        return ZstdCodec(level=3)
    if name == "blosc-zstd":
        return BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")
    if name == "blosc-lz4":
        return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")
    if name == "gzip":
        return GzipCodec(level=5)
    raise OptionError(
        f"codec={codec!r} is not one of {', '.join(_CODECS)} (all lossless), None, or a zarr "
        "bytes-to-bytes codec object (e.g. zarr.codecs.ZstdCodec(level=9))"
    )


def level_count(levels: Any, spatial: Sequence[int] = ()) -> int:
    """The number of multiscale levels of the ``levels=`` option: an integer >= 1, and no more
    than halving the ``spatial`` lengths (odd ones rounded up) takes to one voxel on every axis
    (past it every level is the same single voxel: ``levels=10**6`` wrote a million arrays)."""
    if not _is_int(levels) or levels < 1:
        raise OptionError(
            f"levels={levels!r}: give the number of multiscale levels, an integer >= 1 (1: the "
            "full resolution only)"
        )
    most = 1 + max((int(n) - 1).bit_length() for n in spatial) if spatial else int(levels)
    if levels > most:
        raise OptionError(
            f"levels={levels!r}: a volume of spatial shape {tuple(int(n) for n in spatial)} halves "
            f"to one voxel in {most} levels; give at most levels={most}"
        )
    return int(levels)


def write_blocks(unit: Sequence[int], shape: Sequence[int], itemsize: int) -> tuple[int, ...]:
    """Dask block shape for writing: whole shards/chunks, grown fastest-axis first to 16 MiB.

    Small blocks keep the writer's memory low: each thread holds one block plus zarr's encode
    buffers for it, and the source is re-planned to read exactly these blocks.
    """
    block = list(unit)
    budget = max(min(chunk_budget(), WRITE_BLOCK_BYTES), math.prod(unit) * itemsize)
    for ax in reversed(range(len(block))):
        full = math.ceil(shape[ax] / unit[ax]) * unit[ax]
        while block[ax] < full and math.prod(block) * itemsize * 2 <= budget:
            block[ax] = min(block[ax] * 2, full)
        if block[ax] < full:
            break
    return tuple(block)


def shard_shape(
    shards: Any, chunk_vol: tuple[int, ...], shape: tuple[int, ...], itemsize: int
) -> tuple[int, ...] | None:
    """The shard shape on disk (None: no shards) for the ``shards=`` option: None, the automatic
    shards (about :data:`SHARD_TARGET_BYTES`) when a chunk is under :data:`SHARD_BELOW_BYTES`;
    True, the automatic shards whatever the chunk's size; False, none; an int (every axis) or one
    length per axis (volume order), each a multiple of the chunk's. A shard and a chunk longer
    than an axis are both clipped to it (:func:`level_grid`): ``chunks=32, shards=64`` holds on
    an axis of 20 voxels, one chunk of 20 a shard, as zarr-python takes it."""
    order = disk_axes(len(shape))
    chunk_disk = tuple(chunk_vol[v] for v in order)
    if shards is None or shards is True:
        if shards is None and math.prod(chunk_disk) * itemsize >= SHARD_BELOW_BYTES:
            return None
        shard_disk = _auto_shards(chunk_disk, tuple(shape[v] for v in order), itemsize)
        return None if shard_disk == chunk_disk else shard_disk
    if shards is False:
        return None
    if _is_int(shards):
        shard_vol = [shards] * len(shape)
    elif isinstance(shards, Sequence | np.ndarray) and not isinstance(shards, str):
        shard_vol = list(shards)
    else:
        shard_vol = []
    given = None
    if len(shard_vol) == len(shape) and all(_is_int(s) and s >= 1 for s in shard_vol):
        shape_disk = tuple(shape[v] for v in order)
        given = level_grid(chunk_disk, [int(shard_vol[v]) for v in order], shape_disk)[1]
    if given is None:
        raise OptionError(
            f"shards={shards!r}: give None (shard when a chunk is under 1 MiB), True (shards of "
            "about 16 MiB), False (no shards), or shard lengths, one per axis (i, j, k[, t]) or "
            f"one int for all, each a multiple of chunks={chunk_vol} (as clipped to the shape)"
        )
    return given


def level_grid(
    chunk_disk: Sequence[int], shard_disk: Sequence[int] | None, lvl_shape: Sequence[int]
) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """Chunk and shard shape of one level, both clipped to its shape (a shard to whole chunks
    covering it); no shards when ``shard_disk`` is None, empty, or not whole chunks as clipped."""
    lvl_chunk = tuple(min(c, n) for c, n in zip(chunk_disk, lvl_shape))
    if not shard_disk:
        return lvl_chunk, None
    lvl_shard = tuple(
        min(s, math.ceil(n / c) * c) for s, c, n in zip(shard_disk, lvl_chunk, lvl_shape)
    )
    if any(s < c or s % c for s, c in zip(lvl_shard, lvl_chunk)):
        return lvl_chunk, None
    return lvl_chunk, lvl_shard
