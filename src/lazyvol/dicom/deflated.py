"""Deflated Explicit VR Little Endian (1.2.840.10008.1.2.1.99): a data set deflated whole after its
file meta (a raw deflate stream, PS3.5 A.5), read in a stream, never inflated whole.

Such a file's pixels have no byte offset in the file: its records count ``pixel_offset`` and
``pixel_length`` in bytes of the *inflated* data set (``FrameRecord.deflated`` holds where the
stream starts in the file). :class:`Inflater` inflates the stream forward from there, keeping the
bytes asked for (and ``keep`` bytes behind them) and zlib's state, nothing more: the header scan
reads the header through it and then inflates on through the pixel data, which it checks as it
checks a native file's (cut short, damaged, bytes past the image, elements after the pixels); a
pixel read (:func:`inflate_spans`, in the dask task) inflates that file's stream up to and through
the frames it reads. A data set claiming more bytes than deflate can expand the stream to (about
1032:1) is refused before anything is inflated or allocated for it.
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._raw_reader import PositionedReader
from ..errors import FormatError
from .source import Fetch

if TYPE_CHECKING:  # (a slice read of a saved scan imports no record code)
    from .records import FrameRecord

__all__ = [
    "HEADER_KEEP",
    "HEADER_LIMIT",
    "MAX_RATIO",
    "InflatedFile",
    "Inflater",
    "inflate_pixels",
    "inflate_spans",
    "inflated_part10",
    "header_dataset",
    "record_fetch",
]

#: deflate cannot compress better than about 1032:1: a data set claiming more inflated bytes
#: than its stream's size times this is lying (a damaged header, or a zip bomb).
MAX_RATIO = 1032
#: Most inflated bytes of a data set's header (up to its pixel element) read to parse it, and
#: those kept behind the bytes read (a reader going back further inflates again from the start).
HEADER_LIMIT = 64 * 2**20
HEADER_KEEP = 2 * 2**20
#: Compressed bytes read at a time, and inflated bytes made at a time (zlib's ``max_length``).
_READ = 1 << 20
_OUT = 1 << 20

#: ``read(offset, n) -> bytes``: up to ``n`` bytes of the file at ``offset``.
Read = Callable[[int, int], bytes]


class Inflater:
    """The inflated bytes of the raw deflate stream at file offset ``start`` (of a file of
    ``size`` bytes), served forward: :meth:`get` inflates up to the bytes asked for, dropping
    those more than ``keep`` bytes behind them (a request behind what is kept inflates again
    from the start). Nothing past inflated offset ``limit`` is made (``over`` says it was asked
    for); a damaged stream ends at its damage (``damage`` says why)."""

    def __init__(self, read: Read, start: int, size: int, keep: int = 0, limit: int = -1) -> None:
        self._read, self._start, self._size = read, start, size
        self._keep, self._limit = keep, limit
        self.damage = ""
        self.over = False
        self.cut = False  # (the file ended before its stream did)
        self._restart()

    def _restart(self) -> None:
        self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        self._at = self._start  # the next compressed byte to read
        self._data = b""  # compressed bytes read, not yet inflated
        self._buf = bytearray()
        self._base = 0  # inflated offset of _buf[0]
        self._done = False

    @property
    def ended(self) -> bool:
        """Whether the stream's end was inflated (a stream cut short or damaged has none)."""
        return bool(self._z.eof)

    @property
    def top(self) -> int:
        """Inflated bytes made so far."""
        return self._base + len(self._buf)

    def _more(self) -> bool:
        """Inflate the next piece (False at the end of the stream, its damage, or ``limit``)."""
        if self._done:
            return False
        if 0 <= self._limit <= self.top:
            self.over, self._done = True, True
            return False
        if not self._data:
            n = min(_READ, self._size - self._at)
            self._data = self._read(self._at, n) if n > 0 else b""
            self._at += len(self._data)
            if not self._data:  # (the file ends before the stream does: cut short)
                self.cut, self._done = True, True
                return False
        try:
            got = self._z.decompress(self._data, _OUT)
        except zlib.error as exc:
            self.damage, self._done = str(exc), True
            return False
        self._data = self._z.unconsumed_tail
        self._done = self._z.eof
        self._buf += got
        return True

    def get(self, pos: int, n: int) -> bytes:
        """``n`` inflated bytes at inflated offset ``pos`` (fewer where the stream ends)."""
        if pos < self._base:
            self._restart()
        while self.top < pos + n and self._more():
            drop = min(pos, self.top - self._keep) - self._base
            if drop > 0:
                del self._buf[:drop]
                self._base += drop
        off = pos - self._base
        return bytes(self._buf[max(0, off) : max(0, off + n)])

    def length_to(self, end: int) -> int:
        """Inflated bytes of the stream, counted up to ``end`` (``end`` when it holds more)."""
        while self.top < end and self._more():
            drop = self.top - self._keep - self._base
            if drop > 0:
                del self._buf[:drop]
                self._base += drop
        return min(self.top, end)

    def rest(self) -> tuple[int, str]:
        """(inflated bytes of the whole stream, why it has no end: "" when it ends), found by
        inflating the rest of it on a copy of zlib's state, keeping nothing it makes (memory:
        one piece); this stream's own state and bytes are left as they are."""
        if self._done:
            return self.top, "" if self.ended else (self.damage or "ends without its end")
        z, data, at, top = self._z.copy(), self._data, self._at, self.top
        while not z.eof:
            if not data:
                n = min(_READ, self._size - at)
                data = self._read(at, n) if n > 0 else b""
                at += len(data)
                if not data:
                    return top, "ends without its end"
            try:
                top += len(z.decompress(data, _OUT))
            except zlib.error as exc:
                return top, f"is damaged ({exc})"
            data = z.unconsumed_tail
        return top, ""

    def fetch(self, path: str, pos: int, n: int, size: int = -1) -> bytes:
        """:data:`~lazyvol.dicom.source.Fetch` over the inflated data set (for the scan's checks
        of the bytes its header locates)."""
        return self.get(pos, n)


class InflatedFile(PositionedReader):
    """A read-only, seekable file over the inflated header of a Deflated data set (what pydicom's
    element reader parses), within :data:`HEADER_LIMIT` bytes."""

    def __init__(self, stream: Inflater) -> None:
        super().__init__()
        self._stream = stream

    def end(self) -> int:
        self._stream.length_to(HEADER_LIMIT)  # (the end: as far as the header goes)
        return self._stream.top

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._stream.get(self.pos, view.nbytes)
        view[: len(data)] = data
        self.pos += len(data)
        return len(data)


def inflate_pixels(
    rec: FrameRecord, start: int, fetch: Fetch, beyond: int
) -> Fetch | tuple[str, bool]:
    """Check the pixel element of the Deflated data set of ``rec`` (its header read, its deflate
    stream at file offset ``start``) and record where it is (``rec.deflated``): inflated on
    through the pixel data and ``beyond`` bytes past them (for the elements after them), nothing
    kept but those. Returns the :data:`Fetch` over the inflated data set the scan's later checks
    read, or why the file is skipped (and whether for a kind lazyvol does not read): encapsulated
    pixel data, a size no deflate stream of the file's expands to, a stream cut short or damaged
    before their end."""
    if rec.pixel_length < 0:
        return (
            "encapsulated (compressed) Pixel Data (7FE0,0010) inside a Deflated Explicit VR Little "
            "Endian data set is not supported; convert the file to an uncompressed transfer syntax "
            "(gdcmconv --raw, or dcmconv +te)",
            True,
        )
    end = rec.pixel_offset + rec.pixel_length
    room = max(0, rec.size - start) * MAX_RATIO
    if end > room:
        return (
            f"truncated or lying header: its Deflated data set states {end} bytes up to the end of "
            f"its pixel element, but its deflate stream of {rec.size - start} bytes cannot inflate "
            f"to more than {room} (deflate expands at most {MAX_RATIO}:1); nothing was inflated: "
            "re-export the file, or fix its Rows/Columns/NumberOfFrames",
            False,
        )
    stream = Inflater(
        lambda pos, n: fetch(rec.path, pos, n, rec.size), start, rec.size, keep=2 * beyond
    )
    span = stream.length_to(end + beyond)
    if span < end:
        why = f"is damaged ({stream.damage})" if stream.damage else "ends"
        return (
            f"truncated: its Deflated data set {why} after {span} inflated bytes, but its pixel "
            f"element needs {end}: the file is damaged or was cut short; copy it again from its "
            "source",
            False,
        )
    if span < end + beyond and not stream.ended:  # (cut or damaged after its pixels)
        why = f"is damaged ({stream.damage})" if stream.damage else "ends without its end"
        return (
            f"truncated: its Deflated data set {why} after {span} inflated bytes, {span - end} "
            "past its pixel element: what followed the pixels is lost (an attribute stated "
            "there, a RescaleSlope, would be missed; pydicom refuses the file): the file is "
            "damaged or was cut short; copy it again from its source",
            False,
        )
    if not stream.ended:  # (the stream goes on past what the scan reads: it must end too)
        top, why = stream.rest()
        if why:
            return (
                f"truncated: its Deflated data set {why} after {top} inflated bytes, "
                f"{top - end} past its pixel element: what followed the pixels is lost (an "
                "attribute stated there would be missed; pydicom refuses the file): the file is "
                "damaged or was cut short; copy it again from its source",
                False,
            )
    rec.deflated = [start, span]
    return stream.fetch


def record_fetch(rec: FrameRecord, fetch: Fetch) -> Fetch:
    """``fetch`` for bytes of ``rec``'s file at the offsets its record holds (a value its header
    scan located, not read: a Siemens protocol): for a Deflated file, those of its inflated data
    set, where such offsets count (inflated forward from its stream's start); ``fetch`` itself
    elsewhere."""
    if not rec.deflated:
        return fetch
    stream = Inflater(lambda pos, n: fetch(rec.path, pos, n, rec.size), rec.deflated[0], rec.size)
    return stream.fetch


def _explicit_meta(meta: Any) -> bytes:
    """The file meta group ``meta`` (pydicom's) saying Explicit VR Little Endian, as bytes."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info
    from pydicom.uid import ExplicitVRLittleEndian

    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if 0x00020000 in meta:  # (its group length, of the longer UID: not written, pydicom reads on)
        del meta[0x00020000]
    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, False
    write_file_meta_info(out, meta, enforce_standard=False)
    return bytes(out.getvalue())


def inflated_part10(rec: FrameRecord, fetch: Fetch) -> bytes:
    """The Deflated file of ``rec`` as an Explicit VR Little Endian Part 10 file up to the end of
    its pixel element (what pydicom decodes to compare two copies of an image): its data set
    inflated within the span its header scan counted. pydicom's own reader inflates the whole
    data set, whatever follows the pixels."""
    from pydicom.filereader import _read_file_meta_info

    start, end = rec.deflated[0] if rec.deflated else 0, rec.pixel_offset + rec.pixel_length
    head = fetch(rec.path, 0, start, rec.size)
    meta = _read_file_meta_info(io.BytesIO(head[132:]))
    data = record_fetch(rec, fetch)(rec.path, 0, end, rec.size)
    return bytes(128) + b"DICM" + _explicit_meta(meta) + data


def header_dataset(path: str) -> Any:
    """pydicom's data set of the file ``path`` without its pixel data (``dcmread`` with
    ``stop_before_pixels``, ``force``); a Deflated data set's parsed as it inflates (within
    :data:`HEADER_LIMIT` bytes, :data:`HEADER_KEEP` kept), where ``dcmread`` inflates the whole
    data set, pixels and all, into memory."""
    import pydicom
    from pydicom.dataset import FileDataset
    from pydicom.filereader import _at_pixel_data, _read_file_meta_info, read_dataset
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    with open(path, "rb") as f:
        preamble = f.read(132)
        try:
            meta = _read_file_meta_info(f) if preamble[128:] == b"DICM" else None
        except Exception:  # (a damaged file meta: dcmread says why, or reads on with force)
            meta = None
        if meta is None or meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
            return pydicom.dcmread(path, stop_before_pixels=True, force=True)
        start, size = f.tell(), os.fstat(f.fileno()).st_size

        def read(pos: int, n: int) -> bytes:
            f.seek(pos)
            return f.read(n)

        stream = Inflater(read, start, size, keep=HEADER_KEEP, limit=HEADER_LIMIT)
        data: Any = InflatedFile(stream)  # (a binary file, as pydicom reads one)
        ds = read_dataset(data, False, True, stop_when=_at_pixel_data)
        if data.tell() >= stream.top and (stream.cut or stream.damage or stream.over):
            why = stream.damage or ("over its limit" if stream.over else "the file ends first")
            raise FormatError(
                f"{path}: its Deflated data set ends inside its header after {stream.top} "
                f"inflated bytes ({why}): the file is damaged, cut short or changed since it was "
                "scanned; copy it again from its source"
            )
    out = FileDataset(path, ds, preamble[:128], meta, False, True)
    out.set_original_encoding(False, True, ds._character_set)
    return out


def inflate_spans(
    read: Read, start: int, size: int, spans: Sequence[tuple[int, int]], where: str
) -> list[bytes]:
    """The bytes of each ``(offset, n)`` span of the inflated data set whose deflate stream starts
    at file offset ``start`` (of a file of ``size`` bytes), in one forward pass over spans in
    ascending order (memory: the spans, and zlib's state).

    Raises
    ------
    FormatError
        The stream ends or is damaged before a span's end (the file changed since its scan).
    """
    stream = Inflater(read, start, size)
    out: list[bytes] = []
    for offset, n in spans:
        data = stream.get(offset, n)
        if len(data) < n:
            why = f"is damaged ({stream.damage})" if stream.damage else "ends"
            raise FormatError(
                f"{where}: truncated: its Deflated data set {why} after {stream.top} inflated "
                f"bytes, but Pixel Data (7FE0,0010) needs {n} bytes at inflated offset {offset} "
                "(the file changed since it was scanned?)"
            )
        out.append(data)
    return out
