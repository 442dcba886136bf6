"""The two files of a pair are found by nibabel's case rule (``types_filenames``): the type
suffix's case follows the found one when it is all upper or all lower case, and a compression
suffix is kept as found (x.HDR.gz pairs with x.IMG.gz, x.hdr.GZ with x.img.GZ), where lazyvol
took the whole suffix's case (x.HDR.gz looked for x.img.gz) and refused pairs nibabel reads. A
missing file's near miss names only files of the same stem, or of a stem differing in case that
no other file pairs with: never another image's file to rename."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv

A = (np.arange(4 * 5 * 6, dtype=np.int16) * 7 - 50).reshape(4, 5, 6)


def _pair(folder: Path, stem: str, hdr: str, img: str, kind: str = "Nifti1Pair") -> Path:
    """``stem + hdr`` and ``stem + img`` holding a pair of A (gzipped where named .gz, any case)."""
    plain = folder / "plain"
    plain.mkdir(exist_ok=True)
    nib.save(getattr(nib, kind)(A, np.diag([2.0, 3.0, 4.0, 1.0])), plain / "p.hdr")
    for src, suffix in (("p.hdr", hdr), ("p.img", img)):
        raw = (plain / src).read_bytes()
        out = folder / (stem + suffix)
        out.write_bytes(gzip.compress(raw) if suffix.lower().endswith(".gz") else raw)
    return folder / (stem + hdr)


@pytest.mark.parametrize("kind", ["Nifti1Pair", "AnalyzeImage"])
@pytest.mark.parametrize(
    ("hdr", "img"),
    [
        (".HDR.gz", ".IMG.gz"),
        (".hdr.GZ", ".img.GZ"),
        (".HDR.GZ", ".IMG.GZ"),
        (".HDR", ".IMG"),
        (".hdr.gz", ".img.gz"),
    ],
)
def test_a_pair_named_by_nibabels_case_rule_reads_from_either_file(
    tmp_path: Path, kind: str, hdr: str, img: str
) -> None:
    path = _pair(tmp_path, "x", hdr, img, kind)
    ref = np.asanyarray(nib.load(path).dataobj)  # the reference reads it
    np.testing.assert_array_equal(ref, A)
    np.testing.assert_array_equal(lv.open(path).compute(), ref)
    np.testing.assert_array_equal(lv.open(tmp_path / ("x" + img)).compute(), ref)


@pytest.mark.parametrize(("hdr", "img"), [(".HDR.gz", ".img.gz"), (".hdr.GZ", ".img.gz")])
def test_a_pair_nibabel_does_not_pair_is_refused_naming_the_near_miss(
    tmp_path: Path, hdr: str, img: str
) -> None:
    path = _pair(tmp_path, "x", hdr, img)
    with pytest.raises(Exception):  # noqa: B017 - the reference does not pair them either
        np.asanyarray(nib.load(path).dataobj)
    with pytest.raises(lv.SourceNotFoundError) as info:
        lv.open(path)
    assert f"{tmp_path / ('x' + img)} is there" in str(info.value)


def test_another_images_file_is_never_offered_as_the_missing_one(tmp_path: Path) -> None:
    """x.hdr without x.img, beside the complete pair X.hdr + X.img (another image): the message
    said 'X.img is there ... rename it to x.img', which would take the other image's data."""
    _pair(tmp_path, "X", ".hdr", ".img")
    lonely = _pair(tmp_path, "x", ".hdr", ".img")
    (tmp_path / "x.img").unlink()
    if (tmp_path / "X.img").samefile(lonely):  # pragma: no cover - a case-insensitive folder
        pytest.skip("the folder's names are not case-sensitive")
    with pytest.raises(lv.SourceNotFoundError) as info:
        lv.open(lonely)
    assert "X.img" not in str(info.value) and "is missing" in str(info.value)
    # A stem differing in case that nothing else pairs with is still offered.
    (tmp_path / "X.hdr").unlink()
    with pytest.raises(lv.SourceNotFoundError, match=r"X\.img is there.*rename it to x\.img"):
        lv.open(lonely)
