"""Bytes of the files of a DICOM source at given offsets, local or remote (scan-time reads).

The scan reads a few bytes beyond the header in some files: the item headers of encapsulated Pixel
Data, a Basic Offset Table, the pixel bytes of two files claiming the same SOPInstanceUID. Those
reads go through a :data:`Fetch`: ``fetch(path, offset, n, size)`` returns up to ``n`` bytes from
``offset`` (fewer at the end of the file, never past ``size``). :func:`read_local` reads a local
file; :class:`RemoteFetch` reads objects through the byte layer (:mod:`lazyvol._io`), a window of
at least :data:`REMOTE_WINDOW` bytes at a time, so walking the item headers of one object costs one
or two requests, not one per item. Each of its reads is checked against the object's stamp when
listed (:func:`lazyvol._io.read`'s ``expect``), so a header and the pixels it locates come from one
version of the object, or the read raises :class:`~lazyvol.errors.SourceChangedError`.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping

from .._io import Location, StorageOptions, read
from ..sources import SourceStamp

__all__ = ["REMOTE_WINDOW", "Fetch", "RemoteFetch", "read_local"]

#: ``fetch(path, offset, n, size) -> bytes``: up to ``n`` bytes at ``offset`` (fewer at the end).
Fetch = Callable[[str, int, int, int], bytes]

#: Smallest remote read at scan time (one ranged request).
REMOTE_WINDOW = 64 * 1024

_O_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def read_local(path: str, offset: int, n: int, size: int = -1) -> bytes:
    """Up to ``n`` bytes of the local file ``path`` from ``offset`` (``size`` is not needed).

    Raises
    ------
    OSError
        The file cannot be opened or read.
    """
    fd = os.open(path, _O_FLAGS)
    try:
        return os.pread(fd, n, offset) if hasattr(os, "pread") else _read_seek(fd, offset, n)
    finally:
        os.close(fd)


def _read_seek(fd: int, offset: int, n: int) -> bytes:  # pragma: no cover - no pread (Windows)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, n)


class RemoteFetch:
    """A :data:`Fetch` for objects of one store (URLs with the same storage options).

    Reads whole windows of at least :data:`REMOTE_WINDOW` bytes and keeps the last few, so small
    reads close together cost one request. ``stamps``: each object's stamp when listed (by URL),
    which every read of it is checked against. Thread-safe.
    """

    def __init__(
        self, options: StorageOptions, stamps: Mapping[str, SourceStamp], keep: int = 64
    ) -> None:
        self.options = options
        self.stamps = dict(stamps)
        self._keep = keep
        self._windows: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def location(self, url: str) -> Location:
        """The location of ``url`` with this store's options."""
        return Location(url, self.options)

    def __call__(self, url: str, offset: int, n: int, size: int) -> bytes:
        n = max(0, min(n, size - offset))
        if n == 0:
            return b""
        with self._lock:
            hit = self._windows.get(url)
        if hit is not None:
            base, data = hit
            if base <= offset and offset + n <= base + len(data):
                return data[offset - base : offset - base + n]
        length = min(max(n, REMOTE_WINDOW), size - offset)
        data = read(self.location(url), offset, length, expect=self.stamps.get(url))
        with self._lock:
            self._windows[url] = (offset, data)
            self._windows.move_to_end(url)
            while len(self._windows) > self._keep:
                self._windows.popitem(last=False)
        return data[:n]
