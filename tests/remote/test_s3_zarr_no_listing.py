"""A Zarr store on a bucket whose policy grants reading objects but not listing the bucket
(s3:GetObject without s3:ListBucket, as public data is often shared): zarr-python reads it (it
GETs ``zarr.json`` and the chunks, never a listing). lazyvol reads it the same, without listing,
when the store's metadata object is there; a store that is not there is still refused, its
message saying the listing was denied."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from remote_servers import S3, no_list_options

import lazyvol as lv
from lazyvol.errors import RemoteAccessError
from lazyvol.testing import ome_zarr_attributes

zarr = pytest.importorskip("zarr")


@pytest.fixture
def no_list(s3_server: S3) -> Iterator[tuple[dict[str, Any], list[str]]]:
    with no_list_options(s3_server) as pair:
        yield pair


def _put_store(tmp_path: Path, s3: S3, bucket: str, prefix: str, *, lazyvol_store: bool) -> Any:
    truth = np.random.default_rng(3).integers(-900, 900, (6, 7, 5)).astype("int16")
    root = tmp_path / "store.zarr"
    if lazyvol_store:
        src = tmp_path / "src.nii"
        import nibabel as nib

        nib.save(nib.Nifti1Image(truth, np.diag([2.0, 3.0, 4.0, 1.0])), src)
        lv.open(src).to_zarr(root)
        expected = truth
    else:
        group = zarr.open_group(root, mode="w", zarr_format=3)
        arr = group.create_array("0", shape=truth.shape, dtype="int16", chunks=(3, 7, 5))
        arr[:] = truth
        group.attrs.update(ome_zarr_attributes(scale=[1.0] * 3))
        expected = truth.transpose(2, 1, 0)
    for file in root.rglob("*"):
        if file.is_file():
            key = f"{prefix}/{file.relative_to(root)}"
            s3.client.put_object(Bucket=bucket, Key=key, Body=file.read_bytes())
    return expected


@pytest.mark.parametrize("lazyvol_store", [False, True], ids=["foreign", "lazyvol"])
def test_zarr_store_without_list_permission_reads_as_zarr_python(
    tmp_path, s3_server: S3, s3_bucket, no_list, lazyvol_store
):
    opts, listings = no_list
    expected = _put_store(
        tmp_path, s3_server, s3_bucket, "a/store.zarr", lazyvol_store=lazyvol_store
    )
    url = f"s3://{s3_bucket}/a/store.zarr"
    # the reference: zarr-python through the same proxy
    store = zarr.storage.FsspecStore.from_url(url, storage_options=opts, read_only=True)
    ref = zarr.open_group(store, mode="r", zarr_format=3)["0"][:]  # (v3: zarr.json only)
    vol = lv.open(url, storage_options=opts)
    np.testing.assert_array_equal(vol.compute(), expected)
    assert ref.shape[::-1] == vol.shape
    assert listings == []  # (nothing listed, as zarr-python)


def test_missing_store_without_list_permission_is_still_refused(s3_bucket, no_list):
    opts, _listings = no_list
    with pytest.raises(RemoteAccessError, match="access denied"):
        lv.open(f"s3://{s3_bucket}/nothing.zarr", storage_options=opts)


@pytest.mark.parametrize("lazyvol_store", [False, True], ids=["foreign", "lazyvol"])
def test_cached_open_without_list_permission(
    tmp_path, s3_server: S3, s3_bucket, no_list, lazyvol_store
):
    """cache=True keys a store by the listing of its files: without s3:ListBucket a lazyvol
    store is keyed by its manifest (as over a web server without index pages) and cached; a
    foreign store is read uncached, with a warning saying why."""
    import warnings

    opts, _listings = no_list
    expected = _put_store(tmp_path, s3_server, s3_bucket, "c.zarr", lazyvol_store=lazyvol_store)
    url = f"s3://{s3_bucket}/c.zarr"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for _ in range(2):
            np.testing.assert_array_equal(
                lv.open(url, storage_options=opts, cache=True).compute(), expected
            )
    unkeyed = [w for w in seen if "s3:ListBucket" in str(w.message)]
    assert bool(unkeyed) is not lazyvol_store
