"""Exception classes raised by lazyvol.

Every error lazyvol raises on bad input is a :class:`LazyvolError`. Each class also subclasses the
standard exception a caller would expect (``ValueError``, ``FileNotFoundError``, ``OSError``), so
``except ValueError`` keeps working. Messages name the file, the field or DICOM keyword/tag, the
value found and, where there is one, the option that gets past the problem.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CacheError",
    "DataTypeError",
    "FormatError",
    "GridMismatchError",
    "IntegrityError",
    "LazyvolError",
    "MultipleSeriesError",
    "OptionError",
    "RemoteAccessError",
    "RemoteReadError",
    "RemoteTimeoutError",
    "ResourceLimitError",
    "SeriesError",
    "SourceChangedError",
    "SourceNotFoundError",
    "UnknownOptionError",
    "UnsupportedError",
    "WriteError",
]


class LazyvolError(Exception):
    """Base class of every error lazyvol raises on purpose."""

    def __init__(self, *args: object) -> None:
        # File names that are not valid UTF-8 reach messages as lone surrogates, which cannot be
        # printed: show their bytes as \xNN escapes instead (as lazyvol.sources.display_path).
        super().__init__(*(_printable(a) if isinstance(a, str) else a for a in args))


def _printable(text: str) -> str:
    """``text`` with undecodable file-name bytes (lone surrogates) as backslash-x escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate that is not an escaped byte
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
        return raw.decode("utf-8", "backslashreplace")
    return text


class SourceNotFoundError(LazyvolError, FileNotFoundError):
    """The path given does not exist (or a companion file such as an Analyze ``.img`` is missing)."""


class FormatError(LazyvolError, ValueError):
    """A file cannot be read: not a known format, truncated, corrupt, or inconsistent with its header."""


class IntegrityError(FormatError):
    """Stored data fails its checksum: a lazyvol store or cache entry was damaged or edited.

    Raised for a chunk file whose checksum, size or position does not match the store's manifest,
    a missing chunk file, or array/group metadata whose hash differs from the one recorded. The
    message names the store and the chunk key (or metadata file). A :class:`FormatError` (and so a
    ``ValueError``): the bytes on disk are not what was written.
    """


class SourceChangedError(FormatError):
    """A source file was rewritten, replaced or moved after it was opened; open it again."""


class UnsupportedError(FormatError):
    """A valid file uses a feature lazyvol cannot read (e.g. a transfer syntax without its decoder)."""


class ResourceLimitError(FormatError):
    """A header claims a size beyond a configured limit (``LAZYVOL_MAX_VOLUME_BYTES`` ...); a file
    too small for what its header claims is a plain :class:`FormatError` (truncated)."""


class SeriesError(LazyvolError, ValueError):
    """DICOM files cannot form one volume: gaps, duplicate positions, mixed orientation or size."""


class MultipleSeriesError(SeriesError):
    """A folder holds several volumes; choose one with ``series=``.

    Attributes
    ----------
    series : list
        The :class:`lazyvol.SeriesInfo` objects found.
    """

    def __init__(self, message: str, series: list[Any] | None = None) -> None:
        super().__init__(message)
        self.series = list(series or [])


class OptionError(LazyvolError, ValueError):
    """An option given to lazyvol is not valid for the source (e.g. ``chunks=`` with a length per
    axis for another number of axes); the message names the option and what it takes."""


class UnknownOptionError(OptionError, TypeError):
    """A keyword that :func:`lazyvol.open` (or the xarray engine) does not take for the source;
    the message names it and the options that are taken. Also a TypeError, as Python's own error
    for an unexpected keyword argument."""


class GridMismatchError(LazyvolError, ValueError):
    """Two volumes that must share a grid do not (a mask on another shape or affine)."""


class DataTypeError(LazyvolError, TypeError):
    """The volume's values are of a type the operation does not take: statistics of complex or
    RGB (structured) data. The message says how to get numbers (a magnitude, one channel)."""


class CacheError(LazyvolError, OSError):
    """The cache cannot be used (unwritable location when required, corrupt entry)."""


class WriteError(LazyvolError, OSError):
    """Writing a store or file failed or was refused (existing destination, read-only location)."""


class RemoteAccessError(LazyvolError, PermissionError):
    """The server refused access to a remote source (HTTP 401/403, S3 AccessDenied, ...)."""


class RemoteReadError(LazyvolError, OSError):
    """A remote transfer failed: connection refused or reset, the server stopped mid-response,
    or answered with a server error."""


class RemoteTimeoutError(RemoteReadError, TimeoutError):
    """A remote request made no progress for ``LAZYVOL_REMOTE_TIMEOUT`` seconds."""
