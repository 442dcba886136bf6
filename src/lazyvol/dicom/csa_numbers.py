"""Numbers of a Siemens CSA image header judged by the text they were written as.

:mod:`nibabel.nicom.csareader` converts the items of a numeric CSA element (VR FL, FD, DS, IS, US,
SL, SS, UL) with Python's ``float`` / ``int``, which read forms no DICOM number has: a digit
separator ('1_0' is 10 to Python, 1 to dcm2niix's C ``atof`` / ``atoi``). A CSA header written so
says neither, and lazyvol must not pick one of the two readings without a word: such an item is
replaced by a :class:`NotANumber`, which ``float`` and ``int`` refuse (a ``TypeError``), so every
reader of the header takes it as a value that is not a number: NumberOfImagesInMosaic refuses the
file naming it, MosaicRefAcqTimes gives no slice times, B_value and DiffusionGradientDirection are
noted as malformed. Its ``str`` is the text as written (C's ``atof`` readers of TablePosition read
it as dcm2niix does).
"""

from __future__ import annotations

import struct
from typing import Any

from .records import number

__all__ = ["NotANumber", "checked", "checked_text"]

#: The CSA value representations nibabel converts to numbers.
_NUMERIC = frozenset({"FL", "FD", "DS", "IS", "US", "SL", "SS", "UL"})


class NotANumber:
    """A numeric CSA item whose text Python reads as a number and DICOM's grammar does not."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"{self.text!r} (not a DICOM number)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NotANumber) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def checked_text(text: str) -> str | NotANumber:
    """``text``, or a :class:`NotANumber` when Python's ``float`` reads it and
    :func:`lazyvol.dicom.records.number` (DICOM's grammar) does not."""
    try:
        float(text)
    except (TypeError, ValueError):
        return text
    try:
        number(text)
    except ValueError:
        return NotANumber(text)
    return text


def _item_texts(b: bytes) -> dict[str, list[str]]:
    """The text of each numeric element's items, walking ``b`` as nibabel's ``csareader.read``
    does (only called after it parsed ``b``, so the walk stays inside the bytes)."""
    out: dict[str, list[str]] = {}
    csa2 = b[:4] == b"SV10"
    ptr = 8 if csa2 else 0
    (n_tags,) = struct.unpack_from("<I", b, ptr)
    ptr += 8
    first_n = 0
    for tag_no in range(n_tags):
        name_b, vm, vr_b, _syngodt, n_items, _last = struct.unpack_from("<64si4s3i", b, ptr)
        ptr += 84
        name = name_b.split(b"\x00")[0].decode("latin-1")
        vr = vr_b.split(b"\x00")[0].decode("latin-1")
        first_n = n_items if tag_no == 1 else first_n
        n_values = vm or n_items
        texts: list[str] = []
        for item_no in range(n_items):
            x0, x1 = struct.unpack_from("<2i", b, ptr)
            ptr += 16
            length = x1 if csa2 else x0 - first_n
            if not csa2 and (length < 0 or ptr + length > len(b)):
                break
            if item_no < n_values and length:
                texts.append(b[ptr : ptr + length].split(b"\x00")[0].decode("latin-1"))
            ptr += length + (-length % 4 if item_no < n_values else 0)
        if vr in _NUMERIC:
            out[name] = texts
    return out


def checked(parsed: dict[str, Any], b: bytes) -> dict[str, Any]:
    """``parsed`` (nibabel's reading of the CSA header ``b``) with each numeric item whose text
    is no DICOM number replaced by a :class:`NotANumber` (see the module's text)."""
    if b"_" not in b:
        return parsed  # (the one form DICOM lacks and Python reads: none here)
    try:
        texts = _item_texts(b)
    except (struct.error, UnicodeDecodeError):
        return parsed
    tags = parsed["tags"]
    for name, items in texts.items():
        tag = tags.get(name)
        if not isinstance(tag, dict) or not isinstance(tag.get("items"), list):
            continue
        marked = [checked_text(t) for t in items]
        if len(marked) == len(tag["items"]) and any(isinstance(m, NotANumber) for m in marked):
            tag["items"] = [
                m if isinstance(m, NotANumber) else v
                for m, v in zip(marked, tag["items"], strict=True)
            ]
    return parsed
