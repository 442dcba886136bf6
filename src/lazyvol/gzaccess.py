"""Random access into gzip streams: the decompression engine, saved seek indexes, handle pools.

Engines: a first pass (no seek index yet) inflates with rapidgzip when installed (parallel
decompression of ordinary gzip, or its fast sequential decoder on few cores), else indexed_gzip;
reads through a saved index use indexed_gzip, whose memory stays flat at any file size
(:func:`index_engine`). ``LAZYVOL_GZIP_ENGINE=indexed_gzip`` or ``=rapidgzip`` forces one engine
for both. A first pass rapidgzip fails is done again with indexed_gzip (bytes after the last
member, which zlib ignores, stop rapidgzip), unless it failed the stream's own checksum
(:class:`ChecksumError`: the file is damaged). indexed_gzip does not check the checksum in this
read pattern: a first pass through it does (:class:`lazyvol.gzcheck.StreamCheck`).

Seek index: once a handle has inflated a whole stream, its seek points are saved in the cache
directory in indexed_gzip's format, which both engines import, thinned to at most
:data:`GZ_MAX_POINTS` points (each carries a 32 KiB window: the index, and the memory a handle
holding it needs, stays flat whatever the file's size). Every process and dask worker sharing the
cache directory uses it. The file is named by the source's full identity (absolute path, size,
mtime, inode, ctime): a replaced file gets a new index. An index that does not fit (other sizes,
a checksum that does not match, or a read through it that fails) is deleted and rebuilt.

Handles: while no index exists, one streaming handle per file and process (a full pass inflates
the file once; rapidgzip decompresses ahead on :func:`gzip_threads` threads); with an index, up
to one handle per core, each seeking to the nearest point. Handles are closed when the pool drops
them, by :func:`clear_handles` and at interpreter exit (a rapidgzip handle still open at exit
aborts the process).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _blockpool, handles
from ._warn import warn as _warn_user
from .config import cache_dir
from .errors import FormatError, LazyvolError, SourceChangedError
from .gzahead import ReadAhead, read_from
from .gzcheck import (
    ChecksumError,
    StreamCheck,
    is_os_failure,
    last8,
)
from .gzengine import (  # noqa: F401  (engine choice and budgets: gzaccess's API too)
    DEFAULT_GZIP_MEMORY,
    ENGINE_ENV,
    MEMORY_ENV,
    PARALLEL_MIN_THREADS,
    RG_BYTES_PER_THREAD,
    RG_CHUNK,
    RG_SEQUENTIAL_CHUNK,
    THREADS_ENV,
    _chunk_size,
    _cores,
    _forced,
    engine,
    first_pass_engine,
    forced_engine_hint,
    gzip_memory,
    gzip_threads,
    index_engine,
    zlib_can_retry,
)
from .gzindex_format import (
    GZ_MAX_POINTS,
    GZ_SPACING,
    RESOURCE_ERRNOS,
    WindowTap,
    gz_spacing,
    import_index,
    index_points,
    thin_index,  # noqa: F401  (gz_remote takes it from here)
    warn_failed,
)
from .gzindex_format import index_sizes as _index_sizes
from .gzindex_format import save_index as _save_index
from .gzinflate import engine_error, verify_members
from .sources import SourceStamp, content_sample

__all__ = [
    "GZ_MAX_POINTS",
    "GZ_SPACING",
    "GzSource",
    "build_index",
    "clear_handles",
    "engine",
    "gz_spacing",
    "gzip_memory",
    "gzip_threads",
    "index_engine",
    "index_path",
    "index_points",
    "read",
]

#: Files whose handles a process keeps at once; the least recently used are closed. A rapidgzip
#: handle holds its file open, so this and :data:`MAX_HANDLES` bound the descriptors kept.
MAX_OPEN_FILES = 8
#: Most handles of one indexed file (one per thread reading it at once).
MAX_HANDLES = 8


@dataclass(frozen=True)
class GzSource:
    """One gzip file as it was when opened: its identity, how many uncompressed bytes the
    reader needs (``data_end``) and a sample of its bytes (``tail``:
    :func:`~lazyvol.sources.content_sample`, taken at open)."""

    path: str
    size: int
    mtime_ns: int
    ino: int
    ctime_ns: int
    data_end: int
    tail: bytes = b""

    @classmethod
    def of(cls, path: str, data_end: int, st: os.stat_result | None = None) -> GzSource:
        st = os.stat(path) if st is None else st
        size, path = int(st.st_size), os.path.abspath(path)
        return cls(
            path,
            size,
            int(st.st_mtime_ns),
            int(st.st_ino),
            int(st.st_ctime_ns),
            int(data_end),
            content_sample(path, size),
        )

    def stamp(self) -> SourceStamp:
        """The file's identity as a :class:`~lazyvol.sources.SourceStamp`."""
        return SourceStamp(self.path, self.size, self.mtime_ns, self.ino, self.ctime_ns)


def index_path(src: GzSource) -> Path:
    """Where the seek index of ``src`` lives (named by the source's full identity and the sample
    of its bytes taken at open)."""
    ident = (
        os.fsencode(src.path) + f"\0{src.size}\0{src.mtime_ns}\0{src.ino}\0{src.ctime_ns}".encode()
    )
    if src.tail:
        ident += b"\0" + src.tail
    key = hashlib.sha256(ident).hexdigest()[:32]
    return cache_dir() / "gzindex" / f"{key}.gzidx"


# -- index files -----------------------------------------------------------------------------------


def index_fits(path: Path, src: GzSource) -> bool:
    """True when the index at ``path`` describes a stream of ``src``'s compressed size that holds
    at least the bytes the reader needs."""
    sizes = _index_sizes(path)
    return sizes is not None and sizes[0] == src.size and sizes[1] >= src.data_end


# -- engine handles --------------------------------------------------------------------------------


class _Handle:
    """One open decompressor of one file (rapidgzip or indexed_gzip), not thread-safe.

    A streaming rapidgzip handle (a first pass, no index) does all its work on one thread of its
    own: the dask workers taking turns on the handle would otherwise spread rapidgzip's buffers
    over one malloc arena per thread (bare rapidgzip, 1 GiB of int16, one thread: 118 MiB peak;
    two threads alternating ``readinto``: 143 MiB). lazyvol's first-pass mean went from 203/273/294
    to 186/195/217 MiB peak (256 MiB/1 GiB/4 GiB) and took ~4-6% longer in interleaved A/B runs
    (a bare rapidgzip loop handing each ``readinto`` to a thread measured no slower; where the
    difference goes inside a dask pass is not established).
    """

    def __init__(self, src: GzSource, kind: str, index: Path | None, threads: int) -> None:
        self.kind = kind
        self.compressed_size = src.size
        self.fobj: Any = None
        self._own: ThreadPoolExecutor | None = None
        self.tap: WindowTap | None = None
        self.check: StreamCheck | None = None
        if kind == "rapidgzip" and index is None:
            self._own = ThreadPoolExecutor(1, thread_name_prefix="lazyvol-gzip")
            self.tap = WindowTap(src.path, src.size, src.data_end)
        try:
            self.raw: Any = self.call(self._open, src, index, threads)
        except BaseException:
            if self._own is not None:
                self._own.shutdown(wait=False)
            raise
        # indexed_gzip inflates each read from the seek point before it: sequential reads through
        # an index read ahead to the next point (rapidgzip keeps its own decoder state).
        self.ahead: ReadAhead | None = None
        if index is not None:
            self.read_ahead(src.data_end)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the handle's own thread, if it has one."""
        if self._own is None:
            return fn(*args)
        return self._own.submit(fn, *args).result()

    def _open(self, src: GzSource, index: Path | None, threads: int) -> Any:
        # indexed_gzip always reads a file object Python opened: one descriptor per handle, held
        # while the handle lives (the pool bounds them, as rapidgzip's). Given a path it opens it
        # with drop_handles=True, an fopen per read whose failure it does not check: a process
        # out of descriptors crashed (SIGSEGV) instead of raising. rapidgzip gets the path (its
        # parallel reads would go through Python's file object otherwise), unless the name is not
        # valid UTF-8 (lone surrogates in Python), which engines cannot open themselves.
        target: Any = src.path
        if self.kind != "rapidgzip" or not _utf8(src.path):
            target = self.fobj = open(src.path, "rb")
        try:
            if self.kind == "rapidgzip":
                import rapidgzip

                try:
                    raw: Any = rapidgzip.RapidgzipFile(
                        target,
                        parallelization=threads,
                        chunk_size=_chunk_size(threads, index is not None),
                    )
                except ValueError as exc:  # "Opening file ... failed!": say why, if the OS can
                    _raise_open_error(src.path, exc)
                    raise
            else:
                import indexed_gzip as igzip

                # buffer_size: indexed_gzip's BufferedReader defaults to 4 x spacing; reads here
                # go straight into the caller's block buffer, so a small one is enough.
                kw: dict[str, Any] = {
                    "spacing": gz_spacing(src.data_end),
                    "readbuf_size": 2**20,
                    "buffer_size": 2**20,
                }
                raw = igzip.IndexedGzipFile(fileobj=target, drop_handles=False, **kw)
            if index is not None:
                try:
                    import_index(raw, self.kind, index)
                except BaseException:
                    _close_quietly(raw)
                    raise
        except BaseException:
            if self.fobj is not None:
                self.fobj.close()
            raise
        if index is None:
            # indexed_gzip never checks a stream's CRC-32: the first pass does (rapidgzip does).
            # Neither checks the trailer's length reliably: the pass does, for both.
            self.check = StreamCheck(
                src.path,
                src.data_end,
                lambda: last8(src.path, src.size),
                crc=self.kind != "rapidgzip",
                members=lambda: verify_members(src.stamp()),
            )
        return raw

    def read_ahead(self, end: int) -> None:
        """Read ahead from now on (reads through a complete index; indexed_gzip only)."""
        if self.kind != "rapidgzip":
            self.ahead = ReadAhead((p for p, _ in self.raw.seek_points()), end)

    def read_at(self, offset: int, view: memoryview) -> int:
        return int(self.call(self._read_at, offset, view))

    def _read_at(self, offset: int, view: memoryview) -> int:
        if self.ahead is not None:
            return self.ahead.read(offset, view, self._read_raw)
        if self.check is not None:
            self.check.before_read(self.raw, offset)
        got = self._read_raw(offset, view)
        if self.tap is not None and got:
            self.tap.feed(self.raw.available_block_offsets(), offset, view[:got])
        if self.check is not None:
            self.check.after_read(self.raw, offset, view[:got])
        return got

    def _read_raw(self, offset: int, view: memoryview) -> int:
        return read_from(self.raw, offset, view)

    def export_index(self, path: str) -> None:
        self.call(self._export_index, path)

    def _export_index(self, path: str) -> None:
        if self.kind == "rapidgzip":
            import rapidgzip

            # gztool's format keeps the windows compressed. rapidgzip 0.16.2 leaks everything an
            # export writes (see gzindex_format.WindowTap, which a first pass uses instead):
            # ~2.7 MB per GiB in this format, 32 KiB per point in indexed_gzip's.
            self.raw.export_index(path, index_format=rapidgzip.IndexFormat.GZTOOL)
        else:
            self.raw.build_full_index()  # complete it: the other engine expects a whole index
            self.raw.export_index(path)

    def close(self) -> None:
        # On the calling thread: at interpreter exit the handle's own thread may be gone.
        _close_quietly(self.raw)
        if self.fobj is not None:
            self.fobj.close()
        if self.tap is not None:
            self.tap.close()
        if self._own is not None:
            self._own.shutdown(wait=False)


def _raise_open_error(path: str, exc: BaseException) -> None:
    """Raise the OSError opening ``path`` gives now (out of descriptors, removed ...), if any,
    from ``exc`` (an engine's untyped failure to open it); return if the file opens."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as os_exc:
        raise os_exc from exc
    os.close(fd)


def _utf8(path: str) -> bool:
    """True when ``path`` encodes as UTF-8 (no lone surrogates from undecodable bytes)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _close_quietly(raw: Any) -> None:
    with contextlib.suppress(Exception):
        raw.close()


class _Entry:
    """Handles of one gzip file in this process."""

    def __init__(self, src: GzSource) -> None:
        now = content_sample(src.path, src.size) if src.tail else b""  # (b"": cannot read now)
        if now and now != src.tail:
            raise SourceChangedError(
                f"{src.path}: the file's bytes changed after it was opened (its size, times and "
                "inode did not: rewritten in place); open the source again"
            )
        self.src = src
        self.kind = first_pass_engine(src.path, src.size)
        self.cond = threading.Condition()
        self.idle: list[_Handle] = []
        self.created = 0
        self.index_file = index_path(src)
        self.indexed = self.index_file.exists()
        if self.indexed and not index_fits(self.index_file, src):
            self.drop_index()
        self.saving = False
        self.closed = False

    def drop_index(self) -> None:
        self.indexed = False
        try:
            self.index_file.unlink()
        except OSError:
            pass

    def limit(self) -> int:
        return min(MAX_HANDLES, max(2, _cores())) if self.indexed else 1

    def acquire(self) -> _Handle:
        with self.cond:
            while not self.idle and self.created >= self.limit():
                self.cond.wait()
            while self.idle:
                handle = self.idle.pop()
                if self.indexed or handle.kind == self.kind:
                    return handle
                self.created -= 1  # a first-pass handle of the engine given up for zlib
                handle.close()
            self.created += 1
            indexed = self.indexed
        try:
            if indexed:
                return _Handle(self.src, index_engine(), self.index_file, 1)
            return _Handle(self.src, self.kind, None, gzip_threads())
        except BaseException:
            with self.cond:
                self.created -= 1
                self.cond.notify()
            raise

    def release(self, handle: _Handle, *, broken: bool = False) -> None:
        with self.cond:
            if broken or self.closed:
                self.created -= 1
                handle.close()
            else:
                self.idle.append(handle)
            self.cond.notify()

    def close_idle(self) -> None:
        """Close every idle handle; handles in use are closed when released."""
        with self.cond:
            self.closed = True
            idle, self.idle = self.idle, []
            self.created -= len(idle)
            self.cond.notify_all()
        for h in idle:
            h.close()

    def maybe_save_index(self, handle: _Handle, reached: int) -> None:
        """Save the seek index once a handle has inflated through everything the reader needs."""
        if self.indexed or self.saving or reached < self.src.data_end:
            return
        self.saving = True
        try:
            _save_index(handle, self.index_file, reached)
            self.indexed = True
            handle.read_ahead(self.src.data_end)  # (the pass's handle serves indexed reads too)
        except (OSError, ValueError, RuntimeError) as exc:  # (an engine's export too)
            _warn_user(
                f"lazyvol could not save the gzip seek index of {self.src.path} in "
                f"{self.index_file.parent}: {exc}; random access into this file stays slow",
                RuntimeWarning,
            )
        finally:
            self.saving = False


class _Pool:
    """The gzip files this process keeps handles of: one :class:`_Entry` per file, in the
    process-wide handle manager (:mod:`lazyvol.handles`, cache ``"gzip"``), which closes the least
    recently used file's idle handles beyond :data:`MAX_OPEN_FILES`, closes everything at exit and
    forgets (never touches) a parent's handles in a forked child."""

    def __init__(self) -> None:
        self.cache = handles.cache("gzip", MAX_OPEN_FILES)

    @property
    def entries(self) -> dict[GzSource, _Entry]:
        """Open entries by source (a snapshot, least recently used first)."""
        return {k: v for k, v in self.cache.items() if isinstance(k, GzSource)}

    def entry(self, src: GzSource) -> _Entry:
        return self.cache.get(src, lambda: _Entry(src), close=_Entry.close_idle)

    def forget(self, src: GzSource) -> None:
        self.cache.discard(src)

    def clear(self) -> None:
        self.cache.clear()


_POOL = _Pool()


def clear_handles() -> None:
    """Close every gzip handle this process keeps between reads, and give back the block buffers
    kept for reuse (:mod:`lazyvol._blockpool`)."""
    _POOL.clear()
    _blockpool.clear()


def _read_once(src: GzSource, offset: int, view: memoryview) -> tuple[int, bool]:
    ent = _POOL.entry(src)
    used_index = ent.indexed
    try:
        handle = ent.acquire()
    except Exception as exc:
        # The index did not import (damaged, cut, or not one); out of descriptors or memory is
        # not the index's fault.
        not_the_index = (
            isinstance(exc, MemoryError) or getattr(exc, "errno", None) in _NOT_THE_INDEX
        )
        if used_index and not not_the_index:
            raise _IndexReadError(exc) from exc
        if not_the_index or is_os_failure(exc) or isinstance(exc, LazyvolError):
            raise
        raise engine_error(src.stamp(), exc, forced_engine_hint(ent.kind)) from exc
    broken = False
    try:
        got = handle.read_at(offset, view)
        ent.maybe_save_index(handle, offset + got)
        return got, used_index
    except Exception as exc:
        broken = True
        if isinstance(exc, ChecksumError):
            raise
        if used_index:
            raise _IndexReadError(exc) from exc
        raise engine_error(src.stamp(), exc, forced_engine_hint(handle.kind)) from exc
    finally:
        ent.release(handle, broken=broken)


_NOT_THE_INDEX = RESOURCE_ERRNOS


class _IndexReadError(Exception):
    """A read through a saved index failed: the index is suspect before the file is."""


def read(src: GzSource, offset: int, view: memoryview) -> int:
    """Fill ``view`` from uncompressed ``offset`` of ``src``; returns the bytes read (fewer at the
    end of the stream). A read through a saved index that fails or comes back short is retried
    without the index (deleted; the next full pass saves a new one), and a failed rapidgzip first
    pass with indexed_gzip.

    Raises
    ------
    FormatError
        The stream itself is corrupt.
    """
    try:
        got, used_index = _read_streaming_on_failure(src, offset, view)
    except _IndexReadError as exc:
        warn_failed(src.path, exc.__cause__)
        got, used_index = -1, True
    if used_index and got < len(view):
        ent = _POOL.entry(src)
        with ent.cond:
            ent.drop_index()
        _POOL.forget(src)
        try:
            got, _ = _read_streaming_on_failure(src, offset, view)
        except _IndexReadError as exc:  # pragma: no cover - a new index appeared meanwhile
            raise FormatError(f"{src.path}: gzip stream corrupt or truncated: {exc}") from exc
    return got


def _read_streaming_on_failure(src: GzSource, offset: int, view: memoryview) -> tuple[int, bool]:
    """:func:`_read_once`, again with indexed_gzip after a failed rapidgzip first pass, or one that
    came back short: rapidgzip returns nothing at all from a stream cut short, where zlib gives
    every byte up to the cut (the read is then right, or short by what the file really lacks)."""
    try:
        got, used_index = _read_once(src, offset, view)
    except ChecksumError:
        raise
    except FormatError:
        if not _fall_back_to_zlib(src):
            raise
        return _read_once(src, offset, view)
    if got < len(view) and not used_index and _fall_back_to_zlib(src):
        return _read_once(src, offset, view)
    return got, used_index


def _fall_back_to_zlib(src: GzSource) -> bool:
    """After a failed first-pass read of ``src``: read it with indexed_gzip from now on, when
    :func:`zlib_can_retry`."""
    ent = _POOL.entry(src)
    with ent.cond:
        if ent.indexed or not zlib_can_retry(ent.kind):
            return False
        ent.kind = "indexed_gzip"
        return True


def build_index(src: GzSource) -> Path:
    """Inflate ``src`` once and save its seek index; returns where it was saved."""
    kind = first_pass_engine(src.path, src.size)
    try:
        return _build_index(src, kind)
    except ChecksumError:
        raise
    except FormatError:
        if not zlib_can_retry(kind):
            raise
        return _build_index(src, "indexed_gzip")


def _build_index(src: GzSource, kind: str) -> Path:
    target = index_path(src)
    handle: _Handle | None = None
    try:
        handle = _Handle(src, kind, None, gzip_threads())  # (an engine may refuse here too)
        buf = bytearray(8 * 2**20)
        view = memoryview(buf)
        total = 0
        while n := handle.read_at(total, view):
            total += n
        _save_index(handle, target, total)
    except ChecksumError:
        raise
    except Exception as exc:
        if is_os_failure(exc) or isinstance(exc, LazyvolError):
            raise
        raise engine_error(src.stamp(), exc, forced_engine_hint(kind)) from exc
    finally:
        if handle is not None:
            handle.close()
    return target
