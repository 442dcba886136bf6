"""Typed partial results: what a block task returns and the merge tree combines.

A partial covers ``k`` output rows (one row without ``axis=``; one per kept index with it).

- :class:`CountsPart` -- integer data: exact value counts over a span of values.
- :class:`MomentsPart` -- floating-point data, or integers too spread out to count: count, extremes,
  exact or compensated sums, mean and M2, optionally a histogram.
- :class:`Histogram` -- the second pass of floating-point data: bin counts only.
- :data:`SelectPart` -- exact percentile passes: per target interval, its values or a
  sub-histogram (:class:`Picked`).

The specs (:class:`BlockSpec`, :class:`SelectSpec`) say what a block task computes; they are small,
frozen and picklable with the standard library, like everything else a dask graph holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "BlockSpec",
    "CountsPart",
    "Histogram",
    "MomentsPart",
    "Part",
    "Picked",
    "SelectPart",
    "SelectSpec",
    "SelectTarget",
    "pick_max",
    "pick_min",
]

IntArray: TypeAlias = npt.NDArray[np.int64]
FloatArray: TypeAlias = npt.NDArray[np.float64]
#: A value of the data as a Python number (``numpy.generic.item()``).
Scalar: TypeAlias = int | float
#: Sum of a row: an exact Python int for integer data, float64 chunk sums (summed with
#: ``math.fsum`` at the end) for floating-point data.
RowSum: TypeAlias = int | list[float]
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


@dataclass
class MomentsPart:
    """Rows as moments: count, extremes, sums, mean and M2 (sum of squared deviations)."""

    n: IntArray
    nan: IntArray
    nonzero: IntArray
    vmin: list[Scalar | None]
    vmax: list[Scalar | None]
    fmin: list[Scalar | None]  # finite extremes (the default histogram range)
    fmax: list[Scalar | None]
    sums: list[RowSum]
    mean: FloatArray
    m2: FloatArray
    #: what float64 ``mean`` leaves off: the mean is ``mean + mean_lo`` to about float64's
    #: precision squared (the chunk merge needs the difference of close means, 1e9 + noise)
    mean_lo: FloatArray
    hist: Histogram | None = None

    @classmethod
    def empty(cls, k: int, *, integer: bool) -> MomentsPart:
        sums: list[RowSum] = [0 if integer else [] for _ in range(k)]
        return cls(
            n=_zeros(k),
            nan=_zeros(k),
            nonzero=_zeros(k),
            vmin=[None] * k,
            vmax=[None] * k,
            fmin=[None] * k,
            fmax=[None] * k,
            sums=sums,
            mean=np.zeros(k),
            m2=np.zeros(k),
            mean_lo=np.zeros(k),
        )

    @property
    def k(self) -> int:
        return int(self.n.shape[0])


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


@dataclass(frozen=True)
class SelectTarget:
    """An interval of one row whose values an exact-percentile pass collects or sub-bins."""

    row: int
    lo: float
    hi: float
    closed: bool  # the interval includes ``hi``
    collect: bool  # collect the values (few enough) rather than count them by sub-bin
    #: otherwise the sub-bins: integers ``(first, last)`` counted value by value, or else
    #: increasing float64 edges (``[e_j, e_j+1)``, the last one closed like the interval), packed
    #: as little-endian float64 bytes (8 bytes an edge where a tuple of floats takes 32)
    ints: tuple[int, int] | None = None
    edges: bytes = b""

    @property
    def nsub(self) -> int:
        """Number of sub-bins."""
        if self.ints is not None:
            return self.ints[1] - self.ints[0] + 1
        return max(len(self.edges) // 8 - 1, 0)

    def edge_array(self) -> npt.NDArray[np.float64]:
        """The float64 sub-bin edges."""
        return np.frombuffer(self.edges, dtype="<f8").astype(np.float64)


@dataclass(frozen=True)
class SelectSpec:
    """What an exact-percentile block task computes (rows are local to the block's group)."""

    kept: tuple[int, ...]
    kind: Kind
    targets: tuple[SelectTarget, ...]


@dataclass
class Picked:
    """What a select pass found in one target interval: extremes and values or sub-bin counts."""

    lo: Scalar | None
    hi: Scalar | None
    values: list[npt.NDArray[Any]] = field(default_factory=list)  # collect: unsorted pieces
    sub_counts: IntArray | None = None  # otherwise: counts over the target's sub-bins

    def __add__(self, other: Picked) -> Picked:
        if self.sub_counts is not None and other.sub_counts is not None:
            sub: IntArray | None = self.sub_counts + other.sub_counts
        else:
            sub = self.sub_counts if other.sub_counts is None else other.sub_counts
        return Picked(
            lo=pick_min(self.lo, other.lo),
            hi=pick_max(self.hi, other.hi),
            values=self.values + other.values,
            sub_counts=sub,
        )


#: A partial of an exact-percentile pass: target index -> what was found.
SelectPart: TypeAlias = dict[int, Picked]


def pick_min(x: Scalar | None, y: Scalar | None) -> Scalar | None:
    if x is None:
        return y
    if y is None:
        return x
    return min(x, y)


def pick_max(x: Scalar | None, y: Scalar | None) -> Scalar | None:
    if x is None:
        return y
    if y is None:
        return x
    return max(x, y)
