"""Generated DICOM series against known truth, pydicom, SimpleITK and dcm2niix."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys

import dask
import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

SHAPE = (32, 48, 16)


def canonical(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorient to the closest canonical (RAS) layout so readers with other axis orders compare."""
    img = nib.as_closest_canonical(nib.Nifti1Image(np.asarray(data), affine))
    return np.asarray(img.dataobj), img.affine


def sitk_read(folder: str) -> tuple[np.ndarray, np.ndarray]:
    """SimpleITK ImageSeriesReader: array (i, j, k) and RAS affine."""
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    names = reader.GetGDCMSeriesFileNames(folder)
    reader.SetFileNames(names)
    img = reader.Execute()
    arr = sitk.GetArrayFromImage(img).transpose(2, 1, 0)  # (z, y, x) -> (x, y, z) = (i, j, k)
    direction = np.array(img.GetDirection()).reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = direction * np.array(img.GetSpacing())[None, :]
    lps[:3, 3] = img.GetOrigin()
    return arr, np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


CASES = [
    dict(orientation="axial", syntax="explicit", dtype="int16"),
    dict(orientation="sagittal", syntax="implicit", dtype="uint16", reverse_instance_numbers=True),
    dict(orientation="coronal", syntax="big", dtype="int16", shuffle_names=True),
    dict(orientation="oblique", syntax="explicit", dtype="uint8", shuffle_names=True),
    dict(orientation="oblique", syntax="big", dtype="uint8", reverse_instance_numbers=True),
    dict(
        orientation="axial", syntax="implicit", dtype="int16", bits_stored=12, dirty_high_bits=True
    ),
    dict(orientation="coronal", syntax="big", dtype="uint16", bits_stored=10, dirty_high_bits=True),
    dict(orientation="axial", syntax="explicit", dtype="int32", slope=0.25, intercept=-10.5),
    dict(
        orientation="sagittal", syntax="explicit", dtype="int8", bits_stored=6, dirty_high_bits=True
    ),
    dict(orientation=(0.9, 0.1, 0.0, -0.1, 0.9, 0.3), syntax="explicit", dtype="int16"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_generated_series_matches_truth_and_pydicom(tmp_path, case):
    truth = write_dicom_series(tmp_path / "s", SHAPE, seed=3, **case)
    vol = lv.open(tmp_path / "s")
    assert vol.shape == SHAPE
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    stored = lv.open(tmp_path / "s", scale=False)
    assert stored.dtype == truth.stored.dtype
    got = stored.compute()
    np.testing.assert_array_equal(got, truth.stored)
    # pydicom's pixel_array of each file, in slice order, is the same.
    for k, f in enumerate(truth.files):
        np.testing.assert_array_equal(got[:, :, k], pydicom.dcmread(f).pixel_array.T)
    scaled = vol.compute()
    if "slope" in case:
        # (int32 values reaching 2**31, where float32's spacing, 128, passes the slope 0.25:
        # float64, so that neighbouring stored values stay apart)
        assert vol.dtype == np.float64
        np.testing.assert_array_equal(scaled, truth.scaled(np.float64))
        assert len(np.unique(scaled)) == len(np.unique(truth.stored))
    else:
        # CT with slope 1 / intercept 0 keeps the stored dtype
        assert vol.dtype == truth.stored.dtype
        np.testing.assert_array_equal(scaled, truth.stored)


def test_per_slice_rescale_integer_and_float(tmp_path):
    nk = SHAPE[2]
    truth = write_dicom_series(
        tmp_path / "a",
        SHAPE,
        dtype="uint16",
        bits_stored=12,
        slope=[1] * nk,
        intercept=[-1024] * nk,
    )
    vol = lv.open(tmp_path / "a")
    assert vol.dtype == np.int16  # 12-bit unsigned - 1024 = -1024..3071: int16 (BitsStored range)
    np.testing.assert_array_equal(vol.compute(), truth.scaled(np.int64))
    slopes = [1.0 + 0.5 * (k % 2) for k in range(nk)]
    truth = write_dicom_series(tmp_path / "b", SHAPE, dtype="int16", slope=slopes, intercept=2.0)
    vol = lv.open(tmp_path / "b")
    assert vol.dtype == np.float32
    np.testing.assert_array_equal(vol.compute(), truth.scaled(np.float32))
    assert lv.open(tmp_path / "b", dtype="float64").compute().dtype == np.float64
    np.testing.assert_array_equal(
        lv.open(tmp_path / "b", dtype="float64").compute(), truth.scaled(np.float64)
    )


@pytest.mark.parametrize("orientation", ["axial", "sagittal", "coronal", "oblique"])
def test_against_simpleitk(tmp_path, orientation):
    truth = write_dicom_series(
        tmp_path / "s", SHAPE, orientation=orientation, dtype="int16", shuffle_names=True, seed=5
    )
    vol = lv.open(tmp_path / "s", scale=False)
    arr, aff = sitk_read(str(tmp_path / "s"))
    mine, my_aff = canonical(vol.compute(), vol.affine)
    theirs, their_aff = canonical(arr, aff)
    np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_allclose(my_aff, their_aff, atol=1e-4)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)


DCM2NIIX = shutil.which("dcm2niix") or os.path.join(os.path.dirname(sys.executable), "dcm2niix")


@pytest.mark.skipif(not os.path.exists(DCM2NIIX), reason="dcm2niix not installed")
@pytest.mark.parametrize("orientation", ["axial", "sagittal", "oblique"])
def test_against_dcm2niix(tmp_path, orientation):
    write_dicom_series(
        tmp_path / "s", SHAPE, orientation=orientation, dtype="int16", slope=2.0, intercept=-3.0
    )
    out = tmp_path / "nii"
    out.mkdir()
    subprocess.run(
        [DCM2NIIX, "-o", str(out), "-f", "vol", "-z", "n", "-b", "n", str(tmp_path / "s")],
        check=True,
        capture_output=True,
    )
    img = nib.load(out / "vol.nii")
    vol = lv.open(tmp_path / "s")
    # dcm2niix flips the row axis when writing NIfTI: compare in the canonical orientation.
    mine, my_aff = canonical(vol.compute(), vol.affine)
    theirs, their_aff = canonical(img.get_fdata(), img.affine)
    np.testing.assert_allclose(my_aff, their_aff, atol=1e-3)
    np.testing.assert_array_equal(mine, theirs)
    # And nibabel saving our array with our affine lands on the same world coordinates.
    ours = nib.Nifti1Image(vol.compute(), vol.affine)
    c = np.array([3, 5, 7, 1.0])
    world = ours.affine @ c
    vox_theirs = np.linalg.solve(img.affine, world)
    assert np.allclose(vox_theirs, np.round(vox_theirs), atol=1e-3)
    assert img.get_fdata()[tuple(np.round(vox_theirs[:3]).astype(int))] == vol.compute()[3, 5, 7]


def test_gantry_tilt_kept_as_shear(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE, tilt_deg=15.0)
    vol = lv.open(tmp_path / "s")
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    assert vol.meta["sheared"] is True
    assert abs(vol.meta["gantry_tilt_deg"] - 15.0) < 1e-3
    # Each slice's first voxel sits exactly at its ImagePositionPatient (LPS -> RAS).
    for k in (0, 7, 15):
        ras = vol.affine @ np.array([0, 0, k, 1.0])
        np.testing.assert_allclose(ras[:3], truth.positions[k] * [-1, -1, 1], atol=1e-6)


@pytest.mark.parametrize("tilt", [15.0, -15.0])
def test_shear_is_signed_and_a_lean_toward_left_right_is_no_gantry_tilt(tmp_path, tilt):
    """``gantry_tilt_deg`` was the unsigned angle between the slice step and the normal, for any
    lean: +15 and -15 degrees both said 15, and a stack leaning toward the patient's left-right
    axis (which no gantry tilt does: a gantry tilts about it) was reported as a gantry tilt. Now
    ``shear_deg`` gives the signed lean toward voxel axes i and j, computed here from the
    synthetic positions, and a left-right lean is called a shear, not a gantry tilt."""
    truth = write_dicom_series(tmp_path / "t", (8, 8, 6), tilt_deg=tilt)
    vol = lv.open(tmp_path / "t")
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    assert vol.meta["gantry_tilt_deg"] == pytest.approx(abs(tilt), abs=1e-3)
    # axial: the row direction (i) is patient x, the column direction (j) patient y (LPS)
    step = truth.positions[1] - truth.positions[0]
    lean_j = np.degrees(np.arctan2(step[1], step[2]))
    assert vol.meta["shear_deg"] == pytest.approx([0.0, lean_j], abs=1e-3)
    assert np.sign(vol.meta["shear_deg"][1]) == np.sign(tilt)
    lean = np.tan(np.radians(tilt)) * 2.5
    pos = np.array([[-12.5 + lean * k, -20.0, 30.0 + 2.5 * k] for k in range(6)])
    truth = write_dicom_series(tmp_path / "x", (8, 8, 6), positions=pos)
    vol = lv.open(tmp_path / "x")
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    assert "gantry_tilt_deg" not in vol.meta and vol.meta["sheared"] is True
    assert vol.meta["shear_deg"] == pytest.approx([tilt, 0.0], abs=1e-3)
    (note,) = [w for w in vol.meta["warnings"] if "sheared" in w]
    assert "not a gantry tilt" in note
    # a sagittal stack leaning within its plane: every lean there is square to left-right, and
    # it was called a gantry tilt (CT gantries tilt transverse stacks)
    truth = write_dicom_series(tmp_path / "sag", (8, 8, 6), orientation="sagittal", tilt_deg=tilt)
    vol = lv.open(tmp_path / "sag")
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    assert "gantry_tilt_deg" not in vol.meta and vol.meta["sheared"] is True
    assert vol.meta["shear_deg"] == pytest.approx([0.0, tilt], abs=1e-3)


@pytest.mark.parametrize("shift_mm", [0.5, 3.0, 20.0])
def test_a_slice_moved_within_its_plane_is_refused(tmp_path, shift_mm):
    """The slices' projections on the normal are regular, but one slice sits off the line through
    the others (moved in-plane): stacking it would put its pixels at the wrong place, so the series
    is refused naming that file. A gantry tilt (every slice on one slanted line) still opens."""
    plain = write_dicom_series(tmp_path / "p", (8, 10, 6))
    pos = np.array(plain.positions, dtype=np.float64)
    pos[3] += [shift_mm, 0.0, 0.0]  # along the row direction: within the slice's own plane
    write_dicom_series(tmp_path / "s", (8, 10, 6), positions=pos)
    with pytest.raises(lv.SeriesError, match=r"off the line through the first and last") as ei:
        lv.open(tmp_path / "s")
    bad = [
        f
        for f in os.listdir(tmp_path / "s")
        if pydicom.dcmread(tmp_path / "s" / f).ImagePositionPatient[0] == pos[3][0]
    ]
    assert bad and bad[0] in str(ei.value)
    (info,) = lv.scan(tmp_path / "s")  # the scan says the same
    assert "off the line" in (info.error or "")
    tilted = write_dicom_series(tmp_path / "t", (8, 10, 6), tilt_deg=20.0)
    np.testing.assert_allclose(lv.open(tmp_path / "t").affine, tilted.affine, atol=1e-6)


def _write_positions_rounded(files, decimals: int) -> None:
    for f in files:
        ds = pydicom.dcmread(f)
        ds.ImagePositionPatient = [f"{float(v):.{decimals}f}" for v in ds.ImagePositionPatient]
        ds.save_as(f)


@pytest.mark.parametrize("spacing", [0.625, 1.0, 3.0])
def test_positions_written_with_two_decimals_open_as_the_exact_geometry(tmp_path, spacing):
    """Scanners and anonymisers write ImagePositionPatient with few decimals: an oblique stack's
    projected steps then vary by up to sqrt(3) x 0.01 mm. dcm2niix reads such series; a 1e-3 mm
    floor refused them as irregular. The tolerance follows the precision the positions were
    written with (recorded in meta), and the affine stays within that precision of the truth."""
    truth = write_dicom_series(
        tmp_path / "s", (16, 16, 40), orientation="oblique", spacing=(0.9, 0.9, spacing)
    )
    exact = lv.open(tmp_path / "s")  # full precision: compared strictly, nothing said
    assert "position_precision_mm" not in exact.meta
    _write_positions_rounded(truth.files, 2)
    (info,) = lv.scan(tmp_path / "s")
    assert any("written to 0.01 mm" in w for w in info.warnings)
    vol = lv.open(tmp_path / "s")
    assert vol.meta["position_precision_mm"] == pytest.approx(0.01)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=0.01)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert "gantry_tilt_deg" not in vol.meta or not vol.meta.get("sheared")


@pytest.mark.parametrize("damage", ["missing-slice", "uneven-step"])
def test_coarse_positions_still_show_a_missing_slice_or_an_uneven_step(tmp_path, damage):
    """The wider tolerance is the positions' own rounding, nothing more: a missing slice or a
    step 5% off is still refused, and the message names the tolerance and its options."""
    pos = np.array(write_dicom_series(tmp_path / "p", (8, 8, 12), orientation="oblique").positions)
    if damage == "missing-slice":
        pos = np.delete(pos, 6, axis=0)
    else:
        step = pos[1] - pos[0]
        pos[7:] += 0.05 * step
    truth = write_dicom_series(
        tmp_path / "s", (8, 8, len(pos)), orientation="oblique", positions=pos
    )
    _write_positions_rounded(truth.files, 2)
    with pytest.raises(lv.SeriesError, match=r"irregular slice spacing.*spacing_atol"):
        lv.open(tmp_path / "s")


def test_a_thin_axial_stack_written_to_one_decimal_opens_within_its_rounding(tmp_path):
    """0.25 mm axial slices written to 0.1 mm (30.0, 30.2, 30.5, 30.8 ...; dcm2niix reads them):
    only z changes, so a step is off by at most 0.1 mm, not sqrt(3) x 0.1 mm, which is more than
    half the spacing: the stack was refused when the rule against taking a fine grid for a
    rounding arrived. The rounding bound follows the coordinates that change."""
    truth = write_dicom_series(
        tmp_path / "s", (8, 8, 12), spacing=(0.5, 0.5, 0.25), origin=(-12.5, -20.0, 30.0)
    )
    _write_positions_rounded(truth.files, 1)
    vol = lv.open(tmp_path / "s")
    assert vol.meta["position_precision_mm"] == pytest.approx(0.1)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=0.1)
    np.testing.assert_array_equal(vol.compute(), truth.stored)


@pytest.mark.parametrize("damage", ["missing-slice", "uneven-step"])
@pytest.mark.parametrize("spacing", [0.1, 0.2])
def test_a_fine_grid_written_exactly_is_not_taken_for_a_rounding(tmp_path, damage, spacing):
    """Preclinical stacks 0.1 mm apart written at full precision show one decimal ('0.2',
    '0.4'), as a 0.1 mm rounding would: the steps were then compared within sqrt(3) x 0.1 mm,
    more than the spacing, so a missing slice (or a step half a spacing off) was absorbed into an
    averaged spacing, slices up to half a voxel off (SimpleITK's fault, which BAD_INPUTS refuses).
    Synthetic truth: refused, and ``allow_gaps`` fills the missing slice where it was."""
    shape = (8, 6, 9)
    pos = np.array([[0.0, 0.0, spacing * (k + 1)] for k in range(shape[2])])
    if damage == "missing-slice":
        pos = np.delete(pos, 4, axis=0)
    else:
        pos[5:, 2] += 0.5 * spacing
    write_dicom_series(tmp_path / "s", (*shape[:2], len(pos)), positions=pos)
    with pytest.raises(lv.SeriesError, match="irregular slice spacing"):
        lv.open(tmp_path / "s")
    if damage == "missing-slice":
        vol = lv.open(tmp_path / "s", allow_gaps=True)
        assert vol.shape[2] == shape[2]
        np.testing.assert_allclose(vol.spacing[2], spacing, rtol=1e-6)


@pytest.mark.parametrize("rounded", [True, False])
def test_a_stack_failing_past_its_rounding_reports_the_real_fault_and_nothing_else(
    tmp_path, rounded
):
    """Two-decimal positions, a missing slice (allow_gaps would fill it) and a slice moved 0.5 mm
    in its plane: refused for the moved slice, not for a step that is only rounding, and the
    refused volume carries no warning, filled slice or relaxation from the attempt."""
    pos = np.array(write_dicom_series(tmp_path / "p", (8, 8, 12), orientation="oblique").positions)
    pos = np.delete(pos, 6, axis=0)
    step = pos[1] - pos[0]
    inplane = np.cross(step / np.linalg.norm(step), [0.0, 0.0, 1.0])
    pos[2] += 0.5 * inplane / np.linalg.norm(inplane)
    truth = write_dicom_series(
        tmp_path / "s", (8, 8, len(pos)), orientation="oblique", positions=pos
    )
    if rounded:
        _write_positions_rounded(truth.files, 2)
    (info,) = lv.scan(tmp_path / "s", allow_gaps=True)
    assert "off the line" in (info.error or "")
    assert info.warnings == []
    assert "filled_slices" not in info.meta and not info.meta.get("relaxations")


def test_lazy_no_pixel_reads_at_open(tmp_path, monkeypatch):
    from lazyvol.dicom import pixels

    write_dicom_series(tmp_path / "s", SHAPE)
    calls = []
    orig = pixels._frame
    monkeypatch.setattr(pixels, "_frame", lambda plan, n: calls.append(n) or orig(plan, n))
    orig_into = pixels._read_into  # the native fast path reads frames with this
    monkeypatch.setattr(
        pixels,
        "_read_into",
        lambda plan, n, dest, *a: calls.append(n) or orig_into(plan, n, dest, *a),
    )
    vol = lv.open(tmp_path / "s", chunks=(32, 48, 4))
    assert calls == []
    vol[:, :, 4:8].compute()
    assert sorted(calls) == [4, 5, 6, 7]


def test_graph_pickles_and_runs_on_processes(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE, dtype="int16", slope=0.5, intercept=1)
    vol = lv.open(tmp_path / "s", chunks=(32, 48, 5))
    graph = dict(vol.data.__dask_graph__())
    restored = pickle.loads(pickle.dumps(graph))
    assert restored.keys() == graph.keys()
    a = vol.data.compute(scheduler="threads")
    b = vol.data.compute(scheduler="processes", num_workers=2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, truth.scaled(np.float32))
    # Reopening gives the same dask name (token from paths, sizes, mtimes and options).
    assert lv.open(tmp_path / "s", chunks=(32, 48, 5)).data.name == vol.data.name
    assert lv.open(tmp_path / "s", chunks=(32, 48, 5), scale=False).data.name != vol.data.name


def test_slicing_matches_nibabel_slicer(tmp_path):
    write_dicom_series(tmp_path / "s", SHAPE, orientation="oblique")
    vol = lv.open(tmp_path / "s")
    img = nib.Nifti1Image(vol.compute(), vol.affine)
    sub = vol[2:20:3, 1::2, 5:9]
    ref = img.slicer[2:20:3, 1::2, 5:9]
    np.testing.assert_allclose(sub.affine, ref.affine, atol=1e-9)
    np.testing.assert_array_equal(sub.compute(), np.asarray(ref.dataobj))


def test_meta_is_json_friendly(tmp_path):
    import json

    write_dicom_series(tmp_path / "s", SHAPE, modality="MR", description="t1 mprage")
    vol = lv.open(tmp_path / "s")
    json.dumps(vol.meta)
    assert vol.meta["modality"] == "MR"
    assert vol.meta["series_description"] == "t1 mprage"
    assert vol.source == str(tmp_path / "s")


def test_reads_fuse_with_the_work_on_their_block(tmp_path):
    """Each read is fused with the blockwise work on its block (here a mean's per-chunk step): the
    optimized graph has one task per block plus the reduction tree. The reference is the mean of
    an in-memory array of the same chunks, whose graph holds each chunk as data and a separate
    per-chunk task for it: one more task per block. The value is the truth."""
    import dask.array as da

    truth = write_dicom_series(tmp_path / "s", SHAPE, dtype="int16")
    chunks = (SHAPE[0], SHAPE[1], 2)
    data = lv.open(tmp_path / "s", chunks=chunks).data
    reference = da.from_array(np.zeros(SHAPE, np.int16), chunks=chunks)

    def tasks(x: da.Array) -> int:
        (optimized,) = dask.optimize(x.mean())
        return len(dict(optimized.__dask_graph__()))

    assert tasks(data) == tasks(reference) - reference.npartitions
    np.testing.assert_allclose(float(data.mean().compute()), truth.stored.astype(np.float64).mean())


def test_one_slice_with_a_negative_spacing_between_slices_takes_its_thickness(tmp_path, dcm2niix):
    """One slice: the slice spacing is stated, not measured. A negative SpacingBetweenSlices made
    lazyvol ignore a valid SliceThickness (1 mm assumed); dcm2niix takes the thickness."""
    write_dicom_series(
        tmp_path / "s", (12, 10, 1), spacing=(0.8, 0.7, 2.5), extra={"SpacingBetweenSlices": "-3"}
    )
    vol = lv.open(tmp_path / "s")
    assert vol.meta["slice_spacing_source"] == "SliceThickness"
    (nii,) = dcm2niix(tmp_path / "s", tmp_path / "out")
    np.testing.assert_allclose(vol.spacing, nib.load(nii).header.get_zooms()[:3], atol=1e-4)


def test_two_series_numbers_under_one_series_uid_are_two_volumes(tmp_path):
    """Two runs exported under one SeriesInstanceUID (SeriesNumber 1 and 2, positions half a
    slice apart): stacked, their slices interleaved into one volume of half the spacing,
    silently. They are two volumes, each equal to its own run."""
    import pydicom

    runs = [
        write_dicom_series(tmp_path / f"r{n}", (8, 6, 4), origin=(0.0, 0.0, 1.25 * n), seed=n)
        for n in (0, 1)
    ]
    for n, truth in enumerate(runs):
        for f in truth.files:
            ds = pydicom.dcmread(f)
            ds.SeriesInstanceUID, ds.SeriesNumber = "1.2.3.4.9", n + 1
            ds.SeriesDescription = f"T1 run {n + 1}"
            ds.save_as(f)
    report = lv.scan(tmp_path)
    assert sorted(info.number for info in report) == [1, 2]
    for n, truth in enumerate(runs):
        vol = lv.open(tmp_path, series=n + 1)
        np.testing.assert_array_equal(vol.compute(), truth.stored)


def test_two_ct_reconstruction_kernels_under_one_series_uid_are_two_volumes(tmp_path):
    """A soft-tissue and a bone reconstruction of one CT acquisition filed under one
    SeriesInstanceUID, at the same positions, AcquisitionNumber and times: they became a 4D
    volume ordered by InstanceNumber, a 4th axis no attribute explains (dcm2niix stacks them
    so). One volume per ConvolutionKernel (0018,1210), each equal to its own reconstruction; a
    kernel stated on some images only splits nothing."""
    uid, nk = "1.2.826.0.1.3680043.8.498.56", 4
    truth = {}
    for n, kernel in enumerate(["STANDARD", "BONE"]):
        truth[kernel] = write_dicom_series(
            tmp_path / "s",
            (8, 6, nk),
            series_uid=uid,
            prefix=kernel,
            seed=n,
            per_slice=[
                {
                    "InstanceNumber": n * nk + k + 1,
                    "AcquisitionNumber": 1,
                    "AcquisitionTime": f"1200{k:02d}.5",
                    "ConvolutionKernel": kernel,
                }
                for k in range(nk)
            ],
        ).stored
    report = lv.scan(tmp_path / "s")
    assert sorted(i.shape for i in report) == [(8, 6, nk), (8, 6, nk)]
    for info in report:
        (kernel,) = [r.split()[-1] for r in info.reasons if r.startswith("this volume: kernel ")]
        assert any(r.startswith("ConvolutionKernel (0018,1210) differs") for r in info.reasons)
        np.testing.assert_array_equal(
            lv.open(tmp_path / "s", series=info.id).compute(), truth[kernel]
        )
    some = write_dicom_series(
        tmp_path / "one",
        (8, 6, nk),
        per_slice=[{"ConvolutionKernel": "STANDARD"} if k % 2 else {} for k in range(nk)],
    )
    (info,) = lv.scan(tmp_path / "one")
    np.testing.assert_array_equal(lv.open(tmp_path / "one").compute(), some.stored)
