"""Read-ahead for sequential reads through a gzip seek index.

indexed_gzip inflates every read from the seek point at or before the read's start: it keeps no
inflate state between calls (``zran_read`` sets up a new stream, inflates and discards up to the
offset asked for, and frees the stream at the end). A script reading a ``.nii.gz`` slab by slab
through a saved index, 1 MiB at a time with points 4-5 MiB apart, inflated each stretch of the file
about three times (a 32 MiB file: 461 ms, where the same loop on the first pass, with no index,
took 124 ms), and a loop over single slices far more often.

:class:`ReadAhead` sits between a handle and its reads. A read starting where the handle's last
read ended (or a little after it) is taken as part of a sequential pass: the handle reads on, in
one call, to the next seek point, keeps those bytes and serves the following reads from them, so
every raw read of the pass starts at a seek point and each stretch is inflated once. A read
elsewhere is passed through as asked (random access stays as small as it was) and drops the bytes
kept. Reads as large as the widest gap between seek points, or larger, go straight to the caller's
buffer as before. The bytes kept per handle (a read plus the way to the next point: under twice
that gap, never more than the stream holds past the read, at most :data:`MAX_AHEAD`) stay with
the handle until a read elsewhere, or until its file's handles are closed
(:func:`lazyvol.nifti.clear_gzip_handles`, or the pool making room for another file).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["MAX_AHEAD", "RawRead", "ReadAhead", "read_from"]

#: Most bytes one handle reads ahead and keeps.
MAX_AHEAD = 32 * 2**20

#: ``raw_read(offset, view) -> bytes read``: a read of the handle itself (short at the end only).
RawRead = Callable[[int, memoryview], int]


class ReadAhead:
    """Sequential-read detection and read-ahead for one handle (not thread-safe, as the handle).

    ``points``: the uncompressed offsets of the handle's seek points; ``end``: the end of the bytes
    its reader reads (the image data), which bounds the bytes read ahead.
    """

    __slots__ = ("buf", "cap", "end", "last_end", "length", "points", "start", "stop")

    def __init__(self, points: Iterable[int], end: int) -> None:
        self.points = sorted({int(p) for p in points if 0 <= int(p) < end})
        self.stop = int(end)
        # (the end counts as a point: a one-point stream is read ahead to its end)
        gaps = [b - a for a, b in itertools.pairwise([*self.points, self.stop])]
        self.cap = min(MAX_AHEAD, max(gaps, default=0))
        self.buf: bytearray | None = None
        self.start = 0
        self.length = 0
        self.last_end = -1
        #: Where the stream ends, once a read ahead came back short (reads there return nothing
        #: without inflating from the last seek point to find the end again).
        self.end = -1

    def read(self, offset: int, view: memoryview, raw_read: RawRead) -> int:
        """Fill ``view`` from uncompressed ``offset``; returns the bytes read (fewer only at the end
        of the stream)."""
        got = self._from_kept(offset, view)
        pos, rest = offset + got, len(view) - got
        if rest and not 0 <= self.end <= pos:
            if got or (self._continues(pos) and rest < self.cap):
                got += self._ahead(pos, view[got:], raw_read)
            else:
                self.drop()
                got += raw_read(pos, view[got:])
        self.last_end = offset + got
        return got

    def drop(self) -> None:
        """Forget the bytes kept (and their buffer)."""
        self.buf, self.length = None, 0

    def _continues(self, pos: int) -> bool:
        """Does a read at ``pos`` continue the last one: at its end, or a little after it (a
        quarter of the widest gap: the rows of a crop, plane after plane)? Reads further apart
        would land past the bytes read ahead (every 75th slice read more and took longer)."""
        return self.last_end >= 0 and 0 <= pos - self.last_end <= self.cap // 4

    def _from_kept(self, offset: int, view: memoryview) -> int:
        at = offset - self.start
        if self.buf is None or not 0 <= at < self.length:
            return 0
        n = min(len(view), self.length - at)
        view[:n] = memoryview(self.buf)[at : at + n]
        return n

    def _ahead(self, pos: int, view: memoryview, raw_read: RawRead) -> int:
        """Read from ``pos`` on to the first seek point at or after the end of ``view`` (at most
        :data:`MAX_AHEAD` bytes, at least ``len(view)``), keep it, and fill ``view`` from it."""
        rest = len(view)
        if rest >= self.cap:
            self.drop()
            return raw_read(pos, view)
        i = bisect.bisect_left(self.points, pos + rest)
        # (at most a gap past the end of the read: the next read starts at a point)
        size = self.points[i] - pos if i < len(self.points) else self.stop - pos
        size = max(rest, min(size, MAX_AHEAD))
        if self.buf is None or len(self.buf) < size:
            self.buf = bytearray(size)
        self.length = 0  # (a failed read below leaves nothing kept)
        self.start = pos
        self.length = raw_read(pos, memoryview(self.buf)[:size])
        if self.length < size:
            self.end = pos + self.length
        n = min(rest, self.length)
        view[:n] = memoryview(self.buf)[:n]
        return n


def read_from(raw: Any, offset: int, view: memoryview) -> int:
    """Fill ``view`` from ``offset`` of the file object ``raw`` (a decompressor's); returns the bytes
    read, fewer only at the end of the stream."""
    raw.seek(offset)
    got = 0
    while got < len(view):
        n = raw.readinto(view[got:])
        if not n:
            break
        got += n
    return got
