"""The tiles of a JPEG 2000 (or HTJ2K) codestream: how many its SIZ segment states, and whether each
one's tile-parts are present.

A JPEG 2000 image is cut into a grid of tiles (SIZ: XTsiz x YTsiz from XTOsiz, YTOsiz; ISO
15444-1 A.5.1, B.3), and the codestream holds one or more tile-parts for every tile (A.4.2: each
starts with an SOT segment stating its tile Isot, its length Psot, its index TPsot and, when known,
the tile's count of tile-parts TNsot). OpenJPEG (pydicom's and imagecodecs' decoder) decodes a
codestream that lacks a tile's tile-parts without an error, leaving the tile zero: a codestream
with a tile-part dropped, or whose SIZ states small tiles over an image coded as one, decodes into
an image partly made up. So the pixel reader counts the tiles and walks the tile-parts (SOT to SOT
by Psot, from the first SOT to EOC) before decoding (:func:`missing_tiles_problem`), and the scan
refuses a frame whose bytes are too few for the tile-parts its tiles need at the least, 14 bytes
each (SOT and SOD: :func:`tiles_room_problem`).

An image's size sets no floor of its own: an empty code-block is coded in no bit, so a blank
8192 x 8192 frame is a 357-byte codestream (imagecodecs/OpenJPEG); only the chunk-size limit bounds
what a one-tile codestream claims.
"""

from __future__ import annotations

import struct

__all__ = ["missing_tiles_problem", "tile_count", "tiles_room_problem"]

#: Least bytes of one tile-part: its SOT segment (marker, Lsot = 10) and its SOD marker.
TILE_PART_BYTES = 14
_SOC_SIZ = b"\xff\x4f\xff\x51"
_SOT, _EOC = b"\xff\x90", b"\xff\xd9"


def _codestream_start(frame: bytes) -> int | None:
    """Where the codestream of ``frame`` starts: 0, or past the boxes of a JP2 file to its
    contiguous codestream box (jp2c); None when it is neither."""
    if frame[:4] == _SOC_SIZ:
        return 0
    if frame[4:8] != b"jP  ":
        return None
    at = 0
    while at + 8 <= len(frame):
        size = int.from_bytes(frame[at : at + 4], "big")
        if frame[at + 4 : at + 8] == b"jp2c":
            return at + 8 if frame[at + 8 : at + 12] == _SOC_SIZ else None
        if size < 8:
            return None
        at += size
    return None


def tile_count(frame: bytes) -> int | None:
    """The tiles of the JPEG 2000 codestream whose head is ``frame``, by its SIZ segment:
    ceil((Xsiz - XTOsiz) / XTsiz) x ceil((Ysiz - YTOsiz) / YTsiz); None when the head does not
    hold SIZ or states no sound grid (the decoder's own error names that)."""
    pos = _codestream_start(frame)
    if pos is None or len(frame) < pos + 40:
        return None
    x, y, x0, y0, xt, yt, xt0, yt0 = (int(v) for v in struct.unpack_from(">8L", frame, pos + 8))
    if not (xt and yt and xt0 <= x0 < x and yt0 <= y0 < y):
        return None
    return -(-(x - xt0) // xt) * -(-(y - yt0) // yt)


def tiles_room_problem(frame: bytes, length: int) -> str | None:
    """Why a JPEG 2000 frame of ``length`` encoded bytes (``frame``: its codestream's head) cannot
    hold the tiles its SIZ segment states: every tile has a tile-part, of 14 bytes at the least
    (ISO 15444-1 A.4.2), so fewer bytes than that over-state the tiles (a decoder makes up the
    missing ones, as zeros). None when they have room, or the head does not say."""
    tiles = tile_count(frame)
    if tiles is None or tiles * TILE_PART_BYTES <= length:
        return None
    return (
        f"JPEG 2000 frame of {length} bytes cannot hold the {tiles} tiles its SIZ segment "
        f"states (XTsiz x YTsiz tiles over Xsiz x Ysiz): every tile has at least one tile-part "
        f"of {TILE_PART_BYTES} bytes or more, {tiles * TILE_PART_BYTES} bytes in all, and a "
        "decoder fills the tiles it does not find with zeros; the codestream is damaged, "
        "re-encode or re-export the file"
    )


def _tile_parts(frame: bytes, pos: int) -> dict[int, list[int]] | None:
    """Tile -> the TNsot values of its tile-parts found walking the codestream ``frame`` from
    its main header's start ``pos`` (the marker after SOC): the main header's segments by their
    lengths to the first SOT, then SOT to SOT by each tile-part's length Psot, to EOC (a Psot of
    0: the last tile-part, to EOC). None when the walk does not end at EOC (the structure is
    damaged in another way: the decoder's own error names it)."""
    while frame[pos : pos + 2] != _SOT:
        if len(frame) < pos + 4 or frame[pos] != 0xFF:
            return None
        pos += 2 + int.from_bytes(frame[pos + 2 : pos + 4], "big")
    parts: dict[int, list[int]] = {}
    while frame[pos : pos + 2] == _SOT and len(frame) >= pos + 12:
        _lsot, tile, psot, _tpsot, tnsot = struct.unpack_from(">HHLBB", frame, pos + 2)
        parts.setdefault(tile, []).append(tnsot)
        if psot == 0:
            return parts
        if psot < TILE_PART_BYTES:
            return None
        pos += psot
    return parts if frame[pos : pos + 2] == _EOC else None


def missing_tiles_problem(frame: bytes) -> str | None:
    """Why the whole JPEG 2000 codestream ``frame`` lacks tile-parts: a tile of those its SIZ
    segment states with none (ISO 15444-1 A.4.2: every tile has one at least), a tile-part of a
    tile beyond them, or fewer tile-parts of a tile than its TNsot states. OpenJPEG decodes such a
    codestream without an error, the missing tiles (or quality layers) left zero. None when
    every tile is present, or the codestream cannot be walked (its decoder judges it)."""
    tiles = tile_count(frame)
    start = _codestream_start(frame)
    if tiles is None or start is None:
        return None
    parts = _tile_parts(frame, start + 2)
    if parts is None:
        return None
    present = {t for t in parts if t < tiles}
    # (the first missing tiles, found among as many as are present and 8 more: a damaged SIZ
    # may state billions of tiles)
    missing = [t for t in range(min(tiles, len(present) + 8)) if t not in present][:8]
    beyond = sorted(t for t in parts if t >= tiles)
    short = [t for t, tn in parts.items() if t < tiles and max(tn) > len(tn)]
    if not (missing or beyond or short):
        return None
    if missing:
        count = tiles - len(present)
        shown = ", ".join(map(str, missing)) + (" ..." if count > len(missing) else "")
        what = f"no tile-part of {count} of the {tiles} tiles its SIZ segment states ({shown})"
    elif beyond:
        what = f"a tile-part of tile {beyond[0]}, beyond the {tiles} tiles its SIZ segment states"
    else:
        t = short[0]
        what = f"{len(parts[t])} tile-part(s) of tile {t}, whose SOT segments state {max(parts[t])}"
    return (
        f"JPEG 2000 codestream holds {what}: a decoder fills what is missing with zeros, without "
        "an error; the codestream is damaged (a tile-part dropped or cut), re-encode or re-export "
        "the file"
    )
