"""The targets of issues 2, 7, 15 and 17 (remote: :mod:`benchmarks.remote_targets`), evaluated on one run's figures: PASS, MISS or N/A with the numbers.

Speed targets are judged on the **cold** column where a user pays it (a fresh process's first call;
for the ``startup`` scripts, the whole command line); memory-scaling targets on the warm runs.
Ratios only compare figures measured in the same run. A target whose cases did not run (filtered
out, not available yet, or failed) is N/A with the reason; nothing is ever counted as a PASS
without its measurement.
"""

from __future__ import annotations

from typing import Any

from . import remote_targets

MiB = 2**20

#: Known or likely causes, shown when a target is missed (analysis of the runs so far; a cause
#: marked "likely" has not been isolated by a dedicated experiment yet).
WHY: dict[str, str] = {
    "nii-mean-int16": (
        "judged cold on the first call (imports apart): lazyvol parses the NIfTI header itself "
        "(no nibabel or pydicom import on the open path) and the first compute does not import "
        "dask.distributed; what is left is dask's graph and its two threads against one "
        "memory-mapped reduction"
    ),
    "nii-mean-float32": "see the int16 case",
    "memory.nii.gz": (
        "under 256 MiB at every size; the growth is rapidgzip's own. A timeline of the pass "
        "(RssAnon every 10 ms; scratch, 2026-12-03): 185 MiB at 256 MiB; at 4 GiB the pass climbs "
        "steadily to 205 MiB, because rapidgzip's sequential decoder keeps a seek point with its "
        "(compressed) window for every 2 MiB chunk until the end of the pass (bare rapidgzip: "
        "94 MiB at 256 MiB, 111 MiB at 4 GiB), then its index export adds the index's size at "
        "the very end (bare: 111 -> 123 MiB while it writes a 10.4 MiB gztool index, to a path "
        "or to a file object alike; lazyvol thins it to 256 points afterwards). rapidgzip 0.16's "
        "Python API cannot keep fewer points: it drops them only for a non-seekable input, and "
        "feeding it a pipe from Python stalled in trials. Saving the index later would not lower "
        "the peak: the pass's 16 MiB blocks stay in lazyvol's pool. The rest is flat: the "
        "interpreter and imports (~80 MiB) and the pooled blocks. 1 MiB chunks would save "
        "~40 MiB at every size at ~20% of the first pass's speed (LAZYVOL_GZIP_MEMORY below "
        "128 MiB selects them)"
    ),
    "gz-mean-int16": (
        "the inflate itself, on 2 cores: a first pass must inflate the stream in order (no seek "
        "points yet), so one core decodes while the other reduces. rapidgzip's sequential "
        "decoder runs at about 1.4-1.6x zlib's (indexed_gzip's) speed here; its parallel decoding "
        "costs ~2x the CPU per byte and only pays back from 4 cores, or on 2 cores with 32-64 MiB "
        "chunks at ~600 MiB of memory (against the 256 MiB cap). Compare the core-scaling rows; "
        "gzaccess.PARALLEL_MIN_THREADS and LAZYVOL_GZIP_MEMORY set the trade-off"
    ),
    "gz-mean-float32": "see the int16 case",
    "gz-far-slice": (
        "a whole script: interpreter start and lazyvol's imports against one inflate of the file; "
        "the read itself is ~20 ms through the saved index"
    ),
    "dicom-sitk": (
        "what is left is Python and memory traffic, measured in fresh processes on this VM: the "
        "open ~60-75 ms (lazyvol's DICOM modules ~14 ms, mostly dataclass creation; 512 headers "
        "walked and recorded at ~60 us each, half in a forked child; grouping and geometry "
        "checks ~12 ms; saving the scan index and report ~8 ms), then dask's mean ~80 ms: each "
        "of two threads reads 128 MiB from the page cache (~36 ms; the kernel's copy into "
        "8 MiB slabs) and sums it (~24 ms), and the scheduler starts ~6-10 ms before the first "
        "read. Slabs are pooled block maps since a171d18 (a fresh process had faulted every "
        "slab's pages in: 0.22-0.25 s before it in interleaved runs). SimpleITK/GDCM parses "
        "headers in C++"
    ),
    "dicom-naive": "see the SimpleITK target",
    "dicom-scan": (
        "judged on headers copied from the template the figures name (a real GE file, ~100 public "
        "and ~240 private attributes, when LAZYVOL_REAL_DICOM or shared/dicom-real is at hand): "
        "lazyvol.scan walks every element in Python (as dcmread does) but decodes only what it "
        "uses, builds frame records (pixel offsets, geometry), groups them and saves its index; "
        "cold, neither side imports pydicom inside the timed call any more"
    ),
    "dicom-reopen": (
        "reopening costs a listing plus a stat of every file; the first scan got faster (one "
        "pread per header), which shrinks the ratio"
    ),
    "zarr-convert": (
        "to_zarr writes 16 MiB blocks of whole chunks on 2 threads, two chunks encoded at a time "
        "per thread; from a .nii.gz the first gzip pass itself holds ~110 MiB (rapidgzip's "
        "state, the read-ahead blocks) and its index export comes at the very end"
    ),
}


def _find(records: list[dict[str, Any]], group: str, case: str, tool: str) -> dict[str, Any] | None:
    for r in records:
        if r["group"] == group and r["case"] == case and r["tool"] == tool:
            return r
    return None


def _ok(r: dict[str, Any] | None) -> bool:
    return r is not None and r.get("median") is not None


def _cold(r: dict[str, Any] | None) -> float | None:
    c = (r or {}).get("cold") or {}
    return c.get("median") if c.get("status") == "ok" else None


def _with_imports(r: dict[str, Any] | None) -> float | None:
    """Cold first call plus the tool's imports (not for scripts, which include them)."""
    c = (r or {}).get("cold") or {}
    if c.get("status") != "ok" or c.get("script") or c.get("import_s") is None:
        return None
    return float(c["median"]) + float(c["import_s"])


def _why_missing(*rs: tuple[str, dict[str, Any] | None]) -> str:
    parts: list[str] = []
    for name, r in rs:
        if r is None:
            text = "not in this run"
        elif not _ok(r):
            text = f"{r['status']} ({r.get('reason', '')})"
        else:
            continue
        if parts and parts[-1].endswith(text):
            parts[-1] = parts[-1].replace(": " + text, "") + f" and {name}: {text}"
        else:
            parts.append(f"{name}: {text}")
    return "; ".join(parts)


def _speed(
    tid: str,
    target: str,
    fast: tuple[str, dict | None],
    slow: tuple[str, dict | None],
    need: float,
    column: str = "cold",
) -> dict[str, Any]:
    """PASS when ``slow / fast >= need`` (fast is the lazyvol side), on the ``column`` figures:
    ``"cold"`` (first call in a fresh process, or a whole script) or ``"warm"``."""
    f, s = fast[1], slow[1]
    if not (_ok(f) and _ok(s)):
        return {"id": tid, "target": target, "status": "N/A", "measured": _why_missing(fast, slow)}
    assert f is not None and s is not None
    if column == "cold":
        ft, st = _cold(f), _cold(s)
        if ft is None or st is None:
            return {
                "id": tid,
                "target": target,
                "status": "N/A",
                "measured": "no cold runs in this run (--no-cold?)",
            }
    else:
        ft, st = f["median"], s["median"]
    ratio = st / ft
    measured = (
        f"{column}: {fast[0]} {ft:.3g} s vs {slow[0]} {st:.3g} s: ratio {ratio:.2f} "
        f"(need >= {need:.3g})"
    )
    if column == "cold" and _ok(f) and _ok(s):
        measured += f"; warm: {f['median']:.3g} s vs {s['median']:.3g} s"
        fi, si = _with_imports(f), _with_imports(s)
        if fi and si:
            # Lazily imported modules (pydicom, nibabel) land in the first call of the tool that
            # defers them and in the untimed imports of the tool that imports them up front.
            measured += (
                f"; imports + first call: {fi:.3g} s vs {si:.3g} s (ratio {si / fi:.2f}, "
                "information)"
            )
    return {
        "id": tid,
        "target": target,
        "status": "PASS" if ratio >= need else "MISS",
        "measured": measured,
        "ratio": ratio,
        "why": WHY.get(tid, ""),
    }


def evaluate(records: list[dict[str, Any]], *, quick: bool = False) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    # -- start-up (whole command lines) ------------------------------------------------------------
    st = "startup"
    out.append(
        _speed(
            "import",
            "`python -c 'import lazyvol'` <= 1.3x `import nibabel`",
            ("import lazyvol", _find(records, st, "import", "python -c 'import lazyvol'")),
            ("import nibabel", _find(records, st, "import", "python -c 'import nibabel'")),
            1 / 1.3,
        )
    )
    out.append(
        _speed(
            "info",
            "`lazyvol info FILE.nii` <= 1.3x `nib-ls FILE.nii`",
            ("lazyvol info", _find(records, st, "info on a .nii", "lazyvol info")),
            ("nib-ls", _find(records, st, "info on a .nii", "nib-ls")),
            1 / 1.3,
        )
    )
    one = "script: one slice of a .nii"
    out.append(
        _speed(
            "slice-script",
            "a fresh-process script reading one slice of a `.nii` <= 1.2x the nibabel `dataobj` script",
            ("lazyvol", _find(records, st, one, "lazyvol")),
            ("nibabel", _find(records, st, one, "nibabel dataobj")),
            1 / 1.2,
        )
    )
    # -- memory scaling --------------------------------------------------------------------------
    for tool, fmt in (("lazyvol", ".nii"), ("lazyvol", ".nii.gz"), ("lazyvol.stats", ".nii")):
        rows = [
            r
            for r in records
            if r["group"] == "scaling"
            and r["tool"] == tool
            and r["case"].startswith(f"mean {fmt} ")
        ]
        fd = [
            r
            for r in records
            if r["group"] == "scaling"
            and "get_fdata" in r["tool"]
            and r["case"].startswith(f"mean {fmt} ")
        ]
        what = "full-volume mean" if tool == "lazyvol" else "lv.stats (all statistics, one pass)"
        tid = f"memory{fmt}" if tool == "lazyvol" else f"memory-stats{fmt}"
        target = (
            f"lazyvol {fmt} {what}: peak anonymous memory < 256 MiB at every size, flat within 10%"
        )
        good = [r for r in rows if _ok(r)]
        if len(good) < 2 or len(good) != len(rows):
            out.append(
                {
                    "id": tid,
                    "target": target,
                    "status": "N/A",
                    "measured": _why_missing(*[(r["case"], r) for r in rows])
                    or "scaling cases not in this run",
                }
            )
        else:
            good.sort(key=lambda r: r["x"])
            peaks = [r["peak_anon"] for r in good]
            growth = max(peaks) / min(peaks) - 1
            under = max(peaks) < 256 * MiB
            flat = growth <= 0.10
            sizes = ", ".join(f"{r['x'] / MiB:,.4g} MiB: {r['peak_anon'] / MiB:.0f}" for r in good)
            fds = ", ".join(
                f"{r['x'] / MiB:,.4g} MiB: "
                + (f"{r['peak_anon'] / MiB:,.0f}" if _ok(r) else r["status"])
                for r in sorted(fd, key=lambda r: r["x"])
            )
            measured = (
                f"{tool} peak anon MiB at volume size {sizes} (growth {growth:+.1%}); "
                f"get_fdata: {fds or 'not run'}"
            )
            reasons = []
            if not under:
                reasons.append(f"peak {max(peaks) / MiB:.0f} MiB >= 256 MiB")
            if not flat:
                reasons.append(f"grows {growth:.1%} > 10%")
            out.append(
                {
                    "id": tid,
                    "target": target,
                    "status": "PASS" if under and flat else "MISS",
                    "measured": measured + (f" ({'; '.join(reasons)})" if reasons else ""),
                    "why": WHY.get(tid, ""),
                }
            )

    # -- NIfTI throughput --------------------------------------------------------------------------
    for dt in ("int16", "float32"):
        case = f"mean .nii {dt}"
        out.append(
            _speed(
                f"nii-mean-{dt}",
                f"first `.nii` {dt} full mean in a fresh process (imports apart) at >= 80% of "
                "the `np.memmap(...).mean()` throughput",
                ("lazyvol", _find(records, "nifti", case, "lazyvol")),
                ("np.memmap", _find(records, "nifti", case, "np.memmap mean (raw limit)")),
                0.8,
            )
        )
    for dt in ("int16", "float32"):
        case = f"mean .nii.gz {dt}"
        lvr = _find(records, "nifti", case, "lazyvol")
        t = _speed(
            f"gz-mean-{dt}",
            f"first-pass `.nii.gz` {dt} mean (no saved index, fresh process) >= 1.8x indexed_gzip's "
            "single-stream inflate on 2 cores, < 256 MiB peak anonymous memory",
            ("lazyvol", lvr),
            ("indexed_gzip", _find(records, "nifti", case, "indexed_gzip readinto (gz limit)")),
            1.8,
        )
        if t["status"] in ("PASS", "MISS") and lvr is not None:
            peak = max(lvr.get("peak_anon") or 0, (lvr.get("cold") or {}).get("peak_anon") or 0)
            t["measured"] += f"; lazyvol peak anon {peak / MiB:.0f} MiB"
            if peak >= 256 * MiB:
                t["status"] = "MISS"
        out.append(t)
    full = "full pass, saved index"
    one = _find(records, "gzindex", full, "indexed_gzip 1 stream")
    two = _find(records, "gzindex", full, "indexed_gzip 2 threads, saved index")
    lvi = _find(records, "gzindex", full, "lazyvol mean, saved index")
    lvn = _find(records, "gzindex", full, "lazyvol mean, no saved index")
    if _ok(one) and _ok(two) and _ok(lvi) and _ok(lvn):
        assert one and two and lvi and lvn
        out.append(
            {
                "id": "gz-parallel",
                "target": "(information) parallel decompression from a saved seek index, 2 cores",
                "status": "INFO",
                "measured": (
                    f"indexed_gzip 2 threads {one['median'] / two['median']:.2f}x one stream; lazyvol mean "
                    f"with the saved index {lvi['median']:.3g} s vs {lvn['median']:.3g} s without "
                    f"({lvn['median'] / lvi['median']:.2f}x), {one['median'] / lvi['median']:.2f}x "
                    "single-stream indexed_gzip"
                ),
            }
        )
    scal = [
        r for r in records if r["group"] == "gzindex" and r["case"].startswith("inflate scaling")
    ]
    if scal:
        parts = []
        for r in scal:
            c = _cold(r)
            if c is not None and r.get("nbytes"):
                parts.append(f"{r['tool']}: {r['nbytes'] / c / 1e6:,.0f} MB/s")
            elif c is not None:
                parts.append(f"{r['tool']}: {c:.3g} s")
        out.append(
            {
                "id": "gz-core-scaling",
                "target": "(information) first-pass `.nii.gz` inflate and mean against threads (cold)",
                "status": "INFO",
                "measured": "; ".join(parts) or "no successful runs",
            }
        )
    # Issue 15 asks for a fresh-process *script* (interpreter start and imports included, as a
    # user pays them), not the first call with the imports apart (``gzindex/far slice``).
    far = "script: one slice far into a .nii.gz"
    t = _speed(
        "gz-far-slice",
        "a fresh-process script reading one slice far into a `.nii.gz`, seek index saved: "
        "< 1/10 of a script inflating the whole file",
        ("lazyvol script, saved index", _find(records, "startup", far, "lazyvol, saved index")),
        (
            "full inflate script",
            _find(records, "startup", far, "full inflate (indexed_gzip script)"),
        ),
        10.0,
    )
    out.append(t)

    # -- DICOM -------------------------------------------------------------------------------------
    mean = "open + mean, uncompressed"
    real = "header scan, real-shaped headers"
    out.append(
        _speed(
            "dicom-sitk",
            "DICOM open + full-series mean (512 slices, cold) >= 4x faster than SimpleITK ImageSeriesReader",
            ("lazyvol", _find(records, "dicom", mean, "lazyvol")),
            ("SimpleITK", _find(records, "dicom", mean, "SimpleITK ImageSeriesReader")),
            4.0,
        )
    )
    out.append(
        _speed(
            "dicom-naive",
            "DICOM open + full-series mean (cold) >= 3x faster than the naive pydicom loop + np.stack",
            ("lazyvol", _find(records, "dicom", mean, "lazyvol")),
            ("pydicom loop", _find(records, "dicom", mean, "pydicom loop + np.stack")),
            3.0,
        )
    )
    scan = _find(records, "dicom", real, "lazyvol.scan")
    judged = _speed(
        "dicom-scan",
        "DICOM header scan (headers shaped like real ones) >= 2x a plain "
        "dcmread(stop_before_pixels=True) loop",
        ("lazyvol.scan", scan),
        ("dcmread loop", _find(records, "dicom", real, "dcmread(stop_before_pixels) loop")),
        2.0,
    )
    if scan and scan.get("note"):  # (the header the run copied: a real one, or the fallback)
        judged["measured"] += f"; {scan['note']}"
    out.append(judged)
    out.append(
        _speed(
            "dicom-reopen",
            "DICOM reopen of a large folder (20 series, 10,000 files) from the saved scan index "
            ">= 20x faster than the first scan",
            (
                "reopen",
                _find(records, "dicom", "scan a large folder", "lazyvol.scan, saved scan index"),
            ),
            (
                "first scan",
                _find(records, "dicom", "scan a large folder", "lazyvol.scan, first scan"),
            ),
            20.0,
        )
    )

    # -- Zarr --------------------------------------------------------------------------------------
    out.append(
        _speed(
            "zarr-cache-mean",
            "mean from the Zarr cache >= 2x faster than from the `.nii.gz` source",
            ("Zarr cache", _find(records, "zarr", "mean", "lazyvol.open(src, cache=True), cached")),
            (".nii.gz", _find(records, "zarr", "mean", "lazyvol.open(.nii.gz)")),
            2.0,
        )
    )
    conv = _speed(
        "zarr-convert",
        "conversion to Zarr within 1.5x of a streaming zarr write of the same data, in flat memory "
        "(peak anonymous memory < 256 MiB)",
        ("vol.to_zarr", _find(records, "zarr", "convert to Zarr", "vol.to_zarr")),
        (
            "streaming zarr write",
            _find(records, "zarr", "convert to Zarr", "plain streaming zarr write"),
        ),
        1 / 1.5,
    )
    tz = _find(records, "zarr", "convert to Zarr", "vol.to_zarr")
    pz = _find(records, "zarr", "convert to Zarr", "plain streaming zarr write")
    if conv["status"] in ("PASS", "MISS") and tz is not None and pz is not None:
        flat = tz["peak_anon"] < 256 * MiB
        conv["measured"] += (
            f"; peak anon: vol.to_zarr {tz['peak_anon'] / MiB:.0f} MiB, streaming write "
            f"{pz['peak_anon'] / MiB:.0f} MiB"
        )
        if not flat:
            conv["status"] = "MISS"
            conv["measured"] += " (to_zarr peak anon >= 256 MiB)"
    out.append(conv)

    # -- remote sources (loopback S3 server) -----------------------------------------------------
    out += remote_targets.evaluate(records, _speed)

    if quick:
        for t in out:
            if t["status"] in ("PASS", "MISS"):
                t["measured"] += " [--quick: tiny data, not meaningful]"
    return out
