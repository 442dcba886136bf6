"""Sidecars of a NIfTI write replaced as one set: an overwrite removes the old image's sidecars
the new volume has none of (as dcm2niix -w 1), a stale one is refused without overwrite, and no
kill leaves the new image beside the old sidecars or the old image beside the new ones."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol.errors import WriteError
from lazyvol.testing import write_dicom_4d_series, write_dicom_series

SIDECARS = ("out.json", "out.bval", "out.bvec")


def _dwi(tmp_path: Path) -> Path:
    folder = tmp_path / "dwi"
    write_dicom_4d_series(
        folder,
        (6, 5, 3),
        3,
        labels=("diffusion",),
        bvals=[0, 1000, 1000],
        bvecs=[[0, 0, 0], [1, 0, 0], [0, 1, 0]],
        modality="MR",
    )
    return folder


def _t1(tmp_path: Path) -> tuple[Path, np.ndarray]:
    truth = write_dicom_series(tmp_path / "t1", (6, 5, 3), modality="MR", seed=3)
    return tmp_path / "t1", truth.stored


def _nifti(tmp_path: Path) -> tuple[Path, np.ndarray]:
    a = np.arange(6 * 5 * 3 * 2, dtype=np.int16).reshape(6, 5, 3, 2)
    path = tmp_path / "bold.nii"
    nib.save(nib.Nifti1Image(a, np.eye(4)), path)
    return path, a


def _listing(folder: Path) -> set[str]:
    return {n for n in os.listdir(folder) if not n.startswith(".")}


@pytest.mark.parametrize("second", ["t1", "nifti"])
def test_overwrite_removes_the_sidecars_the_new_volume_has_none_of(tmp_path, second):
    """A DWI conversion, then another volume written over it: its .bval/.bvec (and its .json,
    for a volume that writes none) were left beside the new image, as FSL, MRtrix and BIDS apps
    would take them."""
    out = tmp_path / "o"
    out.mkdir()
    lv.open(_dwi(tmp_path)).to_nifti(out / "out.nii.gz")
    assert _listing(out) == {"out.nii.gz", *SIDECARS}
    src, truth = _t1(tmp_path) if second == "t1" else _nifti(tmp_path)
    lv.open(src).to_nifti(out / "out.nii.gz", overwrite=True)
    want = {"out.nii.gz", "out.json"} if second == "t1" else {"out.nii.gz"}
    assert _listing(out) == want  # what dcm2niix -w 1 leaves for a DICOM series
    np.testing.assert_array_equal(np.asarray(nib.load(out / "out.nii.gz").dataobj), truth)


@pytest.mark.parametrize(
    ("image", "stale"),
    [("out.nii", "out.bval"), ("out.nii", "out.json"), ("out_asl.nii", "out_aslcontext.tsv")],
)
@pytest.mark.parametrize("second", ["t1", "nifti"])
def test_a_stale_sidecar_without_the_image_is_refused_without_overwrite(
    tmp_path, image, stale, second
):
    """A sidecar of the name (the image itself deleted) would be taken as the new image's: refused
    naming it; overwrite=True removes it; sidecars=False leaves it, as it leaves every sidecar."""
    src, truth = _t1(tmp_path) if second == "t1" else _nifti(tmp_path)
    out = tmp_path / "o"
    out.mkdir()
    (out / stale).write_text("old\n")
    with pytest.raises(WriteError, match=rf"{stale}: sidecar file exists.*overwrite=True"):
        lv.open(src).to_nifti(out / image)
    assert _listing(out) == {stale}  # nothing written
    lv.open(src).to_nifti(out / image, sidecars=False)
    assert (out / stale).read_text() == "old\n"
    assert _listing(out) == {stale, image}
    lv.open(src).to_nifti(out / image, overwrite=True)
    json_name = image.replace(".nii", ".json")
    assert _listing(out) == ({image, json_name} if second == "t1" else {image})
    np.testing.assert_array_equal(np.asarray(nib.load(out / image).dataobj), truth)


def test_overwrite_with_sidecars_false_leaves_every_sidecar(tmp_path):
    """sidecars=False: the image alone is written; sidecars of the name are neither written nor
    removed (a hand-written one is kept)."""
    out = tmp_path / "o"
    out.mkdir()
    lv.open(_dwi(tmp_path)).to_nifti(out / "out.nii")
    before = {n: (out / n).read_bytes() for n in SIDECARS}
    src, truth = _nifti(tmp_path)
    lv.open(src).to_nifti(out / "out.nii", overwrite=True, sidecars=False)
    assert {n: (out / n).read_bytes() for n in SIDECARS} == before
    np.testing.assert_array_equal(np.asarray(nib.load(out / "out.nii").dataobj), truth)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {n: (folder / n).read_bytes() for n in _listing(folder)}


@pytest.mark.parametrize("order", ["dwi-then-t1", "nifti-then-dwi", "dwi-then-dwi"])
def test_no_kill_leaves_an_image_beside_another_images_sidecars(tmp_path, monkeypatch, order):
    """The folder as a kill after each rename or unlink of the overwrite would leave it: the old
    image with its own sidecars, the new one with its own, or no image; the image was published
    before its sidecars were written, so a kill between left it beside the old table."""
    out = tmp_path / "o"
    out.mkdir()
    first, second = order.split("-then-")
    sources = {"dwi": lambda: _dwi(tmp_path), "t1": lambda: _t1(tmp_path)[0]}
    sources["nifti"] = lambda: _nifti(tmp_path)[0]
    lv.open(sources[first]()).to_nifti(out / "out.nii")
    old = _snapshot(out)
    new_vol = lv.open(sources[second]())
    if first == second:  # same series: told apart by the b-values of its new table
        new_vol = new_vol[..., ::-1]
    states: list[dict[str, bytes]] = []
    real = {name: getattr(os, name) for name in ("replace", "rename", "link", "unlink")}

    def watched(name):
        def call(*args, **kwargs):
            try:
                return real[name](*args, **kwargs)
            finally:
                states.append(_snapshot(out))

        return call

    for name in real:
        monkeypatch.setattr(os, name, watched(name))
    new_vol.to_nifti(out / "out.nii", overwrite=True)
    monkeypatch.undo()
    new = _snapshot(out)
    assert new["out.nii"] != old["out.nii"] and new != old
    for state in states:
        if "out.nii" not in state:
            continue
        assert state in (old, new), sorted(state)
