"""When an HTTP(S) request is tried again: the one retry policy of lazyvol's own HTTP requests
(the checked ranged GETs of :mod:`lazyvol._http_range`, the HEAD that stamps an object and the
index pages of a web folder, through :func:`lazyvol._io_remote.retried`).

An answer ``429``, ``500``, ``502``, ``503`` or ``504`` is tried again (``500`` too: a transient
Internal Server Error is common behind load balancers and object stores, which botocore and gcsfs
retry; a lasting one costs two more requests), :data:`ATTEMPTS` attempts in all,
waiting 0.25 s then 0.5 s, or what its ``Retry-After`` asks (seconds or a date) up to
:data:`MAX_RETRY_AFTER` seconds. So is a request the server closed the connection on without
answering, or after part of its body (:func:`hung_up`: aiohttp's ``ServerDisconnectedError``, as
when a server closes an idle keep-alive connection just as the client reuses it, and its errors of
a body cut short); the requests are GETs and HEADs, safe to
repeat. S3 and GCS requests are retried by their own clients.
"""

from __future__ import annotations

import math
import time
from email.utils import parsedate_to_datetime

__all__ = [
    "ATTEMPTS",
    "MAX_RETRY_AFTER",
    "RETRY_STATUS",
    "backoff",
    "hung_up",
    "wait_before_retry",
]

#: Attempts of one request answered 429/500/502/503/504 (the first included).
ATTEMPTS = 3
#: Longest wait a ``Retry-After`` header may ask for between attempts (seconds).
MAX_RETRY_AFTER = 5.0
#: Statuses of a server that is overloaded, restarting or failing for a moment, worth asking again.
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


def wait_before_retry(
    status: int | None, retry_after: str | None, attempt: int, *, unanswered: bool = False
) -> float | None:
    """Seconds to wait before trying again a request whose attempt ``attempt`` (from 0) was
    answered ``status`` (with the ``Retry-After`` header given), or was not answered at all
    (``unanswered``: :func:`hung_up`); None when it is not tried again (another status, or the
    last attempt)."""
    if (status not in RETRY_STATUS and not unanswered) or attempt + 1 >= ATTEMPTS:
        return None
    return backoff(retry_after, attempt)


#: aiohttp's errors of a connection closed before the whole answer came: before it began
#: (``ServerDisconnectedError``), or after part of its body (``ContentLengthError``: fewer bytes
#: than its Content-Length; ``TransferEncodingError``: a chunked body cut), as a proxy or load
#: balancer dropping the connection mid-transfer leaves it; and of an answer whose body went on
#: past its Content-Length (``BadStatusLine``: its next bytes read as an answer's status line),
#: as a proxy miscounting a body leaves it (a new connection may reach one that does not).
_HUNG_UP = frozenset(
    {"ServerDisconnectedError", "ContentLengthError", "TransferEncodingError", "BadStatusLine"}
)


def hung_up(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it came from) is aiohttp's error of a connection the
    server closed without a (whole) answer (:data:`_HUNG_UP`)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if any(c.__name__ in _HUNG_UP for c in type(cur).__mro__):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def backoff(retry_after: str | None, attempt: int) -> float:
    """Seconds to wait before attempt ``attempt + 2``: ``Retry-After`` (seconds or a date) when
    given, capped at :data:`MAX_RETRY_AFTER`; else 0.25 s doubling."""
    default = 0.25 * 2.0**attempt
    if not retry_after:
        return default
    text = retry_after.strip()
    try:
        wait = float(text)
    except ValueError:
        try:
            wait = parsedate_to_datetime(text).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return default
    if math.isnan(wait):
        return default
    return min(max(wait, 0.0), MAX_RETRY_AFTER)
