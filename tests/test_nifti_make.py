"""The NIfTI header lazyvol writes, alike in a ``.nii`` and in a Zarr store's NIfTI-Zarr ``nifti``
array: qform code 0 where the qform cannot hold the affine, the 4th axis' own unit, NIfTI-2 where
NIfTI-1 cannot hold the volume, a DICOM series' dim_info and slice timing; read back by nibabel,
SimpleITK and niizarr, against the synthetic truth."""

from __future__ import annotations

import io
import json
import warnings

import nibabel as nib
import numpy as np
import pytest
import zarr

import lazyvol as lv


def _store_header(store):
    raw = np.asarray(zarr.open_group(store, mode="r")["nifti"][:]).tobytes()
    cls = nib.Nifti2Header if len(raw) == 540 else nib.Nifti1Header
    return cls.from_fileobj(io.BytesIO(raw), check=False)


def _both(vol, tmp_path):
    """(header of the .nii to_nifti writes, header of the store to_zarr writes, their paths)."""
    nii = vol.to_nifti(tmp_path / "o.nii")
    store = vol.to_zarr(tmp_path / "o.zarr")
    return nib.load(nii).header, _store_header(store), nii, store


def _sitk_ras(path, ijk):
    import SimpleITK as sitk

    return np.array(sitk.ReadImage(str(path)).TransformContinuousIndexToPhysicalPoint(ijk)) * [
        -1,
        -1,
        1,
    ]


@pytest.mark.parametrize("tilt", [0.0, 15.0], ids=["oblique", "gantry-tilt"])
def test_a_qform_that_cannot_hold_the_affine_is_coded_0(tmp_path, tilt):
    """A gantry-tilted CT (sheared affine) was written with its shear-stripped qform coded 1:
    SimpleITK read that qform and placed voxels 4 mm off. Its qform code is now 0 (as nibabel
    gives any new image), the sform holds the exact affine; ITK then refuses the file (it takes only
    orthonormal directions) rather than misplacing it. An unsheared oblique series keeps its
    qform, code 1, and SimpleITK places its voxels where the DICOM says."""
    from lazyvol.testing.dicom_series import write_dicom_series

    truth = write_dicom_series(
        tmp_path / "in", (20, 16, 12), orientation="oblique", tilt_deg=tilt, spacing=(1, 1, 2.5)
    )
    vol = lv.open(tmp_path / "in")
    written, stored, nii, _ = _both(vol, tmp_path)
    sheared = tilt != 0
    for hdr in (written, stored):
        assert (int(hdr["sform_code"]), int(hdr["qform_code"])) == (1, 0 if sheared else 1)
        np.testing.assert_allclose(hdr.get_sform(), truth.affine, atol=1e-4)
        np.testing.assert_allclose(
            hdr.get_zooms()[:3], (1, 1, np.linalg.norm(truth.affine[:3, 2])), rtol=1e-6
        )
    ijk = [0.0, 15.0, 11.0]
    want = (truth.affine @ np.r_[ijk, 1])[:3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if sheared:
            with pytest.raises(RuntimeError, match="orthonormal"):
                _sitk_ras(nii, ijk)
        else:
            np.testing.assert_allclose(_sitk_ras(nii, ijk), want, atol=1e-3)


def test_cosines_rounded_as_scanners_write_them_keep_a_valid_qform(tmp_path):
    """An oblique series whose positions and cosines are rounded to six digits (as GE writes
    them) is slanted by the rounding alone, 5e-5 off orthogonal: no tilt, and dcm2niix writes its
    qform code 1. It was written with qform code 0, a file SimpleITK refused. The qform holds
    every voxel within a tenth of one, so it is labelled valid; a real tilt is not."""
    from lazyvol.nifti_carry import qform_holds

    rng = np.random.default_rng(0)
    rot, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    affine = np.eye(4)
    affine[:3, :3] = rot * [0.9, 0.9, 3.0]
    affine[:3, 2] += 5e-5 * 3.0 * rot[:, 0]  # rounding's slant: 1.5e-4 mm per slice
    shape = (256, 256, 40)
    assert qform_holds(affine, shape)
    vol = lv.Volume(np.zeros(shape, np.int16), affine)
    nii = vol.to_nifti(tmp_path / "r.nii")
    assert int(nib.load(nii).header["qform_code"]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(
            _sitk_ras(nii, [3.0, 5.0, 2.0]), (affine @ [3, 5, 2, 1])[:3], atol=1e-3
        )
    tilted = affine.copy()
    tilted[:3, 2] += np.tan(np.radians(1.0)) * 3.0 * rot[:, 1]  # a 1 degree gantry tilt
    assert not qform_holds(tilted, shape)


@pytest.mark.parametrize(
    ("unit", "ome"),
    [("hz", None), ("ppm", None), ("rads", None), ("msec", "millisecond"), ("sec", "second")],
)
def test_the_4th_axis_keeps_its_unit_through_nifti_and_zarr(tmp_path, unit, ome):
    """A 4th axis in Hz, ppm or rad/s was written as seconds (pixdim[4] then claimed a time step),
    in the .nii, the store's NIfTI header and after a Zarr trip. Each keeps the source's unit, as
    nibabel's own save does; the OME time axis states no unit for them (OME's time units are
    times: Hz is none)."""
    img = nib.Nifti1Image(np.zeros((4, 5, 6, 3), np.float32), np.eye(4))
    img.header.set_xyzt_units("mm", unit)
    img.header["pixdim"][4] = 12.5
    nib.save(img, tmp_path / "src.nii")
    nib.save(nib.load(tmp_path / "src.nii"), tmp_path / "ref.nii")
    want = nib.load(tmp_path / "ref.nii").header
    written, stored, _, store = _both(lv.open(tmp_path / "src.nii"), tmp_path)
    back = nib.load(lv.open(store).to_nifti(tmp_path / "back.nii")).header
    for hdr in (written, stored, back):
        assert hdr.get_xyzt_units() == want.get_xyzt_units() == ("mm", unit)
        assert hdr.get_zooms()[3] == want.get_zooms()[3] == 12.5
    with open(f"{store}/zarr.json") as f:
        axes = json.load(f)["attributes"]["ome"]["multiscales"][0]["axes"]
    t = next(a for a in axes if a["name"] == "t")
    assert t.get("unit") == ome


def test_the_store_header_is_nifti2_where_to_nifti_writes_nifti2(tmp_path):
    """1e39 mm voxels overflow NIfTI-1's float32: to_nifti wrote NIfTI-2, the store's header stayed
    NIfTI-1 with inf in pixdim and srow. Both are NIfTI-2 now, and niizarr reads the store's."""
    import niizarr

    aff = np.diag([1e39, 2.0, 3.0, 1.0])
    aff[:3, 3] = [1e38, -5.0, 7.0]
    vol = lv.Volume(np.arange(24, dtype=np.int16).reshape(2, 3, 4), aff)
    written, stored, _, store = _both(vol, tmp_path)
    for hdr in (written, stored):
        assert isinstance(hdr, nib.Nifti2Header)
        np.testing.assert_array_equal(hdr.get_sform(), aff)
        assert np.all(np.isfinite(hdr["pixdim"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = niizarr.zarr2nii(str(store))
    assert isinstance(img, nib.Nifti2Image)
    assert img.header["sform_code"] == 1
    np.testing.assert_array_equal(img.header.get_sform(), aff)


def test_a_dicom_store_header_carries_dim_info_and_slice_timing(tmp_path):
    """to_nifti wrote a DICOM series' dim_info, slice_code and slice_duration (as dcm2niix does);
    the store's NIfTI header left them out, so niizarr users lost the slice timing."""
    from lazyvol.testing.mosaic import write_mosaic_series

    truth = write_mosaic_series(tmp_path / "in", (8, 8, 7), volumes=2, phase="COL")
    written, stored, _, _ = _both(lv.open(tmp_path / "in"), tmp_path)
    times = [t / 1000 for t in truth.slice_times_ms]
    for hdr in (written, stored):
        assert hdr.get_dim_info() == (0, 1, 2)  # phase along j (COL), frequency along i
        assert hdr.get_value_label("slice_code") == "alternating increasing"
        np.testing.assert_allclose(hdr.get_slice_times(), times, atol=1e-4)


def test_the_store_header_keeps_the_source_description(tmp_path):
    """The store's NIfTI-Zarr header had descrip "lazyvol" in place of the source's (to_nifti and
    nib.save keep it), so a NIfTI written from the store by niizarr lost it; and a source with none
    got "lazyvol". Both headers now carry the source's text fields, cut or not."""
    img = nib.Nifti1Image(np.arange(60, dtype=np.int16).reshape(3, 4, 5), np.diag([1, 2, 3, 1]))
    img.header["descrip"] = b"FSL5.0 realigned"
    img.header["aux_file"] = b"lut.txt"
    nib.save(img, tmp_path / "src.nii")
    nib.save(nib.Nifti1Image(np.ones((3, 4, 5), np.uint8), np.eye(4)), tmp_path / "none.nii")
    for src, want in (("src.nii", b"FSL5.0 realigned"), ("none.nii", b"")):
        for i, vol in enumerate((lv.open(tmp_path / src), lv.open(tmp_path / src)[::-1, 1:])):
            out = tmp_path / f"{src}{i}"
            out.mkdir()
            written, stored, _, _ = _both(vol, out)
            assert written["descrip"] == want
            assert stored["descrip"] == want
            assert (
                stored["aux_file"]
                == written["aux_file"]
                == nib.load(tmp_path / src).header["aux_file"]
            )
