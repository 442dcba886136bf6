"""The image size a compressed DICOM frame's own codestream states (JPEG, JPEG-LS, JPEG 2000).

A JPEG-family codestream carries its rows and columns (the SOF segment of JPEG and JPEG-LS, the
SIZ segment of JPEG 2000 and HTJ2K); pydicom's decoders shape the decoded samples by the header's
Rows and Columns instead. A header whose Rows and Columns disagree with the codestream but hold the
same number of pixels (swapped, for example) would give a scrambled image with no error, so the
pixel reader compares the two first (:func:`codestream_shape`). RLE has no such header, and its
decoder cuts a segment longer than Rows x Columns to that size without a word (pylibjpeg-rle): the
first segment's decoded length is compared instead (:func:`rle_size_disagreement`).
"""

from __future__ import annotations

import struct

__all__ = [
    "RLE_SYNTAX",
    "SIZED_SYNTAXES",
    "codestream_shape",
    "frame_size_problem",
    "rle_room_problem",
    "rle_size_disagreement",
    "size_disagreement",
]

#: RLE Lossless.
RLE_SYNTAX = "1.2.840.10008.1.2.5"

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
#: Start-of-frame markers: SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC); SOF55 for JPEG-LS.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}
#: Markers without a length field (RSTn, TEM), skipped while looking for the SOF segment.
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def codestream_shape(syntax: str, frame: bytes) -> tuple[int, int] | None:
    """``(rows, columns)`` the codestream of one frame states, or None (another syntax, or a
    header this function does not find: the decoder then judges the data alone)."""
    if syntax in _JPEG:
        return _jpeg_shape(frame)
    if syntax in _J2K:
        return _j2k_shape(frame)
    return None


def size_disagreement(syntax: str, frame: bytes, rows: int, columns: int) -> str | None:
    """Why a compressed frame's header does not describe it (its codestream states another size
    than ``rows`` x ``columns``), or None (the sizes agree, or the codestream states none)."""
    shape = codestream_shape(syntax, frame)
    if shape is None or shape == (rows, columns):
        return None
    return (
        f"compressed image is {shape[0]} rows x {shape[1]} columns but Rows (0028,0010) x "
        f"Columns (0028,0011) say {rows} x {columns}: the header does not describe its pixels; "
        "fix the header or re-encode the file"
    )


def _jpeg_shape(src: bytes) -> tuple[int, int] | None:
    if src[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 9 <= len(src):
        if src[pos] != 0xFF:
            return None
        marker = src[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker in _SOF:  # length(2) precision(1) rows(2) columns(2)
            rows = int.from_bytes(src[pos + 5 : pos + 7], "big")
            columns = int.from_bytes(src[pos + 7 : pos + 9], "big")
            # 0 rows: the number of lines comes later, in a DNL segment (ISO 10918-1 B.2.5)
            return (rows, columns) if rows and columns else None
        if marker == 0xDA:  # start of scan before any SOF: not a frame header we know
            return None
        pos += 2 + int.from_bytes(src[pos + 2 : pos + 4], "big")
    return None


def _j2k_shape(src: bytes) -> tuple[int, int] | None:
    pos = _jp2_codestream(src) if src[4:8] == b"jP  " else 0
    # SOC, then SIZ: Lsiz(2) Rsiz(2) Xsiz(4) Ysiz(4) XOsiz(4) YOsiz(4)
    if pos is None or src[pos : pos + 4] != b"\xff\x4f\xff\x51" or len(src) < pos + 24:
        return None
    x, y, x0, y0 = (int.from_bytes(src[pos + k : pos + k + 4], "big") for k in (8, 12, 16, 20))
    if x <= x0 or y <= y0:
        return None
    return y - y0, x - x0


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


#: An RLE segment decodes to at most 64 times its length: PackBits' best case is a 2-byte
#: replicate run giving 128 bytes (PS3.5 G.3.1).
RLE_MAX_EXPANSION = 64


def rle_room_problem(length: int, rows: int, columns: int, segments: int) -> str | None:
    """Why an RLE frame of ``length`` encoded bytes (its items, headers included) cannot hold
    ``rows`` x ``columns`` x ``segments`` bytes (one plane per segment: samples x bytes per
    sample): more than :data:`RLE_MAX_EXPANSION` times its length, which no RLE stream decodes
    to, so Rows and Columns over-state the image (a decoder allocates what they claim before it
    finds the segments short: pylibjpeg-rle aborts the process when that allocation fails).
    None when the frame has room."""
    need = rows * columns * segments
    if need <= RLE_MAX_EXPANSION * max(length, 0):
        return None
    return (
        f"RLE frame of {length} bytes cannot hold Rows (0028,0010) x Columns (0028,0011) x "
        f"{segments} byte plane(s) = {rows} x {columns} x {segments} = {need} bytes (an RLE "
        f"segment decodes to at most {RLE_MAX_EXPANSION} times its length): the header "
        "over-states the image; fix Rows/Columns or re-encode the file"
    )


def rle_size_disagreement(frame: bytes, rows: int, columns: int) -> str | None:
    """Why an RLE frame's header does not describe it: its first segment (one byte plane) decodes
    to a whole row or more beyond ``rows`` x ``columns`` bytes, so Rows or Columns under-state the
    image. None when it does not, or when the frame cannot be read here (the decoder's own error
    names that). A segment short of the header's size is the decoder's error already."""
    if len(frame) < 64:
        return None
    count = struct.unpack_from("<L", frame, 0)[0]
    offsets = struct.unpack_from("<15L", frame, 4)
    if not 1 <= count <= 15 or not 64 <= offsets[0] < len(frame):
        return None
    end = offsets[1] if count > 1 and offsets[0] < offsets[1] <= len(frame) else len(frame)
    try:
        from rle.utils import decode_segment

        decoded = len(decode_segment(frame[offsets[0] : end]))
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException:  # no pylibjpeg-rle, or a corrupt segment (a Rust decoder panics)
        return None
    if decoded < rows * columns + columns:
        return None
    return (
        f"RLE segments decode to {decoded} bytes a plane but Rows (0028,0010) x Columns "
        f"(0028,0011) say {rows} x {columns} = {rows * columns}: the header under-states its "
        "pixels (the decoder would return part of them); fix the header or re-encode the file"
    )


def frame_size_problem(syntax: str, buf: bytes, rows: int, columns: int) -> str | None:
    """Why the one-frame encapsulated value ``buf`` (its items) cannot be ``rows`` x ``columns``:
    its codestream states another size (:func:`size_disagreement`), or its RLE segments decode
    past that size (:func:`rle_size_disagreement`); decoded samples shaped by the header would
    be a scrambled or cut image, with no error. None otherwise, and for malformed items (the
    decoder's own error names them)."""
    rle = syntax == RLE_SYNTAX
    if not rle and syntax not in SIZED_SYNTAXES:
        return None
    from pydicom.encaps import get_frame

    try:
        frame = get_frame(buf, 0, number_of_frames=1)
    except Exception:
        return None
    if rle:
        return rle_size_disagreement(frame, rows, columns)
    return size_disagreement(syntax, frame, rows, columns)
