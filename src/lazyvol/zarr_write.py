"""Write a Volume as a Zarr v3 store with OME-Zarr 0.5 metadata (see :mod:`lazyvol.zarr_io` for
the layout, the axes and the integrity guarantees).

Crash safety. The store is written into a temporary sibling directory
(``.<name>.lazyvol-tmp-<random>``, locked while its writer lives; a later write to the same
destination removes those of killed writers: ``lazyvol._fsutil.sweep_leftovers``), every chunk
(also all-zero ones) is written, then the manifest
(every chunk file's size and checksum fingerprint) is written last and synced, and the directory is
published by ``lazyvol._fsutil.publish_dir`` (rename, directory sync). A reader refuses a
lazyvol store without its manifest or whose chunk files do not match it, so a partial store is never
read as zeros. Chunk files are not fsynced one by one: the guarantees hold for killed processes;
after a power loss damage is detected, not repaired.

This module imports :class:`~lazyvol.volume.Volume` for typing only: ``Volume.to_zarr`` finds
:func:`write_zarr` through the writer table ``lazyvol.volume.WRITERS`` by module name.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np

from . import zarr_integrity as zi
from . import zarr_nifti
from ._cut_plan import cut_of, rechunk_cut, step_reads
from ._fsutil import (
    fsync_dir,
    make_temp_dir,
    publish_dir,
    release_temp_dir,
    remove_tree_settled,
    sweep_leftovers,
)
from ._location import absolute_source
from ._write_target import local_destination, written_through
from .chunking import rechunk_source
from .errors import LazyvolError, UnsupportedError, WriteError, _printable
from .geometry import affine_problem
from .nifti_make import store_header_bytes
from .scaling import numbers_hint
from .sources import HEADER_FILES_KEY, header_files_token
from .zarr_blockwrite import store_blocks
from .zarr_layout import (
    chunk_shape,
    compressor,
    level_count,
    level_grid,
    shard_shape,
    write_blocks,
)
from .zarr_meta import (
    FORMAT,
    MANIFEST,
    MANIFEST_ATTR,
    PER_VOLUME_ATTR,
    group_hashes,
    store_version,
    to_json,
)
from .zarr_ome import (
    disk_axes,
    is_positive_diagonal,
    level_affine,
    ome_axes,
    ome_holds,
    ome_transforms,
)
from .zarr_pyramid import downsample

if TYPE_CHECKING:
    from .volume import Volume

__all__ = ["require_volume", "storable_dtype", "write_zarr"]

OME_VERSION = "0.5"
_VOLUME_ATTRS = ("data", "affine", "meta", "source", "dtype", "shape", "ndim")


def require_volume(vol: Any, what: str) -> None:
    """Raise TypeError unless ``vol`` is a lazyvol Volume (checked by its attributes: writers do
    not import the Volume class at run time)."""
    if not all(hasattr(vol, a) for a in _VOLUME_ATTRS) or isinstance(vol, type):
        raise TypeError(f"{what} needs a lazyvol.Volume, got {type(vol).__name__}")


def _local(path: str) -> Any:
    """zarr's store of the local folder ``path``, whatever its name: zarr takes a path string
    holding ``::`` (a legal file name) for a chained fsspec URL and wrote nowhere."""
    from zarr.storage import LocalStore

    return LocalStore(path)


def _read_json(path: str) -> Any:
    with open(path, "rb") as f:
        return json.loads(f.read())


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


# -- destination and publishing ----------------------------------------------------------------------


def list_dir_consistent(dest: str) -> list[str] | None:
    """Entries of the directory at ``dest`` as one consistent look, ``[]`` if nothing is there,
    None for something that is not a directory.

    A concurrent writer may rename directories in and out of ``dest`` (and delete the ones it moved
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
    """Refuse to replace anything but an empty directory or (with ``overwrite``) a Zarr v3 store."""
    entries = list_dir_consistent(dest)
    if entries == [] and not os.path.islink(dest):
        return  # nothing there, or an empty directory (replaced silently)
    if not overwrite:
        raise WriteError(
            f"{dest}: destination already exists; pass overwrite=True to replace it "
            "(the existing store is left untouched)"
        )
    v2 = sorted({".zgroup", ".zarray", ".zattrs"}.intersection(entries or ()))
    if v2 and "zarr.json" not in (entries or ()):
        raise WriteError(
            f"{dest}: exists and is a Zarr v2 store ({', '.join(v2)}: OME-Zarr 0.4 or older), "
            "which lazyvol does not replace even with overwrite=True (it replaces Zarr v3 stores "
            "only); remove it yourself or choose another destination"
        )
    if entries is None or "zarr.json" not in entries:
        raise WriteError(
            f"{dest}: exists and is not a Zarr store (no zarr.json); refusing to replace it even "
            "with overwrite=True; remove it yourself or choose another destination"
        )


def _publish(tmp: str, dest: str, overwrite: bool) -> None:
    """Rename the finished ``tmp`` directory to ``dest`` (atomically replacing an old store)."""
    publish_dir(tmp, dest, overwrite=overwrite, check_replace=lambda d: _check_destination(d, True))


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
    shards : None, bool, int or sequence
        ``None``: shard automatically when a chunk is under 1 MiB (shards of about 16 MiB, grown
        fastest axis first); ``True``: those shards whatever the chunk's size (none when a chunk
        is that large already); ``False``: never shard; else the shard shape, volume order (an
        int: every axis), a multiple of ``chunks``.
    codec : {"zstd", "blosc-zstd", "blosc-lz4", "gzip", "none"}, None or a zarr codec object
        Lossless compressor; default zstd level 3.
    overwrite : bool
        Replace an existing Zarr store at ``store`` (atomically: readers see the old or the new one).
    progress : bool
        Show a tqdm progress bar.
    levels : int
        Number of multiscale levels; level ``n`` is the 2-voxel mean of level ``n - 1`` along each
        spatial axis longer than 1, computed as it is written (an odd length's last voxel repeated;
        integers rounded half to even per level, exactly for every integer dtype): a ``2**n``
        block mean only where ``2**n`` divides the length.

    Returns
    -------
    str
        Absolute path of the store.

    Raises
    ------
    WriteError
        The destination exists and ``overwrite`` is false, it is not a Zarr v3 store (a Zarr v2
        store is not replaced), or it cannot be written (read-only, full); nothing is left behind
        and an existing store is untouched.
    OptionError
        ``chunks``, ``shards``, ``codec`` or ``levels`` is not one of the values above.
    UnsupportedError
        A dtype Zarr v3 cannot hold (structured/RGB), or ``store`` is a URL.

    Notes
    -----
    OME-Zarr images have 2 to 5 axes: a volume of 6 or 7 axes is written without OME-Zarr
    metadata (nor is it then NIfTI-Zarr); lazyvol's own attributes hold its axes and affine, so
    ``lazyvol.open`` reads it back (``Volume.to_zarr`` warns).
    """
    require_volume(vol, "write_zarr")
    levels = level_count(levels, vol.shape[:3])
    dest = local_destination(store)
    _check_storable(vol, dest)
    parent, base = os.path.split(dest)
    if not base:
        raise WriteError(f"{store}: needs a directory name")
    # What killed writes to this destination left, unless still writing (first: a store a killed
    # overwrite moved aside is put back, and then found where the destination check looks)
    sweep_leftovers(where := written_through(dest))  # (a symbolic link: the store it names)
    _check_destination(where, overwrite)
    try:
        tmp, lock = make_temp_dir(where)
    except OSError as exc:
        raise WriteError(
            f"{dest}: cannot create a directory in {parent} ({exc.strerror or exc}); choose a "
            "writable destination"
        ) from exc
    try:
        _write_into(tmp, vol, chunks, shards, codec, progress, levels, dest)
        _publish(tmp, where, overwrite)
    except LazyvolError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WriteError(
            f"{dest}: writing the store failed ({exc.strerror or exc}); nothing was left behind"
        ) from exc
    except BaseException:  # interrupted (Ctrl-C): chunk writers may still be running
        remove_tree_settled(tmp)
        raise
    finally:
        release_temp_dir(lock)
    return dest


def storable_dtype(dtype: np.dtype) -> bool:
    """Whether a lazyvol store (``to_zarr``, a cache entry) holds values of ``dtype``: numbers
    Zarr v3 has a data type for (not RGB/RGBA records, not extended-precision floats)."""
    dtype = np.dtype(dtype)
    return dtype.kind in "biufc" and dtype.fields is None and dtype.char not in "gG"


def _check_storable(vol: Volume, dest: str) -> None:
    """Refuse, before anything is written, a volume no store can keep: a dtype Zarr v3 cannot
    hold, no voxels, or an affine that is not finite and invertible."""
    dtype = vol.dtype
    if not storable_dtype(dtype):
        keep = "; a .nii keeps RGB" if dtype.names else ""
        hint = (  # (extended precision: zarr has no data type for it)
            f"cast it, e.g. lazyvol.Volume(vol.data.astype('{dtype.kind}{dtype.itemsize // 2}'), "
            "vol.affine)"
            if dtype.char in "gG"
            else numbers_hint(dtype)
        )
        raise UnsupportedError(
            f"{dest}: dtype {dtype} cannot be stored in Zarr v3 by lazyvol; {hint}{keep}"
        )
    if 0 in vol.shape:
        raise UnsupportedError(
            f"{dest}: a volume of shape {tuple(vol.shape)} has no voxels; nothing to store"
        )
    # The affine is stored in JSON and NIfTI headers, and a reopen refuses a non-finite or
    # singular one: refuse it here, before anything is written.
    problem = affine_problem(np.asarray(vol.affine, dtype=np.float64))
    if problem is not None:
        raise UnsupportedError(
            f"{dest}: the volume's affine {problem}; a store keeps a finite, invertible "
            "voxel-to-world affine (its JSON and NIfTI header hold no NaN and lazyvol.open "
            "refuses a singular one): give the Volume a valid affine"
        )


class _StoreWriter:
    """Writes one store into the temporary directory ``tmp``: levels, NIfTI header, manifest."""

    def __init__(self, tmp: str, vol: Volume, dest: str, progress: bool) -> None:
        import zarr

        self.tmp = tmp
        self.vol = vol
        self.dest = dest
        self.progress = progress
        self.ndim = vol.ndim
        self.version = store_version(vol.ndim)
        self.order = disk_axes(vol.ndim)  # the volume axis of each disk axis
        self.dtype = vol.dtype.newbyteorder("=")
        self.meta = {k: v for k, v in vol.meta.items() if k != HEADER_FILES_KEY}  # (its own key)
        # The lazyvol attribute goes in first, so an interrupted store reads as an incomplete
        # lazyvol store (no manifest), not as a foreign one; it is completed at the end.
        self.group = zarr.open_group(
            _local(tmp),  # (a path string with "::" would be taken for a chained fsspec URL)
            mode="w-",  # (not "w": it would replace the directory, and with it its lock)
            zarr_format=3,
            attributes={
                "lazyvol": {"format": FORMAT, "version": self.version, "status": "writing"}
            },
        )
        self.level_info: list[dict[str, Any]] = []
        self.datasets: list[dict[str, Any]] = []

    def level_source(self, lvl: int, factors_total: list[int]) -> tuple[da.Array, list[int]]:
        """The disk-order array of level ``lvl`` (level 0: the volume transposed) and the
        accumulated downsampling factors (i, j, k)."""
        import zarr

        if lvl == 0:
            x = self.vol.data.transpose(self.order)
            return (x if x.dtype == self.dtype else x.astype(self.dtype)), factors_total
        prev = da.from_zarr(zarr.open_array(_local(os.path.join(self.tmp, str(lvl - 1))), mode="r"))
        fac_disk = [1] * (self.ndim - 3) + [2 if n > 1 else 1 for n in prev.shape[-3:]]
        f_ijk = list(reversed(fac_disk[-3:]))
        return downsample(prev, fac_disk), [a * b for a, b in zip(factors_total, f_ijk)]

    def write_level(
        self,
        lvl: int,
        x: da.Array,
        grid: tuple[tuple[int, ...], tuple[int, ...] | None],
        codec: Any,
        factors_total: list[int],
    ) -> None:
        """Create array ``lvl``, stream ``x`` into it and record its chunk table."""
        lvl_shape = tuple(int(n) for n in x.shape)
        lvl_chunk, lvl_shard = grid
        arr = self.group.create_array(
            str(lvl),
            shape=lvl_shape,
            dtype=self.dtype,
            chunks=lvl_chunk,
            shards=lvl_shard,
            compressors=[c for c in (codec, zi.fast_crc32c_codec()) if c is not None],
            fill_value=0,
            dimension_names=[a["name"] for a in ome_axes(self.ndim, self.meta)],
            config={"write_empty_chunks": True},
        )
        unit = lvl_shard or lvl_chunk
        block = write_blocks(unit, lvl_shape, self.dtype.itemsize)
        if lvl == 0:
            # Plan the source reads in the write blocks (in volume order).
            block_vol = tuple(block[self.order.index(v)] for v in range(self.ndim))
            xs = _source_blocks(self.vol, block_vol).transpose(self.order)
            if xs.dtype != self.dtype:
                xs = xs.astype(self.dtype)
        else:
            xs = x.rechunk(block)
        label = os.path.basename(self.dest) + (f" (pyramid level {lvl})" if lvl else "")
        store_blocks(xs, arr, unit, self.progress, label)
        self._record_level(lvl, lvl_shape, unit, factors_total)

    def _record_level(
        self, lvl: int, lvl_shape: tuple[int, ...], unit: Sequence[int], factors: list[int]
    ) -> None:
        lvl_dir = os.path.join(self.tmp, str(lvl))
        n_inner, index_loc = zi.inner_chunks_per_file(
            _read_json(os.path.join(lvl_dir, "zarr.json"))
        )
        table = zi.scan_level(lvl_dir, n_inner, index_loc)
        n_files, n_bytes = len(table), sum(size for size, _ in table.values())
        expected = math.prod(math.ceil(n / u) for n, u in zip(lvl_shape, unit))
        if n_files != expected:
            raise WriteError(
                f"{self.dest}: level {lvl} has {n_files} chunk files after writing, expected "
                f"{expected}"
            )
        lvl_aff = level_affine(self.vol.affine, factors)
        self.level_info.append(
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
        self.datasets.append(
            {
                "path": str(lvl),
                "coordinateTransformations": ome_transforms(
                    lvl_aff, self.ndim, self.meta, self.vol.affine
                ),
            }
        )

    def finish(self) -> None:
        """Group attributes (OME, lazyvol), the NIfTI-Zarr header, then the manifest, last."""
        vol, affine = self.vol, self.vol.affine
        ome = {
            "version": OME_VERSION,
            "multiscales": [
                {
                    # (a name that is not valid UTF-8 shown with \xNN: JSON text is Unicode)
                    "name": _printable(os.path.basename(self.dest)),
                    "axes": ome_axes(self.ndim, self.meta, affine),
                    "datasets": self.datasets,
                    "type": "mean",
                }
            ],
        }
        source = absolute_source(vol.source, vol.meta.get("path"))
        lv = {
            "format": FORMAT,
            "version": self.version,
            "axes": "disk = volume.T: volume (i, j, k[, t]) is stored as (z, y, x) / (t, z, y, x), "
            "C order; a 5-axis volume (i, j, k, t, c) as (t, c, z, y, x)",
            "affine": affine.tolist(),
            "affine_in_ome": is_positive_diagonal(affine),
            "source": to_json(source),
            "meta": to_json(self.meta),
            PER_VOLUME_ATTR: True,
            "dtype": self.dtype.str,
            "shape": list(vol.shape),
            "levels": [{"path": d["path"], "affine": d["affine"]} for d in self.level_info],
        }
        token = _header_token(vol)
        if token is not None:
            lv[HEADER_FILES_KEY] = token
        arrays = _write_nifti_header(self.group, self.tmp, vol, self.dtype, self.meta)
        # (OME-Zarr has no image of more than 5 axes: lazyvol's attributes alone describe one)
        attrs: dict[str, Any] = (
            {"ome": ome, "lazyvol": lv} if ome_holds(self.ndim) else {"lazyvol": lv}
        )
        self.group.attrs.update(attrs)
        for info in self.level_info:
            info["meta_sha256"] = zi.sha256_hex(
                _read_bytes(os.path.join(self.tmp, info["path"], "zarr.json"))
            )
        manifest = zi.seal_manifest(
            {
                "format": FORMAT,
                "version": self.version,
                "complete": True,
                "created": time.time(),
                "source": _shown_source(source),
                "checksums": zi.CHECKSUMS,
                **group_hashes(_read_bytes(os.path.join(self.tmp, "zarr.json"))),
                "levels": self.level_info,
                "arrays": arrays,
            }
        )
        _write_manifest(self.tmp, manifest)


#: A cut with steps is read in its write blocks from the source (:func:`_source_blocks`) while a
#: block reads at most this many times its voxels (``vol[::2, ::2, ::2]``: 8): 8 x 16 MiB blocks
#: on two threads stay under a wide volume's band of whole-plane slabs that dask's rechunk holds.
MAX_STEP_READS = 8


def _source_blocks(vol: Volume, block: tuple[int, ...]) -> da.Array:
    """The volume's values in write blocks of shape ``block`` (volume order), read from the
    source straight into them where the volume is a reader's array or a cut of one (reversed,
    dropped or stepped axes, steps reading at most :data:`MAX_STEP_READS` times the block:
    :func:`lazyvol._cut_plan.rechunk_cut`), else rechunked by dask."""
    cut = cut_of(vol.data)
    if cut is not None and step_reads(cut[1]) <= MAX_STEP_READS:
        return rechunk_cut(*cut, block, read_ahead=True)
    return rechunk_source(vol.data, block, read_ahead=True)


def _header_token(vol: Volume) -> str | None:
    """The token of the files whose headers the store will show (:func:`lazyvol.sources.
    header_files_token`): a store's volume carries the one taken at its writing (None: a store
    that records none); else the source files' now (each read of them was checked against their
    stamps at open)."""
    if HEADER_FILES_KEY in vol.meta:
        token = vol.meta[HEADER_FILES_KEY]
        return token if isinstance(token, str) else None
    return header_files_token(vol.meta)


def _shown_source(source: Any) -> Any:
    """The manifest's ``source``, a string (what ``lazyvol cache list`` shows): a file name that
    is not valid UTF-8 with its bytes as \\xNN (the group attributes keep it exactly)."""
    out = to_json(source)
    return out["$fsname"] if isinstance(out, dict) else out


def _write_manifest(tmp: str, manifest: dict[str, Any]) -> None:
    """The manifest node, written last and synced (the store is complete when it exists)."""
    mdir = os.path.join(tmp, os.path.dirname(MANIFEST))
    os.mkdir(mdir)
    node = {"zarr_format": 3, "node_type": "group", "attributes": {MANIFEST_ATTR: manifest}}
    with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(node, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(mdir)


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
    shape = vol.shape
    dtype = vol.dtype.newbyteorder("=")
    chunk_vol = chunk_shape(chunks, shape)
    chunk_disk = tuple(chunk_vol[v] for v in disk_axes(len(shape)))
    shard_disk = shard_shape(shards, chunk_vol, shape, dtype.itemsize)
    codec = compressor(codec)
    writer = _StoreWriter(tmp, vol, dest, progress)
    factors = [1, 1, 1]
    for lvl in range(levels):
        x, factors = writer.level_source(lvl, factors)
        grid = level_grid(chunk_disk, shard_disk, x.shape)
        writer.write_level(lvl, x, grid, codec, factors)
    writer.finish()


def _write_nifti_header(
    group: Any, tmp: str, vol: Volume, dtype: np.dtype, meta: dict[str, Any]
) -> dict[str, Any]:
    """The NIfTI-Zarr ``nifti`` header array; returns its manifest entry (``{}`` if none)."""
    hdr = store_header_bytes(vol.shape, dtype, vol.affine, meta)
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
