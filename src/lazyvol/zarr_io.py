"""Write and read Volumes as Zarr v3 stores with OME-Zarr 0.5 metadata.

Layout of a store written by :func:`write_zarr`::

    store/
      zarr.json                  group; attributes {"ome": {...OME-Zarr 0.5...}, "lazyvol": {...}}
      0/zarr.json, 0/c/...       full resolution array
      1/ ...                     optional downsampled levels (``levels=N``)
      nifti/zarr.json, nifti/c/0 NIfTI-Zarr: the binary NIfTI header (exact affine)
      lazyvol-manifest/zarr.json written last, an empty group whose attribute is the manifest:
                                 the store is complete only when it exists

Integrity (``lazyvol.zarr_integrity``): every chunk ends with a crc32c (codec in the array's
pipeline); the manifest lists every chunk file's size and checksum fingerprint and the SHA-256 of
every ``zarr.json``; reads verify and raise :class:`IntegrityError` naming store and chunk.

Axes. A Volume's data has axes ``(i, j, k[, t])`` (nibabel's convention). The array on disk is the
volume *transposed*: ``disk = vol.data.transpose()``, axes ``(z, y, x)`` or ``(t, z, y, x)`` in C
order, where ``x`` is ``i``, ``y`` is ``j`` and ``z`` is ``k``. A C-ordered ``(k, j, i)`` array has
exactly the byte layout of a Fortran-ordered ``(i, j, k)`` NIfTI image, and the axis order is the
one OME-Zarr requires (time, then space with x fastest). ``chunks=`` and ``shards=`` are given in
the Volume's axis order ``(i, j, k[, t])`` and transposed too.

Geometry. OME-Zarr can only express a scale and a translation per axis. When the affine is
diagonal with positive voxel sizes, the OME ``scale``/``translation`` are exact (so any OME-Zarr
viewer places the image correctly). Otherwise (rotated, flipped, sheared, oblique) OME gets the
voxel sizes and a zero translation, and the exact affine lives in the ``lazyvol`` attributes (lazyvol
reads it back from there) and in the NIfTI-Zarr ``nifti`` header (for niizarr and other NIfTI-Zarr
readers). Space axes carry their RFC-4 anatomical ``orientation``.

Crash safety. The store is written into a temporary sibling directory
(``.<name>.lazyvol-tmp-<random>``), every chunk (also all-zero ones) is written, then the manifest
(every chunk file's size and checksum fingerprint) is written last, and the directory is renamed
into place. :func:`open_zarr` refuses a lazyvol store without its manifest or whose chunk files do
not match it, and every read task verifies the chunk files it reads, so a partial store is never
read as zeros. Data files are not fsynced: the guarantees hold for killed processes, not for power
loss (after which damage is detected, not repaired).

Reading. Besides lazyvol stores: OME-Zarr 0.5 (Zarr v3) and OME-Zarr 0.4 (Zarr v2) images.
"""

from __future__ import annotations

import errno
import functools
import itertools
import json
import math
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import numpy as np

from . import zarr_integrity as zi
from . import zarr_nifti
from .chunking import normalize_chunks, plan_to_dask, rechunk_source
from .config import chunk_budget
from .errors import FormatError, IntegrityError, LazyvolError, UnsupportedError, WriteError
from .geometry import check_affine
from .volume import Volume

__all__ = ["ZarrPlan", "is_lazyvol_store", "open_store", "open_zarr", "read_block", "write_zarr"]

FORMAT = "lazyvol-zarr"
#: 2: per-chunk crc32c codec and a manifest with chunk fingerprints and metadata hashes;
#: 1: no checksums (read with an :class:`~lazyvol.zarr_integrity.UnverifiedStoreWarning`).
FORMAT_VERSION = 2
#: The manifest: a Zarr group node (so Zarr clients list the store without warnings) whose
#: attribute ``lazyvol_manifest`` holds it. Format-1 stores had a plain ``lazyvol-manifest.json``.
MANIFEST = "lazyvol-manifest/zarr.json"
LEGACY_MANIFEST = "lazyvol-manifest.json"
MANIFEST_ATTR = "lazyvol_manifest"
TMP_MARK = ".lazyvol-tmp-"
OLD_MARK = ".lazyvol-old-"
OME_VERSION = "0.5"

#: Chunks smaller than this get wrapped in shards (fewer, larger files) unless ``shards=False``.
SHARD_BELOW_BYTES = 1 * 2**20
#: Target size of an automatic shard.
SHARD_TARGET_BYTES = 16 * 2**20
#: Largest dask block a write task handles (one shard or chunk at least).
WRITE_BLOCK_BYTES = 16 * 2**20

_CODECS = ("zstd", "blosc-zstd", "blosc-lz4", "gzip", "none")
_UNIT_TO_MM = {
    "angstrom": 1e-7,
    "nanometer": 1e-6,
    "micrometer": 1e-3,
    "millimeter": 1.0,
    "centimeter": 10.0,
    "decimeter": 100.0,
    "meter": 1000.0,
}
_NIFTI_TIME_UNITS = {"sec": "second", "msec": "millisecond", "usec": "microsecond", "hz": None}


# -- JSON helpers -------------------------------------------------------------------------------


def _to_json(obj: Any) -> Any:
    """JSON-safe copy of metadata: numpy values become Python ones; NaN/inf are tagged."""
    if isinstance(obj, dict):
        return {str(k): _to_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_to_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _to_json(obj.tolist())
    if isinstance(obj, np.generic):
        return _to_json(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"$float": repr(obj)}
    if isinstance(obj, bytes):
        return obj.decode("latin-1")
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    return str(obj)


def _from_json(obj: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"$float"}:
            return float(obj["$float"])
        return {k: _from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_json(v) for v in obj]
    return obj


def _read_json(path: str) -> Any:
    with open(path, "rb") as f:
        return json.loads(f.read())


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def manifest_path(store: str) -> str:
    """Path of a store's manifest: the current one, or a format-1 store's if only that exists."""
    path = os.path.join(store, MANIFEST)
    legacy = os.path.join(store, LEGACY_MANIFEST)
    return legacy if not os.path.exists(path) and os.path.exists(legacy) else path


def read_manifest(path: str) -> Any:
    """The manifest at ``path`` (from :func:`manifest_path`); raises OSError or ValueError."""
    obj = _read_json(path)
    if path.endswith(MANIFEST):
        attrs = obj.get("attributes") if isinstance(obj, dict) else None
        if not isinstance(attrs, dict) or not isinstance(attrs.get(MANIFEST_ATTR), dict):
            raise ValueError(f"no attribute {MANIFEST_ATTR!r}")
        return attrs[MANIFEST_ATTR]
    return obj


# -- chunk and codec choices ------------------------------------------------------------------------


def _axis_spec(spec: Any, shape: Sequence[int], what: str) -> tuple[int, ...]:
    """A per-axis length spec in volume order (int for every spatial axis, or a sequence)."""
    nd = len(shape)
    if isinstance(spec, int | np.integer):
        vals: list[Any] = [int(spec)] * min(3, nd) + [1] * (nd - 3)
    else:
        vals = list(spec)
        if len(vals) != nd:
            raise ValueError(f"{what}={spec!r} needs {nd} values (one per axis i, j, k[, t])")
    out = []
    for v, n in zip(vals, shape):
        if v is None or v == -1:
            out.append(max(1, int(n)))
        elif int(v) < 1:
            raise ValueError(f"{what}={spec!r}: lengths must be >= 1 (or -1/None for a whole axis)")
        else:
            out.append(min(int(v), max(1, int(n))))
    return tuple(out)


def _default_chunks(shape: Sequence[int]) -> tuple[int, ...]:
    """Default on-disk chunk in volume order: 256 x 256 x 32 spatial, one index of later axes.

    Four such chunks side by side make a 512 x 512 x 32 slab, the write block: a contiguous read
    of any NIfTI or DICOM source, small enough (16 MiB of int16) that a 2-thread write stays
    well under 256 MiB.
    """
    limits = (256, 256, 32)
    return tuple(min(max(1, int(n)), limits[ax]) if ax < 3 else 1 for ax, n in enumerate(shape))


def _auto_shards(
    chunk_disk: Sequence[int], shape_disk: Sequence[int], itemsize: int
) -> tuple[int, ...]:
    """Grow a small chunk into a shard of about SHARD_TARGET_BYTES, fastest disk axis first."""
    shard = list(chunk_disk)
    cap = [math.ceil(n / c) * c for n, c in zip(shape_disk, chunk_disk)]
    grown = True
    while grown and math.prod(shard) * itemsize < SHARD_TARGET_BYTES:
        grown = False
        for ax in reversed(range(len(shard))):
            if shard[ax] * 2 <= cap[ax] and math.prod(shard) * itemsize * 2 <= SHARD_TARGET_BYTES:
                shard[ax] *= 2
                grown = True
    return tuple(shard)


def _codec(codec: Any) -> Any:
    from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

    if codec is None or codec == "none":
        return None
    if not isinstance(codec, str):
        return codec  # a zarr codec object chosen by the caller
    name = codec.lower()
    if name == "zstd":
        return ZstdCodec(level=3)
    if name == "blosc-zstd":
        return BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")
    if name == "blosc-lz4":
        return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")
    if name == "gzip":
        return GzipCodec(level=5)
    raise ValueError(f"codec={codec!r} is not one of {', '.join(_CODECS)} (all lossless)")


def _write_blocks(unit: Sequence[int], shape: Sequence[int], itemsize: int) -> tuple[int, ...]:
    """Dask block shape for writing: whole shards/chunks, grown fastest-axis first to 16 MiB.

    Small blocks keep the writer's memory low: each thread holds one block plus zarr's encode
    buffers for it, and the source is re-planned to read exactly these blocks.
    """
    block = list(unit)
    budget = max(min(chunk_budget(), WRITE_BLOCK_BYTES), math.prod(unit) * itemsize)
    for ax in reversed(range(len(block))):
        full = math.ceil(shape[ax] / unit[ax]) * unit[ax]
        while block[ax] < full and math.prod(block) * itemsize * 2 <= budget:
            block[ax] = min(block[ax] * 2, full)
        if block[ax] < full:
            break
    return tuple(block)


def _downsample(x: da.Array, factors: Sequence[int]) -> da.Array:
    """Block mean by ``factors`` (disk order); odd lengths padded by repeating the edge."""
    pad = [(0, (n % f) if f > 1 else 0) for n, f in zip(x.shape, factors)]
    if any(p for _, p in pad):
        x = da.pad(x, pad, mode="edge")
    x = x.rechunk(tuple(max(f, (c[0] // f) * f) for c, f in zip(x.chunks, factors)))
    axes = {ax: f for ax, f in enumerate(factors) if f > 1}
    dtype = x.dtype
    if not axes:
        return x
    if dtype.kind in "iub":
        y = da.coarsen(np.mean, x.astype(np.float64), axes, trim_excess=False)
        if dtype.kind == "b":
            return y >= 0.5
        info = np.iinfo(dtype)
        return da.clip(da.rint(y), info.min, info.max).astype(dtype)
    return da.coarsen(np.mean, x, axes, trim_excess=False).astype(dtype)


# -- geometry -> OME ---------------------------------------------------------------------------------


def _is_positive_diagonal(affine: np.ndarray) -> bool:
    lin = affine[:3, :3]
    return bool(np.all(lin[~np.eye(3, dtype=bool)] == 0) and np.all(np.diag(lin) > 0))


def _level_affine(affine: np.ndarray, factors_ijk: Sequence[int]) -> np.ndarray:
    """Affine of a block-mean downsampled level: voxel centres move to the block centres."""
    f = np.asarray(factors_ijk, dtype=np.float64)
    out = affine.copy()
    out[:3, :3] = affine[:3, :3] * f[None, :]
    out[:3, 3] = affine[:3, 3] + affine[:3, :3] @ ((f - 1) / 2)
    return out


def _ome_axes(
    ndim: int, meta: dict[str, Any], affine: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """OME axes, disk order; with ``affine``, each space axis has its RFC-4 ``orientation``."""
    axes: list[dict[str, Any]] = []
    if ndim > 3:
        t: dict[str, str] = {"name": "t", "type": "time"}
        units = meta.get("xyzt_units")
        if isinstance(units, list) and len(units) == 2:
            unit = _NIFTI_TIME_UNITS.get(str(units[1]))
            if unit:
                t["unit"] = unit
        axes.append(t)
        for extra in range(ndim - 4):
            axes.insert(0, {"name": f"dim{5 + extra}"})
    space: list[dict[str, Any]] = [
        {"name": n, "type": "space", "unit": "millimeter"} for n in ("x", "y", "z")
    ]
    if affine is not None:
        for ax, orient in zip(space, zarr_nifti.anatomical_orientations(affine)):
            if orient is not None:
                ax["orientation"] = orient
    return axes + space[::-1]


def _ome_transforms(affine: np.ndarray, ndim: int, meta: dict[str, Any]) -> list[dict[str, Any]]:
    sizes = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    if _is_positive_diagonal(affine):
        scale_xyz = list(np.diag(affine[:3, :3]))
        trans_xyz = list(affine[:3, 3])
    else:
        scale_xyz = list(sizes)
        trans_xyz = [0.0, 0.0, 0.0]
    lead_scale = [1.0] * (ndim - 3)
    if ndim > 3:
        spacing = meta.get("axis4_spacing")
        if isinstance(spacing, int | float) and math.isfinite(spacing) and spacing > 0:
            lead_scale[-1] = float(spacing)
    scale = lead_scale + [float(v) for v in reversed(scale_xyz)]
    trans = [0.0] * (ndim - 3) + [float(v) for v in reversed(trans_xyz)]
    return [{"type": "scale", "scale": scale}, {"type": "translation", "translation": trans}]


# -- writing ---------------------------------------------------------------------------------------------


def is_lazyvol_store(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a directory holding a Zarr group written by lazyvol."""
    zj = os.path.join(os.fspath(path), "zarr.json")
    try:
        attrs = _read_json(zj).get("attributes", {})
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(attrs, dict) and isinstance(attrs.get("lazyvol"), dict)


def _count_chunk_files(level_dir: str) -> tuple[int, int]:
    """Number and total size of the chunk files under ``level_dir/c``."""
    n = 0
    size = 0
    stack = [os.path.join(level_dir, "c")]
    while stack:
        d = stack.pop()
        try:
            it = os.scandir(d)
        except FileNotFoundError:
            continue
        with it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.is_file(follow_symlinks=False):
                    n += 1
                    size += e.stat(follow_symlinks=False).st_size
    return n, size


def _inspect(dest: str) -> list[str] | None:
    """Entries of the directory at ``dest`` as one consistent look, ``[]`` if nothing is there,
    None for something that is not a directory.

    A concurrent writer may rename stores in and out of ``dest`` (and delete the ones it moved
    away) while we look: the directory is opened once, listed through that handle, and the look is
    repeated when the object listed is no longer the one at ``dest``.
    """
    for _attempt in range(50):
        try:
            fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            return []
        except OSError:
            return None if os.path.lexists(dest) else []
        try:
            entries = os.listdir(fd)
            ino = os.fstat(fd).st_ino
        finally:
            os.close(fd)
        try:
            if os.stat(dest).st_ino == ino:
                return entries
        except FileNotFoundError:
            return []
    raise WriteError(f"{dest}: keeps changing under concurrent writers; try again")


def _check_destination(dest: str, overwrite: bool) -> None:
    """Refuse to replace anything but an empty directory or (with ``overwrite``) a Zarr store."""
    entries = _inspect(dest)
    if entries == [] and not os.path.islink(dest):
        return  # nothing there, or an empty directory (replaced silently)
    if not overwrite:
        raise WriteError(
            f"{dest}: destination already exists; pass overwrite=True to replace it "
            "(the existing store is left untouched)"
        )
    if entries is None or "zarr.json" not in entries:
        raise WriteError(
            f"{dest}: exists and is not a Zarr store (no zarr.json); refusing to replace it even "
            "with overwrite=True; remove it yourself or choose another destination"
        )


def _publish(tmp: str, dest: str, overwrite: bool) -> None:
    """Rename the finished ``tmp`` directory to ``dest`` (atomically replacing an old store)."""
    parent, base = os.path.split(dest)
    for _attempt in range(100):
        try:
            if os.path.isdir(dest) and not os.path.islink(dest) and not os.listdir(dest):
                os.rmdir(dest)
        except OSError:
            pass
        try:
            os.rename(tmp, dest)
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                raise
        if not overwrite:
            raise WriteError(
                f"{dest}: another writer created the destination while this store was written; "
                "pass overwrite=True to replace it (the other store is left untouched)"
            )
        _check_destination(dest, overwrite=True)
        old = os.path.join(parent, f".{base}{OLD_MARK}{uuid.uuid4().hex[:12]}")
        try:
            os.rename(dest, old)
        except FileNotFoundError:
            continue  # another writer moved it away first; try again
        try:
            os.rename(tmp, dest)
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
        finally:
            shutil.rmtree(old, ignore_errors=True)
    raise WriteError(
        f"{dest}: could not move the finished store into place (too many concurrent writers)"
    )


def write_zarr(
    vol: Volume,
    store: str | os.PathLike[str],
    *,
    chunks: Any = None,
    shards: Any = None,
    codec: Any = "zstd",
    overwrite: bool = False,
    progress: bool = False,
    levels: int = 1,
) -> str:
    """Write a Volume as a Zarr v3 store with OME-Zarr 0.5 metadata, streaming through dask.

    Parameters
    ----------
    vol : Volume
        The volume; its dask graph is computed block by block (peak memory about a few write
        blocks of at most 16 MiB (whole shards or chunks), whatever the volume's size; the source
        is re-planned to read exactly those blocks).
    store : str or path-like
        Destination directory (conventionally ending in ``.zarr``).
    chunks : int or sequence, optional
        On-disk chunk shape in the Volume's axis order ``(i, j, k[, t])`` (``-1`` = whole axis;
        an int applies to the spatial axes). Default ``(256, 256, 32[, 1])`` clipped to the shape.
    shards : sequence, bool or None
        Shard shape (a multiple of ``chunks``, volume order). ``None``: shard automatically when a
        chunk is under 1 MiB (shards of about 16 MiB); ``False``: never shard.
    codec : {"zstd", "blosc-zstd", "blosc-lz4", "gzip", "none"} or zarr codec
        Lossless compressor; default zstd level 3.
    overwrite : bool
        Replace an existing Zarr store at ``store`` (atomically: readers see the old or the new one).
    progress : bool
        Show a tqdm progress bar.
    levels : int
        Number of multiscale levels; level ``n`` is the block mean over ``2**n`` voxels along each
        spatial axis (computed lazily from the level above as it is written).

    Returns
    -------
    str
        Absolute path of the store.

    Raises
    ------
    WriteError
        The destination exists and ``overwrite`` is false, it is not a Zarr store, or it cannot be
        written (read-only, full); nothing is left behind and an existing store is untouched.
    UnsupportedError
        A dtype Zarr v3 cannot hold (structured/RGB).
    """
    if not isinstance(vol, Volume):
        raise TypeError(f"write_zarr needs a lazyvol.Volume, got {type(vol).__name__}")
    levels = int(levels)
    if levels < 1:
        raise ValueError(f"levels={levels} must be >= 1")
    dest = os.path.abspath(os.fspath(store))
    dtype = vol.dtype
    if dtype.kind not in "biufc" or dtype.fields is not None:
        raise UnsupportedError(
            f"{dest}: dtype {dtype} cannot be stored in Zarr v3 by lazyvol; convert first, "
            "e.g. Volume(vol.data.astype('float32'), vol.affine, meta=vol.meta)"
        )
    _check_destination(dest, overwrite)
    parent, base = os.path.split(dest)
    if not base:
        raise WriteError(f"{store}: needs a directory name")
    tmp = os.path.join(parent, f".{base}{TMP_MARK}{uuid.uuid4().hex[:12]}")
    try:
        os.mkdir(tmp)
    except OSError as exc:
        raise WriteError(
            f"{dest}: cannot create a directory in {parent} ({exc.strerror or exc}); choose a "
            "writable destination"
        ) from exc
    try:
        _write_into(tmp, vol, chunks, shards, codec, progress, levels, dest)
        _publish(tmp, dest, overwrite)
    except LazyvolError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WriteError(
            f"{dest}: writing the store failed ({exc.strerror or exc}); nothing was left behind"
        ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _write_into(
    tmp: str,
    vol: Volume,
    chunks: Any,
    shards: Any,
    codec: Any,
    progress: bool,
    levels: int,
    dest: str,
) -> None:
    import zarr

    ndim = vol.ndim
    dtype = vol.dtype.newbyteorder("=")
    shape = vol.shape
    chunk_vol = _default_chunks(shape) if chunks is None else _axis_spec(chunks, shape, "chunks")
    chunk_disk = tuple(reversed(chunk_vol))
    shape_disk = tuple(reversed(shape))
    if shards is None:
        shard_disk: tuple[int, ...] | None = None
        if math.prod(chunk_disk) * dtype.itemsize < SHARD_BELOW_BYTES:
            shard_disk = _auto_shards(chunk_disk, shape_disk, dtype.itemsize)
            if shard_disk == chunk_disk:
                shard_disk = None
    elif shards is False:
        shard_disk = None
    else:
        shard_vol = tuple(
            int(s) for s in (shards if not isinstance(shards, int) else [shards] * ndim)
        )
        if len(shard_vol) != ndim or any(s % c for s, c in zip(shard_vol, chunk_vol)):
            raise ValueError(
                f"shards={shards!r} must give one multiple of chunks={chunk_vol} per axis (i, j, k[, t])"
            )
        shard_disk = tuple(reversed(shard_vol))
    compressor = _codec(codec)
    meta = dict(vol.meta)

    # The lazyvol attribute goes in first, so an interrupted store reads as an incomplete
    # lazyvol store (no manifest), not as a foreign one; it is completed at the end.
    group = zarr.open_group(
        tmp,
        mode="w",
        zarr_format=3,
        attributes={"lazyvol": {"format": FORMAT, "version": FORMAT_VERSION, "status": "writing"}},
    )
    level_info: list[dict[str, Any]] = []
    datasets: list[dict[str, Any]] = []
    x = vol.data.transpose(tuple(reversed(range(ndim))))
    if x.dtype != dtype:
        x = x.astype(dtype)
    affine = vol.affine
    factors_total = [1, 1, 1]
    for lvl in range(levels):
        if lvl > 0:
            prev = da.from_zarr(zarr.open_array(os.path.join(tmp, str(lvl - 1)), mode="r"))
            fac_disk = [1] * (ndim - 3) + [2 if n > 1 else 1 for n in prev.shape[-3:]]
            x = _downsample(prev, fac_disk)
            f_ijk = list(reversed(fac_disk[-3:]))
            factors_total = [a * b for a, b in zip(factors_total, f_ijk)]
        lvl_shape = tuple(int(n) for n in x.shape)
        lvl_chunk = tuple(min(c, n) for c, n in zip(chunk_disk, lvl_shape))
        lvl_shard = (
            None
            if shard_disk is None
            else tuple(
                max(c, min(s, math.ceil(n / c) * c))
                for s, c, n in zip(shard_disk, lvl_chunk, lvl_shape)
            )
        )
        if lvl_shard is not None and any(s % c for s, c in zip(lvl_shard, lvl_chunk)):
            lvl_shard = None
        arr = group.create_array(
            str(lvl),
            shape=lvl_shape,
            dtype=dtype,
            chunks=lvl_chunk,
            shards=lvl_shard,
            compressors=[c for c in (compressor, zi.fast_crc32c_codec()) if c is not None],
            fill_value=0,
            dimension_names=[a["name"] for a in _ome_axes(ndim, meta)],
            config={"write_empty_chunks": True},
        )
        unit = lvl_shard or lvl_chunk
        block = _write_blocks(unit, lvl_shape, dtype.itemsize)
        if lvl == 0:
            # Plan the source reads in the write blocks (volume order is disk order reversed).
            xs = rechunk_source(vol.data, tuple(reversed(block))).transpose(
                tuple(reversed(range(ndim)))
            )
            if xs.dtype != dtype:
                xs = xs.astype(dtype)
        else:
            xs = x.rechunk(block)
        _store(
            xs, arr, progress, os.path.basename(dest) + (f" (pyramid level {lvl})" if lvl else "")
        )
        lvl_dir = os.path.join(tmp, str(lvl))
        n_inner, index_loc = zi.inner_chunks_per_file(
            _read_json(os.path.join(lvl_dir, "zarr.json"))
        )
        table = zi.scan_level(lvl_dir, n_inner, index_loc)
        n_files, n_bytes = len(table), sum(size for size, _ in table.values())
        expected = math.prod(math.ceil(n / u) for n, u in zip(lvl_shape, unit))
        if n_files != expected:
            raise WriteError(
                f"{dest}: level {lvl} has {n_files} chunk files after writing, expected {expected}"
            )
        lvl_aff = _level_affine(affine, factors_total)
        level_info.append(
            {
                "path": str(lvl),
                "shape": list(lvl_shape),
                "chunk_files": n_files,
                "chunk_bytes": n_bytes,
                "unit": list(unit),
                "affine": lvl_aff.tolist(),
                "chunks": table,
            }
        )
        datasets.append(
            {"path": str(lvl), "coordinateTransformations": _ome_transforms(lvl_aff, ndim, meta)}
        )
    ome = {
        "version": OME_VERSION,
        "multiscales": [
            {
                "name": os.path.basename(dest),
                "axes": _ome_axes(ndim, meta, affine),
                "datasets": datasets,
                "type": "mean",
            }
        ],
    }
    lv = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "axes": "disk = volume.T: volume (i, j, k[, t]) is stored as (z, y, x) / (t, z, y, x), C order",
        "affine": affine.tolist(),
        "affine_in_ome": _is_positive_diagonal(affine),
        "source": vol.source,
        "meta": _to_json(meta),
        "dtype": dtype.str,
        "shape": list(shape),
        "levels": [{"path": d["path"], "affine": d["affine"]} for d in level_info],
    }
    arrays = _write_nifti_header(group, tmp, vol, dtype, meta)
    group.attrs.update({"ome": ome, "lazyvol": lv})  # type: ignore[dict-item]
    for info in level_info:
        info["meta_sha256"] = zi.sha256_hex(
            _read_bytes(os.path.join(tmp, info["path"], "zarr.json"))
        )
    manifest = zi.seal_manifest(
        {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "complete": True,
            "created": time.time(),
            "source": _to_json(vol.source),
            "checksums": zi.CHECKSUMS,
            "group_sha256": zi.sha256_hex(_read_bytes(os.path.join(tmp, "zarr.json"))),
            "levels": level_info,
            "arrays": arrays,
        }
    )
    os.mkdir(os.path.join(tmp, os.path.dirname(MANIFEST)))
    node = {"zarr_format": 3, "node_type": "group", "attributes": {MANIFEST_ATTR: manifest}}
    mpath = os.path.join(tmp, MANIFEST)
    with open(mpath, "w", encoding="utf-8") as f:
        json.dump(node, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())


def _write_nifti_header(
    group: Any, tmp: str, vol: Volume, dtype: np.dtype, meta: dict[str, Any]
) -> dict[str, Any]:
    """The NIfTI-Zarr ``nifti`` header array; returns its manifest entry (``{}`` if none)."""
    units = meta.get("xyzt_units")
    time_unit = (
        _NIFTI_TIME_UNITS.get(str(units[1]))
        if isinstance(units, list) and len(units) == 2
        else None
    )
    hdr = zarr_nifti.nifti_header_bytes(vol.shape, dtype, vol.affine, meta, time_unit)
    if hdr is None:
        return {}
    name = zarr_nifti.NIFTI_ARRAY
    arr = group.create_array(
        name,
        shape=(len(hdr),),
        dtype="uint8",
        chunks=(len(hdr),),
        compressors=[zi.fast_crc32c_codec()],
        fill_value=0,
        config={"write_empty_chunks": True},
    )
    arr[:] = np.frombuffer(hdr, dtype=np.uint8)
    adir = os.path.join(tmp, name)
    return {
        name: {
            "meta_sha256": zi.sha256_hex(_read_bytes(os.path.join(adir, "zarr.json"))),
            "chunks": zi.scan_level(adir, None),
        }
    }


def _store(x: da.Array, arr: Any, progress: bool, label: str) -> None:
    with dask.config.set({"array.write_empty_chunks": True}):
        if progress:
            from .progress import DaskProgress

            with DaskProgress(f"writing {label}", int(x.nbytes)):
                da.store(x, arr, lock=False)
        else:
            da.store(x, arr, lock=False)


# -- reading -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZarrPlan:
    """What a read task needs: store path, array path, and the chunk grid to check files against."""

    store: str
    array: str
    shape: tuple[int, ...]  # disk order
    unit: tuple[int, ...]  # shard or chunk shape, disk order
    dtype: str
    check_files: bool
    token: str
    #: (inode, mtime_ns, ctime_ns) of the manifest when opened; a store replaced since then is
    #: refused (ctime: a copy that kept the mtime and got a reused inode is still seen)
    manifest_id: tuple[int, ...] | None = None
    #: manifest_sha256 of a checksummed (format 2) store: every chunk read is verified against it
    manifest_sha256: str | None = None


def _level_of(manifest: dict[str, Any], array: str) -> dict[str, Any]:
    for info in manifest.get("levels") or []:
        if isinstance(info, dict) and str(info.get("path")) == array:
            return info
    raise FormatError(f"manifest lists no array {array!r}")


@functools.lru_cache(maxsize=64)
def _cached_array(store: str, array: str, token: str, manifest_sha256: str | None = None) -> Any:
    """The zarr array a read task reads through (one per process, store and opening).

    For a checksummed store, through a :func:`~lazyvol.zarr_integrity.VerifiedStore` holding the
    manifest's chunk table: the manifest is read again here and must be the one opened.
    """
    from zarr.storage import LocalStore

    root = os.path.join(store, array)
    if manifest_sha256 is None:
        return zi.open_array_fast(LocalStore(root, read_only=True))
    mpath = os.path.join(store, MANIFEST)
    try:
        manifest = read_manifest(mpath)
    except (OSError, ValueError) as exc:
        raise FormatError(f"{mpath}: unreadable manifest ({exc}); open the store again") from exc
    if zi.verify_manifest_seal(manifest, mpath) != manifest_sha256:
        raise FormatError(f"{store}: the store was replaced after it was opened; open it again")
    info = _level_of(manifest, array)
    arr_meta = _array_meta(store, array, info.get("meta_sha256"))
    n_inner, loc = zi.inner_chunks_per_file(arr_meta)
    vstore = zi.VerifiedStore(
        root,
        label=f"{store} (array {array!r})",
        meta_sha256=str(info["meta_sha256"]),
        chunks=info["chunks"],
        n_inner=n_inner,
        index_location=loc,
    )
    return zi.open_array_fast(vstore, checked=True)


def _chunk_keys(plan: ZarrPlan, disk_index: tuple[slice, ...]) -> list[str]:
    ranges = [range(s.start // u, (s.stop - 1) // u + 1) for s, u in zip(disk_index, plan.unit)]
    return ["c/" + "/".join(map(str, key)) for key in itertools.product(*ranges)]


def read_block(plan: ZarrPlan, index: tuple[slice, ...]) -> np.ndarray:
    """Read block ``index`` (volume order) from a Zarr array.

    A checksummed store's chunk files are verified (size, crc32c and their manifest fingerprint);
    a format-1 store's chunk files are checked to exist. Damage raises :class:`IntegrityError`
    naming the store and the chunk key.
    """
    disk_index = tuple(reversed(index))
    where = f"{plan.store} (array {plan.array!r}, block {[(s.start, s.stop) for s in index]})"
    if plan.manifest_id is not None:
        try:
            st = os.stat(manifest_path(plan.store))
            now: tuple[int, ...] | None = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        except OSError:
            now = None
        if now != plan.manifest_id:
            raise FormatError(
                f"{where}: the store was replaced or removed after it was opened; open it again"
            )
    if plan.check_files and plan.manifest_sha256 is None:
        for key in _chunk_keys(plan, disk_index):
            f = os.path.join(plan.store, plan.array, *key.split("/"))
            if not os.path.isfile(f):
                raise FormatError(
                    f"{where}: chunk file {f} is missing; the store is incomplete or damaged; "
                    "write it again (or delete the cache entry)"
                )
    try:
        arr = _cached_array(plan.store, plan.array, plan.token, plan.manifest_sha256)
        try:
            block = np.asarray(arr[disk_index])
        finally:
            zi.forget_verified(arr)
    except LazyvolError:
        raise
    except Exception as exc:
        if isinstance(exc, ValueError) and "checksum do not match" in str(exc):
            raise _crc_failure(plan, disk_index, where, exc) from exc
        raise FormatError(f"{where}: reading the chunk data failed: {exc}") from exc
    out = block.transpose()
    if out.dtype != np.dtype(plan.dtype):
        out = out.astype(plan.dtype)
    return out


def _crc_failure(
    plan: ZarrPlan, disk_index: tuple[slice, ...], where: str, exc: Exception
) -> IntegrityError:
    """IntegrityError for zarr's crc32c failure, naming the damaged chunk file when it is found."""
    keys = _chunk_keys(plan, disk_index)
    try:
        bad = zi.locate_damage(plan.store, plan.array, keys, _array_meta(plan.store, plan.array))
    except LazyvolError:
        bad = None
    what = (
        f"chunk {bad}" if bad else f"one of chunks {', '.join(keys[:4])}{' ...' * (len(keys) > 4)}"
    )
    return IntegrityError(
        f"{where}: {what} fails its crc32c checksum ({exc}); the file is damaged; write the "
        "store again (or restore it)"
    )


def _auto_read_chunks(
    unit_vol: Sequence[int], shape: Sequence[int], itemsize: int
) -> tuple[int, ...]:
    """Dask chunks aligned to the store's chunks/shards, grown fastest axis (i) first to the budget."""
    block = [min(u, n) for u, n in zip(unit_vol, shape)]
    budget = max(chunk_budget(), math.prod(block) * itemsize)
    for ax in range(min(3, len(block))):
        others = math.prod(block) // block[ax] * itemsize
        mult = max(1, budget // (others * block[ax]))
        block[ax] = min(shape[ax], block[ax] * mult)
        if block[ax] < shape[ax]:
            break
    return tuple(block)


def _array_meta_path(store: str, array: str) -> str:
    """``zarr.json`` of a Zarr v3 array, or ``.zarray`` of a Zarr v2 one when only that exists."""
    v3 = os.path.join(store, array, "zarr.json")
    v2 = os.path.join(store, array, ".zarray")
    return v2 if not os.path.exists(v3) and os.path.exists(v2) else v3


def _array_meta(store: str, array: str, sha256: str | None = None) -> dict[str, Any]:
    """An array's metadata (Zarr v2 ``.zarray`` in v3 terms); with ``sha256``, checked against
    that manifest hash."""
    zj = (
        _array_meta_path(store, array)
        if sha256 is None
        else os.path.join(store, array, "zarr.json")
    )
    try:
        raw = _read_bytes(zj)
    except FileNotFoundError as exc:
        raise FormatError(
            f"{store}: array {array!r} is missing ({zj} not found); the store is incomplete"
        ) from exc
    except OSError as exc:
        raise FormatError(f"{zj}: unreadable Zarr array metadata: {exc}") from exc
    if sha256 is not None and zi.sha256_hex(raw) != sha256:
        raise IntegrityError(
            f"{store} (array {array!r}): zarr.json (array metadata: dtype, shape, codecs) differs "
            "from the manifest (sha256); the store was edited or damaged; write it again"
        )
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        raise FormatError(f"{zj}: unreadable Zarr array metadata: {exc}") from exc
    if zj.endswith(".zarray") and isinstance(meta, dict):
        try:
            return {
                "node_type": "array",
                "zarr_format": 2,
                "shape": [int(n) for n in meta["shape"]],
                "chunk_grid": {"configuration": {"chunk_shape": [int(c) for c in meta["chunks"]]}},
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"{zj}: not Zarr v2 array metadata ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("node_type") != "array":
        node = meta.get("node_type") if isinstance(meta, dict) else None
        raise FormatError(f"{zj}: not a Zarr v3 array (node_type={node!r})")
    return meta


def _unit_of(arr_meta: dict[str, Any]) -> tuple[int, ...]:
    grid = arr_meta.get("chunk_grid", {})
    try:
        return tuple(int(c) for c in grid["configuration"]["chunk_shape"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UnsupportedError(
            f"unsupported Zarr chunk grid {grid!r} (only 'regular' is read)"
        ) from exc


def open_zarr(
    path: str | os.PathLike[str],
    *,
    chunks: Any = "auto",
    level: int = 0,
    dtype: Any = None,
    **options: Any,
) -> Volume:
    """Open a Zarr v3 store written by lazyvol, or any OME-Zarr image, lazily.

    Parameters
    ----------
    path : str or path-like
        The store directory (holding ``zarr.json``).
    chunks : "auto" or dask chunk spec
        Dask chunks in the Volume's axis order ``(i, j, k[, t])``. ``"auto"``: whole on-disk
        chunks/shards grown to :func:`lazyvol.config.chunk_budget`.
    level : int
        Multiscale level to open (0 = full resolution).
    dtype : dtype, optional
        Cast the values (lazily, block by block) to this dtype.

    Returns
    -------
    Volume
        For a lazyvol store: the values, dtype, affine, meta and source that were written
        (``meta`` comes back through JSON: tuples become lists; ``source`` is the store path when the
        written volume had none). For a foreign OME-Zarr image: data transposed to ``(x, y, z[, ...])``
        and the affine from the OME scale and translation in millimetres.

    Raises
    ------
    IntegrityError
        A lazyvol store whose metadata or chunk files do not match its manifest (edited array
        metadata, a missing, truncated or extra chunk file at open; a bit flip or a chunk file
        moved from another position when its block is read).
    FormatError
        Not a lazyvol or OME-Zarr store, an incomplete store (no manifest), or unreadable metadata.
    UnsupportedError
        OME axes lazyvol cannot map to a volume (not 3 space axes).

    Warns
    -----
    UnverifiedStoreWarning
        A store written by an older lazyvol without checksums (store format 1): it is read, but
        cannot be verified.
    """
    if options:
        raise TypeError(f"unexpected options for a Zarr store: {sorted(options)}")
    return open_store(path, chunks=chunks, level=level, dtype=dtype)


def open_store(
    path: str | os.PathLike[str],
    *,
    chunks: Any = "auto",
    level: int = 0,
    dtype: Any = None,
    fallback: Any = None,
    require_checksums: bool = False,
) -> Volume:
    """:func:`open_zarr` with two options for the cache.

    ``fallback``: a picklable callable ``fallback(plan, index, exc)`` returning block ``index``
    when reading it from the store raises a :class:`FormatError` (damaged, removed store).
    ``require_checksums``: refuse (IntegrityError) a store without checksums.
    """
    store = os.path.abspath(os.fspath(path))
    zj = os.path.join(store, "zarr.json")
    try:
        group_raw = _read_bytes(zj)
        group_meta = json.loads(group_raw)
    except FileNotFoundError as exc:
        group_raw = b""
        group_meta = _zarr_v2_group(store)
        if group_meta is None:
            raise FormatError(
                f"{store}: no zarr.json (Zarr v3) or .zattrs/.zgroup (Zarr v2); not a Zarr store"
            ) from exc
    except (OSError, ValueError) as exc:
        raise FormatError(f"{zj}: unreadable Zarr metadata: {exc}") from exc
    attrs = group_meta.get("attributes", {}) if isinstance(group_meta, dict) else {}
    if not isinstance(attrs, dict):
        attrs = {}
    vol: Volume | None = None
    if isinstance(attrs.get("lazyvol"), dict):
        vol = _open_lazyvol(
            store, attrs["lazyvol"], chunks, int(level), group_raw, fallback, require_checksums
        )
    else:
        if require_checksums:
            raise IntegrityError(f"{store}: not a lazyvol store; it carries no lazyvol checksums")
        ome = attrs.get("ome") if isinstance(attrs.get("ome"), dict) else None
        if ome is None and "multiscales" in attrs:
            ome = {"version": attrs.get("version", "0.4"), "multiscales": attrs["multiscales"]}
        if ome is not None and ome.get("multiscales"):
            vol = _open_ome(store, ome, chunks, int(level))
    if vol is not None:
        if dtype is not None and np.dtype(dtype) != vol.dtype:
            vol = Volume(vol.data.astype(dtype), vol.affine, meta=vol.meta, source=vol.source)
        return vol
    raise FormatError(
        f"{store}: a Zarr store that is neither a lazyvol store (group attribute 'lazyvol') nor an "
        "OME-Zarr image (attribute 'ome' with 'multiscales'); open it with zarr directly"
    )


def _zarr_v2_group(store: str) -> dict[str, Any] | None:
    """A Zarr v2 group (``.zgroup``, attributes in ``.zattrs``) as v3-like metadata, else None."""
    zattrs = os.path.join(store, ".zattrs")
    if not (os.path.isfile(os.path.join(store, ".zgroup")) or os.path.isfile(zattrs)):
        return None
    try:
        attrs = _read_json(zattrs) if os.path.isfile(zattrs) else {}
    except (OSError, ValueError) as exc:
        raise FormatError(f"{zattrs}: unreadable Zarr v2 attributes: {exc}") from exc
    return {"node_type": "group", "zarr_format": 2, "attributes": attrs}


@dataclass(frozen=True)
class FallbackPlan:
    """A :class:`ZarrPlan` with a picklable ``fallback(plan, index, exc)`` for damaged blocks."""

    zarr: ZarrPlan
    fallback: Any


def read_block_or_fallback(plan: FallbackPlan, index: tuple[slice, ...]) -> np.ndarray:
    """:func:`read_block`, or ``plan.fallback`` when the store fails (damaged, removed)."""
    try:
        return read_block(plan.zarr, index)
    except FormatError as exc:
        return np.asarray(plan.fallback(plan.zarr, index, exc))


def _make_volume(
    store: str,
    array: str,
    arr_meta: dict[str, Any],
    chunks: Any,
    check_files: bool,
    affine: np.ndarray,
    meta: dict[str, Any],
    source: str,
    manifest_sha256: str | None = None,
    fallback: Any = None,
) -> Volume:
    shape_disk = tuple(int(n) for n in arr_meta["shape"])
    unit = _unit_of(arr_meta)
    st = os.stat(_array_meta_path(store, array))
    man = manifest_path(store)
    mst = os.stat(man) if os.path.exists(man) else st
    # The array is opened once here (dtype; and it warms the read tasks' cache in this process).
    pre = dask.base.tokenize(
        store, array, st.st_mtime_ns, st.st_ctime_ns, mst.st_mtime_ns, mst.st_ctime_ns, mst.st_ino
    )
    arr = _cached_array(store, array, pre, manifest_sha256)
    dtype = np.dtype(arr.dtype).newbyteorder("=")
    shape = tuple(reversed(shape_disk))
    if chunks is None or (isinstance(chunks, str) and chunks == "auto"):
        chunk_spec: Any = _auto_read_chunks(tuple(reversed(unit)), shape, dtype.itemsize)
    else:
        chunk_spec = chunks
    norm = normalize_chunks(chunk_spec, shape, dtype)
    token = dask.base.tokenize(pre, norm, manifest_sha256, fallback is not None)
    manifest_id = (mst.st_ino, mst.st_mtime_ns, mst.st_ctime_ns) if check_files else None
    plan = ZarrPlan(
        store, array, shape_disk, unit, dtype.str, check_files, pre, manifest_id, manifest_sha256
    )
    name = f"lazyvol-zarr-{token}"
    if fallback is not None:
        fplan = FallbackPlan(plan, fallback)
        data = plan_to_dask(read_block_or_fallback, fplan, shape, norm, dtype, name)
    else:
        data = plan_to_dask(read_block, plan, shape, norm, dtype, name)
    affine = check_affine(affine, store, "the store's affine / OME scale and translation metadata")
    return Volume(data, affine, meta=meta, source=source)


def _open_lazyvol(
    store: str,
    lv: dict[str, Any],
    chunks: Any,
    level: int,
    group_raw: bytes,
    fallback: Any = None,
    require_checksums: bool = False,
) -> Volume:
    if lv.get("format") != FORMAT:
        raise FormatError(
            f"{store}: attribute lazyvol.format = {lv.get('format')!r}, expected {FORMAT!r}"
        )
    if int(lv.get("version", 0)) > FORMAT_VERSION:
        raise UnsupportedError(
            f"{store}: written by a newer lazyvol (store format {lv.get('version')}); upgrade lazyvol"
        )
    mpath = manifest_path(store)
    try:
        manifest = read_manifest(mpath)
    except FileNotFoundError as exc:
        raise FormatError(
            f"{store}: incomplete lazyvol store: its manifest ({MANIFEST}) is missing (the write "
            "was interrupted); write the store again"
        ) from exc
    except (OSError, ValueError) as exc:
        raise FormatError(f"{mpath}: unreadable manifest ({exc}); write the store again") from exc
    if not isinstance(manifest, dict):
        raise FormatError(f"{mpath}: not a lazyvol manifest; write the store again")
    checked = int(lv.get("version", 0)) >= 2 or "manifest_sha256" in manifest
    manifest_sha: str | None = None
    if checked:
        manifest_sha = zi.verify_manifest_seal(manifest, mpath)
        if zi.sha256_hex(group_raw) != manifest.get("group_sha256"):
            raise IntegrityError(
                f"{store}: zarr.json (group metadata: affine, dtype, OME) differs from the "
                "manifest (sha256); the store was edited or damaged; write it again"
            )
    elif require_checksums:
        raise IntegrityError(f"{store}: store format 1 carries no checksums")
    levels = manifest.get("levels") or []
    if not manifest.get("complete") or not 0 <= level < len(levels):
        raise FormatError(
            f"{store}: manifest has no complete level {level} ({len(levels)} levels); write it again"
        )
    info = levels[level]
    array = str(info["path"])
    if checked:
        if not isinstance(info.get("chunks"), dict) or not isinstance(info.get("meta_sha256"), str):
            raise IntegrityError(
                f"{mpath}: level {level} has no chunk table; write the store again"
            )
        arr_meta = _array_meta(store, array, info["meta_sha256"])
        zi.verify_level_files(store, array, info["chunks"])
        for other in levels:  # the rest of the store: metadata hashes, chunk files present
            if other is not info and isinstance(other, dict):
                _array_meta(store, str(other.get("path")), str(other.get("meta_sha256")))
                zi.verify_level_files(store, str(other.get("path")), other.get("chunks") or {})
        _verify_small_arrays(store, manifest.get("arrays") or {})
    else:
        zi.warn_unverified(store)
        n_files, n_bytes = _count_chunk_files(os.path.join(store, array))
        if n_files != info["chunk_files"] or n_bytes != info["chunk_bytes"]:
            raise FormatError(
                f"{store}: level {level} has {n_files} chunk files ({n_bytes} bytes) but the "
                f"manifest lists {info['chunk_files']} ({info['chunk_bytes']} bytes): chunks are "
                "missing or damaged; write the store again"
            )
        arr_meta = _array_meta(store, array)
    if [int(n) for n in arr_meta["shape"]] != [int(n) for n in info["shape"]]:
        raise FormatError(
            f"{store}: array {array!r} shape {arr_meta['shape']} disagrees with the manifest"
        )
    affine = np.array(info.get("affine", lv["affine"]), dtype=np.float64)
    meta = _from_json(lv.get("meta", {}))
    source = str(lv.get("source") or store)
    return _make_volume(
        store, array, arr_meta, chunks, True, affine, meta, source, manifest_sha, fallback
    )


def _verify_small_arrays(store: str, arrays: Any) -> None:
    """Metadata hash and whole content of the store's small arrays (the NIfTI-Zarr header)."""
    if not isinstance(arrays, dict):
        raise IntegrityError(f"{store}: manifest 'arrays' is not a mapping; write the store again")
    for name, entry in arrays.items():
        meta = _array_meta(store, str(name), str(entry.get("meta_sha256")))
        table = entry.get("chunks") or {}
        zi.verify_level_files(store, str(name), table)
        found = zi.scan_level(os.path.join(store, str(name)), *zi.inner_chunks_per_file(meta))
        bad = zi.locate_damage(store, str(name), sorted(found), meta)
        for key, rec in found.items():
            if key == bad or list(rec) != list(table.get(key, [])):
                raise IntegrityError(
                    f"{store} (array {name!r}): chunk {key} does not match the manifest; "
                    "write the store again"
                )


def _open_ome(store: str, ome: dict[str, Any], chunks: Any, level: int) -> Volume:
    try:
        ms = ome["multiscales"][0]
        axes = ms["axes"]
        datasets = ms["datasets"]
        ds = datasets[level]
    except (KeyError, IndexError, TypeError) as exc:
        raise FormatError(
            f"{store}: OME-Zarr multiscales metadata lacks axes/datasets (or level {level}): {exc}"
        ) from exc
    names = [a["name"] if isinstance(a, dict) else str(a) for a in axes]
    types = [
        a.get("type") if isinstance(a, dict) else ("space" if a in "zyx" else None) for a in axes
    ]
    units = [a.get("unit") if isinstance(a, dict) else None for a in axes]
    nd = len(axes)
    space = [i for i, t in enumerate(types) if t == "space"]
    if len(space) != 3 or space != list(range(nd - 3, nd)):
        raise UnsupportedError(
            f"{store}: OME-Zarr axes {names} need exactly three trailing space axes for a volume"
        )

    def transforms(lst: Any) -> tuple[np.ndarray, np.ndarray]:
        s = np.ones(nd)
        t = np.zeros(nd)
        for tr in lst or []:
            if tr.get("type") == "scale" and "scale" in tr:
                s = s * np.asarray(tr["scale"], dtype=np.float64)
                t = t * np.asarray(tr["scale"], dtype=np.float64)
            elif tr.get("type") == "translation" and "translation" in tr:
                t = t + np.asarray(tr["translation"], dtype=np.float64)
            elif tr.get("type") not in (None, "identity"):
                raise UnsupportedError(f"{store}: OME coordinate transformation {tr.get('type')!r}")
        return s, t

    s1, t1 = transforms(ds.get("coordinateTransformations"))
    s2, t2 = transforms(ms.get("coordinateTransformations"))
    scale = s1 * s2
    trans = t1 * s2 + t2
    factor = []
    for i in space:
        u = units[i]
        factor.append(_UNIT_TO_MM.get(str(u), 1.0) if u else 1.0)
    affine = np.eye(4)
    # disk (.., z, y, x) -> volume (x, y, z, ..): i = x, j = y, k = z
    for vol_ax, disk_ax in enumerate(reversed(space)):
        f = factor[space.index(disk_ax)]
        affine[vol_ax, vol_ax] = scale[disk_ax] * f
        affine[vol_ax, 3] = trans[disk_ax] * f
    arr_meta = _array_meta(store, str(ds["path"]))
    if len(arr_meta["shape"]) != nd:
        raise FormatError(
            f"{store}: array {ds['path']!r} has {len(arr_meta['shape'])} axes, OME lists {nd}"
        )
    meta: dict[str, Any] = {
        "format": "ome-zarr",
        "ome_version": str(ome.get("version", "")),
        "axes": list(reversed(names)),
        "units": list(reversed([u or "" for u in units])),
        "ome_scale": list(reversed(scale.tolist())),
        "ome_translation": list(reversed(trans.tolist())),
        "level": level,
    }
    if nd > 3 and types[nd - 4] == "time" and scale[nd - 4] > 0:
        meta["axis4_spacing"] = float(scale[nd - 4])
    return _make_volume(store, str(ds["path"]), arr_meta, chunks, False, affine, meta, store)
