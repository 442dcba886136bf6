"""A pair's data file named .gz (x.img.gz beside a gzipped x.hdr.gz) that is not gzip: refused at
open naming the data file, its header, what the bytes are and the fix (both files gzipped or
neither), where it said only 'not a gzip file (bad magic bytes); is it really .gz?'."""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv


@pytest.mark.parametrize("kind", ["Nifti1Pair", "AnalyzeImage"])
@pytest.mark.parametrize("img_bytes", ["plain", "bzip2", "short"])
def test_a_pairs_img_gz_that_is_not_gzip_is_named_with_the_fix(
    tmp_path: Path, kind: str, img_bytes: str
) -> None:
    a = (np.arange(4 * 5 * 6, dtype=np.int16) * 7 - 50).reshape(4, 5, 6)
    nib.save(getattr(nib, kind)(a, np.diag([2.0, 3.0, 4.0, 1.0])), tmp_path / "x.hdr")
    hdr, img = (tmp_path / "x.hdr").read_bytes(), (tmp_path / "x.img").read_bytes()
    (tmp_path / "x.hdr").unlink()
    (tmp_path / "x.img").unlink()
    (tmp_path / "x.hdr.gz").write_bytes(gzip.compress(hdr))
    data = {"plain": img, "bzip2": bz2.compress(img), "short": img[:10]}[img_bytes]
    (tmp_path / "x.img.gz").write_bytes(data)
    with pytest.raises(Exception):  # noqa: B017 - the independent reference refuses it too
        np.asanyarray(nib.load(tmp_path / "x.hdr.gz").dataobj)
    with pytest.raises(lv.FormatError) as info:
        lv.open(tmp_path / "x.hdr.gz")
    text = str(info.value)
    assert f"{tmp_path / 'x.img.gz'} (data of {tmp_path / 'x.hdr.gz'}): named .gz but" in text
    what = {
        "plain": "not compressed",
        "bzip2": "bzip2-compressed",
        "short": "too short for a gzip stream",
    }
    assert what[img_bytes] in text
    if img_bytes == "plain":
        assert "both gzipped or neither" in text and "gzip x.img" in text
    if img_bytes == "plain":  # the fix the message gives reads as nibabel reads it
        (tmp_path / "x.img.gz").write_bytes(gzip.compress(img))
        ref = np.asanyarray(nib.load(tmp_path / "x.hdr.gz").dataobj)
        np.testing.assert_array_equal(lv.open(tmp_path / "x.hdr.gz").compute(), ref)
