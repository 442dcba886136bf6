"""The frame record: everything lazyvol keeps about one DICOM image file after its header scan.

A record is small, JSON-friendly (stored in the persisted scan index) and holds the byte offset and
length of the Pixel Data value, so pixels can later be read straight from the file.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from .charset import SHORT_TEXT

__all__ = [
    "EXTRA_VALUES",
    "FrameRecord",
    "INTERCEPT_ONLY",
    "ONE_FRAME_TAKEN",
    "ONE_VALUE_SPACING",
    "RECORD_FIELDS",
    "SAME_REL",
    "add_extra_values",
    "close_groups",
    "drop_nonfinite",
    "echo_number_of",
    "leading_numbers",
    "number",
    "one_frame_held",
    "same_value",
    "spacing_pair",
]

#: ``FrameRecord.acq`` key of an image whose PixelSpacing (0028,0030) holds one value, not the
#: two (row, column spacing) the standard requires: taken for both, as dcm2niix reads it, and said
#: (:func:`lazyvol.dicom.stack_notes.top_level_notes`).
ONE_VALUE_SPACING = "_one_value_spacing"
#: ``FrameRecord.acq`` key of a GE image whose number of diffusion directions (0019,10E0) is
#: stated and below 1 (a DWI, trace or ADC series, not DTI): an image there with a b-value and a
#: zero or missing direction is a derived trace / ADC image, as dcm2niix reads it, not a b = 0
#: image (:func:`lazyvol.dicom.vendor.ge_without_directions`).
GE_NO_DTI = "_ge_no_dti"
#: ``FrameRecord.acq`` key of an image whose NumberOfFrames (0028,0008) is empty or 0 while its
#: native Pixel Data holds one frame: read as one frame, as pydicom and dcm2niix read it, and said
#: (:func:`one_frame_held`; :func:`lazyvol.dicom.stack_notes.top_level_notes`).
ONE_FRAME_TAKEN = "_one_frame_taken"
#: ``FrameRecord.acq`` key of an image stating a non-zero RescaleIntercept (0028,1052) but no
#: RescaleSlope (0028,1053) (absent or empty; the standard has them together): read with slope 1
#: and the intercept, as dcm2niix reads it, while pydicom applies no rescale to it; said
#: (:func:`lazyvol.dicom.checks.check_records`).
INTERCEPT_ONLY = "_intercept_only"
#: ``FrameRecord.acq`` key of an image whose ImagePositionPatient, ImageOrientationPatient,
#: PixelSpacing (or another multi-valued number lazyvol reads) holds more values than the standard's
#: count, the extra ones empty or numbers (a trailing backslash, a third PixelSpacing value): the
#: sorted keywords of those read by their leading values, as dcm2niix and SimpleITK read them
#: (:func:`leading_numbers`; said by :func:`lazyvol.dicom.stack_notes.top_level_notes`).
EXTRA_VALUES = "_extra_values"


#: Numbers one attribute states in several images that differ by less than this (relative) are
#: one value: a float32 printed to 16 characters ("1.49999988079071" for 1.5, as converters
#: write DS values) is about 1e-7 off its decimal.
SAME_REL = 1e-6

_T = TypeVar("_T")


def close_groups(items: Iterable[_T], key: Callable[[_T], float]) -> list[tuple[float, list[_T]]]:
    """``items`` grouped by the number ``key`` gives each, numbers within :data:`SAME_REL` of each
    other one group, in ascending order: each group's number (the one written with the fewest
    digits: 1.5 of 1.5 and 1.49999988079071) and its items."""
    ordered = sorted(items, key=key)
    groups: list[list[_T]] = []
    for item in ordered:
        if groups and math.isclose(key(item), key(groups[-1][-1]), rel_tol=SAME_REL):
            groups[-1].append(item)
        else:
            groups.append([item])
    return [(min((key(i) for i in g), key=lambda v: (len(repr(v)), v)), g) for g in groups]


def same_value(values: Iterable[Any]) -> Any:
    """The one number ``values`` state (numbers within :data:`SAME_REL` of each other one value,
    :func:`close_groups`; the one written with the fewest digits, as stated); None when they state
    several, or when one of them is None (not stated), or none at all. Other values: the one value
    they all are, else None."""
    vals = list(values)
    if not vals or any(v is None for v in vals):
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals):
        return vals[0] if all(v == vals[0] for v in vals) else None
    groups = close_groups(vals, float)
    if len(groups) != 1:
        return None
    return min(groups[0][1], key=lambda v: (len(repr(v)), v))


def echo_number_of(r: FrameRecord) -> int | None:
    """The echo number of an image: the number an enhanced file of several echo times gave its
    frame (``acq["EchoNumber"]``, :func:`lazyvol.dicom.multiframe.expand_frames`, as dcm2niix
    numbers them: the file's one EchoNumbers (0018,0086), if any, cannot tell its frames apart),
    else its EchoNumbers; None when neither is stated."""
    given = (r.acq or {}).get("EchoNumber")
    return given if isinstance(given, int) else r.echo_number


#: The numbers an enhanced frame's functional groups give that :func:`drop_nonfinite` checks:
#: (field, the attribute named in the note).
_GROUP_NUMBERS = (
    ("echo_time", "EffectiveEchoTime (0018,9082)"),
    ("trigger_time", "NominalCardiacTriggerDelayTime (0020,9153)"),
    ("b_value", "DiffusionBValue (0018,9087)"),
    ("gradient", "DiffusionGradientOrientation (0018,9089)"),
    ("slice_thickness", "SliceThickness (0018,0050)"),
    ("spacing_between_slices", "SpacingBetweenSlices (0018,0088)"),
)


def drop_nonfinite(fr: FrameRecord) -> None:
    """Unset (in place) the numbers of an enhanced frame's functional groups that are not finite
    (a NaN or infinite FD), each noted in ``bad_attributes`` as the header reader notes a
    top-level one ("DiffusionBValue (0018,9087)=nan is not finite"): a NaN compared as no value,
    and an infinite direction normalised to NaN, in the .bvec. (Its position, orientation,
    spacing and rescale are refused by :func:`lazyvol.dicom.checks.check_records`.) A negative
    b-value is unset and noted too ("... is negative"): read as stated it went to the .bval."""
    for name, attribute in _GROUP_NUMBERS:
        value = getattr(fr, name)
        values = value if isinstance(value, list) else [value]
        if value is not None and not all(math.isfinite(v) for v in values):
            setattr(fr, name, None)
            fr.bad_attributes = [*(fr.bad_attributes or []), f"{attribute}={value!r} is not finite"]
    if fr.b_value is not None and fr.b_value < 0:  # (never negative: as the header reader notes)
        note = f"DiffusionBValue (0018,9087)={fr.b_value!r} is negative"
        directed = any(abs(x) > 0 for x in fr.gradient or ())
        fr.b_value = None
        if directed:  # (stating no direction: read as none, as the header reader reads it)
            fr.bad_attributes = [*(fr.bad_attributes or []), note]


def one_frame_held(rec: FrameRecord, native: bool) -> bool:
    """Whether ``rec``'s Pixel Data is ``native`` (not encapsulated) and holds one frame of Rows x
    Columns x SamplesPerPixel x BitsAllocated, not two: an empty or 0 NumberOfFrames (0028,0008)
    then says no more than its absence (pydicom and dcm2niix read one frame); elsewhere the frame
    count is unknown and refused."""
    bits = rec.bits_allocated
    if not native or rec.pixel_length < 0 or bits <= 0:
        return False
    # (bits packed, as BitsAllocated 1 is: the frame's whole bytes; the file is then refused
    # for its BitsAllocated, naming the remedy, not for a frame count it does not lack)
    frame = (rec.rows * rec.columns * max(1, rec.samples_per_pixel) * bits + 7) // 8
    return 0 < frame <= rec.pixel_length < 2 * frame


def number(text: Any) -> float:
    """``float(text)`` for a DS or IS value, refusing Python's forms DICOM's grammar lacks: a
    digit separator ('1_000', which ``float`` reads as 1000 and dcm2niix's ``atof`` as 1). A value
    pydicom converted (its DSfloat / IS, in a sequence it parsed) is judged by the text it was
    read from (``original_string``): pydicom's ``float`` took '1_0' for 10 there too.

    Raises
    ------
    ValueError
        ``text`` is not a number.
    """
    written = getattr(text, "original_string", text)
    if isinstance(written, str) and "_" in written:
        raise ValueError(f"not a DICOM number: {written!r}")
    return float(text)


def leading_numbers(values: Any, n: int) -> tuple[list[float] | None, bool]:
    """The first ``n`` of ``values`` as finite numbers, and whether more values followed them.

    Values past the standard's ``n`` that are empty or numbers (a trailing backslash, a third
    PixelSpacing value) are left, as dcm2niix and SimpleITK leave them (:data:`EXTRA_VALUES`).
    None when there are fewer than ``n``, a leading one is not a finite number, or an extra one
    is text: a value that may not be what it says.
    """
    try:
        items = list(values)
        lead = [number(v) for v in items[:n]]
        extra = [str(v).strip(" \x00") for v in items[n:]]
        rest = [number(v) for v in extra if v]
    except (TypeError, ValueError):
        return None, False
    if len(lead) != n or not all(math.isfinite(v) for v in lead + rest):
        return None, False
    return lead, len(items) > n


def add_extra_values(acq: dict[str, Any] | None, keywords: Iterable[str]) -> dict[str, Any] | None:
    """``acq`` noting ``keywords`` as read by their leading values (:data:`EXTRA_VALUES`)."""
    named = sorted({*(acq or {}).get(EXTRA_VALUES, ()), *keywords})
    return {**(acq or {}), EXTRA_VALUES: named} if named else acq


def spacing_pair(value: Any) -> tuple[list[float] | None, str]:
    """A PixelSpacing value as read by pydicom (row, column spacing) and how it was read: ``""``
    from two numbers, :data:`ONE_VALUE_SPACING` from one number taken for both,
    :data:`EXTRA_VALUES` from the first two of more (:func:`leading_numbers`); None when it is
    none of these."""
    if isinstance(value, str) or (value is not None and not hasattr(value, "__iter__")):
        value = [value]
    if value is not None and len(list(value)) > 2:
        pair, _ = leading_numbers(value, 2)
        return pair, EXTRA_VALUES if pair is not None else ""
    try:
        out = [number(v) for v in value] if value is not None else []
    except (TypeError, ValueError):
        return None, ""
    if len(out) == 1:
        return out * 2, ONE_VALUE_SPACING
    return (out, "") if len(out) == 2 else (None, "")


@dataclass
class FrameRecord:
    """Header facts of one DICOM image file (one or more frames)."""

    path: str
    size: int
    mtime_ns: int
    transfer_syntax: str
    sop_class_uid: str = ""
    sop_instance_uid: str = ""
    study_uid: str = ""
    series_uid: str = ""
    series_number: int | None = None
    series_description: str = ""
    modality: str = ""
    instance_number: int | None = None
    acquisition_number: int | None = None
    image_type: list[str] | None = None
    rows: int = 0
    columns: int = 0
    samples_per_pixel: int = 1
    photometric: str = ""
    bits_allocated: int = 0
    bits_stored: int = 0
    high_bit: int = 0
    pixel_representation: int = 0
    number_of_frames: int = 1
    ipp: list[float] | None = None
    iop: list[float] | None = None
    pixel_spacing: list[float] | None = None
    slice_thickness: float | None = None
    spacing_between_slices: float | None = None
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    temporal_position: int | None = None
    trigger_time: float | None = None
    echo_time: float | None = None
    echo_number: int | None = None
    b_value: float | None = None
    acquisition_time: str | None = None
    frame_of_reference_uid: str = ""
    #: Byte offset of the Pixel Data *value* (just after its element header).
    pixel_offset: int = -1
    #: Value length of Pixel Data in bytes; -1 for undefined length (encapsulated).
    pixel_length: int = -1
    pixel_vr: str = ""
    #: Attributes present but unparseable, as "Keyword (gggg,eeee)='value'" strings.
    bad_attributes: list[str] | None = None
    #: Frame index within a multi-frame file (0 for single-frame files).
    frame: int = 0
    # -- 4D ordering, image-type splits, diffusion, vendor scaling (appended; keep at the END) --
    manufacturer: str = ""
    #: ComplexImageComponent (0008,9208) (enhanced: per frame), e.g. MAGNITUDE / PHASE.
    complex_component: str = ""
    #: Diffusion gradient direction (LPS, as stored) from standard or vendor attributes.
    gradient: list[float] | None = None
    #: Which attributes gave ``b_value`` / ``gradient`` (e.g. "DiffusionBValue (0018,9087)").
    diffusion_source: str = ""
    #: Enhanced: DimensionIndexValues (0020,9157) of the non-spatial dimensions, and their names,
    #: the most significant for the volume order first (dcm2niix's order, see multiframe).
    dimension_values: list[int] | None = None
    dimension_names: list[str] | None = None
    #: Philips private scale slope (2005,100E) (floating-point values = stored value / it).
    philips_scale_slope: float | None = None
    #: Inode and status-change time of the file when scanned: with size and mtime_ns, the identity
    #: every pixel read checks (a file rewritten or replaced since is refused, never misread).
    inode: int = 0
    ctime_ns: int = 0
    #: Siemens mosaic tile: [mosaic Rows, mosaic Columns, tile index] (None: not a mosaic tile).
    mosaic: list[int] | None = None
    #: Acquisition values for the BIDS sidecar / diffusion table (:mod:`lazyvol.dicom.bids`).
    acq: dict[str, Any] | None = None
    #: ETag of a remote object when scanned ("" for local files): what its pixel reads check.
    etag: str = ""
    #: Enhanced: StackID (0020,9056) of the frame ("" when absent); frames of different stacks
    #: are separate volumes.
    stack_id: str = ""
    #: Native pixel data: the bytes past the image the header states (a row or more, less than a
    #: frame) are not all zero, so they are data, not padding (see :mod:`lazyvol.dicom.excess`).
    excess_data: bool = False
    #: PatientID (0010,0020) as a digest (:func:`lazyvol.dicom.header_record.patient_token`;
    #: never the identifier in clear): with StudyInstanceUID, what tells two patients' series
    #: apart when an export or anonymiser gave them one SeriesInstanceUID.
    patient_id: str = ""
    #: When the image was acquired, as a DICOM DT (:func:`lazyvol.dicom.dicom_time.stated_datetime`:
    #: AcquisitionDate (0008,0022) + AcquisitionTime (0008,0032), else AcquisitionDateTime
    #: (0008,002A); enhanced: the frame's FrameAcquisitionDateTime (0018,9074)); "" when no date
    #: is stated. What orders images acquired across midnight.
    acquisition_datetime: str = ""
    #: ConvolutionKernel (0018,1210) (its values joined by a backslash; "" when not stated): two
    #: reconstructions of one CT acquisition under one SeriesInstanceUID are two volumes.
    convolution_kernel: str = ""
    #: Philips: [slope, intercept] of the RealWorldValueMappingSequence (0040,9096) (enhanced: the
    #: frame's) that replace a RescaleSlope of 1 / RescaleIntercept of 0, as dcm2niix applies them
    #: (:func:`lazyvol.dicom.vendor.philips_rwv`); None when it changes neither, or not Philips.
    philips_rwv: list[float] | None = None
    #: JPEG 2000, HTJ2K and JPEG-LS files: the sample precision the codestream of the (first)
    #: frame states (:func:`lazyvol.dicom.codestream.kept_precision`), read at open when the
    #: pixels' support is checked; 0: not read, or not stated. Their decoders return values of
    #: that precision whatever BitsStored says, as pydicom does: the volume's dtype holds them.
    codestream_bits: int = 0
    #: Enhanced frame whose FrameType (0008,9007) is its ``image_type``: its file's ImageType
    #: (0008,0008), which a sidecar states (dcm2niix reads the file's, not the frames'; [] where
    #: the file states none: no sidecar ImageType); None elsewhere (``image_type`` is then the
    #: file's). See :attr:`stated_image_type`.
    file_image_type: list[str] | None = None
    #: ImageOrientationPatient as stated where :func:`lazyvol.dicom.checks.check_records` repaired
    #: ``iop`` (rounded cosines made orthonormal): the sidecar's ImageOrientationPatientDICOM,
    #: as dcm2niix writes the stated values. None where ``iop`` is as stated.
    stated_iop: list[float] | None = None
    #: Enhanced frame whose FrameAcquisitionDateTime (0018,9074) gave ``acquisition_time`` and
    #: ``acquisition_datetime``: its file's [AcquisitionTime, date and time as
    #: :func:`lazyvol.dicom.dicom_time.stated_datetime`] ("" where not stated), which the
    #: sidecar's AcquisitionTime is taken from, as dcm2niix reads the file's, not the frames';
    #: None elsewhere.
    file_acquisition: list[str] | None = None
    #: Deflated Explicit VR Little Endian (:mod:`lazyvol.dicom.deflated`): [file offset of the
    #: data set's deflate stream, bytes it inflates to (counted up to 64 KiB past the pixel
    #: element)]; ``pixel_offset`` and ``pixel_length`` then count inflated bytes. None elsewhere.
    deflated: list[int] | None = None

    def to_list(self) -> list[Any]:
        """Values in field order (compact form for the scan index)."""
        return list(_FIELD_VALUES(self))

    @classmethod
    def from_list(cls, values: list[Any]) -> FrameRecord:
        """Inverse of :meth:`to_list`."""
        return cls(*values)

    @property
    def data_size(self) -> int:
        """Bytes that ``pixel_offset`` and ``pixel_length`` are counted in: the file's size, or
        the inflated data set's (as far as it was counted) of a Deflated file."""
        return self.deflated[1] if self.deflated else self.size

    @property
    def where(self) -> str:
        """The file, and for a multi-frame file the frame (1-based, as DICOM numbers frames), for
        a tile of a Siemens mosaic or UIH GRID the tile (1-based, in the file's tile order): what
        messages name, so two frames or tiles of one file are never named alike."""
        if self.mosaic is not None:
            return f"tile {self.mosaic[2] + 1} of {self.path}"
        if self.number_of_frames > 1 and self.frame >= 0:
            return f"{self.path} (frame {self.frame + 1} of {self.number_of_frames})"
        return self.path

    @property
    def stated_image_type(self) -> list[str] | None:
        """ImageType (0008,0008) as the file states it: what a sidecar's ImageType and the keys
        read from it (NonlinearGradientCorrection) come from, as dcm2niix reads them. An enhanced
        frame's ``image_type`` is its FrameType (0008,9007), which splits the frames by kind."""
        return self.file_image_type if self.file_image_type is not None else self.image_type

    @property
    def is_localizer(self) -> bool:
        """ImageType says LOCALIZER (scout / topogram / surview)."""
        return "LOCALIZER" in upper_values(self.image_type)


def upper_values(values: list[str] | None, strip: bool = False) -> tuple[str, ...]:
    """``values`` (ImageType's) upper-cased (``strip``: each stripped too), as the image kind tests
    compare them: a series repeats a few ImageType value lists, each spelled out once (256 kept at
    most). A list of more than :data:`~lazyvol.dicom.charset.SHORT_TEXT` characters, or a value
    that is no key, is spelled out but not kept: the walker reads ImageType whole whatever its
    length, and a cache keeps its keys alive after the scan."""
    if not values:
        return ()
    key = (tuple(values), strip)
    try:
        return _SPELLED[key]
    except KeyError:
        pass
    except TypeError:  # (a value that is no key)
        return _spelled(key[0], strip)
    out = _spelled(key[0], strip)
    if sum(len(str(t)) for t in key[0]) <= SHORT_TEXT:
        if len(_SPELLED) >= 256:
            _SPELLED.clear()
        _SPELLED[key] = out
    return out


def _spelled(values: tuple[Any, ...], strip: bool) -> tuple[str, ...]:
    if strip:
        return tuple(str(t).strip().upper() for t in values)
    return tuple(str(t).upper() for t in values)


#: :func:`upper_values`' answers by (value list, strip).
_SPELLED: dict[tuple[tuple[Any, ...], bool], tuple[str, ...]] = {}


RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(FrameRecord))
#: A record's values in :data:`RECORD_FIELDS` order, as a tuple (one C call: :meth:`to_list` runs
#: once per file scanned).
_FIELD_VALUES = operator.attrgetter(*RECORD_FIELDS)
