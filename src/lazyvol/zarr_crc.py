"""crc32c for lazyvol's Zarr stores: a hardware crc32c and Zarr v3 ``crc32c`` codecs built on it.

``FastCrc32cCodec`` writes and checks exactly the bytes of zarr's own ``crc32c`` codec (same JSON
name), about six times faster; ``CheckedCrc32cCodec`` decodes bytes a
:func:`~lazyvol.zarr_integrity.VerifiedStore` has already checked (it only drops the 4 bytes).
:func:`open_array_fast` opens an array with them in place of zarr's codec. The classes are made on
first use: importing zarr costs time at ``import lazyvol``.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from zarr.core.buffer import Buffer

__all__ = ["crc32c", "fast_crc32c_codec", "open_array_fast"]

# -- checksums ---------------------------------------------------------------------------------


def _crc32c_impl() -> Any:
    try:
        import crc32c as _fast  # ICRAR's crc32c: SSE4.2 / ARMv8, releases the GIL

        return lambda data, value=0: _fast.crc32c(data, value)
    except ImportError:  # pragma: no cover - the dependency is declared; fall back to zarr's
        import google_crc32c

        def _google(data: Any, value: int = 0) -> int:
            buf = bytes(data) if isinstance(data, memoryview) else data
            return int(google_crc32c.extend(value, buf) if value else google_crc32c.value(buf))

        return _google


_crc = _crc32c_impl()


def crc32c(data: Any, value: int = 0) -> int:
    """crc32c (Castagnoli) of a bytes-like object, continuing from ``value``."""
    return int(_crc(data, value))


def _make_codec_class() -> type:
    from zarr.codecs import Crc32cCodec

    class FastCrc32cCodec(Crc32cCodec):
        """Zarr's ``crc32c`` codec (same bytes, same JSON name) with a faster crc32c."""

        def _decode_sync(self, chunk_bytes: Buffer, chunk_spec: Any) -> Buffer:
            data = chunk_bytes.as_numpy_array()
            if data.size < 4:
                raise ValueError(
                    "Stored and computed checksum do not match: the chunk is shorter than its "
                    "crc32c (4 bytes)"
                )
            inner = data[:-4]
            stored = int.from_bytes(bytes(data[-4:]), "little")
            computed = crc32c(np.ascontiguousarray(inner))
            if computed != stored:
                raise ValueError(
                    f"Stored and computed checksum do not match. Stored: {stored:#010x}. "
                    f"Computed: {computed:#010x}."
                )
            return chunk_spec.prototype.buffer.from_array_like(inner)

        def _encode_sync(self, chunk_bytes: Buffer, chunk_spec: Any) -> Buffer | None:
            data = np.ascontiguousarray(chunk_bytes.as_numpy_array())
            checksum = np.array([crc32c(data)], dtype="<u4").view("B")
            return chunk_spec.prototype.buffer.from_array_like(np.concatenate([data, checksum]))

    FastCrc32cCodec.__module__ = __name__
    FastCrc32cCodec.__qualname__ = "FastCrc32cCodec"
    return FastCrc32cCodec


def _make_checked_codec_class() -> type:
    base = _fast_codec_class()

    class CheckedCrc32cCodec(base):  # type: ignore[misc, valid-type]
        """Decode of bytes a :func:`VerifiedStore` has already checked: drops the crc32c."""

        def _decode_sync(self, chunk_bytes: Buffer, chunk_spec: Any) -> Buffer:
            data = chunk_bytes.as_numpy_array()
            if data.size < 4:
                raise ValueError("Stored and computed checksum do not match: chunk too short")
            return chunk_spec.prototype.buffer.from_array_like(data[:-4])

    CheckedCrc32cCodec.__module__ = __name__
    CheckedCrc32cCodec.__qualname__ = "CheckedCrc32cCodec"
    return CheckedCrc32cCodec


def __getattr__(name: str) -> Any:  # lazy: importing zarr costs time at ``import lazyvol``
    if name == "FastCrc32cCodec":
        return _fast_codec_class()
    if name == "CheckedCrc32cCodec":
        return _checked_codec_class()
    raise AttributeError(name)


_FAST_CLS: list[type] = []
_CHECKED_CLS: list[type] = []


def _checked_codec_class() -> type:
    if not _CHECKED_CLS:
        _CHECKED_CLS.append(_make_checked_codec_class())
    return _CHECKED_CLS[0]


def _fast_codec_class() -> type:
    if not _FAST_CLS:
        _FAST_CLS.append(_make_codec_class())
    return _FAST_CLS[0]


def fast_crc32c_codec() -> Any:
    """A new :class:`FastCrc32cCodec` (writes ``{"name": "crc32c"}`` in the array metadata)."""
    return _fast_codec_class()()


def _with_fast_crc(codecs: Any, checked: bool = False) -> tuple[Any, ...]:
    from zarr.codecs import Crc32cCodec, ShardingCodec

    out = []
    for c in codecs:
        if type(c) is Crc32cCodec:
            out.append(_checked_codec_class()() if checked else fast_crc32c_codec())
        elif isinstance(c, ShardingCodec):
            out.append(
                ShardingCodec(
                    chunk_shape=c.chunk_shape,
                    codecs=_with_fast_crc(c.codecs, checked),
                    index_codecs=_with_fast_crc(c.index_codecs, checked),
                    index_location=c.index_location,
                )
            )
        else:
            out.append(c)
    return tuple(out)


def open_array_fast(store: Any, checked: bool = False) -> Any:
    """``zarr.open_array(store, mode="r")`` whose crc32c checks use :func:`crc32c` (same result)
    and whose Blosc, zstd and LZ4 frames are checked against their headers before they are
    decoded (:func:`lazyvol.zarr_frames.with_checked_frames`).

    ``checked``: the store is a :func:`VerifiedStore` that checks every crc32c of the bytes it
    returns (in the pass that reads them), so decoding only drops the 4 bytes.
    """
    import zarr
    from zarr.core.array import AsyncArray
    from zarr.core.metadata import ArrayV3Metadata

    from .zarr_frames import with_checked_frames

    arr = zarr.open_array(store=store, mode="r")
    meta = with_checked_frames(arr.metadata)
    if isinstance(meta, ArrayV3Metadata):
        fast = _with_fast_crc(meta.codecs, checked)
        if not all(a is b for a, b in zip(fast, meta.codecs)):
            meta = copy.copy(meta)
            object.__setattr__(meta, "codecs", fast)
    if meta is arr.metadata:
        return arr
    aa = arr.async_array
    return zarr.Array(AsyncArray(meta, aa.store_path, aa.config))
