"""What a user pays in a fresh process: whole command lines timed from the parent.

``python -c "import lazyvol"`` against ``import nibabel``; ``lazyvol info FILE.nii`` against
``nib-ls FILE.nii``; a script reading one slice of the ``.nii`` (lazyvol against nibabel's
``dataobj``); a script reading one slice far into the ``.nii.gz`` with the seek index saved, against
a script inflating the whole file (indexed_gzip); a script reading one slice of the DICOM group's
series (lazyvol on a first open and with its scan index saved, against a pydicom script that reads
every header, sorts by position and decodes one file). Interpreter start-up, imports, the work
and the exit are all timed: these are *script* measures (cold by nature, no warm column).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .. import data
from ..harness import Context, Measure, lazyvol_cache_dir
from . import dicom, gzindex, nifti

GROUP = "startup"
M = "benchmarks.cases.tools"


def _exe(name: str) -> str | None:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


def _paths(ctx: Context) -> tuple[str | None, str | None]:
    if ctx.input is not None:
        p = str(ctx.input)
        low = p.lower()
        return (p if low.endswith(".nii") else None, p if low.endswith(".nii.gz") else None)
    shape = nifti.shape_for(ctx)
    base = ctx.data_dir / "nifti"
    return (
        str(base / data.nifti_name(shape, "int16", False)),
        str(base / data.nifti_name(shape, "int16", True)),
    )


def _slice_scripts(path: str, k: int) -> tuple[list[str], list[str]]:
    py = sys.executable
    lazy = (
        "import lazyvol as lv\n"
        f"a = lv.open({path!r})[:, :, {k}:{k + 1}].compute()\n"
        "print(a.shape, float(a.sum()))\n"
    )
    nib = (
        "import numpy as np, nibabel as nib\n"
        f"a = np.asarray(nib.load({path!r}).dataobj[:, :, {k}])\n"
        "print(a.shape, float(a.sum()))\n"
    )
    return [py, "-c", lazy], [py, "-c", nib]


#: What a user writes without lazyvol to read slice ``k`` of a series folder (argv: folder, k).
PYDICOM_SLICE = (
    "import os, sys, numpy as np, pydicom\n"
    "folder, k = sys.argv[1], int(sys.argv[2])\n"
    "heads = []\n"
    "for root, _, names in os.walk(folder):\n"
    "    for name in names:\n"
    "        try:\n"
    "            ds = pydicom.dcmread(os.path.join(root, name), stop_before_pixels=True)\n"
    "        except Exception:\n"
    "            continue\n"
    "        if 'ImagePositionPatient' in ds:\n"
    "            heads.append((ds, os.path.join(root, name)))\n"
    "iop = np.array([float(x) for x in heads[0][0].ImageOrientationPatient])\n"
    "normal = np.cross(iop[:3], iop[3:])\n"
    "heads.sort(key=lambda h: float(normal @ [float(x) for x in h[0].ImagePositionPatient]))\n"
    "ds = pydicom.dcmread(heads[k][1])\n"
    "a = ds.pixel_array.T * float(ds.get('RescaleSlope', 1)) + float(ds.get('RescaleIntercept', 0))\n"
    "print(a.shape, float(a.sum()))\n"
)
LAZYVOL_SLICE = (
    "import sys, lazyvol as lv\n"
    "k = int(sys.argv[2])\n"
    "a = lv.open(sys.argv[1])[:, :, k : k + 1].compute()\n"
    "print(a.shape, float(a.sum()))\n"
)

INFLATE = (
    "import sys, indexed_gzip as igzip\n"
    "buf = bytearray(32 * 2**20)\n"
    "with igzip.IndexedGzipFile(sys.argv[1], buffer_size=2**20) as f:\n"
    "    total = 0\n"
    "    while (n := f.readinto(buf)):\n"
    "        total += n\n"
    "print(total)\n"
)


def plan(ctx: Context) -> list[Measure]:
    nii, gz = _paths(ctx)
    py = sys.executable
    c = {"group": GROUP, "module": M, "func": "script", "cache": "fresh"}
    out = [
        Measure(
            case="import",
            tool="python -c 'import lazyvol'",
            cmd=[py, "-c", "import lazyvol"],
            ref=True,
            **c,
        ),
        Measure(
            case="import", tool="python -c 'import nibabel'", cmd=[py, "-c", "import nibabel"], **c
        ),
        Measure(
            case="import",
            tool="python -c 'import dask.array' (for scale)",
            cmd=[py, "-c", "import dask.array"],
            **c,
        ),
    ]
    if nii is not None:
        files = {"files": [nii]}
        lv_exe, nib_ls = _exe("lazyvol"), _exe("nib-ls")
        out += [
            Measure(
                case="info on a .nii",
                tool="lazyvol info",
                cmd=[lv_exe or "lazyvol", "info", nii],
                ref=True,
                skip="" if lv_exe else "the lazyvol command is not installed",
                **files,
                **c,
            ),
            Measure(
                case="info on a .nii",
                tool="nib-ls",
                cmd=[nib_ls or "nib-ls", nii],
                skip="" if nib_ls else "nib-ls is not installed",
                **files,
                **c,
            ),
            Measure(case="script: one slice of a .nii", tool="lazyvol", ref=True, **files, **c),
            Measure(case="script: one slice of a .nii", tool="nibabel dataobj", **files, **c),
        ]
    if gz is not None:
        files = {"files": [gz]}
        far = "script: one slice far into a .nii.gz"
        out += [
            Measure(case=far, tool="lazyvol, saved index", ref=True, **files, **c),
            Measure(case=far, tool="lazyvol, no saved index", **files, **c),
            Measure(
                case=far,
                tool="full inflate (indexed_gzip script)",
                cmd=[py, "-c", INFLATE, gz],
                **files,
                **c,
            ),
        ]
    series = _dicom_series(ctx)
    if series is not None:
        files = {"files": [series]}
        one = "script: one slice of a DICOM series"
        out += [
            Measure(case=one, tool="lazyvol, first open", ref=True, **files, **c),
            Measure(case=one, tool="lazyvol, saved scan index", **files, **c),
            Measure(case=one, tool="pydicom: every header, then one file", **files, **c),
        ]
    return out


def _dicom_series(ctx: Context) -> str | None:
    """The DICOM group's uncompressed series (or the user's folder)."""
    return dicom.folders(ctx).get("uncompressed")


def _prepare_dicom(ctx: Context, measures: list[Measure]) -> None:
    """Write the series if needed, save its scan index for the "saved" run, and give every DICOM
    script its command: slice k = the middle one, by position along the slice normal."""
    import lazyvol as lv

    mine = [m for m in measures if m.case.endswith("DICOM series")]
    series = _dicom_series(ctx)
    if not mine or series is None:
        return
    if ctx.input is None and not os.path.isdir(series):
        dicom.write_series(series, dicom.shape_for(ctx))
    index = ctx.cache_dir("startup-dicom-index")
    with lazyvol_cache_dir(index):
        shape = lv.open(series).shape
    k = shape[2] // 2
    for m in mine:
        if len(shape) != 3:
            m.skip = f"a {len(shape)}-D series: the pydicom script reads one 3-D slice"
            continue
        script = PYDICOM_SLICE if m.tool.startswith("pydicom") else LAZYVOL_SLICE
        m.cmd = [sys.executable, "-c", script, series, str(k)]
        m.note = f"slice k={k} of {shape[2]}"
        if "saved" in m.tool:
            m.cache = str(index)


def prepare(ctx: Context, measures: list[Measure]) -> None:
    nii, gz = _paths(ctx)
    needed = {f for m in measures for f in m.files}  # only the selected measures' files
    if ctx.input is None:
        if nii is not None and nii in needed:
            data.nifti(ctx.data_dir, nifti.shape_for(ctx), "int16", False)
        if gz is not None and gz in needed:
            data.nifti(ctx.data_dir, nifti.shape_for(ctx), "int16", True)
    folder = None
    if gz is not None and any(m.case.endswith(".nii.gz") and "saved" in m.tool for m in measures):
        folder, _ = gzindex.build_index(ctx, gz)
    _prepare_dicom(ctx, measures)
    for m in measures:
        if m.cmd or m.skip or m.case.endswith("DICOM series"):
            continue
        path = m.files[0]
        info = data.nifti_info(path)
        k = info["shape"][2] // 2 if path.endswith(".nii") else info["shape"][2] * 15 // 16
        lazy, nib = _slice_scripts(path, k)
        m.cmd = nib if m.tool.startswith("nibabel") else lazy
        m.note = f"slice k={k} of {info['shape'][2]}"
        if "saved index" in m.tool and "no saved" not in m.tool and folder is not None:
            m.cache = str(folder)
