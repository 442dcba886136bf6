"""An S3-compatible server that ignores ``Range`` (a proxy in front of moto dropping the header,
as some gateways do): a ranged read is refused without receiving the whole object."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest
from remote_servers import S3, QuietProxy, free_port, relay, send_head, serving

from lazyvol import _io
from lazyvol.errors import RemoteReadError

#: The object's size: far more than the client's and the kernel's buffers hold.
SIZE = 24 * 2**20


def _range_dropping_proxy(upstream: int, sent: list[int]) -> type[BaseHTTPRequestHandler]:
    """A pass-through proxy to the S3 server on port ``upstream`` that drops every ``Range``
    header, sending bodies in 64 KiB pieces, the bytes written counted in ``sent[0]`` (a client
    that closes the connection stops the count)."""
    lock = threading.Lock()

    class Proxy(QuietProxy):
        def _forward(self) -> None:
            status, headers, data = relay(self, upstream, drop=("range",))
            send_head(self, status, headers)
            if self.command == "HEAD":
                return
            try:
                for at in range(0, len(data), 2**16):
                    self.wfile.write(data[at : at + 2**16])
                    with lock:
                        sent[0] += len(data[at : at + 2**16])
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = do_HEAD = do_PUT = do_POST = _forward

    return Proxy


def test_a_server_ignoring_range_is_refused_before_the_object_is_received(s3_server: S3, s3_bucket):
    """s3fs read the whole body of the answer (the whole object, 24 MiB) before the byte layer
    refused a read of the wrong length; the answer is now judged by its status and headers
    (200, no Content-Range) and closed unread."""
    data = np.random.default_rng(0).integers(0, 255, SIZE, dtype=np.uint8).tobytes()
    s3_server.client.put_object(Bucket=s3_bucket, Key="big.bin", Body=data)
    sent = [0]
    port = free_port()
    upstream = int(s3_server.endpoint.rsplit(":", 1)[1])
    opts = {**s3_server.options(), "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}"}}
    opts["client_kwargs"]["region_name"] = "us-east-1"
    loc = _io.Location.of(f"s3://{s3_bucket}/big.bin", opts)
    with serving(_range_dropping_proxy(upstream, sent), port):
        for read in (
            lambda: _io.read(loc, 1000, 16),
            lambda: _io.read_ranges([(loc, 1000, 16), (loc, 5000, 16)]),
        ):
            sent[0] = 0
            with pytest.raises(RemoteReadError, match="ignores Range") as info:
                read()
            assert "closed unread" in str(info.value)
            assert sent[0] < SIZE // 3, sent[0]
    _io.clear_filesystems()
    # the same reads through moto itself (Range honoured): the object's bytes
    direct = _io.Location.of(f"s3://{s3_bucket}/big.bin", s3_server.options())
    assert _io.read(direct, 1000, 16) == data[1000:1016]
    assert _io.read_ranges([(direct, 5000, 16), (direct, 1000, 8)]) == [
        data[5000:5016],
        data[1000:1008],
    ]


def test_a_whole_read_from_a_server_ignoring_range_stops_at_once(s3_server: S3, s3_bucket):
    """A bounded whole read (a Zarr store's metadata file: at most ``limit`` bytes, asked as the
    range 0-limit) received the whole 24 MiB object before refusing it as too large; it is now
    refused as an answer ignoring Range and closed unread. An object no longer than the range
    asked, sent whole, is that object."""
    data = np.random.default_rng(1).integers(0, 255, SIZE, dtype=np.uint8).tobytes()
    s3_server.client.put_object(Bucket=s3_bucket, Key="big.bin", Body=data)
    s3_server.client.put_object(Bucket=s3_bucket, Key="small.json", Body=b'{"a": 1}')
    sent = [0]
    port = free_port()
    upstream = int(s3_server.endpoint.rsplit(":", 1)[1])
    opts = {**s3_server.options(), "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}"}}
    opts["client_kwargs"]["region_name"] = "us-east-1"
    with serving(_range_dropping_proxy(upstream, sent), port):
        big = _io.Location.of(f"s3://{s3_bucket}/big.bin", opts)
        with pytest.raises(RemoteReadError, match="ignores Range"):
            _io.read_whole(big, 2**20, what="the file", fix="none")
        assert sent[0] < SIZE // 3, sent[0]
        small = _io.Location.of(f"s3://{s3_bucket}/small.json", opts)
        assert _io.read_whole(small, 2**20, what="the file", fix="none") == b'{"a": 1}'
    _io.clear_filesystems()
