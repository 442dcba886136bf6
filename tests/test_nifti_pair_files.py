"""A pair's missing file (``x.img`` of ``x.hdr``, or the header of ``x.img``) with a file beside
it under another case or compression: the error names that file and how to pair it (nibabel and
lazyvol find a pair's files by the other's name only; the message said only "is missing")."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv


def _pair(folder: Path) -> np.ndarray:
    truth = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    nib.save(nib.Nifti1Pair(truth, np.eye(4)), folder / "a.img")
    return truth


@pytest.mark.parametrize(
    ("opened", "missing", "beside", "fix"),
    [
        ("a.hdr", "a.img", "a.img.gz", "both are gzipped or neither"),
        ("a.hdr", "a.img", "a.IMG", "rename it to a.img"),
        ("a.img", "a.hdr", "a.HDR", "rename it to a.hdr"),
        ("a.img", "a.hdr", "a.hdr.gz", "both are gzipped or neither"),
    ],
)
def test_missing_pair_file_names_the_one_beside_it(
    tmp_path: Path, opened: str, missing: str, beside: str, fix: str
) -> None:
    truth = _pair(tmp_path)
    raw = (tmp_path / missing).read_bytes()
    os.remove(tmp_path / missing)
    (tmp_path / beside).write_bytes(gzip.compress(raw) if beside.endswith(".gz") else raw)
    with pytest.raises(lv.SourceNotFoundError) as err:
        lv.open(tmp_path / opened)
    msg = str(err.value)
    assert f"{missing} is missing; {tmp_path / beside} is there" in msg and fix in msg
    if fix.startswith("rename"):  # the advice works
        os.rename(tmp_path / beside, tmp_path / missing)
        np.testing.assert_array_equal(lv.open(tmp_path / opened).compute(), truth)


def test_missing_pair_file_with_nothing_beside_it(tmp_path: Path) -> None:
    _pair(tmp_path)
    os.remove(tmp_path / "a.img")
    with pytest.raises(lv.SourceNotFoundError, match=r"a\.img is missing$"):
        lv.open(tmp_path / "a.hdr")


@pytest.mark.parametrize("cls", [nib.Nifti1Pair, nib.Nifti2Pair, nib.AnalyzeImage])
def test_a_pairs_negative_vox_offset_is_not_called_a_single_files(
    tmp_path: Path, cls: type
) -> None:
    nib.save(cls(np.zeros((2, 3, 4), np.int16), np.eye(4)), tmp_path / "p.img")
    hdr = cls.header_class.from_fileobj(open(tmp_path / "p.hdr", "rb"), check=False)
    hdr["vox_offset"] = -8
    (tmp_path / "p.hdr").write_bytes(hdr.binaryblock)
    with pytest.raises(lv.FormatError) as err:
        lv.open(tmp_path / "p.hdr")
    msg = str(err.value)
    assert "vox_offset = -8" in msg and "single-file" not in msg and "0 or more" in msg


@pytest.mark.parametrize(("opened", "missing"), [("a.hdr", "a.img"), ("a.img", "a.hdr")])
def test_a_pair_file_that_is_a_link_to_no_file_is_named_so(
    tmp_path: Path, opened: str, missing: str
) -> None:
    """The other file of a pair, a symbolic link leading to no file (a git-annex / DataLad file
    not fetched), was said to be missing, a name its folder lists: the error says it is such a
    link, where it leads and how to get it (as an opened file that is one says, 9273c50)."""
    _pair(tmp_path)
    os.remove(tmp_path / missing)
    os.symlink(tmp_path / ".git" / "annex" / "objects" / "x", tmp_path / missing)
    with pytest.raises(lv.SourceNotFoundError, match=rf"{missing}.*symbolic link to .*annex"):
        lv.open(tmp_path / opened)


@pytest.mark.parametrize("opened", ["a.nii", "a.hdr"])
def test_a_source_that_is_a_link_in_a_loop_is_not_called_a_file_not_fetched(
    tmp_path: Path, opened: str
) -> None:
    """An opened path that is a symbolic link in a loop of links was described as a git-annex /
    DataLad file not fetched ('datalad get' it): nothing can be fetched there. The error says it
    is a loop (the other file of a pair in a loop is refused as one too)."""
    _pair(tmp_path)
    for name in ("a.nii", "a.img"):
        target = tmp_path / (name + ".loop")
        (tmp_path / name).unlink(missing_ok=True)
        os.symlink(target, tmp_path / name)
        os.symlink(tmp_path / name, target)
    with pytest.raises(lv.LazyvolError, match=r"loop of links|Too many levels") as err:
        lv.open(tmp_path / opened)
    assert "datalad" not in str(err.value)
