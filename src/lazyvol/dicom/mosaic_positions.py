"""Mosaic files of one series that do not hold the same slice positions.

A Siemens mosaic (:mod:`lazyvol.dicom.mosaic`) or a UIH GRID (:mod:`lazyvol.dicom.grid`) file
holds one whole volume: the volumes of a series are its files, and they share one set of slice
positions. Files whose tiles lie elsewhere (a volume moved by prospective motion correction, a
file edited, two runs' files under one SeriesInstanceUID) cannot be stacked: taken as slices, two
volumes half a slice apart made one volume of twice the slices at half the spacing (time points
interleaved along k, without a word), and volumes overlapping in part made an uneven count of
images per position. dcm2niix stacks such files as the volumes of a 4D image placed by the first
file's geometry, so the other volumes are misplaced, with no warning either.
"""

from __future__ import annotations

from collections.abc import Sequence

from .records import FrameRecord
from .support import file_list
from .tiles import is_grid_tile

__all__ = ["moved_mosaics"]


def moved_mosaics(groups: Sequence[Sequence[FrameRecord]], positions: Sequence[float]) -> str:
    """Why the mosaic files among ``groups`` (the images at each distinct slice position, in
    order along the normal; ``positions`` their places, mm) cannot be stacked: "" when the
    images are not all mosaic tiles, come from one file, or every file holds the same positions.
    """
    at: dict[str, list[int]] = {}
    for n, group in enumerate(groups):
        for r in group:
            if r.mosaic is None:
                return ""
            at.setdefault(r.path, []).append(n)
    if len(at) < 2:
        return ""
    places = {path: sorted(ns) for path, ns in at.items()}
    first_path = min(places, key=lambda p: (places[p][0], p))
    first = places[first_path]
    moved = sorted(p for p, ns in places.items() if ns != first)
    if not moved:
        return ""
    other = min(moved, key=lambda p: (abs(positions[places[p][0]] - positions[first[0]]), p))
    shift = positions[places[other][0]] - positions[first[0]]
    kind = "UIH GRID" if any(is_grid_tile(r) for g in groups for r in g) else "Siemens mosaic"
    return (
        f"the {kind} files of this series do not hold the same slice positions: each is one "
        f"volume of {len(first)} slices, but {other}'s first slice lies {shift:+.4g} mm along "
        f"the slice normal from {first_path}'s ({len(moved)} of {len(places)} files: "
        f"{file_list(moved, 3)}), so the files are not volumes of one grid, and stacking their "
        "tiles would interleave volumes along the slices. The volumes were moved (prospective "
        "motion correction) or the files edited, or two runs share one SeriesInstanceUID; "
        "dcm2niix stacks them in the first file's geometry, misplacing the others. Open each "
        "file on its own, or move the files at each set of positions into a folder of their own"
    )
