"""Compressed chunk frames checked against their own header before a decoder trusts it.

Blosc, zstd and numcodecs' LZ4 frames state their decoded size in a header, and the decoders size
their output (and c-blosc its reads) from it, never from the chunk:

- A Blosc frame (c-blosc 1's format: numcodecs' ``Blosc``, zarr's ``blosc`` codec) starts with a
  16-byte header stating the decoded size (``nbytes``) and the frame's own size (``cbytes``); a
  frame stored uncompressed (the *memcpyed* flag, which incompressible data such as noisy images
  gets) is its header, then ``nbytes`` bytes copied out as they are. c-blosc decodes from the
  header alone: a chunk file cut short, or a shard index giving an inner chunk fewer bytes or
  bytes past the shard's end, had it read memory beyond the chunk -- garbage that changed from
  read to read, or by chance other bytes -- with no error, in zarr-python as in lazyvol before.
- A zstd frame's ``Frame_Content_Size`` and an LZ4 chunk's 4-byte size prefix size the buffer
  numcodecs allocates: 2**40 claimed was a 1 TiB allocation (a MemoryError, or less claimed and
  the memory taken).

So a frame is refused (``ValueError``, which the reader raises as a ``FormatError`` naming the
store, array, block and chunk file) when its header states more decoded bytes than its chunk has
(Blosc: other than its chunk has; zstd frames may be several, each smaller), or, for Blosc, a
frame longer than its bytes. Bytes after a whole Blosc frame are left, as c-blosc leaves them.
:func:`with_checked_frames` gives an opened array's metadata with these codecs in place of
zarr's (Zarr v3 ``blosc`` and ``zstd``, and ``numcodecs.blosc`` / ``.zstd`` / ``.lz4``, in shards
too) and numcodecs' (a Zarr v2 ``compressor``: Blosc, Zstd, LZ4), same configurations.
"""

from __future__ import annotations

import copy
import math
from typing import Any

__all__ = ["claimed_size", "filtered_size", "frame_problem", "with_checked_frames"]

#: Size of a Blosc (c-blosc 1) frame header.
HEADER = 16
#: Blosc header flag: the data follows the header uncompressed.
_MEMCPYED = 0x02
#: The zstd frame magic number (RFC 8878), little-endian.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: Most bytes an item of a numeric dtype a Zarr v2 filter may store (complex128).
_WIDEST_ITEM = 16


def claimed_size(codec: str, body: Any) -> int | None:
    """The decoded size a ``blosc`` or ``zstd`` frame's header states (None: it states none, or
    ``body`` is not such a frame).

    blosc (c-blosc 1 format): a 16-byte header whose bytes 4-7 are the decoded size and bytes
    12-15 the frame's length, little-endian.
    zstd (RFC 8878, 3.1.1.1): the magic number, the frame header descriptor, then an optional
    window descriptor and dictionary ID, then the Frame_Content_Size field (0, 1, 2, 4 or 8 bytes;
    a 2-byte value is stored minus 256).
    """
    data = memoryview(body).cast("B")
    head = bytes(data[:18])
    if codec == "blosc":
        if len(head) < 16 or int.from_bytes(head[12:16], "little") != data.nbytes:
            return None  # bytes 12-15 are the frame's own length: this is no blosc frame
        return int.from_bytes(head[4:8], "little")
    if len(head) < 5 or head[:4] != ZSTD_MAGIC:
        return None
    fhd = head[4]
    single = bool(fhd & 0x20)
    at = 5 + (0 if single else 1) + (0, 1, 2, 4)[fhd & 0x03]
    size = (1 if single else 0, 2, 4, 8)[fhd >> 6]
    if size == 0 or len(head) < at + size:
        return None
    value = int.from_bytes(head[at : at + size], "little")
    return value + 256 if size == 2 else value


def _blosc_problem(data: memoryview, expected: int | None, most: int | None) -> str | None:
    n = data.nbytes
    if n < HEADER:
        return f"{n} bytes, less than a Blosc header ({HEADER} bytes)"
    head = bytes(data[:HEADER])
    nbytes = int.from_bytes(head[4:8], "little")
    cbytes = int.from_bytes(head[12:16], "little")
    if cbytes > n or cbytes < HEADER:
        return f"its Blosc header states a frame of {cbytes} bytes, the chunk has {n}"
    if head[2] & _MEMCPYED and HEADER + nbytes > n:
        return (
            f"its Blosc header states {nbytes} bytes stored uncompressed after it, the chunk has "
            f"{n - HEADER}"
        )
    if expected is not None and nbytes != expected:
        return f"its Blosc header states {nbytes} decoded bytes, the chunk is {expected} bytes"
    if most is not None and nbytes > most:
        return f"its Blosc header states {nbytes} decoded bytes, more than a chunk's {most}"
    return None


def frame_problem(
    codec: str, buf: Any, expected: int | None, most: int | None = None
) -> str | None:
    """What is wrong with the ``codec`` (``"blosc"``, ``"zstd"``, ``"lz4"``) frame ``buf`` (a
    bytes-like object), or None. ``expected``: the decoded size its chunk has (None: not known);
    ``most``: a bound of it."""
    data = memoryview(buf).cast("B")
    if codec == "blosc":
        return _blosc_problem(data, expected, most)
    bound = expected if expected is not None else most
    if bound is None:
        return None
    if codec == "zstd":
        stated = claimed_size("zstd", data)
    else:  # (numcodecs' LZ4: the decoded size, 4 bytes little-endian, then an LZ4 block)
        stated = int.from_bytes(bytes(data[:4]), "little") if data.nbytes >= 4 else None
    if stated is not None and stated > bound:
        return f"its {codec} header states {stated} decoded bytes, the chunk is {bound} bytes"
    return None


#: numcodecs filters whose encoded size follows from their input's: codec id -> (the config
#: key of the dtype the input is viewed as, the key of the dtype stored, or None: the same).
_SIZED_FILTERS: dict[str, tuple[str, str | None]] = {
    "delta": ("dtype", "astype"),
    "astype": ("decode_dtype", "encode_dtype"),
    "fixedscaleoffset": ("dtype", "astype"),
    "quantize": ("dtype", "astype"),
    "bitround": ("dtype", None),
}


def filtered_size(configs: Any, nbytes: int) -> int | None:
    """The bytes numcodecs filters (their configurations, ``id`` included, in encoding order)
    make of ``nbytes`` bytes of a chunk; None when a filter's output size is not known here."""
    import numpy as np

    for config in configs:
        if not isinstance(config, dict):
            return None
        fid = config.get("id")
        if fid == "shuffle":
            continue  # (the same bytes, reordered)
        if fid not in _SIZED_FILTERS:
            return None
        view_key, out_key = _SIZED_FILTERS[fid]
        try:
            view = np.dtype(config.get(view_key) or "u1")
            out = np.dtype(config.get(out_key or view_key) or view)
        except (TypeError, ValueError):
            return None
        if view.itemsize == 0 or nbytes % view.itemsize:
            return None
        nbytes = nbytes // view.itemsize * out.itemsize
    return nbytes


def _refuse(codec: str, problem: str) -> ValueError:
    return ValueError(
        f"a {codec} frame that does not match its chunk: {problem} (a damaged or cut chunk, or a "
        "shard index that does not point at it); not decoded"
    )


def _make_v3_class(base_name: str, codec: str, sized: bool = True) -> type:
    """``sized``: its input is the chunk's bytes as they are (a ``bytes`` serializer), whose size
    the chunk's shape and dtype give; else (``numcodecs.pcodec``, a shard) only the frame's own
    header is checked."""
    import zarr.codecs

    base = getattr(zarr.codecs, base_name)

    def _decode_sync(self: Any, chunk_bytes: Any, chunk_spec: Any) -> Any:
        itemsize = chunk_spec.dtype.to_native_dtype().itemsize
        expected = math.prod(chunk_spec.shape) * itemsize if sized else None
        problem = frame_problem(codec, chunk_bytes.as_numpy_array(), expected)
        if problem is not None:
            raise _refuse(codec, problem)
        return base._decode_sync(self, chunk_bytes, chunk_spec)

    # (made with type(): zarr's codec classes are untyped, a class statement deriving from one
    # is a typing error in this strict module)
    doc = "zarr's codec of the same JSON name, refusing a frame that does not match its chunk."
    namespace = {"__doc__": doc, "__module__": __name__, "_decode_sync": _decode_sync}
    checked: type = type(f"Checked{base_name}", (base,), namespace)
    checked.__qualname__ = checked.__name__
    return checked


def _make_v2_class(base_name: str, codec: str) -> type:
    import numcodecs

    base = getattr(numcodecs, base_name)

    def decode(self: Any, buf: Any, out: Any = None) -> Any:
        problem = frame_problem(codec, buf, self._expected, self._most)
        if problem is not None:
            raise _refuse(codec, problem)
        return base.decode(self, buf, out)

    doc = "numcodecs' codec (same configuration), refusing a frame that does not match its chunk."
    namespace = {
        "__doc__": doc,
        "__module__": __name__,
        "_expected": None,
        "_most": None,
        "decode": decode,
    }
    checked: type = type(f"Checked{base_name}", (base,), namespace)
    checked.__qualname__ = checked.__name__
    return checked


#: (zarr v3 codec class, numcodecs class) names by frame kind.
_V3 = {"blosc": "BloscCodec", "zstd": "ZstdCodec"}
_V2 = {"blosc": "Blosc", "zstd": "Zstd", "lz4": "LZ4"}
_CLASSES: dict[tuple[int, str, bool], type] = {}


def _cls(fmt: int, codec: str, sized: bool = True) -> type:
    if (fmt, codec, sized) not in _CLASSES:
        if fmt == 3:
            made = _make_v3_class(_V3[codec], codec, sized)
        else:
            made = _make_v2_class(_V2[codec], codec)
        _CLASSES[fmt, codec, sized] = made
    return _CLASSES[fmt, codec, sized]


def _numcodecs_kind(codec: Any) -> str | None:
    """The frame kind of a numcodecs codec in a Zarr v3 array (``numcodecs.blosc``, ...)."""
    name = getattr(codec, "codec_name", None)
    config = getattr(codec, "codec_config", None)
    if not isinstance(name, str) or not isinstance(config, dict):
        return None
    kind = name.removeprefix("numcodecs.")
    return kind if name.startswith("numcodecs.") and kind in _V2 else None


def _checked_numcodecs(codec: Any, kind: str, chunk_bytes: int | None) -> Any:
    """A copy of the numcodecs codec ``codec`` (Zarr v3) decoding through a checked numcodecs
    codec of its configuration; ``chunk_bytes``: its chunk's decoded size, None when another
    dtype may be stored (then bounded by the widest)."""
    checked = _cls(2, kind)(**{k: v for k, v in codec.codec_config.items() if k != "id"})
    return _with_bound(codec, checked, chunk_bytes)


def _with_bound(codec: Any, checked: Any, chunk_bytes: int | None) -> Any:
    if chunk_bytes is not None:
        checked._expected = chunk_bytes
    out = copy.copy(codec)
    out.__dict__["_codec"] = checked  # (the cached property its decode calls)
    return out


def _filter_configs(codecs: Any) -> list[Any]:
    """The numcodecs configurations (``id`` included) of a Zarr v3 array's array-to-array
    codecs, for :func:`filtered_size`; None in place of one that is no numcodecs codec (then no
    size is known). ``transpose`` keeps the bytes and is left out."""
    from zarr.abc.codec import ArrayArrayCodec
    from zarr.codecs import TransposeCodec

    out: list[Any] = []
    for c in codecs:
        if not isinstance(c, ArrayArrayCodec) or isinstance(c, TransposeCodec):
            continue
        name, config = getattr(c, "codec_name", None), getattr(c, "codec_config", None)
        numcodecs = isinstance(name, str) and name.startswith("numcodecs.")
        if not numcodecs or not isinstance(config, dict):
            out.append(None)
            continue
        out.append({**config, "id": str(name).removeprefix("numcodecs.")})
    return out


def _v3_codecs(codecs: Any, chunk_shape: tuple[int, ...], itemsize: int) -> tuple[Any, ...]:
    import dataclasses

    import zarr.codecs
    from zarr.abc.codec import ArrayArrayCodec, ArrayBytesCodec
    from zarr.codecs import BytesCodec, ShardingCodec, TransposeCodec

    retyped = any(
        isinstance(c, ArrayArrayCodec) and not isinstance(c, TransposeCodec) for c in codecs
    )
    # (a serializer other than 'bytes' -- numcodecs.pcodec or .zfpy, a shard -- stores its own
    # encoding, of a size no shape gives: the frames after it are checked by their headers only)
    raw = all(isinstance(c, BytesCodec) for c in codecs if isinstance(c, ArrayBytesCodec))
    chunk_bytes = None if not raw else math.prod(chunk_shape) * itemsize
    if retyped and chunk_bytes is not None:  # (numcodecs filters: the size their rules give)
        chunk_bytes = filtered_size(_filter_configs(codecs), chunk_bytes)
    out = []
    for c in codecs:
        kind = next((k for k, n in _V3.items() if type(c) is getattr(zarr.codecs, n)), None)
        numcodecs_kind = _numcodecs_kind(c)
        if kind is not None:
            fields = {f.name: getattr(c, f.name) for f in dataclasses.fields(c) if f.init}
            out.append(_cls(3, kind, raw)(**fields))
        elif numcodecs_kind is not None:
            checked = _checked_numcodecs(c, numcodecs_kind, chunk_bytes)
            if chunk_bytes is None and raw:
                checked._codec._most = math.prod(chunk_shape) * max(itemsize, _WIDEST_ITEM)
            out.append(checked)
        elif isinstance(c, ShardingCodec):
            inner = tuple(c.chunk_shape)
            out.append(
                ShardingCodec(
                    chunk_shape=c.chunk_shape,
                    codecs=_v3_codecs(c.codecs, inner, itemsize),
                    index_codecs=c.index_codecs,
                    index_location=c.index_location,
                )
            )
        else:
            out.append(c)
    return tuple(out)


def with_checked_frames(meta: Any) -> Any:
    """``meta`` (an opened zarr array's metadata) with its Blosc, zstd and LZ4 codecs checked;
    ``meta`` itself when it has none."""
    import numcodecs
    from zarr.core.metadata import ArrayV2Metadata, ArrayV3Metadata

    if isinstance(meta, ArrayV3Metadata):
        try:
            shape: Any = getattr(meta.chunk_grid, "chunk_shape", None)  # (a regular grid's)
            grid = tuple(int(n) for n in shape)
            itemsize = meta.dtype.to_native_dtype().itemsize
        except (AttributeError, TypeError, ValueError):
            return meta  # (a grid or dtype not known here: zarr's codecs as they are)
        codecs = _v3_codecs(meta.codecs, grid, itemsize)
        if all(a is b for a, b in zip(codecs, meta.codecs, strict=True)):
            return meta
        v3 = copy.copy(meta)
        object.__setattr__(v3, "codecs", codecs)
        return v3
    compressor: Any = getattr(meta, "compressor", None)
    kind = next((k for k, n in _V2.items() if type(compressor) is getattr(numcodecs, n)), None)
    if isinstance(meta, ArrayV2Metadata) and kind is not None:
        config = {k: v for k, v in compressor.get_config().items() if k != "id"}
        checked = _cls(2, kind)(**config)
        chunk_items = math.prod(meta.chunks)
        itemsize = meta.dtype.to_native_dtype().itemsize
        configs = [f.get_config() for f in meta.filters or ()]
        expected = filtered_size(configs, chunk_items * itemsize)
        if expected is None:  # (a filter of unknown output: bounded by the widest item)
            checked._most = chunk_items * max(itemsize, _WIDEST_ITEM)
        else:  # (no filter, or filters whose output size follows from the chunk's)
            checked._expected = expected
        v2 = copy.copy(meta)
        object.__setattr__(v2, "compressor", checked)
        return v2
    return meta
