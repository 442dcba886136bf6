"""NIfTI-1/2 and Analyze headers: read through the byte layer (a path or a URL alike), checked,
parsed, and turned into the affine and ``Volume.meta``.

Only header bytes are read here: the first 548 (uncompressed) bytes for the raw checks (byte
order from ``sizeof_hdr``, ``dim[0]``, magic, datatype, ``vox_offset``), then the header with its
extensions (up to ``vox_offset``, or the whole ``.hdr`` of a pair). NIfTI-1/2 headers are parsed
with numpy by nibabel's rules (:mod:`lazyvol.nifti_fields`: opening a ``.nii`` imports neither
nibabel nor pydicom); Analyze headers by nibabel over an in-memory copy
(:mod:`lazyvol.nifti_analyze`). Nothing opens the source but the byte layer, so the same code
serves local files, URLs and names that are not valid UTF-8.
"""

from __future__ import annotations

import functools
import math
import os
from typing import Any

import numpy as np

from . import _io
from ._location import Location
from ._warn import warn as _warn_user
from .errors import (
    FormatError,
    LazyvolError,
    RemoteAccessError,
    SourceNotFoundError,
    UnsupportedError,
)
from .file_magic import content_note
from .geometry import affine_problem
from .nifti_analyze import analyze_header
from .nifti_carry import QFORM_DIFFERS, same_transform
from .nifti_codes import DATA_TYPES, NIFTI_SUFFIXES, field_label
from .nifti_fields import (
    CARRIED_KEY,
    ParsedHeader,
    header_order,
    parse_nifti,
    vox_offset_error,
)
from .nifti_gzhead import gzip_isize, inflate, is_gzip_name, read_head
from .nifti_pair import near_miss, swap_suffix
from .sources import SourceStamp

__all__ = [
    "NIFTI_SUFFIXES",
    "check_header",
    "checked_affine",
    "data_location",
    "gzip_isize",
    "header_location",
    "header_meta",
    "inflate",
    "is_nifti_path",
    "is_single_file",
    "load_image",
    "read_head",
]

#: Most header bytes (header plus extensions) read to parse a header; a ``vox_offset`` beyond it
#: leaves the extensions unread (and not written into a NIfTI made from the volume).
MAX_HEADER_BYTES = 16 * 2**20
#: Most bytes of a pair's ``.mat`` sidecar (SPM's affine: 4x4 doubles, one per volume of a
#: series); a larger file is refused, not read.
MAX_SIDECAR_BYTES = 4 * 2**20


def is_nifti_path(path: Any) -> bool:
    """True when the file name ends in a NIfTI/Analyze suffix."""
    return Location.of(path).name.lower().endswith(NIFTI_SUFFIXES)


def is_single_file(loc: Location) -> bool:
    """True unless the name says one file of a two-file pair (``.hdr``/``.img``, gzipped or
    not): a ``.nii`` and a file named without a NIfTI suffix (known by its content: a
    content-addressed key) hold header and data in one file, and get the single-file checks
    (magic ``n+1``/``n+2``, ``vox_offset`` past the header)."""
    return not loc.name.lower().endswith((".hdr", ".img", ".hdr.gz", ".img.gz"))


def header_location(loc: Location) -> Location:
    """The file holding the header of ``loc`` (the ``.hdr`` of an Analyze/NIfTI-pair ``.img``)."""
    low = loc.name.lower()
    if low.endswith(".img.gz"):
        return swap_suffix(loc, ".img.gz", ".hdr.gz")
    if low.endswith(".img"):
        return swap_suffix(loc, ".img", ".hdr")
    return loc


def data_location(loc: Location) -> Location:
    """The file holding the image data of ``loc`` (the ``.img`` of a pair's ``.hdr``)."""
    low = loc.name.lower()
    if low.endswith(".hdr.gz"):
        return swap_suffix(loc, ".hdr.gz", ".img.gz")
    if low.endswith(".hdr"):
        return swap_suffix(loc, ".hdr", ".img")
    return loc


def sidecar_location(loc: Location, kind: str = "mat") -> Location | None:
    """Where a pair's optional sidecar (SPM's ``.mat``) would be, for either file of the pair:
    the header's name with ``.hdr`` replaced by ``.<kind>``, its compression suffix kept
    (``x.hdr.gz`` -> ``x.mat.gz``), as nibabel names it; None for a single-file image.

    Raises
    ------
    UnsupportedError
        A URL naming one version of one file of the pair (see :func:`header_location`).
    """
    hdr = header_location(loc)
    old = ".hdr.gz" if is_gzip_name(hdr) else ".hdr"
    if not hdr.name.lower().endswith(old):
        return None
    return swap_suffix(hdr, old, f".{kind}.gz" if old.endswith(".gz") else f".{kind}")


_MAGIC1 = (b"n+1\0", b"ni1\0")
_MAGIC2 = (b"n+2\0", b"ni2\0")


def _precheck_raw_header(hdr_loc: Location, raw: bytes, single: bool) -> tuple[bool, float]:
    """Check sizeof_hdr, dim[0], magic, datatype and vox_offset in the raw bytes, in the byte
    order ``sizeof_hdr`` gives. Returns ``(nifti2, vox_offset)``."""
    if len(raw) < 348:
        raise FormatError(f"{hdr_loc}: {len(raw)} bytes is too short for a NIfTI/Analyze header")
    found = header_order(raw[:548])
    nifti = single or raw[4:8] in _MAGIC2 or raw[344:348] in _MAGIC1  # (else read as Analyze)
    label = field_label("nifti1" if nifti else "analyze")
    if found is None:
        value = int(np.frombuffer(raw[:4], dtype="<i4")[0])
        raise FormatError(
            f"{hdr_loc}: {label} sizeof_hdr = {value} (expected 348 for NIfTI-1/Analyze or 540 "
            "for NIfTI-2): not a NIfTI/Analyze header"
            + content_note(raw, inflated=is_gzip_name(hdr_loc))
        )
    order, nifti2 = found
    if nifti2 and raw[4:8] not in _MAGIC2 and raw[344:348] in _MAGIC1:
        raise FormatError(
            f"{hdr_loc}: NIfTI field sizeof_hdr = 540 says NIfTI-2, but the magic is "
            f"{bytes(raw[344:348])!r} at byte 344, where a NIfTI-1 header has it (a NIfTI-2 "
            "header has it at byte 4): sizeof_hdr is damaged; set it to 348 (nibabel repairs it "
            "so on load)"
        )
    dim_at, dim_type = (slice(16, 24), "i8") if nifti2 else (slice(40, 42), "i2")
    dim0 = int(np.frombuffer(raw[dim_at], dtype=order + dim_type)[0])
    if nifti2:
        code = int(np.frombuffer(raw[12:14], dtype=order + "i2")[0])
        vox = float(np.frombuffer(raw[168:176], dtype=order + "i8")[0])
        magic = bytes(raw[4:8])
    else:
        code = int(np.frombuffer(raw[70:72], dtype=order + "i2")[0])
        vox = float(np.frombuffer(raw[108:112], dtype=order + "f4")[0])
        magic = bytes(raw[344:348])
    if not 1 <= dim0 <= 7:
        other = ">" if order == "<" else "<"
        swapped = int(np.frombuffer(raw[dim_at], dtype=other + dim_type)[0])
        if 1 <= swapped <= 7:
            # nibabel takes the byte order from dim[0] and repairs sizeof_hdr; lazyvol refuses a
            # damaged sizeof_hdr (as 540 over a NIfTI-1 header, above), naming it.
            size, names = (540 if nifti2 else 348), {"<": "little", ">": "big"}
            raise FormatError(
                f"{hdr_loc}: {label} sizeof_hdr = {size} is stored {names[order]}-endian, but "
                f"dim[0] = {swapped} is {names[other]}-endian ({dim0} read {names[order]}-endian):"
                f" sizeof_hdr is damaged; set it to {size} {names[other]}-endian (nibabel takes "
                "the byte order from dim[0] and repairs sizeof_hdr so on load)"
            )
        raise FormatError(
            f"{hdr_loc}: {label} dim[0] = {dim0} is outside 1..7; the header is corrupt"
        )
    if single and magic != (b"n+2\0" if nifti2 else b"n+1\0"):  # n+2 in a 348-byte header too
        want = "b'n+2\\x00'" if nifti2 else "b'n+1\\x00'"
        pair = magic in (b"ni1\0", b"ni2\0")
        raise FormatError(
            f"{hdr_loc}: NIfTI field magic = {magic!r} (expected {want} for a single-file "
            "NIfTI image): "
            + (
                "the header of a two-file pair, whose data are in a separate .img: name it "
                "x.hdr beside its x.img"
                if pair
                else "the header is corrupt or the file is not NIfTI"
            )
        )
    if magic[:3] in (b"n+1", b"ni1", b"n+2", b"ni2") and code not in DATA_TYPES:
        raise FormatError(
            f"{hdr_loc}: NIfTI field datatype = {code} is not a known NIfTI data type code; "
            "the header is corrupt"
        )
    min_vox = (540 if nifti2 else 348) if single else 0
    if single and not (math.isfinite(vox) and (vox == 0 or vox >= min_vox)):
        raise vox_offset_error(hdr_loc, vox, nifti2)
    return nifti2, vox


def _is_nifti_magic(raw: bytes, nifti2: bool) -> bool:
    """True when the header is NIfTI (parsed here); False for Analyze (parsed by nibabel)."""
    if nifti2:
        return True  # a NIfTI-2 header with a bad magic is refused by the parser, as nibabel does
    return bytes(raw[344:348]) in (b"n+1\0", b"ni1\0")


def _sidecar(hdr_loc: Location, kind: str) -> bytes:
    """The bytes of an optional sidecar file of a pair (SPM's ``.mat``), empty if absent.

    Named as nibabel names it: the header's name with ``.hdr`` replaced by ``.<kind>``, its
    compression suffix kept (``x.hdr.gz`` -> ``x.mat.gz``, inflated here). Absent: no such file,
    or access refused (as nibabel passes over a ``.mat`` it cannot open; S3 answers 403 for a
    missing key where listing is denied).

    Raises
    ------
    FormatError
        The sidecar holds more than :data:`MAX_SIDECAR_BYTES` (uncompressed), or its gzip
        stream is corrupt or cut short.
    """
    gz = is_gzip_name(hdr_loc)
    try:
        loc = sidecar_location(hdr_loc, kind)
        if loc is None:
            return b""
        stamp = _io.stamp(loc)
    except (SourceNotFoundError, RemoteAccessError, UnsupportedError):
        if gz:
            _warn_plain_sidecar(hdr_loc, kind)
        return b""
    if gz:  # inflated up to one byte past the limit, whatever the stream holds
        data = read_head(loc, MAX_SIDECAR_BYTES + 1, stamp) if stamp.size else b""
        too_big = len(data) > MAX_SIDECAR_BYTES
    else:
        too_big = stamp.size > MAX_SIDECAR_BYTES
        data = b"" if too_big else _io.read(loc, 0, stamp.size, expect=stamp)
    if too_big:
        raise FormatError(
            f"{loc}: the .{kind} sidecar of an Analyze pair holds more than "
            f"{MAX_SIDECAR_BYTES} bytes (SPM's affine takes a few hundred): it is not SPM's "
            f".{kind}; remove or rename it to open the image with its header's affine"
        )
    return data


def _warn_plain_sidecar(hdr_loc: Location, kind: str) -> None:
    """Warn when a gzipped pair (``x.hdr.gz``) has an uncompressed ``x.<kind>`` beside it (a pair
    gzipped after SPM wrote it): nibabel reads only ``x.<kind>.gz`` there, and so does lazyvol,
    so the affine is the header's, not the one SPM saved."""
    try:
        plain = swap_suffix(hdr_loc, ".hdr.gz", f".{kind}")
        _io.stamp(plain)
    except LazyvolError:
        return
    _warn_user(
        f"{plain.display} is not read: the pair is gzipped, and its .{kind} sidecar is looked "
        f"for as {plain.name}.gz (as nibabel does), so the affine is the header's, not the one "
        f"that .{kind} holds; gzip the .{kind} too (or gunzip the pair) to use it",
        RuntimeWarning,
    )


def load_image(
    loc: Location, stamp: SourceStamp | None = None
) -> tuple[ParsedHeader, Location, SourceStamp]:
    """Parse the header of ``loc``, reading only header bytes.

    NIfTI-1/2 headers are parsed with numpy (:mod:`lazyvol.nifti_fields`, nibabel's rules
    without importing it); Analyze headers (no NIfTI magic) by nibabel.

    ``stamp``: the stamp of ``loc`` when the caller has it (saves a request).

    Returns ``(header, data location, stamp of the header file)`` (the ``.hdr`` of a pair opened
    by its ``.img``: part of the source's identity).

    Raises
    ------
    SourceNotFoundError
        The header of an ``.img`` is missing.
    FormatError
        Not a NIfTI/Analyze header, or a corrupt one (named field).
    """
    hdr_loc = header_location(loc)
    try:
        head_stamp = stamp if (stamp is not None and hdr_loc == loc) else _io.stamp(hdr_loc)
    except SourceNotFoundError:
        if hdr_loc != loc:
            raise SourceNotFoundError(
                f"{loc}: its header {hdr_loc} is missing{near_miss(hdr_loc)}"
            ) from None
        raise
    size = head_stamp.size
    try:
        raw = read_head(hdr_loc, 548, head_stamp)
    except LazyvolError:
        raise  # a remote failure or a changed source says so itself
    except (OSError, EOFError) as exc:
        raise FormatError(f"{hdr_loc}: cannot read the header: {exc}") from exc
    single = is_single_file(loc)
    nifti2, vox = _precheck_raw_header(hdr_loc, raw, single)
    if single:
        # (past the cap: its first MAX_HEADER_BYTES if its extension flag is set: those kept)
        past = MAX_HEADER_BYTES if raw[540 if nifti2 else 348 :][:1] not in (b"", b"\0") else 0
        need = max(len(raw), int(vox) if vox <= MAX_HEADER_BYTES else past)
        whole = vox <= MAX_HEADER_BYTES
    else:
        # A pair's .hdr holds the header and extensions only: all of it.
        need = MAX_HEADER_BYTES if is_gzip_name(hdr_loc) else min(size, MAX_HEADER_BYTES)
    head = raw if need <= len(raw) else read_head(hdr_loc, need, head_stamp)
    if not single:
        whole = len(head) < MAX_HEADER_BYTES  # (a .hdr past the cap: its tail is not read)
    data_loc = loc if single else data_location(loc)
    if _is_nifti_magic(raw, nifti2):
        parsed = parse_nifti(head, str(loc), single=single, whole=whole)
        return parsed, data_loc, head_stamp
    mat = getattr(sidecar_location(hdr_loc, "mat"), "display", ".mat")
    side = functools.partial(_sidecar, hdr_loc)
    header = analyze_header(str(loc), head, side, single=single, mat=mat)
    return header, data_loc, head_stamp


def check_header(path: Any, hdr: ParsedHeader) -> None:
    """Refuse a header whose ``dim`` nibabel accepted but lazyvol cannot use."""
    dim = hdr.dim
    ndim = int(dim[0])
    label = field_label(hdr.format)
    if not 1 <= ndim <= 7:
        raise FormatError(f"{path}: {label} dim[0] = {ndim} is outside 1..7; the header is corrupt")
    # The shape as parsed: FreeSurfer's long vectors say dim = [3, -1, 1, 1] with the length in
    # glmin (nibabel writes them for any image of more than 32767 voxels).
    freesurfer = ndim >= 3 and dim[1:4].tolist() == [-1, 1, 1]  # (nibabel's rule)
    if hdr.format == "nifti1" and freesurfer and hdr.shape[0] < 1:
        raise FormatError(
            f"{path}: NIfTI field glmin = {hdr.shape[0]}: dim = {dim[: ndim + 1].tolist()} says a "
            "FreeSurfer-style long vector (dim[1] = -1), whose length is in glmin, but glmin is "
            "not a positive length; the header is corrupt"
        )
    if any(n < 1 for n in hdr.shape):
        raise FormatError(
            f"{path}: {label} dim = {dim[: ndim + 1].tolist()} has a dimension < 1; "
            "the header is corrupt"
        )


def checked_affine(path: str, hdr: ParsedHeader, meta: dict[str, Any]) -> np.ndarray:
    """The image's affine by nibabel's precedence, passing over a non-finite or singular transform.

    A NIfTI sform that is unusable (NaN/inf entries, all-zero rows) gives way to a usable qform
    (qform_code != 0), nibabel's next choice, with a warning and ``meta["affine_fallback"]``;
    ``meta["affine_source"]`` names the transform used. When no declared transform is usable the
    image is refused naming the fields: lazyvol never returns a non-finite or singular affine.
    Analyze images, and NIfTI with both codes 0, have only the pixdim-based affine.
    """
    rejected: list[str] = []
    for name, fields, get in hdr.candidates:
        try:
            with np.errstate(all="ignore"):
                affine = np.asarray(get(), dtype=np.float64)
            problem = affine_problem(affine)
        except Exception as exc:  # nibabel's HeaderDataError (e.g. qfac, negative pixdim)
            problem = f"cannot be computed ({exc})"
        if problem is None:
            meta["affine_source"] = name
            _note_pixdim_repair(path, hdr, name, meta)
            if name == "sform":
                _note_other_qform(hdr, affine, meta)
            if rejected:
                meta["affine_fallback"] = "; ".join(rejected) + f"; the {name} affine is used"
                _warn_user(
                    f"lazyvol: {path}: {meta['affine_fallback']} (nibabel's order of preference)",
                    RuntimeWarning,
                )
            return affine
        rejected.append(f"the {name} affine ({fields}) {problem}")
    raise FormatError(
        f"{path}: no usable affine: " + "; ".join(rejected) + ". The header's geometry is corrupt; "
        "lazyvol does not invent one (fix the header, e.g. with nibabel's set_sform/set_qform)"
    )


def _note_other_qform(hdr: ParsedHeader, affine: np.ndarray, meta: dict[str, Any]) -> None:
    """Record in ``meta`` (:data:`lazyvol.nifti_carry.QFORM_DIFFERS`) that the qform of a header
    whose affine is its sform holds another transform (or an unusable one): a NIfTI written from
    the volume then does not state the qform's code for the sform's transform."""
    for name, _, get in hdr.candidates:
        if name != "qform":
            continue
        try:
            with np.errstate(all="ignore"):
                same = same_transform(affine, np.asarray(get(), dtype=np.float64), hdr.shape)
        except Exception:  # nibabel's rules refuse the qform (qfac, negative pixdim)
            same = False
        if not same:
            meta[CARRIED_KEY] = {**meta.get(CARRIED_KEY, {}), QFORM_DIFFERS: True}


def _note_pixdim_repair(path: str, hdr: ParsedHeader, source: str, meta: dict[str, Any]) -> None:
    """Warn (and record ``meta["pixdim_repaired"]``) when the affine used rests on voxel sizes
    nibabel changes at load: a zero ``pixdim[1..3]`` read as 1, a negative one as its absolute
    value. The sform and an Analyze pair's SPM ``.mat`` do not use pixdim."""
    if source in ("sform", "mat"):
        return
    stored, used = hdr.pixdim_stored, hdr.pixdim_used
    if stored != used and all(math.isfinite(x) for x in stored):
        meta["pixdim_repaired"] = {"stored": stored, "used": used}
        _warn_user(
            f"lazyvol: {path}: {field_label(hdr.format)} pixdim[1:4] = {stored} holds zero or negative voxel "
            f"sizes; read as {used} (nibabel's repair, recorded in meta['pixdim_repaired']): the "
            f"{source} affine's voxel sizes are not from the file",
            RuntimeWarning,
        )


def _note_bitpix(path: str, hdr: ParsedHeader, disk_dtype: np.dtype, meta: dict[str, Any]) -> None:
    """Warn (and record ``meta["bitpix_mismatch"]``) when a NIfTI header's ``bitpix`` is not the
    size of a voxel of its ``datatype``: the header contradicts itself (a damaged ``datatype``
    reads the data as another type without a word when the file is long enough). The data are
    read as ``datatype`` says, as nibabel and niftilib read them; ``bitpix`` 0 (unset) is not
    noted."""
    bits = disk_dtype.itemsize * 8
    if hdr.bitpix is None or hdr.bitpix in (0, bits):
        return
    meta["bitpix_mismatch"] = {"bitpix": hdr.bitpix, "datatype_bits": bits}
    _warn_user(
        f"lazyvol: {path}: NIfTI field bitpix = {hdr.bitpix} disagrees with the datatype field "
        f"({disk_dtype.newbyteorder('=').name}, {bits} bits per voxel): the header contradicts "
        "itself; the data are read as datatype says (as nibabel and niftilib read them; recorded "
        "in meta['bitpix_mismatch']): if they look wrong, the datatype field is damaged",
        RuntimeWarning,
    )


def header_meta(
    hdr: ParsedHeader, loc: Location, disk_dtype: np.dtype, slope: float, inter: float, scale: bool
) -> dict[str, Any]:
    """``Volume.meta`` of a NIfTI/Analyze image (format, stored dtype, scaling, header fields)."""
    meta: dict[str, Any] = {
        "format": hdr.format,
        "path": loc.display if loc.is_remote else os.path.abspath(loc.url),
        "stored_dtype": disk_dtype.str,
        "vox_offset": int(hdr.offset),
        "scl_slope": slope,
        "scl_inter": inter,
        "scaled": bool(scale),
    }
    _note_bitpix(meta["path"], hdr, disk_dtype, meta)
    for key in (
        "descrip",
        "xyzt_units",
        "sform_code",
        "qform_code",
        "intent",
        "axis4_spacing",
        "nifti_fields",
    ):
        if key in hdr.fields:
            meta[key] = hdr.fields[key]
    return meta
