"""The flip angle / repetition time split of :func:`lazyvol.dicom.grouping.split_series`: whole
volumes of one series acquired at several FlipAngle (0018,1314) or RepetitionTime (0018,0080)
values (a variable flip angle T1 map, the two inversions of an MP2RAGE, a saturation-recovery
series of several TRs stored under one SeriesInstanceUID) as one group per value, where dcm2niix
writes one file per value ("Slices not stacked: flip angle varies" / "TR varies").

Only whole volumes are set apart: each value's images cover every position of the series the
same number of times. Values that differ image to image inside a volume (a slice re-acquired
with another TR) stay one volume, as the stacking decides, with the note of
:mod:`lazyvol.dicom.parameter_notes` (dcm2niix splits those too, into volumes of a few slices each,
and warns that images are missing). An enhanced file's frames are never split apart (dcm2niix
keeps them in one volume); Siemens mosaic tiles are judged by their file's value.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from .. import slice_grid
from .records import FrameRecord, close_groups

__all__ = ["split_parameter_series"]

#: (acq key, how the note names it, unit of the record's value, scale to the shown unit)
_PARAMETERS = (
    ("FlipAngle", "FlipAngle (0018,1314)", "degrees", 1.0),
    ("RepetitionTime", "RepetitionTime (0018,0080)", "ms", 1000.0),
)


def _file_values(recs: list[FrameRecord], key: str) -> dict[str, Any]:
    """Each file's stated ``key`` (a mosaic states its values on its first tile only)."""
    out: dict[str, Any] = {}
    for r in recs:
        value = (r.acq or {}).get(key)
        if value is not None:
            out.setdefault(r.path, value)
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _whole_volumes(groups: list[list[FrameRecord]], at: dict[int, int], every: set[int]) -> bool:
    """Each group covers every position of ``every``, each the same number of times."""
    for g in groups:
        counts = Counter(at[id(r)] for r in g)
        if set(counts) != every or len(set(counts.values())) != 1:
            return False
    return True


def split_parameter_series(keyed: dict[tuple[str, ...], list[FrameRecord]]) -> str:
    """Set apart (in place) the whole volumes of each FlipAngle, then each RepetitionTime, of a
    group of single-frame images (see the module docstring). Returns the split reason or ""."""
    notes: list[str] = []
    for key, name, unit, scale in _PARAMETERS:
        for group_key in list(keyed):
            recs = keyed[group_key]
            if len(recs) < 2 or any(
                r.ipp is None or (r.number_of_frames != 1 and r.mosaic is None) for r in recs
            ):
                continue
            stated = _file_values(recs, key)
            pairs = [(_number(stated.get(r.path)), r) for r in recs]
            numbers = [(v, r) for v, r in pairs if v is not None]
            if len(numbers) != len(recs):
                continue
            found = close_groups(numbers, lambda vr: vr[0])
            if len(found) < 2:
                continue
            groups = [(v, [r for _, r in g]) for v, g in found]
            labels = slice_grid.position_labels([r.ipp or [] for r in recs])
            at = {id(r): int(n) for r, n in zip(recs, labels, strict=True)}
            if not _whole_volumes([g for _, g in groups], at, set(at.values())):
                continue
            del keyed[group_key]
            by_value: dict[str, list[FrameRecord]] = defaultdict(list)
            for v, g in groups:
                by_value[f"{key} {v * scale:g}"] = g
            for label, g in by_value.items():
                keyed[(*group_key, label)] = g
            shown = ", ".join(f"{v * scale:g} {unit} ({len(g)} images)" for v, g in groups[:6]) + (
                f" and {len(groups) - 6} more values" if len(groups) > 6 else ""
            )
            notes.append(
                f"{name} differs between whole volumes ({shown}): one volume per value, as "
                f"dcm2niix writes one file per {key}, never volumes of several {key}s stacked "
                "as time points"
            )
    return "; ".join(dict.fromkeys(notes))
