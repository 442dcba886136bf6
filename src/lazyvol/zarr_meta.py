"""What the Zarr reader and writer agree on: store-format constants, the manifest's location and
decoding, JSON-safe metadata, Zarr array metadata (v3 ``zarr.json``, v2 ``.zarray``) and the
manifest's hashes of the group's ``zarr.json`` (:func:`group_hashes`, :func:`group_matches`:
everything but Zarr's consolidated metadata, which lazyvol does not read).

Pure functions over bytes and dictionaries: no file system access here (see
:mod:`lazyvol.zarr_store` for reading a store's files, local or remote).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from . import _json
from ._fsutil import OLD_MARK, TMP_MARK
from ._location import display_url, is_inner_key, is_url
from .errors import FormatError, IntegrityError, UnsupportedError, _printable
from .zarr_integrity import canonical_json, sha256_hex

__all__ = [
    "FORMAT",
    "BASE_VERSION",
    "FORMAT_VERSION",
    "LEGACY_MANIFEST",
    "MANIFEST",
    "MANIFEST_ATTR",
    "OLD_MARK",
    "PER_VOLUME_ATTR",
    "TMP_MARK",
    "array_meta_from_bytes",
    "decoded_chunk_shape",
    "from_json",
    "group_hashes",
    "group_matches",
    "is_lazyvol_store",
    "stored_level_affine",
    "manifest_from_json",
    "store_version",
    "to_json",
    "unit_of",
]

FORMAT = "lazyvol-zarr"
#: 3: as 2, but a 5-axis volume is stored time first, ``(t, c, z, y, x)``, the order OME-Zarr
#: requires (``zarr_ome.disk_axes``; stores of up to 4 axes are still written as format 2);
#: 2: per-chunk crc32c codec and a manifest with chunk fingerprints and metadata hashes;
#: 1: no checksums (read with an :class:`~lazyvol.zarr_integrity.UnverifiedStoreWarning`).
FORMAT_VERSION = 3
#: The format of stores of up to 4 axes (unchanged by format 3, so older readers keep reading
#: them, and cached copies keep their keys).
BASE_VERSION = 2


def store_version(ndim: int) -> int:
    """The format version a store of an ``ndim``-axis volume is written as."""
    return FORMAT_VERSION if ndim == 5 else BASE_VERSION


#: lazyvol attribute (true) of a store whose ``meta`` holds the per-volume lists (diffusion table,
#: PET frames) of the volume written, cut with it (``lazyvol._per_volume``); a store without it,
#: an older lazyvol's, holds its source's, which ``meta["source_index"]["t"]`` picks from at open.
PER_VOLUME_ATTR = "meta_per_volume_cut"

#: The manifest: a Zarr group node (so Zarr clients list the store without warnings) whose
#: attribute ``lazyvol_manifest`` holds it. Format-1 stores had a plain ``lazyvol-manifest.json``.
MANIFEST = "lazyvol-manifest/zarr.json"
LEGACY_MANIFEST = "lazyvol-manifest.json"
MANIFEST_ATTR = "lazyvol_manifest"


def to_json(obj: Any) -> Any:
    """JSON-safe copy of metadata: numpy values become Python ones; NaN/inf are tagged.

    URLs lose any user, password and credential query value (``***``): nothing lazyvol writes
    carries a credential. A file name that is not valid UTF-8 (an old archive's Latin-1 name,
    which Python holds with lone surrogates) is tagged with its bytes, ``{"$fsname": "caf\\xe9",
    "$fsbytes": "636166e9"}``: written as it was, a lone surrogate made the ``zarr.json`` invalid
    UTF-8, which strict JSON readers (other Zarr implementations) refuse.
    """
    if isinstance(obj, dict):
        return {_printable(str(k)): to_json(v) for k, v in obj.items()}
    if isinstance(obj, str) and (shown := _printable(obj)) != obj:
        raw = obj.encode("utf-8", "surrogateescape") if _escaped_bytes(obj) else None
        if raw is None:  # (surrogates no file-name decoding made: kept as shown)
            return shown
        return {"$fsname": shown, "$fsbytes": raw.hex()}
    if isinstance(obj, list | tuple):
        return [to_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_json(obj.tolist())
    if isinstance(obj, np.generic):
        return to_json(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"$float": repr(obj)}
    if isinstance(obj, bytes):
        return obj.decode("latin-1")
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, str) and is_url(obj):
        return _without_credentials(obj)
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    return str(obj)


def _without_credentials(url: str) -> str:
    """``url`` with user, password and credential query values replaced by ``***``; a URL with
    neither user information nor a query is kept exactly (fragment included)."""
    parts = urlsplit(url)
    if not (parts.username or parts.password or parts.query):
        return url
    return display_url(url)


def _escaped_bytes(text: str) -> bool:
    try:
        text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True


def from_json(obj: Any) -> Any:
    """Inverse of :func:`to_json` (tagged NaN/inf become floats again, tagged file names the
    names with their bytes)."""
    if isinstance(obj, dict):
        if set(obj) == {"$float"}:
            return float(obj["$float"])
        if set(obj) == {"$fsname", "$fsbytes"} and isinstance(obj["$fsbytes"], str):
            try:
                return bytes.fromhex(obj["$fsbytes"]).decode("utf-8", "surrogateescape")
            except ValueError:
                return str(obj["$fsname"])
        return {k: from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_json(v) for v in obj]
    return obj


def manifest_from_json(raw: bytes, key: str) -> Any:
    """The manifest in the bytes of file ``key`` (:data:`MANIFEST` or :data:`LEGACY_MANIFEST`).

    Raises ValueError when the bytes are not a manifest.
    """
    obj = _json.loads(raw)
    if key.endswith(MANIFEST):
        # The manifest's content is sealed (zarr_integrity.verify_manifest_seal); the node around
        # it must still be the Zarr v3 group lazyvol wrote, or other Zarr readers of the store
        # cannot walk it (a renamed or edited key would otherwise go unnoticed).
        if not (
            isinstance(obj, dict)
            and obj.get("zarr_format") == 3
            and obj.get("node_type") == "group"
        ):
            raise ValueError("its node is not a Zarr v3 group (zarr_format 3, node_type 'group')")
        attrs = obj.get("attributes")
        if not isinstance(attrs, dict) or not isinstance(attrs.get(MANIFEST_ATTR), dict):
            raise ValueError(f"no attribute {MANIFEST_ATTR!r}")
        obj = attrs[MANIFEST_ATTR]
    if (why := _manifest_problem(obj)) is not None:
        raise ValueError(why)
    return obj


def _manifest_problem(m: Any) -> str | None:
    """What in the manifest ``m`` is not as lazyvol writes it, in the fields its readers use
    (a hand-edited manifest sealed again, or a format-1 one damaged); None when nothing is. An
    array's path never leaves the store (``..``, absolute)."""
    if not isinstance(m, dict):
        return "not a mapping"
    if not isinstance(m.get("complete", False), bool):
        return "'complete' is not true or false"
    if not _is_number(m.get("created", 0.0)):
        return "'created' is not a time"
    if not isinstance(m.get("source"), (str, type(None))):
        return "'source' is not a path"
    levels, arrays = m.get("levels", []), m.get("arrays", {})
    if not isinstance(levels, list):
        return "'levels' is not a list"
    if not isinstance(arrays, dict):
        return "'arrays' is not a mapping"
    entries = [
        (f"levels[{i}]", e, e.get("path") if isinstance(e, dict) else None)
        for i, e in enumerate(levels)
    ]
    entries += [(f"arrays[{k!r}]", e, k) for k, e in arrays.items()]
    for name, entry, path in entries:
        if not isinstance(entry, dict):
            return f"{name} is not a mapping"
        if not is_inner_key(path):
            return f"{name}: the array's path {path!r} is not a key inside the store"
        shape = entry.get("shape", [])
        if not isinstance(shape, list) or not all(_is_count(n) for n in shape):
            return f"{name}: 'shape' is not a list of counts"
        affine = entry.get("affine", np.eye(4).tolist())
        if not (
            isinstance(affine, list)
            and len(affine) == 4
            and all(
                isinstance(row, list) and len(row) == 4 and all(_is_number(v) for v in row)
                for row in affine
            )
        ):
            return f"{name}: 'affine' is not a 4x4 matrix of numbers"
        if not isinstance(entry.get("meta_sha256", ""), str):
            return f"{name}: 'meta_sha256' is not a hash"
        table = entry.get("chunks", {})
        if not isinstance(table, dict) or not all(
            isinstance(v, list) and len(v) == 2 and all(_is_count(n) for n in v)
            for v in table.values()
        ):
            return f"{name}: 'chunks' is not a table of chunk files (key -> [size, fingerprint])"
    return None


def stored_level_affine(
    level: Mapping[str, Any], group: Mapping[str, Any], where: str
) -> np.ndarray:
    """The affine of a store's ``level`` (manifest entry), or the ``group``'s (its ``lazyvol``
    attributes: a level of an older store lists none) when it lists none.

    Raises
    ------
    FormatError
        It is not a 4x4 matrix of numbers (``where`` names the store and level).
    """
    try:
        affine = np.array(level.get("affine", group.get("affine")), dtype=np.float64)
    except (TypeError, ValueError):
        affine = np.zeros(0)
    if affine.shape != (4, 4):
        raise FormatError(f"{where}: the affine is not a 4x4 matrix of numbers; write it again")
    return affine


def _is_count(n: Any) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n >= 0


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def array_meta_from_bytes(
    raw: bytes, where: str, label: str, *, v2: bool, sha256: str | None = None
) -> dict[str, Any]:
    """An array's metadata (Zarr v2 ``.zarray`` in v3 terms) from its file's bytes.

    ``where`` names the file in errors, ``label`` the store and array; with ``sha256`` the bytes
    are checked against that manifest hash first.
    """
    if sha256 is not None and sha256_hex(raw) != sha256:
        raise IntegrityError(
            f"{label}: zarr.json (array metadata: dtype, shape, codecs) differs "
            "from the manifest (sha256); the store was edited or damaged; write it again"
        )
    try:
        meta = _json.loads(raw)
    except ValueError as exc:
        raise FormatError(f"{where}: unreadable Zarr array metadata: {exc}") from exc
    if v2 and not isinstance(meta, dict):
        raise FormatError(f"{where}: not Zarr v2 array metadata (a JSON object)")
    if v2:
        # In v3 terms, values as written: _check_grid judges them (v2 names its fields).
        meta = {
            "node_type": "array",
            "zarr_format": 2,
            "shape": meta.get("shape"),
            "chunk_grid": {"configuration": {"chunk_shape": meta.get("chunks")}},
        }
    elif not isinstance(meta, dict) or meta.get("node_type") != "array":
        node = meta.get("node_type") if isinstance(meta, dict) else None
        raise FormatError(f"{where}: not a Zarr v3 array (node_type={node!r})")
    _check_grid(meta, where, v2=v2)
    return meta


def _check_grid(meta: dict[str, Any], where: str, *, v2: bool = False) -> None:
    """``shape`` and the regular grid's ``chunk_shape``: whole numbers, as many as the axes,
    shape >= 0 and chunks >= 1 (before anything is sized from them). With ``v2`` the message
    names the ``.zarray`` fields (``shape``, ``chunks``)."""
    shape = meta.get("shape")
    grid = meta.get("chunk_grid")
    config = grid.get("configuration") if isinstance(grid, dict) else None
    chunk = config.get("chunk_shape") if isinstance(config, dict) else None
    kind = "Zarr v2 .zarray" if v2 else "Zarr array"
    if isinstance(grid, dict) and "configuration" in grid and not isinstance(config, dict):
        raise FormatError(
            f"{where}: {kind} field chunk_grid.configuration = {config!r} is not an object "
            "(it holds the chunk_shape); the array metadata is corrupt"
        )
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise FormatError(
            f"{where}: {kind} field shape = {shape!r} is not a list of whole numbers >= 0; the "
            "array metadata is corrupt"
        )
    if chunk is None and not v2:
        name = grid.get("name") if isinstance(grid, dict) else None
        cls = FormatError if name == "regular" or grid is None else UnsupportedError
        raise cls(
            f"{where}: {kind} field chunk_grid = {grid!r} states no chunk_shape of a regular "
            f"grid (grid name {name!r}); lazyvol reads the Zarr v3 'regular' chunk grid "
            "({'name': 'regular', 'configuration': {'chunk_shape': [...]}}): the metadata is "
            "corrupt, or the array needs rewriting with regular chunks"
        )
    if (
        not isinstance(chunk, list)
        or len(chunk) != len(shape)
        or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in chunk)
    ):
        field = "chunks" if v2 else "chunk_grid.configuration.chunk_shape"
        raise FormatError(
            f"{where}: {kind} field {field} = {chunk!r} is not {len(shape)} whole numbers "
            ">= 1 (one per axis of shape); the array metadata is corrupt"
        )
    _check_inner(meta.get("codecs"), chunk, where)


def _check_inner(codecs: Any, outer: list[int], where: str) -> None:
    """A sharded array's inner ``chunk_shape`` (nested shards too): whole numbers >= 1, one per
    axis, dividing the shard evenly (the sharding codec's rule)."""
    while isinstance(codecs, list) and codecs and isinstance(codecs[0], dict):
        if codecs[0].get("name") != "sharding_indexed":
            return
        cfg: Any = codecs[0].get("configuration")
        cfg = cfg if isinstance(cfg, dict) else {}
        inner = cfg.get("chunk_shape")
        if (
            not isinstance(inner, list)
            or len(inner) != len(outer)
            or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in inner)
            or any(o % i for o, i in zip(outer, inner))
        ):
            raise FormatError(
                f"{where}: Zarr array field codecs[0] (sharding_indexed) configuration.chunk_shape "
                f"= {inner!r} is not {len(outer)} whole numbers >= 1 dividing the shard "
                f"{outer}; the array metadata is corrupt"
            )
        codecs, outer = cfg.get("codecs"), inner


def decoded_chunk_shape(arr_meta: dict[str, Any]) -> tuple[int, ...]:
    """The shape of the smallest piece a read decodes whole: a sharded array's inner chunk
    (``sharding_indexed`` reads only the inner chunks asked for), else the chunk; disk order."""
    shape = unit_of(arr_meta)
    codecs = arr_meta.get("codecs") or []
    while codecs and isinstance(codecs[0], dict) and codecs[0].get("name") == "sharding_indexed":
        try:
            cfg = codecs[0]["configuration"]
            shape = tuple(int(c) for c in cfg["chunk_shape"])
            codecs = cfg.get("codecs") or []
        except (KeyError, TypeError, ValueError):
            break  # (zarr refuses such metadata when the array is opened)
    return shape


def unit_of(arr_meta: dict[str, Any]) -> tuple[int, ...]:
    """The chunk (or shard) shape of an array's metadata, disk order."""
    grid = arr_meta.get("chunk_grid", {})
    try:
        return tuple(int(c) for c in grid["configuration"]["chunk_shape"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UnsupportedError(
            f"unsupported Zarr chunk grid {grid!r} (only 'regular' is read)"
        ) from exc


#: Keys of a group's ``zarr.json`` outside its hash: Zarr v3's consolidated copy of the arrays'
#: metadata (``zarr.consolidate_metadata``, a routine step before publishing a store over HTTP or
#: S3). lazyvol never reads it: each array's own ``zarr.json`` is read and hashed on its own.
UNHASHED_GROUP_KEYS = ("consolidated_metadata",)


def _group_content(raw: bytes) -> dict[str, Any] | None:
    """A group's ``zarr.json`` without :data:`UNHASHED_GROUP_KEYS`; None when it is no JSON
    object."""
    try:
        doc = _json.loads(raw)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    return {k: v for k, v in doc.items() if k not in UNHASHED_GROUP_KEYS}


def group_hashes(raw: bytes) -> dict[str, str]:
    """The manifest's hashes of the group's ``zarr.json`` (``raw``, as written): ``group_sha256``
    of its bytes and ``group_content_sha256`` of its canonical JSON without
    :data:`UNHASHED_GROUP_KEYS` (the attributes, affine, OME metadata lazyvol relies on, in any
    formatting)."""
    content = _group_content(raw)
    out = {"group_sha256": sha256_hex(raw)}
    if content is not None:
        out["group_content_sha256"] = sha256_hex(canonical_json(content))
    return out


def group_matches(raw: bytes, manifest: Mapping[str, Any]) -> bool:
    """Whether the group's ``zarr.json`` (``raw``, as read now) is the one ``manifest`` hashed,
    up to :data:`UNHASHED_GROUP_KEYS` (consolidation is no edit). A manifest written before
    ``group_content_sha256`` hashed the bytes zarr-python wrote (JSON indented by 2): the group
    without the consolidated metadata, written so again, must give them."""
    if sha256_hex(raw) == manifest.get("group_sha256"):
        return True
    content = _group_content(raw)
    if content is None:
        return False
    if "group_content_sha256" in manifest:
        return bool(sha256_hex(canonical_json(content)) == manifest["group_content_sha256"])
    rewritten = json.dumps(content, indent=2).encode()
    return bool(sha256_hex(rewritten) == manifest.get("group_sha256"))


def is_lazyvol_store(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a directory holding a Zarr group written by lazyvol (its group
    metadata carries lazyvol's attributes; a DICOM series' file list can make it megabytes)."""
    try:
        with open(os.path.join(os.fspath(path), "zarr.json"), "rb") as f:
            doc = _json.loads(f.read())
    except (OSError, ValueError):
        return False
    attrs = doc.get("attributes") if isinstance(doc, dict) else None
    return isinstance(attrs, dict) and isinstance(attrs.get("lazyvol"), dict)
