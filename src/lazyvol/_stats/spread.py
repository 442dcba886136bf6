"""The spread pass: M2 (sum of squared deviations) of floating-point rows whose squares pass
float64.

The statistics pass keeps M2 in float64, so finite values whose deviations pass about 1.3e154
(``sqrt`` of float64's maximum) give ``M2 = inf`` and a standard deviation of ``inf``, though the
spread itself is finite (values of +-1e200 have a std of 1e200). Only for such rows (finite
extremes, M2 not finite) one more pass sums the squared deviations from the known mean scaled by a
power of two per row (exact: only the subtraction rounds, as in the corrected two-pass formula),
which the result turns back into ``std`` (finite) and ``var`` (``inf`` where it passes float64).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .parts import FloatArray, IntArray, MomentsPart

__all__ = [
    "ScaledM2",
    "Spread",
    "SpreadSpec",
    "merge_spreads",
    "overflowed",
    "row_scales",
    "spread_moments",
]


@dataclass(frozen=True)
class SpreadSpec:
    """What a spread block task computes: the rows' mean and power-of-two scale (in the row order
    of its group of blocks)."""

    kept: tuple[int, ...]
    mean: FloatArray
    scale: FloatArray


@dataclass
class ScaledM2:
    """Per row: the sum of the scaled deviations' squares and of the scaled deviations."""

    d_sq: FloatArray
    d_sum: FloatArray


@dataclass(frozen=True)
class Spread:
    """What the spread pass found: its rows, their scales and scaled sums."""

    rows: IntArray
    scale: FloatArray
    found: ScaledM2


def overflowed(m: MomentsPart) -> IntArray:
    """Rows (indexes) of floating-point values, all finite and not all equal, whose M2 passed
    float64.

    Rows of one value have no spread (finalise gives them 0), though their M2 may be ``inf``:
    a chunk's mean of values 1e200 (their rounded sum over the count) is off them by some
    1e184, whose square passes float64. This pass's scale, from their zero width, overflowed
    their scaled mean and made their std NaN."""
    with np.errstate(invalid="ignore"):
        lo, hi = m.vmin.astype(np.float64), m.vmax.astype(np.float64)
        finite = np.isfinite(lo) & np.isfinite(hi) & (lo != hi)
    rows: IntArray = np.flatnonzero((m.n > 0) & finite & np.isfinite(m.mean) & ~np.isfinite(m.m2))
    return rows


def row_scales(m: MomentsPart, rows: IntArray) -> FloatArray:
    """A power of two per row that brings its largest deviation from its mean below 1 (halves
    first: the difference of the extremes can itself pass float64)."""
    lo, hi = m.vmin[rows].astype(np.float64) / 2, m.vmax[rows].astype(np.float64) / 2
    half_mean = m.mean[rows] / 2
    widest = np.maximum(np.abs(hi - half_mean), np.abs(lo - half_mean))
    _, exp = np.frexp(np.maximum(widest, np.finfo(np.float64).tiny))
    scale: FloatArray = np.ldexp(1.0, -(exp.astype(np.int64) + 1))
    return scale


def merge_spreads(*parts: ScaledM2) -> ScaledM2:
    """Add spread partials over the same rows (a node of the merge tree)."""
    out = ScaledM2(parts[0].d_sq.copy(), parts[0].d_sum.copy())
    for p in parts[1:]:
        out.d_sq += p.d_sq
        out.d_sum += p.d_sum
    return out


def spread_moments(
    m: MomentsPart, rows: IntArray, scale: FloatArray, found: ScaledM2, ddof: float
) -> tuple[FloatArray, FloatArray]:
    """(var, std) of ``rows`` from their scaled sums: the corrected two-pass M2, unscaled (var
    ``inf`` where it passes float64; std finite)."""
    n = m.n[rows].astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        m2s = np.maximum(found.d_sq - found.d_sum * found.d_sum / n, 0.0)
        dof = n - ddof
        per = np.where(dof > 0, m2s / dof, np.nan)
        std: FloatArray = np.sqrt(per) / scale
        var: FloatArray = per / scale / scale
    return var, std
