"""The byte layer: every read of source bytes, local or remote, as ``(source, offset, length)``.

A source is a :class:`Location`: a local path or an fsspec URL (``s3://``, ``gs://``,
``http(s)://``, anything fsspec resolves) plus its ``storage_options``. Locations are small,
frozen and picklable, so read plans carry them into dask tasks on threads, processes and
``dask.distributed`` workers; no open file or filesystem object ever lives in a plan. Filesystem
instances are made on first use and cached per process.

Reads are exact:

- local files: ``os.preadv`` straight into the caller's buffer (:func:`read_into`), or a read-only
  memory map of an uncompressed block (:func:`map_array`);
- URLs: one ranged request per range (``fs.cat_file(path, start, end)``; HTTP(S) and S3 their
  own, checked: ``lazyvol._http_range``, ``lazyvol._s3_range``), many at once (:func:`read_ranges`).

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

The local reads live in ``lazyvol._io_local``, the fsspec side in ``lazyvol._io_remote``;
this module is the public face of both.
"""

from __future__ import annotations

import math
import os
import posixpath
from collections.abc import Iterable, Sequence
from typing import Any, Literal
from urllib.parse import SplitResult, urlsplit, urlunsplit

import numpy as np

from ._http_index import page_entries, too_many_links
from ._http_range import Want, ignores_range, read_many, read_whole
from ._io_local import OPEN_FLAGS, check_range, pread_full, pread_into, short_read
from ._io_remote import (
    changed,
    clear_filesystems,
    exact,
    filesystem,
    fs_options,
    fs_path,
    info,
    names_content,
    options_stamp,
    ranged,
    reads_check,
    remote_timeout,
    retried,
    stamp_from_info,
    translate,
    validated,
    version_of,
    with_timeouts,
)
from ._location import (
    Location,
    StorageOptions,
    display_url,
    identity_url,
    is_url,
)
from ._s3_range import is_s3, s3_ranges
from ._special_files import link_to_nothing
from .errors import (
    FormatError,
    LazyvolError,
    RemoteAccessError,
    RemoteReadError,
    RemoteTimeoutError,
    SourceChangedError,
    SourceNotFoundError,
)
from .sources import SourceStamp, stat_regular

__all__ = [
    "OPEN_FLAGS",
    "Location",
    "RemoteAccessError",
    "RemoteReadError",
    "RemoteTimeoutError",
    "StorageOptions",
    "changed",
    "clear_filesystems",
    "display_url",
    "filesystem",
    "identity_url",
    "ignores_range",
    "is_url",
    "kind",
    "list_objects",
    "map_array",
    "names_content",
    "pread_full",
    "read",
    "read_into",
    "read_ranges",
    "read_whole",
    "reads_check",
    "remote_timeout",
    "options_stamp",
    "retried",
    "stamp",
    "translate",
    "validated",
    "verify",
    "version_of",
    "with_timeouts",
]


# -- stat, identity, listing -----------------------------------------------------------------------


def kind(loc: Location) -> Literal["file", "directory"]:
    """Whether ``loc`` is a file (object) or a folder (prefix): one ``stat`` or one request.

    Raises
    ------
    SourceNotFoundError
        Nothing exists there.
    FormatError
        A local FIFO, socket or device (never opened, so nothing blocks).
    RemoteAccessError, RemoteReadError, RemoteTimeoutError
        The server refused or failed.
    """
    if not loc.is_remote:
        if not os.path.exists(loc.url):
            link = link_to_nothing(loc.url)
            why = f"is {link}" if link else "no such file or directory"
            raise SourceNotFoundError(f"{loc.display}: {why}")
        if os.path.isdir(loc.url):
            return "directory"
        stat_regular(loc.url, what="source file")
        return "file"
    found = info(loc)
    return "directory" if found.get("type") == "directory" else "file"


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
    found = info(loc)
    if found.get("type") == "directory":
        raise FormatError(f"{loc.display}: is a prefix (directory), not an object")
    return stamp_from_info(loc, found)


def verify(loc: Location, expected: SourceStamp) -> None:
    """Raise :class:`~lazyvol.errors.SourceChangedError` unless ``loc`` is still ``expected``.

    For URLs this compares size, ETag and last-modified time (one HEAD request).
    """
    if not loc.is_remote:
        expected.verify()
        return
    try:
        now = stamp(loc)
    except SourceNotFoundError:
        raise SourceChangedError(
            f"{loc.display}: the object was removed after it was opened; open the source again"
        ) from None
    err = changed(loc, expected, now)
    if err is not None:
        raise err


def list_objects(
    loc: Location,
    *,
    suffix: str | Sequence[str] = (),
    skipped: list[tuple[str, str]] | None = None,
) -> list[tuple[Location, SourceStamp]]:
    """Every object (file) under a prefix (folder), recursively, with its stamp, sorted by name.

    One listing request per page of results: sizes and ETags come from the listing, no request per
    object, except over HTTP(S), where a folder is an HTML index page without sizes: each object
    listed there is stamped with a HEAD (a few at once); the page's other links (column sorting,
    ``?C=N;O=D``, links outside the folder or to another scheme or host) are not objects, and a
    link the server does not serve (404: a dangling file on its disk), or a subfolder it does not
    list (404, 401/403), is appended to ``skipped`` with the reason, when given. ``suffix`` keeps
    only names ending so (case-insensitive).
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
        fs.invalidate_cache(fs_path(loc, fs))  # list what is there now, not a cached listing
        if loc.protocol in ("http", "https"):
            found = _http_find(fs, loc, skipped)
        else:
            found = fs.find(fs_path(loc, fs), detail=True)
    except Exception as exc:
        raise translate(exc, loc, "listing the prefix") from None
    parts = urlsplit(loc.url)
    unsized: list[Location] = []
    for name, entry in sorted(found.items()):
        if entry.get("type") == "directory":
            continue
        if ends and not name.lower().endswith(ends):
            continue
        if loc.protocol in ("http", "https"):
            url = name
        else:
            url = f"{parts.scheme}://{name.lstrip('/')}"
        child = Location(url, loc.options)
        if entry.get("size") is None and loc.protocol in ("http", "https"):
            unsized.append(child)  # a link of an index page: its size comes from a HEAD
        else:
            out.append((child, stamp_from_info(child, entry)))
    if unsized:
        too_many_links(loc, len(out) + len(unsized))  # (before one HEAD each)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(unsized))) as pool:
            for child, got in zip(unsized, pool.map(_stamp_or_why, unsized), strict=True):
                if isinstance(got, SourceStamp):
                    out.append((child, got))
                elif skipped is not None:
                    skipped.append((child.url, got))
        out.sort(key=lambda pair: pair[0].url)
    return out


#: Deepest folder an HTTP listing descends into below the one asked for.
HTTP_MAX_DEPTH = 32


def _http_find(
    fs: Any, loc: Location, skipped: list[tuple[str, str]] | None
) -> dict[str, dict[str, Any]]:
    """``fs.find(root, detail=True)`` of an HTTP folder (index pages), each page read once.

    fsspec's walk follows every link ending in ``/``: a page linking ``../s1/`` (itself) recursed
    until Python's stack ran out, and a symbolic link loop on the server's disk (``s1/again ->
    .``) was crawled as ``s1/again/again/...`` for tens of seconds. Here links are resolved
    against their page (``..`` removed); only links into the folder on the same scheme and host
    are entries (:func:`_in_folder`); folders seen before are not followed, a folder listing the
    same entries, files among them, as a folder above it (a link loop) is passed over, as is one
    listing the same two or more folders as two folders above it (links to a folder above, which
    branch: ``a -> .`` and ``b -> .`` made 2**32 pages), and so is
    one deeper than :data:`HTTP_MAX_DEPTH`, or one the server does not list (404, 401/403: a
    dangling link, a folder without an index page), each appended to ``skipped`` with the reason.
    Each page is requested as :func:`retried` says (429/500/502/503/504 tried again).
    """
    root = fs_path(loc, fs)
    found: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    pending: list[tuple[str, int, tuple[tuple[str, ...], ...]]] = [(root, 0, ())]
    while pending:
        url, depth, above = pending.pop()
        entries = page_entries(fs, loc, url, skipped, sub=depth > 0)
        if entries is None:
            continue  # a subfolder the server does not list
        # What the folder holds (an index page's sort links, ``?C=N;O=D``, are no entries). A
        # loop shows the same files again; a folder of folders only (DICOM/1/1/...) may well list
        # what its parent lists: the depth limit ends a loop of those.
        held = [e for e in entries if _in_folder(str(e["name"]), url, anywhere=True)]
        names = tuple(sorted(str(e["name"]).rstrip("/").rsplit("/", 1)[-1] for e in held))
        has_files = any(e.get("type") != "directory" for e in held)
        # (folders only: a third listing of the same folders is a loop, a second one may be a
        # tree with the same names at two levels; two or more links to a folder above branch,
        # and a depth limit alone left their 2**32 pages)
        repeats = above.count(names)
        if (has_files and repeats) or (len(names) > 1 and repeats > 1):
            if skipped is not None:
                skipped.append(
                    (
                        url,
                        "lists the same entries as a folder above it (a link loop "
                        "on the server's disk?): not followed; if it is a folder of its own "
                        "(the same folder names at three levels), open or scan its URL",
                    )
                )
            continue
        for entry in entries:
            parts = urlsplit(str(entry["name"]))
            path = posixpath.normpath(parts.path) + (
                "/" if entry.get("type") == "directory" else ""
            )
            name = urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))
            if not _in_folder(name, root):
                continue  # a sort link, a link out of the folder, to another scheme or host
            if entry.get("type") != "directory":
                found.setdefault(name, {**entry, "name": name})
            elif name not in seen and name.rstrip("/") != root.rstrip("/"):
                seen.add(name)
                if depth + 1 > HTTP_MAX_DEPTH:
                    if skipped is not None:
                        skipped.append((name, f"deeper than {HTTP_MAX_DEPTH} folders: not listed"))
                    continue
                pending.append((name, depth + 1, (*above, names)))
    return found


def _in_folder(link: str, root: str, *, anywhere: bool = False) -> bool:
    """Whether ``link`` (a link of an index page under folder ``root``, resolved) names an entry
    of that folder (``anywhere``: or any link that is no sort link): the same scheme, host and
    port, a path under the folder's, no fragment, and the folder URL's query or none (an index
    page's column sort links, ``?C=N;O=D``, are not entries; a folder's ``?token=...`` is each
    entry's: :func:`~lazyvol._url_check.page_link`)."""
    got, top = urlsplit(link), urlsplit(root)
    if got.query != top.query or got.fragment:
        return False
    if anywhere:
        return True
    if got.scheme.lower() != top.scheme.lower():
        return False
    try:
        if (got.hostname, _port(got)) != (top.hostname, _port(top)):
            return False
    except ValueError:  # a port that is no number
        return False
    return (got.path + "/").startswith(top.path.rstrip("/") + "/")


def _port(parts: SplitResult) -> int | None:
    return parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())


def _stamp_or_why(loc: Location) -> SourceStamp | str:
    """The stamp of an object an index page links to, or why it cannot be read (the server does
    not serve it: a dangling file on its disk). A refusal (401/403) is raised: credentials are
    the caller's to fix, not a file to pass over."""
    try:
        return stamp(loc)
    except SourceNotFoundError as exc:
        return f"listed on the folder's index page but not served: {exc}"


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
    check_range(loc, offset, length)
    if loc.is_remote:
        return _remote(loc, offset, length, expect)
    try:
        size = stat_regular(loc.url).st_size
    except SourceNotFoundError:
        if expect is not None:
            expect.verify()  # removed or moved since it was opened: SourceChangedError
        raise
    if size < offset + length:  # checked before allocating what a header claims
        raise short_read(loc, offset, length, max(0, size - offset))
    buf = bytearray(length)
    got = pread_into(loc, offset, memoryview(buf), expect)
    if got != length:
        raise short_read(loc, offset, length, got)
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
    check_range(loc, offset, length)
    if length == 0:
        return
    if loc.is_remote:
        view[:] = _remote(loc, offset, length, expect)
        return
    got = pread_into(loc, offset, view, expect)
    if got != length:
        raise short_read(loc, offset, length, got)


def _is_http(loc: Location) -> bool:
    return loc.protocol in ("http", "https")


def _remote(loc: Location, offset: int, length: int, expect: SourceStamp | None) -> bytes:
    """One remote range: checked HTTP(S) GETs (:mod:`lazyvol._http_range`), else fsspec's
    ``cat_file``."""
    if is_s3(loc) and length:
        (got,) = s3_ranges(filesystem(loc), [(loc, offset, length, expect)])
        if isinstance(got, BaseException):
            raise got
        return got
    if not _is_http(loc) or length == 0:
        return ranged(filesystem(loc), loc, offset, length, expect)
    (res,) = read_many(filesystem(loc), [Want(loc, offset, length, expect)])
    if isinstance(res, BaseException):
        raise res
    return res


#: One range of :func:`read_ranges`: (source, offset, length), optionally with the source's stamp
#: at open (checked by an HTTP(S) read, as ``expect`` of :func:`read`).
RangeRequest = tuple[Location | str, int, int] | tuple[Location | str, int, int, SourceStamp | None]


def read_ranges(requests: Iterable[RangeRequest]) -> list[bytes]:
    """Many exact ranges at once: ``[(source, offset, length), ...] -> [bytes, ...]`` in order.

    Remote ranges of one filesystem go out together (concurrent requests: checked HTTP(S) GETs,
    ``fs.cat_ranges`` on other filesystems such as S3 or GCS); local ranges are ``pread`` calls.
    A fourth item, the source's stamp at open, has an HTTP(S) answer (and a local file) checked
    against it, as ``expect`` of :func:`read`. The first failing range raises its typed error.
    """
    reqs: list[tuple[Location, int, int, SourceStamp | None]] = []
    for req in requests:
        expect = req[3] if len(req) > 3 else None
        reqs.append((Location.of(req[0]), int(req[1]), int(req[2]), expect))
    out: list[bytes | None] = [None] * len(reqs)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, (loc, off, n, expect) in enumerate(reqs):
        check_range(loc, off, n)
        if not loc.is_remote or n == 0:
            out[i] = read(loc, off, n, expect=expect) if n else b""
        else:
            groups.setdefault(fs_options(loc)[0], []).append(i)  # one filesystem each
    for members in groups.values():
        first = reqs[members[0]][0]
        fs = filesystem(first)
        got: list[bytes | LazyvolError]
        if _is_http(first):
            got = read_many(fs, [Want(*reqs[i]) for i in members])
        elif is_s3(first):
            got = s3_ranges(fs, [reqs[i] for i in members])
        else:
            got = _cat_ranges(fs, first, [reqs[i] for i in members])
        for i, res in zip(members, got, strict=True):
            if isinstance(res, BaseException):
                raise res
            out[i] = res
    return [b if b is not None else b"" for b in out]


def _cat_ranges(
    fs: Any, first: Location, reqs: list[tuple[Location, int, int, SourceStamp | None]]
) -> list[bytes | LazyvolError]:
    """Ranges of one non-HTTP filesystem through ``fs.cat_ranges``, each checked exact."""
    try:
        results = fs.cat_ranges(
            [fs_path(loc, fs) for loc, _o, _n, _e in reqs],
            [off for _l, off, _n, _e in reqs],
            [off + n for _l, off, n, _e in reqs],
            on_error="return",
        )
    except Exception as exc:
        raise translate(exc, first, f"reading {len(reqs)} byte ranges") from None
    out: list[bytes | LazyvolError] = []
    for (loc, off, n, expect), res in zip(reqs, results, strict=True):
        if isinstance(res, BaseException):
            out.append(translate(res, loc, f"reading bytes {off}-{off + n - 1}", off, expect))
            continue
        try:
            out.append(exact(loc, off, n, bytes(res)))
        except LazyvolError as exc:
            out.append(exc)
    return out


def map_array(
    source: Location | str,
    offset: int,
    shape: Sequence[int],
    dtype: Any,
    *,
    order: Literal["C", "F"] = "C",
    expect: SourceStamp | None = None,
) -> np.ndarray:
    """The array of ``shape``/``dtype`` stored from byte ``offset``, read into a new array (a
    local file with :func:`read_into`, a URL with one ranged read).

    The file size is checked first, so a file shorter than the block raises
    :class:`~lazyvol.errors.FormatError` before anything is allocated; ``expect`` (the stamp at
    open) is compared with the same ``stat`` and again after the read (a live memory map handed
    back would change under its holder when the file is rewritten in place, with no error
    possible).
    """
    loc = Location.of(source)
    dt = np.dtype(dtype)
    shape = tuple(int(n) for n in shape)
    count = math.prod(shape)  # exact (no int64 overflow for absurd shapes)
    nbytes = count * dt.itemsize
    check_range(loc, offset, nbytes)
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
        raise short_read(loc, offset, nbytes, max(0, st.st_size - offset))
    if nbytes == 0:
        return np.empty(shape, dtype=dt, order=order)
    out = np.empty(count, dtype=dt)
    read_into(loc, offset, out, expect=expect)
    out.flags.writeable = False  # (read-only, as a URL's array and the memory map it replaced)
    return out.reshape(shape, order=order)
