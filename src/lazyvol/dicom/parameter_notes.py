"""RepetitionTime, InversionTime and FlipAngle of a volume's sidecar, and the note on a volume
whose images state several values of one.

The sidecar takes the one value every image of the volume states (numbers within float noise one
value: :func:`lazyvol.dicom.records.same_value`; an enhanced file's frames each their own). Whole
volumes of each FlipAngle or RepetitionTime are set apart before stacking
(:mod:`lazyvol.dicom.parameter_split`); images stating different values inside a volume (a slice
re-acquired with another TR, another InversionTime) stay one volume, as the stacking decides, and
the sidecar leaves the key out; the note says so, each value with its count of images. dcm2niix writes one volume per RepetitionTime and per FlipAngle
("Slices not stacked: flip angle varies") and the first image's InversionTime, but keeps the frames
of one enhanced file in one volume whatever values they state, its sidecar stating the last frame's
(checked with v1.0.20260724): the note says which applies, and a file's frames cannot be moved
apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .model import MIXED_PARAMETERS_NOTE
from .records import FrameRecord, close_groups, same_value

__all__ = ["shared_parameters"]

#: The sidecar keys: (key, tag, unit of the record's value).
_KEYS = (
    ("RepetitionTime", "(0018,0080)", "s"),
    ("InversionTime", "(0018,0082)", "s"),
    ("FlipAngle", "(0018,1314)", "degrees"),
)


def _images(records: Sequence[FrameRecord]) -> str:
    files = len({r.path for r in records})
    if files == len(records):
        return f"{files} file{'s' if files != 1 else ''}"
    return f"{len(records)} images of {files} file{'s' if files != 1 else ''}"


def shared_parameters(
    bids: dict[str, Any],
    frames: Sequence[FrameRecord],
    values: Callable[[FrameRecord], dict[str, Any]],
) -> list[str]:
    """Put the keys of the module docstring that every image of ``frames`` states alike into
    ``bids`` (``values``: a record's sidecar values); return the note on those stated with
    several values ([] when none is)."""
    parts = []
    within = False  # (values differing between the frames of one file)
    for key, tag, unit in _KEYS:
        stated = [values(r).get(key) for r in frames]
        value = same_value(stated)
        if value is not None:
            bids[key] = value
            continue
        numbers = [
            (float(v), r)
            for v, r in zip(stated, frames, strict=True)
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        groups = close_groups(numbers, lambda vr: vr[0])
        if len(groups) > 1:
            within = within or _within_a_file(groups)
            shown = ", ".join(f"{v:g} {unit} in {_images([r for _, r in g])}" for v, g in groups)
            parts.append(f"{key} {tag}: {shown}")
    if not parts:
        return []
    theirs = (
        "as dcm2niix keeps an enhanced file's frames in one volume (its sidecar stating the last "
        "frame's values); the frames of one file cannot be moved apart: check that they belong "
        "together"
        if within
        else "dcm2niix writes one volume per RepetitionTime and per FlipAngle (and the first "
        "image's InversionTime): to open them apart, move the files of each value to a folder of "
        "their own"
    )
    return [
        f"{MIXED_PARAMETERS_NOTE}: {'; '.join(parts)}. They are kept as one volume and the "
        f"sidecar leaves these keys out, {theirs}"
    ]


def _within_a_file(groups: Sequence[tuple[float, list[tuple[float, FrameRecord]]]]) -> bool:
    """Whether a file's frames fall in several of ``groups`` (values of the note)."""
    seen: dict[str, int] = {}
    for n, (_, members) in enumerate(groups):
        for _, r in members:
            if seen.setdefault(r.path, n) != n:
                return True
    return False
