"""The per-volume lists of a volume's ``meta``, cut with its 4th axis in one place.

:meth:`lazyvol.Volume.__getitem__` cuts them here, so that ``meta`` describes the volumes the cut
volume holds, in its order (``vol[..., ::-1]`` reverses them, ``vol[..., 1:]`` drops the first):

* each list of ``meta["axis4_values"]``; an integer index (``vol[..., 2]``) leaves the values at
  it in ``meta["axis4_index"]`` instead;
* the diffusion table ``meta["diffusion"]``: ``bvals`` and ``gradients_lps``, and its lists of
  volume indices (``derived_volumes``, ``shell_scaled``, ...) renumbered, the volumes cut away
  left out;
* the PET frame lists of ``meta["bids"]`` (:data:`PER_VOLUME_KEYS`);
* the volume's distinct echoes ``meta["echo_times"]`` / ``meta["echo_numbers"]`` (:data:`ECHO_LISTS`)
  when its 4th axis tells echoes apart, and, one echo left, ``meta["bids"]`` ``EchoTime`` (seconds)
  and ``EchoNumber``, as a volume of that one echo's files has them.

* each volume's acquisition (:data:`VOLUME_ACQUISITION`: its earliest image's time and the
  AcquisitionNumber of its first image), and ``meta["bids"]`` ``AcquisitionTime`` and
  ``AcquisitionNumber`` of the volumes kept: the earliest one's time and the first one's number, as
  dcm2niix gives them for a folder of those volumes' files; the warning that the volumes are not
  evenly spaced in time (:data:`UNEVEN_VOLUMES_NOTE`) is dropped when the volumes kept are.

Lists of another length than the 4th axis are not the volume's: they are left as they are (and
the writers leave them out). Per-slice values (SliceTiming) follow the voxel axes instead
(:func:`lazyvol.sidecar.sidecar`). Low level: no lazyvol imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

__all__ = [
    "AXIS4_KEY",
    "DIFFUSION_INDICES",
    "DIFFUSION_LISTS",
    "ECHO_LISTS",
    "FRAME_INTERVAL",
    "PER_VOLUME_KEYS",
    "UNEVEN_VOLUMES_NOTE",
    "VOLUME_ACQUISITION",
    "clock",
    "ms_seconds",
    "series_resolution",
    "cut_volumes",
    "source_volumes",
    "take_volumes",
    "uneven_intervals",
]


def ms_seconds(ms: float) -> float:
    """Milliseconds (a C float in dcm2niix: TE, TR, TI) to seconds as dcm2niix prints them: the
    float32 value / 1000 with ``%g`` (6 significant digits)."""
    v = float(ms)
    return float(f"{(float(np.float32(v)) if abs(v) < 3.4e38 else v) / 1000.0:.6g}")


#: How the warning begins on an MR 4D volume whose volumes are not evenly spaced in acquisition
#: time (:mod:`lazyvol.dicom.volume_timing`): a Python warning too at open.
UNEVEN_VOLUMES_NOTE = "volumes not evenly spaced in acquisition time"
#: dcm2niix's tolerance on the seconds between volumes, and the share of the usual interval
#: allowed beside it (:func:`uneven_intervals`).
_TOLERANCE_S = 0.05
_TOLERANCE_SHARE = 0.1


def uneven_intervals(
    stamps: Sequence[float], resolution: float, usual: float | None = None
) -> tuple[float, list[tuple[int, float]]]:
    """The usual interval between volumes starting at ``stamps`` (seconds, in volume order) and
    the intervals off it: ``(median, [(t, seconds from volume t to t + 1), ...])``. An interval
    is off when it differs from the median by more than max(50 ms, as dcm2niix, 10 % of the
    median) plus the times' written ``resolution``; intervals of 0 (echoes or components of one
    acquisition) are not compared, as dcm2niix. ``(0.0, [])`` for fewer than two positive
    intervals. ``usual``: the interval to compare with (a cut's volumes: their series'), instead
    of their median."""
    gaps = [b - a for a, b in pairwise(stamps)]
    positive = sorted(g for g in gaps if g > 0)
    if len(positive) < (1 if usual else 2):
        return 0.0, []
    if not usual:
        half = len(positive) // 2
        usual = positive[half] if len(positive) % 2 else (positive[half - 1] + positive[half]) / 2
    tolerance = max(_TOLERANCE_S, _TOLERANCE_SHARE * usual) + resolution
    return usual, [(t, g) for t, g in enumerate(gaps) if g > 0 and abs(g - usual) > tolerance]


#: ``meta`` key holding per-index values of the 4th axis (``{name: [value per index]}``); slicing the
#: 4th axis slices these lists too.
AXIS4_KEY = "axis4_values"
#: ``meta["diffusion"]`` lists with one entry per volume.
DIFFUSION_LISTS = ("bvals", "gradients_lps")
#: ``meta["diffusion"]`` lists of volume indices (:mod:`lazyvol.dicom.diffusion`).
DIFFUSION_INDICES = ("derived_volumes", "shell_scaled", "ge_zero_direction", "no_bvalue")
#: ``meta["bids"]`` keys with one value per volume (PET frames, :mod:`lazyvol.dicom.bids_pet`).
PER_VOLUME_KEYS = (
    "DecayFactor",
    "DecayCorrectionFactor",
    "FrameTimesStart",
    "FrameDuration",
    "FrameReferenceTime",
)

#: ``meta`` key of each volume's acquisition: ``{"stamp": [seconds on one timeline, to compare],
#: "time": [its time of day, seconds], "number": [AcquisitionNumber or None], "resolution": [the
#: seconds its AcquisitionTimes are written to]}`` (a DICOM series).
VOLUME_ACQUISITION = "volume_acquisition"

#: ``meta`` key of a PET series' interval between volumes in seconds (the stated or measured
#: RepetitionTime) that its sidecar leaves out beside a FrameDuration, as dcm2niix does: dcm2niix
#: still writes it as pixdim[4] (:func:`lazyvol.zarr_nifti.repetition_time`).
FRAME_INTERVAL = "frame_interval"

#: ``meta`` lists of a volume's distinct echoes, by the ``axis4_values`` name giving them per volume.
ECHO_LISTS = {"echo_times": "EchoTime", "echo_numbers": "EchoNumbers"}


def cut_volumes(meta: dict[str, Any], item: slice | int, n: int) -> None:
    """Cut the per-volume lists of ``meta`` (in place) as ``volume[..., item]`` cuts a 4th axis of
    ``n`` volumes (``item`` canonical: :func:`lazyvol.geometry.canonical_index`)."""
    values = meta.get(AXIS4_KEY)
    if isinstance(values, dict):
        cut = {
            key: v[item] if isinstance(v, list) and len(v) == n else v for key, v in values.items()
        }
        if isinstance(item, slice):
            meta[AXIS4_KEY] = cut
        else:
            meta.pop(AXIS4_KEY)
            meta["axis4_index"] = cut
        _own_echoes(meta, cut)
    picks = list(range(n))[item] if isinstance(item, slice) else [item]
    take_volumes(meta, picks, n)


def _own_echoes(meta: dict[str, Any], kept: dict[str, Any]) -> None:
    """The echoes of the volumes ``kept`` (the 4th-axis values left by a cut) in ``meta`` (in
    place): each :data:`ECHO_LISTS` list their distinct values; one echo left, ``bids`` gets its
    EchoTime in seconds (dcm2niix's rounding) and EchoNumber."""
    own: dict[str, list[Any]] = {}
    for key, name in ECHO_LISTS.items():
        values = kept.get(name)
        values = values if isinstance(values, list) else [values]
        if isinstance(meta.get(key), list) and all(isinstance(v, int | float) for v in values):
            own[key] = meta[key] = sorted(set(values))
    bids = meta.get("bids")
    times, numbers = own.get("echo_times", []), own.get("echo_numbers", [])
    if isinstance(bids, dict) and len(times) == 1:
        bids["EchoTime"] = ms_seconds(times[0])  # ms -> s, as dcm2niix
        if len(numbers) == 1:
            bids["EchoNumber"] = int(numbers[0])


def take_volumes(meta: dict[str, Any], picks: Sequence[int], n: int | None) -> None:
    """Keep volumes ``picks`` (in that order) of the diffusion table and the PET frame lists of
    ``meta`` (in place): lists of ``n`` entries, or, when ``n`` is None, lists that every pick
    indexes (a store of an older lazyvol, whose lists are its source's:
    ``meta["source_index"]["t"]`` picks them)."""

    def fits(values: Any) -> bool:
        if not isinstance(values, list):
            return False
        if n is not None:
            return len(values) == n
        return all(isinstance(p, int) and 0 <= p < len(values) for p in picks)

    diffusion = meta.get("diffusion")
    if isinstance(diffusion, dict) and fits(diffusion.get("bvals")):
        for key in DIFFUSION_LISTS:
            if fits(diffusion.get(key)):
                diffusion[key] = [diffusion[key][p] for p in picks]
        for key in DIFFUSION_INDICES:
            if isinstance(diffusion.get(key), list):
                kept = set(diffusion[key])
                renumbered = [new for new, p in enumerate(picks) if p in kept]
                if renumbered:
                    diffusion[key] = renumbered
                else:
                    diffusion.pop(key)
    bids = meta.get("bids")
    if isinstance(bids, dict):
        for key in PER_VOLUME_KEYS:
            if fits(bids.get(key)):
                bids[key] = [bids[key][p] for p in picks]
    acquisition = meta.get(VOLUME_ACQUISITION)
    if isinstance(acquisition, dict) and all(fits(v) for v in acquisition.values()) and picks:
        chosen = {key: [v[p] for p in picks] for key, v in acquisition.items()}
        meta[VOLUME_ACQUISITION] = chosen
        if isinstance(bids, dict):
            _first_acquisition(bids, chosen)
        notes = meta.get("warnings")
        stamps = chosen.get("stamp") or []
        if isinstance(notes, list) and all(isinstance(x, int | float) for x in stamps):
            # (the volumes kept are even: the series' usual interval, within the resolution its
            # times were written to; a cut's own median of two intervals is no measure)
            every = acquisition["stamp"]
            resolution = series_resolution(acquisition)
            usual = (
                uneven_intervals(sorted(every), resolution)[0]
                if all(isinstance(x, int | float) for x in every)
                else None
            )
            if not uneven_intervals(sorted(stamps), resolution, usual or None)[1]:
                meta["warnings"] = [w for w in notes if not str(w).startswith(UNEVEN_VOLUMES_NOTE)]


def series_resolution(acquisition: dict[str, Any]) -> float:
    """The resolution the series' AcquisitionTimes are written to, for the check at open and a
    cut's (``acquisition["resolution"]``, each volume's: the coarsest); a store of an older lazyvol,
    without it: guessed from the stamps (:func:`_written_resolution`). Times written with
    fractions 1 s apart (a 1 s repetition) are not whole seconds: guessed so, a missing volume's
    2 s interval passed as even and a cut spanning it dropped the note."""
    stated = acquisition.get("resolution")
    if isinstance(stated, list) and stated and all(isinstance(x, int | float) for x in stated):
        return float(max(stated))
    return _written_resolution(acquisition["stamp"])


def _written_resolution(stamps: Sequence[Any]) -> float:
    """The coarsest decimal step (1, 0.1, ... 1e-6 s) every one of ``stamps`` is a multiple of,
    from the first: the resolution their times were written to (GE: whole seconds), as the
    check at open takes it; 0.0 when none."""
    numbers = [x for x in stamps if isinstance(x, int | float)]
    if not numbers:
        return 0.0
    offsets = [x - numbers[0] for x in numbers]
    for digits in range(7):
        scale = 10.0**digits
        if all(abs(x * scale - round(x * scale)) < 1e-3 for x in offsets):
            return 1.0 / scale
    return 0.0


def clock(seconds: float) -> str:
    """A time of day in seconds as BIDS AcquisitionTime (``HH:MM:SS.ffffff``, as dcm2niix)."""
    t = float(seconds)
    return f"{int(t // 3600):02d}:{int(t % 3600 // 60):02d}:{t % 60:09.6f}"


def _first_acquisition(bids: dict[str, Any], kept: dict[str, list[Any]]) -> None:
    """``bids`` AcquisitionTime of the earliest volume ``kept`` and AcquisitionNumber of the
    first (in acquisition order), where the series states them for every volume."""
    stamps, times, numbers = kept.get("stamp"), kept.get("time"), kept.get("number")
    if not (stamps and times and all(isinstance(x, int | float) for x in [*stamps, *times])):
        return
    earliest = min(range(len(stamps)), key=lambda n: stamps[n])
    if "AcquisitionTime" in bids:
        bids["AcquisitionTime"] = clock(times[earliest])
    if "AcquisitionNumber" in bids and numbers and isinstance(numbers[earliest], int):
        bids["AcquisitionNumber"] = numbers[earliest]


def source_volumes(meta: dict[str, Any]) -> None:
    """Take the per-volume lists of ``meta`` (in place) at the source volumes
    ``meta["source_index"]["t"]`` names: the meta of a store written by an older lazyvol, which
    kept its source's lists (whole series) for a cut volume."""
    index = meta.get("source_index")
    ts = index.get("t") if isinstance(index, dict) else None
    if isinstance(ts, list) and ts:
        take_volumes(meta, ts, None)
