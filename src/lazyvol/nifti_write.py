"""Stream a Volume to ``.nii`` / ``.nii.gz`` in bounded memory.

The header is ``lazyvol.nifti_make.written_header`` (the one a Zarr store's NIfTI-Zarr header
is made by too): affine as sform and qform, units, 4th-axis step, carried fields; NIfTI-2 when
NIfTI-1 cannot hold the volume. The voxel data follow in NIfTI's Fortran order, in slabs of at
most the chunk budget (:func:`lazyvol.config.chunk_budget`) each where one voxel row allows: runs
of whole volumes along t, else of whole ``(i, j)`` planes along k, else bands of j within a plane,
aligned to the volume's dask chunks where they fit (a chunk over the budget is computed once per
slab it spans). One slab is computed while the one before it is written; every block is cast to
the file's dtype and checked against the shape its array declares, and the bytes written are
checked against the header's before the file is published. ``.gz`` output is a multi-member gzip
file (like ``pigz``/BGZF): pieces of 4 MiB are deflated by :mod:`zlib` in parallel threads (zlib
releases the GIL) and written in order, each member flagged FEXTRA so readers do not mistake the
last member's size for the whole stream's. gzip, nibabel, indexed_gzip and lazyvol read it like
any ``.nii.gz``.
The file is written under a temporary name in the destination folder and renamed when complete;
the writer locks it while it runs, and a write removes what killed writes to the same destination
left (``lazyvol._fsutil.sweep_leftovers``). Its sidecars (``lazyvol.sidecar``) are written to
temporary files too, and renamed into place before the image, after the old image and every old
sidecar of that name were set aside (``_publish``, ``lazyvol._fileset``): a kill never leaves an
image beside another's, and a failure puts the old set back.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import io
import os
import struct
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

import dask
import numpy as np

from ._fileset import Aside, drop, link_in, publish_lock, put_back, set_aside, sweep
from ._fsutil import fsync_dir, make_temp_file, publish_file, release_temp_dir, sweep_leftovers
from ._special_files import check_written_file
from ._write_target import local_destination, written_through
from .chunking import as_plan_array, direct_compute_allowed
from .config import chunk_budget
from .errors import WriteError
from .geometry import affine_problem
from .nifti_make import gzip_wanted, overflowed, written_header
from .sidecar import check_shared, own_context, recover_sets, sidecar_files, sidecar_paths
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
        NIfTI code, nibabel refuses a header field (its ``HeaderDataError`` and friends are
        wrapped, naming ``dest``), or the volume has no voxels.
    """
    if 0 in vol.shape:  # (the write ended in a bare TypeError from memoryview)
        raise WriteError(
            f"{dest}: a volume of shape {tuple(vol.shape)} has no voxels; nothing to write"
        )
    problem = affine_problem(vol.affine)
    if problem is not None:
        raise WriteError(
            f"{dest}: the volume's affine {problem} and cannot be written as a NIfTI sform/qform: "
            f"{np.asarray(vol.affine).tolist()}; give the Volume a valid affine first"
        )
    try:
        with np.errstate(over="ignore"):  # (overflow is checked below, on what was made)
            hdr = _header(vol, dtype)
        if overflowed(hdr, vol.meta, vol.shape):
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


def _runs(chunks: tuple[int, ...], unit: int, budget: int) -> list[tuple[int, int]]:
    """``(start, stop)`` ranges along one axis whose steps are ``unit`` bytes each, in order: whole
    chunks grouped while the group stays within ``budget``; a chunk over the budget alone is cut
    into pieces of as many steps as fit (at least one), so its data is computed once per piece."""
    per = max(1, budget // max(1, unit))
    out: list[tuple[int, int]] = []
    start = first = 0
    for c in chunks:
        stop = start + c
        if c > per:
            if start > first:
                out.append((first, start))
            out.extend((a, min(a + per, stop)) for a in range(start, stop, per))
            first = stop
        elif stop - first > per:
            out.append((first, start))
            first = start
        start = stop
    if start > first:
        out.append((first, start))
    return out


def _slabs(
    shape: tuple[int, ...], chunks: tuple[tuple[int, ...], ...], itemsize: int, budget: int
) -> Iterator[tuple[slice, ...]]:
    """Boxes of the volume in file order (Fortran: i fastest), each one contiguous run of the file
    and within ``budget`` bytes where a single voxel row allows: runs of whole volumes along t (or
    later axes) while a volume fits, else runs of whole ``(i, j)`` planes along k, else, where one
    plane is over the budget, bands of j within a plane (rows of i within a row past that),
    aligned to the dask chunks where the budget allows (:func:`_runs`)."""

    def boxes(axis: int, outer: tuple[slice, ...]) -> Iterator[tuple[slice, ...]]:
        unit = itemsize * int(np.prod(shape[:axis], dtype=np.int64))
        if unit <= budget or axis == 0:
            for a, b in _runs(chunks[axis], unit, budget):
                yield (*(slice(None),) * axis, slice(a, b), *outer)
        else:
            for n in range(shape[axis]):
                yield from boxes(axis - 1, (slice(n, n + 1), *outer))

    yield from boxes(len(shape) - 1, ())


def _compute_slab(data: Any, index: tuple[slice, ...], dtype: np.dtype, dest: str) -> np.ndarray:
    """The slab ``data[index]`` as a Fortran-ordered array of ``dtype``: its dask blocks computed
    and placed one by one (``.compute()`` would concatenate them in C order, and turning that into
    NIfTI's Fortran order is a slow transposing copy), each cast to ``dtype`` (a block computed in
    another dtype than its array declares, as a ``map_blocks`` without the right ``dtype=`` gives)
    and checked against the shape its array declares."""
    sub = data[index]
    parts = sub.to_delayed()
    blocks = list(dask.compute(*parts.ravel().tolist()))
    starts = [np.concatenate([[0], np.cumsum(c)]).astype(int) for c in sub.chunks]
    out: np.ndarray | None = None
    for n, pos in enumerate(np.ndindex(*parts.shape)):
        block, blocks[n] = np.asarray(blocks[n]), None  # freed once placed
        where = tuple(slice(starts[a][i], starts[a][i + 1]) for a, i in enumerate(pos))
        want = tuple(int(w.stop - w.start) for w in where)
        if block.shape != want:
            raise WriteError(
                f"{dest}: a block of the volume's dask array computed shape {block.shape}, but "
                f"the array declares {want} there (block {pos} of the slab {index}); fix the "
                "chunks= (or drop_axis/new_axis) of the map_blocks that made it; nothing written"
            )
        if len(blocks) == 1:
            return np.asfortranarray(block, dtype=dtype)
        if out is None:
            out = np.empty(sub.shape, dtype=dtype, order="F")
        out[where] = block  # casts to dtype
    assert out is not None
    return out


def _write_data(vol: Volume, out: BinaryIO, dtype: np.dtype, progress: bool, dest: str) -> int:
    """Write the voxel data in file order, one slab (:func:`_slabs`) in memory at a time while the
    one before it is written; returns the bytes written. The slabs are computed in the calling
    thread (dask keeps a thread pool per thread that computes: a throw-away thread would leave
    one behind) and written by a writer thread."""
    from .progress import bar as _bar

    data = vol.data
    # A volume straight from a reader (or a box of one) is read by its plan, slab by slab, as
    # Volume.compute reads: only each slab's region, with no graph. Through dask, a gzip
    # source without a saved index chains its blocks in file order, so each slab's compute
    # would read the stream from its start again.
    plan = as_plan_array(data) if direct_compute_allowed() else None
    if data.dtype != dtype:
        data = data.astype(dtype)
    plane = max(1, vol.shape[0] * vol.shape[1] * dtype.itemsize)
    bar = _bar(vol.nbytes // plane, desc="writing NIfTI", unit="slices", enabled=progress)
    written = 0

    def write(block: np.ndarray) -> int:
        # a block in Fortran order is exactly the bytes NIfTI stores
        view = memoryview(block.T).cast("B")  # type: ignore[arg-type]
        out.write(view)
        done = written + len(view)
        bar.update(done // plane - written // plane)  # (i, j) slices completed
        return len(view)

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as writer:
        pending: concurrent.futures.Future[int] | None = None
        try:
            for index in _slabs(vol.shape, vol.chunks, dtype.itemsize, chunk_budget()):
                if plan is not None:
                    bounds = tuple(
                        (sl.start or 0, n if sl.stop is None else sl.stop)
                        for sl, n in zip(index, vol.shape, strict=True)
                    )
                    block = np.asfortranarray(plan.sub(bounds).compute(), dtype=dtype)
                else:
                    block = _compute_slab(data, index, dtype, dest)
                if pending is not None:
                    written += pending.result()
                pending = writer.submit(write, block)
                del block
            if pending is not None:
                written += pending.result()
                pending = None
        finally:
            if pending is not None:
                pending.cancel()
    bar.close()
    return written


def _check_destination(
    vol: Volume, dest: str, where: str, overwrite: bool, sidecars: bool
) -> list[str]:
    """Refuse a bad name or (without ``overwrite``) an existing file, ``where`` being the file
    written (:func:`~lazyvol._location.written_through`); returns the names of the sidecar
    files there (any lazyvol writes for that name, ``sidecars`` being true; through a link, for
    the file it names too), which the write replaces or removes where present when it publishes.
    With ``sidecars``, another image whose sidecars have these names (``.nii`` beside
    ``.nii.gz``: :func:`lazyvol.sidecar.check_shared`) is refused whatever ``overwrite`` says
    when the write would replace, remove or write one of them: lazyvol does not change another
    image's sidecars (checked again under the folders' lock before publishing: ``_publish``)."""
    if not dest.lower().endswith((".nii", ".nii.gz")):
        raise WriteError(f"{dest}: a NIfTI file name must end in .nii or .nii.gz")
    if os.path.isdir(dest):
        raise WriteError(f"{dest}: is a directory; choose a file name")
    if os.path.lexists(where) and not overwrite:
        raise WriteError(f"{dest}: file exists; pass overwrite=True to replace it (left untouched)")
    parent = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(parent):
        raise WriteError(f"{dest}: the folder {parent} does not exist; create it first")
    if not sidecars:
        return []
    names, taken = check_shared(vol.meta, dest, where)
    for name in names:  # (replaced or removed when the set is published: not a FIFO or device)
        check_written_file(name, name, follow=False)
    if taken and not overwrite:
        ours = set(sidecar_paths(vol.meta, dest))
        what = (
            "replace it"
            if taken[0] in ours
            else "remove it (this volume has no such sidecar, and the file would be taken as "
            "the new image's)"
            if taken[0] in (*sidecar_paths(vol.meta, dest, every=True), own_context(dest))
            else f"remove it (it describes the file {where} the link names, which this write "
            "replaces; the new sidecars are written beside the link)"
        )
        raise WriteError(
            f"{taken[0]}: sidecar file exists; pass overwrite=True to {what}, or sidecars=False "
            "to leave it (nothing written)"
        )
    return names


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
        The volume; computed one slab of at most the chunk budget at a time (two in memory).
    path : str or path-like
        Destination ending in ``.nii`` or ``.nii.gz``.
    overwrite : bool
        Replace an existing file (atomically, by renaming the finished file over it). With
        ``sidecars``, every sidecar lazyvol writes for that name (``.json``, ``.bval``,
        ``.bvec``, ``_aslcontext.tsv``) that this volume has none of is removed, as dcm2niix
        ``-w 1`` does: it described the old image. The set is then replaced in an order a kill
        cannot turn into a new image beside old sidecars (see ``_publish``); readers find no
        image for a moment; a failure puts the old set back (a link: the file it names goes
        with its sidecars). Without ``overwrite``, any such sidecar present is refused, and
        (``overwrite`` or not) ``name.nii`` beside ``name.nii.gz``: they share the sidecars.
    progress : bool
        Show a tqdm progress bar.
    compresslevel : int
        gzip level for ``.nii.gz``, -1..9 (1 = fastest, nibabel's default; 9 = smallest).
    sidecars : bool
        For a DICOM-derived volume, also write the BIDS JSON sidecar (``<name>.json``) and, for a
        diffusion series, FSL ``<name>.bval`` / ``<name>.bvec`` (as dcm2niix does); see
        ``lazyvol.dicom.bids``. ``sidecars=False`` writes the image alone and leaves sidecar
        files of that name as they are, neither refused nor removed (so a sidecar written by
        hand is kept; one from an earlier conversion then describes another image).

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
    gz = gzip_wanted(dest, compresslevel)
    where = written_through(dest)  # (a symbolic link: the file it names)
    recover_sets(dest, where)
    present = _check_destination(vol, dest, where, overwrite, sidecars)
    files = sidecar_files(vol, dest) if sidecars else {}
    dtype = np.dtype(np.uint8) if vol.dtype.kind == "b" else vol.dtype.newbyteorder("=")
    hdr = nifti_header(vol, dtype, dest)
    tmp, lock = _temp_file(where)
    try:
        with open(tmp, "wb") as raw:
            out: Any = _ParallelGzip(raw, compresslevel, min(4, os.cpu_count() or 1)) if gz else raw
            try:
                _write_header(hdr, out)
                written = _write_data(vol, out, dtype, progress, dest)
                expected = int(np.prod(vol.shape, dtype=np.int64)) * dtype.itemsize
                if written != expected:  # a partial or overlong file must never be published
                    raise WriteError(
                        f"{dest}: {written} bytes of voxel data were written, but the header "
                        f"states {expected} (shape {vol.shape}, {dtype}); nothing written"
                    )
            except BaseException:
                if gz:
                    out.abort()
                raise
            if gz:
                out.close()
            raw.flush()
            os.fsync(raw.fileno())
        try:
            _publish(tmp, where, overwrite, files, present, (vol.meta, dest) if sidecars else None)
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
    finally:
        release_temp_dir(lock)  # (held until the file is published or removed)
    return dest


def _publish(
    tmp: str,
    where: str,
    overwrite: bool,
    files: dict[str, str],
    names: list[str],
    shared: tuple[dict[str, Any], str] | None = None,
) -> None:
    """Move the finished image ``tmp`` to ``where`` with its sidecars ``files`` (path: text),
    replacing the old image and the sidecar files of ``names`` there (:func:`_check_destination`)
    present now, under the folders' lock (:func:`lazyvol._fileset.publish_lock`): the set another
    writer published since the check is replaced whole too.

    With no sidecar on either side the image replaces the old one in one rename. Else the set is
    replaced as one (:mod:`lazyvol._fileset`): the new sidecars are written to temporary files (a
    full disk fails here, with the old set intact); the old files are linked aside; the old image
    is removed, then the old sidecars; the new sidecars are put in place, the image last; then
    the old files aside are deleted. Any failure (an interrupt too) removes what was published
    and puts the old set back; a kill leaves the old set, the new set, or sidecars without an
    image, and the next write of the name puts the old set back when the new image was not
    published (:func:`lazyvol._fileset.recover_set`). Readers find no image for the moment
    between removal and rename.

    ``shared``: the volume's meta and the name given, whose check of the images sharing the
    sidecar names (:func:`lazyvol.sidecar.check_shared`) is made again under the lock: another
    writer may have published one (``out.nii.gz`` beside ``out.nii``) since this write's check,
    and its sidecars would be replaced or removed.

    Raises
    ------
    FileExistsError
        Without ``overwrite``, the image was created by someone else meanwhile (the sidecars
        just published are removed again).
    WriteError
        Without ``overwrite``, a sidecar was created by someone else meanwhile; or ``shared``
        refused (nothing changed).
    """
    with publish_lock(os.path.dirname(where), *(os.path.dirname(p) for p in [*files, *names])):
        if shared is not None:  # (an image sharing the sidecar names published since the check)
            check_shared(*shared, where)
        present = [p for p in names if os.path.lexists(p)]
        if not files and not present:
            publish_file(tmp, where, overwrite=overwrite)
            return
        temps: list[tuple[str, int | None, str]] = []
        published: list[str] = []
        aside: list[Aside] = []
        try:
            sweep(files)  # (what killed writers of these names left; one listing)
            for path, text in files.items():
                part, lock = make_temp_file(path)
                temps.append((part, lock, path))
                with open(part, "w", encoding="utf-8") as f:
                    f.write(text)
                    f.flush()
                    os.fsync(f.fileno())
            if overwrite:
                aside = set_aside([where, *present])
                for old in (where, *present):  # the image first: no image from here on
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(old)
                fsync_dir(os.path.dirname(where))
            for part, _lock, path in temps:
                try:
                    link_in(part, path)
                except FileExistsError as exc:
                    raise WriteError(
                        f"{path}: created by someone else while writing; left untouched"
                    ) from exc
                published.append(path)
            publish_file(tmp, where, overwrite=overwrite)
        except BaseException:
            for path in published:  # (no image beside them now: removed)
                _unlink_quiet(path)
            try:
                put_back(aside)
            finally:
                aside = []  # (a second interrupt in put_back: the next write recovers the rest)
            raise
        finally:
            drop(aside)  # (the new set is in place)
            for part, lock, _path in temps:
                _unlink_quiet(part)
                release_temp_dir(lock)


def _write_header(hdr: Any, out: Any) -> None:
    """The header, the 4-byte extension flag and the extensions (the data follow), serialised
    first: nibabel's extensions ask the file for tell(), which lazyvol's gzip stream has not."""
    hdr.set_data_offset(hdr.sizeof_hdr + 4 + hdr.extensions.get_sizeondisk())
    head = io.BytesIO()
    hdr.write_to(head)
    out.write(head.getvalue())


def _temp_file(dest: str) -> tuple[str, int | None]:
    """The locked temporary file a write of ``dest`` fills (``_fsutil.make_temp_file``), after
    removing what killed writes to ``dest`` left, unless still writing."""
    sweep_leftovers(dest)
    try:
        return make_temp_file(dest)
    except OSError as exc:
        raise WriteError(
            f"{dest}: writing failed ({exc.strerror or exc}); choose a writable location with "
            "free space"
        ) from exc


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
