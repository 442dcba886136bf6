"""The two files of an Analyze / NIfTI pair (``x.hdr`` and ``x.img``, both gzipped or neither):
what sits beside a missing one under another case or compression, for the error's message."""

from __future__ import annotations

import os

from ._location import Location
from ._special_files import link_to_nothing

__all__ = ["near_miss"]

#: The suffixes of a pair's files, each plain or gzipped.
_KINDS = (".img", ".hdr")


def near_miss(missing: Location) -> str:
    """What the folder of a pair's ``missing`` file holds under its name in another case or
    compression (``x.img.gz`` or ``X.IMG`` for ``x.img``), and how to pair it; "" when nothing
    is there (or ``missing`` is remote: no folder is listed for a message); a link ``missing``
    that leads to no file is named so."""
    if missing.is_remote:
        return ""
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
    found = [n for n in names if n.lower() in (stem + kind, stem + kind + ".gz") and n != name]
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
