"""Progress of a statistics pass: a tqdm bar driven by dask's local-scheduler callbacks.

:func:`compute` uses the package-wide style (:class:`lazyvol.progress.DaskProgress`: MiB of the
data, ETA from the average rate); :class:`TqdmCallback` is kept for callers that count tasks.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import dask
from dask.callbacks import Callback

__all__ = ["TqdmCallback", "compute"]


class TqdmCallback(Callback):
    """A dask local-scheduler callback that drives a ``tqdm`` bar (one tick per finished task)."""

    def __init__(self, desc: str = "", *, enabled: bool = True) -> None:
        Callback.__init__(self)
        self.desc = desc
        self.enabled = enabled
        self._bar: Any = None

    def _start_state(self, dsk: Any, state: Any) -> None:
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
        self._bar = tqdm(total=total, desc=self.desc, unit="task", file=sys.stderr, leave=False)

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def _finish(self, dsk: Any, state: Any, errored: bool) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def compute(objs: Sequence[Any], *, progress: bool, desc: str, nbytes: int = 0) -> tuple[Any, ...]:
    """``dask.compute(*objs)``, with lazyvol's progress bar (MiB of ``nbytes``) when asked."""
    from ..progress import DaskProgress

    results: tuple[Any, ...]
    if progress:
        with DaskProgress(f"lazyvol stats ({desc})", nbytes):
            results = dask.compute(*objs)
    else:
        results = dask.compute(*objs)
    return results
