"""lazyvol: memory-efficient, streaming access to medical and neuro-imaging volumes.

``lazyvol.open(path)`` returns a :class:`Volume`: a chunked dask array with a 4x4 voxel-to-RAS affine
and metadata, read lazily from NIfTI, DICOM or Zarr.
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

from ._lazy import lazy_names
from .api import open
from .errors import (
    CacheError,
    DataTypeError,
    FormatError,
    GridMismatchError,
    IntegrityError,
    LazyvolError,
    MultipleSeriesError,
    OptionError,
    RemoteAccessError,
    RemoteReadError,
    RemoteTimeoutError,
    ResourceLimitError,
    SeriesError,
    SourceChangedError,
    SourceNotFoundError,
    UnknownOptionError,
    UnsupportedError,
    WriteError,
)
from .volume import Volume

if TYPE_CHECKING:
    from . import cache
    from ._stats import VolumeStats, stats
    from .dicom import ScanReport, SeriesInfo

    # ``lazyvol.dicom.scan`` is both a function and a module; mypy may resolve the import to the
    # module depending on its processing order, so the function is declared here.
    def scan(source: Any, **options: Any) -> ScanReport: ...

    from .refs import references

#: Public names loaded on first use (``import lazyvol`` stays as light as opening a file needs):
#: name -> (module, attribute or None for the module itself).
_LAZY: dict[str, tuple[str, str | None]] = {
    "cache": (".cache", None),
    "ScanReport": (".dicom", "ScanReport"),
    "SeriesInfo": (".dicom", "SeriesInfo"),
    "scan": (".dicom", "scan"),
    "VolumeStats": ("._stats", "VolumeStats"),
    "stats": ("._stats", "stats"),
    "references": (".refs", "references"),
}


__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY)


__all__ = [
    "cache",
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
    "ScanReport",
    "SeriesError",
    "SeriesInfo",
    "SourceChangedError",
    "SourceNotFoundError",
    "UnknownOptionError",
    "UnsupportedError",
    "Volume",
    "VolumeStats",
    "WriteError",
    "__version__",
    "open",
    "references",
    "scan",
    "stats",
]
