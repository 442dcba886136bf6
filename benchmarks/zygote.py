"""Fork server for ``--quick``: fresh processes without paying the imports each time.

``--quick`` only checks that every case still runs (its figures are not measurements), but it runs
some eighty measurements, and a fresh interpreter importing numpy, dask, nibabel and lazyvol costs
about half a second each. The zygote imports them once and forks one child per measurement; the
child is still a new process (own memory accounting: ``RssAnon`` counts the inherited pages, as a
fresh interpreter's would count its own imports) that runs :func:`benchmarks.worker.safe_measure`
and exits. Full runs never use it: they start ``python -m benchmarks.worker`` for every run.

Protocol: one JSON request per line on stdin (``module``, ``func``, ``args``, ``cache``,
``timeout``), one ``MARKER + JSON`` result per line on stdout.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
from typing import Any

from .worker import MARKER, safe_measure

PRELOAD = (
    "numpy",
    "dask.array",
    "nibabel",
    "indexed_gzip",
    "lazyvol",
    "benchmarks.cases.tools",
    "pydicom",
    "zarr",
    "s3fs",  # the remote group (imports aiobotocore, aiohttp; no event loop starts on import)
)


def _child(req: dict[str, Any], wfd: int) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    if req.get("cache"):
        os.environ["LAZYVOL_CACHE_DIR"] = req["cache"]
    record = safe_measure(req["module"], req["func"], req["args"], cold=bool(req.get("cold")))
    data = json.dumps(record).encode()
    view = memoryview(data)
    while view:
        n = os.write(wfd, view)
        view = view[n:]
    os.close(wfd)


def serve_one(req: dict[str, Any]) -> dict[str, Any]:
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(rfd)
            _child(req, wfd)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(wfd)
    deadline = time.monotonic() + float(req.get("timeout", 120))
    chunks: list[bytes] = []
    os.set_blocking(rfd, False)
    status = None
    while True:
        try:
            chunk = os.read(rfd, 1 << 16)
            if chunk:
                chunks.append(chunk)
                continue
            if chunk == b"":
                break
        except BlockingIOError:
            pass
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(rfd)
            return {"status": "error", "reason": f"timed out after {req.get('timeout')} s"}
        time.sleep(0.002)
    os.close(rfd)
    _, status = os.waitpid(pid, 0)
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        return {"status": "error", "reason": f"forked worker died (wait status {status})"}


def main() -> int:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    print("READY", flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        print(MARKER + json.dumps(serve_one(json.loads(line))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
