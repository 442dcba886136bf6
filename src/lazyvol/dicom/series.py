"""Group frame records into volumes: split series, sort slices, validate spacing, build geometry.

A SeriesInstanceUID is split into separate volumes wherever one volume cannot hold its files
(different Rows/Columns, orientation, localizer image type, stored dtype), each split with a
stated reason (:mod:`.grouping`). Slices are sorted by the projection of ImagePositionPatient on
the slice normal, never by InstanceNumber or file name; spacing comes from the positions
(:mod:`.stacking`). Problems that make a group unreadable (gaps, missing geometry, truncated pixel
data, unsupported encodings) are recorded on its :class:`SeriesInfo` and raised when it is opened,
so a scan always lists everything it found.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from .._meta_copy import copied_meta
from .._per_volume import cut_volumes
from .frame_table import STORED_DTYPES, output_dtype, stored_dtypes_warning
from .grouping import split_series
from .model import (
    DEFLATED_SYNTAX,
    NATIVE_SYNTAXES,
    FrameTable,
    GroupOptions,
    ScanReport,
    SeriesInfo,
)
from .records import FrameRecord
from .source import Fetch, read_local
from .stacking import build_volume
from .stated_counts import series_counts, stated_count_note

__all__ = [
    "DEFLATED_SYNTAX",
    "NATIVE_SYNTAXES",
    "FrameTable",
    "GroupOptions",
    "ScanReport",
    "SeriesInfo",
    "build_series",
]


def _split_4d(info: SeriesInfo) -> list[SeriesInfo]:
    """One 3D volume per index of a 4D volume's 4th axis (``split_4d=True``)."""
    if info.error or len(info.shape) < 4 or info.frames is None:
        return [info]
    nk, nt = info.shape[2], info.shape[3]
    values = info.meta.get("axis4_values", {})
    out = []
    for t in range(nt):
        sl = slice(t * nk, (t + 1) * nk)
        fr = info.frames
        frames = fr.frames_of(sl)
        meta = copied_meta(info.meta)
        cut_volumes(meta, t, nt)  # (its per-volume lists and echoes, as vol[..., t] cuts them)
        dtype, warnings = info.dtype, info.warnings
        if fr.stored_bits or fr.stored_types:  # this volume's own BitsStored and stored dtype
            meta.pop("bits_stored_counts", None)
            meta.pop("stored_dtype_counts", None)
            meta["stored_dtype"] = frames.stored_dtype.str.lstrip("<>=|")
            meta.update(frames.bits_meta())
        if fr.stored_types:  # the dtype of this volume's own images, and its own warning
            dtype = output_dtype(frames).str.lstrip("<>=|")
            warnings = [w for w in warnings if not w.startswith(STORED_DTYPES)]
            if "stored_dtype_counts" in meta:
                warnings.append(stored_dtypes_warning(meta["stored_dtype_counts"], dtype))
        rel = dict(meta.get("relaxations", {}))
        rel["split_4d"] = True
        meta["relaxations"] = rel
        label = ", ".join(f"{name}={vals[t]}" for name, vals in values.items())
        out.append(
            replace(
                info,
                id=f"{info.id}-{t}",
                shape=info.shape[:3],
                files=list(fr.paths[sl]),
                reasons=[*info.reasons, f"split_4d=True: volume {t} of {nt} ({label})"],
                axis4=None,
                meta=meta,
                frames=frames,
                dtype=dtype,
                warnings=list(warnings),
            )
        )
    return out


def build_series(
    records: Sequence[FrameRecord],
    *,
    options: GroupOptions | None = None,
    incomplete: dict[str, list[tuple[str, str]]] | None = None,
    fetch: Fetch | None = None,
) -> list[SeriesInfo]:
    """Group header records into volumes (deterministic: independent of file order and names).

    ``incomplete``: the skipped files ``(path, reason)`` of each SeriesInstanceUID.

    ``fetch`` reads bytes beyond the headers where a check needs them (default: local files; a
    :class:`~lazyvol.dicom.source.RemoteFetch` for the objects of a bucket).
    """
    opts = options or GroupOptions()
    ranked: list[tuple[tuple[object, ...], SeriesInfo]] = []
    by_uid: dict[str, list[FrameRecord]] = defaultdict(list)
    for rec in sorted(records, key=lambda r: r.path):
        by_uid[rec.series_uid].append(rec)
    for uid, recs in by_uid.items():
        # (a series numbers its images across the volumes split from it: echoes, magnitude and
        # phase, image types; a gap in one volume's numbers is a number none of them holds. A
        # series that numbers each volume on its own, its numbers repeating across its files:
        # each volume's own numbers)
        per_file = {r.path: r.instance_number for r in recs}
        numbers = [n for n in per_file.values() if n is not None]
        held = frozenset(numbers) if len(set(numbers)) == len(numbers) else None
        counts = series_counts(recs)  # (once: a series may split into thousands of volumes)
        for key, group, reasons in split_series(recs, opts.stack_localizers):
            info = build_volume(
                group,
                key,
                reasons,
                opts,
                (incomplete or {}).get(uid, []),
                fetch or read_local,
                held,
            )
            if note := stated_count_note(info, counts):
                info.warnings.append(note)
            for t, one in enumerate(_split_4d(info) if opts.split_4d else [info]):
                ranked.append((_rank(one, key, t), one))
    ranked.sort(key=lambda pair: pair[0])
    return [info for _, info in ranked]


def _rank(info: SeriesInfo, key: str, t: int) -> tuple[object, ...]:
    """Where a volume is listed (its ``#N``): by SeriesNumber and SeriesInstanceUID, then the
    volumes split from one UID by what tells them apart, never by their files' names or order:
    the values of their split key (numbers as numbers: echo 2 before echo 10), the index on the
    4th axis a ``split_4d`` volume had, then the id."""
    values = tuple(
        tuple(float(v) if n % 2 else v for n, v in enumerate(_NUMBERS.split(part)))
        for part in key.split("|")
    )
    return (info.number if info.number is not None else 1 << 40, info.uid, values, t, info.id)


#: Numbers in a split key's values (split out to compare as numbers).
_NUMBERS = re.compile(r"(\d+(?:\.\d+)?)")
