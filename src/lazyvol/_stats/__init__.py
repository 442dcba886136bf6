"""One-pass out-of-core statistics over a :class:`lazyvol.Volume` (private; the public name is
:func:`lazyvol.stats`).

Modules: :mod:`.request` (validated arguments), :mod:`.parts` (typed partial results),
:mod:`.blocks` (block tasks), :mod:`.merge` (merges), :mod:`.passes` (passes over the chunks),
:mod:`.percentiles` (order statistics), :mod:`.spread` (M2 past float64), :mod:`.bounds` (what
the extremes bound), :mod:`.finalise` (the result), :mod:`.result` (:class:`VolumeStats`),
:mod:`.limits`.

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
    ``numpy.percentile`` of the values as float64). 8- and 16-bit data always fit (at most 65,536 values). Wider integers
    (e.g. CT in ``int32`` after rescaling) stay on this path while the values of a merged partial
    span at most :data:`~lazyvol._stats.limits.MAX_COUNT_SPAN`; beyond that they fall back to the ``moments`` strategy below
    (sum still exact) and the histogram takes a second pass. So do rows whose counts together
    would pass :data:`~lazyvol._stats.limits.MAX_COUNT_CELLS` (output rows x span: per-voxel
    statistics of a 4D series), which keeps a partial within a budget whatever the number of rows.

Floating-point data (``moments`` strategy)
    Each chunk gives its count, NaN count, min/max, float64 sum (``math.fsum`` across chunks) and
    mean and M2 (sum of squared deviations, corrected two-pass within the chunk, in float64). Chunks
    are merged with the pairwise update of Chan, Golub & LeVeque (1979), which stays accurate where
    a running float32 sum drifts; each mean carries what float64 rounding left off it (the
    deviations' own mean), so the difference of two close chunk means (1e9 + noise of 1e-4) is
    exact. Finite values whose squared deviations pass float64 (a spread beyond about 1.3e154)
    leave M2 infinite: for those rows only, one more pass (:mod:`.spread`) sums the deviations
    scaled by a power of two, so ``std`` is finite and exact to float64 rounding (``var`` is
    ``inf`` where it passes float64 itself). The histogram needs its range before the data is
    binned: with
    ``range=`` (or explicit bin edges) it is computed in the same pass; without, a second pass
    bins the data between the min and max found by the first (``result.passes == 2``). Percentiles
    come from the histogram: the order statistics they need are known to lie in one bin, so each
    percentile is stated with ``percentile_error`` = the width of the interval that holds it. With
    ``exact_percentiles=True`` extra passes collect the values of only the bins holding those order
    statistics and give exactly ``numpy.percentile`` (usually one extra pass). A pass holds at
    most :func:`~lazyvol._stats.limits.exact_budget` values and sub-bin counts over all rows and
    bins together (:data:`~lazyvol._stats.limits.EXACT_COLLECT_LIMIT`, or the histogram's rows x
    bins when more): bins that do not fit are sub-binned within a share of it, the emptiest
    collected first, and with very many rows some wait for a later pass. Sub-bins split a bin
    evenly, or evenly in the order of float64 values where numpy cannot (values a few ulps apart),
    down to one float64 value each; integers are counted one by one once few enough
    (:data:`~lazyvol._stats.limits.EXACT_INT_SPAN`), also past 2**53 where float64 merges them.

Percentiles are interpolated between their two order statistics in float64, whatever the dtype:
``numpy.percentile`` interpolates in the data's own dtype, where integers wrap (int32 from
-2**31 to 999) and float16 overflows, so the reference is numpy's percentile of the values as
float64.

NaN values are counted (``nan_count``) and left out of every other statistic, as in
``numpy.nanmean``/``numpy.nanpercentile``; infinities take part in min/max/mean/std but not in the
histogram (whose default range is the finite min/max).
"""

from __future__ import annotations

from .compute import stats
from .limits import EXACT_COLLECT_LIMIT, MAX_COUNT_CELLS, MAX_COUNT_SPAN
from .result import VolumeStats

__all__ = ["EXACT_COLLECT_LIMIT", "MAX_COUNT_CELLS", "MAX_COUNT_SPAN", "VolumeStats", "stats"]
