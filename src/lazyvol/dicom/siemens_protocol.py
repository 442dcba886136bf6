"""Slice times of a Siemens mosaic that states none, from its protocol, as dcm2niix derives them.

Old Siemens software (VB12, VB13) writes no MosaicRefAcqTimes. dcm2niix (its
``rescueSliceTimingSiemens``) then builds the times from the protocol text (``### ASCCONV BEGIN``
... ``### ASCCONV END``, MrPhoenixProtocol) of the CSA series header (0029,1020):
``sSliceArray.ucMode`` (1 ascending, 2 descending, 4 interleaved), ``lDelayTimeInTR`` (us) and
RepetitionTime: ``n`` slices ``TA / n`` apart, ``TA = TR - delay``, in mosaic tile order;
interleaved takes tiles 0, 2, 4 ... first for an odd slice count, 1, 3, 5 ... first for an even
one (Siemens' rule). Single-band only (dcm2niix issue 322: the pattern of a multiband run is not
in the protocol): none when PATModeText (0051,1011) names a slice acceleration (``s2``, ``p2 s3``).

The slice spacing of a mosaic stating no SpacingBetweenSlices (0018,0088), which dcm2niix takes
from SliceThickness (a gap between slices lost): the steps between the protocol's slice positions
(``sSliceArray.asSlice[i].sPosition``) along the slice normal, where they are evenly spaced and
start where ImagePositionPatient puts the first tile (:func:`protocol_spacing`); checked against
SpacingBetweenSlices on the five dcm_qa_mosaic Prisma series (3.6 mm, within 1e-7 mm).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from .records import number

if TYPE_CHECKING:
    from .records import FrameRecord

__all__ = [
    "CSA_SERIES",
    "PAT_MODE_TEXT",
    "Protocol",
    "mosaic_spacing_note",
    "pat_factors",
    "protocol_slice_times",
    "protocol_spacing",
    "read_protocol",
]

#: The CSA series header's element in each private block "SIEMENS CSA HEADER" (0029,10xx..12xx).
CSA_SERIES = {0x00290010: 0x00291020, 0x00290011: 0x00291120, 0x00290012: 0x00291220}
#: PATModeText (0051,1011), "SIEMENS MR HEADER": "p2" (in-plane), "p2 s3" (3 slices at once).
PAT_MODE_TEXT = 0x00511011
_ASCCONV = re.compile(rb"### ASCCONV BEGIN.*?(?:### ASCCONV END|\Z)", re.DOTALL)
# (``[ \t]*``, not ``\s*``, at a line's start: ``\s*`` runs over every following blank line and
# back from each line start, quadratic in a run of blank lines)
_UC_MODE = re.compile(rb"^[ \t]*sSliceArray\.ucMode[ \t]*=[ \t]*(0x[0-9A-Fa-f]+|\d+)", re.MULTILINE)
_DELAY = re.compile(rb"^[ \t]*lDelayTimeInTR[ \t]*=[ \t]*(-?\d+(?:\.\d*)?)", re.MULTILINE)
#: One ASCCONV line: ``name = value`` (tabs or spaces around the sign).
_LINE = re.compile(r"^[ \t]*([A-Za-z_][\w.\[\]]*)[ \t]*=[ \t]*(.*?)[ \t\r]*$", re.MULTILINE)


def _protocol_text(series: bytes) -> bytes | None:
    """The ASCCONV text of a CSA series header (nibabel's CSA parser; the raw bytes when it does
    not parse, as dcm2niix searches them), or None."""
    text = series
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nibabel.nicom warns on import
            from nibabel.nicom import csareader

        tags = csareader.read(series).get("tags", {})
        items = [
            i
            for name in ("MrPhoenixProtocol", "MrProtocol")
            for i in tags.get(name, {}).get("items", [])
        ]
        if items:
            text = "".join(str(i) for i in items).encode("latin-1", "replace")
    except Exception:  # nibabel raises CSAReadError, struct.error, UnicodeDecodeError...
        pass
    found = _ASCCONV.search(text)
    return found.group(0) if found else None


def pat_factors(pat_mode: str, dots: bool = False) -> tuple[float | None, int | None]:
    """The in-plane and slice accelerations PATModeText names, as dcm2niix reads them: the
    number after the first ``p`` (in-plane) and after the first ``s`` (slices), each only when
    the rest of the text after its letter holds that one number (``p2``: 2, None; ``s3``: None,
    3; ``p2s3`` and ``p2 s3``: None, 3; ``P2``: None, None). ``dots``: a decimal point is part
    of a number (XA's (0021,1009); (0051,1011) takes digits only); the slice factor is a whole
    number."""

    def after(key: str) -> str | None:
        at = pat_mode.find(key)
        rest = pat_mode[at + 1 :] if at >= 0 else ""
        runs = re.findall(r"-?[0-9.]+" if dots else r"-?[0-9]+", rest)
        return runs[0] if len(runs) == 1 and not runs[0].startswith("-") else None

    accel, bands = after("p"), after("s")
    try:
        in_plane = float(accel) if accel is not None else None
    except ValueError:
        in_plane = None
    return in_plane, int(bands) if bands is not None and bands.isdigit() else None


def multiband(pat_mode: str) -> bool:
    """Does PATModeText (0051,1011) name a slice acceleration above 1?"""
    return (pat_factors(pat_mode)[1] or 0) > 1


def protocol_slice_times(
    series: bytes | None, n: int, tr_ms: Any, pat_mode: str
) -> list[float] | None:
    """The acquisition times (ms) of a mosaic's ``n`` tiles from its CSA series header
    ``series``, or None when the protocol does not give them (see the module docstring)."""
    if series is None or n < 2 or multiband(pat_mode):
        return None
    if not isinstance(tr_ms, int | float) or tr_ms <= 0:
        return None
    text = _protocol_text(series)
    mode = _UC_MODE.search(text) if text else None
    if text is None or mode is None:
        return None
    written = mode.group(1)  # (decimal with any leading zeros, "01", or hexadecimal "0x1")
    uc_mode = int(written[2:], 16) if written[:2] == b"0x" else int(written)
    if uc_mode not in (1, 2, 4):
        return None
    delay = _DELAY.search(text)
    ta = float(tr_ms) - (float(delay.group(1)) / 1000.0 if delay else 0.0)
    slots = [i * ta / n for i in range(n)]
    if uc_mode == 1:
        return slots
    if uc_mode == 2:
        return slots[::-1]
    # interleaved: tiles 0, 2, 4 ... first (odd count) or 1, 3, 5 ... first (even count)
    firsts = list(range(1 if n % 2 == 0 else 0, n, 2))
    order = firsts + [i for i in range(n) if i not in set(firsts)]
    times = [0.0] * n
    for slot, tile in enumerate(order):
        times[tile] = slots[slot]
    return times


class Protocol:
    """The ``name = value`` lines of an ASCCONV protocol text, looked up as dcm2niix looks them
    up: the first line whose name is ``name`` or ends with ``.name`` (``sCoilElementID.tCoilID``
    finds ``sCoilSelectMeas.aRxCoilSelectData[0].asList[0].sCoilElementID.tCoilID``)."""

    def __init__(self, text: str) -> None:
        self._lines: dict[str, str] = {}
        for name, value in _LINE.findall(text):
            self._lines.setdefault(name, value)

    def text(self, name: str) -> str | None:
        """The value of ``name`` as written, None when no line names it."""
        found = self._lines.get(name)
        if found is not None:
            return found
        tail = "." + name
        return next((v for k, v in self._lines.items() if k.endswith(tail)), None)

    def number(self, name: str) -> float | None:
        """The value of ``name`` as a number (decimal, or hexadecimal ``0x..``), None when absent
        or not a finite number."""
        text = self.text(name)
        if text is None:
            return None
        try:
            hexadecimal = text.lower().startswith("0x") and "_" not in text
            value = float(int(text, 16)) if hexadecimal else number(text)  # ('1_0': none)
        except ValueError:
            return None
        return value if math.isfinite(value) else None

    def whole(self, name: str) -> int | None:
        """The value of ``name`` as a whole number (a code, a count), None when absent or not a
        whole number (``4.9`` is no code: never truncated into one)."""
        value = self.number(name)
        return int(value) if value is not None and value.is_integer() else None

    def string(self, name: str) -> str:
        """The text of a quoted value (``""HEA;HEP""`` gives ``HEA;HEP``), "" when absent or not
        quoted."""
        text = self.text(name) or ""
        if not text.startswith('"'):
            return ""
        return text.strip('"')


def read_protocol(series: bytes | None) -> Protocol | None:
    """The ASCCONV protocol of CSA series header bytes ``series``, None when it has none (absent
    or damaged: no ``### ASCCONV BEGIN``)."""
    text = _protocol_text(series) if series else None
    if text is None:
        return None
    return Protocol(text.decode("latin-1"))


#: How far (mm) a mosaic's first tile may lie from the protocol's nearest end slice, along the
#: slice normal, for the protocol's slice positions to be the mosaic's (written rounding, the
#: position of a tile's centre against its corner voxel's: well under a slice).
POSITION_TOL = 0.1


def protocol_spacing(
    series: bytes | None, n: int, first: Any, normal: Any
) -> tuple[float | None, str]:
    """``(spacing, why)`` of a mosaic's ``n`` slices from its protocol's slice positions
    (``sSliceArray.asSlice[i].sPosition.dSag/dCor/dTra``, patient coordinates as
    ImagePositionPatient's; an absent component is 0): their steps along ``normal`` (the mosaic's
    slice normal), when the protocol lists ``n`` slices evenly spaced and its nearest end slice
    lies where the first tile does (``first``: the first tile's first voxel). ``(None, "")`` when
    it gives none; ``(None, why)`` when its positions contradict ImagePositionPatient."""
    protocol = read_protocol(series) if series else None
    if protocol is None or n < 2 or protocol.whole("sSliceArray.lSize") != n:
        return None, ""
    axes = ("dSag", "dCor", "dTra")
    rows = [
        [protocol.number(f"sSliceArray.asSlice[{i}].sPosition.{a}") for a in axes] for i in range(n)
    ]
    if all(v is None for row in rows for v in row):
        return None, ""
    nx, ny, nz = (float(v) for v in normal)
    along = sorted(nx * (x or 0.0) + ny * (y or 0.0) + nz * (z or 0.0) for x, y, z in rows)
    steps = [b - a for a, b in pairwise(along)]
    if min(steps) <= 0 or max(steps) - min(steps) > 1e-3:
        # (not one spacing: a mosaic's tiles are placed one spacing apart, so the header's is
        # used, and the note says why the protocol's was not)
        what = (
            "put two slices at one place along the slice normal"
            if min(steps) <= 0
            else f"are not evenly spaced (steps of {min(steps):.6g} to {max(steps):.6g} mm "
            "along the slice normal)"
        )
        return None, (
            f"its protocol's slice positions (sSliceArray.asSlice[].sPosition, CSA series header "
            f"(0029,1020)) {what}, so they were not used: the mosaic's slices may not be evenly "
            "spaced (check the slice groups of the protocol)"
        )
    at = sum(float(f) * float(m) for f, m in zip(first, normal, strict=True))
    if abs(at - along[0]) > POSITION_TOL:
        return None, (
            f"its protocol's slice positions (sSliceArray.asSlice[].sPosition, CSA series header "
            f"(0029,1020)) start {along[0] - at:+.4g} mm from ImagePositionPatient's first slice "
            "along the slice normal, so they are not this mosaic's and were not used"
        )
    return (along[-1] - along[0]) / (n - 1), ""


def mosaic_spacing_note(tiled: Sequence[FrameRecord], meta: dict[str, Any]) -> str:
    """The note on a mosaic volume stating no SpacingBetweenSlices (its tiles carry one position:
    their spacing comes from the header alone): placed by its protocol's slice positions, or
    SliceThickness apart, as dcm2niix places them."""
    first = tiled[0]
    tile0 = next((r for r in tiled if r.mosaic and r.mosaic[2] == 0 and r.acq), first)
    source = str((tile0.acq or {}).get("_spacing_from", ""))
    stated = "is missing" if first.spacing_between_slices is None else "is no spacing (ignored)"
    head = f"{first.path}: SpacingBetweenSlices (0018,0088) {stated}, so the mosaic's slices "
    thick = f"SliceThickness ({first.slice_thickness:g} mm)"
    meta["slice_spacing_source"] = "protocol" if source == "protocol" else "SliceThickness"
    if source == "protocol":
        step = (tile0.acq or {}).get("_mosaic", {}).get("step") or [None, 0.0]
        return (
            f"{head}are placed where its protocol puts them (sSliceArray.asSlice[].sPosition, CSA "
            f"series header (0029,1020)), {float(step[1]):.6g} mm apart; dcm2niix places them "
            f"{thick} apart"
        )
    why = f"; {source}" if source else ""
    return f"{head}are placed {thick} apart, as dcm2niix does; a gap between slices would not show{why}"
