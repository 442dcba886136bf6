"""Zarr (placeholder plan until lazyvol's Zarr writer and cache land on main)."""

from __future__ import annotations

from typing import Any

from ..harness import Context, Measure

GROUP = "zarr"
M = "benchmarks.cases.zarr"


def plan(ctx: Context) -> list[Measure]:
    c: dict[str, Any] = {"group": GROUP, "module": M}
    return [
        Measure(case="convert to Zarr", tool="vol.to_zarr", func="lazyvol_to_zarr", ref=True, **c),
        Measure(
            case="convert to Zarr", tool="plain streaming zarr write", func="plain_zarr_write", **c
        ),
        Measure(
            case="mean",
            tool="lazyvol.open(src, cache=True), cached",
            func="cached_mean",
            ref=True,
            **c,
        ),
        Measure(case="mean", tool="lazyvol.open(store)", func="store_mean", **c),
        Measure(case="mean", tool="lazyvol.open(.nii.gz)", func="source_mean", **c),
    ]


def prepare(ctx: Context, measures: list[Measure]) -> None:
    from lazyvol import zarr_io  # type: ignore[attr-defined]  # noqa: F401

    raise ImportError("the Zarr cases are not wired up yet")
