"""Notes on the images of one volume that differ in how their values read: MONOCHROME1 beside
MONOCHROME2, and an ImageType naming another complex component than the one the volume goes by;
and on images stating different SeriesDescriptions, two series stacked as one (split from
:mod:`.stacking`, which runs them)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from .checks import MAYBE_MERGED_NOTE
from .grouping import component_conflict, image_component, most_common
from .records import FrameRecord
from .stack_notes import image_count

__all__ = ["component_conflicts", "mixed_descriptions", "mixed_photometric"]


def mixed_photometric(frames: list[FrameRecord], meta: dict[str, Any], warnings: list[str]) -> None:
    """MONOCHROME1 and MONOCHROME2 images in one volume: their values as stored, said so."""
    counts = Counter(r.photometric for r in frames)
    if len(counts) < 2:
        return
    meta["photometric"] = most_common([r.photometric for r in frames])
    meta["photometric_counts"] = {p: counts[p] for p in sorted(counts)}
    shown = ", ".join(f"{p} ({n} images)" for p, n in sorted(counts.items()))
    warnings.append(
        f"PhotometricInterpretation (0028,0004) differs between the images ({shown}): values "
        "are as stored in each (lazyvol inverts none); the MONOCHROME1 images display inverted"
    )
    meta["monochrome1"] = (
        f"values are as stored: the {counts.get('MONOCHROME1', 0)} MONOCHROME1 images display "
        "inverted, the others not (lazyvol inverts none)"
    )


def component_conflicts(frames: list[FrameRecord], warnings: list[str]) -> None:
    """Say when ImageType names another complex component than the one the volume goes by."""
    named = Counter(c for r in frames if (c := component_conflict(r)))
    if named:
        shown = ", ".join(f"{c} ({n} images)" for c, n in sorted(named.items()))
        warnings.append(
            f"ImageType (0008,0008) names {shown} where ComplexImageComponent (0008,9208) or GE's "
            f"(0043,102F) says {image_component(frames[0])}: the volume goes by the latter"
        )


def mixed_descriptions(frames: list[FrameRecord], warnings: list[str]) -> None:
    """Say when the images of one volume state different SeriesDescriptions, each with how many
    images state it: a series-level attribute, so two series under one SeriesInstanceUID (an
    export or anonymiser that reused it, with no SeriesNumber to split them) were stacked as one,
    their images as slices or time points of each other. A Python warning too at open
    (:data:`~.checks.MAYBE_MERGED_NOTE`). A description left blank says nothing."""
    by_text: dict[str, list[FrameRecord]] = defaultdict(list)
    for r in frames:
        if r.series_description.strip():
            by_text[r.series_description.strip()].append(r)
    if len(by_text) < 2:
        return
    shown = ", ".join(f"{text!r} in {image_count(rs)}" for text, rs in sorted(by_text.items()))
    warnings.append(
        f"{MAYBE_MERGED_NOTE}: SeriesDescription (0008,103E) differs between the images of this "
        f"volume ({shown}), as between series under one SeriesInstanceUID (an export or "
        "anonymiser that reused it); to open them apart, move the files of each description to a "
        "folder of their own"
    )
