"""Which dask scheduler runs a lazyvol graph, decided without importing ``dask.distributed``.

:func:`prefer_local_scheduler` makes :func:`local_or_client_get` dask's scheduler while nothing
else is configured (dask's own choice, minus the import of ``distributed`` that dask does to look
for a client). :func:`runs_one_task_at_a_time` and :func:`direct_compute_allowed` read the
configured choice for the readers (chained gzip reads, direct small reads).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from ._readahead import configured_workers

__all__ = [
    "LOCAL_SCHEDULER_ENV",
    "current_client",
    "slot_given_back",
    "direct_compute_allowed",
    "local_or_client_get",
    "prefer_local_scheduler",
    "runs_one_task_at_a_time",
]


#: dask's names of its one-task-at-a-time scheduler.
_SYNC_NAMES = frozenset({"sync", "synchronous", "single-threaded"})


def runs_one_task_at_a_time() -> bool:
    """True when the scheduler configured now runs one task at a time: dask's synchronous
    scheduler, or a local pool with one worker (``num_workers=1``, one usable core, or an
    executor of one worker given as ``pool`` or ``scheduler``).

    A first pass over a gzip stream (see :func:`plan_to_dask`) then reads its blocks
    unchained. Chained, dask's order runs every read before any consumer of a block when tasks run
    one at a time (measured: a 256 MiB ``.nii.gz`` mean held 421 MiB under the synchronous
    scheduler, 152 MiB unchained, 218 MiB chained on two threads). Asked when the array is made
    (a volume's first ``.data``): a scheduler chosen only at ``compute(scheduler=...)`` is not
    seen here.
    """
    if "dask" not in sys.modules:
        return False
    import dask

    sched = dask.config.get("scheduler", None)
    if isinstance(sched, str):
        name = sched.lower()
        if name in _SYNC_NAMES:
            return True
        if name not in ("threads", "threading"):
            return False
    elif sched is None or sched is local_or_client_get:
        if current_client() is not None:
            return False
    else:
        from dask.local import get_sync

        if sched is get_sync:
            return True
        if not hasattr(sched, "_max_workers"):  # another scheduler function: not known
            return False
    pool = dask.config.get("pool", None)
    if pool is not None and not isinstance(getattr(pool, "_max_workers", None), int):
        return False  # a pool of unknown size
    return configured_workers() <= 1  # (a configured executor counts its own workers)


def current_client() -> Any:
    """The current ``dask.distributed`` client (the default client, or the worker's client inside
    a task), or None; never imports ``distributed`` to find out (no client can exist without it)."""
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


#: ``LAZYVOL_LOCAL_SCHEDULER=0`` leaves dask's default scheduler choice alone (see
#: :func:`prefer_local_scheduler`).
LOCAL_SCHEDULER_ENV = "LAZYVOL_LOCAL_SCHEDULER"


def local_or_client_get(dsk: Any, keys: Any, **kwargs: Any) -> Any:
    """dask's default scheduler choice, without importing ``dask.distributed`` to make it.

    A current ``dask.distributed`` client (the default client, or the worker's client inside a
    task) runs the graph when one exists; otherwise dask's threaded scheduler does. That is what
    dask decides when no scheduler is configured, except that dask imports ``distributed`` to
    look for a client (~0.2-0.9 s on the first compute of a process), and no client can exist
    while ``distributed`` has not been imported.
    """
    client = current_client()
    if client is not None:
        import dask.base

        ensure = getattr(dask.base, "_ensure_not_async", None)
        schedule = ensure(client) if ensure is not None else client.get
        return schedule(dsk, keys, **kwargs)
    from dask.threaded import get

    return get(dsk, keys, **kwargs)


def prefer_local_scheduler() -> None:
    """Make :func:`local_or_client_get` dask's configured scheduler while nothing else is.

    Called when lazyvol makes a dask array. Only when no scheduler is configured and
    ``dask.distributed`` is not imported yet (so no client exists): a client made later sets
    dask's ``scheduler`` itself (``Client(set_as_default=True)``, the default) and restores this
    one when closed; ``dask.config.set(scheduler=...)`` and ``compute(scheduler=...)`` win as
    always. ``LAZYVOL_LOCAL_SCHEDULER=0`` turns this off.
    """
    if os.environ.get(LOCAL_SCHEDULER_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return
    if "distributed" in sys.modules:
        return
    import dask

    if dask.config.get("scheduler", None) is None and dask.config.get("get", None) is None:
        dask.config.set(scheduler=local_or_client_get)


def direct_compute_allowed() -> bool:
    """True unless the user chose where dask computations run: a ``scheduler`` in dask's
    configuration (other than lazyvol's :func:`local_or_client_get`) or a current
    ``dask.distributed`` client (whose workers may be the only machines that see the files).
    Neither can exist while dask/distributed are not imported."""
    if "dask" in sys.modules:
        import dask

        if dask.config.get("scheduler", None) not in (None, local_or_client_get):
            return False
    if "distributed" in sys.modules:
        try:
            from distributed import default_client

            default_client()
        except (ImportError, ValueError):
            return True
        return False
    return True


@contextlib.contextmanager
def slot_given_back() -> Iterator[None]:
    """Inside a task of a ``dask.distributed`` worker, give the task's thread slot back to the
    worker while the body waits (``distributed.secede``, then ``rejoin``), as distributed's own
    ``Client.get`` does while a task waits for the results of the tasks it submitted; elsewhere
    nothing.

    A task that waits (for another task's file lock, say) while holding its slot can starve the
    tasks the other one submitted (every slot held by waiters: a cache entry built inside a task
    waited for its lock's timeout).
    """
    state = None
    if "distributed" in sys.modules:
        from distributed.worker import thread_state

        state = thread_state
    if not getattr(state, "key", False):  # (not a worker's task thread)
        yield
        return
    from distributed import rejoin, secede

    try:
        secede()
    except Exception:  # (a thread distributed does not know as a task's: keep it)
        yield
        return
    try:
        yield
    finally:
        rejoin()
