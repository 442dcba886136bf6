"""How many slices (and time points) a series says it holds, and the note on a volume with fewer.

A slice file lost at either end of a stack (deleted, a zero-byte copy, a file cut before its
SeriesInstanceUID) leaves no gap in the positions: the volume opens one slice short, and nothing
in its own files says so, except the count its headers state. dcm2niix reads that count
(``locationsInAcquisition``, nii_dicom.cpp) and says "DICOM images may be missing, expected N
spatial locations per volume, but found M slices" when the images do not fill it; the count is:

- NumberOfSlices (0054,0081), any vendor (PET and NM state it);
- Philips: Number of Slices MR (2001,1018) where (0054,0081) states none;
- GE: ImagesInAcquisition (0020,1002) in its place, and LocationsInAcquisition (0021,104F) where
  the two differ (GE states the slices of one volume in one of them and, for EPI, the images of
  the series in the other; a ZIP-interpolated stack states the acquired slices, half the images).

So lazyvol keeps every count stated and notes a volume none of them fits: its slices (k) are not
the count nor a multiple of it (an interpolated stack), and the images of its series (every volume
split from the SeriesInstanceUID: echoes, magnitude and phase) are no multiple of it either (a
count over the series, or over the echoes of one acquisition).

NumberOfTemporalPositions (0020,0105) (which dcm2niix does not read) tells the same of time
points: a 4-D volume holding every image of its series (no echo, image type or map split from
it), with fewer time points than stated, has lost a volume (its last one leaves no InstanceNumber
gap). The count is the acquisition's ("total number of temporal positions prescribed"): a 3-D
volume is one time point, which a series may hold alone (one series per measurement, a
subtraction of one dynamic), so it is not counted. A volume of one echo of a multi-echo time
series is counted with its echo's images, where its time points (TemporalPositionIdentifier,
AcquisitionNumber) are the other echoes' too: volumes at another echo time and time points of
their own (M0 or b = 0 volumes) need not be in the stated count.

An enhanced image split across several files (a concatenation: ConcatenationUID (0020,9161), each
file's InConcatenationNumber (0020,9162) and ConcatenationFrameOffsetNumber (0020,9228)) says
what its files hold: InConcatenationTotalNumber (0020,9163) counts them, and each file's frames
follow the previous file's. A part lost (a volume's worth of frames or more) leaves complete
volumes of the others, stacked without a gap (dcm2niix, which converts each file apart, says
nothing either); a volume holding frames of a concatenation whose stated parts are not all found,
or whose frame offsets leave frames in no file, is noted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .ge_phase import _numbers
from .model import INCOMPLETE_NOTE, SeriesInfo
from .mosaic import raw_text
from .records import FrameRecord, echo_number_of, number

__all__ = ["STATED_TAGS", "SeriesCounts", "series_counts", "stated_count_note", "stated_counts"]

NUMBER_OF_SLICES = 0x00540081
IMAGES_IN_ACQUISITION = 0x00201002
GE_LOCATIONS = 0x0021104F
PHILIPS_SLICES = 0x20011018
TEMPORAL_POSITIONS = 0x00200105
CONCATENATION_UID = 0x00209161
IN_CONCATENATION = 0x00209162
CONCATENATION_TOTAL = 0x00209163
CONCATENATION_OFFSET = 0x00209228
_CONCATENATION_TAGS = (
    CONCATENATION_UID,
    IN_CONCATENATION,
    CONCATENATION_TOTAL,
    CONCATENATION_OFFSET,
)
STATED_TAGS = frozenset(
    {
        NUMBER_OF_SLICES,
        IMAGES_IN_ACQUISITION,
        GE_LOCATIONS,
        PHILIPS_SLICES,
        TEMPORAL_POSITIONS,
        *_CONCATENATION_TAGS,
    }
)
#: ``acq`` keys: the stated slice counts ``[(count, attribute), ...]``, and the stated time points.
SLICES_KEY = "_stated_slices"
TIMES_KEY = "_stated_time_points"
#: ``acq`` key of a concatenation's part: [ConcatenationUID, InConcatenationNumber (0 when not
#: stated), InConcatenationTotalNumber (0), ConcatenationFrameOffsetNumber (-1)].
CONCATENATION_KEY = "_concatenation"
#: 4th axes that are not time (:attr:`SeriesInfo.axis4`): their volumes are one time point.
_NOT_TIME = frozenset({"EchoNumbers", "EchoTime", "DiffusionBValue"})


def _text_count(raw: dict[int, Any], tag: int) -> int:
    text = raw_text(raw, tag)
    try:
        n = int(number(text[0])) if text else 0  # ('1_0': none)
    except (TypeError, ValueError, OverflowError):
        return 0
    return n if n > 0 else 0


def _binary_count(raw: dict[int, Any], tag: int, fmt: str) -> int:
    values = _numbers(raw, tag, fmt)
    n = values[0] if values else 0.0
    return int(n) if n == n and 0 < n < 1 << 31 else 0


def stated_counts(raw: dict[int, Any], vendor: str) -> dict[str, Any]:
    """The ``acq`` values of one file's stated counts (see the module docstring); ``vendor``:
    :func:`lazyvol.dicom.vendor.vendor_of`'s."""
    slices: list[tuple[int, str]] = []
    if n := _binary_count(raw, NUMBER_OF_SLICES, "H"):
        slices.append((n, "NumberOfSlices (0054,0081)"))
    if vendor == "PHILIPS" and not slices and (n := _binary_count(raw, PHILIPS_SLICES, "l")):
        slices.append((n, "Philips Number of Slices MR (2001,1018)"))
    if vendor == "GE":
        if n := _text_count(raw, IMAGES_IN_ACQUISITION):
            slices = [(n, "ImagesInAcquisition (0020,1002)")]
        if n := _binary_count(raw, GE_LOCATIONS, "h"):
            slices.append((n, "GE LocationsInAcquisition (0021,104F)"))
    out: dict[str, Any] = {}
    if slices:
        out[SLICES_KEY] = slices
    if (t := _text_count(raw, TEMPORAL_POSITIONS)) > 1:
        out[TIMES_KEY] = t
    if uid := "".join(raw_text(raw, CONCATENATION_UID) or []).strip(" \x00"):
        offset = _numbers(raw, CONCATENATION_OFFSET, "I")
        out[CONCATENATION_KEY] = [
            uid,
            _binary_count(raw, IN_CONCATENATION, "H"),
            _binary_count(raw, CONCATENATION_TOTAL, "H"),
            int(offset[0]) if offset else -1,
        ]
    return out


def _where(files: Sequence[str]) -> str:
    """Where a volume's missing file would be: the folder (or folders, or prefix) of its files."""
    folders = sorted({f.replace("\\", "/").rsplit("/", 1)[0] for f in files if "/" in f})
    shown = ", ".join(folders[:3]) + (f" and {len(folders) - 3} more" if len(folders) > 3 else "")
    return f"the folder {shown}" if folders else "the folder"


def _echo(r: FrameRecord) -> tuple[str, float] | None:
    """The echo of an image as the per-echo count tells them apart: its EchoNumbers, else its
    EchoTime; None where it states neither (no echo to count)."""
    number = echo_number_of(r)
    if number is not None:
        return ("EchoNumbers", float(number))
    return None if r.echo_time is None else ("EchoTime", float(r.echo_time))


@dataclass
class SeriesCounts:
    """What the notes need of every image of one SeriesInstanceUID, gathered once
    (:func:`series_counts`) for all the volumes split from it: each volume then costs its own
    images, not a pass over the series (a series split into thousands of volumes)."""

    #: The series' images by file (in the series' order).
    by_path: dict[str, list[FrameRecord]] = field(default_factory=dict)
    #: How many distinct images (SOPInstanceUID, else file, and frame) the series holds.
    images: int = 0
    #: The distinct images at each echo (:func:`_echo`).
    per_echo: dict[tuple[str, float], int] = field(default_factory=dict)
    #: Each echo's TemporalPositionIdentifier and AcquisitionNumber values (None among them where
    #: an image states none): when it was acquired, beside the other echoes.
    echo_times: dict[tuple[str, float], tuple[set[int | None], set[int | None]]] = field(
        default_factory=dict
    )
    #: Each concatenation's parts: {ConcatenationUID: {file: (number, total, offset, frames)}}.
    parts: dict[str, dict[str, tuple[int, int, int, int]]] = field(default_factory=dict)


def series_counts(series: Sequence[FrameRecord]) -> SeriesCounts:
    """The :class:`SeriesCounts` of ``series`` (every image of one SeriesInstanceUID)."""
    out = SeriesCounts()
    echoes: dict[tuple[str, float], set[tuple[str, int]]] = defaultdict(set)
    images = set()
    for r in series:
        out.by_path.setdefault(r.path, []).append(r)
        image = (r.sop_instance_uid or r.path, r.frame)
        images.add(image)
        if (echo := _echo(r)) is not None:
            echoes[echo].add(image)
            positions, numbers = out.echo_times.setdefault(echo, (set(), set()))
            positions.add(r.temporal_position)
            numbers.add(r.acquisition_number)
        stated = (r.acq or {}).get(CONCATENATION_KEY)
        if stated:
            uid, number, total, offset = stated
            out.parts.setdefault(str(uid), {})[r.path] = (
                int(number),
                int(total),
                int(offset),
                r.number_of_frames,
            )
    out.images = len(images)
    out.per_echo = {echo: len(held) for echo, held in echoes.items()}
    return out


def stated_count_note(info: SeriesInfo, series: Sequence[FrameRecord] | SeriesCounts) -> str:
    """The series-incomplete note on ``info`` (a volume opened from ``series``, every image of its
    SeriesInstanceUID, or their :func:`series_counts`) when the counts its first image states say
    images are missing; "" when they fit, or state nothing."""
    counts = series if isinstance(series, SeriesCounts) else series_counts(series)
    if note := _concatenation_note(info, counts):
        return note
    if info.error or len(info.shape) < 3 or not counts.images:
        return ""
    k = int(info.shape[2])
    t = int(info.shape[3]) if len(info.shape) > 3 else 1
    n = counts.images
    files = set(info.files)
    mine = [r for f in sorted(files) for r in counts.by_path.get(f, ())]
    acqs = [r.acq or {} for r in mine]
    # (counts that differ between its images, as two acquisitions of a CT series state theirs:
    # no count of the volume)
    sets = {tuple(tuple(v) for v in a.get(SLICES_KEY, ())) for a in acqs}
    stated = [(int(c), str(name)) for c, name in next(iter(sets))] if len(sets) == 1 else []
    acq = acqs[0] if acqs else {}
    where = _where(info.files)
    if stated and k > 1 and not any(k == c or k % c == 0 or n % c == 0 for c, _ in stated):
        said = " and ".join(f"{name} states {c}" for c, name in stated)
        return (
            f"{INCOMPLETE_NOTE}: {said} slice locations ({info.files[0]}), but this volume has {k} slices "
            f"({n} images in its series, no multiple of it): a slice file of the series may be "
            "missing (an end slice leaves no gap in the positions; dcm2niix says so too). Check "
            f"{where} for a removed, empty or unreadable file"
        )
    times = int(acq.get(TIMES_KEY, 0))
    # (a 4-D volume in time holding every image of its series, no volume split from it beside
    # it. A 3-D one holds one time point, and one of echoes or b-values one time point too: a
    # series may store one each, as Siemens' 'multiple series: each measurement' or a
    # subtraction of one dynamic do, the count being the acquisition's)
    if not (times > 1 and 1 < t < times and info.axis4 not in _NOT_TIME):
        return ""  # (before any pass over the series: this runs once per volume of it)
    held, whose = n, "the series has"
    if n != k * t and n != k * times and (echo := _one_echo(counts, mine)) is not None:
        # (one echo of a multi-echo series, the echoes not splitting one acquisition's count
        # between them, as b = 0 volumes at another echo time do: the echo's own images)
        held, whose = echo
    if held == k * t:
        return (
            f"{INCOMPLETE_NOTE}: NumberOfTemporalPositions (0020,0105) states {times} time "
            f"points of {k} slices ({info.files[0]}), but {whose} {held} images ({held // k} "
            "volumes): a volume of it may be missing (the last one leaves no InstanceNumber "
            f"gap). Check {where} for removed, empty or unreadable files"
        )
    return ""


def _concatenation_note(info: SeriesInfo, counts: SeriesCounts) -> str:
    """The series-incomplete note on a volume holding frames of a concatenation that misses a part
    (see the module docstring), "" otherwise."""
    files = set(info.files)
    # (every file of the series: a lost part's frames are in no volume)
    for uid, found in counts.parts.items():
        if not files & set(found):
            continue
        numbered = all(p[0] > 0 for p in found.values())
        numbers = {p[0] for p in found.values()} if numbered else set()
        total = max(p[1] for p in found.values())
        problem = ""
        if total > (len(numbers) if numbered else len(found)):
            missing = sorted(set(range(1, total + 1)) - numbers) if numbered else []
            problem = (
                f"InConcatenationTotalNumber (0020,9163) states {total} parts, "
                f"{len(numbers) if numbered else len(found)} found"
                + (
                    f" (InConcatenationNumber (0020,9162) {', '.join(map(str, missing))} missing)"
                    if missing
                    else ""
                )
            )
        elif all(p[2] >= 0 for p in found.values()):
            end = 0
            for _, _, offset, frames in sorted(found.values(), key=lambda p: p[2]):
                if offset != end:
                    problem = (
                        f"ConcatenationFrameOffsetNumber (0020,9228) leaves its frames "
                        f"{end}-{offset - 1} (from 0) in none of its files"
                    )
                    break
                end = offset + frames
        if problem:
            return (
                f"{INCOMPLETE_NOTE}: {sorted(files & set(found))[0]} is part of an image split "
                f"across files (ConcatenationUID (0020,9161) {uid}): {problem}: frames of "
                "the series are missing (a lost part leaves no gap in the volumes). Check "
                f"{_where(info.files)} for a removed, empty or unreadable part file"
            )
    return ""


def _one_echo(counts: SeriesCounts, mine: Sequence[FrameRecord]) -> tuple[int, str] | None:
    """The number of images of the series at the one echo of the volume of images ``mine`` (its
    EchoNumbers, else EchoTime), and how the note names them; None where the volume holds several
    echoes or the series one, and where the volume's images state neither (no echo to count:
    images of another kind beside the echoes, a derived volume)."""
    echoes = {_echo(r) for r in mine}
    one = next(iter(echoes)) if len(echoes) == 1 else None
    if one is None or len(counts.per_echo) < 2 or not _beside_others(counts, one):
        return None
    name, value = one
    return counts.per_echo[one], f"its echo ({name} {value:g}) has"


def _beside_others(counts: SeriesCounts, echo: tuple[str, float]) -> bool:
    """Whether the images of ``echo`` were acquired at the time points of the series' other
    echoes (the echoes of one multi-echo time series, each holding every time point), not at
    time points of their own (M0 or b = 0 volumes at another echo time, which the stated count
    need not include): a TemporalPositionIdentifier or AcquisitionNumber that every image states,
    not one value for the whole series (GE's AcquisitionNumber 1 tells no time point apart),
    shares values with theirs, and neither sets them apart. Without such a stamp the echo is not
    counted (a false note on M0 volumes weighs more than a lost volume of one echo unnoted)."""
    mine = counts.echo_times[echo]
    others = [t for e, t in counts.echo_times.items() if e != echo]
    shared = False
    for n in range(2):
        theirs = set().union(*(t[n] for t in others))
        if None in mine[n] or None in theirs or len(mine[n] | theirs) < 2:
            continue  # (a stamp not stated, or one value for every image: says nothing)
        if not mine[n] & theirs:
            return False
        shared = True
    return shared
