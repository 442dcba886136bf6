"""Where a DICOM file holds its Pixel Data element when its header could not be read up to it.

A header whose reading ended before Pixel Data was cut short, or damaged: an element length that
lies throws the parse off, and what follows reads as junk. The two call for different fixes (copy
the file again; re-export it), and tell apart by the bytes: a damaged file still holds a Pixel Data
element header further on whose length fits its end.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

from .model import DAMAGED_HEADER
from .source import Fetch

__all__ = ["PIXEL_SEARCH", "damaged_reason", "damaged_skip", "pixels_further_on"]


#: Bytes of a header whose reading ended before Pixel Data searched for that element's header.
PIXEL_SEARCH = 16 << 20
#: Bytes read at a time in that search.
_SEARCH_CHUNK = 1 << 20


def _pixel_head_at(buf: bytes, at: int, offset: int, size: int) -> bool:
    """Whether ``buf[at:]`` (``offset`` bytes into a file of ``size``) starts a Pixel Data element
    header, in any of the three encodings, whose length fits the file's end: a defined length
    ending within the file with less after it than in it (pixels are most of what follows their
    header), or an undefined one followed by an item (encapsulated)."""
    for little, implicit in ((True, False), (True, True), (False, False)):
        e = "<" if little else ">"
        if buf[at : at + 4] != struct.pack(f"{e}HH", 0x7FE0, 0x0010):
            continue
        if implicit:
            head, fmt = 8, f"{e}L"
        elif buf[at + 4 : at + 6] in (b"OB", b"OW") and buf[at + 6 : at + 8] == b"\0\0":
            head, fmt = 12, f"{e}L"
        else:
            continue
        if len(buf) < at + head + 4:
            continue
        (length,) = struct.unpack_from(fmt, buf, at + head - 4)
        start = offset + at + head
        if length == 0xFFFFFFFF:
            if buf[at + head : at + head + 4] == struct.pack(f"{e}HH", 0xFFFE, 0xE000):
                return True
        elif 0 < length and start + length <= size + 1 and size - (start + length) < length:
            return True
    return False


def pixels_further_on(path: str, size: int, fetch: Fetch) -> int:
    """Where the file ``path`` (of ``size`` bytes) holds a Pixel Data element header
    (:func:`_pixel_head_at`) within its first :data:`PIXEL_SEARCH` bytes, or -1: a header whose
    reading ended before its pixels with those there is damaged (a wrong element length threw
    the parse off), not cut short."""
    offset = 0
    while offset < min(size, PIXEL_SEARCH):
        try:
            buf = fetch(path, offset, min(_SEARCH_CHUNK + 16, size - offset), size)
        except OSError:
            return -1
        at = buf.find(b"\xe0\x7f\x10\x00")
        while 0 <= at:
            if _pixel_head_at(buf, at, offset, size):
                return offset + at
            at = buf.find(b"\xe0\x7f\x10\x00", at + 1)
        at = buf.find(b"\x7f\xe0\x00\x10")
        while 0 <= at:
            if _pixel_head_at(buf, at, offset, size):
                return offset + at
            at = buf.find(b"\x7f\xe0\x00\x10", at + 1)
        if len(buf) < _SEARCH_CHUNK + 16:
            break
        offset += _SEARCH_CHUNK
    return -1


def damaged_reason(reason: str, cut: str, path: str, size: int, fetch: Fetch) -> str:
    """The skip reason of a header whose reading ended before its pixels (``reason``: one that
    calls it truncated; ``cut``: the values the end of the file cut short) when the file holds
    its Pixel Data further on (:func:`pixels_further_on`): damaged, not cut short. "" otherwise."""
    if "truncated" not in reason:
        return ""
    at = pixels_further_on(path, size, fetch)
    if at < 0:
        return ""
    wrong = (
        f"{cut} states a length past the end of the file, which is wrong"
        if cut
        else "an element before it has a wrong length or is damaged"
    )
    return (
        f"{DAMAGED_HEADER}: the file holds its Pixel Data (7FE0,0010) at byte {at}, but its "
        f"header could not be read up to it ({wrong}), so its image attributes were not "
        f"found ({reason}; the file is not cut short): re-export the file, or copy it "
        "again from its source"
    )


def damaged_skip(skip: Any, cut: str, path: str, size: int, fetch: Fetch) -> Any:
    """``skip`` (a :class:`~lazyvol.dicom.header_record.HeaderSkip` of a header without Pixel
    Data) with the reason :func:`damaged_reason` gives, where it gives one."""
    reason = damaged_reason(skip.reason, cut, path, size, fetch)
    return dataclasses.replace(skip, reason=reason) if reason else skip
