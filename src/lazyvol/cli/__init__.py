"""The ``lazyvol`` command: inspect, summarise and convert image volumes from the shell.

Run ``lazyvol --help`` or ``lazyvol SUBCOMMAND --help``. ``python -m lazyvol`` is the same command.
Errors raised by lazyvol on bad input print one line on stderr and exit with status 2 (the full
traceback with ``--debug``); anything else is a bug and shows its traceback.

One module per command group: :mod:`~lazyvol.cli.info`, :mod:`~lazyvol.cli.stats`,
:mod:`~lazyvol.cli.convert` (``convert`` and ``references``), :mod:`~lazyvol.cli.cache`; the parser in
:mod:`~lazyvol.cli.parser`; shared helpers in ``_common``, ``_scheduler`` (``--scheduler``) and
``_sources`` (``--storage-option``, and keeping credentials out of everything printed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any, TextIO

from ..errors import LazyvolError, _printable
from ._common import EXIT_ERROR, CommandError, _cli_message, one_line
from ._scheduler import _scheduler
from ._sources import OutputError, safe_output, secrets_of, storage_options
from .info import volume_info
from .parser import build_parser, usage_problem

__all__ = ["CommandError", "build_parser", "main", "volume_info"]

_DEFAULTS = (("scheduler", None), ("quiet", False), ("debug", False), ("connect_timeout", None))


def _secrets(args: argparse.Namespace) -> list[str]:
    """Credentials the command line carries (storage options, passwords inside source URLs)."""
    sources = [getattr(args, name, None) for name in ("path", "src", "mask")]
    return secrets_of(storage_options(args), sources)


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Warnings print as ``lazyvol: warning: MESSAGE``, one line each and each text once (Python
    prints the file, line and source line of the code that warned, and repeats a text warned
    from two places)."""
    seen: set[str] = set()

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        # (a file name's undecodable bytes as \xNN, as errors show them: stderr's backslashreplace
        # wrote its lone surrogates as \udcNN, which names no byte)
        text = one_line(" ".join(_cli_message(_printable(str(message))).split()))
        text = text.removeprefix("lazyvol: ")
        if text not in seen:
            seen.add(text)
            print(f"lazyvol: warning: {text}", file=file or sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


class _Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP received: unwinds as Ctrl-C does, so writers remove their temporary files."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _termination_unwinds() -> Iterator[None]:
    """SIGTERM and SIGHUP (``timeout``, batch schedulers at their time limit, ``docker stop``, a
    closed terminal) raise :class:`_Terminated` in the main thread instead of killing the process
    where it stands: a write in progress then removes its temporary file or store, as on Ctrl-C
    (killed outright, it left them, hidden, beside the destination until the next write there).
    A signal the caller set to be ignored (``nohup``) or handled stays so; outside the main
    thread (``main`` called from a thread) nothing is installed."""

    def unwind(signum: int, frame: FrameType | None) -> None:
        raise _Terminated(signum)

    previous: dict[int, Callable[[int, FrameType | None], Any] | int | signal.Handlers | None] = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        try:
            if signal.getsignal(signum) is signal.SIG_DFL:
                previous[signum] = signal.signal(signum, unwind)
        except ValueError:  # not the main thread
            break
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run(args: argparse.Namespace) -> int:
    try:
        with _one_line_warnings(), _scheduler(args.scheduler, args.connect_timeout):
            return int(args.func(args) or 0)
    except (LazyvolError, Warning) as exc:
        # (a Warning raised is one of lazyvol's made an error by `python -W error`: a failure the
        # user asked for, told as one line as an error is; another package's is a traceback)
        if isinstance(exc, Warning) and not str(exc).startswith("lazyvol"):
            raise
        if args.debug:
            traceback.print_exc()
        msg = _cli_message(str(exc).strip() or type(exc).__name__).removeprefix("lazyvol: ")
        msg = "\n".join(one_line(line) for line in msg.split("\n"))
        try:
            print(f"lazyvol: error: {msg}", file=sys.stderr)
        except BrokenPipeError:  # (stderr piped into `head`: the command still failed)
            _discard("stderr")
        return EXIT_ERROR


def _discard(name: str) -> None:
    """Point ``sys.stdout`` or ``sys.stderr`` at the null device: its reader is gone (a closed
    pipe), and nothing more is to be flushed into it."""
    with contextlib.suppress(OSError):
        setattr(sys, name, open(os.devnull, "w"))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lazyvol`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in _DEFAULTS:
        if not hasattr(args, name):
            setattr(args, name, default)
    problem = usage_problem(args)
    if problem is not None:
        print(f"lazyvol: error: {problem} (usage: lazyvol {args.command} --help)", file=sys.stderr)
        return EXIT_ERROR
    try:
        secrets = _secrets(args)
    except LazyvolError as exc:  # an unreadable --storage-options file
        print(f"lazyvol: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    status = 0  # (what the command returned, when its output's reader left before the end)
    try:
        with _termination_unwinds(), safe_output(secrets):
            try:
                status = _run(args)
                sys.stdout.flush()  # (a write error of buffered output surfaces here, not at exit)
                return status
            except (KeyboardInterrupt, BrokenPipeError, OutputError):
                raise
            except Exception:
                if not secrets:
                    raise
                # A bug: show its traceback, but through the redacting stream.
                traceback.print_exc()
                return 1
    except _Terminated as exc:
        name = signal.Signals(exc.signum).name
        print(f"lazyvol: terminated ({name})", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("lazyvol: interrupted", file=sys.stderr)
        return 130
    except OutputError as exc:
        cause = exc.args[0]
        why = getattr(cause, "strerror", None) or str(cause)
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # (nothing more to flush into the failed stream)
        print(f"lazyvol: error: cannot write to standard output: {why}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # Output piped into `head` and friends: not an error of its own; a command that failed
        # still fails (it returned 0 when the pipe closed while its error or report was written).
        _discard("stdout")
        return status
