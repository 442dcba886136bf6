"""Percentiles from counts or histograms, and the exact selection of order statistics.

Percentiles follow ``numpy.percentile``'s default (linear) method: each needs two order statistics
(the values of rank ``prev`` and ``next``) and interpolates between them. From a histogram, an order
statistic is known to lie in one bin (a :class:`Bracket`); exact selection narrows brackets with
extra passes until the values are known.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from . import limits
from .parts import FloatArray, IntArray, Kind, MomentsPart, Picked, Scalar, SelectTarget

__all__ = ["Bracket", "estimate", "exact_select", "lerp_numpy", "locate", "ranks", "sub_edges"]

#: (row, rank) of an order statistic.
RankKey: TypeAlias = tuple[int, int]
#: Runs one select pass over the given targets; returns what was found per target index.
SelectRunner: TypeAlias = Callable[[list[SelectTarget]], dict[int, Picked]]


@dataclass(frozen=True)
class Bracket:
    """An interval ``[lo, hi)`` (``[lo, hi]`` when closed) known to hold an order statistic."""

    lo: Scalar
    hi: Scalar
    below: int  # values of the row below ``lo``
    count: int  # values of the row inside the interval
    closed: bool


#: An order statistic: its exact value, or the bracket known to hold it.
OrderStat: TypeAlias = Scalar | Bracket


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


def ranks(n: int, q: tuple[float, ...]) -> tuple[IntArray, IntArray, FloatArray]:
    """numpy's linear-method ranks: (previous index, next index, gamma) per q."""
    qf = np.true_divide(np.asarray(q, dtype=np.float64), 100)
    virtual = (n - 1) * qf
    prev = np.floor(virtual)
    nxt = prev + 1
    above = virtual >= n - 1
    prev[above] = n - 1
    nxt[above] = n - 1
    below = virtual < 0
    prev[below] = 0
    nxt[below] = 0
    gamma = np.asarray(virtual - np.floor(virtual), dtype=np.float64)
    return prev.astype(np.int64), nxt.astype(np.int64), gamma


def locate(
    rank: int,
    n: int,
    m: MomentsPart,
    r: int,
    edges: FloatArray | None,
    finite_range: bool = False,
    cum: IntArray | None = None,
) -> Bracket | float | None:
    """The bracket holding order statistic ``rank`` of row ``r`` (from its histogram, if any).

    ``finite_range``: the histogram spans the data's finite values (no ``range=`` given), so a
    value below its first edge is -inf and one above its last is +inf: those order statistics
    are known exactly (they were taken for the finite extremes, with an infinite error bound).
    ``cum``: the row's cumulated histogram, when already at hand.
    """
    vmin, vmax = m.vmin[r], m.vmax[r]
    if vmin is None or vmax is None:
        return None
    if m.hist is None or edges is None:
        return Bracket(vmin, vmax, 0, n, True)
    under = int(m.hist.under[r])
    h = m.hist.counts[r]
    if rank < under:
        return -math.inf if finite_range else Bracket(vmin, float(edges[0]), 0, under, False)
    if cum is None:
        cum = np.cumsum(h)
    inside = int(cum[-1]) if len(cum) else 0
    if rank >= under + inside and finite_range:
        return math.inf
    if rank >= under + inside:
        # Above the last edge. Values equal to +inf do not sit in any bin either; they are above.
        above = float(np.nextafter(edges[-1], np.inf))
        return Bracket(above, vmax, under + inside, n - under - inside, True)
    j = int(np.searchsorted(cum, rank - under, side="right"))
    below = under + (int(cum[j - 1]) if j else 0)
    last = j == len(h) - 1
    return Bracket(float(edges[j]), float(edges[j + 1]), below, int(h[j]), last)


def estimate(order_stats: dict[RankKey, OrderStat], r: int, rank: int) -> tuple[float, float]:
    """(value, error bound) of an order statistic: exact value, or interpolated within its bin."""
    x = order_stats.get((r, rank))
    if x is None:
        return math.nan, math.inf
    if not isinstance(x, Bracket):
        return x, 0.0
    lo_f, hi_f = float(x.lo), float(x.hi)
    if x.count <= 0 or not (math.isfinite(lo_f) and math.isfinite(hi_f)):
        return (lo_f if math.isfinite(lo_f) else hi_f), math.inf
    frac = (rank - x.below + 0.5) / x.count
    return lo_f + (hi_f - lo_f) * frac, hi_f - lo_f


def _target_key(r: int, b: Bracket) -> tuple[int, float, float, bool]:
    return (r, float(b.lo), float(b.hi), b.closed)


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


def _int_range(b: Bracket) -> tuple[int, int] | None:
    """The integers ``(first, last)`` of integer data that can lie in ``b``, when few enough to
    count one by one. The data were binned as float64, so a float bound is widened by its ulp
    (past 2**53 several integers round to one float64)."""
    lo, hi = b.lo, b.hi
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    first = lo if isinstance(lo, int) else math.floor(lo) - int(math.ulp(lo))
    last = hi if isinstance(hi, int) else math.ceil(hi) + int(math.ulp(hi))
    return (first, last) if last - first < limits.EXACT_INT_SPAN else None


def _target(r: int, b: Bracket, kind: Kind, share: int) -> tuple[SelectTarget, int]:
    """What a select pass gathers of bracket ``b`` of row ``r`` within about ``share`` cells
    (values or sub-bin counts): its values, or counts by sub-bin (integers one by one where few
    enough, else float64 sub-bins); and the cells it costs."""
    lo, hi = float(b.lo), float(b.hi)
    if b.count <= share:
        return SelectTarget(r, lo, hi, b.closed, collect=True), b.count
    ints = _int_range(b) if kind == "int" else None
    edges = sub_edges(lo, hi, min(limits.SUB_BINS, max(share // 2, 2)))
    if ints is not None and (ints[1] - ints[0] < share or len(edges) <= 2 < b.count):
        # one by one: within the share, or where float64 cannot split the interval (a few
        # integers past 2**53 round to one float64; at most EXACT_INT_SPAN of them)
        tgt = SelectTarget(r, lo, hi, b.closed, collect=False, ints=ints)
        return tgt, tgt.nsub
    packed = edges.astype("<f8").tobytes()
    tgt = SelectTarget(r, lo, hi, b.closed, collect=False, edges=packed)
    return tgt, tgt.nsub + len(edges)  # the counts, and the edges the pass carries


#: Sub-bins (with their edges) an interval needs for a sub-binning pass to be worth it.
_MIN_SHARE = 16


def _plan(
    pending: dict[RankKey, Bracket], kind: Kind, budget: int
) -> tuple[list[SelectTarget], dict[tuple[int, float, float, bool], int]]:
    """The targets of one select pass, holding at most about ``budget`` cells together, and the
    index of each (row, interval) in them (intervals left out wait for a later pass).

    One target per distinct (row, interval); several ranks can share it. The emptiest go first:
    each is collected when its values fit its fair share of what is left of the budget (all of
    them when they fit together), else sub-binned within that share. Where the share is too
    small to sub-bin usefully (:data:`_MIN_SHARE` cells), intervals are collected while what is
    left holds them and the rest wait (at least one interval is taken per pass)."""
    distinct: dict[tuple[int, float, float, bool], tuple[int, Bracket]] = {}
    for (r, _rank), b in pending.items():
        distinct.setdefault(_target_key(r, b), (r, b))
    order = sorted(distinct, key=lambda key: (distinct[key][1].count, key))
    targets: list[SelectTarget] = []
    tkey: dict[tuple[int, float, float, bool], int] = {}
    left = budget
    for i, key in enumerate(order):
        r, b = distinct[key]
        share = left // (len(order) - i)
        if share < _MIN_SHARE:
            if targets and b.count > left:
                break  # neither this one nor the fuller ones after it fit: they wait
            share = left
        tgt, cost = _target(r, b, kind, share)
        if targets and cost > left:
            break
        tkey[key] = len(targets)
        targets.append(tgt)
        left -= cost
    return targets, tkey


def exact_select(
    pending: dict[RankKey, Bracket], run_select: SelectRunner, kind: Kind, budget: int
) -> tuple[dict[RankKey, Scalar], int, dict[RankKey, Bracket]]:
    """Refine brackets until each order statistic is known exactly (``kind``: the data's).

    Each pass holds at most about ``budget`` values and sub-bin counts over all rows together
    (:func:`~lazyvol._stats.limits.exact_budget`): what does not fit is sub-binned, or waits for
    a later pass. Returns (exact values, passes made, brackets left unresolved after
    :data:`~lazyvol._stats.limits.MAX_EXACT_PASSES` passes over them).
    """
    got: dict[RankKey, Scalar] = {}
    lost: dict[RankKey, Bracket] = {}
    tries: dict[RankKey, int] = {}
    passes = 0
    while pending:
        targets, tkey = _plan(pending, kind, budget)
        merged = run_select(targets)
        passes += 1
        nxt: dict[RankKey, Bracket] = {}
        found: dict[int, Picked] = {}
        for (r, rank), b in pending.items():
            t = tkey.get(_target_key(r, b))
            if t is None:  # waits for a later pass
                nxt[(r, rank)] = b
                continue
            if t not in found:  # the collected values, sorted once for every rank they hold
                found[t] = _sorted(merged.pop(t, Picked(None, None)))
            value, narrower = _refine(found[t], rank, b, targets[t])
            tries[(r, rank)] = tries.get((r, rank), 0) + 1
            if value is not None:
                got[(r, rank)] = value
            elif narrower is not None and tries[(r, rank)] < limits.MAX_EXACT_PASSES:
                nxt[(r, rank)] = narrower
            else:  # not found in its bracket, or still not settled: left as the bracket
                lost[(r, rank)] = b if narrower is None else narrower
        del merged, found  # what this pass held is not kept through the next
        pending = nxt
    return got, passes, lost


def _sorted(picked: Picked) -> Picked:
    """``picked`` with its collected values as one sorted array."""
    if picked.sub_counts is not None or not picked.values:
        return picked
    return Picked(picked.lo, picked.hi, values=[np.sort(np.concatenate(picked.values))])


def _refine(
    picked: Picked, rank: int, b: Bracket, tgt: SelectTarget
) -> tuple[Scalar | None, Bracket | None]:
    """The order statistic's value if ``picked`` settles it, else a narrower bracket (or neither)."""
    if picked.lo is not None and picked.lo == picked.hi:
        return picked.lo, None
    if picked.sub_counts is None:  # collected values, sorted (one array: :func:`_sorted`)
        vals = picked.values[0] if picked.values else np.empty(0)
        i = rank - b.below
        if 0 <= i < len(vals):
            value: Scalar = vals[i].item()
            return value, None
        return None, None
    payload = picked.sub_counts
    cum = np.cumsum(payload)
    j = int(np.searchsorted(cum, rank - b.below, side="right"))
    if j >= len(payload):
        return None, None
    if tgt.ints is not None:  # one integer per sub-bin
        return tgt.ints[0] + j, None
    last = j == len(payload) - 1
    edges = tgt.edge_array()
    return None, Bracket(
        float(edges[j]),
        float(edges[j + 1]),
        b.below + (int(cum[j - 1]) if j else 0),
        int(payload[j]),
        b.closed if last else False,
    )
