"""What every ``lazyvol`` subcommand shares: the command error, argparse value types, JSON and
table printing, and the few questions asked of a source (its size, whether ``--series`` applies).

Nothing heavy is imported at module level: ``lazyvol --help`` must stay fast.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from .._location import Location, is_url
from .._special_files import link_to_nothing
from ..errors import LazyvolError, _printable

#: Exit status for lazyvol errors (bad input, unreadable files) -- argparse uses 2 for usage errors too.
EXIT_ERROR = 2


class CommandError(LazyvolError):
    """A command cannot run as asked (unknown output format, unreachable scheduler, ...)."""


# -- argparse value types ------------------------------------------------------------------------------


def _finite_float(text: str) -> float:
    """argparse type: a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _number(text: str) -> float:
    """argparse type: a number, NaN and inf included (``--fill``: the API checks it fits)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _bins(text: str) -> int:
    """argparse type: a number of histogram bins, 1..MAX_BINS (the API's limit)."""
    from .._stats.limits import MAX_BINS  # (the stats command loads the engine anyway)

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
    ("sidecars=False", "--no-sidecars"),
    # the DICOM stacking options (cli/_dicom_options.py)
    ("allow_gaps=True", "--allow-gaps"),
    ("without allow_gaps", "without --allow-gaps"),
    ("with fill=,", "with --fill VALUE,"),
    ("fill=", "--fill "),
    ("instance_order=True", "--instance-order"),
    ("stack_localizers=True", "--stack-localizers"),
    ("split_4d=True", "--split-4d"),
    ("spacing_rtol=", "--spacing-rtol "),
    ("spacing_atol=", "--spacing-atol "),
    ("spacing_rtol", "--spacing-rtol"),
    ("spacing_atol", "--spacing-atol"),
    ('philips_scaling="fp"', "--philips-scaling fp"),
    ("philips_scaling='fp'", "--philips-scaling fp"),
    ("follow_symlinks=True", "--follow-symlinks"),
)


def _join_bracketed_lines(msg: str) -> str:
    """``msg`` with the line breaks inside brackets replaced by a space: an array that numpy
    prints over several lines (an affine) becomes one line, a listing after the text is kept.

    Only brackets that close count: a line of a listing cut short inside an aside
    (``"... (tolerance 0.1 mm: ..."``) no longer swallows the lines after it."""
    pairs = {")": "(", "]": "[", "}": "{"}
    inside = [0] * (len(msg) + 1)  # +1 at an opening bracket that closes, -1 after its close
    stack: list[tuple[str, int]] = []
    for i, c in enumerate(msg):
        if c in "([{":
            stack.append((c, i))
        elif c in pairs:
            # (an unmatched opening bracket above the match is dropped: it never closes)
            while stack and stack[-1][0] != pairs[c]:
                stack.pop()
            if stack:
                start = stack.pop()[1]
                inside[start] += 1
                inside[i + 1] -= 1
    out: list[str] = []
    depth = 0
    skip_blanks = False
    for i, c in enumerate(msg):
        depth += inside[i]
        if skip_blanks and c in " \t":
            continue
        skip_blanks = False
        if c == "\n" and depth > 0:
            out.append(" ")
            skip_blanks = True
            continue
        out.append(c)
    return "".join(out)


def _cli_message(msg: str) -> str:
    """A library message as the command prints it: Python keywords replaced by the command's
    flags, and arrays printed over several lines joined into one."""
    for py, flag in _FLAG_NAMES:
        msg = msg.replace(py, flag)
    return _join_bracketed_lines(msg)


def warn_volume_notes(vol: Any) -> None:
    """Say a volume's own warnings (``meta["warnings"]``: a series a slice short for a damaged
    file, dropped duplicates, a gantry tilt ...) as a command using it says warnings:
    ``lazyvol: warning: ...`` on stderr (``info`` lists them in its report instead)."""
    from .._warn import warn

    for note in vol.meta.get("warnings") or []:
        warn(str(note))


def _show_progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def _jsonable(x: Any) -> Any:
    np = sys.modules.get("numpy")  # numpy values can only exist if numpy is loaded
    if np is not None:
        if isinstance(x, np.ndarray):
            return _jsonable(x.tolist())
        if isinstance(x, np.generic):
            return x.item()
    if isinstance(x, dict):
        return {_printable(str(k)): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, _dt.datetime):
        return x.isoformat()
    if isinstance(x, bytes | os.PathLike):
        x = os.fsdecode(x)
    if isinstance(x, str):
        return _printable(x)  # (undecodable file-name bytes as \xNN: docs/cli.md)
    return x


def _print_json(obj: Any) -> None:
    json.dump(_jsonable(obj), sys.stdout, indent=2)
    sys.stdout.write("\n")


# -- text output ---------------------------------------------------------------------------------------


#: Characters printed as escapes (\\n, \\x1b, \\u202e): the C0 and C1 controls (a DICOM
#: description or a file name can hold newlines, tabs, and terminal escape sequences that would
#: recolour or rewrite the terminal), the line and paragraph separators, and the bidirectional
#: format controls (which reorder the text shown around them).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_IN_TEXT = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def _escape(m: re.Match[str]) -> str:
    return repr(m.group())[1:-1]  # all of _UNSAFE are non-printable: repr escapes each


def one_line(value: Any) -> str:
    """``value`` as text for one table cell or line: every control character escaped, newlines
    included (see ``_UNSAFE``)."""
    return _UNSAFE.sub(_escape, str(value))


def terminal_text(text: str) -> str:
    """``text`` with the characters of ``_UNSAFE`` escaped, its newlines kept."""
    return _UNSAFE_IN_TEXT.sub(_escape, text)


def _short(value: Any, limit: int = 70) -> str:
    text = one_line(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short_path(value: Any, limit: int = 60) -> str:
    """A path for one table cell: its end kept when it is too long (``.../study/mr_0004``), as
    the end tells one series folder or cached file from another; cut at its start it showed
    only the shared part (``/data/archive/2019/...``)."""
    text = one_line(value)
    return text if len(text) <= limit else "..." + text[len(text) - limit + 3 :]


def _print_rows(rows: Sequence[tuple[str, str]]) -> None:
    rows = [(one_line(k), one_line(v)) for k, v in rows]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def _table(header: Sequence[str], table: Sequence[Sequence[str]], right: set[int]) -> None:
    table = [[one_line(c) for c in t] for t in table]
    widths = [max([len(h)] + [len(t[i]) for t in table]) for i, h in enumerate(header)]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    print(fmt(header))
    for t in table:
        print(fmt(t))


# -- questions about a source ----------------------------------------------------------------------


def _files_size(paths: Sequence[str]) -> int:
    total = 0
    for p in set(paths):
        with contextlib.suppress(OSError):
            total += os.path.getsize(p)
    return total


def _reader_source(path: str) -> Any:
    """``path`` as the reader protocol takes it: a ``Location`` once ``lazyvol.formats`` exports
    one (the remote branch of issue 17), else the path itself. (Transitional: one place to adapt.)"""
    from .. import formats

    location = getattr(formats, "Location", None)
    return path if location is None else location.of(path)


def _disk_size(path: str) -> int:
    """Bytes of a local source: a NIfTI file (with the ``.img`` of a pair), or a folder's files."""
    if os.path.isfile(path):
        from ..formats import pick

        reader = pick(path)
        files = reader.source_files(_reader_source(path)) if reader.name == "nifti" else [path]
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


#: What ``info`` and ``stats`` say of the DICOM series a volume was opened from, by meta key.
_SERIES_FIELDS = {
    "number": "series_number",
    "description": "series_description",
    "modality": "modality",
    "uid": "series_uid",
    "id": "series_id",
}


def _series_row(vol: Any) -> dict[str, Any]:
    """The series ``--series`` picked: its number, description, modality, UID and volume id."""
    return {k: vol.meta.get(m) for k, m in _SERIES_FIELDS.items()}


def _series_text(row: dict[str, Any]) -> str:
    """A series as one line: ``NUMBER  DESCRIPTION`` (``-`` for a series stating no
    SeriesNumber, as the table leaves its cell empty; it printed ``None``)."""
    number = "-" if row["number"] is None else row["number"]
    return f"{number}  {row['description'] or '(no description)'}"


def _check_series_applies(path: str, series: str | None, flag: str = "--series") -> None:
    """``--series`` (or another DICOM-only ``flag``, given with ``series=""``) only means
    something for DICOM: refuse it for NIfTI files and Zarr stores.

    A URL is judged by its name (``.nii``, ``.nii.gz``, ``.hdr``, ``.img``, ``.zarr``): the
    reader would refuse the option with a bare ``TypeError``.
    """
    if series is None:
        return
    if is_url(path):
        from ..nifti_codes import NIFTI_SUFFIXES

        name = Location.of(path).name.lower()
        kind = (
            "zarr" if name.endswith(".zarr") else "nifti" if name.endswith(NIFTI_SUFFIXES) else ""
        )
    elif os.path.exists(path):
        from ..formats import pick

        kind = pick(path).name
    else:
        return
    if kind in ("zarr", "nifti"):
        what = "a Zarr store" if kind == "zarr" else "a NIfTI file"
        shown = f"{flag} {series}" if series else flag
        raise CommandError(f"{shown}: {path} is {what} (one volume); drop {flag}")


def _check_source(path: str, flag: str = "") -> None:
    """Refuse a local source that cannot be one, before any reader sees it.

    Parameters
    ----------
    path : str
        The source as given (a URL is left to the reader).
    flag : str
        The option that gave it (``"--mask"``), named in the message; empty for a positional
        argument.

    Raises
    ------
    SourceNotFoundError
        Nothing at ``path``, or a file named with a trailing ``/`` (as a folder).
    CommandError
        A regular file named ``*.zarr`` (a Zarr store is a folder).
    """
    if is_url(path):
        return
    from ..errors import SourceNotFoundError

    shown = f"{flag} {path}" if flag else path
    if not path:
        raise SourceNotFoundError(
            f"{flag or 'the source'}: the path is empty; give a file or folder"
        )
    if not os.path.exists(path):
        bare = path.rstrip("/" + os.sep)
        if bare != path and os.path.isfile(bare):
            raise SourceNotFoundError(
                f"{shown}: {bare} is a file, not a folder; drop the trailing '/'"
            )
        # (a link whose target is missing, such as a git-annex file not fetched, is there for
        # `ls`: say where it leads, as lv.open does)
        link = link_to_nothing(path)
        raise SourceNotFoundError(
            f"{shown}: {f'is {link}' if link else 'no such file or directory'}"
        )
    if os.path.isfile(path) and path.rstrip("/").lower().endswith(".zarr"):
        raise CommandError(
            f"{shown}: is a file, but a Zarr store (.zarr) is a folder; give the store's folder"
        )


def _check_folder(path: str, what: str) -> None:
    """Refuse ``path`` (given as ``what``, e.g. ``"--cache-dir X"``) when it exists and is not a
    folder; a folder that does not exist yet is fine (it is created when needed).

    Raises
    ------
    CommandError
        ``path`` is a file (or anything else but a folder), or lies under a file.
    """
    if os.path.isdir(path):
        return
    if os.path.lexists(path):
        raise CommandError(f"{what}: {path} is a file, not a folder; give a folder")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(parent):  # the root always exists
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise CommandError(f"{what}: {parent} is a file, not a folder; give a folder")


def _check_output_file(path: str, flag: str, overwrite: bool) -> None:
    """Refuse an output file that cannot be written as asked, before any work is done.

    Raises
    ------
    CommandError
        ``path`` is a folder, exists without ``overwrite``, or its folder is missing or a file.
    """
    shown = f"{flag} {path}" if flag else path
    if os.path.isdir(path):
        raise CommandError(f"{shown}: is a folder; give a file name (left untouched)")
    if os.path.lexists(path) and not overwrite:
        raise CommandError(f"{shown} exists; pass --overwrite to replace it (left untouched)")
    check_output_folder(path, shown)


def check_output_folder(path: str, shown: str) -> None:
    """Refuse an output whose folder is missing or is a file, before any work is done (the
    writers said of a file named as a folder, ``x.nii.gz/out.nii``, that the folder "does not
    exist").

    Raises
    ------
    CommandError
        The folder of ``path`` does not exist, or is not a folder.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        what = (
            "is a file, not a folder; choose another location"
            if os.path.lexists(folder)
            else "does not exist; create it or choose another location"
        )
        raise CommandError(f"{shown}: the folder {folder} {what}")


def _is_dicom_folder(path: str) -> bool:
    from ..formats import pick

    return os.path.isdir(path) and pick(path).name == "dicom"
