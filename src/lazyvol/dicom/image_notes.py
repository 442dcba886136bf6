"""Notes on the images of one volume that differ in how their values read: MONOCHROME1 beside
MONOCHROME2, and an ImageType naming another complex component than the one the volume goes by
(split from :mod:`.stacking`, which runs them)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .grouping import component_conflict, image_component, most_common
from .records import FrameRecord

__all__ = ["component_conflicts", "mixed_photometric"]


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
