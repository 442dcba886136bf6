"""A foreign Zarr store (written by zarr-python, not lazyvol) on a web host that answers every
path it does not have with an HTML page and status 200 (a single-page-app fallback), read over
loopback HTTP and compared with the array zarr-python wrote."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from remote_servers import free_port, serving

import lazyvol as lv
from lazyvol.testing import ome_zarr_attributes

zarr = pytest.importorskip("zarr")

PAGE = b"<!doctype html><html><head><title>Home</title></head><body>Welcome</body></html>\n"


def _host(files: dict[str, bytes]) -> type[BaseHTTPRequestHandler]:
    class Host(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self, body: bool) -> None:
            data = files.get(self.path.split("?", 1)[0])
            page = data is None
            data = PAGE if data is None else data
            self.send_response(200)
            self.send_header("Content-Type", "text/html" if page else "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", f'"{abs(hash(data)):x}"')
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve(True)

        def do_HEAD(self) -> None:
            self._serve(False)

    return Host


@pytest.fixture
def host() -> Iterator[tuple[str, dict[str, bytes]]]:
    """(URL, files served by path); any other path is answered with :data:`PAGE` and 200."""
    files: dict[str, bytes] = {}
    port = free_port()
    with serving(_host(files), port):
        yield f"http://127.0.0.1:{port}", files


def _ome_zarr(path: Path, data: np.ndarray, compressors: Any, fmt: int) -> dict[str, bytes]:
    """An OME-Zarr image of ``data`` (z, y, x) written by zarr-python (0.5 in Zarr v3, 0.4 in
    Zarr v2): its files by path."""
    g = zarr.open_group(str(path), mode="w", zarr_format=fmt)
    a = g.create_array(
        "0", shape=data.shape, chunks=(2, 6, 8), dtype=data.dtype, compressors=compressors
    )
    a[...] = data
    g.attrs.update(ome_zarr_attributes(scale=[1.0] * 3, version="0.5" if fmt == 3 else "0.4"))
    return {
        f"/s.zarr/{f.relative_to(path).as_posix()}": f.read_bytes()
        for f in path.rglob("*")
        if f.is_file()
    }


@pytest.mark.filterwarnings("error::RuntimeWarning")  # (its 'nifti' array: a page, absent)
@pytest.mark.parametrize("compressors", [None, "auto"])
@pytest.mark.parametrize("fmt", [2, 3])
def test_a_missing_chunk_answered_with_a_page_is_named(tmp_path, host, compressors, fmt):
    """The page was decoded as the missing chunk: numpy's "cannot reshape", "When changing to a
    larger dtype ...", or a decompressor's error, as a RemoteReadError naming neither the chunk
    nor the page. Now a FormatError names the chunk's URL and key and says it is an HTML page;
    the store with every chunk present still opens with zarr's values, without the warning that
    its NIfTI-Zarr header (a page too) is unusable. A Zarr v2 store did not open at all: its
    zarr.json (v3), a page, was refused as "unreadable Zarr metadata" where a missing one has
    the v2 metadata read; such a page is now no file."""
    url, files = host
    data = np.arange(4 * 6 * 8, dtype="<u2").reshape(4, 6, 8)
    files.update(_ome_zarr(tmp_path / "s.zarr", data, compressors, fmt))
    vol = lv.open(f"{url}/s.zarr")
    np.testing.assert_array_equal(np.asarray(vol.compute()), data.transpose(2, 1, 0))
    key = "c/1/0/0" if fmt == 3 else "1.0.0"
    del files[f"/s.zarr/0/{key}"]
    with pytest.raises(lv.FormatError) as info:
        np.asarray(lv.open(f"{url}/s.zarr").compute())
    text = str(info.value)
    assert f"{url}/s.zarr/0/{key}" in text and f"chunk {key}" in text, text
    assert "HTML page" in text, text
