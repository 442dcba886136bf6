"""Bounded, non-blocking reads of a local Zarr store's files.

A store lazyvol did not write (an OME-Zarr image of another tool, a lazyvol store of format 1)
has no manifest listing its files' sizes, and zarr-python's ``LocalStore`` reads a file whole
with ``Path.read_bytes``: a chunk (or ``zarr.json``) that is a symlink to ``/dev/zero`` is read
until memory runs out, a FIFO blocks the read for ever and a sparse file of many GiB is
allocated whole. Every local read of a store's file goes through :func:`read_store_file`
instead: opened non-blocking (a FIFO cannot block), ``fstat`` on that descriptor (no race with a
rename) must show a regular file, and no more than :func:`max_file_bytes` are read from it, or
for a shard file, no more than the shard's array metadata allows (:func:`shard_file_bound`: a
whole-shard read of a sharded store whose inner chunks are small).
:func:`BoundedLocalStore` is the zarr store that reads through it.
"""

from __future__ import annotations

import asyncio
import math
import os
import stat
from typing import TYPE_CHECKING, Any

from . import _json
from ._io_local import OPEN_FLAGS
from ._special_files import file_kind as _file_kind
from .config import max_chunk_bytes, max_volume_bytes
from .errors import FormatError, ResourceLimitError

if TYPE_CHECKING:
    from zarr.abc.store import ByteRequest
    from zarr.core.buffer import Buffer, BufferPrototype

__all__ = [
    "META_BYTES",
    "META_NAMES",
    "READ_LIMIT_FIX",
    "MIN_FILE_BYTES",
    "BoundedLocalStore",
    "chunk_file_bound_of",
    "dangling_link",
    "max_file_bytes",
    "read_limit",
    "read_store_file",
    "shard_bound_of",
    "shard_file_bound",
]


#: The least :func:`max_file_bytes` allows, whatever the chunk limit: a store's metadata files
#: (``zarr.json`` with consolidated metadata, a manifest listing every chunk) are read whole too.
MIN_FILE_BYTES = 64 << 20


def max_file_bytes() -> int:
    """Most bytes one read of a store's file returns: the largest chunk lazyvol agrees to decode
    (:func:`lazyvol.config.max_chunk_bytes`) plus what a compressor may add to incompressible
    data (zstd and lz4 under 1/128 of it, blosc and gzip less) and 1 MiB, and never under
    :data:`MIN_FILE_BYTES`."""
    limit = max_chunk_bytes()
    return max(limit + limit // 128 + (1 << 20), MIN_FILE_BYTES)


#: Zarr's metadata documents, JSON read whole: at most :data:`META_BYTES` each.
META_NAMES = ("zarr.json", ".zarray", ".zattrs", ".zgroup")
META_BYTES = 64 << 20
#: What a read refused by its limit says to do.
READ_LIMIT_FIX = (
    "one read of a Zarr store's file holds at most 64 MiB of Zarr metadata, or a chunk file (a "
    "range of one) as large as its array's metadata allows from its chunk or shard shape, dtype "
    "and codecs, else the chunk limit and a compressor's overhead; a file over it is damaged or "
    "not the store's. Raise LAZYVOL_MAX_CHUNK_BYTES if a chunk this large is real"
)


def read_limit(key: str) -> int:
    """Most bytes one read of the store's file ``key`` (a path or a key) returns, local or
    remote: :data:`META_BYTES` for a Zarr metadata document (:data:`META_NAMES`: no image's
    metadata comes near it, and a server answering one with an endless body must not cost
    gigabytes), else :func:`max_file_bytes` (a shard may be allowed more:
    :func:`shard_file_bound`)."""
    name = key.replace(os.sep, "/").rsplit("/", 1)[-1]
    return META_BYTES if name in META_NAMES else max_file_bytes()


def _byte_span(byte_range: ByteRequest | None, size: int) -> tuple[int, int]:
    """``(start, stop)`` of zarr's byte request in a file of ``size`` bytes, clipped to it."""
    if byte_range is None:
        return 0, size
    from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest

    if isinstance(byte_range, RangeByteRequest):
        return min(byte_range.start, size), min(max(byte_range.end, byte_range.start), size)
    if isinstance(byte_range, OffsetByteRequest):
        return min(byte_range.offset, size), size
    if isinstance(byte_range, SuffixByteRequest):
        return max(0, size - byte_range.suffix), size
    raise TypeError(f"unexpected byte range {byte_range!r}")


def read_store_file(
    path: str,
    what: str,
    byte_range: ByteRequest | None = None,
    *,
    root: str | None = None,
    inside: str | None = None,
    chunk: bool = False,
) -> bytes:
    """The bytes of the store's file ``path`` (``byte_range``: zarr's request, else all of it).

    ``what`` names the file in messages (``"array metadata"``, ``"chunk c/0/0/0"``). ``root``:
    the store's folder; a read of more than :func:`max_file_bytes` is then allowed up to
    :func:`shard_file_bound` of the array the file belongs to (a shard read whole). ``inside``:
    the store's folder, for the look for a link leading to no file (``root`` when not given).
    ``chunk``: the file is a chunk or shard, which no codec encodes to nothing (a chunk never
    written has no file), so an empty one is damage, never an absent chunk.

    Raises
    ------
    FileNotFoundError
        No such file (zarr and the reader take it as absent).
    FormatError
        Not a regular file (a FIFO, a device such as ``/dev/zero``, a directory), a link that
        leads to no file (:func:`dangling_link`: never read as absent), an empty ``chunk``, or
        unreadable.
    ResourceLimitError
        The bytes to read are more than :func:`max_file_bytes` and than the shard's bound.
    """
    try:
        fd = os.open(path, OPEN_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        if (link := dangling_link(path, inside or root)) is not None:
            raise FormatError(
                f"{link}: the store's {what} is (or is reached through) a symbolic link to "
                f"{os.readlink(link)}, which leads to no file (a file of the store that is not "
                "here, never read as absent: a chunk's fill value); get it (a git-annex / DataLad "
                "dataset: 'datalad get' or 'git annex get') or remove the link"
            ) from None
        raise FileNotFoundError(path) from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot open the store's {what} ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FormatError(
                f"{path}: the store's {what} is a {_file_kind(st.st_mode)}, not a regular file; "
                "lazyvol reads Zarr stores of regular files (replace it with the file it stands "
                "for)"
            )
        if chunk and st.st_size == 0:
            # (zarr reads an empty shard as one with no inner chunk: every value the fill value)
            raise FormatError(
                f"{path}: the store's {what} is an empty file (0 bytes), which no chunk or shard "
                "encodes to (a chunk never written has no file): it was truncated or not copied "
                "whole; restore it or write the store again"
            )
        start, stop = _byte_span(byte_range, st.st_size)
        limit = read_limit(path)
        if stop - start > limit and root is not None and limit == max_file_bytes():
            limit = max(limit, shard_file_bound(root, path))
        if stop - start > limit:
            raise ResourceLimitError(
                f"{path}: the store's {what} is {stop - start} bytes, over the limit of {limit} "
                f"bytes for reading it; nothing was used ({READ_LIMIT_FIX})"
            )
        return _pread(fd, start, stop - start)
    except OSError as exc:
        raise FormatError(f"{path}: reading the store's {what} failed ({exc.strerror})") from None
    finally:
        os.close(fd)


def shard_file_bound(root: str, path: str) -> int:
    """Most bytes the file ``path`` of the local store ``root`` holds when it is a shard of a
    sharded Zarr v3 array (0 otherwise, or when the metadata cannot tell): its inner chunks, as
    many as the shard shape (clipped to the array's) holds, each at most its decoded size plus
    what each bytes-to-bytes codec may add, and the shard index. Read from the array's
    ``zarr.json`` (the nearest folder above the file that has one); a bound over the volume
    limit (:func:`lazyvol.config.max_volume_bytes`) is not believed (0)."""
    folder = os.path.dirname(os.path.abspath(path))
    top = os.path.abspath(root)
    while folder == top or folder.startswith(top + os.sep):
        meta = os.path.join(folder, "zarr.json")
        if os.path.lexists(meta):
            try:
                return shard_bound_of(read_store_file(meta, "array metadata"))
            except (OSError, FormatError):
                return 0
        if folder == top:
            break
        folder = os.path.dirname(folder)
    return 0


def shard_bound_of(raw: bytes) -> int:
    """Most bytes one shard file of the array whose ``zarr.json`` is ``raw`` holds (0: not a
    sharded Zarr v3 array, metadata that cannot tell, or a bound over the volume limit, not
    believed): the bound of :func:`shard_file_bound`."""
    return _bound_of(raw, unsharded=False)


def chunk_file_bound_of(raw: bytes) -> int:
    """Most bytes one chunk file (a shard, or an unsharded chunk: its decoded size and what each
    bytes-to-bytes codec may add) of the Zarr array whose ``zarr.json`` (or v2 ``.zarray``) is
    ``raw`` holds; 0 when the metadata cannot tell. A remote store's chunk file is read up to it, not up to
    :func:`max_file_bytes`: a server's body has no size to check before it is read."""
    return _bound_of(raw, unsharded=True)


def _bound_of(raw: bytes, *, unsharded: bool) -> int:
    import numpy as np

    try:
        doc = _json.loads(raw)
        if doc.get("zarr_format") == 2:  # (an array's .zarray: no shards)
            if not unsharded:
                return 0
            shape = [int(n) for n in doc["chunks"]]
            bound = _encoded_bound(shape, _v2_codecs(doc), np.dtype(doc["dtype"]).itemsize)
            return bound if bound <= max_volume_bytes() + max_file_bytes() else 0
        if doc.get("node_type") != "array":
            return 0
        bound = _sharded_bound(doc)
        if not bound and unsharded:
            shape = [int(n) for n in doc["chunk_grid"]["configuration"]["chunk_shape"]]
            bound = _encoded_bound(shape, list(doc["codecs"]), np.dtype(doc["data_type"]).itemsize)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        return 0
    return bound if bound <= max_volume_bytes() + max_file_bytes() else 0


def _v2_codecs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """A Zarr v2 array's ``filters`` and ``compressor`` (numcodecs configurations) as the v3
    codec list :func:`_encoded_bound` reads (``numcodecs.<id>``, the bytes codec between)."""
    steps = [*(doc.get("filters") or []), "bytes", doc.get("compressor")]
    return [
        {"name": "bytes"} if c == "bytes" else {"name": f"numcodecs.{c['id']}", "configuration": c}
        for c in steps
        if c is not None
    ]


def _sharded_bound(doc: dict[str, Any]) -> int:
    """The most bytes one shard file of the array of metadata ``doc`` holds (0: not sharded)."""
    import numpy as np

    shape = [int(n) for n in doc["shape"]]
    outer = [int(n) for n in doc["chunk_grid"]["configuration"]["chunk_shape"]]
    shard = [min(o, n) for o, n in zip(outer, shape, strict=True)]
    codecs = list(doc["codecs"])
    while codecs and codecs[0].get("name") == "transpose":  # (before sharding: its axis order)
        shard = [shard[int(i)] for i in codecs.pop(0)["configuration"]["order"]]
    if not codecs or codecs[0].get("name") != "sharding_indexed":
        return 0
    return _encoded_bound(shard, codecs, np.dtype(doc["data_type"]).itemsize)


#: Codecs whose output is at most their input and a compressor's overhead (zarr's own and
#: numcodecs' lossless compressors, checksums, shuffles, byte order, axis order).
_SIZE_KEEPING = frozenset(
    {"bytes", "endian", "transpose", "blosc", "zstd", "gzip", "crc32c"}
    | {
        "numcodecs." + name
        for name in (
            "blosc zstd lz4 gzip zlib bz2 lzma shuffle bitround packbits crc32 crc32c "
            "adler32 fletcher32 jenkins_lookup3"
        ).split()
    }
)
#: numcodecs' array-to-array codecs that store another dtype, by the configuration key naming it.
_RETYPING = {
    "numcodecs.astype": "encode_dtype",
    "numcodecs.delta": "astype",
    "numcodecs.fixedscaleoffset": "astype",
    "numcodecs.quantize": "astype",
    "numcodecs.categorize": "astype",
}


def _encoded_bound(shape: list[int], codecs: list[dict[str, Any]], itemsize: int) -> int:
    """The most bytes a chunk of ``shape`` encodes to through ``codecs`` (0: a codec whose
    output size cannot be told, such as an image codec, which may expand noise)."""
    import numpy as np

    if codecs and codecs[0].get("name") == "sharding_indexed":
        config = codecs[0]["configuration"]
        inner = [int(n) for n in config["chunk_shape"]]
        count = math.prod(-(-s // max(i, 1)) for s, i in zip(shape, inner, strict=True))
        each = _encoded_bound(inner, config.get("codecs", []), itemsize)
        # (the index: 16 bytes an inner chunk, a checksum)
        return count * (each + 16) + 1024 if each else 0
    size = math.prod(shape) * itemsize
    for codec in codecs:  # (a compressor may add up to 1/128 and a header: zstd, lz4, blosc)
        name = codec.get("name")
        if name in _RETYPING:  # (a wider stored dtype: uint16 kept as float64 is 4x larger)
            stored = (codec.get("configuration") or {}).get(_RETYPING[name])
            if stored is not None:
                size = max(size, math.prod(shape) * np.dtype(stored).itemsize)
        elif name not in _SIZE_KEEPING:
            return 0
        size += size // 128 + 1024
    return size


def _pread(fd: int, start: int, length: int) -> bytes:
    """``length`` bytes from ``start`` (fewer at the file's end), in one buffer when one read
    returns them all (the usual case: no copy)."""
    parts = []
    while length > 0:
        if hasattr(os, "pread"):
            part = os.pread(fd, length, start)
        else:  # pragma: no cover - platforms without pread (Windows)
            os.lseek(fd, start, os.SEEK_SET)
            part = os.read(fd, length)
        if not part:
            break
        parts.append(part)
        start, length = start + len(part), length - len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _what(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    return (
        "metadata " + key
        if name in ("zarr.json", ".zarray", ".zattrs", ".zgroup")
        else ("chunk " + key)
    )


def _is_chunk(key: str) -> bool:
    """Whether the store key ``key`` names a chunk or shard file (not a metadata file)."""
    name = key.rsplit("/", 1)[-1]
    return name not in ("zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata")


class _Lazy:
    cls: type | None = None


def BoundedLocalStore(root: str) -> Any:
    """A read-only zarr store of the local folder ``root`` whose every read is
    :func:`read_store_file` (listing and existence checks are ``LocalStore``'s)."""
    if _Lazy.cls is None:
        _Lazy.cls = _make_store_class()
    return _Lazy.cls(root)


def dangling_link(path: str, root: str | None = None) -> str | None:
    """``path``, or its folder or a folder above inside ``root``, when it is a symbolic link
    whose file is gone (every file of a git-annex / DataLad dataset whose content was not
    fetched): a name that is in the store, unlike a chunk never written."""
    top = os.path.dirname(os.path.normpath(root)) if root else os.path.dirname(path)
    here = os.path.normpath(path)
    while len(here) > len(top):
        if os.path.islink(here) and not os.path.exists(here):
            return here
        here = os.path.dirname(here)
    return None


def _make_store_class() -> type:
    from zarr.storage import LocalStore, WrapperStore

    class _BoundedLocalStore(WrapperStore):  # type: ignore[misc]
        def __init__(self, root: Any) -> None:
            store = root if isinstance(root, LocalStore) else LocalStore(root, read_only=True)
            super().__init__(store)
            self._root = str(store.root)

        def _with_store(self, store: Any) -> Any:
            return type(self)(store)

        async def get(
            self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
        ) -> Buffer | None:
            path = os.path.join(self._root, *key.split("/"))
            try:
                raw = await asyncio.to_thread(
                    read_store_file,
                    path,
                    _what(key),
                    byte_range,
                    root=self._root,
                    chunk=_is_chunk(key),
                )
            except FileNotFoundError:
                return None
            return prototype.buffer.from_bytes(raw)

        async def get_partial_values(
            self, prototype: BufferPrototype, key_ranges: Any
        ) -> list[Buffer | None]:
            return [await self.get(k, prototype, r) for k, r in key_ranges]

    return _BoundedLocalStore
