"""Value checks on DICOM header records before they become a volume.

Header parsing (:mod:`lazyvol.dicom.header`) keeps what each file says; this module decides whether
those values can describe an image at all, and applies the two repairs that trusted tools apply:

- refused (a ``FormatError`` naming the file, the keyword and tag, and the value): Rows or Columns
  0, BitsAllocated 0 or not 1 or a multiple of 8, PixelRepresentation other than 0/1,
  NumberOfFrames below 1, a non-finite or non-positive PixelSpacing, an ImageOrientationPatient
  that is not two orthonormal directions beyond the rounding of its written decimals, non-finite
  ImagePositionPatient, RescaleSlope or RescaleIntercept;
- repaired: ImageOrientationPatient off by rounding only is replaced by the nearest orthonormal
  pair; RescaleSlope 0 is taken as 1 (as dcm2niix does: a zero slope would map every voxel to the
  intercept), with a warning naming the files, recorded in ``meta["rescale_slope_zero"]``;
- read, with a note: a RescaleIntercept stated without a RescaleSlope (slope 1, as dcm2niix reads
  it; pydicom applies no rescale there), the files in ``meta["rescale_intercept_only"]``.

:func:`check_records` runs where a series is formed, so a refused series shows its reason in
``lazyvol.scan`` / ``lazyvol info`` and ``lazyvol.open`` raises it. :func:`same_orientation`
says, with the same tolerance, when two files' orientations are one (where a series is split).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import geometry as geo
from .. import slice_grid
from .._warn import warn as _warn_user
from .listing import SPECIAL_BESIDE_NOTE
from .model import (
    DAMAGED_BESIDE_NOTE,
    EMPTY_BESIDE_NOTE,
    EXACT_DUPLICATE_NOTE,
    FOREIGN_BESIDE_NOTE,
    HIDDEN_BESIDE_NOTE,
    INCOMPLETE_NOTE,
    INSTANCE_GAPS_NOTE,
    LINK_BESIDE_NOTE,
    MIXED_PARAMETERS_NOTE,
    MIXED_THICKNESS_NOTE,
    ORDER_DOUBT_NOTE,
    UNEVEN_VOLUMES_NOTE,
)
from .vendor import malformed_diffusion

if TYPE_CHECKING:  # (records are read by attribute: a reopen needs no FrameRecord class)
    from .records import FrameRecord

__all__ = [
    "DERIVED_NOTE",
    "COARSEST_STEP",
    "ORIENTATION_TOL",
    "check_records",
    "empty_in_every_record",
    "declared_spacing",
    "missing_uid_notes",
    "moved_volume",
    "normalised_iop",
    "orientation_precision_deg",
    "orientation_step",
    "placing_spacing_problem",
    "record_problem",
    "same_orientation",
    "warn_notes",
    "warn_slope_zero",
]

#: How far ImageOrientationPatient cosines written to full precision may be off and still be one
#: value: two orientations whose cosines all agree within it are one (dcm2niix's isSameFloatGE
#: tolerance, set for GE exports whose copies of one orientation differ by ~1e-7), and a pair
#: that is unit length and perpendicular within it is orthonormal but for rounding. Scanners
#: compute the cosines in float32 (~6e-8 each) and print 6-8 significant digits (<= 5e-6); GE
#: files off orthonormal by 6e-6 made nibabel loosen its check to 5e-5, real files beyond 1e-5
#: made highdicom's 1e-4. 1e-4 is ~0.006 degrees: under 0.05 mm over a 500 mm field of view.
#: Values written with fewer decimals are allowed their rounding on top when judged orthonormal
#: (:func:`normalised_iop`), not when two are compared (:func:`same_orientation`).
ORIENTATION_TOL = 1e-4

_TAGS = {
    "Rows": "(0028,0010)",
    "Columns": "(0028,0011)",
    "BitsAllocated": "(0028,0100)",
    "BitsStored": "(0028,0101)",
    "HighBit": "(0028,0102)",
    "PixelRepresentation": "(0028,0103)",
    "SamplesPerPixel": "(0028,0002)",
    "NumberOfFrames": "(0028,0008)",
    "PixelSpacing": "(0028,0030)",
    "ImageOrientationPatient": "(0020,0037)",
    "ImagePositionPatient": "(0020,0032)",
    "RescaleSlope": "(0028,1053)",
    "RescaleIntercept": "(0028,1052)",
}


def _named(keyword: str) -> str:
    return f"{keyword} {_TAGS[keyword]}"


def _corrupt(keyword: str) -> str:
    """How a refusal of ``keyword``'s value ends: the header is corrupt, and what to do."""
    tag = _TAGS[keyword]
    return f'the header is corrupt: re-export the file, or set {keyword} (`dcmodify -i "{tag}=<value>"`)'


def _finite(values: Sequence[float] | None) -> bool:
    return values is None or all(math.isfinite(float(v)) for v in values)


#: The coarsest rounding :func:`orientation_step` allows. The decimals are read from the parsed
#: values, which cannot tell a coarse writer from exact short values (0.8 and 0.6 are a cosine pair
#: to any precision; "0.140" parses as 0.14): so values showing fewer than 2 decimals are taken as
#: written to 2, never allowed 0.1 of rounding (a 5.7 degree skew, a 2.9 degree turn).
COARSEST_STEP = 1e-2


def orientation_step(iop: Sequence[float]) -> float:
    """The step of the last decimal the values of ``iop`` are written to (3 decimals: 0.001),
    at most :data:`COARSEST_STEP`.

    0.0 when they show none: every value whole (0, 1, -1, or within 1e-9 of one, such as the
    zero ``2.07e-013``), or one written to 9 decimals or more (full precision). Non-finite values
    are left out.
    """
    try:
        key = tuple(map(float, iop))
    except (TypeError, ValueError):
        return 0.0
    return _orientation_step(key)


@functools.lru_cache(maxsize=256)
def _orientation_step(iop: tuple[float, ...]) -> float:
    decimals = 0
    for x in iop:
        if math.isfinite(x) and abs(x - round(x)) > 1e-9:
            d = next((d for d in range(1, 9) if abs(x - round(x, d)) < 1e-9), 9)
            decimals = max(decimals, d)
    return 0.0 if decimals in (0, 9) else min(COARSEST_STEP, 10.0**-decimals)


def orientation_precision_deg(iop: Sequence[float]) -> float:
    """How far the normal of ``iop`` as written may be from the true one, in degrees: from the
    number of decimals its values are written to (:func:`orientation_step`; 3 decimals: ~0.09
    degrees); 0 when they show none."""
    return math.degrees(1.5 * orientation_step(iop))


def same_orientation(a: Sequence[float], b: Sequence[float]) -> bool:
    """Are two ImageOrientationPatient values one orientation? Every cosine must agree within
    :data:`ORIENTATION_TOL`, as dcm2niix's ``isSameFloatGE``, whatever decimals they are written
    to: images of one acquisition repeat one written value, and a tolerance widened by the
    decimals seen would merge stacks turned by up to a degree (exact short values such as 0.8/0.6
    look coarse)."""
    return geo.orientations_match(a, b, ORIENTATION_TOL)


def normalised_iop(iop: Sequence[float]) -> tuple[list[float] | None, str]:
    """``(orthonormal cosines, "")`` when ``iop`` is orthonormal but for rounding, else
    ``(None, why)``.

    Rounding is :data:`ORIENTATION_TOL`, or more for values written with fewer decimals: each
    cosine rounded to a step ``q`` (:func:`orientation_step`) is off by at most ``q/2``, so a
    direction by at most ``sqrt(3)/2 q`` (its length too) and the dot product of the two by at
    most ``sqrt(3) q + 3/4 q**2``. The repair is the nearest orthonormal pair (polar decomposition
    of the 3x2 matrix of the two cosines), which spreads a rounding error over both directions
    instead of favouring the row.
    """
    try:
        key = tuple(map(float, iop))
    except (TypeError, ValueError):
        key = ()
    if len(key) == 6:
        # Series repeat one orientation in every file (a mosaic in every tile): decide it once.
        fixed, why = _normalised_iop_cached(key)
        return (None if fixed is None else list(fixed)), why
    return _normalised_iop(iop)


@functools.lru_cache(maxsize=256)
def _normalised_iop_cached(key: tuple[float, ...]) -> tuple[tuple[float, ...] | None, str]:
    fixed, why = _normalised_iop(key)
    return (None if fixed is None else tuple(fixed)), why


def _normalised_iop(iop: Sequence[float]) -> tuple[list[float] | None, str]:
    v = np.asarray(iop, dtype=np.float64).reshape(6)
    if not np.isfinite(v).all():
        return None, "is not finite"
    row, col = v[:3], v[3:]
    nr, nc = float(np.linalg.norm(row)), float(np.linalg.norm(col))
    dot = float(row @ col)
    q = orientation_step(v.tolist())
    length_tol = max(ORIENTATION_TOL, math.sqrt(3.0) / 2 * q)
    dot_tol = max(ORIENTATION_TOL, math.sqrt(3.0) * q + 0.75 * q * q)
    problems = []
    if abs(nr - 1) > length_tol:
        problems.append(f"row direction length {nr:.6g}")
    if abs(nc - 1) > length_tol:
        problems.append(f"column direction length {nc:.6g}")
    if nr > 0 and nc > 0 and abs(dot) > dot_tol:
        angle = math.degrees(math.acos(max(-1.0, min(1.0, dot / (nr * nc)))))
        problems.append(f"angle between row and column {angle:.2f} degrees")
    if problems:
        written = f"{round(-math.log10(q))} decimals" if q else "full precision"
        written = "2 decimals or fewer" if q == COARSEST_STEP else written
        return None, (
            "is not two orthonormal direction cosines ("
            + ", ".join(problems)
            + f"; written to {written}, rounding allows lengths within {length_tol:.2g} of 1 and "
            f"a dot product within {dot_tol:.2g} of 0). The image's row and column directions "
            "are not known, and lazyvol does not guess them: correct ImageOrientationPatient in "
            "the file (from the original export), or remove the file"
        )
    u, _, vt = np.linalg.svd(np.stack([row, col], axis=1), full_matrices=False)
    polar = u @ vt
    return [float(x) for x in (*polar[:, 0], *polar[:, 1])], ""


def _bits_problem(rec: FrameRecord, bad: set[str]) -> str:
    """Why BitsStored / HighBit cannot describe ``rec``'s values ("" when they can): outside
    BitsAllocated, or a HighBit above the stored bits."""
    path = rec.path
    if (
        not bad & {"BitsAllocated", "BitsStored", "HighBit"}
        and rec.bits_allocated > 0
        and rec.bits_allocated % 8 == 0  # (1 and 12 are refused as unsupported later)
        and (rec.bits_stored > rec.bits_allocated or rec.high_bit >= rec.bits_allocated)
    ):
        return (
            f"{path}: {_named('BitsStored')} = {rec.bits_stored} and {_named('HighBit')} = "
            f"{rec.high_bit} do not fit in {_named('BitsAllocated')} = {rec.bits_allocated} (the "
            "stored bits must lie within the allocated ones); "
            + _corrupt("BitsStored" if rec.bits_stored > rec.bits_allocated else "HighBit")
        )
    if (
        not bad & {"BitsAllocated", "BitsStored", "HighBit"}
        and rec.bits_allocated % 8 == 0
        and 0 < rec.bits_stored <= rec.high_bit
    ):
        # (HighBit is BitsStored - 1: one above the stored bits says BitsStored lost its value,
        # and masking to it would cut every value, as dcm2niix, which reads HighBit's bits, shows)
        return (
            f"{path}: {_named('BitsStored')} = {rec.bits_stored} but {_named('HighBit')} = "
            f"{rec.high_bit}: the values' high bit lies above the stored bits (HighBit is "
            "BitsStored - 1), and reading them as stated would cut every value to "
            f"{rec.bits_stored} bit(s); the header is corrupt: re-export the file"
        )
    return ""


def record_problem(
    rec: FrameRecord, absent: Collection[str] = frozenset()
) -> tuple[str, str] | None:
    """``("format", message)`` when a record's values cannot describe an image, else None.

    Attributes that did not parse at all are left to the caller's malformed-value report;
    ``absent``'s notes are read as absence (:func:`empty_in_every_record`).
    """
    bad = {b.split(" ", 1)[0] for b in (rec.bad_attributes or [])}
    path = rec.path
    for keyword, value in (("Rows", rec.rows), ("Columns", rec.columns)):
        if keyword not in bad and value <= 0:
            return "format", (
                f"{path}: {_named(keyword)} = {value}: an image needs at least one row and one "
                f"column; {_corrupt(keyword)}"
            )
    if "BitsAllocated" not in bad and (
        # 1 (binary) and 12 (packed legacy ACR-NEMA) are real, just not supported (said later)
        rec.bits_allocated <= 0 or (rec.bits_allocated not in (1, 12) and rec.bits_allocated % 8)
    ):
        return "format", (
            f"{path}: {_named('BitsAllocated')} = {rec.bits_allocated} is not a valid value (1, 12 or "
            f"a multiple of 8); {_corrupt('BitsAllocated')}"
        )
    bits = _bits_problem(rec, bad)
    if bits:
        return "format", bits
    if "SamplesPerPixel" not in bad and rec.samples_per_pixel < 1:
        return "format", (
            f"{path}: {_named('SamplesPerPixel')} = {rec.samples_per_pixel}: a pixel has at least "
            f"one sample; {_corrupt('SamplesPerPixel')}"
        )
    if "PixelRepresentation" not in bad and rec.pixel_representation not in (0, 1):
        return "format", (
            f"{path}: {_named('PixelRepresentation')} = {rec.pixel_representation} is neither 0 "
            f"(unsigned) nor 1 (signed); {_corrupt('PixelRepresentation')}"
        )
    if "NumberOfFrames" not in bad and rec.number_of_frames < 1:  # (-1: unparsed, in ``bad``)
        return "format", (
            f"{path}: {_named('NumberOfFrames')} = {rec.number_of_frames}: an image has at least "
            f"one frame; {_corrupt('NumberOfFrames')}"
        )
    # Values that did parse as numbers but make no geometry. (Non-finite DS strings are noted as
    # malformed by the header reader; multi-frame functional groups are parsed elsewhere, so both
    # paths are checked here.)
    for b in rec.bad_attributes or []:
        keyword = b.split(" ", 1)[0]
        if keyword == "PixelSpacing":
            return "format", f"{path}: malformed {b}; {_corrupt('PixelSpacing')}"
        if keyword in ("RescaleSlope", "RescaleIntercept") and b not in absent:
            return "format", _malformed_rescale(path, keyword, b)
        diffusion = malformed_diffusion([b], rec.b_value, rec.diffusion_source, rec.manufacturer)
        if diffusion:
            return "format", (
                f"{path}: malformed {diffusion}: the image's diffusion b-value / direction is "
                "unknown; the header is corrupt (re-export the series)"
            )
        if keyword.startswith("RealWorldValue"):  # (Philips: what its values are scaled by)
            return "format", (
                f"{path}: malformed {b}: the Philips real-world value mapping scales this image's "
                "values (as dcm2niix reads it); the header is corrupt: re-export the file, or "
                'remove the sequence (`dcmodify -e "(0040,9096)"`) to read it with its '
                "RescaleSlope/RescaleIntercept"
            )
    ps = rec.pixel_spacing
    if ps is not None and not all(math.isfinite(x) and x > 0 for x in ps):
        return "format", (
            f"{path}: {_named('PixelSpacing')} = {list(ps)}: spacings must be finite and positive "
            "(a negative spacing would mirror the image, a zero one makes the affine singular); "
            + _corrupt("PixelSpacing")
        )
    if rec.iop is not None:
        _, why = normalised_iop(rec.iop)
        if why:
            return "format", f"{path}: {_named('ImageOrientationPatient')} = {list(rec.iop)} {why}"
    if not _finite(rec.ipp):
        return "format", (
            f"{path}: {_named('ImagePositionPatient')} = {rec.ipp} is not finite; "
            + _corrupt("ImagePositionPatient")
        )
    for keyword, number in (
        ("RescaleSlope", rec.rescale_slope),
        ("RescaleIntercept", rec.rescale_intercept),
    ):
        if not math.isfinite(number):
            return "format", (
                f"{path}: {_named(keyword)} = {number} is not finite; pass scale=False for the stored "
                "values"
            )
    return None


def check_records(
    records: Sequence[FrameRecord], meta: dict[str, Any], warnings: list[str]
) -> tuple[str, str] | None:
    """Check every record of one volume; repair rounding-level orientation and zero slopes.

    Parameters
    ----------
    records : sequence of FrameRecord
        The frames of one volume (modified in place by the repairs).
    meta : dict
        The volume's metadata: ``meta["rescale_slope_zero"]`` lists the files whose RescaleSlope 0
        was taken as 1.
    warnings : list of str
        The volume's warnings (one is added for zero slopes).

    Returns
    -------
    (kind, message) or None
        The first problem found, for the series to be refused with.
    """
    zero_slope: list[str] = []
    negative = sorted({r.path for r in records if (r.spacing_between_slices or 0.0) < 0})
    if negative:
        meta["spacing_between_slices_negative"] = negative
        shown = ", ".join(negative[:3]) + (" ..." if len(negative) > 3 else "")
        warnings.append(
            f"SpacingBetweenSlices (0018,0088) is negative in {len(negative)} file(s) ({shown}): "
            "not a spacing, ignored (as dcm2niix ignores it); the slice spacing comes from the "
            "positions, or SliceThickness (0018,0050) where they cannot give it (one slice, a "
            "mosaic)"
        )
    coarsest = 0.0
    absent = empty_in_every_record(records)
    for rec in records:
        problem = record_problem(rec, absent)
        if problem is not None:
            return problem
        if rec.iop is not None:
            coarsest = max(coarsest, orientation_precision_deg(rec.iop))
            fixed, _ = normalised_iop(rec.iop)
            if fixed is not None:
                if list(fixed) != list(rec.iop):
                    rec.stated_iop = list(rec.iop)  # (the sidecar's, as dcm2niix)
                rec.iop = fixed
        if rec.rescale_slope == 0:
            rec.rescale_slope = 1.0
            zero_slope.append(rec.path)
    if coarsest > 0.01:  # a normal only this exact (the slant a gantry tilt must exceed)
        meta["orientation_precision_deg"] = round(coarsest, 4)
    if zero_slope:
        files = sorted(set(zero_slope))
        meta["rescale_slope_zero"] = files
        warnings.append(_slope_zero_message(files))
    from .records import INTERCEPT_ONLY  # (here: a reopen from the saved report imports no records)

    alone = sorted({r.path for r in records if (r.acq or {}).get(INTERCEPT_ONLY)})
    if alone:
        meta["rescale_intercept_only"] = alone
        shown = ", ".join(alone[:3]) + (f" and {len(alone) - 3} more" if len(alone) > 3 else "")
        warnings.append(
            f"{INTERCEPT_ONLY_NOTE} in {len(alone)} file(s) ({shown}; the standard has them "
            "together): read with RescaleSlope 1 and the intercept, as dcm2niix reads them; pydicom "
            "applies no rescale to such a file (its values are the stored ones); recorded in "
            "meta['rescale_intercept_only']"
        )
    return None


#: How the note on images stating a RescaleIntercept but no RescaleSlope begins.
INTERCEPT_ONLY_NOTE = "RescaleIntercept (0028,1052) stated without RescaleSlope (0028,1053)"


def _malformed_rescale(path: str, keyword: str, note: str) -> str:
    tag, plain = ("(0028,1053)", 1) if keyword == "RescaleSlope" else ("(0028,1052)", 0)
    return (
        f"{path}: malformed {note}; the header is corrupt: how this image's values are "
        f'scaled is unknown. Re-export the series, or set it (`dcmodify -i "{tag}=<value>"`: '
        f"the value the series' other files state, or {plain} where none states one)"
    )


#: The notes of an empty RescaleSlope / RescaleIntercept (:data:`~.header_values.EMPTY_NOTED`).
_EMPTY_RESCALE = ("RescaleSlope (0028,1053) is empty", "RescaleIntercept (0028,1052) is empty")


def empty_in_every_record(records: Sequence[FrameRecord]) -> frozenset[str]:
    """The notes of an empty RescaleSlope / RescaleIntercept that every one of ``records`` (one
    volume) carries: read as the attribute's absence (slope 1, intercept 0). A zero-length
    element means what its absence does where the attribute is optional (PS3.5 7.4.5: classic MR
    has no Modality LUT, its RescaleSlope is a Type 3 one), and dcm2niix and SimpleITK read a
    value empty in every file as 1 / 0. Empty in some files only, the series' other files scale
    otherwise: refused (:func:`record_problem`), never read as 1 / 0 beside them."""
    return frozenset(
        note for note in _EMPTY_RESCALE if all(note in (r.bad_attributes or ()) for r in records)
    )


def _slope_zero_message(files: Sequence[str]) -> str:
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    return (
        f"RescaleSlope (0028,1053) = 0 in {len(files)} file(s) ({shown}): taken as 1, as dcm2niix "
        "does (a zero slope would map every voxel to RescaleIntercept); recorded in "
        "meta['rescale_slope_zero']"
    )


def warn_slope_zero(files: Sequence[str]) -> None:
    """Emit the RescaleSlope-0 warning (at open: the scan result may come from the saved report)."""
    _warn_user(f"lazyvol: {_slope_zero_message(files)}", RuntimeWarning)


#: How the note on a volume with derived diffusion volumes begins
#: (:func:`lazyvol.dicom.diffusion.flag_derived`; emitted at open by :func:`warn_notes`).
DERIVED_NOTE = "derived diffusion volume(s)"


#: How the note begins on a volume whose files state no SeriesInstanceUID.
MISSING_UID_NOTE = "SeriesInstanceUID (0020,000E) missing: files grouped by their other attributes"
#: How the note begins on such a volume whose InstanceNumbers repeat where no position does: a
#: Python warning too at open.
MAYBE_MERGED_NOTE = "several series may be stacked as one"
#: The notes of a volume that are Python warnings too when it is opened: series that may be
#: stacked as one, derived diffusion volumes, images of its series that may be missing, slices
#: of different thickness, a volume order the headers contradict, volumes not evenly spaced in
#: time.
_WARNED_NOTES = (
    INTERCEPT_ONLY_NOTE,
    MAYBE_MERGED_NOTE,
    DERIVED_NOTE,
    EXACT_DUPLICATE_NOTE,
    INCOMPLETE_NOTE,
    DAMAGED_BESIDE_NOTE,
    EMPTY_BESIDE_NOTE,
    FOREIGN_BESIDE_NOTE,
    HIDDEN_BESIDE_NOTE,
    LINK_BESIDE_NOTE,
    SPECIAL_BESIDE_NOTE,
    INSTANCE_GAPS_NOTE,
    MIXED_THICKNESS_NOTE,
    MIXED_PARAMETERS_NOTE,
    ORDER_DOUBT_NOTE,
    UNEVEN_VOLUMES_NOTE,
)


def warn_notes(warnings: Sequence[str]) -> None:
    """Emit the notes of :data:`_WARNED_NOTES` as warnings (at open: the scan result may come
    from a saved report; here, not in the modules that write them, so a reopen imports no parsing
    code)."""
    for note in warnings:
        if note.startswith(_WARNED_NOTES):
            _warn_user(f"lazyvol: {note}", RuntimeWarning)


def moved_volume(
    volumes: Sequence[Sequence[FrameRecord]], p_first: np.ndarray, tol: float, axis4: str | None
) -> str:
    """Why the 4th-axis ``volumes`` are not one grid ("" when they are): every volume must sit on
    the first one's positions ``p_first`` within ``tol`` mm (a slice moved within its own plane
    projects onto the same normal position); the first image that does not, named."""
    for t, vol in enumerate(volumes[1:], start=1):
        pv = np.array([r.ipp for r in vol], dtype=np.float64)
        off = np.max(np.abs(pv - p_first), axis=1)
        k = int(np.argmax(off))
        if off[k] > tol:
            return (
                f"4th-axis volumes ({axis4}) do not share slice positions: {vol[k].where} "
                f"(volume {t}, slice {k}) is at {_named('ImagePositionPatient')} "
                f"{[round(float(x), 4) for x in pv[k]]} but {volumes[0][k].where} (volume 0) at "
                f"{[round(float(x), 4) for x in p_first[k]]}: {off[k]:.4g} mm apart, more than "
                f"{tol:.3g} mm. They are not one grid, and lazyvol does not stack them: remove "
                "the moved images, or open the files one by one"
            )
    return ""


def declared_spacing(rec: FrameRecord) -> tuple[float | None, str]:
    """``(slice spacing, attribute)`` a header states: SpacingBetweenSlices when it is positive,
    else SliceThickness when it is (a negative SpacingBetweenSlices is no spacing; dcm2niix takes
    the thickness then too); ``(None, "")`` when neither is."""
    for value, name in (
        (rec.spacing_between_slices, "SpacingBetweenSlices"),
        (rec.slice_thickness, "SliceThickness"),
    ):
        if value is not None and value > 0:
            return float(value), name
    return None, ""


#: The tags of the attributes a file's slices may be placed by, for messages and the fix.
_SPACING_TAGS = {"SpacingBetweenSlices": "0018,0088", "SliceThickness": "0018,0050"}


def placing_spacing_problem(value: float, name: str, count: int) -> str | None:
    """Why the spacing ``value`` (mm) of attribute ``name`` (SpacingBetweenSlices or
    SliceThickness) cannot place a file's ``count`` slices (a mosaic's tiles, an NM
    reconstruction's frames): it puts them within the distance the stacking takes for one
    position (:func:`lazyvol.slice_grid.same_position_tolerance`), a damaged or implausible value
    (0.001 mm), which the stacking would refuse as positions repeating, a mixed acquisition;
    None when it can."""
    tol = slice_grid.same_position_tolerance(abs(value) * (count - 1))
    if count < 2 or abs(value) > tol:
        return None
    tag = _SPACING_TAGS.get(name, "")
    return (
        f"{name} ({tag}) = {value:g} mm would place the file's {count} slices {abs(value):g} mm "
        f"apart, within the {tol:g} mm lazyvol takes for one position: a damaged or "
        f'implausible spacing; correct it (dcmodify -m "({tag})=<slice spacing in mm>" on the '
        "file) or re-export the series"
    )


def missing_uid_notes(records: Sequence[FrameRecord]) -> list[str]:
    """The notes on a volume grouped without a SeriesInstanceUID; when its files' InstanceNumbers
    repeat while no position does (each series numbering its images from 1, its positions apart
    from the other's, e.g. a repeat shifted half a slice), a second note: they may be several
    series stacked as one, which no attribute left tells apart. Not when every file states the
    same InstanceNumber (an anonymiser's constant): that is no numbering to repeat."""
    number_of = {r.path: r.instance_number for r in records}  # (per file: a multi-frame's frames)
    numbers = Counter(n for n in number_of.values() if n is not None)
    # (one number on every file, such as an anonymiser's 0 or 1, tells nothing about series)
    repeated = sum(1 for c in numbers.values() if c > 1) if len(numbers) > 1 else 0
    # (positions within the stacking's same-position tolerance are one: rounding noise repeats)
    places = set(slice_grid.position_labels([r.ipp for r in records if r.ipp is not None]))
    if not repeated or len(places) != len(records):
        return [MISSING_UID_NOTE]
    return [
        MISSING_UID_NOTE,
        f"{MAYBE_MERGED_NOTE}: SeriesInstanceUID (0020,000E) is missing and InstanceNumber "
        f"(0020,0013) repeats ({repeated} number(s) held by several files) where no "
        "ImagePositionPatient (0020,0032) does; check the volume's files, or open each series' "
        "folder on its own",
    ]
