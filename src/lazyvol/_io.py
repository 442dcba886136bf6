"""The byte layer: every read of source bytes, local or remote, as ``(source, offset, length)``.

A source is a :class:`Location`: a local path or an fsspec URL (``s3://``, ``gs://``,
``http(s)://``, anything fsspec resolves) plus its ``storage_options``. Locations are small,
frozen and picklable, so read plans carry them into dask tasks on threads, processes and
``dask.distributed`` workers; no open file or filesystem object ever lives in a plan. Filesystem
instances are made on first use and cached per process.

Reads are exact:

- local files: ``os.preadv`` straight into the caller's buffer (:func:`read_into`), or a read-only
  memory map of an uncompressed block (:func:`map_array`);
- URLs: one ranged request per range (``fs.cat_file(path, start, end)``), many ranges at once with
  ``fs.cat_ranges`` (:func:`read_ranges`); no block read-ahead.

Credentials come only from ``storage_options`` or the environment (the usual ``AWS_*``,
``GOOGLE_APPLICATION_CREDENTIALS``, ...). They are pickled with a location (a worker needs them) but
never appear in its ``repr``/``str``, its dask token, a stamp (:class:`~lazyvol.sources.SourceStamp`),
an error message or anything lazyvol writes: identities and messages use :func:`display_url` and
the redacted options of :meth:`StorageOptions.redacted`.

Errors are typed and name the source without credentials: a missing object is
:class:`~lazyvol.errors.SourceNotFoundError`, a denied request :class:`RemoteAccessError`, an
object shorter than the range read :class:`~lazyvol.errors.FormatError`, a failed or timed-out
transfer :class:`RemoteReadError` / :class:`RemoteTimeoutError`. Remote requests time out after
``LAZYVOL_REMOTE_TIMEOUT`` seconds without progress (default 30), so nothing hangs.
"""

from __future__ import annotations

import math
import os
import re
import stat as _stat
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np

from ._location import (
    _REDACTED,
    Location,
    StorageOptions,
    display_url,
    identity_url,
    is_url,
)
from .errors import (
    FormatError,
    LazyvolError,
    RemoteAccessError,
    RemoteReadError,
    RemoteTimeoutError,
    SourceNotFoundError,
)
from .sources import SourceStamp, _file_kind, stat_regular

__all__ = [
    "Location",
    "RemoteAccessError",
    "RemoteReadError",
    "RemoteTimeoutError",
    "StorageOptions",
    "clear_filesystems",
    "display_url",
    "filesystem",
    "identity_url",
    "is_url",
    "list_objects",
    "map_array",
    "read",
    "read_into",
    "read_ranges",
    "remote_timeout",
    "stamp",
    "verify",
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


def _with_timeouts(protocol: str, options: dict[str, Any]) -> dict[str, Any]:
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
        fs = fsspec.filesystem(loc.protocol, **_with_timeouts(loc.protocol, loc.options.to_dict()))
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


def _fs_path(loc: Location, fs: Any) -> str:
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


def _translate(exc: BaseException, loc: Location, what: str) -> LazyvolError:
    """A typed lazyvol error for a failed remote operation (``what``: "reading bytes 0-99")."""
    where = loc.display
    detail = _scrub(f"{type(exc).__name__}: {exc}", loc)
    status = _status(exc)
    if isinstance(exc, LazyvolError):
        return exc
    if isinstance(exc, FileNotFoundError) or status == 404:
        return SourceNotFoundError(f"{where}: no such object ({what}: {detail})")
    if isinstance(exc, PermissionError) or status in (401, 403):
        return RemoteAccessError(
            f"{where}: access denied ({what}: {detail}); check the credentials in storage_options "
            "or the environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, ...) and the object's "
            "permissions, or pass storage_options={'anon': True} for public data"
        )
    if status == 412:
        from .errors import SourceChangedError

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


def _stamp_from_info(loc: Location, info: Mapping[str, Any]) -> SourceStamp:
    size = info.get("size")
    if size is None:
        raise FormatError(
            f"{loc.display}: the server does not report the object's size (no Content-Length); "
            "lazyvol needs it to check reads against the header"
        )
    return SourceStamp(loc.identity, int(size), _mtime_ns(info), etag=_etag(info))


def stamp(loc: Location) -> SourceStamp:
    """The identity of the source now: a local file's stat, or an object's size, ETag and
    last-modified time (one HEAD request).

    Raises
    ------
    SourceNotFoundError
        No such file or object.
    RemoteAccessError, RemoteReadError, RemoteTimeoutError
        The server refused or failed.
    FormatError
        A local non-regular file, a remote directory/prefix, or an object whose size is unknown.
    """
    if not loc.is_remote:
        return SourceStamp.of(loc.url)
    fs = filesystem(loc)
    try:
        fs.invalidate_cache(_fs_path(loc, fs))  # a listing's cached entry is not "now"
        info = fs.info(_fs_path(loc, fs))
    except Exception as exc:
        raise _translate(exc, loc, "reading its size and ETag") from None
    if info.get("type") == "directory":
        raise FormatError(f"{loc.display}: is a prefix (directory), not an object")
    return _stamp_from_info(loc, info)


def verify(loc: Location, expected: SourceStamp) -> None:
    """Raise :class:`~lazyvol.errors.SourceChangedError` unless ``loc`` is still ``expected``.

    For URLs this compares size, ETag and last-modified time (one HEAD request).
    """
    from .errors import SourceChangedError

    if not loc.is_remote:
        expected.verify()
        return
    try:
        now = stamp(loc)
    except SourceNotFoundError:
        raise SourceChangedError(
            f"{loc.display}: the object was removed after it was opened; open the source again"
        ) from None
    same = now.size == expected.size and (
        (now.etag == expected.etag) if (now.etag and expected.etag) else True
    )
    if same and now.mtime_ns and expected.mtime_ns:
        same = now.mtime_ns == expected.mtime_ns
    if not same:
        raise SourceChangedError(
            f"{loc.display}: the object changed after it was opened (size {expected.size} -> "
            f"{now.size}, ETag {expected.etag or '?'} -> {now.etag or '?'}); open the source again"
        )


def list_objects(
    loc: Location, *, suffix: str | Sequence[str] = ()
) -> list[tuple[Location, SourceStamp]]:
    """Every object (file) under a prefix (folder), recursively, with its stamp, sorted by name.

    One listing request per page of results: sizes and ETags come from the listing, no request per
    object. ``suffix`` keeps only names ending so (case-insensitive).
    """
    ends = tuple(s.lower() for s in ([suffix] if isinstance(suffix, str) else suffix))
    out: list[tuple[Location, SourceStamp]] = []
    if not loc.is_remote:
        if not os.path.isdir(loc.url):
            raise SourceNotFoundError(f"{loc.display}: no such folder")
        for root, _dirs, files in os.walk(loc.url):
            for name in files:
                if ends and not name.lower().endswith(ends):
                    continue
                path = os.path.join(root, name)
                try:
                    out.append((Location(path), SourceStamp.of(path)))
                except (FormatError, SourceNotFoundError):
                    continue  # vanished or not a regular file
        return sorted(out, key=lambda pair: pair[0].url)
    fs = filesystem(loc)
    try:
        fs.invalidate_cache(_fs_path(loc, fs))  # list what is there now, not a cached listing
        found = fs.find(_fs_path(loc, fs), detail=True)
    except Exception as exc:
        raise _translate(exc, loc, "listing the prefix") from None
    parts = urlsplit(loc.url)
    for name, info in sorted(found.items()):
        if info.get("type") == "directory":
            continue
        if ends and not name.lower().endswith(ends):
            continue
        if loc.protocol in ("http", "https"):
            url = name
        else:
            url = f"{parts.scheme}://{name.lstrip('/')}"
        child = Location(url, loc.options)
        out.append((child, _stamp_from_info(child, info)))
    return out


# -- reads -----------------------------------------------------------------------------------------

_HAVE_PREADV = hasattr(os, "preadv")
#: O_NONBLOCK: a path that is (or was replaced by) a FIFO cannot block the open.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def _check_range(loc: Location, offset: int, length: int) -> None:
    if offset < 0 or length < 0:
        raise ValueError(f"{loc.display}: invalid byte range offset={offset} length={length}")


def _short(loc: Location, offset: int, length: int, got: int) -> FormatError:
    return FormatError(
        f"{loc.display}: truncated: wanted {length} bytes at offset {offset} but only {got} could "
        "be read (the source is shorter than its header says, or changed since it was opened)"
    )


def pread_full(fd: int, view: memoryview, offset: int) -> int:
    """Read into ``view`` from ``offset`` of the open descriptor until it is full or the file
    ends (``preadv`` straight into the caller's buffer, no copy). Returns the bytes read."""
    got = 0
    length = view.nbytes
    while got < length:
        if _HAVE_PREADV:
            k = os.preadv(fd, [view[got:]], offset + got)
        else:  # pragma: no cover - platforms without preadv (Windows)
            os.lseek(fd, offset + got, os.SEEK_SET)
            k = os.readv(fd, [view[got:]])
        if k <= 0:
            break
        got += k
    return got


def _pread_into(
    loc: Location, offset: int, view: memoryview, expect: SourceStamp | None = None
) -> int:
    got = 0
    length = view.nbytes
    try:
        fd = os.open(loc.url, _OPEN_FLAGS)
    except FileNotFoundError:
        if expect is not None:
            expect.verify()  # raises SourceChangedError: removed or moved since it was opened
        raise SourceNotFoundError(f"{loc.display}: no such file") from None
    except OSError as exc:
        raise FormatError(f"{loc.display}: cannot open ({exc.strerror})") from None
    try:
        st = os.fstat(fd)  # the descriptor the read uses: no race with a rename
        if not _stat.S_ISREG(st.st_mode):
            raise FormatError(
                f"{loc.display}: is a {_file_kind(st.st_mode)}, not a regular file; lazyvol reads "
                "regular files (copy the data to a file first)"
            )
        if expect is not None and not expect.matches(st):
            expect.verify(fd)  # raises SourceChangedError naming what changed
        got = pread_full(fd, view, offset)
    except IsADirectoryError:
        raise FormatError(f"{loc.display}: is a directory, not a file") from None
    except OSError as exc:
        raise FormatError(
            f"{loc.display}: reading {length} bytes at {offset} failed ({exc.strerror})"
        ) from None
    finally:
        os.close(fd)
    return got


def _if_match(loc: Location, expect: SourceStamp | None) -> dict[str, Any]:
    """Request arguments that make an HTTP server refuse a changed object (412), at no extra cost.

    Only strong ETags can be compared (RFC 9110); other protocols are checked by :func:`verify`.
    """
    if expect is None or not expect.etag or loc.protocol not in ("http", "https"):
        return {}
    tag = expect.etag.split("@", 1)[0]
    if not tag or tag.startswith("W/"):
        return {}
    return {"headers": {"If-Match": f'"{tag}"'}}


def _remote_range(
    fs: Any, loc: Location, offset: int, length: int, expect: SourceStamp | None = None
) -> bytes:
    if length == 0:
        return b""
    what = f"reading bytes {offset}-{offset + length - 1}"
    try:
        data = fs.cat_file(
            _fs_path(loc, fs), start=offset, end=offset + length, **_if_match(loc, expect)
        )
    except Exception as exc:
        raise _translate(exc, loc, what) from None
    return _exact(loc, offset, length, bytes(data))


def _exact(loc: Location, offset: int, length: int, data: bytes) -> bytes:
    if len(data) == length:
        return data
    if len(data) > length and offset + length <= len(data):
        # A server that ignores Range sends the whole object (status 200): take the range.
        return data[offset : offset + length]
    raise _short(loc, offset, length, len(data))


def read(
    source: Location | str, offset: int, length: int, *, expect: SourceStamp | None = None
) -> bytes:
    """Exactly ``length`` bytes of ``source`` from byte ``offset``.

    ``expect``: the source's stamp when it was opened. A local file is checked against it with
    one ``fstat`` of the descriptor the read uses; an HTTP(S) read sends ``If-Match`` with a strong
    ETag (the server refuses a changed object, no extra request). Other URLs are checked with
    :func:`verify` (one HEAD), where a caller wants it.

    Raises
    ------
    FormatError
        The source ends before ``offset + length`` (truncated).
    SourceChangedError
        ``expect`` given and the source is no longer that one.
    SourceNotFoundError, RemoteAccessError, RemoteReadError, RemoteTimeoutError
        See the module documentation.
    """
    loc = Location.of(source)
    _check_range(loc, offset, length)
    if loc.is_remote:
        return _remote_range(filesystem(loc), loc, offset, length, expect)
    try:
        size = stat_regular(loc.url).st_size
    except SourceNotFoundError:
        if expect is not None:
            expect.verify()  # removed or moved since it was opened: SourceChangedError
        raise
    if size < offset + length:  # checked before allocating what a header claims
        raise _short(loc, offset, length, max(0, size - offset))
    buf = bytearray(length)
    got = _pread_into(loc, offset, memoryview(buf), expect)
    if got != length:
        raise _short(loc, offset, length, got)
    return bytes(buf)


def read_into(
    source: Location | str,
    offset: int,
    out: np.ndarray | memoryview | bytearray,
    *,
    expect: SourceStamp | None = None,
) -> None:
    """Fill ``out`` (any writable C-contiguous buffer) with the bytes of ``source`` from ``offset``.

    Local files are read with ``os.preadv`` straight into ``out`` (no intermediate copy); remote
    bytes arrive in one ranged request and are copied in once. ``expect`` as in :func:`read`.
    """
    loc = Location.of(source)
    raw = out.data if isinstance(out, np.ndarray) else memoryview(out)
    view = raw.cast("B")
    if view.readonly:
        raise ValueError("read_into needs a writable buffer")
    length = view.nbytes
    _check_range(loc, offset, length)
    if length == 0:
        return
    if loc.is_remote:
        view[:] = _remote_range(filesystem(loc), loc, offset, length, expect)
        return
    got = _pread_into(loc, offset, view, expect)
    if got != length:
        raise _short(loc, offset, length, got)


def read_ranges(requests: Iterable[tuple[Location | str, int, int]]) -> list[bytes]:
    """Many exact ranges at once: ``[(source, offset, length), ...] -> [bytes, ...]`` in order.

    Remote ranges of one filesystem go out together (``fs.cat_ranges``: concurrent requests on an
    asynchronous filesystem such as S3, GCS or HTTP); local ranges are ``pread`` calls. The first
    failing range raises its typed error.
    """
    reqs = [(Location.of(src), int(off), int(n)) for src, off, n in requests]
    out: list[bytes | None] = [None] * len(reqs)
    groups: dict[tuple[str, StorageOptions], list[int]] = {}
    for i, (loc, off, n) in enumerate(reqs):
        _check_range(loc, off, n)
        if not loc.is_remote or n == 0:
            out[i] = read(loc, off, n) if n else b""
        else:
            groups.setdefault((loc.protocol, loc.options), []).append(i)
    for members in groups.values():
        first = reqs[members[0]][0]
        fs = filesystem(first)
        paths = [_fs_path(reqs[i][0], fs) for i in members]
        starts = [reqs[i][1] for i in members]
        ends = [reqs[i][1] + reqs[i][2] for i in members]
        try:
            results = fs.cat_ranges(paths, starts, ends, on_error="return")
        except Exception as exc:
            raise _translate(exc, first, f"reading {len(members)} byte ranges") from None
        for i, res in zip(members, results, strict=True):
            loc, off, n = reqs[i]
            if isinstance(res, BaseException):
                raise _translate(res, loc, f"reading bytes {off}-{off + n - 1}")
            out[i] = _exact(loc, off, n, bytes(res))
    return [b if b is not None else b"" for b in out]


def map_array(
    source: Location | str,
    offset: int,
    shape: Sequence[int],
    dtype: Any,
    *,
    order: Literal["C", "F"] = "C",
    expect: SourceStamp | None = None,
) -> np.ndarray:
    """The array of ``shape``/``dtype`` stored from byte ``offset``: a read-only memory map of a
    local file (no copy; pages come from the page cache), or the bytes read once for a URL.

    The file size is checked first, so a file shorter than the block raises
    :class:`~lazyvol.errors.FormatError` instead of crashing the process with SIGBUS;
    ``expect`` (the stamp at open) is compared with the same ``stat``.
    """
    loc = Location.of(source)
    dt = np.dtype(dtype)
    shape = tuple(int(n) for n in shape)
    count = math.prod(shape)  # exact (no int64 overflow for absurd shapes)
    nbytes = count * dt.itemsize
    _check_range(loc, offset, nbytes)
    if loc.is_remote:
        data = read(loc, offset, nbytes, expect=expect)
        return np.frombuffer(data, dtype=dt, count=count).reshape(shape, order=order)
    try:
        st = stat_regular(loc.url)
    except SourceNotFoundError:
        if expect is not None:
            expect.verify()  # removed or moved since it was opened: SourceChangedError
        raise
    if expect is not None and not expect.matches(st):
        expect.verify()  # raises SourceChangedError naming what changed
    if st.st_size < offset + nbytes:
        raise _short(loc, offset, nbytes, max(0, st.st_size - offset))
    if nbytes == 0:
        return np.empty(shape, dtype=dt, order=order)
    mm = np.memmap(loc.url, dtype=dt, mode="r", offset=offset, shape=(count,))
    return np.asarray(mm).reshape(shape, order=order)
