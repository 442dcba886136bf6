"""The ``lazyvol`` command's argument parser: one small function per subcommand.

Each subcommand's handler lives in its own module (``info``, ``stats``, ``convert``, ``cache``);
none of them imports numpy, dask or a format reader at module level, so ``lazyvol --help`` stays
fast.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import textwrap
from typing import Any, NoReturn

from ._common import EXIT_ERROR, _bins, _finite_float, _non_negative_float
from ._dicom_options import add_dicom_arguments, dicom_usage_problem
from ._scheduler import DEFAULT_CONNECT_TIMEOUT, LOCAL_SCHEDULERS
from ._sources import add_storage_arguments
from .cache import cmd_cache
from .convert import cmd_convert, cmd_references
from .info import cmd_info
from .stats import cmd_stats

_FMT = argparse.RawDescriptionHelpFormatter

_EXAMPLES = {
    "main": """
        examples:
          lazyvol info brain.nii.gz
          lazyvol info /data/dicom/study1            # table of the series found
          lazyvol stats ct.nii.gz --mask liver.nii.gz --json
          lazyvol convert /data/dicom/study1 --series 2 out.zarr
          lazyvol cache list
          lazyvol stats big.nii --scheduler tcp://scheduler:8786
          lazyvol info s3://bucket/sub-01/anat/T1w.nii.gz --storage-option anon=true
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
          lazyvol info s3://bucket/brain.nii.gz --storage-option anon=true
          lazyvol info s3://bucket/study1/ --storage-options creds.json   # series under a prefix
          lazyvol info s3://bucket/brain.nii \\
              --storage-option client_kwargs.endpoint_url=http://127.0.0.1:9000 \\
              --storage-option key=KEY --storage-option secret=SECRET
        """,
    "stats": """
        examples:
          lazyvol stats brain.nii.gz
          lazyvol stats ct.nii.gz --mask liver.nii.gz --json
          lazyvol stats bold.nii.gz --per-volume --json       # one result per time point
          lazyvol stats t1.nii --bins 512 --range 0 4000 --exact-percentiles
          lazyvol stats /data/dicom/study1 --series '#0' --scheduler processes

        Integer data spanning up to 65,536 values: every statistic (histogram and
        percentiles included) is exact and takes one read of the data. Floating-point data
        and wider integers: a second read bins the histogram unless --range is given;
        percentiles carry an error bound (the bin width) unless --exact-percentiles.
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


#: The arguments of the command line being parsed that start with '-' and name a file or folder
#: that exists (``-scan.nii``): argparse reads them as options, and its error ("the following
#: arguments are required: path") did not say why.
_dash_paths: list[str] = []


def _dash_path_hint() -> str:
    if not _dash_paths:
        return ""
    name = _dash_paths[0]
    return (
        f"; {name} starts with '-', so it reads as an option: write ./{name}, or put -- before it"
    )


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2), like lazyvol's own errors."""

    def error(self, message: str) -> NoReturn:
        hint = _dash_path_hint()
        self.exit(EXIT_ERROR, f"lazyvol: error: {message}{hint} (usage: {self.prog} --help)\n")

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        """As argparse's, but an option the subcommand does not take is told against that
        subcommand (``lazyvol stats --help``, not ``lazyvol --help``), with the option it most
        resembles (``--percentile``: ``--percentiles``); a file named with a leading '-' that
        argparse took for an option is named in the error, with how to give it."""
        given = sys.argv[1:] if args is None else list(args)
        _dash_paths[:] = [
            a for a in given if isinstance(a, str) and a[:1] == "-" and a != "-" and _exists(a)
        ]
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            sub = self._subcommand(getattr(parsed, "command", None))
            message = f"unrecognized arguments: {' '.join(extras)}"
            if sub is not None:
                known = [o for a in sub._actions for o in a.option_strings if o.startswith("--")]
                near = [
                    f"{e} -> {m[0]}"
                    for e in extras
                    if e.startswith("--")
                    and (
                        m := difflib.get_close_matches(e.split("=", 1)[0], known, n=1, cutoff=0.75)
                    )
                ]
                if near:
                    message += f" (did you mean: {', '.join(near)}?)"
                sub.error(message)
            self.error(message)
        return parsed

    def _subcommand(self, command: Any) -> argparse.ArgumentParser | None:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and command in action.choices:
                found: argparse.ArgumentParser = action.choices[command]
                return found
        return None


def _exists(name: str) -> bool:
    try:
        return os.path.lexists(name)
    except (OSError, ValueError):  # (a name too long, or holding a NUL)
        return False


def _add_info(sub: argparse._SubParsersAction[_Parser], parents: list[_Parser]) -> None:
    p = sub.add_parser(
        "info",
        help="shape, dtype, geometry and sizes of a volume, or the series in a DICOM folder",
        description="Show a volume's shape, dtype, voxel size, orientation, affine, chunking and "
        "sizes; for a DICOM folder, the table of series found and the files skipped.",
        epilog=_epilog("info"),
        formatter_class=_FMT,
        parents=parents,
    )
    p.add_argument("path", help="NIfTI file, DICOM file or folder, or Zarr store")
    p.add_argument("--series", metavar="SERIES", help=_SERIES_HELP)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="list every skipped file, and every reason files were skipped for",
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
        metavar="K",
        help="with --header, for DICOM: the slice (or frame) k of the volume (default 0)",
    )
    p.set_defaults(func=cmd_info)


def _add_stats(sub: argparse._SubParsersAction[_Parser], parents: list[_Parser]) -> None:
    p = sub.add_parser(
        "stats",
        help="count, min, max, mean, std, sum, histogram and percentiles in one pass",
        description="Statistics of a volume computed chunk by chunk (bounded memory).",
        epilog=_epilog("stats"),
        formatter_class=_FMT,
        parents=parents,
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


def _add_convert(sub: argparse._SubParsersAction[_Parser], parents: list[_Parser]) -> None:
    p = sub.add_parser(
        "convert",
        help="write a volume to .zarr, .nii or .nii.gz in bounded memory",
        description="Convert a volume to OME-Zarr (.zarr) or NIfTI (.nii, .nii.gz).",
        epilog=_epilog("convert"),
        formatter_class=_FMT,
        parents=parents,
    )
    p.add_argument("src", help="NIfTI file, DICOM file or folder, or Zarr store")
    p.add_argument("dst", help="destination ending in .zarr, .nii or .nii.gz")
    p.add_argument("--series", metavar="SERIES", help=_SERIES_HELP)
    p.add_argument("--overwrite", action="store_true", help="replace an existing destination")
    p.add_argument(
        "--no-sidecars",
        action="store_true",
        help="NIfTI: write no BIDS .json / .bval / .bvec beside the file (as dcm2niix -b n)",
    )
    p.set_defaults(func=cmd_convert)


def _add_references(sub: argparse._SubParsersAction[_Parser], parents: list[_Parser]) -> None:
    p = sub.add_parser(
        "references",
        help="write kerchunk references: any Zarr client reads a .nii or DICOM series in place",
        description="Write kerchunk (version 1) references describing an uncompressed NIfTI file "
        "or a DICOM series as a Zarr group whose array 'image' points at the source's own bytes: "
        "zarr, xarray and any fsspec reference-filesystem client read it without lazyvol and "
        "without converting it.",
        formatter_class=_FMT,
        parents=parents,
    )
    p.add_argument("src", help="uncompressed NIfTI file, DICOM file or folder")
    p.add_argument("-o", "--output", required=True, help="the references JSON file to write")
    p.add_argument("--series", metavar="SERIES", help=_SERIES_HELP)
    p.add_argument(
        "--per-slice-rescale",
        choices=["refuse", "arrays"],
        help="DICOM series only: slices with different RescaleSlope/Intercept: refuse (default) "
        "or add per-slice rescale_slope / rescale_intercept arrays",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=cmd_references)


def _add_cache(sub: argparse._SubParsersAction[_Parser], parents: list[_Parser]) -> None:
    p = sub.add_parser(
        "cache",
        help="list or clear lazyvol's cache (Zarr copies, scan and seek indexes)",
        description="List or clear lazyvol's cache directory (LAZYVOL_CACHE_DIR or the user cache "
        "directory): Zarr copies of volumes opened with cache=True, DICOM scan indexes and gzip "
        "seek indexes.",
        epilog=_epilog("cache"),
        formatter_class=_FMT,
        parents=parents,
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
        "--cache-dir",
        help="cache directory (default: LAZYVOL_CACHE_DIR or the user cache), or a folder given "
        "to lazyvol.open(..., cache=FOLDER)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_cache)


#: The subcommands that run no dask computation: ``--scheduler`` would have no effect there.
_COMPUTES_NOTHING = ("cache", "info", "references")


def usage_problem(args: argparse.Namespace) -> str | None:
    """Why the options parsed into ``args`` cannot be meant together, or ``None``.

    An option that would have no effect in the given combination is refused rather than ignored:
    the message says what to add or drop. (Checks that need the source itself, such as ``--slice``
    for a NIfTI file, are made by the command.)
    """
    command = getattr(args, "command", None)
    scheduler = getattr(args, "scheduler", None)
    if command in _COMPUTES_NOTHING:
        # (info reads headers and sizes, references writes byte addresses: no dask graph runs;
        # a distributed scheduler's address was connected to for nothing, and failed the command
        # when it did not answer)
        for flag, value in (
            ("--scheduler", scheduler),
            ("--connect-timeout", getattr(args, "connect_timeout", None)),
        ):
            if value is not None:
                return f"{flag}: '{command}' computes nothing; drop {flag}"
    if getattr(args, "connect_timeout", None) is not None and (
        scheduler is None or scheduler in LOCAL_SCHEDULERS
    ):
        return (
            "--connect-timeout applies to a dask.distributed scheduler; add --scheduler ADDRESS "
            "(e.g. tcp://host:8786) or drop --connect-timeout"
        )
    if command == "info" and args.slice is not None and not args.header:
        return f"--slice {args.slice} chooses the slice whose header --header prints; add --header"
    if command == "cache" and args.action == "list" and args.older_than is not None:
        return "--older-than applies to 'cache clear'; drop it to list"
    if command == "stats" and args.percentiles is not None and not args.percentiles.strip():
        return "--percentiles is empty; give numbers such as 5,50,95, or drop it"
    return dicom_usage_problem(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``lazyvol`` command."""
    from .. import __version__

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

    parser = _Parser(
        prog="lazyvol",
        description="Inspect, summarise and convert NIfTI, DICOM and Zarr volumes without loading "
        "them into memory.",
        epilog=_epilog("main"),
        formatter_class=_FMT,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"lazyvol {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    storage = _Parser(add_help=False)
    add_storage_arguments(storage)
    dicom = _Parser(add_help=False)
    add_dicom_arguments(dicom)
    with_source = [common, storage, dicom]
    _add_info(sub, with_source)
    _add_stats(sub, with_source)
    _add_convert(sub, with_source)
    _add_references(sub, with_source)
    _add_cache(sub, [common])
    return parser
