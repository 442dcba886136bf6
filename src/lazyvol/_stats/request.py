"""One request object: the validated arguments of :func:`lazyvol.stats`.

Validation happens here, before any graph is built. This is also the place for a future
per-channel mode (RGB or vector volumes, whose dtype is structured or which have a channel axis):
:func:`_data_kind` is where such a dtype is recognised and either mapped to per-channel statistics or
refused with a typed error.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .._source_index import source_axes
from ..errors import DataTypeError, OptionError
from ..nifti_codes import COMPONENT_INTENTS
from ..scaling import numbers_hint
from . import limits
from .parts import Bins, Kind

__all__ = [
    "StatsRequest",
    "check_components",
    "check_histogram_cells",
    "check_mask_dtype",
    "component_axes",
]


def _data_kind(dtype: np.dtype[np.generic], where: str = "") -> Kind:
    """``"int"`` (bool, signed and unsigned integers) or ``"float"``; anything else is refused
    with a :class:`~lazyvol.errors.DataTypeError` saying how to get numbers from it."""
    if dtype.kind in "biuf":
        return "int" if dtype.kind in "biu" else "float"
    every = "; the `lazyvol stats` command reports every channel" if dtype.names else ""
    raise DataTypeError(
        f"{where + ': ' if where else ''}stats() needs integer, boolean or floating-point data, "
        f"got {dtype}; {numbers_hint(dtype)}{every}"
    )


def check_mask_dtype(dtype: np.dtype[np.generic], where: str = "") -> None:
    """Refuse a mask whose values cannot be tested against zero (RGB, strings, dates) with a
    :class:`~lazyvol.errors.DataTypeError` naming the mask (``where``: its source)."""
    if dtype.kind in "biufc":  # complex: in the mask where non-zero and not NaN, as floats
        return
    raise DataTypeError(
        f"mask {where or '(array)'}: a mask needs boolean or numeric values (in the mask where "
        f"non-zero), got {dtype}; {numbers_hint(dtype)}"
    )


def component_axes(shape: Sequence[int], meta: Mapping[str, Any]) -> list[tuple[int, int]]:
    """``(axis, source axis)`` of each axis of a volume that is one of its source's axes past the
    4th (NIfTI dim[5] to dim[7]: the components of a vector, RGB or statistic image) and holds more
    than one value. A cut of a 5-axis volume (``vol[:, :, :, 0]``) records which source axes its
    axes are (:func:`lazyvol._source_index.source_axes`). A 4-D volume whose intent says its values
    are components (:data:`COMPONENT_INTENTS`) has them on its 4th axis when no later axis holds
    them (FSL's layout of a displacement field)."""
    recorded = source_axes(meta, len(shape))
    sources = recorded or list(range(3, len(shape)))
    found = [(a, src) for a, src in enumerate(sources, start=3) if src >= 4 and shape[a] > 1]
    intent = str(meta.get("intent") or "").strip()
    # not in a cut of a 5-axis source: its components were past the 4th axis (found above, or
    # cut away: the 4th is then its time axis)
    if not found and recorded is None and len(shape) == 4 and shape[3] > 1:
        found = [(3, 3)] if intent in COMPONENT_INTENTS else []
    return found


def check_components(shape: Sequence[int], meta: Mapping[str, Any], where: str = "") -> None:
    """Refuse statistics over every axis of a volume with component axes
    (:func:`component_axes`): one result would pool the x, y and z of a displacement field.
    The :class:`~lazyvol.errors.DataTypeError` names the axes and the ``axis=`` to pass."""
    found = component_axes(shape, meta)
    if not found:
        return
    axes = ", ".join(f"axis {a} (NIfTI dim[{src + 1}], {shape[a]} values)" for a, src in found)
    intent = meta.get("intent")
    kind = f" of a {intent!r} image" if isinstance(intent, str) and intent != "none" else ""
    per = tuple(a for a in range(len(shape)) if a not in {a for a, _ in found})
    raise DataTypeError(
        f"{where + ': ' if where else ''}{axes} hold{'s' if len(found) == 1 else ''} "
        f"components{kind}, which one result over "
        f"every axis would pool; pass axis={per} for one result per component (the "
        f"`lazyvol stats` command reports each), or axis={tuple(range(len(shape)))} to pool them"
    )


def check_histogram_cells(req: StatsRequest, shape: Sequence[int], where: str = "") -> None:
    """Refuse, before any data is read, histograms whose counts over every output row (rows x
    bins) pass :data:`~lazyvol._stats.limits.MAX_HIST_CELLS`: they are allocated whole in
    every block's partial, and ``bins`` alone is capped per row. An
    :class:`~lazyvol.errors.OptionError` naming the rows, bins and memory, and what to pass."""
    if req.bins is None:
        return
    nbins = req.bins if isinstance(req.bins, int) else len(req.bins) - 1
    rows = math.prod(int(shape[a]) for a in req.kept)
    if rows * nbins <= limits.MAX_HIST_CELLS:
        return
    raise OptionError(
        f"{where + ': ' if where else ''}a histogram of {nbins:,} bins for each of the "
        f"{rows:,} output rows of axis={req.reduced} is {rows * nbins:,} counts "
        f"({rows * nbins * 8 / 2**30:.1f} GiB, held several times over while merging), more "
        f"than the {limits.MAX_HIST_CELLS:,} lazyvol.stats takes; pass bins=None for no "
        "histograms (`lazyvol stats`: fewer --bins), fewer bins, or reduce more axes"
    )


class _OptionTypeError(OptionError, TypeError):
    """An argument of :func:`lazyvol.stats` of a type it does not take: an ``OptionError``, and
    a ``TypeError`` as numpy's own for such arguments."""


def _is_int(x: Any) -> bool:
    """An integer, not a bool (``True`` is not one bin, nor axis 1)."""
    return isinstance(x, int | np.integer) and not isinstance(x, bool | np.bool_)


def _reduced_axes(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    given: tuple[Any, ...] = (
        tuple(axis) if isinstance(axis, Sequence | np.ndarray) and not _is_int(axis) else (axis,)
    )
    ax: list[int] = []
    for a in given:
        if not _is_int(a):
            raise _OptionTypeError(f"axis must be an integer or a tuple of integers, got {axis!r}")
        if not -ndim <= int(a) < ndim:  # numpy's AxisError; a modulo would reduce another axis
            raise OptionError(f"axis {a} is out of bounds for a volume of {ndim} axes")
        ax.append(int(a))
    red = tuple(sorted({a % ndim for a in ax}))
    if len(red) != len(ax):
        raise OptionError(f"repeated axis in {axis!r}")
    return red


def _percentiles(percentiles: Sequence[float] | float) -> tuple[float, ...]:
    """The percentiles asked for as floats: a sequence, or one number (as numpy.percentile takes
    it; the result still has a ``q`` axis of one)."""
    items: list[Any] = []
    if isinstance(percentiles, np.ndarray) and percentiles.ndim < 2:
        percentiles = percentiles.tolist()  # (a 0-d array is one number, as numpy takes it)
    if isinstance(percentiles, Iterable) and not isinstance(percentiles, str | bytes):
        items = list(percentiles)  # ("50" would be 5 and 0)
    elif _is_int(percentiles) or isinstance(percentiles, float | np.floating):
        items = [percentiles]
    else:
        items = [None]
    try:
        return tuple(float(x) for x in items)
    except (TypeError, ValueError):
        raise _OptionTypeError(
            f"percentiles must be numbers in 0..100 (a sequence such as (5, 50, 95), or one "
            f"number), got {percentiles!r}"
        ) from None


def _bins(bins: int | Sequence[float] | None) -> Bins | None:
    if bins is None:
        return None
    if isinstance(bins, np.ndarray) and bins.ndim == 0:  # (numpy.histogram takes np.array(10))
        bins = bins.item()
    if isinstance(bins, int | np.integer) and not isinstance(bins, bool | np.bool_):
        if int(bins) < 1:
            raise OptionError(f"bins must be >= 1, got {bins}")
        if int(bins) > limits.MAX_BINS:  # (its counts are held per result row: 8 bytes a bin)
            raise OptionError(
                f"bins={bins} is more than the {limits.MAX_BINS:,} bins lazyvol.stats takes"
            )
        return int(bins)
    if not isinstance(bins, Sequence | np.ndarray) or isinstance(bins, str | bytes):
        # (a string is a sequence: "12" was one bin from 1 to 2)
        raise _OptionTypeError(
            f"bins must be a number of bins or a sequence of edges, got {bins!r}"
        )
    if len(bins) > limits.MAX_BINS + 1:
        raise OptionError(
            f"bins: {len(bins):,} edges are more than the {limits.MAX_BINS:,} bins "
            "lazyvol.stats takes"
        )
    try:
        edges = tuple(float(e) for e in bins)
    except (TypeError, ValueError):
        raise OptionError(f"bin edges must be numbers, got {bins!r}") from None
    if (
        len(edges) < 2
        or any(math.isnan(e) for e in edges)
        or any(b2 < b1 for b1, b2 in itertools.pairwise(edges))
    ):
        raise OptionError(
            "bin edges must be a monotonically increasing sequence of 2+ values (no NaN)"
        )
    return edges


def _range(hist_range: tuple[float, float] | None) -> tuple[float, float] | None:
    if hist_range is None:
        return None
    if (
        not isinstance(hist_range, Sequence | np.ndarray)
        or isinstance(hist_range, str | bytes)
        or len(hist_range) != 2
    ):
        raise OptionError(f"range must be two numbers (min, max), got {hist_range!r}")
    try:
        rng = (float(hist_range[0]), float(hist_range[1]))
    except (TypeError, ValueError):
        raise OptionError(f"range must be two numbers (min, max), got {hist_range!r}") from None
    if not (math.isfinite(rng[0]) and math.isfinite(rng[1])) or rng[0] > rng[1]:
        raise OptionError(f"range must be finite with min <= max, got {hist_range!r}")
    return rng


def numpy_bins(rng: tuple[Any, Any], bins: int, dtype: Any) -> bool:
    """Whether numpy can split ``rng`` into ``bins`` bins for data of ``dtype``: not when the
    span overflows the data's floating-point dtype (numpy bins the values in it: ``v - lo``
    overflows float16/float32 and np.histogram fails with an IndexError), nor when it refuses
    the edges."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            if not np.isfinite(dt.type(rng[1]) - dt.type(rng[0])):
                return False
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            np.histogram_bin_edges(np.empty(0, dtype=dtype), bins=bins, range=rng)
    except ValueError:
        return False
    return True


def wide_edges(lo: float, hi: float, bins: int) -> npt.NDArray[np.float64]:
    """``bins`` even bins from ``lo`` to ``hi`` in float64, for ranges numpy refuses: computed
    without forming the span, padded around a constant, kept finite."""
    lo, hi = float(lo), float(hi)
    if lo == hi:
        top = float(np.finfo(np.float64).max)
        pad = max(0.5, abs(lo) * 1e-6)
        lo, hi = max(lo - pad, -top), min(hi + pad, top)
    t = np.linspace(0.0, 1.0, bins + 1)
    with np.errstate(over="ignore"):
        span = hi - lo
    edges: npt.NDArray[np.float64] = lo + span * t if np.isfinite(span) else lo * (1.0 - t) + hi * t
    edges[0], edges[-1] = lo, hi
    # Rounding in a range finer than float64 can step an edge back: never decreasing (numpy
    # takes equal edges, not falling ones).
    return np.maximum.accumulate(edges)


@dataclass(frozen=True)
class StatsRequest:
    """What :func:`lazyvol.stats` was asked for, validated."""

    dtype: str  # the data's dtype as given ("bool" stays "bool"; it is counted as 0/1)
    kind: Kind
    ndim: int
    reduced: tuple[int, ...]  # axes reduced
    kept: tuple[int, ...]  # axes kept in the output (empty without ``axis=``)
    per_axis: bool  # ``axis=`` was given: every field is an array over the kept axes
    bins: Bins | None
    range: tuple[float, float] | None
    q: tuple[float, ...]
    exact_percentiles: bool
    ddof: int
    progress: bool

    @classmethod
    def build(
        cls,
        dtype: np.dtype[np.generic],
        ndim: int,
        *,
        bins: int | Sequence[float] | None,
        hist_range: tuple[float, float] | None,
        percentiles: Sequence[float] | float,
        axis: int | Sequence[int] | None,
        exact_percentiles: bool,
        ddof: int,
        progress: bool,
        where: str = "",
    ) -> StatsRequest:
        """Validate the arguments of :func:`lazyvol.stats` for data of ``dtype`` and ``ndim``
        (``where``: the volume's source, named in errors)."""
        kind = _data_kind(dtype, where)
        reduced = _reduced_axes(axis, ndim)
        q = _percentiles(percentiles)
        if any(not 0 <= x <= 100 for x in q):
            raise OptionError(f"percentiles must be in 0..100, got {q}")
        nbins: Bins | None = _bins(bins)
        rng = _range(hist_range)
        if not (_is_int(ddof) or isinstance(ddof, bool | float | np.floating)):
            # (checked now: the variance is computed only after the whole pass)
            raise _OptionTypeError(f"ddof must be a number (numpy's meaning), got {ddof!r}")
        binned = np.dtype(np.uint8) if np.dtype(dtype) == np.bool_ else dtype  # counted as 0/1
        if isinstance(nbins, int) and rng is not None and not numpy_bins(rng, nbins, binned):
            # A range numpy cannot split in the data's dtype (a span that overflows, or one too
            # fine for its precision): the same even bins, as explicit float64 edges.
            nbins, rng = tuple(wide_edges(rng[0], rng[1], nbins).tolist()), None
        return cls(
            dtype=str(dtype),
            kind=kind,
            ndim=ndim,
            reduced=reduced,
            kept=tuple(a for a in range(ndim) if a not in reduced),
            per_axis=axis is not None,
            bins=nbins,
            range=rng,
            q=q,
            exact_percentiles=exact_percentiles,
            ddof=ddof,
            progress=progress,
        )
