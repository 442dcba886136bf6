"""What lazyvol reads from a DICOM header: the tags, and typed access to their raw values.

Values are decoded from the raw bytes pydicom (or the element walker, :mod:`.walker`) leaves
unconverted, using the VR of :data:`STANDARD_TAGS` / :data:`PRIVATE_TAGS`; malformed values are noted (``bad``), never
raised.
"""

from __future__ import annotations

import math
import struct
from io import BytesIO
from typing import Any

from .bids import BIDS_TAGS, PE_POLARITY_TAGS, XA_BW_PHASE
from .bids_enhanced import ENHANCED_TAGS, INVERSION_TIMES, TRANSMITTER_FREQUENCY
from .bids_extra import EXTRA_TAGS
from .bids_pet import PET_TAGS
from .charset import before_nul
from .ge_phase import GE_PHASE_TAGS
from .ge_timing import GE_TAGS
from .mosaic import CSA_TAGS
from .nm_tags import NM_TAGS
from .records import EXTRA_VALUES, leading_numbers, number
from .siemens_protocol import CSA_SERIES
from .vendor import stated_manufacturer
from .xa_private import SDI_TAGS, XA_PROTOCOL_TAGS

__all__ = [
    "EMPTY_NOTED",
    "HEADER_TAGS",
    "NOT_PLAIN_STACKS",
    "PRIVATE_TAGS",
    "STANDARD_TAGS",
    "Parsed",
    "ValueReader",
    "holds_items",
    "sequence_items",
]

#: The standard attributes lazyvol reads: keyword -> (tag, VR), as in the DICOM dictionary (PS3.6;
#: checked against pydicom's by the tests). A table rather than pydicom's dictionary: opening a
#: series must not import pydicom (about 0.2 s).
STANDARD_TAGS: dict[str, tuple[int, str]] = {
    "SOPClassUID": (0x00080016, "UI"),
    "SOPInstanceUID": (0x00080018, "UI"),
    "StudyInstanceUID": (0x0020000D, "UI"),
    "PatientID": (0x00100020, "LO"),
    "SeriesInstanceUID": (0x0020000E, "UI"),
    "SeriesNumber": (0x00200011, "IS"),
    "SeriesDescription": (0x0008103E, "LO"),
    "Modality": (0x00080060, "CS"),
    "InstanceNumber": (0x00200013, "IS"),
    "AcquisitionNumber": (0x00200012, "IS"),
    "ImageType": (0x00080008, "CS"),
    "Rows": (0x00280010, "US"),
    "Columns": (0x00280011, "US"),
    "SamplesPerPixel": (0x00280002, "US"),
    "PhotometricInterpretation": (0x00280004, "CS"),
    "BitsAllocated": (0x00280100, "US"),
    "BitsStored": (0x00280101, "US"),
    "HighBit": (0x00280102, "US"),
    "PixelRepresentation": (0x00280103, "US"),
    "NumberOfFrames": (0x00280008, "IS"),
    "ImagePositionPatient": (0x00200032, "DS"),
    "ImageOrientationPatient": (0x00200037, "DS"),
    "PixelSpacing": (0x00280030, "DS"),
    "SliceThickness": (0x00180050, "DS"),
    "SpacingBetweenSlices": (0x00180088, "DS"),
    "RescaleSlope": (0x00281053, "DS"),
    "RescaleIntercept": (0x00281052, "DS"),
    "TemporalPositionIdentifier": (0x00200100, "IS"),
    "TriggerTime": (0x00181060, "DS"),
    "EchoTime": (0x00180081, "DS"),
    # a classic image's EffectiveEchoTime: dcm2niix's echo time wherever it is stated (read after
    # EchoTime, it replaces it; 0 or below: no echo time)
    "EffectiveEchoTime": (0x00189082, "FD"),
    "EchoNumbers": (0x00180086, "IS"),
    "DiffusionBValue": (0x00189087, "FD"),
    "AcquisitionTime": (0x00080032, "TM"),
    # the date of AcquisitionTime (images acquired across midnight), and the date and time in one
    "AcquisitionDate": (0x00080022, "DA"),
    "AcquisitionDateTime": (0x0008002A, "DT"),
    # CT reconstructions of one acquisition under one SeriesInstanceUID (split by it)
    "ConvolutionKernel": (0x00181210, "SH"),
    "FrameOfReferenceUID": (0x00200052, "UI"),
    "SharedFunctionalGroupsSequence": (0x52009229, "SQ"),
    "PerFrameFunctionalGroupsSequence": (0x52009230, "SQ"),
    # 4D ordering, image-type splits, diffusion and vendor scaling (dicom4d)
    "Manufacturer": (0x00080070, "LO"),
    "ComplexImageComponent": (0x00089208, "CS"),
    "DiffusionGradientOrientation": (0x00189089, "FD"),
    "DimensionIndexSequence": (0x00209222, "SQ"),
    # Philips: the real-world slope/intercept dcm2niix applies where the rescale is an identity
    "RealWorldValueMappingSequence": (0x00409096, "SQ"),
    # Present only to be refused: real-world values through a lookup table (not applied)
    "ModalityLUTSequence": (0x00283000, "SQ"),
    **NM_TAGS,  # NM reconstructions (SPECT): geometry and frame order
    # Where each compressed frame of a multi-frame file is (pydicom reads the frames by it)
    "ExtendedOffsetTable": (0x7FE00001, "OV"),
}
#: Vendor private attributes read by fixed element number (as dcm2niix does), interpreted only
#: when Manufacturer (0008,0070) names the vendor: pseudo-keyword -> (tag, VR).
PRIVATE_TAGS: dict[str, tuple[int, str]] = {
    "GE_BValue": (0x00431039, "IS"),  # Slop_int_6..9: b-value (+1e9 on some versions) first
    "GE_GradientX": (0x001910BB, "DS"),
    "GE_GradientY": (0x001910BC, "DS"),
    "GE_GradientZ": (0x001910BD, "DS"),
    "GE_DiffusionDirections": (0x001910E0, "DS"),  # number of DTI directions (0 or absent: none)
    "Siemens_BValue": (0x0019100C, "IS"),
    "Siemens_Gradient": (0x0019100E, "FD"),
    # Canon / Toshiba and UIH diffusion (lazyvol.dicom.vendor): Canon's gradient in the standard
    # ImageComments text, read only for Canon images; UIH's private b-value and gradient.
    "Canon_ImageComments": (0x00204000, "LT"),
    "UIH_BValue": (0x00651009, "FD"),
    "UIH_Gradient": (0x00651037, "FD"),
    "Philips_Creator": (0x20010010, "LO"),  # (a file without Manufacturer: Philips' block)
    "Philips_BValue": (0x20011003, "FL"),
    "Philips_GradientRL": (0x200510B0, "FL"),
    "Philips_GradientAP": (0x200510B1, "FL"),
    "Philips_GradientFH": (0x200510B2, "FL"),
    "Philips_ScaleSlope": (0x2005100E, "FL"),
    "GE_ImageKind": (0x0043102F, "SS"),  # 0 magnitude, 1 phase, 2 real, 3 imaginary
    # UIH GRID mosaics (lazyvol.dicom.grid): slices in the file, and one item per slice
    # holding its ImagePositionPatient (UIH/README.md of dcm2niix)
    "UIH_SlicesInVolume": (0x00651050, "DS"),
    "UIH_VFrameSequence": (0x00651051, "SQ"),
    # Philips ASL: LABEL or CONTROL image (2005,1429) (lazyvol.dicom.ordering, as dcm2niix reads it)
    "Philips_LabelType": (0x20051429, "CS"),
}
HEADER_TAGS: list[int] = [t for t, _ in STANDARD_TAGS.values()]
HEADER_TAGS += [t for t, _ in PRIVATE_TAGS.values()]

# -- acquisition / Siemens private tags (raw bytes, decoded by lazyvol.dicom.bids / .mosaic) ------
_EXTRA_TAGS = (
    frozenset(BIDS_TAGS)
    | {tag for tag, _ in PE_POLARITY_TAGS.values()}
    | {XA_BW_PHASE}
    | SDI_TAGS
    | frozenset(CSA_TAGS)
    | GE_TAGS
    | GE_PHASE_TAGS
    | EXTRA_TAGS
    | ENHANCED_TAGS
    | {INVERSION_TIMES, TRANSMITTER_FREQUENCY}
    | PET_TAGS
)
HEADER_TAGS += sorted(_EXTRA_TAGS)
#: Read by pydicom's path (which reads the header whole), by the walker only when needed
#: (:func:`lazyvol.dicom.walker.wants_series_header`; the XA protocol never: located only).
HEADER_TAGS += sorted(CSA_SERIES.values()) + sorted(XA_PROTOCOL_TAGS)

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
_PIXEL_TAGS = {
    0x7FE00010: "PixelData",
    0x7FE00008: "FloatPixelData",
    0x7FE00009: "DoubleFloatPixelData",
}
_LONG_VRS = {
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"SV",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"UV",
}

#: Image objects that are not plain stacks of frames: refused until supported explicitly.
NOT_PLAIN_STACKS = {
    "1.2.840.10008.5.1.4.1.1.66.4": "Segmentation Storage (SEG)",
    "1.2.840.10008.5.1.4.1.1.481.2": "RT Dose Storage (RTDOSE)",
    "1.2.840.10008.5.1.4.1.1.481.1": "RT Image Storage (RTIMAGE)",
    "1.2.840.10008.5.1.4.1.1.11.1": "Grayscale Softcopy Presentation State",
}


_TAG = {k: t for k, (t, _) in (STANDARD_TAGS | PRIVATE_TAGS).items()}


def sequence_items(elem: Any, encodings: list[str] | None = None) -> list[Any] | str:
    """The items of a top-level sequence element as pydicom datasets, or why they cannot be read.

    ``elem`` is the raw element (its value the sequence's bytes, from the walker or pydicom's
    generator) or one pydicom parsed already; ``encodings``: the Python encodings of the file's
    character sets (:func:`lazyvol.dicom.charset.python_encodings`) for text in the items."""
    value = getattr(elem, "value", None)
    if value is None:
        return "is empty"
    if not isinstance(value, bytes | bytearray):
        try:
            return list(value)  # a sequence pydicom parsed already
        except TypeError:
            return "is not a sequence"
    from pydicom.filereader import read_sequence

    vr = getattr(elem, "VR", None)
    # (a UN value holding a sequence is implicit VR little endian, PS3.5 6.2.2)
    implicit = vr in (None, "UN") or bool(getattr(elem, "is_implicit_VR", False))
    little = vr == "UN" or bool(getattr(elem, "is_little_endian", True))
    try:
        seq = read_sequence(
            BytesIO(bytes(value)), implicit, little, len(value), encodings or ["iso8859"]
        )
        return list(seq)
    except Exception as exc:  # pydicom raises what its parser meets in malformed bytes
        return f"does not parse ({type(exc).__name__}: {exc})"


def holds_items(elem: Any) -> bool:
    """Whether a top-level sequence element holds an item (or bytes that do not parse as a
    sequence: maybe one): an empty sequence, of no value or of no item, holds none."""
    if getattr(elem, "value", None) is None:
        return False
    return bool(sequence_items(elem))


def _tag_str(keyword: str) -> str:
    t = _TAG[keyword]
    return f"({t >> 16:04X},{t & 0xFFFF:04X})"


_BINARY = {
    "AT": "H",
    "US": "H",
    "UL": "L",
    "SS": "h",
    "SL": "l",
    "FL": "f",
    "FD": "d",
    "SV": "q",
    "UV": "Q",
}


def _item_size(vr: str) -> int:
    """Bytes of one item of binary VR ``vr`` (standard sizes: UL is 4 bytes whatever C's long
    is), 0 for a text VR."""
    return struct.calcsize("<" + _BINARY[vr]) if vr in _BINARY else 0


#: keyword -> (tag, struct format of a binary VR's item or "" for a text VR, item size, VR): one
#: lookup per value read (a header scan reads ~34 values per file).
_SPEC: dict[str, tuple[int, str, int, str]] = {
    k: (t, _BINARY.get(vr, ""), _item_size(vr), vr)
    for k, (t, vr) in (STANDARD_TAGS | PRIVATE_TAGS).items()
}
#: (little endian, struct format) -> the Struct of one item (:meth:`ValueReader.values`).
_ONE_ITEM = {
    (le, f): struct.Struct(("<" if le else ">") + f)
    for le in (True, False)
    for f in _BINARY.values()
}
_TEXT_VRS = frozenset("AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT".split())
#: VRs of numbers written as text.
_NUMBER_TEXT_VRS = frozenset({"IS", "DS"})


def _written_format(dict_vr: str, vr: str) -> tuple[str, int] | None:
    """(struct format or "" for text, item size) to decode a value written with the explicit VR
    ``vr`` where the dictionary has ``dict_vr``, as pydicom decodes it (by the VR written); None
    when a value of that VR cannot be one of this attribute (a number as bytes, a UID as a
    number)."""
    if vr in _BINARY:
        if dict_vr in _BINARY or dict_vr in _NUMBER_TEXT_VRS:
            return _BINARY[vr], _item_size(vr)
        return None
    if vr in _TEXT_VRS and (dict_vr not in _BINARY or vr in _NUMBER_TEXT_VRS):
        return "", 0
    return None


def _split_text(value: bytes | bytearray, whole: bool = False) -> list[Any] | None:
    """A text value's items up to its first NUL, as dcm2niix reads text (EchoTime '30<NUL>junk'
    is 30; ``whole``: a UID, kept whole as pydicom keeps it), stripped of padding; None when it
    is empty."""
    text = value.decode("latin-1")
    text = (text if whole else before_nul(text)).strip(" \x00")
    if not text:
        return None
    if "\\" not in text:
        return [text]
    return [t.strip(" \x00") for t in text.split("\\")]


#: Attributes of value multiplicity 1 that lay out the pixels: several values are a corrupt header
#: (taking the first would read the pixel data with a made-up layout), not a choice to make.
SINGLE_VALUED = frozenset(
    {
        "Rows",
        "Columns",
        "SamplesPerPixel",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "NumberOfFrames",
        "RescaleSlope",
        "RescaleIntercept",
    }
)


#: Pixel-layout and rescale attributes noted as malformed when present with no value
#: (:meth:`ValueReader.note_empty`; NumberOfFrames last: one native frame is read as one). An
#: empty RescaleSlope / RescaleIntercept read as 1 / 0 scaled that image unlike the series' others
#: (pydicom cannot apply it, dcm2niix reads 0); empty in every file of a volume, it is read as absent
#: (:func:`lazyvol.dicom.checks.empty_in_every_record`).
EMPTY_NOTED = (
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "RescaleSlope",
    "RescaleIntercept",
    "NumberOfFrames",
)


#: :meth:`ValueReader._one`'s answer for an element the general path reads.
_GENERAL = object()


def _plain_int(x: Any) -> int | None:
    """A binary VR's int as it is and the usual IS text ("12", " 12 ") as its int; None for
    anything else ("1.0", "1e3", bad values and other types take the general path)."""
    if type(x) is int:
        return x
    if type(x) is str:
        try:
            return None if "_" in x else int(x)  # (a digit separator: no DICOM number)
        except ValueError:
            return None
    return None


class ValueReader:
    """Typed, guarded access to raw header values; malformed ones are noted, not raised.

    Values are decoded here from the raw bytes pydicom leaves unconverted (its per-element value
    conversion costs more than the parse itself), using the VR of :data:`STANDARD_TAGS` /
    :data:`PRIVATE_TAGS`.
    """

    def __init__(self, ds: Any) -> None:
        self.ds = ds
        self.raw = ds._dict
        self.bad: list[str] = []
        #: Keywords read by their leading values (:data:`~lazyvol.dicom.records.EXTRA_VALUES`).
        self.extra: list[str] = []

    def read_notes(self) -> dict[str, Any]:
        """How values were read, for ``FrameRecord.acq``: the keywords read by their leading
        values (:data:`~lazyvol.dicom.records.EXTRA_VALUES`), when any was."""
        return {EXTRA_VALUES: sorted(set(self.extra))} if self.extra else {}

    def __contains__(self, keyword: str) -> bool:
        return _TAG[keyword] in self.raw

    def note_empty(self, keywords: tuple[str, ...]) -> None:
        """Note each of ``keywords`` present with no value as malformed ("... is empty"): read as
        0 or -1, it was reported as that value, one the file does not hold."""
        self.bad.extend(
            f"{k} {_tag_str(k)} is empty" for k in keywords if self.unstated(k) == "empty"
        )

    def unstated(self, keyword: str) -> str:
        """ "missing" or "empty" when ``keyword`` states no value; "" when it holds one, read or
        noted as malformed (a value of 4 or 3 bytes is not an empty one: its note names it)."""
        if keyword not in self:
            return "missing"
        # (an element :meth:`_one` reads holds a value: present and empty is the general case)
        if self._one(keyword) is not _GENERAL or self.values(keyword):
            return ""
        return (
            "" if any(b.startswith(f"{keyword} {_tag_str(keyword)}") for b in self.bad) else "empty"
        )

    def _one(self, keyword: str) -> Any:
        """The one item :meth:`values` gives for ``keyword`` when its element is the usual one
        (bytes written with the dictionary's VR, or none / UN: one text value, or one binary
        item), None when it is absent, else :data:`_GENERAL` (read it by :meth:`values`). The
        ~20 numbers a header scan reads per file take this path: no list, no second call."""
        tag, fmt, size, dict_vr = _SPEC[keyword]
        elem = self.raw.get(tag)
        if elem is None:
            return None
        value = elem.value
        vr = getattr(elem, "VR", None)
        if type(value) is not bytes or not (vr is None or vr == dict_vr or vr == "UN"):
            return _GENERAL
        if fmt:
            if len(value) != size:
                return _GENERAL
            return _ONE_ITEM[bool(getattr(elem, "is_little_endian", True)), fmt].unpack(value)[0]
        text = value.decode("latin-1")
        text = (text if dict_vr == "UI" else before_nul(text)).strip(" \x00")
        return text if text and "\\" not in text else _GENERAL  # (as _split_text gives it)

    def values(self, keyword: str) -> list[Any] | None:
        """Decoded values (strings stripped, numbers for binary VRs), or None when absent/empty.

        Decoded by the VR the element is written with in an explicit-VR file (pydicom's reading:
        Rows written as IS "48" is 48), by the dictionary's in an implicit-VR one or for UN.
        """
        tag, fmt, size, dict_vr = _SPEC[keyword]
        elem = self.raw.get(tag)
        if elem is None:
            return None
        value = elem.value
        if value is None or (isinstance(value, bytes | bytearray) and not value):
            return None  # (empty whatever its VR, as pydicom's reader gives it: no VR note)
        vr = getattr(elem, "VR", None)
        if type(value) is bytes and (vr is None or vr == dict_vr or vr == "UN"):
            # The usual element (the walker's bytes, written with the dictionary's VR): text, or
            # one binary item, decoded at once; everything else by the general path below.
            if not fmt:
                return _split_text(value, whole=dict_vr == "UI")
            if len(value) == size:
                little = bool(getattr(elem, "is_little_endian", True))
                return [_ONE_ITEM[little, fmt].unpack(value)[0]]
        if vr and vr != dict_vr and vr != "UN" and isinstance(value, bytes | bytearray):
            written = _written_format(dict_vr, vr)
            if written is None:
                self._note(
                    f"{keyword} {_tag_str(keyword)} is written with VR {vr}, where the DICOM "
                    f"dictionary has {dict_vr}: a {vr} value cannot be read as this attribute"
                )
                return None
            fmt, size = written
        if not isinstance(value, bytes | bytearray):
            # Already converted by pydicom (e.g. in a file read without specific tags).
            items = (
                list(value)
                if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue"
                else [value]
            )
            return [x for x in items] or None
        if not fmt:
            return _split_text(value, whole=dict_vr == "UI")
        if len(value) % size:
            self._note(
                f"{keyword} {_tag_str(keyword)} holds {len(value)} byte(s), not whole {size}-byte values"
            )
            return None
        endian = "<" if getattr(elem, "is_little_endian", True) else ">"
        return list(struct.unpack(f"{endian}{len(value) // size}{fmt}", value)) or None

    def _note(self, what: str) -> None:
        """Note a malformed value (once, however often it is read)."""
        if what not in self.bad:
            self.bad.append(what)

    def get_str(self, keyword: str) -> str:
        """The text of ``keyword``'s values (joined by backslashes), up to its first NUL as
        dcm2niix reads text (:func:`~lazyvol.dicom.charset.before_nul`: 'MR<NUL>X' is an MR
        image); a UID whole, as pydicom keeps it (what tells files apart is never cut)."""
        tag, fmt, _, dict_vr = _SPEC[keyword]
        elem = self.raw.get(tag)
        if elem is None:
            return ""
        cut = (lambda t: t) if dict_vr == "UI" else before_nul
        value = elem.value
        if type(value) is bytes and not fmt and getattr(elem, "VR", None) in (None, "UN", dict_vr):
            # one text value written as the dictionary's VR: what the general path gives
            text = cut(value.decode("latin-1")).strip(" \x00")
            if "\\" not in text:
                return text.strip()
        v = self.values(keyword)
        return "" if not v else cut("\\".join(str(x) for x in v)).strip()

    def manufacturer(self) -> str:
        """Manufacturer (0008,0070), or the vendor its private block names where it is empty
        (:func:`lazyvol.dicom.vendor.stated_manufacturer`)."""
        return stated_manufacturer(self.get_str("Manufacturer"), self.get_str("Philips_Creator"))

    def echo_time(self) -> float | None:
        """A classic image's echo time as dcm2niix reads it: EffectiveEchoTime (0018,9082) when
        stated (read after EchoTime (0018,0081), it replaces it, even empty: no echo time), else
        EchoTime."""
        if "EffectiveEchoTime" in self:
            return self.get_float("EffectiveEchoTime")
        return self.get_float("EchoTime")

    def get_strs(self, keyword: str) -> list[str] | None:
        v = self.values(keyword)
        return None if v is None else [str(x) for x in v]

    def _num(self, keyword: str, x: Any) -> float | None:
        try:
            f = number(x)
        except (TypeError, ValueError):
            self.bad.append(f"{keyword} {_tag_str(keyword)}={x!r} is not a number")
            return None
        if not math.isfinite(f):
            self.bad.append(f"{keyword} {_tag_str(keyword)}={x!r} is not finite")
            return None
        return f

    def get_int(self, keyword: str) -> int | None:
        x = self._one(keyword)
        if (n := _plain_int(x)) is not None:
            return n
        if x is None:
            return None
        v = self.values(keyword)
        if not v or v[0] == "":
            return None
        if len(v) > 1 and keyword in SINGLE_VALUED:
            self.bad.append(
                f"{keyword} {_tag_str(keyword)}={v!r} has {len(v)} values where the standard "
                "allows one"
            )
            return None
        x = v[0]
        if (n := _plain_int(x)) is not None:  # (a binary VR's value, or the usual IS text)
            return n
        f = self._num(keyword, x)
        if f is None:
            return None
        if f != int(f):
            self.bad.append(f"{keyword} {_tag_str(keyword)}={v[0]!r} is not an integer")
            return None
        return int(f)

    def get_float(self, keyword: str) -> float | None:
        x = self._one(keyword)
        if x is None:
            return None
        if type(x) is str or type(x) is int or type(x) is float:
            try:
                f = number(x)
            except ValueError:
                f = math.nan  # (noted below)
            if math.isfinite(f):
                return f
        v = self.values(keyword)
        if not v or v[0] == "":
            return None
        if len(v) > 1 and keyword in SINGLE_VALUED:
            self.bad.append(
                f"{keyword} {_tag_str(keyword)}={v!r} has {len(v)} values where the standard "
                "allows one"
            )
            return None
        return self._num(keyword, v[0])

    def get_floats(self, keyword: str, n: int) -> list[float] | None:
        v = self.values(keyword)
        if v is None:
            return None
        if len(v) == n:  # the usual values: n finite numbers (their sum is finite then only)
            try:
                floats = [number(x) for x in v]
            except (TypeError, ValueError):
                floats = [math.nan]  # (noted below)
            if math.isfinite(sum(floats)):
                return floats
        if len(v) > n:  # (a trailing backslash, a third PixelSpacing: read as dcm2niix reads it)
            lead, _ = leading_numbers(v, n)
            self.extra += [keyword] if lead is not None else []
            if lead is not None:
                return lead
        out = [self._num(keyword, x) for x in v]
        if len(out) != n or any(x is None for x in out):
            self.bad.append(f"{keyword} {_tag_str(keyword)}={v!r} is not {n} finite numbers")
            return None
        return [float(x) for x in out if x is not None]


class Parsed:
    """What the fast path hands on: raw elements (``_dict``) and the file's encoding."""

    def __init__(
        self,
        raw: dict[int, Any],
        media_sop: str,
        tsyntax: str,
        repeated: tuple[int, ...] = (),
        *,
        implicit: bool | None = None,
    ) -> None:
        self._dict = raw
        self.media_sop = media_sop
        self.tsyntax = tsyntax
        #: Wanted tags met more than once in the data set (a malformed file).
        self.repeated = repeated
        #: Whether the data set is implicit VR as read (by its first element, as pydicom decides:
        #: a file whose transfer syntax says otherwise is read as it is written).
        self.implicit = tsyntax == "1.2.840.10008.1.2" if implicit is None else implicit
        #: Deflated data set: the file offset of its deflate stream (-1: not deflated).
        self.inflated_from = -1
