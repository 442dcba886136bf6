"""Keys of the Zarr cache: which files a volume comes from, and the digests naming its entry.

- The files are those the reader of the path opened lists (``source_files``: the reader
  protocol's ``Reader.source_files``), never files named by metadata carried over from an
  earlier source (a Zarr store converted from a NIfTI file or a DICOM series keeps their
  ``source`` and ``meta["files"]``; it is keyed by its own files).
- ``key`` hashes every source file's identity and the options that change the data (``series``,
  ``scale``, ``dtype`` and reader options). A local file is named by
  :func:`lazyvol.chunking.file_fingerprint` (absolute path, size, mtime_ns) plus its device, inode
  and ctime_ns: any change, addition, removal or touch gives a new key, including a rewrite of the
  same size with the old mtime put back (the kernel moves ctime on every write; no user call can
  set it). A remote object is named by its stamp (:func:`lazyvol._io.stamp`): its URL without
  credentials, size, ETag (and version) and last-modified time, so a changed object (new ETag)
  gives a new key. A local file's key also holds a sample of its bytes (:func:`content_sample`):
  the entry of another file that had its identity (an in-place rewrite within the file
  system's timestamp granularity, a cache directory copied from elsewhere) is not found.
- ``source id`` hashes the source's identity (path, or URL without credentials) and the options
  only, so when a source changes the entries of its older versions are found and removed.

Credentials never enter a key: storage options are not hashed, URLs are reduced to their identity.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _io
from ._io import Location
from ._location import identity_url, is_url
from .chunking import file_fingerprint
from .errors import CacheError, RemoteAccessError, SourceNotFoundError
from .sources import content_sample
from .zarr_meta import BASE_VERSION

if TYPE_CHECKING:
    from .volume import Volume

__all__ = ["entry_key", "source_files"]


def _walk_files(folder: str, exclude: str) -> list[str]:
    """Every regular file under ``folder``, except those under ``exclude``: a symbolic link to one
    too (every file of a git-annex / DataLad dataset is one; the key stamps the file it leads to,
    so new content under the link, or the link led elsewhere, is a new entry); folder links are
    not walked, links to no file not listed."""
    out: list[str] = []
    for dirpath, dirnames, names in os.walk(folder):
        dirnames[:] = [
            d for d in dirnames if not os.path.abspath(os.path.join(dirpath, d)).startswith(exclude)
        ]
        for n in names:
            f = os.path.join(dirpath, n)
            if os.path.isfile(f):  # (follows a link: a link to a regular file is one)
                out.append(os.path.abspath(f))
    return out


def _reader_files(reader: Any, vol: Volume, loc: Location, options: dict[str, Any]) -> list[str]:
    """The files ``reader`` says ``loc`` reads. The DICOM reader's are the files of the series
    it opened, in ``vol.meta["files"]`` of the volume it just made (asking it again would scan the
    folder again); any other reader is asked (a Zarr store lists its own files, never those of the
    source it was converted from, which its ``meta`` and ``source`` may still name)."""
    from .readers import DicomReader

    if isinstance(reader, DicomReader):
        return DicomReader.files_of(vol, loc)
    reader_source: Any = loc  # readers take a Location
    try:
        listed = reader.source_files(reader_source, **options) or []
    except (SourceNotFoundError, RemoteAccessError) as exc:
        if not loc.is_remote or (
            isinstance(exc, SourceNotFoundError) and loc.protocol not in ("http", "https")
        ):
            raise
        raise UnkeyedSourceError(  # (the open read it by key; its files cannot be listed)
            f"{loc.display}: the server lists no folder here (no index page, or a listing "
            "denied: s3:ListBucket), so the cache cannot "
            "key the store by the ETags of its files, and a chunk rewritten on the server would "
            "be served from the cache as the old one: not cached. Serve a folder listing, or "
            "write the store with lazyvol (its manifest keys it)"
        ) from None
    return [os.fspath(f) for f in listed]


def source_files(
    vol: Volume, source: str | Location, root: Path, reader: Any = None, **options: Any
) -> list[str]:
    """Every file (or object URL) the volume's values come from, as the reader of ``source`` lists
    them (:meth:`lazyvol.formats.base.Reader.source_files`).

    ``reader`` is the reader that opened ``vol`` (default: the one the registry picks for
    ``source`` now); ``options`` are the options it was opened with. A folder in the list (or a
    reader listing nothing: the source itself) stands for every file under it: any change there
    gives a new key (never stale, at worst a rebuild after an unrelated file changed). Files under
    the cache directory ``root`` are left out. Remote sources give object URLs.
    """
    from .formats.registry import pick

    loc = Location.of(source)
    if reader is None:
        reader = pick(loc)
    listed = _reader_files(reader, vol, loc, options) or [loc.url]
    if loc.is_remote:
        return sorted({f if is_url(f) else loc.join(f).url for f in listed})
    expanded: list[str] = []
    exclude = os.path.abspath(root) + os.sep
    real = os.path.realpath(root) + os.sep
    folders: dict[str, bool] = {}  # (a folder: whether it is the cache's, found through links)

    def cached(f: str) -> bool:  # (a store's folder link leading to the cache: its own entries)
        folder = os.path.dirname(f)
        if folder not in folders:
            folders[folder] = (os.path.realpath(folder) + os.sep).startswith(real)
        return f.startswith(exclude) or folders[folder]

    for f in (os.path.abspath(f) for f in listed):
        if os.path.isdir(f):
            expanded.extend(_walk_files(f, exclude))
        elif not cached(f):
            expanded.append(f)
    if not expanded:
        raise CacheError(
            f"{loc.display}: no source files found to key the cache entry; use cache=False"
        )
    return sorted(set(expanded))


def _options_token(series: Any, scale: bool, dtype: Any, options: dict[str, Any]) -> dict[str, Any]:
    return {
        # (format 3 only reorders 5-axis volumes; the reader reads format-2 ones as before)
        "lazyvol_cache_format": BASE_VERSION,
        "series": series,
        "scale": bool(scale),
        "dtype": None if dtype is None else np.dtype(dtype).str,
        "options": {k: options[k] for k in sorted(options)},
    }


#: From this many objects under one prefix on, their stamps come from one listing of the prefix
#: (one request per 1000 objects) instead of one HEAD request each.
LIST_FROM = 8


def _remote_stamps(files: list[str], storage_options: Any) -> list[list[Any]]:
    """``[identity, size, mtime_ns, etag]`` of every object: from one listing of their common
    prefix when there are many (S3, GCS, ...), else one HEAD request each."""
    locs = [Location.of(url, storage_options) for url in files]
    known: dict[str, Any] = {}
    parent = os.path.dirname(files[0]) if files else ""
    listable = locs and locs[0].protocol not in ("http", "https")
    if listable and len(files) >= LIST_FROM and all(os.path.dirname(f) == parent for f in files):
        wanted = {loc.identity for loc in locs}
        for child, st in _io.list_objects(Location.of(parent, storage_options)):
            if child.identity in wanted:
                known[child.identity] = st
    out = []
    for loc in locs:
        st = known.get(loc.identity) or _io.stamp(loc)
        if not _io.validated(st):
            raise UnvalidatedSourceError(
                f"{loc.display}: the server sends neither an ETag nor a Last-Modified time, so a "
                "replacement of the same size would be served from the cache as the old object: "
                "not cached"
            )
        stamp: list[Any] = [st.path, st.size, st.mtime_ns, st.etag]
        tail = b""
        if loc.name.lower().endswith(".gz"):
            # a web server's validators can be weak (Last-Modified to the second, ETags made of
            # time and size): the gzip trailer (CRC-32 of the whole stream) tells streams apart
            from .gz_remote import stream_tail

            tail = stream_tail(loc, st)
            if tail:
                stamp.append(tail.hex())
        if not _io.names_content(st.etag, st.size, st.mtime_ns) and not tail:
            # Last-Modified alone is size and whole-second mtime: what the cache does not trust
            # locally either (a same-size rewrite within the second was served stale)
            said = "an ETag made of them" if st.etag else "no ETag"
            raise UnvalidatedSourceError(
                f"{loc.display}: the server sends {said}, only a Last-Modified time (whole "
                "seconds) and the size, so a replacement of the same size within that second "
                "would be served from the cache as the old object: not cached; serve it with an "
                "ETag of its content to cache it"
            )
        out.append(stamp)
    return out


class UnkeyedSourceError(CacheError):
    """A source no entry key can follow (a change could not be told from the cached one), so it
    is never cached: :func:`lazyvol.cache.open_cached` reads it uncached, with a warning."""


class UnvalidatedSourceError(UnkeyedSourceError):
    """A remote source whose objects carry no validator (ETag, last-modified time): no key can
    tell a replacement of the same size from the original, so it is never cached."""


#: Bytes of a local file's start in its :func:`~lazyvol.sources.content_sample` (a NIfTI header,
#: a DICOM file's meta group with its SOP Instance UID), beside the spots it samples.
HEAD_BYTES = 1024


def entry_key(
    files: list[str],
    series: Any = None,
    scale: bool = True,
    dtype: Any = None,
    *,
    source: str | None = None,
    storage_options: Any = None,
    rules: Any = None,
    **options: Any,
) -> tuple[str, str]:
    """``(source_id, key)`` hex digests for source files (paths or URLs) and read options.

    ``key`` changes with any local file's path, size, mtime, inode, ctime or sampled bytes
    (:func:`content_sample`), with any remote
    object's size, ETag or last-modified time, with the options, and with ``rules`` (the
    version of the reader's rules, e.g. the DICOM report format: an entry built before a fix of
    the reader's grouping or metadata is not reused); ``source_id`` only with
    ``source`` (the path or URL opened; default the file list) and the options, so the entries of
    older versions of one source share it. ``storage_options`` are used to reach remote objects
    and never hashed.
    """
    opts = _options_token(series, scale, dtype, options)
    remote = [f for f in files if is_url(f)]
    local = [f for f in files if not is_url(f)]
    # Beyond path, size and mtime (file_fingerprint): the inode and the status-change time. A
    # rewrite that keeps the size and puts the old mtime back (os.utime, rsync -t, cp -p) still
    # moves ctime, which no user call can set, and a replacement by rename changes the inode.
    h = hashlib.sha256(file_fingerprint(local, **opts).encode())
    for f in local:
        st = os.stat(f)
        h.update(f"\0{st.st_dev}\0{st.st_ino}\0{st.st_ctime_ns}\0".encode())
        h.update(content_sample(f, st.st_size, HEAD_BYTES))
    if remote:
        stamps = _remote_stamps(sorted(remote), storage_options)
        h.update(json.dumps(stamps, sort_keys=True).encode())
    if rules is not None:
        h.update(f"\0rules={rules}".encode())
    key = h.hexdigest()[:40]
    if source:
        what: Any = identity_url(source)
    else:
        what = sorted(identity_url(f) for f in files)
    ident = json.dumps({"source": what, **opts}, sort_keys=True, default=str)
    sid = hashlib.sha256(ident.encode()).hexdigest()[:24]
    return sid, key


def _reader_rules(reader: Any) -> str | None:
    """The version of the rules that made a volume from its files, for the entry key: a DICOM
    series' grouping and metadata (the saved-report format, bumped with each fix of them)."""
    from .readers import DicomReader

    if not isinstance(reader, DicomReader):
        return None
    from .dicom.saved_scan import REPORT_FORMAT

    return f"dicom-{REPORT_FORMAT}"


def source_key(
    vol: Volume,
    source: str | Location,
    root: Path,
    series: Any = None,
    scale: bool = True,
    dtype: Any = None,
    **options: Any,
) -> tuple[str, str]:
    """``(source_id, key)`` of ``source`` as it is now: :func:`entry_key` of the files its
    reader lists (:func:`source_files`) and of the options ``vol`` was opened with.

    Raises ``FileNotFoundError`` when a listed file vanished meanwhile,
    :class:`UnkeyedSourceError` for remote objects without validators, or a web folder the
    server does not list.
    """
    from .formats.registry import pick

    loc = Location.of(source)
    reader = pick(loc)
    opts = {"series": series, "scale": scale, "dtype": dtype, **options}
    files = source_files(vol, loc, root, reader, **opts)
    return entry_key(
        files,
        series=series,
        scale=scale,
        dtype=dtype,
        source=loc.url,
        storage_options=loc.options,
        rules=_reader_rules(reader),
        **options,
    )
