"""Share a serial, GIL-bound job over a list with one forked child process.

``run_halves(fn, items)`` computes ``fn(items)`` as ``fn(first half) + fn(second half)``: a child
forked from this process runs the second half while this process runs the first, and the child's
results come back through a pipe (``marshal``). Reading a few hundred DICOM headers is such a
job: pure Python, so threads do not help, and too short for a process pool, whose start costs
more than it saves (an interpreter per worker, or a pool's pickling and feeder threads).

Forking is done only where it is safe and worth it, and anything going wrong costs time, never a
result: the parent runs the child's half itself when the child fails, is killed, or is late.

- Linux only (macOS system libraries are not fork-safe), at least two usable cores.
- No other Python thread alive (one could hold a lock the child needs, such as the import lock
  or a logging handler's lock). Native threads that only wait (OpenBLAS's pool, which numpy
  starts) are not a hazard for the child, which runs lazyvol's Python code and plain system
  calls; Python 3.12+'s DeprecationWarning about forking a multi-threaded process is silenced
  for this one fork for that reason.
- The expected saving (half the items at ``item_seconds`` each) exceeds twice the expected cost of
  the fork, which grows with the process's resident memory (page tables are copied: ~0.5 ms for
  a small process, ~2 ms per GiB measured on the project's 2-core VM).
- ``LAZYVOL_FORK=0`` turns it off.

The child inherits the parent's open files and exits with ``os._exit`` (no ``atexit`` handlers,
no buffered output flushed twice), closing its end of the pipe first: its answer is complete
before its exit is (tearing down its copy of the address space), which the parent does not wait
for; :func:`reap_children` reaps it once the caller has done other work. ``fn`` must be
deterministic in its items and return a list of values ``marshal`` can carry (lists, dicts,
strings, numbers, ``None``).
"""

from __future__ import annotations

import gc
import marshal
import os
import select
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from .config import usable_cores

__all__ = ["FORK_ENV", "reap_children", "run_halves", "worth_forking"]

T = TypeVar("T")

FORK_ENV = "LAZYVOL_FORK"
#: Fixed cost of one fork, the child's exit and the results' trip through the pipe (seconds).
FORK_BASE_SECONDS = 2e-3
#: Fork cost per GiB of the parent's resident memory (page tables copied, then torn down).
FORK_SECONDS_PER_GIB = 3e-3
#: The child's half is run by the parent when the child has not answered within this many times
#: the parent's own half's time (plus one second): a child stuck on a lock held at fork time.
LATE_FACTOR = 20.0

#: Children whose answer arrived and that are still exiting (see :func:`reap_children`).
_exiting: list[int] = []


def _resident_gib() -> float:
    try:
        with open("/proc/self/statm", "rb") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):  # pragma: no cover - /proc unavailable
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**30


def worth_forking(n: int, item_seconds: float) -> bool:
    """True when running half of ``n`` items (``item_seconds`` each) in a forked child is safe
    here and saves more than twice what the fork is expected to cost."""
    if os.environ.get(FORK_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    if n < 2 or usable_cores() < 2 or threading.active_count() != 1:
        return False
    saving = (n // 2) * item_seconds
    return saving > 2 * (FORK_BASE_SECONDS + FORK_SECONDS_PER_GIB * _resident_gib())


def run_halves(
    fn: Callable[[list[T]], list[Any]], items: list[T], *, item_seconds: float
) -> list[Any]:
    """``fn(items)``, its second half computed in a forked child when :func:`worth_forking`.

    A child that answered may still be exiting when this returns (its copy of the address space
    takes ~2 ms to tear down on the project's 2-core VM, time this process need not wait):
    the caller reaps it with :func:`reap_children` once it has done other work, and the next
    call reaps it at the latest.
    """
    reap_children()
    if not worth_forking(len(items), item_seconds):
        return fn(items)
    half = (len(items) + 1) // 2
    first, second = items[:half], items[half:]
    try:
        r, w = os.pipe()
    except OSError:
        return fn(items)
    # No garbage collection while both processes run: a full collection visits every object of
    # the heap, and each page it touches is then copied (copy-on-write) in that process.
    collecting = gc.isenabled()
    gc.disable()
    got: list[Any] | None = None
    try:
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", "This process .* is multi-threaded", DeprecationWarning
                )
                pid = os.fork()
        except OSError:
            os.close(r)
            os.close(w)
            return fn(items)
        if pid == 0:  # the child: never returns
            _child(fn, second, r, w)
        os.close(w)
        try:
            start = time.monotonic()
            mine = fn(first)
            deadline = time.monotonic() + 1.0 + LATE_FACTOR * (time.monotonic() - start)
            got = _receive(r, deadline, len(second))
        finally:
            os.close(r)
            _reap(pid, kill=got is None)
    finally:
        if collecting:
            gc.enable()
    return mine + (got if got is not None else fn(second))


def _child(fn: Callable[[list[T]], list[Any]], items: list[T], r: int, w: int) -> None:
    code = 1
    try:
        os.close(r)
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # a Ctrl-C ends the child at once
        data = marshal.dumps(fn(items))
        view = memoryview(data)
        while view:
            view = view[os.write(w, view) :]
        os.close(w)  # the parent's end of file now, not once this process is torn down
        code = 0
    except BaseException:
        pass
    finally:
        os._exit(code)


def _receive(r: int, deadline: float, n: int) -> list[Any] | None:
    """The child's results from the read end ``r``, or None (late, cut short, not ``n`` values)."""
    parts: list[bytes] = []
    poller = select.poll()  # (select.select cannot wait on a descriptor numbered over 1023)
    poller.register(r, select.POLLIN | select.POLLHUP)
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            return None
        chunk = os.read(r, 1 << 20)
        if not chunk:
            break
        parts.append(chunk)
    try:
        out = marshal.loads(b"".join(parts))
    except (EOFError, ValueError, TypeError):
        return None
    return out if isinstance(out, list) and len(out) == n else None


def _reap(pid: int, *, kill: bool) -> None:
    """Reap the child: killed and waited for when its answer is not used, else reaped now if it
    has exited and left to :func:`reap_children` if it is still exiting."""
    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        _exited(pid, 0)
    elif not _exited(pid, os.WNOHANG):
        _exiting.append(pid)


def reap_children() -> None:
    """Wait for the children :func:`run_halves` left exiting (no zombie outlives the caller's
    operation; by the time it calls this, they have usually exited). Safe from several threads:
    each child is taken from the list by one of them (``list.pop`` is atomic)."""
    while True:
        try:
            pid = _exiting.pop()
        except IndexError:
            return
        _exited(pid, 0)


def _exited(pid: int, flags: int) -> bool:
    """``waitpid(pid, flags)``: True once the child is reaped (or was, elsewhere)."""
    try:
        return os.waitpid(pid, flags)[0] == pid
    except ChildProcessError:  # reaped elsewhere (a SIGCHLD handler, an os.wait() of the user's)
        return True
