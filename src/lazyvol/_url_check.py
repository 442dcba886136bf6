"""URLs urllib cannot parse, refused and shown without their credentials (:mod:`._location`)."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

__all__ = ["REDACTED", "check_url", "page_link", "rough_display"]

#: What a credential is shown as.
REDACTED = "***"


def rough_display(url: str) -> str:
    """A URL urllib cannot parse, for a message: its user/password (each one of a chain:
    ``zip://a::ftp://user:pw@host/b.zip``) and its query shown as ``***``."""
    out = re.sub(r"([a-zA-Z][a-zA-Z0-9+.\-]*://)[^/?#]*@", rf"\1{REDACTED}@", url)
    return re.sub(r"\?.*$", f"?{REDACTED}", out, flags=re.DOTALL)


def check_url(url: str) -> None:
    """Raise :class:`~lazyvol.errors.OptionError` unless ``url``'s host and port parse."""
    try:
        if re.match(r"[a-zA-Z][\w+.\-]*::\w+://", url):  # (fsspec's chain: not a path either)
            raise ValueError("a chain")
        urlsplit(url).port  # noqa: B018 - a port out of range, an unclosed "[" raise
    except ValueError as exc:
        from .errors import OptionError

        why = "; fsspec URL chains (a::b) are not supported" if re.search(r"::\w+:", url) else ""
        raise OptionError(f"{rough_display(url)}: not a valid URL ({exc}){why}") from None


def page_link(name: str, page: str) -> str:
    """A link fsspec's HTTP ``ls`` read on the index page of folder ``page`` (an entry's name),
    resolved for a folder URL with a query (``https://host/data/?token=abc``): fsspec appends a
    relative link to the whole URL (``.../data/?token=abc/scan.nii``, the link inside the
    query), so it is resolved against the page instead, and a link without a query of its own
    is given the page's (its files and subfolders need the token the folder did). A folder URL
    without a query: ``name`` as it is."""
    query = urlsplit(page).query
    if not query:
        return name
    joined = page.rstrip("/") + "/"
    if name.startswith(joined):  # (fsspec's join of a relative link)
        name = urljoin(page, name[len(joined) :])
    parts = urlsplit(name)
    return name if parts.query or parts.fragment else f"{name}?{query}"
