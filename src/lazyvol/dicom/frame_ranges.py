"""Where each frame of a multi-frame DICOM file lies (:func:`frame_ranges`): a native file's
frames one after the other in its Pixel Data, an encapsulated file's by its offset tables
(Basic / Extended), one fragment a frame, or the JPEG end markers its fragments hold."""

from __future__ import annotations

import struct
from typing import Any

from .codestream import END_MARKER_ROOM, SIZED_SYNTAXES, holds_end_marker
from .excess import bits_allocated_problem, excess_problem, undefined_length_problem
from .model import UNENCAPSULATED_SYNTAXES, pixel_element_name
from .offset_tables import bad_offset_table, extended_order
from .records import FrameRecord
from .source import Fetch, read_local
from .support import length_past_end

__all__ = ["UNSUPPORTED_LAYOUT", "frame_ranges"]

#: How :func:`expand_frames` ends the reason of a valid file whose frames it cannot locate (a kind
#: lazyvol does not read, not a damaged file): its skip is an UnsupportedError's.
UNSUPPORTED_LAYOUT = "; not supported"


def _walk_items(
    path: str, offset: int, size: int, fetch: Fetch = read_local
) -> list[tuple[int, int]] | str:
    """``(value_offset, length)`` of every item of encapsulated data (the first is the BOT)."""
    items: list[tuple[int, int]] = []
    pos = offset
    while True:
        head = fetch(path, pos, 8, size)
        if len(head) < 8:
            return f"truncated after {len(items)} item(s) (no sequence delimiter (FFFE,E0DD))"
        group, elem, length = struct.unpack("<HHL", head)
        tag = group << 16 | elem
        if tag == 0xFFFEE0DD:
            return items
        if tag != 0xFFFEE000 or length == 0xFFFFFFFF or pos + 8 + length > size:
            return f"corrupt or truncated item at byte {pos}"
        items.append((pos + 8, length))
        pos += 8 + length


def frame_ranges(
    rec: FrameRecord, nframes: int, fetch: Fetch, extended: Any = None
) -> list[tuple[int, int]] | str:
    """``(offset, length)`` of each frame's bytes (native: the frame; encapsulated: its items);
    ``extended``: the raw Extended Offset Table (7FE0,0001) element, if any."""
    bits_problem = bits_allocated_problem(rec)
    if bits_problem:  # (BitsAllocated // 8 would measure the frames wrong: say what is wrong)
        return bits_problem + UNSUPPORTED_LAYOUT
    frame_bytes = rec.rows * rec.columns * rec.samples_per_pixel * (rec.bits_allocated // 8)
    ranges: list[tuple[int, int]] = []
    if rec.transfer_syntax in UNENCAPSULATED_SYNTAXES:
        undefined = undefined_length_problem(rec, pixel_element_name(rec.pixel_vr))
        if undefined:
            return undefined  # items, not pixels: never read as frames
        past_end = length_past_end(rec)
        if past_end:  # (a damaged length: the excess it claims is no fault of the dimensions)
            return past_end
        if rec.pixel_length < frame_bytes * nframes:
            return (
                f"{pixel_element_name(rec.pixel_vr)} length {rec.pixel_length} is shorter than "
                f"{nframes} frames x {frame_bytes} bytes"
            )
        # (padding is trimmed, as pydicom trims it)
        excess = excess_problem(rec, pixel_element_name(rec.pixel_vr))
        if excess:
            return excess
        ranges = [(rec.pixel_offset + i * frame_bytes, frame_bytes) for i in range(nframes)]
    else:
        items = _walk_items(rec.path, rec.pixel_offset, rec.size, fetch)
        if isinstance(items, str):
            return f"encapsulated Pixel Data (7FE0,0010) {items}"
        if not items:
            return "encapsulated Pixel Data (7FE0,0010) has no Basic Offset Table item"
        (bot_off, bot_len), fragments = items[0], items[1:]
        by_table = extended_order(extended, nframes, fragments)
        if by_table is not None:
            return [(fragments[i][0] - 8, fragments[i][1] + 8) for i in by_table]
        bad_table = ""
        if bot_len:
            table = fetch(rec.path, bot_off, bot_len, rec.size)
            if bot_len % 4 or len(table) != bot_len:
                return (
                    f"encapsulated Pixel Data (7FE0,0010): the Basic Offset Table item at byte "
                    f"{bot_off - 8} states {bot_len} bytes but "
                    + ("is not a multiple of 4" if bot_len % 4 else f"the file holds {len(table)}")
                    + "; the file is damaged (re-export or decompress it)"
                )
            starts = list(struct.unpack(f"<{bot_len // 4}L", table))
            if not fragments:
                return (
                    f"Basic Offset Table has {len(starts)} entries for {nframes} frames but no "
                    "fragment follows it; frames cannot be located"
                )
            first_item = fragments[0][0] - 8
            bad_table = (
                f"has {len(starts)} entries for {nframes} frames"
                if len(starts) != nframes
                else bad_offset_table(starts, first_item, fragments)
            )
        if bot_len and not bad_table:
            ends = [*starts[1:], None]
            for s, e in zip(starts, ends, strict=True):
                begin = first_item + s
                stop = (fragments[-1][0] + fragments[-1][1]) if e is None else first_item + e
                ranges.append((begin, stop - begin))
        elif len(fragments) == nframes:
            # One fragment per frame: located without a table, or past a damaged one (as pydicom).
            ranges = [(off - 8, length + 8) for off, length in fragments]
        elif nframes == 1 and fragments and not bad_table:
            begin = fragments[0][0] - 8  # one frame: all its fragments
            ranges = [(begin, fragments[-1][0] + fragments[-1][1] - begin)]
        elif (by_end := _ranges_by_end_marker(rec, nframes, fragments, fetch)) is not None:
            ranges = by_end  # several fragments a frame: each frame ends with its EOI/EOC
        elif bad_table:
            return (
                f"encapsulated Pixel Data (7FE0,0010): the Basic Offset Table {bad_table}, and "
                f"{len(fragments)} fragments for {nframes} frames cannot be matched without it; "
                "the file is damaged (re-export or decompress it, e.g. with dcmdjpeg / gdcmconv)"
            )
        else:
            return (
                f"encapsulated Pixel Data (7FE0,0010) has {len(fragments)} fragments for {nframes} "
                "frames and no Basic Offset Table: frame boundaries are ambiguous (decompress the "
                "file, e.g. with gdcmconv --raw or dcmdrle / dcmdjpeg, to read it)"
                + UNSUPPORTED_LAYOUT
            )
    return ranges


def _ranges_by_end_marker(
    rec: FrameRecord, nframes: int, fragments: list[tuple[int, int]], fetch: Fetch
) -> list[tuple[int, int]] | None:
    """``(offset, length)`` of each frame of a JPEG-family file whose frames span several
    fragments and no usable offset table locates them: a frame ends with the fragment holding the
    marker FFD9 in its last 10 bytes (after it, padding: ``FFD9 00``, ``FFD9 FF`` ...), as
    pydicom's ``generate_frames`` finds them. None unless that gives exactly ``nframes`` frames,
    each ending with its last fragment (a frame that never ends, or more ends than frames: not
    guessed)."""
    # (RLE has one fragment a frame)
    if rec.transfer_syntax not in SIZED_SYNTAXES or len(fragments) <= nframes:
        return None
    ranges: list[tuple[int, int]] = []
    begin = fragments[0][0] - 8
    for off, length in fragments:
        room = min(length, END_MARKER_ROOM)
        if holds_end_marker(fetch(rec.path, off + length - room, room, rec.size)):
            ranges.append((begin, off + length - begin))
            begin = off + length
    if len(ranges) != nframes or begin != fragments[-1][0] + fragments[-1][1]:
        return None
    return ranges
