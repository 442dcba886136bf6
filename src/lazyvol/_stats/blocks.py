"""Block tasks: reduce one chunk of the data (and of the mask) to a typed partial.

These are the functions a dask graph runs; each takes a block, the matching mask block (or
``None``) and a small frozen spec, and returns a :class:`~lazyvol._stats.parts.CountsPart`,
:class:`~lazyvol._stats.parts.MomentsPart`, :class:`~lazyvol._stats.parts.Histogram` or
:data:`~lazyvol._stats.parts.SelectPart`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from . import limits
from .parts import (
    COLLECT,
    INTS,
    BlockSpec,
    CountsPart,
    Histogram,
    IntArray,
    MomentsPart,
    Part,
    Picked,
    SelectPart,
    SelectSpec,
)

__all__ = ["block_hist", "block_select", "block_stats", "int_sum", "value_counts"]

Values = npt.NDArray[Any]


def _prepare(block: Any, mblock: Any, kept: tuple[int, ...]) -> tuple[Values, Values | None, int]:
    """The block in native byte order, the mask block, and the number of output rows."""
    arr: Values = np.asarray(block)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    mb = None if mblock is None else np.asarray(mblock)
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


def _drop_nan(v: Values) -> Values:
    nanm = np.isnan(v)
    return v[~nanm] if nanm.any() else v


def pieces(v: Values) -> Iterator[Values]:
    """Consecutive pieces of at most :data:`~lazyvol._stats.limits.PIECE` elements."""
    for s in range(0, v.size, limits.PIECE):
        yield v[s : s + limits.PIECE]


def int_sum(v: Values) -> int:
    """Exact sum of an integer array as a Python int (no overflow for any integer dtype)."""
    if v.size == 0:
        return 0
    if v.dtype.itemsize < 8:
        acc = np.uint64 if v.dtype.kind == "u" else np.int64
        return sum(int(np.sum(p, dtype=acc)) for p in pieces(v))
    total = 0
    for p in pieces(v):
        u = p.view(np.uint64)
        lo = int(np.sum(u & np.uint64(0xFFFFFFFF), dtype=np.uint64))
        hi_bits = u >> np.uint64(32)
        if v.dtype.kind == "i":
            hi = int(np.sum(hi_bits.view(np.int64) - np.where(p < 0, 1 << 32, 0), dtype=np.int64))
        else:
            hi = int(np.sum(hi_bits, dtype=np.uint64))
        total += (hi << 32) + lo
    return total


def value_counts(v: Values) -> tuple[int, IntArray] | None:
    """(offset, counts) of an integer/bool array: ``counts[i] = #(v == offset + i)``.

    None when the values span more than :data:`~lazyvol._stats.limits.MAX_COUNT_SPAN`.
    """
    if v.dtype == np.bool_:
        v = v.view(np.uint8)
    lo = int(v.min())
    hi = int(v.max())
    span = hi - lo + 1
    if span > limits.MAX_COUNT_SPAN:
        return None
    counts = np.zeros(span, dtype=np.int64)
    small = v.dtype.itemsize <= 2
    for p in pieces(v):
        if small and lo >= 0:
            counts += np.bincount(p, minlength=lo + span)[lo:]
        else:
            offsets = (p.astype(np.int64) - lo) if small else _shift(p, lo)
            counts += np.bincount(offsets, minlength=span)
    return lo, counts


def _shift(p: Values, lo: int) -> IntArray:
    # Wide integers: the span fits in int64 here (span <= MAX_COUNT_SPAN), so a wrapping subtraction
    # in uint64 and a view as int64 give the exact offsets.
    return (p.astype(np.uint64) - np.uint64(lo % (1 << 64))).view(np.int64)


# -- the statistics pass -------------------------------------------------------------------------


def block_stats(block: Any, mblock: Any, spec: BlockSpec) -> Part:
    """Dask task of the first pass: counts (integers) or moments (floats) of one block."""
    arr, mb, k = _prepare(block, mblock, spec.kept)
    if spec.kind == "int":
        return _block_counts(arr, mb, spec, k)
    part = MomentsPart.empty(k, integer=False)
    if spec.bins is not None and (spec.range is not None or not isinstance(spec.bins, int)):
        part.hist = Histogram.zeros(k, spec.nbins)
    for r, v in iter_rows(arr, mb, spec.kept):
        nanm = np.isnan(v)
        n_nan = int(np.count_nonzero(nanm))
        if n_nan:
            v = v[~nanm]
        part.nan[r] = n_nan
        moments_row(part, r, v)
        if part.hist is not None:
            hist_row(part.hist, r, v, spec)
    return part


def _block_counts(block: Values, mb: Values | None, spec: BlockSpec, k: int) -> Part:
    """Value counts of every row, or moments once the counts would pass
    :func:`~lazyvol._stats.limits.countable` (checked as rows come, so the rows' counts held
    meanwhile stay within it too)."""
    rows: list[tuple[int, IntArray] | None] = []
    lo: int | None = None
    hi = 0
    for _r, v in iter_rows(block, mb, spec.kept):
        vc = value_counts(v) if v.size else None
        if v.size and vc is None:
            return _block_moments(block, mb, spec, k)
        if vc is not None:
            o, c = vc
            lo, hi = (o, o + len(c) - 1) if lo is None else (min(lo, o), max(hi, o + len(c) - 1))
            if not limits.countable(k, hi - lo + 1):
                return _block_moments(block, mb, spec, k)
        rows.append(vc)
    if lo is None:
        return CountsPart.empty(k)
    counts = np.zeros((k, hi - lo + 1), dtype=np.int64)
    for r, x in enumerate(rows):
        if x is not None:
            o, c = x
            counts[r, o - lo : o - lo + len(c)] = c
    n = counts.sum(axis=1)
    nonzero = n - counts[:, -lo] if lo <= 0 <= hi else n.copy()
    return CountsPart(offset=lo, counts=counts, n=n, nan=np.zeros(k, np.int64), nonzero=nonzero)


def _block_moments(block: Values, mb: Values | None, spec: BlockSpec, k: int) -> MomentsPart:
    """Integer rows too spread out to count values: per-row moments (exact sums)."""
    part = MomentsPart.empty(k, integer=True)
    for r, v in iter_rows(block, mb, spec.kept):
        moments_row(part, r, v)
    return part


def moments_row(part: MomentsPart, r: int, v: Values) -> None:
    """Fill row ``r`` of a moments partial from the (NaN-free) values ``v``."""
    n = int(v.size)
    part.n[r] = n
    if n == 0:
        return
    part.nonzero[r] = int(np.count_nonzero(v))
    vmin, vmax = v.min(), v.max()
    part.vmin[r] = vmin.item()
    part.vmax[r] = vmax.item()
    if v.dtype.kind in "iub":
        s = int_sum(v.view(np.uint8) if v.dtype == np.bool_ else v)
        part.sums[r] = s
        mean = float(Fraction(s, n))
        part.mean_lo[r] = float(Fraction(s, n) - Fraction(mean))
        part.fmin[r], part.fmax[r] = part.vmin[r], part.vmax[r]
    else:
        if np.isfinite(vmin) and np.isfinite(vmax):
            part.fmin[r], part.fmax[r] = float(vmin), float(vmax)
        else:
            fin = v[np.isfinite(v)]
            if fin.size:
                part.fmin[r], part.fmax[r] = float(fin.min()), float(fin.max())
        with np.errstate(over="ignore", invalid="ignore"):  # infinities: finalise settles them
            total = math.fsum(float(np.sum(p, dtype=np.float64)) for p in pieces(v))
        part.sums[r] = [total]
        mean = total / n
        if not math.isfinite(total) and part.fmin[r] == vmin and part.fmax[r] == vmax:
            # finite values whose sum overflows float64: their mean does not (divide first)
            with np.errstate(over="ignore"):
                mean = math.fsum(float(np.sum(p / np.float64(n))) for p in pieces(v))
    part.mean[r] = mean
    part.m2[r], corr = _m2(v, mean)
    if v.dtype.kind == "f" and math.isfinite(corr):
        part.mean_lo[r] = corr / n  # the deviations' own mean: what rounding left off the mean


def _m2(v: Values, mean: float) -> tuple[float, float]:
    """Sum of squared deviations from ``mean`` (corrected two-pass, float64), and the sum of the
    deviations."""
    if not math.isfinite(mean):
        return math.nan, math.nan
    m2 = 0.0
    corr = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for p in pieces(v):
            d = p.astype(np.float64).ravel() - mean
            # einsum, not np.dot: BLAS rounds by its thread count, so a dask worker (one BLAS
            # thread) and this process would disagree in the last digits
            m2 += float(np.einsum("i,i->", d, d))
            corr += float(np.sum(d))
    if math.isinf(m2):  # squares past float64 (|values| ~ 1e154): the variance is inf, as numpy's
        return math.inf, corr
    m2 -= corr * corr / v.size
    return max(m2, 0.0), corr


def hist_row(hist: Histogram, r: int, v: Values, spec: BlockSpec) -> None:
    """Add the (NaN-free) values ``v`` to row ``r`` of ``hist``."""
    if v.size == 0:
        return
    if isinstance(spec.bins, int):
        h, edges = np.histogram(v, bins=spec.bins, range=spec.range)
    else:
        h, edges = np.histogram(v, bins=np.asarray(spec.bins, dtype=np.float64))
    hist.counts[r] += h
    hist.under[r] += int(np.count_nonzero(v < edges[0]))
    hist.over[r] += int(np.count_nonzero(v > edges[-1]))


# -- the histogram pass (floating-point data without a known range) ------------------------------


def block_hist(block: Any, mblock: Any, spec: BlockSpec) -> Histogram:
    """Dask task of the second pass: the histogram of one block."""
    arr, mb, k = _prepare(block, mblock, spec.kept)
    hist = Histogram.zeros(k, spec.nbins)
    for r, v in iter_rows(arr, mb, spec.kept):
        hist_row(hist, r, _drop_nan(v) if spec.kind == "float" else v, spec)
    return hist


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
            offsets = _shift(sv[lo[t - a] : hi[t - a]], int(spec.first[t]))
            s = int(spec.sub_at[t])
            out.sub[s : s + int(spec.nsub[t])] += np.bincount(offsets, minlength=int(spec.nsub[t]))
    take = np.flatnonzero((spec.mode[a:b] == COLLECT) & (n > 0)).tolist()
    if not take:
        return []
    return [np.concatenate([sv[lo[i] : hi[i]] for i in take])]  # a copy: sv is not kept
