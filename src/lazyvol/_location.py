"""Where a source's bytes are: :class:`Location` (a path or an fsspec URL plus its storage options),
with every printed, hashed or saved form free of credentials.

Used by :mod:`lazyvol._io` (the byte layer), which re-exports everything here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit, urlunsplit

from ._url_check import REDACTED as _REDACTED
from ._url_check import check_url as _check_url
from ._url_check import rough_display as _rough_display
from .sources import display_path

__all__ = [
    "Location",
    "StorageOptions",
    "display_url",
    "identity_url",
    "absolute_source",
    "is_inner_key",
    "through_links",
    "credential_params",
    "is_url",
    "url_secrets",
]


# -- redaction -------------------------------------------------------------------------------------

#: Storage-option names whose values are credentials (matched case-insensitively anywhere in the
#: name, at any depth of the options): never shown, hashed or written. Not for query parameters,
#: whose names select data as often (``?key=scan.nii``, ``?author=``): see :data:`_SECRET_PARAMS`
#: and :data:`_MAYBE_SECRET`.
_SECRET_NAME = re.compile(
    r"secret|passw|token|credential|creds|auth|key|session|signature|^sig$|private|cookie|"
    r"policy|connection_str|^sas",
    re.IGNORECASE,
)
#: Query parameters whose values are credentials, by exact name (lower case): the keys and
#: signatures of pre-signed S3 and GCS URLs (also the older AWSAccessKeyId/Signature form), Azure
#: SAS and CloudFront signed URLs, and names that are credentials whatever the service.
_SECRET_PARAMS = frozenset(
    {
        "x-amz-credential",
        "x-amz-signature",
        "x-amz-security-token",
        "x-goog-credential",
        "x-goog-signature",
        "awsaccesskeyid",
        "googleaccessid",
        "signature",
        "sig",
        "token",
        "access_token",
        "id_token",
        "refresh_token",
        "auth_token",
        "session_token",
        "security_token",
        "private_token",
        "sas_token",
        "api_key",
        "apikey",
        "api-key",
        "access_key",
        "secret",
        "secret_key",
        "client_secret",
        "password",
        "passwd",
        "pass",
        "pwd",
        "credential",
        "credentials",
        "auth",
        "authorization",
        "jwt",
    }
)
#: The signed fields of an Azure SAS (with ``sig``) and of an S3/GCS query-string or CloudFront
#: signed URL (with ``Signature``): part of the credential, though not secret; these names select
#: data elsewhere (``?sp=2``), so they count only beside their signature.
_SIGNED_WITH = {
    "sig": frozenset(
        "sv ss srt sp se st spr sr si sdd skoid sktid skt ske sks skv saoid suoid scid sduoid ses "
        "rscc rscd rsce rscl rsct".split()
    ),
    "signature": frozenset({"expires", "policy", "key-pair-id"}),
}
#: Every parameter of the S3 and GCS signing protocols (``X-Amz-Date``, ``X-Goog-Expires``, ...).
_SIGNING_PREFIXES = ("x-amz-", "x-goog-")
_URL_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")
#: A trailing object-version parameter (s3fs ``?versionId=``, gcsfs ``?generation=``).
_VERSION_SUFFIX = re.compile(r"\?(versionId|generation)=[^?#/]*$", re.IGNORECASE)


def absolute_source(source: Any, opened: Any = None) -> Any:
    """A local source as an absolute path (a relative one names another file, or none, from
    another working directory): ``opened``, the absolute path recorded when it was opened, for a
    relative one (the working directory may have changed since); a URL, or no source, as it is."""
    if isinstance(source, str) and source and not is_url(source):
        if isinstance(opened, str) and os.path.isabs(opened) and not os.path.isabs(source):
            return opened
        return os.path.abspath(source)
    return source


def is_inner_key(key: Any) -> bool:
    """Whether ``key`` names a file or folder inside a store (``"0"``, ``"scale0/image"``): a
    relative key without ``..``, ``.``, empty parts, backslashes or NUL, which would otherwise
    reach another store's array through this one."""
    if not isinstance(key, str) or "\0" in key:
        return False
    return all(p not in ("", ".", "..") and "\\" not in p for p in key.split("/"))


def is_url(source: str | os.PathLike[str]) -> bool:
    """True for an fsspec URL (``scheme://...``) other than ``file://``."""
    text = os.fspath(source)
    if not isinstance(text, str):
        return False
    return bool(_URL_RE.match(text)) and not text.lower().startswith(("file://", "local://"))


#: Query parameter names that may hold a credential or may select the data (``?key=AIza...``
#: or ``?key=1001``, ``?accessToken=``, ``?tempauth=``): never shown (``***``), kept in
#: identities as a hash of the value (two objects never share an identity, the value is never
#: saved; a password, short enough to guess from its hash, is an exact name above and left out),
#: and refused by references (which would have to hold the value).
_MAYBE_SECRET = re.compile(
    r"secret|passw|pwd|token|credential|creds|auth|key|session|signature|^sig$|private|cookie|"
    r"policy|^sas",
    re.IGNORECASE,
)


def _query_pieces(query: str) -> list[tuple[str, str]]:
    """The ``name=value`` pieces of a query as written, each with its kind: ``"secret"`` (the
    value is a credential: left out of identities), ``"maybe"`` (a name a credential may have:
    hidden, hashed in identities), ``"signed"`` (a signed field of a signed URL) or ``""``
    (anything else: it may select the data, ``?versionId=3``)."""
    pieces = [p for p in query.split("&") if p]
    names = [unquote_plus(p.split("=", 1)[0]).strip().lower() for p in pieces]
    signed = frozenset().union(*(f for sig, f in _SIGNED_WITH.items() if sig in names))
    out = []
    for piece, name in zip(pieces, names, strict=True):
        if name in _SECRET_PARAMS:
            kind = "secret"
        elif name.startswith(_SIGNING_PREFIXES) or name in signed:
            kind = "signed"
        elif _MAYBE_SECRET.search(name):
            kind = "maybe"
        else:
            kind = ""
        out.append((piece, kind))
    return out


def _hashed(piece: str) -> str:
    """``name=<hash of the value>``: a parameter that may be a credential, in an identity."""
    name, _, value = piece.partition("=")
    digest = hashlib.sha256(unquote_plus(value).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{name}=sha256-{digest[:24]}"


def credential_params(url: str) -> list[str]:
    """Names of the query parameters of ``url`` that are, or may be, credentials or signed fields
    of one (``X-Amz-Signature``, an Azure SAS's ``sig`` and ``se``, ``token``, ``key``, ...), as
    written."""
    if not is_url(url):
        return []
    pieces = _query_pieces(urlsplit(url).query)
    return [unquote_plus(p.split("=", 1)[0]) for p, kind in pieces if kind]


def url_secrets(url: str) -> list[str]:
    """The credentials written in ``url``: its password and the values of its credential query
    parameters, as written and decoded (to scrub them from text that may quote the URL)."""
    if not is_url(url):
        return []
    parts = urlsplit(url)
    found = {parts.password} if parts.password else set()
    for piece, kind in _query_pieces(parts.query):
        if kind in ("secret", "maybe") and "=" in piece:
            value = piece.split("=", 1)[1]
            found.update({value, unquote_plus(value)})
    return sorted(s for s in found if s)


def _split_url(url: str, *, keep_signing: bool) -> str:
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    except ValueError:  # (a URL quoted in a dependency's message; Location.of refuses these)
        return _rough_display(url)
    netloc = (f"{_REDACTED}@" + host) if (parts.username or parts.password) else parts.netloc
    if not keep_signing and (parts.username or parts.password):
        netloc = host
    pieces = _query_pieces(parts.query)
    if parts.scheme.lower() not in ("http", "https") and not any(kind for _, kind in pieces):
        # An object store's key may hold "?" and "#" (s3://bucket/scan#2.nii is that object, not
        # scan with a fragment): kept as written, as s3fs / gcsfs read them.
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    # Every other parameter is kept as written: it may select the object (?versionId=3).
    query = []
    for piece, kind in pieces:
        if kind == "maybe" and not keep_signing:
            piece = _hashed(piece)  # (two values, two objects: never one identity)
        elif kind and not keep_signing:
            continue
        elif kind in ("secret", "maybe"):
            piece = piece.split("=", 1)[0] + "=" + _REDACTED
        query.append(piece)
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(query), ""))


def through_links(path: str) -> str:
    """``path`` as given, unless a ``..`` in it follows a symbolic link: ``link/../x`` is then
    where the system finds it (the link's target's parent), not where the lexical normalisation
    of :func:`os.path.abspath` (used on paths throughout) puts it, and is given as its real path
    (another folder's files were read as the source's)."""
    if ".." not in path or ".." not in path.replace("\\", "/").split("/"):
        return path  # (the usual path: no parent step at all)
    real = os.path.realpath(path)
    return real if real != os.path.realpath(os.path.abspath(path)) else path


def display_url(source: str) -> str:
    """``source`` for messages: user/password and credential query values replaced by ``***``.

    Local paths come back as printable text (see :func:`lazyvol.sources.display_path`).
    """
    if not is_url(source):
        return display_path(source)
    return _split_url(source, keep_signing=True)


def identity_url(source: str) -> str:
    """``source`` as an identity: no user/password, no credential or signing query parameters.

    Two pre-signed URLs of the same object have the same identity; every other parameter, which
    may select the data (``versionId=``, ``generation=``, a download API's ``?key=scan.nii``), is
    kept as written, so two objects never share an identity.
    """
    if not is_url(source):
        return os.path.abspath(source)
    return _split_url(source, keep_signing=False)


def _redact(value: Any, name: str = "") -> Any:
    if name and _SECRET_NAME.search(name) and value not in (None, False, ""):
        return _REDACTED
    if isinstance(value, Mapping):
        return {
            str(k): _redact(v, str(k)) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
        }
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return f"<{type(value).__name__}>"


def _secrets(value: Any, name: str = "") -> Iterator[str]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _secrets(v, str(k))
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _secrets(v, name)
    elif name and _SECRET_NAME.search(name) and value not in (None, False, ""):
        yield str(value)


class StorageOptions(Mapping[str, Any]):
    """fsspec ``storage_options``, read-only, with credentials hidden from every printed form.

    Pickles with its values (a worker process needs the credentials to read); ``repr``, ``str``,
    :meth:`redacted` and the dask token show ``***`` for every value whose name looks like a
    credential (key, secret, token, password, authorization header, ...).
    """

    __slots__ = ("_items",)

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self._items: dict[str, Any] = dict(options or {})

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StorageOptions):
            return self._items == other._items
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._full_digest())

    def __repr__(self) -> str:
        return f"StorageOptions({self.redacted()!r})"

    __str__ = __repr__

    def __getstate__(self) -> dict[str, Any]:
        return self._items

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._items = dict(state)

    def redacted(self) -> dict[str, Any]:
        """The options with credential values replaced by ``***`` (safe to print, hash, save)."""
        out: dict[str, Any] = _redact(self._items)
        return out

    def secrets(self) -> list[str]:
        """Credential values, for scrubbing them from third-party error messages."""
        return sorted({s for s in _secrets(self._items) if len(s) >= 3}, key=len, reverse=True)

    def to_dict(self) -> dict[str, Any]:
        """A plain copy of the options, credentials included (for constructing a filesystem)."""
        return dict(self._items)

    def _full_digest(self) -> str:
        # In-memory only (the per-process filesystem cache): distinguishes credentials without
        # ever being printed or written.
        text = json.dumps(self._items, sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()

    def __dask_tokenize__(self) -> str:
        return json.dumps(self.redacted(), sort_keys=True)


# -- locations -------------------------------------------------------------------------------------


#: Query parameters that select an object's version, by protocol (s3fs and gcsfs honour them only
#: with ``version_aware=True``: without it they read the newest version).
_VERSION_PARAMS = {"s3": "versionid", "s3a": "versionid", "gs": "generation", "gcs": "generation"}


def names_version(url: str) -> bool:
    """True for an object-store URL naming one version of its object (``?versionId=`` on S3,
    ``?generation=`` on GCS)."""
    parts = urlsplit(url)
    param = _VERSION_PARAMS.get(parts.scheme.lower())
    return bool(param) and any(k.lower() == param for k, _ in parse_qsl(parts.query))


def _version_aware(url: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with ``version_aware=True`` for a URL that names a version (``?versionId=`` on
    S3, ``?generation=`` on GCS): s3fs and gcsfs ignore the parameter otherwise and silently read
    the newest version of the object."""
    return {"version_aware": True, **options} if names_version(url) else options


def _userinfo_to_header(url: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """An ``http(s)://user:password@host/...`` URL as the URL without them plus a Basic
    ``Authorization`` header in its storage options (sent with every request, as the client sends
    the URL's credentials): the URL, and every object URL listed under it, then carries no
    credentials into a volume's source, its files, a scan report or a cache key. Left as given
    when the options hold an Authorization header already (the HTTP client refuses both)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or "@" not in parts.netloc:
        return url, options
    headers = dict(options.get("headers") or {})
    session = options.get("client_kwargs")
    if any(k.lower() == "authorization" for k in headers) or (
        isinstance(session, Mapping) and session.get("auth") is not None
    ):
        return url, options  # credentials of their own: the URL's are left to the client
    import base64
    from urllib.parse import unquote

    user = unquote(parts.username or "")
    password = unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    headers["Authorization"] = f"Basic {token}"
    host = parts.netloc.rsplit("@", 1)[1]
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, {**options, "headers": headers}


@dataclass(frozen=True, slots=True, eq=True)
class Location:
    """Where a source's bytes are: a local path or an fsspec URL, plus its storage options.

    Build with :meth:`of`. Small, frozen and picklable (standard library), no open handle: read
    plans carry it. ``str()`` and ``repr()`` never show credentials.
    """

    url: str
    options: StorageOptions = field(default_factory=StorageOptions)

    @classmethod
    def of(
        cls,
        source: str | os.PathLike[str] | Location,
        storage_options: Mapping[str, Any] | None = None,
    ) -> Location:
        """Location of a path or URL. ``file://`` URLs become local paths; a local path is kept as
        given (messages show it so) but for a leading ``~``, expanded to the home folder as
        nibabel and fsspec expand it; its :attr:`identity` is absolute.

        Raises
        ------
        ValueError
            ``storage_options`` given for a local path (they would be ignored silently).
        OptionError
            A URL that does not parse (a port out of range, an unclosed ``[``).
        """
        if isinstance(source, Location):
            if storage_options:
                return cls(source.url, StorageOptions(storage_options))
            return source
        text = os.fspath(source)
        if isinstance(text, bytes):  # pragma: no cover - os.PathLike[bytes]
            text = os.fsdecode(text)
        low = text.lower()
        if low.startswith("file://"):
            text = text[len("file://") :]
        elif low.startswith("local://"):
            text = text[len("local://") :]
        if not is_url(text):
            if "::" in text:
                _check_url(text)  # (an fsspec chain: not a path, whose message shows a password)
            if storage_options:
                from .errors import OptionError  # (a ValueError, as it was)

                raise OptionError(
                    f"{display_path(text)}: storage_options are for URLs (s3://, gs://, https://, "
                    "...), not local paths; leave them out for a local file"
                )
            return cls(through_links(os.path.expanduser(text)))  # ``~`` as nibabel and fsspec
        _check_url(text)
        scheme, rest = text.split("://", 1)  # (a scheme is case-insensitive: RFC 3986; s3fs and
        text = f"{scheme.lower()}://{rest}"  # gcsfs strip only a lower-case one from a path)
        text, options = _userinfo_to_header(text, dict(storage_options or {}))
        return cls(text, StorageOptions(_version_aware(text, options)))

    @property
    def is_remote(self) -> bool:
        """True for a URL, False for a local path."""
        return is_url(self.url)

    @property
    def protocol(self) -> str:
        """fsspec protocol (``"file"`` for local paths)."""
        if not self.is_remote:
            return "file"
        return self.url.split("://", 1)[0].lower()

    @property
    def display(self) -> str:
        """The source for messages (no credentials)."""
        return display_url(self.url)

    @property
    def identity(self) -> str:
        """The source as an identity (no credentials, no URL-signing parameters)."""
        return identity_url(self.url)

    @property
    def names_prefix(self) -> bool:
        """True for a URL whose path ends in ``/``: a folder or prefix, never one object (an
        HTTP server answers it with an index page)."""
        return self.is_remote and urlsplit(self.url).path.endswith("/")

    @property
    def name(self) -> str:
        """The last component of the path (``"a.nii.gz"``), for sniffing by suffix."""
        if self.is_remote:
            parts = urlsplit(self.url)
            if "://" not in self.url:
                path = self.url
            elif parts.scheme.lower() in ("http", "https"):
                path = parts.path
            else:
                # An object store's key may hold "?" and "#" (see _split_url): s3://b/run?x=1.nii.gz
                # is named run?x=1.nii.gz; only a version parameter is not part of the key.
                path = _VERSION_SUFFIX.sub("", self.url.split("://", 1)[1])
            return path.rstrip("/").rsplit("/", 1)[-1]
        return os.path.basename(self.url.rstrip(os.sep)) or self.url

    def __fspath__(self) -> str:
        """The local path (so ``open(loc)`` and ``os.path`` functions work on local sources).

        Raises
        ------
        TypeError
            For a URL: read it through :mod:`lazyvol._io` (``read``, ``read_into``, ...).
        """
        if self.is_remote:
            raise TypeError(
                f"{self.display} is a URL, not a local path: read it with lazyvol._io "
                "(read, read_into, read_ranges)"
            )
        return self.url

    def join(self, name: str) -> Location:
        """The location of ``name`` inside this prefix or folder (same storage options)."""
        if self.is_remote:
            parts = urlsplit(self.url)
            if "://" in self.url and parts.scheme.lower() not in ("http", "https"):
                # An object key may hold "?" and "#" (see _split_url): they stay in the prefix.
                # (The root of a filesystem, reference:// or memory://, keeps its "://".)
                scheme, _, rest = self.url.partition("://")
                base = f"{scheme}://{rest.rstrip('/')}/" if rest.rstrip("/") else f"{scheme}://"
                return Location(base + name.lstrip("/"), self.options)
            path = parts.path.rstrip("/") + "/" + name.lstrip("/")
            return Location(urlunsplit(parts._replace(path=path)), self.options)
        return Location(os.path.join(self.url, name))

    def __str__(self) -> str:
        return self.display

    def __repr__(self) -> str:
        if self.options:
            return f"Location({self.display!r}, options={self.options.redacted()!r})"
        return f"Location({self.display!r})"

    def __dask_tokenize__(self) -> tuple[str, str]:
        return (self.identity, self.options.__dask_tokenize__())

    def key(self) -> str:
        """Short digest of the identity and redacted options (safe as a file or cache name)."""
        text = json.dumps([self.identity, self.options.redacted()], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]
