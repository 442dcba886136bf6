"""Siemens XA protocol keys: the ASCCONV text in (0021,1019) of "SIEMENS MR SDS 01" (no CSA
header), at the top level of classic files and in the shared functional group's (0021,10FE) of
enhanced ones, compared with dcm2niix's sidecars on edited copies of a real Prisma mosaic."""

from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import lazyvol as lv
from lazyvol.dicom.header import read_header
from lazyvol.testing import write_enhanced_dicom
from test_dicom_mosaic import sidecar_pair
from test_dicom_siemens_sidecar import KEYS, MOSAICS, _line, _real

#: The protocol keys, with those the XA files of dcm_qa_xa30 show (AcquisitionMatrixPE from the
#: protocol when the file states none, MTState from sPrepPulses.ucMTC).
XA_KEYS = (*KEYS, "MTState", "AcquisitionMatrixPE", "ReconMatrixPE")
SDS = "SIEMENS MR SDS 01"


def _protocol(path: Path) -> str:
    """The ASCCONV text of a real file's CSA series header, as nibabel's CSA parser reads it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nibabel.nicom import csareader
    series = pydicom.dcmread(path)[0x0029, 0x1020].value
    return csareader.read(series)["tags"]["MrPhoenixProtocol"]["items"][0]


def _sds(ds: Dataset, text: str, block: int = 0x10) -> None:
    """``text`` as (0021,xx19) of an SDS block at ``block`` (0x10: where XA writes it)."""
    ds.add_new((0x0021, block), "LO", SDS)
    ds.add_new((0x0021, block << 8 | 0x19), "OB", text.encode("latin-1"))


def _classic(tmp_path: Path, subs=(), block: int = 0x10, series: str = "ep2d_Asc_2") -> Path:
    """Copies of a real mosaic as XA classic files: no CSA series header, its protocol (with lines
    replaced, ``subs``) in the SDS block. (The CSA image header stays: a mosaic without it has no
    slice order; XA writes no mosaics.)"""
    out = tmp_path / "xa"
    out.mkdir()
    for path in sorted(_real(MOSAICS / series).glob("*.dcm")):
        text = _protocol(path)
        for old, new in subs:
            assert old in text
            text = text.replace(old, new)
        ds = pydicom.dcmread(path)
        del ds[0x0029, 0x1020]
        _sds(ds, text, block)
        ds.SoftwareVersions = "syngo MR XA30"
        ds.save_as(out / path.name)
    return out


def _enhanced(tmp_path: Path, undefined: bool, subs=()) -> Path:
    """A synthetic enhanced MR file of Siemens XA, the real protocol in its shared functional
    group's private sequence (0021,10FE); sequences and items of undefined or defined length."""
    text = _protocol(sorted(_real(MOSAICS / "ep2d_Asc_2").glob("*.dcm"))[0])
    for old, new in subs:
        text = text.replace(old, new)
    out = tmp_path / "enh"
    path = Path(write_enhanced_dicom(out / "e.dcm", (16, 16, 4), modality="MR").files[0])
    ds = pydicom.dcmread(path)
    ds.Manufacturer, ds.SoftwareVersions = "SIEMENS", "syngo MR XA30"
    item, shared = Dataset(), ds.SharedFunctionalGroupsSequence[0]
    _sds(item, text)
    shared.add_new((0x0021, 0x0010), "LO", SDS)
    shared.add_new((0x0021, 0x10FE), "SQ", Sequence([item]))
    geometry = Dataset()
    geometry.InPlanePhaseEncodingDirection = "COL"
    shared.MRFOVGeometrySequence = Sequence([geometry])
    for elem in (ds[0x5200, 0x9229], shared[0x0021, 0x10FE]):
        elem.is_undefined_length = undefined
    for it in (shared, item):
        it.is_undefined_length_sequence_item = undefined
    ds.save_as(path, enforce_file_format=True)
    return out


@pytest.mark.parametrize("block", [0x10, 0x12], ids=["usual-block", "block-moved-by-pacs"])
def test_xa_classic_protocol_keys_match_dcm2niix(tmp_path, block):
    """BaseResolution, TxRefAmp, ShimSetting, MatrixCoilMode ... of XA classic files equal
    dcm2niix's, key for key, also where a PACS moved the SDS block (lazyvol wrote none)."""
    mine, ref = sidecar_pair(_classic(tmp_path, block=block), tmp_path, XA_KEYS)
    assert ref.keys() >= {"BaseResolution", "TxRefAmp", "ShimSetting", "MatrixCoilMode"}
    assert mine == ref


@pytest.mark.parametrize("undefined", [True, False], ids=["undefined-length", "defined-length"])
def test_xa_enhanced_protocol_keys_match_dcm2niix(tmp_path, undefined):
    """The protocol in the shared functional group of an enhanced file, its sequences of
    undefined or defined length (the element's position counted as pydicom reads each): the
    keys equal dcm2niix's, AcquisitionMatrixPE from the protocol's phase-encoding lines."""
    mine, ref = sidecar_pair(_enhanced(tmp_path, undefined), tmp_path, XA_KEYS)
    assert ref.keys() >= {"BaseResolution", "TxRefAmp", "AcquisitionMatrixPE"}
    assert mine == ref


def test_enhanced_scan_locates_the_protocol_at_its_bytes(tmp_path):
    """The located offset and length hold the element's value as pydicom reads it."""
    for undefined in (True, False):
        src = _enhanced(tmp_path / str(undefined), undefined)
        path = next(src.glob("*.dcm"))
        got = read_header(str(path))
        at, length = (got[0] if isinstance(got, list) else got).acq["_csa_series"]
        ds = pydicom.dcmread(path)
        value = ds.SharedFunctionalGroupsSequence[0][0x0021, 0x10FE][0][0x0021, 0x1019].value
        with open(path, "rb") as fp:
            fp.seek(at)
            assert fp.read(length) == value


@pytest.mark.parametrize("kind", ["classic", "enhanced", "csa"])
def test_mt_state_from_the_protocol_matches_dcm2niix(tmp_path, kind):
    """sPrepPulses.ucMTC = 0x1 gives MTState true (CSA and XA files alike), as dcm2niix."""
    line = _line("sKSpace.lBaseResolution", "64")
    subs = [(line, line + _line("sPrepPulses.ucMTC", "0x1"))]
    if kind == "enhanced":
        src = _enhanced(tmp_path, True, [(a.decode(), b.decode()) for a, b in subs])
    elif kind == "classic":
        src = _classic(tmp_path, [(a.decode(), b.decode()) for a, b in subs])
    else:
        from test_dicom_siemens_sidecar import _edited

        src = _edited(tmp_path, subs)
    mine, ref = sidecar_pair(src, tmp_path, XA_KEYS)
    assert ref["MTState"] is True
    assert mine == ref


@pytest.mark.parametrize("damage", ["no-ascconv", "empty"])
def test_damaged_xa_protocol_gives_no_protocol_keys(tmp_path, damage):
    """A protocol element without ASCCONV text, or empty: none of the protocol keys, no error
    (DwellTime from (0019,1018) stays)."""
    src = _classic(tmp_path, [("### ASCCONV BEGIN", "### ASCCONV BEGXN")])
    if damage == "empty":
        for path in src.glob("*.dcm"):
            ds = pydicom.dcmread(path)
            ds[0x0021, 0x1019].value = b""
            ds.save_as(path)
    bids = lv.open(src).meta["bids"]
    protocol_keys = set(XA_KEYS) - {
        "DwellTime",
        "NonlinearGradientCorrection",
        "ReconMatrixPE",
        "ImageOrientationPatientDICOM",
    }
    # (AcquisitionMatrixPE: the file's own (0018,1310); the in-plane factor: PATModeText's; an
    # empty element is no protocol: the echo spacing from the bandwidth and PartialFourier
    # estimated from the echo train, as dcm2niix)
    kept = {"AcquisitionMatrixPE", "ParallelReductionFactorInPlane"}
    if damage == "empty":
        kept |= {"DerivedVendorReportedEchoSpacing", "PartialFourier"}
    assert not protocol_keys - kept & set(bids)
    assert bids["DwellTime"] == pytest.approx(4.4e-06)


def test_xa_protocol_values_agree_with_the_text(tmp_path):
    """Independent of dcm2niix: BaseResolution and ReceiveCoilActiveElements of an XA classic
    series as the protocol text (nibabel's CSA parser) states them."""
    text = _protocol(sorted(_real(MOSAICS / "ep2d_Asc_2").glob("*.dcm"))[0])
    lines = dict(
        (a.strip(), b.strip()) for a, _, b in (ln.partition("=") for ln in text.splitlines())
    )
    bids = lv.open(_classic(tmp_path)).meta["bids"]
    assert bids["BaseResolution"] == int(lines["sKSpace.lBaseResolution"])
    assert bids["ReceiveCoilActiveElements"] == lines[
        "sCoilSelectMeas.sCoilStringForConversion"
    ].strip('"')
