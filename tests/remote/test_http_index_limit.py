"""A web folder's index page is read bounded (LAZYVOL_MAX_INDEX_PAGE_BYTES): a page longer than
the limit, stated by its Content-Length or streamed without one, is refused with a typed error
naming the URL and the limit; a page within it lists what fsspec's own ``ls`` lists."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from remote_servers import free_port, serving

import lazyvol as lv
from lazyvol import _io
from lazyvol.errors import ResourceLimitError

LINKS = b'<a href="a.nii">a.nii</a> <a href="/d/sub/">sub/</a> <a href="../up.nii">up</a>\n'
PAD = b"<p>" + b"x" * 1000 + b"</p>\n"


def _handler(pad: int, *, length: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/d/", "/d/sub/"):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = LINKS if self.path.startswith("/d/sub/") else LINKS + PAD * pad
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            if length:
                self.send_header("Content-Length", str(len(body)))
            else:  # (no length: the body ends when the connection closes)
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_HEAD(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.send_header("ETag", '"x"')
            self.end_headers()

    return Handler


@pytest.fixture
def page_server(request: pytest.FixtureRequest) -> Iterator[str]:
    pad, length = request.param
    port = free_port()
    with serving(_handler(pad, length=length), port):
        yield f"http://127.0.0.1:{port}/d/"


@pytest.mark.parametrize(
    "page_server", [(2048, True), (2048, False)], indirect=True, ids=["length", "streamed"]
)
def test_index_page_over_the_limit_is_refused(
    page_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAZYVOL_MAX_INDEX_PAGE_BYTES", "1MiB")
    with pytest.raises(ResourceLimitError) as info:
        _io.list_objects(_io.Location(page_server))
    text = str(info.value)
    assert page_server in text and "1048576" in text and "LAZYVOL_MAX_INDEX_PAGE_BYTES" in text
    with pytest.raises(ResourceLimitError):  # (the error reaches the public API typed)
        lv.scan(page_server)


@pytest.mark.parametrize("page_server", [(512, True), (512, False)], indirect=True)
def test_index_page_within_the_limit_lists_what_fsspec_lists(
    page_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fsspec

    monkeypatch.setenv("LAZYVOL_MAX_INDEX_PAGE_BYTES", "1MiB")
    from lazyvol._http_index import index_links

    loc = _io.Location(page_server)
    fs = fsspec.filesystem("http", skip_instance_cache=True)
    expected = sorted(fs.ls(page_server, detail=True), key=lambda e: e["name"])
    assert index_links(_io.filesystem(loc), loc, page_server) == expected
    names = [child.url for child, _st in _io.list_objects(loc)]
    assert names == [page_server + "a.nii"]


def test_index_page_limit_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from lazyvol._http_index import DEFAULT_MAX_INDEX_PAGE_BYTES, max_index_page_bytes
    from lazyvol.errors import OptionError

    assert max_index_page_bytes() == DEFAULT_MAX_INDEX_PAGE_BYTES
    monkeypatch.setenv("LAZYVOL_MAX_INDEX_PAGE_BYTES", "nonsense")
    with pytest.raises(OptionError, match="LAZYVOL_MAX_INDEX_PAGE_BYTES"):
        max_index_page_bytes()


def test_index_pages_linking_more_files_than_the_scan_limit_ask_nothing_of_them(
    hostile_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each file an index page links is stamped with a HEAD: 50 links over a limit of 10 were
    50 HEADs before the scan's limit was checked (a page of a million links: hours). Now none."""
    hostile_server.index_pages = True
    for i in range(50):
        hostile_server.put(f"d/f{i:03d}.dcm", b"x" * 200)
    monkeypatch.setenv("LAZYVOL_MAX_SCAN_FILES", "10")
    with pytest.raises(ResourceLimitError, match=r"/d/: its index pages link 50 files, more than"):
        lv.scan(f"{hostile_server.url}/d/")
    assert [e for e in hostile_server.log if e[0] == "HEAD"] == []
    monkeypatch.setenv("LAZYVOL_MAX_SCAN_FILES", "50")  # (at the limit: listed)
    assert len(_io.list_objects(_io.Location(f"{hostile_server.url}/d/"))) == 50
