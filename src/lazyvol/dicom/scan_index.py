"""Header records of every file of a DICOM source, with a persisted scan index.

Each file is parsed up to its Pixel Data only (see :mod:`lazyvol.dicom.header`). The results are
kept in a scan index in :func:`lazyvol.config.cache_dir` keyed by each file's path, size and
modification time (plus inode and ctime locally, the ETag for objects), so reopening an unchanged
folder or prefix re-parses nothing; a changed, added or removed file is noticed by its ``stat`` or
its listing entry. The index of a remote prefix is named by the prefix's identity and redacted
storage options and never holds a credential (a URL that carries one is not indexed).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Any

from .._forkhalf import reap_children
from .._io import Location, names_content
from .._warn import warn as _warn_user
from ..sources import SourceStamp
from . import mosaic
from .header_scan import parse_local, parse_remote
from .listing import Listed, list_source
from .records import RECORD_FIELDS, FrameRecord
from .saved_scan import (
    INDEX_VERSION,
    index_path,
    indexable,
    read_json_checked,
    root_name,
    write_json_atomic,
)

__all__ = ["FileScan", "scan_files"]


@dataclass
class FileScan:
    """Result of scanning files: image records, and skipped files with reasons."""

    records: list[FrameRecord] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: SeriesInstanceUIDs of files that looked like part of an image series but were skipped.
    incomplete: dict[str, list[str]] = field(default_factory=dict)
    #: Skipped files that are valid DICOM of a kind lazyvol does not read (see HeaderSkip).
    unsupported: set[str] = field(default_factory=set)
    parsed: int = 0
    from_index: int = 0


# -- the persisted index --------------------------------------------------------------------------


def _load_index(root: str | Location) -> dict[str, list[Any]]:
    doc = read_json_checked(index_path(root))
    if (
        not isinstance(doc, dict)
        or doc.get("version") != INDEX_VERSION
        or doc.get("root") != root_name(root)
        or doc.get("fields") != list(RECORD_FIELDS)
        or not isinstance(doc.get("entries"), dict)
    ):
        return {}
    return doc["entries"]


def _save_index(root: str | Location, entries: dict[str, list[Any]]) -> None:
    path = index_path(root)
    doc = {
        "version": INDEX_VERSION,
        "root": root_name(root),
        "fields": list(RECORD_FIELDS),
        "entries": entries,
    }
    try:
        write_json_atomic(path, doc)
    except OSError as exc:
        _warn_user(
            f"lazyvol: cannot write the DICOM scan index {path} ({exc}); scanning works but the "
            "next open of this folder will parse every header again (set LAZYVOL_CACHE_DIR to a "
            "writable folder)",
            RuntimeWarning,
        )


# -- scanning -------------------------------------------------------------------------------------


def _decode(out: FileScan, path: str, res: Any) -> None:
    """Add one file's encoded header result (see :func:`header_scan.encode`) to ``out``."""
    if isinstance(res, dict):
        if "mosaic" in res:
            for rec in mosaic.from_index(res["mosaic"]):
                rec.path = path
                out.records.append(rec)
            return
        for values in res["frames"]:
            rec = FrameRecord.from_list(values)
            rec.path = path
            out.records.append(rec)
    elif len(res) == len(RECORD_FIELDS):
        rec = FrameRecord.from_list(res)
        rec.path = path
        out.records.append(rec)
    else:
        reason, uid, *kind = res
        if not isinstance(reason, str) or not isinstance(uid, str):
            raise TypeError(f"malformed skip entry {res!r}")
        out.skipped.append((path, reason))
        if kind == ["unsupported"]:
            out.unsupported.add(path)
        if uid:
            out.incomplete.setdefault(uid, []).append(path)


def _parse(
    todo: list[Listed],
    root: str | Location,
    *,
    progress: bool,
    workers: int | None,
    walker: bool,
) -> list[Any]:
    bar: Any = None
    cb = None
    if progress and todo:
        from ..progress import bar as _bar

        bar = _bar(len(todo), desc="lazyvol scan (DICOM headers)", unit="files")
        cb = bar.update
    try:
        if isinstance(root, Location) and root.is_remote:
            objects = [(f[0], SourceStamp(f[0], f[1], f[2], etag=f[5])) for f in todo]
            return parse_remote(objects, root.options, progress_cb=cb, walker=walker)
        return parse_local([f[0] for f in todo], workers=workers, progress_cb=cb, walker=walker)
    finally:
        if bar is not None:
            bar.close()


def scan_files(
    path: str | Location,
    *,
    progress: bool = False,
    workers: int | None = None,
    use_index: bool = True,
    follow_symlinks: bool = False,
    listing: tuple[list[Listed], list[tuple[str, str]]] | None = None,
    walker: bool = True,
) -> FileScan:
    """Header records of every DICOM image file under ``path`` plus the skipped files.

    Parameters
    ----------
    path : str or Location
        A local file or folder (searched recursively), or a remote prefix or object.
    progress : bool
        Show a tqdm progress bar while parsing headers.
    workers : int, optional
        Processes parsing local headers; default: all cores for large folders, otherwise this
        process, with half of the files in one forked child where that pays
        (:mod:`lazyvol._forkhalf`; ``LAZYVOL_FORK=0`` turns it off).
    use_index : bool
        Read and update the persisted scan index (folders and prefixes only).
    follow_symlinks : bool
        Follow symbolic links (loops are detected).
    listing : optional
        The listing already made (``find_files``/``list_prefix`` result and skipped entries).
    walker : bool
        Use the minimal element walker (``False``: pydicom's readers only; same records).
    """
    remote = isinstance(path, Location) and path.is_remote
    root: str | Location = path if remote else os.path.abspath(str(getattr(path, "url", path)))
    if listing is None:
        listing = list_source(root, follow_symlinks)
    files, skipped = listing
    is_folder = remote or os.path.isdir(str(root))
    prefix = (root.url.rstrip("/") if isinstance(root, Location) else str(root)) + "/"
    indexed = use_index and is_folder and indexable(root)
    cached = _load_index(root) if indexed else {}
    out = FileScan(skipped=list(skipped))

    def rel(p: str) -> str:
        return p[len(prefix) :] if is_folder and p.startswith(prefix) else p

    results: dict[str, Any] = {}
    todo: list[Listed] = []
    for f in files:
        entry = cached.get(rel(f[0])) if not remote or names_content(f[5], f[1], f[2]) else None
        if isinstance(entry, list) and len(entry) == 6 and entry[:5] == list(f[1:]):
            results[f[0]] = entry[5]
        else:
            todo.append(f)
    out.from_index = len(results)
    out.parsed = len(todo)
    try:
        parsed = _parse(todo, root, progress=progress, workers=workers, walker=walker)
        for f, res in zip(todo, parsed, strict=True):
            results[f[0]] = res
        entries: dict[str, list[Any]] = {}
        fresh = {f[0] for f in todo}
        for f in files:
            res = results[f[0]]
            if is_folder:
                entries[rel(f[0])] = [*f[1:], res]
            try:
                _decode(out, f[0], res)
            except (TypeError, KeyError, ValueError, AttributeError, IndexError, struct.error):
                if f[0] in fresh or not indexed:
                    raise  # this scan's own result: not a damaged index
                # A saved entry that passed its checksum but does not decode (edited and
                # re-hashed, or written by another build of this index version): rescan all.
                damaged = index_path(root)
                _warn_user(
                    f"lazyvol: the saved DICOM scan {damaged} holds a malformed entry "
                    f"({rel(f[0])}); the folder is scanned again",
                    RuntimeWarning,
                )
                try:
                    damaged.unlink(missing_ok=True)  # the rescan saves a new one
                    renew = True
                except OSError:  # a read-only cache: scan without it (never the same entry again)
                    renew = False
                return scan_files(
                    path,
                    progress=progress,
                    workers=workers,
                    use_index=renew,
                    follow_symlinks=follow_symlinks,
                    listing=listing,
                    walker=walker,
                )
        if indexed and (todo or len(cached) != len(entries)):
            _save_index(root, entries)
    finally:
        reap_children()  # a child that parsed half of the headers: exited by now, not waited for
    return out
