"""Merging partials: pairwise merges for the dask merge tree, and assembling per-group partials.

Counts partials merge by aligning their value spans (exact); once a merged span would exceed
:data:`~lazyvol._stats.limits.MAX_COUNT_SPAN` both sides become moments partials. Moments merge with
the pairwise update of Chan, Golub & LeVeque (1979).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

import numpy as np

from . import limits
from .parts import (
    CountsPart,
    GroupKey,
    Histogram,
    IntArray,
    MomentsPart,
    Part,
    RowSum,
    Scalar,
    SelectPart,
    pick_max,
    pick_min,
)

__all__ = [
    "assemble_hist",
    "assemble_stats",
    "global_range",
    "merge_hists",
    "merge_parts",
    "merge_selects",
    "to_moments",
]


def to_moments(p: Part) -> MomentsPart:
    """A moments partial from a counts partial (exact sums, exact mean/M2 rounded once)."""
    if isinstance(p, MomentsPart):
        return p
    q = MomentsPart.empty(p.k, integer=True)
    q.nan = p.nan.copy()
    q.nonzero = p.nonzero.copy()
    q.n = p.n.copy()
    for r in range(p.k):
        c = p.counts[r]
        n = int(c.sum())
        if n == 0:
            continue
        nzi = np.flatnonzero(c)
        vals = np.arange(len(c), dtype=object) + p.offset
        cs = c.astype(object)
        s = int(np.dot(vals, cs))
        ss = int(np.dot(vals * vals, cs))
        q.vmin[r] = q.fmin[r] = p.offset + int(nzi[0])
        q.vmax[r] = q.fmax[r] = p.offset + int(nzi[-1])
        q.sums[r] = s
        q.mean[r] = float(Fraction(s, n))
        q.mean_lo[r] = float(Fraction(s, n) - Fraction(q.mean[r]))
        q.m2[r] = float(Fraction(n * ss - s * s, n))
    return q


def _merge_counts(a: CountsPart, b: CountsPart) -> CountsPart | None:
    """Merged value counts, or None when the merged span would be too wide to count."""
    if a.span == 0:
        out = b.copy()
        out.nan += a.nan
        return out
    if b.span == 0:
        out = a.copy()
        out.nan += b.nan
        return out
    lo = min(a.offset, b.offset)
    hi = max(a.offset + a.span, b.offset + b.span)
    if not limits.countable(a.k, hi - lo):
        return None
    counts = np.zeros((a.k, hi - lo), dtype=np.int64)
    counts[:, a.offset - lo : a.offset - lo + a.span] += a.counts
    counts[:, b.offset - lo : b.offset - lo + b.span] += b.counts
    return CountsPart(lo, counts, a.n + b.n, a.nan + b.nan, a.nonzero + b.nonzero)


def _add_sums(x: RowSum, y: RowSum) -> RowSum:
    if isinstance(x, int) and isinstance(y, int):
        return x + y
    return _as_list(x) + _as_list(y)


def _as_list(s: RowSum) -> list[float]:
    if isinstance(s, list):
        return list(s)
    return [float(s)] if s != 0 else []


def _add_exactly(x: float, y: float) -> tuple[float, float]:
    """``x + y`` rounded, and the rounding error (Knuth's TwoSum; 0 when not finite)."""
    s = x + y
    if not math.isfinite(s):
        return s, 0.0
    bb = s - x
    return s, (x - (s - bb)) + (y - bb)


def _merge_moments(a: MomentsPart, b: MomentsPart) -> MomentsPart:
    out = MomentsPart.empty(a.k, integer=False)
    out.nan = a.nan + b.nan
    out.nonzero = a.nonzero + b.nonzero
    out.n = a.n + b.n
    for r in range(a.k):
        na, nb = int(a.n[r]), int(b.n[r])
        out.vmin[r] = pick_min(a.vmin[r], b.vmin[r])
        out.vmax[r] = pick_max(a.vmax[r], b.vmax[r])
        out.fmin[r] = pick_min(a.fmin[r], b.fmin[r])
        out.fmax[r] = pick_max(a.fmax[r], b.fmax[r])
        out.sums[r] = _add_sums(a.sums[r], b.sums[r])
        if na == 0 or nb == 0:
            src = a if nb == 0 else b
            out.mean[r], out.mean_lo[r], out.m2[r] = src.mean[r], src.mean_lo[r], src.m2[r]
            continue
        # Chan, Golub & LeVeque: pairwise update of mean and M2, the means carried with what
        # float64 leaves off them: the difference of two close means (1e9 + noise of 1e-4) is
        # exact in float64, their rounding is not. (Chunks holding infinities give inf - inf
        # here; finalise settles the mean of such rows from their extremes.)
        n = na + nb
        with np.errstate(over="ignore", invalid="ignore"):
            delta = float(b.mean[r] - a.mean[r]) + float(b.mean_lo[r] - a.mean_lo[r])
            out.mean[r], out.mean_lo[r] = _add_exactly(float(a.mean[r]), delta * (nb / n))
            out.mean_lo[r] += a.mean_lo[r]
            out.m2[r] = a.m2[r] + b.m2[r] + delta * delta * (na * nb / n)
    if a.hist is not None and b.hist is not None:
        out.hist = a.hist + b.hist
    return out


def _merge2(a: Part, b: Part) -> Part:
    if isinstance(a, CountsPart) and isinstance(b, CountsPart):
        merged = _merge_counts(a, b)
        if merged is not None:
            return merged
    return _merge_moments(to_moments(a), to_moments(b))


def merge_parts(*parts: Part) -> Part:
    """Merge statistics partials over the same rows (a node of the merge tree)."""
    out = parts[0]
    for p in parts[1:]:
        out = _merge2(out, p)
    return out


def merge_hists(*parts: Histogram) -> Histogram:
    """Sum histogram partials over the same rows (a node of the merge tree)."""
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


def merge_selects(*parts: SelectPart) -> SelectPart:
    """Merge exact-percentile partials target by target (a node of the merge tree)."""
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


def global_range(p: Part) -> tuple[Scalar, Scalar] | None:
    """The finite min and max over every row (None when there is no finite value)."""
    if isinstance(p, CountsPart):
        tot = p.counts.sum(axis=0)
        nz = np.flatnonzero(tot)
        if not nz.size:
            return None
        return p.offset + int(nz[0]), p.offset + int(nz[-1])
    lo = [x for x in p.fmin if x is not None]
    hi = [x for x in p.fmax if x is not None]
    if not lo or not hi:
        return None
    return min(lo), max(hi)  # Python ints stay exact (int64 beyond 2**53)


# -- assembling groups (each over a sub-block of rows) into one partial over all rows --------------


def assemble_stats(res: Mapping[GroupKey, Part], rows: Mapping[GroupKey, IntArray], k: int) -> Part:
    """One partial over all ``k`` rows from per-group partials (``rows[g]``: the group's rows)."""
    if len(res) == 1 and () in res:
        return res[()]
    parts = list(res.values())
    if all(isinstance(p, CountsPart) for p in parts):
        counts = {g: p for g, p in res.items() if isinstance(p, CountsPart)}
        out = _assemble_counts(counts, rows, k)
        if out is not None:
            return out
    moments = {g: to_moments(p) for g, p in res.items()}
    return _assemble_moments(moments, rows, k)


def _assemble_counts(
    res: Mapping[GroupKey, CountsPart], rows: Mapping[GroupKey, IntArray], k: int
) -> CountsPart | None:
    nonempty = [p for p in res.values() if p.span]
    lo = min((p.offset for p in nonempty), default=0)
    hi = max((p.offset + p.span for p in nonempty), default=0)
    if not limits.countable(k, hi - lo):
        return None
    out = CountsPart.empty(k)
    out.offset = lo
    out.counts = np.zeros((k, hi - lo), dtype=np.int64)
    for g, p in res.items():
        rr = rows[g]
        out.n[rr] = p.n
        out.nan[rr] = p.nan
        out.nonzero[rr] = p.nonzero
        if p.span:
            out.counts[rr, p.offset - lo : p.offset - lo + p.span] = p.counts
    return out


def _assemble_moments(
    res: Mapping[GroupKey, MomentsPart], rows: Mapping[GroupKey, IntArray], k: int
) -> MomentsPart:
    out = MomentsPart.empty(k, integer=False)
    first = next(iter(res.values())).hist
    if first is not None and all(p.hist is not None for p in res.values()):
        out.hist = Histogram.zeros(k, first.nbins)
    for g, p in res.items():
        rr = rows[g]
        out.n[rr] = p.n
        out.nan[rr] = p.nan
        out.nonzero[rr] = p.nonzero
        for i, r in enumerate(rr.tolist()):
            out.vmin[r], out.vmax[r] = p.vmin[i], p.vmax[i]
            out.fmin[r], out.fmax[r] = p.fmin[i], p.fmax[i]
            out.sums[r] = p.sums[i]
        out.mean[rr] = p.mean
        out.mean_lo[rr] = p.mean_lo
        out.m2[rr] = p.m2
        if out.hist is not None and p.hist is not None:
            _place_hist(out.hist, rr, p.hist)
    return out


def _place_hist(out: Histogram, rr: IntArray, h: Histogram) -> None:
    out.counts[rr] = h.counts
    out.under[rr] = h.under
    out.over[rr] = h.over


def assemble_hist(
    res: Mapping[GroupKey, Histogram], rows: Mapping[GroupKey, IntArray], k: int
) -> Histogram:
    """One histogram over all ``k`` rows from per-group histograms."""
    if len(res) == 1 and () in res:
        return res[()]
    out = Histogram.zeros(k, next(iter(res.values())).nbins)
    for g, h in res.items():
        _place_hist(out, rows[g], h)
    return out
