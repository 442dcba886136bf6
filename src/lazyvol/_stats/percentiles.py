"""Percentiles from counts or histograms, and the exact selection of order statistics.

Percentiles follow ``numpy.percentile``'s default (linear) method: each needs two order statistics
(the values of rank ``prev`` and ``next``) and interpolates between them. From a histogram, an order
statistic is known to lie in one bin (a bracket); exact selection narrows brackets with extra
passes until the values are known. The order statistics of every row are handled together as
arrays (:class:`Brackets`), so many rows (per slice of a series) cost no Python object each.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from . import limits
from .parts import (
    COLLECT,
    EDGES,
    EVEN,
    INTS,
    FloatArray,
    Found,
    Histogram,
    IntArray,
    Kind,
    SelectSpec,
    even_edge,
)

__all__ = [
    "Brackets",
    "estimate",
    "exact_select",
    "lerp_numpy",
    "locate",
    "ranks",
    "sub_edges",
]

#: Runs one select pass over the given targets (rows global); returns what was found.
SelectRunner: TypeAlias = Callable[[SelectSpec], Found]
BoolArray: TypeAlias = npt.NDArray[np.bool_]


@dataclass
class Brackets:
    """Order statistics ``rank`` of rows ``row``, each known to lie in ``[lo, hi)`` (``[lo, hi]``
    when closed); ``key`` says which order statistic of the caller's each one is."""

    key: IntArray
    row: IntArray
    rank: IntArray
    lo: FloatArray
    hi: FloatArray
    below: IntArray  # values of the row below ``lo``
    count: IntArray  # values of the row inside the interval
    closed: BoolArray

    def __len__(self) -> int:
        return len(self.key)

    def take(self, idx: npt.NDArray[Any]) -> Brackets:
        """The brackets at ``idx`` (indexes or a boolean mask)."""
        return Brackets(*(getattr(self, f.name)[idx] for f in fields(self)))

    @staticmethod
    def join(parts: list[Brackets]) -> Brackets:
        """The brackets of ``parts`` one after another."""
        return Brackets(
            *(np.concatenate([getattr(b, f.name) for b in parts]) for f in fields(Brackets))
        )


def lerp_numpy(a: npt.ArrayLike, b: npt.ArrayLike, t: FloatArray) -> FloatArray:
    """numpy's ``_lerp`` for the linear percentile method, always in float64.

    ``a`` and ``b`` (order statistics as Python numbers or any numeric array) are taken as float64:
    numpy's own percentile interpolates in the data's dtype, where ``b - a`` wraps (int32 from
    -2**31 to 999) or overflows (float16 from -60000 to 60000). The result is then
    ``numpy.percentile`` of the values as float64, with the same rounding. Where even float64's
    ``b - a`` overflows (-1e308 and 1e308) the weighted sum ``a * (1 - t) + b * t`` is used, kept
    between ``a`` and ``b``.
    """
    af = np.asarray(a, dtype=np.float64)
    bf = np.asarray(b, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        diff = bf - af
        out: FloatArray = np.asarray(np.add(af, diff * t), dtype=np.float64)
        np.subtract(bf, diff * (1 - t), out=out, where=t >= 0.5)
        wide = ~np.isfinite(diff) & np.isfinite(af) & np.isfinite(bf)
        if wide.any():
            sumw = af * (1 - t) + bf * t
            out[wide] = np.clip(sumw, np.minimum(af, bf), np.maximum(af, bf))[wide]
    return out


def ranks(n: int | IntArray, q: tuple[float, ...]) -> tuple[IntArray, IntArray, FloatArray]:
    """numpy's linear-method ranks: (previous index, next index, gamma) per q (per row and q
    when ``n`` is an array of row counts)."""
    qf = np.true_divide(np.asarray(q, dtype=np.float64), 100)
    nn = np.asarray(n, dtype=np.int64)[..., None]
    virtual = (nn - 1) * qf
    prev = np.floor(virtual)
    gamma = np.asarray(virtual - prev, dtype=np.float64)
    above = virtual >= nn - 1
    prev = np.where(above, nn - 1, prev)
    nxt = np.where(above, nn - 1, prev + 1)
    below = virtual < 0
    prev = np.where(below, 0, prev)
    nxt = np.where(below, 0, nxt)
    return prev.astype(np.int64), nxt.astype(np.int64), gamma


def locate(
    row: IntArray,
    rank: IntArray,
    n: IntArray,
    vmin: FloatArray,
    vmax: FloatArray,
    hist: Histogram | None,
    edges: FloatArray | None,
    finite_range: bool = False,
) -> tuple[Brackets, FloatArray]:
    """The brackets holding order statistics ``rank`` of rows ``row`` (from their histogram, if
    any), and the values known already (NaN where not: -inf and +inf).

    ``finite_range``: the histogram spans the data's finite values (no ``range=`` given), so a
    value below its first edge is -inf and one above its last is +inf: those order statistics
    are known exactly (they were taken for the finite extremes, with an infinite error bound).
    """
    k = len(row)
    known = np.full(k, np.nan)
    br = Brackets(
        np.arange(k),
        row,
        rank,
        vmin[row],
        vmax[row],
        np.zeros(k, np.int64),
        n[row].copy(),
        np.ones(k, dtype=np.bool_),
    )
    if hist is None or edges is None:
        return br, known
    under = hist.under[row]
    inside = hist.counts.sum(axis=1)[row]
    low = rank < under
    high = ~low & (rank >= under + inside)
    if finite_range:
        known[low], known[high] = -np.inf, np.inf
    br.hi[low], br.count[low], br.closed[low] = edges[0], under[low], False
    # Above the last edge. Values equal to +inf do not sit in any bin either; they are above.
    with np.errstate(over="ignore"):
        br.lo[high] = np.nextafter(edges[-1], np.inf)
    br.below[high] = (under + inside)[high]
    br.count[high] = (n[row] - under - inside)[high]
    mid = np.flatnonzero(~low & ~high)
    _in_bins(br, mid, rank[mid] - under[mid], hist.counts, edges)
    br.below[mid] += under[mid]
    _within_extremes(br, vmin, vmax)
    return br, known


def _within_extremes(br: Brackets, vmin: FloatArray, vmax: FloatArray) -> None:
    """Brackets reaching past their row's extremes (explicit edges such as ``bins=[-inf, 0, inf]``
    or ``[-1e30, 0, 1e30]``) cut to them: the same values lie in them (every value of a row is
    within its extremes, also compared as float64 as integers are: rounding keeps the order),
    and the passes that split them need finite bounds (integers one by one from ``floor(-inf)``
    failed) and as narrow as the values (1e30 wide took more than the passes allowed)."""
    lo_row, hi_row = vmin[br.row], vmax[br.row]
    low = (br.lo < lo_row) & np.isfinite(lo_row)
    br.lo[low] = lo_row[low]
    high = (br.hi > hi_row) & np.isfinite(hi_row)
    br.hi[high], br.closed[high] = hi_row[high], True


def _in_bins(
    br: Brackets, at: IntArray, key: IntArray, counts: IntArray, edges: FloatArray
) -> None:
    """Brackets ``at`` (sorted by row): the bin holding the ``key``-th value of the row's binned
    ones. A search in the cumulated counts of a piece of the rows at once (row ``r`` offset by
    ``r * span``), a piece at a time (the cumulated counts of every row are as big as the
    histogram)."""
    nb = counts.shape[1]
    step = max(1, limits.PIECE // nb)
    rows = br.row[at]
    cut = np.searchsorted(rows, np.arange(0, len(counts) + step, step))
    for s in range(len(cut) - 1):
        sel = slice(int(cut[s]), int(cut[s + 1]))
        if sel.start == sel.stop:
            continue
        r0 = s * step
        cum = np.cumsum(counts[r0 : r0 + step], axis=1)
        span = int(cum[:, -1].max(initial=0)) + 1
        cum += (np.arange(len(cum), dtype=np.int64) * span)[:, None]
        flat = cum.ravel()
        r, w = rows[sel] - r0, at[sel]
        j = np.searchsorted(flat, key[sel] + r * span, side="right") - r * nb
        before = np.where(j > 0, flat[np.maximum(r * nb + j - 1, 0)] - r * span, 0)
        br.lo[w], br.hi[w] = edges[j], edges[j + 1]
        br.below[w] = before
        br.count[w] = counts[r0 + r, j]
        br.closed[w] = j == nb - 1


def estimate(br: Brackets) -> tuple[FloatArray, FloatArray]:
    """(value, error bound) of each order statistic, interpolated within its bracket."""
    lo, hi = br.lo, br.hi
    finite = np.isfinite(lo) & np.isfinite(hi) & (br.count > 0)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        frac = (br.rank - br.below + 0.5) / np.maximum(br.count, 1)
        value = np.where(finite, lo + (hi - lo) * frac, np.where(np.isfinite(lo), lo, hi))
        err = np.where(finite, hi - lo, np.inf)
    return value, err


def _ordinal(x: float) -> int:
    """The rank of ``x`` among float64 values (consecutive floats differ by 1; -0.0 is 0.0)."""
    bits: int = struct.unpack("<q", struct.pack("<d", x))[0]
    return bits if bits >= 0 else -(bits & 0x7FFF_FFFF_FFFF_FFFF)


def _from_ordinal(k: int) -> float:
    x: float = struct.unpack("<d", struct.pack("<q", abs(k)))[0]
    return -x if k < 0 else x


def sub_edges(lo: float, hi: float, n: int | None = None) -> FloatArray:
    """At most ``n`` (default :data:`~lazyvol._stats.limits.SUB_BINS`) sub-bins of ``[lo, hi]``:
    increasing float64 edges, numpy's even ones where it can make them, else evenly spaced in the
    order of float64 values (an interval numpy refuses to split: values a few ulps apart, or
    infinite bounds), one bin per float64 value when it holds fewer."""
    n = limits.SUB_BINS if n is None else max(1, n)
    if lo < hi and math.isfinite(lo) and math.isfinite(hi):
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                even = np.histogram_bin_edges(np.empty(0), bins=n, range=(lo, hi))
            except ValueError:  # "Too many bins for data range"
                even = None
        if even is not None and np.isfinite(even).all() and (np.diff(even) > 0).all():
            return even
    klo, khi = _ordinal(lo), _ordinal(hi)
    n = max(1, min(n, khi - klo))
    return np.array([_from_ordinal(klo + (khi - klo) * j // n) for j in range(n + 1)])


#: Sub-bins (with their edges) an interval needs for a sub-binning pass to be worth it.
_MIN_SHARE = 16
#: Planned mode of an interval that waits for a later pass.
_WAIT = -1


def _distinct(p: Brackets) -> tuple[IntArray, IntArray]:
    """One bracket per distinct (row, interval), sorted by row then bound (several ranks can share
    one), and the index of each bracket's in them."""
    order = np.lexsort((p.closed, p.hi, p.lo, p.row))
    same = np.ones(max(len(order) - 1, 0), dtype=np.bool_)
    for x in (p.row, p.lo, p.hi, p.closed):
        xs = x[order]
        same &= xs[1:] == xs[:-1]
    new = np.concatenate([np.ones(min(len(order), 1), dtype=np.bool_), ~same])
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return order[new], inverse


def _modes(count: IntArray, budget: int) -> tuple[npt.NDArray[np.int8], int]:
    """How each interval holding ``count`` values is gathered within ``budget`` cells together:
    COLLECT, sub-binned (EVEN, refined later) or waiting; and the cells each sub-binned one may
    take.

    The emptiest go first: each is collected while its values fit its fair share of what is left
    of the budget (water-filling: all of them when they fit together); the fuller ones share
    what is left. Where that share is too small to sub-bin usefully (:data:`_MIN_SHARE` cells),
    intervals are collected while what is left holds them and the rest wait (at least one
    interval is taken per pass)."""
    t_n = len(count)
    mode = np.full(t_n, _WAIT, dtype=np.int8)
    by = np.argsort(count, kind="stable")
    cs = count[by]
    excl = np.cumsum(cs) - cs
    share = (budget - excl) // (t_n - np.arange(t_n))
    over = cs > share
    i0 = int(np.argmax(over)) if over.any() else t_n
    mode[by[:i0]] = COLLECT
    if i0 == t_n:
        return mode, 0
    left = budget - int(excl[i0])
    tau = left // (t_n - i0)
    if tau >= _MIN_SHARE:
        mode[by[i0:]] = EVEN
        return mode, tau
    fits = np.cumsum(cs[i0:]) <= left
    mode[by[i0:][fits]] = COLLECT
    if i0 == 0 and not fits[0]:  # not even the emptiest fits: it is sub-binned alone
        mode[by[0]] = EVEN
        return mode, budget
    return mode, 0


def _int_ranges(lo: FloatArray, hi: FloatArray) -> tuple[list[int], list[int]]:
    """The integers ``(first, last)`` of integer data that can lie in each ``[lo, hi]``. The data
    were binned as float64, so a float bound is widened by its ulp (past 2**53 several integers
    round to one float64)."""
    first = (np.floor(lo) - np.spacing(np.abs(lo))).tolist()
    last = (np.ceil(hi) + np.spacing(np.abs(hi))).tolist()
    return [int(x) for x in first], [int(x) for x in last]


def _plan(p: Brackets, kind: Kind, budget: int) -> tuple[SelectSpec, IntArray, list[int]]:
    """The targets of one select pass, holding at most about ``budget`` cells (values collected,
    sub-bin counts and the explicit edges a pass carries) together; the target of each bracket
    (-1: it waits for a later pass); and the first integer of INTS targets."""
    uniq, inverse = _distinct(p)
    lo, hi, count = p.lo[uniq], p.hi[uniq], p.count[uniq]
    mode, tau = _modes(count, budget)
    nsub = np.zeros(len(uniq), dtype=np.int64)
    sub = np.flatnonzero(mode == EVEN)
    nsub[sub] = max(min(limits.SUB_BINS, tau), 2)
    explicit = _uneven(lo, hi, nsub, mode, sub)
    first = np.zeros(len(uniq), dtype=np.uint64)
    firsts = [0] * len(uniq)
    if kind == "int" and len(sub):
        f, last = _int_ranges(lo[sub], hi[sub])
        for i, t in enumerate(sub.tolist()):
            span = last[i] - f[i] + 1
            if span <= limits.EXACT_INT_SPAN and (span <= tau or (nsub[t] == 1 < count[t])):
                # one by one: within the share, or where float64 cannot split the interval (a
                # few integers past 2**53 round to one float64; at most EXACT_INT_SPAN of them)
                mode[t], nsub[t], firsts[t] = INTS, span, f[i]
                first[t] = f[i] % (1 << 64)
                explicit.pop(t, None)
    cost = np.where(mode == COLLECT, count, 0) + nsub + np.where(mode == EDGES, nsub + 1, 0)
    by = np.argsort(np.where(mode == _WAIT, -1, count), kind="stable")
    over = np.cumsum(cost[by]) > budget
    over[: int(np.count_nonzero(mode == _WAIT)) + 1] = False  # at least one target a pass
    mode[by[over]] = _WAIT  # one by one integers can take more than the share: the fullest wait
    planned = np.flatnonzero(mode != _WAIT)
    tid = np.full(len(mode), -1, dtype=np.int64)
    tid[planned] = np.arange(len(planned))
    nsub = nsub[planned]
    edges = [explicit[t] for t in planned.tolist() if mode[t] == EDGES]
    spec = SelectSpec(
        kept=(),
        kind=kind,
        rows=p.row[uniq][planned],
        lo=lo[planned],
        hi=hi[planned],
        closed=p.closed[uniq][planned],
        mode=mode[planned],
        sub_at=np.cumsum(nsub) - nsub,
        nsub=nsub,
        edges=np.concatenate(edges) if edges else np.zeros(0),
        first=first[planned],
    )
    return spec, tid[inverse], [firsts[t] for t in planned.tolist()]


def _uneven(
    lo: FloatArray, hi: FloatArray, nsub: IntArray, mode: npt.NDArray[np.int8], sub: IntArray
) -> dict[int, FloatArray]:
    """Sub-binned targets whose even edges (:func:`~lazyvol._stats.parts.even_edge`) are not
    strictly increasing and finite (a few ulps wide, or infinite bounds) become EDGES, with
    :func:`sub_edges`' edges (returned by target; ``nsub`` updated)."""
    out: dict[int, FloatArray] = {}
    if not len(sub):
        return out
    n = int(nsub[sub[0]])
    j = np.arange(n + 1, dtype=np.int64)
    step = max(1, limits.PIECE // 8 // (n + 1))  # some targets at a time (temporaries: 1 MiB)
    for s in range(0, len(sub), step):
        t = sub[s : s + step]
        grid = even_edge(lo[t][:, None], hi[t][:, None], nsub[t][:, None], j)
        good = np.isfinite(grid).all(axis=1) & (grid[:, 1:] > grid[:, :-1]).all(axis=1)
        for bad in t[~good].tolist():
            out[bad] = sub_edges(float(lo[bad]), float(hi[bad]), n)
            mode[bad], nsub[bad] = EDGES, len(out[bad]) - 1
    return out


def exact_select(
    pending: Brackets, run_select: SelectRunner, kind: Kind, budget: int
) -> tuple[IntArray, FloatArray, int, Brackets]:
    """Refine brackets until each order statistic is known exactly (``kind``: the data's).

    Each pass holds at most about ``budget`` values and sub-bin counts over all rows together
    (:func:`~lazyvol._stats.limits.exact_budget`): what does not fit is sub-binned, or waits for
    a later pass. Returns (keys and exact values found, passes made, brackets left unresolved
    after :data:`~lazyvol._stats.limits.MAX_EXACT_PASSES` passes over them).
    """
    keys: list[IntArray] = [np.zeros(0, dtype=np.int64)]
    values: list[FloatArray] = [np.zeros(0)]
    lost: list[Brackets] = [pending.take(np.zeros(0, dtype=np.int64))]
    tries = np.zeros(len(pending), dtype=np.int64)
    passes = 0
    while len(pending):
        spec, tid, firsts = _plan(pending, kind, budget)
        found = run_select(spec)
        passes += 1
        act = tid >= 0
        tries[act] += 1
        taken = pending.take(act)
        value, narrower = _refine(found, spec, firsts, taken, tid[act])
        del found  # what this pass held is not kept through the next
        settled = ~np.isnan(value)
        keys.append(taken.key[settled])
        values.append(value[settled])
        has = ~np.isnan(narrower.lo)
        more = ~settled & has & (tries[act] < limits.MAX_EXACT_PASSES)
        # not found in its bracket, or still not settled: left as the bracket
        lost.append(taken.take(~settled & ~more & ~has))
        lost.append(narrower.take(~settled & ~more & has))
        pending = Brackets.join([pending.take(~act), narrower.take(more)])
        tries = np.concatenate([tries[~act], tries[act][more]])
    return np.concatenate(keys), np.concatenate(values), passes, Brackets.join(lost)


def _refine(
    found: Found, spec: SelectSpec, firsts: list[int], p: Brackets, t: IntArray
) -> tuple[FloatArray, Brackets]:
    """What a pass settled of brackets ``p`` (in targets ``t``): their values (NaN where not
    settled) and the narrower brackets of the others (``lo`` NaN where none: not found)."""
    m = len(t)
    value = np.full(m, np.nan)
    nar = Brackets(
        p.key,
        p.row,
        p.rank,
        np.full(m, np.nan),
        np.full(m, np.nan),
        p.below.copy(),
        p.count.copy(),
        p.closed.copy(),
    )
    n = found.n[t]
    i = p.rank - p.below
    same = (n > 0) & (found.vmin[t] == found.vmax[t])  # every value of the interval the same
    value[same] = found.vmin[t][same].astype(np.float64)
    mode = spec.mode[t]
    col = ~same & (mode == COLLECT) & (i >= 0) & (i < n)
    sub = ~same & (mode != COLLECT) & (i >= 0)
    part = found.part[t]
    for k, counts in enumerate(found.subs):
        here = np.flatnonzero(col & (part == k))
        value[here] = found.values[k][found.val_at[t[here]] + i[here]].astype(np.float64)
        found.values[k] = found.values[k][:0]  # (released as it goes)
        here = np.flatnonzero(sub & (part == k))
        if len(here):
            val, brk = value[here], nar.take(here)
            at = found.sub_at[t[here]]
            cum = np.cumsum(counts, out=counts)
            _refine_sub(cum, at, spec, firsts, p.take(here), t[here], i[here], val, brk)
            value[here] = val
            for f in ("lo", "hi", "below", "count", "closed"):
                getattr(nar, f)[here] = getattr(brk, f)
    return value, nar


def _refine_sub(
    cum: IntArray,
    at: IntArray,
    spec: SelectSpec,
    firsts: list[int],
    p: Brackets,
    t: IntArray,
    i: IntArray,
    value: FloatArray,
    nar: Brackets,
) -> None:
    """Settle or narrow brackets ``p`` (all, here) in sub-binned targets ``t``, order statistic
    ``i`` of its interval each, from the cumulated sub-bin counts ``cum`` (each target's sub-bins
    one run of it, from ``at``); ``value`` and ``nar`` are filled in."""
    base = np.where(at > 0, cum[np.maximum(at - 1, 0)], 0)
    g = np.searchsorted(cum, base + i, side="right")
    j = g - at
    ok = np.flatnonzero(j < spec.nsub[t])  # else not found in its bracket
    j, g, base, tt = j[ok], g[ok], base[ok], t[ok]
    before = np.where(g > 0, cum[np.maximum(g - 1, 0)], 0)
    ints = spec.mode[tt] == INTS
    for w, a, b in zip(ok[ints].tolist(), tt[ints].tolist(), j[ints].tolist()):
        value[w] = float(firsts[a] + b)  # one integer a sub-bin
    even = spec.mode[tt] == EVEN
    w, te, je = ok[even], tt[even], j[even]
    nar.lo[w] = even_edge(spec.lo[te], spec.hi[te], spec.nsub[te], je)
    nar.hi[w] = even_edge(spec.lo[te], spec.hi[te], spec.nsub[te], je + 1)
    edges = ~ints & ~even
    w = ok[edges]
    at_edge = spec.explicit_at[tt[edges]] + j[edges]
    nar.lo[w], nar.hi[w] = spec.edges[at_edge], spec.edges[at_edge + 1]
    w = ok[~ints]
    nar.below[w] = p.below[w] + before[~ints] - base[~ints]
    nar.count[w] = (cum[g] - before)[~ints]
    nar.closed[w] = p.closed[w] & (j[~ints] == spec.nsub[tt[~ints]] - 1)
