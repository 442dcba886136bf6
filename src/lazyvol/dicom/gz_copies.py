"""gzip-compressed copies (``x.dcm.gz``) of images a volume reads, told apart from lost slices.

lazyvol does not inflate files: a DICOM file gzip-compressed whole is skipped, and its
SeriesInstanceUID, read from a bounded inflate of its start, flags its series incomplete
(:func:`lazyvol.dicom.header._gzipped_dicom`). Its skip reason names the SOPInstanceUID that start
holds too (:func:`gzipped_reason`), so that a compressed copy of an image the volume reads (the
same SOPInstanceUID: the same image, PS3.3 C.12.1.1.1) is not counted as a file the series lost:
the volume is noted as having such copies beside it, naming each and the file it copies
(:func:`split_copies`), instead of a false "series incomplete".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .model import GZIPPED_DICOM
from .records import FrameRecord

__all__ = ["GZ_COPY_NOTE", "gzipped_reason", "instance_uid", "split_copies"]

#: How the note on gzip-compressed copies of a volume's own images begins.
GZ_COPY_NOTE = "gzip-compressed copies of this volume's images beside it"
_FIX = "lazyvol reads pixels in place and does not inflate files; decompress it first (gunzip)"
_NAMED = re.compile(re.escape(GZIPPED_DICOM) + r" of SOPInstanceUID ([0-9.]{1,64}): ")


def gzipped_reason(sop_uid: str) -> str:
    """The skip reason of a gzip-compressed DICOM file whose inflated start holds SOPInstanceUID
    ``sop_uid`` (``""``: none read)."""
    named = f" of SOPInstanceUID {sop_uid}" if re.fullmatch(r"[0-9.]{1,64}", sop_uid) else ""
    return f"{GZIPPED_DICOM}{named}: {_FIX}"


def instance_uid(partial: dict[int, Any]) -> str:
    """The SOPInstanceUID (0008,0018) among the raw values ``partial`` a walk read, or ``""``."""
    value = getattr(partial.get(0x00080018), "value", b"")
    return bytes(value).decode("ascii", "replace").strip(" \x00") if value else ""


def split_copies(
    skipped: Sequence[tuple[str, str]], records: Sequence[FrameRecord]
) -> tuple[list[tuple[str, str]], list[str]]:
    """``(lost, notes)``: the ``skipped`` files ``(path, reason)`` of a volume's series but the
    gzip-compressed copies of images among ``records`` (those the volume reads), and the note
    naming those copies (empty when there are none). A gzip-compressed file whose image the
    volume does not read stays lost, its reason without the SOPInstanceUID (the series-incomplete
    note groups files by reason)."""
    held = {r.sop_instance_uid: r.path for r in records if r.sop_instance_uid}
    lost: list[tuple[str, str]] = []
    copies: list[str] = []
    for path, reason in skipped:
        named = _NAMED.match(reason)
        if named is None:
            lost.append((path, reason))
        elif named.group(1) in held:
            copies.append(f"{path} (of {held[named.group(1)]})")
        else:
            lost.append((path, f"{GZIPPED_DICOM}: {_FIX}"))
    if not copies:
        return lost, []
    shown = "; ".join(copies[:3]) + (f"; and {len(copies) - 3} more" if len(copies) > 3 else "")
    return lost, [
        f"{GZ_COPY_NOTE} ({len(copies)} file(s)): {shown}: each holds the SOPInstanceUID of an image this "
        "volume reads, so no image is missing for them; skipped (lazyvol does not inflate files)"
    ]
