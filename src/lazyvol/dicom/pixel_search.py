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

__all__ = [
    "PIXEL_SEARCH",
    "damaged_reason",
    "damaged_skip",
    "pixels_further_on",
    "private_pixels",
    "private_pixels_reason",
]


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


def _container(path: str, size: int, fetch: Fetch, at: int) -> tuple[str, int]:
    """The top-level sequence (keyword and tag) in one of whose items a Pixel Data element lies,
    and where: the one at file byte ``at`` (-1: the first such element, whatever its length), in
    a Part 10 file of explicit or implicit VR little or big endian (not deflated), found by
    pydicom's element reader walking the data set element by element (a sequence's items parsed
    whole); ``("", -1)`` when there is none (``at`` starts a top-level element or lies outside
    any item), or the walk fails."""
    from io import BytesIO

    from pydicom.datadict import keyword_for_tag
    from pydicom.filereader import _read_file_meta_info, data_element_generator

    try:
        fp = BytesIO(fetch(path, 0, min(size, PIXEL_SEARCH), size))
        if fp.getvalue()[128:132] != b"DICM":
            return "", -1
        fp.seek(132)
        syntax = str(_read_file_meta_info(fp).get("TransferSyntaxUID", ""))
        if syntax not in _PLAIN_SYNTAXES:
            return "", -1
        pixel_tag = struct.pack(">HH" if syntax.endswith(".2.2") else "<HH", 0x7FE0, 0x0010)
        start = fp.tell()
        for elem in data_element_generator(fp, *_PLAIN_SYNTAXES[syntax]):
            end = fp.tell()
            value, tell = elem.value, int(getattr(elem, "value_tell", -1))
            found = -1
            if isinstance(value, bytes) and (at < 0 or start < at < end):
                rel = value.find(pixel_tag) if at < 0 else at - tell
                while rel >= 0 and not _in_item(value, rel, syntax) and at < 0:
                    rel = value.find(pixel_tag, rel + 1)
                found = tell + rel if rel >= 0 and _in_item(value, rel, syntax) else -1
            if found >= 0:
                tag = int(elem.tag)
                name = keyword_for_tag(tag) or "a private sequence"
                return f"{name} ({tag >> 16:04X},{tag & 0xFFFF:04X})", found
            if 0 <= at < end:
                return "", -1  # (not within a sequence's item: a damaged length swallowed it)
            start = end
    except Exception:  # (a damaged data set: the caller's message says so)
        return "", -1
    return "", -1


def _in_item(value: bytes, rel: int, syntax: str) -> bool:
    """Whether byte ``rel`` of the sequence value ``value`` lies inside one of its items, the
    value being items only: each an item tag (FFFE,E000) and a defined length, or an undefined
    one ended by the first Item Delimitation (FFFE,E00D) after it (an item holding nested
    undefined-length items is not judged: False)."""
    e = ">" if syntax == "1.2.840.10008.1.2.2" else "<"
    item, delimiter = struct.pack(f"{e}HH", 0xFFFE, 0xE000), struct.pack(f"{e}HH", 0xFFFE, 0xE00D)
    pos = 0
    while pos + 8 <= len(value):
        if value[pos : pos + 4] != item:
            return False
        (length,) = struct.unpack_from(f"{e}L", value, pos + 4)
        if length == 0xFFFFFFFF:
            end = value.find(delimiter, pos + 8)
            if end < 0:
                return False
            after = end + 8
        else:
            end = after = pos + 8 + length
            if end > len(value):
                return False
        if pos + 8 <= rel < end:
            return True
        pos = after
    return False


#: Transfer syntaxes :func:`_container` walks: (implicit VR, little endian).
_PLAIN_SYNTAXES = {
    "1.2.840.10008.1.2": (True, True),
    "1.2.840.10008.1.2.1": (False, True),
    "1.2.840.10008.1.2.2": (False, False),
}


def damaged_reason(reason: str, cut: str, path: str, size: int, fetch: Fetch) -> str:
    """The skip reason of a header whose reading ended before its pixels (``reason``: one that
    calls it truncated; ``cut``: the values the end of the file cut short) when the file holds
    its Pixel Data further on (:func:`pixels_further_on`): damaged, not cut short. "" otherwise."""
    if "truncated" not in reason:
        return ""
    at = pixels_further_on(path, size, fetch)
    if at < 0 and cut:
        return ""
    inside, where = ("", -1) if cut else _container(path, size, fetch, at)
    if at < 0 and not inside:
        return ""
    if inside:  # (its header was read whole: that Pixel Data is not the image's)
        at = where
        return (
            f"no Pixel Data (7FE0,0010) in its data set, which was read whole: the one at byte "
            f"{at} lies in an item of {inside} (an icon or thumbnail of the image, or a vendor's "
            "data), not the image's pixels; the file holds no image (exported without its "
            "pixels?): re-export it with them"
        )
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


def _private_head_at(buf: bytes, at: int, offset: int, size: int, little: bool) -> int:
    """The value length of the private data element (7FE1,xx10) whose header starts at
    ``buf[at:]`` (``offset`` bytes into a file of ``size``), explicit VR OB/OW/UN or implicit,
    when its defined length fits the file's end as a Pixel Data element's would
    (:func:`_pixel_head_at`); -1 otherwise."""
    e = "<" if little else ">"
    if buf[at + 4 : at + 6] in (b"OB", b"OW", b"UN") and buf[at + 6 : at + 8] == b"\0\0":
        head = 12
    elif little:
        head = 8  # (implicit VR: little endian only)
    else:
        return -1
    if len(buf) < at + head:
        return -1
    (length,) = struct.unpack_from(f"{e}L", buf, at + head - 4)
    start = offset + at + head
    if 0 < length != 0xFFFFFFFF and start + length <= size + 1 and size - (start + length) < length:
        return int(length)
    return -1


def _creator(buf: bytes, at: int, block: int, little: bool) -> str:
    """The private creator (7FE1,00xx) of block ``block`` among the bytes of ``buf`` before
    ``at`` (its LO value, explicit or implicit VR), or ""."""
    e = "<" if little else ">"
    tag = struct.pack(f"{e}HH", 0x7FE1, block)
    pos = buf.rfind(tag, 0, at)
    if pos < 0:
        return ""
    if buf[pos + 4 : pos + 6] == b"LO":
        length, value = struct.unpack_from(f"{e}H", buf, pos + 6)[0], pos + 8
    elif little:
        length, value = struct.unpack_from("<L", buf, pos + 4)[0], pos + 8
    else:
        return ""
    if not 0 < length <= 64:
        return ""
    return buf[value : value + length].decode("latin-1").strip(" \x00")


def private_pixels(path: str, size: int, fetch: Fetch) -> tuple[int, int, int, str] | None:
    """``(offset, element, length, creator)`` of a private data element (7FE1,xx10) within the
    first :data:`PIXEL_SEARCH` bytes of the file ``path`` whose length fits the file's end, as
    Pixel Data's would: where a vendor keeps data that are no image (Siemens CSA Non-Image:
    spectroscopy, raw data) in a file without Pixel Data; None when there is none."""
    offset = 0
    while offset < min(size, PIXEL_SEARCH):
        try:
            buf = fetch(path, offset, min(_SEARCH_CHUNK + 4096, size - offset), size)
        except OSError:
            return None
        for little, lead in ((True, b"\xe1\x7f\x10"), (False, b"\x7f\xe1")):
            at = buf.find(lead)
            while 0 <= at:
                block = buf[at + 3] if little else buf[at + 2]
                is_data = little or buf[at + 3] == 0x10
                length = _private_head_at(buf, at, offset, size, little) if is_data else -1
                if block >= 0x10 and length > 0:
                    element = block << 8 | 0x10
                    return offset + at, element, length, _creator(buf, at, block, little)
                at = buf.find(lead, at + 1)
        if len(buf) < _SEARCH_CHUNK + 4096:
            break
        offset += _SEARCH_CHUNK
    return None


#: Private creators of data elements (7FE1,xx10) that hold no image, by what they hold.
_PRIVATE_KINDS = {
    "SIEMENS CSA NON-IMAGE": "Siemens CSA non-image data (spectroscopy, raw or physiological "
    "data, in Siemens' own layout)",
}


def private_pixels_reason(name: str, path: str, size: int, fetch: Fetch) -> str:
    """The skip reason of a file (of the SOP class named ``name``) without Pixel Data that holds
    its data in a private element (7FE1,xx10) instead (:func:`private_pixels`): complete, valid
    DICOM of a kind lazyvol does not read, not a file cut short. "" when it holds none."""
    found = private_pixels(path, size, fetch)
    if found is None:
        return ""
    at, element, length, creator = found
    by = f" of private creator {creator!r}" if creator else ""
    kind = _PRIVATE_KINDS.get(creator.upper(), "a vendor's private data, not an image")
    return (
        f"{name} file without Pixel Data (7FE0,0010): it holds {length} bytes in the private "
        f"element (7FE1,{element:04X}){by} at byte {at}, {kind}; lazyvol reads images only "
        "(spectroscopy: convert it with spec2nii; raw data: the vendor's tools)"
    )


def damaged_skip(skip: Any, cut: str, path: str, size: int, fetch: Fetch) -> Any:
    """``skip`` (a :class:`~lazyvol.dicom.header_record.HeaderSkip` of a header without Pixel
    Data) with the reason :func:`damaged_reason` gives, where it gives one."""
    reason = damaged_reason(skip.reason, cut, path, size, fetch)
    if reason:
        return dataclasses.replace(skip, reason=reason)
    if cut or skip.unsupported:  # (cut short; or a class known to hold no pixels)
        return skip
    name = skip.reason.split(" file ", 1)[0] if " file " in skip.reason else "a"
    reason = private_pixels_reason(name, path, size, fetch)
    return dataclasses.replace(skip, reason=reason, unsupported=True) if reason else skip
