"""Find DICOM files under a path and read their headers (in parallel), with a persisted index.

Each file is parsed up to its Pixel Data only (see :mod:`lazyvol.dicom.header`). The results are
kept in a scan index in :func:`lazyvol.config.cache_dir` keyed by each file's path, size and
modification time, so reopening an unchanged folder re-parses nothing; a changed, added or removed
file is noticed by its ``stat``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import cache_dir, max_scan_files
from ..errors import ResourceLimitError
from ..sources import stat_regular
from . import mosaic
from .header import read_header
from .records import RECORD_FIELDS, FrameRecord

__all__ = ["FileScan", "find_files", "scan_files"]

INDEX_VERSION = 4  # 3: FrameRecord gained 4D/diffusion/vendor fields; 4: inode/ctime_ns too
#: Below this many files to parse, a process pool costs more than it saves. With the minimal header
#: walker (~12,000 headers/s in one process on this 2-core machine), two forked workers measured
#: no faster than one process even at 10,000 files (result pickling and the parent's merge are
#: serial): the pool is kept for very large folders and for ``workers=`` asked explicitly.
PROCESS_THRESHOLD = 20000
#: One listed file: (path, size, mtime_ns, inode, ctime_ns). ctime cannot be set back by a writer,
#: so a header rewritten with the same size and its old mtime restored is still noticed.
Listed = tuple[str, int, int, int, int]

#: Files per task sent to a worker process.
BATCH = 256


@dataclass
class FileScan:
    """Result of scanning files: image records, and skipped files with reasons."""

    records: list[FrameRecord] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: SeriesInstanceUIDs of files that looked like part of an image series but were skipped.
    incomplete: dict[str, list[str]] = field(default_factory=dict)
    parsed: int = 0
    from_index: int = 0


def find_files(
    root: str, *, follow_symlinks: bool = False
) -> tuple[list[Listed], list[tuple[str, str]]]:
    """Regular files under ``root`` (recursively) as ``(path, size, mtime_ns, inode, ctime_ns)``.

    Sorted by path. Symbolic links are not followed unless asked; directory loops are detected
    either way. Returns the files and ``(path, reason)`` for entries passed over.

    Raises
    ------
    ResourceLimitError
        More files than :func:`lazyvol.config.max_scan_files` (checked while listing, before any
        header is read).
    """
    limit = max_scan_files()
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        # A single file; a FIFO, socket or device is refused here (reading it would block).
        return [_listed(root, stat_regular(root, what="DICOM file"))], []
    files: list[Listed] = []
    skipped: list[tuple[str, str]] = []
    seen: set[tuple[int, int]] = set()
    st = os.stat(root)
    seen.add((st.st_dev, st.st_ino))
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            skipped.append((folder, f"cannot list folder: {exc}"))
            continue
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False):  # the common case: a regular file
                    st = entry.stat(follow_symlinks=False)
                    files.append(
                        (entry.path, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
                    )
                    if len(files) > limit:
                        raise ResourceLimitError(_too_many(root, limit, len(files)))
                    continue
                is_link = entry.is_symlink()
                if is_link and not follow_symlinks:
                    skipped.append((entry.path, "symbolic link (pass follow_symlinks=True)"))
                    continue
                if entry.is_dir(follow_symlinks=follow_symlinks):
                    est = entry.stat(follow_symlinks=follow_symlinks)
                    key = (est.st_dev, est.st_ino)
                    if key in seen:
                        skipped.append((entry.path, "directory loop (already visited)"))
                        continue
                    seen.add(key)
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=follow_symlinks):
                    files.append(_listed(entry.path, entry.stat(follow_symlinks=follow_symlinks)))
                    if len(files) > limit:
                        raise ResourceLimitError(_too_many(root, limit, len(files)))
            except OSError as exc:
                skipped.append((entry.path, f"cannot stat: {exc}"))
    files.sort()
    return files, skipped


def _too_many(root: str, limit: int, n: int) -> str:
    return (
        f"{root}: more than {limit} files under this folder (listing stopped at {n}); point "
        "lazyvol at the series folder, or raise the limit with LAZYVOL_MAX_SCAN_FILES (or dask "
        "config lazyvol.max-scan-files)"
    )


def _listed(path: str, st: os.stat_result) -> Listed:
    return (path, int(st.st_size), int(st.st_mtime_ns), int(st.st_ino), int(st.st_ctime_ns))


def _parse_batch(paths: list[str]) -> list[Any]:
    """Worker: header records (as lists) or skip tuples, one per path (module level: picklable)."""
    out: list[Any] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in paths:
            res = read_header(p)
            if isinstance(res, FrameRecord):
                out.append(res.to_list())
            elif isinstance(res, list):
                compact = mosaic.to_index(res)  # a mosaic file: tile 0 stands for all its tiles
                out.append(
                    {"mosaic": compact}
                    if compact is not None
                    else {"frames": [r.to_list() for r in res]}
                )
            else:
                out.append(list(res))
    return out


def _parse_all(
    paths: list[str],
    *,
    workers: int | None,
    progress_cb: Callable[[int], None] | None,
) -> list[Any]:
    """Parse headers serially or in a process pool (pydicom parsing holds the GIL)."""
    if workers is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        workers = min(cpus or 1, 8) if len(paths) >= PROCESS_THRESHOLD else 1
    batches = [paths[i : i + BATCH] for i in range(0, len(paths), BATCH)]
    results: list[Any] = []
    if workers <= 1 or len(batches) <= 1:
        for b in batches:
            results.extend(_parse_batch(b))
            if progress_cb:
                progress_cb(len(b))
        return results
    import multiprocessing as mp
    from concurrent.futures.process import BrokenProcessPool

    if "fork" not in mp.get_all_start_methods():
        # spawn/forkserver re-import the caller's __main__ (breaks scripts without a main guard)
        # and pay an interpreter start per worker: parse in-process instead.
        return _parse_all(paths, workers=1, progress_cb=progress_cb)
    done = 0
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
            for b, res in zip(batches, pool.map(_parse_batch, batches)):
                results.extend(res)
                done += 1
                if progress_cb:
                    progress_cb(len(b))
    except (BrokenProcessPool, OSError) as exc:
        warnings.warn(
            f"lazyvol: parallel DICOM header scan failed ({exc}); continuing in-process",
            RuntimeWarning,
            stacklevel=3,
        )
        rest = [p for b in batches[done:] for p in b]
        results.extend(_parse_all(rest, workers=1, progress_cb=progress_cb))
    return results


# -- the persisted index --------------------------------------------------------------------------


def index_path(root: str) -> Path:
    """File of the scan index for folder ``root`` (named by a hash of its absolute path)."""
    digest = hashlib.sha256(os.path.abspath(root).encode("utf-8", "surrogateescape")).hexdigest()
    return cache_dir() / "dicom-scan" / f"{digest[:32]}.json"


def _load_index(root: str) -> dict[str, list[Any]]:
    path = index_path(root)
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}
    if (
        not isinstance(doc, dict)
        or doc.get("version") != INDEX_VERSION
        or doc.get("root") != os.path.abspath(root)
        or doc.get("fields") != list(RECORD_FIELDS)
        or not isinstance(doc.get("entries"), dict)
    ):
        return {}
    return doc["entries"]


def _save_index(root: str, entries: dict[str, list[Any]]) -> None:
    path = index_path(root)
    doc = {
        "version": INDEX_VERSION,
        "root": os.path.abspath(root),
        "fields": list(RECORD_FIELDS),
        "entries": entries,
    }
    try:
        _write_json_atomic(path, doc, ".scan-")
    except OSError as exc:
        warnings.warn(
            f"lazyvol: cannot write the DICOM scan index {path} ({exc}); scanning works but the "
            "next open of this folder will parse every header again (set LAZYVOL_CACHE_DIR to a "
            "writable folder)",
            RuntimeWarning,
            stacklevel=4,
        )


def _write_json_atomic(path: Path, doc: dict[str, Any], prefix: str) -> None:
    """Write ``doc`` as ``path`` through a temporary file and a rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(doc, separators=(",", ":")))  # C encoder (dump is pure Python)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def scan_files(
    path: str,
    *,
    progress: bool = False,
    workers: int | None = None,
    use_index: bool = True,
    follow_symlinks: bool = False,
    listing: tuple[list[Listed], list[tuple[str, str]]] | None = None,
) -> FileScan:
    """Header records of every DICOM image file under ``path`` plus the skipped files.

    Parameters
    ----------
    path : str
        A file or a folder (searched recursively).
    progress : bool
        Show a tqdm progress bar while parsing headers.
    workers : int, optional
        Processes parsing headers; default: all cores for large folders, in-process otherwise.
    use_index : bool
        Read and update the persisted scan index (folders only).
    follow_symlinks : bool
        Follow symbolic links (loops are detected).
    """
    root = os.path.abspath(path)
    files, skipped = listing or find_files(root, follow_symlinks=follow_symlinks)
    is_folder = os.path.isdir(root)
    cached = _load_index(root) if (use_index and is_folder) else {}
    out = FileScan(skipped=list(skipped))
    results: dict[str, list[Any]] = {}
    todo: list[str] = []
    for p, size, mtime, ino, ctime in files:
        rel = p[len(root) + 1 :] if is_folder else p
        entry = cached.get(rel)
        if entry is not None and entry[:4] == [size, mtime, ino, ctime]:
            results[p] = entry[4]
        else:
            todo.append(p)
    out.from_index = len(results)
    out.parsed = len(todo)

    bar: Any = None
    cb = None
    if progress and todo:
        from ..progress import bar as _bar

        bar = _bar(len(todo), desc="lazyvol scan (DICOM headers)", unit="files")
        cb = bar.update
    try:
        parsed = _parse_all(todo, workers=workers, progress_cb=cb)
    finally:
        if bar is not None:
            bar.close()
    for p, res in zip(todo, parsed):
        results[p] = res

    entries: dict[str, list[Any]] = {}
    nfields = len(RECORD_FIELDS)
    for p, size, mtime, ino, ctime in files:
        res = results[p]
        if is_folder:
            entries[p[len(root) + 1 :]] = [size, mtime, ino, ctime, res]
        if isinstance(res, dict):
            if "mosaic" in res:
                for rec in mosaic.from_index(res["mosaic"]):
                    rec.path = p
                    out.records.append(rec)
                continue
            for values in res["frames"]:
                rec = FrameRecord.from_list(values)
                rec.path = p
                out.records.append(rec)
        elif len(res) == nfields:
            rec = FrameRecord.from_list(res)
            rec.path = p
            out.records.append(rec)
        else:
            reason, uid = res
            out.skipped.append((p, reason))
            if uid:
                out.incomplete.setdefault(uid, []).append(p)
    if use_index and is_folder and (todo or len(cached) != len(entries)):
        _save_index(root, entries)
    return out


def listing_digest(files: list[Listed], **options: Any) -> str:
    """Token of a folder listing (every path, size, mtime, inode, ctime) plus the scan options."""
    h = hashlib.sha256()
    h.update(json.dumps(options, sort_keys=True, default=str).encode())
    h.update(
        "\n".join(f"{p}\0{s}\0{m}\0{i}\0{c}" for p, s, m, i, c in files).encode(
            "utf-8", "surrogateescape"
        )
    )
    return h.hexdigest()


def load_report(root: str, digest: str) -> dict[str, Any] | None:
    """The grouped scan result saved for exactly this listing, or None."""
    path = index_path(root).with_suffix(".report.json")
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    if (
        not isinstance(doc, dict)
        or doc.get("version") != INDEX_VERSION
        or doc.get("digest") != digest
    ):
        return None
    return doc


def save_report(root: str, digest: str, payload: dict[str, Any]) -> None:
    """Save the grouped scan result of a listing (atomic replace; warns when the cache is unusable)."""
    path = index_path(root).with_suffix(".report.json")
    doc = {"version": INDEX_VERSION, "digest": digest, **payload}
    try:
        _write_json_atomic(path, doc, ".report-")
    except OSError:
        pass  # _save_index already warned about this cache directory


def iter_skipped(scan: FileScan) -> Iterable[tuple[str, str]]:
    """Skipped files in path order."""
    return sorted(scan.skipped)
