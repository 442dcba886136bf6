"""``open_dicom``: one DICOM volume of a file, folder or bucket prefix as a lazy Volume.

The scan (:func:`~lazyvol.dicom.scanner.scan`) says where every frame is; this module turns the
chosen volume into a :class:`~lazyvol.dicom.pixels.DicomPlan` (small, frozen, picklable: paths or
:class:`~lazyvol._io.Location` of objects, offsets, stamps) and a dask array whose tasks read the
frames with :func:`~lazyvol.dicom.pixels.read_block`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._io import Location
from ..chunking import normalize_chunks, plan_array
from ..config import check_chunk_bytes, check_volume_bytes
from ..errors import (
    FormatError,
    OptionError,
    SeriesError,
    SourceChangedError,
    UnsupportedError,
)
from ..geometry import check_affine
from ..scaling import check_integer_scaling
from ..sources import SourceStamp, fingerprint
from ..volume import Volume
from .checks import warn_notes, warn_slope_zero
from .choose import select
from .codestream import decoding_bytes
from .frame_rescale import RESCALE_FIELDS
from .model import (
    FrameTable,
    SeriesInfo,
    encoding_reads,
    pixel_encoding,
    stored_layout,
)
from .pixels import DicomPlan, read_block
from .scanner import SCAN_OPTIONS, scan

__all__ = ["DICOM_SLAB_BYTES", "open_dicom"]


#: Default bytes per DICOM slab. Slabs are assembled from one read per slice file, so large
#: slabs buy no I/O efficiency; smaller ones lower the peak memory of reductions (chunk x threads)
#: and pipeline better (measured: 8 MiB slabs of a 512^3 CT mean ~30% faster than 32 MiB, with half
#: the peak memory). An explicit LAZYVOL_CHUNK_SIZE / ``lazyvol.chunk-size`` wins.
DICOM_SLAB_BYTES = 8 * 2**20


def _fill_value(fill: Any, out_dtype: np.dtype, name: str) -> float:
    """Value of filled-in slices: ``fill`` if given, else NaN for float output and 0 otherwise."""
    if fill is None:
        return float("nan") if out_dtype.kind == "f" else 0.0
    value = float(fill)  # (a number: GroupOptions checked it)
    if out_dtype.kind in "iu":
        info = np.iinfo(out_dtype)
        if not (value.is_integer() and info.min <= value <= info.max):
            raise OptionError(
                f"{name}: fill={fill!r} does not fit the output dtype {out_dtype}: the filled "
                f"slices take a whole number from {info.min} to {info.max} (or, in Python, "
                "dtype='float32' takes any value)"
            )
    return value


def open_dicom(
    source: str | os.PathLike[str] | Location,
    *,
    storage_options: Mapping[str, Any] | None = None,
    series: str | int | None = None,
    chunks: Any = "auto",
    scale: bool = True,
    dtype: Any = None,
    **options: Any,
) -> Volume:
    """Open one DICOM volume lazily (no pixel byte is read until the data is computed).

    Parameters
    ----------
    source : str, path-like or Location
        A DICOM file or a folder of DICOM files (searched recursively), or an fsspec URL of an
        object or a prefix (``s3://bucket/<series uid>/``); see :func:`lazyvol.scan`.
    storage_options : mapping, optional
        fsspec options of a URL (credentials, endpoint); carried by the read plan, never shown.
    series : str or int, optional
        Which volume when there are several: a SeriesNumber, a SeriesInstanceUID or a unique
        prefix, a SeriesDescription (or a unique part), a :attr:`SeriesInfo.id`, or ``"#N"``
        for row N of ``scan(path)`` (see :func:`lazyvol.open`).
    chunks : "auto" or dask chunk spec
        ``"auto"``: slabs of whole slices of at most 8 MiB (or within ``LAZYVOL_CHUNK_SIZE`` /
        ``lazyvol.chunk-size`` when set); a 4D volume whose whole volumes fit that budget at
        least twice gets as many 4th-axis indices per chunk as fit, else one.
    scale : bool
        Apply RescaleSlope/RescaleIntercept per slice (narrowest exact dtype, else float32).
    dtype : dtype, optional
        Force the output dtype.
    **options
        Scan options (``workers``, ``use_index``, ``follow_symlinks``, ``progress``) and stacking
        relaxations (see :func:`lazyvol.scan`); relaxations used are recorded in ``vol.meta["relaxations"]``.

    Returns
    -------
    Volume
        Axes (i, j, k[, t]) = (column, row, slice[, 4th axis]); affine voxel -> RAS+ mm.

    Raises
    ------
    MultipleSeriesError
        Several volumes and no ``series=``.
    SeriesError
        The files cannot form one volume (gaps, repeated positions, missing geometry).
    SourceChangedError
        A file or object changed between its scan and the open.
    FormatError, UnsupportedError, ResourceLimitError
        Unreadable, truncated or not yet supported files; sizes beyond the limits.
    """
    loc = Location.of(source, storage_options)
    name = _name(source, loc)
    info = _chosen(loc, name, series, options)
    frames = info.frames
    assert frames is not None
    out_dtype = _out_dtype(info, frames, scale, dtype, name)
    shape = tuple(info.shape)
    check_volume_bytes(
        int(np.prod(shape, dtype=object)) * out_dtype.itemsize,
        f"{name}: volume {info.id} of shape {shape} ({out_dtype}) needs",
    )
    _check_decoded_frames(frames, name)
    plan = make_plan(
        frames, loc, shape[2], out_dtype, scale, _fill_value(options.get("fill"), out_dtype, name)
    )
    changed = stale_files(plan)
    if changed:
        raise SourceChangedError(
            f"{name}: {len(changed)} file(s) changed since they were scanned (e.g. {changed[0]}); "
            "open again to rescan"
        )
    norm = normalize_chunks(
        chunks, shape, out_dtype, spatial_ndim=3, default_budget=DICOM_SLAB_BYTES, where=name
    )
    files = sorted(set(frames.paths) - {""})
    # Remote: the stamps of the listing (URL identity, size, ETag). Local: the scan's stamps, which
    # stale_files has just compared with each file's stat (the same token as stamping them again).
    sources: Any = files
    if loc.is_remote:
        sources = sorted({s for s in plan.stamps if s}, key=str)
    elif plan.stamps:
        by_path = {s.path: s for s in plan.stamps if s}
        if all(by_path.get(p) is not None and os.path.abspath(p) == p for p in files):
            sources = [by_path[p] for p in files]
    token = fingerprint(
        sources,
        series=info.id,
        scale=bool(scale),
        dtype=out_dtype.str,
        chunks=norm,
        relaxations=dict(sorted(options.items())),
    )
    data = plan_array(read_block, plan, shape, norm, out_dtype, f"lazyvol-dicom-{token}")
    meta = _volume_meta(info, files, scale, loc)
    affine = check_affine(
        info.affine, name, "ImagePositionPatient/ImageOrientationPatient/PixelSpacing"
    )
    # (a URL as messages show it, as a NIfTI volume's: a signed URL's signature is a credential)
    return Volume(data, affine, meta=meta, source=loc.display if loc.is_remote else loc.url)


def _identity(path: str, loc: Location) -> str:
    return Location(path, loc.options).identity


def _name(source: str | os.PathLike[str] | Location, loc: Location) -> str:
    """The source as messages name it: a path as the caller wrote it, a URL without credentials."""
    if isinstance(source, Location) or loc.is_remote:
        return loc.display
    return os.fspath(source)


def _chosen(
    loc: Location, name: str, series: str | int | None, options: dict[str, Any]
) -> SeriesInfo:
    """The volume ``series`` names (scanning ``loc``); its recorded problem raised typed."""
    scan_kw = {k: options.pop(k) for k in list(options) if k in SCAN_OPTIONS}
    report = scan(loc, **scan_kw, **options)
    refused = bool(report) and all(i.error for i in report)
    if refused and series is None and scan_kw.get("use_index", True):
        if any(i.error_kind == "unsupported" for i in report):
            # As below: a decoder installed since the saved scan may read them now.
            scan_kw["use_index"] = False
            report = scan(loc, **scan_kw, **options)
    info = select(report, name, series)
    if info.error and info.error_kind == "unsupported" and scan_kw.get("use_index", True):
        # Support can change without the files changing (a decoder installed since): re-check.
        scan_kw["use_index"] = False
        info = select(scan(loc, **scan_kw, **options), name, series)
    # (the notes on unread or damaged files beside the volume are in the scan's report)
    if info.error:
        cls = {
            "format": FormatError,
            "unsupported": UnsupportedError,
            "option": OptionError,
        }.get(info.error_kind, SeriesError)
        raise cls(info.error)
    return info


def _check_decoded_frames(frames: FrameTable, name: str) -> None:
    """Refuse compressed frames that each decode to more than ``LAZYVOL_MAX_CHUNK_BYTES``, at open
    (:func:`lazyvol.config.check_chunk_bytes`): their Rows x Columns are a claim no stored byte
    backs (a 1 KB JPEG 2000 fragment can state 40000 x 40000), and reading any voxel of a frame
    decodes it whole, into memory of that size."""
    encodings = frames.encodings or (pixel_encoding(frames),)
    syntaxes = sorted({encoding_reads(e)[0] for e in encodings if e} - {""})
    if not syntaxes:
        return
    from pydicom.uid import UID

    rows, columns = frames.mosaic[:2] if frames.mosaic else (frames.rows, frames.columns)
    kinds = frames.stored_types or ()
    bits = max([frames.bits_allocated, *(stored_layout(k)[0] for k in kinds)])
    # (with a JPEG 2000 decoder's 32-bit buffers: several times the frame)
    need, syntax = max((decoding_bytes(s, rows, columns, bits), s) for s in syntaxes)
    takes = (
        "decodes to"
        if need == decoding_bytes("", rows, columns, bits)
        else "takes, with its decoder's buffers,"
    )
    check_chunk_bytes(
        need,
        f"{name}: each {UID(syntax).name} frame of Rows x Columns {rows} x {columns} and "
        f"BitsAllocated (0028,0100) {bits} {takes}",
        unit="frame",
        remedy="decompress the files (gdcmconv --raw) if the header is right, else fix Rows and "
        "Columns (0028,0010) / (0028,0011)",
    )


def _out_dtype(
    info: SeriesInfo, frames: FrameTable, scale: bool, dtype: Any, name: str
) -> np.dtype:
    """The volume's dtype: ``dtype`` when given (an integer one refused for a rescale that is
    not whole numbers: :func:`~lazyvol.scaling.check_integer_scaling`), else the scan's."""
    if dtype is not None:
        if scale:
            pairs = zip(frames.slopes, frames.inters, strict=True)
            check_integer_scaling(name, np.dtype(dtype), pairs, RESCALE_FIELDS)
        return np.dtype(dtype)
    return np.dtype(info.dtype) if scale else frames.stored_dtype


def make_plan(
    frames: FrameTable,
    loc: Location,
    nk: int,
    out_dtype: np.dtype,
    scale: bool,
    fill: float,
) -> DicomPlan:
    """The read plan of a scanned volume's frames (remote frames carry their Location)."""
    stamps: tuple[SourceStamp | None, ...] = ()
    if len(frames.idents) == len(frames.paths):
        etags = (
            frames.etags if len(frames.etags) == len(frames.paths) else ("",) * len(frames.paths)
        )
        stamps = tuple(
            (
                SourceStamp(_identity(p, loc) if loc.is_remote else p, *ident, etag=etag)
                if p
                else None
            )
            for p, ident, etag in zip(frames.paths, frames.idents, etags, strict=True)
        )
    # The first frame's encoding; frames.encodings names each frame's when the files differ.
    encapsulated, little_endian, swap_ow8 = encoding_reads(pixel_encoding(frames))
    return DicomPlan(
        paths=frames.paths,
        offsets=frames.offsets,
        sizes=frames.sizes,
        lengths=frames.lengths,
        slopes=frames.slopes,
        inters=frames.inters,
        rows=frames.rows,
        columns=frames.columns,
        nk=nk,
        bits_allocated=frames.bits_allocated,
        bits_stored=frames.bits_stored,
        signed=frames.signed,
        little_endian=little_endian,
        swap_ow8=swap_ow8,
        out_dtype=out_dtype.str,
        scale=bool(scale),
        encapsulated_syntax=encapsulated,
        encodings=frames.encodings,
        stored_bits=frames.stored_bits,
        stored_types=frames.stored_types,
        pixel_vr=frames.pixel_vr,
        photometric=frames.photometric,
        fill=fill,
        stamps=stamps,
        tiles=frames.tiles,
        mosaic=frames.mosaic,
        flip_rows=frames.flip_rows,
        decoded_bits=frames.decoded_bits,
        inflate_from=frames.inflate_from,
        locations=tuple(Location(p, loc.options) if p else None for p in frames.paths)
        if loc.is_remote
        else (),
    )


def _volume_meta(info: SeriesInfo, files: list[str], scale: bool, loc: Location) -> dict[str, Any]:
    meta = dict(info.meta)
    # What was opened, absolute (as a NIfTI volume's): its headers are read from there after a
    # chdir too (vol.source stays as given)
    meta["path"] = loc.display if loc.is_remote else os.path.abspath(loc.url)
    # The files this volume reads: the cache keys its entries by exactly these.
    meta["files"] = files
    meta["series_id"] = info.id
    meta["scaled"] = bool(scale)
    if info.axis4:
        meta["axis4"] = info.axis4
    if info.warnings:
        meta["warnings"] = list(info.warnings)
    if meta.get("rescale_slope_zero"):
        warn_slope_zero(meta["rescale_slope_zero"])
    warn_notes(info.warnings)
    return meta


def stale_files(plan: DicomPlan) -> list[str]:
    """Files changed since the scan (cheap check before building a graph): size, and with
    ``plan.stamps`` the full identity (mtime, inode, ctime). Remote objects are not checked here:
    the open that made the plan listed them just now (their reads check the ETag)."""
    bad: list[str] = []
    if plan.locations:
        return bad
    for n, (p, size) in enumerate(zip(plan.paths, plan.sizes)):
        if not p:
            continue
        try:
            st = os.stat(p)
        except OSError:
            bad.append(p)
            continue
        stamp = plan.stamps[n] if plan.stamps else None
        if st.st_size != size or (stamp is not None and not stamp.matches(st)):
            bad.append(p)
    return bad
