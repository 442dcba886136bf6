"""The interleaved-volumes split of :func:`lazyvol.dicom.grouping.split_series`: images of one
series whose volume label (TemporalPositionIdentifier (0020,0100), or the diffusion b-value and
gradient direction) takes several values, each value's images at positions of their own,
interleaved along the slice normal, as one group per value.

The volumes of a series share their slice positions, and the stacking makes a 4th axis of them.
When every volume lies elsewhere (a volume moved by half a slice, volumes of partial coverage
interleaved) no position repeats, and the images were stacked as the slices of one 3D volume:
time points, or b-values, alternating along the slices, without a word. dcm2niix refuses such a
series told apart by TemporalPositionIdentifier ("Unable to equalize slice distances: slice order
not consistently ascending") and stacks diffusion volumes as one (b-values alternating between
slices, silently); lazyvol opens each volume on its own, at its own positions. Volumes in blocks
along the slice normal, one after the other (the stations of a moving-table acquisition), stay
one stack, as dcm2niix stacks them; a value at one position only (a label numbering images, not
volumes) does not split, nor do volumes sharing any position (the stacking orders those, or
refuses them).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from .. import slice_grid
from .records import FrameRecord

__all__ = ["VOLUME_LABELS", "split_interleaved_volumes"]


def _diffusion(r: FrameRecord) -> Hashable | None:
    """An image's b-value and direction, rounded well above the noise of their written digits
    (the slices of one volume state one value)."""
    if r.b_value is None:
        return None
    direction = tuple(round(float(g), 3) + 0.0 for g in r.gradient or ())
    return (round(float(r.b_value), 1) + 0.0, direction)


#: (what the note names, what a split group's key says, each image's label: None when unstated)
VOLUME_LABELS: tuple[tuple[str, str, Callable[[FrameRecord], Hashable | None]], ...] = (
    (
        "TemporalPositionIdentifier (0020,0100) / TemporalPositionIndex (0020,9128)",
        "temporal position",
        lambda r: r.temporal_position,
    ),
    ("the diffusion b-value and gradient direction", "diffusion", _diffusion),
)


def split_interleaved_volumes(keyed: dict[tuple[str, ...], list[FrameRecord]]) -> str:
    """One group per volume label value (in place) where the module docstring says; returns the
    split reason or ""."""
    notes: list[str] = []
    for name, word, label_of in VOLUME_LABELS:
        for key in list(keyed):
            recs = keyed[key]
            if len(recs) < 4 or any(
                r.ipp is None or r.mosaic is not None or (r.number_of_frames != 1 and r.frame < 0)
                for r in recs
            ):  # (enhanced frames: each located; mosaic files: mosaic_positions)
                continue
            labels = [label_of(r) for r in recs]
            if any(v is None for v in labels):
                continue
            by_value: dict[Any, list[FrameRecord]] = defaultdict(list)
            for r, v in zip(recs, labels, strict=True):
                by_value[v].append(r)
            if len(by_value) < 2 or not _apart(recs, list(by_value.values())):
                continue
            del keyed[key]
            for value in sorted(by_value, key=repr):  # (not the listing's order)
                keyed[(*key, f"{word} {value}")] = by_value[value]
            counts = "/".join(str(len(g)) for g in by_value.values())
            notes.append(
                f"{name} differs between images at distinct positions ({len(by_value)} volumes "
                f"of {counts} positions, interleaved along the slice normal, none shared): one "
                "volume each, never volumes interleaved along the slices"
            )
    return "; ".join(dict.fromkeys(notes))


def _apart(recs: list[FrameRecord], groups: list[list[FrameRecord]]) -> bool:
    """Each group holds two or more positions, none repeated nor shared with another group, and
    the groups interleave along the slice normal (not one block after the other)."""
    labels = slice_grid.position_labels([r.ipp or [] for r in recs])
    at = {id(r): int(n) for r, n in zip(recs, labels, strict=True)}
    seen: set[int] = set()
    for g in groups:
        own = {at[id(r)] for r in g}
        if len(own) != len(g) or len(own) < 2 or own & seen:
            return False
        seen |= own
    group_of = {id(r): n for n, g in enumerate(groups) for r in g}
    iop = np.asarray(recs[0].iop or [1, 0, 0, 0, 1, 0], dtype=np.float64)
    normal = np.cross(iop[:3], iop[3:])
    ordered = sorted(recs, key=lambda r: float(np.dot(np.asarray(r.ipp, dtype=np.float64), normal)))
    runs = 1 + sum(group_of[id(a)] != group_of[id(b)] for a, b in itertools.pairwise(ordered))
    return runs > len(groups)  # (one run per group: blocks one after the other)
