"""UIH GRID images: one volume's slices as tiles of one image, each slice located by the vendor.

United Imaging (UIH) stores DWI and fMRI either one file per slice or one file per volume, the
latter as a "GRID" (dcm2niix's UIH/README.md, from UIH): ImageType (0008,0008) holds ``VFRAME``,
MR Number Of Slice In Volume (0065,1050) gives the number of slices ``n``, and MR VFrame Sequence
(0065,1051) holds one item per slice with its ImagePositionPatient (and AcquisitionTime). The
tiles are laid out row by row, ``ceil(sqrt(n))`` tile columns and ``ceil(n / columns)`` tile rows
(a rectangle: 27 slices make 5 x 6 tiles), tile ``k`` holding slice item ``k``. The file's own
ImagePositionPatient is that of the first tile (unlike a Siemens mosaic's corner: dcm2niix
applies no corner shift to a GRID, after dicm2nii).

:func:`expand_grid` turns such a file into one record per tile, located by its item's position
(the stacking step then orders the slices in space and checks their spacing, as for slices stored
one per file). dcm2niix takes the slice direction from the last item's position, and guesses it
("Unable to determine slice direction") without the sequence; lazyvol refuses a GRID whose
slices it cannot locate, and any file marked as a GRID that it cannot unpack: a mosaic is never
read as one slice. The item times give SliceTiming, as dcm2niix writes it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .dicom_time import tm_resolution, tm_seconds, wrap_note
from .header_values import sequence_items
from .mosaic import raw_text
from .records import FrameRecord, number
from .tiles import GRID_MARK, fail, is_uih, is_vframe, tile_layout

__all__ = ["expand_grid", "grid_file"]

SLICES_TAG = 0x00651050
ITEMS_TAG = 0x00651051
_SLICES = "MR Number Of Slice In Volume (0065,1050)"
_ITEMS = "MR VFrame Sequence (0065,1051)"


def _slice_count(raw: dict[int, Any]) -> int | str | None:
    """(0065,1050) as a whole number, the text of a malformed value, or None when absent."""
    text = raw_text(raw, SLICES_TAG)
    if text is None:
        return None
    try:
        value = number(text[0])  # ('0_9': malformed)
    except ValueError:
        return repr("\\".join(text))
    if len(text) != 1 or not math.isfinite(value) or value != int(value):
        return repr("\\".join(text))
    return int(value)


def grid_file(rec: FrameRecord, raw: dict[int, Any]) -> bool:
    """Is this file a UIH GRID? ImageType (0008,0008) says VFRAME, or a UIH file (Manufacturer
    (0008,0070)) gives (0065,1050) more than one slice (dcm2niix goes by the count and the
    manufacturer alone)."""
    if is_vframe(rec):
        return True
    if not is_uih(rec.manufacturer):
        return False  # (0065,1050) means nothing without UIH's private block
    n = _slice_count(raw)
    if n is None:
        return False
    return not isinstance(n, int) or n > 1  # (a malformed count is refused, not guessed)


def _item_position(item: Any) -> list[float] | None:
    """An item's ImagePositionPatient as three finite numbers, None when absent or malformed."""
    try:
        values = [number(x) for x in item.get("ImagePositionPatient")]
    except Exception:  # absent (None), a malformed DS pydicom refuses, or one Python reads (1_0)
        return None
    return values if len(values) == 3 and all(math.isfinite(v) for v in values) else None


def _item_seconds(items: list[Any]) -> list[float] | None:
    """Each item's AcquisitionTime as seconds since midnight; None unless every item has one, and
    when they may cross midnight (:func:`~lazyvol.dicom.dicom_time.wrap_note`: the items state
    no date, and which slice came first is unknown)."""
    try:
        text = [str(it.get("AcquisitionTime") or "") for it in items]
    except Exception:
        return None
    secs = [tm_seconds(t) for t in text]
    if any(s is None for s in secs):
        return None
    rel = [float(s) for s in secs if s is not None]
    if wrap_note(rel):
        return None
    gaps = sorted({round(b - a, 9) for a in rel for b in rel if b > a})
    if not gaps or gaps[0] <= tm_resolution(text):
        return None  # one time for all, or times written too coarsely to tell slices apart
    return rel


def _positions(
    rec: FrameRecord, raw: dict[int, Any], n: int, tile: tuple[int, int]
) -> tuple[list[list[float]], list[float] | None] | FrameRecord:
    """The ``n`` slice positions (and item times) from (0065,1051), or the failed record."""
    elem = raw.get(ITEMS_TAG)
    if elem is None:
        return fail(
            rec,
            f"{_ITEMS} is missing: the slices' positions, and so their order, are unknown "
            "(dcm2niix guesses the order); convert the original export, which keeps it",
            tile,
            GRID_MARK,
        )
    items = sequence_items(elem)
    if isinstance(items, str):
        return fail(rec, f"{_ITEMS} {items}", tile, GRID_MARK)
    if len(items) != n:
        return fail(
            rec,
            f"{_ITEMS} has {len(items)} items but {_SLICES} says {n} slices",
            tile,
            GRID_MARK,
        )
    positions = [_item_position(it) for it in items]
    bad = [k for k, p in enumerate(positions) if p is None]
    if bad:
        return fail(
            rec,
            f"item {bad[0] + 1} of {_ITEMS} has no valid ImagePositionPatient (0020,0032)",
            tile,
            GRID_MARK,
        )
    located = [p for p in positions if p is not None]
    if rec.ipp is not None and rec.pixel_spacing is not None:
        # The file's position is the first slice's: two values of one position must agree.
        off = float(np.max(np.abs(np.subtract(rec.ipp, located[0]))))
        if off > 0.01 * min(rec.pixel_spacing):
            return fail(
                rec,
                f"ImagePositionPatient (0020,0032) {rec.ipp} is not the first slice's position "
                f"{located[0]} in {_ITEMS} (a UIH GRID gives the first slice's position in "
                "both); the header was edited or is corrupt",
                tile,
                GRID_MARK,
            )
    return located, _item_seconds(items)


def expand_grid(rec: FrameRecord, raw: dict[int, Any]) -> list[FrameRecord] | FrameRecord:
    """One record per tile of UIH GRID file ``rec``, each at its item's position; on failure
    ``rec`` itself, marked (see :func:`lazyvol.dicom.tiles.mosaic_error`)."""
    n = _slice_count(raw)
    if not isinstance(n, int):
        what = "is missing" if n is None else f"= {n} is not a whole number"
        return fail(rec, f"{_SLICES} {what}: the number of slices is unknown", mark=GRID_MARK)
    if n == 1:
        return rec  # one slice: the image is the slice
    columns = math.ceil(math.sqrt(max(n, 1)))
    grid = (math.ceil(n / columns), columns)
    tile = tile_layout(rec, n, grid, _SLICES, GRID_MARK)
    if isinstance(tile, FrameRecord):
        return tile
    found = _positions(rec, raw, n, tile)
    if isinstance(found, FrameRecord):
        return found
    positions, seconds = found
    mrows, mcols = rec.rows, rec.columns
    rec.rows, rec.columns = tile
    t0 = min(seconds) if seconds else 0.0
    state = rec.__dict__
    out: list[FrameRecord] = []
    for k in range(n):
        fr = object.__new__(FrameRecord)  # a shallow copy, as mosaic tiles are made
        fr.__dict__.update(state)
        fr.ipp = list(positions[k])
        fr.frame = k
        fr.mosaic = [mrows, mcols, k]
        acq = dict(rec.acq or {}) if k == 0 else {}
        acq.pop("_slice_time_ms", None)
        if seconds is not None:
            acq["_slice_time_ms"] = round((seconds[k] - t0) * 1000.0, 6)
        fr.acq = acq or None
        out.append(fr)
    return out
