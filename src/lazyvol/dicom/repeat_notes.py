"""Why the slice positions of a series repeat unevenly, for its refusal: which positions hold
other than the usual number of images (:func:`repeats_note`), and the cause
(:func:`uneven_repeats_cause`: images lost inside the series named by InstanceNumber, an
interrupted last volume named with its files and the remedy, else the usual causes); and why
evenly repeated positions no rule orders may be several runs under one series (:func:`runs_note`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

from .records import FrameRecord
from .stack_notes import frame_runs, image_list, missing_numbers, plural
from .support import file_list
from .volume_rank import Clock

__all__ = ["repeats_note", "runs_note", "uneven_repeats_cause"]


#: Per-image labels that may tell runs of one protocol apart under one SeriesInstanceUID.
_RUN_LABELS = (
    ("AcquisitionNumber (0020,0012)", lambda r: r.acquisition_number),
    ("AcquisitionTime (0008,0032)", lambda r: r.acquisition_time),
)

#: Positions a refusal of positions that repeat unevenly names (with their files); the rest counted.
_ODD_POSITIONS_SHOWN = 3


def repeats_note(positions: Sequence[float], groups: Sequence[Sequence[FrameRecord]]) -> str:
    """The head of a refusal of a series whose slice positions repeat: how many positions hold
    how many images, and where to look. ``positions``: each distinct position along the normal
    (mm), in order; ``groups``: the images at each.

    When the counts differ, the positions whose count is not the most common one (a tie: the
    larger, as an image missing is the usual damage) are named with their files: there an image
    is missing or extra. When every position repeats equally often, the first one is the
    example."""
    counts = Counter(len(g) for g in groups)
    usual = max(counts, key=lambda c: (counts[c], c))
    head = (
        f"{len(groups)} distinct slice positions but positions repeat "
        f"({', '.join(f'{n} position(s) x{c}' for c, n in sorted(counts.items()))})"
    )
    odd = [(p, g) for p, g in zip(positions, groups) if len(g) != usual]
    if not odd:
        p, g = next((p, g) for p, g in zip(positions, groups) if len(g) > 1)
        return f"{head}; e.g. position {p:.4f} mm along the normal in {image_list(g)}"
    shown = "; ".join(
        f"{p:.4f} mm ({plural(len(g), 'image')}: {image_list(g)})"
        for p, g in odd[:_ODD_POSITIONS_SHOWN]
    )
    if len(odd) > _ODD_POSITIONS_SHOWN:
        shown += f"; and {len(odd) - _ODD_POSITIONS_SHOWN} more"
    return (
        f"{head}; {plural(len(odd), 'position')} along the normal "
        f"{'has' if len(odd) == 1 else 'have'} other than the {usual} images of the "
        f"{counts[usual]} other(s): {shown}"
    )


#: The cause a refusal of positions that repeat unevenly gives when no other is found.
_UNEVEN_CAUSE = (
    "missing images, or mixed acquisitions sharing one SeriesInstanceUID (overlapping PET beds, "
    "two reconstructions of one scan): restore the missing images, or move each acquisition's "
    "files (the images named above tell them apart) into a folder of its own and open each"
)


def uneven_repeats_cause(
    groups: Sequence[Sequence[FrameRecord]], held: Collection[int | None] = ()
) -> str:
    """Why the slice positions of a series repeat unevenly (``groups``: the images at each), for
    its refusal: images lost from inside the series when InstanceNumber skips as many numbers as
    the positions lack images (:func:`_lost_inside`; ``held``: the numbers of the images of the
    series split into other volumes, which are not lost); an interrupted acquisition when some
    positions hold one image more than the others and those extra images (the latest at each
    such position, by acquisition time, then InstanceNumber) are the latest images of the
    series, and the other images number without a gap (or a volume label says so,
    :func:`_cut_by_labels`): a last volume cut short (or some of its files lost), named with the
    remedy (the complete volumes open without its files). Otherwise the usual causes."""
    lost = _lost_inside(groups, held)
    if lost:
        return lost
    counts = sorted({len(g) for g in groups})
    if len(counts) != 2 or counts[1] != counts[0] + 1:
        return _UNEVEN_CAUSE
    rank = Clock.of(groups).rank
    extra = [max(g, key=rank) for g in groups if len(g) == counts[1]]
    chosen = {id(r) for r in extra}
    others = [r for g in groups for r in g if id(r) not in chosen]
    proven = _cut_by_labels(groups, chosen, counts[0])
    if not proven and min(rank(r) for r in extra) <= max(rank(r) for r in others):
        return _UNEVEN_CAUSE
    numbers = [r.instance_number for r in others if r.instance_number is not None]
    if not _last_by_labels(extra, others):
        return _UNEVEN_CAUSE  # (a volume label puts the short volume elsewhere)
    gap = len(set(numbers)) == len(others) and missing_numbers(numbers, ())
    if gap and not proven:
        return _UNEVEN_CAUSE  # (an image of an earlier volume missing: not the last one cut)
    if numbers and min(numbers) > 1:
        # (images 1.. missing: the first volume's first images lost looks the same by rank)
        return (
            f"{_UNEVEN_CAUSE}; the series' InstanceNumbers start at {min(numbers)}, so images of "
            "its first volume may be lost as well as those of its last"
        )
    stated = [r.instance_number for r in extra if r.instance_number is not None]
    named = image_list(extra) + (
        f"; InstanceNumber {frame_runs(stated)}" if len(stated) == len(extra) else ""
    )
    # (frames of a multi-frame file whose other frames are the complete volumes' cannot be moved
    # apart from them: a lost part of the image, such as a concatenation's next file)
    shared = sorted({r.path for r in extra} & {r.path for r in others})
    remedy = (
        f"move {'it' if len(extra) == 1 else 'them'} out of the folder to open the "
        f"{counts[0]} complete volume(s)"
        if not shared
        else f"they are frames of {file_list(shared, 2)}, whose other frames are the complete "
        "volumes', so no file can be moved out to open those: restore the missing frames (a "
        "lost part of a multi-frame image, such as a concatenation's next file) or re-export "
        "the series"
    )
    return (
        f"the last volume is incomplete (an interrupted acquisition, or files of it lost): "
        f"the series' latest images are {plural(len(extra), 'image')} at {len(extra)} of the "
        f"{len(groups)} positions ({named}); {remedy}"
    )


#: Runs of InstanceNumbers missing a refusal of images lost inside a series names.
_GAPS_SHOWN = 3


def _lost_inside(groups: Sequence[Sequence[FrameRecord]], held: Collection[int | None]) -> str:
    """The cause of unevenly repeated positions when images were lost from inside the series:
    every image states its own InstanceNumber, no position holds more than the fullest, and the
    numbers skip (no image of the series, ``held``, holding them) exactly as many as the other
    positions lack: those images are missing (files lost in a copy or an export), named by
    number (:func:`repeats_note` names the positions that lack them, with their files), and the
    remedy (restore them; moving acquisitions apart, the usual advice, cannot help). ""
    otherwise (an interrupted last volume, lost first images and mixed acquisitions leave no
    such gap)."""
    records = [r for g in groups for r in g]
    numbers = [r.instance_number for r in records]
    fullest = max(len(g) for g in groups)
    lacking = sum(fullest - len(g) for g in groups)
    if lacking == 0 or None in numbers or len(set(numbers)) != len(numbers):
        return ""
    stated = [int(n) for n in numbers if n is not None]
    gaps = missing_numbers(stated, held)
    if sum(b - a + 1 for a, b in gaps) != lacking:
        return ""
    shown = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in gaps[:_GAPS_SHOWN])
    if len(gaps) > _GAPS_SHOWN:
        shown += f" and {len(gaps) - _GAPS_SHOWN} more run(s)"
    return (
        f"missing images inside the series: InstanceNumber (0020,0013) skips {shown}: "
        f"{plural(lacking, 'number')} for the {plural(lacking, 'image')} the positions lack "
        "(files lost in a copy or an export); restore them (copy the series again from its "
        "source): the volumes they belong to are incomplete, and lazyvol does not fill in "
        "images of a time series"
    )


def _cut_by_labels(groups: Sequence[Sequence[FrameRecord]], chosen: set[int], whole: int) -> bool:
    """Whether a volume label (TemporalPositionIdentifier, AcquisitionNumber) stated by every
    image says the ``chosen`` images (ids) are one last volume and every earlier one is whole:
    the same ``whole`` values at every position, once each, the chosen's one value above them
    (InstanceNumbers run slice by slice, as Philips numbers them, say neither)."""
    for field in ("temporal_position", "acquisition_number"):
        sets = [[getattr(r, field) for r in g if id(r) not in chosen] for g in groups]
        last = {getattr(r, field) for g in groups for r in g if id(r) in chosen}
        first = set(sets[0])
        if None in first | last or len(first) != whole or len(last) != 1 or min(last) <= max(first):
            continue
        if all(len(v) == whole and set(v) == first for v in sets):
            return True
    return False


def _last_by_labels(extra: Sequence[FrameRecord], others: Sequence[FrameRecord]) -> bool:
    """False when a volume label (TemporalPositionIdentifier, AcquisitionNumber) stated by every
    image and taking several values does not set ``extra`` apart as the last volume: one value
    for all of them, held by no other image and greater than the others'."""
    for field in ("temporal_position", "acquisition_number"):
        mine = {getattr(r, field) for r in extra}
        theirs = {getattr(r, field) for r in others}
        if None in mine or None in theirs or len(mine | theirs) < 2:
            continue
        if len(mine) != 1 or mine & theirs or min(mine) < max(theirs):  # type: ignore[type-var]
            return False
    return True


def runs_note(groups: Sequence[Sequence[FrameRecord]]) -> str:
    """The remedy for evenly repeated positions no rule orders when a label splits them into runs:
    an attribute every image states whose values are the same few at every position, each as
    often (fewer values than images at a position: it tells runs apart, not volumes), as two runs
    of one protocol under one SeriesInstanceUID (a PACS or anonymiser that reused the UID) state
    their AcquisitionNumber or AcquisitionTime. "" when none does."""
    for name, label in _RUN_LABELS:
        values = [[label(r) for r in g] for g in groups]
        if any(v is None for vs in values for v in vs):
            continue
        counts = [Counter(vs) for vs in values]
        if any(c != counts[0] for c in counts) or not 1 < len(counts[0]) < len(groups[0]):
            continue
        each = sorted(counts[0].items(), key=lambda kv: str(kv[0]))
        shown = ", ".join(f"{v} ({n * len(groups)} images)" for v, n in each[:4])
        more = f" and {len(each) - 4} more" if len(each) > 4 else ""
        return (
            f"The images look like {len(each)} runs under one SeriesInstanceUID, told apart by "
            f"{name}: {shown}{more}; move each run's files to a folder of its own to open it"
        )
    return ""
