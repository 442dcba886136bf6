"""Blosc frames checked against their own header before c-blosc reads them.

A Blosc frame (c-blosc 1's format, which numcodecs' ``Blosc`` and zarr's ``blosc`` codec write)
starts with a 16-byte header stating the decoded size (``nbytes``) and the frame's own size
(``cbytes``); a frame stored uncompressed (the *memcpyed* flag, which incompressible data such as
noisy images gets) is its header and then ``nbytes`` bytes copied out as they are. c-blosc
decodes from the header alone, never from the buffer's length: a chunk file cut short (a copy
interrupted, a download that stopped), or a shard index giving an inner chunk fewer bytes or
bytes past the shard's end, has c-blosc read memory beyond the chunk -- another chunk's values,
or garbage that changes from read to read -- with no error, in zarr-python as in lazyvol before
this check. And ``nbytes``, a header's claim, sizes the buffer numcodecs allocates.

So a frame is refused (``ValueError``, which the reader raises as a ``FormatError`` naming the
store, array and block) unless it holds the bytes its header states, and decodes to the size its
chunk has. Bytes after a whole frame are left, as c-blosc and zarr-python leave them.
:func:`with_checked_blosc` gives an opened array's metadata with these codecs in place of zarr's
(Zarr v3 ``blosc``, in shards too) and numcodecs' (a Zarr v2 ``compressor``).
"""

from __future__ import annotations

import copy
import math
from typing import Any

__all__ = ["frame_problem", "with_checked_blosc"]

#: Size of a Blosc (c-blosc 1) frame header.
HEADER = 16
#: Header flag: the data follows the header uncompressed.
_MEMCPYED = 0x02
#: Most bytes an item of a numeric dtype a Zarr v2 filter may store (complex128).
_WIDEST_ITEM = 16


def frame_problem(buf: Any, expected: int | None, most: int | None = None) -> str | None:
    """What is wrong with the Blosc frame ``buf`` (a bytes-like object), or None.

    ``expected``: the decoded size its chunk has (None: not known); ``most``: a bound of it."""
    data = memoryview(buf).cast("B")
    n = data.nbytes
    if n < HEADER:
        return f"{n} bytes, less than a Blosc header ({HEADER} bytes)"
    head = bytes(data[:HEADER])
    flags = head[2]
    nbytes = int.from_bytes(head[4:8], "little")
    cbytes = int.from_bytes(head[12:16], "little")
    if cbytes > n or cbytes < HEADER:
        return f"its Blosc header states a frame of {cbytes} bytes, the chunk has {n}"
    if flags & _MEMCPYED and HEADER + nbytes > n:
        return (
            f"its Blosc header states {nbytes} bytes stored uncompressed after it, the chunk has "
            f"{n - HEADER}"
        )
    if expected is not None and nbytes != expected:
        return f"its Blosc header states {nbytes} decoded bytes, the chunk is {expected} bytes"
    if most is not None and nbytes > most:
        return f"its Blosc header states {nbytes} decoded bytes, more than a chunk's {most}"
    return None


def _refuse(problem: str) -> ValueError:
    return ValueError(
        f"a Blosc frame that is not whole: {problem} (truncated, or a shard index that does "
        "not point at it); c-blosc would read memory beyond the chunk"
    )


def _make_v3_class() -> type:
    from zarr.codecs import BloscCodec

    class CheckedBloscCodec(BloscCodec):
        """zarr's ``blosc`` codec (same JSON) refusing a frame its bytes do not hold."""

        def _decode_sync(self, chunk_bytes: Any, chunk_spec: Any) -> Any:
            itemsize = chunk_spec.dtype.to_native_dtype().itemsize
            problem = frame_problem(
                chunk_bytes.as_numpy_array(), math.prod(chunk_spec.shape) * itemsize
            )
            if problem is not None:
                raise _refuse(problem)
            return super()._decode_sync(chunk_bytes, chunk_spec)

    CheckedBloscCodec.__module__ = __name__
    CheckedBloscCodec.__qualname__ = "CheckedBloscCodec"
    return CheckedBloscCodec


def _make_v2_class() -> type:
    from numcodecs import Blosc

    class CheckedBlosc(Blosc):  # type: ignore[misc]
        """numcodecs' ``Blosc`` (same configuration) refusing a frame its bytes do not hold."""

        _expected: int | None = None
        _most: int | None = None

        def decode(self, buf: Any, out: Any = None) -> Any:
            problem = frame_problem(buf, self._expected, self._most)
            if problem is not None:
                raise _refuse(problem)
            return super().decode(buf, out)

    CheckedBlosc.__module__ = __name__
    CheckedBlosc.__qualname__ = "CheckedBlosc"
    return CheckedBlosc


_CLASSES: dict[str, type] = {}


def _cls(kind: str) -> type:
    if kind not in _CLASSES:
        _CLASSES[kind] = _make_v3_class() if kind == "v3" else _make_v2_class()
    return _CLASSES[kind]


def _v3_codecs(codecs: Any) -> tuple[Any, ...]:
    from zarr.codecs import BloscCodec, ShardingCodec

    out = []
    for c in codecs:
        if type(c) is BloscCodec:
            out.append(
                _cls("v3")(
                    typesize=c.typesize,
                    cname=c.cname,
                    clevel=c.clevel,
                    shuffle=c.shuffle,
                    blocksize=c.blocksize,
                )
            )
        elif isinstance(c, ShardingCodec):
            out.append(
                ShardingCodec(
                    chunk_shape=c.chunk_shape,
                    codecs=_v3_codecs(c.codecs),
                    index_codecs=c.index_codecs,
                    index_location=c.index_location,
                )
            )
        else:
            out.append(c)
    return tuple(out)


def with_checked_blosc(meta: Any) -> Any:
    """``meta`` (an opened zarr array's metadata) with its Blosc codecs checked; ``meta`` itself
    when it has none."""
    from numcodecs import Blosc
    from zarr.core.metadata import ArrayV2Metadata, ArrayV3Metadata

    if isinstance(meta, ArrayV3Metadata):
        codecs = _v3_codecs(meta.codecs)
        if all(a is b for a, b in zip(codecs, meta.codecs, strict=True)):
            return meta
        v3 = copy.copy(meta)
        object.__setattr__(v3, "codecs", codecs)
        return v3
    compressor: Any = getattr(meta, "compressor", None)
    if isinstance(meta, ArrayV2Metadata) and type(compressor) is Blosc:
        config = {k: v for k, v in compressor.get_config().items() if k != "id"}
        checked = _cls("v2")(**config)
        chunk_items = math.prod(meta.chunks)
        itemsize = meta.dtype.to_native_dtype().itemsize
        if meta.filters:  # (a filter may store another dtype: bounded by the widest)
            checked._most = chunk_items * max(itemsize, _WIDEST_ITEM)
        else:
            checked._expected = chunk_items * itemsize
        v2 = copy.copy(meta)
        object.__setattr__(v2, "compressor", checked)
        return v2
    return meta
