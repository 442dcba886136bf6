"""Zarr: conversion to a Zarr store, and the mean from the Zarr cache vs from the ``.nii.gz`` source.

Source: the int16 ``.nii.gz`` of the NIfTI group (512x512x1024 by default). Conversion is
``lazyvol.open(src).to_zarr(store)`` against a plain streaming write of the same data with zarr
itself (nibabel ``dataobj`` slabs written into an array of 256x256x64 chunks with lazyvol's
default codec, zstd level 3). Reads: ``lazyvol.open(src, cache=dir)`` once the cache entry exists,
``lazyvol.open(store)``, ``lazyvol.open(src)`` (decompressing the ``.nii.gz``; no seek index), and a
plain zarr read of a store without checksums (``da.from_zarr(...).mean()``, same chunks and codec as
lazyvol's store): the reference for what lazyvol's checks (crc32c codec, manifest) cost on reading.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np

from .. import data
from ..harness import Context, Measure
from . import nifti
from .tools import Work

GROUP = "zarr"
M = "benchmarks.cases.zarr"
T = "benchmarks.cases.tools"
#: Chunks of the plain streaming write (volume order).
CHUNKS = (256, 256, 64)
#: lazyvol's default disk chunks (volume order): the plain store read without checksums.
LAZYVOL_CHUNKS = (256, 256, 32)


def lazyvol_to_zarr(path: str, store: str) -> Work:
    """``lazyvol.open(path).to_zarr(store)`` (the destination is removed first, untimed)."""
    import lazyvol as lv

    shutil.rmtree(store, ignore_errors=True)

    def work() -> dict[str, Any]:
        lv.open(path).to_zarr(store)
        return {"store_bytes": _du(store)}

    return work


def plain_zarr_write(path: str, store: str, dtype: str = "") -> Work:
    """A streaming write with zarr itself: nibabel slabs into ``zarr.create_array`` (zstd), in
    ``dtype``, the values' dtype as lazyvol stores them (default: the file's stored dtype)."""
    import nibabel as nib
    import zarr
    from zarr.codecs import ZstdCodec

    shutil.rmtree(store, ignore_errors=True)

    def work() -> dict[str, Any]:
        img: Any = nib.load(path, keep_file_open=True)
        shape = tuple(int(s) for s in img.shape)
        chunks = _volume_chunks(shape, CHUNKS)
        arr = zarr.create_array(
            store,
            shape=shape,
            dtype=np.dtype(dtype or img.get_data_dtype()).newbyteorder("="),
            chunks=chunks,
            compressors=ZstdCodec(level=3),
            zarr_format=3,
        )
        step = chunks[2]
        for k0 in range(0, shape[2], step):
            arr[:, :, k0 : k0 + step] = np.asarray(img.dataobj[:, :, k0 : k0 + step])
        return {"store_bytes": _du(store)}

    return work


def cache_mean(path: str, cache: str) -> Work:
    """``lazyvol.open(path, cache=cache).data.mean()`` (the cache entry already exists). The
    script's own imports (lazyvol, and dask.array, which ``.data.mean()`` uses) are the
    preparation, as for the ``.nii.gz`` source it is compared with (:func:`tools.lazyvol_mean`).
    Whatever the open imports is in the timed call (for a local cache entry lazyvol wrote, its
    direct chunk reader, not zarr-python)."""
    import dask.array  # noqa: F401  (imported by the user's code: .data is a dask array)

    import lazyvol as lv

    def work() -> float:
        return float(lv.open(path, cache=cache).data.mean().compute())

    return work


def plain_zarr_mean(path: str) -> Work:
    """``da.from_zarr(zarr.open_array(path)).mean()`` on dask chunks equal to the Zarr chunks
    (``path``: a plain Zarr v3 array store; its warm-up reads a tiny one)."""
    import dask.array as da
    import zarr

    def work() -> float:
        arr = zarr.open_array(path, mode="r")
        return float(da.from_zarr(arr, chunks=arr.chunks).mean().compute())

    return work


def _write_plain_store(src: str, store: str, dtype: str) -> None:
    """The source as a plain Zarr v3 array, lazyvol's default disk chunks and codec, no crc32c, in
    ``dtype`` (the values' dtype as lazyvol stores them: a scaled file's values are not cut)."""
    import nibabel as nib
    import zarr
    from zarr.codecs import ZstdCodec

    img: Any = nib.load(src)
    shape = tuple(int(s) for s in img.shape)
    disk = tuple(reversed(shape))
    chunks = tuple(reversed(_volume_chunks(shape, LAZYVOL_CHUNKS)))
    arr = zarr.create_array(
        store,
        shape=disk,
        dtype=np.dtype(dtype).newbyteorder("="),
        chunks=chunks,
        compressors=ZstdCodec(level=3),
        zarr_format=3,
        config={"write_empty_chunks": True},
    )
    step = chunks[-3]  # disk axes (t, k, j, i) or (k, j, i): write slabs along k
    later = (slice(None),) * (len(shape) - 3)
    for k0 in range(0, shape[2], step):
        arr[(*later, slice(k0, k0 + step))] = np.asarray(img.dataobj[:, :, k0 : k0 + step]).T


def _volume_chunks(shape: tuple[int, ...], spatial: tuple[int, int, int]) -> tuple[int, ...]:
    """Chunks in volume order: ``spatial`` over (i, j, k), 1 along later axes (a 4-D ``--input``
    gets 4-D chunks), clipped to the shape."""
    full = (*spatial, *(1,) * (len(shape) - 3))
    return tuple(min(c, n) for c, n in zip(full, shape))


def _du(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)


def source(ctx: Context) -> str | None:
    if ctx.input is not None:
        p = str(ctx.input)
        return p if p.lower().endswith((".nii", ".nii.gz")) else None
    return str(ctx.data_dir / "nifti" / data.nifti_name(nifti.shape_for(ctx), "int16", True))


def plan(ctx: Context) -> list[Measure]:
    src = source(ctx)
    if src is None:
        return []
    tmp = ctx.data_dir / "tmp"
    c: dict[str, Any] = {"group": GROUP, "files": [src]}
    conv = "convert to Zarr"
    cache = str(ctx.data_dir / "cache" / "zarr-cache")
    store = str(ctx.data_dir / "zarr" / "store.zarr")
    return [
        Measure(
            case=conv,
            tool="vol.to_zarr",
            module=M,
            func="lazyvol_to_zarr",
            args={"path": src, "store": str(tmp / "to_zarr.zarr")},
            ref=True,
            **c,
        ),
        Measure(
            case=conv,
            tool="plain streaming zarr write",
            module=M,
            func="plain_zarr_write",
            args={"path": src, "store": str(tmp / "plain.zarr")},
            **c,
        ),
        Measure(
            case="mean",
            tool="lazyvol.open(src, cache=True), cached",
            module=M,
            func="cache_mean",
            args={"path": src, "cache": cache},
            ref=True,
            **c,
        ),
        Measure(
            case="mean",
            tool="lazyvol.open(store)",
            module=T,
            func="lazyvol_mean",
            args={"path": store},
            **c,
        ),
        Measure(
            case="mean",
            tool="plain zarr read, no checksums",
            module=M,
            func="plain_zarr_mean",
            args={"path": str(ctx.data_dir / "zarr" / "plain.zarr")},
            **c,
        ),
        Measure(
            case="mean",
            tool="lazyvol.open(.nii.gz)",
            module=T,
            func="lazyvol_mean",
            args={"path": src},
            **c,
        ),
    ]


def prepare(ctx: Context, measures: list[Measure]) -> None:
    import lazyvol as lv

    src = source(ctx)
    if src is None:
        return
    if ctx.input is None:
        data.nifti(ctx.data_dir, nifti.shape_for(ctx), "int16", True)
    info = data.nifti_info(src)
    store = ctx.data_dir / "zarr" / "store.zarr"
    cache = ctx.data_dir / "cache" / "zarr-cache"
    plain = ctx.data_dir / "zarr" / "plain.zarr"
    tools = {m.tool for m in measures}
    # Rebuilt every suite run so the entries match the current source and lazyvol version; each
    # only when a selected measure reads it.
    store.parent.mkdir(parents=True, exist_ok=True)
    vol = lv.open(src)
    if "lazyvol.open(store)" in tools:
        shutil.rmtree(store, ignore_errors=True)
        vol.to_zarr(store)
    if any(m.func == "cache_mean" for m in measures):
        shutil.rmtree(cache, ignore_errors=True)
        lv.open(src, cache=str(cache))
    if "plain zarr read, no checksums" in tools:
        shutil.rmtree(plain, ignore_errors=True)
        _write_plain_store(src, str(plain), vol.dtype.str)
    for m in measures:
        m.nbytes = info["nbytes"]
        if m.func == "plain_zarr_write":
            m.args["dtype"] = vol.dtype.str
        if m.tool == "lazyvol.open(store)":
            m.files = [str(store)]
        elif "cache" in m.tool:
            m.files = [str(cache)]
        elif m.tool == "plain zarr read, no checksums":
            m.files = [str(plain)]
