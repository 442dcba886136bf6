"""Virtual Zarr references: any Zarr client reads a ``.nii`` or a DICOM series in place.

:func:`references` describes a source as `kerchunk version-1 references
<https://fsspec.github.io/kerchunk/spec.html>`_: a Zarr (v2 layout) group whose array ``image``
maps each chunk to ``[url, offset, length]`` of the source's own bytes. zarr, xarray and any fsspec
reference-filesystem client then read the volume without lazyvol and without a copy::

    refs = lazyvol.references("scan.nii")
    fs = fsspec.filesystem("reference", fo=refs)
    g = zarr.open_group(fs.get_mapper(""), mode="r", zarr_format=2)
    g["image"][40]                                  # slice k = 40, axes (j, i)

    ds = xarray.open_dataset(fs.get_mapper(""), engine="zarr", consolidated=True)
    ds["image"]                                     # scaled values (CF scale_factor/add_offset)

What the array holds:

- the **stored values** with their exact dtype and byte order (``'>i2'`` for big-endian data);
- axes ``(k, j, i[, t, ...])``, named in ``_ARRAY_DIMENSIONS`` (the reverse of lazyvol's and
  nibabel's ``(i, j, k)``: a C-order array over bytes written i fastest), so
  ``image[...].transpose(2, 1, 0, ...)`` equals ``lazyvol.open(source, scale=False)``;
- no fill value, so no real value is ever masked;
- a series-wide rescale (NIfTI ``scl_slope``/``scl_inter``, DICOM RescaleSlope/RescaleIntercept)
  as CF ``scale_factor``/``add_offset``, which xarray applies when it decodes;
- the affine (voxel ``(i, j, k, 1)`` -> RAS+ mm, as ``lazyvol.open`` gives it) and the source's
  metadata in the group attributes under ``"lazyvol"``.

Chunks are slabs of whole slices along k for NIfTI (the slab size divides the number of slices, since
Zarr v2 stores every chunk at full size) and one slice per chunk for DICOM.

Refused, with a typed error saying why: gzip-compressed files (a gzip stream cannot be entered at a
byte offset, so no chunk has an address), compressed DICOM frames, DICOM whose unused high bits are
set (a Zarr reader cannot clear them), rescale values that differ between slices (unless
``per_slice_rescale="arrays"``), missing slices, and layouts a chunk cannot address.

References never hold credentials: URLs are written without user, password or signing parameters
(:func:`lazyvol._io.identity_url`); a reader passes its own credentials as the reference
filesystem's ``remote_options``.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import _io
from ._io import Location
from .errors import FormatError, ResourceLimitError, UnsupportedError

__all__ = ["references"]

#: Axis names of the stored array, in stored order (the first three reversed from (i, j, k)).
_EXTRA_AXES = ("t", "u", "v", "w")
_GZIP_SUFFIXES = (".gz", ".bgz", ".zst", ".bz2", ".xz")
_NIFTI_SUFFIXES = (".nii", ".hdr", ".img")


def references(
    source: str | os.PathLike[str],
    *,
    storage_options: Mapping[str, Any] | None = None,
    series: str | int | None = None,
    chunk_bytes: int | None = None,
    per_slice_rescale: str = "refuse",
    check_unused_bits: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """Kerchunk version-1 references describing ``source`` as a Zarr v2 group with array ``image``.

    Parameters
    ----------
    source : str or path-like
        An uncompressed NIfTI-1/2 or Analyze file (``.nii``, ``.hdr``/``.img``; a ``.nii`` may be a
        URL: ``s3://``, ``gs://``, ``https://``, ...), or a DICOM file or folder holding a series of
        native (uncompressed) frames.
    storage_options : mapping, optional
        fsspec options for a URL (credentials, endpoint); used to read the header, never written
        into the references.
    series : str or int, optional
        Which DICOM volume when the folder holds several (as :func:`lazyvol.open`).
    chunk_bytes : int, optional
        Largest NIfTI slab per chunk (default: lazyvol's chunk budget, ``LAZYVOL_CHUNK_SIZE``).
    per_slice_rescale : {"refuse", "arrays"}
        DICOM slices whose RescaleSlope/RescaleIntercept differ cannot share one CF
        ``scale_factor``: ``"refuse"`` raises; ``"arrays"`` adds arrays ``rescale_slope`` and
        ``rescale_intercept`` over ``(k[, t])`` (real value = stored x slope + intercept per
        slice) and leaves ``image`` unscaled.
    check_unused_bits : bool
        DICOM with BitsStored < BitsAllocated: read the pixel data once to prove the unused high
        bits are clean (a Zarr reader returns them as they are stored; lazyvol and pydicom clear
        or sign-extend them). ``False`` skips the read and records
        ``"unused_bits_checked": false`` in the attributes.
    **options
        DICOM scan/stacking options, as :func:`lazyvol.open` takes them.

    Returns
    -------
    dict
        ``{"version": 1, "refs": {...}}``, JSON-serialisable (``json.dump(refs, f)``).

    Raises
    ------
    UnsupportedError
        A gzipped file, compressed DICOM frames, dirty unused bits, per-slice rescale (refused),
        gaps, or a layout chunks cannot address.
    FormatError, SourceNotFoundError, SeriesError
        As :func:`lazyvol.open` for the same source.
    """
    if per_slice_rescale not in ("refuse", "arrays"):
        raise ValueError(f"per_slice_rescale={per_slice_rescale!r}: use 'refuse' or 'arrays'")
    loc = Location.of(source, storage_options)
    name = urlpath_name(loc)
    if name.endswith(_GZIP_SUFFIXES):
        raise UnsupportedError(
            f"{loc.display}: a compressed file cannot be referenced: a gzip (or other) stream "
            "cannot be entered at a byte offset, so no chunk of it has an address a Zarr reader "
            "could fetch. Decompress it (gunzip) and reference the .nii, or convert it with "
            "lazyvol.open(...).to_zarr(...)"
        )
    if name.endswith(_NIFTI_SUFFIXES):
        if options or series is not None:
            raise TypeError(f"unexpected options for a NIfTI file: {sorted(options) or ['series']}")
        if loc.is_remote:
            layout = _remote_nifti(loc)
        else:
            layout = _local_nifti(loc.url)
        return _nifti_refs(layout, chunk_bytes)
    if loc.is_remote:
        raise UnsupportedError(
            f"{loc.display}: references for remote DICOM are not available yet (they need the "
            "bucket scan); reference a local copy of the series, or a .nii URL"
        )
    return _dicom_refs(
        loc.url,
        series=series,
        per_slice_rescale=per_slice_rescale,
        check_unused_bits=check_unused_bits,
        **options,
    )


def urlpath_name(loc: Location) -> str:
    """The lower-case file name of a location (query string dropped)."""
    path = loc.url.split("?", 1)[0].rstrip("/")
    return path.rsplit("/", 1)[-1].lower()


# -- NIfTI -----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _NiftiLayout:
    url: str
    display: str
    offset: int
    shape: tuple[int, ...]
    dtype: np.dtype
    slope: float
    inter: float
    affine: np.ndarray
    meta: dict[str, Any]


def _local_nifti(path: str) -> _NiftiLayout:
    """Layout from lazyvol's own NIfTI reader (all its header checks apply)."""
    import nibabel as nib

    from .nifti import open_nifti

    vol = open_nifti(path, scale=True)
    meta = dict(vol.meta)
    data_file = str(nib.load(path).file_map["image"].filename)
    if data_file.lower().endswith(_GZIP_SUFFIXES):
        raise UnsupportedError(
            f"{path}: its image data {data_file} is compressed; a gzip stream cannot be entered at "
            "a byte offset, so no chunk of it has an address. Decompress it first"
        )
    return _NiftiLayout(
        url=os.path.abspath(data_file),
        display=os.path.abspath(path),
        offset=int(meta["vox_offset"]),
        shape=tuple(int(n) for n in vol.shape),
        dtype=np.dtype(meta["stored_dtype"]),
        slope=float(meta["scl_slope"]),
        inter=float(meta["scl_inter"]),
        affine=np.asarray(vol.affine, dtype=np.float64),
        meta=meta,
    )


def _remote_nifti(loc: Location) -> _NiftiLayout:
    """Layout of a remote single-file NIfTI from its header bytes (one ranged read)."""
    import nibabel as nib

    if not urlpath_name(loc).endswith(".nii"):
        raise UnsupportedError(
            f"{loc.display}: remote Analyze/NIfTI pairs (.hdr/.img) are not supported yet; "
            "reference a single-file .nii"
        )
    stamp = _io.stamp(loc)
    raw = _io.read(loc, 0, min(stamp.size, 552))
    hdr_cls: Any = None
    for order in "<>":
        if len(raw) >= 4:
            sizeof_hdr = int(np.frombuffer(raw[:4], dtype=order + "i4")[0])
            if sizeof_hdr == 348:
                hdr_cls = nib.Nifti1Header
            elif sizeof_hdr == 540:
                hdr_cls = nib.Nifti2Header
            if hdr_cls is not None:
                break
    if hdr_cls is None or len(raw) < (540 if hdr_cls is nib.Nifti2Header else 348):
        raise FormatError(
            f"{loc.display}: not a NIfTI header (NIfTI field sizeof_hdr is neither 348 nor 540, or "
            f"the object has only {stamp.size} bytes)"
        )
    try:
        hdr = hdr_cls.from_fileobj(io.BytesIO(raw), check=True)
    except Exception as exc:  # nibabel's HeaderDataError and friends
        raise FormatError(f"{loc.display}: invalid NIfTI header: {exc}") from None
    magic = bytes(hdr["magic"]).rstrip(b"\0")
    if magic not in (b"n+1", b"n+2"):
        raise FormatError(
            f"{loc.display}: NIfTI field magic = {magic!r} (expected b'n+1' or b'n+2' for a "
            "single-file .nii)"
        )
    shape = tuple(int(n) for n in hdr.get_data_shape())
    if len(shape) < 3:
        shape = shape + (1,) * (3 - len(shape))
    if not shape or min(shape) < 1:
        raise FormatError(f"{loc.display}: NIfTI field dim = {list(shape)} has a dimension < 1")
    dtype = np.dtype(hdr.get_data_dtype())
    offset = int(hdr.get_data_offset())
    min_offset = 540 if hdr_cls is nib.Nifti2Header else 348
    if offset < min_offset:
        raise FormatError(
            f"{loc.display}: NIfTI field vox_offset = {offset} points inside the header "
            f"(minimum {min_offset})"
        )
    raw_slope, raw_inter = float(hdr["scl_slope"]), float(hdr["scl_inter"])
    if math.isinf(raw_slope) or math.isinf(raw_inter):
        raise FormatError(
            f"{loc.display}: NIfTI field scl_slope={raw_slope} / scl_inter={raw_inter} is not "
            "finite: no scale_factor can express it"
        )
    slope, inter = hdr.get_slope_inter()
    slope = 1.0 if slope is None else float(slope)
    inter = 0.0 if inter is None else float(inter)
    if dtype.kind not in "biufc":
        slope, inter = 1.0, 0.0
    need = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if stamp.size < need:
        raise FormatError(
            f"{loc.display}: truncated: the header needs {need} bytes (vox_offset {offset} + data "
            f"of dim {list(shape)}, {dtype}) but the object has {stamp.size}"
        )
    meta = {
        "format": "nifti2" if hdr_cls is nib.Nifti2Header else "nifti1",
        "path": loc.identity,
        "stored_dtype": dtype.str,
        "vox_offset": offset,
        "scl_slope": slope,
        "scl_inter": inter,
        "sform_code": int(hdr["sform_code"]),
        "qform_code": int(hdr["qform_code"]),
        "size": stamp.size,
        "etag": stamp.etag,
    }
    return _NiftiLayout(
        url=loc.identity,
        display=loc.display,
        offset=offset,
        shape=shape,
        dtype=dtype,
        slope=slope,
        inter=inter,
        affine=np.asarray(hdr.get_best_affine(), dtype=np.float64),
        meta=meta,
    )


def _slab(nk: int, plane_bytes: int, budget: int) -> int:
    """Largest divisor of ``nk`` whose slab of planes fits ``budget`` (at least 1)."""
    best = 1
    for kc in range(1, nk + 1):
        if nk % kc == 0 and kc * plane_bytes <= budget:
            best = kc
    return best


def _nifti_refs(lay: _NiftiLayout, chunk_bytes: int | None) -> dict[str, Any]:
    from .config import chunk_budget

    dtype = lay.dtype
    if dtype.fields is not None or dtype.kind not in "biufc":
        raise UnsupportedError(
            f"{lay.display}: NIfTI data type {dtype} (RGB/structured) cannot be referenced as a "
            "plain Zarr array; convert it with lazyvol.open(...).to_zarr(...)"
        )
    ni, nj, nk = lay.shape[:3]
    rest = lay.shape[3:]
    plane = ni * nj * dtype.itemsize
    kc = _slab(nk, plane, chunk_budget() if chunk_bytes is None else int(chunk_bytes))
    volume_bytes = plane * nk
    refs: dict[str, Any] = {}
    stored_shape = (nk, nj, ni, *rest)
    chunks = (kc, nj, ni, *(1 for _ in rest))
    dims = ["k", "j", "i", *_EXTRA_AXES[: len(rest)]]
    if len(rest) > len(_EXTRA_AXES):
        raise UnsupportedError(f"{lay.display}: {len(lay.shape)} dimensions; at most 7 are known")
    for rest_index in np.ndindex(*rest) if rest else [()]:
        # Axes after k are Fortran-ordered on disk: the first (t) varies fastest.
        flat = 0
        stride = 1
        for idx, n in zip(rest_index, rest, strict=True):
            flat += idx * stride
            stride *= n
        for kb in range(nk // kc):
            off = lay.offset + flat * volume_bytes + kb * kc * plane
            key = ".".join(str(x) for x in (kb, 0, 0, *rest_index))
            refs[f"image/{key}"] = [lay.url, int(off), int(kc * plane)]
    attrs = _scale_attrs(lay.slope, lay.inter)
    group_attrs = {
        "lazyvol": {
            "affine": lay.affine.tolist(),
            "affine_axes": ["i", "j", "k"],
            "stored_axes": dims,
            "source": lay.url,
            "meta": _jsonable(lay.meta),
        }
    }
    return _assemble(refs, "image", stored_shape, chunks, dtype, dims, attrs, group_attrs)


# -- DICOM -----------------------------------------------------------------------------------------

#: DicomPlan fields this module understands (with the layouts it can reference). A field added
#: later with a non-default value (a new layout) is refused rather than referenced wrongly.
_DICOM_PLAN_FIELDS = {
    "paths",
    "offsets",
    "sizes",
    "lengths",
    "slopes",
    "inters",
    "rows",
    "columns",
    "nk",
    "bits_allocated",
    "bits_stored",
    "signed",
    "little_endian",
    "swap_ow8",
    "out_dtype",
    "scale",
    "encapsulated_syntax",
    "photometric",
    "fill",
}


def _dicom_plan(vol: Any, display: str) -> Any:
    from .chunking import source_of
    from .dicom.pixels import DicomPlan

    src = source_of(vol.data)
    plan = src[1] if src is not None else None
    if not isinstance(plan, DicomPlan):
        raise UnsupportedError(
            f"{display}: this DICOM volume is not a plain stack of frames (no frame plan); it "
            "cannot be referenced"
        )
    for f in dataclasses.fields(plan):
        if f.name in _DICOM_PLAN_FIELDS:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        if getattr(plan, f.name) not in (default, None, "", 0, False, ()):
            raise UnsupportedError(
                f"{display}: frames laid out with {f.name}={getattr(plan, f.name)!r} cannot be "
                "referenced one chunk per slice"
            )
    return plan


def _dicom_refs(
    path: str,
    *,
    series: str | int | None,
    per_slice_rescale: str,
    check_unused_bits: bool,
    **options: Any,
) -> dict[str, Any]:
    from .api import open_source

    if os.path.isdir(path) and any(
        os.path.exists(os.path.join(path, m)) for m in ("zarr.json", ".zgroup", ".zarray")
    ):
        raise UnsupportedError(f"{path}: is a Zarr store already; open it with zarr directly")
    vol = open_source(path, series=series, scale=False, **options)
    plan = _dicom_plan(vol, path)
    if plan.encapsulated_syntax:
        raise UnsupportedError(
            f"{path}: the frames are compressed (Transfer Syntax UID {plan.encapsulated_syntax}); "
            "a compressed frame cannot be referenced without a numcodecs codec for it that "
            "every Zarr reader has. Reference an uncompressed copy (e.g. dcmdjpeg/gdcmconv "
            "--raw) or convert with lazyvol.open(...).to_zarr(...)"
        )
    if plan.swap_ow8:
        raise UnsupportedError(
            f"{path}: 8-bit pixels in an OW element of a big-endian file are byte-swapped in "
            "pairs; no Zarr dtype reads them. Convert with lazyvol.open(...).to_zarr(...)"
        )
    if plan.photometric not in ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR"):
        raise UnsupportedError(
            f"{path}: PhotometricInterpretation (0028,0004) = {plan.photometric!r}; only "
            "single-sample frames can be referenced"
        )
    if plan.bits_allocated not in (8, 16, 32, 64):
        raise UnsupportedError(
            f"{path}: BitsAllocated (0028,0100) = {plan.bits_allocated}: not a whole-byte dtype"
        )
    missing = [n for n, p in enumerate(plan.paths) if not p]
    if missing:
        raise UnsupportedError(
            f"{path}: {len(missing)} slice(s) are missing and would be filled in "
            "(allow_gaps=True); a referenced chunk must exist in a file. Reference the series "
            "without allow_gaps"
        )
    shape = tuple(int(n) for n in vol.shape)
    ni, nj, nk = shape[:3]
    nt = len(plan.paths) // nk
    kind = "i" if plan.signed else "u"
    itemsize = plan.bits_allocated // 8
    order = "|" if itemsize == 1 else ("<" if plan.little_endian else ">")
    dtype = np.dtype(f"{order}{kind}{itemsize}")
    nbytes = plan.rows * plan.columns * itemsize
    for n, (p, off, size) in enumerate(zip(plan.paths, plan.offsets, plan.sizes, strict=True)):
        if off < 0 or off + nbytes > size:
            raise FormatError(
                f"{p}: truncated: Pixel Data (7FE0,0010) of frame {n} needs {nbytes} bytes at "
                f"offset {off} but the file has {size}"
            )
    checked: bool | None = None
    if plan.bits_stored < plan.bits_allocated:
        checked = False
        if check_unused_bits:
            _check_unused_bits(plan, dtype, nbytes)
            checked = True

    refs: dict[str, Any] = {}
    for t in range(nt):
        for k in range(nk):
            n = t * nk + k
            key = f"{k}.0.0" + (f".{t}" if len(shape) > 3 else "")
            refs[f"image/{key}"] = [os.path.abspath(plan.paths[n]), int(plan.offsets[n]), nbytes]
    stored_shape = (nk, nj, ni, *shape[3:])
    chunks = (1, nj, ni, *(1 for _ in shape[3:]))
    dims = ["k", "j", "i", *_EXTRA_AXES[: len(shape) - 3]]

    slopes = np.asarray(plan.slopes, dtype=np.float64)
    inters = np.asarray(plan.inters, dtype=np.float64)
    uniform = bool(np.all(slopes == slopes[0]) and np.all(inters == inters[0]))
    attrs: dict[str, Any] = {}
    extra: dict[str, tuple[np.ndarray, list[str]]] = {}
    if uniform:
        attrs = _scale_attrs(float(slopes[0]), float(inters[0]))
    elif per_slice_rescale == "arrays":
        grid = (nk, nt) if len(shape) > 3 else (nk,)
        sdims = ["k", "t"] if len(shape) > 3 else ["k"]
        extra["rescale_slope"] = (slopes.reshape(nt, nk).T.reshape(grid), sdims)
        extra["rescale_intercept"] = (inters.reshape(nt, nk).T.reshape(grid), sdims)
    else:
        k0 = next(n for n in range(len(slopes)) if (slopes[n], inters[n]) != (slopes[0], inters[0]))
        raise UnsupportedError(
            f"{path}: RescaleSlope (0028,1053) / RescaleIntercept (0028,1052) differ between "
            f"slices (frame 0: {slopes[0]:g} / {inters[0]:g}, frame {k0} "
            f"({plan.paths[k0]}): {slopes[k0]:g} / {inters[k0]:g}); one CF scale_factor cannot "
            "express that. Pass per_slice_rescale='arrays' for per-slice arrays, or convert "
            "with lazyvol.open(...).to_zarr(...)"
        )
    meta = {k: v for k, v in vol.meta.items() if k not in ("files", "scaled")}
    group_attrs = {
        "lazyvol": {
            "affine": np.asarray(vol.affine, dtype=np.float64).tolist(),
            "affine_axes": ["i", "j", "k"],
            "stored_axes": dims,
            "source": os.path.abspath(path),
            "meta": _jsonable(meta),
            "bits_stored": plan.bits_stored,
            "bits_allocated": plan.bits_allocated,
            **({"unused_bits_checked": checked} if checked is not None else {}),
            **(
                {"rescale": "value = image * rescale_slope[k] + rescale_intercept[k] per slice"}
                if extra
                else {}
            ),
        }
    }
    return _assemble(refs, "image", stored_shape, chunks, dtype, dims, attrs, group_attrs, extra)


def _check_unused_bits(plan: Any, dtype: np.dtype, nbytes: int) -> None:
    """Read every frame once: refuse when bits above BitsStored are not what a reader that
    ignores them would get (cleared for unsigned data, the sign extension for signed data)."""
    shift = plan.bits_allocated - plan.bits_stored
    native = dtype.newbyteorder("=")
    for n, (p, off) in enumerate(zip(plan.paths, plan.offsets, strict=True)):
        raw = _io.map_array(p, int(off), (nbytes // dtype.itemsize,), dtype).astype(native)
        clean = np.right_shift(np.left_shift(raw, shift), shift)
        bad = np.flatnonzero(raw != clean)
        if bad.size:
            raise UnsupportedError(
                f"{p}: frame {n} stores {int(raw[bad[0]])} where BitsStored (0028,0101) = "
                f"{plan.bits_stored} of BitsAllocated (0028,0100) = {plan.bits_allocated} gives "
                f"{int(clean[bad[0]])}: the unused high bits are set ({bad.size} pixels), and a "
                "Zarr reader would return them as stored. Convert with "
                "lazyvol.open(...).to_zarr(...)"
            )


# -- assembly --------------------------------------------------------------------------------------


def _scale_attrs(slope: float, inter: float) -> dict[str, Any]:
    """CF decoding attributes for value = stored x slope + inter (none for the identity)."""
    if not (math.isfinite(slope) and math.isfinite(inter)):
        raise FormatError(f"rescale slope={slope} / intercept={inter} is not finite")
    attrs: dict[str, Any] = {}
    if slope != 1.0 or inter != 0.0:
        attrs["scale_factor"] = float(slope)
        attrs["add_offset"] = float(inter)
    return attrs


def _zarray(shape: Sequence[int], chunks: Sequence[int], dtype: np.dtype) -> dict[str, Any]:
    return {
        "zarr_format": 2,
        "shape": [int(n) for n in shape],
        "chunks": [int(n) for n in chunks],
        "dtype": dtype.str,
        "compressor": None,
        "filters": None,
        "fill_value": None,
        "order": "C",
        "dimension_separator": ".",
    }


def _assemble(
    refs: dict[str, Any],
    name: str,
    shape: Sequence[int],
    chunks: Sequence[int],
    dtype: np.dtype,
    dims: list[str],
    attrs: dict[str, Any],
    group_attrs: dict[str, Any],
    extra: Mapping[str, tuple[np.ndarray, list[str]]] | None = None,
) -> dict[str, Any]:
    n_voxels = int(np.prod(shape, dtype=object))
    if n_voxels * dtype.itemsize > 2**63:
        raise ResourceLimitError(f"{n_voxels} voxels cannot be addressed")
    metadata: dict[str, Any] = {
        ".zgroup": {"zarr_format": 2},
        ".zattrs": group_attrs,
        f"{name}/.zarray": _zarray(shape, chunks, dtype),
        f"{name}/.zattrs": {"_ARRAY_DIMENSIONS": dims, **attrs},
    }
    inline: dict[str, str] = {}
    for arr_name, (values, adims) in (extra or {}).items():
        arr = np.ascontiguousarray(values, dtype="<f8")
        metadata[f"{arr_name}/.zarray"] = _zarray(arr.shape, arr.shape, arr.dtype)
        metadata[f"{arr_name}/.zattrs"] = {"_ARRAY_DIMENSIONS": adims}
        key = ".".join("0" for _ in arr.shape)
        inline[f"{arr_name}/{key}"] = "base64:" + base64.b64encode(arr.tobytes()).decode()
    out: dict[str, Any] = {k: json.dumps(v) for k, v in metadata.items()}
    out[".zmetadata"] = json.dumps({"zarr_consolidated_format": 1, "metadata": metadata})
    out.update(inline)
    out.update(refs)
    return {"version": 1, "refs": out}


def _jsonable(x: Any) -> Any:
    """``x`` with numpy values, tuples and other objects made JSON-safe."""
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        return _jsonable(x.item())
    if isinstance(x, float):
        return x if math.isfinite(x) else str(x)
    if x is None or isinstance(x, bool | int | str):
        return x
    return str(x)
