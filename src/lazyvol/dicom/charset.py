"""Text values of a header decoded with the file's Specific Character Set (0008,0005).

The header scan keeps text elements as bytes; a value outside ASCII (a German, Japanese or Russian
institution, protocol or description) means what the file's character set says: Python's codecs
for the default, Latin-1 and UTF-8 sets without escapes (pydicom maps them the same way), pydicom's
decoder for the rest (ISO 2022 escapes, multi-valued sets).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .header_values import ValueReader

__all__ = [
    "SPECIFIC_CHARACTER_SET",
    "before_nul",
    "decode_text",
    "python_encodings",
    "series_description",
    "short_text_cache",
]

_Text = TypeVar("_Text", str, bytes)
_Answer = TypeVar("_Answer")
#: Longest header text :func:`short_text_cache` remembers (a Manufacturer LO is 64 characters at
#: most, a Specific Character Set a few 16-character CS values).
SHORT_TEXT = 256


def short_text_cache(fn: Callable[[_Text], _Answer]) -> Callable[[_Text], _Answer]:
    """``fn``, a pure function of one header text, remembering its answers for the few short
    texts a scan meets again (64 of them); a longer text is answered but not kept: a header's
    value can be as long as its file (a hostile Manufacturer of 100 MB), and a cache keeps its
    keys alive after the scan, 64 of them."""
    cached = lru_cache(maxsize=64)(fn)

    @wraps(fn)
    def call(text: _Text) -> _Answer:
        return cached(text) if len(text) <= SHORT_TEXT else fn(text)

    return call


SPECIFIC_CHARACTER_SET = 0x00080005
_PLAIN_CHARSETS = {
    "": "latin_1",
    "ISO_IR 6": "latin_1",
    "ISO_IR 100": "latin_1",
    "ISO_IR 192": "utf_8",
}


@short_text_cache
def _names(stated: bytes) -> tuple[str, ...]:
    if not stated.strip():
        return ("ISO_IR 6",)
    return tuple(x.strip() for x in stated.decode("ascii", "replace").split("\\"))


def _stated(raw: dict[int, Any]) -> tuple[str, ...]:
    """The character sets a header's raw elements state (ISO_IR 6 when none)."""
    cs = raw.get(SPECIFIC_CHARACTER_SET)
    stated = getattr(cs, "value", None)
    if isinstance(stated, str):
        stated = stated.encode("ascii", "replace")
    elif isinstance(stated, list | tuple) or type(stated).__name__ == "MultiValue":
        stated = "\\".join(str(v) for v in stated or ()).encode("ascii", "replace")
    return _names(bytes(stated)) if isinstance(stated, bytes | bytearray) else ("ISO_IR 6",)


def before_nul(text: str) -> str:
    """``text`` up to its first NUL, as dcm2niix reads a text element (a C string): a writer's
    NUL padding, and whatever it left after it, are not part of the value (``"abc<NUL>def"`` is
    ``abc``; a value starting with a NUL is empty). No character set encodes another character
    with a zero byte, so cutting the decoded text is cutting the bytes."""
    return text.split("\x00", 1)[0]


def python_encodings(raw: dict[int, Any]) -> list[str]:
    """The Python encodings of a header's character sets, as pydicom's parsers take them (the
    text inside a sequence the scan parses with pydicom)."""
    try:
        from pydicom.charset import convert_encodings

        return list(convert_encodings(list(_stated(raw))))
    except Exception:
        return ["iso8859"]


def decode_text(raw: dict[int, Any], value: bytes) -> str:
    """``value`` (a text element's bytes from the header whose raw elements are ``raw``) as text.

    Bytes that do not decode in the stated set are decoded as pydicom decodes them (replacement
    characters, its fallbacks); a set pydicom does not know reads as Latin-1."""
    if value.isascii() and b"\x1b" not in value:
        return value.decode("ascii")
    names = _stated(raw)
    codec = _PLAIN_CHARSETS.get(names[0]) if len(names) == 1 else None
    if codec is not None and b"\x1b" not in value:
        try:
            return value.decode(codec)
        except UnicodeDecodeError:
            pass  # pydicom's decoder decides (replacement characters, fallbacks)
    try:
        from pydicom.charset import convert_encodings, decode_bytes

        return str(decode_bytes(value, convert_encodings(list(names)), set()))
    except Exception:
        return value.decode("latin-1")


def series_description(raw: dict[int, Any], r: ValueReader) -> str:
    """SeriesDescription decoded with the file's Specific Character Set
    (:func:`decode_text`), up to its first NUL (as dcm2niix reads it)."""
    elem = raw.get(0x0008103E)
    if elem is None or not isinstance(elem.value, bytes | bytearray):
        return before_nul(r.get_str("SeriesDescription")).strip()
    return before_nul(decode_text(raw, bytes(elem.value))).strip(" ")
