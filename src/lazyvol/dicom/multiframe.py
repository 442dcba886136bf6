"""Enhanced multi-frame images: one frame record per frame from the functional groups.

Geometry comes from the Shared and Per-frame Functional Groups (PlanePositionSequence,
PlaneOrientationSequence, PixelMeasuresSequence, PixelValueTransformationSequence); the frames are
then sorted, split and stacked exactly as single-frame files are. Each frame's pixel bytes are
located here: native frames at ``offset + index * frame_bytes``; encapsulated frames from the Basic
Offset Table or, without one, from one fragment per frame (found by walking the item headers).
Files whose frames cannot be located unambiguously are refused, never guessed.
"""

from __future__ import annotations

import copy
import struct
from functools import partial
from typing import Any

from .bids import XA_BW_PHASE, XA_PE_POSITIVE, acq_value, pe_positive, xa_bandwidth
from .bids_enhanced import enhanced_group_values
from .dicom_time import frame_time, stated_datetime
from .dimension_index import dcm2niix_rank, dimensions, number_echoes
from .frame_diffusion import frame_diffusion
from .frame_ranges import UNSUPPORTED_LAYOUT, frame_ranges
from .group_check import group_problem, not_items, unreadable_item
from .header_values import _tag_str
from .image_type import KINDS_APART
from .records import (
    EXTRA_VALUES,
    ONE_VALUE_SPACING,
    FrameRecord,
    add_extra_values,
    drop_nonfinite,
    leading_numbers,
    number,
    spacing_pair,
)
from .siemens_sidecar import SERIES_AT, xa_group_values
from .source import Fetch, read_local
from .vendor import philips_rwv, vendor_of
from .xa_private import SDI_CREATOR, sdi_element, xa_protocol_at

__all__ = [
    "PRIVATE_ORIENTATION",
    "PRIVATE_POSITION",
    "TOP_LEVEL_ORIENTATION",
    "TOP_LEVEL_SPACING",
    "UNSUPPORTED_LAYOUT",
    "expand_frames",
    "frame_ranges",
]

#: ``FrameRecord.acq`` keys of a frame whose PixelSpacing / ImageOrientationPatient is its
#: file's top-level one (its functional groups hold none; see
#: :func:`lazyvol.dicom.stack_notes.top_level_notes`).
TOP_LEVEL_SPACING = "_top_level_spacing"
TOP_LEVEL_ORIENTATION = "_top_level_orientation"
#: ``FrameRecord.acq`` keys of a Philips frame whose ImagePositionPatient /
#: ImageOrientationPatient comes from its private per-frame sequence (2005,140F) (its public
#: functional groups hold none).
PRIVATE_POSITION = "_philips_private_position"
PRIVATE_ORIENTATION = "_philips_private_orientation"
#: The Philips private per-frame sequence (2005,140F) (Philips MR Imaging DD 005).
PHILIPS_PRIVATE_SEQUENCE = 0x2005140F


def _find(groups: list[Any], seq: str, attr: str, empty: Any = None) -> Any:
    """``attr`` of the first item of ``seq`` in the first group with a value (else ``empty``)."""
    found = None
    for g in groups:
        s = g.get(seq) if g is not None else None
        if s:
            value = s[0].get(attr)
            if value is not None and value != "":
                return value
            found = empty if attr in s[0] else found
    return found


def _floats(
    value: Any, n: int, extra: list[str] | None = None, name: str = ""
) -> list[float] | None:
    """``n`` numbers, or the first ``n`` of more whose extra ones are empty or numbers (as
    dcm2niix reads them; ``name`` then added to ``extra``: :data:`EXTRA_VALUES`)."""
    if value is None:
        return None
    try:
        out = [number(v) for v in value]
    except (TypeError, ValueError):
        out = []
    if len(out) == n:
        return out
    more = hasattr(value, "__len__") and not isinstance(value, str) and len(value) > n
    lead = leading_numbers(value, n)[0] if more else None
    if lead is not None and extra is not None:
        extra.append(name)
    return lead


def _num(value: Any, fr: FrameRecord | None = None, name: str = "") -> float | None:
    """``value`` as a number, None when absent or not a number (noted in ``fr.bad_attributes``)."""
    try:  # (None: a TypeError)
        return number(value)
    except (TypeError, ValueError):
        if fr is not None and value is not None and (value == "" or str(value).strip(" \x00")):
            note = f"{name}={str(value)!r} is not a number"  # (refused or said, as top-level)
            fr.bad_attributes = [*(fr.bad_attributes or []), note]
        return None


def _drop_unused_rescale_notes(
    rec: FrameRecord, fr: FrameRecord, slope: float | None, inter: float | None
) -> None:
    """Drop from ``fr.bad_attributes`` the file's top-level RescaleSlope / RescaleIntercept notes
    (not a number, not finite) where the frame's PixelValueTransformationSequence states its own:
    those top-level values are never read, so they are no reason to refuse the frame."""
    names = [n for n, v in (("RescaleSlope", slope), ("RescaleIntercept", inter)) if v is not None]
    if not names or not rec.bad_attributes:
        return
    unused = tuple(f"{n} {_tag_str(n)}=" for n in names)  # (as header_values writes the notes)
    top = [note for note in rec.bad_attributes if note.startswith(unused)]
    fr.bad_attributes = [n for n in fr.bad_attributes or [] if n not in top] or None


def _sequence(elem: Any) -> list[Any]:
    """Items of a sequence element, converting pydicom's raw (unparsed) form if needed."""
    if elem is None:
        return []
    from pydicom.dataelem import RawDataElement, convert_raw_data_element

    if isinstance(elem, RawDataElement):
        elem = convert_raw_data_element(elem)
    return list(elem.value or [])


_FRAME_TYPE_SEQS = ("MRImageFrameTypeSequence", "CTImageFrameTypeSequence")
_PM, _PVT = "PixelMeasuresSequence", "PixelValueTransformationSequence"
_INDEX_VALUES = ("FrameContentSequence", "DimensionIndexValues")


#: Acquisition values enhanced files keep in functional groups rather than at the top level:
#: (sequence, attribute, BIDS key, kind); kinds as :data:`lazyvol.dicom.bids.BIDS_TAGS`.
_GROUP_VALUES: tuple[tuple[str, str, str, str], ...] = (
    ("MRTimingAndRelatedParametersSequence", "RepetitionTime", "RepetitionTime", "ms"),
    ("MRTimingAndRelatedParametersSequence", "FlipAngle", "FlipAngle", "float"),
    ("MRTimingAndRelatedParametersSequence", "EchoTrainLength", "EchoTrainLength", "int"),
    ("MRModifierSequence", "InversionTimes", "InversionTime", "ms"),
    ("MRAveragesSequence", "NumberOfAverages", "NumberOfAverages", "g"),
    ("MRImagingModifierSequence", "PixelBandwidth", "PixelBandwidth", "float"),
    ("MRImagingModifierSequence", "TransmitterFrequency", "ImagingFrequency", "double"),
    ("MRFOVGeometrySequence", "PercentPhaseFieldOfView", "PercentPhaseFOV", "g"),
    ("MRFOVGeometrySequence", "PercentSampling", "PercentSampling", "g"),
    ("MRModifierSequence", "ParallelReductionFactorInPlane", "ParallelReductionFactorInPlane", "g"),
    (
        "MRModifierSequence",
        "ParallelReductionFactorOutOfPlane",
        "ParallelReductionFactorOutOfPlane",
        "g",
    ),
    (
        "MRFOVGeometrySequence",
        "InPlanePhaseEncodingDirection",
        "InPlanePhaseEncodingDirectionDICOM",
        "rc",
    ),
)

_REDUCTION_FACTORS = ("ParallelReductionFactorInPlane", "ParallelReductionFactorOutOfPlane")


def _group_values(
    groups: list[Any], base: dict[str, Any] | None, siemens: bool
) -> dict[str, Any] | None:
    """The file's acquisition values (``base``) updated with the frame's functional-group ones
    (RepetitionTime, FlipAngle, ... of the MR Timing and Related Parameters macro, the in-plane
    phase-encoding direction of the MR FOV/Geometry macro and, in a Siemens file, the polarity
    (0021,111C) of its private sequence (0021,11FE)). A frame's TimeAfterStart is its own or
    none: the file's values hold the first frame's (read where the header scan met it)."""
    if base and "_time_after_start" in base:
        base = {k: v for k, v in base.items() if k != "_time_after_start"}
    found: dict[str, Any] = {}
    for seq, attr, key, kind in _GROUP_VALUES:
        value = _find(groups, seq, attr)
        if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
            value = value[0] if len(value) else None
        got = None if value is None else acq_value(kind, value)
        if got is not None:
            found[key] = got
    for key in _REDUCTION_FACTORS:  # (as dcm2niix: none below 1, Siemens' in-plane one above 1)
        if key in found and (found[key] < 1 or (siemens and ("OutOf" in key or found[key] <= 1))):
            del found[key]
    positive = _xa_private(groups, XA_PE_POSITIVE, pe_positive) if siemens else None
    if positive is not None:
        found["_pe_positive"] = positive
    bw = _xa_private(groups, XA_BW_PHASE, xa_bandwidth, whole=True) if siemens else None
    if bw is not None:
        found["BandwidthPerPixelPhaseEncode"] = bw
    found.update(enhanced_group_values(groups, _find, siemens))
    found.update(xa_group_values(partial(_xa_private, groups)) if siemens else {})
    if not found:
        return base
    return {**(base or {}), **found}


def _xa_private(
    groups: list[Any], tag: int, read: Any, whole: bool = False, creator: str = SDI_CREATOR
) -> Any:
    """The value ``read`` gives (None: none) of Siemens XA element ``tag`` in the first functional
    group whose private sequence (0021,11FE) states it: the polarity (0021,111C) (see
    :data:`lazyvol.dicom.bids.XA_PE_POSITIVE`), the phase-encode bandwidth (0021,1153); in the
    block whose creator is "SIEMENS MR SDI 02" wherever a PACS moved it
    (:mod:`lazyvol.dicom.xa_private`); ``creator`` "SIEMENS MR SDS 01": its sequence (0021,10FE).
    ``whole``: ``read`` takes the element, else its value."""
    for g in groups:
        if g is None:
            continue
        try:
            items = _sequence(sdi_element(g, 0xFE, creator))
            elems = [sdi_element(item, tag & 0xFF, creator) for item in items]
        except (TypeError, ValueError, AttributeError, KeyError):
            continue  # (a private sequence pydicom cannot parse: not read)
        for elem in elems:
            if elem is None:
                continue
            value = read(elem) if whole else read(getattr(elem, "value", None))
            if value is not None:
                return value
    return None


def _private_items(groups: list[Any]) -> list[Any]:
    """The first item of the Philips private per-frame sequence (2005,140F) of each functional
    group that has one (the frame's own group first)."""
    found = []
    for g in groups:
        if g is None:
            continue
        try:
            elem = g.get(PHILIPS_PRIVATE_SEQUENCE)
            items = _sequence(elem) if elem is not None else []
        except (TypeError, ValueError, AttributeError, KeyError):
            continue  # (a private sequence pydicom cannot parse: not read)
        if items and hasattr(items[0], "get"):
            found.append(items[0])
    return found


def _philips_scale_slope(items: list[Any]) -> float | None:
    """Philips (2005,100E) scale slope of the first private per-frame item stating one."""
    for item in items:
        try:
            v = item.get(0x2005100E)
            if v is None:
                continue
            value = v.value
            if isinstance(value, bytes | bytearray):
                if len(value) != 4:
                    continue
                value = struct.unpack("<f", value)[0]
            f = number(value[0] if isinstance(value, list | tuple) else value)
        except (TypeError, ValueError, AttributeError, KeyError):
            continue
        if f and f == f and abs(f) != float("inf"):
            return f
    return None


def _philips_frame(fr: FrameRecord, groups: list[Any]) -> None:
    """A Philips frame's scale slope (2005,100E) and real-world value mapping (dcm2niix's
    scalings), and, where its public functional groups hold none, the ImagePositionPatient /
    ImageOrientationPatient of its private per-frame sequence (2005,140F), as dcm2niix takes
    them (a PACS or anonymiser may strip the public ones; noted, see
    :func:`lazyvol.dicom.stack_notes.top_level_notes`)."""
    private = _private_items(groups)
    ss = _philips_scale_slope(private)
    fr.philips_scale_slope = ss if ss is not None else fr.philips_scale_slope
    rwv = next(
        (
            g.get("RealWorldValueMappingSequence")
            for g in groups
            if g is not None and g.get("RealWorldValueMappingSequence")
        ),
        None,
    )
    if rwv:
        fr.philips_rwv, problem = philips_rwv(list(rwv))
        if problem:
            fr.bad_attributes = [*(fr.bad_attributes or []), problem]
    taken = {}
    for attr, n, key in (
        ("ImagePositionPatient", 3, PRIVATE_POSITION),
        ("ImageOrientationPatient", 6, PRIVATE_ORIENTATION),
    ):
        field = "ipp" if n == 3 else "iop"
        if getattr(fr, field) is None:
            value = next((v for it in private if (v := _floats(it.get(attr), n))), None)
            if value is not None:
                setattr(fr, field, value)
                taken[key] = True
    if taken:
        fr.acq = {**(fr.acq or {}), **taken}


def expand_frames(
    rec: FrameRecord, raw: dict[int, Any], fetch: Fetch = read_local
) -> list[FrameRecord] | str:
    """Per-frame records of an enhanced multi-frame file, or the reason it cannot be read.

    ``fetch`` reads the item headers of encapsulated Pixel Data (local file or remote object).
    """
    nframes = rec.number_of_frames
    shared_el = raw.get(0x52009229)
    per_el = raw.get(0x52009230)
    if per_el is None:
        return (
            f"multi-frame image (NumberOfFrames (0028,0008) = {nframes}) without per-frame "
            "functional groups (PerFrameFunctionalGroupsSequence (5200,9230)): frame geometry "
            f"unknown{UNSUPPORTED_LAYOUT}"
        )
    shared_seq, per = _sequence(shared_el), _sequence(per_el)
    elements = {0x52009229: shared_el, 0x52009230: per_el}
    if problem := not_items(elements, {0x52009229: shared_seq, 0x52009230: per}):
        return problem
    shared = shared_seq[0] if shared_seq else None
    if vendor_of(rec.manufacturer) == "SIEMENS" and SERIES_AT not in (rec.acq or {}):
        at = xa_protocol_at(shared_el, shared)  # (Siemens XA: read once per volume, at stacking)
        if at is not None:
            rec.acq = {**(rec.acq or {}), SERIES_AT: at}
    if len(per) != nframes:
        return (
            f"PerFrameFunctionalGroupsSequence (5200,9230) has {len(per)} items but NumberOfFrames "
            f"(0028,0008) is {nframes}"
        )
    ranges = frame_ranges(rec, nframes, fetch, raw.get(0x7FE00001))
    if isinstance(ranges, str):
        return ranges
    problem = group_problem(shared, per)
    if problem:
        return problem
    dim_keep, dim_names, dim_order = dimensions(_sequence(raw.get(0x00209222)))
    dims = (dim_keep, dim_names)
    frames = []
    for i in range(nframes):
        try:
            frames.append(_frame_record(rec, [per[i], shared], i, ranges[i], dims))
        except Exception as exc:  # (what group_problem does not catch: named, with the item)
            return unreadable_item(i, nframes, exc)
    sort_keys = [
        dcm2niix_rank(_find([per[i], shared], *_INDEX_VALUES), dim_order, i) for i in range(nframes)
    ]
    number_echoes(frames, sort_keys)
    if vendor_of(rec.manufacturer) == "PHILIPS" and len({f.complex_component for f in frames}) > 1:
        for f in frames:  # (dcm2niix's ImageType of each kind: image_type.KINDS_APART)
            f.acq = {**(f.acq or {}), KINDS_APART: True}
    return frames


def _measures(groups: list[Any], fr: FrameRecord) -> None:
    """``fr``'s SliceThickness and SpacingBetweenSlices from its Pixel Measures, else the file's
    own top-level ones it holds (dcm2niix reads (0018,0050) and (0018,0088) wherever they are,
    the last read winning: the groups', else the top level's)."""
    thick = _find(groups, _PM, "SliceThickness")
    if thick is not None:
        fr.slice_thickness = _num(thick, fr, "SliceThickness (0018,0050)")
    between = _find(groups, _PM, "SpacingBetweenSlices")
    if between is not None:
        fr.spacing_between_slices = _num(between, fr, "SpacingBetweenSlices (0018,0088)")


def _frame_plane(fr: FrameRecord, groups: list[Any], extra: list[str]) -> tuple[Any, str]:
    """Set ``fr``'s position, orientation and pixel spacing from its functional groups; the
    PixelSpacing value found and how it was read (:func:`~.records.spacing_pair`). Attributes
    read by their leading values are added to ``extra``."""
    ipp = _find(groups, "PlanePositionSequence", "ImagePositionPatient")
    fr.ipp = _floats(ipp, 3, extra, "ImagePositionPatient")
    iop = _find(groups, "PlaneOrientationSequence", "ImageOrientationPatient")
    fr.iop = _floats(iop, 6, extra, "ImageOrientationPatient")
    spacing = _find(groups, _PM, "PixelSpacing")
    fr.pixel_spacing, read_as = spacing_pair(spacing)
    extra += ["PixelSpacing"] if read_as == EXTRA_VALUES else []
    return spacing, read_as


def _frame_record(
    rec: FrameRecord,
    groups: list[Any],
    i: int,
    frame_range: tuple[int, int],
    dims: tuple[list[int], list[str]],
) -> FrameRecord:
    """Record of frame ``i`` from its per-frame and the shared functional groups."""
    dim_keep, dim_names = dims
    nframes = rec.number_of_frames
    fr = copy.copy(rec)
    fr.frame = i
    extra: list[str] = []  # (attributes read by their leading values: EXTRA_VALUES)
    spacing, read_as = _frame_plane(fr, groups, extra)
    if spacing is not None and fr.pixel_spacing is None and (nframes > 1 or not rec.pixel_spacing):
        note = f"PixelSpacing (0028,0030)={str(spacing)!r} is not one or two numbers"
        fr.bad_attributes = [*(fr.bad_attributes or []), note]  # (refused, as a top-level one)
    if nframes == 1:  # the file's own geometry first (dcm2niix's choice), else its frame's
        fr.ipp = fr.ipp if rec.ipp is None else rec.ipp
        fr.iop = fr.iop if rec.iop is None else rec.iop
        fr.pixel_spacing = fr.pixel_spacing if rec.pixel_spacing is None else rec.pixel_spacing
    _measures(groups, fr)
    slope = _num(_find(groups, _PVT, "RescaleSlope", ""), fr, "RescaleSlope (0028,1053)")
    inter = _num(_find(groups, _PVT, "RescaleIntercept", ""), fr, "RescaleIntercept (0028,1052)")
    fr.rescale_slope = rec.rescale_slope if slope is None else slope
    fr.rescale_intercept = rec.rescale_intercept if inter is None else inter
    _drop_unused_rescale_notes(rec, fr, slope, inter)
    tpi = _num(_find(groups, "FrameContentSequence", "TemporalPositionIndex"))
    # (a one-frame file without it in its groups: its own TemporalPositionIdentifier)
    own = rec.temporal_position if nframes == 1 else None
    fr.temporal_position = int(tpi) if tpi is not None else own
    echo = _num(_find(groups, "MREchoSequence", "EffectiveEchoTime"))
    fr.echo_time = echo if echo is not None else rec.echo_time
    frame_diffusion(fr, groups, _find, _floats)
    for seq in _FRAME_TYPE_SEQS:
        ftype = _find(groups, seq, "FrameType")
        if ftype:
            fr.file_image_type = list(rec.image_type or [])  # (the sidecar's; [] none)
            fr.image_type = [str(t) for t in (ftype if not isinstance(ftype, str) else [ftype])]
            comp = _find(groups, seq, "ComplexImageComponent")
            fr.complex_component = str(comp) if comp else rec.complex_component
            break
    dim_values = _find(groups, *_INDEX_VALUES)
    if dim_keep and dim_values is not None:
        vals = list(dim_values) if not isinstance(dim_values, int) else [dim_values]
        if max(dim_keep) < len(vals):
            fr.dimension_values = [int(vals[n]) for n in dim_keep]
            fr.dimension_names = list(dim_names)
    stamp = _find(groups, "FrameContentSequence", "FrameAcquisitionDateTime")
    acq = frame_time(stamp)
    if acq is not None:
        fr.file_acquisition = [rec.acquisition_time or "", rec.acquisition_datetime]
        fr.acquisition_time = acq
        # the whole value, date included (the frame's own, never the file's date with its time)
        fr.acquisition_datetime = stated_datetime("", "", str(stamp or ""))
    trig = _num(_find(groups, "CardiacSynchronizationSequence", "NominalCardiacTriggerDelayTime"))
    fr.trigger_time = trig if trig is not None else rec.trigger_time
    # the file's InstanceNumber (volumes stored one file each are ranked by it, then frame)
    fr.instance_number = rec.instance_number if rec.instance_number is not None else 1
    fr.number_of_frames = nframes
    if nframes > 1:  # (one frame is read as a single-frame file's Pixel Data is)
        fr.pixel_offset, fr.pixel_length = frame_range
    stack = _find(groups, "FrameContentSequence", "StackID")
    fr.stack_id = str(stack).strip() if stack is not None else ""
    fr.acq = _group_values(groups, rec.acq, vendor_of(rec.manufacturer) == "SIEMENS")
    fr.convolution_kernel = (fr.acq or {}).get("ConvolutionKernel", rec.convolution_kernel)
    if vendor_of(rec.manufacturer) == "PHILIPS":
        _philips_frame(fr, groups)
    # No Pixel Measures or Plane Orientation functional group (which the enhanced IODs require)
    # but a PixelSpacing or ImageOrientationPatient at the top level (a non-conformant
    # conversion): the file's only value, so taken, as dcm2niix takes it, and said
    # (stack_notes.top_level_notes). (A top-level ImagePositionPatient is one position: it cannot
    # place several frames, so a frame without its own stays refused.)
    taken = {}
    if fr.pixel_spacing is None and rec.pixel_spacing is not None:
        fr.pixel_spacing = rec.pixel_spacing
        taken[TOP_LEVEL_SPACING] = True
    if fr.iop is None and rec.iop is not None:
        fr.iop = rec.iop
        taken[TOP_LEVEL_ORIENTATION] = True
    if taken:
        fr.acq = {**(fr.acq or {}), **taken}
    drop_nonfinite(fr)
    if fr.pixel_spacing is not rec.pixel_spacing:  # the frame's own: its own count of values
        fr.acq = {k: v for k, v in (fr.acq or {}).items() if k != ONE_VALUE_SPACING} or None
        if read_as == ONE_VALUE_SPACING:
            fr.acq = {**(fr.acq or {}), ONE_VALUE_SPACING: True}
    fr.acq = add_extra_values(fr.acq, extra)
    return fr
