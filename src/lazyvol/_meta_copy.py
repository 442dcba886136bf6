"""A deep copy of a volume's metadata that copies lists of plain values in one call.

``copy.deepcopy`` visits every item of every list: a DICOM volume of 100,000 files carries
their paths in ``meta["files"]``, and each cut (``vol[..., t]``) or ``split_4d`` volume paid
~0.1 s to copy them one by one. Plain values (``str``, ``int``, ``float``, ``bool``, ``None``)
are immutable, so a list holding only them is copied by ``list.copy``; dicts and lists are
copied level by level, anything else by ``copy.deepcopy``. The copy is as independent of the
original as a deep copy: no list or dict is shared.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["copied_meta"]

#: Immutable leaf types that need no copy.
_PLAIN = frozenset({str, int, float, bool, type(None)})


def copied_meta(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """An independent copy of ``value`` (a volume's ``meta`` or a part of it).

    Parameters
    ----------
    value : object
        The metadata: dicts, lists, tuples and plain values, or any object ``copy.deepcopy``
        copies.
    memo : dict, optional
        ``copy.deepcopy``'s memo (id of an original -> its copy), shared by the recursion: an
        object met twice is copied once (the copy keeps the original's aliasing) and a
        container holding itself is copied, not recursed into forever.

    Returns
    -------
    object
        A copy sharing no dict, list or mutable object with ``value``; plain values (and
        tuples of them) are shared, being immutable.
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    memo = {} if memo is None else memo
    done = memo.get(id(value), memo)
    if done is not memo:
        return done
    out: Any
    if kind is dict:
        out = memo[id(value)] = {}
        out.update((key, copied_meta(item, memo)) for key, item in value.items())
        return out
    if kind is list:
        if set(map(type, value)) <= _PLAIN:
            out = memo[id(value)] = value.copy()
            return out
        out = memo[id(value)] = []
        out.extend(copied_meta(item, memo) for item in value)
        return out
    if kind is tuple and set(map(type, value)) <= _PLAIN:
        return value
    return copy.deepcopy(value, memo)  # (tuples of containers too: deepcopy's own rules)
