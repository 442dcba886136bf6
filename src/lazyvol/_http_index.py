"""The index pages of a web folder (an HTTP(S) "directory listing"), read bounded.

fsspec's HTTP ``ls`` reads a page whole (``await r.text()``) and finds its links with two
regular expressions: a 100 MB page (a server streaming an endless page, a hostile or broken
index generator) held about 0.5 GB to 1 GB in the process before a single link was judged. Here
the page is one GET through :func:`lazyvol._http_range.whole` (retried as every GET of the byte
layer; a body encoded on the fly decoded), of which no more than
:func:`max_index_page_bytes` are read: past that, a
:class:`~lazyvol.errors.ResourceLimitError` names the URL and the limit. The links are then
found exactly as fsspec's ``ls`` finds them (its own expressions, its rules for relative, absolute
and ``http`` links), so the listing is fsspec's for every page within the limit.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from ._http_range import whole
from ._io_remote import translate
from ._location import Location
from ._url_check import page_link
from .errors import RemoteAccessError, ResourceLimitError, SourceNotFoundError

__all__ = [
    "DEFAULT_MAX_INDEX_PAGE_BYTES",
    "index_links",
    "max_index_page_bytes",
    "page_entries",
    "too_many_links",
]

#: Most bytes of one index page read (an nginx or Apache listing of 100,000 files is 10-40 MB).
DEFAULT_MAX_INDEX_PAGE_BYTES = 64 * 2**20
_ENV = "LAZYVOL_MAX_INDEX_PAGE_BYTES"


def max_index_page_bytes() -> int:
    """The most bytes of a web folder's index page read: ``LAZYVOL_MAX_INDEX_PAGE_BYTES``
    (a size: ``"128MiB"``, ``2e8``), default :data:`DEFAULT_MAX_INDEX_PAGE_BYTES`."""
    env = os.environ.get(_ENV)
    if not env:
        return DEFAULT_MAX_INDEX_PAGE_BYTES
    from .config import setting_bytes

    return setting_bytes(env, _ENV)


def index_links(fs: Any, loc: Location, url: str) -> list[dict[str, Any]]:
    """``fs.ls(url, detail=True)`` of fsspec's HTTP filesystem ``fs`` (the entries of folder
    ``url``: ``name``, ``size`` None, ``type``), the page read bounded
    (:func:`max_index_page_bytes`); ``loc`` gives the storage options.

    Raises
    ------
    FileNotFoundError
        The server does not serve the page (404).
    ResourceLimitError
        The page is longer than the limit.
    Exception
        Another failure of the request, as the client raised it (for the caller to type).
    """
    from fsspec.asyn import sync

    limit = max_index_page_bytes()

    async def go() -> set[str]:
        session = await fs.set_session()
        found = await _links(fs, session, Location(url, loc.options), limit)
        if not found and url.endswith("/"):  # (as fsspec's ls: the URL without its "/")
            found = await _links(fs, session, Location(url.rstrip("/"), loc.options), limit)
        return found

    names: set[str] = sync(fs.loop, go)
    return [
        {"name": u, "size": None, "type": "directory" if u.endswith("/") else "file"}
        for u in sorted(names)
    ]


async def _links(fs: Any, session: Any, page: Location, limit: int) -> set[str]:
    """The links of the page at ``page`` that fsspec's ``_ls_real`` would list."""
    headers: dict[str, str] = {}

    def keep(got: Mapping[str, str], _body: bytes) -> None:
        headers["Content-Type"] = str(got.get("Content-Type", ""))

    body = await whole(
        fs,
        session,
        page,
        limit,
        "its index page (a folder listing)",
        f"set {_ENV} higher if the folder really lists that much, or open its files' URLs",
        check=keep,
    )
    kind = headers["Content-Type"]
    mimetype, _, params = kind.partition(";")
    if kind and mimetype.strip().lower() != "text/html":
        return set()  # (fsspec: a page of another type lists nothing)
    text = body.decode(_charset(params), errors="ignore")
    return _resolve(fs, page.url, text)


def _charset(params: str) -> str:
    """The charset a Content-Type's parameters name, when Python knows it; else UTF-8."""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            try:
                return codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                break
    return "utf-8"


def _resolve(fs: Any, url: str, text: str) -> set[str]:
    """fsspec's ``_ls_real``: the links of page ``url`` (``text``) that lie under it."""
    from fsspec.implementations.http import ex, ex2

    if fs.simple_links:
        links = ex2.findall(text) + [u[2] for u in ex.findall(text)]
    else:
        links = [u[2] for u in ex.findall(text)]
    out: set[str] = set()
    parts = urlparse(url)
    for link in links:
        if isinstance(link, tuple):
            link = link[1]
        if link.startswith("/") and len(link) > 1:
            link = f"{parts.scheme}://{parts.netloc}{link}"  # absolute on this server
        if link.startswith("http"):
            if fs.same_schema and link.startswith(url.rstrip("/") + "/"):
                out.add(link)
            elif link.replace("https", "http").startswith(
                url.replace("https", "http").rstrip("/") + "/"
            ):
                out.add(link)  # (fsspec: allowed to cross http <-> https)
        elif link not in ("..", "../"):
            out.add("/".join([url.rstrip("/"), link.lstrip("/")]))
    return out


def page_entries(
    fs: Any, loc: Location, url: str, skipped: list[tuple[str, str]] | None, *, sub: bool
) -> list[dict[str, Any]] | None:
    """The links of the index page of folder ``url`` (fsspec's ``ls``, the page read bounded and
    tried again on 429/500/502/503/504: :func:`index_links`), resolved against the page
    (:func:`~lazyvol._url_check.page_link`).

    A subfolder (``sub``) the server does not list -- 404 (a dangling link, a folder removed
    since the page was made) or 401/403 (no index page allowed there) -- gives None, appended to
    ``skipped`` with the reason when given. Other failures, and every failure of the folder
    asked for, are raised."""
    try:
        entries = index_links(fs, loc, url)
        entries = [{**e, "name": page_link(str(e["name"]), url)} for e in entries]
    except Exception as exc:
        if not sub:
            raise
        err = translate(exc, Location(url, loc.options), "listing the folder")
        if isinstance(err, SourceNotFoundError):
            why = "not served (no such folder: a dangling link?)"
        elif isinstance(err, RemoteAccessError):
            why = (
                "the server refuses to list it (access denied: no index page allowed there, or "
                "credentials that do not reach it)"
            )
        else:
            raise err from None
        if skipped is not None:
            skipped.append(
                (url, f"a subfolder linked from the index page, {why}: nothing in it was scanned")
            )
        return None
    return entries


def too_many_links(loc: Location, n: int) -> None:
    """Raise :class:`~lazyvol.errors.ResourceLimitError` when the index pages under ``loc``
    link more than :func:`lazyvol.config.max_scan_files` objects: each would be asked for its
    size (a HEAD each, which a page of a million links made for hours before the scan's own
    limit was checked)."""
    from .config import max_scan_files

    limit = max_scan_files()
    if n > limit:
        raise ResourceLimitError(
            f"{loc.display}: its index pages link {n} files, more than the limit of {limit}; "
            "nothing was asked of them (each would be asked for its size). Point lazyvol at "
            "the series folder, or raise the limit with LAZYVOL_MAX_SCAN_FILES (or dask config "
            "lazyvol.max-scan-files)"
        )
