"""Sidecar keys dcm2niix derives from other sidecar values, once every vendor's keys are in.

- MultibandAccelerationFactor of a Siemens series stored one slice per file that states no
  PATModeText: the number of slices sharing the first slice's time in its SliceTiming (from each
  slice's AcquisitionTime, :mod:`lazyvol.dicom.slice_timing`), as dcm2niix counts them (a mosaic's
  comes from its stated times: :mod:`lazyvol.dicom.siemens_sidecar`). dcm2niix does so for no
  other vendor (checked: UIH, GE, Philips, Canon). Unlike dcm2niix, none when lazyvol writes no
  SliceTiming (every slice at one time, or times too coarse to tell them apart).
- (GE's MultibandAccelerationFactor, its HyperBand factor (0043,10B6), comes with its other keys:
  :func:`lazyvol.dicom.bids.annotate`.)
- PulseSequenceType, every vendor and modality (a CT or PET file stating a ScanningSequence gets
  one, as dcm2niix), from ScanningSequence (0018,0020) and SequenceVariant
  (0018,0021) as written (case kept: dcm2niix matches upper-case letters inside the joined text)
  and the MultibandAccelerationFactor above 1: "EP" gives an EPI type ("Multiband " when
  multiband, "Spin Echo EPI" with "SE"), else "GR" a gradient echo ("MPRAGE" with "IR" and
  variant "MP"; "Spoiled Gradient Echo" with a variant value "SP"), else "SE" a spin echo
  ("Inversion Recovery Spin Echo" with "IR"); none otherwise. Checked against the installed
  dcm2niix over 18 ScanningSequence x 12 SequenceVariant texts.
- RepetitionTime of a series of 2D images stored one per file (not GE's MR) whose volumes were
  acquired another interval apart than its RepetitionTime (0018,0080) states, by more than 50 ms
  (dcm2niix's issue 560: a sparse or delayed fMRI run, a CT perfusion, a dynamic PET): the
  interval between its first and last volumes' first images over the volumes between them
  (divided by NumberOfAverages above 1), the stated value kept as RepetitionTimeExcitation (or,
  for an inversion-recovery ScanningSequence but Philips', RepetitionTimeInversion), with a
  warning, as dcm2niix writes them (its NIfTI's pixdim[4] follows the RepetitionTime, as
  lazyvol's). A PET series (GE's too) is measured first, as dcm2niix measures it: the frames
  whose ActualFrameDuration (0018,1242) is 0 take the measured interval as their FrameDuration,
  and a PET sidecar with a FrameDuration then has no RepetitionTime
  (:mod:`lazyvol.dicom.bids_pet`); the interval is kept as ``meta["frame_interval"]`` for the
  NIfTI's pixdim[4], which dcm2niix still writes.
- DerivedVendorReportedEchoSpacing, every vendor (and a file whose Manufacturer an anonymiser
  dropped), as dcm2niix: wherever BandwidthPerPixelPhaseEncode and ReconMatrixPE are known,
  1 / (bandwidth x ReconMatrixPE / ParallelReductionFactorInPlane x (1 + PhaseOversampling)) in
  32-bit floats (no oversampling known); Siemens' comes with its protocol keys
  (:func:`lazyvol.dicom.siemens_sidecar.echo_spacing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._per_volume import FRAME_INTERVAL, VOLUME_ACQUISITION
from .bids import annotate as annotate_bids
from .bids_numbers import printed
from .bids_pet import frame_duration
from .frame_table import philips_keys
from .records import FrameRecord
from .siemens_sidecar import annotate_siemens, echo_spacing
from .source import Fetch

__all__ = ["annotate_sidecar", "derived_keys", "measured_repetition", "pulse_sequence_type"]


def annotate_sidecar(
    info: Any,
    slots: Sequence[FrameRecord | None],
    nk: int,
    philips: tuple[FrameRecord, bool],
    fetch: Fetch,
) -> None:
    """Fill ``info.meta["bids"]`` of a volume whose records are ``slots`` (k fastest, then t):
    every vendor's keys (:func:`lazyvol.dicom.bids.annotate`, which reads Siemens' CSA diffusion
    table too), the Philips scaling keys of ``philips`` (its first image, and whether its values
    are the floating-point ones), the Siemens keys (one read of the
    protocol per volume), then the keys derived from those (:func:`derived_keys`)."""
    annotate_bids(info, slots, nk)
    info.meta.setdefault("bids", {}).update(philips_keys(*philips))
    annotate_siemens(info, slots, fetch)
    derived_keys(info.meta["bids"])
    info.warnings.extend(n for n in [measured_repetition(info.meta, slots)] if n)
    bids = info.meta["bids"]
    if bids.get("Modality") == "PT" and "FrameDuration" in bids:
        # (FrameDuration for it in the sidecar, as dcm2niix writes them; pixdim[4] still the TR)
        tr = bids.pop("RepetitionTime", None)
        if tr is not None:
            info.meta[FRAME_INTERVAL] = tr


#: dcm2niix's tolerance between the stated and the measured interval of volumes (s).
_TR_TOLERANCE = 0.05


def measured_repetition(meta: dict[str, Any], slots: Sequence[FrameRecord | None]) -> str:
    """Set ``meta["bids"]`` RepetitionTime to the measured interval of the volumes where it
    differs from the stated one (module doc); the warning saying so, or ""."""
    bids = meta.get("bids") or {}
    acquisition = meta.get(VOLUME_ACQUISITION) or {}
    times, stamps = acquisition.get("time") or [], acquisition.get("stamp") or []
    one_per_file = all(r.mosaic is None and r.number_of_frames == 1 for r in slots if r)
    pet = bids.get("Modality") == "PT"
    if (bids.get("Manufacturer") == "GE" and not pet) or not one_per_file:
        return ""
    if len(times) < 2 or any(t is None for t in times) or times[-1] == times[0]:
        return ""
    if len(stamps) == len(times) and None not in (stamps[0], stamps[-1]):
        if abs(abs(stamps[-1] - stamps[0]) - abs(times[-1] - times[0])) > 1.0:
            return ""  # (across midnight: no interval of the times of day, as dcm2niix)
    stated = bids.get("RepetitionTime")
    if stated is None and any("RepetitionTime" in (r.acq or {}) for r in slots if r):
        return ""  # (the images state different ones: the key left out, with a note)
    stated = float(stated) if isinstance(stated, int | float) and stated > 0 else 0.0
    tr = abs(times[-1] - times[0]) / (len(times) - 1)
    if abs(tr - stated) <= _TR_TOLERANCE:
        return ""
    averages = bids.get("NumberOfAverages")
    if isinstance(averages, int | float) and averages > 1:
        tr /= averages
        if abs(tr - stated) <= _TR_TOLERANCE:
            return ""
    bids["RepetitionTime"] = printed(tr)
    if pet and "FrameDuration" in bids:
        _frames_of_no_duration(bids, slots, len(times), printed(tr))
    if stated <= 0:
        return ""  # (none stated: the measured one, no word, as dcm2niix)
    seq = str(bids.get("ScanningSequence", ""))
    kept = "Inversion" if "IR" in seq and bids.get("Manufacturer") != "Philips" else "Excitation"
    bids[f"RepetitionTime{kept}"] = printed(stated)
    return (
        f"RepetitionTime (0018,0080) {stated:g} s is not the {printed(tr):g} s between the "
        "volumes' AcquisitionTimes: the sidecar's RepetitionTime (and the NIfTI's pixdim[4]) is "
        f"the latter, the stated one RepetitionTime{kept}, as dcm2niix writes them"
    )


def _frames_of_no_duration(
    bids: dict[str, Any], slots: Sequence[FrameRecord | None], n_volumes: int, tr: float
) -> None:
    """A PET sidecar's FrameDuration with the measured ``tr`` for each volume whose first image
    states an ActualFrameDuration (0018,1242) of 0 (:mod:`lazyvol.dicom.bids_pet` gave it the
    stated RepetitionTime), as dcm2niix writes it."""
    step = len(slots) // n_volumes if n_volumes else 0
    heads = [next((r for r in slots[t : t + step] if r), None) for t in range(0, len(slots), step)]
    durations = bids["FrameDuration"]
    if step < 1 or len(heads) != len(durations):
        return
    for t, r in enumerate(heads):
        if r is not None and not frame_duration(r.acq or {}):
            durations[t] = tr


def pulse_sequence_type(bids: dict[str, Any]) -> str | None:
    """PulseSequenceType of a sidecar holding ScanningSequence / SequenceVariant (module doc)."""
    seq = str(bids.get("ScanningSequence", ""))
    variant = str(bids.get("SequenceVariant", ""))
    multiband = int(bids.get("MultibandAccelerationFactor") or 0) > 1
    spin_echo, inversion = "SE" in seq, "IR" in seq
    if "EP" in seq:
        kind = "Spin Echo EPI" if spin_echo else "Gradient Echo EPI"
        return f"Multiband {kind}" if multiband else kind
    if "GR" in seq:
        if inversion and "MP" in variant:
            return "MPRAGE"
        return "Spoiled Gradient Echo" if "SP" in variant.split("\\") else "Gradient Echo"
    if spin_echo:
        return "Inversion Recovery Spin Echo" if inversion else "Spin Echo"
    return None


def _siemens_bands(bids: dict[str, Any]) -> int:
    """Slices acquired at once by a Siemens series' SliceTiming (0 without one)."""
    times = bids.get("SliceTiming")
    if bids.get("Manufacturer") != "Siemens" or not times:
        return 0
    return sum(1 for t in times if t == times[0])


def derived_keys(bids: dict[str, Any]) -> None:
    """Add the keys of the module docstring to a volume's finished sidecar values ``bids``."""
    if "MultibandAccelerationFactor" not in bids and (bands := _siemens_bands(bids)) > 1:
        bids["MultibandAccelerationFactor"] = bands
    # (any modality whose files state a ScanningSequence, as dcm2niix: a CT or PET file with one)
    if (kind := pulse_sequence_type(bids)) is not None:
        bids["PulseSequenceType"] = kind
    if bids.get("Manufacturer") != "Siemens":  # (Siemens': :mod:`.siemens_sidecar`)
        bids.update(echo_spacing(bids, {}))
