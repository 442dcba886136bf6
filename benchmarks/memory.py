"""Peak-memory measurement of the current process from ``/proc/self/status``.

Two figures are kept apart (see ``BENCHMARKING.md``): *anonymous* memory (``RssAnon`` plus
``RssShmem``: heap, numpy buffers, anonymous memory maps, private or shared; what a computation
really costs) and total resident memory (``VmHWM``, the kernel's exact
high-water mark of RSS, which also counts the file pages of a memory map and of shared libraries).

``RssShmem`` is counted because an anonymous *shared* map (Python's default for ``mmap(-1, n)``)
is reported there, not in ``RssAnon``: lazyvol's inflated ``.nii.gz`` blocks lived in such maps
until 2026-12-02 and were invisible to a ``RssAnon``-only figure. Neither has a kernel high-water
mark, so :class:`PeakSampler` reads it every few milliseconds from a small *separate process*
(``/proc/<pid>/status``). It used to be a thread of the measured process, and that thread took
the GIL for every sample: a workload that releases and retakes the GIL often (Python threads
reading many small files, a decompressor calling back into Python) waited for it and was timed
slower, by ~50-70 ms of a 0.25 s DICOM open + mean, while a C++ tool holding the GIL (or one
never releasing it) was not slowed at all. A peak that lasts less than the sampling period can be
missed; ``VmHWM`` cannot miss one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

__all__ = [
    "PeakSampler",
    "child_peak_rss",
    "read_status",
    "reset_child_peaks",
    "reset_peak_rss",
    "run_child",
    "vm_hwm",
]

_FIELDS = ("RssAnon", "RssFile", "RssShmem", "VmRSS", "VmHWM")


def read_status(pid: int | str = "self") -> dict[str, int]:
    """Memory fields of ``/proc/<pid>/status`` in bytes (``RssAnon``, ``VmRSS``, ``VmHWM``, ...)."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            name, _, rest = line.partition(b":")
            key = name.decode()
            if key in _FIELDS:
                out[key] = int(rest.split()[0]) * 1024  # the kernel reports kB
    return out


def reset_peak_rss() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux ``clear_refs`` 5). True if it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def vm_hwm(pid: int) -> int:
    """Peak resident bytes of process ``pid``'s current program (``VmHWM``), 0 if unknown."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


#: Peak RSS of each command :func:`run_child` ran since :func:`reset_child_peaks`.
_CHILD_PEAKS: list[int] = []


def reset_child_peaks() -> None:
    """Forget the commands run so far (the worker calls it just before the timed work)."""
    _CHILD_PEAKS.clear()


def child_peak_rss() -> int:
    """The largest own peak RSS of the commands :func:`run_child` ran since the reset, 0 if none."""
    return max(_CHILD_PEAKS, default=0)


def run_child(cmd: list[str], **popen_kw: Any) -> int:
    """Run an external command to its end, as ``subprocess.run(cmd, check=True)``, and record its
    *own* peak RSS (its ``VmHWM``, read from ``/proc`` while it runs); returns its exit status 0.

    ``ru_maxrss`` of a child (``RUSAGE_CHILDREN``, ``os.wait4``) cannot be used: Linux carries
    the parent's resident high-water mark across the fork (or vfork) and the ``execve``, so a
    2 MiB ``gzip`` started from a 27 MiB worker reported 27 MiB. ``stdin`` is ``/dev/null``
    unless given (a command waiting on it would never end). A command that ends before the
    first look is recorded as 0 (unknown), never as the parent's figure.

    Raises
    ------
    subprocess.CalledProcessError
        When the command exits with a non-zero status.
    """
    popen_kw.setdefault("stdin", subprocess.DEVNULL)
    proc = subprocess.Popen(cmd, **popen_kw)  # returns once the new program is exec'd
    hwm = 0
    while True:  # os.wait4 on this pid: its status only, not any other child's
        hwm = vm_hwm(proc.pid) or hwm  # before wait4: the process is gone after it
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.001)
    proc.returncode = os.waitstatus_to_exitcode(status)
    _CHILD_PEAKS.append(hwm)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return 0


#: The sampling process: samples ``/proc/<pid>/status`` every ``interval`` s until a line arrives
#: on its stdin, then samples once more and prints ``<peak bytes> <samples>``.
_SAMPLER = r"""
import select, sys
path, interval = "/proc/%s/status" % sys.argv[1], float(sys.argv[2])
def anon():
    with open(path, "rb") as f:
        data = f.read()
    total = 0
    for line in data.splitlines():
        if line.startswith((b"RssAnon:", b"RssShmem:")):
            total += int(line.split()[1]) * 1024
    return total
peak, n = anon(), 1
sys.stdout.write("ready\n")
sys.stdout.flush()
fd = sys.stdin.fileno()
while True:
    ready = select.select([fd], [], [], interval)[0]
    try:
        a = anon()
    except OSError:
        break
    n += 1
    peak = max(peak, a)
    if ready:
        break
sys.stdout.write("%d %d\n" % (peak, n))
sys.stdout.flush()
"""


class PeakSampler:
    """Sample ``RssAnon + RssShmem`` of a process from a separate sampling process and keep the
    maximum.

    Parameters
    ----------
    interval : float
        Seconds between samples (default 2 ms).
    pid : int, optional
        Process to sample (default: this one).

    Examples
    --------
    >>> with PeakSampler() as s:
    ...     buf = bytearray(64 * 2**20)
    >>> s.peak_anon >= 64 * 2**20
    True
    """

    def __init__(self, interval: float = 0.002, pid: int | None = None) -> None:
        self.interval = float(interval)
        self.pid = os.getpid() if pid is None else int(pid)
        self.peak_anon = 0
        self.samples = 0
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> PeakSampler:
        """Start the sampling process; returns once it has taken its first sample."""
        self._proc = subprocess.Popen(
            [sys.executable, "-S", "-c", _SAMPLER, str(self.pid), repr(self.interval)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        if self._proc.stdout.readline().strip() != "ready":
            self._proc.kill()
            raise RuntimeError(f"the memory sampler could not read /proc/{self.pid}/status")
        return self

    def stop(self) -> int:
        """Stop sampling (one last sample included) and return the peak anonymous memory in bytes."""
        proc, self._proc = self._proc, None
        if proc is not None:
            out, _ = proc.communicate("stop\n", timeout=30)
            peak, samples = (int(v) for v in out.split())
            self.peak_anon = max(self.peak_anon, peak)
            self.samples += samples
        return self.peak_anon

    def __enter__(self) -> PeakSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
