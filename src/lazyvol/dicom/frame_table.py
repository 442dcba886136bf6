"""A stacked volume's frame table (:class:`FrameTable`: where each frame is and how it is stored),
its rescale pairs and its output dtype: the last step of :func:`lazyvol.dicom.stacking.build_volume`.
"""

from __future__ import annotations

import numpy as np

from ..scaling import common_stored_dtype, scaled_dtype_bits
from .model import NATIVE_SYNTAXES, FrameTable, pixel_encoding, stored_dtype
from .records import FrameRecord

__all__ = ["frame_table", "output_dtype", "rescale_pair"]


def output_dtype(frames: list[FrameRecord], scale_of: dict[int, tuple[float, float]]) -> np.dtype:
    """The dtype holding every frame's rescaled values exactly where it can
    (:func:`~lazyvol.scaling.scaled_dtype_bits`: from the widest BitsStored of the frames, and
    the range of every stored dtype when the files differ in BitsAllocated/PixelRepresentation)."""
    kinds = {(np.dtype(stored_dtype(r)), r.bits_stored) for r in frames}
    pairs = [scale_of[id(r)] for r in frames]
    if len({d for d, _ in kinds}) == 1:
        stored = np.dtype(stored_dtype(frames[0]))
        return scaled_dtype_bits(stored, max(b for _, b in kinds), pairs)
    bits = max(b for _, b in kinds)
    return scaled_dtype_bits(common_stored_dtype(kinds), bits, pairs, sorted(kinds, key=str))


def frame_table(
    first: FrameRecord,
    slots_all: list[FrameRecord | None],
    scale_of: dict[int, tuple[float, float]],
) -> FrameTable:
    """Where each frame is (k fastest, then the 4th axis; filled-in slices have no file)."""
    remote = any(r.etag for r in slots_all if r)
    encodings = tuple(pixel_encoding(r) if r else "" for r in slots_all)
    stored_bits = tuple((r or first).bits_stored for r in slots_all)
    stored_types = tuple(stored_dtype(r or first) for r in slots_all)
    return FrameTable(
        paths=tuple(r.path if r else "" for r in slots_all),
        offsets=tuple(r.pixel_offset if r else -1 for r in slots_all),
        slopes=tuple(scale_of[id(r)][0] if r else 1.0 for r in slots_all),
        inters=tuple(scale_of[id(r)][1] if r else 0.0 for r in slots_all),
        sizes=tuple(r.size if r else 0 for r in slots_all),
        lengths=tuple(
            (r.pixel_length if r.number_of_frames > 1 else -1) if r else -1 for r in slots_all
        ),
        rows=first.rows,
        columns=first.columns,
        bits_allocated=first.bits_allocated,
        bits_stored=first.bits_stored,
        signed=bool(first.pixel_representation),
        little_endian=NATIVE_SYNTAXES.get(first.transfer_syntax, (False, True))[1],
        pixel_vr=first.pixel_vr,
        transfer_syntax=first.transfer_syntax,
        photometric=first.photometric,
        idents=tuple(
            (r.size, r.mtime_ns, r.inode, r.ctime_ns) if r else (0, 0, 0, 0) for r in slots_all
        ),
        etags=tuple(r.etag if r else "" for r in slots_all) if remote else (),
        encodings=encodings if len(set(encodings) - {""}) > 1 else (),
        stored_bits=stored_bits if len(set(stored_bits)) > 1 else (),
        stored_types=stored_types if len(set(stored_types)) > 1 else (),
    )


def rescale_pair(r: FrameRecord, philips_fp: bool) -> tuple[float, float]:
    """(slope, intercept) applied to stored values: DICOM rescale, or Philips floating point."""
    ss = r.philips_scale_slope
    if philips_fp and ss and r.rescale_slope:
        return 1.0 / ss, r.rescale_intercept / (r.rescale_slope * ss)
    return r.rescale_slope, r.rescale_intercept
