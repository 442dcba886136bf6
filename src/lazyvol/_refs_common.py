"""Assembly of kerchunk version-1 references for :mod:`lazyvol.refs`: Zarr v2 metadata,
CF scaling attributes, JSON-safe attributes."""

from __future__ import annotations

import base64
import itertools
import json
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from . import _json
from ._location import Location, credential_params
from .errors import FormatError, LazyvolError, ResourceLimitError, UnsupportedError
from .sources import SourceStamp

__all__ = [
    "EXTRA_AXES",
    "assemble",
    "identity",
    "jsonable",
    "reference_table",
    "refuse_norange",
    "scale_attrs",
    "target_url",
]

#: Names of the axes after k, in stored order.
EXTRA_AXES = ("t", "u", "v", "w")


def scale_attrs(slope: float, inter: float) -> dict[str, Any]:
    """CF decoding attributes for value = stored x slope + inter (none for the identity)."""
    if not (math.isfinite(slope) and math.isfinite(inter)):
        raise FormatError(f"rescale slope={slope} / intercept={inter} is not finite")
    attrs: dict[str, Any] = {}
    if slope != 1.0 or inter != 0.0:
        attrs["scale_factor"] = float(slope)
        attrs["add_offset"] = float(inter)
    return attrs


def _zarray(
    shape: Sequence[int],
    chunks: Sequence[int],
    dtype: np.dtype,
    compressor: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "zarr_format": 2,
        "shape": [int(n) for n in shape],
        "chunks": [int(n) for n in chunks],
        "dtype": dtype.str,
        "compressor": compressor,
        "filters": None,
        "fill_value": None,
        "order": "C",
        "dimension_separator": ".",
    }


def assemble(
    refs: dict[str, Any],
    name: str,
    shape: Sequence[int],
    chunks: Sequence[int],
    dtype: np.dtype,
    dims: list[str],
    attrs: dict[str, Any],
    group_attrs: dict[str, Any],
    extra: Mapping[str, tuple[np.ndarray, list[str]]] | None = None,
    compressor: dict[str, Any] | None = None,
) -> dict[str, Any]:
    n_voxels = int(np.prod(shape, dtype=object))
    if n_voxels * dtype.itemsize > 2**63:
        raise ResourceLimitError(f"{n_voxels} voxels cannot be addressed")
    metadata: dict[str, Any] = {
        ".zgroup": {"zarr_format": 2},
        ".zattrs": group_attrs,
        f"{name}/.zarray": _zarray(shape, chunks, dtype, compressor),
        f"{name}/.zattrs": {"_ARRAY_DIMENSIONS": dims, **attrs},
    }
    inline: dict[str, str] = {}
    for arr_name, (values, adims) in (extra or {}).items():
        arr = np.ascontiguousarray(values, dtype="<f8")
        metadata[f"{arr_name}/.zarray"] = _zarray(arr.shape, arr.shape, arr.dtype)
        metadata[f"{arr_name}/.zattrs"] = {"_ARRAY_DIMENSIONS": adims}
        key = ".".join("0" for _ in arr.shape)
        inline[f"{arr_name}/{key}"] = "base64:" + base64.b64encode(arr.tobytes()).decode()
    out: dict[str, Any] = {k: json.dumps(v) for k, v in metadata.items()}
    out[".zmetadata"] = json.dumps({"zarr_consolidated_format": 1, "metadata": metadata})
    out.update(inline)
    out.update(refs)
    return {"version": 1, "refs": out}


def jsonable(x: Any) -> Any:
    """``x`` with numpy values, tuples and other objects made JSON-safe."""
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.generic):
        return jsonable(x.item())
    if isinstance(x, float):
        return x if math.isfinite(x) else str(x)
    if x is None or isinstance(x, bool | int | str):
        return x
    return str(x)


def identity(stamp: SourceStamp) -> dict[str, Any]:
    """What references record of a target's identity: its size, last-modified time and ETag (a
    remote object), or size, mtime, inode and ctime (a local file), as ``lazyvol.open`` compares
    them."""
    keys = (
        ("size", "mtime_ns", "etag") if stamp.is_url else ("size", "mtime_ns", "inode", "ctime_ns")
    )
    return {k: getattr(stamp, k) for k in keys}


def target_url(loc: Location) -> str:
    """The URL (or absolute path) references write for ``loc``: without user or password (a
    reader passes its own credentials as ``remote_options``), every query parameter kept, since
    it may select the object (``?key=scan.nii``).

    Raises
    ------
    lazyvol.UnsupportedError
        The URL's query holds parameters that are or may be credentials (a pre-signed S3 or GCS
        URL, an Azure SAS, ``?token=``, ``?key=``): references cannot hold them, and without
        them the URL reaches no object, or another one.
    """
    names = credential_params(loc.url)
    if names:
        raise UnsupportedError(
            f"{loc.display}: references cannot hold credentials, and this URL's query holds "
            f"parameters that are or may be credentials ({', '.join(sorted(set(names)))}); "
            "without them it would reach no object, or another. Make the references of a URL "
            "that needs no "
            "credentials in its query (s3://bucket/key or gs://bucket/key with the credentials in "
            "storage_options, or a public https URL); each reader passes its own credentials as "
            "the reference filesystem's remote_options"
        )
    return loc.identity


def refuse_norange(locs: Sequence[Location], ignores_range: Any) -> None:
    """Refuse references to an HTTP(S) server that ignores ``Range`` (``ignores_range(loc)``: a
    read of it made for these references asked for a part and received the whole object): a
    reference reader (fsspec's reference filesystem, kerchunk) takes each chunk from the answer
    to its ranged request, which is then the whole object, and fails (a reshape error) or
    decodes the wrong bytes."""
    for loc in locs:
        if loc.protocol in ("http", "https") and ignores_range(loc):
            raise UnsupportedError(
                f"{loc.display}: the server ignores Range requests (it answered a request for "
                "part of the object with the whole object), so no reference reader can fetch a "
                "chunk from it: each read would return the whole file. Enable range requests on "
                "the server (or serve the files from one that honours them), or convert with "
                "lazyvol.open(...).to_zarr(...)"
            )


_IDENTITY = ("size", "mtime_ns", "inode", "ctime_ns")
#: Most references a ``gen`` entry may generate for a check (its dimensions' product).
MAX_GENERATED = 10_000_000
_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _render(text: str, names: Mapping[str, Any]) -> str:
    """``text`` with kerchunk's ``{{name}}`` templates replaced by ``names`` (fsspec's reference
    filesystem substitutes them so by default); an expression (``{{i * 8}}``: a Jinja template)
    through a sandboxed Jinja, as fsspec renders one when asked to."""
    out = _TEMPLATE.sub(lambda m: str(names[m.group(1)]), text)
    if "{{" not in out:
        return out
    try:
        import jinja2.sandbox
    except ImportError:
        raise UnsupportedError(
            f"references template {text!r} is a Jinja expression, and checking it needs jinja2: "
            "pip install jinja2"
        ) from None
    try:
        return str(jinja2.sandbox.SandboxedEnvironment().from_string(text).render(**names))
    except Exception as exc:  # (jinja2's TemplateError, SecurityError: a ValueError here)
        raise ValueError(
            f"template {text!r} does not render ({type(exc).__name__}: {exc})"
        ) from None


def _generated(gens: Any, templates: Mapping[str, Any]) -> Iterator[list[Any]]:
    """The ``[url, offset, length]`` references kerchunk's ``gen`` entries generate: one per
    point of the product of their dimensions (a list of values, or ``start``/``stop``/``step``)."""
    if not isinstance(gens, list):
        raise TypeError(f"gen is {type(gens).__name__}, not a list")
    for gen in gens:
        dims = {
            str(k): v
            if isinstance(v, list)
            else range(v.get("start", 0), v["stop"], v.get("step", 1))
            for k, v in gen["dimensions"].items()
        }
        if math.prod(len(v) for v in dims.values()) > MAX_GENERATED:
            raise ResourceLimitError(
                f"references generate more than {MAX_GENERATED} chunk references in one gen entry"
            )
        for values in itertools.product(*dims.values()):
            names = {**templates, **dict(zip(dims, values, strict=True))}
            url = _render(str(gen["url"]), names)
            if "offset" in gen and "length" in gen:
                offset = _render(str(gen["offset"]), names)
                length = _render(str(gen["length"]), names)
                yield [url, int(offset), int(length)]
            else:
                yield [url]


def _entries(doc: Any) -> tuple[Mapping[str, Any], Iterator[Any]]:
    """The table of a kerchunk document (version 0: the document itself; version 1: its
    ``refs``) and its references with templates substituted and ``gen`` entries generated."""
    version = doc.get("version")
    if version is None:
        table = doc.get("refs", doc)
    elif version == 1:
        table = doc.get("refs", {})
    else:
        raise UnsupportedError(
            f"kerchunk references version {version!r}: the spec defines versions 0 and 1 only, "
            "so what its entries mean is unknown here"
        )
    templates = doc.get("templates") or {} if version == 1 else {}
    if not isinstance(table, Mapping) or not isinstance(templates, Mapping):
        raise TypeError("refs and templates must be objects")

    def walk() -> Iterator[Any]:
        for value in table.values():
            if isinstance(value, list) and value and isinstance(value[0], str) and "{{" in value[0]:
                value = [_render(value[0], templates), *value[1:]]
            yield value
        if version == 1:
            yield from _generated(doc.get("gen") or [], templates)

    return table, walk()


def reference_table(refs: Any) -> tuple[Mapping[str, Any], Mapping[str, Any], dict[str, int]]:
    """``(meta, targets, ends)`` of kerchunk references (a mapping, or the path of a JSON file:
    :func:`lazyvol.refs.check_references`): the ``lazyvol`` meta and per-file target identities
    of the group attributes, and how far into each target the byte ranges reach (templates
    substituted, ``gen`` entries generated, as kerchunk's version-1 spec says). FormatError for
    a document that holds no such references (not JSON, nested too deeply, other types);
    UnsupportedError for a version the spec does not define and Parquet references."""
    where = "references" if isinstance(refs, Mapping) else os.fspath(refs)
    if not isinstance(refs, Mapping) and os.path.isdir(where):
        raise UnsupportedError(
            f"{where}: is a folder (kerchunk's Parquet references?); lazyvol checks references "
            "in JSON only: write them as JSON (kerchunk's refs_to_dataframe has an inverse in "
            "fsspec's LazyReferenceMapper) or check the JSON they were made from"
        )
    try:
        if isinstance(refs, Mapping):
            doc: Any = refs
        else:
            with open(where, "rb") as f:
                doc = _json.loads(f.read())
        table, entries = _entries(doc)
        attrs = table.get(".zattrs", "{}")
        attrs = _json.loads(attrs) if isinstance(attrs, str | bytes) else attrs
        meta = (attrs.get("lazyvol") or {}).get("meta") or {}
        targets = (attrs.get("lazyvol") or {}).get("targets") or {}  # a DICOM series' files
        ends: dict[str, int] = {}
        for value in entries:
            if isinstance(value, list) and value and isinstance(value[0], str):
                end = int(value[1]) + int(value[2]) if len(value) == 3 else 0
                ends[value[0]] = max(ends.get(value[0], 0), end)
        for own in (meta, *targets.values()):
            if not isinstance(own, Mapping):
                raise TypeError(f"a target's identity is {own!r}, not an object")
            for key in _IDENTITY:
                int(own.get(key) or 0)
    except LazyvolError as exc:  # (a version, a template or a size refused: named by the file)
        raise type(exc)(f"{where}: {exc}") from None
    except (ValueError, TypeError, AttributeError, KeyError) as exc:  # (OSError: the file's own)
        raise FormatError(
            f"{where}: not kerchunk references lazyvol can check ({type(exc).__name__}: {exc})"
        ) from None
    return meta, targets, ends
