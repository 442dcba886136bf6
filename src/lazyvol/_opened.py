"""The files a volume was opened from, with their stamps at open (from its read plan)."""

from __future__ import annotations

import os
from typing import Any

from ._cut_plan import CutPlan
from .chunking import plan_of
from .sources import SourceStamp

__all__ = ["opened_plan", "opened_stamps"]


def opened_plan(vol: Any) -> Any:
    """The reader's read plan behind ``vol`` (also when cut: the plan of the volume it was cut
    from), or None for a volume without one (made in memory, or computed from others)."""
    # (a Volume's own array is a PlanArray until .data is asked for: no dask import here)
    arr = getattr(vol, "_arr", None)
    if isinstance(arr, CutPlan):  # (an integer-indexed or reversed box: its box's plan)
        arr = arr.region
    return plan_of(arr if arr is not None else getattr(vol, "data", None))


def opened_stamps(vol: Any) -> dict[str, SourceStamp]:
    """Each local source file of ``vol`` with its stamp at open (from the volume's read plan; a
    light view made for workers carries them as ``stamps``); empty when the volume has no plan
    of its own (made in memory, or computed from others)."""
    carried = getattr(vol, "stamps", None)
    if isinstance(carried, dict):
        return carried
    plan = opened_plan(vol)
    out: dict[str, SourceStamp] = {}
    # (the NIfTI and DICOM plans, known by their fields: no import of the DICOM package here)
    if hasattr(plan, "stamp") and hasattr(plan, "header") and hasattr(plan, "loc"):
        for st in (plan.stamp, plan.header):
            if st is not None and not plan.loc.is_remote:
                out[os.path.abspath(st.path)] = st
    elif hasattr(plan, "stamps") and hasattr(plan, "paths") and not getattr(plan, "locations", 1):
        for path, st in zip(plan.paths, plan.stamps, strict=False):
            if st is not None and path:
                out[os.path.abspath(path)] = st
    return out
