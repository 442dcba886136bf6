"""NIfTI-1/2 header fields parsed with numpy alone, exactly as nibabel reads them.

Opening a ``.nii`` must not import nibabel (whose ``nifti1`` module imports pydicom): this module
reads the 348-byte NIfTI-1 or 540-byte NIfTI-2 header (either byte order, the one ``sizeof_hdr``
gives) into a numpy structured record and applies nibabel's rules: the load-time fixes of
``check_fix`` (zero/negative ``pixdim[1:4]``, ``qfac``, unknown ``qform_code``/``sform_code``),
its errors (unknown or unsupported ``datatype``, ``vox_offset`` inside a single file's header,
``EOL`` check of NIfTI-2, malformed extensions), ``get_data_shape`` (with its FreeSurfer
conventions for NIfTI-1), ``get_data_dtype``, ``get_slope_inter`` and the transforms of
``get_best_affine`` (sform, qform with the quaternion's ``w`` filled as ``fillpositive`` does, the
base affine from the zooms). ``tests/test_nifti_header_parse.py`` compares it with nibabel.

Analyze headers (no NIfTI magic) are left to nibabel (:mod:`lazyvol.nifti_header`).
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import FormatError
from .nifti_codes import DATA_TYPES, INTENTS, xyzt_unit_names
from .nifti_extensions import walk_extensions
from .nifti_text import header_text, text_notes

__all__ = [
    "extension_bytes",
    "extra_zooms",
    "CARRIED_KEY",
    "CARRIED_PLAIN",
    "NON_FINITE_KEY",
    "CARRIED_SLICE_TIMING",
    "EXTENSIONS_KEY",
    "HEADER1",
    "HEADER2",
    "ParsedHeader",
    "base_affine",
    "header_fields",
    "non_finite",
    "parse_nifti",
    "vox_offset_error",
]


def _dt(fields: list[tuple[Any, ...]]) -> np.dtype:
    return np.dtype(fields)


#: The NIfTI-1 header (nibabel's ``nifti1.header_dtype``), little-endian; 348 bytes.
HEADER1 = _dt(
    [
        ("sizeof_hdr", "<i4"),
        ("data_type", "S10"),
        ("db_name", "S18"),
        ("extents", "<i4"),
        ("session_error", "<i2"),
        ("regular", "S1"),
        ("dim_info", "u1"),
        ("dim", "<i2", (8,)),
        ("intent_p1", "<f4"),
        ("intent_p2", "<f4"),
        ("intent_p3", "<f4"),
        ("intent_code", "<i2"),
        ("datatype", "<i2"),
        ("bitpix", "<i2"),
        ("slice_start", "<i2"),
        ("pixdim", "<f4", (8,)),
        ("vox_offset", "<f4"),
        ("scl_slope", "<f4"),
        ("scl_inter", "<f4"),
        ("slice_end", "<i2"),
        ("slice_code", "u1"),
        ("xyzt_units", "u1"),
        ("cal_max", "<f4"),
        ("cal_min", "<f4"),
        ("slice_duration", "<f4"),
        ("toffset", "<f4"),
        ("glmax", "<i4"),
        ("glmin", "<i4"),
        ("descrip", "S80"),
        ("aux_file", "S24"),
        ("qform_code", "<i2"),
        ("sform_code", "<i2"),
        ("quatern_b", "<f4"),
        ("quatern_c", "<f4"),
        ("quatern_d", "<f4"),
        ("qoffset_x", "<f4"),
        ("qoffset_y", "<f4"),
        ("qoffset_z", "<f4"),
        ("srow_x", "<f4", (4,)),
        ("srow_y", "<f4", (4,)),
        ("srow_z", "<f4", (4,)),
        ("intent_name", "S16"),
        ("magic", "S4"),
    ]
)

#: The NIfTI-2 header (nibabel's ``nifti2.header_dtype``), little-endian; 540 bytes.
HEADER2 = _dt(
    [
        ("sizeof_hdr", "<i4"),
        ("magic", "S4"),
        ("eol_check", "i1", (4,)),
        ("datatype", "<i2"),
        ("bitpix", "<i2"),
        ("dim", "<i8", (8,)),
        ("intent_p1", "<f8"),
        ("intent_p2", "<f8"),
        ("intent_p3", "<f8"),
        ("pixdim", "<f8", (8,)),
        ("vox_offset", "<i8"),
        ("scl_slope", "<f8"),
        ("scl_inter", "<f8"),
        ("cal_max", "<f8"),
        ("cal_min", "<f8"),
        ("slice_duration", "<f8"),
        ("toffset", "<f8"),
        ("slice_start", "<i8"),
        ("slice_end", "<i8"),
        ("descrip", "S80"),
        ("aux_file", "S24"),
        ("qform_code", "<i4"),
        ("sform_code", "<i4"),
        ("quatern_b", "<f8"),
        ("quatern_c", "<f8"),
        ("quatern_d", "<f8"),
        ("qoffset_x", "<f8"),
        ("qoffset_y", "<f8"),
        ("qoffset_z", "<f8"),
        ("srow_x", "<f8", (4,)),
        ("srow_y", "<f8", (4,)),
        ("srow_z", "<f8", (4,)),
        ("slice_code", "<i4"),
        ("xyzt_units", "<i4"),
        ("intent_code", "<i4"),
        ("intent_name", "S16"),
        ("dim_info", "u1"),
        ("unused_str", "S15"),
    ]
)


_XFORM_CODES = frozenset(range(6))

#: (name, fields shown in messages, getter) of one transform the header offers.
Candidate = tuple[str, str, Callable[[], np.ndarray]]


@dataclass
class ParsedHeader:
    """What :func:`lazyvol.nifti.open_nifti` needs from a NIfTI/Analyze header.

    ``slope``/``inter`` are nibabel's effective scaling (1/0 when the slope is 0 or not
    finite); ``raw_slope``/``raw_inter`` the stored values. ``candidates`` are the transforms in
    nibabel's order of preference. ``fields`` holds the header entries of ``Volume.meta``.
    """

    format: str
    dim: np.ndarray
    shape: tuple[int, ...]
    disk_dtype: np.dtype
    offset: int
    slope: float
    inter: float
    raw_slope: float
    raw_inter: float
    candidates: list[Candidate]
    pixdim_stored: list[float]
    pixdim_used: list[float]
    fields: dict[str, Any] = field(default_factory=dict)
    #: The stored ``bitpix`` (NIfTI; None for Analyze, which nibabel parses).
    bitpix: int | None = None


def _fmt(values: Any) -> str:
    return "[" + ", ".join(f"{float(x):g}" for x in np.asarray(values).ravel()) + "]"


def fill_w(bcd: np.ndarray, threshold: float) -> np.ndarray:
    """The unit quaternion ``(w, b, c, d)`` from ``b, c, d`` (nibabel's ``fillpositive``):
    ``w**2`` within ``threshold`` of 0 (either side) is 0; more negative is an error."""
    xyz = np.asarray(bcd, dtype=np.longdouble)
    w2 = 1.0 - xyz @ xyz
    if np.abs(w2) < np.abs(threshold):
        w: Any = 0
    elif w2 < 0:
        raise ValueError(f"w2 should be positive, but is {w2:e}")
    else:
        w = np.sqrt(w2)
    out: np.ndarray = np.r_[w, xyz]
    return out


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    """Rotation matrix of quaternion ``q = (w, x, y, z)`` (nibabel's ``quat2mat``)."""
    w, x, y, z = q
    nq = w * w + x * x + y * y + z * z
    if nq < np.finfo(float).eps:
        return np.eye(3)
    s = 2.0 / nq
    xs, ys, zs = x * s, y * s, z * s
    wx, wy, wz = w * xs, w * ys, w * zs
    xx, xy, xz = x * xs, x * ys, x * zs
    yy, yz, zz = y * ys, y * zs, z * zs
    out: np.ndarray = np.array(
        [
            [1.0 - (yy + zz), xy - wz, xz + wy],
            [xy + wz, 1.0 - (xx + zz), yz - wx],
            [xz - wy, yz + wx, 1.0 - (xx + yy)],
        ]
    )
    return out


class _Transforms:
    """nibabel's ``get_sform``/``get_qform``/``get_base_affine`` over a (fixed) header record."""

    def __init__(self, rec: np.void, nifti2: bool) -> None:
        self.rec = rec
        # float32 precision for NIfTI-1, float64 for NIfTI-2 (nibabel's quaternion_threshold)
        self.threshold = float(
            np.finfo(np.float32).eps * 3 if not nifti2 else -np.finfo(np.float64).eps * 3
        )

    def sform(self) -> np.ndarray:
        out = np.eye(4)
        for row, name in enumerate(("srow_x", "srow_y", "srow_z")):
            out[row, :] = self.rec[name][:]
        return out

    def qform(self) -> np.ndarray:
        rec = self.rec
        bcd = [rec["quatern_b"], rec["quatern_c"], rec["quatern_d"]]
        rot = quat_to_mat(fill_w(np.asarray(bcd), self.threshold))
        vox = np.array(rec["pixdim"][1:4], copy=True)
        if np.any(vox < 0):
            raise ValueError("pixdims[1,2,3] should be positive")
        qfac = rec["pixdim"][0]
        if qfac not in (-1, 1):
            raise ValueError("qfac (pixdim[0]) should be 1 or -1")
        vox[-1] *= qfac
        out = np.eye(4)
        out[0:3, 0:3] = np.dot(rot, np.diag(vox))
        out[0:3, 3] = [rec["qoffset_x"], rec["qoffset_y"], rec["qoffset_z"]]
        return out

    def base(self) -> np.ndarray:
        return base_affine(self.rec["dim"], self.rec["pixdim"])


def base_affine(dim: np.ndarray, pixdim: np.ndarray) -> np.ndarray:
    """nibabel's ``get_base_affine`` (``shape_zoom_affine`` with the x axis flipped): voxel
    sizes from ``pixdim``, origin at the centre of the image."""
    ndim = int(dim[0])
    shape = np.ones(3)
    zooms = np.ones(3)
    n = min(ndim, 3)
    shape[:n] = np.asarray(dim[1 : n + 1], dtype=float)
    zooms[:n] = np.asarray(pixdim[1 : n + 1], dtype=float)
    zooms[0] *= -1
    aff = np.eye(4)
    aff[:3, :3] = np.diag(zooms)
    aff[:3, -1] = -((shape - 1) / 2.0) * zooms
    return aff


def _candidates(rec: np.void, nifti2: bool) -> list[Candidate]:
    """The transforms in nibabel's order (``get_best_affine``): sform when sform_code != 0,
    qform when qform_code != 0; the base affine only when neither is set."""
    tr = _Transforms(rec, nifti2)
    s_code, q_code = int(rec["sform_code"]), int(rec["qform_code"])
    out: list[Candidate] = []
    if s_code != 0:
        rows = ", ".join(f"{k} = {_fmt(rec[k])}" for k in ("srow_x", "srow_y", "srow_z"))
        out.append(("sform", f"sform_code {s_code}, {rows}", tr.sform))
    if q_code != 0:
        quat = ", ".join(
            f"{k} = {float(rec[k]):g}" for k in ("quatern_b", "quatern_c", "quatern_d")
        )
        offs = _fmt([rec[k] for k in ("qoffset_x", "qoffset_y", "qoffset_z")])
        out.append(
            (
                "qform",
                f"qform_code {q_code}, {quat}, qoffset = {offs}, "
                f"pixdim[0:4] = {_fmt(rec['pixdim'][:4])}",
                tr.qform,
            )
        )
    if not out:
        out.append(("base", f"pixdim[1:4] = {_fmt(rec['pixdim'][1:4])}", tr.base))
    return out


def _fix(rec: np.void, where: str, nifti2: bool) -> None:
    """nibabel's load-time ``check_fix`` on ``rec`` (in place): fixes below its error level
    applied, problems at or above it raised as :class:`FormatError` naming the field."""
    code = int(rec["datatype"])
    if code not in DATA_TYPES:
        raise FormatError(
            f"{where}: NIfTI field datatype = {code} is not a known NIfTI data type code; "
            "the header is corrupt"
        )
    if DATA_TYPES[code] is None:
        raise FormatError(
            f"{where}: invalid NIfTI/Analyze header (NIfTI field datatype): data code {code} not "
            "supported (nibabel cannot read it either); convert the image to a supported type"
        )
    pixdim = rec["pixdim"]
    spat = np.array(pixdim[1:4], copy=True)
    if np.any(spat <= 0):
        spat[spat == 0] = 1
        pixdim[1:4] = np.abs(spat)
    if pixdim[0] not in (-1, 1):
        pixdim[0] = 1
    magic = rec["magic"].item()
    if magic not in ((b"ni2", b"n+2") if nifti2 else (b"ni1", b"n+1")):
        raise FormatError(
            f"{where}: NIfTI field magic = {magic!r} is not valid for a NIfTI-"
            f"{2 if nifti2 else 1} header; the header is corrupt"
        )
    offset = rec["vox_offset"].item()
    if not math.isfinite(offset):
        raise FormatError(
            f"{where}: NIfTI field vox_offset = {offset} is not a number; the header is corrupt"
        )
    single_magic = b"n+2" if nifti2 else b"n+1"
    minimum = 544 if nifti2 else 352
    if offset != 0 and magic == single_magic and offset < minimum:
        raise FormatError(
            f"{where}: invalid NIfTI/Analyze header (NIfTI field vox_offset): vox offset "
            f"{int(offset)} too low for a single-file NIfTI (minimum {minimum}); the header is "
            "corrupt"
        )
    for name in ("qform_code", "sform_code"):
        if int(rec[name]) not in _XFORM_CODES:
            rec[name] = 0
    if nifti2:
        eol = rec["eol_check"]
        if np.all(eol == 0):
            rec["eol_check"] = (13, 10, 26, 10)
        elif not np.all(eol == (13, 10, 26, 10)):
            raise FormatError(
                f"{where}: NIfTI field eol_check = {list(map(int, eol))} is not 0 or "
                "[13, 10, 26, 10]: the data may be corrupted by end-of-line conversion "
                "(transfer the file in binary mode)"
            )


def _shape(rec: np.void, where: str, nifti2: bool) -> tuple[int, ...]:
    """nibabel's ``get_data_shape`` (NIfTI-1: FreeSurfer's long-vector and ico7 conventions)."""
    dim = rec["dim"]
    ndim = int(dim[0])
    shape = tuple(int(d) for d in dim[1 : ndim + 1]) if ndim else (0,)
    if nifti2:
        return shape
    if shape[:3] == (-1, 1, 1):
        vec_len = int(rec["glmin"])
        if vec_len == 0:
            raise FormatError(
                f"{where}: invalid NIfTI/Analyze header (NIfTI field dim): -1 in dim[1] but 0 in "
                "glmin; inconsistent FreeSurfer-style header"
            )
        return (vec_len, 1, 1, *shape[3:])
    if shape[:3] == (27307, 1, 6):
        return (163842, 1, 1, *shape[3:])
    return shape


#: ``Volume.meta`` key of the header fields a NIfTI source carries into the NIfTI written from it
#: (:mod:`lazyvol.nifti_carry`), with the affine and shape they were read for.
CARRIED_KEY = "nifti_fields"
#: Carried fields that hold whatever the volume is cut to.
CARRIED_PLAIN = ("intent_code", "intent_p1", "intent_p2", "intent_p3", "cal_min", "cal_max")
#: Carried key: each header extension as ``{"code": ecode, "base64": content}`` (JSON text: a
#: store's and a cache entry's metadata hold the same), written back as it was.
EXTENSIONS_KEY = "extensions"
#: Carried key: True when extensions past the header bytes read at open, or past the first
#: :data:`~lazyvol.nifti_extensions.MAX_EXTENSIONS`, were left unread (those before them are
#: kept); a NIfTI written from the volume lacks them (the writers warn).
EXTENSIONS_UNREAD_KEY = "extensions_unread"


def extension_bytes(item: Any) -> tuple[int, bytes] | None:
    """``(ecode, content)`` of one :data:`EXTENSIONS_KEY` entry; None when it is not one."""
    try:
        return int(item["code"]), base64.b64decode(item["base64"], validate=True)
    except (TypeError, KeyError, ValueError, binascii.Error):
        return None


#: Carried fields of the slice timing (along the ``dim_info`` slice axis).
CARRIED_SLICE_TIMING = ("slice_code", "slice_start", "slice_end", "slice_duration")


#: Carried key: the carried float fields the header holds as NaN or an infinity, each as its
#: JSON text (``"NaN"``, ``"Infinity"``, ``"-Infinity"``: a store's metadata is strict JSON),
#: written back as read, as ``nib.save`` of the loaded image keeps them (they were written as 0).
NON_FINITE_KEY = "non_finite"


def non_finite_text(value: float) -> str:
    """The JSON text of a non-finite float (Zarr v3's spelling of such a fill value)."""
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def non_finite(fields: Any, key: str) -> float | None:
    """The non-finite value the carried ``fields`` record for ``key`` (:data:`NON_FINITE_KEY`),
    else None."""
    odd = fields.get(NON_FINITE_KEY) if isinstance(fields, dict) else None
    text = odd.get(key) if isinstance(odd, dict) else None
    if text not in ("NaN", "Infinity", "-Infinity"):
        return None
    return float({"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}[str(text)])


def extra_zooms(zooms: Any) -> list[float | str] | None:
    """The steps of every axis (``pixdim[1:]``, one per axis) of an image of more than 4 axes, as
    a NIfTI written from it carries them (``zooms``); None for fewer axes. A NaN or infinite
    step is kept as its JSON text (:func:`non_finite_text`; ``float()`` reads it back), as
    ``nib.save`` writes it back: such a step made every step past the 4th axis's be written as
    1 (the finite ones too)."""
    steps = [float(z) for z in zooms]
    if len(steps) <= 4:
        return None
    return [z if math.isfinite(z) else non_finite_text(z) for z in steps]


def header_fields(rec: Any) -> dict[str, Any]:
    """The carried fields of a NIfTI header record (a structured NumPy record of its fields)
    that are set (non-zero, non-empty); ``zooms`` (``pixdim[1:]``, one per axis) for an image of
    more than 4 axes."""
    out: dict[str, Any] = {}
    odd: dict[str, str] = {}
    for key in (*CARRIED_PLAIN, "toffset", "dim_info", *CARRIED_SLICE_TIMING):
        value = rec[key].item()
        if value and np.isfinite(value):
            out[key] = value
        elif isinstance(value, float) and not math.isfinite(value):
            odd[key] = non_finite_text(value)
    if odd:
        out[NON_FINITE_KEY] = odd
    for key in ("intent_name", "aux_file"):
        text = header_text(rec, key)
        if text:
            out[key] = text
    out.update(text_notes(rec))  # (what writes the text fields back as the source's bytes)
    zooms = extra_zooms(rec["pixdim"][1 : int(rec["dim"][0]) + 1])
    if zooms is not None:  # the steps of the axes past the 4th
        out["zooms"] = zooms
    return out


def _meta_fields(
    rec: np.void, extensions: list[dict[str, Any]] | None = None, every: bool = True
) -> dict[str, Any]:
    """The header entries of ``Volume.meta`` (as :func:`lazyvol.nifti_header.header_meta` gives
    them for a nibabel header), with the ``extensions`` read
    (:func:`~lazyvol.nifti_extensions.walk_extensions`; ``every``: none left unread)."""
    out: dict[str, Any] = {}
    descrip = header_text(rec, "descrip")
    if descrip:
        out["descrip"] = descrip
    out["xyzt_units"] = list(xyzt_unit_names(int(rec["xyzt_units"])))
    out["sform_code"] = int(rec["sform_code"])
    out["qform_code"] = int(rec["qform_code"])
    intent = int(rec["intent_code"])
    out["intent"] = INTENTS.get(intent, f"unknown code {intent}")
    carried = header_fields(rec)
    if extensions:
        carried[EXTENSIONS_KEY] = extensions
    if not every:
        carried[EXTENSIONS_UNREAD_KEY] = True
    if carried:
        out[CARRIED_KEY] = carried
    ndim = int(rec["dim"][0])
    zooms = tuple(rec["pixdim"][1 : ndim + 1]) if ndim else (1.0,)
    if len(zooms) > 3 and np.isfinite(zooms[3]):
        out["axis4_spacing"] = float(zooms[3])
    return out


def header_order(raw: bytes) -> tuple[str, bool] | None:
    """``(byte order, nifti2)`` from ``sizeof_hdr`` (348 or 540 in either order), else None."""
    for order in "<>":
        size = int(np.frombuffer(raw[:4], dtype=order + "i4")[0])
        if size == 348:
            return order, False
        if size == 540 and len(raw) >= 540:
            return order, True
    return None


def parse_nifti(head: bytes, where: str, *, single: bool, whole: bool = True) -> ParsedHeader:
    """Parse a NIfTI-1/2 header (magic ``n+1``/``ni1``/``n+2``/``ni2``) as nibabel loads it.

    Parameters
    ----------
    head : bytes
        The header file's first bytes: the header, and the extensions when present.
    where : str
        The file, for messages.
    single : bool
        A single-file image (``.nii``), not the ``.hdr`` of a pair.
    whole : bool
        ``head`` holds every header byte (up to ``vox_offset``; a pair's whole ``.hdr``). False
        when the caller read only the first of extensions too large to read at open: those are
        left unread.

    Raises
    ------
    FormatError
        A field nibabel refuses at load (named).
    """
    found = header_order(head)
    if found is None:
        raise FormatError(f"{where}: NIfTI field sizeof_hdr is neither 348 nor 540")
    order, nifti2 = found
    base = HEADER2 if nifti2 else HEADER1
    dtype = base.newbyteorder(">") if order == ">" else base
    raw = np.frombuffer(head[: dtype.itemsize], dtype=dtype)[0]
    rec = raw.copy()
    _fix(rec, where, nifti2)
    extensions, every = walk_extensions(
        head, int(rec["sizeof_hdr"]), float(rec["vox_offset"]), where, order, single, whole
    )
    shape = _shape(rec, where, nifti2)
    disk = DATA_TYPES[int(rec["datatype"])]
    assert disk is not None
    raw_slope, raw_inter = float(raw["scl_slope"]), float(raw["scl_inter"])
    slope, inter = 1.0, 0.0
    if raw_slope != 0 and math.isfinite(raw_slope):
        # A valid slope with a non-finite intercept: nibabel refuses; the caller does too,
        # unless stored values are asked for (scale=False).
        slope, inter = raw_slope, raw_inter
    return ParsedHeader(
        format="nifti2" if nifti2 else "nifti1",
        dim=np.asarray(raw["dim"]).astype(np.int64),
        shape=shape,
        disk_dtype=disk.newbyteorder(">") if order == ">" else disk,
        offset=int(rec["vox_offset"]),
        slope=slope,
        inter=inter,
        raw_slope=raw_slope,
        raw_inter=raw_inter,
        candidates=_candidates(rec, nifti2),
        pixdim_stored=[float(x) for x in raw["pixdim"][1:4]],
        pixdim_used=[float(x) for x in rec["pixdim"][1:4]],
        fields=_meta_fields(rec, extensions, every),
        bitpix=int(raw["bitpix"]),
    )


def vox_offset_error(
    where: object, vox: float, nifti2: bool, single: bool = True, label: str = "NIfTI field"
) -> FormatError:
    """The error of a ``vox_offset`` inside a single file's header, or negative in a pair's."""
    size, ctype, at, first = (540, "int64", 168, 544) if nifti2 else (348, "float32", 108, 352)
    if not single:  # (Analyze too: the same field, at the same byte)
        return FormatError(
            f"{where}: {label} vox_offset = {vox:g} is invalid: a pair's voxel data start at "
            f"byte vox_offset of its .img, 0 or more; the header is corrupt (set the {ctype} at "
            f"byte {at} of the .hdr to 0 if the data start at the .img's first byte)"
        )
    return FormatError(  # (if the data start right after the header: the value to write)
        f"{where}: NIfTI field vox_offset = {vox:g} is invalid: the voxel data of a single-file "
        f"NIfTI-{2 if nifti2 else 1} image start after its {size}-byte header (at byte {size} or "
        "later); the file is corrupt or was not written by a NIfTI writer (nibabel would read "
        "header bytes as voxels; lazyvol refuses). If the data start right after the header and "
        f"its extension flag, set vox_offset to {first}: the {ctype} at byte {at} (of the "
        "uncompressed file), in the header's byte order"
    )
