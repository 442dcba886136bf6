"""The remote half of the byte layer (:mod:`lazyvol._io`): fsspec filesystems made once per
process, exact ranged requests, object stamps (size, ETag, last-modified) and the translation of
every failure into a typed lazyvol error that names the URL without credentials.

Remote requests time out after ``LAZYVOL_REMOTE_TIMEOUT`` seconds without progress (default 30).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ._io_local import short_read
from ._location import _REDACTED, Location, display_url
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

__all__ = [
    "clear_filesystems",
    "exact",
    "filesystem",
    "fs_path",
    "info",
    "ranged",
    "reads_check",
    "remote_timeout",
    "stamp_from_info",
    "translate",
    "with_timeouts",
]


# -- filesystems -----------------------------------------------------------------------------------


def remote_timeout() -> float:
    """Seconds a remote request may make no progress before it fails (``LAZYVOL_REMOTE_TIMEOUT``,
    default 30)."""
    try:
        value = float(os.environ.get("LAZYVOL_REMOTE_TIMEOUT", "30"))
    except ValueError:
        value = 30.0
    return value if value > 0 else 30.0


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
        _IF_MATCH.clear()


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


def _status(exc: BaseException) -> int | None:
    """The HTTP status of a failure, also when a library re-raised it as another exception
    (fsspec's HTTP ``info`` turns a 403 into ``FileNotFoundError`` from the original)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        found = _own_status(cur)
        if found is not None:
            return found
        cur = cur.__cause__ or cur.__context__
    return None


def _own_status(exc: BaseException) -> int | None:
    for attr in ("status", "status_code", "code"):
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


def translate(exc: BaseException, loc: Location, what: str) -> LazyvolError:
    """A typed lazyvol error for a failed remote operation (``what``: "reading bytes 0-99")."""
    where = loc.display
    detail = _scrub(f"{type(exc).__name__}: {exc}", loc)
    status = _status(exc)
    if isinstance(exc, LazyvolError):
        return exc
    if status in (401, 403) or isinstance(exc, PermissionError):
        return RemoteAccessError(
            f"{where}: access denied ({what}: {detail}); check the credentials in storage_options "
            "or the environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, ...) and the object's "
            "permissions, or pass storage_options={'anon': True} for public data"
        )
    if isinstance(exc, FileNotFoundError) or status == 404:
        return SourceNotFoundError(f"{where}: no such object ({what}: {detail})")
    if status == 412:
        return SourceChangedError(
            f"{where}: the object changed after it was opened (its ETag no longer matches); "
            "open the source again"
        )
    if status == 416:
        return FormatError(
            f"{where}: truncated: {what} starts past the end of the object (HTTP 416); the object "
            "is shorter than its header says, or changed since it was opened"
        )
    if isinstance(exc, TimeoutError) or "timeout" in type(exc).__name__.lower():
        return RemoteTimeoutError(
            f"{where}: no response for {remote_timeout():g} s while {what} ({detail}); raise "
            "LAZYVOL_REMOTE_TIMEOUT for a slow server"
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
    size = info.get("size")
    if size is None:
        raise FormatError(
            f"{loc.display}: the server does not report the object's size (no Content-Length); "
            "lazyvol needs it to check reads against the header"
        )
    return SourceStamp(loc.identity, int(size), _mtime_ns(info), etag=_etag(info))


def reads_check(loc: Location, expect: SourceStamp) -> bool:
    """True when every ranged read of ``loc`` given ``expect`` is itself refused for a changed
    object (HTTP(S) with a strong ETag: ``If-Match``, on a server seen to honour it), so no
    separate :func:`verify` is needed."""
    return bool(_if_match(loc, expect))


def _if_match(loc: Location, expect: SourceStamp | None) -> dict[str, Any]:
    """Request arguments that make an HTTP server refuse a changed object (412), at no extra cost.

    Only strong ETags can be compared (RFC 9110), and only on a server that honours If-Match
    (:func:`_honours_if_match`); other protocols and servers are checked by :func:`verify`.
    """
    if expect is None or not expect.etag or loc.protocol not in ("http", "https"):
        return {}
    tag = expect.etag.split("@", 1)[0]
    if not tag or tag.startswith("W/") or not _honours_if_match(loc):
        return {}
    return {"headers": _headers(loc, {"If-Match": f'"{tag}"'})}


def _headers(loc: Location, extra: dict[str, str]) -> dict[str, Any]:
    """``extra`` on top of the ``headers`` storage option: fsspec's HTTP filesystem replaces its
    ``headers`` with a call's own, which would drop a user's ``Authorization``."""
    base = loc.options.to_dict().get("headers")
    return {**(base if isinstance(base, Mapping) else {}), **extra}


#: Whether an HTTP(S) origin refuses a ranged GET whose If-Match names no current ETag, per
#: process, origin and storage options (:func:`_honours_if_match`).
_IF_MATCH: dict[tuple[int, str, str, str], bool] = {}
_PROBE_TAG = '"lazyvol-probe-matches-no-object"'


def _honours_if_match(loc: Location) -> bool:
    """True when ``loc``'s server answers a ranged GET with ``If-Match: <a tag no object has>``
    with 412, as RFC 9110 requires. A server that ignores If-Match (serving the bytes anyway)
    would serve a replaced object's bytes under the old ETag: its reads are verified instead.
    Asked once per process and origin (scheme, host, port) with a one-byte request; any other
    answer, an error included, counts as not honoured (the safe side: a verify per read)."""
    origin = urlsplit(loc.url)
    key = (os.getpid(), origin.scheme, origin.netloc, loc.options._full_digest())
    with _FS_LOCK:
        known = _IF_MATCH.get(key)
    if known is not None:
        return known
    fs = filesystem(loc)
    try:
        fs.cat_file(
            fs_path(loc, fs), start=0, end=1, headers=_headers(loc, {"If-Match": _PROBE_TAG})
        )
        honoured = False  # served: the condition was ignored
    except Exception as exc:
        honoured = _status(exc) == 412
    with _FS_LOCK:
        return _IF_MATCH.setdefault(key, honoured)


def ranged(
    fs: Any, loc: Location, offset: int, length: int, expect: SourceStamp | None = None
) -> bytes:
    if length == 0:
        return b""
    what = f"reading bytes {offset}-{offset + length - 1}"
    try:
        data = fs.cat_file(
            fs_path(loc, fs), start=offset, end=offset + length, **_if_match(loc, expect)
        )
    except Exception as exc:
        raise translate(exc, loc, what) from None
    return exact(loc, offset, length, bytes(data))


def exact(loc: Location, offset: int, length: int, data: bytes) -> bytes:
    if len(data) == length:
        return data
    if len(data) > length and offset + length <= len(data):
        # A server that ignores Range sends the whole object (status 200): take the range.
        return data[offset : offset + length]
    raise short_read(loc, offset, length, len(data))


def info(loc: Location) -> Mapping[str, Any]:
    """fsspec's ``info`` of the object or prefix (one HEAD or listing request), errors typed."""
    fs = filesystem(loc)
    try:
        fs.invalidate_cache(fs_path(loc, fs))  # a listing's cached entry is not "now"
        out: Mapping[str, Any] = fs.info(fs_path(loc, fs))
    except Exception as exc:
        raise translate(exc, loc, "reading its size and ETag") from None
    return out
