"""What a server's refusal of a byte range (HTTP 416) says, from what its answer states: the
object's size (``Content-Range: bytes */SIZE``) and ETag, compared with the stamp taken at open.

- a size or ETag other than the stamp's: the object was replaced since it was opened
  (:class:`~lazyvol.errors.SourceChangedError`);
- a size that holds the start of the range: the object is whole and a server or proxy refused a
  range it could serve (:class:`~lazyvol.errors.RemoteReadError`);
- else (a size too small for the range, or nothing stated): the object is shorter than its
  header says (:class:`~lazyvol.errors.FormatError`, truncated).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ._location import Location
from .errors import FormatError, LazyvolError, RemoteReadError, SourceChangedError
from .sources import SourceStamp

__all__ = ["opaque_etag", "range_refused", "refusal_of", "stated"]

_UNSATISFIED = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)


def opaque_etag(tag: str) -> str:
    """An ETag's opaque part (weak comparison, RFC 9110 8.8.3.2: ``W/"x"`` and ``"x"`` name one
    tag): without ``W/`` and its quotes."""
    bare = tag.strip().removeprefix("W/")
    return bare[1:-1] if len(bare) >= 2 and bare[0] == bare[-1] == '"' else bare


def _header(headers: Any, name: str) -> str:
    if not hasattr(headers, "get"):
        return ""
    for key in (name, name.lower()):
        value = headers.get(key)
        if value:
            return str(value)
    return ""


def stated(headers: Any, actual_size: Any = None) -> tuple[int | None, str]:
    """The object size (``Content-Range: bytes */SIZE``, else S3's ``ActualObjectSize``) and
    the ETag an answer's ``headers`` state: ``(None, "")`` for none."""
    m = _UNSATISFIED.match(_header(headers, "Content-Range"))
    size = m.group(1) if m else str(actual_size or "")
    return (int(size) if size.isdigit() else None), _header(headers, "ETag")


def refusal_of(chain: Sequence[BaseException]) -> tuple[int | None, str]:
    """What a refused request's answer stated (:func:`stated`), from the client's exceptions:
    aiohttp's carry the answer's headers, botocore's its headers and S3's error fields."""
    for exc in chain:
        response = getattr(exc, "response", None)
        headers: Any = getattr(exc, "headers", None)
        actual = None
        if isinstance(response, Mapping):
            actual = (response.get("Error") or {}).get("ActualObjectSize")
            headers = (response.get("ResponseMetadata") or {}).get("HTTPHeaders") or headers
        size, etag = stated(headers, actual)
        if size is not None or etag:
            return size, etag
    return None, ""


def range_refused(
    loc: Location,
    what: str,
    start: int | None,
    expect: SourceStamp | None,
    size: int | None,
    etag: str,
) -> LazyvolError:
    """The error for a refusal (HTTP 416) of ``what`` (a read from ``start``) of ``loc``, whose
    answer stated the object's ``size`` and ``etag`` (None / ``""``: not stated), judged
    against ``expect``, the stamp at open (see the module's docstring)."""
    where = loc.display
    said = f"as the server's refusal of {what} (HTTP 416) says"
    again = "open the source again"
    if expect is not None and size is not None and size != expect.size:
        return SourceChangedError(
            f"{where}: the object changed after it was opened (size {expect.size} -> {size} "
            f"bytes, {said}); {again}"
        )
    tag = expect.etag.split("@", 1)[0] if expect is not None else ""
    if tag and etag and opaque_etag(etag) != opaque_etag(tag):
        return SourceChangedError(
            f"{where}: the object changed after it was opened (ETag {tag} -> "
            f"{opaque_etag(etag)}, {said}); {again}"
        )
    if size is not None and start is not None and start < size:
        return RemoteReadError(
            f"{where}: the server refused a valid range: {what} of an object of {size} bytes "
            f"(HTTP 416 with Content-Range bytes */{size}); the object is whole, but the server "
            "or a proxy in between does not serve this range. Try again later, or read the "
            "object through another URL (not through that proxy)"
        )
    if size is not None:
        return FormatError(
            f"{where}: truncated: {what} starts past the end of the object ({size} bytes, HTTP "
            "416); the object is shorter than its header says"
        )
    return FormatError(
        f"{where}: truncated: {what} starts past the end of the object (HTTP 416); the object "
        "is shorter than its header says, or changed since it was opened"
    )
