"""Listing and clearing the lazyvol cache directory: Zarr entries (:func:`list_entries`,
:func:`clear`) and index files (DICOM scan indexes, gzip seek indexes: ``list_index_files``,
``clear_index_files``). Re-exported by :mod:`lazyvol.cache`.

Only names lazyvol made are touched: entry groups and keys are hex digests, index files carry
their kind's suffix; an entry being written by another process (its lock held) is skipped.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from ._fsutil import OLD_MARK, leftover_of, sweep_folder, sweep_leftovers
from .config import cache_dir as _config_cache_dir
from .errors import CacheError
from .zarr_meta import MANIFEST, manifest_from_json

__all__ = [
    "ENTRY_KEY",
    "INDEX_KINDS",
    "CacheEntry",
    "IndexFile",
    "clear",
    "clear_index_files",
    "default_cache_dir",
    "list_entries",
    "list_index_files",
    "own_dirs",
]

#: Names of cache directories (hex digests); anything else under a cache directory is never touched.
_SID_RE = re.compile(r"[0-9a-f]{24}")
_KEY_RE = re.compile(r"[0-9a-f]{40}")
ENTRY_KEY = _KEY_RE  # (the pattern of an entry's folder name, for cache.py)
#: The most of an entry's ``zarr.json`` read for its source's exact name (its attributes are a few
#: KiB; a header extension kept in meta can make them megabytes: then the manifest's form shows).
MAX_ATTRS_BYTES = 1 << 20


@dataclass(frozen=True)
class CacheEntry:
    """One cache entry.

    Attributes
    ----------
    key : str
        Hex digest naming the entry (sources' fingerprint + options).
    path : str
        The entry's Zarr store.
    size_bytes : int
        Bytes on disk.
    source : str
        The source the entry is keyed on: the absolute path of the file or folder opened (a URL
        without credentials for a remote source). Entries written by earlier versions record the
        volume's own ``source`` (the path as it was given).
    created : float
        POSIX time the entry was completed.
    leftover : bool
        A temporary or moved-aside store (``.<key>.lazyvol-tmp-*``, ``.<key>.lazyvol-old-*``):
        a write or removal under way, or what a killed one left. Its ``key`` is its whole name,
        ``source`` is ``""`` and ``created`` its modification time. Listed only when asked
        (:func:`list_entries`); the next build in its folder and :func:`clear` remove a killed
        writer's. A file, link or other non-folder named as an entry or entry group (a crashed
        or hostile writer's) is listed as one too, its size its own.
    """

    key: str
    path: str
    size_bytes: int
    source: str
    created: float
    leftover: bool = False


def default_cache_dir() -> Path:
    """``lazyvol.config.cache_dir() / "zarr"`` (``LAZYVOL_CACHE_DIR`` or the platform user cache)."""
    return _config_cache_dir() / "zarr"


def _root(cache: Any) -> Path:
    if cache is True or cache is None or (isinstance(cache, str) and cache == ""):
        return default_cache_dir()
    return Path(os.fspath(cache)).expanduser()


def _remove_dir(path: str, aside_name: str) -> bool:
    """Move a directory aside (atomic) and delete it, so no reader sees it half deleted; False if
    it was gone. OSError if it cannot be moved (a read-only folder, say): then it is left; or if
    what was moved aside cannot all be deleted (files another user owns, say)."""
    aside = os.path.join(os.path.dirname(path), aside_name)
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    shutil.rmtree(aside, ignore_errors=True)
    if os.path.lexists(aside):  # (files in it that cannot be deleted: it was counted as removed)
        raise OSError(errno.EACCES, f"moved aside to {aside}, but not all of it could be deleted")
    return True


def remove_entry(path: Path, *, strict: bool = False) -> bool:
    """Move an entry aside (atomic) and delete it, so no reader sees it half deleted; False when
    it was gone or (not ``strict``) could not be moved. ``strict``: OSError when it could not."""
    try:
        return _remove_dir(str(path), f".{path.name}{OLD_MARK}{os.getpid()}-{time.monotonic_ns()}")
    except OSError:
        if strict:
            raise
        return False


def _undeleted() -> OSError:
    return OSError(errno.EACCES, "a killed or removed entry's files could not all be deleted")


class CacheClearError(CacheError):
    """A clear could not remove some cache files (a read-only or another user's cache folder);
    the others were removed: ``removed`` of them (what the call returns without this error);
    ``failures`` holds each path that was not, with its OSError."""

    def __init__(self, failures: list[tuple[str, OSError]], removed: int, what: str) -> None:
        n = len(failures)
        shown = "; ".join(f"{path}: {exc.strerror or exc}" for path, exc in failures[:3])
        super().__init__(
            f"could not remove {n} of the {what} ({shown}{'; ...' if n > 3 else ''}), removed "
            f"{removed}; make the cache folder writable (a read-only mount, or another user's?) "
            "or set LAZYVOL_CACHE_DIR to one that is"
        )
        self.failures = failures
        self.removed = removed


def read_entry_manifest(path: Path) -> Any:
    """The manifest of the entry at ``path``; raises OSError or ValueError."""
    with open(path / MANIFEST, "rb") as f:
        return manifest_from_json(f.read(), MANIFEST)


def _entry_info(path: Path) -> CacheEntry | None:
    try:
        manifest = read_entry_manifest(path)
    except (OSError, ValueError):
        return None
    return CacheEntry(
        key=path.name,
        path=str(path),
        size_bytes=_size(path),
        source=_exact_source(path, str(manifest.get("source", ""))),
        created=float(manifest.get("created", 0.0)),
    )


def _exact_source(path: Path, shown: str) -> str:
    """The source of the entry at ``path`` by its exact name: the manifest holds a name that is
    not valid UTF-8 (an old archive's Latin-1 ``caf\\xe9``) as ``shown``, its bytes as ``\\xNN``
    text, while the store's ``lazyvol`` attributes keep those bytes (``$fsbytes``): the name is
    then as :func:`os.fsdecode` gives it, as an index file's source is, shown by the commands as
    they show any file name. ``shown`` when the attributes do not give that same name."""
    if "\\x" not in shown:
        return shown
    from .errors import _printable
    from .zarr_meta import from_json

    try:
        with open(path / "zarr.json", "rb") as f:
            attrs = json.loads(f.read(MAX_ATTRS_BYTES)).get("attributes", {})
        exact = from_json(attrs.get("lazyvol", {}).get("source"))
    except (OSError, ValueError, AttributeError):
        return shown
    return exact if isinstance(exact, str) and _printable(exact) == shown else shown


def _size(path: Path) -> int:
    size = 0
    for dirpath, _dirs, names in os.walk(path):
        for n in names:
            try:
                size += os.lstat(os.path.join(dirpath, n)).st_size
            except OSError:
                pass
    return size


def _leftovers(group: Path) -> list[CacheEntry]:
    """The temporary and moved-aside stores in the entry group ``group`` (:class:`CacheEntry`
    ``leftover``)."""
    out = []
    for path in own_dirs(group):
        if leftover_of(path.name) is None:
            continue
        try:
            created = path.stat().st_mtime
        except OSError:
            continue
        out.append(CacheEntry(path.name, str(path), _size(path), "", created, leftover=True))
    return out + [e for p in squatters(group, _KEY_RE) if (e := _squatter_entry(p)) is not None]


def squatters(parent: Path, pattern: re.Pattern[str]) -> list[Path]:
    """What is not a real directory in ``parent`` but is named as ``pattern`` fully matches: a
    file, link, FIFO or socket where the cache keeps an entry or group folder (a crashed or
    hostile writer's). The name is lazyvol's own (a hex digest in its cache folder): :func:`clear`
    unlinks it (never following a link) and ``list_entries(leftovers=True)`` lists it."""
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return []
    out = []
    for e in entries:
        try:
            if pattern.fullmatch(e.name) and not e.is_dir(follow_symlinks=False):
                out.append(Path(e.path))
        except OSError:
            continue
    return out


def _squatter_entry(path: Path) -> CacheEntry | None:
    try:
        st = path.lstat()
    except OSError:
        return None
    return CacheEntry(path.name, str(path), int(st.st_size), "", st.st_mtime, leftover=True)


def _unlink_squatter(path: Path, limit: float | None, failures: list[tuple[str, OSError]]) -> None:
    """Unlink a :func:`squatters` path (when ``limit``: only if last changed before it)."""
    try:
        if limit is not None and path.lstat().st_mtime > limit:
            return
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        failures.append((str(path), exc))


def own_dirs(parent: Path, pattern: re.Pattern[str] | None = None) -> list[Path]:
    """The real directories in ``parent`` (named as ``pattern`` fully matches, when given).

    A symbolic link is never one, even to a directory: the cache lists, evicts and clears only
    what it wrote, never what a link placed in its folder points at.
    """
    out: list[Path] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return out
    for e in entries:
        if pattern is not None and not pattern.fullmatch(e.name):
            continue
        try:
            if e.is_dir(follow_symlinks=False):
                out.append(Path(e.path))
        except OSError:
            continue
    return out


def list_entries(
    cache_dir: str | os.PathLike[str] | None = None, *, leftovers: bool = False
) -> list[CacheEntry]:
    """Complete entries of a cache directory (default :func:`default_cache_dir`), oldest first.

    ``leftovers``: the temporary and moved-aside stores too (writes under way, or left by killed
    ones: :attr:`CacheEntry.leftover`), which take disk space until removed.
    """
    root = _root(cache_dir)
    out: list[CacheEntry] = []
    if not root.is_dir():
        return out
    for group in own_dirs(root, _SID_RE):
        for child in own_dirs(group, _KEY_RE):
            info = _entry_info(child)
            if info is not None:
                out.append(info)
        if leftovers:
            out += _leftovers(group)
    if leftovers:
        out += [e for p in squatters(root, _SID_RE) if (e := _squatter_entry(p)) is not None]
    out.sort(key=lambda e: (e.created, e.key))
    return out


def clear(
    cache_dir: str | os.PathLike[str] | None = None, *, older_than: float | timedelta | None = None
) -> int:
    """Delete cache entries; returns how many complete entries were removed.

    Parameters
    ----------
    cache_dir : path, optional
        Default :func:`default_cache_dir`.
    older_than : seconds or timedelta, optional
        Only entries completed longer ago than this. Without it, everything goes. Leftovers of
        interrupted writes go in either case, whatever their age; entries being written by
        another process are skipped. A file (or link, FIFO, ...) named as an entry or entry
        group goes too (with ``older_than``: if last changed before), unlinked, never followed.

    Raises
    ------
    CacheError
        Some entries could not be removed (as ``rm -r``, the others are): the message names them
        and the reason (``CacheClearError``, ``removed`` says how many went).
    """
    from filelock import FileLock, Timeout

    root = _root(cache_dir)
    if not root.is_dir():
        return 0
    limit = None
    if older_than is not None:
        secs = (
            older_than.total_seconds() if isinstance(older_than, timedelta) else float(older_than)
        )
        limit = time.time() - secs
    removed = 0
    failures: list[tuple[str, OSError]] = []
    for group in own_dirs(root, _SID_RE):
        for child in own_dirs(group, _KEY_RE):
            info = _entry_info(child)
            if limit is not None and (info is None or info.created > limit):
                continue
            try:
                with FileLock(str(group / f"{child.name}.lock"), timeout=0):
                    gone = remove_entry(child, strict=True)
                    sweep_leftovers(str(child), writers_gone=True)
            except Timeout:
                continue  # (being written)
            except OSError as exc:  # (its lock file, or the entry, cannot be changed)
                failures.append((str(child), exc))
                continue
            removed += gone and info is not None
        for path in squatters(group, _KEY_RE):
            try:
                with FileLock(str(group / f"{path.name}.lock"), timeout=0):
                    _unlink_squatter(path, limit, failures)
            except Timeout:
                continue
            except OSError as exc:
                failures.append((str(path), exc))
        if limit is not None:
            sweep_folder(str(group))  # (killed writers' leftovers: a live writer's are kept)
        else:
            try:
                for stem in sorted({s for p in group.iterdir() if (s := leftover_of(p.name))}):
                    try:
                        with FileLock(str(group / f"{stem}.lock"), timeout=0):
                            sweep_leftovers(str(group / stem), writers_gone=True)
                    except Timeout:
                        continue
                    said = {os.path.basename(path) for path, _ in failures}  # (its entry's error)
                    left = [p for p in group.iterdir() if leftover_of(p.name) == stem]
                    failures += [(str(p), _undeleted()) for p in left if stem not in said]
                for lk in group.glob("*.lock"):
                    if not (group / lk.name[: -len(".lock")]).exists():
                        try:
                            with FileLock(str(lk), timeout=0):
                                lk.unlink(missing_ok=True)
                        except (Timeout, OSError):
                            pass
                group.rmdir()
            except OSError:
                pass
    for path in squatters(root, _SID_RE):
        _unlink_squatter(path, limit, failures)
    if failures:
        raise CacheClearError(failures, removed, "cache entries")
    return removed


# -- index files (DICOM scan indexes, gzip seek indexes) ---------------------------------------------

#: Sub-directories of the cache directory holding index files, by kind, and their file suffixes.
INDEX_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "scan": ("dicom-scan", (".json",)),
    "seek": ("gzindex", (".gzidx",)),
}


@dataclass(frozen=True)
class IndexFile:
    """One index file in the cache directory (see ``list_index_files``).

    Attributes
    ----------
    kind : str
        ``"scan"`` (a DICOM folder's scan index or its saved grouping) or ``"seek"`` (a
        ``.nii.gz`` seek index).
    key : str
        File name without its suffix; for a temporary file (a save under way, or a killed save's
        leftover: ``.<name>.lazyvol-tmp-*``), its whole name.
    path : str
    size_bytes : int
    source : str
        The folder a scan index describes (``""`` when not recorded, as for seek indexes).
    created : float
        POSIX modification time of the file.
    """

    kind: str
    key: str
    path: str
    size_bytes: int
    source: str
    created: float


def _index_source(path: Path) -> str:
    """The ``root`` a scan index records, read from the start of the file only."""
    try:
        with open(path, "rb") as f:
            head = f.read(65536).decode("utf-8", "replace")
    except OSError:
        return ""
    m = re.search(r'"root"\s*:\s*("(?:[^"\\]|\\.)*")', head)
    if m is None:
        return ""
    try:
        return str(json.loads(m.group(1)))
    except ValueError:
        return ""


def list_index_files(cache_dir: str | os.PathLike[str] | None = None) -> list[IndexFile]:
    """Scan and seek index files under ``cache_dir`` (default: ``LAZYVOL_CACHE_DIR`` or the user
    cache directory), oldest first. Zarr entries are listed by :func:`list_entries`."""
    top = Path(os.fspath(cache_dir)) if cache_dir is not None else _config_cache_dir()
    out: list[IndexFile] = []
    for kind, (sub, suffixes) in INDEX_KINDS.items():
        folder = top / sub
        if not folder.is_dir():
            continue
        sources: dict[str, str] = {}
        for f in sorted(folder.iterdir()):
            temporary = leftover_of(f.name) is not None
            if not (temporary or (f.name.endswith(suffixes) and not f.name.startswith("."))):
                continue
            if not f.is_file() or f.is_symlink():
                continue
            try:
                st = f.stat()
            except OSError:
                continue
            stem = f.name.split(".", 1)[0]
            if kind == "scan" and not temporary and stem not in sources:
                sources[stem] = _index_source(folder / f"{stem}.json")
            out.append(
                IndexFile(
                    kind=kind,
                    key=f.name if temporary else f.name[: -len(_suffix(f.name, suffixes))],
                    path=str(f),
                    size_bytes=int(st.st_size),
                    source=sources.get(stem, ""),
                    created=float(st.st_mtime),
                )
            )
    out.sort(key=lambda e: (e.created, e.kind, e.key))
    return out


def _suffix(name: str, suffixes: tuple[str, ...]) -> str:
    return next(s for s in suffixes if name.endswith(s))


def clear_index_files(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    kind: str | None = None,
    older_than: float | timedelta | None = None,
) -> int:
    """Delete scan and/or seek index files; returns how many were removed.

    Parameters
    ----------
    cache_dir : path, optional
        The lazyvol cache directory (default ``LAZYVOL_CACHE_DIR`` or the user cache directory).
    kind : {"scan", "seek"}, optional
        Only this kind (default both). The next open rebuilds what it needs.
    older_than : seconds or timedelta, optional
        Only files last written longer ago than this.

    Temporary files of saves killed part-way (``.<name>.lazyvol-tmp-*``) go too, whatever their
    age; those of saves under way (locked by their writer) are left.

    Raises
    ------
    CacheError
        Some files could not be removed (the others are): as :func:`clear`.
    """
    if kind is not None and kind not in INDEX_KINDS:
        raise ValueError(f"kind must be one of {sorted(INDEX_KINDS)}, got {kind!r}")
    limit = None
    if older_than is not None:
        secs = (
            older_than.total_seconds() if isinstance(older_than, timedelta) else float(older_than)
        )
        limit = time.time() - secs
    top = Path(os.fspath(cache_dir)) if cache_dir is not None else _config_cache_dir()
    removed = 0
    failures: list[tuple[str, OSError]] = []
    for name, (sub, _suffixes) in INDEX_KINDS.items():
        if kind is None or kind == name:
            removed += sweep_folder(str(top / sub))
    for entry in list_index_files(cache_dir):
        if (
            (kind is not None and entry.kind != kind)
            or (limit is not None and entry.created > limit)
            or leftover_of(os.path.basename(entry.path)) is not None  # a live save's (swept)
        ):
            continue
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            failures.append((entry.path, exc))
            continue
        removed += 1
    if failures:
        raise CacheClearError(failures, removed, "index files")
    return removed
