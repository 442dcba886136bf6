"""DICOM TM values (AcquisitionTime and the like) as seconds since midnight: one parser for the
volume order (:mod:`~lazyvol.dicom.ordering`), the BIDS timing (:mod:`~lazyvol.dicom.bids`) and
the slice times of a UIH GRID (:mod:`~lazyvol.dicom.grid`)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["tm_resolution", "tm_seconds"]


def tm_seconds(value: str | None) -> float | None:
    """Seconds since midnight of a DICOM TM (``HHMMSS.FFFFFF``, also the old ``HH:MM:SS``; minutes
    and seconds may be left out), or None for an empty or malformed value (not digits, or hours,
    minutes or seconds out of range)."""
    if not value:
        return None
    text = str(value).strip().replace(":", "")
    head, _, frac = text.partition(".")
    if len(head) < 2 or not head.isdigit() or (frac and not frac.isdigit()):
        return None
    hh = int(head[0:2])
    mm = int(head[2:4]) if len(head) >= 4 else 0
    ss = int(head[4:6]) if len(head) >= 6 else 0
    if not (hh < 24 and mm < 60 and ss < 61):
        return None
    return hh * 3600.0 + mm * 60.0 + ss + (float("0." + frac) if frac else 0.0)


def tm_resolution(values: Sequence[str | None]) -> float:
    """The coarsest resolution (s) of DICOM TM values: 1 for HHMMSS, 0.001 for HHMMSS.FFF."""
    digits = [len(v.strip().partition(".")[2]) for v in values if v]
    return 10.0 ** -min(digits) if digits else 1.0
