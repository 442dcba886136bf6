"""PixelSpacing (0028,0030) values of one series that are one spacing written to other decimals
(within :data:`SPACING_RTOL`): the labels :mod:`lazyvol.dicom.grouping` splits a series by."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

from .records import FrameRecord

__all__ = ["SPACING_RTOL", "same_spacing", "spacing_labels", "spacing_text"]


#: Relative difference within which two PixelSpacing (0028,0030) values of one series are one
#: spacing written to other decimals ("0.7813" beside "0.78125", "0.80001" beside "0.8"): under
#: 0.05 mm across a 500 mm field of view, as :data:`~lazyvol.dicom.checks.ORIENTATION_TOL` is for
#: the cosines. dcm2niix and SimpleITK stack such files as one volume.
SPACING_RTOL = 1e-4


def spacing_text(r: FrameRecord) -> str:
    """A record's PixelSpacing as its group key spells it (5 significant digits)."""
    if r.pixel_spacing is None:
        return "missing"
    return "x".join(f"{float(v):.5g}" for v in r.pixel_spacing)


def same_spacing(a: str, b: str) -> bool:
    """Are two spelled PixelSpacing values one spacing within :data:`SPACING_RTOL`?"""
    if "missing" in (a, b):
        return a == b
    va, vb = [float(v) for v in a.split("x")], [float(v) for v in b.split("x")]
    return len(va) == len(vb) and all(
        math.isfinite(x) and math.isfinite(y) and abs(x - y) <= SPACING_RTOL * max(abs(x), abs(y))
        for x, y in zip(va, vb, strict=True)
    )


def spacing_labels(records: list[FrameRecord]) -> dict[str, str]:
    """Each spelled PixelSpacing of a series' records mapped to its cluster's: the values taken
    most common first (the lowest of a tie), each joining the first cluster whose first value it
    matches (:func:`same_spacing`), so the labels depend on the values only, never on the
    files' names or order; a series of one value keeps it as its label."""
    counts = Counter(spacing_text(r) for r in records)
    reps: list[str] = []
    # (each cluster's first value filed by :func:`_spacing_bin`: a value looks among those of
    # its bin and the two beside it, not every cluster -- a series of 10,000 images of as many
    # spacings (one SeriesInstanceUID given to a folder of screenshots) took two minutes)
    binned: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    label_of: dict[str, str] = {}
    for text in sorted(counts, key=lambda v: (-counts[v], v)):
        where = _spacing_bin(text)
        found: list[int] = []
        if where is not None:
            *head, at = where
            for b in (at - 1, at, at + 1):
                found += [n for n in binned.get((*head, b), ()) if same_spacing(text, reps[n])]
        if found:
            label_of[text] = reps[min(found)]  # (the first cluster it matches, as ever)
            continue
        if where is not None:
            binned[where].append(len(reps))
        reps.append(text)
        label_of[text] = text
    return label_of


#: The width of :func:`_spacing_bin`'s bins of log |value|: two values within
#: :data:`SPACING_RTOL` of each other are within ``-log(1 - SPACING_RTOL)`` in log, under it.
_LOG_BIN = 2.0 * SPACING_RTOL


def _spacing_bin(text: str) -> tuple[Any, ...] | None:
    """Where a spelled PixelSpacing may meet those it is one spacing with (:func:`same_spacing`):
    ``"missing"``, its number of values, its first value's sign and the bin of its log magnitude
    (values one spacing lie in the same or neighbouring bins); None where it meets none (a NaN
    or an infinity: no spacing is the same as it)."""
    if text == "missing":
        return ("missing", 0)
    values = text.split("x")
    first = float(values[0])
    if not all(math.isfinite(float(v)) for v in values):
        return None
    if first == 0.0:
        return (len(values), 0, 0)
    return (len(values), math.copysign(1, first), math.floor(math.log(abs(first)) / _LOG_BIN))
