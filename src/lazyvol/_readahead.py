"""Bounded read-ahead for a stream read in file order (a first pass over a ``.nii.gz``), for
lazyvol's own block-by-block writers.

The first pass chains its reads (:func:`lazyvol.chunking.plan_to_dask`): one task at a time
inflates the next block while the other workers consume the blocks read. When the consumers are
slower than the inflate (``Volume.to_zarr`` compresses and writes every block), nothing in the
graph stops the chain from running ahead, and the blocks read but not yet consumed pile up.

So the reads of a writer's pass (:func:`lazyvol.chunking.rechunk_source` with
``read_ahead=True``: the writer knows each worker consumes one block at a time) first wait while
as many blocks of their pass as there are workers are still held (at least
:data:`READ_AHEAD_BLOCKS`): the chain runs at the writer's pace. A block counts as held while the
array the read returned, or the array it is a view of, is alive (a weak reference). Measured
(benchmark worker, cold, 2 cores, ``to_zarr`` of a 512 MiB ``.nii.gz`` with no saved index):
342 MiB peak anonymous memory unbounded, 289 with 4 blocks, 234 with 2 (the ``.nii``: 146), at
about the same speed (3.5-3.8 s).

Any other graph reads unbounded: a user's consumer may need several blocks of one stream at once
(a rechunk, ``map_overlap``, ``compute()`` of the whole array), or one block of each of many
streams (``da.stack`` of many files), and waiting there would only stall. Even in a writer's pass:

- the calling thread never waits (dask's synchronous scheduler runs tasks there: no other task
  could release a block);
- a read that has waited :data:`READ_AHEAD_STALL_S` seconds in all (however many blocks were
  released meanwhile) turns the bound off for the rest of its pass;
- each pass counts under a name of its own (two writes of one file at once never share a count,
  and a failed pass's late reads never hold back the next).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import OrderedDict, deque
from typing import Any

import numpy as np

__all__ = [
    "READ_AHEAD_BLOCKS",
    "READ_AHEAD_STALL_S",
    "after_read",
    "before_read",
    "configured_workers",
    "read_ahead_blocks",
]

#: Fewest blocks of one stream that may be read and still held before the next read waits; the
#: bound is the number of dask workers when that is larger (:func:`read_ahead_blocks`): each of the
#: other workers consuming one block while this one reads the next keeps every core busy.
READ_AHEAD_BLOCKS = 2
#: A read that has waited this long in all turns the bound off for the rest of its pass.
READ_AHEAD_STALL_S = 2.0
#: How often a waiting read looks again (seconds).
_POLL_S = 0.002
#: Streams tracked at once (the least recently read are forgotten).
_MAX_STREAMS = 32


class _Stream:
    """The blocks one chained pass has read and that are still alive."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.blocks: deque[weakref.ref[Any]] = deque()
        self.unbounded = False

    def held(self) -> int:
        with self.lock:
            alive = [r for r in self.blocks if r() is not None]
            self.blocks = deque(alive)
            return len(alive)


_streams: OrderedDict[str, _Stream] = OrderedDict()
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A forked child starts with no streams and fresh locks (a parent's thread may have held one
    at the fork)."""
    global _lock
    _lock = threading.Lock()
    _streams.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _stream(key: str) -> _Stream:
    with _lock:
        s = _streams.get(key)
        if s is None:
            s = _streams[key] = _Stream()
            while len(_streams) > _MAX_STREAMS:
                _streams.popitem(last=False)
        else:
            _streams.move_to_end(key)
        return s


def configured_workers() -> int:
    """dask's local workers as configured now: the size of a configured executor (``pool``, or an
    executor given as the ``scheduler``, counted as dask counts it: ``_max_workers``), else
    ``num_workers``, else dask's count of usable cores."""
    import dask
    from dask.system import CPU_COUNT

    for executor in (dask.config.get("pool", None), dask.config.get("scheduler", None)):
        size = getattr(executor, "_max_workers", None)
        if isinstance(size, int) and size > 0:
            return size
    workers = dask.config.get("num_workers", None)
    return int(CPU_COUNT if workers is None else workers)


def read_ahead_blocks() -> int:
    """Blocks of a stream that may be held before its next read waits: the dask workers of this
    process (:func:`configured_workers`), at least :data:`READ_AHEAD_BLOCKS`."""
    return max(READ_AHEAD_BLOCKS, configured_workers())


def before_read(
    key: str, limit: int = 0, stall_s: float = READ_AHEAD_STALL_S, *, restart: bool = False
) -> None:
    """Wait while ``limit`` (default :func:`read_ahead_blocks`) blocks read by stream ``key`` are
    still held (see the module). ``restart``: the first read of a pass, which forgets what an
    earlier pass of the same stream counted or decided."""
    s = _stream(key)
    if restart:
        with s.lock:
            s.blocks.clear()
            s.unbounded = False
    if s.unbounded or threading.current_thread() is threading.main_thread():
        return
    limit = limit or read_ahead_blocks()
    deadline = time.monotonic() + stall_s
    while s.held() >= limit:
        if time.monotonic() >= deadline:
            s.unbounded = True
            return
        time.sleep(_POLL_S)


def after_read(key: str, block: Any) -> None:
    """Count ``block`` (the array a read of stream ``key`` returned) as held while it, or the
    array it is a view of, lives: a consumer's view of the block keeps that array alive, not
    necessarily ``block`` itself (numpy points a view of a view at the array owning the data)."""
    while isinstance(getattr(block, "base", None), np.ndarray):
        block = block.base
    try:
        ref = weakref.ref(block)
    except TypeError:  # not weak-referenceable: not counted
        return
    s = _stream(key)
    with s.lock:
        s.blocks.append(ref)
