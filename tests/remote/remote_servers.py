"""Real servers on loopback for remote-source tests (no internet, no mocks).

- :func:`http_server`: a stdlib ``http.server`` with HTTP/1.1 Range support that counts the body
  bytes and requests it serves, and can misbehave on purpose per object (deny, cut the response,
  stall, ignore Range).
- :func:`s3_server`: moto's S3-compatible server (:class:`lazyvol.testing.s3.S3Server`, shared
  with the ``remote`` benchmark group) on a free port of 127.0.0.1, with :func:`s3_bucket` making
  a fresh bucket per test.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

#: Credentials the S3 tests send (moto accepts any); the tests check they never leak.
S3_KEY = "AKIALAZYVOLTESTKEY01"
S3_SECRET = "lazyvol-test-secret-DO-NOT-PRINT-8c1e"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Obj:
    data: bytes
    #: "", "deny" (403), "error" (500), "cut" (close mid-body), "stall" (send part, then hang),
    #: "norange" (ignore Range: 200 with the whole object), "weak" (a weak ETag, ``W/"..."``, as
    #: servers that may transform the body send: no If-Match can use it), "weakhead" (the weak
    #: form on HEAD, the strong one on GET, as a CDN weakening what it might compress)
    mode: str = ""
    mtime: float = 1_700_000_000.0


@dataclass
class HttpServer:
    """Handle on the running server: add objects, read the counters."""

    url: str
    objects: dict[str, Obj] = field(default_factory=dict)
    bytes_served: int = 0
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)
    #: Serve every GET whatever its If-Match says, as some servers and proxies do.
    ignore_if_match: bool = False
    #: An Authorization header every request must carry (else 401), when set.
    require_authorization: str | None = None

    def put(self, name: str, data: bytes, mode: str = "") -> str:
        """Serve ``data`` at ``/name``; returns its URL. A name with a query (``get?key=b``) is
        served for that query only, the name without one for any other."""
        self.objects["/" + name.lstrip("/")] = Obj(bytes(data), mode)
        return f"{self.url}/{name.lstrip('/')}"

    def reset_counts(self) -> None:
        with self.lock:
            self.bytes_served = 0
            self.requests.clear()


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _handler(state: HttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send_body(self, body: bytes) -> None:
            # Counted before sending: the client may return before this thread runs again.
            with state.lock:
                state.bytes_served += len(body)
            self.wfile.write(body)

        def _head(self, obj: Obj, status: int, length: int, extra: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            tag = '"' + hashlib.md5(obj.data).hexdigest() + '"'
            weak = obj.mode == "weak" or (obj.mode == "weakhead" and self.command == "HEAD")
            self.send_header("ETag", "W/" + tag if weak else tag)
            self.send_header("Last-Modified", formatdate(obj.mtime, usegmt=True))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()

        def _serve(self, body: bool) -> None:
            rng = self.headers.get("Range", "")
            with state.lock:
                state.requests.append((self.command, self.path, rng))
            # an object put with its query (a download API's "get?key=b.nii") first
            obj = state.objects.get(self.path) or state.objects.get(self.path.split("?", 1)[0])
            if obj is None:
                self.send_error(404)
                return
            if obj.mode in ("deny", "error"):
                self.send_response(403 if obj.mode == "deny" else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            wanted = state.require_authorization
            if wanted is not None and self.headers.get("Authorization") != wanted:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            etag = '"' + hashlib.md5(obj.data).hexdigest() + '"'
            if_match = self.headers.get("If-Match")
            if (
                if_match is not None
                and not state.ignore_if_match
                and if_match.strip() not in ("*", etag)
            ):
                self.send_response(412)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            size = len(obj.data)
            start, stop, status, extra = 0, size, 200, {}
            m = _RANGE.match(rng)
            if m and obj.mode != "norange":
                a, b = m.groups()
                if a == "":
                    start, stop = max(0, size - int(b)), size
                else:
                    start = int(a)
                    stop = min(size, int(b) + 1) if b else size
                if start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
                extra = {"Content-Range": f"bytes {start}-{stop - 1}/{size}"}
            payload = obj.data[start:stop]
            self._head(obj, status, len(payload), extra)
            if not body:
                return
            if obj.mode == "cut":
                self._send_body(payload[: len(payload) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if obj.mode == "stall":
                self._send_body(payload[: len(payload) // 2])
                self.wfile.flush()
                state.release.wait(30)  # the client must give up first (its timeout)
                self.close_connection = True
                return
            self._send_body(payload)

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

    return Handler


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server whose listen backlog holds a burst of connections: lazyvol opens
    many at once (ranged reads in flight), and ``socketserver``'s default backlog of 5 leaves the
    rest waiting on the client's SYN retries (a second or more each) when the handlers lag."""

    request_queue_size = 128
    daemon_threads = True


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], port: int) -> Iterator[None]:
    """Run a threaded HTTP server of ``handler`` on 127.0.0.1:``port`` for the ``with`` block;
    then stop it and forget the filesystems whose connection pools point at it."""
    server = LoopbackHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        from lazyvol import _io

        _io.clear_filesystems()


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    """A Range-capable HTTP server on 127.0.0.1 (one per test, so counts start at zero)."""
    port = free_port()
    state = HttpServer(url=f"http://127.0.0.1:{port}")
    with serving(_handler(state), port):
        try:
            yield state
        finally:
            state.release.set()  # stalled answers end before the server stops


@dataclass
class S3:
    endpoint: str
    client: Any

    def options(self, **extra: Any) -> dict[str, Any]:
        """storage_options that reach this server."""
        return {
            "key": S3_KEY,
            "secret": S3_SECRET,
            "client_kwargs": {"endpoint_url": self.endpoint, "region_name": "us-east-1"},
            **extra,
        }


class QuietProxy(BaseHTTPRequestHandler):
    """The base of the proxies to the S3 server the tests put in between: HTTP/1.1 (keep-alive,
    as botocore talks), no request log on stderr."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass


def relay(
    handler: BaseHTTPRequestHandler, upstream_port: int, drop: tuple[str, ...] = ()
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Forward ``handler``'s request (its body, its headers but ``drop``, lower-case names) to
    the server on ``upstream_port``; its answer's status, headers and whole body, for a proxy
    to pass on (as it changes them)."""
    import http.client

    n = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(n) if n else None
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in drop}
    conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
    conn.request(handler.command, handler.path, body=body, headers=headers)
    answer = conn.getresponse()
    data = answer.read()
    conn.close()
    return answer.status, answer.getheaders(), data


def send_head(
    handler: BaseHTTPRequestHandler,
    status: int,
    headers: list[tuple[str, str]],
    drop: tuple[str, ...] = (),
) -> None:
    """Send a relayed answer's status and headers (:func:`relay`) from ``handler``, but the
    hop-by-hop ones (the proxy frames the body itself) and ``drop`` (lower-case names); the
    body is the proxy's to write, as it changes it."""
    handler.send_response(status)
    for k, v in headers:
        if k.lower() not in ("transfer-encoding", "connection", *drop):
            handler.send_header(k, v)
    handler.end_headers()


def pass_on(
    handler: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], data: bytes
) -> None:
    """Pass a relayed answer (:func:`relay`) on unchanged from ``handler``: its status and
    headers (:func:`send_head`), then its body unless the request was a HEAD."""
    send_head(handler, status, headers)
    if handler.command != "HEAD":
        handler.wfile.write(data)


def listing_ms_proxy(upstream_port: int, rewritten: list[int]) -> type[BaseHTTPRequestHandler]:
    """A pass-through proxy to the S3 server on ``upstream_port`` whose bucket listings carry
    LastModified with milliseconds (``...T12:00:00.123Z``), as MinIO and Ceph list them, where
    moto lists whole seconds; HEAD keeps its whole-second Last-Modified. Each listing rewritten
    is counted in ``rewritten``."""

    class Proxy(QuietProxy):
        def _forward(self) -> None:
            status, headers, data = relay(self, upstream_port)
            if b"<ListBucketResult" in data:
                data = re.sub(rb"(<LastModified>[^<]*?)\.000Z", rb"\1.123Z", data)
                rewritten.append(1)
            self.send_response(status)
            for k, v in headers:
                if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(k, v)
            length = dict((k.lower(), v) for k, v in headers).get("content-length", "0")
            self.send_header("Content-Length", length if self.command == "HEAD" else str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

    return Proxy


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3]:
    """moto's S3 server on a free loopback port for the whole session."""
    pytest.importorskip("moto.server", reason="moto[server] is in the test extra")
    boto3 = pytest.importorskip("boto3")
    from lazyvol.testing.s3 import S3Server

    server = S3Server("127.0.0.1").start()  # a free port, bytes counted per access key
    endpoint = server.endpoint
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        region_name="us-east-1",
    )
    try:
        yield S3(endpoint, client)
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new empty bucket; the environment holds no AWS credentials (options carry them)."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    name = f"lv-{uuid.uuid4().hex[:12]}"
    s3_server.client.create_bucket(Bucket=name)
    return name


#: S3's answer to a request the bucket policy does not grant.
ACCESS_DENIED = (
    b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
    b"<Message>Access Denied</Message></Error>"
)


def no_list_proxy(upstream: int, listings: list[str]) -> type[BaseHTTPRequestHandler]:
    """A pass-through proxy to the S3 server on port ``upstream`` for a caller granted
    s3:GetObject without s3:ListBucket: 403 AccessDenied to every listing (each noted in
    ``listings``) and where the server answers 404 (S3's answer for a missing key then)."""

    class Proxy(QuietProxy):
        def _forward(self) -> None:
            listing = self.command == "GET" and ("list-type" in self.path or "prefix=" in self.path)
            if listing:
                listings.append(self.path)
            status, headers, data = relay(self, upstream)
            if status == 404 or listing:
                self.send_response(403)
                self.send_header("Content-Type", "application/xml")
                body = ACCESS_DENIED if self.command != "HEAD" else b""
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            pass_on(self, status, headers, data)

        do_GET = do_HEAD = do_PUT = do_POST = _forward

    return Proxy


@contextmanager
def no_list_options(s3: S3) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """Storage options reaching ``s3`` through :func:`no_list_proxy`, and the listings asked."""
    from lazyvol import _io

    port = free_port()
    upstream = int(s3.endpoint.rsplit(":", 1)[1])
    opts = s3.options()
    opts["client_kwargs"] = {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"}
    listings: list[str] = []
    with serving(no_list_proxy(upstream, listings), port):
        yield opts, listings
    _io.clear_filesystems()


def store_files(root: Path) -> dict[str, bytes]:
    """Every file under the local store folder ``root`` by its path there (``"0/c/1/0/0"``), to
    put on a server."""
    return {f.relative_to(root).as_posix(): f.read_bytes() for f in root.rglob("*") if f.is_file()}
