"""The local half of the byte layer (:mod:`lazyvol._io`): exact ``preadv`` reads of regular files.

Every read opens the file non-blocking (a path swapped for a FIFO cannot block), checks it is a
regular file with ``fstat`` on the descriptor the read uses (no race with a rename) and, given the
stamp taken at open, that it is still that file, before the read and again after it (one more
``fstat``): a write during the read moves the file's ctime, so a read that overlapped an in-place
rewrite raises instead of returning a mix of old and new bytes.
"""

from __future__ import annotations

import os
import stat as _stat

from ._location import Location
from ._special_files import file_kind as _file_kind
from .errors import FormatError, SourceNotFoundError
from .sources import SourceStamp

__all__ = ["OPEN_FLAGS", "check_range", "pread_full", "pread_into", "short_read"]

_HAVE_PREADV = hasattr(os, "preadv")
#: O_NONBLOCK: a path that is (or was replaced by) a FIFO cannot block the open.
OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def check_range(loc: Location, offset: int, length: int) -> None:
    if offset < 0 or length < 0:
        raise ValueError(f"{loc.display}: invalid byte range offset={offset} length={length}")


def short_read(loc: Location, offset: int, length: int, got: int) -> FormatError:
    return FormatError(
        f"{loc.display}: truncated: wanted {length} bytes at offset {offset} but only {got} could "
        "be read (the source is shorter than its header says, or changed since it was opened)"
    )


def pread_full(fd: int, view: memoryview, offset: int) -> int:
    """Read into ``view`` from ``offset`` of the open descriptor until it is full or the file
    ends (``preadv`` straight into the caller's buffer, no copy). Returns the bytes read."""
    got = 0
    length = view.nbytes
    while got < length:
        if _HAVE_PREADV:
            k = os.preadv(fd, [view[got:]], offset + got)
        else:  # pragma: no cover - platforms without preadv (Windows)
            os.lseek(fd, offset + got, os.SEEK_SET)
            k = os.readv(fd, [view[got:]])
        if k <= 0:
            break
        got += k
    return got


def pread_into(
    loc: Location, offset: int, view: memoryview, expect: SourceStamp | None = None
) -> int:
    got = 0
    length = view.nbytes
    try:
        fd = os.open(loc.url, OPEN_FLAGS)
    except FileNotFoundError:
        if expect is not None:
            expect.verify()  # raises SourceChangedError: removed or moved since it was opened
        raise SourceNotFoundError(f"{loc.display}: no such file") from None
    except OSError as exc:
        raise FormatError(f"{loc.display}: cannot open ({exc.strerror})") from None
    try:
        st = os.fstat(fd)  # the descriptor the read uses: no race with a rename
        if not _stat.S_ISREG(st.st_mode):
            raise FormatError(
                f"{loc.display}: is a {_file_kind(st.st_mode)}, not a regular file; lazyvol reads "
                "regular files (copy the data to a file first)"
            )
        if expect is not None and not expect.matches(st):
            expect.verify(fd)  # raises SourceChangedError naming what changed
        got = pread_full(fd, view, offset)
        if expect is not None:
            expect.verify(fd)  # changed during the read: SourceChangedError, never torn bytes
    except IsADirectoryError:
        raise FormatError(f"{loc.display}: is a directory, not a file") from None
    except OSError as exc:
        raise FormatError(
            f"{loc.display}: reading {length} bytes at {offset} failed ({exc.strerror})"
        ) from None
    finally:
        os.close(fd)
    return got
