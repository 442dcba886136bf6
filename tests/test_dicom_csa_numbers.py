"""Numeric items of a Siemens CSA image header written with a digit separator ('1_0').

nibabel's csareader converts CSA items with Python's ``float`` / ``int``, which read '5_00' as
500; dcm2niix's C ``atof`` / ``atoi`` read it as 5 (measured: a MosaicRefAcqTimes item '5_00.0'
gave SliceTiming 0.005 s, a NumberOfImagesInMosaic '0_4' no mosaic at all). Neither is what the
header says, so lazyvol takes no number from such an item: slice times are left out, a mosaic
count refuses the file naming the item, a b-value marks the image's diffusion as malformed.

References: the synthetic truth of :func:`lazyvol.testing.write_mosaic_series`; nibabel's
csareader (the items' structure); dcm2niix's readings quoted above.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.dicom.csa_numbers import NotANumber, checked
from lazyvol.testing import write_mosaic_series
from lazyvol.testing.mosaic import csa2_bytes

pytestmark = pytest.mark.usefixtures("dicom_cache")

TIMES = ["0.0", "500.0", "1000.0", "1500.0"]


def _tags(times=TIMES, count="4", **extra):
    return {
        "NumberOfImagesInMosaic": ("US", [count]),
        "AcquisitionMatrixText": ("SH", ["8p*8"]),
        "SliceNormalVector": ("FD", ["0.0", "0.0", "1.0"]),
        "MosaicRefAcqTimes": ("FD", times),
        **extra,
    }


def _series(tmp_path, tags, **kw):
    truth = write_mosaic_series(tmp_path / "m", (8, 8, 4), volumes=2, **kw)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds[0x00291010].value = csa2_bytes(tags)
        ds.save_as(f)
    return truth


def test_well_written_items_keep_their_numbers(tmp_path):
    truth = _series(tmp_path, _tags())
    vol = lv.open(truth.files[0].rsplit("/", 1)[0], use_index=False)
    assert vol.shape == (8, 8, 4, 2)
    assert vol.meta["bids"]["SliceTiming"] == [0.0, 0.5, 1.0, 1.5]


def test_slice_time_with_digit_separator_gives_no_slice_times(tmp_path):
    truth = _series(tmp_path, _tags(times=["0.0", "5_00.0", "1000.0", "1500.0"]))
    vol = lv.open(truth.files[0].rsplit("/", 1)[0], use_index=False)
    assert vol.shape == (8, 8, 4, 2)  # (the geometry does not depend on the times)
    assert "SliceTiming" not in vol.meta["bids"]  # (Python: 0.5 s; dcm2niix: 0.005 s)


def test_mosaic_count_with_digit_separator_is_refused_naming_it(tmp_path):
    truth = _series(tmp_path, _tags(count="0_4"), n_in_private=False)
    with pytest.raises(lv.LazyvolError) as info:
        lv.open(truth.files[0].rsplit("/", 1)[0], use_index=False)
    text = str(info.value)
    assert "NumberOfImagesInMosaic" in text and "'0_4'" in text and "MOS0000" in text


def test_b_value_with_digit_separator_is_malformed_diffusion(tmp_path):
    tags = _tags(B_value=("IS", ["1_000"]), DiffusionGradientDirection=("FD", ["1.0", "0", "0"]))
    truth = _series(tmp_path, tags)
    with pytest.raises(lv.LazyvolError, match=r"B_value=\['1_000'\] is written as no DICOM number"):
        lv.open(truth.files[0].rsplit("/", 1)[0], use_index=False)


def test_items_are_matched_to_nibabels_reading():
    from nibabel.nicom import csareader

    b = csa2_bytes(_tags(times=["1_0", "2"], Other=("SH", ["a_b"]), B_value=("IS", ["7"])))
    parsed = checked(csareader.read(b), b)
    assert parsed["tags"]["MosaicRefAcqTimes"]["items"] == [NotANumber("1_0"), 2.0]
    assert parsed["tags"]["B_value"]["items"] == [7]
    assert parsed["tags"]["Other"]["items"][0] == "a_b"  # (text stays text)
    assert parsed["tags"]["NumberOfImagesInMosaic"]["items"] == [4]


@pytest.mark.parametrize(
    ("extra", "count"),
    [
        ({}, "4.0"),  # (an integer written as a decimal: dcm2niix's atoi reads 4)
        ({"Actual3DImaPartNumber": ("IS", ["abc"])}, "4"),  # (junk in an element not used)
        ({"ImaAbsTablePosition": ("SL", ["", "0", "-1200"])}, "4"),  # (an empty first item)
    ],
    ids=["count-as-decimal", "junk-in-unused-element", "empty-integer-item"],
)
def test_one_item_python_cannot_convert_does_not_lose_the_header(tmp_path, extra, count):
    """nibabel's csareader converts every numeric item with int / float and fails the whole
    header on one it cannot convert ('4.0' for an integer, a word): the mosaic was refused
    ("CSA image header (0029,1010) does not parse"), where dcm2niix reads it. The header is read
    item by item then: the mosaic opens as dcm2niix's, and only that item is no number."""
    truth = _series(tmp_path, _tags(count=count, **extra), n_in_private=False)
    vol = lv.open(truth.files[0].rsplit("/", 1)[0], use_index=False)
    assert vol.shape == (8, 8, 4, 2)
    assert vol.meta["bids"]["SliceTiming"] == [0.0, 0.5, 1.0, 1.5]
    np.testing.assert_array_equal(vol.compute(), truth.stored)


def test_a_b_value_written_as_a_decimal_is_read(tmp_path):
    """B_value (IS) '1000.0': nibabel's int() failed the header; dcm2niix writes b = 1000."""
    tags = _tags(B_value=("IS", ["1000.0"]), DiffusionGradientDirection=("FD", ["1.0", "0", "0"]))
    truth = _series(tmp_path, tags)
    vol = lv.open(truth.files[0].rsplit("/", 1)[0], use_index=False)
    assert vol.meta["diffusion"]["bvals"] == [1000.0, 1000.0]


def test_a_count_no_integer_is_refused_naming_it(tmp_path):
    truth = _series(tmp_path, _tags(count="4.5"), n_in_private=False)
    with pytest.raises(
        lv.LazyvolError, match=r"NumberOfImagesInMosaic \(CSA \(0029,1010\)\) = '4.5'"
    ):
        lv.open(truth.files[0].rsplit("/", 1)[0], use_index=False)


@pytest.mark.parametrize("z", ["1_0", "x"])
def test_a_slice_normal_no_numbers_is_named_as_written(tmp_path, z):
    """A SliceNormalVector whose items are no numbers was refused as "missing from the CSA image
    header": the refusal shows what is written there."""
    truth = _series(tmp_path, {**_tags(), "SliceNormalVector": ("FD", ["0.0", "0.0", z])})
    with pytest.raises(lv.LazyvolError, match=rf"SliceNormalVector is \['0.0', '0.0', '{z}'\]"):
        lv.open(truth.files[0].rsplit("/", 1)[0], use_index=False)
