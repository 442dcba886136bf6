"""Remote sources on the command line: ``--storage-option KEY=VALUE`` and ``--storage-options
FILE.json`` become the ``storage_options=`` of :func:`lazyvol.open`, :func:`lazyvol.scan` and
:func:`lazyvol.references`, and the credentials among them never reach the terminal.

Parsing rules (``lazyvol info --help`` repeats them):

- ``KEY=VALUE``: ``VALUE`` is parsed as JSON when it parses (``anon=true``, ``default_block_size=
  1048576``, ``client_kwargs={"endpoint_url": "http://127.0.0.1:9000"}``), else kept as a string
  (``key=AKIA...``, ``profile=lab``). A dotted key sets a nested option:
  ``client_kwargs.endpoint_url=http://127.0.0.1:9000``.
- ``--storage-options FILE.json``: a JSON object; ``--storage-option`` flags given with it override
  its keys (nested mappings are merged).
- Options are passed only when given, and only for URLs: given for a local path they are refused
  (fsspec would ignore them silently).

Credentials (values whose option name looks like one: key, secret, token, password, an
``Authorization`` header, ...; and a password or signature inside the URL) are replaced by ``***``
in everything the command writes: results, ``--json``, errors, warnings, progress bars and
``--debug`` tracebacks (:func:`safe_output`, which also escapes control characters on stdout, and writes what the
stream's encoding cannot hold, a non-UTF-8 file name's bytes, without failing).

:func:`open_chosen` opens the source of ``stats``, ``convert`` and ``references``: the one volume
of a DICOM folder that can be opened when all others are refused.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import errno
import io
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TextIO, cast

from .. import _json
from .._location import Location, StorageOptions, display_url, is_url, url_secrets
from ._common import CommandError, terminal_text

__all__ = [
    "add_storage_arguments",
    "display_source",
    "is_url",
    "open_chosen",
    "parse_storage_option",
    "safe_output",
    "secrets_of",
    "source_kwargs",
    "storage_options",
]

_REDACTED = "***"


def parse_storage_option(text: str) -> tuple[str, Any]:
    """argparse type of ``--storage-option``: ``KEY=VALUE`` -> ``(KEY, value)``.

    ``VALUE`` is JSON when it parses as JSON, else the string itself. Error messages never repeat
    the value (it may be a secret).
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(
            "expected KEY=VALUE (e.g. anon=true, or client_kwargs.endpoint_url=http://host:9000)"
        )
    if any(not part for part in key.split(".")):
        raise argparse.ArgumentTypeError(f"{key!r} is not a KEY (empty part between dots)")
    try:
        parsed: Any = _json.loads(value)
    except ValueError:
        parsed = value
    return key, parsed


def _set(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = target
    for name in parents:
        child = node.get(name)
        if not isinstance(child, dict):
            child = node[name] = {}
        node = child
    if isinstance(value, dict) and isinstance(node.get(last), dict):
        _merge(node[last], value)
    else:
        node[last] = value


def _merge(target: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = dict(value) if isinstance(value, Mapping) else value


#: storage options are a few keys: a file larger than this is not one
_MAX_OPTIONS_CHARS = 2**20


def _load_file(path: str) -> dict[str, Any]:
    try:
        # (utf-8-sig: a byte order mark, as Windows PowerShell writes, is passed over as
        # json.loads passes it over in bytes; read as text it was "not valid JSON")
        with open(path, encoding="utf-8-sig") as f:
            text = f.read(_MAX_OPTIONS_CHARS + 1)
    except UnicodeDecodeError:
        raise CommandError(f"--storage-options {path}: not UTF-8 text (expected JSON)") from None
    except OSError as exc:
        raise CommandError(
            f"--storage-options {path}: cannot read it ({exc.strerror or exc})"
        ) from None
    if len(text) > _MAX_OPTIONS_CHARS:  # (``/dev/zero`` would be read forever)
        raise CommandError(
            f"--storage-options {path}: larger than {_MAX_OPTIONS_CHARS // 2**20} MiB; expected "
            'a small JSON object such as {"anon": true}'
        )
    try:
        loaded = _json.loads(text)
    except json.JSONDecodeError as exc:
        # the line and column only, never the file's text
        where = f"line {exc.lineno} column {exc.colno}"
        raise CommandError(
            f"--storage-options {path}: not valid JSON ({where}); expected a JSON object such "
            'as {"anon": true}'
        ) from None
    except ValueError as exc:  # nested deeper than the parser recurses
        raise CommandError(f"--storage-options {path}: {exc}") from None
    if not isinstance(loaded, dict):
        raise CommandError(
            f"--storage-options {path}: expected a JSON object (keys and values), found a "
            f"{type(loaded).__name__}"
        )
    return loaded


def storage_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """The storage options the command line gives, or ``None`` when it gives none."""
    path = getattr(args, "storage_options_file", None)
    pairs: Sequence[tuple[str, Any]] = getattr(args, "storage_option", None) or ()
    if path is None and not pairs:
        return None
    out: dict[str, Any] = _load_file(path) if path is not None else {}
    for key, value in pairs:
        _set(out, key, value)
    return out


def source_kwargs(args: argparse.Namespace, source: str) -> dict[str, Any]:
    """``{"storage_options": ...}`` for a URL when options were given; ``{}`` otherwise.

    Raises
    ------
    CommandError
        Options given for a local path.
    """
    options = storage_options(args)
    if options is None:
        return {}
    if not is_url(source):
        raise CommandError(
            f"{source} is a local path; --storage-option/--storage-options are for URLs "
            "(s3://, gs://, https://, ...): drop them"
        )
    return {"storage_options": options}


def display_source(source: str) -> str:
    """A source as output shows it: an absolute local path, or the URL without credentials."""
    return display_url(source) if is_url(source) else os.path.abspath(Location.of(source).url)


def secrets_of(options: Mapping[str, Any] | None, sources: Sequence[str | None] = ()) -> list[str]:
    """Every credential among the options and inside the source URLs, longest first."""
    found = set(StorageOptions(options).secrets()) if options else set()
    for source in sources:
        if source:
            found.update(url_secrets(source))
    return sorted((s for s in found if len(s) >= 3), key=len, reverse=True)


class OutputError(Exception):
    """Writing to standard output failed (a full disk, a closed stream; not a broken pipe, which
    ends the output quietly): ``args[0]`` is the OSError."""


class _CleanStream:
    """A text stream that writes through to ``stream`` with every secret replaced by ``***`` and,
    with ``escape``, the characters a terminal would act on escaped (:func:`terminal_text`)."""

    def __init__(self, stream: TextIO, secrets: Sequence[str], escape: bool) -> None:
        self._stream = stream
        self._secrets = list(secrets)
        self._escape = escape

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        return terminal_text(text) if self._escape else text

    def _through(self, call: Callable[[], Any]) -> None:
        """``call()`` on the stream, a failure other than a broken pipe as :class:`OutputError`
        (a process started with the stream closed, ``>&-``, has none: EBADF)."""
        try:
            if self._stream is None:
                raise OSError(errno.EBADF, "the stream is closed")
            call()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(exc) from exc

    def write(self, text: str) -> int:
        self._through(lambda: self._stream.write(self._clean(text)))
        return len(text)

    def flush(self) -> None:
        if self._stream is not None:
            self._through(self._stream.flush)

    def writelines(self, lines: Sequence[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, ...
        return getattr(self._stream, name)


def _output_errors(exc: UnicodeError) -> tuple[str | bytes, int]:
    """Codec error handler of standard output: a file name's undecodable byte (a lone surrogate
    from ``os.fsdecode``, e.g. a Latin-1 name) is written back as that byte, as the file system
    holds it; any other character the stream's encoding lacks (a DICOM description in Greek on
    an ASCII or Latin-1 stream) as a backslash escape."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    ch = exc.object[exc.start]
    # (a byte alone is no UTF-16 or UTF-32 code unit: their encoders refuse it, so it is escaped)
    if 0xDC80 <= ord(ch) <= 0xDCFF and not codecs.lookup(exc.encoding).name.startswith(
        ("utf-16", "utf-32")
    ):
        return bytes([ord(ch) - 0xDC00]), exc.start + 1
    return ascii(ch)[1:-1], exc.start + 1


_OUTPUT_ERRORS = "lazyvol.output"
#: The error handlers of a stream that fail on some character: replaced while a command runs.
_FAILING_ERRORS = ("strict", "surrogateescape")
codecs.register_error(_OUTPUT_ERRORS, _output_errors)


def _tolerant(stream: TextIO) -> str | None:
    """Make ``stream`` write what its encoding cannot hold (see :func:`_output_errors`) instead
    of raising UnicodeEncodeError mid-output (Python's stdout is strict under a UTF-8 locale
    such as en_US.UTF-8, and a file name need not be UTF-8; under a C/POSIX locale without
    UTF-8 mode it is ASCII with ``surrogateescape``, which writes a file name's bytes but fails
    on any other character beyond ASCII); returns the errors setting to restore, or None when
    left as it was (a handler the user chose, such as ``replace``)."""
    if not isinstance(stream, io.TextIOWrapper) or stream.errors not in _FAILING_ERRORS:
        return None
    errors = stream.errors
    try:
        stream.reconfigure(errors=_OUTPUT_ERRORS)
    except (OSError, ValueError):  # a closed or detached stream: its own write says so later
        return None
    return errors


@contextlib.contextmanager
def safe_output(secrets: Sequence[str]) -> Iterator[None]:
    """Within the block, ``sys.stdout`` and ``sys.stderr`` print ``***`` for every secret, and
    ``sys.stdout`` escapes control characters other than newlines (a file name or a DICOM
    description holding a terminal escape sequence must not act on the terminal; stderr carries
    the progress bars' carriage returns, and its warnings and errors are escaped where printed).

    (A secret split across two ``write`` calls would pass; Python's printing, ``json.dump`` and
    tracebacks write each value in one call.)
    """
    out, err = sys.stdout, sys.stderr
    restore = [(s, _tolerant(s)) for s in (out, err) if s is not None]
    sys.stdout = cast(TextIO, _CleanStream(out, secrets, escape=True))
    if secrets:
        sys.stderr = cast(TextIO, _CleanStream(err, secrets, escape=False))
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err
        for stream, errors in restore:
            if errors is not None and isinstance(stream, io.TextIOWrapper):
                with contextlib.suppress(OSError, ValueError):
                    stream.reconfigure(errors=errors)


def add_storage_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--storage-option`` and ``--storage-options`` to a subcommand's parser."""
    g = parser.add_argument_group("remote sources (s3://, gs://, https://, ...)")
    g.add_argument(
        "--storage-option",
        action="append",
        type=parse_storage_option,
        metavar="KEY=VALUE",
        help="an fsspec storage option for a URL source (repeatable): VALUE is JSON when it "
        "parses, else a string; a dotted KEY sets a nested option, e.g. "
        "client_kwargs.endpoint_url=http://127.0.0.1:9000. Credentials are never printed",
    )
    g.add_argument(
        "--storage-options",
        dest="storage_options_file",
        metavar="FILE.json",
        help="fsspec storage options from a JSON object in a file (--storage-option overrides "
        "its keys)",
    )


#: Refused volumes a picked volume's warning names (the rest are counted; ``info`` lists all).
_REFUSED_SHOWN = 5


def open_chosen(
    path: str, series: str | None, call: Callable[[str | None], Any] | None = None, **kwargs: Any
) -> tuple[Any, bool]:
    """``call(series)`` (default ``lv.open(path, series=series, **kwargs)``) for ``stats``,
    ``convert`` and ``references``, and whether it picked the volume itself: without
    ``--series``, a folder whose volumes are all refused but one (see
    :func:`lazyvol.dicom.choose.only_openable`) gives that one, the refused ones said on stderr
    (``lv.open`` asks for ``series=`` there, as for any folder of several volumes)."""
    import lazyvol as lv

    from ..errors import MultipleSeriesError

    def opened(chosen: str | None) -> Any:
        if call is not None:
            return call(chosen)
        return lv.open(path, series=chosen, **kwargs)

    try:
        return opened(series), False
    except MultipleSeriesError as exc:
        from .._warn import warn
        from ..dicom.choose import only_openable

        pick = only_openable(exc.series) if series is None else None
        if pick is None:
            raise
        rows = {id(i): n for n, i in enumerate(exc.series)}
        others = [i for i in exc.series if i is not pick]
        refused = "; ".join(
            f"#{rows[id(i)]} [{i.id}] number={i.number_text()} {i.description!r}"
            + i.refusal_text(160)
            for i in others[:_REFUSED_SHOWN]
        )
        more = len(others) - _REFUSED_SHOWN
        warn(
            f"{display_source(path)} holds {len(exc.series)} volumes and only #{rows[id(pick)]} "
            f"[{pick.id}] (number={pick.number_text()} {pick.description!r}, shape "
            f"{pick.shape_text()}) can be opened: using it (--series chooses a volume). "
            f"Refused: {refused}"
            + (f" (and {more} more: lazyvol info lists them)" if more > 0 else "")
        )
        return opened(pick.id), True
