"""Read the headers of many DICOM files: local files in-process or in a process pool, remote
objects with bounded ranged reads, many in flight at once.

Each file's result is in its scan-index form (JSON-friendly, see :func:`encode`): a record as a
list of field values, a mosaic file as ``{"mosaic": ...}``, an enhanced multi-frame file as
``{"frames": [...]}``, a skipped file as ``[reason, series_uid]``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._forkhalf import run_halves
from .._io import StorageOptions, read_ranges
from .._warn import warn as _warn_user
from ..config import usable_cores
from ..sources import SourceStamp
from . import mosaic
from .header import read_header, read_object_header
from .header_record import HeaderResult, HeaderSkip
from .records import FrameRecord
from .source import REMOTE_WINDOW, RemoteFetch

__all__ = ["PROCESS_THRESHOLD", "encode", "parse_local", "parse_remote"]

#: Below this many files to parse, a process pool costs more than it saves. With the minimal header
#: walker (~12,000 headers/s in one process on this 2-core machine), two forked workers measured
#: no faster than one process even at 10,000 files (result pickling and the parent's merge are
#: serial, and the parent only waits): the pool is kept for very large folders and for
#: ``workers=`` asked explicitly. Below it, the parent parses half of the files itself while one
#: forked child parses the other half (:func:`_parse_shared`).
PROCESS_THRESHOLD = 20000
#: Files per task sent to a worker process.
BATCH = 256
#: A conservative time to read and parse one header in one process, for deciding whether a forked
#: child may take half of a scan (measured on the 2-core VM: ~80 us for the benchmark's 27-element
#: headers, ~230 us for headers shaped like ../shared/dicom-real's, stat/open/read included).
HEADER_SECONDS = 40e-6
#: Objects whose first bytes are fetched in one concurrent batch (``fs.cat_ranges``).
REMOTE_BATCH = 64
#: Threads walking remote headers (a long header or pydicom's reader waits on more requests).
REMOTE_THREADS = 8


def encode(res: HeaderResult) -> Any:
    """The scan-index form of one file's header result."""
    if isinstance(res, FrameRecord):
        return res.to_list()
    if isinstance(res, HeaderSkip):
        return [res.reason, res.series_uid] + (["unsupported"] if res.unsupported else [])
    compact = mosaic.to_index(res)  # a mosaic file: tile 0 stands for all its tiles
    return {"mosaic": compact} if compact is not None else {"frames": [r.to_list() for r in res]}


def _parse_batch(paths: list[str], walker: bool = True) -> list[Any]:
    """Worker: encoded header results, one per path (module level: picklable)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [encode(read_header(p, walker=walker)) for p in paths]


def _parse_serial(
    paths: list[str], progress_cb: Callable[[int], None] | None, walker: bool
) -> list[Any]:
    results: list[Any] = []
    for i in range(0, len(paths), BATCH):
        b = paths[i : i + BATCH]
        results.extend(_parse_batch(b, walker))
        if progress_cb:
            progress_cb(len(b))
    return results


def _parse_shared(
    paths: list[str], progress_cb: Callable[[int], None] | None, walker: bool
) -> list[Any]:
    """Parse in this process, half of the files in a forked child when that pays
    (:func:`lazyvol._forkhalf.run_halves`; the results are the same either way)."""
    parent = os.getpid()
    told = [0]

    def tell(n: int) -> None:
        told[0] += n
        if progress_cb:
            progress_cb(n)

    def part(ps: list[str]) -> list[Any]:
        return _parse_serial(ps, tell if os.getpid() == parent else None, walker)

    results = run_halves(part, paths, item_seconds=HEADER_SECONDS)
    if len(paths) > told[0]:
        tell(len(paths) - told[0])  # the child's half
    return results


def parse_local(
    paths: list[str],
    *,
    workers: int | None,
    progress_cb: Callable[[int], None] | None,
    walker: bool = True,
) -> list[Any]:
    """Parse local headers serially or in a process pool (pydicom parsing holds the GIL)."""
    if workers is None:
        if len(paths) < PROCESS_THRESHOLD:
            return _parse_shared(paths, progress_cb, walker)
        workers = min(usable_cores(), 8)
    if workers <= 1 or len(paths) <= BATCH:
        return _parse_serial(paths, progress_cb, walker)
    batches = [paths[i : i + BATCH] for i in range(0, len(paths), BATCH)]
    results: list[Any] = []
    import multiprocessing as mp  # here: a scan in one process needs neither
    from concurrent.futures.process import BrokenProcessPool, ProcessPoolExecutor

    if "fork" not in mp.get_all_start_methods() or mp.current_process().daemon:
        # spawn/forkserver re-import the caller's __main__ (breaks scripts without a main guard)
        # and pay an interpreter start per worker; a daemonic process (a multiprocessing.Pool or
        # dask.distributed worker) may not start children: parse in-process instead.
        return parse_local(paths, workers=1, progress_cb=progress_cb, walker=walker)
    done = 0
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
            for b, res in zip(batches, pool.map(_parse_batch, batches, [walker] * len(batches))):
                results.extend(res)
                done += 1
                if progress_cb:
                    progress_cb(len(b))
    except (BrokenProcessPool, OSError, AssertionError) as exc:
        # (AssertionError: multiprocessing refusing to start a child, "daemonic processes are
        # not allowed to have children", where a process is daemonic without saying so here)
        _warn_user(
            f"lazyvol: parallel DICOM header scan failed ({exc}); continuing in-process",
            RuntimeWarning,
        )
        rest = [p for b in batches[done:] for p in b]
        results.extend(parse_local(rest, workers=1, progress_cb=progress_cb, walker=walker))
    return results


def parse_remote(
    objects: Sequence[tuple[str, SourceStamp]],
    options: StorageOptions,
    *,
    progress_cb: Callable[[int], None] | None = None,
    walker: bool = True,
) -> list[Any]:
    """Encoded header results of remote objects ``[(url, stamp), ...]``, in order.

    The first :data:`~lazyvol.dicom.source.REMOTE_WINDOW` bytes of :data:`REMOTE_BATCH` objects
    at a time come in one concurrent batch (``fs.cat_ranges``); headers longer than that grow
    their window with further ranged reads of header bytes only (never of Pixel Data). Every read
    is checked against the object's stamp (:func:`lazyvol._io.read_ranges`), so no record is
    made, or saved in the scan index, from bytes of another version of the object.
    """
    fetch = RemoteFetch(options, dict(objects))
    results: list[Any] = []

    def one(item: tuple[tuple[str, SourceStamp], bytes]) -> Any:
        (url, st), first = item
        return encode(read_object_header(st, url, first, fetch, walker=walker))

    # (warning filters are process-wide: set once here, not in the threads)
    with warnings.catch_warnings(), ThreadPoolExecutor(REMOTE_THREADS) as pool:
        warnings.simplefilter("ignore")
        for lo in range(0, len(objects), REMOTE_BATCH):
            batch = objects[lo : lo + REMOTE_BATCH]
            firsts = read_ranges(
                (fetch.location(url), 0, min(REMOTE_WINDOW, int(st.size)), st) for url, st in batch
            )
            results.extend(pool.map(one, zip(batch, firsts, strict=True)))
            if progress_cb:
                progress_cb(len(batch))
    return results
