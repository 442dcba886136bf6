"""Sidecar and GE timing numbers written with a digit separator ('2_000').

Python's ``float`` reads '2_000' as 2000; dcm2niix's C ``atof`` reads 2 (measured: RepetitionTime
'2_000' ms gave its sidecar 0.002 s, FlipAngle '9_0' 9, MagneticFieldStrength '3_0' 3, where
lazyvol wrote 2 s, 90 and 30). DICOM's DS / IS grammar has no such form, so the text states
neither number: lazyvol writes no value (``lazyvol.dicom.records.number``'s rule, as its header
fields already had), in the BIDS sidecar, the CT / PET keys, the Siemens XA private values and
GE's protocol block (SLICEORDER '0_1': no SliceTiming) and ASSET factor.

References: dcm2niix's readings quoted above; the values written into the synthetic files.
"""

from __future__ import annotations

import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series
from test_dicom_ge_timing import _protocol_block, _write_ge

pytestmark = [
    pytest.mark.usefixtures("dicom_cache"),
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
]


def _series(tmp_path, modality="MR", **values):
    write_dicom_series(tmp_path / "s", (8, 8, 3))
    for f in sorted((tmp_path / "s").iterdir()):
        ds = pydicom.dcmread(f)
        ds.Modality = modality
        for k, v in values.items():
            setattr(ds, k, v)
        ds.save_as(f)
    return lv.open(tmp_path / "s", use_index=False)


def test_mr_sidecar_numbers_with_a_digit_separator_are_no_value(tmp_path):
    vol = _series(
        tmp_path,
        RepetitionTime="2_000",
        FlipAngle="9_0",
        MagneticFieldStrength="3_0",
        InversionTime="1_00",
        EchoTime="30",
    )
    bids = vol.meta["bids"]
    for key in ("RepetitionTime", "FlipAngle", "MagneticFieldStrength", "InversionTime"):
        assert key not in bids, key
    assert bids["EchoTime"] == 0.03  # (a well-written value next to them is kept)


def test_ct_numbers_with_a_digit_separator_are_no_value(tmp_path):
    vol = _series(tmp_path, modality="CT", XRayTubeCurrent="1_00", Exposure="25")
    bids = vol.meta["bids"]
    assert "XRayTubeCurrent" not in bids
    assert bids["XRayExposure"] == 25


def test_ge_slice_order_with_a_digit_separator_gives_no_slice_times(tmp_path):
    folder = _write_ge(tmp_path / "s", 6, order=1)
    block = _protocol_block({"SLICEORDER": "0_1", "NOSLC": "6", "DELACQ": "0"})
    for f in sorted(folder.iterdir()):
        ds = pydicom.dcmread(f)
        ds.private_block(0x0025, "GEMS_SERS_01").add_new(0x1B, "OB", block)
        ds.save_as(f)
    vol = lv.open(folder, use_index=False)
    assert "SliceTiming" not in vol.meta["bids"]  # (Python: 1, interleaved; dcm2niix: digits)
    assert vol.meta["bids"]["Manufacturer"] == "GE"


def test_uih_grid_slice_count_with_a_digit_separator_is_refused(tmp_path):
    """(0065,1050) '0_9': Python reads 9 slices, dcm2niix's atoi 0 (it writes one 24x24 slice);
    the count is refused naming the element, as other malformed counts are."""
    from lazyvol.testing import write_uih_grid_series

    write_uih_grid_series(tmp_path / "g", (8, 8, 9), volumes=2, count="0_9")
    with pytest.raises(lv.LazyvolError, match=r"\(0065,1050\) = '0_9' is not a whole number"):
        lv.open(tmp_path / "g", use_index=False)


def test_protocol_and_private_numbers_with_a_digit_separator_are_no_value():
    """The ASCCONV protocol's numbers (slice positions of a mosaic, codes), a GE table position
    text and Siemens XA's bandwidth text."""
    from types import SimpleNamespace

    from lazyvol.dicom.bids import xa_bandwidth
    from lazyvol.dicom.siemens_protocol import Protocol

    protocol = Protocol(
        "sSliceArray.asSlice[0].sPosition.dTra\t = 1_0.5\nlSize\t = 0x1_0\nn = 2.5\n"
    )
    assert protocol.number("sSliceArray.asSlice[0].sPosition.dTra") is None
    assert protocol.number("lSize") is None
    assert protocol.number("n") == 2.5
    assert xa_bandwidth(SimpleNamespace(value="3_0.5", VR="DS")) is None
    assert xa_bandwidth(SimpleNamespace(value="30.5", VR="DS")) == 30.5


def _siemens_dwi(tmp_path, text):
    """A Siemens one-file-per-slice DWI whose b > 0 images state (0019,100C) as ``text``."""
    from lazyvol.testing import write_dicom_4d_series

    write_dicom_4d_series(
        tmp_path / "s",
        (8, 8, 3),
        bvals=[0, 1000, 1000],
        bvecs=[[0, 0, 0], [1, 0, 0], [0, 1, 0]],
        vendor="SIEMENS",
        labels=("AcquisitionTime",),
    )
    for f in sorted((tmp_path / "s").iterdir()):
        ds = pydicom.dcmread(f)
        if str(ds[0x0019100C].value) != "0":
            ds.add_new(0x0019100C, "LO", text)
        ds.save_as(f)
    return tmp_path / "s"


def test_siemens_private_b_value_written_as_a_decimal_is_read(tmp_path):
    """(0019,100C) B_value (IS) '1000.0': 1000, as dcm2niix's atoi reads it."""
    vol = lv.open(_siemens_dwi(tmp_path, "1000.0"), use_index=False)
    assert vol.meta["diffusion"]["bvals"] == [0.0, 1000.0, 1000.0]
