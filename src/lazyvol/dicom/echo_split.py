"""The echo split of :func:`lazyvol.dicom.grouping.split_series`: the images of one series at
several echoes (EchoNumbers (0018,0086), else EchoTime (0018,0081)) as one group per echo, where
dcm2niix writes one file per echo.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from .. import slice_grid
from .records import FrameRecord, close_groups

__all__ = ["echo_time_note", "split_echo_series"]


def split_echo_series(keyed: dict[tuple[str, ...], list[FrameRecord]]) -> str:
    """Multi-echo time series: one group per echo (in place), as dcm2niix writes one file per echo.

    Echoes are told apart by EchoNumbers (0018,0086) when every image has it, else by EchoTime
    (0018,0081) when every image has that (EchoNumbers is optional: without it, the echoes of a
    time series were stacked as more time points). When there are several echoes sharing
    positions: a time series of several echoes, or a time series or DWI with some of its
    volumes at another echo time (b = 0 images at other TEs, a volume acquired again at another
    TE), which dcm2niix also writes one file per echo time; and single-frame echoes of a single
    volume, no position repeating within any echo, as dcm2niix writes them (its _e1, _e2 ...
    files; an enhanced file's echoes of one volume stay one 4D volume with the echo as its 4th
    axis, as dcm2niix writes it). Also when single-frame echoes lie at distinct positions, each
    at several of them (slices alternating between echoes), or at any number where EchoNumbers
    tells them apart: stacked, they were one volume of every echo's slices at a fraction of the
    spacing, echoes interleaved along k. An echo time of one position each (an EchoTime that differs
    slice by slice, repeating in time) is no echo. Returns the split reason or "".
    """
    note = ""
    for key in list(keyed):
        recs = keyed[key]
        if any(r.ipp is None for r in recs):
            continue
        found = _echoes(recs)
        if found is None:
            continue
        name, by_echo = found
        at = _positions(recs)
        places = [{at[id(r)] for r in v} for v in by_echo.values()]
        repeated = [len(v) > len(p) for v, p in zip(by_echo.values(), places, strict=True)]
        # The echoes share positions: an echo time that differs from slice to slice (and repeats
        # in time) is not several echoes. (A file missing from one echo still splits, so that
        # echo's gap is reported.)
        # (dcm2niix keeps an enhanced file's frames at another echo time in its one 4D volume)
        single = all(r.number_of_frames == 1 for r in recs)
        some = any(repeated) and single
        numbered = name.startswith("EchoNumbers")
        apart = single and _interleaved(places, numbered=numbered)
        # Echoes of one volume not at the same positions (a file missing from one): each apart,
        # as dcm2niix writes them, so the complete echoes open and the other's gap is reported.
        uneven = single and any(p != places[0] for p in places)
        shared = _shared(places, numbered)
        # (single-frame echoes of one volume at the same positions: one volume per echo too, as
        # dcm2niix writes them and as the echoes of a time series are split)
        if not apart and (not (all(repeated) or some or uneven or single) or not shared):
            continue
        del keyed[key]
        for echo, v in sorted(by_echo.items(), key=lambda kv: _echo_order(kv[1][0])):
            keyed[(*key, echo)] = v
        note = (
            f"{name} differ between slices at distinct positions ({len(by_echo)} echoes of "
            f"{'/'.join(str(len(p)) for p in places)} positions): one volume per echo, as "
            "dcm2niix writes one file per echo, never the echoes interleaved along the slices"
            if apart
            else f"{name} differ and the echoes are not at the same positions "
            f"({'/'.join(str(len(p)) for p in places)}): one volume per echo"
            if uneven and not any(repeated)
            else f"{name} differ in a time series ({len(by_echo)} echoes, positions repeating "
            f"within {'each' if all(repeated) else 'some'}): one volume per echo"
            if any(repeated)
            else f"{name} differ in one volume ({len(by_echo)} echoes at the same "
            f"{len(places[0])} positions): one volume per echo, as dcm2niix writes one file per "
            "echo"
        )
    return note


def echo_time_note(volumes: Sequence[Sequence[FrameRecord | None]]) -> str | None:
    """The warning on a volume whose slices state different EchoTime (0018,0081) within one of
    its volumes (an echo time that differs slice by slice, kept as one volume by
    :func:`split_echo_series`): each value with its count of images, and that dcm2niix writes
    one file per echo time; None where each volume's slices share one."""
    stated = [[r for r in vol if r is not None and r.echo_time is not None] for vol in volumes]
    if all(len(close_groups(recs, _echo_time)) < 2 for recs in stated):
        return None  # (values within float32 noise of each other are one: records.same_value)
    groups = close_groups([r for recs in stated for r in recs], _echo_time)
    listed = ", ".join(f"{te:g} ms ({len(g)} image{'s' * (len(g) != 1)})" for te, g in groups[:6])
    listed += f" and {len(groups) - 6} more values" if len(groups) > 6 else ""
    # (an enhanced file's frames: dcm2niix keeps them in one volume too, split_echo_series)
    frames = any(r.number_of_frames > 1 for recs in stated for r in recs)
    theirs = (
        "as dcm2niix keeps an enhanced file's frames in one volume (its sidecar stating one of "
        "the echo times)"
        if frames
        else "where dcm2niix writes one file per echo time"
    )
    return (
        f"EchoTime (0018,0081) differs between the slices of one volume: {listed}; kept as one "
        f"volume, as an echo time that differs slice by slice, with no EchoTime in its sidecar, "
        f"{theirs}: check that the slices belong together"
    )


def _echo_time(r: FrameRecord) -> float:
    return float(r.echo_time or 0.0)


def _positions(recs: list[FrameRecord]) -> dict[int, int]:
    """Each record's position (by ``id``) as a number, positions within the stacking's
    same-position tolerance one (:func:`lazyvol.slice_grid.position_labels`): echoes whose
    written positions differ by rounding noise share positions, as the stacking takes them to."""
    labels = slice_grid.position_labels([r.ipp or [] for r in recs])
    return {id(r): int(n) for r, n in zip(recs, labels, strict=True)}


def _shared(places: list[set[int]], numbered: bool) -> bool:
    """The echoes share positions. Told apart by EchoNumbers, a position in any two of them (two
    echoes of a volume beside a third echo's slice elsewhere: dcm2niix writes each echo apart);
    by EchoTime alone, a position in every one (an echo time that differs from slice to slice,
    repeating in time, shares none)."""
    if numbered:
        return sum(map(len, places)) > len(set().union(*places))
    return bool(set.intersection(*places))


def _interleaved(places: list[set[int]], numbered: bool) -> bool:
    """Echoes at distinct positions (no position in two echoes): the slices of several echoes
    alternating (or one slab per echo). Told apart by EchoTime alone, each echo at two or more
    positions, not an echo time that differs slice by slice (one position per value); told apart
    by EchoNumbers, an echo at one position too (one slice of another echo among a volume's, two
    echoes alternating over three slices), which dcm2niix also writes apart."""
    apart = sum(map(len, places)) == len(set().union(*places))
    return apart and (numbered or all(len(p) > 1 for p in places))


def _echoes(recs: list[FrameRecord]) -> tuple[str, dict[str, list[FrameRecord]]] | None:
    """The records by echo: by EchoNumbers when every record has it and it tells two echoes
    apart, else by EchoTime (an enhanced file's frames all carry its one top-level EchoNumbers;
    their echo is the per-frame EffectiveEchoTime); None for fewer than two echoes."""
    keys: tuple[tuple[str, Any], ...] = (
        (
            "EchoNumbers (0018,0086)",
            lambda r: None if r.echo_number is None else f"echo {r.echo_number}",
        ),
        (
            "EchoTime (0018,0081)",
            lambda r: None if r.echo_time is None else f"echo time {r.echo_time:g}",
        ),
    )
    for name, echo_of in keys:
        labels = [echo_of(r) for r in recs]
        if any(label is None for label in labels) or len(set(labels)) < 2:
            continue
        by_echo: dict[str, list[FrameRecord]] = defaultdict(list)
        for r, label in zip(recs, labels, strict=True):
            by_echo[label].append(r)
        return name, by_echo
    return None


def _echo_order(r: FrameRecord) -> tuple[float, float]:
    """Echoes in order: by EchoNumbers, then EchoTime."""
    return (
        float(r.echo_number) if r.echo_number is not None else math.inf,
        float(r.echo_time) if r.echo_time is not None else math.inf,
    )
