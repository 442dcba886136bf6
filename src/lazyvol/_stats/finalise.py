"""From the merged partial of every output row to a :class:`~lazyvol._stats.result.VolumeStats`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from .parts import CountsPart, FloatArray, IntArray, MomentsPart, Part, Scalar
from .percentiles import (
    Bracket,
    OrderStat,
    RankKey,
    SelectRunner,
    estimate,
    exact_select,
    lerp_numpy,
    locate,
    ranks,
)
from .request import StatsRequest
from .result import VolumeStats

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
) -> VolumeStats:
    """The result from the merged partial ``m`` (histogram ``edges``, ``passes`` made so far).

    ``run_select`` runs exact-percentile passes (floating-point data with ``exact_percentiles``).
    """
    nbins = None if edges is None else len(edges) - 1
    exact = isinstance(m, CountsPart) or req.exact_percentiles
    cols = _Columns.empty(m.k, len(req.q), nbins, "exact" if exact else "histogram")
    if isinstance(m, CountsPart):
        for r in range(m.k):
            _counts_row(cols, m, r, edges, req)
    else:
        _moments_rows(cols, m, req)
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
        cols.var[r] = float(Fraction(n * ss - s * s, n * (n - req.ddof)))
    if cols.hist is not None and edges is not None:
        sel = c > 0
        h, _ = np.histogram(vals[sel], bins=edges, weights=c[sel])
        cols.hist[r] = np.rint(h).astype(np.int64)
        cols.under[r] = int(c[vals < edges[0]].sum())
        cols.over[r] = int(c[vals > edges[-1]].sum())
    if req.q:
        cum = np.cumsum(c)
        prev, nxt, gamma = ranks(n, req.q)
        a = vals[np.searchsorted(cum, prev, side="right")].astype(req.value_dtype)
        b = vals[np.searchsorted(cum, nxt, side="right")].astype(req.value_dtype)
        cols.pct[r] = lerp_numpy(a, b, gamma)
        cols.perr[r] = 0.0


def _moments_rows(cols: _Columns, m: MomentsPart, req: StatsRequest) -> None:
    """Extremes, sum, mean, variance and histogram of every row of a moments partial."""
    for r in range(m.k):
        n = int(m.n[r])
        if n == 0:
            continue
        cols.vmin[r], cols.vmax[r] = m.vmin[r], m.vmax[r]
        s_r = m.sums[r]
        if isinstance(s_r, list):
            s_f = math.fsum(s_r)
            cols.sums[r] = s_f
            cols.mean[r] = s_f / n if math.isfinite(s_f) else m.mean[r]
        else:
            cols.sums[r] = s_r
            cols.mean[r] = float(Fraction(s_r, n))
        if n - req.ddof > 0:
            cols.var[r] = float(m.m2[r]) / (n - req.ddof)
        if cols.hist is not None and m.hist is not None:
            cols.hist[r] = m.hist.counts[r]
            cols.under[r] = int(m.hist.under[r])
            cols.over[r] = int(m.hist.over[r])


def _moments_percentiles(
    cols: _Columns,
    m: MomentsPart,
    edges: FloatArray | None,
    req: StatsRequest,
    run_select: SelectRunner | None,
) -> int:
    """Percentiles of a moments partial (from its histogram, or exact); the extra passes made."""
    brackets: dict[RankKey, Bracket] = {}
    for r in range(m.k):
        n = int(m.n[r])
        if n == 0:
            continue
        prev, nxt, _gamma = ranks(n, req.q)
        for rank in set(prev.tolist()) | set(nxt.tolist()):
            b = locate(rank, n, m, r, edges)
            if b is not None:
                brackets[(r, rank)] = b
    order_stats: dict[RankKey, OrderStat] = {}
    extra = 0
    if req.exact_percentiles and brackets:
        assert run_select is not None
        got, extra, unresolved = exact_select(brackets, run_select)
        order_stats.update(got)
        if unresolved:
            cols.method = "histogram"
            order_stats.update(unresolved)
    elif not req.exact_percentiles:
        order_stats.update(brackets)
    for r in range(m.k):
        n = int(m.n[r])
        if n == 0:
            continue
        prev, nxt, gamma = ranks(n, req.q)
        av, bv, err = [], [], []
        for p_, x_ in zip(prev.tolist(), nxt.tolist()):
            ea, ua = estimate(order_stats, r, p_)
            eb, ub = estimate(order_stats, r, x_)
            av.append(ea)
            bv.append(eb)
            err.append(max(ua, ub))
        cast = req.value_dtype if all(e == 0 for e in err) else np.dtype(np.float64)
        cols.pct[r] = lerp_numpy(np.asarray(av).astype(cast), np.asarray(bv).astype(cast), gamma)
        cols.perr[r] = err
    return extra


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
        if not req.per_axis:
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
        std=shape_it(np.sqrt(cols.var)),
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
