"""The temporal position split of :func:`lazyvol.dicom.grouping.split_series`: images of one
series stating several TemporalPositionIdentifier (0020,0100) values whose positions do not
repeat, each value's images at positions of their own, as one group per value.

Time points of a series share their slice positions, and the stacking makes a 4th axis of them.
When every time point lies elsewhere (a time point moved by half a slice, a moving-table
acquisition, time points of partial coverage) no position repeats, and the images were stacked as
the slices of one 3D volume: time points interleaved along the slices, without a word. dcm2niix
refuses such a series ("Unable to equalize slice distances: slice order not consistently
ascending"); lazyvol opens each time point as a volume of its own, at its own positions. Time
points in blocks along the slice normal, one after the other (the stations of a moving-table
acquisition), stay one stack, as dcm2niix stacks them; a value at one position only (a label
numbering images, not volumes) does not split, nor do time points sharing any position (the
stacking orders those, or refuses them).
"""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np

from .. import slice_grid
from .records import FrameRecord

__all__ = ["split_temporal_positions"]


def split_temporal_positions(keyed: dict[tuple[str, ...], list[FrameRecord]]) -> str:
    """One group per TemporalPositionIdentifier (in place) where the module docstring says;
    returns the split reason or ""."""
    note = ""
    for key in list(keyed):
        recs = keyed[key]
        if len(recs) < 4 or any(
            r.ipp is None or r.number_of_frames != 1 or r.mosaic is not None or
            r.temporal_position is None
            for r in recs
        ):  # fmt: skip
            continue
        by_value: dict[int, list[FrameRecord]] = defaultdict(list)
        for r in recs:
            by_value[int(r.temporal_position or 0)].append(r)
        if len(by_value) < 2:
            continue
        labels = slice_grid.position_labels([r.ipp or [] for r in recs])
        at = {id(r): int(n) for r, n in zip(recs, labels, strict=True)}
        places = [[at[id(r)] for r in v] for v in by_value.values()]
        seen: set[int] = set()
        apart = True
        for p in places:
            own = set(p)
            if len(own) != len(p) or len(own) < 2 or own & seen:
                apart = False
                break
            seen |= own
        if not apart or _in_blocks(recs, {id(r): v for v, g in by_value.items() for r in g}):
            continue
        del keyed[key]
        for value in sorted(by_value):
            keyed[(*key, f"temporal position {value}")] = by_value[value]
        note = (
            f"TemporalPositionIdentifier (0020,0100) differs between images at distinct "
            f"positions ({len(by_value)} time points of {'/'.join(str(len(p)) for p in places)} "
            "positions, none shared): one volume per time point, never time points interleaved "
            "along the slices (dcm2niix refuses such a series)"
        )
    return note


def _in_blocks(recs: list[FrameRecord], value_of: dict[int, int]) -> bool:
    """The time points lie one after the other along the slice normal (each a run of adjacent
    positions), not interleaved."""
    iop = np.asarray(recs[0].iop or [1, 0, 0, 0, 1, 0], dtype=np.float64)
    normal = np.cross(iop[:3], iop[3:])
    ordered = sorted(recs, key=lambda r: float(np.dot(np.asarray(r.ipp, dtype=np.float64), normal)))
    runs = 1 + sum(value_of[id(a)] != value_of[id(b)] for a, b in itertools.pairwise(ordered))
    return runs == len(set(value_of.values()))
