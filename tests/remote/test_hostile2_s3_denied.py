"""A bucket whose policy grants reading objects but not listing the bucket (s3:GetObject without
s3:ListBucket, as public data is often shared): S3 then answers a key that does not exist with
403 AccessDenied, not 404 (a proxy in front of moto answering so). A mistyped key was said to be
'access denied' only, the credentials blamed; the message now says the key may not exist."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from remote_servers import S3, no_list_options

import lazyvol as lv
from lazyvol.errors import RemoteAccessError


@pytest.fixture
def no_list(s3_server: S3) -> Iterator[dict[str, Any]]:
    """storage options reaching the S3 server through a proxy denying listings."""
    with no_list_options(s3_server) as (opts, _):
        yield opts


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
