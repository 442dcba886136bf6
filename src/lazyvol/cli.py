"""The ``lazyvol`` command: inspect, summarise and convert image volumes from the shell.

Run ``lazyvol --help`` or ``lazyvol SUBCOMMAND --help``. ``python -m lazyvol`` is the same command.
Errors raised by lazyvol on bad input print one line on stderr and exit with status 2 (the full
traceback with ``--debug``); anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import sys
import textwrap
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .errors import LazyvolError

__all__ = ["main"]

#: Exit status for lazyvol errors (bad input, unreadable files) -- argparse uses 2 for usage errors too.
EXIT_ERROR = 2


class CommandError(LazyvolError):
    """A command cannot run as asked (unknown output format, unreachable scheduler, ...)."""


# -- helpers -------------------------------------------------------------------------------------------


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def _disk_size(path: str) -> int:
    if os.path.isfile(path):
        total = os.path.getsize(path)
        if path.lower().endswith((".hdr", ".hdr.gz")):
            stem = path[: -len(".hdr.gz")] if path.lower().endswith(".gz") else path[:-4]
            for ext in (".img", ".img.gz", ".IMG"):
                if os.path.isfile(stem + ext):
                    total += os.path.getsize(stem + ext)
        return total
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(root, f))
    return total


def _series_arg(value: str | None) -> str | int | None:
    if value is None:
        return None
    return int(value) if value.isdigit() else value


def _show_progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, _dt.datetime):
        return x.isoformat()
    if isinstance(x, bytes | os.PathLike):
        return os.fsdecode(x)
    return x


def _print_json(obj: Any) -> None:
    json.dump(_jsonable(obj), sys.stdout, indent=2)
    sys.stdout.write("\n")


@contextlib.contextmanager
def _scheduler(spec: str | None) -> Iterator[None]:
    """Run the command's computations on ``spec``: threads, processes or a distributed address."""
    if spec is None:
        # dask's default for arrays is the threaded scheduler: nothing to set, and commands that
        # never compute (``info`` on one file) do not pay dask's import.
        yield
        return
    import dask

    if spec in ("threads", "threaded"):
        with dask.config.set(scheduler="threads"):
            yield
        return
    if spec in ("processes", "synchronous", "sync", "single-threaded"):
        with dask.config.set(scheduler=spec):
            yield
        return
    try:
        from distributed import Client
    except ImportError as exc:
        raise CommandError(
            f"--scheduler {spec}: dask.distributed is not installed (pip install 'lazyvol[distributed]')"
        ) from exc
    try:
        client = Client(spec, timeout=dask.config.get("distributed.comm.timeouts.connect", "30s"))
    except (OSError, TimeoutError, ValueError) as exc:
        raise CommandError(
            f"--scheduler {spec}: cannot connect to a dask scheduler there: {exc}"
        ) from exc
    try:
        with client.as_current():
            yield
    finally:
        client.close()


def _get_scan() -> Any:
    import lazyvol

    scan = getattr(lazyvol, "scan", None)
    if scan is None:
        try:
            from .dicom import scan  # type: ignore[attr-defined,no-redef]
        except ImportError as exc:
            raise CommandError(
                "this lazyvol build cannot scan DICOM folders (lazyvol.scan is missing)"
            ) from exc
    return scan


def _is_dicom_folder(path: str) -> bool:
    return os.path.isdir(path) and not os.path.isfile(os.path.join(path, "zarr.json"))


# -- info ----------------------------------------------------------------------------------------------


def volume_info(vol: Any, path: str) -> dict[str, Any]:
    """The facts ``lazyvol info`` shows for one volume (JSON-friendly)."""
    chunk_shape = tuple(int(c[0]) for c in vol.chunks)
    n_chunks = int(np.prod([len(c) for c in vol.chunks]))
    chunk_bytes = int(np.prod(chunk_shape)) * vol.dtype.itemsize
    meta = {k: v for k, v in vol.meta.items() if k != "axis4_values"}
    return {
        "path": os.path.abspath(path),
        "format": vol.meta.get("format", ""),
        "shape": list(vol.shape),
        "dtype": str(vol.dtype),
        "voxel_size": [float(s) for s in vol.spacing],
        "orientation": vol.orientation,
        "affine": np.asarray(vol.affine).tolist(),
        "chunks": {"shape": list(chunk_shape), "count": n_chunks, "bytes": chunk_bytes},
        "size_on_disk": _disk_size(path),
        "size_in_memory": int(vol.nbytes),
        "meta": meta,
    }


def _print_volume_info(info: dict[str, Any]) -> None:
    rows = [
        ("path", info["path"]),
        ("format", info["format"] or "-"),
        ("shape", " x ".join(str(s) for s in info["shape"])),
        ("dtype", info["dtype"]),
        ("voxel size", " x ".join(f"{v:.6g}" for v in info["voxel_size"])),
        ("orientation", info["orientation"]),
        (
            "chunks",
            f"{' x '.join(str(s) for s in info['chunks']['shape'])} "
            f"({info['chunks']['count']} chunks of {_human_bytes(info['chunks']['bytes'])})",
        ),
        ("size on disk", f"{_human_bytes(info['size_on_disk'])} ({info['size_on_disk']} bytes)"),
        (
            "size in memory",
            f"{_human_bytes(info['size_in_memory'])} ({info['size_in_memory']} bytes)",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print("affine")
    for row in info["affine"]:
        print("  " + "  ".join(f"{x:12.6g}" for x in row))


def _series_rows(report: Any) -> list[dict[str, Any]]:
    rows = []
    for i, s in enumerate(report):
        files = getattr(s, "files", None)
        nfiles = len(files) if isinstance(files, list | tuple) else files
        affine = getattr(s, "affine", None)
        rows.append(
            {
                "index": i,
                "id": getattr(s, "id", None),
                "uid": getattr(s, "uid", None),
                "number": getattr(s, "number", None),
                "description": getattr(s, "description", None),
                "modality": getattr(s, "modality", None),
                "shape": list(s.shape) if getattr(s, "shape", None) is not None else None,
                "files": nfiles,
                "axis4": getattr(s, "axis4", None),
                "affine": None if affine is None else np.asarray(affine).tolist(),
                "reasons": list(getattr(s, "reasons", None) or []),
                "warnings": list(getattr(s, "warnings", None) or []),
                "error": getattr(s, "error", None) or None,
            }
        )
    return rows


def _print_series_table(path: str, rows: list[dict[str, Any]], skipped: list[Any]) -> None:
    print(f"{os.path.abspath(path)}: {len(rows)} volume(s), {len(skipped)} skipped file(s)")
    header = ["#", "number", "modality", "shape", "files", "description", "uid"]
    table = [
        [
            str(r["index"]),
            "" if r["number"] is None else str(r["number"]),
            r["modality"] or "",
            "x".join(str(n) for n in r["shape"]) if r["shape"] else "",
            "" if r["files"] is None else str(r["files"]),
            (r["description"] or "")[:40],
            r["uid"] or "",
        ]
        for r in rows
    ]
    widths = [
        max(len(h), *(len(t[i]) for t in table)) if table else len(h) for i, h in enumerate(header)
    ]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths)))
    for r in rows:
        for note in r["reasons"]:
            print(f"  [{r['index']}] split: {note}")
        for note in r["warnings"]:
            print(f"  [{r['index']}] warning: {note}")
        if r.get("error"):
            print(f"  [{r['index']}] cannot open: {r['error']}")
    if skipped:
        print("skipped files:")
        for item in skipped:
            p, reason = (item[0], item[1]) if isinstance(item, tuple | list) else (item, "")
            print(f"  {p}: {reason}")


def cmd_info(args: argparse.Namespace) -> int:
    import lazyvol as lv

    path = args.path
    if not os.path.exists(path):
        from .errors import SourceNotFoundError

        raise SourceNotFoundError(f"{path}: no such file or directory")
    if _is_dicom_folder(path) and args.series is None:
        scan = _get_scan()
        report = scan(path, progress=_show_progress(args))
        rows = _series_rows(report)
        skipped = [list(x) if isinstance(x, tuple) else x for x in getattr(report, "skipped", [])]
        if args.json:
            _print_json({"path": os.path.abspath(path), "series": rows, "skipped": skipped})
        else:
            _print_series_table(path, rows, skipped)
        return 0
    vol = lv.open(path, series=_series_arg(args.series))
    info = volume_info(vol, path)
    if args.json:
        _print_json(info)
    else:
        _print_volume_info(info)
    return 0


# -- stats ---------------------------------------------------------------------------------------------


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float | np.floating):
        return f"{x:.6g}"
    return str(x)


def cmd_stats(args: argparse.Namespace) -> int:
    import lazyvol as lv

    from ._stats import stats

    vol = lv.open(args.path, series=_series_arg(args.series))
    mask = lv.open(args.mask) if args.mask else None
    kwargs: dict[str, Any] = {"bins": args.bins, "exact_percentiles": args.exact_percentiles}
    if args.range:
        kwargs["range"] = tuple(args.range)
    if args.percentiles:
        kwargs["percentiles"] = tuple(float(p) for p in args.percentiles.split(","))
    if args.per_volume:
        kwargs["axis"] = tuple(range(3))
    res = stats(vol, mask=mask, progress=_show_progress(args), **kwargs)
    d = res.to_dict()
    d = {"path": os.path.abspath(args.path), "mask": args.mask and os.path.abspath(args.mask), **d}
    if args.json:
        _print_json(d)
        return 0
    print(f"{d['path']}  {vol.dtype}  {' x '.join(str(s) for s in vol.shape)}")
    if args.mask:
        print(f"mask     {d['mask']}")
    rows = [res] if not res.shape else [res[i] for i in np.ndindex(*res.shape)]
    for idx, r in enumerate(rows):
        if res.shape:
            print(f"-- volume {idx}")
        for name in ("count", "nan_count", "nonzero", "min", "max", "sum", "mean", "std"):
            print(f"{name:<10}{_fmt(getattr(r, name))}")
        if r.q:
            pct = "  ".join(
                f"p{q:g}={_fmt(v)}" for q, v in zip(r.q, np.atleast_1d(r.percentiles).tolist())
            )
            err = np.atleast_1d(r.percentile_error)
            bound = "exact" if np.all(err == 0) else f"+/- {_fmt(float(np.nanmax(err)))}"
            print(f"percentiles ({bound}): {pct}")
    print(f"(read the data {res.passes} time(s))")
    return 0


# -- convert -------------------------------------------------------------------------------------------


def cmd_convert(args: argparse.Namespace) -> int:
    import lazyvol as lv

    dst = args.dst
    low = dst.lower().rstrip("/")
    if low.endswith(".zarr"):
        kind = "zarr"
    elif low.endswith((".nii", ".nii.gz")):
        kind = "nifti"
    else:
        raise CommandError(
            f"{dst}: unknown output format; the destination must end in .zarr, .nii or .nii.gz"
        )
    if os.path.abspath(dst) == os.path.abspath(args.src):
        raise CommandError(f"{dst}: the destination is the source")
    vol = lv.open(args.src, series=_series_arg(args.series))
    progress = _show_progress(args)
    try:
        if kind == "zarr":
            out = vol.to_zarr(dst, overwrite=args.overwrite, progress=progress)
        else:
            out = vol.to_nifti(dst, overwrite=args.overwrite, progress=progress)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("lazyvol"):
            raise CommandError(
                f"this lazyvol build cannot write {kind} yet ({exc.name} is missing)"
            ) from exc
        raise
    if not args.quiet:
        print(f"wrote {out or dst}  ({' x '.join(str(s) for s in vol.shape)} {vol.dtype})")
    return 0


# -- cache ---------------------------------------------------------------------------------------------


def _cache_module() -> Any:
    try:
        from . import cache
    except ImportError as exc:
        raise CommandError("this lazyvol build has no cache module yet (lazyvol.cache)") from exc
    return cache


def cmd_cache(args: argparse.Namespace) -> int:
    cache = _cache_module()
    cache_dir = args.cache_dir
    if args.action == "list":
        entries = list(cache.list_entries(cache_dir=cache_dir))
        rows = [
            {
                "key": e.key,
                "path": os.fspath(e.path),
                "size_bytes": int(e.size_bytes),
                "source": e.source,
                "created": e.created,
            }
            for e in entries
        ]
        if args.json:
            _print_json(rows)
            return 0
        if not rows:
            print("the cache is empty")
            return 0
        for r in rows:
            created = r["created"]
            if isinstance(created, int | float):
                created = _dt.datetime.fromtimestamp(created).isoformat(timespec="seconds")
            print(f"{r['key']}  {_human_bytes(r['size_bytes']):>10}  {created}  {r['source']}")
        total = sum(r["size_bytes"] for r in rows)
        print(f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'}, {_human_bytes(total)}")
        return 0
    older = None if args.older_than is None else _dt.timedelta(days=args.older_than)
    n = cache.clear(cache_dir=cache_dir, older_than=older)
    if args.json:
        _print_json({"removed": n})
    elif not args.quiet:
        print(f"removed {n} cache entr{'y' if n == 1 else 'ies'}")
    return 0


# -- parser --------------------------------------------------------------------------------------------

_EXAMPLES = {
    "main": """
        examples:
          lazyvol info brain.nii.gz
          lazyvol info /data/dicom/study1            # table of the series found
          lazyvol stats ct.nii.gz --mask liver.nii.gz --json
          lazyvol convert /data/dicom/study1 --series 2 out.zarr
          lazyvol cache list
          lazyvol stats big.nii --scheduler tcp://scheduler:8786
        """,
    "info": """
        examples:
          lazyvol info brain.nii.gz
          lazyvol info scan.zarr --json
          lazyvol info /data/dicom/study1             # table of series and skipped files
          lazyvol info /data/dicom/study1 --series 1.2.840.113619.2.55.3   # one volume
        """,
    "stats": """
        examples:
          lazyvol stats brain.nii.gz
          lazyvol stats ct.nii.gz --mask liver.nii.gz --json
          lazyvol stats bold.nii.gz --per-volume --json       # one result per time point
          lazyvol stats t1.nii --bins 512 --range 0 4000 --exact-percentiles
          lazyvol stats /data/dicom/study1 --series 0 --scheduler processes

        Integer data: every statistic (histogram and percentiles included) is exact and
        takes one read of the data. Floating-point data: a second read bins the histogram
        unless --range is given; percentiles carry an error bound (the bin width) unless
        --exact-percentiles.
        """,
    "convert": """
        examples:
          lazyvol convert brain.nii.gz brain.zarr
          lazyvol convert /data/dicom/study1 --series 2 ct.nii.gz
          lazyvol convert scan.zarr scan.nii --overwrite

        The output format follows the destination's suffix (.zarr, .nii, .nii.gz); data is
        streamed chunk by chunk, so memory stays bounded whatever the volume's size.
        """,
    "cache": """
        examples:
          lazyvol cache list
          lazyvol cache list --json
          lazyvol cache clear                  # remove every entry
          lazyvol cache clear --older-than 30  # entries created more than 30 days ago
        """,
}


def _epilog(name: str) -> str:
    return textwrap.dedent(_EXAMPLES[name]).strip("\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``lazyvol`` command."""
    from . import __version__

    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("common options")
    g.add_argument(
        "--scheduler",
        metavar="threads|processes|ADDRESS",
        default=argparse.SUPPRESS,
        help="dask scheduler: threads (default), processes, or the address of a dask.distributed "
        "scheduler (e.g. tcp://host:8786); workers must see the files under the same paths",
    )
    g.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars"
    )
    g.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors"
    )

    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="lazyvol",
        description="Inspect, summarise and convert NIfTI, DICOM and Zarr volumes without loading "
        "them into memory.",
        epilog=_epilog("main"),
        formatter_class=fmt,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"lazyvol {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "info",
        help="shape, dtype, geometry and sizes of a volume, or the series in a DICOM folder",
        description="Show a volume's shape, dtype, voxel size, orientation, affine, chunking and "
        "sizes; for a DICOM folder, the table of series found and the files skipped.",
        epilog=_epilog("info"),
        formatter_class=fmt,
        parents=[common],
    )
    p.add_argument("path", help="NIfTI file, DICOM file or folder, or Zarr store")
    p.add_argument("--series", help="DICOM: SeriesInstanceUID, volume id, or index in the scan")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser(
        "stats",
        help="count, min, max, mean, std, sum, histogram and percentiles in one pass",
        description="Statistics of a volume computed chunk by chunk (bounded memory).",
        epilog=_epilog("stats"),
        formatter_class=fmt,
        parents=[common],
    )
    p.add_argument("path", help="NIfTI file, DICOM file or folder, or Zarr store")
    p.add_argument("--mask", help="a volume on the same grid; statistics where it is non-zero")
    p.add_argument("--series", help="DICOM: SeriesInstanceUID, volume id, or index in the scan")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--bins", type=int, default=256, help="histogram bins (default 256)")
    p.add_argument("--range", type=float, nargs=2, metavar=("LO", "HI"), help="histogram range")
    p.add_argument(
        "--percentiles",
        metavar="Q,Q,...",
        help="percentiles to report (default 1,5,25,50,75,95,99)",
    )
    p.add_argument(
        "--exact-percentiles", action="store_true", help="floating-point data: exact percentiles"
    )
    p.add_argument(
        "--per-volume", action="store_true", help="4D data: one result per volume (time point)"
    )
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser(
        "convert",
        help="write a volume to .zarr, .nii or .nii.gz in bounded memory",
        description="Convert a volume to OME-Zarr (.zarr) or NIfTI (.nii, .nii.gz).",
        epilog=_epilog("convert"),
        formatter_class=fmt,
        parents=[common],
    )
    p.add_argument("src", help="NIfTI file, DICOM file or folder, or Zarr store")
    p.add_argument("dst", help="destination ending in .zarr, .nii or .nii.gz")
    p.add_argument("--series", help="DICOM: SeriesInstanceUID, volume id, or index in the scan")
    p.add_argument("--overwrite", action="store_true", help="replace an existing destination")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser(
        "cache",
        help="list or clear lazyvol's Zarr cache",
        description="List or clear the Zarr cache (LAZYVOL_CACHE_DIR or the user cache directory).",
        epilog=_epilog("cache"),
        formatter_class=fmt,
        parents=[common],
    )
    p.add_argument("action", choices=["list", "clear"])
    p.add_argument(
        "--older-than", type=float, metavar="DAYS", help="clear: only entries older than this"
    )
    p.add_argument(
        "--cache-dir", help="cache directory (default: LAZYVOL_CACHE_DIR or the user cache)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_cache)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lazyvol`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in (("scheduler", None), ("quiet", False), ("debug", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    try:
        with _scheduler(args.scheduler):
            return int(args.func(args) or 0)
    except LazyvolError as exc:
        if args.debug:
            raise
        msg = str(exc).strip() or type(exc).__name__
        print(f"lazyvol: error: {msg}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("lazyvol: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and friends: not an error.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")
        return 0
