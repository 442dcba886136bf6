"""lv.stats against exact arithmetic (Fractions) on adversarial values, with the bounds it
states: chunk shapes that split rows oddly, one result and per-row results (``axis=``).

- float data: ``sum`` and ``mean`` within 4 float64 ulps of the sum of magnitudes
  (``4 * eps * sum(|x|)``, over ``n`` for the mean), numpy's own pairwise bound, whatever the
  offset or cancellation; ``var`` within ``16 * eps`` of the exact variance, relative (the
  corrected two-pass M2: 1e9 + noise of 1e-4 keeps its noise); min and max exact.
- integer data (int64 near 2**53 and 2**62, uint64 near 2**64): ``sum`` exact, ``mean`` the
  correctly rounded exact value; ``var`` too when the values are counted (a span within
  MAX_COUNT_SPAN), else within the float bound (measured: 1 ulp).
Measured on these cases: sum/mean within 1.8 ulps of the sum of magnitudes, var within 3.4
ulps, relative (numpy's float64 answers: the same order)."""

from __future__ import annotations

import math
from fractions import Fraction

import dask.array as da
import numpy as np
import pytest

import lazyvol as lv

EPS = float(np.finfo(np.float64).eps)


def _values(kind: str, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    if kind == "offset":  # large offset, small variance
        return 1e9 + rng.standard_normal(shape) * 1e-4
    if kind == "offset32":
        return (np.float32(3e4) + rng.standard_normal(shape) * 1e-3).astype(np.float32)
    if kind == "cancel":  # terms that cancel beside small ones
        return rng.choice([1e16, -1e16, 1.0, 3.0, 0.5], shape)
    if kind == "scales":  # magnitudes from 1e-100 to 1e100
        return rng.standard_normal(shape) * 10.0 ** rng.integers(-100, 100, shape)
    if kind == "float16":
        return (rng.standard_normal(shape) * 1000).astype(np.float16)
    if kind == "near2p53":  # float64 integers where float64 spacing is 2
        return (2.0**53 + rng.integers(-4, 4, shape)).astype(np.float64)
    if kind == "int2p53":
        return (2**53 + rng.integers(-2, 3, shape)).astype(np.int64)
    if kind == "int2p62":
        return rng.integers(-(2**62), 2**62, shape, dtype=np.int64)
    assert kind == "uint2p64"
    return rng.integers(2**64 - 2**40, 2**64 - 1, shape, dtype=np.uint64, endpoint=True)


def _exact(row: np.ndarray, ddof: int) -> tuple[Fraction, Fraction, Fraction]:
    fr = [Fraction(int(x)) if row.dtype.kind in "iu" else Fraction(float(x)) for x in row]
    total = sum(fr, Fraction(0))
    mean = total / len(fr)
    return total, mean, sum(((x - mean) ** 2 for x in fr), Fraction(0)) / (len(fr) - ddof)


KINDS = ["offset", "offset32", "cancel", "scales", "float16", "near2p53"]
INT_KINDS = ["int2p53", "int2p62", "uint2p64"]
AXES = [None, (0, 1, 2), 3, (1, 3)]


def _rows(x: np.ndarray, axis: object) -> np.ndarray:
    red = tuple(range(x.ndim)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    kept = [d for d in range(x.ndim) if d not in red]
    return np.moveaxis(x, kept, list(range(len(kept)))).reshape(
        math.prod(x.shape[d] for d in kept), -1
    )


@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("kind", KINDS + INT_KINDS)
def test_stats_within_stated_bounds_of_exact_arithmetic(kind: str, axis: object) -> None:
    rng = np.random.default_rng(KINDS.index(kind) if kind in KINDS else 10 + len(kind))
    x = _values(kind, rng, (5, 4, 6, 3))
    ddof = 1
    res = lv.stats(
        da.from_array(x, chunks=(2, 3, 5, 2)), bins=None, percentiles=(), axis=axis, ddof=ddof
    )
    sums = np.atleast_1d(np.asarray(res.sum, dtype=object)).ravel()
    means = np.atleast_1d(np.asarray(res.mean, dtype=np.float64)).ravel()
    variances = np.atleast_1d(np.asarray(res.var, dtype=np.float64)).ravel()
    mins = np.atleast_1d(np.asarray(res.min, dtype=object)).ravel()
    for i, row in enumerate(_rows(x, axis)):
        total, mean, var = _exact(row, ddof)
        assert mins[i] == row.min()
        if kind in INT_KINDS:
            assert int(sums[i]) == total
            assert means[i] == float(mean)
            if kind == "int2p53":  # (counted value by value: exact)
                assert variances[i] == float(var)
            else:  # (a span past MAX_COUNT_SPAN: M2 in float64, as for floats)
                assert abs(Fraction(variances[i]) - var) <= 16 * EPS * var
            continue
        magnitude = math.fsum(abs(float(v)) for v in row)
        assert abs(Fraction(float(sums[i])) - total) <= 4 * EPS * Fraction(magnitude)
        assert abs(Fraction(means[i]) - mean) <= 4 * EPS * Fraction(magnitude) / len(row)
        assert abs(Fraction(variances[i]) - var) <= 16 * EPS * var
