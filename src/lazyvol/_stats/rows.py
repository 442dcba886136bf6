"""A block as rows: every output row's in-mask values, reduced for all rows at once.

A block is viewed as a matrix, one line an output row (:class:`Rows`), and read in tiles of at
most :data:`~lazyvol._stats.limits.PIECE` elements. The moments, value counts and histograms of
every row are numpy reductions along the tile's lines, not a Python loop over rows: per-voxel
statistics of a 4-D series have one row a voxel.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from . import limits
from .parts import FloatArray, Histogram, IntArray

__all__ = [
    "Rows",
    "add_exactly",
    "exact_means",
    "hist_tile",
    "outer_edges",
    "row_int_sums",
    "shift",
]

Values = npt.NDArray[Any]
Bools = npt.NDArray[np.bool_]
#: A tile: the output rows it covers, their values (one line a row) and which are counted (None:
#: every value).
Tile = tuple[slice, Values, Bools | None]


def _in_mask(m: Values) -> Bools:
    """Mask values as booleans: non-zero and not NaN."""
    if m.dtype == np.bool_:
        return m
    if m.dtype.kind in "fc":
        out: Bools = (m != 0) & ~np.isnan(m)
        return out
    return np.asarray(m != 0)


@dataclass
class Rows:
    """A block as a ``(k, m)`` matrix: line ``i`` holds the values of output row ``order[i]``.

    The kept axes and the reduced ones are each taken from the largest stride to the smallest,
    so a C- or Fortran-ordered block (a NIfTI chunk) is a view, not a copy; ``order`` maps the
    lines back to the rows (C order of the kept axes)."""

    x: Values
    w: Bools | None
    order: IntArray | None

    @classmethod
    def of(cls, block: Values, mblock: Values | None, kept: tuple[int, ...]) -> Rows:
        reduced = [a for a in range(block.ndim) if a not in kept]
        by_stride = sorted(kept, key=lambda a: -abs(block.strides[a]))
        axes = by_stride + sorted(reduced, key=lambda a: -abs(block.strides[a]))
        kshape = tuple(block.shape[a] for a in kept)
        k = int(np.prod(kshape, dtype=np.int64))
        m = int(np.prod([block.shape[a] for a in reduced], dtype=np.int64))
        x = block.transpose(axes).reshape(k, m)
        w = None if mblock is None else _in_mask(np.asarray(mblock).transpose(axes).reshape(k, m))
        order = None
        if by_stride != list(kept):
            pos = np.arange(k, dtype=np.int64).reshape(kshape)
            order = pos.transpose([kept.index(a) for a in by_stride]).ravel()
        return cls(x, w, order)

    @property
    def k(self) -> int:
        return int(self.x.shape[0])

    def tiles(self, cells: int = 0) -> Iterator[Tile]:
        """Tiles of at most ``PIECE`` values (and ``PIECE`` cells of ``cells`` a row), whole
        lines, or pieces of one line when a line holds more."""
        k, m = self.x.shape
        step = max(1, limits.PIECE // max(m, cells, 1))
        for r0 in range(0, k, step):
            sl = slice(r0, min(r0 + step, k))
            for c0 in range(0, max(m, 1), limits.PIECE):
                cs = slice(c0, c0 + limits.PIECE)
                yield sl, self.x[sl, cs], None if self.w is None else self.w[sl, cs]

    def put(self, a: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Per-line results in row order."""
        if self.order is None:
            return a
        out = np.empty_like(a)
        out[self.order] = a
        return out


def add_exactly(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``x + y`` rounded, and the rounding error (Knuth's TwoSum, elementwise; 0 where not
    finite)."""
    with np.errstate(over="ignore", invalid="ignore"):
        s = x + y
        bb = s - x
        err = (x - (s - bb)) + (y - bb)
    return s, np.where(np.isfinite(s), err, 0.0)


def row_int_sums(x: Values) -> npt.NDArray[np.object_]:
    """Exact sum of each line of an integer tile (at most ``PIECE`` values a line), Python ints."""
    if x.dtype.itemsize < 8:
        acc = np.uint64 if x.dtype.kind == "u" else np.int64
        return np.sum(x, axis=1, dtype=acc).astype(object)
    # 64-bit: the high and low 32 bits summed apart (2**20 values of 2**32 fit in 64 bits)
    lo = np.sum(x & x.dtype.type(0xFFFFFFFF), axis=1, dtype=np.uint64)
    hi = np.sum(x >> x.dtype.type(32), axis=1, dtype=x.dtype)
    out: npt.NDArray[np.object_] = hi.astype(object) * (1 << 32) + lo.astype(object)
    return out


def exact_means(
    sums: npt.NDArray[np.object_], n: IntArray
) -> tuple[FloatArray, FloatArray, list[int]]:
    """Mean of exact integer row sums rounded once, what the rounding left off, and each row's
    ``floor(mean)`` (an integer between the row's extremes; 0 for an empty row)."""
    k = len(n)
    mean, lo = np.zeros(k), np.zeros(k)
    floor = [0] * k
    for r in np.flatnonzero(n).tolist():
        s, c = int(sums[r]), int(n[r])
        mean[r] = f = s / c  # Python's int division: correctly rounded
        num, den = f.as_integer_ratio()
        lo[r] = (s * den - num * c) / (c * den)
        floor[r] = s // c
    return mean, lo, floor


def shift(p: Values, lo: int) -> IntArray:
    """``p - lo`` for integers whose span fits in int64 (any integer dtype): a wrapping
    subtraction in uint64 and a view as int64 give the exact offsets."""
    if p.dtype.itemsize <= 4:
        return p.astype(np.int64) - np.int64(lo)
    out: IntArray = (p.astype(np.uint64) - np.uint64(lo % (1 << 64))).view(np.int64)
    return out


def outer_edges(rng: tuple[Any, Any]) -> tuple[Any, Any]:
    """The outer edges ``numpy.histogram`` takes from a range (a point widened by 0.5)."""
    first, last = rng
    if first == last:
        first, last = first - 0.5, last + 0.5
    return first, last


#: Values binned at a time (numpy.histogram's block).
_BLOCK = 1 << 16


def _bins(v: Values, edges: Values, outer: tuple[Any, Any] | None) -> tuple[IntArray, bool]:
    """The bin of each value as ``numpy.histogram`` gives it, -1 outside the edges: with even bins
    over the range whose :func:`outer_edges` are ``outer`` (its estimate, then the edges'
    comparisons), else by explicit float64 ``edges``; and whether every value is inside."""
    nb = len(edges) - 1
    if outer is not None:
        first, last = outer
        keep = (v >= first) & (v <= last)
        vk = v.astype(edges.dtype, copy=False) if keep.all() else v[keep].astype(edges.dtype)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            f = (vk.astype(np.float64) - float(first)) * (nb / (float(last) - float(first)))
            idx = f.astype(np.intp)
        np.clip(idx, 0, nb - 1, out=idx)
        idx[vk < edges[idx]] -= 1
        idx[(vk >= edges[idx + 1]) & (idx != nb - 1)] += 1
    else:
        vf = v.astype(np.float64, copy=False)
        keep = (vf >= edges[0]) & (vf <= edges[-1])
        idx = np.minimum(np.searchsorted(edges, vf[keep], side="right") - 1, nb - 1)
    if keep.all():
        return idx, True
    out = np.full(v.size, -1, dtype=np.intp)
    out[keep] = idx
    return out, False


def hist_tile(
    hist: Histogram,
    sl: slice,
    x: Values,
    ok: Bools | None,
    edges: Values,
    outer: tuple[Any, Any] | None,
) -> None:
    """Add the counted values of a tile (NaN-free where ``ok``) to lines ``sl`` of ``hist``, each
    value in the bin ``numpy.histogram`` gives it (:func:`_bins`)."""
    nb, n = len(edges) - 1, x.shape[0]
    v = x.ravel() if ok is None else x[ok]
    if not v.size:
        return
    if n == 1:  # one line (whole-volume statistics): numpy.histogram itself, its fast path
        h = np.histogram(v, bins=nb, range=outer)[0] if outer else np.histogram(v, bins=edges)[0]
        hist.counts[sl] += h
        hist.under[sl] += np.count_nonzero(v < edges[0])
        hist.over[sl] += np.count_nonzero(v > edges[-1])
        return
    # each value's line (None: one line)
    r = None if n == 1 else np.repeat(np.arange(n), x.shape[1]) if ok is None else ok.nonzero()[0]
    flat = np.empty(v.size, dtype=np.intp)  # each value's bin, -1 outside the edges
    inside = True
    for i in range(0, v.size, _BLOCK):  # numpy.histogram's blocks: temporaries stay in cache
        flat[i : i + _BLOCK], every = _bins(v[i : i + _BLOCK], edges, outer)
        inside &= every
    if r is not None:
        flat = flat + r * nb if inside else np.where(flat >= 0, flat + r * nb, -1)
    if not inside:
        flat = flat[flat >= 0]
    hist.counts[sl] += np.bincount(flat, minlength=n * nb).reshape(n, nb)
    below, above = v < edges[0], v > edges[-1]
    if r is None:
        hist.under[sl] += np.count_nonzero(below)
        hist.over[sl] += np.count_nonzero(above)
    else:
        hist.under[sl] += np.bincount(r[below], minlength=n)
        hist.over[sl] += np.bincount(r[above], minlength=n)
