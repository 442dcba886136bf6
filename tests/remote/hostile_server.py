"""A controllable, misbehaving HTTP/1.1 server on 127.0.0.1 (a threaded stdlib ``http.server``):
each object carries its own behaviour, which a test may change between ``open`` and ``compute``
(a wrong or shorter ``Content-Range``, Range ignored, a status for the first N requests,
Content-Encoding, no ETag or Last-Modified, If-Match ignored on one path, GETs answered by
another version of the object than HEADs, versions served in turn...). With ``index_pages``, a
URL ending in ``/`` is answered with an index page linking the objects below it (as
``http.server`` lists a folder).

Every request is logged as ``(method, path, Range, status)``.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from remote_servers import free_port, serving


@dataclass
class Hostile:
    """One object and how it is served (every behaviour off by default)."""

    data: bytes
    #: "auto": a strong ETag from the content; None: no ETag header; else this header value.
    etag: str | None = "auto"
    #: Last-Modified (seconds since the epoch), or None for no header.
    mtime: float | None = 1_700_000_000.0
    norange: bool = False  # ignore Range: 200 with the whole object
    shift: int = 0  # a 206 of other bytes (shifted so), its Content-Range saying so
    cap: int = 0  # a 206 of at most this many bytes (Content-Range honest)
    halve: bool = False  # a 206 of half the bytes asked (Content-Range honest)
    more: int = 0  # a 206 of this many bytes past the end asked (Content-Range honest)
    #: a 416 for every ranged GET, its Content-Range naming the whole object (a proxy refusing
    #: ranges it could serve)
    refuse_ranges: bool = False
    status_get: int | None = None  # this status for GETs ...
    status_head: int | None = None  # ... and HEADs,
    status_times: int | None = None  # for the first N requests only (None: all)
    gzip_body: bool = False  # every body gzip-compressed on the fly, Content-Encoding: gzip
    encoding_label: str = ""  # Content-Encoding header on the raw bytes (GETs and HEADs)
    encoding_get_only: bool = False  # ... on GETs only
    stall: float = 0.0  # seconds to wait before answering (GET and HEAD)
    hangup: bool = False  # close the connection without answering (a restarting server) ...
    hangup_times: int | None = None  # ... up to the Nth request only (None: all)
    #: the first N GETs send half their body (with ``chunked``: in one chunk, no last chunk),
    #: then the connection is closed (a proxy or load balancer dropping it mid-transfer)
    cut_times: int = 0
    chunked: bool = False  # bodies sent in chunks (Transfer-Encoding), no Content-Length at all
    #: a Content-Length this many bytes off the body sent (negative: it says fewer bytes than
    #: sent; positive: more, the connection closed after the body), Content-Range honest
    length_lie: int = 0
    ignore_if_match: bool = False
    redirect_to: str = ""  # a 302 to this path for every request (itself: a redirect loop)
    #: GETs answered from these bytes (with their own ETag), HEADs from ``data``: a cache or a
    #: stale replica answering HEADs while the object was replaced.
    get_data: bytes | None = None
    #: Requests answered in turn from ``data`` and each of these (each with its own ETag): two
    #: replicas behind a round-robin balancer during an update.
    replicas: tuple[bytes, ...] = ()
    requests: int = 0
    #: Body bytes written to clients (in 64 KiB pieces: a client that hangs up stops the count).
    sent: int = 0

    def served(self, n: int, body: bool) -> bytes:
        """The bytes request ``n`` (1-based) is answered from."""
        if body and self.get_data is not None:
            return self.get_data
        versions = (self.data, *self.replicas)
        return versions[(n - 1) % len(versions)]


@dataclass
class HostileServer:
    url: str
    objects: dict[str, Hostile] = field(default_factory=dict)
    log: list[tuple[str, str, str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Answer a URL ending in "/" with an index page of the objects below it (else 404).
    index_pages: bool = False

    def put(self, name: str, data: bytes, **behaviour: Any) -> str:
        """Serve ``data`` at ``/name`` with ``behaviour`` (fields of :class:`Hostile`)."""
        self.objects["/" + name.lstrip("/")] = Hostile(bytes(data), **behaviour)
        return f"{self.url}/{name.lstrip('/')}"

    def obj(self, name: str) -> Hostile:
        return self.objects["/" + name.lstrip("/")]

    def gets(self, name: str) -> list[tuple[str, str, str, int]]:
        with self.lock:
            return [e for e in self.log if e[0] == "GET" and e[1] == "/" + name.lstrip("/")]


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _handler(st: HostileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _simple(self, status: int, extra: dict[str, str] | None = None) -> int:
            self.send_response(status)
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return status

        def _range(self, obj: Hostile, size: int, etag: str | None) -> tuple[int, int, int] | int:
            """(status, start, stop) of the answer, or a status already sent (a 416 states the
            object's size and ETag)."""
            m = _RANGE.match(self.headers.get("Range", ""))
            if not m or obj.norange:
                return 200, 0, size
            refused = {"Content-Range": f"bytes */{size}", **({"ETag": etag} if etag else {})}
            if obj.refuse_ranges:
                return self._simple(416, refused)
            a, b = m.groups()
            start, stop = (
                (max(0, size - int(b)), size)
                if a == ""
                else (int(a), min(size, int(b) + 1) if b else size)
            )
            if start >= size:
                return self._simple(416, refused)
            n = stop - start
            if obj.shift:
                start = max(0, min(size - n, start + obj.shift))
                stop = start + n
            if obj.cap:
                stop = min(stop, start + obj.cap)
            if obj.halve:
                stop = start + max(1, (stop - start) // 2)
            if obj.more:
                stop = min(size, stop + obj.more)
            return 206, start, stop

        def _index(self, folder: str, body: bool) -> int:
            names = sorted(
                {p[len(folder) :].split("/", 1)[0] for p in st.objects if p.startswith(folder)}
            )
            if not names:
                return self._simple(404)
            page = "".join(f'<a href="{n}">{n}</a><br>' for n in names).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            if body:
                self.wfile.write(page)
            return 200

        def _answer(self, body: bool) -> int:
            path = self.path.split("?", 1)[0]
            if path.endswith("/") and st.index_pages:
                return self._index(path, body)
            obj = st.objects.get(path)
            if obj is None:
                return self._simple(404)
            with st.lock:
                obj.requests += 1
                n = obj.requests
            if obj.stall:
                time.sleep(obj.stall)
            if obj.hangup and (obj.hangup_times is None or n <= obj.hangup_times):
                self.close_connection = True
                return 0
            if obj.redirect_to:
                return self._simple(302, {"Location": obj.redirect_to})
            forced = obj.status_get if body else obj.status_head
            if forced is not None and (obj.status_times is None or n <= obj.status_times):
                return self._simple(forced, {"Retry-After": "0"} if forced in (429, 503) else {})
            data = obj.served(n, body)
            etag = None
            if obj.etag == "auto":
                etag = '"' + hashlib.md5(data).hexdigest() + '"'
            elif obj.etag:
                etag = obj.etag
            if_match = self.headers.get("If-Match")
            if if_match is not None and not obj.ignore_if_match and if_match.strip() != etag:
                return self._simple(412)
            size = len(data)
            got = self._range(obj, size, etag)
            if isinstance(got, int):
                return got
            status, start, stop = got
            payload = data[start:stop]
            headers = {"Accept-Ranges": "bytes"}
            if status == 206:
                headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
            if obj.gzip_body:
                payload = gzip.compress(payload)
                headers["Content-Encoding"] = "gzip"
            if obj.encoding_label and (body or not obj.encoding_get_only):
                headers["Content-Encoding"] = obj.encoding_label
            if etag:
                headers["ETag"] = etag
            if obj.mtime is not None:
                headers["Last-Modified"] = formatdate(obj.mtime, usegmt=True)
            self.send_response(status)
            if obj.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(max(0, len(payload) + obj.length_lie)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if body and n <= obj.cut_times:
                half = payload[: len(payload) // 2]
                if obj.chunked:  # (no last chunk: the body ends early)
                    half = b"%x\r\n%s\r\n" % (len(half), half) if half else b""
                self.wfile.write(half)
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return status
            if body:
                try:
                    for at in range(0, len(payload), 2**16):
                        piece = payload[at : at + 2**16]
                        with st.lock:  # (counted first: the client may check the count as soon
                            obj.sent += len(piece)  # as it has the bytes)
                        if obj.chunked:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        else:
                            self.wfile.write(piece)
                    if obj.chunked:
                        self.wfile.write(b"0\r\n\r\n")
                    if obj.length_lie:
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                except (BrokenPipeError, ConnectionResetError):  # the client had what it needed
                    self.close_connection = True
            return status

        def _serve(self, body: bool) -> None:
            # Logged before the answer is sent (its status filled in after): a test reading the
            # log once the client has its answer must see the request, which logging after the
            # answer raced (a HEAD missing from the log one run in a few under load).
            entry = (self.command, self.path, self.headers.get("Range", ""))
            placeholder = (*entry, 0)
            with st.lock:
                st.log.append(placeholder)
            status = 0
            try:
                status = self._answer(body)
            finally:
                with st.lock:  # (found by identity: a test may have cleared the log meanwhile)
                    at = next((i for i, e in enumerate(st.log) if e is placeholder), None)
                    if at is not None:
                        st.log[at] = (*entry, status)

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

    return Handler


@pytest.fixture
def hostile_server() -> Iterator[HostileServer]:
    """A misbehaving HTTP server on 127.0.0.1, one per test (see :class:`Hostile`)."""
    port = free_port()
    state = HostileServer(url=f"http://127.0.0.1:{port}")
    with serving(_handler(state), port):
        yield state
