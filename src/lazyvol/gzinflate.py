"""Inflating a gzip stream with zlib through the byte layer, member by member: the first bytes of
a header file, how many bytes a stream holds (the size checks at open), and the one verdict on a
local stream's trailers (:func:`verify_members`) that the first passes of both gzip engines
(:mod:`lazyvol.gzaccess`) fall back on, so a damaged trailer is refused alike whichever engine
read the file.
"""

from __future__ import annotations

import zlib

from . import _io
from ._location import Location
from .errors import FormatError, LazyvolError
from .gzcheck import ChecksumError, is_checksum_failure, stream_error, trailing_error
from .sources import SourceStamp

__all__ = ["engine_error", "inflate", "verify_members"]

#: Compressed bytes fetched per read while inflating a header (one ranged request for a URL).
_HEAD_CHUNK = 64 * 2**10


#: zlib's words for a member whose trailer fails, and the field that failed.
_TRAILER_FIELDS = {
    "incorrect data check": "CRC-32",
    "incorrect length check": "uncompressed length (ISIZE, modulo 2**32)",
}


def inflate(
    loc: Location, stamp: SourceStamp, need: int, *, keep: bool, chunk: int = _HEAD_CHUNK
) -> bytes | int:
    """The first ``need`` uncompressed bytes of the gzip file ``loc`` (``keep=True``), or how many
    it holds, counted up to ``need`` (``keep=False``), streaming in bounded memory.

    Every member in turn, as gzip and nibabel read them; trailing bytes after the last member are
    ignored. Compressed bytes come through the byte layer, ``chunk`` at a time, each read checked
    against ``stamp`` (the file's identity at open: its size bounds the stream).

    Raises
    ------
    FormatError
        The stream is corrupt (the message gives how far it got), or ends inside a member before
        ``need`` bytes (the file is truncated); a :class:`~lazyvol.gzcheck.ChecksumError` when a
        member inflates but fails its trailer's CRC-32 or length.
    """
    size = stamp.size
    got = 0
    parts: list[bytes] = []
    d = zlib.decompressobj(31)
    pos = 0
    pending = b""
    step = min(chunk, 4096)
    start = at_start = 0  # where the member being read starts (compressed; uncompressed bytes)
    while got < need:
        data = pending
        pending = b""
        if not data:
            if pos >= size:
                break
            data = _io.read(loc, pos, min(step, size - pos), expect=stamp)
            pos += len(data)
            step = min(chunk, step * 2)  # small first (a header), growing for a long stream
        try:
            out = d.decompress(data, max(1, min(need - got, 2**24)) if keep else 2**24)
            while True:
                got += len(out)
                if keep:
                    parts.append(out)
                if not d.unconsumed_tail or got >= need:
                    break
                out = d.decompress(
                    d.unconsumed_tail, max(1, min(need - got, 2**24)) if keep else 2**24
                )
        except zlib.error as exc:
            if str(exc).endswith("header crc mismatch"):  # (FHCRC set: a CRC-16 of the header)
                raise FormatError(
                    f"{loc}: the header of its gzip member starting at compressed byte {start} "
                    "fails its own CRC-16 (the FHCRC flag is set): its header bytes (file name, "
                    "comment, extra field) were altered or the writer computed it wrongly; GNU "
                    "gzip and Python's gzip module do not check it: if `gzip -t` accepts the "
                    "file, recompress it (`gzip -dc FILE | gzip > NEW.nii.gz`), else fetch or "
                    "copy it again"
                ) from exc
            if start and got == at_start:  # (not a member: bytes after the last one)
                raise trailing_error(loc, got, start, size, str(exc)) from exc
            failed = _TRAILER_FIELDS.get(str(exc).rpartition(": ")[2])
            if failed:  # the member inflated to its end: its own trailer disagrees
                raise ChecksumError(
                    f"{loc}: the gzip stream fails its own checksum: the {failed} in the trailer "
                    f"of its member starting at compressed byte {start} does not match the data "
                    "the member inflates to: the file is damaged (an altered or badly copied "
                    "file); fetch or copy it again"
                ) from exc
            raise FormatError(
                f"{loc}: the gzip stream is corrupt after {got} uncompressed bytes ({exc}); "
                "fetch or copy the file again"
            ) from exc
        if pos >= size and not d.eof and got < need and not d.unconsumed_tail:
            # All input is in: what zlib still holds (part of a match), then the member must end.
            out = d.flush()[: need - got] if keep else d.flush()
            got += len(out)
            if keep:
                parts.append(out)
            if not d.eof and got < need and start and got == at_start:
                raise trailing_error(loc, got, start, size, "")
            if not d.eof and got < need:
                raise FormatError(
                    f"{loc}: truncated: the gzip stream stops after {got} uncompressed bytes, "
                    f"before its end ({size} compressed bytes: a writer, copy or download that "
                    "did not finish); write, copy or fetch the file again"
                )
            break
        if d.eof:
            rest = d.unused_data
            if len(rest) < 2 and pos < size:  # (a next member's magic may straddle two reads)
                more = _io.read(loc, pos, min(2 - len(rest), size - pos), expect=stamp)
                rest, pos = rest + more, pos + len(more)
            if rest[:2] != b"\x1f\x8b":
                break  # trailing bytes after the last member are ignored, as gzip does
            pending, start, at_start = rest, pos - len(rest), got
            d = zlib.decompressobj(31)
    if keep:
        return b"".join(parts)[:need]
    return got


def verify_members(stamp: SourceStamp) -> None:
    """Inflate every gzip member of the local file ``stamp.path`` with zlib, checking each one's
    CRC-32 and length: the one verdict on a stream's trailers, whichever engine reads it (a pass
    over the file, output discarded; only where the last trailer does not describe the stream,
    or an engine said a check failed). ``stamp``: the file's identity when opened.

    Raises
    ------
    ChecksumError
        A member's trailer does not match its data (the message names the field and member).
    FormatError
        The stream is corrupt, cut short, or followed by a partial member.
    """
    inflate(Location(stamp.path), stamp, 2**62, keep=False, chunk=2**20)


def engine_error(stamp: SourceStamp, exc: BaseException, hint: str = "") -> BaseException:
    """The typed error of an engine's failure to inflate the local file ``stamp`` names: when the
    engine says a check failed, the verdict of :func:`verify_members` (the same error whichever
    engine read the file), else :func:`~lazyvol.gzcheck.stream_error` (``hint`` appended)."""
    if is_checksum_failure(exc):
        try:
            verify_members(stamp)
        except LazyvolError as verdict:
            return verdict
    return stream_error(stamp.path, exc, hint)
