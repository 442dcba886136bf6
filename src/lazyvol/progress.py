"""One progress-bar style for every lazyvol command and long operation.

Bars go to stderr, count real units (``files`` parsed, ``slices`` written, ``MiB`` of image data
processed), and estimate the remaining time from the average rate since the start (``smoothing=0``),
not from the last few updates, so a slow start or a burst of cheap steps does not make the ETA
swing. :func:`bar` is for loops lazyvol drives itself; :class:`DaskProgress` follows a dask
computation on the local schedulers (threads, processes, synchronous) and reports it in MiB of the
data being processed.
"""

from __future__ import annotations

import sys
from typing import Any

from dask.callbacks import Callback

__all__ = ["DaskProgress", "NullBar", "bar"]

_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}]"
_BYTES_FORMAT = (
    "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}B/{total_fmt}B [{elapsed}<{remaining}, {rate_fmt}]"
)


class NullBar:
    """The do-nothing bar returned when progress is off (same methods as a tqdm bar)."""

    n = 0

    def update(self, n: float = 1) -> None:
        """Ignore ``n``."""

    def set_description_str(self, desc: str) -> None:
        """Ignore ``desc``."""

    def close(self) -> None:
        """Nothing to close."""

    def __enter__(self) -> NullBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bar(total: float, *, desc: str, unit: str, enabled: bool = True) -> Any:
    """A progress bar in lazyvol's style (a tqdm bar on stderr, or a :class:`NullBar`).

    Parameters
    ----------
    total : float
        Units of work in all (files, slices, or bytes when ``unit="MiB"``).
    desc : str
        What is being done, e.g. ``"scanning /data/study"``.
    unit : str
        ``"files"``, ``"slices"``, ``"chunks"``, ... counted as is, or ``"MiB"``: ``total`` and
        updates are bytes, shown in KiB/MiB/GiB.
    enabled : bool
        ``False`` returns a :class:`NullBar`.
    """
    if not enabled:
        return NullBar()
    from tqdm.auto import tqdm

    common: dict[str, Any] = {
        "total": total,
        "desc": desc,
        "file": sys.stderr,
        "leave": True,
        "smoothing": 0.0,
        "mininterval": 0.5,
        "dynamic_ncols": True,
    }
    if unit == "MiB":
        return tqdm(
            unit="B", unit_scale=True, unit_divisor=1024, bar_format=_BYTES_FORMAT, **common
        )
    return tqdm(unit=unit, bar_format=_FORMAT, **common)


class DaskProgress(Callback):
    """Follow a dask computation (local schedulers) with a :func:`bar` in MiB of data.

    Parameters
    ----------
    desc : str
        What is being computed.
    nbytes : int
        Bytes of the image data the computation goes through (e.g. ``vol.nbytes``). Progress is
        the share of tasks finished times ``nbytes``: the graph's tasks are per-chunk, so the two
        advance together.
    enabled : bool
        ``False``: no bar.

    Examples
    --------
    >>> import dask.array as da
    >>> with DaskProgress("summing", nbytes=8 * 10**6, enabled=False):
    ...     float(da.ones(10**6, chunks=10**5).sum().compute())
    1000000.0
    """

    def __init__(self, desc: str, nbytes: int, *, enabled: bool = True) -> None:
        super().__init__()
        self.desc = desc
        self.nbytes = max(int(nbytes), 1)
        self.enabled = enabled
        self._bar: Any = None
        self._total = 0
        self._done = 0

    def _start_state(self, dsk: Any, state: Any) -> None:
        if not self.enabled:
            return
        self._total = max(
            1, sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
        )
        self._done = 0
        self._bar = bar(self.nbytes, desc=self.desc, unit="MiB")

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if self._bar is None:
            return
        self._done += 1
        target = self.nbytes * self._done // self._total
        if target > self._bar.n:
            self._bar.update(target - self._bar.n)

    def _finish(self, dsk: Any, state: Any, errored: bool) -> None:
        if self._bar is not None:
            if not errored and self._bar.n < self.nbytes:
                self._bar.update(self.nbytes - self._bar.n)
            self._bar.close()
            self._bar = None
