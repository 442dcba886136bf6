"""PET and CT keys of the sidecar, read and written as dcm2niix (v1.0.20260724) writes them.

Checked value by value against the installed dcm2niix on synthetic static and dynamic PET and CT
series. Two steps, as :mod:`lazyvol.dicom.bids`: :func:`pet_record_values` keeps one file's stated
values (small: the DICOM values, not the keys derived from them), :func:`pet_annotate` writes the
keys of a volume from its first file and, for the frame lists, from the first file of each of its
volumes (frames ordered by time, as the 4th axis is).

- Any modality: Units (0054,1001) (``BQML`` as ``Bq/mL``), DecayCorrection (0054,1102),
  AttenuationCorrectionMethod (0054,1101) and AttenuationCorrection (its text before a comma:
  Siemens writes ``measured,AC_CT``), ScatterCorrectionMethod (0054,1105), ReconstructionMethod
  (0054,1103) with ReconMethodName and the subsets and iterations it names
  (:func:`recon_method`), DoseCalibrationFactor (0054,1322), ConvolutionKernel (0018,1210) with
  ReconFilterType / ReconFilterSize (:func:`recon_filter`), ExposureTime ((0018,1150), ms, in
  s), XRayTubeCurrent (0018,1151), XRayExposure (Exposure (0018,1152)); from the first item of
  RadiopharmaceuticalInformationSequence (0054,0016): TracerName (Radiopharmaceutical, cut at
  GE's " -- "), InjectedRadioactivity (RadionuclideTotalDose in MBq, with
  InjectedRadioactivityUnits), RadionuclideHalfLife and RadionuclidePositronFraction. None is
  written for 0 (dcm2niix writes none).
- DecayFactor (0054,1321), one per volume (DecayCorrectionFactor when SeriesTime (0008,0031) is
  stated, as dcm2niix names it), and for one volume FrameTimesStart: its AcquisitionTime less
  the SeriesTime (0 when not both are stated, never below 0).
- PET: FrameDuration (ActualFrameDuration (0018,1242), in s; 0 is the RepetitionTime), then no
  RepetitionTime; for several volumes FrameReferenceTime (0054,1300) (s) and FrameTimesStart:
  each volume's AcquisitionTime less the SeriesTime, or, without a SeriesTime, less the first
  volume's, written only when the volumes are unevenly spaced (by more than 50 ms); with a
  SeriesTime or AcquisitionTime: SeriesTime (``HH:MM:SS``), ScanStart 0, ImageDecayCorrected
  (DecayCorrection other than NONE) and ImageDecayCorrectionTime (0 for START; for ADMIN the
  RadiopharmaceuticalStartTime less the SeriesTime, else less the AcquisitionTime).

A list is written only when every volume states its value. Unlike dcm2niix, which then lists
the first volume's decay factor alone, a dynamic series without SeriesTime gets every volume's.
The lists follow the volume when it is cut (:func:`lazyvol.sidecar.sidecar`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from typing import Any

from .bids_extra import printed
from .dicom_time import acquired, tm_seconds
from .mosaic import raw_text
from .records import FrameRecord, number

__all__ = [
    "PET_TAGS",
    "RADIOPHARMACEUTICAL_SEQUENCE",
    "RECONSTRUCTIONS",
    "frame_duration",
    "pet_annotate",
    "pet_record_values",
    "x_ray",
    "radiopharmaceutical_values",
    "recon_filter",
    "recon_method",
]

MODALITY = 0x00080060
SERIES_TIME = 0x00080031
FRAME_DURATION = 0x00181242
FRAME_REFERENCE = 0x00541300
DECAY_FACTOR = 0x00541321
RADIOPHARMACEUTICAL_SEQUENCE = 0x00540016
CORRECTED_IMAGE = 0x00280051
#: Exposure (0018,1152): stated (any value, even none) where EchoTime (0018,0081), read before it,
#: is not stated or 0, dcm2niix takes the image for an X-ray one.
EXPOSURE = 0x00181152
ECHO_TIME = 0x00180081
#: Text values written as they are: tag -> key.
_TEXT = {
    0x00541001: "Units",
    0x00541102: "DecayCorrection",
    0x00541101: "AttenuationCorrectionMethod",
    0x00541105: "ScatterCorrectionMethod",
    0x00541103: "ReconstructionMethod",
    0x00181210: "ConvolutionKernel",
}
#: Numbers above 0, printed as dcm2niix prints them: tag -> (key, integer (IS, as dcm2niix
#: reads it: "200.5" is 200), scale).
_NUMBERS = {
    0x00541322: ("DoseCalibrationFactor", False, 1.0),
    0x00181150: ("ExposureTime", True, 1e-3),
    0x00181151: ("XRayTubeCurrent", True, 1.0),
    0x00181152: ("XRayExposure", True, 1.0),
}
#: The elements of the sequence's item: keyword -> (key, scale).
_ITEM_NUMBERS = {
    "RadionuclideTotalDose": ("InjectedRadioactivity", 1e-6),
    "RadionuclideHalfLife": ("RadionuclideHalfLife", 1.0),
    "RadionuclidePositronFraction": ("RadionuclidePositronFraction", 1.0),
}
#: The elements read here.
PET_TAGS = frozenset(
    {
        SERIES_TIME,
        FRAME_DURATION,
        FRAME_REFERENCE,
        DECAY_FACTOR,
        RADIOPHARMACEUTICAL_SEQUENCE,
        CORRECTED_IMAGE,
        *_TEXT,
        *_NUMBERS,
    }
)
#: ReconstructionMethod texts dcm2niix names as a whole (the first it contains).
_METHODS = (
    ("PSF+TOF3i21s", "Point-Spread Function + Time Of Flight"),
    ("PSF TOF 3D OSEM", "Point-Spread Function 3D Time Of Flight"),
    ("OP-OSEM", "Ordinary Poisson - Ordered Subset Expectation Maximization"),
    (
        "OSEM3D-OP-PSF",
        "Ordinary Poisson 3D Ordered Subset Expectation Maximization + Point-Spread Function",
    ),
    ("LOR-RAMLA", "Line Of Response - Row Action Maximum Likelihood"),
    ("3D-RAMLA", "3D Row Action Maximum Likelihood"),
    ("3DRP", "3DRP"),
    ("3D Kinahan-Rogers", "3D Kinahan-Rogers"),
)
#: Else the words of every part it contains, in this order.
_PARTS = (
    (("OSEM",), "Ordered Subset Expectation Maximization"),
    (("LOR",), "Line Of Response"),
    (("RAMLA",), "Row Action Maximum Likelihood"),
    (("OP",), "Ordinary Poisson"),
    (("PSF",), "Point-Spread Function modelling"),
    (("TOF", "TF"), "Time Of Flight"),
    (("VPHD",), "VUE Point HD"),
    (("VPFX",), "VUE Point HD using Time Of Flight"),
    (("Q.Clear",), "VUE Point HD with regularization (smoothing)"),
    (("BLOB",), "3D spherically symmetric basis function"),
    (("Filtered Back", "FilteredBack"), "Filtered Back Projection"),
)
#: Volumes more unevenly spaced than this (s) get FrameTimesStart without a SeriesTime.
_UNEVEN = 0.05
#: Seconds in a day.
_DAY = 86400.0


def frame_duration(acq: dict[str, Any]) -> float | None:
    """A PET image's ActualFrameDuration (0018,1242) in ms, from its values ``acq`` (None when it
    states none, or not a number)."""
    return _number(acq.get("_frame_duration"))


def _number(text: str | None, integer: bool = False) -> float | None:
    try:
        value = number(text) if text is not None else None  # ('1_0': none)
    except ValueError:
        return None
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return float(int(value)) if integer else value


def _first(raw: dict[int, Any], tag: int) -> str | None:
    vals = raw_text(raw, tag)
    return vals[0] if vals else None


def radiopharmaceutical_values(items: Sequence[Any]) -> dict[str, Any]:
    """TracerName ... from the first item (a pydicom dataset) of the items of a
    RadiopharmaceuticalInformationSequence (0054,0016) (read by the header scan)."""
    if not items:
        return {}
    item = items[0]
    out: dict[str, Any] = {}
    tracer = str(item.get("Radiopharmaceutical", "") or "").split(" -- ")[0].strip()
    if tracer:
        out["TracerName"] = tracer
    for keyword, (key, scale) in _ITEM_NUMBERS.items():
        value = _number(str(item.get(keyword, "")).strip() or None)
        if value is not None and value > 0:
            out[key] = printed(value * scale)
    if "InjectedRadioactivity" in out:
        out["InjectedRadioactivityUnits"] = "MBq"
    start = str(item.get("RadiopharmaceuticalStartTime", "") or "").strip()
    if start:
        out["_injection_time"] = start
    return out


def pet_record_values(raw: dict[int, Any]) -> dict[str, Any]:
    """The stated values of one file (``_``-prefixed: inputs of :func:`pet_annotate`); the
    sequence's are :func:`radiopharmaceutical_values`'."""
    out: dict[str, Any] = {}
    for tag, key in _TEXT.items():
        if tag not in raw:  # (absent from most files: no call for them)
            continue
        vals = raw_text(raw, tag)
        if vals and any(vals):
            out[key] = "\\".join(vals)
    for tag, (key, integer, scale) in _NUMBERS.items():
        if tag not in raw:
            continue
        value = _number(_first(raw, tag), integer)
        if value is not None and value > 0:
            out[key] = printed(value * scale)
    if EXPOSURE in raw and not _number(_first(raw, ECHO_TIME)):
        out["_x_ray"] = True  # (dcm2niix: 'if (d.TE == 0) { d.isXRay = true; ...')
    else:  # (dcm2niix writes the exposure it kept as its TE of an X-ray image only)
        out.pop("XRayExposure", None)
    if _first(raw, DECAY_FACTOR) is None and (raw_text(raw, MODALITY) or [""])[0] != "PT":
        return out  # (the timing inputs serve PET frames and decay factors only: not kept)
    corrected = {v.strip().upper() for v in raw_text(raw, CORRECTED_IMAGE) or [] if v.strip()}
    if corrected:  # (in any order: what tells AC and NAC images apart, not a sidecar key)
        out["_corrected_image"] = "\\".join(sorted(corrected))
    for tag, key in (
        (SERIES_TIME, "_series_time"),
        (FRAME_DURATION, "_frame_duration"),
        (FRAME_REFERENCE, "_frame_reference"),
        (DECAY_FACTOR, "_decay_factor"),
    ):
        text = _first(raw, tag)
        if text is not None:
            out[key] = text
    return out


def _stated(key: str) -> Callable[[FrameRecord], str]:
    """A record's ``acq`` value of ``key`` as text, upper-cased with its runs of spaces made one
    (a spelling is no other reconstruction: ``Bqml`` is ``BQML``, ``OSEM3D  4i8s`` is
    ``OSEM3D 4I8S``), "missing" when it states none (as written: what the split leaves out)."""

    def stated(r: FrameRecord) -> str:
        value = (r.acq or {}).get(key)  # (absent from nearly every image: "missing" at once)
        return " ".join(str(value).split()).upper() or "missing" if value else "missing"

    return stated


#: What tells two reconstructions of one acquisition apart (a CT's kernels; a PET's images with
#: and without attenuation correction, of another method or in other units), for the split of a
#: series that holds both (:mod:`lazyvol.dicom.grouping`): (attribute, label, a record's value).
RECONSTRUCTIONS: tuple[tuple[str, str, Callable[[FrameRecord], str]], ...] = (
    ("ConvolutionKernel (0018,1210)", "kernel", lambda r: r.convolution_kernel or "missing"),
    ("CorrectedImage (0028,0051)", "corrections", _stated("_corrected_image")),
    ("Units (0054,1001)", "units", _stated("Units")),
    ("ReconstructionMethod (0054,1103)", "reconstruction", _stated("ReconstructionMethod")),
    ("DecayCorrection (0054,1102)", "decay correction", _stated("DecayCorrection")),
)


def x_ray(acq: dict[str, Any]) -> bool:
    """Whether a file of values ``acq`` (:func:`pet_record_values`) states Exposure (0018,1152),
    any value, and no EchoTime (0018,0081) but 0: dcm2niix then writes no SliceThickness,
    SpacingBetweenSlices nor EchoTime ("with CT scans, slice thickness often varies"; its
    ``isXRay``, set by Exposure only while the echo time it read before is 0), whatever the
    modality: an MR image stating both keeps them."""
    return bool(acq.get("_x_ray"))


def recon_method(method: str) -> dict[str, Any]:
    """ReconMethodName, ReconMethodParameterLabels and -Values of a ReconstructionMethod text
    (``"OSEM3D 3i21s"``: 3 iterations, 21 subsets; ``"OSEM i4s8"``), as dcm2niix reads it."""
    out: dict[str, Any] = {}
    name = next((label for text, label in _METHODS if text in method), "")
    if not name:
        words = [label for texts, label in _PARTS if any(t in method for t in texts)]
        if "OSEM" not in method and "OS" in method:
            words.insert(0, "Ordered Subset")
        name = " ".join(words)
    if name:
        out["ReconMethodName"] = name
    # the largest count named; "3i21s" when the text ends with "s", else "i3s21"
    pattern = "{}{}" if method.endswith("s") else "{1}{0}"
    iterations = max((n for n in range(1, 33) if pattern.format(n, "i") in method), default=0)
    subsets = max((n for n in range(1, 32) if pattern.format(n, "s") in method), default=0)
    if iterations and subsets:
        out["ReconMethodParameterLabels"] = ["subsets", "iterations"]
        out["ReconMethodParameterValues"] = [subsets, iterations]
    return out


def recon_filter(kernel: str) -> dict[str, Any]:
    """ReconFilterType and ReconFilterSize of a ConvolutionKernel that ends with a number
    (``"FC13"``, ``"XYZ Gauss4.00"``, ``"I30f 3"``), as dcm2niix reads it; else none."""
    found = re.fullmatch(r"(.*?[^\d. ][ ]*)([\d.][\d. ]*)", kernel)
    if found is None:
        return {}
    out: dict[str, Any] = {}
    name = found.group(1).rstrip()
    if name:
        out["ReconFilterType"] = name
    size = _number(found.group(2).strip().split(" ")[0])
    if size is not None and size > 0:
        out["ReconFilterSize"] = printed(size)
    return out


def _seconds(rec: FrameRecord | None) -> float | None:
    return tm_seconds(rec.acquisition_time) if rec is not None else None


def _every(acqs: Sequence[dict[str, Any]], key: str, scale: float = 1.0) -> list[float] | None:
    """The value of ``key`` of every volume (times ``scale``), None unless every one states it."""
    vals = [_number(a.get(key)) for a in acqs]
    found = [printed(v * scale) for v in vals if v is not None]
    return found if len(found) == len(vals) else None


def _since(start: float | None, zero: float | None) -> float:
    """Seconds from ``zero`` to ``start``, never below 0; 0 when either is unknown."""
    return printed(max(0.0, start - zero)) if start is not None and zero is not None else 0


def _frame_starts(starts: list[float | None], zero: float | None) -> list[float] | None:
    """FrameTimesStart of several volumes: since the SeriesTime, else since the first volume's
    when the volumes are unevenly spaced (dcm2niix's rule); else None."""
    if zero is not None:
        return [_since(s, zero) for s in starts]
    known = [s for s in starts if s is not None]
    if len(known) < len(starts):
        return None
    steps = [b - a for a, b in itertools.pairwise(known) if b - a > 0]
    if not steps or max(steps) - min(steps) <= _UNEVEN:
        return None
    return [_since(s, known[0]) for s in known]


def _timeline(firsts: Sequence[FrameRecord]) -> list[float | None]:
    """When each volume's first image was acquired, in seconds on one timeline from the start of
    the first one's day: by date and time where every image states them (a dynamic scan across
    midnight), else times of day taken in volume order, a day added where they fall back by more
    than half a day (dcm2niix's times of day clamp such frames to 0)."""
    secs, wrap = acquired(list(firsts))
    if not wrap:
        return secs
    out: list[float | None] = []
    day, last = 0.0, None
    for t in secs:
        if t is not None and last is not None and t + day < last - _DAY / 2:
            day += _DAY
        out.append(None if t is None else t + day)
        last = out[-1] if t is not None else last
    return out


def _frame_lists(
    firsts: Sequence[FrameRecord], acqs: Sequence[dict[str, Any]], modality: str
) -> dict[str, Any]:
    """DecayFactor, FrameReferenceTime and FrameTimesStart, one per volume."""
    out: dict[str, Any] = {}
    zero = tm_seconds(acqs[0].get("_series_time"))
    decay = _every(acqs, "_decay_factor")
    if decay is not None:
        out["DecayCorrectionFactor" if zero is not None else "DecayFactor"] = decay
    starts = _timeline(firsts)
    known = next((t for t in starts if t is not None), None)
    if zero is not None and known is not None:
        zero -= _DAY * round((zero - known) / _DAY)  # (the series began the day of its frames)
    if len(firsts) == 1 and decay is not None:
        out["FrameTimesStart"] = [_since(starts[0], zero)]
    elif len(firsts) > 1 and modality == "PT":
        times = _frame_starts(starts, zero)
        if times is not None:
            out["FrameTimesStart"] = times
        reference = _every(acqs, "_frame_reference", 1e-3)
        if reference is not None:
            out["FrameReferenceTime"] = reference
    return out


def pet_annotate(
    bids: dict[str, Any],
    acq: dict[str, Any],
    slots: Sequence[FrameRecord | None],
    nk: int,
    values: Callable[[FrameRecord], dict[str, Any]],
) -> None:
    """Write the keys of the module docstring into ``bids`` (the volume's sidecar so far): ``acq``
    the first file's values, ``slots`` the volume's records (k fastest, then t), ``values`` a
    record's values."""
    step = max(1, nk)
    heads = [
        next((r for r in slots[t : t + step] if r is not None), None)
        for t in range(0, len(slots), step)
    ]
    firsts = [r for r in heads if r is not None]
    if len(firsts) < len(heads):
        firsts = []
    acqs = [values(r) for r in firsts]
    for key in (*_TEXT.values(), *(k for k, _, _ in _NUMBERS.values())):
        if key in acq:
            bids[key] = acq[key]
    for key in ("TracerName", "InjectedRadioactivity", "InjectedRadioactivityUnits"):
        if key in acq:
            bids[key] = acq[key]
    for key, _ in _ITEM_NUMBERS.values():
        if key in acq:
            bids[key] = acq[key]
    if bids.get("Units") == "BQML":
        bids["Units"] = "Bq/mL"
    if "AttenuationCorrectionMethod" in bids:
        bids["AttenuationCorrection"] = bids["AttenuationCorrectionMethod"].split(",")[0]
    bids.update(recon_method(str(acq.get("ReconstructionMethod", ""))))
    bids.update(recon_filter(str(acq.get("ConvolutionKernel", ""))))
    modality = firsts[0].modality if firsts else ""
    if not firsts:
        return
    bids.update(_frame_lists(firsts, acqs, modality))
    if modality == "PT":
        _pet_timing(bids, acq, firsts, acqs)


def _pet_timing(
    bids: dict[str, Any],
    acq: dict[str, Any],
    firsts: Sequence[FrameRecord],
    acqs: Sequence[dict[str, Any]],
) -> None:
    """FrameDuration, SeriesTime, ScanStart and the decay correction. (RepetitionTime is left
    out beside a FrameDuration once the measured one may have replaced the stated one:
    :func:`lazyvol.dicom.sidecar_derived.measured_repetition`.)"""
    durations = [frame_duration(a) for a in acqs]
    if durations and None not in durations:
        tr = bids.get("RepetitionTime")
        bids["FrameDuration"] = [
            printed(float(d) / 1000.0) if d or not tr else tr for d in durations if d is not None
        ]
    series = tm_seconds(acq.get("_series_time"))
    first = _seconds(firsts[0])
    if series is None and first is None:
        return
    if series is not None:
        s = int(series)
        bids["SeriesTime"] = f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
    bids["ScanStart"] = 0
    correction = acq.get("DecayCorrection")
    if correction is None:
        return
    bids["ImageDecayCorrected"] = correction != "NONE"
    zero = series if series is not None else first
    injection = tm_seconds(acq.get("_injection_time"))
    if correction == "START":
        bids["ImageDecayCorrectionTime"] = 0
    elif correction == "ADMIN" and injection is not None and zero is not None:
        # (the times of day's plain difference, as dcm2niix: a scan many hours after its
        # injection (Zr-89, Cu-64) is as common as one across midnight, which states no date here)
        bids["ImageDecayCorrectionTime"] = printed(injection - zero)
