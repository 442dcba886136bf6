"""Whole-file reads of a remote Zarr store are bounded as a local store's are (zarr_files): its
metadata (``zarr.json``, read by ``StoreRoot.read`` through fsspec's ``cat_file``) and a foreign
store's chunk files (read by zarr through fsspec) had no size limit, so a server answering a GET
with 10 GiB, a body sent in chunks for ever, was read into memory until it ran out. Now a file
is refused (ResourceLimitError naming the URL, the limit and the fix) once it states or sends
more than its limit: 64 MiB of metadata, a chunk file what its array's metadata allows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from remote_servers import free_port, serving

import lazyvol as lv
from lazyvol import _io, zarr_files
from lazyvol.testing import ome_zarr_attributes

zarr = pytest.importorskip("zarr")

BLOCK = b"{" * (1 << 16)


class Endless:
    """A loopback server of a local folder whose one path is answered with a hostile body:
    ``"huge"`` (Content-Length 10 GiB), ``"endless"`` (chunked, for ever), or another status
    (``"302"``: a redirect without a Location, ``"204"``); counts body bytes."""

    def __init__(self, folder: Path, bad: str, mode: str) -> None:
        self.folder, self.bad, self.mode = folder, bad, mode
        self.sent = 0
        self.gets: list[str] = []
        self.lock = threading.Lock()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        st = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _go(self, body: bool) -> None:
                path = self.path.split("?", 1)[0].lstrip("/")
                if body:
                    with st.lock:
                        st.gets.append(path)
                if path == st.bad:
                    self._hostile(body)
                    return
                file = st.folder / path
                data = file.read_bytes() if file.is_file() else None
                self.send_response(200 if data is not None else 404)
                self.send_header("Content-Length", str(len(data or b"")))
                self.send_header("ETag", '"v1"')
                self.end_headers()
                if body and data:
                    self.wfile.write(data)

            def _hostile(self, body: bool) -> None:
                if st.mode.isdigit():  # (another status, with a body that is not the file)
                    page = b"<html>moved</html>" if st.mode != "204" else b""
                    self.send_response(int(st.mode))
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    if body:
                        self.wfile.write(page)
                    return
                self.send_response(200)
                self.send_header("ETag", '"v1"')
                if st.mode == "huge":
                    self.send_header("Content-Length", str(10 << 30))
                else:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.close_connection = True
                if not body:
                    return
                try:
                    for _ in range((10 << 30) // len(BLOCK)):
                        piece = (
                            BLOCK if st.mode == "huge" else b"%x\r\n%s\r\n" % (len(BLOCK), BLOCK)
                        )
                        self.wfile.write(piece)
                        with st.lock:
                            st.sent += len(BLOCK)
                except OSError:  # the client left: what it needed is read
                    pass

            def do_GET(self) -> None:
                self._go(True)

            def do_HEAD(self) -> None:
                self._go(False)

        return Handler


def _store(tmp_path: Path, **codecs: Any) -> tuple[Path, np.ndarray]:
    """A foreign OME-Zarr 0.5 store (zarr-python, one array, unsharded; ``codecs``: its filters
    and compressors) and its values (i, j, k)."""
    truth = np.arange(8 * 9 * 10, dtype="int16").reshape(8, 9, 10)
    root = tmp_path / "s.zarr"
    group = zarr.open_group(root, mode="w", zarr_format=3)
    arr = group.create_array("0", shape=truth.shape, chunks=(4, 9, 10), dtype="int16", **codecs)
    arr[:] = truth
    group.attrs.update(ome_zarr_attributes(scale=[1.0, 1.0, 1.0]))
    return root, truth.transpose(2, 1, 0)


@pytest.fixture
def endless(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Endless, str]]:
    bad, mode = request.param
    folder, _ = _store(tmp_path)
    server = Endless(folder, bad, mode)
    port = free_port()
    with serving(server.handler(), port):
        yield server, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("endless", [("0/zarr.json", "huge")], indirect=True)
def test_metadata_stating_a_huge_size_is_refused_unread(endless: tuple[Endless, str]) -> None:
    server, url = endless
    with pytest.raises(lv.ResourceLimitError) as err:
        lv.open(url)
    msg = str(err.value)
    assert f"{url}/0/zarr.json" in msg and "10737418240 bytes" in msg
    assert f"limit of {zarr_files.META_BYTES}" in msg and "Zarr metadata" in msg
    assert server.sent < 8 << 20  # (what the socket buffers took before the client left)


@pytest.mark.parametrize("endless", [("0/zarr.json", "endless")], indirect=True)
def test_metadata_sent_for_ever_is_refused_at_its_limit(
    endless: tuple[Endless, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = endless
    monkeypatch.setattr(zarr_files, "META_BYTES", 1 << 20)
    with pytest.raises(lv.ResourceLimitError, match=r"0/zarr\.json went on past 1048576 bytes"):
        lv.open(url)
    assert server.sent < 16 << 20


@pytest.mark.parametrize(
    "endless", [("0/c/0/0/0", "endless"), ("0/c/1/0/0", "huge")], indirect=True
)
def test_a_foreign_chunk_file_over_its_array_bound_is_refused(endless: tuple[Endless, str]) -> None:
    """The bound is what the array's metadata allows an unsharded chunk (4 x 9 x 10 int16 and
    the zstd codec's overhead), not the 2 GiB chunk limit."""
    server, url = endless
    vol = lv.open(url)  # (metadata fine: the chunk is read at compute)
    with pytest.raises(lv.ResourceLimitError, match=rf"{server.bad}.*over the limit|went on past"):
        vol.compute()
    assert server.sent < 8 << 20


@pytest.mark.parametrize(
    "endless",
    [("0/zarr.json", "302"), ("0/c/0/0/0", "302"), ("0/c/0/0/0", "204"), ("0/zarr.json", "304")],
    indirect=True,
)
def test_a_whole_read_answered_with_another_status_is_refused(endless: tuple[Endless, str]) -> None:
    """A store file read whole and answered 204, 304 or a redirect the client does not follow
    (no Location, allow_redirects off): its body is not the file, so it is refused naming the
    file and the status (it was decoded as the chunk, an error blaming zstd, or as the JSON)."""
    server, url = endless
    want = rf"{url}/{server.bad}: reading it whole: unexpected answer HTTP {server.mode}"
    with pytest.raises(lv.RemoteReadError, match=want.replace(".", r"\.")):
        lv.open(url).compute()


def test_valid_stores_read_as_the_local_copy_in_as_many_requests(tmp_path: Path) -> None:
    folder, truth = _store(tmp_path)
    server = Endless(folder, "", "")
    port = free_port()
    with serving(server.handler(), port):
        got = lv.open(f"http://127.0.0.1:{port}").compute()
    np.testing.assert_array_equal(got, truth)
    np.testing.assert_array_equal(lv.open(folder).compute(), truth)
    assert server.gets.count("0/c/0/0/0") == 1 and server.gets.count("0/c/1/0/0") == 1


def test_a_chunk_stored_as_a_wider_dtype_reads_as_the_local_copy(tmp_path: Path) -> None:
    """numcodecs' delta with astype int64 (no compressor) stores an int16 chunk in 4x its bytes,
    and a codec lazyvol cannot size (an image codec may expand noise) any size: the array's bound
    counts the stored dtype, or gives none (the chunk limit then), not refuse a valid store."""
    nz = pytest.importorskip("numcodecs.zarr3")
    folder, truth = _store(
        tmp_path, filters=[nz.Delta(dtype="int16", astype="int64")], compressors=None
    )
    server = Endless(folder, "", "")
    port = free_port()
    with serving(server.handler(), port):
        got = lv.open(f"http://127.0.0.1:{port}").compute()
    np.testing.assert_array_equal(got, truth)
    np.testing.assert_array_equal(np.asarray(zarr.open_array(folder / "0")[:]), truth.T)
    doc = json.loads((folder / "0" / "zarr.json").read_bytes())
    doc["codecs"].insert(0, {"name": "imagecodecs_jpeg2k", "configuration": {"level": 0}})
    assert zarr_files.chunk_file_bound_of(json.dumps(doc).encode()) == 0


def test_s3_whole_reads_are_one_ranged_get_bounded(s3_server: Any, s3_bucket: str) -> None:
    """On S3 a whole read is one GET of the first limit + 1 bytes (s3fs's whole-object read was a
    HEAD and a GET); an empty object (which S3 refuses any range of) reads as empty."""
    client = s3_server.client
    client.put_object(Bucket=s3_bucket, Key="e", Body=b"")
    client.put_object(Bucket=s3_bucket, Key="big", Body=b"x" * 1000)
    opts = s3_server.options()
    loc = _io.Location.of(f"s3://{s3_bucket}/e", opts)
    assert _io.read_whole(loc, 10, what="w", fix="f") == b""
    big = _io.Location.of(f"s3://{s3_bucket}/big", opts)
    assert _io.read_whole(big, 1000, what="w", fix="f") == b"x" * 1000
    with pytest.raises(lv.ResourceLimitError, match=r"big: the object went on past 999 bytes"):
        _io.read_whole(big, 999, what="the object", fix="f")


_MEASURE = textwrap.dedent(
    """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    import lazyvol as lv
    try:
        vol = lv.open(sys.argv[1])
        vol.compute()
        print("read")
    except lv.ResourceLimitError as exc:
        print("refused", str(exc)[:200])
    # (VmHWM: this process's own peak; ru_maxrss carries over the forking parent's peak RSS
    # through exec on Linux, so a pytest worker grown to 700 MiB reported 691 here)
    with open("/proc/self/status") as f:
        hwm = [line.split()[1] for line in f if line.startswith("VmHWM:")]
    print(int(hwm[0]) // 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    """
)


@pytest.mark.parametrize(
    "endless", [("0/zarr.json", "endless"), ("0/c/0/0/0", "endless")], indirect=True
)
def test_memory_stays_bounded_under_a_2gib_address_space(endless: tuple[Endless, str]) -> None:
    """With the default limits, in a process limited to 2 GiB of address space: refused, with a
    peak RSS far from the body's size (it was a MemoryError at about 1.5 GiB before)."""
    _server, url = endless
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("LAZYVOL_MAX_CHUNK_BYTES", None)
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, url], capture_output=True, text=True, env=env, timeout=300
    )
    lines = out.stdout.strip().splitlines()
    assert lines and lines[0].startswith("refused"), out.stdout + out.stderr
    assert int(lines[-1]) < 600, lines  # MiB


def test_a_zarr_v2_chunk_file_is_bounded_by_its_zarray(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An OME-Zarr 0.4 (Zarr v2) array's chunk file is read up to what its ``.zarray`` allows
    (chunks, dtype, filters storing a wider dtype, compressor), as a v3 array's: the bound read
    only ``zarr.json``, so a v2 chunk answered with an endless body was read up to the 2 GiB chunk
    limit (a MemoryError under a 2 GiB address space); valid v2 stores still read whole."""
    numcodecs = pytest.importorskip("numcodecs")
    monkeypatch.setenv("LAZYVOL_MAX_CHUNK_BYTES", "64MiB")  # (before: 64 MiB read, not 2 GiB)
    truth = np.arange(8 * 9 * 10, dtype="int16").reshape(8, 9, 10)
    for name, filters, compressor in (
        ("a", None, numcodecs.Zstd()),
        ("b", [numcodecs.Delta(dtype="int16", astype="int64")], None),
        ("c", [numcodecs.AsType(encode_dtype="float64", decode_dtype="int16")], numcodecs.BZ2()),
    ):
        root = tmp_path / f"{name}.zarr"
        group = zarr.open_group(root, mode="w", zarr_format=2)
        kw = {"filters": filters, "compressors": compressor}
        group.create_array("0", shape=truth.shape, chunks=(4, 9, 10), dtype="int16", **kw)[:] = (
            truth
        )
        group.attrs.update(ome_zarr_attributes(scale=[1.0] * 3, version="0.4"))
        bound = zarr_files.chunk_file_bound_of((root / "0" / ".zarray").read_bytes())
        assert (root / "0" / "0.0.0").stat().st_size <= bound < 8 << 10
        for bad in ("", "0/0.0.0"):
            server = Endless(root, bad, "endless")
            port = free_port()
            with serving(server.handler(), port):
                vol = lv.open(f"http://127.0.0.1:{port}")
                if not bad:
                    np.testing.assert_array_equal(vol.compute(), truth.transpose(2, 1, 0))
                    continue
                with pytest.raises(lv.ResourceLimitError, match=r"0\.0\.0 went on past"):
                    vol.compute()
            assert server.sent < 8 << 20
