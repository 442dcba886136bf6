"""The reasons ``lazyvol info`` shows: a refusal's gist for the series table's status column, and
skipped files counted by reason."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ._common import _short

__all__ = ["short_reason", "skip_counts", "skip_reason"]


#: A DICOM tag as messages write it: (0028,0010).
_TAG = re.compile(r"\([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\)")
#: One or more tags after a keyword, as the status column leaves them out: " (0028,0010)/(0028,0011)".
_TAGS = re.compile(r"(?:\s*/?\s*\([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\))+")


def short_reason(error: str, files: Sequence[str]) -> str:
    """The gist of a refusal: without the file name that starts it, up to the first detail."""
    text = error.strip()
    for p in sorted(set(files), key=len, reverse=True):
        if p and text.startswith(p + ": "):
            text = text[len(p) + 2 :]
            break
    else:
        head, sep, rest = text.partition(": ")
        # (a head naming attributes, "Rows/Columns (0028,0010)/(0028,0011)" or "A (..) / B (..)",
        # is the gist itself, not a file name: its slash is no path's)
        if sep and not _TAG.search(head) and (os.sep in head or head.lower().endswith(".dcm")):
            text = rest
    # (a tag or an aside is no end of the gist: "PixelSpacing (0028,0030) = [0, 0.7]: spacings
    # must be ..." showed as "PixelSpacing", "colour images (SamplesPerPixel ...) are not
    # supported yet" as "colour images"; they are left out, and the gist runs on past them)
    text = _without_asides(_TAGS.sub("", text))
    for stop in ("; ", ". "):
        cut = text.find(stop)
        if cut > 0:
            text = text[:cut]
    return _short(text, 60)


def _without_asides(text: str) -> str:
    """``text`` without its parenthesised asides (" (...)", nested ones included)."""
    out: list[str] = []
    depth = 0
    for i, ch in enumerate(text):
        if ch == "(" and (depth or (i > 0 and text[i - 1] == " ")):
            depth += 1
            if depth == 1 and out and out[-1] == " ":
                out.pop()
        elif ch == ")" and depth:
            depth -= 1
        elif not depth:
            out.append(ch)
    return "".join(out)


def skip_reason(reason: str) -> str:
    """A skipped file's reason, for counting (reasons name no file; the path is separate)."""
    return " ".join(str(reason).split())


def skip_counts(skipped: Sequence[Any]) -> Counter[str]:
    """How many skipped files (``(path, reason)`` items) each reason has."""
    return Counter(skip_reason(item[1]) for item in skipped)
