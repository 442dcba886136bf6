"""Size limits of the statistics engine.

Read as module attributes at call time (``limits.MAX_COUNT_SPAN``), so a test can lower one with
``monkeypatch.setattr(lazyvol._stats.limits, "EXACT_COLLECT_LIMIT", 50)``.
"""

from __future__ import annotations

__all__ = [
    "EXACT_COLLECT_LIMIT",
    "MAX_BINS",
    "MAX_HIST_CELLS",
    "MAX_COUNT_CELLS",
    "MAX_COUNT_SPAN",
    "NATIVE_MAX_N",
    "countable",
    "exact_budget",
]

#: Most histogram bins :func:`lazyvol.stats` and ``lazyvol stats --bins`` take (the counts of
#: each result row are held in memory: 10 million bins are 80 MB per row).
MAX_BINS = 10_000_000
#: Most histogram counts of all output rows together (rows x bins, int64: 2 GiB, as the largest
#: chunk lazyvol reads by default). A run holds them in its result and, while it merges, a few
#: partials of that size per thread. Per-voxel statistics (``axis=3``) with the default 256 bins
#: of a 2 mm MNI-space series (91 x 109 x 91 voxels: 231 million counts) fit; of a 1 mm one
#: (182 x 218 x 182, 7.2 million voxels: 13.8 GiB a copy) they do not.
MAX_HIST_CELLS = 1 << 28
#: Largest span of integer values (max - min + 1) kept as exact value counts in a partial.
MAX_COUNT_SPAN = 1 << 16
#: Largest counts partial (output rows x span of values, int64 cells: 32 MiB) kept as exact value
#: counts; past it, integer data go the moments way (per-voxel statistics: many rows).
MAX_COUNT_CELLS = 1 << 22
#: Exact percentiles: the values collected and sub-bin counts held in one pass, over all output
#: rows together (16 MiB of float64 values or int64 counts), or the histogram's cells (rows x
#: bins) when more (:func:`exact_budget`). Bins holding more are sub-binned, and with many
#: rows some wait for a later pass.
EXACT_COLLECT_LIMIT = 1 << 21
#: Exact percentiles of many output rows: cells a row may add to the budget of a pass (the
#: default histogram's 256 bins; more with more bins).
EXACT_ROW_CELLS = 256
#: Integer moments of data of at most 32 bits are kept in int64 (extremes, exact sums) for rows of
#: fewer values than this: a value is at most 2**32 in magnitude, so a row's sum stays below 2**63
#: (never more than 2**31; rows with more go the Python-int way).
NATIVE_MAX_N = 1 << 31
#: Elements processed at a time inside a chunk (bounds temporaries to a few MiB).
PIECE = 1 << 20
#: Fan-in of the merge tree.
SPLIT_EVERY = 8
#: Partials of more cells than this (rows x bins, or rows x span of values: per-voxel
#: statistics) merge two at a time, so that a merge holds three of them, not nine.
WIDE_PART_CELLS = 1 << 20
#: Give up refining an exact percentile after this many passes over its interval (the result then
#: says so; intervals waiting for a pass do not count).
MAX_EXACT_PASSES = 12
#: Sub-bins of an interval too full to collect during exact percentile selection.
SUB_BINS = 1024
#: Exact percentiles of integer data: an interval too full to collect but holding at most this many
#: integers is counted value by value (settled in that pass; also where float64 cannot tell the
#: values apart, beyond 2**53).
EXACT_INT_SPAN = 1 << 14


def countable(rows: int, span: int) -> bool:
    """Whether ``rows`` output rows of integer values spanning ``span`` are kept as value counts."""
    return span <= MAX_COUNT_SPAN and rows * span <= MAX_COUNT_CELLS


def exact_budget(rows: int, nbins: int) -> int:
    """Values and sub-bin counts an exact-percentile pass may hold at once for ``rows`` output
    rows binned in ``nbins`` bins: :data:`EXACT_COLLECT_LIMIT`, or as many cells as the histogram
    of every row (at least :data:`EXACT_ROW_CELLS` a row) when that is more. (Besides, the order
    statistics being refined take up to about 500 bytes per row and percentile: numpy arrays.)"""
    return max(EXACT_COLLECT_LIMIT, rows * max(nbins, EXACT_ROW_CELLS))
