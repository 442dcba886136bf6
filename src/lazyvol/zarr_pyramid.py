"""Pyramid levels of a Zarr store: the block mean of one level gives the next
(:func:`downsample`, used by :mod:`lazyvol.zarr_write` for every level after the first).

Integers are rounded half to even, exactly for every integer dtype: a float64 mean cannot hold a
64-bit integer above 2**53 (a constant uint64 volume of 2**64 - 1 became 0 at level 1). Floats
are averaged without overflow (:func:`float_block_mean`: a float32 block of 3e38 became inf).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import dask.array as da
import numpy as np

__all__ = ["downsample"]


def downsample(x: da.Array, factors: Sequence[int]) -> da.Array:
    """Block mean by ``factors`` (disk order); odd lengths padded by repeating the edge.

    Parameters
    ----------
    x : dask.array.Array
        One level, in disk order.
    factors : sequence of int
        Block length along each axis (1: the axis is kept).

    Returns
    -------
    dask.array.Array
        The next level, of ``x``'s dtype: integers rounded half to even (exactly), booleans true
        where at least half the block is, floats and complex numbers the mean (without overflow)
        rounded to their own dtype.
    """
    pad = [(0, (n % f) if f > 1 else 0) for n, f in zip(x.shape, factors)]
    if any(p for _, p in pad):
        x = da.pad(x, pad, mode="edge")
    x = x.rechunk(tuple(max(f, (c[0] // f) * f) for c, f in zip(x.chunks, factors)))
    axes = {ax: f for ax, f in enumerate(factors) if f > 1}
    dtype = x.dtype
    if not axes:
        return x
    out: da.Array
    if dtype.kind == "b":
        out = da.coarsen(np.mean, x.astype(np.float64), axes, trim_excess=False) >= 0.5
    elif dtype.kind in "iu":
        out = da.coarsen(int_block_mean, x, axes, trim_excess=False)
    else:
        out = da.coarsen(float_block_mean, x, axes, trim_excess=False).astype(dtype)
    return out


def float_block_mean(a: np.ndarray, axis: tuple[int, ...] | None = None) -> np.ndarray:
    """Mean of the float or complex array ``a`` over ``axis``, in ``a``'s dtype, finite wherever
    the block's values are (``np.mean`` sums in the values' own dtype: eight float32 values of
    3e38, near ``FLT_MAX``, some tools' mark for 'no value', summed to inf).

    Types of at most 32-bit parts are summed in float64 (complex128), where no block of fewer
    than 2**30 values can overflow; wider ones, where the sum overflows, as the sum of each value
    divided by the block's length. NaN and inf in a block give what ``np.mean`` gives.
    ``axis=None``: all axes (as ``np.mean``; dask calls it so for the result's type).
    """
    axis = tuple(range(a.ndim)) if axis is None else axis
    part = a.dtype.itemsize // (2 if a.dtype.kind == "c" else 1)
    with np.errstate(over="ignore", invalid="ignore"):  # (a block of inf and -inf: NaN)
        if part <= 4:
            wide = np.complex128 if a.dtype.kind == "c" else np.float64
            return np.asarray(np.mean(a, axis=axis, dtype=wide)).astype(a.dtype)
        out = np.asarray(np.mean(a, axis=axis))
        lost = ~np.isfinite(out) & np.all(np.isfinite(a), axis=axis)
        if np.any(lost):
            n = math.prod(a.shape[ax] for ax in axis)
            out = np.where(lost, np.sum(a / n, axis=axis), out)
    return out.astype(a.dtype)


def int_block_mean(a: np.ndarray, axis: tuple[int, ...] | None = None) -> np.ndarray:
    """Mean of the integer array ``a`` over ``axis``, rounded half to even, in ``a``'s dtype.

    Exact for every integer dtype and block of fewer than 2**30 values: the sum is taken in int64,
    for 8-byte integers as two sums (the high and the low 32 bits of each value) combined by
    ``divmod`` by the block's length, so no sum overflows and no float rounds. ``axis=None``: all
    axes (as ``np.mean``; dask calls it so for the result's type).
    """
    axis = tuple(range(a.ndim)) if axis is None else axis
    n = math.prod(a.shape[ax] for ax in axis)
    if a.dtype.itemsize < 8:
        q, r = np.divmod(a.sum(axis=axis, dtype=np.int64), n)
    else:
        hi = (a >> 32).astype(np.int64)  # value = hi * 2**32 + lo, lo in [0, 2**32)
        lo = (a & 0xFFFFFFFF).astype(np.int64)
        q_hi, r_hi = np.divmod(hi.sum(axis=axis), n)
        q_lo, r = np.divmod((r_hi << 32) + lo.sum(axis=axis), n)
        q = (q_hi << 32) + q_lo  # (wraps for uint64 above 2**63; the cast below undoes it)
    up = (2 * r > n) | ((2 * r == n) & (q % 2 == 1))
    out: np.ndarray = (q + up).astype(a.dtype)
    return out
