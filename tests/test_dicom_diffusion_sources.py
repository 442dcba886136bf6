"""Diffusion values taken from the attributes that state them, and GE multi-shell gradient lengths,
against dcm2niix and the synthetic truth.

- GE from software 27 on writes the standard DiffusionBValue (0018,9087) on its weighted images,
  but the direction only in its private (0019,10BB-10BD); Philips and Siemens classic files can
  do the same with theirs. lazyvol took the standard b-value and never looked at the private
  direction: every weighted volume had a zero vector and was flagged derived. A private b-value
  with the standard direction (0018,9089) lost the direction the same way.
- GE multi-shell (tensor.dat) series write the series' largest b-value in (0043,1039) and a lower
  shell as a shorter gradient: its b-value is b |g|^2 (dcm2niix's ``geCorrectBvecs``, its issues
  163 and 245). lazyvol wrote the nominal b-value and the shortened vectors.
- Other vendors' vectors off unit length: dcm2niix keeps the b-value and normalises the direction.

dcm2niix's .bval / .bvec are the reference, its b-vectors mapped to the patient frame through its
own affine; the synthetic truth is the written b-values and directions (GE's image
frame turned into LPS with numpy from ImageOrientationPatient).
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series
from test_dicom_vendor_diffusion import _reference, _rewrite, _to_comments, _written_lps

SHAPE = (8, 6, 3)
_PRIVATE_B = {"GE": (0x0043, 0x1039), "PHILIPS": (0x2001, 0x1003), "SIEMENS": (0x0019, 0x100C)}
_PRIVATE_G = {
    "GE": [(0x0019, 0x10BB), (0x0019, 0x10BC), (0x0019, 0x10BD)],
    "PHILIPS": [(0x2005, 0x10B0), (0x2005, 0x10B1), (0x2005, 0x10B2)],
    "SIEMENS": [(0x0019, 0x100E)],
}


def _directions(n: int, seed: int = 1) -> np.ndarray:
    g = np.random.default_rng(seed).normal(size=(n, 3))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def _private_b(ds, vendor: str) -> float:
    v = ds[_PRIVATE_B[vendor]].value
    return float(v[0]) if vendor == "GE" else float(v)


def _private_g(ds, vendor: str) -> list[float]:
    if vendor == "SIEMENS":
        return [float(x) for x in ds[_PRIVATE_G[vendor][0]].value]
    return [float(ds[t].value) for t in _PRIVATE_G[vendor]]


def _image_frame_lps(folder: Path, g: np.ndarray) -> np.ndarray:
    """GE's image-frame directions (column phase encoding) in LPS: -g0 row - g1 col + g2 normal,
    normalised (dcm2niix's geCorrectBvecs, from dicm2nii)."""
    ds = pydicom.dcmread(next(folder.iterdir()))
    iop = np.array([float(x) for x in ds.ImageOrientationPatient])
    row, col = iop[:3], iop[3:]
    lps = np.outer(-g[:, 0], row) - np.outer(g[:, 1], col) + np.outer(g[:, 2], np.cross(row, col))
    norm = np.linalg.norm(lps, axis=1, keepdims=True)
    return np.where(norm > 0, lps / np.where(norm > 0, norm, 1), 0)


def _check_against_dcm2niix(vol: lv.Volume, dcm2niix, folder: Path, tmp_path: Path) -> None:
    """Same b-values as dcm2niix's .bval, same directions as its .bvec (normalised) in LPS, in
    the table and in lazyvol's own .bvec."""
    diff = vol.meta["diffusion"]
    ref_bvals, ref_lps = _reference(dcm2niix, folder, tmp_path / "out")
    np.testing.assert_allclose(diff["bvals"], ref_bvals)
    norm = np.linalg.norm(ref_lps, axis=1, keepdims=True)
    ref_unit = np.where(norm > 0, ref_lps / np.where(norm > 0, norm, 1), 0)
    np.testing.assert_allclose(diff["gradients_lps"], ref_unit, atol=1e-4)
    np.testing.assert_allclose(_written_lps(vol, tmp_path / "v.nii"), ref_unit, atol=1e-4)


@pytest.mark.parametrize("vendor", ["GE", "PHILIPS", "SIEMENS"])
@pytest.mark.parametrize("layout", ["standard_b", "standard_b_only", "standard_direction"])
@pytest.mark.parametrize("orientation", ["axial", "oblique"])
def test_b_value_and_direction_each_come_from_the_attributes_that_state_them(
    tmp_path, dcm2niix, vendor, layout, orientation
):
    """standard_b: (0018,9087) beside the private b-value (GE: on weighted images only, as GE 27
    writes it); standard_b_only: without the private b-value; standard_direction: (0018,9089) for
    the private one."""
    bvals = [0.0, 1000.0, 1000.0, 2000.0, 3000.0]
    g = _directions(5)
    g[0] = 0
    src = tmp_path / "s"
    truth = write_dicom_4d_series(
        src, SHAPE, labels=(), bvals=bvals, bvecs=g.round(6).tolist(), vendor=vendor,
        orientation=orientation, spacing=(2.0, 2.0, 2.5),
    )  # fmt: skip

    def edit(ds) -> None:
        b = _private_b(ds, vendor)
        if layout == "standard_direction":
            ds.DiffusionGradientOrientation = _private_g(ds, vendor)
            for tag in _PRIVATE_G[vendor]:
                del ds[tag]
        elif b > 0 or vendor != "GE":
            ds.DiffusionBValue = b
            if layout == "standard_b_only":
                del ds[_PRIVATE_B[vendor]]

    _rewrite(truth, edit)
    vol = lv.open(src)
    diff = vol.meta["diffusion"]
    assert diff["bvals"] == bvals
    assert "derived_volumes" not in diff
    assert not any("derived" in w for w in vol.meta.get("warnings", []))
    # truth: the written directions, GE's private ones in its image frame
    if vendor == "GE" and layout != "standard_direction":
        expected = _image_frame_lps(src, g.round(6))
    else:
        expected = g.round(6)
    np.testing.assert_allclose(diff["gradients_lps"], expected, atol=1e-5)
    _check_against_dcm2niix(vol, dcm2niix, src, tmp_path)


def test_a_ge_b0_image_with_the_nominal_b_and_a_zero_standard_direction_is_b0(tmp_path, dcm2niix):
    """GE's b = 0 image holds the series' nominal b-value in (0043,1039); with its direction in the
    standard (0018,9089) (zero) it was written b = 1000 and flagged derived (h36: the b = 0 rule
    keyed on a GE direction, where the nominal b-value is the b-value attribute's quirk)."""
    bvals = [0.0, 1000.0, 1000.0, 1000.0]
    g = _directions(4)
    g[0] = 0
    src = tmp_path / "s"
    truth = write_dicom_4d_series(
        src, SHAPE, labels=(), bvals=bvals, bvecs=g.round(6).tolist(), vendor="GE"
    )

    def edit(ds) -> None:
        ds.DiffusionGradientOrientation = _private_g(ds, "GE")
        for tag in _PRIVATE_G["GE"]:
            del ds[tag]
        if _private_b(ds, "GE") == 0:
            value = list(ds[_PRIVATE_B["GE"]].value)
            value[0] = 1000  # the series' nominal b-value, as GE writes it on b = 0 images
            ds[_PRIVATE_B["GE"]].value = value

    _rewrite(truth, edit)
    vol = lv.open(src)
    diff = vol.meta["diffusion"]
    assert diff["bvals"] == bvals
    assert "derived_volumes" not in diff and diff["ge_zero_direction"] == [0]
    _check_against_dcm2niix(vol, dcm2niix, src, tmp_path)


@pytest.mark.parametrize("vendor", ["PHILIPS", "SIEMENS"])
def test_a_private_b_value_differing_from_the_standard_one_is_dcm2niixs(tmp_path, dcm2niix, vendor):
    """Both stated and the standard direction absent: the private b-value, as dcm2niix reads it."""
    bvals = [0.0, 1000.0, 2000.0]
    g = _directions(3)
    g[0] = 0
    src = tmp_path / "s"
    truth = write_dicom_4d_series(
        src, SHAPE, labels=(), bvals=bvals, bvecs=g.tolist(), vendor=vendor
    )
    _rewrite(truth, lambda ds: setattr(ds, "DiffusionBValue", _private_b(ds, vendor) / 2))
    vol = lv.open(src)
    assert vol.meta["diffusion"]["bvals"] == bvals
    _check_against_dcm2niix(vol, dcm2niix, src, tmp_path)


#: Gradient lengths around dcm2niix's limits (0.03, 0.97): b = 0 (zero vector), unit, just
#: inside and outside, a lower shell (0.5, 0.1), too short to scale (0.02), longer than unit.
_LENGTHS = [0.0, 1.0, 0.98, 0.9, 0.5, 0.02, 1.05, 0.031, 0.1, np.sqrt(1 / 3)]


@pytest.mark.parametrize("orientation", ["axial", "oblique"])
def test_ge_multi_shell_gradient_lengths_scale_the_b_value_as_dcm2niix(
    tmp_path, dcm2niix, orientation
):
    g = _directions(len(_LENGTHS), 3) * np.array(_LENGTHS)[:, None]
    nominal = [0.0] + [3000.0] * (len(_LENGTHS) - 1)
    src = tmp_path / "s"
    write_dicom_4d_series(
        src, SHAPE, labels=(), bvals=nominal, bvecs=g.round(6).tolist(), vendor="GE",
        orientation=orientation,
    )  # fmt: skip
    vol = lv.open(src)
    assert any("multi-shell" in w for w in vol.meta["warnings"])
    diff = vol.meta["diffusion"]
    # truth: b |g|^2 rounded to a multiple of 5 (at least 5) strictly between lengths 0.03 and
    # 0.97, the nominal b-value elsewhere; unit directions
    lengths = np.linalg.norm(g.round(6), axis=1)
    inside = (lengths > 0.03) & (lengths < 0.97)
    expected_b = np.where(inside, np.maximum(5, np.round(3000 * lengths**2 / 5) * 5), nominal)
    np.testing.assert_allclose(diff["bvals"], expected_b)
    assert diff["bvals"][-1] == 1000.0 and diff["bvals"][4] == 750.0 and diff["bvals"][7] == 5.0
    assert diff["shell_scaled"] == [int(n) for n in np.flatnonzero(inside)]
    np.testing.assert_allclose(diff["gradients_lps"], _image_frame_lps(src, g.round(6)), atol=1e-5)
    bvec = np.loadtxt(_written(vol, tmp_path / "w.nii"))
    np.testing.assert_allclose(np.linalg.norm(bvec, axis=0), (lengths > 0).astype(float), atol=1e-5)
    _check_against_dcm2niix(vol, dcm2niix, src, tmp_path)


def _written(vol: lv.Volume, path: Path) -> Path:
    vol.to_nifti(path)
    return path.with_suffix(".bvec")


@pytest.mark.parametrize("vendor", ["standard", "PHILIPS", "SIEMENS"])
def test_other_vendors_keep_the_b_value_and_normalise_the_direction(tmp_path, dcm2niix, vendor):
    g = _directions(len(_LENGTHS), 4) * np.array(_LENGTHS)[:, None]
    bvals = [0.0] + [1000.0] * (len(_LENGTHS) - 1)
    src = tmp_path / "s"
    write_dicom_4d_series(
        src, SHAPE, labels=(), bvals=bvals, bvecs=g.round(6).tolist(), vendor=vendor,
        orientation="oblique",
    )  # fmt: skip
    vol = lv.open(src)
    diff = vol.meta["diffusion"]
    assert diff["bvals"] == bvals and "shell_scaled" not in diff
    written = g.round(6)
    unit = written / np.maximum(np.linalg.norm(written, axis=1, keepdims=True), 1e-12)
    np.testing.assert_allclose(diff["gradients_lps"], unit, atol=1e-5)
    _check_against_dcm2niix(vol, dcm2niix, src, tmp_path)


def test_canon_image_comment_lengths_scale_the_b_value_as_dcm2niix(tmp_path, dcm2niix):
    """dcm2niix applies its GE rule to Canon's ImageComments directions, lengths included."""
    g = _directions(5, 5) * np.array([0.0, 1.0, 0.5, 0.9, 0.1])[:, None]
    truth = write_dicom_4d_series(
        tmp_path / "s", SHAPE, labels=(), bvals=[0, 1000, 1000, 1000, 1000], bvecs=g.tolist(),
        extra={"Manufacturer": "CANON_MEC", "PatientPosition": "HFS",
               "InPlanePhaseEncodingDirection": "COL"},
    )  # fmt: skip
    _rewrite(truth, _to_comments)  # (the comment's 3 decimals: lengths 0.5, 0.9, 0.1 as written)
    vol = lv.open(tmp_path / "s")
    assert any("multi-shell" in w for w in vol.meta["warnings"])
    assert vol.meta["diffusion"]["bvals"] == [0.0, 1000.0, 250.0, 810.0, 10.0]
    assert vol.meta["diffusion"]["shell_scaled"] == [2, 3, 4]
    _check_against_dcm2niix(vol, dcm2niix, tmp_path / "s", tmp_path)


def _to_uih_private(ds) -> None:
    """A Siemens-written image turned into UIH's: (0065,1009) / (0065,1037) (b = 0 as 1.25)."""
    b, g = _private_b(ds, "SIEMENS"), _private_g(ds, "SIEMENS")
    del ds[0x0019100C], ds[0x0019100E], ds[0x00190010]
    ds.Manufacturer = "UIH"
    ds.add_new(0x00650010, "LO", "Image Private Header")
    ds.add_new(0x00651009, "FD", b or 1.25)
    ds.add_new(0x00651037, "FD", g)


#: Which attributes dcm2niix's .bval / .bvec take where an image states a value in both the
#: standard and the vendor's attributes (b-value, direction), the standard pair complete or not.
_TAKEN = {
    ("GE", True): ("private", "private"),
    ("GE", False): ("private", "private"),
    ("SIEMENS", True): ("private", "standard"),
    ("SIEMENS", False): ("private", "standard"),
    ("UIH", True): ("private", "private"),
    ("UIH", False): ("private", "private"),
    ("PHILIPS", True): ("standard", "standard"),
    ("PHILIPS", False): ("private", "standard"),
    ("CANON", True): ("standard", "standard"),
}


@pytest.mark.parametrize(("vendor", "pair"), sorted(_TAKEN))
def test_standard_or_private_values_as_dcm2niix_takes_them(tmp_path, dcm2niix, vendor, pair):
    """An image stating a b-value or a direction in both the standard and its vendor's private
    attributes (values that differ, so that which one is taken shows): lazyvol took the standard
    pair whenever the image stated both, where dcm2niix takes UIH's (0065,1009) / (0065,1037),
    GE's and Siemens' b-values, GE's directions. pair: (0018,9087) with (0018,9089), else
    (0018,9089) alone."""
    private_b = [0.0, 900.0, 1900.0]
    standard_b = [0.0, 1000.0, 2000.0]
    g = np.array([[0.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.6, 0.8]])
    standard_g = [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    src = tmp_path / "s"
    canon = {"Manufacturer": "CANON_MEC", "PatientPosition": "HFS"}
    truth = write_dicom_4d_series(
        src, SHAPE, 3, labels=(), bvals=private_b, bvecs=g.tolist(),
        vendor="SIEMENS" if vendor in ("UIH", "CANON") else vendor,
        extra={"InPlanePhaseEncodingDirection": "COL", **(canon if vendor == "CANON" else {})},
    )  # fmt: skip

    def edit(ds) -> None:
        t = private_b.index(_private_b(ds, "SIEMENS" if vendor in ("UIH", "CANON") else vendor))
        if vendor == "CANON":  # (the written Siemens attributes dropped: Canon has none)
            del ds[0x0019100C], ds[0x0019100E], ds[0x00190010]
            ds.ImageComments = f"b={standard_b[t]:g}({g[t][0]:.3f},{g[t][1]:.3f},{g[t][2]:.3f})"
        elif vendor == "UIH":
            _to_uih_private(ds)
        if pair:
            ds.DiffusionBValue = standard_b[t]
        ds.DiffusionGradientOrientation = standard_g[t]

    _rewrite(truth, edit)
    vol = lv.open(src)
    diff = vol.meta["diffusion"]
    b_from, g_from = _TAKEN[vendor, pair]
    expected_b = private_b if b_from == "private" else standard_b
    if vendor == "UIH":
        expected_b = [1.25, *expected_b[1:]]  # (UIH's b = 0)
    assert diff["bvals"] == expected_b
    ref_bvals, ref_lps = _reference(dcm2niix, src, tmp_path / "out")
    np.testing.assert_allclose(diff["bvals"], ref_bvals)
    if g_from == "standard":
        np.testing.assert_allclose(diff["gradients_lps"], standard_g, atol=1e-6)
        np.testing.assert_allclose(diff["gradients_lps"], ref_lps, atol=1e-4)
    elif vendor == "GE":
        # GE's image frame (the truth); dcm2niix reads GE's vector in the patient frame when the
        # image also has (0018,9089) (its isBVecWorldCoordinates): the vector as written
        np.testing.assert_allclose(diff["gradients_lps"], _image_frame_lps(src, g), atol=1e-6)
        np.testing.assert_allclose(ref_lps, g, atol=1e-4)
    else:  # UIH's image frame is the patient frame of these axial slices
        np.testing.assert_allclose(diff["gradients_lps"], g, atol=1e-6)
        np.testing.assert_allclose(diff["gradients_lps"], ref_lps, atol=1e-4)
    named = {"GE": "GE", "SIEMENS": "Siemens", "UIH": "UIH", "PHILIPS": "Philips"}
    b_label = f"{named.get(vendor)} private" if b_from == "private" else "DiffusionBValue"
    g_label = "DiffusionGradientOrientation" if g_from == "standard" else f"{named[vendor]} private"
    assert diff["source"].startswith(b_label) and g_label in diff["source"]


@pytest.mark.parametrize("layout", ["csa_direction_only", "csa_only", "csa_and_private_differ"])
@pytest.mark.parametrize("orientation", ["axial", "oblique"])
def test_siemens_csa_diffusion_values_come_first_as_dcm2niix(
    tmp_path, dcm2niix, layout, orientation
):
    """A Siemens image's CSA image header (0029,1010) B_value and DiffusionGradientDirection come
    before (0019,100C) / (0019,100E), as dcm2niix reads them: the direction in the CSA header only
    (an anonymiser kept it and dropped (0019,100E)), both values there only, or (0019,100E)
    stating another direction. lazyvol took (0019,100C) and a missing (0019,100E) as no
    direction: zero b-vectors, every weighted volume flagged derived."""
    from lazyvol.testing.mosaic import csa2_bytes

    bvals = [0.0, 1000.0, 1000.0, 2000.0]
    g = _directions(4, seed=3)
    g[0] = 0
    src = tmp_path / "s"
    truth = write_dicom_4d_series(
        src, SHAPE, labels=(), bvals=bvals, bvecs=g.round(6).tolist(), vendor="SIEMENS",
        orientation=orientation, spacing=(2.0, 2.0, 2.5),
    )  # fmt: skip
    other = _directions(4, seed=7)

    def edit(ds) -> None:
        b = _private_b(ds, "SIEMENS")
        tags = {"B_value": ("IS", [int(b)])}
        if b > 0:
            tags["DiffusionGradientDirection"] = ("FD", _private_g(ds, "SIEMENS"))
        ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
        ds.add_new(0x00291010, "OB", csa2_bytes(tags))
        ds.ImageType, ds.ScanningSequence = ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"], "EP"
        if layout == "csa_and_private_differ" and b > 0:
            ds[_PRIVATE_G["SIEMENS"][0]].value = other[int(ds.InstanceNumber) % 4].round(6).tolist()
        elif layout != "csa_and_private_differ":
            del ds[_PRIVATE_G["SIEMENS"][0]]
            if layout == "csa_only":
                del ds[_PRIVATE_B["SIEMENS"]]

    _rewrite(truth, edit)
    vol = lv.open(src)
    diff = vol.meta["diffusion"]
    assert diff["bvals"] == bvals
    assert "derived_volumes" not in diff, diff
    np.testing.assert_allclose(diff["gradients_lps"], g.round(6), atol=1e-5)
    assert "Siemens CSA image header" in diff["source"]
    _check_against_dcm2niix(vol, dcm2niix, src, tmp_path)


def _ge_directions_count(count: float | None):
    """An edit stating GE's number of DTI directions (0019,10E0) (a DWI of trace images: 0)."""

    def edit(ds) -> None:
        if count is not None:
            ds.add_new((0x0019, 0x10E0), "DS", count)

    return edit


@pytest.mark.parametrize(
    ("bvals", "zero", "count", "expected", "derived"),
    [
        # a b = 0 image and a trace image (b = 1000, no direction), as a GE DWI exports them
        ([0.0, 1000.0], [1], 0.0, [0.0, 1000.0], [1]),
        ([0.0, 1000.0, 1000.0, 1000.0], [3], 0.0, [0.0, 1000.0, 1000.0, 1000.0], [3]),
        # a DTI series stating its directions, or none stated: the nominal b-value's b = 0 image
        ([0.0, 1000.0, 1000.0, 1000.0], [3], 2.0, [0.0, 1000.0, 1000.0, 0.0], []),
        ([0.0, 1000.0, 1000.0, 1000.0], [3], None, [0.0, 1000.0, 1000.0, 0.0], []),
    ],
)
def test_a_ge_trace_image_of_a_series_without_dti_directions_keeps_its_b_value(
    tmp_path, dcm2niix, bvals, zero, count, expected, derived
):
    """GE's (0019,10E0) 0: a DWI whose b > 0 images without a direction are trace images; dcm2niix
    keeps their b-value (a trace beside one b = 0 image) or moves them to its _ADC file, never
    b = 0. lazyvol made every such image b = 0, and a b = 0 + trace series had no table at all."""
    g = _directions(len(bvals))
    g[0] = 0
    g[zero] = 0
    src = tmp_path / "s"
    truth = write_dicom_4d_series(
        src, SHAPE, labels=(), bvals=bvals, bvecs=g.round(6).tolist(), vendor="GE"
    )
    _rewrite(truth, _ge_directions_count(count))
    with pytest.warns(RuntimeWarning, match="derived") if derived else nullcontext():
        vol = lv.open(src)
    diff = vol.meta["diffusion"]
    assert diff["bvals"] == expected
    assert diff.get("derived_volumes", []) == derived
    assert diff.get("ge_zero_direction", []) == ([] if derived else zero)
    # dcm2niix's main file: the volumes lazyvol does not flag derived (more than one other
    # volume: dcm2niix moves the trace images to its _ADC file), with their b-values
    dcm2niix.run(src, tmp_path / "ref")
    kept = [b for n, b in enumerate(expected) if n not in derived or len(expected) <= 2]
    ref = np.loadtxt(tmp_path / "ref" / "vol.bval", ndmin=1)
    np.testing.assert_array_equal(ref, kept)
