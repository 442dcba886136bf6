"""A Zarr store whose ``zarr.json`` is served with ``Content-Encoding: gzip``: over HTTP(S) the
body is decoded as every client decodes it (aiohttp; zarr-python over fsspec reads the same), so
the store reads as written; on S3 (an object put with ContentEncoding=gzip, as ``aws s3 cp
--content-encoding gzip`` puts pre-compressed JSON) botocore and s3fs hand back the stored gzip
bytes, which zarr-python cannot parse: lazyvol refuses the store with a typed error naming the
object and its Content-Encoding, never a bare JSON error."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hostile_server import HostileServer
from remote_servers import S3, store_files

import lazyvol as lv
from lazyvol.errors import FormatError
from lazyvol.testing import write_ome_zarr

zarr = pytest.importorskip("zarr")


def _store(tmp_path: Path) -> tuple[Path, np.ndarray]:
    truth = np.arange(6 * 7 * 5, dtype="int16").reshape(6, 7, 5)
    root = tmp_path / "store.zarr"
    write_ome_zarr(root, truth, chunks=(3, 7, 5), scale=[1.0] * 3)
    return root, truth.transpose(2, 1, 0)


def test_http_zarr_json_gzip_encoded_reads_as_written(tmp_path, hostile_server: HostileServer):
    root, truth = _store(tmp_path)
    for name, data in store_files(root).items():
        hostile_server.put(f"s.zarr/{name}", data, gzip_body=name.endswith("zarr.json"))
    url = f"{hostile_server.url}/s.zarr"
    ref = zarr.open_group(url, mode="r", zarr_format=3)["0"][:]  # (the reference: zarr-python)
    np.testing.assert_array_equal(ref.transpose(2, 1, 0), truth)
    np.testing.assert_array_equal(lv.open(url).compute(), truth)


def test_s3_zarr_json_gzip_encoded_is_refused_typed(tmp_path, s3_server: S3, s3_bucket):
    root, _truth = _store(tmp_path)
    for name, data in store_files(root).items():
        extra = {}
        if name.endswith("zarr.json"):
            data, extra = gzip.compress(data), {"ContentEncoding": "gzip"}
        s3_server.client.put_object(Bucket=s3_bucket, Key=f"s.zarr/{name}", Body=data, **extra)
    url = f"s3://{s3_bucket}/s.zarr"
    with pytest.raises(FormatError, match=r"s\.zarr/zarr\.json: .*gzip-compressed bytes, not JSON"):
        lv.open(url, storage_options=s3_server.options())
    # the store zarr-python reads through (its own reads of the array's zarr.json)
    from lazyvol._io import Location
    from lazyvol._zarr_http import bounded_store
    from lazyvol.zarr_files import read_limit

    loc = Location(url, s3_server.options())
    store = bounded_store(loc, s3_server.options(), read_limit, lambda _b: 0, "fix")
    with pytest.raises(FormatError, match=r"0/zarr\.json: .*gzip-compressed bytes"):
        zarr.open_array(store, path="0", mode="r", zarr_format=3)
