"""Block buffers for inflated (or fetched) image blocks: anonymous memory maps, reused.

A streaming pass (a mean over a ``.nii.gz``) fills one block after another, each a few to tens of
MiB, and drops each block once the reduction has consumed it. Two ways to get that memory are
both bad:

- ``malloc`` (``np.empty``): once glibc's dynamic mmap threshold has grown to the block size, freed
  blocks stay in its per-thread arenas and the pass's peak memory creeps up with the file's length;
- a fresh ``mmap`` per block: flat, but every page of every block is faulted in and zeroed anew by
  the kernel (measured here: a first-pass ``.nii.gz`` read spent 0.3-0.7 s of 1.3 s on it for
  512 MiB of data).

So each block gets its own anonymous map, and a dropped block's map goes back to a small pool,
bounded in bytes (:data:`POOL_BYTES`, maps of the size most recently dropped kept first), from which
the next block of the same size is served with its pages already in place: a streaming pass's
memory stays flat and its pages are touched once. The pool holds at most :data:`POOL_BYTES` between
passes; :func:`clear` (called by :func:`lazyvol.gzaccess.clear_handles`) gives it back.
"""

from __future__ import annotations

import mmap
import os
import threading
import weakref
from collections import deque

import numpy as np

__all__ = ["POOL_BYTES", "block_array", "clear", "pooled_bytes"]

#: Blocks smaller than this come from ``np.empty`` (malloc's small-block reuse is fine there).
MIN_POOLED_BYTES = 2**20
#: Most bytes of dropped blocks kept for reuse (beyond: unmapped at once).
POOL_BYTES = 128 * 2**20

_lock = threading.Lock()
#: Maps kept for reuse by size, oldest first.
_free: dict[int, list[mmap.mmap]] = {}
_kept = 0
#: Maps handed back by finalizers, not yet sorted into ``_free``. A finalizer may run inside the
#: garbage collector at any allocation, even while this thread holds ``_lock``: it only appends
#: here (atomic) and sorts the queue when the lock is free.
_returned: deque[tuple[int, mmap.mmap]] = deque()


def pooled_bytes() -> int:
    """Bytes of dropped block maps kept for reuse now."""
    with _lock:
        _sort_returned()
        return _kept


def _sort_returned() -> None:
    """Move handed-back maps into the pool (``_lock`` held). Beyond :data:`POOL_BYTES`, maps of
    other sizes are dropped first (oldest first), then the newcomer itself."""
    global _kept
    while True:
        try:
            nbytes, buf = _returned.popleft()
        except IndexError:
            return
        for size in [s for s in _free if s != nbytes]:
            while _free[size] and _kept + nbytes > POOL_BYTES:
                _free[size].pop(0)
                _kept -= size
            if not _free[size]:
                del _free[size]
        if _kept + nbytes <= POOL_BYTES:
            _free.setdefault(nbytes, []).append(buf)
            _kept += nbytes


def _take(nbytes: int) -> mmap.mmap:
    global _kept
    with _lock:
        _sort_returned()
        maps = _free.get(nbytes)
        if maps:
            _kept -= nbytes
            buf = maps.pop()
            if not maps:
                del _free[nbytes]
            return buf
    return _new_map(nbytes)


#: Private (copy-on-write) anonymous maps: Python's default for ``mmap.mmap(-1, n)`` is a *shared*
#: mapping, whose pages a forked child would write through to its parent's blocks. Populated at
#: once (``MAP_POPULATE``, Linux): every block is written whole, and the kernel allocating its pages
#: in one call costs about half of taking a page fault for each (0.8 ms against 1.75 ms for 8 MiB
#: measured on the project's 2-core VM).
_FLAGS = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)


def _new_map(nbytes: int) -> mmap.mmap:
    if _FLAGS:
        return mmap.mmap(-1, nbytes, flags=_FLAGS | _POPULATE)
    return mmap.mmap(-1, nbytes)  # pragma: no cover - not POSIX


def _give(buf: mmap.mmap, nbytes: int) -> None:
    """Finalizer of a block array: hand its map back (kept for the next block of its size, or
    dropped, i.e. unmapped once the last reference goes). Never blocks: see ``_returned``."""
    _returned.append((nbytes, buf))
    if _lock.acquire(blocking=False):
        try:
            _sort_returned()
        finally:
            _lock.release()


def clear() -> None:
    """Drop every kept map (their memory goes back to the system)."""
    global _kept
    with _lock:
        _returned.clear()
        _free.clear()
        _kept = 0


def _after_fork_in_child() -> None:
    """A forked child starts with an empty pool and a fresh lock (the parent's may have been held
    by another thread at the fork)."""
    global _kept, _lock
    _lock = threading.Lock()
    _returned.clear()
    _free.clear()
    _kept = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def block_array(count: int, dtype: np.dtype) -> np.ndarray:
    """An uninitialised 1-D array of ``count`` items of ``dtype`` for one block.

    Big blocks live in an anonymous memory map of their own that returns to the pool when the
    array (and every view of it) is freed.
    """
    nbytes = int(count) * np.dtype(dtype).itemsize
    if nbytes < MIN_POOLED_BYTES:
        return np.empty(count, dtype=dtype)
    buf = _take(nbytes)
    arr = np.frombuffer(buf, dtype=dtype, count=count)
    # Not at exit: arrays still alive then must not hand their maps to a later block.
    weakref.finalize(arr, _give, buf, nbytes).atexit = False
    return arr
