"""DICOM reader: header-only scans, series grouping with exact geometry, lazy pixel reads.

``scan(source)`` lists the volumes a file, folder or bucket prefix holds (:class:`ScanReport` of
:class:`SeriesInfo`); ``open_dicom(source)`` (what :func:`lazyvol.open` calls for folders and
non-NIfTI files) returns one of them as a lazy :class:`lazyvol.Volume`.

The package follows the data flow: :mod:`.listing` (files of a folder or objects of a prefix) ->
:mod:`.saved_scan` (the saved result of an unchanged listing: a reopen stops here) ->
:mod:`.scan_index` (persisted header records) -> :mod:`.header_scan` / :mod:`.header` /
:mod:`.walker` / :mod:`.header_record` (one header -> records or a typed skip) -> :mod:`.series`
(grouping a SeriesInstanceUID into stackable groups) -> :mod:`.stacking` (one group -> one volume:
pure steps) with :mod:`.checks` / :mod:`.support` (what can be read) -> :mod:`.reader` (the read
plan and the dask array) -> :mod:`.pixels` (what dask tasks run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from .model import ScanReport, SeriesInfo
    from .reader import DICOM_SLAB_BYTES, open_dicom
    from .scanner import scan

__all__ = ["DICOM_SLAB_BYTES", "ScanReport", "SeriesInfo", "open_dicom", "scan"]

#: Public names -> their module, imported on first use: ``lazyvol.scan`` of an unchanged folder
#: (its saved report) needs neither the header parser nor the reader.
_WHERE: dict[str, tuple[str, str | None]] = {
    "DICOM_SLAB_BYTES": (".reader", "DICOM_SLAB_BYTES"),
    "open_dicom": (".reader", "open_dicom"),
    "scan": (".scanner", "scan"),
    "ScanReport": (".model", "ScanReport"),
    "SeriesInfo": (".model", "SeriesInfo"),
}


__getattr__, __dir__ = lazy_names(__name__, globals(), _WHERE)
