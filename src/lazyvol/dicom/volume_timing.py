"""Whether the volumes of an MR time series are evenly spaced in acquisition time.

A 4D MR series whose volumes were not acquired one repetition apart is not the regular time
series its RepetitionTime describes: a volume is missing (its InstanceNumber gap renumbered away
by an anonymiser, or a whole-volume file lost), a volume was acquired again, or two runs of one
protocol share a SeriesInstanceUID (the scanner re-used it, with other AcquisitionNumbers). The
images still stack, in time order; only their times tell it, so this note does. dcm2niix warns
"Seconds between volumes varies" for the same (50 ms tolerance); here the tolerance also takes
10 % of the usual interval and the times' written resolution (GE writes whole seconds), so that
the jitter of real timestamps does not warn.

Not for other modalities: a PET dynamic's frames and a CT perfusion's phases are uneven by design.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from .._per_volume import VOLUME_ACQUISITION
from .dicom_time import tm_resolution
from .model import UNEVEN_VOLUMES_NOTE
from .records import FrameRecord

__all__ = ["uneven_volumes_note"]

#: dcm2niix's tolerance on the seconds between volumes, and the share of the usual interval
#: allowed beside it.
_TOLERANCE_S = 0.05
_TOLERANCE_SHARE = 0.1
#: Uneven intervals named in the note (the rest counted).
_SHOWN = 3


def uneven_volumes_note(
    meta: dict[str, Any], slots: Sequence[FrameRecord | None], modality: str
) -> str:
    """The warning for an MR series of three or more volumes whose start times
    (``meta["volume_acquisition"]["stamp"]``, each volume's earliest image) are not evenly spaced,
    or "". Intervals of 0 (echoes or components of one acquisition) are not compared, as
    dcm2niix; ``slots``: the series' images (their AcquisitionTime's written resolution)."""
    acquisition = meta.get(VOLUME_ACQUISITION) or {}
    stamps = [s for s in acquisition.get("stamp") or () if s is not None]
    if modality != "MR" or len(stamps) < 3 or len(stamps) != len(acquisition["stamp"]):
        return ""
    gaps = [b - a for a, b in pairwise(stamps)]
    positive = [g for g in gaps if g > 0]
    if len(positive) < 2:
        return ""
    usual = statistics.median(positive)
    resolution = tm_resolution([r.acquisition_time for r in slots if r is not None])
    tolerance = max(_TOLERANCE_S, _TOLERANCE_SHARE * usual) + resolution
    odd = [(t, g) for t, g in enumerate(gaps) if g > 0 and abs(g - usual) > tolerance]
    if not odd:
        return ""
    shown = ", ".join(f"volume {t} to {t + 1}: {g:.6g} s" for t, g in odd[:_SHOWN])
    if len(odd) > _SHOWN:
        shown += f" and {len(odd) - _SHOWN} more"
    return (
        f"{UNEVEN_VOLUMES_NOTE} (AcquisitionTime (0008,0032)): the volumes start {usual:.6g} s "
        f"apart, but {shown}: a volume missing, acquired again or split off (another echo "
        "time or image type), or runs of one protocol that share a SeriesInstanceUID; RepetitionTime does not give these volumes' times "
        '(meta["volume_acquisition"] does); to keep one run, cut the volume along its 4th axis '
        "(vol[..., a:b])"
    )
