"""NIfTI ``.nii`` / ``.nii.gz``, int16 / float32: full-volume mean, slices, a 64^3 block, open latency.

Every case runs lazyvol and the baselines on the same file in the same run. Raw limits: the
``np.memmap`` mean for ``.nii``; ``gzip -dc`` and indexed_gzip's single-stream decompression for
``.nii.gz``. lazyvol runs with a fresh, empty cache directory each time, so ``.nii.gz`` figures here
are first contact (no saved seek index; see the ``gzindex`` group for what the index gives).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import data
from ..harness import Context, Measure

GROUP = "nifti"
M = "benchmarks.cases.tools"
DEFAULT_SHAPE = (512, 512, 1024)
QUICK_SHAPE = (64, 64, 48)


def shape_for(ctx: Context) -> tuple[int, int, int]:
    if ctx.quick:
        return QUICK_SHAPE
    i, j, k = DEFAULT_SHAPE
    return (i, j, max(8, round(k * ctx.size)))


def files(ctx: Context) -> list[tuple[str, str, bool]]:
    """(path, dtype, gz) of the files this group measures."""
    if ctx.input is not None:
        p = str(ctx.input)
        if not p.lower().endswith((".nii", ".nii.gz")):
            return []
        return [(p, "", p.lower().endswith(".gz"))]
    shape = shape_for(ctx)
    return [
        (str(ctx.data_dir / "nifti" / data.nifti_name(shape, dt, gz)), dt, gz)
        for gz in (False, True)
        for dt in ("int16", "float32")
    ]


def _fmt(gz: bool) -> str:
    return ".nii.gz" if gz else ".nii"


def plan(ctx: Context) -> list[Measure]:
    out: list[Measure] = []
    for path, dt, gz in files(ctx):
        fmt = _fmt(gz)
        label = f"{fmt} {dt}" if dt else f"{fmt} (input)"
        a = {"path": path}
        common: dict[str, Any] = {"group": GROUP, "files": [path]}
        case = f"mean {label}"
        out += [
            Measure(
                case=case, tool="lazyvol", module=M, func="lazyvol_mean", args=a, ref=True, **common
            ),
            Measure(
                case=case,
                tool="nibabel get_fdata",
                module=M,
                func="nib_fdata_mean",
                args=a,
                **common,
            ),
            Measure(
                case=case,
                tool="nibabel dataobj slabs",
                module=M,
                func="nib_slab_mean",
                args=a,
                **common,
            ),
        ]
        if not gz:
            out.append(
                Measure(
                    case=case,
                    tool="np.memmap mean (raw limit)",
                    module=M,
                    func="memmap_mean",
                    **common,
                )
            )
        else:
            out += [
                Measure(
                    case=case,
                    tool="gzip -dc (gz limit)",
                    module=M,
                    func="gzip_cli",
                    args=a,
                    **common,
                ),
                Measure(
                    case=case,
                    tool="indexed_gzip readinto (gz limit)",
                    module=M,
                    func="igzip_read",
                    **common,
                ),
            ]
        if dt in ("int16", ""):
            for axis in range(3):
                case = f"slice axis {axis} {label}"
                out += [
                    Measure(
                        case=case,
                        tool="lazyvol",
                        module=M,
                        func="lazyvol_slice",
                        ref=True,
                        **common,
                    ),
                    Measure(
                        case=case, tool="nibabel dataobj", module=M, func="nib_slice", **common
                    ),
                ]
            case = f"block 64^3 {label}"
            out += [
                Measure(
                    case=case, tool="lazyvol", module=M, func="lazyvol_slice", ref=True, **common
                ),
                Measure(case=case, tool="nibabel dataobj", module=M, func="nib_slice", **common),
            ]
            case = f"open {label}"
            out += [
                Measure(
                    case=case,
                    tool="lazyvol",
                    module=M,
                    func="lazyvol_open",
                    args=a,
                    ref=True,
                    **common,
                ),
                Measure(
                    case=case, tool="nibabel load", module=M, func="nib_open", args=a, **common
                ),
            ]
    return out


def prepare(ctx: Context, measures: list[Measure]) -> None:
    """Generate the files the selected ``measures`` use (only those: a full-size file takes a
    minute or more), then fill in sizes, positions and memory hints from their headers."""
    needed = {m.files[0] for m in measures}
    infos = {}
    for path, dt, gz in files(ctx):
        if path not in needed:
            continue
        if ctx.input is None:
            data.nifti(ctx.data_dir, shape_for(ctx), dt, gz)
        infos[path] = data.nifti_info(path)
    for m in measures:
        info = infos[m.files[0]]
        fill(m, info)


def fill(m: Measure, info: dict) -> None:
    """Arguments, byte counts and memory hints of one measure from its file's header facts."""
    shape = info["shape"][:3]
    nbytes = info["nbytes"]
    path = info["path"]
    if m.func == "memmap_mean":
        m.args = {
            "path": path,
            "offset": info["offset"],
            "shape": info["shape"],
            "dtype": info["dtype"],
            "slope": info["slope"],
            "inter": info["inter"],
        }
    elif m.func in ("igzip_read",):
        m.args = {"path": path, "stream_bytes": info["stream_bytes"]}
    if m.case.startswith("mean"):
        m.nbytes = nbytes
        if m.func == "nib_fdata_mean":
            m.mem_hint = nbytes // np.dtype(info["dtype"]).itemsize * 8 + nbytes
    elif m.case.startswith("slice"):
        axis = int(m.case.split()[2])
        m.args = {"path": path, "axis": axis, "pos": shape[axis] // 2}
        m.nbytes = nbytes // shape[axis]
    elif m.case.startswith("block"):
        rng = np.random.default_rng(64)
        size = min(64, *shape)
        pos = [int(rng.integers(0, n - size + 1)) for n in shape]
        m.args = {"path": path, "pos": pos, "size": size}
        m.nbytes = size**3 * np.dtype(info["dtype"]).itemsize
        m.note = f"block at {pos}"
