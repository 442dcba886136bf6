"""GE slice timing (BIDS ``SliceTiming``) from the GE protocol data block, as dcm2niix derives it.

GE one-file-per-slice EPI states no slice times; dcm2niix computes them (its ``sliceTimeGE``, and
the ``slicetime.cpp`` reference of the dcm_qa_ge validation set) from:

- the protocol data block (0025,101B): a 4-byte length, then a gzip stream of ``KEY "value"``
  lines, of which ``SLICEORDER`` (0 sequential, 1 interleaved), ``NOSLC`` (slices per volume) and
  ``DELACQ`` (a delay between volumes) are used here;
- the multiband (HyperBand) factor, the first value of (0043,10B6) (0 or absent: none);
- the software release (SoftwareVersions: releases before 27.0 R03 ordered interleaved multiband
  excitations differently);
- RepetitionTime; the slice GE acquires first is the one it numbers first (InstanceNumber,
  "First scan location" (0019,1019)), so the times run from that end of the stack.

Excitation ``e`` of ``n = ceil(slices / mb)`` starts at ``e * TR / n``; interleaved orders acquire
the even excitations (0, 2, 4 ...) first, then the odd ones; the slices of one multiband
excitation (``e``, ``e + n`` ...) share its time.

Only what that reference covers is derived: 2D gradient-echo EPI (``ScanningSequence`` EP and
GR; GE's spin-echo diffusion EPI uses another pattern), no delay between volumes, no per-slice
RTIA timer values (0021,105E) (newer releases' own times), slice count matching ``NOSLC``,
InstanceNumber running monotonically along the stack. Otherwise no SliceTiming is given: a made-up
one would mislead slice-timing correction.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import zlib
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["GE_TAGS", "ge_record_values", "ge_slice_timing"]

PROTOCOL_BLOCK = 0x0025101B
MULTIBAND = 0x004310B6
RTIA_TIMER = 0x0021105E
#: The GE elements read for slice timing (the protocol block's size is capped as a CSA header's).
GE_TAGS = frozenset({PROTOCOL_BLOCK, MULTIBAND, RTIA_TIMER})
#: Largest decompressed protocol block accepted (real ones are a few KiB).
_MAX_PROTOCOL = 1 << 20
_LINE = re.compile(rb'^\s*([A-Z0-9_]+)\s+"([^"]*)"', re.MULTILINE)


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


def _int(text: str | None) -> int | None:
    try:
        return int(float(text)) if text not in (None, "") else None
    except ValueError:
        return None


def _value(raw: dict[int, Any], tag: int) -> Any:
    elem = raw.get(tag)
    return None if elem is None else getattr(elem, "value", None)


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1").strip(" \x00")
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return "" if value is None else str(value).strip(" \x00")


def ge_record_values(raw: dict[int, Any]) -> dict[str, Any]:
    """``_ge_*`` inputs of :func:`ge_slice_timing` from one GE file's raw elements."""
    out: dict[str, Any] = {}
    block = _value(raw, PROTOCOL_BLOCK)
    if isinstance(block, bytes | bytearray) and block:
        entries = _protocol(bytes(block))
        order = _int(entries.get("SLICEORDER"))
        if order is not None:
            out["_ge_slice_order"] = order
            out["_ge_slices"] = _int(entries.get("NOSLC"))
            delay = entries.get("DELACQ", "0")
            try:
                out["_ge_delay"] = float(delay) != 0.0
            except ValueError:
                out["_ge_delay"] = True  # "Minimum" and other words: a delay not known here
    mb = _text(_value(raw, MULTIBAND)).split("\\")[0]
    if mb:
        out["_ge_mb"] = _int(mb)
    rtia = _text(_value(raw, RTIA_TIMER)).split("\\")[0]
    if rtia:
        try:
            out["_ge_rtia"] = float(rtia)
        except ValueError:
            out["_ge_rtia"] = math.nan
    return out


def _release_27r3(software: Any) -> bool | None:
    """True for GE software 27.0 R03 or later, False before it, None when the text does not say."""
    text = str(software or "")
    m = re.search(r"(\d+)\.(\d+)_R(\d+)", text)
    if m:
        return tuple(int(x) for x in m.groups()) >= (27, 0, 3)
    m = re.search(r"release:\D*(\d+)\.(\d+)", text)
    if m and int(m.group(1)) != 27:
        return int(m.group(1)) > 27
    return None


def ge_slice_timing(
    base: Sequence[Any], acq_of: Callable[[Any], dict[str, Any]], bids: dict[str, Any]
) -> list[float] | None:
    """SliceTiming (s) of a GE EPI volume's slices in stack order ``k`` (``base``: the first
    volume's records), or None when the data do not define it (see the module docstring)."""
    if not base or any(r is None for r in base):
        return None
    first = acq_of(base[0])
    order, nk = first.get("_ge_slice_order"), len(base)
    if order not in (0, 1) or first.get("_ge_delay") or first.get("_ge_slices") not in (None, nk):
        return None
    if bids.get("MRAcquisitionType") != "2D":
        return None
    if not {"EP", "GR"} <= set(str(bids.get("ScanningSequence", "")).split("\\")):
        return None
    if any(acq_of(r).get("_ge_rtia") for r in base):
        return None  # per-slice timer values (or unreadable ones): not derived from the protocol
    tr = bids.get("RepetitionTime")
    mb = first.get("_ge_mb") or 1
    if not isinstance(tr, int | float) or tr <= 0 or not isinstance(mb, int) or mb < 1:
        return None
    n = math.ceil(nk / mb)
    step = float(tr) / n
    if order == 0:
        times = [e * step for e in range(n)]
    else:
        odd_start = (n - 1) // 2
        times = [(e // 2 if e % 2 == 0 else odd_start + (e + 1) // 2) * step for e in range(n)]
        if mb > 1 and n > 2 and n % 2 == 0:
            late = _release_27r3(bids.get("SoftwareVersions"))
            if late is None:
                return None
            if late:
                times[n - 1], times[n - 3] = times[n - 3], times[n - 1]
    slice_times = [times[i % n] for i in range(nk)]
    numbers = [r.instance_number for r in base]
    if any(x is None for x in numbers):
        return None
    if all(a < b for a, b in itertools.pairwise(numbers)):
        pass  # acquisition from k = 0
    elif all(a > b for a, b in itertools.pairwise(numbers)):
        slice_times.reverse()
    else:
        return None
    return [float(f"{t:.6g}") for t in slice_times]
