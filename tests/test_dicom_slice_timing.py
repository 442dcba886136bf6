"""SliceTiming of Siemens mosaics against dcm2niix and the written truth (lazyvol.dicom.slice_timing).

The series are synthetic mosaics whose MosaicRefAcqTimes are known; dcm2niix's sidecar, mapped
onto lazyvol's slice axis through the two affines, is the reference.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
import lazyvol.testing.mosaic as mosaic_writer
from lazyvol.testing import write_mosaic_series
from lazyvol.testing.mosaic import csa2_bytes
from test_dicom_mosaic import run_dcm2niix
from test_dicom_realdata import REAL

pytestmark = pytest.mark.usefixtures("dicom_cache")

NK, TR_MS = 8, 2000.0
#: The true acquisition times (ms) of the 8 tiles: interleaved, TR / 8 apart.
GOOD = [0.0, 1000.0, 250.0, 1250.0, 500.0, 1500.0, 750.0, 1750.0]


def _series(folder, monkeypatch, first_times, volumes=3):
    """A mosaic series whose first volume states ``first_times``, the others :data:`GOOD`."""
    written = []
    for path, times in ((folder, GOOD), (folder.with_name("first"), first_times)):
        monkeypatch.setattr(mosaic_writer, "_slice_times", lambda nk, tr, t=times: list(t))
        truth = write_mosaic_series(path, (16, 12, NK), volumes=volumes, repetition_ms=TR_MS)
        written.append(sorted(truth.files))
    # the same first file (same UIDs and geometry: the writer is deterministic) with other times
    shutil.copy(written[1][0], written[0][0])
    shutil.rmtree(folder.with_name("first"))
    return folder


def _on_axis(times, vol, ref):
    """``times`` of lazyvol's slices k in the order of the reference's slice axis."""
    t = np.linalg.inv(ref.affine) @ vol.affine
    assert abs(round(t[2, 2])) == 1
    return list(times)[::-1] if t[2, 2] < 0 else list(times)


@pytest.mark.parametrize(
    "first",
    [[2 * t for t in GOOD], [TR_MS + t for t in GOOD]],
    ids=["single-band-times-past-the-tr", "offset-by-one-tr"],
)
def test_corrupted_first_volume_times_give_the_second_volumes(tmp_path, monkeypatch, first):
    """CMRR / XA sequences can write the first volume's MosaicRefAcqTimes spanning past the TR or
    a whole TR late (dcm2niix issues 271, 704, 870, 879); dcm2niix then takes the second volume's
    ("CSA slice timing based on 2nd volume, 1st volume corrupted"). lazyvol kept the first's
    unless the second's spanned longer: [0, 2, 0.5, 2.5, ...] with a TR of 2 s."""
    src = _series(tmp_path / "in", monkeypatch, first)
    ref_path = run_dcm2niix(src, tmp_path / "ref")
    side = json.loads(ref_path.with_suffix(".json").read_text())
    vol = lv.open(src)
    mine = vol.meta["bids"]["SliceTiming"]
    np.testing.assert_allclose(mine, [t / 1000 for t in GOOD])
    np.testing.assert_allclose(_on_axis(mine, vol, nib.load(ref_path)), side["SliceTiming"])


def test_times_outside_the_tr_in_every_volume_are_left_out_with_a_warning(tmp_path, monkeypatch):
    """A single volume whose times span past the TR: dcm2niix writes them (a SliceTiming BIDS
    validators reject, wrong for slice-timing correction); lazyvol leaves them out and says
    which attribute held them."""
    bad = [2 * t for t in GOOD]
    monkeypatch.setattr(mosaic_writer, "_slice_times", lambda nk, tr: list(bad))
    truth = write_mosaic_series(tmp_path / "in", (16, 12, NK), volumes=1, repetition_ms=TR_MS)
    vol = lv.open(tmp_path / "in")
    assert max(bad) >= TR_MS  # (the written truth)
    assert "SliceTiming" not in vol.meta["bids"]
    (warning,) = [w for w in vol.meta["warnings"] if w.startswith("SliceTiming left out")]
    assert "MosaicRefAcqTimes" in warning and "RepetitionTime (0018,0080)" in warning
    assert truth.files[0].split("/")[-1] in warning


@pytest.mark.parametrize("acquisition", ["3D", "2D", None])
def test_no_slice_timing_for_a_3d_acquisition_as_dcm2niix(tmp_path, acquisition):
    """BIDS defines SliceTiming for 2D acquisitions; dcm2niix writes none when
    MRAcquisitionType (0018,0023) is 3D (and some when the attribute is absent). lazyvol wrote
    one, and to_nifti a slice_code and slice_duration, for a 3D mosaic."""
    truth = write_mosaic_series(tmp_path / "in", (16, 12, NK), volumes=2, repetition_ms=TR_MS)
    for path in truth.files:
        ds = pydicom.dcmread(path)
        if acquisition is None:
            ds.pop("MRAcquisitionType", None)
        else:
            ds.MRAcquisitionType = acquisition
        ds.save_as(path)
    side = json.loads(
        run_dcm2niix(tmp_path / "in", tmp_path / "ref").with_suffix(".json").read_text()
    )
    vol = lv.open(tmp_path / "in")
    assert ("SliceTiming" in vol.meta["bids"]) == ("SliceTiming" in side)
    assert ("SliceTiming" in side) == (acquisition != "3D")
    vol.to_nifti(tmp_path / "lz.nii")
    hdr = nib.load(tmp_path / "lz.nii").header
    if acquisition == "3D":
        assert int(hdr["slice_code"]) == 0 and float(hdr["slice_duration"]) == 0.0
        assert "SliceTiming" not in json.loads((tmp_path / "lz.json").read_text())


# -- mosaics without MosaicRefAcqTimes: the times from the protocol (lazyvol.dicom.siemens_protocol)


def _protocol(uc_mode: str, delay_us: int = 0, blank: int = 0) -> bytes:
    """A CSA series header holding an ASCCONV protocol with this slice order and delay (after
    ``blank`` blank lines and a line of no interest)."""
    text = (
        "### ASCCONV BEGIN ###\n"
        + "\n" * blank
        + ('tFree\t = \t""\n' if blank else "")
        + f"sSliceArray.ucMode\t = \t{uc_mode}\n"
        f"lDelayTimeInTR\t = \t{delay_us}\n"
        "### ASCCONV END ###\n"
    )
    return csa2_bytes({"MrPhoenixProtocol": ("UN", [text])})


def _without_times(folder, series: bytes | None = None, pat_mode: str | None = None) -> None:
    """Remove every file's MosaicRefAcqTimes (as VB12 / VB13 write none); add a protocol."""
    for path in sorted(folder.glob("*")):
        ds = pydicom.dcmread(path)
        csa = ds[0x0029, 0x1010].value
        ds[0x0029, 0x1010].value = csa.replace(b"MosaicRefAcqTimes", b"MosaicRefAcqTimeX")
        ds.pop((0x0019, 0x1029), None)
        if series is not None:
            ds.add_new((0x0029, 0x1020), "OB", series)
        if pat_mode is not None:
            ds.private_block(0x0051, "SIEMENS MR HEADER", create=True).add_new(0x11, "LO", pat_mode)
        ds.save_as(path)


@pytest.mark.parametrize(
    ("uc_mode", "nk", "slots"),
    [
        ("1", 7, [0, 1, 2, 3, 4, 5, 6]),  # ascending
        ("0x2", 6, [5, 4, 3, 2, 1, 0]),  # descending
        ("4", 7, [0, 4, 1, 5, 2, 6, 3]),  # interleaved, odd count: tiles 0, 2, 4 ... first
        ("0x4", 6, [3, 0, 4, 1, 5, 2]),  # interleaved, even count: tiles 1, 3, 5 ... first
        ("01", 5, [0, 1, 2, 3, 4]),  # (a leading zero: a ValueError stopped the whole scan)
    ],
)
def test_mosaic_without_slice_times_takes_them_from_the_protocol(tmp_path, uc_mode, nk, slots):
    """Old Siemens software (VB12 / VB13) writes no MosaicRefAcqTimes: dcm2niix derives the
    times from sSliceArray.ucMode of the CSA series header's protocol, TR and lDelayTimeInTR
    (dcm_qa_stc's B12 / B13 references have them); lazyvol gave none. The expected times are
    Siemens' orders written out: tile t acquired in slot ``slots[t]``, TA / n apart."""
    write_mosaic_series(tmp_path / "in", (16, 12, nk), volumes=2, repetition_ms=TR_MS)
    _without_times(tmp_path / "in", _protocol(uc_mode, delay_us=250_000))
    ref_path = run_dcm2niix(tmp_path / "in", tmp_path / "ref")
    side = json.loads(ref_path.with_suffix(".json").read_text())
    vol = lv.open(tmp_path / "in")
    mine = vol.meta["bids"]["SliceTiming"]
    step = (TR_MS - 250.0) / nk / 1000.0
    # (the writer's tile t is slice k = t: F>>H numbering, tiles along the normal)
    np.testing.assert_allclose(mine, [slots[t] * step for t in range(nk)], atol=1e-5)
    np.testing.assert_allclose(_on_axis(mine, vol, nib.load(ref_path)), side["SliceTiming"])


def test_protocol_times_after_a_long_run_of_blank_lines(tmp_path):
    """The protocol searched line by line: a pattern starting ``^\\s*`` ran over a run of blank
    lines and back from each line start (quadratic: a 1 MB run of blank lines held the header scan
    for minutes). Opened in a child process with a deadline far above a linear search's time."""
    write_mosaic_series(tmp_path / "in", (16, 12, 5), volumes=2, repetition_ms=TR_MS)
    _without_times(tmp_path / "in", _protocol("1", blank=1_000_000))
    code = (
        "import json, sys, lazyvol as lv; "
        "print(json.dumps(lv.open(sys.argv[1], cache=False).meta['bids']['SliceTiming']))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "in")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    step = TR_MS / 5 / 1000.0
    np.testing.assert_allclose(json.loads(run.stdout), [k * step for k in range(5)], atol=1e-5)


def test_no_protocol_times_for_a_multiband_mosaic(tmp_path):
    """The protocol says nothing of a multiband run's pattern (dcm2niix issue 322): a mosaic whose
    PATModeText (0051,1011) names a slice acceleration gets none, as dcm2niix gives none."""
    write_mosaic_series(tmp_path / "in", (16, 12, 6), volumes=2, repetition_ms=TR_MS)
    _without_times(tmp_path / "in", _protocol("1"), pat_mode="p2 s3")
    side = json.loads(
        run_dcm2niix(tmp_path / "in", tmp_path / "ref").with_suffix(".json").read_text()
    )
    assert "SliceTiming" not in side
    assert "SliceTiming" not in lv.open(tmp_path / "in").meta["bids"]


@pytest.mark.parametrize("name", ["ep2d_Asc_2", "ep2d_Int_4", "ep2d_Int_HF_5", "cmrr_Asc_6"])
def test_real_mosaics_without_slice_times_match_dcm2niix(tmp_path, name):
    """The real Prisma mosaics of dcm_qa_mosaic with their MosaicRefAcqTimes removed: the times
    from their protocols (ascending, interleaved, H>>F numbering) equal dcm2niix's."""
    src = REAL / "dcm_qa_mosaic" / "In" / name
    if not src.is_dir():
        pytest.skip(f"{src} not available (set LAZYVOL_REAL_DICOM to the dicom-real folder)")
    shutil.copytree(src, tmp_path / "in")
    _without_times(tmp_path / "in")
    ref_path = run_dcm2niix(tmp_path / "in", tmp_path / "ref")
    side = json.loads(ref_path.with_suffix(".json").read_text())
    vol = lv.open(tmp_path / "in")
    mine = vol.meta["bids"]["SliceTiming"]
    np.testing.assert_allclose(
        _on_axis(mine, vol, nib.load(ref_path)), side["SliceTiming"], atol=1e-4
    )
