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


def sub_edges(lo: float, hi: float) -> FloatArray:
    """At most :data:`~lazyvol._stats.limits.SUB_BINS` sub-bins of ``[lo, hi]``: increasing float64
    edges, numpy's even ones where it can make them, else evenly spaced in the order of float64
    values (an interval numpy refuses to split: values a few ulps apart, or infinite bounds), one
    bin per float64 value when it holds fewer."""
    if lo < hi and math.isfinite(lo) and math.isfinite(hi):
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                even = np.histogram_bin_edges(np.empty(0), bins=limits.SUB_BINS, range=(lo, hi))
            except ValueError:  # "Too many bins for data range"
                even = None
        if even is not None and np.isfinite(even).all() and (np.diff(even) > 0).all():
            return even
    klo, khi = _ordinal(lo), _ordinal(hi)
    n = max(1, min(limits.SUB_BINS, khi - klo))
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


def _target(r: int, b: Bracket, kind: Kind) -> SelectTarget:
    """What a select pass gathers of bracket ``b`` of row ``r``: its values, or counts by
    sub-bin (integers one by one where few enough, else float64 sub-bins)."""
    lo, hi = float(b.lo), float(b.hi)
    if b.count <= limits.EXACT_COLLECT_LIMIT:
        return SelectTarget(r, lo, hi, b.closed, collect=True)
    ints = _int_range(b) if kind == "int" else None
    if ints is not None:
        return SelectTarget(r, lo, hi, b.closed, collect=False, ints=ints)
    edges = tuple(sub_edges(lo, hi).tolist())
    return SelectTarget(r, lo, hi, b.closed, collect=False, edges=edges)


def exact_select(
    pending: dict[RankKey, Bracket], run_select: SelectRunner, kind: Kind
) -> tuple[dict[RankKey, Scalar], int, dict[RankKey, Bracket]]:
    """Refine brackets until each order statistic is known exactly (``kind``: the data's).

    Returns (exact values, passes made, brackets left unresolved after
    :data:`~lazyvol._stats.limits.MAX_EXACT_PASSES`).
    """
    got: dict[RankKey, Scalar] = {}
    lost: dict[RankKey, Bracket] = {}
    passes = 0
    while pending and passes < limits.MAX_EXACT_PASSES:
        # One target per distinct (row, interval); several ranks can share it.
        targets: list[SelectTarget] = []
        tkey: dict[tuple[int, float, float, bool], int] = {}
        for (r, _rank), b in pending.items():
            key = _target_key(r, b)
            if key not in tkey:
                tkey[key] = len(targets)
                targets.append(_target(r, b, kind))
        merged = run_select(targets)
        passes += 1
        nxt: dict[RankKey, Bracket] = {}
        for (r, rank), b in pending.items():
            t = tkey[_target_key(r, b)]
            value, narrower = _refine(merged.get(t, Picked(None, None)), rank, b, targets[t])
            if value is not None:
                got[(r, rank)] = value
            elif narrower is not None:
                nxt[(r, rank)] = narrower
            else:  # the pass did not find it in its bracket: left as the bracket, not dropped
                lost[(r, rank)] = b
        pending = nxt
    return got, passes, {**lost, **pending}


def _refine(
    picked: Picked, rank: int, b: Bracket, tgt: SelectTarget
) -> tuple[Scalar | None, Bracket | None]:
    """The order statistic's value if ``picked`` settles it, else a narrower bracket (or neither)."""
    if picked.lo is not None and picked.lo == picked.hi:
        return picked.lo, None
    if picked.sub_counts is None:  # collected values
        vals = np.sort(np.concatenate(picked.values)) if picked.values else np.empty(0)
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
    return None, Bracket(
        tgt.edges[j],
        tgt.edges[j + 1],
        b.below + (int(cum[j - 1]) if j else 0),
        int(payload[j]),
        b.closed if last else False,
    )
