"""S3 requests other than the byte layer's ranged reads -- a prefix's listing (a DICOM series or a
Zarr store on S3) and an object's HEAD -- within ``LAZYVOL_REMOTE_DEADLINE``: a proxy in front of
moto that drips the answer a few bytes at a time, never stalling as long as
``LAZYVOL_REMOTE_TIMEOUT`` (botocore's timeouts bound a stall only), held lv.open as long as it
dripped. Each is now a RemoteTimeoutError naming the URL and the deadline."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from remote_servers import S3, QuietProxy, free_port, relay, send_head, serving

import lazyvol as lv
from lazyvol import _io
from lazyvol.errors import RemoteTimeoutError
from lazyvol.testing.dicom import write_dicom_series

#: Bytes per drip and seconds between drips: never a stall of the 1 s timeout set here.
DRIP, PAUSE = 256, 0.2


#: HEADs a stalling proxy received; set to let their handlers end.
heads: list[str] = []
released = threading.Event()


def _dripping_proxy(upstream: int, which: str) -> type[BaseHTTPRequestHandler]:
    """A pass-through proxy to the S3 server on port ``upstream`` dripping the answers to
    ``which`` requests: "list" (a GET of the bucket with ``list-type``), "head" (the headers of
    HEAD answers, a line at a time); or "stall": HEADs never answered (:data:`heads`)."""

    class Proxy(QuietProxy):
        def _forward(self) -> None:
            if which == "stall" and self.command == "HEAD":
                heads.append(self.path)
                released.wait(30)  # (the client gives up first: its timeout)
                self.close_connection = True
                return
            status, headers, data = relay(self, upstream)
            listing = self.command == "GET" and "list-type" in self.path
            if which == "head" and self.command == "HEAD":
                self.close_connection = True
                try:
                    self.wfile.write(f"HTTP/1.1 {status} OK\r\n".encode())
                    for k, v in [*headers, ("Connection", "close")]:
                        if k.lower() != "connection":
                            self.wfile.flush()
                            time.sleep(2 * PAUSE)
                        self.wfile.write(f"{k}: {v}\r\n".encode())
                    self.wfile.write(b"\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return
            send_head(self, status, headers)
            if self.command == "HEAD":
                return
            if which == "list" and listing:
                try:
                    for at in range(0, len(data), DRIP):
                        self.wfile.write(data[at : at + DRIP])
                        self.wfile.flush()
                        time.sleep(PAUSE)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True
                return
            self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = _forward

    return Proxy


def _through(s3_server: S3, which: str) -> tuple[dict[str, Any], Any]:
    port = free_port()
    upstream = int(s3_server.endpoint.rsplit(":", 1)[1])
    opts = s3_server.options()
    opts["client_kwargs"] = {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"}
    return opts, serving(_dripping_proxy(upstream, which), port)


@pytest.mark.usefixtures("_deadline")
def test_a_dripping_listing_of_a_dicom_prefix_ends_at_the_deadline(
    tmp_path: Path, s3_server: S3, s3_bucket: str
):
    truth = write_dicom_series(tmp_path / "s", (12, 10, 40))
    for f in truth.files:  # (long names: a listing of some kilobytes, dripped for seconds)
        key = f"series/{'x' * 200}-{Path(f).name}"
        s3_server.client.put_object(Bucket=s3_bucket, Key=key, Body=Path(f).read_bytes())
    opts, proxy = _through(s3_server, "list")
    with (
        proxy,
        pytest.raises(RemoteTimeoutError, match=r"/series/: .*LAZYVOL_REMOTE_DEADLINE=1\.5"),
    ):
        lv.open(f"s3://{s3_bucket}/series/", storage_options=opts)


@pytest.mark.usefixtures("_deadline")
def test_a_dripping_head_ends_at_the_deadline(s3_server: S3, s3_bucket: str):
    s3_server.client.put_object(Bucket=s3_bucket, Key="a.bin", Body=b"x" * 64)
    opts, proxy = _through(s3_server, "head")
    with proxy, pytest.raises(RemoteTimeoutError, match=r"a\.bin: .*LAZYVOL_REMOTE_DEADLINE=1\.5"):
        _io.stamp(_io.Location.of(f"s3://{s3_bucket}/a.bin", opts))


def test_a_stalled_head_is_asked_as_botocore_retries_only(
    s3_server: S3, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
):
    """botocore tries a timed-out request again (3 attempts), and s3fs's own loop tried each of
    those 5 times: a HEAD the server never answers was asked 20 times, 20 timeouts and back-offs
    (39 s for LAZYVOL_REMOTE_TIMEOUT=1; 10 minutes and more at the default 30 s) before a
    RemoteTimeoutError saying 'no response for 1 s'."""
    monkeypatch.setenv("LAZYVOL_REMOTE_TIMEOUT", "1")
    monkeypatch.delenv("LAZYVOL_REMOTE_DEADLINE", raising=False)
    _io.clear_filesystems()
    s3_server.client.put_object(Bucket=s3_bucket, Key="a.bin", Body=b"x" * 64)
    opts, proxy = _through(s3_server, "stall")
    heads.clear()
    released.clear()
    try:
        with proxy, pytest.raises(RemoteTimeoutError, match=r"a\.bin: no response for 1 s"):
            _io.stamp(_io.Location.of(f"s3://{s3_bucket}/a.bin", opts))
    finally:
        released.set()
        _io.clear_filesystems()
    assert 1 <= len(heads) <= 4  # (botocore's attempts: 20 with s3fs's loop around them)
