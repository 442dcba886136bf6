"""A bucket whose policy grants reading objects but not listing the bucket (s3:GetObject without
s3:ListBucket, as public data is often shared): S3 then answers a key that does not exist with
403 AccessDenied, not 404 (a proxy in front of moto answering so). A mistyped key was said to be
'access denied' only, the credentials blamed; the message now says the key may not exist."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from remote_servers import S3, QuietProxy, free_port, pass_on, relay, serving

import lazyvol as lv
from lazyvol import _io
from lazyvol.errors import RemoteAccessError

_DENIED = (
    b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
    b"<Message>Access Denied</Message></Error>"
)


def _no_list_proxy(upstream: int) -> type[BaseHTTPRequestHandler]:
    """A pass-through proxy to the S3 server on port ``upstream`` answering 403 AccessDenied
    where the server answers 404, and to every listing."""

    class Proxy(QuietProxy):
        def _forward(self) -> None:
            status, headers, data = relay(self, upstream)
            if status == 404 or (self.command == "GET" and "list-type" in self.path):
                self.send_response(403)
                self.send_header("Content-Type", "application/xml")
                body = _DENIED if self.command != "HEAD" else b""
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            pass_on(self, status, headers, data)

        do_GET = do_HEAD = do_PUT = do_POST = _forward

    return Proxy


@pytest.fixture
def no_list(s3_server: S3) -> Iterator[dict[str, Any]]:
    """storage options reaching the S3 server through the proxy."""
    port = free_port()
    upstream = int(s3_server.endpoint.rsplit(":", 1)[1])
    opts = s3_server.options()
    opts["client_kwargs"] = {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"}
    with serving(_no_list_proxy(upstream), port):
        yield opts
    _io.clear_filesystems()


def test_a_missing_key_where_listing_is_denied_says_it_may_not_exist(s3_bucket, no_list):
    with pytest.raises(
        RemoteAccessError, match=r"s3://\S+/scan\.nii: access denied .*object does not exist"
    ):
        lv.open(f"s3://{s3_bucket}/scan.nii", storage_options=no_list)


def test_a_denied_listing_names_the_permission_it_needs(s3_server: S3, s3_bucket, no_list):
    """A DICOM series under a prefix needs its listing: 'access denied', saying to list the
    bucket needs s3:ListBucket (not that a key may be missing)."""
    s3_server.client.put_object(Bucket=s3_bucket, Key="series/a.dcm", Body=b"x" * 200)
    with pytest.raises(
        RemoteAccessError, match=r"series/: access denied .*needs permission to list the bucket"
    ):
        lv.open(f"s3://{s3_bucket}/series/", storage_options=no_list)
