"""Split one SeriesInstanceUID's frame records into stackable groups, each split with its reason.

A group holds records that one volume can hold: the same Rows/Columns, stored dtype, pixel
spacing, orientation, study and patient, frame of reference, image kind (magnitude/phase/maps),
localizer or not. Multi-echo time series split per echo and Philips isotropic (trace) images
split from the directions, as dcm2niix does.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from .bids import protocol_name
from .bids_pet import RECONSTRUCTIONS
from .checks import same_orientation
from .echo_split import split_echo_series
from .ge_phase import split_reversed
from .label_split import split_interleaved_volumes
from .model import FLOAT_PIXEL_VRS, SPLIT_VALUES
from .parameter_split import split_parameter_series
from .records import FrameRecord, upper_values
from .spacing_groups import spacing_labels, spacing_text
from .stack_notes import image_count
from .stated_counts import CONCATENATION_KEY
from .vendor import malformed_diffusion, vendor_of

__all__ = [
    "component_conflict",
    "image_component",
    "multi_frame_image",
    "most_common",
    "split_series",
    "usual_orientation",
]


def _orientation_labels(records: list[FrameRecord]) -> tuple[list[int], list[list[float]]]:
    """Cluster ImageOrientationPatient values (:func:`~lazyvol.dicom.checks.same_orientation`):
    each record's cluster (-1 for missing) and each cluster's first value.

    The values are taken most common first (the lowest of a tie), each joining the first cluster
    whose first value it matches: the clusters, their numbers and first values depend on the
    values only, never on the files' names or order.
    """
    counts = Counter(_iop_key(rec.iop) for rec in records if rec.iop is not None)
    reps: list[tuple[float, ...]] = []
    label_of: dict[tuple[float, ...], int] = {}
    for iop in sorted(counts, key=lambda v: (-counts[v], v)):
        n = next((n for n, rep in enumerate(reps) if same_orientation(iop, rep)), len(reps))
        if n == len(reps):
            reps.append(iop)
        label_of[iop] = n
    labels = [-1 if rec.iop is None else label_of[_iop_key(rec.iop)] for rec in records]
    return labels, [list(rep) for rep in reps]


#: The one NaN an orientation's key holds (a NaN equals only itself: each frame's own NaN made
#: every frame of a file with a NaN ImageOrientationPatient a series of its own in the scan).
_NAN = math.nan


def _iop_key(iop: list[float]) -> tuple[float, ...]:
    """An orientation as a key equal for equal values, NaN included."""
    key = tuple(iop)
    try:
        if math.isfinite(sum(key)):  # no NaN (nor infinity) in it: the values are the key
            return key
    except (TypeError, OverflowError):
        pass
    return tuple(_NAN if x != x else x for x in key)


def usual_orientation(records: list[FrameRecord]) -> list[float] | None:
    """The ImageOrientationPatient most of ``records`` state (the lowest of a tie), or None when
    none states one: the one a volume's affine uses, whatever the files' names or order (the
    orientations of one volume agree within :data:`~lazyvol.dicom.checks.ORIENTATION_TOL`)."""
    stated = [tuple(rec.iop) for rec in records if rec.iop is not None]
    return list(most_common(stated)) if stated else None


def _fmt_iop(iop: list[float] | None) -> str:
    return "missing" if iop is None else "[" + ", ".join(f"{v:.4g}" for v in iop) + "]"


#: ImageType (0008,0008) / FrameType (0008,9007) values naming what a pixel value is: images of
#: different kinds at the same positions are separate volumes, never a 4th axis.
_FIELD_MAP_TYPES = frozenset({"B0 MAP", "B0MAP", "B0_MAP", "FIELD_MAP", "FIELDMAP", "B0"})
_COMPONENT_TYPES = {
    "M": "MAGNITUDE",
    "MAGNITUDE": "MAGNITUDE",
    "P": "PHASE",
    "PHASE": "PHASE",
    "PHASE MAP": "PHASE",
    "R": "REAL",
    "REAL": "REAL",
    "I": "IMAGINARY",
    "IMAGINARY": "IMAGINARY",
}
_DERIVED_MAP_TYPES = frozenset(
    {"ADC", "EADC", "FA", "TRACEW", "TRACE", "ISOTROPIC", "T1 MAP", "T2 MAP"}
)


def image_component(rec: FrameRecord) -> str:
    """What the pixel values are: MAGNITUDE, PHASE, REAL, IMAGINARY, FIELD_MAP, a derived map, or "".

    From ImageType (0008,0008) (per frame: FrameType (0008,9007)) and ComplexImageComponent
    (0008,9208); vendor spellings (Philips ``M_FFE`` / ``P_SE``, Siemens ``M`` / ``P``) included.
    """
    tokens = _type_tokens(rec.image_type)
    if any(t in _FIELD_MAP_TYPES for t in tokens):
        return "FIELD_MAP"
    for t in tokens:
        if t in _DERIVED_MAP_TYPES:
            return t.replace(" ", "_")
    cic = (rec.complex_component or "").strip().upper()
    if cic in _CIC_VALUES:
        return cic
    return _type_component(tokens)


_CIC_VALUES = ("MAGNITUDE", "PHASE", "REAL", "IMAGINARY")


def component_conflict(rec: FrameRecord) -> str:
    """The complex component ImageType names when ComplexImageComponent (0008,9208) or GE's
    image kind (0043,102F), which :func:`image_component` goes by, names another; else ""."""
    cic = (rec.complex_component or "").strip().upper()
    typed = _type_component(_type_tokens(rec.image_type))
    return typed if cic in _CIC_VALUES and typed and typed != cic else ""


def _type_tokens(image_type: list[str] | None) -> tuple[str, ...]:
    """ImageType's values stripped and upper-cased, as :func:`image_component` and
    :func:`component_conflict` compare them (:func:`~lazyvol.dicom.records.upper_values`)."""
    return upper_values(image_type, strip=True)


def _type_component(tokens: Sequence[str]) -> str:
    """The complex component ImageType's values name (from its third value on), or ""."""
    for t in tokens[2:]:
        if t in _COMPONENT_TYPES:
            return _COMPONENT_TYPES[t]
        head = t.split("_", 1)[0]
        if "_" in t and head in ("M", "P", "R", "I"):
            return _COMPONENT_TYPES[head]
    return ""


def _pixel_kind(r: FrameRecord) -> str:
    """Integer pixels of a stored dtype lazyvol reads, whichever it is, are one kind; float Pixel
    Data, and a file whose stored dtype is not one lazyvol reads (BitsAllocated 1 or 12,
    PixelRepresentation 2), are groups of their own, as they were when the stored dtype split
    groups. (A BitsStored beyond BitsAllocated does not split: the series fails, naming it.)"""
    if r.pixel_vr in FLOAT_PIXEL_VRS:
        return {"OF": "float", "OD": "double float"}[r.pixel_vr]
    ba, pr = r.bits_allocated, r.pixel_representation
    return "integer" if ba in (8, 16, 32) and pr in (0, 1) else f"{ba}/{pr}"


_MONOCHROME = {"MONOCHROME1": "MONOCHROME", "MONOCHROME2": "MONOCHROME"}

_SPLITS: tuple[tuple[str, Callable[[FrameRecord], Any]], ...] = (
    ("Rows/Columns (0028,0010)/(0028,0011)", lambda r: f"{r.rows}x{r.columns}"),
    ("ImageType LOCALIZER (0008,0008)", lambda r: "localizer" if r.is_localizer else "image"),
    (
        # Integer images of one series may differ in BitsAllocated, BitsStored and
        # PixelRepresentation (CT slices whose HighBit follows the slice's maximum; slices
        # stored 8 or 16 bits, signed or not): each frame is read its own way
        # (FrameTable.stored_bits/stored_types) into a dtype holding them all, as dcm2niix
        # stacks them. Float Pixel Data is another kind of image.
        "Pixel Data kind (7FE0,0010)/(7FE0,0008)/(7FE0,0009) or unreadable "
        "BitsAllocated/PixelRepresentation (0028,0100)/(0028,0103)",
        _pixel_kind,
    ),
    (
        # MONOCHROME1 and MONOCHROME2 images stack: their stored values mean the same thing (the
        # photometric says how to display them); a warning says when they mix.
        "SamplesPerPixel/PhotometricInterpretation (0028,0002)/(0028,0004)",
        lambda r: f"{r.samples_per_pixel}/{_MONOCHROME.get(r.photometric, r.photometric)}",
    ),
    # within a series, values one rounding apart are one spacing (spacing_groups.spacing_labels)
    ("PixelSpacing (0028,0030)", lambda r: spacing_text(r)),
    (
        "NumberOfFrames (0028,0008)",
        lambda r: "multi-frame" if multi_frame_image(r) else "single-frame",
    ),
    (
        "image kind ImageType/FrameType/ComplexImageComponent (0008,0008)/(0008,9007)/(0008,9208)"
        " or GE's image kind (0043,102F)",
        lambda r: image_component(r) or "image",
    ),
)


def _split_where_differs(
    keyed: dict[tuple[str, ...], list[FrameRecord]],
    name: str,
    label: str,
    value: Callable[[FrameRecord], str],
    stated: bool = False,
    numbered: bool = False,
) -> str:
    """Split (in place) each group whose records differ in ``value`` (the attribute ``name``).

    Only such groups get ``"<label> <value>"`` in their key, so the volume ids (a hash of the
    key) of every other group stay what they were before the attribute was considered.
    ``stated``: only groups where two records state different values split (a value left out,
    "missing", as an anonymiser blanks it, splits nothing alone). ``numbered``: the values are
    shown (in the key and the reason) as their rank among the group's (``"<label> 1"``, ...), never
    themselves (a patient's identifier). Returns the split reason or ""."""
    split: dict[str, list[FrameRecord]] = defaultdict(list)
    for key in list(keyed):
        recs = keyed[key]
        if len({value(r) for r in recs} - ({"missing"} if stated else set())) < 2:
            continue
        del keyed[key]
        ranks = {v: str(n) for n, v in enumerate(sorted({value(r) for r in recs}), start=1)}
        for r in recs:
            shown = ranks[value(r)] if numbered else value(r)
            keyed.setdefault((*key, f"{label} {shown}"), []).append(r)
            split[f"{label} {shown}" if numbered else shown].append(r)
    return _differs(name, split) if split else ""


def _split_component_conflicts(keyed: dict[tuple[str, ...], list[FrameRecord]]) -> str:
    """Images whose ImageType names another complex component than their ComplexImageComponent
    or GE (0043,102F) says (:func:`component_conflict`) are not stacked with images that agree
    (phase-labelled images in a magnitude 4D), as dcm2niix splits them by ImageType; a group
    whose images all disagree alike stays as it was (a warning names the disagreement)."""
    return _split_where_differs(
        keyed,
        "ImageType (0008,0008) component against ComplexImageComponent/(0043,102F)",
        "ImageType component",
        lambda r: component_conflict(r) or "agrees",
    )


def _split_original_derived(keyed: dict[tuple[str, ...], list[FrameRecord]]) -> str:
    """ORIGINAL and DERIVED images (the first value of ImageType (0008,0008)) of one series are
    not stacked together: a derived copy or reformat at the same positions would become more
    time points of the original. dcm2niix splits them too. Only single-frame images: the frames
    of an enhanced file carry a per-frame FrameType, some of them DERIVED, and stack as one
    volume (as dcm2niix stacks them)."""
    return _split_where_differs(
        keyed,
        "ImageType (0008,0008) value 1 (ORIGINAL/DERIVED)",
        "ImageType",
        _original_or_derived,
    )


def multi_frame_image(r: FrameRecord) -> bool:
    """Whether ``r`` is a frame of a multi-frame image: of a file of several frames, or of a part
    of a concatenation (ConcatenationUID (0020,9161)), which may hold one frame (the last part of
    600 + 600 + 1 frames) and is a part of a multi-frame image all the same."""
    return r.number_of_frames != 1 or CONCATENATION_KEY in (r.acq or {})


def _original_or_derived(r: FrameRecord) -> str:
    if multi_frame_image(r):
        return ""
    first = str(r.image_type[0]).strip().upper() if r.image_type else ""
    return "DERIVED" if first == "DERIVED" else "ORIGINAL or not stated"


def _split_photometric_copies(keyed: dict[tuple[str, ...], list[FrameRecord]]) -> str:
    """MONOCHROME1 and MONOCHROME2 images stack, but not two copies of one series, one of each
    (the same SOPInstanceUIDs, one copy inverted): those stay apart, each under the key it had
    when the photometric split every group, and so its old volume id."""
    note = ""
    for key in list(keyed):
        recs = keyed[key]
        by_photometric: dict[str, set[str]] = defaultdict(set)
        for r in recs:
            by_photometric[r.photometric].add(r.sop_instance_uid)
        if len(by_photometric) < 2 or not set.intersection(*by_photometric.values()) - {""}:
            continue
        del keyed[key]
        for r in recs:
            spelled = list(key)
            spelled[_PHOTOMETRIC_SPLIT] = f"{r.samples_per_pixel}/{r.photometric}"
            keyed.setdefault(tuple(spelled), []).append(r)
        note = (
            "PhotometricInterpretation (0028,0004) differs between copies of the same images "
            "(SOPInstanceUIDs in both): one volume per photometric"
        )
    return note


def _split_frames_of_reference(keyed: dict[tuple[str, ...], list[FrameRecord]]) -> str:
    """Positions in two frames of reference are in two coordinate systems: stacking them would
    place slices by numbers that do not compare (see :func:`_split_where_differs`)."""
    return _split_where_differs(
        keyed,
        "FrameOfReferenceUID (0020,0052)",
        "frame of reference",
        lambda r: r.frame_of_reference_uid or "missing",
    )


def _split_series_numbers(keyed: dict[tuple[str, ...], list[FrameRecord]]) -> str:
    """Two SeriesNumbers under one SeriesInstanceUID are two runs (an export or anonymiser that
    reused the UID): stacked, their slices interleaved into one volume of half the spacing."""
    return _split_where_differs(
        keyed,
        "SeriesNumber (0020,0011)",
        "series number",
        lambda r: "missing" if r.series_number is None else str(r.series_number),
    )


def _protocol(r: FrameRecord) -> str:
    """A record's ProtocolName as dcm2niix reads it (:func:`lazyvol.dicom.bids.protocol_name`),
    "missing" when it has none."""
    acq = r.acq or {}
    stated = {k: acq.get(k) for k in ("ProtocolName", "SequenceName")}
    stated["SeriesDescription"] = r.series_description
    return protocol_name(stated, vendor_of(r.manufacturer or "")) or "missing"


def _split_protocols(keyed: dict[tuple[str, ...], list[FrameRecord]]) -> str:
    """Images of one series under two protocol names are two acquisitions (a b = 0 run and a DWI
    under one SeriesInstanceUID, a run repeated with its protocol renamed): dcm2niix never stacks
    them ("protocol name varies"; its name falls back on SeriesDescription). Split where the
    names stated differ. A name left out or blank on some images (an anonymiser's work; dcm2niix
    would split them off) splits nothing alone: their volume would lose those slices."""
    return _split_where_differs(
        keyed, "ProtocolName (0018,1030)", "protocol", _protocol, stated=True
    )


def _split_studies(keyed: dict[tuple[str, ...], list[FrameRecord]]) -> str:
    """Images of two studies, or of two patients, are never one volume: an anonymiser or export
    that gave two patients' series one SeriesInstanceUID (and blanked or shared the frame of
    reference) had them stacked as time points of one 4D volume. Split where the values are
    stated and differ (a value one export blanked splits nothing alone)."""
    notes = [
        _split_where_differs(keyed, name, label, attr, stated=True, numbered=numbered)
        for name, label, attr, numbered in (
            ("StudyInstanceUID (0020,000D)", "study", lambda r: r.study_uid or "missing", False),
            # (a patient's identifier is never shown, not even as its digest: numbered)
            ("PatientID (0010,0020)", "patient", lambda r: r.patient_id or "missing", True),
        )
    ]
    return "; ".join(n for n in notes if n)


def _split_stacks(keyed: dict[tuple[str, ...], list[FrameRecord]]) -> str:
    """Frames of two stacks of an enhanced file (StackID (0020,9056)) are two volumes, even
    parallel ones (dcm2niix merges those into one irregular grid; its issue 839)."""
    return _split_where_differs(
        keyed, "StackID (0020,9056)", "stack", lambda r: r.stack_id or "missing"
    )


def _split_kernels(keyed: dict[tuple[str, ...], list[FrameRecord]]) -> str:
    """Two reconstructions of one acquisition under one SeriesInstanceUID (a CT's soft tissue and
    bone kernels, a PET's images with and without attenuation correction) share its positions and
    times: stacked, they were a 4th axis no attribute explains (dcm2niix stacks them so). Split
    where stated values differ (an image stating none, as most MR images, splits nothing alone)."""
    notes = [_split_where_differs(keyed, *how, stated=True) for how in RECONSTRUCTIONS]
    return "; ".join(n for n in notes if n)


def _differs(name: str, by_value: dict[str, list[FrameRecord]]) -> str:
    """``"<name> differs: <value> (<n> files), ..."`` (four values and how many more, past five;
    an enhanced file's images counted as its frames: ``(12 frames of 1 file)``; a value of one
    file names it: ``(1 file: <path>)``, the odd file a reader looks for)."""
    shown = sorted(by_value.items())
    more = f", and {len(shown) - 4} more values" if len(shown) > 5 else ""
    listed = ", ".join(
        f"{v} ({image_count(recs)}{_one_file(recs)})" for v, recs in (shown[:4] if more else shown)
    )
    return f"{name} differs: {listed}{more}"


def _one_file(records: list[FrameRecord]) -> str:
    """``": <path>"`` when ``records`` are all of one file, else ""."""
    paths = {r.path for r in records}
    return f": {next(iter(paths))}" if len(paths) == 1 else ""


def _is_trace(r: FrameRecord) -> bool:
    """b > 0 and a zero or no direction (not one whose direction is malformed: it is refused in
    its series, not split off as a trace image)."""
    if malformed_diffusion(r.bad_attributes, r.b_value, r.diffusion_source, r.manufacturer):
        return False
    return bool(r.b_value and r.b_value > 0) and not any(abs(x) > 0 for x in (r.gradient or []))


def _split_philips_trace(keyed: dict[tuple[str, ...], list[FrameRecord]]) -> str:
    """Philips DWI: the derived isotropic (trace) images -- b > 0 with a zero gradient direction in
    a series that has real directions -- are a separate volume (dcm2niix excludes them from the
    4D diffusion volume). Returns the split reason or ""."""
    note = ""
    for key in list(keyed):
        recs = keyed[key]
        if vendor_of(recs[0].manufacturer) != "PHILIPS":
            continue
        directional = any(
            r.b_value and r.b_value > 0 and any(abs(x) > 0 for x in (r.gradient or []))
            for r in recs
        )
        trace = [r for r in recs if _is_trace(r)]
        if not directional or not trace:
            continue
        keyed[key] = [r for r in recs if not _is_trace(r)]
        keyed[(*key, "isotropic")] = trace
        note = (
            "Philips isotropic (trace) images -- DiffusionBValue > 0 with a zero gradient "
            "direction -- are a separate volume, as dcm2niix excludes them from the diffusion series"
        )
    return note


def split_series(
    records: list[FrameRecord], stack_localizers: bool = False
) -> list[tuple[str, list[FrameRecord], list[str]]]:
    """Split one SeriesInstanceUID's records into stackable groups: ``(key, records, reasons)``."""
    labels, reps = _orientation_labels(records)
    spacing = spacing_labels(records)
    keyed: dict[tuple[str, ...], list[FrameRecord]] = defaultdict(list)
    for rec, lab in zip(records, labels):
        parts = [str(fn(rec)) for _, fn in _SPLITS]
        parts[_SPACING_SPLIT] = spacing[parts[_SPACING_SPLIT]]
        key = (*parts, f"orientation {lab}")
        if (rec.number_of_frames != 1 and rec.frame < 0) or (
            rec.is_localizer and not stack_localizers
        ):
            # each unlocated multi-frame file / localizer image is its own volume, named by its
            # SOPInstanceUID (never by its file name: ids must not depend on names or listing
            # order). Enhanced files with located frames group like single-frame files: a series
            # stored one enhanced file per volume is one 4D volume.
            key += (rec.sop_instance_uid or rec.path,)
        keyed[key].append(rec)
    study_note = _split_studies(keyed)
    frame_note = _split_frames_of_reference(keyed)
    number_note = _split_series_numbers(keyed)
    protocol_note = _split_protocols(keyed)
    stack_note = _split_stacks(keyed)
    kernel_note = _split_kernels(keyed)
    trace_note = _split_philips_trace(keyed)
    polarity_note = split_reversed(keyed)
    conflict_note = _split_component_conflicts(keyed)
    derived_note = _split_original_derived(keyed)
    copies_note = _split_photometric_copies(keyed)
    # Last: a position repeated only by a copy the splits above set apart is no time series.
    echo_note = split_echo_series(keyed)
    parameter_note = split_parameter_series(keyed)
    interleaved_note = split_interleaved_volumes(keyed)
    if len(keyed) == 1:
        key, recs = next(iter(keyed.items()))
        return [(_id_key(key, recs), recs, [])]
    # Say which attributes vary and how the files divide between their values.
    varying: list[str] = []
    names = [name for name, _ in _SPLITS] + ["ImageOrientationPatient (0020,0037)"]
    for pos, name in enumerate(names):
        by_value: dict[str, list[FrameRecord]] = defaultdict(list)
        for r, lab in zip(records, labels, strict=True):
            shown = (
                _fmt_iop(reps[lab] if lab >= 0 else None)
                if pos == len(_SPLITS)
                else str(_SPLITS[pos][1](r))
            )
            if pos == _SPACING_SPLIT:  # (spellings one rounding apart are one spacing)
                shown = spacing[shown]
            by_value[shown].append(r)
        if len(by_value) > 1:
            varying.append(_differs(name, by_value))
    notes = (
        study_note,
        frame_note,
        number_note,
        protocol_note,
        stack_note,
        kernel_note,
        echo_note,
        parameter_note,
        interleaved_note,
        trace_note,
        polarity_note,
        conflict_note,
        derived_note,
        copies_note,
    )
    varying += [n for n in notes if n]
    if any(r.number_of_frames != 1 and r.frame < 0 for r in records):
        varying.append("multi-frame files without per-frame geometry are separate volumes")
    localizers = sum(r.is_localizer for r in records)
    if localizers > 1 and not stack_localizers:
        varying.append(
            f"localizer images (ImageType LOCALIZER (0008,0008)) are a volume each, never "
            f"stacked ({localizers} here): pass stack_localizers=True to stack parallel ones"
        )
    apart = _told_apart(keyed, stack_localizers)
    out = []
    for key, recs in keyed.items():
        this = (
            f"this group: {recs[0].rows}x{recs[0].columns}, "
            f"{'localizer' if recs[0].is_localizer else 'image'}"
            f"{', ' + image_component(recs[0]) if image_component(recs[0]) else ''}, "
            f"orientation {_fmt_iop(usual_orientation(recs))}, {image_count(recs)}"
        )
        told = [SPLIT_VALUES + ", ".join(apart[key])] if apart[key] else []
        out.append((_id_key(key, recs), recs, [*varying, *told, this]))
    return out


#: How a group's key value at each of its :data:`_SPLITS` positions is shown.
_SHOWN_SPLITS: tuple[Callable[[str], str], ...] = (
    lambda v: v,
    lambda v: v,
    lambda v: f"{v} Pixel Data" if v in ("integer", "float", "double float") else f"pixels {v}",
    lambda v: f"SamplesPerPixel/photometric {v}",
    lambda v: f"PixelSpacing {v}",
    lambda v: v,
    lambda v: v,
)


def _shown_label(label: str) -> str:
    """A label a split appended to a group's key, as a listing shows it."""
    if label.startswith("echo time "):
        return f"EchoTime {label[len('echo time ') :]} ms"
    if label.startswith("echo "):
        return f"EchoNumbers {label[len('echo ') :]}"
    if label == "isotropic":
        return "isotropic (trace) images"
    return label


def _told_apart(
    keyed: dict[tuple[str, ...], list[FrameRecord]], stack_localizers: bool
) -> dict[tuple[str, ...], list[str]]:
    """What tells each group apart from the others of its series: its values of the split
    attributes whose values differ between the groups (the echo time of one echo of a multi-echo
    series, an image kind, a stack, an orientation), as the choice of a volume lists them."""
    keys = list(keyed)
    base = len(_SPLITS)
    out: dict[tuple[str, ...], list[str]] = {}
    for key, recs in keyed.items():
        shown = [
            f"orientation {_fmt_iop(usual_orientation(recs))}"
            if pos == base
            else _SHOWN_SPLITS[pos](key[pos])
            for pos in range(base + 1)
            if len({k[pos] for k in keys}) > 1
        ]
        rec = recs[0]
        own = (rec.number_of_frames != 1 and rec.frame < 0) or (
            rec.is_localizer and not stack_localizers
        )
        # (past the split attributes: the SOPInstanceUID of a file that is a volume of its own,
        # then the labels later splits appended)
        extra = key[base + 1 + int(own) :]
        out[key] = [*shown, *(_shown_label(x) for x in extra)]
    return out


#: Positions in a group's key of the Pixel Data kind split (where the stored dtype was) and of the
#: photometric split (where MONOCHROME1 and MONOCHROME2 were apart).
_DTYPE_SPLIT = next(i for i, (name, _) in enumerate(_SPLITS) if name.startswith("Pixel Data kind"))
_PHOTOMETRIC_SPLIT = next(i for i, (name, _) in enumerate(_SPLITS) if "Photometric" in name)
_SPACING_SPLIT = next(i for i, (name, _) in enumerate(_SPLITS) if name.startswith("PixelSpacing"))


def most_common(values: list[Any]) -> Any:
    """The most common value, the lowest of a tie."""
    counts = Counter(values)
    return min(counts, key=lambda v: (-counts[v], v))


def _id_key(key: tuple[str, ...], recs: list[FrameRecord]) -> str:
    """A group's key as its volume id is made from (``SeriesInfo.id``), spelled as it was when
    files of another stored dtype, BitsStored or MONOCHROME photometric were split off, so
    volumes keep the ids they had: the stored-dtype part ``BitsAllocated/BitsStored/
    PixelRepresentation`` and the photometric part ``SamplesPerPixel/PhotometricInterpretation``,
    each from the most common values (the lowest of a tie: a stray duplicate copy stored
    otherwise, dropped later, leaves the id as it was)."""
    ba, pr = most_common([(r.bits_allocated, r.pixel_representation) for r in recs])
    bits = most_common(
        [r.bits_stored for r in recs if (r.bits_allocated, r.pixel_representation) == (ba, pr)]
    )
    photometric = most_common([r.photometric for r in recs])
    spelled = list(key)
    spelled[_DTYPE_SPLIT] = f"{ba}/{bits}/{pr}"
    spelled[_PHOTOMETRIC_SPLIT] = f"{recs[0].samples_per_pixel}/{photometric}"
    return "|".join(spelled)
