"""Notes on a stack that opens: whether InstanceNumber skips numbers (:mod:`lazyvol.dicom.stacking`
adds them to the volume's warnings)."""

from __future__ import annotations

from collections.abc import Sequence

from .records import FrameRecord

__all__ = ["instance_gaps"]


def instance_gaps(base: Sequence[FrameRecord], records: Sequence[FrameRecord]) -> list[str]:
    """A warning when InstanceNumber skips numbers though the positions are regular: over the
    whole series (``records``) when its numbers are unique (a 4D series numbered across volumes,
    or slice by slice, has no gaps although each volume's numbers do), else within the first
    volume (``base``)."""
    every = [r.instance_number for r in records]
    if len(base) < 2 or any(n is None for n in every):
        return []
    unique = len(set(every)) == len(every)
    ns = sorted(
        int(n) for n in (every if unique else [r.instance_number for r in base]) if n is not None
    )
    if ns[-1] - ns[0] + 1 == len(ns) or len(set(ns)) != len(ns):
        return []
    what = "images" if unique and len(ns) > len(base) else "slices"
    return [
        f"InstanceNumber (0020,0013) has gaps ({ns[0]}..{ns[-1]} for {len(ns)} {what}) but the "
        "positions are regular"
    ]
