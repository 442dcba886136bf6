"""What a compressed DICOM frame's own codestream states (JPEG, JPEG-LS, JPEG 2000).

A JPEG-family codestream carries its rows, columns, sample precision and component count (the SOF
segment of JPEG and JPEG-LS, the SIZ segment of JPEG 2000 and HTJ2K); pydicom's decoders shape
and type the decoded samples by the header's Rows, Columns, BitsAllocated and SamplesPerPixel
instead. A header whose Rows and Columns disagree with the codestream but hold the same number of
pixels (swapped, for example) would give a scrambled image with no error, and a precision beyond
BitsAllocated values cut to the header's type, so the pixel reader compares the two first
(:func:`codestream_disagreement`). A precision within BitsAllocated but beyond BitsStored is no
error: pydicom clears the bits above BitsStored of JPEG and RLE frames, but returns JPEG 2000,
HTJ2K and JPEG-LS values at the codestream's precision (:data:`PRECISION_KEPT`), and so does
lazyvol; the dtype of a volume is chosen to hold them (:func:`kept_precision`, read at open), and
the pixel reader checks each decoded frame against the range that dtype was chosen for. The sign
of a JPEG 2000 component is not compared: pydicom takes PixelRepresentation's and corrects values
encoded with the other (encoders that wrote signed data as unsigned exist). RLE has no such
header, and its decoder cuts a segment longer than Rows x Columns to that size without a word
(pylibjpeg-rle): the first segment's decoded length is compared instead
(:func:`rle_size_disagreement`); its header's segment count is compared with the byte planes
SamplesPerPixel and BitsAllocated make (:func:`rle_segments_problem`). A JPEG-family codestream ends with the marker FFD9 (EOI of JPEG
and JPEG-LS, EOC of JPEG 2000); libjpeg (pylibjpeg) decodes a JPEG or JPEG-LS stream cut short
without an error, filling the rest of the frame with whatever it makes of the missing data, so a
frame holding no FFD9 followed only by padding is refused before it is decoded
(:func:`end_marker_problem`).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from .j2k_tiles import missing_tiles_problem, tiles_room_problem
from .rle_frames import (
    RLE_MAX_EXPANSION,
    rle_offsets_problem,
    rle_room_problem,
    rle_segments_problem,
    rle_size_disagreement,
)

__all__ = [
    "ENCAPSULATED_UNCOMPRESSED",
    "RLE_MAX_EXPANSION",
    "END_MARKER_ROOM",
    "FRAGMENT_HEAD",
    "PRECISION_KEPT",
    "RLE_SYNTAX",
    "SIZED_SYNTAXES",
    "CodestreamHeader",
    "codestream_disagreement",
    "codestream_header",
    "decoding_bytes",
    "end_marker_problem",
    "ends_codestream",
    "frame_problem",
    "fragments_of",
    "further_codestream",
    "more_frames_problem",
    "holds_end_marker",
    "jpeg_sample_bytes",
    "kept_precision",
    "rle_offsets_problem",
    "rle_room_problem",
    "rle_segments_problem",
    "rle_size_disagreement",
    "room_problem",
]

#: RLE Lossless.
RLE_SYNTAX = "1.2.840.10008.1.2.5"
#: Encapsulated Uncompressed Explicit VR Little Endian: each frame's fragments hold its values as
#: native little-endian data do (PS3.5 A.4.11); lazyvol reads them itself (pydicom 3 and dcm2niix
#: have no decoder for it).
ENCAPSULATED_UNCOMPRESSED = "1.2.840.10008.1.2.1.98"

_JPEG = {
    "1.2.840.10008.1.2.4.50",  # baseline
    "1.2.840.10008.1.2.4.51",  # extended
    "1.2.840.10008.1.2.4.57",  # lossless
    "1.2.840.10008.1.2.4.70",  # lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
}
_J2K = {
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.201",  # HTJ2K lossless
    "1.2.840.10008.1.2.4.202",  # HTJ2K lossless RPCL
    "1.2.840.10008.1.2.4.203",  # HTJ2K
}
#: Transfer syntaxes whose codestream states the image size (RLE's does not).
SIZED_SYNTAXES = frozenset(_JPEG | _J2K)
#: Transfer syntaxes whose decoded values are the codestream's, whatever BitsStored says: pydicom
#: clears the bits above BitsStored of JPEG and RLE frames (as of native ones), but not of JPEG
#: 2000 and HTJ2K frames, nor of JPEG-LS ones (a sign correction only).
PRECISION_KEPT = frozenset(_J2K | {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"})
#: Bytes at the end of a fragment that hold the end marker FFD9 of a frame ending there, where
#: frames are found by marker search (several fragments, no offset table): padding may follow it
#: (``FFD9 00``, ``FFD9 FF`` ...), as pydicom's ``generate_frames`` allows.
END_MARKER_ROOM = 10
#: Start-of-frame markers: SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC); SOF55 for JPEG-LS.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}
#: Markers without a length field (RSTn, TEM), skipped while looking for the SOF segment.
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


class CodestreamHeader(NamedTuple):
    """What one frame's codestream states; None where it does not (or the head read is short)."""

    #: (rows, columns); None when the rows come later (a JPEG DNL segment).
    shape: tuple[int, int] | None
    #: Bits of a sample (the largest of the components').
    precision: int | None
    #: Components of a pixel (SamplesPerPixel's counterpart).
    components: int | None


def codestream_header(syntax: str, frame: bytes) -> CodestreamHeader | None:
    """What the codestream of one frame states, or None (another syntax, or a header this
    function does not find: the decoder then judges the data alone)."""
    if syntax in _JPEG:
        return _jpeg_header(frame)
    if syntax in _J2K:
        return _j2k_header(frame)
    return None


#: Bytes a JPEG 2000 / HTJ2K decoder holds for each sample besides the decoded frame: OpenJPEG
#: (pydicom's and imagecodecs' decoder) decodes into a 32-bit buffer of the whole image and
#: another of each tile, whatever the precision (a blank 8192 x 8192 16-bit frame of 357 bytes
#: peaked at 786 MB for its 128 MB).
J2K_WORK_BYTES = 8


def decoding_bytes(syntax: str, rows: int, columns: int, bits_allocated: int) -> int:
    """Bytes decoding one ``rows`` x ``columns`` frame of ``syntax`` takes: the frame itself, and
    for JPEG 2000 and HTJ2K the decoder's 32-bit buffers (:data:`J2K_WORK_BYTES` a sample)."""
    pixels = max(0, rows) * max(0, columns)
    work = J2K_WORK_BYTES * pixels if syntax in _J2K else 0
    return pixels * max(1, bits_allocated // 8) + work


#: ISO 10918 JPEG (not JPEG-LS): pydicom's decoders of these (pylibjpeg's libjpeg, Pillow) return
#: a codestream's samples one byte each (precision up to 8) or two (up to 16), whatever
#: BitsAllocated says.
_JPEG_10918 = _JPEG - {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}


def jpeg_sample_bytes(syntax: str, buf: bytes) -> int:
    """Bytes a sample of the ISO 10918 JPEG codestream (baseline, extended, lossless) in the
    one-frame encapsulated value ``buf`` (its items) is decoded into: 1 for a precision of at most
    8 bits, else 2; 0 for other syntaxes or when its SOF segment does not say. Its decoders return
    samples of that size whatever BitsAllocated says, and pydicom then fails to shape them as
    wider samples (8-bit samples under BitsAllocated 16, 12-bit ones under 32)."""
    if syntax not in _JPEG_10918:
        return 0
    from pydicom.encaps import get_frame

    try:
        frame = get_frame(buf, 0, number_of_frames=1)
    except Exception:
        return 0
    head = _jpeg_header(frame)
    if head is None or not head.precision:
        return 0
    return 1 if head.precision <= 8 else 2


def kept_precision(syntax: str, frame: bytes) -> int:
    """Bits of the values a decoder returns for the codestream ``frame`` (its head is enough) of a
    :data:`PRECISION_KEPT` syntax: the precision its header states; 0 for other syntaxes, and
    when the header does not say."""
    head = codestream_header(syntax, frame) if syntax in PRECISION_KEPT else None
    return (head.precision or 0) if head is not None else 0


def codestream_disagreement(
    syntax: str, frame: bytes, rows: int, columns: int, bits_allocated: int, samples: int
) -> str | None:
    """Why a compressed frame's header does not describe it (its codestream states another size
    than ``rows`` x ``columns``, a precision beyond ``bits_allocated`` or another number of
    components than ``samples``), or None (they agree, or the codestream does not say)."""
    kind = _family_problem(syntax, frame)
    if kind:
        return kind
    head = codestream_header(syntax, frame)
    if head is None:
        return None
    fix = "the header does not describe its pixels; fix {} or re-encode the file"
    if head.shape is not None and head.shape != (rows, columns):
        return (
            f"compressed image is {head.shape[0]} rows x {head.shape[1]} columns but Rows "
            f"(0028,0010) x Columns (0028,0011) say {rows} x {columns}: " + fix.format("the header")
        )
    if head.precision is not None and head.precision > bits_allocated:
        return (
            f"compressed image has {head.precision}-bit samples but BitsAllocated (0028,0100) is "
            f"{bits_allocated}, so its values would be cut: "
            + fix.format("BitsAllocated, BitsStored and HighBit")
        )
    if head.components is not None and head.components != samples:
        return (
            f"compressed image has {head.components} component(s) a pixel but SamplesPerPixel "
            f"(0028,0002) is {samples}: "
            + fix.format("SamplesPerPixel and PhotometricInterpretation")
        )
    return None


#: JP2 signature box (ISO 15444-1 I.5.1), the start of a JP2 file.
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  "


def _family(frame: bytes) -> str:
    """The codestream family the first bytes of ``frame`` start (``""``: none known)."""
    if frame[:2] == b"\xff\xd8":
        return "JPEG"  # SOI: JPEG and JPEG-LS alike
    if frame[:4] == b"\xff\x4f\xff\x51" or frame[:12].startswith(_JP2_SIGNATURE):
        return "JPEG 2000"
    return ""


def _family_problem(syntax: str, frame: bytes) -> str | None:
    """Why a frame is not the codestream its transfer syntax names (a JPEG 2000 codestream
    labelled JPEG Baseline decoded, through a decoder that looks at the data, into values off by
    32768 with no error), or None. Only frames whose first bytes were read are judged."""
    want = "JPEG" if syntax in _JPEG else "JPEG 2000" if syntax in _J2K else ""
    if not want or len(frame) < 4:
        return None
    got = _family(frame)
    if got == want == "JPEG":
        return _jpeg_ls_problem(syntax, frame)
    if got == want:
        return None
    what = f"a {got} codestream" if got else f"no {want} codestream (it starts {frame[:4].hex()})"
    return (
        f"compressed frame holds {what}, but TransferSyntaxUID (0002,0010) {syntax} says "
        f"{want}: the header does not describe its pixels; fix the transfer syntax or "
        "re-encode the file"
    )


#: JPEG-LS transfer syntaxes, whose frames are JPEG-LS codestreams (frame header SOF55, FFF7).
_JPEG_LS = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}


def _jpeg_ls_problem(syntax: str, frame: bytes) -> str | None:
    """Why a JPEG-family frame is not the kind its syntax names: a JPEG-LS codestream (frame
    header SOF55) under a JPEG syntax, or a JPEG one (SOF0 to SOF15) under a JPEG-LS syntax. The
    decoder is chosen by the syntax, so such a frame decodes or fails depending on the plugins
    installed (libjpeg takes both kinds, CharLS and Pillow one each). None when they agree or the
    frame header is not among the bytes read."""
    pos = _jpeg_frame_header(frame)
    if pos < 0:
        return None
    marker = frame[pos + 1]
    is_ls, says_ls = marker == 0xF7, syntax in _JPEG_LS
    if is_ls == says_ls:
        return None
    got = (
        "a JPEG-LS codestream (frame header SOF55, FFF7)"
        if is_ls
        else (f"a JPEG codestream (frame header SOF{marker - 0xC0}, FF{marker:02X}), not JPEG-LS")
    )
    return (
        f"compressed frame holds {got}, but TransferSyntaxUID (0002,0010) {syntax} says "
        f"{'JPEG-LS' if says_ls else 'JPEG (not JPEG-LS)'}: the header does not describe its "
        "pixels, and whether a decoder takes them depends on the plugins installed; fix the "
        "transfer syntax or re-encode the file"
    )


def _jpeg_header(src: bytes) -> CodestreamHeader | None:
    pos = _jpeg_frame_header(src)
    if pos < 0:
        return None
    rows = int.from_bytes(src[pos + 5 : pos + 7], "big")
    columns = int.from_bytes(src[pos + 7 : pos + 9], "big")
    # 0 rows: the number of lines comes later, in a DNL segment (ISO 10918-1 B.2.5)
    shape = (rows, columns) if rows and columns else None
    return CodestreamHeader(shape, src[pos + 4] or None, src[pos + 9] or None)


def _jpeg_frame_header(src: bytes) -> int:
    """Where the frame header (SOFn marker) of the JPEG or JPEG-LS codestream ``src`` is, within
    the bytes read (-1: not found, or not such a codestream)."""
    if src[:2] != b"\xff\xd8":
        return -1
    pos = 2
    while pos + 10 <= len(src):
        if src[pos] != 0xFF:
            return -1
        marker = src[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker in _SOF:  # length(2) precision(1) rows(2) columns(2) components(1)
            return pos
        if marker == 0xDA:  # start of scan before any SOF: not a frame header we know
            return -1
        pos += 2 + int.from_bytes(src[pos + 2 : pos + 4], "big")
    return -1


def _j2k_header(src: bytes) -> CodestreamHeader | None:
    pos = _jp2_codestream(src) if src[4:8] == b"jP  " else 0
    # SOC, then SIZ: Lsiz(2) Rsiz(2) Xsiz(4) Ysiz(4) XOsiz(4) YOsiz(4), four tile fields (4 each),
    # Csiz(2), then Ssiz(1) XRsiz(1) YRsiz(1) a component (Ssiz: sign bit, precision - 1)
    if pos is None or src[pos : pos + 4] != b"\xff\x4f\xff\x51" or len(src) < pos + 24:
        return None
    x, y, x0, y0 = (int.from_bytes(src[pos + k : pos + k + 4], "big") for k in (8, 12, 16, 20))
    shape = (y - y0, x - x0) if x > x0 and y > y0 else None
    count = int.from_bytes(src[pos + 40 : pos + 42], "big") if len(src) >= pos + 42 else 0
    ssiz = src[pos + 42 : pos + 42 + 3 * count : 3]  # those the head read holds
    precision = max((b & 0x7F) + 1 for b in ssiz) if ssiz else None
    return CodestreamHeader(shape, precision, count or None)


def _jp2_codestream(src: bytes) -> int | None:
    """Where the codestream of a JP2 file starts (its contiguous codestream box, jp2c)."""
    at = 0
    while at + 8 <= len(src):
        size = int.from_bytes(src[at : at + 4], "big")
        if src[at + 4 : at + 8] == b"jp2c":
            return at + 8
        if size < 8:
            return None
        at += size
    return None


#: Lossless JPEG (SOF3) and DCT JPEG of Huffman coding (SOF0 baseline, SOF1 extended, SOF2
#: progressive): the least they code is a Huffman code (at least one bit) for each sample, or for
#: each 8 x 8 block's DC difference; arithmetic and hierarchical coding have no such floor.
_HUFFMAN_LOSSLESS, _HUFFMAN_DCT = {0xC3}, {0xC0, 0xC1, 0xC2}


def _least_bits(syntax: str, frame: bytes, rows: int, columns: int) -> tuple[int, str]:
    """(bits, unit): the fewest bits a codestream of ``syntax`` (its head ``frame`` read, for a
    JPEG's frame header) codes ``rows`` x ``columns`` of one component in, one bit per unit; (0,
    "") when it has no floor (JPEG 2000 and HTJ2K code an empty code-block in no bit: a blank 4096
    x 4096 frame is 195 bytes) or the head does not say. JPEG-LS codes each line in at least one
    bit (a run ending at the line's end, or a sample coded in regular mode: a blank 4096 x 4096
    frame takes 636 bytes, 65535 x 1 takes 8,809)."""
    if syntax in _JPEG_LS:
        return rows, "line"
    pos = _jpeg_frame_header(frame) if syntax in _JPEG_10918 else -1
    if pos < 0 or frame[pos + 9] != 1:  # (one component only: sampling factors aside)
        return 0, ""
    if frame[pos + 1] in _HUFFMAN_LOSSLESS:
        return rows * columns, "sample"
    if frame[pos + 1] in _HUFFMAN_DCT:
        return -(-rows // 8) * -(-columns // 8), "8 x 8 block"
    return 0, ""


def room_problem(
    syntax: str, frame: bytes, length: int, rows: int, columns: int, segments: int
) -> str | None:
    """Why a compressed frame of ``length`` encoded bytes (its items; ``frame``: its codestream,
    or as much of its head as was read) cannot hold ``rows`` x ``columns``: fewer bytes than its
    codec codes that image in at the least (an RLE frame's ``segments`` byte planes, by
    :func:`rle_room_problem`; JPEG and JPEG-LS, :func:`_least_bits`), so Rows and Columns
    over-state the image and a decoder would allocate what they claim before it finds the data
    short; an Encapsulated Uncompressed frame holds its values themselves. None when the frame
    has room, or its codec has no such floor (JPEG 2000, HTJ2K: only their tiles' tile-parts,
    :func:`~.j2k_tiles.tiles_room_problem`; the size limit, ``LAZYVOL_MAX_CHUNK_BYTES``, bounds
    what a one-tile codestream claims)."""
    if syntax == RLE_SYNTAX:
        return rle_room_problem(length, rows, columns, segments)
    if syntax == ENCAPSULATED_UNCOMPRESSED and rows * columns * segments > length:
        return (
            f"Encapsulated Uncompressed frame of {length} bytes cannot hold Rows (0028,0010) x "
            f"Columns (0028,0011) x {segments} byte(s) a pixel = {rows} x {columns} x {segments} "
            f"= {rows * columns * segments} bytes (its fragments hold the values themselves): "
            "the header over-states the image or the file is damaged; fix Rows/Columns or "
            "re-export the file"
        )
    if syntax in _J2K:
        return tiles_room_problem(frame, length)
    bits, unit = _least_bits(syntax, frame, rows, columns)
    if bits <= 8 * max(length, 0):
        return None
    kind = "JPEG-LS" if syntax in _JPEG_LS else "JPEG"
    return (
        f"{kind} frame of {length} bytes cannot hold Rows (0028,0010) x Columns (0028,0011) = "
        f"{rows} x {columns}: its codestream codes at least one bit per {unit}, {bits} bits "
        f"({-(-bits // 8)} bytes): the header over-states the image; fix Rows/Columns or "
        "re-encode the file"
    )


def holds_end_marker(tail: bytes) -> bool:
    """Whether the last :data:`END_MARKER_ROOM` bytes of ``tail`` (the end of a fragment of a
    JPEG, JPEG-LS or JPEG 2000 frame) hold the end marker FFD9: pydicom's rule for where a frame
    ends among fragments no offset table locates (the marker search of :mod:`.multiframe`), not a
    test of a whole frame (:func:`ends_codestream`)."""
    return b"\xff\xd9" in tail[-END_MARKER_ROOM:]


#: Bytes that may follow a codestream's end marker: padding (an odd length's pad byte, an
#: encoder's or a PACS's zeros, FF fill bytes).
_PADDING = b"\x00\xff"


def ends_codestream(frame: bytes) -> bool:
    """Whether the whole frame ``frame`` (a JPEG, JPEG-LS or JPEG 2000 codestream) holds its end
    marker FFD9 followed only by padding (00 or FF bytes), however much: decoders stop at the
    marker, so the padding is no damage. Coded data never hold FFD9 themselves: JPEG stuffs a 00
    after every FF of entropy-coded data, JPEG-LS a 0 bit, JPEG 2000 packet data hold no FF
    followed by a byte over 8F; so a frame cut short ends with data, not with that marker. A few
    bytes of other trailer after the marker (within :data:`END_MARKER_ROOM`: an encoder's CR LF)
    are no damage either, as pydicom reads them."""
    return frame.rstrip(_PADDING).endswith(b"\xff\xd9") or holds_end_marker(frame)


def end_marker_problem(syntax: str, frame: bytes) -> str | None:
    """Why the whole codestream ``frame`` of a JPEG-family ``syntax`` is cut short: no end marker
    FFD9 (EOI, or EOC for JPEG 2000) followed only by padding ends it
    (:func:`ends_codestream`); None when one does, and for other syntaxes."""
    if syntax not in SIZED_SYNTAXES or ends_codestream(frame):
        return None
    marker = "EOC" if syntax in _J2K else "EOI"
    return (
        f"compressed data ({len(frame)} bytes, ending {frame[-4:].hex()}) do not end with the "
        f"{marker} marker FFD9 that ends every codestream (only padding, 00 or FF bytes, may "
        "follow it): the frame was cut short (a truncated file or fragment), and a decoder would "
        "fill the rest of the image with made-up values; the file is damaged, re-export it"
    )


def more_frames_problem(further: int, fragments: int) -> str:
    """The refusal of the fragments of one frame among which fragment ``further`` (of
    ``fragments``) starts another frame (:func:`further_codestream`)."""
    return (
        f"compressed data hold more than one frame: fragment {further + 1} of their {fragments} "
        "starts another codestream after the one before ends, so NumberOfFrames (0028,0008) "
        "(missing or "
        "too small) or the Basic Offset Table under-states the frames, and a decoder would read "
        "the first only, dropping the rest without a word; fix NumberOfFrames (pydicom reads the "
        "frames once it is right) or re-export the file"
    )


def _starts_codestream(syntax: str, head: bytes) -> bool:
    """Whether a fragment whose first bytes are ``head`` starts a whole frame of ``syntax``: a
    JPEG or JPEG-LS SOI followed by a marker, a JPEG 2000 SOC and SIZ or JP2 signature, an RLE
    header (1 to 15 segments, the first at byte 64: PS3.5 G.5)."""
    if syntax == RLE_SYNTAX:
        if len(head) < 8:
            return False
        count, first = struct.unpack("<LL", head[:8])
        return 1 <= count <= 15 and first == 64
    if syntax in _JPEG:
        return head[:3] == b"\xff\xd8\xff"
    if syntax in _J2K:
        return head[:4] == b"\xff\x4f\xff\x51" or head[:12].startswith(_JP2_SIGNATURE)
    return False


#: Bytes of a fragment's start that tell whether it starts a frame (:func:`further_codestream`).
FRAGMENT_HEAD = 12


def further_codestream(syntax: str, heads: list[bytes], tails: list[bytes]) -> int:
    """The index of the first fragment after the first that starts another frame, among the
    fragments of what is read as one frame (0: none does): fragment ``k`` (its first
    :data:`FRAGMENT_HEAD` bytes ``heads[k]``) starts a whole codestream right after fragment
    ``k - 1`` (its last :data:`END_MARKER_ROOM` bytes ``tails[k - 1]``) holds the end marker, as
    pydicom tells frames apart among fragments no offset table locates; for RLE, whose frames are
    one fragment each (PS3.5 A.4.2), any later fragment that starts an RLE header. A decoder
    given them all decodes the first codestream and ignores the rest: frames dropped without a
    word."""
    rle = syntax == RLE_SYNTAX
    if not rle and syntax not in SIZED_SYNTAXES:
        return 0
    for k in range(1, min(len(heads), len(tails) + 1)):
        if (rle or holds_end_marker(tails[k - 1])) and _starts_codestream(syntax, heads[k]):
            return k
    return 0


def fragments_of(buf: bytes) -> list[bytes]:
    """The fragments (items after the Basic Offset Table) of the encapsulated value ``buf``, as
    far as its item headers are sound (the decoder's own error names damaged ones)."""
    out: list[bytes] = []
    pos, first = 0, True
    while pos + 8 <= len(buf):
        tag, length = struct.unpack_from("<LL", buf, pos)
        if tag != 0xE000FFFE or length == 0xFFFFFFFF or pos + 8 + length > len(buf):
            break
        if not first:
            out.append(buf[pos + 8 : pos + 8 + length])
        first = False
        pos += 8 + length
    return out


def frame_problem(
    syntax: str, buf: bytes, rows: int, columns: int, bits_allocated: int, samples: int
) -> str | None:
    """Why the one-frame encapsulated value ``buf`` (its items) cannot be ``rows`` x ``columns``
    of ``samples`` samples of ``bits_allocated`` bits: its codestream is cut short
    (:func:`end_marker_problem`), states another size, a wider precision or other components
    (:func:`codestream_disagreement`), or its RLE segments are other byte planes
    (:func:`rle_segments_problem`) or decode past that size (:func:`rle_size_disagreement`), or
    it is too short for that size (:func:`room_problem`); decoded samples shaped and typed by the
    header would be a scrambled, cut or partly made-up image, with no error (or a claimed size
    allocated before the data are found short). None otherwise, and for malformed items (the
    decoder's own error names them)."""
    rle = syntax == RLE_SYNTAX
    if not rle and syntax not in SIZED_SYNTAXES:
        return None
    from pydicom.encaps import get_frame

    try:
        frame = get_frame(buf, 0, number_of_frames=1)
    except Exception:
        return None
    fragments = fragments_of(buf)
    further = further_codestream(
        syntax, [f[:FRAGMENT_HEAD] for f in fragments], [f[-END_MARKER_ROOM:] for f in fragments]
    )
    if further:
        return more_frames_problem(further, len(fragments))
    if rle:
        return (
            rle_segments_problem(frame, samples, bits_allocated)
            or rle_offsets_problem(frame, len(frame))
            or rle_size_disagreement(frame, rows, columns)
        )
    return (
        codestream_disagreement(syntax, frame, rows, columns, bits_allocated, samples)
        or end_marker_problem(syntax, frame)
        or room_problem(syntax, frame, len(frame), rows, columns, samples)
        or (missing_tiles_problem(frame) if syntax in _J2K else None)
    )
