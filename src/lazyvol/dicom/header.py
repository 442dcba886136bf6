"""Parse one DICOM file's header up to Pixel Data and record where the pixels are.

``pydicom.dcmread(fp, stop_before_pixels=True)`` stops with the file positioned at the start of the
Pixel Data element (pydicom rewinds to the element's tag), so the element header is decoded here to
get the value's byte offset and length without reading a single pixel byte. ``specific_tags``
limits parsing to the attributes lazyvol uses: the others are skipped with a seek.
"""

from __future__ import annotations

import math
import os
import stat
import struct
import warnings
from typing import Any

from pydicom import dcmread
from pydicom.datadict import dictionary_VR
from pydicom.errors import InvalidDicomError
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID

from .bids import BIDS_TAGS
from .mosaic import CSA_TAGS, MAX_PRIVATE_BYTES
from .records import FrameRecord
from .vendor import read_diffusion, read_ge_image_kind, read_philips_scale_slope

#: Opening a path that became a FIFO since it was listed returns at once instead of blocking.
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)

__all__ = ["HEADER_TAGS", "read_header"]

_KEYWORDS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "Modality",
    "InstanceNumber",
    "AcquisitionNumber",
    "ImageType",
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "NumberOfFrames",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "RescaleSlope",
    "RescaleIntercept",
    "TemporalPositionIdentifier",
    "TriggerTime",
    "EchoTime",
    "EchoNumbers",
    "DiffusionBValue",
    "AcquisitionTime",
    "FrameOfReferenceUID",
    "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence",
    # 4D ordering, image-type splits, diffusion and vendor scaling (dicom4d)
    "Manufacturer",
    "ComplexImageComponent",
    "DiffusionGradientOrientation",
    "DimensionIndexSequence",
)
#: Vendor private attributes read by fixed element number (as dcm2niix does), interpreted only
#: when Manufacturer (0008,0070) names the vendor: pseudo-keyword -> (tag, VR).
PRIVATE_TAGS: dict[str, tuple[int, str]] = {
    "GE_BValue": (0x00431039, "IS"),  # Slop_int_6..9: b-value (+1e9 on some versions) first
    "GE_GradientX": (0x001910BB, "DS"),
    "GE_GradientY": (0x001910BC, "DS"),
    "GE_GradientZ": (0x001910BD, "DS"),
    "Siemens_BValue": (0x0019100C, "IS"),
    "Siemens_Gradient": (0x0019100E, "FD"),
    "Philips_BValue": (0x20011003, "FL"),
    "Philips_GradientRL": (0x200510B0, "FL"),
    "Philips_GradientAP": (0x200510B1, "FL"),
    "Philips_GradientFH": (0x200510B2, "FL"),
    "Philips_ScaleSlope": (0x2005100E, "FL"),
    "GE_ImageKind": (0x0043102F, "SS"),  # 0 magnitude, 1 phase, 2 real, 3 imaginary
}
HEADER_TAGS: list[BaseTag | int] = [Tag(k) for k in _KEYWORDS]
HEADER_TAGS += [Tag(t) for t, _ in PRIVATE_TAGS.values()]

# -- acquisition / Siemens private tags (raw bytes, decoded by lazyvol.dicom.bids / .mosaic) ------
_EXTRA_TAGS = frozenset(BIDS_TAGS) | frozenset(CSA_TAGS)
HEADER_TAGS += [Tag(t) for t in sorted(_EXTRA_TAGS)]

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
_PIXEL_TAGS = {
    0x7FE00010: "PixelData",
    0x7FE00008: "FloatPixelData",
    0x7FE00009: "DoubleFloatPixelData",
}
_LONG_VRS = {
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"SV",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"UV",
}

#: Image objects that are not plain stacks of frames: refused until supported explicitly.
NOT_PLAIN_STACKS = {
    "1.2.840.10008.5.1.4.1.1.66.4": "Segmentation Storage (SEG)",
    "1.2.840.10008.5.1.4.1.1.481.2": "RT Dose Storage (RTDOSE)",
    "1.2.840.10008.5.1.4.1.1.481.1": "RT Image Storage (RTIMAGE)",
    "1.2.840.10008.5.1.4.1.1.11.1": "Grayscale Softcopy Presentation State",
}


def _tag_str(keyword: str) -> str:
    t = Tag(PRIVATE_TAGS[keyword][0]) if keyword in PRIVATE_TAGS else Tag(keyword)
    return f"({t.group:04X},{t.element:04X})"


_VR = {k: dictionary_VR(Tag(k)) for k in _KEYWORDS} | {k: v for k, (_, v) in PRIVATE_TAGS.items()}
_TAG = {k: int(Tag(k)) for k in _KEYWORDS} | {k: t for k, (t, _) in PRIVATE_TAGS.items()}
_BINARY = {"US": "H", "UL": "L", "SS": "h", "SL": "l", "FL": "f", "FD": "d"}


class _Reader:
    """Typed, guarded access to raw header values; malformed ones are noted, not raised.

    Values are decoded here from the raw bytes pydicom leaves unconverted (its per-element value
    conversion costs more than the parse itself), using the VR from the DICOM dictionary.
    """

    def __init__(self, ds: Any) -> None:
        self.ds = ds
        self.raw = ds._dict
        self.bad: list[str] = []

    def __contains__(self, keyword: str) -> bool:
        return _TAG[keyword] in self.raw

    def values(self, keyword: str) -> list[Any] | None:
        """Decoded values (strings stripped, numbers for binary VRs), or None when absent/empty."""
        elem = self.raw.get(_TAG[keyword])
        if elem is None:
            return None
        value = elem.value
        if value is None:
            return None
        vr = _VR[keyword]
        if type(value) is bytes and vr not in _BINARY:
            # The common case (text VRs), kept short: same result as the general path below.
            text = value.decode("latin-1").strip(" \x00")
            if not text:
                return None
            if "\\" not in text:
                return [text]
            return [t.strip(" \x00") for t in text.split("\\")]
        if not isinstance(value, bytes | bytearray):
            # Already converted by pydicom (e.g. in a file read without specific tags).
            items = (
                list(value)
                if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue"
                else [value]
            )
            return [x for x in items] or None
        if vr in _BINARY:
            fmt = _BINARY[vr]
            size = struct.calcsize(fmt)
            if len(value) % size:
                self.bad.append(
                    f"{keyword} {_tag_str(keyword)}: {len(value)} bytes is not a multiple of {size}"
                )
                return None
            endian = "<" if getattr(elem, "is_little_endian", True) else ">"
            return list(struct.unpack(f"{endian}{len(value) // size}{fmt}", value)) or None
        text = value.decode("latin-1").strip(" \x00")
        if not text:
            return None
        return [t.strip(" \x00") for t in text.split("\\")]

    def get_str(self, keyword: str) -> str:
        v = self.values(keyword)
        return "" if not v else "\\".join(str(x) for x in v).strip()

    def get_strs(self, keyword: str) -> list[str] | None:
        v = self.values(keyword)
        return None if v is None else [str(x) for x in v]

    def _num(self, keyword: str, x: Any) -> float | None:
        try:
            f = float(x)
        except (TypeError, ValueError):
            self.bad.append(f"{keyword} {_tag_str(keyword)}={x!r} is not a number")
            return None
        if not math.isfinite(f):
            self.bad.append(f"{keyword} {_tag_str(keyword)}={x!r} is not finite")
            return None
        return f

    def get_int(self, keyword: str) -> int | None:
        v = self.values(keyword)
        if not v or v[0] == "":
            return None
        f = self._num(keyword, v[0])
        if f is None:
            return None
        if f != int(f):
            self.bad.append(f"{keyword} {_tag_str(keyword)}={v[0]!r} is not an integer")
            return None
        return int(f)

    def get_float(self, keyword: str) -> float | None:
        v = self.values(keyword)
        if not v or v[0] == "":
            return None
        return self._num(keyword, v[0])

    def get_floats(self, keyword: str, n: int) -> list[float] | None:
        v = self.values(keyword)
        if v is None:
            return None
        out = [self._num(keyword, x) for x in v]
        if len(out) != n or any(x is None for x in out):
            self.bad.append(f"{keyword} {_tag_str(keyword)}={v!r} is not {n} finite numbers")
            return None
        return [float(x) for x in out if x is not None]


def _description(raw: dict[int, Any], r: _Reader) -> str:
    """SeriesDescription decoded with the file's Specific Character Set (pydicom's codecs)."""
    elem = raw.get(0x0008103E)
    if elem is None or not isinstance(elem.value, bytes | bytearray):
        return r.get_str("SeriesDescription")
    try:
        from pydicom.charset import convert_encodings, decode_bytes

        cs = raw.get(0x00080005)
        names = ["ISO_IR 6"]
        if cs is not None and isinstance(cs.value, bytes | bytearray) and cs.value.strip():
            names = [x.strip() for x in cs.value.decode("ascii", "replace").split("\\")]
        return str(decode_bytes(bytes(elem.value), convert_encodings(names), set())).strip(" \x00")
    except Exception:
        return r.get_str("SeriesDescription")


class _Parsed:
    """What the fast path hands on: raw elements (``_dict``) and the file's encoding."""

    def __init__(self, raw: dict[int, Any], media_sop: str, tsyntax: str) -> None:
        self._dict = raw
        self.media_sop = media_sop
        self.tsyntax = tsyntax


def _fast_parse(fp: Any) -> _Parsed | None:
    """Parse a Part 10 file (preamble present) with pydicom's element generator directly.

    No Dataset is built and no value converted: the file meta group is read until its last element,
    then the dataset with ``specific_tags`` until Pixel Data (the file is left positioned at the
    Pixel Data element, as dcmread does). Returns None for anything unusual (the caller falls back
    to :func:`pydicom.dcmread`).
    """
    from pydicom.filereader import data_element_generator

    fp.seek(132)
    meta: dict[int, Any] = {}
    for elem in data_element_generator(
        fp, False, True, stop_when=lambda tag, vr, length: tag >> 16 != 0x0002
    ):
        meta[int(elem.tag)] = elem
    ts_elem = meta.get(0x00020010)
    if ts_elem is None or not isinstance(ts_elem.value, bytes):
        return None
    tsyntax = ts_elem.value.decode("ascii", "replace").strip(" \x00")
    sop_elem = meta.get(0x00020002)
    media_sop = (
        sop_elem.value.decode("ascii", "replace").strip(" \x00")
        if sop_elem is not None and isinstance(sop_elem.value, bytes)
        else ""
    )
    if tsyntax == "1.2.840.10008.1.2.1.99" or media_sop == DICOMDIR_SOP_CLASS:
        return _Parsed({}, media_sop, tsyntax)
    implicit = tsyntax == "1.2.840.10008.1.2"
    little = tsyntax != "1.2.840.10008.1.2.2"
    start = fp.tell()
    head = fp.read(6)
    fp.seek(start)
    if len(head) == 6 and not implicit and not head[4:6].isalpha():
        return None  # says explicit VR but is not: let pydicom's heuristics decide
    raw: dict[int, Any] = {}
    for elem in data_element_generator(
        fp,
        implicit,
        little,
        stop_when=lambda tag, vr, length: tag in (0x7FE00010, 0x7FE00008, 0x7FE00009),
        specific_tags=HEADER_TAGS,
    ):
        raw[int(elem.tag)] = elem
    return _Parsed(raw, media_sop, tsyntax)


class _Unusual(Exception):
    """The minimal walker met something it does not handle: use pydicom's reader instead."""


_SHORT_VRS = frozenset(
    x.encode() for x in "AE AS AT CS DA DS DT FD FL IS LO LT PN SH SL SS ST TM UI UL US".split()
)
_WANTED = frozenset(_TAG.values()) | {0x00080005} | _EXTRA_TAGS
#: Wanted values captured only up to MAX_PRIVATE_BYTES (larger ones are skipped, not read).
_BOUNDED = frozenset(CSA_TAGS)
#: Wanted tags that are sequences: their items are parsed by pydicom (multi-frame files).
_WANTED_SQ = frozenset(
    {
        _TAG["SharedFunctionalGroupsSequence"],
        _TAG["PerFrameFunctionalGroupsSequence"],
        _TAG["DimensionIndexSequence"],
    }
)
_STOP = frozenset(_PIXEL_TAGS)
_WINDOW = 4096


class _RawValue:
    """Raw value of one element, the two attributes :class:`_Reader` uses of pydicom's."""

    __slots__ = ("is_little_endian", "value")

    def __init__(self, value: bytes, is_little_endian: bool) -> None:
        self.value = value
        self.is_little_endian = is_little_endian


class _Window:
    """Bytes of a file around a position, re-read on demand (skipped values are never read)."""

    __slots__ = ("base", "buf", "fd", "size")

    def __init__(self, fd: int, size: int, base: int, buf: bytes) -> None:
        self.fd = fd
        self.size = size
        self.base = base
        self.buf = buf

    def get(self, pos: int, n: int) -> bytes:
        """``n`` bytes at ``pos`` (fewer at the end of the file)."""
        off = pos - self.base
        if off < 0 or off + n > len(self.buf):
            # Never more than the file holds, whatever a length field claims.
            self.base = pos
            self.buf = os.pread(self.fd, max(0, min(max(n, _WINDOW), self.size - pos)), pos)
            off = 0
        return self.buf[off : off + n]


def _skip_sequence(w: _Window, pos: int, implicit: bool, endian: str, depth: int) -> int:
    """Position after an undefined-length sequence whose first item starts at ``pos``."""
    if depth > 16:
        raise _Unusual("sequences nested too deep")
    item = struct.Struct(endian + "HHL")
    while True:
        head = w.get(pos, 8)
        if len(head) < 8:
            raise _Unusual("end of file inside a sequence")
        group, elem, length = item.unpack(head)
        tag = group << 16 | elem
        pos += 8
        if tag == 0xFFFEE0DD:
            return pos
        if tag != 0xFFFEE000:
            raise _Unusual(f"unexpected tag {tag:08X} in a sequence")
        if length != 0xFFFFFFFF:
            pos += length
            continue
        pos = _walk(w, pos, implicit, endian, None, depth + 1)


_EXPLICIT_HEAD = {e: struct.Struct(e + "HH2sH") for e in "<>"}
_IMPLICIT_HEAD = {e: struct.Struct(e + "HHL") for e in "<>"}
_LONG_LENGTH = {e: struct.Struct(e + "L") for e in "<>"}


def _walk(
    w: _Window,
    pos: int,
    implicit: bool,
    endian: str,
    out: dict[int, Any] | None,
    depth: int = 0,
) -> int:
    """Walk data elements from ``pos``; collect wanted raw values into ``out`` (top level only).

    Top level (``out`` given): stops at a Pixel Data element (returns its position) or at the end
    of the file (returns -1). In a sequence item (``out`` None): stops after the item delimiter
    and returns the position after it. Raises :class:`_Unusual` for anything pydicom would
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
            head = w.get(pos, 12)
            buf, base = w.buf, w.base
            nbuf = len(buf)
            off = pos - base
            if len(head) < 8:
                if top and not head:
                    return -1
                raise _Unusual("end of file inside an element header")
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
                    raise _Unusual("end of file inside an element header")
                (length,) = long_len.unpack_from(buf, off + 8)
                hlen = 12
            else:
                raise _Unusual(f"VR {vr!r}")
        tag = group << 16 | elem
        if group == 0xFFFE:
            if not top and tag == 0xFFFEE00D:
                return pos + 8
            raise _Unusual(f"item tag {tag:08X} outside a sequence")
        if top and tag in stop:
            return pos
        vpos = pos + hlen
        if length == 0xFFFFFFFF:
            if top and tag in wanted:
                raise _Unusual("wanted element of undefined length")
            if implicit:
                nxt = w.get(vpos, 8)
                first = struct.unpack(endian + "HH", nxt[:4]) if len(nxt) >= 8 else None
                if first == (0xFFFE, 0xE0DD):
                    pos = vpos + 8  # empty sequence
                    buf, base = w.buf, w.base
                    nbuf = len(buf)
                    continue
                if first != (0xFFFE, 0xE000):
                    raise _Unusual("undefined-length value that is not a sequence")
            elif vr != b"SQ":
                raise _Unusual(f"undefined-length {vr!r}")
            pos = _skip_sequence(w, vpos, implicit, endian, depth)
            buf, base = w.buf, w.base
            nbuf = len(buf)
            continue
        if top and tag in wanted and (length <= MAX_PRIVATE_BYTES or tag not in _BOUNDED):
            if tag in _WANTED_SQ:
                raise _Unusual("functional groups (parsed by pydicom)")
            voff = vpos - base
            if voff + length <= nbuf:
                value = buf[voff : voff + length]
            else:
                value = w.get(vpos, length)
                buf, base = w.buf, w.base
                nbuf = len(buf)
                if len(value) < length:
                    raise _Unusual("wanted value truncated")
            assert out is not None
            out[tag] = _RawValue(value, little)
        pos = vpos + length


def _walk_file(fd: int, size: int, first: bytes | None = None) -> tuple[_Parsed, int, bytes] | None:
    """Minimal element walker for a Part 10 file: (parsed, pixel element position, its 12 bytes).

    Reads only the header bytes (skipped values are jumped over); returns None when the file needs
    pydicom's interpretation (see :class:`_Unusual`). The position is -1 when there is no Pixel Data.
    """
    w = _Window(fd, size, 0, os.pread(fd, _WINDOW, 0) if first is None else first)
    meta: dict[int, Any] = {}
    pos = 132
    mhead = struct.Struct("<HH2sH")
    while True:
        head = w.get(pos, 12)
        if len(head) < 8:
            return None
        group, elem, vr, length = mhead.unpack_from(head)
        if group != 0x0002:
            break
        if vr in _LONG_VRS:
            (length,) = struct.unpack_from("<L", head, 8)
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
    if tsyntax == "1.2.840.10008.1.2.1.99" or media_sop == DICOMDIR_SOP_CLASS:
        return _Parsed({}, media_sop, tsyntax), -1, b""
    if not tsyntax.startswith("1.2.840.10008.1.2"):
        return None  # private or unknown syntax: let pydicom decide the encoding
    implicit = tsyntax == "1.2.840.10008.1.2"
    endian = ">" if tsyntax == "1.2.840.10008.1.2.2" else "<"
    head = w.get(pos, 6)
    if len(head) == 6 and not implicit and not head[4:6].isalpha():
        return None  # says explicit VR but is not: let pydicom's heuristics decide
    if implicit and len(head) == 6 and head[4:6].isalpha() and head[4:6].isupper():
        return None  # says implicit VR but looks explicit: let pydicom's heuristics decide
    raw: dict[int, Any] = {}
    try:
        at = _walk(w, pos, implicit, endian, raw)
    except _Unusual:
        return None
    elem_head = w.get(at, 12) if at >= 0 else b""
    return _Parsed(raw, media_sop, tsyntax), at, elem_head


#: Use the minimal element walker (tests switch it off to compare with pydicom's reader).
USE_WALKER = hasattr(os, "pread")


def _plausible_headerless(head: bytes) -> bool:
    """A file without the 128-byte preamble and 'DICM': does it start like a DICOM dataset?

    Accept only a first element in group 0x0002 or 0x0008 with a sane element number and either an
    explicit VR (two capital letters) or an implicit-VR length that fits the file.
    """
    if len(head) < 8:
        return False
    for endian in "<>":
        group, elem = struct.unpack(f"{endian}HH", head[:4])
        if group not in (0x0002, 0x0008) or elem > 0x0100:
            continue
        vr = head[4:6]
        if vr.isalpha() and vr.isupper():
            return True
        (length,) = struct.unpack(f"{endian}L", head[4:8])
        if length < 1024:
            return True
    return False


def read_header(path: str) -> FrameRecord | list[FrameRecord] | tuple[str, str]:
    """Header record of ``path`` or, for a file that is not a readable image, ``(reason, series_uid)``.

    ``series_uid`` is the SeriesInstanceUID when the header got that far (so the series can be
    flagged incomplete), else ``""``.

    Reads the file up to (not into) its Pixel Data; never uses ``force=True`` on a file that does not
    start like a DICOM dataset.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        return (f"cannot stat: {exc}", "")
    if not stat.S_ISREG(st.st_mode):  # replaced by a FIFO/socket/device since the listing
        return ("not a regular file (a FIFO, socket or device)", "")
    if st.st_size == 0:
        return ("empty file", "")
    walked: tuple[_Parsed, int, bytes] | None = None
    if USE_WALKER:
        try:
            fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            return (f"cannot read: {exc}", "")
        try:
            first = os.pread(fd, _WINDOW, 0)
            if first[128:132] == b"DICM":
                walked = _walk_file(fd, int(st.st_size), first)
        except Exception:  # anything odd: pydicom's reader below is the authority
            walked = None
        finally:
            os.close(fd)
    if walked is not None:
        parsed, pos, elem_head = walked
        return _record(path, st, parsed, None, pos, elem_head)
    got = _read_with_pydicom(path)
    if len(got) == 2:
        return got  # type: ignore[no-any-return]
    parsed_, ds, pos, elem_head = got
    return _record(path, st, parsed_, ds, pos, elem_head)


def _gzipped_dicom(path: str) -> bool:
    """A gzip file whose first decompressed bytes look like a DICOM file (reads <= 64 KiB)."""
    import gzip
    import zlib

    try:
        with gzip.open(path, "rb") as gz:
            head = gz.read(132)
    except (OSError, EOFError, zlib.error):
        return False
    return head[128:132] == b"DICM" or _plausible_headerless(head)


def _read_with_pydicom(path: str) -> Any:
    """Parse with pydicom (elements generator, else dcmread): (parsed, ds, pos, elem_head) or a skip."""
    ds: Any = None
    try:
        # O_NONBLOCK: a path that became a FIFO since it was listed cannot block the scan.
        with os.fdopen(
            os.open(path, os.O_RDONLY | _O_NONBLOCK | getattr(os, "O_BINARY", 0)), "rb"
        ) as fp:
            head = fp.read(132)
            has_preamble = head[128:132] == b"DICM"
            if not has_preamble and head[:2] == b"\x1f\x8b" and _gzipped_dicom(path):
                return (
                    "gzip-compressed DICOM file: lazyvol reads pixels in place and does not "
                    "inflate files; decompress it first (gunzip)",
                    "",
                )
            if not has_preamble and not _plausible_headerless(head):
                return ("not a DICOM file (no 'DICM' marker and no plausible dataset start)", "")
            parsed: _Parsed | None = None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if has_preamble:
                    try:
                        parsed = _fast_parse(fp)
                    except Exception:
                        parsed = None
                if parsed is None:
                    fp.seek(0)
                    try:
                        ds = dcmread(
                            fp,
                            stop_before_pixels=True,
                            specific_tags=HEADER_TAGS,
                            force=not has_preamble,
                        )
                    except (InvalidDicomError, EOFError, struct.error, ValueError, KeyError) as exc:
                        return (f"unreadable DICOM header: {exc}", "")
                    except Exception as exc:  # pydicom raises many types on corrupt headers
                        return (f"unreadable DICOM header ({type(exc).__name__}): {exc}", "")
            pos = fp.tell()
            elem_head = fp.read(12)
    except OSError as exc:
        return (f"cannot read: {exc}", "")
    return parsed, ds, pos, elem_head


def _record(
    path: str, st: os.stat_result, parsed: _Parsed | None, ds: Any, pos: int, elem_head: bytes
) -> FrameRecord | list[FrameRecord] | tuple[str, str]:
    """The record (or skip reason) from parsed header elements and the Pixel Data element head."""
    if parsed is not None:
        media_sop, tsyntax = parsed.media_sop, parsed.tsyntax
        implicit = tsyntax == "1.2.840.10008.1.2"
        little = tsyntax != "1.2.840.10008.1.2.2"
        raw = parsed._dict
        source: Any = parsed
    else:
        meta = getattr(ds, "file_meta", None)
        media_sop = str(getattr(meta, "MediaStorageSOPClassUID", "") or "") if meta else ""
        enc_implicit, enc_little = ds.original_encoding
        implicit = True if enc_implicit is None else bool(enc_implicit)
        little = True if enc_little is None else bool(enc_little)
        tsyntax = str(getattr(meta, "TransferSyntaxUID", "") or "") if meta else ""
        if not tsyntax:
            tsyntax = (
                "1.2.840.10008.1.2"
                if implicit
                else ("1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2")
            )
        raw = {int(t): e for t, e in ds._dict.items()}
        source = ds
    if media_sop == DICOMDIR_SOP_CLASS or os.path.basename(path).upper() == "DICOMDIR":
        return ("DICOMDIR (a media directory, not an image)", "")

    if tsyntax == "1.2.840.10008.1.2.1.99":
        return (
            "Deflated Explicit VR Little Endian (1.2.840.10008.1.2.1.99) is not supported: its "
            "pixels have no byte offset in the file; inflate it first (e.g. `dcmconv +te`)",
            "",
        )
    r = _Reader(source)
    sop_class = r.get_str("SOPClassUID") or media_sop
    pixel_offset = -1
    pixel_length = -1
    pixel_vr = ""
    if len(elem_head) >= 8:
        endian = "<" if little else ">"
        group, element = struct.unpack(f"{endian}HH", elem_head[:4])
        tag = group << 16 | element
        if tag in _PIXEL_TAGS:
            vr_bytes = elem_head[4:6]
            if not implicit and vr_bytes.isalpha():
                pixel_vr = vr_bytes.decode("ascii")
                if vr_bytes in _LONG_VRS:
                    if len(elem_head) < 12:
                        return ("truncated inside the Pixel Data (7FE0,0010) element header", "")
                    (length,) = struct.unpack(f"{endian}L", elem_head[8:12])
                    pixel_offset = pos + 12
                else:
                    (length,) = struct.unpack(f"{endian}H", elem_head[6:8])
                    pixel_offset = pos + 8
            else:
                pixel_vr = "OW" if tag == 0x7FE00010 else {0x7FE00008: "OF", 0x7FE00009: "OD"}[tag]
                (length,) = struct.unpack(f"{endian}L", elem_head[4:8])
                pixel_offset = pos + 8
            pixel_length = -1 if length == 0xFFFFFFFF else int(length)
            if tag != 0x7FE00010:
                pixel_vr = {0x7FE00008: "OF", 0x7FE00009: "OD"}[tag]
    if pixel_offset < 0:
        name = UID(sop_class).name if sop_class else "unknown SOP class"
        missing = [k for k in ("Rows", "Columns", "BitsAllocated") if k not in r]
        if "Image" in name and missing:
            # An image SOP class whose file ends before its image attributes: cut in its header.
            names = ", ".join(f"{k} {_tag_str(k)}" for k in missing)
            reason = (
                f"{name} file truncated: required attributes missing ({names}, "
                "Pixel Data (7FE0,0010))"
            )
        elif "Image" in name:
            reason = f"{name} file without Pixel Data (7FE0,0010): truncated?"
        else:
            reason = f"no Pixel Data (7FE0,0010): not an image ({name})"
        return (reason, r.get_str("SeriesInstanceUID"))
    if sop_class in NOT_PLAIN_STACKS:
        return (
            f"{NOT_PLAIN_STACKS[sop_class]} is not a plain image stack; lazyvol does not read "
            "it as a volume",
            "",
        )

    rec = FrameRecord(
        path=path,
        size=int(st.st_size),
        mtime_ns=int(st.st_mtime_ns),
        transfer_syntax=tsyntax,
        sop_class_uid=sop_class,
        sop_instance_uid=r.get_str("SOPInstanceUID"),
        study_uid=r.get_str("StudyInstanceUID"),
        series_uid=r.get_str("SeriesInstanceUID"),
        series_number=r.get_int("SeriesNumber"),
        series_description=_description(raw, r),
        modality=r.get_str("Modality"),
        instance_number=r.get_int("InstanceNumber"),
        acquisition_number=r.get_int("AcquisitionNumber"),
        image_type=r.get_strs("ImageType"),
        rows=r.get_int("Rows") or 0,
        columns=r.get_int("Columns") or 0,
        samples_per_pixel=r.get_int("SamplesPerPixel") or 1,
        photometric=r.get_str("PhotometricInterpretation"),
        bits_allocated=r.get_int("BitsAllocated") or 0,
        bits_stored=r.get_int("BitsStored") or 0,
        high_bit=r.get_int("HighBit") or 0,
        pixel_representation=r.get_int("PixelRepresentation") or 0,
        number_of_frames=1,
        ipp=r.get_floats("ImagePositionPatient", 3),
        iop=r.get_floats("ImageOrientationPatient", 6),
        pixel_spacing=r.get_floats("PixelSpacing", 2),
        slice_thickness=r.get_float("SliceThickness"),
        spacing_between_slices=r.get_float("SpacingBetweenSlices"),
        rescale_slope=1.0,
        rescale_intercept=0.0,
        temporal_position=r.get_int("TemporalPositionIdentifier"),
        trigger_time=r.get_float("TriggerTime"),
        echo_time=r.get_float("EchoTime"),
        echo_number=r.get_int("EchoNumbers"),
        acquisition_time=r.get_str("AcquisitionTime") or None,
        frame_of_reference_uid=r.get_str("FrameOfReferenceUID"),
        pixel_offset=pixel_offset,
        pixel_length=pixel_length,
        pixel_vr=pixel_vr,
        inode=int(st.st_ino),
        ctime_ns=int(st.st_ctime_ns),
    )
    if "NumberOfFrames" in r:
        nf = r.get_int("NumberOfFrames")
        rec.number_of_frames = nf if nf is not None else -1
    slope = r.get_float("RescaleSlope")
    inter = r.get_float("RescaleIntercept")
    rec.rescale_slope = 1.0 if slope is None else slope
    rec.rescale_intercept = 0.0 if inter is None else inter
    rec.manufacturer = r.get_str("Manufacturer")
    rec.complex_component = r.get_str("ComplexImageComponent") or read_ge_image_kind(
        r, rec.manufacturer
    )
    rec.b_value, rec.gradient, rec.diffusion_source = read_diffusion(r, rec.manufacturer)
    rec.philips_scale_slope = read_philips_scale_slope(r, rec.manufacturer)
    rec.bad_attributes = r.bad or None
    missing = [k for k in ("Rows", "Columns", "BitsAllocated") if k not in r]
    if missing:
        names = ", ".join(f"{k} {_tag_str(k)}" for k in missing)
        reason = f"image attributes missing ({names}): header truncated or not an image"
        return (reason, rec.series_uid)
    from . import bids, mosaic

    csa = mosaic.csa_image_header(raw) if mosaic.wants_csa(rec, raw) else None
    rec.acq = bids.record_values(raw, csa) or None
    if mosaic.is_mosaic(rec):
        return mosaic.expand_mosaic(rec, raw, csa)
    if rec.number_of_frames > 1 and 0x52009230 in raw:
        from .multiframe import expand_frames

        try:
            frames = expand_frames(rec, raw)
        except Exception as exc:  # malformed functional groups
            frames = f"unreadable functional groups ({type(exc).__name__}: {exc})"
        if isinstance(frames, str):
            return (f"enhanced multi-frame image: {frames}", rec.series_uid)
        return frames
    if rec.number_of_frames != 1:
        rec.frame = -1  # multi-frame without functional groups: not located frame by frame
    return rec
