"""One DICOM header's parsed elements -> a :class:`FrameRecord` (or a typed skip), in steps.

The steps are pure except the last: :func:`encoding` (transfer syntax and raw elements from either
reader), :func:`pixel_element` (where the Pixel Data value is),
:func:`~lazyvol.dicom.pixel_classes.no_pixels_reason`,
:func:`fill_record` (the header values), and :func:`expand` (a Siemens mosaic's tiles or an
enhanced multi-frame file's frames, which may read the item headers of encapsulated Pixel Data).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Any

from ..sources import SourceStamp
from . import grid, mosaic, records
from .charset import series_description
from .deflated import inflate_pixels
from .dicom_time import frame_time, stated_datetime
from .excess import excess_holds_data
from .file_values import csa_file_values, file_values
from .header_values import (
    _LONG_VRS,
    _PIXEL_TAGS,
    _TAG,
    DICOMDIR_SOP_CLASS,
    EMPTY_NOTED,
    HEADER_TAGS,
    NOT_PLAIN_STACKS,
    Parsed,
    ValueReader,
    _tag_str,
    holds_items,
    sequence_items,
)
from .model import FLOAT_PIXEL_VRS, PIXEL_HEAD_CUT, UNENCAPSULATED_SYNTAXES, pixel_element_name
from .multiframe import UNSUPPORTED_LAYOUT, expand_frames
from .nm_tomo import nm_tomo_file, nm_tomo_frames, nm_tomo_slice
from .pixel_classes import no_pixels_reason
from .pixel_search import damaged_skip
from .records import GE_NO_DTI, ONE_FRAME_TAKEN, ONE_VALUE_SPACING, FrameRecord, one_frame_held
from .source import Fetch
from .vendor import (
    csa_diffusion_problems,
    ge_without_directions,
    philips_rwv,
    read_diffusion,
    read_ge_image_kind,
    read_philips_scale_slope,
    vendor_of,
    with_csa_diffusion,
)

__all__ = ["HeaderResult", "HeaderSkip", "drop_cut_values", "make_record"]


@dataclass(frozen=True)
class HeaderSkip:
    """A file that is not a readable image: why, and its SeriesInstanceUID when the header got
    that far (so its series can be flagged incomplete), else ``""``."""

    reason: str
    series_uid: str = ""
    #: A valid DICOM file of a kind lazyvol does not read (an unsupported transfer syntax, an
    #: image that is not a plain stack): a folder of only such files is an UnsupportedError.
    unsupported: bool = False


#: What reading one header gives: one record, one record per frame/tile, or a skip.
HeaderResult = FrameRecord | list[FrameRecord] | HeaderSkip


@dataclass(frozen=True)
class Encoding:
    """Transfer syntax and raw elements of a parsed header, whichever reader parsed it."""

    media_sop: str
    tsyntax: str
    implicit: bool
    little: bool
    raw: dict[int, Any]
    source: Any


def encoding(parsed: Parsed | None, ds: Any) -> Encoding:
    """The encoding of a header parsed by the fast readers (``parsed``) or by dcmread (``ds``)."""
    if parsed is not None:
        tsyntax = parsed.tsyntax
        return Encoding(
            parsed.media_sop,
            tsyntax,
            parsed.implicit,
            tsyntax != "1.2.840.10008.1.2.2",
            parsed._dict,
            parsed,
        )
    meta = getattr(ds, "file_meta", None)
    media_sop = str(getattr(meta, "MediaStorageSOPClassUID", "") or "") if meta else ""
    enc_implicit, enc_little = ds.original_encoding
    implicit = True if enc_implicit is None else bool(enc_implicit)
    little = True if enc_little is None else bool(enc_little)
    tsyntax = str(getattr(meta, "TransferSyntaxUID", "") or "") if meta else ""
    if not tsyntax:
        tsyntax = (
            "1.2.840.10008.1.2"
            if implicit
            else ("1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2")
        )
    raw = {int(t): e for t, e in ds._dict.items()}
    return Encoding(media_sop, tsyntax, implicit, little, raw, ds)


def pixel_element(
    elem_head: bytes, pos: int, implicit: bool, little: bool
) -> tuple[int, int, str] | HeaderSkip:
    """``(value offset, value length or -1 (undefined), VR)`` of the Pixel Data element whose first
    bytes are ``elem_head`` at ``pos``; ``(-1, -1, "")`` when there is none."""
    if len(elem_head) < 4:
        return -1, -1, ""
    endian = "<" if little else ">"
    group, element = struct.unpack(f"{endian}HH", elem_head[:4])
    tag = group << 16 | element
    if tag not in _PIXEL_TAGS:
        return -1, -1, ""
    if len(elem_head) < 8:
        return HeaderSkip(PIXEL_HEAD_CUT)
    vr_bytes = elem_head[4:6]
    if not implicit and vr_bytes.isalpha():
        pixel_vr = vr_bytes.decode("ascii")
        if vr_bytes in _LONG_VRS:
            if len(elem_head) < 12:
                return HeaderSkip(PIXEL_HEAD_CUT)
            (length,) = struct.unpack(f"{endian}L", elem_head[8:12])
            offset = pos + 12
        else:
            (length,) = struct.unpack(f"{endian}H", elem_head[6:8])
            offset = pos + 8
    else:
        pixel_vr = "OW" if tag == 0x7FE00010 else {0x7FE00008: "OF", 0x7FE00009: "OD"}[tag]
        (length,) = struct.unpack(f"{endian}L", elem_head[4:8])
        offset = pos + 8
    if tag != 0x7FE00010:
        pixel_vr = {0x7FE00008: "OF", 0x7FE00009: "OD"}[tag]
    elif pixel_vr in FLOAT_PIXEL_VRS:  # (Pixel Data holds integers, whatever VR it is written
        pixel_vr = "OW"  # with: pydicom reads them so; its floats are (7FE0,0008)/(7FE0,0009))
    return offset, (-1 if length == 0xFFFFFFFF else int(length)), pixel_vr


def drop_cut_values(raw: dict[int, Any]) -> str:
    """Remove from ``raw`` the values cut short by the end of the file (pydicom's reader keeps
    the bytes there are; the walker never reads them) and name them ("" when none is): a cut
    value is not a value (a SOP Class UID cut to "1.2.840.1000" named the file a non-image)."""
    keywords = {t: k for k, t in _TAG.items()}
    cut = []
    for tag, elem in list(raw.items()):
        value, length = getattr(elem, "value", None), getattr(elem, "length", None)
        if (
            isinstance(value, bytes | bytearray)
            and isinstance(length, int)
            and length != 0xFFFFFFFF
            and len(value) < length
        ):
            del raw[tag]
            cut.append(f"{keywords.get(tag, 'element')} ({tag >> 16:04X},{tag & 0xFFFF:04X})")
    return ", ".join(cut)


def fill_record(
    path: str,
    ident: SourceStamp,
    enc: Encoding,
    r: ValueReader,
    sop_class: str,
    pixel: tuple[int, int, str],
) -> FrameRecord:
    """The header values of one file as a record (before mosaic/multi-frame expansion)."""
    spacing, one_value = _pixel_spacing(r)
    rec = FrameRecord(
        path=path,
        size=int(ident.size),
        mtime_ns=int(ident.mtime_ns),
        transfer_syntax=enc.tsyntax,
        sop_class_uid=sop_class,
        sop_instance_uid=r.get_str("SOPInstanceUID"),
        study_uid=r.get_str("StudyInstanceUID"),
        series_uid=r.get_str("SeriesInstanceUID"),
        series_number=r.get_int("SeriesNumber"),
        series_description=series_description(enc.raw, r),
        modality=r.get_str("Modality"),
        instance_number=r.get_int("InstanceNumber"),
        acquisition_number=r.get_int("AcquisitionNumber"),
        image_type=r.get_strs("ImageType"),
        rows=r.get_int("Rows") or 0,
        columns=r.get_int("Columns") or 0,
        samples_per_pixel=1 if (spp := r.get_int("SamplesPerPixel")) is None else spp,  # (0 kept)
        photometric=r.get_str("PhotometricInterpretation").upper(),  # (CS is upper case)
        bits_allocated=r.get_int("BitsAllocated") or 0,
        bits_stored=r.get_int("BitsStored") or 0,
        high_bit=r.get_int("HighBit") or 0,
        pixel_representation=r.get_int("PixelRepresentation") or 0,
        number_of_frames=1,
        ipp=r.get_floats("ImagePositionPatient", 3),
        iop=r.get_floats("ImageOrientationPatient", 6),
        pixel_spacing=spacing,
        slice_thickness=r.get_float("SliceThickness"),
        spacing_between_slices=r.get_float("SpacingBetweenSlices"),
        temporal_position=r.get_int("TemporalPositionIdentifier"),
        trigger_time=r.get_float("TriggerTime"),
        echo_time=r.echo_time(),
        echo_number=r.get_int("EchoNumbers"),
        # (an image stating only AcquisitionDateTime (0008,002A): its time of day, as dcm2niix's)
        acquisition_time=r.get_str("AcquisitionTime")
        or frame_time(r.get_str("AcquisitionDateTime")),
        frame_of_reference_uid=r.get_str("FrameOfReferenceUID"),
        pixel_offset=pixel[0],
        pixel_length=pixel[1],
        pixel_vr=pixel[2],
        inode=int(ident.inode),
        ctime_ns=int(ident.ctime_ns),
        etag=ident.etag,
        patient_id=patient_token(r.get_str("PatientID")),
        acquisition_datetime=stated_datetime(
            r.get_str("AcquisitionDate"),
            r.get_str("AcquisitionTime"),
            r.get_str("AcquisitionDateTime"),
        ),
        convolution_kernel=r.get_str("ConvolutionKernel"),
    )
    if rec.pixel_vr in FLOAT_PIXEL_VRS:
        # IEEE floats use every allocated bit: BitsStored, HighBit and PixelRepresentation do not
        # apply (the Floating Point Image Pixel module has none; pydicom ignores them too).
        rec.bits_stored, rec.high_bit = rec.bits_allocated, rec.bits_allocated - 1
        rec.pixel_representation = 1
    one_frame = False  # (an empty or 0 NumberOfFrames of one native frame: read as 1, noted)
    if "NumberOfFrames" in r:
        nf, empty = r.get_int("NumberOfFrames"), not r.values("NumberOfFrames")
        one_frame = (empty or nf == 0) and one_frame_held(
            rec, enc.tsyntax in UNENCAPSULATED_SYNTAXES
        )
        rec.number_of_frames = 1 if one_frame else nf if nf is not None else -1  # (-1: in r.bad)
    r.note_empty(EMPTY_NOTED[: len(EMPTY_NOTED) - one_frame])  # (NumberOfFrames last)
    slope, inter = r.get_float("RescaleSlope"), r.get_float("RescaleIntercept")
    rec.rescale_slope = 1.0 if slope is None else slope
    rec.rescale_intercept = 0.0 if inter is None else inter
    rec.manufacturer = r.manufacturer()
    rec.complex_component = r.get_str("ComplexImageComponent") or read_ge_image_kind(
        r, rec.manufacturer
    )
    rec.b_value, rec.gradient, rec.diffusion_source = read_diffusion(r, rec.manufacturer)
    rec.philips_scale_slope = read_philips_scale_slope(r, rec.manufacturer)
    rec.philips_rwv, problem = read_philips_rwv(enc.raw, rec.manufacturer)
    rec.bad_attributes = [*r.bad, *([problem] if problem else [])] or None
    noted = {ONE_VALUE_SPACING: one_value, GE_NO_DTI: ge_without_directions(r, rec.manufacturer)}
    noted.update({ONE_FRAME_TAKEN: one_frame, **r.read_notes()})
    noted[records.INTERCEPT_ONLY] = slope is None and bool(inter)
    rec.acq = {k: v for k, v in noted.items() if v} or None
    return rec


def _pixel_spacing(r: ValueReader) -> tuple[list[float] | None, bool]:
    """PixelSpacing (0028,0030), row then column spacing, and whether it held one value
    (non-conformant: the standard requires two), taken for both as dcm2niix reads it (noted:
    ``ONE_VALUE_SPACING``)."""
    if len(r.values("PixelSpacing") or ()) == 1:
        one = r.get_floats("PixelSpacing", 1)
        return (None, False) if one is None else (one * 2, True)
    return r.get_floats("PixelSpacing", 2), False


def read_philips_rwv(raw: dict[int, Any], manufacturer: str) -> tuple[list[float] | None, str]:
    """A Philips file's top-level RealWorldValueMappingSequence (0040,9096) as
    :func:`~lazyvol.dicom.vendor.philips_rwv` reads it (other vendors': not read, as dcm2niix
    applies none)."""
    elem = raw.get(_TAG["RealWorldValueMappingSequence"])
    if elem is None or vendor_of(manufacturer) != "PHILIPS":
        return None, ""
    items = sequence_items(elem)
    if isinstance(items, str):
        return None, f"RealWorldValueMappingSequence (0040,9096) {items}"
    return philips_rwv(items)


def asl_label(rec: FrameRecord, raw: dict[int, Any]) -> str | None:
    """Philips ASL: ``"label"`` or ``"control"`` from (2005,1429) (its first letter, as dcm2niix
    reads it), as BIDS aslcontext.tsv names them; None for other files."""
    if vendor_of(rec.manufacturer) != "PHILIPS":
        return None
    text = mosaic.raw_text(raw, 0x20051429)
    first = text[0][:1].upper() if text else ""
    return {"L": "label", "C": "control"}.get(first)


def expand(rec: FrameRecord, raw: dict[int, Any], fetch: Fetch) -> HeaderResult:
    """A mosaic file's tiles, an enhanced multi-frame file's frames, or the record itself."""
    # A mosaic by ImageType or (0019,100A), or else by the CSA header's count (when it is read).
    claimed = mosaic.mosaic_file(rec, raw)
    csa = mosaic.csa_image_header(raw) if mosaic.wants_csa(rec, raw, claimed) else None
    rec.acq = {
        **(file_values(raw) if csa is None else csa_file_values(raw, csa)),
        **(rec.acq or {}),  # (what the header's record noted: ONE_VALUE_SPACING, GE_NO_DTI)
    } or None
    if isinstance(csa, dict) and vendor_of(rec.manufacturer) == "SIEMENS":
        stated = (rec.b_value, rec.gradient, rec.diffusion_source)
        b, g = (mosaic.csa_floats(csa, k) for k in ("B_value", "DiffusionGradientDirection"))
        rec.b_value, rec.gradient, rec.diffusion_source = with_csa_diffusion(stated, b, g)
        names = ("B_value", "DiffusionGradientDirection")
        notes = csa_diffusion_problems({k: mosaic.csa_items(csa, k) for k in names})
        rec.bad_attributes = [*(rec.bad_attributes or []), *notes] or None
    asl = asl_label(rec, raw)
    if asl:
        rec.acq = {**(rec.acq or {}), "_asl_label": asl}
    if not claimed and grid.grid_file(rec, raw):
        return grid.expand_grid(rec, raw)  # a UIH GRID (never read as one slice)
    # Enhanced files, also of one frame each (a series stored one frame per file, NumberOfFrames
    # 1 stated): geometry, rescale and labels live in the functional groups.
    one = rec.number_of_frames == 1 and 0x00280008 in raw
    enhanced = (rec.number_of_frames > 1 or one) and 0x52009230 in raw
    if claimed or (csa is not None and mosaic.mosaic_file(rec, raw, csa)):
        if enhanced and not isinstance(csa, str) and not mosaic.counted_mosaic(raw, csa):
            # MOSAIC in ImageType and no slice count (nor a CSA header that failed to parse):
            # Siemens XA exports de-mosaiced enhanced files that keep the word.
            frames = _enhanced_frames(rec, raw, fetch)
            if isinstance(frames, list) and mosaic.frames_are_slices(frames):
                return frames
        return mosaic.expand_mosaic(rec, raw, csa)
    if enhanced:
        frames = _enhanced_frames(rec, raw, fetch)
        # one frame whose groups do not describe it: the file's own attributes do, as before
        return rec if one and not isinstance(frames, list) else frames
    if nm_tomo_file(rec) and rec.number_of_frames > 1:  # (no functional groups: the NM IOD's)
        return _enhanced_frames(rec, raw, fetch, "NM reconstruction")
    if nm_tomo_file(rec) and rec.number_of_frames == 1:  # (NumberOfFrames < 1: corrupt)
        nm_tomo_slice(rec, raw)
    if rec.number_of_frames != 1:
        rec.frame = -1  # multi-frame without functional groups: not located frame by frame
    return rec


def _enhanced_frames(
    rec: FrameRecord, raw: dict[int, Any], fetch: Fetch, kind: str = "enhanced multi-frame image"
) -> HeaderResult:
    """A multi-frame file's frame records (an NM reconstruction's: ``kind``), or why not."""
    expand_kind = nm_tomo_frames if kind == "NM reconstruction" else expand_frames
    try:
        frames = expand_kind(rec, raw, fetch)
    except Exception as exc:  # malformed functional groups
        frames = f"unreadable functional groups ({type(exc).__name__}: {exc})"
    if isinstance(frames, str):
        unsupported = frames.endswith(UNSUPPORTED_LAYOUT)
        return HeaderSkip(f"{kind}: {frames}", rec.series_uid, unsupported=unsupported)
    return frames


def patient_token(patient_id: str) -> str:
    """A PatientID as a record holds it: a short digest, the same for the same ID ("" for none),
    not the identifier in clear (an unsalted digest of a short numeric ID can be reversed by trying
    every value, so split reasons and listings show none: they number the patients)."""
    if not patient_id:
        return ""
    return "id#" + hashlib.sha256(patient_id.encode("utf-8", "replace")).hexdigest()[:8]


def make_record(
    path: str,
    ident: SourceStamp,
    parsed: Parsed | None,
    ds: Any,
    pos: int,
    elem_head: bytes,
    fetch: Fetch,
    cut: str = "",
) -> HeaderResult:
    """The record (or skip) from parsed header elements and the Pixel Data element head.

    ``ident``: the file's stamp when read (size, mtime, inode, ctime; ETag for an object);
    ``cut``: the values the end of the file cut short (see :func:`drop_cut_values`).
    """
    enc = encoding(parsed, ds)
    name = path.rsplit("/", 1)[-1]
    if enc.media_sop == DICOMDIR_SOP_CLASS or name.upper() == "DICOMDIR":
        return HeaderSkip(
            "DICOMDIR (a media directory, not an image: open the folder that holds it, which "
            "lazyvol scans for the images themselves)"
        )
    r = ValueReader(enc.source)
    if parsed is not None and parsed.repeated:
        keywords = {t: k for k, t in _TAG.items()}
        names = ", ".join(
            f"{keywords.get(t, 'element')} ({t >> 16:04X},{t & 0xFFFF:04X})"
            for t in parsed.repeated
        )
        return HeaderSkip(
            f"{names} appear(s) more than once in the data set: which value holds is ambiguous "
            "(pydicom keeps the last, a reader stopping at the first reads another); the file is "
            "malformed, re-export it",
            r.get_str("SeriesInstanceUID"),
        )
    sop_class = r.get_str("SOPClassUID") or enc.media_sop
    pixel = pixel_element(elem_head, pos, enc.implicit, enc.little)
    if isinstance(pixel, HeaderSkip):
        return pixel
    if pixel[0] < 0:
        reason, unsupported = no_pixels_reason(sop_class, r, cut)
        skip = HeaderSkip(reason, r.get_str("SeriesInstanceUID"), unsupported)
        return damaged_skip(skip, cut, path, ident.size, fetch)
    if sop_class in NOT_PLAIN_STACKS:
        return HeaderSkip(
            f"{NOT_PLAIN_STACKS[sop_class]} is not a plain image stack; lazyvol does not read "
            "it as a volume",
            unsupported=True,
        )
    if holds_items(r.raw.get(_TAG["ModalityLUTSequence"])):  # (empty: no table, as pydicom)
        return HeaderSkip(
            "its stored values map to real-world values through a Modality LUT Sequence "
            "(0028,3000), a lookup table lazyvol does not apply (it applies RescaleSlope/"
            "RescaleIntercept); read it with pydicom (pydicom.pixels.apply_modality_lut) or "
            "convert it first",
            r.get_str("SeriesInstanceUID"),
            unsupported=True,
        )
    rec = fill_record(path, ident, enc, r, sop_class, pixel)
    missing = [k for k in ("Rows", "Columns", "BitsAllocated") if k not in r]
    if missing:
        names = ", ".join(f"{k} {_tag_str(k)}" for k in missing)
        reason = f"image attributes missing ({names}): header truncated or not an image"
        return HeaderSkip(reason, rec.series_uid)
    if parsed is not None and parsed.inflated_from >= 0:  # (Deflated: offsets count inflated bytes)
        fetch_or_skip = inflate_pixels(rec, parsed.inflated_from, fetch, _TAIL_WALK)
        if isinstance(fetch_or_skip, tuple):
            return HeaderSkip(fetch_or_skip[0], rec.series_uid, fetch_or_skip[1])
        fetch = fetch_or_skip
    second = _after_pixels(rec, enc.implicit, enc.little, fetch)
    if second:
        return HeaderSkip(second, rec.series_uid)
    state = "" if rec.pixel_vr in FLOAT_PIXEL_VRS else r.unstated("PixelRepresentation")
    if state:  # (read as unsigned, a signed slice's negatives became large numbers beside its
        # series; present but empty says no more than missing; a malformed value is refused)
        return HeaderSkip(
            f"PixelRepresentation (0028,0103) {state}: the file does not say whether its stored "
            "values are signed (a required attribute; pydicom refuses the file too); add it, "
            'e.g. `dcmodify -i "(0028,0103)=1"` for signed values, 0 for unsigned',
            rec.series_uid,
        )
    rec.excess_data = excess_holds_data(rec, fetch)  # (before its frames or tiles are made)
    return expand(rec, enc.raw, fetch)


#: The attributes the header scan reads (before the pixel element, where they belong).
_READ_TAGS = frozenset(HEADER_TAGS)


#: Bytes after the pixel element walked for elements a reader stopping at the pixels misses.
_TAIL_WALK = 65536


def _after_pixels(rec: FrameRecord, implicit: bool, little: bool, fetch: Fetch) -> str:
    """Why a file holding, after the pixel element found, another pixel element or an attribute
    the scan reads is refused ("" when it does not): lazyvol reads the first pixel element and
    the attributes before it, pydicom the last and every one, so their values would differ
    without a word. The elements after it are walked within the file's next 64 KiB, up to one
    of undefined length or bytes that are no element; nothing is read when the file ends at the
    pixel element (the usual file)."""
    end = rec.pixel_offset + rec.pixel_length
    if rec.pixel_length < 0 or rec.data_size - end < 8:
        return ""
    tail = fetch(rec.path, end, min(rec.data_size - end, _TAIL_WALK), rec.size)
    endian = "<" if little else ">"
    off = 0
    while off + 8 <= len(tail):
        group, element = struct.unpack_from(endian + "HH", tail, off)
        problem = _misplaced(group, element, rec.pixel_offset, rec.pixel_vr)
        if problem:
            return problem
        if implicit:
            (length,), head = struct.unpack_from(endian + "L", tail, off + 4), 8
        else:
            vr = tail[off + 4 : off + 6]
            if not (vr.isalpha() and vr.isupper()):
                return ""  # not an element header: nothing more is walked
            if vr in _LONG_VRS:
                if off + 12 > len(tail):
                    return ""
                (length,), head = struct.unpack_from(endian + "L", tail, off + 8), 12
            else:
                (length,), head = struct.unpack_from(endian + "H", tail, off + 6), 8
        if length == 0xFFFFFFFF:
            return ""  # (an undefined-length value: not walked through)
        off += head + length
    return ""


def _misplaced(group: int, element: int, pixel_offset: int, pixel_vr: str) -> str:
    """Why element (group, element) after the pixel element (of VR ``pixel_vr``) at
    ``pixel_offset`` makes the file ambiguous, or ""."""
    tag = group << 16 | element
    if tag in _READ_TAGS and tag < 0x7FE00000:
        # (elements ascend: a reader stops at the pixels; pydicom reads on and takes it)
        name = next((f"{k} " for k, t in _TAG.items() if t == tag), "")
        return (
            f"{name}({group:04X},{element:04X}), an attribute lazyvol reads, follows the pixel "
            f"element at byte {pixel_offset}: the data set's elements are out of order (a "
            "reader stopping at the pixels misses it, pydicom takes it); the file is malformed, "
            "re-export it"
        )
    if tag not in _PIXEL_TAGS:
        return ""
    first, second = pixel_element_name(pixel_vr), f"({group:04X},{element:04X})"
    same = first.endswith(second)
    return (
        f"a second pixel element {second} {_PIXEL_TAGS[tag]} follows {first} at byte "
        f"{pixel_offset}: which one holds the image is ambiguous ("
        + (
            "pydicom reads the last, a reader stopping at the first reads another image"
            if same
            else "pydicom refuses a data set holding more than one of Pixel Data, Float Pixel "
            "Data and Double Float Pixel Data"
        )
        + "); the file is malformed, re-export it"
    )
