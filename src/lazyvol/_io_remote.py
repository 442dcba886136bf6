"""The remote half of the byte layer (:mod:`lazyvol._io`): fsspec filesystems made once per
process, exact ranged requests and object stamps (size, ETag, last-modified); every failure is
raised as the typed lazyvol error :mod:`lazyvol._remote_errors` makes of it, naming the URL
without credentials.

Remote requests time out after ``LAZYVOL_REMOTE_TIMEOUT`` seconds without progress (default 30),
and after ``LAZYVOL_REMOTE_DEADLINE`` seconds in all when it is set.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ._io_local import short_read
from ._location import Location
from ._remote_errors import (
    _chain,
    _status,
    no_filesystem,
    remote_deadline,
    remote_timeout,
    scrub,
    translate,
)
from ._remote_timeouts import with_timeouts
from ._retry import hung_up, wait_before_retry
from ._warn import warn as _warn_user
from .errors import (
    FormatError,
    RemoteReadError,
    SourceChangedError,
    UnsupportedError,
)
from .sources import SourceStamp

T = TypeVar("T")

__all__ = [
    "changed",
    "clear_filesystems",
    "exact",
    "filesystem",
    "fs_options",
    "fs_path",
    "if_match",
    "info",
    "options_stamp",
    "ranged",
    "reads_check",
    "remote_timeout",
    "retried",
    "stamp_from_info",
    "translate",
    "validated",
    "warn_once",
    "with_timeouts",
]


# -- filesystems -----------------------------------------------------------------------------------


_FS_LOCK = threading.Lock()
_FS: dict[tuple[int, str, str, float, float | None], Any] = {}


def filesystem(loc: Location) -> Any:
    """The fsspec filesystem of ``loc``, made once per process, storage options and what the URL
    itself says of the filesystem (``ftp://`` and ``hdfs://`` host, port and user, an Azure
    account: fsspec's ``_get_kwargs_from_urls``, under the storage options given).

    Raises
    ------
    ImportError
        fsspec or the protocol's package is not installed (``pip install 'lazyvol[remote]'``).
    UnsupportedError
        fsspec knows no such protocol.
    OptionError, RemoteReadError, ...
        The filesystem cannot be made from the URL and storage options (typed as a failed
        request when making it is one: a refused connection, a timeout, denied credentials).
    """
    key, options = fs_options(loc)
    with _FS_LOCK:
        fs = _FS.get(key)
        if fs is not None:
            return fs
    import fsspec

    try:
        fs = fsspec.filesystem(loc.protocol, **with_timeouts(loc.protocol, options))
    except ImportError as exc:
        raise _missing_package(loc, exc) from None
    except Exception as exc:
        raise no_filesystem(loc, exc) from None
    if loc.protocol in ("s3", "s3a"):
        # (botocore tries a request again itself, as its retries config says; s3fs's loop of 5
        # around it had a stalled HEAD asked 20 times: 20 LAZYVOL_REMOTE_TIMEOUTs and more)
        fs.retries = 1
    with _FS_LOCK:
        return _FS.setdefault(key, fs)


def fs_options(loc: Location) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The key of ``loc``'s filesystem in this process (two locations with one key are read
    through one filesystem) and the options it is made with: the storage options over what the
    URL says (:func:`filesystem`)."""
    try:
        import fsspec
    except ImportError as exc:  # pragma: no cover - fsspec comes with dask[array]
        raise ImportError(
            f"{loc.display}: reading URLs needs fsspec: pip install 'lazyvol[remote]'"
        ) from exc
    try:
        cls = fsspec.get_filesystem_class(loc.protocol)
        options = {**cls._get_kwargs_from_urls(loc.url), **loc.options.to_dict()}
    except ImportError as exc:
        raise _missing_package(loc, exc) from None
    except ValueError as exc:  # "Protocol not known"
        raise UnsupportedError(
            f"{loc.display}: fsspec knows no {loc.protocol}:// protocol ({scrub(str(exc), loc)}); "
            "lazyvol reads local paths and fsspec URLs (s3://, gs://, https://, ...): check the "
            "URL's scheme, or install the package that registers it"
        ) from None
    text = json.dumps([options, options_stamp(loc)], sort_keys=True, default=repr)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return (os.getpid(), loc.protocol, digest, remote_timeout(), remote_deadline()), options


def options_stamp(loc: Location) -> tuple[int, ...]:
    """What changes when a file the storage options name is rewritten: for a ``reference://``
    URL, the size, mtime, inode and ctime of its local references file (``fo``), which fsspec's
    reference filesystem reads once, when it is made; ``()`` otherwise. It keys the filesystem
    (:func:`fs_options`) and a Zarr store's identity (``StoreRoot.file_id``), so references
    written again are read again, and reads planned on the old ones are refused."""
    fo = loc.options.to_dict().get("fo") if loc.protocol == "reference" else None
    if not isinstance(fo, str | os.PathLike) or "://" in os.fspath(fo):
        return ()
    try:
        st = os.stat(fo)
    except OSError:
        return ()
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def _missing_package(loc: Location, exc: ImportError) -> ImportError:
    return ImportError(
        f"{loc.display}: reading {loc.protocol}:// URLs needs a package that is not "
        f"installed ({scrub(str(exc), loc)}); pip install 'lazyvol[remote]'"
    )


def clear_filesystems() -> None:
    """Forget the filesystem instances this process made (the next read makes new ones)."""
    with _FS_LOCK:
        _FS.clear()


def fs_path(loc: Location, fs: Any) -> str:
    if loc.protocol in ("http", "https"):
        return loc.url  # HTTP "paths" are whole URLs
    return str(fs._strip_protocol(loc.url))


# -- stat, identity, listing -----------------------------------------------------------------------


def _mtime_ns(info: Mapping[str, Any]) -> int:
    for name in ("LastModified", "last_modified", "Last-Modified", "updated", "mtime", "created"):
        value = info.get(name)
        if value is None:
            continue
        if isinstance(value, datetime):
            return int(value.timestamp() * 1e9)
        if isinstance(value, int | float):
            return int(float(value) * 1e9)
        text = str(value)
        try:
            from email.utils import parsedate_to_datetime

            return int(parsedate_to_datetime(text).timestamp() * 1e9)
        except (TypeError, ValueError, IndexError):
            pass
        try:
            return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1e9)
        except ValueError:
            pass
    return 0


def _etag(info: Mapping[str, Any]) -> str:
    tag = ""
    for name in ("ETag", "etag", "Etag", "md5Hash", "Content-MD5", "Digest"):
        if info.get(name):
            tag = str(info[name])
            if tag.startswith('"') and tag.endswith('"') and len(tag) >= 2:
                tag = tag[1:-1]  # a strong ETag without its quotes; weak ones keep W/"..."
            break
    for name in ("VersionId", "generation", "version_id"):
        if info.get(name):
            tag = f"{tag}@{info[name]}"
            break
    return tag


def stamp_from_info(loc: Location, info: Mapping[str, Any]) -> SourceStamp:
    """The stamp of ``loc`` from fsspec's ``info`` (or a listing entry).

    Warns once per URL (:class:`RuntimeWarning`) when the object has neither an ETag nor a
    last-modified time: a replacement of the same size cannot be told from the original then.

    Raises
    ------
    FormatError
        The size is unknown (no Content-Length, or a body the server encodes on the fly).
    """
    size = info.get("size")
    if size is None:
        raise FormatError(_no_size_message(loc))
    stamp = SourceStamp(loc.identity, int(size), _mtime_ns(info), etag=_etag(info))
    if not validated(stamp):
        _warn_unvalidated(loc)
    return stamp


def version_of(loc: Location) -> tuple[int | None, str, int]:
    """What changes when object ``loc`` is replaced, as its HEAD (or listing) states it:
    ``(size, ETag[@version], last-modified ns)``, the size None when the answer states none (a
    body the server encodes on the fly, which :func:`stamp_from_info` refuses: a small file read
    whole and decoded, such as a Zarr store's metadata, needs no size).

    Raises
    ------
    SourceNotFoundError
        No such object.
    FormatError
        ``loc`` is a prefix (directory), not an object.
    RemoteAccessError, RemoteReadError, RemoteTimeoutError
        The request failed.
    """
    found = info(loc)
    if found.get("type") == "directory":
        raise FormatError(f"{loc.display}: is a prefix (directory), not an object")
    size = found.get("size")
    return (None if size is None else int(size), _etag(found), _mtime_ns(found))


def _no_size_message(loc: Location) -> str:
    encoding = _content_encoding(loc) if loc.protocol in ("http", "https") else ""
    if encoding:
        return (
            f"{loc.display}: the server sends the object with Content-Encoding: {encoding}, so its "
            "size and byte ranges are those of an encoded body, not of the object; lazyvol reads "
            "exact byte ranges and needs the object served as it is stored. Fix it on the server: "
            "serve the file without Content-Encoding (a .gz file as Content-Type "
            "application/gzip, not as Content-Encoding: gzip; no on-the-fly compression of "
            "images)"
        )
    return (
        f"{loc.display}: the server does not report the object's size (no Content-Length); "
        "lazyvol needs it to check reads against the header"
    )


def _content_encoding(loc: Location) -> str:
    """The Content-Encoding of a HEAD answer for ``loc`` asking for none ("" when none, or when
    the request fails: this only words a message)."""
    fs = filesystem(loc)

    async def head() -> str:
        session = await fs.set_session()
        kw = dict(fs.kwargs)
        headers = {**(kw.pop("headers", None) or {}), "Accept-Encoding": "identity"}
        async with session.head(fs.encode_url(loc.url), headers=headers, **kw) as r:
            return str(r.headers.get("Content-Encoding", "")).strip()

    try:
        from fsspec.asyn import sync

        found: str = sync(fs.loop, head)
    except Exception:
        return ""
    return "" if found.lower() in ("", "identity") else found


def validated(stamp: SourceStamp) -> bool:
    """True unless ``stamp`` is a remote object's with neither an ETag nor a last-modified time
    (then a replacement of the same size is indistinguishable: nothing may be cached under it)."""
    return not stamp.is_url or bool(stamp.etag) or stamp.mtime_ns != 0


def names_content(etag: str, size: int, mtime_ns: int) -> bool:
    """Whether an object's ETag tells its content apart from a same-size replacement within the
    second: present, and not made of its Last-Modified second and size alone (nginx's
    ``"<mtime hex>-<size hex>"``, weak ``W/"..."`` when it compresses), which such a rewrite
    keeps, as it keeps Last-Modified. What a saved result (cache entry, scan index) may be keyed
    by: an object without one is read again rather than taken for the one saved."""
    tag = etag.split("@", 1)[0].removeprefix("W/").strip('"')
    if not tag:
        return False
    return not (mtime_ns and tag.lower() == f"{mtime_ns // 10**9:x}-{size:x}")


_WARNED_LOCK = threading.Lock()
_WARNED: set[tuple[str, str]] = set()


def warn_once(kind: str, loc: Location, message: str) -> None:
    """Issue ``message`` as a :class:`RuntimeWarning` once per process, ``kind`` and URL."""
    with _WARNED_LOCK:
        if (kind, loc.identity) in _WARNED:
            return
        _WARNED.add((kind, loc.identity))

    _warn_user(message, RuntimeWarning)


def _warn_unvalidated(loc: Location) -> None:
    warn_once(
        "unvalidated",
        loc,
        f"{loc.display}: the server sends neither an ETag nor a Last-Modified time, so lazyvol "
        "cannot tell this object from a replacement of the same size: reads after such a "
        "replacement could mix old and new bytes, and nothing read from it is cached (no cache "
        "entry, no saved gzip seek index). Serve it with an ETag to lift this",
    )


def changed(loc: Location, expected: SourceStamp, now: SourceStamp) -> SourceChangedError | None:
    """The error saying ``loc`` is no longer ``expected`` (size, ETag, last-modified time), or
    None when ``now`` is the same object."""
    same = now.size == expected.size and _same_etag(now.etag, expected.etag)
    if same and now.mtime_ns and expected.mtime_ns:
        same = _same_time(now.mtime_ns, expected.mtime_ns)
    if same:
        return None
    when = ""
    if now.mtime_ns != expected.mtime_ns:  # (the only witness where a server sends no ETag)
        when = f", Last-Modified {_http_time(expected.mtime_ns)} -> {_http_time(now.mtime_ns)}"
    return SourceChangedError(
        f"{loc.display}: the object changed after it was opened (size {expected.size} -> "
        f"{now.size}, ETag {expected.etag or '?'} -> {now.etag or '?'}{when}); open the source "
        "again"
    )


def _same_etag(a: str, b: str) -> bool:
    """Whether two stamps' ETags (:func:`_etag`: ``tag[@version]``) name one object: equal when
    either has none; the versions compared only when both state one. A listing (S3's
    ListObjectsV2, fsspec's ``find``) states no VersionId where a HEAD of the same object in a
    versioned bucket does: ``md5`` and ``md5@v1`` are one object, ``md5@v1`` and ``md5@v2``
    are not (the same bytes put again: its ETag alone cannot tell them apart)."""
    if not (a and b):
        return True
    tag_a, _, version_a = a.partition("@")
    tag_b, _, version_b = b.partition("@")
    if version_a and version_b:
        return a == b
    return tag_a == tag_b


def _http_time(ns: int) -> str:
    """A last-modified time (ns since the epoch; 0: unknown) as HTTP writes it."""
    from email.utils import formatdate

    return formatdate(ns / 1e9, usegmt=True) if ns else "?"


def _same_time(a_ns: int, b_ns: int) -> bool:
    """Two last-modified times of one object, compared at the coarser precision of the two: an
    HTTP Last-Modified (a HEAD) has whole seconds, while an S3 listing's LastModified may have
    milliseconds (MinIO, Ceph), so the stamps of an unchanged object differ below the second."""
    second = 10**9
    if a_ns % second == 0 or b_ns % second == 0:
        return a_ns // second == b_ns // second
    return a_ns == b_ns


def reads_check(loc: Location, expect: SourceStamp) -> bool:
    """True when every ranged read of ``loc`` given ``expect`` is itself checked against it, so
    no separate :func:`verify` is needed: HTTP(S) with a strong ETag, or a weak one and a
    Last-Modified time, whose reads compare each answer's with the stamp's
    (:mod:`lazyvol._http_range`; an answer without them is verified by the read itself); S3
    with an ETag, each ``GetObject`` answer's ETag and ``Content-Range`` size compared
    (:mod:`lazyvol._s3_range`; an answer without an ETag checked by a HEAD)."""
    # (a weak ETag does not vouch for bytes: a read is checked by Last-Modified too, so a weak
    # stamp without one is verified after the read)
    if loc.protocol in ("s3", "s3a"):  # (each answer's ETag and size: lazyvol._s3_range)
        return bool(expect.etag)
    if loc.protocol not in ("http", "https"):
        return False
    return bool(_strong_etag(expect)) or bool(expect.etag and expect.mtime_ns)


def _strong_etag(expect: SourceStamp | None) -> str:
    """The stamp's ETag when it is a strong one; ``""`` when it has none or a weak one (``W/``),
    which never vouches for bytes (RFC 9110)."""
    tag = expect.etag.split("@", 1)[0] if expect is not None else ""
    return "" if tag.startswith("W/") else tag


def if_match(expect: SourceStamp | None) -> dict[str, str]:
    """An ``If-Match`` header naming the stamp's strong ETag ({} when it has none): a server
    that honours it refuses a changed object (412) at no extra cost. Weak ETags cannot be used
    there (RFC 9110); every answer's ETag is compared too, so nothing depends on the server
    honouring it."""
    tag = _strong_etag(expect)
    return {"If-Match": f'"{tag}"'} if tag else {}


def ranged(
    fs: Any, loc: Location, offset: int, length: int, expect: SourceStamp | None = None
) -> bytes:
    """Exactly ``length`` bytes of ``loc`` from ``offset`` through ``fs.cat_file`` (protocols
    other than HTTP(S), whose clients check what they receive)."""
    if length == 0:
        return b""
    what = f"reading bytes {offset}-{offset + length - 1}"
    try:
        data = fs.cat_file(fs_path(loc, fs), start=offset, end=offset + length)
    except Exception as exc:
        raise translate(exc, loc, what, offset, expect) from None
    return exact(loc, offset, length, bytes(data))


def exact(loc: Location, offset: int, length: int, data: bytes) -> bytes:
    """``data`` when it is the ``length`` bytes asked; a short read is a truncated object, a
    longer one a client that did not return the range asked (never sliced by guesswork)."""
    if len(data) == length:
        return data
    if len(data) > length:
        raise RemoteReadError(
            f"{loc.display}: asked for bytes {offset}-{offset + length - 1} ({length} bytes), "
            f"received {len(data)} bytes: not the range asked; nothing was used"
        )
    raise short_read(loc, offset, length, len(data))


def info(loc: Location) -> Mapping[str, Any]:
    """fsspec's ``info`` of the object or prefix (one HEAD or listing request), errors typed;
    an HTTP(S) object's from :func:`_http_info`."""
    fs = filesystem(loc)
    path = fs_path(loc, fs)

    def head() -> Mapping[str, Any]:
        if loc.protocol in ("http", "https") and not loc.names_prefix:
            return _http_info(fs, loc)
        fs.invalidate_cache(path)  # a listing's cached entry is not "now"
        found: Mapping[str, Any] = fs.info(path)
        return found

    try:
        return retried(loc, head)
    except Exception as exc:
        raise translate(exc, loc, "reading its size and ETag") from None


_WHOLE_SIZE = re.compile(r"^\s*bytes\s+0-0/(\d+)\s*$", re.IGNORECASE)
_EMPTY = re.compile(r"^\s*bytes\s+\*/0+\s*$", re.IGNORECASE)
#: Validators an HTTP answer may state (fsspec's ``info`` keys; :func:`_etag`, :func:`_mtime_ns`).
_VALIDATORS = ("ETag", "Content-MD5", "Digest", "Last-Modified")


def _http_info(fs: Any, loc: Location) -> dict[str, Any]:
    """An HTTP(S) object's size and validators: its HEAD's, else (a HEAD refused or stating no
    size: a body sent in chunks, a URL signed for GET only) those of the answer to a GET of its
    first byte (``Content-Range: bytes 0-0/SIZE``, or a ``200``'s ``Content-Length``), whose
    failure is raised (a HEAD answered 404 or 410 is final, no such object, from a server known
    to answer HEADs: :func:`_serves_head`; a server routing GET only may answer any HEAD so).
    fsspec's ``info`` fell back to a GET of the whole object there, started
    for every stamp (a web folder served in chunks was sent whole at open); a size is never
    taken from an encoded answer."""

    async def stat() -> dict[str, Any]:
        session = await fs.set_session()
        kw = dict(fs.kwargs)
        headers = {**(kw.pop("headers", None) or {}), "Accept-Encoding": "identity"}
        url = fs.encode_url(loc.url)
        found: dict[str, Any] = {"name": loc.url, "size": None, "type": "file"}
        # (aiohttp's HEAD stays on a redirect, its GET follows it: a HEAD is followed as
        # fsspec's info follows it, not answered by the redirect's headers and a second GET)
        head_kw = {"allow_redirects": True, **kw}
        async with session.head(url, headers=headers, **head_kw) as r:
            if r.status in (404, 410) and _serves_head(loc.url):  # (no such object)
                fs._raise_not_found_for_status(r, loc.url)
            if r.status < 400:
                _serves_head(loc.url, True)
                found.update(_stated(r.headers, r.status == 200))
                if found["size"] is not None:
                    return found
        async with session.get(url, headers={**headers, "Range": "bytes=0-0"}, **kw) as r:
            if r.status == 416 and _EMPTY.match(str(r.headers.get("Content-Range", ""))):
                # (an empty object has no first byte: its refusal states its size, 0)
                return {**found, **_stated(r.headers, False), "size": 0}
            r.raise_for_status()
            return {**found, **_stated(r.headers, r.status == 200)}

    from fsspec.asyn import sync

    try:
        got: dict[str, Any] = sync(fs.loop, stat)
    except (ValueError, TypeError) as exc:  # (a request aiohttp refuses to make, raised as
        raise FileNotFoundError(loc.url) from exc  # fsspec's info raised it: translate says so)
    return got


#: Origins (scheme and host) whose server answered a HEAD with a success (last 4096 kept).
_HEAD_ORIGINS: dict[str, None] = {}
_HEAD_LOCK = threading.Lock()


def _serves_head(url: str, served: bool = False) -> bool:
    """Whether the server of ``url`` answered a HEAD with a success in this process (recorded
    when ``served``). Some servers route GET only (a HEAD answered 404 or 410 as any method they
    do not route; fsspec's ``info`` asks by GET after any failed HEAD): a HEAD's 404 is final
    only from a server known to answer HEADs, else a GET of the first byte asks again."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    with _HEAD_LOCK:
        if served:
            _HEAD_ORIGINS[origin] = _HEAD_ORIGINS.pop(origin, None)
            while len(_HEAD_ORIGINS) > 4096:
                del _HEAD_ORIGINS[next(iter(_HEAD_ORIGINS))]
        return origin in _HEAD_ORIGINS


def _stated(headers: Mapping[str, str], whole: bool) -> dict[str, Any]:
    """The validators an answer states, and the object's size unless encoded: the
    ``Content-Length`` of a whole answer (``whole``: HEAD or ``200``), else the size a
    ``Content-Range: bytes 0-0/SIZE`` names."""
    out: dict[str, Any] = {k: headers[k] for k in _VALIDATORS if headers.get(k)}
    encoding = str(headers.get("Content-Encoding", "")).strip().lower()
    if encoding not in ("", "identity"):
        return out
    length = str(headers.get("Content-Length", "")).strip()
    m = _WHOLE_SIZE.match(str(headers.get("Content-Range", "")))
    if whole and length.isdigit():
        out["size"] = int(length)
    elif not whole and m is not None:
        out["size"] = int(m.group(1))
    return out


def retried(loc: Location, call: Callable[[], T]) -> T:
    """``call()``, one request of ``loc`` through fsspec (a HEAD, an index page), tried again
    as :mod:`lazyvol._retry` says when an HTTP(S) server answers 429/500/502/503/504 or hangs up
    without answering (the policy of the ranged GETs); other protocols' clients retry on their own. The last failure is raised as
    it came (the caller translates it)."""
    if loc.protocol not in ("http", "https"):
        return call()
    for attempt in itertools.count():
        try:
            return call()
        except Exception as exc:
            status = _status(exc)
            wait = wait_before_retry(
                status, _retry_after(exc), attempt, unanswered=status is None and hung_up(exc)
            )
            if wait is None:
                raise
        time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(exc: BaseException) -> str | None:
    """The ``Retry-After`` header of the answer a failure came from (aiohttp's
    ``ClientResponseError.headers``, wherever in the chain of causes), or None."""
    for cur in _chain(exc):
        headers = getattr(cur, "headers", None)
        if isinstance(headers, Mapping) and headers.get("Retry-After"):
            return str(headers["Retry-After"])
    return None
