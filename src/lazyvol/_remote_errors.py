"""The typed lazyvol errors of failed remote operations (:func:`translate`): the HTTP status and
any timeout or lost connection are looked for through the whole chain of causes, and every message
names the URL without credentials (:func:`scrub`). Also the remote timeout settings
(``LAZYVOL_REMOTE_TIMEOUT``, ``LAZYVOL_REMOTE_DEADLINE``), which the timeout message names.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

from ._location import Location, display_url
from ._range_refusal import range_refused, refusal_of
from ._url_check import REDACTED as _REDACTED
from .errors import (
    FormatError,
    LazyvolError,
    OptionError,
    RemoteAccessError,
    RemoteReadError,
    RemoteTimeoutError,
    SourceChangedError,
    SourceNotFoundError,
)
from .sources import SourceStamp

__all__ = [
    "gzip_metadata",
    "html_page",
    "html_refusal",
    "no_filesystem",
    "remote_deadline",
    "remote_timeout",
    "scrub",
    "translate",
]


def html_page(data: bytes) -> bool:
    """Whether ``data`` (the first bytes of an answer) is an HTML (or XML) page: ``<`` and a
    letter, ``!`` or ``?`` after any byte-order mark and white space. No NIfTI, Analyze, DICOM,
    gzip or JSON file starts so (a header's size, a tag group, a magic number, ``{``)."""
    head = data[:256].removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    return head[:1] == b"<" and (head[1:2].isalpha() or head[1:2] in (b"!", b"?"))


def gzip_metadata(display: str, data: bytes) -> str | None:
    """The message of a metadata file (JSON, which never starts so) whose bytes are gzip's
    (``1f 8b``): stored compressed with ``Content-Encoding: gzip`` (``aws s3 cp
    --content-encoding gzip``), which S3 clients do not decode (botocore, s3fs, zarr-python: the
    stored bytes); None when ``data`` is not gzip's."""
    if data[:2] != b"\x1f\x8b":
        return None
    return (
        f"{display}: the Zarr metadata file holds gzip-compressed bytes, not JSON (stored "
        "compressed, with Content-Encoding: gzip?): S3 clients (botocore, s3fs, zarr-python) "
        "return an object's stored bytes without decoding them. Store the metadata files "
        "uncompressed (aws s3 cp without --content-encoding gzip), or read the store over "
        "HTTP(S), whose clients decode a Content-Encoding"
    )


def html_refusal(display: str, why: object) -> str:
    """The message of a file a server answered with an HTML page and status 200 (:func:`html_page`),
    which a reader then refused for ``why``."""
    return (
        f"{display}: the server answered with an HTML page and status 200 where the file should "
        "be (an error, sign-in or folder index page sent as a success, or a web host answering "
        "every path it does not have with its start page), so this is not the file. Open the URL "
        "in a browser to see the page: check the URL (a folder's URL ends with '/'), and pass "
        f"what the server asks for (credentials, headers) in storage_options (the reader said: {why})"
    )


def remote_timeout() -> float:
    """Seconds a remote request may make no progress before it fails (``LAZYVOL_REMOTE_TIMEOUT``,
    default 30; not a positive, finite number: :class:`~lazyvol.errors.OptionError`)."""
    from .config import setting_seconds

    env = os.environ.get("LAZYVOL_REMOTE_TIMEOUT")
    return setting_seconds(env, "LAZYVOL_REMOTE_TIMEOUT") if env else 30.0


def remote_deadline() -> float | None:
    """Seconds one remote request may take in all, its answer's body included
    (``LAZYVOL_REMOTE_DEADLINE``; unset, the default: no such limit, only
    :func:`remote_timeout`'s limit on a stall; not a positive, finite number:
    :class:`~lazyvol.errors.OptionError`). A server sending a byte now and then never stalls
    long enough for the timeout: the deadline ends such a request."""
    from .config import setting_seconds

    env = os.environ.get("LAZYVOL_REMOTE_DEADLINE")
    return setting_seconds(env, "LAZYVOL_REMOTE_DEADLINE") if env else None


def scrub(text: str, loc: Location) -> str:
    """``text`` with the raw URL and every credential value of ``loc`` removed."""
    if loc.url != loc.display:
        text = text.replace(loc.url, loc.display)
    for secret in loc.options.secrets():
        text = text.replace(secret, _REDACTED)
    # URLs the library printed in another form (encoded, another query order): redact them all.
    return re.sub(
        r"[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>)]+", lambda m: display_url(m.group(0)), text
    )


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or during, outermost first."""
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and all(cur is not seen for seen in out):
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _status(exc: BaseException) -> int | None:
    """The HTTP status of a failure, also when a library re-raised it as another exception
    (fsspec's HTTP ``info`` turns every failure into ``FileNotFoundError`` from the original).
    None for an answer the client could not parse (aiohttp gives its own parse errors the
    status 400, which no server sent: :func:`_misframed`)."""
    chain = _chain(exc)
    if _misframed(chain):
        return None
    for cur in chain:
        found = _own_status(cur)
        if found is not None:
            return found
    return None


def _own_status(exc: BaseException) -> int | None:
    for attr in ("status", "status_code", "code"):
        if attr == "code" and hasattr(exc, "status"):
            continue  # aiohttp's errors: "code" is a deprecated alias of "status" (it warns)
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        meta = response.get("ResponseMetadata") or {}
        value = meta.get("HTTPStatusCode")
        if isinstance(value, int):
            return value
    return None


#: aiohttp's errors of an answer whose framing is wrong (``aiohttp.http_exceptions``): fewer body
#: bytes than its Content-Length before the connection closed (``ContentLengthError``), a chunked
#: body cut (``TransferEncodingError``), bytes where an answer's status line should be
#: (``BadStatusLine``: the body went on past the Content-Length the answer stated).
_MISFRAMED = ("ContentLengthError", "TransferEncodingError", "BadStatusLine")


def _misframed(chain: list[BaseException]) -> BaseException | None:
    """The first of ``chain`` that is one of aiohttp's :data:`_MISFRAMED` errors, if any."""
    for e in chain:
        if type(e).__module__.startswith("aiohttp") and any(
            c.__name__ in _MISFRAMED for c in type(e).__mro__
        ):
            return e
    return None


def _misframed_message(loc: Location, what: str, err: BaseException) -> str:
    """What a mis-framed answer (:func:`_misframed`) to ``what`` was, for its error: the bytes
    its Content-Length stated and those that came, and the retry policy."""
    name = next(c.__name__ for c in type(err).__mro__ if c.__name__ in _MISFRAMED)
    if name == "ContentLengthError":
        m = re.search(r"received (\d+) of (\d+) bytes", str(err))
        got = f"after {m.group(1)} of the {m.group(2)} bytes" if m else "before all the bytes"
        why = (
            f"the server closed the connection {got} its Content-Length stated (a connection "
            "dropped mid-transfer, or a Content-Length longer than the body)"
        )
    elif name == "TransferEncodingError":
        why = (
            "the server closed the connection before the last chunk of a body sent in chunks "
            "(a connection dropped mid-transfer)"
        )
    else:  # (the object's bytes are not shown: they were read where a status line should be)
        why = (
            "the server sent more body bytes than its Content-Length stated (a Content-Length "
            "shorter than the body: the bytes past it came where the next answer's status line "
            "should be), so the body's end is unknown"
        )
    retry = ""
    if loc.protocol in ("http", "https"):
        from ._retry import ATTEMPTS

        retry = (
            f" (lazyvol asks again, {ATTEMPTS} attempts in all, when an answer is cut short or "
            "mis-framed; every attempt failed)"
        )
    return (
        f"{loc.display}: {what}: {why}; nothing was used{retry}. If it lasts, the server or a "
        f"proxy in between frames its answers wrongly ({name}): fix it there, or copy the file "
        "locally"
    )


def _timed_out(chain: list[BaseException]) -> bool:
    return any(isinstance(e, TimeoutError) or "timeout" in type(e).__name__.lower() for e in chain)


#: aiohttp's failures of the connection itself (the server hung up, a body cut short), whatever
#: their subclass: they say nothing about whether the object exists.
_AIOHTTP_CONNECTION = ("ClientConnectionError", "ClientPayloadError")


def _no_connection(chain: list[BaseException]) -> bool:
    """A failure to reach the server or to get its answer (refused, reset, DNS, the server
    closing the connection without answering), wherever in the chain."""
    return any(
        isinstance(e, ConnectionError)
        or (
            type(e).__module__.startswith("aiohttp")
            and any(
                "Connect" in c.__name__ or c.__name__ in _AIOHTTP_CONNECTION
                for c in type(e).__mro__
            )
        )
        for e in chain
    )


#: The clients' "no usable credentials" errors, which carry no HTTP status (a class or one of its
#: bases so named): botocore's (no key found, half a key, a credential provider or profile that
#: fails, an SSO / login token missing or expired) and google-auth's.
_NO_CREDENTIALS = frozenset(
    {
        "NoCredentialsError",
        "PartialCredentialsError",
        "CredentialRetrievalError",
        "UnknownCredentialError",
        "ProfileNotFound",
        "TokenRetrievalError",
        "NoAuthTokenError",
        "SSOError",
        "LoginError",
        "DefaultCredentialsError",
        "RefreshError",
    }
)


def _no_credentials(chain: list[BaseException]) -> bool:
    return any(k.__name__ in _NO_CREDENTIALS for e in chain for k in type(e).__mro__)


def translate(
    exc: BaseException,
    loc: Location,
    what: str,
    start: int | None = None,
    expect: SourceStamp | None = None,
) -> LazyvolError:
    """A typed lazyvol error for a failed remote operation (``what``: "reading bytes 0-99", from
    ``start`` of the object stamped ``expect`` at open: they judge a refused range, HTTP 416).

    The HTTP status and any timeout are looked for through the whole chain of causes: fsspec's
    HTTP ``info`` re-raises every failure (a 503, a timeout) as ``FileNotFoundError``, which
    means "no such object" only when no other status or cause explains it.
    """
    if isinstance(exc, LazyvolError):
        return exc
    where = loc.display
    chain = _chain(exc)
    detail = scrub("; ".join(f"{type(e).__name__}: {e}" for e in chain[:3]), loc)
    status = _status(exc)
    coded = next((e for e in chain if type(e).__name__ == "ContentEncodingError"), None)
    if coded is not None:  # (aiohttp's: a Content-Encoding it cannot decode, e.g. br, zstd)
        m = re.search(r"content-encoding:\s*([^\s.;]+(?:\s*\([^)]*\))?)", str(coded), re.I)
        named = f"Content-Encoding: {m.group(1)}" if m else "a Content-Encoding"
        return RemoteReadError(
            f"{where}: {what}: the server answered with {named} although identity was asked, "
            "which the client cannot even decode, so the body is not the object's bytes; nothing "
            "was used. Fix it on the server: serve the file without Content-Encoding (no "
            "on-the-fly compression of images)"
        )
    misframed = _misframed(chain)
    if misframed is not None:
        return RemoteReadError(_misframed_message(loc, what, misframed))
    if any(type(e).__name__ == "TooManyRedirects" for e in chain):  # aiohttp's and requests'
        return RemoteReadError(
            f"{where}: {what} failed: the server redirects in a loop, or through more redirects "
            f"than the client follows ({detail}); check the URL, or use the URL it should end at"
        )
    if _no_credentials(chain):
        return RemoteAccessError(
            f"{where}: no usable credentials ({what}: {detail}); give them in storage_options "
            "(key/secret, profile) or the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "GOOGLE_APPLICATION_CREDENTIALS, ...), or pass storage_options={'anon': True} for "
            "public data"
        )
    if status in (401, 403) or isinstance(exc, PermissionError):
        if loc.protocol in ("http", "https"):  # ('anon' is no option of HTTP: aiohttp refuses it)
            return RemoteAccessError(
                f"{where}: access denied ({what}: {detail}); pass the credentials the server "
                "asks for in storage_options: headers={'Authorization': ...} (a token), or "
                "client_kwargs={'auth': aiohttp.BasicAuth(user, password)}; a signed URL "
                "(?X-Amz-Signature=..., ?token=...) may have expired"
            )
        return RemoteAccessError(
            f"{where}: access denied ({what}: {detail}); check the credentials in storage_options "
            "or the environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, ...) and the object's "
            f"permissions, or pass storage_options={{'anon': True}} for public data"
            f"{_s3_denied(loc, what)}"
        )
    if status == 412:
        return SourceChangedError(
            f"{where}: the object changed after it was opened (its ETag no longer matches); "
            "open the source again"
        )
    if status == 416:
        return range_refused(loc, what, start, expect, *refusal_of(chain))
    if status is None and any(isinstance(e, ValueError | TypeError) for e in chain[1:]):
        # the client refused to make the request (aiohttp: credentials both in the URL and in an
        # Authorization header), under fsspec's FileNotFoundError (and _io_remote._http_info's):
        # nothing is known of the object. A bare ValueError is no request's (zarr decoding a
        # chunk: 'cannot reshape'), said as it is below
        return RemoteReadError(
            f"{where}: {what} failed: the request could not be made ({detail}); check the URL "
            "and storage_options (credentials given twice, a malformed option)"
        )
    if status == 404 or (
        status is None
        and isinstance(exc, FileNotFoundError)
        and not _timed_out(chain)
        and not _no_connection(chain)
    ):
        return SourceNotFoundError(f"{where}: no such object ({what}: {detail})")
    if _timed_out(chain):
        deadline = remote_deadline()
        if deadline is None:
            return RemoteTimeoutError(
                f"{where}: no response for {remote_timeout():g} s while {what} ({detail}); "
                "raise LAZYVOL_REMOTE_TIMEOUT for a slow server"
            )
        return RemoteTimeoutError(
            f"{where}: no response for {remote_timeout():g} s, or no whole answer within "
            f"LAZYVOL_REMOTE_DEADLINE={deadline:g} s, while {what} ({detail}); raise "
            "LAZYVOL_REMOTE_TIMEOUT or LAZYVOL_REMOTE_DEADLINE (or unset it) for a slow server"
        )
    if status is not None and (status == 429 or status >= 500):
        return RemoteReadError(
            f"{where}: {what} failed: the server answered HTTP {status} ({detail}); it is failing "
            "or overloaded: try again later"
        )
    return RemoteReadError(f"{where}: {what} failed ({detail})")


def _s3_denied(loc: Location, what: str) -> str:
    """What else an S3 403 may mean: S3 answers a key that does not exist with 403, not 404, to
    a caller not allowed to list the bucket (a mistyped key is "access denied" there), and a
    prefix is read from a listing, which needs that permission; ``""`` on other protocols."""
    if loc.protocol not in ("s3", "s3a"):
        return ""
    if what.startswith("listing") or loc.names_prefix:
        return (
            "; a prefix (a folder: a DICOM series, a Zarr store) is read from its listing, "
            "which needs permission to list the bucket (s3:ListBucket)"
        )
    return (
        "; or the object does not exist: S3 answers 403 for a missing key to a caller not "
        "allowed to list the bucket (s3:ListBucket), so check the key too"
    )


def no_filesystem(loc: Location, exc: Exception) -> LazyvolError:
    """The typed error of a filesystem that could not be made: a failed request's (the client
    connects when made, as FTP's does), else an option error naming the storage options."""
    err = translate(exc, loc, f"connecting to its {loc.protocol}:// server")
    if _status(exc) is not None or _no_connection(_chain(exc)) or _timed_out(_chain(exc)):
        return err
    if isinstance(err, RemoteAccessError | SourceNotFoundError):
        return err
    fo = loc.options.to_dict().get("fo") if loc.protocol == "reference" else None
    if isinstance(fo, str) and any(
        isinstance(e, UnicodeDecodeError | json.JSONDecodeError) for e in _chain(exc)
    ):
        # (fsspec reads a references file given by name as JSON text: a gzip-compressed one,
        # stored with Content-Encoding: gzip, which S3 clients do not decode, is not)
        return FormatError(
            f"{display_url(fo)}: the references file is not JSON text "
            f"({scrub(f'{type(exc).__name__}: {exc}', loc)}); fsspec reads a references file "
            "(fo) as uncompressed JSON, or a Parquet folder: store it uncompressed (aws s3 cp "
            "without --content-encoding gzip), or load it yourself and pass the dictionary as fo"
        )
    return OptionError(
        f"{loc.display}: fsspec cannot make its {loc.protocol}:// filesystem from the URL and "
        f"storage_options ({scrub(f'{type(exc).__name__}: {exc}', loc)}); check the URL's form "
        "(host, port, user) and the storage_options the protocol takes"
    )
