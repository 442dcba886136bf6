"""The two files of an Analyze / NIfTI pair (``x.hdr`` and ``x.img``, both gzipped or neither):
what sits beside a missing one under another case or compression, for the error's message."""

from __future__ import annotations

import os

from ._location import Location, names_version
from ._special_files import link_to_nothing
from .errors import LazyvolError, UnsupportedError

__all__ = ["near_miss", "swap_suffix"]

#: The suffixes of a pair's files, each plain or gzipped.
_KINDS = (".img", ".hdr")


def near_miss(missing: Location) -> str:
    """What the folder of a pair's ``missing`` file holds under its name in another case or
    compression (``x.img.gz`` or ``X.IMG`` for ``x.img``), and how to pair it; "" when nothing
    is there; a link ``missing`` that leads to no file is named so. Remote, no folder is listed
    for a message: the name in the other compression is asked for (one request)."""
    if missing.is_remote:
        return _remote_near_miss(missing)
    if (link := link_to_nothing(missing.url)) is not None:
        return f" ({link})"
    folder, name = os.path.split(missing.url)
    low = name.lower()
    gz = low.endswith(".gz")
    core = low[:-3] if gz else low
    kind = next((k for k in _KINDS if core.endswith(k)), None)
    if kind is None:
        return ""
    stem = core[: -len(kind)]
    try:
        names = sorted(os.listdir(folder or "."))
    except OSError:
        return ""
    other = ".hdr" if kind == ".img" else ".img"
    found = [
        n
        for n in names
        if n.lower() in (stem + kind, stem + kind + ".gz")
        and n != name
        and not _paired(n[: len(stem)], name[: len(stem)], other, names)
    ]
    if not found:
        return ""
    if found[0].lower().endswith(".gz") != gz:
        fix = "compress or decompress one of the two, so that both are gzipped or neither"
    else:
        fix = f"rename it to {name}"
    return (
        f"; {os.path.join(folder, found[0])} is there, but a pair's files are found by the "
        f"other's name ({name}, as nibabel does): {fix}"
    )


def _swapped(suffix: str, old: str, new: str) -> str:
    """The suffix ``new`` for a name ending in ``suffix`` (``old`` in some case), by nibabel's
    rule (``filename_parser.types_filenames``): the type (``.img`` for ``.HDR``) upper case when
    the found one is all upper case, lower case when all lower, else as given; a compression
    suffix kept as found (``.HDR.gz`` -> ``.IMG.gz``, ``.hdr.GZ`` -> ``.img.GZ``), or added in the
    type's case."""
    old_gz, new_gz = old.lower().endswith(".gz"), new.lower().endswith(".gz")
    found = suffix[:-3] if old_gz else suffix
    wanted = new[:-3] if new_gz else new
    if found == found.upper():
        wanted, gz = wanted.upper(), ".GZ"
    elif found == found.lower():
        wanted, gz = wanted.lower(), ".gz"
    else:
        gz = ".gz"
    if new_gz:
        wanted += suffix[-3:] if old_gz else gz
    return wanted


def swap_suffix(loc: Location, old: str, new: str) -> Location:
    """``loc`` with its name's suffix ``old`` (any case) replaced by ``new``, in the case
    nibabel gives the other file of a pair (:func:`_swapped`)."""
    name = loc.name
    stem, suffix = name[: -len(old)], name[-len(old) :]
    repl = _swapped(suffix, old, new)
    if loc.is_remote:
        from urllib.parse import urlsplit, urlunsplit

        if names_version(loc.url):
            raise UnsupportedError(
                f"{loc.display}: names one version of one file of a two-file {old[1:]}/{new[1:]} "
                f"pair; the other file's version cannot be told from it (a version id belongs to "
                "one object): open the pair without a version, or copy that version to a .nii"
            )
        parts = urlsplit(loc.url)
        path = parts.path[: len(parts.path) - len(name)] + stem + repl
        return Location(urlunsplit(parts._replace(path=path)), loc.options)
    return Location(loc.url[: len(loc.url) - len(name)] + stem + repl)


def _paired(own: str, stem: str, other: str, names: list[str]) -> bool:
    """Whether a candidate of stem ``own`` belongs to another image: its stem is not the missing
    file's ``stem`` (it differs in case) and a file of its own stem and the ``other`` kind (any
    case, plain or gzipped) is there, its pair; not a file to rename."""
    if own == stem:
        return False
    return any(
        n[: len(own)] == own and n[len(own) :].lower() in (other, other + ".gz") for n in names
    )


def _remote_near_miss(missing: Location) -> str:
    """The object of ``missing``'s name in the other compression (``x.img.gz`` for ``x.img``, and
    back), if the server has it: how to pair it; "" when not (or when it cannot be asked)."""
    from . import _io

    low = missing.name.lower()
    gz = low.endswith(".gz")
    kind = next((k for k in _KINDS if (low[:-3] if gz else low).endswith(k)), None)
    if kind is None:
        return ""
    try:
        found = (
            swap_suffix(missing, kind + ".gz", kind)
            if gz
            else swap_suffix(missing, kind, kind + ".gz")
        )
        _io.stamp(found)
    except LazyvolError:  # (not there, or not to be asked: nothing to say)
        return ""
    return (
        f"; {found.display} is there, but a pair's files are found by the other's name "
        f"({missing.name}, as nibabel does): compress or decompress one of the two, so that both "
        "are gzipped or neither"
    )
