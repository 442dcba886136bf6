"""Ranged GETs of S3 objects (``s3://``, ``s3a://``) through s3fs's client, each answer judged by
its status and headers before its body is read.

s3fs's ``cat_file`` reads the whole body of the answer to a ranged ``GetObject``: an S3-compatible
server that ignores ``Range`` (a gateway, a proxy that drops the header) sent the whole object,
every byte of it received, before the byte layer refused a read of the wrong length. Here an
answer is taken only when it is the range asked (status 206, a ``Content-Range`` starting at the
offset asked, no more bytes than asked); else its body is closed unread (closing its connection)
and the read refused. Requests of one batch go out together (at most :data:`CONCURRENCY` at once).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ._io_remote import _etag, changed, exact, fs_path, translate
from ._location import Location
from ._remote_errors import remote_deadline
from .errors import LazyvolError, RemoteReadError, SourceChangedError
from .sources import SourceStamp

__all__ = ["CONCURRENCY", "is_s3", "s3_cat", "s3_get", "s3_ranges", "s3_suffix"]

#: Requests in flight at once per batch.
CONCURRENCY = 32
#: Most answers one range may come in (a server sending fewer bytes than asked each time).
MAX_PIECES = 1024

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


def is_s3(loc: Location) -> bool:
    """Whether ``loc`` is read through s3fs."""
    return loc.protocol in ("s3", "s3a")


def s3_ranges(
    fs: Any, reqs: Sequence[tuple[Location, int, int, SourceStamp | None]]
) -> list[bytes | LazyvolError]:
    """The bytes of every range ``(loc, offset, length, expect)`` of ``reqs`` (S3 objects of the
    filesystem ``fs``), in order; a failed range gives its typed error in its place."""
    from fsspec.asyn import sync

    async def gather() -> list[bytes | BaseException]:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(loc: Location, offset: int, length: int, expect: Any) -> bytes:
            async with gate:
                return await s3_get(fs, loc, offset, offset + length, expect)

        coros = (one(loc, off, n, expect) for loc, off, n, expect in reqs)
        return list(await asyncio.gather(*coros, return_exceptions=True))

    out: list[bytes | LazyvolError] = []
    for (loc, off, n, expect), res in zip(reqs, sync(fs.loop, gather), strict=True):
        what = f"reading bytes {off}-{off + n - 1}"
        if isinstance(res, BaseException):
            out.append(translate(res, loc, what, off, expect))
            continue
        try:
            out.append(exact(loc, off, n, res))
        except LazyvolError as exc:
            out.append(exc)
    return out


def s3_cat(fs: Any, loc: Location, start: int, stop: int) -> bytes:
    """Bytes ``start``-``stop - 1`` of ``loc``, fewer when the object ends first (as s3fs's
    ``cat_file``), each answer checked (:func:`_get`); failures raised as they come."""
    from fsspec.asyn import sync

    return bytes(sync(fs.loop, s3_get, fs, loc, start, stop))


async def s3_get(
    fs: Any, loc: Location, start: int, stop: int, expect: SourceStamp | None = None
) -> bytes:
    """Bytes ``start``-``stop - 1`` of ``loc`` (fewer when the object ends first): a
    ``GetObject`` (and one per missing rest of a shorter answer), its body read only when the
    answer is that range (:func:`_not_the_range`) of the object ``expect`` names when given
    (:func:`_not_the_object`), each answer within ``LAZYVOL_REMOTE_DEADLINE`` when set
    (botocore's timeouts limit a stall only: a server sending a byte now and then never ends).

    The bytes asked come in one ``GetObject``, then one per missing rest when the answer is a
    shorter ``206`` of an object that holds more (HTTP lets a server send fewer bytes than asked;
    some gateways cap each answer): as the byte layer's HTTP(S) reads, at most
    :data:`MAX_PIECES` answers, each its own request for the deadline (as an HTTP(S) read's
    follow-ups are: a gateway capping answers at 100 bytes had a 48 kB read refused as too
    slow, its 480 quick answers counted as one request). Fewer bytes when the object ends
    first."""
    if stop <= start:
        return b""
    deadline = remote_deadline()
    parts: list[bytes] = []
    pos = start
    while len(parts) < MAX_PIECES:
        one = _get_one(fs, loc, pos, stop, expect)
        data, total = await (one if deadline is None else asyncio.wait_for(one, deadline))
        parts.append(data)
        pos += len(data)
        if pos >= stop or not data or total is None or pos >= total:
            return b"".join(parts)
    raise RemoteReadError(
        f"{loc.display}: reading bytes {start}-{stop - 1}: the server sent the range in pieces "
        f"and still lacked bytes {pos}-{stop - 1} after {len(parts)} answers (received "
        f"{pos - start} bytes); nothing was used"
    )


async def _get_one(
    fs: Any, loc: Location, start: int, stop: int, expect: SourceStamp | None
) -> tuple[bytes, int | None]:
    """One ``GetObject`` of bytes ``start``-``stop - 1``, judged before its body is read; its
    body and the object's size its ``Content-Range`` states (None for a whole-object answer)."""
    bucket, key, version = fs.split_path(fs_path(loc, fs))
    resp = await fs._call_s3(
        "get_object",
        Bucket=bucket,
        Key=key,
        Range=f"bytes={start}-{stop - 1}",
        **({"VersionId": version} if version else {}),
    )
    body = resp["Body"]
    try:
        refusal = _not_the_range(loc, start, stop, resp) or _not_the_object(loc, expect, resp)
        if refusal is not None:
            raise refusal
        m = _CONTENT_RANGE.match(str(resp.get("ContentRange") or ""))
        total = int(m.group(3)) if m is not None and m.group(3) != "*" else None
        data = bytes(await body.read())
    finally:
        body.close()  # (unread: the connection is closed, the rest of the object not received)
    if expect is not None and expect.etag and not resp.get("ETag"):
        # (an S3-compatible server stating no ETag on a GET: its object checked by a HEAD)
        found = await fs._info(fs_path(loc, fs), refresh=True)
        now = SourceStamp(expect.path, int(found.get("size") or 0), 0, etag=_etag(found))
        err = changed(loc, expect, now)
        if err is not None:
            raise err
    return data, total


async def s3_suffix(fs: Any, loc: Location, n: int) -> bytes:
    """The last ``n`` bytes of ``loc`` (all of it when shorter): one ``GetObject`` with
    ``Range: bytes=-n``, its body read only when the answer is the object's end (status 206, a
    ``Content-Range`` ending at the last byte, at most ``n`` bytes; or a whole object of at most
    ``n`` bytes), within ``LAZYVOL_REMOTE_DEADLINE`` when set; else closed unread and refused
    (a gateway that drops ``Range`` sends the whole object, which a shard's index read took
    for the index)."""

    async def now() -> bytes:
        bucket, key, version = fs.split_path(fs_path(loc, fs))
        extra = {"VersionId": version} if version else {}
        resp = await fs._call_s3("get_object", Bucket=bucket, Key=key, Range=f"bytes=-{n}", **extra)
        body = resp["Body"]
        try:
            status = (resp.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            label = str(resp.get("ContentRange") or "")
            length = resp.get("ContentLength")
            m = _CONTENT_RANGE.match(label)
            ends = m is not None and m.group(3) != "*" and int(m.group(2)) == int(m.group(3)) - 1
            fits = isinstance(length, int) and length <= n
            if not ((status == 206 and ends and fits) or (status == 200 and fits)):
                said = (
                    f"HTTP {status}, Content-Range {label or '(none)'!r}, Content-Length {length}"
                )
                raise RemoteReadError(
                    f"{loc.display}: asked for its last {n} bytes, the server answered with other "
                    f"bytes ({said}): it ignores Range requests (or a proxy in between drops "
                    "them); the answer was closed unread and nothing was used. Use an S3 "
                    "endpoint that honours Range, or copy the store locally first"
                )
            return bytes(await body.read())
        finally:
            body.close()

    deadline = remote_deadline()
    return await (now() if deadline is None else asyncio.wait_for(now(), deadline))


def _not_the_range(
    loc: Location, start: int, stop: int, resp: Mapping[str, Any]
) -> RemoteReadError | None:
    """The error of an answer to a GET of bytes ``start``-``stop - 1`` that is not that range
    (a whole-object answer: status 200, no ``Content-Range``, or more bytes than asked; unless
    the whole object is no more than the bytes asked from its start), else None."""
    status = (resp.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    label = str(resp.get("ContentRange") or "")
    length = resp.get("ContentLength")
    m = _CONTENT_RANGE.match(label)
    within = not isinstance(length, int) or length <= stop - start
    if status == 206 and m is not None and int(m.group(1)) == start:
        named = int(m.group(2)) - int(m.group(1)) + 1
        if isinstance(length, int) and length != named:
            # (a body of another length than its range: where it ends is unknown, and so is
            # whether the connection's next answer starts where it says)
            return RemoteReadError(
                f"{loc.display}: asked for bytes {start}-{stop - 1}, the server's answer "
                f"(HTTP 206) names {named} bytes in Content-Range {label!r} but {length} in "
                "Content-Length: a broken server or proxy in between; the answer was closed "
                "unread and nothing was used"
            )
    if status == 206 and m is not None and int(m.group(1)) == start and within:
        return None
    if status == 200 and start == 0 and isinstance(length, int) and within:
        return None  # (the whole object, no longer than the bytes asked: Range ignored, harmless)
    said = f"HTTP {status}, Content-Range {label or '(none)'!r}, Content-Length {length}"
    return RemoteReadError(
        f"{loc.display}: asked for bytes {start}-{stop - 1} ({stop - start} bytes), the server "
        f"answered with other bytes ({said}): it ignores Range requests (or a proxy in between "
        "drops them), so every read would receive the whole object; the answer was closed "
        "unread and nothing was used. Use an S3 endpoint that honours Range, or copy the file "
        "locally first"
    )


def _not_the_object(
    loc: Location, expect: SourceStamp | None, resp: Mapping[str, Any]
) -> SourceChangedError | None:
    """The error of an answer from another object than ``expect`` (its ETag, else the size its
    ``Content-Range`` states, not the stamp's: the object was replaced since it was opened, and
    the bytes at the old offsets are the new object's), else None. No extra request: the
    answer states both."""
    if expect is None:
        return None
    tag = _etag({"ETag": resp.get("ETag") or ""})
    want = expect.etag.split("@", 1)[0]
    m = _CONTENT_RANGE.match(str(resp.get("ContentRange") or ""))
    total = int(m.group(3)) if m is not None and m.group(3) != "*" else None
    if (not (tag and want) or tag == want) and (total is None or total == expect.size):
        return None
    return SourceChangedError(
        f"{loc.display}: the object changed after it was opened (size {expect.size} -> "
        f"{total if total is not None else '?'}, ETag {want or '?'} -> {tag or '?'}); open the "
        "source again"
    )
