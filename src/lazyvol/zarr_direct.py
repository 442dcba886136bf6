"""Blocks of lazyvol's own checksummed Zarr arrays, read without zarr-python.

Reading a Volume from a Zarr cache entry through zarr-python costs twice: importing zarr (about
0.2 s in a fresh process, more than opening the entry itself) and its per-chunk machinery (an
async store, the codec pipeline, buffer prototypes, a copy per layer), which made a whole-volume
mean from the cache CPU-bound at about twice the cost of reading and decoding the chunk files.

For the layouts lazyvol writes (a regular grid of chunks, or of shards of chunks, with default
``c/i/j/k`` keys; chunk codecs ``bytes`` (little-endian), then ``blosc`` or ``zstd`` or nothing,
then ``crc32c``; a shard index ``bytes`` + ``crc32c`` at the shard's end), in a store whose sealed
manifest lists every chunk file, :class:`DirectArray` reads the chunk files itself. Each file is
read whole and checked as :class:`~lazyvol.zarr_integrity.VerifiedStore` checks it (every crc32c
in it, then its size and fingerprint against the manifest, with the same errors), decoded with
numcodecs (the decoders zarr-python's ``blosc`` and ``zstd`` codecs call) and copied into the
block. Any other layout (a transpose codec, another compressor, big-endian bytes, a remote or a
foreign store) is read through zarr-python as before.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from .errors import FormatError
from .zarr_frames import claimed_size
from .zarr_integrity import read_chunk

__all__ = ["DirectArray", "Layout", "direct_layout"]

#: zarr v3 ``data_type`` names read here (numpy spells them the same).
_DTYPES = frozenset(
    {
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "complex64",
        "complex128",
    }
)
#: Compressors between ``bytes`` and ``crc32c`` decoded here.
_COMPRESSORS = ("blosc", "zstd")
#: Shard index entry of an absent inner chunk.
_ABSENT = 2**64 - 1
#: Fill values zarr v3 writes as strings for floating-point types.
_FLOAT_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class Layout(NamedTuple):
    """How an array's chunk files are laid out and encoded (see :func:`direct_layout`)."""

    #: ``"blosc"``, ``"zstd"`` or ``""`` (no compressor).
    codec: str
    #: The grid's chunk: one file (a shard when ``n_inner`` is not None).
    chunk: tuple[int, ...]
    #: The unit decoded at once: the chunk, or a shard's inner chunk.
    inner: tuple[int, ...]
    #: Inner chunks per shard, or None (unsharded).
    n_inner: int | None
    #: Where a shard's index is (``"end"``, as lazyvol writes it); ``""`` unsharded.
    index_location: str
    #: The value of an absent inner chunk.
    fill: Any


def _named(entry: Any) -> tuple[str, Mapping[str, Any]] | None:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
        return None
    cfg = entry.get("configuration") or {}
    return (entry["name"], cfg) if isinstance(cfg, Mapping) else None


def _pipeline(codecs: Any, compressors: tuple[str, ...]) -> str | None:
    """The compressor of ``[bytes (little-endian), <compressor>?, crc32c]``, ``""`` for none, or
    None for any other codec list."""
    if not isinstance(codecs, list | tuple) or len(codecs) not in (2, 3):
        return None
    named = [_named(c) for c in codecs]
    if any(n is None for n in named):
        return None
    first, *middle, last = [n for n in named if n is not None]
    if first[0] != "bytes" or first[1].get("endian", "little") != "little":
        return None
    if last[0] != "crc32c" or last[1]:
        return None
    if not middle:
        return ""
    return middle[0][0] if middle[0][0] in compressors else None


def _fill(value: Any, dtype: np.dtype) -> Any:
    """The fill value of the metadata as a numpy scalar; raises ValueError for forms not read here
    (zarr's hexadecimal float encodings)."""
    if dtype.kind == "c" and isinstance(value, list | tuple) and len(value) == 2:
        value = complex(*(_FLOAT_WORDS[v] if isinstance(v, str) else float(v) for v in value))
    elif isinstance(value, str):
        if dtype.kind != "f" or value not in _FLOAT_WORDS:
            raise ValueError(f"fill value {value!r}")
        value = _FLOAT_WORDS[value]
    elif not isinstance(value, bool | int | float):
        raise ValueError(f"fill value {value!r}")
    return np.array(value).astype(dtype)[()]


def direct_layout(meta: Mapping[str, Any]) -> Layout | None:
    """The layout of Zarr v3 array metadata whose chunk files :class:`DirectArray` reads, or None
    when zarr-python must read them."""
    try:
        if meta.get("zarr_format") != 3 or meta.get("node_type") != "array":
            return None
        if meta.get("storage_transformers") or meta.get("data_type") not in _DTYPES:
            return None
        dtype = np.dtype(str(meta["data_type"]))
        grid = meta["chunk_grid"]
        if grid.get("name") != "regular":
            return None
        chunk = tuple(int(c) for c in grid["configuration"]["chunk_shape"])
        if len(chunk) != len(meta["shape"]) or min(chunk, default=1) < 1:
            return None
        keys = meta.get("chunk_key_encoding") or {}
        sep = (keys.get("configuration") or {}).get("separator", "/")
        if keys.get("name") != "default" or sep != "/":
            return None
        fill = _fill(meta.get("fill_value", 0), dtype)
        codecs = meta["codecs"]
        codec = _pipeline(codecs, _COMPRESSORS)
        if codec is not None:
            return Layout(codec, chunk, chunk, None, "", fill)
        shard = _named(codecs[0]) if isinstance(codecs, list) and len(codecs) == 1 else None
        if shard is None or shard[0] != "sharding_indexed":
            return None
        cfg = shard[1]
        inner = tuple(int(c) for c in cfg["chunk_shape"])
        codec = _pipeline(cfg.get("codecs"), _COMPRESSORS)
        if (
            codec is None
            or _pipeline(cfg.get("index_codecs"), ()) != ""
            or cfg.get("index_location", "end") != "end"
            or len(inner) != len(chunk)
            or any(i < 1 or c % i for c, i in zip(chunk, inner))
        ):
            return None
        n_inner = math.prod(c // i for c, i in zip(chunk, inner))
        return Layout(codec, chunk, inner, n_inner, "end", fill)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):
        return None


def _overlap(
    origin: tuple[int, ...], size: tuple[int, ...], starts: list[int], stops: list[int]
) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """``(source, destination)`` slices of the part of the unit at ``origin`` (of ``size``) that
    lies in the box ``[starts, stops)``: in the unit, and in the box's output array."""
    src, dst = [], []
    for o, n, a, b in zip(origin, size, starts, stops):
        lo, hi = max(a, o), min(b, o + n)
        src.append(slice(lo - o, hi - o))
        dst.append(slice(lo - a, hi - a))
    return tuple(src), tuple(dst)


class DirectArray:
    """One array of a local, checksummed lazyvol store, read chunk file by chunk file.

    Parameters
    ----------
    folder : str
        The array's directory.
    meta : mapping
        Its ``zarr.json``, already checked against the manifest (SHA-256), for which
        :func:`direct_layout` is not None.
    chunks : mapping
        The manifest's chunk table of the array (``{key: [size, fingerprint]}``).
    label : str
        Names the store and the array in errors.
    """

    def __init__(
        self, folder: str, meta: Mapping[str, Any], chunks: Mapping[str, Any], label: str
    ) -> None:
        layout = direct_layout(meta)
        if layout is None:
            raise ValueError("internal: this array's layout is read through zarr-python")
        self.folder = folder
        self.layout = layout
        self.shape = tuple(int(n) for n in meta["shape"])
        self.dtype = np.dtype(str(meta["data_type"])).newbyteorder("<")
        self.chunks = chunks
        self.label = label
        self._unit_bytes = math.prod(layout.inner) * self.dtype.itemsize

    def __getitem__(self, index: tuple[slice, ...]) -> np.ndarray:
        """The values at ``index`` (one slice per axis, disk order), as a new array."""
        if len(index) != len(self.shape) or not all(isinstance(s, slice) for s in index):
            raise TypeError("internal: DirectArray takes one slice per axis")
        bounds = [s.indices(n) for s, n in zip(index, self.shape)]
        if any(step != 1 for _, _, step in bounds):
            # A strided selection: read its bounding box, then take every step-th value.
            ranges = [range(*b) for b in bounds]
            if any(len(r) == 0 for r in ranges):
                return np.empty(tuple(len(r) for r in ranges), dtype=self.dtype)
            box = self[tuple(slice(min(r), max(r) + 1) for r in ranges)]
            return box[np.ix_(*[np.array(r) - min(r) for r in ranges])]
        starts = [b[0] for b in bounds]
        stops = [max(b[0], b[1]) for b in bounds]
        out = np.empty([b - a for a, b in zip(starts, stops)], dtype=self.dtype)
        if out.size == 0:
            return out
        lay = self.layout
        spans = [range(a // c, (b - 1) // c + 1) for a, b, c in zip(starts, stops, lay.chunk)]
        for pos in itertools.product(*spans):
            key = "c/" + "/".join(map(str, pos))
            raw = self._checked_file(key)
            origin = tuple(p * c for p, c in zip(pos, lay.chunk))
            if lay.n_inner is None:
                src, dst = _overlap(origin, lay.chunk, starts, stops)
                out[dst] = self._unit(key, memoryview(raw)[:-4])[src]
            else:
                self._from_shard(key, raw, origin, starts, stops, out)
        return out

    def _checked_file(self, key: str) -> bytes:
        """Chunk file ``key``, read whole after every check of its bytes against the manifest."""
        lay = self.layout
        path = os.path.join(self.folder, *key.split("/"))
        return read_chunk(
            self.label, key, path, self.chunks.get(key), lay.n_inner, lay.index_location
        )

    def _from_shard(
        self,
        key: str,
        raw: bytes,
        origin: tuple[int, ...],
        starts: list[int],
        stops: list[int],
        out: np.ndarray,
    ) -> None:
        """Copy the inner chunks of shard ``key`` (bytes ``raw``, at ``origin``) that meet the box
        ``[starts, stops)`` into ``out``. The index and every inner chunk were checked
        (:func:`~lazyvol.zarr_integrity.read_chunk`: crc32c and bounds) with the file."""
        lay = self.layout
        assert lay.n_inner is not None
        isize = lay.n_inner * 16 + 4
        entries = np.frombuffer(
            raw, dtype="<u8", count=2 * lay.n_inner, offset=len(raw) - isize
        ).reshape(-1, 2)
        per = tuple(c // i for c, i in zip(lay.chunk, lay.inner))
        spans = [
            range((max(a, o) - o) // i, (min(b, o + c) - 1 - o) // i + 1)
            for a, b, o, c, i in zip(starts, stops, origin, lay.chunk, lay.inner)
        ]
        view = memoryview(raw)
        for local in itertools.product(*spans):
            off, nbytes = (int(v) for v in entries[np.ravel_multi_index(local, per)])
            corner = tuple(o + p * i for o, p, i in zip(origin, local, lay.inner))
            src, dst = _overlap(corner, lay.inner, starts, stops)
            if off == _ABSENT:  # as zarr_integrity.chunk_fingerprint tells an absent one
                out[dst] = lay.fill
                continue
            unit = self._unit(f"{key} (inner chunk {list(local)})", view[off : off + nbytes - 4])
            out[dst] = unit[src]

    def _unit(self, what: str, body: memoryview) -> np.ndarray:
        """A decoded chunk (or inner chunk) from its payload ``body`` (without its crc32c).

        Decoded into a buffer of the size the chunk's shape needs, after checking that the
        frame's header states exactly that size: a header's claim never sizes an allocation.
        """
        codec = self.layout.codec
        out = np.empty(self.layout.inner, dtype=self.dtype)
        claimed = body.nbytes if not codec else claimed_size(codec, body)
        if claimed != self._unit_bytes:
            told = (
                f"is not a {codec} frame that states its decoded size (lazyvol writes it in each)"
                if claimed is None
                else f"decodes to {claimed} bytes"
            )
            raise FormatError(
                f"{self.label}: chunk {what} {told}, its shape {list(self.layout.inner)} of "
                f"{self.dtype.name} needs {self._unit_bytes}; the store was written wrongly; "
                "write it again"
            )
        try:
            if codec == "blosc":
                from numcodecs import blosc

                blosc.decompress(body, out)
            elif codec == "zstd":
                from numcodecs import zstd

                zstd.decompress(body, out)
            else:
                out[...] = np.frombuffer(body, dtype=self.dtype).reshape(out.shape)
        except (RuntimeError, ValueError) as exc:  # numcodecs' errors for a frame it cannot decode
            raise FormatError(
                f"{self.label}: chunk {what} passed its checksums but does not decode as {codec} "
                f"({type(exc).__name__}: {exc}); the store was written wrongly; write it again"
            ) from exc
        return out
