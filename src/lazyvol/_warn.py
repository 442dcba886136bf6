"""Warnings attributed to the user's line.

A warning lazyvol gives is about the user's call (``lazyvol.open(...)`` on a folder with a
duplicate slice, a cache that cannot be written), wherever inside lazyvol it is noticed: its
``filename`` and ``lineno`` are those of the first frame outside the lazyvol package, as
pandas' ``find_stack_level`` does, so the printed ``my_script.py:12: RuntimeWarning: ...``
points at the user's code, and a filter by module names the user's (``-W
error::RuntimeWarning:__main__`` for a script run directly). In a dask worker thread, where no
user frame is on the stack, it is the first frame outside lazyvol (dask's). So lazyvol's
warnings are told apart by their message, which always begins with ``lazyvol``, and by their
category (:class:`lazyvol.cache.CacheWarning`, ...): ``warnings.filterwarnings("ignore",
message="lazyvol")`` silences them all.
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["warn"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` at the first frame outside lazyvol, the message
    beginning with ``lazyvol`` (``"lazyvol: "`` put before one that does not)."""
    if not message.startswith("lazyvol"):
        message = f"lazyvol: {message}"
    level = 2  # this function's caller
    frame = sys._getframe(1)
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        _PACKAGE
    ):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
