"""Peak-memory measurement of the current process from ``/proc/self/status``.

Two figures are kept apart (see ``BENCHMARKING.md``): *anonymous* memory (``RssAnon`` plus
``RssShmem``: heap, numpy buffers, anonymous memory maps, private or shared; what a computation
really costs) and total resident memory (``VmHWM``, the kernel's exact
high-water mark of RSS, which also counts the file pages of a memory map and of shared libraries).

``RssShmem`` is counted because an anonymous *shared* map (Python's default for ``mmap(-1, n)``)
is reported there, not in ``RssAnon``: lazyvol's inflated ``.nii.gz`` blocks lived in such maps
until 2026-12-02 and were invisible to a ``RssAnon``-only figure. Neither has a kernel high-water
mark, so :class:`PeakSampler` reads it from a background thread
every few milliseconds. The thread needs the GIL to run; numpy copies, reductions and file reads
release it, so a sample at least every few ms is the norm, but a peak that lasts less than the
sampling period can be missed. ``VmHWM`` cannot miss a peak.
"""

from __future__ import annotations

import threading
import time

__all__ = ["PeakSampler", "read_status", "reset_peak_rss"]

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


class PeakSampler:
    """Sample ``RssAnon + RssShmem`` of this process in a background thread and keep the maximum.

    Parameters
    ----------
    interval : float
        Seconds between samples (default 2 ms).

    Examples
    --------
    >>> with PeakSampler() as s:
    ...     buf = bytearray(64 * 2**20)
    >>> s.peak_anon >= 64 * 2**20
    True
    """

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = float(interval)
        self.peak_anon = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        status = read_status()
        anon = status.get("RssAnon", 0) + status.get("RssShmem", 0)
        self.samples += 1
        if anon > self.peak_anon:
            self.peak_anon = anon

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def start(self) -> PeakSampler:
        """Take a first sample and start the sampling thread."""
        self._sample()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="peak-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> int:
        """Stop sampling (one last sample included) and return the peak anonymous memory in bytes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._sample()
        return self.peak_anon

    def __enter__(self) -> PeakSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
