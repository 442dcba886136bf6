"""GE phase-encoding polarity and echo spacing (BIDS keys), as dcm2niix derives them.

GE states neither PhaseEncodingDirectionPositive nor a bandwidth per pixel in the phase direction;
dcm2niix (``nii_dicom.cpp``, ``nii_dicom_batch.cpp``; checked against the installed dcm2niix on
synthetic files and on the four GE EPI series of dcm_qa_nih) reads:

- the polarity: RectilinearPhaseEncodeReordering (0018,9034) (GE software 27 on): LINEAR is
  "Flipped", REVERSE_LINEAR "Unflipped"; else, for EPI, the user data block (0043,102A): its
  header offset (uint16 at byte 24), a float version (5 to 40) at that offset, from version 25.002
  on the fields 0x4C bytes further; EPI when bit 0x800 of the uint16 at +0x3A is set; the polarity
  flag is bit 0x4 of the uint16 at +0x30 (set: "Flipped"), inverted when the view order (uint16
  at +0x394, 0x308 from 25.002 on) is 2 (bottom up). "Unflipped" is a positive polarity;
- the echo spacing (0043,102C) (microseconds) with the ASSET factor (0043,1083) (its first value
  r: acceleration 1 / r; else ParallelReductionFactorInPlane (0018,9069)), the phase-encoding lines
  of AcquisitionMatrix (0018,1310) and partial Fourier (ScanOptions "PFF" or PartialFourier
  (0018,9081) YES: lines rounded by 4, else by 2): EffectiveEchoSpacing = spacing x
  (ceil(lines / round / acceleration) x round - 1) / (lines - 1), TotalReadoutTime =
  EffectiveEchoSpacing x (ReconMatrixPE - 1).

GE's ``epi_pepolar`` sequence (the ABCD prototype; dcm2niix's validation set dcm_qa_polar, its
issue 532) stores the volumes acquired with reversed phase-encoding polarity with their rows in
reverse order and no other sign in the header. dcm2niix (``nii_dicom.cpp``: ``epiVersionGE``,
checked against the installed dcm2niix on a real GE series edited to be one) recognises the
files by PulseSequenceName (0019,109C) containing "epi_pepolar" (unless the delay after slice group
(0043,107C) is present: dcm2niix then takes the file for epiRT) and reads the mode from UserData12
(0019,10B3), rounded: 0 forward; 1 reversed (every volume); 2 reversed then forward (volumes of odd
TemporalPositionIdentifier (0020,0100) reversed); 3 forward then reversed (even ones reversed).
Without a TemporalPositionIdentifier above 0, modes 2 and 3 reverse none. A reversed volume's rows
are read in reverse order (its affine is the one its header states, as the forward volumes'), its
polarity is the opposite of the one the file states, and under modes 2 and 3 it is a volume of its
own (dcm2niix's SeriesNumber + 1000).

The user data block is read within the element's own bytes: a block too short for the fields its
header points at gives no polarity (dcm2niix would read on into the bytes that follow it). Without
an acceleration or with a single phase-encoding line (dcm2niix then writes no value, or an
unreadable one) no echo spacing is given.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from .ge_timing import GROUP_DELAY
from .mosaic import _little, _raw_bytes, raw_text
from .records import FrameRecord, number

__all__ = [
    "GE_PHASE_TAGS",
    "acquisition_matrix_pe",
    "PEPOLAR_MODES",
    "ge_echo_spacing",
    "ge_phase_values",
    "annotate_pepolar",
    "pepolar_mode",
    "pepolar_reversed",
    "split_reversed",
]

USER_DATA = 0x0043102A
ECHO_SPACING = 0x0043102C
ASSET = 0x00431083
REORDERING = 0x00189034
PARTIAL_FOURIER = 0x00189081
ACQUISITION_MATRIX = 0x00181310
IN_PLANE_FACTOR = 0x00189069
PULSE_SEQUENCE = 0x0019109C
USER_DATA_12 = 0x001910B3
TEMPORAL_POSITION = 0x00200100
#: The elements read for the GE phase-encoding values.
GE_PHASE_TAGS = frozenset(
    {
        USER_DATA,
        ECHO_SPACING,
        ASSET,
        REORDERING,
        PARTIAL_FOURIER,
        ACQUISITION_MATRIX,
        IN_PLANE_FACTOR,
        PULSE_SEQUENCE,
        USER_DATA_12,
        TEMPORAL_POSITION,
    }
)

#: The epi_pepolar modes of UserData12 (0019,10B3), as dcm2niix names them.
PEPOLAR_MODES = {
    0: "forward",
    1: "reversed",
    2: "reversed then forward",
    3: "forward then reversed",
}

#: dcm2niix's names of the two polarities (1: positive, as Siemens' PhaseEncodingDirectionPositive).
POLARITY_NAMES = {1: "Unflipped", 0: "Flipped"}


def _u16(block: bytes, at: int) -> int | None:
    """The little-endian uint16 at ``at``, None when it lies past the block."""
    if at < 0 or at + 2 > len(block):
        return None
    return int(struct.unpack_from("<H", block, at)[0])


def user_data_polarity(block: bytes) -> int | None:
    """The polarity (1 unflipped, 0 flipped) an EPI user data block (0043,102A) states, else None
    (too short, an unknown version, not EPI). Every field is read within ``block``."""
    if len(block) < 916:
        return None
    offset = _u16(block, 24)
    if offset is None or len(block) < offset + 916:
        return None
    (version,) = struct.unpack_from("<f", block, offset)
    if not 5.0 <= version <= 40.0:  # (NaN fails too)
        return None
    base, view_at = offset, 0x394
    if version >= 25.002:
        base, view_at = offset + 0x4C, view_at - 0x8C
    epi, flag, view = (
        _u16(block, base + 0x3A),
        _u16(block, base + 0x30),
        _u16(block, base + view_at),
    )
    if epi is None or not epi & 0x800 or flag is None or view is None:
        return None
    positive = 0 if flag & 0x4 else 1
    return 1 - positive if view == 2 else positive


def _numbers(raw: dict[int, Any], tag: int, fmt: str) -> list[float] | None:
    """A binary element's values (``fmt``: a struct code), or a value pydicom decoded."""
    value = getattr(raw.get(tag), "value", None)
    if isinstance(value, bytes | bytearray):
        size = struct.calcsize(fmt)
        if not value or len(value) % size:
            return None
        endian = "<" if _little(raw, tag) else ">"
        return [float(v) for v in struct.unpack(f"{endian}{len(value) // size}{fmt}", value)]
    if isinstance(value, int | float):
        return [float(value)]
    if value is None or isinstance(value, str):
        return None
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError):
        return None


def _acceleration(
    raw: dict[int, Any], asset_at: int | None = 0, tag: int = IN_PLANE_FACTOR
) -> float | None:
    """In-plane acceleration: 1 / the first ASSET factor (GE's (0043,1083); value ``asset_at``,
    None: not read), else ``tag`` ((0018,9069)), in dcm2niix's single precision; None when
    neither states one above 0.

    ParallelReductionFactorInPlane (0018,9069) above 1 and above the ASSET one wins (an ARC
    acceleration, which GE's ASSET factors of 1 do not state), as dcm2niix takes it (checked
    against the installed dcm2niix: ASSET 1 with (0018,9069) 2 gives 2, ASSET 0.5 with 4 gives
    4, ASSET 0.5 with 1.5 gives 2, ASSET 2 with 1 gives 0.5); the out-of-plane one does not
    (ASSET's second value wins whatever (0018,9155) says)."""
    factor = _numbers(raw, tag, "d")
    stated = None
    if factor and math.isfinite(factor[0]) and factor[0] > 0:
        stated = float(np.float32(factor[0]))
    text = raw_text(raw, ASSET) if asset_at is not None else None
    try:
        asset = number(text[asset_at]) if text and asset_at is not None else 0.0  # ('1_0': 0)
    except (ValueError, IndexError):
        asset = 0.0
    if math.isfinite(asset) and asset > 0:
        accel = float(np.float32(1.0) / np.float32(asset))
        if tag == IN_PLANE_FACTOR and stated is not None and stated > max(1.0, accel):
            return stated
        return accel
    return stated


def _int_text(raw: dict[int, Any], tag: int) -> int | None:
    """The first value of a DS / IS element, rounded half away from zero (C's round, as dcm2niix
    reads it), else None."""
    text = raw_text(raw, tag)
    try:
        value = number(text[0]) if text else math.nan  # ('1_0': none)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def pepolar_mode(raw: dict[int, Any]) -> int | None:
    """The epi_pepolar mode of a GE file (UserData12 (0019,10B3), 0 when it states none), or None
    when PulseSequenceName (0019,109C) names no epi_pepolar or (0043,107C) makes it epiRT."""
    name = " ".join(raw_text(raw, PULSE_SEQUENCE) or [])
    # (0043,107C) present with a value, whatever it is (a binary 0.0 included)
    delay = getattr(raw.get(GROUP_DELAY), "value", None)
    if "epi_pepolar" not in name or delay not in (None, b"", ""):
        return None
    return _int_text(raw, USER_DATA_12) or 0


def pepolar_reversed(mode: int | None, volume: int | None) -> bool:
    """Are the rows of a volume of epi_pepolar ``mode`` (:func:`pepolar_mode`) stored in reverse
    order? ``volume``: its TemporalPositionIdentifier (0020,0100) (1 the first)."""
    if mode == 1:
        return True
    if mode not in (2, 3) or volume is None or volume <= 0:
        return False
    return volume % 2 == (1 if mode == 2 else 0)


def ge_phase_values(raw: dict[int, Any], scan_options: str) -> dict[str, Any]:
    """``_pe_positive``, ``_ge_pepolar`` / ``_ge_reversed`` (:func:`pepolar_mode`) and the
    ``_ge_*`` inputs of :func:`ge_echo_spacing` from one GE file."""
    out: dict[str, Any] = {}
    mode = pepolar_mode(raw)
    reversed_rows = pepolar_reversed(mode, _int_text(raw, TEMPORAL_POSITION))
    if mode is not None:
        out["_ge_pepolar"] = mode
    if reversed_rows:
        out["_ge_reversed"] = True
    order = (raw_text(raw, REORDERING) or [""])[0].upper()
    positive = {"L": 0, "R": 1}.get(order[:1])
    if positive is None:
        block = _raw_bytes(raw, USER_DATA)
        positive = user_data_polarity(block) if block else None
    if positive is not None:
        positive = 1 - positive if reversed_rows else positive  # (acquired the other way)
        out["_pe_positive"] = positive
        out["_ge_polarity"] = POLARITY_NAMES[positive]
    spacing = _numbers(raw, ECHO_SPACING, "h")
    if spacing and spacing[0] > 0:
        out["_ge_echo_spacing_us"] = spacing[0]
        out["_ge_acceleration"] = _acceleration(raw)
        pf = (raw_text(raw, PARTIAL_FOURIER) or [""])[0].upper().startswith("Y")
        out["_ge_partial_fourier"] = pf or "PFF" in scan_options
    return out


def acquisition_matrix_pe(raw: dict[int, Any]) -> int | None:
    """The phase-encoding lines of AcquisitionMatrix (0018,1310) (frequency rows, frequency
    columns, phase rows, phase columns): the phase rows, else the phase columns, whatever
    InPlanePhaseEncodingDirection says, as dcm2niix reads them (AcquisitionMatrixPE); None when
    neither is above 0."""
    matrix = _numbers(raw, ACQUISITION_MATRIX, "H")
    if not matrix or len(matrix) != 4:
        return None
    return int(matrix[2] or matrix[3]) or None


def ge_echo_spacing(acq: dict[str, Any], recon_pe: int) -> dict[str, Any]:
    """EffectiveEchoSpacing and TotalReadoutTime (s) of a GE image ({} when not derivable)."""
    spacing, accel = acq.get("_ge_echo_spacing_us"), acq.get("_ge_acceleration")
    lines = int(acq.get("AcquisitionMatrixPE", 0))
    if not spacing or not accel or lines == 1 or recon_pe < 2:
        return {}
    step = 4.0 if acq.get("_ge_partial_fourier") else 2.0
    f32 = np.float32
    shots = float(np.ceil(f32(1.0 / step) * f32(lines) / f32(accel)))
    ees = float(spacing) * 1e-6 * (shots * step - 1.0) / (lines - 1)
    if not math.isfinite(ees) or ees <= 0:
        return {}
    return {
        "EffectiveEchoSpacing": float(f"{ees:.6g}"),
        "TotalReadoutTime": float(f"{ees * (recon_pe - 1):.6g}"),
    }


#: The label of a GE epi_pepolar group of reversed polarity.
REVERSED_LABEL = "phase-encoding reversed"


def split_reversed(keyed: dict[tuple[str, ...], list[FrameRecord]]) -> str:
    """Split (in place) the groups of :func:`lazyvol.dicom.grouping.split_series` that hold
    reversed GE epi_pepolar images (``_ge_reversed``): the volumes of reversed polarity are a
    volume of their own, as dcm2niix writes them (SeriesNumber + 1000); a group of reversed
    images only (mode 1) is relabelled too (its rows are read in reverse order: its volume id
    changes with its data). Returns the split reason or ""."""
    note = ""
    for key in list(keyed):
        recs = keyed[key]
        rev = [r for r in recs if (r.acq or {}).get("_ge_reversed")]
        if not rev:
            continue
        fwd = [r for r in recs if not (r.acq or {}).get("_ge_reversed")]
        if fwd:
            keyed[key] = fwd
            note = (
                "GE epi_pepolar UserData12 (0019,10B3) mode "
                f"{(rev[0].acq or {}).get('_ge_pepolar')}: the volumes of reversed "
                "phase-encoding polarity (by TemporalPositionIdentifier (0020,0100)) are a "
                "separate volume, their rows read in reverse order (dcm2niix: SeriesNumber + 1000)"
            )
        else:
            del keyed[key]
        keyed[(*key, REVERSED_LABEL)] = rev
    return note


def annotate_pepolar(info: Any, frames: list[FrameRecord]) -> None:
    """``info.meta["ge_pepolar"]`` (mode, its name, rows reversed) of an epi_pepolar volume, and
    a warning (``info.warnings``) when a mode of both polarities (2, 3) has images that state no
    TemporalPositionIdentifier (0020,0100): the reversed volumes are not told apart then
    (dcm2niix stacks them alike)."""
    acq = frames[0].acq or {}
    mode = acq.get("_ge_pepolar")
    if mode is None:
        return
    info.meta["ge_pepolar"] = {
        "mode": mode,
        "mode_name": PEPOLAR_MODES.get(mode, "forward"),
        "rows_reversed": bool(acq.get("_ge_reversed")),
    }
    unknown = [r.path for r in frames if r.temporal_position is None or r.temporal_position <= 0]
    if mode not in (2, 3) or not unknown:
        return
    info.warnings.append(
        f"GE epi_pepolar UserData12 (0019,10B3) mode {mode} ({PEPOLAR_MODES[mode]}) holds "
        f"volumes of both polarities, but {len(unknown)} image(s) state no "
        f"TemporalPositionIdentifier (0020,0100) (e.g. {unknown[0]}): the reversed volumes "
        "cannot be told apart; all are read as stored, with the forward polarity (as dcm2niix)"
    )
