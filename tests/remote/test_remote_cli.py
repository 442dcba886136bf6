"""The ``lazyvol`` commands that open or scan a source (info, stats, convert) on S3 sources served
by moto on loopback, with credentials as ``--storage-option`` flags: results equal nibabel's and the
synthetic DICOM truth, and no credential appears in anything printed.

Needs ``lazyvol.open(..., storage_options=...)`` and ``lazyvol.scan(..., storage_options=...)``
(the API side of issue 17); skipped, with the reason, while they do not accept it.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from remote_servers import S3, S3_KEY, S3_SECRET
from test_remote_cli_references import flags, run

import lazyvol as lv
from lazyvol.testing import write_dicom_series, write_phantom_nifti


def _accepts_storage_options() -> bool:
    scan = lv.scan  # the function
    return all("storage_options" in inspect.signature(f).parameters for f in (lv.open, scan))


pytestmark = pytest.mark.skipif(
    not _accepts_storage_options(),
    reason="lazyvol.open / lazyvol.scan do not accept storage_options yet (issue 17 API side)",
)


def _put_file(s3: S3, bucket: str, key: str, path: Path) -> str:
    s3.client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    return f"s3://{bucket}/{key}"


def _no_secret(r) -> None:
    assert S3_SECRET not in r.stdout + r.stderr and S3_KEY not in r.stdout + r.stderr


def test_info_and_stats_of_a_remote_nifti(tmp_path, s3_server, s3_bucket):
    path = Path(write_phantom_nifti(tmp_path / "b.nii.gz", (20, 16, 10), dtype="int16"))
    url = _put_file(s3_server, s3_bucket, "anat/b.nii.gz", path)
    img = nib.load(path)
    r = run(tmp_path, "info", url, "--json", *flags(s3_server))
    assert r.returncode == 0, r.stderr
    _no_secret(r)
    info = json.loads(r.stdout)
    assert info["path"] == url and info["shape"] == [20, 16, 10] and info["dtype"] == "int16"
    np.testing.assert_allclose(info["affine"], img.affine, atol=1e-6)
    assert info["size_on_disk"] == path.stat().st_size
    r = run(tmp_path, "stats", url, "--json", *flags(s3_server))
    assert r.returncode == 0, r.stderr
    _no_secret(r)
    data = np.asarray(img.dataobj).astype(np.float64)
    res = json.loads(r.stdout)
    assert res["min"] == data.min() and res["max"] == data.max()
    np.testing.assert_allclose(res["mean"], data.mean(), rtol=1e-12)


def test_convert_a_remote_nifti_to_a_local_file(tmp_path, s3_server, s3_bucket):
    path = Path(write_phantom_nifti(tmp_path / "c.nii", (12, 10, 8), dtype="float32"))
    url = _put_file(s3_server, s3_bucket, "c.nii", path)
    r = run(tmp_path, "convert", url, "out.nii.gz", *flags(s3_server))
    assert r.returncode == 0, r.stderr
    _no_secret(r)
    out = nib.load(tmp_path / "out.nii.gz")
    np.testing.assert_array_equal(np.asarray(out.dataobj), np.asarray(nib.load(path).dataobj))
    np.testing.assert_allclose(out.affine, nib.load(path).affine, atol=1e-5)


def test_info_of_a_dicom_prefix_lists_and_selects_series(tmp_path, s3_server, s3_bucket):
    truths = {}
    for number in (3, 7):
        folder = tmp_path / f"s{number}"
        truths[number] = write_dicom_series(folder, (16, 12, 5), series_number=number)
        for f in sorted(folder.iterdir()):
            _put_file(s3_server, s3_bucket, f"study/s{number}/{f.name}", f)
    prefix = f"s3://{s3_bucket}/study/"
    r = run(tmp_path, "info", prefix, "--json", *flags(s3_server))
    assert r.returncode == 0, r.stderr
    _no_secret(r)
    table = json.loads(r.stdout)
    assert sorted(row["number"] for row in table["series"]) == [3, 7]
    assert all(row["files"] == 5 and row["status"] == "ok" for row in table["series"])
    r = run(tmp_path, "info", prefix, "--series", "7", "--json", *flags(s3_server))
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["shape"] == [16, 12, 5] and info["series"]["number"] == 7
    np.testing.assert_allclose(info["affine"], truths[7].affine, atol=1e-5)


def test_dicom_only_flags_on_a_remote_nifti_are_one_line_errors(tmp_path, s3_server, s3_bucket):
    """--series or a DICOM stacking flag with a remote NIfTI reached the reader, whose TypeError
    the command printed as a traceback; the URL's name tells it is one volume."""
    path = Path(write_phantom_nifti(tmp_path / "v.nii", (8, 8, 4), dtype="int16"))
    url = _put_file(s3_server, s3_bucket, "v.nii", path)
    for extra in (["--series", "2"], ["--allow-gaps"]):
        r = run(tmp_path, "info", url, *extra, *flags(s3_server))
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert "is a NIfTI file (one volume)" in r.stderr
        _no_secret(r)
