"""``lazyvol cache``: list or clear lazyvol's cache directory (Zarr copies of volumes opened with
``cache=True``, DICOM scan indexes and gzip seek indexes)."""

from __future__ import annotations

import argparse
import datetime as _dt
import os
from collections import Counter
from typing import Any

from .._units import human_bytes
from ._common import _check_folder, _print_json, _table, short_path


def _when(created: Any) -> str:
    if isinstance(created, int | float) and created > 0:
        return _dt.datetime.fromtimestamp(created).isoformat(timespec="seconds")
    return "-"


def _note(row: dict[str, Any]) -> str:
    """What the key column adds: a temporary file or store (a write under way, or a killed
    one's leftover, which ``cache clear`` removes), or a DICOM folder's saved grouping."""
    if row["leftover"]:
        return " (leftover)"
    return " (grouping)" if row["key"].endswith(".report") else ""


def _check_cache_dir(top: str | None) -> None:
    """Refuse a cache directory that is a file (``--cache-dir``, ``LAZYVOL_CACHE_DIR`` or the
    user cache), which would list as empty and clear nothing."""
    if top is not None:
        _check_folder(top, "--cache-dir")
        return
    from ..config import cache_dir

    env = os.environ.get("LAZYVOL_CACHE_DIR")
    _check_folder(os.fspath(cache_dir()), "LAZYVOL_CACHE_DIR" if env else "the user cache")


def _zarr_dir(top: str) -> str:
    """The Zarr copies' folder of ``--cache-dir top``: its ``zarr`` folder (the layout of
    LAZYVOL_CACHE_DIR), or ``top`` itself when it holds the copies (a folder given to
    ``lazyvol.open(path, cache=top)``, which keeps them there)."""
    from .. import cache

    sub = os.path.join(top, "zarr")
    if not os.path.isdir(sub) and cache.list_entries(cache_dir=top):
        return top
    return sub


def cmd_cache(args: argparse.Namespace) -> int:
    """``lazyvol cache list`` and ``lazyvol cache clear``."""
    from .. import cache
    from .._fsutil import leftover_of

    kinds = set(args.kind or ["all"])
    if "all" in kinds:
        kinds = {"zarr", "scan", "seek"}
    top = args.cache_dir
    _check_cache_dir(top)
    zarr_dir = None if top is None else _zarr_dir(top)
    if args.action == "list":
        rows: list[dict[str, Any]] = []
        if "zarr" in kinds:
            rows += [
                {
                    "kind": "zarr",
                    "key": e.key,
                    "path": os.fspath(e.path),
                    "size_bytes": int(e.size_bytes),
                    "source": e.source,
                    "created": e.created,
                    "leftover": e.leftover,
                }
                for e in cache.list_entries(cache_dir=zarr_dir, leftovers=True)
            ]
        rows += [
            {
                "kind": e.kind,
                "key": e.key,
                "path": e.path,
                "size_bytes": e.size_bytes,
                "source": e.source,
                "created": e.created,
                "leftover": leftover_of(os.path.basename(e.path)) is not None,
            }
            for e in cache.list_index_files(top)
            if e.kind in kinds
        ]
        if args.json:
            _print_json(rows)
            return 0
        if not rows:
            where = top or os.fspath(cache.default_cache_dir().parent)
            missing = "" if os.path.isdir(where) else ": no such folder yet"
            print(f"the cache is empty ({where}{missing})")
            return 0
        _table(
            ["kind", "size", "created", "source", "key"],
            [
                [
                    r["kind"],
                    human_bytes(r["size_bytes"]),
                    _when(r["created"]),
                    short_path(r["source"] or "-", 60),
                    r["key"][:16] + _note(r),
                ]
                for r in rows
            ],
            right={1},
        )
        total = sum(r["size_bytes"] for r in rows)
        per_kind = Counter("leftover" if r["leftover"] else r["kind"] for r in rows)
        print(
            f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'} "
            f"({', '.join(f'{n} {k}' for k, n in sorted(per_kind.items()))}), {human_bytes(total)}"
        )
        return 0
    return _clear(args, kinds, top, zarr_dir)


def _clear(args: argparse.Namespace, kinds: set[str], top: str | None, zarr_dir: str | None) -> int:
    """``lazyvol cache clear``: what was removed, then (as ``rm -r``) an error naming what could
    not be."""
    from .. import cache
    from ..cache_admin import CacheClearError

    older = None if args.older_than is None else _dt.timedelta(days=args.older_than)
    removed: dict[str, int] = {}
    failed: list[tuple[str, OSError]] = []
    for kind in sorted(kinds, key=lambda k: (k != "zarr", k)):
        try:
            if kind == "zarr":
                removed[kind] = cache.clear(cache_dir=zarr_dir, older_than=older)
            else:
                removed[kind] = cache.clear_index_files(top, kind=kind, older_than=older)
        except CacheClearError as exc:
            removed[kind] = exc.removed
            failed += exc.failures
    n = sum(removed.values())
    if args.json:
        _print_json({"removed": n, "by_kind": removed, "not_removed": [p for p, _ in failed]})
    elif not args.quiet:
        detail = ", ".join(f"{v} {k}" for k, v in removed.items())
        print(f"removed {n} cache entr{'y' if n == 1 else 'ies'} ({detail})")
    if failed:
        raise CacheClearError(failed, n, "cache files")
    return 0
