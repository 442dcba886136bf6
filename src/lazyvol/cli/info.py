"""``lazyvol info``: one volume's shape, geometry and sizes, or the table of series in a DICOM
folder (or bucket prefix) with the files skipped and why; ``--header`` prints the full header."""

from __future__ import annotations

import argparse
import os
import posixpath
from collections.abc import Sequence
from typing import Any

from .._units import human_bytes
from ..sources import HEADER_FILES_KEY
from ._common import (
    CommandError,
    _check_series_applies,
    _check_source,
    _cli_message,
    _disk_size,
    _files_size,
    _is_dicom_folder,
    _print_json,
    _print_rows,
    _series_arg,
    _series_row,
    _series_text,
    _short,
    _show_progress,
    _table,
    one_line,
    short_path,
)
from ._dicom_options import dicom_kwargs
from ._reasons import short_reason, skip_counts
from ._sources import display_source, is_url, source_kwargs

#: Reasons for skipping files shown without --verbose (the most frequent first).
MAX_REASONS = 12


# -- sizes -----------------------------------------------------------------------------------------


def _url(f: Any) -> str:
    """A file as a string: a path, a URL, or the URL of a ``lazyvol._io.Location``."""
    return str(getattr(f, "url", f))


def _remote_sizes(root: str, kwargs: dict[str, Any]) -> dict[str, int]:
    """Size of every object under a URL (one listing; a single object: one HEAD request)."""
    from .. import _io
    from ..errors import LazyvolError

    loc = _io.Location.of(root, kwargs.get("storage_options"))
    if not loc.names_prefix:  # (a URL ending in "/": an HTTP server's index page is no object)
        try:
            return {loc.url: _io.stamp(loc).size}
        except LazyvolError:
            pass  # a prefix, not an object
    return {child.url: st.size for child, st in _io.list_objects(loc)}


def _source_size(path: str, files: Sequence[Any] | None, kwargs: dict[str, Any]) -> int | None:
    """Bytes of the files a volume comes from (all of ``path`` when it does not list them)."""
    if not is_url(path):
        return _files_size([_url(f) for f in files]) if files else _disk_size(path)
    from ..errors import LazyvolError

    try:
        sizes = _remote_sizes(path, kwargs)
    except LazyvolError:
        return None
    if not files:
        return sum(sizes.values())
    return sum(sizes.get(_url(f), 0) for f in set(map(_url, files)))


def _is_dicom_source(path: str, kwargs: dict[str, Any]) -> bool:
    """Whether ``path`` is a DICOM folder, or a bucket prefix that is neither an object nor a
    Zarr store (so ``info`` scans it for series).

    Raises
    ------
    SourceNotFoundError
        A URL naming neither an object nor a prefix.
    RemoteAccessError, RemoteReadError
        The server refused or failed (as it would for the open that follows).
    """
    if not is_url(path):
        return _is_dicom_folder(path)
    from .. import _io
    from ..errors import FormatError, SourceNotFoundError

    loc = _io.Location.of(path, kwargs.get("storage_options"))
    try:
        if loc.names_prefix:  # (an HTTP server answers it with an index page: no object)
            raise SourceNotFoundError(loc.display)
        _io.stamp(loc)
        return False  # an object: one file
    except SourceNotFoundError:
        if not _io.list_objects(loc):
            raise SourceNotFoundError(f"{loc.display}: no such object or prefix") from None
    except FormatError:
        pass  # a prefix (directory)
    if path.rstrip("/").lower().endswith(".zarr"):
        return False
    from .._zarr_folder import ZARR_METADATA

    for name in ZARR_METADATA:
        try:  # (by HEAD: a metadata file the server encodes on the fly states no size)
            if _io.kind(loc.join(name)) == "file":
                return False
        except (SourceNotFoundError, FormatError):
            continue
    return True


# -- one volume ------------------------------------------------------------------------------------


def volume_info(vol: Any, path: str, storage: dict[str, Any] | None = None) -> dict[str, Any]:
    """The facts ``lazyvol info`` shows for one volume (JSON-friendly).

    ``storage`` holds ``storage_options`` for a URL (used to size the source's objects).
    """
    import math

    from ..nifti_fields import extension_bytes
    from ..zarr_nifti import axis4_step, space_unit

    step_unit = axis4_step(vol.meta)[1] if vol.ndim > 3 else None
    step_unit = None if step_unit == "unknown" else step_unit
    chunk_shape = tuple(int(c[0]) for c in vol.chunks)
    n_chunks = math.prod(len(c) for c in vol.chunks)
    chunk_bytes = math.prod(chunk_shape) * vol.dtype.itemsize
    # (the files' identity token is lazyvol's own bookkeeping, not metadata: it moves with a chmod)
    hidden = ("axis4_values", "files", HEADER_FILES_KEY)
    meta = {k: v for k, v in vol.meta.items() if k not in hidden}
    fields = meta.get("nifti_fields")
    if isinstance(fields, dict) and fields.get("extensions"):
        # (a header extension's bytes, a CIFTI XML or a DICOM header, can run to megabytes: their
        # codes and sizes; vol.header.extensions has them)
        found = [extension_bytes(item) for item in fields["extensions"]]
        shown = [{"code": f[0], "bytes": len(f[1])} for f in found if f is not None]
        meta["nifti_fields"] = {**fields, "extensions": shown}
    files = vol.meta.get("files")
    listed = files if isinstance(files, list) and files else None
    written_from = _written_from(vol, path, storage or {})
    if written_from is not None:
        # A lazyvol store keeps its source's metadata (format, file list): the store is what is
        # described, on disk; the source's format is named as such (it showed "format DICOM",
        # "files 150" and the DICOM files' size for a store written from a DICOM series)
        files = listed = None
    out = {
        "path": display_source(path),
        "format": "zarr" if written_from is not None else vol.meta.get("format", ""),
        "shape": list(vol.shape),
        "dtype": str(vol.dtype),
        "voxel_size": [float(s) for s in vol.spacing],
        # the units of voxel_size: the affine's, then the 4th axis step's (None: not stated)
        "voxel_units": [space_unit(vol.meta)] * 3 + ([step_unit] if len(vol.spacing) > 3 else []),
        "orientation": vol.orientation,
        "affine": [[float(x) for x in row] for row in vol.affine],
        "chunks": {"shape": list(chunk_shape), "count": n_chunks, "bytes": chunk_bytes},
        "files": len(set(files)) if isinstance(files, list) else None,  # (frames of one: 1)
        "size_on_disk": _source_size(path, listed, storage or {}),
        "size_in_memory": int(vol.nbytes),
        "meta": meta,
    }
    if written_from is not None:
        out["source_format"] = written_from
    return out


def _written_from(vol: Any, path: str, storage: dict[str, Any]) -> str | None:
    """The format of the source a lazyvol Zarr store at ``path`` was written from (``"DICOM"``,
    ``"nifti1"``, ...); None when ``path`` is no lazyvol store (a source file or folder, or a
    store another tool wrote: ``"ome-zarr"``)."""
    from ..errors import LazyvolError
    from ..formats.registry import pick

    found = vol.meta.get("format")
    if not isinstance(found, str) or not found or found == "ome-zarr":
        return None
    try:
        reader = pick(_io_location(path, storage))
    except LazyvolError:
        return None
    return found if reader.name == "zarr" else None


def _io_location(path: str, storage: dict[str, Any]) -> Any:
    from .. import _io

    return _io.Location.of(path, storage.get("storage_options"))


def _voxel_text(sizes: list[float], units: list[str | None]) -> str:
    """``2 x 2 x 2 mm, 1500 msec``: the voxel size in the affine's unit, then the 4th axis'
    step in its own."""
    text = " x ".join(f"{v:.6g}" for v in sizes[:3]) + f" {units[0]}"
    if len(sizes) > 3:
        text += f", {sizes[3]:.6g}" + (f" {units[3]}" if units[3] else " (unit not stated)")
    return text


def _size_text(n: int | None) -> str:
    return "unknown" if n is None else f"{human_bytes(n)} ({n} bytes)"


def _print_volume_info(info: dict[str, Any], series: dict[str, Any] | None = None) -> None:
    rows: list[tuple[str, str]] = [("path", info["path"])]
    if series is not None:
        rows += [
            ("series", _series_text(series)),
            ("modality", series["modality"] or "-"),
            ("uid", series["uid"] or "-"),
            ("volume id", series["id"] or "-"),
        ]
    shown = info["format"] or "-"
    if info.get("source_format"):
        shown += f" (written from {info['source_format']})"
    rows += [
        ("format", shown),
        ("shape", " x ".join(str(s) for s in info["shape"])),
        ("dtype", info["dtype"]),
        ("voxel size", _voxel_text(info["voxel_size"], info["voxel_units"])),
        ("orientation", info["orientation"]),
        (
            "chunks",
            f"{' x '.join(str(s) for s in info['chunks']['shape'])} "
            f"({info['chunks']['count']} chunks of {human_bytes(info['chunks']['bytes'])})",
        ),
    ]
    if info.get("files"):
        rows.append(("files", str(info["files"])))
    rows += [
        ("size on disk", _size_text(info["size_on_disk"])),
        (
            "size in memory",
            f"{human_bytes(info['size_in_memory'])} ({info['size_in_memory']} bytes)",
        ),
    ]
    axis4 = info["meta"].get("axis4")
    if axis4:
        rows.append(("4th axis", str(axis4)))
    _print_rows(rows)
    print("affine")
    for row in info["affine"]:
        print("  " + "  ".join(f"{x:12.6g}" for x in row))
    bids = info["meta"].get("bids")
    if isinstance(bids, dict) and bids:
        print("acquisition (BIDS names)")
        _print_rows([(f"  {k}", _short(v)) for k, v in bids.items()])
    for note in info["meta"].get("warnings", []) or []:
        print(f"warning: {_cli_message(str(note))}")


# -- a folder of series ----------------------------------------------------------------------------


def _dtype_name(value: Any) -> str | None:
    if not value:
        return None
    import numpy as np

    try:
        return str(np.dtype(value).name)
    except TypeError:
        return str(value)


def _folder(files: Sequence[str], root: str) -> str | None:
    """The folder (or prefix) holding ``files``, relative to ``root``."""
    if not files:
        return None
    if is_url(root):
        common = posixpath.commonpath([posixpath.dirname(f.split("://", 1)[-1]) for f in files])
        base = root.split("://", 1)[-1].rstrip("/")
        rel = posixpath.relpath(common, base) if common.startswith(base) else common
        return "." if rel == "." else rel
    folder = os.path.commonpath([os.path.dirname(f) for f in files])
    if root:
        rel = os.path.relpath(folder, root)
        folder = "." if rel == "." else rel
    return folder


def _geometry(affine: Any) -> dict[str, Any]:
    if affine is None:
        return {"voxel_size": None, "orientation": None, "affine": None}
    import numpy as np

    from ..geometry import orientation_codes, voxel_sizes

    a = np.asarray(affine)
    return {
        "voxel_size": [float(v) for v in voxel_sizes(a)],
        "orientation": orientation_codes(a),
        "affine": a.tolist(),
    }


def _series_rows(
    report: Any, root: str, sizes: dict[str, int] | None = None
) -> list[dict[str, Any]]:
    rows = []
    for i, s in enumerate(report):
        files = [_url(f) for f in (getattr(s, "files", None) or [])]
        error = getattr(s, "error", None) or None
        ok = error is None
        if error is not None:  # its hint as the command's flags (allow_gaps=True: --allow-gaps)
            error = _cli_message(error)
        geometry = _geometry(getattr(s, "affine", None) if ok else None)
        size = _files_size(files) if sizes is None else sum(sizes.get(f, 0) for f in set(files))
        rows.append(
            {
                "index": i,
                "id": getattr(s, "id", None),
                "uid": getattr(s, "uid", None),
                "number": getattr(s, "number", None),
                "description": getattr(s, "description", None),
                "modality": getattr(s, "modality", None),
                "shape": list(s.shape) if ok and getattr(s, "shape", None) is not None else None,
                "voxel_size": geometry["voxel_size"],
                "orientation": geometry["orientation"],
                "dtype": _dtype_name(getattr(s, "dtype", None)) if ok else None,
                "status": "ok" if ok else f"refused: {short_reason(error or '', files)}",
                "folder": _folder(files, root),
                "files": len(set(files)),  # (an enhanced file's frames: one file)
                "size_on_disk": size,
                "axis4": getattr(s, "axis4", None),
                "affine": geometry["affine"],
                # (as the error: Python keywords as the command's flags, split_4d=True: --split-4d)
                "reasons": [_cli_message(str(r)) for r in getattr(s, "reasons", None) or []],
                "warnings": [_cli_message(str(w)) for w in getattr(s, "warnings", None) or []],
                "error": error,
            }
        )
    return rows


def _print_series_table(
    path: str, rows: list[dict[str, Any]], skipped: list[Any], verbose: bool
) -> None:
    print(f"{display_source(path)}: {len(rows)} volume(s), {len(skipped)} skipped file(s)")
    header = [
        "#",
        "number",
        "description",
        "modality",
        "shape",
        "voxel (mm)",
        "orient",
        "dtype",
        "files",
        "size",
        "folder",
        "status",
    ]
    table = [
        [
            f"#{r['index']}",
            "" if r["number"] is None else str(r["number"]),
            _short(r["description"] or "", 32),
            r["modality"] or "",
            "x".join(str(n) for n in r["shape"]) if r["shape"] else "-",
            "x".join(f"{v:.3g}" for v in r["voxel_size"]) if r["voxel_size"] else "-",
            r["orientation"] or "-",
            r["dtype"] or "-",
            str(r["files"]),
            human_bytes(r["size_on_disk"]),
            short_path(r["folder"] or "", 40),
            r["status"],
        ]
        for r in rows
    ]
    _table(header, table, right={1, 8, 9})
    for r in rows:
        for note in r["reasons"]:
            print(f"  #{r['index']} split: {note}")
        for note in r["warnings"]:
            print(f"  #{r['index']} warning: {note}")
        if r.get("error"):
            print(f"  #{r['index']} refused: {r['error']}")
    _print_skipped(skipped, verbose)
    if any(not r["error"] for r in rows):  # (none to choose when every volume is refused)
        print(
            "choose a volume with --series NUMBER, UID (or a unique prefix), DESCRIPTION, or #ROW"
        )


def _print_skipped(skipped: list[Any], verbose: bool) -> None:
    """The files a folder's scan skipped, counted by reason (``verbose``: each file too)."""
    if not skipped:
        return
    print(f"skipped {len(skipped)} file(s):")
    counts = skip_counts(skipped).most_common()
    shown = counts if verbose else counts[:MAX_REASONS]
    for reason, n in shown:
        print(f"  {n:>6}  {one_line(reason)}")
    if len(shown) < len(counts):
        rest = sum(n for _, n in counts[len(shown) :])
        print(f"  {rest:>6}  for {len(counts) - len(shown)} other reason(s)")
    if verbose:
        for item in skipped:
            print(f"  {one_line(item[0])}: {one_line(item[1])}")
    else:
        print("  (--verbose lists the files)")
    from ..dicom.choose import other_formats_hint

    hint = other_formats_hint(skipped)  # NIfTI files or Zarr stores beside the DICOM volumes
    if hint:
        print(f"  {hint.removeprefix('; ')}")


# -- the command -----------------------------------------------------------------------------------


def _series_report(
    args: argparse.Namespace, kwargs: dict[str, Any], opts: dict[str, Any]
) -> tuple[Any, list[Any]]:
    """Scan the folder (or prefix); refuse one holding no image volume."""
    import lazyvol as lv

    from ..dicom.choose import other_formats_hint
    from ..errors import FormatError

    path = args.path
    scan: Any = lv.scan  # the function (mypy sees the lazyvol.dicom.scan module)
    report = scan(path, progress=_show_progress(args), **kwargs, **opts)
    # (their hints as the command's flags: "pass follow_symlinks=True" is --follow-symlinks)
    skipped = [[p, _cli_message(str(r))] for p, r in getattr(report, "skipped", [])]
    if report:
        return report, skipped
    if not skipped:
        raise FormatError(f"{display_source(path)}: no files found in this folder")
    hint = other_formats_hint(skipped)
    if args.verbose:
        raise FormatError(
            f"{display_source(path)}: no DICOM image volume found; skipped: "
            + "; ".join(f"{p}: {r}" for p, r in skipped)
            + hint
        )
    reasons = ", ".join(f"{n} {r}" for r, n in skip_counts(skipped).most_common(3))
    raise FormatError(
        f"{display_source(path)}: no DICOM image volume found; {len(skipped)} file(s) skipped "
        f"({reasons}); lazyvol info --verbose lists them{hint}"
    )


def _refuse_all_refused(path: str, rows: list[dict[str, Any]], as_json: bool) -> None:
    """Fail (status 2, after the report is printed) when no volume of the folder can be opened,
    as ``stats`` and ``convert`` fail on it: the report says why, but the folder gives no volume.
    A folder where some volumes open is a report that succeeded (``--series`` picks one).

    Raises
    ------
    SeriesError
        Every row of ``rows`` is refused.
    """
    if not rows or not all(r["error"] for r in rows):
        return
    from ..errors import SeriesError

    where = 'each series\' "error" in the JSON' if as_json else "the table above"
    what = "its only volume" if len(rows) == 1 else f"none of its {len(rows)} volumes"
    verb = "cannot" if len(rows) == 1 else "can"
    raise SeriesError(f"{display_source(path)}: {what} {verb} be opened; {where} says why")


def _open_reported(
    args: argparse.Namespace, path: str, kwargs: dict[str, Any], opts: dict[str, Any]
) -> Any:
    """``lv.open`` of the volume ``info`` reports on. Its own warnings (``meta["warnings"]``: a
    dropped duplicate, an emptied slice, a series short of its stated count), which ``lv.open``
    also gives as Python warnings, are said once: the text report lists them, so they are not
    printed again as ``lazyvol: warning:`` lines; other warnings pass on as given. (Under
    ``-W error`` the first warning still ends the command, as before.)"""
    import warnings

    import lazyvol as lv

    with warnings.catch_warnings(record=True) as caught:
        vol = lv.open(path, series=_series_arg(args.series), **kwargs, **opts)
    listed = set() if args.json else {str(n) for n in vol.meta.get("warnings") or []}
    for w in caught:
        text = str(w.message)
        if text.removeprefix("lazyvol: ") not in listed:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return vol


def cmd_info(args: argparse.Namespace) -> int:
    """``lazyvol info``."""
    path = args.path
    kwargs = source_kwargs(args, path)
    _check_source(path)
    _check_series_applies(path, args.series)
    opts = dicom_kwargs(args, path)  # refused for a NIfTI file or a Zarr store
    if args.header:
        return _cmd_header(args)
    series_row = None
    skipped: list[Any] = []
    # (--verbose, a verbosity flag, is accepted everywhere: it adds to the scan table only.)
    scanned = _is_dicom_source(path, kwargs)
    table = args.series is None and scanned
    if scanned and not table and args.json:  # --series: the folder's skipped files, as below
        skipped = _series_report(args, kwargs, opts)[1]
    if table:
        report, skipped = _series_report(args, kwargs, opts)
        sizes = _remote_sizes(path, kwargs) if is_url(path) else None
        root = path if is_url(path) else os.path.abspath(path)
        rows = _series_rows(report, root, sizes)
        if len(rows) != 1 or rows[0]["error"]:
            try:
                if args.json:
                    _print_json(
                        {
                            "path": display_source(path),
                            "series": rows,
                            "skipped": skipped,
                            "skipped_by_reason": dict(skip_counts(skipped).most_common()),
                        }
                    )
                else:
                    _print_series_table(path, rows, skipped, args.verbose)
            except BrokenPipeError:  # (the report's reader left: the folder is still refused)
                _refuse_all_refused(path, rows, args.json)
                raise
            _refuse_all_refused(path, rows, args.json)
            return 0
        series_row = rows[0]
    vol = _open_reported(args, path, kwargs, opts)
    info = volume_info(vol, path, kwargs)
    if series_row is None and args.series is not None:
        series_row = _series_row(vol)
    if args.json:
        if series_row is not None:
            info["series"] = {
                k: series_row.get(k) for k in ("number", "description", "modality", "uid", "id")
            }
        if scanned:  # the folder's other files, which the one volume does not hold (maybe none:
            # the keys are there whenever the source was scanned, as in the table's form, also
            # for the volume --series picks)
            info["skipped"] = skipped
            info["skipped_by_reason"] = dict(skip_counts(skipped).most_common())
        _print_json(info)
    else:
        _print_volume_info(info, series_row)
        _print_skipped(skipped, args.verbose)
    return 0


def _cmd_header(args: argparse.Namespace) -> int:
    from ..formats import pick
    from ..headers import format_header, header_to_dict, source_header

    if is_url(args.path):
        # (a remote NIfTI's header is read again from its object; a remote DICOM series' is
        # refused with the reason, as vol.header refuses it)
        import lazyvol as lv

        from ..headers import volume_header

        hdr = volume_header(lv.open(args.path, **source_kwargs(args, args.path)))
    else:
        if args.slice is not None and pick(args.path).name != "dicom":
            raise CommandError(
                f"--slice {args.slice}: {args.path} is not DICOM; it has one header, not one "
                "per slice: drop --slice"
            )
        index = 0 if args.slice is None else args.slice
        opts = dicom_kwargs(args, args.path)
        hdr = source_header(args.path, series=_series_arg(args.series), index=index, **opts)
    if args.json:
        _print_json(header_to_dict(hdr))
    else:
        print(format_header(hdr))
    return 0
