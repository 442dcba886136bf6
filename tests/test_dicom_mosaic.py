"""Siemens mosaic, diffusion tables and BIDS sidecars against independent references.

References: the synthetic truth of :func:`lazyvol.testing.write_mosaic_series` (itself checked by
nibabel's CSA reader and MosaicWrapper and by dcm2niix), nibabel's MosaicWrapper, dcm2niix run
here (the ``dcm2niix`` wheel of the test extra) on synthetic files and on the Siemens DWI files
nibabel ships, and dcm2niix's reference conversions of real Siemens mosaics in
``../shared/dicom-real`` (skipped, with the reason, when that folder is absent).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.dicom.diffusion import fsl_bvecs, world_gradients
from lazyvol.dicom.saved_scan import read_json_checked
from lazyvol.errors import FormatError
from lazyvol.testing import write_mosaic_series
from lazyvol.testing.mosaic import csa2_bytes

pytestmark = pytest.mark.usefixtures("dicom_cache")

REAL = Path(
    os.environ.get("LAZYVOL_REAL_DICOM", Path(__file__).parents[2] / "shared" / "dicom-real")
)
DWI = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.6, 0.8]]


def _dcm2niix() -> str | None:
    exe = shutil.which("dcm2niix") or shutil.which("dcm2niix", path=os.path.dirname(sys.executable))
    return exe


def run_dcm2niix(src: Path, out: Path) -> Path:
    """dcm2niix (as the reference collections were made: BIDS sidecar, no compression)."""
    exe = _dcm2niix()
    if exe is None:
        pytest.skip("dcm2niix binary not installed (pip install dcm2niix; in the test extra)")
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [exe, "-b", "y", "-z", "n", "-f", "ref", "-o", str(out), str(src)],
        check=True,
        capture_output=True,
    )
    return out / "ref.nii"


def sidecar_pair(
    src: Path, out: Path, keys: tuple[str, ...] | None = None, vol: lv.Volume | None = None
) -> tuple[dict, dict]:
    """lazyvol's JSON sidecar of ``src`` (``vol``'s when given, else ``lv.open(src)``'s, written by
    ``to_nifti`` into ``out``) and dcm2niix's (:func:`run_dcm2niix`, into ``out / "ref"``), each
    cut to ``keys`` when given."""
    run_dcm2niix(src, out / "ref")
    (ref_path,) = sorted((out / "ref").glob("*.json"))  # (one series; dcm2niix may suffix its name)
    ref = json.loads(ref_path.read_text())
    (lv.open(src) if vol is None else vol).to_nifti(out / "lz.nii")
    mine = json.loads((out / "lz.json").read_text())
    if keys is None:
        return mine, ref
    return {k: mine[k] for k in keys if k in mine}, {k: ref[k] for k in keys if k in ref}


def on_reference_grid(vol: lv.Volume, ref: nib.Nifti1Image) -> np.ndarray:
    """lazyvol's array mapped onto the reference grid; asserts the grids coincide within 1e-3 mm."""
    t = np.linalg.inv(ref.affine) @ vol.affine
    perm = np.round(t[:3, :3])
    shift = np.round(t[:3, 3])
    corners = np.array(
        [
            [i, j, k, 1]
            for i in (0, vol.shape[0] - 1)
            for j in (0, vol.shape[1] - 1)
            for k in (0, vol.shape[2] - 1)
        ],
        dtype=float,
    ).T
    snapped = np.eye(4)
    snapped[:3, :3], snapped[:3, 3] = perm, shift
    err = np.abs(vol.affine @ corners - ref.affine @ snapped @ corners).max()
    assert err < 1e-3, f"corners differ by {err} mm"
    assert sorted(np.abs(perm).sum(axis=0)) == [1, 1, 1]
    arr = np.asarray(vol.compute())
    idx = np.indices(arr.shape[:3]).reshape(3, -1)
    tgt = perm.astype(int) @ idx + shift.astype(int)[:, None]
    out = np.zeros(ref.shape, dtype=arr.dtype)
    if arr.ndim == 3:
        out[tuple(tgt)] = arr[tuple(idx)]
    else:
        for v in range(arr.shape[3]):
            out[(*tgt, np.full(tgt.shape[1], v))] = arr[(*idx, np.full(idx.shape[1], v))]
    return out


# -- the synthetic writer against nibabel and dcm2niix --------------------------------------------


def test_csa2_writer_parses_back_with_nibabel():
    from nibabel.nicom import csareader

    blob = csa2_bytes(
        {
            "NumberOfImagesInMosaic": ("US", [7]),
            "SliceNormalVector": ("FD", [0.0, -0.1, 0.99]),
            "MosaicRefAcqTimes": ("FD", [float(x) for x in range(9)]),
            "AcquisitionMatrixText": ("SH", ["12p*16"]),
        }
    )
    h = csareader.read(blob)
    assert h["type"] == 2
    assert csareader.get_n_mosaic(h) == 7
    np.testing.assert_allclose(csareader.get_slice_normal(h), [0.0, -0.1, 0.99])
    assert h["tags"]["MosaicRefAcqTimes"]["items"] == [float(x) for x in range(9)]


@pytest.mark.parametrize("head_first", [False, True])
@pytest.mark.parametrize("orientation", ["axial", "oblique", "sagittal"])
def test_synthetic_mosaic_matches_truth_and_nibabel(tmp_path, head_first, orientation):
    from nibabel.nicom import dicomwrappers

    truth = write_mosaic_series(
        tmp_path, (16, 12, 7), volumes=3, head_first=head_first, orientation=orientation
    )
    vol = lv.open(tmp_path)
    assert vol.shape == (16, 12, 7, 3)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-5)
    # nibabel's MosaicWrapper: data (rows, columns, slices in tile order), affine LPS of those axes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t, f in enumerate(truth.files):
            w = dicomwrappers.wrapper_from_file(f)
            assert isinstance(w, dicomwrappers.MosaicWrapper)
            data = np.asarray(w.get_data())
            swap = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], float)
            nb_ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ w.affine @ swap  # (i, j, k) -> RAS
            if head_first:  # nibabel keeps tile order; lazyvol orders slices along the normal
                data = data[:, :, ::-1]
                flip = np.eye(4)
                flip[2, 2], flip[2, 3] = -1, 6
                nb_ras = nb_ras @ flip
            np.testing.assert_array_equal(vol[..., t].compute(), data.transpose(1, 0, 2))
            np.testing.assert_allclose(vol.affine, nb_ras, atol=1e-4)


@pytest.mark.parametrize("head_first", [False, True])
def test_synthetic_dwi_matches_dcm2niix(tmp_path, head_first):
    truth = write_mosaic_series(
        tmp_path / "in",
        (16, 12, 7),
        volumes=3,
        head_first=head_first,
        orientation="oblique",
        bvals=[0, 1000, 1000],
        gradients_lps=DWI,
    )
    ref_path = run_dcm2niix(tmp_path / "in", tmp_path / "ref")
    ref = nib.load(ref_path)
    vol = lv.open(tmp_path / "in")
    np.testing.assert_array_equal(on_reference_grid(vol, ref), np.asarray(ref.dataobj))
    assert vol.meta["diffusion"]["bvals"] == [0.0, 1000.0, 1000.0]
    np.testing.assert_allclose(vol.meta["diffusion"]["gradients_lps"], truth.gradients_lps)
    vol.to_nifti(tmp_path / "lz.nii")
    assert (tmp_path / "lz.bval").read_text().split() == ["0", "1000", "1000"]
    ref_bval = np.loadtxt(tmp_path / "ref" / "ref.bval")
    np.testing.assert_allclose(np.loadtxt(tmp_path / "lz.bval"), ref_bval)
    ours = world_gradients(np.loadtxt(tmp_path / "lz.bvec"), vol.affine)
    theirs = world_gradients(np.loadtxt(tmp_path / "ref" / "ref.bvec"), ref.affine)
    # The same axis in the world (a diffusion direction and its opposite are one measurement;
    # dcm2niix negates all three components of H>>F mosaics it does not reorder).
    np.testing.assert_allclose(np.abs(np.sum(ours * theirs, axis=1)), [0, 1, 1], atol=2e-5)
    np.testing.assert_allclose(ours, truth.gradients_lps, atol=2e-5)


def test_a_negative_spacing_between_slices_falls_back_to_the_thickness_as_dcm2niix(tmp_path):
    """A negative SpacingBetweenSlices is no spacing: dcm2niix takes SliceThickness; lazyvol
    refused the mosaic, claiming neither attribute gave a spacing. Now the same grid, warned."""
    truth = write_mosaic_series(tmp_path / "in", (16, 12, 7), volumes=2, orientation="oblique")
    for path in truth.files:
        ds = pydicom.dcmread(path)
        ds.SpacingBetweenSlices = "-" + str(ds.SpacingBetweenSlices)
        ds.save_as(path)
    ref = nib.load(run_dcm2niix(tmp_path / "in", tmp_path / "ref"))
    vol = lv.open(tmp_path / "in")
    np.testing.assert_array_equal(on_reference_grid(vol, ref), np.asarray(ref.dataobj))
    assert vol.meta["spacing_between_slices_negative"] == sorted(truth.files)
    assert any("SpacingBetweenSlices (0018,0088) is negative" in w for w in vol.meta["warnings"])


def test_fsl_bvecs_convention_on_a_known_case():
    # LAS image (det < 0, FSL's native radiological storage): no x flip, components are along
    # the voxel axes directly. RAS image (det > 0): x negated.
    g = [[1.0, 0.0, 0.0]]  # LPS +x = towards the patient's left = RAS -x
    las = np.diag([-2.0, 2.0, 2.0, 1.0])
    ras = np.diag([2.0, 2.0, 2.0, 1.0])
    np.testing.assert_allclose(fsl_bvecs(g, las)[:, 0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(fsl_bvecs(g, ras)[:, 0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(world_gradients(fsl_bvecs(g, ras), ras), g, atol=1e-12)


def _nibabel_dwi(tmp_path: Path) -> Path:
    data = Path(nib.__file__).parent / "nicom" / "tests" / "data"
    src = tmp_path / "dwi"
    src.mkdir()
    for name in ("siemens_dwi_0", "siemens_dwi_1000"):
        (src / f"{name}.dcm").write_bytes(gzip.decompress((data / f"{name}.dcm.gz").read_bytes()))
    return src


def test_nibabel_siemens_dwi_bval_bvec_match_dcm2niix(tmp_path):
    src = _nibabel_dwi(tmp_path)
    ref = nib.load(run_dcm2niix(src, tmp_path / "ref"))
    vol = lv.open(src)
    assert vol.shape == ref.shape
    np.testing.assert_array_equal(on_reference_grid(vol, ref), np.asarray(ref.dataobj))
    vol.to_nifti(tmp_path / "lz.nii")
    np.testing.assert_allclose(
        np.loadtxt(tmp_path / "lz.bval"), np.loadtxt(tmp_path / "ref" / "ref.bval")
    )
    ours = world_gradients(np.loadtxt(tmp_path / "lz.bvec"), vol.affine)
    theirs = world_gradients(np.loadtxt(tmp_path / "ref" / "ref.bvec"), ref.affine)
    np.testing.assert_allclose(ours, theirs, atol=2e-6)
    side = json.loads((tmp_path / "lz.json").read_text())
    ref_side = json.loads((tmp_path / "ref" / "ref.json").read_text())
    # (here dcm2niix and lazyvol take the slice times of the second volume: see lazyvol.dicom.bids)
    _compare_sidecars(side, ref_side, vol, ref)


# -- sidecar comparison ---------------------------------------------------------------------------

#: Keys compared with dcm2niix: the acquisition parameters analyses use (timing, contrast,
#: phase encoding, scanner identity). Left out: dcm2niix's own derivations from the private
#: ASCCONV protocol (0029,1020) lazyvol does not read (ShimSetting, ReceiveCoilName, ...; it reads
#: the protocol only for the slice order of a mosaic stating no slice times), the
#: identifying ones (InstitutionName, DeviceSerialNumber, StationName), and ImageType, which
#: dcm2niix rewrites (splits "ECHO_00", appends "MAGNITUDE").
COMPARED = (
    "Modality",
    "MagneticFieldStrength",
    "ImagingFrequency",
    "Manufacturer",
    "ManufacturersModelName",
    "SoftwareVersions",
    "MRAcquisitionType",
    "SeriesDescription",
    "ProtocolName",
    "ScanningSequence",
    "SequenceVariant",
    "ScanOptions",
    "SeriesNumber",
    "SliceThickness",
    "SpacingBetweenSlices",
    "EchoTime",
    "RepetitionTime",
    "FlipAngle",
    "PixelBandwidth",
    "BandwidthPerPixelPhaseEncode",
    "ReconMatrixPE",
    "EffectiveEchoSpacing",
    "TotalReadoutTime",
    "InPlanePhaseEncodingDirectionDICOM",
    "PatientPosition",
    "AcquisitionTime",
    "ImageOrientationPatientDICOM",
)


def _axis_map(vol: lv.Volume, ref: nib.Nifti1Image) -> np.ndarray:
    return np.round(np.linalg.inv(ref.affine[:3, :3]) @ vol.affine[:3, :3] / 1.0).astype(int)


def _compare_sidecars(
    ours: dict, theirs: dict, vol: lv.Volume, ref: nib.Nifti1Image, timing_tol: float = 1e-4
) -> None:
    shared = [k for k in COMPARED if k in theirs]
    assert shared, "no comparable keys"
    for key in shared:
        assert key in ours, f"{key} missing from lazyvol's sidecar"
        a, b = ours[key], theirs[key]
        if key == "AcquisitionTime":  # some dcm2niix versions do not zero-pad the seconds
            a, b = ([float(x) for x in t.split(":")] for t in (a, b))
            assert a == pytest.approx(b, abs=1e-6), key
        elif isinstance(b, float | int) and not isinstance(b, bool):
            assert a == pytest.approx(b, rel=1e-5, abs=1e-9), key
        elif isinstance(b, list) and b and all(isinstance(x, float | int) for x in b):
            np.testing.assert_allclose(a, b, atol=1e-5, err_msg=key)
        else:
            assert a == b, key
    # PhaseEncodingDirection and SliceTiming are per voxel axis: map lazyvol's axes onto dcm2niix's.
    t = np.linalg.inv(ref.affine[:3, :3]) @ vol.affine[:3, :3]
    perm = np.round(t / np.abs(t).max(axis=0, keepdims=True)).astype(int)
    if "PhaseEncodingDirection" in theirs:
        ped = ours["PhaseEncodingDirection"]
        axis = "ijk".index(ped[0])
        sign = -1 if ped.endswith("-") else 1
        col = perm[:, axis]
        ref_axis = int(np.flatnonzero(col)[0])
        ref_sign = sign * int(col[ref_axis])
        expect = "ijk"[ref_axis] + ("-" if ref_sign < 0 else "")
        assert theirs["PhaseEncodingDirection"] == expect
    if "SliceTiming" in theirs:
        ours_t = np.asarray(ours["SliceTiming"])
        if perm[2, 2] < 0:
            ours_t = ours_t[::-1]
        np.testing.assert_allclose(ours_t, theirs["SliceTiming"], atol=timing_tol)


# -- real scanner data ----------------------------------------------------------------------------

SIEMENS = [
    ("dcm_qa_mosaic/In/ep2d_Asc_2", "dcm_qa_mosaic/Ref/2_ep2d_Asc"),
    ("dcm_qa_mosaic/In/ep2d_Int_4", "dcm_qa_mosaic/Ref/4_ep2d_Int"),
    ("dcm_qa_mosaic/In/ep2d_Int_HF_5", "dcm_qa_mosaic/Ref/5_ep2d_Int_HF"),
    ("dcm_qa_mosaic/In/cmrr_Asc_6", "dcm_qa_mosaic/Ref/6_cmrr_Asc"),
    ("dcm_qa_mosaic/In/cmrr_Int_HF_9", "dcm_qa_mosaic/Ref/9_cmrr_Int_HF"),
    ("dcm_qa_nih/In/20180918Si/mr_0003", "dcm_qa_nih/Ref/EPI_PE=AP_3"),
    ("dcm_qa_nih/In/20180918Si/mr_0004", "dcm_qa_nih/Ref/EPI_PE=PA_4"),
    ("dcm_qa_nih/In/20180918Si/mr_0005", "dcm_qa_nih/Ref/EPI_PE=RL_5"),
    ("dcm_qa_nih/In/20180918Si/mr_0006", "dcm_qa_nih/Ref/EPI_PE=LR_6"),
]


@pytest.mark.parametrize("src,ref", SIEMENS, ids=[s.split("/")[-1] for s, _ in SIEMENS])
def test_real_siemens_mosaic_matches_dcm2niix_reference(tmp_path, src, ref):
    if not (REAL / src).is_dir():
        pytest.skip(f"real scanner data not found at {REAL} (set LAZYVOL_REAL_DICOM)")
    vol = lv.open(REAL / src)
    img = nib.load(REAL / f"{ref}.nii")
    assert vol.shape == img.shape
    np.testing.assert_array_equal(on_reference_grid(vol, img), np.asarray(img.dataobj))
    vol.to_nifti(tmp_path / "lz.nii")
    ours = json.loads((tmp_path / "lz.json").read_text())
    theirs = json.loads((REAL / f"{ref}.json").read_text())
    _compare_sidecars(ours, theirs, vol, img)


# -- laziness: one slice reads only its tile rows -------------------------------------------------


def _io_counters() -> dict[str, int]:
    with open("/proc/self/io") as f:
        return {k: int(v) for k, v in (line.split(":") for line in f)}


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs Linux /proc/self/io")
def test_one_slice_reads_only_its_tile_rows(tmp_path):
    # 36 slices of 64x64 in a 6x6 mosaic, 8 volumes: a slice is 1/6 of each file's pixel rows.
    truth = write_mosaic_series(tmp_path, (64, 64, 36), volumes=8)
    vol = lv.open(tmp_path, chunks=(64, 64, 1, 1))
    sizes = [os.path.getsize(f) for f in truth.files]
    vol[:, :, 0:1, 0].compute()  # warm-up: imports and thread pools read files too
    before = _io_counters()
    got = vol[:, :, 17:18, 5].compute()[:, :, 0]
    after = _io_counters()
    np.testing.assert_array_equal(got, truth.stored[:, :, 17, 5])
    read = after["rchar"] - before["rchar"]
    tile_rows = 64 * (6 * 64) * 2  # one row of tiles of one mosaic
    assert tile_rows <= read < tile_rows + 16384, (read, sizes[5])
    assert read < sizes[5] / 4


def test_compressed_mosaic_is_decoded_right(tmp_path):
    pytest.importorskip("pydicom.pixels")
    truth = write_mosaic_series(tmp_path, (16, 12, 7), volumes=2, compress="1.2.840.10008.1.2.5")
    vol = lv.open(tmp_path, chunks=(16, 12, 3, 1))
    np.testing.assert_array_equal(vol.compute(), truth.stored)


def test_implicit_vr_mosaic(tmp_path):
    truth = write_mosaic_series(tmp_path, (8, 8, 5), volumes=2, syntax="implicit", head_first=True)
    vol = lv.open(tmp_path)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-5)


# -- sidecars of every DICOM-derived volume -------------------------------------------------------


def test_sidecar_json_for_a_plain_mr_series(tmp_path):
    from lazyvol.testing import write_dicom_series

    write_dicom_series(
        tmp_path / "in",
        (8, 8, 4),
        modality="MR",
        extra={
            "RepetitionTime": "2500",
            "EchoTime": "4.5",
            "FlipAngle": "9",
            "Manufacturer": "GE MEDICAL SYSTEMS",
            "MagneticFieldStrength": "1.5",
            "InPlanePhaseEncodingDirection": "ROW",
        },
    )
    vol = lv.open(tmp_path / "in")
    vol.to_nifti(tmp_path / "out.nii.gz")
    side = json.loads((tmp_path / "out.json").read_text())
    assert side["RepetitionTime"] == 2.5
    assert side["EchoTime"] == 0.0045
    assert side["FlipAngle"] == 9
    assert side["Manufacturer"] == "GE"
    assert side["MagneticFieldStrength"] == 1.5
    assert side["PhaseEncodingAxis"] == "i"  # polarity unknown without vendor data
    assert not (tmp_path / "out.bval").exists()
    with pytest.raises(lv.errors.WriteError, match="sidecar"):
        vol.to_nifti(tmp_path / "out.nii")  # out.json exists
    vol.to_nifti(tmp_path / "plain.nii", sidecars=False)
    assert not (tmp_path / "plain.json").exists()


def test_sliced_diffusion_volume_keeps_its_table_consistent(tmp_path):
    write_mosaic_series(
        tmp_path / "in", (8, 8, 4), volumes=3, bvals=[0, 1000, 1000], gradients_lps=DWI
    )
    vol = lv.open(tmp_path / "in")
    vol.to_nifti(tmp_path / "whole.nii")
    vol[..., 1:].to_nifti(tmp_path / "part.nii")  # the table of the volumes it holds
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "part.bval"), [1000, 1000])
    np.testing.assert_allclose(
        np.loadtxt(tmp_path / "part.bvec"), np.loadtxt(tmp_path / "whole.bvec")[:, 1:]
    )
    assert (tmp_path / "part.json").exists()
    # the cut's meta holds the table of its volumes: no source index needed
    part = vol[..., 1:]
    del part.meta["source_index"]
    part.to_nifti(tmp_path / "part2.nii")
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "part2.bval"), [1000, 1000])
    # data cut apart from its meta (the whole series' table): no table, a warning
    lost = lv.Volume(vol.data[..., 1:], vol.affine, meta=vol.meta, source=vol.source)
    with pytest.warns(UserWarning, match="diffusion table"):
        lost.to_nifti(tmp_path / "lost.nii")
    assert not (tmp_path / "lost.bval").exists()


# -- bad mosaics: typed errors naming the file and the field --------------------------------------


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"n_in_csa": False, "n_in_private": False}, "NumberOfImagesInMosaic"),
        ({"n_override": 40}, "NumberOfImagesInMosaic"),
        ({"n_override": 0}, "NumberOfImagesInMosaic"),
        ({"n_override": 65535}, "NumberOfImagesInMosaic"),
        # 4 of 5 tiles (a 2x2 grid of a 3x3 mosaic): cut across the tiles; 7: two empty slices.
        # Both agreeing in the CSA header and (0019,100A): only the slice times contradict them.
        ({"n_override": 4}, "MosaicRefAcqTimes lists 5 slice times"),
        ({"n_override": 7}, "MosaicRefAcqTimes lists 5 slice times"),
        ({"csa_override": b"SV10\x04\x03\x02\x01\xff\xff\xff\xff"}, "(0029,1010)"),
        ({"csa_override": b"\0" * ((1 << 20) + 2)}, "larger than 1048576 bytes: not read"),
        ({"drop_csa_tags": ["SliceNormalVector"]}, "SliceNormalVector"),
    ],
    ids=[
        "n-missing",
        "n-too-large",
        "n-zero",
        "n-absurd",
        "n-fewer-than-times",
        "n-more-than-times",
        "csa-unparseable",
        "csa-too-large",
        "no-slice-normal",
    ],
)
def test_bad_mosaic_is_a_format_error(tmp_path, kwargs, field):
    truth = write_mosaic_series(tmp_path, (8, 8, 5), volumes=2, **kwargs)
    with pytest.raises(FormatError) as info:
        lv.open(tmp_path)
    msg = str(info.value)
    assert field in msg
    assert any(os.path.basename(f) in msg for f in truth.files)
    assert "MOSAIC" in msg


def test_mosaic_number_from_private_tag_only(tmp_path):
    truth = write_mosaic_series(tmp_path, (8, 8, 5), volumes=2, n_in_csa=False)
    np.testing.assert_array_equal(lv.open(tmp_path).compute(), truth.stored)


def _drop_mosaic_from_image_type(files: list[str]) -> None:
    """ImageType without MOSAIC; ScanningSequence EP as in every real (EPI) mosaic."""
    for f in files:
        ds = pydicom.dcmread(f)
        ds.ImageType = [t for t in ds.ImageType if t.upper() != "MOSAIC"]
        ds.ScanningSequence = "EP"
        ds.save_as(f)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"n_in_csa": False}, {"n_in_private": False}],
    ids=["both-counts", "private-count-only", "csa-count-only"],
)
def test_mosaic_without_mosaic_in_image_type_is_still_unpacked(tmp_path, kwargs):
    # An edited or re-exported header can lose MOSAIC from ImageType; NumberOfImagesInMosaic
    # still says so (nibabel's MosaicWrapper and GDCM decide by the CSA count alone). Never one
    # big slice of tiles.
    from nibabel.nicom import dicomwrappers

    truth = write_mosaic_series(tmp_path, (8, 6, 5), volumes=2, **kwargs)
    _drop_mosaic_from_image_type(truth.files)
    vol = lv.open(tmp_path)
    assert vol.shape == (8, 6, 5, 2)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-5)
    if kwargs.get("n_in_csa", True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = dicomwrappers.wrapper_from_file(truth.files[0])
        assert isinstance(w, dicomwrappers.MosaicWrapper)  # nibabel agrees it is a mosaic


def test_unpackable_mosaic_without_mosaic_in_image_type_is_refused(tmp_path):
    # The count says 40 slices, a 7x7 grid, which does not divide the 18x24 mosaic: refused
    # naming the count, not read as one slice of the whole mosaic.
    truth = write_mosaic_series(tmp_path, (8, 6, 5), volumes=1, n_override=40)
    _drop_mosaic_from_image_type(truth.files)
    with pytest.raises(FormatError, match="NumberOfImagesInMosaic") as info:
        lv.open(tmp_path)
    assert "as one slice" in str(info.value)


def test_siemens_image_without_mosaic_evidence_is_read_whole(tmp_path):
    # No MOSAIC in ImageType and no NumberOfImagesInMosaic anywhere: nothing says mosaic, so the
    # 18x24 image is one slice, as pydicom reads it (no tiling guessed from the geometry).
    truth = write_mosaic_series(tmp_path, (8, 6, 5), volumes=1, n_in_csa=False, n_in_private=False)
    _drop_mosaic_from_image_type(truth.files)
    vol = lv.open(tmp_path)
    assert vol.shape == (24, 18, 1)
    ds = pydicom.dcmread(truth.files[0])
    np.testing.assert_array_equal(vol.compute()[:, :, 0], ds.pixel_array.T)


def test_nifti_header_states_phase_axis_and_slice_timing(tmp_path):
    """dim_info (frequency, phase, slice axes) and the slice timing in the NIfTI header, as
    dcm2niix writes them; nibabel's own decoding of the header gives the sidecar's SliceTiming.
    A cut along k whose slices were not acquired at a regular step gets no code."""
    truth = write_mosaic_series(tmp_path / "in", (8, 8, 7), volumes=2, phase="COL")
    vol = lv.open(tmp_path / "in")
    hdr = nib.load(vol.to_nifti(tmp_path / "all.nii")).header
    assert hdr.get_dim_info() == (0, 1, 2)  # phase along j (COL), frequency along i
    times = [t / 1000 for t in truth.slice_times_ms]
    assert hdr.get_value_label("slice_code") == "alternating increasing"
    np.testing.assert_allclose(hdr.get_slice_times(), times, atol=1e-4)
    row = write_mosaic_series(tmp_path / "row", (8, 8, 7), volumes=2, phase="ROW")
    assert row.files
    hdr = nib.load(lv.open(tmp_path / "row").to_nifti(tmp_path / "row.nii")).header
    assert hdr.get_dim_info() == (1, 0, 2)
    # Slices 1, 3, 5: acquired one after the other, one slot apart (relative times, as NIfTI's).
    odd = nib.load(vol[:, :, 1:6:2].to_nifti(tmp_path / "odd.nii")).header
    assert odd.get_value_label("slice_code") == "sequential increasing"
    np.testing.assert_allclose(
        odd.get_slice_times(), np.subtract(times[1:6:2], times[1]), atol=1e-4
    )
    part = nib.load(vol[:, :, ::3].to_nifti(tmp_path / "part.nii")).header  # slots 0, 5, 3
    assert part.get_dim_info() == (0, 1, 2) and int(part["slice_code"]) == 0
    # Axes moved (k first): dim_info follows them; no slice order (k is no longer the third axis).
    moved = lv.Volume(vol.data.transpose(2, 1, 0, 3), vol.affine[:, [2, 1, 0, 3]], meta=vol.meta)
    hdr = nib.load(moved.to_nifti(tmp_path / "moved.nii")).header
    assert hdr.get_dim_info() == (2, 1, 0) and int(hdr["slice_code"]) == 0


def test_sidecar_follows_slicing_and_flips(tmp_path):
    truth = write_mosaic_series(tmp_path / "in", (8, 8, 7), volumes=2, phase="COL")
    vol = lv.open(tmp_path / "in")
    times = [t / 1000 for t in truth.slice_times_ms]  # F>>H: tile k is slice k
    vol.to_nifti(tmp_path / "all.nii")
    side = json.loads((tmp_path / "all.json").read_text())
    assert side["PhaseEncodingDirection"] == "j"  # COL, positive polarity, rows top to bottom
    np.testing.assert_allclose(side["SliceTiming"], times, atol=1e-5)
    vol[:, ::-1, 5:1:-2].to_nifti(tmp_path / "part.nii")
    side = json.loads((tmp_path / "part.json").read_text())
    assert side["PhaseEncodingDirection"] == "j-"
    np.testing.assert_allclose(side["SliceTiming"], [times[5], times[3]], atol=1e-5)
    # axes transposed: i <-> j
    moved = lv.Volume(vol.data.transpose(1, 0, 2, 3), vol.affine[:, [1, 0, 2, 3]], meta=vol.meta)
    moved.to_nifti(tmp_path / "t.nii")
    assert json.loads((tmp_path / "t.json").read_text())["PhaseEncodingDirection"] == "i"


def test_pydicom_reader_path_gives_the_same_mosaic(tmp_path, monkeypatch):
    # the header walker off: pydicom's reader must capture the CSA header the same way
    from lazyvol.dicom import header

    truth = write_mosaic_series(
        tmp_path, (8, 6, 5), volumes=2, head_first=True, bvals=[0, 700], gradients_lps=DWI[:2]
    )
    by_pydicom = [r.to_list() for f in truth.files for r in header.read_header(f, walker=False)]
    walked = [r.to_list() for f in truth.files for r in header.read_header(f)]
    assert by_pydicom == walked and len(walked) == 5 * len(truth.files)
    vol = lv.open(tmp_path, use_index=False)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-5)
    assert vol.meta["diffusion"]["bvals"] == [0.0, 700.0]


def test_truncated_mosaic_is_a_format_error(tmp_path):
    truth = write_mosaic_series(tmp_path, (8, 8, 5), volumes=2)
    data = Path(truth.files[1]).read_bytes()
    Path(truth.files[1]).write_bytes(data[: len(data) - 100])
    with pytest.raises(FormatError) as info:
        lv.open(tmp_path)
    assert truth.files[1] in str(info.value) and "Pixel Data (7FE0,0010)" in str(info.value)


def test_scan_index_stores_one_entry_per_mosaic_file(tmp_path):
    import importlib

    from lazyvol.dicom.header import read_header

    scan_mod = importlib.import_module("lazyvol.dicom.scan_index")
    truth = write_mosaic_series(tmp_path, (8, 6, 7), volumes=3, head_first=True)
    first = scan_mod.scan_files(str(tmp_path), use_index=True)
    again = scan_mod.scan_files(str(tmp_path), use_index=True)
    fresh = [r.to_list() for f in truth.files for r in read_header(f)]
    assert sorted(map(str, (r.to_list() for r in first.records))) == sorted(map(str, fresh))
    assert sorted(map(str, (r.to_list() for r in again.records))) == sorted(map(str, fresh))
    doc = read_json_checked(scan_mod.index_path(str(tmp_path)))
    assert all("mosaic" in e[-1] for e in doc["entries"].values())
    np.testing.assert_array_equal(lv.open(tmp_path).compute(), truth.stored)
    reopened = lv.open(tmp_path)  # from the saved scan report
    np.testing.assert_array_equal(reopened.compute(), truth.stored)
    assert reopened.meta["bids"] == lv.open(tmp_path, use_index=False).meta["bids"]


def test_siemens_2d_slice_timing_from_acquisition_time(tmp_path):
    from lazyvol.testing import write_dicom_series

    order = [0, 2, 4, 1, 3, 5]  # interleaved
    per = [{"AcquisitionTime": f"1000{order.index(k) * 0.3:09.6f}"} for k in range(6)]
    write_dicom_series(
        tmp_path / "in",
        (8, 8, 6),
        modality="MR",
        extra={"Manufacturer": "SIEMENS", "RepetitionTime": "2000", "EchoTime": "30"},
        per_slice=per,
    )
    vol = lv.open(tmp_path / "in")
    expected = [order.index(k) * 0.3 for k in range(6)]
    np.testing.assert_allclose(vol.meta["bids"]["SliceTiming"], expected, atol=1e-9)
    run_dcm2niix(tmp_path / "in", tmp_path / "ref")
    theirs = json.loads((tmp_path / "ref" / "ref.json").read_text())["SliceTiming"]
    # dcm2niix keeps times of day in single precision: its values are within ~2 ms of the truth
    np.testing.assert_allclose(vol.meta["bids"]["SliceTiming"], theirs, atol=5e-3)


def test_split_4d_mosaic_volumes(tmp_path):
    truth = write_mosaic_series(tmp_path, (8, 6, 5), volumes=3, head_first=True)
    report = lv.scan(tmp_path, split_4d=True)
    assert len(report) == 3
    for t in range(3):
        vol = lv.open(tmp_path, series=f"#{t}", split_4d=True)
        np.testing.assert_array_equal(vol.compute(), truth.stored[..., t])
        np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-5)


def test_mosaic_without_spacing_between_slices_says_where_its_spacing_comes_from(tmp_path):
    """The tiles of a mosaic file share one ImagePositionPatient: without SpacingBetweenSlices
    the slice step can only be SliceThickness (dcm2niix's choice too), which misses a gap
    between slices. lazyvol takes it but says so, in a warning and in meta."""
    import pydicom

    truth = write_mosaic_series(tmp_path / "m", (16, 12, 7), volumes=2)
    plain = lv.open(tmp_path / "m")
    assert "slice_spacing_source" not in plain.meta
    for f in truth.files:
        ds = pydicom.dcmread(f)
        del ds.SpacingBetweenSlices
        ds.save_as(f)
    (info,) = lv.scan(tmp_path / "m")
    assert any("SpacingBetweenSlices (0018,0088) is missing" in w for w in info.warnings)
    vol = lv.open(tmp_path / "m")
    assert vol.meta["slice_spacing_source"] == "SliceThickness"
    np.testing.assert_allclose(vol.affine, plain.affine, atol=1e-6)  # thickness = spacing here


def test_no_slice_timing_from_acquisition_times_too_coarse_to_tell_slices_apart(tmp_path):
    """AcquisitionTime cut to whole seconds (an exporter or anonymiser) for 11 interleaved slices
    0.2 s apart: the times rounded put slices 0.2 s apart at one moment (dcm2niix writes them so).
    No SliceTiming rather than a wrong one; the same times with milliseconds give the truth."""
    from lazyvol.testing import write_dicom_series

    order = [*range(0, 11, 2), *range(1, 11, 2)]  # interleaved
    truth = [order.index(k) * 0.2 for k in range(11)]
    extra = {"Manufacturer": "SIEMENS", "RepetitionTime": "2200", "EchoTime": "30"}
    for name, fmt in (("ms", "{:06.3f}"), ("s", "{:02.0f}")):
        per = [{"AcquisitionTime": "1000" + fmt.format(10.5 + t)} for t in truth]
        write_dicom_series(tmp_path / name, (8, 8, 11), modality="MR", extra=extra, per_slice=per)
    np.testing.assert_allclose(
        lv.open(tmp_path / "ms").meta["bids"]["SliceTiming"], truth, atol=1e-9
    )
    assert "SliceTiming" not in lv.open(tmp_path / "s").meta["bids"]


def test_mosaic_without_private_elements_names_the_fix(tmp_path: Path) -> None:
    """A mosaic series anonymised with its private elements removed (the CSA header with
    NumberOfImagesInMosaic gone): refused (the number of slices, and so the slice positions, are
    unknown), naming why the header is missing and how to keep it."""
    write_mosaic_series(tmp_path, volumes=2)
    for f in tmp_path.glob("*.dcm"):
        ds = pydicom.dcmread(f)
        ds.remove_private_tags()
        ds.save_as(f, enforce_file_format=False)
    with pytest.raises(lv.FormatError) as e:
        lv.open(tmp_path, use_index=False)
    assert "private elements were removed" in str(e.value)
    assert "keeping the private groups 0019 and 0029" in str(e.value)
