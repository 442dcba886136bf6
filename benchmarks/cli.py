"""``python -m benchmarks``: plan, generate data, measure every case in fresh processes, report."""

from __future__ import annotations

import argparse
import fnmatch
import importlib
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import data, harness, report, targets
from .cases import GROUPS
from .harness import Context, GiB, Measure, MiB

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "lazyvol benchmark suite: memory and throughput against the tools users would otherwise "
            "use (nibabel, numpy, gzip, indexed_gzip, pydicom, SimpleITK, dcm2niix, zarr). Every "
            "measurement runs in a fresh process after memory priming, with a warm page cache."
        ),
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes, one run each (CI smoke run)")
    p.add_argument(
        "--size",
        type=float,
        default=1.0,
        help="scale factor of the generated volumes' slice count (default 1: 512x512x1024 NIfTI)",
    )
    p.add_argument(
        "--input", type=Path, help="run the applicable cases on your own file, folder or store"
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PATTERN",
        help="run only cases whose 'group/case/tool' matches (substring or glob; repeatable)",
    )
    p.add_argument(
        "--repeat", type=int, help="runs per measure (default 3, --quick 1); median reported"
    )
    p.add_argument(
        "--out",
        type=Path,
        help="output folder (default benchmarks/results, --quick: .data/results-quick)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=HERE / ".data",
        help="generated data (default benchmarks/.data)",
    )
    p.add_argument(
        "--prime-mib",
        type=int,
        help="memory touched by the priming process before each run (default 1536, --quick 64; 0: off)",
    )
    p.add_argument(
        "--timeout", type=float, help="seconds allowed per run (default 900, --quick 120)"
    )
    p.add_argument(
        "--no-cold",
        action="store_true",
        help="warm runs only (no cold column: fresh process, first call, imports timed apart)",
    )
    p.add_argument("--list", action="store_true", help="list the planned measures and exit")
    p.add_argument(
        "--prepare-only", action="store_true", help="generate the data and indexes, measure nothing"
    )
    p.add_argument(
        "--no-fork",
        action="store_true",
        help="--quick: start a new interpreter per run instead of forking a pre-imported one",
    )
    p.add_argument(
        "--report-from",
        type=Path,
        metavar="RESULTS_JSON",
        help="measure nothing: rebuild report.md, plots and targets from a results.json",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def make_context(args: argparse.Namespace) -> Context:
    quick = bool(args.quick)
    prime = args.prime_mib if args.prime_mib is not None else (64 if quick else 1536)
    return Context(
        data_dir=args.data_dir.resolve(),
        quick=quick,
        size=args.size,
        input=args.input.resolve() if args.input else None,
        repeat=args.repeat or (1 if quick else 3),
        timeout=args.timeout or (120.0 if quick else 900.0),
        prime_bytes=prime * MiB,
        fork=quick and not args.no_fork,
        cold=not args.no_cold,
    )


def selected(m: Measure, patterns: list[str]) -> bool:
    if not patterns:
        return True
    key = m.key.lower()
    return any(
        (pat.lower() in key)
        or fnmatch.fnmatch(key, pat.lower())
        or fnmatch.fnmatch(key, pat.lower() + "*")
        for pat in patterns
    )


def plan_all(
    ctx: Context, patterns: list[str], notes: list[str], prepare: bool = True
) -> list[Measure]:
    """Plan every group; prepare (generate data) the groups with selected measures."""
    measures: list[Measure] = []
    for name in GROUPS:
        try:
            mod = importlib.import_module(f"benchmarks.cases.{name}")
            group = [m for m in mod.plan(ctx) if selected(m, patterns)]
        except (ImportError, AttributeError) as exc:
            notes.append(f"group {name}: not available ({type(exc).__name__}: {exc})")
            continue
        if not group:
            continue
        if not prepare:
            measures += group
            continue
        t0 = time.perf_counter()
        try:
            mod.prepare(ctx, group)
        except (ImportError, AttributeError) as exc:
            reason = f"not available: {type(exc).__name__}: {exc}"
            for m in group:
                if not m.skip:
                    m.skip = reason
                    m.skip_status = "n/a"
        for m in group:
            data.add_warmup(ctx.data_dir, m)
        spent = time.perf_counter() - t0
        if spent > 1:
            notes.append(f"group {name}: data and indexes prepared in {spent:.1f} s")
        measures += group
    return measures


def run_all(ctx: Context, measures: list[Measure], progress: bool) -> None:
    """Measure: for each case, the runs of its tools interleaved (A B C A B C ...), priming each;
    each round runs every tool warm, then cold (script measures: one run, cold by nature)."""
    from tqdm import tqdm

    cases: dict[tuple[str, str], list[Measure]] = {}
    for m in measures:
        cases.setdefault((m.group, m.case), []).append(m)
    per_round = {id(m): 1 if (m.script or not ctx.cold) else 2 for m in measures}
    total = sum(ctx.repeat * per_round[id(m)] for m in measures if not m.skip)
    bar = tqdm(total=total, disable=not progress, unit="run", dynamic_ncols=True, file=sys.stderr)
    try:
        for (group, case), ms in cases.items():
            todo = [m for m in ms if not m.skip]
            files = sorted({f for m in todo for f in m.files})
            if files:
                harness.warm_page_cache(files)
            for _ in range(ctx.repeat):
                for m in todo:
                    bar.set_description(f"{group}: {case} / {m.tool}"[:70])
                    rec = harness.run_once(m, ctx)
                    m.runs.append(rec)
                    bar.update(1)
                    if rec.get("status") == "n/a":
                        m.skip, m.skip_status = rec.get("reason", "not available"), "n/a"
                        bar.update((ctx.repeat - len(m.runs)) * per_round[id(m)])
                        continue
                    if per_round[id(m)] == 2:
                        bar.set_description(f"{group}: {case} / {m.tool} (cold)"[:70])
                        m.cold_runs.append(harness.run_once(m, ctx, cold=True))
                        bar.update(1)
                todo = [m for m in todo if not m.skip]
    finally:
        bar.close()


def write_outputs(results: dict[str, Any], out: Path, no_plots: bool) -> None:
    """results.json, report.md and the plots into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    plots: list[Path] = []
    for old in (
        *out.glob("*_throughput.png"),
        *out.glob("*_latency.png"),
        *out.glob("memory_scaling.png"),
    ):
        old.unlink()  # plots of an earlier run in this folder
    if not no_plots:
        try:
            plots = report.plots(results["measures"], out)
        except ImportError as exc:
            results["notes"].append(
                f"no plots: {exc} (pip install matplotlib, or the 'bench' extra)"
            )
    results["plots"] = [p.name for p in plots]
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (out / "report.md").write_text(report.markdown(results, plots))


def rebuild(path: Path, out: Path | None, no_plots: bool) -> int:
    """Re-evaluate checks and targets of a saved run and rewrite its report."""
    results = json.loads(path.read_text())
    records = results["measures"]
    results["checks"] = report.agreement(records)
    results["targets"] = targets.evaluate(records, quick=bool(results["suite"].get("quick")))
    write_outputs(results, out or path.parent, no_plots)
    print(report.targets_text(results["targets"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_from is not None:
        return rebuild(args.report_from, args.out, args.no_plots)
    ctx = make_context(args)
    out = args.out or (ctx.data_dir / "results-quick" if ctx.quick else HERE / "results")
    if ctx.input is not None and args.out is None:
        out = ctx.data_dir / "results-input"
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    started = datetime.now(UTC)
    load_before = harness.load_average()
    t0 = time.perf_counter()
    measures = plan_all(ctx, args.only, notes, prepare=not args.list)
    if args.prepare_only:
        print("\n".join(notes) or "data ready", f"in {ctx.data_dir}")
        return 0
    if args.list:
        for m in measures:
            print(f"{m.key}" + (f"  [{m.skip}]" if m.skip else ""))
        return 0
    if not measures:
        print("no case matches", args.only, file=sys.stderr)
        return 2
    bytecode = harness.compile_bytecode()
    try:
        run_all(ctx, measures, progress=not args.no_progress)
    finally:
        ctx.close()
    records = [harness.summarize(m) for m in measures]
    results: dict[str, Any] = {
        "suite": {
            "command": "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv),
            "started": started.isoformat(timespec="seconds"),
            "duration_s": round(time.perf_counter() - t0, 1),
            "quick": ctx.quick,
            "size": ctx.size,
            "input": str(ctx.input) if ctx.input else None,
            "repeat": ctx.repeat,
            "process": (
                "--quick: forked from a zygote process that imported numpy, dask, nibabel and lazyvol "
                "once (see benchmarks/zygote.py)"
                if ctx.fork
                else "`python -m benchmarks.worker`, a new interpreter per run"
            ),
            "prime_bytes": ctx.prime_bytes,
            "cold": (
                "each round also runs every measure cold: a fresh process with no warm-up call; "
                "the first call is timed, the tool's imports apart (import_s), and the "
                "interpreter's start-up from the parent (startup_s)"
                if ctx.cold
                else "warm runs only (--no-cold)"
            ),
            "page_cache": "warm (every file read once before its case's runs)",
            "bytecode": bytecode,
            "load_before": load_before,
            "load_after": harness.load_average(),
        },
        "machine": harness.machine(),
        "versions": harness.versions(),
        "notes": notes,
        "measures": records,
    }
    results["checks"] = report.agreement(records)
    results["targets"] = targets.evaluate(records, quick=ctx.quick)
    write_outputs(results, out, args.no_plots)
    print(report.table(records))
    print()
    print(report.targets_text(results["targets"]))
    print(f"\nreport: {out / 'report.md'}\nraw figures: {out / 'results.json'}")
    errors = [r for r in records if r["status"] == "error"]
    for r in errors:
        print(f"ERROR {r['key']}: {r.get('reason', '')}", file=sys.stderr)
    return 1 if errors else 0


__all__ = ["GiB", "main"]
