"""Siemens sidecar values from the protocol text, as dcm2niix writes them.

The CSA series header (0029,1020) holds the protocol text (ASCCONV, MrPhoenixProtocol) dcm2niix
reads for ParallelReductionFactorInPlane / OutOfPlane, PartialFourier, BaseResolution, TxRefAmp,
ShimSetting, MTState (``sPrepPulses.ucMTC``) and more (its ``siemensCsaAscii``). Siemens XA
software writes no CSA header: the same text is in (0021,1019) of the block "SIEMENS MR SDS 01",
at the top level of a classic file, inside the shared functional group's private sequence
(0021,10FE) of an enhanced one (:mod:`lazyvol.dicom.xa_private`, wherever a PACS moved the block).
The text is about 100 kB in every file, and the same in every file of a series, so the header scan
does not read it: it records where it lies (:func:`record_siemens`, with the per-file values
RealDwellTime and PATModeText; :func:`lazyvol.dicom.xa_private.xa_protocol_at` in an enhanced
file), and the stacking reads it once per volume, from the volume's first file, through the scan's
byte access (:func:`annotate_siemens`; local files and remote objects alike). The result is part
of the saved scan report, so reopening an unchanged folder reads nothing more.

A protocol that is absent or damaged (no ``### ASCCONV BEGIN``) gives none of its keys; a value
that does not parse gives no key. Values are written as dcm2niix writes them (its ``%g``: 6
significant digits, TxRefAmp from a 32-bit float).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import LazyvolError
from .mosaic import csa_items, private_value, raw_text
from .records import FrameRecord
from .siemens_protocol import CSA_SERIES, PAT_MODE_TEXT, Protocol, pat_factors, read_protocol
from .source import Fetch
from .xa_private import SDS_CREATOR, sdi_tag

__all__ = ["REAL_DWELL_TIME", "annotate_siemens", "protocol_keys", "record_siemens"]

#: RealDwellTime (0019,1018) ("SIEMENS MR HEADER", IS, nanoseconds): BIDS DwellTime.
REAL_DWELL_TIME = 0x00191018
#: The position of the protocol text's element in its file, kept in the file's ``acq``: [offset,
#: length]: the CSA series header (0029,1020), else Siemens XA's (0021,1019).
SERIES_AT = "_csa_series"
#: The protocol text's element (0021,1019) of the XA block "SIEMENS MR SDS 01" (its low byte).
XA_PROTOCOL = 0x19
#: sKSpace.ucPhasePartialFourier -> PartialFourier (other values, such as 0x10 "off": none).
_PARTIAL_FOURIER = {1: 0.5, 2: 0.625, 4: 0.75, 8: 0.875}
#: sPat.ucPATMode -> MatrixCoilMode.
_PAT_MODES = {1: "SENSE", 2: "GRAPPA"}
#: ucCoilCombineMode -> CoilCombinationMethod.
_COMBINE = {1: "Sum of Squares", 2: "Adaptive Combine"}
#: Protocol strings written as they are: BIDS key -> ASCCONV name.
_STRINGS = {
    "ReceiveCoilName": "sCoilElementID.tCoilID",
    "ReceiveCoilActiveElements": "sCoilSelectMeas.sCoilStringForConversion",
    "PulseSequenceDetails": "tSequenceFileName",
    "WipMemBlock": "sWipMemBlock.tFree",
    "ConsistencyInfo": "sProtConsistencyInfo.tMeasuredBaselineString",
}
#: Positive protocol numbers written as they are (dcm2niix's %g): BIDS key -> (name, scale).
_NUMBERS = {
    "BaseResolution": ("sKSpace.lBaseResolution", 1.0),
    "PhaseResolution": ("sKSpace.dPhaseResolution", 1.0),
    "PhaseOversampling": ("sKSpace.dPhaseOversamplingForDialog", 1.0),
    "DelayTime": ("lDelayTimeInTR", 1e-6),  # us -> s
    "VendorReportedEchoSpacing": ("sFastImaging.lEchoSpacing", 1e-6),  # us -> s
    "RefLinesPE": ("sPat.lRefLinesPE", 1.0),
}
#: The shim currents: the linear terms (newer software's asGPAData[0] name, else the older
#: one), then the five higher-order terms; written when the first is not 0, as dcm2niix.
_SHIMS = (
    ("sGRADSPEC.asGPAData[0].lOffsetX", "sGRADSPEC.lOffsetX"),
    ("sGRADSPEC.asGPAData[0].lOffsetY", "sGRADSPEC.lOffsetY"),
    ("sGRADSPEC.asGPAData[0].lOffsetZ", "sGRADSPEC.lOffsetZ"),
    *((f"sGRADSPEC.alShimCurrent[{i}]",) for i in range(5)),
)


def _g(value: float) -> float | int:
    """``value`` as C's ``%g`` prints it (6 significant digits), an int when integral."""
    out = float(f"{value:.6g}")
    return int(out) if out.is_integer() else out


def record_siemens(raw: dict[int, Any], csa: dict[str, Any] | str | None) -> dict[str, Any]:
    """The Siemens values of one file (header scan): DwellTime from RealDwellTime (0019,1018)
    or the CSA image header's, PATModeText (0051,1011) (``_pat_mode``), and where the CSA series
    header lies (``_csa_series``: [offset, length]); {} for other files."""
    out: dict[str, Any] = {}
    dwell = private_value(raw, REAL_DWELL_TIME)
    if not isinstance(dwell, int):
        items = csa_items(csa if isinstance(csa, dict) else None, "RealDwellTime")
        try:
            dwell = int(float(items[0])) if items else None
        except (TypeError, ValueError):
            dwell = None
    if isinstance(dwell, int) and dwell > 0:
        out["DwellTime"] = _g(dwell * 1e-9)
    pat = raw_text(raw, PAT_MODE_TEXT)
    if pat and pat[0]:
        out["_pat_mode"] = pat[0]
    csa_tags = [t for c, t in CSA_SERIES.items() if _creator(raw, c) == "SIEMENS CSA HEADER"]
    xa = sdi_tag(raw, XA_PROTOCOL, SDS_CREATOR)  # (not in another vendor's block)
    xa_tags = [xa] if _creator(raw, 0x00210000 | (xa >> 8 & 0xFF)) in ("", SDS_CREATOR) else []
    for tag in [*csa_tags, *xa_tags]:
        elem = raw.get(tag)
        at, length = getattr(elem, "value_tell", None), getattr(elem, "length", None)
        if isinstance(at, int) and isinstance(length, int) and at > 0 and 0 < length < 1 << 24:
            out[SERIES_AT] = [at, length]
            break
    return out


def _creator(raw: dict[int, Any], tag: int) -> str:
    return "".join(raw_text(raw, tag) or []).upper()


def protocol_keys(protocol: Protocol, bids: dict[str, Any]) -> dict[str, Any]:
    """The sidecar keys dcm2niix takes from a protocol (``bids``: the volume's other keys, for
    DerivedVendorReportedEchoSpacing, and AcquisitionMatrixPE when they state none)."""
    out: dict[str, Any] = {}
    pf = protocol.number("sKSpace.ucPhasePartialFourier")
    if pf is not None and int(pf) in _PARTIAL_FOURIER:
        out["PartialFourier"] = _PARTIAL_FOURIER[int(pf)]
    for key, (name, scale) in _NUMBERS.items():
        value = protocol.number(name)
        if value is not None and value > 0:
            out[key] = _g(value * scale)
    amp = protocol.number("sTXSPEC.asNucleusInfo[0].flReferenceAmplitude")
    if amp is not None and amp > 0:
        out["TxRefAmp"] = _g(float(np.float32(amp)))
    shims = [next((v for n in names if (v := protocol.number(n))), 0.0) for names in _SHIMS]
    if shims[0]:
        out["ShimSetting"] = [_g(v) for v in shims]
    for key, name in _STRINGS.items():
        text = protocol.string(name)
        if text:
            out[key] = text
    lines = protocol.number("sKSpace.lPhaseEncodingLines")
    if "AcquisitionMatrixPE" not in bids and lines is not None and lines > 0:
        out["AcquisitionMatrixPE"] = int(lines)  # (the file states none: an enhanced XA file)
    if protocol.number("sPrepPulses.ucMTC") == 1:  # (no line when off: no key, as dcm2niix)
        out["MTState"] = True
    combine = protocol.number("ucCoilCombineMode")
    if combine is not None and int(combine) in _COMBINE:
        out["CoilCombinationMethod"] = _COMBINE[int(combine)]
    accel = protocol.number("sPat.lAccelFactPE")
    if accel is not None and accel > 0:
        mode = protocol.number("sPat.ucPATMode")
        if mode is not None and int(mode) in _PAT_MODES:
            out["MatrixCoilMode"] = _PAT_MODES[int(mode)]
        out["ParallelReductionFactorInPlane"] = _g(accel)
    else:
        out["MatrixCoilMode"] = "None"
    accel_3d = protocol.number("sPat.lAccelFact3D")
    if accel_3d is not None and accel_3d > 0:
        out["ParallelReductionFactorOutOfPlane"] = _g(accel_3d)
    out.update(_echo_spacing(bids, out))
    return out


def _echo_spacing(bids: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
    """DerivedVendorReportedEchoSpacing: the echo spacing the console shows, 1 / (bandwidth per
    pixel in the phase direction x ReconMatrixPE / acceleration x (1 + phase oversampling)),
    computed as dcm2niix computes it (in 32-bit floats)."""
    bw, recon = bids.get("BandwidthPerPixelPhaseEncode"), bids.get("ReconMatrixPE")
    accel = keys.get(
        "ParallelReductionFactorInPlane", bids.get("ParallelReductionFactorInPlane", 1)
    )
    if not bw or not recon:
        return {}
    factor = (1.0 / accel if accel > 1 else 1.0) * (1.0 + keys.get("PhaseOversampling", 0.0))
    spacing = np.float32(float(bw) * factor * float(recon))
    return {"DerivedVendorReportedEchoSpacing": _g(float(np.float32(1.0) / spacing))}


def _file_values(frames: Sequence[FrameRecord]) -> dict[str, Any]:
    """The values of the volume's first file (a mosaic keeps them on its first tile)."""
    path = frames[0].path
    found = [r.acq for r in frames if r.path == path and r.acq]
    return max(found, key=len) if found else {}


def _plain_keys(acq: dict[str, Any], image_type: Sequence[str]) -> dict[str, Any]:
    """The keys that need no protocol: ParallelReductionFactorInPlane and
    MultibandAccelerationFactor from PATModeText (``p2 s3``), else the mosaic's slice times (as
    many slices at the first one's time as slices at once), DwellTime, and
    NonlinearGradientCorrection from ImageType (ND: none; DIS2D / DIS3D: corrected)."""
    out: dict[str, Any] = {}
    accel, bands = pat_factors(str(acq.get("_pat_mode", "")))
    if accel:
        out["ParallelReductionFactorInPlane"] = accel
    times = (acq.get("_mosaic") or {}).get("times")
    if not bands and times:
        bands = sum(1 for t in times if t == times[0])
    if bands and bands > 1:
        out["MultibandAccelerationFactor"] = bands
    if "DwellTime" in acq:
        out["DwellTime"] = acq["DwellTime"]
    kinds = {str(t).upper() for t in image_type}
    if kinds & {"DIS2D", "DIS3D"}:
        out["NonlinearGradientCorrection"] = True
    elif "ND" in kinds:
        out["NonlinearGradientCorrection"] = False
    return out


def annotate_siemens(info: Any, slots: Sequence[FrameRecord | None], fetch: Fetch) -> None:
    """Add the Siemens keys to ``info.meta["bids"]`` (after :func:`lazyvol.dicom.bids.annotate`),
    reading the CSA series header of the volume's first file once (one read of its bytes)."""
    bids = info.meta.get("bids")
    frames = [r for r in slots if r is not None]
    if bids is None or not frames or bids.get("Manufacturer") != "Siemens":
        return
    first = frames[0]
    acq = _file_values(frames)
    bids.update(_plain_keys(acq, first.image_type or []))
    at = acq.get(SERIES_AT)
    if first.modality != "MR" or not at:
        return
    try:
        series = fetch(first.path, int(at[0]), int(at[1]), first.size)
    except (OSError, LazyvolError) as exc:
        info.warnings.append(
            f"Siemens protocol values not written: the protocol text (CSA series header "
            f"(0029,1020) or XA (0021,1019)) of {first.path} could not be read ({exc})"
        )
        return
    protocol = read_protocol(series if len(series) == int(at[1]) else None)
    if protocol is not None:
        bids.update(protocol_keys(protocol, bids))
