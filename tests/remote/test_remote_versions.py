"""A header and the data it describes come from one version of a remote object, or the read
fails: servers whose answers come from two versions (replicas behind a round-robin balancer, a
cache answering HEADs for a replaced object), a header read from a replacement never saved in the
scan index, and versioned S3 buckets (listings state no VersionId, HEADs do). Against the
misbehaving loopback server of hostile_server.py and moto's S3 server; values compared with
nibabel's, pydicom's and the synthetic writers' truth."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hostile_server import HostileServer
from remote_servers import S3

import lazyvol as lv
from lazyvol.errors import SourceChangedError
from lazyvol.testing import write_dicom_series, write_phantom_nifti

nib = pytest.importorskip("nibabel")

SHAPE = (20, 16, 8)


def _nifti(tmp_path: Path, name: str, seed: int, slope: float) -> tuple[bytes, np.ndarray]:
    """A phantom's file bytes and its values in real units as nibabel reads them."""
    path = write_phantom_nifti(
        tmp_path / f"{seed}-{name}", SHAPE, dtype="int16", seed=seed, slope=slope
    )
    return Path(path).read_bytes(), np.asarray(nib.load(path).get_fdata())


def _slice_values(raw: bytes) -> np.ndarray:
    """One DICOM file's values in real units, (column, row), from pydicom alone."""
    ds = pydicom.dcmread(io.BytesIO(raw))
    return ds.pixel_array.T * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def _other_version(raw: bytes) -> bytes:
    """The same file with RescaleSlope 4 and its rows reversed: another version, same size."""
    ds = pydicom.dcmread(io.BytesIO(raw))
    ds.RescaleSlope = "4.0"
    ds.PixelData = np.ascontiguousarray(ds.pixel_array[::-1]).tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    assert len(out.getvalue()) == len(raw)
    return out.getvalue()


def _web_series(tmp_path: Path, server: HostileServer) -> tuple[str, list[bytes], np.ndarray]:
    """A 4-slice series served as a web folder: its URL, each file's bytes, pydicom's values."""
    truth = write_dicom_series(tmp_path / "s", (16, 12, 4), slope=2.0, intercept=-3.0)
    server.index_pages = True
    raws = [Path(f).read_bytes() for f in truth.files]
    for k, raw in enumerate(raws):
        server.put(f"s/{k}.dcm", raw)
    return f"{server.url}/s/", raws, np.stack([_slice_values(r) for r in raws], axis=-1)


@pytest.mark.parametrize("name", ["a.nii", "a.nii.gz"])
def test_a_header_from_another_replica_than_the_stamp_is_refused(
    tmp_path, hostile_server: HostileServer, name
):
    """Two replicas answering in turn (versions A and B, each with its own strong ETag): the
    header GET's answer (B) was not checked against the stamp (A, from the HEAD), so the
    volume held B's scl_slope over A's pixels (x3), no error."""
    a, truth_a = _nifti(tmp_path, name, seed=1, slope=1.0)
    b, _truth_b = _nifti(tmp_path, name, seed=2, slope=3.0)
    url = hostile_server.put(name, a, replicas=(b,))
    with pytest.raises(SourceChangedError, match=rf"{name}: the object changed after it was"):
        lv.open(url).compute()
    hostile_server.obj(name).replicas = ()  # the update is over: every answer is A
    np.testing.assert_allclose(lv.open(url).compute(), truth_a)


def test_dicom_frames_of_another_version_than_heads_say_are_refused(
    tmp_path, hostile_server: HostileServer
):
    """A web folder whose HEADs are answered by a stale cache: the frames' GETs (the new
    version's bytes and ETag) were used unchecked and the HEAD after the read said "unchanged",
    so a slice held the new pixels x the old RescaleSlope, no error."""
    url, raws, truth = _web_series(tmp_path, hostile_server)
    vol = lv.open(url)
    np.testing.assert_array_equal(vol.compute(), truth)
    hostile_server.obj("s/2.dcm").get_data = _other_version(raws[2])
    with pytest.raises(SourceChangedError, match=r"s/2\.dcm: the object changed"):
        vol.compute()


def test_a_header_read_from_a_replacement_is_never_saved_in_the_scan_index(
    tmp_path, hostile_server: HostileServer, dicom_cache
):
    """A file replaced between its listing (HEAD) and its header GET: the replacement's header
    (RescaleSlope 4) was saved in the scan index under the listing's stamp; once the site was
    rolled back (the old file, the old ETag), a new open took the saved header: the original
    pixels x 4, no error."""
    url, raws, truth = _web_series(tmp_path, hostile_server)
    hostile_server.obj("s/1.dcm").get_data = _other_version(raws[1])
    with pytest.raises(SourceChangedError, match=r"s/1\.dcm: the object changed"):
        lv.open(url)
    hostile_server.obj("s/1.dcm").get_data = None  # rolled back
    np.testing.assert_array_equal(lv.open(url).compute(), truth)


def test_a_series_in_a_versioned_bucket_opens_and_a_replacement_is_still_refused(
    tmp_path, s3_server: S3, s3_bucket: str
):
    """Every series of a versioned bucket failed to compute with a false "object changed"
    (ETag <md5> -> <md5>@<VersionId>): the scan stamps come from the listing, which states no
    VersionId, the checks after each read from HEADs, which do."""
    truth = write_dicom_series(tmp_path / "s", (16, 12, 4), slope=2.0, intercept=-3.0)
    client = s3_server.client
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    raws = [Path(f).read_bytes() for f in truth.files]
    for k, raw in enumerate(raws):
        client.put_object(Bucket=s3_bucket, Key=f"s/{k}.dcm", Body=raw)
    url = f"s3://{s3_bucket}/s/"
    vol = lv.open(url, storage_options=s3_server.options())
    expected = np.stack([_slice_values(r) for r in raws], axis=-1)
    np.testing.assert_array_equal(vol.compute(), expected)
    client.put_object(Bucket=s3_bucket, Key="s/3.dcm", Body=_other_version(raws[3]))
    with pytest.raises(SourceChangedError, match=r"s/3\.dcm: the object changed"):
        vol.compute()
