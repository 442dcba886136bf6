"""``lazyvol.open``: one entry point; the reader registry (:mod:`lazyvol.formats`) picks the
reader, optionally through the cache. Nothing here is format-specific."""

from __future__ import annotations

import os
from typing import Any

from .errors import SourceNotFoundError
from .sources import stat_regular
from .volume import Volume

__all__ = ["open"]


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
    from .readers import open_source

    return open_source(path, series=series, chunks=chunks, scale=scale, dtype=dtype, **options)
