"""Tool functions shared by several case groups (run inside the worker process).

Each function is the untimed *preparation* of one measurement: it imports what it needs and
returns the zero-argument callable that is timed. Imports stay inside the functions so a worker
loads only what its own tool needs, and never inside the returned callable: a cold run times the
preparation apart as ``import_s``, so an import in the work would count as the tool's first call.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

Work = Callable[[], Any]

#: Bytes per slab of the nibabel ``dataobj`` loop: the same as lazyvol's default chunk budget.
SLAB_BYTES = 32 * 2**20


def _index(
    axis: int, pos: int | list[int], ndim: int = 3, size: int = 1
) -> tuple[slice | int, ...]:
    """``[..., pos, ...]`` on ``axis`` (an int index), or a block ``pos[a]:pos[a]+size`` on all axes."""
    if isinstance(pos, list):
        return tuple(slice(p, p + size) for p in pos)
    idx: list[slice | int] = [slice(None)] * ndim
    idx[axis] = pos
    return tuple(idx)


# -- lazyvol -----------------------------------------------------------------------------------------


def lazyvol_mean(
    path: str, scheduler: str | None = None, gzip_threads: int = 0, **open_kw: Any
) -> Work:
    """``lazyvol.open(path).data.mean().compute()`` (open included in the time), as a script
    writes it: dask chooses the scheduler (``scheduler`` names one; any named scheduler makes
    dask import ``dask.distributed`` to look for a client, which a plain ``compute()`` after
    lazyvol's open does not).

    ``gzip_threads``: rapidgzip's decompression threads (``LAZYVOL_GZIP_THREADS``; 0: lazyvol's
    default from the cores and the memory budget). The script's own imports (lazyvol, and
    dask.array, which ``.data.mean()`` uses) are the preparation."""
    if gzip_threads:
        os.environ["LAZYVOL_GZIP_THREADS"] = str(int(gzip_threads))
    import dask.array  # noqa: F401  (imported by the user's code: .data is a dask array)

    import lazyvol as lv

    def work() -> float:
        kw = {} if scheduler is None else {"scheduler": scheduler}
        return float(lv.open(path, **open_kw).data.mean().compute(**kw))

    return work


def lazyvol_stats(path: str, **open_kw: Any) -> Work:
    """``lazyvol.stats(lazyvol.open(path))``: every statistic in one pass; returns the mean."""
    import lazyvol as lv

    def work() -> float:
        return float(lv.stats(lv.open(path, **open_kw)).mean)

    return work


def lazyvol_slice(path: str, axis: int = 2, pos: Any = 0, size: int = 1) -> Work:
    """``lazyvol.open(path)[index].compute()`` for one slice (or a ``size``-cube block), as a
    user writes it: the Volume's own ``compute`` (a small read runs its plan directly)."""
    import lazyvol as lv

    if isinstance(pos, list):
        index: tuple[slice, ...] = _index(axis, pos, size=size)  # type: ignore[assignment]
    else:
        index = tuple(slice(pos, pos + 1) if a == axis else slice(None) for a in range(3))

    def work() -> np.ndarray:
        out = lv.open(path)[index].compute()
        return out if isinstance(pos, list) else np.squeeze(out, axis=axis)

    return work


def lazyvol_slice_loop(path: str, axis: int = 2) -> Work:
    """Every slice of a file in turn, ``lazyvol.open(path)[..., k:k+1, ...].compute()``: a script
    walking through a volume (open included)."""
    import lazyvol as lv

    def work() -> dict[str, Any]:
        vol = lv.open(path)
        total = 0.0
        for k in range(vol.shape[axis]):
            index = tuple(slice(k, k + 1) if a == axis else slice(None) for a in range(3))
            total += float(vol[index].compute().sum())
        return {"sum": total}

    return work


def lazyvol_open(path: str) -> Work:
    """``lazyvol.open(path)``: header, affine, read plan and dask graph, no pixel data."""
    import lazyvol as lv

    def work() -> dict[str, Any]:
        vol = lv.open(path)
        return {"shape": list(vol.shape)}

    return work


def lazyvol_build_index(path: str) -> Work:
    """``lazyvol.nifti.build_gzip_index(path)``: inflate once, save the seek index."""
    from lazyvol.nifti import build_gzip_index

    def work() -> dict[str, Any]:
        return {"index_bytes": os.path.getsize(build_gzip_index(path))}

    return work


# -- nibabel -----------------------------------------------------------------------------------------


def nib_fdata_mean(path: str) -> Work:
    """``nibabel.load(path).get_fdata().mean()``: what most scripts do."""
    import nibabel as nib

    def work() -> float:
        return float(nib.load(path).get_fdata().mean())

    return work


def nib_slab_mean(path: str, slab_bytes: int = SLAB_BYTES) -> Work:
    """Mean by a loop over ``img.dataobj[..., k0:k1]`` slabs of ``slab_bytes``.

    ``keep_file_open=True`` keeps one (indexed_gzip) handle for ``.nii.gz`` so the loop inflates the
    file once; nibabel's default reopens the file per slab and re-inflates from the start each time.
    This is the strongest form of the baseline.
    """
    import nibabel as nib

    def work() -> float:
        img: Any = nib.load(path, keep_file_open=True)
        shape = img.shape
        per_slice = int(np.prod(shape[:2])) * img.get_data_dtype().itemsize
        step = max(1, slab_bytes // per_slice)
        total = 0.0
        for k0 in range(0, shape[2], step):
            slab = np.asarray(img.dataobj[:, :, k0 : k0 + step])
            total += float(slab.sum(dtype=np.float64))
        return total / float(np.prod(shape))

    return work


def nib_slice(path: str, axis: int = 2, pos: Any = 0, size: int = 1) -> Work:
    """``np.asarray(nibabel.load(path).dataobj[index])`` (nibabel reads only what it needs)."""
    import nibabel as nib

    index = _index(axis, pos, size=size)

    def work() -> np.ndarray:
        img: Any = nib.load(path)
        return np.asarray(img.dataobj[index])

    return work


def nib_slice_loop(path: str, axis: int = 2) -> Work:
    """Every slice in turn through ``nibabel.load(path, keep_file_open=True).dataobj`` (one
    indexed_gzip handle kept, its seek index growing as it reads: nibabel's fastest way)."""
    import nibabel as nib

    def work() -> dict[str, Any]:
        img: Any = nib.load(path, keep_file_open=True)
        total = 0.0
        for k in range(img.shape[axis]):
            total += float(np.asarray(img.dataobj[_index(axis, k)]).sum())
        return {"sum": total}

    return work


def nib_open(path: str) -> Work:
    """``nibabel.load(path)``: header and affine, no pixel data."""
    import nibabel as nib

    def work() -> dict[str, Any]:
        return {"shape": list(nib.load(path).shape)}

    return work


# -- raw limits --------------------------------------------------------------------------------------


def memmap_mean(
    path: str, offset: int, shape: list[int], dtype: str, slope: float = 1.0, inter: float = 0.0
) -> Work:
    """``np.memmap(...).mean()`` over the image data: the uncompressed raw limit (one thread).
    A scaled file's ``slope`` and ``inter`` are applied to the mean (exact: the scaling is linear),
    so the value is comparable with every other tool's."""

    def work() -> float:
        mm = np.memmap(
            path, dtype=np.dtype(dtype), mode="r", offset=offset, shape=tuple(shape), order="F"
        )
        value = float(mm.mean(dtype=np.float64)) * slope + inter
        del mm
        return value

    return work


def gzip_cli(path: str) -> Work:
    """``gzip -dc path > /dev/null``: the command-line inflate limit."""
    exe = shutil.which("gzip")
    if exe is None:
        raise ImportError("no gzip executable on PATH")

    from ..memory import run_child

    def work() -> None:
        run_child([exe, "-dc", path], stdout=subprocess.DEVNULL)

    return work


def _igzip_kwargs() -> dict[str, Any]:
    try:
        from lazyvol.nifti import GZ_SPACING
    except ImportError:
        GZ_SPACING = 4 * 2**20
    return {"spacing": GZ_SPACING, "readbuf_size": 2**20}


#: Output buffer of the inflate baselines, reused for the whole stream: the inflate alone, as a
#: streaming reader does it (lazyvol's first pass reads 16 MiB blocks), with no whole-volume
#: allocation in the timed work (the first touch of fresh memory is slow on this VM, and how slow
#: varies between runs).
INFLATE_BUFFER = 16 * 2**20


def _inflate_all(handle: Any, limit: int) -> int:
    """Read ``handle`` to its end, or ``limit`` bytes, through one reused buffer; bytes read."""
    buf = bytearray(min(INFLATE_BUFFER, max(1, limit)))
    view = memoryview(buf)
    got = 0
    while got < limit:
        n = handle.readinto(view[: min(len(view), limit - got)])
        if not n:
            break
        got += n
    return got


def igzip_read(path: str, stream_bytes: int) -> Work:
    """indexed_gzip single-stream decompression of the whole file (the inflate alone, through one
    reused :data:`INFLATE_BUFFER`)."""
    import indexed_gzip as igzip

    kw = _igzip_kwargs()

    def work() -> dict[str, Any]:
        with igzip.IndexedGzipFile(path, **kw) as f:
            got = _inflate_all(f, stream_bytes)
        if got != stream_bytes:
            raise RuntimeError(f"{path}: inflated {got} bytes, expected {stream_bytes}")
        return {"bytes": got}

    return work


def zlib_read(path: str, stream_bytes: int) -> Work:
    """Python's zlib inflating the whole file in one stream, building no index (the floor of a
    single-stream zlib reader: indexed_gzip runs the same zlib, stopping at every deflate block
    to place its seek points), output in pieces of at most :data:`INFLATE_BUFFER`."""
    import zlib

    def work() -> dict[str, Any]:
        d = zlib.decompressobj(wbits=47)  # gzip or zlib header, detected
        got = 0
        with open(path, "rb") as f:
            while got < stream_bytes and not d.eof:
                data = d.unconsumed_tail or f.read(2**20)
                if not data:
                    break
                got += len(d.decompress(data, INFLATE_BUFFER))
        got = min(got, stream_bytes)  # (as the other baselines, which stop there)
        if got != stream_bytes:
            raise RuntimeError(f"{path}: inflated {got} bytes, expected {stream_bytes}")
        return {"bytes": got}

    return work


def igzip_parallel(path: str, stream_bytes: int, index_file: str, threads: int = 2) -> Work:
    """Decompression of the whole file by ``threads`` threads, each from a saved seek index
    through a reused buffer of its own."""
    import indexed_gzip as igzip

    kw = _igzip_kwargs()

    def work() -> dict[str, Any]:
        bounds = np.linspace(0, stream_bytes, threads + 1).astype(np.int64)
        got = [0] * threads
        errors: list[BaseException] = []

        def part(i: int) -> None:
            try:
                with igzip.IndexedGzipFile(path, **kw) as f:
                    f.import_index(index_file)
                    f.seek(int(bounds[i]))
                    got[i] = _inflate_all(f, int(bounds[i + 1] - bounds[i]))
            except BaseException as exc:  # re-raised in the main thread
                errors.append(exc)

        pool = [threading.Thread(target=part, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        if errors:
            raise errors[0]
        if sum(got) != stream_bytes:
            raise RuntimeError(f"{path}: inflated {sum(got)} bytes, expected {stream_bytes}")
        return {"bytes": sum(got)}

    return work


def rapidgzip_read(path: str, stream_bytes: int, threads: int = 1) -> Work:
    """rapidgzip decompression of the whole file on ``threads`` threads (the inflate alone,
    through one reused :data:`INFLATE_BUFFER`)."""
    import rapidgzip

    def work() -> dict[str, Any]:
        with rapidgzip.RapidgzipFile(path, parallelization=threads) as f:
            got = _inflate_all(f, stream_bytes)
        if got != stream_bytes:
            raise RuntimeError(f"{path}: inflated {got} bytes, expected {stream_bytes}")
        return {"bytes": got}

    return work
