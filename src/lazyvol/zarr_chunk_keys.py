"""Chunk files that are not where an array's metadata puts them (a local store without a manifest).

A Zarr reader finds a chunk by the key its array metadata gives it (Zarr v2: the chunk's indexes
joined by ``dimension_separator``, ``.`` unless stated; v3: ``chunk_key_encoding``, ``c/0/0/0``
by default) and takes a chunk with no file there for one never written: the fill value. An array
whose files are named otherwise -- a v2 store written with nested folders (``0/0/0``) by a zarr
that did not record ``dimension_separator`` (zarr-python before 2.8, early ome-zarr-py), a
metadata file rewritten with another separator or encoding -- thus reads as nothing but its
fill value, zeros, with no error (zarr-python reads it so too). :func:`misplaced_chunks` tells
such an array at open: it holds chunk files, and none is named by the array's own encoding.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["misplaced_chunks"]

#: Files of an array folder that are not chunks.
_METADATA = frozenset({"zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata"})
#: Most files looked at for one named by the array's encoding (the first chunk file found
#: usually is; an array whose files are all named otherwise shows it within a few).
MOST_FILES = 2000

Encoder = Callable[[tuple[int, ...]], str]


def _encoder(doc: dict[str, Any]) -> Encoder | None:
    """The key of a chunk (its grid indexes) by the array metadata ``doc`` (a ``.zarray`` or an
    array's ``zarr.json``); None for an encoding not known here (nothing is judged)."""
    if doc.get("zarr_format") == 2:
        sep = doc.get("dimension_separator") or "."
        prefix: str | None = None
    else:
        enc = doc.get("chunk_key_encoding")
        name = enc.get("name") if isinstance(enc, dict) else None
        config = enc.get("configuration") if isinstance(enc, dict) else None
        config = config if isinstance(config, dict) else {}
        if name == "default":
            sep, prefix = config.get("separator", "/"), "c"
        elif name == "v2":
            sep, prefix = config.get("separator", "."), None
        else:
            return None
    if sep not in ("/", "."):
        return None

    def encode(coords: tuple[int, ...]) -> str:
        parts = [str(c) for c in coords] or ([] if prefix else ["0"])
        return sep.join(([prefix] if prefix else []) + parts)

    return encode


def _grid(doc: dict[str, Any]) -> tuple[int, ...] | None:
    """Chunks per axis of the array metadata ``doc`` (None: not a regular grid it states)."""
    try:
        shape = [int(n) for n in doc["shape"]]
        if doc.get("zarr_format") == 2:
            chunks = [int(n) for n in doc["chunks"]]
        else:
            chunks = [int(n) for n in doc["chunk_grid"]["configuration"]["chunk_shape"]]
    except (KeyError, TypeError, ValueError):
        return None
    if len(chunks) != len(shape) or min(chunks, default=1) < 1:
        return None
    return tuple(math.ceil(s / c) for s, c in zip(shape, chunks, strict=True))


def _chunk_files(folder: str, most: int) -> Iterator[str]:
    """Up to ``most`` files under the array folder (keys with ``/``), metadata left out, as the
    listing gives them (a flat folder of a million chunks is not listed whole to find one)."""
    found = 0
    stack = [("", folder)]
    while stack:
        rel, path = stack.pop()
        try:
            it = os.scandir(path)
        except OSError:
            continue
        with it:
            for e in it:
                key = f"{rel}/{e.name}" if rel else e.name
                try:
                    is_dir = e.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if is_dir:
                    stack.append((key, e.path))
                elif e.name not in _METADATA:
                    yield key
                    found += 1
                    if found >= most:
                        return


def misplaced_chunks(folder: str, doc: dict[str, Any]) -> str | None:
    """What is wrong when the local array folder ``folder`` (metadata ``doc``) holds files named
    as chunks of its grid by another encoding, and none by its own; None otherwise (chunks where
    the metadata puts them, no chunk file at all, an encoding or grid not known here)."""
    encode, grid = _encoder(doc), _grid(doc)
    if encode is None or grid is None:
        return None
    others = []
    for key in _chunk_files(folder, MOST_FILES):
        parts = re.split(r"[/.]", key)
        if parts and parts[0] == "c":
            parts = parts[1:]
        if len(parts) != len(grid) or not all(p.isdigit() for p in parts):
            continue  # (no chunk of this grid by any encoding: not judged)
        coords = tuple(int(p) for p in parts)
        if any(c >= n for c, n in zip(coords, grid, strict=True)):
            continue
        if encode(coords) == key:
            return None
        others.append((key, encode(coords)))
    if not others:
        return None
    shown = ", ".join(repr(k) for k, _ in others[:3])
    key, wanted = others[0]
    return (
        f"its chunk files are not named as its metadata names chunks ({shown}"
        f"{' ...' * (len(others) > 3)}; "
        f"chunk {key!r} would be {wanted!r}), so every chunk would read as absent: the fill "
        "value. The metadata's chunk key separator (Zarr v2 'dimension_separator', v3 "
        "'chunk_key_encoding') was lost or changed: state the one the files use"
    )
