"""``lazyvol references`` on an S3 source served by moto on loopback, with credentials given as
``--storage-option`` flags or a ``--storage-options`` file: the references read back (zarr through
fsspec's reference filesystem) equal nibabel's values, and no credential appears in the output,
the errors, a ``--debug`` traceback or the references file. Runs the real console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import fsspec
import nibabel as nib
import numpy as np
import pytest
import zarr
from remote_servers import S3, S3_KEY, S3_SECRET

from lazyvol.testing import write_phantom_nifti

SRC = str(Path(__file__).resolve().parents[2] / "src")
SCRIPT = shutil.which("lazyvol", path=os.path.dirname(sys.executable))


def run(tmp_path: Path, *args: object) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)  # the s3_bucket fixture removed every AWS_* credential variable
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["LAZYVOL_CACHE_DIR"] = str(tmp_path / "cache")
    env["LAZYVOL_REMOTE_TIMEOUT"] = "10"
    cmd = [SCRIPT] if SCRIPT else [sys.executable, "-m", "lazyvol"]
    return subprocess.run(
        [*cmd, *map(str, args)], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )


def flags(s3: S3, secret: str = S3_SECRET) -> list[str]:
    return [
        "--storage-option",
        f"key={S3_KEY}",
        "--storage-option",
        f"secret={secret}",
        "--storage-option",
        f"client_kwargs.endpoint_url={s3.endpoint}",
        "--storage-option",
        "client_kwargs.region_name=us-east-1",
    ]


@pytest.fixture
def remote_nii(tmp_path: Path, s3_server: S3, s3_bucket: str) -> tuple[str, np.ndarray]:
    path = write_phantom_nifti(tmp_path / "s.nii", (12, 10, 6), dtype="int16")
    s3_server.client.put_object(Bucket=s3_bucket, Key="sub/s.nii", Body=Path(path).read_bytes())
    return f"s3://{s3_bucket}/sub/s.nii", np.asarray(nib.load(path).dataobj)


def _read_refs(refs_file: Path, s3: S3) -> np.ndarray:
    refs = json.loads(refs_file.read_text())
    fs = fsspec.filesystem(
        "reference",
        fo=refs,
        remote_protocol="s3",
        remote_options={**s3.options(), "asynchronous": True},
        asynchronous=True,
    )
    group = zarr.open_group(
        zarr.storage.FsspecStore(fs, read_only=True, path=""), mode="r", zarr_format=2
    )
    stored = group["image"][...]
    return stored.transpose(2, 1, 0)  # stored (k, j, i) -> lazyvol's (i, j, k)


def _no_secret(*texts: str) -> None:
    for text in texts:
        assert S3_SECRET not in text and S3_KEY not in text, text


def test_references_with_storage_option_flags(tmp_path, s3_server, remote_nii):
    url, ref = remote_nii
    r = run(tmp_path, "references", url, "-o", "refs.json", *flags(s3_server))
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and "refs.json" in r.stdout
    _no_secret(r.stdout, r.stderr, (tmp_path / "refs.json").read_text())
    np.testing.assert_array_equal(_read_refs(tmp_path / "refs.json", s3_server), ref)


def test_references_with_a_storage_options_file(tmp_path, s3_server, remote_nii):
    url, ref = remote_nii
    (tmp_path / "s3.json").write_text(json.dumps(s3_server.options()))
    # a flag overrides the file's value (the region), nested mappings are merged
    r = run(
        tmp_path,
        "references",
        url,
        "-o",
        "refs.json",
        "--storage-options",
        "s3.json",
        "--storage-option",
        "client_kwargs.region_name=us-east-1",
    )
    assert r.returncode == 0, r.stderr
    _no_secret(r.stdout, r.stderr, (tmp_path / "refs.json").read_text())
    np.testing.assert_array_equal(_read_refs(tmp_path / "refs.json", s3_server), ref)


def test_denied_request_is_one_line_without_credentials(tmp_path, s3_server, s3_bucket, remote_nii):
    url, _ = remote_nii
    # a bucket policy denying reads: S3 answers 403 AccessDenied
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{s3_bucket}/*",
            }
        ],
    }
    s3_server.client.put_bucket_policy(Bucket=s3_bucket, Policy=json.dumps(policy))
    r = run(tmp_path, "references", url, "-o", "refs.json", *flags(s3_server))
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lazyvol: error: ") and url in lines[0]
    assert "denied" in lines[0].lower()
    _no_secret(r.stdout, r.stderr)
    assert not (tmp_path / "refs.json").exists()
    r = run(tmp_path, "references", url, "-o", "refs.json", "--debug", *flags(s3_server))
    assert r.returncode == 2 and "Traceback" in r.stderr and url in r.stderr
    _no_secret(r.stdout, r.stderr)


def test_missing_object_names_the_url(tmp_path, s3_server, s3_bucket):
    url = f"s3://{s3_bucket}/nope/missing.nii"
    r = run(tmp_path, "references", url, "-o", "refs.json", *flags(s3_server))
    assert r.returncode == 2 and "missing.nii" in r.stderr, r.stderr
    _no_secret(r.stdout, r.stderr)


def test_info_of_a_missing_url_says_so(tmp_path, s3_server, s3_bucket):
    # neither an object nor a prefix: refused before any open or scan
    url = f"s3://{s3_bucket}/no/such/prefix"
    r = run(tmp_path, "info", url, *flags(s3_server))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.strip() == f"lazyvol: error: {url}: no such object or prefix"
    r = run(tmp_path, "info", url, "--header", *flags(s3_server))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and url in r.stderr
