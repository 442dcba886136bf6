"""``python -m benchmarks``: plan, generate data, measure every case in fresh processes, report."""

from __future__ import annotations

import argparse
import fnmatch
import importlib
import json
import math
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import data, harness, report, targets
from .cases import GROUPS
from .harness import Context, GiB, Measure, MiB

HERE = Path(__file__).resolve().parent
PROG = "python -m benchmarks"
#: The defaults of a full run (``--quick`` has its own: 1 run, 120 s, 64 MiB).
REPEAT, TIMEOUT, PRIME_MIB = 3, 900.0, 1536
#: The plots ``write_outputs`` makes (and removes when an earlier run's are left over).
PLOT_PATTERNS = ("*_throughput.png", "*_latency.png", "memory_scaling.png")


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """argparse type: a whole number >= ``minimum`` (``--repeat 0`` must not pass for "unset")."""

    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, not {n}")
        return n

    return parse


def _positive_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(x) and x > 0):
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text}")
    return x


def _not_a_folder(path: Path) -> str | None:
    """Why ``path`` cannot be (or become) a folder: it, or its nearest existing parent, is a
    file; ``None`` when it can."""
    if path.exists():
        return None if path.is_dir() else "exists and is not a folder"
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return None if parent.is_dir() else f"{parent} is not a folder"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "lazyvol benchmark suite: memory and throughput against the tools users would otherwise "
            "use (nibabel, numpy, gzip, indexed_gzip, pydicom, SimpleITK, dcm2niix, zarr). Every "
            "measurement runs in a fresh process after memory priming, with a warm page cache."
        ),
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, one run each, forked workers: checks every case still runs (CI smoke "
        "run, about 1.5 min on 2 cores); its figures are not measurements",
    )
    p.add_argument(
        "--size",
        type=_positive_float,
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
        "--repeat",
        type=_int_at_least(1),
        help="runs per measure (default 3, --quick 1); median reported",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="output folder. Default: benchmarks/results for a full default run only (no --only, "
        "--size, --repeat, --no-cold, --prime-mib, --timeout or --no-plots); <data-dir>/results-quick "
        "for --quick, <data-dir>/results-input for --input, <data-dir>/results-partial for any "
        "other run",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=HERE / ".data",
        help="generated data (default benchmarks/.data)",
    )
    p.add_argument(
        "--prime-mib",
        type=_int_at_least(0),
        help="memory touched by the priming process before each run (default 1536, --quick 64; 0: off)",
    )
    p.add_argument(
        "--timeout",
        type=_positive_float,
        help="seconds allowed per run (default 900, --quick 120)",
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
    args = p.parse_args(argv)
    if args.input is not None and not args.input.exists():
        p.error(f"--input {args.input}: no such file or folder")
    if args.report_from is not None and not args.report_from.is_file():
        p.error(f"--report-from {args.report_from}: no such file")
    why = _not_a_folder(args.data_dir)
    if why:
        p.error(f"--data-dir {args.data_dir}: {why}")
    if args.out is not None and (why := _not_a_folder(args.out)):
        p.error(f"--out {args.out}: {why}")
    return args


def full_default_run(args: argparse.Namespace) -> bool:
    """True when ``args`` measure what the committed ``benchmarks/results/`` holds: every case, at
    the default size, rounds, cold runs, priming and timeout, with the plots (``--data-dir``,
    ``--no-fork`` and ``--no-progress`` do not change what is measured)."""
    return not (
        args.quick
        or args.input is not None
        or args.only
        or args.size != 1.0
        or args.repeat not in (None, REPEAT)
        or args.no_cold
        or args.prime_mib not in (None, PRIME_MIB)
        or args.timeout not in (None, TIMEOUT)
        or args.no_plots
    )


def output_dir(args: argparse.Namespace) -> Path:
    """``--out``, or the default folder of this kind of run (see ``--help``): only a full default
    run writes ``benchmarks/results/``, whose report and plots are committed."""
    if args.out is not None:
        return Path(args.out)
    data_dir = Path(args.data_dir).resolve()
    if args.input is not None:
        return data_dir / "results-input"
    if args.quick:
        return data_dir / "results-quick"
    return HERE / "results" if full_default_run(args) else data_dir / "results-partial"


def check_writable(out: Path) -> None:
    """Create ``out`` and a scratch folder in it (what :func:`write_outputs` does), then remove the
    scratch folder: an ``OSError`` here, before anything is measured, instead of after the run."""
    out.mkdir(parents=True, exist_ok=True)
    os.rmdir(tempfile.mkdtemp(prefix=".check-", dir=out))


def fail(message: str) -> int:
    """One line on stderr, exit status 2 (as argparse's errors)."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def make_context(args: argparse.Namespace) -> Context:
    quick = bool(args.quick)
    prime = args.prime_mib if args.prime_mib is not None else (64 if quick else PRIME_MIB)
    return Context(
        data_dir=args.data_dir.resolve(),
        quick=quick,
        size=args.size,
        input=args.input.resolve() if args.input else None,
        repeat=args.repeat if args.repeat is not None else (1 if quick else REPEAT),
        timeout=args.timeout if args.timeout is not None else (120.0 if quick else TIMEOUT),
        prime_bytes=prime * MiB,
        fork=quick and not args.no_fork,
        cold=not args.no_cold,
    )


def _matches(key: str, pat: str) -> bool:
    key, pat = key.lower(), pat.lower()
    return pat in key or fnmatch.fnmatch(key, pat) or fnmatch.fnmatch(key, pat + "*")


def selected(m: Measure, patterns: list[str]) -> bool:
    return not patterns or any(_matches(m.key, pat) for pat in patterns)


def unmatched(patterns: list[str], keys: list[str]) -> list[str]:
    """The ``--only`` patterns that match none of ``keys``."""
    return [pat for pat in patterns if not any(_matches(k, pat) for k in keys)]


Groups = list[tuple[str, Any, list[Measure]]]


def plan_groups(ctx: Context, notes: list[str]) -> Groups:
    """Every available group's name, module and planned measures (cheap: no data is made)."""
    out: Groups = []
    for name in GROUPS:
        try:
            mod = importlib.import_module(f"benchmarks.cases.{name}")
            out.append((name, mod, mod.plan(ctx)))
        except (ImportError, AttributeError) as exc:
            notes.append(f"group {name}: not available ({type(exc).__name__}: {exc})")
    return out


def select(groups: Groups, patterns: list[str]) -> Groups:
    """The groups with measures ``patterns`` select, and only those measures."""
    out: Groups = []
    for name, mod, planned in groups:
        mine = [m for m in planned if selected(m, patterns)]
        if mine:
            out.append((name, mod, mine))
    return out


def prepare_groups(ctx: Context, groups: Groups, notes: list[str]) -> list[Measure]:
    """Prepare (generate data, build indexes for) each group's selected measures."""
    measures: list[Measure] = []
    for name, mod, group in groups:
        print(
            f"{name}: preparing data and indexes for {len(group)} measure(s) in {ctx.data_dir}",
            file=sys.stderr,
            flush=True,
        )
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


def plan_all(
    ctx: Context, patterns: list[str], notes: list[str], prepare: bool = True
) -> list[Measure]:
    """Plan every group; prepare (generate data) the groups with selected measures."""
    groups = select(plan_groups(ctx, notes), patterns)
    if prepare:
        return prepare_groups(ctx, groups, notes)
    return [m for _, _, ms in groups for m in ms]


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
    """results.json, report.md and the plots into ``out``, so that an interruption never leaves a
    report pointing at a missing plot: everything is written into a scratch folder in ``out``
    first, then renamed into place (the plots, then results.json, then report.md), and only then
    are an earlier run's plots that this run did not make removed. Other files in ``out`` (a
    subfolder of another run) are left alone."""
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".writing-", dir=out))
    try:
        plots: list[Path] = []
        if not no_plots:
            try:
                plots = report.plots(results["measures"], staging)
            except ImportError as exc:
                results["notes"].append(
                    f"no plots: {exc} (pip install matplotlib, or the 'bench' extra)"
                )
        results["plots"] = [p.name for p in plots]
        (staging / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
        (staging / "report.md").write_text(report.markdown(results, plots))
        stale = {p.name for pat in PLOT_PATTERNS for p in out.glob(pat)} - set(results["plots"])
        for plot in plots:
            os.replace(plot, out / plot.name)
        os.replace(staging / "results.json", out / "results.json")
        os.replace(staging / "report.md", out / "report.md")
        for name in sorted(stale):
            (out / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def rebuild(path: Path, out: Path | None, no_plots: bool) -> int:
    """Re-evaluate checks and targets of a saved run and rewrite its report."""
    try:
        results = json.loads(path.read_text())
        records = results["measures"]
        quick = bool(results["suite"].get("quick"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return fail(f"--report-from {path}: not a results.json of this suite ({exc!r})")
    out = out or path.parent
    try:
        check_writable(out)
    except OSError as exc:
        return fail(f"cannot write the outputs to {out}: {exc}")
    results["checks"] = report.agreement(records)
    results["targets"] = targets.evaluate(records, quick=quick)
    write_outputs(results, out, no_plots)
    print(report.targets_text(results["targets"]))
    print(f"\nreport: {out / 'report.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command (see ``--help``); an interrupt (Ctrl-C) exits 130 with one line."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    if args.report_from is not None:
        return rebuild(args.report_from, args.out, args.no_plots)
    ctx = make_context(args)
    notes: list[str] = []
    started = datetime.now(UTC)
    load_before = harness.load_average()
    t0 = time.perf_counter()
    planned = plan_groups(ctx, notes)
    for pat in unmatched(args.only, [m.key for _, _, ms in planned for m in ms]):
        print(f"{PROG}: warning: --only {pat!r} matches no case (see --list)", file=sys.stderr)
    groups = select(planned, args.only)
    if not groups:
        what = (
            "no case matches " + " ".join(map(repr, args.only)) if args.only else "no case applies"
        )
        return fail(what + (f" (--input {args.input})" if args.input else ""))
    if args.list:
        for _, _, ms in groups:
            for m in ms:
                print(f"{m.key}" + (f"  [{m.skip}]" if m.skip else ""))
        return 0
    out = output_dir(args)
    try:
        ctx.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return fail(f"cannot create --data-dir {ctx.data_dir}: {exc}")
    if not args.prepare_only:
        try:
            check_writable(out)
        except OSError as exc:
            return fail(f"cannot write the outputs to {out}: {exc}")
        where = (
            ""
            if args.out is not None or out == HERE / "results"
            else (
                " (only a full default run writes benchmarks/results/ by default; --out to choose)"
            )
        )
        print(f"outputs will go to {out}{where}", file=sys.stderr)
    measures = prepare_groups(ctx, groups, notes)
    if args.prepare_only:
        print("\n".join(notes) or "data ready", f"in {ctx.data_dir}")
        return 0
    bytecode = harness.compile_bytecode()
    try:
        run_all(ctx, measures, progress=not args.no_progress)
    finally:
        ctx.close()
    records = [harness.summarize(m) for m in measures]
    results: dict[str, Any] = {
        "suite": {
            "command": shlex.join(
                ["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)]
            ),
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
    print(f"\noutputs in {out}: report {out / 'report.md'}, raw figures {out / 'results.json'}")
    errors = [r for r in records if r["status"] == "error"]
    for r in errors:
        print(f"ERROR {r['key']}: {r.get('reason', '')}", file=sys.stderr)
    return 1 if errors else 0


__all__ = ["GiB", "main"]
