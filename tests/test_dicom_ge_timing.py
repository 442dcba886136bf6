"""GE SliceTiming from the protocol data block (0025,101B), as dcm2niix derives it.

The expected times are written out from GE's documented orders, independently of lazyvol's code:
sequential acquires the slices in InstanceNumber order, TR / n apart; interleaved acquires every
other slice (1, 3, 5 ...) then the rest (2, 4, 6 ...); a multiband (HyperBand) factor m excites
slices r, r + n/m ... together. The real GE series of ../shared/dicom-real are compared with
dcm2niix's sidecars in test_dicom_realdata.py.
"""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

TR_MS = 2000.0


def _protocol_block(entries: dict[str, str], blank: int = 0) -> bytes:
    """A GE protocol data block: the gzip stream's length, then the stream (named, as GE's);
    ``blank`` blank lines and a line of no interest before the entries."""
    import io

    lines = {"POSITION": "Supine", **entries}  # (dcm2niix finds no key on the block's first line)
    text = "".join(f'{k} "{v}"\n' for k, v in lines.items()).encode("latin-1")
    if blank:
        text = b'POSITION "Supine"\n' + b"\n" * blank + b"NOTE\n" + text
    buf = io.BytesIO()
    with gzip.GzipFile(filename="Ex1Ser1Rx", mode="wb", fileobj=buf, mtime=0) as f:
        f.write(text)
    packed = buf.getvalue()
    return struct.pack("<I", len(packed)) + packed


def _write_ge(
    folder,
    nk,
    *,
    order,
    mb=0,
    delay="0",
    sequence=("EP", "GR"),
    rtia=None,
    descending=False,
    software="MR Software release:DV27.0_R03_1831.b",
    group_delay=0.0,
    blank=0,
):
    """A 2-volume GE EPI series (one file per slice) with a protocol data block."""
    truth = write_dicom_4d_series(
        folder, (8, 8, nk), 2, labels=(), vendor="GE", shuffle_names=False
    )
    block = _protocol_block(
        {"SLICEORDER": str(order), "NOSLC": str(nk), "DELACQ": delay}, blank=blank
    )
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.RepetitionTime = TR_MS
        ds.MRAcquisitionType = "2D"
        ds.ScanningSequence = list(sequence)
        ds.SoftwareVersions = ["27", "LX", software]
        ds.private_block(0x0025, "GEMS_SERS_01", create=True).add_new(0x1B, "OB", block)
        parm = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
        parm.add_new(0xB6, "LO", [str(mb), "0", "0", "", "", "", ""])  # HyperBand factor first
        parm.add_new(0x7C, "FL", group_delay)  # delay after slice group (s)
        if rtia is not None:  # a per-slice timer value, s (as GE's epiRT writes one)
            value = f"{rtia(int(ds.InstanceNumber) - 1):.6f}"
            ds.private_block(0x0021, "GEMS_RELA_01", create=True).add_new(0x5E, "DS", value)
        if descending:  # GE numbers the slice it acquires first 1: the top one here
            t, r = divmod(int(ds.InstanceNumber) - 1, nk)
            ds.InstanceNumber = t * nk + (nk - 1 - r) + 1
        ds.save_as(f)
    return folder


def _ge_series(tmp_path, nk, **kw):
    return lv.open(_write_ge(tmp_path / "s", nk, **kw))


def _expected(vol, nk, times_by_rank):
    """Each slice k's time from its InstanceNumber's rank in the first volume (pydicom)."""
    numbers = [int(vol.dicom_header(k, 0).InstanceNumber) for k in range(nk)]
    ranks = {n: r for r, n in enumerate(sorted(numbers))}
    return [times_by_rank[ranks[n]] for n in numbers]


def _interleaved(n, step):
    """Times of acquisition ranks 0..n-1: ranks 0, 2, 4 ... first, then 1, 3, 5 ..."""
    order = list(range(0, n, 2)) + list(range(1, n, 2))
    out = [0.0] * n
    for slot, rank in enumerate(order):
        out[rank] = slot * step
    return out


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("nk", [6, 7])
def test_interleaved(tmp_path, nk, descending):
    vol = _ge_series(tmp_path, nk, order=1, descending=descending)
    want = _expected(vol, nk, _interleaved(nk, TR_MS / 1000 / nk))
    np.testing.assert_allclose(vol.meta["bids"]["SliceTiming"], want, atol=1e-5)


def test_sequential(tmp_path):
    vol = _ge_series(tmp_path, 5, order=0, descending=True)
    want = _expected(vol, 5, [r * 0.4 for r in range(5)])
    np.testing.assert_allclose(vol.meta["bids"]["SliceTiming"], want, atol=1e-5)


def test_protocol_entries_after_a_long_run_of_blank_lines(tmp_path):
    """The block's lines matched with ``^\\s*``, which ran over a run of blank lines and back
    from each line start (quadratic: half a million blank lines held the header scan for
    minutes). Opened in a child process with a deadline far above a linear search's time."""
    import json
    import subprocess
    import sys

    folder = _write_ge(tmp_path / "s", 5, order=0, descending=True, blank=500_000)
    code = (
        "import json, sys, lazyvol as lv; v = lv.open(sys.argv[1], cache=False); "
        "print(json.dumps([v.meta['bids']['SliceTiming'], "
        "[int(v.dicom_header(k, 0).InstanceNumber) for k in range(5)]]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    times, numbers = json.loads(run.stdout)
    ranks = {n: r for r, n in enumerate(sorted(numbers))}
    np.testing.assert_allclose(times, [ranks[n] * 0.4 for n in numbers], atol=1e-5)


def test_multiband_slices_share_their_excitation_time(tmp_path):
    """HyperBand 2, 6 slices: 3 excitations (ranks r and r + 3), interleaved 0, 2, 1."""
    vol = _ge_series(tmp_path, 6, order=1, mb=2)
    per_excitation = _interleaved(3, TR_MS / 1000 / 3)
    want = _expected(vol, 6, [per_excitation[r % 3] for r in range(6)])
    np.testing.assert_allclose(vol.meta["bids"]["SliceTiming"], want, atol=1e-5)


@pytest.mark.parametrize("mb", ["inf", "1e400", "-1e999"])
def test_a_multiband_factor_too_large_for_an_int_is_no_factor(tmp_path, mb):
    """A HyperBand factor (0043,10B6) that is not finite ("inf", or "1e400" overflowing a float)
    was passed to int(): an OverflowError escaped the header scan (lv.scan, lv.open and the CLI
    alike). It reads as no factor now, as junk text does: single-band times (dcm2niix's atoi
    gives 0 or 1 for these, single band too)."""
    vol = _ge_series(tmp_path, 6, order=1, mb=mb)
    want = _expected(vol, 6, _interleaved(6, TR_MS / 1000 / 6))
    np.testing.assert_allclose(vol.meta["bids"]["SliceTiming"], want, atol=1e-5)


def test_protocol_numbers_too_large_for_an_int(tmp_path):
    """SLICEORDER "1e400" (an unknown order: no SliceTiming) and NOSLC "inf" (an unknown count,
    as when absent) in the protocol data block: no OverflowError."""
    vol = _ge_series(tmp_path / "order", 6, order="1e400")
    assert "SliceTiming" not in vol.meta["bids"]
    assert vol.meta["bids"]["Manufacturer"] == "GE"
    folder = _write_ge(tmp_path / "nk", 6, order=1)
    block = _protocol_block({"SLICEORDER": "1", "NOSLC": "inf", "DELACQ": "0"})
    for f in sorted(folder.iterdir()):
        ds = pydicom.dcmread(f)
        ds.private_block(0x0025, "GEMS_SERS_01").add_new(0x1B, "OB", block)
        ds.save_as(f)
    vol = lv.open(folder)
    want = _expected(vol, 6, _interleaved(6, TR_MS / 1000 / 6))
    np.testing.assert_allclose(vol.meta["bids"]["SliceTiming"], want, atol=1e-5)


@pytest.mark.parametrize(
    "change",
    [
        {"delay": "500"},  # a delay between volumes: the times are not TR / n apart
        {"sequence": ("EP", "SE")},  # spin-echo EPI (diffusion) uses another pattern
    ],
    ids=["delacq", "spin-echo"],
)
def test_no_slice_timing_where_the_protocol_does_not_define_it(tmp_path, change):
    vol = _ge_series(tmp_path, 6, order=1, **change)
    assert "SliceTiming" not in vol.meta["bids"]
    assert vol.meta["bids"]["Manufacturer"] == "GE"


def _dcm2niix_sidecar(src, out):
    """dcm2niix's sidecar of the folder ``src`` and its NIfTI's affine (skips without dcm2niix)."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    import nibabel as nib

    exe = shutil.which("dcm2niix") or os.path.join(os.path.dirname(sys.executable), "dcm2niix")
    if not os.path.exists(exe):
        pytest.skip("dcm2niix not installed (pip install dcm2niix; in the test extra)")
    out.mkdir()
    subprocess.run(
        [exe, "-o", str(out), "-f", "v", "-z", "n", "-b", "y", str(src)],
        check=True,
        capture_output=True,
    )
    (side,) = out.glob("*.json")
    (image,) = out.glob("*.nii")
    return json.loads(side.read_text()), nib.load(image).affine


@pytest.mark.parametrize(
    ("nk", "order", "mb", "software", "descending"),
    [
        (15, 1, 2, "MR Software release:DV26.0_R01_1725.a", False),  # before R03, 8 excitations
        (15, 0, 4, "MR Software release:DV27.0_R02_1831.b", True),  # before R03, sequential
        (16, 1, 2, "MR Software release:DV27.0_R03_1831.b", False),  # R03: last two swapped
        (16, 1, 4, "MR29.1_EA_2039.g", True),  # a later release, named another way
        (15, 1, 3, "MR Software release:DV26.0_R01_1725.a", True),  # odd excitation count
        (15, 1, 2, "MR Software release:DV25.0_R02_1549.b", False),  # early HyperBand: none
        (12, 1, 1, "MR Software release:DV24.0_R01_1344.a", False),  # no HyperBand, old release
    ],
)
def test_multiband_and_releases_match_dcm2niix(tmp_path, nk, order, mb, software, descending):
    """HyperBand timing depends on the release (an extra excitation before 27.0 R03 when their
    count is even, the last two swapped from R03 on, none before release 26): lazyvol's times
    equal dcm2niix's, slice for slice through the two affines, or both give none."""
    src = _write_ge(
        tmp_path / "s", nk, order=order, mb=mb, software=software, descending=descending
    )
    side, affine = _dcm2niix_sidecar(src, tmp_path / "out")
    vol = lv.open(src)
    mine = vol.meta["bids"].get("SliceTiming")
    if "SliceTiming" not in side:
        assert mine is None
        return
    t = np.linalg.inv(affine) @ vol.affine
    assert mine is not None and abs(round(t[2, 2])) == 1
    np.testing.assert_allclose(mine[::-1] if t[2, 2] < 0 else mine, side["SliceTiming"], atol=1e-4)


def test_rtia_timer_values_do_not_hide_the_protocol_timing(tmp_path):
    """Per-slice RTIA timer values (0021,105E) (epiRT writes them): dcm2niix still derives the
    times from the protocol block, as dcm_qa_stc's GE_epiRT_ascending_2 reference has them;
    lazyvol gave none whenever a value was non-zero. Now the same times as dcm2niix's."""
    nk = 7
    src = _write_ge(
        tmp_path / "s", nk, order=1, rtia=lambda i: 1.0 + (i // nk) * 2.0 + (i % nk) * 0.25
    )
    side, affine = _dcm2niix_sidecar(src, tmp_path / "out")
    vol = lv.open(src)
    mine = vol.meta["bids"].get("SliceTiming")
    assert "SliceTiming" in side and mine is not None
    t = np.linalg.inv(affine) @ vol.affine
    np.testing.assert_allclose(mine[::-1] if t[2, 2] < 0 else mine, side["SliceTiming"], atol=1e-4)
    expected = _expected(vol, nk, _interleaved(nk, TR_MS / 1000 / nk))
    np.testing.assert_allclose(mine, expected, atol=1e-5)


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit-FL", "implicit-UN"])
@pytest.mark.parametrize("group_delay", [0.5, 1.0, 0.0])
def test_the_group_delay_is_read_as_the_binary_float_ge_writes(tmp_path, implicit, group_delay):
    # (0043,107C) is a binary FL: 0.5 is 00 00 00 3F, whose text ends at its first NUL, so a
    # reader taking it as text saw no delay (RepetitionTime without it). The slice times do not
    # depend on it: the slices fill the stated TR, the delay follows (as dcm2niix).
    folder = _write_ge(tmp_path / "s", 6, order=1, group_delay=group_delay)
    if implicit:  # (private elements of an implicit VR file are read as UN bytes)
        for f in sorted(folder.iterdir()):
            ds = pydicom.dcmread(f)
            ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
            ds.save_as(f, implicit_vr=True, little_endian=True)
        assert pydicom.dcmread(next(folder.iterdir())).file_meta.TransferSyntaxUID.is_implicit_VR
    bids = lv.open(folder).meta["bids"]
    assert bids["RepetitionTime"] == pytest.approx(TR_MS / 1000 + group_delay)
    np.testing.assert_allclose(bids["SliceTiming"], _interleaved(6, TR_MS / 1000 / 6), atol=1e-5)


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit-FL", "implicit-UN"])
@pytest.mark.parametrize("group_delay", [0.5, 0.25, 0.0, -0.5])
def test_a_delay_after_slice_group_is_part_of_the_repetition_time(tmp_path, implicit, group_delay):
    # GE's RepetitionTime (0018,0080) leaves out the delay after slice group (0043,107C): dcm2niix
    # writes TR + delay (above 0, any sequence) as RepetitionTime and pixdim[4]; lazyvol wrote TR.
    import nibabel as nib

    folder = _write_ge(tmp_path / "s", 6, order=1, group_delay=group_delay, sequence=("GR",))
    if implicit:
        for f in sorted(folder.iterdir()):
            ds = pydicom.dcmread(f)
            ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
            ds.save_as(f, implicit_vr=True, little_endian=True)
    vol = lv.open(folder)
    expected = TR_MS / 1000 + max(group_delay, 0.0)
    assert vol.meta["bids"]["RepetitionTime"] == pytest.approx(expected)
    assert vol.spacing[3] == pytest.approx(expected)
    side, _ = _dcm2niix_sidecar(folder, tmp_path / "ref")
    assert side["RepetitionTime"] == pytest.approx(expected)
    vol.to_nifti(tmp_path / "lz.nii")
    assert nib.load(tmp_path / "lz.nii").header["pixdim"][4] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("tr_text", "group_delay", "expected"),
    [("0", 0.5, 0.5), ("-100", 0.5, 0.4), ("1234.5649", 2e-7, 1.23457)],
)
def test_the_delay_is_added_to_the_stated_repetition_time(tmp_path, tr_text, group_delay, expected):
    # dcm2niix adds the delay to the TR it read, then rounds the sum and writes it where above 0:
    # lazyvol added it to the sidecar's TR (rounded to 6 digits: 1.23456, none at or below 0), so
    # a TR of 0 or below with a delay had no RepetitionTime (a 3D spacing), 1234.5649 ms 1.23456.
    import nibabel as nib

    folder = _write_ge(tmp_path / "s", 6, order=1, group_delay=group_delay, sequence=("GR",))
    for f in sorted(folder.iterdir()):
        ds = pydicom.dcmread(f)
        ds.RepetitionTime = tr_text
        ds.save_as(f)
    vol = lv.open(folder)
    assert vol.meta["bids"]["RepetitionTime"] == expected
    assert vol.spacing[3] == pytest.approx(expected)
    vol.to_nifti(tmp_path / "lz.nii")
    assert nib.load(tmp_path / "lz.nii").header["pixdim"][4] == pytest.approx(expected)
    side, _ = _dcm2niix_sidecar(folder, tmp_path / "ref")
    assert side["RepetitionTime"] == expected


@pytest.mark.parametrize("delay", ["", " "])
def test_an_empty_delay_between_volumes_is_none_stated(tmp_path, delay):
    """DELACQ stated empty in the protocol block says no delay, as DELACQ absent does: the times
    dcm2niix derives (it gives them whatever DELACQ says). lazyvol took an empty one for a delay
    not known and gave no SliceTiming."""
    src = _write_ge(tmp_path / "s", 6, order=1, delay=delay)
    side, affine = _dcm2niix_sidecar(src, tmp_path / "out")
    vol = lv.open(src)
    mine = vol.meta["bids"].get("SliceTiming")
    assert mine is not None
    t = np.linalg.inv(affine) @ vol.affine
    np.testing.assert_allclose(mine[::-1] if t[2, 2] < 0 else mine, side["SliceTiming"], atol=1e-4)
    np.testing.assert_allclose(
        mine, _expected(vol, 6, _interleaved(6, TR_MS / 1000 / 6)), atol=1e-5
    )
