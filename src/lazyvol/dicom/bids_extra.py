"""Sidecar keys beyond the acquisition parameters of :data:`lazyvol.dicom.bids.BIDS_TAGS`, read as
dcm2niix reads them (checked value by value against the installed dcm2niix on edited copies of
the GE and Siemens series of dcm_qa_nih, Manufacturer changed for the other vendors):

- AcquisitionMatrixPE, every MR image: the phase-encoding lines of AcquisitionMatrix (0018,1310)
  (:func:`lazyvol.dicom.ge_phase.acquisition_matrix_pe`);
- ParallelReductionFactorInPlane / ParallelReductionFactorOutOfPlane: GE's ASSET factors
  (0043,1083) (1 / the first, 1 / the second), else (0018,9069) / (0018,9155); none below 1 (as
  dcm2niix). A Siemens file's: (0018,9069) only, above 1 (dcm2niix writes no factor of 1
  from it), which its protocol's ``sPat.lAccelFactPE`` replaces
  (:mod:`lazyvol.dicom.siemens_sidecar`), as dcm2niix reads them;
- CoilString: ReceiveCoilName (0018,1250), not for Siemens (dcm2niix takes a Siemens CoilString
  from (0051,100F) and writes it only when it differs from the protocol's active coil elements:
  :mod:`lazyvol.dicom.siemens_sidecar`);
- PhaseEncodingSteps (0018,0089) (:data:`BIDS_TAGS`) of a Philips image acquired with partial
  Fourier (ScanOptions PFF / PFP, PartialFourier (0018,9081) YES) is written, as dcm2niix writes
  it, as PhaseEncodingStepsNoPartialFourier with PartialFourierEnabled "YES";
- SequenceName: PulseSequenceName (0018,9005) (enhanced MR) when (0018,0024) states none (not
  a ProtocolName fallback, as GE's below);
- Siemens: ImageOrientationText (0051,100E); UIH: PhaseEncodingDirectionDisplayed (0065,1005)
  (its text, e.g. "A>>P", whatever its private block's creator, as dcm2niix reads it);
- GE: ProcedureStepDescription with the PSEQ of the protocol data block (0025,101B)
  (:mod:`lazyvol.dicom.ge_timing`) appended (as dcm2niix appends it: "Gradient Echo" alone when
  (0040,0254) states none), InternalPulseSequenceName ("EPI" or "EPI2" in (0019,109E), nothing else), the
  PulseSequenceName (0019,109C) as SequenceName when (0018,0024) states none (not a ProtocolName
  fallback: dcm2niix's is not), PrescanReuseString (0043,1095), AcquisitionDuration (0019,105A)
  (FL, microseconds; in seconds), ShimSetting, the gradient offsets (0043,1002) to (0043,1004)
  (only when all three are stated: dcm2niix writes -33333 for a missing one), and TablePosition
  [0, 0, the third value of (0043,10B2) - the table delta (0019,107F)].

Like dcm2niix, a volume takes these from its first image. dcm2niix writes an
InstitutionalDepartmentName "None" for images that state none; lazyvol writes none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .._per_volume import VOLUME_ACQUISITION, clock
from .bids_numbers import printed  # (defined there: ge_timing needs it without bids_extra)
from .dicom_time import (
    SIDECAR_DATED,
    SIDECAR_UNDATED,
    acquired,
    dt_instant,
    sidecar_clock,
    sidecar_dated,
    sidecar_undated,
    tm_resolution,
    tm_seconds,
)
from .ge_phase import (
    IN_PLANE_FACTOR,
    PARTIAL_FOURIER,
    _acceleration,
    _numbers,
    acquisition_matrix_pe,
)
from .mosaic import raw_text
from .records import number
from .stated_counts import STATED_TAGS, stated_counts

__all__ = [
    "EXTRA_TAGS",
    "RECEIVE_COIL",
    "SEQUENCE_NAME",
    "SIEMENS_COIL_TEXT",
    "extra_record_values",
    "philips_readout",
    "printed",
]

OUT_OF_PLANE_FACTOR = 0x00189155
#: Philips' water-fat shift in pixels (2001,1022) (FL) and EPI factor (2001,1013) (SL), read by
#: element number in Philips files, as dcm2niix reads them.
PHILIPS_WATER_FAT_SHIFT = 0x20011022
PHILIPS_EPI_FACTOR = 0x20011013
#: ``acq`` key of the EPI factor (2001,1013): the echo train dcm2niix takes where the file's
#: EchoTrainLength (0018,0091), at the top level or in an enhanced file's functional groups,
#: states none or 0 (:func:`lazyvol.dicom.bids._echo_train`, once every source is merged).
EPI_FACTOR = "_philips_epi_factor"
RECEIVE_COIL = 0x00181250
SIEMENS_ORIENTATION_TEXT = 0x0051100E
#: Siemens' coil name (CoilString (0051,100F)); dcm2niix takes it over ReceiveCoilName.
SIEMENS_COIL_TEXT = 0x0051100F
GE_INTERNAL_SEQUENCE = 0x0019109E
GE_PULSE_SEQUENCE = 0x0019109C
#: PulseSequenceName (0018,9005) of the MR Pulse Sequence module (enhanced MR files).
PULSE_SEQUENCE_NAME = 0x00189005
#: The ``acq`` key of a pulse sequence name written as SequenceName where (0018,0024) states
#: none, but no ProtocolName fallback (dcm2niix's is not): (0018,9005), else GE's (0019,109C).
SEQUENCE_NAME = "_sequence_name"
GE_PRESCAN_REUSE = 0x00431095
GE_ACQUISITION_DURATION = 0x0019105A
UIH_PE_DISPLAYED = 0x00651005
GE_SHIM = (0x00431002, 0x00431003, 0x00431004)
GE_TABLE = 0x004310B2
GE_TABLE_DELTA = 0x0019107F
#: AcquisitionDate (0008,0022), AcquisitionTime (0008,0032), AcquisitionDateTime (0008,002A).
ACQUISITION_STAMPS = (0x00080022, 0x00080032, 0x0008002A)
#: The elements read here (beside BIDS_TAGS and the GE phase elements).
EXTRA_TAGS = frozenset(
    {
        OUT_OF_PLANE_FACTOR,
        RECEIVE_COIL,
        SIEMENS_ORIENTATION_TEXT,
        UIH_PE_DISPLAYED,
        SIEMENS_COIL_TEXT,
        GE_INTERNAL_SEQUENCE,
        GE_PULSE_SEQUENCE,
        PULSE_SEQUENCE_NAME,
        GE_PRESCAN_REUSE,
        GE_ACQUISITION_DURATION,
        GE_TABLE,
        GE_TABLE_DELTA,
        *GE_SHIM,
        PHILIPS_WATER_FAT_SHIFT,
        PHILIPS_EPI_FACTOR,
        *STATED_TAGS,
        *ACQUISITION_STAMPS,
    }
)


def _first_number(raw: dict[int, Any], tag: int, at: int = 0) -> float | None:
    """Value ``at`` of a text (DS, LO) element as a number, else None."""
    vals = raw_text(raw, tag) or []
    try:
        return number(vals[at]) if len(vals) > at else None  # ('1_0': none)
    except ValueError:
        return None


def _text(raw: dict[int, Any], tag: int) -> str:
    return "\\".join(raw_text(raw, tag) or [])


def _factors(raw: dict[int, Any], vendor: str) -> dict[str, Any]:
    """ParallelReductionFactorInPlane / OutOfPlane (see the module docstring)."""
    out: dict[str, Any] = {}
    asset = vendor == "GE"
    for key, at, tag in (
        ("ParallelReductionFactorInPlane", 0, IN_PLANE_FACTOR),
        ("ParallelReductionFactorOutOfPlane", 1, OUT_OF_PLANE_FACTOR),
    ):
        if vendor == "SIEMENS" and tag != IN_PLANE_FACTOR:
            continue  # (dcm2niix reads no (0018,9155) in a Siemens file)
        factor = _acceleration(raw, at if asset else None, tag)
        if factor is not None and (factor > 1 or (factor == 1 and vendor != "SIEMENS")):
            out[key] = printed(factor)
    return out


def _ge_values(raw: dict[int, Any], acq: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pulse_sequence = acq.pop("_ge_pulse_sequence", "")
    if pulse_sequence:  # (appended, as dcm2niix appends it)
        out["ProcedureStepDescription"] = acq.get("ProcedureStepDescription", "") + pulse_sequence
    internal = _text(raw, GE_INTERNAL_SEQUENCE)
    if internal in ("EPI", "EPI2"):
        out["InternalPulseSequenceName"] = internal
    sequence = _text(raw, GE_PULSE_SEQUENCE)
    if sequence and "SequenceName" not in acq:
        out[SEQUENCE_NAME] = sequence
    reuse = _text(raw, GE_PRESCAN_REUSE)
    if reuse:
        out["PrescanReuseString"] = reuse
    duration = _numbers(raw, GE_ACQUISITION_DURATION, "f")
    if duration and duration[0] > 0:
        out["AcquisitionDuration"] = printed(duration[0] / 1e6)
    shim = [_numbers(raw, tag, "h") for tag in GE_SHIM]
    if all(shim):
        out["ShimSetting"] = [int(s[0]) for s in shim if s]
    table = _first_number(raw, GE_TABLE, 2)
    if table is not None:
        delta = _first_number(raw, GE_TABLE_DELTA) or 0.0
        out["TablePosition"] = [0, 0, printed(table - delta)]
    return out


def extra_record_values(raw: dict[int, Any], vendor: str, acq: dict[str, Any]) -> dict[str, Any]:
    """The keys of the module docstring from one file's raw elements; ``vendor`` is
    :func:`lazyvol.dicom.vendor.vendor_of`'s, ``acq`` the file's :data:`BIDS_TAGS` values (a
    Philips PhaseEncodingSteps is renamed in it)."""
    out: dict[str, Any] = stated_counts(raw, vendor)
    stamps = [_text(raw, tag) for tag in ACQUISITION_STAMPS]
    if sidecar_undated(*stamps):
        out[SIDECAR_UNDATED] = True
    if sidecar_dated(*stamps[:2]):
        out[SIDECAR_DATED] = True
    lines = acquisition_matrix_pe(raw)
    if lines:
        out["AcquisitionMatrixPE"] = lines
    out.update(_factors(raw, vendor))  # (a Siemens protocol's replace them)
    if vendor != "SIEMENS":
        coil = _text(raw, RECEIVE_COIL)
        if coil:
            out["CoilString"] = coil
    else:
        orientation = _text(raw, SIEMENS_ORIENTATION_TEXT)
        if orientation:
            out["ImageOrientationText"] = orientation
    if vendor == "GE":
        out.update(_ge_values(raw, acq))
    if vendor == "UIH" and (displayed := _text(raw, UIH_PE_DISPLAYED)):
        out["PhaseEncodingDirectionDisplayed"] = displayed
    pulse_sequence = _text(raw, PULSE_SEQUENCE_NAME)
    if pulse_sequence and "SequenceName" not in acq:  # (an enhanced file's, as dcm2niix reads it)
        out[SEQUENCE_NAME] = pulse_sequence
    if vendor == "PHILIPS":
        out.update(_philips_values(raw, acq))
    if vendor == "PHILIPS" and "PhaseEncodingSteps" in acq:
        options = str(acq.get("ScanOptions", ""))
        pf = (raw_text(raw, PARTIAL_FOURIER) or [""])[0].upper().startswith("Y")
        if pf or "PFF" in options or "PFP" in options:
            out["PartialFourierEnabled"] = "YES"
            out["PhaseEncodingStepsNoPartialFourier"] = acq.pop("PhaseEncodingSteps")
    return out


def _philips_values(raw: dict[int, Any], acq: dict[str, Any]) -> dict[str, Any]:
    """A Philips file's WaterFatShift (2001,1022) (none for 0, a negative or non-finite value),
    and its EPI factor (2001,1013) (:data:`EPI_FACTOR`), as dcm2niix reads them."""
    out: dict[str, Any] = {}
    shift = _numbers(raw, PHILIPS_WATER_FAT_SHIFT, "f")
    if shift and math.isfinite(shift[0]) and shift[0] > 0:
        out["WaterFatShift"] = shift[0]
    epi = _numbers(raw, PHILIPS_EPI_FACTOR, "i")
    if epi and epi[0] > 0:
        out[EPI_FACTOR] = int(epi[0])
    return out


def philips_readout(acq: dict[str, Any], bids: dict[str, Any], train: int) -> dict[str, Any]:
    """WaterFatShift, EstimatedTotalReadoutTime and EstimatedEffectiveEchoSpacing of a Philips
    volume, as dcm2niix estimates them from the water-fat shift (pixels), ImagingFrequency (MHz)
    and the echo train ``train``: the echo spacing is WaterFatShift / (ImagingFrequency x 3.4 ppm
    x (train + 1)), the readout that times the train, the effective spacing the readout over
    ReconMatrixPE - 1. Every sequence, as dcm2niix; none without a train or a frequency, nor
    without a ReconMatrixPE (a non-square image stating no InPlanePhaseEncodingDirection nor
    AcquisitionMatrix: the installed dcm2niix writes neither estimate then)."""
    shift, freq = acq.get("WaterFatShift"), acq.get("ImagingFrequency")
    if not shift:
        return {}
    out: dict[str, Any] = {"WaterFatShift": printed(shift)}
    recon = bids.get("ReconMatrixPE", 0)
    if not (isinstance(freq, int | float) and freq > 0 and train > 0 and recon > 0):
        return out
    readout = shift / (freq * 3.4 * (train + 1)) * train
    out["EstimatedTotalReadoutTime"] = printed(readout)
    if recon > 1:
        out["EstimatedEffectiveEchoSpacing"] = printed(readout / (recon - 1))
    return out


def acquisition_time(
    bids: dict[str, Any], meta: dict[str, Any], slots: Sequence[Any], nk: int, frames: list[Any]
) -> None:
    """``bids`` AcquisitionTime of a series' ``frames`` (``slots``: them by k, then t) and each
    volume's (:func:`volume_acquisitions`). Every frame counts: an enhanced file's frames carry
    their own FrameAcquisitionDateTime. The sidecar's is the time of the first image (the lowest
    InstanceNumber: :func:`_first_image`) of the earliest volume (by date and time when every
    frame states its date: across midnight), as dcm2niix writes its first image's, not the
    earliest slice's (a one-file-per-slice series acquired interleaved). None when undated times
    of day may cross midnight (which is the earliest is unknown); outside PET, none without that
    image's date (AcquisitionDate (0008,0022), or the date of AcquisitionDateTime (0008,002A) /
    FrameAcquisitionDateTime), as dcm2niix writes it from the acquisition's date and time (an MR
    or CT series whose dates an anonymiser removed has none; a PET one has it whatever its
    date). An enhanced file's is the file's own (AcquisitionDate + AcquisitionTime, or
    AcquisitionDateTime), as dcm2niix reads it, not its frames' FrameAcquisitionDateTime, which
    the per-volume values take (they keep undated times of day)."""
    stamps, wrap = acquired(frames)
    if not wrap and any(s is not None for s in stamps):
        volume_acquisitions(meta, slots, nk, dict(zip(map(id, frames), stamps, strict=True)))
    stated = [_file_stamps(r) for r in frames]
    if any(s is not r for s, r in zip(stated, frames, strict=True)):
        stamps, wrap = acquired(stated)
    volume = {id(r): n // max(1, nk) for n, r in enumerate(slots) if r is not None}
    known = [
        (s, r, volume.get(id(f), 0))
        for s, r, f in zip(stamps, stated, frames, strict=True)
        if s is not None and not wrap
    ]
    first = None
    if known:
        v0 = min(known, key=lambda srv: srv[0])[2]
        first = min(((s, r) for s, r, v in known if v == v0), key=_first_image)[1]
    t = None if first is None else sidecar_clock(first.acquisition_time, first.acquisition_datetime)
    if first is not None and t is not None:
        # (dcm2niix's date: not AcquisitionDateTime's beside an AcquisitionTime, say. A mosaic
        # states it on its first tile)
        own = [r.acq or {} for r in frames if r.path == first.path]
        undated = any(a.get(SIDECAR_UNDATED) for a in own)
        dated = any(a.get(SIDECAR_DATED) for a in own)  # (a date dcm2niix reads, lazyvol not)
        if (
            first.modality == "PT"
            or dated
            or (dt_instant(first.acquisition_datetime) and not undated)
        ):
            bids["AcquisitionTime"] = clock(t)


def _first_image(stamped: tuple[float, Any]) -> tuple[float, float]:
    """Sort key of (stamp, image) for the image whose time a sidecar states: the lowest
    InstanceNumber (0020,0013), as dcm2niix takes its first image's (a one-file-per-slice series
    acquired interleaved numbers its first image later than its earliest), the earliest among
    equal or missing numbers."""
    number = stamped[1].instance_number
    return (float(number) if isinstance(number, int) else math.inf, stamped[0])


def _file_stamps(rec: Any) -> Any:
    """``rec`` with its file's acquisition time and date (an enhanced frame's
    :attr:`~lazyvol.dicom.records.FrameRecord.file_acquisition`), ``rec`` itself elsewhere."""
    if rec.file_acquisition is None:
        return rec
    time, stamp = rec.file_acquisition
    return replace(rec, acquisition_time=time or None, acquisition_datetime=stamp)


def volume_acquisitions(
    meta: dict[str, Any], slots: Sequence[Any], nk: int, stamps: dict[int, float | None]
) -> None:
    """``meta[VOLUME_ACQUISITION]`` of a series of several volumes (``slots``: its frames, k
    fastest, then t; ``stamps``: when each frame was acquired, by ``id``, on one timeline): each
    volume's earliest frame's stamp, the time of day of its first image (:func:`_first_image`),
    its first frame's AcquisitionNumber and the
    resolution its frames' AcquisitionTimes are written to (:func:`~.dicom_time.tm_resolution`), so
    that a volume cut along t (:mod:`lazyvol._per_volume`) states its own. Nothing when a
    volume's frames state no time."""
    nt = len(slots) // max(1, nk)
    if nt < 2:
        return
    out: dict[str, list[Any]] = {"stamp": [], "time": [], "number": [], "resolution": []}
    for v in range(nt):
        frames = [r for r in slots[v * nk : (v + 1) * nk] if r is not None]
        # (the resolution its AcquisitionTimes are written to: a cut's check takes the series')
        out["resolution"].append(tm_resolution([r.acquisition_time for r in frames]))
        timed = [(s, r) for r in frames if (s := stamps.get(id(r))) is not None]
        t = tm_seconds(min(timed, key=_first_image)[1].acquisition_time) if timed else None
        if t is None:
            return
        out["stamp"].append(min(s for s, _ in timed))
        out["time"].append(t)
        number = frames[0].acquisition_number
        out["number"].append(number if isinstance(number, int) and number > 0 else None)
    meta[VOLUME_ACQUISITION] = out
