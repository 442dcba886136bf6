"""Canon / Toshiba and UIH diffusion tables, against dcm2niix and the synthetic truth.

- Canon (and Toshiba before it) write DiffusionBValue (0018,9087) only on the images with a
  diffusion gradient: a b = 0 image has no b-value, and lazyvol dropped the whole table.
- Canon's classic DICOM keeps the direction in ImageComments (0020,4000), ``b=1000(x,y,z)``, in
  the image frame: lazyvol gave every weighted volume a zero gradient and flagged it "derived".
- UIH writes its b-value and direction in (0065,1009) / (0065,1037) (image frame, b = 0 as 1.25):
  lazyvol read neither.

dcm2niix's .bval / .bvec are the reference, its b-vectors mapped to the patient frame through its
own affine; UIH's directions are also checked against their image-frame definition (numpy).
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.dicom.vendor import canon_comment_gradient, vendor_of
from lazyvol.sidecar import world_gradients
from lazyvol.testing import write_dicom_4d_series

SHAPE = (8, 6, 3)
DIRS = np.random.default_rng(1).normal(size=(3, 3))
DIRS /= np.linalg.norm(DIRS, axis=1, keepdims=True)


def _series(folder: Path, manufacturer: str, bvals, orientation="axial", dk=2.5, phase="COL"):
    """A DWI written with the standard attributes (b = 0 volumes with a zero vector)."""
    bvecs = [(0.0, 0.0, 0.0) if b == 0 else tuple(DIRS[n % 3]) for n, b in enumerate(bvals)]
    extra = {"Manufacturer": manufacturer, "PatientPosition": "HFS"}
    if phase:
        extra["InPlanePhaseEncodingDirection"] = phase
    return write_dicom_4d_series(
        folder,
        SHAPE,
        labels=(),
        bvals=bvals,
        bvecs=bvecs,
        modality="MR",
        orientation=orientation,
        spacing=(1.0, 1.0, dk),
        extra=extra,
    )


def _rewrite(truth, edit) -> None:
    for p in truth.files:
        ds = pydicom.dcmread(p)
        edit(ds)
        ds.save_as(p)


def _drop_b0_attributes(ds) -> None:
    """Canon's b = 0 image: neither DiffusionBValue nor DiffusionGradientOrientation."""
    if float(ds.DiffusionBValue) == 0:
        del ds.DiffusionBValue, ds.DiffusionGradientOrientation


def _reference(dcm2niix, src: Path, out: Path) -> tuple[np.ndarray | None, np.ndarray | None]:
    """dcm2niix's b-values and directions (LPS, one row per volume), or None without a table."""
    (nii,) = dcm2niix(src, out)
    if not nii.with_suffix(".bval").exists():
        return None, None
    bvals = np.loadtxt(nii.with_suffix(".bval"), ndmin=1)
    bvecs = np.loadtxt(nii.with_suffix(".bvec"), ndmin=2)
    return bvals, world_gradients(bvecs, nib.load(nii).affine)


def _written_lps(vol: lv.Volume, path: Path) -> np.ndarray:
    """The directions lazyvol's own .bvec holds, in the patient frame."""
    vol.to_nifti(path)
    bvecs = np.loadtxt(path.with_suffix(".bvec"), ndmin=2)
    return world_gradients(bvecs, nib.load(path).affine)


@pytest.mark.parametrize("manufacturer", ["TOSHIBA_MEC", "CANON_MEC"])
@pytest.mark.parametrize("bvals", [[0, 1000, 1000, 0, 1000], [1000, 0, 1000, 1000, 0]])
def test_canon_b0_images_without_a_b_value_are_b0(tmp_path, dcm2niix, manufacturer, bvals):
    """b = 0 wherever they are, as dcm2niix writes them; the directions (0018,9089) stay the
    patient-frame ones the standard defines."""
    truth = _series(tmp_path / "s", manufacturer, bvals)
    _rewrite(truth, _drop_b0_attributes)
    vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    diff = vol.meta["diffusion"]
    assert diff["bvals"] == [float(b) for b in bvals]
    assert diff["no_bvalue"] == [n for n, b in enumerate(bvals) if b == 0]
    # Canon's own practice: recorded, not warned about
    assert not any("without a b-value" in w for w in vol.meta.get("warnings", []))
    np.testing.assert_allclose(diff["gradients_lps"], truth.meta["bvecs"], atol=1e-6)
    np.testing.assert_allclose(
        _written_lps(vol, tmp_path / "v.nii"), truth.meta["bvecs"], atol=1e-6
    )
    ref_bvals, ref_lps = _reference(dcm2niix, tmp_path / "s", tmp_path / "out")
    np.testing.assert_allclose(diff["bvals"], ref_bvals)
    if bvals[0] or manufacturer.startswith("TOSHIBA"):
        np.testing.assert_allclose(diff["gradients_lps"], ref_lps, atol=1e-4)
    else:
        # dcm2niix takes a Canon series whose first file lacks (0018,9089) for one with
        # image-frame directions (its GE rule): the patient-frame ones come out mirrored
        np.testing.assert_allclose(diff["gradients_lps"], ref_lps * [-1, -1, 1], atol=1e-4)


@pytest.mark.parametrize("first_has_one", [True, False])
def test_other_vendors_volumes_without_a_b_value_keep_the_table_with_a_warning(
    tmp_path, dcm2niix, first_has_one
):
    """dcm2niix writes b = 0 for them when the first volume states a b-value, and no table at
    all when it does not: lazyvol keeps the table either way, and says so."""
    bvals = [1000, 0, 1000, 1000, 0] if first_has_one else [0, 1000, 1000, 0, 1000]
    truth = _series(tmp_path / "s", "SIEMENS", bvals)
    _rewrite(truth, _drop_b0_attributes)
    vol = lv.open(tmp_path / "s")
    diff = vol.meta["diffusion"]
    assert diff["bvals"] == [float(b) for b in bvals]
    assert diff["no_bvalue"] == [n for n, b in enumerate(bvals) if b == 0]
    assert any("without a b-value" in w for w in vol.meta["warnings"])
    ref_bvals, _ = _reference(dcm2niix, tmp_path / "s", tmp_path / "out")
    if first_has_one:
        np.testing.assert_allclose(diff["bvals"], ref_bvals)
    else:
        assert ref_bvals is None  # (what the warning says)


def _to_comments(ds) -> None:
    """Canon classic DICOM: the direction only in ImageComments, b = 0 without attributes."""
    _drop_b0_attributes(ds)
    if "DiffusionBValue" in ds:
        g = [float(x) for x in ds.DiffusionGradientOrientation]
        del ds.DiffusionGradientOrientation
        ds.ImageComments = f"b={float(ds.DiffusionBValue):g}({g[0]:.3f},{g[1]:.3f},{g[2]:.3f})"


@pytest.mark.parametrize("orientation", ["axial", "oblique"])
@pytest.mark.parametrize("phase", ["COL", "ROW"])
@pytest.mark.parametrize("dk", [2.5, -2.5])
def test_canon_image_comments_directions_are_dcm2niixs(tmp_path, dcm2niix, orientation, phase, dk):
    bvals = [0, 1000, 1000, 1000]
    truth = _series(tmp_path / "s", "CANON_MEC", bvals, orientation, dk, phase)
    _rewrite(truth, _to_comments)
    vol = lv.open(tmp_path / "s")
    diff = vol.meta["diffusion"]
    assert "derived_volumes" not in diff
    assert diff["bvals"] == bvals
    ref_bvals, ref_lps = _reference(dcm2niix, tmp_path / "s", tmp_path / "out")
    np.testing.assert_allclose(diff["bvals"], ref_bvals)
    np.testing.assert_allclose(diff["gradients_lps"], ref_lps, atol=2e-3)
    np.testing.assert_allclose(_written_lps(vol, tmp_path / "v.nii"), ref_lps, atol=2e-3)


def test_canon_image_comments_directions_need_the_images_b_value_and_canon(tmp_path, dcm2niix):
    """A comment of another b-value is not the image's direction (dcm2niix reads it only when
    they agree): a zero vector, flagged; the same comment on a non-Canon image means nothing."""

    def other_b(ds) -> None:
        _to_comments(ds)
        if "ImageComments" in ds:
            ds.ImageComments = ds.ImageComments.replace("b=1000(", "b=900(")

    truth = _series(tmp_path / "s", "CANON_MEC", [0, 1000, 1000])
    _rewrite(truth, other_b)
    with pytest.warns(RuntimeWarning, match="derived diffusion"):
        diff = lv.open(tmp_path / "s").meta["diffusion"]
    assert diff["derived_volumes"] == [1, 2]
    _, ref_lps = _reference(dcm2niix, tmp_path / "s", tmp_path / "out")
    np.testing.assert_allclose(ref_lps[1:], 0, atol=1e-6)
    truth = _series(tmp_path / "g", "ACME", [0, 1000, 1000])
    _rewrite(truth, _to_comments)
    with pytest.warns(RuntimeWarning, match="derived diffusion"):
        assert lv.open(tmp_path / "g").meta["diffusion"]["derived_volumes"] == [1, 2]


def test_canon_comment_parsing():
    assert canon_comment_gradient("b=1500(0.445,0.000,0.895)", 1500.0) == [0.445, 0.0, 0.895]
    assert canon_comment_gradient(" b=1000( -0.5, 0.5 ,0.7071)", 999.6) == [-0.5, 0.5, 0.7071]
    assert canon_comment_gradient("b=1000(0.1,0.2,0.3)", 1500.0) is None
    assert canon_comment_gradient("scan b=1000(0.1,0.2,0.3)", 1000.0) is None
    assert canon_comment_gradient("b=1000(0.1,0.2)", 1000.0) is None
    assert canon_comment_gradient("", 1000.0) is None


def _to_uih(ds) -> None:
    """UIH's private attributes (b = 0 written as 1.25), no standard ones."""
    b = float(ds.DiffusionBValue)
    g = [float(x) for x in ds.DiffusionGradientOrientation]
    del ds.DiffusionBValue, ds.DiffusionGradientOrientation
    ds.add_new(0x00650010, "LO", "Image Private Header")
    ds.add_new(0x00651009, "FD", b if b else 1.25)
    ds.add_new(0x00651037, "FD", g)


@pytest.mark.parametrize("orientation", ["axial", "sagittal", "coronal", "oblique"])
@pytest.mark.parametrize("dk", [2.5, -2.5])
def test_uih_private_diffusion_is_dcm2niixs(tmp_path, dcm2niix, orientation, dk):
    truth = _series(tmp_path / "s", "UIH", [0, 1000, 1000, 1000], orientation, dk)
    _rewrite(truth, _to_uih)
    vol = lv.open(tmp_path / "s")
    diff = vol.meta["diffusion"]
    assert diff["bvals"] == [1.25, 1000.0, 1000.0, 1000.0]
    assert "derived_volumes" not in diff  # b = 1.25 with a zero vector is UIH's b = 0
    # UIH's direction is in the image frame: g0 row + g1 column + g2 (row x column)
    ds = pydicom.dcmread(truth.files[0])
    iop = np.array([float(x) for x in ds.ImageOrientationPatient])
    frame = np.stack([iop[:3], iop[3:], np.cross(iop[:3], iop[3:])])
    expected = np.asarray(truth.meta["bvecs"], float) @ frame
    np.testing.assert_allclose(diff["gradients_lps"], expected, atol=1e-6)
    ref_bvals, ref_lps = _reference(dcm2niix, tmp_path / "s", tmp_path / "out")
    np.testing.assert_allclose(diff["bvals"], ref_bvals)
    np.testing.assert_allclose(_written_lps(vol, tmp_path / "v.nii"), ref_lps, atol=1e-4)


@pytest.mark.parametrize("bvals", [[0, 0, 0], [0]])
def test_a_uih_series_of_b0_images_only_has_no_table(tmp_path, dcm2niix, bvals):
    """UIH writes b = 0 images as b = 1.25 with no direction: a series of only those (the
    reverse phase-encoding b0 run of a protocol) got a table of 1.25s; dcm2niix writes none, and
    lazyvol writes none for the same series with the standard b = 0."""
    truth = _series(tmp_path / "s", "UIH", bvals)
    _rewrite(truth, _to_uih)
    vol = lv.open(tmp_path / "s")
    assert vol.meta.get("diffusion") is None
    vol.to_nifti(tmp_path / "v.nii")
    assert not (tmp_path / "v.bval").exists()
    assert _reference(dcm2niix, tmp_path / "s", tmp_path / "out") == (None, None)


@pytest.mark.parametrize("bvals", [[0, 1000, 500], [1000, 1000]])
def test_a_ge_series_whose_weighted_volumes_all_lack_directions_says_why_it_has_no_table(
    tmp_path, bvals
):
    """Every GE volume with a b-value but no direction is a b = 0 image (dcm2niix writes them 0):
    the table then had no weighted volume and was dropped without a word."""
    write_dicom_4d_series(
        tmp_path / "s",
        SHAPE,
        labels=(),
        bvals=bvals,
        bvecs=[(0.0, 0.0, 0.0)] * len(bvals),
        vendor="GE",
    )
    vol = lv.open(tmp_path / "s")
    assert vol.meta.get("diffusion") is None
    assert any("no diffusion table" in w for w in vol.meta["warnings"])


def test_vendor_of_knows_uih():
    assert vendor_of("UIH") == "UIH"
    assert vendor_of("United Imaging Healthcare") == "UIH"
    assert vendor_of("TOSHIBA_MEC") == "CANON"
    assert vendor_of("ACME") == ""


def test_a_volume_takes_its_b_value_from_the_slices_that_state_it(tmp_path):
    """The b-value of a one-file-per-slice volume came from its first slice alone: a first slice
    without DiffusionBValue among slices stating b = 1000 made a b = 0 volume (dcm2niix, which
    reads the first slice too, writes 0; the other slices say otherwise)."""
    truth = _series(tmp_path / "s", "SIEMENS", [0, 1000, 1000, 1000])
    by_volume: dict[float, list[tuple[int, str]]] = {}
    for p in truth.files:
        d = pydicom.dcmread(p)
        by_volume.setdefault(float(d.DiffusionBValue), []).append((int(d.InstanceNumber), p))
    victim = min(by_volume[1000.0])[1]  # the first slice of the first b = 1000 volume
    d = pydicom.dcmread(victim)
    del d.DiffusionBValue, d.DiffusionGradientOrientation
    d.save_as(victim)
    vol = lv.open(tmp_path / "s")
    assert vol.meta["diffusion"]["bvals"] == [0.0, 1000.0, 1000.0, 1000.0]
    assert np.linalg.norm(vol.meta["diffusion"]["gradients_lps"][1]) > 0.99


@pytest.mark.parametrize("creator", ["Philips Imaging DD 001", "ACME PRIVATE 01"])
def test_philips_file_without_manufacturer_read_as_dcm2niix(tmp_path, dcm2niix, creator):
    """An anonymiser dropped Manufacturer from a Philips DWI that states its diffusion in its
    private (2001,1003) / (2005,10B0-10B2) only: dcm2niix reads it as Philips' (its block
    (2001,0010) says so) and writes the table and "Manufacturer": "Philips"; lazyvol wrote no
    .bval / .bvec. Another creator's block at (2001,0010) is not Philips'."""
    bvals = [0, 1000, 1000, 1000]
    truth = _series(tmp_path / "s", "Philips Medical Systems", bvals)

    def anonymise(ds) -> None:
        b, g = float(ds.DiffusionBValue), [float(x) for x in ds.DiffusionGradientOrientation]
        del ds.DiffusionBValue, ds.DiffusionGradientOrientation, ds.Manufacturer
        ds.private_block(0x2001, creator, create=True).add_new(0x03, "FL", b)
        block = ds.private_block(0x2005, "Philips MR Imaging DD 001", create=True)
        for element, value in zip((0xB0, 0xB1, 0xB2), g, strict=True):
            block.add_new(element, "FL", value)

    _rewrite(truth, anonymise)
    vol = lv.open(tmp_path / "s")
    ref_bvals, ref_lps = _reference(dcm2niix, tmp_path / "s", tmp_path / "out")
    if not creator.startswith("Philips"):
        assert ref_bvals is None and "diffusion" not in vol.meta
        return
    np.testing.assert_allclose(vol.meta["diffusion"]["bvals"], bvals)
    np.testing.assert_allclose(vol.meta["diffusion"]["bvals"], ref_bvals)
    np.testing.assert_allclose(
        vol.meta["diffusion"]["gradients_lps"], truth.meta["bvecs"], atol=1e-6
    )
    np.testing.assert_allclose(_written_lps(vol, tmp_path / "v.nii"), ref_lps, atol=1e-4)
    assert vol.meta["bids"]["Manufacturer"] == "Philips"
