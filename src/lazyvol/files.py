"""Paths as the operating system sees them: regular-file checks, byte keys, printable names.

Every place lazyvol opens a source path goes through :func:`regular_file_stat` first: a FIFO, a
socket or a device would block ``open()`` or stream endless bytes, so anything that is not a
regular file is refused with a typed error before any ``open``. Paths are bytes to the operating
system (a Latin-1 name from an old archive is not valid UTF-8 and Python holds it with lone
surrogates): :func:`path_bytes` is what lazyvol hashes or serialises, never ``str.encode()``.
"""

from __future__ import annotations

import os
import stat

from .errors import FormatError

__all__ = ["file_kind", "path_bytes", "printable", "regular_file_stat"]

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a directory"),
)


def file_kind(mode: int) -> str:
    """Plain-words kind of a file from its ``st_mode`` (``"a regular file"``, ``"a FIFO ..."``)."""
    if stat.S_ISREG(mode):
        return "a regular file"
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def regular_file_stat(path: str | os.PathLike[str], what: str = "source") -> os.stat_result:
    """``os.stat(path)`` when ``path`` is a regular file (symbolic links followed).

    Parameters
    ----------
    path : str or path-like
        The file about to be opened.
    what : str
        What the file is to the caller, for the message (``"source"``, ``"image data file"``).

    Raises
    ------
    FormatError
        ``path`` is a FIFO, socket, device or directory: reading it would block or never end.
    FileNotFoundError
        (from ``os.stat``) ``path`` does not exist.
    """
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise FormatError(
            f"{os.fspath(path)}: the {what} is {file_kind(st.st_mode)}, not a regular file; lazyvol "
            "reads images only from regular files (copy the data to a file first)"
        )
    return st


def path_bytes(path: str | os.PathLike[str]) -> bytes:
    """The absolute path as the bytes the operating system uses (surrogates round-trip)."""
    return os.fsencode(os.path.abspath(os.fspath(path)))


def printable(text: str) -> str:
    """``text`` with undecodable file-name bytes shown as ``\\xNN`` escapes (as ``ls -b``).

    A name that is not valid UTF-8 reaches Python as lone surrogates, which cannot be printed or
    written to a UTF-8 stream; escaping them keeps messages readable and safe to print.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate that is not an escaped byte
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
        return raw.decode("utf-8", "backslashreplace")
    return text
