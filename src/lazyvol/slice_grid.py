"""Slice positions along a stack's normal: how coarsely they were written, whether they lie on a
regular grid (its spacing, the steps off it) and which grid slot each fills. Pure math, no I/O;
used by DICOM stacking (:mod:`lazyvol.dicom.stacking`)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "coarser_than_half_step",
    "grid_slots",
    "numbered_stack",
    "mixed_writer_quantum",
    "position_labels",
    "position_quantum",
    "regular_grid_errors",
    "same_position_tolerance",
    "slice_projections",
    "spacing_tolerance",
    "volumes_quantum",
    "along_within_rounding",
]


def slice_projections(positions: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Distance of each ImagePositionPatient along the slice normal (the sort key of a stack)."""
    return np.asarray(positions, dtype=np.float64) @ np.asarray(normal, dtype=np.float64)


def numbered_stack(
    positions: Sequence[Sequence[float] | None], normal: ArrayLike, spacing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Origin and step of slices stacked in an order of their own (InstanceNumber's) when not
    every one states its position (an opt-in approximation): the step from the first and last
    slices stating one, the origin from the first stating one, moved back along that step to
    slice 0. ``normal * spacing`` is the step when the positions cannot say (fewer than two, or a
    step with no part along ``normal``), and 0 the origin when none is stated.

    Parameters
    ----------
    positions : sequence of (3,) or None
        Each slice's ImagePositionPatient in stack order, None where it is missing.
    normal : (3,) array_like
        The slice normal.
    spacing : float
        The declared slice spacing (mm).

    Returns
    -------
    origin, step : (3,) ndarray
        Position of slice 0 and the step from one slice to the next (LPS mm).
    """
    known = [(k, np.asarray(p, dtype=np.float64)) for k, p in enumerate(positions) if p is not None]
    n = np.asarray(normal, dtype=np.float64)
    step = n * float(spacing)
    if len(known) > 1:
        (ka, pa), (kb, pb) = known[0], known[-1]
        found = (pb - pa) / (kb - ka)
        # (one position stated twice says no step; a step within the slices' plane -- an assumed
        # orientation the positions contradict -- would make the affine singular)
        if abs(float(found @ n)) > 1e-3 * max(float(np.linalg.norm(found)), 1e-3):
            step = found
    if not known:
        return np.zeros(3), step
    return known[0][1] - known[0][0] * step, step


def along_within_rounding(extent: ArrayLike, normal: ArrayLike, q: float) -> bool:
    """Whether ``extent`` (last slice's position minus the first's) lies along ``normal`` but
    for positions rounded to ``q``: some ``t`` with every coordinate of ``extent - t * normal``
    within ``q`` (each of the two positions off by up to ``q / 2`` in each coordinate; float
    noise allowed for). Per coordinate, not as a distance: ``sqrt(3) q`` as a distance takes
    slants a rounding cannot make (1.7 q in one coordinate)."""
    e = np.asarray(extent, dtype=np.float64)
    n = np.asarray(normal, dtype=np.float64)
    tol = float(q) * (1.0 + 1e-6) + 1e-9
    lo, hi = -math.inf, math.inf
    for ei, ni in zip(e.tolist(), n.tolist(), strict=True):
        if abs(ni) < 1e-12:
            if abs(ei) > tol:
                return False
            continue
        a, b = sorted(((ei - tol) / ni, (ei + tol) / ni))
        lo, hi = max(lo, a), min(hi, b)
    return lo <= hi


#: The largest extent (mm) of positions :func:`same_position_tolerance` scales with: no body
#: is longer; a larger one is a damaged position (1e5 mm would make slices 0.5 mm apart one).
_LONGEST = 1e4


def same_position_tolerance(extent: float) -> float:
    """How far apart (mm) two slice positions may lie and still be one position (a repeat of a
    4th axis, not another slice): 1e-3 mm, or 1e-5 of the positions' ``extent`` (at most
    ``_LONGEST``: 0.1 mm) where larger."""
    return max(1e-3, 1e-5 * min(abs(float(extent)), _LONGEST))


def position_labels(positions: Sequence[Sequence[float]]) -> list[int]:
    """A number per position (ImagePositionPatient), one for positions within
    :func:`same_position_tolerance` (of their extent) of the first such one in sorted order:
    positions written with rounding noise across a decimal boundary (30.0, 30.0006) are one."""
    distinct = sorted({tuple(float(x) for x in p) for p in positions})
    if not distinct:
        return []
    pos = np.array(distinct, dtype=np.float64)
    tol = same_position_tolerance(float(np.linalg.norm(np.ptp(pos, axis=0))))
    cells: dict[tuple[int, ...], list[int]] = {}  # a tol-sized cell's first positions
    label: dict[tuple[float, ...], int] = {}
    for n, p in enumerate(distinct):
        cell = tuple(int(c) for c in np.floor(pos[n] / tol))
        near = (
            m
            for d in itertools.product((-1, 0, 1), repeat=len(cell))
            for m in cells.get(tuple(c + e for c, e in zip(cell, d, strict=True)), ())
            if float(np.linalg.norm(pos[m] - pos[n])) <= tol
        )
        first = next(near, None)
        if first is None:
            cells.setdefault(cell, []).append(n)
        label[p] = n if first is None else label[distinct[first]]
    return [label[tuple(float(x) for x in p)] for p in positions]


def spacing_tolerance(spacing: float, rel: float = 1e-3, floor: float = 1e-3) -> float:
    """Tolerance for slice positions: ``rel`` of the spacing with an absolute floor in mm."""
    return max(rel * abs(float(spacing)), floor)


def position_quantum(values: ArrayLike) -> float:
    """How coarsely ``values`` (decimal strings such as DICOM's DS, parsed to floats) were
    written: the step of their last written digit, in their units. 0.0 when nothing shows it.

    ``values``: one number per position, or positions as rows (one column per coordinate); a
    column that never changes is left out (its rounding is the same for every position, so it
    cannot make steps uneven), and the result is the coarsest of the other columns.

    Writers keep either a fixed number of decimals (``12.35``: 0.01) or of significant digits
    (GE's six, ``-123.457``: 0.001). Read from the shortest repr of each non-integral value of a
    column: ``D``, the most decimals any shows, and ``S``, the most significant digits any shows
    (trailing zeros are dropped, so a value shows fewer digits, never more: the maxima are the
    writer's); the step is the larger of ``10**-D`` and the ``S``-th significant digit of the
    column's largest magnitude. A full-precision writer gives a step far below any tolerance.
    Values all whole multiples of a coarser step (1 or 5 times a power of ten: whole millimetres,
    halves, fives) are as coarse as the largest such step (an integral value shows no digits).
    """
    arr = np.asarray(values, dtype=np.float64)
    columns = arr.reshape(-1, 1) if arr.ndim < 2 else arr.reshape(-1, arr.shape[-1])
    writer = _shown(columns.ravel())  # (every coordinate, constant ones too: one writer's digits)
    q = 0.0
    for col in columns.T:
        if col.size and np.all(col == col[0]):
            continue
        q = max(q, _column_quantum(col, writer))
    return max(q, mixed_writer_quantum(columns))


def _shown(values: np.ndarray) -> tuple[int, int, float]:
    """The most decimals and significant digits the finite non-integral ``values`` show, and
    the largest magnitude among them (0.0: every value integral or none finite)."""
    decimals = 0
    digits = 0
    largest = 0.0
    for x in values:
        v = float(x)
        if not math.isfinite(v) or v.is_integer():
            continue  # an integral value shows nothing of the writer's precision
        shown, significant = _shown_digits(v)
        decimals = max(decimals, shown)
        digits = max(digits, significant)
        largest = max(largest, abs(v))
    return decimals, digits, largest


def volumes_quantum(volumes: Sequence[Sequence[Sequence[float] | None]]) -> float:
    """:func:`position_quantum` of the positions of a stack's 4th-axis ``volumes`` (each a
    sequence of positions, one per slice): the first volume's, or where finer, that of a volume
    at positions of its own (one writer wrote them all: an exact first volume on a 2.5 mm grid,
    30, 32.5, 35, shows one decimal of a writer of two, which a moved volume, -12.41, shows).
    Volumes repeating the first one's positions (the usual case) are not read again."""
    first = np.asarray(volumes[0], dtype=np.float64)
    q = position_quantum(first)
    for vol in volumes[1:]:
        if q == 0.0:
            break
        if any(p is None for p in vol):
            continue
        pv = np.asarray(vol, dtype=np.float64)
        if pv.shape != first.shape or not np.array_equal(pv, first):
            own = position_quantum(pv)
            q = min(q, own) if own > 0.0 else q
    return q


def _column_quantum(col: np.ndarray, writer: tuple[int, int, float]) -> float:
    """``col``'s step (:func:`position_quantum`); ``writer``: :func:`_shown` of every value of
    the positions. A writer keeps one precision for all three coordinates, so the decimals and
    significant digits a column shows are at least those any coordinate shows (x of 0 and 3
    beside z of 2.5 are whole numbers to a tenth, not a rounding to whole millimetres; z of
    30, 32.5, 35 beside x of -12.41 are to a hundredth; a column of integral values takes the
    decimals only: the significant digits others show say little, -12.5 shows three, written
    exactly), a coarser step taken only where chance would not explain it; a column of integral
    values where no coordinate shows a decimal is as coarse as its common step (1 at least)."""
    decimals, digits, largest = _shown(col)
    if writer[2] == 0.0:  # (every value integral: as coarse as their step, 1 at least)
        return _common_step(col, 1.0, 0.0)
    by_digits = 10.0 ** -max(decimals, writer[0])
    if largest > 0.0:  # (integral values: no digits of their own; others' say little: -12.5)
        digits = max(digits, writer[1])
        by_digits = max(by_digits, 10.0 ** (math.floor(math.log10(largest)) - digits + 1))
    return _common_step(col, by_digits, by_digits)


def mixed_writer_quantum(positions: ArrayLike) -> float:
    """The coarser writer's step of positions (rows; or one number per position) of a series
    rewritten in part: some files show their positions to full precision, others to a few
    decimals (an anonymiser, a re-export); 0.0 when one writer wrote them all.

    The most decimals any value shows is then the fine writer's, so the coarse files' rounding
    would pass for irregular spacing or for other slice positions (dcm2niix reads such series).
    A position is coarse when none of its values shows more than 4 decimals (an integral value
    shows none), fine when one shows 7 or more; with a fine one, the step is that of the most
    decimals that two distinct coarse positions show (a full-precision writer shows a coarse
    position only by chance: an exact origin, one position)."""
    arr = np.asarray(positions, dtype=np.float64)
    rows = arr.reshape(-1, 1) if arr.ndim < 2 else arr.reshape(-1, arr.shape[-1])
    coarse: list[int] = []
    fine = False
    # (distinct rows as tuples: np.unique(axis=0) imports numpy.ma, ~10 ms of a cold scan)
    for row in set(map(tuple, rows.tolist())):
        shown = [_shown_digits(v)[0] for v in row if math.isfinite(v)]
        if shown and max(shown) >= 7:
            fine = True
        elif shown and max(shown) <= 4:
            coarse.append(max(shown))
    repeated = [d for d in set(coarse) if coarse.count(d) >= 2]
    return float(10.0 ** -max(repeated)) if fine and repeated else 0.0


def _shown_digits(v: float) -> tuple[int, int]:
    """How many decimals and significant digits the shortest repr of the finite ``v`` shows:
    ``(0, 0)`` for an integral value, which shows nothing of the writer's precision."""
    if v.is_integer():
        return 0, 0
    text = repr(abs(v))
    if "e" not in text:  # (the shortest repr: no trailing zeros after its point)
        point = text.index(".")
        return len(text) - point - 1, len((text[:point] + text[point + 1 :]).lstrip("0"))
    _sign, ds, exponent = Decimal(text).normalize().as_tuple()
    return (-exponent if isinstance(exponent, int) else 0), len(ds)


#: How unlikely (at most) the values of a column written to one step all being whole multiples
#: of a coarser one by chance must be for the coarser step to be taken as theirs.
_CHANCE = 1e-3


def _common_step(col: np.ndarray, shown: float, fine: float) -> float:
    """The largest step, 1 or 5 times a power of ten, at least ``shown``, of which every finite
    value of ``col`` is a whole multiple (to float noise); else ``fine``. A step coarser than
    ``fine`` (the digits the values show; 0: none) is taken when chance alone would not make
    them all its multiples (``(fine / step) ** free < _CHANCE``, ``free`` the values chance made
    so (:func:`_free_values`): two decimals that are all multiples of 0.05 in a column of four
    values are two decimals; an exact 2.5 mm grid with one slice moved 0.5 mm is one decimal, the
    slice moved, not a rounding to halves), never a step at which slices were moved off an exact
    grid (:func:`_free_values`; however many were moved, all halves by the move, not by chance;
    of values all integral too: an exact 5 mm grid of whole millimetres with one slice 1 mm off
    is no rounding to whole millimetres), and when the
    values, in their order, do not step evenly (an exact grid, 2.5 mm from 30 mm, is made of
    halves, but no rounding moved it: a slice moved half a millimetre is no rounding)."""
    given = np.asarray(col, dtype=np.float64)
    given = given[np.isfinite(given)]
    steps = np.diff(given)
    if steps.size and np.ptp(steps) <= 1e-9 * max(1.0, float(np.max(np.abs(steps)))):
        return fine
    v = np.unique(given)
    largest = float(np.max(np.abs(v))) if v.size else 0.0
    if largest < shown:
        return fine
    for exponent in range(math.floor(math.log10(largest)), math.floor(math.log10(shown)) - 1, -1):
        for mantissa in (5.0, 1.0):
            step = mantissa * 10.0**exponent
            if step < shown * (1.0 - 1e-9) or step <= fine:
                continue
            ratio = v / step
            if np.any(np.abs(ratio - np.round(ratio)) > 1e-9 + 1e-12 * np.abs(ratio)):
                continue
            free = _free_values(v, step)
            if 0 < _free_values(v, step, truncated=True) < v.size - 1:
                if not _ties_to_even(v, step):
                    continue  # (slices moved off an exact grid: no rounding to ``step`` did that)
                free = v.size - 1  # (an exact grid on ties, rounded to even: a rounding)
            if fine == 0.0 or (fine / step) ** free < _CHANCE:
                return step
    return fine


def _ties_to_even(v: np.ndarray, step: float) -> bool:
    """Whether the sorted distinct values ``v`` (all whole multiples of ``step``; slices may be
    missing between them) are an exact progression with some values on ties (halfway between two multiples
    of ``step``) rounded half to even (``printf("%.0f")``, Python's and numpy's ``round``): an
    exact 5 mm grid from -37.5 mm written as whole millimetres is -38, -32, -28, -22 ..., off
    the grid and back every slice, as slices moved would be, but a rounding. True when a line
    lies within half a ``step`` of every value, and the values it is half a step from (its
    ties) are even multiples of ``step`` (a slice 1 mm off an exact 5 mm grid, 0, 5, 10, 16,
    20, is half a millimetre from 0.5, 5.5 ... 20.5, but 5.5 rounded to even is 6, not 5)."""
    n = v.size
    if n < 3:
        return False
    units = np.round(v / step)
    # (each value's slot: one after another, or, slices missing, by the usual written step: one
    # of three whole numbers of ``step``, the gaps within 2 of the least)
    gaps = np.diff(units)
    usual = float(np.mean(gaps[gaps <= np.min(gaps) + 2.0]))
    slotted = np.round((units - units[0]) / usual)
    return any(
        _rounded_line(units, i)
        for i in (np.arange(n, dtype=np.float64), slotted)
        if not np.any(np.diff(i) <= 0)
    )


def _rounded_line(units: np.ndarray, i: np.ndarray) -> bool:
    """Whether whole numbers ``units`` at slots ``i`` are a line rounded half to even: every
    value within 0.5 of it, and those 0.5 from it (ties) even (:func:`_ties_to_even`)."""

    def width(b: float) -> float:  # (convex in b: the narrowest band about a line of slope b)
        r = units - b * i
        return float(np.max(r) - np.min(r))

    mean = float(units[-1] - units[0]) / float(i[-1])
    lo, hi = mean - 2.0 / float(i[-1]), mean + 2.0 / float(i[-1])
    for _ in range(200):
        m1, m2 = lo + (hi - lo) / 3.0, hi - (hi - lo) / 3.0
        if width(m1) <= width(m2):
            hi = m2
        else:
            lo = m1
    b = (lo + hi) / 2.0
    r = units - b * i
    r -= (np.max(r) + np.min(r)) / 2.0
    if float(np.max(np.abs(r))) > 0.5 + 1e-6:
        return False  # (no line within half a step: no rounding to nearest)
    tie = np.abs(r) >= 0.5 - 1e-6
    return bool(np.any(tie) and np.all(np.mod(units[tie], 2.0) == 0.0))


def _free_values(v: np.ndarray, step: float, truncated: bool = False) -> int:
    """How many of the sorted distinct values ``v`` (all whole multiples of ``step``) chance
    made so, were they written finer: all but one (``v.size - 1``), but where slices were moved
    off an exact grid, those off it (an exact 2.5 mm grid with one slice moved 0.5 mm is one
    value a rounding did not explain: its grid's halves are no evidence of a rounding to halves).

    The grid: the most populated exact progression of the most common step between the values,
    ``u`` steps. A rounding of an even stack (2.7 mm written to halves) also puts values off it,
    but carries them on to the next progression for good: its rounded offset from the grid moves
    one way, at most half a step per slice (``u`` being the most common rounded step), so values
    leave the grid and come back to it only across ``2 (u - 1)`` grid steps or more. Values off
    the grid between two on it fewer grid steps apart were moved; values off it only before or
    after it, or on such long runs, are a rounding (an end slice moved cannot be told from it).
    Values all on the grid (slices missing from it) are an exact grid: none is free. With
    ``truncated`` (asked before a step is refused as no rounding at all), values truncated
    toward zero (a C cast) turn their offset back where they cross 0: values off the grid
    between two on it on either side of 0 are a rounding too."""
    gaps = np.diff(v)
    if gaps.size == 0:
        return 0
    # (counted with np.unique, not np.bincount: a step of 1e-12 makes counts of 1e15 slots)
    steps, counts = np.unique(np.round(gaps / step), return_counts=True)
    usual = float(steps[int(np.argmax(counts))])  # (most common, in steps; smallest of a tie)
    if usual <= 1:
        return int(v.size - 1)
    k = np.round((v - v[0]) / step)
    residue = np.mod(k, usual)
    kinds, on = np.unique(residue, return_counts=True)
    on_at = np.flatnonzero(residue == kinds[int(np.argmax(on))])
    # each pair of neighbouring values on the grid with values off it between them
    left = on_at[:-1][np.diff(on_at) > 1]
    right = on_at[1:][np.diff(on_at) > 1]
    moved = (k[right] - k[left]) / usual < 2.0 * (usual - 1.0)
    # (values truncated toward zero, as a C cast writes them, turn their offset back across 0)
    if truncated:
        moved &= (v[left] > 0) | (v[right] < 0)
    if on_at.size < v.size and not np.any(moved):
        return int(v.size - 1)
    return int(min(v.size - 1, v.size - on_at.size))


def _median(values: np.ndarray) -> float:
    """``float(np.median(values))`` of a non-empty 1-D array, to the same rounding, without
    ``np.median``, whose NaN check imports ``numpy.ma`` (9 ms of every cold DICOM open)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    if n == 0 or math.isnan(x[-1]):  # np.sort puts NaN last; numpy's median is then NaN
        return math.nan
    mid = n // 2
    return float(x[mid]) if n % 2 else float((x[mid - 1] + x[mid]) / 2)


def regular_grid_errors(
    projections: np.ndarray, *, rel: float = 1e-3, floor: float = 1e-3, rounded: bool = False
) -> tuple[float, list[tuple[int, float]]]:
    """Slice spacing of sorted projections and the steps that break a regular grid.

    The median step is the spacing when every step is within the tolerance of it and every slice
    on the line through the first and last. Otherwise the steps are either a regular grid with
    slices missing -- the spacing is then the step of which every step is a whole multiple (the
    median, else the smallest step when it is also the most common one: the median is not the
    base step when half of the steps or more span gaps, nor a step at all for an even number of
    steps), every slice on its grid (:func:`grid_slots`) and half of its slots or more holding
    one -- or uneven, and the spacing is then the most common step (a step that
    occurs; lazyvol never averages spacing).

    Parameters
    ----------
    projections : 1-D array
        Sorted (ascending) positions along the normal, one per slice.
    rel, floor
        Tolerance: ``max(rel * spacing, floor)`` millimetres.
    rounded
        ``floor`` is the positions' written rounding (the most it moves a step): the stack is
        regular when every slice lies within the tolerance of the grid through the first and last,
        its spacing that grid's step. Rounded steps are off the true step by up to the rounding,
        and their median as much again (2.02 and 2.03 of a 2.0273 mm step written to 0.01 mm).

    Returns
    -------
    spacing : float
        The slice spacing (the grid's step when slices are missing).
    bad : list of (index, step)
        Each step ``projections[index + 1] - projections[index]`` that differs from ``spacing`` by
        more than the tolerance (on a grid with slices missing: each step across a gap).
    """
    p = np.asarray(projections, dtype=np.float64)
    if p.size < 2:
        return 0.0, []
    steps = np.diff(p)
    fitted = (p[-1] - p[0]) / (p.size - 1)
    off = np.abs(p - (p[0] + fitted * np.arange(p.size)))
    if rounded and np.max(off) <= spacing_tolerance(fitted, rel, floor):
        return float(fitted), []
    spacing = _median(steps)
    tol = spacing_tolerance(spacing, rel, floor)
    bad = _steps_off(steps, spacing, tol)
    if not bad:
        # Small steps can still add up; check each slice against the fitted grid from slice 0.
        if np.max(off) > tol:
            i = int(np.argmax(off))
            bad = [(max(0, i - 1), float(steps[max(0, i - 1)]))]
        return spacing, bad
    if not np.all(np.isfinite(steps)):
        return spacing, bad
    common = _most_common(steps, tol)
    smallest = float(np.min(steps))
    # The smallest step is tried as the grid's step only when it is the most common step (gaps
    # are the exception): an extra slice between two (5, 2.5, 2.5, 5 mm) makes a rare small step,
    # uneven spacing, not a 2.5 mm grid with every other slice missing.
    usual = abs(common - smallest) <= spacing_tolerance(smallest, rel, floor)
    for base in (spacing, smallest) if usual else (spacing,):
        base_tol = spacing_tolerance(base, rel, floor)
        slots = grid_slots(p, base, base_tol)
        # At least half of the grid's slots hold a slice: a near-duplicate 0.01 mm from another
        # slice would otherwise make a 0.01 mm grid with hundreds of slices "missing".
        # (and one is missing: without, the steps that failed are uneven, rounding or not)
        if slots is not None and p.size < int(slots[-1]) + 1 <= 2 * p.size:
            return base, [(int(i), float(steps[i])) for i in np.flatnonzero(np.diff(slots) > 1)]
    return common, _steps_off(steps, common, spacing_tolerance(common, rel, floor))


def coarser_than_half_step(projections: np.ndarray, rel: float, atol: float) -> float | None:
    """The slice spacing of sorted ``projections`` when the absolute tolerance ``atol`` is at
    least half of it, else None. Such a tolerance cannot tell a slice from its neighbour's place:
    every slice then lies "within the tolerance" of a grid whose step averages a gap away (a
    202 mm gap among 1.25 mm steps stacked at 68.3 mm). The spacing is the smaller of the median
    step and the grid :func:`regular_grid_errors` fits (its base step when slices are missing);
    a stack with half of its steps zero (repeated positions, refused elsewhere) has none."""
    p = np.asarray(projections, dtype=np.float64)
    if p.size < 2:
        return None
    spacing = min(_median(np.diff(p)), regular_grid_errors(p, rel=rel, floor=atol)[0])
    if not spacing > 0 or atol < spacing / 2:
        return None
    return spacing


def _steps_off(steps: np.ndarray, spacing: float, tol: float) -> list[tuple[int, float]]:
    """``(index, step)`` of each step more than ``tol`` from ``spacing``."""
    return [(int(i), float(s)) for i, s in enumerate(steps) if abs(s - spacing) > tol]


def _most_common(steps: np.ndarray, tol: float) -> float:
    """The step with the most steps within ``tol`` of it (the smallest such on a tie)."""
    ordered = np.sort(steps)
    counts = np.searchsorted(ordered, ordered + tol, "right") - np.searchsorted(
        ordered, ordered - tol, "left"
    )
    return float(ordered[int(np.argmax(counts))])


def grid_slots(projections: np.ndarray, spacing: float, tol: float) -> np.ndarray | None:
    """Grid index of each sorted projection on a regular grid of step ``spacing`` from the first,
    with slices missing where a step spans several; None when they are not on one.

    Each slice must lie within ``tol`` of the grid through the first and last slices (their step
    the span over the slots, as for a stack without gaps), and no two on one slot.
    """
    p = np.asarray(projections, dtype=np.float64)
    if p.size < 2 or not spacing > tol:
        return None
    # Slots counted step by step: from slice 0, an error of ``spacing`` (a step read from rounded
    # positions) would add up along a long stack to a wrong slot.
    slots: np.ndarray = np.concatenate([[0], np.cumsum(np.round(np.diff(p) / spacing))])
    slots = slots.astype(np.int64)
    if np.any(np.diff(slots) < 1):
        return None
    step = (p[-1] - p[0]) / float(slots[-1])
    if np.any(np.abs(p - (p[0] + slots * step)) > tol):
        return None
    return slots
