"""Read one DICOM file's header up to Pixel Data and record where the pixels are.

Three readers, fastest first: the minimal element walker (:mod:`.walker`, Part 10 files with the
usual encodings), pydicom's element generator, and ``pydicom.dcmread(stop_before_pixels=True)``,
which stops with the file positioned at the start of the Pixel Data element, so the element header
is decoded (:mod:`.header_record`) to get the value's byte offset and length without reading a
single pixel byte. ``specific_tags`` limits parsing to the attributes lazyvol uses.

:func:`read_header` reads a local file; :func:`read_object_header` reads an object of a bucket
through the byte layer, starting from its first bytes fetched with the other objects' (one bounded
ranged read each) and growing the window on demand for long headers.
"""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import warnings
from typing import Any

from .._io import Location, read_into
from .._raw_reader import PositionedReader
from .._remote_errors import html_page
from ..errors import LazyvolError
from ..sources import SourceStamp
from .data_set_head import byte_order_problem, data_set_implicit, looks_explicit
from .deflated import HEADER_KEEP, HEADER_LIMIT, InflatedFile, Inflater
from .gz_copies import gzipped_reason, instance_uid
from .header_record import HeaderResult, HeaderSkip, drop_cut_values, make_record
from .header_values import DICOMDIR_SOP_CLASS, HEADER_TAGS, Parsed
from .model import (
    DAMAGED_HEADER,
    DAMAGED_REASONS,
    DEFLATED_SYNTAX,
    GZIPPED_DICOM,
    NOT_DICOM,
    PIXEL_HEAD_CUT,
    SHORT_FILE,
)
from .source import REMOTE_WINDOW, RemoteFetch, read_local
from .walker import (
    GZIP_WBITS,
    INFLATE_LIMIT,
    WINDOW,
    Fetch,
    inflate_prefix,
    walk_file,
    walk_prefix,
)

#: A skip's reason for an HTML page where a DICOM file should be.
HTML_PAGE = (
    "an HTML page (an error or sign-in page a server sent with status 200 in its place, or one "
    "saved under its name); check the URL and the credentials it needs"
)

__all__ = ["HEADER_TAGS", "HeaderResult", "HeaderSkip", "read_header", "read_object_header"]

#: Opening a path that became a FIFO since it was listed returns at once instead of blocking.
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_FLAGS = os.O_RDONLY | _O_NONBLOCK | getattr(os, "O_BINARY", 0)
#: The walker reads with os.pread (absent on Windows: pydicom's reader is used there).
_HAVE_PREAD = hasattr(os, "pread")


def _file_meta(fp: Any, at: int) -> tuple[str, str] | None:
    """``(transfer syntax, media storage SOP class)`` of the file meta group at ``at``, read by
    pydicom's own file meta reader (the one ``dcmread`` uses, so the same syntax decides), which
    stops at the group's end; None when the file has no meta group (a bare data set).

    Raises what pydicom raises on a damaged group.
    """
    from pydicom.filereader import _read_file_meta_info

    fp.seek(at)
    meta = _read_file_meta_info(fp)
    if not meta._dict:
        fp.seek(at)
        return None
    tsyntax = str(meta.get("TransferSyntaxUID", "") or "").strip(" \x00")
    media_sop = str(meta.get("MediaStorageSOPClassUID", "") or "").strip(" \x00")
    return tsyntax, media_sop


def _fast_parse(fp: Any, tsyntax: str, media_sop: str) -> Parsed | None:
    """Parse a Part 10 data set (``fp`` at its start, after the file meta) with pydicom's element
    generator directly.

    No Dataset is built and no value converted: the data set is read with ``specific_tags`` until
    Pixel Data (the file is left positioned at the Pixel Data element, as dcmread does), in the
    encoding its first element shows (as dcmread reads it). Returns None for anything unusual (the
    caller falls back to :func:`pydicom.dcmread`).
    """
    from pydicom.filereader import data_element_generator

    if not tsyntax:
        return None
    if media_sop == DICOMDIR_SOP_CLASS:
        return Parsed({}, media_sop, tsyntax)
    little = tsyntax != "1.2.840.10008.1.2.2"
    start = fp.tell()
    implicit = data_set_implicit(tsyntax == "1.2.840.10008.1.2", fp.read(6))
    fp.seek(start)
    raw: dict[int, Any] = {}
    repeated: list[int] = []
    for elem in data_element_generator(
        fp,
        implicit,
        little,
        stop_when=lambda tag, vr, length: tag in (0x7FE00010, 0x7FE00008, 0x7FE00009),
        specific_tags=HEADER_TAGS,
    ):
        tag = int(elem.tag)
        if tag in raw and raw[tag].value != elem.value:
            repeated.append(tag)  # (the same value twice is not ambiguous)
        raw[tag] = elem
    return Parsed(raw, media_sop, tsyntax, tuple(sorted(set(repeated))), implicit=implicit)


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
        if looks_explicit(head[4:6]):
            return True
        (length,) = struct.unpack(f"{endian}L", head[4:8])
        if length < 1024:
            return True
    return False


def read_header(path: str, *, walker: bool = True) -> HeaderResult:
    """Header record(s) of the local file ``path``, or a :class:`HeaderSkip` saying why it is not a
    readable image.

    Reads the file up to (not into) its Pixel Data; never uses ``force=True`` on a file that does
    not start like a DICOM dataset. ``walker=False`` skips the minimal element walker (pydicom's
    readers only; the two give the same records).
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        return HeaderSkip(f"cannot stat: {exc}")
    if not stat.S_ISREG(st.st_mode):  # replaced by a FIFO/socket/device since the listing
        return HeaderSkip("not a regular file (a FIFO, socket or device)")
    if st.st_size == 0:
        return HeaderSkip("empty file")
    ident = SourceStamp.from_stat(path, st)
    walked: tuple[Parsed, int, bytes] | None = None
    partial: dict[int, Any] = {}
    first = b""
    if walker and _HAVE_PREAD:
        try:
            fd = os.open(path, _O_FLAGS)
        except OSError as exc:
            return HeaderSkip(f"cannot read: {exc}")
        try:
            first = os.pread(fd, WINDOW, 0)
            if first[128:132] == b"DICM":
                walked = walk_file(
                    lambda pos, n: os.pread(fd, n, pos), int(st.st_size), first, partial=partial
                )
        except Exception:  # anything odd: pydicom's reader below is the authority
            walked = None
        finally:
            os.close(fd)
    if walked is not None:
        parsed, pos, elem_head = walked
        record = make_record(path, ident, parsed, None, pos, elem_head, read_local)
        return _damaged_named(record, None, first)
    try:
        # O_NONBLOCK: a path that became a FIFO since it was listed cannot block the scan.
        with os.fdopen(os.open(path, _O_FLAGS), "rb") as fp:
            got = _read_with_pydicom(fp)
            if not first:  # (for the SeriesInstanceUID of a damaged header: _with_series)
                fp.seek(0)
                first = fp.read(WINDOW)
    except OSError as exc:
        return HeaderSkip(f"cannot read: {exc}")
    if isinstance(got, HeaderSkip):
        return _with_series(got, partial, first)
    return _damaged_named(_record_from_pydicom(path, ident, got, read_local), got[1], first)


def _with_series(skip: HeaderSkip, partial: dict[int, Any], first: bytes = b"") -> HeaderSkip:
    """``skip`` naming the SeriesInstanceUID the walker read before the header turned unreadable
    (a damaged private sequence past group 0020): its series is then flagged incomplete, where an
    end slice dropped this way left a series one slice short without a word. A damaged header the
    walker stopped in before group 0020 (a wrong element length or group length in the file
    meta, a transfer syntax that does not match the data set) names it by the raw search of
    :func:`_raw_series_uid` in its ``first`` bytes."""
    if skip.series_uid:
        return skip
    uid = ""
    if 0x0020000E in partial:
        value = getattr(partial[0x0020000E], "value", b"")
        uid = bytes(value).decode("ascii", "replace").strip(" \x00") if value else ""
    if not uid and skip.reason.startswith(DAMAGED_REASONS):
        uid = _raw_series_uid(first)
    return HeaderSkip(skip.reason, uid, skip.unsupported) if uid else skip


def _damaged_named(result: HeaderResult, ds: Any, first: bytes) -> HeaderResult:
    """A skip of a header pydicom parsed but lazyvol could not read (:func:`_record_from_pydicom`)
    naming the SeriesInstanceUID the data set holds (or the raw search finds)."""
    if (
        not isinstance(result, HeaderSkip)
        or result.series_uid
        or not result.reason.startswith(DAMAGED_REASONS)
    ):
        return result
    uid = ""
    try:
        elem = ds._dict.get(0x0020000E) if ds is not None else None
        value = getattr(elem, "value", None)
        uid = (value if isinstance(value, str) else bytes(value or b"").decode("ascii")).strip(
            " \x00"
        )
    except Exception:  # (a raw element pydicom cannot convert either)
        uid = ""
    if not _UID.fullmatch(uid):
        uid = _raw_series_uid(first)
    return HeaderSkip(result.reason, uid, result.unsupported) if uid else result


#: A UID: digits and dots, at most 64 characters.
_UID = re.compile(r"[0-9]+(?:\.[0-9]+)+")
#: SeriesInstanceUID (0020,000E) as explicit VR little endian, big endian, and implicit VR
#: little endian write its tag, VR and length.
_SERIES_UID_TAGS = (
    (b"\x20\x00\x0e\x00UI", "<H"),
    (b"\x00\x20\x00\x0eUI", ">H"),
    (b"\x20\x00\x0e\x00", "<I"),
)


def _raw_series_uid(first: bytes) -> str:
    """The SeriesInstanceUID a damaged header's first bytes hold, found by its tag alone: a UID
    value (digits and dots, at most 64 characters) right after the tag and a length that fits
    it; "" when none is found or two different ones are."""
    found: set[str] = set()
    for tag, fmt in _SERIES_UID_TAGS:
        at = first.find(tag)
        while at >= 0 and len(found) < 2:
            head = at + len(tag)
            size = struct.calcsize(fmt)
            if head + size <= len(first):
                (length,) = struct.unpack_from(fmt, first, head)
                value = first[head + size : head + size + length]
                if 0 < length <= 64 and len(value) == length:
                    text = value.decode("ascii", "replace").rstrip(" \x00")
                    if _UID.fullmatch(text):
                        found.add(text)
            at = first.find(tag, at + 1)
    return found.pop() if len(found) == 1 else ""


def read_object_header(
    ident: SourceStamp, url: str, first: bytes, fetch: RemoteFetch, *, walker: bool = True
) -> HeaderResult:
    """Header record(s) of the object ``url`` (of stamp ``ident``) whose first bytes are ``first``.

    The walker continues past ``first`` with ranged reads of at least
    :data:`~lazyvol.dicom.source.REMOTE_WINDOW` bytes (a long header costs a few more requests);
    files the walker does not handle are parsed by pydicom from a buffered ranged-read file.
    """
    size = int(ident.size)
    if size == 0:
        return HeaderSkip("empty object")
    loc = fetch.location(url)
    walked: tuple[Parsed, int, bytes] | None = None
    partial: dict[int, Any] = {}
    if walker and first[128:132] == b"DICM":
        try:
            walked = walk_file(
                lambda pos, n: fetch(url, pos, n, size),
                size,
                first,
                chunk=REMOTE_WINDOW,
                partial=partial,
            )
        except LazyvolError:
            raise  # a remote read failed or met another version: a typed error, not a skip
        except Exception:  # anything odd: pydicom's reader below is the authority
            walked = None
    if walked is not None:
        parsed, pos, elem_head = walked
        return _damaged_named(
            make_record(url, ident, parsed, None, pos, elem_head, fetch), None, first
        )
    raw = _RangeFile(loc, ident, first)
    with io.BufferedReader(raw, buffer_size=REMOTE_WINDOW) as fp:
        got = _read_with_pydicom(fp)
    if isinstance(got, HeaderSkip):
        return _with_series(got, partial, first)
    return _damaged_named(_record_from_pydicom(url, ident, got, fetch), got[1], first)


def _record_from_pydicom(
    path: str, ident: SourceStamp, got: tuple[Parsed | None, Any, int, bytes], fetch: Any
) -> HeaderResult:
    """:func:`make_record` for a header pydicom parsed.

    pydicom converts values lazily: a corrupt element (an unknown VR, a value that does not
    decode) raises, with any exception type, only when the record reads it. The file is then
    skipped with the reason, as when ``dcmread`` itself fails on it; a typed lazyvol error (a
    remote read that failed) still propagates.
    """
    parsed, ds, pos, elem_head = got
    try:
        cut = drop_cut_values(parsed._dict if parsed is not None else ds._dict)
        return make_record(path, ident, parsed, ds, pos, elem_head, fetch, cut)
    except LazyvolError:
        raise
    except Exception as exc:  # pydicom raises many types on corrupt values
        return HeaderSkip(f"{DAMAGED_HEADER} ({type(exc).__name__}): {exc}")


class _RangeFile(PositionedReader):
    """A read-only, seekable file over an object: ranged reads through the byte layer."""

    def __init__(self, loc: Location, stamp: SourceStamp, first: bytes) -> None:
        super().__init__()
        self._loc = loc
        self._stamp = stamp
        self._size = stamp.size
        self._first = first
        self.name = loc.display  # pydicom names the dataset's file by it (no credentials)

    def end(self) -> int:
        return self._size

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = max(0, min(view.nbytes, self._size - self.pos))
        if n == 0:
            return 0
        if self.pos + n <= len(self._first):
            view[:n] = self._first[self.pos : self.pos + n]
        else:
            read_into(self._loc, self.pos, view[:n], expect=self._stamp)
        self.pos += n
        return n


def _fp_fetch(fp: Any) -> Fetch:
    """``fetch(offset, n)`` over the open file ``fp`` (the walker's byte source)."""

    def fetch(pos: int, n: int) -> bytes:
        fp.seek(pos)
        return bytes(fp.read(n))

    return fetch


def _gzipped_dicom(fp: Any) -> HeaderSkip | None:
    """The skip of a gzip file whose first inflated bytes look like a DICOM file, naming the
    SeriesInstanceUID read from its bounded inflated start (so its series is flagged incomplete,
    see :func:`~lazyvol.dicom.walker.walk_prefix`); None when it is not such a file.

    A gzip file that is not DICOM (a ``.nii.gz`` beside the series) costs the inflate of its first
    bytes only."""
    size = fp.seek(0, 2)
    fetch = _fp_fetch(fp)
    head = inflate_prefix(fetch, 0, size, GZIP_WBITS, limit=132)
    if head[128:132] != b"DICM" and not _plausible_headerless(head):
        return None
    partial = walk_prefix(inflate_prefix(fetch, 0, size, GZIP_WBITS))
    named = _with_series(HeaderSkip(gzipped_reason(instance_uid(partial))), partial)
    if named.series_uid:
        return named
    return HeaderSkip(
        f"{GZIPPED_DICOM} whose SeriesInstanceUID (0020,000E) is not in its first "
        f"{INFLATE_LIMIT // 1024} KiB inflated (the gzip stream is damaged or cut short, or the "
        "header is unusually long): it may be a slice of any series beside it. lazyvol reads "
        "pixels in place and does not inflate files; decompress it first (gunzip)"
    )


class _Bounded:
    """The open file ``fp`` of ``size`` bytes whose reads never ask for more than it holds:
    pydicom reads a value with ``fp.read(length)``, and Python's readers allocate ``length``
    bytes first (a 9 kB file whose element claimed 2 GiB allocated 2 GiB, a MemoryError under
    an address-space limit). A claim past the end then reads short, as a truncated file does."""

    def __init__(self, fp: Any, size: int) -> None:
        self._fp = fp
        self._size = size

    def read(self, n: int | None = -1) -> bytes:
        left = max(0, self._size - self._fp.tell())
        return bytes(self._fp.read(left if n is None or n < 0 else min(n, left)))

    def __getattr__(self, name: str) -> Any:  # seek, tell, name, ...
        return getattr(self._fp, name)


#: The first bytes of the archives a PACS export or a download comes in (a ZIP of a study is
#: common), and their names: such a file is skipped saying what it is and what to do.
_ARCHIVES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "ZIP"),
    (b"PK\x05\x06", "ZIP"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "RAR"),
)  # (not one compressed stream, bzip2, xz or zstd: that may be a NIfTI, x.nii.bz2)


def _read_with_pydicom(fp: Any) -> tuple[Parsed | None, Any, int, bytes] | HeaderSkip:
    """Parse the open file ``fp`` with pydicom (element generator, else dcmread):
    ``(parsed, ds, pixel element position, its first 12 bytes)`` or a skip.

    A file that is plainly not DICOM (a README, a JSON sidecar, a NIfTI beside the series) is
    told apart from its first bytes before pydicom is imported: importing it costs a fresh
    process 0.15-0.6 s (it brings PIL and requests), more than scanning a whole series."""
    ds: Any = None
    fp = _Bounded(fp, fp.seek(0, 2))
    fp.seek(0)
    head = fp.read(132)
    has_preamble = head[128:132] == b"DICM"
    if not has_preamble and head[:2] == b"\x1f\x8b":
        gzipped = _gzipped_dicom(fp)
        if gzipped is not None:
            return gzipped
    if not has_preamble and not _plausible_headerless(head):
        archive = next((name for magic, name in _ARCHIVES if head.startswith(magic)), None)
        if archive is not None:
            return HeaderSkip(
                f"not a DICOM file: a {archive} archive, which lazyvol does not read inside; "
                "extract it, and the DICOM files it holds are scanned"
            )
        if len(head) < 132 and b"DICM".startswith(head[128:]):  # (an emptied slice, if named so)
            return HeaderSkip(
                f"{SHORT_FILE}: under the 132 bytes of a Part 10 file's preamble and 'DICM' marker)"
            )
        if html_page(head):  # (a sign-in or error page a server sent with 200, or saved so)
            return HeaderSkip(f"not a DICOM file: {HTML_PAGE}")
        return HeaderSkip(f"{NOT_DICOM} and no plausible dataset start)")
    from pydicom import dcmread  # imported here: the walker reads the usual files without it
    from pydicom.errors import InvalidDicomError

    parsed: Parsed | None = None
    meta: tuple[str, str] | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # The file meta first, bounded: a Deflated data set is never inflated whole (dcmread
            # would, whatever it holds), whichever reader or path reads the file.
            meta = _file_meta(fp, 132 if has_preamble else 0)
            if meta is not None and meta[0] == DEFLATED_SYNTAX:
                return _deflated(fp, *meta)
            if meta is not None:
                start = fp.tell()
                wrong = byte_order_problem(meta[0], fp.read(4))
                fp.seek(start)
                if wrong:
                    return HeaderSkip(_malformed_syntax(meta[0]) or wrong)
            if has_preamble and meta is not None:
                parsed = _fast_parse(fp, *meta)
        except LazyvolError:
            raise  # a remote read failed: a typed error, not a skipped file
        except Exception:
            parsed = None  # dcmread below decides (and says why it cannot read the file)
        if parsed is None:
            fp.seek(0)
            try:
                ds = dcmread(
                    fp, stop_before_pixels=True, specific_tags=HEADER_TAGS, force=not has_preamble
                )
            except (InvalidDicomError, EOFError, struct.error, ValueError, KeyError) as exc:
                return HeaderSkip(_cut_pixel_head(fp) or f"{DAMAGED_HEADER}: {exc}")
            except LazyvolError:
                raise  # a remote read failed: a typed error, not a skipped file
            except Exception as exc:  # pydicom raises many types on corrupt headers
                found = _undefined_length_element(fp, meta, has_preamble)
                return HeaderSkip(found or f"{DAMAGED_HEADER} ({type(exc).__name__}): {exc}")
    pos = fp.tell()
    elem_head = fp.read(12)
    return parsed, ds, pos, elem_head


def _malformed_syntax(tsyntax: str) -> str:
    """Why a TransferSyntaxUID value is no UID ("" when it is one): characters other than digits
    and dots (an element length one too long takes the next element's first bytes in)."""
    if all(c.isdigit() or c == "." for c in tsyntax):
        return ""
    return (
        f"TransferSyntaxUID (0002,0010) holds {tsyntax!r}, which is not a UID (digits and dots): "
        "the file meta is malformed (an element length wrong?), so where the data set starts and "
        "how it is encoded are unknown; fix the file meta or re-export the file"
    )


def _cut_pixel_head(fp: Any) -> str:
    """:data:`PIXEL_HEAD_CUT` when the file ends inside the header of its Pixel Data element (its
    tag within the last 12 bytes, in either byte order), else ""."""
    size = fp.seek(0, 2)
    fp.seek(max(0, size - 12))
    tail = fp.read(12)
    return PIXEL_HEAD_CUT if b"\xe0\x7f\x10\x00" in tail or b"\x7f\xe0\x00\x10" in tail else ""


def _undefined_length_element(fp: Any, meta: tuple[str, str] | None, preamble: bool) -> str:
    """Why an implicit VR data set cannot be read when one of its top-level elements that is no
    sequence has an undefined length (FFFFFFFF), naming it; "" when none is found before Pixel
    Data (or the data set is not implicit VR). pydicom reads such a value as a sequence and fails
    with an error that names nothing."""
    from pydicom.datadict import dictionary_keyword, dictionary_VR

    if meta is None or not preamble:
        return ""
    fp.seek(132)
    _file_meta(fp, 132)
    start = fp.tell()
    little = meta[0] != "1.2.840.10008.1.2.2"
    if not data_set_implicit(meta[0] == "1.2.840.10008.1.2", fp.read(6)):
        return ""
    fp.seek(start)
    endian = "<" if little else ">"
    while len(head := fp.read(8)) == 8:
        group, elem, length = struct.unpack(f"{endian}HHL", head)
        tag = group << 16 | elem
        if tag == 0x7FE00010:
            return ""
        if length != 0xFFFFFFFF:
            fp.seek(length, 1)
            continue
        try:
            vr, name = dictionary_VR(tag), dictionary_keyword(tag)
        except KeyError:
            return ""  # a private element: may be a sequence
        if vr == "SQ":
            return ""  # a sequence: its items are not followed here
        return (
            f"{DAMAGED_HEADER}: {name} ({group:04X},{elem:04X}) (VR {vr}) has an undefined length "
            "(FFFFFFFF), which "
            "only a sequence may have in an implicit VR data set: the file is damaged; re-export "
            "it"
        )
    return ""


def _deflated(fp: Any, tsyntax: str, media_sop: str) -> tuple[Parsed, Any, int, bytes] | HeaderSkip:
    """:func:`_read_with_pydicom` of a Deflated file (``fp`` at its data set's start): the header
    parsed by pydicom's element reader as the data set inflates (within
    :data:`~lazyvol.dicom.deflated.HEADER_LIMIT` bytes; dcmread would inflate it whole, whatever
    it holds), the pixel element's position counted in inflated bytes."""
    start = fp.tell()
    stream = Inflater(_fp_fetch(fp), start, fp.seek(0, 2), keep=HEADER_KEEP, limit=HEADER_LIMIT)
    data = InflatedFile(stream)
    why = ""
    try:
        parsed = _fast_parse(data, tsyntax, media_sop)
        pos = data.tell()
        head = data.read(12)
    except LazyvolError:
        raise  # a remote read failed: a typed error, not a skipped file
    except Exception as exc:  # pydicom raises many types on corrupt headers
        parsed, why = None, f"{type(exc).__name__}: {exc}"
    if stream.over:
        return HeaderSkip(
            f"its Deflated data set's header is over {HEADER_LIMIT // 2**20} MiB inflated before "
            "its pixel element: not read; convert the file to an uncompressed transfer syntax "
            "(dcmconv +te)",
            unsupported=True,
        )
    if parsed is None or (len(head) < 12 and stream.damage):
        return HeaderSkip(
            f"{DAMAGED_HEADER}: its Deflated data set "
            + (f"does not inflate ({stream.damage})" if stream.damage else f"is unreadable ({why})")
        )
    parsed.inflated_from = start
    return parsed, None, pos, head
