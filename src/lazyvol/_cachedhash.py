"""A hash computed once, for the frozen plan dataclasses dask tasks carry.

dask hashes every argument of every task while it looks for keys in them (``keys_in_tasks``, in
graph optimisation and again in the scheduler). A DICOM plan holds per-frame tuples (paths,
offsets, stamps: thousands of values), so its generated ``__hash__`` walked all of them for every
task: ~15 ms of a 0.1 s mean over a 512-slice series. The cached value is never pickled: string
hashes differ between processes, and a worker must compute its own.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

__all__ = ["CachedHash"]

_SLOT = "_cached_hash"


class CachedHash:
    """Mixin for a frozen dataclass: ``hash(self)`` computed from its fields once, then kept.

    Use it as a base of a ``@dataclass(frozen=True)`` class that also sets
    ``__hash__ = CachedHash.__hash__`` in its body: a frozen, comparable dataclass otherwise gets
    a generated ``__hash__`` that replaces an inherited one.
    """

    def __hash__(self) -> int:
        cached = self.__dict__.get(_SLOT)
        if cached is None:
            cached = hash(tuple(getattr(self, f.name) for f in fields(self)))  # type: ignore[arg-type]
            object.__setattr__(self, _SLOT, cached)
        return cached

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop(_SLOT, None)
        return state
