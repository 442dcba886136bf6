"""Rough figures for the Zarr writer, the cache and the NIfTI writer (issue 5).

Not the benchmark suite: a quick, self-contained measurement. Each measured step runs in a fresh
subprocess after a priming process touched ~1.5 GiB (see shared BENCHMARKING.md), warm page cache.
Prints write MB/s, mean-from-cache vs mean-from-.nii.gz, and peak VmHWM / RssAnon of to_zarr and
to_nifti. Usage::

    PYTHONPATH=src python benchmarks/zarr_rough.py [workdir] [--sizes 128,512] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap

PRIME = "import numpy as np; a = np.ones(3 * 2**28 // 2, dtype=np.int8); a[::4096] = 2; print(int(a[::4096].sum()))"

CHILD = textwrap.dedent(
    """
    import json, os, sys, threading, time
    peak_anon = 0
    stop = False
    def rss_anon():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        return 0
    def sampler():
        global peak_anon
        while not stop:
            peak_anon = max(peak_anon, rss_anon())
            time.sleep(0.005)
    threading.Thread(target=sampler, daemon=True).start()
    import numpy as np
    import lazyvol as lv
    task, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
    t0 = time.perf_counter()
    if task == "to_zarr":
        lv.open(src).to_zarr(dst)
        extra = None
    elif task == "to_nifti":
        lv.open(src).to_nifti(dst)
        extra = None
    elif task == "mean_source":
        extra = float(lv.open(src).data.mean().compute())
    elif task == "mean_cache":
        extra = float(lv.open(src, cache=dst).data.mean().compute())
    elapsed = time.perf_counter() - t0
    stop = True
    hwm = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    print(json.dumps({"s": elapsed, "hwm": hwm, "anon": max(peak_anon, rss_anon()), "value": extra}))
    """
)


def run(task: str, src: str, dst: str) -> dict:
    subprocess.run([sys.executable, "-c", PRIME], check=True, capture_output=True)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, task, src, dst], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("workdir", nargs="?", default=None)
    ap.add_argument("--sizes", default="256,1024", help="volume sizes in MiB (int16, 512x512xK)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from lazyvol.testing import write_phantom_nifti

    work = args.workdir or tempfile.mkdtemp(prefix="lazyvol-zarr-bench-")
    os.makedirs(work, exist_ok=True)
    for mib in (int(s) for s in args.sizes.split(",")):
        k = mib * 2**20 // (512 * 512 * 2)
        src = os.path.join(work, f"v{mib}.nii.gz")
        if not os.path.exists(src):
            write_phantom_nifti(src, (512, 512, k), dtype="int16")
        res: dict[str, list[dict]] = {}
        for r in range(args.repeat):
            z = os.path.join(work, f"v{mib}-{r}.zarr")
            n = os.path.join(work, f"v{mib}-{r}.nii")
            c = os.path.join(work, f"cache{mib}")
            res.setdefault("to_zarr", []).append(run("to_zarr", src, z))
            res.setdefault("to_nifti", []).append(run("to_nifti", z, n))
            if r == 0:
                run("mean_cache", src, c)  # fills the cache
            res.setdefault("mean_source", []).append(run("mean_source", src, ""))
            res.setdefault("mean_cache", []).append(run("mean_cache", src, c))
            for p in (z,):
                subprocess.run(["rm", "-rf", p], check=True)
            os.remove(n)
        for task, rows in res.items():
            secs = [row["s"] for row in rows]
            line = (
                f"{mib:5d} MiB {task:12s} median {statistics.median(secs):7.3f} s "
                f"(min {min(secs):.3f}, max {max(secs):.3f})"
            )
            if task == "to_zarr":
                line += f"  {mib * 2**20 / statistics.median(secs) / 1e6:7.1f} MB/s"
            line += (
                f"  VmHWM {max(r['hwm'] for r in rows) / 2**20:6.0f} MiB"
                f"  RssAnon {max(r['anon'] for r in rows) / 2**20:6.0f} MiB"
            )
            print(line, flush=True)
        ms = statistics.median(r["s"] for r in res["mean_source"])
        mc = statistics.median(r["s"] for r in res["mean_cache"])
        print(
            f"{mib:5d} MiB mean from cache is {ms / mc:.1f}x faster than from .nii.gz", flush=True
        )


if __name__ == "__main__":
    main()
