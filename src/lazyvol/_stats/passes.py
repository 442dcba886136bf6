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
from .blocks import block_hist, block_select, block_stats
from .merge import assemble_hist, assemble_stats, merge_hists, merge_parts, merge_selects
from .parts import (
    Bins,
    BlockSpec,
    GroupKey,
    Histogram,
    HistRange,
    IntArray,
    Part,
    Picked,
    SelectPart,
    SelectSpec,
    SelectTarget,
)
from .progress import compute
from .request import StatsRequest

__all__ = ["Passes"]

T = TypeVar("T")
S = TypeVar("S")


def _tree(items: list[Any], merge: Callable[..., Any]) -> Any:
    """A dask merge tree over delayed partials; the root."""
    node = dask.delayed(merge, pure=True)
    while len(items) > 1:
        step = limits.SPLIT_EVERY
        items = [node(*items[i : i + step]) for i in range(0, len(items), step)]
    return items[0]


class Passes:
    """The passes :func:`lazyvol.stats` makes over one volume (and mask), and how many it made.

    Parameters
    ----------
    data : dask.array.Array
        The data (booleans already as ``uint8``).
    mask : dask.array.Array or None
        The mask, broadcast and rechunked to ``data``'s shape and chunks.
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
            parts = [
                node(self._blocks[b], None if self._mblocks is None else self._mblocks[b], spec)
                for b in self.groups[g]
            ]
            finals.append(_tree(parts, merge))
        results = compute(finals, progress=self.request.progress, desc=desc, nbytes=self.nbytes)
        self.count += 1
        return {g: cast(T, r) for g, r in zip(specs, results)}

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

    def select(self, targets: list[SelectTarget]) -> dict[int, Picked]:
        """An exact-percentile pass over targets on global rows; what was found per target."""
        where: dict[int, tuple[GroupKey, int]] = {}
        for g, rows in self.rows.items():
            for local, row in enumerate(rows.tolist()):
                where[row] = (g, local)
        per_group: dict[GroupKey, list[int]] = {}
        for t, tgt in enumerate(targets):
            per_group.setdefault(where[tgt.row][0], []).append(t)
        specs = {
            g: SelectSpec(
                kept=self.request.kept,
                kind=self.request.kind,
                targets=tuple(
                    dataclasses.replace(targets[t], row=where[targets[t].row][1]) for t in ts
                ),
            )
            for g, ts in per_group.items()
        }
        res: dict[GroupKey, SelectPart] = self._run(
            block_select, specs, merge_selects, "percentiles"
        )
        out: dict[int, Picked] = {}
        for g, picked in res.items():
            for local_t, value in picked.items():
                out[per_group[g][local_t]] = value
        return out
