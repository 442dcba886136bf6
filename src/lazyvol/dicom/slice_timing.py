"""BIDS ``SliceTiming`` of a DICOM volume, as dcm2niix writes it.

The times (seconds, in slice order ``k``) come from, in this order:

- per-slice times the files state (Siemens mosaic MosaicRefAcqTimes, or the times derived from the
  Siemens protocol when a mosaic states none, :mod:`lazyvol.dicom.siemens_protocol`; UIH GRID
  items): the first volume's, or the second
  volume's when the first volume's are corrupted, by dcm2niix's rule (its ``checkSliceTiming``;
  issues 271, 704, 870, 879: CMRR and XA sequences can write times spanning past the TR, or offset
  by a TR, in the first volume only);
- each slice's TimeAfterStart (0021,1104) (Siemens XA classic files of more than one volume, as
  dcm2niix: the first volume's, or the second's by the same rule as stated times; their
  AcquisitionTime is not read, so such a series without it has none; a Siemens series of one
  volume, or not naming " XA" in SoftwareVersions, whose slices state TimeAfterStart: none, as
  dcm2niix reads neither then); an enhanced Siemens file's frames' TimeAfterStart (in the
  functional groups' private sequence (0021,11FE)) whatever its software version and volume
  count, as dcm2niix reads them (the first volume in slice order, where dcm2niix takes the
  file's first frames: another order for frames stored shuffled);
- each slice's AcquisitionTime (Siemens and UIH one file per slice);
- GE's protocol data block (:func:`lazyvol.dicom.ge_timing.ge_slice_timing`), for a series of
  several volumes (dcm2niix gives a single GE volume none).

As dcm2niix, none for a 3D acquisition (MRAcquisitionType (0018,0023) "3D"; BIDS defines
SliceTiming for 2D acquisitions; a series that does not state the type keeps its times), for CT
and PET, and when every slice has the same time. Unlike dcm2niix, never a time outside
``[0, RepetitionTime)``: such times (both volumes corrupted, a single volume's, an SBRef's
single-band times) are left out with a warning naming the attribute.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .dicom_time import acquired, tm_resolution
from .ge_timing import ge_slice_timing
from .records import FrameRecord
from .support import file_list
from .vendor import vendor_of

__all__ = ["ACQUISITION_TIME_VENDORS", "slice_timing"]

Getter = Callable[[FrameRecord | None], dict[str, Any]]

#: The vendors (:func:`lazyvol.dicom.vendor.vendor_of`) whose one-file-per-slice series get
#: SliceTiming from each slice's AcquisitionTime, as dcm2niix gives it (checked against it: GE,
#: Philips, Canon, Toshiba, Hitachi and Bruker series get none from it).
ACQUISITION_TIME_VENDORS = frozenset({"SIEMENS", "UIH"})


def _rounded(values: Sequence[float]) -> list[float]:
    """Seconds as dcm2niix prints them (6 significant digits)."""
    return [float(f"{v:.6g}") for v in values]


def _stated_ms(base: Sequence[FrameRecord | None], _acq: Getter) -> list[float] | None:
    """The per-slice times (ms) the records of one volume state, or None."""
    times = [_acq(r).get("_slice_time_ms") for r in base]
    if not times or any(t is None for t in times):
        return None
    return [float(t) for t in times if t is not None]


def _after_start_ms(base: Sequence[FrameRecord | None], _acq: Getter) -> list[float] | None:
    """Siemens XA classic slices of one volume: the ms of each slice's TimeAfterStart
    (0021,1104) after the volume's first slice, as dcm2niix takes them; None when a slice states
    none."""
    secs = [_acq(r).get("_time_after_start") for r in base]
    if not secs or any(t is None for t in secs):
        return None
    t0 = min(float(t) for t in secs if t is not None)
    return [(float(t) - t0) * 1000.0 for t in secs if t is not None]


def _stated_timing(
    slots: Sequence[FrameRecord | None],
    nk: int,
    _acq: Getter,
    tr_ms: float | None,
    read: Callable[[Sequence[FrameRecord | None], Getter], list[float] | None] = _stated_ms,
) -> tuple[list[float] | None, str]:
    """The first volume's stated times (ms), or the second volume's when the first's are
    corrupted or span a shorter acquisition (dcm2niix's ``checkSliceTiming`` and its issue 870
    rule): ``(times, problem)``, ``problem`` saying why neither is usable ("" when one is, or
    when no times are stated). ``read``: one volume's times (ms) from its records."""
    first = read(slots[:nk], _acq)
    if first is None or not tr_ms:
        return first, ""
    second = read(slots[nk : 2 * nk], _acq) if len(slots) >= 2 * nk else None
    if second is not None:
        lo, hi = min(second), max(second)
        if lo < hi and lo > 0 and hi - lo <= tr_ms:
            second = [t - lo for t in second]  # (dcm2niix issue 429: may not start from zero)
            lo, hi = 0.0, hi - lo
        if lo < 0 or lo == hi or hi >= tr_ms:
            second = None
    if min(first) != max(first) and max(first) <= tr_ms:  # (dcm2niix: looks fine)
        # but the single-band times of a multiband run (issues 870, 875): the second's span longer
        if second is not None and max(second) - min(second) > max(first) - min(first):
            return second, ""
        return first, ""
    if second is None:
        return first, "neither the first volume's nor the second's are within it"
    return second, ""


def _from_acquisition_time(
    base: Sequence[FrameRecord | None], tr: float | None
) -> list[float] | None:
    """Siemens and UIH 2D slices stored one per file: SliceTiming from each slice's
    AcquisitionTime, as dcm2niix (relative to the earliest slice; only when the times differ and
    span less than TR; dcm2niix does so for no other vendor, see :data:`ACQUISITION_TIME_VENDORS`).
    None, unlike dcm2niix, when the times are written too coarsely to tell slices apart (whole
    seconds for slices 0.2 s apart, as an anonymiser or exporter cuts them): the times would
    put several slices at one moment, a wrong SliceTiming no warning would flag. Times are
    compared by date and time when every slice states its date (a volume acquired across
    midnight); undated times of day that may cross it (:func:`acquired`) give none."""
    if any(r is None for r in base) or not tr:
        return None
    secs, wrap = acquired([r for r in base if r is not None])
    if wrap or any(t is None for t in secs):
        return None
    step = tm_resolution([r.acquisition_time for r in base if r is not None])
    if step >= float(tr) / max(1, len(base)):  # (the mean slice interval of a single-band run)
        return None
    t0 = min(t for t in secs if t is not None)
    rel = [float(t) - t0 for t in secs if t is not None]
    if len(set(rel)) < 2 or max(rel) >= float(tr):
        return None
    return _rounded(rel)


def _xa_series(bids: dict[str, Any], volumes: int) -> bool:
    """Whether dcm2niix reads a Siemens one-file-per-slice series' times as XA classic files':
    from TimeAfterStart only, and only for a series of more than one volume (SoftwareVersions
    naming " XA"; a bare "XA30" is not read so)."""
    xa = " XA" in str(bids.get("SoftwareVersions", ""))
    return xa and volumes > 1 and vendor_of(str(bids.get("Manufacturer", ""))) == "SIEMENS"


def _source(first: FrameRecord, acq: dict[str, Any]) -> str:
    """The attribute the stated slice times of ``first`` come from, as a warning names it."""
    if first.mosaic is not None and vendor_of(str(acq.get("Manufacturer", ""))) == "SIEMENS":
        return "MosaicRefAcqTimes (CSA image header (0029,1010) / (0019,1029))"
    if "_time_after_start" in acq:
        return "TimeAfterStart (0021,1104)"
    return "the per-slice acquisition times"


def slice_timing(
    slots: Sequence[FrameRecord | None],
    nk: int,
    _acq: Getter,
    bids: dict[str, Any],
    warnings: list[str],
) -> list[float] | None:
    """SliceTiming (s) of the volume whose records are ``slots`` (k fastest, then t), or None.

    ``bids``: the volume's sidecar values so far (RepetitionTime, MRAcquisitionType, Modality,
    Manufacturer ...); a warning is appended to ``warnings`` when stated times are left out.
    """
    first = next((r for r in slots[:nk] if r is not None), None)
    if first is None or nk < 1:
        return None
    if bids.get("MRAcquisitionType") == "3D" or bids.get("Modality") in ("CT", "PT"):
        return None  # (dcm2niix: 2D acquisitions only)
    tr = bids.get("RepetitionTime")
    tr_ms = float(tr) * 1000.0 if isinstance(tr, int | float) and tr > 0 else None
    stated, problem = _stated_timing(list(slots), nk, _acq, tr_ms)
    vendor = vendor_of(str(bids.get("Manufacturer", "")))
    # Siemens XA classic files of more than one volume: TimeAfterStart (0021,1104), as dcm2niix
    # reads them (the first volume's, or the second's when the first's are corrupted); a Siemens
    # series with TimeAfterStart and no other (one volume, no " XA"): none, as dcm2niix
    xa = _xa_series(bids, len(slots) // nk)
    # (an enhanced Siemens file's frames: their TimeAfterStart whatever its software version and
    # volume count, as dcm2niix reads them; the first volume sorted, where dcm2niix takes the
    # file's first frames)
    xa = xa or (
        vendor_of(str(bids.get("Manufacturer", ""))) == "SIEMENS" and first.number_of_frames > 1
    )
    if stated is None and nk > 1 and xa:
        stated, problem = _stated_timing(list(slots), nk, _acq, tr_ms, read=_after_start_ms)
    after_start = vendor == "SIEMENS" and any(
        "_time_after_start" in _acq(r) for r in slots[:nk] if r is not None
    )
    timing = None if stated is None else _rounded([t / 1000.0 for t in stated])
    if timing is None and vendor in ACQUISITION_TIME_VENDORS and nk > 1:
        # (UIH: only a series of several volumes, as dcm2niix; Siemens' one volume too)
        if not (xa or after_start or (vendor == "UIH" and len(slots) <= nk)):
            timing = _from_acquisition_time(list(slots[:nk]), tr)
    # (GE: a series of several volumes only; dcm2niix gives a single volume none)
    if timing is None and bids.get("Manufacturer") == "GE" and len(slots) > nk > 1:
        timing = ge_slice_timing(list(slots[:nk]), _acq, {**_acq(first), **bids})
    if timing is None or len(set(timing)) < 2:
        return None  # (dcm2niix: no SliceTiming when every slice has the same time)
    if tr_ms is not None and (min(timing) < 0 or max(timing) * 1000.0 >= tr_ms):
        files = file_list(sorted({r.path for r in slots[: 2 * nk] if r is not None}), 2)
        warnings.append(
            f"SliceTiming left out: {_source(first, _acq(first))} of {files} span "
            f"{min(timing):g}..{max(timing):g} s, not within the RepetitionTime (0018,0080) of "
            f"{tr:g} s ({problem or 'times outside it'}); slice-timing correction needs the "
            "times from the scanner protocol"
        )
        return None
    return timing
