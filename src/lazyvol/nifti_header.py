"""NIfTI-1/2 and Analyze headers: read through the byte layer (a path or a URL alike), checked,
parsed by nibabel, and turned into the affine and ``Volume.meta``.

Only header bytes are read here: the first 548 (uncompressed) bytes for the raw checks that must
run before nibabel guesses the byte order, then the header with its extensions (up to
``vox_offset``, or the whole ``.hdr`` of a pair), handed to nibabel as an in-memory file. nibabel
never opens the source itself, so the same code serves local files, URLs and names that are not
valid UTF-8.
"""

from __future__ import annotations

import io
import math
import os
import warnings
import zlib
from typing import Any

import numpy as np

from . import _io
from ._location import Location
from .errors import FormatError, LazyvolError, SourceNotFoundError
from .geometry import affine_problem
from .sources import SourceStamp

__all__ = [
    "NIFTI_SUFFIXES",
    "check_header",
    "checked_affine",
    "data_location",
    "format_name",
    "gzip_isize",
    "header_location",
    "header_meta",
    "inflate",
    "is_nifti_path",
    "load_image",
    "raw_scaling",
    "read_head",
]

NIFTI_SUFFIXES = (".nii", ".nii.gz", ".hdr", ".img", ".hdr.gz", ".img.gz")
#: Most header bytes (header plus extensions) read to parse a header; a ``vox_offset`` beyond it
#: leaves the extensions unread (they carry nothing lazyvol uses).
MAX_HEADER_BYTES = 16 * 2**20
#: Compressed bytes fetched per read while inflating a header (one ranged request for a URL).
_HEAD_CHUNK = 64 * 2**10


def is_nifti_path(path: Any) -> bool:
    """True when the file name ends in a NIfTI/Analyze suffix."""
    return Location.of(path).name.lower().endswith(NIFTI_SUFFIXES)


def _swap_suffix(loc: Location, old: str, new: str) -> Location:
    """``loc`` with its name's suffix ``old`` (any case) replaced by ``new`` in the same case."""
    name = loc.name
    stem, suffix = name[: -len(old)], name[-len(old) :]
    repl = new.upper() if suffix.isupper() else new
    if loc.is_remote:
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(loc.url)
        path = parts.path[: len(parts.path) - len(name)] + stem + repl
        return Location(urlunsplit(parts._replace(path=path)), loc.options)
    return Location(loc.url[: len(loc.url) - len(name)] + stem + repl)


def header_location(loc: Location) -> Location:
    """The file holding the header of ``loc`` (the ``.hdr`` of an Analyze/NIfTI-pair ``.img``)."""
    low = loc.name.lower()
    if low.endswith(".img.gz"):
        return _swap_suffix(loc, ".img.gz", ".hdr.gz")
    if low.endswith(".img"):
        return _swap_suffix(loc, ".img", ".hdr")
    return loc


def data_location(loc: Location) -> Location:
    """The file holding the image data of ``loc`` (the ``.img`` of a pair's ``.hdr``)."""
    low = loc.name.lower()
    if low.endswith(".hdr.gz"):
        return _swap_suffix(loc, ".hdr.gz", ".img.gz")
    if low.endswith(".hdr"):
        return _swap_suffix(loc, ".hdr", ".img")
    return loc


def is_gzip_name(loc: Location) -> bool:
    """True for a ``.gz`` name."""
    return loc.name.lower().endswith(".gz")


def inflate(
    loc: Location, size: int, need: int, *, keep: bool, chunk: int = _HEAD_CHUNK
) -> bytes | int:
    """The first ``need`` uncompressed bytes of the gzip file ``loc`` (``keep=True``), or how many
    it holds, counted up to ``need`` (``keep=False``), streaming in bounded memory.

    Every member in turn, as gzip and nibabel read them; trailing bytes after the last member are
    ignored. Compressed bytes come through the byte layer, ``chunk`` at a time.

    Raises
    ------
    FormatError
        The stream is corrupt (the message gives how far it got).
    """
    got = 0
    parts: list[bytes] = []
    d = zlib.decompressobj(31)
    pos = 0
    pending = b""
    step = min(chunk, 4096)
    while got < need:
        data = pending
        pending = b""
        if not data:
            if pos >= size:
                break
            data = _io.read(loc, pos, min(step, size - pos))
            pos += len(data)
            step = min(chunk, step * 2)  # small first (a header), growing for a long stream
        try:
            out = d.decompress(data, max(1, min(need - got, 2**24)) if keep else 2**24)
            while True:
                got += len(out)
                if keep:
                    parts.append(out)
                if not d.unconsumed_tail or got >= need:
                    break
                out = d.decompress(
                    d.unconsumed_tail, max(1, min(need - got, 2**24)) if keep else 2**24
                )
        except zlib.error as exc:
            raise FormatError(
                f"{loc}: the gzip stream is corrupt after {got} uncompressed bytes: {exc}"
            ) from exc
        if d.eof:
            rest = d.unused_data
            if not rest and pos < size:
                rest = _io.read(loc, pos, min(2, size - pos))
                pos += len(rest)
            if rest[:2] != b"\x1f\x8b":
                break  # trailing bytes after the last member are ignored, as gzip does
            pending = rest
            d = zlib.decompressobj(31)
    if keep:
        return b"".join(parts)[:need]
    return got


def read_head(loc: Location, n: int, size: int | None = None) -> bytes:
    """The first ``n`` (uncompressed) bytes of a header file, ``.gz`` or not (fewer when it is
    shorter): one read, or a short inflate of the stream's start."""
    if size is None:
        size = _io.stamp(loc).size
    if is_gzip_name(loc):
        out = inflate(loc, size, n, keep=True)
        assert isinstance(out, bytes)
        return out
    return _io.read(loc, 0, min(n, size))


def gzip_isize(loc: Location, size: int) -> int | None:
    """Uncompressed size modulo 2**32 from a single-member gzip trailer, None if unknowable.

    In a file of several members, the trailer gives the last member's size only."""
    head = _io.read(loc, 0, min(18, size))
    if len(head) < 18 or head[:2] != b"\x1f\x8b":
        raise FormatError(f"{loc}: not a gzip file (bad magic bytes); is it really .gz?")
    if head[3] & 0x04:  # FEXTRA: BGZF and other multi-member writers; the trailer is per member
        return None
    return int.from_bytes(_io.read(loc, size - 4, 4), "little")


def _precheck_raw_header(hdr_loc: Location, raw: bytes, single: bool) -> tuple[bool, float]:
    """Check sizeof_hdr, dim[0], magic, datatype and vox_offset in the raw bytes, before nibabel
    guesses the byte order from them. Returns ``(nifti2, vox_offset)``."""
    import nibabel as nib

    if len(raw) < 348:
        raise FormatError(f"{hdr_loc}: {len(raw)} bytes is too short for a NIfTI/Analyze header")
    nifti2 = False
    for order in "<>":
        sizeof_hdr = int(np.frombuffer(raw[:4], dtype=order + "i4")[0])
        if sizeof_hdr == 348:
            dim0 = int(np.frombuffer(raw[40:42], dtype=order + "i2")[0])
            code = int(np.frombuffer(raw[70:72], dtype=order + "i2")[0])
            vox = float(np.frombuffer(raw[108:112], dtype=order + "f4")[0])
            magic = bytes(raw[344:348])
            break
        if sizeof_hdr == 540 and len(raw) >= 548:
            nifti2 = True
            dim0 = int(np.frombuffer(raw[16:24], dtype=order + "i8")[0])
            code = int(np.frombuffer(raw[12:14], dtype=order + "i2")[0])
            vox = float(np.frombuffer(raw[168:176], dtype=order + "i8")[0])
            magic = bytes(raw[4:8])
            break
    else:
        value = int(np.frombuffer(raw[:4], dtype="<i4")[0])
        raise FormatError(
            f"{hdr_loc}: NIfTI field sizeof_hdr = {value} (expected 348 for NIfTI-1/Analyze or 540 "
            "for NIfTI-2): not a NIfTI/Analyze header"
        )
    if not 1 <= dim0 <= 7:
        raise FormatError(
            f"{hdr_loc}: NIfTI field dim[0] = {dim0} is outside 1..7; the header is corrupt"
        )
    if single and magic not in (b"n+1\0", b"n+2\0"):
        want = "b'n+2\\x00'" if nifti2 else "b'n+1\\x00'"
        raise FormatError(
            f"{hdr_loc}: NIfTI field magic = {magic!r} (expected {want} for a single-file "
            "NIfTI image): the header is corrupt or the file is not NIfTI"
        )
    if (
        magic[:3] in (b"n+1", b"ni1", b"n+2", b"ni2")
        and code not in nib.nifti1.data_type_codes.code
    ):
        raise FormatError(
            f"{hdr_loc}: NIfTI field datatype = {code} is not a known NIfTI data type code; "
            "the header is corrupt"
        )
    min_vox = (540 if nifti2 else 348) if single else 0
    if single and not (math.isfinite(vox) and (vox == 0 or vox >= min_vox)):
        raise FormatError(
            f"{hdr_loc}: NIfTI field vox_offset = {vox:g} points inside the header (minimum "
            f"{min_vox}); the header is corrupt"
        )
    return nifti2, vox


def _image_class(raw: bytes, nifti2: bool, pair: bool) -> Any:
    """nibabel's image class for the header bytes ``raw`` (as ``nibabel.load`` would pick)."""
    import nibabel as nib

    magic = raw[344:348] if len(raw) >= 348 else b""
    if nifti2:
        return nib.Nifti2Pair if pair else nib.Nifti2Image
    if magic in (b"n+1\0", b"ni1\0"):
        return nib.Nifti1Pair if pair else nib.Nifti1Image
    return nib.Spm2AnalyzeImage


def _sidecar(hdr_loc: Location, _name: str, kind: str) -> bytes:
    """The bytes of an optional sidecar file of a pair (e.g. SPM's ``.mat``), empty if absent."""
    stem = hdr_loc.name[: -len(".hdr.gz")] if hdr_loc.name.lower().endswith(".gz") else None
    old = ".hdr.gz" if stem is not None else ".hdr"
    if not hdr_loc.name.lower().endswith(old):
        return b""
    loc = _swap_suffix(hdr_loc, old, "." + kind)
    try:
        size = _io.stamp(loc).size
        return _io.read(loc, 0, min(size, MAX_HEADER_BYTES))
    except (LazyvolError, OSError):
        return b""


def load_image(loc: Location, stamp: SourceStamp | None = None) -> tuple[Any, Location, int]:
    """Parse the header of ``loc`` with nibabel, reading only header bytes.

    ``stamp``: the stamp of ``loc`` when the caller has it (saves a request).

    Returns ``(image, data location, header file size)``: nibabel's image over an in-memory copy
    of the header (its ``dataobj`` gives offset, dtype and scaling; its data are never read), and
    where the image data are.

    Raises
    ------
    SourceNotFoundError
        The header of an ``.img`` is missing.
    FormatError
        Not a NIfTI/Analyze header, or a corrupt one (named field).
    """
    hdr_loc = header_location(loc)
    try:
        size = stamp.size if (stamp is not None and hdr_loc == loc) else _io.stamp(hdr_loc).size
    except SourceNotFoundError:
        if hdr_loc != loc:
            raise SourceNotFoundError(f"{loc}: its header {hdr_loc} is missing") from None
        raise
    try:
        raw = read_head(hdr_loc, 548, size)
    except (OSError, EOFError) as exc:
        raise FormatError(f"{hdr_loc}: cannot read the header: {exc}") from exc
    except FormatError as exc:
        if "gzip" not in str(exc):
            raise
        raise FormatError(f"{hdr_loc}: cannot read the header: {exc}") from exc
    low = loc.name.lower()
    single = low.endswith((".nii", ".nii.gz"))
    nifti2, vox = _precheck_raw_header(hdr_loc, raw, single)
    if single:
        need = max(len(raw), int(vox)) if vox <= MAX_HEADER_BYTES else len(raw)
    else:
        # A pair's .hdr holds the header and extensions only: all of it.
        need = MAX_HEADER_BYTES if is_gzip_name(hdr_loc) else min(size, MAX_HEADER_BYTES)
    head = raw if need <= len(raw) else read_head(hdr_loc, need, size)
    klass = _image_class(raw, nifti2, pair=not single)
    fmap = klass.make_file_map()
    if single:
        fmap["image"].fileobj = io.BytesIO(head)
    else:
        fmap["header"].fileobj = io.BytesIO(head)
        fmap["image"].fileobj = io.BytesIO(b"")
    for kind, holder in fmap.items():
        if kind not in ("image", "header"):  # SPM's .mat beside an Analyze pair (its affine)
            holder.fileobj = io.BytesIO(_sidecar(hdr_loc, holder.filename or "", kind))
    img = klass.from_file_map(fmap)
    img.header  # noqa: B018 - parsed now
    img._lazyvol_head = head  # the stored bytes, for the raw fields nibabel repairs at load
    return img, (loc if single else data_location(loc)), size


def check_header(path: Any, hdr: Any) -> None:
    """Refuse a header whose ``dim`` nibabel accepted but lazyvol cannot use."""
    dim = np.asarray(hdr["dim"]).astype(np.int64)
    ndim = int(dim[0])
    if not 1 <= ndim <= 7:
        raise FormatError(
            f"{path}: NIfTI field dim[0] = {ndim} is outside 1..7; the header is corrupt"
        )
    sizes = dim[1 : ndim + 1]
    if (sizes < 1).any():
        raise FormatError(
            f"{path}: NIfTI field dim = {dim[: ndim + 1].tolist()} has a dimension < 1; "
            "the header is corrupt"
        )


def _affine_candidates(hdr: Any) -> list[tuple[str, str, Any]]:
    """(name, fields, getter) of the transforms a NIfTI header offers, in nibabel's order of
    preference (``get_best_affine``): sform when sform_code != 0, qform when qform_code != 0; the base
    affine from pixdim (the NIfTI "method 1") only when neither code is set (it has no orientation
    and a made-up origin: falling back to it from a declared transform would invent geometry)."""

    def fmt(v: Any) -> str:
        return "[" + ", ".join(f"{float(x):g}" for x in np.asarray(v).ravel()) + "]"

    s_code, q_code = int(hdr["sform_code"]), int(hdr["qform_code"])
    out = []
    if s_code != 0:  # nibabel's test (a negative code is junk, but nibabel uses the sform)
        rows = ", ".join(f"{k} = {fmt(hdr[k])}" for k in ("srow_x", "srow_y", "srow_z"))
        out.append(("sform", f"sform_code {s_code}, {rows}", hdr.get_sform))
    if q_code != 0:
        quat = ", ".join(
            f"{k} = {float(hdr[k]):g}" for k in ("quatern_b", "quatern_c", "quatern_d")
        )
        offs = fmt([hdr[k] for k in ("qoffset_x", "qoffset_y", "qoffset_z")])
        out.append(
            (
                "qform",
                f"qform_code {q_code}, {quat}, qoffset = {offs}, pixdim[0:4] = {fmt(hdr['pixdim'][:4])}",
                hdr.get_qform,
            )
        )
    if not out:
        out.append(("base", f"pixdim[1:4] = {fmt(hdr['pixdim'][1:4])}", hdr.get_base_affine))
    return out


def checked_affine(path: str, img: Any, meta: dict[str, Any]) -> np.ndarray:
    """The image's affine by nibabel's precedence, passing over a non-finite or singular transform.

    A NIfTI sform that is unusable (NaN/inf entries, all-zero rows) gives way to a usable qform
    (qform_code != 0), nibabel's next choice, with a warning and ``meta["affine_fallback"]``;
    ``meta["affine_source"]`` names the transform used. When no declared transform is usable the
    image is refused naming the fields: lazyvol never returns a non-finite or singular affine.
    Analyze images, and NIfTI with both codes 0, have only the pixdim-based affine.
    """
    import nibabel as nib

    hdr = img.header
    if isinstance(hdr, nib.Nifti1Header):
        candidates = _affine_candidates(hdr)
    else:
        pixdim = ", ".join(f"{float(x):g}" for x in hdr["pixdim"][1:4])
        candidates = [("base", f"pixdim[1:4] = [{pixdim}]", lambda: img.affine)]
    rejected: list[str] = []
    for name, fields, get in candidates:
        try:
            with np.errstate(all="ignore"):
                affine = np.asarray(get(), dtype=np.float64)
            problem = affine_problem(affine)
        except Exception as exc:  # nibabel's HeaderDataError (e.g. qfac, negative pixdim)
            problem = f"cannot be computed ({exc})"
        if problem is None:
            meta["affine_source"] = name
            _note_pixdim_repair(path, img, name, meta)
            if rejected:
                meta["affine_fallback"] = "; ".join(rejected) + f"; the {name} affine is used"
                warnings.warn(
                    f"lazyvol: {path}: {meta['affine_fallback']} (nibabel's order of preference)",
                    RuntimeWarning,
                    stacklevel=3,
                )
            return affine
        rejected.append(f"the {name} affine ({fields}) {problem}")
    raise FormatError(
        f"{path}: no usable affine: " + "; ".join(rejected) + ". The header's geometry is corrupt; "
        "lazyvol does not invent one (fix the header, e.g. with nibabel's set_sform/set_qform)"
    )


def _raw_header(img: Any) -> Any:
    """The header exactly as stored, before nibabel's load-time fixes (None if unreadable)."""
    hdr = img.header
    block = getattr(img, "_lazyvol_head", b"")
    try:
        return type(hdr)(block[: hdr.sizeof_hdr], endianness=hdr.endianness, check=False)
    except Exception:  # the checked header was read already; callers fall back to it
        return None


def raw_scaling(img: Any) -> tuple[float, float]:
    """scl_slope/scl_inter exactly as stored: nibabel's load-time checks turn an infinite slope
    into NaN, which would then silently mean "no scaling"."""
    import nibabel as nib

    hdr = img.header
    if not isinstance(hdr, nib.Nifti1Header):  # Nifti2Header subclasses Nifti1Header
        return 1.0, 0.0
    raw = _raw_header(img)
    if raw is None:
        return float(hdr["scl_slope"]), float(hdr["scl_inter"])
    return float(raw["scl_slope"]), float(raw["scl_inter"])


def _note_pixdim_repair(path: str, img: Any, source: str, meta: dict[str, Any]) -> None:
    """Warn (and record ``meta["pixdim_repaired"]``) when the affine used rests on voxel sizes
    nibabel changed at load: a zero ``pixdim[1..3]`` read as 1, a negative one as its absolute
    value. The sform does not use pixdim."""
    if source == "sform":
        return
    raw = _raw_header(img)
    if raw is None:
        return
    stored = [float(x) for x in raw["pixdim"][1:4]]
    used = [float(x) for x in img.header["pixdim"][1:4]]
    if stored != used and all(math.isfinite(x) for x in stored):
        meta["pixdim_repaired"] = {"stored": stored, "used": used}
        warnings.warn(
            f"lazyvol: {path}: NIfTI field pixdim[1:4] = {stored} holds zero or negative voxel "
            f"sizes; read as {used} (nibabel's repair, recorded in meta['pixdim_repaired']): the "
            f"{source} affine's voxel sizes are not from the file",
            RuntimeWarning,
            stacklevel=4,
        )


def format_name(img: Any) -> str:
    """``"nifti1"``, ``"nifti2"`` or ``"analyze"``."""
    import nibabel as nib

    if isinstance(img, nib.Nifti2Image | nib.Nifti2Pair):
        return "nifti2"
    if isinstance(img, nib.Nifti1Image | nib.Nifti1Pair):
        return "nifti1"
    return "analyze"


def header_meta(
    img: Any, loc: Location, disk_dtype: np.dtype, slope: float, inter: float, scale: bool
) -> dict[str, Any]:
    """``Volume.meta`` of a NIfTI/Analyze image (format, stored dtype, scaling, header fields)."""
    hdr = img.header
    meta: dict[str, Any] = {
        "format": format_name(img),
        "path": loc.display if loc.is_remote else os.path.abspath(loc.url),
        "stored_dtype": disk_dtype.str,
        "vox_offset": int(img.dataobj.offset),
        "scl_slope": slope,
        "scl_inter": inter,
        "scaled": bool(scale),
    }
    try:
        descrip = bytes(hdr["descrip"]).split(b"\0")[0].decode("latin-1").strip()
        if descrip:
            meta["descrip"] = descrip
    except (KeyError, ValueError):
        pass
    if meta["format"] != "analyze":
        # Fields lazyvol does not need: junk there is tolerated and recorded as the raw code.
        try:
            meta["xyzt_units"] = list(hdr.get_xyzt_units())
        except (KeyError, ValueError):
            meta["xyzt_units"] = int(hdr["xyzt_units"])
        meta["sform_code"] = int(hdr["sform_code"])
        meta["qform_code"] = int(hdr["qform_code"])
        try:
            meta["intent"] = str(hdr.get_intent()[0])
        except (KeyError, ValueError, TypeError):
            meta["intent"] = int(hdr["intent_code"])
    try:
        zooms = hdr.get_zooms()
    except Exception:  # nibabel refuses odd pixdim values; the affine is what lazyvol uses
        zooms = ()
    if len(zooms) > 3 and np.isfinite(zooms[3]):
        meta["axis4_spacing"] = float(zooms[3])
    return meta
