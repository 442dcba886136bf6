"""Formats: the :class:`~lazyvol.formats.base.Reader` protocol and the registry of readers.

``lazyvol.open`` dispatches through :func:`~lazyvol.formats.registry.pick` (the built-in readers
are in :mod:`lazyvol.readers`); a third-party package adds a format by exposing a reader under the
``lazyvol.readers`` entry-point group::

    # pyproject.toml of the plugin
    [project.entry-points."lazyvol.readers"]
    mgh = "lazyvol_mgh:MGHReader"

See docs/architecture.md.
"""

from __future__ import annotations

from .._location import Location
from .base import Reader, Source
from .registry import ENTRY_POINT_GROUP, get, pick, readers, register, unregister

__all__ = [
    "ENTRY_POINT_GROUP",
    "Location",
    "Reader",
    "Source",
    "get",
    "pick",
    "readers",
    "register",
    "unregister",
]
