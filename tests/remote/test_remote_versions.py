"""Versions of a remote object: versioned S3 buckets (listings state no VersionId, HEADs do).
Against moto's S3 server; values compared with pydicom's."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from remote_servers import S3

import lazyvol as lv
from lazyvol.errors import SourceChangedError
from lazyvol.testing import write_dicom_series


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
