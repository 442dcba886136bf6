"""Notes on the files a scan could not use beside a volume's own: a file it could not read, or a
damaged file that names no series, may be a slice (or time point) of the volume.

Applied to the scan report itself (:func:`with_beside_notes`), so that ``lazyvol.scan``, the
``lazyvol info`` table and its ``--json`` say what ``lazyvol.open`` says: a volume missing an end
slice to an unreadable file shows no gap, and only this note tells it.
"""

from __future__ import annotations

import bisect
import itertools
import os
import re
from collections import defaultdict
from dataclasses import replace
from typing import Any

from .listing import DANGLING, HIDDEN, LINK, SPECIAL, SPECIAL_BESIDE_NOTE
from .model import (
    DAMAGED_BESIDE_NOTE,
    EMPTY_BESIDE_NOTE,
    FOREIGN_BESIDE_NOTE,
    HIDDEN_BESIDE_NOTE,
    INCOMPLETE_NOTE,
    LINK_BESIDE_NOTE,
    NOT_DICOM,
    SHORT_FILE,
    UNREAD_REASONS,
    ScanReport,
    SeriesInfo,
)

__all__ = ["with_beside_notes"]

#: How the stacking names missing slices in its errors: a gap in the positions, or a position
#: of a 4D series with fewer images than the others (a slice of one volume lost).
_GAP = ("slice(s) missing", "positions repeat a different number of times")

#: How the skip reason of an empty file begins (junk, skipped quietly: BAD_INPUTS), unless it is
#: named like the files of a volume beside it (an emptied slice: only the name tells).
_EMPTY = ("empty file", "empty object", SHORT_FILE)
_DIGITS = re.compile(r"\d+")

#: What the notes on missing files add when each file of the volume is a whole volume.
_WHOLE_VOLUME = (
    "each file of this volume holds a whole volume (time point), so each missing file is a "
    "missing time point: the volumes after it are no longer one repetition apart in "
    "acquisition time"
)


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0]


def with_beside_notes(report: ScanReport) -> ScanReport:
    """``report`` with each volume's notes on the unread and damaged files in its folders: in its
    warnings, or in its refusal when that is a gap the files may fill. Linear in the volumes'
    files and the skipped files."""
    unread_in: dict[str, list[tuple[str, str]]] = defaultdict(list)
    listed: set[str] | None = None
    for p, why in report.skipped:
        if why == HIDDEN:
            if listed is None:  # (a hidden copy of a file found, of any volume: no lost file)
                listed = {f for i in report for f in i.files} | {q for q, _ in report.skipped}
            if listed.isdisjoint(_unhidden(p)):
                unread_in[_folder(p)].append((p, why))
        elif why.startswith((*UNREAD_REASONS, SHORT_FILE, NOT_DICOM)) or why in (
            LINK,
            DANGLING,
            SPECIAL,
        ):
            unread_in[_folder(p)].append((p, why))
    orphans_in: dict[str, list[str]] = defaultdict(list)
    for p in report.unnamed:
        orphans_in[_folder(p)].append(p)
    if not unread_in and not orphans_in and not any(i.warnings for i in report):
        return report
    infos = []
    # (the volumes of one flat folder share its lists: made once, not once per volume)
    found: dict[tuple[str, ...], tuple[list[tuple[str, str]], list[str], _Beside]] = {}
    for info in report:
        here = tuple(sorted({_folder(f) for f in info.files}))
        if here not in found:
            unread = sorted(x for d in here for x in unread_in.get(d, ()))
            found[here] = (
                unread,
                sorted(p for d in here for p in orphans_in.get(d, ())),
                _Beside(unread),
            )
        infos.append(_noted(info, *found[here]))
    return ScanReport(infos, report.skipped, report.unsupported, report.unnamed)


def _noted(
    info: SeriesInfo, unread: list[tuple[str, str]], orphans: list[str], beside: _Beside
) -> SeriesInfo:
    hidden = _hidden_like(info, beside)
    links = _not_its_own(info, _like(info, beside.links))
    dangling = {p for p, why in unread if why == DANGLING}
    empty = set(_like(info, beside.empty))
    foreign = set(_like(info, beside.foreign))
    # a file too short to be DICOM, or not DICOM at all, is junk (a README, a checksum list, a
    # thumbnail) unless named like the volume's files (a slice cut in its preamble, overwritten,
    # or its 'DICM' marker damaged): no lost slice of it, in a refusal either
    unread = [
        (p, why)
        for p, why in unread
        if why not in (HIDDEN, LINK, DANGLING)
        and (p in empty or not why.startswith(SHORT_FILE))
        and (p in foreign or not why.startswith(NOT_DICOM))
    ]
    if info.error:
        if info.error_kind in ("format", "unsupported") or not any(g in info.error for g in _GAP):
            return info
        notes: list[str] = []  # the skipped files may be the missing ones
        if unread:
            # (those named like its files, where any is: a flat folder's other series' are not)
            like = set(_like(info, beside.unread))
            named = [(p, why) for p, why in unread if p in like] or unread
            notes.append(f"{_unread_note(named)}; make them readable first")
        if hidden:
            notes.append(_hidden_note(hidden, "the missing slice(s)"))
        if links:
            notes.append(_link_note(links, dangling, "the missing slice(s)"))
        notes += [w for w in info.warnings if w.startswith(INCOMPLETE_NOTE)]
        unread_paths = {p for p, _ in unread}
        cut = [p for p in orphans if p not in unread_paths]
        if cut:
            notes.append(_orphan_note(cut))
        return replace(info, error=info.error + "".join(f". Note: {n}" for n in notes))
    if unread and info.meta.get("filled_slices"):  # allow_gaps=True filled what may be on disk
        return replace(
            info, warnings=[*info.warnings, f"slices filled while {_unread_note(unread)}"]
        )
    noted = _whole_volume_notes(info, orphans, sorted(empty), hidden, sorted(foreign))
    special = _like(info, beside.special)
    if not links and not special:
        return noted
    may = f"time points of it ({_WHOLE_VOLUME})" if _whole_volume_files(info) else "slices of it"
    may += " (an end slice leaves no gap to see)"
    notes = [_link_note(links, dangling, may)] if links else []
    if special:
        notes.append(
            f"{SPECIAL_BESIDE_NOTE} named like its files are not read (opening a FIFO waits for "
            f"a writer) and take the names of what may be {may}: {len(special)} file(s): "
            f"{_first_three(special)}; replace them with the files they stand for"
        )
    return replace(noted, warnings=[*noted.warnings, *notes])


class _Names:
    """Candidate file names of one folder group (the files a scan skipped beside volumes, or the
    names hidden ones may stand for) indexed by pattern (the name with its digit runs as ``#``)
    and, once asked for, by the digits at given places of it: each volume of a flat folder looks
    up the few named like its own files, not every candidate (linear in the volumes' files and
    the candidates, not their product)."""

    def __init__(self, paths: list[str]) -> None:
        self.by_pattern: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
        for p in paths:
            name = p.rsplit("/", 1)[-1]
            self.by_pattern[_DIGITS.sub("#", name)].append((p, _DIGITS.findall(name)))
        self._keyed: dict[tuple[str, tuple[int, ...]], dict[tuple[str, ...], list[int]]] = {}
        self._numbers: dict[tuple[Any, ...], tuple[list[int], list[int], set[int]]] = {}

    def keyed(self, pattern: str, fixed_at: tuple[int, ...]) -> dict[tuple[str, ...], list[int]]:
        """The candidates of ``pattern`` (their places in ``by_pattern[pattern]``) by their digit
        runs at ``fixed_at``."""
        key = (pattern, fixed_at)
        if key not in self._keyed:
            index: dict[tuple[str, ...], list[int]] = defaultdict(list)
            for n, (_, digits) in enumerate(self.by_pattern.get(pattern, ())):
                index[tuple(digits[at] for at in fixed_at)].append(n)
            self._keyed[key] = index
        return self._keyed[key]

    def numbers(
        self, pattern: str, fixed_at: tuple[int, ...], fixed: tuple[str, ...], at: int
    ) -> tuple[list[int], list[int], set[int]]:
        """The candidates of ``pattern`` whose digit runs at ``fixed_at`` are ``fixed``, by their
        number at ``at``: the numbers sorted, the candidates' places in that order, and the set."""
        key = (pattern, fixed_at, fixed, at)
        if key not in self._numbers:
            group = self.by_pattern.get(pattern, ())
            pairs = sorted(
                (int(group[n][1][at]), n) for n in self.keyed(pattern, fixed_at).get(fixed, ())
            )
            self._numbers[key] = (
                [v for v, _ in pairs],
                [n for _, n in pairs],
                {v for v, _ in pairs},
            )
        return self._numbers[key]


class _Beside:
    """The candidates of one folder group's unread files, indexed once for all its volumes."""

    def __init__(self, unread: list[tuple[str, str]]) -> None:
        #: the names the hidden files may stand for (:func:`_unhidden`), each to its hidden file
        self.shown_as = {v: p for p, why in unread if why == HIDDEN for v in _unhidden(p)}
        self.hidden = _Names(list(self.shown_as))
        self.empty = _Names([p for p, why in unread if why.startswith(_EMPTY)])
        self.foreign = _Names([p for p, why in unread if why.startswith(NOT_DICOM)])
        self.unread = _Names([p for p, why in unread if why not in (HIDDEN, LINK, DANGLING)])
        self.links = _Names([p for p, why in unread if why in (LINK, DANGLING)])
        self.special = _Names([p for p, why in unread if why == SPECIAL])


def _like(info: SeriesInfo, names: _Names) -> list[str]:
    """The candidates of ``names`` named like a file of ``info`` but for their numbers
    (``IM-0001-0015.dcm`` beside ``IM-0001-0001.dcm``..``IM-0001-0014.dcm``): an emptied slice
    (or time point) of it, which an end slice leaves no gap to tell.

    Named like it: the same name with its digit runs as ``#``, the same digits where every file
    of the volume has the same (``0001`` above, the series' number in the name; a UID's series
    part), and numbers within the volume's own range where its files' numbers differ (the last
    number where none does: a volume of one file numbers nothing by its own), or next to it: on
    the run of candidates that carries on from either end by the volume's own step (its lost end
    slices, however many), not further: an instance number counts on while a time of day in the
    same name may step by more than one. A flat folder of several series names their files
    alike: an empty file of one is no slice of the others, nor is a run of another series'
    files beyond the next one's (a DataLad folder numbered on across series, half its series
    links to no file). Looked up by bisection: linear in the volumes' files and the candidates
    noted, whatever the folder holds."""
    if not names.by_pattern:
        return []
    runs: dict[str, list[list[str]]] = defaultdict(list)
    for f in info.files:
        name = f.rsplit("/", 1)[-1]
        runs[_DIGITS.sub("#", name)].append(_DIGITS.findall(name))
    out: set[tuple[str, int]] = set()
    for pattern, own in runs.items():
        candidates = names.by_pattern.get(pattern)
        if not candidates:
            continue
        values = [{n[at] for n in own} for at in range(len(own[0]))]
        counted = {at for at, v in enumerate(values) if len(v) > 1} or (
            {len(values) - 1} if values else set()
        )
        fixed_at = tuple(at for at in range(len(values)) if at not in counted)
        fixed = tuple(next(iter(values[at])) for at in fixed_at)
        if not counted:  # (a name without digits: the same name)
            out.update((pattern, n) for n in names.keyed(pattern, fixed_at).get(fixed, ()))
            continue
        for at in sorted(counted):
            mine = sorted({int(v) for v in values[at]})
            step = min((b - a for a, b in itertools.pairwise(mine)), default=1)
            numbers, places, present = names.numbers(pattern, fixed_at, fixed, at)
            lo, hi = mine[0], mine[-1]
            while lo - step in present:  # (a run of candidates on from either end)
                lo -= step
            while hi + step in present:
                hi += step
            first, last = bisect.bisect_left(numbers, lo), bisect.bisect_right(numbers, hi)
            out.update((pattern, n) for n in places[first:last])
    return [names.by_pattern[pattern][n][0] for pattern, n in sorted(out)]


def _whole_volume_files(info: SeriesInfo) -> bool:
    """Whether each file of ``info`` holds a whole volume of several slices (a mosaic, an
    enhanced file a volume): a file of its series missing is then a missing time point."""
    volumes = info.shape[3] if len(info.shape) > 3 else 1
    return len(info.shape) > 2 and info.shape[2] > 1 and len(set(info.files)) == volumes


def _orphan_note(orphans: list[str], whole_volumes: bool = False) -> str:
    shown = _first_three(orphans)
    may = f"may be time points of it ({_WHOLE_VOLUME})" if whole_volumes else "may be slices of it"
    return (
        f"{DAMAGED_BESIDE_NOTE} name no series (unreadable, or cut short before their "
        f"SeriesInstanceUID) and {may}: {len(orphans)} file(s): {shown} (see the scan's skipped "
        "files for why)"
    )


def _whole_volume_notes(
    info: SeriesInfo,
    orphans: list[str],
    empty: list[str],
    hidden: list[str],
    foreign: list[str],
) -> SeriesInfo:
    """``info`` with the note on damaged files beside it, and on empty and hidden files named like
    its own, and its series-incomplete note saying when each file is a whole volume."""
    whole = _whole_volume_files(info)
    may = f"time points of it ({_WHOLE_VOLUME})" if whole else "slices of it"
    notes = [
        f"{w}; {_WHOLE_VOLUME}" if whole and w.startswith(INCOMPLETE_NOTE) else w
        for w in info.warnings
    ]
    if orphans:
        # The volume may miss one of them (an end slice leaves no gap to see): it says so.
        notes.append(_orphan_note(orphans, whole))
    if empty:
        shown = _first_three(empty)
        notes.append(
            f"{EMPTY_BESIDE_NOTE} (or cut inside the 132 bytes a DICOM file starts with) named "
            f"like this volume's files may be emptied {may} (an end "
            f"slice leaves no gap to see): {len(empty)} file(s): {shown}; copy them again from "
            "their source"
        )
    if hidden:
        notes.append(_hidden_note(hidden, f"{may} (an end slice leaves no gap to see)"))
    if foreign:
        shown = _first_three(foreign)
        notes.append(
            f"{FOREIGN_BESIDE_NOTE} named like this volume's files are not DICOM (no 'DICM' "
            f"marker and no dataset start: overwritten, or the marker damaged) and may be "
            f"damaged {may} (an end slice leaves no gap to see): {len(foreign)} file(s): "
            f"{shown}; copy them again from their source"
        )
    return replace(info, warnings=notes) if notes != info.warnings else info


def _first_three(files: list[str]) -> str:
    """The first three of ``files`` and how many more, as the notes list them."""
    return "; ".join(files[:3]) + (f"; and {len(files) - 3} more" if len(files) > 3 else "")


def _unhidden(path: str) -> set[str]:
    """The names a hidden file ``path`` may stand for: without its leading "." (or macOS's "._"),
    and without that and its last suffix too (rsync's ``.NAME.XXXXXX`` temporary file of an
    interrupted copy, an editor's ``.NAME.swp``)."""
    folder, _, name = path.rpartition("/")
    name = name[2:] if name.startswith("._") else name.lstrip(".")
    names = {name, name.rsplit(".", 1)[0]} if "." in name.strip(".") else {name}
    return {f"{folder}/{n}" for n in names if n}


def _hidden_like(info: SeriesInfo, beside: _Beside) -> list[str]:
    """The hidden files beside ``info`` (not read, as dcm2niix; none a hidden copy of a file the
    scan found, such as AppleDouble ``._NAME`` beside ``NAME``) that one of the names they may
    stand for (:func:`_unhidden`) makes named like a file of ``info`` (:func:`_like`): a slice
    (or time point) the folder holds only hidden, which an end slice leaves no gap to tell."""
    return sorted({beside.shown_as[v] for v in _like(info, beside.hidden)})


def _hidden_note(hidden: list[str], may: str) -> str:
    shown = _first_three(hidden)
    return (
        f"{HIDDEN_BESIDE_NOTE} named like its files were not read (a name starting with '.', as "
        f"dcm2niix: an interrupted copy's temporary file, or a file a tool hid) and may be {may}: "
        f"{len(hidden)} file(s): {shown}; copy them again from their source, or rename them "
        "without the leading '.'"
    )


def _unread_note(unread: list[tuple[str, str]]) -> str:
    listed = [f"{p} ({why})" for p, why in unread]
    shown = _first_three(listed)
    return f"{len(unread)} file(s) here could not be read and may be the missing slice(s): {shown}"


def _link_note(links: list[str], dangling: set[str], may: str) -> str:
    listed = [f"{p} (leads to no file)" if p in dangling else p for p in links]
    shown = _first_three(listed)
    return (
        f"{LINK_BESIDE_NOTE} named like its files were not read and may be {may}: "
        f"{len(links)} file(s): {shown}; symbolic links are followed only when asked "
        "(follow_symlinks=True, lazyvol --follow-symlinks), and one that leads to no file has "
        "no content here (a git-annex / DataLad file not fetched: 'datalad get')"
    )


def _not_its_own(info: SeriesInfo, links: list[str]) -> list[str]:
    """The links of ``links`` that lead to no file of ``info`` (one that does is a second name of
    a slice it has, as a hidden copy of one is: no lost slice). Where a link leads is compared
    with the volume's files' paths, their folders resolved once (not a stat of every file: a
    volume of 100,000 files on a network share beside one link)."""
    if not links:
        return []
    folders: dict[str, str] = {}

    def resolved(path: str) -> str:
        folder, _, name = path.rpartition("/")
        if folder not in folders:
            folders[folder] = os.path.realpath(folder)
        return f"{folders[folder]}/{name}"

    own = {resolved(f) for f in info.files}
    return [p for p in links if os.path.realpath(p) not in own]
