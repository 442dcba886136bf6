"""Sidecar keys from the site, study and coil attributes and GE's private elements
(``lazyvol.dicom.bids_extra`` and the new rows of ``BIDS_TAGS``), value by value against the
sidecar the installed dcm2niix writes for the same files, and against pydicom's values.

The one divergence: dcm2niix writes InstitutionalDepartmentName "None" for images that state
none; lazyvol writes none.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series
from test_dicom_mosaic import sidecar_pair
from test_dicom_realdata import REAL

pytestmark = pytest.mark.usefixtures("dicom_cache")

KEYS = (
    "InstitutionName",
    "InstitutionalDepartmentName",
    "InstitutionAddress",
    "DeviceSerialNumber",
    "StationName",
    "ProcedureStepDescription",
    "StudyDescription",
    "ImageComments",
    "AcquisitionNumber",
    "SAR",
    "PercentSampling",
    "PercentPhaseFOV",
    "PhaseEncodingSteps",
    "PartialFourierEnabled",
    "PhaseEncodingStepsNoPartialFourier",
    "AcquisitionMatrixPE",
    "CoilString",
    "ImageOrientationText",
    "ParallelReductionFactorInPlane",
    "ParallelReductionFactorOutOfPlane",
    "InternalPulseSequenceName",
    "SequenceName",
    "PrescanReuseString",
    "AcquisitionDuration",
    "ShimSetting",
    "TablePosition",
)
SITE = {
    "InstitutionName": "Example Hospital",
    "InstitutionalDepartmentName": "Neuro MR",
    "InstitutionAddress": "1 Main Street, Springfield, 12345",
    "DeviceSerialNumber": "45160",
    "StationName": "MRC45160",
    "PerformedProcedureStepDescription": "Head^Routine",
    "StudyDescription": "Brain^QA",
    "ImageComments": "fMRI run 1",
    "AcquisitionNumber": 3,
    "SAR": "0.00556577839375",
    "PercentSampling": "87.5",
    "PercentPhaseFieldOfView": "75",
    "NumberOfPhaseEncodingSteps": "48",
    "AcquisitionMatrix": [64, 0, 0, 48],
}


def _write(folder: Path, manufacturer: str, edit: Any = None, **attrs: Any) -> Path:
    """A 3-slice MR series of ``manufacturer`` with ``attrs`` (pydicom keywords) set in every
    file, then ``edit(ds)`` applied (private elements)."""
    truth = write_dicom_series(folder, (64, 64, 3), modality="MR")
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.Manufacturer = manufacturer
        ds.MRAcquisitionType = "2D"
        ds.InPlanePhaseEncodingDirection = "COL"
        for key, value in attrs.items():
            setattr(ds, key, value)
        if edit is not None:
            edit(ds)
        ds.save_as(f)
    return folder


def _ge(ds: pydicom.Dataset, *, internal: str = "EPI2", shim: bool = True) -> None:
    acqu = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    acqu.add_new(0x9C, "LO", "epiRT")
    acqu.add_new(0x9E, "LO", internal)
    acqu.add_new(0x5A, "FL", 1234567.0)
    acqu.add_new(0x7F, "DS", "12.5")
    parm = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
    for element, value in zip((0x02, 0x03, 0x04), (3, -4, 12), strict=True):
        if shim or element != 0x03:
            parm.add_new(element, "SS", value)
    parm.add_new(0x83, "DS", ["0.5", "1"])
    parm.add_new(0x95, "LO", "TG/s3,RN/s1")
    parm.add_new(0xB2, "LO", ["956.1", "320.1", "-17.3125", "0"])
    text = gzip.compress(b'PSEQ "Gradient Echo"\nSLICEORDER "1"\n')
    block = struct.pack("<I", len(text)) + text  # (its length first, as GE writes it)
    ds.private_block(0x0025, "GEMS_SERS_01", create=True).add_new(0x1B, "OB", block)


def _philips_factors(ds: pydicom.Dataset) -> None:
    ds.add_new(0x00189069, "FD", 2.0)
    ds.add_new(0x00189155, "FD", 3.0)


def _siemens(ds: pydicom.Dataset) -> None:
    header = ds.private_block(0x0051, "SIEMENS MR HEADER", create=True)
    header.add_new(0x0E, "LO", "Sag>Cor")


CASES = {
    "siemens site keys": ("SIEMENS", _siemens, SITE),
    "ge private keys": (
        "GE MEDICAL SYSTEMS",
        _ge,
        {
            "ReceiveCoilName": "32Ch Head",
            "AcquisitionMatrix": [0, 64, 56, 0],
            "PerformedProcedureStepDescription": "Brain",  # (the protocol's PSEQ appended)
        },
    ),
    "ge no epi, a sequence name": (
        "GE MEDICAL SYSTEMS",
        lambda ds: _ge(ds, internal="FSE"),
        {"SequenceName": "myseq"},
    ),
    "philips partial fourier": (
        "Philips Medical Systems",
        _philips_factors,
        {**SITE, "ScanOptions": ["FS", "PFF"], "ReceiveCoilName": "SENSE-Head-8"},
    ),
    "philips full fourier": ("Philips Medical Systems", None, {**SITE, "ScanOptions": "FS"}),
    "canon, zero SAR": ("CANON_MEC", None, {"SAR": "0", "InstitutionName": "Clinic"}),
}


@pytest.mark.parametrize("case", CASES)
def test_keys_as_dcm2niix(tmp_path: Path, case: str) -> None:
    manufacturer, edit, attrs = CASES[case]
    src = _write(tmp_path / "s", manufacturer, edit, **attrs)
    mine, ref = sidecar_pair(src, tmp_path, KEYS)
    if "InstitutionalDepartmentName" not in attrs:
        assert ref.pop("InstitutionalDepartmentName") == "None"  # (dcm2niix's default)
    assert mine == ref


def test_ge_shim_needs_all_three_offsets(tmp_path: Path) -> None:
    """dcm2niix writes -33333 for a missing GE gradient offset; lazyvol writes no ShimSetting."""
    src = _write(tmp_path / "s", "GE MEDICAL SYSTEMS", lambda ds: _ge(ds, shim=False))
    mine, ref = sidecar_pair(src, tmp_path, KEYS)
    assert ref.pop("ShimSetting") == [3, -33333, 12]
    ref.pop("InstitutionalDepartmentName")
    assert mine == ref


def test_site_keys_are_the_files_values(tmp_path: Path) -> None:
    """The text keys are the attributes' values as pydicom reads them (the first file's)."""
    src = _write(tmp_path / "s", "SIEMENS", None, **SITE)
    vol = lv.open(src)
    ds = pydicom.dcmread(sorted(src.iterdir())[0])
    bids = vol.meta["bids"]
    for key in ("InstitutionName", "InstitutionalDepartmentName", "InstitutionAddress"):
        assert bids[key] == ds.data_element(key).value
    for key in ("DeviceSerialNumber", "StationName", "StudyDescription", "ImageComments"):
        assert bids[key] == ds.data_element(key).value
    assert bids["ProcedureStepDescription"] == ds.PerformedProcedureStepDescription
    assert bids["SAR"] == float(f"{float(ds.SAR):.6g}")
    assert bids["AcquisitionNumber"] == ds.AcquisitionNumber
    assert bids["AcquisitionMatrixPE"] == ds.AcquisitionMatrix[3]


#: Text written by a writer that pads with NULs and leaves what follows (a C buffer copied whole):
#: keyword -> (VR, raw bytes); dcm2niix reads each up to its first NUL.
NUL_TEXT = {
    "SeriesDescription": ("LO", b"rest state\x00junk"),
    "ProtocolName": ("LO", b"ep2d_bold\x00\x00old"),
    "InstitutionName": ("LO", b"Example Hospital\x00Other"),
    "StationName": ("SH", b"AWP45160\x00X"),
    "ImageComments": ("LT", b"\x00left over"),  # (a value starting with a NUL is empty)
    "SequenceName": ("SH", b"*epfid2d1_64\x00zz"),
    "ScanningSequence": ("CS", b"EP\x00\\GR"),  # (the values after it are gone too)
    "SoftwareVersions": ("LO", b"syngo MR E11\x00B"),
}


def test_text_after_a_nul_is_not_the_value(tmp_path: Path) -> None:
    """dcm2niix reads a text element up to its first NUL; lazyvol wrote what followed it into
    the sidecar ("rest state\\u0000junk" where dcm2niix writes "rest state") and the series
    description. The sidecar now holds dcm2niix's values, and so does vol.meta."""
    from pydicom.dataelem import DataElement

    def nul_text(ds: pydicom.Dataset) -> None:
        for key, (vr, raw) in NUL_TEXT.items():
            tag = pydicom.datadict.tag_for_keyword(key)
            ds[tag] = DataElement(tag, vr, raw + b"\x00" * (len(raw) % 2))

    src = _write(tmp_path / "s", "SIEMENS", nul_text)
    keys = (*KEYS, "SeriesDescription", "ProtocolName", "ScanningSequence", "SoftwareVersions")
    mine, ref = sidecar_pair(src, tmp_path, keys)
    ref.pop("InstitutionalDepartmentName")
    assert mine == ref
    assert ref["SeriesDescription"] == "rest state" and "ImageComments" not in ref
    assert lv.open(src).meta["series_description"] == "rest state"


def test_a_nul_inside_the_values_lazyvol_reads_itself_ends_them(tmp_path: Path) -> None:
    """Modality, Manufacturer and the other text the header reader keeps on a record (not only
    the sidecar's text) end at their first NUL, as dcm2niix reads them: Modality 'MR<NUL>X' was
    written to the sidecar whole and was no MR image, so the MR keys (ReconMatrixPE) were left
    out; Manufacturer 'GE<NUL>...' named no vendor. UIDs are kept whole."""
    from pydicom.dataelem import DataElement

    text = {"Modality": ("CS", b"MR\x00X"), "Manufacturer": ("LO", b"GE\x00MEDICAL SYSTEMS")}

    def nul_text(ds: pydicom.Dataset) -> None:
        for key, (vr, raw) in text.items():
            tag = pydicom.datadict.tag_for_keyword(key)
            ds[tag] = DataElement(tag, vr, raw + b"\x00" * (len(raw) % 2))

    src = _write(tmp_path / "s", "X", nul_text)
    keys = ("Modality", "Manufacturer", "ReconMatrixPE", "MRAcquisitionType")
    mine, ref = sidecar_pair(src, tmp_path, keys)
    assert mine == ref
    assert ref["Modality"] == "MR" and "ReconMatrixPE" in ref


REAL_SERIES = [
    REAL / "dcm_qa_nih" / "In" / "20180918GE" / "mr_0004",
    REAL / "dcm_qa_nih" / "In" / "20180918Si" / "mr_0003",
]


@pytest.mark.skipif(not REAL_SERIES[0].is_dir(), reason=f"real DICOM data not found under {REAL}")
@pytest.mark.parametrize("src", REAL_SERIES, ids=lambda p: p.parent.name)
def test_real_series_as_dcm2niix(tmp_path: Path, src: Path) -> None:
    """GE: every key; Siemens (mosaic, two acquisitions: AcquisitionNumber is the first's): every
    key, TablePosition (the CSA header's ImaRelTablePosition) included since h159."""
    mine, ref = sidecar_pair(src, tmp_path, KEYS)
    if "GE" in src.parent.name:
        assert ref.pop("InstitutionalDepartmentName") == "None"  # (the files state none)
    assert mine == ref
    assert {"InstitutionName", "SAR", "AcquisitionMatrixPE", "AcquisitionNumber"} <= set(mine)


def test_a_nul_inside_a_number_written_as_text_ends_it(tmp_path):
    # 290bb7f's sibling: the decimal / integer strings the header reader parses (EchoTime,
    # SliceThickness, RescaleSlope ...) read on past a NUL: EchoTime '30<NUL>junk!' was no echo
    # time, SliceThickness none, RescaleSlope '2<NUL>junkju' refused; dcm2niix reads 30, 2.5, 2.
    truth = write_dicom_series(tmp_path / "s", (8, 8, 4), modality="MR", slope=2.0)
    patches = {
        "EchoTime": ("30.12345", b"30\x00junk!"),
        "SliceThickness": ("2.512345", b"2.5\x00junk"),
    }
    patches["RescaleSlope"] = ("2.123456", b"2\x00junkju")
    for f in truth.files:
        ds = pydicom.dcmread(f)
        for keyword, (placeholder, _) in patches.items():
            setattr(ds, keyword, placeholder)
        ds.save_as(f)
        data = Path(f).read_bytes()
        for placeholder, value in patches.values():
            assert data.count(placeholder.encode()) == 1
            data = data.replace(placeholder.encode(), value)
        Path(f).write_bytes(data)
    vol = lv.open(tmp_path / "s")
    assert vol.meta["bids"]["EchoTime"] == 0.03
    assert vol.meta["bids"]["SliceThickness"] == 2.5
    np.testing.assert_array_equal(vol.compute(), truth.stored.astype(np.float64) * 2)
