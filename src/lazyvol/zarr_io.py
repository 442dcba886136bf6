"""Read Volumes from Zarr stores, local or remote: lazyvol's own (written by
:func:`~lazyvol.zarr_write.write_zarr`, re-exported here), OME-Zarr 0.5 (Zarr v3) and OME-Zarr 0.4
(Zarr v2) images, and references :func:`lazyvol.references` wrote (``lazyvol.zarr_refs``).

Layout of a store written by lazyvol::

    store/
      zarr.json                  group; attributes {"ome": {...OME-Zarr 0.5...}, "lazyvol": {...}}
      0/zarr.json, 0/c/...       full resolution array
      1/ ...                     optional downsampled levels (``levels=N``)
      nifti/zarr.json, nifti/c/0 NIfTI-Zarr: the binary NIfTI header (exact affine)
      lazyvol-manifest/zarr.json written last, an empty group whose attribute is the manifest:
                                 the store is complete only when it exists

Integrity (:mod:`lazyvol.zarr_integrity`): every chunk ends with a crc32c (codec in the array's
pipeline); the manifest lists every chunk file's size and checksum fingerprint and the SHA-256 of
every ``zarr.json``; reads verify and raise :class:`IntegrityError` naming store and chunk.

Axes. A Volume's data has axes ``(i, j, k[, t])`` (nibabel's convention). The array on disk is the
volume *transposed*: ``disk = vol.data.transpose()``, axes ``(z, y, x)`` or ``(t, z, y, x)`` in C
order, where ``x`` is ``i``, ``y`` is ``j`` and ``z`` is ``k``. A C-ordered ``(k, j, i)`` array has
exactly the byte layout of a Fortran-ordered ``(i, j, k)`` NIfTI image, and the axis order is the
one OME-Zarr requires (time, then space with x fastest).

Geometry: ``lazyvol.zarr_ome`` (OME scale/translation with RFC-4 orientations, exact without
rotation; the exact affine in lazyvol's attributes and the NIfTI-Zarr header).
Remote stores (``s3://``, ``gs://``, ``http(s)://``, anything fsspec resolves; pass
``storage_options``): metadata and the manifest are read whole, chunk data through zarr's
:class:`zarr.storage.FsspecStore`, and every chunk is verified against the manifest as it is read,
exactly as for a local store. The chunk files of a remote store are not listed at open (a listing of
thousands of objects would cost more than the read): a missing, truncated or swapped chunk is
refused when it is read. Credentials never appear in ``Volume.source``, tokens or messages.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from typing import Any

import numpy as np

from . import _json, zarr_nifti
from . import zarr_integrity as zi
from ._io import Location
from ._per_volume import source_volumes
from ._warn import warn as _warn_user
from .errors import (
    FormatError,
    IntegrityError,
    LazyvolError,
    ResourceLimitError,
    UnknownOptionError,
    UnsupportedError,
)
from .ome_dimension_names import check_dimension_names
from .scaling import apply_scale, check_cast, nifti_scaling
from .sources import HEADER_FILES_KEY
from .volume import Volume
from .zarr_collections import not_an_image, parent_attrs
from .zarr_foreign_array import check_foreign_array
from .zarr_meta import (
    FORMAT,
    FORMAT_VERSION,
    LEGACY_MANIFEST,
    MANIFEST,
    MANIFEST_ATTR,
    OLD_MARK,
    PER_VOLUME_ATTR,
    TMP_MARK,
    from_json,
    group_matches,
    is_lazyvol_store,
    manifest_from_json,
    stored_level_affine,
)
from .zarr_ome import check_level, nifti_level, read_multiscales
from .zarr_read import (
    _ARRAYS,
    FallbackPlan,
    ZarrPlan,
    _array_meta,
    _cached_array,
    _manifest_key,
    make_volume,
    manifest_path,
    read_block,
    read_block_or_fallback,
    read_manifest,
)
from .zarr_refs import is_references, open_references
from .zarr_store import StoreRoot, followed_size, page_note
from .zarr_write import write_zarr

__all__ = [
    "FORMAT",
    "FallbackPlan",
    "FORMAT_VERSION",
    "LEGACY_MANIFEST",
    "MANIFEST",
    "MANIFEST_ATTR",
    "OLD_MARK",
    "TMP_MARK",
    "ZarrPlan",
    "is_lazyvol_store",
    "open_store",
    "open_zarr",
    "read_block",
    "read_block_or_fallback",
    "source_objects",
    "write_zarr",
]

#: Re-exported for the cache and for tests (the read task's handle cache lives in zarr_read).
_REEXPORTED = (_ARRAYS, _cached_array, manifest_path, read_manifest)


# -- opening ---------------------------------------------------------------------------------------


def open_zarr(
    path: str | os.PathLike[str] | Location,
    *,
    chunks: Any = "auto",
    level: int = 0,
    dtype: Any = None,
    scale: bool = True,
    storage_options: Any = None,
    **options: Any,
) -> Volume:
    """Open a Zarr v3 store written by lazyvol, or any OME-Zarr image, lazily.

    Parameters
    ----------
    path : str, path-like or Location
        The store directory (holding ``zarr.json``), or its URL (``s3://bucket/image.zarr``,
        ``https://...``).
    chunks : "auto" or dask chunk spec
        Dask chunks in the Volume's axis order ``(i, j, k[, t])``. ``"auto"``: whole on-disk
        chunks/shards grown to :func:`lazyvol.config.chunk_budget`.
    level : int
        Multiscale level to open (0 = full resolution).
    dtype : dtype, optional
        Cast the values (lazily, block by block) to this dtype.
    scale : bool
        Apply the ``scl_slope``/``scl_inter`` of a NIfTI-Zarr store's header (the NIfTI-Zarr
        converter stores a scaled NIfTI's stored integers and keeps its scaling there), by the
        NIfTI rule (:func:`lazyvol.scaling.nifti_scaling`) and dtype rule
        (:func:`lazyvol.scaled_dtypes.scaled_dtype`); ``False`` gives the stored values. A lazyvol store
        holds the values as they were written: nothing to apply.
    storage_options : mapping, optional
        fsspec options for a URL (credentials, endpoint); never shown or saved.

    Returns
    -------
    Volume
        For a lazyvol store: the values, dtype, affine, meta and source that were written
        (``meta`` comes back through JSON: tuples become lists; ``source`` is the store path when the
        written volume had none). For a foreign OME-Zarr image: data transposed to ``(x, y, z[, ...])``
        and the affine from its NIfTI-Zarr header when it has one that agrees with the OME metadata
        (in the header's space unit, as nibabel gives the NIfTI file), else from the OME scale and
        translation placed by the axes' RFC-4 orientations, in millimetres
        (``meta["affine_source"]`` says which, ``meta["xyzt_units"]`` the unit).

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
    SourceNotFoundError, RemoteAccessError, RemoteReadError
        A remote store that is missing, denied or failing.

    Warns
    -----
    UnverifiedStoreWarning
        A store written by an older lazyvol without checksums (store format 1): it is read, but
        cannot be verified.
    """
    if options:
        raise UnknownOptionError(
            f"{Location.of(path).display}: unexpected options for a Zarr store: {sorted(options)}"
        )
    return open_store(
        path, chunks=chunks, level=level, dtype=dtype, scale=scale, storage_options=storage_options
    )


def source_objects(
    path: str | os.PathLike[str] | Location, storage_options: Any = None
) -> list[str]:
    """The files (paths or URLs) whose identity keys a cache entry of the store.

    A lazyvol store (format 2): its manifest alone, which seals every metadata file and every chunk
    file's size and checksum fingerprint (reads verify every chunk against it), so one stamp of it
    names the whole store. Any other store: every file in it.
    """
    root = StoreRoot.of(path, storage_options)
    try:
        _, attrs = _group_meta(root)
    except FormatError:
        attrs = {}
    lv = attrs.get("lazyvol")
    try:
        sealed = isinstance(lv, dict) and _store_version(lv, root.display) >= 2
    except FormatError:
        sealed = False  # (opening the store refuses it, naming the field)
    if sealed and root.exists(MANIFEST):
        return [root.loc.join(MANIFEST).url if root.is_remote else root.where(MANIFEST)]
    return root.list_all()


def _store_version(lv: dict[str, Any], store: str) -> int:
    """The store format version of a lazyvol store's attributes (``lazyvol.version``, a whole
    number; 0 when not stated, as the first stores wrote none); FormatError for another value."""
    version = lv.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, (int, float)) or version % 1:
        raise FormatError(
            f"{store}: attribute lazyvol.version = {version!r} is not a whole number (the "
            "store format version lazyvol writes); the group metadata is corrupt; write the "
            "store again"
        )
    return int(version)


def _group_meta(root: StoreRoot) -> tuple[bytes, dict[str, Any]]:
    """The raw ``zarr.json`` of the group (``b""`` for Zarr v2) and its attributes."""
    try:
        group_raw = root.read("zarr.json")
        group_meta = _json.loads(group_raw)
    except FileNotFoundError as exc:
        group_raw = b""
        group_meta = _zarr_v2_group(root)
        if group_meta is None:
            raise FormatError(
                f"{root.display}: no zarr.json (Zarr v3) or .zattrs/.zgroup (Zarr v2); not a Zarr "
                f"store{page_note(exc)}"
            ) from exc
    except (OSError, ValueError) as exc:
        raise FormatError(f"{root.where('zarr.json')}: unreadable Zarr metadata: {exc}") from exc
    attrs = group_meta.get("attributes", {}) if isinstance(group_meta, dict) else {}
    return group_raw, attrs if isinstance(attrs, dict) else {}


def open_store(
    path: str | os.PathLike[str] | Location,
    *,
    chunks: Any = "auto",
    level: int = 0,
    dtype: Any = None,
    fallback: Any = None,
    require_checksums: bool = False,
    scale: bool = True,
    storage_options: Any = None,
) -> Volume:
    """:func:`open_zarr` with two options for the cache.

    ``fallback``: a picklable callable ``fallback(plan, index, exc)`` returning block ``index``
    when reading it from the store raises a :class:`FormatError` (damaged, removed store).
    ``require_checksums``: refuse (IntegrityError) a store without checksums.
    """
    root = StoreRoot.of(path, storage_options)
    level = check_level(level, root.display)
    group_raw, attrs = _group_meta(root)
    vol: Volume | None = None
    lv = attrs.get("lazyvol")
    if isinstance(lv, dict) and is_references(lv):  # (those lazyvol.references writes)
        vol = open_references(root, lv, chunks, level, scale, require_checksums)
    elif isinstance(lv, dict):
        vol = _OpenLazyvol(root, lv, level, require_checksums).volume(chunks, group_raw, fallback)
    else:
        manifest = next((k for k in (MANIFEST, LEGACY_MANIFEST) if root.holds(k)), None)
        if manifest is not None:
            # lazyvol wrote this store (its manifest is there), and every store lazyvol writes
            # carries 'lazyvol' group attributes: read as a plain OME-Zarr, an edit would pass.
            raise IntegrityError(
                f"{root.where('zarr.json')}: a lazyvol store ({manifest} is present) whose group "
                "metadata has no 'lazyvol' attributes; the group's zarr.json was edited or "
                "damaged; write the store again"
            )
        if require_checksums:
            raise IntegrityError(
                f"{root.display}: not a lazyvol store; it carries no lazyvol checksums"
            )
        ome = attrs.get("ome") if isinstance(attrs.get("ome"), dict) else None
        if ome is None and "multiscales" in attrs:
            ome = {"version": attrs.get("version", "0.4"), "multiscales": attrs["multiscales"]}
        if ome is not None and ome.get("multiscales"):
            vol = _open_ome(root, ome, chunks, level, scale)
    if vol is not None:
        if dtype is not None and np.dtype(dtype) != vol.dtype:
            # (as the other readers cast: into an integer dtype, a fraction or a value that does
            # not fit is refused, never truncated or wrapped)
            out = np.dtype(dtype)
            check_cast(root.display, vol.dtype, out, "the store's array dtype")
            import dask.array as da

            data = da.map_blocks(_cast, vol.data, dtype=out, to=out, where=root.display)
            vol = Volume(data, vol.affine, meta=vol.meta, source=vol.source)
        return vol
    raise FormatError(not_an_image(root.display, attrs, root.attrs_of, parent_attrs(root)))


def _cast(block: np.ndarray, *, to: np.dtype, where: str) -> np.ndarray:
    """``block`` in dtype ``to`` (``dtype=``), checked as :func:`lazyvol.scaling.apply_scale`."""
    return apply_scale(block, 1.0, 0.0, to, where=where, fields="")


def _zarr_v2_group(root: StoreRoot) -> dict[str, Any] | None:
    """A Zarr v2 group (``.zgroup``, attributes in ``.zattrs``) as v3-like metadata, else None."""
    try:
        attrs = _json.loads(root.read(".zattrs"))
    except FileNotFoundError:
        if not root.holds(".zgroup"):
            return None
        attrs = {}
    except (OSError, ValueError) as exc:
        raise FormatError(f"{root.where('.zattrs')}: unreadable Zarr v2 attributes: {exc}") from exc
    return {"node_type": "group", "zarr_format": 2, "attributes": attrs}


class _OpenLazyvol:
    """Opening a lazyvol store: the manifest, its seals and hashes, then the level's Volume."""

    def __init__(
        self, root: StoreRoot, lv: dict[str, Any], level: int, require_checksums: bool
    ) -> None:
        store = root.display
        if lv.get("format") != FORMAT:
            raise FormatError(
                f"{store}: attribute lazyvol.format = {lv.get('format')!r}, expected {FORMAT!r}"
            )
        if _store_version(lv, store) > FORMAT_VERSION:
            raise UnsupportedError(
                f"{store}: written by a newer lazyvol (store format {lv.get('version')}); upgrade "
                "lazyvol"
            )
        self.root, self.lv, self.level = root, lv, level
        self.require_checksums = require_checksums
        self.mkey = _manifest_key(root)
        self.manifest = self._load_manifest()

    def _load_manifest(self) -> dict[str, Any]:
        where = self.root.where(self.mkey)
        try:
            manifest = manifest_from_json(self.root.read(self.mkey), self.mkey)
        except FileNotFoundError as exc:
            raise FormatError(
                f"{self.root.display}: incomplete lazyvol store: its manifest ({MANIFEST}) is "
                "missing (the write was interrupted); write the store again"
            ) from exc
        except (OSError, ValueError) as exc:
            raise FormatError(
                f"{where}: unreadable manifest ({exc}); write the store again"
            ) from exc
        if not isinstance(manifest, dict):
            raise FormatError(f"{where}: not a lazyvol manifest; write the store again")
        return manifest

    def _check_level_files(self, array: str, table: Any, sha256: Any) -> dict[str, Any]:
        """Metadata hash of ``array`` and (local stores) its chunk files against the manifest."""
        arr_meta = _array_meta(self.root, array, str(sha256))
        found = self.root.chunk_files(array, len(table or {}))
        if found is not None:
            zi.verify_level_files(f"{self.root.display} (array {array!r})", table or {}, found)
        return arr_meta

    def volume(self, chunks: Any, group_raw: bytes, fallback: Any) -> Volume:
        root, manifest, level = self.root, self.manifest, self.level
        store, where = root.display, root.where(self.mkey)
        checked = _store_version(self.lv, store) >= 2 or "manifest_sha256" in manifest
        manifest_sha: str | None = None
        if checked:
            manifest_sha = zi.verify_manifest_seal(manifest, where)
            if not group_matches(group_raw, manifest):
                raise IntegrityError(
                    f"{store}: zarr.json (group metadata: affine, dtype, OME) differs from the "
                    "manifest (sha256); the store was edited or damaged; write it again"
                )
        elif self.require_checksums:
            raise IntegrityError(f"{store}: store format 1 carries no checksums")
        levels = manifest.get("levels") or []
        if not manifest.get("complete") or not 0 <= level < len(levels):
            raise FormatError(
                f"{store}: manifest has no complete level {level} ({len(levels)} levels); write it "
                "again"
            )
        info = levels[level]
        array = str(info["path"])
        if checked:
            if not isinstance(info.get("chunks"), dict) or not isinstance(
                info.get("meta_sha256"), str
            ):
                raise IntegrityError(
                    f"{where}: level {level} has no chunk table; write the store again"
                )
            arr_meta = self._check_level_files(array, info["chunks"], info["meta_sha256"])
            for other in levels:  # the rest of the store: metadata hashes, chunk files present
                if other is not info and isinstance(other, dict):
                    path, sha = str(other.get("path")), other.get("meta_sha256")
                    self._check_level_files(path, other.get("chunks"), sha)
            _verify_small_arrays(root, manifest.get("arrays") or {})
        else:
            arr_meta = self._unverified_level(info, array)
        if [int(n) for n in arr_meta["shape"]] != [int(n) for n in info["shape"]]:
            raise FormatError(
                f"{store}: array {array!r} shape {arr_meta['shape']} disagrees with the manifest"
            )
        affine = stored_level_affine(info, self.lv, f"{store}: level {level}")
        meta = from_json(self.lv.get("meta", {}))
        if not self.lv.get(PER_VOLUME_ATTR):
            source_volumes(meta)  # (an older lazyvol's store: its source's lists)
        source = str(from_json(self.lv.get("source")) or store)
        georef = (affine, meta, source)
        # In the meta, where it travels with every selection of the volume; None for a store of a
        # source that records none (an older lazyvol's, or a remote source's): its source files'
        # headers are then not shown as the store's.
        token = self.lv.get(HEADER_FILES_KEY)
        if isinstance(token, str) or self.lv.get("source"):
            meta[HEADER_FILES_KEY] = token if isinstance(token, str) else None
        return make_volume(root, array, arr_meta, chunks, True, georef, manifest_sha, fallback)

    def _unverified_level(self, info: dict[str, Any], array: str) -> dict[str, Any]:
        """A format-1 store's level: chunk file count and bytes against the manifest."""
        zi.warn_unverified(self.root.display)
        found = self.root.chunk_files(array, info.get("chunk_files"))
        if found is not None:
            n_files = len(found)
            n_bytes = sum(followed_size(e, self.root.display) for e in found.values())
            listed = info["chunk_files"]
            if n_files != listed or n_bytes != info["chunk_bytes"]:
                why = "chunks are missing or damaged"
                if isinstance(listed, int) and n_files > listed:
                    why = "files it does not list were added (or chunks damaged)"
                raise FormatError(
                    f"{self.root.display}: level {self.level} has {n_files} chunk files "
                    f"({n_bytes} bytes) but the manifest lists {listed} ({info['chunk_bytes']} "
                    f"bytes): {why}; write the store again"
                )
        return _array_meta(self.root, array)


def _verify_small_arrays(root: StoreRoot, arrays: Any) -> None:
    """Metadata hash and whole content of the store's small arrays (the NIfTI-Zarr header)."""
    if not isinstance(arrays, dict):
        raise IntegrityError(
            f"{root.display}: manifest 'arrays' is not a mapping; write the store again"
        )
    for name, entry in arrays.items():
        label = f"{root.display} (array {name!r})"
        meta = _array_meta(root, str(name), str(entry.get("meta_sha256")))
        table = entry.get("chunks") or {}
        found = root.chunk_files(str(name), len(table))
        if found is not None:
            zi.verify_level_files(label, table, found)
        n_inner, loc = zi.inner_chunks_per_file(meta)
        for key, rec in table.items():
            try:
                raw = root.read(f"{name}/{key}")
            except FileNotFoundError:
                raw = b""
            got = [len(raw), zi.chunk_fingerprint(raw, n_inner, loc)]
            if got != list(rec) or zi.locate_damage(_constant(raw), [key], meta):
                raise IntegrityError(
                    f"{label}: chunk {key} does not match the manifest; write the store again"
                )


def _constant(data: bytes) -> Any:
    """A reader returning ``data`` for any key (to check bytes already read)."""
    return lambda _key: data


def _open_ome(root: StoreRoot, ome: dict[str, Any], chunks: Any, level: int, scale: bool) -> Volume:
    lvl = read_multiscales(root.display, ome, level)
    arr_meta = _array_meta(root, lvl.path)
    if len(arr_meta["shape"]) != lvl.ndim:
        raise FormatError(
            f"{root.display}: array {lvl.path!r} has {len(arr_meta['shape'])} axes, OME lists "
            f"{lvl.ndim}"
        )
    check_dimension_names(root.display, lvl, arr_meta)
    check_foreign_array(root, lvl.path, arr_meta)
    if level != 0:
        lvl = _check_level_extent(root, ome, lvl, arr_meta)
    raw = _nifti_zarr_header(root)
    scaling = (1.0, 0.0)
    if raw is not None:  # NIfTI-Zarr: its header's affine is the authority
        lvl0 = read_multiscales(root.display, ome, 0)
        disk0 = _array_meta(root, lvl0.path)["shape"]
        shape0 = [disk0[d] for d in lvl0.order]
        lvl = nifti_level(root.display, lvl, lvl0, shape0, raw)
        scaling = _nifti_zarr_scaling(root, raw, scale)
        meta = dict(lvl.meta, scl_slope=scaling[0], scl_inter=scaling[1], scaled=bool(scale))
        lvl = replace(lvl, meta=meta)
    georef = (lvl.affine, lvl.meta, root.display)
    return make_volume(
        root, lvl.path, arr_meta, chunks, False, georef, order=lvl.order, scaling=scaling
    )


def _check_level_extent(
    root: StoreRoot, ome: dict[str, Any], lvl: Any, arr_meta: dict[str, Any]
) -> Any:
    """``lvl`` (a level other than 0), with a warning and ``meta["level_disagreement"]`` when
    its space axes do not span level 0's extent: voxels x OME scale differing by a voxel of the
    level or more (a downsampled level rounds its voxel count, up or down, by less). A writer
    that stated one scale for every level, or none per level, gives such a level a voxel size
    (its affine) that its array shape contradicts; which of the two is wrong is not known."""
    lvl0 = read_multiscales(root.display, ome, 0)
    shape0 = _array_meta(root, lvl0.path)["shape"]
    problems = []
    for v in range(3):  # the volume's space axes i, j, k
        n, n0 = int(arr_meta["shape"][lvl.order[v]]), int(shape0[lvl0.order[v]])
        size, size0 = abs(lvl.meta["ome_scale"][v]), abs(lvl0.meta["ome_scale"][v])
        if abs(n * size - n0 * size0) >= size * (1 + 1e-9):
            problems.append(
                f"{lvl.meta['axes'][v]}: {n} x {size:g} = {n * size:g}, level 0: {n0} x "
                f"{size0:g} = {n0 * size0:g}"
            )
    if not problems:
        return lvl
    problem = (
        f"level {lvl.meta['level']} (array {lvl.path!r}) does not span level 0's extent (voxels x "
        f"OME scale, per axis; {'; '.join(problems)})"
    )
    _warn_user(
        f"lazyvol: {root.display}: {problem}: the level's OME scale or its array shape is wrong, "
        "so its voxel size and affine may be; compare it with level 0 (level=0)",
        RuntimeWarning,
    )
    return replace(lvl, meta=dict(lvl.meta, level_disagreement=problem))


def _nifti_zarr_scaling(root: StoreRoot, raw: bytes, scale: bool) -> tuple[float, float]:
    """The ``(slope, inter)`` a NIfTI-Zarr header applies to the store's values (its
    ``scl_slope``/``scl_inter`` by the NIfTI rule; identity with ``scale=False`` or a header that
    does not parse, which :func:`~lazyvol.zarr_ome.nifti_level` has warned of already). The
    header is the only record of the scaling, so it applies even where its affine is not used."""
    if not scale:
        return 1.0, 0.0
    try:
        slope, inter = zarr_nifti.header_scaling(raw)
    except ValueError:
        return 1.0, 0.0
    where = f"{root.display} (array {zarr_nifti.NIFTI_ARRAY!r})"
    return nifti_scaling(slope, inter, where)


def _nifti_zarr_header(root: StoreRoot) -> bytes | None:
    """The bytes of a NIfTI-Zarr store's ``nifti`` array (a 1-D uint8 array holding the binary
    header), None when the store has none; an unreadable one gives ``b""`` (not a header)."""
    name = zarr_nifti.NIFTI_ARRAY
    if root.absent(f"{name}/zarr.json") and root.absent(f"{name}/.zarray"):
        return None  # (a header not fetched is refused: it alone records the scaling)
    try:
        arr = zi.open_array_fast(root.zarr_store(name))
        nbytes = math.prod(arr.shape) * arr.dtype.itemsize
    except LazyvolError:  # (typed: a link to no file, a FIFO)
        raise
    except Exception:  # zarr's own errors are not typed; the header is then not used
        return b""
    if nbytes > zarr_nifti.NIFTI_ARRAY_MAX_BYTES:  # (not read: it would be allocated whole)
        raise ResourceLimitError(
            f"{root.display} (array {name!r}): shape {list(arr.shape)} claims {nbytes} bytes for "
            f"a NIfTI header and its extensions, over the limit of "
            f"{zarr_nifti.NIFTI_ARRAY_MAX_BYTES}; the NIfTI-Zarr metadata is corrupt"
        )
    try:
        data = np.asarray(arr[...])
    except LazyvolError:  # (typed: a chunk that is a link to no file, a FIFO)
        raise
    except Exception:  # zarr's own errors are not typed; the header is then not used
        return b""
    return data.tobytes() if data.dtype == np.uint8 and data.ndim == 1 else b""
