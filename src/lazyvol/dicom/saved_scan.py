"""Where a folder's scan is saved, and the saved grouped result ("report") of an unchanged listing.

Two files per scanned folder or prefix in :func:`lazyvol.config.cache_dir`: the per-file header
index (:mod:`.scan_index`) and the report of the listing it was made from, keyed by
:func:`listing_digest` (every path, size, mtime, inode, ctime and ETag). Reopening an unchanged
folder reads only the report, so this module imports no header parsing or stacking code.

A report names files by their position in the listing its digest vouches for (the listing is
sorted, and the same listing gives the same digest), and leaves out each frame's file identity
(size, mtime, inode, ctime) when it is the listing's own: a 10,000-file folder's report is a
fifth of the size it was with every path and identity written out, and decodes that much faster.
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._io import Location
from .._warn import warn as _warn_user
from ..config import cache_dir
from .listing import Listed
from .model import FrameTable, ScanReport, SeriesInfo
from .scan_versions import INDEX_VERSION, REPORT_FORMAT  # (re-exported; their history is there)

__all__ = [
    "INDEX_VERSION",
    "REPORT_FORMAT",
    "index_path",
    "indexable",
    "listing_digest",
    "load_report",
    "read_json_checked",
    "root_name",
    "save_report",
    "write_json_atomic",
]

#: A frame's identity in a report whose frames all have their listing entry's identity.
_FROM_LISTING = "listing"
#: The frames' paths of a report whose frames are its files, in order.
_SAME_AS_FILES = "files"
#: Per-frame columns of a frame table written once when every frame has the same value (the pixel
#: offset, file size and rescale of a usual series): ``{"same": value, "n": frames}``.
_COLUMNS = ("offsets", "slopes", "inters", "sizes", "lengths", "tiles", "etags")


def root_name(root: str | Location) -> str:
    """What names a scanned folder or prefix in its index: absolute path, or URL identity."""
    if isinstance(root, Location) and root.is_remote:
        return root.identity
    return os.path.abspath(root.url if isinstance(root, Location) else root)


def indexable(root: str | Location) -> bool:
    """False for a URL that carries a credential or signature (nothing about it is saved)."""
    return not (isinstance(root, Location) and root.is_remote and root.url != root.identity)


def index_path(root: str | Location) -> Path:
    """File of the scan index for folder or prefix ``root`` (named by a hash of its absolute path;
    for a prefix, of its identity and redacted storage options)."""
    if isinstance(root, Location) and root.is_remote:
        return cache_dir() / "dicom-scan" / f"{root.key()}.json"
    name = root_name(root)
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()
    return cache_dir() / "dicom-scan" / f"{digest[:32]}.json"


#: First line of a saved scan file: this, then the SHA-256 of the JSON text that follows it.
_CHECKSUM = "sha256:"


def write_json_atomic(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` as ``path`` atomically (:func:`lazyvol._fsutil.atomic_file`: temporary
    sibling, rename; never half-written), its JSON text after a first line holding its SHA-256
    (:func:`read_json_checked`). Not fsynced: both files are caches, and their readers treat a
    document that does not parse, does not match its checksum or lacks a field as absent, so a
    file torn by a power loss or damaged on disk costs one rescan. (Measured on this 2-core VM
    for a 512-file series: both writes took 8-14 ms with the fsyncs; encoding and writing alone
    ~6 ms warm, 8-12 ms in a cold process.) The temporary file is locked while written, so a killed
    save's is swept by the next save in the folder and by ``lazyvol cache clear``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    from .._fsutil import atomic_file, sweep_folder  # (shutil, bz2, lzma: ~2 ms a reopen
    # does not need)

    sweep_folder(str(path.parent))  # what killed saves left (a live save's are kept)
    text = json.dumps(doc, separators=(",", ":"))  # C encoder (dump is pure Python)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    with atomic_file(str(path), text=True, durable=False) as f:
        f.write(f"{_CHECKSUM}{digest}\n{text}")


def read_json_checked(path: Path) -> Any:
    """The document :func:`write_json_atomic` wrote as ``path``, or None: no such file, not
    readable, or not matching its checksum (a bit flipped on disk gave wrong slice positions or
    pixel offsets, read without a word; a warning says so and the caller scans again)."""
    try:
        with open(path, encoding="utf-8", errors="surrogatepass") as f:
            head = f.readline()
            text = f.read()
    except (OSError, ValueError):
        return None
    if not head.startswith(_CHECKSUM):
        return None  # (a file of an older lazyvol: its version is out of date anyway)
    if hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest() != head[7:].strip():
        _warn_user(
            f"lazyvol: the saved DICOM scan {path} does not match its checksum (damaged on "
            "disk?); the folder is scanned again",
            RuntimeWarning,
        )
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def listing_digest(files: Sequence[Listed], **options: Any) -> str:
    """Token of a listing (every path, size, mtime, inode, ctime, ETag) plus the scan options.

    Each column is hashed whole (paths and ETags as text, the numbers as 64-bit integers), with
    the number of files first: the same listing always gives the same token, and any change of
    a path, a number or the order gives another.
    """
    h = hashlib.sha256()
    h.update(json.dumps(options, sort_keys=True, default=str).encode())
    h.update(len(files).to_bytes(8, "little"))
    if files:
        paths, sizes, mtimes, inodes, ctimes, etags = zip(*files, strict=True)
        for text in (paths, etags):
            h.update("\0".join(text).encode("utf-8", "surrogateescape") + b"\1")
        for numbers in (sizes, mtimes, inodes, ctimes):
            h.update(array("q", numbers).tobytes())
    return h.hexdigest()


def load_report(root: str | Location, digest: str, listing: Sequence[Listed]) -> ScanReport | None:
    """The scan result saved for exactly this listing (the one ``digest`` was made from), or None
    (none saved, another listing's, or unreadable: the caller scans)."""
    doc = read_json_checked(index_path(root).with_suffix(".report.json"))
    if (
        not isinstance(doc, dict)
        or doc.get("version") != INDEX_VERSION
        or doc.get("format") != REPORT_FORMAT
        or doc.get("digest") != digest
    ):
        return None
    try:
        infos = [SeriesInfo.from_json(_expanded(d, listing)) for d in doc["series"]]
        paths = _positions([p for p, _ in doc["skipped"]], listing)
        skipped = [(p, str(r)) for p, (_, r) in zip(paths, doc["skipped"], strict=True)]
        unsupported = _positions(doc["unsupported"], listing)
        return ScanReport(infos, skipped, unsupported, _positions(doc["unnamed"], listing))
    except (KeyError, TypeError, ValueError, IndexError):
        return None  # unreadable entry: rescan


def save_report(
    root: str | Location, digest: str, report: ScanReport, listing: Sequence[Listed]
) -> None:
    """Save the grouped scan result of ``listing`` (atomic replace). A cache folder that cannot be
    written is passed over here: the per-file index's save has already warned about it."""
    where = {f[0]: n for n, f in enumerate(listing)}
    doc = {
        "version": INDEX_VERSION,
        "format": REPORT_FORMAT,
        "digest": digest,
        "series": [_compacted(i.to_json(), where, listing) for i in report],
        "skipped": [[where.get(p, p), r] for p, r in report.skipped],
        "unsupported": [where.get(p, p) for p in sorted(report.unsupported)],
        "unnamed": [where.get(p, p) for p in sorted(report.unnamed)],
    }
    try:
        write_json_atomic(index_path(root).with_suffix(".report.json"), doc)
    except OSError:
        pass


def _compacted(doc: dict[str, Any], where: dict[str, int], listing: Sequence[Listed]) -> dict:
    """``SeriesInfo.to_json()`` with listed paths as listing positions, the frames' paths as
    ``"files"`` when they are the volume's files in order (one frame per file), identities
    dropped when every frame's is its listing entry's (a file that changed while it was scanned
    keeps its own), and a column of one value written once."""
    files = doc["files"]
    doc["files"] = [where.get(p, p) for p in files]
    fr = doc.get("frames")
    if fr is None:
        return doc
    paths = fr["paths"]
    if list(paths) == list(files):
        fr["paths"] = _SAME_AS_FILES
    else:
        fr["paths"] = [where.get(p, p) if p else "" for p in paths]
    idents = fr["idents"]
    if (
        len(idents) == len(paths)
        and all(not p or p in where for p in paths)
        and all(
            tuple(ident) == (listing[where[p]][1:5] if p else (0, 0, 0, 0))
            for p, ident in zip(paths, idents, strict=True)
        )
    ):
        fr["idents"] = _FROM_LISTING
    for key in _COLUMNS:
        col = fr.get(key)
        if col and len(col) > 1 and all(type(x) is type(col[0]) and x == col[0] for x in col):
            fr[key] = {"same": col[0], "n": len(col)}
    return doc


def _positions(xs: list[Any], listing: Sequence[Listed]) -> list[str]:
    """Paths from a report's list of listing positions (and paths of files not listed, and ""
    for a filled-in slice); anything else is a damaged report (``TypeError``/``IndexError``)."""
    if all(type(x) is int for x in xs):  # the common case: every file was listed
        if xs and min(xs) < 0:
            raise IndexError(min(xs))
        return [listing[x][0] for x in xs]
    out = []
    for x in xs:
        if type(x) is str:
            out.append(x)
        elif type(x) is int and x >= 0:
            out.append(listing[x][0])
        else:
            raise TypeError(f"not a listing position: {x!r}")
    return out


def _expanded(doc: dict[str, Any], listing: Sequence[Listed]) -> dict[str, Any]:
    """Inverse of :func:`_compacted` for the listing the report was saved from."""
    positions = doc["files"]
    doc["files"] = _positions(positions, listing)
    fr = doc.get("frames")
    if fr is None:
        return doc
    if fr["paths"] == _SAME_AS_FILES:
        fr["paths"] = doc["files"]
    else:
        positions = fr["paths"]
        fr["paths"] = _positions(positions, listing)
    for key in _COLUMNS:
        col = fr.get(key)
        if isinstance(col, dict):
            n = col["n"]
            if set(col) != {"same", "n"} or type(n) is not int or n != len(fr["paths"]):
                raise ValueError(f"damaged column {key!r}")
            fr[key] = [col["same"]] * n
    if fr["idents"] == _FROM_LISTING:
        fr["idents"] = [listing[x][1:5] if type(x) is int else (0, 0, 0, 0) for x in positions]
    n = len(fr["paths"])
    for key in FrameTable.PER_FRAME:
        if not isinstance(fr.get(key, ()), list) or len(fr.get(key, ())) not in (n, 0):
            raise ValueError(f"frame column {key!r} does not have one entry per frame")
    return doc
