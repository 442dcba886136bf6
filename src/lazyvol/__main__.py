"""``python -m lazyvol``: the ``lazyvol`` command (see :mod:`lazyvol.cli`)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
