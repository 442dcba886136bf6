"""NIfTI read plans and block reads (the dask tasks of :func:`lazyvol.nifti.open_nifti`).

A :class:`NiftiPlan` is small, frozen and picklable: the data file's
:class:`~lazyvol._location.Location` (a path, or a URL with its storage options: credentials
travel with it but never show in its repr or any token), its stamp at open, and the layout. Reads:

- local uncompressed data: a read-only view of a memory map opened for the task (the identity
  checks and the map use one descriptor);
- remote uncompressed data: ranged reads issued together, one per contiguous run of the block
  (exactly the block's bytes when its first axis is whole; else whole planes, cut);
- gzip: :mod:`lazyvol.gzaccess` for files, :mod:`lazyvol.gz_remote` for URLs, the same runs in
  ascending file order.

Every task checks the source is still the one opened (local: ``fstat`` before and after the
map, or ``stat`` around a gzip block's reads; remote: size, ETag and last-modified time,
:func:`lazyvol._io.verify`), so a source changed before the read (gzip and remote: or during
it) raises :class:`~lazyvol.errors.SourceChangedError` instead of serving other bytes.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _io, gz_remote, gzaccess
from ._blockpool import block_array
from ._location import Location
from .errors import FormatError, LazyvolError, SourceChangedError, SourceNotFoundError
from .gzindex_format import RESOURCE_ERRNOS
from .scaling import apply_scale
from .sources import SourceStamp

__all__ = ["NiftiPlan", "read_block"]


@dataclass(frozen=True)
class NiftiPlan:
    """Everything a task needs to read a block: small, picklable, no open handles."""

    loc: Location
    stamp: SourceStamp
    offset: int
    shape: tuple[int, ...]
    disk_dtype: np.dtype
    slope: float
    inter: float
    out_dtype: np.dtype
    compressed: bool
    #: The header file's stamp at open when it is another file (a pair's ``.hdr``), else None.
    header: SourceStamp | None = None
    #: What tells the gzip stream opened from another of its stamp: a remote one's trailer
    #: (:func:`lazyvol.gz_remote.stream_tail`), a sample of a local one's bytes
    #: (:func:`lazyvol.sources.content_sample`).
    gz_tail: bytes = b""

    @property
    def path(self) -> str:
        """The data file for messages (a URL without credentials)."""
        return self.loc.display

    @property
    def data_end(self) -> int:
        """Byte (uncompressed) just past the image data."""
        n = int(np.prod(self.shape, dtype=np.int64))
        return self.offset + n * np.dtype(self.disk_dtype).itemsize

    def sequential_reads(self) -> bool:
        """Blocks are best read in file order: a gzip stream whose seek index is not saved yet
        (see :func:`lazyvol.chunking.sequential_reads`)."""
        if not self.compressed:
            return False
        if self.loc.is_remote:
            saved = gz_remote.index_path(self.remote_gz()).exists()
            return not (saved and _io.validated(self.stamp))
        return not gzaccess.index_path(self.gz_source()).exists()

    def gz_source(self) -> gzaccess.GzSource:
        """The local gzip source this plan reads, as it was when opened."""
        st = self.stamp
        return gzaccess.GzSource(
            self.loc.url, st.size, st.mtime_ns, st.inode, st.ctime_ns, self.data_end, self.gz_tail
        )

    def remote_gz(self) -> gz_remote.RemoteGz:
        """The remote gzip object this plan reads, as it was when opened."""
        return gz_remote.RemoteGz(self.loc, self.stamp, self.data_end, self.gz_tail)


def _full(sl: slice, n: int) -> bool:
    """``sl`` takes all ``n`` items of its axis, in order."""
    return sl.start == 0 and sl.stop == n and (sl.step or 1) == 1


def _run_layout(plan: NiftiPlan, index: tuple[slice, ...]) -> tuple[int, list[int]] | None:
    """If the block is one contiguous run in Fortran order: (first element, count). Else None."""
    shape = plan.shape
    # The first axis not taken whole; every later axis must then be a single index.
    split = len(shape)
    for axis, (sl, n) in enumerate(zip(index, shape, strict=True)):
        if not _full(sl, n):
            split = axis
            break
    if split < len(shape) and (index[split].step or 1) != 1:
        return None
    for sl in index[split + 1 :]:
        if sl.stop - sl.start != 1:
            return None
    strides = np.cumprod((1, *shape[:-1]))
    first = int(sum(int(sl.start) * int(s) for sl, s in zip(index, strides, strict=True)))
    count = int(np.prod([sl.stop - sl.start for sl in index], dtype=np.int64))
    return first, [count]


def read_block(plan: NiftiPlan, index: tuple[slice, ...]) -> np.ndarray:
    """Read the block ``index`` of the image described by ``plan`` (a dask task)."""
    try:
        block = _fetch(plan, index)
    except LazyvolError:
        raise
    except OSError as exc:
        if exc.errno in RESOURCE_ERRNOS:  # the process's limits, not the file's format
            raise OSError(
                exc.errno,
                f"{plan.path}: reading image data failed: {exc.strerror} (the process is out of "
                "file descriptors or memory: raise the limit, e.g. ulimit -n, or read fewer "
                "files at once)",
            ) from exc
        raise FormatError(f"{plan.path}: reading image data failed: {exc}") from exc
    except (ValueError, EOFError) as exc:
        raise FormatError(f"{plan.path}: reading image data failed: {exc}") from exc
    if not block.dtype.isnative:
        block = block.astype(block.dtype.newbyteorder("="))
    return apply_scale(
        block,
        plan.slope,
        plan.inter,
        np.dtype(plan.out_dtype),
        where=str(plan.path),
        fields="scl_slope / scl_inter",
    )


def _open_verified(plan: NiftiPlan) -> Any:
    """The local data file opened for reading, after checking it is still the file that was
    opened.

    Raises :class:`~lazyvol.errors.SourceChangedError` (a ``FormatError``) naming the file when it
    was rewritten, replaced, cut or removed since :func:`~lazyvol.nifti.open_nifti`.
    """
    need = plan.data_end
    try:
        fd = os.open(plan.loc.url, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SourceChangedError(
            f"{plan.path}: the file was removed or moved after it was opened; open the source again"
        ) from None
    f = os.fdopen(fd, "rb", buffering=0)
    try:
        st = os.fstat(fd)
        if st.st_size < need:
            raise SourceChangedError(
                f"{plan.path}: truncated: the image data needs {need} bytes but the "
                f"file now has {st.st_size} (was it changed or cut after opening?); open the "
                "source again"
            )
        if not plan.stamp.matches(st):
            plan.stamp.verify(fd)  # raises SourceChangedError naming what changed
    except BaseException:
        f.close()
        raise
    return f


def _fetch_mapped(plan: NiftiPlan, index: tuple[slice, ...], out_shape: tuple[int, ...]) -> Any:
    """A local uncompressed block: a read-only view of a memory map opened for this task.

    The reduction that consumes it reads the page cache directly, with no copy and no anonymous
    memory (a copy, which would let a check after it see a rewrite during the read, made the
    first ``.nii`` mean 1.5-2x slower). One open: the identity checks before and after the map
    use the same descriptor, so the bytes mapped are those of the file that was opened (a file
    rewritten, replaced or cut before then raises instead of serving other bytes, or a SIGBUS);
    an in-place rewrite of the same size while the view is being read is not seen, as with
    nibabel's and numpy's memory maps (docs/nifti.md, "Limits and bad files").
    """
    disk = np.dtype(plan.disk_dtype)
    run = _run_layout(plan, index)
    with _open_verified(plan) as f:
        if run is not None:
            first, (count,) = run
            at = plan.offset + first * disk.itemsize
            mm = np.memmap(f, dtype=disk, mode="r", offset=at, shape=(count,))
            out = np.asarray(mm).reshape(out_shape, order="F")
        else:
            mm = np.memmap(f, dtype=disk, mode="r", offset=plan.offset, shape=plan.shape, order="F")
            out = np.asarray(mm)[index]
        plan.stamp.verify(f.fileno())  # changed between the check and the map: raised
    return out


def _fetch(plan: NiftiPlan, index: tuple[slice, ...]) -> np.ndarray:
    """Stored values of the block, in the on-disk dtype."""
    out_shape = tuple(len(range(sl.start, sl.stop, sl.step or 1)) for sl in index)
    if not plan.compressed and not plan.loc.is_remote:
        out: np.ndarray = _fetch_mapped(plan, index, out_shape)
        return out
    remote = plan.loc.is_remote
    if not remote:
        plan.stamp.verify()  # the gzip handles are keyed on this identity: never another file's
        out = _fetch_read(plan, index, out_shape)
        plan.stamp.verify()  # and a rewrite during the reads: never a mix of old and new bytes
        return out
    # Size, ETag, last-modified: never another object's bytes. Checked once the bytes have
    # arrived (a change before or during the reads is caught; one HEAD), unless every ranged
    # read carried the check itself (If-Match); a failed read of a changed object says so.
    try:
        out = _fetch_read(plan, index, out_shape)
    except SourceNotFoundError:
        raise SourceChangedError(
            f"{plan.path}: the object was removed after it was opened; open the source again"
        ) from None
    except FormatError:
        _io.verify(plan.loc, plan.stamp)
        raise
    if not _io.reads_check(plan.loc, plan.stamp):
        _io.verify(plan.loc, plan.stamp)
    return out


def _fetch_read(
    plan: NiftiPlan, index: tuple[slice, ...], out_shape: tuple[int, ...]
) -> np.ndarray:
    """The block's stored values through the gzip or ranged reader (identity checks apart)."""
    reader = _gz_reader(plan) if plan.compressed else _range_reader(plan)
    disk = np.dtype(plan.disk_dtype)
    run = _run_layout(plan, index)
    if run is not None:
        first, (count,) = run
        buf = block_array(count, disk)
        reader([(plan.offset + first * disk.itemsize, buf)])
        return buf.reshape(out_shape, order="F")
    runs = _read_runs(plan, index, out_shape, reader)
    if runs is not None:
        return runs
    return _read_planes(plan, index, out_shape, reader)


#: Fills each ``(data offset, buffer)`` pair with the image bytes from that offset.
Reader = Callable[[list[tuple[int, np.ndarray]]], None]


def _truncated(plan: NiftiPlan, want: int, offset: int, got: int) -> FormatError:
    return FormatError(
        f"{plan.path}: truncated: wanted {want} bytes at data offset {offset}, the file "
        f"holds {got}: it is cut short (a download or copy cut off, or a change since it was "
        "opened); fetch or copy it again"
    )


def _gz_reader(plan: NiftiPlan) -> Reader:
    def read(parts: list[tuple[int, np.ndarray]]) -> None:
        for offset, buf in parts:
            view = buf.data.cast("B")
            if plan.loc.is_remote:
                got = gz_remote.read(plan.remote_gz(), offset, view)
            else:
                got = gzaccess.read(plan.gz_source(), offset, view)
            if got != len(view):
                raise _truncated(plan, len(view), offset, got)

    return read


def _range_reader(plan: NiftiPlan) -> Reader:
    def read(parts: list[tuple[int, np.ndarray]]) -> None:
        if len(parts) == 1:
            offset, buf = parts[0]
            _io.read_into(plan.loc, offset, buf, expect=plan.stamp)
            return
        # Each range is checked against the stamp as a single read is (HTTP(S): the answer's
        # ETag); ``_fetch`` verifies the object after the reads where they cannot check it.
        data = _io.read_ranges([(plan.loc, off, buf.nbytes, plan.stamp) for off, buf in parts])
        for (_off, buf), raw in zip(parts, data, strict=True):
            buf.data.cast("B")[:] = raw

    return read


#: Most runs handed to the reader at once (remote ranges of one batch go out together).
RUN_BATCH = 64


def _read_runs(
    plan: NiftiPlan, index: tuple[slice, ...], out_shape: tuple[int, ...], reader: Reader
) -> np.ndarray | None:
    """A block whose first axis is taken whole: one read per contiguous run of the file (the
    whole leading axes, and the next axis's range when its step is 1), straight into the block,
    in file order. None when the first axis is cut (then :func:`_read_planes`).

    A block of half of every slice reads that half of each slice, not the whole slices: no
    buffer beyond the block itself, and a remote source fetches only the block's bytes.
    """
    shape = plan.shape
    full = 0
    while full < len(shape) and _full(index[full], shape[full]):
        full += 1
    if full == 0 or full == len(shape):
        return None
    run_axes = full + 1 if (index[full].step or 1) == 1 else full
    disk = np.dtype(plan.disk_dtype)
    flat = block_array(int(np.prod(out_shape, dtype=np.int64)), disk)
    run_len = int(np.prod(out_shape[:run_axes], dtype=np.int64))
    strides = np.cumprod((1, *shape[:-1]))
    outer = [range(sl.start, sl.stop, sl.step or 1) for sl in index[run_axes:]]
    lead_start = sum(int(index[a].start) * int(strides[a]) for a in range(run_axes))
    # (first element in the file, run number in the block's Fortran order); the block's runs
    # are consecutive slices of ``flat``.
    runs = []
    for n, at in enumerate(itertools.product(*reversed(outer))):
        first = lead_start + sum(
            int(o) * int(st) for o, st in zip(reversed(at), strides[run_axes:], strict=True)
        )
        runs.append((first, n))
    runs.sort()  # file order: a gzip stream never seeks back within the block
    for b in range(0, len(runs), RUN_BATCH):
        batch = [
            (plan.offset + first * disk.itemsize, flat[n * run_len : (n + 1) * run_len])
            for first, n in runs[b : b + RUN_BATCH]
        ]
        reader(batch)
    return flat.reshape(out_shape, order="F")


def _read_planes(
    plan: NiftiPlan, index: tuple[slice, ...], out_shape: tuple[int, ...], reader: Reader
) -> np.ndarray:
    """A block not contiguous in the file: one read per plane of the fastest axes (issued
    together, so remote ranges go out at once), each plane cut to the block."""
    disk = np.dtype(plan.disk_dtype)
    out = np.empty(out_shape, dtype=disk, order="F")
    lead = min(2, len(plan.shape) - 1)
    outer_ranges = [range(sl.start, sl.stop, sl.step or 1) for sl in index[lead:]]
    plane_shape = plan.shape[:lead]
    plane_elems = int(np.prod(plane_shape, dtype=np.int64))
    strides = np.cumprod((1, *plan.shape[:-1]))
    positions = list(itertools.product(*(range(len(r)) for r in outer_ranges)))
    outers = list(itertools.product(*outer_ranges))
    # Bounded batches: at most 64 planes in memory at once.
    for at in range(0, len(outers), 64):
        batch = []
        for outer in outers[at : at + 64]:
            first = int(sum(int(o) * int(s) for o, s in zip(outer, strides[lead:], strict=True)))
            batch.append((plan.offset + first * disk.itemsize, np.empty(plane_elems, dtype=disk)))
        reader(batch)
        for pos, (_off, buf) in zip(positions[at : at + 64], batch, strict=True):
            plane = buf.reshape(plane_shape, order="F")[index[:lead]]
            where: Any = (Ellipsis, *pos)
            out[where] = plane
    return out
