"""DICOM series: header scan, open + full-series mean, one slice, reopen from the scan index;
a Siemens mosaic 4D series (fMRI layout) against dcm2niix and nibabel's MosaicWrapper.

Data: one series of 512 single-frame 512x512 int16 CT slices (uncompressed, explicit VR little
endian; ``--size`` scales the slice count), written with :func:`lazyvol.testing.write_dicom_series`
in batches of slices (same series, explicit positions and instance numbers) so memory stays bounded,
plus a 64-slice compressed subset (RLE lossless, JPEG 2000 lossless) re-encoded with pydicom.
Baselines: a plain ``dcmread(stop_before_pixels=True)`` loop (header scan), the naive pydicom loop
+ ``np.stack``, SimpleITK's ``ImageSeriesReader``, ``dcm2niix`` conversion to ``.nii`` and ``cat``
of the files (the raw limit).

A 4D case: an fMRI-like run stored one file per slice per volume (64x64x36 x 200 volumes by
default, GE layout: volumes told apart only by InstanceNumber), open + mean against dcm2niix's
conversion and a pydicom loop that groups by position and stacks by InstanceNumber.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..data import generating
from ..harness import Context, Measure, lazyvol_cache_dir
from .tools import Work

GROUP = "dicom"
#: Header scan of a series whose headers are copied from a real scanner file (see
#: :func:`benchmarks.data.dicom_real_shaped`); the target is judged on it.
REAL_SCAN = "header scan, real-shaped headers"
M = "benchmarks.cases.dicom"
T = "benchmarks.cases.tools"
DEFAULT = (512, 512, 512)
QUICK = (64, 64, 24)
BATCH = 32
COMPRESSED_SLICES = 64
SYNTAXES = {"RLE": "1.2.840.10008.1.2.5", "JPEG 2000 lossless": "1.2.840.10008.1.2.4.90"}


def _files(folder: str) -> list[str]:
    """The series' files: its ``*.dcm`` files, or every regular file where none is so named (many
    scanners export without an extension; the pydicom loops skip what is not DICOM)."""
    named = sorted(glob.glob(os.path.join(folder, "**", "*.dcm"), recursive=True))
    if named:
        return named
    every = glob.glob(os.path.join(folder, "**", "*"), recursive=True)
    return sorted(p for p in every if os.path.isfile(p))


def _datasets(pydicom: Any, files: list[str], **kw: Any) -> list[Any]:
    """``pydicom.dcmread`` of each file that is DICOM (a README or sidecar beside the series is
    passed over, as a user's loop would)."""
    out = []
    for f in files:
        try:
            out.append(pydicom.dcmread(f, **kw))
        except pydicom.errors.InvalidDicomError:  # (imported with pydicom: no import here)
            continue
    return out


# -- tools (run in the worker) -------------------------------------------------------------------


def lazyvol_scan(folder: str) -> Work:
    """``lazyvol.scan(folder)`` with an empty cache (every header parsed)."""
    import lazyvol as lv

    def work() -> dict[str, Any]:
        rep = lv.scan(folder)
        return {"series": len(rep), "files": sum(len(s.files) for s in rep)}

    return work


def dcmread_loop(folder: str) -> Work:
    """``pydicom.dcmread(f, stop_before_pixels=True)`` for every file, one thread."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    def work() -> dict[str, Any]:
        n = 0
        for f in _files(folder):
            try:
                pydicom.dcmread(f, stop_before_pixels=True)
            except InvalidDicomError:
                continue  # not DICOM (a README beside the series)
            n += 1
        return {"files": n}

    return work


def naive_mean(folder: str) -> Work:
    """Read every file with pydicom, sort by position, ``np.stack`` the pixel arrays, rescale, mean."""
    import pydicom

    def work() -> float:
        dss = _datasets(pydicom, _files(folder))
        dss.sort(key=lambda d: float(d.ImagePositionPatient[2]))
        vol = np.stack([d.pixel_array for d in dss], axis=-1)
        slope = float(getattr(dss[0], "RescaleSlope", 1.0))
        inter = float(getattr(dss[0], "RescaleIntercept", 0.0))
        return float(vol.mean()) * slope + inter

    return work


def naive_slice(folder: str, k: int = 0) -> Work:
    """Slice ``k`` the pydicom way: read every header, sort by position, decode that one file."""
    import pydicom

    def work() -> np.ndarray:
        files = _files(folder)
        heads = [(d, d.filename) for d in _datasets(pydicom, files, stop_before_pixels=True)]
        heads.sort(key=lambda h: float(h[0].ImagePositionPatient[2]))
        ds = pydicom.dcmread(heads[k][1])
        slope = float(getattr(ds, "RescaleSlope", 1.0))
        inter = float(getattr(ds, "RescaleIntercept", 0.0))
        arr = ds.pixel_array.T  # (rows, cols) -> (i, j)
        return arr if (slope, inter) == (1.0, 0.0) else arr * slope + inter

    return work


def lazyvol_slice(folder: str, k: int = 0) -> Work:
    """``lazyvol.open(folder).data[:, :, k].compute()``. The script's own imports (lazyvol, and
    dask.array, which ``.data`` uses) are the preparation, as in :func:`tools.lazyvol_mean`."""
    import dask.array  # noqa: F401  (imported by the user's code: .data is a dask array)

    import lazyvol as lv

    def work() -> np.ndarray:
        return lv.open(folder).data[:, :, k].compute()

    return work


def sitk_mean(folder: str) -> Work:
    """SimpleITK ``ImageSeriesReader`` (GDCM file sorting) and a no-copy array view's mean."""
    import SimpleITK as sitk

    def work() -> float:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder))
        img = reader.Execute()
        return float(sitk.GetArrayViewFromImage(img).mean(dtype=np.float64))

    return work


def dcm2niix_convert(folder: str, out_dir: str) -> Work:
    """``dcm2niix -z n`` (uncompressed .nii) of the folder."""
    exe = shutil.which("dcm2niix") or str(Path(sys.executable).parent / "dcm2niix")
    if not os.path.exists(exe):
        raise ImportError("dcm2niix is not installed")
    from ..memory import run_child

    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)

    def work() -> dict[str, Any]:
        run_child(
            [exe, "-z", "n", "-b", "n", "-f", "out", "-o", out_dir, folder],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return {"files_out": len(os.listdir(out_dir))}

    return work


def cat_files(folder: str) -> Work:
    """``cat`` every file to /dev/null: the cost of reading the bytes at all."""
    from ..memory import run_child

    files = _files(folder)

    def work() -> None:
        # stdin closed (run_child's default): with no file named, cat would wait on it for good
        run_child(["cat", *files], stdout=subprocess.DEVNULL)

    return work


def naive_mean_4d(folder: str) -> Work:
    """pydicom: read every file, group by position, order each by InstanceNumber, stack, mean."""
    import pydicom

    def work() -> float:
        dss = _datasets(pydicom, _files(folder))
        dss.sort(key=lambda d: (float(d.ImagePositionPatient[2]), int(d.InstanceNumber)))
        nk = len({float(d.ImagePositionPatient[2]) for d in dss})
        planes = np.stack([d.pixel_array for d in dss], axis=-1)
        vol = planes.reshape(*planes.shape[:2], nk, -1)
        return float(vol.mean(dtype=np.float64))

    return work


def lazyvol_open(folder: str) -> Work:
    import lazyvol as lv

    def work() -> dict[str, Any]:
        return {"shape": list(lv.open(folder).shape)}

    return work


# -- plan ----------------------------------------------------------------------------------------


#: The "reopen" target is about large folders (issue 3: an unchanged 10,000-file folder): this many
#: series x slices of 64 x 64, scanned with and without the saved scan index.
MANY = (20, 500)
MANY_QUICK = (2, 25)
#: One-file-per-slice 4D run (ni, nj, nk, volumes).
FMRI = (64, 64, 36, 200)
FMRI_QUICK = (16, 16, 4, 3)


def fmri_shape(ctx: Context) -> tuple[int, int, int, int]:
    if ctx.quick:
        return FMRI_QUICK
    ni, nj, nk, nt = FMRI
    return (ni, nj, nk, max(2, round(nt * ctx.size)))


def write_fmri(folder: str, shape: tuple[int, int, int, int]) -> None:
    """The 4D run, written then renamed into place."""
    from lazyvol.testing import write_dicom_4d_series

    generating(folder)
    tmp = folder + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    ni, nj, nk, nt = shape
    write_dicom_4d_series(
        tmp, (ni, nj, nk), nt, labels=(), shuffle_names=False, spacing=(3.0, 3.0, 3.5)
    )
    os.replace(tmp, folder)


def write_many(folder: str, n_series: int, per_series: int) -> None:
    """``n_series`` small series of ``per_series`` slices each, written then renamed into place."""
    from lazyvol.testing import write_dicom_series

    generating(folder)
    tmp = folder + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    for i in range(n_series):
        write_dicom_series(
            os.path.join(tmp, f"series{i:03d}"),
            (64, 64, per_series),
            series_number=i + 1,
            seed=i,
            intercept=-1024.0,
        )
    os.replace(tmp, folder)


def shape_for(ctx: Context) -> tuple[int, int, int]:
    if ctx.quick:
        return QUICK
    return (DEFAULT[0], DEFAULT[1], max(4, round(DEFAULT[2] * ctx.size)))


def folders(ctx: Context) -> dict[str, str]:
    if ctx.input is not None:
        return (
            {"uncompressed": str(ctx.input)}
            if ctx.input.is_dir() and not (ctx.input / "zarr.json").exists()
            else {}
        )
    ni, nj, nk = shape_for(ctx)
    base = ctx.data_dir / "dicom"
    out = {"uncompressed": str(base / f"ct_{ni}x{nj}x{nk}")}
    out["real-shaped headers"] = str(base / f"real_shaped_{nk}")
    fi, fj, fk, ft = fmri_shape(ctx)
    out["fmri 4d"] = str(base / f"fmri_{fi}x{fj}x{fk}x{ft}")
    ns, per = MANY_QUICK if ctx.quick else MANY
    out["many files"] = str(base / f"many_{ns}x{per}")
    nc = min(nk, COMPRESSED_SLICES)
    for name in SYNTAXES:
        tag = name.split()[0].lower()
        out[name] = str(base / f"ct_{ni}x{nj}x{nc}_{tag}")
    return out


def plan(ctx: Context) -> list[Measure]:
    dirs = folders(ctx)
    if not dirs:
        return []
    u = dirs["uncompressed"]
    c: dict[str, Any] = {"group": GROUP, "module": M, "files": [u]}
    a = {"folder": u}
    mean = "open + mean, uncompressed"
    out = [
        Measure(
            case="header scan", tool="lazyvol.scan", func="lazyvol_scan", args=a, ref=True, **c
        ),
        Measure(
            case="header scan",
            tool="dcmread(stop_before_pixels) loop",
            func="dcmread_loop",
            args=a,
            **c,
        ),
        Measure(
            case=mean, tool="lazyvol", func="lazyvol_mean", args=a, ref=True, **{**c, "module": T}
        ),
        Measure(case=mean, tool="pydicom loop + np.stack", func="naive_mean", args=a, **c),
        Measure(case=mean, tool="SimpleITK ImageSeriesReader", func="sitk_mean", args=a, **c),
        Measure(
            case=mean,
            tool="dcm2niix to .nii",
            func="dcm2niix_convert",
            args={"folder": u, "out_dir": str(ctx.data_dir / "tmp" / "dcm2niix-out")},
            **c,
        ),
        Measure(case=mean, tool="cat the files (raw limit)", func="cat_files", args=a, **c),
        Measure(case="one slice", tool="lazyvol", func="lazyvol_slice", ref=True, **c),
        Measure(case="one slice", tool="lazyvol, saved scan index", func="lazyvol_slice", **c),
        Measure(case="one slice", tool="pydicom: scan headers, read one", func="naive_slice", **c),
        Measure(
            case="open (no pixels)", tool="lazyvol, first open", func="lazyvol_open", args=a, **c
        ),
        Measure(
            case="open (no pixels)",
            tool="lazyvol, saved scan index",
            func="lazyvol_open",
            args=a,
            ref=True,
            **c,
        ),
    ]
    if "many files" in dirs:
        many = dirs["many files"]
        cm: dict[str, Any] = {"group": GROUP, "module": M, "files": [many]}
        case = "scan a large folder"
        out += [
            Measure(
                case=case,
                tool="lazyvol.scan, first scan",
                func="lazyvol_scan",
                args={"folder": many},
                ref=True,
                **cm,
            ),
            Measure(
                case=case,
                tool="lazyvol.scan, saved scan index",
                func="lazyvol_scan",
                args={"folder": many},
                **cm,
            ),
        ]
    if "fmri 4d" in dirs:
        f4 = dirs["fmri 4d"]
        c4: dict[str, Any] = {
            "group": GROUP,
            "module": M,
            "files": [f4],
            "case": "open + mean, 4D one file per slice (fMRI)",
        }
        out += [
            Measure(
                tool="lazyvol",
                func="lazyvol_mean",
                args={"folder": f4},
                ref=True,
                **{**c4, "module": T},
            ),
            Measure(
                tool="pydicom loop (group by position, InstanceNumber order)",
                func="naive_mean_4d",
                args={"folder": f4},
                **c4,
            ),
            Measure(
                tool="dcm2niix to .nii",
                func="dcm2niix_convert",
                args={"folder": f4, "out_dir": str(ctx.data_dir / "tmp" / "dcm2niix-out-4d")},
                **c4,
            ),
        ]
    for name in SYNTAXES:
        if name not in dirs:
            continue
        f = dirs[name]
        cc: dict[str, Any] = {
            "group": GROUP,
            "module": M,
            "files": [f],
            "case": f"open + mean, {name}",
        }
        out += [
            Measure(
                tool="lazyvol",
                func="lazyvol_mean",
                args={"folder": f},
                ref=True,
                **{**cc, "module": T},
            ),
            Measure(tool="pydicom loop + np.stack", func="naive_mean", args={"folder": f}, **cc),
            Measure(tool="SimpleITK ImageSeriesReader", func="sitk_mean", args={"folder": f}, **cc),
        ]
    real = dirs.get("real-shaped headers")
    if real is not None:
        rc = {**c, "files": [real]}
        out += [
            Measure(
                case=REAL_SCAN,
                tool="lazyvol.scan",
                func="lazyvol_scan",
                args={"folder": real},
                ref=True,
                **rc,
            ),
            Measure(
                case=REAL_SCAN,
                tool="dcmread(stop_before_pixels) loop",
                func="dcmread_loop",
                args={"folder": real},
                **rc,
            ),
        ]
    for m in out:
        if m.func == "lazyvol_mean":
            m.args = {"path": m.args["folder"]}
    return out + plan_mosaic(ctx)


def write_series(folder: str, shape: tuple[int, int, int]) -> None:
    """Write the series in batches of slices (bounded memory), then rename the folder into place."""
    from lazyvol.testing import write_dicom_series

    ni, nj, nk = shape
    generating(folder)
    tmp = folder + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    spacing = (0.7, 0.7, 1.0)
    origin = np.array([-180.0, -180.0, -250.0])
    uid = "1.2.826.0.1.3680043.8.498.1234567890.1"
    for b0 in range(0, nk, BATCH):
        n = min(BATCH, nk - b0)
        pos = origin[None, :] + np.arange(b0, b0 + n)[:, None] * np.array([0.0, 0.0, spacing[2]])
        write_dicom_series(
            tmp,
            (ni, nj, n),
            spacing=spacing,
            positions=pos,
            series_uid=uid,
            prefix=f"CT{b0:05d}_",
            per_slice=[{"InstanceNumber": b0 + k + 1} for k in range(n)],
            seed=b0,
        )
    os.replace(tmp, folder)


def compress_series(src: str, folder: str, syntax: str, n: int) -> None:
    """Re-encode the first ``n`` files of ``src`` (by position) with pydicom into ``folder``."""
    import pydicom

    generating(folder)
    tmp = folder + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    files = sorted(_files(src))[:n]
    for f in files:
        ds = pydicom.dcmread(f)
        try:
            ds.compress(syntax)
        except (RuntimeError, NotImplementedError, ValueError) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ImportError(f"pydicom cannot encode {syntax}: {exc}") from exc
        ds.save_as(os.path.join(tmp, os.path.basename(f)), enforce_file_format=True)
    os.replace(tmp, folder)


def prepare(ctx: Context, measures: list[Measure]) -> None:
    """Write the folders the selected ``measures`` read (only those: the full-size CT series is
    256 MiB, the large folder 10,000 files), save the scan indexes, fill in sizes and slices."""
    import lazyvol as lv

    prepare_mosaic(ctx, measures)
    if all(m.case == MOSAIC_CASE for m in measures):
        return  # only the mosaic case selected: the CT series are not needed
    dirs = folders(ctx)
    u = dirs["uncompressed"]
    needed = {f for m in measures for f in m.files}
    compressed = {name: dirs[name] for name in SYNTAXES if dirs.get(name) in needed}
    use_u = u in needed or bool(compressed)  # the compressed subsets are made from it
    shape = shape_for(ctx)
    if ctx.input is None:
        if use_u and not os.path.isdir(u):
            write_series(u, shape)
        for name, folder_c in compressed.items():
            if not os.path.isdir(folder_c):
                try:
                    compress_series(u, folder_c, SYNTAXES[name], min(shape[2], COMPRESSED_SLICES))
                except ImportError as exc:
                    for m in measures:
                        if m.files == [folder_c]:
                            m.skip = f"not available: {exc}"
    real = dirs.get("real-shaped headers")
    if real is not None and real in needed:
        from .. import data

        source = data.dicom_real_shaped(real, shape[2])
        for m in measures:
            if m.case == REAL_SCAN:
                m.items = len(_files(real))
                m.note = f"template: {source}"
    fmri = dirs.get("fmri 4d")
    if fmri is not None and fmri in needed and not os.path.isdir(fmri):
        write_fmri(fmri, fmri_shape(ctx))
    many = dirs.get("many files")
    many_index = ctx.cache_dir("dicom-index-many")
    if many is not None and many in needed:
        if not os.path.isdir(many):
            write_many(many, *(MANY_QUICK if ctx.quick else MANY))
        with lazyvol_cache_dir(many_index):
            lv.scan(many)
    # A lazyvol cache folder holding the scan index of the folder (the "reopen" runs use it).
    folder = ctx.cache_dir("dicom-index")
    nbytes, k, nk = 0, 0, 1
    if use_u:
        with lazyvol_cache_dir(folder):
            vol = lv.open(u)
        nbytes, nk = int(vol.nbytes), int(vol.shape[2])
        k = nk // 2
        if ctx.input is not None:
            _mark_inapplicable(vol, u, measures)
    for m in measures:  # (the measures of u and of the compressed subsets only when use_u)
        if "saved scan index" in m.tool:
            m.cache = str(many_index) if m.case == "scan a large folder" else str(folder)
        if m.case == REAL_SCAN:
            continue
        if m.case == "scan a large folder" and many is not None:
            m.items = len(_files(many))
            continue
        if m.func in ("lazyvol_slice", "naive_slice"):
            m.args = {"folder": u, "k": k}
            m.nbytes = nbytes // nk
        elif m.case.startswith("open + mean, uncompressed"):
            m.nbytes = nbytes
            if m.func in ("naive_mean", "sitk_mean"):
                m.mem_hint = 4 * nbytes
        elif m.case.startswith("open + mean, 4D"):
            m.nbytes = int(np.prod(fmri_shape(ctx))) * 2  # int16
        elif m.case.startswith("open + mean") and m.files and os.path.isdir(m.files[0]):
            m.nbytes = len(_files(m.files[0])) * nbytes // nk
        if m.case == "header scan" or m.case.startswith("open (no"):
            m.items = len(_files(u))


def _mark_inapplicable(vol: Any, folder: str, measures: list[Measure]) -> None:
    """Skip the baselines that would not compute the same thing on the user's series: files holding
    several slices each (a mosaic, multi-frame files) for the one-slice-per-file pydicom loops and
    SimpleITK's series reader, and a 4-D series for the one-slice script (lazyvol's slice spans
    every volume, the pydicom script reads one file)."""
    planes = int(np.prod(vol.shape[2:]))
    n_files = len(
        vol.meta.get("files") or _files(folder)
    )  # the series' own files, as lazyvol found them
    several = n_files != planes
    for m in measures:
        if m.skip or m.case.startswith(("scan a large", "open + mean, 4D")) or m.case == REAL_SCAN:
            continue
        if several and m.func in ("naive_mean", "naive_slice", "sitk_mean"):
            m.skip = (
                f"the series' {n_files} files hold {planes} slices (a mosaic or "
                "multi-frame files): this baseline reads one slice per file"
            )
        elif vol.ndim == 4 and m.func == "naive_slice":
            m.skip = "a 4-D series: lazyvol's slice spans every volume, this script reads one file"


# -- Siemens mosaic 4D (fMRI layout): one MOSAIC file per volume ---------------------------------

#: (tile columns, tile rows, slices, volumes): a 6 x 6 mosaic of 64 x 64 tiles, 100 time points.
MOSAIC = (64, 64, 36, 100)
MOSAIC_QUICK = (16, 16, 9, 4)
MOSAIC_CASE = "mosaic 4D (fMRI): open + mean"


def mosaic_folder(ctx: Context) -> str:
    ni, nj, nk, nt = MOSAIC_QUICK if ctx.quick else MOSAIC
    return str(ctx.data_dir / "dicom" / f"mosaic_{ni}x{nj}x{nk}x{nt}")


def nibabel_mosaic_mean(folder: str) -> Work:
    """nibabel's ``wrapper_from_file(f).get_data()`` per file (MosaicWrapper), stacked, mean."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nibabel.nicom import dicomwrappers

    def work() -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ws = [dicomwrappers.wrapper_from_file(f) for f in _files(folder)]
            ws.sort(key=lambda w: int(w.get("AcquisitionNumber")))
            vol = np.stack([w.get_data() for w in ws], axis=-1)
        return float(vol.mean())

    return work


def plan_mosaic(ctx: Context) -> list[Measure]:
    """A real-layout Siemens mosaic 4D series: lazyvol against dcm2niix and nibabel's wrapper."""
    if ctx.input is not None:
        return []
    f = mosaic_folder(ctx)
    c: dict[str, Any] = {"group": GROUP, "module": M, "files": [f], "case": MOSAIC_CASE}
    return [
        Measure(
            tool="lazyvol", func="lazyvol_mean", args={"path": f}, ref=True, **{**c, "module": T}
        ),
        Measure(
            tool="dcm2niix to .nii",
            func="dcm2niix_convert",
            args={"folder": f, "out_dir": str(ctx.data_dir / "tmp" / "dcm2niix-mosaic-out")},
            **c,
        ),
        Measure(
            tool="nibabel MosaicWrapper loop + np.stack",
            func="nibabel_mosaic_mean",
            args={"folder": f},
            **c,
        ),
        Measure(tool="cat the files (raw limit)", func="cat_files", args={"folder": f}, **c),
    ]


def prepare_mosaic(ctx: Context, measures: list[Measure]) -> None:
    """Write the mosaic series once (written whole, then renamed into place)."""
    mine = [m for m in measures if m.case == MOSAIC_CASE]
    if not mine:
        return
    from lazyvol.testing import write_mosaic_series

    f = mosaic_folder(ctx)
    ni, nj, nk, nt = MOSAIC_QUICK if ctx.quick else MOSAIC
    if not os.path.isdir(f):
        generating(f)
        tmp = f + ".partial"
        shutil.rmtree(tmp, ignore_errors=True)
        write_mosaic_series(tmp, (ni, nj, nk), volumes=nt, orientation="oblique")
        os.replace(tmp, f)
    nbytes = ni * nj * nk * nt * 2
    for m in mine:
        m.nbytes = nbytes
        m.items = nt
        if m.func == "nibabel_mosaic_mean":
            m.mem_hint = 6 * nbytes
