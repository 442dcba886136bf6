"""A minimal DICOM data element walker: the wanted raw values of a Part 10 header, fast.

It reads only header bytes (skipped values are jumped over, never read) through a byte window
refilled on demand by a ``fetch(offset, n)`` callable (``os.pread`` for local files, ranged reads
for objects), and stops at Pixel Data. Anything it does not handle (VR switches, unknown VRs,
undefined-length values other than sequences, functional groups) raises :class:`Unusual`, and the
caller hands the file to pydicom's reader instead.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import Any

from .data_set_head import byte_order_problem, data_set_implicit
from .deflated import HEADER_KEEP, HEADER_LIMIT, Inflater
from .ge_timing import PROTOCOL_BLOCK
from .header_values import (
    _EXTRA_TAGS,
    _LONG_VRS,
    _PIXEL_TAGS,
    _TAG,
    DICOMDIR_SOP_CLASS,
    Parsed,
)
from .model import DEFLATED_SYNTAX
from .mosaic import CSA_TAGS, MAX_PRIVATE_BYTES
from .siemens_protocol import CSA_SERIES
from .xa_private import XA_PROTOCOL_TAGS

__all__ = [
    "GZIP_WBITS",
    "INFLATE_LIMIT",
    "WINDOW",
    "Unusual",
    "Window",
    "inflate_prefix",
    "walk_deflated",
    "walk_file",
    "walk_prefix",
]


class Unusual(Exception):
    """The minimal walker met something it does not handle: use pydicom's reader instead."""


_SHORT_VRS = frozenset(
    x.encode() for x in "AE AS AT CS DA DS DT FD FL IS LO LT PN SH SL SS ST TM UI UL US".split()
)
#: The text of each VR the walker reads (no decode per captured element).
_VR_TEXT = {vr: vr.decode() for vr in _SHORT_VRS | _LONG_VRS}
_WANTED = frozenset(_TAG.values()) | {0x00080005} | _EXTRA_TAGS
#: Wanted values captured only up to MAX_PRIVATE_BYTES (larger ones are skipped, not read: their
#: value is None, so the reader can say why).
_BOUNDED = frozenset(CSA_TAGS) | {PROTOCOL_BLOCK} | frozenset(CSA_SERIES.values())
#: Read only when :func:`wants_series_header` says so: the CSA series header (0029,xx20), about
#: 100 kB in every Siemens file, is needed only by a mosaic that states no slice times; else only
#: where it lies is kept (the sidecar reads it once per volume).
_WHEN_NEEDED = frozenset(CSA_SERIES.values())
#: Never read by the walker, only located: the CSA series header (unless wanted, above) and the
#: Siemens XA protocol text (0021,1019) (the sidecar reads either once per volume).
_LOCATED = _WHEN_NEEDED | XA_PROTOCOL_TAGS
#: Wanted values read only when short: ImageComments (0020,4000), read for the diffusion
#: direction Canon writes there (``b=1000(0.0,1.0,0.0)``), may hold anything up to 10,240
#: characters (LT), which no header scan should fetch for nothing.
_SHORT_ONLY = {0x00204000: 1024}
#: Wanted tags that are sequences: their items are parsed by pydicom (multi-frame files; a
#: Modality LUT, whose file is refused when it holds an item).
_WANTED_SQ = frozenset(
    {
        _TAG["SharedFunctionalGroupsSequence"],
        _TAG["PerFrameFunctionalGroupsSequence"],
        _TAG["DimensionIndexSequence"],
        _TAG["ModalityLUTSequence"],
    }
)
#: Wanted sequences kept as their bytes (parsed by pydicom only where read: a Philips image's real
#: world value mapping, a UIH GRID's slice items), also of undefined length: the bytes up to and
#: including the sequence delimiter (pydicom's read_sequence stops there).
_SEQUENCE_BYTES = frozenset(
    {
        _TAG["RealWorldValueMappingSequence"],
        _TAG["UIH_VFrameSequence"],
        _TAG["DetectorInformationSequence"],
    }
)
_STOP = frozenset(_PIXEL_TAGS)
_STOP_HEADS = frozenset(struct.pack(f"{e}HH", t >> 16, t & 0xFFFF) for t in _STOP for e in "<>")
WINDOW = 4096


class _RawValue:
    """Raw value of one element, the attributes lazyvol uses of pydicom's ``RawDataElement``:
    ``VR`` is the VR written in an explicit-VR file, None in an implicit one; ``value_tell`` and
    ``length`` where the value lies in the file (the CSA series header or the XA protocol is read
    from there once per volume, :mod:`lazyvol.dicom.siemens_sidecar`)."""

    __slots__ = ("VR", "is_little_endian", "length", "value", "value_tell")

    def __init__(
        self,
        value: bytes | None,
        is_little_endian: bool,
        vr: str | None = None,
        value_tell: int = -1,
        length: int = 0,
    ) -> None:
        self.value = value
        self.is_little_endian = is_little_endian
        self.VR = vr
        self.value_tell = value_tell
        self.length = length


#: ``fetch(offset, n) -> bytes``: up to ``n`` bytes of the file at ``offset``.
Fetch = Callable[[int, int], bytes]


class Window:
    """Bytes of a file around a position, re-read on demand (skipped values are never read).

    ``chunk``: the smallest refill (a remote source uses larger windows: fewer requests).
    """

    __slots__ = ("base", "buf", "chunk", "fetch", "size")

    def __init__(self, fetch: Fetch, size: int, base: int, buf: bytes, chunk: int = 0) -> None:
        self.fetch = fetch
        self.size = size
        self.base = base
        self.buf = buf
        self.chunk = max(chunk, WINDOW)

    def get(self, pos: int, n: int) -> bytes:
        """``n`` bytes at ``pos`` (fewer at the end of the file)."""
        off = pos - self.base
        if off < 0 or off + n > len(self.buf):
            # Never more than the file holds, whatever a length field claims.
            self.base = pos
            self.buf = self.fetch(pos, max(0, min(max(n, self.chunk), self.size - pos)))
            off = 0
        return self.buf[off : off + n]


def _skip_sequence(w: Window, pos: int, implicit: bool, endian: str, depth: int) -> int:
    """Position after an undefined-length sequence whose first item starts at ``pos``."""
    if depth > 16:
        raise Unusual("sequences nested too deep")
    item = struct.Struct(endian + "HHL")
    while True:
        head = w.get(pos, 8)
        if len(head) < 8:
            raise Unusual("end of file inside a sequence")
        group, elem, length = item.unpack(head)
        tag = group << 16 | elem
        pos += 8
        if tag == 0xFFFEE0DD:
            return pos
        if tag != 0xFFFEE000:
            raise Unusual(f"unexpected tag {tag:08X} in a sequence")
        if length != 0xFFFFFFFF:
            pos += length
            continue
        pos = _walk(w, pos, implicit, endian, None, depth + 1)


_EXPLICIT_HEAD = {e: struct.Struct(e + "HH2sH") for e in "<>"}
#: Explicit VR Little Endian element head read as one number: ``key`` = element << 16 | group
#: (the tag with its halves swapped), so the common element costs one set lookup (:func:`_walk_le`).
_LE_KEY_HEAD = struct.Struct("<L2sH")


def _le_key(tag: int) -> int:
    """A tag with its halves swapped (and back): the key :data:`_LE_KEY_HEAD` reads."""
    return (tag & 0xFFFF) << 16 | tag >> 16


#: Keys (see :data:`_LE_KEY_HEAD`) of the elements :func:`_walk_le` looks at: wanted or Pixel Data.
_LE_HOT = frozenset(_le_key(t) for t in _WANTED | _STOP | _LOCATED)
#: Keys of the wanted elements whose value :func:`_capture` always reads whole (no size bound, no
#: sequence parsed by pydicom, no stop): :func:`_walk_le` keeps them itself.
_LE_PLAIN = frozenset(
    _le_key(t) for t in _WANTED - _BOUNDED - set(_SHORT_ONLY) - _WANTED_SQ - _STOP - _LOCATED
)
_IMPLICIT_HEAD = {e: struct.Struct(e + "HHL") for e in "<>"}
_LONG_LENGTH = {e: struct.Struct(e + "L") for e in "<>"}


def _walk(
    w: Window,
    pos: int,
    implicit: bool,
    endian: str,
    out: dict[int, Any] | None,
    depth: int = 0,
) -> int:
    """Walk data elements from ``pos``; collect wanted raw values into ``out`` (top level only).

    Top level (``out`` given): stops at a Pixel Data element (returns its position) or at the end
    of the file (returns -1). In a sequence item (``out`` None): stops after the item delimiter
    and returns the position after it. Raises :class:`Unusual` for anything pydicom would
    interpret (VR switches, unknown VRs, undefined-length values other than sequences, truncation
    inside a wanted value).
    """
    little = endian == "<"
    explicit_head = _EXPLICIT_HEAD[endian]
    implicit_head = _IMPLICIT_HEAD[endian]
    long_len = _LONG_LENGTH[endian]
    top = out is not None
    wanted, stop, short_vrs, long_vrs = _WANTED, _STOP, _SHORT_VRS, _LONG_VRS
    buf, base = w.buf, w.base
    nbuf = len(buf)
    while True:
        off = pos - base
        if off < 0 or off + 12 > nbuf:
            if not _refill_head(w, pos, top):
                return -1
            buf, base = w.buf, w.base
            nbuf = len(buf)
            off = pos - base
            if off + 8 > nbuf:
                return pos  # (a pixel element's head cut short: the record says so)
        if implicit:
            group, elem, length = implicit_head.unpack_from(buf, off)
            hlen = 8
            vr = b""
        else:
            group, elem, vr, length = explicit_head.unpack_from(buf, off)
            if group == 0xFFFE:  # item tags have no VR in any encoding
                hlen, vr = 8, b""
            elif vr in short_vrs:
                hlen = 8
            elif vr in long_vrs:
                if off + 12 > nbuf:
                    raise Unusual("end of file inside an element header")
                (length,) = long_len.unpack_from(buf, off + 8)
                hlen = 12
            else:
                raise Unusual(f"VR {vr!r}")
        tag = group << 16 | elem
        if group == 0xFFFE:
            if not top and tag == 0xFFFEE00D:
                return pos + 8
            raise Unusual(f"item tag {tag:08X} outside a sequence")
        if top and tag in stop:
            return pos
        vpos = pos + hlen
        if length == 0xFFFFFFFF:
            keep = top and tag in wanted
            if keep and tag not in _SEQUENCE_BYTES:
                raise Unusual("wanted element of undefined length")
            if implicit:
                nxt = w.get(vpos, 8)
                first = struct.unpack(endian + "HH", nxt[:4]) if len(nxt) >= 8 else None
                if first not in ((0xFFFE, 0xE0DD), (0xFFFE, 0xE000)):
                    raise Unusual("undefined-length value that is not a sequence")
                end = vpos + 8 if first == (0xFFFE, 0xE0DD) else -1  # (-1: items to skip)
            elif vr != b"SQ":
                raise Unusual(f"undefined-length {vr!r}")
            else:
                end = -1
            if end < 0:
                end = _skip_sequence(w, vpos, implicit, endian, depth)
            if keep:
                assert out is not None
                _capture(w, out, tag, vpos, end - vpos, little, "SQ" if vr else None)
            pos = end
            buf, base = w.buf, w.base
            nbuf = len(buf)
            continue
        if top and (tag in wanted or (tag in _WHEN_NEEDED and wants_series_header(out))):
            assert out is not None
            _capture(w, out, tag, vpos, length, little, _VR_TEXT.get(vr) if vr else None)
            buf, base = w.buf, w.base
            nbuf = len(buf)
        elif top and tag in _LOCATED:
            assert out is not None
            _locate(out, tag, vpos, length, little, _VR_TEXT.get(vr) if vr else None)
        pos = vpos + length


def _walk_le(w: Window, pos: int, out: dict[int, Any]) -> int:
    """:func:`_walk` at the top level of an Explicit VR Little Endian data set (nearly every file),
    with the same results and the same :class:`Unusual` cases, in fewer steps per element: a
    real header has hundreds of elements (private groups), of which ~50 are wanted."""
    head, long_len = _LE_KEY_HEAD, _LONG_LENGTH["<"]
    hot, stop, wanted, short_vrs, long_vrs = _LE_HOT, _STOP, _WANTED, _SHORT_VRS, _LONG_VRS
    plain, vr_text = _LE_PLAIN, _VR_TEXT
    buf, base = w.buf, w.base
    nbuf = len(buf)
    while True:
        off = pos - base
        if off < 0 or off + 12 > nbuf:
            if not _refill_head(w, pos, True):
                return -1
            buf, base = w.buf, w.base
            nbuf = len(buf)
            off = pos - base
            if off + 8 > nbuf:
                return pos  # (a pixel element's head cut short: the record says so)
        key, vr, length = head.unpack_from(buf, off)
        if key & 0xFFFF == 0xFFFE:  # item tags have no VR in any encoding
            raise Unusual(f"item tag {_le_key(key):08X} outside a sequence")
        if vr in short_vrs:
            vpos = pos + 8
        elif vr in long_vrs:
            if off + 12 > nbuf:
                raise Unusual("end of file inside an element header")
            (length,) = long_len.unpack_from(buf, off + 8)
            vpos = pos + 12
            if length == 0xFFFFFFFF:
                tag = _le_key(key)
                if key in hot:
                    if tag in stop:
                        return pos
                    if tag not in _SEQUENCE_BYTES:
                        raise Unusual("wanted element of undefined length")
                if vr != b"SQ":
                    raise Unusual(f"undefined-length {vr!r}")
                end = _skip_sequence(w, vpos, False, "<", 0)
                if key in hot:
                    _capture(w, out, tag, vpos, end - vpos, True, "SQ")
                pos = end
                buf, base = w.buf, w.base
                nbuf = len(buf)
                continue
        else:
            raise Unusual(f"VR {vr!r}")
        voff = vpos - base
        if key in plain and voff + length <= nbuf:
            # A wanted value read whole, in the window: kept here, as _capture keeps it (a tag
            # met again goes the general way, which compares the two values).
            tag = (key & 0xFFFF) << 16 | key >> 16
            if tag not in out:
                out[tag] = _RawValue(buf[voff : voff + length], True, vr_text[vr], vpos, length)
                pos = vpos + length
                continue
        if key in hot:
            tag = _le_key(key)
            if tag in stop:
                return pos
            if tag in wanted or (tag in _WHEN_NEEDED and wants_series_header(out)):
                _capture(w, out, tag, vpos, length, True, _VR_TEXT[vr])
                buf, base = w.buf, w.base
                nbuf = len(buf)
            elif tag in _LOCATED:
                _locate(out, tag, vpos, length, True, _VR_TEXT[vr])
        pos = vpos + length


def wants_series_header(out: dict[int, Any] | None) -> bool:
    """Read the CSA series header of the file whose wanted values so far are ``out``? For a
    mosaic (ImageType (0008,0008) MOSAIC or (0019,100A) given) without MosaicRefAcqTimes
    (0019,1029): its slice times come from the protocol (:mod:`lazyvol.dicom.siemens_protocol`);
    or without SpacingBetweenSlices (0018,0088): its slice positions do too."""
    if out is None or (0x00191029 in out and 0x00180088 in out):
        return False
    if 0x0019100A in out:
        return True
    image_type = out.get(0x00080008)
    value = getattr(image_type, "value", None)
    return isinstance(value, bytes) and b"MOSAIC" in value.upper()


def _capture(
    w: Window,
    out: dict[int, Any],
    tag: int,
    vpos: int,
    length: int,
    little: bool,
    vr: str | None,
) -> None:
    """Keep wanted element ``tag``'s raw value and written VR (the value None when a bounded one is
    too large to read: it is there, not read). A tag met twice with another value makes the file
    unusual: pydicom's element reader then lists the repeats, and the file is refused as
    malformed."""
    if (length <= MAX_PRIVATE_BYTES or tag not in _BOUNDED) and length <= _SHORT_ONLY.get(
        tag, length
    ):
        value = _wanted_value(w, tag, vpos, length)
    else:
        value = None
    if tag in out:
        if out[tag].value == value and value is not None:
            return  # the same value twice: not ambiguous
        raise Unusual("a wanted element repeated")
    out[tag] = _RawValue(value, little, vr, vpos, length)


def _locate(
    out: dict[int, Any], tag: int, vpos: int, length: int, little: bool, vr: str | None
) -> None:
    """Keep where element ``tag``'s value lies, its bytes not read (value None)."""
    if tag not in out:
        out[tag] = _RawValue(None, little, vr, vpos, length)


def _refill_head(w: Window, pos: int, top: bool) -> bool:
    """Refill the window at ``pos`` for an element header; False at the end of the file (at the
    top level: no Pixel Data), :class:`Unusual` when the file ends inside the header."""
    head = w.get(pos, 12)
    if len(head) < 8:
        if top and not head:
            return False
        if top and len(head) >= 4 and head[:4] in _STOP_HEADS:
            return True  # the file ends inside the Pixel Data element's header: stop there
        raise Unusual("end of file inside an element header")
    return True


def _wanted_value(w: Window, tag: int, vpos: int, length: int) -> bytes:
    """The ``length`` bytes of wanted element ``tag``'s value at ``vpos`` (the window refilled
    when they are not all in it)."""
    if tag in _WANTED_SQ:
        raise Unusual("functional groups (parsed by pydicom)")
    off = vpos - w.base
    if off + length <= len(w.buf):
        return w.buf[off : off + length]
    value = w.get(vpos, length)
    if len(value) < length:
        raise Unusual("wanted value truncated")
    return value


_META_HEAD = struct.Struct("<HH2sH")
_META_LONG = struct.Struct("<L")


def walk_file(
    fetch: Fetch,
    size: int,
    first: bytes | None = None,
    chunk: int = 0,
    partial: dict[int, Any] | None = None,
) -> tuple[Parsed, int, bytes] | None:
    """Minimal element walker for a Part 10 file: (parsed, pixel element position, its 12 bytes).

    ``fetch(offset, n)`` reads the file; ``first`` holds its first bytes when already read.
    ``partial``: filled with the wanted raw values met, also when the walk gives up (a file no
    reader can parse still names its SeriesInstanceUID, so its series is known incomplete).
    Reads only the header bytes (skipped values are jumped over); returns None when the file needs
    pydicom's interpretation (see :class:`Unusual`). The position is -1 when there is no Pixel Data.
    """
    w = Window(fetch, size, 0, fetch(0, max(chunk, WINDOW)) if first is None else first, chunk)
    meta: dict[int, Any] = {}
    pos = 132
    while True:
        # The file meta group: read in place from the window (it nearly always holds it).
        buf, off = w.buf, pos - w.base
        if off < 0 or off + 12 > len(buf):
            buf, off = w.get(pos, 12), 0
            if len(buf) < 8:
                return None
        group, elem, vr, length = _META_HEAD.unpack_from(buf, off)
        if group != 0x0002:
            break
        if vr in _LONG_VRS:
            (length,) = _META_LONG.unpack_from(buf, off + 8)
            vpos = pos + 12
        elif vr in _SHORT_VRS:
            vpos = pos + 8
        else:
            return None
        if length == 0xFFFFFFFF:
            return None
        value = w.get(vpos, length) if length else b""
        if len(value) < length:
            return None
        meta[group << 16 | elem] = value
        pos = vpos + length
    ts_value = meta.get(0x00020010)
    if not ts_value:
        return None
    tsyntax = ts_value.decode("ascii", "replace").strip(" \x00")
    sop_value = meta.get(0x00020002)
    media_sop = sop_value.decode("ascii", "replace").strip(" \x00") if sop_value else ""
    if media_sop == DICOMDIR_SOP_CLASS:
        return Parsed({}, media_sop, tsyntax), -1, b""
    if tsyntax == DEFLATED_SYNTAX:
        return walk_deflated(fetch, pos, size, media_sop, partial)
    if not tsyntax.startswith("1.2.840.10008.1.2") or byte_order_problem(tsyntax, w.get(pos, 4)):
        return None  # private or unknown syntax, or mislabelled: pydicom's path decides or says
    endian = ">" if tsyntax == "1.2.840.10008.1.2.2" else "<"
    implicit = data_set_implicit(tsyntax == "1.2.840.10008.1.2", w.get(pos, 6))
    raw: dict[int, Any] = {} if partial is None else partial
    try:
        if endian == "<" and not implicit:
            at = _walk_le(w, pos, raw)
        else:
            at = _walk(w, pos, implicit, endian, raw)
    except Unusual:
        return None
    elem_head = w.get(at, 12) if at >= 0 else b""
    return Parsed(raw, media_sop, tsyntax, implicit=implicit), at, elem_head


#: Inflated bytes of a Deflated data set (or of a gzip-compressed file) read to name its series
#: (its pixels are never read).
INFLATE_LIMIT = 256 * 1024
#: Compressed bytes read for them at most (a stream of empty blocks inflates to nothing).
_DEFLATED_READ_LIMIT = 4 * INFLATE_LIMIT
#: ``wbits`` of a gzip member (its header and trailer), as zlib takes it; a raw deflate stream
#: (a Deflated data set) is ``-zlib.MAX_WBITS``.
GZIP_WBITS = zlib.MAX_WBITS | 16


def inflate_prefix(
    fetch: Fetch, start: int, size: int, wbits: int = -zlib.MAX_WBITS, limit: int = INFLATE_LIMIT
) -> bytes:
    """The first ``limit`` (at most :data:`INFLATE_LIMIT`) bytes the deflate stream at ``start``
    (of a file of ``size`` bytes) inflates to: a raw stream, or a gzip member with
    ``wbits=GZIP_WBITS``.

    Memory and reads stay bounded whatever the stream inflates to; a damaged or cut stream gives
    the bytes inflated before the damage.
    """
    limit = min(limit, INFLATE_LIMIT)
    inflater = zlib.decompressobj(wbits)
    out = bytearray()
    pos, data = start, b""
    try:
        while len(out) < limit and not inflater.eof:
            if not data:
                n = min(WINDOW * 16, size - pos, start + _DEFLATED_READ_LIMIT - pos)
                data = fetch(pos, n) if n > 0 else b""
                if not data:
                    break
                pos += len(data)
            out += inflater.decompress(data, limit - len(out))
            data = inflater.unconsumed_tail
    except zlib.error:
        pass  # the bytes inflated before the damage
    return bytes(out)


def walk_deflated(
    fetch: Fetch, start: int, size: int, media_sop: str, partial: dict[int, Any] | None = None
) -> tuple[Parsed, int, bytes] | None:
    """:func:`walk_file` of the Deflated Explicit VR Little Endian data set at ``start`` (of a file
    of ``size`` bytes): its header walked as it inflates (within
    :data:`~lazyvol.dicom.deflated.HEADER_LIMIT` bytes), the pixel element's position counted in
    inflated bytes. None when pydicom's reader must decide (functional groups, a damaged or cut
    stream, a header past the limit); ``partial`` then holds the values met before."""
    stream = Inflater(fetch, start, size, keep=HEADER_KEEP, limit=HEADER_LIMIT)
    raw: dict[int, Any] = {} if partial is None else partial
    try:
        at = _walk_le(Window(stream.get, HEADER_LIMIT, 0, stream.get(0, WINDOW)), 0, raw)
    except Unusual:
        return None
    if at < 0 and (stream.damage or stream.over or not stream.top):
        return None  # (damage past the pixel element's head: the record's checks name it)
    parsed = Parsed(raw, media_sop, DEFLATED_SYNTAX, implicit=False)
    parsed.inflated_from = start
    return parsed, at, stream.get(at, 12) if at >= 0 else b""


def walk_prefix(head: bytes) -> dict[int, Any]:
    """The wanted raw values met in ``head``, the first bytes of a Part 10 file (or of a bare data
    set) of which nothing more is read: the inflated start of a gzip-compressed file, which names
    the series it belongs to.

    Values are read up to the first thing the walker does not handle or the end of ``head``; a
    file whose data set is Deflated gives those of its own bounded inflate.
    """
    raw: dict[int, Any] = {}

    def fetch(pos: int, n: int) -> bytes:
        return head[pos : pos + n]

    try:
        if head[128:132] == b"DICM":
            walked = walk_file(fetch, len(head), head, partial=raw)
            # (the same dict as ``raw``, or the values of a Deflated data set's inflate)
            return walked[0]._dict if walked is not None else raw
        implicit = data_set_implicit(False, head[:6])
        _walk(Window(fetch, len(head), 0, head), 0, implicit, "<", raw)
    except Exception:  # a damaged prefix: the values met before the damage
        pass
    return raw
