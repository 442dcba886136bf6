"""Progress of a statistics pass, in the package-wide style.

:func:`compute` uses :class:`lazyvol.progress.DaskProgress` (MiB of the data, ETA from the average
rate), like every other lazyvol command.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask

__all__ = ["compute"]


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
