"""Philips real-world value mapping (0040,9096): the slope / intercept dcm2niix applies where a
Philips image's rescale is an identity. Truth: the synthetic writers' stored values with the pair
worked out here from dcm2niix's rule, and dcm2niix's own conversion of the same files."""

from __future__ import annotations

import os

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

import lazyvol as lv
from lazyvol.errors import FormatError
from lazyvol.testing import write_dicom_series, write_enhanced_dicom

pytestmark = pytest.mark.usefixtures("dicom_cache")

SHAPE = (6, 5, 3)
PHILIPS = "Philips Medical Systems"


def _mapping(pairs, undefined=False) -> DicomSequence:
    """A RealWorldValueMappingSequence of one item per (slope, intercept)."""
    items = []
    for slope, inter in pairs:
        item = Dataset()
        item.LUTLabel = "T1"
        item.RealWorldValueFirstValueMapped = 0
        item.RealWorldValueLastValueMapped = 4095
        item.RealWorldValueIntercept = float(inter)
        item.RealWorldValueSlope = float(slope)
        item.is_undefined_length_sequence_item = undefined
        items.append(item)
    return DicomSequence(items)


def _classic(folder, manufacturer, rescale, pairs, undefined=False):
    """A single-frame MR series whose files carry ``pairs`` as their mapping."""
    truth = write_dicom_series(
        folder, SHAPE, dtype="uint16", modality="MR", slope=rescale[0], intercept=rescale[1]
    )
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.Manufacturer = manufacturer
        ds.RealWorldValueMappingSequence = _mapping(pairs, undefined)
        ds["RealWorldValueMappingSequence"].is_undefined_length = undefined
        ds.save_as(f)
    return truth


def _enhanced(path, manufacturer, pairs_per_frame, rescale=None):
    """An enhanced MR file whose frames carry their own mapping (and PixelValueTransformation
    ``rescale`` when given, else none)."""
    truth = write_enhanced_dicom(path, SHAPE, dtype="uint16")
    ds = pydicom.dcmread(path)
    ds.Manufacturer = manufacturer
    for item, pairs in zip(ds.PerFrameFunctionalGroupsSequence, pairs_per_frame, strict=True):
        if rescale is None:
            del item.PixelValueTransformationSequence
        else:
            item.PixelValueTransformationSequence[0].RescaleSlope = f"{rescale[0]:g}"
            item.PixelValueTransformationSequence[0].RescaleIntercept = f"{rescale[1]:g}"
        item.RealWorldValueMappingSequence = _mapping(pairs)
    ds.save_as(path)
    return truth


# (RescaleSlope, RescaleIntercept), mapping items -> the pair dcm2niix applies (Philips): the
# slope replaces a RescaleSlope of 1, the intercept a RescaleIntercept of 0, the first item's
# value other than 1 / 0 winning.
CASES = [
    ((1.0, 0.0), [(0.5, -100.0)], (0.5, -100.0)),
    ((2.0, 0.0), [(0.5, -100.0)], (2.0, -100.0)),
    ((1.0, 7.0), [(0.5, -100.0)], (0.5, 7.0)),
    ((1.0, 0.0), [(1.0, 0.0), (0.25, -3.0), (4.0, 9.0)], (0.25, -3.0)),
]


@pytest.mark.parametrize("undefined", [False, True])
@pytest.mark.parametrize(("rescale", "pairs", "applied"), CASES)
def test_philips_classic_real_world_values_as_dcm2niix(
    tmp_path, dcm2niix, rescale, pairs, applied, undefined
):
    truth = _classic(tmp_path / "in", PHILIPS, rescale, pairs, undefined)
    vol = lv.open(tmp_path / "in")
    expected = truth.stored.astype(np.float64) * applied[0] + applied[1]
    np.testing.assert_allclose(np.asarray(vol.compute(), np.float64), expected, rtol=1e-6)
    assert vol.meta["rescale"] == {"slope": applied[0], "intercept": applied[1]}
    assert "RealWorldValueMappingSequence (0040,9096)" in vol.meta["philips_scaling"]
    raw = lv.open(tmp_path / "in", scale=False).compute()
    np.testing.assert_array_equal(raw, truth.stored)
    (ref,) = dcm2niix(tmp_path / "in", tmp_path / "out")
    from test_dicom_realdata import compare_with_reference

    compare_with_reference(vol, ref)


def test_philips_mapping_of_undefined_length_is_read_by_the_header_walker(tmp_path):
    """The walker keeps an undefined-length mapping's bytes (no fall back to pydicom's reader)."""
    from lazyvol.dicom.walker import walk_file

    truth = _classic(tmp_path / "in", PHILIPS, (1.0, 0.0), [(0.5, -100.0)], undefined=True)
    path = truth.files[0]
    with open(path, "rb") as fh:
        data = fh.read()
    walked = walk_file(lambda off, n: data[off : off + n], len(data))
    assert walked is not None
    parsed = walked[0]
    assert 0x00409096 in parsed._dict


@pytest.mark.parametrize("pvt", [None, (1.0, 0.0)])
def test_philips_enhanced_real_world_values_as_dcm2niix(tmp_path, dcm2niix, pvt):
    """Frames with only a mapping, or an identity PixelValueTransformation beside it."""
    path = tmp_path / "in" / "map.dcm"
    truth = _enhanced(path, PHILIPS, [[(0.5, -100.0)]] * SHAPE[2], pvt)
    vol = lv.open(path)
    expected = truth.stored.astype(np.float64) * 0.5 - 100.0
    np.testing.assert_allclose(np.asarray(vol.compute(), np.float64), expected, rtol=1e-6)
    assert vol.meta["rescale"] == {"slope": 0.5, "intercept": -100.0}
    assert vol.meta["philips_scaling"].startswith("rescale: scaled values (scale=True) are real")
    (ref,) = dcm2niix(path.parent, tmp_path / "out")
    from test_dicom_realdata import compare_with_reference

    compare_with_reference(vol, ref)


def test_philips_enhanced_mapping_is_each_frames_own(tmp_path):
    """Each frame's functional group holds its own mapping (numpy truth: dcm2niix keeps the first
    frame's slope for later frames that state none in a PixelValueTransformation)."""
    path = tmp_path / "in" / "map.dcm"
    pairs = [(0.5 * (k + 1), -10.0 * k) for k in range(SHAPE[2])]
    truth = _enhanced(path, PHILIPS, [[p] for p in pairs])
    vol = lv.open(path)
    expected = np.stack(
        [truth.stored[..., k].astype(np.float64) * s + i for k, (s, i) in enumerate(pairs)], -1
    )
    np.testing.assert_allclose(np.asarray(vol.compute(), np.float64), expected, rtol=1e-6)
    assert vol.meta["rescale"] == "per slice"
    assert "per image" in vol.meta["philips_scaling"]


@pytest.mark.parametrize("manufacturer", ["SIEMENS", "GE MEDICAL SYSTEMS"])
def test_other_vendors_mapping_is_not_applied_as_dcm2niix(tmp_path, dcm2niix, manufacturer):
    """dcm2niix applies the real-world mapping for Philips only: other vendors' values keep their
    rescale (their mapping, e.g. to physical units, is a separate statement), with no note."""
    truth = _classic(tmp_path / "in", manufacturer, (1.0, 0.0), [(0.5, -100.0)])
    vol = lv.open(tmp_path / "in")
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert "philips_scaling" not in vol.meta
    (ref,) = dcm2niix(tmp_path / "in", tmp_path / "out")
    from test_dicom_realdata import compare_with_reference

    compare_with_reference(vol, ref)


def test_philips_mapping_that_is_not_a_number_is_refused(tmp_path):
    truth = _classic(tmp_path / "in", PHILIPS, (1.0, 0.0), [(float("nan"), 0.0)])
    with pytest.raises(FormatError) as err:
        lv.open(tmp_path / "in")
    msg = str(err.value)
    assert os.fspath(truth.files[0]) in msg
    assert "RealWorldValueSlope (0040,9225)" in msg and "dcmodify" in msg


def test_philips_mapping_of_slope_zero_maps_nothing_as_dcm2niix(tmp_path, dcm2niix):
    """A mapping item of slope 0 is none: its intercept is not applied either (the values were
    shifted by it); dcm2niix writes no scaling."""
    truth = _classic(tmp_path / "in", PHILIPS, (1.0, 0.0), [(0.0, -100.0)])
    vol = lv.open(tmp_path / "in")
    np.testing.assert_array_equal(np.asarray(vol.compute(), np.float64), truth.stored)
    (ref,) = dcm2niix(tmp_path / "in", tmp_path / "out")
    from test_dicom_realdata import compare_with_reference

    compare_with_reference(vol, ref)


def test_philips_scaling_keys_in_the_sidecar_as_dcm2niix(tmp_path, dcm2niix):
    """The sidecar has dcm2niix's Philips scaling keys: PhilipsRWVSlope / PhilipsRWVIntercept
    (the mapping, applied or not), PhilipsRescaleSlope / PhilipsRescaleIntercept /
    PhilipsScaleSlope where a scale slope (2005,100E) is stated; it had none.
    UsePhilipsFloatNotDisplayScaling says which values lazyvol gives (dcm2niix writes its -p
    option: 1 by default)."""
    import json

    _classic(tmp_path / "in", PHILIPS, (2.5, -10.0), [(3.0, 0.0)])
    for f in sorted((tmp_path / "in").rglob("*.dcm")):
        ds = pydicom.dcmread(f)
        ds.add_new(0x20050010, "LO", "Philips MR Imaging DD 001")
        ds.add_new(0x2005100E, "FL", 0.125)
        ds.save_as(f)
    expected = {
        "PhilipsRWVSlope": 3,
        "PhilipsRWVIntercept": 0,
        "PhilipsRescaleSlope": 2.5,
        "PhilipsRescaleIntercept": -10,
        "PhilipsScaleSlope": 0.125,
    }
    vol = lv.open(tmp_path / "in")
    vol.to_nifti(tmp_path / "lv.nii")
    got = json.loads((tmp_path / "lv.json").read_text())
    assert {k: got.get(k) for k in expected} == expected
    assert got["UsePhilipsFloatNotDisplayScaling"] == 0
    fp = lv.open(tmp_path / "in", philips_scaling="fp")
    assert fp.meta["bids"]["UsePhilipsFloatNotDisplayScaling"] == 1
    dcm2niix.run(tmp_path / "in", tmp_path / "ref", sidecar=True, check=True)
    ref = json.loads(next((tmp_path / "ref").glob("*.json")).read_text())
    assert {k: ref.get(k) for k in expected} == expected
