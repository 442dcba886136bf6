"""lazyvol: memory-efficient, streaming access to medical and neuro-imaging volumes.

``lazyvol.open(path)`` returns a :class:`Volume`: a chunked dask array with a 4x4 voxel-to-RAS affine
and metadata, read lazily from NIfTI, DICOM or Zarr.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import cache
from ._stats import VolumeStats, stats
from .api import open
from .dicom import ScanReport, SeriesInfo, scan
from .errors import (
    CacheError,
    FormatError,
    GridMismatchError,
    LazyvolError,
    MultipleSeriesError,
    ResourceLimitError,
    SeriesError,
    SourceChangedError,
    SourceNotFoundError,
    UnsupportedError,
    WriteError,
)
from .volume import Volume

__all__ = [
    "cache",
    "CacheError",
    "FormatError",
    "GridMismatchError",
    "LazyvolError",
    "MultipleSeriesError",
    "ResourceLimitError",
    "ScanReport",
    "SeriesError",
    "SeriesInfo",
    "SourceChangedError",
    "SourceNotFoundError",
    "UnsupportedError",
    "Volume",
    "VolumeStats",
    "WriteError",
    "__version__",
    "open",
    "scan",
    "stats",
]
