"""An S3-compatible server on loopback that counts what it serves (moto's S3 server + a meter).

Used by the remote-source tests and by the ``remote`` benchmark group: no internet, no mocks, a real
HTTP server speaking the S3 protocol (``moto[server]``) on ``127.0.0.1`` with a free port.

Bytes are counted at the server side, by a WSGI middleware around moto's application: the response
body bytes of every request except ``HEAD``, grouped by the access key id of the request's
``Authorization`` header (moto accepts any key, so a client that uses its own key gets its own
count; requests without one count under ``""``). Another process reads the counts over HTTP::

    GET {endpoint}/__lazyvol_counts__?key=AKID   ->  {"bytes": ..., "requests": ...}

(see ``read_counts``).
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

COUNTS_PATH = "/__lazyvol_counts__"
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)")


def access_key_of(environ: dict[str, Any]) -> str:
    """The access key id a request was signed with (SigV4 or SigV2), ``""`` if unsigned."""
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    m = _CREDENTIAL.search(auth)
    if m:
        return m.group(1)
    if auth.startswith("AWS "):  # SigV2: "AWS AKID:signature"
        return auth[4:].split(":", 1)[0]
    query = urllib.parse.parse_qs(str(environ.get("QUERY_STRING", "")))
    cred = query.get("X-Amz-Credential", [""])[0]  # presigned URL
    return cred.split("/", 1)[0]


@dataclass
class Meter:
    """Response body bytes and request counts per access key (thread-safe)."""

    bytes: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, nbytes: int, request: bool = False) -> None:
        with self.lock:
            self.bytes[key] = self.bytes.get(key, 0) + nbytes
            if request:
                self.requests[key] = self.requests.get(key, 0) + 1

    def get(self, key: str) -> dict[str, int]:
        with self.lock:
            return {"bytes": self.bytes.get(key, 0), "requests": self.requests.get(key, 0)}


def counting_app(app: Callable[..., Iterable[bytes]], meter: Meter) -> Callable[..., Any]:
    """Wrap the WSGI ``app``: count each response's body bytes; answer ``COUNTS_PATH``."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == COUNTS_PATH:
            query = urllib.parse.parse_qs(str(environ.get("QUERY_STRING", "")))
            body = json.dumps(meter.get(query.get("key", [""])[0])).encode()
            start_response(
                "200 OK",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        key = access_key_of(environ)
        meter.add(key, 0, request=True)
        if environ.get("REQUEST_METHOD") == "HEAD":  # no body goes on the wire
            return app(environ, start_response)
        return _counted(app(environ, start_response), meter, key)

    return wrapped


def _counted(body: Iterable[bytes], meter: Meter, key: str) -> Iterator[bytes]:
    try:
        for chunk in body:
            meter.add(key, len(chunk))
            yield chunk
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


class S3Server:
    """moto's S3 server in a thread of this process, on ``host`` and a free port, with a meter.

    Use it as a context manager, or call ``start()`` and ``stop()``. ``endpoint`` is its URL
    (``http://127.0.0.1:PORT``) and ``options(key, secret)`` the fsspec/s3fs ``storage_options``
    that reach it; ``counts(key)`` the bytes served to requests signed with access key ``key``.

    Parameters
    ----------
    host : str
        Address to listen on (loopback by default).
    port : int
        Port to listen on; 0 (the default) picks a free one.

    Examples
    --------
    >>> with S3Server() as server:  # doctest: +SKIP
    ...     opts = server.options("AKIAEXAMPLE", "secret")
    ...     lv.open("s3://bucket/vol.nii", storage_options=opts)
    ...     server.counts("AKIAEXAMPLE")["bytes"]
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.meter = Meter()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """The server's URL, ``http://HOST:PORT``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> S3Server:
        """Serve in a daemon thread; returns once the socket listens."""
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass  # one line per request would drown a test's or benchmark's output

        app = counting_app(DomainDispatcherApplication(create_backend_app), self.meter)
        self._server = make_server(
            self.host, self.port, app, threaded=True, request_handler=QuietHandler
        )
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="lazyvol-s3-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def options(self, key: str, secret: str, **extra: Any) -> dict[str, Any]:
        """``storage_options`` for fsspec's ``s3://`` (s3fs) that reach this server."""
        return s3_options(self.endpoint, key, secret, **extra)

    def counts(self, key: str) -> dict[str, int]:
        """Body bytes served and requests received for access key ``key`` so far."""
        return self.meter.get(key)


def s3_options(endpoint: str, key: str, secret: str, **extra: Any) -> dict[str, Any]:
    """``storage_options`` for s3fs that reach an S3-compatible ``endpoint`` with these keys."""
    return {
        "key": key,
        "secret": secret,
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        **extra,
    }


def read_counts(endpoint: str, key: str, timeout: float = 10.0) -> dict[str, int]:
    """The counts of access key ``key`` from a running ``S3Server``, from any process.

    Parameters
    ----------
    endpoint : str
        The server's URL (``S3Server.endpoint``).
    key : str
        An access key id.
    timeout : float
        Seconds to wait for the answer.

    Returns
    -------
    dict
        ``{"bytes": response body bytes served, "requests": requests received}``.
    """
    url = f"{endpoint}{COUNTS_PATH}?" + urllib.parse.urlencode({"key": key})
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # loopback, our own server
        out: dict[str, int] = json.loads(resp.read())
    return out
