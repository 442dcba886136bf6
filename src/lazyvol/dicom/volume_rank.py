"""Volumes of a 4D series by rank at each slice position: the n-th image at each position (by a
time, or by InstanceNumber) belongs to volume n. The rank rules of :mod:`~lazyvol.dicom.ordering`.

A time ranks the volumes when it is stated in every image, distinct at each position, and orders
the images of every position the same way: every image of volume n earlier than any image of
volume n + 1. The times of one volume need not be equal at every position: AcquisitionTime
(0008,0032) runs slice by slice, and a PET image's FrameReferenceTime (0054,1300) or a cardiac
image's TriggerTime (0018,1060) may be the image's own (a few ms later each slice, or each bed
of a whole-body dynamic scan later by the time between beds).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .dicom_time import acquired
from .model import ORDER_DOUBT_NOTE
from .records import FrameRecord

__all__ = [
    "Clock",
    "RankKey",
    "by_rank",
    "instance_rule",
    "numbering",
    "ranks",
    "shown",
    "time_rank",
    "time_rule",
    "wrap_warning",
]

#: The acquisition order of an image: its time, InstanceNumber, frame and path.
RankKey = Callable[[FrameRecord], tuple[float, int, int, str]]


@dataclass(frozen=True)
class Clock:
    """When the images of the series being ordered were acquired (:func:`acquired`), by record."""

    seconds: dict[int, float | None]
    #: Why their times do not order them (undated times of day spanning more than 12 h), or "".
    wrap: str

    @classmethod
    def of(cls, groups: Sequence[Sequence[FrameRecord]]) -> Clock:
        flat = [r for g in groups for r in g]
        seconds, wrap = acquired(flat)
        return cls({id(r): t for r, t in zip(flat, seconds, strict=True)}, wrap)

    def at(self, r: FrameRecord) -> float | None:
        return None if self.wrap else self.seconds.get(id(r))

    def rank(self, r: FrameRecord) -> tuple[float, int, int, str]:
        t = self.at(r)
        return (
            t if t is not None else float("inf"),
            r.instance_number if r.instance_number is not None else 1 << 62,
            r.frame,
            r.path,
        )


def by_rank(
    groups: list[list[FrameRecord]], key: Callable[[FrameRecord], Any]
) -> list[list[FrameRecord]]:
    """Volume n: the n-th image at each position by ``key``."""
    m = len(groups[0])
    ordered = [sorted(g, key=key) for g in groups]
    return [[g[t] for g in ordered] for t in range(m)]


def time_rank(
    groups: list[list[FrameRecord]],
    at: Callable[[FrameRecord], float | None],
    rank: RankKey,
    unit: str,
) -> list[list[FrameRecord]] | str:
    """The volumes ranked by the time ``at`` gives an image (in ``unit``, as shown), when it is
    stated in every image, distinct at each position and orders every position the same way (the
    volumes do not overlap in time); else why not."""
    times = [[at(r) for r in g] for g in groups]
    n_missing = sum(t is None for ts in times for t in ts)
    if n_missing:
        return f"missing or malformed in {n_missing} image(s)"
    for ts in times:
        if len(set(ts)) != len(ts):
            return "repeats at a slice position (same time for several images)"
    volumes = by_rank(groups, lambda r: (at(r), rank(r)))
    for t in range(len(volumes) - 1):
        end = max(at(r) or 0.0 for r in volumes[t])
        start = min(at(r) or 0.0 for r in volumes[t + 1])
        if not end < start:
            return (
                f"volumes overlap in time (volume {t} ends at {end:.4f} {unit}, volume {t + 1} "
                f"starts at {start:.4f} {unit})"
            )
    return volumes


def time_rule(groups: list[list[FrameRecord]], clock: Clock) -> list[list[FrameRecord]] | str:
    """The AcquisitionTime (0008,0032) rank (:func:`time_rank`), unless the times of day may
    cross midnight."""
    if clock.wrap:
        return clock.wrap
    return time_rank(groups, clock.at, clock.rank, "s")


def instance_rule(
    groups: list[list[FrameRecord]], accept_any: bool
) -> list[list[FrameRecord]] | str:
    """The InstanceNumber (0020,0013) rank, when the numbers are distinct at each position and
    number the images volume by volume or position by position (any numbering: ``accept_any``)."""
    nums = [[r.instance_number for r in g] for g in groups]
    n_missing = sum(n is None for ns in nums for n in ns)
    if n_missing:
        return f"missing in {n_missing} image(s)"
    for g in groups:
        keys = [(r.instance_number, r.frame) for r in g]
        if len(set(keys)) != len(keys):
            return "repeats at a slice position"
        if not accept_any and len({r.instance_number for r in g}) != len(g):
            # Frames of one enhanced file share its number: their order in the file is no
            # acquisition order the headers state (dcm2niix scrambles such volumes).
            return (
                "one InstanceNumber for several images at a slice position (frames of one file), "
                "so it does not order them"
            )
    volumes = by_rank(groups, lambda r: (r.instance_number, r.frame, r.path))
    if not accept_any and not numbering(volumes):
        return "numbers images neither volume by volume nor position by position"
    return volumes


def numbering(volumes: list[list[FrameRecord]]) -> str:
    """How the InstanceNumbers of ``volumes`` (ranked by them) number the images: "volume by
    volume", "position by position", or "" (neither)."""
    n, m = len(volumes[0]), len(volumes)
    key = {id(r): (r.instance_number or 0, r.frame) for v in volumes for r in v}
    flat = sorted(((key[id(r)], t, k) for t, v in enumerate(volumes) for k, r in enumerate(v)))
    if all(t == i // n for i, (_, t, _) in enumerate(flat)):
        return "volume by volume"
    if all(len({k for _, _, k in flat[s : s + m]}) == 1 for s in range(0, len(flat), m)):
        return "position by position"
    return ""


def ranks(volumes: list[list[FrameRecord]], key: Callable[[FrameRecord], Any]) -> list[int] | None:
    """Each volume's rank by ``key`` (a time, say) when it is the same at every slice position
    (``key`` stated in every image and distinct at each position), else None."""
    perm: list[int] | None = None
    for k in range(len(volumes[0])):
        values = [key(v[k]) for v in volumes]
        if any(x is None for x in values) or len(set(values)) != len(values):
            return None
        order = sorted(range(len(values)), key=values.__getitem__)
        here = [order.index(t) for t in range(len(values))]
        if perm is not None and here != perm:
            return None
        perm = here
    return perm


def wrap_warning(clock: Clock) -> str:
    """A warning when the volumes' acquisition order came from InstanceNumber because their times
    of day may cross midnight (:attr:`Clock.wrap`), else ""."""
    if not clock.wrap:
        return ""
    return (
        f"{ORDER_DOUBT_NOTE} InstanceNumber (0020,0013), not by acquisition time: "
        f"{clock.wrap}; check the volume order"
    )


def shown(values: Sequence[Any]) -> str:
    """Up to 8 values, as a list."""
    return "[" + ", ".join(map(str, values[:8])) + (", ...]" if len(values) > 8 else "]")
