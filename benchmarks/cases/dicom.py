"""DICOM series (placeholder plan until lazyvol's DICOM reader and series writer land on main)."""

from __future__ import annotations

from typing import Any

from ..harness import Context, Measure

GROUP = "dicom"
M = "benchmarks.cases.dicom"


def plan(ctx: Context) -> list[Measure]:
    c: dict[str, Any] = {"group": GROUP, "module": M}
    mean = "open + mean, uncompressed"
    return [
        Measure(case="header scan", tool="lazyvol.scan", func="lazyvol_scan", ref=True, **c),
        Measure(
            case="header scan", tool="dcmread(stop_before_pixels) loop", func="dcmread_loop", **c
        ),
        Measure(case=mean, tool="lazyvol", func="lazyvol_mean", ref=True, **c),
        Measure(case=mean, tool="pydicom loop + np.stack", func="naive_mean", **c),
        Measure(case=mean, tool="SimpleITK ImageSeriesReader", func="sitk_mean", **c),
        Measure(case=mean, tool="dcm2niix to .nii", func="dcm2niix_convert", **c),
        Measure(case=mean, tool="cat the files (raw limit)", func="cat_files", **c),
        Measure(case="open (no pixels)", tool="lazyvol, first open", func="lazyvol_open", **c),
        Measure(
            case="open (no pixels)",
            tool="lazyvol, saved scan index",
            func="lazyvol_open",
            ref=True,
            **c,
        ),
    ]


def prepare(ctx: Context, measures: list[Measure]) -> None:
    from lazyvol.testing import write_dicom_series  # type: ignore[attr-defined]  # noqa: F401

    raise ImportError("the DICOM cases are not wired up yet")
