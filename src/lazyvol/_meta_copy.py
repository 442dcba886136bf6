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


def copied_meta(value: Any) -> Any:
    """An independent copy of ``value`` (a volume's ``meta`` or a part of it).

    Parameters
    ----------
    value : object
        The metadata: dicts, lists, tuples and plain values, or any object ``copy.deepcopy``
        copies.

    Returns
    -------
    object
        A copy sharing no dict, list or mutable object with ``value``; plain values (and
        tuples of them) are shared, being immutable.
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {key: copied_meta(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        if set(map(type, value)) <= _PLAIN:
            return value.copy() if kind is list else value
        items = [copied_meta(item) for item in value]
        return items if kind is list else tuple(items)
    return copy.deepcopy(value)
