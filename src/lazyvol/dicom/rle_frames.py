"""What an RLE Lossless frame's header (PS3.5 Annex G) states, checked against the image's header:
its segments (byte planes), where they lie, and how far they can decode. RLE states no image size,
and its decoder (pylibjpeg-rle) cuts a segment longer than Rows x Columns to that size without a
word, so the first segment's decoded length is compared (:func:`rle_size_disagreement`); its
segment count is compared with the byte planes SamplesPerPixel and BitsAllocated make
(:func:`rle_segments_problem`); a frame too short for its image is refused before anything is
allocated for it (:func:`rle_room_problem`).
"""

from __future__ import annotations

import struct
from itertools import pairwise

__all__ = [
    "RLE_MAX_EXPANSION",
    "rle_offsets_problem",
    "rle_room_problem",
    "rle_segments_problem",
    "rle_size_disagreement",
]

#: An RLE segment decodes to at most 64 times its length: PackBits' best case is a 2-byte
#: replicate run giving 128 bytes (PS3.5 G.3.1).
RLE_MAX_EXPANSION = 64


def rle_room_problem(length: int, rows: int, columns: int, segments: int) -> str | None:
    """Why an RLE frame of ``length`` encoded bytes (its items, headers included) cannot hold
    ``rows`` x ``columns`` x ``segments`` bytes (one plane per segment: samples x bytes per
    sample): more than :data:`RLE_MAX_EXPANSION` times its length, which no RLE stream decodes
    to, so Rows and Columns over-state the image (a decoder allocates what they claim before it
    finds the segments short: pylibjpeg-rle aborts the process when that allocation fails).
    None when the frame has room."""
    need = rows * columns * segments
    if need <= RLE_MAX_EXPANSION * max(length, 0):
        return None
    return (
        f"RLE frame of {length} bytes cannot hold Rows (0028,0010) x Columns (0028,0011) x "
        f"{segments} byte plane(s) = {rows} x {columns} x {segments} = {need} bytes (an RLE "
        f"segment decodes to at most {RLE_MAX_EXPANSION} times its length): the header "
        "over-states the image; fix Rows/Columns or re-encode the file"
    )


def rle_segments_problem(frame: bytes, samples: int, bits_allocated: int) -> str | None:
    """Why an RLE frame (its first bytes are enough: the 64-byte RLE header) does not hold the
    byte planes its header describes: one segment a byte of a sample, SamplesPerPixel x
    BitsAllocated / 8 (PS3.5 G.2); a decoder told the header's layout fails with words about
    another attribute (pylibjpeg-rle: "'Samples per Pixel' must be 1 or 3"). None when the counts
    agree, or the frame is too short to say."""
    if len(frame) < 4:
        return None
    count = struct.unpack_from("<L", frame, 0)[0]
    planes = max(1, bits_allocated // 8)
    if count == samples * planes:
        return None
    return (
        f"RLE data hold {count} segment(s) (byte planes) a frame but SamplesPerPixel "
        f"(0028,0002) x BitsAllocated (0028,0100) / 8 = {samples} x {planes} = "
        f"{samples * planes}: the header does not describe its pixels; fix SamplesPerPixel or "
        "BitsAllocated (and BitsStored, HighBit), or re-encode the file"
    )


def rle_size_disagreement(frame: bytes, rows: int, columns: int) -> str | None:
    """Why an RLE frame's header does not describe it: its first segment (one byte plane) decodes
    to a whole row or more beyond ``rows`` x ``columns`` bytes, so Rows or Columns under-state the
    image. None when it does not, or when the frame cannot be read here (the decoder's own error
    names that). A segment short of the header's size is the decoder's error already."""
    if len(frame) < 64:
        return None
    count = struct.unpack_from("<L", frame, 0)[0]
    offsets = struct.unpack_from("<15L", frame, 4)
    if not 1 <= count <= 15 or not 64 <= offsets[0] < len(frame):
        return None
    end = offsets[1] if count > 1 and offsets[0] < offsets[1] <= len(frame) else len(frame)
    try:
        from rle.utils import decode_segment

        decoded = len(decode_segment(frame[offsets[0] : end]))
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException:  # no pylibjpeg-rle, or a corrupt segment (a Rust decoder panics)
        return None
    if decoded < rows * columns + columns:
        return None
    return (
        f"RLE segments decode to {decoded} bytes a plane but Rows (0028,0010) x Columns "
        f"(0028,0011) say {rows} x {columns} = {rows * columns}: the header under-states its "
        "pixels (the decoder would return part of them); fix the header or re-encode the file"
    )


def rle_offsets_problem(frame: bytes, length: int = -1) -> str | None:
    """Why an RLE frame's header (its first 64 bytes in ``frame``) does not locate its segments:
    the offsets of its 1 to 15 segments must start at 64, past the header, and increase (PS3.5
    G.5: the segments follow one another), each within the frame's ``length`` bytes (-1: not
    known). A segment located wrongly decodes from another segment's bytes (pydicom's own RLE
    decoder returns such a frame's values wrong, without an error) or is refused by its decoder
    in other words. None when they do, or when the segment count is no count of 1 to 15 (the
    segment count's own check names that)."""
    if len(frame) < 64:
        return None
    count = struct.unpack_from("<L", frame, 0)[0]
    if not 1 <= count <= 15:
        return None
    offsets = struct.unpack_from(f"<{count}L", frame, 4)
    end = length if length >= 0 else 2**32
    sound = offsets[0] == 64 and all(a < b for a, b in pairwise(offsets))
    if sound and offsets[-1] < end:
        return None
    within = f", each within its {length} bytes" if length >= 0 else ""
    return (
        f"RLE header locates its {count} segment(s) at byte(s) "
        f"{', '.join(map(str, offsets))} of the frame, not at 64 and on, increasing{within} "
        "(PS3.5 G.5): its segment offsets are damaged, and a decoder would read a byte plane "
        "from another's bytes; re-export the file"
    )
