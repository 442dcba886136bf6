"""Notes on stacks: whether InstanceNumber skips numbers (a warning on a volume that opens),
whether images repeating a position are copies of one another (the cause named when a series is
refused), and which files of the series the scan skipped and why."""

from __future__ import annotations

from collections.abc import Sequence

from .records import FrameRecord
from .support import file_list

__all__ = ["copies_note", "incomplete_note", "instance_gaps"]

#: Skip reasons a series-incomplete warning quotes (each with its files); the rest are counted.
_REASONS_SHOWN = 3


def incomplete_note(skipped: Sequence[tuple[str, str]]) -> str:
    """The warning on a volume whose series has ``skipped`` files ``(path, reason)``: the files
    by reason (the reason says what to do: decompress, re-export, ...)."""
    by_reason: dict[str, list[str]] = {}
    for path, reason in sorted(skipped):
        by_reason.setdefault(reason, []).append(path)
    groups = list(by_reason.items())
    shown = "; ".join(f"{file_list(paths)} ({why})" for why, paths in groups[:_REASONS_SHOWN])
    rest = sum(len(paths) for _, paths in groups[_REASONS_SHOWN:])
    if rest:
        shown += f"; and {rest} file(s) skipped for other reasons (see the scan's skipped files)"
    return (
        f"series incomplete: {len(skipped)} file(s) with this SeriesInstanceUID were skipped: "
        + shown
    )


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


def copies_note(groups: Sequence[Sequence[FrameRecord]]) -> str:
    """Why images repeat at a slice position when some are copies of others: same position,
    InstanceNumber, acquisition, times, echo and b-value, another SOPInstanceUID (the series was
    exported or copied into the folder twice); ``""`` when none are, or when the series' numbers
    cannot tell (missing, or one for every image)."""
    numbers = [r.instance_number for g in groups for r in g]
    if any(n is None for n in numbers) or len(set(numbers)) < 2:
        # an export numbers its images: without numbers, or with one number for all, equal
        # headers are images the series does not tell apart, not evidence of a second copy
        return ""
    pairs: list[tuple[str, str]] = []
    for group in groups:
        seen: dict[tuple[object, ...], FrameRecord] = {}
        for r in group:
            key = (
                r.instance_number,
                r.acquisition_number,
                r.acquisition_time,
                r.trigger_time,
                r.temporal_position,
                r.echo_number,
                r.echo_time,
                r.b_value,
                tuple(r.gradient or ()),
                r.frame,
            )
            if key in seen and seen[key].sop_instance_uid != r.sop_instance_uid:
                pairs.append((seen[key].path, r.path))
            seen.setdefault(key, r)
    if not pairs:
        return ""
    a, b = pairs[0]
    return (
        f"{len(pairs)} image(s) are copies of others under another SOPInstanceUID (same position, "
        f"InstanceNumber, times, echo and b-value; e.g. {a} and {b}): the series was exported or "
        "copied into the folder twice; keep one copy"
    )
