"""An HTTP(S) server answering 401/403: the message named S3's and GCS's credentials and said to
pass storage_options={'anon': True}, which HTTP does not take (aiohttp: TypeError, unexpected
keyword 'anon'). It now names the options that carry HTTP credentials, and never the secret of a
URL (a password, a signed query)."""

from __future__ import annotations

import fsspec
import pytest
from hostile_server import HostileServer

import lazyvol as lv
from lazyvol.errors import RemoteAccessError


@pytest.mark.parametrize("status", [401, 403])
def test_http_denied_names_http_credentials(hostile_server: HostileServer, status: int) -> None:
    hostile_server.put("x.nii", b"\0" * 400, status_get=status, status_head=status)
    port = hostile_server.url.rsplit(":", 1)[1]
    for url in (
        f"http://user:PW_SECRET@127.0.0.1:{port}/x.nii",
        f"{hostile_server.url}/x.nii?X-Amz-Signature=SIG_SECRET",
    ):
        with pytest.raises(RemoteAccessError) as info:
            lv.open(url)
        text = str(info.value)
        assert "access denied" in text and "x.nii" in text
        assert "SECRET" not in text
        assert "'anon'" not in text and "AWS_" not in text
        assert "client_kwargs={'auth': aiohttp.BasicAuth" in text and "headers=" in text


def test_anon_is_no_http_option() -> None:
    """(why the advice was wrong: fsspec's HTTP filesystem hands it to aiohttp, which refuses)"""
    fs = fsspec.filesystem("http", anon=True, skip_instance_cache=True)
    with pytest.raises(TypeError, match="anon"):
        fs.cat_file("http://127.0.0.1:9/x")
