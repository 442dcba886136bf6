"""S3 answers a gateway in front of the object store (a proxy in front of moto) bends:

- each answer capped at 100 bytes (HTTP lets a server send fewer bytes than asked): a 3200-byte
  read comes in 32 quick answers, each its own request for ``LAZYVOL_REMOTE_DEADLINE`` (the
  deadline ran over all of them: RemoteTimeoutError for a server answering each at once);
- a ``Content-Length`` stating more bytes than its ``Content-Range`` names: refused unread,
  naming both (it was said to be 'it ignores Range requests'). One stating fewer leaves the
  rest of the body where the connection's next answer should begin: aiohttp fails to parse it
  and botocore tries again; a typed error.

The voxels nibabel reads from the local file, or a typed error; never other values."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from remote_servers import S3, QuietProxy, free_port, pass_on, relay, serving

import lazyvol as lv
from lazyvol import _io
from lazyvol.errors import LazyvolError, RemoteReadError
from lazyvol.testing.nifti import write_phantom_nifti


def _bending_proxy(upstream: int, mode: list[str]) -> type[BaseHTTPRequestHandler]:
    """A pass-through proxy to the S3 server on port ``upstream`` bending the answers to ranged
    object GETs as ``mode[0]`` says: "cap" (at most 100 bytes asked of the server), "more" /
    "fewer" (a Content-Length 7 bytes off the body sent, the connection then closed)."""

    class Proxy(QuietProxy):
        def _forward(self) -> None:
            asked = self.headers.get("Range")
            ranged = self.command == "GET" and bool(asked) and "list-type" not in self.path
            if ranged and mode[0] == "cap":
                start = re.match(r"bytes=(\d+)-", str(asked)).group(1)  # type: ignore[union-attr]
                del self.headers["Range"]
                self.headers["Range"] = f"bytes={start}-{int(start) + 99}"
            status, headers, data = relay(self, upstream)
            if ranged and mode[0] in ("more", "fewer"):
                lie = 7 if mode[0] == "more" else -7
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data) + lie))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            pass_on(self, status, headers, data)

        do_GET = do_HEAD = do_PUT = do_POST = _forward

    return Proxy


@pytest.fixture
def through(
    s3_server: S3, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """(storage options through the proxy, its mode to set)."""
    monkeypatch.setenv("LAZYVOL_REMOTE_TIMEOUT", "2")
    monkeypatch.setenv("LAZYVOL_REMOTE_DEADLINE", "1")
    _io.clear_filesystems()
    port, mode = free_port(), [""]
    upstream = int(s3_server.endpoint.rsplit(":", 1)[1])
    opts = s3_server.options()
    opts["client_kwargs"] = {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"}
    with serving(_bending_proxy(upstream, mode), port):
        yield opts, mode
    _io.clear_filesystems()


def _nifti(tmp_path: Path, s3_server: S3, bucket: str) -> tuple[str, np.ndarray]:
    path = write_phantom_nifti(tmp_path / "a.nii", (20, 10, 8))
    s3_server.client.put_object(Bucket=bucket, Key="a.nii", Body=Path(path).read_bytes())
    return f"s3://{bucket}/a.nii", np.asarray(nib.load(path).dataobj.get_unscaled())


def test_answers_capped_small_give_the_voxels_each_within_the_deadline(
    tmp_path, s3_server: S3, s3_bucket, through
):
    opts, mode = through
    url, truth = _nifti(tmp_path, s3_server, s3_bucket)
    vol = lv.open(url, scale=False, storage_options=opts)
    mode[0] = "cap"
    np.testing.assert_array_equal(np.asarray(vol.compute()), truth)


def test_a_content_length_longer_than_the_range_is_refused(
    tmp_path, s3_server: S3, s3_bucket, through
):
    opts, mode = through
    url, _truth = _nifti(tmp_path, s3_server, s3_bucket)
    vol = lv.open(url, scale=False, storage_options=opts)
    mode[0] = "more"
    with pytest.raises(
        RemoteReadError, match=r"s3://\S+/a\.nii: .*names 3200 bytes in Content-Range .*3207"
    ):
        vol.compute()


def test_a_content_length_shorter_than_the_range_is_a_typed_error(
    tmp_path, s3_server: S3, s3_bucket, through
):
    opts, mode = through
    url, _truth = _nifti(tmp_path, s3_server, s3_bucket)
    vol = lv.open(url, scale=False, storage_options=opts)
    mode[0] = "fewer"
    with pytest.raises(LazyvolError, match=r"s3://\S+/a\.nii: "):
        vol.compute()
