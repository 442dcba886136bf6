"""``lazyvol.open``: one entry point that picks the reader from what the path is."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .errors import FormatError, SourceNotFoundError
from .sources import stat_regular
from .volume import Volume

__all__ = ["open"]


def _is_zarr_store(path: str) -> bool:
    return os.path.isdir(path) and any(
        os.path.isfile(os.path.join(path, name)) for name in ("zarr.json", ".zgroup", ".zattrs")
    )


def _sniff(path: str) -> str:
    """Format of a single file by its content: 'nifti', 'dicom' or 'unknown'."""
    from .nifti import is_nifti_path

    if is_nifti_path(path):
        return "nifti"
    # A FIFO, socket or device would block open() or never end: refused before any open, and
    # O_NONBLOCK so that a path swapped for a FIFO after the check still cannot block.
    stat_regular(path, what="source file")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        head = os.pread(fd, 544, 0) if hasattr(os, "pread") else os.read(fd, 544)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read: {exc}") from exc
    finally:
        os.close(fd)
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if len(head) >= 348:
        if head[344:348] in (b"n+1\0", b"ni1\0") or head[4:12] in (
            b"n+2\0\r\n\x1a\n",
            b"ni2\0\r\n\x1a\n",
        ):
            return "nifti"
    return "unknown"


def open(
    path: str | os.PathLike[str],
    *,
    series: str | int | None = None,
    chunks: Any = "auto",
    scale: bool = True,
    dtype: Any = None,
    cache: bool | str | os.PathLike[str] | None = None,
    **options: Any,
) -> Volume:
    """Open an image volume lazily.

    Parameters
    ----------
    path : str or path-like
        A NIfTI/Analyze file, a DICOM file, a folder of DICOM files (searched recursively), or a
        Zarr store written by lazyvol (or carrying OME-Zarr metadata).
    series : str or int, optional
        For DICOM folders holding several volumes: a SeriesNumber (int or digits), a
        SeriesInstanceUID or a unique prefix of one, a SeriesDescription (or a unique part of
        one), a volume id shown by :func:`lazyvol.scan`, or ``"#N"`` for row N of
        ``lazyvol.scan(path)``. A choice matching several volumes raises
        :class:`~lazyvol.errors.MultipleSeriesError` listing them.
    chunks : "auto" or dask chunk spec
        ``"auto"`` follows the on-disk layout (slabs of whole slices) within the chunk budget.
    scale : bool
        Values in real units (NIfTI scl_slope/scl_inter, DICOM RescaleSlope/RescaleIntercept) in
        the narrowest dtype that holds them exactly, else float32; ``False`` gives stored values.
    dtype : dtype, optional
        Force the output dtype (e.g. ``"float64"``).
    cache : bool or path, optional
        ``True`` (default cache directory) or a directory: the first open writes a Zarr copy, later
        opens of the unchanged source read it.
    **options
        Reader-specific options (see the DICOM reader).

    Returns
    -------
    Volume

    Raises
    ------
    SourceNotFoundError, FormatError, SeriesError, MultipleSeriesError
        See :mod:`lazyvol.errors`.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise SourceNotFoundError(f"{path}: no such file or directory")
    if not os.path.isdir(path):
        stat_regular(path, what="source file")  # FIFO, socket, device: a typed error, never a hang
    if cache:
        from .cache import open_cached

        return open_cached(
            path, cache=cache, series=series, chunks=chunks, scale=scale, dtype=dtype, **options
        )
    return open_source(path, series=series, chunks=chunks, scale=scale, dtype=dtype, **options)


def open_source(
    path: str,
    *,
    series: str | int | None = None,
    chunks: Any = "auto",
    scale: bool = True,
    dtype: Any = None,
    **options: Any,
) -> Volume:
    """Open ``path`` with the reader its type calls for, without any cache."""
    if _is_zarr_store(path):
        from .zarr_io import open_zarr

        # A store holds the values as they were written (already scaled or not): ``scale`` has
        # nothing left to do, ``dtype`` converts lazily.
        vol = open_zarr(path, chunks=chunks, **options)
        if dtype is not None and np.dtype(dtype) != vol.dtype:
            vol = Volume(vol.data.astype(dtype), vol.affine, meta=vol.meta, source=vol.source)
        return vol
    if os.path.isdir(path):
        from .dicom import open_dicom

        return open_dicom(path, series=series, chunks=chunks, scale=scale, dtype=dtype, **options)
    kind = _sniff(path)
    if kind == "nifti":
        from .nifti import open_nifti

        if options:
            raise TypeError(f"unexpected options for a NIfTI file: {sorted(options)}")
        return open_nifti(path, chunks=chunks, scale=scale, dtype=dtype)
    # Everything else is tried as DICOM (files without the preamble included); the DICOM reader
    # refuses what is not DICOM with a FormatError.
    try:
        from .dicom import open_dicom
    except ImportError as exc:  # pragma: no cover - the DICOM reader ships with the package
        raise FormatError(f"{path}: not a NIfTI file and the DICOM reader is unavailable") from exc
    return open_dicom(path, series=series, chunks=chunks, scale=scale, dtype=dtype, **options)
