"""NIfTI-1/2 and Analyze reader: nibabel's header and affine, pixel bytes read inside dask tasks.

Uncompressed files are read straight from their byte offset (a read-only view of a memory map of
exactly the block's bytes, or of the whole image for other chunk shapes). ``.gz`` files go through
:mod:`lazyvol.gzaccess` (rapidgzip, else indexed_gzip): one shared handle per file and process while
no seek index exists (so a full pass inflates the file once, on several threads with rapidgzip),
and, once the index has been saved to the cache directory, one handle per thread that imports it
(so slabs anywhere in the file cost a seek plus a short inflate, in parallel).
"""

from __future__ import annotations

import builtins
import gzip
import math
import mmap
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import gzaccess
from .chunking import PlanArray, file_fingerprint, normalize_chunks, plan_array
from .config import max_volume_bytes
from .errors import FormatError, ResourceLimitError, SourceChangedError, SourceNotFoundError
from .geometry import affine_problem
from .scaling import apply_scale, scaled_dtype
from .sources import SourceStamp, display_path, stat_regular
from .volume import Volume

__all__ = ["NiftiPlan", "build_gzip_index", "clear_gzip_handles", "open_nifti", "read_block"]

NIFTI_SUFFIXES = (".nii", ".nii.gz", ".hdr", ".img", ".hdr.gz", ".img.gz")
GZ_SPACING = gzaccess.GZ_SPACING
GZ_MAX_POINTS = gzaccess.GZ_MAX_POINTS
gz_spacing = gzaccess.gz_spacing


#: deflate cannot compress better than about 1032:1; a header claiming more data than that is lying.
_MAX_DEFLATE_RATIO = 1032


@dataclass(frozen=True)
class NiftiPlan:
    """Everything a task needs to read a block: small, picklable, no open handles."""

    path: str
    offset: int
    shape: tuple[int, ...]
    disk_dtype: np.dtype
    slope: float
    inter: float
    out_dtype: np.dtype
    compressed: bool
    size: int
    mtime_ns: int
    ino: int = 0
    ctime_ns: int = 0

    def sequential_reads(self) -> bool:
        """Blocks are best read in file order: a gzip stream whose seek index is not saved yet
        (see :func:`lazyvol.chunking.sequential_reads`)."""
        return self.compressed and not gzaccess.index_path(self.gz_source()).exists()

    def gz_source(self) -> gzaccess.GzSource:
        """The gzip source this plan reads, as it was when opened."""
        data_end = (
            self.offset
            + int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.disk_dtype).itemsize
        )
        return gzaccess.GzSource(
            self.path, self.size, self.mtime_ns, self.ino, self.ctime_ns, data_end
        )


def is_nifti_path(path: str | os.PathLike[str]) -> bool:
    """True when the file name ends in a NIfTI/Analyze suffix."""
    name = os.fspath(path).lower()
    return name.endswith(NIFTI_SUFFIXES)


def _image_file(img: Any) -> str:
    fm = img.file_map
    key = "image" if "image" in fm else next(iter(fm))
    return str(fm[key].filename)


def _check_header(path: str, hdr: Any) -> None:
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


def _read_head(path: str, n: int) -> bytes:
    """First ``n`` (uncompressed) bytes of a header file, ``.gz`` or not.

    Python's own file and gzip objects take any file name (nibabel hands ``.gz`` names to
    indexed_gzip, which crashes on names that are not valid UTF-8).
    """
    with builtins.open(path, "rb", buffering=0) as raw:
        if path.lower().endswith(".gz"):
            with gzip.GzipFile(fileobj=raw) as gz:
                return gz.read(n)
        return raw.read(n)


def _utf8_name(path: str) -> bool:
    """True when ``path`` is valid UTF-8 (a name with undecodable bytes holds lone surrogates)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _load_image(path: str) -> Any:
    """``nibabel.load(path)``; for a name that is not valid UTF-8, the same image read through
    Python file objects (indexed_gzip, which nibabel uses for ``.gz``, crashes on such names)."""
    import nibabel as nib

    if _utf8_name(path):
        return nib.load(path)
    low = path.lower()
    pair = low.endswith((".hdr", ".img", ".hdr.gz", ".img.gz"))
    head = _read_head(_header_path(path), 548)
    magic = head[344:348] if len(head) >= 348 else b""
    if head[:4] in (b"\x1c\x02\x00\x00", b"\x00\x00\x02\x1c"):
        klass: Any = nib.Nifti2Pair if pair else nib.Nifti2Image
    elif magic in (b"n+1\0", b"ni1\0"):
        klass = nib.Nifti1Pair if pair else nib.Nifti1Image
    else:
        klass = nib.Spm2AnalyzeImage
    fmap = klass.filespec_to_file_map(path)
    opened: list[Any] = []
    try:
        for holder in fmap.values():
            name = str(holder.filename)
            stat_regular(name, what="image file")
            fobj: Any = builtins.open(name, "rb")
            opened.append(fobj)
            if name.lower().endswith(".gz"):
                fobj = gzip.GzipFile(fileobj=fobj)
                opened.append(fobj)
            holder.fileobj = fobj
        img = klass.from_file_map(fmap)
        img.header  # noqa: B018 - parsed now, before the files close
    finally:
        for f in reversed(opened):
            f.close()
    return img


def _header_path(path: str) -> str:
    """The file holding the header of ``path`` (the ``.hdr`` of an Analyze/NIfTI pair)."""
    low = path.lower()
    if low.endswith(".img.gz"):
        return path[: -len(".img.gz")] + ".hdr.gz"
    if low.endswith(".img"):
        return path[:-4] + ".hdr"
    return path


def _precheck_raw_header(path: str) -> None:
    """Check sizeof_hdr and dim[0] in the raw bytes, before nibabel guesses the byte order from them."""
    import nibabel as nib

    hdr_path = path
    low = path.lower()
    if low.endswith((".img", ".img.gz")):
        hdr_path = (
            path[: -len(".img.gz")] + ".hdr.gz" if low.endswith(".gz") else path[:-4] + ".hdr"
        )
        if not os.path.exists(hdr_path):
            raise SourceNotFoundError(f"{path}: its header {hdr_path} is missing")
    stat_regular(hdr_path, what="header file")
    try:
        raw = _read_head(hdr_path, 548)
    except (OSError, EOFError, zlib.error) as exc:
        raise FormatError(f"{hdr_path}: cannot read the header: {exc}") from exc
    if len(raw) < 348:
        raise FormatError(f"{hdr_path}: {len(raw)} bytes is too short for a NIfTI/Analyze header")
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
            f"{hdr_path}: NIfTI field sizeof_hdr = {value} (expected 348 for NIfTI-1/Analyze or 540 "
            "for NIfTI-2): not a NIfTI/Analyze header"
        )
    if not 1 <= dim0 <= 7:
        raise FormatError(
            f"{hdr_path}: NIfTI field dim[0] = {dim0} is outside 1..7; the header is corrupt"
        )
    single = low.endswith((".nii", ".nii.gz"))
    if single and magic not in (b"n+1\0", b"n+2\0"):
        want = "b'n+2\\x00'" if nifti2 else "b'n+1\\x00'"
        raise FormatError(
            f"{hdr_path}: NIfTI field magic = {magic!r} (expected {want} for a single-file "
            "NIfTI image): the header is corrupt or the file is not NIfTI"
        )
    if (
        magic[:3] in (b"n+1", b"ni1", b"n+2", b"ni2")
        and code not in nib.nifti1.data_type_codes.code
    ):
        raise FormatError(
            f"{hdr_path}: NIfTI field datatype = {code} is not a known NIfTI data type code; "
            "the header is corrupt"
        )
    min_vox = (540 if nifti2 else 348) if single else 0
    if single and not (math.isfinite(vox) and (vox == 0 or vox >= min_vox)):
        raise FormatError(
            f"{hdr_path}: NIfTI field vox_offset = {vox:g} points inside the header (minimum "
            f"{min_vox}); the header is corrupt"
        )


def _gzip_inflated_size(path: str, need: int) -> int:
    """Uncompressed bytes the gzip file holds, counted up to ``need`` (streaming, bounded memory):
    every member in turn, as gzip and nibabel read them. Raises FormatError on a corrupt stream."""
    got = 0
    d = zlib.decompressobj(31)
    with open(path, "rb") as f:
        pending = b""
        while got < need:
            data = pending or f.read(2**20)
            pending = b""
            if not data:
                break
            try:
                got += len(d.decompress(data, 2**24))
                while d.unconsumed_tail and got < need:
                    got += len(d.decompress(d.unconsumed_tail, 2**24))
            except zlib.error as exc:
                raise FormatError(
                    f"{path}: the gzip stream is corrupt after {got} uncompressed bytes: {exc}"
                ) from exc
            if d.eof:
                rest = d.unused_data
                if not rest:
                    rest = f.read(2)
                    f.seek(-len(rest), os.SEEK_CUR)
                if rest[:2] != b"\x1f\x8b":
                    break  # trailing bytes after the last member are ignored, as gzip does
                pending = d.unused_data
                d = zlib.decompressobj(31)
    return got


def _gzip_isize(path: str) -> int | None:
    """Uncompressed size modulo 2**32 from a single-member gzip trailer, None if unknowable.

    In a file of several members, the trailer gives the last member's size only."""
    with open(path, "rb") as f:
        head = f.read(18)
        if len(head) < 18 or head[:2] != b"\x1f\x8b":
            raise FormatError(f"{path}: not a gzip file (bad magic bytes); is it really .gz?")
        flags = head[3]
        if flags & 0x04:  # FEXTRA: BGZF and other multi-member writers; the trailer is per member
            return None
        f.seek(-4, os.SEEK_END)
        return int(struct.unpack("<I", f.read(4))[0])


def open_nifti(
    path: str | os.PathLike[str],
    *,
    chunks: Any = "auto",
    scale: bool = True,
    dtype: Any = None,
) -> Volume:
    """Open a NIfTI-1/2 or Analyze image lazily.

    Parameters
    ----------
    path : str or path-like
        ``.nii``, ``.nii.gz``, ``.hdr``/``.img`` (optionally gzipped).
    chunks : "auto" or dask chunk spec
        ``"auto"``: whole planes in slabs along the last spatial axis, one time point at a time,
        sized to :func:`lazyvol.config.chunk_budget`.
    scale : bool
        Apply ``scl_slope``/``scl_inter`` (dtype rule in :mod:`lazyvol.scaling`); ``False`` gives
        stored values.
    dtype : dtype, optional
        Force the output dtype (e.g. ``float64``).

    Returns
    -------
    Volume

    Raises
    ------
    SourceNotFoundError
        ``path`` (or the ``.img`` of an ``.hdr``) does not exist.
    FormatError
        Not a NIfTI/Analyze file, a corrupt header, or a file shorter than its header says.
    ResourceLimitError
        The header claims more data than the limits or the file can hold.
    """
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    path = os.fspath(path)
    if not os.path.exists(path):
        raise SourceNotFoundError(f"{path}: no such file")
    _precheck_raw_header(path)
    stat_regular(path, what="NIfTI file")
    try:
        img = _load_image(path)
    except FileNotFoundError as exc:
        raise SourceNotFoundError(
            f"{path}: a file it needs is missing ({exc.filename or exc}); an Analyze .hdr needs its .img"
        ) from exc
    except (ImageFileError, ValueError, EOFError, OSError, struct.error) as exc:
        raise FormatError(f"{path}: not a readable NIfTI/Analyze image: {exc}") from exc
    except MemoryError:
        raise
    except Exception as exc:  # nibabel's HeaderDataError and friends do not subclass ValueError
        text = str(exc)
        field = (
            "scl_slope/scl_inter"
            if ("slope" in text or "intercept" in text)
            else ("vox_offset" if "offset" in text else "")
        )
        named = f" (NIfTI field {field})" if field else ""
        raise FormatError(f"{path}: invalid NIfTI/Analyze header{named}: {exc}") from exc
    if not isinstance(img, nib.analyze.AnalyzeImage):
        raise FormatError(f"{path}: {type(img).__name__} is not a NIfTI/Analyze image")
    hdr = img.header
    _check_header(path, hdr)
    data_file = _image_file(img)
    if not os.path.exists(data_file):
        raise SourceNotFoundError(f"{path}: its image data file {data_file} is missing")
    stat_regular(data_file, what="image data file")
    try:
        proxy: Any = img.dataobj
        disk_dtype = hdr.get_data_dtype()
        offset = int(proxy.offset)
        slope = float(proxy.slope)
        inter = float(proxy.inter)
    except Exception as exc:  # nibabel raises HeaderDataError and friends
        raise FormatError(f"{path}: NIfTI header field is invalid: {exc}") from exc
    shape = tuple(int(n) for n in img.shape)
    raw_slope, raw_inter = _raw_scaling(img)
    if np.isinf(raw_slope) or np.isinf(raw_inter):
        slope, inter = raw_slope, raw_inter
    if not scale or disk_dtype.kind not in "biufc":
        # RGB and other structured types carry no scaling (NIfTI standard).
        slope, inter = 1.0, 0.0
    if not (np.isfinite(slope) and np.isfinite(inter)):
        raise FormatError(
            f"{path}: scl_slope={slope} / scl_inter={inter} is not finite; pass scale=False for stored values"
        )
    out_dtype = np.dtype(dtype) if dtype is not None else scaled_dtype(disk_dtype, [(slope, inter)])

    n_voxels = int(np.prod(shape, dtype=object))
    data_bytes = n_voxels * disk_dtype.itemsize
    if n_voxels * out_dtype.itemsize > max_volume_bytes():
        raise ResourceLimitError(
            f"{path}: header dim {list(shape)} claims {n_voxels * out_dtype.itemsize} bytes, over the "
            f"limit of {max_volume_bytes()} (raise LAZYVOL_MAX_VOLUME_BYTES if this is real)"
        )
    compressed = data_file.lower().endswith(".gz")
    single_file = os.path.abspath(data_file) == os.path.abspath(path)
    min_offset = {"nifti2": 540}.get(_format_name(img), 348) if single_file else 0
    if offset < min_offset:
        raise FormatError(
            f"{path}: NIfTI field vox_offset = {offset} points inside the header (minimum {min_offset})"
        )
    st = os.stat(data_file)
    end = offset + data_bytes
    if compressed:
        if end > st.st_size * _MAX_DEFLATE_RATIO:
            raise ResourceLimitError(
                f"{path}: header dim {list(shape)} claims {data_bytes} bytes of data but the gzip file "
                f"has only {st.st_size} bytes; no deflate stream expands that much (file truncated "
                "or header corrupt)"
            )
        isize = _gzip_isize(data_file)
        if isize is not None and end < 2**32 and isize < end:
            # A truncated file, or a file of several gzip members (the trailer then gives the last
            # member's size only): count what the members really hold.
            held = _gzip_inflated_size(data_file, end)
            if held < end:
                raise FormatError(
                    f"{path}: truncated: the header needs {end} uncompressed bytes (vox_offset "
                    f"{offset} + {data_bytes} data) but the gzip stream holds {held}"
                )
    elif st.st_size < end:
        raise FormatError(
            f"{path}: truncated: the header needs {end} bytes (vox_offset {offset} + {data_bytes} "
            f"bytes of {disk_dtype} data for dim {list(shape)}) but the file has {st.st_size}"
        )

    plan = NiftiPlan(
        path=os.path.abspath(data_file),
        offset=offset,
        shape=shape,
        disk_dtype=disk_dtype,
        slope=slope,
        inter=inter,
        out_dtype=out_dtype,
        compressed=compressed,
        size=int(st.st_size),
        mtime_ns=int(st.st_mtime_ns),
        ino=int(st.st_ino),
        ctime_ns=int(st.st_ctime_ns),
    )
    spatial = min(3, len(shape))
    norm = normalize_chunks(chunks, shape, out_dtype, spatial_ndim=spatial)
    token = file_fingerprint(
        sorted({os.path.abspath(path), plan.path}),
        scale=scale,
        dtype=out_dtype.str,
        chunks=norm,
    )
    data: Any = plan_array(read_block, plan, shape, norm, out_dtype, f"lazyvol-nifti-{token}")
    meta = _header_meta(img, path, disk_dtype, slope, inter, scale)
    affine = _checked_affine(path, img, meta)
    if len(shape) < 3:
        # A 1D/2D image: pad to (i, j, k) as nibabel's affine already covers three axes.
        assert isinstance(data, PlanArray)
        data = data.to_dask().reshape(shape + (1,) * (3 - len(shape)))
    return Volume(data, affine, meta=meta, source=path)


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


def _checked_affine(path: str, img: Any, meta: dict[str, Any]) -> np.ndarray:
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
    fm = img.file_map
    hdr_file = str(fm["header"].filename if "header" in fm else fm["image"].filename)
    try:
        block = _read_head(hdr_file, hdr.sizeof_hdr)
        return type(hdr)(block, endianness=hdr.endianness, check=False)
    except Exception:  # the checked header was read already; callers fall back to it
        return None


def _raw_scaling(img: Any) -> tuple[float, float]:
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


def _format_name(img: Any) -> str:
    import nibabel as nib

    if isinstance(img, nib.Nifti2Image | nib.Nifti2Pair):
        return "nifti2"
    if isinstance(img, nib.Nifti1Image | nib.Nifti1Pair):
        return "nifti1"
    return "analyze"


def _header_meta(
    img: Any, path: str, disk_dtype: np.dtype, slope: float, inter: float, scale: bool
) -> dict[str, Any]:
    hdr = img.header
    meta: dict[str, Any] = {
        "format": _format_name(img),
        "path": os.path.abspath(path),
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


# -- block reads -----------------------------------------------------------------------------------


def _run_layout(plan: NiftiPlan, index: tuple[slice, ...]) -> tuple[int, list[int]] | None:
    """If the block is one contiguous run in Fortran order: (first element, count). Else None."""
    shape = plan.shape
    # The first axis not taken whole; every later axis must then be a single index.
    split = len(shape)
    for axis, (sl, n) in enumerate(zip(index, shape, strict=True)):
        if not (sl.start == 0 and sl.stop == n and (sl.step or 1) == 1):
            split = axis
            break
    if split < len(shape) and (index[split].step or 1) != 1:
        return None
    for sl in index[split + 1 :]:
        if sl.stop - sl.start != 1:
            return None
    strides = np.cumprod((1, *shape[:-1]))
    first = int(sum(int(sl.start) * int(s) for sl, s in zip(index, strides, strict=True)))
    count = int(np.prod([sl.stop - sl.start for sl in index], dtype=np.int64))
    return first, [count]


def read_block(plan: NiftiPlan, index: tuple[slice, ...]) -> np.ndarray:
    """Read the block ``index`` of the image described by ``plan`` (a dask task)."""
    try:
        block = _fetch(plan, index)
    except FormatError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise FormatError(f"{plan.path}: reading image data failed: {exc}") from exc
    if not block.dtype.isnative:
        block = block.astype(block.dtype.newbyteorder("="))
    return apply_scale(block, plan.slope, plan.inter, np.dtype(plan.out_dtype))


def _stamp(plan: NiftiPlan) -> SourceStamp:
    return SourceStamp(plan.path, plan.size, plan.mtime_ns, plan.ino, plan.ctime_ns)


def _open_verified(plan: NiftiPlan) -> Any:
    """The data file opened for reading, after checking it is still the file that was opened.

    Raises :class:`~lazyvol.errors.SourceChangedError` (a ``FormatError``) naming the file when it
    was rewritten, replaced, cut or removed since :func:`open_nifti`.
    """
    need = (
        plan.offset + int(np.prod(plan.shape, dtype=np.int64)) * np.dtype(plan.disk_dtype).itemsize
    )
    try:
        fd = os.open(plan.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SourceChangedError(
            f"{display_path(plan.path)}: the file was removed or moved after it was opened; open "
            "the source again"
        ) from None
    f = os.fdopen(fd, "rb", buffering=0)
    try:
        st = os.fstat(fd)
        if st.st_size < need:
            raise SourceChangedError(
                f"{display_path(plan.path)}: truncated: the image data needs {need} bytes but the "
                f"file now has {st.st_size} (was it changed or cut after opening?); open the "
                "source again"
            )
        stamp = _stamp(plan)
        if not stamp.matches(st):
            stamp.verify(fd)  # raises SourceChangedError naming what changed
    except BaseException:
        f.close()
        raise
    return f


def _fetch(plan: NiftiPlan, index: tuple[slice, ...]) -> np.ndarray:
    """Stored values of the block, in the on-disk dtype.

    Uncompressed data comes back as a read-only view of a memory map opened for this task: the
    reduction that consumes it reads the page cache directly, with no copy and no anonymous
    memory (as ``np.memmap(...).mean()`` does). The file size is checked first, so a file cut after
    opening raises :class:`FormatError` instead of a SIGBUS.
    """
    disk = np.dtype(plan.disk_dtype)
    out_shape = tuple(len(range(sl.start, sl.stop, sl.step or 1)) for sl in index)
    run = _run_layout(plan, index)
    if not plan.compressed:
        # One open: the identity check and the memory map use the same descriptor, so the bytes
        # mapped are those of the file that was opened (a file rewritten, replaced or cut since
        # raises instead of serving other bytes, or a SIGBUS).
        with _open_verified(plan) as f:
            if run is not None:
                first, (count,) = run
                mm = np.memmap(
                    f,
                    dtype=disk,
                    mode="r",
                    offset=plan.offset + first * disk.itemsize,
                    shape=(count,),
                )
                return np.asarray(mm).reshape(out_shape, order="F")
            mm = np.memmap(f, dtype=disk, mode="r", offset=plan.offset, shape=plan.shape, order="F")
            return np.asarray(mm)[index]
    _stamp(plan).verify()  # the gzip handles are keyed on this identity: never another file's
    if run is not None:
        first, (count,) = run
        buf = _block_buffer(count, disk)
        _read_into(plan, plan.offset + first * disk.itemsize, buf)
        return buf.reshape(out_shape, order="F")
    return _read_gz_strided(plan, index, out_shape)


#: Blocks at least this big are inflated into their own anonymous memory map.
_MMAP_BLOCK_BYTES = 2**20


def _block_buffer(count: int, dtype: np.dtype) -> np.ndarray:
    """An uninitialised 1-D array for one inflated block.

    Big blocks get their own anonymous memory map, returned to the system the moment the block is
    dropped. From ``malloc`` they would land in glibc's per-thread arenas once its dynamic mmap
    threshold has grown to the block size (it follows the largest block freed, up to 32 MiB):
    freed blocks then stay in the arenas, and a streaming pass's peak memory creeps up with the
    file's length instead of staying flat.
    """
    nbytes = int(count) * dtype.itemsize
    if nbytes < _MMAP_BLOCK_BYTES:
        return np.empty(count, dtype=dtype)
    return np.frombuffer(mmap.mmap(-1, nbytes), dtype=dtype, count=count)


def _read_gz_strided(
    plan: NiftiPlan, index: tuple[slice, ...], out_shape: tuple[int, ...]
) -> np.ndarray:
    """Block of a gzipped image not contiguous on disk: one read per plane of the slowest axes."""
    disk = np.dtype(plan.disk_dtype)
    out = np.empty(out_shape, dtype=disk, order="F")
    # Read whole runs along axis 0..2 planes: iterate over every index of axes >= 2 (or >= 1 for 2D).
    lead = min(2, len(plan.shape) - 1)
    outer_ranges = [range(sl.start, sl.stop, sl.step or 1) for sl in index[lead:]]
    plane_shape = plan.shape[:lead]
    plane_elems = int(np.prod(plane_shape, dtype=np.int64))
    strides = np.cumprod((1, *plan.shape[:-1]))
    import itertools

    for pos, outer in zip(
        itertools.product(*(range(len(r)) for r in outer_ranges)),
        itertools.product(*outer_ranges),
        strict=True,
    ):
        first = int(sum(int(o) * int(s) for o, s in zip(outer, strides[lead:], strict=True)))
        buf = np.empty(plane_elems, dtype=disk)
        _read_into(plan, plan.offset + first * disk.itemsize, buf)
        plane = buf.reshape(plane_shape, order="F")[index[:lead]]
        where: Any = (Ellipsis, *pos)
        out[where] = plane
    return out


def _read_into(plan: NiftiPlan, offset: int, buf: np.ndarray) -> None:
    """Fill ``buf`` from uncompressed offset ``offset`` of a gzipped image."""
    view = buf.data.cast("B")
    got = gzaccess.read(plan.gz_source(), offset, view)
    if got != len(view):
        raise FormatError(
            f"{plan.path}: truncated: wanted {len(view)} bytes at data offset {offset}, the file "
            f"holds {got} (was it changed or cut after opening?)"
        )


#: The process's gzip handle pool (see :mod:`lazyvol.gzaccess`).
_GZ_POOL = gzaccess._POOL


def clear_gzip_handles() -> None:
    """Close the gzip handles this process keeps between tasks."""
    gzaccess.clear_handles()


def build_gzip_index(path: str | os.PathLike[str]) -> Path:
    """Inflate a ``.nii.gz`` once and save its seek index in the cache directory.

    Later reads of any slab, in any process, then cost a seek plus at most one seek-point spacing
    of inflate (4 MiB; wider for files over 1 GiB, see :func:`gz_spacing`), and several threads
    can decompress different parts of the file at once. The index is in indexed_gzip's format,
    which rapidgzip reads too.

    Parameters
    ----------
    path : str or path-like
        A gzipped NIfTI/Analyze image file (the ``.nii.gz`` or ``.img.gz``).

    Returns
    -------
    pathlib.Path
        Where the index was saved.
    """
    path = os.path.abspath(os.fspath(path))
    st = os.stat(path)
    vol = open_nifti(path)  # checks the header first
    data_end = (
        int(vol.meta["vox_offset"])
        + int(np.prod(vol.shape, dtype=np.int64)) * np.dtype(vol.meta["stored_dtype"]).itemsize
    )
    return gzaccess.build_index(gzaccess.GzSource.of(path, data_end, st))
