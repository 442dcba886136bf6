"""Warnings on stacks that open, from a sweep against dcm2niix: a complete 4D series numbered
slice by slice was said to have InstanceNumber gaps, and an oblique series whose
ImageOrientationPatient is written to 3 decimals was flagged as gantry-tilted (the positions
follow the true normal; the written one is off by its rounding). Slices of two thicknesses
stacked as one volume (as dcm2niix stacks them) are said to be."""

from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series, write_dicom_series


@pytest.mark.parametrize("numbering", ["volume", "position"])
def test_a_complete_4d_series_has_no_instance_gaps(tmp_path, numbering):
    write_dicom_4d_series(tmp_path / "s", (8, 6, 5), 3, numbering=numbering)
    vol = lv.open(tmp_path / "s")
    assert vol.shape == (8, 6, 5, 3)
    assert not any("has gaps" in w for w in vol.meta.get("warnings", []))


def test_a_real_instance_gap_is_still_noted(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 5))
    ds = pydicom.dcmread(truth.files[-1])
    ds.InstanceNumber = 40
    ds.save_as(truth.files[-1])
    vol = lv.open(tmp_path / "s")
    assert any("has gaps (1..40 for 5 slices)" in w for w in vol.meta["warnings"])


@pytest.mark.parametrize("tilt", [0.0, -25.0])
def test_a_slice_missing_and_filled_is_not_called_regular(tmp_path, tilt):
    """A slice really missing (its file removed) and filled with allow_gaps=True: the gap note
    said "but the positions are regular", false there; it names the slice filled, and the kept
    slices are the truth's."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 10), spacing=(1, 1, 2.0), tilt_deg=tilt)
    Path(truth.files[4]).unlink()
    with pytest.warns(RuntimeWarning, match="has gaps"):
        vol = lv.open(tmp_path / "s", allow_gaps=True)
    (gaps,) = [w for w in vol.meta["warnings"] if "has gaps" in w]
    assert "(1..10 for 9 slices)" in gaps and "positions are regular" not in gaps
    assert "the positions miss 1 slice(s), filled at k = [4]" in gaps
    data, want = vol.compute(), truth.scaled("float64")
    kept = [k for k in range(10) if k != 4]
    np.testing.assert_array_equal(data[..., kept], want[..., kept].astype(data.dtype))


def _round_iop(files, decimals):
    for f in files:
        ds = pydicom.dcmread(f)
        ds.ImageOrientationPatient = [round(float(x), decimals) for x in ds.ImageOrientationPatient]
        ds.save_as(f)


def test_an_orientation_written_coarsely_is_no_gantry_tilt(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 30), orientation="oblique")
    _round_iop(truth.files, 3)
    vol = lv.open(tmp_path / "s")
    assert "gantry_tilt_deg" not in vol.meta and not vol.meta.get("sheared")
    # the affine still places every slice where its file says (dcm2niix does the same)
    ipp = np.array([pydicom.dcmread(f).ImagePositionPatient for f in truth.files], float)
    corners = (vol.affine @ np.c_[np.zeros((30, 2)), np.arange(30), np.ones(30)].T)[:3].T
    lps = corners * [-1, -1, 1]
    assert np.allclose(np.sort(lps[:, 2]), np.sort(ipp[:, 2]), atol=1e-3)


def test_a_real_tilt_is_still_flagged(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 30), tilt_deg=0.5)
    _round_iop(truth.files, 3)
    vol = lv.open(tmp_path / "s")
    assert vol.meta["gantry_tilt_deg"] == pytest.approx(0.5, abs=0.06)


@pytest.mark.parametrize("copied", [None, 3])
def test_a_series_exported_twice_is_named_as_copies(tmp_path, copied):
    """The same images under new SOPInstanceUIDs (a second export into the folder) were refused
    with every ordering rule that failed, or as 'missing images, or mixed acquisitions'."""
    from pydicom.uid import generate_uid

    write_dicom_4d_series(tmp_path / "s" / "a", (8, 6, 5), 3)
    (tmp_path / "s" / "b").mkdir()
    files = sorted((tmp_path / "s" / "a").iterdir())
    for f in files[:copied]:
        ds = pydicom.dcmread(f)
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(tmp_path / "s" / "b" / f.name)
    with pytest.raises(lv.SeriesError, match="copies of others under another SOPInstanceUID"):
        lv.open(tmp_path / "s")


@pytest.mark.parametrize("short", [0, 2, 4])
def test_uneven_repeats_name_the_position_an_image_is_missing_from(tmp_path, short):
    """A 3-volume series with one image removed (one position x2, the others x3) was refused
    naming the first repeated position, a complete one, as the example; the refusal names the
    short position and its remaining files, and no file of a complete position."""
    write_dicom_4d_series(tmp_path / "s", (8, 6, 5), 3, labels=("TemporalPositionIdentifier",))
    z = {
        str(f): float(pydicom.dcmread(f).ImagePositionPatient[2])
        for f in (tmp_path / "s").iterdir()
    }
    where = sorted(set(z.values()))[short]  # (the normal is +z: the positions along it)
    victim = sorted(f for f in z if z[f] == where)[1]
    t = {str(f): int(pydicom.dcmread(f).TemporalPositionIdentifier) for f in map(Path, z)}
    Path(victim).unlink()
    del z[victim]
    with pytest.raises(lv.SeriesError) as exc:
        lv.open(tmp_path / "s")
    msg = str(exc.value)
    assert "1 position along the normal has other than the 3 images" in msg
    assert f"{where:.4f} mm (2 images: " in msg
    named = {f for f in z if f in msg}
    # (an image of the last volume removed: the refusal names that volume's other images too,
    # the series' latest, as an incomplete last volume)
    last = {f for f in z if t[f] == 3} if t[victim] == 3 else set()
    assert ("the last volume is incomplete" in msg) == bool(last)
    assert named == {f for f in z if z[f] == where} | last


def test_slices_of_two_thicknesses_under_one_series_are_stacked_and_said(tmp_path):
    """Two reconstructions of one CT under one SeriesInstanceUID: 3 mm slices every 3 mm and
    1.5 mm slices between them. Stacked as one 1.5 mm volume (as dcm2niix stacks them), silently,
    the sidecar giving the first slice's SliceThickness (3 mm) for all. Now a warning names each
    thickness the files state (read with pydicom) and how many, and the sidecar leaves
    SliceThickness out; a series of one thickness keeps it."""
    uid = "1.2.826.0.1.3680043.8.498.777"
    z3 = np.arange(6) * 3.0
    parts = [
        write_dicom_series(
            tmp_path / "s",
            (8, 6, 6),
            positions=np.column_stack([np.full(6, -20.0), np.full(6, -20.0), z3 + shift]),
            spacing=(1.0, 1.0, thick),
            series_uid=uid,
            prefix=prefix,
            seed=seed,
        )
        for shift, thick, prefix, seed in [(0.0, 3.0, "A", 1), (1.5, 1.5, "B", 2)]
    ]
    stated = Counter(float(pydicom.dcmread(f).SliceThickness) for p in parts for f in p.files)
    assert len(stated) == 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vol = lv.open(tmp_path / "s")
    assert vol.shape == (8, 6, 12) and vol.spacing[2] == pytest.approx(1.5)
    interleaved = np.stack([parts[0].stored, parts[1].stored], axis=-1).reshape(8, 6, 12)
    np.testing.assert_array_equal(vol.compute(), interleaved)
    (note,) = [w for w in vol.meta["warnings"] if "SliceThickness" in w]
    for thick, n in stated.items():
        assert f"{thick:g} mm in {n} files" in note
    assert [str(w.message) for w in caught if "SliceThickness" in str(w.message)] == [
        f"lazyvol: {note}"
    ]
    vol.to_nifti(tmp_path / "mixed.nii")
    assert "SliceThickness" not in json.loads((tmp_path / "mixed.json").read_text())
    write_dicom_series(tmp_path / "u", (8, 6, 6), spacing=(1.0, 1.0, 3.0))
    uniform = lv.open(tmp_path / "u")
    assert not any("SliceThickness" in w for w in uniform.meta.get("warnings", []))
    uniform.to_nifti(tmp_path / "uniform.nii")
    assert json.loads((tmp_path / "uniform.json").read_text())["SliceThickness"] == 3.0


#: Per-image values written as a decimal in some files and as the float32 of it printed to 16
#: characters (as converters write DS values) in others: keyword -> (decimal, float32 text,
#: sidecar key, sidecar unit scale).
FLOAT32_NOISE = {
    "SliceThickness": ("1.5", "1.49999988079071", "SliceThickness", 1.0),
    "FlipAngle": ("7.2", "7.19999980926514", "FlipAngle", 1.0),
    "EchoTime": ("2.46", "2.46000003814697", "EchoTime", 1e-3),
    "RepetitionTime": ("2150.7", "2150.69995117188", "RepetitionTime", 1e-3),
}


@pytest.mark.parametrize("keyword", list(FLOAT32_NOISE))
def test_a_value_written_with_float32_noise_is_one_value(tmp_path, keyword):
    """SliceThickness "1.5" in some files and "1.49999988079071" in others: the warning said the
    slices differ ("1.5 mm in 3 files, 1.5 mm in 3 files") and the sidecar left SliceThickness
    out (FlipAngle and EchoTime, compared exactly too, were left out alike). One value, within
    float32 noise of every value pydicom reads: no warning, the sidecar states it."""
    decimal, noisy, key, scale = FLOAT32_NOISE[keyword]
    truth = write_dicom_series(
        tmp_path / "s",
        (6, 5, 6),
        spacing=(1.0, 1.0, 1.5),
        modality="MR",
        per_slice=[{keyword: decimal if k % 2 else noisy} for k in range(6)],
    )
    read = {float(pydicom.dcmread(f).get(keyword)) for f in truth.files}
    assert len(read) == 2 and max(read) - min(read) < 1e-6 * max(read)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert not [w for w in caught if keyword in str(w.message)]
    assert not [w for w in vol.meta.get("warnings", []) if keyword in w]
    vol.to_nifti(tmp_path / "v.nii")
    side = json.loads((tmp_path / "v.json").read_text())
    assert side[key] == pytest.approx(float(decimal) * scale, rel=1e-6)


def test_an_instance_number_far_from_the_others_costs_no_memory(tmp_path):
    """A slice numbered 999999999999 (an IS value of 12 digits) among slices 1..3: the gap note
    built the set of every number between them, a trillion (MemoryError; without a limit the scan
    grew past 20 GB and was killed). Run in a child under a 2 GB address-space limit; the note
    names the range."""
    import subprocess
    import sys
    import textwrap

    folder = tmp_path / "s"
    write_dicom_series(folder, (8, 8, 4))
    last = sorted(folder.iterdir())[-1]
    ds = pydicom.dcmread(last)
    ds.InstanceNumber = "999999999999"
    ds.save_as(last, enforce_file_format=False)
    code = textwrap.dedent(
        f"""
        import resource, warnings
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        import lazyvol as lv
        warnings.simplefilter("ignore")
        print([w for s in lv.scan({str(folder)!r}) for w in s.warnings])
        """
    )
    env = {**__import__("os").environ, "LAZYVOL_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert run.returncode == 0, run.stderr[-500:]
    assert "has gaps (1..999999999999 for 4 slices)" in run.stdout


def test_missing_instance_numbers_are_named_as_runs(tmp_path):
    """The gap note's runs, as before: runs of 3 or more as a..b, shorter ones number by number."""
    from lazyvol.dicom.stack_notes import _runs, missing_numbers

    runs = missing_numbers([1, 5, 7, 10, 20], [None, 9, 15])
    assert runs == [(2, 4), (6, 6), (8, 8), (11, 14), (16, 19)]
    assert _runs(runs) == "2..4, 6, 8, 11..14, 16..19"
    assert _runs(missing_numbers([1, 4], ())) == "2, 3"
    assert missing_numbers([3, 4, 5], [1, 9]) == []
