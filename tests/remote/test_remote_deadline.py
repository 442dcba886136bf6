"""``LAZYVOL_REMOTE_DEADLINE``: a server that sends its answer a few bytes at a time, never
stalling as long as ``LAZYVOL_REMOTE_TIMEOUT`` (a slow drip), is ended by the deadline with a
RemoteTimeoutError naming it, over HTTP and S3 (moto behind a dripping proxy)."""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from remote_servers import S3, QuietProxy, free_port, relay, send_head, serving

from lazyvol import _io
from lazyvol.errors import OptionError, RemoteTimeoutError

#: Bytes per drip and seconds between drips: a 64-byte body takes 16 x 0.25 = 4 s, never
#: stalling for the 1 s timeout the tests set.
DRIP, PAUSE = 4, 0.25
DATA = bytes(range(64))


def _drip(wfile: Any, body: bytes) -> None:
    try:
        for at in range(0, len(body), DRIP):
            wfile.write(body[at : at + DRIP])
            wfile.flush()
            time.sleep(PAUSE)
    except (BrokenPipeError, ConnectionResetError):
        pass


class _Dripping(BaseHTTPRequestHandler):
    """An object of :data:`DATA` at any path: HEADs answered at once, GET bodies dripped."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _head(self, status: int, body: bytes, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"drip"')
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()

    def do_HEAD(self) -> None:
        self._head(200, DATA, {})

    def do_GET(self) -> None:
        a, b = self.headers.get("Range", "bytes=0-").removeprefix("bytes=").split("-")
        stop = int(b) + 1 if b else len(DATA)
        body = DATA[int(a) : stop]
        self._head(206, body, {"Content-Range": f"bytes {a}-{stop - 1}/{len(DATA)}"})
        _drip(self.wfile, body)
        self.close_connection = True


def _dripping_proxy(upstream: int) -> type[BaseHTTPRequestHandler]:
    """A pass-through proxy to the S3 server on port ``upstream`` dripping every GET body."""

    class Proxy(QuietProxy):
        def _forward(self) -> None:
            status, headers, data = relay(self, upstream)
            send_head(self, status, headers)
            if self.command == "GET":
                _drip(self.wfile, data)
                self.close_connection = True
            elif self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = _forward

    return Proxy


@pytest.mark.usefixtures("_deadline")
def test_a_dripping_http_answer_ends_at_the_deadline():
    """Without a deadline (aiohttp's total=None) the read took as long as the server dripped,
    every stall shorter than the timeout."""
    port = free_port()
    with serving(_Dripping, port):
        loc = _io.Location.of(f"http://127.0.0.1:{port}/a.bin")
        with pytest.raises(RemoteTimeoutError, match=r"LAZYVOL_REMOTE_DEADLINE=1\.5 s"):
            _io.read(loc, 0, 64)


@pytest.mark.usefixtures("_deadline")
def test_a_dripping_s3_answer_ends_at_the_deadline(s3_server: S3, s3_bucket):
    """botocore's timeouts bound a stall only; the byte layer's S3 reads have the deadline."""
    s3_server.client.put_object(Bucket=s3_bucket, Key="a.bin", Body=DATA)
    port = free_port()
    upstream = int(s3_server.endpoint.rsplit(":", 1)[1])
    opts = {**s3_server.options(), "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}"}}
    opts["client_kwargs"]["region_name"] = "us-east-1"
    with serving(_dripping_proxy(upstream), port):
        loc = _io.Location.of(f"s3://{s3_bucket}/a.bin", opts)
        with pytest.raises(RemoteTimeoutError, match=r"LAZYVOL_REMOTE_DEADLINE=1\.5 s"):
            _io.read(loc, 0, 64)


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf"])
def test_a_deadline_that_is_no_time_is_refused(monkeypatch: pytest.MonkeyPatch, value):
    monkeypatch.setenv("LAZYVOL_REMOTE_DEADLINE", value)
    with pytest.raises(OptionError, match=r"LAZYVOL_REMOTE_DEADLINE=.*seconds"):
        _io.filesystem(_io.Location.of("http://127.0.0.1:9/a.bin"))
