"""Can lazyvol read these records' pixels? Duplicates, encodings, layouts, truncation.

Checks that may read bytes beyond the header (the item headers of encapsulated Pixel Data, the
pixels of two files claiming one SOPInstanceUID) read through a
:data:`~lazyvol.dicom.source.Fetch`, so they work alike for local files and remote objects.
"""

from __future__ import annotations

import struct
import warnings
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from .codestream import RLE_SYNTAX, SIZED_SYNTAXES, codestream_disagreement, rle_room_problem
from .excess import excess_problem, undefined_length_problem
from .frame_table import rescale_pair
from .model import (
    DEFLATED_SYNTAX,
    FLOAT_PIXEL_VRS,
    NATIVE_SYNTAXES,
    NO_DECODER,
    UNDECIDED_HERE,
    pixel_element_name,
)
from .mosaic import mosaic_error
from .records import FrameRecord
from .source import Fetch, read_local

__all__ = [
    "NOT_COMPARED",
    "drop_duplicates",
    "file_list",
    "geometry_missing",
    "same_image",
    "support_error",
]


def file_list(paths: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def geometry_missing(missing: list[FrameRecord], records: list[FrameRecord]) -> str:
    """The error of a series whose ``missing`` images (of ``records``) lack ImagePositionPatient
    or ImageOrientationPatient: the files named, or the frames of an enhanced file (whose
    functional groups lack them: one InstanceNumber for all, so no InstanceNumber order helps)."""
    bad_attrs = sorted({b for r in records for b in (r.bad_attributes or [])})
    detail = f" ({'; '.join(bad_attrs)})" if bad_attrs else ""
    frames = [r for r in missing if r.number_of_frames > 1]
    plain = [r.path for r in missing if r.number_of_frames <= 1]
    if frames:
        files = sorted({r.path for r in frames})
        numbers = ", ".join(str(r.frame + 1) for r in frames[:8]) + (
            ", ..." if len(frames) > 8 else ""
        )
        also = f", and in {len(plain)} file(s): {file_list(plain)}" if plain else ""
        return (
            f"ImagePositionPatient (0020,0032) / ImageOrientationPatient (0020,0037) missing or "
            f"malformed in the functional groups (PlanePositionSequence / PlaneOrientationSequence) "
            f"of {len(frames)} frame(s) ({numbers}) of {file_list(files)}{also}{detail}; lazyvol "
            "does not invent geometry, and the frames share one InstanceNumber, so "
            "instance_order=True cannot order them"
        )
    paths = list(dict.fromkeys(plain))  # (a mosaic's tiles are records of one file)
    if any(r.mosaic for r in missing):
        return (
            f"ImagePositionPatient (0020,0032) / ImageOrientationPatient (0020,0037) missing or "
            f"malformed in {len(paths)} mosaic file(s): {file_list(paths)}{detail}; lazyvol does "
            "not invent geometry, and a mosaic's slices are placed from its position and "
            "orientation (its tiles share one InstanceNumber, so instance_order=True cannot "
            "order them); re-export the series with its geometry"
        )
    return (
        f"ImagePositionPatient (0020,0032) / ImageOrientationPatient (0020,0037) missing or "
        f"malformed in {len(paths)} file(s): {file_list(paths)}{detail}; "
        "lazyvol does not invent geometry. Pass instance_order=True to stack by InstanceNumber "
        "with a flagged, approximate affine"
    )


def drop_duplicates(
    records: list[FrameRecord],
    warnings: list[str],
    fetch: Fetch = read_local,
    *,
    philips_fp: bool = False,
) -> tuple[list[FrameRecord], tuple[str, str] | None]:
    """Drop exact duplicates (same SOPInstanceUID, same place, same pixels: :func:`same_image`);
    conflicting ones (in another place, or with other values) are an error, ``(kind, message)``:
    "unsupported" when they could not be compared for want of a decoder.
    ``philips_fp``: values are Philips floating-point ones (``philips_scaling="fp"``)."""
    by_uid: dict[str, list[FrameRecord]] = defaultdict(list)
    for r in records:
        key = r.sop_instance_uid or r.path
        by_uid[
            key if r.number_of_frames == 1 and r.mosaic is None else f"{key}#frame{r.frame}"
        ].append(r)
    kept: list[FrameRecord] = []
    decoded: dict[str, Any] = {}
    for uid, recs in by_uid.items():
        kept.append(recs[0])
        for dup in recs[1:]:
            placed = _placed_differently(recs[0], dup)
            if placed:  # one image can only be in one place: which copy is right is unknown
                return kept, (
                    "series",
                    f"SOPInstanceUID (0008,0018) {uid} appears in {recs[0].path} and {dup.path} "
                    f"with {placed}; remove the wrong copy",
                )
            same, how = same_image(recs[0], dup, fetch, decoded, philips_fp)
            if not same:
                head = f"SOPInstanceUID (0008,0018) {uid} appears in {recs[0].path} and {dup.path}"
                if UNDECIDED_HERE in how:  # for want of a decoder or memory: not the files' fault
                    return kept, ("unsupported" if NO_DECODER in how else "series", f"{head} {how}")
                return kept, ("series", f"{head} {how}; remove one of the files")
            warnings.append(
                f"exact duplicate dropped: {dup.path} repeats {recs[0].path} "
                f"(same SOPInstanceUID {uid}, {how})"
            )
    return kept, None


#: How :func:`_decoded_difference` begins when two copies were too large to decode and compare:
#: their sameness is not known (a fixed bound, not this machine's: the verdict may be saved).
NOT_COMPARED = "too large to decode and compare at scan time"


def same_image(
    a: FrameRecord,
    b: FrameRecord,
    fetch: Fetch,
    decoded: dict[str, Any],
    philips_fp: bool = False,
) -> tuple[bool, str]:
    """``(True, how)`` when two files hold the same image (the same pixel bytes, or the same
    values in another transfer syntax, stored dtype, BitsStored or rescale), else ``(False,
    what differs)``; ``decoded``: decodes kept per path. Equal bytes are one image only when read
    alike: the same transfer syntax, stored dtype, BitsStored (its mask decides what the high bits
    mean) and rescale. Else: decoded values, each rescaled by its own copy's pair. A comparison
    that could not be made here (no decoder installed, out of memory) says :data:`UNDECIDED_HERE`.
    """
    pairs = (rescale_pair(a, philips_fp), rescale_pair(b, philips_fp))
    how = _stored_differently(a, b, pairs)
    if not how:
        same = _same_pixels(a, b, fetch)
        return same, "same pixel data" if same else "with different pixel data"
    differ = _decoded_difference(a, b, fetch, decoded, pairs)
    if differ is None:
        return True, f"same pixel values, stored with {how}"
    return False, f"stored with {how}: {differ}"


#: Geometry two copies of one image must share: (attribute, tag, tolerance).
_PLACEMENT = (
    ("ipp", "ImagePositionPatient (0020,0032)", 1e-3),
    ("iop", "ImageOrientationPatient (0020,0037)", 1e-4),
    ("pixel_spacing", "PixelSpacing (0028,0030)", 1e-4),
)


def _placed_differently(a: FrameRecord, b: FrameRecord) -> str:
    """How two copies of one image (same SOPInstanceUID) place it differently ("" when alike):
    other positions, orientations, spacings or frame of reference."""
    for attr, name, tol in _PLACEMENT:
        va, vb = getattr(a, attr), getattr(b, attr)
        if (va is None) != (vb is None) or (
            va is not None and not np.allclose(va, vb, rtol=0, atol=tol)
        ):
            return f"different {name} ({va} and {vb})"
    if a.frame_of_reference_uid != b.frame_of_reference_uid:
        return (
            "different FrameOfReferenceUID (0020,0052) "
            f"({a.frame_of_reference_uid} and {b.frame_of_reference_uid})"
        )
    return ""


def _stored_differently(
    a: FrameRecord, b: FrameRecord, pairs: tuple[tuple[float, float], tuple[float, float]]
) -> str:
    """How two copies of one image store their pixels differently ("" when alike); ``pairs``:
    the rescale each copy's values get."""
    if a.transfer_syntax != b.transfer_syntax:
        return f"different transfer syntaxes ({a.transfer_syntax} and {b.transfer_syntax})"
    if (a.bits_allocated, a.pixel_representation) != (b.bits_allocated, b.pixel_representation):
        return (
            "different BitsAllocated/PixelRepresentation (0028,0100)/(0028,0103) "
            f"({a.bits_allocated}/{a.pixel_representation} and "
            f"{b.bits_allocated}/{b.pixel_representation})"
        )
    if a.bits_stored != b.bits_stored:
        return f"different BitsStored (0028,0101) ({a.bits_stored} and {b.bits_stored})"
    if pairs[0] != pairs[1]:
        (sa, ia), (sb, ib) = pairs
        return (
            "different rescales RescaleSlope/RescaleIntercept (0028,1053)/(0028,1052) "
            f"({_num(sa)}/{_num(ia)} and {_num(sb)}/{_num(ib)})"
        )
    return ""


def _num(x: float) -> str:
    """``x`` short where that is exact (1, -1024), else every digit it needs."""
    short = f"{x:g}"
    return short if float(short) == x else repr(float(x))


#: Largest file (and decoded image, as its header claims it) decoded to compare two copies of one
#: SOPInstanceUID stored differently (transfer syntax, stored dtype, BitsStored, rescale); a larger
#: pair is refused as conflicting copies, not decoded at scan time.
DECODE_COMPARE_BYTES = 64 * 2**20


def _decoded_difference(
    a: FrameRecord,
    b: FrameRecord,
    fetch: Fetch,
    cache: dict[str, Any],
    pairs: tuple[tuple[float, float], tuple[float, float]],
) -> str | None:
    """None when two copies stored differently (one compressed, another byte order, another
    stored dtype, BitsStored or rescale) hold the same image: pydicom decodes both files (an
    enhanced file's frame of each), and their stored values are equal, or, under different
    rescales (``pairs``), their rescaled values are, to float64 rounding; else why they are not
    shown to (for the refusal's message)."""
    if max(a.size, b.size, _decoded_bytes(a), _decoded_bytes(b)) > DECODE_COMPARE_BYTES:
        # nothing allocated from a header's claim beyond the bound
        return f"{NOT_COMPARED} (over {DECODE_COMPARE_BYTES} bytes)"
    missing = next((m for m in map(_decoder_missing, (a, b)) if m), "")
    if missing:
        return f"whether they hold the same image {UNDECIDED_HERE}: {missing}"
    try:
        va, vb = (_frame_values(r, _decoded(r, fetch, cache)) for r in (a, b))
    except (KeyboardInterrupt, SystemExit):
        raise
    except (MemoryError, OSError) as exc:  # this machine's, or a file changed since its scan
        return (
            f"whether they hold the same image {UNDECIDED_HERE}: reading or decoding them "
            f"failed ({type(exc).__name__}: {exc}); try again"
        )
    except BaseException as exc:  # decoder plugins raise many types (a Rust decoder's panic too)
        return f"one cannot be decoded ({type(exc).__name__}: {exc})"
    if va.shape != vb.shape:
        return "their decoded pixel values differ"
    if pairs[0] == pairs[1]:
        # The values compared, whatever their dtypes (a copy stored unsigned, another signed).
        return None if np.array_equal(va, vb) else "their decoded pixel values differ"
    # Each copy's own rescale (CT in HU re-exported next to the scan's stored values). The same
    # real values reached by two pairs differ by float64 rounding only (~1e-16 of the largest
    # value); two images differ by a stored step times a slope, far above 1e-9 of it.
    (sa, ia), (sb, ib) = pairs
    ra, rb = va * sa + ia, vb * sb + ib
    top = max(1.0, float(np.abs(ra).max(initial=0.0)), float(np.abs(rb).max(initial=0.0)))
    if np.allclose(ra, rb, rtol=0.0, atol=1e-9 * top):
        return None
    return "their rescaled pixel values differ"


def _frame_values(rec: FrameRecord, decoded: Any) -> Any:
    """Frame ``rec.frame`` of an enhanced multi-frame file's decoded pixels, else all of them."""
    if rec.number_of_frames > 1 and rec.frame >= 0 and np.ndim(decoded) == 3:
        return decoded[rec.frame]
    return decoded


def _decoded_bytes(rec: FrameRecord) -> int:
    """What decoding ``rec``'s whole file allocates, as its header claims it."""
    rows, columns = _image_shape(rec)
    per_pixel = max(1, rec.samples_per_pixel) * max(1, rec.bits_allocated // 8)
    return max(0, rows) * max(0, columns) * per_pixel * max(1, rec.number_of_frames)


def _decoded(rec: FrameRecord, fetch: Fetch, cache: dict[str, Any]) -> Any:
    """pydicom's ``pixel_array`` of ``rec``'s whole file (kept per path: a mosaic's or an enhanced
    file's frames are compared one by one against the same decode)."""
    if rec.path not in cache:
        from io import BytesIO

        import pydicom

        data = fetch(rec.path, 0, rec.size, rec.size)
        with warnings.catch_warnings():
            # pydicom's remarks on the file (a VR other than its syntax's, ...) are not the
            # comparison's result, and a warnings filter set to "error" must not decide it
            warnings.simplefilter("ignore")
            cache[rec.path] = pydicom.dcmread(BytesIO(data)).pixel_array
    return cache[rec.path]


def _same_pixels(a: FrameRecord, b: FrameRecord, fetch: Fetch) -> bool:
    if a.pixel_length != b.pixel_length or a.pixel_length < 0:
        return (
            a.pixel_length == b.pixel_length
            and a.size - a.pixel_offset == b.size - b.pixel_offset
            and _bytes_equal(a, b, fetch)
        )
    return _bytes_equal(a, b, fetch)


def _bytes_equal(a: FrameRecord, b: FrameRecord, fetch: Fetch) -> bool:
    """Compare the pixel bytes of two files (only ever done for duplicate SOPInstanceUIDs)."""
    n = a.pixel_length if a.pixel_length >= 0 else a.size - a.pixel_offset
    block = 1 << 20
    pa, pb = a.pixel_offset, b.pixel_offset
    try:
        while n > 0:
            xa = fetch(a.path, pa, min(block, n), a.size)
            xb = fetch(b.path, pb, min(block, n), b.size)
            if xa != xb:
                return False
            if not xa:
                break
            n -= len(xa)
            pa += len(xa)
            pb += len(xa)
    except OSError:
        return False
    return True


#: Attributes that define the pixel layout: a malformed value there is an error, not a guess.
_LAYOUT_KEYWORDS = frozenset(
    {
        "Rows",
        "Columns",
        "SamplesPerPixel",
        "PhotometricInterpretation",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "NumberOfFrames",
    }
)


#: The float pixel elements by VR: (keyword, tag, bits of a value); Pixel Data is (7FE0,0010).
_PIXEL_ELEMENTS = {
    "OF": ("FloatPixelData", "7FE0,0008", 32),
    "OD": ("DoubleFloatPixelData", "7FE0,0009", 64),
}


def _float_pixels_problem(rec: FrameRecord) -> str:
    """Why a file's Float (VR OF) or Double Float (OD) Pixel Data cannot be read as the IEEE floats
    the standard defines ("": it can): 32 or 64 bits allocated, uncompressed."""
    name, tag, bits = _PIXEL_ELEMENTS[rec.pixel_vr]
    if rec.bits_allocated != bits:
        return (
            f"{rec.path}: {name} ({tag}) holds {bits}-bit floats but BitsAllocated (0028,0100) is "
            f"{rec.bits_allocated}: the header contradicts itself; fix BitsAllocated"
        )
    if rec.transfer_syntax not in (*NATIVE_SYNTAXES, DEFLATED_SYNTAX):
        return (
            f"{rec.path}: {name} ({tag}) in the compressed transfer syntax "
            f"{rec.transfer_syntax}: float pixel data is never encapsulated; the file is malformed"
        )
    return ""


def support_error(rec: FrameRecord, fetch: Fetch = read_local) -> tuple[str, str] | None:
    """(kind, message) when lazyvol cannot read this record's pixels yet."""
    ts = rec.transfer_syntax
    layout_bad = [b for b in (rec.bad_attributes or []) if b.split(" ", 1)[0] in _LAYOUT_KEYWORDS]
    if layout_bad:
        return "format", (
            f"{rec.path}: malformed value(s) in attributes needed to read the pixels: "
            + "; ".join(layout_bad)
        )
    float_problem = _float_pixels_problem(rec) if rec.pixel_vr in FLOAT_PIXEL_VRS else ""
    if float_problem:
        return "format", float_problem
    undefined = undefined_length_problem(rec, pixel_element_name(rec.pixel_vr))
    if undefined:
        return "format", f"{rec.path}: {undefined}"
    if ts == DEFLATED_SYNTAX:
        return "unsupported", (
            f"{rec.path}: transfer syntax Deflated Explicit VR Little Endian ({ts}) is not supported; "
            "convert the files with e.g. `dcmconv +te` or `gdcmconv --raw`"
        )
    if ts not in NATIVE_SYNTAXES:
        problem = _compressed_problem(rec, fetch)
        if problem is not None or (rec.number_of_frames > 1 and rec.frame >= 0):
            return problem  # an enhanced file's located frames: items checked at scan time
    if ts in NATIVE_SYNTAXES and rec.number_of_frames > 1 and rec.frame < 0:
        # Check the claimed size against the payload first: a lying header is a format error,
        # whatever else the file is.
        nbytes = max(1, rec.bits_allocated // 8)
        need_all = rec.rows * rec.columns * rec.number_of_frames * rec.samples_per_pixel * nbytes
        have = rec.pixel_length if rec.pixel_length >= 0 else rec.size - rec.pixel_offset
        if have < need_all or rec.pixel_offset + need_all > rec.size:
            return "format", (
                f"{rec.path}: {pixel_element_name(rec.pixel_vr)} holds {have} bytes but Rows x Columns x "
                f"NumberOfFrames x SamplesPerPixel x BitsAllocated/8 = {rec.rows}x{rec.columns}x"
                f"{rec.number_of_frames}x{rec.samples_per_pixel}x{nbytes} = {need_all}: the "
                "header's dimensions are wrong or the file is truncated"
            )
    if rec.number_of_frames != 1 and rec.frame < 0:
        from pydicom.uid import UID  # only for the message

        kind = UID(rec.sop_class_uid).name if rec.sop_class_uid else "unknown SOP class"
        return "unsupported", (
            f"{rec.path}: a multi-frame image ({kind}, NumberOfFrames (0028,0008) = "
            f"{rec.number_of_frames}) without per-frame functional groups "
            "(PerFrameFunctionalGroupsSequence (5200,9230)): where each frame lies is not stated "
            "frame by frame, and lazyvol does not derive slice geometry from one position and a "
            "spacing; convert it with dcm2niix, or export the series as single-frame or enhanced "
            "images"
        )
    if rec.photometric.upper() == "PALETTE COLOR":
        return "unsupported", (
            f"{rec.path}: PhotometricInterpretation (0028,0004) PALETTE COLOR: the stored values "
            "index a colour lookup table, they are not intensities; colour images are not "
            "supported yet"
        )
    if rec.samples_per_pixel != 1:
        return "unsupported", (
            f"{rec.path}: colour images (SamplesPerPixel (0028,0002) = {rec.samples_per_pixel}, "
            f"PhotometricInterpretation {rec.photometric}) are not supported yet"
        )
    if rec.bits_allocated not in (8, 16, 32) and rec.pixel_vr != "OD":
        return "unsupported", (
            f"{rec.path}: BitsAllocated (0028,0100) = {rec.bits_allocated} is not supported "
            "(8, 16 or 32)"
        )
    if not 1 <= rec.bits_stored <= rec.bits_allocated:
        return "format", (
            f"{rec.path}: BitsStored (0028,0101) = {rec.bits_stored} is not within 1..BitsAllocated "
            f"({rec.bits_allocated})"
        )
    mosaic_problem = mosaic_error(rec)
    if mosaic_problem:
        return mosaic_problem
    if ts not in NATIVE_SYNTAXES:
        return None
    need = rec.rows * rec.columns * (rec.bits_allocated // 8)
    if rec.pixel_length >= 0 and rec.pixel_length < need:
        return "format", (
            f"{rec.path}: {pixel_element_name(rec.pixel_vr)} length {rec.pixel_length} is shorter "
            "than Rows x "
            f"Columns x BitsAllocated/8 = {rec.rows}x{rec.columns}x{rec.bits_allocated // 8} = {need}"
        )
    if rec.pixel_offset + need > rec.size:
        return "format", (
            f"{rec.path}: truncated: {pixel_element_name(rec.pixel_vr)} needs {need} bytes from offset "
            f"{rec.pixel_offset} but the file has {rec.size} bytes"
        )
    return _excess_problem(rec)


def _excess_problem(rec: FrameRecord) -> tuple[str, str] | None:
    """("format", message) when native pixel data hold more than the header's dimensions
    describe and the rest is not padding (:func:`~.excess.excess_problem`): reading the image as
    stated would return part of the data, scrambled or cut, without a word."""
    problem = excess_problem(rec, pixel_element_name(rec.pixel_vr))
    return ("format", f"{rec.path}: {problem}") if problem else None


def _compressed_problem(rec: FrameRecord, fetch: Fetch) -> tuple[str, str] | None:
    """(kind, message) when a compressed file cannot be read: no decoder for its syntax, Pixel
    Data not encapsulated, damaged items, or a header stating a size its frames cannot be: a
    codestream stating another size, a wider precision or other components (an enhanced file's
    located frames: its first frame's), or an RLE frame too short for it (every frame)."""
    from pydicom.uid import UID

    ts = rec.transfer_syntax
    missing = _decoder_missing(rec)
    if missing:
        return "unsupported", missing
    if rec.number_of_frames > 1 and rec.frame >= 0:
        # frames located (and their items checked) at scan time: each record is one frame's
        # items, at pixel_offset, pixel_length bytes long
        if ts == RLE_SYNTAX:
            problem = _rle_problem(rec, rec.pixel_length)
        elif rec.frame == 0:  # frames share one header: the first frame's codestream tells
            problem = _codestream_problem(rec, fetch, rec.pixel_offset + 8)
        else:
            problem = None
        return ("format", problem) if problem else None
    if rec.pixel_length != -1:
        return "format", (
            f"{rec.path}: Pixel Data (7FE0,0010) of compressed syntax {UID(ts).name} is not "
            "encapsulated (defined length)"
        )
    end = _encapsulated_end(rec, fetch)
    if isinstance(end, str):
        return "format", f"{rec.path}: encapsulated Pixel Data (7FE0,0010) {end}"
    if ts == RLE_SYNTAX:
        problem = _rle_problem(rec, end - rec.pixel_offset)
    else:
        problem = _codestream_problem(rec, fetch)
    return ("format", problem) if problem else None


def _decoder_missing(rec: FrameRecord) -> str:
    """Why pydicom cannot decode ``rec``'s compressed transfer syntax here, naming the file and
    what to install; "" when it can (or the syntax is native)."""
    if rec.transfer_syntax in (*NATIVE_SYNTAXES, DEFLATED_SYNTAX):
        return ""
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    ts = rec.transfer_syntax
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        return f"{rec.path}: transfer syntax {UID(ts).name} ({ts}) has no pixel decoder in pydicom"
    if decoder.is_available:
        return ""
    return (
        f"{rec.path}: {NO_DECODER} {UID(ts).name} ({ts}); install one of: "
        f"{'; '.join(decoder.missing_dependencies)} (pip install 'lazyvol[codecs]')"
    )


def _rle_problem(rec: FrameRecord, length: int) -> str | None:
    """The refusal of an RLE frame of ``length`` encoded bytes too short for the image its
    header states (:func:`~lazyvol.dicom.codestream.rle_room_problem`), named by file and
    frame."""
    segments = max(1, rec.samples_per_pixel) * max(1, rec.bits_allocated // 8)
    problem = rle_room_problem(length, *_image_shape(rec), segments)
    return f"{rec.where}: the {problem}" if problem else None


def _encapsulated_end(rec: FrameRecord, fetch: Fetch = read_local) -> int | str:
    """Walk the item headers of encapsulated Pixel Data (seeks only): end offset or a problem."""
    pos = rec.pixel_offset
    items = 0
    try:
        while True:
            head = fetch(rec.path, pos, 8, rec.size)
            if len(head) < 8:
                return (
                    f"is truncated: the file ends after {items} item(s) without the sequence "
                    "delimiter (FFFE,E0DD)"
                )
            group, elem, length = struct.unpack("<HHL", head)
            tag = group << 16 | elem
            if tag == 0xFFFEE0DD:
                break
            if tag != 0xFFFEE000:
                return f"has an unexpected tag ({group:04X},{elem:04X}) at byte {pos}"
            if length == 0xFFFFFFFF or pos + 8 + length > rec.size:
                return (
                    f"is truncated: item {items} at byte {pos} claims {length} bytes but "
                    f"the file has {rec.size}"
                )
            if items == 0 and length % 4:
                return (
                    f"has a Basic Offset Table (its first item, at byte {pos}) of {length} bytes, "
                    "not a multiple of 4 (it holds 4-byte frame offsets): the item is damaged"
                )
            pos += 8 + length
            items += 1
    except OSError as exc:
        return f"cannot be read: {exc}"
    if items < 2:
        return "holds no frame fragment"
    return pos + 8


#: Bytes of a compressed file's first fragment read at scan time to find what its codestream
#: states (the JPEG SOF or JPEG 2000 SIZ segment comes first, after any APP segments).
CODESTREAM_HEAD = 1024


def _codestream_problem(rec: FrameRecord, fetch: Fetch, first: int | None = None) -> str | None:
    """The refusal of a compressed file whose codestream states another size than its Rows x
    Columns (a mosaic's: its whole image), a precision beyond its BitsAllocated or other
    components than its SamplesPerPixel (:func:`~.codestream.codestream_disagreement`), read from
    the head of the fragment whose bytes start at ``first`` (default: a single-frame file's first
    fragment, past the Basic Offset Table); None when they agree or the head does not say (the
    pixel reader checks the whole frame again)."""
    if rec.transfer_syntax not in SIZED_SYNTAXES:
        return None  # RLE states no size: nothing to read
    try:
        if first is None:
            head = fetch(rec.path, rec.pixel_offset, 8, rec.size)  # the Basic Offset Table item
            bot = struct.unpack("<L", head[4:8])[0] if len(head) == 8 else 0
            first = rec.pixel_offset + 8 + bot + 8  # past the BOT item and the fragment's header
        start = fetch(rec.path, first, CODESTREAM_HEAD, rec.size)
    except OSError:
        return None  # the read's own error comes when the pixels are read
    problem = codestream_disagreement(
        rec.transfer_syntax, start, *_image_shape(rec), rec.bits_allocated, rec.samples_per_pixel
    )
    return f"{rec.path}: the {problem}" if problem else None


def _image_shape(rec: FrameRecord) -> tuple[int, int]:
    """(rows, columns) of the image stored in ``rec``'s file: a mosaic tile's whole mosaic."""
    return (rec.mosaic[0], rec.mosaic[1]) if rec.mosaic else (rec.rows, rec.columns)
