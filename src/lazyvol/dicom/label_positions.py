"""Volumes of one series, told apart by a volume label, that do not lie at the same slice
positions.

The volumes of a series told apart by TemporalPositionIdentifier (0020,0100) /
TemporalPositionIndex (0020,9128) (a time series, Siemens XA's one enhanced file per volume) or by
their diffusion b-value and direction share one set of slice positions. Where some of them lie
elsewhere (a volume moved by prospective motion correction, a volume covering another slab, two
runs under one SeriesInstanceUID) while others share positions, no stacking holds them: volumes
all apart and interleaved are split (:mod:`.label_split`), but a mixture was refused with the
counts of images per position only ("10 distinct slice positions but positions repeat (5
position(s) x1, 5 position(s) x2)"), which does not say that a volume moved, nor which (dcm2niix
stops with "Check sorted order" or writes volumes of the two grids' slices). This names the
volumes that lie elsewhere and by how far, as :mod:`.mosaic_positions` does for mosaic files.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence

from .label_split import VOLUME_LABELS
from .records import FrameRecord
from .support import file_list

__all__ = ["moved_labels"]


def _places(
    groups: Sequence[Sequence[FrameRecord]], label_of: Callable[[FrameRecord], Hashable | None]
) -> dict[Hashable, tuple[int, ...]] | None:
    """Each label value's positions (indices into ``groups``), or None when an image states no
    value, a value holds one position only, or holds its positions unequally often."""
    at: dict[Hashable, Counter[int]] = defaultdict(Counter)
    for n, group in enumerate(groups):
        for r in group:
            value = label_of(r)
            if value is None:
                return None
            at[value][n] += 1
    out: dict[Hashable, tuple[int, ...]] = {}
    for value, counts in at.items():
        if len(counts) < 2 or len(set(counts.values())) != 1:
            return None
        out[value] = tuple(sorted(counts))
    return out


def _nested(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Does one set of positions hold the other?"""
    return set(a) <= set(b) or set(b) <= set(a)


def moved_labels(groups: Sequence[Sequence[FrameRecord]], positions: Sequence[float]) -> str:
    """Why the labelled volumes among ``groups`` (the images at each distinct slice position, in
    order along the normal; ``positions`` their places, mm) cannot be stacked: "" unless a
    position holds several images, every image states a volume label, and the label's values
    lie at different sets of positions (each value at two or more, each equally often) that
    overlap along the normal (sets in blocks one after another, as a moving table's stations, are
    left to the stacking), some value's set neither holding nor held by the most common one (a
    volume short of images is left to the incomplete-volume refusals)."""
    if not any(len(g) > 1 for g in groups) or any(r.mosaic is not None for g in groups for r in g):
        return ""
    for name, word, label_of in VOLUME_LABELS:
        places = _places(groups, label_of)
        if places is None or len(places) < 2 or len(set(places.values())) < 2:
            continue
        sets = sorted(set(places.values()))
        if all(a[-1] < b[0] for a, b in itertools.pairwise(sets)):
            continue  # (blocks one after another along the normal: stations, left to the stacking)
        values = sorted(places, key=repr)
        common, _ = Counter(places[v] for v in values).most_common(1)[0]
        first = next(v for v in values if places[v] == common)
        # (a volume short of images lies at some of the others' positions: not moved)
        moved = [v for v in values if not _nested(places[v], common)]
        if not moved:
            continue
        other = min(moved, key=lambda v: abs(positions[places[v][0]] - positions[common[0]]))
        shift = positions[places[other][0]] - positions[common[0]]
        shown = ", ".join(str(v) for v in moved[:4]) + (" ..." if len(moved) > 4 else "")
        files = sorted({r.path for g in groups for r in g if label_of(r) == other})
        return (
            f"the volumes of this series told apart by {name} do not lie at the same slice "
            f"positions: {word} {other}'s first slice ({file_list(files, 2)}) lies {shift:+.4g} "
            f"mm along the slice normal from {word} {first}'s ({len(moved)} of {len(values)} "
            "volumes lie elsewhere: "
            f"{word} {shown}; the others at {len(common)} shared positions), so they are not "
            "volumes of one grid. The volumes were moved (prospective motion correction), cover "
            "another slab, or two runs share one SeriesInstanceUID; dcm2niix stops ('Check "
            "sorted order') or stacks slices of both grids. Open the volumes at each set of "
            "positions apart: move their files into a folder of their own"
        )
    return ""
