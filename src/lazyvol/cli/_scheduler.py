"""``--scheduler``: run a command's computations on threads, processes or a dask.distributed
scheduler, refusing an address that cannot work before dask's own (slow) retries."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator

from ._common import CommandError, _non_negative_float

#: Seconds to wait for a dask.distributed scheduler (``--connect-timeout``,
#: ``LAZYVOL_CONNECT_TIMEOUT``).
DEFAULT_CONNECT_TIMEOUT = 5.0

#: ``--scheduler`` values that run on this machine (no address, so no ``--connect-timeout``).
LOCAL_SCHEDULERS = ("threads", "threaded", "processes", "synchronous", "sync", "single-threaded")


def _connect_timeout(value: float | None) -> float:
    if value is not None:
        return value
    env = os.environ.get("LAZYVOL_CONNECT_TIMEOUT")
    if env:
        try:
            return _non_negative_float(env) or DEFAULT_CONNECT_TIMEOUT
        except argparse.ArgumentTypeError as exc:
            raise CommandError(f"LAZYVOL_CONNECT_TIMEOUT={env!r}: {exc}") from None
    return DEFAULT_CONNECT_TIMEOUT


def _check_address(spec: str) -> None:
    """Refuse an address that cannot be right before trying to connect (fast, clear message)."""
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(spec if "://" in spec else "tcp://" + spec)
    known = ("tcp", "tls", "ws", "wss", "inproc", "ucx")
    if parts.scheme not in known:
        raise CommandError(
            f"--scheduler {spec}: unknown protocol {parts.scheme!r}; use threads, processes, or "
            f"an address such as tcp://host:8786 ({', '.join(known)})"
        )
    if parts.scheme == "inproc":
        return
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        raise CommandError(f"--scheduler {spec}: the port is not a number in 0..65535") from None
    if not host:
        raise CommandError(f"--scheduler {spec}: no host name in the address")
    if all(c.isdigit() or c == "." for c in host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise CommandError(f"--scheduler {spec}: {host} is not a valid IPv4 address") from None
    if port == 0 or port is None:
        if "://" not in spec and ":" not in spec:  # a bare word: a mistyped scheduler name?
            raise CommandError(
                f"--scheduler {spec}: not a scheduler name ({', '.join(LOCAL_SCHEDULERS)}) and "
                f"not an address: give a dask.distributed scheduler as tcp://{host}:8786"
            )
        raise CommandError(
            f"--scheduler {spec}: give the scheduler's port (e.g. tcp://{host}:8786)"
        )


def _probe(spec: str, secs: float) -> None:
    """Fail fast on a TCP address nobody listens at (refused, unknown host) before dask retries."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(spec if "://" in spec else "tcp://" + spec)
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or not parts.port:
        return
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=secs):
            return
    except socket.gaierror as exc:
        raise CommandError(
            f"--scheduler {spec}: unknown host {parts.hostname} ({exc.strerror or exc})"
        ) from exc
    except ConnectionRefusedError as exc:
        raise CommandError(
            f"--scheduler {spec}: connection refused (no dask scheduler listens at "
            f"{parts.hostname}:{parts.port})"
        ) from exc
    except TimeoutError as exc:
        raise CommandError(
            f"--scheduler {spec}: no answer within {secs:g} s; check the address, or wait longer "
            "with --connect-timeout SECONDS"
        ) from exc
    except OSError as exc:
        raise CommandError(f"--scheduler {spec}: cannot connect ({exc.strerror or exc})") from exc


@contextlib.contextmanager
def _scheduler(spec: str | None, timeout: float | None = None) -> Iterator[None]:
    """Run the command's computations on ``spec``: threads, processes or a distributed address."""
    if spec is None:
        # dask's default for arrays is the threaded scheduler: nothing to set, and commands that
        # never compute (``info`` on one file) do not pay dask's import.
        yield
        return
    import dask

    if spec in LOCAL_SCHEDULERS:
        with dask.config.set(scheduler="threads" if spec == "threaded" else spec):
            yield
        return
    _check_address(spec)
    try:
        from distributed import Client
    except ImportError as exc:
        raise CommandError(
            f"--scheduler {spec}: dask.distributed is not installed (pip install 'lazyvol[distributed]')"
        ) from exc
    secs = _connect_timeout(timeout)
    _probe(spec, secs)
    try:
        with dask.config.set({"distributed.comm.timeouts.connect": f"{secs}s"}):
            client = Client(spec, timeout=f"{secs}s")
    except Exception as exc:  # whatever answered (or did not), it is not a usable scheduler
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CommandError(
            f"--scheduler {spec}: could not connect to a dask scheduler within {secs:g} s ({detail}); check "
            "the address and that the scheduler runs, or wait longer with --connect-timeout"
        ) from exc
    try:
        with client.as_current():
            yield
    finally:
        client.close()
