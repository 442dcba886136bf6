"""Integrity of the Zarr stores lazyvol writes (user stores and cache entries).

Two layers, each checked on every read:

1. **Inside each chunk: crc32c.** Every array's codec pipeline ends with Zarr v3's ``crc32c``
   codec (for sharded arrays: every inner chunk, and the shard index as Zarr does by default), so
   any Zarr client verifies a chunk's bytes when it decodes them.
2. **Across the store: the manifest** (``lazyvol-manifest/zarr.json``) records, for every chunk file,
   its size and a *fingerprint* of its checksums, plus the SHA-256 of the group's (its content
   without Zarr's consolidated metadata, which lazyvol does not read, so ``zarr.consolidate_metadata``
   is no edit: ``lazyvol.zarr_meta.group_matches``) and of every array's ``zarr.json``; the manifest carries the SHA-256 of its own content. A crc32c inside a
   chunk proves the chunk is intact, not that it sits at the right key: the fingerprint ties the
   checksums to the key, so swapped or copied chunk files are caught.

The fingerprint of a chunk file is the crc32c it ends with (the crc32c codec's 4 bytes). For a
shard it is the crc32c of the shard index (which ends with its own crc32c) followed by the crc32c
trailer of every inner chunk, in index order. Zarr's decode checks every byte against those
trailers; the manifest checks the trailers against the key. Verifying a fingerprint costs no pass
over the data. The one crc32c pass over the bytes is done by the store as it reads a chunk file,
while the bytes are in the CPU cache, with a hardware crc32c (about six times zarr's default one);
zarr's decode then only drops the 4 bytes (``CheckedCrc32cCodec``, in ``lazyvol.zarr_crc``).
Other readers of the store check the crc32c through zarr's own codec.

``VerifiedStore`` is the read side through zarr-python: a Zarr store wrapper (over a local store
or zarr's ``FsspecStore`` for a remote one) that checks the array metadata and every chunk file it
hands to zarr against the manifest and raises ``IntegrityError`` naming the store and the chunk
key. A local store in a layout lazyvol writes is read without zarr-python
(``lazyvol.zarr_direct.DirectArray``), with the same checks (``read_chunk``, ``check_chunk``)
and the same errors.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from . import zarr_crc
from ._special_files import unreadable_chunk
from ._warn import warn as _warn_user
from ._zarr_folder import chunk_folder_problem
from .errors import IntegrityError, LazyvolError
from .zarr_crc import crc32c, fast_crc32c_codec, open_array_fast

if TYPE_CHECKING:  # pragma: no cover
    from zarr.abc.store import ByteRequest
    from zarr.core.buffer import Buffer, BufferPrototype

__all__ = [
    "CHECKSUMS",
    "UnverifiedStoreWarning",
    "VerifiedStore",
    "canonical_json",
    "check_chunk",
    "chunk_fingerprint",
    "crc32c",
    "fast_crc32c_codec",
    "inner_chunks_per_file",
    "locate_damage",
    "open_array_fast",
    "read_chunk",
    "scan_level",
    "seal_manifest",
    "sha256_hex",
    "verify_level_files",
    "verify_manifest_seal",
    "warn_unverified",
]

#: Description of the checksums, recorded in the manifest.
CHECKSUMS = {
    "chunks": "zarr v3 crc32c codec (last codec of every chunk and inner chunk; shard index)",
    "chunk_files": "manifest levels[].chunks: key -> [size, fingerprint]; fingerprint = the "
    "chunk's crc32c trailer, or for a shard crc32c(index + the inner chunks' crc32c trailers)",
    "metadata": "sha256 of zarr.json (group: group_sha256, and group_content_sha256 of its "
    "canonical JSON without consolidated_metadata; arrays: levels[].meta_sha256)",
    "manifest": "sha256 of the manifest's canonical JSON without manifest_sha256",
}

_NO_CHUNK = 2**64 - 1  # shard index entry of an absent inner chunk
#: Verified whole shards kept for partial (byte-range) reads, in bytes, over all stores.
RANGE_CACHE_BYTES = 64 * 2**20


class UnverifiedStoreWarning(UserWarning):
    """A lazyvol store written before checksums (store format 1) was opened unverified."""


def __getattr__(name: str) -> Any:  # the codec classes live in lazyvol.zarr_crc (made lazily)
    if name in ("FastCrc32cCodec", "CheckedCrc32cCodec"):
        return getattr(zarr_crc, name)
    raise AttributeError(name)


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data`` as hex."""
    return hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    """``obj`` as canonical JSON bytes (sorted keys, no spaces): what the manifest hashes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def seal_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with ``manifest_sha256``: the SHA-256 of its canonical JSON without that key."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return {**body, "manifest_sha256": sha256_hex(canonical_json(body))}


def verify_manifest_seal(manifest: Any, path: str) -> str:
    """Check a manifest's own hash; returns it. Raises IntegrityError naming ``path``."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("manifest_sha256"), str):
        raise IntegrityError(f"{path}: manifest has no manifest_sha256; write the store again")
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    try:
        digest = sha256_hex(canonical_json(body))
    except (TypeError, ValueError) as exc:
        raise IntegrityError(f"{path}: manifest is not canonical JSON ({exc})") from exc
    if digest != manifest["manifest_sha256"]:
        raise IntegrityError(
            f"{path}: the manifest's content does not match its manifest_sha256 (edited or "
            "damaged); write the store again"
        )
    return digest


# -- chunk files -------------------------------------------------------------------------------------


def inner_chunks_per_file(arr_meta: Mapping[str, Any]) -> tuple[int | None, str]:
    """``(inner chunks per shard, index location)`` of a sharded array's metadata, else ``(None, "")``."""
    codecs = arr_meta.get("codecs") or []
    first = codecs[0] if codecs and isinstance(codecs[0], dict) else {}
    if first.get("name") != "sharding_indexed":
        return None, ""
    try:
        cfg = first["configuration"]
        inner = [int(c) for c in cfg["chunk_shape"]]
        outer = [int(c) for c in arr_meta["chunk_grid"]["configuration"]["chunk_shape"]]
        n = math.prod(o // i for o, i in zip(outer, inner))
        return n, str(cfg.get("index_location", "end"))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return -1, ""


def chunk_fingerprint(data: Any, n_inner: int | None, index_location: str = "end") -> int:
    """Fingerprint of a chunk file's checksums (see the module docstring); -1 when unparsable.

    ``data`` is the whole file; ``n_inner`` the number of inner chunks of a shard (None: not
    sharded).
    """
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    size = int(buf.size)
    if n_inner is None:
        return int.from_bytes(bytes(buf[-4:]), "little") if size >= 4 else -1
    if n_inner < 1:
        return -1
    isize = n_inner * 16 + 4
    if size < isize:
        return -1
    if index_location == "start":
        index = buf[:isize]
        lo, hi = isize, size
    else:
        index = buf[size - isize :]
        lo, hi = 0, size - isize
    entries = np.frombuffer(index[:-4].tobytes(), dtype="<u8").reshape(-1, 2)
    present = entries[:, 0] != _NO_CHUNK
    off = entries[present, 0]
    nb = entries[present, 1]
    if np.any(nb < 4) or np.any(off < lo) or np.any(off + nb > hi) or np.any(off + nb < off):
        return -1
    ends = (off + nb - 4).astype(np.int64)
    tails = buf[ends[:, None] + np.arange(4)] if ends.size else np.empty(0, np.uint8)
    fp = crc32c(np.ascontiguousarray(index))
    return crc32c(np.ascontiguousarray(tails).reshape(-1), fp)


def _walk_chunks(level_dir: str) -> dict[str, os.DirEntry[str] | str]:
    out: dict[str, Any] = {}
    stack = [(os.path.join(level_dir, "c"), "c")]
    while stack:
        d, rel = stack.pop()
        try:
            it = os.scandir(d)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with it:
            for e in it:
                key = f"{rel}/{e.name}"
                if e.is_dir(follow_symlinks=False):
                    stack.append((e.path, key))
                else:
                    out[key] = e
    return out


def scan_level(
    level_dir: str, n_inner: int | None, index_location: str = "end"
) -> dict[str, list[int]]:
    """``{chunk key: [size, fingerprint]}`` of every chunk file of an array written just now."""
    table: dict[str, list[int]] = {}
    for key, entry in _walk_chunks(level_dir).items():
        path = entry.path if isinstance(entry, os.DirEntry) else entry
        if n_inner is None:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                tail = os.pread(f.fileno(), 4, max(0, size - 4)) if size >= 4 else b""
            fp = int.from_bytes(tail, "little") if len(tail) == 4 else -1
        else:
            with open(path, "rb") as f:
                raw = f.read()
            size = len(raw)
            fp = chunk_fingerprint(raw, n_inner, index_location)
        table[key] = [size, fp]
    return table


def verify_level_files(
    label: str, table: Mapping[str, Any], found: Mapping[str, os.DirEntry[str] | int]
) -> None:
    """Compare the chunk files present (``found``: key -> directory entry or size, one ``stat``
    each) with the manifest's ``table``; ``label`` names the store and array in errors."""
    extra = sorted(set(found) - set(table))
    stopped = bool(extra) and len(found) > len(table)  # (listing stopped: the rest unseen)
    missing = [] if stopped else sorted(set(table) - set(found))
    if missing:
        if (why := chunk_folder_problem(missing[0], found)) is not None:
            raise IntegrityError(f"{label}: {why}")
        raise IntegrityError(
            f"{label}: chunk file {missing[0]} is missing ({len(missing)} of {len(table)} listed in "
            "the manifest are); the store is incomplete or damaged; write it again"
        )
    if extra:
        raise IntegrityError(
            f"{label}: chunk file {extra[0]} is not listed in the manifest ({len(extra)} such"
            f"{' or more' if stopped else ''}); the store was edited; write it again"
        )
    for key, entry in found.items():
        regular = True  # (a link to a file is its file: git-annex / DataLad, `cp -rs`)
        try:
            if isinstance(entry, os.DirEntry):
                st = entry.stat()
                size, regular = st.st_size, stat.S_ISREG(st.st_mode)
            else:
                size = int(entry)
        except OSError as exc:  # (was 'has -1 bytes, the manifest lists N')
            raise IntegrityError(unreadable_chunk(label, key, exc)) from None
        if not regular:  # (a FIFO's or device's size says nothing: name what it is)
            raise IntegrityError(
                f"{label}: chunk file {key} is not a regular file (a FIFO, device or socket, or "
                "a link to one); the store was altered; write it again"
            )
        if size != int(table[key][0]):
            raise IntegrityError(
                f"{label}: chunk {key} has {size} bytes, the manifest lists {table[key][0]} "
                "(truncated, extended or replaced); write the store again"
            )


def locate_damage(
    read: Callable[[str], bytes], keys: list[str], arr_meta: Mapping[str, Any]
) -> str | None:
    """The first of ``keys`` whose bytes (``read(key)``) fail their own crc32c checks (slow path,
    errors only); keys that cannot be read are skipped."""
    n_inner, loc = inner_chunks_per_file(arr_meta)
    for key in keys:
        try:
            raw = np.frombuffer(read(key), dtype=np.uint8)
        except (OSError, LazyvolError):
            continue
        if not _self_consistent(raw, n_inner, loc):
            return key
    return None


def _crc_ok(part: np.ndarray) -> bool:
    return part.size >= 4 and crc32c(np.ascontiguousarray(part[:-4])) == int.from_bytes(
        bytes(part[-4:]), "little"
    )


def _self_consistent(raw: np.ndarray, n_inner: int | None, loc: str) -> bool:
    if n_inner is None:
        return _crc_ok(raw)
    if chunk_fingerprint(raw, n_inner, loc) == -1 or n_inner is None or n_inner < 1:
        return False
    isize = n_inner * 16 + 4
    index = raw[:isize] if loc == "start" else raw[raw.size - isize :]
    if not _crc_ok(index):
        return False
    entries = np.frombuffer(index[:-4].tobytes(), dtype="<u8").reshape(-1, 2)
    return all(_crc_ok(raw[int(o) : int(o) + int(n)]) for o, n in entries if o != _NO_CHUNK)


# -- the verifying store ---------------------------------------------------------------------------


def _check_raw(raw: bytes, n_inner: int | None, loc: str) -> int | None:
    """Fingerprint of a whole chunk file after checking every crc32c in it (the payload, or the
    shard index and every inner chunk) in one pass; None when one fails."""
    arr = np.frombuffer(raw, dtype=np.uint8)
    if not _self_consistent(arr, n_inner, loc):
        return None
    return chunk_fingerprint(arr, n_inner, loc)


#: ``os.open`` flags of a chunk file read: ``O_NONBLOCK`` so a FIFO put in a chunk's place cannot
#: block the read (it is refused as not a regular file).
_O_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def read_chunk(
    label: str, key: str, path: str, expected: Any, n_inner: int | None, loc: str
) -> bytes:
    """Local chunk file ``key`` (at ``path``), read whole and checked against its manifest entry.

    The file's size is compared with the manifest's (``expected`` = ``[size, fingerprint]``)
    before it is read, so a replaced or grown file is refused without being read; then every
    crc32c in it and its fingerprint are checked in one pass, while the bytes are in the CPU cache.
    Raises :class:`IntegrityError` as :func:`check_chunk` does (``label`` names the store and
    array), and for an entry that is not a regular file.
    """
    if expected is None:
        check_chunk(label, key, None, None, None)
    size = int(expected[0])
    try:
        fd = os.open(path, _O_FLAGS)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        check_chunk(label, key, expected, None, None)  # raises: the file is missing
        raise  # pragma: no cover - check_chunk always raises here
    except OSError as exc:
        raise _unreadable(label, key, exc) from exc
    with open(fd, "rb", closefd=True) as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise IntegrityError(
                f"{label}: chunk file {key} is not a regular file; the store was altered; write it "
                "again"
            )
        if st.st_size != size:
            raise IntegrityError(_size_message(label, key, st.st_size, size))
        try:
            raw = f.read(size + 1)  # one byte more than listed: a file growing meanwhile is seen
        except OSError as exc:
            raise _unreadable(label, key, exc) from exc
    check_chunk(label, key, expected, raw, _check_raw(raw, n_inner, loc))
    return raw


def _unreadable(label: str, key: str, exc: OSError) -> IntegrityError:
    """A chunk file the system refuses to open or read (permissions, an I/O error)."""
    return IntegrityError(
        f"{label}: chunk file {key} cannot be read ({exc.strerror or exc}); check the store's "
        "permissions and disk, or write it again"
    )


def _size_message(label: str, key: str, n: int, size: int) -> str:
    return (
        f"{label}: chunk {key} has {n} bytes, the manifest lists {size} (truncated, extended or "
        "replaced); write the store again"
    )


def check_chunk(label: str, key: str, expected: Any, raw: bytes | None, got: int | None) -> None:
    """Raise :class:`IntegrityError` unless chunk file ``key`` matches its manifest entry.

    ``expected`` is the manifest's ``[size, fingerprint]`` (None: the key is not listed), ``raw``
    the file's bytes (None: missing) and ``got`` its fingerprint after every crc32c in it was
    checked (None: one failed). ``label`` names the store and array.
    """
    if expected is None:
        raise IntegrityError(
            f"{label}: chunk {key} is not listed in the manifest; write the store again"
        )
    size, fp = int(expected[0]), int(expected[1])
    if raw is None:
        raise IntegrityError(
            f"{label}: chunk file {key} is missing; the store is incomplete or damaged; write it "
            "again"
        )
    if len(raw) != size:
        raise IntegrityError(_size_message(label, key, len(raw), size))
    if got is None:
        raise IntegrityError(
            f"{label}: chunk {key} fails its crc32c checksum: the file is damaged; write the "
            "store again"
        )
    if got != fp:
        raise IntegrityError(
            f"{label}: chunk {key} does not match the manifest (its crc32c fingerprint is "
            f"{got:#x}, recorded {fp:#x}): the file is damaged, or a chunk file from another "
            "position or store; write the store again"
        )


_RANGE_CACHE: OrderedDict[tuple[int, str], Any] = OrderedDict()
_RANGE_LOCK = threading.Lock()
_INSTANCES = itertools.count()


def forget_verified(arr: Any) -> None:
    """Drop the verified shards an array's store holds (call when a read task ends).

    The cache only serves the several partial reads zarr makes of one shard within one read; kept
    across reads, a shard damaged after it was verified (within the file system's timestamp tick,
    so the store's stat does not change) would be served from memory instead of being refused.
    """
    store = getattr(getattr(arr, "store_path", None), "store", None)
    ident = getattr(store, "_id", None)
    if ident is None:
        return
    with _RANGE_LOCK:
        for ck in [k for k in _RANGE_CACHE if k[0] == ident]:
            del _RANGE_CACHE[ck]


def _slice(buf: Buffer, byte_range: ByteRequest | None) -> Buffer:
    from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest

    n = len(buf)
    if byte_range is None:
        return buf
    if isinstance(byte_range, RangeByteRequest):
        return buf[min(byte_range.start, n) : min(byte_range.end, n)]
    if isinstance(byte_range, OffsetByteRequest):
        return buf[min(byte_range.offset, n) :]
    if isinstance(byte_range, SuffixByteRequest):
        return buf[max(0, n - byte_range.suffix) :]
    raise TypeError(f"unexpected byte range {byte_range!r}")


def _store_base() -> type:
    from zarr.storage import WrapperStore

    return WrapperStore


class _Lazy:
    cls: type | None = None


def VerifiedStore(
    store: Any,
    *,
    label: str,
    meta_sha256: str | None,
    chunks: Mapping[str, Any] | None,
    n_inner: int | None,
    index_location: str = "end",
) -> Any:
    """A read-only zarr store (one array) whose reads are checked against the manifest.

    ``store`` is the array's zarr store (a ``LocalStore``, whose chunk files are read straight from
    disk and checked in the same pass, or any other, e.g. an ``FsspecStore`` for a remote store);
    ``label`` names the store and array in errors; ``meta_sha256`` is the array's ``zarr.json``
    hash; ``chunks`` the manifest's ``{key: [size, fingerprint]}``. Every get of a chunk key reads
    the whole file, checks size and fingerprint, and serves the requested range of it (partial
    reads of a shard are served from a small cache of verified shards, kept for one read task).
    """
    if _Lazy.cls is None:
        _Lazy.cls = _make_store_class()
    return _Lazy.cls(
        store,
        label=label,
        meta_sha256=meta_sha256,
        chunks=chunks,
        n_inner=n_inner,
        index_location=index_location,
    )


async def _fetch_checked(
    store: Any,
    key: str,
    prototype: BufferPrototype,
    n_inner: int | None,
    loc: str,
    label: str,
    expected: Any,
) -> bytes:
    """Chunk ``key`` of any zarr store, checked against its manifest entry ``expected``: a local
    file by :func:`read_chunk` in a thread; another store's object is fetched up to one byte past
    the manifest's size (an object grown or replaced since is refused without being downloaded
    whole), then checked in a thread."""
    from zarr.abc.store import RangeByteRequest

    root = getattr(store, "root", None)
    if root is not None and type(store).__name__ == "LocalStore":
        path = os.path.join(str(root), *key.split("/"))
        return await asyncio.to_thread(read_chunk, label, key, path, expected, n_inner, loc)
    if expected is None:
        check_chunk(label, key, None, None, None)
    size = int(expected[0])
    buf = await store.get(key, prototype, RangeByteRequest(0, size + 1))
    raw = None if buf is None else buf.to_bytes()
    if raw is not None and len(raw) > size:
        raise IntegrityError(
            f"{label}: chunk {key} has more than the {size} bytes the manifest lists (extended or "
            "replaced); write the store again"
        )
    got = None if raw is None else await asyncio.to_thread(_check_raw, raw, n_inner, loc)
    check_chunk(label, key, expected, raw, got)
    assert raw is not None
    return raw


def _make_store_class() -> type:
    base = _store_base()

    class _VerifiedStore(base):  # type: ignore[misc, valid-type]
        def __init__(self, store: Any, **kw: Any) -> None:
            super().__init__(store)
            self._kw = kw
            self._label: str = kw["label"]
            self._meta_sha256: str | None = kw["meta_sha256"]
            self._chunks: Mapping[str, Any] | None = kw["chunks"]
            self._n_inner: int | None = kw["n_inner"]
            self._loc: str = kw.get("index_location", "end")
            self._id = next(_INSTANCES)  # keys the verified-shard cache: one opening of one store

        def _with_store(self, store: Any) -> Any:
            return type(self)(store, **self._kw)

        async def get(
            self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
        ) -> Buffer | None:
            if key == "zarr.json" and self._meta_sha256 is not None:
                buf = await self._store.get(key, prototype, None)
                got = None if buf is None else sha256_hex(buf.to_bytes())
                if got != self._meta_sha256:
                    raise IntegrityError(
                        f"{self._label}: zarr.json (array metadata) "
                        f"{'is missing' if buf is None else 'differs from the manifest (sha256)'}"
                        "; the store was edited or damaged; write it again"
                    )
                return _slice(buf, byte_range)  # type: ignore[arg-type]
            if self._chunks is None or not key.startswith("c/"):
                return await self._store.get(key, prototype, byte_range)
            if byte_range is None:
                return await self._verified(key, prototype)
            ck = (self._id, key)
            with _RANGE_LOCK:
                buf = _RANGE_CACHE.get(ck)
                if buf is not None:
                    _RANGE_CACHE.move_to_end(ck)
            if buf is None:
                buf = await self._verified(key, prototype)
                with _RANGE_LOCK:
                    _RANGE_CACHE[ck] = buf
                    total = sum(len(b) for b in _RANGE_CACHE.values())
                    while total > RANGE_CACHE_BYTES and len(_RANGE_CACHE) > 1:
                        _, old = _RANGE_CACHE.popitem(last=False)
                        total -= len(old)
            return _slice(buf, byte_range)

        async def _verified(self, key: str, prototype: BufferPrototype) -> Buffer:
            assert self._chunks is not None
            raw = await _fetch_checked(
                self._store,
                key,
                prototype,
                self._n_inner,
                self._loc,
                self._label,
                self._chunks.get(key),
            )
            return prototype.buffer.from_bytes(raw)

        async def get_partial_values(
            self, prototype: BufferPrototype, key_ranges: Any
        ) -> list[Buffer | None]:
            return [await self.get(k, prototype, r) for k, r in key_ranges]

    return _VerifiedStore


def warn_unverified(store: str) -> None:
    """One :class:`UnverifiedStoreWarning` for a format-1 store opened without checksums."""
    _warn_user(
        f"{store}: written by an older lazyvol (store format 1) without checksums; it is read "
        "unverified (bit flips or swapped chunk files would go unnoticed). Write it again with "
        "Volume.to_zarr to add checksums.",
        UnverifiedStoreWarning,
    )
