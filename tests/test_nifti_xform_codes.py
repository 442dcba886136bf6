"""The sform and qform codes of a NIfTI written from a volume (``to_nifti``, ``to_nibabel``, the
NIfTI-Zarr header of ``to_zarr``) each describe the transform written under them: checked against
the transforms and codes nibabel reads from the source, and the affine nibabel and lazyvol read
back from what was written."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest

import lazyvol as lv

nib = pytest.importorskip("nibabel")
zarr = pytest.importorskip("zarr")

SCANNER = np.array([[-2.0, 0, 0, 10], [0, 2, 0, -20], [0, 0, 2, 5], [0, 0, 0, 1]])
MNI = np.array([[-2.0, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]])
CASES = {
    "sform-mni-qform-scanner": ((MNI, 4), (SCANNER, 1)),
    "sform-scanner-qform-mni": ((SCANNER, 1), (MNI, 4)),
    "sform-and-qform-one-transform": ((SCANNER, 1), (SCANNER, 1)),
    "sform-mni-qform-scanner-code-one-transform": ((MNI, 4), (MNI, 1)),
    "qform-only-aligned": ((None, 0), (SCANNER, 2)),
    "no-transform": ((None, 0), (None, 0)),
}


def _source(path: Path, case: str) -> Path:
    (s, sc), (q, qc) = CASES[case]
    img = nib.Nifti1Image(np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6), None)
    img.header.set_zooms((2, 2, 2))
    img.header.set_sform(s, code=sc)
    img.header.set_qform(q, code=qc)
    nib.save(img, path)
    return path


def _transforms(hdr) -> dict[int, list[np.ndarray]]:
    """The source's transforms by code, as nibabel reads them."""
    out: dict[int, list[np.ndarray]] = {}
    for aff, code in (hdr.get_sform(coded=True), hdr.get_qform(coded=True)):
        if int(code):
            out.setdefault(int(code), []).append(aff)
    return out


def _written(vol: lv.Volume, tmp: Path) -> dict[str, object]:
    """The headers to_nifti, to_nibabel and to_zarr write for ``vol``."""
    nii = vol.to_nifti(tmp / "w.nii", overwrite=True)
    store = vol.to_zarr(tmp / "w.zarr", overwrite=True)
    raw = np.asarray(zarr.open_group(store, mode="r")["nifti"][...]).tobytes()
    return {
        "to_nifti": nib.load(nii).header,
        "to_nibabel": vol.to_nibabel().header,
        "store": nib.Nifti1Header.from_fileobj(io.BytesIO(raw)),
        "paths": (nii, store),
    }


def _check_codes(hdr, source_hdr) -> None:
    """Every code written names a transform the source gave that code, and holds it."""
    known = _transforms(source_hdr)
    for aff, code in (hdr.get_sform(coded=True), hdr.get_qform(coded=True)):
        if int(code):
            assert any(np.allclose(aff, t, atol=1e-4) for t in known.get(int(code), [])), code


@pytest.mark.parametrize("case", list(CASES))
def test_each_written_code_names_the_transform_written(tmp_path: Path, case: str) -> None:
    src = _source(tmp_path / "src.nii", case)
    ref = nib.load(src)
    vol = lv.open(src)
    out = _written(vol, tmp_path)
    for who in ("to_nifti", "to_nibabel", "store"):
        hdr = out[who]
        _check_codes(hdr, ref.header)
        np.testing.assert_allclose(hdr.get_best_affine(), ref.affine, atol=1e-5, err_msg=who)
        # the transform the affine came from keeps its code in the sform (nibabel's precedence)
        best = int(ref.header["sform_code"]) or int(ref.header["qform_code"])
        assert int(hdr["sform_code"]) == best, who
    nii, store = out["paths"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the store's header is used, without a complaint
        for path in (nii, store):
            np.testing.assert_allclose(lv.open(path).affine, ref.affine, atol=1e-5)


def test_a_qform_of_the_sforms_transform_keeps_its_code(tmp_path: Path) -> None:
    ref = nib.load(_source(tmp_path / "src.nii", "sform-and-qform-one-transform"))
    hdr = _written(lv.open(tmp_path / "src.nii"), tmp_path)["to_nifti"]
    assert (int(hdr["sform_code"]), int(hdr["qform_code"])) == (1, 1)
    np.testing.assert_allclose(hdr.get_qform(), ref.header.get_qform(), atol=1e-5)


@pytest.mark.parametrize("cut", [False, True], ids=["whole", "cut"])
def test_no_transform_stays_none_while_the_voxel_sizes_give_the_affine(
    tmp_path: Path, cut: bool
) -> None:
    """Codes 0/0 are written 0/0 (as nib.save keeps them) while the header's voxel sizes give the
    affine; a cut volume's affine is another (its origin moved): it is coded 2 and 0, as nibabel
    codes a new image's affine."""
    src = _source(tmp_path / "src.nii", "no-transform")
    vol = lv.open(src)
    if cut:
        vol = vol[1:, :, 2:5]
    ref = nib.load(src)
    want = ref.affine if not cut else ref.slicer[1:, :, 2:5].affine
    expected = nib.Nifti1Image(np.zeros(vol.shape, np.int16), want).header if cut else ref.header
    out = _written(vol, tmp_path)
    for who in ("to_nifti", "to_nibabel", "store"):
        hdr = out[who]
        codes = (int(hdr["sform_code"]), int(hdr["qform_code"]))
        assert codes == (int(expected["sform_code"]), int(expected["qform_code"])), who
        np.testing.assert_allclose(hdr.get_best_affine(), want, atol=1e-5, err_msg=who)
    for path in out["paths"]:
        np.testing.assert_allclose(lv.open(path).affine, want, atol=1e-5)


@pytest.mark.parametrize("mat", [False, True], ids=["analyze", "spm-mat"])
def test_an_analyze_source_is_coded_as_nib_save_codes_it(tmp_path: Path, mat: bool) -> None:
    pytest.importorskip("scipy")
    data = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    rotated = np.array([[0, -2.0, 0, 5], [3, 0, 0, 6], [0, 0, 4, 7], [0, 0, 0, 1]])
    if mat:
        nib.save(nib.Spm2AnalyzeImage(data, rotated), tmp_path / "a.img")
    else:
        nib.save(nib.AnalyzeImage(data, np.diag([2.0, 3.0, 4.0, 1.0])), tmp_path / "a.img")
    ref = nib.load(tmp_path / "a.img")
    nib.save(ref, tmp_path / "nb.nii")
    want = nib.load(tmp_path / "nb.nii").header
    out = _written(lv.open(tmp_path / "a.img"), tmp_path)
    for who in ("to_nifti", "to_nibabel", "store"):
        hdr = out[who]
        codes = (int(hdr["sform_code"]), int(hdr["qform_code"]))
        assert codes == (int(want["sform_code"]), int(want["qform_code"])), who
        np.testing.assert_allclose(hdr.get_best_affine(), ref.affine, atol=1e-5, err_msg=who)


#: The codes a NIfTI written from each case states: the source's, less a qform code whose qform
#: holds another transform than the sform written under both.
WRITTEN = {
    "sform-mni-qform-scanner": (4, 0),
    "sform-scanner-qform-mni": (1, 0),
    "sform-and-qform-one-transform": (1, 1),
    "sform-mni-qform-scanner-code-one-transform": (4, 1),
    "qform-only-aligned": (2, 2),
    "no-transform": (0, 0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_niftizarr_store_keeps_its_headers_codes(tmp_path: Path, case: str) -> None:
    """A NIfTI-Zarr store written by another tool (niizarr): its header's codes are what a NIfTI
    written from it states, as for the same file opened as .nii (every one was written 1/1,
    'scanner': an MNI transform, or none, labelled the scanner's). Reference: the header nibabel
    reads from the store (niizarr.zarr2nii)."""
    niizarr = pytest.importorskip("niizarr")
    src = _source(tmp_path / "src.nii", case)
    store = tmp_path / "src.nii.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        niizarr.nii2zarr(nib.load(src), str(store))
        ref = niizarr.zarr2nii(str(store))
    assert (int(ref.header["sform_code"]), int(ref.header["qform_code"])) == (
        CASES[case][0][1],
        CASES[case][1][1],
    )
    out = _written(lv.open(store), tmp_path)
    for who in ("to_nifti", "to_nibabel", "store"):
        hdr = out[who]
        assert (int(hdr["sform_code"]), int(hdr["qform_code"])) == WRITTEN[case], who
        _check_codes(hdr, ref.header)
        want = ref.header.get_best_affine()
        np.testing.assert_allclose(hdr.get_best_affine(), want, atol=1e-4, err_msg=who)
