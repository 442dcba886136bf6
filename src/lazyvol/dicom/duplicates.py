"""Copies of one image in a series (one SOPInstanceUID in several files): exact duplicates are
dropped with a warning, copies placed or valued differently refused (:func:`drop_duplicates`);
:func:`same_image` compares two copies by their bytes, or by their decoded values when stored
differently."""

from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Any

import numpy as np

from .codestream import ENCAPSULATED_UNCOMPRESSED
from .deflated import inflated_part10
from .frame_table import rescale_pair
from .model import EXACT_DUPLICATE_NOTE, NO_DECODER, UNDECIDED_HERE
from .records import FrameRecord
from .source import Fetch, read_local
from .support import decoder_missing, image_shape, support_error

__all__ = ["DECODE_COMPARE_BYTES", "NOT_COMPARED", "drop_duplicates", "same_image"]


def drop_duplicates(
    records: list[FrameRecord],
    notes: list[str],
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
    dropped: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    try:
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
                    head = (
                        f"SOPInstanceUID (0008,0018) {uid} appears in {recs[0].path} and {dup.path}"
                    )
                    if UNDECIDED_HERE in how:  # for want of a decoder or memory, not the files
                        kind = "unsupported" if NO_DECODER in how else "series"
                        return kept, (kind, f"{head} {how}")
                    damaged = _damaged_copy(recs[0], dup, fetch)
                    if damaged:
                        return kept, ("format", f"{head}: {damaged}")
                    return kept, ("series", f"{head} {how}; remove one of the files")
                dropped[how].append((dup.where, recs[0].where, uid))
    finally:  # (the copies dropped before a conflict are said too)
        notes.extend(_dropped_notes(dropped))
    return kept, None


def _damaged_copy(a: FrameRecord, b: FrameRecord, fetch: Fetch) -> str:
    """Why their pixels differ when one of two copies of an image is damaged (cut short, its
    Pixel Data shorter than its header states) and the other is not: that copy's problem and
    which file to remove; "" otherwise (two whole copies that differ)."""
    problems = [support_error(r, fetch) for r in (a, b)]
    damaged = [(r, p[1]) for r, p in zip((a, b), problems, strict=True) if p and p[0] == "format"]
    if len(damaged) != 1:
        return ""
    rec, why = damaged[0]
    return f"one copy is damaged, {why}; remove {rec.path} (the other copy is whole)"


def _dropped_notes(dropped: dict[str, list[tuple[str, str, str]]]) -> list[str]:
    """One warning per way copies were found alike (``how``: the same pixel data, or the same
    values stored otherwise), naming the first copies (files, or frames of a multi-frame file):
    a folder exported twice printed a line for every file."""
    notes = []
    for how, pairs in dropped.items():
        if len(pairs) == 1:
            (path, kept, uid), *_ = pairs
            notes.append(
                f"{EXACT_DUPLICATE_NOTE} dropped: {path} repeats {kept} (same SOPInstanceUID "
                f"{uid}, {how})"
            )
            continue
        shown = "; ".join(f"{path} repeats {kept}" for path, kept, _ in pairs[:3])
        more = f"; and {len(pairs) - 3} more" if len(pairs) > 3 else ""
        notes.append(
            f"{EXACT_DUPLICATE_NOTE}s dropped: {len(pairs)} images repeat images kept (each the same "
            f"SOPInstanceUID, {how}): {shown}{more}"
        )
    return notes


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
    if not how and a.deflated:  # (its pixel offsets count inflated bytes: compared decoded)
        how = "a Deflated data set each"
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
    if max(a.data_size, b.data_size, _decoded_bytes(a), _decoded_bytes(b)) > DECODE_COMPARE_BYTES:
        # nothing allocated from a header's claim beyond the bound
        return f"{NOT_COMPARED} (over {DECODE_COMPARE_BYTES} bytes)"
    missing = next((m for m in map(decoder_missing, (a, b)) if m), "")
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
    rows, columns = image_shape(rec)
    per_pixel = max(1, rec.samples_per_pixel) * max(1, rec.bits_allocated // 8)
    return max(0, rows) * max(0, columns) * per_pixel * max(1, rec.number_of_frames)


def _uncompressed_values(rec: FrameRecord, fetch: Fetch) -> Any:
    """The stored values of ``rec``'s Encapsulated Uncompressed frame (a multi-frame file's
    record: its frame's items; else the file's encapsulated value), read as lazyvol's pixel
    reader reads them (:func:`~.decoding.decode_frame`): pydicom has no decoder of that syntax."""
    from ..errors import FormatError
    from .decoding import decode_frame

    if rec.pixel_length >= 0:  # one frame's items: a one-frame value with an empty table
        items = fetch(rec.path, rec.pixel_offset, rec.pixel_length, rec.size)
        buf = b"\xfe\xff\x00\xe0\x00\x00\x00\x00" + items + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    else:
        buf = fetch(rec.path, rec.pixel_offset, rec.size - rec.pixel_offset, rec.size)
    rows, columns = image_shape(rec)
    attrs = {
        "rows": rows,
        "columns": columns,
        "bits_allocated": rec.bits_allocated,
        "bits_stored": rec.bits_stored,
        "pixel_representation": rec.pixel_representation,
    }
    try:
        return decode_frame(rec.transfer_syntax, buf, attrs, rec.where)
    except FormatError as exc:
        raise ValueError(str(exc)) from None  # (one copy cannot be decoded)


def _decoded(rec: FrameRecord, fetch: Fetch, cache: dict[str, Any]) -> Any:
    """pydicom's ``pixel_array`` of ``rec``'s whole file (kept per path: a mosaic's or an enhanced
    file's frames are compared one by one against the same decode); an Encapsulated Uncompressed
    frame's values, read by lazyvol (:func:`_uncompressed_values`)."""
    if rec.transfer_syntax == ENCAPSULATED_UNCOMPRESSED:
        return _uncompressed_values(rec, fetch)
    if rec.path not in cache:
        from io import BytesIO

        import pydicom

        # (a Deflated file: its data set inflated as far as the scan counted it, not whole)
        data = (
            inflated_part10(rec, fetch) if rec.deflated else fetch(rec.path, 0, rec.size, rec.size)
        )
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
