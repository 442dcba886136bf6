"""Numeric DICOM values as dcm2niix writes them in its BIDS sidecar.

:func:`number_value` converts a value of a :data:`lazyvol.dicom.bids.BIDS_TAGS` kind,
:func:`acq_value` also the phase-encoding axis kind.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._per_volume import ms_seconds as seconds
from .records import number as records_number

__all__ = [
    "acq_value",
    "dcm2niix_float",
    "imaging_frequency",
    "number",
    "number_value",
    "printed",
    "seconds",
]

#: ImagingFrequency (MHz) at or above which dcm2niix writes none (UIH states 128176031 Hz).
_MAX_FREQUENCY = 9e6


def printed(value: float) -> float | int:
    """A number as dcm2niix prints it (``%g``: 6 significant digits), an int when integral (and
    below 2**53: a junk 1e308 stays 1e+308, not 309 digits)."""
    x = float(f"{value:.6g}") + 0.0  # (+ 0.0: no -0)
    return int(x) if x.is_integer() and abs(x) < 2.0**53 else x


def number(text: str) -> float | int | None:
    """``text`` as a finite number (an int when integral), else None: also a form DICOM's grammar
    lacks (a digit separator, '2_000': Python's ``float`` reads 2000, dcm2niix's ``atof`` 2; the
    sidecar states neither, :func:`lazyvol.dicom.records.number`)."""
    try:
        f = records_number(text)
    except ValueError:
        return None
    if not math.isfinite(f):
        return None
    return int(f) if f.is_integer() and abs(f) < 2**53 else f


def dcm2niix_float(value: float) -> float | int:
    """``value`` as dcm2niix writes a value it holds as a C ``float`` (its TDICOMdata fields:
    FlipAngle, PixelBandwidth, MagneticFieldStrength, ImagingFrequency, SliceThickness, the
    orientation ...): rounded to 32 bits, then printed with ``%g`` (:func:`printed`). A DICOM
    text of more digits than a float holds (0.95533648912560, Philips' 2.20000004768371) can
    print otherwise from its 64-bit value: 0.955336 where dcm2niix writes 0.955337."""
    v = float(value)
    return printed(float(np.float32(v)) if abs(v) < 3.4e38 else v)


def imaging_frequency(value: Any) -> float | int | None:
    """ImagingFrequency (MHz) as dcm2niix writes it: its double printed with ``%.10g``, none at
    or below 0 nor from 9e6 up (a value stated in Hz); None when it is not a finite number."""
    num = number(str(value))
    if num is None or not 0 < num < _MAX_FREQUENCY:
        return None
    x = float(f"{num:.10g}")
    return int(x) if x.is_integer() else x


def number_value(kind: str, value: Any) -> float | int | None:
    """The BIDS value of a numeric DICOM value (text or number) of ``kind`` (as in
    :data:`BIDS_TAGS`): ``"ms"`` in seconds as dcm2niix prints them, ``"int"`` an int,
    ``"float"`` and ``"g"`` as dcm2niix prints its C floats (:func:`dcm2niix_float`), else the
    number (an int when integral); None when it is not a finite number, and for ``"ms"``,
    ``"float"`` and ``"g"`` at or below 0 (dcm2niix's json_Float writes none: a FlipAngle,
    EchoTime or RepetitionTime of 0 or below is no value)."""
    num = number(str(value))
    if num is None:
        return None
    if kind in ("ms", "float", "g") and not num > 0:
        return None
    if kind == "ms":
        return seconds(float(num))
    if kind == "int":
        return int(num)
    if kind in ("g", "float"):
        return dcm2niix_float(num)
    if kind == "count":
        return int(num) if num >= 1 else None
    return num


def acq_value(kind: str, value: Any) -> str | float | int | None:
    """The BIDS value of a DICOM value (text or number) of ``kind`` (as in :data:`BIDS_TAGS`, but
    "str" and "join"): ``"rc"`` "ROW" / "COL" by the first letter (another value, such as
    "OTHER", None: dcm2niix writes no in-plane direction for it), else as :func:`number_value`."""
    if kind == "rc":
        text = str(value).strip(" \x00").upper()
        return {"R": "ROW", "C": "COL"}.get(text[:1])
    return number_value(kind, value)
