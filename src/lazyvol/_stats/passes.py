"""Passes over the chunks: block tasks, a merge tree per group of output rows, one compute each.

Blocks are grouped by their chunk index along the kept axes (all blocks without ``axis=``); each
group's block partials are merged in a tree of fan-in :data:`~lazyvol._stats.limits.SPLIT_EVERY`
inside the same ``dask.compute``, so peak memory is about one chunk per worker thread plus the
partials.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import dask
import dask.array as da
import numpy as np

from . import limits
from .blocks import block_hist, block_select, block_spread, block_stats
from .merge import assemble_hist, assemble_stats, merge_hists, merge_parts, merge_selects
from .parts import (
    Bins,
    BlockSpec,
    Found,
    GroupKey,
    Histogram,
    HistRange,
    IntArray,
    MomentsPart,
    Part,
    SelectPart,
    SelectSpec,
)
from .progress import compute
from .request import StatsRequest
from .spread import ScaledM2, Spread, SpreadSpec, merge_spreads, overflowed, row_scales

__all__ = ["Passes"]

T = TypeVar("T")
S = TypeVar("S")


def _tree(items: list[Any], merge: Callable[..., Any], cells: int) -> Any:
    """A dask merge tree over delayed partials of about ``cells`` cells each; the root."""
    node = dask.delayed(merge, pure=True)
    step = 2 if cells > limits.WIDE_PART_CELLS else limits.SPLIT_EVERY
    while len(items) > 1:
        items = [node(*items[i : i + step]) for i in range(0, len(items), step)]
    return items[0]


def _cells(spec: object, k: int) -> int:
    """About how many cells a partial of ``k`` rows holds: its histogram, value counts (up to
    their budget) and a dozen numbers a row."""
    cells = 16 * k
    if isinstance(spec, BlockSpec):
        cells += 0 if spec.bins is None else k * spec.nbins
        if spec.kind == "int":
            cells += min(k * limits.MAX_COUNT_SPAN, limits.MAX_COUNT_CELLS)
    return cells


class Passes:
    """The passes :func:`lazyvol.stats` makes over one volume (and mask), and how many it made.

    Parameters
    ----------
    data : dask.array.Array
        The data (booleans already as ``uint8``).
    mask : dask.array.Array or None
        The mask, of ``data``'s first axes (a 3D mask of a 4D series: every volume) and chunked
        like them; the blocks of the other axes share its blocks.
    request : StatsRequest
    """

    def __init__(self, data: da.Array, mask: da.Array | None, request: StatsRequest) -> None:
        self.request = request
        self.nbytes = int(data.nbytes)
        self.count = 0
        self._blocks = data.to_delayed(optimize_graph=True)
        self._mblocks = None if mask is None else mask.to_delayed(optimize_graph=True)
        kept = request.kept
        self.groups: dict[GroupKey, list[tuple[int, ...]]] = {}
        for bidx in np.ndindex(*self._blocks.shape):
            self.groups.setdefault(tuple(bidx[a] for a in kept), []).append(bidx)
        self.kshape = tuple(int(data.shape[a]) for a in kept)
        self.k = int(np.prod(self.kshape, dtype=np.int64))
        starts = {a: np.concatenate([[0], np.cumsum(data.chunks[a])]).astype(int) for a in kept}
        flat = np.arange(self.k, dtype=np.int64).reshape(self.kshape)
        self.rows: dict[GroupKey, IntArray] = {
            g: flat[
                tuple(slice(int(starts[a][gi]), int(starts[a][gi + 1])) for a, gi in zip(kept, g))
            ].ravel()
            for g in self.groups
        }
        # each row's group (its index in ``rows``) and place in it
        self._row_group = np.zeros(self.k, dtype=np.int64)
        self._row_local = np.zeros(self.k, dtype=np.int64)
        for gi, rr in enumerate(self.rows.values()):
            self._row_group[rr] = gi
            self._row_local[rr] = np.arange(len(rr))

    def _run(
        self,
        task: Callable[[Any, Any, S], T],
        specs: Mapping[GroupKey, S],
        merge: Callable[..., T],
        desc: str,
    ) -> dict[GroupKey, T]:
        """One pass: ``task`` on every block of the groups in ``specs``, merged per group."""
        node = dask.delayed(task, pure=True)
        finals = []
        for g, spec in specs.items():
            parts = [node(self._blocks[b], self._mask_block(b), spec) for b in self.groups[g]]
            finals.append(_tree(parts, merge, _cells(spec, len(self.rows[g]))))
        results = compute(finals, progress=self.request.progress, desc=desc, nbytes=self.nbytes)
        self.count += 1
        return {g: cast(T, r) for g, r in zip(specs, results)}

    def _mask_block(self, bidx: tuple[int, ...]) -> Any:
        """The mask block of data block ``bidx`` (None without a mask)."""
        if self._mblocks is None:
            return None
        return self._mblocks[bidx[: self._mblocks.ndim]]

    def statistics(self) -> Part:
        """First pass: counts or moments (and the histogram when its range is known)."""
        req = self.request
        spec = BlockSpec(kept=req.kept, kind=req.kind, bins=req.bins, range=req.range)
        res = self._run(block_stats, dict.fromkeys(self.groups, spec), merge_parts, "stats")
        return assemble_stats(res, self.rows, self.k)

    def histogram(self, bins: Bins, hist_range: HistRange | None) -> Histogram:
        """Second pass (floating-point data): the histogram over a range found by the first."""
        spec = BlockSpec(
            kept=self.request.kept, kind=self.request.kind, bins=bins, range=hist_range
        )
        res = self._run(block_hist, dict.fromkeys(self.groups, spec), merge_hists, "histogram")
        return assemble_hist(res, self.rows, self.k)

    def spread(self, m: MomentsPart) -> Spread | None:
        """A pass for the rows of ``m`` whose finite values' M2 passed float64
        (:mod:`~lazyvol._stats.spread`), over only the groups holding them; None when none did."""
        rows = overflowed(m)
        if not len(rows):
            return None
        scale = np.ones(self.k)
        scale[rows] = row_scales(m, rows)
        need = np.zeros(self.k, dtype=np.bool_)
        need[rows] = True
        specs = {
            g: SpreadSpec(kept=self.request.kept, mean=m.mean[rr], scale=scale[rr])
            for g, rr in self.rows.items()
            if need[rr].any()
        }
        res = self._run(block_spread, specs, merge_spreads, "spread")
        d_sq, d_sum = np.zeros(self.k), np.zeros(self.k)
        for g, part in res.items():
            d_sq[self.rows[g]], d_sum[self.rows[g]] = part.d_sq, part.d_sum
        return Spread(rows, scale[rows], ScaledM2(d_sq[rows], d_sum[rows]))

    def select(self, spec: SelectSpec) -> Found:
        """An exact-percentile pass over targets on global rows (sorted by row); what was found."""
        group = self._row_group[spec.rows]
        order = np.argsort(group, kind="stable")
        cut = np.searchsorted(group[order], np.arange(len(self.rows) + 1))
        edge_at = spec.explicit_at
        specs: dict[GroupKey, SelectSpec] = {}
        ids: dict[GroupKey, IntArray] = {}
        for gi, g in enumerate(self.rows):
            sel = order[cut[gi] : cut[gi + 1]]
            if not len(sel):
                continue
            nsub, nedge = spec.nsub[sel], edge_at[sel + 1] - edge_at[sel]
            specs[g] = dataclasses.replace(
                spec,
                kept=self.request.kept,
                rows=self._row_local[spec.rows[sel]],
                lo=spec.lo[sel],
                hi=spec.hi[sel],
                closed=spec.closed[sel],
                mode=spec.mode[sel],
                sub_at=np.cumsum(nsub) - nsub,
                nsub=nsub,
                edges=spec.edges[_ranges(edge_at[sel], nedge)],
                first=spec.first[sel],
            )
            ids[g] = sel
        res: dict[GroupKey, SelectPart] = self._run(
            block_select, specs, merge_selects, "percentiles"
        )
        return _assemble_found(res, ids, spec)


def _ranges(start: IntArray, length: IntArray) -> IntArray:
    """The indexes ``start[i] .. start[i] + length[i] - 1`` of every ``i``, one after another."""
    total = int(length.sum())
    shift = np.repeat(start - (np.cumsum(length) - length), length)
    out: IntArray = shift + np.arange(total, dtype=np.int64)
    return out


def _assemble_found(
    res: dict[GroupKey, SelectPart], ids: Mapping[GroupKey, IntArray], spec: SelectSpec
) -> Found:
    """Every group's partial as one :class:`Found` over the targets of ``spec`` (each group's
    counts and values kept as they are)."""
    t_n = len(spec.rows)
    first = next(iter(res.values()))
    found = Found(
        n=np.zeros(t_n, dtype=np.int64),
        vmin=np.zeros(t_n, dtype=first.vmin.dtype),
        vmax=np.zeros(t_n, dtype=first.vmax.dtype),
        part=np.zeros(t_n, dtype=np.int64),
        sub_at=np.zeros(t_n, dtype=np.int64),
        val_at=np.zeros(t_n, dtype=np.int64),
        subs=[],
        values=[],
    )
    for i, g in enumerate(list(res)):
        picked, sel = res.pop(g), ids[g]
        found.n[sel], found.vmin[sel], found.vmax[sel] = picked.n, picked.vmin, picked.vmax
        found.part[sel] = i
        found.sub_at[sel] = spec.nsub[sel].cumsum() - spec.nsub[sel]
        values, per = _grouped(picked.values, len(sel), first.vmin.dtype)
        found.val_at[sel] = np.cumsum(per) - per
        found.subs.append(picked.sub)
        found.values.append(values)
    return found


def _grouped(
    pieces: list[tuple[Any, IntArray]], t_n: int, dtype: np.dtype[Any]
) -> tuple[Any, IntArray]:
    """Collected values grouped by target and sorted within it, and the count of each target,
    from pieces (one a block) each grouped and sorted so."""
    if not pieces:
        return np.zeros(0, dtype=dtype), np.zeros(t_n, dtype=np.int64)
    if len(pieces) == 1:
        return pieces[0]
    tid = np.concatenate([np.repeat(np.arange(t_n, dtype=np.int32), c) for _, c in pieces])
    values = np.concatenate([v for v, _ in pieces])
    values = values[np.lexsort((values, tid))]
    return values, np.sum([c for _, c in pieces], axis=0)
