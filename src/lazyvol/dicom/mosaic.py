"""Siemens mosaic images: one frame record per tile, so mosaic slices stack like single slices.

A Siemens MOSAIC image (ImageType (0008,0008) contains ``MOSAIC``, or NumberOfImagesInMosaic says
more than one slice: see :func:`mosaic_file`) stores the ``n`` slices of one volume as tiles of one
2D frame, ``g = ceil(sqrt(n))`` tiles per row and per column of the mosaic, tile ``k`` at tile row
``k // g`` and tile column ``k % g``. The number of slices is
NumberOfImagesInMosaic in the CSA image header (0029,1010) (parsed with
:mod:`nibabel.nicom.csareader`) or the private element (0019,100A). ImagePositionPatient is the
position of the mosaic's top-left corner, not of the first tile: it is moved to the first tile's
first voxel as nibabel's ``MosaicWrapper`` and dcm2niix do; tile ``k`` then sits ``k`` slice
spacings along the CSA SliceNormalVector, whose sign tells F>>H from H>>F numbering.

:func:`expand_mosaic` turns one mosaic file's header record into one record per tile, with the
tile's size as Rows/Columns, its own ImagePositionPatient and ``mosaic = [mosaic rows, mosaic
columns, tile index]``; the pixel reader (:mod:`lazyvol.dicom.pixels`) reads only the tile's rows.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .charset import before_nul, decode_text
from .checks import declared_spacing, placing_spacing_problem, same_orientation
from .csa_numbers import checked_text, stated
from .csa_numbers import read as read_csa
from .records import FrameRecord, number
from .siemens_protocol import (
    CSA_SERIES,
    PAT_MODE_TEXT,
    mosaic_spacing_note,
    protocol_slice_times,
    protocol_spacing,
)
from .tiles import fail, is_grid_tile, is_mosaic, mosaic_error, tile_layout

__all__ = [
    "CSA_TAGS",
    "annotate_volume",
    "counted_mosaic",
    "csa_image_header",
    "expand_mosaic",
    "frames_are_slices",
    "is_mosaic",
    "mosaic_error",
    "mosaic_file",
    "wants_csa",
    "csa_first_item",
    "light_csa",
]

#: Private elements captured at header scan for mosaics, diffusion and the BIDS sidecar.
#: Private creators first, then the data elements of each possible block.
CSA_CREATORS = (0x00290010, 0x00290011, 0x00290012)
CSA_IMAGE = {0x00290010: 0x00291010, 0x00290011: 0x00291110, 0x00290012: 0x00291210}
MR_CREATOR = 0x00190010
#: (0019,10xx) in the "SIEMENS MR HEADER" block: name, VR.
MR_ELEMENTS = {
    0x0019100A: ("NumberOfImagesInMosaic", "US"),
    0x0019100C: ("B_value", "IS"),
    0x0019100E: ("DiffusionGradientDirection", "FD"),
    0x00191028: ("BandwidthPerPixelPhaseEncode", "FD"),
    0x00191029: ("MosaicRefAcqTimes", "FD"),
    0x00191018: ("RealDwellTime", "IS"),
    0x00191014: ("ImaRelTablePosition", "IS"),
}
CSA_TAGS: tuple[int, ...] = (
    *CSA_CREATORS,
    *CSA_IMAGE.values(),
    MR_CREATOR,
    *MR_ELEMENTS,
    PAT_MODE_TEXT,
)
#: Largest private value captured (a CSA image header is a few tens of KiB).
MAX_PRIVATE_BYTES = 1 << 20


def frames_are_slices(frames: Sequence[FrameRecord]) -> bool:
    """Are an enhanced file's frames slices although its ImageType says MOSAIC?

    Siemens XA writes de-mosaiced enhanced files whose ImageType keeps MOSAIC (dcm2niix#553):
    their frames share one orientation and lie at positions more than half a slice thickness
    (1 mm without one) apart along its normal. Frames at one position, or moved only a little
    (XA keeps vNav mosaics in enhanced files, their prescriptions updated for motion), or turned,
    may be mosaics, whose tile count is unknown.
    """
    located = [f for f in frames if f.ipp is not None and f.iop is not None and f.frame >= 0]
    if len(located) < 2:
        return False
    iops = [f.iop for f in located if f.iop is not None]
    if not all(same_orientation(v, iops[0]) for v in iops):
        return False
    iop = np.asarray(iops[0], dtype=np.float64)
    normal = np.cross(iop[:3], iop[3:])
    along = [float(np.dot(normal, np.asarray(f.ipp, dtype=np.float64))) for f in located]
    thickness = next((f.slice_thickness for f in located if f.slice_thickness), None)
    return max(along) - min(along) > (0.5 * thickness if thickness else 1.0)


def counted_mosaic(raw: dict[int, Any], csa: Any = None) -> bool:
    """NumberOfImagesInMosaic, (0019,100A) or the CSA image header's, counts more than one slice.

    Siemens writes (0019,100A) for mosaics only; nibabel's ``MosaicWrapper`` and GDCM's mosaic
    splitter go by the CSA count alone, ImageType unread.
    """
    n = private_value(raw, 0x0019100A)
    if isinstance(n, int) and n > 1:
        return True
    items = csa_items(csa, "NumberOfImagesInMosaic") if isinstance(csa, dict) else None
    try:
        return items is not None and int(items[0]) > 1
    except (TypeError, ValueError):
        return False  # no count to go by: ImageType decides


def mosaic_file(rec: FrameRecord, raw: dict[int, Any], csa: Any = None) -> bool:
    """Is this file a Siemens mosaic? ImageType says MOSAIC, or NumberOfImagesInMosaic counts
    several slices although ImageType lost the word (an edited or re-exported header): its tiles
    are never read as one big slice."""
    return is_mosaic(rec) or counted_mosaic(raw, csa)


def _raw_bytes(raw: dict[int, Any], tag: int) -> bytes | None:
    elem = raw.get(tag)
    if elem is None:
        return None
    value = getattr(elem, "value", None)
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("latin-1", "replace")
    return None


def raw_text(raw: dict[int, Any], tag: int) -> list[str] | None:
    """The text values of a raw element (bytes, decoded with the file's Specific Character Set, or
    a value pydicom converted) up to its first NUL (:func:`~lazyvol.dicom.charset.before_nul`, as
    dcm2niix reads it), each stripped; None when absent or empty."""
    elem = raw.get(tag)
    if elem is None:
        return None
    value = getattr(elem, "value", None)
    if isinstance(value, bytes | bytearray):
        text = before_nul(decode_text(raw, bytes(value))).strip(" ")
    elif value is None:
        return None
    elif isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        values = [str(v) for v in value]
        if not any("\x00" in v for v in values):
            return [v.strip() for v in values] or None
        text = before_nul("\\".join(values)).strip(" ")
    else:
        text = before_nul(str(value)).strip(" ")
    if not text:
        return None
    return [t.strip(" \x00") for t in text.split("\\")]


def _little(raw: dict[int, Any], tag: int) -> bool:
    return bool(getattr(raw.get(tag), "is_little_endian", True))


def _text(raw: dict[int, Any], tag: int) -> str:
    b = _raw_bytes(raw, tag)
    return "" if b is None else b.decode("latin-1").strip(" \x00")


def private_value(raw: dict[int, Any], tag: int) -> Any:
    """Decoded value of a "SIEMENS MR HEADER" (0019,10xx) element, None when absent/other creator.

    Returns an int / float / list of float per :data:`MR_ELEMENTS`'s VR, or the string
    ``"malformed"`` when the bytes do not decode.
    """
    if _text(raw, MR_CREATOR).upper() != "SIEMENS MR HEADER":
        return None
    b = _raw_bytes(raw, tag)
    if not b:
        return None
    vr = MR_ELEMENTS[tag][1]
    endian = "<" if _little(raw, tag) else ">"
    try:
        if vr == "IS":  # (a whole number; '1_000' none, '1000.0' 1000, as dcm2niix's atoi)
            value = number(b.decode("latin-1").strip(" \x00").split("\\")[0])
            if not value.is_integer():
                return "malformed"
            return int(value)
        size = {"US": 2, "FD": 8}[vr]
        if len(b) % size:
            return "malformed"
        vals = struct.unpack(f"{endian}{len(b) // size}{'H' if vr == 'US' else 'd'}", b)
    except (ValueError, struct.error):
        return "malformed"
    if vr == "US":
        return int(vals[0])
    if not all(math.isfinite(v) for v in vals):
        return "malformed"
    return [float(v) for v in vals]


def wants_csa(rec: FrameRecord, raw: dict[int, Any], mosaic: bool | None = None) -> bool:
    """Is the CSA image header worth parsing for this file (about 0.2 ms)?

    For mosaics (slice count, slice normal, slice times), EPI (phase-encoding polarity, echo
    spacing) and diffusion images (b-value, gradient); not for the bulk of anatomical images.
    ``mosaic``: :func:`mosaic_file` without the CSA header, when the caller has it already.
    """
    if mosaic_file(rec, raw) if mosaic is None else mosaic:
        return True
    if 0x00290010 not in raw and 0x00290011 not in raw and 0x00290012 not in raw:
        return False
    if any("DIFFUSION" in str(t).upper() for t in rec.image_type or []):
        return True
    seq = _text(raw, 0x00180020).upper()
    if "EP" in seq.split("\\") or private_value(raw, 0x0019100C) is not None:
        return True
    # dcm2niix reads a b-value from any Siemens image's CSA header: a diffusion series neither
    # EPI nor typed DIFFUSION (a TSE / STEAM DWI, an anonymised one) states it there only
    return csa_first_item(raw, "B_value") is not None


#: The CSA image header's elements read from its bytes where it is not parsed
#: (:func:`light_csa`): the phase-encoding polarity and bandwidth dcm2niix writes for every image.
_LIGHT_CSA = ("PhaseEncodingDirectionPositive", "BandwidthPerPixelPhaseEncode")


def _csa_image_blocks(raw: dict[int, Any]) -> Iterator[tuple[int, bytes | None]]:
    """``(tag, bytes)`` of each CSA image header element whose private creator is Siemens' (bytes
    None where the element is absent or its value was not read)."""
    for creator, tag in CSA_IMAGE.items():
        if _text(raw, creator).upper() == "SIEMENS CSA HEADER":
            yield tag, _raw_bytes(raw, tag)


def csa_first_item(raw: dict[int, Any], name: str) -> str | None:
    """The first item of CSA image header element ``name``, by a cheap look at its bytes (the
    name, NUL padded to 64 bytes; vm, vr, syngodt, nitems, 77; then each item: four lengths, its
    text padded to 4 bytes), None when the element has no item (an image that is no diffusion
    image states B_value with none) or there is no CSA image header."""
    for _tag, b in _csa_image_blocks(raw):
        if not b or len(b) > MAX_PRIVATE_BYTES:
            continue
        key = name.encode("ascii") + b"\x00"
        at = b.find(key)
        while at >= 0:
            head = b[at + 64 : at + 100]
            if len(head) == 36:
                n_items, first_len = (
                    struct.unpack_from("<i", head, 12)[0],
                    struct.unpack_from("<i", head, 24)[0],
                )
                if 0 < n_items <= 1000 and 0 < first_len <= 64:
                    text = b[at + 100 : at + 100 + first_len].split(b"\x00")[0].strip()
                    return text.decode("latin-1") if text else None
            at = b.find(key, at + 1)
    return None


def light_csa(raw: dict[int, Any]) -> dict[str, Any] | None:
    """The :data:`_LIGHT_CSA` elements of a CSA image header that is not parsed, in the form of a
    parsed one (``{"tags": {name: {"items": [text]}}}``), or None when it states neither."""
    found = {n: csa_first_item(raw, n) for n in _LIGHT_CSA}
    tags = {n: {"items": [checked_text(v)]} for n, v in found.items() if v is not None}
    return {"tags": tags} if tags else None


def csa_image_header(raw: dict[int, Any]) -> dict[str, Any] | str | None:
    """The parsed CSA image header (nibabel's csareader dict); None if absent; a str if unparseable."""
    for data_tag, b in _csa_image_blocks(raw):
        if b is None or len(b) > MAX_PRIVATE_BYTES:  # (pydicom's reader reads it whole)
            if data_tag in raw:
                return (
                    f"CSA image header (0029,{data_tag & 0xFFFF:04X}) larger than "
                    f"{MAX_PRIVATE_BYTES} bytes: not read"
                )
            continue
        try:
            parsed = read_csa(b)  # (nibabel's csareader; items judged by csa_numbers)
        except Exception as exc:  # nibabel raises CSAReadError, struct.error, UnicodeDecodeError...
            return (
                f"CSA image header (0029,{data_tag & 0xFFFF:04X}) does not parse "
                f"({type(exc).__name__}: {exc})"
            )
        if not isinstance(parsed, dict) or not isinstance(parsed.get("tags"), dict):
            return f"CSA image header (0029,{data_tag & 0xFFFF:04X}) does not parse"
        return parsed
    return None


def _series_header(raw: dict[int, Any]) -> bytes | None:
    """The CSA series header's bytes (0029,xx20), when the scan read them (see
    :func:`lazyvol.dicom.walker.wants_series_header`)."""
    for creator, data_tag in CSA_SERIES.items():
        if _text(raw, creator).upper() == "SIEMENS CSA HEADER":
            b = _raw_bytes(raw, data_tag)
            if b:
                return b
    return None


def csa_items(csa: dict[str, Any] | None, name: str) -> list[Any] | None:
    """Items of CSA element ``name``, None when absent or empty."""
    if not csa:
        return None
    entry = csa["tags"].get(name)
    if not isinstance(entry, dict):
        return None
    items = entry.get("items")
    if not items:
        return None
    return list(items)


def csa_floats(csa: dict[str, Any] | None, name: str) -> list[float] | None:
    """Finite float items of CSA element ``name`` or None."""
    items = csa_items(csa, name)
    if items is None:
        return None
    try:
        out = [float(x) for x in items]
    except (TypeError, ValueError):
        return None
    return out if all(math.isfinite(x) for x in out) else None


def _mosaic_count(rec: FrameRecord, raw: dict[int, Any], csa: Any) -> int | FrameRecord:
    """NumberOfImagesInMosaic (CSA header or (0019,100A), which must agree), or the failed record."""
    n_private = private_value(raw, 0x0019100A)
    n_csa_items = csa_items(csa, "NumberOfImagesInMosaic")
    n_csa: int | None = None
    if n_csa_items is not None:
        try:
            n_csa = int(n_csa_items[0])
        except (TypeError, ValueError):
            return fail(
                rec,
                f"NumberOfImagesInMosaic (CSA (0029,1010)) = {n_csa_items[0]!r} is not an integer",
            )
    if n_private == "malformed":
        return fail(rec, "NumberOfImagesInMosaic (0019,100A) is malformed")
    if n_csa is not None and isinstance(n_private, int) and n_private != n_csa:
        return fail(
            rec,
            f"NumberOfImagesInMosaic disagrees: CSA (0029,1010) says {n_csa}, (0019,100A) says {n_private}",
        )
    n = n_csa if n_csa is not None else n_private
    if n is None:
        src = (
            "no CSA image header (0029,1010)"
            if csa is None
            else "not in the CSA header (0029,1010)"
        )
        # (no CSA header at all: the Siemens private elements removed, as anonymisers do)
        gone = (
            " (the Siemens private elements were removed, as anonymisers do: convert the files "
            "as exported, or anonymise them keeping the private groups 0019 and 0029)"
            if csa is None
            else ""
        )
        return fail(
            rec,
            f"NumberOfImagesInMosaic missing ({src} and no (0019,100A)): the number of slices is "
            f"unknown{gone}",
        )
    assert isinstance(n, int)
    return n


def _mosaic_layout(
    rec: FrameRecord, csa: Any, n: int
) -> tuple[int, tuple[int, int], list[float]] | FrameRecord:
    """(tile grid, tile size, CSA SliceNormalVector) after the layout checks, or the failed record."""
    grid = math.ceil(math.sqrt(max(n, 1)))
    tile = tile_layout(rec, n, (grid, grid), "NumberOfImagesInMosaic")
    if isinstance(tile, FrameRecord):
        return tile
    if csa is None:
        return fail(
            rec,
            "SliceNormalVector: no CSA image header (0029,1010): slice order (F>>H or H>>F) "
            "unknown (an anonymiser that strips Siemens private group 0029 removes it; convert "
            "the original export, which keeps it)",
            tile,
        )
    normal_csa = csa_floats(csa, "SliceNormalVector")
    if normal_csa is None or len(normal_csa) != 3:
        return fail(
            rec,
            f"SliceNormalVector is {stated(csa_items(csa, 'SliceNormalVector'))} the CSA image "
            "header (0029,1010): slice order (F>>H or H>>F) unknown",
            tile,
        )
    return grid, tile, normal_csa


def _mosaic_step(
    rec: FrameRecord, normal_csa: list[float], tile: tuple[int, int], n: int, raw: dict[int, Any]
) -> tuple[list[float], float, list[float]] | FrameRecord | None:
    """(first tile's position, slice spacing, slice normal) from the mosaic's geometry; None when
    the geometry is missing (the stacking step says so); the failed record when inconsistent.
    No SpacingBetweenSlices: the spacing of the protocol's slice positions where they are the
    mosaic's (:func:`~.siemens_protocol.protocol_spacing`; ``acq["_spacing_from"]`` says which)."""
    mrows, mcols = rec.rows, rec.columns
    tr, tc = tile
    step: tuple[list[float], float, list[float]] | None = None
    if rec.iop is not None and rec.ipp is not None and rec.pixel_spacing is not None:
        row = np.asarray(rec.iop[:3], dtype=np.float64)
        col = np.asarray(rec.iop[3:], dtype=np.float64)
        cross = np.cross(row, col)
        ncsa = np.asarray(normal_csa, dtype=np.float64)
        norm = float(np.linalg.norm(ncsa))
        dot = float(np.dot(cross, ncsa / norm)) if norm > 0 else 0.0
        if norm == 0 or abs(abs(dot) - 1.0) > 1e-3:
            return fail(
                rec,
                f"SliceNormalVector {normal_csa} (CSA (0029,1010)) is not the normal of "
                f"ImageOrientationPatient (0020,0037) {rec.iop}",
                tile,
            )
        normal = cross / float(np.linalg.norm(cross)) * (1.0 if dot > 0 else -1.0)
        ps_r, ps_c = float(rec.pixel_spacing[0]), float(rec.pixel_spacing[1])
        # ImagePositionPatient is the mosaic's corner: move it to the first tile's first voxel.
        first = (
            np.asarray(rec.ipp, dtype=np.float64)
            + row * ps_c * (mcols - tc) / 2.0
            + col * ps_r * (mrows - tr) / 2.0
        )
        dk, name = declared_spacing(rec)
        problem = "" if dk is None else placing_spacing_problem(dk, name, n)
        if dk is None or problem:
            return fail(
                rec,
                problem
                or "neither SpacingBetweenSlices (0018,0088) nor SliceThickness "
                "(0018,0050) gives the slice spacing",
                tile,
            )
        if (rec.spacing_between_slices or 0.0) <= 0:
            found, why = protocol_spacing(_series_header(raw), n, first, normal)
            dk = found or dk
            rec.acq = {**(rec.acq or {}), "_spacing_from": "protocol" if found else why}
        step = ([float(v) for v in first], float(dk), [float(v) for v in normal])
    return step


def expand_mosaic(
    rec: FrameRecord, raw: dict[int, Any], csa: Any
) -> list[FrameRecord] | FrameRecord:
    """One record per tile of mosaic ``rec``; on failure ``rec`` itself, marked (see :func:`mosaic_error`).

    ``csa`` is :func:`csa_image_header`'s result for the file.
    """
    if isinstance(csa, str):
        return fail(rec, csa)
    n = _mosaic_count(rec, raw, csa)
    if isinstance(n, FrameRecord):
        return n
    checked = _mosaic_layout(rec, csa, n)
    if isinstance(checked, FrameRecord):
        return checked
    grid, tile, normal_csa = checked
    mrows, mcols = rec.rows, rec.columns
    tr, tc = mrows // grid, mcols // grid
    step = _mosaic_step(rec, normal_csa, tile, n, raw)
    if isinstance(step, FrameRecord):
        return step
    times = csa_floats(csa, "MosaicRefAcqTimes")
    if times is None:
        t = private_value(raw, 0x00191029)
        times = t if isinstance(t, list) else None
    if times is None:  # (old software) from the protocol of the CSA series header, as dcm2niix
        times = protocol_slice_times(
            _series_header(raw),
            n,
            1000.0 * (rec.acq or {}).get("RepetitionTime", 0),
            _text(raw, PAT_MODE_TEXT),
        )
    if times is not None and len(times) != n:
        # One acquisition time per slice: a count the times contradict cuts the tiles across
        # their borders (fewer) or adds empty slices (more), read without a word otherwise.
        return fail(
            rec,
            f"NumberOfImagesInMosaic = {n} but MosaicRefAcqTimes lists {len(times)} slice times: "
            "the slice count is wrong (the tiles would be cut across their borders or padded "
            "with empty slices); fix NumberOfImagesInMosaic in the CSA header and (0019,100A)",
        )
    rec.rows, rec.columns = tr, tc
    rec.mosaic = [mrows, mcols, 0]
    # What makes the other tiles from tile 0 (the scan index stores tile 0 only: to_index).
    rec.acq = {
        **(rec.acq or {}),
        "_mosaic": {"n": n, "step": None if step is None else list(step), "times": times},
    }
    return _tiles(rec, n, step, times)


def _tiles(
    rec: FrameRecord,
    n: int,
    step: tuple[list[float], float, list[float]] | None,
    times: list[float] | None,
) -> list[FrameRecord]:
    """The ``n`` tile records from tile 0's record, the slice geometry and the slice times.

    Tile ``k`` sits at ``first + k * spacing * normal``. The file's acquisition values stay on
    tile 0 only; each tile keeps its own acquisition time.
    """
    base_acq = dict(rec.acq or {})
    base_acq.pop("_slice_time_ms", None)
    state = rec.__dict__
    out: list[FrameRecord] = []
    for k in range(n):
        fr = object.__new__(FrameRecord)  # a shallow copy, without copy.copy's overhead
        fr.__dict__.update(state)
        if step is not None:
            (x, y, z), dk, (nx, ny, nz) = step
            d = k * dk
            fr.ipp = [x + d * nx, y + d * ny, z + d * nz]
        else:
            fr.ipp = None
        fr.frame = k
        fr.mosaic = [rec.mosaic[0], rec.mosaic[1], k] if rec.mosaic else None
        acq = dict(base_acq) if k == 0 else {}
        if times is not None:
            acq["_slice_time_ms"] = times[k]
        fr.acq = acq or None
        out.append(fr)
    return out


def to_index(tiles: list[FrameRecord]) -> dict[str, Any] | None:
    """Compact scan-index form of one mosaic file's tiles: tile 0 (which says how to make the
    others); None when ``tiles`` are not that (the caller stores them one by one)."""
    if not tiles or tiles[0].mosaic is None or "_mosaic" not in (tiles[0].acq or {}):
        return None
    doc = {"tile0": tiles[0].to_list()}
    # stored only when it reproduces the tiles exactly
    if [t.to_list() for t in from_index(doc)] != [t.to_list() for t in tiles]:
        return None
    return doc


def from_index(doc: dict[str, Any]) -> list[FrameRecord]:
    """Inverse of :func:`to_index`."""
    t0 = FrameRecord.from_list(list(doc["tile0"]))
    info = (t0.acq or {})["_mosaic"]
    step = info.get("step")
    geo = None if step is None else (list(step[0]), float(step[1]), list(step[2]))
    return _tiles(t0, int(info["n"]), geo, info.get("times"))


def annotate_volume(info: Any, slots: Sequence[FrameRecord | None]) -> None:
    """After stacking: record each frame's mosaic tile on ``info.frames``.

    ``slots`` are the volume's records in frame order (k fastest, then the 4th axis; None for
    filled-in slices). Tiles of mosaics of different sizes in one volume are refused.
    """
    from dataclasses import replace

    frames = info.frames
    worded = next(
        (r for r in slots if r and r.number_of_frames > 1 and r.mosaic is None and is_mosaic(r)),
        None,
    )
    if worded is not None:  # enhanced frames read as slices (frames_are_slices)
        info.warnings.append(
            f"{worded.path}: ImageType (0008,0008) says MOSAIC, but no NumberOfImagesInMosaic is "
            "given and this enhanced file's frames lie at several positions: read as slices "
            "(Siemens XA exports de-mosaiced enhanced files that keep the word, as dcm2niix notes)"
        )
    tiled = [r for r in slots if r is not None and r.mosaic is not None]
    if frames is not None and tiled:
        shapes = {(r.mosaic[0], r.mosaic[1]) for r in tiled if r.mosaic is not None}
        if len(shapes) > 1 or len(tiled) != sum(r is not None for r in slots):
            info.error = (
                f"{tiled[0].path}: Siemens mosaic files of different mosaic sizes "
                f"({sorted(shapes)}) or mixed with plain images in one volume"
            )
            info.error_kind = "series"
            return
        info.frames = replace(
            frames,
            tiles=tuple(r.mosaic[2] if r is not None and r.mosaic else -1 for r in slots),
            mosaic=shapes.pop(),
        )
        info.meta["mosaic"] = {
            "slices_per_file": len({r.mosaic[2] for r in tiled if r.mosaic}),
            "mosaic_shape": list(info.frames.mosaic),
        }
        first = tiled[0]
        if is_grid_tile(first):
            info.meta["mosaic"]["layout"] = "UIH GRID"  # its tiles are located one by one
        elif (first.spacing_between_slices or 0.0) <= 0 and first.slice_thickness:
            info.warnings.append(mosaic_spacing_note(tiled, info.meta))
