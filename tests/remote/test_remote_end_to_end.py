"""``lazyvol.open`` on every kind of remote source, end to end, against moto's S3 server on
loopback: a .nii, a .nii.gz, a DICOM series under a prefix and a Zarr store, each opened through
the reader registry with ``storage_options`` (no format-specific entry point), compared with
independent references (nibabel on the local file, the synthetic DICOM truth, the numpy array the
store was written from); then the same sources through the cache and on ``dask.distributed``
worker processes, and a failed read that must leave nothing in the cache.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from remote_servers import S3, S3_KEY, S3_SECRET

import lazyvol as lv
from lazyvol import cache as lvcache
from lazyvol.testing import write_dicom_series, write_phantom_nifti

pytest.importorskip("s3fs")

ZARR_AFFINE = np.array(
    [[0.0, -1.2, 0.0, 40.0], [0.9, 0.0, 0.0, -12.5], [0.0, 0.0, 2.5, 7.0], [0, 0, 0, 1]]
)


def _put_tree(s3: S3, bucket: str, local: Path, key: str) -> str:
    """Upload a file or every file under a folder; returns the s3:// URL of ``key``."""
    if local.is_file():
        s3.client.put_object(Bucket=bucket, Key=key, Body=local.read_bytes())
    else:
        for path in sorted(local.rglob("*")):
            if path.is_file():
                sub = f"{key}/{path.relative_to(local).as_posix()}"
                s3.client.put_object(Bucket=bucket, Key=sub, Body=path.read_bytes())
    return f"s3://{bucket}/{key}"


@pytest.fixture
def sources(tmp_path: Path, s3_server: S3, s3_bucket: str) -> dict[str, tuple[str, Any, Any]]:
    """name -> (URL, expected values, expected affine), references independent of lazyvol."""
    out: dict[str, tuple[str, Any, Any]] = {}
    nii = Path(write_phantom_nifti(tmp_path / "a.nii", (24, 20, 16), slope=2.0, inter=-5.0))
    img = nib.load(nii)
    out["nii"] = (_put_tree(s3_server, s3_bucket, nii, "n/a.nii"), img.get_fdata(), img.affine)
    gz = Path(write_phantom_nifti(tmp_path / "b.nii.gz", (24, 20, 16, 3), dtype="int16"))
    img = nib.load(gz)
    out["nii.gz"] = (
        _put_tree(s3_server, s3_bucket, gz, "n/b.nii.gz"),
        np.asanyarray(img.dataobj),
        img.affine,
    )
    truth = write_dicom_series(tmp_path / "series", (32, 28, 10), orientation="oblique")
    out["dicom"] = (
        _put_tree(s3_server, s3_bucket, tmp_path / "series", "d/1.2.3.series") + "/",
        truth.stored,
        truth.affine,
    )
    data = np.random.default_rng(5).integers(-900, 3000, (20, 18, 12), dtype=np.int16)
    store = lv.Volume(data, ZARR_AFFINE).to_zarr(tmp_path / "img.zarr", chunks=(8, 8, 4))
    out["zarr"] = (_put_tree(s3_server, s3_bucket, Path(store), "z/img.zarr"), data, ZARR_AFFINE)
    return out


KINDS = ["nii", "nii.gz", "dicom", "zarr"]


def _check(vol: lv.Volume, want: Any, affine: Any) -> None:
    np.testing.assert_allclose(np.asarray(vol.compute(), dtype="float64"), want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(vol.affine, affine, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_lv_open_of_each_remote_kind_equals_the_reference(sources, s3_server, kind):
    url, want, affine = sources[kind]
    vol = lv.open(url, storage_options=s3_server.options())
    _check(vol, want, affine)
    # a slice through the direct path and through dask agree with the reference
    k = want.shape[2] // 2
    got = np.take(np.asarray(vol[:, :, k : k + 1].compute(), "float64"), 0, axis=2)
    np.testing.assert_allclose(got, want[:, :, k], atol=1e-6)
    for text in (repr(vol), str(vol.source), vol.data.name):
        assert S3_KEY not in text and S3_SECRET not in text


@pytest.mark.parametrize("kind", KINDS)
def test_cache_of_each_remote_kind(sources, s3_server, s3_bucket, kind, tmp_path):
    url, want, affine = sources[kind]
    cache = tmp_path / "cache"
    opts = s3_server.options()
    first = lv.open(url, storage_options=opts, cache=cache)
    _check(first, want, affine)
    entries = lvcache.list_entries(cache)
    assert len(entries) == 1
    second = lv.open(url, storage_options=opts, cache=cache)
    assert second.data.name.startswith("lazyvol-zarr-")  # served by the entry
    _check(second, want, affine)
    assert [e.key for e in lvcache.list_entries(cache)] == [entries[0].key]
    blob = b"".join(p.read_bytes() for p in cache.rglob("*") if p.is_file())
    assert S3_KEY.encode() not in blob and S3_SECRET.encode() not in blob


def test_a_failed_remote_read_leaves_nothing_in_the_cache(sources, s3_server, s3_bucket, tmp_path):
    url, _want, _affine = sources["nii"]
    cache = tmp_path / "cache"
    key = url.split(f"s3://{s3_bucket}/", 1)[1]
    blob = s3_server.client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    # same name, a shorter object: opening still works only if the header is intact, and the
    # first pass (which writes the entry) must fail without leaving an entry behind
    s3_server.client.put_object(Bucket=s3_bucket, Key=key, Body=blob[: len(blob) // 2])
    with pytest.raises(lv.LazyvolError):
        lv.open(url, storage_options=s3_server.options(), cache=cache).compute()
    assert lvcache.list_entries(cache) == []
    leftovers = [p for p in cache.rglob("*") if p.is_file() and "lazyvol-tmp" not in p.name]
    assert not [p for p in leftovers if p.suffix == ".json" and "manifest" in p.name]


def test_every_remote_kind_computes_on_distributed_workers(sources, s3_server, dist_client):
    for kind in KINDS:
        url, want, _affine = sources[kind]
        vol = lv.open(url, storage_options=s3_server.options())
        total = dist_client.compute(vol.data.astype("float64").sum()).result()
        np.testing.assert_allclose(total, np.sum(want, dtype="float64"), rtol=1e-9, err_msg=kind)
    assert os.getpid() not in dist_client.run(os.getpid).values()
