"""A sharded Zarr store on S3 (moto) read through a misbehaving proxy in front of it: zarr-python
reads chunks by byte range through the store, which now judges each S3 answer as the byte
layer's S3 reads do (a whole-object answer to a ranged read refused, the body unread) and ends a
read at ``LAZYVOL_REMOTE_DEADLINE``. The truth is the array zarr-python wrote."""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from remote_servers import S3, QuietProxy, free_port, relay, send_head, serving

import lazyvol as lv
from lazyvol import _io
from lazyvol.errors import RemoteReadError, RemoteTimeoutError
from lazyvol.testing import ome_zarr_attributes

zarr = pytest.importorskip("zarr")


def _sharded_store(tmp_path: Path, s3: S3, bucket: str, prefix: str) -> np.ndarray:
    """A foreign OME-Zarr 0.5 store (uncompressed chunks in shards) put under ``prefix``; its
    values in volume order (i, j, k)."""
    truth = np.random.default_rng(7).integers(-2000, 2000, (8, 16, 16)).astype("int16")
    root = tmp_path / "sharded.zarr"
    group = zarr.open_group(root, mode="w", zarr_format=3)
    arr = group.create_array(
        "0", shape=truth.shape, dtype="int16", chunks=(2, 8, 8), shards=(4, 16, 16)
    )
    arr[:] = truth
    group.attrs.update(ome_zarr_attributes(scale=[1.0] * 3))
    for file in root.rglob("*"):
        if file.is_file():
            key = f"{prefix}/{file.relative_to(root)}"
            s3.client.put_object(Bucket=bucket, Key=key, Body=file.read_bytes())
    return truth.transpose(2, 1, 0)


def _proxy(upstream: int, mode: str) -> type[BaseHTTPRequestHandler]:
    """A pass-through proxy to moto that, for GETs of chunk files (``/c/`` in the path), drops
    ``Range`` (``mode="norange"``) or drips the body 4 bytes every 0.25 s (``"drip"``)."""

    class Proxy(QuietProxy):
        def _forward(self) -> None:
            chunk = self.command == "GET" and "/c/" in self.path
            drop = ("range",) if chunk and mode == "norange" else ()
            status, headers, data = relay(self, upstream, drop=drop)
            send_head(self, status, headers)
            if self.command == "HEAD":
                return
            try:
                if chunk and mode == "drip":
                    for at in range(0, len(data), 4):
                        self.wfile.write(data[at : at + 4])
                        self.wfile.flush()
                        time.sleep(0.25)
                else:
                    self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

        do_GET = do_HEAD = do_PUT = do_POST = _forward

    return Proxy


@pytest.fixture
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    _io.clear_filesystems()
    yield
    _io.clear_filesystems()


def _open_through(s3: S3, bucket: str, mode: str, port: int) -> Any:
    opts = s3.options()
    opts["client_kwargs"] = {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"}
    return lv.open(f"s3://{bucket}/s.zarr", storage_options=opts, chunks=(8, 8, 2))


@pytest.mark.usefixtures("_fresh")
def test_an_honest_s3_store_reads_its_voxels_by_range(tmp_path, s3_server: S3, s3_bucket):
    truth = _sharded_store(tmp_path, s3_server, s3_bucket, "s.zarr")
    port = free_port()
    with serving(_proxy(int(s3_server.endpoint.rsplit(":", 1)[1]), "honest"), port):
        vol = _open_through(s3_server, s3_bucket, "honest", port)
        np.testing.assert_array_equal(vol[:8, :8, 0:1].compute(), truth[:8, :8, 0:1])
        np.testing.assert_array_equal(vol.compute(), truth)


@pytest.mark.usefixtures("_fresh")
def test_a_gateway_dropping_range_on_chunk_reads_is_refused_naming_the_shard(
    tmp_path, s3_server: S3, s3_bucket
):
    """s3fs took the whole shard, sent for a ranged read of one chunk, as that chunk."""
    _sharded_store(tmp_path, s3_server, s3_bucket, "s.zarr")
    port = free_port()
    with serving(_proxy(int(s3_server.endpoint.rsplit(":", 1)[1]), "norange"), port):
        vol = _open_through(s3_server, s3_bucket, "norange", port)
        with pytest.raises(RemoteReadError, match=r"s\.zarr/0/c/0/0/0.*ignores Range"):
            vol[:8, :8, 0:1].compute()


@pytest.mark.usefixtures("_fresh")
def test_a_dripping_chunk_read_ends_at_the_deadline(
    tmp_path, s3_server: S3, s3_bucket, monkeypatch
):
    """zarr's chunk reads of an S3 store had botocore's timeouts only, which bound a stall: a
    proxy dripping the shard a few bytes at a time held the read for as long as it dripped."""
    monkeypatch.setenv("LAZYVOL_REMOTE_TIMEOUT", "1")
    monkeypatch.setenv("LAZYVOL_REMOTE_DEADLINE", "1.5")
    _sharded_store(tmp_path, s3_server, s3_bucket, "s.zarr")
    port = free_port()
    with serving(_proxy(int(s3_server.endpoint.rsplit(":", 1)[1]), "drip"), port):
        vol = _open_through(s3_server, s3_bucket, "drip", port)
        with pytest.raises(RemoteTimeoutError, match=r"s\.zarr/0/c.*LAZYVOL_REMOTE_DEADLINE"):
            vol[:8, :8, 0:1].compute()
