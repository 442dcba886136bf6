"""Typed partial results: what a block task returns and the merge tree combines.

A partial covers ``k`` output rows (one row without ``axis=``; one per kept index with it).

- :class:`CountsPart` -- integer data: exact value counts over a span of values.
- :class:`MomentsPart` -- floating-point data, or integers too spread out to count: count, extremes,
  exact or compensated sums, mean and M2, optionally a histogram.
- :class:`Histogram` -- the second pass of floating-point data: bin counts only.
- :data:`SelectPart` -- exact percentile passes: per target interval, its values or a
  sub-histogram, as arrays over the targets (:class:`Picked`).

The specs (:class:`BlockSpec`, :class:`SelectSpec`) say what a block task computes; they are small,
frozen and picklable (numpy arrays rather than Python objects per target), like everything else a
dask graph holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "COLLECT",
    "EDGES",
    "EVEN",
    "INTS",
    "SUM_SCALE",
    "Found",
    "BlockSpec",
    "CountsPart",
    "Histogram",
    "MomentsPart",
    "Part",
    "Picked",
    "SelectPart",
    "SelectSpec",
    "defined",
    "even_edge",
    "pick",
]

IntArray: TypeAlias = npt.NDArray[np.int64]
FloatArray: TypeAlias = npt.NDArray[np.float64]
#: A value of the data as a Python number (``numpy.generic.item()``).
Scalar: TypeAlias = int | float
Kind: TypeAlias = Literal["int", "float"]
#: A bin count, or explicit bin edges.
Bins: TypeAlias = int | tuple[float, ...]
#: A histogram range: floats from the user, or scalars of the data's dtype (numpy.histogram's
#: default range is ``(a.min(), a.max())`` in ``a``'s dtype, and the edges depend on it).
HistRange: TypeAlias = tuple[Any, Any]
#: Index of a group of blocks that share the kept axes' chunk indexes.
GroupKey: TypeAlias = tuple[int, ...]


def _zeros(k: int) -> IntArray:
    return np.zeros(k, dtype=np.int64)


@dataclass
class Histogram:
    """Bin counts per row, plus the values below the first and above the last edge."""

    counts: IntArray  # (k, bins)
    under: IntArray  # (k,)
    over: IntArray  # (k,)

    @classmethod
    def zeros(cls, k: int, nbins: int) -> Histogram:
        return cls(np.zeros((k, nbins), dtype=np.int64), _zeros(k), _zeros(k))

    @property
    def nbins(self) -> int:
        return int(self.counts.shape[1])

    def __add__(self, other: Histogram) -> Histogram:
        return Histogram(
            self.counts + other.counts, self.under + other.under, self.over + other.over
        )


@dataclass
class CountsPart:
    """Integer rows as exact value counts: ``counts[r, i]`` values equal to ``offset + i``."""

    offset: int
    counts: IntArray  # (k, span)
    n: IntArray  # values taken into account per row
    nan: IntArray
    nonzero: IntArray

    @classmethod
    def empty(cls, k: int) -> CountsPart:
        return cls(0, np.zeros((k, 0), dtype=np.int64), _zeros(k), _zeros(k), _zeros(k))

    @property
    def k(self) -> int:
        return int(self.n.shape[0])

    @property
    def span(self) -> int:
        return int(self.counts.shape[1])

    def copy(self) -> CountsPart:
        return CountsPart(
            self.offset, self.counts.copy(), self.n.copy(), self.nan.copy(), self.nonzero.copy()
        )


#: Floating-point row sums past float64 (finite values near its maximum) are kept in units of
#: this power of two (exact scaling; 2**64 values of the maximum fit).
SUM_SCALE = 2.0**64


@dataclass
class MomentsPart:
    """Rows as moments: count, extremes, sums, mean and M2 (sum of squared deviations), each an
    array over the rows.

    Extremes are float64 arrays (NaN: no such value) for floating-point data, object arrays of
    Python ints (None: no value) for integers (exact beyond 2**53). Integers of at most 32 bits
    in rows of fewer than
    :data:`~lazyvol._stats.limits.NATIVE_MAX_N` values are *native*: extremes and sums int64
    (exact: a sum is at most ``n * 2**32 < 2**63`` in magnitude), extremes 0 where ``n == 0``;
    :func:`~lazyvol._stats.merge.exact_ints` turns them into the object form."""

    n: IntArray
    nan: IntArray
    nonzero: IntArray
    vmin: npt.NDArray[Any]
    vmax: npt.NDArray[Any]
    fmin: npt.NDArray[Any]  # finite extremes (the default histogram range)
    fmax: npt.NDArray[Any]
    #: integer data: exact Python ints (object array); floating-point data: float64 sums, with
    #: ``sum_lo`` what float64 leaves off them (TwoSum), in units of SUM_SCALE where ``scaled``
    sums: npt.NDArray[Any]
    sum_lo: FloatArray
    scaled: npt.NDArray[np.bool_]
    mean: FloatArray
    m2: FloatArray
    #: what float64 ``mean`` leaves off: the mean is ``mean + mean_lo`` to about float64's
    #: precision squared (the chunk merge needs the difference of close means, 1e9 + noise)
    mean_lo: FloatArray
    hist: Histogram | None = None

    @classmethod
    def empty(
        cls, k: int, *, integer: bool, vdtype: Any = np.float64, native: bool = False
    ) -> MomentsPart:
        ext: npt.NDArray[Any]
        sums: npt.NDArray[Any]
        if integer and native:
            ext = np.zeros(k, dtype=np.int64)
            sums = np.zeros(k, dtype=np.int64)
        elif integer:
            ext = np.full(k, None, dtype=object)
            sums = np.zeros(k, dtype=object)
        else:
            ext = np.full(k, np.nan, dtype=vdtype)
            sums = np.zeros(k)
        return cls(
            n=_zeros(k),
            nan=_zeros(k),
            nonzero=_zeros(k),
            vmin=ext,
            vmax=ext.copy(),
            fmin=ext.copy(),
            fmax=ext.copy(),
            sums=sums,
            sum_lo=np.zeros(k),
            scaled=np.zeros(k, dtype=np.bool_),
            mean=np.zeros(k),
            m2=np.zeros(k),
            mean_lo=np.zeros(k),
        )

    @property
    def k(self) -> int:
        return int(self.n.shape[0])

    @property
    def integer(self) -> bool:
        return bool(self.sums.dtype == object or self.native)

    @property
    def native(self) -> bool:
        """Integer rows held in int64 (see the class docstring)."""
        return bool(self.sums.dtype == np.int64)


#: A partial of the statistics pass.
Part: TypeAlias = CountsPart | MomentsPart


@dataclass(frozen=True)
class BlockSpec:
    """What a statistics or histogram block task computes."""

    kept: tuple[int, ...]  # axes kept in the output
    kind: Kind
    bins: Bins | None = None
    range: HistRange | None = None

    @property
    def nbins(self) -> int:
        assert self.bins is not None
        return self.bins if isinstance(self.bins, int) else len(self.bins) - 1


#: How a select pass gathers a target interval: its values, counts by even float64 sub-bins
#: (:func:`even_edge`: nothing to carry), by explicit float64 sub-bin edges, or integer by integer.
COLLECT, EVEN, EDGES, INTS = 0, 1, 2, 3


def even_edge(lo: FloatArray, hi: FloatArray, n: IntArray, j: IntArray) -> FloatArray:
    """Edge ``j`` of ``n`` even sub-bins of ``[lo, hi]`` (numpy.linspace's rule, elementwise):
    the planner and the block tasks compute the same float64 edges from the same four numbers."""
    with np.errstate(over="ignore", invalid="ignore"):
        inner = lo + (hi - lo) * (j / n)
    return np.where(j == 0, lo, np.where(j == n, hi, inner))


@dataclass(frozen=True)
class SelectSpec:
    """What an exact-percentile block task computes: target intervals as arrays (one entry a
    target, sorted by row, then by ``lo``; the intervals of a row do not overlap). Rows are local
    to the block's group."""

    kept: tuple[int, ...]
    kind: Kind
    rows: IntArray  # (T,) the row of each target
    lo: FloatArray  # (T,) float64 bounds
    hi: FloatArray
    closed: npt.NDArray[np.bool_]  # (T,) the interval includes ``hi``
    mode: npt.NDArray[np.int8]  # (T,) COLLECT, EVEN, EDGES or INTS
    sub_at: IntArray  # (T,) where a target's sub-bin counts start in the flat counts
    nsub: IntArray  # (T,) its number of sub-bins (0 to collect)
    #: EDGES: increasing float64 edges (``[e_j, e_j+1)``, the last one closed like the interval),
    #: ``nsub + 1`` a target, one after another in target order (EVEN: computed, not carried)
    edges: FloatArray
    #: INTS: the first integer counted (one sub-bin an integer), modulo 2**64
    first: npt.NDArray[np.uint64]

    @property
    def nsubs(self) -> int:
        """Sub-bin counts of all targets together."""
        return int(self.nsub.sum())

    @property
    def edge_at(self) -> IntArray:
        """Where each target's edges start in :meth:`edge_values` (and end: one more entry)."""
        return _starts(np.where((self.mode == EVEN) | (self.mode == EDGES), self.nsub + 1, 0))

    @property
    def explicit_at(self) -> IntArray:
        """Where each target's edges start in ``edges`` (and end: one more entry)."""
        return _starts(np.where(self.mode == EDGES, self.nsub + 1, 0))

    def edge_values(self) -> FloatArray:
        """The edges of every EVEN and EDGES target, one after another in target order."""
        at = self.edge_at
        tid = np.repeat(np.arange(len(self.mode)), np.diff(at))
        j = np.arange(int(at[-1]), dtype=np.int64) - at[:-1][tid]
        out = np.empty(len(tid))
        even = self.mode[tid] == EVEN
        t = tid[even]
        out[even] = even_edge(self.lo[t], self.hi[t], self.nsub[t], j[even])
        out[~even] = self.edges
        return out


def _starts(length: IntArray) -> IntArray:
    """Where consecutive runs of ``length`` start, and where the last ends."""
    return np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(length)])


@dataclass
class Picked:
    """What a select pass found in its targets (arrays over the targets of a :class:`SelectSpec`,
    or of every group once assembled)."""

    n: IntArray  # (T,) values inside each interval
    vmin: npt.NDArray[Any]  # (T,) their extremes, in the data's dtype (where n > 0)
    vmax: npt.NDArray[Any]
    sub: IntArray  # counts by sub-bin of every EVEN, EDGES and INTS target, flat
    #: COLLECT targets: pieces of (values grouped by target and sorted within it, count a target)
    values: list[tuple[npt.NDArray[Any], IntArray]] = field(default_factory=list)

    def __add__(self, other: Picked) -> Picked:
        both = (self.n > 0) & (other.n > 0)
        vmin = np.where(self.n > 0, self.vmin, other.vmin)
        vmax = np.where(self.n > 0, self.vmax, other.vmax)
        vmin[both] = np.minimum(self.vmin[both], other.vmin[both])
        vmax[both] = np.maximum(self.vmax[both], other.vmax[both])
        return Picked(
            self.n + other.n, vmin, vmax, self.sub + other.sub, self.values + other.values
        )


#: A partial of an exact-percentile pass.
SelectPart: TypeAlias = Picked


@dataclass
class Found:
    """What a select pass found in every target of its rows: :class:`Picked` of every group
    together. Each target's sub-bin counts and collected values (sorted) stay in their group's
    arrays (``subs[part[t]]`` from ``sub_at[t]``, ``values[part[t]]`` from ``val_at[t]``): joined,
    they would be held twice."""

    n: IntArray
    vmin: npt.NDArray[Any]
    vmax: npt.NDArray[Any]
    part: IntArray
    sub_at: IntArray
    val_at: IntArray
    subs: list[IntArray]
    values: list[npt.NDArray[Any]]

    @property
    def cells(self) -> int:
        """Values and sub-bin counts held."""
        return sum(x.size for x in self.subs) + sum(x.size for x in self.values)


def defined(x: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Where an extremes array holds a value (floats: not NaN; Python ints: not None)."""
    if x.dtype == object:
        has: npt.NDArray[np.bool_] = np.asarray(x != None, dtype=np.bool_)  # noqa: E711
        return has
    out: npt.NDArray[np.bool_] = ~np.isnan(x)
    return out


def pick(op: np.ufunc, a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``op`` (``np.minimum`` or ``np.maximum``) of two extremes arrays, row by row; where one
    has no value, the other's."""
    ha, hb = defined(a), defined(b)
    out = np.where(ha, a, b)
    both = ha & hb
    out[both] = op(a[both], b[both])
    return out
