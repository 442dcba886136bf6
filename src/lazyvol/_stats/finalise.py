"""From the merged partial of every output row to a :class:`~lazyvol._stats.result.VolumeStats`."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from .._warn import warn as _warn_user
from . import limits
from .bounds import spread_cap
from .parts import (
    SUM_SCALE,
    CountsPart,
    FloatArray,
    Histogram,
    IntArray,
    MomentsPart,
    Part,
    Scalar,
)
from .percentiles import (
    SelectRunner,
    estimate,
    exact_select,
    lerp_numpy,
    locate,
    ranks,
)
from .request import StatsRequest
from .result import VolumeStats
from .rows import exact_means
from .spread import Spread, spread_moments

__all__ = ["finalise"]


@dataclass
class _Columns:
    """The statistics of every output row, before shaping into a :class:`VolumeStats`."""

    vmin: list[Scalar | None]
    vmax: list[Scalar | None]
    sums: list[Scalar]
    mean: FloatArray
    var: FloatArray
    hist: IntArray | None
    under: IntArray
    over: IntArray
    pct: FloatArray
    perr: FloatArray
    method: str
    std: FloatArray | None = None  # (None: the root of ``var``)

    @classmethod
    def empty(cls, k: int, nq: int, nbins: int | None, method: str) -> _Columns:
        return cls(
            vmin=[None] * k,
            vmax=[None] * k,
            sums=[0] * k,
            mean=np.full(k, np.nan),
            var=np.full(k, np.nan),
            hist=None if nbins is None else np.zeros((k, nbins), dtype=np.int64),
            under=np.zeros(k, dtype=np.int64),
            over=np.zeros(k, dtype=np.int64),
            pct=np.full((k, nq), np.nan),
            perr=np.full((k, nq), np.nan),
            method=method,
        )


def finalise(
    m: Part,
    edges: FloatArray | None,
    req: StatsRequest,
    kshape: tuple[int, ...],
    passes: int,
    run_select: SelectRunner | None,
    spread: Spread | None = None,
) -> VolumeStats:
    """The result from the merged partial ``m`` (histogram ``edges``, ``passes`` made so far).

    ``run_select`` runs exact-percentile passes (floating-point data with ``exact_percentiles``);
    ``spread`` is the spread pass's M2 of rows whose squares passed float64.
    """
    nbins = None if edges is None else len(edges) - 1
    exact = isinstance(m, CountsPart) or req.exact_percentiles
    cols = _Columns.empty(m.k, len(req.q), nbins, "exact" if exact else "histogram")
    if isinstance(m, CountsPart):
        for r in range(m.k):
            _counts_row(cols, m, r, edges, req)
    else:
        _moments_rows(cols, m, req)
        if spread is not None:
            cols.std = np.sqrt(cols.var)
            var, std = spread_moments(m, spread.rows, spread.scale, spread.found, req.ddof)
            cols.var[spread.rows], cols.std[spread.rows] = var, std
        if not m.integer:
            _within_bounds(cols, m, req)
        if req.q:
            passes += _moments_percentiles(cols, m, edges, req, run_select)
    return _result(cols, m, edges, req, kshape, passes)


def _counts_row(
    cols: _Columns, m: CountsPart, r: int, edges: FloatArray | None, req: StatsRequest
) -> None:
    """Every statistic of row ``r`` from its exact value counts."""
    n = int(m.n[r])
    if n == 0:
        return
    c = m.counts[r]
    # (uint64 when the values pass int64's top: a constant 2**64 - 1 overflowed)
    vt = np.uint64 if int(m.offset) + len(c) - 1 > np.iinfo(np.int64).max else np.int64
    vals = np.arange(len(c), dtype=vt) + vt(m.offset)
    nzi = np.flatnonzero(c)
    vmin, vmax = int(vals[nzi[0]]), int(vals[nzi[-1]])
    cols.vmin[r], cols.vmax[r] = vmin, vmax
    mx = max(abs(vmin), abs(vmax))
    if n * mx * mx < 2**62:
        s = int(np.dot(vals, c))
        ss = int(np.dot(vals * vals, c))
    else:
        vo, co = vals.astype(object), c.astype(object)
        s, ss = int(np.dot(vo, co)), int(np.dot(vo * vo, co))
    cols.sums[r] = s
    cols.mean[r] = float(Fraction(s, n))
    if n - req.ddof > 0:
        # (Fraction of a float ddof is exact: numpy takes 1.5 too)
        cols.var[r] = float(Fraction(n * ss - s * s) / (n * (n - Fraction(req.ddof))))
    if cols.hist is not None and edges is not None:
        sel = c > 0
        h, _ = np.histogram(vals[sel], bins=edges, weights=c[sel])
        cols.hist[r] = np.rint(h).astype(np.int64)
        cols.under[r] = int(c[vals < edges[0]].sum())
        cols.over[r] = int(c[vals > edges[-1]].sum())
    if req.q:
        cum = np.cumsum(c)
        prev, nxt, gamma = ranks(n, req.q)
        a = vals[np.searchsorted(cum, prev, side="right")]
        b = vals[np.searchsorted(cum, nxt, side="right")]
        cols.pct[r] = lerp_numpy(a, b, gamma)  # in float64 (not the data's dtype, where it wraps)
        cols.perr[r] = 0.0


def _moments_rows(cols: _Columns, m: MomentsPart, req: StatsRequest) -> None:
    """Extremes, sum, mean, variance and histogram of every row of a moments partial."""
    if cols.hist is not None and m.hist is not None:  # (rows x bins: not copied)
        cols.hist, cols.under, cols.over = m.hist.counts, m.hist.under, m.hist.over
    has = m.n > 0
    cols.vmin, cols.vmax = _values(m.vmin, has), _values(m.vmax, has)
    if m.integer:
        cols.sums = m.sums.tolist()
        cols.mean = np.where(has, exact_means(m.sums, m.n)[0], np.nan)
    else:
        sums, mean = _float_sum_mean(m)
        cols.sums, cols.mean = sums.tolist(), np.where(has, mean, np.nan)
    dof = m.n - req.ddof
    with np.errstate(divide="ignore", invalid="ignore"):
        cols.var = np.where(has & (dof > 0), m.m2 / dof, np.nan)
    # Every value the same: the mean is that value and the spread 0 exactly (the rounding of
    # float sums gave 0.29999999999999993 for 0.3, and a std of 7e-18 by chunking).
    same = has & np.equal(m.vmin, m.vmax).astype(np.bool_)
    if not m.integer:
        same &= np.isfinite(m.vmin)
    cols.mean = np.where(same, m.vmin, cols.mean).astype(np.float64)
    cols.var = np.where(same & (dof > 0), 0.0, cols.var)


def _within_bounds(cols: _Columns, m: MomentsPart, req: StatsRequest) -> None:
    """Hold each row's rounded mean and spread within what its extremes bound exactly
    (:mod:`~lazyvol._stats.bounds`): at the edge of float64's range a rounding past them made a
    spread of exactly ``max`` ``inf``, a mean fall below every value."""
    with np.errstate(invalid="ignore"):
        lo, hi = m.vmin.astype(np.float64), m.vmax.astype(np.float64)
        rows = np.flatnonzero((m.n > 0) & np.isfinite(lo) & np.isfinite(hi))
    if not len(rows):
        return
    lo, hi = lo[rows], hi[rows]
    cols.mean[rows] = np.clip(cols.mean[rows], lo, hi)
    cap = spread_cap(lo, hi, m.n[rows], req.ddof)
    with np.errstate(over="ignore", invalid="ignore"):
        var_cap = np.nextafter(cap * cap, np.inf)
        cols.var[rows] = np.where(cols.var[rows] > var_cap, var_cap, cols.var[rows])
        if cols.std is not None:
            cols.std[rows] = np.where(cols.std[rows] > cap, cap, cols.std[rows])


def _values(x: npt.NDArray[Any], has: npt.NDArray[np.bool_]) -> list[Scalar | None]:
    """Extremes as Python numbers, None where a row has no value."""
    out = x.astype(object)
    out[~has] = None
    values: list[Scalar | None] = out.tolist()
    return values


def _float_sum_mean(m: MomentsPart) -> tuple[FloatArray, FloatArray]:
    """Sum and mean of floating-point rows from their sums (TwoSum pairs, scaled past float64).

    Infinite values decide the mean (+inf and -inf both present: NaN, as numpy gives); finite
    values whose sum passes float64 have a finite mean (their sum, scaled, over the count) and
    an infinite sum."""
    n = np.maximum(m.n, 1)
    with np.errstate(over="ignore", invalid="ignore"):
        total = m.sums + m.sum_lo
        mean = np.where(m.scaled, total / n * SUM_SCALE, total / n)
        total = np.where(m.scaled, total * SUM_SCALE, total)
        lo, hi = m.vmin.astype(np.float64), m.vmax.astype(np.float64)
    inf_lo, inf_hi = lo == -np.inf, hi == np.inf
    mean = np.where(inf_lo & inf_hi, np.nan, np.where(inf_hi, hi, np.where(inf_lo, lo, mean)))
    return total, mean


def _moments_percentiles(
    cols: _Columns,
    m: MomentsPart,
    edges: FloatArray | None,
    req: StatsRequest,
    run_select: SelectRunner | None,
) -> int:
    """Percentiles of a moments partial (from its histogram, or exact); the extra passes made.

    Every row's order statistics are handled together as arrays (many rows: per slice). Without
    exact passes each row stands alone, so rows are taken in groups of at most
    :data:`~lazyvol._stats.limits.PIECE` order statistics: locating them holds some 150 bytes
    each, which for per-voxel statistics (up to two per row and percentile) was gigabytes."""
    rows = np.flatnonzero(m.n > 0)
    if not len(rows):
        return 0
    vmin = np.where(m.n > 0, m.vmin, np.nan).astype(np.float64)
    vmax = np.where(m.n > 0, m.vmax, np.nan).astype(np.float64)
    if req.exact_percentiles:  # the passes are shared by every row
        return _rows_percentiles(cols, rows, rows, m.n, vmin, vmax, m.hist, edges, req, run_select)
    step = max(1, limits.PIECE // (2 * len(req.q)))
    for start in range(0, len(rows), step):
        at = rows[start : start + step]
        hist = m.hist
        if hist is not None:
            hist = Histogram(hist.counts[at], hist.under[at], hist.over[at])
        local = np.arange(len(at))
        _rows_percentiles(cols, at, local, m.n[at], vmin[at], vmax[at], hist, edges, req, None)
    return 0


def _rows_percentiles(
    cols: _Columns,
    out: IntArray,
    rows: IntArray,
    n: IntArray,
    vmin: FloatArray,
    vmax: FloatArray,
    hist: Histogram | None,
    edges: FloatArray | None,
    req: StatsRequest,
    run_select: SelectRunner | None,
) -> int:
    """Percentiles of ``rows`` (indices into ``n``, ``vmin``, ``vmax``, ``hist``) into the rows
    ``out`` of ``cols``; the extra passes made (exact percentiles: ``rows`` are the partial's)."""
    prev, nxt, gamma = ranks(n[rows], req.q)  # (rows, q)
    # the distinct (row, rank) pairs: a row's rank r is key row * span + r
    span = int(n[rows].max()) + 1
    pairs = _distinct(
        np.concatenate(
            [(rows[:, None] * span + prev).ravel(), (rows[:, None] * span + nxt).ravel()]
        )
    )
    # The default range spans the finite values; explicit edges may not (bins=[...]).
    default = req.range is None and isinstance(req.bins, int)
    br, value = locate(pairs // span, pairs % span, n, vmin, vmax, hist, edges, default)
    err = np.where(np.isnan(value), np.inf, 0.0)
    todo = np.isnan(value)
    extra = 0
    if req.exact_percentiles:
        assert run_select is not None
        budget = limits.exact_budget(len(n), 0 if hist is None else hist.nbins)
        got, got_value, extra, unresolved = exact_select(
            br.take(todo), run_select, req.kind, budget
        )
        value[got], err[got] = got_value, 0.0
        if len(unresolved):
            cols.method = "histogram"
            _warn_user(
                f"lazyvol: exact percentiles asked for, but {len(unresolved)} order "
                f"statistic(s) were not settled in {limits.MAX_EXACT_PASSES} passes over their "
                "values (a value range far wider than the values' spacing, e.g. one fill value "
                "near the dtype's maximum): those percentiles are histogram estimates, their "
                "bound in result.percentile_error (result.percentile_method is 'histogram'); "
                "mask the outliers or pass range= to settle them",
                RuntimeWarning,
            )
        br = unresolved
    else:
        br = br.take(todo)
    value[br.key], err[br.key] = estimate(br)
    value, err = _clamped(value, err, pairs // span, pairs % span, n, vmin, vmax)
    a = np.searchsorted(pairs, rows[:, None] * span + prev)
    b = np.searchsorted(pairs, rows[:, None] * span + nxt)
    cols.pct[out] = lerp_numpy(value[a], value[b], gamma)
    # an order statistic weighted 0 by the interpolation adds no error
    cols.perr[out] = np.where(
        gamma == 0, err[a], np.where(gamma == 1, err[b], np.maximum(err[a], err[b]))
    )
    return extra


def _distinct(keys: IntArray) -> IntArray:
    """The distinct ``keys``, sorted: numpy.unique's result, by a stable (radix) sort of the
    int64 keys. numpy 2.4's unique hashes integers first, and these keys (``row * span + rank``:
    even steps) are its worst case: 29 s for the 14.7 million keys of 7 percentiles of each of
    1,048,576 voxels (per-voxel statistics), where the sort takes 0.2 s."""
    ordered = np.sort(keys, kind="stable")
    first = np.ones(len(ordered), dtype=np.bool_)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    out: IntArray = ordered[first]
    return out


def _clamped(
    value: FloatArray,
    err: FloatArray,
    row: IntArray,
    rank: IntArray,
    n: IntArray,
    vmin: FloatArray,
    vmax: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """(value, error bound) of order statistics ``rank`` of rows ``row``: the known minimum and
    maximum are the first and last (and every one when they are equal); an estimate from a bin
    is kept between them."""
    lo, hi = vmin[row], vmax[row]
    first = (rank == 0) | (lo == hi)
    last = ~first & (rank == n[row] - 1)
    value = np.where(np.isnan(value), value, np.minimum(np.maximum(value, lo), hi))
    value = np.where(first, lo, np.where(last, hi, value))
    err = np.where(first | last, 0.0, err)
    return value, err


def _obj(x: list[Any]) -> npt.NDArray[np.object_]:
    arr = np.empty(len(x), dtype=object)
    arr[:] = x
    return arr


def _result(
    cols: _Columns,
    m: Part,
    edges: FloatArray | None,
    req: StatsRequest,
    kshape: tuple[int, ...],
    passes: int,
) -> VolumeStats:
    def shape_it(x: npt.NDArray[Any] | list[Any], extra: tuple[int, ...] = ()) -> Any:
        arr = _obj(x) if isinstance(x, list) else np.asarray(x)
        if not req.per_axis or not kshape:  # every axis reduced: scalars, as numpy gives
            out = arr.reshape(extra) if extra else arr.reshape(())[()]
            return out.item() if isinstance(out, np.generic) else out
        return arr.reshape(kshape + extra)

    hist = cols.hist
    return VolumeStats(
        count=shape_it(m.n),
        nan_count=shape_it(m.nan),
        nonzero=shape_it(m.nonzero),
        min=shape_it(cols.vmin),
        max=shape_it(cols.vmax),
        sum=shape_it(cols.sums),
        mean=shape_it(cols.mean),
        std=shape_it(np.sqrt(cols.var) if cols.std is None else cols.std),
        var=shape_it(cols.var),
        bin_edges=edges,
        histogram=None if hist is None else shape_it(hist, (hist.shape[1],)),
        under=shape_it(cols.under),
        over=shape_it(cols.over),
        q=req.q,
        percentiles=shape_it(cols.pct, (len(req.q),)),
        percentile_error=shape_it(cols.perr, (len(req.q),)),
        percentile_method=cols.method,
        dtype=req.dtype,
        axis=req.reduced if req.per_axis else None,
        passes=passes,
        ddof=req.ddof,
        shape=kshape if req.per_axis else (),
    )
