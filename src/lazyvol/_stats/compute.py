"""The public function :func:`lazyvol.stats`: validate, run the passes, finalise."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
import numpy.typing as npt

from .._warn import warn as _warn_user
from ..errors import DataTypeError, OptionError
from ..geometry import axis_reorder, check_same_grid
from ..volume import Volume, xarray_dask
from .finalise import finalise
from .merge import global_range
from .parts import Bins, FloatArray, HistRange, MomentsPart, Part
from .passes import Passes
from .request import (
    StatsRequest,
    check_components,
    check_histogram_cells,
    check_mask_dtype,
    numpy_bins,
    wide_edges,
)
from .result import VolumeStats

__all__ = ["stats"]


def stats(
    vol: Volume | da.Array | np.ndarray,
    *,
    mask: Volume | da.Array | np.ndarray | None = None,
    bins: int | Sequence[float] | None = 256,
    range: tuple[float, float] | None = None,  # numpy's name for it
    percentiles: Sequence[float] | float = (1, 5, 25, 50, 75, 95, 99),
    axis: int | Sequence[int] | None = None,
    exact_percentiles: bool = False,
    ddof: int = 0,
    progress: bool = False,
) -> VolumeStats:
    """Statistics of a volume in one pass over its chunks (bounded memory).

    Parameters
    ----------
    vol : Volume, dask array, numpy array or xarray DataArray
        Integer, boolean or floating-point data; a DataArray is read a chunk at a time.
    mask : Volume, array or DataArray, optional
        Statistics over the voxels where the mask is non-zero (and not NaN). Same grid: shape
        (a 3D mask, or a 4D one of one volume, applies to every volume of a 4D series) and, for
        Volumes, affine within 1e-3 of a voxel; otherwise :class:`GridMismatchError`.
        Neither volume is loaded whole: mask chunks are read alongside the data's.
    bins : int, sequence of float or None
        Histogram bins (at most 10 million) over ``range`` (default: the data's min..max;
        ``numpy.histogram`` rules), or explicit edges. ``None``: no histogram.
    range : (float, float), optional
        Histogram range. For floating-point data, giving it keeps the computation to one pass.
    percentiles : sequence of float, or float
        Percentiles (0..100) to report (one number: ``res.percentiles`` still has one per ``q``), ``numpy.percentile``'s default (linear) method on the
        values as float64 (in the data's own dtype integers wrap and float16 overflows).
    axis : int or sequence of int, optional
        Axes to reduce (default: all). ``axis=(0, 1, 2)`` on a 4D series gives one result per
        time point, ``axis=3`` one per voxel; the kept axes become the shape of every field. Every
        output row holds ``bins`` histogram counts (8 bytes each). Required for a vector image (NIfTI dim[5] > 1):
        ``axis=(0, 1, 2, 3)`` gives one result per component.
    exact_percentiles : bool
        Make the percentiles exact with extra passes that collect only the values of the bins
        holding the needed order statistics: floating-point data, and integer data whose values
        span more than 65,536 (max - min + 1 per chunk and row) or, with many output rows (per
        voxel), more than 4,194,304 / rows; other integer data is counted value by value, exact.
    ddof : int
        Delta degrees of freedom of ``var``/``std`` (numpy's meaning).
    progress : bool
        Show a tqdm progress bar on stderr (local schedulers only).

    Returns
    -------
    VolumeStats

    Raises
    ------
    GridMismatchError
        The mask's shape or affine differ from the volume's.
    DataTypeError
        Complex, RGB or other non-numeric data or mask, a vector image without ``axis=``.

    Notes
    -----
    One ``dask.compute`` reads each chunk once for count, NaN count, non-zero count, min, max,
    sum, mean and std, and for integer data the exact histogram and percentiles as well. Floating
    point data without ``range=`` needs a second pass for the histogram (its range is the min/max
    of the first), and ``exact_percentiles`` usually one more. ``result.passes`` says how many were
    made. Memory: one chunk per thread plus partials: value counts within
    :data:`~lazyvol._stats.limits.MAX_COUNT_CELLS` for all rows, or ``bins`` counts per row.
    Exact percentiles hold at most :func:`~lazyvol._stats.limits.exact_budget` values at once.

    Examples
    --------
    >>> import numpy as np, lazyvol as lv
    >>> vol = lv.Volume(np.arange(24, dtype="uint16").reshape(2, 3, 4))
    >>> res = lv.stats(vol, bins=4)
    >>> res.count, res.min, res.max, res.sum, res.mean
    (24, 0, 23, 276, 11.5)
    >>> res.histogram.tolist()
    [6, 6, 6, 6]
    """
    data, affine, source = _as_dask(vol)
    req = _request(
        vol,
        data,
        source,
        axis,
        bins=bins,
        hist_range=range,
        percentiles=percentiles,
        exact_percentiles=exact_percentiles,
        ddof=ddof,
        progress=progress,
    )
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)  # numbers 0/1 (numpy refuses percentiles of booleans)
    mdata = None if mask is None else _mask_on_grid(data, affine, source, mask)
    passes = Passes(data, _without_filled(data, mdata, _filled_slices(vol, data.shape)), req)
    merged = passes.statistics()
    return _noted(_after_first_pass(passes, merged, req, data.dtype), mask, vol)


def _after_first_pass(
    passes: Passes, merged: Part, req: StatsRequest, dtype: np.dtype[Any]
) -> VolumeStats:
    """The result from the first pass's ``merged`` partial, with the passes it still needs: the
    histogram of floating-point data (its range is the first pass's min/max), the spread of
    finite values whose squared deviations pass float64, the exact percentiles' selection."""
    edges, binning = _binning(merged, req, dtype)
    if binning is not None and isinstance(merged, MomentsPart) and merged.hist is None:
        merged.hist = passes.histogram(*binning)  # the second pass (floating-point data)
    spread = None
    if isinstance(merged, MomentsPart) and not merged.integer:
        spread = passes.spread(merged)  # (finite values whose squares pass float64)
    select = passes.select if req.exact_percentiles and isinstance(merged, MomentsPart) else None
    return finalise(merged, edges, req, passes.kshape, passes.count, select, spread)


def _filled_slices(vol: object, shape: tuple[int, ...]) -> list[int]:
    """The slices (k) of a Volume that ``allow_gaps=True`` filled (``meta["filled_slices"]``):
    no data, left out of the statistics. [] for arrays, or when the record no longer fits the
    data (replaced since)."""
    found = vol.meta.get("filled_slices") if isinstance(vol, Volume) else None
    if not isinstance(found, list | tuple) or not found or len(shape) < 3:
        return []
    ks = sorted({int(k) for k in found})
    return ks if 0 <= ks[0] and ks[-1] < shape[2] else []


def _without_filled(data: da.Array, mdata: da.Array | None, filled: list[int]) -> da.Array | None:
    """The mask ``mdata`` (None: every voxel) with the slices ``filled`` out of it (zero there),
    chunked as the data's first three axes (a 3D mask applies to every volume of a series)."""
    if not filled:
        return mdata
    kept = np.ones(data.shape[2], dtype=bool)
    kept[filled] = False
    keep: da.Array = da.broadcast_to(
        da.from_array(kept, chunks=(data.chunks[2],)), data.shape[:3], chunks=data.chunks[:3]
    )
    if mdata is None:
        return keep
    keep = keep.reshape(data.shape[:3] + (1,) * (mdata.ndim - 3)) if mdata.ndim > 3 else keep
    out: da.Array = da.where(keep, mdata, mdata.dtype.type(0))
    return out


def _request(
    vol: object, data: da.Array, source: str, axis: int | Sequence[int] | None, **options: Any
) -> StatsRequest:
    """The validated arguments; a vector image (components past the 4th axis) needs ``axis=``."""
    req = StatsRequest.build(data.dtype, data.ndim, axis=axis, where=source or "", **options)
    if isinstance(vol, Volume) and axis is None:
        check_components(data.shape, vol.meta, source)
    check_histogram_cells(req, data.shape, source)
    return req


def _as_dask(vol: Volume | da.Array | npt.ArrayLike) -> tuple[da.Array, FloatArray | None, str]:
    """(data, affine or None, source name) of a Volume, dask array or array-like."""
    _not_a_path(vol)
    if isinstance(vol, Volume):
        return vol.data, vol.affine, vol.source
    vol = xarray_dask(vol)
    if isinstance(vol, da.Array):
        if any(math.isnan(c) for dim in vol.chunks for c in dim):
            raise OptionError(
                "lazyvol.stats: the dask array has chunks of unknown size (a boolean selection "
                "such as data[data > 0]); pass the condition as mask= (lazyvol.stats(data, "
                "mask=data > 0)), or call .compute_chunk_sizes() on the array first"
            )
        return vol, None, ""
    arr = np.asarray(vol)
    # (dask cannot size "auto" chunks of objects: one chunk, for the dtype check to refuse it)
    return da.asarray(arr, chunks=-1 if arr.dtype.hasobject else "auto"), None, ""


def _not_a_path(obj: object, what: str = "the data") -> None:
    """Refuse a file name where data goes (numpy would take it as one string, refused as "not
    numbers" with a hint to cast it) with a :class:`~lazyvol.errors.DataTypeError` saying to
    open it."""
    if isinstance(obj, str | bytes | os.PathLike):
        raise DataTypeError(
            f"lazyvol.stats: {what} {os.fsdecode(obj)!r} is a path, not data; open it first: "
            "lazyvol.stats(lazyvol.open(path)) (the `lazyvol stats PATH` command opens it)"
        )


def _noted(result: VolumeStats, mask: Any, vol: object) -> VolumeStats:
    """``result`` of ``vol``, with the slices left out as filled (:func:`_filled_slices`), and a
    warning when there is a mask and it selects no voxel (statistics over nothing: count 0)."""
    result.filled_slices = tuple(_filled_slices(vol, getattr(vol, "shape", ())))
    source = vol.source if isinstance(vol, Volume) else ""
    if mask is None or np.any(result.count) or np.any(result.nan_count):
        return result
    named = f" {mask.source}" if isinstance(mask, Volume) and mask.source else ""
    _warn_user(
        f"lazyvol: the mask{named} selects no voxel (zero or NaN everywhere on the volume's "
        f"grid): every statistic of {source or 'the data'} is over nothing (count 0); check the "
        "mask (a label image's label, a threshold)",
        RuntimeWarning,
    )
    return result


def _mask_on_grid(
    data: da.Array, affine: FloatArray | None, source: str, mask: Volume | da.Array | npt.ArrayLike
) -> da.Array:
    """The mask checked against the data's grid, chunked like the data's first axes (a mask of
    fewer axes applies to every index of the others)."""
    mask = xarray_dask(mask)
    if isinstance(mask, Volume | da.Array | np.ndarray):
        check_mask_dtype(mask.dtype, mask.source if isinstance(mask, Volume) else "")
    else:
        _not_a_path(mask, "mask=")
        check_mask_dtype(np.asarray(mask).dtype)
    mdata, maff, msource = _as_dask(mask)
    # A mask saved as one volume of a 4D image (X, Y, Z, 1) is the 3D mask (X, Y, Z): over every
    # volume of a series, as a 3D one (it was refused as "not on the grid").
    while mdata.ndim > 3 and mdata.shape[-1] == 1 and mdata.ndim >= data.ndim:
        mdata = mdata[..., 0]
    # The same voxels in another axis order or direction (a mask dcm2niix, FSL or ANTs wrote of
    # this series): taken in the volume's order, exactly (no resampling).
    reorder = axis_reorder(data.shape, affine, mdata.shape, maff)
    if reorder is not None:
        axes, flipped = reorder
        mdata = da.flip(mdata.transpose(axes), flipped) if flipped else mdata.transpose(axes)
    else:
        check_same_grid(data.shape, affine, mdata.shape, maff, source=source, mask_source=msource)
    # A mask of fewer axes (3D on a 4D series) is not broadcast here: a block task broadcasts
    # its block (a view). Broadcast and rechunked in dask, every block of the series had a mask
    # block of its own, materialised by cheap tasks that ran ahead of the reads and were held
    # until their data block came: memory grew with the number of volumes.
    out: da.Array = mdata.rechunk(data.chunks[: mdata.ndim])
    return out


def _hist_range(merged: Part, req: StatsRequest, dtype: np.dtype[Any]) -> HistRange:
    """The histogram range: the user's, else the data's finite min..max in the data's dtype."""
    if req.range is not None:
        return req.range
    lo_hi = global_range(merged)
    if lo_hi is None:
        return (0.0, 1.0)
    # numpy.histogram's default range is (a.min(), a.max()) as scalars of a's dtype; the edges (and
    # so the binning) depend on that, so keep the same scalars.
    return (dtype.type(lo_hi[0]), dtype.type(lo_hi[1]))


def _binning(
    merged: Part, req: StatsRequest, dtype: np.dtype[Any]
) -> tuple[FloatArray | None, tuple[Bins, HistRange | None] | None]:
    """The histogram's bin edges, and how a pass bins values into them: ``(bins, range)`` as
    numpy's histogram takes them (None, None without a histogram).

    Where numpy cannot split the range in the data's dtype -- a constant too large for its +-0.5
    to show (3e38 in float32), or a span that overflows (-1e308..1e308) -- the edges are even
    float64 ones (:func:`~lazyvol._stats.request.wide_edges`) and values are binned by them."""
    if req.bins is None:
        return None, None
    if not isinstance(req.bins, int):
        return np.asarray(req.bins, dtype=np.float64), (req.bins, None)
    rng = _hist_range(merged, req, dtype)
    if not numpy_bins(rng, req.bins, dtype):
        edges = wide_edges(float(rng[0]), float(rng[1]), req.bins)
        return edges, (tuple(edges.tolist()), None)
    with np.errstate(over="ignore", invalid="ignore"):
        found: FloatArray = np.histogram_bin_edges(
            np.empty(0, dtype=dtype), bins=req.bins, range=rng
        )
    return found, (req.bins, rng)
