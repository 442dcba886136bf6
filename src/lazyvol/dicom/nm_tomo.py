"""Nuclear medicine tomographic reconstructions (SPECT): one frame record per slice.

An NM Image (SOP class 1.2.840.10008.5.1.4.1.1.20) has no functional groups. A reconstruction
(ImageType (0008,0008) value 3 ``RECON TOMO``) states where its slices lie by the NM Image IOD's
own rules (PS3.3 C.8.4.8 - C.8.4.15): the one item of Detector Information Sequence (0054,0022)
holds the first slice's ImagePositionPatient and the ImageOrientationPatient of all;
SpacingBetweenSlices (0018,0088) is the distance between slices, its sign the stacking direction
(positive: along the normal row x column, "behind the first slice"; negative: against it);
Frame Increment Pointer (0028,0009) = Slice Vector (0054,0080) says which slice each frame is
(1 = the first). Frame ``f`` lies at ``IPP + (SliceVector[f] - 1) * SpacingBetweenSlices *
normal``; the records then stack as any slices do (sorted, spacing checked, duplicates refused).

dcm2niix ignores the sign and the Slice Vector (its "Unable to determine slice direction"
warning; its issue 885: negative spacing flipped); SimpleITK ignores the Slice Vector. A file
whose frames vary by anything but slice (gated, dynamic or multi-detector frames), or whose
geometry is missing or malformed, is refused with the attribute named: never guessed.
"""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace
from typing import Any

import numpy as np

from .checks import placing_spacing_problem
from .frame_ranges import UNSUPPORTED_LAYOUT, frame_ranges
from .header_values import ValueReader, sequence_items
from .records import FrameRecord, number, upper_values
from .source import Fetch

__all__ = ["DETECTOR_SEQUENCE", "nm_tomo_file", "nm_tomo_frames", "nm_tomo_slice"]

#: Detector Information Sequence (0054,0022).
DETECTOR_SEQUENCE = 0x00540022
#: Slice Vector (0054,0080), the one Frame Increment Pointer of a reconstruction read here.
SLICE_VECTOR = 0x00540080
_NM_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.20"
_RECONSTRUCTIONS = ("RECON TOMO", "RECON GATED TOMO")
_SBS = "SpacingBetweenSlices (0018,0088)"
_ITEMS = "DetectorInformationSequence (0054,0022)"


def nm_tomo_file(rec: FrameRecord) -> bool:
    """Is ``rec`` (a multi-frame file without functional groups) an NM reconstruction?"""
    nm = rec.sop_class_uid == _NM_SOP_CLASS or rec.modality.strip().upper() == "NM"
    kind = upper_values(rec.image_type, strip=True)
    return nm and len(kind) > 2 and kind[2] in _RECONSTRUCTIONS


def _tags(values: list[Any] | None) -> list[int]:
    """Frame Increment Pointer's tags (read as pairs of 16-bit numbers: group, element; written
    with VR UL in an explicit-VR file, as some exporters write it: one 32-bit number each)."""
    v = [int(x) for x in values or ()]
    if any(x > 0xFFFF for x in v):
        return v
    return [(g << 16) | e for g, e in zip(v[::2], v[1::2], strict=False)]


def _whole(value: Any) -> int:
    """``value`` (a binary number, or text) as a whole number; ValueError when it is none."""
    n = number(value)
    if not n.is_integer():
        raise ValueError(f"not a whole number: {value!r}")
    return int(n)


def _geometry(raw: dict[int, Any]) -> tuple[np.ndarray, list[float]] | str:
    """(first slice's position, orientation) from the one detector item, or what is wrong."""
    elem = raw.get(DETECTOR_SEQUENCE)
    if elem is None:
        return f"{_ITEMS} is missing: where the slices lie is stated nowhere else"
    items = sequence_items(elem)
    if isinstance(items, str):
        return f"{_ITEMS} {items}"
    if not items:
        return f"{_ITEMS} has no item (a reconstruction has one)"
    stated = [_item_geometry(item) for item in items]
    if len(items) > 1 and any(g != stated[0] for g in stated[1:]):
        # (an item per detector head that agree state one geometry; items that differ, two)
        return f"{_ITEMS} has {len(items)} items of different geometry (a reconstruction has one)"
    if isinstance(stated[0], str):
        return stated[0]
    return np.asarray(stated[0][0]), stated[0][1]


def _item_geometry(item: Any) -> tuple[list[float], list[float]] | str:
    """(ImagePositionPatient, ImageOrientationPatient) of one detector item, or what is wrong."""
    found = []
    for name, n in (("ImagePositionPatient", 3), ("ImageOrientationPatient", 6)):
        try:
            values = [number(x) for x in item.get(name) or ()]
        except (TypeError, ValueError):
            values = []
        if len(values) != n or not all(math.isfinite(x) for x in values):
            return f"{name} in {_ITEMS} is missing or not {n} finite numbers"
        found.append(values)
    return found[0], found[1]


#: The other vectors a Frame Increment Pointer names (PS3.3 C.8.4.8.1.x; a gated reconstruction's
#: pointer is RRIntervalVector, TimeSlotVector, SliceVector), by tag.
_VECTORS = {
    0x00540010: "EnergyWindowVector",
    0x00540020: "DetectorVector",
    0x00540030: "PhaseVector",
    0x00540050: "RotationVector",
    0x00540060: "RRIntervalVector",
    0x00540070: "TimeSlotVector",
    0x00540090: "AngularViewVector",
    0x00540100: "TimeSliceVector",
}


def _constant(r: ValueReader, tag: int, n: int) -> bool:
    """Does vector ``tag`` hold one value for each of the ``n`` frames, the same for all (one
    gate, one energy window, ...: the frames differ by slice alone)?"""
    keyword = _VECTORS.get(tag)
    values = r.values(keyword) if keyword else None
    return values is not None and len(values) == n and len(set(values)) == 1


def _slices(rec: FrameRecord, r: ValueReader) -> tuple[list[int], float] | str:
    """(each frame's slice number, the signed spacing), or what is wrong."""
    pointer = _tags(r.values("FrameIncrementPointer"))
    n = rec.number_of_frames
    others = [t for t in pointer if t != SLICE_VECTOR]
    if pointer.count(SLICE_VECTOR) != 1 or not all(_constant(r, t, n) for t in others):
        named = ", ".join(f"({t >> 16:04X},{t & 0xFFFF:04X})" for t in pointer) or "nothing"
        return (
            f"FrameIncrementPointer (0028,0009) names {named}: lazyvol reads reconstructions "
            "whose frames are slices only (SliceVector (0054,0080), any other vector it names "
            "one value for all frames), not gated, dynamic or per-detector frames"
            f"{UNSUPPORTED_LAYOUT}"
        )
    try:  # (binary US; text written so is judged as DICOM's IS: '0_2' is no number)
        slices = [_whole(x) for x in r.values("SliceVector") or ()]
    except ValueError:
        return (
            f"SliceVector (0054,0080) = {r.values('SliceVector')!r} is not a list of whole numbers"
        )
    if len(slices) != n or not all(1 <= s <= n for s in slices):
        return f"SliceVector (0054,0080) = {slices[:8]}... is not one slice number (1 to {n}) per frame"
    twice = sorted({s for s in slices if slices.count(s) > 1})
    if twice:  # (two frames at one position: no volume, whichever were taken)
        frames = [f + 1 for f, s in enumerate(slices) if s == twice[0]]
        return (
            f"SliceVector (0054,0080) names slice {twice[0]} for frames {frames} "
            f"({len(twice)} slice number(s) given more than once): which frame is that slice is "
            "not known; the file is damaged (re-export it)"
        )
    sbs = rec.spacing_between_slices
    if sbs is None or not math.isfinite(sbs) or sbs == 0:
        return (
            f"{_SBS} is missing or zero: the distance between an NM reconstruction's slices is "
            "stated only there (lazyvol does not take SliceThickness for it)"
        )
    return placing_spacing_problem(sbs, "SpacingBetweenSlices", n) or (slices, sbs)


def nm_tomo_frames(rec: FrameRecord, raw: dict[int, Any], fetch: Fetch) -> list[FrameRecord] | str:
    """One record per frame of NM reconstruction ``rec``, each at its slice's position, or why
    the file cannot be read (:data:`~lazyvol.dicom.multiframe.UNSUPPORTED_LAYOUT` ends the
    reason of a valid file of a kind lazyvol does not read)."""
    plane = _geometry(raw)
    if isinstance(plane, str):
        return plane
    stated = _slices(rec, ValueReader(SimpleNamespace(_dict=raw)))
    if isinstance(stated, str):
        return stated
    ranges = frame_ranges(rec, rec.number_of_frames, fetch, raw.get(0x7FE00001))
    if isinstance(ranges, str):
        return ranges
    (first, iop), (slices, sbs) = plane, stated
    normal = np.cross(iop[:3], iop[3:])
    out = []
    for f, (s, frame_range) in enumerate(zip(slices, ranges, strict=True)):
        fr = copy.copy(rec)
        fr.frame = f
        fr.ipp = [float(x) for x in first + (s - 1) * sbs * normal]
        fr.iop = list(iop)
        fr.spacing_between_slices = abs(sbs)  # (the distance; its sign placed the slices)
        fr.pixel_offset, fr.pixel_length = frame_range
        out.append(fr)
    return out


def nm_tomo_slice(rec: FrameRecord, raw: dict[int, Any]) -> None:
    """A reconstruction of one frame: placed, as one of many frames is, by the detector item's
    ImagePositionPatient and ImageOrientationPatient (the NM Image IOD states them only there; a
    top-level pair some exporters add is not read over it). A file without a readable detector
    item keeps its top-level attributes (or is refused for lacking them, as before), and so does
    one whose SliceVector is not one slice number (or absent, a top-level position stated), or
    names another slice than the first without a SpacingBetweenSlices to place it by (a
    reconstruction split into one file per slice)."""
    plane = _geometry(raw)
    if isinstance(plane, str):
        return
    first, iop = plane
    vector = ValueReader(SimpleNamespace(_dict=raw)).values("SliceVector")
    if vector is None and rec.ipp is not None:
        return  # (which slice the file is, unstated: its own position says where it lies)
    vector = vector or [1]
    if len(vector) != 1:  # (not this file's own: a split file that kept its source's vector)
        return
    k, sbs = int(vector[0]), rec.spacing_between_slices
    if k != 1:
        if sbs is None or not math.isfinite(sbs) or sbs == 0:
            return
        first = first + (k - 1) * sbs * np.cross(iop[:3], iop[3:])
    rec.ipp, rec.iop = [float(x) for x in first], list(iop)
