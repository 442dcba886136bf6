"""Can lazyvol read these records' pixels? Duplicates, encodings, layouts, truncation.

Checks that may read bytes beyond the header (the item headers of encapsulated Pixel Data, the
pixels of two files claiming one SOPInstanceUID) read through a
:data:`~lazyvol.dicom.source.Fetch`, so they work alike for local files and remote objects.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from .._location import is_url
from .codestream import (
    ENCAPSULATED_UNCOMPRESSED,
    END_MARKER_ROOM,
    FRAGMENT_HEAD,
    RLE_SYNTAX,
    SIZED_SYNTAXES,
    codestream_disagreement,
    further_codestream,
    kept_precision,
    more_frames_problem,
    rle_offsets_problem,
    rle_segments_problem,
    room_problem,
)
from .excess import bits_allocated_problem, excess_problem, undefined_length_problem
from .model import (
    FLOAT_PIXEL_VRS,
    NO_DECODER,
    TRUNCATED_REMEDY,
    UNENCAPSULATED_SYNTAXES,
    pixel_element_name,
)
from .mosaic import mosaic_error
from .records import FrameRecord
from .source import Fetch, read_local

__all__ = [
    "decoder_missing",
    "file_list",
    "geometry_missing",
    "image_shape",
    "length_past_end",
    "support_error",
]


def file_list(paths: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


#: The notes (``bad_attributes``) that tell why an image has no position or orientation; the
#: others (a private b-value, a Philips scale slope ...) are not why, so the error leaves them out.
_GEOMETRY_NOTES = ("ImagePositionPatient", "ImageOrientationPatient")


def geometry_missing(missing: list[FrameRecord], records: list[FrameRecord]) -> str:
    """The error of a series whose ``missing`` images (of ``records``) lack ImagePositionPatient
    or ImageOrientationPatient: the files named, or the frames of an enhanced file (whose
    functional groups lack them: one InstanceNumber for all, so no InstanceNumber order helps)."""
    bad_attrs = sorted(
        {b for r in missing for b in (r.bad_attributes or []) if b.startswith(_GEOMETRY_NOTES)}
    )
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
    if rec.transfer_syntax not in UNENCAPSULATED_SYNTAXES:
        return (
            f"{rec.path}: {name} ({tag}) in the compressed transfer syntax "
            f"{rec.transfer_syntax}: float pixel data is never encapsulated; the file is malformed"
        )
    return ""


#: What gets past the refusal of a colour image.
_COLOUR_FIX = (
    "read the files with pydicom (Dataset.pixel_array gives RGB), or convert them with dcm2niix "
    "(an RGB NIfTI)"
)


def _tag_of(note: str) -> str:
    """The "(gggg,eeee)" a bad-attribute note names after its keyword ("(gggg,eeee)" when none)."""
    at = note.find("(")
    tag = note[at : at + 11] if at >= 0 else ""
    return tag if len(tag) == 11 and tag[5] == "," and tag.endswith(")") else "(gggg,eeee)"


def support_error(rec: FrameRecord, fetch: Fetch = read_local) -> tuple[str, str] | None:
    """(kind, message) when lazyvol cannot read this record's pixels yet. A compressed file's
    codestream precision is recorded on the way (``rec.codestream_bits``)."""
    ts = rec.transfer_syntax
    layout_bad = [b for b in (rec.bad_attributes or []) if b.split(" ", 1)[0] in _LAYOUT_KEYWORDS]
    if layout_bad:
        return "format", (
            f"{rec.path}: malformed value(s) in attributes needed to read the pixels: "
            + "; ".join(layout_bad)
            + ": how to read its pixels is unknown; re-export the file, or set the value "
            f'(e.g. `dcmodify -i "{_tag_of(layout_bad[0])}=<value>"`)'
        )
    float_problem = _float_pixels_problem(rec) if rec.pixel_vr in FLOAT_PIXEL_VRS else ""
    if float_problem:
        return "format", float_problem
    undefined = undefined_length_problem(rec, pixel_element_name(rec.pixel_vr))
    if undefined:
        return "format", f"{rec.path}: {undefined}"
    past_end = length_past_end(rec)
    if past_end:
        return "format", f"{rec.path}: {past_end}"
    if ts not in UNENCAPSULATED_SYNTAXES:
        problem = _compressed_problem(rec, fetch)
        if problem is not None:
            return problem  # (an enhanced file's located frames: their items checked at scan
            # time; the header checks below are theirs too, BitsStored a decoder refuses)
    if ts in UNENCAPSULATED_SYNTAXES and rec.number_of_frames > 1 and rec.frame < 0:
        # Check the claimed size against the payload first: a lying header is a format error,
        # whatever else the file is.
        nbytes = max(1, rec.bits_allocated // 8)
        need_all = rec.rows * rec.columns * rec.number_of_frames * rec.samples_per_pixel * nbytes
        have = rec.pixel_length if rec.pixel_length >= 0 else rec.data_size - rec.pixel_offset
        if have < need_all or rec.pixel_offset + need_all > rec.data_size:
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
    samples = _samples_problem(rec)
    if samples:
        return "format", f"{rec.path}: {samples}"
    if rec.photometric.upper() == "PALETTE COLOR":
        return "unsupported", (
            f"{rec.path}: PhotometricInterpretation (0028,0004) PALETTE COLOR: the stored values "
            "index a colour lookup table, they are not intensities; colour images are not "
            "supported yet: read the files with pydicom (pydicom.pixels.apply_color_lut maps the "
            "values to RGB)"
        )
    if rec.samples_per_pixel != 1:
        return "unsupported", (
            f"{rec.path}: colour images (SamplesPerPixel (0028,0002) = {rec.samples_per_pixel}, "
            f"PhotometricInterpretation {rec.photometric}) are not supported yet: {_COLOUR_FIX}"
        )
    bits_problem = bits_allocated_problem(rec)
    if bits_problem:
        return "unsupported", f"{rec.path}: {bits_problem}"
    if not 1 <= rec.bits_stored <= rec.bits_allocated:
        # (0: the attribute is missing, empty or 0; the record does not tell them apart)
        stated = f"= {rec.bits_stored}" if rec.bits_stored else "is missing, empty or 0, which"
        return "format", (
            f"{rec.path}: BitsStored (0028,0101) {stated} is not within 1..BitsAllocated "
            f"({rec.bits_allocated}); a required attribute (pydicom refuses the file too): set it "
            'to the bits each value uses (e.g. `dcmodify -i "(0028,0101)=12"`)'
        )
    mosaic_problem = mosaic_error(rec)
    if mosaic_problem:
        return mosaic_problem
    if ts not in UNENCAPSULATED_SYNTAXES:
        return None
    need = rec.rows * rec.columns * (rec.bits_allocated // 8)
    if rec.pixel_length >= 0 and rec.pixel_length < need:
        return "format", (
            f"{rec.path}: {pixel_element_name(rec.pixel_vr)} length {rec.pixel_length} is shorter "
            "than Rows x "
            f"Columns x BitsAllocated/8 = {rec.rows}x{rec.columns}x{rec.bits_allocated // 8} = {need}"
            f" (truncated file?): {TRUNCATED_REMEDY}"
        )
    if rec.pixel_offset + need > rec.data_size:
        return "format", (
            f"{rec.path}: truncated: {pixel_element_name(rec.pixel_vr)} needs {need} bytes from offset "
            f"{rec.pixel_offset} but the file has {rec.data_size} bytes: {TRUNCATED_REMEDY}"
        )
    return _excess_problem(rec)


#: Photometric interpretations of one sample a pixel (PS3.3 C.7.6.3.1.2).
_ONE_SAMPLE = ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR")


def _samples_problem(rec: FrameRecord) -> str:
    """Why a SamplesPerPixel other than 1 contradicts the rest of the file ("" when it does
    not): a photometric interpretation of one sample a pixel, or native pixel data holding one
    sample a pixel where it states more. Refused as a colour image, such a file was sent to
    pydicom for its RGB, which fails on it too."""
    spp = rec.samples_per_pixel
    if spp == 1:
        return ""
    photometric = rec.photometric.upper()
    stated = f"SamplesPerPixel (0028,0002) = {spp}"
    if photometric in _ONE_SAMPLE:
        return (
            f"{stated} but PhotometricInterpretation (0028,0004) {rec.photometric} has one "
            "sample a pixel: the header contradicts itself; fix SamplesPerPixel or "
            "PhotometricInterpretation"
        )
    if rec.transfer_syntax not in UNENCAPSULATED_SYNTAXES or rec.pixel_length < 0:
        return ""  # (a codestream states its components: checked against it)
    if "_42" in photometric:
        return ""  # (YBR_FULL_422, YBR_PARTIAL_420: chroma subsampled, fewer bytes a pixel)
    one = rec.rows * rec.columns * max(1, rec.number_of_frames) * max(1, rec.bits_allocated // 8)
    if spp < 1 or not one <= rec.pixel_length < one * spp:
        return ""
    return (
        f"{stated} but {pixel_element_name(rec.pixel_vr)} holds {rec.pixel_length} bytes, one "
        f"sample a pixel (Rows x Columns x NumberOfFrames x BitsAllocated/8 = {one}), not "
        f"{spp}: the header does not describe its pixels; fix SamplesPerPixel"
    )


def length_past_end(rec: FrameRecord) -> str:
    """Why a native pixel element whose stated length runs past the end of the file cannot be
    read as stated, without the file's name ("" when it does not, or by one byte only: an odd
    length's pad byte left out, which pydicom reads too; or when the length is the image's own:
    the file was cut short, which the truncation check names). The length field is damaged or the
    file was cut short; either way the header does not say where the element ends, and the
    messages that compare that length with the image (an excess of 4 GiB "held" by a 40 kB file)
    would name the wrong fault."""
    if (
        rec.transfer_syntax not in UNENCAPSULATED_SYNTAXES
        or rec.pixel_length < 0
        or rec.pixel_offset < 0
        or rec.pixel_offset + rec.pixel_length <= rec.data_size + 1
    ):
        return ""
    have = max(0, rec.data_size - rec.pixel_offset)
    nbytes = max(1, rec.bits_allocated // 8)
    frames = max(1, rec.number_of_frames)
    samples = max(1, rec.samples_per_pixel)
    need = rec.rows * rec.columns * frames * samples * nbytes
    if rec.pixel_length <= need + 1:
        return ""  # the length the image needs: a file cut short (the truncation check says so)
    compared = "as many as" if have == need else ("more than" if have > need else "fewer than")
    element = pixel_element_name(rec.pixel_vr)
    return (
        f"{element} states a length of {rec.pixel_length} bytes from offset "
        f"{rec.pixel_offset}, past the end of the file, which holds {have} bytes there "
        f"({compared} the {need} that Rows x Columns x NumberOfFrames x SamplesPerPixel x "
        f"BitsAllocated/8 = {rec.rows}x{rec.columns}x{frames}x{samples}x{nbytes} describe): the "
        f"element's length is damaged, or the file was truncated; {TRUNCATED_REMEDY}, or rewrite "
        "the file with its true length (e.g. pydicom: dcmread(path, force=True) then save_as)"
    )


def _excess_problem(rec: FrameRecord) -> tuple[str, str] | None:
    """("format", message) when native pixel data hold more than the header's dimensions
    describe and the rest is not padding (:func:`~.excess.excess_problem`): reading the image as
    stated would return part of the data, scrambled or cut, without a word."""
    problem = excess_problem(rec, pixel_element_name(rec.pixel_vr))
    return ("format", f"{rec.path}: {problem}") if problem else None


def _compressed_problem(rec: FrameRecord, fetch: Fetch) -> tuple[str, str] | None:
    """(kind, message) when a compressed file cannot be read: no decoder for its syntax, Pixel
    Data not encapsulated, damaged items, or a header stating a size its frames cannot be: a
    codestream stating another size, a wider precision or other components, an RLE header
    stating other byte planes, or a frame too short for it (an enhanced file's located frames:
    each frame's)."""
    from pydicom.uid import UID

    ts = rec.transfer_syntax
    missing = decoder_missing(rec)
    if missing:
        return "unsupported", missing
    if rec.number_of_frames > 1 and rec.frame >= 0:
        # frames located (and their items checked) at scan time: each record is one frame's
        # items, at pixel_offset, pixel_length bytes long
        # each local frame's codestream head too (1 KiB read a frame): a later frame may state
        # another size, precision or components than the header, or be too short for its image.
        # A remote object's later frames are checked when read, as before the decode: a read a
        # frame at scan time cost a ranged request each (99 GETs and 3x the object's bytes for
        # 64 frames, against 36 and once).
        problem = _room_problem(rec, rec.pixel_length, b"")
        if problem is None and (rec.frame == 0 or not is_url(rec.path)):
            problem = _codestream_problem(rec, fetch, rec.pixel_offset, rec.pixel_length)
        return ("format", problem) if problem else None
    if rec.pixel_length != -1:
        return "format", (
            f"{rec.path}: Pixel Data (7FE0,0010) of compressed syntax {UID(ts).name} is not "
            "encapsulated (defined length): native pixels under a compressed TransferSyntaxUID "
            "(0002,0010)? The file meta is wrong; fix its transfer syntax or re-export the file"
        )
    fragments: list[tuple[int, int]] = []
    end = _encapsulated_end(rec, fetch, fragments)
    if isinstance(end, str):
        return "format", f"{rec.path}: encapsulated Pixel Data (7FE0,0010) {end}"
    length = end - rec.pixel_offset
    if ts == ENCAPSULATED_UNCOMPRESSED:  # (its frame: its fragments' bytes, the values)
        length = sum(n for _, n in fragments)
    problem = _room_problem(rec, length, b"") or _codestream_problem(rec, fetch, length=length)
    problem = problem or _more_frames(rec, fetch, fragments) or _uncompressed_excess(rec, length)
    return ("format", problem) if problem else None


#: Fragment boundaries of a single-frame file looked at, at scan time, for another frame's start
#: (the pixel read looks at all of them).
BOUNDARIES_CHECKED = 64


def _more_frames(rec: FrameRecord, fetch: Fetch, fragments: list[tuple[int, int]]) -> str | None:
    """The refusal of a single-frame file whose fragments ``[(offset, length), ...]`` hold more
    than one frame (:func:`~.codestream.further_codestream`: NumberOfFrames missing or 1 on a
    multi-frame file; the decoder would return the first frame only)."""
    if len(fragments) < 2 or rec.number_of_frames > 1:
        return None  # (a multi-frame file read whole is refused on its own: not located frames)
    shown = fragments[: BOUNDARIES_CHECKED + 1]
    try:
        heads = [fetch(rec.path, off, min(FRAGMENT_HEAD, n), rec.size) for off, n in shown]
        tails = [
            fetch(rec.path, off + max(0, n - END_MARKER_ROOM), min(END_MARKER_ROOM, n), rec.size)
            for off, n in shown[:-1]
        ]
    except OSError:
        return None  # the read's own error comes when the pixels are read
    further = further_codestream(rec.transfer_syntax, heads, tails)
    return f"{rec.path}: the {more_frames_problem(further, len(fragments))}" if further else None


def decoder_missing(rec: FrameRecord) -> str:
    """Why pydicom cannot decode ``rec``'s compressed transfer syntax here, naming the file and
    what to install; "" when it can (or the syntax is native, or lazyvol reads it itself)."""
    if rec.transfer_syntax in UNENCAPSULATED_SYNTAXES or (
        rec.transfer_syntax == ENCAPSULATED_UNCOMPRESSED
    ):
        return ""
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    ts = rec.transfer_syntax
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        return (
            f"{rec.path}: transfer syntax {UID(ts).name} ({ts}) has no pixel decoder in pydicom "
            "(nor in lazyvol): convert the file to an uncompressed transfer syntax with a tool "
            "that decodes it (video: extract its frames, e.g. with ffmpeg), or re-export it"
        )
    if decoder.is_available:
        return ""
    return (
        f"{rec.path}: {NO_DECODER} {UID(ts).name} ({ts}); install one of: "
        f"{'; '.join(decoder.missing_dependencies)} (pip install 'lazyvol[codecs]')"
    )


def _uncompressed_excess(rec: FrameRecord, length: int) -> str | None:
    """The refusal of a single-frame Encapsulated Uncompressed file whose fragments hold
    ``length`` bytes, more than its image and an odd count's pad byte: the header under-states
    the image (its last values would be dropped without a word)."""
    rows, columns = image_shape(rec)
    need = rows * columns * max(1, rec.samples_per_pixel) * max(1, rec.bits_allocated // 8)
    if rec.transfer_syntax != ENCAPSULATED_UNCOMPRESSED or length <= need + 1:
        return None
    return (
        f"{rec.path}: its Encapsulated Uncompressed fragments hold {length} bytes, more than the "
        f"{need} that Rows (0028,0010) x Columns (0028,0011) x SamplesPerPixel x "
        "BitsAllocated/8 describe: the header under-states the image (or NumberOfFrames is "
        "missing); fix the header or re-export the file"
    )


def _room_problem(rec: FrameRecord, length: int, head: bytes) -> str | None:
    """The refusal of a compressed frame of ``length`` encoded bytes (``head``: the first of its
    codestream, b"" when not read) too short for the image its header states, before anything
    is allocated for it (:func:`~lazyvol.dicom.codestream.room_problem`), named by file and
    frame."""
    segments = max(1, rec.samples_per_pixel) * max(1, rec.bits_allocated // 8)
    problem = room_problem(rec.transfer_syntax, head, length, *image_shape(rec), segments)
    return f"{rec.where}: the {problem}" if problem else None


def _encapsulated_end(
    rec: FrameRecord, fetch: Fetch = read_local, fragments: list[tuple[int, int]] | None = None
) -> int | str:
    """Walk the item headers of encapsulated Pixel Data (seeks only): end offset or a problem;
    the fragments' ``(value offset, length)`` (past the Basic Offset Table) appended to
    ``fragments``."""
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
            if items and fragments is not None:
                fragments.append((pos + 8, length))
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


def _first_value(rec: FrameRecord, fetch: Fetch, pos: int) -> int:
    """Where the value of the first fragment of ``rec``'s file from the item at ``pos`` that is
    not empty starts (an encoder may write an empty fragment before a frame's codestream, which
    pydicom's frame reader skips); past the first item's header when the items read do not say.
    Raises OSError as ``fetch`` does."""
    for _ in range(16):
        head = fetch(rec.path, pos, 8, rec.size)
        if len(head) < 8 or head[:4] != b"\xfe\xff\x00\xe0":
            break
        length = struct.unpack("<L", head[4:8])[0]
        if length:
            return pos + 8
        pos += 8
    return pos + 8


def _codestream_problem(
    rec: FrameRecord, fetch: Fetch, items: int | None = None, length: int = -1
) -> str | None:
    """The refusal of a compressed file whose codestream states another size than its Rows x
    Columns (a mosaic's: its whole image), a precision beyond its BitsAllocated or other
    components than its SamplesPerPixel (:func:`~.codestream.codestream_disagreement`), or whose
    RLE header states other byte planes (:func:`~.codestream.rle_segments_problem`), read from
    the head of the first fragment not empty among the items from file byte ``items`` (default:
    a single-frame file's, past the Basic Offset Table; :func:`_first_value`), or whose ``length`` bytes (the frame's items) are
    too few for its image (:func:`_room_problem`, by what its head tells); None when they agree
    or the head does not say (the pixel reader checks the whole frame again). Records the precision its decoder returns values
    of in ``rec.codestream_bits`` (:func:`~.codestream.kept_precision`)."""
    rle = rec.transfer_syntax == RLE_SYNTAX
    if not rle and rec.transfer_syntax not in SIZED_SYNTAXES:
        return None
    try:
        if items is None:
            head = fetch(rec.path, rec.pixel_offset, 8, rec.size)  # the Basic Offset Table item
            bot = struct.unpack("<L", head[4:8])[0] if len(head) == 8 else 0
            items = rec.pixel_offset + 8 + bot  # past the BOT item
        start = fetch(rec.path, _first_value(rec, fetch, items), CODESTREAM_HEAD, rec.size)
    except OSError:
        return None  # the read's own error comes when the pixels are read
    if rle:  # (its 64-byte header states the segments, no size)
        problem = rle_segments_problem(
            start, rec.samples_per_pixel, rec.bits_allocated
        ) or rle_offsets_problem(start, length)
        return f"{rec.where}: the {problem}" if problem else None
    problem = codestream_disagreement(
        rec.transfer_syntax, start, *image_shape(rec), rec.bits_allocated, rec.samples_per_pixel
    )
    # (what the decoder returns, whatever BitsStored says: the volume's dtype must hold it)
    rec.codestream_bits = kept_precision(rec.transfer_syntax, start)
    if problem:  # (a mosaic's codestream is its whole image's, not a tile's)
        return f"{rec.path if rec.mosaic else rec.where}: the {problem}"
    return _room_problem(rec, length, start) if length >= 0 else None


def image_shape(rec: FrameRecord) -> tuple[int, int]:
    """(rows, columns) of the image stored in ``rec``'s file: a mosaic tile's whole mosaic."""
    return (rec.mosaic[0], rec.mosaic[1]) if rec.mosaic else (rec.rows, rec.columns)
