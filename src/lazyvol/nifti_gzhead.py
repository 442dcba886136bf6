"""Header bytes of a NIfTI/Analyze file, gzipped or not, through the byte layer: the first bytes
of a header file (a short inflate of a ``.gz``), the uncompressed size a gzip stream holds, and the
typed errors of a file whose compression is not what its name says. Used by
:mod:`lazyvol.nifti_header` and :mod:`lazyvol.nifti` (the size checks at open).
"""

from __future__ import annotations

import threading
import zlib
from typing import Any

from . import _io
from ._location import Location
from .errors import FormatError, UnsupportedError
from .gzcheck import compression_kind
from .gzinflate import inflate
from .sources import SourceStamp

__all__ = [
    "compressed_error",
    "data_compression",
    "gzip_isize",
    "inflate",
    "is_gzip_name",
    "is_gzipped",
    "not_gzip_error",
    "read_head",
]


def is_gzip_name(loc: Location) -> bool:
    """True for a ``.gz`` name."""
    return loc.name.lower().endswith(".gz")


#: Whether a URL's bytes start with gzip's magic, by its stamp (the first bytes read to parse
#: its header tell it; the open then asks again): at most :data:`_SNIFFED_KEPT`, oldest dropped.
_SNIFFED: dict[SourceStamp, bool] = {}
_SNIFFED_KEPT = 256
_SNIFFED_LOCK = threading.Lock()


def is_gzipped(loc: Location, stamp: SourceStamp, head: bytes | None = None) -> bool:
    """Whether ``loc`` is read as a gzip stream: a ``.gz`` name, or a URL of a single-file image
    whose bytes (``head``: its first bytes, when read) start with gzip's magic (a URL names no
    file its user can rename: a download API's ``get?id=3``, a ``.nii.gz`` stored as
    ``scan.nii``). A local file so misnamed is refused instead, the message saying to rename it
    (:func:`compressed_error`)."""
    if is_gzip_name(loc):
        return True
    if not loc.is_remote or stamp.size < 2 or loc.name.lower().endswith((".hdr", ".img")):
        return False
    known = _SNIFFED.get(stamp)
    if known is None:
        start = head if head is not None else _io.read(loc, 0, 2, expect=stamp)
        known = start[:2] == b"\x1f\x8b"
        with _SNIFFED_LOCK:  # (dask threads open at once)
            _SNIFFED[stamp] = known
            while len(_SNIFFED) > _SNIFFED_KEPT:
                _SNIFFED.pop(next(iter(_SNIFFED)))
    return known


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
        uncompressed), or a file not named ``.gz`` that is compressed (:func:`compressed_error`):
        the message says which, and how to fix the name or decompress it.
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
            start = _io.read(loc, 0, min(6, size), expect=stamp)  # (when it failed)
            kind = compression_kind(start)
            if kind == "gzip":
                raise  # corrupt or cut short: the message names the file and says which
            if not kind and not _plain_header_start(start):
                raise FormatError(_damaged_gz_message(loc, start)) from None
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
    if is_gzipped(loc, stamp, head):  # (a URL of a gzip stream not named .gz)
        inflated = inflate(loc, stamp, n, keep=True)
        assert isinstance(inflated, bytes)
        return inflated
    kind = compression_kind(head[:6])  # (no header starts so: sizeof_hdr is 348 or 540)
    if kind == "zlib" and not _decodes(kind, head, whole=len(head) >= size):
        kind = ""  # (two bytes that happen to be a zlib header: a file that is not NIfTI)
    if kind:
        raise compressed_error(loc, kind)
    return head


def _plain_header_start(start: bytes) -> bool:
    """Whether a file's first bytes can start an uncompressed NIfTI/Analyze header: sizeof_hdr
    348 (NIfTI-1, Analyze) or 540 (NIfTI-2), in either byte order."""
    if len(start) < 4:
        return False
    return any(int.from_bytes(start[:4], order) in (348, 540) for order in ("little", "big"))


def _damaged_gz_message(loc: Location, start: bytes) -> str:
    """The error of a ``.gz`` file that is neither a gzip stream nor an uncompressed header: not
    "not compressed" (renaming it would not help), but damaged or not an image."""
    deflate = len(start) >= 3 and start[2] == 8  # gzip's compression method byte (deflate)
    return (
        f"{loc}: named .gz but its first bytes ({start[:4].hex(' ')}) are neither gzip's magic "
        "(1f 8b) nor the start of an uncompressed NIfTI/Analyze header (sizeof_hdr 348 or 540)"
        + (
            ": it looks like a gzip stream whose first bytes are damaged"
            if deflate
            else ": the file is damaged or not a NIfTI image"
        )
        + "; restore it from the original or re-export it"
    )


def not_gzip_error(loc: Location, head: bytes, header: Location | None = None) -> FormatError:
    """The error of a data file named ``.gz`` whose first bytes ``head`` are not gzip's: another
    compression, or none (voxels, or a cut file); ``header``: the pair's header file, gzipped,
    whose name the data file's follows."""
    kind = compression_kind(head[:6])
    what = f"{kind}-compressed" if kind else f"not compressed (it starts {head[:4].hex(' ')})"
    where = f"{loc} (data of {header})" if header is not None and header != loc else str(loc)
    if len(head) < 18:
        what = f"{len(head)} bytes long, too short for a gzip stream"
    name = loc.name
    plain = name[:-3]
    if kind and kind != "gzip":
        fix = f"{_DECOMPRESS.get(kind, 'decompress it')}, name it {plain} and gzip it"
    elif header is not None and header != loc:
        fix = (
            f"the pair's files are both gzipped or neither: gzip it (`mv {name} {plain} && gzip "
            f"{plain}`), or gunzip {header.name} and name this one {plain}"
        )
    else:
        fix = f"rename it {plain} (or gzip it)"
    return FormatError(f"{where}: named .gz but the file is {what}, not gzip; {fix}")


def compressed_error(loc: Location, kind: str, header: Location | None = None) -> FormatError:
    """The error of a NIfTI/Analyze file not named ``.gz`` whose bytes are a ``kind`` stream
    (:func:`lazyvol.gzcheck.compression_kind`): the header file itself, or the data file of the
    pair whose header is ``header``. gzip is read under a ``.gz`` name (the message gives it);
    bzip2, xz, zstd and zlib are not read (an :class:`~lazyvol.errors.UnsupportedError` saying
    how to decompress it: nibabel reads ``.nii.bz2`` and ``.nii.zst``, lazyvol does not)."""
    low = loc.name.lower()
    pair = header is not None or low.endswith((".hdr", ".img"))
    where = f"{loc} (data of {header})" if header is not None else str(loc)
    if kind == "gzip":
        stem = loc.name[:-4] if low.endswith((".hdr", ".img")) else "x"
        fix = (
            f"name the pair's files {stem}.hdr.gz and {stem}.img.gz (both gzipped), or gunzip "
            "this one"
            if pair
            else "rename it to end in .gz (e.g. .nii.gz)"
        )
        return FormatError(f"{where}: the file is gzip-compressed but not named .gz; {fix}")
    tool = _DECOMPRESS.get(kind, f"decompress the {kind} stream")
    return UnsupportedError(
        f"{where}: the file is {kind}-compressed; lazyvol reads NIfTI/Analyze files uncompressed "
        f"or gzip-compressed (.nii.gz, .hdr.gz/.img.gz) only: {tool} and open the result (gzip it "
        "to keep it compressed)"
    )


#: Compressed bytes of a pair's data file decoded at open to tell a stream from voxel values.
_SAMPLE = 64 * 2**10


def _decodes(kind: str, sample: bytes, *, whole: bool) -> bool:
    """Whether ``sample`` (a file's first bytes; ``whole``: all of them) decodes as a ``kind``
    stream: a complete one (it ends, its checksum holds) when the sample is the whole file, else
    a start that gives bytes without an error.

    A whole file must hold a whole stream: the start of voxel data that happen to begin with a
    stream's magic decodes without error as long as the bytes last, and in a file of a few dozen
    bytes (a 2 x 2 x 2 image, one voxel) they run out before any error (and a lone ``BZh1``
    decodes to nothing at all)."""
    decoder = _decoder(kind)
    if decoder is None:
        return False  # (zstd: no decoder in the standard library)
    import lzma

    try:
        out = decoder.decompress(sample, _SAMPLE)
    except (zlib.error, OSError, EOFError, ValueError, lzma.LZMAError):
        return False
    if decoder.eof or len(out) >= _SAMPLE:  # (ended, checksum checked; or it inflates on)
        return True
    if whole:
        return False  # (a stream that stops with the file: a compressed file is not cut short)
    # bzip2 gives nothing before a whole block (up to 900 kB): its 10 magic bytes suffice.
    return bool(out) or kind == "bzip2"


def _decoder(kind: str) -> Any:
    """A fresh standard-library decoder of a ``kind`` stream, or None (zstd)."""
    import bz2
    import lzma

    makers = {
        "gzip": lambda: zlib.decompressobj(31),
        "zlib": zlib.decompressobj,
        "bzip2": bz2.BZ2Decompressor,
        "xz": lzma.LZMADecompressor,
    }
    return makers[kind]() if kind in makers else None


def _inflated(decoder: Any, data: bytes, step: int, limit: int) -> int:
    """How many bytes ``decoder`` gives for ``data`` and what it holds back (``step`` at a time,
    discarded), up to the stream's end, the input's or past ``limit``; -1 if the bytes are not
    such a stream."""
    import lzma

    made = 0
    try:
        made += len(decoder.decompress(data, step))
        while not decoder.eof and made <= limit:
            tail = getattr(decoder, "unconsumed_tail", b"")  # (zlib)
            if tail:
                made += len(decoder.decompress(tail, step))
            elif not getattr(decoder, "needs_input", True):  # (bz2, lzma)
                made += len(decoder.decompress(b"", step))
            else:
                break
    except (zlib.error, OSError, EOFError, ValueError, lzma.LZMAError):
        return -1
    return made


def _stream_ends(loc: Location, stamp: SourceStamp, kind: str) -> bool:
    """Whether the whole file ``loc`` decodes as a ``kind`` stream that ends (its checksum holds),
    read a MiB at a time, the output discarded; one that inflates past 64 times the file's size
    (plus 64 MiB) is taken for one unread (a stream, as no voxel values decode so), bounding the
    time a decompression bomb takes."""
    decoder = _decoder(kind)
    size, pos, made = stamp.size, 0, 0
    limit = 64 * size + 2**26
    while pos < size and not decoder.eof and made <= limit:
        data = _io.read(loc, pos, min(2**20, size - pos), expect=stamp)
        pos += len(data)
        got = _inflated(decoder, data, 2**20, limit - made)
        if got < 0:
            return False
        made += got
    return bool(decoder.eof) or made > limit


def data_compression(loc: Location, stamp: SourceStamp, need: int) -> str:
    """The compression (gzip, bzip2, xz or zlib) of a pair's data file not named ``.gz`` whose bytes
    are such a stream (a gzipped ``.img`` named ``.img``), else ``""``.

    Its first bytes are read (6, and up to 64 KiB when they start such a stream): voxel values
    may start with a stream's magic bytes, they do not decode as one. A file of at least ``need``
    bytes (the header's vox_offset + data: it may be voxels) whose start decodes is decoded to its
    end: the start of constant or periodic voxel values can decode without error for as long as it
    lasts, a whole file does not end as a stream (not from a server that ignores Range: each read
    would fetch the whole object, so there the start decides).

    A file of exactly ``need`` bytes is voxels, unread here (as nibabel reads it): every file a
    writer makes is that size, and a compressed stream of the data the header describes is not
    (shorter where the values compress, longer by its framing where they do not), so the common
    case costs no read at open and no sniffing can refuse it."""
    if stamp.size == need:
        return ""
    head = _io.read(loc, 0, min(6, stamp.size), expect=stamp)
    kind = compression_kind(head)
    if not kind:
        return ""
    sample = _io.read(loc, 0, min(_SAMPLE, stamp.size), expect=stamp)
    whole = len(sample) >= stamp.size
    if not _decodes(kind, sample, whole=whole):
        return ""
    if whole or stamp.size < need:  # (ended; or too short to be the voxels: refused either way)
        return kind
    if _io.ignores_range(loc):  # (each MiB read would fetch the whole object: the start decides)
        return kind
    return kind if _stream_ends(loc, stamp, kind) else ""


#: How to undo each compression :func:`compressed_error` names.
_DECOMPRESS = {
    "bzip2": "decompress it with bunzip2",
    "xz": "decompress it with unxz",
    "zstd": "decompress it with unzstd",
    "zlib": "inflate it (Python's zlib.decompress)",
}


def gzip_isize(loc: Location, stamp: SourceStamp, header: Location | None = None) -> int | None:
    """Uncompressed size modulo 2**32 from a single-member gzip trailer, None if unknowable.

    In a file of several members, the trailer gives the last member's size only. The reads are
    checked against ``stamp`` (the file's identity at open). ``header``: the pair's header file
    when ``loc`` is its data file (named in the error of a data file that is not gzip)."""
    size = stamp.size
    head = _io.read(loc, 0, min(18, size), expect=stamp)
    if len(head) < 18 or compression_kind(head) != "gzip":
        raise not_gzip_error(loc, head, header)
    if head[3] & 0x04:  # FEXTRA: BGZF and other multi-member writers; the trailer is per member
        return None
    return int.from_bytes(_io.read(loc, size - 4, 4, expect=stamp), "little")
