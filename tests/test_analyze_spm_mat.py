"""SPM's ``.mat`` sidecar of an Analyze pair: found as nibabel finds it (the header's name with
``.hdr`` replaced, its compression suffix kept), inflated in bounded memory, and its affine used."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

import lazyvol as lv
from lazyvol.errors import FormatError
from lazyvol.nifti_header import MAX_SIDECAR_BYTES

nib = pytest.importorskip("nibabel")
pytest.importorskip("scipy")

#: A rotated SPM affine: the .mat gives another orientation than the header's pixdim.
ROTATED = np.array([[0, -2.0, 0, 5], [3, 0, 0, 6], [0, 0, 4, 7], [0, 0, 0, 1]])


def _spm_pair(tmp_path: Path, name: str) -> Path:
    data = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    path = tmp_path / name
    nib.save(nib.Spm2AnalyzeImage(data, ROTATED), path)
    return path


@pytest.mark.parametrize(
    ("saved", "opened"),
    [
        ("a.img", "a.img"),
        ("a.img", "a.hdr"),
        ("a.img.gz", "a.img.gz"),
        ("a.img.gz", "a.hdr.gz"),
        ("A.IMG.GZ", "A.HDR.GZ"),
    ],
)
def test_the_mat_sidecar_gives_nibabels_affine(tmp_path: Path, saved: str, opened: str) -> None:
    _spm_pair(tmp_path, saved)
    mats = [p.name for p in tmp_path.iterdir() if p.name.lower().startswith("a.mat")]
    assert len(mats) == 1  # nibabel wrote one, compressed as the pair is
    ref = nib.load(tmp_path / opened)
    assert not np.allclose(ref.affine, ref.header.get_best_affine())  # the .mat is what counts
    vol = lv.open(tmp_path / opened)
    np.testing.assert_array_equal(vol.affine, ref.affine)
    np.testing.assert_array_equal(vol.compute(), np.asanyarray(ref.dataobj))
    assert vol.meta["affine_source"] == "mat"  # (not the header's pixdim: "base")


def test_an_oversized_mat_is_refused_not_inflated(tmp_path: Path) -> None:
    path = _spm_pair(tmp_path, "a.img.gz")
    (tmp_path / "a.mat.gz").write_bytes(gzip.compress(b"\0" * (MAX_SIDECAR_BYTES + 1)))
    with pytest.raises(FormatError, match=r"a\.mat\.gz.*more than .* bytes.*remove or rename"):
        lv.open(path)


def test_a_corrupt_mat_gz_is_refused_naming_it(tmp_path: Path) -> None:
    path = _spm_pair(tmp_path, "a.img.gz")
    mat = tmp_path / "a.mat.gz"
    good = mat.read_bytes()
    mat.write_bytes(good[:-12])  # cut short
    with pytest.raises(Exception):  # noqa: B017 - nibabel refuses too (its error is untyped)
        nib.load(path).affine  # noqa: B018
    with pytest.raises(FormatError, match=r"a\.mat\.gz"):
        lv.open(path)


def test_an_empty_or_absent_mat_leaves_the_header_affine(tmp_path: Path) -> None:
    path = _spm_pair(tmp_path, "a.img.gz")
    (tmp_path / "a.mat.gz").unlink()
    want = nib.load(path).affine
    np.testing.assert_array_equal(lv.open(path).affine, want)
    (tmp_path / "a.mat.gz").write_bytes(b"")  # nibabel: an empty .mat is none (indexed_gzip fails)
    np.testing.assert_array_equal(lv.open(path).affine, want)


@pytest.mark.parametrize("saved", ["a.img", "a.img.gz"])
def test_the_mat_is_part_of_the_pairs_identity(tmp_path: Path, saved: str) -> None:
    """The .mat gives the affine: a cache entry of the pair is not served once only the .mat
    changed (the .hdr and .img were its only source files: the old affine came back)."""
    path = _spm_pair(tmp_path, saved)
    first = lv.open(path, cache=True)
    first.compute()
    np.testing.assert_allclose(first.affine, nib.load(path).affine)
    moved = ROTATED.copy()
    moved[:3, 3] = [50.0, 60.0, 70.0]
    other = tmp_path / "other"
    other.mkdir()
    nib.save(nib.Spm2AnalyzeImage(np.asanyarray(nib.load(path).dataobj), moved), other / saved)
    mat = saved.replace(".img", ".mat")
    (tmp_path / mat).write_bytes((other / mat).read_bytes())  # only the .mat changes
    want = nib.load(path).affine
    assert not np.allclose(want, first.affine)
    np.testing.assert_allclose(lv.open(path, cache=True).affine, want)


def test_a_plain_mat_beside_a_gzipped_pair_is_named_in_a_warning(tmp_path: Path) -> None:
    """`gzip x.hdr x.img` after SPM wrote x.mat: nibabel reads only x.mat.gz there, and so does
    lazyvol (the header's affine), but it says the .mat is not used."""
    path = _spm_pair(tmp_path, "a.img")
    for name in ("a.img", "a.hdr"):
        raw = (tmp_path / name).read_bytes()
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(raw))
        (tmp_path / name).unlink()
    gz = tmp_path / "a.img.gz"
    with pytest.warns(RuntimeWarning, match=r"a\.mat is not read.*a\.mat\.gz"):
        vol = lv.open(gz)
    np.testing.assert_allclose(vol.affine, nib.load(gz).affine)
    assert path.with_suffix(".mat").exists()


def _savemat(path: Path, content: dict) -> None:
    import scipy.io

    scipy.io.savemat(path, content)


def _matlab_v73(path: Path) -> None:
    """The 128-byte header of a MATLAB v7.3 (HDF5) file: scipy and nibabel refuse it."""
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 ."
    path.write_bytes(text.ljust(116, b" ") + bytes(8) + b"\x00\x02IM" + bytes(512))


@pytest.mark.parametrize(
    "make",
    [
        lambda p: _savemat(p, {"results": np.arange(5)}),  # a MATLAB results file
        _matlab_v73,
        lambda p: _savemat(p, {"mat": np.full((4, 4), np.nan)}),  # SPM's name, no affine
    ],
    ids=["results-file", "v7.3", "nan-mat"],
)
def test_a_mat_that_is_not_spms_is_named_with_the_fix(tmp_path: Path, make) -> None:
    """The header is fine (nibabel and lazyvol open the pair without the .mat): the message names
    the .mat and says to move it, not the header."""
    img = nib.AnalyzeImage(np.arange(60, dtype=np.int16).reshape(3, 4, 5), np.diag([2, 3, 4, 1.0]))
    nib.save(img, tmp_path / "a.hdr")
    ref = nib.load(tmp_path / "a.hdr")
    np.testing.assert_array_equal(lv.open(tmp_path / "a.hdr").affine, ref.affine)
    make(tmp_path / "a.mat")
    with pytest.raises(FormatError, match=r"a\.mat: the \.mat beside .*move or rename it") as err:
        lv.open(tmp_path / "a.hdr")
    assert "header" not in str(err.value).replace("Analyze image", "")
