"""Diffusion attributes and vendor scaling from standard and private DICOM attributes.

Standard attributes win: DiffusionBValue (0018,9087) and DiffusionGradientOrientation (0018,9089).
Without them the vendor's private attributes are read, as dcm2niix does, but only when
Manufacturer (0008,0070) names that vendor (a private element number means nothing otherwise):

- GE: b-value = first value of (0043,1039) (some software versions add 1e9 to it, removed here);
  gradient = (0019,10BB), (0019,10BC), (0019,10BD).
- Siemens (non-mosaic): b-value (0019,100C), gradient (0019,100E).
- Philips: b-value (2001,1003), gradient (2005,10B0), (2005,10B1), (2005,10B2).
- UIH (United Imaging): b-value (0065,1009), gradient (0065,1037) (image frame; UIH writes its
  b = 0 images as b = 1.25 with a zero vector).
- Canon / Toshiba: the standard b-value, with the gradient in ImageComments (0020,4000) as
  ``b=1000(0.000,1.000,0.000)`` (image frame) when DiffusionGradientOrientation is absent (Canon's
  classic DICOM since the Toshiba acquisition; dcm2niix reads it only when the comment's b-value is
  the image's, rounded). Canon writes no b-value on its b = 0 images (see
  :func:`lazyvol.dicom.diffusion.diffusion_meta`).

Gradients are kept as the scanner stored them (no flips, no rotation into image space).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

__all__ = [
    "canon_comment_gradient",
    "missing_bvalue_note",
    "read_diffusion",
    "read_ge_image_kind",
    "read_philips_scale_slope",
    "vendor_of",
]

STANDARD_SOURCE = "DiffusionBValue (0018,9087) / DiffusionGradientOrientation (0018,9089)"
SOURCES = {
    "GE": "GE private (0043,1039) / (0019,10BB-10BD)",
    "SIEMENS": "Siemens private (0019,100C) / (0019,100E)",
    "PHILIPS": "Philips private (2001,1003) / (2005,10B0-10B2)",
    "UIH": "UIH private (0065,1009) / (0065,1037)",
    "CANON": "DiffusionBValue (0018,9087) / Canon ImageComments (0020,4000) b=...(x,y,z)",
}
#: GE (0043,1039) b-values carry this offset on some software versions.
GE_BVALUE_OFFSET = 1_000_000_000


def vendor_of(manufacturer: str) -> str:
    """``"GE"``, ``"SIEMENS"``, ``"PHILIPS"``, ``"CANON"`` (Canon or Toshiba), ``"UIH"`` (UIH,
    United Imaging) or ``""`` from Manufacturer (0008,0070)."""
    m = manufacturer.upper()
    if m.startswith("GE ") or m == "GE" or "GENERAL ELECTRIC" in m:
        return "GE"
    if "SIEMENS" in m:
        return "SIEMENS"
    if "PHILIPS" in m:
        return "PHILIPS"
    if "CANON" in m or "TOSHIBA" in m:
        return "CANON"
    if m.startswith("UIH") or "UNITED IMAGING" in m:
        return "UIH"
    return ""


def _unit_or_zero(g: list[float] | None) -> list[float] | None:
    if g is None or len(g) != 3:
        return None
    return [float(x) for x in g]


#: A Canon ImageComments (0020,4000) diffusion note: ``b=1000(0.000,1.000,0.000)``.
_CANON_COMMENT = re.compile(
    r"\s*b=(\d+)\(\s*([-+]?[\d.]+)\s*,\s*([-+]?[\d.]+)\s*,\s*([-+]?[\d.]+)\s*\)"
)


def canon_comment_gradient(comment: str, b: float) -> list[float] | None:
    """The gradient (image frame, as written) of a Canon ImageComments ``b=<b>(x,y,z)``, or None
    when the comment is not one or its b-value is not ``b`` rounded (dcm2niix's condition)."""
    m = _CANON_COMMENT.match(comment)
    if m is None or int(m.group(1)) != math.floor(b + 0.5):
        return None
    try:
        g = [float(x) for x in m.groups()[1:]]
    except ValueError:
        return None
    return g if all(math.isfinite(x) for x in g) else None


def read_diffusion(r: Any, manufacturer: str) -> tuple[float | None, list[float] | None, str]:
    """``(b_value, gradient, source)`` of one image; ``(None, None, "")`` when it has none.

    ``r`` is the header reader (``get_float`` / ``get_floats`` / ``values``).
    """
    b = r.get_float("DiffusionBValue")
    g = _unit_or_zero(r.get_floats("DiffusionGradientOrientation", 3))
    vendor = vendor_of(manufacturer)
    if b is not None:
        if g is None and b > 0 and vendor == "CANON":
            comment = canon_comment_gradient(r.get_str("Canon_ImageComments"), b)
            if comment is not None:
                return b, comment, SOURCES["CANON"]
        return b, g, STANDARD_SOURCE
    if vendor == "GE":
        v = r.values("GE_BValue")
        if v:
            try:
                bv = float(v[0])
            except (TypeError, ValueError):
                bv = None
            if bv is not None:
                if bv >= GE_BVALUE_OFFSET:
                    bv = bv % GE_BVALUE_OFFSET
                comps = [r.get_float(k) for k in ("GE_GradientX", "GE_GradientY", "GE_GradientZ")]
                grad = (
                    None
                    if any(c is None for c in comps)
                    else [float(c) for c in comps if c is not None]
                )
                return bv, grad, SOURCES["GE"]
    elif vendor == "SIEMENS":
        bv = r.get_float("Siemens_BValue")
        if bv is not None:
            return bv, _unit_or_zero(r.get_floats("Siemens_Gradient", 3)), SOURCES["SIEMENS"]
    elif vendor == "PHILIPS":
        bv = r.get_float("Philips_BValue")
        if bv is not None:
            comps = [
                r.get_float(k)
                for k in ("Philips_GradientRL", "Philips_GradientAP", "Philips_GradientFH")
            ]
            grad = (
                None
                if any(c is None for c in comps)
                else [float(c) for c in comps if c is not None]
            )
            return bv, grad, SOURCES["PHILIPS"]
    elif vendor == "UIH":
        bv = r.get_float("UIH_BValue")
        if bv is not None:
            return bv, _unit_or_zero(r.get_floats("UIH_Gradient", 3)), SOURCES["UIH"]
    return None, None, ""


def missing_bvalue_note(manufacturer: str, missing: Sequence[int]) -> str | None:
    """The warning on volumes without a b-value taken as b = 0 (``missing``: their indices), or
    None for Canon / Toshiba, which write no b-value on their b = 0 images (dcm2niix writes them
    b = 0 wherever they are)."""
    if vendor_of(manufacturer) == "CANON":
        return None
    shown = f"{list(missing[:8])}{' ...' if len(missing) > 8 else ''}"
    return (
        f"diffusion: {len(missing)} volume(s) without a b-value (table indices {shown}) among "
        "volumes that state one are taken as b = 0 images (.bvec 0 0 0), as dcm2niix writes "
        "them when the series' first volume states a b-value (when it does not, dcm2niix "
        "writes no .bval/.bvec): check them"
    )


def read_philips_scale_slope(r: Any, manufacturer: str) -> float | None:
    """Philips private scale slope (2005,100E), or None (not Philips, absent, zero, malformed)."""
    if vendor_of(manufacturer) != "PHILIPS":
        return None
    v = r.get_float("Philips_ScaleSlope")
    return v if v else None


_GE_KINDS = {0: "MAGNITUDE", 1: "PHASE", 2: "REAL", 3: "IMAGINARY"}


def read_ge_image_kind(r: Any, manufacturer: str) -> str:
    """GE private image kind (0043,102F) as a ComplexImageComponent value, or "".

    GE writes magnitude, phase, real and imaginary images of one series with the same ImageType;
    this element (as dcm2niix reads it) tells them apart.
    """
    if vendor_of(manufacturer) != "GE":
        return ""
    v = r.get_int("GE_ImageKind")
    return _GE_KINDS.get(v, "") if v is not None else ""
