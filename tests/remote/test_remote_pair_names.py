"""A remote Analyze / NIfTI pair whose two files differ in compression (``a.hdr.gz`` beside
``a.img``): the missing file's refusal names the one the server has, and the fix, as it does for
local pairs (it said only "is missing": no folder is listed for a message remotely)."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from remote_servers import S3, HttpServer

import lazyvol as lv


def _pair(tmp_path: Path) -> tuple[bytes, bytes]:
    img = nib.Nifti1Pair(np.arange(60, dtype=np.int16).reshape(5, 4, 3), np.eye(4))
    nib.save(img, tmp_path / "a.hdr")
    return (tmp_path / "a.hdr").read_bytes(), (tmp_path / "a.img").read_bytes()


#: (header name, image name) as served: the image in the other compression than the header.
MISMATCHED = [("a.hdr.gz", "a.img"), ("a.hdr", "a.img.gz"), ("A.HDR", "A.IMG.GZ")]


@pytest.mark.parametrize(("hdr_name", "img_name"), MISMATCHED)
def test_http_pair_in_two_compressions_names_the_other_file(
    tmp_path: Path, http_server: HttpServer, hdr_name: str, img_name: str
):
    hdr, img = _pair(tmp_path)
    url = http_server.put(
        f"p/{hdr_name}", gzip.compress(hdr) if hdr_name.endswith(("gz", "GZ")) else hdr
    )
    http_server.put(f"p/{img_name}", gzip.compress(img) if img_name.endswith(("gz", "GZ")) else img)
    with pytest.raises(lv.SourceNotFoundError) as info:
        lv.open(url)
    msg = str(info.value)
    assert f"p/{img_name} is there" in msg, msg
    assert "so that both are gzipped or neither" in msg, msg


def test_http_pair_missing_its_image_says_nothing_more(tmp_path: Path, http_server: HttpServer):
    hdr, _img = _pair(tmp_path)
    url = http_server.put("q/a.hdr", hdr)
    with pytest.raises(lv.SourceNotFoundError) as info:
        lv.open(url)
    assert "is missing" in str(info.value) and "is there" not in str(info.value)


def test_s3_pair_in_two_compressions_names_the_other_file(tmp_path: Path, s3_server: S3, s3_bucket):
    hdr, img = _pair(tmp_path)
    s3_server.client.put_object(Bucket=s3_bucket, Key="p/a.hdr", Body=hdr)
    s3_server.client.put_object(Bucket=s3_bucket, Key="p/a.img.gz", Body=gzip.compress(img))
    with pytest.raises(lv.SourceNotFoundError) as info:
        lv.open(f"s3://{s3_bucket}/p/a.hdr", storage_options=s3_server.options())
    assert f"s3://{s3_bucket}/p/a.img.gz is there" in str(info.value), str(info.value)
