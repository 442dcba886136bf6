"""The saved gzip seek-index file: indexed_gzip's ``GZIDX`` format (which both engines import)
with a SHA-256 trailer of lazyvol's, read, checked, and thinned from an indexed_gzip or gztool
(rapidgzip's export) index.

See :mod:`lazyvol.gzaccess` for how indexes are made, named and used.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import stat
import struct
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _fsutil
from ._warn import warn as _warn_user

__all__ = [
    "GZ_MAX_POINTS",
    "GZ_SPACING",
    "DamagedIndexError",
    "MissingWindows",
    "WindowTap",
    "gz_spacing",
    "import_index",
    "index_points",
    "index_sizes",
    "kept_points",
    "open_index",
    "save_index",
    "thin_index",
    "warn_failed",
    "write_index",
]

#: Distance between seek points of a small file: a random slab costs at most this much extra
#: inflate.
GZ_SPACING = 4 * 2**20

#: Most seek points a saved index holds (32 KiB window each: under 8 MiB per index and handle).
GZ_MAX_POINTS = 256


def gz_spacing(uncompressed_bytes: int) -> int:
    """Seek-point spacing for a gzip stream of ``uncompressed_bytes``: 4 MiB, or wider for big files
    so that the index never holds more than :data:`GZ_MAX_POINTS` points."""
    per_point = -(-int(uncompressed_bytes) // GZ_MAX_POINTS)
    mib = 2**20
    return max(GZ_SPACING, -(-per_point // mib) * mib)


def index_points(uncompressed_bytes: int) -> int:
    """Seek points a saved index keeps for a stream of ``uncompressed_bytes``: one per
    :func:`gz_spacing` (a random read inflates at most that much extra), at most
    :data:`GZ_MAX_POINTS`. rapidgzip exports a point per chunk (1-2 MiB); keeping every one would
    make each handle that imports the index read and hold 32 KiB per point (a 256 MiB file:
    8 MiB and ~0.1 s per handle, where 65 points take 2 MiB)."""
    n = max(1, int(uncompressed_bytes))
    return max(2, min(GZ_MAX_POINTS, -(-n // gz_spacing(n)) + 1))


_MAGIC = b"GZIDX"
#: What lazyvol appends to an index it saves: this tag and the SHA-256 of everything before it.
#: Both engines stop reading after the last window, so the trailer is invisible to them; a seek
#: point's window is data that inflating from the point cannot check (no CRC covers a part of
#: the stream), so a damaged window would give wrong voxels without it.
_SUM_TAG = b"LVSUM1"
_SUM_LEN = len(_SUM_TAG) + hashlib.sha256().digest_size


class DamagedIndexError(ValueError):
    """A saved seek index whose checksum does not match (damaged, cut, or written without one)."""


def open_index(path: str | os.PathLike[str]) -> Any:
    """``path`` opened for an engine's ``import_index(fileobj=...)``, after checking its trailer
    (:data:`_SUM_TAG`): the file object the checksum was computed from, at offset 0 (a rename
    that replaces the file meanwhile cannot slip another one in). The caller closes it.

    Raises
    ------
    DamagedIndexError
        The checksum is missing or does not match.
    OSError
        The file cannot be read.
    """
    f = _open_regular(path)
    try:
        size = os.fstat(f.fileno()).st_size
        if size < _SUM_LEN + 7 + _HEAD.size:
            raise DamagedIndexError(f"{path}: {size} bytes is too short for a seek index")
        digest = hashlib.sha256()
        left = size - _SUM_LEN
        while left:
            block = f.read(min(left, 2**20))
            if not block:
                raise DamagedIndexError(f"{path}: ends early")
            digest.update(block)
            left -= len(block)
        trailer = f.read(_SUM_LEN)
        if trailer != _SUM_TAG + digest.digest():
            raise DamagedIndexError(
                f"{path}: its checksum does not match (damaged, cut short, or saved by an older "
                "lazyvol)"
            )
        f.seek(0)
        return f
    except BaseException:
        f.close()
        raise


def _open_regular(path: str | os.PathLike[str]) -> Any:
    """``path`` opened for reading when it is a regular file (after links), else OSError
    (``EINVAL``): a FIFO where an index is looked for (the cache directory may be shared) would
    block an ordinary open until a writer came, and a device is no index. Opened non-blocking,
    then checked on the descriptor."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a seek index is one)", str(path))
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


_HEAD = struct.Struct("<QQIII")  # compressed size, uncompressed size, spacing, window, points
_POINT = struct.Struct("<QQBB")  # compressed offset, uncompressed offset, bits, has a window


#: errnos of a process out of descriptors or memory: nothing wrong with the file at hand.
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM})


def index_sizes(path: Path) -> tuple[int, int] | None:
    """``(compressed, uncompressed)`` sizes recorded in an indexed_gzip-format index, or None
    when there is none or it is not one.

    Raises
    ------
    OSError
        The process is out of descriptors or memory (:data:`RESOURCE_ERRNOS`): the index may be
        fine, and must not be deleted as one that does not fit.
    """
    try:
        with _open_regular(path) as f:
            head = f.read(7 + _HEAD.size)
    except OSError as exc:
        if exc.errno in RESOURCE_ERRNOS:
            raise
        return None
    if len(head) < 7 + _HEAD.size or head[:5] != _MAGIC:
        return None
    csize, usize, _spacing, _window, _npoints = _HEAD.unpack_from(head, 7)
    return int(csize), int(usize)


@dataclass(frozen=True)
class _Point:
    """One seek point of an index file: offsets, bits, and where its window lies in the file."""

    out: int  # uncompressed offset
    inp: int  # compressed offset
    bits: int
    window_at: int  # file offset of the window data, -1 when the point has none
    window_len: int  # bytes stored there (zlib-compressed in gztool's format)


def _read_points(f: Any) -> tuple[str, int, int, int, list[_Point]]:
    """Points of an indexed_gzip (``GZIDX``) or gztool (``gzipindx``) index, without their
    windows: ``(format, compressed size, uncompressed size, window size, points)``."""
    head = f.read(16)
    if head[:5] == _MAGIC:
        f.seek(7)
        csize, usize, _spacing, window, npoints = _HEAD.unpack(f.read(_HEAD.size))
        raw = [_POINT.unpack(f.read(_POINT.size)) for _ in range(npoints)]
        at = 7 + _HEAD.size + npoints * _POINT.size
        points = []
        for inp, out, bits, has in raw:
            points.append(_Point(out, inp, bits, at if has else -1, window if has else 0))
            at += window if has else 0
        return "indexed_gzip", csize, usize, window, points
    if head[8:16] != b"gzipindx":
        raise ValueError("not an indexed_gzip or gztool index")
    (have,) = struct.unpack(">Q", f.read(8))
    f.read(8)  # allocated size
    points = []
    for _ in range(have):
        out, inp, bits, wlen = struct.unpack(">QQII", f.read(24))
        points.append(_Point(out, inp, bits, f.tell() if wlen else -1, wlen))
        f.seek(wlen, os.SEEK_CUR)
    (usize,) = struct.unpack(">Q", f.read(8))
    return "gztool", -1, usize, 32768, points


def write_index(
    target: str | os.PathLike[str],
    compressed_size: int,
    uncompressed_size: int,
    points: list[tuple[int, int, int]],
    windows: Any,
) -> None:
    """Write an indexed_gzip-format index of ``points``: ``(rapidgzip's compressed offset in
    bits, uncompressed offset, where the point's 32 KiB window is in the file object
    ``windows``, -1 for none)``, in order. Bit offsets become indexed_gzip's (the byte holding
    the rest of the bits, and how many of its bits are taken), as rapidgzip's gztool export
    writes them."""
    window = 32768
    kept = []
    for bit_offset, out, at in points:
        spare = bit_offset % 8
        inp = bit_offset // 8 + (1 if spare else 0)
        kept.append(_Point(out, inp, 8 - spare if spare else 0, at, window if at >= 0 else 0))

    def window_of(p: _Point) -> bytes:
        windows.seek(p.window_at)
        return bytes(windows.read(window))

    _write_index(target, compressed_size, uncompressed_size, window, kept, window_of)


def _write_index(
    target: str | os.PathLike[str],
    csize: int,
    usize: int,
    window: int,
    kept: list[_Point],
    window_of: Any,
) -> None:
    """Write ``kept`` as an indexed_gzip-format index with lazyvol's checksum trailer; the
    windows come one at a time from ``window_of(point)`` (left-padded to ``window`` bytes)."""
    wide = max([GZ_SPACING] + [b.out - a.out for a, b in itertools.pairwise(kept)])
    digest = hashlib.sha256()
    with open(target, "wb") as out:

        def put(data: bytes) -> None:
            digest.update(data)
            out.write(data)

        put(_MAGIC + b"\x01\x00")
        put(_HEAD.pack(csize, usize, min(wide, 2**32 - 1), window, len(kept)))
        for p in kept:
            put(_POINT.pack(p.inp, p.out, p.bits, 1 if p.window_at >= 0 else 0))
        for p in kept:
            if p.window_at < 0:
                continue
            data = window_of(p)
            if len(data) > window:
                raise ValueError(f"a window of {len(data)} bytes exceeds {window}")
            put(bytes(window - len(data)) + data)
        out.write(_SUM_TAG + digest.digest())


class MissingWindows(Exception):
    """A first pass did not copy every window its saved index needs."""


class WindowTap:
    """The window (32 KiB of output before it) of every seek point a saved index keeps, copied
    from the reads of a rapidgzip first pass into a temporary file, so that the index is written
    without rapidgzip's ``export_index``.

    rapidgzip 0.16.2's export leaks everything it writes (``PythonFileReader::write`` never
    releases the bytes objects and argument tuples of its ``write`` calls): ~2.7 MB per GiB of
    data, for as long as the process lives, and the last step of a first pass (a 4 GiB int16
    volume: 10.9 MB, lazyvol's first-pass mean 206 -> 217 MiB peak).

    rapidgzip's seek points (``available_block_offsets``: compressed offset in bits ->
    uncompressed offset) are kept as :func:`kept_points` says; a point's window is copied when a
    read ends at or after it and the bytes before it were read (in this read or the one just
    before, ending where this one starts). A first pass reads front to back, so every window is
    copied; otherwise :meth:`save` says no and the exported index is used.
    """

    WINDOW = 32768

    def __init__(self, path: str, compressed_size: int, data_end: int) -> None:
        self.path = path
        self.compressed_size = compressed_size
        self.spacing = gz_spacing(data_end)
        self.file: Any = None
        self.at: dict[int, tuple[int, int]] = {}  # bit offset -> (uncompressed, file offset)
        self.tail = b""  # the last bytes read (at most WINDOW), ending at tail_end
        self.tail_end = -1

    def feed(self, offsets: dict[int, int], offset: int, data: memoryview) -> None:
        """Copy the windows of kept points that ``data`` (read at uncompressed ``offset``)
        completes."""
        if self.spacing < 0:
            return
        if offset != self.tail_end:
            self.tail = b""
        end = offset + len(data)
        start = offset - len(self.tail)
        for bit, out in kept_points(offsets, self.spacing):
            if out > end:
                break
            lo = max(0, out - self.WINDOW)
            if out == 0 or lo < start or bit in self.at:
                continue
            if lo >= offset:
                win = bytes(data[lo - offset : out - offset])
            else:
                win = self.tail[lo - start :] + bytes(data[: max(0, out - offset)])
            try:
                if self.file is None:
                    self.file = tempfile.TemporaryFile()
                self.file.seek(0, os.SEEK_END)
                at = self.file.tell()
                self.file.write(bytes(self.WINDOW - len(win)) + win)
            except OSError:  # no room for the windows: the export makes the index
                self.spacing = -1
                return
            self.at[bit] = (out, at)
        if len(data) >= self.WINDOW:
            self.tail = bytes(data[-self.WINDOW :])
        else:
            self.tail = (self.tail + bytes(data))[-self.WINDOW :]
        self.tail_end = end

    def save(self, raw: Any, target: str) -> bool:
        """Write the index of rapidgzip handle ``raw`` (its whole stream read) as ``target``;
        False (nothing written) when a kept point's window was not copied, or a point sits on a
        gzip member's header (byte-aligned, ``1f 8b`` there: rapidgzip's export has no window
        for it, and a window would make indexed_gzip inflate the header as deflate data)."""
        if self.spacing < 0:
            return False
        offsets = raw.block_offsets()  # complete: the whole stream was read
        usize = max(offsets.values())
        points: list[tuple[int, int, int]] = []
        with open(self.path, "rb") as f:
            for bit, out in kept_points(offsets, self.spacing):
                if out >= usize:  # the end of the stream (gztool's export leaves it out too)
                    break
                if out == 0:
                    points.append((bit, out, -1))
                    continue
                if self.at.get(bit, (-1, -1))[0] != out:
                    return False
                if bit % 8 == 0:
                    f.seek(bit // 8)
                    if f.read(2) == b"\x1f\x8b":
                        return False
                points.append((bit, out, self.at[bit][1]))
        if not points or len(points) > GZ_MAX_POINTS:
            return False
        write_index(target, self.compressed_size, usize, points, self.file)
        return True

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def kept_points(offsets: dict[int, int], spacing: int) -> Iterator[tuple[int, int]]:
    """The seek points of ``offsets`` (rapidgzip's: compressed offset in bits -> uncompressed
    offset, in stream order) a saved index keeps: the first, then the first at or after each
    multiple of ``spacing`` (points at most ``spacing`` + one rapidgzip chunk apart)."""
    prev = -1
    for bit, out in offsets.items():
        if prev < 0 or out // spacing > prev // spacing:
            yield bit, out
        prev = out


def warn_failed(source: object, why: object) -> None:
    """Say that the saved seek index of ``source`` failed (``why``) and is replaced: a
    ``RuntimeWarning`` at the user's line (:func:`lazyvol._warn.warn`)."""
    _warn_user(
        f"lazyvol: the saved gzip seek index of {source} failed ({why}); it is deleted, this read "
        "inflates from the start, and a new one is saved by the next full pass",
        RuntimeWarning,
    )


def import_index(raw: Any, kind: str, path: str | os.PathLike[str]) -> None:
    """Import the saved index at ``path`` into handle ``raw`` of engine ``kind`` (``"rapidgzip"``
    or ``"indexed_gzip"``), from the file object :func:`open_index` checked.

    Raises
    ------
    DamagedIndexError
        The index's checksum does not match.
    """
    with open_index(path) as f:
        if kind == "rapidgzip":
            raw.import_index(f)
        else:
            raw.import_index(fileobj=f)


def thin_index(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    max_points: int,
    compressed_size: int | None = None,
) -> int:
    """Write ``source`` (an indexed_gzip or gztool index) as an indexed_gzip-format index of at
    most ``max_points`` seek points (the first, the last and evenly spread ones between).

    Streams: only the kept windows are read, one at a time, so converting the index of a huge
    file costs a few windows of memory. gztool's windows are zlib-compressed: they are inflated
    (and left-padded to the window size for points near the start). ``compressed_size`` (the gzip
    file's size) is required for a gztool index, which does not record it. Returns the points kept.
    """
    with open(source, "rb") as f:
        kind, csize, usize, window, points = _read_points(f)
        if kind == "gztool":
            if compressed_size is None:
                raise ValueError("a gztool index needs the gzip file's compressed size")
            csize = int(compressed_size)
        n = len(points)
        if n <= max_points:
            keep = list(range(n))
        else:
            step = (n - 1) / (max_points - 1)
            keep = sorted({round(i * step) for i in range(max_points)} | {0, n - 1})
        kept = [points[i] for i in keep]

        def window_of(p: _Point) -> bytes:
            f.seek(p.window_at)
            data = f.read(p.window_len)
            return zlib.decompress(data) if kind == "gztool" else data

        _write_index(target, csize, usize, window, kept, window_of)
    return len(kept)


def save_index(handle: Any, target: Path, uncompressed_bytes: int) -> None:
    """Save the seek index of ``handle`` (a :mod:`lazyvol.gzaccess` engine handle) as ``target``,
    thinned to :func:`index_points` points, atomically (temporary file, rename): from the windows
    a rapidgzip first pass copied (:class:`WindowTap`) when it has them all, else from the
    engine's exported index."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _fsutil.sweep_folder(str(target.parent))  # what killed saves left (a live save's are kept)
    if handle.tap is not None and gz_spacing(uncompressed_bytes) == handle.tap.spacing:
        try:
            with _fsutil.atomic_path(str(target)) as tmp:
                if not handle.call(handle.tap.save, handle.raw, tmp):
                    raise MissingWindows
            return
        except MissingWindows:
            pass
    with _fsutil.scratch_file(str(target)) as raw:
        handle.export_index(raw)
        with _fsutil.atomic_path(str(target)) as tmp:
            thin_index(
                raw, tmp, index_points(uncompressed_bytes), compressed_size=handle.compressed_size
            )
