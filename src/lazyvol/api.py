"""``lazyvol.open``: one entry point; the reader registry (:mod:`lazyvol.formats`) picks the
reader, optionally through the cache. Nothing here is format-specific."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from . import _io
from ._location import Location
from ._warn import warn as _warn_user
from .volume import Volume

__all__ = ["open"]


def open(
    source: str | os.PathLike[str] | Location | None = None,
    *,
    storage_options: Mapping[str, Any] | None = None,
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
    source : str, path-like or Location
        A NIfTI/Analyze file, a DICOM file, a folder of DICOM files (searched recursively), or a
        Zarr store written by lazyvol (or carrying OME-Zarr metadata): a local path, or an fsspec
        URL of an object or prefix (``s3://bucket/key.nii.gz``, ``gs://...``,
        ``https://host/file.nii``, anything fsspec resolves). Remote bytes are read with exact
        ranged requests inside the dask tasks; nothing is downloaded whole.
    storage_options : mapping, optional
        fsspec options for a URL (credentials, ``anon``, ``endpoint_url`` in ``client_kwargs``,
        ...). They travel with the read plans to worker processes but never appear in a repr, a
        dask token, an error message or anything lazyvol writes. Without them credentials come
        from the usual environment (``AWS_*``, ``GOOGLE_APPLICATION_CREDENTIALS``, ...).
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
        the narrowest dtype that holds them exactly, else float32; ``False`` gives stored values
        (a numpy bool, ``1`` and ``0`` are taken as True and False; other values are refused).
    dtype : dtype, optional
        Force the output dtype (e.g. ``"float64"``).
    cache : bool or path, optional
        ``True`` (default cache directory) or a directory: the first open writes a Zarr copy, later
        opens of the unchanged source read it (a remote source is keyed by its URL, ETag, size and
        last-modified time, never by credentials).
    **options
        Reader-specific options (see the DICOM reader).

    Returns
    -------
    Volume

    Raises
    ------
    SourceNotFoundError, FormatError, SeriesError, MultipleSeriesError
        See :mod:`lazyvol.errors`.
    RemoteAccessError, RemoteReadError, RemoteTimeoutError
        A server refused or failed (the message names the URL, never a credential).
    ValueError
        ``storage_options`` given for a local path.
    """
    if "path" in options:  # the keyword before remote sources (``lv.open(path=...)``)
        old = options.pop("path")
        _warn_user(
            "lazyvol.open(path=...) is deprecated; pass the source positionally or as source=",
            DeprecationWarning,
        )
        if source is not None:
            raise TypeError("lazyvol.open() got both source and path")
        source = old
    if source is None:
        raise TypeError("lazyvol.open() missing the source (a path or URL)")
    loc = Location.of(source, storage_options)
    from .readers import checked_read_options

    dtype, scale = checked_read_options(dtype, scale, loc)  # (before anything is read)
    _check_series(series, loc)
    # Exists? (FIFO, socket, device: a typed error, never a hang; a URL: one request.)
    _exists(loc)
    if cache:
        from .cache import open_cached

        return open_cached(
            loc, cache=cache, series=series, chunks=chunks, scale=scale, dtype=dtype, **options
        )
    from .readers import open_source

    return open_source(loc, series=series, chunks=chunks, scale=scale, dtype=dtype, **options)


def _exists(loc: Location) -> None:
    """Raise the typed error of a source that is not there (see :func:`lazyvol._io.kind`).

    An HTTP(S) server that serves a Zarr store as static objects answers its folder URL with 404
    or 403: the store's metadata objects are looked for before giving up.
    """
    from .errors import RemoteAccessError, SourceNotFoundError

    try:
        _io.kind(loc)
    except (SourceNotFoundError, RemoteAccessError):
        if not loc.is_remote:
            raise
        from ._zarr_folder import ZARR_METADATA

        for name in ZARR_METADATA:
            try:
                _io.kind(loc.join(name))
            except (SourceNotFoundError, RemoteAccessError):
                continue
            return
        raise


def _check_series(series: Any, loc: Location) -> None:
    """Refuse a ``series`` of a type that names no volume (a float, a bool, a list ...) before a
    folder is scanned: ``series=1.5`` raised a bare TypeError after the scan."""
    import numpy as np

    from .errors import OptionError

    if series is None or isinstance(series, str):
        return
    if isinstance(series, bool | np.bool_) or not isinstance(series, int | np.integer):
        raise OptionError(
            f"{loc.display}: series={series!r} ({type(series).__name__}): takes a SeriesNumber "
            "(an int or a string of digits), a SeriesInstanceUID, a description, an id or '#row'"
        )
