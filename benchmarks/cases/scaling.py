"""Memory scaling: the full-volume mean of int16 ``.nii`` and ``.nii.gz`` at three sizes, and
``lv.stats`` (every statistic in one pass, as ``lazyvol stats`` runs it) on the ``.nii``.

lazyvol's peak anonymous memory must stay flat (< 256 MiB, within 10% from the smallest to the
largest size) while ``get_fdata`` grows with the volume (float64: 4x the int16 data, plus the
decompressed copy for ``.nii.gz``). A ``get_fdata`` run whose expected need exceeds 60% of the
memory available is skipped, and the report says so, rather than pushing the machine into the OOM
killer.
"""

from __future__ import annotations

from typing import Any

from .. import data
from ..harness import Context, Measure, mem_available

GROUP = "scaling"
M = "benchmarks.cases.tools"
#: 256 MiB, 1 GiB, 4 GiB of int16.
DEFAULT_K = (512, 2048, 8192)
QUICK_SHAPES = ((64, 64, 16), (64, 64, 64), (64, 64, 256))


def shapes(ctx: Context) -> list[tuple[int, int, int]]:
    if ctx.quick:
        return [tuple(s) for s in QUICK_SHAPES]  # type: ignore[misc]
    return [(512, 512, max(8, round(k * ctx.size))) for k in DEFAULT_K]


def label(nbytes: int) -> str:
    return f"{nbytes / 2**30:g} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:g} MiB"


def plan(ctx: Context) -> list[Measure]:
    if ctx.input is not None:
        return []
    out: list[Measure] = []
    for shape in shapes(ctx):
        nbytes = shape[0] * shape[1] * shape[2] * 2
        for gz in (False, True):
            path = str(ctx.data_dir / "nifti" / data.nifti_name(shape, "int16", gz))
            fmt = ".nii.gz" if gz else ".nii"
            case = f"mean {fmt} int16 {label(nbytes)}"
            c: dict[str, Any] = {
                "group": GROUP,
                "case": case,
                "files": [path],
                "nbytes": nbytes,
                "x": float(nbytes),
            }
            a = {"path": path}
            need = nbytes * 4 + nbytes  # float64 result plus the int16 data (pages or a buffer)
            fdata = Measure(
                tool="nibabel get_fdata",
                module=M,
                func="nib_fdata_mean",
                args=a,
                mem_hint=need,
                **c,
            )
            if need > 0.6 * mem_available():
                fdata.skip = (
                    f"needs about {need / 2**30:.1f} GiB, over 60% of the "
                    f"{mem_available() / 2**30:.1f} GiB available"
                )
                fdata.skip_status = "skipped"
            out += [
                Measure(tool="lazyvol", module=M, func="lazyvol_mean", args=a, ref=True, **c),
                fdata,
            ]
            if not gz:
                out.append(
                    Measure(tool="lazyvol.stats", module=M, func="lazyvol_stats", args=a, **c)
                )
    return out


def prepare(ctx: Context, measures: list[Measure]) -> None:
    """Generate the files the selected ``measures`` use (only those: the largest is 4 GiB)."""
    needed = {m.files[0] for m in measures}
    for shape in shapes(ctx):
        for gz in (False, True):
            if str(ctx.data_dir / "nifti" / data.nifti_name(shape, "int16", gz)) in needed:
                data.nifti(ctx.data_dir, shape, "int16", gz)
