"""Why an enhanced multi-frame file's functional groups cannot be read, named: the sequence
(Shared / PerFrameFunctionalGroupsSequence), its item, and the element in it that is damaged.

A functional group macro is a sequence of one item of datasets; a file whose macro element is
something else (a string, a number: a writer's or anonymiser's damage) used to be skipped as
"unreadable functional groups (AttributeError: 'str' object has no attribute 'get')".
"""

from __future__ import annotations

from typing import Any

#: The fix said with every reason here.
_FIX = "the file's functional groups are damaged: re-export it from the scanner or PACS"

_GROUPS = {
    0x52009229: "SharedFunctionalGroupsSequence (5200,9229)",
    0x52009230: "PerFrameFunctionalGroupsSequence (5200,9230)",
}


def _tag_name(tag: int) -> str:
    from pydicom.datadict import keyword_for_tag

    return f"{keyword_for_tag(tag) or 'element'} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _element_problem(item: Any, tag: int) -> str | None:
    """What is wrong with element ``tag`` of a functional groups item (None: a sequence of
    datasets, or not one the dictionary calls a sequence)."""
    from pydicom.datadict import dictionary_VR
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    try:
        elem = item[tag]
    except Exception as exc:  # (a value that cannot be parsed at all)
        return f"{_tag_name(tag)} cannot be parsed ({type(exc).__name__}: {exc})"
    try:
        want_sq = dictionary_VR(tag) == "SQ"
    except KeyError:  # (private or unknown: not read as a group here)
        return None
    value = elem.value
    if not want_sq or (
        isinstance(value, Sequence | list) and all(isinstance(v, Dataset) for v in value)
    ):
        return None
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return f"{_tag_name(tag)} is not a sequence (VR {elem.VR}, value {shown})"


def not_items(elements: dict[int, Any], items: dict[int, list[Any]]) -> str | None:
    """Why a functional groups sequence holds something other than items of data sets (the
    element written with another VR than SQ, OB say, whose bytes read as numbers), or None.
    ``elements``: the sequences' elements by tag; ``items``: what each holds."""
    from pydicom.dataset import Dataset

    for tag in (0x52009229, 0x52009230):
        held = items.get(tag) or []
        if held and not all(isinstance(item, Dataset) for item in held):
            vr = getattr(elements.get(tag), "VR", None) or "unknown"
            return f"{_GROUPS[tag]} is not a sequence of items (its VR is {vr}, not SQ); {_FIX}"
    return None


def group_problem(shared: Any, per: list[Any]) -> str | None:
    """The first damaged element of the shared item or of a per-frame item, named with its
    sequence and item number (1-based), or None."""
    for where, items in ((0x52009229, [] if shared is None else [shared]), (0x52009230, per)):
        for n, item in enumerate(items, 1):
            for tag in list(item.keys()):
                problem = _element_problem(item, int(tag))
                if problem:
                    return f"{_GROUPS[where]} item {n}: {problem}; {_FIX}"
    return None


def unreadable_item(n: int, count: int, exc: Exception) -> str:
    """Reason for frame ``n`` (0-based) of ``count`` whose per-frame item raised ``exc``."""
    return (
        f"{_GROUPS[0x52009230]} item {n + 1} of {count} (frame {n + 1}) cannot be read "
        f"({type(exc).__name__}: {exc}); {_FIX}"
    )
