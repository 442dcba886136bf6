"""Group frame records into volumes: split series, sort slices, validate spacing, build geometry.

A SeriesInstanceUID is split into separate volumes wherever one volume cannot hold its files
(different Rows/Columns, orientation, localizer image type, pixel format), each split with a
stated reason. Slices are sorted by the projection of ImagePositionPatient on the slice normal,
never by InstanceNumber or file name; spacing comes from the positions. Problems that make a group
unreadable (gaps, missing geometry, truncated pixel data, unsupported encodings) are recorded on
its :class:`SeriesInfo` and raised when it is opened, so a scan always lists everything it found.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from .. import geometry as geo
from ..scaling import scaled_dtype
from .bids import annotate as annotate_bids
from .checks import check_records
from .mosaic import annotate_volume, mosaic_error
from .ordering import RANK_INSTANCE, Axis4Order, order_volumes
from .records import FrameRecord
from .vendor import SOURCES as _VENDOR_SOURCES

__all__ = ["FrameTable", "GroupOptions", "ScanReport", "SeriesInfo", "build_series"]

NATIVE_SYNTAXES = {
    "1.2.840.10008.1.2": (True, True),  # implicit VR little endian
    "1.2.840.10008.1.2.1": (False, True),  # explicit VR little endian
    "1.2.840.10008.1.2.2": (False, False),  # explicit VR big endian (retired)
}
DEFLATED_SYNTAX = "1.2.840.10008.1.2.1.99"
ORIENTATION_TOL = 1e-3


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

    @property
    def stored_dtype(self) -> np.dtype:
        """Dtype of the stored values (native byte order)."""
        kind = "i" if self.signed else "u"
        return np.dtype(f"{kind}{max(1, self.bits_allocated // 8)}")


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
        ``(i, j, k[, t])`` = (columns, rows, slices[, 4th axis]).
    affine : (4, 4) ndarray
        Voxel to RAS+ millimetres (identity when the geometry could not be built; see ``error``).
    files : list of str
        Files of this volume, in slice order.
    reasons : list of str
        Why this volume was split from the others sharing its SeriesInstanceUID.
    warnings : list of str
        Things a user should know (dropped duplicates, InstanceNumber gaps, tilt, ...).
    axis4 : str or None
        Meaning of the 4th axis (e.g. ``"EchoTime"``), ``None`` for 3D.
    dtype : str
        Dtype of ``lazyvol.open`` with the default ``scale=True``.
    error : str or None
        Why this volume cannot be opened as is (raised by ``lazyvol.open``).
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
        out["frames"] = None if self.frames is None else asdict(self.frames)
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SeriesInfo:
        """Inverse of :meth:`to_json`."""
        doc = dict(doc)
        doc["shape"] = tuple(doc["shape"])
        doc["affine"] = np.array(doc["affine"], dtype=np.float64)
        fr = doc.get("frames")
        if fr is not None:
            fields: dict[str, Any] = {
                k: tuple(tuple(x) if isinstance(x, list) else x for x in v)
                if isinstance(v, list)
                else v
                for k, v in fr.items()
            }
            doc["frames"] = FrameTable(**fields)
        return cls(**doc)

    def __repr__(self) -> str:
        return f"<SeriesInfo {self.summary()} files={len(self.files)}>"

    def summary(self) -> str:
        """One line: id, number, description, shape, uid."""
        desc = self.description or "(no description)"
        state = f" -- cannot open: {self.error}" if self.error else ""
        return (
            f"[{self.id}] #{self.number} {desc!r} {self.modality} shape={self.shape} "
            f"uid={self.uid}{state}"
        )


class ScanReport(list):  # type: ignore[type-arg]
    """A list of :class:`SeriesInfo` (one per volume) with the files skipped and why.

    Attributes
    ----------
    skipped : list of (path, reason)
    """

    def __init__(self, infos: Sequence[SeriesInfo] = (), skipped: Sequence[tuple[str, str]] = ()):
        super().__init__(infos)
        self.skipped: list[tuple[str, str]] = list(skipped)

    def __repr__(self) -> str:
        lines = [f"<ScanReport: {len(self)} volume(s), {len(self.skipped)} skipped file(s)>"]
        lines += ["  " + info.summary() for info in self]
        return "\n".join(lines)


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
        if self.philips_scaling not in ("rescale", "fp"):
            raise ValueError(
                f"philips_scaling={self.philips_scaling!r}: use 'rescale' (DICOM RescaleSlope/"
                "RescaleIntercept, the default) or 'fp' (Philips floating-point values)"
            )


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
        frames = FrameTable(
            **{
                **{k: getattr(fr, k) for k in fr.__dataclass_fields__},
                "paths": fr.paths[sl],
                "offsets": fr.offsets[sl],
                "slopes": fr.slopes[sl],
                "inters": fr.inters[sl],
                "sizes": fr.sizes[sl],
                "lengths": fr.lengths[sl],
                "idents": fr.idents[sl],
                "tiles": fr.tiles[sl],
            }
        )
        meta = {k: v for k, v in info.meta.items() if k != "axis4_values"}
        meta["axis4_index"] = {name: vals[t] for name, vals in values.items()}
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
            )
        )
    return out


def _stored_dtype(rec: FrameRecord) -> str:
    return f"{'i' if rec.pixel_representation else 'u'}{max(1, rec.bits_allocated // 8)}"


# -- splitting a SeriesInstanceUID ------------------------------------------------------------------


def _orientation_labels(records: list[FrameRecord]) -> list[int]:
    """Cluster ImageOrientationPatient values within ORIENTATION_TOL; -1 for missing."""
    reps: list[list[float]] = []
    labels: list[int] = []
    for rec in records:
        if rec.iop is None:
            labels.append(-1)
            continue
        for n, rep in enumerate(reps):
            if geo.orientations_match(rec.iop, rep, ORIENTATION_TOL):
                labels.append(n)
                break
        else:
            reps.append(list(rec.iop))
            labels.append(len(reps) - 1)
    return labels


def _fmt_iop(iop: list[float] | None) -> str:
    return "missing" if iop is None else "[" + ", ".join(f"{v:.4g}" for v in iop) + "]"


#: ImageType (0008,0008) / FrameType (0008,9007) values naming what a pixel value is: images of
#: different kinds at the same positions are separate volumes, never a 4th axis.
_FIELD_MAP_TYPES = frozenset({"B0 MAP", "B0MAP", "B0_MAP", "FIELD_MAP", "FIELDMAP", "B0"})
_COMPONENT_TYPES = {
    "M": "MAGNITUDE",
    "MAGNITUDE": "MAGNITUDE",
    "P": "PHASE",
    "PHASE": "PHASE",
    "PHASE MAP": "PHASE",
    "R": "REAL",
    "REAL": "REAL",
    "I": "IMAGINARY",
    "IMAGINARY": "IMAGINARY",
}
_DERIVED_MAP_TYPES = frozenset(
    {"ADC", "EADC", "FA", "TRACEW", "TRACE", "ISOTROPIC", "T1 MAP", "T2 MAP"}
)


def image_component(rec: FrameRecord) -> str:
    """What the pixel values are: MAGNITUDE, PHASE, REAL, IMAGINARY, FIELD_MAP, a derived map, or "".

    From ImageType (0008,0008) (per frame: FrameType (0008,9007)) and ComplexImageComponent
    (0008,9208); vendor spellings (Philips ``M_FFE`` / ``P_SE``, Siemens ``M`` / ``P``) included.
    """
    tokens = [str(t).strip().upper() for t in (rec.image_type or [])]
    if any(t in _FIELD_MAP_TYPES for t in tokens):
        return "FIELD_MAP"
    for t in tokens:
        if t in _DERIVED_MAP_TYPES:
            return t.replace(" ", "_")
    cic = (rec.complex_component or "").strip().upper()
    if cic in ("MAGNITUDE", "PHASE", "REAL", "IMAGINARY"):
        return cic
    for t in tokens[2:]:
        if t in _COMPONENT_TYPES:
            return _COMPONENT_TYPES[t]
        head = t.split("_", 1)[0]
        if "_" in t and head in ("M", "P", "R", "I"):
            return _COMPONENT_TYPES[head]
    return ""


_SPLITS: tuple[tuple[str, Callable[[FrameRecord], Any]], ...] = (
    ("Rows/Columns (0028,0010)/(0028,0011)", lambda r: f"{r.rows}x{r.columns}"),
    ("ImageType LOCALIZER (0008,0008)", lambda r: "localizer" if r.is_localizer else "image"),
    (
        "pixel format BitsAllocated/BitsStored/PixelRepresentation (0028,0100)/(0028,0101)/(0028,0103)",
        lambda r: f"{r.bits_allocated}/{r.bits_stored}/{r.pixel_representation}",
    ),
    (
        "SamplesPerPixel/PhotometricInterpretation (0028,0002)/(0028,0004)",
        lambda r: f"{r.samples_per_pixel}/{r.photometric}",
    ),
    (
        "PixelSpacing (0028,0030)",
        lambda r: (
            "missing"
            if r.pixel_spacing is None
            else "x".join(f"{float(v):.5g}" for v in r.pixel_spacing)
        ),
    ),
    (
        "NumberOfFrames (0028,0008)",
        lambda r: "multi-frame" if r.number_of_frames != 1 else "single-frame",
    ),
    (
        "image kind ImageType/FrameType/ComplexImageComponent (0008,0008)/(0008,9007)/(0008,9208)",
        lambda r: image_component(r) or "image",
    ),
)


def _split_echo_series(keyed: dict[tuple[str, ...], list[FrameRecord]]) -> str:
    """Multi-echo time series: one group per echo (in place), as dcm2niix writes one file per echo.

    Only when every image has EchoNumbers (0018,0086), there are several echoes, and positions
    still repeat within each echo (a time series of several echoes). Echoes of a single volume
    stay one 4D volume with EchoNumbers as its 4th axis. Returns the split reason or "".
    """
    note = ""
    for key in list(keyed):
        recs = keyed[key]
        if any(r.echo_number is None or r.ipp is None for r in recs):
            continue
        by_echo: dict[int, list[FrameRecord]] = defaultdict(list)
        for r in recs:
            by_echo[int(r.echo_number or 0)].append(r)
        if len(by_echo) < 2:
            continue
        repeats = all(
            len(v) > len({tuple(round(float(x), 3) for x in (r.ipp or [])) for r in v})
            for v in by_echo.values()
        )
        if not repeats:
            continue
        del keyed[key]
        for echo, v in sorted(by_echo.items()):
            keyed[(*key, f"echo {echo}")] = v
        note = (
            f"EchoNumbers (0018,0086) differ in a time series ({len(by_echo)} echoes, positions "
            "repeating within each): one volume per echo"
        )
    return note


def _is_trace(r: FrameRecord) -> bool:
    return bool(r.b_value and r.b_value > 0) and not any(abs(x) > 0 for x in (r.gradient or []))


def _split_philips_trace(keyed: dict[tuple[str, ...], list[FrameRecord]]) -> str:
    """Philips DWI: the derived isotropic (trace) images -- b > 0 with a zero gradient direction in
    a series that has real directions -- are a separate volume (dcm2niix excludes them from the
    4D diffusion volume). Returns the split reason or ""."""
    from .vendor import vendor_of

    note = ""
    for key in list(keyed):
        recs = keyed[key]
        if vendor_of(recs[0].manufacturer) != "PHILIPS":
            continue
        directional = any(
            r.b_value and r.b_value > 0 and any(abs(x) > 0 for x in (r.gradient or []))
            for r in recs
        )
        trace = [r for r in recs if _is_trace(r)]
        if not directional or not trace:
            continue
        keyed[key] = [r for r in recs if not _is_trace(r)]
        keyed[(*key, "isotropic")] = trace
        note = (
            "Philips isotropic (trace) images -- DiffusionBValue > 0 with a zero gradient "
            "direction -- are a separate volume, as dcm2niix excludes them from the diffusion series"
        )
    return note


def _split(
    records: list[FrameRecord], stack_localizers: bool = False
) -> list[tuple[str, list[FrameRecord], list[str]]]:
    """Split one SeriesInstanceUID's records into stackable groups: ``(key, records, reasons)``."""
    labels = _orientation_labels(records)
    keyed: dict[tuple[str, ...], list[FrameRecord]] = defaultdict(list)
    iop_of: dict[int, list[float] | None] = {}
    for rec, lab in zip(records, labels):
        iop_of[lab] = rec.iop
        key = (*(str(fn(rec)) for _, fn in _SPLITS), f"orientation {lab}")
        if (rec.number_of_frames != 1 and rec.frame < 0) or (
            rec.is_localizer and not stack_localizers
        ):
            # each unlocated multi-frame file / localizer image is its own volume, named by its
            # SOPInstanceUID (never by its file name: ids must not depend on names or listing
            # order). Enhanced files with located frames group like single-frame files: a series
            # stored one enhanced file per volume is one 4D volume.
            key += (rec.sop_instance_uid or rec.path,)
        keyed[key].append(rec)
    echo_note = _split_echo_series(keyed)
    trace_note = _split_philips_trace(keyed)
    if len(keyed) == 1:
        key, recs = next(iter(keyed.items()))
        return [("|".join(key), recs, [])]
    # Say which attributes vary and how the files divide between their values.
    varying: list[str] = []
    names = [name for name, _ in _SPLITS] + ["ImageOrientationPatient (0020,0037)"]
    for pos, name in enumerate(names):
        if name.startswith("ImageOrientation"):
            counts: Counter[str] = Counter(_fmt_iop(iop_of[lab]) for lab in labels)
        else:
            counts = Counter(str(_SPLITS[pos][1](r)) for r in records)
        if len(counts) > 1:
            varying.append(
                f"{name} differs: "
                + ", ".join(f"{v} ({n} files)" for v, n in sorted(counts.items()))
            )
    varying += [n for n in (echo_note, trace_note) if n]
    if any(r.number_of_frames != 1 and r.frame < 0 for r in records):
        varying.append("multi-frame files without per-frame geometry are separate volumes")
    out = []
    for key, recs in keyed.items():
        this = (
            f"this group: {recs[0].rows}x{recs[0].columns}, "
            f"{'localizer' if recs[0].is_localizer else 'image'}"
            f"{', ' + image_component(recs[0]) if image_component(recs[0]) else ''}, "
            f"orientation {_fmt_iop(recs[0].iop)}, {len(recs)} files"
        )
        out.append(("|".join(key), recs, [*varying, this]))
    return out


# -- one stackable group -> one volume ------------------------------------------------------------


def _file_list(paths: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _drop_duplicates(
    records: list[FrameRecord], warnings: list[str]
) -> tuple[list[FrameRecord], str | None]:
    """Drop exact duplicates (same SOPInstanceUID, same pixel bytes); conflicting ones are an error."""
    by_uid: dict[str, list[FrameRecord]] = defaultdict(list)
    for r in records:
        key = r.sop_instance_uid or r.path
        by_uid[
            key if r.number_of_frames == 1 and r.mosaic is None else f"{key}#frame{r.frame}"
        ].append(r)
    kept: list[FrameRecord] = []
    for uid, recs in by_uid.items():
        kept.append(recs[0])
        for dup in recs[1:]:
            if not _same_pixels(recs[0], dup):
                return kept, (
                    f"SOPInstanceUID (0008,0018) {uid} appears in {recs[0].path} and {dup.path} "
                    "with different pixel data; remove one of the files"
                )
            warnings.append(
                f"exact duplicate dropped: {dup.path} repeats {recs[0].path} "
                f"(same SOPInstanceUID {uid}, same pixel data)"
            )
    return kept, None


def _same_pixels(a: FrameRecord, b: FrameRecord) -> bool:
    if a.pixel_length != b.pixel_length or a.pixel_length < 0:
        return (
            a.pixel_length == b.pixel_length
            and a.size - a.pixel_offset == b.size - b.pixel_offset
            and _bytes_equal(a, b)
        )
    return _bytes_equal(a, b)


def _bytes_equal(a: FrameRecord, b: FrameRecord) -> bool:
    """Compare the pixel bytes of two files (only ever done for duplicate SOPInstanceUIDs)."""
    n = a.pixel_length if a.pixel_length >= 0 else a.size - a.pixel_offset
    block = 1 << 20
    try:
        with open(a.path, "rb") as fa, open(b.path, "rb") as fb:
            fa.seek(a.pixel_offset)
            fb.seek(b.pixel_offset)
            while n > 0:
                xa, xb = fa.read(min(block, n)), fb.read(min(block, n))
                if xa != xb:
                    return False
                if not xa:
                    break
                n -= len(xa)
    except OSError:
        return False
    return True


#: Attributes that define the pixel layout: a malformed value there is an error, not a guess.
_LAYOUT_KEYWORDS = frozenset(
    {
        "Rows",
        "Columns",
        "SamplesPerPixel",
        "PhotometricInterpretation",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "NumberOfFrames",
    }
)


def _support_error(rec: FrameRecord) -> tuple[str, str] | None:
    """(kind, message) when lazyvol cannot read this record's pixels yet."""
    ts = rec.transfer_syntax
    layout_bad = [b for b in (rec.bad_attributes or []) if b.split(" ", 1)[0] in _LAYOUT_KEYWORDS]
    if layout_bad:
        return "format", (
            f"{rec.path}: malformed value(s) in attributes needed to read the pixels: "
            + "; ".join(layout_bad)
        )
    if rec.pixel_vr in ("OF", "OD"):
        return "unsupported", (
            f"{rec.path}: FloatPixelData/DoubleFloatPixelData (7FE0,0008/0009) is not supported yet"
        )
    if ts == DEFLATED_SYNTAX:
        return "unsupported", (
            f"{rec.path}: transfer syntax Deflated Explicit VR Little Endian ({ts}) is not supported; "
            "convert the files with e.g. `dcmconv +te` or `gdcmconv --raw`"
        )
    if ts not in NATIVE_SYNTAXES:
        from pydicom.pixels import get_decoder
        from pydicom.uid import UID

        try:
            decoder = get_decoder(ts)
        except NotImplementedError:
            return "unsupported", (
                f"{rec.path}: transfer syntax {UID(ts).name} ({ts}) has no pixel decoder in pydicom"
            )
        if not decoder.is_available:
            return "unsupported", (
                f"{rec.path}: no decoder installed for transfer syntax {UID(ts).name} ({ts}); "
                f"install one of: {'; '.join(decoder.missing_dependencies)} "
                "(pip install 'lazyvol[codecs]')"
            )
        if rec.number_of_frames > 1 and rec.frame >= 0:
            return None  # frames located (and the items checked) at scan time
        if rec.pixel_length != -1:
            return "format", (
                f"{rec.path}: Pixel Data (7FE0,0010) of compressed syntax {UID(ts).name} is not "
                "encapsulated (defined length)"
            )
        end = _encapsulated_end(rec)
        if isinstance(end, str):
            return "format", f"{rec.path}: encapsulated Pixel Data (7FE0,0010) {end}"
    if ts in NATIVE_SYNTAXES and rec.number_of_frames > 1 and rec.frame < 0:
        # Check the claimed size against the payload first: a lying header is a format error,
        # whatever else the file is.
        nbytes = max(1, rec.bits_allocated // 8)
        need_all = rec.rows * rec.columns * rec.number_of_frames * rec.samples_per_pixel * nbytes
        have = rec.pixel_length if rec.pixel_length >= 0 else rec.size - rec.pixel_offset
        if have < need_all or rec.pixel_offset + need_all > rec.size:
            return "format", (
                f"{rec.path}: Pixel Data (7FE0,0010) holds {have} bytes but Rows x Columns x "
                f"NumberOfFrames x SamplesPerPixel x BitsAllocated/8 = {rec.rows}x{rec.columns}x"
                f"{rec.number_of_frames}x{rec.samples_per_pixel}x{nbytes} = {need_all}: the "
                "header's dimensions are wrong or the file is truncated"
            )
    if rec.number_of_frames != 1 and rec.frame < 0:
        return "unsupported", (
            f"{rec.path}: multi-frame image (NumberOfFrames (0028,0008) = {rec.number_of_frames}) is "
            "not supported yet"
        )
    if rec.samples_per_pixel != 1:
        return "unsupported", (
            f"{rec.path}: colour images (SamplesPerPixel (0028,0002) = {rec.samples_per_pixel}, "
            f"PhotometricInterpretation {rec.photometric}) are not supported yet"
        )
    if rec.bits_allocated not in (8, 16, 32):
        return "unsupported", (
            f"{rec.path}: BitsAllocated (0028,0100) = {rec.bits_allocated} is not supported "
            "(8, 16 or 32)"
        )
    if not 1 <= rec.bits_stored <= rec.bits_allocated:
        return "format", (
            f"{rec.path}: BitsStored (0028,0101) = {rec.bits_stored} is not within 1..BitsAllocated "
            f"({rec.bits_allocated})"
        )
    mosaic_problem = mosaic_error(rec)
    if mosaic_problem:
        return mosaic_problem
    if ts not in NATIVE_SYNTAXES:
        return None
    need = rec.rows * rec.columns * (rec.bits_allocated // 8)
    if rec.pixel_length >= 0 and rec.pixel_length < need:
        return "format", (
            f"{rec.path}: Pixel Data (7FE0,0010) length {rec.pixel_length} is shorter than Rows x "
            f"Columns x BitsAllocated/8 = {rec.rows}x{rec.columns}x{rec.bits_allocated // 8} = {need}"
        )
    if rec.pixel_offset + need > rec.size:
        return "format", (
            f"{rec.path}: truncated: Pixel Data (7FE0,0010) needs {need} bytes from offset "
            f"{rec.pixel_offset} but the file has {rec.size} bytes"
        )
    return None


def _encapsulated_end(rec: FrameRecord) -> int | str:
    """Walk the item headers of encapsulated Pixel Data (seeks only): end offset or a problem."""
    import struct

    pos = rec.pixel_offset
    items = 0
    try:
        with open(rec.path, "rb") as f:
            while True:
                f.seek(pos)
                head = f.read(8)
                if len(head) < 8:
                    return (
                        f"is truncated: the file ends after {items} item(s) without the sequence "
                        "delimiter (FFFE,E0DD)"
                    )
                group, elem, length = struct.unpack("<HHL", head)
                tag = group << 16 | elem
                if tag == 0xFFFEE0DD:
                    break
                if tag != 0xFFFEE000:
                    return f"has an unexpected tag ({group:04X},{elem:04X}) at byte {pos}"
                if length == 0xFFFFFFFF or pos + 8 + length > rec.size:
                    return (
                        f"is truncated: item {items} at byte {pos} claims {length} bytes but "
                        f"the file has {rec.size}"
                    )
                pos += 8 + length
                items += 1
    except OSError as exc:
        return f"cannot be read: {exc}"
    if items < 2:
        return "holds no frame fragment"
    return pos + 8


def _gap_slots(proj: np.ndarray, spacing: float, opts: GroupOptions) -> np.ndarray | None:
    """Grid index of each sorted slice when every step is a whole number of spacings, else None."""
    if spacing <= 0:
        return None
    rel = (proj - proj[0]) / spacing
    slots = np.round(rel).astype(np.int64)
    tol = geo.spacing_tolerance(spacing, opts.spacing_rtol, opts.spacing_atol)
    if np.any(np.abs(proj - (proj[0] + slots * spacing)) > tol) or np.any(np.diff(slots) < 1):
        return None
    return slots


def _volume(
    uid_records: list[FrameRecord],
    key: str,
    reasons: list[str],
    opts: GroupOptions,
    incomplete: list[str],
) -> SeriesInfo:
    first = uid_records[0]
    warnings: list[str] = []
    if incomplete:
        warnings.append(
            f"series incomplete: {len(incomplete)} file(s) with this SeriesInstanceUID were skipped "
            f"(truncated or not images): {_file_list(sorted(incomplete))}"
        )
    uid = first.series_uid
    sid = hashlib.sha1(f"{uid}\0{key}".encode()).hexdigest()[:8]
    info = SeriesInfo(
        id=sid,
        uid=uid,
        number=first.series_number,
        description=first.series_description,
        modality=first.modality,
        shape=(first.columns, first.rows, len(uid_records)),
        affine=np.eye(4),
        files=sorted(r.path for r in uid_records),
        reasons=list(reasons),
        warnings=warnings,
    )
    meta: dict[str, Any] = {
        "format": "DICOM",
        "modality": first.modality,
        "series_uid": uid,
        "series_number": first.series_number,
        "series_description": first.series_description,
        "study_uid": first.study_uid,
        "sop_class_uid": first.sop_class_uid,
        "transfer_syntax": first.transfer_syntax,
        "photometric": first.photometric,
        "stored_dtype": _stored_dtype(first),
        "bits_stored": first.bits_stored,
    }
    if first.photometric == "MONOCHROME1":
        meta["monochrome1"] = (
            "values are as stored: MONOCHROME1 means high values display dark; invert for display "
            "(lazyvol does not)"
        )
    info.meta = meta

    def fail(kind: str, msg: str) -> SeriesInfo:
        info.error, info.error_kind = msg, kind
        info.dtype = _stored_dtype(first)
        return info

    if not uid:
        warnings.append(
            "SeriesInstanceUID (0020,000E) missing: files grouped by their other attributes"
        )
    records, dup_error = _drop_duplicates(uid_records, warnings)
    if dup_error:
        return fail("series", dup_error)
    info.files = sorted(r.path for r in records)
    if problem := check_records(records, meta, warnings):  # values (dicom/checks.py)
        return fail(*problem)
    for rec in records:
        problem = _support_error(rec)
        if problem:
            return fail(*problem)

    # -- geometry ---------------------------------------------------------------------------------
    missing = [r.path for r in records if r.iop is None or r.ipp is None]
    no_spacing = [r.path for r in records if r.pixel_spacing is None]
    bad_attrs = sorted({b for r in records for b in (r.bad_attributes or [])})
    relaxations: dict[str, Any] = {}
    if missing and not opts.instance_order:
        detail = f" ({'; '.join(bad_attrs)})" if bad_attrs else ""
        return fail(
            "series",
            f"ImagePositionPatient (0020,0032) / ImageOrientationPatient (0020,0037) missing or "
            f"malformed in {len(missing)} file(s): {_file_list(missing)}{detail}; lazyvol does not "
            "invent geometry. Pass instance_order=True to stack by InstanceNumber with a "
            "flagged, approximate affine",
        )
    if no_spacing and not opts.instance_order:
        return fail(
            "series",
            f"PixelSpacing (0028,0030) missing in {len(no_spacing)} file(s): {_file_list(no_spacing)}; "
            "pass instance_order=True for an approximate, flagged affine",
        )

    if missing or no_spacing:
        # Opt-in fallback: InstanceNumber order, geometry flagged as approximate.
        no_inst = [r.path for r in records if r.instance_number is None]
        if no_inst:
            return fail(
                "series",
                f"instance_order=True needs InstanceNumber (0020,0013), missing in {_file_list(no_inst)}",
            )
        ordered = sorted(records, key=lambda r: (r.instance_number, r.path))
        nums = [r.instance_number for r in ordered]
        if len(set(nums)) != len(nums):
            return fail("series", "instance_order=True: InstanceNumber (0020,0013) values repeat")
        iop = first.iop or [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ps = first.pixel_spacing or [1.0, 1.0]
        _, _, normal = geo.dicom_cosines(iop)
        dk = float(first.spacing_between_slices or first.slice_thickness or 1.0)
        origin = first.ipp or [0.0, 0.0, 0.0]
        info.affine = geo.dicom_affine(iop, ps, origin, normal * dk)
        relaxations["instance_order"] = True
        meta["geometry_approximate"] = (
            "slices ordered by InstanceNumber; "
            + ("orientation/position missing: " if missing else "")
            + ("pixel spacing missing (1 mm assumed)" if no_spacing else "")
        ).strip()
        warnings.append("geometry approximate: " + meta["geometry_approximate"])
        volumes = [ordered]
        axis4 = None
        slice_step = normal * dk
    else:
        iop_v = first.iop
        assert iop_v is not None
        iop = iop_v
        try:
            _, _, normal = geo.dicom_cosines(iop)
        except ValueError as exc:
            return fail("format", f"{first.path}: {exc}")
        pos = np.array([r.ipp for r in records], dtype=np.float64)
        proj = geo.slice_projections(pos, normal)
        order = np.lexsort((np.arange(len(records)), proj))
        proj_sorted = proj[order]
        recs_sorted = [records[i] for i in order]
        # Distinct positions (within tolerance) and how often each occurs.
        extent = float(proj_sorted[-1] - proj_sorted[0]) if len(proj_sorted) > 1 else 0.0
        same_tol = max(1e-3, 1e-5 * extent)
        bins: list[list[int]] = [[0]]
        for n in range(1, len(proj_sorted)):
            if proj_sorted[n] - proj_sorted[bins[-1][0]] <= same_tol:
                bins[-1].append(n)
            else:
                bins.append([n])
        counts = {len(b) for b in bins}
        axis4 = None
        if counts != {1}:
            groups = [[recs_sorted[i] for i in b] for b in bins]
            found = (
                order_volumes(groups, instance_order=opts.instance_order)
                if len(counts) == 1
                else None
            )
            if not isinstance(found, Axis4Order):
                reps = Counter(len(b) for b in bins)
                where = next(b for b in bins if len(b) > 1)
                files = [recs_sorted[i].path for i in where]
                head = (
                    f"{len(bins)} distinct slice positions but positions repeat "
                    f"({', '.join(f'{n} position(s) x{c}' for c, n in sorted(reps.items()))}); "
                    f"e.g. position {proj_sorted[where[0]]:.4f} mm along the normal in "
                    f"{_file_list(files)}"
                )
                if found is None:
                    return fail(
                        "series",
                        head + ": positions repeat a different number of times, so the images "
                        "cannot form volumes of equal size (missing images, or mixed "
                        "acquisitions sharing one SeriesInstanceUID)",
                    )
                return fail(
                    "series",
                    head + f". No rule gives a consistent volume order (tried: {found}). Pass "
                    "instance_order=True to stack the images at each position by InstanceNumber",
                )
            axis4 = found.keyword
            volumes = found.volumes
            meta["axis4_values"] = found.values
            meta["axis4_rule"] = found.rule
            if found.rule == RANK_INSTANCE and opts.instance_order:
                relaxations["instance_order"] = True
        else:
            volumes = [recs_sorted]
        base = volumes[0]
        p_first = np.array([r.ipp for r in base], dtype=np.float64)
        proj_base = geo.slice_projections(p_first, normal)
        if len(base) > 1:
            spacing, bad = geo.regular_grid_errors(
                proj_base, rel=opts.spacing_rtol, floor=opts.spacing_atol
            )
            filled: list[int] = []
            if bad:
                i, step = bad[0]
                msg = (
                    f"irregular slice spacing: expected {spacing:.6g} mm between slices but found "
                    f"{step:.6g} mm between {base[i].path} and {base[i + 1].path}"
                )
                if len(bad) > 1:
                    msg += f" ({len(bad)} irregular steps in all)"
                slots = _gap_slots(proj_base, spacing, opts)
                if slots is None or len(volumes) > 1:
                    return fail(
                        "series",
                        msg + ". lazyvol never averages spacing; remove the odd files or open "
                        "the parts separately",
                    )
                if not opts.allow_gaps:
                    missing_n = int(slots[-1]) + 1 - len(base)
                    return fail(
                        "series",
                        msg + f"; {missing_n} slice(s) missing. Pass allow_gaps=True to fill them "
                        "lazily (with fill=, default 0, NaN for float output) on a regular grid",
                    )
                grid: list[FrameRecord | None] = [None] * (int(slots[-1]) + 1)
                for rec, slot in zip(base, slots):
                    grid[int(slot)] = rec
                filled = [n for n, rec in enumerate(grid) if rec is None]
                slice_step = (p_first[-1] - p_first[0]) / float(slots[-1])
                relaxations["allow_gaps"] = True
                meta["filled_slices"] = filled
                warnings.append(f"{len(filled)} missing slice(s) filled at k = {filled}")
                volumes = [grid]  # type: ignore[list-item]
            else:
                slice_step = (p_first[-1] - p_first[0]) / (len(base) - 1)
            # Every 4th-axis volume must sit on the same positions.
            for vol in volumes[1:]:
                pv = np.array([r.ipp for r in vol], dtype=np.float64)
                if np.max(np.abs(pv - p_first)) > geo.spacing_tolerance(
                    spacing, opts.spacing_rtol, opts.spacing_atol
                ):
                    return fail(
                        "series", f"4th-axis volumes ({axis4}) do not share slice positions"
                    )
        else:
            dk_or_none = first.spacing_between_slices or first.slice_thickness
            if dk_or_none is None or dk_or_none <= 0:
                dk = 1.0
                meta["slice_spacing_source"] = "none (single slice; 1 mm assumed)"
            else:
                dk = float(dk_or_none)
                meta["slice_spacing_source"] = (
                    "SpacingBetweenSlices" if first.spacing_between_slices else "SliceThickness"
                )
            slice_step = normal * dk
        tilt = geo.shear_angle_deg(slice_step, normal)
        if tilt > 0.01:
            meta["gantry_tilt_deg"] = round(tilt, 4)
            meta["sheared"] = True
            warnings.append(
                f"slices are sheared (gantry tilt {tilt:.3f} degrees, found from the positions): the "
                "affine keeps the shear exactly"
            )
        info.affine = geo.dicom_affine(
            iop, first.pixel_spacing or [1.0, 1.0], base[0].ipp or [0, 0, 0], slice_step
        )
        inst = [r.instance_number for r in base]
        if all(n is not None for n in inst) and len(base) > 1:
            ns = sorted(n for n in inst if n is not None)
            if ns[-1] - ns[0] + 1 != len(ns) and len(set(ns)) == len(ns):
                warnings.append(
                    f"InstanceNumber (0020,0013) has gaps ({ns[0]}..{ns[-1]} for {len(ns)} slices) "
                    "but the positions are regular"
                )
    slots_all: list[FrameRecord | None] = [r for vol in volumes for r in vol]
    ordered_frames = [r for r in slots_all if r is not None]
    nk = len(volumes[0])
    shape: tuple[int, ...] = (first.columns, first.rows, nk)
    if len(volumes) > 1:
        shape = (*shape, len(volumes))
    info.shape = shape
    info.axis4 = axis4
    info.files = [r.path for r in ordered_frames]
    use_fp = opts.philips_scaling == "fp"
    scale_of = {id(r): _rescale_pair(r, use_fp) for r in ordered_frames}
    pairs = [scale_of[id(r)] for r in ordered_frames]
    if use_fp:
        n_fp = sum(1 for r in ordered_frames if r.philips_scale_slope and r.rescale_slope)
        meta["philips_scaling"] = (
            "fp: (stored * RescaleSlope + RescaleIntercept) / (RescaleSlope * scale slope "
            "(2005,100E))"
            if n_fp == len(ordered_frames)
            else f"fp asked, but {len(ordered_frames) - n_fp} of {len(ordered_frames)} images "
            "have no Philips scale slope (2005,100E): those keep RescaleSlope/RescaleIntercept"
        )
        if n_fp < len(ordered_frames):
            warnings.append(meta["philips_scaling"])
    stored = np.dtype(_stored_dtype(first))
    info.dtype = _scaled_dtype_bits(stored, first.bits_stored, pairs).str.lstrip("<>=|")
    uniq = sorted(set(pairs))
    if len(uniq) == 1:
        meta["rescale"] = {"slope": uniq[0][0], "intercept": uniq[0][1]}
    else:
        meta["rescale"] = "per slice"
    if relaxations:
        meta["relaxations"] = relaxations
    meta["spacing"] = [float(x) for x in geo.voxel_sizes(info.affine)]
    echoes = sorted({r.echo_number for r in ordered_frames if r.echo_number is not None})
    if echoes:
        meta["echo_numbers"] = echoes
    component = image_component(first)
    if component:
        meta["image_component"] = component
    firsts = [next(r for r in vol if r is not None) for vol in volumes]
    diffusion = diffusion_meta(firsts)
    if diffusion:
        meta["diffusion"] = diffusion
    info.frames = FrameTable(
        paths=tuple(r.path if r else "" for r in slots_all),
        offsets=tuple(r.pixel_offset if r else -1 for r in slots_all),
        slopes=tuple(scale_of[id(r)][0] if r else 1.0 for r in slots_all),
        inters=tuple(scale_of[id(r)][1] if r else 0.0 for r in slots_all),
        sizes=tuple(r.size if r else 0 for r in slots_all),
        lengths=tuple(
            (r.pixel_length if r.number_of_frames > 1 else -1) if r else -1 for r in slots_all
        ),
        rows=first.rows,
        columns=first.columns,
        bits_allocated=first.bits_allocated,
        bits_stored=first.bits_stored,
        signed=bool(first.pixel_representation),
        little_endian=NATIVE_SYNTAXES.get(first.transfer_syntax, (False, True))[1],
        pixel_vr=first.pixel_vr,
        transfer_syntax=first.transfer_syntax,
        photometric=first.photometric,
        idents=tuple(
            (r.size, r.mtime_ns, r.inode, r.ctime_ns) if r else (0, 0, 0, 0) for r in slots_all
        ),
    )
    annotate_volume(info, slots_all)
    if info.error is None:
        annotate_bids(info, slots_all, nk)
    return info


def _rescale_pair(r: FrameRecord, philips_fp: bool) -> tuple[float, float]:
    """(slope, intercept) applied to stored values: DICOM rescale, or Philips floating point."""
    ss = r.philips_scale_slope
    if philips_fp and ss and r.rescale_slope:
        return 1.0 / ss, r.rescale_intercept / (r.rescale_slope * ss)
    return r.rescale_slope, r.rescale_intercept


_INTS = [np.dtype(t) for t in ("uint8", "int8", "uint16", "int16", "uint32", "int32", "int64")]


def _scaled_dtype_bits(
    stored: np.dtype, bits_stored: int, pairs: Sequence[tuple[float, float]]
) -> np.dtype:
    """:func:`lazyvol.scaling.scaled_dtype` with the value range that BitsStored allows.

    12-bit unsigned CT with RescaleIntercept -1024 holds -1024..3071: int16, not int32. Otherwise the
    same rule: the stored dtype when no scaling applies, the narrowest exact integer dtype when every
    slope and intercept is integral, float32 otherwise.
    """
    base = scaled_dtype(stored, pairs)
    if base.kind not in "iu" or base == stored.newbyteorder("="):
        return base
    signed = stored.kind == "i"
    lo_s = -(2 ** (bits_stored - 1)) if signed else 0
    hi_s = 2 ** (bits_stored - 1) - 1 if signed else 2**bits_stored - 1
    ends = [v * int(s) + int(i) for s, i in set(pairs) for v in (lo_s, hi_s)]
    lo, hi = min(ends), max(ends)
    for cand in _INTS:
        info = np.iinfo(cand)
        if info.min <= lo and hi <= info.max:
            return cand
    return base


GE_SOURCE = _VENDOR_SOURCES["GE"]


def diffusion_meta(firsts: Sequence[FrameRecord]) -> dict[str, Any] | None:
    """``meta["diffusion"]`` from one record per volume, or None when not a diffusion series.

    ``{"bvals": [...], "gradients_lps": [[x, y, z], ...], "source": ...}``: b-values and gradient
    directions as the scanner stored them (patient frame, LPS), ``[0, 0, 0]`` for b = 0 or a
    missing direction. A 3D volume counts only when its b-value is above 0.
    """
    if not firsts or any(r.b_value is None for r in firsts):
        return None
    bvals = [float(r.b_value) for r in firsts if r.b_value is not None]
    if len(firsts) == 1 and bvals[0] <= 0:
        return None
    grads = []
    source = firsts[0].diffusion_source
    image_frame = source == GE_SOURCE
    for r, b in zip(firsts, bvals):
        g = r.gradient
        if b == 0 or not g:
            grads.append([0.0, 0.0, 0.0])
        elif image_frame and r.iop is not None:
            # GE stores directions in the image frame (row, reversed column, normal): to LPS
            try:
                row, col, normal = geo.dicom_cosines(r.iop)
            except ValueError:
                return None  # degenerate orientation: no trustworthy directions
            lps = g[0] * np.asarray(row) - g[1] * np.asarray(col) + g[2] * np.asarray(normal)
            grads.append([float(round(x, 7)) + 0.0 for x in lps])
        else:
            grads.append([float(x) for x in g])
    out: dict[str, Any] = {"bvals": bvals, "gradients_lps": grads, "source": source}
    if image_frame:
        out["source"] = source + " (image frame: row, -column, normal; converted to LPS)"
    return out


def build_series(
    records: Sequence[FrameRecord],
    *,
    options: GroupOptions | None = None,
    incomplete: dict[str, list[str]] | None = None,
) -> list[SeriesInfo]:
    """Group header records into volumes (deterministic: independent of file order and names)."""
    opts = options or GroupOptions()
    by_uid: dict[str, list[FrameRecord]] = defaultdict(list)
    for rec in sorted(records, key=lambda r: r.path):
        by_uid[rec.series_uid].append(rec)
    infos: list[SeriesInfo] = []
    for uid, recs in by_uid.items():
        for key, group, reasons in _split(recs, opts.stack_localizers):
            info = _volume(group, key, reasons, opts, (incomplete or {}).get(uid, []))
            infos.extend(_split_4d(info) if opts.split_4d else [info])
    infos.sort(
        key=lambda i: (
            i.number if i.number is not None else 1 << 40,
            i.uid,
            i.files[0] if i.files else "",
        )
    )
    return infos
