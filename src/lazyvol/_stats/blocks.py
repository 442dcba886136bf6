"""Block tasks: reduce one chunk of the data (and of the mask) to a typed partial.

These are the functions a dask graph runs; each takes a block, the matching mask block (or
``None``) and a small frozen spec, and returns a :class:`~lazyvol._stats.parts.CountsPart`,
:class:`~lazyvol._stats.parts.MomentsPart`, :class:`~lazyvol._stats.parts.Histogram` or
:data:`~lazyvol._stats.parts.SelectPart`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from . import limits
from .parts import (
    COLLECT,
    INTS,
    SUM_SCALE,
    BlockSpec,
    CountsPart,
    Histogram,
    MomentsPart,
    Part,
    Picked,
    SelectPart,
    SelectSpec,
)
from .rows import (
    Rows,
    add_exactly,
    exact_means,
    hist_tile,
    outer_edges,
    row_int_sums,
    shift,
)
from .spread import ScaledM2, SpreadSpec

__all__ = ["block_hist", "block_select", "block_spread", "block_stats"]

Values = npt.NDArray[Any]


def _prepare(block: Any, mblock: Any, kept: tuple[int, ...]) -> tuple[Values, Values | None, int]:
    """The block in native byte order, aligned memory and the layout pickling gives it, the
    mask block, and the number of output rows.

    Float sums round by memory layout, and a block's layout depends on the scheduler: the
    threaded one hands over the task's array as it is, processes and dask.distributed workers
    receive it unpickled (so with the mask block, which sets the layout of the arrays numpy makes
    from both). numpy sums misaligned floats through a buffered loop that rounds
    differently from the aligned one, and an unpickled block is at any byte offset; a view
    that is neither C- nor Fortran-contiguous (``vol[::2, ..., ::-1]``, a slab of a larger
    array) is unpickled C-contiguous, its values taken in another order by
    :class:`~lazyvol._stats.rows.Rows` (by stride) and by numpy's reductions (pairwise over
    contiguous lines). Without the copies, float sums, means and variances would differ in their
    last digits from the threaded scheduler's."""
    arr: Values = np.asarray(block)
    contiguous = arr.flags.c_contiguous or arr.flags.f_contiguous
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="), order="K" if contiguous else "C")
    elif not contiguous:
        arr = np.ascontiguousarray(arr)  # (as pickle.loads(pickle.dumps(arr)) gives it)
    elif not arr.flags.aligned:
        arr = arr.copy(order="K")
    mb = None if mblock is None else np.asarray(mblock)
    if mb is not None and not (mb.flags.c_contiguous or mb.flags.f_contiguous):
        mb = np.ascontiguousarray(mb)  # (the layout of results numpy computes with it)
    if mb is not None and mb.ndim < arr.ndim:  # a 3D mask of a 4D block: every volume
        mb = np.broadcast_to(mb.reshape(mb.shape + (1,) * (arr.ndim - mb.ndim)), arr.shape)
    k = int(np.prod(tuple(arr.shape[a] for a in kept), dtype=np.int64))
    return arr, mb, k


def iter_rows(
    block: Values, mblock: Values | None, kept: tuple[int, ...]
) -> Iterator[tuple[int, Values]]:
    """Yield ``(row, values)``: the in-mask values of each output row of the block, 1D."""
    kshape = tuple(block.shape[a] for a in kept)
    for r, pos in enumerate(np.ndindex(*kshape)):
        idx: list[int | slice] = [slice(None)] * block.ndim
        for a, p in zip(kept, pos):
            idx[a] = p
        sub = block[tuple(idx)]
        order: Literal["C", "F"] = (
            "F" if sub.flags.f_contiguous and not sub.flags.c_contiguous else "C"
        )
        v = np.ravel(sub, order=order)
        if mblock is not None:
            m = np.ravel(mblock[tuple(idx)], order=order)
            if m.dtype != np.bool_:
                m = (m != 0) & ~np.isnan(m) if m.dtype.kind in "fc" else m != 0
            v = v[m]
        yield r, v


# -- the statistics pass -------------------------------------------------------------------------


def _counted(x: Values, w: Values | None, nan: Values | None = None) -> Values | None:
    """Which values of a tile count: in the mask and (floats) not NaN (``nan``: the tile's NaNs
    when known); None for all."""
    if x.dtype.kind == "f":
        nan = np.isnan(x) if nan is None else nan
        if nan.any():
            return ~nan if w is None else w & ~nan
    return w


def block_stats(block: Any, mblock: Any, spec: BlockSpec) -> Part:
    """Dask task of the first pass: counts (integers) or moments (floats) of one block."""
    arr, mb, _k = _prepare(block, mblock, spec.kept)
    rows = Rows.of(arr, mb, spec.kept)
    if spec.kind == "int":
        counts = _block_counts(rows)
        return counts if counts is not None else _int_moments(rows)
    hist = None
    if spec.bins is not None and (spec.range is not None or not isinstance(spec.bins, int)):
        hist = Histogram.zeros(rows.k, spec.nbins)
    return _float_moments(rows, hist, spec)


def _block_counts(rows: Rows) -> CountsPart | None:
    """Value counts of every row, or None once they would pass
    :func:`~lazyvol._stats.limits.countable` (the block's span of values and rows)."""
    k, x = rows.k, rows.x
    big, small = (np.iinfo(x.dtype).max, np.iinfo(x.dtype).min)
    lo: int | None = None
    hi = 0
    for _sl, t, w in rows.tiles():
        if (w is not None and not w.any()) or not t.size:
            continue
        where = True if w is None else w
        tlo = int(np.min(t, initial=big, where=where))
        thi = int(np.max(t, initial=small, where=where))
        lo, hi = (tlo, thi) if lo is None else (min(lo, tlo), max(hi, thi))
    if lo is None:
        return CountsPart.empty(k)
    span = hi - lo + 1
    if not limits.countable(k, span):
        return None
    counts = np.zeros((k, span), dtype=np.int64)
    for sl, t, w in rows.tiles(span):
        cells = shift(t, lo, span)
        flat = cells.ravel() if w is None else cells[w]
        counts[sl] += np.bincount(flat, minlength=t.shape[0] * span).reshape(-1, span)
    counts = rows.put(counts)
    n = counts.sum(axis=1)
    nonzero = n - counts[:, -lo] if lo <= 0 <= hi else n.copy()
    return CountsPart(offset=lo, counts=counts, n=n, nan=np.zeros(k, np.int64), nonzero=nonzero)


def _extremes(part: MomentsPart, sl: slice, t: Values, ok: Values | None, fill: Any) -> None:
    """Fold the tile's extremes into lines ``sl`` (``fill``: the empty min and max)."""
    where = True if ok is None else ok
    part.vmin[sl] = np.minimum(part.vmin[sl], np.min(t, axis=1, initial=fill[0], where=where))
    part.vmax[sl] = np.maximum(part.vmax[sl], np.max(t, axis=1, initial=fill[1], where=where))


def _int_moments(rows: Rows) -> MomentsPart:
    """Integer rows too spread out to count values: exact sums, and M2 from each value's
    deviation from an integer near the row's mean, exact in integers (int64 values beyond 2**53
    would round first). Integers of at most 32 bits in rows of fewer than limits.NATIVE_MAX_N values
    give native moments (int64 sums and extremes), others Python ints."""
    k, dt = rows.k, rows.x.dtype
    info = np.iinfo(dt)
    native = dt.itemsize <= 4 and rows.x.shape[1] < limits.NATIVE_MAX_N
    part = MomentsPart.empty(k, integer=True, native=native)
    part.vmin, part.vmax = np.full(k, info.max, dtype=dt), np.full(k, info.min, dtype=dt)
    for sl, t, w in rows.tiles():
        part.n[sl] += t.shape[1] if w is None else np.count_nonzero(w, axis=1)
        tz = t if w is None else np.where(w, t, 0)
        part.nonzero[sl] += np.count_nonzero(tz, axis=1)
        if native:  # |sum| <= n * 2**32 < 2**63
            part.sums[sl] += np.sum(tz, axis=1, dtype=np.int64)
        else:
            part.sums[sl] = part.sums[sl] + row_int_sums(tz)
        _extremes(part, sl, t, w, (info.max, info.min))
    part.mean, part.mean_lo, floor = exact_means(part.sums, part.n)
    pivot = np.array(floor, dtype=dt)
    part.m2 = _int_m2(rows, part, pivot)
    empty = part.n == 0
    if native:
        part.vmin, part.vmax = part.vmin.astype(np.int64), part.vmax.astype(np.int64)
        part.vmin[empty] = part.vmax[empty] = 0
    else:
        part.vmin, part.vmax = part.vmin.astype(object), part.vmax.astype(object)
        part.vmin[empty] = part.vmax[empty] = None
    part.fmin, part.fmax = part.vmin, part.vmax
    return _in_row_order(rows, part)


def _int_m2(rows: Rows, part: MomentsPart, pivot: Values) -> npt.NDArray[np.float64]:
    """M2 of integer rows (extremes still in the data's dtype) from deviations from ``pivot``,
    each row's floor(mean)."""
    k, dt = rows.k, rows.x.dtype
    d_sum, d_sq = np.zeros(k), np.zeros(k)
    wide = None
    if dt.itemsize == 8:  # deviations exact while a row spans less than 2**63 (else from the mean)
        vmin, vmax = part.vmin.astype(object), part.vmax.astype(object)
        wide = np.array([hi - lo >= 1 << 63 for lo, hi in zip(vmin.tolist(), vmax.tolist())], bool)
    for sl, t, w in rows.tiles():
        if wide is None:
            d = (t.astype(np.int64) - pivot[sl, None]).astype(np.float64)
        else:
            d = (t.view(np.uint64) - pivot[sl, None].view(np.uint64)).view(np.int64)
            d = d.astype(np.float64)
            if wide[sl].any():
                far = t.astype(np.float64) - part.mean[sl, None]
                d = np.where(wide[sl, None], far, d)
        if w is not None:
            d = np.where(w, d, 0.0)
        d_sq[sl] += np.einsum("ij,ij->i", d, d)
        d_sum[sl] += d.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        m2: npt.NDArray[np.float64] = np.where(
            part.n > 0, np.maximum(d_sq - d_sum * d_sum / part.n, 0.0), 0.0
        )
    return m2


def _in_row_order(rows: Rows, part: MomentsPart) -> MomentsPart:
    """A partial computed line by line, its arrays put in row order."""
    if rows.order is None:
        return part
    for f in dataclasses.fields(part):
        x = getattr(part, f.name)
        if isinstance(x, np.ndarray):
            setattr(part, f.name, rows.put(x))
    if part.hist is not None:
        h = part.hist
        part.hist = Histogram(rows.put(h.counts), rows.put(h.under), rows.put(h.over))
    return part


def _float_moments(rows: Rows, hist: Histogram | None, spec: BlockSpec) -> MomentsPart:
    """Floating-point rows: counts, extremes, sums (TwoSum, scaled past float64), mean and M2
    (corrected two-pass, float64), and the histogram when its range is known."""
    k, dt = rows.k, rows.x.dtype
    part = MomentsPart.empty(k, integer=False, vdtype=np.promote_types(dt, np.float64))
    part.hist = hist
    part.vmin, part.vmax = np.full(k, np.inf, dtype=dt), np.full(k, -np.inf, dtype=dt)
    binning = None if hist is None else _hist_binning(spec, dt)
    cells = 0 if hist is None else hist.nbins
    with np.errstate(over="ignore", invalid="ignore"):
        for sl, t, w in rows.tiles(cells):
            nan = np.isnan(t)
            if nan.any():
                part.nan[sl] += np.count_nonzero(nan if w is None else nan & w, axis=1)
            ok = _counted(t, w, nan)
            part.n[sl] += t.shape[1] if ok is None else np.count_nonzero(ok, axis=1)
            tz = t if ok is None else np.where(ok, t, 0)
            part.nonzero[sl] += np.count_nonzero(tz, axis=1)
            s = np.asarray(np.sum(tz, axis=1, dtype=np.float64))
            part.sums[sl], lo = add_exactly(part.sums[sl], s)
            part.sum_lo[sl] += lo
            _extremes(part, sl, t, ok, (np.inf, -np.inf))
            if binning is not None and hist is not None:
                hist_tile(hist, sl, t, ok, *binning)
    # an infinity counted is an extreme of its row
    any_inf = bool((np.isinf(part.vmin) | np.isinf(part.vmax))[part.n > 0].any())
    _finite_extremes(rows, part, any_inf)
    _float_means(rows, part)
    _float_m2(rows, part, nan_free=not part.nan.any())
    return _in_row_order(rows, part)


def _hist_binning(spec: BlockSpec, dtype: np.dtype[Any]) -> tuple[Values, tuple[Any, Any] | None]:
    """The bin edges ``numpy.histogram`` uses for ``spec`` on data of ``dtype`` (the same
    whatever the values), and the outer edges of even bins (None: explicit edges)."""
    if isinstance(spec.bins, int):
        assert spec.range is not None
        with np.errstate(over="ignore", invalid="ignore"):
            edges = np.histogram_bin_edges(np.empty(0, dtype), bins=spec.bins, range=spec.range)
        return edges, outer_edges(spec.range)
    return np.asarray(spec.bins, dtype=np.float64), None


def _finite_extremes(rows: Rows, part: MomentsPart, any_inf: bool) -> None:
    """The extremes in float64 (NaN: none), and the finite ones (a second look at the tiles
    only when there are infinities)."""
    vdt = part.fmin.dtype
    fmin, fmax = part.vmin, part.vmax
    if any_inf:
        fmin, fmax = np.full_like(part.vmin, np.inf), np.full_like(part.vmax, -np.inf)
        for sl, t, w in rows.tiles():
            ok = _counted(t, w)
            fin = np.isfinite(t) if ok is None else ok & np.isfinite(t)
            fmin[sl] = np.minimum(fmin[sl], np.min(t, axis=1, initial=np.inf, where=fin))
            fmax[sl] = np.maximum(fmax[sl], np.max(t, axis=1, initial=-np.inf, where=fin))
    empty = part.n == 0
    part.vmin, part.vmax = part.vmin.astype(vdt), part.vmax.astype(vdt)
    part.vmin[empty] = part.vmax[empty] = np.nan
    part.fmin = np.where(np.isinf(fmin) | empty, np.nan, fmin).astype(vdt)
    part.fmax = np.where(np.isinf(fmax) | empty, np.nan, fmax).astype(vdt)


def _float_means(rows: Rows, part: MomentsPart) -> None:
    """Each row's mean from its sum; finite values whose sum passes float64 are summed again
    scaled down by SUM_SCALE (their mean does not overflow)."""
    n = part.n
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        total = part.sums + part.sum_lo
        part.mean = np.where(n > 0, total / n, 0.0)
        over = ~np.isfinite(total) & np.isfinite(part.fmin) & (part.fmin == part.vmin)
        over &= part.fmax == part.vmax
        if not over.any():
            return
        hi, lo = np.zeros(part.k), np.zeros(part.k)
        for sl, t, w in rows.tiles():
            ok = _counted(t, w)
            tz = t.astype(np.float64) / SUM_SCALE
            s = np.sum(tz if ok is None else np.where(ok, tz, 0.0), axis=1)
            hi[sl], err = add_exactly(hi[sl], s)
            lo[sl] += err
        part.sums[over], part.sum_lo[over], part.scaled[over] = hi[over], lo[over], True
        part.mean[over] = (hi[over] + lo[over]) / n[over] * SUM_SCALE


def _float_m2(rows: Rows, part: MomentsPart, nan_free: bool) -> None:
    """M2 by the corrected two-pass formula (float64 deviations from the mean), and the
    deviations' own mean: what rounding left off the mean (``nan_free``: no NaN to leave out)."""
    n, mean = part.n, part.mean
    d_sq, d_sum = np.zeros(part.k), np.zeros(part.k)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for sl, t, w in rows.tiles():
            ok = w if nan_free else _counted(t, w)
            d = t.astype(np.float64)
            d -= mean[sl, None]
            if ok is not None:
                d = np.where(ok, d, 0.0)
            # einsum, not np.dot: BLAS rounds by its thread count, so a dask worker (one BLAS
            # thread) and this process would disagree in the last digits
            d_sq[sl] += np.einsum("ij,ij->i", d, d)
            d_sum[sl] += d.sum(axis=1)
        m2 = np.where(np.isinf(d_sq), np.inf, np.maximum(d_sq - d_sum * d_sum / n, 0.0))
        good = np.isfinite(mean) & (n > 0)
        part.m2 = np.where(good, m2, np.where(n > 0, np.nan, 0.0))
        part.mean_lo = np.where(good & np.isfinite(d_sum), d_sum / n, 0.0)


# -- the spread pass (M2 of finite values whose squares pass float64) ---------------------------


def block_spread(block: Any, mblock: Any, spec: SpreadSpec) -> ScaledM2:
    """Dask task of the spread pass: the scaled squared deviations of one block's rows."""
    arr, mb, _k = _prepare(block, mblock, spec.kept)
    rows = Rows.of(arr, mb, spec.kept)
    mean, scale = spec.mean, spec.scale
    if rows.order is not None:
        mean, scale = mean[rows.order], scale[rows.order]
    shifted = mean * scale  # (exact: a power of two)
    d_sq, d_sum = np.zeros(rows.k), np.zeros(rows.k)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for sl, t, w in rows.tiles():
            ok = _counted(t, w)
            d = t.astype(np.float64) * scale[sl, None]
            d -= shifted[sl, None]
            if ok is not None:
                d = np.where(ok, d, 0.0)
            d_sq[sl] += np.einsum("ij,ij->i", d, d)  # (not BLAS: see _float_m2)
            d_sum[sl] += d.sum(axis=1)
    return ScaledM2(rows.put(d_sq), rows.put(d_sum))


# -- the histogram pass (floating-point data without a known range) ------------------------------


def block_hist(block: Any, mblock: Any, spec: BlockSpec) -> Histogram:
    """Dask task of the second pass: the histogram of one block."""
    arr, mb, _k = _prepare(block, mblock, spec.kept)
    rows = Rows.of(arr, mb, spec.kept)
    hist = Histogram.zeros(rows.k, spec.nbins)
    binning = _hist_binning(spec, arr.dtype)
    for sl, t, w in rows.tiles(hist.nbins):
        hist_tile(hist, sl, t, _counted(t, w), *binning)
    return Histogram(rows.put(hist.counts), rows.put(hist.under), rows.put(hist.over))


# -- exact percentile passes ---------------------------------------------------------------------


def block_select(block: Any, mblock: Any, spec: SelectSpec) -> SelectPart:
    """For each target interval: its extremes and its values (COLLECT) or counts by sub-bin.

    Each row with targets is sorted once (NaNs go last and are never inside an interval); every
    interval and sub-bin is then a slice of it, found by binary search."""
    arr, mb, _k = _prepare(block, mblock, spec.kept)
    t_n = len(spec.rows)
    out = Picked(
        np.zeros(t_n, np.int64),
        np.zeros(t_n, arr.dtype),
        np.zeros(t_n, arr.dtype),
        np.zeros(spec.nsubs, np.int64),
    )
    bounds = _Bounds(spec, arr.dtype)
    starts = np.searchsorted(spec.rows, np.arange(_k + 1))
    pieces: list[Values] = []
    for r, v in iter_rows(arr, mb, spec.kept):
        a, b = int(starts[r]), int(starts[r + 1])
        if a < b:
            pieces.extend(_select_row(np.sort(v), a, b, spec, bounds, out))
    collect = np.where(spec.mode == COLLECT, out.n, 0)
    if collect.any():
        out.values = [(np.concatenate(pieces), collect)]
    return out


class _Bounds:
    """The targets' bounds and edges as keys in the data's dtype, each keeping the float64 bound's
    meaning (``x >= lo`` and ``x < hi`` or ``x <= hi``, ``x`` taken as float64) for a search in
    sorted values. Integer values are compared as float64, as the histogram binned them."""

    def __init__(self, spec: SelectSpec, dtype: np.dtype[Any]) -> None:
        self.search_f64 = dtype.kind != "f"
        conv = (lambda x, _up: x) if self.search_f64 else (lambda x, up: _directed(x, dtype, up))
        self.lo = conv(spec.lo, True)
        self.hi_open = conv(spec.hi, True)
        self.hi_closed = conv(spec.hi, False)
        self.edges = conv(spec.edge_values(), True)
        # each edge's target, and where the count of the sub-bin it opens goes (-1: a last edge)
        self.edge_at = spec.edge_at
        nedge = np.diff(self.edge_at)
        self.edge_tid = np.repeat(np.arange(len(nedge)), nedge)
        last = np.zeros(len(self.edge_tid), dtype=np.bool_)
        last[self.edge_at[1:][nedge > 0] - 1] = True
        local = np.arange(len(self.edge_tid)) - self.edge_at[:-1][self.edge_tid]
        self.edge_dest = np.where(last, -1, spec.sub_at[self.edge_tid] + local)
        self.ints = np.flatnonzero(spec.mode == INTS)


def _directed(x: npt.NDArray[np.float64], dtype: np.dtype[Any], up: bool) -> Values:
    """``x`` as values of a floating-point ``dtype``, rounded up (the least not below ``x``) or
    down (the greatest not above): then ``v >= x`` is ``v >= up`` and ``v <= x`` is ``v <= down``
    for any ``v`` of that dtype (numpy 2 would compare a float32 array with a float64 scalar in
    float32, and an interval finer than float32 would select nothing)."""
    with np.errstate(over="ignore"):
        y = x.astype(dtype)
    wrong = (y < x) if up else (y > x)
    if wrong.any():
        y[wrong] = np.nextafter(y[wrong], dtype.type(np.inf if up else -np.inf))
    return y


def _select_row(
    sv: Values, a: int, b: int, spec: SelectSpec, bnd: _Bounds, out: Picked
) -> list[Values]:
    """Fill targets ``a:b`` (one row's) of ``out`` from the row's sorted values ``sv``; the values
    the row's COLLECT targets hold, in target order."""
    keys = sv.astype(np.float64) if bnd.search_f64 else sv
    lo = np.searchsorted(keys, bnd.lo[a:b], side="left")
    hi = np.where(
        spec.closed[a:b],
        np.searchsorted(keys, bnd.hi_closed[a:b], side="right"),
        np.searchsorted(keys, bnd.hi_open[a:b], side="left"),
    )
    n = np.maximum(hi - lo, 0)
    out.n[a:b] += n
    some = np.flatnonzero(n)
    out.vmin[a + some] = sv[lo[some]]
    out.vmax[a + some] = sv[hi[some] - 1]
    e0, e1 = int(bnd.edge_at[a]), int(bnd.edge_at[b])
    if e1 > e0:  # sub-bin j of a target: from edge j to edge j + 1; its last ends where it ends
        pos = np.searchsorted(keys, bnd.edges[e0:e1], side="left")
        dest = bnd.edge_dest[e0:e1]
        ends = dest < 0
        pos[ends] = hi[bnd.edge_tid[e0:e1][ends] - a]
        inner = dest[:-1] >= 0
        out.sub[dest[:-1][inner]] += np.diff(pos)[inner]
    for t in bnd.ints[np.searchsorted(bnd.ints, a) : np.searchsorted(bnd.ints, b)].tolist():
        if n[t - a]:  # one integer a sub-bin (exact offsets, any integer dtype)
            offsets = shift(sv[lo[t - a] : hi[t - a]], int(spec.first[t]))
            s = int(spec.sub_at[t])
            out.sub[s : s + int(spec.nsub[t])] += np.bincount(offsets, minlength=int(spec.nsub[t]))
    take = np.flatnonzero((spec.mode[a:b] == COLLECT) & (n > 0)).tolist()
    if not take:
        return []
    return [np.concatenate([sv[lo[i] : hi[i]] for i in take])]  # a copy: sv is not kept
