"""Values derived from a header's raw elements, computed once per distinct input.

The files of a series repeat most of their headers: the same Manufacturer, protocol, sequence
and timing parameters, file after file. Turning those elements into a file's sidecar values
(decoding text in the file's character set, reading numbers, vendor rules) was a third of a
header scan's time on a real GE EPI series, and gives the same values for every file.

:class:`RawMemo` wraps such a function of a header's raw elements (``{tag: element}``, as the
header scan keeps them). Its first call on a header records which elements the function looked
at (``raw.get(tag)``, ``tag in raw``, ``raw[tag]``); a later header whose looked-at elements are
the same, each in its value bytes, VR, byte order, offset and length (absent ones absent too),
gets a copy of the recorded result without a call. A function of its inputs alone takes the
same branches on the same inputs, so it looks at the same elements and returns the same value:
the copy is the call's answer, never an approximation.

Not recorded, so always called: a call that went over all the elements (iteration, ``len``: its
result may depend on any of them); one that looked at an element whose value is not raw bytes
(a value pydicom converted); a result that is not plain data (``marshal`` copies it for each
hit, so no two files share a list). A function that reads a per-image value (an acquisition
time) never hits: after :data:`GIVE_UP` misses in a row it is called without recording for the
next :data:`PAUSE` headers, so such a series pays for a few recordings, not one per file.

The wrapped function must be pure in its argument: no other input, no side effect (no warning
issued, no change to the elements: a change raises ``TypeError``).
"""

from __future__ import annotations

import marshal
import threading
from collections.abc import Callable
from operator import attrgetter
from typing import Any, Generic, TypeVar, cast

__all__ = ["GIVE_UP", "PAUSE", "RawMemo"]

R = TypeVar("R")

#: Misses in a row (no recorded input matched) after which recording pauses.
GIVE_UP = 16
#: Headers called without recording once recording paused; then it is tried again.
PAUSE = 256
#: Most recorded results kept (beyond: all dropped, recording starts over).
LIMIT = 64

#: What of a raw element a function can see: value bytes (None: located, not read), VR, byte
#: order, offset and length (the attributes of lazyvol's raw elements and pydicom's).
_SEEN = attrgetter("value", "VR", "is_little_endian", "value_tell", "length")


def _key(raw: dict[int, Any], tags: tuple[int, ...]) -> tuple[Any, ...]:
    """The looked-at elements ``tags`` of ``raw`` as they can be seen (None: absent). Raises
    ``AttributeError`` for an element that is not a raw one, ``TypeError`` (when hashed) for a
    value that is not bytes."""
    return tuple([None if e is None else _SEEN(e) for e in map(raw.get, tags)])


def _raw_bytes(key: tuple[Any, ...]) -> bool:
    """Are all the looked-at values raw bytes (or not read)?"""
    return all(k is None or k[0] is None or type(k[0]) is bytes for k in key)


class _Reads(dict[int, Any]):
    """A copy of a header's raw elements that records the tags looked up in it (in order) and
    whether it was gone over as a whole (its lookups and whole-dict methods are set below:
    overriding them here would not match ``dict``'s overloaded signatures)."""

    def __init__(self, raw: dict[int, Any]) -> None:
        super().__init__(raw)
        self.tags: dict[Any, None] = {}
        self.whole = False


def _looked_up(name: str) -> Callable[..., Any]:
    method = getattr(dict, name)

    def traced(self: _Reads, key: Any, *args: Any) -> Any:
        self.tags[key] = None
        return method(self, key, *args)

    return traced


def _gone_over(name: str) -> Callable[..., Any]:
    method = getattr(dict, name)

    def traced(self: _Reads, *args: Any) -> Any:
        self.whole = True
        return method(self, *args)

    return traced


def _changed(self: _Reads, *args: Any, **kwargs: Any) -> Any:
    raise TypeError("internal: a memoized function changed a header's elements")


for _name in ("get", "__contains__", "__getitem__"):
    setattr(_Reads, _name, _looked_up(_name))
for _name in (
    "__iter__",
    "__len__",
    "__eq__",
    "__ne__",
    "__or__",
    "keys",
    "values",
    "items",
    "copy",
):
    setattr(_Reads, _name, _gone_over(_name))
_CHANGES = (
    "__setitem__",
    "__delitem__",
    "__ior__",
    "pop",
    "popitem",
    "setdefault",
    "update",
    "clear",
)
for _name in _CHANGES:
    setattr(_Reads, _name, _changed)


class RawMemo(Generic[R]):
    """``fn(raw)`` for a header's raw elements, computed once per distinct looked-at input (see
    the module's docstring). Thread-safe; bounded (:data:`LIMIT` results)."""

    def __init__(self, fn: Callable[[dict[int, Any]], R]) -> None:
        self.fn = fn
        self._lock = threading.Lock()
        #: (looked-at tags, {their fingerprints: marshalled result}), newest first.
        self._tables: tuple[tuple[tuple[int, ...], dict[tuple[Any, ...], bytes]], ...] = ()
        self._misses = 0
        self._paused = 0
        self.hits = 0

    def __call__(self, raw: dict[int, Any]) -> R:
        for tags, table in self._tables:  # (a snapshot: replaced whole, never changed in place)
            try:
                blob = table.get(_key(raw, tags))
            except (AttributeError, TypeError):  # not raw elements: never recorded
                blob = None
            if blob is not None:
                self._misses = 0
                self.hits += 1
                return cast(R, marshal.loads(blob))
        if self._paused > 0:
            self._paused -= 1
            return self.fn(raw)
        reads = _Reads(raw)
        result = self.fn(reads)
        self._record(raw, reads, result)
        return result

    def _record(self, raw: dict[int, Any], reads: _Reads, result: R) -> None:
        self._misses += 1
        if self._misses >= GIVE_UP:
            self._misses, self._paused = 0, PAUSE
        if reads.whole:
            return
        tags = tuple(reads.tags)
        try:
            key = _key(raw, tags)
        except AttributeError:
            return
        if not _raw_bytes(key):
            return
        try:
            blob = marshal.dumps(cast(Any, result))
        except ValueError:  # not plain data
            return
        with self._lock:
            if sum(len(t) for _, t in self._tables) >= LIMIT:
                self._tables = ()
            old = dict(self._tables)
            table = dict(old.pop(tags, {}))
            table[key] = blob
            self._tables = ((tags, table), *old.items())
