"""``.nii.gz`` random access and the saved seek index.

One slice far from the start of a 1024-slice ``.nii.gz``: lazyvol before and after
``lazyvol.nifti.build_gzip_index`` (the index saved in ``LAZYVOL_CACHE_DIR``), nibabel (indexed_gzip
without a saved index), and a full decompression for scale; every slice in turn (a script walking
through the volume), lazyvol with and without the saved index against nibabel keeping its
indexed_gzip handle open. Then what the saved index gives a full
pass on this machine's cores: lazyvol's mean and indexed_gzip itself with two threads, each from the
saved index, against one stream.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from .. import data
from ..harness import Context, Measure, lazyvol_cache_dir
from . import nifti

GROUP = "gzindex"
M = "benchmarks.cases.tools"


def source(ctx: Context) -> str | None:
    if ctx.input is not None:
        p = str(ctx.input)
        return p if p.lower().endswith(".nii.gz") else None
    return str(ctx.data_dir / "nifti" / data.nifti_name(nifti.shape_for(ctx), "int16", True))


def plan(ctx: Context) -> list[Measure]:
    path = source(ctx)
    if path is None:
        return []
    c: dict[str, Any] = {"group": GROUP, "files": [path]}
    a = {"path": path}
    far = "far slice"
    full = "full pass, saved index"
    return [
        Measure(case=far, tool="lazyvol, no saved index", module=M, func="lazyvol_slice", **c),
        Measure(
            case=far, tool="lazyvol, saved index", module=M, func="lazyvol_slice", ref=True, **c
        ),
        Measure(case=far, tool="nibabel dataobj (indexed_gzip)", module=M, func="nib_slice", **c),
        Measure(
            case=far, tool="full decompression (indexed_gzip)", module=M, func="igzip_read", **c
        ),
        Measure(
            case=LOOP, tool="lazyvol, no saved index", module=M, func="lazyvol_slice_loop", **c
        ),
        Measure(
            case=LOOP,
            tool="lazyvol, saved index",
            module=M,
            func="lazyvol_slice_loop",
            ref=True,
            **c,
        ),
        Measure(
            case=LOOP,
            tool="nibabel dataobj, keep_file_open (indexed_gzip)",
            module=M,
            func="nib_slice_loop",
            **c,
        ),
        Measure(
            case="build seek index",
            tool="lazyvol.nifti.build_gzip_index",
            module=M,
            func="lazyvol_build_index",
            args=a,
            ref=True,
            **c,
        ),
        Measure(
            case=full,
            tool="lazyvol mean, no saved index",
            module=M,
            func="lazyvol_mean",
            args=a,
            **c,
        ),
        Measure(
            case=full,
            tool="lazyvol mean, saved index",
            module=M,
            func="lazyvol_mean",
            args=a,
            ref=True,
            **c,
        ),
        Measure(case=full, tool="indexed_gzip 1 stream", module=M, func="igzip_read", **c),
        Measure(
            case=full,
            tool="indexed_gzip 2 threads, saved index",
            module=M,
            func="igzip_parallel",
            **c,
        ),
        *scaling_measures(path),
    ]


#: Every slice of the file in turn (the saved index's reads each start from a seek point: a
#: handle reads on to the next one once reads follow one another, see lazyvol.gzahead).
LOOP = "every slice in turn"


def thread_counts() -> list[int]:
    """1, 2, 4, ... up to this machine's cores (and the core count itself)."""
    cores = os.cpu_count() or 1
    out = {cores}
    n = 1
    while n < cores:
        out.add(n)
        n *= 2
    return sorted(out)


SCALING = "inflate scaling with cores, no saved index"


def scaling_measures(path: str) -> list[Measure]:
    """How a first pass scales with the threads given to rapidgzip: the inflate alone, and
    lazyvol's mean with ``LAZYVOL_GZIP_THREADS`` set. Run on a many-core machine to see more than
    two points (see benchmarks/README.md)."""
    c: dict[str, Any] = {"group": GROUP, "files": [path], "case": SCALING}
    out = []
    for n in thread_counts():
        out += [
            Measure(tool=f"rapidgzip inflate, {n} thread(s)", module=M, func="rapidgzip_read", **c),
            Measure(
                tool=f"lazyvol mean, {n} gzip thread(s)",
                module=M,
                func="lazyvol_mean",
                args={"path": path, "gzip_threads": n},
                ref=n == 1,
                **c,
            ),
        ]
    out.append(Measure(tool="indexed_gzip 1 stream", module=M, func="igzip_read", **c))
    out.append(Measure(tool="zlib 1 stream, no index", module=M, func="zlib_read", **c))
    return out


def build_index(ctx: Context, path: str) -> tuple[Path, Path]:
    """A lazyvol cache directory holding the saved seek index of ``path``: rebuilt once per suite
    run (the groups that use it share it), so it always matches the current file and lazyvol."""
    from lazyvol.nifti import build_gzip_index

    done = ctx.extra.setdefault("gz-index-built", {})
    if path in done:
        return done[path]
    folder = ctx.data_dir / "cache" / ("gzindex-" + Path(path).name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with lazyvol_cache_dir(folder):
        index_file = Path(build_gzip_index(path))
    done[path] = (folder, index_file)
    return folder, index_file


def prepare(ctx: Context, measures: list[Measure]) -> None:
    path = source(ctx)
    if path is None:
        return
    if ctx.input is None:
        data.nifti(ctx.data_dir, nifti.shape_for(ctx), "int16", True)
    info = data.nifti_info(path)
    # The saved seek index (a whole inflate) only when a selected measure reads it.
    uses_index = any(
        ("saved index" in m.tool and "no saved" not in m.tool) or m.func == "igzip_parallel"
        for m in measures
    )
    folder, index_file = build_index(ctx, path) if uses_index else (Path(), Path())
    shape = info["shape"]
    k = shape[2] * 15 // 16
    for m in measures:
        if "saved index" in m.tool and "no saved" not in m.tool:
            m.cache = str(folder)
        if m.case == LOOP:
            m.args = {"path": path, "axis": 2}
        if m.case == "far slice":
            m.nbytes = info["nbytes"] // shape[2]
            m.note = f"slice k={k} of {shape[2]}"
            if m.func in ("lazyvol_slice", "nib_slice"):
                m.args = {"path": path, "axis": 2, "pos": k}
        else:
            m.nbytes = info["nbytes"]
        if m.func == "rapidgzip_read":
            m.args = {
                "path": path,
                "stream_bytes": info["stream_bytes"],
                "threads": int(m.tool.split(", ")[1].split()[0]),
            }
        if m.func in ("igzip_read", "zlib_read"):
            m.args = {"path": path, "stream_bytes": info["stream_bytes"]}
            if m.case == "far slice":
                m.nbytes = info["nbytes"]
        elif m.func == "igzip_parallel":
            m.args = {
                "path": path,
                "stream_bytes": info["stream_bytes"],
                "index_file": str(index_file),
                "threads": 2,
            }
