"""The content-keyed, crash-safe Zarr cache behind ``lazyvol.open(source, cache=True)``.

An entry is a lazyvol Zarr store (see :mod:`lazyvol.zarr_io`) at ``<cache>/<source id>/<key>``;
:mod:`lazyvol.cache_keys` says how the two digests are made (every source file's identity: path,
size, mtime, inode, ctime and a sample of its bytes locally; URL without credentials, size, ETag,
last-modified remotely).
Any change of a source gives a new key, so stale data is never served; the entries of older
versions of the same source are removed.

Paths are built from hex digests only, never from file names, URLs or DICOM strings, and nothing
in an entry carries a credential (URLs are written without user, password or credential query
values; storage options are never written). An entry is written by
:func:`lazyvol.zarr_write.write_zarr` (temporary directory, manifest written last, atomic publish)
under a :mod:`filelock` lock, so a killed writer leaves nothing a reader would use and concurrent
writers produce one valid entry. After writing, the source is identified again; if it changed
meanwhile the entry is discarded. An unwritable cache location gives one :class:`CacheWarning` and
plain uncached reads (``require_cache=True`` turns that into :class:`lazyvol.CacheError`).

Listing and clearing: :mod:`lazyvol.cache_admin` (re-exported here).
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._fsutil import sweep_folder, sweep_leftovers
from ._io import Location
from ._warn import warn as _warn_user
from .cache_admin import (
    ENTRY_KEY,
    INDEX_KINDS,
    CacheEntry,
    IndexFile,
    _root,
    clear,
    clear_index_files,
    default_cache_dir,
    list_entries,
    list_index_files,
    own_dirs,
    remove_entry,
)
from .cache_keys import UnkeyedSourceError, entry_key, source_key
from .errors import CacheError, FormatError, IntegrityError, LazyvolError, WriteError
from .scheduling import slot_given_back
from .sources import HEADER_FILES_KEY, display_path
from .volume import Volume
from .zarr_io import MANIFEST, ZarrPlan, open_store
from .zarr_read import store_replaced
from .zarr_write import storable_dtype, write_zarr

__all__ = [
    "INDEX_KINDS",
    "CacheEntry",
    "CacheWarning",
    "IndexFile",
    "clear",
    "clear_index_files",
    "default_cache_dir",
    "entry_key",
    "list_entries",
    "list_index_files",
    "open_cached",
]

#: Codec of cache entries: reading speed first. Measured on a 256 MiB int16 phantom (in-process,
#: warm, loaded 2-core machine): mean over the volume 0.21 s with blosc-lz4 (ratio 1.48), 0.39 s
#: blosc-zstd (1.94), 0.56 s zstd (1.81), 0.79 s from the .nii.gz source.
CACHE_CODEC = "blosc-lz4"

#: Seconds to wait for another process writing the same entry before reading uncached.
LOCK_TIMEOUT = 600.0


class CacheWarning(UserWarning):
    """The cache could not be used; the volume is read from its source instead."""


def _display(source: str | Location) -> str:
    return source.display if isinstance(source, Location) else str(source)


def _open_source(source: str | Location, **kwargs: Any) -> Volume:
    """The uncached volume, through the reader registry (a remote source as its Location)."""
    from .readers import open_source

    reader_source: Any = source  # the readers take the Location of a remote source
    return open_source(reader_source, **kwargs)


def _key_now(
    src: Volume,
    source: str | Location,
    root: Path,
    series: Any,
    scale: bool,
    dtype: Any,
    options: dict[str, Any],
) -> str:
    """The entry key of ``source`` as it is now (``""`` when a file vanished meanwhile)."""
    try:
        _, key = source_key(src, source, root, series, scale, dtype, **options)
    except (FileNotFoundError, FormatError, CacheError):  # (FormatError: no reader takes it now)
        key = ""
    return key


def _vanished(exc: FileNotFoundError) -> str:
    """The file a FileNotFoundError names (a SourceNotFoundError names it in its message)."""
    return display_path(exc.filename) if exc.filename else str(exc)


def _warn_or_raise(msg: str, required: bool, exc: BaseException | None = None) -> None:
    """Raise (``require_cache=True``) or warn that the volume is read without the cache."""
    if required:
        raise CacheError(
            f"{msg} (require_cache=True; without it the source is read uncached)"
        ) from exc
    _warn_user(f"{msg}; reading uncached", CacheWarning)


def _warn_damaged(entry: str, exc: BaseException, what: str, replaced: bool = False) -> None:
    """One CacheWarning per damaged (or removed) entry and process. An entry whose manifest is
    gone was removed while in use (evicted for a newer version of its source, or cleared), and
    one ``replaced`` was written again meanwhile (cleared, then cached by another open), not
    damaged: the warning says so."""
    with _DAMAGED_LOCK:
        if entry in _DAMAGED:
            return
        _DAMAGED.add(entry)
    if replaced:
        msg = f"cache entry {entry} was written again while in use (cleared, then cached anew)"
    elif os.path.exists(os.path.join(entry, MANIFEST)):
        msg = f"damaged cache entry {entry} ({exc})"
    else:
        msg = f"cache entry {entry} was removed while in use (evicted or cleared)"
    _warn_user(f"{msg}; {what}", CacheWarning)


_DAMAGED: set[str] = set()
_DAMAGED_LOCK = threading.Lock()


def _open_entry(
    entry: Path, chunks: Any, source: Volume, fallback: _SourceFallback | None = None
) -> Volume | None:
    """The entry as a Volume, or None (a miss) when it is incomplete, damaged or does not fit.

    Checksums are required: a damaged entry (IntegrityError) is a miss with one
    :class:`CacheWarning`; the caller rebuilds it. ``fallback`` serves blocks that fail their
    checks later, at read time, from the source.
    """
    try:
        vol = open_store(entry, chunks=chunks, fallback=fallback, require_checksums=True)
    except IntegrityError as exc:
        _warn_damaged(str(entry), exc, "it is rebuilt from the source")
        return None
    except (FormatError, OSError):
        return None
    if vol.shape != source.shape or vol.dtype != source.dtype.newbyteorder("="):
        return None
    if vol.meta.get(HEADER_FILES_KEY) is None and source.meta.get(HEADER_FILES_KEY):
        return None  # (written before entries recorded their source files' identity: rebuilt)
    vol.source = source.source  # (the entry records the absolute path or URL it is keyed on)
    return vol


@dataclass(frozen=True)
class _SourceFallback:
    """Reads a block from the source when the cache entry fails at read time (damaged, evicted).

    Picklable (it travels with the dask graph): it reopens the source from its path and options
    in the process that needs it, checks that the source still has the key the entry was opened
    with (else the block would mix two versions: a FormatError says to reopen), warns once,
    removes the damaged entry so the next open rebuilds it, and returns the source's block.
    """

    path: str | Location
    entry: str
    key: str
    root: str
    series: Any
    scale: bool
    dtype: Any
    options: tuple[tuple[str, Any], ...]

    def __call__(self, plan: ZarrPlan, index: tuple[slice, ...], exc: Exception) -> np.ndarray:
        if store_replaced(plan):  # (the new entry serves the next open)
            _warn_damaged(self.entry, exc, "this volume reads from the source", replaced=True)
        else:
            what = "reading from the source; the entry is rebuilt at the next open"
            _warn_damaged(self.entry, exc, what)
        _discard_if_same(Path(self.entry), plan)
        src = self._source()
        block = src.data[index].compute(scheduler="sync")
        return np.asarray(block, dtype=np.dtype(plan.dtype))

    def _source(self) -> Volume:

        with _FALLBACK_LOCK:
            src = _FALLBACK_SOURCES.get(self)
        if src is not None:
            return src
        opts = dict(self.options)
        src = _open_source(
            self.path, series=self.series, scale=self.scale, dtype=self.dtype, **opts
        )
        key = _key_now(src, self.path, Path(self.root), self.series, self.scale, self.dtype, opts)
        if key != self.key:
            raise FormatError(
                f"{_display(self.path)}: its cache entry {self.entry} failed while reading and the source "
                "changed since it was opened; open it again"
            )
        with _FALLBACK_LOCK:
            if len(_FALLBACK_SOURCES) >= 16:
                _FALLBACK_SOURCES.clear()
            _FALLBACK_SOURCES[self] = src
        return src


_FALLBACK_SOURCES: dict[_SourceFallback, Volume] = {}
_FALLBACK_LOCK = threading.Lock()


def _discard_if_same(entry: Path, plan: ZarrPlan) -> None:
    """Remove a damaged entry unless it was replaced since it was opened (rebuilt by another)."""
    try:
        st = os.stat(entry / MANIFEST)
    except OSError:
        return
    if plan.manifest_id == (st.st_ino, st.st_mtime_ns, st.st_ctime_ns):
        remove_entry(entry)


def _evict_older_versions(group: Path, keep: str) -> None:
    """Remove entries of older versions of the same source (other keys in the same group)."""
    from filelock import FileLock, Timeout

    if group.is_symlink():  # not a folder the cache made: nothing in it is evicted
        return
    for child in own_dirs(group, ENTRY_KEY):
        name = child.name
        if name == keep:
            continue
        try:
            with FileLock(str(group / f"{name}.lock"), timeout=0):
                remove_entry(child)
            (group / f"{name}.lock").unlink(missing_ok=True)
        except (Timeout, OSError):
            continue


@dataclass
class _Request:
    """One ``open_cached`` call: the source, where its entry lives, and what keys it."""

    source: str | Location  # a local path as given, or the remote Location
    loc: Location
    root: Path
    series: Any
    scale: bool
    dtype: Any
    options: dict[str, Any]
    require_cache: bool

    @property
    def what(self) -> str:
        return _display(self.source)

    def key(self, src: Volume) -> tuple[str, str]:
        try:
            return source_key(
                src, self.source, self.root, self.series, self.scale, self.dtype, **self.options
            )
        except FileNotFoundError as exc:
            raise CacheError(
                f"{self.what}: a source file vanished while it was opened ({_vanished(exc)})"
            ) from exc

    def fallback(self, entry: Path, key: str) -> _SourceFallback | None:
        # (a relative path would name another file once the process, or a dask worker, is in
        # another working directory)
        where = self.source if isinstance(self.source, Location) else os.path.abspath(self.source)
        fb: _SourceFallback | None = _SourceFallback(
            where,
            str(entry),
            key,
            str(self.root),
            self.series,
            bool(self.scale),
            self.dtype,
            tuple(sorted(self.options.items())),
        )
        try:
            hash(fb)
        except TypeError:  # unhashable option values: a damaged block then raises instead
            fb = None
        return fb

    def changed_since(self, src: Volume, key: str) -> bool:
        """True when the source no longer has ``key`` (it changed while it was cached)."""
        opts = self.options
        return (
            _key_now(src, self.source, self.root, self.series, self.scale, self.dtype, opts) != key
        )

    def unusable(self, msg: str, exc: BaseException | None = None) -> None:
        _warn_or_raise(msg, self.require_cache, exc)


def _build_entry(
    req: _Request, src: Volume, entry: Path, key: str, chunks: Any, fb: _SourceFallback | None
) -> Volume:
    """Write the entry (the caller holds its lock) and open it; the source if it changed meanwhile."""
    group = entry.parent
    # We hold the lock: temporary directories of this key are leftovers of killed writers.
    sweep_leftovers(str(entry), writers_gone=True)
    # Those of other keys (older versions of the source) are removed once their writers are gone
    # (their locks tell): no later build has their key.
    sweep_folder(str(group))
    # The entry names the source it is keyed on (absolute, no credentials: what `lazyvol cache
    # list` shows); a volume read from it gets the source's own description back (_open_entry).
    keyed = copy.copy(src)
    keyed.source = req.loc.identity
    _discard_non_store(entry)
    write_zarr(keyed, entry, overwrite=True, codec=CACHE_CODEC)
    if req.changed_since(src, key):
        remove_entry(entry)
        _warn_user(
            f"{req.what} changed while it was being cached; the entry was discarded and the "
            "volume is read from the source",
            CacheWarning,
        )
        return src
    _evict_older_versions(group, keep=key)
    with _DAMAGED_LOCK:
        _DAMAGED.discard(str(entry))
    vol = _open_entry(entry, chunks, src, fb)
    if vol is None:
        raise CacheError(f"{entry}: cache entry just written does not verify; delete {req.root}")
    return vol


def _discard_non_store(entry: Path) -> None:
    """Remove what holds the entry's path but is no Zarr store (the caller holds the lock): a
    damaged entry whose zarr.json was lost, or a file in its place. ``write_zarr`` refuses to
    replace such a path (a user's destination may be anything), so the entry was never rebuilt:
    every open warned and read the source. The path is lazyvol's own, named by hashes."""
    if entry.is_symlink() or (entry.exists() and not entry.is_dir()):
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
    elif entry.is_dir() and not (entry / "zarr.json").is_file():
        remove_entry(entry, strict=True)


#: Times a build makes its entry's folder again when a concurrent clear removed it meanwhile.
GROUP_RETRIES = 20


def _locked_build(
    req: _Request, src: Volume, entry: Path, key: str, chunks: Any, fb: _SourceFallback | None
) -> Volume:
    """Take the entry's lock, then read it (another process built it) or build it."""
    from filelock import FileLock, Timeout

    path = str(entry.parent / f"{key}.lock")
    for attempt in range(GROUP_RETRIES + 1):
        lock = FileLock(path, timeout=LOCK_TIMEOUT)
        try:
            with _held(lock, Timeout):
                if (entry / MANIFEST).is_file():
                    vol = _open_entry(entry, chunks, src, fb)
                    if vol is not None:
                        return vol
                return _build_entry(req, src, entry, key, chunks, fb)
        except Timeout:
            req.unusable(f"waited {LOCK_TIMEOUT:.0f} s for another process caching {req.what}")
        except WriteError as exc:
            req.unusable(f"cannot write a cache entry for {req.what} in {req.root}: {exc}", exc)
        except OSError as exc:
            if isinstance(exc, LazyvolError):
                raise
            if attempt < GROUP_RETRIES and _group_made_again(entry.parent, path, exc):
                continue
            req.unusable(
                f"cache directory {req.root} is not usable ({exc.strerror or exc}) for {req.what}",
                exc,
            )
        return src
    return src  # (not reached)


@contextlib.contextmanager
def _held(lock: Any, timeout_error: type[Exception]) -> Iterator[None]:
    """Hold the entry's ``lock``, waiting for it (up to its timeout) outside the worker's thread
    slots when this runs in a ``dask.distributed`` task (:func:`~lazyvol.scheduling.slot_given_back`):
    a task waiting there in its slot starves the tasks of the build it waits for (two workers of
    one thread each, three tasks opening one source through the cache: the waiters held both
    slots, and the holder's write waited for them until the waiters' timeout)."""
    try:
        lock.acquire(timeout=0)
    except timeout_error:
        with slot_given_back():
            lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _group_made_again(group: Path, lock_file: str, exc: OSError) -> bool:
    """The entry folder ``group`` was removed under a build taking its lock (a concurrent
    ``clear`` removes an empty one, with the lock files no one holds: the lock's open finds no
    folder, or its ``mkdir`` finds one that is gone when it looks): made again, True; False for
    any other failure (a read-only or full cache stays unusable)."""
    if not isinstance(exc, FileNotFoundError | FileExistsError):
        return False
    if group.is_dir() and exc.filename not in (lock_file, str(group)):
        return False
    try:
        os.makedirs(group, exist_ok=True)
    except FileExistsError:
        pass  # (removed again meanwhile: the next try makes it)
    except OSError:
        return False
    return True


def open_cached(
    source: str | os.PathLike[str] | Location,
    *,
    cache: Any = True,
    storage_options: Any = None,
    series: Any = None,
    chunks: Any = "auto",
    scale: bool = True,
    dtype: Any = None,
    require_cache: bool = False,
    **options: Any,
) -> Volume:
    """Open ``source`` through the Zarr cache: the first open writes an entry, later ones read it.

    Parameters
    ----------
    source : str, path-like or Location
        Any source :func:`lazyvol.open` reads: a local path, or a URL (``s3://``, ``https://``, ...)
        with its ``storage_options``.
    cache : True or path
        ``True``: :func:`default_cache_dir`; a path: that cache directory.
    storage_options : mapping, optional
        fsspec options for a URL. Used to read the source; never part of a key or an entry.
    series, chunks, scale, dtype, **options
        As for :func:`lazyvol.open`; all but ``chunks`` key the entry.
    require_cache : bool
        Raise :class:`lazyvol.CacheError` instead of warning and reading uncached when the cache
        cannot be written.

    Returns
    -------
    Volume
        Read from the cache entry: same values, dtype, affine, meta and source as the uncached
        volume (``meta`` through JSON: tuples become lists; URLs without credentials). The
        entry itself records the absolute path (or URL without credentials) of ``source``: what
        :func:`list_entries` and ``lazyvol cache list`` show.
    """
    loc = Location.of(source, storage_options)
    arg: str | Location = (
        loc if loc.is_remote else os.fspath(source.url if isinstance(source, Location) else source)
    )
    src = _open_source(arg, series=series, chunks=chunks, scale=scale, dtype=dtype, **options)
    req = _Request(arg, loc, _root(cache), series, scale, dtype, options, require_cache)
    if not storable_dtype(src.dtype):  # (RGB: to_zarr refused it, naming the entry as a store)
        fix = (  # (records: one channel is a number; extended precision: a narrower float)
            "Zarr holds numbers only; one channel can be: lazyvol.Volume(vol.data['R'], vol.affine)"
            if src.dtype.names
            else f"Zarr has no {src.dtype} data type; pass dtype='{src.dtype.kind}"
            f"{src.dtype.itemsize // 2}' to cache it as such"
        )
        req.unusable(
            f"{req.what}: its {src.dtype} voxels cannot be cached ({fix}), or open it without cache="
        )
        return src
    try:
        sid, key = req.key(src)
    except UnkeyedSourceError as exc:
        req.unusable(str(exc), exc)
        return src
    entry = req.root / sid / key
    fb = req.fallback(entry, key)
    if (entry / MANIFEST).is_file():
        vol = _open_entry(entry, chunks, src, fb)
        if vol is not None:
            return vol
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        req.unusable(
            f"cache directory {req.root} is not writable ({exc.strerror or exc}) for {req.what}; "
            "set LAZYVOL_CACHE_DIR or cache=PATH to a writable folder",
            exc,
        )
        return src
    return _locked_build(req, src, entry, key, chunks, fb)
