"""Whether the volumes of an MR time series are evenly spaced in acquisition time.

A 4D MR series whose volumes were not acquired one repetition apart is not the regular time
series its RepetitionTime describes: a volume is missing (its InstanceNumber gap renumbered away
by an anonymiser, or a whole-volume file lost), a volume was acquired again, or two runs of one
protocol share a SeriesInstanceUID (the scanner re-used it, with other AcquisitionNumbers). The
images still stack, in time order; only their times tell it, so this note does. dcm2niix warns
"Seconds between volumes varies" for the same (50 ms tolerance); here the tolerance also takes
10 % of the usual interval and the times' written resolution (GE writes whole seconds), so that
the jitter of real timestamps does not warn (:func:`lazyvol._per_volume.uneven_intervals`).

Not for other modalities: a PET dynamic's frames and a CT perfusion's phases are uneven by design.
"""

from __future__ import annotations

from typing import Any

from .._per_volume import (
    UNEVEN_VOLUMES_NOTE,
    VOLUME_ACQUISITION,
    series_resolution,
    uneven_intervals,
)

__all__ = ["uneven_volumes_note"]

#: Uneven intervals named in the note (the rest counted).
_SHOWN = 3


def uneven_volumes_note(meta: dict[str, Any], modality: str) -> str:
    """The warning for an MR series of three or more volumes whose start times
    (``meta["volume_acquisition"]["stamp"]``, each volume's earliest image) are not evenly spaced,
    or "" (:func:`~lazyvol._per_volume.uneven_intervals`, within the resolution the times are
    written to: :func:`~lazyvol._per_volume.series_resolution`, as a cut takes it)."""
    acquisition = meta.get(VOLUME_ACQUISITION) or {}
    stamps = [s for s in acquisition.get("stamp") or () if s is not None]
    if modality != "MR" or len(stamps) < 3 or len(stamps) != len(acquisition["stamp"]):
        return ""
    usual, odd = uneven_intervals(stamps, series_resolution(acquisition))
    if not odd:
        return ""
    shown = ", ".join(f"volume {t} to {t + 1}: {g:.6g} s" for t, g in odd[:_SHOWN])
    if len(odd) > _SHOWN:
        shown += f" and {len(odd) - _SHOWN} more"
    return (
        f"{UNEVEN_VOLUMES_NOTE} (AcquisitionTime (0008,0032)): the volumes start {usual:.6g} s "
        f"apart, but {shown}: a volume missing, acquired again or split off (another echo "
        "time or image type), runs of one protocol that share a SeriesInstanceUID, or a "
        "timing of the protocol's own (a pause for a contrast injection, a reference or M0 "
        "volume, a repetition time per b-value, a sparse or clustered design); "
        "RepetitionTime does not give these volumes' times "
        '(meta["volume_acquisition"] does); to keep one run, cut the volume along its 4th axis '
        "(vol[..., a:b])"
    )
