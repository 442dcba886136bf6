"""GE slice timing (BIDS ``SliceTiming``) from the GE protocol data block, as dcm2niix derives it.

GE one-file-per-slice EPI states no slice times; dcm2niix computes them (its ``sliceTimeGE``; the
``slicetime.cpp`` reference of the dcm_qa_ge validation set) from:

- the protocol data block (0025,101B): a 4-byte length, then a gzip stream of ``KEY "value"``
  lines, of which ``SLICEORDER`` (0 sequential, 1 interleaved) and ``NOSLC`` (slices per volume)
  are used, and ``DELACQ`` read to refuse a delay;
- the multiband (HyperBand) factor, the first value of (0043,10B6) (0 or absent: none);
- the software release (the last value of SoftwareVersions, "DV26.0_R01", "MR29.1_EA");
- RepetitionTime; the slice GE acquires first is the one it numbers first (InstanceNumber 1 lies
  at the "First scan location" (0019,1019)), so the times run from that end of the stack. Where
  InstanceNumber is not monotonic along the stack (renumbered by an export or PACS), the end the
  first and last scan locations (0019,1018)-(0019,101B) name is taken, when both agree with the
  stack's ends (dcm2niix gives the same times: its verbose log lists GE slices by their raw data
  run number (0019,10A2), which counts from that first location).

``n = ceil(slices / mb)`` excitations start ``TR / n`` apart, in order (sequential) or the even
ones (0, 2, 4 ...) first, then the odd ones (interleaved); slices ``i``, ``i + n`` ... share
excitation ``i``. With HyperBand, releases before 27.0 R03 add one excitation when ``n`` is even;
from R03 on, an even interleaved ``n > 2`` swaps the last excitation with the third from last;
releases before 26 give none (dcm2niix: "early GE HyperBand"). These rules were checked against
dcm2niix on the four real GE series, each with HyperBand 1-5 and six releases (100 cases, equal).

Per-slice RTIA timer values (0021,105E) are not read: dcm2niix derives the times from the protocol
block whatever they say (it compares them only on request; early HyperBand releases wrote
single-band values there).

A delay after slice group (0043,107C) above 0 (a sparse fMRI acquisition) follows the slices:
they fill the stated RepetitionTime (0018,0080), TR / n apart, and the delay is added to the
sidecar's RepetitionTime only (dcm2niix: (TR + delay - delay) / n).

Where the reference does not cover the data, no SliceTiming is given, since a made-up one would
mislead slice-timing correction: spin-echo EPI (GE's diffusion EPI uses another pattern; only
``ScanningSequence`` EP and GR is derived), a delay between volumes (``DELACQ`` non-zero), a
delay after slice group not stated where the protocol's imaging options (``IOPT``) name neither
fMRI nor multiphase (dcm2niix then says "Unable to compute slice times for this GE dataset"; with
either, it takes the delay for 0) or not a number above 0 where non-zero, a slice count other than ``NOSLC``, InstanceNumber not
monotonic along the stack with no scan locations placing its ends, InstanceNumber missing (as
dcm2niix), an unknown release with HyperBand.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import struct
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from . import bids_numbers
from .mosaic import _little, _raw_bytes, raw_text
from .records import number

__all__ = ["GE_TAGS", "GROUP_DELAY_SECONDS", "ge_keys", "ge_record_values", "ge_slice_timing"]

PROTOCOL_BLOCK = 0x0025101B
MULTIBAND = 0x004310B6
GROUP_DELAY = 0x0043107C
#: First scan RAS letter and location, last scan RAS letter and location (GEMS_ACQU_01).
SCAN_LOCATIONS = (0x00191018, 0x00191019, 0x0019101A, 0x0019101B)
#: The GE elements read for slice timing (the protocol block's size is capped as a CSA header's).
GE_TAGS = frozenset({PROTOCOL_BLOCK, MULTIBAND, GROUP_DELAY, *SCAN_LOCATIONS})
#: A record's ``acq`` key of its delay after slice group (s), where above 0 (:func:`ge_keys`).
GROUP_DELAY_SECONDS = "_ge_group_delay_s"
#: A record's ``acq`` key of its RepetitionTime (0018,0080) as stated (ms, any sign): the delay is
#: added to it before the sum is rounded and tested above 0, as dcm2niix adds it to its d.TR.
_STATED_TR_MS = "_ge_tr_ms"
#: Imaging options (the protocol's IOPT, case as GE writes it) under which dcm2niix derives the
#: times of a series whose delay after slice group (0043,107C) is not stated (taken as 0).
_TIMED_OPTIONS = ("FMRI", "MPh")
#: Largest decompressed protocol block accepted (real ones are a few KiB).
_MAX_PROTOCOL = 1 << 20
#: One ``KEY "value"`` line (``[ \t]``, not ``\s``: ``^\s*`` runs over every following blank line
#: and back from each line start, quadratic in a run of blank lines).
_LINE = re.compile(rb'^[ \t]*([A-Z0-9_]+)[ \t]+"([^"]*)"', re.MULTILINE)


@functools.lru_cache(maxsize=16)
def _protocol(block: bytes) -> dict[str, str]:
    """The ``KEY "value"`` entries of a protocol data block ({} when it does not decode)."""
    start = block.find(b"\x1f\x8b")
    if start < 0 or start > 8:
        return {}
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        text = inflater.decompress(block[start:], _MAX_PROTOCOL)
    except zlib.error:
        return {}
    return {k.decode("latin-1"): v.decode("latin-1").strip() for k, v in _LINE.findall(text)}


#: The whole number a HyperBand text (0043,10B6) starts with, as C's atoi reads it.
_LEADING_INT = re.compile(r"\s*([+-]?\d+)")


def _int(text: str | None) -> int | None:
    """``text`` as a whole number (truncated), or None when it is absent, no number or not
    finite ("inf", "1e400": a number ``int`` cannot hold)."""
    try:
        return int(number(text)) if text not in (None, "") else None  # ('1_0': none)
    except (ValueError, OverflowError):
        return None


def _first(raw: dict[int, Any], tag: int) -> str:
    """The first text value of element ``tag`` ("" when absent)."""
    return (raw_text(raw, tag) or [""])[0]


def ge_record_values(raw: dict[int, Any]) -> dict[str, Any]:
    """``_ge_*`` inputs of :func:`ge_slice_timing` from one GE file's raw elements (and the
    protocol's PSEQ, a sidecar value)."""
    out: dict[str, Any] = {}
    block = _raw_bytes(raw, PROTOCOL_BLOCK)
    if block:
        entries = _protocol(block)
        if entries.get("PSEQ"):
            out["_ge_pulse_sequence"] = entries["PSEQ"]  # (lazyvol.dicom.bids_extra)
        if any(word in entries.get("IOPT", "") for word in _TIMED_OPTIONS):
            out["_ge_timed_option"] = True
        order = _int(entries.get("SLICEORDER"))
        if order is not None:
            out["_ge_slice_order"] = order
            out["_ge_slices"] = _int(entries.get("NOSLC"))
            delay = entries.get("DELACQ") or "0"  # (empty: none stated, as absent; dcm2niix)
            try:
                out["_ge_delay"] = number(delay) != 0.0
            except ValueError:
                out["_ge_delay"] = True  # "Minimum" and other words: a delay not known here
    mb = _first(raw, MULTIBAND)
    leading = _LEADING_INT.match(mb or "")  # (dcm2niix: atoi, "3x" is 3, "1e1" 1)
    if leading and int(leading.group(1)) > 0:  # (0 or below: single band, as no factor)
        out["_ge_mb"] = int(leading.group(1))
    if (locations := _scan_locations(raw)) is not None:
        out["_ge_scan_locations"] = locations
    delayed = _group_delay(raw)
    if delayed is not None:
        out["_ge_group_delay"] = delayed
    delay_s = group_delay_value(raw)
    if isinstance(delay_s, float) and delay_s > 0:  # (finite or inf: as dcm2niix, only above 0)
        out[GROUP_DELAY_SECONDS] = delay_s
        stated = raw_text(raw, 0x00180080)
        if stated and (tr_ms := bids_numbers.number(stated[0])) is not None:
            out[_STATED_TR_MS] = float(tr_ms)
    return out


#: The RAS axis (0 R, 1 A, 2 S) and sign of each side letter GE writes beside a location.
_SIDES = {
    "R": (0, 1.0),
    "L": (0, -1.0),
    "A": (1, 1.0),
    "P": (1, -1.0),
    "S": (2, 1.0),
    "I": (2, -1.0),
}


def _scan_locations(raw: dict[int, Any]) -> list[Any] | None:
    """[axis, first, last]: the RAS axis (0, 1, 2) and the first and last scan locations (mm,
    R, A, S positive) GE states, or None unless both name a side of one axis that agrees with
    their sign ("I" -17.7, "S" 52.3; a location of 0 takes either side)."""
    out: list[Any] = []
    for letter_tag, value_tag in ((0x00191018, 0x00191019), (0x0019101A, 0x0019101B)):
        side = _SIDES.get(_first(raw, letter_tag).strip().upper())
        value = bids_numbers.number(_first(raw, value_tag))
        if side is None or value is None or value * side[1] < 0:
            return None
        if out and out[0] != side[0]:
            return None
        out[:1] = [side[0]]
        out.append(float(value))
    return out


def _first_scanned(base: Sequence[Any], stated: Any) -> int | None:
    """Which end of the stack ``base`` (k = 0 or the last) GE scanned first by its stated scan
    locations (:func:`_scan_locations`), or None when they do not place the stack's two ends.

    Each end is placed by its slice centre along the stated RAS axis; each location must lie
    within a fifth of a slice step of one end, the first at one end and the last at the other."""
    if not isinstance(stated, list) or len(stated) != 3 or len(base) < 2:
        return None
    axis, first, last = stated
    ends = []
    for r in (base[0], base[-1]):
        if r.ipp is None or r.iop is None or r.pixel_spacing is None or len(r.iop) != 6:
            return None
        row, col = r.iop[:3], r.iop[3:]
        half_i, half_j = (r.columns - 1) / 2.0, (r.rows - 1) / 2.0
        centre = [
            r.ipp[n] + row[n] * half_i * r.pixel_spacing[1] + col[n] * half_j * r.pixel_spacing[0]
            for n in range(3)
        ]
        ends.append(centre[axis] * (1.0 if axis == 2 else -1.0))  # (LPS to RAS)
    step = abs(ends[1] - ends[0]) / (len(base) - 1)
    if step < 0.01:
        return None  # (the stack runs across the stated axis)
    near = [[abs(loc - end) <= step / 5.0 for end in ends] for loc in (first, last)]
    if near[0] == [True, False] and near[1] == [False, True]:
        return 0
    if near[0] == [False, True] and near[1] == [True, False]:
        return len(base) - 1
    return None


def _group_delay(raw: dict[int, Any]) -> bool | None:
    """Is the delay after slice group (0043,107C) stated non-zero? None when absent, False when
    empty (dcm2niix derives the times for an empty one, none for an absent one); a value that is
    no number (damaged, NaN, a word) counts as a delay not known here."""
    value = group_delay_value(raw)
    if value is None:
        return None if raw.get(GROUP_DELAY) is None else False
    return value if isinstance(value, bool) else value != 0.0


def group_delay_value(raw: dict[int, Any]) -> float | bool | None:
    """The delay after slice group (0043,107C) in seconds; None when absent or empty, True when
    stated but no number (a damaged binary value, a word).

    GE writes it as a binary FL (4 bytes, UN in an implicit VR file): read as a float, not as
    text (0.5 is ``00 00 00 3F``, whose text ends at its first NUL); a value a re-encoding tool
    wrote as text (explicit VR DS/LO, or pydicom decoded) is read as a number."""
    elem = raw.get(GROUP_DELAY)
    value = getattr(elem, "value", None)
    if value is None or value in (b"", ""):
        return None
    binary = getattr(elem, "VR", None) in (None, "FL", "UN", "OB")  # (None: implicit VR)
    if isinstance(value, bytes | bytearray) and binary:
        if len(value) % 4:
            return True  # (a damaged binary value: a delay not known)
        (number,) = struct.unpack_from("<f" if _little(raw, GROUP_DELAY) else ">f", value)
        return float(number)
    text = _first(raw, GROUP_DELAY)
    if not text:
        return None
    try:
        return number(text)  # ('0_5': a delay not known)
    except ValueError:
        return True


def ge_keys(bids: dict[str, Any], acq: dict[str, Any]) -> None:
    """PhaseEncodingPolarityGE, GE's HyperBand factor (0043,10B6) as MultibandAccelerationFactor
    where above 1, and a delay after slice group (0043,107C) above 0 added to RepetitionTime (the
    time between volumes: GE's (0018,0080) leaves it out), for any sequence, as dcm2niix."""
    if "_ge_polarity" in acq:
        bids["PhaseEncodingPolarityGE"] = acq["_ge_polarity"]
    if (acq.get("_ge_mb") or 0) > 1:
        bids["MultibandAccelerationFactor"] = acq["_ge_mb"]
    delay = acq.get(GROUP_DELAY_SECONDS)
    if not isinstance(delay, float):
        return
    # the stated TR, not the sidecar's (rounded to 6 digits, none at or below 0: TR 0 + 0.5 s is
    # 0.5 s); an enhanced file's functional-group TR where the file states none
    tr_ms = acq.get(_STATED_TR_MS, 1000.0 * bids.get("RepetitionTime", 0.0))
    total = tr_ms + 1000.0 * delay
    if math.isfinite(total) and total > 0:
        bids["RepetitionTime"] = bids_numbers.seconds(
            total
        )  # (dcm2niix prints its float TR / 1000 with %g)


def _release(software: Any) -> tuple[int, int, int] | None:
    """(major, minor, R) of GE's software release ("...release:DV26.0_R01_1725.a" -> (26, 0, 1),
    "MR29.1_EA_2039.g" -> (29, 1, 0)), or None when SoftwareVersions does not say."""
    text = str(software or "")
    m = re.search(r"(\d+)\.(\d+)(?:_R(\d+))?", text.rsplit("\\", 1)[-1])
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def _excitation_times(n: int, order: int, step: float) -> list[float]:
    """Start of each excitation: in order (sequential), or even ones first (interleaved)."""
    if order == 0:
        return [e * step for e in range(n)]
    odd_start = (n - 1) // 2
    return [(e // 2 if e % 2 == 0 else odd_start + (e + 1) // 2) * step for e in range(n)]


def ge_slice_timing(
    base: Sequence[Any], acq_of: Callable[[Any], dict[str, Any]], bids: dict[str, Any]
) -> list[float] | None:
    """SliceTiming (s) of a GE EPI volume's slices in stack order ``k`` (``base``: the first
    volume's records), or None when the data do not define it (see the module docstring)."""
    if not base or any(r is None for r in base):
        return None
    first = acq_of(base[0])
    order, nk = first.get("_ge_slice_order"), len(base)
    # (a delay after slice group not stated is not known to be 0: dcm2niix gives no times then)
    group_delay = first.get("_ge_group_delay")
    if group_delay is None and not first.get("_ge_timed_option"):
        return None  # (neither the delay stated nor an fMRI / multiphase option, as dcm2niix)
    if order not in (0, 1) or first.get("_ge_delay"):
        return None
    # (a 3D acquisition has none; one not stating its type keeps its times, as dcm2niix)
    if first.get("_ge_slices") not in (None, nk) or bids.get("MRAcquisitionType") == "3D":
        return None
    if not {"EP", "GR"} <= set(str(bids.get("ScanningSequence", "")).split("\\")):
        return None
    tr = bids.get("RepetitionTime")
    if group_delay:  # the slices fill the stated TR, the delay follows them (sparse fMRI)
        delay, stated = first.get(GROUP_DELAY_SECONDS), first.get(_STATED_TR_MS)
        if not isinstance(delay, float) or not math.isfinite(delay) or stated is None:
            return None  # (a delay no number, or none above 0: not known)
        tr = float(stated) / 1000.0  # (RepetitionTime holds TR + delay: ge_keys)
    mb = first.get("_ge_mb") or 1
    if not isinstance(tr, int | float) or tr <= 0 or not isinstance(mb, int) or mb < 1:
        return None
    n = math.ceil(nk / mb)  # excitations; slices i, i + n ... share one
    swap = False
    if mb > 1:
        release = _release(bids.get("SoftwareVersions"))
        if release is None or release[0] < 26:
            return None  # early HyperBand (dcm2niix gives no times either), or release unknown
        late = release >= (27, 0, 3) or release[0] >= 28
        if n % 2 == 0:
            if late:
                swap = order == 1 and n > 2  # R03 on: the last two odd excitations trade places
            else:
                n += 1  # before 27.0 R03: an even count gets one excitation more
    times = _excitation_times(n, order, float(tr) / n)
    if swap:
        times[n - 1], times[n - 3] = times[n - 3], times[n - 1]
    slice_times = [times[i % n] for i in range(nk)]
    numbers = [r.instance_number for r in base]
    if any(x is None for x in numbers):
        return None  # (as dcm2niix)
    if all(a < b for a, b in itertools.pairwise(numbers)):
        pass  # acquisition from k = 0
    elif all(a > b for a, b in itertools.pairwise(numbers)):
        slice_times.reverse()
    else:  # (renumbered: the scan locations say where GE started)
        start = _first_scanned(base, first.get("_ge_scan_locations"))
        if start is None:
            return None
        if start:
            slice_times.reverse()
    return [float(f"{t:.6g}") for t in slice_times]
