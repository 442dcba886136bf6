"""S3 reads through a proxy in front of moto that answers a ranged GetObject with fewer bytes
than asked (a ``206`` whose ``Content-Range`` honestly names a shorter range: HTTP allows it,
and some gateways cap the bytes of one answer). The truth is nibabel's reading of the file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from remote_servers import S3, free_port, relay, serving

import lazyvol as lv
from lazyvol import _io
from lazyvol.errors import RemoteReadError
from lazyvol.testing.nifti import write_phantom_nifti

_RANGE = re.compile(r"bytes=(\d+)-(\d+)")


def _capping_proxy(upstream: int, cap: int, after: list[int]) -> type[BaseHTTPRequestHandler]:
    """A pass-through proxy to moto asking it for at most ``cap`` bytes of each ranged GET once
    ``after[0]`` is set (so the answer is an honest, shorter 206)."""

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _forward(self) -> None:
            m = _RANGE.fullmatch(self.headers.get("Range", ""))
            if after[0] and m and self.command == "GET":
                a, b = int(m.group(1)), int(m.group(2))
                del self.headers["Range"]
                self.headers["Range"] = f"bytes={a}-{min(b, a + cap - 1)}"
            status, headers, data = relay(self, upstream)
            self.send_response(status)
            for k, v in headers:
                if k.lower() not in ("transfer-encoding", "connection"):
                    self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = _forward

    return Proxy


@pytest.fixture
def _fresh() -> Iterator[None]:
    _io.clear_filesystems()
    yield
    _io.clear_filesystems()


@pytest.mark.usefixtures("_fresh")
@pytest.mark.parametrize("cap", [1000, 7])
def test_shorter_206_answers_are_followed_up(tmp_path, s3_server: S3, s3_bucket, cap, monkeypatch):
    """A shorter honest 206 was taken for a truncated object ('FormatError: ... truncated'):
    the object holds the bytes, the server only sent fewer; the rest is now asked for."""
    path = write_phantom_nifti(tmp_path / "a.nii", (40, 30, 20), dtype="int16")
    s3_server.client.put_object(Bucket=s3_bucket, Key="a.nii", Body=open(path, "rb").read())
    port, after = free_port(), [0]
    opts = s3_server.options()
    opts["client_kwargs"] = {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"}
    upstream = int(s3_server.endpoint.rsplit(":", 1)[1])
    with serving(_capping_proxy(upstream, cap, after), port):
        vol = lv.open(f"s3://{s3_bucket}/a.nii", storage_options=opts, scale=False)
        after[0] = 1
        if cap >= 1000:
            got = np.asarray(vol.compute())
            np.testing.assert_array_equal(got, nib.load(path).dataobj.get_unscaled())
        else:  # (7 bytes an answer: more answers than a range may come in)
            monkeypatch.setattr("lazyvol._s3_range.MAX_PIECES", 16)
            with pytest.raises(RemoteReadError, match=r"a\.nii: .*in pieces"):
                vol.compute()
