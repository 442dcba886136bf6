"""Native pixel data longer than the image its header states: padding, or an under-stated image.

DICOM PS3.5 8.1.1 asks receivers to accept Pixel Data longer than the image (padding some older
applications write; pydicom warns and trims it), and padding holds no data. So the bytes past the
image the header states are judged by what they hold: one byte is an odd length's pad; a whole
frame or more means the header under-states the image, whatever they hold; in between, all zero
bytes are padding (trimmed), and a non-zero byte means Rows or Columns under-state the image (read
as stated, every slice would lose rows, or be sheared: Columns under-stated by one leaves Rows
pixels past the image, less than a row when the image is wider than tall). Past a mosaic (or a
grid of tiles) a row or more is refused whatever it holds: its blank tiles are zeros, so an
under-stated Rows may leave only zeros past the stated image, and its tiles would be cut across
their borders. The header scan reads those bytes (:func:`excess_holds_data`, only for a file with
such an excess) and records the answer, so the refusal (:func:`excess_problem`) comes at open, for
single-frame, mosaic and enhanced files alike. So does the refusal of a native pixel element of
undefined length (:func:`undefined_length_problem`), whose bytes are items, not pixels.
"""

from __future__ import annotations

from .model import UNENCAPSULATED_SYNTAXES
from .records import FrameRecord
from .source import Fetch

__all__ = ["excess_holds_data", "excess_problem", "undefined_length_problem"]

#: Bytes of the excess read at a time at scan time (it is less than a frame, within the file).
_CHUNK = 1 << 20


def undefined_length_problem(rec: FrameRecord, element: str = "Pixel Data (7FE0,0010)") -> str:
    """Why ``rec``'s pixel element (``element``, as messages name it) cannot be read under its
    native transfer syntax: it has an undefined length, so it holds items (compressed data), not
    pixels; "" when it has a defined length or the syntax is not native. Checked on the file's
    own record, before an enhanced file's frames are located (they get defined lengths)."""
    if rec.transfer_syntax not in UNENCAPSULATED_SYNTAXES or rec.pixel_length >= 0:
        return ""
    return (
        f"{element} has an undefined length, which only compressed (encapsulated) pixel data may "
        f"have, but TransferSyntaxUID (0002,0010) is the uncompressed {rec.transfer_syntax}: the "
        "file meta is wrong (a compressed file relabelled?); re-export the file or fix its "
        "transfer syntax"
    )


def _stated(rec: FrameRecord) -> tuple[int, int, int, int, int]:
    """``(rows, columns, frames, bytes of a row, bytes of a frame)`` of the image in ``rec``'s
    pixel element as its header states it (a mosaic tile's: the whole mosaic)."""
    rows, columns = (rec.mosaic[0], rec.mosaic[1]) if rec.mosaic else (rec.rows, rec.columns)
    frames = 1 if rec.mosaic else max(1, rec.number_of_frames)
    row = columns * max(1, rec.samples_per_pixel) * max(1, rec.bits_allocated // 8)
    return rows, columns, frames, row, rows * row


def _excess(rec: FrameRecord) -> int:
    """Bytes of ``rec``'s native pixel element past the image its header states (<= 0: none)."""
    if rec.transfer_syntax not in UNENCAPSULATED_SYNTAXES or rec.pixel_length < 0:
        return 0
    _, _, frames, _, frame = _stated(rec)
    return rec.pixel_length - frame * frames


def _pad_byte(extra: int, frame: int, frames: int) -> bool:
    """Is an excess of ``extra`` bytes past ``frames`` frames of ``frame`` bytes the one pad byte
    of an odd length (PS3.5 7.1.1)? As long as a frame of one 8-bit pixel: the pad byte (a zero,
    as PS3.5 says, :func:`excess_holds_data` reads it) or that frame again."""
    return extra == 1 and frame * frames % 2 == 1


def excess_holds_data(rec: FrameRecord, fetch: Fetch) -> bool:
    """Whether the bytes of ``rec``'s native pixel element past the image its header states, more
    than an odd length's pad byte and less than a frame of them (or that pad byte, when a frame is
    one byte), hold a non-zero byte (data, not padding).

    Reads them (those the file holds, :data:`_CHUNK` bytes at a time, up to the first non-zero
    one) only for a file with such an excess: other files cost no read. False when they cannot
    be read (the pixel read's own error names that)."""
    extra = _excess(rec)
    _, _, frames, row, frame = _stated(rec)
    if row <= 0 or not (1 < extra < frame or (frame == 1 and _pad_byte(extra, frame, frames))):
        return False
    pos = rec.pixel_offset + frame * frames
    end = min(rec.pixel_offset + rec.pixel_length, rec.data_size)
    try:
        while pos < end:
            chunk = fetch(rec.path, pos, min(_CHUNK, end - pos), rec.size)
            if not chunk:
                break
            if chunk.count(0) != len(chunk):
                return True
            pos += len(chunk)
    except OSError:
        return False
    return False


def excess_problem(rec: FrameRecord, element: str = "Pixel Data (7FE0,0010)") -> str | None:
    """Why ``rec``'s native pixel element (``element``, as messages name it) holds more than its header states: a whole
    frame or more beyond it, bytes that :func:`excess_holds_data` found holding data
    (``rec.excess_data``), or a row or more past a mosaic; None when there is no excess or it is
    padding."""
    extra = _excess(rec)
    rows, columns, frames, row, frame = _stated(rec)
    if frame <= 0 or extra <= 0 or (_pad_byte(extra, frame, frames) and not rec.excess_data):
        return None  # (one byte past an odd length: the pad byte that makes it even, PS3.5 7.1.1)
    cut = (
        ", so Rows (0028,0010) or Columns (0028,0011) under-state the image and reading it as "
        "stated would return it cut or scrambled; fix Rows/Columns"
    )
    if extra >= frame:
        why = (
            "at least one whole frame more, so the header under-states the image (wrong Rows, "
            "Columns, BitsAllocated or NumberOfFrames?) and reading it as stated would return "
            "part of the data; fix the header"
        )
    elif rec.excess_data:
        why = "data (non-zero bytes, where padding is zeros)" + cut
    elif rec.mosaic and extra >= row:
        why = "a row or more past a mosaic, whose blank tiles are zeros as padding is" + cut
    else:
        return None
    return (
        f"{element} holds {rec.pixel_length} bytes, {extra} more than the "
        f"{frame * frames} that Rows x Columns x NumberOfFrames x SamplesPerPixel x "
        f"BitsAllocated/8 = {rows}x{columns}x{frames}x{max(1, rec.samples_per_pixel)}x"
        f"{max(1, rec.bits_allocated // 8)} describe: {why}"
    )


#: What to do with a file of a BitsAllocated lazyvol does not read (0: any other value, which
#: pydicom does not read either: no numpy dtype holds 24- or 48-bit samples).
_BITS_FIX = {
    1: "read the file with pydicom (Dataset.pixel_array unpacks the bits), or re-export it with 8 "
    "bits allocated",
    64: "read the file with pydicom (Dataset.pixel_array reads 64-bit integers), or re-export it "
    "with 32 bits allocated",
    0: "pydicom does not read it either (no numpy dtype holds such samples; 12 is old ACR-NEMA "
    "packing): convert the file to 8, 16 or 32 bits allocated (GDCM, DCMTK), or fix the header",
}


def bits_allocated_problem(rec: FrameRecord) -> str:
    """Why lazyvol cannot read ``rec``'s samples as BitsAllocated (0028,0100) states them (not 8,
    16 or 32; Double Float Pixel Data excepted), with what to do; "" when it can. Checked before
    any size that BitsAllocated / 8 measures (a classic image's or an enhanced file's frames)."""
    if rec.bits_allocated in (8, 16, 32) or rec.pixel_vr == "OD":
        return ""
    return (
        f"BitsAllocated (0028,0100) = {rec.bits_allocated} is not supported (8, 16 or 32): "
        f"{_BITS_FIX.get(rec.bits_allocated, _BITS_FIX[0])}"
    )
