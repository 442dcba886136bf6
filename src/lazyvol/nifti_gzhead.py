"""Header bytes of a NIfTI/Analyze file, gzipped or not, through the byte layer: the first bytes
of a header file (a short inflate of a ``.gz``), the uncompressed size a gzip stream holds, and the
typed errors of a file whose compression is not what its name says. Used by
:mod:`lazyvol.nifti_header` and :mod:`lazyvol.nifti` (the size checks at open).
"""

from __future__ import annotations

import zlib

from . import _io
from ._location import Location
from .errors import FormatError
from .gzcheck import compression_kind, trailing_error
from .sources import SourceStamp

__all__ = ["gzip_isize", "inflate", "is_gzip_name", "read_head"]

#: Compressed bytes fetched per read while inflating a header (one ranged request for a URL).
_HEAD_CHUNK = 64 * 2**10


def is_gzip_name(loc: Location) -> bool:
    """True for a ``.gz`` name."""
    return loc.name.lower().endswith(".gz")


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
        ``need`` bytes (the file is truncated).
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
            if start and got == at_start:  # (not a member: bytes after the last one)
                raise trailing_error(loc, got, start, size, str(exc)) from exc
            raise FormatError(
                f"{loc}: the gzip stream is corrupt after {got} uncompressed bytes ({exc}; "
                "'incorrect data check' is a CRC-32 mismatch); fetch or copy the file again"
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


def read_head(loc: Location, n: int, stamp: SourceStamp | None = None) -> bytes:
    """The first ``n`` (uncompressed) bytes of a header file, ``.gz`` or not (fewer when it is
    shorter): one read, or a short inflate of the stream's start.

    ``stamp``: the file's identity at open (taken now when not given); every read is checked
    against it, so a header and the data it describes come from one version of an object
    (:class:`~lazyvol.errors.SourceChangedError` otherwise).

    Raises
    ------
    FormatError
        A corrupt gzip stream; a ``.gz`` file that is not gzip (bzip2, xz, zstd, zlib or
        uncompressed), or a file not named ``.gz`` that is gzip: the message says which, and how
        to fix the name.
    """
    if stamp is None:
        stamp = _io.stamp(loc)
    size = stamp.size
    if is_gzip_name(loc):
        if size == 0:
            raise FormatError(f"{loc}: the file is empty (0 bytes): not a gzip stream")
        try:
            out = inflate(loc, stamp, n, keep=True)
        except FormatError:
            kind = compression_kind(
                _io.read(loc, 0, min(6, size), expect=stamp)
            )  # (when it failed)
            if kind == "gzip":
                raise  # corrupt or cut short: the message names the file and says which
            what = f"{kind}-compressed" if kind else "not compressed"
            fix = (
                f"decompress it with {kind} and open the .nii"
                if kind
                else "rename it without .gz (or gzip it)"
            )
            raise FormatError(f"{loc}: named .gz but the file is {what}, not gzip; {fix}") from None
        assert isinstance(out, bytes)
        return out
    head = _io.read(loc, 0, min(n, size), expect=stamp)
    if compression_kind(head[:6]) == "gzip":
        raise FormatError(
            f"{loc}: the file is gzip-compressed but not named .gz; rename it to end in .gz "
            "(e.g. .nii.gz)"
        )
    return head


def gzip_isize(loc: Location, stamp: SourceStamp) -> int | None:
    """Uncompressed size modulo 2**32 from a single-member gzip trailer, None if unknowable.

    In a file of several members, the trailer gives the last member's size only. The reads are
    checked against ``stamp`` (the file's identity at open)."""
    size = stamp.size
    head = _io.read(loc, 0, min(18, size), expect=stamp)
    if len(head) < 18 or compression_kind(head) != "gzip":
        raise FormatError(f"{loc}: not a gzip file (bad magic bytes); is it really .gz?")
    if head[3] & 0x04:  # FEXTRA: BGZF and other multi-member writers; the trailer is per member
        return None
    return int.from_bytes(_io.read(loc, size - 4, 4, expect=stamp), "little")
