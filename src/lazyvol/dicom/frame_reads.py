"""Where a block's frames are read from: runs of frames read alike (a volume whose files differ in
pixel encoding, BitsStored or stored dtype, ``DicomPlan.encodings``, ``stored_bits``,
``stored_types``, is read run by run, each run with a plan of its own frames' layout), the byte
pairs of a big-endian OW element's 8-bit values, the rows of frames stored in reverse."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .model import encoding_reads, stored_layout

if TYPE_CHECKING:
    from .pixels import DicomPlan

__all__ = ["mirrored", "ow8_pairs", "runs_read_alike"]


def runs_read_alike(plan: DicomPlan, ns: list[int]) -> list[tuple[DicomPlan, int, int]]:
    """Runs ``[b0, b1)`` of frames ``ns`` encoded alike and stored alike (one stored dtype, one
    BitsStored), each with the plan that reads them: the plan itself when its frames are all read
    as its fields say (``plan.encodings``, ``plan.stored_bits`` and ``plan.stored_types``
    empty)."""
    if not plan.encodings and not plan.stored_bits and not plan.stored_types:
        return [(plan, 0, len(ns))]

    def way_of(n: int) -> tuple[str | None, int, str | None]:
        return (
            plan.encodings[n] if plan.encodings else None,
            plan.stored_bits[n] if plan.stored_bits else plan.bits_stored,
            plan.stored_types[n] if plan.stored_types else None,
        )

    ways: dict[tuple[str | None, int, str | None], DicomPlan] = {}
    runs: list[tuple[DicomPlan, int, int]] = []
    b0 = 0
    for b in range(1, len(ns) + 1):
        key = way_of(ns[b0])
        if b < len(ns) and way_of(ns[b]) == key:
            continue
        if key not in ways:
            enc, bits, kind = key
            way = replace(plan, encodings=(), stored_bits=(), stored_types=(), bits_stored=bits)
            if kind is not None:
                bits_allocated, signed = stored_layout(kind)
                way = replace(way, bits_allocated=bits_allocated, signed=signed)
            if enc is not None:  # "": a filled-in slice, read as native
                syntax, little, swap = encoding_reads(enc)
                way = replace(way, encapsulated_syntax=syntax, little_endian=little, swap_ow8=swap)
            ways[key] = way
        runs.append((ways[key], b0, b))
        b0 = b
    return runs


def ow8_pairs(offset: int, nbytes: int) -> tuple[int, int]:
    """``(start, length)`` of the whole byte pairs holding ``nbytes`` 8-bit values from file byte
    ``offset`` of a big-endian OW element, whose bytes are swapped in pairs counted from the
    element's start: an even file offset, every element's length being even (PS3.5 7.1.1). A
    frame of a multi-frame file of odd Rows x Columns starts inside a pair every other frame."""
    start = offset - offset % 2
    return start, (offset + nbytes + 1) // 2 * 2 - start


def mirrored(sl: slice, n: int) -> slice:
    """The slice selecting, from an axis of ``n`` stored in reverse order, the items ``sl``
    selects from it in order (``stored[mirrored(sl, n)] == stored[::-1][sl]``)."""
    picked = range(*sl.indices(n))
    if not picked:
        return slice(0, 0)
    start, step = n - 1 - picked[0], -picked.step
    stop = start + step * len(picked)
    return slice(start, stop if stop >= 0 else None, step)
