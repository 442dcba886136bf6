"""One process-wide manager of open handles: decompressors, opened arrays, anything with a close.

Readers keep objects that are costly to open (a rapidgzip decompressor and its threads, an opened
Zarr array) between the tasks that read through them. :func:`cache` gives a named
:class:`HandleCache`: keyed, bounded (the least recently used entries are closed first),
thread-safe. Every cache lives in one registry, so that

- at interpreter exit every entry is closed, in a fixed order, before the interpreter tears down
  the modules the handles need (a rapidgzip handle still open at exit aborted the process);
- in a process forked from this one the entries are dropped, never used nor closed (their threads
  and descriptors belong to the parent): each cache starts empty in the child (``os.fork`` hook,
  and a pid check on every access for the forks the hook does not see).

An entry is opened at most once per key and process even when several threads ask for it at once
(the others wait for it); an opener that raises leaves nothing behind. Closing happens outside the
registry's lock, so a slow close never blocks other files' reads.

Examples
--------
>>> from lazyvol import handles
>>> files = handles.cache("example", max_entries=2)
>>> f = files.get("/etc/hostname", lambda: open("/etc/hostname", "rb"), close=lambda f: f.close())
>>> files.get("/etc/hostname", lambda: None) is f
True
>>> files.clear(); f.closed
True
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

__all__ = ["HandleCache", "cache", "clear_all"]

T = TypeVar("T")

_REGISTRY_LOCK = threading.Lock()
_CACHES: dict[str, HandleCache] = {}


class _Slot:
    """One key's entry: the object once opened, and the lock its opener holds meanwhile."""

    __slots__ = ("close", "lock", "ready", "value")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ready = False
        self.value: Any = None
        self.close: Callable[[Any], None] | None = None


class HandleCache:
    """Open handles under keys, at most ``max_entries`` of them; see :func:`cache`.

    Parameters
    ----------
    name : str
        What the cache holds (shown in its repr).
    max_entries : int
        Entries kept; opening one more closes the least recently used.
    """

    def __init__(self, name: str, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.name = name
        self.max_entries = int(max_entries)
        self._lock = threading.Lock()
        self._slots: OrderedDict[Hashable, _Slot] = OrderedDict()
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"<HandleCache {self.name!r}: {len(self)} of {self.max_entries} open>"

    def __len__(self) -> int:
        with self._lock:
            self._check_pid()
            return sum(1 for s in self._slots.values() if s.ready)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            self._check_pid()
            slot = self._slots.get(key)
            return slot is not None and slot.ready

    def _check_pid(self) -> None:
        """Forget (never close) entries opened by the parent of a forked process. Lock held."""
        pid = os.getpid()
        if pid != self._pid:
            self._slots = OrderedDict()
            self._pid = pid

    def get(
        self,
        key: Hashable,
        opener: Callable[[], T],
        *,
        close: Callable[[T], None] | None = None,
    ) -> T:
        """The entry under ``key``, opened with ``opener()`` if this process has none yet.

        Parameters
        ----------
        key : hashable
            Names the entry (include everything that identifies the source as opened: path,
            size, mtime ...; never credentials).
        opener : callable
            Makes the entry. Called at most once per key while the entry is kept, outside the
            cache's lock (other keys are served meanwhile); if it raises, nothing is kept and the
            error propagates (a caller waiting for that key then opens it itself).
        close : callable, optional
            Called with the entry when it is evicted, discarded, cleared or at exit. Other
            threads may still hold the entry then: the closer must make that safe (close only
            what is idle and the rest when released, as the gzip handle pools do).

        Returns
        -------
        object
            The entry (the same object for every caller until it is evicted).
        """
        while True:
            with self._lock:
                self._check_pid()
                slot = self._slots.get(key)
                if slot is None:
                    slot = self._slots[key] = _Slot()
                else:
                    self._slots.move_to_end(key)
                if slot.ready:
                    return cast(T, slot.value)
            with slot.lock:
                if slot.ready:
                    return cast(T, slot.value)
                with self._lock:
                    if self._slots.get(key) is not slot:
                        continue  # evicted or cleared while we waited: start over
                try:
                    value = opener()
                except BaseException:
                    with self._lock:
                        if self._slots.get(key) is slot:
                            del self._slots[key]
                    raise
                slot.value, slot.close = value, close
                evicted: list[_Slot] = []
                with self._lock:
                    kept = self._slots.get(key) is slot
                    if kept:
                        slot.ready = True
                        evicted = self._evict_over_limit()
                if not kept:  # cleared while opening: the caller uses it once, nobody keeps it
                    _close(slot)
                    return value
            for old in evicted:
                _close(old)
            return value

    def _evict_over_limit(self) -> list[_Slot]:
        """Drop the least recently used ready entries beyond the limit. Lock held."""
        out: list[_Slot] = []
        ready = [k for k, s in self._slots.items() if s.ready]
        for k in ready[: max(0, len(ready) - self.max_entries)]:
            out.append(self._slots.pop(k))
        return out

    def peek(self, key: Hashable) -> Any:
        """The entry under ``key`` if one is open (no opening, no change of order), else None."""
        with self._lock:
            self._check_pid()
            slot = self._slots.get(key)
            return slot.value if slot is not None and slot.ready else None

    def items(self) -> list[tuple[Hashable, Any]]:
        """``(key, entry)`` of every open entry, least recently used first (a snapshot)."""
        with self._lock:
            self._check_pid()
            return [(k, s.value) for k, s in self._slots.items() if s.ready]

    def discard(self, key: Hashable) -> None:
        """Close and forget the entry under ``key`` (no error if there is none)."""
        with self._lock:
            self._check_pid()
            slot = self._slots.get(key)
            if slot is None or not slot.ready:
                return
            del self._slots[key]
        _close(slot)

    def clear(self) -> None:
        """Close and forget every entry (entries being opened are closed when they are ready)."""
        with self._lock:
            forked = os.getpid() != self._pid
            self._check_pid()
            slots = [] if forked else [s for s in self._slots.values() if s.ready]
            self._slots = OrderedDict()
        for slot in slots:
            _close(slot)

    def _forget(self) -> None:
        """Drop every entry without closing it (in a forked child)."""
        self._slots = OrderedDict()
        self._pid = os.getpid()
        self._lock = threading.Lock()


def _close(slot: _Slot) -> None:
    if slot.close is None:
        return
    try:
        slot.close(slot.value)
    except Exception:  # a handle that fails to close must not stop the others
        pass


def cache(name: str, max_entries: int) -> HandleCache:
    """The process-wide cache called ``name`` (made on first use with ``max_entries``).

    Parameters
    ----------
    name : str
        One name per kind of handle (``"gzip"``, ``"zarr-array"`` ...).
    max_entries : int
        Bound of the cache when this call creates it (later calls keep the first bound).

    Returns
    -------
    HandleCache
    """
    with _REGISTRY_LOCK:
        found = _CACHES.get(name)
        if found is None:
            found = _CACHES[name] = HandleCache(name, max_entries)
        return found


def clear_all() -> None:
    """Close every entry of every cache (also run at interpreter exit)."""
    with _REGISTRY_LOCK:
        caches = list(_CACHES.values())
    for c in caches:
        c.clear()


def _after_fork_in_child() -> None:
    global _REGISTRY_LOCK
    _REGISTRY_LOCK = threading.Lock()
    for c in _CACHES.values():
        c._forget()
    _fresh_dask_pools()


def _fresh_dask_pools() -> None:
    """Forget dask's threaded-scheduler pools in a forked child: they were copied without their
    threads, so the child's first threaded ``compute()`` (a flipped or strided selection, a
    ``.data`` reduction) waited forever on them (a PyTorch DataLoader worker forked after the
    parent computed). dask makes new ones on demand. Only when dask.threaded is loaded."""
    threaded: Any = sys.modules.get("dask.threaded")
    if threaded is None:
        return
    try:
        threaded.default_pool = None
        threaded.pools.clear()
        threaded.pools_lock = threading.Lock()
        threaded.main_thread = threading.current_thread()
    except AttributeError:  # pragma: no cover - another dask layout: its own state stays
        pass


atexit.register(clear_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
