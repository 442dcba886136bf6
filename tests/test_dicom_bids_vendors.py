"""Sidecar values whose rule depends on the vendor, against dcm2niix's sidecars and the truth.

- SliceTiming from each slice's AcquisitionTime: dcm2niix gives it for Siemens and UIH one file per
  slice series (lazyvol only for Siemens), for no other vendor.
- EchoNumber of each echo of a multi-echo series (dcm2niix writes it; lazyvol did not), and of a
  single-echo series whose echo number is above 1 (a Siemens phase-difference series).
- ProtocolName without (0018,1030): dcm2niix falls back on SeriesDescription, then (not for
  Siemens) SequenceName.
- Siemens CSA diffusion tables: a volume without a b-value, or slices that disagree, dropped the
  table without a word.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.errors import SeriesError
from lazyvol.testing import write_dicom_4d_series
from lazyvol.testing.mosaic import csa2_bytes, write_mosaic_series

SHAPE = (8, 6, 6)


def _dcm2niix_sidecars(dcm2niix, src: Path, out: Path) -> list[tuple[dict, Path]]:
    """dcm2niix's sidecars (and NIfTI paths) of a folder, sorted by name."""
    dcm2niix.run(src, out, name="%s_%e", sidecar=True, check=True)
    niis = sorted(out.glob("*.nii"))
    return [(json.loads(n.with_suffix(".json").read_text()), n) for n in niis]


def _sidecar(vol: lv.Volume, path: Path) -> dict:
    vol.to_nifti(path)
    return json.loads(path.with_suffix(".json").read_text())


@pytest.mark.parametrize(
    ("manufacturer", "timed"),
    [
        ("SIEMENS", True),
        ("UIH", True),
        ("GE MEDICAL SYSTEMS", False),
        ("Philips Medical Systems", False),
        ("CANON_MEC", False),
    ],
)
def test_slice_timing_from_acquisition_time_for_the_vendors_dcm2niix_reads(
    tmp_path, dcm2niix, manufacturer, timed
):
    truth = write_dicom_4d_series(
        tmp_path / "s",
        SHAPE,
        n_volumes=3,
        labels=("AcquisitionTime",),
        modality="MR",
        extra={"Manufacturer": manufacturer, "InPlanePhaseEncodingDirection": "COL"},
    )
    vol = lv.open(tmp_path / "s")
    mine = _sidecar(vol, tmp_path / "v.nii")
    ((ref, _),) = _dcm2niix_sidecars(dcm2niix, tmp_path / "s", tmp_path / "out")
    assert ("SliceTiming" in mine) is timed
    assert ("SliceTiming" in ref) is timed
    if timed:
        times = [float(t) for t in truth.meta["acquisition_times"][0]]
        np.testing.assert_allclose(mine["SliceTiming"], np.subtract(times, min(times)), atol=1e-5)
        # (dcm2niix keeps the times as single floats: ~3 ms off)
        np.testing.assert_allclose(mine["SliceTiming"], ref["SliceTiming"], atol=5e-3)


def test_each_echo_of_a_multi_echo_series_has_its_echo_number(tmp_path, dcm2niix):
    write_dicom_4d_series(
        tmp_path / "s",
        SHAPE,
        n_volumes=2,
        echoes=3,
        modality="MR",
        extra={"Manufacturer": "SIEMENS"},
    )
    refs = _dcm2niix_sidecars(dcm2niix, tmp_path / "s", tmp_path / "out")
    assert [r["EchoNumber"] for r, _ in refs] == [1, 2, 3]
    mine = {}
    for info in lv.scan(tmp_path / "s"):
        doc = _sidecar(lv.open(tmp_path / "s", series=info.id), tmp_path / f"{info.id}.nii")
        mine[doc["EchoNumber"]] = doc["EchoTime"]
    assert mine == {r["EchoNumber"]: r["EchoTime"] for r, _ in refs}


def _restate_echo_number(files: list[str], echo: int) -> None:
    """Rewrite EchoNumbers (0018,0086) of ``files`` (the 4D writer states 1 whatever ``extra``)."""
    for p in files:
        ds = pydicom.dcmread(p)
        ds.EchoNumbers = echo
        ds.save_as(p)


@pytest.mark.parametrize(("echo", "expected"), [(1, None), (2, 2), (3, 3)])
def test_a_single_echo_series_has_an_echo_number_above_one(tmp_path, dcm2niix, echo, expected):
    """dcm2niix writes EchoNumber for an echo number above 1 (``echoNum > 1 || isMultiEcho``),
    a single-echo series too: a Siemens phase-difference series (EchoNumbers 2), an echo exported
    as a series of its own; none for echo 1 of a single-echo series. lazyvol wrote none for any
    single-echo series (this test's old form wrote EchoNumbers 1 where it meant 2)."""
    truth = write_dicom_4d_series(
        tmp_path / "s", SHAPE, n_volumes=2, modality="MR", extra={"Manufacturer": "SIEMENS"}
    )
    _restate_echo_number(truth.files, echo)
    ((ref, _),) = _dcm2niix_sidecars(dcm2niix, tmp_path / "s", tmp_path / "out")
    mine = _sidecar(lv.open(tmp_path / "s"), tmp_path / "v.nii")
    assert ref.get("EchoNumber") == expected
    assert mine.get("EchoNumber") == expected


def test_a_field_maps_phase_split_by_image_type_has_its_echo_number(tmp_path, dcm2niix):
    """A Siemens field map in one series: magnitude echoes 1 and 2, phase difference at echo 2.
    The phase is split off by its image type (not per echo): dcm2niix writes its EchoNumber 2."""
    mag = write_dicom_4d_series(
        tmp_path / "s", SHAPE, n_volumes=1, echoes=2, modality="MR",
        extra={"Manufacturer": "SIEMENS", "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND"]},
    )  # fmt: skip
    series_uid = pydicom.dcmread(mag.files[0]).SeriesInstanceUID
    for p in mag.files:
        ds = pydicom.dcmread(p)
        if int(ds.EchoNumbers) != 2:
            continue
        ds.ImageType = ["ORIGINAL", "PRIMARY", "P", "ND"]
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.InstanceNumber = int(ds.InstanceNumber) + 1000
        ds.SeriesInstanceUID = series_uid
        ds.save_as(str(p).replace(".dcm", "") + "_phase.dcm")
    refs = _dcm2niix_sidecars(dcm2niix, tmp_path / "s", tmp_path / "out")
    phase_ref = [r for r, _ in refs if "P" in r["ImageType"]]
    assert [r["EchoNumber"] for r in phase_ref] == [2]
    phases = [i for i in lv.scan(tmp_path / "s") if "P" in i.meta["bids"]["ImageType"]]
    assert len(phases) == 1
    doc = _sidecar(lv.open(tmp_path / "s", series=phases[0].id), tmp_path / "p.nii")
    assert doc["EchoNumber"] == 2


@pytest.mark.parametrize("manufacturer", ["UIH", "GE MEDICAL SYSTEMS", "Philips", None])
@pytest.mark.parametrize(("kind", "expected"), [("ND", False), ("DIS2D", True), ("NORM", None)])
def test_nonlinear_gradient_correction_for_every_vendor(
    tmp_path, dcm2niix, manufacturer, kind, expected
):
    """dcm2niix writes NonlinearGradientCorrection from ImageType (ND / DIS2D / DIS3D) whatever
    the vendor, and for a series whose Manufacturer an anonymiser dropped; lazyvol wrote it for
    Siemens only."""
    truth = write_dicom_4d_series(
        tmp_path / "s", SHAPE, n_volumes=2, modality="MR",
        extra={"ImageType": ["ORIGINAL", "PRIMARY", "M", kind]},
    )  # fmt: skip
    for p in truth.files:
        ds = pydicom.dcmread(p)
        if manufacturer is None:
            ds.pop("Manufacturer", None)
        else:
            ds.Manufacturer = manufacturer
        ds.save_as(p)
    ((ref, _),) = _dcm2niix_sidecars(dcm2niix, tmp_path / "s", tmp_path / "out")
    mine = _sidecar(lv.open(tmp_path / "s"), tmp_path / "v.nii")
    assert ref.get("NonlinearGradientCorrection") is expected
    assert mine.get("NonlinearGradientCorrection") is expected


@pytest.mark.parametrize(
    "image_type",
    [
        ["DERIVED", "PRIMARY", "M", "ND"],
        ["ORIGINAL", "PRIMARY", "DERIVED"],  # anywhere in the text
        ["ORIGINAL", "PRIMARY", "M", "ND"],
        ["derived", "primary"],  # (dcm2niix matches the upper-case word only)
    ],
)
@pytest.mark.parametrize("modality", ["MR", "CT"])
def test_raw_image_false_for_a_derived_image_as_dcm2niix(tmp_path, dcm2niix, image_type, modality):
    """dcm2niix writes "RawImage": false where ImageType names DERIVED (any modality); lazyvol
    never wrote the key (h171)."""
    write_dicom_4d_series(
        tmp_path / "s", SHAPE, n_volumes=2, modality=modality, extra={"ImageType": image_type}
    )
    ((ref, _),) = _dcm2niix_sidecars(dcm2niix, tmp_path / "s", tmp_path / "out")
    mine = _sidecar(lv.open(tmp_path / "s"), tmp_path / "v.nii")
    assert mine.get("RawImage", "-") == ref.get("RawImage", "-")
    assert ("RawImage" in mine) is ("DERIVED" in "\\".join(image_type))


#: Values whose "_"-joined text is 58 characters long: a value after them starts at character 60.
_LONG_IMAGE_TYPE = [
    "ORIGINAL",
    "PRIMARY",
    "M",
    "ND",
    "NORM",
    "FILTERED",
    "LONGVALUE1",
    "LONGVALUE2X",
]


@pytest.mark.parametrize(
    ("image_type", "derived"),
    [
        ([*_LONG_IMAGE_TYPE, "DERIVED"], False),  # (cut after 65 characters: "DERIVE" kept)
        ([*_LONG_IMAGE_TYPE[:-1], "DERIVED"], True),  # (DERIVED whole before the cut)
    ],
)
def test_raw_image_reads_derived_in_the_image_type_text_dcm2niix_keeps(
    tmp_path, dcm2niix, image_type, derived
):
    """dcm2niix reads DERIVED in ImageType's text cut after 65 characters, as it writes ImageType;
    lazyvol wrote "RawImage": false for a DERIVED past the cut, which dcm2niix does not see (h181)."""
    write_dicom_4d_series(tmp_path / "s", SHAPE, n_volumes=2, extra={"ImageType": image_type})
    ((ref, _),) = _dcm2niix_sidecars(dcm2niix, tmp_path / "s", tmp_path / "out")
    mine = _sidecar(lv.open(tmp_path / "s"), tmp_path / "v.nii")
    assert ("RawImage" in ref) is derived
    assert mine.get("RawImage", "-") == ref.get("RawImage", "-")


@pytest.mark.parametrize(
    "image_type",
    [
        ["ORIGINAL", "PRIMARY", "M", "ND", "DIS2D"],  # (both: dcm2niix's false, written last)
        ["ORIGINAL", "PRIMARY", "M", "nd"],  # (lower case: not matched)
        ["ORIGINAL", "PRIMARY", "M", "dis2d"],
        ["ND", "PRIMARY", "M"],  # (a first value: no "_" before it)
        ["ORIGINAL", "PRIMARY", "M", "NDX"],  # (matched where a value starts with ND)
        ["ORIGINAL", "PRIMARY", "M_ND", "NORM"],
        ["ORIGINAL", "PRIMARY", "M", "XDIS2D"],
        ["ORIGINAL", "PRIMARY", "M", "DIS3D", "NORM"],
    ],
)
def test_nonlinear_gradient_correction_spellings_as_dcm2niix(tmp_path, dcm2niix, image_type):
    """dcm2niix finds ``_ND`` / ``_DIS2D`` / ``_DIS3D`` in its "_"-joined ImageType text, case
    as written, ``_ND`` winning; lazyvol compared whole values, upper-cased and stripped: a
    series stating both ND and DIS2D got true (dcm2niix: false), "nd" / "dis2d" or a first
    value ND got a value dcm2niix does not write, "NDX" or "M_ND" none where it writes false."""
    truth = write_dicom_4d_series(
        tmp_path / "s", SHAPE, n_volumes=2, modality="MR", extra={"ImageType": image_type}
    )
    for p in truth.files:
        ds = pydicom.dcmread(p)
        ds.Manufacturer = "GE MEDICAL SYSTEMS"
        ds.save_as(p)
    ((ref, _),) = _dcm2niix_sidecars(dcm2niix, tmp_path / "s", tmp_path / "out")
    mine = _sidecar(lv.open(tmp_path / "s"), tmp_path / "v.nii")
    assert mine.get("NonlinearGradientCorrection") is ref.get("NonlinearGradientCorrection")


@pytest.mark.parametrize(
    "raw",
    [
        b"ORIGINAL\\PRIMARY\\M\\ ND",  # (a leading space: no "_ND")
        b"ORIGINAL\\PRIMARY\\M\\  DIS2D",
        b"ORIGINAL\\PRIMARY\\M \\ND",  # ("M ": no "_M_", no MAGNITUDE)
        b"ORIGINAL \\PRIMARY\\M\\ND\\NORM",
        b"ORIGINAL\\PRIMARY\\M\\ND    ",  # (one trailing padding space dropped)
        b"ORIGINAL\\PRIMARY\\M\\ND\x00\x00",
        b"ORIGINAL\\PRIMARY\\M\\N\x00D",  # (a NUL inside a value: the text ends there)
        b"ORIGINAL\\PRIMARY\\M\\DIS2D\x00\\ND",
        b"\x00ORIGINAL\\PRIMARY\\M\\ND",
        b"   ",  # (blanks only: dcm2niix writes them)
    ],
)
@pytest.mark.parametrize("enhanced", [False, True])
def test_image_type_spaces_inside_values_as_dcm2niix(tmp_path, dcm2niix, raw, enhanced):
    """dcm2niix keeps the spaces around ImageType's values (it drops one trailing padding space
    and what follows a NUL): sidecar ImageType, its image kind and NonlinearGradientCorrection
    come from that text. lazyvol stripped each value: ' ND' gave false where dcm2niix writes
    none, 'M ' gave MAGNITUDE where dcm2niix does not, 'ND  ' was 'ND'."""
    from pydicom.dataelem import DataElement

    from lazyvol.testing import write_enhanced_dicom

    if enhanced:
        (tmp_path / "s").mkdir()
        write_enhanced_dicom(tmp_path / "s" / "e.dcm", shape=SHAPE)
        files = [tmp_path / "s" / "e.dcm"]
    else:
        files = write_dicom_4d_series(tmp_path / "s", SHAPE, n_volumes=2, modality="MR").files
    for p in files:
        ds = pydicom.dcmread(p)
        ds.Manufacturer = "GE MEDICAL SYSTEMS"
        ds[0x00080008] = DataElement(0x00080008, "CS", raw + b" " * (len(raw) % 2))
        ds.save_as(p)
    ((ref, _),) = _dcm2niix_sidecars(dcm2niix, tmp_path / "s", tmp_path / "out")
    mine = _sidecar(lv.open(tmp_path / "s"), tmp_path / "v.nii")
    keys = ("ImageType", "NonlinearGradientCorrection")
    assert {k: mine.get(k) for k in keys} == {k: ref.get(k) for k in keys}


@pytest.mark.parametrize(
    ("manufacturer", "protocol", "description", "sequence"),
    [
        ("SIEMENS", None, "dwi desc", "epfid2d1"),
        ("GE MEDICAL SYSTEMS", None, "dwi desc", "epi"),
        ("GE MEDICAL SYSTEMS", None, None, "episeq"),
        ("SIEMENS", None, None, "epfid2d1"),
        ("SIEMENS", None, "x", None),
        ("SIEMENS", "prot", "desc", None),
    ],
)
def test_protocol_name_falls_back_as_dcm2niixs(
    tmp_path, dcm2niix, manufacturer, protocol, description, sequence
):
    truth = write_dicom_4d_series(
        tmp_path / "s", SHAPE, n_volumes=2, modality="MR", extra={"Manufacturer": manufacturer}
    )
    for p in truth.files:
        ds = pydicom.dcmread(p)
        for key, value in (
            ("ProtocolName", protocol),
            ("SeriesDescription", description),
            ("SequenceName", sequence),
        ):
            if value is not None:
                setattr(ds, key, value)
            elif key in ds:
                delattr(ds, key)
        ds.save_as(p)
    ((ref, _),) = _dcm2niix_sidecars(dcm2niix, tmp_path / "s", tmp_path / "out")
    mine = _sidecar(lv.open(tmp_path / "s"), tmp_path / "v.nii")
    assert mine.get("ProtocolName") == ref.get("ProtocolName")
    expected = protocol or (description if description and len(description) > 1 else None)
    if expected is None and manufacturer != "SIEMENS":
        expected = sequence
    assert mine.get("ProtocolName") == expected


def test_siemens_mosaic_volume_without_a_b_value_keeps_the_table(tmp_path, dcm2niix):
    """A CSA header without B_value in one volume dropped the table silently; dcm2niix writes
    that volume b = 0 (the first volume states one)."""
    truth = write_mosaic_series(
        tmp_path / "s",
        (8, 6, 4),
        volumes=3,
        bvals=[1000, 0, 1000],
        gradients_lps=[(1, 0, 0), (0, 0, 0), (0, 1, 0)],
    )
    plain = write_mosaic_series(tmp_path / "p", (8, 6, 4), volumes=3)
    ds = pydicom.dcmread(truth.files[1])
    ds[0x00291010].value = pydicom.dcmread(plain.files[1])[0x00291010].value
    ds.save_as(truth.files[1])
    shutil.rmtree(tmp_path / "p")
    vol = lv.open(tmp_path / "s")
    diff = vol.meta["diffusion"]
    assert diff["bvals"] == [1000.0, 0.0, 1000.0]
    assert diff["no_bvalue"] == [1]
    np.testing.assert_allclose(diff["gradients_lps"], [(1, 0, 0), (0, 0, 0), (0, 1, 0)])
    assert any("without a b-value" in w for w in vol.meta["warnings"])
    ((_, nii),) = _dcm2niix_sidecars(dcm2niix, tmp_path / "s", tmp_path / "out")
    np.testing.assert_allclose(diff["bvals"], np.loadtxt(nii.with_suffix(".bval")))


def test_siemens_slices_disagreeing_on_the_b_value_are_refused_as_one_volume(tmp_path):
    """One slice of a volume stating another CSA B_value (the only b-values here): the volume
    order cannot be vouched for, as when the b-value comes from (0019,100C) or (0018,9087): a
    refusal naming the b-value. (It opened with the table dropped while lazyvol read the CSA
    values after stacking.)"""
    truth = write_dicom_4d_series(
        tmp_path / "s",
        SHAPE,
        n_volumes=3,
        labels=(),
        modality="MR",
        extra={"Manufacturer": "SIEMENS"},
    )
    odd = sorted(truth.files)[4]
    for p in truth.files:
        ds = pydicom.dcmread(p)
        b = [0, 1000, 1000][(int(ds.InstanceNumber) - 1) // SHAPE[2]] + (500 if p == odd else 0)
        tags = {"B_value": ("IS", [b])}
        if b:
            tags["DiffusionGradientDirection"] = ("FD", [1.0, 0.0, 0.0])
        ds.ScanningSequence = "EP"
        ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
        ds.add_new(0x00291010, "OB", csa2_bytes(tags))
        ds.save_as(p)
    with pytest.raises(SeriesError, match="diffusion b-value/gradient varies inside volume 1"):
        lv.open(tmp_path / "s")


_PHILIPS_KEYS = (
    "PhilipsRescaleSlope",
    "PhilipsRescaleIntercept",
    "PhilipsScaleSlope",
    "UsePhilipsFloatNotDisplayScaling",
)


@pytest.mark.parametrize("scale_slope", [0.75, None])
@pytest.mark.parametrize("scaling", ["rescale", "fp"])
def test_philips_scaling_keys_in_the_sidecar_as_dcm2niix(tmp_path, dcm2niix, scale_slope, scaling):
    """dcm2niix writes the first image's RescaleSlope / RescaleIntercept / scale slope (2005,100E)
    and which values the image holds (UsePhilipsFloatNotDisplayScaling: 1 with its default -p y,
    floating-point values) for a Philips image with a scale slope; lazyvol wrote none, so its
    sidecar did not say that its default values are display ones (0) nor how to get the others."""
    src = tmp_path / "s"
    truth = write_dicom_4d_series(
        src, SHAPE, n_volumes=2, modality="MR", extra={"Manufacturer": "Philips Medical Systems"}
    )
    for p in truth.files:
        ds = pydicom.dcmread(p)
        ds.RescaleSlope, ds.RescaleIntercept = 2.5, -4.0
        if scale_slope is not None:
            ds.add_new((0x2005, 0x0010), "LO", "Philips MR Imaging DD 001")
            ds.add_new((0x2005, 0x100E), "FL", scale_slope)
        ds.save_as(p)
    mine = _sidecar(lv.open(src, philips_scaling=scaling), tmp_path / "v.nii")
    ((ref, _),) = _dcm2niix_sidecars(dcm2niix, src, tmp_path / "out")
    if scale_slope is None:
        assert not [k for k in _PHILIPS_KEYS if k in mine or k in ref]
        return
    expected = {**{k: ref[k] for k in _PHILIPS_KEYS}, "UsePhilipsFloatNotDisplayScaling": 0}
    if scaling == "fp":  # (dcm2niix's default: the values it writes are floating-point ones)
        expected["UsePhilipsFloatNotDisplayScaling"] = 1
    assert {k: mine.get(k) for k in _PHILIPS_KEYS} == expected
    assert expected["PhilipsScaleSlope"] == scale_slope and expected["PhilipsRescaleSlope"] == 2.5
