"""Ranged GETs over HTTP(S), checked: the byte layer's reads of ``http://`` and ``https://`` URLs.

fsspec's HTTP ``cat_file`` returns whatever body a server sends, so a ``206`` naming other bytes
than asked, a body encoded on the fly or a replaced object would be used as the bytes asked for.
These reads go through the filesystem's own aiohttp session (its connection pool, timeouts and
storage options) and take an answer only when it is the range asked:

- ``206``: its ``Content-Range`` must start at the offset asked; a longer range is cut to the
  length asked (its transfer ended there), a shorter one (RFC 9110 allows it) is followed by requests for the rest (at most
  :data:`MAX_FOLLOW_UPS`); the total it names must be the size at open;
- ``200`` (the server ignored ``Range``): the body must be the whole object (its size at open),
  and the range is taken from it as it arrives: bytes before the range are dropped, and the
  transfer ends after it (when ``Content-Length`` gives the size), so a read holds its range,
  never the object; a large object so read warns once per URL (:class:`RuntimeWarning`), since
  every read then downloads the object up to the end of its range;
- any ``Content-Encoding`` but identity is refused (``Accept-Encoding: identity`` is sent);
- the answer's ``ETag`` and ``Last-Modified`` are compared with the stamp taken at open, so a
  replaced object raises :class:`~lazyvol.errors.SourceChangedError` whether or not the server
  honours ``If-Match`` (sent with a strong ETag all the same: a server that honours it refuses a
  changed object with 412); an answer without an ETag when the stamp has one has the object
  verified after the read (one HEAD);
- ``429``, ``502``, ``503`` and ``504`` are retried as :mod:`lazyvol._retry` says
  (:data:`ATTEMPTS` attempts in all, backing off, following ``Retry-After`` up to
  :data:`MAX_RETRY_AFTER` seconds), as the HEAD that stamps an object is.

Everything else is a typed error naming the URL, the range asked and what was received.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ._io_local import short_read
from ._io_remote import (
    _etag,
    _mtime_ns,
    _same_time,
    changed,
    filesystem,
    fs_path,
    if_match,
    info,
    stamp_from_info,
    translate,
    warn_once,
)
from ._location import Location
from ._range_refusal import opaque_etag, range_refused, stated
from ._retry import ATTEMPTS, MAX_RETRY_AFTER, hung_up, wait_before_retry
from ._s3_range import is_s3, s3_cat
from .errors import (
    FormatError,
    LazyvolError,
    RemoteReadError,
    ResourceLimitError,
    SourceChangedError,
    SourceNotFoundError,
)
from .sources import SourceStamp

_T = TypeVar("_T")

__all__ = [
    "ATTEMPTS",
    "MAX_FOLLOW_UPS",
    "MAX_RETRY_AFTER",
    "get_retried",
    "ignores_range",
    "read_many",
    "read_whole",
    "too_large",
    "whole",
]

#: Requests for the rest of a range after a shorter ``206`` answer that are shorter still than
#: the first answer (answers of the first one's size, a server's cap, are always followed).
MAX_FOLLOW_UPS = 8
#: Most answers one range may come in.
MAX_PIECES = 1024
#: Most bytes past the range asked that a longer ``206`` is read on for (to check its length and
#: keep the connection); beyond, the answer is left once the range has arrived.
DRAIN_BYTES = 2**16
#: Requests in flight at once per batch when the session states no connection limit (else its
#: limit, up to 64: see ``_in_flight``).
CONCURRENCY = 32
#: A whole-object answer to a ranged request warns when the object is this much larger than the
#: range asked, and at least :data:`NORANGE_BYTES`.
NORANGE_FACTOR = 4
NORANGE_BYTES = 2**20

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Want:
    """One range to read: ``length`` bytes of ``loc`` from ``offset``, checked against
    ``expect`` (the stamp at open) when given."""

    loc: Location
    offset: int
    length: int
    expect: SourceStamp | None = None

    @property
    def what(self) -> str:
        return f"reading bytes {self.offset}-{self.offset + self.length - 1}"


@dataclass
class _Got:
    data: bytes
    #: The stamp has an ETag but no answer carried one: verify the object after the read.
    verify: bool = False
    #: Size of a whole-object answer to a ranged request (0: none).
    whole: int = 0


def read_many(fs: Any, wants: Sequence[Want]) -> list[bytes | LazyvolError]:
    """The bytes of every range of ``wants`` (HTTP(S) locations of one filesystem), in order,
    requests in flight together; a failed range gives its typed error in its place."""
    from fsspec.asyn import sync

    got: list[_Got | BaseException] = sync(fs.loop, _gather, fs, list(wants))
    out: list[bytes | LazyvolError] = []
    checked: dict[str, LazyvolError | None] = {}
    for want, res in zip(wants, got, strict=True):
        if isinstance(res, BaseException):
            out.append(translate(res, want.loc, want.what))
            continue
        if res.whole:
            _warn_norange(want, res.whole)
        if res.verify and want.expect is not None:
            if want.loc.url not in checked:
                checked[want.loc.url] = _verify(want.loc, want.expect)
            err = checked[want.loc.url]
            if err is not None:
                out.append(err)
                continue
        out.append(res.data)
    return out


def _verify(loc: Location, expect: SourceStamp) -> LazyvolError | None:
    """The object now against ``expect`` (one HEAD): its error, or None when unchanged."""
    try:
        now = stamp_from_info(loc, info(loc))
    except SourceNotFoundError:
        return SourceChangedError(
            f"{loc.display}: the object was removed after it was opened; open the source again"
        )
    except LazyvolError as exc:
        return exc
    return changed(loc, expect, now)


def _warn_norange(want: Want, size: int) -> None:
    if size <= NORANGE_FACTOR * want.length or size <= NORANGE_BYTES:
        return
    warn_once(
        "norange",
        want.loc,
        f"{want.loc.display}: the server ignores Range requests and answered a read of "
        f"{want.length} bytes with the whole object ({size} bytes): every read downloads the "
        "object from its first byte to the end of the range read (up to the whole object; only "
        "the range is kept in memory). Enable range requests on the server, or copy the file "
        "locally first",
    )


def _in_flight(session: Any) -> int:
    """Requests a batch keeps in flight: the session's connection limit (aiohttp's default 100,
    or what ``client_kwargs`` set) up to 64, else :data:`CONCURRENCY`. (A fixed 32 made a header
    scan of 1000 objects 2.9x slower over a 50 ms link than fsspec's ``cat_ranges``, which fills
    the pool; 64 in flight read 1000 ranges in 1.1 s there, against 0.8 s with 100.)"""
    limit = getattr(getattr(session, "connector", None), "limit", 0)
    return min(int(limit), 64) if isinstance(limit, int) and limit > 0 else CONCURRENCY


async def _gather(fs: Any, wants: list[Want]) -> list[_Got | BaseException]:
    session = await fs.set_session()
    gate = asyncio.Semaphore(_in_flight(session))

    async def one(want: Want) -> _Got:
        async with gate:
            return await _read(fs, session, want)

    return list(await asyncio.gather(*(one(w) for w in wants), return_exceptions=True))


async def _read(fs: Any, session: Any, want: Want, *, upto_end: bool = False) -> _Got:
    """``want``'s bytes: one request, then one per missing rest of a shorter 206; with
    ``upto_end``, fewer when the object ends first (as a file read past its end), else a
    truncated object."""
    if want.length == 0:
        return _Got(b"")
    parts: list[bytes] = []
    pos, stop = want.offset, want.offset + want.length
    verify = False
    shrinking = 0  # follow-ups whose answer was shorter than the first (a server capping its
    # answers at one size gets as many follow-ups as the range needs)
    while shrinking <= MAX_FOLLOW_UPS and len(parts) <= MAX_PIECES:
        got, ended = await _get(fs, session, want, pos, stop)
        verify = verify or got.verify
        if got.whole:
            return _Got(b"".join([*parts, got.data]), verify, got.whole)
        if parts and len(got.data) < len(parts[0]):
            shrinking += 1
        parts.append(got.data)
        pos += len(got.data)
        if pos >= stop:
            return _Got(b"".join(parts), verify)
        if ended and upto_end:
            return _Got(b"".join(parts), verify)
        if ended:
            raise short_read(want.loc, want.offset, want.length, pos - want.offset)
    raise RemoteReadError(
        f"{want.loc.display}: {want.what}: the server sent the range in pieces and still "
        f"lacked bytes {pos}-{stop - 1} after {len(parts)} answers (asked for bytes "
        f"{want.offset}-{stop - 1}, received {pos - want.offset} bytes); nothing was used"
    )


def _request_args(
    fs: Any, loc: Location, start: int, stop: int, expect: SourceStamp | None
) -> tuple[Any, dict[str, Any]]:
    """The URL and keyword arguments of a ranged GET: the storage options' request options and
    headers (an ``Authorization`` kept), plus Range, identity encoding and If-Match."""
    kw = dict(fs.kwargs)
    headers = dict(kw.pop("headers", None) or {})
    headers.update(if_match(expect))
    headers["Range"] = f"bytes={start}-{stop - 1}"
    headers["Accept-Encoding"] = "identity"
    return fs.encode_url(fs_path(loc, fs)), {**kw, "headers": headers}


async def get_retried(
    session: Any,
    url: str,
    kw: Mapping[str, Any],
    answer: Callable[[Any], Awaitable[_T]],
    final: tuple[type[BaseException], ...] = (),
) -> _T:
    """GET ``url`` (``kw``: the request's arguments) and return what ``answer`` makes of the
    response, asked again on 429/500/502/503/504 (Retry-After honoured) and when the server hangs
    up without a whole answer (:mod:`lazyvol._retry`); an exception of a ``final`` type is
    raised as it is, never asked again. The one retry loop of every HTTP(S) GET here."""
    for attempt in range(ATTEMPTS):
        try:
            async with session.get(url, **kw) as r:
                wait = wait_before_retry(r.status, r.headers.get("Retry-After"), attempt)
                if wait is None:
                    return await answer(r)
        except final:
            raise
        except Exception as exc:
            wait = wait_before_retry(None, None, attempt, unanswered=hung_up(exc))
            if wait is None:
                raise
        await asyncio.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


async def _get(fs: Any, session: Any, want: Want, start: int, stop: int) -> tuple[_Got, bool]:
    """One ranged GET of bytes ``start``-``stop - 1`` (retried on 429/500/502/503/504, and when the
    server hangs up without answering: :func:`get_retried`): the bytes
    received from ``start`` (at most ``stop - start``) and whether the object ends there."""
    url, kw = _request_args(fs, want.loc, start, stop, want.expect)
    return await get_retried(session, url, kw, lambda r: _answered(want, start, stop, r))


async def _answered(want: Want, start: int, stop: int, r: Any) -> tuple[_Got, bool]:
    """What :func:`_get` takes from an answer ``r`` not to be asked again."""
    if r.status == 416:  # judged from the start of this request, not of the range
        raise range_refused(want.loc, want.what, start, want.expect, *stated(r.headers))
    if r.status not in (200, 206):
        r.raise_for_status()  # a status error, typed by translate
        raise RemoteReadError(f"{want.loc.display}: {want.what}: unexpected answer HTTP {r.status}")
    _check_encoding(want, r.headers)
    verify = _check_validators(want, r.headers)
    if r.status == 206:  # (Range honoured: a whole answer seen before was a passing proxy's)
        _forget_norange(want.loc.identity)
        return await _partial(want, start, stop, r, verify)
    return await _whole(want, start, stop, r, verify)


async def _body(r: Any, skip: int, keep: int, *, drain: bool) -> tuple[bytes, int | None]:
    """The ``keep`` bytes of answer ``r``'s body after its first ``skip`` bytes (fewer when it
    ends first), taken as the body arrives, so that only they are held, whatever the body's
    size; and the body's length, counted to its end when ``drain`` or when it ends before those
    bytes, else None (the rest is not read: leaving the answer closes its connection)."""
    out = bytearray()
    pos = 0
    async for piece in r.content.iter_any():
        if pos + len(piece) > skip and len(out) < keep:
            lo = max(skip - pos, 0)
            out += memoryview(piece)[lo : lo + keep - len(out)]
        pos += len(piece)
        if len(out) >= keep and not drain:
            return bytes(out), None
    return bytes(out), pos


def _check_encoding(want: Want, headers: Mapping[str, str]) -> None:
    encoding = str(headers.get("Content-Encoding", "")).strip()
    if encoding.lower() in ("", "identity"):
        return
    raise RemoteReadError(
        f"{want.loc.display}: {want.what}: the server answered with Content-Encoding: "
        f"{encoding} although identity was asked, so the body is not the object's bytes; nothing "
        "was used. Fix it on the server: serve the file without Content-Encoding (a .gz file as "
        "Content-Type application/gzip, not as Content-Encoding: gzip; no on-the-fly "
        "compression of images)"
    )


def _check_validators(want: Want, headers: Mapping[str, str]) -> bool:
    """Raise :class:`SourceChangedError` when the answer's ETag (else Last-Modified) is not the
    stamp's; True when the stamp has an ETag the answer did not carry (verify after)."""
    expect = want.expect
    if expect is None:
        return False
    tag = expect.etag.split("@", 1)[0]
    got_tag = _etag({"ETag": headers.get("ETag", "")})
    weak = False
    if tag and got_tag:
        # (weak comparison, RFC 9110 8.8.3.2: W/"x" and "x" name one tag; a server or CDN may
        # weaken the tag of an answer it might compress, a HEAD's and not a GET's)
        if opaque_etag(got_tag) != opaque_etag(tag):
            raise SourceChangedError(
                f"{want.loc.display}: the object changed after it was opened (ETag {tag} -> "
                f"{got_tag}); open the source again"
            )
        weak = tag.startswith("W/") or got_tag.startswith("W/")
    # The Last-Modified time must also be the one at open, as :func:`changed` compares a HEAD's:
    # a weak ETag may stay while the bytes change (RFC 9110: never a check of byte ranges), and
    # so does the strong one of a server whose tag names no content (a fixed or path-derived
    # tag), If-Match passed: the bytes of a new version were read at the old offsets.
    modified = _mtime_ns({"Last-Modified": headers.get("Last-Modified")})
    if expect.mtime_ns and modified and not _same_time(modified, expect.mtime_ns):
        raise SourceChangedError(
            f"{want.loc.display}: the object changed after it was opened (Last-Modified "
            f"{headers.get('Last-Modified')} is not the time it had at open); open the source "
            "again"
        )
    if tag and got_tag and not weak:
        return False
    if weak and expect.mtime_ns and modified:
        return False  # the tag and the time a HEAD would give, both checked on this answer
    return bool(tag)


async def _partial(want: Want, start: int, stop: int, r: Any, verify: bool) -> tuple[_Got, bool]:
    """The bytes of a 206 answer from ``start`` (at most ``stop - start``), after checking its
    Content-Range; and whether the object ends with them. A longer range than asked is read
    only up to the end of the range asked (on to its end, its length checked, when it is at most
    :data:`DRAIN_BYTES` longer), holding only the bytes asked."""
    headers: Mapping[str, str] = r.headers
    asked = f"bytes {start}-{stop - 1}"
    label = str(headers.get("Content-Range", ""))
    m = _CONTENT_RANGE.match(label)
    if m is None:
        raise RemoteReadError(
            f"{want.loc.display}: asked for {asked}, the server answered 206 with Content-Range "
            f"{label or '(none)'!r}, which names no byte range; nothing was used"
        )
    first, last = int(m.group(1)), int(m.group(2))
    total = None if m.group(3) == "*" else int(m.group(3))
    if first != start or last < first:
        raise RemoteReadError(
            f"{want.loc.display}: asked for {asked}, the server sent bytes {first}-{last} "
            f"(Content-Range {label!r}): not the range asked; nothing was used. The server or a "
            "proxy in between mishandles range requests"
        )
    if total is not None and want.expect is not None and total != want.expect.size:
        raise SourceChangedError(
            f"{want.loc.display}: the object changed after it was opened (size "
            f"{want.expect.size} -> {total}, from Content-Range {label!r}); open the source again"
        )
    keep = min(last + 1, stop) - start
    # Bytes past the range are drained (the connection stays reusable) only when few: a server
    # answering every range to the object's end would otherwise send the rest of the object on
    # every read. The body's length is checked when it was read to its end.
    data, length = await _body(r, 0, keep, drain=last - first + 1 - keep <= DRAIN_BYTES)
    if length is not None and length != last - first + 1:
        raise RemoteReadError(
            f"{want.loc.display}: asked for {asked}, the server's Content-Range {label!r} names "
            f"{last - first + 1} bytes but the body holds {length}; nothing was used"
        )
    ended = total is not None and last + 1 >= total
    return _Got(data, verify), ended


async def _whole(want: Want, start: int, stop: int, r: Any, verify: bool) -> tuple[_Got, bool]:
    """A 200 answer to a ranged request: the whole object, from which the range is taken as the
    body arrives (bytes before it dropped, the rest not read when the size is known from
    ``Content-Length``), so that a read holds the range, not the object."""
    expect = want.expect
    declared = _content_length(r.headers)
    size: int | None = declared
    data = b""
    if expect is None or declared is None or declared == expect.size:
        data, counted = await _body(r, start, stop - start, drain=declared is None)
        size = counted if counted is not None else declared
    if expect is not None and size != expect.size:
        raise RemoteReadError(
            f"{want.loc.display}: asked for bytes {start}-{stop - 1}, the server answered 200 "
            f"with {size} bytes, which is not the whole object ({expect.size} bytes at "
            "open) nor a range it labelled; nothing was used"
        )
    assert size is not None  # (declared, or counted to the body's end)
    if start > 0 or stop < size:  # (a part asked, the whole object answered)
        with _NORANGE_LOCK:  # (moved last; the oldest forgotten first)
            _NORANGE.pop(want.loc.identity, None)
            _NORANGE[want.loc.identity] = None
            while len(_NORANGE) > NORANGE_KEPT:
                _NORANGE.pop(next(iter(_NORANGE)))
    if size < stop:
        if start >= size:
            raise FormatError(
                f"{want.loc.display}: truncated: {want.what} starts past the end of the object "
                f"({size} bytes); the object is shorter than its header says, or changed "
                "since it was opened"
            )
        return _Got(data, verify), True
    return _Got(data, verify, whole=size), False


#: Identities of the URLs whose server answered the last request for a part of the object with
#: the whole object (it ignores ``Range``) in this process, oldest first: a later 206 (Range
#: honoured: the whole answer came from a passing proxy, or a server since fixed) removes one,
#: and at most :data:`NORANGE_KEPT` are kept.
_NORANGE: dict[str, None] = {}
NORANGE_KEPT = 4096
_NORANGE_LOCK = threading.Lock()


def _forget_norange(identity: str) -> None:
    with _NORANGE_LOCK:
        _NORANGE.pop(identity, None)


def ignores_range(loc: Location) -> bool:
    """Whether a read of ``loc`` in this process asked for a part of the object and received
    the whole object (a server that ignores ``Range``: the byte layer takes its range from such
    an answer, other clients do not)."""
    return loc.identity in _NORANGE


def _content_length(headers: Mapping[str, str]) -> int | None:
    """The answer's ``Content-Length`` (None when absent or not a number of bytes)."""
    text = str(headers.get("Content-Length", "")).strip()
    return int(text) if text.isdigit() else None


# -- whole objects, bounded --------------------------------------------------------------------------


def too_large(
    loc: Location, size: int | None, limit: int, what: str, fix: str
) -> ResourceLimitError:
    """The error of a whole read of ``loc`` (``what`` it is) that would hold more than ``limit``
    bytes: ``size`` as the answer stated it, None when the body went on past the limit."""
    found = (
        f"is {size} bytes, over the limit of {limit} bytes"
        if size is not None
        else f"went on past {limit} bytes, the limit"
    )
    return ResourceLimitError(
        f"{loc.display}: {what} {found} for reading it; nothing was used ({fix})"
    )


def read_whole(loc: Location, limit: int, *, what: str, fix: str) -> bytes:
    """The whole object ``loc`` (a URL) in one request, never holding more than ``limit + 1``
    bytes of it, whatever the server sends (a huge body, a body sent in chunks for ever, a
    ``Content-Length`` that lies): HTTP(S) by :func:`whole`, other protocols by a ranged
    ``cat_file`` of the first ``limit + 1`` bytes.

    Raises
    ------
    FileNotFoundError
        No such object (HTTP 404, an absent key).
    ResourceLimitError
        The object is more than ``limit`` bytes (:func:`too_large`, ``what`` and ``fix`` word it).
    LazyvolError
        The request failed (typed as :func:`~lazyvol._remote_errors.translate` types it).
    """
    from fsspec.asyn import sync

    fs = filesystem(loc)
    if loc.protocol in ("http", "https"):

        async def go() -> bytes:
            return await whole(fs, await fs.set_session(), loc, limit, what, fix)

        try:
            got: bytes = sync(fs.loop, go)
        except (FileNotFoundError, LazyvolError):
            raise
        except Exception as exc:
            raise translate(exc, loc, "reading it") from None
        return got
    try:  # (S3: a server ignoring Range is refused before it sends a large object whole)
        if is_s3(loc):
            data = s3_cat(fs, loc, 0, limit + 1)
        else:
            data = bytes(fs.cat_file(fs_path(loc, fs), start=0, end=limit + 1))
    except FileNotFoundError:
        raise
    except Exception as exc:
        if "not satisfiable" not in str(exc):  # (S3 refuses any range of an empty object)
            raise translate(exc, loc, "reading it") from None
        data = b""
    if len(data) > limit:
        raise too_large(loc, None, limit, what, fix)
    return data


async def whole(
    fs: Any,
    session: Any,
    loc: Location,
    limit: int,
    what: str,
    fix: str,
    check: Callable[[Mapping[str, str], bytes], None] | None = None,
) -> bytes:
    """The whole object ``loc`` (HTTP(S)): one GET without ``Range`` (a body encoded on the fly
    decoded, as any client reads it), tried again on 429/500/502/503/504 and hang-ups as ranged
    reads are; refused (:func:`too_large`) when its ``Content-Length`` states more than
    ``limit`` bytes, before any is read, or when its body goes on past ``limit`` bytes, of
    which no more than ``limit + 1`` are held; ``check(headers, body)`` raises for an answer
    the caller refuses."""
    url = fs.encode_url(fs_path(loc, fs))

    async def answer(r: Any) -> bytes:
        fs._raise_not_found_for_status(r, loc.url)  # (404: FileNotFoundError)
        if r.status == 206:
            raise RemoteReadError(
                f"{loc.display}: reading it whole, the server answered 206 (a part) "
                "to a request that asked for no range; nothing was used"
            )
        if r.status != 200:  # (a redirect not followed, 204, 304: no object's body)
            raise RemoteReadError(
                f"{loc.display}: reading it whole: unexpected answer HTTP {r.status} "
                "(not the object); nothing was used. Check the URL (a redirect "
                "the client did not follow: storage_options allow_redirects)"
            )
        encoding = str(r.headers.get("Content-Encoding", "")).strip().lower()
        declared = _content_length(r.headers) if encoding in ("", "identity") else None
        if declared is not None and declared > limit:
            raise too_large(loc, declared, limit, what, fix)
        data, _ = await _body(r, 0, limit + 1, drain=False)
        if len(data) > limit:
            raise too_large(loc, None, limit, what, fix)
        if check is not None:
            check(r.headers, data)
        return data

    return await get_retried(
        session, url, fs.kwargs, answer, final=(FileNotFoundError, LazyvolError)
    )
