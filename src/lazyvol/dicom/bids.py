"""Acquisition parameters under BIDS names (``vol.meta["bids"]``) and the JSON sidecar.

Two steps, as the header scan and the stacking are two steps:

- :func:`record_values` (header scan, per file): the acquisition attributes of one file, already in
  BIDS units (seconds, degrees), kept on :attr:`FrameRecord.acq` (small: only what the file has).
- :func:`annotate` (stacking, per volume): ``meta["bids"]`` from the volume's first frame and, for
  the values that vary, from all of them (SliceTiming from the slices of the first volume), and
  ``meta["diffusion"]`` (b-values and gradient directions per volume, DICOM patient frame).

Values follow dcm2niix's sidecars (the reference BIDS converter) where the DICOM data define them:
RepetitionTime and EchoTime in seconds, SliceTiming in seconds in slice order ``k``
(:mod:`lazyvol.dicom.slice_timing`), PhaseEncodingDirection as ``i``/``j`` with ``-`` for negative
polarity, in the voxel axes of *this* volume (dcm2niix flips the row axis of its output, so its ``j`` is lazyvol's
``j-``), EffectiveEchoSpacing = 1 / (BandwidthPerPixelPhaseEncode x ReconMatrixPE) and
TotalReadoutTime = EffectiveEchoSpacing x (ReconMatrixPE - 1) (Siemens, where the bandwidth per pixel
in the phase direction is recorded).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .bids_enhanced import add_enhanced_record_values, echo_train, enhanced_annotate
from .bids_extra import (
    SEQUENCE_NAME,
    acquisition_time,
    extra_record_values,
    philips_readout,
)
from .bids_numbers import acq_value, dcm2niix_float, imaging_frequency
from .bids_numbers import number as _number
from .bids_numbers import seconds as _seconds
from .bids_pet import pet_annotate, pet_record_values, x_ray
from .charset import before_nul
from .ge_phase import annotate_pepolar, ge_echo_spacing, ge_phase_values
from .ge_timing import ge_keys, ge_record_values
from .image_type import (
    IMAGE_TYPE_TEXT,
    KINDS_APART,
    bids_image_type,
    nonlinear_gradient_correction,
    raw_image,
    stated_text,
)
from .model import SPLIT_VALUES
from .mosaic import csa_floats, csa_items, private_value, raw_text
from .parameter_notes import shared_parameters
from .records import FrameRecord, number, same_value
from .slice_timing import slice_timing
from .support import file_list
from .vendor import manufacturer, missing_bvalue_note, stated_manufacturer, vendor_of
from .volume_timing import uneven_volumes_note
from .xa_private import TIME_AFTER_START, sdi_tag

__all__ = [
    "BIDS_TAGS",
    "PE_POLARITY_TAGS",
    "UIH_PE_POLARITY",
    "XA_BW_PHASE",
    "XA_PE_POSITIVE",
    "XA_SDI_SEQUENCE",
    "acq_value",
    "annotate",
    "pe_positive",
    "protocol_name",
    "record_values",
    "xa_bandwidth",
]

#: Standard attributes read for the sidecar: tag -> (BIDS key, kind).
#: kinds: "str", "join" (multi-valued, joined with a backslash as dcm2niix), "float" (a value dcm2niix
#: holds as a C float, printed as it prints them), "double" (the number as stated), "int", "ms" (ms -> s),
#: "rc" (an in-plane direction: "ROW" or "COL" by its first letter, as dcm2niix reads it; enhanced
#: files write "COLUMN"), "g" (a number above 0, printed with 6 significant digits) and "count"
#: (an integer above 0): dcm2niix writes neither for 0. More keys in :mod:`.bids_extra`.
BIDS_TAGS: dict[int, tuple[str, str]] = {
    0x00080070: ("Manufacturer", "str"),
    0x00081090: ("ManufacturersModelName", "str"),
    0x00181020: ("SoftwareVersions", "str"),
    0x00180087: ("MagneticFieldStrength", "float"),
    0x00180084: ("ImagingFrequency", "double"),
    0x00180080: ("RepetitionTime", "ms"),
    0x00180082: ("InversionTime", "ms"),
    0x00181314: ("FlipAngle", "float"),
    0x00181030: ("ProtocolName", "str"),
    0x00181312: ("InPlanePhaseEncodingDirectionDICOM", "rc"),
    0x00180020: ("ScanningSequence", "join"),
    0x00180021: ("SequenceVariant", "join"),
    0x00180022: ("ScanOptions", "join"),
    0x00180024: ("SequenceName", "str"),
    0x00180023: ("MRAcquisitionType", "str"),
    0x00180095: ("PixelBandwidth", "float"),
    0x00185100: ("PatientPosition", "str"),
    0x00180015: ("BodyPart", "str"),
    0x00180091: ("EchoTrainLength", "int"),
    0x00080080: ("InstitutionName", "str"),
    0x00081040: ("InstitutionalDepartmentName", "str"),
    0x00080081: ("InstitutionAddress", "str"),
    0x00181000: ("DeviceSerialNumber", "str"),
    0x00081010: ("StationName", "str"),
    0x00400254: ("ProcedureStepDescription", "str"),
    0x00081030: ("StudyDescription", "str"),
    0x00204000: ("ImageComments", "str"),
    0x00181316: ("SAR", "g"),
    0x00180094: ("PercentPhaseFOV", "g"),
    0x00180093: ("PercentSampling", "g"),
    0x00180089: ("PhaseEncodingSteps", "count"),
    0x00180083: ("NumberOfAverages", "g"),
}

#: Siemens XA files (no CSA header): PhaseEncodingDirectionPositive (0021,111C) ("SIEMENS MR SDI
#: 02"; 1 positive, 0 negative, as the CSA header's), at the top level of classic files and in the
#: private sequence (0021,11FE) of an enhanced file's functional groups; read, as dcm2niix reads it,
#: in Siemens files only, in the block of its creator wherever a PACS moved it
#: (:mod:`lazyvol.dicom.xa_private`).
XA_PE_POSITIVE = 0x0021111C
XA_SDI_SEQUENCE = 0x002111FE
#: Siemens XA files: BandwidthPerPixelPhaseEncode (0021,1153) (FD), where older software wrote
#: (0019,1028) and the CSA header; beside (0021,111C), read in Siemens files only, as dcm2niix.
XA_BW_PHASE = 0x00211153
#: UIH (United Imaging) phase-encoding polarity (0065,1058) ("Image Private Header"; dcm2niix's
#: issue 410), read as text (IS), as dcm2niix reads it, in UIH files only: 1 is the negative
#: polarity, 0 the positive (dcm2niix writes j / i- for 1 and j- / i for 0 in its axes, whose j
#: is lazyvol's j-).
UIH_PE_POLARITY = 0x00651058
#: The elements other than the CSA header that state the polarity, by vendor (:func:`vendor_of`):
#: tag, and the value that means positive (:func:`pe_positive`'s 1).
PE_POLARITY_TAGS: dict[str, tuple[int, int]] = {
    "SIEMENS": (XA_PE_POSITIVE, 1),
    "UIH": (UIH_PE_POLARITY, 0),
}


def pe_positive(value: Any) -> int | None:
    """A PhaseEncodingDirectionPositive value (CSA item, (0021,111C) text, bytes, number or a
    list of them, the first taken): 1 or 0, else None."""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = value[0] if len(value) else None
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("latin-1")
    text = before_nul(str(value)).strip(" \x00")  # (as dcm2niix reads text)
    return int(text) if text in ("0", "1") else None


def xa_bandwidth(elem: Any) -> float | None:
    """The value of a Siemens XA BandwidthPerPixelPhaseEncode (0021,1153) element (a raw one of
    the header scan or one pydicom read): a double (FD, as Siemens writes it) in its file's byte
    order, or a number written as text (DS); None when absent or not a positive number. An
    implicit-VR file states no VR: 8 bytes that are all characters of a number are text."""
    value: Any = getattr(elem, "value", None)
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
        vr = getattr(elem, "VR", None)
        text = vr in ("DS", "IS") or (vr is None and not raw.strip(b"0123456789.+-eE \x00"))
        if len(raw) == 8 and not text:
            little = bool(getattr(elem, "is_little_endian", True))
            value = struct.unpack("<d" if little else ">d", raw)[0]
        else:
            value = raw.decode("latin-1").strip(" \x00").split("\\")[0]
    elif isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = value[0] if len(value) else None
    try:
        f = number(value) if value is not None else math.nan  # ('1_0': none)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) and f > 0 else None


def record_values(raw: dict[int, Any], csa: dict[str, Any] | str | None) -> dict[str, Any]:
    """BIDS-named acquisition values of one file (and ``_``-prefixed inputs of later steps).

    ``csa`` is the parsed Siemens CSA image header (or None / a reason it did not parse).
    """
    out: dict[str, Any] = {}
    for tag, (key, kind) in BIDS_TAGS.items():
        if tag not in raw:  # (most are absent from a file: no call for them)
            continue
        vals = raw_text(raw, tag)
        if not vals:
            continue
        if kind == "str":
            out[key] = "\\".join(vals)
        elif kind == "join":
            out[key] = "\\".join(v for v in vals if v)
        else:
            value = acq_value(kind, vals[0])
            if value is not None:
                out[key] = value
    if (image_type := stated_text(getattr(raw.get(0x00080008), "value", None))) is not None:
        out[IMAGE_TYPE_TEXT] = image_type
    creator = raw_text(raw, 0x20010010)
    maker = stated_manufacturer(out.get("Manufacturer"), creator[0] if creator else None)
    if maker:
        out["Manufacturer"] = manufacturer(maker)
    vendor = vendor_of(str(out.get("Manufacturer", "")))
    if out.get("Manufacturer") == "GE":
        out.update(ge_record_values(raw))
        out.update(ge_phase_values(raw, str(out.get("ScanOptions", ""))))
    add_enhanced_record_values(raw, out)  # (after (0018,0089) and (0018,0082), as dcm2niix)
    out.update(extra_record_values(raw, vendor, out))
    out.update(pet_record_values(raw))
    table = csa if isinstance(csa, dict) else None
    # Siemens private values: the CSA image header, else the (0019,10xx) elements.
    bw = csa_floats(table, "BandwidthPerPixelPhaseEncode")
    if bw is None:
        p = private_value(raw, 0x00191028)
        bw = p if isinstance(p, list) else None
    if bw is None and vendor == "SIEMENS":
        xa = xa_bandwidth(raw.get(sdi_tag(raw, XA_BW_PHASE & 0xFF)))
        bw = None if xa is None else [xa]
    if bw and bw[0] > 0:
        out["BandwidthPerPixelPhaseEncode"] = bw[0]
    if vendor == "SIEMENS" and (after := raw_text(raw, sdi_tag(raw, TIME_AFTER_START))):
        value = _number(after[0])
        if value is not None and math.isfinite(value):
            out["_time_after_start"] = float(value)  # (XA classic slice times: slice_timing)
    pos = csa_items(table, "PhaseEncodingDirectionPositive")
    positive = pe_positive(pos)
    tag, plus = PE_POLARITY_TAGS.get(vendor, (0, 1))
    if tag == XA_PE_POSITIVE:
        tag = sdi_tag(raw, tag & 0xFF)
    if positive is None and tag:
        stated = pe_positive(raw_text(raw, tag))
        positive = None if stated is None else int(stated == plus)
    if positive is not None:
        out["_pe_positive"] = positive
    bval = csa_floats(table, "B_value")
    if bval is None:
        p = private_value(raw, 0x0019100C)
        bval = [float(p)] if isinstance(p, int) else None
    grad = csa_floats(table, "DiffusionGradientDirection")
    if grad is None:
        p = private_value(raw, 0x0019100E)
        grad = p if isinstance(p, list) else None
    if bval is not None and bval[0] >= 0:
        out["_bval"] = bval[0]
        out["_bval_source"] = "Siemens CSA B_value" if table else "Siemens (0019,100C)"
        if grad is not None and len(grad) == 3:
            out["_grad"] = grad
    return out


Getter = Callable[[FrameRecord | None], dict[str, Any]]

#: An enhanced frame's values that are its own or none, never another frame's of its file: its
#: TimeAfterStart (a slice time) and the echo number its echo time gave it.
_FRAME_OWN = frozenset({"_time_after_start", "EchoNumber"})


def _getter(frames: Sequence[FrameRecord]) -> Getter:
    """Each record's values: its file's (a mosaic keeps them on its first tile only, since the
    scan index stores every tile's record), updated with its own (a tile's slice time). An
    enhanced file's frame is completed with the file's frame of the most values (a value its
    functional groups state on some frames only, as dcm2niix writes it: RepetitionTime,
    FlipAngle, ...) but for :data:`_FRAME_OWN` (a frame stating no TimeAfterStart took
    another frame's time, SliceTiming a wrong one)."""
    shared = _file_values(frames)

    def get(rec: FrameRecord | None) -> dict[str, Any]:
        if rec is None:
            return {}
        own = rec.acq or {}
        base = shared.get(rec.path)
        if base is None or base is own:
            return own
        if rec.number_of_frames > 1 and rec.mosaic is None:
            return {**{k: v for k, v in base.items() if k not in _FRAME_OWN}, **own}
        return {**base, **own}

    return get


def _file_values(frames: Sequence[FrameRecord]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in frames:
        if r.acq and len(r.acq) > len(out.get(r.path, {})):
            out[r.path] = r.acq
    return out


def _phase_encoding(first: FrameRecord, acq: dict[str, Any]) -> dict[str, Any]:
    """PhaseEncodingDirection (lazyvol voxel axes), EffectiveEchoSpacing, TotalReadoutTime.

    As dcm2niix: no phase-encoding axis for a 3D acquisition but one of no spin echo with an echo
    train or a stated phase-encode bandwidth (3D EPI, segmented gradient echo, Siemens MPRAGE);
    ReconMatrixPE for every MR image; the echo spacing from Siemens' bandwidth per pixel in the
    phase direction, else from GE's private values (:func:`lazyvol.dicom.ge_phase.ge_echo_spacing`).
    """
    out: dict[str, Any] = {}
    ped = acq.get("InPlanePhaseEncodingDirectionDICOM")
    if ped in ("ROW", "COL"):
        axis = "i" if ped == "ROW" else "j"
        positive = acq.get("_pe_positive")
        # (a 3D acquisition has one only with an echo train or a stated phase-encode bandwidth,
        # and no spin echo in ScanningSequence: 3D EPI, segmented or Siemens gradient echo
        # (MPRAGE), not SPACE / CUBE / VISTA; dcm2niix's issue 849 rule, checked against the
        # installed dcm2niix)
        spin_echo = "SE" in str(acq.get("ScanningSequence", "")).split("\\")
        readout = echo_train(acq) > 1 or bool(acq.get("BandwidthPerPixelPhaseEncode"))
        if acq.get("MRAcquisitionType") != "3D" or (readout and not spin_echo):
            if positive is not None:
                out["PhaseEncodingDirection"] = axis if positive == 1 else axis + "-"
            else:
                out["PhaseEncodingAxis"] = axis
    recon_pe = _recon_matrix_pe(first, acq, ped)
    if recon_pe > 0 and first.modality == "MR":
        out["ReconMatrixPE"] = recon_pe  # (dcm2niix writes it for every MR image)
    bw = acq.get("BandwidthPerPixelPhaseEncode")
    if bw and recon_pe > 1:
        ees = 1.0 / (float(bw) * recon_pe)
        out["ReconMatrixPE"] = recon_pe
        out["EffectiveEchoSpacing"] = float(f"{ees:.6g}")
        out["TotalReadoutTime"] = float(f"{ees * (recon_pe - 1):.6g}")
    else:
        out.update(ge_echo_spacing(acq, recon_pe))
    return out


def _recon_matrix_pe(first: FrameRecord, acq: dict[str, Any], ped: Any) -> int:
    """ReconMatrixPE as dcm2niix takes it: the image's size along its phase-encoding direction,
    the size of a square image whatever the direction says, else (no ROW / COL direction: an
    anonymiser or converter dropped (0018,1312)) AcquisitionMatrixPE; 0 when none is known."""
    if first.rows > 0 and first.columns > 0:
        if first.rows == first.columns or ped == "COL":
            return first.rows
        if ped == "ROW":
            return first.columns
    return int(acq.get("AcquisitionMatrixPE") or 0)


def protocol_name(bids: dict[str, Any], vendor: str) -> str:
    """ProtocolName, as dcm2niix writes it (and splits series by it:
    :func:`lazyvol.dicom.grouping.split_series`): (0018,1030), else SeriesDescription, else (not
    for Siemens, whose SequenceName varies from volume to volume) SequenceName; a fallback only
    when it is longer than one character (dcm2niix's test)."""
    if bids.get("ProtocolName"):
        return str(bids["ProtocolName"])
    description = str(bids.get("SeriesDescription") or "")
    if len(description) > 1:
        return description
    sequence = str(bids.get("SequenceName") or "")
    return sequence if len(sequence) > 1 and vendor != "SIEMENS" else ""


def _one_echo_of_several(info: Any, frames: Sequence[FrameRecord], _acq: Getter) -> int | None:
    """The EchoNumber of a volume of one echo, as dcm2niix writes it (for an echo number above 1,
    or an echo of a multi-echo series); else None. Its EchoNumbers when every image states one
    above 1 (a Siemens phase-difference series, EchoNumbers 2; the second echo of a field map
    split from the first by its image type; an echo exported as a series of its own) or when the
    volume was split from its series per echo by them; else the number an enhanced file of
    several echo times gave its echo (:func:`lazyvol.dicom.multiframe.expand_frames`, as dcm2niix
    numbers them). A volume split from its series by EchoTime whose images all state one
    EchoNumbers has it too, 1 included (dcm2niix's multi-echo flag is set by the echo times
    differing); single-frame files told apart by EchoTime stating no EchoNumbers get none.)"""
    numbers = {r.echo_number for r in frames}
    echo = numbers.pop() if len(numbers) == 1 else None
    if echo is not None:
        label = f"EchoNumbers {echo}"
        for reason in getattr(info, "reasons", ()):
            values = reason[len(SPLIT_VALUES) :].split(", ")
            if reason.startswith(SPLIT_VALUES) and (
                label in values or any(v.startswith("EchoTime ") for v in values)
            ):
                return echo
    given = {_acq(r).get("EchoNumber") for r in frames}
    if len(given) == 1 and None not in given:
        return given.pop()
    return echo if echo is not None and echo > 1 else None


def annotate(info: Any, slots: Sequence[FrameRecord | None], nk: int) -> None:
    """Fill ``info.meta["bids"]`` / ``["diffusion"]`` from the volume's frames (k fastest, then t)."""
    frames = [r for r in slots if r is not None]
    if not frames:
        return
    _annotate(info, slots, frames, nk, _getter(frames))


def _copy(bids: dict[str, Any], acq: dict[str, Any], keys: str) -> None:
    """Copy the values of ``keys`` (space-separated) that ``acq`` has into ``bids``."""
    for key in keys.split():
        if key in acq:
            bids[key] = acq[key]


def _image_type(bids: dict[str, Any], first: FrameRecord, acq: dict[str, Any]) -> None:
    """ImageType, NonlinearGradientCorrection and RawImage (false for a DERIVED image) from the
    file's ImageType (not an enhanced frame's FrameType), from its text as written where
    stripping its values changes it."""
    stated = first.stated_image_type or []
    text = acq.get(IMAGE_TYPE_TEXT)
    if not stated and text is None:  # (text without values: blanks, as dcm2niix writes them)
        return
    apart = bool(acq.get(KINDS_APART))
    if image_type := bids_image_type(stated, first.complex_component, text, apart):
        bids["ImageType"] = image_type
    if (corrected := nonlinear_gradient_correction(stated, text)) is not None:
        bids["NonlinearGradientCorrection"] = corrected
    if (raw := raw_image(stated, text)) is not None:
        bids["RawImage"] = raw  # (as dcm2niix: "DERIVED" in the text it keeps, case kept)


def _thickness_and_echo(
    bids: dict[str, Any], frames: Sequence[FrameRecord], acq: dict[str, Any]
) -> None:
    """SliceThickness (every image's one value: else :func:`~.stack_notes.thickness_note`),
    SpacingBetweenSlices (the first image's), SAR, TablePosition and EchoTime (every image's one
    value); none at or below 0, nor (thickness, spacing, echo time) for an image stating Exposure
    (:func:`~.bids_pet.x_ray`), as dcm2niix writes them."""
    xray = x_ray(acq)
    thick = same_value(r.slice_thickness for r in frames if r.slice_thickness is not None)
    if thick is not None and thick > 0 and not xray:
        bids["SliceThickness"] = dcm2niix_float(thick)
    spacing = frames[0].spacing_between_slices
    if spacing is not None and spacing > 0 and not xray:
        bids["SpacingBetweenSlices"] = dcm2niix_float(spacing)
    _copy(bids, acq, "SAR TablePosition")
    echo = same_value(r.echo_time for r in frames if r.echo_time is not None)
    if echo is not None and echo > 0 and not xray:
        bids["EchoTime"] = _seconds(echo)


def _annotate(
    info: Any,
    slots: Sequence[FrameRecord | None],
    frames: list[FrameRecord],
    nk: int,
    _acq: Getter,
) -> None:
    first = frames[0]
    acq = _acq(first)
    bids: dict[str, Any] = {}
    if first.modality:
        bids["Modality"] = first.modality
    _copy(
        bids,
        acq,
        "MagneticFieldStrength Manufacturer InternalPulseSequenceName "
        "ManufacturersModelName InstitutionName InstitutionalDepartmentName InstitutionAddress "
        "DeviceSerialNumber StationName BodyPart PatientPosition ProcedureStepDescription "
        "SoftwareVersions MRAcquisitionType StudyDescription",
    )
    if (frequency := imaging_frequency(acq.get("ImagingFrequency"))) is not None:
        bids["ImagingFrequency"] = frequency
    if first.series_description:
        bids["SeriesDescription"] = first.series_description
    for key in (
        "ProtocolName",
        "ScanningSequence",
        "SequenceVariant",
        "ScanOptions",
        "SequenceName",
    ):
        if key in acq:
            bids[key] = acq[key]
    protocol = protocol_name(bids, vendor_of(str(acq.get("Manufacturer", ""))))
    if protocol:
        bids["ProtocolName"] = protocol
    if SEQUENCE_NAME in acq and "SequenceName" not in bids:  # (not a ProtocolName)
        bids["SequenceName"] = acq[SEQUENCE_NAME]
    _image_type(bids, first, acq)
    if first.series_number is not None:
        bids["SeriesNumber"] = first.series_number
    if first.acquisition_number is not None and first.acquisition_number > 0:
        bids["AcquisitionNumber"] = first.acquisition_number  # (the first image's, as dcm2niix)
    _copy(bids, acq, "ImageComments")
    _thickness_and_echo(bids, frames, acq)
    echo_number = _one_echo_of_several(info, frames, _acq)
    if echo_number is not None:
        bids["EchoNumber"] = echo_number
    # (every frame: an enhanced file's frames carry their own (functional-group) values)
    info.warnings.extend(shared_parameters(bids, frames, _acq))  # TR, TI, FlipAngle
    for key in ("PixelBandwidth", "BandwidthPerPixelPhaseEncode"):
        if key in acq:
            bids[key] = acq[key]
    ge_keys(bids, acq)
    annotate_pepolar(info, frames)
    _copy(bids, acq, "ShimSetting PrescanReuseString CoilString PercentPhaseFOV PercentSampling")
    if (train := echo_train(acq)) > 1:  # as dcm2niix, any vendor: GE writes 1 for EPI
        bids["EchoTrainLength"] = train
    if acq.get("NumberOfAverages", 0) > 1:  # (as dcm2niix: none for 1)
        bids["NumberOfAverages"] = acq["NumberOfAverages"]
    _copy(bids, acq, "PartialFourierEnabled PhaseEncodingStepsNoPartialFourier PhaseEncodingSteps")
    if first.modality == "MR":
        _copy(bids, acq, "AcquisitionMatrixPE")
    bids.update(_phase_encoding(first, acq))
    if bids.get("Manufacturer") == "Philips":
        bids.update(philips_readout(acq, bids, echo_train(acq)))
    _copy(
        bids,
        acq,
        "ParallelReductionFactorInPlane ParallelReductionFactorOutOfPlane AcquisitionDuration",
    )
    enhanced_annotate(bids, acq)
    if "InPlanePhaseEncodingDirectionDICOM" in acq:
        bids["InPlanePhaseEncodingDirectionDICOM"] = acq["InPlanePhaseEncodingDirectionDICOM"]
    timing = slice_timing(slots, nk, _acq, bids, info.warnings)
    if timing is not None:
        bids["SliceTiming"] = timing
    acquisition_time(bids, info.meta, slots, nk, frames)
    if uneven := uneven_volumes_note(info.meta, first.modality):
        info.warnings.append(uneven)
    if (iop := first.stated_iop or first.iop) is not None:  # (as stated, not repaired; %g)
        bids["ImageOrientationPatientDICOM"] = [dcm2niix_float(c) for c in iop]
    _copy(bids, acq, "ImageOrientationText PhaseEncodingDirectionDisplayed")
    pet_annotate(bids, acq, slots, nk, _acq)
    info.meta["bids"] = bids
    # The voxel axes SliceTiming and PhaseEncodingDirection refer to (re-mapped when the volume
    # is sliced, flipped or transposed before it is written; see sidecar()).
    info.meta["bids_affine"] = np.asarray(info.affine, dtype=np.float64).tolist()
    _diffusion(info, slots, nk, _acq)


def _diffusion(info: Any, slots: Sequence[FrameRecord | None], nk: int, _acq: Getter) -> None:
    """``meta["diffusion"]`` from the per-file Siemens values (CSA / (0019,10xx)); a volume
    without a b-value among volumes that state one is b = 0 (as :func:`diffusion_meta`)."""
    if "diffusion" in info.meta:
        return  # filled from the standard / other vendors' tags
    nt = max(1, len(slots) // max(1, nk))
    volumes = [[r for r in slots[t * nk : (t + 1) * nk] if r is not None] for t in range(nt)]
    if not all(volumes) or not any("_bval" in _acq(vol[0]) for vol in volumes):
        return
    bvals: list[float] = []
    grads: list[list[float]] = []
    sources: set[str] = set()
    missing: list[int] = []
    for t, vol in enumerate(volumes):
        acq = _acq(vol[0])
        if any(
            _acq(r).get("_bval") != acq.get("_bval") or _acq(r).get("_grad") != acq.get("_grad")
            for r in vol
        ):
            # slices of one volume disagree: not a diffusion table lazyvol can vouch for
            info.warnings.append(
                f"diffusion table not kept: the slices of volume {t} state different Siemens "
                f"b-values or directions ({_image_names(vol)})"
            )
            return
        if "_bval" not in acq:
            missing.append(t)
            bvals.append(0.0)
            grads.append([0.0, 0.0, 0.0])
            continue
        b = float(acq["_bval"])
        g = acq.get("_grad")
        bvals.append(b)
        if b == 0 or g is None:
            grads.append([0.0, 0.0, 0.0])
        else:
            n = math.sqrt(sum(float(x) * float(x) for x in g))
            grads.append([float(x) / n for x in g] if n > 0 else [0.0, 0.0, 0.0])
        sources.add(str(acq.get("_bval_source", "")))
    if not any(b > 0 for b in bvals):
        return
    info.meta["diffusion"] = {
        "bvals": bvals,
        "gradients_lps": grads,
        "source": ", ".join(sorted(sources)),
    }
    if missing:
        info.meta["diffusion"]["no_bvalue"] = missing
        note = missing_bvalue_note(str(_acq(slots[0]).get("Manufacturer", "")), missing)
        if note is not None:
            info.warnings.append(note)


def _image_names(records: Sequence[FrameRecord]) -> str:
    return file_list(sorted({r.path for r in records}), 2)
