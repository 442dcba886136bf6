"""Siemens sidecar values from the protocol text, as dcm2niix writes them.

The CSA series header (0029,1020) holds the protocol text (ASCCONV, MrPhoenixProtocol) dcm2niix
reads for ParallelReductionFactorInPlane / OutOfPlane, PartialFourier, BaseResolution, TxRefAmp,
ShimSetting, MTState (``sPrepPulses.ucMTC``), a diffusion series' DiffusionScheme
(``sDiffusion.dsScheme``) and more (its ``siemensCsaAscii``). Siemens XA
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

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import LazyvolError
from .bids_extra import RECEIVE_COIL, SIEMENS_COIL_TEXT, printed
from .charset import before_nul
from .deflated import record_fetch
from .mosaic import csa_items, private_value, raw_text
from .records import FrameRecord, number
from .siemens_protocol import CSA_SERIES, PAT_MODE_TEXT, Protocol, pat_factors, read_protocol
from .source import Fetch
from .vendor import vendor_of
from .xa_private import SDI_CREATOR, SDS_CREATOR, sdi_tag

__all__ = [
    "REAL_DWELL_TIME",
    "annotate_siemens",
    "echo_spacing",
    "protocol_keys",
    "record_siemens",
    "xa_group_values",
]

#: RealDwellTime (0019,1018) ("SIEMENS MR HEADER", IS, nanoseconds): BIDS DwellTime.
REAL_DWELL_TIME = 0x00191018
#: ImaRelTablePosition (0019,1014) ("SIEMENS MR HEADER", IS, 3 values, mm): BIDS TablePosition;
#: XA's (0021,1005) of the block "SIEMENS MR SDS 01" (its low byte); C's atof's number.
TABLE_POSITION = 0x00191014
XA_TABLE_POSITION = 0x05
_LEADING_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
#: The position of the protocol text's element in its file, kept in the file's ``acq``: [offset,
#: length]: the CSA series header (0029,1020), else Siemens XA's (0021,1019).
SERIES_AT = "_csa_series"
#: Largest protocol element read (bytes); a larger one is said, not read.
MAX_PROTOCOL = (1 << 24) - 1
#: The protocol text's element (0021,1019) of the XA block "SIEMENS MR SDS 01" (its low byte),
#: and PATModeText (0021,1009) of the same block.
XA_PROTOCOL = 0x19
XA_PAT_MODE = 0x09
#: XA's RealDwellTime (0021,1142) (IS, nanoseconds) and active coil elements (0021,114F) of the
#: block "SIEMENS MR SDI 02".
XA_DWELL_TIME = 0x00211142
XA_COIL_ELEMENTS = 0x0021114F
XA_TIME_AFTER_START = 0x00211104
#: sKSpace.ucPhasePartialFourier -> PartialFourier (other values, such as 0x10 "off": none).
_PARTIAL_FOURIER = {1: 0.5, 2: 0.625, 4: 0.75, 8: 0.875}
#: sPat.ucPATMode -> MatrixCoilMode (any other: "None").
_PAT_MODES = {1: "SENSE", 2: "GRAPPA"}
#: ucCoilCombineMode -> CoilCombinationMethod.
_COMBINE = {1: "Sum of Squares", 2: "Adaptive Combine"}
#: sDiffusion.dsScheme -> DiffusionScheme of a diffusion series (a protocol stating no scheme:
#: 2, Monopolar, as dcm2niix writes it; other values: no key).
_SCHEMES = {1: "Bipolar", 2: "Monopolar"}
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


def record_siemens(raw: dict[int, Any], csa: dict[str, Any] | str | None) -> dict[str, Any]:
    """The Siemens values of one file (header scan): DwellTime from XA's RealDwellTime
    (0021,1142), else (0019,1018) or the CSA image header's, PATModeText (0051,1011)
    (``_pat_mode``) or XA's (0021,1009) (``_pat_mode_xa``), the coil name (0051,100F) or
    (0018,1250) (``_coil``), XA's active coil elements (0021,114F) (``_coil_elements``), and
    where the CSA series header lies (``_csa_series``: [offset, length]); {} for other files."""
    manufacturer = " ".join(raw_text(raw, 0x00080070) or [])
    if vendor_of(manufacturer) != "SIEMENS":
        return {} if manufacturer.strip() else _unstated_vendor(raw, csa)
    out: dict[str, Any] = {}
    dwell = xa_number(raw_text(raw, sdi_tag(raw, XA_DWELL_TIME & 0xFF)))
    if dwell is None:
        dwell = private_value(raw, REAL_DWELL_TIME)
    if not isinstance(dwell, int):
        items = csa_items(csa if isinstance(csa, dict) else None, "RealDwellTime")
        dwell = xa_number(items)
    if isinstance(dwell, int) and dwell > 0:
        out["DwellTime"] = printed(dwell * 1e-9)
    if (table := _table_position(raw, csa)) is not None:
        out["TablePosition"] = table
    for key, tag in (("_pat_mode", PAT_MODE_TEXT), ("_pat_mode_xa", _xa_tag(raw, XA_PAT_MODE))):
        pat = raw_text(raw, tag)
        if pat and pat[0]:
            out[key] = pat[0]
    coil = raw_text(raw, SIEMENS_COIL_TEXT) or raw_text(raw, RECEIVE_COIL)
    if coil is not None:
        out["_coil"] = "\\".join(coil)
    elements = raw_text(raw, sdi_tag(raw, XA_COIL_ELEMENTS & 0xFF))
    if elements:
        out["_coil_elements"] = "\\".join(elements)
    csa_tags = [t for c, t in CSA_SERIES.items() if _creator(raw, c) == "SIEMENS CSA HEADER"]
    xa = _xa_tag(raw, XA_PROTOCOL)
    for tag in [*csa_tags, *([xa] if xa else [])]:
        elem = raw.get(tag)
        at, length = getattr(elem, "value_tell", None), getattr(elem, "length", None)
        if isinstance(at, int) and isinstance(length, int) and at > 0 and length > 0:
            out[SERIES_AT] = [at, length]  # (read, or said too large to read, at stacking)
            break
    return out


def _unstated_vendor(raw: dict[int, Any], csa: dict[str, Any] | str | None) -> dict[str, Any]:
    """The Siemens values dcm2niix reads from a file stating no Manufacturer (an anonymiser
    dropped it): PATModeText (0051,1011) (``_pat_mode``) and the CSA image header's
    ImaRelTablePosition (TablePosition); not (0019,1014), DwellTime, the coil nor the protocol,
    which it reads for Siemens only (measured on v1.0.20260724)."""
    out: dict[str, Any] = {}
    items = csa_items(csa if isinstance(csa, dict) else None, "ImaRelTablePosition")
    if items is not None:
        out["TablePosition"] = _table_values(items)
    pat = raw_text(raw, PAT_MODE_TEXT)
    if pat and pat[0]:
        out["_pat_mode"] = pat[0]
    return out


def _table_position(raw: dict[int, Any], csa: dict[str, Any] | str | None) -> list[Any] | None:
    """TablePosition as dcm2niix writes it for Siemens, from the last of these it reads:
    ImaRelTablePosition of the CSA image header (where the scan parsed it: mosaics, EPI,
    diffusion), else XA's (0021,1005) of the "SIEMENS MR SDS 01" block, else (0019,1014) (by its
    tag, as dcm2niix): where one is there (empty too), its three values read as C's atof (text
    that is no number and missing values: 0), the last negated; None where none is there."""
    items = csa_items(csa if isinstance(csa, dict) else None, "ImaRelTablePosition")
    if items is None:
        xa = _xa_tag(raw, XA_TABLE_POSITION)
        tag = xa if xa and xa in raw else TABLE_POSITION
        if tag not in raw:
            return None
        items = raw_text(raw, tag) or []
    return _table_values(items)


def _table_values(items: Sequence[Any]) -> list[Any]:
    """TablePosition from its three stated values (:func:`_table_position`)."""
    x, y, z = ([*(_atof(v) for v in items[:3]), 0.0, 0.0, 0.0])[:3]
    return [printed(x), printed(y), printed(-z)]


def _atof(value: Any) -> float:
    """A value as C's atof reads its text: its leading number, else 0 (and 0 for one not finite)."""
    found = _LEADING_NUMBER.match(before_nul(str(value)).strip(" \x00"))
    number = float(found.group(0)) if found else 0.0
    return number if np.isfinite(number) else 0.0


def xa_number(values: Any) -> int | None:
    """The first of ``values`` (text) as a whole number (dcm2niix's IS reading), else None."""
    try:
        return int(number(values[0])) if values else None  # ('1_0': none)
    except (TypeError, ValueError, OverflowError):  # (junk, inf: no value)
        return None


def xa_group_values(read: Callable[..., Any]) -> dict[str, Any]:
    """DwellTime, ``_coil_elements`` and ``_pat_mode_xa`` (as :func:`record_siemens`) of an
    enhanced XA frame, and its TimeAfterStart (0021,1104) (``_time_after_start``, seconds: the
    SliceTiming dcm2niix gives an XA enhanced time series, as a classic one's slices,
    :mod:`lazyvol.dicom.slice_timing`) and TablePosition (XA's (0021,1005) of the sequence
    (0021,10FE), as dcm2niix reads it there too): ``read(tag, convert, creator=...)`` gives the converted
    value of the first functional group whose private sequence of that block states it
    (:func:`lazyvol.dicom.multiframe._xa_private`)."""
    out: dict[str, Any] = {}
    dwell = read(XA_DWELL_TIME, lambda v: xa_number(_texts(v)))
    if dwell is not None and dwell > 0:
        out["DwellTime"] = printed(dwell * 1e-9)
    after = read(XA_TIME_AFTER_START, _first_float)
    if after is not None and math.isfinite(after):
        out["_time_after_start"] = after
    # (XA's (0021,1005) in the functional groups' sequence (0021,10FE), where dcm2niix reads it too)
    table = read(0x00210000 | XA_TABLE_POSITION, _texts, creator=SDS_CREATOR)
    if table is not None:
        out["TablePosition"] = _table_values(table)
    for key, tag, creator in (
        ("_coil_elements", XA_COIL_ELEMENTS, SDI_CREATOR),
        ("_pat_mode_xa", 0x00210000 | XA_PAT_MODE, SDS_CREATOR),
    ):
        text = read(tag, lambda v: "\\".join(_texts(v)) or None, creator=creator)
        if text:
            out[key] = text
    return out


def _first_float(value: Any) -> float | None:
    """The first of a private text value's numbers (a DS), else None."""
    texts = _texts(value)
    try:
        return number(texts[0]) if texts else None  # ('1_0': none)
    except (ValueError, OverflowError):
        return None


def _texts(value: Any) -> list[str]:
    """A private text value (bytes, text or several) as stripped strings, up to its first NUL
    (:func:`~lazyvol.dicom.charset.before_nul`, as :func:`~lazyvol.dicom.mosaic.raw_text` reads
    a classic file's and dcm2niix reads both)."""
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("latin-1")
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = "\\".join(str(v) for v in value)
    text = before_nul("" if value is None else str(value))
    return [v.strip(" \x00") for v in text.split("\\")] if text else []


def _xa_tag(raw: dict[int, Any], element: int) -> int:
    """The tag of ``element`` (its low byte) of the XA block "SIEMENS MR SDS 01", or 0 when the
    block it would be read in belongs to another creator."""
    tag = sdi_tag(raw, element, SDS_CREATOR)
    return tag if _creator(raw, 0x00210000 | (tag >> 8 & 0xFF)) in ("", SDS_CREATOR) else 0


def _creator(raw: dict[int, Any], tag: int) -> str:
    return "".join(raw_text(raw, tag) or []).upper()


def protocol_keys(protocol: Protocol, bids: dict[str, Any]) -> dict[str, Any]:
    """The sidecar keys dcm2niix takes from a protocol (``bids``: the volume's other keys, for
    DerivedVendorReportedEchoSpacing, and AcquisitionMatrixPE when they state none)."""
    out: dict[str, Any] = {}
    pf = protocol.whole("sKSpace.ucPhasePartialFourier")
    if pf in _PARTIAL_FOURIER:
        out["PartialFourier"] = _PARTIAL_FOURIER[pf]
    for key, (name, scale) in _NUMBERS.items():
        value = protocol.number(name)
        if value is not None and value > 0:
            out[key] = printed(value * scale)
    amp = protocol.number("sTXSPEC.asNucleusInfo[0].flReferenceAmplitude")
    if amp is not None and amp > 0:
        out["TxRefAmp"] = printed(float(np.float32(amp)))
    shims = [next((v for n in names if (v := protocol.number(n))), 0.0) for names in _SHIMS]
    if shims[0]:
        out["ShimSetting"] = [printed(v) for v in shims]
    for key, name in _STRINGS.items():
        text = protocol.string(name)
        if text:
            out[key] = text
    lines = protocol.whole("sKSpace.lPhaseEncodingLines")
    if "AcquisitionMatrixPE" not in bids and lines is not None and lines > 0:
        out["AcquisitionMatrixPE"] = lines  # (the file states none: an enhanced XA file)
    if protocol.whole("sPrepPulses.ucMTC") == 1 and "MTState" not in bids:
        out["MTState"] = True  # (no line when off: no key; (0018,9020) first, as dcm2niix)
    combine = protocol.whole("ucCoilCombineMode")
    if combine in _COMBINE:
        out["CoilCombinationMethod"] = _COMBINE[combine]
    accel = protocol.number("sPat.lAccelFactPE")
    if accel is not None and accel > 0:
        # (another mode, 0 or none stated: "None", as without acceleration)
        mode = protocol.whole("sPat.ucPATMode")
        out["MatrixCoilMode"] = _PAT_MODES.get(mode, "None") if mode is not None else "None"
        out["ParallelReductionFactorInPlane"] = printed(accel)
    else:
        out["MatrixCoilMode"] = "None"
    accel_3d = protocol.number("sPat.lAccelFact3D")
    if accel_3d is not None and accel_3d > 0:
        out["ParallelReductionFactorOutOfPlane"] = printed(accel_3d)
    out.update(echo_spacing(bids, out))
    return out


def echo_spacing(bids: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
    """DerivedVendorReportedEchoSpacing: the echo spacing the console shows, 1 / (bandwidth per
    pixel in the phase direction x ReconMatrixPE / acceleration x (1 + phase oversampling)),
    computed as dcm2niix computes it (in 32-bit floats); ``keys`` (a protocol's) win over
    ``bids``. dcm2niix writes it for every vendor (:func:`lazyvol.dicom.sidecar_derived.derived_keys`);
    for a Siemens file whose protocol is damaged lazyvol writes none (its oversampling unknown)."""
    bw, recon = bids.get("BandwidthPerPixelPhaseEncode"), bids.get("ReconMatrixPE")
    accel = keys.get(
        "ParallelReductionFactorInPlane", bids.get("ParallelReductionFactorInPlane", 1)
    )
    if not bw or not recon:
        return {}
    factor = (1.0 / accel if accel > 1 else 1.0) * (1.0 + keys.get("PhaseOversampling", 0.0))
    product = float(bw) * factor * float(recon)
    f32 = np.finfo(np.float32)
    if not float(f32.tiny) < product < float(f32.max):  # (a junk oversampling: none)
        return {}
    spacing = np.float32(product)
    return {"DerivedVendorReportedEchoSpacing": printed(float(np.float32(1.0) / spacing))}


def _file_values(frames: Sequence[FrameRecord]) -> dict[str, Any]:
    """The values of the volume's first file (a mosaic keeps them on its first tile)."""
    path = frames[0].path
    found = [r.acq for r in frames if r.path == path and r.acq]
    return max(found, key=len) if found else {}


def _plain_keys(acq: dict[str, Any]) -> dict[str, Any]:
    """The keys that need no protocol: ParallelReductionFactorInPlane and
    MultibandAccelerationFactor from PATModeText (:func:`pat_factors`), else the mosaic's slice times (as
    many slices at the first one's time as slices at once), DwellTime and TablePosition (NonlinearGradientCorrection,
    from ImageType, is every vendor's: :func:`lazyvol.dicom.image_type.nonlinear_gradient_correction`)."""
    out: dict[str, Any] = {}
    pat = acq.get("_pat_mode")  # ((0051,1011), read after XA's (0021,1009), wins)
    accel, bands = pat_factors(pat) if pat else pat_factors(acq.get("_pat_mode_xa", ""), True)
    if accel:
        out["ParallelReductionFactorInPlane"] = printed(accel)
    times = (acq.get("_mosaic") or {}).get("times")
    if not bands and times:
        bands = sum(1 for t in times if t == times[0])
    if bands and bands > 1:
        out["MultibandAccelerationFactor"] = bands
    for key in ("DwellTime", "TablePosition"):
        if key in acq:
            out[key] = acq[key]
    return out


def annotate_siemens(info: Any, slots: Sequence[FrameRecord | None], fetch: Fetch) -> None:
    """Add the Siemens keys to ``info.meta["bids"]`` (after :func:`lazyvol.dicom.bids.annotate`),
    reading the CSA series header of the volume's first file once (one read of its bytes)."""
    bids = info.meta.get("bids")
    frames = [r for r in slots if r is not None]
    if bids is None or not frames or bids.get("Manufacturer") not in ("Siemens", None):
        return
    first = frames[0]
    acq = _file_values(frames)
    bids.update(_plain_keys(acq))
    if "Manufacturer" not in bids:
        return  # (no Manufacturer: dcm2niix reads no protocol; :func:`_unstated_vendor`)
    at = acq.get(SERIES_AT)
    if not at:
        bids.update(_no_protocol_keys(acq, bids))
        return
    protocol = None
    too_large = int(at[1]) > MAX_PROTOCOL
    if too_large:  # (a protocol there, not read: no estimate stands in for it)
        info.warnings.append(
            f"Siemens protocol values not written: the protocol text (CSA series header "
            f"(0029,1020) or XA (0021,1019)) of {first.path} is {int(at[1]):,} bytes, more than "
            f"the {MAX_PROTOCOL:,} read (real ones are a few hundred KB): the file is damaged"
        )
    elif first.modality == "MR":
        try:
            series = record_fetch(first, fetch)(first.path, int(at[0]), int(at[1]), first.size)
            protocol = read_protocol(series if len(series) == int(at[1]) else None)
        except (OSError, LazyvolError) as exc:
            info.warnings.append(
                f"Siemens protocol values not written: the protocol text (CSA series header "
                f"(0029,1020) or XA (0021,1019)) of {first.path} could not be read ({exc})"
            )
    keys = protocol_keys(protocol, bids) if protocol is not None else {}
    if protocol is not None and info.meta.get("diffusion"):
        scheme = protocol.whole("sDiffusion.dsScheme")
        if (2 if scheme is None else scheme) in _SCHEMES:
            keys["DiffusionScheme"] = _SCHEMES[2 if scheme is None else scheme]
    bids.update(keys)
    coil = acq.get("_coil")
    # (a protocol too large to read may state the coil's elements; one without ASCCONV text
    # states none: the coil name is written, as dcm2niix writes it then)
    if coil and not too_large and coil != keys.get("ReceiveCoilActiveElements", ""):
        bids["CoilString"] = coil  # (the name, where it is not the protocol's active elements)


def _no_protocol_keys(acq: dict[str, Any], bids: dict[str, Any]) -> dict[str, Any]:
    """As dcm2niix for a Siemens file without a protocol (XA files that dropped it): the
    DerivedVendorReportedEchoSpacing (no phase oversampling known), the active coil elements
    (0021,114F), CoilString where the coil name differs from them, and a
    PartialFourier estimated from a 2D EPI echo train shorter than the phase-encoding lines (per
    in-plane acceleration): EchoTrainLength / (AcquisitionMatrixPE / acceleration) when below 1,
    in 32-bit floats (an enhanced file's lines: its (0018,9231), as dcm2niix)."""
    out: dict[str, Any] = echo_spacing(bids, {})
    elements = acq.get("_coil_elements", "")
    if elements:
        out["ReceiveCoilActiveElements"] = elements
    coil = acq.get("_coil")
    if coil and coil != elements:
        out["CoilString"] = coil
    lines = bids.get("AcquisitionMatrixPE") or acq.get("_pe_lines", 0)
    train = bids.get("EchoTrainLength", 0)
    # (not where ScanningSequence names no EPI, unlike dcm2niix: a turbo spin echo's train is not
    # its phase lines, and dcm2niix's estimate for one (15 echoes, 256 lines: 0.0586) is no partial
    # Fourier; enhanced files state no ScanningSequence)
    sequence = str(bids.get("ScanningSequence", ""))
    epi = not sequence or "EP" in sequence.split("\\")
    if bids.get("MRAcquisitionType") != "3D" and epi and lines > train > 1:
        accel = bids.get("ParallelReductionFactorInPlane", 0)
        per = np.float32(lines) / np.float32(accel) if accel > 1 else np.float32(lines)
        pf = np.float32(train) / per
        if pf < 1:
            out["PartialFourier"] = printed(float(pf))
    return out
