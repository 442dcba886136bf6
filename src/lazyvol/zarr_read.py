"""Read plans of Zarr stores: :class:`ZarrPlan` and :func:`read_block`, the task every dask chunk
of a Zarr-backed Volume runs, and :func:`make_volume`, which builds that Volume.

A read task opens the array once per process and opening (:func:`_cached_array`), checks that the
store is still the one opened, reads its block through a verifying store (every chunk file checked
against the manifest as it is read) and names the damaged chunk file when a crc32c fails. Local and
remote stores go through the same code (:class:`~lazyvol.zarr_store.StoreRoot`).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import handles
from . import zarr_integrity as zi
from .chunking import normalize_chunks, plan_array
from .config import check_chunk_bytes, check_volume_bytes, chunk_budget
from .errors import (
    FormatError,
    IntegrityError,
    LazyvolError,
    SourceNotFoundError,
    UnsupportedError,
)
from .geometry import check_affine
from .scaled_dtypes import is_identity, scaled_dtype
from .scaling import apply_scale
from .volume import Volume
from .zarr_codec_hints import codec_refusal, require_codecs
from .zarr_direct import DirectArray, direct_layout
from .zarr_meta import (
    LEGACY_MANIFEST,
    MANIFEST,
    array_meta_from_bytes,
    decoded_chunk_shape,
    manifest_from_json,
    unit_of,
)
from .zarr_ome import volume_axes
from .zarr_store import StoreRoot

__all__ = [
    "FallbackPlan",
    "ZarrPlan",
    "make_volume",
    "read_block",
    "read_block_or_fallback",
    "store_replaced",
]


# -- manifest --------------------------------------------------------------------------------------


def manifest_path(store: str) -> str:
    """Path of a local store's manifest: the current one, or a format-1 store's if only that
    exists."""
    path = os.path.join(store, MANIFEST)
    legacy = os.path.join(store, LEGACY_MANIFEST)
    return legacy if not os.path.exists(path) and os.path.exists(legacy) else path


def read_manifest(path: str) -> Any:
    """The manifest at local ``path`` (from :func:`manifest_path`); raises OSError or ValueError."""
    with open(path, "rb") as f:
        return manifest_from_json(f.read(), path)


def _manifest_key(root: StoreRoot) -> str:
    """The manifest's key in the store (a format-1 store's legacy file when only that exists)."""
    if root.is_remote:
        return (
            MANIFEST
            if root.exists(MANIFEST) or not root.exists(LEGACY_MANIFEST)
            else (LEGACY_MANIFEST)
        )
    return os.path.relpath(manifest_path(root.path), root.path).replace(os.sep, "/")


# -- read plans ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZarrPlan:
    """What a read task needs: the store, the array, and the chunk grid to check files against."""

    root: StoreRoot
    array: str
    shape: tuple[int, ...]  # disk order
    unit: tuple[int, ...]  # shard or chunk shape, disk order
    dtype: str
    check_files: bool
    token: str
    #: identity of the manifest when opened (local: inode, mtime_ns, ctime_ns); a store replaced
    #: since then is refused (ctime: a copy that kept the mtime and got a reused inode is seen)
    manifest_id: tuple[Any, ...] | None = None
    #: manifest_sha256 of a checksummed (format 2) store: every chunk read is verified against it
    manifest_sha256: str | None = None
    #: the file ``manifest_id`` identifies: the manifest (None), or a foreign store's array
    #: metadata (``<array>/zarr.json``), which has no manifest
    identity_key: str | None = None
    #: for each volume axis, the disk axis holding it (``zarr_ome.volume_axes``)
    order: tuple[int, ...] = ()
    #: ``(slope, inter)`` applied to the stored values (a NIfTI-Zarr header's scl_slope/scl_inter)
    scaling: tuple[float, float] = (1.0, 0.0)

    @property
    def store(self) -> str:
        """The store's path, or its URL without credentials."""
        return self.root.display


def _token(*parts: Any) -> str:
    """A stable token of plain values (str, int, None, tuples of them): dask-key safe, no dask
    import on the open path."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def _level_of(manifest: dict[str, Any], array: str) -> dict[str, Any]:
    for info in manifest.get("levels") or []:
        if isinstance(info, dict) and str(info.get("path")) == array:
            return info
    raise FormatError(f"manifest lists no array {array!r}")


#: Open zarr arrays of this process in the process-wide handle manager (LRU of 64; a forked
#: worker forgets its parent's arrays and remote sessions and opens its own).
_ARRAYS = handles.cache("zarr-array", 64)


def _cached_array(
    root: StoreRoot, array: str, token: str, manifest_sha256: str | None = None
) -> Any:
    """The zarr array a read task reads through: one per process, store and opening (``token``)."""
    return _ARRAYS.get(
        (root, array, token, manifest_sha256), lambda: _open_array(root, array, manifest_sha256)
    )


def _open_array(root: StoreRoot, array: str, manifest_sha256: str | None) -> Any:
    """Open ``array``; for a checksummed store, through a
    :func:`~lazyvol.zarr_integrity.VerifiedStore` holding the manifest's chunk table (or, for a
    local array in a layout lazyvol writes, as a :class:`~lazyvol.zarr_direct.DirectArray`,
    which makes the same checks without zarr-python): the manifest is read again here and must be
    the one opened."""
    if manifest_sha256 is None:
        return zi.open_array_fast(root.zarr_store(array))
    where = root.where(MANIFEST)
    try:
        manifest = manifest_from_json(root.read(MANIFEST), MANIFEST)
    except (OSError, ValueError) as exc:
        raise FormatError(f"{where}: unreadable manifest ({exc}); open the store again") from exc
    if zi.verify_manifest_seal(manifest, where) != manifest_sha256:
        raise FormatError(
            f"{root.display}: the store was replaced after it was opened; open it again"
        )
    info = _level_of(manifest, array)
    arr_meta = _array_meta(root, array, info.get("meta_sha256"))
    label = f"{root.display} (array {array!r})"
    chunks = info.get("chunks")
    if not root.is_remote and isinstance(chunks, dict) and direct_layout(arr_meta) is not None:
        # a layout lazyvol writes: read without zarr-python (same checks, same errors)
        return DirectArray(os.path.join(root.path, *array.split("/")), arr_meta, chunks, label)
    n_inner, loc = zi.inner_chunks_per_file(arr_meta)
    vstore = zi.VerifiedStore(
        root.zarr_store(array, checked=True),
        label=label,
        meta_sha256=str(info["meta_sha256"]),
        chunks=info["chunks"],
        n_inner=n_inner,
        index_location=loc,
    )
    return zi.open_array_fast(vstore, checked=True)


def _chunk_keys(plan: ZarrPlan, disk_index: tuple[slice, ...]) -> list[str]:
    ranges = [range(s.start // u, (s.stop - 1) // u + 1) for s, u in zip(disk_index, plan.unit)]
    return ["c/" + "/".join(map(str, key)) for key in itertools.product(*ranges)]


def store_replaced(plan: ZarrPlan) -> bool:
    """Whether the store ``plan`` reads was replaced since it was opened (its manifest is there,
    but not the file that was opened): written again, not damaged."""
    if plan.manifest_id is None:
        return False
    try:
        now = plan.root.file_id(plan.identity_key or _manifest_key(plan.root))
    except (OSError, LazyvolError):
        return False  # (gone: removed, not replaced)
    return now is not None and now != plan.manifest_id


def _replaced(where: str) -> FormatError:
    """The error of a read from a store written again (or removed) since it was opened."""
    return FormatError(
        f"{where}: the store was replaced or removed after it was opened; open it again"
    )


def _remote_replaced(plan: ZarrPlan) -> bool:
    """Whether the remote checksummed store ``plan`` reads has another manifest now, or none (a
    chunk failing its check is then a replacement, not damage). Local stores are checked by
    their manifest's identity before each read (:func:`_check_plan_files`)."""
    if not plan.root.is_remote or plan.manifest_sha256 is None:
        return False
    where = plan.root.where(MANIFEST)
    try:
        manifest = manifest_from_json(plan.root.read(MANIFEST), MANIFEST)
        return bool(zi.verify_manifest_seal(manifest, where) != plan.manifest_sha256)
    except (SourceNotFoundError, FileNotFoundError, IntegrityError, FormatError, ValueError):
        return True  # (no manifest there any more, or another that does not parse: replaced)
    except (OSError, LazyvolError):
        return False  # (the server failing now: nothing known of a replacement)


def _remote_foreign_replaced(plan: ZarrPlan) -> bool:
    """Whether the remote store without a manifest that ``plan`` reads has another array
    metadata file now than at open (size, ETag, last-modified time: one request), or none."""
    if not (plan.root.is_remote and plan.identity_key and plan.manifest_id is not None):
        return False
    try:
        now: tuple[Any, ...] | None = plan.root.file_id(plan.identity_key)
    except (SourceNotFoundError, FileNotFoundError):
        return True  # (removed)
    except (OSError, LazyvolError):
        return False  # (the server failing now: nothing known of a replacement)
    return now != plan.manifest_id


def _check_plan_files(plan: ZarrPlan, disk_index: tuple[slice, ...], where: str) -> None:
    """Before a read: the store is still the one opened, and (format 1) its chunk files exist.
    (A remote store without a manifest is checked after the read: :func:`read_block`.)"""
    if plan.manifest_id is not None and not plan.root.is_remote:
        key = plan.identity_key or _manifest_key(plan.root)
        try:
            now: tuple[Any, ...] | None = plan.root.file_id(key)
        except (OSError, LazyvolError):
            now = None
        if now != plan.manifest_id:
            raise _replaced(where)
    if plan.check_files and plan.manifest_sha256 is None:
        for key in _chunk_keys(plan, disk_index):
            if not plan.root.exists(f"{plan.array}/{key}"):
                raise FormatError(
                    f"{where}: chunk file {plan.root.where(plan.array + '/' + key)} is missing; "
                    "the store is incomplete or damaged; write it again (or delete the cache entry)"
                )


def read_block(plan: ZarrPlan, index: tuple[slice, ...]) -> np.ndarray:
    """Read block ``index`` (volume order) from a Zarr array.

    A checksummed store's chunk files are verified (size, crc32c and their manifest fingerprint);
    a format-1 store's chunk files are checked to exist. Damage raises :class:`IntegrityError`
    naming the store and the chunk key.
    """
    order = plan.order or tuple(reversed(range(len(index))))
    disk_index = tuple(index[order.index(d)] for d in range(len(index)))
    where = f"{plan.store} (array {plan.array!r}, block {[(s.start, s.stop) for s in index]})"
    _check_plan_files(plan, disk_index, where)
    try:
        arr = _cached_array(plan.root, plan.array, plan.token, plan.manifest_sha256)
        try:
            block = np.asarray(arr[disk_index])
        finally:
            zi.forget_verified(arr)
    except IntegrityError as exc:
        if _remote_replaced(plan):  # (a remote store's identity is its manifest: checked now)
            raise _replaced(where) from exc
        raise
    except LazyvolError as exc:
        if _remote_foreign_replaced(plan):  # (what failed may be the new store's bytes)
            raise _replaced(where) from exc
        raise
    except Exception as exc:
        if _remote_foreign_replaced(plan):
            raise _replaced(where) from exc
        if isinstance(exc, ValueError) and "checksum do not match" in str(exc):
            if _remote_replaced(plan):
                raise _replaced(where) from exc
            raise _crc_failure(plan, disk_index, where, exc) from exc
        refusal = codec_refusal(f"{plan.store} (array {plan.array!r})", exc)
        if refusal is not None:  # (a worker without the codec the opening process had)
            raise refusal from exc
        if plan.root.is_remote:
            raise plan.root.translate(exc, plan.array, "reading chunk data") from None
        key = _failing_chunk(plan, disk_index)
        what = f" (chunk file {plan.root.where(plan.array + '/' + key)})" if key else ""
        raise FormatError(
            f"{where}: reading the chunk data failed{what}: {type(exc).__name__}: {exc}"
        ) from exc
    if _remote_foreign_replaced(plan):  # (after the read: a rewrite during it is seen too)
        raise _replaced(where)
    out = block.transpose(order)
    if not is_identity(*plan.scaling):
        fields = "NIfTI header scl_slope / scl_inter"
        return apply_scale(out, *plan.scaling, np.dtype(plan.dtype), where=where, fields=fields)
    if out.dtype != np.dtype(plan.dtype):
        out = out.astype(plan.dtype)
    return out


#: Most chunks of a block whose decoding failed that are decoded one by one to name the one.
_MOST_TRIED = 64


def _failing_chunk(plan: ZarrPlan, disk_index: tuple[slice, ...]) -> str | None:
    """The key of the first chunk (a shard, for a sharded array) of the block ``disk_index`` that
    fails to read alone, or None (none found, or more than :data:`_MOST_TRIED` chunks): a
    block spans many chunk files, and the message names the damaged one."""
    try:
        arr = _cached_array(plan.root, plan.array, plan.token, plan.manifest_sha256)
        grid = tuple(arr.shards or arr.chunks)
        shape = tuple(arr.shape)
        ranges = [
            range(s.start // g, (s.stop - 1) // g + 1)
            for s, g in zip(disk_index, grid, strict=True)
        ]
        if math.prod(len(r) for r in ranges) > _MOST_TRIED:
            return None
        for coords in itertools.product(*ranges):
            box = tuple(
                slice(c * g, min((c + 1) * g, n))
                for c, g, n in zip(coords, grid, shape, strict=True)
            )
            try:
                arr[box]
            except Exception:  # (the failure the block met, or another of this chunk's)
                return str(arr.metadata.encode_chunk_key(coords))
            finally:
                zi.forget_verified(arr)
    except Exception:  # (naming the chunk is a courtesy: never a failure of its own)
        return None
    return None


def _crc_failure(
    plan: ZarrPlan, disk_index: tuple[slice, ...], where: str, exc: Exception
) -> IntegrityError:
    """IntegrityError for zarr's crc32c failure, naming the damaged chunk file when it is found."""
    keys = _chunk_keys(plan, disk_index)
    if plan.manifest_sha256 is None:
        # (another writer's layout: inner chunks of a shard need not carry a crc32c, which
        # locate_damage takes for damage; each chunk decoded alone tells)
        bad = _failing_chunk(plan, disk_index)
    else:
        try:
            bad = zi.locate_damage(
                lambda k: plan.root.read(f"{plan.array}/{k}"),
                keys,
                _array_meta(plan.root, plan.array),
            )
        except LazyvolError:
            bad = None
    what = (
        f"chunk {bad}" if bad else f"one of chunks {', '.join(keys[:4])}{' ...' * (len(keys) > 4)}"
    )
    return IntegrityError(
        f"{where}: {what} fails its crc32c checksum ({exc}); the file is damaged; write the "
        "store again (or restore it)"
    )


def _auto_read_chunks(unit_vol: Any, shape: Any, itemsize: int) -> tuple[int, ...]:
    """Dask chunks aligned to the store's chunks/shards, grown fastest axis (i) first to the budget."""
    block = [min(u, n) for u, n in zip(unit_vol, shape)]
    budget = max(chunk_budget(), int(np.prod(block)) * itemsize)
    for ax in range(min(3, len(block))):
        others = int(np.prod(block)) // block[ax] * itemsize
        mult = max(1, budget // (others * block[ax]))
        block[ax] = min(shape[ax], block[ax] * mult)
        if block[ax] < shape[ax]:
            break
    return tuple(block)


#: The key of a remote array metadata's SHA-256, as this open read its bytes, in
#: :func:`_array_meta`'s answer for a store without a manifest.
READ_SHA256 = "_lazyvol_read_sha256"


def _array_meta(root: StoreRoot, array: str, sha256: str | None = None) -> dict[str, Any]:
    """An array's metadata (Zarr v2 ``.zarray`` in v3 terms when only that exists); with
    ``sha256``, checked against that manifest hash."""
    key = f"{array}/zarr.json"
    v2 = False
    try:
        raw = root.read(key)
    except FileNotFoundError as exc:
        raw = b""
        if sha256 is None:
            try:
                raw = root.read(f"{array}/.zarray")
                key, v2 = f"{array}/.zarray", True
            except FileNotFoundError:
                pass
        if not v2:
            raise FormatError(
                f"{root.display}: array {array!r} is missing ({root.where(key)} not found); the "
                "store is incomplete"
            ) from exc
    except LazyvolError:  # (typed: a remote read's failure is no damaged file)
        raise
    except OSError as exc:
        raise FormatError(f"{root.where(key)}: unreadable Zarr array metadata: {exc}") from exc
    label = f"{root.display} (array {array!r})"
    meta = array_meta_from_bytes(raw, root.where(key), label, v2=v2, sha256=sha256)
    if root.is_remote and sha256 is None:  # (what this open read: :func:`_open_token`)
        meta = {**meta, READ_SHA256: hashlib.sha256(raw).hexdigest()}
    return meta


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


def _open_token(
    root: StoreRoot,
    array: str,
    manifest_sha256: str | None,
    check_files: bool,
    arr_meta: dict[str, Any] | None = None,
) -> tuple[str, tuple[Any, ...] | None, str | None]:
    """``(token of this opening, identity to check at read time or None, the key it identifies
    or None for the manifest)``.

    Local: the stat of the array metadata and the manifest (as :func:`os.stat` sees them); a
    foreign store (no manifest) is checked by its array metadata's identity, so a store replaced
    after it was opened is refused. Remote: a checksummed store is named by its manifest's SHA-256
    (no extra request; its chunks are verified against it); another by its array metadata's
    size, ETag and last-modified time at open, checked again after every block read (one
    request: a store rewritten since it was opened is refused, as a local one is), and by the
    SHA-256 of the array metadata bytes this open read (``arr_meta[READ_SHA256]``): a server's
    validators may not tell a same-size rewrite within the second apart (no ETag, or nginx's),
    and the token names the process's opened array, which must not be another opening's.
    """
    if root.is_remote:
        if manifest_sha256 is not None:
            return _token(root.loc.identity, array, manifest_sha256), None, None
        key = f"{array}/zarr.json"
        try:
            what = root.file_id(key)
        except FileNotFoundError:  # a Zarr v2 array
            key = f"{array}/.zarray"
            what = root.file_id(key)
        read = (arr_meta or {}).get(READ_SHA256)
        return _token(root.loc.identity, array, what, read), what, key
    meta_key = f"{array}/zarr.json"
    meta_path = os.path.join(root.path, array, "zarr.json")
    if not os.path.exists(meta_path) and os.path.exists(os.path.join(root.path, array, ".zarray")):
        meta_key, meta_path = f"{array}/.zarray", os.path.join(root.path, array, ".zarray")
    st = os.stat(meta_path)
    man = manifest_path(root.path)
    has_manifest = os.path.exists(man)
    mst = os.stat(man) if has_manifest else st
    pre = _token(
        root.path,
        array,
        st.st_mtime_ns,
        st.st_ctime_ns,
        mst.st_mtime_ns,
        mst.st_ctime_ns,
        mst.st_ino,
    )
    ident = (mst.st_ino, mst.st_mtime_ns, mst.st_ctime_ns)
    if check_files:
        return pre, ident, None
    return pre, (None if has_manifest else (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)), meta_key


def make_volume(
    root: StoreRoot,
    array: str,
    arr_meta: dict[str, Any],
    chunks: Any,
    check_files: bool,
    georef: tuple[np.ndarray, dict[str, Any], str],
    manifest_sha256: str | None = None,
    fallback: Any = None,
    order: tuple[int, ...] | None = None,
    scaling: tuple[float, float] = (1.0, 0.0),
) -> Volume:
    """The Volume of a Zarr array: ``order`` gives, for each volume axis, the disk axis holding it
    (None: from the array's ``dimension_names``, as lazyvol writes them; see
    :func:`~lazyvol.zarr_ome.volume_axes`); ``scaling``, the ``(slope, inter)`` applied to the
    stored values (a NIfTI-Zarr header's; the dtype follows :func:`lazyvol.scaled_dtypes.scaled_dtype`)."""
    affine, meta, source = georef
    shape_disk = tuple(int(n) for n in arr_meta["shape"])
    unit = unit_of(arr_meta)
    if order is None:
        names = arr_meta.get("dimension_names")
        named = isinstance(names, list) and len(names) == len(shape_disk)
        order = volume_axes(names) if named else tuple(reversed(range(len(shape_disk))))
    pre, manifest_id, identity_key = _open_token(
        root, array, manifest_sha256, check_files, arr_meta
    )
    # The array is opened once here (dtype; and it warms the read tasks' cache in this process).
    try:
        arr = _cached_array(root, array, pre, manifest_sha256)
        require_codecs(arr)  # (a Zarr v3 numcodecs.* codec is looked up when first decoded)
    except LazyvolError:
        raise
    except Exception as exc:  # zarr's own errors (unknown codec, invalid metadata) are not typed
        raise codec_refusal(f"{root.display} (array {array!r})", exc) or FormatError(
            f"{root.display} (array {array!r}): zarr cannot open the array: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    dtype = np.dtype(arr.dtype)
    if dtype.kind not in "biufc" or dtype.fields is not None:
        raise UnsupportedError(
            f"{root.display} (array {array!r}): dtype {arr.dtype} is not a numeric image dtype "
            "(strings, bytes, dates and structured records are not volumes); lazyvol reads "
            "boolean, integer, float and complex arrays"
        )
    dtype = dtype.newbyteorder("=")
    if dtype.kind == "b":
        scaling = (1.0, 0.0)  # (a boolean mask takes no scaling)
    dtype = scaled_dtype(dtype, [scaling])  # (the stored dtype when no scaling applies)
    check_volume_bytes(
        math.prod(shape_disk) * dtype.itemsize,
        f"{root.display} (array {array!r}): shape {list(shape_disk)} claims",
    )
    decoded = decoded_chunk_shape(arr_meta)
    check_chunk_bytes(
        math.prod(decoded) * dtype.itemsize,
        f"{root.display} (array {array!r}): chunk_shape {list(decoded)} claims",
    )
    shape = tuple(shape_disk[d] for d in order)
    if 0 in shape_disk:
        raise UnsupportedError(
            f"{root.display} (array {array!r}): shape {list(shape_disk)} has an axis of length 0: "
            "the array holds no voxels, so it is no volume to open (lazyvol does not write such "
            "arrays either)"
        )
    if chunks is None or (isinstance(chunks, str) and chunks == "auto"):
        chunk_spec: Any = _auto_read_chunks(tuple(unit[d] for d in order), shape, dtype.itemsize)
    else:
        chunk_spec = chunks
    norm = normalize_chunks(chunk_spec, shape, dtype, where=f"{root.display} (array {array!r})")
    token = _token(pre, norm, manifest_sha256, fallback is not None, scaling)
    plan = ZarrPlan(
        root,
        array,
        shape_disk,
        unit,
        dtype.str,
        check_files,
        pre,
        manifest_id,
        manifest_sha256,
        identity_key,
        order,
        scaling,
    )
    name = f"lazyvol-zarr-{token}"
    if fallback is not None:
        fplan = FallbackPlan(plan, fallback)
        data = plan_array(read_block_or_fallback, fplan, shape, norm, dtype, name)
    else:
        data = plan_array(read_block, plan, shape, norm, dtype, name)
    what = "the store's affine / OME scale and translation metadata"
    affine = check_affine(affine, root.display, what)
    return Volume(data, affine, meta=meta, source=source)
