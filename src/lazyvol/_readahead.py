"""Bounded read-ahead for a stream read in file order (a first pass over a ``.nii.gz``).

The first pass chains its reads (:func:`lazyvol.chunking.plan_to_dask`): one task at a time
inflates the next block while the other workers consume the blocks read. When the consumers are
slower than the inflate (``Volume.to_zarr`` compresses and writes every block; a user's
``map_blocks`` may do anything), nothing in the graph stops the chain from running ahead, and the
blocks read but not yet consumed pile up.

So each chained read first waits while as many blocks of its stream as there are workers are still
held (by dask, for their consumers; at least :data:`READ_AHEAD_BLOCKS`): the chain runs at the
consumers' pace. A block counts as held while the array the read returned is alive (a weak
reference to it). Measured (benchmark worker, cold, 2 cores, ``to_zarr`` of a 512 MiB ``.nii.gz``
with no saved index): 342 MiB peak anonymous memory unbounded, 289 with 4 blocks, 234 with 2
(the ``.nii``: 146), at about the same speed (3.5-3.8 s); a first-pass mean is unchanged (its
reduction keeps up, so it rarely waits: 1.26-1.32 s and 191 MiB either way).

The wait never deadlocks a pass:

- in the calling thread (dask's synchronous scheduler runs tasks there) no other task could
  release a block while it waits, so it does not wait;
- when no block is released for :data:`READ_AHEAD_STALL_S` seconds, the consumer needs more blocks
  at once than the bound (a rechunk into larger chunks) or nothing else is running: the stream stops
  waiting for the rest of the pass.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict, deque
from typing import Any

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
#: A wait that sees no block released for this long turns the bound off for its stream's pass.
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
    """dask's local workers as configured now: ``num_workers``, else dask's count of usable cores."""
    import dask
    from dask.system import CPU_COUNT

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
    held = s.held()
    since = time.monotonic()
    while held >= limit:
        time.sleep(_POLL_S)
        now = s.held()
        if now < held:
            since = time.monotonic()  # a block was released: the consumers are moving
        elif time.monotonic() - since >= stall_s:
            s.unbounded = True
            return
        held = now


def after_read(key: str, block: Any) -> None:
    """Count ``block`` (the array a read of stream ``key`` returned) as held while it lives."""
    try:
        ref = weakref.ref(block)
    except TypeError:  # not weak-referenceable: not counted
        return
    s = _stream(key)
    with s.lock:
        s.blocks.append(ref)
