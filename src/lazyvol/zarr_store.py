"""A Zarr store's files, local or remote: :class:`StoreRoot`.

The Zarr reader (:mod:`lazyvol.zarr_io`) reads a store's metadata, manifest and chunk files through
this one small object, so the same checks run for a folder on disk and for a prefix in an object
store (``s3://``, ``gs://``, ``http(s)://``, anything fsspec resolves):

- local: plain file reads, ``os.stat`` identities, a directory walk of the chunk files;
- remote: small-object reads through the byte layer's filesystem (:func:`lazyvol._io.filesystem`),
  identities from :func:`lazyvol._io.stamp` (size, ETag, last-modified), and for chunk data zarr's
  :class:`zarr.storage.FsspecStore` (asynchronous, many requests in flight).

A root is frozen and picklable (a :class:`~lazyvol._io.Location`: URL plus storage options, no
open filesystem), so read plans carry it to any worker. Messages name the store without
credentials.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from . import _io, _json
from ._io import Location
from ._remote_errors import gzip_metadata, html_page, html_refusal
from ._special_files import unreadable_chunk
from ._zarr_folder import files_under
from .errors import FormatError, IntegrityError, LazyvolError, SourceNotFoundError
from .zarr_files import (
    READ_LIMIT_FIX,
    BoundedLocalStore,
    chunk_file_bound_of,
    read_limit,
    read_store_file,
)

__all__ = ["PageNotFile", "StoreRoot", "followed_size", "page_note"]

#: Names of a Zarr store's JSON metadata files (v3, v2, consolidated).
_METADATA_NAMES = frozenset({"zarr.json", ".zgroup", ".zattrs", ".zarray", ".zmetadata"})


def _limit(key: str) -> dict[str, str]:
    """How a read of the store's file ``key`` names it and its fix in a refusal."""
    return {"what": f"the Zarr store's file {key}", "fix": READ_LIMIT_FIX}


class PageNotFile(FileNotFoundError):
    """A remote metadata file a server answered with an HTML page and status 200: no such file
    (a Zarr v2 store's ``zarr.json`` on a host answering every path it does not have with its
    start page), the message saying so (:func:`~lazyvol._remote_errors.html_refusal`)."""


def page_note(exc: BaseException) -> str:
    """`` (<why>)`` when ``exc`` is a :class:`PageNotFile` (for a message), else ``""``."""
    return f" ({exc})" if isinstance(exc, PageNotFile) else ""


@dataclass(frozen=True)
class StoreRoot:
    """The root of a Zarr store: a local directory or a URL prefix (with its storage options)."""

    loc: Location

    @classmethod
    def of(
        cls, source: str | os.PathLike[str] | Location, storage_options: Any = None
    ) -> StoreRoot:
        """The root at ``source`` (path, URL or Location); a trailing ``/`` is dropped."""
        loc = _io.Location.of(source, storage_options)
        if loc.is_remote and loc.url.endswith("/") and not loc.url.endswith("://"):
            loc = Location(loc.url.rstrip("/"), loc.options)
        return cls(loc)

    @property
    def is_remote(self) -> bool:
        """True for a URL prefix."""
        return self.loc.is_remote

    @property
    def display(self) -> str:
        """The store for messages and ``Volume.source``: its absolute path, or its URL without
        credentials."""
        return self.loc.display if self.is_remote else self.loc.url

    @property
    def path(self) -> str:
        """The local directory (only for a local store)."""
        return self.loc.url

    def where(self, key: str) -> str:
        """File ``key`` of the store (``"0/zarr.json"``), for messages."""
        if self.is_remote:
            return self.loc.join(key).display
        return os.path.join(self.loc.url, *key.split("/"))

    # -- remote helpers ---------------------------------------------------------------------------

    def _remote(self, key: str) -> tuple[Any, str, Location]:
        loc = self.loc.join(key) if key else self.loc
        fs = _io.filesystem(loc)
        path = loc.url if loc.protocol in ("http", "https") else str(fs._strip_protocol(loc.url))
        return fs, path, loc

    # -- reads --------------------------------------------------------------------------------------

    def attrs_of(self, inner: str) -> dict[str, Any]:
        """The attributes of group ``inner`` of the store (Zarr v3 or v2), ``{}`` when unreadable
        (only to name an image in a refusal: never raises)."""
        for key, v3 in ((f"{inner}/zarr.json", True), (f"{inner}/.zattrs", False)):
            try:
                meta = _json.loads(self.read(key))
            except Exception:  # (missing, unreadable, not JSON: the caller falls back)
                continue
            attrs = meta.get("attributes") if v3 and isinstance(meta, dict) else meta
            return attrs if isinstance(attrs, dict) else {}
        return {}

    def read(self, key: str) -> bytes:
        """The whole file ``key``.

        Raises
        ------
        FileNotFoundError
            No such file or object (:class:`PageNotFile`: an HTML page where a remote metadata
            file should be).
        OSError, LazyvolError
            Unreadable (a remote failure is a typed :mod:`lazyvol.errors` error naming the URL).
        """
        if not self.is_remote:  # (non-blocking, a regular file, bounded: zarr_files)
            return read_store_file(self.where(key), f"file {key}", inside=self.path)
        loc = self.loc.join(key)
        try:  # (bounded as a local read is, whatever the server sends; 429/50x: again)
            data = _io.read_whole(loc, read_limit(key), **_limit(key))
        except (FileNotFoundError, SourceNotFoundError):
            raise FileNotFoundError(loc.display) from None
        is_meta = key.rsplit("/", 1)[-1] in _METADATA_NAMES
        if is_meta and html_page(data):  # (JSON never is)
            raise PageNotFile(html_refusal(loc.display, "its Zarr metadata is not JSON"))
        coded = gzip_metadata(loc.display, data) if key.endswith(".json") or is_meta else None
        if coded is not None:
            raise FormatError(coded)
        return data

    def exists(self, key: str) -> bool:
        """True when file ``key`` exists (a remote request failing for good counts as absent;
        one answered 429/500/502/503/504 is asked again first, and an HTTP(S) object is asked for by
        HEAD, never whole: :func:`lazyvol._io.kind`)."""
        if not self.is_remote:
            return os.path.isfile(self.where(key))
        try:
            return _io.kind(self.loc.join(key)) == "file"
        except (OSError, LazyvolError):
            return False

    def holds(self, key: str) -> bool:
        """True when metadata file ``key`` exists (:meth:`exists`) and, in a remote store, is not
        an HTML page (:func:`lazyvol._remote_errors.html_page`): a web host answering every path
        it does not have with a page and status 200 has no such file."""
        if not self.exists(key):
            return False
        if not self.is_remote:
            return True
        loc = self.loc.join(key)
        try:
            head = _io.read_whole(loc, read_limit(key), **_limit(key))[:256]
        except (FileNotFoundError, SourceNotFoundError):
            return False
        return not html_page(head)

    def absent(self, key: str) -> bool:
        """True when file ``key`` does not exist (:meth:`exists`) and is not a symbolic link (or
        reached through one, inside the store) that leads to no file: such a file is one not
        fetched (a git-annex / DataLad dataset), never absent. A remote metadata file a server
        answers with an HTML page is absent (:meth:`holds`).

        Raises
        ------
        FormatError
            It is such a link (naming it, where it leads and how to get it).
        """
        if self.is_remote and key.rsplit("/", 1)[-1] in _METADATA_NAMES:
            return not self.holds(key)
        if self.exists(key):
            return False
        if not self.is_remote:
            try:
                self.read(key)  # (a link to no file raises, naming it: zarr_files.dangling_link)
            except FileNotFoundError:
                return True
            return False  # (appeared meanwhile)
        return True

    def file_id(self, key: str) -> tuple[Any, ...]:
        """What changes when file ``key`` is replaced: ``(inode, mtime_ns, ctime_ns)`` locally,
        ``(size, ETag, last-modified)`` remotely (the size None when the server states none: a
        file it encodes on the fly, read whole and decoded).

        Raises
        ------
        OSError
            Locally, no such file.
        LazyvolError
            Remotely, no such object or the request failed.
        """
        if not self.is_remote:
            st = os.stat(self.where(key))
            return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        # (no size needed: metadata is read whole; a reference:// store's references file too)
        return (*_io.version_of(self.loc.join(key)), *_io.options_stamp(self.loc))

    def chunk_files(self, array: str, most: Any = None) -> dict[str, os.DirEntry[str]] | None:
        """Chunk files of ``array`` (``{"c/0/0/0": entry}``); None when the store cannot be listed
        cheaply (remote stores: chunk files are checked as they are read instead). ``most``: the
        files the manifest lists; the listing stops past it (a link to a folder such as ``/``
        would list the whole disk, and one file more is already refused). A value of a damaged
        manifest that is no count (text, a list, negative) bounds nothing: the check names it."""
        if self.is_remote:
            return None
        if isinstance(most, bool) or not isinstance(most, int) or most < 0:
            most = None
        out: dict[str, os.DirEntry[str]] = {}
        stack: list[tuple[str, str]] = []
        try:  # (the folder "c" as an entry: a link leading to no folder is one the check names)
            with os.scandir(os.path.join(self.path, array)) as top:
                for e in top:
                    if e.name == "c" and e.is_dir():
                        stack.append((e.path, "c"))
                    elif e.name == "c":
                        out["c"] = e
        except (FileNotFoundError, NotADirectoryError):
            return out
        seen: set[tuple[int, int]] = set()  # (folders listed: a loop of links is listed once)
        while stack:
            d, rel = stack.pop()
            try:
                st = os.stat(d)
                it = os.scandir(d)
            except (FileNotFoundError, NotADirectoryError):
                continue
            seen.add((st.st_dev, st.st_ino))
            with it:
                for e in it:
                    key = f"{rel}/{e.name}"
                    # (a link to a folder is that folder, as every read follows it; a link that
                    # leads to no folder, or back to one listed, is an entry the check names)
                    if e.is_dir(follow_symlinks=False) or (e.is_dir() and _new_folder(e, seen)):
                        stack.append((e.path, key))
                    else:
                        out[key] = e
                    if most is not None and len(out) > most:
                        return out
        return out

    def list_all(self) -> list[str]:
        """Every file of the store as a path or URL (a remote listing: one request per 1000 objects).

        Raises
        ------
        LazyvolError
            A remote listing that fails (typed, naming the URL).
        """
        if not self.is_remote:
            return files_under(self.path)  # (folder links followed, as reads follow them)
        fs, path, _ = self._remote("")
        try:
            found = _io.retried(self.loc, lambda: fs.find(path))
        except Exception as exc:
            raise self.translate(exc, "", "listing the store") from None
        base = path.rstrip("/") + "/"
        return sorted(self.loc.join(str(p)[len(base) :]).url for p in found)

    def zarr_store(self, array: str, *, checked: bool = False) -> Any:
        """A read-only zarr store rooted at ``array``: for a local store, one reading every file
        through :func:`~lazyvol.zarr_files.read_store_file` (non-blocking, regular files only,
        bounded), or with ``checked`` (the caller checks each file against a manifest before
        reading it whole: :func:`~lazyvol.zarr_integrity.VerifiedStore`) zarr's LocalStore;
        FsspecStore for a URL."""
        if not self.is_remote:
            from zarr.storage import LocalStore

            path = os.path.join(self.path, array)
            return LocalStore(path, read_only=True) if checked else BoundedLocalStore(path)
        loc = self.loc.join(array)
        opts = _io.with_timeouts(loc.protocol, loc.options.to_dict(), asynchronous=True)
        try:
            if loc.protocol == "reference":  # (chunks read by the byte layer, targets checked)
                from ._zarr_refs_store import reference_store

                return reference_store(loc, opts, read_limit, chunk_file_bound_of, READ_LIMIT_FIX)
            from ._zarr_http import bounded_store  # (bounded; HTTP ranged reads checked)

            return bounded_store(loc, opts, read_limit, chunk_file_bound_of, READ_LIMIT_FIX)
        except ImportError as exc:
            raise ImportError(
                f"{loc.display}: reading {loc.protocol}:// stores needs a package that is not "
                "installed; pip install 'lazyvol[remote]'"
            ) from exc
        except LazyvolError:
            raise
        except Exception as exc:
            raise FormatError(f"{loc.display}: cannot open the Zarr array ({exc})") from None

    def translate(self, exc: BaseException, key: str, what: str) -> LazyvolError:
        """A typed error for a failed remote request on file ``key`` (credentials removed)."""
        return _io.translate(exc, self.loc.join(key) if key else self.loc, what)


def _new_folder(entry: os.DirEntry[str], seen: set[tuple[int, int]]) -> bool:
    """The folder a link ``entry`` leads to is not among ``seen`` (device, inode) yet."""
    try:
        st = entry.stat()
    except OSError:
        return False
    return (st.st_dev, st.st_ino) not in seen


def followed_size(entry: os.DirEntry[str], store: str) -> int:
    """The size of the chunk file ``entry`` listed by :meth:`StoreRoot.chunk_files` (a link: of
    the file it leads to, as every read follows it).

    Raises
    ------
    IntegrityError
        It cannot be read (a link to no file, a git-annex file not fetched: named, not summed
        as -1 bytes into 'chunks are missing or damaged'); ``store`` names the store.
    """
    try:
        return entry.stat().st_size
    except OSError as exc:
        raise IntegrityError(unreadable_chunk(store, entry.path, exc)) from None
