"""The text fields of a NIfTI/Analyze header (``descrip``, ``aux_file``, ``intent_name``) as
``Volume.meta`` shows them, and the bytes a NIfTI written from the volume holds.

A field's bytes (up to the first NUL) are shown as UTF-8 when they are (what nibabel users and
Python tools write), also when the field is full and only its last character is cut short (a
writer that cut UTF-8 text to the field's size: the part character is left out of the text), else
as latin-1 (older tools' 8-bit text). A NIfTI written from the volume gets the source's bytes back: the
carried fields (``meta["nifti_fields"]``) name the latin-1 fields (:data:`LATIN1_KEY`) and hold
the bytes of those whose text does not give them back (:data:`TEXT_CUT_KEY`: a last character cut
short, bytes after a NUL); a text set since is written as UTF-8.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

__all__ = [
    "LATIN1_KEY",
    "TEXT_CUT_KEY",
    "TEXT_FIELDS",
    "header_text",
    "held_text",
    "text_bytes",
    "text_notes",
]

#: Carried key: the text fields whose bytes are not UTF-8, read as latin-1 and written back so.
LATIN1_KEY = "latin1_text"
#: Carried key: ``{field: base64 of its bytes}`` of the text fields whose text does not give their
#: bytes back (a last UTF-8 character cut short, which the text shown leaves out; bytes after a NUL,
#: which C readers and the text stop before), written back as those bytes while the text is unset.
TEXT_CUT_KEY = "text_cut"
#: The text fields of a NIfTI/Analyze header and their sizes (the same in NIfTI-1 and -2).
TEXT_FIELDS = ("descrip", "aux_file", "intent_name")
_SIZES = {"descrip": 80, "aux_file": 24, "intent_name": 16}


def _raw(value: Any) -> bytes:
    return bytes(value).split(b"\0")[0]


def _utf8(raw: bytes, key: str) -> str | None:
    """``raw`` (the bytes of the field ``key``) as UTF-8, an incomplete character at the end of a
    full field left out; None when it is not UTF-8 otherwise."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        cut = exc.end == len(raw) == _SIZES.get(key) and exc.reason == "unexpected end of data"
        # (the first error: all before it is UTF-8; a shorter field is no cut, b"caf\xe9" latin-1)
        return raw[: exc.start].decode("utf-8") if cut else None


def header_text(rec: Any, key: str) -> str:
    """The text field ``key`` of a header (a structured record or nibabel header): its bytes up
    to the first NUL as UTF-8 where they are (an incomplete last character of a full field left
    out), else latin-1. Nothing is stripped."""
    return _decoded(_raw(rec[key]), key)


def _decoded(raw: bytes, key: str) -> str:
    text = _utf8(raw, key)
    return raw.decode("latin-1") if text is None else text


def text_notes(rec: Any, keys: tuple[str, ...] = TEXT_FIELDS) -> dict[str, Any]:
    """The carried entries (:data:`LATIN1_KEY`, :data:`TEXT_CUT_KEY`) a NIfTI written from a
    volume needs to hold the text fields ``keys`` of a header (a structured record or nibabel
    header) as the source's bytes; empty when the text of each is UTF-8, whole."""
    latin1, cut = [], {}
    for key in keys:
        raw = _raw(rec[key])
        full = bytes(rec[key]).rstrip(b"\0")  # (a NUL inside the field: the bytes after it too)
        text = _utf8(raw, key)
        if text is None:
            latin1.append(key)
        if full != (raw if text is None else text.encode("utf-8")):
            cut[key] = base64.b64encode(full).decode("ascii")
    out: dict[str, Any] = {}
    if latin1:
        out[LATIN1_KEY] = latin1
    if cut:
        out[TEXT_CUT_KEY] = cut
    return out


def _cut_bytes(fields: dict[str, Any], key: str, text: str) -> bytes | None:
    """The source's bytes of the field ``key`` when its last character was cut and ``text`` is
    the text read from them, else None."""
    cut = fields.get(TEXT_CUT_KEY)
    try:
        raw = base64.b64decode(cut[key], validate=True) if isinstance(cut, dict) else None
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None
    return raw if raw is not None and _decoded(_raw(raw), key) == text else None


def held_text(fields: Any, key: str) -> bool:
    """Whether a volume's carried fields (``meta["nifti_fields"]``) hold a text field ``key`` to
    write: its text, or the source's bytes of one whose text is empty (a NUL first)."""
    if not isinstance(fields, dict):
        return False
    return bool(fields.get(key)) or key in (fields.get(TEXT_CUT_KEY) or {})


def text_bytes(key: str, text: str, fields: Any, size: int) -> bytes:
    """The bytes (at most ``size``) a NIfTI header's text field ``key`` holding ``text`` is
    written with, given a volume's carried fields (``meta["nifti_fields"]``): the source's bytes
    while ``text`` is the text read from them (:func:`header_text`), else UTF-8 cut at a
    character's end."""
    fields = fields if isinstance(fields, dict) else {}
    raw = _cut_bytes(fields, key, text)
    if raw is None and key in (fields.get(LATIN1_KEY) or ()):
        try:
            raw = text.encode("latin-1")
        except UnicodeEncodeError:
            raw = None
    if raw is None:
        raw = text.encode("utf-8")[:size]
        raw = raw.decode("utf-8", "ignore").encode("utf-8")  # (no character cut in two)
    return raw[:size]
