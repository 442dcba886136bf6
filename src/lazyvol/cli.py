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
import re
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

import numpy as np

from ._units import human_bytes
from .errors import LazyvolError

__all__ = ["main"]

#: Exit status for lazyvol errors (bad input, unreadable files) -- argparse uses 2 for usage errors too.
EXIT_ERROR = 2


class CommandError(LazyvolError):
    """A command cannot run as asked (unknown output format, unreachable scheduler, ...)."""


# -- helpers -------------------------------------------------------------------------------------------


def _disk_size(path: str) -> int:
    if os.path.isfile(path):
        from .formats import Location, pick

        reader = pick(path)
        files = reader.source_files(Location.of(path)) if reader.name == "nifti" else [path]
        return _files_size(files)
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(root, f))
    return total


def _series_arg(value: str | None) -> str | None:
    """``--series`` as given: the DICOM reader resolves a SeriesNumber, a SeriesInstanceUID (or a
    unique prefix), a description, a volume id or ``#row`` (see :func:`lazyvol.open`)."""
    return value


def _check_series_applies(path: str, series: str | None, flag: str = "--series") -> None:
    """``--series`` only means something for DICOM: refuse it for NIfTI files and Zarr stores."""
    if series is None or not os.path.exists(path):
        return
    from .formats import pick

    reader = pick(path)
    if reader.name in ("zarr", "nifti"):
        what = "a Zarr store" if reader.name == "zarr" else "a NIfTI file"
        raise CommandError(f"{flag} {series}: {path} is {what} (one volume); drop {flag}")


def _finite_float(text: str) -> float:
    """argparse type: a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


#: Most histogram bins ``lazyvol stats --bins`` accepts (the counts of each result row are held in
#: memory: 10 million bins are 80 MB per row).
MAX_BINS = 10_000_000


def _bins(text: str) -> int:
    """argparse type: a number of histogram bins, 1..MAX_BINS."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    if value > MAX_BINS:
        raise argparse.ArgumentTypeError(f"{text} is more than the {MAX_BINS:,} bins allowed")
    return value


def _non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must not be negative")
    return value


#: CLI spellings of the Python keywords that lazyvol's messages name.
_FLAG_NAMES = (
    ("pass overwrite=True", "pass --overwrite"),
    ("with overwrite=True", "with --overwrite"),
    ("overwrite=True", "--overwrite"),
    ("choose one with series=", "choose one with --series"),
    ("pass one id as series=", "pass one id as --series"),
    ("series=", "--series "),
)


def _cli_message(msg: str) -> str:
    """A library message with Python keywords replaced by the command's flags."""
    for py, flag in _FLAG_NAMES:
        msg = msg.replace(py, flag)
    return msg


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


#: Seconds to wait for a dask.distributed scheduler (``--connect-timeout``,
#: ``LAZYVOL_CONNECT_TIMEOUT``).
DEFAULT_CONNECT_TIMEOUT = 5.0


def _connect_timeout(value: float | None) -> float:
    if value is not None:
        return value
    env = os.environ.get("LAZYVOL_CONNECT_TIMEOUT")
    if env:
        try:
            return _non_negative_float(env) or DEFAULT_CONNECT_TIMEOUT
        except argparse.ArgumentTypeError as exc:
            raise CommandError(f"LAZYVOL_CONNECT_TIMEOUT={env!r}: {exc}") from None
    return DEFAULT_CONNECT_TIMEOUT


def _check_address(spec: str) -> None:
    """Refuse an address that cannot be right before trying to connect (fast, clear message)."""
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(spec if "://" in spec else "tcp://" + spec)
    known = ("tcp", "tls", "ws", "wss", "inproc", "ucx")
    if parts.scheme not in known:
        raise CommandError(
            f"--scheduler {spec}: unknown protocol {parts.scheme!r}; use threads, processes, or "
            f"an address such as tcp://host:8786 ({', '.join(known)})"
        )
    if parts.scheme == "inproc":
        return
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        raise CommandError(f"--scheduler {spec}: the port is not a number in 0..65535") from None
    if not host:
        raise CommandError(f"--scheduler {spec}: no host name in the address")
    if all(c.isdigit() or c == "." for c in host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise CommandError(f"--scheduler {spec}: {host} is not a valid IPv4 address") from None
    if port == 0 or port is None:
        raise CommandError(
            f"--scheduler {spec}: give the scheduler's port (e.g. tcp://{host}:8786)"
        )


def _probe(spec: str, secs: float) -> None:
    """Fail fast on a TCP address nobody listens at (refused, unknown host) before dask retries."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(spec if "://" in spec else "tcp://" + spec)
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or not parts.port:
        return
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=secs):
            return
    except socket.gaierror as exc:
        raise CommandError(
            f"--scheduler {spec}: unknown host {parts.hostname} ({exc.strerror or exc})"
        ) from exc
    except ConnectionRefusedError as exc:
        raise CommandError(
            f"--scheduler {spec}: connection refused (no dask scheduler listens at "
            f"{parts.hostname}:{parts.port})"
        ) from exc
    except TimeoutError as exc:
        raise CommandError(
            f"--scheduler {spec}: no answer within {secs:g} s; check the address, or wait longer "
            "with --connect-timeout SECONDS"
        ) from exc
    except OSError as exc:
        raise CommandError(f"--scheduler {spec}: cannot connect ({exc.strerror or exc})") from exc


@contextlib.contextmanager
def _scheduler(spec: str | None, timeout: float | None = None) -> Iterator[None]:
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
    _check_address(spec)
    try:
        from distributed import Client
    except ImportError as exc:
        raise CommandError(
            f"--scheduler {spec}: dask.distributed is not installed (pip install 'lazyvol[distributed]')"
        ) from exc
    secs = _connect_timeout(timeout)
    _probe(spec, secs)
    try:
        with dask.config.set({"distributed.comm.timeouts.connect": f"{secs}s"}):
            client = Client(spec, timeout=f"{secs}s")
    except Exception as exc:  # whatever answered (or did not), it is not a usable scheduler
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CommandError(
            f"--scheduler {spec}: could not connect to a dask scheduler within {secs:g} s ({detail}); check "
            "the address and that the scheduler runs, or wait longer with --connect-timeout"
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
    from .formats import pick

    return os.path.isdir(path) and pick(path).name == "dicom"


# -- info ----------------------------------------------------------------------------------------------


def _files_size(paths: Sequence[str]) -> int:
    total = 0
    for p in set(paths):
        with contextlib.suppress(OSError):
            total += os.path.getsize(p)
    return total


def volume_info(vol: Any, path: str) -> dict[str, Any]:
    """The facts ``lazyvol info`` shows for one volume (JSON-friendly)."""
    chunk_shape = tuple(int(c[0]) for c in vol.chunks)
    n_chunks = int(np.prod([len(c) for c in vol.chunks]))
    chunk_bytes = int(np.prod(chunk_shape)) * vol.dtype.itemsize
    meta = {k: v for k, v in vol.meta.items() if k not in ("axis4_values", "files")}
    files = vol.meta.get("files")
    on_disk = _files_size(files) if isinstance(files, list) and files else _disk_size(path)
    return {
        "path": os.path.abspath(path),
        "format": vol.meta.get("format", ""),
        "shape": list(vol.shape),
        "dtype": str(vol.dtype),
        "voxel_size": [float(s) for s in vol.spacing],
        "orientation": vol.orientation,
        "affine": np.asarray(vol.affine).tolist(),
        "chunks": {"shape": list(chunk_shape), "count": n_chunks, "bytes": chunk_bytes},
        "files": len(files) if isinstance(files, list) else None,
        "size_on_disk": on_disk,
        "size_in_memory": int(vol.nbytes),
        "meta": meta,
    }


def _print_rows(rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def _print_volume_info(info: dict[str, Any], series: dict[str, Any] | None = None) -> None:
    rows: list[tuple[str, str]] = [("path", info["path"])]
    if series is not None:
        rows += [
            ("series", f"{series['number']}  {series['description'] or '(no description)'}"),
            ("modality", series["modality"] or "-"),
            ("uid", series["uid"] or "-"),
            ("volume id", series["id"] or "-"),
        ]
    rows += [
        ("format", info["format"] or "-"),
        ("shape", " x ".join(str(s) for s in info["shape"])),
        ("dtype", info["dtype"]),
        ("voxel size", " x ".join(f"{v:.6g}" for v in info["voxel_size"])),
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
        ("size on disk", f"{human_bytes(info['size_on_disk'])} ({info['size_on_disk']} bytes)"),
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
        print(f"warning: {note}")


def _short(value: Any, limit: int = 70) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short_reason(error: str, files: Sequence[str]) -> str:
    """The gist of a refusal: without the file name that starts it, up to the first detail."""
    text = error.strip()
    for p in sorted(set(files), key=len, reverse=True):
        if p and text.startswith(p + ": "):
            text = text[len(p) + 2 :]
            break
    else:
        head, sep, rest = text.partition(": ")
        if sep and (os.sep in head or head.lower().endswith(".dcm")):
            text = rest
    for stop in (" (", "; ", ". "):
        cut = text.find(stop)
        if cut > 0:
            text = text[:cut]
    return _short(text, 60)


#: Reasons for skipping files shown without --verbose (the most frequent first).
MAX_REASONS = 12


def _skip_reason(reason: str) -> str:
    """A skipped file's reason, for counting (reasons name no file; the path is separate)."""
    return " ".join(str(reason).split())


def _dtype_name(value: Any) -> str | None:
    if not value:
        return None
    try:
        return np.dtype(value).name
    except TypeError:
        return str(value)


def _series_rows(report: Any, root: str) -> list[dict[str, Any]]:
    from .geometry import orientation_codes, voxel_sizes

    rows = []
    for i, s in enumerate(report):
        files = list(getattr(s, "files", None) or [])
        error = getattr(s, "error", None) or None
        ok = error is None
        affine = getattr(s, "affine", None)
        folder = os.path.commonpath([os.path.dirname(f) for f in files]) if files else None
        if folder is not None and root:
            rel = os.path.relpath(folder, root)
            folder = "." if rel == "." else rel
        rows.append(
            {
                "index": i,
                "id": getattr(s, "id", None),
                "uid": getattr(s, "uid", None),
                "number": getattr(s, "number", None),
                "description": getattr(s, "description", None),
                "modality": getattr(s, "modality", None),
                "shape": list(s.shape) if ok and getattr(s, "shape", None) is not None else None,
                "voxel_size": None
                if not ok or affine is None
                else [float(v) for v in voxel_sizes(np.asarray(affine))],
                "orientation": None
                if not ok or affine is None
                else orientation_codes(np.asarray(affine)),
                "dtype": _dtype_name(getattr(s, "dtype", None)) if ok else None,
                "status": "ok" if ok else f"refused: {_short_reason(error or '', files)}",
                "folder": folder,
                "files": len(files),
                "size_on_disk": _files_size(files),
                "axis4": getattr(s, "axis4", None),
                "affine": None if not ok or affine is None else np.asarray(affine).tolist(),
                "reasons": list(getattr(s, "reasons", None) or []),
                "warnings": list(getattr(s, "warnings", None) or []),
                "error": error,
            }
        )
    return rows


def _table(header: Sequence[str], table: Sequence[Sequence[str]], right: set[int]) -> None:
    widths = [max([len(h)] + [len(t[i]) for t in table]) for i, h in enumerate(header)]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    print(fmt(header))
    for t in table:
        print(fmt(t))


def _print_series_table(
    path: str, rows: list[dict[str, Any]], skipped: list[Any], verbose: bool
) -> None:
    print(f"{os.path.abspath(path)}: {len(rows)} volume(s), {len(skipped)} skipped file(s)")
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
            _short(r["folder"] or "", 40),
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
    if skipped:
        print(f"skipped {len(skipped)} file(s):")
        counts = _skip_counts(skipped).most_common()
        shown = counts if verbose else counts[:MAX_REASONS]
        for reason, n in shown:
            print(f"  {n:>6}  {reason}")
        if len(shown) < len(counts):
            rest = sum(n for _, n in counts[len(shown) :])
            print(f"  {rest:>6}  for {len(counts) - len(shown)} other reason(s)")
        if verbose:
            for item in skipped:
                print(f"  {item[0]}: {item[1]}")
        else:
            print("  (--verbose lists the files)")
    print("choose a volume with --series NUMBER, UID (or a unique prefix), DESCRIPTION, or #ROW")


def _skip_counts(skipped: Sequence[Any]) -> Counter[str]:
    return Counter(_skip_reason(item[1]) for item in skipped)


def cmd_info(args: argparse.Namespace) -> int:
    import lazyvol as lv

    path = args.path
    if not os.path.exists(path):
        from .errors import SourceNotFoundError

        raise SourceNotFoundError(f"{path}: no such file or directory")
    _check_series_applies(path, args.series)
    if args.header:
        return _cmd_header(args)
    series_row = None
    if _is_dicom_folder(path) and args.series is None:
        scan = _get_scan()
        report = scan(path, progress=_show_progress(args))
        skipped = [list(x) for x in getattr(report, "skipped", [])]
        if not report:
            from .errors import FormatError

            if not skipped:
                raise FormatError(f"{path}: no files found in this folder")
            reasons = ", ".join(f"{n} {r}" for r, n in _skip_counts(skipped).most_common(3))
            raise FormatError(
                f"{path}: no DICOM image volume found; {len(skipped)} file(s) skipped ({reasons}); "
                "lazyvol info --verbose lists them"
                if not args.verbose
                else f"{path}: no DICOM image volume found; skipped: "
                + "; ".join(f"{p}: {r}" for p, r in skipped)
            )
        rows = _series_rows(report, os.path.abspath(path))
        if len(rows) != 1 or rows[0]["error"]:
            if args.json:
                _print_json(
                    {
                        "path": os.path.abspath(path),
                        "series": rows,
                        "skipped": skipped,
                        "skipped_by_reason": dict(_skip_counts(skipped).most_common()),
                    }
                )
            else:
                _print_series_table(path, rows, skipped, args.verbose)
            return 0
        series_row = rows[0]
    vol = lv.open(path, series=_series_arg(args.series))
    info = volume_info(vol, path)
    if series_row is None and args.series is not None:
        series_row = {
            "number": vol.meta.get("series_number"),
            "description": vol.meta.get("series_description"),
            "modality": vol.meta.get("modality"),
            "uid": vol.meta.get("series_uid"),
            "id": vol.meta.get("series_id"),
        }
    if args.json:
        if series_row is not None:
            info["series"] = {
                k: series_row.get(k) for k in ("number", "description", "modality", "uid", "id")
            }
        _print_json(info)
    else:
        _print_volume_info(info, series_row)
    return 0


def _cmd_header(args: argparse.Namespace) -> int:
    from .headers import format_header, header_to_dict, source_header

    hdr = source_header(args.path, series=_series_arg(args.series), index=args.slice)
    if args.json:
        _print_json(header_to_dict(hdr))
    else:
        print(format_header(hdr))
    return 0


# -- stats ---------------------------------------------------------------------------------------------


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float | np.floating):
        return f"{x:.6g}"
    return str(x)


def _stats_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"bins": args.bins, "exact_percentiles": args.exact_percentiles}
    if args.range:
        lo, hi = args.range
        if not lo < hi:
            raise CommandError(f"--range {lo:g} {hi:g}: LO must be less than HI")
        kwargs["range"] = (lo, hi)
    if args.percentiles:
        qs = []
        for part in args.percentiles.split(","):
            try:
                q = float(part)
            except ValueError:
                raise CommandError(
                    f"--percentiles {args.percentiles}: {part!r} is not a number"
                ) from None
            if not 0 <= q <= 100:
                raise CommandError(f"--percentiles {args.percentiles}: {part} is outside 0..100")
            qs.append(q)
        kwargs["percentiles"] = tuple(qs)
    return kwargs


def _channels(vol: Any) -> list[tuple[str | None, Any]]:
    """(name, volume) per channel: one unnamed entry, or one per field of RGB / structured data."""
    from .volume import Volume

    names = vol.dtype.names
    if not names:
        return [(None, vol)]
    out = []
    for name in names:
        sub = vol.data[name]
        if sub.dtype.kind not in "biuf" or sub.ndim != vol.data.ndim:
            raise CommandError(
                f"{vol.source or 'the volume'}: channel {name!r} holds {sub.dtype} values; "
                "statistics need numbers"
            )
        out.append((name, Volume(sub, vol.affine, meta=vol.meta, source=vol.source)))
    return out


def cmd_stats(args: argparse.Namespace) -> int:
    import lazyvol as lv

    from ._stats import stats

    kwargs = _stats_kwargs(args)
    _check_series_applies(args.path, args.series)
    vol = lv.open(args.path, series=_series_arg(args.series))
    if vol.dtype.kind not in "biuf" and not vol.dtype.names:
        raise CommandError(
            f"{args.path}: statistics need integer, boolean or floating-point data; this volume "
            f"holds {vol.dtype}"
        )
    mask = lv.open(args.mask) if args.mask else None
    if args.per_volume:
        if vol.ndim < 4:
            raise CommandError(f"--per-volume: {args.path} is 3D (shape {vol.shape})")
        kwargs["axis"] = tuple(range(3))
    results = []
    for name, channel in _channels(vol):
        res = stats(channel, mask=mask, progress=_show_progress(args), **kwargs)
        results.append((name, res))
    head = {"path": os.path.abspath(args.path), "mask": args.mask and os.path.abspath(args.mask)}
    if args.json:
        if results[0][0] is None:
            _print_json({**head, **results[0][1].to_dict()})
        else:
            _print_json(
                {**head, "dtype": str(vol.dtype), "channels": {n: r.to_dict() for n, r in results}}
            )
        return 0
    print(f"{head['path']}  {vol.dtype}  {' x '.join(str(s) for s in vol.shape)}")
    if args.mask:
        print(f"mask     {head['mask']}")
    passes = 0
    for cname, res in results:
        if cname is not None:
            print(f"== channel {cname}")
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
        passes += res.passes
    print(f"(read the data {passes} time(s))")
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
    if os.path.lexists(dst) and not args.overwrite:
        raise CommandError(f"{dst} exists; pass --overwrite to replace it (left untouched)")
    _check_series_applies(args.src, args.series)
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


# -- references ----------------------------------------------------------------------------------------


def cmd_references(args: argparse.Namespace) -> int:
    import lazyvol as lv
    from lazyvol.refs import write_references

    if os.path.lexists(args.output) and not args.overwrite:
        raise CommandError(f"{args.output} exists; pass --overwrite to replace it (left untouched)")
    _check_series_applies(args.src, args.series)
    refs = lv.references(
        args.src, series=_series_arg(args.series), per_slice_rescale=args.per_slice_rescale
    )
    out = write_references(refs, args.output)
    if not args.quiet:
        chunks = sum(1 for k in refs["refs"] if k.startswith("image/") and ".z" not in k)
        print(f"wrote {out}  ({chunks} chunk references)")
    return 0


# -- cache ---------------------------------------------------------------------------------------------


def _when(created: Any) -> str:
    if isinstance(created, int | float) and created > 0:
        return _dt.datetime.fromtimestamp(created).isoformat(timespec="seconds")
    return "-"


def cmd_cache(args: argparse.Namespace) -> int:
    from . import cache

    kinds = set(args.kind or ["all"])
    if "all" in kinds:
        kinds = {"zarr", "scan", "seek"}
    top = args.cache_dir
    zarr_dir = None if top is None else os.path.join(top, "zarr")
    if args.action == "list":
        rows: list[dict[str, Any]] = []
        if "zarr" in kinds:
            rows += [
                {
                    "kind": "zarr",
                    "key": e.key,
                    "path": os.fspath(e.path),
                    "size_bytes": int(e.size_bytes),
                    "source": e.source,
                    "created": e.created,
                }
                for e in cache.list_entries(cache_dir=zarr_dir)
            ]
        rows += [
            {
                "kind": e.kind,
                "key": e.key,
                "path": e.path,
                "size_bytes": e.size_bytes,
                "source": e.source,
                "created": e.created,
            }
            for e in cache.list_index_files(top)
            if e.kind in kinds
        ]
        if args.json:
            _print_json(rows)
            return 0
        if not rows:
            print(f"the cache is empty ({top or cache.default_cache_dir().parent})")
            return 0
        _table(
            ["kind", "size", "created", "source", "key"],
            [
                [
                    r["kind"],
                    human_bytes(r["size_bytes"]),
                    _when(r["created"]),
                    _short(r["source"] or "-", 60),
                    r["key"][:16] + (" (grouping)" if r["key"].endswith(".report") else ""),
                ]
                for r in rows
            ],
            right={1},
        )
        total = sum(r["size_bytes"] for r in rows)
        per_kind = Counter(r["kind"] for r in rows)
        print(
            f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'} "
            f"({', '.join(f'{n} {k}' for k, n in sorted(per_kind.items()))}), {human_bytes(total)}"
        )
        return 0
    older = None if args.older_than is None else _dt.timedelta(days=args.older_than)
    removed: dict[str, int] = {}
    if "zarr" in kinds:
        removed["zarr"] = cache.clear(cache_dir=zarr_dir, older_than=older)
    for kind in sorted(kinds - {"zarr"}):
        removed[kind] = cache.clear_index_files(top, kind=kind, older_than=older)
    n = sum(removed.values())
    if args.json:
        _print_json({"removed": n, "by_kind": removed})
    elif not args.quiet:
        detail = ", ".join(f"{v} {k}" for k, v in removed.items())
        print(f"removed {n} cache entr{'y' if n == 1 else 'ies'} ({detail})")
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
          lazyvol info /data/dicom/study1 --verbose   # ... listing every skipped file
          lazyvol info /data/dicom/study1 --series 5          # SeriesNumber 5
          lazyvol info /data/dicom/study1 --series "T1 sag"   # by description
          lazyvol info /data/dicom/study1 --series 1.2.840.113619.2.55.3   # UID or a prefix
          lazyvol info /data/dicom/study1 --series '#3'       # row 3 of the table
          lazyvol info brain.nii.gz --header                  # every NIfTI header field
          lazyvol info /data/dicom/study1 --series 5 --header --slice 10 --json
        """,
    "stats": """
        examples:
          lazyvol stats brain.nii.gz
          lazyvol stats ct.nii.gz --mask liver.nii.gz --json
          lazyvol stats bold.nii.gz --per-volume --json       # one result per time point
          lazyvol stats t1.nii --bins 512 --range 0 4000 --exact-percentiles
          lazyvol stats /data/dicom/study1 --series '#0' --scheduler processes

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
          lazyvol cache clear --kind scan      # only the DICOM scan indexes
        """,
}


def _epilog(name: str) -> str:
    return textwrap.dedent(_EXAMPLES[name]).strip("\n")


_SERIES_HELP = (
    "DICOM folders: which volume -- a SeriesNumber, a SeriesInstanceUID or a unique prefix of "
    "one, a SeriesDescription (or a unique part of one), a volume id, or #ROW for a row of "
    "'lazyvol info'"
)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2), like lazyvol's own errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"lazyvol: error: {message} (usage: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``lazyvol`` command."""
    from . import __version__

    common = _Parser(add_help=False)
    g = common.add_argument_group("common options")
    g.add_argument(
        "--scheduler",
        metavar="SCHEDULER",
        default=argparse.SUPPRESS,
        help="dask scheduler: threads (default), processes, or the address of a dask.distributed "
        "scheduler (e.g. tcp://host:8786); workers must see the files under the same paths",
    )
    g.add_argument(
        "--connect-timeout",
        type=_non_negative_float,
        metavar="SECONDS",
        default=argparse.SUPPRESS,
        help="how long to wait for a dask.distributed scheduler (default "
        f"{DEFAULT_CONNECT_TIMEOUT:g}, or LAZYVOL_CONNECT_TIMEOUT)",
    )
    g.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars"
    )
    g.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors"
    )

    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
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
    p.add_argument("--series", metavar="SERIES", help=_SERIES_HELP)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="list every skipped file and every refusal"
    )
    p.add_argument(
        "--header",
        action="store_true",
        help="print the source's full header instead (NIfTI header fields, or the DICOM data set "
        "of one slice without its pixels)",
    )
    p.add_argument(
        "--slice",
        type=int,
        default=0,
        metavar="K",
        help="with --header: the DICOM slice (or frame) k of the volume (default 0)",
    )
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
    p.add_argument("--series", metavar="SERIES", help=_SERIES_HELP)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--bins", type=_bins, default=256, help="histogram bins (default 256)")
    p.add_argument(
        "--range",
        type=_finite_float,
        nargs=2,
        metavar=("LO", "HI"),
        help="histogram range (finite, LO < HI)",
    )
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
    # "-1e3" is a number, not an option (argparse only knows "-1" and "-1.5")
    p._negative_number_matcher = re.compile(
        r"^-((\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|inf|infinity|nan)$", re.IGNORECASE
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
    p.add_argument("--series", metavar="SERIES", help=_SERIES_HELP)
    p.add_argument("--overwrite", action="store_true", help="replace an existing destination")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser(
        "references",
        help="write kerchunk references: any Zarr client reads a .nii or DICOM series in place",
        description="Write kerchunk (version 1) references describing an uncompressed NIfTI file "
        "or a DICOM series as a Zarr group whose array 'image' points at the source's own bytes: "
        "zarr, xarray and any fsspec reference-filesystem client read it without lazyvol and "
        "without converting it.",
        formatter_class=fmt,
        parents=[common],
    )
    p.add_argument("src", help="uncompressed NIfTI file, DICOM file or folder")
    p.add_argument("-o", "--output", required=True, help="the references JSON file to write")
    p.add_argument("--series", metavar="SERIES", help=_SERIES_HELP)
    p.add_argument(
        "--per-slice-rescale",
        choices=["refuse", "arrays"],
        default="refuse",
        help="DICOM slices with different RescaleSlope/Intercept: refuse (default) or add "
        "per-slice rescale_slope / rescale_intercept arrays",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=cmd_references)

    p = sub.add_parser(
        "cache",
        help="list or clear lazyvol's cache (Zarr copies, scan and seek indexes)",
        description="List or clear lazyvol's cache directory (LAZYVOL_CACHE_DIR or the user cache "
        "directory): Zarr copies of volumes opened with cache=True, DICOM scan indexes and gzip "
        "seek indexes.",
        epilog=_epilog("cache"),
        formatter_class=fmt,
        parents=[common],
    )
    p.add_argument("action", choices=["list", "clear"])
    p.add_argument(
        "--kind",
        action="append",
        choices=["all", "zarr", "scan", "seek"],
        help="which entries: zarr (cached volumes), scan (DICOM folder scan indexes), seek "
        "(gzip seek indexes of .nii.gz files), or all (default); repeatable",
    )
    p.add_argument(
        "--older-than",
        type=_non_negative_float,
        metavar="DAYS",
        help="clear: only entries older than this",
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
    for name, default in (
        ("scheduler", None),
        ("quiet", False),
        ("debug", False),
        ("connect_timeout", None),
    ):
        if not hasattr(args, name):
            setattr(args, name, default)
    try:
        with _scheduler(args.scheduler, args.connect_timeout):
            return int(args.func(args) or 0)
    except LazyvolError as exc:
        if args.debug:
            raise
        msg = _cli_message(str(exc).strip() or type(exc).__name__)
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
