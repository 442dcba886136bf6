"""Diffusion attributes and vendor scaling from standard and private DICOM attributes.

Standard attributes: DiffusionBValue (0018,9087) and DiffusionGradientOrientation (0018,9089).
The vendor's private ones are read as dcm2niix reads them, only when Manufacturer (0008,0070)
names that vendor (a private element number means nothing otherwise; an empty or absent
Manufacturer is Philips' where the private block (2001,0010) is, :func:`stated_manufacturer`,
as dcm2niix reads it). The b-value and the
direction are each taken from the attributes that state them; where an image states one in both,
from those dcm2niix takes (:data:`PRECEDENCE`, checked against its .bval / .bvec): the vendor's
b-value (GE: its gradient length is relative to its (0043,1039); GE from software 27 on writes
(0018,9087) on its weighted images only, and no (0018,9089)), and the standard direction but for
GE and UIH; Philips, Canon and the others take both standard values when the image states both.
A Siemens image's CSA image header (0029,1010) B_value, and its DiffusionGradientDirection when it
states a B_value, come before all these, as dcm2niix reads them (:func:`with_csa_diffusion`; an
anonymiser may keep the CSA header and drop (0019,100E)).

- GE: b-value = first value of (0043,1039) (some software versions add 1e9 to it, removed here);
  gradient = (0019,10BB), (0019,10BC), (0019,10BD); the number of DTI directions (0019,10E0)
  tells a trace image from a b = 0 one (:func:`ge_without_directions`).
- Siemens (non-mosaic): b-value (0019,100C), gradient (0019,100E).
- Philips: b-value (2001,1003), gradient (2005,10B0), (2005,10B1), (2005,10B2).
- UIH (United Imaging): b-value (0065,1009), gradient (0065,1037) (image frame; UIH writes its
  b = 0 images as b = 1.25 with a zero vector).
- Canon / Toshiba: the standard b-value, with the gradient in ImageComments (0020,4000) as
  ``b=1000(0.000,1.000,0.000)`` (image frame) when DiffusionGradientOrientation is absent (Canon's
  classic DICOM since the Toshiba acquisition; dcm2niix reads it only when the comment's b-value is
  the image's, rounded). Canon writes no b-value on its b = 0 images (see
  :func:`lazyvol.dicom.diffusion.diffusion_meta`).

Gradients are kept as the scanner stored them (no flips, no rotation into image space, no
normalisation: a GE gradient's length carries its shell, see
:func:`lazyvol.dicom.diffusion.diffusion_meta`). The source label names the b-value's attribute,
then the direction's (:func:`source_label`, :func:`direction_source`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from .charset import short_text_cache
from .csa_numbers import NotANumber

__all__ = [
    "DIFFUSION_KEYWORDS",
    "PRECEDENCE",
    "canon_comment_gradient",
    "csa_diffusion_problems",
    "direction_source",
    "ge_without_directions",
    "malformed_diffusion",
    "manufacturer",
    "missing_bvalue_note",
    "read_diffusion",
    "read_ge_image_kind",
    "philips_rwv",
    "read_philips_scale_slope",
    "source_label",
    "stated_manufacturer",
    "vendor_of",
    "with_csa_diffusion",
]

#: The attributes a b-value is read from, by source.
B_ATTRIBUTES = {
    "standard": "DiffusionBValue (0018,9087)",
    "GE": "GE private (0043,1039)",
    "SIEMENS": "Siemens private (0019,100C)",
    "PHILIPS": "Philips private (2001,1003)",
    "UIH": "UIH private (0065,1009)",
    "SIEMENS_CSA": "Siemens CSA image header B_value",
}
#: The attributes a gradient direction is read from, by source.
DIRECTION_ATTRIBUTES = {
    "standard": "DiffusionGradientOrientation (0018,9089)",
    "GE": "GE private (0019,10BB-10BD)",
    "SIEMENS": "Siemens private (0019,100E)",
    "PHILIPS": "Philips private (2005,10B0-10B2)",
    "UIH": "UIH private (0065,1037)",
    "CANON": "Canon ImageComments (0020,4000) b=...(x,y,z)",
    "SIEMENS_CSA": "Siemens CSA image header DiffusionGradientDirection",
}


#: The header reader's keywords of the diffusion values :func:`read_diffusion` reads, standard
#: and private (the vendor's, read only when Manufacturer names it), each with the attribute name
#: shown for it.
DIFFUSION_KEYWORDS = {
    "DiffusionBValue": "DiffusionBValue",
    "DiffusionGradientOrientation": "DiffusionGradientOrientation",
    "GE_BValue": "GE private b-value",
    "GE_GradientX": "GE private gradient x",
    "GE_GradientY": "GE private gradient y",
    "GE_GradientZ": "GE private gradient z",
    "Siemens_BValue": "Siemens private b-value",
    "Siemens_Gradient": "Siemens private gradient",
    "Philips_BValue": "Philips private b-value",
    "Philips_GradientRL": "Philips private gradient RL",
    "Philips_GradientAP": "Philips private gradient AP",
    "Philips_GradientFH": "Philips private gradient FH",
    "UIH_BValue": "UIH private b-value",
    "UIH_Gradient": "UIH private gradient",
}
#: How a note on a Canon ImageComments diffusion direction or on a Siemens CSA image header's
#: diffusion value begins.
CANON_COMMENT_NOTE = "Canon diffusion ImageComments (0020,4000)"
_CSA_NOTE = "Siemens CSA image header (0029,1010) {}"


def malformed_diffusion(
    notes: Sequence[str] | None,
    b_value: float | None = None,
    source: str = "",
    manufacturer: str = "",
) -> str:
    """The first of a record's notes on malformed values (``bad_attributes``) that is on one of
    its diffusion values, or "": a standard attribute's (any note), a private element's number
    that is not finite (NaN, inf, 1e999; not text, another VR or another count: the element may
    be another private creator's, as the vendor's creator is not checked: GE angiography writes
    code text at (0019,10BB), Siemens angiography a US at (0019,100E), Siemens NM an SS at
    (0019,100C)), a CSA or Canon comment value that is not finite. Such an image's b-value /
    direction is unknown (read as unstated, a b = 1000 image would become a b = 0 one or lose its
    direction), so it is refused (:func:`lazyvol.dicom.checks.record_problem`). A direction's
    note counts only where the image states a b-value above 0 (``b_value``, as read from any
    source): with none, or b = 0, no direction is used (a T1 or a b = 0 image with a NaN
    gradient opens, as dcm2niix converts it; junk in an attribute not used is tolerated). Nor
    does a note on a value the image states again where dcm2niix takes it instead (``source``,
    the record's :func:`source_label`, and ``manufacturer``; :func:`_overridden`): a NaN
    standard or private direction beside the CSA header's, say."""
    vendor = vendor_of(manufacturer)
    for note in notes or ():
        keyword = note.split(" ", 1)[0]
        standard = keyword in ("DiffusionBValue", "DiffusionGradientOrientation")
        if keyword in DIFFUSION_KEYWORDS and (standard or note.endswith(_MALFORMED_ENDS)):
            if not b_value and _is_direction(keyword):
                continue
            noted = keyword.split("_", 1)[0].upper() if "_" in keyword else "standard"
            if _overridden(noted, source, vendor, _is_direction(keyword), note):
                continue
            return f"{DIFFUSION_KEYWORDS[keyword]}{note[len(keyword) :]}"
        direction = note.startswith((CANON_COMMENT_NOTE, _CSA_NOTE.format("DiffusionGradient")))
        if direction and not b_value:
            continue
        if note.startswith((CANON_COMMENT_NOTE, _CSA_NOTE.format(""))):
            return note
    return ""


def _is_direction(keyword: str) -> bool:
    """Whether a :data:`DIFFUSION_KEYWORDS` keyword is a gradient direction's (not a b-value's)."""
    return "Gradient" in keyword


def _overridden(noted: str, source: str, vendor: str, direction: bool, note: str = "") -> bool:
    """Whether the b-value (or, ``direction``, the direction) of an image whose values came from
    ``source`` (:func:`source_label`) came from attributes dcm2niix takes over the ``noted`` ones
    (a key of :data:`B_ATTRIBUTES`) where both state it: the Siemens CSA image header's over any
    other (:func:`with_csa_diffusion`), a vendor's private value over the standard one or the
    reverse as :data:`PRECEDENCE` says (a vendor not listed: the standard b-value and direction
    where the image states both; Philips' private b-value where the standard one, ``note``, is
    NaN or below 0, as dcm2niix takes it: not where it is +inf, which dcm2niix writes). Then the
    noted value, malformed, is not used."""
    used = direction_source(source) if direction else b_source(source)
    if not used or used == noted:
        return False
    if used == "SIEMENS_CSA":
        return True
    if vendor not in PRECEDENCE and not direction and used == vendor and noted == "standard":
        return _nan_or_negative(note)
    if vendor not in PRECEDENCE:  # (the standard pair where both are stated: read_diffusion)
        both = b_source(source) == direction_source(source) == "standard"
        return used == "standard" and noted == vendor and both
    first = PRECEDENCE[vendor][1 if direction else 0]
    if used == vendor and noted == "standard":
        return first == "private"
    return used == "standard" and noted == vendor and first == "standard"


#: How a note on a malformed private diffusion value ends (a standard one's: any note counts).
#: How a note on a private b-value that is no number beside a direction ends (:func:`_unread_b`).
_BESIDE_DIRECTION = " beside a gradient direction"
_MALFORMED_ENDS = (" is not finite", " is negative", _BESIDE_DIRECTION)


def _nan_or_negative(note: str) -> bool:
    """Whether a note on a b-value (``... is negative``, ``...=nan is not finite``) is on one
    that is NaN or below 0 (-inf included), not +inf."""
    if note.endswith(" is negative"):
        return True
    text = note.rsplit("=", 1)[-1].removesuffix(" is not finite").strip("b'\" ")
    try:
        return not float(text) > 0
    except ValueError:
        return False


#: The attributes a b-value is read from, by the header reader's keyword (for a note on one).
_B_TAGS = {
    "DiffusionBValue": "(0018,9087)",
    "GE_BValue": "(0043,1039)",
    "Siemens_BValue": "(0019,100C)",
    "Philips_BValue": "(2001,1003)",
    "UIH_BValue": "(0065,1009)",
}


def _not_negative(r: Any, keyword: str, b: float | None) -> float | None:
    """``b``, read from ``keyword``, or None with a note (``r.bad``) when it is below 0. A
    b-value is never negative: read as stated it was written to the .bval; dcm2niix reads such a
    value as none (b = 0, or Philips' private b-value beside a negative standard one), so it is
    malformed (:func:`malformed_diffusion`), refused unless the value used is another's."""
    if b is None or b >= 0:
        return b
    r.bad.append(f"{keyword} {_B_TAGS[keyword]}={b!r} is negative")
    return None


def _unread_b(r: Any, keyword: str, b: float | None, g: list[float] | None) -> float | None:
    """``b``; a note where it is none but ``keyword`` states text that is no number ('abc',
    '1_000') and the image a direction not zero: the element is the vendor's b-value then (not
    another creator's, tolerated), unknown (dcm2niix's atoi: 0, a b = 0 image with a direction),
    so malformed (:func:`malformed_diffusion`), refused unless another's value is used (CSA)."""
    if b is None and g and any(abs(x) > 0 for x in g) and (v := r.values(keyword)) and v[0] != "":
        r.bad.append(f"{keyword} {_B_TAGS[keyword]}={v[0]!r} is no number{_BESIDE_DIRECTION}")
    return b


def csa_diffusion_problems(items: dict[str, Sequence[Any] | None]) -> list[str]:
    """Notes on a Siemens CSA image header's diffusion values (``items``: B_value,
    DiffusionGradientDirection as listed) that are numbers but not finite (a NaN or infinite
    B_value would be read as none, so the private (0019,100C) or b = 0; text that is no number
    is taken as no value, as before), or written as no DICOM number (:class:`NotANumber`, "1_000")."""
    notes = []
    for name, values in items.items():
        if any(isinstance(x, NotANumber) for x in values or ()):
            texts = [str(x) for x in values or ()]
            notes.append(f"{_CSA_NOTE.format(name)}={texts!r} is written as no DICOM number")
            continue
        try:
            numbers = [float(x) for x in values or ()]
        except (TypeError, ValueError):
            continue
        if not all(math.isfinite(x) for x in numbers):
            notes.append(f"{_CSA_NOTE.format(name)}={list(values or ())!r} is not finite")
    return notes


def source_label(b_from: str, direction_from: str) -> str:
    """The source of an image's diffusion values: its b-value's attributes, then its direction's
    (keys of :data:`B_ATTRIBUTES` / :data:`DIRECTION_ATTRIBUTES`)."""
    return f"{B_ATTRIBUTES[b_from]} / {DIRECTION_ATTRIBUTES[direction_from]}"


def b_source(source: str) -> str:
    """Which attributes the b-value of a :func:`source_label` came from (a key of
    :data:`B_ATTRIBUTES`), or "" for another source (e.g. an enhanced file's)."""
    return next((k for k, v in B_ATTRIBUTES.items() if source.startswith(v)), "")


def direction_source(source: str) -> str:
    """Which attributes the direction of a :func:`source_label` came from (a key of
    :data:`DIRECTION_ATTRIBUTES`), or "" for another source (e.g. an enhanced file's)."""
    return next((k for k, v in DIRECTION_ATTRIBUTES.items() if source.endswith(v)), "")


#: Where an image states a value in both the standard and its vendor's private attributes, which
#: dcm2niix takes: vendor -> (the b-value's, the direction's), each "private" or "standard"
#: (dcm2niix reads the elements in order, the standard ones first, and keeps the pair it has
#: first: a vendor's private value read before that wins, one read after loses, unless dcm2niix
#: reads it again later, as GE's and UIH's b-values and UIH's direction). A vendor not listed
#: takes the standard values when the image states both, else as ``PHILIPS``.
PRECEDENCE: dict[str, tuple[str, str]] = {
    "GE": ("private", "private"),
    "SIEMENS": ("private", "standard"),
    "UIH": ("private", "private"),
}
_EITHER = ("private", "standard")
STANDARD_SOURCE = source_label("standard", "standard")
SOURCES = {k: source_label(k, k) for k in ("GE", "SIEMENS", "PHILIPS", "UIH")}
SOURCES["CANON"] = source_label("standard", "CANON")
#: GE (0043,1039) b-values carry this offset on some software versions.
GE_BVALUE_OFFSET = 1_000_000_000


#: dcm2niix's short names of the vendors it finds in a Manufacturer text.
_MANUFACTURERS = (
    ("SIEMENS", "Siemens"),
    ("GE", "GE"),
    ("PHILIPS", "Philips"),
    ("TOSHIBA", "Toshiba"),
    ("CANON", "Canon"),
    ("HITACHI", "Hitachi"),
    ("UIH", "UIH"),
    ("BRUKER", "Bruker"),
)


#: dcm2niix's manufacturer by the first two letters of Manufacturer (0008,0070), whatever follows
#: ("MR Solutions" -> "MRSolutions", "CPS" -> "Siemens", "GEMS" -> "GE"), and the name it writes.
_MANUFACTURER_PREFIXES = {
    "SI": "Siemens",
    "GE": "GE",
    "HI": "Hitachi",
    "ME": "Mediso",
    "PH": "Philips",
    "TO": "Toshiba",
    "CA": "Canon",
    "CP": "Siemens",
    "UI": "UIH",
    "BR": "Bruker",
    "MR": "MRSolutions",
    "HY": "Hyperfine",
    "LE": "Leica",
}


@short_text_cache  # (per file, of a few values per scan)
def manufacturer(text: str) -> str:
    """dcm2niix's short manufacturer name ("SIEMENS" -> "Siemens", "GE MEDICAL SYSTEMS" -> "GE"):
    by the first two letters, as dcm2niix tells the vendor (:data:`_MANUFACTURER_PREFIXES`), else
    by a vendor's name in it (dcm2niix writes none then), else the text itself."""
    if (short := _MANUFACTURER_PREFIXES.get(text[:2].upper())) is not None:
        return short
    up = text.upper()
    for key, name in _MANUFACTURERS:
        if re.search(rf"(^|[^A-Z]){key}([^A-Z]|$)", up):
            return name
    return text


@short_text_cache  # (asked several times per file, of a few values per scan)
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


def stated_manufacturer(manufacturer: str | None, philips_creator: str | None) -> str:
    """Manufacturer (0008,0070), or "Philips" where it is empty or absent (an anonymiser blanked
    it) and the file's private block (2001,0010) is Philips' ("Philips Imaging DD 001"), as
    dcm2niix reads such a file as Philips (its diffusion values and scalings with it). No other
    vendor is told from its private blocks, as dcm2niix tells none."""
    stated = (manufacturer or "").strip()
    if stated or not (philips_creator or "").strip().upper().startswith("PHILIPS"):
        return stated
    return "Philips"


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
    when the comment is not one or its b-value is not ``b`` rounded (dcm2niix's condition), or a
    component is not finite (:func:`_canon_comment` notes it)."""
    return _canon_comment(comment, b)[0]


def _canon_comment(comment: str, b: float) -> tuple[list[float] | None, str]:
    """:func:`canon_comment_gradient` and the note on a component that is not finite ("")."""
    m = _CANON_COMMENT.match(comment)
    if m is None or int(m.group(1)) != math.floor(b + 0.5):
        return None, ""
    try:
        g = [float(x) for x in m.groups()[1:]]
    except ValueError:
        return None, ""
    if all(math.isfinite(x) for x in g):
        return g, ""
    return None, f"{CANON_COMMENT_NOTE}={comment.strip()[:60]!r} is not finite"


def _components(r: Any, keys: Sequence[str]) -> list[float] | None:
    """A direction written as three single-valued attributes, or None when one is missing."""
    comps = [r.get_float(k) for k in keys]
    return None if any(c is None for c in comps) else [float(c) for c in comps if c is not None]


def _ge_bvalue(r: Any) -> float | None:
    """GE's b-value: the first value of (0043,1039), its 1e9 offset removed (one that is not a
    finite number is noted by the reader, as a malformed value)."""
    bv = r.get_float("GE_BValue")
    if bv is None:
        return None
    return bv % GE_BVALUE_OFFSET if bv >= GE_BVALUE_OFFSET else bv


def ge_without_directions(r: Any, manufacturer: str) -> bool:
    """Whether a GE image states its number of diffusion directions (0019,10E0) and it is below
    1: a DWI whose images are trace / ADC (or b = 0) images, not a DTI series. dcm2niix then
    reads an image with a b-value and a zero direction as a derived (trace / ADC) image; where
    the element is absent or counts directions, as a b = 0 image whose (0043,1039) holds the
    series' nominal b-value (:func:`lazyvol.dicom.diffusion.diffusion_meta`)."""
    if vendor_of(manufacturer) != "GE":
        return False
    n = r.get_float("GE_DiffusionDirections")
    return n is not None and n < 1


def _private(
    r: Any, vendor: str, standard_b: float | None
) -> tuple[float | None, list[float] | None]:
    """``(b_value, gradient)`` from ``vendor``'s private attributes (None where not stated)."""
    if vendor == "GE":
        ge_g = _components(r, ("GE_GradientX", "GE_GradientY", "GE_GradientZ"))
        return _unread_b(r, "GE_BValue", _not_negative(r, "GE_BValue", _ge_bvalue(r)), ge_g), ge_g
    if vendor == "SIEMENS":
        b = _not_negative(r, "Siemens_BValue", r.get_float("Siemens_BValue"))
        g = _unit_or_zero(r.get_floats("Siemens_Gradient", 3))
        return _unread_b(r, "Siemens_BValue", b, g), g
    if vendor == "PHILIPS":
        keys = ("Philips_GradientRL", "Philips_GradientAP", "Philips_GradientFH")
        b, g = (
            _not_negative(r, "Philips_BValue", r.get_float("Philips_BValue")),
            _components(r, keys),
        )
        return _unread_b(r, "Philips_BValue", b, g), g
    if vendor == "UIH":
        b = _not_negative(r, "UIH_BValue", r.get_float("UIH_BValue"))
        g = _unit_or_zero(r.get_floats("UIH_Gradient", 3))
        return _unread_b(r, "UIH_BValue", b, g), g
    if vendor == "CANON" and standard_b is not None and standard_b > 0:
        g, problem = _canon_comment(r.get_str("Canon_ImageComments"), standard_b)
        if problem:
            r.bad.append(problem)
        return None, g
    return None, None


def read_diffusion(r: Any, manufacturer: str) -> tuple[float | None, list[float] | None, str]:
    """``(b_value, gradient, source)`` of one image; ``(None, None, "")`` when it has none.

    ``r`` is the header reader (``get_float`` / ``get_floats`` / ``values``). Each value from the
    attributes that state it, from those :data:`PRECEDENCE` names where the image states it in
    both (see the module notes), ``source`` naming both (:func:`source_label`).
    """
    mark = len(r.bad)
    b = _not_negative(r, "DiffusionBValue", r.get_float("DiffusionBValue"))
    g = _unit_or_zero(r.get_floats("DiffusionGradientOrientation", 3))
    vendor = vendor_of(manufacturer)
    private_b, private_g = _private(r, vendor, b)
    if not any(abs(x) > 0 for x in [*(g or ()), *(private_g or ())]):
        # (a negative b-value of an image stating no direction is read as none, not refused: a
        # 3D image's slot (GE's (0043,1039) is shared), or a b = 0 image, as dcm2niix writes it)
        r.bad[mark:] = [n for n in r.bad[mark:] if not n.endswith(" is negative")]
    first = PRECEDENCE.get(vendor)
    if first is None:
        first = ("standard", "standard") if b is not None and g is not None else _EITHER
    b_from = _pick(b, private_b, first[0], vendor)
    g_from = _pick(g, private_g, first[1], vendor)
    if b_from is None:
        return None, None, ""
    b = private_b if b_from == vendor else b
    if g_from is None:
        return b, None, SOURCES[b_from] if b_from != "standard" else STANDARD_SOURCE
    return b, private_g if g_from == vendor else g, source_label(b_from, g_from)


def with_csa_diffusion(
    stated: tuple[float | None, list[float] | None, str],
    csa_b: Sequence[float] | None,
    csa_g: Sequence[float] | None,
) -> tuple[float | None, list[float] | None, str]:
    """A Siemens image's ``(b_value, gradient, source)`` (``stated``: :func:`read_diffusion`'s)
    with its CSA image header's B_value and DiffusionGradientDirection taken first, as dcm2niix
    takes them (the direction only where the header states a B_value; a negative B_value is 0,
    as dcm2niix reads a corrupt one)."""
    b, g, source = stated
    if not csa_b:
        return stated
    b_from = "SIEMENS_CSA"
    b = max(0.0, float(csa_b[0]))
    g_from = direction_source(source) if g is not None else ""
    if csa_g is not None and len(csa_g) == 3:
        g, g_from = [float(x) for x in csa_g], "SIEMENS_CSA"
    return b, g, source_label(b_from, g_from or b_from)


def _pick(standard: Any, private: Any, first: str, vendor: str) -> str | None:
    """Which attributes a value comes from: ``vendor`` (its private ones) or "standard", the
    ``first`` ones when both state it; None when neither does."""
    if private is not None and (standard is None or first == "private"):
        return vendor
    return "standard" if standard is not None else None


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


#: A RealWorldValueSlope above this is no value (dcm2niix's bound: it applies none then).
RWV_LIMIT = 1e38
#: dcm2niix's float tolerance (FLT_EPSILON): a RescaleSlope this close to 1 is 1.
SAME_FLOAT = 1.1920929e-07


def philips_rwv(items: Sequence[Any]) -> tuple[list[float] | None, str]:
    """``([slope, intercept] or None, problem)``: what a Philips image's RealWorldValueMappingSequence
    (0040,9096) ``items`` give its values, as dcm2niix reads them.

    dcm2niix (Philips only) puts a RealWorldValueSlope (0040,9225) in place of a RescaleSlope of 1
    and a RealWorldValueIntercept (0040,9224) in place of a RescaleIntercept of 0, item by item:
    the first item's slope other than 1 and the first intercept other than 0 win (later items
    replace a value only while it is still 1 / 0). A slope above :data:`RWV_LIMIT` (a filler) is
    skipped; an item of slope 0 (no slope, as a RescaleSlope of 0 is none) is skipped whole, its
    intercept too (dcm2niix then writes no scaling at all). None when no item changes
    either; ``problem`` names a value that is not a number (the caller refuses the image)."""
    slope = inter = None
    for item in items:
        try:
            s = item.get("RealWorldValueSlope")
            i = item.get("RealWorldValueIntercept")
        except Exception as exc:  # a value pydicom cannot convert (wrong length, VR)
            return None, f"RealWorldValueMappingSequence (0040,9096) ({type(exc).__name__}: {exc})"
        problem = _rwv_problem(s, i)
        if problem:
            return None, problem
        if s == 0:
            continue  # (a mapping of slope 0 maps nothing: its intercept is none either)
        if slope is None and s and abs(s) <= RWV_LIMIT and abs(s - 1) > SAME_FLOAT:
            slope = float(s)
        if inter is None and i is not None and abs(i) > SAME_FLOAT:
            inter = float(i)
    if slope is None and inter is None:
        return None, ""
    return [1.0 if slope is None else slope, 0.0 if inter is None else inter], ""


def _rwv_problem(slope: Any, inter: Any) -> str:
    """Why an item's real-world slope / intercept is no number ("" when both are, or absent): a
    NaN slope, or an intercept that is not finite (a slope above :data:`RWV_LIMIT` is dcm2niix's
    "none")."""
    for name, value in (
        ("RealWorldValueSlope (0040,9225)", slope),
        ("RealWorldValueIntercept (0040,9224)", inter),
    ):
        if value is None:
            continue
        if not isinstance(value, int | float) or math.isnan(value):
            return f"{name} = {value!r} is not a number"
        if name.startswith("RealWorldValueIntercept") and not math.isfinite(value):
            return f"{name} = {value!r} is not finite"
    return ""


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
