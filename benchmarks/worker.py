"""Run one measurement in this (fresh) process and print its figures as one JSON line.

Usage: ``python -m benchmarks.worker MODULE FUNCTION JSON_ARGS`` (``BENCH_MODE=cold`` in the
environment for a cold run)

``MODULE.FUNCTION(**args)`` is the *preparation*: it imports what the tool needs and returns a
zero-argument callable, the *measured work*. Warm runs make one untimed call on a tiny source
first (lazy imports, thread pools) and time the second. Cold runs (``BENCH_MODE=cold``) make no
warm-up: the preparation (the tool's imports) is timed on its own as ``import_s`` and the work is
the first call in the process; ``main_at`` (wall clock when this module started, before numpy is
imported) lets the parent time the interpreter's start-up. The work is
timed with ``time.perf_counter`` while :class:`benchmarks.memory.PeakSampler` samples ``RssAnon + RssShmem``;
``VmHWM`` is reset to the current RSS just before the work starts and read after it. A work
callable with a ``finish`` attribute gets its result passed through ``finish(result)`` after the
timing (the ``remote`` group adds the bytes its server served). A preparation
that raises ``ImportError`` or ``AttributeError`` (a capability lazyvol or the environment does not
have), or work that raises ``lazyvol.UnsupportedError``, reports ``"status": "n/a"`` instead of failing.
"""

from __future__ import annotations

import time

MAIN_AT = time.time()  # before any other import: the end of the interpreter's start-up

import gc  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from typing import Any  # noqa: E402

from .memory import (  # noqa: E402
    PeakSampler,
    child_peak_rss,
    read_status,
    reset_child_peaks,
    reset_peak_rss,
)

MARKER = "BENCH-RESULT "


def summarize(value: Any) -> dict[str, Any]:
    """A small, JSON-able fingerprint of a tool's result, to check that tools agree."""
    import numpy as np

    if value is None:
        return {}
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if isinstance(v, int | float | str | list)}
    arr = np.asarray(value)
    if arr.ndim == 0:
        return {"value": float(arr)}
    return {"shape": list(arr.shape), "value": float(np.sum(arr, dtype=np.float64))}


def measure(
    module: str, func: str, args: dict[str, Any], *, cold: bool | None = None
) -> dict[str, Any]:
    """Prepare, then time and memory-sample the work; the result record (see module docstring)."""
    if cold is None:
        cold = os.environ.get("BENCH_MODE") == "cold"
    args = dict(args)
    warm_args = args.pop("warmup", None)
    if cold:
        warm_args = None
    t_prep = time.perf_counter()
    try:
        prepare = getattr(importlib.import_module(module), func)
        work = prepare(**args)
    except (ImportError, AttributeError) as exc:
        return {"status": "n/a", "reason": f"{type(exc).__name__}: {exc}"}
    import_s = time.perf_counter() - t_prep
    warmed = False
    if warm_args:
        # One untimed call on a tiny source of the same kind: lazy imports, thread pools.
        try:
            prepare(**warm_args)()
            warmed = True
        except Exception:
            warmed = False
    gc.collect()
    reset_child_peaks()  # (a warm-up call's commands are not the work's)
    hwm_reset = reset_peak_rss()
    base = read_status()
    sampler = PeakSampler().start()
    t0 = time.perf_counter()
    try:
        value = work()
    except Exception as exc:
        if type(exc).__name__ != "UnsupportedError":  # lazyvol.UnsupportedError: not supported yet
            raise
        sampler.stop()
        return {"status": "n/a", "reason": f"{type(exc).__name__}: {exc}"}
    elapsed = time.perf_counter() - t0
    peak_anon = sampler.stop()
    finish = getattr(work, "finish", None)
    if finish is not None:  # untimed: e.g. the bytes a remote server served for the work
        value = finish(value)
    end = read_status()
    # The timed work's external commands' own peak RSS (benchmarks.memory.run_child), not
    # ru_maxrss of RUSAGE_CHILDREN: that carries this process's peak into every child it starts.
    child = child_peak_rss()
    return {
        "status": "ok",
        "elapsed": elapsed,
        "peak_anon": peak_anon,
        "peak_rss": end.get("VmHWM", 0),
        "base_anon": base.get("RssAnon", 0),
        "base_rss": base.get("VmRSS", 0),
        "child_peak_rss": child,
        "hwm_reset": hwm_reset,
        "warmed_up": warmed,
        "cold": bool(cold),
        "import_s": import_s,
        "main_at": MAIN_AT,
        "samples": sampler.samples,
        "result": summarize(value),
    }


def safe_measure(
    module: str, func: str, args: dict[str, Any], *, cold: bool | None = None
) -> dict[str, Any]:
    """:func:`measure`, with any failure turned into an ``"error"`` record carrying its traceback."""
    try:
        return measure(module, func, args, cold=cold)
    except Exception as exc:
        return {
            "status": "error",
            "reason": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc().strip().splitlines()[-8:],
        }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    module, func, args_json = argv
    record = safe_measure(module, func, json.loads(args_json))
    sys.stdout.flush()
    print(MARKER + json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
