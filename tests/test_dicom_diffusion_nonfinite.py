"""A diffusion b-value or direction that is not finite, in any attribute it is read from.

The standard DiffusionBValue / DiffusionGradientOrientation, the vendors' private elements (GE,
Siemens, Philips, UIH), a Siemens CSA image header and a Canon ImageComments note are each the
image's b-value / direction: a NaN or infinite one is a corrupt header, refused naming the file and
the attribute (read as unstated, a b = 1000 image became a b = 0 one, lost its direction, was
flagged derived or was split off as a Philips trace image).
"""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import DataElement

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series, write_dicom_series
from lazyvol.testing.mosaic import write_mosaic_series

GRADIENTS = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
BVALS = [0, 1000, 1000, 1000]


def _is_target(ds, vendor: str) -> bool:
    """The image of the y direction (volume 2)."""
    if vendor == "GE":
        return float(ds[0x001910BC].value) == 1.0
    if vendor == "SIEMENS":
        return list(ds[0x0019100E].value)[1] == 1.0
    if vendor == "PHILIPS":
        return float(ds[0x200510B1].value) == 1.0
    return list(ds.DiffusionGradientOrientation)[1] == 1.0


def _to_uih(ds) -> None:
    b = float(ds.DiffusionBValue)
    g = [float(x) for x in ds.DiffusionGradientOrientation]
    del ds.DiffusionBValue, ds.DiffusionGradientOrientation
    ds.Manufacturer = "UIH"
    ds.add_new(0x00650010, "LO", "Image Private Header")
    ds.add_new(0x00651009, "FD", b if b else 1.25)
    ds.add_new(0x00651037, "FD", g)


def _element(tag: int, vr: str, value) -> object:
    return lambda ds: ds.__setitem__(tag, DataElement(tag, vr, value))


def _edit(source: str, text: str):
    """The edit writing ``text`` (a non-finite number) into the attribute of ``source``."""
    f = float(text)
    return {
        "GE b": _element(0x00431039, "UN", f"{text}\\8\\0\\0 ".encode()),
        "GE g": _element(0x001910BB, "UN", f"{text} ".encode()),
        "SIEMENS b": _element(0x0019100C, "UN", f"{text} ".encode()),
        "SIEMENS g": _element(0x0019100E, "FD", [f, 1.0, 0.0]),
        "PHILIPS b": _element(0x20011003, "FL", f),
        "PHILIPS g": _element(0x200510B0, "FL", f),
        "UIH b": _element(0x00651009, "FD", f),
        "UIH g": _element(0x00651037, "FD", [f, 1.0, 0.0]),
    }[source]


@pytest.mark.parametrize("text", ["nan", "inf", "1e999"])
@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("GE b", "GE private b-value (0043,1039)"),
        ("GE g", "GE private gradient x (0019,10BB)"),
        ("SIEMENS b", "Siemens private b-value (0019,100C)"),
        ("SIEMENS g", "Siemens private gradient (0019,100E)"),
        ("PHILIPS b", "Philips private b-value (2001,1003)"),
        ("PHILIPS g", "Philips private gradient RL (2005,10B0)"),
        ("UIH b", "UIH private b-value (0065,1009)"),
        ("UIH g", "UIH private gradient (0065,1037)"),
    ],
)
def test_a_non_finite_private_diffusion_value_is_refused(tmp_path, source, named, text):
    vendor = source.split()[0]
    written = "standard" if vendor == "UIH" else vendor
    truth = write_dicom_4d_series(
        tmp_path / "s", (8, 6, 3), labels=(), bvals=BVALS, bvecs=GRADIENTS, vendor=written
    )
    bad = []
    for p in truth.files:
        ds = pydicom.dcmread(p)
        target = _is_target(ds, written)
        if vendor == "UIH":
            _to_uih(ds)
        if target:
            _edit(source, text)(ds)
            bad.append(str(p))
        ds.save_as(p)
    with pytest.raises(lv.FormatError) as info:  # (the whole series: never split, never b = 0)
        lv.open(tmp_path / "s")
    assert named in str(info.value) and "not finite" in str(info.value)
    assert str(info.value).split(":", 1)[0] in bad  # (a file of the volume, named)


def test_a_non_finite_canon_comment_direction_is_refused(tmp_path):
    truth = write_dicom_4d_series(
        tmp_path / "s", (8, 6, 3), labels=(), bvals=BVALS, bvecs=GRADIENTS, vendor="standard"
    )
    for p in truth.files:
        ds = pydicom.dcmread(p)
        ds.Manufacturer = "CANON_MEC"
        if float(ds.DiffusionBValue) == 0:
            del ds.DiffusionBValue, ds.DiffusionGradientOrientation
        else:
            g = [f"{float(x):.3f}" for x in ds.DiffusionGradientOrientation]
            del ds.DiffusionGradientOrientation
            if g[1] == "1.000":
                g[0] = "9" * 400  # (a number beyond the largest float)
            ds.ImageComments = f"b=1000({','.join(g)})"
        ds.save_as(p)
    with pytest.raises(lv.FormatError, match=r"Canon diffusion ImageComments \(0020,4000\)"):
        lv.open(tmp_path / "s")


@pytest.mark.parametrize("text", [b"nan", b"-inf"])
def test_a_non_finite_csa_direction_is_refused(tmp_path, text):
    """A Siemens mosaic's CSA DiffusionGradientDirection (read before the private elements): its
    non-finite value left the volume without a direction, flagged derived."""
    src = tmp_path / "m"
    truth = write_mosaic_series(
        src,
        (8, 6, 4),
        volumes=3,
        bvals=[0, 1000, 1000],
        gradients_lps=[[0, 0, 0], [0.6, 0.8, 0], [0, 0, 1.0]],
    )
    ds = pydicom.dcmread(truth.files[1])
    old = b"0.80000000\x00"
    ds[0x00291010].value = ds[0x00291010].value.replace(old, text.ljust(len(old), b"\x00"), 1)
    ds.save_as(truth.files[1])
    with pytest.raises(
        lv.FormatError, match=r"CSA image header \(0029,1010\) DiffusionGradientDirection"
    ):
        lv.open(src)
    shutil.rmtree(src)


def test_only_a_private_elements_value_refuses():
    """A private element written with another VR (maybe another creator's element: the vendor's
    private creator is not checked) is not the image's diffusion value: it is not read, as
    before, where a standard attribute's is refused whatever its note."""
    from lazyvol.dicom.vendor import malformed_diffusion

    vr = "Philips_BValue (2001,1003) is written with VR LO, where the DICOM dictionary has FL"
    assert malformed_diffusion([vr]) == ""
    # (text or another count: maybe another creator's element (GE angiography's code text at
    # (0019,10BB)); only a number that is not finite is a diffusion value gone wrong)
    assert malformed_diffusion(["GE_GradientX (0019,10BB)='abc' is not a number"]) == ""
    assert (
        malformed_diffusion(["Siemens_Gradient (0019,100E)=['50'] is not 3 finite numbers"]) == ""
    )
    nan_x = "GE_GradientX (0019,10BB)='nan' is not finite"
    assert malformed_diffusion([nan_x], 1000.0) == (
        "GE private gradient x (0019,10BB)='nan' is not finite"
    )
    assert malformed_diffusion([nan_x], None) == malformed_diffusion([nan_x], 0.0) == ""
    standard = "DiffusionBValue (0018,9087) is written with VR LO, where ..."
    assert malformed_diffusion([standard]) == standard
    assert malformed_diffusion(["PixelSpacing (0028,0030)=nan is not finite"]) == ""


@pytest.mark.parametrize(
    ("manufacturer", "modality", "syntax", "creator", "elements"),
    [
        # GE X-ray (GEMS_DL_IMG_01): code text where GE MR has its gradient x (0019,10BB)
        (
            "GE MEDICAL SYSTEMS",
            "XA",
            "explicit",
            "GEMS_DL_IMG_01",
            [
                (0x001910BB, "CS", "SUBTRACT"),
                (0x001910BC, "FL", 1.0),
                (0x001910BD, "CS", ["ON", "OFF"]),
            ],
        ),
        (
            "GE MEDICAL SYSTEMS",
            "MR",
            "explicit",
            "GEMS_ACQU_01",
            [(0x001910BB, "DS", "0"), (0x001910BC, "LO", "n/a"), (0x001910BD, "DS", "0")],
        ),
        # Siemens angiography: a US where Siemens MR has its gradient (0019,100E)
        (
            "SIEMENS",
            "XA",
            "explicit",
            "SIEMENS SMS-AX  VIEW 1.0",
            [(0x0019100C, "SS", 3), (0x0019100E, "US", 50)],
        ),
        # Siemens NM, implicit VR: an SS read as the b-value's IS text
        (
            "SIEMENS",
            "NM",
            "implicit",
            "SIEMENS MED NM",
            [(0x0019100C, "SS", 2), (0x0019100E, "LO", "ESFR1234")],
        ),
    ],
)
def test_another_creators_element_at_a_diffusion_number_is_no_refusal(
    tmp_path, manufacturer, modality, syntax, creator, elements
):
    """Series that are no diffusion series, whose vendor writes another private creator's element
    at a diffusion element number (text, another VR or count), open as before the refusal of
    non-finite diffusion values (they were refused as "malformed diffusion")."""
    truth = write_dicom_series(tmp_path / "s", (8, 8, 4), modality=modality, syntax=syntax)
    for f in sorted((tmp_path / "s").iterdir()):
        ds = pydicom.dcmread(f)
        ds.Manufacturer = manufacturer
        ds.add_new(0x00190010, "LO", creator)
        for tag, vr, value in elements:
            ds.add_new(tag, vr, value)
        ds.save_as(f)
    vol = lv.open(tmp_path / "s", scale=False)
    np.testing.assert_array_equal(vol.compute(), truth.stored)


@pytest.mark.parametrize(
    ("manufacturer", "edit"),
    [
        ("ACME", lambda ds: setattr(ds, "DiffusionGradientOrientation", [np.nan, 0.0, 1.0])),
        ("SIEMENS", _element(0x0019100E, "FD", [np.nan, 0.0, 1.0])),
        ("Philips Medical Systems", _element(0x200510B0, "FL", np.nan)),
        ("GE MEDICAL SYSTEMS", _element(0x001910BB, "UN", b"nan ")),
    ],
)
def test_a_non_finite_direction_of_an_image_stating_no_b_value_is_not_used(
    tmp_path, manufacturer, edit
):
    """A plain MR series (no b-value anywhere) whose gradient direction is NaN: the direction is
    not used, so the series opens (dcm2niix converts it); it was refused as corrupt diffusion."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 4), modality="MR")
    for p in truth.files:
        ds = pydicom.dcmread(p)
        ds.Manufacturer = manufacturer
        edit(ds)
        ds.save_as(p)
    vol = lv.open(tmp_path / "s")
    np.testing.assert_allclose(vol.compute(), truth.scaled())
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    assert "diffusion" not in vol.meta


@pytest.mark.parametrize("vendor", ["standard", "PHILIPS", "SIEMENS"])
def test_a_non_finite_direction_of_a_b0_image_reads_as_no_direction(tmp_path, vendor):
    """A b = 0 image's direction is not used (its .bvec column is 0 0 0): a NaN one there opens;
    the same NaN on a b = 1000 image is refused (above)."""
    truth = write_dicom_4d_series(
        tmp_path / "s", (8, 6, 3), labels=(), bvals=BVALS, bvecs=GRADIENTS, vendor=vendor
    )
    for p in truth.files:
        ds = pydicom.dcmread(p)
        if not any(float(x) for x in _direction(ds, vendor)):
            _nan_direction(ds, vendor)
        ds.save_as(p)
    vol = lv.open(tmp_path / "s")
    assert vol.meta["diffusion"]["bvals"] == BVALS
    np.testing.assert_array_equal(np.abs(vol.meta["diffusion"]["gradients_lps"]), GRADIENTS)


def _direction(ds, vendor: str) -> list:
    if vendor == "SIEMENS":
        return list(ds[0x0019100E].value)
    if vendor == "PHILIPS":
        return [float(ds[t].value) for t in (0x200510B0, 0x200510B1, 0x200510B2)]
    return list(ds.DiffusionGradientOrientation)


def _nan_direction(ds, vendor: str) -> None:
    if vendor == "SIEMENS":
        _element(0x0019100E, "FD", [np.nan, 0.0, 0.0])(ds)
    elif vendor == "PHILIPS":
        _element(0x200510B0, "FL", np.nan)(ds)
    else:
        ds.DiffusionGradientOrientation = [np.nan, 0.0, 0.0]


def _nan_standard_beside_csa(ds) -> None:
    ds.DiffusionBValue = float(ds[0x0019100C].value) if 0x0019100C in ds else 0.0
    ds.DiffusionGradientOrientation = [np.nan, 0.0, 0.0]


def _nan_private_beside_standard(ds) -> None:  # (Siemens: dcm2niix takes the standard one)
    g = [float(x) for x in ds[0x0019100E].value]
    ds.DiffusionBValue = float(ds[0x0019100C].value)
    ds.DiffusionGradientOrientation = g
    if g[1] == 1.0:
        ds[0x0019100E].value = [np.nan, 1.0, 0.0]


def _nan_standard_beside_ge(ds) -> None:  # (GE: dcm2niix takes the private one)
    g = [float(ds[t].value) for t in (0x001910BB, 0x001910BC, 0x001910BD)]
    ds.DiffusionGradientOrientation = [np.nan, 1.0, 0.0] if g[1] == 1.0 else g


def _nan_philips_beside_standard(ds) -> None:  # (dcm2niix takes the standard pair)
    g = [float(ds[t].value) for t in (0x200510B0, 0x200510B1, 0x200510B2)]
    ds.DiffusionBValue = float(ds[0x20011003].value)
    ds.DiffusionGradientOrientation = g
    if g[1] == 1.0:
        ds[0x200510B0].value = np.nan


@pytest.mark.parametrize(
    ("kind", "edit"),
    [
        ("mosaic", _nan_standard_beside_csa),
        ("SIEMENS", _nan_private_beside_standard),
        ("GE", _nan_standard_beside_ge),
        ("PHILIPS", _nan_philips_beside_standard),
    ],
)
def test_a_non_finite_direction_beside_the_one_dcm2niix_takes_is_not_used(tmp_path, kind, edit):
    """A NaN direction in an attribute the image states again where dcm2niix takes the other: the
    CSA header's over the standard (0018,9089); Siemens' standard over its (0019,100E); GE's
    private over the standard; Philips' standard pair over its private direction. dcm2niix converts these with the other direction; lazyvol refused
    them as corrupt diffusion. They open with the directions of the unedited series."""
    if kind == "mosaic":
        bvals, grads = [0, 1000, 1000], [[0, 0, 0], [1, 0, 0], [0, 1, 0]]
        truth = write_mosaic_series(
            tmp_path / "s", (8, 6, 4), volumes=3, bvals=bvals, gradients_lps=grads
        )
    else:
        truth = write_dicom_4d_series(
            tmp_path / "s", (8, 6, 3), labels=(), bvals=BVALS, bvecs=GRADIENTS, vendor=kind
        )
    shutil.copytree(tmp_path / "s", tmp_path / "unedited")
    for p in truth.files:
        ds = pydicom.dcmread(p)
        edit(ds)
        ds.save_as(p)
    vol = lv.open(tmp_path / "s")
    want = lv.open(tmp_path / "unedited").meta["diffusion"]
    assert vol.meta["diffusion"]["bvals"] == want["bvals"]
    np.testing.assert_allclose(vol.meta["diffusion"]["gradients_lps"], want["gradients_lps"])


def test_a_non_finite_direction_dcm2niix_would_take_still_refuses():
    """Where dcm2niix takes the malformed direction (Philips' and Canon's standard one before
    their private one; a CSA direction before any), it refuses whatever lazyvol fell back to."""
    from lazyvol.dicom.vendor import SOURCES, malformed_diffusion, source_label

    nan_std = "DiffusionGradientOrientation (0018,9089)=nan is not finite"
    for maker, source in (("Philips", SOURCES["PHILIPS"]), ("Canon", SOURCES["CANON"])):
        assert malformed_diffusion([nan_std], 1000.0, source, maker)
    csa = "Siemens CSA image header (0029,1010) DiffusionGradientDirection=['nan'] is not finite"
    used = source_label("SIEMENS_CSA", "SIEMENS")
    assert malformed_diffusion([csa], 1000.0, used, "SIEMENS") == csa
    assert malformed_diffusion([nan_std], 1000.0, SOURCES["GE"], "GE MEDICAL SYSTEMS") == ""
    nan_ge = "GE_GradientX (0019,10BB)='nan' is not finite"  # (GE's private one is taken first)
    assert malformed_diffusion([nan_ge], 1000.0, source_label("GE", "standard"), "GE")


def _philips_with_standard(tmp_path, standard_b: float):
    """A Philips DWI stating its b-values and directions in the standard attributes too, its y
    volume's standard DiffusionBValue written as ``standard_b``; the private (2001,1003) keeps
    the true 1000."""
    truth = write_dicom_4d_series(
        tmp_path / "s", (8, 6, 3), labels=(), bvals=BVALS, bvecs=GRADIENTS, vendor="PHILIPS"
    )
    for p in truth.files:
        ds = pydicom.dcmread(p)
        g = [float(ds[t].value) for t in (0x200510B0, 0x200510B1, 0x200510B2)]
        b = float(ds[0x20011003].value)
        ds[0x00189087] = DataElement(0x00189087, "FD", standard_b if g[1] == 1.0 else b)
        ds.DiffusionGradientOrientation = g
        ds.save_as(p)
    return tmp_path / "s"


@pytest.mark.parametrize("standard_b", [-5.0, -1e30, float("nan"), float("-inf")])
def test_a_philips_standard_b_value_below_0_or_nan_takes_the_private_one(tmp_path, standard_b):
    """A Philips image whose standard DiffusionBValue is below 0 or NaN beside its private
    (2001,1003): dcm2niix writes the private b-value (checked: 1100 beside -5, NaN, -inf,
    -1e30). lazyvol wrote -5 (or -1e30) to the .bval, and refused a NaN one as corrupt."""
    vol = lv.open(_philips_with_standard(tmp_path, standard_b))
    assert vol.meta["diffusion"]["bvals"] == BVALS
    np.testing.assert_allclose(vol.meta["diffusion"]["gradients_lps"], GRADIENTS)


def test_a_philips_standard_b_value_of_inf_still_refuses(tmp_path):
    """+inf standard b-value beside the private one: dcm2niix writes inf to the .bval (it takes
    the standard value): refused, not read as the private one."""
    with pytest.raises(lv.FormatError, match=r"DiffusionBValue \(0018,9087\)=inf is not finite"):
        lv.open(_philips_with_standard(tmp_path, float("inf")))


@pytest.mark.parametrize(
    ("vendor", "edit", "named"),
    [
        ("GE", _element(0x00431039, "IS", ["-5", "8", "0", "0"]), "GE private b-value (0043,1039)"),
        ("SIEMENS", _element(0x0019100C, "IS", "-5"), "Siemens private b-value (0019,100C)"),
        ("PHILIPS", _element(0x20011003, "FL", -5.0), "Philips private b-value (2001,1003)"),
        ("standard", _element(0x00189087, "FD", -5.0), "DiffusionBValue (0018,9087)"),
    ],
)
def test_a_negative_b_value_used_is_refused(tmp_path, vendor, edit, named):
    """A negative b-value where it is the image's (no other source states one) and the image
    states a direction: dcm2niix writes 0 (Siemens, UIH; the standard one of Canon and unlisted
    vendors, with a zero vector) or -5 (GE); lazyvol wrote -5 to the .bval. A b-value is never
    negative: refused naming the file and the attribute."""
    truth = write_dicom_4d_series(
        tmp_path / "s", (8, 6, 3), labels=(), bvals=BVALS, bvecs=GRADIENTS, vendor=vendor
    )
    bad = []
    for p in truth.files:
        ds = pydicom.dcmread(p)
        if _is_target(ds, vendor):
            edit(ds)
            bad.append(str(p))
            ds.save_as(p)
    with pytest.raises(lv.FormatError, match="is negative") as info:
        lv.open(tmp_path / "s")
    assert named in str(info.value) and str(info.value).split(":", 1)[0] in bad


def test_a_negative_enhanced_b_value_is_refused(tmp_path):
    """An enhanced frame's MRDiffusionSequence DiffusionBValue below 0: refused as the classic
    one is (it was read as stated)."""
    from test_dicom_enhanced_notes import _enhanced_dwi

    path = tmp_path / "in" / "dwi.dcm"
    _enhanced_dwi(path)
    ds = pydicom.dcmread(path)
    ds.PerFrameFunctionalGroupsSequence[7].MRDiffusionSequence[0].DiffusionBValue = -1000.0
    ds.save_as(path)
    with pytest.raises(lv.FormatError, match=r"DiffusionBValue \(0018,9087\)=-1000.0 is negative"):
        lv.open(path)


@pytest.mark.parametrize("vendor", ["GE", "PHILIPS", "standard"])
def test_a_negative_b_value_of_a_3d_image_is_not_refused(tmp_path, vendor):
    """A 3D (not diffusion) series whose b-value element is negative (GE's (0043,1039) is a
    shared private slot) states no direction: it opens as before, without a diffusion table."""
    truth = write_dicom_series(tmp_path / "s", (6, 5, 3), modality="MR")
    edit = {
        "GE": _element(0x00431039, "IS", ["-5", "8", "0", "0"]),
        "PHILIPS": _element(0x20011003, "FL", -5.0),
        "standard": _element(0x00189087, "FD", -5.0),
    }[vendor]
    for p in truth.files:
        ds = pydicom.dcmread(p)
        ds.Manufacturer = {"GE": "GE MEDICAL SYSTEMS", "PHILIPS": "Philips"}.get(vendor, "ACME")
        edit(ds)
        ds.save_as(p)
    vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.scaled())
    assert "diffusion" not in vol.meta
