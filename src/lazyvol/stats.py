"""One-pass out-of-core statistics over a :class:`lazyvol.Volume`.

:func:`stats` reads every chunk once and reduces it to a small *partial* (counts, extremes, sums,
mean and sum of squared deviations, value counts or a histogram); partials are merged in a tree
inside the same ``dask.compute``, so peak memory is about one chunk per worker thread plus the
partials, whatever the size of the volume.

How each quantity is combined
-----------------------------
Integer and boolean data (``counts`` strategy, one pass)
    Each chunk is reduced to exact value counts over the span of values it holds
    (``numpy.bincount`` over ``value - chunk_min``), merged by aligning spans. Everything follows
    exactly from the merged counts: count, min, max, the sum as a Python ``int`` (no overflow, even
    for the sum of a large ``uint16`` volume), the mean and variance as correctly rounded
    fractions, the histogram (identical to ``numpy.histogram``) and the percentiles (identical to
    ``numpy.percentile``). 8- and 16-bit data always fit (at most 65,536 values). Wider integers
    (e.g. CT in ``int32`` after rescaling) stay on this path while the values of a merged partial
    span at most :data:`MAX_COUNT_SPAN`; beyond that they fall back to the ``moments`` strategy below
    (sum still exact) and the histogram takes a second pass.

Floating-point data (``moments`` strategy)
    Each chunk gives its count, NaN count, min/max, float64 sum (``math.fsum`` across chunks) and
    mean and M2 (sum of squared deviations, corrected two-pass within the chunk, in float64). Chunks
    are merged with the pairwise update of Chan, Golub & LeVeque (1979), which stays accurate where
    a running float32 sum drifts. The histogram needs its range before the data is binned: with
    ``range=`` (or explicit bin edges) it is computed in the same pass; without, a second pass
    bins the data between the min and max found by the first (``result.passes == 2``). Percentiles
    come from the histogram: the order statistics they need are known to lie in one bin, so each
    percentile is stated with ``percentile_error`` = the width of the interval that holds it. With
    ``exact_percentiles=True`` extra passes collect the values of only the bins holding those order
    statistics (sub-binning bins that hold more than :data:`EXACT_COLLECT_LIMIT` values) and give
    exactly ``numpy.percentile`` (usually one extra pass).

NaN values are counted (``nan_count``) and left out of every other statistic, as in
``numpy.nanmean``/``numpy.nanpercentile``; infinities take part in min/max/mean/std but not in the
histogram (whose default range is the finite min/max).
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import dask
import dask.array as da
import numpy as np
from dask.callbacks import Callback

from .errors import GridMismatchError
from .volume import Volume

__all__ = [
    "EXACT_COLLECT_LIMIT",
    "GridMismatchError",
    "MAX_COUNT_SPAN",
    "VolumeStats",
    "stats",
]

#: Largest span of integer values (max - min + 1) kept as exact value counts in a partial.
MAX_COUNT_SPAN = 1 << 16
#: Exact percentiles: a bin holding at most this many values has them collected and sorted.
EXACT_COLLECT_LIMIT = 1 << 20
#: Elements processed at a time inside a chunk (bounds temporaries to a few MiB).
_PIECE = 1 << 20
#: Fan-in of the merge tree.
_SPLIT_EVERY = 8
#: Give up refining exact percentiles after this many passes (the result then says so).
_MAX_EXACT_PASSES = 12


# -- progress ---------------------------------------------------------------------------------------


class TqdmCallback(Callback):
    """A dask local-scheduler callback that drives a ``tqdm`` bar (one tick per finished task)."""

    def __init__(self, desc: str = "", *, enabled: bool = True) -> None:
        super().__init__()
        self.desc = desc
        self.enabled = enabled
        self._bar: Any = None

    def _start_state(self, dsk: Any, state: Any) -> None:
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
        self._bar = tqdm(total=total, desc=self.desc, unit="task", file=sys.stderr, leave=False)

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def _finish(self, dsk: Any, state: Any, errored: bool) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _compute(objs: Sequence[Any], *, progress: bool, desc: str, nbytes: int = 0) -> tuple[Any, ...]:
    if progress:
        from .progress import DaskProgress

        with DaskProgress(desc, nbytes):
            return dask.compute(*objs)
    return dask.compute(*objs)


# -- partial results --------------------------------------------------------------------------------


@dataclass
class _Part:
    """Reduction of some chunks for ``k`` output rows."""

    k: int
    n: np.ndarray  # valid (non-NaN, inside the mask) values per row, int64
    nan: np.ndarray
    nonzero: np.ndarray
    mode: str = "counts"  # "counts" | "moments" | "hist"
    # counts mode: counts[r, i] = number of values equal to offset + i
    offset: int = 0
    counts: np.ndarray | None = None
    # moments mode
    vmin: list[Any] = field(default_factory=list)
    vmax: list[Any] = field(default_factory=list)
    fmin: list[Any] = field(default_factory=list)  # finite min/max (floats)
    fmax: list[Any] = field(default_factory=list)
    sums: list[Any] = field(
        default_factory=list
    )  # int rows: Python int; float rows: list of floats
    mean: np.ndarray | None = None
    m2: np.ndarray | None = None
    # histogram (moments/hist modes)
    hist: np.ndarray | None = None
    under: np.ndarray | None = None
    over: np.ndarray | None = None


@dataclass(frozen=True)
class _Spec:
    """What a block task computes (small and picklable)."""

    kept: tuple[int, ...]  # axes kept in the output
    kind: str  # "int" | "float"
    want: str  # "stats" | "hist" | "select"
    bins: Any = None  # int or tuple of edges (hist)
    range: tuple[float, float] | None = None
    targets: tuple[
        tuple[int, float, float, bool, bool], ...
    ] = ()  # select: (row, a, b, closed, collect)


def _iter_rows(
    block: np.ndarray, mblock: np.ndarray | None, kept: tuple[int, ...]
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(row, values)``: the in-mask values of each output row of the block, 1D."""
    kshape = tuple(block.shape[a] for a in kept)
    for r, pos in enumerate(np.ndindex(*kshape)):
        idx: list[Any] = [slice(None)] * block.ndim
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


def _pieces(v: np.ndarray) -> Iterator[np.ndarray]:
    for s in range(0, v.size, _PIECE):
        yield v[s : s + _PIECE]


def _int_sum(v: np.ndarray) -> int:
    """Exact sum of an integer array as a Python int (no overflow for any integer dtype)."""
    if v.size == 0:
        return 0
    if v.dtype.itemsize < 8:
        acc = np.uint64 if v.dtype.kind == "u" else np.int64
        return sum(int(np.sum(p, dtype=acc)) for p in _pieces(v))
    total = 0
    for p in _pieces(v):
        u = p.view(np.uint64)
        lo = int(np.sum(u & np.uint64(0xFFFFFFFF), dtype=np.uint64))
        hi_bits = u >> np.uint64(32)
        if v.dtype.kind == "i":
            hi = int(np.sum(hi_bits.view(np.int64) - np.where(p < 0, 1 << 32, 0), dtype=np.int64))
        else:
            hi = int(np.sum(hi_bits, dtype=np.uint64))
        total += (hi << 32) + lo
    return total


def _value_counts(v: np.ndarray) -> tuple[int, np.ndarray] | None:
    """(offset, counts) of an integer/bool array: counts[i] = #(v == offset + i).

    None when the values span more than :data:`MAX_COUNT_SPAN`.
    """
    if v.dtype == np.bool_:
        v = v.view(np.uint8)
    lo = int(v.min())
    hi = int(v.max())
    span = hi - lo + 1
    if span > MAX_COUNT_SPAN:
        return None
    counts = np.zeros(span, dtype=np.int64)
    small = v.dtype.itemsize <= 2
    for p in _pieces(v):
        if small and lo >= 0:
            counts += np.bincount(p, minlength=lo + span)[lo:]
        else:
            counts += np.bincount(
                (p.astype(np.int64) - lo) if small else _shift(p, lo), minlength=span
            )
    return lo, counts


def _shift(p: np.ndarray, lo: int) -> np.ndarray:
    # Wide integers: the span fits in int64 here (span <= MAX_COUNT_SPAN), so a wrapping subtraction
    # in uint64 and a view as int64 give the exact offsets.
    return (p.astype(np.uint64) - np.uint64(lo % (1 << 64))).view(np.int64)


def _empty_part(k: int, mode: str) -> _Part:
    z = np.zeros(k, dtype=np.int64)
    p = _Part(k=k, n=z.copy(), nan=z.copy(), nonzero=z.copy(), mode=mode)
    if mode == "moments":
        p.vmin = [None] * k
        p.vmax = [None] * k
        p.fmin = [None] * k
        p.fmax = [None] * k
        p.sums = [[] for _ in range(k)]
        p.mean = np.zeros(k)
        p.m2 = np.zeros(k)
    return p


def _block_part(block: Any, mblock: Any, spec: _Spec) -> Any:
    """Dask task: reduce one block (and its mask block) to a partial."""
    block = np.asarray(block)
    if not block.dtype.isnative:
        block = block.astype(block.dtype.newbyteorder("="))
    mb = None if mblock is None else np.asarray(mblock)
    kshape = tuple(block.shape[a] for a in spec.kept)
    k = int(np.prod(kshape, dtype=np.int64))
    if spec.want == "select":
        return _block_select(block, mb, spec)
    if spec.want == "hist":
        part = _empty_part(k, "hist")
        _alloc_hist(part, spec)
        for r, v in _iter_rows(block, mb, spec.kept):
            if spec.kind == "float":
                nanm = np.isnan(v)
                if nanm.any():
                    v = v[~nanm]
            _hist_row(part, r, v, spec)
        return part
    if spec.kind == "int":
        return _block_counts(block, mb, spec, k)
    part = _empty_part(k, "moments")
    if spec.bins is not None and (spec.range is not None or not isinstance(spec.bins, int)):
        _alloc_hist(part, spec)
    for r, v in _iter_rows(block, mb, spec.kept):
        nanm = np.isnan(v)
        n_nan = int(np.count_nonzero(nanm))
        if n_nan:
            v = v[~nanm]
        part.nan[r] = n_nan
        _moments_row(part, r, v)
        if part.hist is not None:
            _hist_row(part, r, v, spec)
    return part


def _block_counts(block: np.ndarray, mb: np.ndarray | None, spec: _Spec, k: int) -> _Part:
    rows: list[tuple[int, np.ndarray] | None] = []
    too_wide = False
    for _r, v in _iter_rows(block, mb, spec.kept):
        vc = _value_counts(v) if v.size else None
        too_wide = too_wide or (v.size > 0 and vc is None)
        if too_wide:
            break
        rows.append(vc)
    present = [x for x in rows if x is not None]
    part = _empty_part(k, "counts")
    if not present and not too_wide:
        part.counts = np.zeros((k, 0), dtype=np.int64)
        return part
    if not too_wide:
        lo = min(o for o, _ in present)
        hi = max(o + len(c) - 1 for o, c in present)
    if too_wide or hi - lo + 1 > MAX_COUNT_SPAN:
        # Rows too spread out to count values: per-row moments (exact sums) from the values.
        mpart = _empty_part(k, "moments")
        for r, v in _iter_rows(block, mb, spec.kept):
            _moments_row(mpart, r, v)
        return mpart
    counts = np.zeros((k, hi - lo + 1), dtype=np.int64)
    for r, x in enumerate(rows):
        if x is not None:
            o, c = x
            counts[r, o - lo : o - lo + len(c)] = c
    part.offset = lo
    part.counts = counts
    part.n = counts.sum(axis=1)
    if lo <= 0 <= hi:
        part.nonzero = part.n - counts[:, -lo]
    else:
        part.nonzero = part.n.copy()
    return part


def _moments_row(part: _Part, r: int, v: np.ndarray) -> None:
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
        s = _int_sum(v.view(np.uint8) if v.dtype == np.bool_ else v)
        part.sums[r] = s
        mean = float(Fraction(s, n))
        part.fmin[r], part.fmax[r] = part.vmin[r], part.vmax[r]
    else:
        if np.isfinite(vmin) and np.isfinite(vmax):
            part.fmin[r], part.fmax[r] = float(vmin), float(vmax)
        else:
            fin = v[np.isfinite(v)]
            if fin.size:
                part.fmin[r], part.fmax[r] = float(fin.min()), float(fin.max())
        s_parts = [float(np.sum(p, dtype=np.float64)) for p in _pieces(v)]
        part.sums[r] = [math.fsum(s_parts)]
        mean = part.sums[r][0] / n
    m2 = 0.0
    corr = 0.0
    if math.isfinite(mean):
        for p in _pieces(v):
            d = p.astype(np.float64) - mean
            m2 += float(np.dot(d, d))
            corr += float(np.sum(d))
        m2 -= corr * corr / n
    else:
        m2 = math.nan
    assert part.mean is not None and part.m2 is not None
    part.mean[r] = mean
    part.m2[r] = max(m2, 0.0)


def _alloc_hist(part: _Part, spec: _Spec) -> None:
    nb = spec.bins if isinstance(spec.bins, int) else len(spec.bins) - 1
    part.hist = np.zeros((part.k, nb), dtype=np.int64)
    part.under = np.zeros(part.k, dtype=np.int64)
    part.over = np.zeros(part.k, dtype=np.int64)


def _hist_row(part: _Part, r: int, v: np.ndarray, spec: _Spec) -> None:
    assert part.hist is not None and part.under is not None and part.over is not None
    if v.size == 0:
        return
    if isinstance(spec.bins, int):
        h, edges = np.histogram(v, bins=spec.bins, range=spec.range)
    else:
        edges = np.asarray(spec.bins, dtype=np.float64)
        h, edges = np.histogram(v, bins=edges)
    part.hist[r] += h
    part.under[r] += int(np.count_nonzero(v < edges[0]))
    part.over[r] += int(np.count_nonzero(v > edges[-1]))


# -- merging ----------------------------------------------------------------------------------------


def _to_moments(p: _Part) -> _Part:
    """Convert a counts partial to a moments partial (exact sums, exact mean/M2 rounded once)."""
    if p.mode == "moments":
        return p
    assert p.counts is not None
    q = _empty_part(p.k, "moments")
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
        assert q.mean is not None and q.m2 is not None
        q.mean[r] = float(Fraction(s, n))
        q.m2[r] = float(Fraction(n * ss - s * s, n))
    return q


def _merge2(a: _Part, b: _Part) -> _Part:
    if a.mode == "counts" and b.mode == "counts":
        assert a.counts is not None and b.counts is not None
        if a.counts.shape[1] == 0:
            b2 = _copy_counts(b)
            b2.nan += a.nan
            return b2
        if b.counts.shape[1] == 0:
            a2 = _copy_counts(a)
            a2.nan += b.nan
            return a2
        lo = min(a.offset, b.offset)
        hi = max(a.offset + a.counts.shape[1], b.offset + b.counts.shape[1])
        if hi - lo <= MAX_COUNT_SPAN:
            counts = np.zeros((a.k, hi - lo), dtype=np.int64)
            counts[:, a.offset - lo : a.offset - lo + a.counts.shape[1]] += a.counts
            counts[:, b.offset - lo : b.offset - lo + b.counts.shape[1]] += b.counts
            return _Part(
                k=a.k,
                n=a.n + b.n,
                nan=a.nan + b.nan,
                nonzero=a.nonzero + b.nonzero,
                mode="counts",
                offset=lo,
                counts=counts,
            )
    if a.mode == "hist":
        out = _empty_part(a.k, "hist")
        out.hist = a.hist + b.hist  # type: ignore[operator]
        out.under = a.under + b.under  # type: ignore[operator]
        out.over = a.over + b.over  # type: ignore[operator]
        return out
    a, b = _to_moments(a), _to_moments(b)
    out = _empty_part(a.k, "moments")
    out.nan = a.nan + b.nan
    out.nonzero = a.nonzero + b.nonzero
    out.n = a.n + b.n
    assert a.mean is not None and b.mean is not None and a.m2 is not None and b.m2 is not None
    assert out.mean is not None and out.m2 is not None
    for r in range(a.k):
        na, nb = int(a.n[r]), int(b.n[r])
        out.vmin[r] = _pick(min, a.vmin[r], b.vmin[r])
        out.vmax[r] = _pick(max, a.vmax[r], b.vmax[r])
        out.fmin[r] = _pick(min, a.fmin[r], b.fmin[r])
        out.fmax[r] = _pick(max, a.fmax[r], b.fmax[r])
        sa, sb = a.sums[r], b.sums[r]
        if isinstance(sa, list) or isinstance(sb, list):
            out.sums[r] = _as_list(sa) + _as_list(sb)
        else:
            out.sums[r] = sa + sb
        if na == 0 or nb == 0:
            src = a if nb == 0 else b
            out.mean[r], out.m2[r] = src.mean[r], src.m2[r]  # type: ignore[index]
            continue
        # Chan, Golub & LeVeque: pairwise update of mean and M2.
        n = na + nb
        delta = b.mean[r] - a.mean[r]
        out.mean[r] = a.mean[r] + delta * (nb / n)
        out.m2[r] = a.m2[r] + b.m2[r] + delta * delta * (na * nb / n)
    if a.hist is not None and b.hist is not None:
        out.hist = a.hist + b.hist
        out.under = a.under + b.under  # type: ignore[operator]
        out.over = a.over + b.over  # type: ignore[operator]
    return out


def _as_list(s: Any) -> list[Any]:
    if isinstance(s, list):
        return list(s)
    return [float(s)] if s != 0 else []


def _copy_counts(p: _Part) -> _Part:
    return _Part(
        k=p.k,
        n=p.n.copy(),
        nan=p.nan.copy(),
        nonzero=p.nonzero.copy(),
        mode="counts",
        offset=p.offset,
        counts=None if p.counts is None else p.counts.copy(),
    )


def _pick(fn: Callable[[Any, Any], Any], x: Any, y: Any) -> Any:
    if x is None:
        return y
    if y is None:
        return x
    return fn(x, y)


def _merge_many(*parts: Any) -> Any:
    if parts and isinstance(parts[0], dict):  # select partials
        return _merge_select(list(parts))
    out = parts[0]
    for p in parts[1:]:
        out = _merge2(out, p)
    return out


def _tree(items: list[Any]) -> Any:
    merge = dask.delayed(_merge_many, pure=True)
    while len(items) > 1:
        items = [merge(*items[i : i + _SPLIT_EVERY]) for i in range(0, len(items), _SPLIT_EVERY)]
    return items[0]


# -- exact percentile selection ---------------------------------------------------------------------


def _block_select(block: np.ndarray, mb: np.ndarray | None, spec: _Spec) -> dict[int, Any]:
    """For each target interval: its values (``collect``) or a sub-histogram, plus min/max."""
    by_row: dict[int, list[tuple[int, tuple[int, float, float, bool, bool]]]] = {}
    for t, tgt in enumerate(spec.targets):
        by_row.setdefault(tgt[0], []).append((t, tgt))
    out: dict[int, Any] = {}
    for r, v in _iter_rows(block, mb, spec.kept):
        if r not in by_row:
            continue
        if spec.kind == "float":
            nanm = np.isnan(v)
            if nanm.any():
                v = v[~nanm]
        for t, (_row, a, b, closed, collect) in by_row[r]:
            sel = v[(v >= a) & ((v <= b) if closed else (v < b))]
            if sel.size == 0:
                out[t] = (None, None, [] if collect else np.zeros(_SUB_BINS, dtype=np.int64))
                continue
            lo, hi = sel.min().item(), sel.max().item()
            if collect:
                out[t] = (lo, hi, [sel.copy()])
            else:
                h, _ = np.histogram(sel, bins=_SUB_BINS, range=(a, b))
                out[t] = (lo, hi, h.astype(np.int64))
    return out


_SUB_BINS = 1024


def _merge_select(parts: list[dict[int, Any]]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for p in parts:
        for t, (lo, hi, payload) in p.items():
            if t not in out:
                out[t] = (lo, hi, payload if not isinstance(payload, list) else list(payload))
                continue
            lo0, hi0, pay0 = out[t]
            merged = pay0 + payload  # list concatenation or histogram sum
            out[t] = (_pick(min, lo0, lo), _pick(max, hi0, hi), merged)
    return out


# -- the result ---------------------------------------------------------------------------------------


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return [_jsonable(y) for y in x.tolist()] if x.dtype == object else _jsonable(x.tolist())
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(y) for y in x]
    if isinstance(x, np.generic):
        return _jsonable(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


@dataclass
class VolumeStats:
    """Statistics of a volume (or of each output row when computed with ``axis=``).

    Without ``axis`` every field is a scalar; with ``axis`` each is an array over the kept axes
    (``histogram`` gets one more axis for the bins, ``percentiles`` one more for ``q``); index the
    result (``res[t]``) for the statistics of one row.

    Attributes
    ----------
    count : int
        Values taken into account (inside the mask, not NaN).
    nan_count : int
        NaN values (inside the mask) left out of the other statistics.
    nonzero : int
        Values other than zero (among ``count``).
    min, max : int or float
        Extremes (``None``/NaN when ``count == 0``). Integer data gives Python ints.
    sum : int or float
        Exact Python ``int`` for integer data; float64 (``math.fsum`` of chunk sums) otherwise.
    mean, std, var : float
        float64; ``std``/``var`` use ``ddof``.
    bin_edges : numpy.ndarray
        ``bins + 1`` edges shared by every row (equal to ``numpy.histogram``'s for the same range).
    histogram : numpy.ndarray
        Counts per bin (int64); values outside the range are not counted (see ``under``/``over``).
    under, over : int
        Values below the first / above the last edge (only non-zero with ``range=``).
    q : tuple of float
        The percentiles asked for.
    percentiles : numpy.ndarray
        One value per ``q`` (``numpy.percentile``'s linear method).
    percentile_error : numpy.ndarray
        Bound on ``|estimate - exact|`` per ``q``: 0 when exact, otherwise the width of the interval
        (histogram bin) known to hold the order statistics.
    percentile_method : str
        ``"exact"`` or ``"histogram"``.
    dtype : str
        The data's dtype.
    axis : tuple of int or None
        Reduced axes.
    passes : int
        How many times the data was read.
    ddof : int
    """

    count: Any
    nan_count: Any
    nonzero: Any
    min: Any
    max: Any
    sum: Any
    mean: Any
    std: Any
    var: Any
    bin_edges: np.ndarray | None
    histogram: Any
    under: Any
    over: Any
    q: tuple[float, ...]
    percentiles: Any
    percentile_error: Any
    percentile_method: str
    dtype: str
    axis: tuple[int, ...] | None
    passes: int
    ddof: int = 0
    shape: tuple[int, ...] = ()  # shape of the kept axes (() without axis)

    def __getitem__(self, index: Any) -> VolumeStats:
        """Statistics of one row of a per-axis result (``res[t]``, ``res[i, j]``)."""
        if not self.shape:
            raise IndexError("a scalar VolumeStats has no rows (use axis= to get per-row results)")
        if not isinstance(index, tuple):
            index = (index,)
        if len(index) != len(self.shape) or not all(isinstance(i, int | np.integer) for i in index):
            raise IndexError(f"index with {len(self.shape)} integers, got {index!r}")
        fields: dict[str, Any] = {}
        for name in (
            "count",
            "nan_count",
            "nonzero",
            "min",
            "max",
            "sum",
            "mean",
            "std",
            "var",
            "histogram",
            "under",
            "over",
            "percentiles",
            "percentile_error",
        ):
            value = getattr(self, name)
            item = value[index] if value is not None else None
            fields[name] = item.item() if isinstance(item, np.generic) else item
        return VolumeStats(
            bin_edges=self.bin_edges,
            q=self.q,
            percentile_method=self.percentile_method,
            dtype=self.dtype,
            axis=self.axis,
            passes=self.passes,
            ddof=self.ddof,
            shape=(),
            **fields,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (NaN -> None, infinities -> "inf"/"-inf")."""
        d: dict[str, Any] = {
            "dtype": self.dtype,
            "axis": None if self.axis is None else list(self.axis),
            "shape": list(self.shape),
            "count": self.count,
            "nan_count": self.nan_count,
            "nonzero": self.nonzero,
            "min": self.min,
            "max": self.max,
            "sum": self.sum,
            "mean": self.mean,
            "std": self.std,
            "var": self.var,
            "ddof": self.ddof,
            "histogram": {
                "bin_edges": self.bin_edges,
                "counts": self.histogram,
                "under": self.under,
                "over": self.over,
            },
            "percentiles": {
                "q": list(self.q),
                "values": self.percentiles,
                "error_bound": self.percentile_error,
                "method": self.percentile_method,
            },
            "passes": self.passes,
        }
        return _jsonable(d)

    def __repr__(self) -> str:
        if self.shape:
            return f"<VolumeStats rows={self.shape} dtype={self.dtype} axis={self.axis}>"
        return (
            f"<VolumeStats count={self.count} min={self.min} max={self.max} mean={self.mean:.6g} "
            f"std={self.std:.6g} dtype={self.dtype}>"
        )


# -- the public function --------------------------------------------------------------------------------


def _as_dask(vol: Any) -> tuple[da.Array, np.ndarray | None, str]:
    if isinstance(vol, Volume):
        return vol.data, vol.affine, vol.source
    if isinstance(vol, da.Array):
        return vol, None, ""
    return da.asarray(np.asarray(vol)), None, ""


def _check_grid(
    data: da.Array,
    affine: np.ndarray | None,
    src: str,
    mdata: da.Array,
    maff: np.ndarray | None,
    msrc: str,
) -> None:
    spatial_ok = tuple(mdata.shape) == tuple(data.shape) or (
        mdata.ndim == 3 and data.ndim > 3 and tuple(mdata.shape) == tuple(data.shape[:3])
    )
    aff_ok = True
    if affine is not None and maff is not None:
        sizes = np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))
        tol = 1e-3 * float(max(sizes.min(), 1e-12))
        aff_ok = bool(np.allclose(affine, maff, rtol=0, atol=tol))
    if not (spatial_ok and aff_ok):
        np.set_printoptions(precision=6, suppress=True)
        what = "shape" if not spatial_ok else "affine"
        raise GridMismatchError(
            f"mask {msrc or '<array>'} is not on the grid of volume {src or '<array>'} ({what} differs): "
            f"volume shape {tuple(data.shape)}, affine {np.array2string(np.asarray(affine), separator=', ')}; "
            f"mask shape {tuple(mdata.shape)}, affine {np.array2string(np.asarray(maff), separator=', ')}. "
            "Resample the mask onto the volume's grid first (e.g. nilearn.image.resample_to_img)"
        )


def stats(
    vol: Volume | da.Array | np.ndarray,
    *,
    mask: Volume | da.Array | np.ndarray | None = None,
    bins: int | Sequence[float] | None = 256,
    range: tuple[float, float] | None = None,  # numpy's name for it
    percentiles: Sequence[float] = (1, 5, 25, 50, 75, 95, 99),
    axis: int | Sequence[int] | None = None,
    exact_percentiles: bool = False,
    ddof: int = 0,
    progress: bool = False,
) -> VolumeStats:
    """Statistics of a volume in one pass over its chunks (bounded memory).

    Parameters
    ----------
    vol : Volume, dask array or numpy array
        The data. Integer, boolean and floating-point dtypes are supported.
    mask : Volume or array, optional
        Statistics over the voxels where the mask is non-zero (and not NaN). Must be on the same
        grid: same shape (a 3D mask also applies to every volume of a 4D series) and, for
        Volumes, the same affine within 1e-3 of a voxel; otherwise :class:`GridMismatchError`.
        Neither volume is loaded whole: mask chunks are read alongside the data's.
    bins : int, sequence of float or None
        Histogram bins over ``range`` (default: the data's min..max; ``numpy.histogram`` rules), or
        explicit edges. ``None``: no histogram.
    range : (float, float), optional
        Histogram range. For floating-point data, giving it keeps the computation to one pass.
    percentiles : sequence of float
        Percentiles (0..100) to report, ``numpy.percentile``'s default (linear) method.
    axis : int or sequence of int, optional
        Axes to reduce (default: all). ``axis=(0, 1, 2)`` on a 4D series gives one result per
        time point; the kept axes become the shape of every field. Meant for a modest number of
        outputs (per volume, per slice).
    exact_percentiles : bool
        Floating-point data: make the percentiles exact with extra passes that collect only the
        values of the bins holding the needed order statistics. Integer data is always exact.
    ddof : int
        Delta degrees of freedom of ``var``/``std`` (numpy's meaning).
    progress : bool
        Show a tqdm progress bar on stderr (local schedulers only).

    Returns
    -------
    VolumeStats

    Raises
    ------
    GridMismatchError
        The mask's shape or affine differ from the volume's.
    TypeError
        Complex or non-numeric data.

    Notes
    -----
    One ``dask.compute`` reads each chunk once for count, NaN count, non-zero count, min, max,
    sum, mean and std, and for integer data the exact histogram and percentiles as well. Floating
    point data without ``range=`` needs a second pass for the histogram (its range is the min/max
    of the first), and ``exact_percentiles`` usually one more. ``result.passes`` says how many were
    made. Memory: one chunk per thread plus small partials (value counts over at most
    :data:`MAX_COUNT_SPAN` values, or ``bins`` counts, per output row).

    Examples
    --------
    >>> import numpy as np, lazyvol as lv
    >>> vol = lv.Volume(np.arange(24, dtype="uint16").reshape(2, 3, 4))
    >>> res = lv.stats(vol, bins=4)
    >>> res.count, res.min, res.max, res.sum, res.mean
    (24, 0, 23, 276, 11.5)
    >>> res.histogram.tolist()
    [6, 6, 6, 6]
    """
    data, affine, src = _as_dask(vol)
    if data.dtype.kind not in "biuf":
        raise TypeError(f"stats() needs integer, boolean or floating-point data, got {data.dtype}")
    dtype_name = str(data.dtype)
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)  # numbers 0/1 (numpy refuses percentiles of booleans)
    ndim = data.ndim
    if axis is None:
        red = tuple(range_(ndim))
    else:
        ax = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
        red = tuple(sorted({int(a) % ndim for a in ax}))
        if len(red) != len(ax):
            raise ValueError(f"repeated axis in {axis!r}")
    kept = tuple(a for a in range_(ndim) if a not in red)
    kind = "int" if data.dtype.kind in "biu" else "float"
    q = tuple(float(x) for x in percentiles)
    if any(not 0 <= x <= 100 for x in q):
        raise ValueError(f"percentiles must be in 0..100, got {q}")
    if isinstance(bins, int | np.integer):
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        bins = int(bins)
    elif bins is not None:
        bins = tuple(float(e) for e in bins)
        if len(bins) < 2 or any(b2 < b1 for b1, b2 in itertools.pairwise(bins)):
            raise ValueError("bin edges must be a monotonically increasing sequence of 2+ values")
    if range is not None:
        rng = (float(range[0]), float(range[1]))
        if not (math.isfinite(rng[0]) and math.isfinite(rng[1])) or rng[0] > rng[1]:
            raise ValueError(f"range must be finite with min <= max, got {range!r}")
    else:
        rng = None

    mdata = None
    if mask is not None:
        mdata, maff, msrc = _as_dask(mask)
        _check_grid(data, affine, src, mdata, maff, msrc)
        if mdata.ndim < ndim:
            mdata = da.broadcast_to(
                mdata.reshape(mdata.shape + (1,) * (ndim - mdata.ndim)), data.shape
            )
        mdata = mdata.rechunk(data.chunks)

    blocks = data.to_delayed(optimize_graph=True)
    mblocks = None if mdata is None else mdata.to_delayed(optimize_graph=True)
    groups: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
    for bidx in np.ndindex(*blocks.shape):
        groups.setdefault(tuple(bidx[a] for a in kept), []).append(bidx)
    kshape = tuple(int(data.shape[a]) for a in kept)
    starts = {a: np.concatenate([[0], np.cumsum(data.chunks[a])]).astype(int) for a in kept}

    flat_index = np.arange(int(np.prod(kshape, dtype=np.int64))).reshape(kshape)
    group_rows = {
        g: flat_index[
            tuple(slice(int(starts[a][gi]), int(starts[a][gi + 1])) for a, gi in zip(kept, g))
        ].ravel()
        for g in groups
    }

    def run(
        spec: _Spec | Callable[[tuple[int, ...]], _Spec | None], desc: str
    ) -> dict[tuple[int, ...], Any]:
        task = dask.delayed(_block_part, pure=True)
        finals = []
        keys = []
        for g in groups:
            sp = spec(g) if callable(spec) else spec
            if sp is None:
                continue
            parts = [
                task(blocks[b], None if mblocks is None else mblocks[b], sp) for b in groups[g]
            ]
            finals.append(_tree(parts))
            keys.append(g)
        results = _compute(finals, progress=progress, desc=desc, nbytes=int(data.nbytes))
        return dict(zip(keys, results))

    def run_select(targets: list[tuple[int, float, float, bool, bool]]) -> dict[int, Any]:
        """Select pass over global-row targets; returns merged payloads by target index."""
        where = {}
        for g, rows in group_rows.items():
            for local, row in enumerate(rows.tolist()):
                where[row] = (g, local)
        per_group: dict[tuple[int, ...], list[int]] = {}
        for t, tgt in enumerate(targets):
            per_group.setdefault(where[tgt[0]][0], []).append(t)

        def spec_for(g: tuple[int, ...]) -> _Spec | None:
            ts = per_group.get(g)
            if not ts:
                return None
            local = tuple((where[targets[t][0]][1], *targets[t][1:]) for t in ts)
            return _Spec(kept=kept, kind=kind, want="select", targets=local)  # type: ignore[arg-type]

        out: dict[int, Any] = {}
        for g, payloads in run(spec_for, "percentiles").items():
            for local_t, value in payloads.items():
                out[per_group[g][local_t]] = value
        return out

    spec1 = _Spec(kept=kept, kind=kind, want="stats", bins=bins, range=rng)
    res1 = run(spec1, "stats")
    passes = 1
    merged = _assemble(res1, groups, kept, kshape, starts)

    # Decide the histogram range and whether a second pass is needed.
    all_counts = merged.mode == "counts"
    edges: np.ndarray | None = None
    if bins is not None:
        if not isinstance(bins, int):
            edges = np.asarray(bins, dtype=np.float64)
            rng_eff = None
        else:
            if rng is None:
                lo_hi = _global_range(merged)
                # numpy.histogram's default range is (a.min(), a.max()) as scalars of a's dtype;
                # the edges (and so the binning) depend on that, so keep the same scalars.
                rng_eff = (
                    (data.dtype.type(lo_hi[0]), data.dtype.type(lo_hi[1]))
                    if lo_hi is not None
                    else (0.0, 1.0)
                )
            else:
                rng_eff = rng
            edges = np.histogram_bin_edges(np.empty(0, dtype=data.dtype), bins=bins, range=rng_eff)
        if not all_counts and merged.hist is None:
            spec2 = _Spec(
                kept=kept,
                kind=kind,
                want="hist",
                bins=bins,
                range=rng_eff if isinstance(bins, int) else None,
            )
            res2 = run(spec2, "histogram")
            passes += 1
            h = _assemble(res2, groups, kept, kshape, starts)
            merged.hist, merged.under, merged.over = h.hist, h.under, h.over

    return _finalize(
        merged,
        edges,
        bins,
        q,
        kind,
        exact_percentiles,
        ddof,
        dtype_name,
        red,
        kshape,
        passes,
        run_select if (exact_percentiles and not all_counts) else None,
        axis is not None,
    )


range_ = range  # the builtin, shadowed by stats()'s numpy-style ``range`` parameter


def _assemble(
    res: dict[tuple[int, ...], _Part],
    groups: dict[tuple[int, ...], list[tuple[int, ...]]],
    kept: tuple[int, ...],
    kshape: tuple[int, ...],
    starts: dict[int, np.ndarray],
) -> _Part:
    """Put the per-group partials (each over a sub-block of rows) into one partial over all rows."""
    if not kept:
        return res[()]
    ktotal = int(np.prod(kshape, dtype=np.int64))
    parts = list(res.values())
    mode = "counts" if all(p.mode == "counts" for p in parts) else parts[0].mode
    if mode == "counts":
        nonempty = [p for p in parts if p.counts is not None and p.counts.shape[1]]
        lo = min((p.offset for p in nonempty), default=0)
        hi = max((p.offset + p.counts.shape[1] for p in nonempty), default=0)  # type: ignore[union-attr]
        if hi - lo > MAX_COUNT_SPAN:
            mode = "moments"
    out = _empty_part(ktotal, mode)
    if mode == "counts":
        out.offset = lo
        out.counts = np.zeros((ktotal, hi - lo), dtype=np.int64)
    else:
        parts = [_to_moments(p) if p.mode == "counts" else p for p in parts]
        res = dict(zip(res.keys(), parts))
    hist_parts = [p.hist for p in parts]
    if mode != "counts" and all(h is not None for h in hist_parts):
        nb = hist_parts[0].shape[1]  # type: ignore[union-attr]
        out.hist = np.zeros((ktotal, nb), dtype=np.int64)
        out.under = np.zeros(ktotal, dtype=np.int64)
        out.over = np.zeros(ktotal, dtype=np.int64)
    flat_index = np.arange(ktotal).reshape(kshape)
    for g, p in res.items():
        sl = tuple(slice(int(starts[a][gi]), int(starts[a][gi + 1])) for a, gi in zip(kept, g))
        rows = flat_index[sl].ravel()
        out.n[rows] = p.n
        out.nan[rows] = p.nan
        out.nonzero[rows] = p.nonzero
        if mode == "counts":
            assert out.counts is not None and p.counts is not None
            if p.counts.shape[1]:
                out.counts[
                    rows, p.offset - out.offset : p.offset - out.offset + p.counts.shape[1]
                ] = p.counts
        elif mode == "moments":
            for i, r in enumerate(rows):
                out.vmin[r], out.vmax[r] = p.vmin[i], p.vmax[i]
                out.fmin[r], out.fmax[r] = p.fmin[i], p.fmax[i]
                out.sums[r] = p.sums[i]
            out.mean[rows] = p.mean  # type: ignore[index]
            out.m2[rows] = p.m2  # type: ignore[index]
        if out.hist is not None:
            out.hist[rows] = p.hist
            out.under[rows] = p.under  # type: ignore[index]
            out.over[rows] = p.over  # type: ignore[index]
    return out


def _global_range(p: _Part) -> tuple[Any, Any] | None:
    if p.mode == "counts":
        assert p.counts is not None
        tot = p.counts.sum(axis=0)
        nz = np.flatnonzero(tot)
        if not nz.size:
            return None
        return p.offset + int(nz[0]), p.offset + int(nz[-1])
    lo = [x for x in p.fmin if x is not None]
    hi = [x for x in p.fmax if x is not None]
    if not lo:
        return None
    return min(lo), max(hi)  # Python ints stay exact (int64 beyond 2**53)


def _lerp_numpy(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's ``_lerp`` for the linear percentile method (same rounding as ``np.percentile``)."""
    diff = b - a
    out = np.asanyarray(np.add(a, diff * t))
    np.subtract(b, diff * (1 - t), out=out, where=t >= 0.5, casting="unsafe", dtype=out.dtype)
    return out


def _ranks(n: int, q: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    gamma = np.asanyarray(virtual - np.floor(virtual), dtype=np.float64)
    return prev.astype(np.int64), nxt.astype(np.int64), gamma


def _finalize(
    m: _Part,
    edges: np.ndarray | None,
    bins: Any,
    q: tuple[float, ...],
    kind: str,
    exact: bool,
    ddof: int,
    dtype: str,
    red: tuple[int, ...],
    kshape: tuple[int, ...],
    passes: int,
    run_select: Callable[[list[Any]], dict[int, Any]] | None,
    per_axis: bool,
) -> VolumeStats:
    k = m.k
    np_dtype = np.dtype(np.uint8) if dtype == "bool" else np.dtype(dtype)
    vmin: list[Any] = [None] * k
    vmax: list[Any] = [None] * k
    sums: list[Any] = [0] * k
    mean = np.full(k, np.nan)
    var = np.full(k, np.nan)
    hist = None if edges is None else np.zeros((k, len(edges) - 1), dtype=np.int64)
    under = np.zeros(k, dtype=np.int64)
    over = np.zeros(k, dtype=np.int64)
    pct = np.full((k, len(q)), np.nan)
    perr = np.full((k, len(q)), np.nan)
    method = "exact" if (m.mode == "counts" or exact) else "histogram"
    # (row, rank) -> interval for exact selection of float order statistics
    pending: dict[tuple[int, int], list[Any]] = {}
    order_stats: dict[tuple[int, int], Any] = {}
    for r in range(k):
        n = int(m.n[r])
        if m.mode == "counts":
            assert m.counts is not None
            c = m.counts[r]
            if n:
                vals = np.arange(len(c), dtype=np.int64) + m.offset
                nzi = np.flatnonzero(c)
                vmin[r] = int(vals[nzi[0]])
                vmax[r] = int(vals[nzi[-1]])
                mx = max(abs(vmin[r]), abs(vmax[r]))
                if n * mx * mx < 2**62:
                    s = int(np.dot(vals, c))
                    ss = int(np.dot(vals * vals, c))
                else:
                    vo, co = vals.astype(object), c.astype(object)
                    s, ss = int(np.dot(vo, co)), int(np.dot(vo * vo, co))
                sums[r] = s
                mean[r] = float(Fraction(s, n))
                if n - ddof > 0:
                    var[r] = float(Fraction(n * ss - s * s, n * (n - ddof)))
                if hist is not None:
                    assert edges is not None
                    sel = c > 0
                    h, _ = np.histogram(vals[sel], bins=edges, weights=c[sel])
                    hist[r] = np.rint(h).astype(np.int64)
                    under[r] = int(c[vals < edges[0]].sum())
                    over[r] = int(c[vals > edges[-1]].sum())
                if q:
                    cum = np.cumsum(c)
                    prev, nxt, gamma = _ranks(n, q)
                    a = vals[np.searchsorted(cum, prev, side="right")].astype(np_dtype)
                    b = vals[np.searchsorted(cum, nxt, side="right")].astype(np_dtype)
                    pct[r] = _lerp_numpy(a, b, gamma)
                    perr[r] = 0.0
            continue
        assert m.mean is not None and m.m2 is not None
        if n == 0:
            continue
        vmin[r], vmax[r] = m.vmin[r], m.vmax[r]
        s_r = m.sums[r]
        if isinstance(s_r, list):
            s_f = math.fsum(s_r)
            sums[r] = s_f
            mean[r] = s_f / n if math.isfinite(s_f) else m.mean[r]
        else:
            sums[r] = int(s_r)
            mean[r] = float(Fraction(int(s_r), n))
        if n - ddof > 0:
            var[r] = float(m.m2[r]) / (n - ddof)
        if hist is not None and m.hist is not None:
            hist[r] = m.hist[r]
            under[r] = int(m.under[r])  # type: ignore[index]
            over[r] = int(m.over[r])  # type: ignore[index]
        if q:
            prev, nxt, gamma = _ranks(n, q)
            for rank in set(prev.tolist()) | set(nxt.tolist()):
                iv = _locate(rank, n, m, r, edges, hist)
                if iv is None:
                    continue
                lo_v, hi_v, below, cnt, closed = iv
                if exact:
                    pending[(r, rank)] = [lo_v, hi_v, closed, below, cnt]
                else:
                    order_stats[(r, rank)] = (lo_v, hi_v, below, cnt)
    if m.mode != "counts" and q:
        if exact and pending:
            assert run_select is not None
            got, extra, unresolved = _exact_select(pending, run_select)
            passes += extra
            order_stats.update(got)
            if unresolved:
                method = "histogram"
                order_stats.update(unresolved)
        for r in range(k):
            n = int(m.n[r])
            if n == 0:
                continue
            prev, nxt, gamma = _ranks(n, q)
            av, bv, err = [], [], []
            for p_, x_ in zip(prev.tolist(), nxt.tolist()):
                ea, ua = _estimate(order_stats, r, p_)
                eb, ub = _estimate(order_stats, r, x_)
                av.append(ea)
                bv.append(eb)
                err.append(max(ua, ub))
            cast = np_dtype if all(e == 0 for e in err) else np.dtype(np.float64)
            pct[r] = _lerp_numpy(np.asarray(av).astype(cast), np.asarray(bv).astype(cast), gamma)
            perr[r] = err

    std = np.sqrt(var)

    def shape_it(x: Any, extra: tuple[int, ...] = ()) -> Any:
        arr = np.asarray(x) if not isinstance(x, list) else _obj(x)
        if not per_axis:
            out = arr.reshape(extra) if extra else arr.reshape(())[()]
            return out.item() if isinstance(out, np.generic) else out
        return arr.reshape(kshape + extra)

    return VolumeStats(
        count=shape_it(m.n),
        nan_count=shape_it(m.nan),
        nonzero=shape_it(m.nonzero),
        min=shape_it(vmin),
        max=shape_it(vmax),
        sum=shape_it(sums),
        mean=shape_it(mean),
        std=shape_it(std),
        var=shape_it(var),
        bin_edges=edges,
        histogram=None if hist is None else shape_it(hist, (hist.shape[1],)),
        under=shape_it(under),
        over=shape_it(over),
        q=q,
        percentiles=shape_it(pct, (len(q),)),
        percentile_error=shape_it(perr, (len(q),)),
        percentile_method=method,
        dtype=dtype,
        axis=red if per_axis else None,
        passes=passes,
        ddof=ddof,
        shape=kshape if per_axis else (),
    )


def _obj(x: list[Any]) -> np.ndarray:
    arr = np.empty(len(x), dtype=object)
    arr[:] = x
    return arr


def _locate(
    rank: int, n: int, m: _Part, r: int, edges: np.ndarray | None, hist: np.ndarray | None
) -> tuple[float, float, int, int, bool] | None:
    """Interval ``[lo, hi)`` (or closed) holding order statistic ``rank`` of row ``r``.

    Returns (lo, hi, values below lo, values in the interval, closed on the right).
    """
    vmin, vmax = m.vmin[r], m.vmax[r]
    if hist is None or edges is None or m.under is None or m.over is None:
        return (vmin, vmax, 0, n, True)
    under = int(m.under[r])
    h = hist[r]
    if rank < under:
        return (vmin, float(edges[0]), 0, under, False)
    cum = np.cumsum(h)
    inside = int(cum[-1]) if len(cum) else 0
    if rank >= under + inside:
        # Above the last edge. Values equal to +inf do not sit in any bin either; they are above.
        return (
            float(np.nextafter(edges[-1], np.inf)),
            vmax,
            under + inside,
            n - under - inside,
            True,
        )
    j = int(np.searchsorted(cum, rank - under, side="right"))
    below = under + (int(cum[j - 1]) if j else 0)
    last = j == len(h) - 1
    return (float(edges[j]), float(edges[j + 1]), below, int(h[j]), last)


def _estimate(order_stats: dict[tuple[int, int], Any], r: int, rank: int) -> tuple[float, float]:
    """(value, error bound) of an order statistic: exact value, or interpolated within its bin."""
    x = order_stats.get((r, rank))
    if x is None:
        return math.nan, math.inf
    if not isinstance(x, tuple):
        return x, 0.0
    lo, hi, below, cnt = x
    lo_f, hi_f = float(lo), float(hi)
    if cnt <= 0 or not (math.isfinite(lo_f) and math.isfinite(hi_f)):
        return (lo_f if math.isfinite(lo_f) else hi_f), math.inf
    frac = (rank - below + 0.5) / cnt
    return lo_f + (hi_f - lo_f) * frac, hi_f - lo_f


def _exact_select(
    pending: dict[tuple[int, int], list[Any]],
    run_select: Callable[[list[Any]], dict[int, Any]],
) -> tuple[dict[tuple[int, int], Any], int, dict[tuple[int, int], Any]]:
    """Refine intervals until each order statistic is known exactly. Returns (values, passes, left)."""
    got: dict[tuple[int, int], Any] = {}
    passes = 0
    while pending and passes < _MAX_EXACT_PASSES:
        # One target per distinct (row, interval); several ranks can share it.
        targets: list[tuple[int, float, float, bool, bool]] = []
        tkey: dict[tuple[int, float, float, bool], int] = {}
        for (r, _rank), (lo, hi, closed, _below, cnt) in pending.items():
            key = (r, float(lo), float(hi), bool(closed))
            if key not in tkey:
                tkey[key] = len(targets)
                targets.append((r, float(lo), float(hi), bool(closed), cnt <= EXACT_COLLECT_LIMIT))
        merged = run_select(targets)
        passes += 1
        nxt: dict[tuple[int, int], list[Any]] = {}
        for (r, rank), (lo, hi, closed, below, _cnt) in pending.items():
            t = tkey[(r, float(lo), float(hi), bool(closed))]
            vlo, vhi, payload = merged.get(t, (None, None, []))
            if vlo is not None and vlo == vhi:
                got[(r, rank)] = vlo
                continue
            if isinstance(payload, list):
                vals = np.sort(np.concatenate(payload)) if payload else np.empty(0)
                i = rank - below
                if 0 <= i < len(vals):
                    got[(r, rank)] = vals[i].item()
                continue
            cum = np.cumsum(payload)
            j = int(np.searchsorted(cum, rank - below, side="right"))
            if j >= len(payload):
                continue
            sub = np.histogram_bin_edges(np.empty(0), bins=_SUB_BINS, range=(lo, hi))
            last = j == _SUB_BINS - 1
            nxt[(r, rank)] = [
                float(sub[j]),
                float(sub[j + 1]),
                closed if last else False,
                below + (int(cum[j - 1]) if j else 0),
                int(payload[j]),
            ]
        pending = nxt
    left = {key: (v[0], v[1], v[3], v[4]) for key, v in pending.items()}
    return got, passes, left
