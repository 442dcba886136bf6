"""Sidecar keys from the standard attributes of the enhanced MR modules, for every vendor, read as
dcm2niix reads them (checked against the installed dcm2niix on synthetic Siemens XA, Philips,
GE, Canon and UIH files): wherever they are, the top level of a file (classic files that keep
them; AcquisitionDuration of an enhanced file) or an enhanced file's functional groups (the
frame's own, then the shared ones; a group's value is read after the top level's, as dcm2niix
reads the file in order):

- MTState: MagnetizationTransfer (0018,9020), true for OFF_RESONANCE, false for ON_RESONANCE and
  NONE (by their first two letters, as dcm2niix; a Siemens protocol's ``sPrepPulses.ucMTC``
  only where the file states none);
- PartialFourierDirection (0018,9036): PHASE, FREQUENCY, SLICE_SELECT or COMBINATION, by the
  first letter;
- ParallelAcquisitionTechnique (0018,9078), as written;
- AcquisitionDuration (0018,9073) (FD, seconds), above 0 (GE's (0019,105A) first); UIH: none,
  dcm2niix writes it, in thousandths, as TotalReadoutTime where no echo spacing is known;
- PhaseEncodingSteps (0018,9231) and FrequencyEncodingSteps (0018,9058) (US), above 0
  (a Philips partial-Fourier image's PhaseEncodingSteps as PhaseEncodingStepsNoPartialFourier
  with PartialFourierEnabled "YES", as :mod:`lazyvol.dicom.bids_extra` writes a classic one's:
  an enhanced file's PartialFourier (0018,9081) YES in MRModifierSequence);
- CoilString: the ReceiveCoilName (0018,1250) of the MR Receive Coil macro (a Siemens file's
  coil name, ``_coil``: :mod:`lazyvol.dicom.siemens_sidecar`);
- EchoTrainLength: GradientEchoTrainLength (0018,9241) (MR Timing and Related Parameters) where
  above 1, in place of EchoTrainLength (0018,0091) (:data:`GRADIENT_ECHO_TRAIN`);
- SpoilingState / SpoilingType: Spoiling (0018,9016) (MR Modifier macro, or the top level) and
  SequenceVariant (0018,0021), as the installed dcm2niix writes them (:func:`spoiling_keys`);
- InversionTime: the first InversionTimes (0018,9079) value (FD, ms) at the top level of a file
  (a classic file that keeps the enhanced attribute), in place of InversionTime (0018,0082)'s,
  as dcm2niix reads it after (0018,0082) (none when it is not above 0); an enhanced file's
  MRModifierSequence's is a frame's (:mod:`lazyvol.dicom.multiframe`); ImagingFrequency from a
  top-level TransmitterFrequency (0018,9098) the same way, in place of (0018,0084)'s;
- ConvolutionKernel (0018,1210) of an enhanced CT file's CT Reconstruction macro
  (CTReconstructionSequence (0018,9314)), its values joined by a backslash: the sidecar's
  ConvolutionKernel / ReconFilterType / ReconFilterSize (:mod:`lazyvol.dicom.bids_pet`, as a
  classic file's) and the frame's ``convolution_kernel`` (two reconstructions are two volumes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .bids_extra import EPI_FACTOR, printed
from .bids_numbers import number_value
from .ge_phase import _numbers
from .mosaic import raw_text
from .records import number as records_number
from .vendor import vendor_of

__all__ = [
    "ENHANCED_TAGS",
    "GRADIENT_ECHO_TRAIN",
    "INVERSION_TIMES",
    "SPOILING",
    "TRANSMITTER_FREQUENCY",
    "add_enhanced_record_values",
    "echo_train",
    "enhanced_annotate",
    "enhanced_group_values",
    "spoiling_keys",
    "top_replacing_values",
]

#: ``acq`` key of GradientEchoTrainLength (0018,9241): the EchoTrainLength dcm2niix writes when it
#: is above 1 (an EPI's echoes per excitation; TSE files state 1), whatever (0018,0091) says.
GRADIENT_ECHO_TRAIN = "_gradient_echo_train"
#: ``acq`` key of Spoiling (0018,9016), its values joined by a backslash (:func:`spoiling_keys`).
SPOILING = "_spoiling"
#: tag -> (functional group sequence, keyword, BIDS key, kind); kinds: "mt" (MTState), "pfd"
#: (PartialFourierDirection), "str", "s" (FD seconds), "count" (US above 0).
_ATTRIBUTES: dict[int, tuple[str, str, str, str]] = {
    0x00189020: ("MRImagingModifierSequence", "MagnetizationTransfer", "MTState", "mt"),
    0x00189036: ("MRModifierSequence", "PartialFourierDirection", "PartialFourierDirection", "pfd"),
    0x00189078: (
        "MRModifierSequence",
        "ParallelAcquisitionTechnique",
        "ParallelAcquisitionTechnique",
        "str",
    ),
    0x00189073: ("", "AcquisitionDuration", "AcquisitionDuration", "s"),
    0x00189231: (
        "MRFOVGeometrySequence",
        "MRAcquisitionPhaseEncodingStepsInPlane",
        "PhaseEncodingSteps",
        "count",
    ),
    0x00189058: (
        "MRFOVGeometrySequence",
        "MRAcquisitionFrequencyEncodingSteps",
        "FrequencyEncodingSteps",
        "count",
    ),
    0x00181250: ("MRReceiveCoilSequence", "ReceiveCoilName", "CoilString", "str"),
    0x00189241: (
        "MRTimingAndRelatedParametersSequence",
        "GradientEchoTrainLength",
        GRADIENT_ECHO_TRAIN,
        "count",
    ),
    0x00181210: ("CTReconstructionSequence", "ConvolutionKernel", "ConvolutionKernel", "text"),
    0x00189016: ("MRModifierSequence", "Spoiling", SPOILING, "text"),
}
#: The elements read at the top level (ReceiveCoilName there: :mod:`lazyvol.dicom.bids_extra`;
#: ConvolutionKernel: :mod:`lazyvol.dicom.bids_pet`, which writes it and its ReconFilter keys).
ENHANCED_TAGS = frozenset(t for t in _ATTRIBUTES if t not in (0x00181250, 0x00181210))
#: The keys copied here (AcquisitionDuration, PhaseEncodingSteps, CoilString: with others').
_COPIED = (
    "MTState",
    "PartialFourierDirection",
    "ParallelAcquisitionTechnique",
    "FrequencyEncodingSteps",
)
#: InversionTimes (0018,9079) (FD, ms), read at the top level by :func:`top_replacing_values`.
INVERSION_TIMES = 0x00189079
#: TransmitterFrequency (0018,9098) (FD, MHz), read at the top level by :func:`top_replacing_values`.
TRANSMITTER_FREQUENCY = 0x00189098
#: ``acq`` key of an enhanced frame whose MRModifierSequence states PartialFourier (0018,9081) YES.
_PARTIAL_FOURIER = "_partial_fourier"
_DIRECTIONS = {"P": "PHASE", "F": "FREQUENCY", "S": "SLICE_SELECT", "C": "COMBINATION"}
_MT = {"OF": True, "ON": False, "NO": False}


def _value(kind: str, value: Any) -> Any:
    """The BIDS value of ``value`` (text or number) of ``kind``, or None."""
    many = isinstance(value, list | tuple) or type(value).__name__ == "MultiValue"
    if kind == "text" and value is not None:  # (every value, as a top-level one is written)
        return "\\".join(str(v).strip(" \x00") for v in (value if many else [value])) or None
    if many:
        value = value[0] if len(value) else None
    if value is None:
        return None
    if kind in ("s", "count"):
        try:
            number = records_number(value)  # ('1_0': none)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(number) or number <= 0:
            return None
        return printed(number) if kind == "s" else int(number)
    text = str(value).strip(" \x00")
    if kind == "mt":
        return _MT.get(text[:2].upper())
    if kind == "pfd":
        return _DIRECTIONS.get(text[:1].upper())
    return text or None


def add_enhanced_record_values(raw: dict[int, Any], out: dict[str, Any]) -> None:
    """Add to ``out`` (a file's other acquisition values) the keys of the module docstring from
    the file's top-level raw elements (InversionTime: :func:`top_replacing_values`)."""
    for tag in ENHANCED_TAGS:
        if tag not in raw:  # (absent: no value; most files have none of them)
            continue
        _, _, key, kind = _ATTRIBUTES[tag]
        if kind == "s":
            value: Any = _numbers(raw, tag, "d")
        elif kind == "count":
            value = _numbers(raw, tag, "H")
        else:
            value = raw_text(raw, tag)
        got = _value(kind, value)
        if got is not None:
            out[key] = got
    top_replacing_values(raw, out)


def top_replacing_values(raw: dict[int, Any], out: dict[str, Any]) -> None:
    """Set (or drop) ``out["InversionTime"]`` from a top-level InversionTimes (0018,9079): its
    first value in seconds where above 0, else none, whatever InversionTime (0018,0082) said
    (dcm2niix reads the two in tag order, the later one replacing the earlier; checked against
    the installed dcm2niix: 900 with (0018,0082) 1100 gives 0.9, 0 with 1100 gives none).
    A file without the element, or with no value in it, keeps (0018,0082)'s. The same for
    ImagingFrequency from a top-level TransmitterFrequency (0018,9098) (MHz), read after
    ImagingFrequency (0018,0084): 123.25 with (0018,0084) 127.7 gives 123.25, 0 gives none."""
    for tag, key, kind in (
        (INVERSION_TIMES, "InversionTime", "ms"),
        (TRANSMITTER_FREQUENCY, "ImagingFrequency", "double"),
    ):
        values = _numbers(raw, tag, "d") if tag in raw else None
        if not values:
            continue
        value = number_value(kind, values[0])
        if value is None or not value > 0:
            out.pop(key, None)
        else:
            out[key] = value


def enhanced_group_values(
    groups: list[Any], find: Callable[[list[Any], str, str], Any], siemens: bool
) -> dict[str, Any]:
    """The keys of the module docstring from an enhanced frame's functional ``groups`` (``find``:
    the attribute of the first item of a sequence in the first group that has it); a Siemens
    file's coil name as ``_coil``, its phase-encoding steps also as ``_pe_lines`` (dcm2niix's
    lines of a partial Fourier estimate: :mod:`lazyvol.dicom.siemens_sidecar`)."""
    out: dict[str, Any] = {}
    for seq, keyword, key, kind in _ATTRIBUTES.values():
        if not seq:
            continue
        got = _value(kind, find(groups, seq, keyword))
        if got is not None:
            out["_coil" if siemens and key == "CoilString" else key] = got
    if siemens and "PhaseEncodingSteps" in out:
        out["_pe_lines"] = out["PhaseEncodingSteps"]  # (a partial Fourier estimate's lines)
    if str(find(groups, "MRModifierSequence", "PartialFourier") or "").strip().upper()[:1] == "Y":
        out[_PARTIAL_FOURIER] = True
    return out


def enhanced_annotate(bids: dict[str, Any], acq: dict[str, Any]) -> None:
    """Copy the keys of the module docstring from a volume's first frame's values ``acq`` into
    ``bids`` (after AcquisitionDuration and PhaseEncodingSteps, copied with the site keys). UIH:
    AcquisitionDuration is not written; dcm2niix writes it, in thousandths, as TotalReadoutTime
    where no echo spacing is known."""
    for key in _COPIED:
        if key in acq:
            bids[key] = acq[key]
    bids.update(spoiling_keys(acq.get(SPOILING), str(bids.get("SequenceVariant", ""))))
    vendor = vendor_of(str(acq.get("Manufacturer", "")))
    if vendor == "PHILIPS" and acq.get(_PARTIAL_FOURIER) and "PhaseEncodingSteps" in bids:
        bids["PartialFourierEnabled"] = "YES"  # (as a classic file's: lazyvol.dicom.bids_extra)
        bids["PhaseEncodingStepsNoPartialFourier"] = bids.pop("PhaseEncodingSteps")
    uih = vendor == "UIH"
    duration = bids.pop("AcquisitionDuration", None) if uih else None
    if duration is not None and "EffectiveEchoSpacing" not in bids:
        bids["TotalReadoutTime"] = printed(duration / 1000.0)


def spoiling_keys(spoiling: str | None, variant: str) -> dict[str, Any]:
    """SpoilingState / SpoilingType of a volume stating ``spoiling`` (Spoiling (0018,9016), its
    values joined by a backslash, or None) and SequenceVariant ``variant`` (joined likewise), as
    the installed dcm2niix writes them (checked on enhanced and classic files, each place the
    attribute can be): a Spoiling text holding "RF" (case as written) is a spoiled state of type
    COMBINED (RF_AND_GRADIENT, and RF alone too: dcm2niix writes COMBINED for it, where BIDS would
    say RF), else one holding "GRADIENT" of type GRADIENT, else one holding "NONE" is not spoiled;
    any other Spoiling, or none, says nothing, and then a SequenceVariant value "SP" (spoiled) is
    a spoiled state of no type. (dcm2niix tests the variant text as "SP", starting "SP\\" or
    holding "\\SP", so "SK\\SPX" counts.)"""
    text = spoiling or ""
    if "RF" in text:
        return {"SpoilingState": True, "SpoilingType": "COMBINED"}
    if "GRADIENT" in text:
        return {"SpoilingState": True, "SpoilingType": "GRADIENT"}
    if "NONE" in text:
        return {"SpoilingState": False}
    if variant == "SP" or variant.startswith("SP\\") or "\\SP" in variant:
        return {"SpoilingState": True}
    return {}


def echo_train(acq: dict[str, Any]) -> int:
    """The echo train length dcm2niix takes from a volume's values ``acq``: GradientEchoTrainLength
    (0018,9241) where above 1 (:data:`GRADIENT_ECHO_TRAIN`), else EchoTrainLength (0018,0091),
    else (that stating none or 0, at the top level or in the functional groups) a Philips file's
    EPI factor (:data:`~lazyvol.dicom.bids_extra.EPI_FACTOR`); 0 when none is stated."""
    train = int(acq.get(GRADIENT_ECHO_TRAIN, 0))
    if train > 1:
        return train
    stated = int(acq.get("EchoTrainLength", 0))
    return stated if stated > 0 else int(acq.get(EPI_FACTOR, 0))
