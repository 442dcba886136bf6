"""A block as rows: every output row's in-mask values, reduced for all rows at once.

A block is viewed as a matrix, one line an output row (:class:`Rows`), and read in tiles of at
most :data:`~lazyvol._stats.limits.PIECE` elements. The moments, value counts and histograms of
every row are numpy reductions along the tile's lines, not a Python loop over rows: per-voxel
statistics of a 4-D series have one row a voxel.
"""

from __future__ import annotations

import math
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
    sums: npt.NDArray[Any], n: IntArray
) -> tuple[FloatArray, FloatArray, list[int] | IntArray]:
    """Mean of exact integer row sums rounded once, what the rounding left off, and each row's
    ``floor(mean)`` (an integer between the row's extremes; 0 for an empty row).

    ``sums``: Python ints (object array), or int64 (native moments: then the floors are int64
    too, and rows of ``|sum| <= 2**53`` and fewer than 2**31 values are computed as arrays)."""
    if sums.dtype == np.int64:
        return _int64_means(sums, n)
    k = len(n)
    mean, lo = np.zeros(k), np.zeros(k)
    floor = [0] * k
    for r in np.flatnonzero(n).tolist():
        mean[r], lo[r], floor[r] = _exact_mean(int(sums[r]), int(n[r]))
    return mean, lo, floor


def _exact_mean(s: int, c: int) -> tuple[float, float, int]:
    """``s / c`` rounded once, what the rounding left off (rounded), and ``s // c``."""
    f = s / c  # Python's int division: correctly rounded
    num, den = f.as_integer_ratio()
    return f, (s * den - num * c) / (c * den), s // c


def _int64_means(sums: IntArray, n: IntArray) -> tuple[FloatArray, FloatArray, IntArray]:
    """:func:`exact_means` of int64 sums, the same numbers as the Python-int way.

    With ``|s| <= 2**53`` and ``1 <= c < 2**31`` both are exact in float64, so ``f = s / c`` is
    the correctly rounded quotient. The residual ``R = s - f * c`` is exact in float64 too: ``f``
    is a multiple of ``1 / den`` (``den`` a power of two at most ``1 / ulp(f)``, or 1) and
    ``|R| <= c * ulp(f) / 2``, so ``R * den`` is an integer of magnitude below ``c < 2**53``.
    TwoProduct gives ``f * c = p + e`` exactly, ``s - p`` is exact (Sterbenz: ``p`` is within a
    few ulps of ``s``), and ``(s - p) - e`` rounds to ``R`` itself. ``R / c`` is then rounded
    once, as ``(s * den - num * c) / (c * den)`` is. Other rows: Python ints."""
    has = n > 0
    c = np.where(has, n, 1)
    floor = np.where(has, sums // c, 0)  # numpy's floor division floors, like Python's
    sf, cf = sums.astype(np.float64), c.astype(np.float64)
    f = sf / cf
    p = f * cf
    fh, fl = _split(f)
    ch, cl = _split(cf)
    e = ((fh * ch - p) + fh * cl + fl * ch) + fl * cl
    mean = np.where(has, f, 0.0)
    lo = np.where(has, ((sf - p) - e) / cf, 0.0)
    slow = has & ((np.abs(sums) > 1 << 53) | (n >= 1 << 31))
    for r in np.flatnonzero(slow).tolist():
        mean[r], lo[r], _ = _exact_mean(int(sums[r]), int(n[r]))
    return mean, lo, floor


def _split(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Veltkamp's split: ``x == hi + lo`` exactly, each of at most 26 significant bits."""
    t = x * 134217729.0  # 2**27 + 1
    hi = t - (t - x)
    return hi, x - hi


def shift(p: Values, lo: int, step: int = 0) -> IntArray:
    """``p - lo`` for integers whose span fits in int64 (any integer dtype), plus ``i * step`` on
    line ``i`` of a tile (each value's cell in a table of ``step`` cells a line): a wrapping
    subtraction in uint64 and a view as int64 give the exact offsets."""
    lines = None
    if step and p.ndim == 2 and p.shape[0] > 1:
        lines = (np.arange(p.shape[0], dtype=np.int64) * step)[:, None]
    if p.dtype.itemsize <= 4 and -(1 << 62) < lo < 1 << 62:  # (else the wrapping way below)
        out = p.astype(np.int64)
        out -= lo if lines is None else lo - lines
        return out
    wide: IntArray = (p.astype(np.uint64) - np.uint64(lo % (1 << 64))).view(np.int64)
    if lines is not None:
        wide += lines
    return wide


def outer_edges(rng: tuple[Any, Any]) -> tuple[Any, Any]:
    """The outer edges ``numpy.histogram`` takes from a range (a point widened by 0.5)."""
    first, last = rng
    if first == last:
        first, last = first - 0.5, last + 0.5
    return first, last


#: Values binned at a time (numpy.histogram's block: its temporaries stay in cache).
_BLOCK = 1 << 16


def _bins(v: Values, edges: Values, outer: tuple[Any, Any] | None) -> IntArray:
    """The column of each value in a line ``[under, bin 0 .. bin nb-1, over, NaN]``, the bin as
    ``numpy.histogram`` gives it (its estimate over even bins whose :func:`outer_edges` are
    ``outer``, then the edges' comparisons; else by explicit float64 ``edges``)."""
    nb = len(edges) - 1
    if outer is not None:
        first, last = outer
        keep = (v >= first) & (v <= last)
    else:
        keep = (v >= edges[0]) & (v <= edges[-1])
    every = bool(keep.all())
    vk = v if every else v[keep]
    if outer is not None:
        vk = vk.astype(edges.dtype, copy=False)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            f = vk.astype(np.float64)
            f -= float(first)
            span = float(last) - float(first)
            scale = nb / span if span > 0 else math.inf
            if math.isfinite(scale):
                f *= scale
            else:  # (a span below nb / 1.8e308, values of 1e-307: as numpy.histogram divides)
                f /= span
                f *= nb
            idx = f.astype(np.intp)
        np.minimum(np.maximum(idx, 0, out=idx), nb - 1, out=idx)  # np.clip, without its wrapper
        idx[vk < edges[idx]] -= 1
        idx[(vk >= edges[idx + 1]) & (idx != nb - 1)] += 1
    else:
        vf = vk.astype(np.float64, copy=False)
        idx = np.minimum(np.searchsorted(edges, vf, side="right") - 1, nb - 1)
    idx += 1
    if every:
        return idx
    out = np.full(v.size, nb + 2, dtype=np.intp)  # outside the edges: under, over or NaN
    out[v < edges[0]] = 0
    out[v > edges[-1]] = nb + 1
    out[keep] = idx
    return out


def hist_tile(
    hist: Histogram,
    sl: slice,
    x: Values,
    ok: Bools | None,
    edges: Values,
    outer: tuple[Any, Any] | None,
) -> None:
    """Add the counted values of a tile (NaN-free where ``ok``) to lines ``sl`` of ``hist``, each
    value in the bin ``numpy.histogram`` gives it (:func:`_bins`), below the first edge or above
    the last: one ``numpy.bincount`` of the tile's cells ``line * (nb + 3) + column``."""
    nb, (n, m) = len(edges) - 1, x.shape
    if not x.size:
        return
    width = nb + 3
    v = x.ravel()
    flat = np.empty(v.size, dtype=np.intp)
    for i in range(0, v.size, _BLOCK):
        flat[i : i + _BLOCK] = _bins(v[i : i + _BLOCK], edges, outer)
    col = flat.reshape(n, m)
    if ok is not None:
        col[~ok] = nb + 2
    if n > 1:
        col += (np.arange(n) * width)[:, None]
    table = np.bincount(col.ravel(), minlength=n * width).reshape(n, width)
    hist.counts[sl] += table[:, 1 : nb + 1]
    hist.under[sl] += table[:, 0]
    hist.over[sl] += table[:, nb + 1]
