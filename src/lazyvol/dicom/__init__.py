"""DICOM reader: header-only scans, series grouping with exact geometry, lazy pixel reads.

``scan(source)`` lists the volumes a file, folder or bucket prefix holds (:class:`ScanReport` of
:class:`SeriesInfo`); ``open_dicom(source)`` (what :func:`lazyvol.open` calls for folders and
non-NIfTI files) returns one of them as a lazy :class:`lazyvol.Volume`.

The package follows the data flow: :mod:`.listing` (files of a folder or objects of a prefix) ->
:mod:`.scan_index` (persisted header records) -> :mod:`.header_scan` / :mod:`.header` /
:mod:`.walker` / :mod:`.header_record` (one header -> records or a typed skip) -> :mod:`.series`
(grouping a SeriesInstanceUID into stackable groups) -> :mod:`.stacking` (one group -> one volume:
pure steps) with :mod:`.checks` / :mod:`.support` (what can be read) -> :mod:`.reader` (the read
plan and the dask array) -> :mod:`.pixels` (what dask tasks run).
"""

from __future__ import annotations

from .reader import DICOM_SLAB_BYTES, open_dicom
from .scanner import scan
from .series import ScanReport, SeriesInfo

__all__ = ["DICOM_SLAB_BYTES", "ScanReport", "SeriesInfo", "open_dicom", "scan"]
