"""Compressed DICOM frames as Zarr chunks: the numcodecs codec of a transfer syntax, and where a
frame's one fragment lies in its file.

A compressed frame can be a Zarr chunk when it is stored as exactly one fragment (item) of the
encapsulated Pixel Data and a maintained numcodecs codec decodes it; imagecodecs ships them and
``imagecodecs-numcodecs`` registers them with numcodecs through entry points, so zarr, xarray
and kerchunk clients that have it installed decode the chunks with no extra code.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from . import _io
from .errors import FormatError, UnsupportedError

__all__ = ["frame_codec", "single_fragment"]

_ITEM = (0xFFFE, 0xE000)
_SEQ_END = (0xFFFE, 0xE0DD)

#: Transfer syntax UID -> (name, numcodecs codec id) for syntaxes a chunk can be decoded from.
CODEC_OF_SYNTAX: dict[str, tuple[str, str]] = {
    "1.2.840.10008.1.2.5": ("RLE Lossless", "imagecodecs_dicomrle"),
    "1.2.840.10008.1.2.4.90": ("JPEG 2000 Lossless", "imagecodecs_jpeg2k"),
    "1.2.840.10008.1.2.4.91": ("JPEG 2000", "imagecodecs_jpeg2k"),
    "1.2.840.10008.1.2.4.80": ("JPEG-LS Lossless", "imagecodecs_jpegls"),
    "1.2.840.10008.1.2.4.81": ("JPEG-LS Near-Lossless", "imagecodecs_jpegls"),
    "1.2.840.10008.1.2.4.57": ("JPEG Lossless", "imagecodecs_ljpeg"),
    "1.2.840.10008.1.2.4.70": ("JPEG Lossless SV1", "imagecodecs_ljpeg"),
}


def frame_codec(syntax: str, dtype: np.dtype, where: str) -> dict[str, Any]:
    """The numcodecs codec configuration decoding one frame of ``syntax`` to ``dtype``.

    Raises
    ------
    UnsupportedError
        No maintained codec for the syntax, or imagecodecs-numcodecs is not installed.
    """
    entry = CODEC_OF_SYNTAX.get(syntax)
    if entry is None:
        known = ", ".join(f"{name} ({uid})" for uid, (name, _) in CODEC_OF_SYNTAX.items())
        raise UnsupportedError(
            f"{where}: the frames are compressed with Transfer Syntax UID {syntax}, for which no "
            f"maintained numcodecs codec exists, so a Zarr reader could not decode a referenced "
            f"chunk. Referenceable compressed syntaxes: {known}. Convert with "
            "lazyvol.open(...).to_zarr(...)"
        )
    name, codec_id = entry
    config: dict[str, Any] = {"id": codec_id}
    if codec_id == "imagecodecs_dicomrle":
        config["dtype"] = dtype.str
    try:
        import numcodecs

        numcodecs.get_codec(dict(config))
    except (ImportError, ValueError, TypeError) as exc:
        raise UnsupportedError(
            f"{where}: the frames are {name} compressed; referencing them needs the numcodecs "
            f"codec {codec_id!r} ({exc}): pip install imagecodecs-numcodecs (every reader of the "
            "references needs it too)"
        ) from None
    return config


def _item(loc: _io.Location, pos: int, end: int) -> tuple[tuple[int, int], int]:
    if pos + 8 > end:
        raise FormatError(
            f"{loc.display}: encapsulated Pixel Data (7FE0,0010) ends inside an item header at "
            f"byte {pos}"
        )
    group, elem, length = struct.unpack("<HHI", _io.read(loc, pos, 8))
    return (group, elem), int(length)


def single_fragment(
    path: str | _io.Location, offset: int, length: int, size: int
) -> tuple[int, int]:
    """``(offset, length)`` of the one fragment holding a frame's compressed bytes.

    ``offset``/``length`` as a DICOM frame plan records them: for a single-frame file, the start of
    the encapsulated Pixel Data value (Basic Offset Table first) and ``-1``; for one frame of a
    multi-frame file, the start and byte count of that frame's items. Only item headers (8 bytes
    each) are read.

    Raises
    ------
    UnsupportedError
        The frame is split over several fragments (one chunk must be one byte range).
    FormatError
        The item structure is corrupt or runs past the end of the file.
    """
    loc = _io.Location.of(path)
    pos = int(offset)
    end = int(size) if length < 0 else int(offset) + int(length)
    if length < 0:
        tag, n = _item(loc, pos, end)
        if tag != _ITEM:
            raise FormatError(
                f"{path}: encapsulated Pixel Data (7FE0,0010) does not start with its Basic Offset "
                f"Table item (found tag ({tag[0]:04X},{tag[1]:04X}))"
            )
        pos += 8 + n
    fragments: list[tuple[int, int]] = []
    while pos < end:
        tag, n = _item(loc, pos, end)
        if tag == _SEQ_END:
            break
        if tag != _ITEM:
            raise FormatError(
                f"{path}: unexpected tag ({tag[0]:04X},{tag[1]:04X}) at byte {pos} inside "
                "encapsulated Pixel Data (7FE0,0010)"
            )
        if pos + 8 + n > end:
            raise FormatError(
                f"{path}: truncated: a Pixel Data fragment of {n} bytes at byte {pos} runs past "
                f"the end ({end})"
            )
        fragments.append((pos + 8, n))
        pos += 8 + n
    if len(fragments) != 1:
        raise UnsupportedError(
            f"{path}: a frame is stored in {len(fragments)} fragments of the encapsulated Pixel "
            "Data (7FE0,0010); a Zarr chunk must be one byte range. Convert with "
            "lazyvol.open(...).to_zarr(...)"
        )
    return fragments[0]
