"""Siemens sidecar keys from the CSA headers and the protocol text (lazyvol.dicom.siemens_sidecar),
compared with dcm2niix's sidecars on the real Prisma mosaics and on edited copies of one."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pydicom
import pytest

import lazyvol as lv
from lazyvol.dicom.header import read_header
from lazyvol.testing.mosaic import csa2_bytes, write_mosaic_series
from test_dicom_mosaic import sidecar_pair
from test_dicom_realdata import REAL

#: The keys dcm2niix takes from the CSA headers and the protocol (and ImageType's ND / DIS2D).
KEYS = (
    "ParallelReductionFactorInPlane",
    "ParallelReductionFactorOutOfPlane",
    "MultibandAccelerationFactor",
    "PartialFourier",
    "BaseResolution",
    "PhaseResolution",
    "PhaseOversampling",
    "TxRefAmp",
    "ShimSetting",
    "CoilCombinationMethod",
    "MatrixCoilMode",
    "DwellTime",
    "ReceiveCoilName",
    "ReceiveCoilActiveElements",
    "PulseSequenceDetails",
    "RefLinesPE",
    "WipMemBlock",
    "ConsistencyInfo",
    "NonlinearGradientCorrection",
    "DelayTime",
    "VendorReportedEchoSpacing",
    "DerivedVendorReportedEchoSpacing",
    "ImageOrientationPatientDICOM",  # (as dcm2niix prints it: %g; was every digit of the file)
    "DiffusionScheme",  # (a diffusion series' only)
)
MOSAICS = REAL / "dcm_qa_mosaic" / "In"
NIH = REAL / "dcm_qa_nih" / "In" / "20180918Si"


def _real(src: Path) -> Path:
    if not src.is_dir():
        pytest.skip(f"{src} not available (set LAZYVOL_REAL_DICOM to the dicom-real folder)")
    return src


@pytest.mark.parametrize(
    "src",
    [
        *(MOSAICS / n for n in ("ep2d_Asc_2", "ep2d_Int_4", "ep2d_Int_HF_5", "cmrr_Asc_6")),
        *(NIH / n for n in ("mr_0003", "mr_0006")),
    ],
    ids=lambda p: p.name,
)
def test_real_mosaics_siemens_keys_match_dcm2niix(tmp_path, src):
    """ParallelReductionFactorInPlane, BaseResolution, TxRefAmp, ShimSetting, DwellTime,
    DerivedVendorReportedEchoSpacing ... of the real Prisma mosaics (product and CMRR EPI, VD13
    and VE11) equal dcm2niix's, key for key and value for value (lazyvol wrote none of them)."""
    mine, ref = sidecar_pair(_real(src), tmp_path, KEYS)
    assert ref.keys() >= {"ParallelReductionFactorInPlane", "BaseResolution", "DwellTime"}
    assert mine == ref


def _edited(tmp_path: Path, subs=(), pat: str | None = None, times=None) -> Path:
    """The first two files of the real cmrr_Asc_6 with protocol lines replaced (``subs``),
    a PATModeText (0051,1011) and / or the MosaicRefAcqTimes ``times`` (a new CSA image header)."""
    src = _real(MOSAICS / "cmrr_Asc_6")
    out = tmp_path / "in"
    out.mkdir()
    for path in sorted(src.glob("*.dcm"))[:2]:
        ds = pydicom.dcmread(path)
        series = ds[0x0029, 0x1020].value
        for old, new in subs:
            assert old in series
            series = series.replace(old, new)
        ds[0x0029, 0x1020].value = series
        if pat is not None:
            ds.private_block(0x0051, "SIEMENS MR HEADER", create=True).add_new(0x11, "LO", pat)
        if times is not None:
            ds[0x0029, 0x1010].value = _with_times(ds[0x0029, 0x1010].value, times)
            ds.pop((0x0019, 0x1029), None)
        ds.save_as(out / path.name)
    return out


def _with_times(image_header: bytes, times: list[float]) -> bytes:
    """A CSA image header with its elements rewritten, MosaicRefAcqTimes replaced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nibabel.nicom import csareader
    tags = csareader.read(image_header)["tags"]
    elements = {n: (t["vr"], list(t["items"])) for n, t in tags.items() if t["items"]}
    elements["MosaicRefAcqTimes"] = ("FD", [f"{t:.8f}" for t in times])
    return csa2_bytes(elements)


def _line(name: str, value: str) -> bytes:
    return f"{name}\t = \t{value}\n".encode()


@pytest.mark.parametrize(
    "subs",
    [
        # GRAPPA 2 in-plane, 3 through-plane, partial Fourier 6/8, adaptive combine
        [
            (_line("sPat.lAccelFactPE", "1"), _line("sPat.lAccelFactPE", "2")),
            (_line("sPat.lAccelFact3D", "1"), _line("sPat.lAccelFact3D", "3")),
            (_line("sPat.ucPATMode", "1"), _line("sPat.ucPATMode", "0x2")),
            (
                _line("sKSpace.ucPhasePartialFourier", "16"),
                _line("sKSpace.ucPhasePartialFourier", "0x4"),
            ),
            (_line("ucCoilCombineMode", "1"), _line("ucCoilCombineMode", "2")),
        ],
        [
            (
                _line("sKSpace.ucPhasePartialFourier", "16"),
                _line("sKSpace.ucPhasePartialFourier", "1"),
            )
        ],
        [
            (
                _line("sKSpace.ucPhasePartialFourier", "16"),
                _line("sKSpace.ucPhasePartialFourier", "8"),
            )
        ],
        [
            (
                _line("sKSpace.ucPhasePartialFourier", "16"),
                _line("sKSpace.ucPhasePartialFourier", "32"),
            )
        ],
        # no acceleration lines (MatrixCoilMode "None", no reduction factors)
        [
            (b"sPat.lAccelFactPE", b"sPat.lAccelFactPX"),
            (b"sPat.lAccelFact3D", b"sPat.lAccelFactXX"),
        ],
        [(_line("sKSpace.dPhaseResolution", "1.0"), _line("sKSpace.dPhaseResolution", "0.75"))],
        # an acceleration whose ucPATMode is 0, another code or none: MatrixCoilMode "None" (h196)
        [
            (_line("sPat.lAccelFactPE", "1"), _line("sPat.lAccelFactPE", "2")),
            (_line("sPat.ucPATMode", "1"), _line("sPat.ucPATMode", "0")),
        ],
        [(_line("sPat.ucPATMode", "1"), _line("sPat.ucPATMode", "0x4"))],
        [(b"sPat.ucPATMode", b"sPat.ucPATModX")],
        # a code that is no whole number (was truncated into one: PartialFourier 0.75)
        [
            (
                _line("sKSpace.ucPhasePartialFourier", "16"),
                _line("sKSpace.ucPhasePartialFourier", "4.9"),
            )
        ],
    ],
    ids=[
        *("grappa2-3d3-pf68", "pf48", "pf78", "pf-other", "no-accel", "phase-res"),
        *("pat-mode-0", "pat-mode-other", "pat-mode-none", "pf-fraction"),
    ],
)
def test_edited_protocols_match_dcm2niix(tmp_path, subs):
    """Edited protocols (acceleration, partial Fourier, coil combination, phase resolution):
    every key and value as dcm2niix's, DerivedVendorReportedEchoSpacing following the factor."""
    mine, ref = sidecar_pair(_edited(tmp_path, subs), tmp_path, KEYS)
    assert mine == ref


@pytest.mark.parametrize("pat", ["p2 s3", "p2", "s2"])
def test_pat_mode_text_factors_match_dcm2niix(tmp_path, pat):
    """PATModeText (0051,1011) ``s3`` gives MultibandAccelerationFactor (product SMS); ``p2``
    the in-plane factor only where the protocol states none (it does here: 1), as dcm2niix."""
    mine, ref = sidecar_pair(_edited(tmp_path, pat=pat), tmp_path, KEYS)
    assert mine == ref


def test_multiband_from_mosaic_slice_times_matches_dcm2niix(tmp_path):
    """A CMRR multiband mosaic states no PATModeText: the factor is the number of slices
    acquired with the first (MosaicRefAcqTimes), as dcm2niix counts them."""
    times = [67.5 * (k % 10) for k in range(40)]  # 4 slices at once
    mine, ref = sidecar_pair(_edited(tmp_path, times=times), tmp_path, KEYS)
    assert ref["MultibandAccelerationFactor"] == 4
    assert mine == ref


@pytest.mark.parametrize(
    "damage",
    [
        (b"### ASCCONV BEGIN", b"### ASCCONV BEGXN"),  # no protocol text found
        (b"MrPhoenixProtocol", b"MrPhoenixProtocoX"),  # the CSA element renamed, text kept
    ],
    ids=["no-ascconv", "element-renamed-text-intact"],
)
def test_damaged_protocol_gives_no_protocol_keys(tmp_path, damage):
    """A damaged protocol text: none of its keys, no crash, the other keys kept. (dcm2niix writes
    MatrixCoilMode "None" and an echo spacing without the phase oversampling then: lazyvol
    writes neither rather than values the protocol may contradict.)"""
    src = _edited(tmp_path, [damage])
    bids = lv.open(src).meta["bids"]
    protocol_keys = set(KEYS) - {
        "DwellTime",
        "NonlinearGradientCorrection",
        "ImageOrientationPatientDICOM",
    }
    if damage[0] == b"MrPhoenixProtocol":
        # (the text itself is intact: found in the raw bytes, as dcm2niix searches them)
        mine, ref = sidecar_pair(src, tmp_path, KEYS)
        assert mine == ref
        return
    assert not protocol_keys & set(bids)
    assert bids["DwellTime"] == 3.4e-06 and bids["NonlinearGradientCorrection"] is False
    # the coil name, as dcm2niix writes it when the protocol states no active elements
    mine, ref = sidecar_pair(src, tmp_path, ("CoilString",))
    assert ref.get("CoilString") and mine == ref


def test_a_protocol_too_large_to_read_is_said_and_not_estimated(tmp_path):
    """A protocol element past the 16 MiB read limit was taken for no protocol at all: no warning,
    and the no-protocol estimates written in its place (a PartialFourier from the echo train,
    CoilString) where the protocol (as dcm2niix reads it) states no partial Fourier."""
    end = b"### ASCCONV END ###"
    src = _edited(tmp_path, [(end, end + b"\n" + b" " * (17 << 20))])
    vol = lv.open(src)
    bids = vol.meta["bids"]
    assert not {"PartialFourier", "CoilString", "BaseResolution", "TxRefAmp"} & set(bids)
    assert any("more than the 16,777,215 read" in w for w in vol.meta["warnings"])
    truth = [pydicom.dcmread(p).pixel_array for p in sorted(src.glob("*.dcm"))]
    assert vol.shape[-1] == len(truth)  # (the pixels are kept)


def test_protocol_numbers_past_float32_give_no_echo_spacing():
    """A phase oversampling of 1e39 overflowed the 32-bit echo-spacing arithmetic: a
    DerivedVendorReportedEchoSpacing of 0 and numpy's overflow RuntimeWarning."""
    from lazyvol.dicom.siemens_protocol import Protocol
    from lazyvol.dicom.siemens_sidecar import protocol_keys

    bids = {"BandwidthPerPixelPhaseEncode": 20.0, "ReconMatrixPE": 64}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        huge = protocol_keys(Protocol("sKSpace.dPhaseOversamplingForDialog = 1e39\n"), bids)
        fine = protocol_keys(Protocol("sKSpace.dPhaseOversamplingForDialog = 0.25\n"), bids)
    assert "DerivedVendorReportedEchoSpacing" not in huge
    assert fine["DerivedVendorReportedEchoSpacing"] == pytest.approx(1 / (20.0 * 1.25 * 64), 1e-6)


def test_values_agree_with_nibabel_and_pydicom(tmp_path):
    """Independent of dcm2niix: BaseResolution, TxRefAmp and ReceiveCoilActiveElements as the
    protocol nibabel's CSA parser reads says them, DwellTime as pydicom reads (0019,1018)."""
    src = _real(MOSAICS / "ep2d_Asc_2")
    first = sorted(src.glob("*.dcm"))[0]
    ds = pydicom.dcmread(first)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nibabel.nicom import csareader
    text = csareader.read(ds[0x0029, 0x1020].value)["tags"]["MrPhoenixProtocol"]["items"][0]
    lines = dict(
        (a.strip(), b.strip()) for a, _, b in (ln.partition("=") for ln in text.splitlines())
    )
    bids = lv.open(src).meta["bids"]
    assert bids["BaseResolution"] == int(lines["sKSpace.lBaseResolution"])
    assert bids["ParallelReductionFactorInPlane"] == int(lines["sPat.lAccelFactPE"])
    assert (
        abs(bids["TxRefAmp"] - float(lines["sTXSPEC.asNucleusInfo[0].flReferenceAmplitude"])) < 1e-3
    )
    assert bids["ReceiveCoilActiveElements"] == lines[
        "sCoilSelectMeas.sCoilStringForConversion"
    ].strip('"')
    assert bids["DwellTime"] == pytest.approx(int(ds[0x0019, 0x1018].value) * 1e-9)


def test_scan_records_where_the_series_header_lies_without_reading_it():
    """The header scan keeps the CSA series header's offset and length (the walker skips its
    ~100 kB): the bytes there are the element's value as pydicom reads it."""
    path = sorted(_real(MOSAICS / "ep2d_Asc_2").glob("*.dcm"))[0]
    got = read_header(str(path))
    rec = got[0] if isinstance(got, list) else got
    at, length = rec.acq["_csa_series"]
    with open(path, "rb") as fp:
        fp.seek(at)
        assert fp.read(length) == pydicom.dcmread(path)[0x0029, 0x1020].value


def test_reopen_reads_the_saved_values(tmp_path):
    """The values are part of the saved scan report: a reopen of the unchanged folder gives the
    same keys (it reads no header again)."""
    src = tmp_path / "in"
    shutil.copytree(_real(MOSAICS / "ep2d_Asc_2"), src)
    first = lv.open(src).meta["bids"]
    again = lv.open(src).meta["bids"]
    assert first == again and again["BaseResolution"] == 64


def _weighted(image_header: bytes, n: int) -> bytes:
    """A CSA image header stating a diffusion weighting: b = 0 for file 0, else b = 1000."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nibabel.nicom import csareader
    tags = csareader.read(image_header)["tags"]
    elements = {k: (t["vr"], list(t["items"])) for k, t in tags.items() if t["items"]}
    elements["B_value"] = ("IS", [0 if n == 0 else 1000])
    if n:
        elements["DiffusionGradientDirection"] = ("FD", [0.6, 0.0, 0.8])
    return csa2_bytes(elements)


@pytest.mark.parametrize("scheme", ["1", "2", "3", None])
def test_a_diffusion_series_diffusion_scheme_matches_dcm2niix(tmp_path, scheme):
    """dcm2niix writes a diffusion series' DiffusionScheme from sDiffusion.dsScheme (1 Bipolar,
    2 Monopolar, and Monopolar when the protocol states none; none for other values, nor for a
    series without diffusion); lazyvol wrote none."""
    line = _line("sDiffusion.dsScheme", "1")
    subs = [(line, b"" if scheme is None else _line("sDiffusion.dsScheme", scheme))]
    src = _edited(tmp_path, subs)
    for n, path in enumerate(sorted(src.glob("*.dcm"))):
        ds = pydicom.dcmread(path)
        ds[0x0029, 0x1010].value = _weighted(ds[0x0029, 0x1010].value, n)
        ds.save_as(path)
    mine, ref = sidecar_pair(src, tmp_path, KEYS)
    assert mine == ref
    assert ref.get("DiffusionScheme") == {"1": "Bipolar", "3": None}.get(str(scheme), "Monopolar")


_UNSTATED_KEYS = (
    "ParallelReductionFactorInPlane",
    "MultibandAccelerationFactor",
    "TablePosition",
    "DerivedVendorReportedEchoSpacing",
    "EffectiveEchoSpacing",
    "DwellTime",
)


@pytest.mark.parametrize("pat", ["p2", "s3", "p2s3", None])
def test_a_series_stating_no_manufacturer_has_the_keys_dcm2niix_reads_anyway(tmp_path, pat):
    """An anonymiser dropped Manufacturer (0008,0070): dcm2niix still reads PATModeText
    (0051,1011) (ParallelReductionFactorInPlane, MultibandAccelerationFactor) and writes
    DerivedVendorReportedEchoSpacing wherever the bandwidth per pixel in the phase direction is
    known (not DwellTime: Siemens only); lazyvol wrote none of them (h181)."""
    from lazyvol.testing import write_dicom_series

    src = tmp_path / "s"
    truth = write_dicom_series(src, (16, 16, 4), modality="MR")
    for path in truth.files:
        ds = pydicom.dcmread(path)
        ds.pop("Manufacturer", None)
        ds.InPlanePhaseEncodingDirection = "COL"
        block = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
        block.add_new(0x28, "FD", 25.0)
        block.add_new(0x18, "IS", "2600")
        if pat is not None:
            ds.private_block(0x0051, "SIEMENS MR HEADER", create=True).add_new(0x11, "LO", pat)
        ds.save_as(path)
    mine, ref = sidecar_pair(src, tmp_path, _UNSTATED_KEYS)
    assert "DerivedVendorReportedEchoSpacing" in ref
    assert mine == ref


@pytest.mark.parametrize("name", ["ep2d_Asc_2", "cmrr_Asc_6"])
def test_real_mosaics_without_manufacturer_keep_the_keys_dcm2niix_reads(tmp_path, name):
    """The real mosaics with Manufacturer dropped: dcm2niix writes ParallelReductionFactorInPlane
    (from (0051,1011)), TablePosition (from the CSA image header) and
    DerivedVendorReportedEchoSpacing; lazyvol wrote none (h181)."""
    src, out = _real(MOSAICS / name), tmp_path / "in"
    out.mkdir()
    for path in sorted(src.glob("*.dcm"))[:2]:
        ds = pydicom.dcmread(path)
        del ds.Manufacturer
        ds.save_as(out / path.name)
    mine, ref = sidecar_pair(out, tmp_path, _UNSTATED_KEYS)
    assert {"TablePosition", "DerivedVendorReportedEchoSpacing"} <= ref.keys()
    assert mine == ref


@pytest.mark.parametrize(("in_plane", "expected"), [(2.0, 2), (1.0, None), (None, None)])
def test_siemens_in_plane_factor_without_a_protocol_as_dcm2niix(tmp_path, in_plane, expected):
    """A Siemens file whose protocol states no acceleration (no CSA series header here, as an
    anonymiser leaves it): dcm2niix takes ParallelReductionFactorInPlane (0018,9069), and with it
    DerivedVendorReportedEchoSpacing; lazyvol read (0018,9069) for other vendors only, so the
    sidecar had no factor and an echo spacing of an unaccelerated readout (half dcm2niix's for a
    factor of 2). Now as dcm2niix: a factor above 1 (dcm2niix writes none of 1 from it);
    (0018,9155) stays unread for Siemens."""
    truth = write_mosaic_series(tmp_path / "in", (16, 12, 7), volumes=2, bandwidth_pe=25.0)
    for path in truth.files:
        ds = pydicom.dcmread(path)
        if in_plane is not None:
            ds.ParallelReductionFactorInPlane = in_plane
            ds.ParallelReductionFactorOutOfPlane = 3.0
        ds.save_as(path)
    keys = (*KEYS, "ParallelReductionFactorInPlane", "EffectiveEchoSpacing", "TotalReadoutTime")
    mine, ref = sidecar_pair(tmp_path / "in", tmp_path, keys)
    assert mine.get("ParallelReductionFactorInPlane") == expected
    assert "ParallelReductionFactorOutOfPlane" not in mine
    # 1 / (bandwidth x ReconMatrixPE / acceleration): 12 phase-encoding rows
    assert mine["DerivedVendorReportedEchoSpacing"] == pytest.approx(
        (expected or 1) / (25.0 * 12), rel=1e-5
    )
    assert mine == ref
