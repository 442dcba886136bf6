"""Where the frames of encapsulated (compressed) multi-frame Pixel Data lie, by its offset tables.

The Basic Offset Table (the first item) is used only when it is sound (PS3.5 A.4: it starts at 0,
increases, and each entry is where a fragment's item starts); the Extended Offset Table
(7FE0,0001), one fragment a frame (PS3.3 C.7.6.3.1.8), says where each frame is in any order, as
pydicom reads it.
"""

from __future__ import annotations

import struct
from typing import Any

__all__ = ["bad_offset_table", "extended_order"]


def bad_offset_table(starts: list[int], first_item: int, fragments: list[tuple[int, int]]) -> str:
    """Why a Basic Offset Table cannot locate the frames, or "" when it can (PS3.5 A.4: the first
    offset is 0, they increase, and each is where a fragment's item tag starts, counted from the
    first fragment's)."""
    items = {off - 8 - first_item for off, _length in fragments}
    if starts[0] != 0:
        return f"starts at {starts[0]}, not 0"
    for k in range(1, len(starts)):
        if starts[k] <= starts[k - 1]:
            return f"does not increase (entry {k}: {starts[k]} after {starts[k - 1]})"
    for k, s in enumerate(starts):
        if s not in items:
            return f"entry {k} ({s}) is not the start of a fragment"
    return ""


def extended_order(
    extended: Any, nframes: int, fragments: list[tuple[int, int]]
) -> list[int] | None:
    """The fragment of each frame as the Extended Offset Table (7FE0,0001) ``extended`` states
    them, where it can: one fragment a frame (PS3.3 C.7.6.3.1.8, Table C.7-11a), each of its
    ``nframes`` offsets the start of a different fragment's item, counted from the first
    fragment's (as pydicom reads the frames: the table says where frame ``i`` is, whatever the
    fragments' order); None when there is no such table (the frames are then located from the
    Basic Offset Table or the fragments, as without one)."""
    value = getattr(extended, "value", None)
    if not isinstance(value, bytes | bytearray) or len(value) != 8 * nframes:
        return None
    if nframes < 2 or len(fragments) != nframes:
        return None
    first = fragments[0][0] - 8
    index = {off - 8 - first: i for i, (off, _length) in enumerate(fragments)}
    order = [index.get(o, -1) for o in struct.unpack(f"<{nframes}Q", value)]
    if -1 in order or len(set(order)) != nframes:
        return None
    return order
