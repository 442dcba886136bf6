"""S3 reads through a proxy in front of moto that answers a ranged GetObject with fewer bytes
than asked (a ``206`` whose ``Content-Range`` honestly names a shorter range: HTTP allows it,
and some gateways cap the bytes of one answer). The truth is nibabel's reading of the file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import nibabel as nib
import numpy as np
import pytest
from remote_servers import S3, QuietProxy, free_port, pass_on, relay, send_head, serving

import lazyvol as lv
from lazyvol import _io
from lazyvol.errors import RemoteReadError
from lazyvol.testing.nifti import write_phantom_nifti

_RANGE = re.compile(r"bytes=(\d+)-(\d+)")


def _capping_proxy(upstream: int, cap: int, after: list[int]) -> type[BaseHTTPRequestHandler]:
    """A pass-through proxy to moto asking it for at most ``cap`` bytes of each ranged GET once
    ``after[0]`` is set (so the answer is an honest, shorter 206)."""

    class Proxy(QuietProxy):
        def _forward(self) -> None:
            m = _RANGE.fullmatch(self.headers.get("Range", ""))
            if after[0] and m and self.command == "GET":
                a, b = int(m.group(1)), int(m.group(2))
                del self.headers["Range"]
                self.headers["Range"] = f"bytes={a}-{min(b, a + cap - 1)}"
            status, headers, data = relay(self, upstream)
            pass_on(self, status, headers, data)

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


def _etag_dropping_proxy(upstream: int) -> type[BaseHTTPRequestHandler]:
    """A pass-through proxy to moto whose GET answers carry no ETag (HEADs keep theirs), as
    some S3-compatible gateways answer ranged GETs."""

    class Proxy(QuietProxy):
        def _forward(self) -> None:
            status, headers, data = relay(self, upstream)
            send_head(self, status, headers, ("etag",) if self.command == "GET" else ())
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = _forward

    return Proxy


def _other_voxels(raw: bytes, offset: int) -> bytes:
    return raw[:offset] + bytes((b + 1) % 256 for b in raw[offset:])


@pytest.mark.usefixtures("_fresh")
def test_each_s3_read_is_one_request_its_answer_checked(tmp_path, s3_server: S3, s3_bucket):
    """Each task's read was a GetObject and a HEAD (the object checked after the bytes came);
    the GetObject's own ETag and Content-Range size now check it: one request a chunk, and an
    object replaced after open still refused."""
    from lazyvol.errors import SourceChangedError
    from lazyvol.testing.s3 import read_counts, s3_options

    path = write_phantom_nifti(tmp_path / "a.nii", (64, 64, 32), dtype="int16")
    raw = open(path, "rb").read()
    s3_server.client.put_object(Bucket=s3_bucket, Key="a.nii", Body=raw)
    opts = s3_options(s3_server.endpoint, "AKIAONEREQUEST", "x")
    vol = lv.open(f"s3://{s3_bucket}/a.nii", storage_options=opts, scale=False, chunks=(64, 64, 4))
    before = read_counts(s3_server.endpoint, "AKIAONEREQUEST")["requests"]
    np.testing.assert_array_equal(vol.compute(), nib.load(path).dataobj.get_unscaled())
    after = read_counts(s3_server.endpoint, "AKIAONEREQUEST")["requests"]
    assert after - before == vol.data.npartitions == 8
    offset = int(nib.load(path).dataobj.offset)
    s3_server.client.put_object(Bucket=s3_bucket, Key="a.nii", Body=_other_voxels(raw, offset))
    with pytest.raises(SourceChangedError, match=r"a\.nii: the object changed"):
        vol.compute()


@pytest.mark.usefixtures("_fresh")
def test_an_answer_without_an_etag_is_checked_by_a_head(tmp_path, s3_server: S3, s3_bucket):
    """A gateway stating no ETag on its GET answers: the object is checked by a HEAD, so one
    replaced after open is refused, not read."""
    from lazyvol.errors import SourceChangedError

    path = write_phantom_nifti(tmp_path / "a.nii", (40, 30, 20), dtype="int16")
    raw = open(path, "rb").read()
    s3_server.client.put_object(Bucket=s3_bucket, Key="a.nii", Body=raw)
    port = free_port()
    opts = s3_server.options()
    opts["client_kwargs"] = {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"}
    upstream = int(s3_server.endpoint.rsplit(":", 1)[1])
    with serving(_etag_dropping_proxy(upstream), port):
        vol = lv.open(f"s3://{s3_bucket}/a.nii", storage_options=opts, scale=False)
        np.testing.assert_array_equal(vol.compute(), nib.load(path).dataobj.get_unscaled())
        offset = int(nib.load(path).dataobj.offset)
        body = _other_voxels(raw, offset)
        s3_server.client.put_object(Bucket=s3_bucket, Key="a.nii", Body=body)
        with pytest.raises(SourceChangedError, match=r"a\.nii: the object changed"):
            vol.compute()
