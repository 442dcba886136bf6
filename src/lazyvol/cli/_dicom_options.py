"""DICOM stacking options on the command line: the relaxations :func:`lazyvol.open` and
:func:`lazyvol.scan` take as keywords (``allow_gaps=True``, ``instance_order=True``, ...) as flags
of ``info``, ``stats``, ``convert`` and ``references``.

A refusal's message names the keyword that would open the series; the command prints the flag
instead (``_common._FLAG_NAMES``), so every hint a command prints is one the command can follow.
The flags are passed only when given, and refused for a NIfTI file or a Zarr store (one volume,
nothing to stack) rather than ignored.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._common import _check_series_applies, _non_negative_float, _number

__all__ = ["DICOM_FLAGS", "add_dicom_arguments", "dicom_kwargs", "dicom_usage_problem"]

#: (flag, keyword of lazyvol.open / lazyvol.scan) of every DICOM stacking option.
DICOM_FLAGS = (
    ("--allow-gaps", "allow_gaps"),
    ("--fill", "fill"),
    ("--instance-order", "instance_order"),
    ("--stack-localizers", "stack_localizers"),
    ("--split-4d", "split_4d"),
    ("--spacing-rtol", "spacing_rtol"),
    ("--spacing-atol", "spacing_atol"),
    ("--philips-scaling", "philips_scaling"),
    ("--follow-symlinks", "follow_symlinks"),
)


def add_dicom_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the DICOM stacking flags (all default to "not given") to a subcommand's parser."""
    g = parser.add_argument_group("DICOM stacking (series that are refused as they are)")
    off = argparse.SUPPRESS
    g.add_argument(
        "--allow-gaps",
        action="store_true",
        default=off,
        help="fill slices missing from a regular grid (with --fill, default 0, NaN for float "
        "output); the volume's metadata lists them",
    )
    g.add_argument(
        "--fill",
        type=_number,
        metavar="VALUE",
        default=off,
        help="with --allow-gaps: the value of the filled slices (nan or inf for float output)",
    )
    g.add_argument(
        "--instance-order",
        action="store_true",
        default=off,
        help="stack by InstanceNumber where positions are missing or repeat (geometry flagged "
        "approximate where positions are missing)",
    )
    g.add_argument(
        "--stack-localizers",
        action="store_true",
        default=off,
        help="stack localizer (scout) images as a series instead of skipping them",
    )
    g.add_argument(
        "--split-4d",
        action="store_true",
        default=off,
        help="one 3D volume per echo / temporal position instead of a 4th axis",
    )
    g.add_argument(
        "--spacing-rtol",
        type=_non_negative_float,
        metavar="R",
        default=off,
        help="slice position tolerance, relative to the spacing (default 0.001)",
    )
    g.add_argument(
        "--spacing-atol",
        type=_non_negative_float,
        metavar="MM",
        default=off,
        help="slice position tolerance floor in mm (default 0.001)",
    )
    g.add_argument(
        "--follow-symlinks",
        action="store_true",
        default=off,
        help="follow symbolic links in a DICOM folder (skipped otherwise; loops are detected)",
    )
    g.add_argument(
        "--philips-scaling",
        choices=["rescale", "fp"],
        default=off,
        help="Philips: 'rescale' (DICOM RescaleSlope/Intercept, default) or 'fp' (floating-point "
        "values with the private scale slope, as dcm2niix writes them)",
    )


def dicom_usage_problem(args: argparse.Namespace) -> str | None:
    """Why the DICOM flags in ``args`` cannot be meant together, or ``None``."""
    if hasattr(args, "fill") and not hasattr(args, "allow_gaps"):
        return "--fill sets the value of slices filled in by --allow-gaps; add --allow-gaps"
    return None


def dicom_kwargs(args: argparse.Namespace, path: str) -> dict[str, Any]:
    """The DICOM keywords given as flags, for ``lazyvol.open(path, ...)`` / ``lazyvol.scan``.

    Raises
    ------
    CommandError
        A flag was given for a local NIfTI file or Zarr store.
    """
    given = {key: getattr(args, key) for _flag, key in DICOM_FLAGS if hasattr(args, key)}
    if given:
        _check_series_applies(path, "", next(f for f, key in DICOM_FLAGS if key in given))
    return given
