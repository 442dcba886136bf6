"""Is a local folder a Zarr store? One answer for the reader registry, ``vol.header`` and
``lazyvol.references``: it holds Zarr metadata (``zarr.json``, ``.zgroup``, ``.zattrs``) at its
top, unless that metadata names no image (no ``lazyvol``, ``ome`` or ``multiscales`` attributes)
and the folder also holds DICOM Part 10 files (at its top or in its folders): a DICOM folder with a tool's stray ``zarr.json``
(dcm2niix converts it), not a store to refuse as neither lazyvol's nor OME-Zarr."""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from typing import Any

from . import _io, _json
from ._location import Location
from .errors import FormatError, LazyvolError

__all__ = ["ZARR_METADATA", "chunk_folder_problem", "files_under", "is_part10", "is_zarr_folder"]

#: The metadata files whose presence at a folder's top makes it a Zarr store (v3, v2 group, v2
#: attributes).
ZARR_METADATA = ("zarr.json", ".zgroup", ".zattrs")
#: Files at the top of such a folder sniffed for DICOM (a store's top holds its metadata and
#: folders; a flat DICOM folder's first files are DICOM, after a README or a few notes): a bound
#: on the reads. Hidden files (a Mac's ``.DS_Store`` and ``._IM0001`` AppleDouble companions,
#: one per file, sorting first) are not sniffed.
_TOP_SNIFFS = 16
#: Folders listed (breadth first) looking for them, and entries read from each listing.
_DIRS_LISTED = 32
_LISTED_ENTRIES = 256
#: Zarr metadata larger than this is taken as a store's (not read to look for image attributes).
_METADATA_READ_LIMIT = 1 << 20


def is_part10(head: bytes) -> bool:
    """A DICOM Part 10 start: the ``DICM`` marker after the preamble and the file meta group
    (0002,xxxx) right after it."""
    return head[128:132] == b"DICM" and head[132:134] == b"\x02\x00"


def is_zarr_folder(folder: str) -> bool:
    """Does the local ``folder`` hold a Zarr store at its top (see the module's docstring)?"""
    if not os.path.isdir(folder) or not any(
        os.path.lexists(p := os.path.join(folder, n)) and not os.path.isdir(p)
        for n in ZARR_METADATA
    ):
        return False
    # (any entry but a folder: a zarr.json that is a FIFO or a device is the Zarr reader's to
    # refuse, naming it, not a reason to scan the store for DICOM files)
    return not _dicom_beside_stray_metadata(folder)


def _dicom_beside_stray_metadata(folder: str) -> bool:
    # (the metadata first: a store naming an image, every real one, is not searched for DICOM)
    if any(_names_an_image(os.path.join(folder, n)) for n in ("zarr.json", ".zattrs")):
        return False
    return _holds_dicom(folder)


def _holds_dicom(folder: str) -> bool:
    """Does ``folder`` hold a DICOM Part 10 file at its top or in its folders (a series per
    subfolder, as dcm2niix reads them)? Breadth first, bounded: at most ``_TOP_SNIFFS`` files
    sniffed, ``_DIRS_LISTED`` folders listed, ``_LISTED_ENTRIES`` entries of each (a store's chunk
    folder may hold millions); hidden entries and Zarr metadata skipped."""
    queue, listed, sniffed = [folder], 0, 0
    while queue and listed < _DIRS_LISTED:
        here = queue.pop(0)
        listed += 1
        try:
            with os.scandir(here) as entries:
                first = sorted(
                    (
                        (e.name, e.is_dir(follow_symlinks=False))
                        for e in itertools.islice(
                            (e for e in entries if not e.name.startswith(".")), _LISTED_ENTRIES
                        )
                    ),
                )
        except OSError:
            continue
        for name, is_dir in first:
            path = os.path.join(here, name)
            if is_dir:
                queue.append(path)
            elif name != "zarr.json" and os.path.isfile(path) and sniffed < _TOP_SNIFFS:
                sniffed += 1
                if _is_dicom_file(path):
                    return True
    return False


def _is_dicom_file(path: str) -> bool:
    loc = Location.of(path)
    try:
        stamp = _io.stamp(loc)
        return is_part10(_io.read(loc, 0, min(stamp.size, 134), expect=stamp))
    except LazyvolError:
        return False


def _names_an_image(path: str) -> bool:
    """Does this Zarr metadata file state an image's attributes (lazyvol's, OME-Zarr's)? An
    unreadable or outsized one is taken to (the Zarr reader then names its problem)."""
    loc = Location.of(path)
    try:
        if not os.path.isfile(path):
            return False
        stamp = _io.stamp(loc)
        if stamp.size > _METADATA_READ_LIMIT:
            return True
        doc = _json.loads(_io.read(loc, 0, stamp.size, expect=stamp))
    except (LazyvolError, ValueError):
        return True
    attrs = doc.get("attributes", doc) if isinstance(doc, dict) else {}
    return isinstance(attrs, dict) and bool({"lazyvol", "ome", "multiscales"} & set(attrs))


#: Files :func:`files_under` lists behind folder links at most (a link to ``/`` in a store).
LINKED_FILES_MAX = 1_000_000


def files_under(folder: str) -> list[str]:
    """Every file under the local store ``folder``, sorted: what keys a cache entry of it and
    tells it changed. A folder that is a symbolic link is walked (a chunk folder moved to another
    disk and linked: every read follows it, and a change under it is a change of the store),
    each folder once (a loop of links is not walked for ever), at most :data:`LINKED_FILES_MAX`
    files behind links. A link that leads to no file (a git-annex / DataLad file not fetched: a
    level of the store not read; a loop of links) is no file: it holds nothing to stamp, and a
    chunk it stands for is refused when read, named.

    Raises
    ------
    FormatError
        More files than that behind the store's folder links (a link to ``/``).
    """
    out: list[str] = []
    seen: set[tuple[int, int]] = set()
    linked = 0
    stack: list[tuple[str, bool]] = [(folder, False)]  # (a folder, whether behind a link)
    while stack:
        dirpath, behind = stack.pop()
        try:
            st = os.stat(dirpath)
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(dirpath) as it:
                entries = list(it)
        except OSError:
            continue
        folders: list[tuple[str, bool]] = []
        files = 0
        for e in entries:
            try:
                is_dir = e.is_dir()  # (follows a link)
            except OSError:
                is_dir = False
            if is_dir:
                folders.append((e.path, behind or e.is_symlink()))
            elif not e.is_symlink() or _leads_somewhere(e):
                out.append(e.path)
                files += 1
        stack.extend(reversed(folders))  # (walked in the listing's order, top down)
        linked += files if behind else 0
        if linked > LINKED_FILES_MAX:
            raise FormatError(
                f"{folder}: its folder links lead to more than {LINKED_FILES_MAX:,} files "
                f"({dirpath}); a store's folder link leads to its own chunks: remove the link"
            )
    return sorted(out)


def _leads_somewhere(entry: os.DirEntry[str]) -> bool:
    try:
        entry.stat()
    except OSError:
        return False
    return True


def chunk_folder_problem(missing: str, found: Mapping[str, Any]) -> str | None:
    """What stands where a folder of the chunk file ``missing`` (a key the manifest lists) should
    be, when an entry of ``found`` (key -> directory entry, as listed) is there instead: a link
    that leads to no folder, a loop of links, a file; None when none is."""
    folder = next((k for k in found if missing.startswith(k + "/")), None)
    if folder is None:
        return None
    entry = found[folder]
    if isinstance(entry, os.DirEntry) and entry.is_symlink():
        return (
            f"{folder}, the folder of chunk file {missing}, is a symbolic link to "
            f"{os.readlink(entry.path)} that leads to no folder (a git-annex / DataLad folder not "
            "fetched, or a loop of links); get it ('datalad get' / 'git annex get') or write the "
            "store again"
        )
    return f"{folder}, the folder of chunk file {missing}, is not a folder; write the store again"
