"""The byte meter of lazyvol.testing.s3.S3Server (used by the remote benchmarks): exact body bytes
per access key, read over HTTP from another client, against ranges of known length."""

from __future__ import annotations

import os

import pytest
from remote_servers import S3

from lazyvol.testing.s3 import read_counts, s3_options


def test_meter_counts_body_bytes_per_access_key(s3_server: S3, s3_bucket: str) -> None:
    s3fs = pytest.importorskip("s3fs")
    payload = os.urandom(300_000)
    s3_server.client.put_object(Bucket=s3_bucket, Key="obj.bin", Body=payload)
    url = f"{s3_bucket}/obj.bin"

    a = s3fs.S3FileSystem(
        **s3_options(s3_server.endpoint, "AKIAMETERTESTA", "x"), skip_instance_cache=True
    )
    b = s3fs.S3FileSystem(
        **s3_options(s3_server.endpoint, "AKIAMETERTESTB", "x"), skip_instance_cache=True
    )
    assert a.cat_file(url, start=1000, end=1000 + 4321) == payload[1000:5321]
    assert b.cat_file(url) == payload
    got_a = read_counts(s3_server.endpoint, "AKIAMETERTESTA")
    got_b = read_counts(s3_server.endpoint, "AKIAMETERTESTB")
    assert got_a == {"bytes": 4321, "requests": 1}
    assert got_b["bytes"] == len(payload) and got_b["requests"] >= 1  # s3fs may HEAD first
    # A HEAD request moves no body bytes but is a request.
    b.info(url, refresh=True)
    assert read_counts(s3_server.endpoint, "AKIAMETERTESTB") == {
        "bytes": len(payload),
        "requests": got_b["requests"] + 1,
    }
    assert read_counts(s3_server.endpoint, "AKIANEVERUSED") == {"bytes": 0, "requests": 0}
