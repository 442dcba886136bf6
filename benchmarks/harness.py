"""The measurement plan, fresh-process runs, memory priming, page-cache warming and machine facts."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .memory import vm_hwm
from .worker import MARKER

REPO = Path(__file__).resolve().parent.parent
GiB = 2**30
MiB = 2**20


@dataclass
class Measure:
    """One (case, tool) pair of the plan: what runs in each fresh worker process.

    ``module.func(**args)`` is the worker's preparation (see :mod:`benchmarks.worker`).
    ``nbytes`` is the uncompressed image bytes the work covers (throughput = nbytes / time), 0 for
    latency cases. ``cache`` is ``"fresh"`` (a new empty ``LAZYVOL_CACHE_DIR`` for every run), a
    directory prepared beforehand (e.g. holding a saved gzip seek index), or ``""`` (inherit).
    ``mem_hint`` is the memory the tool is expected to touch, so priming can cover it.
    ``ref`` marks lazyvol's own entry, the denominator of the case's relative times.
    ``cmd`` makes it a *script* measure: that command line is the whole work (interpreter start,
    imports and all, timed from the parent like ``time python script.py``); it has no warm run.
    ``runs`` are the warm runs (one untimed warm-up call first), ``cold_runs`` the cold ones (a
    fresh process's first call, its imports timed apart; see :mod:`benchmarks.worker`).
    """

    group: str
    case: str
    tool: str
    module: str
    func: str
    args: dict[str, Any] = field(default_factory=dict)
    nbytes: int = 0
    cache: str = "fresh"
    mem_hint: int = 0
    ref: bool = False
    files: list[str] = field(default_factory=list)
    x: float | None = None  # e.g. volume size in bytes for the scaling plot
    items: int = 0  # files handled, for a files/s rate (DICOM header scans)
    note: str = ""
    skip: str = ""  # reason this measure is not run ("n/a" or "skipped")
    skip_status: str = "n/a"
    cmd: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    cold_runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def script(self) -> bool:
        return bool(self.cmd)

    @property
    def key(self) -> str:
        return f"{self.group}/{self.case}/{self.tool}"


@dataclass
class Context:
    """What case groups need to plan: sizes, data folder, mode and the user's input."""

    data_dir: Path
    quick: bool = False
    size: float = 1.0
    input: Path | None = None
    repeat: int = 3
    timeout: float = 900.0
    prime_bytes: int = int(1.5 * GiB)
    fork: bool = False  # --quick: fork runs from a pre-imported zygote (see benchmarks.zygote)
    cold: bool = True  # also run every measure cold (fresh process, first call, imports apart)
    extra: dict[str, Any] = field(default_factory=dict)
    _zygote: Any = None

    def zygote(self) -> Zygote:
        if self._zygote is None or not self._zygote.alive():
            self._zygote = Zygote()
        return self._zygote

    def close(self) -> None:
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None

    def tmpdir(self, prefix: str) -> Path:
        root = self.data_dir / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=prefix, dir=root))

    def cache_dir(self, name: str) -> Path:
        """A persistent, named lazyvol cache directory under the data folder."""
        path = self.data_dir / "cache" / name
        path.mkdir(parents=True, exist_ok=True)
        return path


@contextmanager
def lazyvol_cache_dir(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Run the block with ``LAZYVOL_CACHE_DIR`` set to ``folder`` (this process's previous value,
    or its absence, restored after): preparation that saves an index or a cache entry there."""
    old = os.environ.get("LAZYVOL_CACHE_DIR")
    os.environ["LAZYVOL_CACHE_DIR"] = str(folder)
    try:
        yield
    finally:
        if old is None:
            del os.environ["LAZYVOL_CACHE_DIR"]
        else:
            os.environ["LAZYVOL_CACHE_DIR"] = old


# -- running -----------------------------------------------------------------------------------------


class Zygote:
    """A ``python -m benchmarks.zygote`` process that forks one fresh child per measurement."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.zygote"],
            cwd=REPO,
            env=child_env(None),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if first.strip() != "READY":
            raise RuntimeError(f"benchmark zygote failed to start: {first!r}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(
        self, m: Measure, cache: str | None, timeout: float, cold: bool = False
    ) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        req = {
            "module": m.module,
            "func": m.func,
            "args": m.args,
            "cache": cache,
            "timeout": timeout,
            "cold": cold,
        }
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line.startswith(MARKER):
            return {"status": "error", "reason": f"zygote died ({self.proc.poll()})"}
        result: dict[str, Any] = json.loads(line[len(MARKER) :])
        return result

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def mem_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def prime_memory(nbytes: int) -> float:
    """Touch ``nbytes`` in a short separate process, then let it exit; returns seconds taken.

    This VM gives freed memory back to the host within seconds and a fresh process pays ~2 s per GiB
    to get it again; touching it just before a measured run makes every contender start equal.
    """
    if nbytes <= 0:
        return 0.0
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-S", "-c", f"b = b'\\x01' * {int(nbytes)}; del b"],
        check=True,
    )
    return time.perf_counter() - t0


def warm_page_cache(paths: list[str]) -> None:
    """Read every file (recursively for folders) once so the measured runs see a warm page cache."""
    buf = bytearray(8 * MiB)
    for p in paths:
        path = Path(p)
        files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
        for f in files:
            with open(f, "rb", buffering=0) as fh:
                while fh.readinto(buf):
                    pass


def compile_bytecode() -> str:
    """Compile lazyvol's and the suite's modules to ``.pyc`` before anything is timed.

    An installed package ships its bytecode (pip compiles it); an editable checkout run with
    ``PYTHONDONTWRITEBYTECODE`` set (as on these machines) would otherwise compile every lazyvol
    module from source in every fresh process, ~0.1-0.2 s that nibabel, pydicom and dask (installed,
    compiled) never pay. Returns what was done, for the report.
    """
    import compileall

    import lazyvol

    dirs = [Path(lazyvol.__file__).parent, REPO / "benchmarks"]
    ok = all(compileall.compile_dir(str(d), quiet=1) for d in dirs)
    where = ", ".join(str(d) for d in dirs)
    return f"compiled to .pyc before the runs ({where})" + ("" if ok else " (some files failed)")


def child_env(cache: str | None, cold: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    if cache:
        env["LAZYVOL_CACHE_DIR"] = cache
    env.pop("BENCH_MODE", None)
    if cold:
        env["BENCH_MODE"] = "cold"
    return env


def run_once(m: Measure, ctx: Context, cold: bool = False) -> dict[str, Any]:
    """One measured run of ``m`` in a fresh ``python -m benchmarks.worker`` process (``cold``:
    no warm-up call, imports timed apart), or of its command line for a script measure."""
    fresh: Path | None = None
    cache = m.cache
    if cache == "fresh":
        fresh = ctx.tmpdir("cache-")
        cache = str(fresh)
    prime = (
        min(max(ctx.prime_bytes, m.mem_hint), int(0.6 * mem_available())) if ctx.prime_bytes else 0
    )
    try:
        prime_s = prime_memory(prime)
        t0 = time.perf_counter()
        if m.script:
            record = _run_script(m, ctx, cache)
        else:
            record = _run_process(m, ctx, cache, cold)
        record["wall_s"] = time.perf_counter() - t0
        record["primed_bytes"] = prime
        record["prime_s"] = prime_s
        return record
    finally:
        if fresh is not None:
            shutil.rmtree(fresh, ignore_errors=True)


def _run_script(m: Measure, ctx: Context, cache: str | None) -> dict[str, Any]:
    """Time a whole command line from the parent (start-up, imports, work, exit), as a user's
    ``time python script.py`` does. Peak RSS is the command's own ``VmHWM``, read from ``/proc``
    while it runs: its ``ru_maxrss`` starts from this harness's peak, which Linux carries across
    the fork and the ``execve`` (a bare ``python -c "import lazyvol"`` reported 807 MiB)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        try:
            proc = subprocess.Popen(
                m.cmd, cwd=REPO, env=child_env(cache), stdout=out_f, stderr=err_f
            )
        except OSError as exc:
            return {"status": "n/a", "reason": f"cannot run {m.cmd[0]}: {exc}"}
        deadline = t0 + ctx.timeout
        hwm = 0
        while True:  # os.wait4: this child's own status, not any other child's
            hwm = vm_hwm(proc.pid) or hwm  # before wait4: the process may be gone after it
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                return {"status": "error", "reason": f"timed out after {ctx.timeout:.0f} s"}
            time.sleep(0.001)
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_f.seek(0)
        err_f.seek(0)
        out = out_f.read().decode(errors="replace")
        err = err_f.read().decode(errors="replace")
    if proc.returncode != 0:
        tail = (err or out).strip().splitlines()[-3:]
        return {"status": "error", "reason": f"exit {proc.returncode}: " + " | ".join(tail)}
    return {
        "status": "ok",
        "elapsed": elapsed,
        "peak_anon": None,
        "peak_rss": hwm or usage.ru_maxrss * 1024,
        "child_peak_rss": hwm or usage.ru_maxrss * 1024,
        "base_anon": 0,
        "cold": True,
        "total_s": elapsed,
        "result": {"stdout_lines": len(out.splitlines())},
    }


def _run_process(m: Measure, ctx: Context, cache: str | None, cold: bool = False) -> dict[str, Any]:
    if ctx.fork:
        rec = ctx.zygote().run(m, cache, ctx.timeout, cold)
        rec["process"] = "forked from the zygote"
        return rec
    cmd = [sys.executable, "-m", "benchmarks.worker", m.module, m.func, json.dumps(m.args)]
    started = time.time()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            cwd=REPO,
            env=child_env(cache, cold),
            capture_output=True,
            text=True,
            timeout=ctx.timeout,
        )
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"timed out after {ctx.timeout:.0f} s"}
    total = time.perf_counter() - t0
    record: dict[str, Any] | None = None
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            record = json.loads(line[len(MARKER) :])
    if record is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        record = {
            "status": "error",
            "reason": f"worker exited with {proc.returncode}: " + " | ".join(tail),
        }
    elif record.get("main_at"):
        record["startup_s"] = max(0.0, float(record["main_at"]) - started)
        record["total_s"] = total
    return record


def summarize(m: Measure) -> dict[str, Any]:
    """Median/min/max over the runs of ``m`` plus its identity: one JSON record of the report."""
    out = asdict(m)
    out["key"] = m.key
    if m.skip:
        out["status"] = m.skip_status
        out["reason"] = m.skip
        return out
    out.pop("runs", None)
    out.pop("cold_runs", None)
    out["runs"] = m.runs
    out["cold_runs"] = m.cold_runs
    out["cold"] = _cold_summary(m.runs if m.script else m.cold_runs, script=m.script)
    ok = [r for r in m.runs if r.get("status") == "ok"]
    bad = [r for r in m.runs if r.get("status") != "ok"]
    if not ok:
        first = bad[0] if bad else {"status": "error", "reason": "no runs"}
        out["status"] = first.get("status", "error")
        out["reason"] = first.get("reason", "")
        return out
    times = [r["elapsed"] for r in ok]
    out["status"] = "ok" if not bad else "partial"
    if bad:
        out["reason"] = bad[0].get("reason", "")
    out["median"] = statistics.median(times)
    out["min"] = min(times)
    out["max"] = max(times)
    out["n"] = len(times)
    out["peak_anon"] = max((r["peak_anon"] or 0) for r in ok) or None
    out["peak_anon_median"] = statistics.median((r["peak_anon"] or 0) for r in ok) or None
    out["peak_rss"] = max((r["peak_rss"] or 0) for r in ok) or None
    out["base_anon"] = statistics.median(r["base_anon"] for r in ok)
    out["child_peak_rss"] = max(r.get("child_peak_rss", 0) for r in ok)
    out["mbps"] = m.nbytes / out["median"] / 1e6 if m.nbytes and out["median"] > 0 else None
    out["items_per_s"] = m.items / out["median"] if m.items and out["median"] > 0 else None
    out["result"] = ok[-1].get("result", {})
    return out


def _cold_summary(runs: list[dict[str, Any]], *, script: bool) -> dict[str, Any]:
    """Median/min/max of the cold runs: the first call, and what the process paid before it."""
    ok = [r for r in runs if r.get("status") == "ok"]
    if not ok:
        bad = runs[0] if runs else {}
        return {"status": bad.get("status", "not run"), "reason": bad.get("reason", "")}
    first = [r["elapsed"] for r in ok]
    out: dict[str, Any] = {
        "status": "ok",
        "n": len(ok),
        "script": script,
        "median": statistics.median(first),
        "min": min(first),
        "max": max(first),
    }
    for key in ("import_s", "startup_s", "total_s"):
        vals = [float(r[key]) for r in ok if r.get(key) is not None]
        if vals:
            out[key] = statistics.median(vals)
    anon = [r["peak_anon"] for r in ok if r.get("peak_anon")]
    if anon:
        out["peak_anon"] = max(anon)
    out["result"] = ok[-1].get("result", {})  # checked against lazyvol's like the warm one's
    return out


# -- machine facts -------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def versions() -> dict[str, str]:
    """Versions of Python, lazyvol (and its git commit) and every library a case compares against."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in (
        "lazyvol",
        "numpy",
        "dask",
        "distributed",
        "nibabel",
        "indexed_gzip",
        "pydicom",
        "zarr",
        "numcodecs",
        "SimpleITK",
        "dcm2niix",
        "matplotlib",
        "s3fs",
        "moto",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    try:
        import lazyvol

        out["lazyvol (imported)"] = f"{lazyvol.__version__} from {Path(lazyvol.__file__).parent}"
    except ImportError:
        pass
    try:
        out["lazyvol git"] = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    for tool in ("gzip", "dcm2niix"):
        exe = shutil.which(tool) or (
            str(Path(sys.executable).parent / tool)
            if (Path(sys.executable).parent / tool).exists()
            else None
        )
        if exe:
            try:
                proc = subprocess.run(
                    [exe, "--version"], capture_output=True, text=True, timeout=20
                )
                text = (proc.stdout or proc.stderr).strip().splitlines()
                out[f"{tool} (cli)"] = text[0] if text else exe
            except (OSError, subprocess.TimeoutExpired):
                pass
    return out


def machine() -> dict[str, Any]:
    """CPU, cores, memory, kernel and file system of the data folder."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "mem_total": _mem_total(),
        "mem_available": mem_available(),
        "platform": platform.platform(),
        "gzip_first_pass": gzip_first_pass(),
    }


def gzip_first_pass() -> str:
    """The engine of lazyvol's ``.nii.gz`` first pass in the workers (they inherit this
    process's environment and limits): under a memory limit (``ulimit -v`` / ``-d``) lazyvol
    uses indexed_gzip, not rapidgzip, so the first-pass cases measure another engine."""
    try:
        from lazyvol import gzengine
    except ImportError:
        return "unknown (lazyvol not importable)"
    name, limit = gzengine.engine(), gzengine.memory_limit()
    if limit and name != "rapidgzip" and not os.environ.get("LAZYVOL_GZIP_ENGINE"):
        return f"{name} (a memory limit, {limit}, is set: no rapidgzip under one)"
    return name
