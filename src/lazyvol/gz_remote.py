"""Random access into a remote gzip stream (``.nii.gz`` behind an ``s3://``, ``gs://`` or
``https://`` URL) through ranged reads of the byte layer.

Without a saved seek index a stream is read in one sequential pass: one shared handle per object
and process, fed by ranged requests of :data:`STREAM_READAHEAD` bytes, inflating from the start
and recording seek points every :func:`spacing` bytes as it goes (so the pass itself can seek back
cheaply). When the pass reaches the end of the image data, its seek points are saved in the cache
directory (indexed_gzip's format, :func:`lazyvol.gzindex_format.thin_index`) under a name made of the
object's identity: URL without credentials or signing parameters, size, ETag and last-modified
time (:func:`index_path`); never a credential.

With a saved index a read seeks to the nearest point before it and inflates from there: the
compressed bytes fetched are those from that point to the end of the block, in requests of
:data:`READ_BUFFER` bytes growing by half up to :data:`MAX_REQUEST` while the read continues. Seek points
are dense (256 KiB of uncompressed data apart; wider only for files over :data:`MAX_POINTS` points)
because over a network the cost of a read is the bytes between its seek point and its end.

The engine is indexed_gzip reading a Python file object (:class:`RemoteFile`) whose reads are
ranged requests; every request carries the stamp taken at open (HTTP servers then refuse a changed
object with 412, :class:`~lazyvol.errors.SourceChangedError`). Its read buffer is the local
engine's (:data:`HEADER_BUFFER`), so gzip member headers (FEXTRA, FNAME, FCOMMENT) up to that size
read as they do locally; a read of the file object still returns one request's bytes, more only
where they would end inside a member header (:func:`header_cut`).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _fsutil, _io, handles
from ._raw_reader import PositionedReader
from ._warn import warn as _warn_user
from .config import cache_dir
from .errors import (
    CacheError,
    FormatError,
    LazyvolError,
    SourceChangedError,
    SourceNotFoundError,
)
from .gzaccess import GzSource, index_fits, thin_index
from .gzahead import ReadAhead, read_from
from .gzcheck import StreamCheck, stream_error
from .gzindex_format import import_index, warn_failed
from .sources import SourceStamp

__all__ = [
    "MAX_POINTS",
    "HEADER_BUFFER",
    "READ_BUFFER",
    "REMOTE_SPACING",
    "RemoteFile",
    "RemoteGz",
    "build_index",
    "clear_handles",
    "header_cut",
    "index_path",
    "read",
    "spacing",
    "stream_tail",
]

#: Uncompressed bytes between seek points of a remote stream (a read costs at most this much
#: extra inflate, about this much divided by the compression ratio in transferred bytes).
REMOTE_SPACING = 256 * 2**10
#: Most seek points of a remote index (32 KiB window each: at most 64 MiB per index and handle).
MAX_POINTS = 2048
#: Compressed bytes the engine asks for at a time (indexed_gzip's ``readbuf_size``); the first
#: request of an indexed read.
READ_BUFFER = 32 * 2**10
#: The engine's read buffer (indexed_gzip's ``readbuf_size``), as the local engine's: indexed_gzip
#: parses a gzip member's header (FEXTRA up to 64 KiB, FNAME and FCOMMENT of any length) only from
#: bytes it holds at once, so a header longer than this buffer is refused as corrupt. Requests do
#: not grow with it: :class:`RemoteFile` hands the engine what one request fetched, and more only
#: to finish a member header the bytes handed would otherwise cut.
HEADER_BUFFER = 2**20
#: Largest request of an indexed read (requests grow by half from :data:`READ_BUFFER` while a
#: read continues, so a long block costs few requests and a short one little over-read).
MAX_REQUEST = 2**20
#: Request size of the sequential pass that builds the index.
STREAM_READAHEAD = 4 * 2**20
#: Objects whose handles a process keeps; most idle handles per object.
MAX_OBJECTS = 8
MAX_IDLE = 4


def spacing(data_end: int) -> int:
    """Seek-point spacing for a stream whose reader needs ``data_end`` uncompressed bytes:
    :data:`REMOTE_SPACING`, wider (in 64 KiB steps) when that would exceed :data:`MAX_POINTS`."""
    per_point = -(-int(data_end) // MAX_POINTS)
    step = 64 * 2**10
    return max(REMOTE_SPACING, -(-per_point // step) * step)


@dataclass(frozen=True)
class RemoteGz:
    """One remote gzip object as it was when opened, and how many uncompressed bytes the reader
    needs (``data_end``). Picklable; holds no handle. ``tail``: its gzip trailer read at open
    (:func:`stream_tail`; ``b""`` where none is read), part of what tells this stream's seek
    index and handles apart from those of a replacement keeping its stamp."""

    loc: _io.Location
    stamp: SourceStamp
    data_end: int
    tail: bytes = b""


def stream_tail(loc: _io.Location, stamp: SourceStamp) -> bytes:
    """The gzip trailer of the HTTP(S) object ``loc`` opened as ``stamp`` (CRC-32 and length of
    the whole uncompressed stream, its last 8 bytes; one ranged request, asked at every call:
    a trailer kept for a stamp would be another stream's once a replacement keeps the stamp),
    where the stamp does not tell the streams apart itself (no content ETag:
    :func:`lazyvol._io.names_content`), else ``b""``.

    A web server's validators can be weak: no ETag, a Last-Modified to the second, or an ETag
    made of the modification time and size (nginx, Apache): a stream replaced by another of the
    same size within that second keeps them all. A seek index applied to another stream inflates
    its blocks with the wrong windows and gives wrong values without an error (indexed_gzip checks
    no CRC on seeks); the trailer tells the streams apart. Object stores (``s3://``, ``gs://``)
    give content checksums as ETags, and are not asked.
    """
    if loc.protocol not in ("http", "https") or stamp.size < 18:
        return b""
    if _io.names_content(stamp.etag, stamp.size, stamp.mtime_ns):
        return b""  # (the stamp tells the streams apart: a server's content ETag)
    try:
        return _io.read(loc, stamp.size - 8, 8, expect=stamp)
    except SourceNotFoundError:  # it was there when the stamp was taken
        raise SourceChangedError(
            f"{loc.display}: the object was removed after it was opened; open the source again"
        ) from None


def index_path(src: RemoteGz) -> Path:
    """Where the seek index of ``src`` lives: named by URL identity, size, ETag, last-modified
    time and, over HTTP(S) without a content ETag, the stream's gzip trailer read at open
    (``src.tail``: :func:`stream_tail`); never credentials."""
    st = src.stamp
    ident = f"{src.loc.identity}\0{st.size}\0{st.etag}\0{st.mtime_ns}".encode()
    tail = src.tail
    if tail:
        ident += b"\0" + tail
    key = hashlib.sha256(ident).hexdigest()[:32]
    return cache_dir() / "gzindex" / f"{key}.remote.gzidx"


def _fits(path: Path, src: RemoteGz) -> bool:
    probe = GzSource(src.loc.identity, src.stamp.size, 0, 0, 0, src.data_end)
    return index_fits(path, probe)


_GZIP_MAGIC = b"\x1f\x8b\x08"


def _header_end(buf: bytes, at: int) -> int | None:
    """End of the gzip member header starting at ``at`` of ``buf`` (magic, deflate method, flags
    without reserved bits); None when ``buf`` ends inside it; -1 when no header starts there."""
    if len(buf) < at + 4:
        return None
    flags = buf[at + 3]
    if flags & 0xE0:
        return -1  # reserved flag bits: not a member header
    if len(buf) < at + 10:
        return None
    end = at + 10
    if flags & 0x04:  # FEXTRA: a 2-byte length, then that many bytes
        if len(buf) < end + 2:
            return None
        end += 2 + int.from_bytes(buf[end : end + 2], "little")
    for flag in (0x08, 0x10):  # FNAME, FCOMMENT: zero-terminated
        if flags & flag:
            nul = buf.find(b"\0", end)
            if nul < 0:
                return None
            end = nul + 1
    end += 2 if flags & 0x02 else 0  # FHCRC
    return end if end <= len(buf) else None


def header_cut(data: memoryview | bytes) -> bool:
    """Whether ``data`` ends inside what may be a gzip member header (a member starting in it,
    with its variable fields not all there): the engine must be handed the rest with it."""
    buf = bytes(data[max(0, len(data) - HEADER_BUFFER) :])  # (a header starts in the last part)
    at = buf.find(_GZIP_MAGIC)
    while at >= 0:
        if _header_end(buf, at) is None:
            return True
        at = buf.find(_GZIP_MAGIC, at + 1)
    return False


class RemoteFile(PositionedReader):
    """A read-only, seekable file object over ranged reads of one object (what the gzip engine
    reads). A failed request is kept in :attr:`error` (the engine turns exceptions into its own).

    ``block > 0`` (the sequential pass): reads are served from ``block``-aligned requests, the
    last :data:`KEEP_BLOCKS` kept (the engine seeks back to its latest seek point now and then;
    that must not fetch the bytes again). ``block == 0`` (reads through a saved index): requests
    start at :data:`READ_BUFFER` and grow by half while a read continues where the last ended.
    Either way a read returns fewer bytes than asked for (the engine asks for its whole buffer),
    except to finish a gzip member header.
    """

    KEEP_BLOCKS = 3

    def __init__(self, src: RemoteGz, block: int) -> None:
        super().__init__()
        self.src = src
        self.size = src.stamp.size
        self.block = block
        self.request = READ_BUFFER
        self.blocks: OrderedDict[int, bytes] = OrderedDict()  # start -> bytes
        self.error: BaseException | None = None
        self.fetched = 0

    def end(self) -> int:
        return self.size

    def _get(self, start: int, n: int) -> bytes:
        try:
            data = _io.read(self.src.loc, start, n, expect=self.src.stamp)
        except BaseException as exc:
            self.error = exc
            raise
        self.fetched += len(data)
        return data

    def _find(self) -> tuple[int, bytes] | None:
        for start, data in self.blocks.items():
            if start <= self.pos < start + len(data):
                self.blocks.move_to_end(start)
                return start, data
        return None

    def _fill(self, want: int) -> tuple[int, bytes]:
        if self.block:
            start = self.pos - self.pos % self.block
            n = min(self.block, self.size - start)
            keep = self.KEEP_BLOCKS
        else:
            last = next(reversed(self.blocks.items()), None)
            continuing = last is not None and self.pos == last[0] + len(last[1])
            grown = self.request + self.request // 2
            self.request = min(MAX_REQUEST, grown) if continuing else READ_BUFFER
            start, n, keep = self.pos, min(self.request, self.size - self.pos), 1
        data = self._get(start, n)
        self.blocks[start] = data
        while len(self.blocks) > keep:
            self.blocks.popitem(last=False)
        return start, data

    def readinto(self, b: Any) -> int:
        """The bytes of one request (or kept block) from the position; more while they end
        inside a gzip member header (:func:`header_cut`), up to the size of ``b``."""
        view = memoryview(b).cast("B")
        got = 0
        while self.pos < self.size and got < len(view):
            start, data = self._find() or self._fill(len(view) - got)
            at = self.pos - start
            n = min(len(view) - got, len(data) - at)
            view[got : got + n] = data[at : at + n]
            self.pos += n
            got += n
            if not header_cut(view[:got]):
                break
        return got

    def tail(self) -> bytes:
        """The object's last 8 bytes (a gzip trailer): from a kept block when it holds them."""
        start = max(0, self.size - 8)
        for begin, data in self.blocks.items():
            if begin <= start and begin + len(data) >= self.size:
                return data[start - begin : self.size - begin]
        return self._get(start, self.size - start)

    def random_access(self) -> None:
        """Switch to small growing requests (once a seek index exists)."""
        self.block = 0
        self.blocks.clear()


class _Handle:
    """indexed_gzip over a :class:`RemoteFile`; not thread-safe (one reader at a time)."""

    def __init__(self, src: RemoteGz, index: Path | None) -> None:
        import indexed_gzip as igzip

        self.file = RemoteFile(src, 0 if index is not None else STREAM_READAHEAD)
        self.src = src
        self.raw: Any = igzip.IndexedGzipFile(
            fileobj=self.file,
            drop_handles=False,
            spacing=spacing(src.data_end),
            readbuf_size=HEADER_BUFFER,
            buffer_size=READ_BUFFER,
        )
        # indexed_gzip never checks a stream's CRC-32: the sequential pass does.
        self.check = StreamCheck(str(src.loc), src.data_end, self.file.tail)
        #: Sequential reads through a saved index read ahead to the next seek point (see gzahead).
        self.ahead: ReadAhead | None = None
        if index is not None:
            self.check.done = True  # reads through a saved index: the pass that saved it checked
            try:
                import_index(self.raw, "indexed_gzip", index)
                self.ahead = ReadAhead((p for p, _ in self.raw.seek_points()), src.data_end)
            except BaseException:
                self.close()
                raise

    def read_at(self, offset: int, view: memoryview) -> int:
        try:
            if self.ahead is not None:
                return self.ahead.read(offset, view, self._read_raw)
            self.check.before_read(self.raw, offset)
            got = self._read_pass(offset, view)
            self.check.after_read(self.raw, offset, view[:got])
        except Exception:
            if self.file.error is not None:
                err, self.file.error = self.file.error, None
                raise err from None
            raise
        return got

    def _read_pass(self, offset: int, view: memoryview) -> int:
        """A read of the sequential pass, in pieces of :data:`STREAM_READAHEAD` bytes, each after a
        seek to its end: indexed_gzip adds seek points only up to where a seek or a read starts,
        so a pass of large reads left none past the start of its last read (a small object's one
        read: none at all), and every later read there through the saved index inflated, and
        fetched, from the last point (the stream's start). Each piece is inflated twice (the
        seek, then the read from the point before it), as the reads were before (each read's
        start inflated the previous read's span again); a piece's compressed bytes are still
        kept (:attr:`RemoteFile.KEEP_BLOCKS`), so the object is fetched about once."""
        got = 0
        while got < len(view):
            piece = view[got : got + STREAM_READAHEAD]
            try:
                self.raw.seek(offset + got + len(piece))
            except Exception:  # a stream cut short or damaged: the read says what and where
                pass
            n = self._read_raw(offset + got, piece)
            got += n
            if n < len(piece):
                break
        return got

    def _read_raw(self, offset: int, view: memoryview) -> int:
        return read_from(self.raw, offset, view)

    def save_index(self, target: Path) -> None:
        """Complete and save the seek index, thinned to :data:`MAX_POINTS`, atomically."""
        target.parent.mkdir(parents=True, exist_ok=True)
        _fsutil.sweep_folder(str(target.parent))  # what killed saves left (live ones kept)
        with _fsutil.scratch_file(str(target)) as raw:
            # Inflate to the end of the stream (past the image data: a trailer, at most a little
            # padding), so the index records the whole stream without a second pass.
            if not self.check.tail_read:
                self.raw.seek(self.src.data_end)
                sink = bytearray(READ_BUFFER)
                while self.raw.readinto(sink):
                    pass
            self.raw.export_index(raw)
            with _fsutil.atomic_path(str(target)) as tmp:
                thin_index(raw, tmp, MAX_POINTS, compressed_size=self.file.size)

    def close(self) -> None:
        try:
            self.raw.close()
        except Exception:
            pass
        self.file.close()


class _Entry:
    """Handles of one remote gzip object in this process."""

    def __init__(self, src: RemoteGz) -> None:
        self.src = src
        self.lock = threading.Lock()  # guards idle and the index state
        self.stream_lock = threading.Lock()  # one sequential pass at a time
        self.idle: list[_Handle] = []
        self.closed = False  # evicted or cleared: handles given back are closed, not kept
        self.index_file = index_path(src)
        # An object without ETag or last-modified time: no index is used or saved under a
        # stamp a replacement of the same size would share.
        self.keep_index = _io.validated(src.stamp)
        self.indexed = self.keep_index and self.index_file.exists() and _fits(self.index_file, src)

    def take(self) -> _Handle | None:
        with self.lock:
            return self.idle.pop() if self.idle else None

    def give(self, handle: _Handle) -> None:
        with self.lock:
            if not self.closed and len(self.idle) < MAX_IDLE:
                self.idle.append(handle)
                return
        handle.close()

    def close(self) -> None:
        """Close the idle handles now; busy ones are closed when given back."""
        with self.lock:
            self.closed = True
            idle, self.idle = self.idle, []
        for h in idle:
            h.close()


#: This process's remote gzip objects in the process-wide handle manager (LRU beyond
#: :data:`MAX_OBJECTS`, idle handles closed on eviction and at exit, a parent's handles forgotten
#: in a forked child).
_CACHE = handles.cache("gzip-remote", MAX_OBJECTS)


def _entry(src: RemoteGz) -> _Entry:
    return _CACHE.get(src, lambda: _Entry(src), close=_Entry.close)


def clear_handles() -> None:
    """Close every remote gzip handle this process keeps."""
    _CACHE.clear()


def _read_indexed(ent: _Entry, offset: int, view: memoryview) -> int:
    handle = ent.take()
    if handle is None:
        handle = _Handle(ent.src, ent.index_file)
    try:
        got = handle.read_at(offset, view)
    except BaseException:
        handle.close()
        raise
    ent.give(handle)
    return got


def _read_streaming(ent: _Entry, offset: int, view: memoryview) -> int:
    with ent.stream_lock:
        handle = ent.take() or _Handle(ent.src, None)
        try:
            got = handle.read_at(offset, view)
        except BaseException:
            handle.close()
            raise
        if ent.keep_index and not ent.indexed and offset + got >= ent.src.data_end:
            try:
                handle.save_index(ent.index_file)
                ent.indexed = True
                handle.file.random_access()  # small requests from now on, read ahead
                handle.ahead = ReadAhead((p for p, _ in handle.raw.seek_points()), ent.src.data_end)
            except (OSError, ValueError, RuntimeError) as exc:  # (an engine's export too)
                _warn_user(
                    f"lazyvol could not save the gzip seek index of {ent.src.loc} in "
                    f"{ent.index_file.parent}: {exc}; random access into it stays slow",
                    RuntimeWarning,
                )
        ent.give(handle)  # it holds its own seek points now: later reads reuse them
    return got


def read(src: RemoteGz, offset: int, view: memoryview) -> int:
    """Fill ``view`` from uncompressed ``offset`` of ``src``; returns the bytes read (fewer at the
    end of the stream). A read through a saved index that fails is retried once by the
    sequential pass (the index is deleted; the pass saves a new one).

    Raises
    ------
    FormatError
        The stream is corrupt or truncated.
    SourceChangedError, RemoteAccessError, RemoteReadError, RemoteTimeoutError
        From the ranged reads (see :mod:`lazyvol._io`).
    """
    ent = _entry(src)
    if ent.indexed:
        try:
            return _read_indexed(ent, offset, view)
        except LazyvolError:
            raise
        except Exception as exc:
            warn_failed(src.loc, exc)
            with ent.lock:
                ent.indexed = False
            try:
                ent.index_file.unlink()
            except OSError:
                pass
    try:
        return _read_streaming(ent, offset, view)
    except LazyvolError:
        raise
    except Exception as exc:
        raise stream_error(str(src.loc), exc) from exc


def build_index(src: RemoteGz) -> Path:
    """Read ``src`` once, sequentially, and save its seek index; returns where it was saved."""
    ent = _entry(src)
    if ent.indexed:
        return ent.index_file
    if not ent.keep_index:
        raise CacheError(
            f"{src.loc}: the server sends neither an ETag nor a Last-Modified time, so a seek "
            "index saved for this object could be used for a replacement of the same size: none "
            "is saved (serve the object with an ETag)"
        )
    buf = bytearray(STREAM_READAHEAD)
    pos = 0
    while pos < src.data_end:
        view = memoryview(buf)[: min(len(buf), src.data_end - pos)]
        got = read(src, pos, view)
        if got < len(view):
            raise FormatError(
                f"{src.loc}: truncated: the gzip stream holds {pos + got} uncompressed bytes, the "
                f"header needs {src.data_end}"
            )
        pos += got
    return ent.index_file
