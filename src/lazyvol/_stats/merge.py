"""Merging partials: pairwise merges for the dask merge tree, and assembling per-group partials.

Counts partials merge by aligning their value spans (exact); once a merged span would exceed
:data:`~lazyvol._stats.limits.MAX_COUNT_SPAN` both sides become moments partials. Moments merge with
the pairwise update of Chan, Golub & LeVeque (1979).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from . import limits
from .parts import (
    SUM_SCALE,
    CountsPart,
    GroupKey,
    Histogram,
    IntArray,
    MomentsPart,
    Part,
    Scalar,
    SelectPart,
    defined,
    pick,
)
from .rows import add_exactly, exact_means

__all__ = [
    "assemble_hist",
    "assemble_stats",
    "exact_ints",
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
    if not p.span:
        q.nan = p.nan.copy()
        return q
    q.nan = p.nan.copy()
    q.nonzero = p.nonzero.copy()
    q.n = p.n.copy()
    vals = np.arange(p.span, dtype=object) + p.offset
    cs = p.counts.astype(object)
    s, ss = cs @ vals, cs @ (vals * vals)
    q.sums = s
    q.mean, q.mean_lo, _ = exact_means(s, q.n)
    some = p.counts != 0
    first, last = np.argmax(some, axis=1), p.span - 1 - np.argmax(some[:, ::-1], axis=1)
    for r in np.flatnonzero(q.n).tolist():
        n = int(q.n[r])
        q.vmin[r] = p.offset + int(first[r])
        q.vmax[r] = p.offset + int(last[r])
        q.m2[r] = (n * ss[r] - s[r] * s[r]) / n  # Python ints: rounded once
    q.fmin, q.fmax = q.vmin, q.vmax
    return q


def exact_ints(p: MomentsPart) -> MomentsPart:
    """A native integer partial (int64 sums and extremes) as Python ints (None: no value); any
    other partial as it is."""
    if not p.native:
        return p
    empty = p.n == 0
    vmin, vmax = p.vmin.astype(object), p.vmax.astype(object)
    vmin[empty] = vmax[empty] = None
    q = dataclasses.replace(p, vmin=vmin, vmax=vmax, fmin=vmin, fmax=vmax)
    q.sums = p.sums.astype(object)
    return q


def _native_extremes(a: MomentsPart, b: MomentsPart, out: MomentsPart) -> None:
    """Extremes of two native partials (0 where neither has a value)."""
    ha, hb = a.n > 0, b.n > 0
    both = ha & hb
    out.vmin = np.where(both, np.minimum(a.vmin, b.vmin), np.where(ha, a.vmin, b.vmin))
    out.vmax = np.where(both, np.maximum(a.vmax, b.vmax), np.where(ha, a.vmax, b.vmax))
    out.fmin, out.fmax = out.vmin, out.vmax


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


def _add_sums(a: MomentsPart, b: MomentsPart, out: MomentsPart) -> None:
    """Row sums of both: exact Python ints, or float64 pairs added with TwoSum (a sum past
    float64 in units of SUM_SCALE, the other scaled down to it)."""
    if a.integer and b.integer:
        out.sums = a.sums + b.sums
        return
    scaled = a.scaled | b.scaled
    while True:
        xs = [np.where(scaled & ~p.scaled, p.sums / SUM_SCALE, p.sums) for p in (a, b)]
        xl = [np.where(scaled & ~p.scaled, p.sum_lo / SUM_SCALE, p.sum_lo) for p in (a, b)]
        out.sums, err = add_exactly(xs[0], xs[1])
        over = ~np.isfinite(out.sums) & np.isfinite(xs[0]) & np.isfinite(xs[1]) & ~scaled
        if not over.any():
            break
        scaled = scaled | over  # finite sums whose sum passes float64: scaled, added again
    out.sum_lo = err + xl[0] + xl[1]
    out.scaled = scaled


def _merge_moments(a: MomentsPart, b: MomentsPart) -> MomentsPart:
    n = a.n + b.n
    native = a.native and b.native and not bool((n >= limits.NATIVE_MAX_N).any())
    if not native:  # (a sum that could pass int64, or one side in Python ints)
        a, b = exact_ints(a), exact_ints(b)
    out = MomentsPart.empty(a.k, integer=a.integer and b.integer, native=native)
    out.nan = a.nan + b.nan
    out.nonzero = a.nonzero + b.nonzero
    out.n = n
    if native:
        _native_extremes(a, b, out)
    else:
        out.vmin, out.vmax = pick(np.minimum, a.vmin, b.vmin), pick(np.maximum, a.vmax, b.vmax)
        out.fmin, out.fmax = pick(np.minimum, a.fmin, b.fmin), pick(np.maximum, a.fmax, b.fmax)
    _add_sums(a, b, out)
    # Chan, Golub & LeVeque: pairwise update of mean and M2, the means carried with what
    # float64 leaves off them: the difference of two close means (1e9 + noise of 1e-4) is
    # exact in float64, their rounding is not. Means of opposite signs near float64's maximum
    # are taken by halves (their difference would overflow). (Chunks holding infinities give
    # inf - inf here; finalise settles the mean of such rows from their extremes.)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        wb = b.n / np.maximum(n, 1)
        lo_d = b.mean_lo - a.mean_lo
        delta = (b.mean - a.mean) + lo_d
        half = ~np.isfinite(delta) & np.isfinite(a.mean) & np.isfinite(b.mean)
        step = np.where(half, (b.mean / 2 - a.mean / 2 + lo_d / 2) * wb, delta * wb)
        mean, lo = add_exactly(np.where(half, a.mean / 2, a.mean), step)
        mean = np.where(half, mean * 2, mean)
        lo = np.where(half, lo * 2, lo) + a.mean_lo
        m2 = a.m2 + b.m2 + delta * delta * (a.n * wb)
    cases = [(a.n > 0) & (b.n > 0), b.n == 0]  # else: only b has values
    out.mean = np.select(cases, [mean, a.mean], b.mean)
    out.mean_lo = np.select(cases, [lo, a.mean_lo], b.mean_lo)
    out.m2 = np.select(cases, [m2, a.m2], b.m2)
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
    """Sum histogram partials over the same rows (a node of the merge tree): one new array."""
    first = parts[0]
    out = Histogram(first.counts.copy(), first.under.copy(), first.over.copy())
    for p in parts[1:]:
        out.counts += p.counts
        out.under += p.under
        out.over += p.over
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
    has = p.n > 0 if p.native else defined(p.fmin)
    if not has.any():
        return None
    lo, hi = np.min(p.fmin[has]), np.max(p.fmax[has])
    if p.native:
        return int(lo), int(hi)
    return (lo, hi) if p.integer else (lo.item(), hi.item())  # Python ints stay exact


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
    parts = list(res.values())
    native = all(p.native for p in parts)
    if not native:
        res = {g: exact_ints(p) for g, p in res.items()}
        parts = list(res.values())
    first = parts[0]
    integer = all(p.integer for p in parts)
    out = MomentsPart.empty(k, integer=integer, vdtype=first.vmin.dtype, native=native)
    if first.hist is not None and all(p.hist is not None for p in parts):
        out.hist = Histogram.zeros(k, first.hist.nbins)
    names: tuple[str, ...] = ("n", "nan", "nonzero", "vmin", "vmax", "fmin", "fmax")
    names += ("sums", "sum_lo", "scaled", "mean", "m2", "mean_lo")
    for g, p in res.items():
        rr = rows[g]
        for name in names:
            getattr(out, name)[rr] = getattr(p, name)
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
