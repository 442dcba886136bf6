"""Stream a Volume to ``.nii`` / ``.nii.gz`` in bounded memory.

The header is ``lazyvol.nifti_make.written_header`` (the one a Zarr store's NIfTI-Zarr header
is made by too): affine as sform and qform, units, 4th-axis step, carried fields; NIfTI-2 when
NIfTI-1 cannot hold the volume. The voxel data follow in NIfTI's Fortran order: for every index of
the axes after the third (time, ...), slabs of whole ``(i, j)`` planes along ``k``, aligned to
the volume's dask chunks and computed one at a time (the next slab is computed while the current
one is written). ``.gz`` output is a multi-member gzip file (like ``pigz``/BGZF): pieces of 4 MiB are
deflated by :mod:`zlib` in parallel threads (zlib releases the GIL) and written in order, each member
flagged FEXTRA so readers do not mistake the last member's size for the whole stream's. gzip,
nibabel, indexed_gzip and lazyvol read it like any ``.nii.gz``.
The file is written under a temporary name in the destination folder and renamed when complete.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import os
import struct
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

import dask
import numpy as np

from ._fsutil import publish_file, temp_sibling
from ._location import local_destination
from .config import chunk_budget
from .errors import WriteError
from .geometry import affine_problem
from .nifti_make import written_header
from .sidecar import sidecar_paths, write_sidecars
from .zarr_write import require_volume

if TYPE_CHECKING:
    from .volume import Volume

__all__ = ["nifti_header", "write_nifti"]


def nifti_header(vol: Volume, dtype: np.dtype, dest: str) -> Any:
    """The NIfTI header for ``vol`` stored as ``dtype``; only lazyvol errors escape.

    Raises
    ------
    WriteError
        The affine is non-finite or singular (NIfTI cannot hold it as a qform), the dtype has no
        NIfTI code, or nibabel refuses a header field (its ``HeaderDataError`` and friends are
        wrapped, naming ``dest``).
    """
    problem = affine_problem(vol.affine)
    if problem is not None:
        raise WriteError(
            f"{dest}: the volume's affine {problem} and cannot be written as a NIfTI sform/qform: "
            f"{np.asarray(vol.affine).tolist()}; give the Volume a valid affine first"
        )
    try:
        with np.errstate(over="ignore"):  # (overflow is checked below, on what was made)
            hdr = _header(vol, dtype)
        fields = ("pixdim", "quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y")
        if not all(np.isfinite(np.asarray(hdr[f], dtype=np.float64)).all() for f in fields):
            raise WriteError(
                f"the volume's affine has voxel sizes or offsets too large for NIfTI's pixdim / "
                f"qform fields (they overflow to inf): {np.asarray(vol.affine).tolist()}; rescale "
                "the affine's units first"
            )
        return hdr
    except WriteError as exc:
        raise WriteError(f"{dest}: {exc}") from exc
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception as exc:  # nibabel's HeaderDataError does not subclass a lazyvol error
        raise WriteError(
            f"{dest}: cannot make a NIfTI header for this volume (shape {vol.shape}, dtype "
            f"{dtype}): {type(exc).__name__}: {exc}"
        ) from exc


def to_nibabel_image(vol: Volume) -> Any:
    """``nibabel.Nifti1Image`` (``Nifti2Image`` past NIfTI-1's dimensions) over ``vol``: lazy
    data, and the header :func:`write_nifti` writes (affine, units, 4th-axis step, description,
    and a NIfTI source's carried fields, see :mod:`lazyvol.nifti_carry`).

    Raises
    ------
    WriteError
        The affine is non-finite or singular, or nibabel refuses the dtype or a header field.
    """
    import nibabel as nib

    hdr = nifti_header(vol, vol.dtype, str(vol.source or "volume"))
    cls = nib.Nifti2Image if isinstance(hdr, nib.Nifti2Header) else nib.Nifti1Image
    try:
        img = cls(vol.data, vol.affine, header=hdr)
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception as exc:  # nibabel's HeaderDataError and friends
        raise WriteError(
            f"{vol.source or 'volume'}: cannot make a NIfTI image (shape {vol.shape}, dtype "
            f"{vol.dtype}): {type(exc).__name__}: {exc}"
        ) from exc
    return img


def _header(vol: Volume, dtype: np.dtype) -> Any:
    hdr = written_header(vol.shape, dtype, vol.affine, vol.meta)
    descrip = vol.meta.get("descrip")
    if isinstance(descrip, str) and descrip:
        hdr["descrip"] = descrip.encode("latin-1", "replace")[:79]
    hdr.set_slope_inter(1.0, 0.0)
    return hdr


#: Uncompressed bytes per gzip member (compressed in parallel).
GZ_PIECE = 4 * 2**20
#: FEXTRA field of each member: subfield id "LV", no data.
_GZ_EXTRA = b"LV" + struct.pack("<H", 0)
_GZ_HEADER = (
    b"\x1f\x8b\x08\x04"
    + struct.pack("<I", 0)
    + b"\x00\xff"
    + struct.pack("<H", len(_GZ_EXTRA))
    + _GZ_EXTRA
)


def _gzip_member(data: Any, level: int) -> bytes:
    """One complete gzip member (header with FEXTRA, raw deflate, CRC32 and size) of ``data``."""
    co = zlib.compressobj(level, zlib.DEFLATED, -15)
    body = co.compress(data) + co.flush()
    trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return _GZ_HEADER + body + trailer


class _ParallelGzip:
    """File-like writer: buffers into GZ_PIECE pieces, deflates them in threads, writes in order."""

    def __init__(self, raw: BinaryIO, level: int, workers: int) -> None:
        self.raw = raw
        self.level = int(level)
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers))
        self.pending: collections.deque[concurrent.futures.Future[bytes]] = collections.deque()
        self.max_pending = 2 * max(1, workers)
        self.buf = bytearray()

    def _submit(self, piece: Any) -> None:
        self.pending.append(self.pool.submit(_gzip_member, piece, self.level))
        while len(self.pending) > self.max_pending:
            self.raw.write(self.pending.popleft().result())

    def write(self, data: Any) -> int:
        mv = memoryview(data).cast("B")
        n = len(mv)
        pos = 0
        if self.buf:
            take = min(n, GZ_PIECE - len(self.buf))
            self.buf += mv[:take]
            pos = take
            if len(self.buf) == GZ_PIECE:
                self._submit(bytes(self.buf))
                self.buf = bytearray()
        while n - pos >= GZ_PIECE:
            self._submit(mv[pos : pos + GZ_PIECE])  # the view keeps the slab alive until deflated
            pos += GZ_PIECE
        if pos < n:
            self.buf += mv[pos:]
        return n

    def abort(self) -> None:
        """Drop everything not yet written (the caller deletes the file)."""
        self.pending.clear()
        self.buf = bytearray()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        try:
            if self.buf:
                self._submit(bytes(self.buf))
                self.buf = bytearray()
            while self.pending:
                self.raw.write(self.pending.popleft().result())
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _slabs(vol: Volume, budget: int) -> Iterator[tuple[Any, ...]]:
    """Index tuples in file order: later axes (t, ...) slowest, then runs of k aligned to chunks."""
    shape = vol.shape
    plane = shape[0] * shape[1] * vol.dtype.itemsize
    kchunks = vol.chunks[2]
    bounds: list[tuple[int, int]] = []
    start = 0
    k0 = 0
    for c in kchunks:
        stop = start + c
        if stop - k0 > 1 and (stop - k0) * plane > budget and start > k0:
            bounds.append((k0, start))
            k0 = start
        start = stop
    bounds.append((k0, start))
    later = [range(n) for n in shape[3:]]
    # Fortran order: the 4th axis varies faster than the 5th, so iterate reversed and flip.
    for rest in itertools.product(*reversed(later)):
        idx = tuple(reversed(rest))
        for a, b in bounds:
            yield (slice(None), slice(None), slice(a, b), *idx)


def _write_data(vol: Volume, out: BinaryIO, dtype: np.dtype, progress: bool) -> None:
    slabs = list(_slabs(vol, chunk_budget()))
    from .progress import bar as _bar

    planes = int(np.prod(vol.shape[3:], dtype=np.int64))
    bar = _bar(vol.shape[2] * planes, desc="writing NIfTI", unit="slices", enabled=progress)

    def compute(index: tuple[Any, ...]) -> np.ndarray:
        # Compute the slab's chunks and place them into a Fortran-ordered array ourselves:
        # ``.compute()`` would concatenate them into C order, and turning that back into NIfTI's
        # Fortran order is a slow transposing copy.
        sub = vol.data[index]
        if sub.dtype != dtype:
            sub = sub.astype(dtype)
        parts = sub.to_delayed()
        blocks = dask.compute(*parts.ravel().tolist())
        if len(blocks) == 1:
            return np.asarray(blocks[0])
        out = np.empty(sub.shape, dtype=dtype, order="F")
        starts = [np.concatenate([[0], np.cumsum(c)]).astype(int) for c in sub.chunks]
        for pos, block in zip(np.ndindex(*parts.shape), blocks):
            where = tuple(slice(starts[a][i], starts[a][i + 1]) for a, i in enumerate(pos))
            out[where] = block
        return out

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(compute, slabs[0]) if slabs else None
        for n in range(len(slabs)):
            assert pending is not None
            block = pending.result()
            pending = pool.submit(compute, slabs[n + 1]) if n + 1 < len(slabs) else None
            # a (i, j, k) block in Fortran order is exactly the bytes NIfTI stores
            out.write(memoryview(np.asfortranarray(block).T).cast("B"))  # type: ignore[arg-type]
            bar.update(slabs[n][2].stop - slabs[n][2].start)
            del block
    bar.close()


def _check_destination(vol: Volume, dest: str, overwrite: bool, sidecars: bool) -> list[str]:
    """Refuse a bad name or (without ``overwrite``) an existing file; returns the sidecar paths."""
    if not dest.lower().endswith((".nii", ".nii.gz")):
        raise WriteError(f"{dest}: a NIfTI file name must end in .nii or .nii.gz")
    if os.path.lexists(dest) and not overwrite:
        raise WriteError(f"{dest}: file exists; pass overwrite=True to replace it (left untouched)")
    if os.path.isdir(dest):
        raise WriteError(f"{dest}: is a directory; choose a file name")
    extra = sidecar_paths(vol.meta, dest) if sidecars else []
    taken = [p for p in extra if os.path.lexists(p)]
    if taken and not overwrite:
        raise WriteError(
            f"{taken[0]}: sidecar file exists; pass overwrite=True to replace it, or sidecars=False "
            "(nothing written)"
        )
    return extra


def write_nifti(
    vol: Volume,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: bool = False,
    compresslevel: int = 1,
    sidecars: bool = True,
) -> str:
    """Stream a Volume to a NIfTI file (``.nii`` or ``.nii.gz``) in bounded memory.

    Parameters
    ----------
    vol : Volume
        The volume; computed one slab of whole ``(i, j)`` planes at a time (two slabs in memory).
    path : str or path-like
        Destination ending in ``.nii`` or ``.nii.gz``.
    overwrite : bool
        Replace an existing file (atomically, by renaming the finished file over it).
    progress : bool
        Show a tqdm progress bar.
    compresslevel : int
        gzip level for ``.nii.gz`` (1 = fastest, nibabel's default; 9 = smallest).
    sidecars : bool
        For a DICOM-derived volume, also write the BIDS JSON sidecar (``<name>.json``) and, for a
        diffusion series, FSL ``<name>.bval`` / ``<name>.bvec`` (as dcm2niix does); see
        ``lazyvol.dicom.bids``.

    Returns
    -------
    str
        Absolute path written.

    Raises
    ------
    WriteError
        The file exists and ``overwrite`` is false, the folder is not writable, the disk is full, or
        the dtype has no NIfTI code. No partial file is left behind.
    UnsupportedError
        ``path`` is a URL (lazyvol writes local files).
    """
    require_volume(vol, "write_nifti")
    dest = local_destination(path)
    gz = dest.lower().endswith(".gz")
    extra = _check_destination(vol, dest, overwrite, sidecars)
    dtype = vol.dtype.newbyteorder("=")
    if dtype.kind == "b":
        dtype = np.dtype(np.uint8)
    hdr = nifti_header(vol, dtype, dest)
    tmp = temp_sibling(dest)
    try:
        with open(tmp, "xb") as raw:
            out: Any = _ParallelGzip(raw, compresslevel, min(4, os.cpu_count() or 1)) if gz else raw
            try:
                # header + the 4-byte extension flag; the data start right after (352 / 544)
                hdr.set_data_offset(hdr.sizeof_hdr + 4)
                hdr.write_to(out)
                _write_data(vol, out, dtype, progress)
            except BaseException:
                if gz:
                    out.abort()
                raise
            if gz:
                out.close()
            raw.flush()
            os.fsync(raw.fileno())
        try:
            publish_file(tmp, dest, overwrite=overwrite)
        except FileExistsError as exc:
            raise WriteError(
                f"{dest}: created by someone else while writing; left untouched"
            ) from exc
    except WriteError:
        _unlink_quiet(tmp)
        raise
    except OSError as exc:
        _unlink_quiet(tmp)
        raise WriteError(
            f"{dest}: writing failed ({exc.strerror or exc}); choose a writable location with free space"
        ) from exc
    except BaseException:
        _unlink_quiet(tmp)
        raise
    if extra:
        try:
            write_sidecars(vol, dest)
        except OSError as exc:
            raise WriteError(
                f"{dest}: written, but its sidecar files could not be ({exc.strerror or exc})"
            ) from exc
    return dest


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
