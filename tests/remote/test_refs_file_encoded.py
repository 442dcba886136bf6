"""A references file (kerchunk JSON, ``fo``) stored gzip-compressed on S3 with
ContentEncoding=gzip: S3 clients return the stored gzip bytes, which fsspec's reference
filesystem reads as JSON text (UnicodeDecodeError). It was an OptionError telling to check the
URL's host, port and user; it is a FormatError naming the references file and the fix."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from remote_servers import S3

import lazyvol as lv
from lazyvol.errors import FormatError


def test_gzip_stored_references_file_is_named(tmp_path, s3_server: S3, s3_bucket) -> None:
    nib = pytest.importorskip("nibabel")
    truth = np.arange(60, dtype="int16").reshape(3, 4, 5)
    nib.save(nib.Nifti1Image(truth, np.eye(4)), tmp_path / "r.nii")
    s3_server.client.put_object(
        Bucket=s3_bucket, Key="r.nii", Body=(tmp_path / "r.nii").read_bytes()
    )
    opts = s3_server.options()
    raw = json.dumps(lv.references(f"s3://{s3_bucket}/r.nii", storage_options=opts)).encode()
    for key, body, extra in (
        ("refs.json", raw, {}),
        ("refsgz.json", gzip.compress(raw), {"ContentEncoding": "gzip"}),
    ):
        s3_server.client.put_object(Bucket=s3_bucket, Key=key, Body=body, **extra)
    so = {"target_options": opts, "remote_protocol": "s3", "remote_options": opts}
    plain = lv.open("reference://", storage_options={**so, "fo": f"s3://{s3_bucket}/refs.json"})
    np.testing.assert_array_equal(plain.compute(), truth)  # (the same references, uncompressed)
    with pytest.raises(
        FormatError, match=r"refsgz\.json: the references file is not JSON text .*uncompressed"
    ):
        lv.open("reference://", storage_options={**so, "fo": f"s3://{s3_bucket}/refsgz.json"})
