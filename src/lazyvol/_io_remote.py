"""The remote half of the byte layer (:mod:`lazyvol._io`): fsspec filesystems made once per
process, exact ranged requests, object stamps (size, ETag, last-modified) and the translation of
every failure into a typed lazyvol error that names the URL without credentials.

Remote requests time out after ``LAZYVOL_REMOTE_TIMEOUT`` seconds without progress (default 30).
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from ._io_local import short_read
from ._location import _REDACTED, Location, display_url
from ._range_refusal import range_refused, refusal_of
from ._retry import wait_before_retry
from ._warn import warn as _warn_user
from .errors import (
    FormatError,
    LazyvolError,
    RemoteAccessError,
    RemoteReadError,
    RemoteTimeoutError,
    SourceChangedError,
    SourceNotFoundError,
)
from .sources import SourceStamp

T = TypeVar("T")

__all__ = [
    "changed",
    "clear_filesystems",
    "exact",
    "filesystem",
    "fs_path",
    "if_match",
    "info",
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


def remote_timeout() -> float:
    """Seconds a remote request may make no progress before it fails (``LAZYVOL_REMOTE_TIMEOUT``,
    default 30; not a positive, finite number: :class:`~lazyvol.errors.OptionError`)."""
    from .config import setting_seconds

    env = os.environ.get("LAZYVOL_REMOTE_TIMEOUT")
    return setting_seconds(env, "LAZYVOL_REMOTE_TIMEOUT") if env else 30.0


_FS_LOCK = threading.Lock()
_FS: dict[tuple[int, str, str, float], Any] = {}


def with_timeouts(protocol: str, options: dict[str, Any]) -> dict[str, Any]:
    """Add lazyvol's timeouts where the caller set none (HTTP via aiohttp, S3 via botocore)."""
    timeout = remote_timeout()
    opts = dict(options)
    if protocol in ("http", "https"):
        import aiohttp

        client = dict(opts.get("client_kwargs") or {})
        client.setdefault(
            "timeout",
            aiohttp.ClientTimeout(
                total=None, connect=timeout, sock_connect=timeout, sock_read=timeout
            ),
        )
        opts["client_kwargs"] = client
    elif protocol in ("s3", "s3a"):
        config = dict(opts.get("config_kwargs") or {})
        config.setdefault("connect_timeout", timeout)
        config.setdefault("read_timeout", timeout)
        config.setdefault("retries", {"max_attempts": 3, "mode": "standard"})
        opts["config_kwargs"] = config
    elif protocol in ("gs", "gcs"):
        import aiohttp

        # gcsfs passes requests_timeout to every aiohttp request.
        opts.setdefault(
            "requests_timeout",
            aiohttp.ClientTimeout(
                total=None, connect=timeout, sock_connect=timeout, sock_read=timeout
            ),
        )
    return opts


def filesystem(loc: Location) -> Any:
    """The fsspec filesystem of ``loc``, made once per process and storage options.

    Raises
    ------
    ImportError
        fsspec or the protocol's package is not installed (``pip install 'lazyvol[remote]'``).
    """
    try:
        import fsspec
    except ImportError as exc:  # pragma: no cover - fsspec comes with dask[array]
        raise ImportError(
            f"{loc.display}: reading URLs needs fsspec: pip install 'lazyvol[remote]'"
        ) from exc
    key = (os.getpid(), loc.protocol, loc.options._full_digest(), remote_timeout())
    with _FS_LOCK:
        fs = _FS.get(key)
        if fs is not None:
            return fs
    try:
        fs = fsspec.filesystem(loc.protocol, **with_timeouts(loc.protocol, loc.options.to_dict()))
    except ImportError as exc:
        raise ImportError(
            f"{loc.display}: reading {loc.protocol}:// URLs needs a package that is not "
            f"installed ({_scrub(str(exc), loc)}); pip install 'lazyvol[remote]'"
        ) from None
    with _FS_LOCK:
        return _FS.setdefault(key, fs)


def clear_filesystems() -> None:
    """Forget the filesystem instances this process made (the next read makes new ones)."""
    with _FS_LOCK:
        _FS.clear()


def fs_path(loc: Location, fs: Any) -> str:
    if loc.protocol in ("http", "https"):
        return loc.url  # HTTP "paths" are whole URLs
    return str(fs._strip_protocol(loc.url))


# -- error translation -----------------------------------------------------------------------------


def _scrub(text: str, loc: Location) -> str:
    """``text`` with the raw URL and every credential value of ``loc`` removed."""
    if loc.url != loc.display:
        text = text.replace(loc.url, loc.display)
    for secret in loc.options.secrets():
        text = text.replace(secret, _REDACTED)
    # URLs the library printed in another form (encoded, another query order): redact them all.
    return re.sub(
        r"[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>)]+", lambda m: display_url(m.group(0)), text
    )


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or during, outermost first."""
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and all(cur is not seen for seen in out):
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _status(exc: BaseException) -> int | None:
    """The HTTP status of a failure, also when a library re-raised it as another exception
    (fsspec's HTTP ``info`` turns every failure into ``FileNotFoundError`` from the original)."""
    for cur in _chain(exc):
        found = _own_status(cur)
        if found is not None:
            return found
    return None


def _own_status(exc: BaseException) -> int | None:
    for attr in ("status", "status_code", "code"):
        if attr == "code" and hasattr(exc, "status"):
            continue  # aiohttp's errors: "code" is a deprecated alias of "status" (it warns)
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        meta = response.get("ResponseMetadata") or {}
        value = meta.get("HTTPStatusCode")
        if isinstance(value, int):
            return value
    return None


def _timed_out(chain: list[BaseException]) -> bool:
    return any(isinstance(e, TimeoutError) or "timeout" in type(e).__name__.lower() for e in chain)


#: aiohttp's failures of the connection itself (the server hung up, a body cut short), whatever
#: their subclass: they say nothing about whether the object exists.
_AIOHTTP_CONNECTION = ("ClientConnectionError", "ClientPayloadError")


def _no_connection(chain: list[BaseException]) -> bool:
    """A failure to reach the server or to get its answer (refused, reset, DNS, the server
    closing the connection without answering), wherever in the chain."""
    return any(
        isinstance(e, ConnectionError)
        or (
            type(e).__module__.startswith("aiohttp")
            and any(
                "Connect" in c.__name__ or c.__name__ in _AIOHTTP_CONNECTION
                for c in type(e).__mro__
            )
        )
        for e in chain
    )


#: The clients' "no usable credentials" errors, which carry no HTTP status (a class or one of its
#: bases so named): botocore's (no key found, half a key, a credential provider or profile that
#: fails, an SSO / login token missing or expired) and google-auth's.
_NO_CREDENTIALS = frozenset(
    {
        "NoCredentialsError",
        "PartialCredentialsError",
        "CredentialRetrievalError",
        "UnknownCredentialError",
        "ProfileNotFound",
        "TokenRetrievalError",
        "NoAuthTokenError",
        "SSOError",
        "LoginError",
        "DefaultCredentialsError",
        "RefreshError",
    }
)


def _no_credentials(chain: list[BaseException]) -> bool:
    return any(k.__name__ in _NO_CREDENTIALS for e in chain for k in type(e).__mro__)


def translate(
    exc: BaseException,
    loc: Location,
    what: str,
    start: int | None = None,
    expect: SourceStamp | None = None,
) -> LazyvolError:
    """A typed lazyvol error for a failed remote operation (``what``: "reading bytes 0-99", from
    ``start`` of the object stamped ``expect`` at open: they judge a refused range, HTTP 416).

    The HTTP status and any timeout are looked for through the whole chain of causes: fsspec's
    HTTP ``info`` re-raises every failure (a 503, a timeout) as ``FileNotFoundError``, which
    means "no such object" only when no other status or cause explains it.
    """
    if isinstance(exc, LazyvolError):
        return exc
    where = loc.display
    chain = _chain(exc)
    detail = _scrub("; ".join(f"{type(e).__name__}: {e}" for e in chain[:3]), loc)
    status = _status(exc)
    if any(type(e).__name__ == "TooManyRedirects" for e in chain):  # aiohttp's and requests'
        return RemoteReadError(
            f"{where}: {what} failed: the server redirects in a loop, or through more redirects "
            f"than the client follows ({detail}); check the URL, or use the URL it should end at"
        )
    if _no_credentials(chain):
        return RemoteAccessError(
            f"{where}: no usable credentials ({what}: {detail}); give them in storage_options "
            "(key/secret, profile) or the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "GOOGLE_APPLICATION_CREDENTIALS, ...), or pass storage_options={'anon': True} for "
            "public data"
        )
    if status in (401, 403) or isinstance(exc, PermissionError):
        return RemoteAccessError(
            f"{where}: access denied ({what}: {detail}); check the credentials in storage_options "
            "or the environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, ...) and the object's "
            "permissions, or pass storage_options={'anon': True} for public data"
        )
    if status == 412:
        return SourceChangedError(
            f"{where}: the object changed after it was opened (its ETag no longer matches); "
            "open the source again"
        )
    if status == 416:
        return range_refused(loc, what, start, expect, *refusal_of(chain))
    if status is None and any(isinstance(e, ValueError | TypeError) for e in chain[1:]):
        # the client refused to make the request (aiohttp: credentials both in the URL and in an
        # Authorization header), under fsspec's FileNotFoundError: nothing is known of the object
        return RemoteReadError(
            f"{where}: {what} failed: the request could not be made ({detail}); check the URL "
            "and storage_options (credentials given twice, a malformed option)"
        )
    if status == 404 or (
        status is None
        and isinstance(exc, FileNotFoundError)
        and not _timed_out(chain)
        and not _no_connection(chain)
    ):
        return SourceNotFoundError(f"{where}: no such object ({what}: {detail})")
    if _timed_out(chain):
        return RemoteTimeoutError(
            f"{where}: no response for {remote_timeout():g} s while {what} ({detail}); raise "
            "LAZYVOL_REMOTE_TIMEOUT for a slow server"
        )
    if status is not None and (status == 429 or status >= 500):
        return RemoteReadError(
            f"{where}: {what} failed: the server answered HTTP {status} ({detail}); it is failing "
            "or overloaded: try again later"
        )
    return RemoteReadError(f"{where}: {what} failed ({detail})")


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
    (:mod:`lazyvol._http_range`; an answer without them is verified by the read itself)."""
    # (a weak ETag does not vouch for bytes: a read is checked by Last-Modified too, so a weak
    # stamp without one is verified after the read)
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
    """fsspec's ``info`` of the object or prefix (one HEAD or listing request), errors typed."""
    fs = filesystem(loc)
    path = fs_path(loc, fs)

    def head() -> Mapping[str, Any]:
        fs.invalidate_cache(path)  # a listing's cached entry is not "now"
        found: Mapping[str, Any] = fs.info(path)
        return found

    try:
        return retried(loc, head)
    except Exception as exc:
        raise translate(exc, loc, "reading its size and ETag") from None


def retried(loc: Location, call: Callable[[], T]) -> T:
    """``call()``, one request of ``loc`` through fsspec (a HEAD, an index page), tried again
    as :mod:`lazyvol._retry` says when an HTTP(S) server answers 429/502/503/504 (the policy of
    the ranged GETs); other protocols' clients retry on their own. The last failure is raised as
    it came (the caller translates it)."""
    if loc.protocol not in ("http", "https"):
        return call()
    for attempt in itertools.count():
        try:
            return call()
        except Exception as exc:
            wait = wait_before_retry(_status(exc), _retry_after(exc), attempt)
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
