"""Smoke tests of the benchmark harness: its measurement functions on tiny data, and --quick.

No timing is asserted (times are measured in benchmarks/, never tested); memory figures are checked
for plausibility against allocations of known size.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `pytest` (not `python -m pytest`) does not put the root on sys.path
    sys.path.insert(0, str(REPO))

from benchmarks import cli, harness, report, targets  # noqa: E402
from benchmarks.memory import PeakSampler, read_status  # noqa: E402
from benchmarks.worker import MARKER  # noqa: E402

MiB = 2**20


def run_worker(module: str, func: str, args: dict, cache: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.worker", module, func, json.dumps(args)],
        cwd=REPO,
        env=harness.child_env(str(cache)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
    assert lines, proc.stderr
    return json.loads(lines[-1][len(MARKER) :])


def test_read_status_fields() -> None:
    st = read_status()
    assert {"RssAnon", "VmRSS", "VmHWM"} <= set(st)
    assert 0 < st["RssAnon"] <= st["VmRSS"] <= st["VmHWM"]


def test_sampler_sees_an_allocation() -> None:
    base = read_status()["RssAnon"]
    with PeakSampler(interval=0.001) as s:
        buf = np.ones(96 * MiB, dtype=np.uint8)  # touched: 96 MiB of anonymous memory
        buf.sum()
        del buf
    assert s.samples >= 2
    grew = s.peak_anon - base
    assert 90 * MiB <= grew <= 96 * MiB + 64 * MiB, grew / MiB
    # Freed again: the current RssAnon is back near the start, the peak is not.
    assert read_status()["RssAnon"] < s.peak_anon - 64 * MiB


def test_sampler_counts_shared_anonymous_maps() -> None:
    """An anonymous shared map (``mmap(-1, n)``, Python's default) is reported as RssShmem, not
    RssAnon; the peak must still count it."""
    import mmap

    st = read_status()
    base = st["RssAnon"] + st.get("RssShmem", 0)
    with PeakSampler(interval=0.001) as s:
        m = mmap.mmap(-1, 64 * MiB)
        np.frombuffer(m, dtype=np.uint8)[:] = 1  # touched
        time.sleep(0.02)
    assert s.peak_anon - base >= 60 * MiB, (s.peak_anon - base) / MiB


def test_worker_peak_anon_of_a_decompression(tmp_path: Path) -> None:
    """indexed_gzip inflating 192 MiB through the baselines' reused buffer: the worker must see
    that buffer (filled, so touched) in the peak anonymous memory, and not the whole stream (the
    inflate baselines time the inflate alone, never a whole-volume allocation)."""
    from benchmarks.cases.tools import INFLATE_BUFFER

    path = tmp_path / "zeros.gz"
    size = 192 * MiB
    with gzip.open(path, "wb", compresslevel=1) as f:
        for _ in range(size // (16 * MiB)):
            f.write(bytes(16 * MiB))
    rec = run_worker(
        "benchmarks.cases.tools", "igzip_read", {"path": str(path), "stream_bytes": size}, tmp_path
    )
    assert rec["status"] == "ok", rec
    assert rec["elapsed"] > 0
    assert rec["result"] == {"bytes": size}
    grew = rec["peak_anon"] - rec["base_anon"]
    assert INFLATE_BUFFER <= grew <= size // 2, grew / MiB
    assert rec["peak_rss"] >= rec["peak_anon"]


def test_worker_separates_mapped_file_pages_from_anonymous(tmp_path: Path) -> None:
    """np.memmap mean over 64 MiB: RSS grows by the file pages, anonymous memory does not."""
    from lazyvol.testing import write_phantom_nifti

    path = write_phantom_nifti(tmp_path / "m.nii", (256, 256, 512), dtype="int16")
    info = __import__("benchmarks.data", fromlist=["nifti_info"]).nifti_info(path)
    args = {"path": path, "offset": info["offset"], "shape": info["shape"], "dtype": info["dtype"]}
    rec = run_worker("benchmarks.cases.tools", "memmap_mean", args, tmp_path)
    assert rec["status"] == "ok", rec
    import nibabel as nib

    assert rec["result"]["value"] == pytest.approx(
        float(np.asanyarray(nib.load(path).dataobj).mean())
    )
    assert rec["peak_rss"] - rec["base_rss"] >= 0.8 * info["nbytes"]
    assert rec["peak_anon"] - rec["base_anon"] < 24 * MiB


def test_worker_reports_missing_capability(tmp_path: Path) -> None:
    rec = run_worker("benchmarks.cases.tools", "no_such_tool", {}, tmp_path)
    assert rec["status"] == "n/a"
    assert "no_such_tool" in rec["reason"]


def test_summary_median_min_max() -> None:
    m = harness.Measure(group="g", case="c", tool="t", module="m", func="f", nbytes=10**6, ref=True)
    m.runs = [
        {"status": "ok", "elapsed": e, "peak_anon": 5, "peak_rss": 9, "base_anon": 1, "result": {}}
        for e in (3.0, 1.0, 2.0)
    ]
    rec = harness.summarize(m)
    assert (rec["median"], rec["min"], rec["max"], rec["n"]) == (2.0, 1.0, 3.0, 3)
    assert rec["mbps"] == pytest.approx(0.5)


def test_target_miss_is_reported_with_numbers() -> None:
    recs = []
    for tool, t in (("lazyvol", 2.0), ("np.memmap mean (raw limit)", 1.0)):
        m = harness.Measure(group="nifti", case="mean .nii int16", tool=tool, module="m", func="f")
        m.runs = [{"status": "ok", "elapsed": t, "peak_anon": 1, "peak_rss": 1, "base_anon": 1}]
        # cold: lazyvol's first call pays more (4 s against 1 s): the target is judged on it
        m.cold_runs = [
            {"status": "ok", "elapsed": 2 * t if tool == "lazyvol" else t, "import_s": 0.1}
        ]
        recs.append(harness.summarize(m))
    assert recs[0]["cold"]["median"] == 4.0 and recs[0]["cold"]["import_s"] == 0.1
    got = {t["id"]: t for t in targets.evaluate(recs)}
    assert got["nii-mean-int16"]["status"] == "MISS"
    assert "ratio 0.25" in got["nii-mean-int16"]["measured"]
    assert "warm: 2 s vs 1 s" in got["nii-mean-int16"]["measured"]
    assert got["nii-mean-float32"]["status"] == "N/A"


def test_agreement_catches_a_scan_that_counts_other_files() -> None:
    def rec(tool: str, files: int, ref: bool) -> dict[str, object]:
        return {
            "group": "dicom",
            "case": "header scan",
            "tool": tool,
            "ref": ref,
            "result": {"files": files},
        }

    same = [rec("lazyvol.scan", 512, True), rec("dcmread loop", 512, False)]
    assert report.agreement(same) == []
    short = [rec("lazyvol.scan", 0, True), rec("dcmread loop", 512, False)]
    assert report.agreement(short) == [
        "dicom/header scan: dcmread loop went through 512 files, lazyvol 0"
    ]


def test_cold_columns_in_table() -> None:
    m = harness.Measure(group="g", case="c", tool="lazyvol", module="m", func="f", ref=True)
    m.runs = [{"status": "ok", "elapsed": 0.01, "peak_anon": 1, "peak_rss": 1, "base_anon": 1}]
    m.cold_runs = [
        {"status": "ok", "elapsed": 0.3, "import_s": 0.2, "startup_s": 0.02, "peak_anon": 2}
    ]
    text = report.table([harness.summarize(m)])
    assert "cold: first call" in text and "300.0 ms" in text and "import 200.0 ms" in text


def _run_suite(tmp_path: Path, *args: str) -> dict:
    """``python -m benchmarks *args --out tmp_path/out --no-progress`` in a fresh lazyvol cache:
    asserts it exits 0 and returns its ``results.json``."""
    env = harness.child_env(None)
    env["LAZYVOL_CACHE_DIR"] = str(tmp_path / "lvcache")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", *args, "--out", str(out), "--no-progress"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text())


def test_quick_suite_has_every_case(tmp_path: Path) -> None:
    base = ["--quick", "--data-dir", str(tmp_path / "data")]
    ctx = cli.make_context(cli.parse_args(base))
    planned = {m.key for m in cli.plan_all(ctx, [], [], prepare=False)}
    assert len(planned) > 60
    res = _run_suite(tmp_path, *base)
    out = tmp_path / "out"
    keys = {r["key"] for r in res["measures"]}
    assert keys == planned
    assert {"nifti", "gzindex", "scaling", "dicom", "zarr", "distributed"} <= {
        r["group"] for r in res["measures"]
    }
    statuses = {r["key"]: r["status"] for r in res["measures"]}
    assert not [k for k, s in statuses.items() if s not in ("ok", "n/a", "skipped")], statuses
    # The NIfTI cases run on main; their figures are present and the tools agree on the values.
    assert all(s == "ok" for k, s in statuses.items() if k.startswith(("nifti/", "gzindex/")))
    assert res["checks"] == []
    assert res["versions"]["numpy"] == np.__version__
    assert res["machine"]["cores"] == os.cpu_count()
    md = (out / "report.md").read_text()
    assert "## Targets" in md and "primed" in md.lower()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "no plots" in md
    else:
        assert (out / "memory_scaling.png").stat().st_size > 1000
    assert report.table(res["measures"])
    # The report can be rebuilt from the raw figures alone.
    again = tmp_path / "again"
    assert (
        cli.main(["--report-from", str(out / "results.json"), "--out", str(again), "--no-plots"])
        == 0
    )
    assert "## Targets" in (again / "report.md").read_text()


@pytest.mark.parametrize("real", [False, True])
def test_real_shaped_dicom_series(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real: bool
) -> None:
    import pydicom
    from benchmarks import data

    if real:
        if data.real_dicom_dir() is None:
            pytest.skip("no real DICOM folder (../shared/dicom-real or LAZYVOL_REAL_DICOM)")
    else:
        monkeypatch.setenv("LAZYVOL_REAL_DICOM", str(tmp_path / "absent"))
    folder = str(tmp_path / "series")
    source = data.dicom_real_shaped(folder, 5)
    assert ("real GE" in source) == real and ("synthetic" in source) == (not real)
    files = sorted(Path(folder).glob("*.dcm"))
    dss = [pydicom.dcmread(f) for f in files]
    assert len(dss) == 5 and len({d.SOPInstanceUID for d in dss}) == 5
    assert len({d.SeriesInstanceUID for d in dss}) == 1
    assert sum(e.tag.is_private for e in dss[0]) >= 100 and len(dss[0]) >= 150
    assert any(e.VR == "SQ" for e in dss[0])
    import lazyvol as lv

    vol = lv.open(folder)
    assert vol.shape == (int(dss[0].Columns), int(dss[0].Rows), 5)
    np.testing.assert_array_equal(vol.compute()[:, :, 0], dss[0].pixel_array.T)


def test_the_suite_runs_on_a_4d_nifti_given_as_input(tmp_path: Path) -> None:
    """``--input`` with an fMRI-like 4-D ``.nii.gz`` (the one nibabel ships): every case that
    applies runs (the Zarr group's plain stores used to be created with 3-D chunks and crashed
    the run before any measure)."""
    src = Path(nib.__file__).parent / "tests" / "data" / "example4d.nii.gz"
    assert nib.load(src).ndim == 4
    res = _run_suite(
        tmp_path, "--quick", "--input", str(src), "--only", "zarr/*", "--only", "nifti/*",
        "--data-dir", str(tmp_path / "data"),
    )  # fmt: skip
    statuses = {r["key"]: r["status"] for r in res["measures"]}
    assert any(k.startswith("zarr/") for k in statuses)
    assert all(s == "ok" for k, s in statuses.items() if k.startswith("zarr/")), statuses


def test_every_tool_agrees_on_a_scaled_nifti_given_as_input(tmp_path: Path) -> None:
    """``--input`` with a NIfTI whose scl_slope is fractional: the raw-read limit applies the
    scaling to its mean and the plain Zarr stores hold the scaled values (they held the values
    cut to the stored int16, and the report said every such case's results disagreed)."""
    from lazyvol.testing import write_phantom_nifti

    src = write_phantom_nifti(tmp_path / "scaled.nii", (40, 36, 24), slope=0.37, inter=1.5)
    res = _run_suite(
        tmp_path, "--quick", "--input", str(src), "--only", "nifti/*", "--only", "zarr/*",
        "--data-dir", str(tmp_path / "data"),
    )  # fmt: skip
    tools = {r["tool"] for r in res["measures"] if r["status"] == "ok"}
    assert {"np.memmap mean (raw limit)", "plain zarr read, no checksums"} <= tools
    assert res["checks"] == []


def test_a_mosaic_series_given_as_input_skips_the_baselines_that_cannot_read_it(
    tmp_path: Path,
) -> None:
    """``--input`` with a Siemens mosaic series (files without an extension, a README beside
    them): the one-slice-per-file baselines (pydicom loops, SimpleITK's series reader) are n/a
    with the reason, not errors or "results disagree"; lazyvol and dcm2niix run."""
    from lazyvol.testing.mosaic import write_mosaic_series

    folder = tmp_path / "epi"
    write_mosaic_series(folder, (12, 10, 7), volumes=3)
    for f in folder.glob("*.dcm"):
        f.rename(f.with_suffix(""))
    (folder / "README-Series.txt").write_text("mosaic EPI, 3 volumes\n")
    res = _run_suite(
        tmp_path, "--quick", "--input", str(folder), "--only", "dicom/*",
        "--data-dir", str(tmp_path / "data"),
    )  # fmt: skip
    by_tool = {(r["case"], r["tool"]): r for r in res["measures"]}
    mean = "open + mean, uncompressed"
    assert by_tool[(mean, "lazyvol")]["status"] == "ok"
    for case, tool in [
        (mean, "pydicom loop + np.stack"),
        (mean, "SimpleITK ImageSeriesReader"),
        ("one slice", "pydicom: scan headers, read one"),
    ]:
        r = by_tool[(case, tool)]
        assert r["status"] == "n/a" and "3 files hold 21 slices" in r["reason"], r
    assert [r["key"] for r in res["measures"] if r["status"] == "error"] == []
    assert res["checks"] == []


def test_a_mosaic_folder_is_warmed_up_on_a_mosaic(tmp_path: Path) -> None:
    """The warm-up call reads a tiny source of the same kind: for a Siemens mosaic that is a
    mosaic (its first read imports nibabel and pydicom for the CSA header), else the warm column
    would carry those imports."""
    from benchmarks.data import warmup_source

    import lazyvol as lv
    from lazyvol.testing import write_dicom_series, write_mosaic_series

    write_mosaic_series(tmp_path / "mos", (8, 8, 3), volumes=2)
    write_dicom_series(tmp_path / "ct", (8, 8, 3))
    tiny_mosaic = warmup_source(tmp_path / "data", str(tmp_path / "mos"))
    tiny_plain = warmup_source(tmp_path / "data", str(tmp_path / "ct"))
    assert tiny_mosaic is not None and tiny_plain is not None and tiny_mosaic != tiny_plain
    assert lv.open(tiny_mosaic).meta["mosaic"]["slices_per_file"] == 4
    assert "mosaic" not in lv.open(tiny_plain).meta
