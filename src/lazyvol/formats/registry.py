"""The table of readers, and the choice of one for a source.

Readers come from three places, all in one table (:data:`READERS`):

1. built-in readers (:data:`BUILTIN`), imported on first use so ``import lazyvol`` stays cheap;
2. installed packages exposing a reader under the ``lazyvol.readers`` entry-point group
   (:data:`ENTRY_POINT_GROUP`), loaded on first use, as xarray loads ``xarray.backends``;
3. :func:`register`, at run time (tests, notebooks).

:func:`pick` asks the readers in order of ``priority`` (lower first; then registration order)
whether they can open a source and returns the first that says yes. A catch-all reader (DICOM,
which also reads files without the ``DICM`` preamble) takes a high priority so that every specific
sniff runs before it.

An entry point may name a reader instance or a reader class (instantiated without arguments).
One that fails to load, is not a :class:`~lazyvol.formats.base.Reader`, or reuses a name already
taken is skipped with a :class:`RuntimeWarning` naming it: a broken plugin must not stop lazyvol
from opening every other format.
"""

from __future__ import annotations

import importlib
import itertools
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._location import Location
from .._warn import warn as _warn_user
from ..errors import FormatError
from .base import Reader
from .plugin_scan import group_may_be_declared

if TYPE_CHECKING:
    import importlib.metadata

    from ..volume import Volume

__all__ = [
    "BUILTIN",
    "DEFAULT_PRIORITY",
    "ENTRY_POINT_GROUP",
    "READERS",
    "Registration",
    "get",
    "pick",
    "readers",
    "register",
    "unregister",
]

#: The entry-point group third-party readers are published under.
ENTRY_POINT_GROUP = "lazyvol.readers"
#: Priority of a reader that declares none (a ``priority`` attribute on the reader sets it).
DEFAULT_PRIORITY = 50
#: Built-in readers: ``(module, attribute)`` of each, imported on first use.
BUILTIN: tuple[tuple[str, str], ...] = (
    ("lazyvol.readers", "ZarrReader"),
    ("lazyvol.readers", "NiftiReader"),
    ("lazyvol.readers", "DicomReader"),
)
_BUILTIN_DEFAULT = BUILTIN


@dataclass(frozen=True)
class Registration:
    """A reader in the table: where it came from and where it sits in the order."""

    reader: Reader
    priority: int
    order: int  # registration order, the tie-breaker
    origin: str  # "builtin", "entry point NAME = VALUE (DIST)" or "register()"


#: name -> registration. Use :func:`readers` / :func:`get` to read it (they load plugins first).
READERS: dict[str, Registration] = {}

_lock = threading.RLock()
_counter = itertools.count()
_loaded = False


def _as_reader(obj: object, origin: str) -> Reader:
    """``obj`` (a reader, or a reader class to instantiate) checked against the protocol."""
    if isinstance(obj, type):
        obj = obj()
    if not isinstance(obj, Reader):
        missing = [
            attr
            for attr in ("name", "can_open", "open", "source_files", "describe")
            if not hasattr(obj, attr)
        ]
        raise TypeError(
            f"{origin}: {obj!r} is not a lazyvol reader (missing {', '.join(missing)}); see "
            "lazyvol.formats.base.Reader"
        )
    if not isinstance(obj.name, str) or not obj.name:
        raise TypeError(f"{origin}: a reader's name must be a non-empty str, got {obj.name!r}")
    return obj


def _priority(reader: Reader, priority: int | None) -> int:
    if priority is not None:
        return int(priority)
    declared = getattr(reader, "priority", DEFAULT_PRIORITY)
    return int(declared) if isinstance(declared, int) else DEFAULT_PRIORITY


def _add(reader: Reader, priority: int | None, origin: str, *, replace: bool) -> None:
    with _lock:
        if reader.name in READERS and not replace:
            raise ValueError(
                f"a reader named {reader.name!r} is already registered "
                f"({READERS[reader.name].origin}); pass replace=True to replace it"
            )
        READERS[reader.name] = Registration(
            reader, _priority(reader, priority), next(_counter), origin
        )


def register(
    reader: Reader | type[Reader], *, priority: int | None = None, replace: bool = False
) -> Reader:
    """Add a reader (or a reader class, instantiated without arguments) to the table.

    Parameters
    ----------
    reader : Reader or type
        An object with the :class:`~lazyvol.formats.base.Reader` attributes and methods.
    priority : int, optional
        Lower is asked first by :func:`pick`. Default: the reader's ``priority`` attribute, else
        :data:`DEFAULT_PRIORITY`.
    replace : bool
        Replace a reader registered under the same name (otherwise :class:`ValueError`).

    Returns
    -------
    Reader
        The registered reader (the instance, when a class was given).
    """
    _ensure_loaded()
    instance = _as_reader(reader, "register()")
    _add(instance, priority, "register()", replace=replace)
    return instance


def unregister(name: str) -> Reader:
    """Remove the reader named ``name`` from the table and return it (``KeyError`` if absent)."""
    _ensure_loaded()
    with _lock:
        try:
            return READERS.pop(name).reader
        except KeyError:
            raise KeyError(f"no reader named {name!r} (known: {', '.join(READERS)})") from None


def readers() -> list[Reader]:
    """Every reader, in the order :func:`pick` asks them."""
    _ensure_loaded()
    with _lock:
        regs = sorted(READERS.values(), key=lambda r: (r.priority, r.order))
    return [r.reader for r in regs]


def get(name: str) -> Reader:
    """The reader named ``name`` (``KeyError`` naming the known readers if there is none)."""
    _ensure_loaded()
    with _lock:
        reg = READERS.get(name)
        if reg is None:
            raise KeyError(f"no reader named {name!r} (known: {', '.join(READERS) or 'none'})")
        return reg.reader


class StrSourceReader:
    """A reader written for plain-string sources (before readers received a
    :class:`~lazyvol._location.Location`), used for local paths: every method gets the path as a
    ``str``. :func:`pick` wraps such a reader with a :class:`DeprecationWarning`."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.name = reader.name
        self._inner: Any = reader  # typed for Location sources; this one takes str

    @staticmethod
    def _path(source: Any) -> str:
        return source.url if isinstance(source, Location) else os.fspath(source)

    def can_open(self, source: Location) -> bool:
        return bool(self._inner.can_open(self._path(source)))

    def open(self, source: Location, **options: Any) -> Volume:
        vol: Volume = self._inner.open(self._path(source), **options)
        return vol

    def source_files(self, source: Location, **options: Any) -> list[str]:
        files: list[str] = self._inner.source_files(self._path(source), **options)
        return files

    def describe(self, source: Location) -> dict[str, Any]:
        out: dict[str, Any] = self._inner.describe(self._path(source))
        return out


def _legacy(reader: Reader, loc: Location, exc: Exception) -> Reader | None:
    """``reader`` wrapped for plain-string sources when it accepts ``loc`` as a path, else None
    (it is then skipped with a :class:`RuntimeWarning`)."""
    if not loc.is_remote and isinstance(exc, AttributeError | TypeError):
        try:
            inner: Any = reader
            ok = bool(inner.can_open(loc.url))
        except Exception:
            ok = False
        else:
            if ok:
                _warn_user(
                    f"lazyvol: reader {reader.name!r} takes plain-string sources; readers now "
                    "receive a lazyvol Location (see lazyvol.formats.base): it is used for local "
                    "paths through an adapter",
                    DeprecationWarning,
                )
                return StrSourceReader(reader)
            return None
    _warn_user(
        f"lazyvol: reader {reader.name!r} failed in can_open({loc}) and is skipped "
        f"({type(exc).__name__}: {exc}); readers receive a lazyvol Location (see "
        "lazyvol.formats.base)",
        RuntimeWarning,
    )
    return None


def pick(source: Location | str | os.PathLike[str]) -> Reader:
    """The first reader (by priority) whose :meth:`~lazyvol.formats.base.Reader.can_open` accepts
    ``source`` (a path or URL is made a :class:`~lazyvol._location.Location` first).

    A reader whose ``can_open`` raises is passed over with a :class:`RuntimeWarning` naming it,
    except one written for plain-string sources (it calls ``source.endswith`` and the like): for
    a local path it is asked again with the path and, if it accepts it, returned wrapped in
    ``StrSourceReader`` (with a :class:`DeprecationWarning`).

    Raises
    ------
    FormatError
        No reader recognises the source; the message lists the readers asked.
    """
    loc = Location.of(source)
    tried = readers()
    for reader in tried:
        try:
            ok = reader.can_open(loc)
        except Exception as exc:  # a broken plugin must not stop every other format
            legacy = _legacy(reader, loc, exc)
            if legacy is not None:
                return legacy
            continue
        if ok:
            return reader
    names = ", ".join(r.name for r in tried) or "none registered"
    raise FormatError(
        f"{loc}: no reader recognises this source (asked: {names}). Readers for other formats "
        f"are installed as packages providing the {ENTRY_POINT_GROUP!r} entry-point group"
    )


# -- loading ------------------------------------------------------------------------------------


def _ensure_loaded() -> None:
    """Load built-in readers and entry points, once (thread-safe)."""
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        _loaded = True  # before loading: a plugin calling register() must not recurse
        for module, attr in BUILTIN:
            origin = "builtin"
            reader = _as_reader(getattr(importlib.import_module(module), attr), origin)
            _add(reader, None, origin, replace=False)
        for ep in sorted(_entry_points(), key=lambda e: (e.name, e.value)):
            _load_entry_point(ep)


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    """The installed entry points of the group: ``importlib.metadata``'s answer, asked only when
    some distribution may declare the group (a cheap scan of ``entry_points.txt`` files, see
    :mod:`lazyvol.formats.plugin_scan`; importing and asking ``importlib.metadata`` costs ~80 ms
    of CPU in a fresh process)."""
    if not group_may_be_declared(ENTRY_POINT_GROUP):
        return []
    import importlib.metadata

    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def _load_entry_point(ep: importlib.metadata.EntryPoint) -> None:
    dist = getattr(ep, "dist", None)
    dist_name = f" ({dist.name} {dist.version})" if dist is not None else ""
    origin = f"entry point {ep.name} = {ep.value}{dist_name}"
    try:
        reader = _as_reader(ep.load(), origin)
    except Exception as exc:  # a broken plugin is reported, never fatal
        _warn_user(
            f"lazyvol: skipping reader {origin}: {type(exc).__name__}: {exc}",
            RuntimeWarning,
        )
        return
    if reader.name in READERS:
        _warn_user(
            f"lazyvol: skipping reader {origin}: the name {reader.name!r} is already taken by "
            f"{READERS[reader.name].origin}",
            RuntimeWarning,
        )
        return
    _add(reader, None, origin, replace=False)


def _reset() -> None:
    """Forget every reader and reload on next use (tests)."""
    global _loaded
    with _lock:
        READERS.clear()
        _loaded = False


def _snapshot() -> tuple[dict[str, Registration], bool]:
    """The table and loaded flag, for tests that restore them (see :func:`_restore`)."""
    with _lock:
        return dict(READERS), _loaded


def _restore(state: tuple[dict[str, Registration], bool]) -> None:
    global _loaded
    with _lock:
        READERS.clear()
        READERS.update(state[0])
        _loaded = state[1]
