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
import warnings
from typing import Any

__all__ = ["NotANumber", "checked", "checked_text", "read", "stated"]

#: The CSA value representations nibabel converts to numbers, and those it converts to int.
_NUMERIC = frozenset({"FL", "FD", "DS", "IS", "US", "SL", "SS", "UL"})
_INTEGER = frozenset({"IS", "US", "SL", "SS", "UL"})
#: Most elements, and items of one, a header is read with (nibabel's MAX_CSA_ITEMS).
_MAX_ITEMS = 1000


class NotANumber:
    """A numeric CSA item whose text is no number of its VR: one Python reads as a number and
    DICOM's grammar does not ('1_0'), or one no number at all ('abc', '4.5' for an integer)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return repr(self.text)

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
    from .records import number  # (records is not imported by a reopen's checks: vendor's import)

    try:
        number(text)
    except ValueError:
        return NotANumber(text)
    return text


def _item_texts(b: bytes) -> dict[str, tuple[str, list[str]]]:
    """``{name: (vr, texts)}`` of each element's items, walking ``b`` as nibabel's
    ``csareader.read`` does (a numeric element's items end at its first empty one, as there)."""
    out: dict[str, tuple[str, list[str]]] = {}
    csa2 = b[:4] == b"SV10"
    ptr = 8 if csa2 else 0
    (n_tags,) = struct.unpack_from("<I", b, ptr)
    if not 0 < n_tags <= _MAX_ITEMS:
        raise ValueError(f"{n_tags} CSA elements")
    ptr += 8
    first_n = 0
    for tag_no in range(n_tags):
        name_b, vm, vr_b, _syngodt, n_items, _last = struct.unpack_from("<64si4s3i", b, ptr)
        ptr += 84
        name = name_b.split(b"\x00")[0].decode("latin-1")
        vr = vr_b.split(b"\x00")[0].decode("latin-1")
        first_n = n_items if tag_no == 1 else first_n
        if not 0 <= n_items <= _MAX_ITEMS:
            raise ValueError(f"{n_items} CSA items")
        n_values = vm or n_items
        texts: list[str] = []
        for item_no in range(n_items):
            x0, x1 = struct.unpack_from("<2i", b, ptr)
            ptr += 16
            length = x1 if csa2 else x0 - first_n
            if length < 0 or ptr + length > len(b):
                if csa2:
                    raise ValueError("a CSA item past the header's end")
                break
            if item_no < n_values:
                text = b[ptr : ptr + length].split(b"\x00")[0].decode("latin-1")
                if vr in _NUMERIC and not length:
                    n_values = item_no  # (no more values: nibabel's rule)
                else:
                    texts.append(text)
            # (an item past the values kept is skipped by its length, as dcm2niix skips every
            # item; nibabel asserts it empty)
            ptr += length + (-length % 4)
        out[name] = (vr, texts)
    return out


def _value(vr: str, text: str) -> Any:
    """An item's value: a number for a numeric VR (an int for an integer one), else its text; a
    :class:`NotANumber` for a numeric VR's text that is no number of it ('4.5' for IS)."""
    if vr not in _NUMERIC:
        return text
    from .records import number

    try:
        value = number(text)
    except ValueError:
        return NotANumber(text)
    if vr in _INTEGER:
        return int(value) if value.is_integer() else NotANumber(text)
    return value


def read(b: bytes) -> dict[str, Any]:
    """The CSA header ``b`` read by nibabel's ``csareader`` (as :func:`checked`); where one
    numeric item's text is no number to Python ('4.0' or '' for an integer, a word), or an item
    past an element's value count is not empty (nibabel asserts it is), which fails nibabel's
    whole reading, read item by item: that item is a :class:`NotANumber` (the item past the
    count skipped by its length, as dcm2niix skips it) and the rest of the header is kept
    (dcm2niix reads such a header: a count '4.0' is its 4).

    Raises
    ------
    Exception
        What nibabel raises for a header whose structure does not parse.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nibabel.nicom warns on import
        from nibabel.nicom import csareader

    try:
        return checked(csareader.read(b), b)
    except (ValueError, AssertionError) as exc:
        # (AssertionError: nibabel asserts an item past an element's value count is empty)
        if isinstance(exc, UnicodeDecodeError):
            raise
        try:
            texts = _item_texts(b)
        except (struct.error, ValueError):
            raise exc from None
    tags = {
        name: {"vr": vr, "n_items": len(items), "items": [_value(vr, t) for t in items]}
        for name, (vr, items) in texts.items()
    }
    return {"type": 2 if b[:4] == b"SV10" else 1, "tags": tags}


def checked(parsed: dict[str, Any], b: bytes) -> dict[str, Any]:
    """``parsed`` (nibabel's reading of the CSA header ``b``) with each numeric item whose text
    is no DICOM number replaced by a :class:`NotANumber` (see the module's text)."""
    if b"_" not in b:
        return parsed  # (the one form DICOM lacks and Python reads: none here)
    try:
        texts = _item_texts(b)
    except (struct.error, ValueError):
        return parsed
    tags = parsed["tags"]
    for name, (vr, items) in texts.items():
        tag = tags.get(name)
        if (
            vr not in _NUMERIC
            or not isinstance(tag, dict)
            or not isinstance(tag.get("items"), list)
        ):
            continue
        marked = [checked_text(t) for t in items]
        if len(marked) == len(tag["items"]) and any(isinstance(m, NotANumber) for m in marked):
            tag["items"] = [
                m if isinstance(m, NotANumber) else v
                for m, v in zip(marked, tag["items"], strict=True)
            ]
    return parsed


def stated(items: list[Any] | None) -> str:
    """How a message names a CSA vector's ``items``: "missing from", or "[...] (not 3 numbers) in"."""
    return "missing from" if items is None else f"{[str(x) for x in items]} (not 3 numbers) in"
