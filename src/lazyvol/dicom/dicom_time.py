"""DICOM TM, DA and DT values as numbers: one parser for the volume order
(:mod:`~lazyvol.dicom.ordering`), the BIDS timing (:mod:`~lazyvol.dicom.bids`) and the slice times
of a UIH GRID (:mod:`~lazyvol.dicom.grid`).

A time of day alone (AcquisitionTime (0008,0032)) does not order images acquired across midnight
(CT perfusion, dynamic PET): 00:00:05 sorts before 23:59:55. :func:`acquired` places the images of
one set on one timeline, by date and time when every image states its date, and says when the
times of day of a set that states none span more than :data:`WRAP_SPAN` (the set may cross
midnight, and the times of day do not tell in which order its images were acquired).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from typing import Any

from .records import FrameRecord

__all__ = [
    "SIDECAR_DATED",
    "SIDECAR_UNDATED",
    "WRAP_SPAN",
    "acquired",
    "da_day",
    "dt_instant",
    "frame_time",
    "sidecar_clock",
    "sidecar_dated",
    "sidecar_undated",
    "stated_datetime",
    "tm_resolution",
    "tm_seconds",
    "wrap_note",
]

#: Times of day of one set spanning more than this (s): no acquisition lasts half a day, so the
#: set likely crosses midnight.
WRAP_SPAN = 12 * 3600.0
_DAY = 86400.0
#: DT: the date, the hour and optionally minutes and seconds (a fraction only after seconds),
#: and an optional UTC offset.
_DT = re.compile(r"(\d{8})(\d{2}(?:\d{2}(?:\d{2}(?:\.\d+)?)?)?)([+-]\d{4})?")


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


def da_day(value: str | None) -> int | None:
    """The day number (proleptic Gregorian ordinal) of a DICOM DA (``YYYYMMDD``, also the old
    ``YYYY.MM.DD``), or None for an empty or malformed value (not a calendar date)."""
    text = str(value or "").strip().replace(".", "")
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:])).toordinal()
    except ValueError:
        return None


def dt_instant(value: str | None) -> tuple[int, float] | None:
    """The day number (as :func:`da_day`) and the seconds into that day of a DICOM DT
    (``YYYYMMDDHHMMSS.FFFFFF&ZZXX``) that states a date and at least the hour, in UTC when it
    states its offset (the seconds then may fall outside 0..86400); None for an empty, partial (a
    date alone) or malformed value. Two parts: seconds since a distant epoch in one float would
    lose the microseconds."""
    m = _DT.fullmatch(str(value or "").strip())
    if m is None:
        return None
    day, seconds = da_day(m.group(1)), tm_seconds(m.group(2))
    if day is None or seconds is None:
        return None
    offset = 0.0
    if m.group(3):
        hh, mm = int(m.group(3)[1:3]), int(m.group(3)[3:])
        if hh > 14 or mm > 59:
            return None
        offset = (hh * 3600.0 + mm * 60.0) * (1 if m.group(3)[0] == "+" else -1)
    return day, seconds - offset


def stated_datetime(date: str, time: str, date_time: str) -> str:
    """When an image was acquired, as a DICOM DT: AcquisitionDate (0008,0022) + AcquisitionTime
    (0008,0032) (``date``, ``time``) when both are valid, else AcquisitionDateTime (0008,002A)
    (``date_time``) when it states a date and time, else "". The date and the time always come
    from one pair: a date taken from another attribute (ContentDate, SeriesDate) can be the day
    before or after the time's (a reconstruction after midnight, a series started before it)."""
    day, tm = date.strip().replace(".", ""), time.strip().replace(":", "")
    if da_day(day) is not None and tm_seconds(tm) is not None:
        return day + tm
    return date_time.strip() if dt_instant(date_time) is not None else ""


#: :attr:`~lazyvol.dicom.records.FrameRecord.acq` key of an image whose date lazyvol reads (it
#: orders images by it) where dcm2niix reads none (:func:`sidecar_undated`): no sidecar
#: AcquisitionTime outside PET, as dcm2niix writes none.
SIDECAR_UNDATED = "_sidecar_undated"


def sidecar_undated(date: str, time: str, date_time: str) -> bool:
    """Whether :func:`stated_datetime` dates an image from AcquisitionDateTime (0008,002A)
    (``date_time``) where dcm2niix finds no acquisition date, so writes no sidecar
    AcquisitionTime: dcm2niix splits AcquisitionDateTime into date and time only where the image
    states neither an AcquisitionDate (0008,0022) nor a nonzero AcquisitionTime (0008,0032), and
    only a value stating seconds (more than 13 characters); "neither" as C's atof reads them
    (0: absent, empty, '00000000', text). An anonymised image keeping its
    AcquisitionTime (or its AcquisitionDate) beside AcquisitionDateTime without the other, or a
    date and time to the minute: dated here, not by dcm2niix (measured on v1.0.20260724)."""
    day, tm = date.strip().replace(".", ""), time.strip().replace(":", "")
    if not stated_datetime(date, time, date_time) or (
        da_day(day) is not None and tm_seconds(tm) is not None
    ):
        return False  # (undated either way, or dated by the pair dcm2niix reads too)
    # (dcm2niix splits it only where atof reads 0 from both: a negative date ('-5') or a malformed
    # nonzero time ('0000001') is no split, so no date and no time)
    return _atof(date) != 0 or _atof(time) != 0 or len(date_time.strip()) <= 13


#: :attr:`~lazyvol.dicom.records.FrameRecord.acq` key of an image whose AcquisitionDate is no
#: calendar date lazyvol reads, but one dcm2niix reads (:func:`sidecar_dated`): its sidecar has
#: the AcquisitionTime dcm2niix writes.
SIDECAR_DATED = "_sidecar_dated"
#: The number C's atof reads at the start of a text (dcm2niix reads AcquisitionDate so).
_LEADING_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def sidecar_dated(date: str, time: str) -> bool:
    """Whether dcm2niix reads an acquisition date lazyvol does not: an AcquisitionDate (0008,0022)
    that is no calendar date (day 99, month 13, a year alone, a leading blank) but whose leading
    number (as C's atof reads it) is above 0, beside a nonzero AcquisitionTime (0008,0032).
    dcm2niix writes that time in the sidecar (measured on v1.0.20260724: '20191099', '2019',
    '1x', ' 2019' dated; '00000000', '-5', 'abc' not)."""
    if da_day(date.strip().replace(".", "")) is not None:
        return False  # (a calendar date: read alike)
    return _dcm2niix_date(date) and bool(tm_seconds(time.strip()))


def _dcm2niix_date(date: str) -> bool:
    """Whether dcm2niix takes ``date`` (an AcquisitionDate text) for a date: its leading number,
    as C's atof reads it, is above 0 (every calendar date; also '20191099', '2019')."""
    return _atof(date) > 0


def _atof(text: str) -> float:
    """The number C's atof reads at the start of ``text`` (0 where none)."""
    m = _LEADING_NUMBER.match(text)
    return float(m.group(0)) if m is not None else 0.0


def sidecar_clock(time: str | None, date_time: str | None) -> float | None:
    """The time of day (s) a sidecar's AcquisitionTime states of an image whose AcquisitionTime
    (0008,0032) is ``time`` and whose :func:`stated_datetime` is ``date_time``, as dcm2niix reads
    them: an AcquisitionTime of 0 (000000, as anonymisers write it) is no time, so the time of
    AcquisitionDateTime (0008,002A) where that gave the stamp (its local time: an offset is not
    applied), else none; a time of 0 there is none too (measured on v1.0.20260724)."""
    t = tm_seconds(time)
    if t is None or t > 0:
        return t
    m = _DT.fullmatch(str(date_time or "").strip())
    of_day = tm_seconds(m.group(2)) if m is not None else None
    return of_day if of_day else None


def wrap_note(seconds: Sequence[float], attribute: str = "AcquisitionTime (0008,0032)") -> str:
    """Why times of day (seconds since midnight) of one set do not order it: they span more than
    :data:`WRAP_SPAN` with no date to place them; "" when they do not."""
    if not seconds or max(seconds) - min(seconds) <= WRAP_SPAN:
        return ""
    return (
        f"{attribute} values run from {_clock_text(min(seconds))} to "
        f"{_clock_text(max(seconds))} and no date tells each image's day (AcquisitionDate "
        "(0008,0022) or AcquisitionDateTime (0008,002A) missing or malformed in some image, or "
        "the same date on every image): the images were likely acquired across midnight, which times of day cannot order (an anonymiser may "
        "have removed the dates: export the series with them)"
    )


def _clock_text(seconds: float) -> str:
    return f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:04.1f}"


def acquired(records: Sequence[FrameRecord]) -> tuple[list[float | None], str]:
    """When each of ``records`` (one set: a series' images) was acquired, on one timeline: seconds
    from the start of the earliest one's day, by their date and time (:attr:`FrameRecord.acquisition_datetime`) when every record states
    them, else their time of day (AcquisitionTime; None where missing or malformed). The second
    value is :func:`wrap_note` of times of day ("" for dated records)."""
    dated = [dt_instant(r.acquisition_datetime) for r in records]
    if records and all(d is not None for d in dated):
        days = {d[0] for d in dated if d is not None}
        instants: list[float | None] = [
            (d[0] - min(days)) * _DAY + d[1] for d in dated if d is not None
        ]
        # One date on every image whose times of day span more than half a day: the date was
        # copied onto every image (an export or anonymiser writes the study's), not stated per
        # image, and tells nothing about midnight: judged as undated times are.
        span = max(t for t in instants if t is not None) - min(t for t in instants if t is not None)
        if len(days) > 1 or span <= WRAP_SPAN:
            return instants, ""
    times = [tm_seconds(r.acquisition_time) for r in records]
    return times, wrap_note([t for t in times if t is not None])


def frame_time(value: Any) -> str | None:
    """Time part (HHMMSS.FFFFFF) of a FrameAcquisitionDateTime (DT) value."""
    text = str(value or "").strip()
    if len(text) < 10 or not text[:8].isdigit():
        return None
    t = text[8:].split("+")[0].split("-")[0]
    return t or None
