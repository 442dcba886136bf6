"""Zarr stores over HTTP(S): zarr's ``FsspecStore`` on a filesystem whose ranged reads are checked.

zarr-python reads a sharded array's chunks by byte range (the shard index with a suffix request,
``Range: bytes=-N``, then each chunk with ``bytes=a-b``) through fsspec's HTTP ``_cat_file``,
which returns whatever body the server sends: a ``206`` naming other bytes than asked (a proxy
that mishandles ranges) was decoded as the chunk, silently, and a ``200`` with the whole shard (a
server that ignores ``Range``, as ``python -m http.server`` does) was taken for its index (a
checksum error blaming the file). Here a range is taken only when the answer is that range, by
the rules of the byte layer's own reads (:mod:`lazyvol._http_range`: Content-Range checked, a
longer answer cut, a shorter one followed up, a whole-object ``200`` cut to the range, encoded
bodies refused, 429/500/502/503/504 and hang-ups retried); a suffix must be the object's last bytes.
Whole-file reads (metadata, unsharded chunk files) are one GET, bounded
(:func:`lazyvol._http_range.whole`).

Every remote store (:class:`BoundedFsspecStore`, any protocol) reads no more than a local store
would hold (:mod:`lazyvol.zarr_files`), whatever the server sends or a shard index claims: a
metadata file at most ``limit_of(key)`` bytes, a chunk file (or a range of one) at most what its
array's ``zarr.json`` allows (``bound_of``, as the store reads that file), else
``limit_of(key)``; more is a :class:`~lazyvol.errors.ResourceLimitError` naming the URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import Any

from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import FsspecStore

from ._http_range import (
    _CONTENT_RANGE,
    Want,
    _body,
    _check_encoding,
    _content_length,
    _partial,
    _read,
    _warn_norange,
    get_retried,
    too_large,
    whole,
)
from ._io_remote import _etag, _mtime_ns, _retry_after
from ._location import Location, display_url
from ._range_refusal import range_refused, stated
from ._remote_errors import (
    _status,
    gzip_metadata,
    html_page,
    html_refusal,
    remote_deadline,
    translate,
)
from ._retry import ATTEMPTS, hung_up, wait_before_retry
from ._s3_range import is_s3, s3_get, s3_suffix
from .errors import FormatError, LazyvolError, RemoteAccessError, RemoteReadError
from .sources import SourceStamp

__all__ = ["V2_METADATA", "BoundedFsspecStore", "bounded_store"]

#: The metadata files of a Zarr v2 node, which zarr-python also asks for when not told the format.
V2_METADATA = (".zarray", ".zattrs", ".zgroup", ".zmetadata")


def bounded_store(
    loc: Location,
    options: dict[str, Any],
    limit_of: Callable[[str], int],
    bound_of: Callable[[bytes], int],
    fix: str,
) -> Any:
    """A read-only zarr ``FsspecStore`` rooted at ``loc`` whose reads are bounded (module
    docstring), and for an HTTP(S) URL checked; ``options`` are the filesystem's storage
    options; ``fix`` ends the message of a refused read."""
    plain = FsspecStore.from_url(loc.url, storage_options=options, read_only=True)
    cls = BoundedFsspecStore
    if loc.protocol in ("http", "https"):
        cls = CheckedFsspecStore
    elif is_s3(loc):
        cls = S3CheckedStore
    store: BoundedFsspecStore = cls(plain.fs, read_only=True, path=plain.path)
    store.limit_of, store.bound_of, store.fix = limit_of, bound_of, fix
    store.root = loc
    return store


#: The version each shard index read in this asyncio task stated (``{url: stamp or None}``,
#: replaced, never mutated): zarr reads a shard's index and then its chunks in one task, while
#: other tasks (other dask threads' reads) may read the index again; the store's ``versions``
#: hold the last index read of any task, which a rewrite between two tasks' reads made the
#: chunk reads of the first task be checked against (the new bytes at the old index's offsets).
_INDEX_READ: ContextVar[Mapping[str, SourceStamp | None] | None] = ContextVar(
    "lazyvol_zarr_index_read", default=None
)


class BoundedFsspecStore(FsspecStore):  # type: ignore[misc]
    """zarr's ``FsspecStore`` whose reads are bounded (module docstring)."""

    #: Most bytes of one read of a key (None: no bound; :func:`bounded_store` sets it) ...
    limit_of: Callable[[str], int] | None = None
    #: ... and for a chunk file, from the bytes of the array's ``zarr.json`` (0: none).
    bound_of: Callable[[bytes], int] | None = None
    #: The chunk file bound found when the store read its ``zarr.json``.
    file_limit = 0
    #: How a refusal ends: what to do.
    fix = ""
    #: The store's location (its URL and storage options), for messages.
    root: Location | None = None

    def with_read_only(self, read_only: bool = False) -> Any:
        store = super().with_read_only(read_only)
        for name in ("limit_of", "bound_of", "file_limit", "fix", "root"):
            setattr(store, name, getattr(self, name))
        return store

    def _url(self, key: str) -> str:
        return f"{self.path.rstrip('/')}/{key.lstrip('/')}"

    def _chunk(self, key: str) -> bool:
        """Whether ``key`` is a chunk file, not a metadata file (its limit is a chunk's)."""
        return self.limit_of is None or self.limit_of(key) == self.limit_of("c/0")

    def _limit(self, key: str) -> int:
        """The most bytes a read of ``key`` may return (0: no bound): for a chunk file (not a
        metadata file), the bound its array's metadata gives when it gives one."""
        if self.limit_of is None:
            return 0
        limit = self.limit_of(key)
        return self.file_limit or limit if self._chunk(key) else limit

    def _check(self, key: str, byte_range: ByteRequest | None) -> int:
        """The most bytes a read of ``key`` may return (0: none set); a range asking for more is
        refused before any request."""
        limit = self._limit(key)
        if not limit:
            return 0
        n = None
        if isinstance(byte_range, RangeByteRequest):
            n = byte_range.end - byte_range.start
        elif isinstance(byte_range, SuffixByteRequest):
            n = byte_range.suffix
        if n is not None and n > limit:
            where = Location(self._url(key))
            raise too_large(where, n, limit, f"a range of the Zarr store's file {key}", self.fix)
        return limit

    def _saw(self, key: str, data: bytes) -> None:
        """Note the chunk file bound of the array when ``data`` is its ``zarr.json`` (or a Zarr
        v2 array's ``.zarray``)."""
        if key.rsplit("/", 1)[-1] in ("zarr.json", ".zarray") and self.bound_of is not None:
            self.file_limit = self.bound_of(data)

    async def _v3_beside(self, key: str, deadline: float | None) -> bool:
        """Whether ``key``, refused (403), is a Zarr v2 metadata file beside a ``zarr.json``
        that is there: zarr-python, not told the format, asks for ``zarr.json``, ``.zarray``
        and ``.zattrs`` at once, and S3 (and an HTTPS URL of a bucket, or a CDN before one)
        answers a key that does not exist with 403 to a caller
        not allowed to list the bucket (s3:GetObject without s3:ListBucket, as public data is
        often shared). With a ``zarr.json`` beside it, zarr uses that whatever the v2 file
        holds (Zarr v3 is favoured), so the refused file is taken as absent, as zarr-python told
        ``zarr_format=3`` reads such a store; a chunk, or a v2 file without a ``zarr.json``,
        stays refused."""
        folder, _, name = key.rpartition("/")
        if name not in V2_METADATA:
            return False
        beside = f"{folder}/zarr.json" if folder else "zarr.json"
        try:
            look = self.fs._info(self._url(beside))
            found = await (look if deadline is None else asyncio.wait_for(look, deadline))
        except Exception:
            return False
        return isinstance(found, dict) and found.get("type") == "file"

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        limit = self._check(key, byte_range)
        if not limit or not (byte_range is None or isinstance(byte_range, OffsetByteRequest)):
            return await super().get(key, prototype, byte_range)
        if not self._is_open:
            await self._open()
        start = byte_range.offset if isinstance(byte_range, OffsetByteRequest) else 0
        try:
            data = bytes(
                await self.fs._cat_file(self._url(key), start=start, end=start + limit + 1)
            )
        except self.allowed_exceptions:
            return None
        except OSError as exc:
            if "not satisfiable" not in str(exc):  # (S3 refuses any range of an empty object)
                raise
            data = b""
        if len(data) > limit:
            where = Location(self._url(key))
            raise too_large(where, None, limit, f"the Zarr store's file {key}", self.fix)
        if byte_range is None:
            self._saw(key, data)
        return prototype.buffer.from_bytes(data)


class S3CheckedStore(BoundedFsspecStore):
    """zarr's ``FsspecStore`` over S3 whose reads are bounded, end within
    ``LAZYVOL_REMOTE_DEADLINE`` when it is set (botocore's timeouts bound a stall only: a server
    sending a byte now and then held a chunk read for ever), and whose ranged reads are judged
    by their answer's status and headers as the byte layer's S3 reads are
    (:func:`lazyvol._s3_range.s3_get`: a whole-object answer to a ranged read, from a gateway
    that drops ``Range``, closed unread and refused; s3fs took its body as the range). Failures
    are typed errors naming the object."""

    def _where(self, key: str) -> Location:
        return self.root.join(key) if self.root is not None else Location(self._url(key))

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        deadline = remote_deadline()
        try:
            if deadline is None:
                return await self._get(key, prototype, byte_range)
            return await asyncio.wait_for(self._get(key, prototype, byte_range), deadline)
        except FileNotFoundError:
            raise
        except Exception as exc:
            err = translate(exc, self._where(key), f"reading the Zarr store's file {key}")
            if isinstance(err, RemoteAccessError) and await self._v3_beside(key, deadline):
                return None
            if err is exc:
                raise
            raise err from None

    async def _get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None
    ) -> Buffer | None:
        limit = self._check(key, byte_range)
        if isinstance(byte_range, RangeByteRequest):
            start, stop = byte_range.start, byte_range.end
        elif limit and byte_range is None:  # (a whole file: at most limit bytes, one more asked)
            start, stop = 0, limit + 1
        elif not isinstance(byte_range, SuffixByteRequest):  # (from an offset to the end: rare)
            return await super().get(key, prototype, byte_range)
        if not self._is_open:
            await self._open()
        where = self._where(key)
        try:
            if isinstance(byte_range, SuffixByteRequest):  # (a shard's index)
                data = await s3_suffix(self.fs, where, byte_range.suffix)
            else:
                data = await s3_get(self.fs, where, start, stop)
        except FileNotFoundError as exc:  # (no such file: zarr's missing chunk, not an error)
            if isinstance(exc, LazyvolError):
                raise
            return None
        except OSError as exc:
            if byte_range is not None or "not satisfiable" not in str(exc):
                raise  # (S3 refuses any range of an empty object: an empty file)
            data = b""
        if byte_range is None:
            if len(data) > limit:
                raise too_large(where, None, limit, f"the Zarr store's file {key}", self.fix)
            coded = gzip_metadata(where.display, data) if not self._chunk(key) else None
            if coded is not None:  # (zarr-python: a bare UnicodeDecodeError)
                raise FormatError(coded)
            self._saw(key, data)
        return prototype.buffer.from_bytes(data)


class CheckedFsspecStore(BoundedFsspecStore):
    """zarr's ``FsspecStore`` over HTTP(S) whose reads are bounded and ranged reads checked
    (module docstring)."""

    #: Shards whose index version is remembered (the oldest forgotten first).
    VERSIONS = 4096

    def _url(self, key: str) -> str:
        """The URL of file ``key``: joined to the store URL's path, before its query (a token
        every file of the store is served with), as :meth:`Location.join` joins the store's
        metadata (``img.zarr?token=t`` -> ``img.zarr/0/zarr.json?token=t``)."""
        return Location(self.path).join(key).url

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Each shard's version (size, ETag, Last-Modified) as its last index read stated: the
        #: chunk reads that follow are checked against it, so that an index and the chunks it
        #: locates come from one version of the shard.
        self.versions: dict[str, SourceStamp] = {}

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        limit = self._check(key, byte_range)
        if byte_range is None:
            try:
                return await self._whole(key, prototype, limit)
            except (LazyvolError, FileNotFoundError):
                raise
            except Exception as exc:  # (typed: a 403 escaped as aiohttp's ClientResponseError)
                where = Location(self._url(key))
                err = translate(exc, where, f"reading the Zarr store's file {key}")
                if isinstance(err, RemoteAccessError) and await self._v3_beside(
                    key, remote_deadline()
                ):
                    return None  # (S3 over HTTPS, a CDN before a bucket not listed: 403)
                raise err from None
        if not self._is_open:
            await self._open()
        url = self._url(key)
        try:
            data = await self._ranged(url, byte_range, limit)
        except FileNotFoundError as exc:  # (no such file: zarr's missing chunk, not an error)
            if isinstance(exc, LazyvolError):
                raise
            return None
        return prototype.buffer.from_bytes(data)

    async def _whole(self, key: str, prototype: BufferPrototype, limit: int) -> Buffer | None:
        """A whole file (metadata, an unsharded chunk, a whole shard): at most ``limit`` bytes
        (:func:`lazyvol._http_range.whole`), else as fsspec reads it, tried again on
        429/500/502/503/504 and hang-ups as the byte layer's reads are (a missing file: None)."""
        if limit:
            if not self._is_open:
                await self._open()
            url = self._url(key)
            session = await self.fs.set_session()
            what, check = f"the Zarr store's file {key}", _no_page(key, url, self._chunk(key))
            try:
                data = await whole(self.fs, session, Location(url), limit, what, self.fix, check)
            except FileNotFoundError as exc:
                if isinstance(exc, LazyvolError):
                    raise
                return None
            self._saw(key, data)
            return prototype.buffer.from_bytes(data)
        for attempt in range(ATTEMPTS):
            try:
                got: Buffer | None = await super().get(key, prototype, None)
                return got
            except Exception as exc:
                status = _status(exc)
                wait = wait_before_retry(
                    status, _retry_after(exc), attempt, unanswered=status is None and hung_up(exc)
                )
                if wait is None:
                    raise
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _ranged(self, url: str, byte_range: ByteRequest, limit: int = 0) -> bytes:
        """The bytes of ``url`` that ``byte_range`` names, checked (a range against the
        version of the shard its index was read from)."""
        where = Location(url)  # (for messages: display_url hides what credentials it holds)
        session = await self.fs.set_session()
        if isinstance(byte_range, SuffixByteRequest):
            data, version = await _suffix(self.fs, session, where, byte_range.suffix)
            self.versions.pop(url, None)
            if version is not None:
                self.versions[url] = version
                while len(self.versions) > self.VERSIONS:
                    self.versions.pop(next(iter(self.versions)))
            _INDEX_READ.set({**(_INDEX_READ.get() or {}), url: version})
            return data
        if isinstance(byte_range, RangeByteRequest):
            start, end = byte_range.start, byte_range.end
        else:  # an OffsetByteRequest: to the object's end
            start, end = byte_range.offset, int((await self.fs._info(url))["size"])
            if limit and end - start > limit:
                raise too_large(
                    where, end - start, limit, "a range of a Zarr store's file", self.fix
                )
        if end <= start:
            return b""
        read = _INDEX_READ.get() or {}  # (this task's own index read, else the store's last)
        want = Want(where, start, end - start, read[url] if url in read else self.versions.get(url))
        got = await _read(self.fs, session, want, upto_end=True)
        if got.whole:
            _warn_norange(want, got.whole)  # (every read downloads the shard to the range's end)
        return got.data

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        return list(await asyncio.gather(*(self.get(k, prototype, r) for k, r in key_ranges)))


def _no_page(key: str, url: str, chunk: bool) -> Callable[[Mapping[str, str], bytes], None]:
    """The check of an answer for file ``key`` at ``url`` (``chunk``: not a metadata file): an
    HTML page (``Content-Type: text/html`` and a body that is one, :func:`html_page`: a chunk's
    bytes alone may start so) is no such file, as :meth:`~lazyvol.zarr_store.StoreRoot.holds`
    takes it: a metadata file zarr looks for is missing (FileNotFoundError), a chunk is refused
    naming it. A host answering a path it does not have with a page and status 200 had zarr
    decode the page as a missing chunk ("cannot reshape", a decompressor's error, or values
    made of the page's bytes)."""

    def check(headers: Mapping[str, str], data: bytes) -> None:
        if "html" not in str(headers.get("Content-Type", "")).lower() or not html_page(data):
            return
        if not chunk:
            raise FileNotFoundError(url)
        raise FormatError(
            html_refusal(
                display_url(url),
                f"chunk {key} of the Zarr store is that page, not the chunk's bytes; a missing "
                "chunk is read as the fill value only when the server answers 404",
            )
        )

    return check


async def _suffix(fs: Any, session: Any, loc: Location, n: int) -> tuple[bytes, SourceStamp | None]:
    """The last ``n`` bytes of ``loc`` (all of it when shorter): one GET ``Range: bytes=-n``,
    tried again as the byte layer's reads are; and the version the answer states (None when it
    states no ETag nor Last-Modified)."""
    kw = dict(fs.kwargs)
    headers = {**(kw.pop("headers", None) or {}), "Range": f"bytes=-{n}"}
    headers["Accept-Encoding"] = "identity"
    url = fs.encode_url(loc.url)
    kw = {**kw, "headers": headers}
    return await get_retried(session, url, kw, lambda r: _suffix_answer(fs, loc, n, r))


async def _suffix_answer(
    fs: Any, loc: Location, n: int, r: Any
) -> tuple[bytes, SourceStamp | None]:
    """The last ``n`` bytes of the object from answer ``r`` to a suffix request, and the
    version the answer states."""
    what = f"reading its last {n} bytes"
    if r.status == 416:  # (judged from the suffix's first byte, not read as a missing start)
        size, etag = stated(r.headers)
        start = None if size is None else max(0, size - n)
        raise range_refused(loc, what, start, None, size, etag)
    if r.status not in (200, 206):
        fs._raise_not_found_for_status(r, loc.url)  # a 404: no such file (zarr: no chunk)
        raise RemoteReadError(f"{loc.display}: {what}: unexpected answer HTTP {r.status}")
    _check_encoding(Want(loc, 0, n), r.headers)
    if r.status == 200:  # Range ignored: the whole object, of which the end is kept
        data, size = await _tail(r, n)
        return data, _version(loc, size, r.headers)
    label = str(r.headers.get("Content-Range", ""))
    m = _CONTENT_RANGE.match(label)
    total = int(m.group(3)) if m is not None and m.group(3) != "*" else None
    first = max(0, total - n) if total is not None else -1
    if m is None or total is None or int(m.group(1)) != first:
        raise RemoteReadError(
            f"{loc.display}: {what}, the server answered 206 with Content-Range {label!r}, "
            "which is not the object's last bytes (nor states its size); nothing was used. "
            "The server or a proxy in between mishandles range requests"
        )
    version = _version(loc, total, r.headers)
    want = Want(loc, first, total - first, version)
    got, _ended = await _partial(want, first, total, r, False)
    if len(got.data) == want.length:
        return got.data, version
    # (a shorter 206, which RFC 9110 allows: the rest asked for as any range is)
    rest = await _read(
        fs,
        await fs.set_session(),
        Want(loc, first + len(got.data), want.length - len(got.data), version),
    )
    return got.data + rest.data, version


def _version(loc: Location, size: int | None, headers: Mapping[str, str]) -> SourceStamp | None:
    """The version of ``loc`` an answer states: its size, ETag and Last-Modified time (None
    when it states neither validator, or no size)."""
    if size is None or not (headers.get("ETag") or headers.get("Last-Modified")):
        return None
    stated = {k: headers[k] for k in ("ETag", "Last-Modified") if headers.get(k)}
    return SourceStamp(loc.identity, size, _mtime_ns(stated), etag=_etag(stated))


async def _tail(r: Any, n: int) -> tuple[bytes, int]:
    """The last ``n`` bytes of a whole-object answer ``r``, holding no more than them, and the
    object's size."""
    size = _content_length(r.headers)
    if size is not None:
        data, _ = await _body(r, max(0, size - n), n, drain=False)
        return data, size
    kept = bytearray()
    total = 0
    async for piece in r.content.iter_any():
        kept += piece
        total += len(piece)
        del kept[: max(0, len(kept) - n)]
    return bytes(kept), total
