"""A gzip-compressed NIfTI at a URL whose name does not end in ``.gz`` (a download API's
``get?id=3``, an object stored as ``scan.nii`` or ``scan``) opens as gzip: its bytes say what it
is, and a URL's user cannot rename the object the message used to say to rename. Compared with
nibabel's reading of the local ``.nii.gz``."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from remote_servers import S3, HttpServer

import lazyvol as lv
from lazyvol.testing.nifti import write_phantom_nifti


@pytest.mark.parametrize("name", ["v/scan.nii", "v/scan", "get?id=3"])
def test_a_gzip_stream_not_named_gz_at_a_url_opens(tmp_path: Path, name, http_server: HttpServer):
    """Was refused: "the file is gzip-compressed but not named .gz; rename it to end in .gz"."""
    path = write_phantom_nifti(tmp_path / "a.nii.gz", (9, 7, 6, 2), dtype="int16", slope=0.5)
    url = http_server.put(name, Path(path).read_bytes())
    vol = lv.open(url)
    nii = nib.load(path)
    np.testing.assert_allclose(np.asarray(vol.compute()), nii.get_fdata(), rtol=1e-6)
    np.testing.assert_allclose(vol.affine, nii.affine, atol=1e-6)
    np.testing.assert_array_equal(
        np.asarray(vol[:, :, 2:4, 1].compute()), nii.get_fdata()[:, :, 2:4, 1]
    )


def test_a_gzip_stream_not_named_gz_on_s3_opens(tmp_path: Path, s3_server: S3, s3_bucket):
    path = write_phantom_nifti(tmp_path / "a.nii.gz", (8, 6, 5), dtype="uint8")
    s3_server.client.put_object(Bucket=s3_bucket, Key="a.nii", Body=Path(path).read_bytes())
    vol = lv.open(f"s3://{s3_bucket}/a.nii", storage_options=s3_server.options())
    np.testing.assert_array_equal(np.asarray(vol.compute()), np.asarray(nib.load(path).dataobj))


def test_a_local_gzip_file_not_named_gz_is_still_told_to_be_renamed(tmp_path: Path):
    """A local file's user can rename it (the message says how); a URL's cannot."""
    path = write_phantom_nifti(tmp_path / "a.nii.gz", (8, 6, 5), dtype="uint8")
    plain = tmp_path / "a.nii"
    plain.write_bytes(Path(path).read_bytes())
    with pytest.raises(lv.FormatError, match=r"rename it to end in \.gz"):
        lv.open(plain)


@pytest.mark.parametrize("name", ["v/scan.nii", "v/scan", "get?id=3"])
def test_references_of_a_gzip_stream_not_named_gz_are_refused(
    tmp_path: Path, name, http_server: HttpServer
):
    """Once lazyvol.open read such a URL as gzip (ae0cd89), lv.references of one named .nii made
    references whose offsets were the header's vox_offset into the compressed bytes: a Zarr
    reader got garbage, silently. It is refused as a .nii.gz is (no chunk of a gzip stream has
    an address)."""
    path = write_phantom_nifti(tmp_path / "a.nii.gz", (8, 6, 5), dtype="int16")
    url = http_server.put(name, Path(path).read_bytes())
    with pytest.raises(lv.UnsupportedError, match="compressed file cannot be referenced"):
        lv.references(url)
