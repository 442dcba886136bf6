"""What a DICOM scan finds: :class:`SeriesInfo` (one volume), :class:`ScanReport` (all of them and
the skipped files), :class:`FrameTable` (where each frame of a volume is) and :class:`GroupOptions`
(the named relaxations of the stacking rules)."""

from __future__ import annotations

import math
import numbers
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from .._per_volume import UNEVEN_VOLUMES_NOTE
from ..config import is_flag
from ..errors import OptionError
from ..scaled_dtypes import common_stored_dtype

__all__ = [
    "DAMAGED_BESIDE_NOTE",
    "DEFLATED_SYNTAX",
    "FLOAT_PIXEL_VRS",
    "GZIPPED_DICOM",
    "INCOMPLETE_NOTE",
    "TRUNCATED_REMEDY",
    "INSTANCE_GAPS_NOTE",
    "UNENCAPSULATED_SYNTAXES",
    "UNEVEN_VOLUMES_NOTE",
    "MIXED_PARAMETERS_NOTE",
    "MIXED_THICKNESS_NOTE",
    "ORDER_DOUBT_NOTE",
    "NATIVE_SYNTAXES",
    "NO_DECODER",
    "PIXEL_HEAD_CUT",
    "SPLIT_VALUES",
    "UNDECIDED_HERE",
    "UNREAD_REASONS",
    "FrameTable",
    "GroupOptions",
    "ScanReport",
    "SeriesInfo",
    "damage_skip",
    "decided_here",
    "encoding_reads",
    "pixel_element_name",
    "pixel_encoding",
    "stored_code",
    "stored_dtype",
    "stored_layout",
]

NATIVE_SYNTAXES = {
    "1.2.840.10008.1.2": (True, True),  # implicit VR little endian
    "1.2.840.10008.1.2.1": (False, True),  # explicit VR little endian
    "1.2.840.10008.1.2.2": (False, False),  # explicit VR big endian (retired)
}
DEFLATED_SYNTAX = "1.2.840.10008.1.2.1.99"
#: Transfer syntaxes whose pixel data hold the values themselves, not items of compressed frames:
#: the native ones, and Deflated Explicit VR Little Endian (native values in a deflated data set,
#: their offsets counted in inflated bytes: :mod:`lazyvol.dicom.deflated`).
UNENCAPSULATED_SYNTAXES = (*NATIVE_SYNTAXES, DEFLATED_SYNTAX)
#: VRs of Float Pixel Data (7FE0,0008) and Double Float Pixel Data (7FE0,0009) (``pixel_vr``).
FLOAT_PIXEL_VRS = ("OF", "OD")
#: The element holding a file's pixels, by its VR, as messages name it.
_PIXEL_ELEMENT_NAMES = {
    "OF": "Float Pixel Data (7FE0,0008)",
    "OD": "Double Float Pixel Data (7FE0,0009)",
}


def pixel_element_name(pixel_vr: str) -> str:
    """How a message names the element holding the pixels of a file whose pixel element has VR
    ``pixel_vr``: Float / Double Float Pixel Data for OF / OD, else Pixel Data (7FE0,0010)."""
    return _PIXEL_ELEMENT_NAMES.get(pixel_vr, "Pixel Data (7FE0,0010)")


#: How the reason begins that says what tells a volume apart from the others split from its
#: series (its echo time, image kind, stack, ...: :func:`lazyvol.dicom.grouping.split_series`).
SPLIT_VALUES = "this volume: "
#: Words of a refusal that depends on this machine, not on the files: no decoder installed for a
#: compressed syntax, and a comparison of two copies that could not be made here (no decoder, out
#: of memory). A scan holding one is not saved (:func:`decided_here`): the next scan decides again.
NO_DECODER = "no decoder installed for transfer syntax"
UNDECIDED_HERE = "cannot be told here"


#: :func:`pixel_encoding`'s names of native pixels (any other encoding is a compressed syntax's UID).
NATIVE_LITTLE = "native little-endian"
NATIVE_BIG = "native big-endian"


def pixel_encoding(rec: Any) -> str:
    """How a file's Pixel Data bytes decode (``rec``: a FrameRecord, or a FrameTable for its
    first frame): native little-endian (implicit and explicit VR alike), native big-endian (8-bit
    data with its VR: big-endian OW swaps byte pairs), or the compressed transfer syntax itself.
    A volume whose files differ here reads each frame its own way (``FrameTable.encodings``)."""
    ts = rec.transfer_syntax
    if ts not in NATIVE_SYNTAXES:
        return str(ts)
    if NATIVE_SYNTAXES[ts][1]:
        return NATIVE_LITTLE
    return NATIVE_BIG + (f" {rec.pixel_vr}" if rec.bits_allocated == 8 else "")


def encoding_reads(encoding: str) -> tuple[str, bool, bool]:
    """How a frame of :func:`pixel_encoding` ``encoding`` is read: (the compressed transfer
    syntax for its decoder, "" for native bytes; little-endian; 8-bit values in byte-swapped
    pairs, a big-endian OW element)."""
    if encoding == NATIVE_LITTLE:
        return "", True, False
    if encoding.startswith(NATIVE_BIG):
        return "", False, encoding == f"{NATIVE_BIG} OW"
    return encoding, True, False


def _tuples(v: Any) -> Any:
    """A frame-table field read back from JSON: lists (of lists) as tuples (of tuples). The
    common shapes, all items lists (``idents``) or none, go through ``map``: 0.08 against 0.24 ms
    per 500-frame series with a check per item (~3 ms of the ~75 ms reopen of 10,000 files)."""
    if not isinstance(v, list):
        return v
    kinds = {type(x) for x in v}
    if list not in kinds:
        return tuple(v)
    if kinds == {list}:
        return tuple(map(tuple, v))
    return tuple(tuple(x) if isinstance(x, list) else x for x in v)


@dataclass(frozen=True)
class FrameTable:
    """Where each frame of a volume is: one entry per frame, k fastest then the 4th axis."""

    paths: tuple[str, ...]
    offsets: tuple[int, ...]
    slopes: tuple[float, ...]
    inters: tuple[float, ...]
    sizes: tuple[int, ...]
    #: Bytes of each encapsulated frame's items (-1: the whole Pixel Data value, single frame).
    lengths: tuple[int, ...]
    rows: int
    columns: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    little_endian: bool
    pixel_vr: str
    transfer_syntax: str
    photometric: str = "MONOCHROME2"
    #: (size, mtime_ns, inode, ctime_ns) of each frame's file when scanned (pixel reads check it).
    idents: tuple[tuple[int, int, int, int], ...] = ()
    #: Siemens mosaic: tile index of each frame (empty: not a mosaic), see lazyvol.dicom.mosaic.
    tiles: tuple[int, ...] = ()
    #: Siemens mosaic: (mosaic Rows, mosaic Columns) of the files holding the tiles.
    mosaic: tuple[int, ...] = ()
    #: ETag of each frame's object when scanned (empty for local files).
    etags: tuple[str, ...] = ()
    #: :func:`pixel_encoding` of each frame ("" for a filled-in slice) when the files differ
    #: (some compressed, some not; another byte order); empty: every frame is encoded as the first.
    encodings: tuple[str, ...] = ()
    #: BitsStored (0028,0101) of each frame (a filled-in slice: the first frame's) when the files
    #: differ (CT slices whose HighBit follows each slice's own maximum); empty: every frame has
    #: ``bits_stored``. Each frame's unused high bits are cleared or sign-extended by its own.
    stored_bits: tuple[int, ...] = ()
    #: Stored dtype (:func:`stored_dtype`: ``"u2"``, ``"i2"``, ``"u1"`` ...; from BitsAllocated and
    #: PixelRepresentation) of each frame (a filled-in slice: the first frame's) when the files
    #: differ; empty: every frame is stored as ``bits_allocated``/``signed`` say.
    stored_types: tuple[str, ...] = ()
    #: Every frame's rows are stored in reverse order (GE epi_pepolar volumes of reversed
    #: polarity, :mod:`lazyvol.dicom.ge_phase`): they are read bottom row first.
    flip_rows: bool = False
    #: The widest sample precision the codestreams of the compressed frames state (read at
    #: open, ``FrameRecord.codestream_bits``) when beyond their BitsStored; 0: none is. JPEG 2000
    #: and JPEG-LS decoders return values of that precision (as pydicom): the dtype holds them.
    decoded_bits: int = 0
    #: Deflated files (``FrameRecord.deflated``): where each frame's file's deflate stream starts
    #: (-1: a frame of another encoding, or a filled-in slice); ``offsets`` count inflated bytes
    #: there. Empty: no frame is Deflated.
    inflate_from: tuple[int, ...] = ()

    #: The per-frame columns (one entry per frame when present; empty ones stay empty).
    PER_FRAME = (
        "paths",
        "offsets",
        "slopes",
        "inters",
        "sizes",
        "lengths",
        "idents",
        "tiles",
        "etags",
        "encodings",
        "stored_bits",
        "stored_types",
        "inflate_from",
    )

    def frames_of(self, sl: slice) -> FrameTable:
        """The table of frames ``sl`` (e.g. one volume of a 4D table): every per-frame column
        sliced; a BitsStored or stored-dtype column that became uniform folded into
        ``bits_stored`` or ``bits_allocated``/``signed``."""
        cut: dict[str, Any] = {k: getattr(self, k)[sl] for k in self.PER_FRAME}
        bits = set(cut["stored_bits"])
        if len(bits) == 1:
            cut["bits_stored"], cut["stored_bits"] = bits.pop(), ()
        types = set(cut["stored_types"])
        if len(types) == 1:
            cut["bits_allocated"], cut["signed"] = stored_layout(types.pop())
            cut["stored_types"] = ()
        return replace(self, **cut)

    def kinds(self) -> list[tuple[str, int]]:
        """(stored dtype, BitsStored) of each frame."""
        n = len(self.paths)
        types = self.stored_types or (self._own_type,) * n
        bits = self.stored_bits or (self.bits_stored,) * n
        return list(zip(types, bits, strict=True))

    def value_kinds(self) -> list[tuple[str, int]]:
        """(stored dtype, bits of its values) of each frame: :meth:`kinds`, a compressed frame's
        BitsStored widened to ``decoded_bits`` (within its stored dtype)."""
        kinds = self.kinds()
        if not self.decoded_bits:
            return kinds
        codes = self.encodings or (pixel_encoding(self),) * len(kinds)
        return [
            (t, min(max(b, self.decoded_bits), 8 * np.dtype(t).itemsize))
            if encoding_reads(code)[0]
            else (t, b)
            for (t, b), code in zip(kinds, codes, strict=True)
        ]

    def bits_meta(self) -> dict[str, Any]:
        """``bits_stored`` (the widest of the frames') and, when the frames differ,
        ``bits_stored_counts`` (images of each; filled-in slices not counted); when their stored
        dtypes differ, ``stored_dtype`` (the one holding them all) and ``stored_dtype_counts``."""
        kinds = [k for k, p in zip(self.kinds(), self.paths, strict=True) if p]
        counts = Counter(b for _, b in kinds)
        out: dict[str, Any] = {"bits_stored": max(counts, default=self.bits_stored)}
        if len(counts) > 1:
            out["bits_stored_counts"] = {str(b): counts[b] for b in sorted(counts)}
        types = Counter(t for t, _ in kinds)
        if len(types) > 1:
            out["stored_dtype"] = self.stored_dtype.str.lstrip("<>=|")
            out["stored_dtype_counts"] = {t: types[t] for t in sorted(types)}
        return out

    @property
    def stored_dtype(self) -> np.dtype:
        """Dtype of the stored values (native byte order): when the frames differ in stored
        dtype, the narrowest holding every frame's values
        (:func:`~lazyvol.scaled_dtypes.common_stored_dtype`)."""
        if self.stored_types:
            return common_stored_dtype((np.dtype(t), b) for t, b in self.value_kinds())
        return np.dtype(self._own_type)

    @property
    def _own_type(self) -> str:
        """The stored dtype code ``bits_allocated``/``signed`` spell (:func:`stored_dtype`)."""
        return stored_code(self.bits_allocated, self.signed, self.pixel_vr)


@dataclass
class SeriesInfo:
    """One volume found by :func:`lazyvol.scan`.

    Attributes
    ----------
    id : str
        Short stable identifier, accepted by ``lazyvol.open(path, series=id)``.
    uid : str
        SeriesInstanceUID (several volumes may share one when a series was split).
    number : int or None
        SeriesNumber.
    description : str
        SeriesDescription.
    modality : str
    shape : tuple of int
        ``(i, j, k[, t])`` = (columns, rows, slices[, 4th axis]). For a volume that cannot be
        opened (``error`` set) no volume shape is known: it is (columns, rows, images found).
    affine : (4, 4) ndarray
        Voxel to RAS+ millimetres (identity when the geometry could not be built; see ``error``).
    files : list of str
        Files of this volume, in slice order, each once (a multi-frame file or a mosaic holds
        several slices).
    reasons : list of str
        Why this volume was split from the others sharing its SeriesInstanceUID.
    warnings : list of str
        Things a user should know (dropped duplicates, InstanceNumber gaps, tilt, ...).
    axis4 : str or None
        Meaning of the 4th axis (e.g. ``"EchoTime"``), ``None`` for 3D.
    dtype : str
        Dtype of ``lazyvol.open`` with the default ``scale=True``.
    error : str or None
        Why this volume cannot be opened as is (raised by ``lazyvol.open``): the same checks
        ``lazyvol.open`` runs (stacking, spacing, readability) run at scan. ``None``: it opens.
    error_kind : str
        The kind of ``error``: ``"series"`` (:class:`~lazyvol.SeriesError`), ``"format"``
        (:class:`~lazyvol.FormatError`), ``"unsupported"`` (:class:`~lazyvol.UnsupportedError`)
        or ``"option"`` (:class:`~lazyvol.OptionError`: an option's value does not suit it);
        ``""`` when it opens.
    """

    id: str
    uid: str
    number: int | None
    description: str
    modality: str
    shape: tuple[int, ...]
    affine: np.ndarray
    files: list[str]
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    axis4: str | None = None
    dtype: str = ""
    error: str | None = None
    error_kind: str = ""
    meta: dict[str, Any] = field(default_factory=dict, repr=False)
    frames: FrameTable | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form (used by the persisted scan result)."""
        out = {
            k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("affine", "frames")
        }
        out["shape"] = list(self.shape)
        out["affine"] = np.asarray(self.affine, dtype=np.float64).tolist()
        # A shallow field dict (tuples, and tuples of tuples, which JSON writes as lists):
        # dataclasses.asdict deep-copies every per-frame value, ~10 ms for a 512-slice series.
        fr = self.frames
        out["frames"] = None if fr is None else {f.name: getattr(fr, f.name) for f in fields(fr)}
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SeriesInfo:
        """Inverse of :meth:`to_json`."""
        doc = dict(doc)
        doc["shape"] = tuple(doc["shape"])
        doc["affine"] = np.array(doc["affine"], dtype=np.float64)
        fr = doc.get("frames")
        if fr is not None:
            kw: dict[str, Any] = {k: _tuples(v) for k, v in fr.items()}
            doc["frames"] = FrameTable(**kw)
        return cls(**doc)

    def __eq__(self, other: object) -> bool:
        """Field by field, the affine by value: the generated comparison put the affine arrays in
        a tuple, so two equal scans (``lazyvol.scan(p) == lazyvol.scan(p)``) raised numpy's
        'truth value of an array is ambiguous' ValueError."""
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, SeriesInfo)
        return all(
            np.array_equal(getattr(self, k), getattr(other, k))
            if k == "affine"
            else getattr(self, k) == getattr(other, k)
            for k in self.__dataclass_fields__
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, as the generated __eq__ left it

    def __repr__(self) -> str:
        return f"<SeriesInfo {self.summary()} files={len(self.files)}>"

    def summary(self) -> str:
        """One line: id, number, description, shape, uid."""
        desc = self.description or "(no description)"
        return (
            f"[{self.id}] #{self.number_text()} {desc!r} {self.modality} shape={self.shape_text()} "
            f"uid={self.uid}{self.refusal_text()}"
        )

    def number_text(self) -> str:
        """The SeriesNumber as shown in listings: ``"(none)"`` for a series that states none."""
        return "(none)" if self.number is None else str(self.number)

    def split_text(self) -> str:
        """Why a listing row's volume was split from its series: ``" (<the first reason>; <what
        tells this volume apart>)"``, or ``""`` for a volume that was not split."""
        if not self.reasons:
            return ""
        own = [r[len(SPLIT_VALUES) :] for r in self.reasons if r.startswith(SPLIT_VALUES)]
        return f" ({'; '.join([self.reasons[0], *own[:1]])})"

    def shape_text(self) -> str:
        """The shape as listings show it: ``-`` for a volume that cannot be opened (its ``shape``
        counts the images found, which is no volume's shape)."""
        return "-" if self.error else str(tuple(self.shape))

    def refusal_text(self, limit: int | None = None) -> str:
        """``" -- cannot open: <error>"`` (cut to ``limit`` characters), or ``""`` when it opens."""
        if not self.error:
            return ""
        why = self.error
        if limit is not None and len(why) > limit:
            why = why[: limit - 3] + "..."
        return f" -- cannot open: {why}"


class ScanReport(list):  # type: ignore[type-arg]
    """A list of :class:`SeriesInfo` (one per volume) with the files skipped and why.

    Attributes
    ----------
    skipped : list of (path, reason)
    unsupported : frozenset of str
        The skipped paths that are valid DICOM of a kind lazyvol does not read (an unsupported
        transfer syntax, an image that is not a plain stack), as opposed to files that are not
        DICOM, not images, or damaged.
    unnamed : frozenset of str
        The skipped paths that are damaged (unreadable, or cut short: ``damage_skip``), or
        gzip-compressed whole, whose SeriesInstanceUID could not be read: any series beside
        them may miss them.
    """

    def __init__(
        self,
        infos: Sequence[SeriesInfo] = (),
        skipped: Sequence[tuple[str, str]] = (),
        unsupported: Iterable[str] = (),
        unnamed: Iterable[str] = (),
    ):
        super().__init__(infos)
        self.skipped: list[tuple[str, str]] = list(skipped)
        self.unsupported: frozenset[str] = frozenset(unsupported)
        self.unnamed: frozenset[str] = frozenset(unnamed)

    def __repr__(self) -> str:
        lines = [f"<ScanReport: {len(self)} volume(s), {len(self.skipped)} skipped file(s)>"]
        lines += ["  " + info.summary() for info in self]
        return "\n".join(lines)


#: How a scan's skip reason begins for a file it could not read at all (it may be a slice).
UNREAD_REASONS = ("cannot stat", "cannot read", "empty file", "empty object")
#: How the notes begin that say a volume may lack images of its series: files of the series the
#: scan skipped, damaged files beside it that name no series, InstanceNumber skipping numbers.
#: Each is a Python warning when the volume is opened, as well as in ``vol.meta["warnings"]``.
INCOMPLETE_NOTE = "series incomplete"
#: The remedy a refusal of a file whose pixel data were cut short names (an interrupted copy).
TRUNCATED_REMEDY = (
    "copy the file again from its source, or move it out of the folder to open its series "
    "without it"
)
DAMAGED_BESIDE_NOTE = "damaged file(s) beside this volume"
#: How the note begins on empty files named like a volume's own beside it (emptied slices).
EMPTY_BESIDE_NOTE = "empty file(s) beside this volume"
#: How the note begins on hidden files named like a volume's own beside it (not read; lost slices).
HIDDEN_BESIDE_NOTE = "hidden file(s) beside this volume"
#: How the note begins on symbolic links named like a volume's own beside it (not followed, or
#: leading to no file; lost slices).
LINK_BESIDE_NOTE = "symbolic link(s) beside this volume"
INSTANCE_GAPS_NOTE = "InstanceNumber (0020,0013) has gaps"
#: How the note begins on a volume whose slices state different SliceThickness values (two
#: reconstructions under one SeriesInstanceUID, stacked as one): a Python warning too at open.
MIXED_THICKNESS_NOTE = "SliceThickness (0018,0050) differs between the slices"
#: How the note begins on a volume whose images state several RepetitionTime, InversionTime or
#: FlipAngle values (:mod:`lazyvol.dicom.parameter_notes`): a Python warning too at open.
MIXED_PARAMETERS_NOTE = "acquisition parameters differ between the images of this volume"
#: How the note begins on a 4D volume whose headers give another volume order than the one used
#: (:mod:`lazyvol.dicom.ordering`): a Python warning too at open.
ORDER_DOUBT_NOTE = "4th axis: volumes ordered by"
#: How the note begins on a volume from whose files exact duplicates (same SOPInstanceUID, same
#: pixels) were dropped: a Python warning too at open, naming both files of each.
EXACT_DUPLICATE_NOTE = "exact duplicate"
#: The skip reason of a file that ends inside its Pixel Data element's header.
PIXEL_HEAD_CUT = "truncated inside the Pixel Data (7FE0,0010) element header"
#: How a scan's skip reason begins for a file shorter than a Part 10 file's preamble and marker
#: (1-131 bytes): junk, skipped quietly as an empty file is, unless named like a volume's files.
SHORT_FILE = "not a DICOM file (too short"
#: How a scan's skip reason begins for a file that is neither a Part 10 file ('DICM' at byte 128)
#: nor a plausible dataset: junk (a README, a thumbnail), skipped quietly, unless named like a
#: volume's files (a slice overwritten, or its marker damaged: only the name tells).
NOT_DICOM = "not a DICOM file (no 'DICM' marker"
#: How the skip reasons of damaged headers begin (a slice of a series beside them, maybe):
#: unreadable, the data set in another byte order than its syntax says, a syntax that is no UID.
DAMAGED_HEADER = "unreadable DICOM header"
DAMAGED_REASONS = (DAMAGED_HEADER, "the data set is ", "TransferSyntaxUID (0002,0010) holds")
#: How the note begins on such files named like a volume's own beside it (damaged slices).
FOREIGN_BESIDE_NOTE = "unreadable file(s) beside this volume"
#: How a scan's skip reason begins for a DICOM file compressed whole with gzip (``.dcm.gz``).
GZIPPED_DICOM = "gzip-compressed DICOM file"


def damage_skip(reason: str) -> bool:
    """Whether a skip ``reason`` says the file is damaged (unreadable, or cut short) or a DICOM
    file gzip-compressed whole, so that it may be a slice of a series, not a file of another
    kind. An empty file is junk, skipped quietly (BAD_INPUTS), as a README is."""
    if reason.startswith(("empty file", "empty object")):
        return False
    return reason.startswith((*UNREAD_REASONS, GZIPPED_DICOM, *DAMAGED_REASONS)) or (
        "truncated" in reason
    )


def decided_here(infos: Iterable[SeriesInfo]) -> bool:
    """Whether no volume of a scan is refused for a reason of this machine (:data:`NO_DECODER`,
    :data:`UNDECIDED_HERE`): such a refusal is not saved, since another run (a decoder installed
    since) decides otherwise on the same files."""
    return not any(i.error and (NO_DECODER in i.error or UNDECIDED_HERE in i.error) for i in infos)


@dataclass(frozen=True)
class GroupOptions:
    """Named relaxations of the stacking rules (each is recorded in the volume's meta when used)."""

    allow_gaps: bool = False
    fill: float | None = None
    instance_order: bool = False
    stack_localizers: bool = False
    spacing_rtol: float = 1e-3
    spacing_atol: float = 1e-3
    split_4d: bool = False
    #: "rescale" (default): RescaleSlope/RescaleIntercept, the DICOM standard (Philips "display"
    #: values). "fp": Philips floating-point values (SV*RS+RI)/(RS*SS) with the private scale
    #: slope SS (2005,100E), as dcm2niix writes them; files without SS keep the DICOM rescale.
    philips_scaling: str = "rescale"

    def __post_init__(self) -> None:
        # Checked here, where every caller (lazyvol.open, lazyvol.scan, the CLI) passes: a NaN
        # tolerance compares false with every deviation, so it once stacked a 202 mm gap as one
        # volume of an averaged spacing; a flag given as "no" is true.
        for name in _FLAGS:
            if not is_flag(getattr(self, name)):
                raise OptionError(f"{name}={getattr(self, name)!r}: takes True or False")
        for name, upper in (("spacing_rtol", _MAX_SPACING_RTOL), ("spacing_atol", math.inf)):
            value = getattr(self, name)
            if not _real(value) or not 0 <= value < upper:
                limit = f" and below {upper:g} of the spacing" if upper < math.inf else ""
                raise OptionError(
                    f"{name}={value!r}: the slice position tolerance takes a finite number >= 0"
                    f"{limit} (default 0.001); a tolerance that accepts any position would stack "
                    "slices across a gap at an averaged spacing"
                )
        if self.fill is not None and not _real(self.fill, finite=False):
            raise OptionError(f"fill={self.fill!r}: takes a number (the value of filled slices)")
        if self.philips_scaling not in ("rescale", "fp"):
            raise OptionError(
                f"philips_scaling={self.philips_scaling!r}: use 'rescale' (DICOM RescaleSlope/"
                "RescaleIntercept, the default) or 'fp' (Philips floating-point values)"
            )
        self._as_python()

    def _as_python(self) -> None:
        """Each value as its Python type (a numpy scalar passed the checks as a number or flag):
        the scan's saved report, its listing digest and ``vol.meta`` write them as JSON."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _FLAGS:
                object.__setattr__(self, f.name, bool(value))
            elif isinstance(value, numbers.Real):
                object.__setattr__(self, f.name, float(value))


#: The True/False options of :class:`GroupOptions` (each a bool, a numpy bool, or 1 or 0).
_FLAGS = ("allow_gaps", "instance_order", "stack_localizers", "split_4d")
#: Above half of the spacing, a position tolerance cannot tell a slice from its neighbour's place.
_MAX_SPACING_RTOL = 0.5


def _real(value: Any, finite: bool = True) -> bool:
    """Whether ``value`` is a real number (a Python or numpy one, not a bool), finite unless
    ``finite=False`` (a fill value may be NaN or infinite: a float output holds it, an integer
    one refuses it when the volume is read)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return False
    return not finite or math.isfinite(value)


def stored_code(bits_allocated: int, signed: bool, pixel_vr: str) -> str:
    """Stored dtype code (``"u2"``, ``"i2"``, ``"f4"`` ...) of pixels so described: IEEE floats for
    Float and Double Float Pixel Data (VR OF, OD), integers otherwise."""
    kind = "f" if pixel_vr in FLOAT_PIXEL_VRS else ("i" if signed else "u")
    return f"{kind}{max(1, bits_allocated // 8)}"


def stored_dtype(rec: Any) -> str:
    """Stored dtype of a record's pixels (``"u2"``, ``"i2"``, ``"f4"`` ...)."""
    return stored_code(rec.bits_allocated, bool(rec.pixel_representation), rec.pixel_vr)


def stored_layout(code: str) -> tuple[int, bool]:
    """``(bits_allocated, signed)`` of a :func:`stored_dtype` code (a frame read as it says)."""
    kind = np.dtype(code)
    return kind.itemsize * 8, kind.kind == "i"
