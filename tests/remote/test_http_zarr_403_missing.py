"""A Zarr store over HTTPS in front of a bucket its reader may not list (an S3 bucket URL, a CDN
before one): a key that does not exist is answered 403 AccessDenied, not 404. zarr-python told
``zarr_format=3`` reads the store; lazyvol asked for ``0/.zarray`` beside ``0/zarr.json`` (zarr,
not told the format) and let aiohttp's ClientResponseError out of ``lv.open`` untyped. It now
reads the store as zarr-python does; a chunk answered 403 is a typed RemoteAccessError, never
fill values."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from remote_servers import free_port, serving, store_files

import lazyvol as lv
from lazyvol.errors import RemoteAccessError
from lazyvol.testing import write_ome_zarr

zarr = pytest.importorskip("zarr")

_DENIED = b"<?xml version='1.0'?><Error><Code>AccessDenied</Code></Error>"


def _handler(files: dict[str, bytes]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, body: bool) -> None:
            data = files.get(self.path.split("?")[0])
            status = 200 if data is not None else 403  # (a missing key: 403, as S3 answers)
            payload = data if data is not None else _DENIED
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            if data is not None:
                self.send_header("ETag", f'"{len(data)}-{hash(data) & 0xFFFF:x}"')
            else:
                self.send_header("Content-Type", "application/xml")
            self.end_headers()
            if body:
                self.wfile.write(payload)

        def do_GET(self) -> None:
            self._answer(True)

        def do_HEAD(self) -> None:
            self._answer(False)

    return Handler


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[str, dict[str, bytes], np.ndarray]]:
    truth = np.arange(6 * 7 * 5, dtype="int16").reshape(6, 7, 5)
    root = tmp_path / "store.zarr"
    write_ome_zarr(root, truth, chunks=(3, 7, 5), scale=[1.0] * 3)
    files = {f"/s.zarr/{name}": data for name, data in store_files(root).items()}
    port = free_port()
    with serving(_handler(files), port):
        yield f"http://127.0.0.1:{port}/s.zarr", files, truth.transpose(2, 1, 0)


def test_store_behind_a_403_for_missing_keys_reads_as_zarr_python(store) -> None:
    url, _files, truth = store
    ref = zarr.open_group(url, mode="r", zarr_format=3)["0"][:]  # (the reference)
    np.testing.assert_array_equal(ref.transpose(2, 1, 0), truth)
    np.testing.assert_array_equal(lv.open(url).compute(), truth)


def test_a_chunk_answered_403_is_typed_never_fill(store) -> None:
    url, files, _truth = store
    vol = lv.open(url)
    del files["/s.zarr/0/c/1/0/0"]  # (now answered 403)
    with pytest.raises(RemoteAccessError, match=r"s\.zarr/0/c/1/0/0: access denied"):
        vol.compute()


def test_lazyvol_store_behind_a_403_is_cached_by_its_manifest(tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel")
    truth = np.random.default_rng(0).integers(-500, 500, (6, 7, 5)).astype("int16")
    nib.save(nib.Nifti1Image(truth, np.diag([2.0, 3.0, 4.0, 1.0])), tmp_path / "a.nii")
    root = tmp_path / "st.zarr"
    lv.open(tmp_path / "a.nii").to_zarr(root)
    files = {f"/s.zarr/{name}": data for name, data in store_files(root).items()}
    port = free_port()
    with serving(_handler(files), port):
        url = f"http://127.0.0.1:{port}/s.zarr"
        np.testing.assert_array_equal(lv.open(url).compute(), truth)
        for _ in range(2):  # (built, then served from the cache)
            np.testing.assert_array_equal(lv.open(url, cache=True).compute(), truth)
