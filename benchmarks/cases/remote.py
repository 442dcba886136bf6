"""Remote sources: one slice of a ``.nii``, an indexed ``.nii.gz``, a DICOM series and a Zarr store
in an S3 bucket, each against downloading the whole object(s) first; a header scan of a series.

The bucket is served by moto's S3-compatible server on a free port of 127.0.0.1, started by the
suite's own process in a thread (:class:`lazyvol.testing.s3.S3Server`, the server the remote tests
use); the measured workers are other processes.
Bytes are counted **at the server**: the response body bytes of every request signed with the
access key id that one timed call alone uses (each preparation makes a new key, so the untimed
warm-up call and the timed call are counted apart); the worker reads the count after the timing.

Sources (``--size`` scales the slice and object counts): a 256x256x512 int16 phantom ``.nii`` and
``.nii.gz`` (its remote seek index built once, untimed, into a cache folder the lazyvol runs use),
the ``.nii`` converted to a lazyvol Zarr store (default chunks), and a DICOM series of 500 objects
under a prefix whose headers are copied from a real GE file, 256x256 pixels (``--quick``: 50
objects of 64x64). Baselines download
the whole object, store or series with s3fs (``get``; a series or store in one concurrent batch)
and read the local copy with nibabel, zarr or pydicom.

Loopback has no latency and moto copies the whole object for every ranged GET (its ``FakeKey.value``
reads it all), so the **bytes** transfer to a real network, the times do not.
"""

from __future__ import annotations

import atexit
import glob
import io
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import data
from ..harness import Context, Measure, lazyvol_cache_dir
from .tools import Work

GROUP = "remote"
M = "benchmarks.cases.remote"
BUCKET = "lazyvol-bench"
SECRET = "lazyvol-bench-secret"
DEFAULT_SHAPE = (256, 256, 512)
QUICK_SHAPE = (64, 64, 64)
SCAN_OBJECTS = 500
QUICK_OBJECTS = 50
#: Pixels per side of the series' slices (headers from a real GE file, ~17 KiB): 256 makes objects
#: of ~145 KiB, so a header read is a fraction of an object, as with real CT/MR objects.
MATRIX = 256
QUICK_MATRIX = 64

NII = "one slice .nii"
GZ = "one slice .nii.gz, saved seek index"
DCM = "one slice DICOM series"
ZARR = "one slice Zarr store"
SCAN = "header scan of a series"
DOWNLOAD = "download whole object + "

_server: Any = None


def shape_for(ctx: Context) -> tuple[int, int, int]:
    if ctx.quick:
        return QUICK_SHAPE
    i, j, k = DEFAULT_SHAPE
    return (i, j, max(16, round(k * ctx.size)))


def n_objects(ctx: Context) -> int:
    return QUICK_OBJECTS if ctx.quick else max(QUICK_OBJECTS, round(SCAN_OBJECTS * ctx.size))


# -- tools (run in the worker) -------------------------------------------------------------------


def _options(endpoint: str) -> tuple[str, dict[str, Any]]:
    """A new access key (its own byte count at the server) and storage_options with it."""
    from lazyvol.testing.s3 import s3_options

    key = "AKIABENCH" + uuid.uuid4().hex[:11].upper()
    return key, s3_options(endpoint, key, SECRET)


def _metered(work: Callable[[], Any], endpoint: str, key: str, facts: dict[str, Any]) -> Work:
    """``work`` with a ``finish`` the worker calls after the timing: adds the bytes and requests
    the server counted for ``key`` and the source's facts (object bytes...) to the result."""

    def finish(value: Any) -> dict[str, Any]:
        from lazyvol.testing.s3 import read_counts

        out = dict(value) if isinstance(value, dict) else {}
        counts = read_counts(endpoint, key)
        out["transferred"] = counts["bytes"]
        out["requests"] = counts["requests"]
        out.update(facts)
        return out

    setattr(work, "finish", finish)  # noqa: B010 (a function attribute the worker looks up)
    return work


def _print(arr: Any) -> dict[str, Any]:
    a = np.asarray(arr)
    return {"shape": list(a.shape), "value": float(np.sum(a, dtype=np.float64))}


def _scratch(scratch: str) -> str:
    os.makedirs(scratch, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="rbench-", dir=scratch)
    atexit.register(shutil.rmtree, tmp, True)
    return tmp


def lazyvol_slice(
    endpoint: str, url: str, pos: int, facts: dict[str, Any], data_attr: bool = False
) -> Work:
    """``lv.open(url, storage_options=...)[:, :, pos:pos+1]`` (``data_attr``: ``.data[:, :, pos]``,
    with dask.array, which ``.data`` uses, imported in the preparation as in
    :func:`tools.lazyvol_mean`)."""
    if data_attr:
        import dask.array  # noqa: F401  (imported by the user's code: .data is a dask array)
    import lazyvol as lv

    key, opts = _options(endpoint)

    def work() -> dict[str, Any]:
        vol = lv.open(url, storage_options=opts)
        if data_attr:
            return _print(vol.data[:, :, pos].compute())
        return _print(np.asarray(vol[:, :, pos : pos + 1].compute())[:, :, 0])

    return _metered(work, endpoint, key, facts)


def download_nifti_slice(
    endpoint: str, url: str, pos: int, facts: dict[str, Any], scratch: str
) -> Work:
    """s3fs ``get`` of the whole object to a local file, then nibabel ``dataobj[:, :, pos]``."""
    import nibabel as nib
    import s3fs

    key, opts = _options(endpoint)
    tmp = _scratch(scratch)
    local = os.path.join(tmp, url.rsplit("/", 1)[1])

    def work() -> dict[str, Any]:
        s3fs.S3FileSystem(**opts).get(url, local)
        img: Any = nib.load(local)
        return _print(img.dataobj[:, :, pos])

    return _cleanup(_metered(work, endpoint, key, facts), tmp)


def _cleanup(work: Work, tmp: str) -> Work:
    """``work`` whose ``finish`` also removes the downloaded copy in ``tmp``."""
    finish = getattr(work, "finish")  # noqa: B009

    def done(value: Any) -> dict[str, Any]:
        shutil.rmtree(tmp, ignore_errors=True)
        out: dict[str, Any] = finish(value)
        return out

    setattr(work, "finish", done)  # noqa: B010
    return work


def _download_tree(fs: Any, url: str, local: str) -> list[str]:
    """Every object under ``url`` into ``local`` (same relative paths), in one concurrent batch."""
    root = url.rstrip("/")
    remote = fs.find(root)
    bare = root.split("://", 1)[-1]
    dest = [os.path.join(local, os.path.relpath(p, bare)) for p in remote]
    for d in {os.path.dirname(p) for p in dest}:
        os.makedirs(d, exist_ok=True)
    fs.get(remote, dest)
    return dest


def download_dicom_slice(
    endpoint: str, url: str, pos: int, facts: dict[str, Any], scratch: str
) -> Work:
    """Download the series, then pydicom: every header, sort along the slice normal, decode one."""
    import pydicom
    import s3fs

    key, opts = _options(endpoint)
    tmp = _scratch(scratch)

    def work() -> dict[str, Any]:
        files = _download_tree(s3fs.S3FileSystem(**opts), url, tmp)
        heads = [(pydicom.dcmread(f, stop_before_pixels=True), f) for f in files]
        iop = np.asarray(heads[0][0].ImageOrientationPatient, dtype=float)
        normal = np.cross(iop[:3], iop[3:])
        heads.sort(key=lambda h: float(normal @ np.asarray(h[0].ImagePositionPatient, float)))
        ds = pydicom.dcmread(heads[pos][1])
        arr = ds.pixel_array.T
        slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
        inter = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
        return _print(arr if (slope, inter) == (1.0, 0.0) else arr * slope + inter)

    return _cleanup(_metered(work, endpoint, key, facts), tmp)


def download_zarr_slice(
    endpoint: str, url: str, pos: int, facts: dict[str, Any], scratch: str
) -> Work:
    """Download the store, then zarr: slice ``pos`` of the image array (stored as (k, j, i))."""
    import s3fs
    import zarr

    key, opts = _options(endpoint)
    tmp = _scratch(scratch)

    def work() -> dict[str, Any]:
        _download_tree(s3fs.S3FileSystem(**opts), url, tmp)
        arr = zarr.open_group(tmp, mode="r")["0"]
        return _print(np.asarray(arr[pos]).T)

    return _cleanup(_metered(work, endpoint, key, facts), tmp)


def lazyvol_scan(endpoint: str, url: str, facts: dict[str, Any]) -> Work:
    """``lv.scan(prefix, storage_options=...)`` with an empty cache (every header read)."""
    import lazyvol as lv

    key, opts = _options(endpoint)

    def work() -> dict[str, Any]:
        rep = lv.scan(url, storage_options=opts)
        return {"series": len(rep), "files": sum(len(s.files) for s in rep)}

    return _metered(work, endpoint, key, facts)


def naive_scan(endpoint: str, url: str, facts: dict[str, Any]) -> Work:
    """List the prefix, then one by one: download the object, ``dcmread(stop_before_pixels=True)``."""
    import pydicom
    import s3fs

    key, opts = _options(endpoint)

    def work() -> dict[str, Any]:
        fs = s3fs.S3FileSystem(**opts)
        n = 0
        for path in fs.find(url.rstrip("/")):
            pydicom.dcmread(io.BytesIO(fs.cat_file(path)), stop_before_pixels=True)
            n += 1
        return {"files": n}

    return _metered(work, endpoint, key, facts)


# -- plan and preparation (run in the suite's process) -------------------------------------------


def _m(case: str, tool: str, func: str, ref: bool = False, **kw: Any) -> Measure:
    return Measure(group=GROUP, case=case, tool=tool, module=M, func=func, ref=ref, **kw)


def plan(ctx: Context) -> list[Measure]:
    if ctx.input is not None:  # the group generates and uploads its own sources
        return []
    return [
        _m(NII, "lazyvol vol[:, :, k:k+1]", "lazyvol_slice", ref=True),
        _m(NII, "lazyvol vol.data[:, :, k]", "lazyvol_slice"),
        _m(NII, DOWNLOAD + "nibabel", "download_nifti_slice"),
        _m(GZ, "lazyvol vol[:, :, k:k+1], saved seek index", "lazyvol_slice", ref=True),
        _m(GZ, DOWNLOAD + "nibabel (indexed_gzip)", "download_nifti_slice"),
        _m(DCM, "lazyvol, saved scan index", "lazyvol_slice", ref=True),
        _m(DCM, "lazyvol, first open (reads every header)", "lazyvol_slice"),
        _m(DCM, "download the series + pydicom", "download_dicom_slice"),
        _m(ZARR, "lazyvol vol[:, :, k:k+1]", "lazyvol_slice", ref=True),
        _m(ZARR, "download the store + zarr", "download_zarr_slice"),
        _m(SCAN, "lazyvol.scan", "lazyvol_scan", ref=True),
        _m(SCAN, "naive loop: download + dcmread(stop_before_pixels)", "naive_scan"),
    ]


def server() -> Any:
    """The suite's S3 server (started on first use, in this process, stopped at exit)."""
    global _server
    if _server is None:
        from lazyvol.testing.s3 import S3Server

        _server = S3Server("127.0.0.1").start()
        atexit.register(_server.stop)
    return _server


def _upload(client: Any, local: str, key: str) -> str:
    """Upload a file, or a folder's files under ``key/`` (same relative paths); the s3:// URL."""
    if os.path.isdir(local):
        for root, _, names in os.walk(local):
            for name in sorted(names):
                path = os.path.join(root, name)
                rel = os.path.relpath(path, local).replace(os.sep, "/")
                client.upload_file(path, BUCKET, f"{key}/{rel}")
        return f"s3://{BUCKET}/{key}/"
    client.upload_file(local, BUCKET, key)
    return f"s3://{BUCKET}/{key}"


def _du(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def _with_cache(folder: Path, fn: Callable[[], Any]) -> Any:
    """``fn()`` with ``LAZYVOL_CACHE_DIR`` set to a new empty ``folder``."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with lazyvol_cache_dir(folder):
        return fn()


def _sources(ctx: Context, cases: set[str]) -> dict[str, str]:
    """Generate (once) the local sources of ``cases`` (only those); the Zarr store is rebuilt
    every run (current lazyvol)."""
    import lazyvol as lv

    root = ctx.data_dir / "remote"
    shape = shape_for(ctx)
    out: dict[str, str] = {}
    if cases & {NII, ZARR}:  # (the store is written from the .nii)
        out[NII] = data.nifti(root, shape, "int16", False)
    if GZ in cases:
        out[GZ] = data.nifti(root, shape, "int16", True)
    if cases & {DCM, SCAN}:
        n = n_objects(ctx)
        matrix = QUICK_MATRIX if ctx.quick else MATRIX
        series = str(root / f"dicom_real_shaped_{n}_{matrix}")
        data.dicom_real_shaped(series, n, matrix=matrix)
        out[DCM] = out[SCAN] = series
    if ZARR in cases:
        store = root / ("store_" + "x".join(map(str, shape)) + ".zarr")
        shutil.rmtree(store, ignore_errors=True)
        lv.open(out[NII]).to_zarr(store)
        out[ZARR] = str(store)
    return {case: path for case, path in out.items() if case in cases}


def _facts(ctx: Context, local: dict[str, str], urls: dict[str, str], opts: Any) -> dict[str, Any]:
    """What each case's result is judged against: object bytes, a slice's bytes, the listing."""
    import pydicom
    import s3fs

    from lazyvol.testing.s3 import read_counts

    i, j, k = shape_for(ctx)
    out: dict[str, Any] = {
        case: {"object_bytes": _du(path), "slice_bytes": i * j * 2, "slices": k}
        for case, path in local.items()
    }
    series_cases = [case for case in (DCM, SCAN) if case in local]
    if not series_cases:
        return out
    series, url = local[series_cases[0]], urls[series_cases[0]]
    files = sorted(glob.glob(os.path.join(series, "*.dcm")))
    ds = pydicom.dcmread(files[len(files) // 2])
    pixel = int(ds.Rows) * int(ds.Columns) * int(ds.BitsAllocated) // 8
    key, lopts = _options(server().endpoint)
    s3fs.S3FileSystem(**lopts).find(url.rstrip("/"))
    listing = read_counts(server().endpoint, key)["bytes"]
    for case in series_cases:
        out[case] = {
            "object_bytes": _du(series),
            "objects": len(files),
            "slices": len(files),
            "slice_bytes": pixel,
            "one_object_bytes": os.path.getsize(files[len(files) // 2]),
            "listing_bytes": listing,
        }
    return out


def prepare(ctx: Context, measures: list[Measure]) -> None:
    import boto3

    from lazyvol.nifti import build_gzip_index

    srv = server()
    local = _sources(ctx, {m.case for m in measures})
    client = boto3.client(
        "s3",
        endpoint_url=srv.endpoint,
        aws_access_key_id="AKIABENCHUPLOAD",
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
    )
    if BUCKET not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
        client.create_bucket(Bucket=BUCKET)
    for old in glob.glob(str(ctx.data_dir / "tmp" / "rbench-*")):  # forked warm-ups' copies
        shutil.rmtree(old, ignore_errors=True)
    names = {NII: "nii", GZ: "gz", DCM: "dicom", ZARR: "zarr", SCAN: "dicom"}
    urls: dict[str, str] = {}
    tiny: dict[str, str] = {}
    for case, path in local.items():
        base = os.path.basename(path)
        urls[case] = _upload(client, path, f"{names[case]}/{base}")
        small = data.warmup_source(ctx.data_dir, path)
        if small is not None:
            tiny[case] = _upload(client, small, f"warmup/{names[case]}/{os.path.basename(small)}")
    _, opts = _options(srv.endpoint)
    gz_cache = ctx.data_dir / "cache" / "remote-gzindex"
    if GZ in urls:
        _with_cache(gz_cache, lambda: build_gzip_index(urls[GZ], storage_options=opts))
    scan_cache = ctx.data_dir / "cache" / "remote-scan"
    if DCM in urls:
        _with_cache(scan_cache, lambda: __import__("lazyvol").scan(urls[DCM], storage_options=opts))
    facts = _facts(ctx, local, urls, opts)
    scratch = str(ctx.data_dir / "tmp")
    for m in measures:
        _fill(m, srv.endpoint, urls, tiny, facts[m.case], scratch)
        if m.case == GZ and m.func == "lazyvol_slice":
            m.cache = str(gz_cache)
        elif m.case == DCM and "saved scan index" in m.tool:
            m.cache = str(scan_cache)


def _fill(
    m: Measure,
    endpoint: str,
    urls: dict[str, str],
    tiny: dict[str, str],
    facts: dict[str, Any],
    scratch: str,
) -> None:
    """A measure's arguments (and its warm-up's, on the tiny object of the same kind)."""
    url = urls[m.case]
    m.args = {"endpoint": endpoint, "url": url, "facts": facts}
    if m.case == SCAN:
        m.items = int(facts["objects"])
        m.note = f"{facts['objects']} objects, {facts['object_bytes'] / 2**20:.1f} MiB"
    else:
        m.args["pos"] = int(facts["slices"]) // 2
        m.nbytes = int(facts["slice_bytes"])
        m.note = f"slice k={m.args['pos']}; source {facts['object_bytes'] / 2**20:.1f} MiB"
    if m.func.startswith("download"):
        m.args["scratch"] = scratch
    if "vol.data" in m.tool:
        m.args["data_attr"] = True
    if m.case in tiny:
        warm = dict(m.args, url=tiny[m.case], facts={})
        if "pos" in warm:
            warm["pos"] = 0
        m.args["warmup"] = warm
