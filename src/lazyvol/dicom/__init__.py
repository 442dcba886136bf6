"""DICOM reader: header-only folder scans, series grouping with exact geometry, lazy pixel reads.

``scan(path)`` lists the volumes a file or folder holds (:class:`ScanReport` of :class:`SeriesInfo`);
``open_dicom(path)`` (what :func:`lazyvol.open` calls for folders and non-NIfTI files) returns one of
them as a lazy :class:`lazyvol.Volume`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..chunking import auto_chunks, file_fingerprint, normalize_chunks, plan_to_dask
from ..config import chunk_budget, max_volume_bytes
from ..errors import (
    FormatError,
    MultipleSeriesError,
    ResourceLimitError,
    SeriesError,
    SourceChangedError,
    SourceNotFoundError,
    UnsupportedError,
)
from ..geometry import check_affine
from ..sources import SourceStamp
from ..volume import Volume
from .checks import warn_slope_zero
from .pixels import DicomPlan, read_block, stale_files
from .scan import find_files, listing_digest, load_report, save_report, scan_files
from .series import NATIVE_SYNTAXES, GroupOptions, ScanReport, SeriesInfo, build_series

__all__ = ["ScanReport", "SeriesInfo", "open_dicom", "scan"]

_GROUP_OPTIONS = {
    "allow_gaps",
    "fill",
    "instance_order",
    "stack_localizers",
    "spacing_rtol",
    "spacing_atol",
    "split_4d",
    "philips_scaling",
}
_SCAN_OPTIONS = {"workers", "use_index", "follow_symlinks", "progress"}


def scan(
    path: str | os.PathLike[str],
    *,
    progress: bool = False,
    workers: int | None = None,
    use_index: bool = True,
    follow_symlinks: bool = False,
    **options: Any,
) -> ScanReport:
    """List the DICOM volumes under ``path`` without reading pixel data.

    Parameters
    ----------
    path : str or path-like
        A DICOM file or a folder (searched recursively).
    progress : bool
        Show a progress bar (tqdm) while headers are parsed.
    workers : int, optional
        Processes parsing headers (pydicom parsing holds the GIL, so threads do not help); default:
        all cores for large folders, in-process for small ones.
    use_index : bool
        Use and update the persisted scan index in the lazyvol cache directory (an unchanged file is
        not parsed again; changed files are noticed by size and modification time).
    follow_symlinks : bool
        Follow symbolic links (directory loops are detected).
    **options
        Stacking relaxations: ``instance_order=True`` (stack by InstanceNumber when positions are
        missing; geometry flagged approximate), ``stack_localizers=True``, ``spacing_rtol`` /
        ``spacing_atol`` (slice position tolerance, default 1e-3 relative, 1e-3 mm floor),
        ``allow_gaps=True`` with ``fill=`` (fill missing slices on the regular grid),
        ``split_4d=True`` (one 3D volume per echo / temporal position instead of a 4th axis).
        ``instance_order=True`` also stacks repeated positions by InstanceNumber rank when no
        other rule gives a consistent volume order (``meta["axis4_rule"]`` names the rule used).
        ``philips_scaling="fp"``: Philips floating-point values (SV*RS+RI)/(RS*SS) with the
        private scale slope SS (2005,100E), as dcm2niix writes them; the default ``"rescale"``
        applies the DICOM-standard RescaleSlope/RescaleIntercept (Philips "display" values).

    Returns
    -------
    ScanReport
        A list of :class:`SeriesInfo`, one per volume, with ``.skipped`` = [(path, reason), ...].
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise SourceNotFoundError(f"{path}: no such file or directory")
    unknown = set(options) - _GROUP_OPTIONS
    if unknown:
        raise TypeError(
            f"unknown DICOM option(s) {sorted(unknown)}; known: {sorted(_GROUP_OPTIONS)}"
        )
    root = os.path.abspath(path)
    listing = find_files(root, follow_symlinks=follow_symlinks)
    indexed = use_index and os.path.isdir(root)
    digest = listing_digest(listing[0], **options) if indexed else ""
    if indexed:
        doc = load_report(root, digest)
        if doc is not None:
            try:
                infos = [SeriesInfo.from_json(d) for d in doc["series"]]
                return ScanReport(infos, [(str(p), str(r)) for p, r in doc["skipped"]])
            except (KeyError, TypeError, ValueError):
                pass  # unreadable entry: rescan below
    files = scan_files(
        root,
        progress=progress,
        workers=workers,
        use_index=use_index,
        follow_symlinks=follow_symlinks,
        listing=listing,
    )
    infos = build_series(
        files.records, options=GroupOptions(**options), incomplete=files.incomplete
    )
    report = ScanReport(infos, sorted(files.skipped))
    if indexed:
        save_report(
            root, digest, {"series": [i.to_json() for i in infos], "skipped": report.skipped}
        )
    return report


def _candidates(infos: list[SeriesInfo] | ScanReport, report: ScanReport) -> str:
    """One line per volume: how to choose it (``#row``, SeriesNumber, id), what it is."""
    rows = {id(i): n for n, i in enumerate(report)}
    return "\n".join(
        f"  #{rows.get(id(i), '?')}  number={i.number}  id={i.id}  uid={i.uid}  "
        f"description={i.description!r}  shape={tuple(i.shape)}"
        + (f" ({'; '.join(i.reasons[:1])})" if i.reasons else "")
        for i in infos
    )


def _one(found: list[SeriesInfo], report: ScanReport, path: str, what: str) -> SeriesInfo | None:
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise MultipleSeriesError(
            f"{path}: {what} matches {len(found)} volumes; choose one by its id (or '#row'):\n"
            + _candidates(found, report),
            found,
        )
    return None


def _number(value: Any) -> int | None:
    """A SeriesNumber as an int (None when absent or not a number)."""
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _select(report: ScanReport, path: str, series: str | int | None) -> SeriesInfo:
    """The volume ``series`` names in ``report``.

    ``series`` is, in the order tried: ``"#N"`` (row N of :func:`scan`, negative from the end),
    a volume id, a SeriesNumber (an int or a string of digits), a SeriesInstanceUID or a unique
    prefix of one, a SeriesDescription (exact, then a unique case-insensitive substring). A
    choice matching several volumes is a :class:`MultipleSeriesError` listing them.
    """
    if series is None:
        if len(report) == 1:
            return report[0]
        if not report:
            reasons = "; ".join(f"{p}: {r}" for p, r in report.skipped[:5])
            more = f" (and {len(report.skipped) - 5} more)" if len(report.skipped) > 5 else ""
            if not report.skipped:
                raise FormatError(f"{path}: no DICOM file found (the folder holds no files)")
            raise FormatError(f"{path}: no DICOM image volume found. Skipped: {reasons}{more}")
        raise MultipleSeriesError(
            f"{path} holds {len(report)} volumes; choose one with series= (a SeriesNumber, a "
            f"SeriesInstanceUID or a unique prefix, a description, an id, or '#row'):\n"
            + _candidates(report, report),
            list(report),
        )
    if isinstance(series, bool) or not isinstance(series, int | np.integer | str):
        raise TypeError(f"series= takes a str or an int, not {type(series).__name__}")
    s = str(int(series)) if isinstance(series, int | np.integer) else str(series).strip()
    if not s:
        raise SeriesError(f"{path}: series= is empty")
    if s.startswith("#"):
        try:
            row = int(s[1:])
        except ValueError:
            raise SeriesError(
                f"{path}: series={s!r}: '#' must be followed by a row number"
            ) from None
        if not -len(report) <= row < len(report):
            raise SeriesError(
                f"{path}: series={s!r}: there are {len(report)} volumes (rows #0 to "
                f"#{len(report) - 1}):\n" + _candidates(report, report)
            )
        return report[row]
    found = _one([i for i in report if i.id == s], report, path, f"id {s}")
    if found is not None:
        return found
    if s.lstrip("-").isdigit():
        found = _one(
            [i for i in report if _number(i.number) == int(s)],
            report,
            path,
            f"SeriesNumber {s}",
        )
        if found is not None:
            return found
        hint = ""
        if -len(report) <= int(s) < len(report):
            hint = f" (for row {s} of the scan, write '#{s}')"
        raise SeriesError(
            f"{path}: no volume has SeriesNumber {s}{hint}; found:\n" + _candidates(report, report)
        )
    by_uid = [i for i in report if i.uid == s]
    if len(by_uid) > 1:
        raise MultipleSeriesError(
            f"{path}: SeriesInstanceUID {s} was split into {len(by_uid)} volumes; choose one by "
            "its id (or '#row'):\n" + _candidates(by_uid, report),
            by_uid,
        )
    for what, match in (
        ("SeriesInstanceUID", lambda i: i.uid == s),
        ("SeriesInstanceUID prefix", lambda i: bool(i.uid) and i.uid.startswith(s)),
        ("SeriesDescription", lambda i: (i.description or "") == s),
        (
            "SeriesDescription",
            lambda i: (i.description or "").casefold() == s.casefold(),
        ),
        (
            "SeriesDescription substring",
            lambda i: s.casefold() in (i.description or "").casefold(),
        ),
    ):
        found = _one([i for i in report if match(i)], report, path, f"{what} {s!r}")
        if found is not None:
            return found
    raise SeriesError(
        f"{path}: no volume matches series={s!r} (tried id, SeriesNumber, SeriesInstanceUID or its "
        "prefix, SeriesDescription); found:\n" + _candidates(report, report)
    )


#: Default bytes per DICOM slab. Slabs are assembled from one read per slice file, so large
#: slabs buy no I/O efficiency; smaller ones lower the peak memory of reductions (chunk x threads)
#: and pipeline better (measured: 8 MiB slabs of a 512^3 CT mean ~30% faster than 32 MiB, with half
#: the peak memory). An explicit LAZYVOL_CHUNK_SIZE / ``lazyvol.chunk-size`` wins.
DICOM_SLAB_BYTES = 8 * 2**20


def _slab_budget() -> int:
    import dask

    if os.environ.get("LAZYVOL_CHUNK_SIZE") or dask.config.get("lazyvol.chunk-size", None):
        return chunk_budget()
    return min(chunk_budget(), DICOM_SLAB_BYTES)


def _fill_value(fill: Any, out_dtype: np.dtype) -> float:
    """Value of filled-in slices: ``fill`` if given, else NaN for float output and 0 otherwise."""
    if fill is None:
        return float("nan") if out_dtype.kind == "f" else 0.0
    value = float(fill)
    if out_dtype.kind in "iu":
        info = np.iinfo(out_dtype)
        if not (value.is_integer() and info.min <= value <= info.max):
            raise ValueError(f"fill={fill!r} does not fit the output dtype {out_dtype}")
    return value


def open_dicom(
    path: str | os.PathLike[str],
    *,
    series: str | int | None = None,
    chunks: Any = "auto",
    scale: bool = True,
    dtype: Any = None,
    **options: Any,
) -> Volume:
    """Open one DICOM volume lazily (no pixel byte is read until the data is computed).

    Parameters
    ----------
    path : str or path-like
        A DICOM file or a folder of DICOM files (searched recursively).
    series : str or int, optional
        Which volume when there are several: a SeriesNumber, a SeriesInstanceUID or a unique
        prefix, a SeriesDescription (or a unique part), a :attr:`SeriesInfo.id`, or ``"#N"``
        for row N of ``scan(path)`` (see :func:`lazyvol.open`).
    chunks : "auto" or dask chunk spec
        ``"auto"``: slabs of whole slices of at most 8 MiB (or within ``LAZYVOL_CHUNK_SIZE`` /
        ``lazyvol.chunk-size`` when set), one 4th-axis index per chunk.
    scale : bool
        Apply RescaleSlope/RescaleIntercept per slice (narrowest exact dtype, else float32).
    dtype : dtype, optional
        Force the output dtype.
    **options
        Scan options (``workers``, ``use_index``, ``follow_symlinks``, ``progress``) and stacking
        relaxations (see :func:`scan`); relaxations used are recorded in ``vol.meta["relaxations"]``.

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
    FormatError, UnsupportedError, ResourceLimitError
        Unreadable, truncated or not yet supported files; sizes beyond the limits.
    """
    path = os.fspath(path)
    scan_kw = {k: options.pop(k) for k in list(options) if k in _SCAN_OPTIONS}
    report = scan(path, **scan_kw, **options)
    info = _select(report, path, series)
    if info.error and info.error_kind == "unsupported" and scan_kw.get("use_index", True):
        # Support can change without the files changing (a decoder installed since): re-check.
        scan_kw["use_index"] = False
        info = _select(scan(path, **scan_kw, **options), path, series)
    if info.error:
        cls = {"format": FormatError, "unsupported": UnsupportedError}.get(
            info.error_kind, SeriesError
        )
        raise cls(info.error)
    frames = info.frames
    assert frames is not None
    stored = frames.stored_dtype
    if not scale:
        out_dtype = np.dtype(dtype) if dtype is not None else stored
    else:
        out_dtype = np.dtype(dtype) if dtype is not None else np.dtype(info.dtype)
    shape = tuple(info.shape)
    nbytes = int(np.prod(shape, dtype=object)) * out_dtype.itemsize
    if nbytes > max_volume_bytes():
        raise ResourceLimitError(
            f"{path}: volume {info.id} of shape {shape} ({out_dtype}) needs {nbytes} bytes, over "
            f"the limit of {max_volume_bytes()} (raise LAZYVOL_MAX_VOLUME_BYTES if this is real)"
        )
    plan = DicomPlan(
        paths=frames.paths,
        offsets=frames.offsets,
        sizes=frames.sizes,
        lengths=frames.lengths,
        slopes=frames.slopes,
        inters=frames.inters,
        rows=frames.rows,
        columns=frames.columns,
        nk=shape[2],
        bits_allocated=frames.bits_allocated,
        bits_stored=frames.bits_stored,
        signed=frames.signed,
        little_endian=frames.little_endian,
        swap_ow8=(
            not frames.little_endian and frames.bits_allocated == 8 and frames.pixel_vr == "OW"
        ),
        out_dtype=out_dtype.str,
        scale=bool(scale),
        encapsulated_syntax=""
        if frames.transfer_syntax in NATIVE_SYNTAXES
        else frames.transfer_syntax,
        photometric=frames.photometric,
        fill=_fill_value(options.get("fill"), out_dtype),
        stamps=tuple(
            SourceStamp(p, *ident) if p else None
            for p, ident in zip(frames.paths, frames.idents, strict=False)
        )
        if len(frames.idents) == len(frames.paths)
        else (),
        tiles=frames.tiles,
        mosaic=frames.mosaic,
    )
    changed = stale_files(plan)
    if changed:
        raise SourceChangedError(
            f"{path}: {len(changed)} file(s) changed since they were scanned (e.g. {changed[0]}); "
            "open again to rescan"
        )
    if chunks is None or (isinstance(chunks, str) and chunks == "auto"):
        chunks = auto_chunks(shape, out_dtype.itemsize, spatial_ndim=3, budget=_slab_budget())
    norm = normalize_chunks(chunks, shape, out_dtype, spatial_ndim=3)
    token = file_fingerprint(
        sorted(set(frames.paths) - {""}),
        series=info.id,
        scale=bool(scale),
        dtype=out_dtype.str,
        chunks=norm,
        relaxations=dict(sorted(options.items())),
    )
    data = plan_to_dask(read_block, plan, shape, norm, out_dtype, f"lazyvol-dicom-{token}")
    meta = dict(info.meta)
    # The files this volume reads: the cache keys its entries by exactly these.
    meta["files"] = sorted(set(frames.paths) - {""})
    meta["series_id"] = info.id
    meta["scaled"] = bool(scale)
    if info.axis4:
        meta["axis4"] = info.axis4
    if info.warnings:
        meta["warnings"] = list(info.warnings)
    if meta.get("rescale_slope_zero"):
        warn_slope_zero(meta["rescale_slope_zero"])
    affine = check_affine(
        info.affine, path, "ImagePositionPatient/ImageOrientationPatient/PixelSpacing"
    )
    return Volume(data, affine, meta=meta, source=os.path.abspath(path))
