"""What the values' extremes bound, applied to the rounded mean, variance and standard deviation.

Floating-point rows are summed and squared in float64, each step rounded; where the exact result
sits at the edge of float64's range, rounding past the edge turns it into another number
altogether: values of exactly -max and +max (half each) have a standard deviation of exactly
``max``, which a rounding up of one unit in the last place made ``inf``; values of ``max`` and
the float below it had a mean one unit below both. Exact arithmetic bounds each: the mean lies
within ``[min, max]``, and Popoviciu's inequality bounds the sum of squared deviations of ``n``
values by ``n * (max - min)**2 / 4``, so ``std <= (max - min) / 2 * sqrt(n / (n - ddof))``.
A result beyond its bound is closer to the exact value at the bound, so it is set there; bounds
are rounded up (never below the exact bound), and met by no result away from the edge but by a
rounding error.
"""

from __future__ import annotations

import numpy as np

from .parts import FloatArray, IntArray

__all__ = ["half_range_up", "spread_cap"]


def _up(x: FloatArray) -> FloatArray:
    """The next float64 above ``x`` (a rounded-to-nearest result, made an upper bound)."""
    with np.errstate(over="ignore"):
        out: FloatArray = np.nextafter(x, np.inf)
    return out


def half_range_up(vmin: FloatArray, vmax: FloatArray) -> FloatArray:
    """``(vmax - vmin) / 2`` rounded up, for finite extremes (no overflow at +-max: halves first).

    Exact where it can be (``-max .. max`` gives ``max``, not ``inf``): halving is exact but for
    subnormal results, and the subtraction's rounding error is found by TwoSum (Knuth), so the
    next float up is taken only where either rounded."""
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        hi, lo = vmax * 0.5, vmin * 0.5
        halves_exact = (hi * 2.0 == vmax) & (lo * 2.0 == vmin)
        s = hi - lo
        # TwoSum of hi and -lo: s plus err is exact (|hi|, |lo| <= max / 2: no overflow)
        b = s - hi
        err = (hi - (s - b)) + (-lo - b)
    exact_or_above = halves_exact & (err <= 0)
    out: FloatArray = np.where(exact_or_above, s, _up(s))
    return out


def spread_cap(vmin: FloatArray, vmax: FloatArray, n: IntArray, ddof: float) -> FloatArray:
    """An upper bound of the standard deviation of ``n`` values within ``[vmin, vmax]``
    (Popoviciu), rounded up; NaN where ``n - ddof <= 0`` (no spread is defined)."""
    half = half_range_up(vmin, vmax)
    if ddof == 0:
        return half
    nf = n.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        dof = np.nextafter(nf - ddof, -np.inf)  # (rounded down: the ratio below rounds up)
        ratio = _up(np.sqrt(_up(nf / dof)))
        cap = _up(half * ratio)
    out: FloatArray = np.where(dof > 0, cap, np.nan)
    return out
