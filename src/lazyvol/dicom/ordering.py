"""Order the volumes of a series whose slice positions repeat (4D from one image per slice).

Pure functions over frame records. The records at each slice position are given (``groups``, one
list per position, each of the same length ``m``); the result assigns every record to one of ``m``
volumes, in acquisition order, or says why no rule gives a consistent order.

Rules, tried in this order (the first consistent one wins, as in dcm2niix):

1. *Labels* -- an attribute whose values are distinct at each position and form the same set at
   every position identifies the volumes: DimensionIndexValues (0020,9157) of the non-spatial
   dimensions (enhanced files; in dcm2niix's order of significance), FrameReferenceTime
   (0054,1300) (PET frames), TemporalPositionIdentifier (0020,0100), AcquisitionNumber
   (0020,0012), TriggerTime (0018,1060), EchoNumbers (0018,0086), EchoTime (0018,0081), then the
   diffusion b-value + gradient direction (standard (0018,9087)/(0018,9089), else the vendor's
   private attributes). Volumes are sorted by the label, except diffusion volumes, which keep
   acquisition order (earliest AcquisitionTime, then lowest InstanceNumber). FrameReferenceTime
   and TriggerTime may be each image's own (a few ms later each slice, later each bed of a
   whole-body scan): their values need not be the same set at every position when they rank the
   images of every position the same way: the volumes do not overlap in them, or the ranks
   agree at every position with the volumes a consistent InstanceNumber numbering gives.
2. *AcquisitionTime (0008,0032) rank* -- the n-th acquired image at each position belongs to
   volume n, provided the times are distinct at each position and the volumes do not overlap in
   time (every image of volume n acquired before any of volume n+1).
3. *InstanceNumber (0020,0013) rank* -- the n-th image at each position by InstanceNumber, provided
   the numbers are distinct at each position and number the images either volume by volume or
   position by position (``instance_order=True`` accepts any numbering).
4. *Combined labels* -- when no one label is distinct at each position (Philips classic
   multi-phase ASL: repeats x label/control x phases, InstanceNumbers assigned at random), the
   labels stated in every image whose values form the same set at every position
   (TemporalPositionIdentifier, AcquisitionNumber, FrameReferenceTime, Philips ASL label/control
   (2005,1429), TriggerTime, EchoNumbers, EchoTime; not the diffusion label, whose values give no
   acquisition order, and not two counters that number the images differently), taken together,
   provided the combination is distinct at each position. Volumes are sorted by it, the most
   significant first, in dcm2niix's order for such a series: repeat, then control before label,
   then phase. Refused when the AcquisitionTimes say a volume of a later repeat was acquired
   wholly before one of an earlier repeat (two runs under one series, interleaved by it).

Acquisition times are compared by date and time when every image states its date (AcquisitionDate
(0008,0022), AcquisitionDateTime (0008,002A), an enhanced frame's FrameAcquisitionDateTime; see
:func:`~lazyvol.dicom.dicom_time.acquired`), so a series acquired across midnight keeps its order.
When no date is stated and the times of day span more than 12 hours, the times do not order the
volumes (the AcquisitionTime rank is not tried, and diffusion volumes keep their InstanceNumber
order) and a warning says so when a rule orders them all the same: the day of each image would be
a guess.

When a time rule (FrameReferenceTime, TemporalPositionIdentifier, TriggerTime, AcquisitionNumber,
AcquisitionTime) orders the volumes and a consistent InstanceNumber numbering orders or groups them
otherwise, the order is kept and a warning says so, and what dcm2niix does (v1.0.20260724, as
measured: it keeps the InstanceNumber order; PET frames it orders by ImageIndex (0054,1330) when
stated, else by FrameReferenceTime when the InstanceNumbers run position by position). When the
InstanceNumber rank orders them and a time ranks them otherwise the same way at every position
(without ordering them itself: its volumes overlap), a warning says so too: contradicting headers
should not change a volume's order silently.

Whatever the rule, an assignment is rejected when an attribute that labels whole volumes (echo
number, temporal position, diffusion b-value and direction, dimension index values, Philips ASL
label or control) is present in every image but varies inside a volume.

Philips ASL: label and control images of a pair share their TemporalPositionIdentifier, and
(2005,1429) says which is which. The volumes keep their acquisition (InstanceNumber) order, not
sorted control first: dcm2niix sorts pairs control first for one numbering and keeps the
InstanceNumber order for another, and a private attribute should not reorder the acquisition.
Each volume's kind is reported instead (``values["ASLContext"]``: ``"label"`` / ``"control"``,
as BIDS aslcontext.tsv), so it follows the volume when it is cut along the 4th axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .model import ORDER_DOUBT_NOTE
from .records import FrameRecord, echo_number_of
from .volume_rank import (
    Clock,
    RankKey,
    instance_rule,
    numbering,
    ranks,
    shown,
    time_rank,
    time_rule,
    wrap_warning,
)

__all__ = [
    "Axis4Order",
    "RULE_NAMES",
    "instance_rank_problem",
    "label_key",
    "order_volumes",
    "stated",
    "time_reasons",
]


@dataclass
class Axis4Order:
    """Volumes of a 4D series: ``volumes[t][k]`` is the record of volume t at position k."""

    volumes: list[list[FrameRecord]]
    #: The rule used, e.g. "TemporalPositionIdentifier (0020,0100)" or "InstanceNumber (0020,0013) rank".
    rule: str
    #: Name of the 4th axis (a DICOM keyword).
    keyword: str
    #: Per-volume values of the attributes that vary between volumes (keyword -> list).
    values: dict[str, list[Any]] = field(default_factory=dict)
    #: A warning when InstanceNumber orders or groups the volumes otherwise (see
    #: :func:`instance_disagreement`), else "".
    note: str = ""


def _diffusion_key(r: FrameRecord) -> Any:
    if r.b_value is None:
        return None
    g = tuple(round(float(x), 4) for x in r.gradient) if r.gradient else None
    return (round(float(r.b_value), 3), g)


def _frame_reference(r: FrameRecord) -> float | None:
    """FrameReferenceTime (0054,1300) in ms, as the header scan keeps it (PET images, see
    :func:`lazyvol.dicom.bids_pet.pet_record_values`); None when not stated or not a number."""
    try:
        value = float((r.acq or {})["_frame_reference"])
    except (KeyError, TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _dimension_key(r: FrameRecord) -> Any:
    """DimensionIndexValues of the non-spatial dimensions, the most significant first (as
    :func:`lazyvol.dicom.multiframe` records them, in dcm2niix's order)."""
    return tuple(r.dimension_values) if r.dimension_values else None


#: Label rules: (name shown, axis keyword, key of a record, sort volumes by key).
_LABELS: tuple[tuple[str, str, Callable[[FrameRecord], Any], bool], ...] = (
    ("DimensionIndexValues (0020,9157)", "DimensionIndexValues", _dimension_key, True),
    ("FrameReferenceTime (0054,1300)", "FrameReferenceTime", _frame_reference, True),
    (
        "TemporalPositionIdentifier (0020,0100)",
        "TemporalPositionIdentifier",
        lambda r: r.temporal_position,
        True,
    ),
    ("AcquisitionNumber (0020,0012)", "AcquisitionNumber", lambda r: r.acquisition_number, True),
    ("TriggerTime (0018,1060)", "TriggerTime", lambda r: r.trigger_time, True),
    ("EchoNumbers (0018,0086)", "EchoNumbers", lambda r: r.echo_number, True),
    ("EchoTime (0018,0081)", "EchoTime", lambda r: r.echo_time, True),
    ("diffusion b-value and gradient", "DiffusionBValue", _diffusion_key, False),
)
RANK_TIME = "AcquisitionTime (0008,0032) rank"
RANK_INSTANCE = "InstanceNumber (0020,0013) rank"
COMBINED = "combined labels"
RULE_NAMES: tuple[str, ...] = (
    *(name for name, *_ in _LABELS),
    RANK_TIME,
    RANK_INSTANCE,
    COMBINED,
)


#: The label rules by axis keyword: (name shown, keyword, key of a record).
_LABEL = {label[1]: label[:3] for label in _LABELS}


def _asl_key(r: FrameRecord) -> Any:
    """Philips ASL label or control image ((2005,1429), see :func:`header_record.asl_label`)."""
    return (r.acq or {}).get("_asl_label")


#: Attributes the combined-labels rule combines, the most significant first (dcm2niix's order for
#: Philips classic ASL: repeat, then label/control (control first), then phase): (name shown,
#: axis keyword, key of a record).
_COMBINABLE: tuple[tuple[str, str, Callable[[FrameRecord], Any]], ...] = (
    *(_LABEL[k] for k in ("TemporalPositionIdentifier", "AcquisitionNumber", "FrameReferenceTime")),
    ("Philips ASL label/control (2005,1429)", "ASLContext", _asl_key),
    *(_LABEL[k] for k in ("TriggerTime", "EchoNumbers", "EchoTime")),  # (no diffusion: no order)
)
#: Attributes that number repeats or runs: two of them in one combination leave unstated which
#: runs inside which (two runs under one series, each numbering its time points, say).
_COUNTERS = frozenset({"TemporalPositionIdentifier", "AcquisitionNumber"})


#: Attributes that, when present in every image, must be constant inside a volume.
_VOLUME_CONSTANT: tuple[tuple[str, Callable[[FrameRecord], Any]], ...] = (
    ("DimensionIndexValues (0020,9157)", _dimension_key),
    ("TemporalPositionIdentifier (0020,0100)", lambda r: r.temporal_position),
    ("EchoNumbers (0018,0086)", lambda r: r.echo_number),
)
#: Per-volume values a volume's metadata reports (its b-value and direction, its ASL kind): the
#: images of one volume that state one must agree, whatever other images (or other volumes)
#: state none (Canon writes no b-value on its b = 0 images; a private attribute may be missing
#: from an image or two).
_STATED_CONSTANT: tuple[tuple[str, Callable[[FrameRecord], Any]], ...] = (
    ("diffusion b-value/gradient", _diffusion_key),
    ("Philips ASL label/control (2005,1429)", _asl_key),
)

#: Per-volume values reported in meta when they vary: keyword -> value of a record.
_REPORTED: tuple[tuple[str, Callable[[FrameRecord], Any]], ...] = (
    ("FrameReferenceTime", _frame_reference),
    ("TemporalPositionIdentifier", lambda r: r.temporal_position),
    ("AcquisitionNumber", lambda r: r.acquisition_number),
    ("TriggerTime", lambda r: r.trigger_time),
    ("EchoNumbers", echo_number_of),  # (an enhanced file's frames: as dcm2niix numbers them)
    ("EchoTime", lambda r: r.echo_time),
    ("DiffusionBValue", lambda r: r.b_value),
    ("ASLContext", _asl_key),  # "label" / "control" per volume, as BIDS aslcontext.tsv
)


def _inconsistent(volumes: list[list[FrameRecord]]) -> str | None:
    """Why this assignment mixes volumes (a volume label varies inside a volume), or None."""
    allrecs = [r for v in volumes for r in v]
    for name, key in _VOLUME_CONSTANT:
        if any(key(r) is None for r in allrecs):
            continue
        for t, vol in enumerate(volumes):
            vals = {key(r) for r in vol}
            if len(vals) > 1:
                return f"{name} varies inside volume {t} ({len(vals)} values)"
    for name, key in _STATED_CONSTANT:
        for t, vol in enumerate(volumes):
            vals = {v for v in map(key, vol) if v is not None}
            if len(vals) > 1:
                return f"{name} varies inside volume {t} ({len(vals)} values)"
    return None


def stated(volume: Sequence[FrameRecord | None], key: Callable[[FrameRecord], Any]) -> Any:
    """The value ``key`` gives the first image of ``volume`` that states one (None: none does);
    :func:`_inconsistent` saw to it that the others agree."""
    return next((v for v in (key(r) for r in volume if r is not None) if v is not None), None)


#: Why a label rule refuses values that are not the same set at every position.
_DIFFER = "values differ between slice positions"


def _label_rule(
    groups: list[list[FrameRecord]],
    key: Callable[[FrameRecord], Any],
    sort_by_key: bool,
    rank: RankKey,
) -> list[list[FrameRecord]] | str:
    m = len(groups[0])
    keys = [[key(r) for r in g] for g in groups]
    if any(k is None for ks in keys for k in ks):
        n = sum(k is None for ks in keys for k in ks)
        return f"missing in {n} image(s)"
    first = set(keys[0])
    if len(first) != m:
        return f"{len(first)} distinct value(s) for {m} images at one position"
    for ks in keys[1:]:
        if len(set(ks)) != m or set(ks) != first:
            return _DIFFER
    if sort_by_key:
        try:
            labels = sorted(first)
        except TypeError:
            return "values cannot be ordered"
    else:
        # acquisition order of the volumes: earliest image of each label
        earliest: dict[Any, tuple[float, int, int, str]] = {}
        for g in groups:
            for r in g:
                k = key(r)
                rk = rank(r)
                if k not in earliest or rk < earliest[k]:
                    earliest[k] = rk
        labels = sorted(first, key=lambda k: earliest[k])
    index = {lab: t for t, lab in enumerate(labels)}
    volumes: list[list[FrameRecord]] = [[] for _ in labels]
    for g in groups:
        slot: list[FrameRecord | None] = [None] * m
        for r in g:
            slot[index[key(r)]] = r
        for t in range(m):
            rec = slot[t]
            assert rec is not None
            volumes[t].append(rec)
    return volumes


#: Time labels an image may state for itself (a few ms later each slice, later each bed of a
#: whole-body dynamic PET scan): keyword -> unit shown.
_OWN_TIMES = {"FrameReferenceTime": "ms", "TriggerTime": "ms"}


def _label_volumes(
    groups: list[list[FrameRecord]],
    keyword: str,
    key: Callable[[FrameRecord], Any],
    sort_by_key: bool,
    rank: RankKey,
) -> list[list[FrameRecord]] | str:
    """The volumes a label tells apart (:func:`_label_rule`); a time of :data:`_OWN_TIMES` whose
    values differ between positions orders them when it ranks the images of every position the
    same way: the volumes do not overlap in it (:func:`~.volume_rank.time_rank`), or its ranks
    agree at every position with the volumes a consistent InstanceNumber numbering gives."""
    got = _label_rule(groups, key, sort_by_key, rank)
    if got != _DIFFER or keyword not in _OWN_TIMES:
        return got
    ranked = time_rank(groups, key, rank, _OWN_TIMES[keyword])
    if not isinstance(ranked, str):
        return ranked
    numbered = instance_rule(groups, False)
    if isinstance(numbered, str):
        return f"{_DIFFER}, and {ranked}; InstanceNumber (0020,0013) {numbered}"
    perm = ranks(numbered, key)
    if perm is None:
        return (
            f"{_DIFFER}, {ranked}, and its ranks differ between slice positions for the "
            "volumes InstanceNumber (0020,0013) gives"
        )
    return [numbered[t] for t in sorted(range(len(perm)), key=perm.__getitem__)]


def _combined_rule(
    groups: list[list[FrameRecord]], clock: Clock
) -> tuple[list[list[FrameRecord]], str, str] | str:
    """The volumes told apart by the attributes of :data:`_COMBINABLE` taken together, with the
    rule's name and axis keyword: those stated in every image whose values form the same set at
    every position (an attribute that varies inside a volume, such as a per-slice time, does not),
    when no one of them alone is distinct at each position. Volumes sorted by the combination."""
    parts = []
    for name, keyword, key in _COMBINABLE:
        sets = [{key(r) for r in g} for g in groups]
        if None not in sets[0] and len(sets[0]) > 1 and all(x == sets[0] for x in sets[1:]):
            parts.append((name, keyword, key))
    if len(parts) < 2:
        return "fewer than two attributes label the volumes alike at every position"
    counters = [part for part in parts if part[1] in _COUNTERS]
    if len(counters) > 1:
        if not _same_numbering(groups, counters[0][2], counters[1][2]):
            names = " and ".join(name for name, *_ in counters)
            return (
                f"{names} both number the volumes (two runs under one series?): which runs "
                "inside which is not stated"
            )
        parts.remove(counters[1])  # (one numbers the volumes as the other: one label)
        if len(parts) < 2:
            return "fewer than two attributes label the volumes alike at every position"
    got = _label_rule(groups, lambda r: tuple(key(r) for *_, key in parts), True, clock.rank)
    rule = " + ".join(name for name, *_ in parts)
    if isinstance(got, str):
        return f"{rule}: {got}"
    if parts[0][1] in _TIME_LABELS:
        problem = _time_contradiction(got, parts[0][2], clock)
        if problem:
            return f"{rule}: {problem}"
    return got, rule, "+".join(keyword for _, keyword, _ in parts)


def _same_numbering(
    groups: list[list[FrameRecord]],
    a: Callable[[FrameRecord], Any],
    b: Callable[[FrameRecord], Any],
) -> bool:
    """Do labels ``a`` and ``b`` number the images alike: each value of one always with the same
    value of the other (AcquisitionNumber written equal to TemporalPositionIdentifier)?"""
    pairs = {(a(r), b(r)) for g in groups for r in g}
    return len(pairs) == len({x for x, _ in pairs}) == len({y for _, y in pairs})


def _time_contradiction(
    volumes: list[list[FrameRecord]], key: Callable[[FrameRecord], Any], clock: Clock
) -> str:
    """Why the volumes' AcquisitionTimes contradict the time label ``key`` that orders them (a
    volume of a later time point acquired wholly before one of an earlier; two runs under one
    series, interleaved), or "". Not checked unless every image states its time."""
    spans = [[clock.at(r) for r in v] for v in volumes]
    if any(t is None for s in spans for t in s):
        return ""
    latest_start: tuple[float, int] | None = None  # of the volumes of earlier time points
    start_here: tuple[float, int] | None = None
    for t, (vol, span) in enumerate(zip(volumes, spans, strict=True)):
        if t and key(vol[0]) != key(volumes[t - 1][0]) and start_here is not None:
            latest_start = max(latest_start or start_here, start_here)
            start_here = None
        end = max(x for x in span if x is not None)
        if latest_start is not None and end < latest_start[0]:
            return (
                f"volume {t} was acquired before volume {latest_start[1]}, of an earlier time "
                "point (AcquisitionTime (0008,0032)): they are not one run"
            )
        first = (min(x for x in span if x is not None), t)
        start_here = first if start_here is None else max(start_here, first)
    return ""


def _values(
    volumes: list[list[FrameRecord]], keyword: str, rule: str, rank: RankKey
) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    if rule == RANK_TIME:  # each volume's earliest image's
        out["AcquisitionTime"] = [min(v, key=rank).acquisition_time or "" for v in volumes]
    if rule == RANK_INSTANCE:
        out["InstanceNumber"] = [min(r.instance_number or 0 for r in v) for v in volumes]
    if keyword == "DimensionIndexValues":
        out["DimensionIndexValues"] = [
            list(volumes[t][0].dimension_values or []) for t in range(len(volumes))
        ]
    for kw, get in _REPORTED:
        vals = [stated(v, get) for v in volumes]
        if all(x is not None for x in vals) and (kw == keyword or len(set(vals)) > 1):
            out[kw] = vals
    return out


def _passes(name: str, got: Any, tried: list[str]) -> Any:
    """``got`` (a rule's volumes) if the rule applied and its volumes are consistent; otherwise
    None, with the reason appended to ``tried`` as ``"rule: why"``."""
    problem = _why(got)
    if problem:
        tried.append(f"{name}: {problem}")
        return None
    return got


def order_volumes(
    groups: Sequence[Sequence[FrameRecord]], *, instance_order: bool = False
) -> Axis4Order | str:
    """Assign the records at each slice position to volumes, in acquisition order.

    Parameters
    ----------
    groups : sequence of sequences of FrameRecord
        The records at each slice position (in slice order), all of the same length m > 1.
    instance_order : bool
        Accept an InstanceNumber ranking whatever the numbering pattern.

    Returns
    -------
    Axis4Order or str
        The volumes, or a message naming every rule tried and why each failed.
    """
    gs = [list(g) for g in groups]
    clock = Clock.of(gs)
    tried: list[str] = []
    for name, keyword, key, sort_by_key in _LABELS:
        got = _passes(name, _label_volumes(gs, keyword, key, sort_by_key, clock.rank), tried)
        if got is None:
            continue
        kw = keyword
        if keyword == "DimensionIndexValues":
            vals = _values(got, keyword, name, clock.rank)
            kw = next(
                (
                    k
                    for k in (
                        "TemporalPositionIdentifier",
                        "EchoNumbers",
                        "EchoTime",
                        "TriggerTime",
                        "DiffusionBValue",
                    )
                    if k in vals
                    and len(set(vals[k])) == len(got)
                    # (an enhanced file's echo count, records.echo_number_of, names no axis)
                    and (k != "EchoNumbers" or all(r.echo_number is not None for r in gs[0]))
                ),
                keyword,
            )
        timed = keyword in _TIME_LABELS  # (what InstanceNumber and the times say otherwise)
        clause = _time_clause(got, clock, [], name) if timed else ""
        note = instance_disagreement(gs, got, name, clause) if timed else ""
        note = note or (f"{ORDER_DOUBT_NOTE} {name}; {clause}{_CONTRADICT}" if clause else "")
        if not sort_by_key:  # (volumes in acquisition order)
            note = note or wrap_warning(clock)
        return Axis4Order(got, name, kw, _values(got, kw, name, clock.rank), note)
    for name, fn in ((RANK_TIME, time_rule), (RANK_INSTANCE, None)):
        got = _passes(
            name, instance_rule(gs, instance_order) if fn is None else fn(gs, clock), tried
        )
        if got is None:
            continue
        kw = "AcquisitionTime" if name == RANK_TIME else "InstanceNumber"
        if name == RANK_TIME:
            note = instance_disagreement(gs, got, name)
        else:
            clause = _time_clause(got, clock, tried)
            note = f"{ORDER_DOUBT_NOTE} {name}; {clause}{_CONTRADICT}" if clause else ""
        note = note or wrap_warning(clock)
        return Axis4Order(got, name, kw, _values(got, kw, name, clock.rank), note)
    combined = _combined_rule(gs, clock)
    if not isinstance(combined, str):
        got = _passes(COMBINED, combined[0], tried)
        if got is not None:
            rule, kw = combined[1], combined[2]
            return Axis4Order(got, rule, kw, _values(got, kw, rule, clock.rank))
    else:
        tried.append(f"{COMBINED}: {combined}")
    return "; ".join(tried)


def label_key(r: FrameRecord) -> tuple[Any, ...]:
    """The values of every attribute a label rule tells volumes apart by, and the ASL kind."""
    return (*(key(r) for _, _, key, _ in _LABELS), _asl_key(r))


def time_reasons(
    groups: Sequence[Sequence[FrameRecord]],
) -> list[tuple[str, Callable[[FrameRecord], Any], str]]:
    """Each attribute saying when an image was acquired (the time labels, AcquisitionTime): its
    name, its value in a record, and why it does not order the volumes ("" when it does)."""
    gs = [list(g) for g in groups]
    clock = Clock.of(gs)
    out = [
        (name, key, _why(_label_volumes(gs, keyword, key, True, clock.rank)))
        for name, keyword, key, _ in _LABELS
        if keyword in _TIME_LABELS
    ]
    return [*out, (RANK_TIME.removesuffix(" rank"), clock.at, _why(time_rule(gs, clock)))]


def _why(got: list[list[FrameRecord]] | str) -> str:
    """Why a rule's result orders no volumes (the rule's reason, or the volumes mix), or ""."""
    return got if isinstance(got, str) else _inconsistent(got) or ""


def instance_rank_problem(groups: Sequence[Sequence[FrameRecord]]) -> str:
    """Why ``instance_order=True`` cannot order ``groups`` either (the InstanceNumber rank, with
    any numbering, is missing, repeats or mixes volumes), or "" when it can."""
    return _why(instance_rule([list(g) for g in groups], True))


#: Label rules that order volumes in time (checked against InstanceNumber).
_TIME_LABELS = frozenset(
    {"FrameReferenceTime", "TemporalPositionIdentifier", "TriggerTime", "AcquisitionNumber"}
)


_CONTRADICT = ": the headers contradict each other, check the volume order"


def instance_disagreement(
    groups: list[list[FrameRecord]], volumes: list[list[FrameRecord]], rule: str, also: str = ""
) -> str:
    """A warning when the images' InstanceNumbers (numbering them volume by volume or position
    by position, consistently) order ``volumes`` otherwise, or group them into other volumes;
    "" when they agree or say nothing consistent. Not for frames of multi-frame files, which
    share their file's InstanceNumber. ``also``: a time's :func:`_time_clause`, named too."""
    also = f"; {also}" if also else ""
    if any(r.number_of_frames != 1 for g in groups for r in g):
        return ""
    alt = instance_rule(groups, False)
    if isinstance(alt, str) or _inconsistent(alt):
        return ""
    where = {id(r): t for t, v in enumerate(alt) for r in v}
    if any(len({where[id(r)] for r in v}) != 1 for v in volumes):
        return (
            f"{ORDER_DOUBT_NOTE} {rule}; InstanceNumber (0020,0013) groups the images "
            f"into other volumes{also}{_CONTRADICT}"
        )
    perm = [where[id(v[0])] for v in volumes]
    if perm == list(range(len(volumes))):
        return ""
    # dcm2niix (v1.0.20260724, as measured) keeps the InstanceNumber order; PET frames (gated by
    # TriggerTime too) it orders by ImageIndex (0054,1330) when stated (lazyvol does not read it),
    # else by FrameReferenceTime when the InstanceNumbers run position by position
    how, theirs = numbering(alt), "keeps the InstanceNumber order"
    frt = _LABEL["FrameReferenceTime"][0]
    if rule == frt and how == "position by position":
        theirs = "orders them by FrameReferenceTime too"
    if rule == frt or volumes[0][0].modality == "PT":
        theirs = f"orders PET frames by ImageIndex (0054,1330) when stated, else {theirs}"
    return (
        f"{ORDER_DOUBT_NOTE} {rule}; InstanceNumber (0020,0013) orders them otherwise (numbering "
        f"the images {how}; volume t here is its volume {shown(perm)}[t]), and dcm2niix "
        f"{theirs}{also}{_CONTRADICT}"
    )


def _time_clause(
    volumes: list[list[FrameRecord]], clock: Clock, tried: list[str], used: str = RANK_INSTANCE
) -> str:
    """What a warning says when ``volumes``, ordered by ``used`` (InstanceNumber, or a time label
    first), are ranked otherwise at every slice position by a time (a time label,
    AcquisitionTime) that did not order them itself (the reason in ``tried``) or came after
    ``used``; "" when none does."""
    times = [(name, key, key) for name, keyword, key, _ in _LABELS if keyword in _TIME_LABELS]
    stamp = (RANK_TIME.removesuffix(" rank"), clock.at, lambda r: r.acquisition_time)
    for name, key, show in [*times, stamp]:
        perm = ranks(volumes, key)
        if perm is None or perm == sorted(perm):
            continue
        why = next((x for x in tried if x.startswith(name)), "").partition(": ")[2]
        values = [show(v[0]) for v in volumes]
        return (
            f"{name} ranks them otherwise at every slice position (volume t here is its volume {shown(perm)}[t]; at the first "
            f"position {shown(values)} in this order)"
            + (", but does not order them itself" if used == RANK_INSTANCE else "")
            + (f" ({why})" if why else "")
        )
    return ""
