"""The Zarr store of ``reference://`` URLs (kerchunk references): each chunk read through lazyvol's
own byte layer, checked against the target's recorded identity.

fsspec's reference filesystem reads a chunk ``[url, offset, length]`` from its target's own
filesystem as that filesystem answers: over HTTP a ``206`` naming other bytes, or a ``200`` with
the whole object, is taken as the chunk; the targets' filesystem gets lazyvol's timeouts only
when ``remote_protocol`` names it (fsspec otherwise makes it from the references' first URL);
and a target replaced since the references were made is read at the old offsets, its new bytes
returned as the chunk without a word. Here the reference is resolved (fsspec's own resolution:
templates, ``gen`` entries, a relative range) and its bytes read by :func:`lazyvol._io.read`:
exact ranges (Content-Range checked, retries bounded, ``LAZYVOL_REMOTE_TIMEOUT`` and
``LAZYVOL_REMOTE_DEADLINE`` for every protocol), and, when the references record the target's
identity (those :func:`lazyvol.references` writes: ``lazyvol.meta`` for a NIfTI file,
``lazyvol.targets`` for a DICOM series' files), checked against it as a source opened by
:func:`lazyvol.open` is: a local file's size, mtime, inode and ctime (one ``fstat`` of the
descriptor read), an HTTP(S) object's ETag (``If-Match``, no extra request), an S3 object's
ETag and size from the answer, another protocol's (gs://, az://, ftp://...) with one request
for its metadata after each chunk's bytes came (as a NIfTI task's read is). A changed
target is a :class:`~lazyvol.errors.SourceChangedError` naming it and saying to make the
references again.

A whole-file reference (``[url]``: one file per chunk) is read whole, bounded as a chunk file of
a store (:func:`lazyvol._http_range.read_whole` remotely: one checked GET). Inline chunks
(``base64:`` or text) are read as fsspec reads them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import FsspecStore

from . import _io
from ._location import Location, display_url
from ._zarr_http import BoundedFsspecStore
from .errors import LazyvolError, SourceChangedError
from .sources import SourceStamp

__all__ = ["ReferenceStore", "recorded_identities", "reference_store", "target_options"]

_IDENTITY = ("size", "mtime_ns", "inode", "ctime_ns", "etag")


def recorded_identities(attrs: Any) -> dict[str, SourceStamp]:
    """``{target: stamp}`` of the targets whose identity the group attributes ``attrs`` of
    references record (``lazyvol.meta`` with its ``path``; ``lazyvol.targets``), ``{}`` for
    references that record none (another tool's). An entry that is no identity is left out."""
    own = attrs.get("lazyvol") if isinstance(attrs, Mapping) else None
    if not isinstance(own, Mapping):
        return {}
    out: dict[str, SourceStamp] = {}
    meta = own.get("meta")
    entries: list[tuple[Any, Any]] = []
    if isinstance(meta, Mapping):
        entries.append((meta.get("path"), meta))
    targets = own.get("targets")
    if isinstance(targets, Mapping):
        entries.extend(targets.items())
    for url, ident in entries:
        if not isinstance(url, str) or not isinstance(ident, Mapping) or "size" not in ident:
            continue
        try:
            size, mtime, inode, ctime = (int(ident.get(k) or 0) for k in _IDENTITY[:4])
        except (TypeError, ValueError):
            continue
        out[url] = SourceStamp(url, size, mtime, inode, ctime, str(ident.get("etag") or ""))
    return out


def target_options(options: Mapping[str, Any], url: str) -> dict[str, Any] | None:
    """The storage options a target ``url`` of a ``reference://`` location with ``options`` is
    read with, as fsspec's reference filesystem gives them: ``remote_options`` for the
    ``remote_protocol`` (for any protocol when none is named: fsspec then uses them for the
    protocol of the references' first URL), without ``asynchronous`` (the byte layer's
    filesystems are its own)."""
    if not _io.is_url(url):
        return None
    named = options.get("remote_protocol")
    protocol = url.split("://", 1)[0].lower()
    if isinstance(named, str) and named.lower() != protocol:
        return None
    remote = dict(options.get("remote_options") or {})
    remote.pop("asynchronous", None)
    remote.pop("loop", None)
    return remote


def reference_store(
    loc: Location,
    options: dict[str, Any],
    limit_of: Callable[[str], int],
    bound_of: Callable[[bytes], int],
    fix: str,
) -> ReferenceStore:
    """The :class:`ReferenceStore` of the ``reference://`` location ``loc`` (its filesystem made
    with ``options``), its reads bounded as :func:`lazyvol._zarr_http.bounded_store`'s."""
    plain = FsspecStore.from_url(loc.url, storage_options=options, read_only=True)
    store = ReferenceStore(plain.fs, read_only=True, path=plain.path)
    store.limit_of, store.bound_of, store.fix = limit_of, bound_of, fix
    store.location = loc
    return store


class ReferenceStore(BoundedFsspecStore):
    """zarr's ``FsspecStore`` over a reference filesystem whose chunks are read by the byte layer
    (module docstring). :func:`reference_store` makes it, setting ``location`` (the
    ``reference://`` location: its storage options name the targets')."""

    location: Location | None = None

    def with_read_only(self, read_only: bool = False) -> Any:
        store = super().with_read_only(read_only)
        store.location = self.location
        return store

    def _identities(self) -> dict[str, SourceStamp]:
        """The targets' recorded identities, read once from the references' ``.zattrs``."""
        found = self.__dict__.get("_recorded")
        if found is None:
            try:
                raw = self.fs.references.get(".zattrs")
                attrs = json.loads(raw) if isinstance(raw, str | bytes) else raw
            except Exception:  # (no or unreadable attributes: zarr refuses them itself)
                attrs = None
            found = recorded_identities(attrs)
            self.__dict__["_recorded"] = found
        return found

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        if self.location is None or "fs" in self.location.options.to_dict():
            return await super().get(key, prototype, byte_range)
        limit = self._check(key, byte_range)
        if not self._is_open:
            await self._open()
        start: int | None = None
        end: int | None = None
        if isinstance(byte_range, RangeByteRequest):
            start, end = byte_range.start, byte_range.end
        elif isinstance(byte_range, OffsetByteRequest):
            start = byte_range.offset
        elif isinstance(byte_range, SuffixByteRequest):
            start = -byte_range.suffix
        try:
            url, begin, stop = self.fs._cat_common(self._url(key), start=start, end=end)
        except FileNotFoundError:
            return None
        if isinstance(url, bytes):  # (inline)
            return await super().get(key, prototype, byte_range)
        if begin is None and stop is None and byte_range is None and limit:  # (a whole file)
            data = await asyncio.to_thread(self._read_whole, str(url), limit, key)
            return prototype.buffer.from_bytes(data)
        if begin is None or stop is None:  # (a part of a whole-file reference: as fsspec reads)
            return await super().get(key, prototype, byte_range)
        if limit and stop - begin > limit:
            where = Location(self._url(key))
            raise self._too_large(where, stop - begin, limit, key)
        data = await asyncio.to_thread(self._read, str(url), int(begin), int(stop - begin))
        return prototype.buffer.from_bytes(data)

    def _too_large(self, where: Location, n: int, limit: int, key: str) -> LazyvolError:
        from ._http_range import too_large

        return too_large(where, n, limit, f"the reference {key}", self.fix)

    def _read_whole(self, url: str, limit: int, key: str) -> bytes:
        """The whole target ``url`` of a whole-file reference (``[url]``), at most ``limit``
        bytes (:func:`lazyvol._http_range.read_whole` remotely), its size checked against its
        recorded identity when the references hold one."""
        from ._http_range import read_whole
        from .sources import stat_regular

        assert self.location is not None
        loc = Location.of(url, target_options(self.location.options.to_dict(), url))
        what = f"the target of reference {key}"
        if loc.is_remote:
            data = read_whole(loc, limit, what=what, fix=self.fix)
            expect = self._identities().get(url)
            if expect is not None and len(data) != expect.size:
                raise SourceChangedError(
                    f"{loc.display}: a target of the references{self._named()} is no longer the "
                    f"file they were made from (size {expect.size} -> {len(data)}); make the "
                    "references again (lazyvol.references; lazyvol.refs.check_references checks "
                    "every target)"
                )
            return data
        size = stat_regular(loc.url).st_size
        if size > limit:
            raise self._too_large(loc, size, limit, key)
        return self._read(url, 0, size)

    def _read(self, url: str, offset: int, length: int) -> bytes:
        """``length`` bytes of target ``url`` from ``offset``, checked against its recorded
        identity when the references hold one."""
        assert self.location is not None
        loc = Location.of(url, target_options(self.location.options.to_dict(), url))
        expect = self._identities().get(url)
        if expect is not None and loc.is_remote:
            expect = SourceStamp(loc.identity, expect.size, expect.mtime_ns, etag=expect.etag)
        try:
            data = _io.read(loc, offset, length, expect=expect)
            if expect is not None and loc.is_remote and loc.protocol not in _CHECKED_BY_READ:
                # (once the bytes came, as a NIfTI task's: a change before or during the read
                # is caught; checked once per store, a target replaced after its first read
                # was read new at the old offsets by every later compute)
                _io.verify(loc, expect)
            return data
        except SourceChangedError as exc:
            raise SourceChangedError(
                f"{loc.display}: a target of the references{self._named()} is no longer the "
                f"file they were made from ({_what(exc, loc)}); make the references again "
                "(lazyvol.references; lazyvol.refs.check_references checks every target)"
            ) from None

    def _named(self) -> str:
        """The references for a message: `` <the file they were read from>``, or ``""`` (given
        as a mapping)."""
        assert self.location is not None
        fo = self.location.options.to_dict().get("fo")
        return f" {display_url(os.fspath(fo))}" if isinstance(fo, str | os.PathLike) else ""


def _what(exc: SourceChangedError, loc: Location) -> str:
    """What changed, as the byte layer's error says it, without its target's name and advice."""
    text = str(exc).removeprefix(f"{loc.display}: ")
    return re.sub(r"[.;]\s*open the source\s+again\s*$", "", text, flags=re.IGNORECASE)


#: Protocols whose ranged reads check the recorded identity in the answer itself.
_CHECKED_BY_READ = ("http", "https", "s3", "s3a")
