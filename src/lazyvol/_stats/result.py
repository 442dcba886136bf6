"""The result of :func:`lazyvol.stats`: :class:`VolumeStats`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["VolumeStats", "jsonable"]


def jsonable(x: Any) -> Any:
    """``x`` with numpy values as Python ones, NaN as None and infinities as "inf"/"-inf"."""
    if isinstance(x, np.ndarray):
        return [jsonable(y) for y in x.tolist()] if x.dtype == object else jsonable(x.tolist())
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(y) for y in x]
    if isinstance(x, np.generic):
        return jsonable(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def _same(a: Any, b: Any) -> bool:
    """``a`` and ``b`` hold the same values (NaN equal to NaN where the values are numbers)."""
    if not isinstance(a, np.ndarray | np.generic | float) and not isinstance(
        b, np.ndarray | np.generic | float
    ):
        return bool(a == b)
    try:
        return bool(np.array_equal(a, b, equal_nan=True))
    except TypeError:  # values no NaN test takes (None, text)
        return bool(np.array_equal(a, b))


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
        Values below the first / above the last edge: outside ``range=``, or -inf / +inf (the
        default range spans the finite values).
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
    filled_slices : tuple of int
        The slices (k) of the volume that ``allow_gaps=True`` filled (``meta["filled_slices"]``),
        left out of every statistic, NaN counts too: they hold the fill value, not data. A mask
        cannot put them back; ``lazyvol.stats(vol.data)`` (the bare array) counts them.
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
    bin_edges: npt.NDArray[np.float64] | None
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
    filled_slices: tuple[int, ...] = ()

    def __eq__(self, other: object) -> bool:
        """Field by field, arrays by value, NaN equal to NaN (two runs over one volume are
        equal): the generated comparison put the fields' arrays in a tuple, so comparing two
        results raised numpy's 'truth value of an array is ambiguous' ValueError."""
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(_same(getattr(self, k), getattr(other, k)) for k in self.__dataclass_fields__)

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
            filled_slices=self.filled_slices,
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
            "filled_slices_excluded": list(self.filled_slices),
        }
        out: dict[str, Any] = jsonable(d)
        return out

    def __repr__(self) -> str:
        if self.shape:
            return f"<VolumeStats rows={self.shape} dtype={self.dtype} axis={self.axis}>"
        return (
            f"<VolumeStats count={self.count} min={self.min} max={self.max} mean={self.mean:.6g} "
            f"std={self.std:.6g} dtype={self.dtype}>"
        )
