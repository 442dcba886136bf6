"""An enhanced file's DimensionIndexSequence (0020,9222): the order dcm2niix sorts its frames in.

:func:`dimensions` reads the file's dimension pointers (which index of a frame's
DimensionIndexValues (0020,9157) names a 4th-axis dimension, and the order dcm2niix compares
them in), :func:`dcm2niix_rank` places one frame, :func:`number_echoes` numbers a file's echoes
as dcm2niix meets them.
"""

from __future__ import annotations

from typing import Any

from .records import FrameRecord

__all__ = ["dcm2niix_rank", "dimensions", "number_echoes"]

#: Dimension index pointers that locate a frame in space (not a 4th-axis dimension).
_SPATIAL_POINTERS = {0x00209056, 0x00209057, 0x00200032}  # StackID, InStackPositionNumber, IPP


def dimensions(items: list[Any]) -> tuple[list[int], list[str], list[int]]:
    """Positions (in DimensionIndexValues) and names of the non-spatial dimensions, and the
    positions of all of them, the most significant first, as dcm2niix sorts enhanced frames: the
    InStackPositionNumber index swapped into the first place of the index vector, then the vector
    compared from its last place to its first (listed (StackID, InStackPositionNumber, b-value,
    gradient): gradient, then b-value; listed (b-value, gradient, StackID, InStackPositionNumber):
    b-value, then gradient). ``items``: the items of the file's DimensionIndexSequence."""
    from pydicom.datadict import keyword_for_tag

    tags: list[int] = []
    names: list[str] = []
    for item in items:
        tag = _pointer(item)
        tags.append(tag)
        label = str(item.get("DimensionDescriptionLabel") or "")
        # (an empty or malformed pointer, tag -1, names no attribute: dcm2niix still sorts by
        # its index, so the dimension stays, named by its label)
        known = keyword_for_tag(tag) if tag >= 0 else ""
        names.append(known or label or (f"{tag:08X}" if tag >= 0 else "unnamed dimension"))
    slots = list(range(len(tags)))
    if 0x00209057 in tags:  # InStackPositionNumber
        s = tags.index(0x00209057)
        slots[0], slots[s] = slots[s], slots[0]
    order = list(reversed(slots))
    keep = [n for n in order if tags[n] not in _SPATIAL_POINTERS]
    return keep, [names[n] for n in keep], order


def dcm2niix_rank(values: Any, order: list[int], i: int) -> tuple[int, ...]:
    """Where dcm2niix puts frame ``i`` among the file's frames: by its DimensionIndexValues in
    ``order`` (:func:`dimensions`; without a DimensionIndexSequence, compared from the last to
    the first), then as stored."""
    vals = [values] if isinstance(values, int) else list(values or [])
    places = order or list(reversed(range(len(vals))))
    try:
        return (*(int(vals[n]) for n in places), i) if vals and max(places) < len(vals) else (i,)
    except (TypeError, ValueError):
        return (i,)


def number_echoes(frames: list[FrameRecord], sort_keys: list[tuple[int, ...]]) -> None:
    """The EchoNumber (``acq``) of each frame of a file of several echo times: 1, 2, ... in the
    order dcm2niix meets the echoes, its frames sorted by ``sort_keys`` (:func:`dcm2niix_rank`).
    dcm2niix numbers so the volumes it writes one per echo (not by ascending echo time, nor by a
    Philips private per-frame EchoNumbers): each echo of a multi-echo time series gets the
    sidecar's EchoNumber (:func:`lazyvol.dicom.bids.annotate`)."""
    times = {fr.echo_time for fr in frames}
    if len(times) < 2 or None in times:
        return
    numbers: dict[float | None, int] = {}
    for i in sorted(range(len(frames)), key=sort_keys.__getitem__):
        numbers.setdefault(frames[i].echo_time, len(numbers) + 1)
    for fr in frames:
        fr.acq = {**(fr.acq or {}), "EchoNumber": numbers[fr.echo_time]}


def _pointer(item: Any) -> int:
    """An item's DimensionIndexPointer (0020,9165) as a tag, -1 where it is empty or malformed."""
    try:
        ptr = item.get("DimensionIndexPointer")
        tag = int(ptr) if ptr is not None else -1
    except (TypeError, ValueError, OverflowError):
        return -1
    return tag if 0 <= tag <= 0xFFFFFFFF else -1
