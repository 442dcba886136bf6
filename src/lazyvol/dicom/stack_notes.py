"""Notes on stacks: whether InstanceNumber skips numbers (a warning on a volume that opens),
whether images repeating a position are copies of one another (named when a series is refused;
which positions repeat unevenly and why: :mod:`.repeat_notes`), and which files of the series the
scan skipped and why."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from .. import slice_grid
from .checks import MAYBE_MERGED_NOTE
from .duplicates import NOT_COMPARED, same_image
from .model import INCOMPLETE_NOTE, INSTANCE_GAPS_NOTE, MIXED_THICKNESS_NOTE, UNDECIDED_HERE
from .multiframe import (
    PRIVATE_ORIENTATION,
    PRIVATE_POSITION,
    TOP_LEVEL_ORIENTATION,
    TOP_LEVEL_SPACING,
)
from .ordering import instance_rank_problem, label_key, time_reasons
from .records import EXTRA_VALUES, ONE_FRAME_TAKEN, ONE_VALUE_SPACING, FrameRecord, close_groups
from .source import Fetch, read_local
from .support import file_list

__all__ = [
    "atol_too_large",
    "copies_note",
    "image_count",
    "image_list",
    "frame_runs",
    "incomplete_note",
    "instance_gaps",
    "instance_hint",
    "instance_order_blocker",
    "malformed_hint",
    "missing_numbers",
    "off_numbered_stack",
    "plural",
    "rounding_doubt",
    "spacing_missing",
    "stack_remedy",
    "thickness_note",
    "top_level_notes",
]

#: Skip reasons a series-incomplete warning quotes (each with its files); the rest are counted.
_REASONS_SHOWN = 3


def frame_runs(numbers: Sequence[int]) -> str:
    """1-based frame numbers as runs: ``1-10``, ``2, 5-7``."""
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def image_list(records: Sequence[FrameRecord], limit: int = 4) -> str:
    """The files of ``records`` named once each, an enhanced file's with the frames meant
    (``"a.dcm frames 1-10"``, DICOM's 1-based numbers): what messages name, so the frames of one
    file are not listed as that file over and over. The first ``limit`` files, then how many
    more."""
    frames: dict[str, list[int]] = {}
    for r in records:
        numbers = frames.setdefault(r.path, [])
        if r.number_of_frames > 1 and r.frame >= 0:
            numbers.append(r.frame + 1)
    named = [
        f"{path} frame{'s' if len(set(ns)) > 1 else ''} {frame_runs(ns)}" if ns else path
        for path, ns in frames.items()
    ]
    return file_list(named, limit)


def image_count(records: Sequence[FrameRecord]) -> str:
    """How many images ``records`` are, counted as they are stored: ``"12 files"``, ``"12
    frames of 1 file"``, or both (``"3 files and 20 frames of 2 files"``)."""
    single = {r.path for r in records if r.number_of_frames <= 1 or r.frame < 0}
    multi = [r for r in records if r.number_of_frames > 1 and r.frame >= 0]
    parts = [plural(len(single), "file")] if single or not multi else []
    if multi:
        files = len({r.path for r in multi})
        parts.append(f"{plural(len(multi), 'frame')} of {plural(files, 'file')}")
    return " and ".join(parts)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def instance_order_blocker(records: Sequence[FrameRecord]) -> str:
    """Why ``instance_order=True`` cannot order ``records`` (an InstanceNumber missing, or one
    number for several images: the frames of an enhanced file share the file's), or "" when it
    can: what a message checks before it suggests the option."""
    if len(records) < 2:
        return ""
    no_inst = [r for r in records if r.instance_number is None]
    if no_inst:
        return (
            f"InstanceNumber (0020,0013) is missing in {image_list(no_inst)}, so "
            "instance_order=True cannot order them"
        )
    by_number: dict[int, list[FrameRecord]] = {}
    for r in records:
        by_number.setdefault(int(r.instance_number or 0), []).append(r)
    n, same = next(((n, g) for n, g in sorted(by_number.items()) if len(g) > 1), (0, []))
    if not same:
        return ""
    if len({r.path for r in same}) == 1:
        shared = f"{image_list(same)} share the file's one InstanceNumber (0020,0013), {n}"
    else:
        shared = f"InstanceNumber (0020,0013) {n} repeats in {image_list(same)}"
    return f"{shared}, so instance_order=True cannot order them"


def off_numbered_stack(ordered: Sequence[FrameRecord], origin: Any, step: Any) -> str:
    """Why the images ``ordered`` by InstanceNumber are not the stack ``origin + k * step``
    (:func:`lazyvol.slice_grid.numbered_stack`, drawn through the first and last stated
    positions) that ``instance_order=True`` would return past a missing position, or "": the
    first image whose stated ImagePositionPatient lies off it (beyond the slice tolerance and
    the positions' written precision). Such images are several volumes at repeated positions, a
    stack with a gap, or numbered against their positions: their stated positions would be
    replaced by an even step nothing states."""
    known = [(k, r) for k, r in enumerate(ordered) if r.ipp is not None]
    if len(known) < 2:
        return ""
    o, d = np.asarray(origin, dtype=np.float64), np.asarray(step, dtype=np.float64)
    stated = np.array([r.ipp for _, r in known], dtype=np.float64)
    tol = slice_grid.spacing_tolerance(float(np.linalg.norm(d)))
    tol += 2.0 * slice_grid.position_quantum(stated)
    for (k, r), p in zip(known, stated, strict=True):
        expected = o + k * d
        if float(np.linalg.norm(p - expected)) > tol:
            no_position = [x for x in ordered if x.ipp is None]
            return (
                f"{image_list([r])} (InstanceNumber (0020,0013) {r.instance_number}, image "
                f"{k + 1} of {len(ordered)} in that order) states ImagePositionPatient "
                f"(0020,0032) {_mm(p)}, off the evenly spaced stack through the first and last "
                f"stated positions ({_mm(expected)}): the images are not one stack in "
                "InstanceNumber order (several volumes at repeated positions, a missing slice, "
                "or numbers not along the slices), and stacking them so would replace stated "
                f"positions. Move out the files without a position ({image_list(no_position)}) "
                "or restore their ImagePositionPatient, and open the rest at their positions"
            )
    return ""


def _mm(p: Any) -> str:
    return "[" + ", ".join(f"{float(x):.6g}" for x in p) + "]"


def spacing_missing(no_spacing: Sequence[FrameRecord]) -> str:
    """The refusal of a series whose ``no_spacing`` images (every one stating its
    position and orientation) have no PixelSpacing: the files named once each, an enhanced file's
    frames as frames (their Pixel Measures functional group lacks it), and ``instance_order=True``
    offered (1 mm assumed; the slices keep their stated positions, so no InstanceNumber order is
    needed: frames sharing one InstanceNumber open too)."""
    frames = [r for r in no_spacing if r.number_of_frames > 1 and r.frame >= 0]
    plain = [r for r in no_spacing if not (r.number_of_frames > 1 and r.frame >= 0)]
    where = []
    if frames:
        where.append(
            "the functional groups (PixelMeasuresSequence (0028,9110)) and at the top level "
            f"of {image_list(frames)}"
        )
    if plain:
        where.append(f"{image_count(plain)}: {image_list(plain)}")
    return (
        f"PixelSpacing (0028,0030) missing in {'; and in '.join(where)}; lazyvol does not invent "
        "a pixel spacing: pass instance_order=True for an approximate, flagged affine (1 mm "
        "assumed, the slices at their stated positions)"
    )


#: Where a Philips frame's value comes from when it is taken from its private per-frame sequence.
_PRIVATE = "the Philips private per-frame sequence (2005,140F)"
#: What :func:`top_level_notes` says of each value an enhanced frame may take from elsewhere than
#: its public functional groups: the ``FrameRecord.acq`` key, the ``meta`` key, the attribute, the
#: functional group that should hold it, and where it was taken from.
_TOP_LEVEL = (
    (
        TOP_LEVEL_SPACING,
        "pixel_spacing_source",
        "PixelSpacing (0028,0030)",
        "PixelMeasuresSequence (0028,9110)",
        "the top level",
    ),
    (
        TOP_LEVEL_ORIENTATION,
        "orientation_source",
        "ImageOrientationPatient (0020,0037)",
        "PlaneOrientationSequence (0020,9116)",
        "the top level",
    ),
    (
        PRIVATE_POSITION,
        "position_source",
        "ImagePositionPatient (0020,0032)",
        "PlanePositionSequence (0020,9113)",
        _PRIVATE,
    ),
    (
        PRIVATE_ORIENTATION,
        "orientation_source",
        "ImageOrientationPatient (0020,0037)",
        "PlaneOrientationSequence (0020,9116)",
        _PRIVATE,
    ),
)


def top_level_notes(records: Sequence[FrameRecord]) -> dict[str, str]:
    """The notes on a volume whose enhanced frames took a PixelSpacing, ImageOrientationPatient or
    ImagePositionPatient from elsewhere than their functional groups, which hold none (see
    :mod:`lazyvol.dicom.multiframe`): their file's top level, or a Philips frame's private
    per-frame sequence (2005,140F); by the ``meta`` key that holds each
    (``pixel_spacing_source``, ``orientation_source``, ``position_source``); empty when none was
    taken."""
    notes: dict[str, str] = {}
    for key, meta_key, attribute, group, where in _TOP_LEVEL:
        taken = [r for r in records if (r.acq or {}).get(key)]
        if not taken:
            continue
        note = (
            f"{attribute} taken from {where} of {image_list(taken)}: an enhanced image holds it "
            f"in its functional groups ({group}), which hold none here"
        )
        if where == _PRIVATE:
            note += (
                " (a PACS or anonymiser may have removed them); dcm2niix takes the private value "
                "too when there is no public one (Philips' private position may lie half a voxel "
                "from the public one, dcm2niix's Philips/README.md)"
            )
        else:
            note += "; dcm2niix takes the top-level value too"
        notes[meta_key] = f"{notes[meta_key]}; {note}" if meta_key in notes else note
    one = [r for r in records if (r.acq or {}).get(ONE_VALUE_SPACING)]
    if one:
        note = (
            f"PixelSpacing (0028,0030) of {image_list(one)} holds one value, not two (row and "
            "column spacing): taken for both, as dcm2niix takes it (if the pixels are not square, "
            "the in-plane spacing of vol.affine is wrong)"
        )
        key = "pixel_spacing_source"
        notes[key] = f"{notes[key]}; {note}" if key in notes else note
    _extra_value_notes(records, notes)
    one_frame = [r for r in records if (r.acq or {}).get(ONE_FRAME_TAKEN)]
    if one_frame:
        notes["number_of_frames_source"] = (
            f"NumberOfFrames (0028,0008) of {image_list(one_frame)} is empty or 0 (non-conformant): "
            "read as one frame, the one its Pixel Data holds, as pydicom and dcm2niix read it"
        )
    return notes


#: The meta key of the note on an attribute read by its leading values, and the standard's count.
_EXTRA_KEYS = {
    "PixelSpacing": ("pixel_spacing_source", 2, " (0028,0030)"),
    "ImagePositionPatient": ("position_source", 3, " (0020,0032)"),
    "ImageOrientationPatient": ("orientation_source", 6, " (0020,0037)"),
}


def _extra_value_notes(records: Sequence[FrameRecord], notes: dict[str, str]) -> None:
    """Add to ``notes`` those on attributes holding more values than the standard's count, read
    by their leading ones (:data:`~lazyvol.dicom.records.EXTRA_VALUES`)."""
    named = sorted({k for r in records for k in (r.acq or {}).get(EXTRA_VALUES, ())})
    for keyword in named:
        held = [r for r in records if keyword in (r.acq or {}).get(EXTRA_VALUES, ())]
        key, n, tag = _EXTRA_KEYS.get(keyword, ("extra_values", 0, ""))
        note = (
            f"{keyword}{tag} of {image_list(held)} holds more values than the standard's "
            f"{n or 'count'} (extra ones empty or numbers: a writer's slip): the first "
            f"{n or 'ones'} taken, as dcm2niix and SimpleITK take them; check the geometry, or "
            "rewrite the attribute with its values alone (dcmodify -m)"
        )
        notes[key] = f"{notes[key]}; {note}" if key in notes else note


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
        f"{INCOMPLETE_NOTE}: {len(skipped)} file(s) with this SeriesInstanceUID were skipped: "
        + shown
    )


def atol_too_large(
    atol: float, spacing: float, rounding: float, base: Sequence[FrameRecord]
) -> str:
    """Why ``spacing_atol`` is refused for the stack ``base`` of slice ``spacing`` mm: as large as
    half of it or larger (:func:`~lazyvol.slice_grid.coarser_than_half_step`), and larger than
    ``rounding``, the most the positions' written rounding moves a step (a tolerance up to it is
    taken: the positions tell no more)."""
    limit = f"below {spacing / 2:.6g} mm"
    if rounding >= spacing / 2:
        limit = f"of at most {rounding:.3g} mm (the positions' written rounding)"
    return (
        f"spacing_atol={atol:g} mm is at least half the slice spacing ({spacing:.6g} mm, "
        f"{len(base)} slices from {base[0].where} to {base[-1].where}): a tolerance that large "
        "cannot tell a slice from its neighbour's place, so a gap or a misplaced slice would pass "
        f"as a regular grid of an averaged spacing. Pass a spacing_atol {limit} (default 0.001; "
        "positions written coarsely are allowed for without it)"
    )


def instance_gaps(
    base: Sequence[FrameRecord],
    records: Sequence[FrameRecord],
    held: Collection[int | None] | None = None,
    filled: Sequence[int] = (),
) -> list[str]:
    """A warning when InstanceNumber skips numbers: over the whole series (``records``) when its
    numbers are unique (a 4D series numbered across volumes, or slice by slice, has no gaps
    although each volume's numbers do), else within the first volume (``base``). Files holding several images (a mosaic, an enhanced file: one
    InstanceNumber each) are numbered as files: one of a series stored one volume a file missing
    is a missing time point, the numbers it lacks named.

    ``held``: the InstanceNumbers of every image of the volume's SeriesInstanceUID, the other
    volumes split from it included (the other echo, magnitude and phase, another image type or
    stack); a number is missing only when none of them holds it (a series numbers its images
    across those volumes, so each volume's own numbers skip the others'). None: the numbers of
    ``records``. ``filled``: the slices (k) missing from the positions and filled (``allow_gaps``),
    which the warning names; none: the positions are regular."""
    numbers: dict[str, set[int | None]] = {}
    for r in records:
        numbers.setdefault(r.path, set()).add(r.instance_number)
    if held is None:
        held = [r.instance_number for r in records]
    if len(numbers) < len(records) and all(len(ns) == 1 for ns in numbers.values()):
        per_file = [next(iter(ns)) for ns in numbers.values()]
        return _file_gaps(per_file, held, len(records), len(base))
    every = [r.instance_number for r in records]
    if len(base) < 2 or any(n is None for n in every):
        return []
    unique = len(set(every)) == len(every)
    ns = sorted(
        int(n) for n in (every if unique else [r.instance_number for r in base]) if n is not None
    )
    if len(set(ns)) != len(ns) or not missing_numbers(ns, held):
        return []
    what = "images" if unique and len(ns) > len(base) else "slices"
    found = f"{INSTANCE_GAPS_NOTE} ({ns[0]}..{ns[-1]} for {len(ns)} {what})"
    if filled:
        return [f"{found}, and the positions miss {len(filled)} slice(s), filled at k = {filled}"]
    missing = missing_numbers(ns, held)
    count = _missing_count(missing)
    if what == "images" and count % len(base) == 0:  # as many as whole volumes
        return [
            f"{found} but the positions are regular: {_runs(missing)} missing, as many images as "
            f"{count // len(base)} whole volume(s) of {len(base)}, so a volume (time point) "
            "of the series may be missing, and the volumes after it are no longer one repetition "
            "apart in acquisition time"
        ]
    return [f"{found} but the positions are regular"]


def _runs(runs: Sequence[tuple[int, int]]) -> str:
    """Runs of :func:`missing_numbers` as text ("6..10, 21..25", "7, 9")."""
    return ", ".join(
        f"{a}..{b}" if b > a + 1 else f"{a}, {b}" if b > a else f"{a}" for a, b in runs
    )


def missing_numbers(numbers: Sequence[int], held: Collection[int | None]) -> list[tuple[int, int]]:
    """The runs ``(first, last)`` of the numbers between the least and the greatest of
    ``numbers`` that no image holds (``held``: the numbers of every image of the series), in
    order. Runs, not the numbers: InstanceNumbers 1 and 999999999999 (an IS value of 12 digits)
    miss a trillion numbers, which a list of them held in memory (the scan was killed)."""
    lo, hi = min(numbers), max(numbers)
    known = sorted({n for n in (*numbers, *held) if n is not None and lo <= n <= hi})
    return [(a + 1, b - 1) for a, b in pairwise(known) if b > a + 1]


def _missing_count(runs: Sequence[tuple[int, int]]) -> int:
    return sum(b - a + 1 for a, b in runs)


def _file_gaps(
    numbers: Sequence[int | None], held: Collection[int | None], images: int, per_volume: int
) -> list[str]:
    """The InstanceNumber gap warning of a series of multi-image files (``numbers``: one a file;
    ``held``: as :func:`instance_gaps`; ``images`` in all, ``per_volume`` a volume)."""
    if len(numbers) < 2 or None in numbers:
        return []
    if len(set(numbers)) != len(numbers):
        return _numbered_over(Counter(int(n) for n in numbers if n is not None))
    ns = sorted(int(n) for n in numbers if n is not None)
    missing = missing_numbers(ns, held)
    if not missing:
        return []
    first = [n for a, b in missing[:5] for n in range(a, min(b, a + 4) + 1)][:5]
    shown = ", ".join(map(str, first)) + (" ..." if _missing_count(missing) > 5 else "")
    if images == per_volume * len(ns):  # one volume a file
        return [
            f"{INSTANCE_GAPS_NOTE} ({ns[0]}..{ns[-1]} for {len(ns)} files, each a whole volume): "
            f"{shown} missing, so a volume (time point) of the series may be missing, and the "
            "volumes after it are no longer one repetition apart in acquisition time"
        ]
    return [f"{INSTANCE_GAPS_NOTE} ({ns[0]}..{ns[-1]} for {len(ns)} files): {shown} missing"]


def _numbered_over(counts: Counter[int]) -> list[str]:
    """The warning on a volume of multi-image files (a mosaic: one file a time point) numbered
    the same several times over: each InstanceNumber in k > 1 files, as k runs of one protocol
    under one SeriesInstanceUID (a PACS or anonymiser that reused the UID), each numbering its
    files 1.., are stacked one after another along the 4th axis. Nothing when every file states
    one number (an anonymiser's) or the numbers repeat unevenly."""
    times = set(counts.values())
    if len(counts) < 2 or len(times) != 1 or (k := times.pop()) < 2:
        return []
    return [
        f"{MAYBE_MERGED_NOTE}: InstanceNumber (0020,0013) numbers the files {k} times over "
        f"({min(counts)}..{max(counts)}, each number in {k} files), as {k} runs of one protocol "
        "under one SeriesInstanceUID (reused by a PACS or an anonymiser) are numbered: they are "
        "stacked one after another along the 4th axis; check the volume's files, or open each "
        "run's files on their own (vol[..., a:b] keeps one run)"
    ]


def _unordered_time(groups: Sequence[Sequence[FrameRecord]]) -> str:
    """Which attribute saying when an image was acquired (a time label, AcquisitionTime) varies
    among the images at one slice position, and why it does not order the volumes
    (:func:`~.ordering.time_reasons`); "" when none does, or when it orders them."""
    for name, key, why in time_reasons(groups):
        group = next((g for g in groups if len({key(r) for r in g} - {None}) > 1), None)
        if group is not None and why:
            n = len({key(r) for r in group} - {None})
            return (
                f"{name} varies among the images at a slice position ({n} values among its "
                f"{len(group)} images), but does not order the volumes ({why})"
            )
    return ""


#: Pairs of images repeating each other's headers whose pixels are compared before a refusal
#: calls them copies (all of them for a series exported twice would read every file again).
COPIES_COMPARED = 4


def copies_note(
    groups: Sequence[Sequence[FrameRecord]], fetch: Fetch = read_local, philips_fp: bool = False
) -> str:
    """Why images repeat at a slice position when some are copies of others: same position,
    InstanceNumber, acquisition, times, echo and b-value, another SOPInstanceUID, and the same
    pixels (the first :data:`COPIES_COMPARED` pairs compared: the series was exported or copied
    into the folder twice); when pixels differ, that they are other images under one
    SeriesInstanceUID, never to keep one; ``""`` when no headers repeat, or when the series'
    numbers cannot tell (missing, or one for every image). ``philips_fp``: as
    :func:`~.support.drop_duplicates`."""
    numbers = [r.instance_number for g in groups for r in g]
    if any(n is None for n in numbers) or len(set(numbers)) < 2:
        # an export numbers its images: without numbers, or with one number for all, equal
        # headers are images the series does not tell apart, not evidence of a second copy
        return ""
    pairs: list[tuple[FrameRecord, FrameRecord]] = []
    for group in groups:
        seen: dict[tuple[object, ...], FrameRecord] = {}
        for r in group:
            key = (
                r.instance_number,
                r.acquisition_time,
                r.acquisition_datetime,
                *label_key(r),  # (every label an order of the volumes goes by)
                r.frame,
            )
            if key in seen and seen[key].sop_instance_uid != r.sop_instance_uid:
                pairs.append((seen[key], r))
            seen.setdefault(key, r)
    if not pairs:
        return ""
    decoded: dict[str, object] = {}
    repeat = (
        f"{len(pairs)} image(s) repeat the position, InstanceNumber, times, echo and b-value of "
        "others under another SOPInstanceUID"
    )
    for a, b in pairs[:COPIES_COMPARED]:
        same, how = same_image(a, b, fetch, decoded, philips_fp)
        if not same and (UNDECIDED_HERE in how or NOT_COMPARED in how):
            told = UNDECIDED_HERE if UNDECIDED_HERE in how else "is not known"
            return f"{repeat}; whether they are copies {told} (e.g. {a.where} and {b.where}, {how})"
        if not same:
            head = f"{repeat}, but are not copies (e.g. {a.where} and {b.where}, {how})"
            varies = _unordered_time(groups)
            if varies:  # (frames of one acquisition, not another export's images)
                return f"{head}: {varies}; check the series for missing or mislabelled images"
            return (
                f"{head}: they are different images under one SeriesInstanceUID (an export or "
                "anonymiser that reused it?); keep both, and move one set into a folder of its own"
            )
    checked = min(len(pairs), COPIES_COMPARED)
    return (
        f"{len(pairs)} image(s) are copies of others under another SOPInstanceUID (same position, "
        f"InstanceNumber, times, echo and b-value, and the same pixels in the {checked} pair(s) "
        f"compared; e.g. {pairs[0][0].where} and {pairs[0][1].where}): the series was exported "
        "or copied into the folder twice; keep one copy"
    )


def stack_remedy(base: list[FrameRecord]) -> str:
    """What to do about slice positions that make no regular stack: remove or separate files; for
    the tiles of files that each hold a whole volume (mosaic, GRID), whose own positions are
    irregular, no file can be removed."""
    if all(r.mosaic is not None for r in base) and len({r.path for r in base}) == 1:
        return (
            f"the positions are those {base[0].path} states for its own tiles, so removing files "
            "does not help: check the file's slice positions (a UIH GRID's MR VFrame Sequence "
            "(0065,1051), a mosaic's CSA header), or, if they are only written coarsely, pass a "
            "larger spacing_atol / spacing_rtol"
        )
    return (
        "remove the odd files, open the parts separately, or, if the positions are only written "
        "coarsely, pass a larger spacing_atol / spacing_rtol"
    )


def malformed_hint(recs: Sequence[FrameRecord], hint: str) -> str:
    """``hint`` with the malformed attributes of ``recs`` appended (a value that is not what its
    VR says, read as missing): why a tag that would order the volumes is "missing"."""
    bad = sorted({b for r in recs for b in r.bad_attributes or [] if " is not " in b})
    if not bad:
        return hint
    head = hint.rstrip(".") + ". " if hint else ""
    return head + "Malformed, so read as missing: " + "; ".join(bad[:4]) + "."


def instance_hint(
    recs: Sequence[FrameRecord], groups: Sequence[Sequence[FrameRecord]], passed: bool
) -> str:
    """Whether ``instance_order=True`` can order repeated positions: it needs an InstanceNumber
    in every image, none repeating at a position, and not to have been passed already
    (``passed``)."""
    no_inst = [r for r in recs if r.instance_number is None]
    if no_inst:
        return (
            f"InstanceNumber (0020,0013) is missing in {image_count(no_inst)} "
            f"({image_list(no_inst)}), so instance_order=True cannot order them either"
        )
    if any(len({(r.instance_number, r.frame) for r in g}) < len(g) for g in groups):
        return (
            "InstanceNumber (0020,0013) repeats at a slice position, so instance_order=True "
            "cannot order them either"
        )
    if passed:
        return ""
    why = instance_rank_problem(groups)
    if why:  # (advice that cannot work is not given)
        return f"instance_order=True cannot order them either (InstanceNumber rank: {why})"
    return "Pass instance_order=True to stack the images at each position by InstanceNumber"


def thickness_note(frames: Sequence[FrameRecord]) -> str:
    """The warning on a volume whose images state different SliceThickness values, each with how
    many images state it ("" when they state one): two reconstructions under one SeriesInstanceUID
    (3 mm slices every 3 mm, 1.5 mm slices between them) stack as one volume, as dcm2niix stacks
    them, and only the thickness tells them apart."""
    stated = [r for r in frames if r.slice_thickness is not None]
    groups = close_groups(stated, lambda r: r.slice_thickness or 0.0)  # (float noise: one value)
    if len(groups) < 2:
        return ""
    shown = ", ".join(f"{v:g} mm in {image_count(rs)}" for v, rs in groups)
    return (
        f"{MIXED_THICKNESS_NOTE}: {shown}. Reconstructions sharing one SeriesInstanceUID are "
        "stacked as one volume, as dcm2niix stacks them, and the sidecar leaves SliceThickness "
        "out; to open them apart, move the files of each thickness to a folder of their own"
    )


def rounding_doubt(q: float, floor: float, proj: Sequence[float]) -> str:
    """The advice on a stack whose steps across a "gap" may be its positions' rounding ``q``
    alone (as coarse as half a step, or more; ``proj`` the sorted positions along the normal, each
    within ``floor`` mm of the grid through the first and last): slices missing, or none, cannot
    be told. "" when they are not on that grid."""
    fitted = (proj[-1] - proj[0]) / (len(proj) - 1)
    if any(abs(p - (proj[0] + fitted * k)) > floor for k, p in enumerate(proj)):
        return ""
    return (
        f"ImagePositionPatient (0020,0032) is written to {q:g} mm, too coarse to tell that "
        f"rounding from a missing slice: if none is missing (the grid through the first and last "
        f"slices: {abs(fitted):.4g} mm), pass spacing_atol={q:g} to compare the slices within it; "
        "if slices are missing, pass allow_gaps=True to fill them lazily (with fill=, default 0, "
        "NaN for float output)"
    )
