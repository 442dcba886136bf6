"""The CRC-32 check of a gzip stream read by indexed_gzip, and the typed stream errors.

rapidgzip checks each stream's trailer as it inflates. indexed_gzip (lazyvol's engine where
rapidgzip is missing, forced or refused the file, and for remote ``.nii.gz``) checks a member's
trailer only when a read goes past the member's end, which a pass stopping at the image's end
never does: a bit flip in the deflate data that still inflates returned damaged values without
error (a sweep of 30 such flips of an 8.8 MB ``.nii.gz``: 25 full reads returned wrong data). A
:class:`StreamCheck` rides along a handle's first pass (no saved seek index):

- bytes the reads skip before a read's offset (the header before ``vox_offset``, a block read
  out of order) are inflated and folded in first, as the engine would have inflated them to seek;
- when the pass reaches the end of the image data it inflates on to the end of the stream;
- the CRC-32 and length of everything inflated are compared with the file's last 8 bytes (the
  last member's trailer): a CRC mismatch raises :class:`ChecksumError` before the pass returns its
  last block or saves a seek index. When the bytes after the image do not inflate (a damaged or
  foreign tail), the check is not made: such files read as gzip readers that stop at the image's
  end read them.

The length in the trailer (ISIZE) is checked the same way for both engines: rapidgzip checks it
only when its reads happen to end inside its last chunk (a pass whose last read ends exactly at the
stream's end never looks), indexed_gzip not in this read pattern, so a rapidgzip handle carries a
length-only check (``crc=False``: rapidgzip checks every member's CRC-32 as it decodes it). When
the stored length is not the length inflated, the trailer is either damaged or speaks for its own
member only (several members, bytes after the last one): ``members`` (a zlib pass over every
member's CRC-32 and length, :func:`lazyvol.gzinflate.verify_members`) decides, and raises the same
:class:`ChecksumError` whichever engine read the file.

Reads through a saved seek index are not checked (the first pass that saved it was), nor a slice
read before any full pass (it does not inflate the stream to its end).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from typing import Any

from .errors import FormatError

__all__ = [
    "ChecksumError",
    "StreamCheck",
    "compression_kind",
    "is_checksum_failure",
    "is_os_failure",
    "last8",
    "stream_error",
    "trailing_error",
]

#: Scratch buffer for bytes inflated only to be checked.
_SCRATCH = 2**20


class ChecksumError(FormatError):
    """A gzip stream inflated, but its data fails the stream's own CRC-32 or size: the file is
    damaged. Never retried with another engine (zlib, reading only up to the image's end, would
    not look at the trailer and would return the damaged values)."""


#: How engines word a stream whose data inflates but fails its trailer: rapidgzip "Mismatching
#: CRC32 (...)!" / "Mismatching size (...)"; indexed_gzip, which checks a member's trailer only
#: when it inflated the member from its start and read past its end, returns
#: ZRAN_READ_CRC_ERROR (-4) from ``readinto``, which Python's buffered reader reports as
#: "raw readinto() returned invalid length -4", or raises its ``CrcError`` ("CRC/size validation").
_ENGINE_WORDS = ("Mismatching ", "returned invalid length -4 ", "CRC/size validation failed")


#: Leading bytes of the formats a file named ``.gz`` is found to be instead (and of gzip).
_MAGICS = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


def compression_kind(head: bytes) -> str:
    """The compression ``head`` (a file's first bytes) starts with: a name, "zlib", or ""."""
    for magic, name in _MAGICS:
        if head.startswith(magic):
            return name
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"
    return ""


def is_checksum_failure(exc: BaseException) -> bool:
    """Whether an engine's exception says the stream failed its own checksum."""
    text = str(exc)
    return any(w in text for w in _ENGINE_WORDS)


def is_os_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is the operating system's (an ``OSError`` with an errno: out of
    descriptors, a removed file, a full disk), not an engine's verdict on the stream: indexed_gzip's
    ``ZranError`` and Python's "raw readinto() returned invalid length" are ``OSError`` without
    one, and must become :func:`stream_error`'s typed error."""
    return isinstance(exc, OSError) and exc.errno is not None


def stream_error(where: str, exc: BaseException, hint: str = "") -> FormatError:
    """The typed error of an engine's failure to inflate ``where`` (a path or URL); ``hint`` is
    appended to a non-checksum failure's message."""
    detail = f"{type(exc).__name__}: {exc}"
    if is_checksum_failure(exc):
        return ChecksumError(
            f"{where}: the gzip stream fails its own checksum: the file is damaged (an altered "
            f"or badly copied file); fetch or copy it again ({detail})"
        )
    return FormatError(
        f"{where}: the gzip stream does not inflate ({detail}): the file is corrupt or truncated, "
        "or valid gzip the decompression engines cannot read (e.g. a gzip member header over "
        "1 MiB of FNAME/FEXTRA/FCOMMENT); if `gzip -t` accepts it, recompress it "
        f"(`gzip -dc FILE | gzip > NEW.nii.gz`){hint}"
    )


def last8(path: str, size: int) -> bytes:
    """The last 8 bytes of the file ``path`` of ``size`` bytes (a gzip trailer)."""
    if size < 8:
        return b""
    with open(path, "rb", buffering=0) as f:
        return os.pread(f.fileno(), 8, size - 8)


def trailing_error(where: object, got: int, start: int, size: int, why: str) -> FormatError:
    """The error of bytes after the last whole gzip member of ``where`` (ending at compressed byte
    ``start`` of ``size``, ``got`` bytes inflated) that start with the gzip magic but are not a
    member (``why``: zlib's complaint, or "" when they end before a member does): gzip refuses
    such a file too; whether a member was cut or data appended, the bytes cannot tell."""
    detail = f" ({why})" if why else ""
    return FormatError(
        f"{where}: the {size - start} bytes after its last whole gzip member (which ends at "
        f"compressed byte {start}, {got} bytes uncompressed) start like a gzip member (1f 8b) but "
        f"are not a whole one{detail}: a member cut short, or other data appended; gzip refuses "
        f"the file too. If the first {start} bytes hold the whole image, keep only them "
        f"(`head -c {start} FILE > FIXED.nii.gz`), else write or fetch the file again"
    )


class StreamCheck:
    """The running CRC-32 of a gzip stream's first ``pos`` inflated bytes, and the final check.

    Parameters
    ----------
    where : str
        The file or object, for the error message.
    data_end : int
        Uncompressed offset where the image data ends: a read reaching it finishes the check.
    trailer : callable
        Returns the compressed file's last 8 bytes (CRC-32, length modulo 2**32, little-endian).
    """

    __slots__ = (
        "check_crc",
        "crc",
        "data_end",
        "done",
        "members",
        "pos",
        "tail_read",
        "trailer",
        "where",
    )

    def __init__(
        self,
        where: str,
        data_end: int,
        trailer: Callable[[], bytes],
        *,
        crc: bool = True,
        members: Callable[[], None] | None = None,
    ) -> None:
        self.where = where
        self.data_end = data_end
        self.trailer = trailer
        #: Fold the CRC-32 (indexed_gzip); ``False``: count the length only (rapidgzip).
        self.check_crc = crc
        #: Checks every member's trailer, raising :class:`ChecksumError` (see module doc).
        self.members = members
        self.pos = 0
        self.crc = 0
        self.done = False
        #: The stream was inflated to its end (what follows the image included).
        self.tail_read = False

    def before_read(self, raw: Any, offset: int) -> None:
        """Inflate and fold in the bytes between the checked prefix and ``offset`` (``raw``: an
        engine handle with ``seek``/``readinto``; left positioned at ``offset``)."""
        if self.done or offset <= self.pos or not self.check_crc:
            return
        raw.seek(self.pos)
        self._fold_from(raw, offset - self.pos)

    def after_read(self, raw: Any, offset: int, data: memoryview) -> None:
        """Fold in the part of ``data`` (read at ``offset``) past the checked prefix; at the end
        of the image data, inflate the rest of the stream and compare with the trailer."""
        if self.done:
            return
        end = offset + len(data)
        if not self.check_crc:  # (the length alone: where the stream ends)
            self.pos = max(self.pos, end)
        elif offset <= self.pos < end:
            self.crc = zlib.crc32(data[self.pos - offset :], self.crc)
            self.pos = end
        if self.pos >= self.data_end and self.pos >= offset:
            self.done = True
            try:
                if self.pos != end:
                    raw.seek(self.pos)
                self._fold_from(raw, -1)  # on to the end of the stream
            except Exception as exc:
                if is_checksum_failure(exc):
                    raise
                # Bytes after the image that do not inflate (a damaged or foreign tail, which
                # gzip readers stopping at the image never see): the trailer cannot be reached.
                return
            self.tail_read = True
            self._compare()

    def _fold_from(self, raw: Any, n: int) -> None:
        """Read ``n`` bytes from ``raw``'s position (``-1``: to the end) into the checksum."""
        scratch = memoryview(bytearray(_SCRATCH if n < 0 else min(_SCRATCH, n)))
        while n:
            got = raw.readinto(scratch if n < 0 else scratch[: min(len(scratch), n)])
            if not got:
                break
            if self.check_crc:
                self.crc = zlib.crc32(scratch[:got], self.crc)
            self.pos += got
            if n > 0:
                n -= got

    def _compare(self) -> None:
        tail = self.trailer()
        if len(tail) != 8:
            return
        stored_crc, stored_size = struct.unpack("<II", tail)
        if stored_size != self.pos & 0xFFFFFFFF:
            # A damaged length, or a trailer of the last member only: every member decides.
            if self.members is not None:
                self.members()
            return
        if self.check_crc and stored_crc != self.crc & 0xFFFFFFFF:
            if self.members is not None:
                self.members()  # (the same error as any engine's, naming the member)
            raise ChecksumError(
                f"{self.where}: the gzip stream fails its own checksum (CRC-32 of the "
                f"{self.pos} inflated bytes {self.crc & 0xFFFFFFFF:#010x}, stored "
                f"{stored_crc:#010x}): the file is damaged (an altered or badly copied file); "
                "fetch or copy it again"
            )
