"""A cheap answer to "might any installed distribution declare this entry-point group?".

``importlib.metadata.entry_points(group=...)`` imports ``importlib.metadata`` (and ``email``,
``zipfile``, ``csv`` ...) and parses every installed distribution's metadata: about 80 ms of CPU
on the first ``lazyvol.open`` of a process, although almost no environment has a lazyvol plugin.
:func:`group_may_be_declared` looks where ``importlib.metadata`` looks (the standard path finder's
``*.dist-info`` / ``*.egg-info`` directories and ``.egg`` directories on :data:`sys.path`) and
reads only the ``entry_points.txt`` files, searching them for the group's name. It answers
``False`` only when no such file names the group; whenever it cannot be sure (a zip file on the
path, another meta-path finder that reports distributions, an unreadable directory) it answers
``True`` and the caller asks ``importlib.metadata`` as before. The readers found, and their
order, are therefore exactly those of ``importlib.metadata``.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import PathFinder

__all__ = ["group_may_be_declared"]


#: Finders that look for distributions exactly where the standard path finder does (the
#: ``importlib_metadata`` backport adds its own to ``sys.meta_path`` when imported).
_PATH_LIKE = {
    ("importlib_metadata", "MetadataPathFinder"),
    ("importlib.metadata", "MetadataPathFinder"),
}


def _other_distribution_finders() -> bool:
    """True when a meta-path finder other than the standard path finder (or the
    ``importlib_metadata`` backport's, which searches the same ``sys.path`` directories) can
    report distributions (``importlib.metadata`` would ask it too)."""
    for finder in sys.meta_path:
        if getattr(finder, "find_distributions", None) is None:
            continue
        if finder is PathFinder or isinstance(finder, PathFinder):
            continue
        kind = finder if isinstance(finder, type) else type(finder)
        if (kind.__module__, kind.__name__) in _PATH_LIKE:
            continue
        return True
    return False


def _names_group(path: str, needle: bytes) -> bool:
    """True when the ``entry_points.txt`` at ``path`` mentions ``needle`` (absent: False)."""
    try:
        with open(path, "rb") as f:
            return needle in f.read()
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        return False


def _entry_may_declare(entry: str, needle: bytes) -> bool:
    """True unless the ``sys.path`` entry ``entry`` certainly holds no distribution naming the
    group."""
    root = entry or "."
    try:
        children = os.scandir(root)
    except (FileNotFoundError, NotADirectoryError):
        # A missing entry holds nothing; a file (a zip archive, an egg) may hold distributions.
        return os.path.isfile(root)
    except OSError:
        return True
    with children:
        for child in children:
            low = child.name.lower()
            if low.endswith((".dist-info", ".egg-info")) or (
                low == "egg-info" and root.lower().endswith(".egg")
            ):
                if _names_group(os.path.join(child.path, "entry_points.txt"), needle):
                    return True
    return False


def group_may_be_declared(group: str) -> bool:
    """False only when certainly no installed distribution declares the entry-point ``group``.

    Parameters
    ----------
    group : str
        The entry-point group (e.g. ``"lazyvol.readers"``).

    Returns
    -------
    bool
        ``True`` when some distribution's ``entry_points.txt`` names the group, or when this
        cannot be known cheaply (then ``importlib.metadata`` must be asked).
    """
    if _other_distribution_finders():
        return True
    needle = group.encode("utf-8")
    try:
        return any(_entry_may_declare(os.fspath(entry), needle) for entry in list(sys.path))
    except (OSError, TypeError, ValueError):
        return True
