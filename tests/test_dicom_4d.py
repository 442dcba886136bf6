"""4D series stored one file per slice (fMRI, DWI, complex data) and enhanced multi-frame splits.

Truth is the synthetic writer's (:func:`lazyvol.testing.write_dicom_4d_series`) and dcm2niix's own
conversion of the same files (the ``dcm2niix`` binary from the test dependencies, run in tmp dirs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.dicom.dicom_time import tm_seconds as acquisition_seconds
from lazyvol.dicom.ordering import RULE_NAMES, order_volumes
from lazyvol.dicom.saved_scan import read_json_checked, write_json_atomic
from lazyvol.errors import SeriesError
from lazyvol.testing import dicom_time, write_dicom_4d_series, write_enhanced_dicom

pytestmark = pytest.mark.usefixtures("dicom_cache")

SHAPE = (12, 10, 5)
BVALS = [0.0, 1000.0, 1000.0, 0.0, 2000.0]
BVECS = [(0, 0, 0), (0.6, 0, 0.8), (0, 0.6, 0.8), (0, 0, 0), (0, -1, 0)]


def _dcm2niix(src: Path, out: Path) -> list[Path]:
    exe = shutil.which("dcm2niix")
    if exe is None:
        pytest.skip("dcm2niix binary not installed (pip install dcm2niix)")
    out.mkdir()
    run = subprocess.run(
        [exe, "-b", "y", "-z", "n", "-f", "%s_%e", "-o", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return sorted(out.glob("*.nii"))


def _dimension_index(ds, pointers) -> None:
    """Set ``ds``'s DimensionIndexSequence: one item per (DimensionIndexPointer,
    FunctionalGroupPointer) pair, or per pointer (in FrameContentSequence)."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    dims = []
    for entry in pointers:
        ptr, group = entry if isinstance(entry, tuple) else (entry, 0x00209111)
        item = Dataset()
        item.DimensionIndexPointer = ptr
        item.FunctionalGroupPointer = group
        dims.append(item)
    ds.DimensionIndexSequence = DicomSequence(dims)


def _fsl_bvecs(vol: lv.Volume, ref_affine: np.ndarray) -> np.ndarray:
    """FSL/dcm2niix bvecs (3 x n) from lazyvol's LPS gradients, in the reference voxel frame."""
    g_lps = np.asarray(vol.meta["diffusion"]["gradients_lps"], float)
    g_ras = g_lps * [-1, -1, 1]
    r = np.asarray(ref_affine, float)[:3, :3]
    unit = r / np.linalg.norm(r, axis=0)
    bvec = g_ras @ unit
    if np.linalg.det(r) > 0:  # FSL convention: x flipped for a right-handed (neurological) grid
        bvec[:, 0] *= -1
    return bvec.T


@pytest.mark.parametrize(
    ("labels", "numbering", "rule"),
    [
        ((), "volume", "InstanceNumber (0020,0013) rank"),
        ((), "position", "InstanceNumber (0020,0013) rank"),
        (("AcquisitionTime",), "position", "AcquisitionTime (0008,0032) rank"),
        (("TemporalPositionIdentifier",), "volume", "TemporalPositionIdentifier (0020,0100)"),
        (("AcquisitionNumber",), "position", "AcquisitionNumber (0020,0012)"),
    ],
)
def test_fmri_one_file_per_slice_matches_truth(tmp_path, labels, numbering, rule):
    truth = write_dicom_4d_series(
        tmp_path / "s", SHAPE, 4, labels=labels, numbering=numbering, orientation="oblique"
    )
    vol = lv.open(tmp_path / "s")
    assert vol.shape == (*SHAPE, 4)
    assert vol.meta["axis4_rule"] == rule
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-5)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert "diffusion" not in vol.meta


def test_fmri_matches_dcm2niix(tmp_path):
    write_dicom_4d_series(tmp_path / "s", SHAPE, 4, labels=(), numbering="position", seed=5)
    (ref,) = _dcm2niix(tmp_path / "s", tmp_path / "out")
    from test_dicom_realdata import compare_with_reference

    compare_with_reference(lv.open(tmp_path / "s"), ref)


@pytest.mark.parametrize("vendor", ["standard", "GE", "SIEMENS", "PHILIPS"])
@pytest.mark.parametrize("orientation", ["axial", "oblique"])
def test_dwi_vendor_tags_match_truth_and_dcm2niix(tmp_path, vendor, orientation):
    truth = write_dicom_4d_series(
        tmp_path / "s",
        SHAPE,
        labels=(),
        bvals=BVALS,
        bvecs=BVECS,
        vendor=vendor,
        ge_bvalue_offset=vendor == "GE",
        orientation=orientation,
    )
    vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    diff = vol.meta["diffusion"]
    assert diff["bvals"] == BVALS
    if vendor != "GE":  # GE stores image-frame directions; lazyvol converts them to LPS
        np.testing.assert_allclose(diff["gradients_lps"], BVECS, atol=1e-6)
    (ref,) = _dcm2niix(tmp_path / "s", tmp_path / "out")
    from test_dicom_realdata import compare_with_reference

    compare_with_reference(vol, ref)
    bval = np.loadtxt(ref.with_suffix(".bval"))
    np.testing.assert_allclose(diff["bvals"], bval)
    bvec = np.loadtxt(ref.with_suffix(".bvec"))
    np.testing.assert_allclose(_fsl_bvecs(vol, nib.load(ref).affine), bvec, atol=1e-4)


@pytest.mark.parametrize(
    "cut", [np.s_[..., ::-1], np.s_[..., 1:4], np.s_[..., 4::-2], np.s_[..., 4]]
)
def test_a_dwi_cut_along_its_4th_axis_writes_the_table_of_its_volumes(tmp_path, cut):
    """vol[..., ::-1] kept the 4th axis' length, so its .bval/.bvec were written in the source's
    order (the first volume b = 2000 labelled b = 0); a cut (1:4) wrote none. Each written volume
    gets its row of the whole series' table (b-values: dcm2niix's), in the volume's order."""
    write_dicom_4d_series(tmp_path / "s", SHAPE, labels=(), bvals=BVALS, bvecs=BVECS)
    (ref,) = _dcm2niix(tmp_path / "s", tmp_path / "out")
    vol = lv.open(tmp_path / "s")
    whole = vol.compute()
    vol.to_nifti(tmp_path / "whole.nii")
    out = vol[cut].to_nifti(tmp_path / "cut.nii")
    data = np.asanyarray(nib.load(out).dataobj)
    data = data[..., None] if data.ndim == 3 else data
    # which source volume each written volume is, by its voxels (all differ)
    order = [
        next(t for t in range(whole.shape[3]) if np.array_equal(data[..., n], whole[..., t]))
        for n in range(data.shape[3])
    ]
    bval = np.loadtxt(ref.with_suffix(".bval"))
    np.testing.assert_allclose(np.atleast_1d(np.loadtxt(tmp_path / "cut.bval")), bval[order])
    got = np.loadtxt(tmp_path / "cut.bvec").reshape(3, -1)
    np.testing.assert_allclose(got, np.loadtxt(tmp_path / "whole.bvec")[:, order], atol=1e-6)


@pytest.mark.parametrize(
    "cut", [np.s_[..., 2:4], np.s_[..., ::-1], np.s_[..., 3], np.s_[..., 3::-2]]
)
def test_a_cut_along_t_states_its_own_acquisition_time_and_number(tmp_path, cut):
    """vol[..., 2:4] of a time series: its sidecar gave the whole series' first AcquisitionTime
    and AcquisitionNumber (09:02:57.49 and 1 for dcm_qa_mosaic ep2d_Int_4, where dcm2niix on the
    files of volumes 3 and 4 gives 09:03:03.89 and 3); now the earliest kept volume's, also
    through a store (h92)."""
    write_dicom_4d_series(tmp_path / "s", SHAPE, 5, labels=("AcquisitionTime", "AcquisitionNumber"))
    by_volume: dict[int, list[float]] = {}
    for f in (tmp_path / "s").iterdir():
        ds = pydicom.dcmread(f)
        ds.AcquisitionDate = "20240228"  # (dcm2niix writes no AcquisitionTime without its date)
        ds.save_as(f)
        by_volume.setdefault(int(ds.AcquisitionNumber), []).append(
            acquisition_seconds(ds.AcquisitionTime)
        )
    kept = [int(t) + 1 for t in np.atleast_1d(np.arange(5)[cut[-1]])]
    first = min(kept, key=lambda n: min(by_volume[n]))
    t = min(by_volume[first])
    want = f"{int(t // 3600):02d}:{int(t % 3600 // 60):02d}:{t % 60:09.6f}"
    vol = lv.open(tmp_path / "s")[cut]
    vol.to_nifti(tmp_path / "cut.nii")
    lv.open(vol.to_zarr(tmp_path / "cut.zarr")).to_nifti(tmp_path / "via.nii")
    for name in ("cut.json", "via.json"):
        doc = json.loads((tmp_path / name).read_text())
        assert (doc["AcquisitionTime"], doc["AcquisitionNumber"]) == (want, first), name


def test_magnitude_and_phase_are_split_not_stacked(tmp_path):
    truth = write_dicom_4d_series(tmp_path / "s", SHAPE, components=["M", "P"], labels=())
    report = lv.scan(tmp_path / "s")
    assert len(report) == 2
    kinds = sorted(i.meta.get("image_component") for i in report)
    assert kinds == ["MAGNITUDE", "PHASE"]
    for info in report:
        assert info.shape == SHAPE
        assert any("image kind" in r for r in info.reasons)
        t = ["MAGNITUDE", "PHASE"].index(info.meta["image_component"])
        vol = lv.open(tmp_path / "s", series=info.id)
        np.testing.assert_array_equal(vol.compute(), truth.stored[..., t])


def test_split_4d_and_instance_order_options(tmp_path):
    truth = write_dicom_4d_series(tmp_path / "s", SHAPE, 3, labels=())
    parts = lv.scan(tmp_path / "s", split_4d=True)
    assert [p.shape for p in parts] == [SHAPE] * 3
    vol = lv.open(tmp_path / "s", series=parts[2].id, split_4d=True)
    np.testing.assert_array_equal(vol.compute(), truth.stored[..., 2])


def test_scrambled_instance_numbers_refused_with_rules_and_option(tmp_path):
    from pydicom import dcmread

    truth = write_dicom_4d_series(tmp_path / "s", SHAPE, 3, labels=(), shuffle_names=False)
    # renumber: volumes interleave irregularly (neither volume- nor position-major)
    rng = np.random.default_rng(0)
    nums = rng.permutation(len(truth.files)) + 1
    for path, n in zip(truth.files, nums):
        ds = dcmread(path)
        ds.InstanceNumber = int(n)
        ds.save_as(path)
    with pytest.raises(SeriesError) as err:
        lv.open(tmp_path / "s")
    msg = str(err.value)
    for name in RULE_NAMES:
        assert name in msg
    assert "instance_order=True" in msg
    vol = lv.open(tmp_path / "s", instance_order=True)
    assert vol.shape == (*SHAPE, 3)
    assert vol.meta["relaxations"]["instance_order"] is True


def test_unequal_repeats_refused(tmp_path):
    truth = write_dicom_4d_series(tmp_path / "s", SHAPE, 3, labels=(), shuffle_names=False)
    os.remove(truth.files[-1])
    with pytest.raises(SeriesError, match="different number of times"):
        lv.open(tmp_path / "s")


def test_order_rules_unit():
    from lazyvol.dicom.records import FrameRecord

    def rec(k: int, t: int, **kw) -> FrameRecord:
        return FrameRecord(path=f"{k}-{t}", size=0, mtime_ns=0, transfer_syntax="", **kw)

    # echo labels: volumes sorted by echo number whatever the instance numbers
    groups = [
        [rec(k, t, echo_number=2 - t, instance_number=10 * k + t) for t in range(2)]
        for k in range(3)
    ]
    got = order_volumes(groups)
    assert not isinstance(got, str)
    assert got.rule == "EchoNumbers (0018,0086)"
    assert [r.echo_number for r in got.volumes[0]] == [1, 1, 1]
    # diffusion labels keep acquisition order, not b-value order
    groups = [
        [
            rec(k, t, b_value=b, gradient=[0, 0, 1], instance_number=t * 3 + k + 1)
            for t, b in enumerate([1000.0, 0.0, 500.0])
        ]
        for k in range(3)
    ]
    got = order_volumes(groups)
    assert not isinstance(got, str)
    assert got.values["DiffusionBValue"] == [1000.0, 0.0, 500.0]
    # a rank that mixes echoes inside a volume is rejected
    groups = [
        [rec(k, t, echo_number=1 + (t + k) % 2, instance_number=t) for t in range(2)]
        for k in range(2)
    ]
    groups[0][0].echo_number = groups[0][1].echo_number = 1
    assert isinstance(order_volumes(groups), str)
    assert acquisition_seconds("101502.5") == pytest.approx(36902.5)
    assert acquisition_seconds("10:15:02") == pytest.approx(36902.0)
    assert acquisition_seconds("bad") is None
    assert acquisition_seconds("256000") is None  # hour 25: not a time (it was 92,400 s)


def _enhanced_mag_fieldmap(path: Path) -> None:
    """A Philips-like enhanced file: magnitude and B0 field map frames at the same positions."""
    from pydicom import dcmread
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    write_enhanced_dicom(path, SHAPE, n_volumes=2, volume_tag="EffectiveEchoTime")
    ds = dcmread(path)
    ds.Manufacturer = "Philips Medical Systems"
    nk = SHAPE[2]
    _dimension_index(ds, (0x00209056, 0x00209057, 0x00089007))
    for n, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        t, k = divmod(n, nk)
        ft = Dataset()
        ft.FrameType = ["ORIGINAL", "PRIMARY", "M_FFE" if t == 0 else "B0 MAP", "NONE"]
        ft.ComplexImageComponent = "MAGNITUDE"
        item.MRImageFrameTypeSequence = DicomSequence([ft])
        item.MREchoSequence[0].EffectiveEchoTime = [0.0, 1.52][t]
        item.FrameContentSequence[0].DimensionIndexValues = [1, k + 1, t + 1]
    ds.save_as(path)


def test_enhanced_magnitude_and_field_map_are_separate_volumes(tmp_path):
    _enhanced_mag_fieldmap(tmp_path / "e.dcm")
    report = lv.scan(tmp_path / "e.dcm")
    assert len(report) == 2, report
    assert sorted(i.meta.get("image_component", "") for i in report) == ["FIELD_MAP", "MAGNITUDE"]
    for info in report:
        assert info.shape == SHAPE
        assert info.axis4 is None


def test_enhanced_dimension_index_values_order_volumes(tmp_path):
    from pydicom import dcmread

    path = tmp_path / "t.dcm"
    truth = write_enhanced_dicom(path, SHAPE, n_volumes=3)
    ds = dcmread(path)
    _dimension_index(ds, (0x00209057, 0x00209128))
    nk = SHAPE[2]
    for n, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        t, k = divmod(n, nk)
        fc = item.FrameContentSequence[0]
        fc.DimensionIndexValues = [k + 1, t + 1]
        del fc.TemporalPositionIndex  # only the dimension index says which volume
    ds.save_as(path)
    vol = lv.open(path)
    assert vol.meta["axis4_rule"] == "DimensionIndexValues (0020,9157)"
    np.testing.assert_array_equal(vol.compute(), truth.stored)


def test_enhanced_one_file_per_volume_is_one_4d_volume(tmp_path):
    """Siemens XA style: each volume an enhanced file of the same series -> one 4D volume."""
    from pydicom import dcmread

    stored = []
    uid = None
    for t in range(3):
        path = tmp_path / f"v{t}.dcm"
        tr = write_enhanced_dicom(path, SHAPE, seed=t)
        ds = dcmread(path)
        uid = uid or ds.SeriesInstanceUID
        ds.SeriesInstanceUID = uid
        ds.StudyInstanceUID = "1.2.3"
        ds.FrameOfReferenceUID = "1.2.3.4"
        ds.InstanceNumber = t + 1
        ds.AcquisitionNumber = t + 1
        ds.save_as(path)
        stored.append(tr.stored)
    report = lv.scan(tmp_path)
    assert len(report) == 1, report
    vol = lv.open(tmp_path)
    assert vol.shape == (*SHAPE, 3)
    np.testing.assert_array_equal(vol.compute(), np.stack(stored, axis=-1))


def _nibabel_data(name: str) -> Path:
    path = Path(nib.__file__).parent / "nicom" / "tests" / "data" / name
    if not path.exists():
        pytest.skip(f"nibabel test file {name} not shipped with this nibabel")
    return path


def test_gzipped_dicom_is_reported_as_such(tmp_path):
    shutil.copy(_nibabel_data("siemens_dwi_0.dcm.gz"), tmp_path / "a.dcm.gz")
    (tmp_path / "notdicom.gz").write_bytes(__import__("gzip").compress(b"hello" * 100))
    report = lv.scan(tmp_path)
    reasons = dict((Path(p).name, r) for p, r in report.skipped)
    assert reasons["a.dcm.gz"].startswith("gzip-compressed DICOM file")
    assert "gunzip" in reasons["a.dcm.gz"]
    assert reasons["notdicom.gz"].startswith("not a DICOM file")


@pytest.mark.parametrize(("option", "flag"), [("rescale", "n"), ("fp", "y")])
def test_philips_enhanced_scaling_matches_dcm2niix(tmp_path, option, flag):
    """nibabel's Philips enhanced MPRAGE: DICOM rescale (dcm2niix -p n) or Philips FP (-p y)."""
    import gzip

    src = tmp_path / "in"
    src.mkdir()
    (src / "p.dcm").write_bytes(
        gzip.decompress(_nibabel_data("philips_mprage.dcm.gz").read_bytes())
    )
    exe = shutil.which("dcm2niix")
    if exe is None:
        pytest.skip("dcm2niix binary not installed (pip install dcm2niix)")
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(
        [exe, "-p", flag, "-b", "n", "-z", "n", "-f", "%s", "-o", str(out), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (ref,) = sorted(out.glob("*.nii"))
    vol = lv.open(src, philips_scaling=option)
    assert vol.meta["philips_scaling"].startswith(f"{option}:")  # which values these are
    said = [w for w in vol.meta.get("warnings", []) if 'philips_scaling="fp"' in w]
    assert len(said) == (option == "rescale")  # the default says dcm2niix writes the others
    from test_dicom_realdata import compare_with_reference

    compare_with_reference(vol, ref)


@pytest.mark.parametrize("varying", [False, True])
def test_philips_varying_scalings_are_display_values_as_dcm2niix_writes_them(
    tmp_path, varying, dcm2niix
):
    """dcm2niix's precise-float option (-p y, its default) needs one scaling per volume: when
    RescaleSlope/RescaleIntercept/scale slope vary between the frames it writes display values,
    which lazyvol's default gives too, without the warning that dcm2niix writes others."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    path = tmp_path / "in" / "p.dcm"
    truth = write_enhanced_dicom(path, SHAPE, dtype="uint16")  # one volume: a scaling per slice
    ds = pydicom.dcmread(path)
    ds.Manufacturer = "Philips Medical Systems"
    scalings = [
        (1.5 + 0.25 * k, -10.0 * k, 0.01 * (k + 1)) if varying else (1.5, -10.0, 0.02)
        for k in range(SHAPE[2])
    ]
    _dimension_index(ds, (0x00209056, 0x00209057))  # StackID, InStackPositionNumber
    for n, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        item.FrameContentSequence[0].StackID = "1"
        item.FrameContentSequence[0].DimensionIndexValues = [1, n + 1]
        rs, ri, ss = scalings[n]
        item.PixelValueTransformationSequence[0].RescaleSlope = f"{rs:g}"
        item.PixelValueTransformationSequence[0].RescaleIntercept = f"{ri:g}"
        private = Dataset()
        private.add_new(0x20050010, "LO", "Philips MR Imaging DD 001")
        private.add_new(0x2005100E, "FL", ss)
        item.add_new(0x20050014, "LO", "Philips MR Imaging DD 005")
        item.add_new(0x2005140F, "SQ", DicomSequence([private]))
    ds.add_new(0x20050010, "LO", "Philips MR Imaging DD 001")
    ds.add_new(0x20050014, "LO", "Philips MR Imaging DD 005")
    ds.save_as(path)
    (ref,) = dcm2niix(path.parent, tmp_path / "out")  # -p y is dcm2niix's default
    vol = lv.open(path)
    display = np.stack(
        [truth.stored[..., k] * rs + ri for k, (rs, ri, _) in enumerate(scalings)], -1
    )
    np.testing.assert_allclose(vol.compute(), display, rtol=1e-6)
    warned = [w for w in vol.meta.get("warnings", []) if 'philips_scaling="fp"' in w]
    assert len(warned) == (not varying)  # the default differs from dcm2niix only when uniform
    assert ("vary between the images" in vol.meta["philips_scaling"]) == varying
    from test_dicom_realdata import compare_with_reference

    compare_with_reference(lv.open(path, philips_scaling="fp" if not varying else "rescale"), ref)


def test_philips_scaling_option_is_checked(tmp_path):
    write_dicom_4d_series(tmp_path / "s", SHAPE, 2, labels=())
    with pytest.raises(ValueError, match="philips_scaling"):
        lv.scan(tmp_path / "s", philips_scaling="display")


@pytest.mark.parametrize("labels", [(), ("AcquisitionTime",)])
def test_multi_echo_time_series_one_volume_per_echo_as_dcm2niix(tmp_path, labels):
    truth = write_dicom_4d_series(tmp_path / "s", SHAPE, 3, labels=labels, echoes=2)
    report = lv.scan(tmp_path / "s")
    assert len(report) == 2, report
    assert all(any("one volume per echo" in r for r in i.reasons) for i in report)
    refs = _dcm2niix(tmp_path / "s", tmp_path / "out")
    assert len(refs) == 2
    from test_dicom_realdata import compare_with_reference

    for info in report:
        (echo,) = info.meta["echo_numbers"]
        vol = lv.open(tmp_path / "s", series=info.id)
        assert vol.shape == (*SHAPE, 3)
        np.testing.assert_array_equal(vol.compute(), truth.stored[..., echo - 1 :: 2])
        (ref,) = [r for r in refs if r.stem.endswith(f"_{echo}")]
        compare_with_reference(vol, ref)


def test_multi_echo_time_series_without_echo_numbers_splits_by_echo_time(tmp_path):
    """EchoNumbers (0018,0086) is optional (type 3): a multi-echo time series without it is
    still one volume per echo, told apart by EchoTime (its echoes were stacked as more time
    points). dcm2niix also writes one volume per echo."""
    truth = write_dicom_4d_series(tmp_path / "s", SHAPE, 3, labels=(), echoes=2)
    times = set()
    for f in truth.files:
        ds = pydicom.dcmread(f)
        del ds.EchoNumbers
        times.add(float(ds.EchoTime))
        ds.save_as(f)
    report = lv.scan(tmp_path / "s")
    assert len(report) == 2, report
    assert all(any("EchoTime (0018,0081) differ" in r for r in i.reasons) for i in report)
    first_echo = min(times)
    for info in report:
        (te,) = info.meta["echo_times"]
        echo = 0 if te == first_echo else 1
        vol = lv.open(tmp_path / "s", series=info.id)
        assert vol.shape == (*SHAPE, 3)
        np.testing.assert_array_equal(vol.compute(), truth.stored[..., echo::2])
    refs = _dcm2niix(tmp_path / "s", tmp_path / "out")
    assert len(refs) == 2


def test_philips_isotropic_trace_volume_is_separate_as_dcm2niix(tmp_path):
    bvals = [0.0, 1000.0, 1000.0, 1000.0]
    bvecs = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 0)]  # last: the derived trace image
    truth = write_dicom_4d_series(
        tmp_path / "s", SHAPE, labels=(), bvals=bvals, bvecs=bvecs, vendor="PHILIPS"
    )
    report = lv.scan(tmp_path / "s")
    assert sorted(len(i.shape) for i in report) == [3, 4]
    dwi = next(i for i in report if len(i.shape) == 4)
    vol = lv.open(tmp_path / "s", series=dwi.id)
    np.testing.assert_array_equal(vol.compute(), truth.stored[..., :3])
    assert vol.meta["diffusion"]["bvals"] == bvals[:3]
    refs = _dcm2niix(tmp_path / "s", tmp_path / "out")
    from test_dicom_realdata import compare_with_reference

    # dcm2niix also keeps a copy with the trace volume, named *_ADC
    main = [r for r in refs if not r.stem.endswith("_ADC")]
    assert len(main) == 1
    compare_with_reference(vol, main[0])
    np.testing.assert_allclose(np.loadtxt(main[0].with_suffix(".bval")), bvals[:3])


def test_old_scan_index_without_new_record_fields_is_not_misread(tmp_path):
    """An index written before FrameRecord gained its 4D/diffusion fields is rescanned."""
    import importlib

    from lazyvol.dicom.records import RECORD_FIELDS

    scanmod = importlib.import_module("lazyvol.dicom.scan_index")

    write_dicom_4d_series(tmp_path / "s", SHAPE, labels=(), bvals=BVALS, bvecs=BVECS)
    folder = str(tmp_path / "s")
    first = scanmod.scan_files(folder)
    assert first.parsed == len(BVALS) * SHAPE[2]
    path = scanmod.index_path(folder)
    doc = read_json_checked(path)
    old_fields = [f for f in RECORD_FIELDS if f not in ("gradient", "diffusion_source")]
    keep = [RECORD_FIELDS.index(f) for f in old_fields]
    doc["version"] = scanmod.INDEX_VERSION - 1
    doc["fields"] = old_fields
    for entry in doc["entries"].values():
        entry[-1] = [entry[-1][i] for i in keep]
    write_json_atomic(path, doc)
    again = scanmod.scan_files(folder)
    assert again.parsed == first.parsed and again.from_index == 0
    assert all(r.gradient is not None or r.b_value == 0 for r in again.records)
    # same version but other fields (a merge that forgot the bump): also rescanned
    doc["version"] = scanmod.INDEX_VERSION
    write_json_atomic(path, doc)
    assert scanmod.scan_files(folder).from_index == 0
    vol = lv.open(folder)
    assert vol.meta["diffusion"]["bvals"] == BVALS


def test_ge_magnitude_phase_told_apart_by_private_image_kind(tmp_path):
    """GE writes one ImageType for magnitude/phase/real/imaginary; (0043,102F) says which."""
    truth = write_dicom_4d_series(
        tmp_path / "s", SHAPE, components=["M", "P", "R", "I"], labels=(), vendor="GE"
    )
    report = lv.scan(tmp_path / "s")
    kinds = {i.meta.get("image_component"): i for i in report}
    assert sorted(kinds) == ["IMAGINARY", "MAGNITUDE", "PHASE", "REAL"]
    # the split names the attribute that told them apart (it named only the standard ones)
    assert all(any("(0043,102F)" in r for r in i.reasons) for i in report)
    vol = lv.open(tmp_path / "s", series=kinds["REAL"].id)
    np.testing.assert_array_equal(vol.compute(), truth.stored[..., 2])
    refs = {r.stem: r for r in _dcm2niix(tmp_path / "s", tmp_path / "out")}
    from test_dicom_realdata import compare_with_reference

    suffix = {"MAGNITUDE": "", "PHASE": "_ph", "REAL": "_real", "IMAGINARY": "_imaginary"}
    for kind, info in kinds.items():
        (ref,) = [r for stem, r in refs.items() if stem.endswith(suffix[kind] or "1_1")]
        compare_with_reference(lv.open(tmp_path / "s", series=info.id), ref)


def _ge_components(folder, relabel):
    """A GE 4D series of two volumes that (0043,102F) both calls magnitude; ``relabel(t)``: the
    ImageType written on volume t's files (None: as written)."""
    truth = write_dicom_4d_series(folder, SHAPE, components=["M", "M"], labels=(), vendor="GE")
    for f in truth.files:
        ds = pydicom.dcmread(f)
        image_type = relabel(int(ds.InstanceNumber) > SHAPE[2])  # GE numbers volume by volume
        if image_type is not None:
            ds.ImageType = image_type
            ds.save_as(f)
    return truth


def test_image_type_and_image_kind_disagreeing_are_not_stacked(tmp_path):
    """ImageType saying phase where GE's (0043,102F) says magnitude, on one volume's files: not
    one magnitude 4D (the private element went unquestioned, silently mixing the two); those
    images are split off, as dcm2niix splits them, with a warning. A series whose images all
    disagree alike keeps its volume and its id, with the warning."""
    phase = ["ORIGINAL", "PRIMARY", "P", "ND"]
    truth = _ge_components(tmp_path / "s", lambda t: phase if t else None)
    report = lv.scan(tmp_path / "s")
    assert sorted(len(i.shape) for i in report) == [3, 3], [i.shape for i in report]
    assert any("ImageType (0008,0008) component" in r for r in report[0].reasons)
    for info in report:
        vol = lv.open(tmp_path / "s", series=info.id)
        assert vol.meta["image_component"] == "MAGNITUDE"
        warned = any("ImageType (0008,0008) names PHASE" in w for w in vol.meta.get("warnings", []))
        t = 1 if warned else 0
        np.testing.assert_array_equal(vol.compute(), truth.stored[..., t])
    assert sum("ImageType (0008,0008) names" in w for i in report for w in i.warnings) == 1
    # All alike: one 4D volume under the id it had, the disagreement said.
    _ge_components(tmp_path / "all", lambda t: phase)
    _ge_components(tmp_path / "plain", lambda t: None)
    (alike,) = lv.scan(tmp_path / "all")
    (plain,) = lv.scan(tmp_path / "plain")
    assert alike.id == plain.id and alike.shape == plain.shape
    assert any("ImageType (0008,0008) names PHASE" in w for w in alike.warnings)


@pytest.mark.parametrize("label", ["TemporalPositionIdentifier", "AcquisitionTime"])
def test_time_label_against_instance_numbers_is_kept_and_warned(tmp_path, label):
    """A time label whose order contradicts a consistent InstanceNumber numbering (volumes
    numbered 1.. in acquisition order, the label running backwards): the label's order is kept,
    with a warning naming both (dcm2niix goes by InstanceNumber); agreeing headers: no warning."""
    n = 3
    truth = write_dicom_4d_series(tmp_path / "s", SHAPE, n, labels=(label,), shuffle_names=False)
    (plain,) = lv.scan(tmp_path / "s")
    assert not [w for w in plain.warnings if "4th axis" in w], plain.warnings
    nk = SHAPE[2]
    for i, path in enumerate(truth.files):  # file i: volume i // nk, acquisition order
        ds = pydicom.dcmread(path)
        t = i // nk
        if label == "TemporalPositionIdentifier":
            ds.TemporalPositionIdentifier = n - t
        else:  # the volumes' times reversed, slice times kept within each
            sec = 3600.0 + 10.0 * (n - 1 - t) + 0.01 * (i % nk)
            ds.AcquisitionTime = dicom_time(sec)
        ds.save_as(path)
    vol = lv.open(tmp_path / "s")
    (warned,) = [w for w in vol.meta["warnings"] if "4th axis" in w]
    assert "InstanceNumber (0020,0013) orders them otherwise" in warned and label in warned
    np.testing.assert_array_equal(vol.compute(), truth.stored[..., ::-1])


@pytest.mark.parametrize("numbering", ["volume", "position"])
def test_trigger_time_stated_per_slice_orders_the_volumes(tmp_path, numbering):
    """Cardiac phases told apart by TriggerTime (0018,1060), each slice stating its own (3 ms
    later each slice: another heartbeat), running backwards against a consistent InstanceNumber
    numbering: the volumes in TriggerTime order (they were in InstanceNumber order, no word
    said: the values are not the same set at every position), with a warning naming both."""
    n, nk = 3, SHAPE[2]
    truth = write_dicom_4d_series(
        tmp_path / "s", SHAPE, n, labels=(), numbering=numbering, shuffle_names=False
    )
    for path in truth.files:
        ds = pydicom.dcmread(path)
        i = int(ds.InstanceNumber) - 1
        t, k = divmod(i, nk) if numbering == "volume" else (i % n, i // n)
        ds.TriggerTime = 100.0 * (n - 1 - t) + 3.0 * k
        ds.save_as(path)
    with pytest.warns(RuntimeWarning, match=r"InstanceNumber \(0020,0013\) orders them otherwise"):
        vol = lv.open(tmp_path / "s")
    assert vol.meta["axis4_rule"] == "TriggerTime (0018,1060)"
    np.testing.assert_array_equal(vol.compute(), truth.stored[..., ::-1])
    firsts = sorted(
        float(ds.TriggerTime)
        for ds in (pydicom.dcmread(p, stop_before_pixels=True) for p in truth.files)
        if float(ds.TriggerTime) % 100.0 == 0.0  # (the first slice's)
    )
    assert vol.meta["axis4_values"]["TriggerTime"] == firsts
    (note,) = [w for w in vol.meta["warnings"] if "4th axis" in w]
    assert "volume t here is its volume [2, 1, 0][t]" in note


def test_acquisition_times_ranking_otherwise_than_the_instance_order_are_warned(tmp_path):
    """AcquisitionTimes ranking the images of every position in the reverse of a consistent
    InstanceNumber numbering, but overlapping between volumes (each slice 15 s after the one
    before, the volumes 10 s apart): no time rule orders the volumes, InstanceNumber does, and a
    warning names AcquisitionTime, the order it gives and its times (no word was said)."""
    n, nk = 3, SHAPE[2]
    truth = write_dicom_4d_series(tmp_path / "s", SHAPE, n, labels=(), shuffle_names=False)
    for path in truth.files:
        ds = pydicom.dcmread(path)
        t, k = divmod(int(ds.InstanceNumber) - 1, nk)
        ds.AcquisitionTime = dicom_time(36000.0 + 10.0 * (n - 1 - t) + 15.0 * k)
        ds.save_as(path)
    with pytest.warns(RuntimeWarning, match=r"AcquisitionTime \(0008,0032\) ranks them otherwise"):
        vol = lv.open(tmp_path / "s")
    assert vol.meta["axis4_rule"] == "InstanceNumber (0020,0013) rank"
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    (note,) = [w for w in vol.meta["warnings"] if "4th axis" in w]
    assert "volume t here is its volume [2, 1, 0][t]" in note
    shown = [dicom_time(36000.0 + 10.0 * (n - 1 - t)) for t in range(n)]
    assert f"[{', '.join(shown)}]" in note and "volumes overlap in time" in note


DERIVED = ("DERIVED", "SECONDARY", "AXIAL")


def test_original_and_derived_images_of_one_series_are_not_stacked(tmp_path):
    """A DERIVED copy of a volume at the same positions, in the same series and numbered after
    it: two 3D volumes, each with its own values (it was silently one 4D volume, the derived
    copy as a second time point; dcm2niix writes two files). A series all DERIVED keeps the id
    the same series has when ORIGINAL (only the groups that are split get the value in their key)."""
    from lazyvol.testing import write_dicom_series

    uid = "1.2.826.0.1.3680043.8.498.77"
    folder = tmp_path / "s"
    orig = write_dicom_series(folder, SHAPE, series_uid=uid, seed=1)
    nk = SHAPE[2]
    derived = write_dicom_series(
        folder,
        SHAPE,
        series_uid=uid,
        seed=2,
        prefix="DR",
        image_type=DERIVED,
        per_slice=[{"InstanceNumber": nk + k + 1} for k in range(nk)],
    )
    report = lv.scan(folder)
    assert sorted(i.shape for i in report) == [SHAPE, SHAPE], [i.shape for i in report]
    assert all(any("ORIGINAL/DERIVED" in r for r in i.reasons) for i in report)
    got = sorted(
        (lv.open(folder, series=i.id).compute() for i in report), key=lambda a: float(a.sum())
    )
    want = sorted((orig.stored, derived.stored), key=lambda a: float(a.sum()))
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    write_dicom_series(tmp_path / "o", SHAPE, series_uid=uid, seed=1)
    write_dicom_series(tmp_path / "d", SHAPE, series_uid=uid, seed=1, image_type=DERIVED)
    ((o,), (d,)) = lv.scan(tmp_path / "o"), lv.scan(tmp_path / "d")
    assert o.id == d.id and o.shape == d.shape == SHAPE


_STACK, _IN_STACK = 0x00209056, 0x00209057
_B_INDEX, _G_INDEX = (0x00189087, 0x00189117), (0x00189089, 0x00189117)


@pytest.mark.parametrize("manufacturer", ["Philips Medical Systems", "CANON_MEC"])
@pytest.mark.parametrize(
    ("layout", "slowest"),
    [
        ((_STACK, _IN_STACK, _B_INDEX, _G_INDEX), "gradient"),
        ((_B_INDEX, _G_INDEX, _STACK, _IN_STACK), "b"),
        ((_IN_STACK, _STACK, _B_INDEX, _G_INDEX), "gradient"),
    ],
    ids=["spatial-first", "spatial-last", "in-stack-first"],
)
def test_enhanced_two_non_spatial_dimensions_sort_as_dcm2niix(
    tmp_path, manufacturer, layout, slowest, dcm2niix
):
    """Multi-shell DWI indexed (b-value index, gradient index), the gradient index restarting in
    each shell. dcm2niix swaps the InStackPositionNumber index into the first place and sorts
    from the last place: listed after the spatial indices, the gradient is the slowest (the shells
    interleave); listed before them, the b-value is."""
    from pydicom import dcmread

    b_index = [1, 2, 2, 2, 3, 3, 3]
    g_index = [1, 1, 2, 3, 1, 2, 3]
    path = tmp_path / "in" / "dwi.dcm"
    truth = write_enhanced_dicom(path, SHAPE, n_volumes=len(b_index), orientation="oblique")
    ds = dcmread(path)
    ds.Manufacturer = manufacturer
    _dimension_index(ds, layout)
    nk = SHAPE[2]
    for n, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        t, k = divmod(n, nk)
        fc = item.FrameContentSequence[0]
        fc.StackID = "1"
        value = {_STACK: 1, _IN_STACK: k + 1, _B_INDEX: b_index[t], _G_INDEX: g_index[t]}
        fc.DimensionIndexValues = [value[d] for d in layout]
        del fc.TemporalPositionIndex
    ds.save_as(path)
    if slowest == "gradient":  # acquisition order 0 1 4 2 5 3 6
        want = sorted(range(len(b_index)), key=lambda t: (g_index[t], b_index[t]))
    else:
        want = sorted(range(len(b_index)), key=lambda t: (b_index[t], g_index[t]))
    vol = lv.open(path)
    assert vol.meta["axis4_rule"] == "DimensionIndexValues (0020,9157)"
    np.testing.assert_array_equal(vol.compute(), truth.stored[..., want])
    (nii,) = dcm2niix(path.parent, tmp_path / "out")
    img = nib.load(nii)
    mine = nib.as_closest_canonical(nib.Nifti1Image(vol.compute(), vol.affine))
    theirs = nib.as_closest_canonical(img)
    np.testing.assert_allclose(mine.affine, theirs.affine, atol=1e-3)
    np.testing.assert_array_equal(np.asarray(mine.dataobj), theirs.get_fdata())


def test_enhanced_dwi_per_frame_diffusion_meta(tmp_path):
    from pydicom import dcmread
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    path = tmp_path / "in" / "dwi.dcm"
    bvals, bvecs = BVALS[:3], BVECS[:3]
    truth = write_enhanced_dicom(path, SHAPE, n_volumes=3, orientation="oblique")
    ds = dcmread(path)
    ds.Manufacturer = "SIEMENS"
    ds.EchoTime = 80
    ds.RepetitionTime = 3000
    nk = SHAPE[2]
    _dimension_index(ds, (0x00209056, 0x00209057, 0x00209128))
    for n, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        t, k = divmod(n, nk)
        fc = item.FrameContentSequence[0]
        fc.StackID = "1"
        fc.DimensionIndexValues = [1, k + 1, t + 1]
        d = Dataset()
        d.DiffusionBValue = bvals[t]
        d.DiffusionDirectionality = "DIRECTIONAL" if bvals[t] else "NONE"
        if bvals[t]:
            g = Dataset()
            g.DiffusionGradientOrientation = list(map(float, bvecs[t]))
            d.DiffusionGradientDirectionSequence = DicomSequence([g])
        item.MRDiffusionSequence = DicomSequence([d])
    ds.save_as(path)
    vol = lv.open(path)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    diff = vol.meta["diffusion"]
    assert diff["bvals"] == bvals
    np.testing.assert_allclose(diff["gradients_lps"], bvecs)
    assert "MRDiffusionSequence" in diff["source"]


@pytest.mark.parametrize("manufacturer", ["Bruker BioSpin MRI GmbH", "Philips", "SIEMENS"])
def test_enhanced_dwi_b_matrix_gives_the_direction(tmp_path, manufacturer):
    """Frames whose DiffusionDirectionality is BMATRIX state their direction only as a B-matrix
    (DiffusionBMatrixSequence, b g g^T in the patient frame): they were read as having none, so
    every weighted volume was flagged a derived trace with a zero .bvec. The direction is the
    matrix's principal eigenvector, up to its sign (first non-zero component positive)."""
    from pydicom import dcmread
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    path = tmp_path / "in" / "dwi.dcm"
    bvals = [0.0, 1000.0, 1000.0, 2000.0, 2000.0]
    bvecs = [(0, 0, 0), (0.6, 0, 0.8), (0, -0.6, 0.8), (-0.48, 0.6, 0.64), (0, 0, -1)]
    truth = write_enhanced_dicom(path, SHAPE, n_volumes=len(bvals), orientation="oblique")
    ds = dcmread(path)
    ds.Manufacturer = manufacturer
    nk = SHAPE[2]
    for n, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        t = n // nk
        d = Dataset()
        d.DiffusionBValue = bvals[t]
        d.DiffusionDirectionality = "BMATRIX" if bvals[t] else "NONE"
        if bvals[t]:
            g, m = np.asarray(bvecs[t], float), Dataset()
            for name, (a, b) in zip(("XX", "XY", "XZ", "YY", "YZ", "ZZ"), _PAIRS, strict=True):
                setattr(m, f"DiffusionBValue{name}", bvals[t] * g[a] * g[b])
            d.DiffusionBMatrixSequence = DicomSequence([m])
        item.MRDiffusionSequence = DicomSequence([d])
    ds.save_as(path)
    vol = lv.open(path)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    diff = vol.meta["diffusion"]
    assert diff["bvals"] == bvals and not diff.get("derived_volumes")
    assert "DiffusionBMatrixSequence (0018,9601)" in diff["source"]
    got = np.asarray(diff["gradients_lps"], float)
    for g, want in zip(got, bvecs, strict=True):
        want = np.asarray(want, float)
        lead = next((c for c in want if c != 0), 1.0)
        np.testing.assert_allclose(g, want * np.sign(lead), atol=1e-6)


_PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))


@pytest.mark.parametrize("top_level_echo_number", [False, True])
def test_enhanced_multi_echo_time_series_is_one_volume_per_echo(tmp_path, top_level_echo_number):
    """An enhanced MR file of 3 time points x 2 echoes: each frame's echo is its MREchoSequence
    EffectiveEchoTime (frames carry no EchoNumbers of their own; a top-level EchoNumbers, when
    the file has one, is the same for every frame). The echoes were interleaved with the time
    points on one 4th axis; they are one volume per echo, as for single-frame series."""
    truth = write_enhanced_dicom(tmp_path / "e.dcm", (8, 6, 4), n_volumes=6)
    ds = pydicom.dcmread(truth.files[0])
    for item in ds.PerFrameFunctionalGroupsSequence:
        content = item.FrameContentSequence[0]
        t = int(content.TemporalPositionIndex) - 1  # 0..5: time t // 2, echo t % 2
        content.TemporalPositionIndex = t // 2 + 1
        echo = pydicom.Dataset()
        echo.EffectiveEchoTime = 30.0 if t % 2 == 0 else 60.0
        item.MREchoSequence = pydicom.Sequence([echo])
    if top_level_echo_number:
        ds.EchoNumbers = 1
    ds.save_as(truth.files[0])
    report = sorted(lv.scan(tmp_path), key=lambda i: i.meta["echo_times"])
    assert [i.shape for i in report] == [(8, 6, 4, 3), (8, 6, 4, 3)]
    for e, info in enumerate(report):
        assert info.meta["echo_times"] == [30.0 if e == 0 else 60.0]
        vol = lv.open(tmp_path, series=info.id)
        np.testing.assert_array_equal(vol.compute(), truth.stored[..., e::2])


def test_an_echo_time_that_differs_by_slice_is_not_several_echoes(tmp_path):
    """An fMRI series whose EchoTime differs from slice to slice (the same in every volume):
    grouping by EchoTime would make one 'echo' per slice position; it is one 4D volume."""
    truth = write_dicom_4d_series(tmp_path / "s", SHAPE, 3, labels=("AcquisitionTime",))
    z0 = min(float(pydicom.dcmread(f).ImagePositionPatient[2]) for f in truth.files)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.EchoTime = 30.0 + (float(ds.ImagePositionPatient[2]) - z0)  # one value per slice
        del ds.EchoNumbers
        ds.save_as(f)
    vol = lv.open(tmp_path / "s")
    assert vol.shape == (*SHAPE, 3)
    np.testing.assert_array_equal(vol.compute(), truth.stored)


def test_an_echo_missing_a_file_still_splits_and_reports_its_gap(tmp_path):
    """The echoes of a time series share positions: echo 2 missing one slice position (in every
    time point) still gives one volume per echo, echo 1 intact and echo 2 refused for its gap."""
    truth = write_dicom_4d_series(tmp_path / "s", SHAPE, 3, labels=(), echoes=2)
    heads = [(f, pydicom.dcmread(f)) for f in truth.files]
    z = sorted({float(ds.ImagePositionPatient[2]) for _, ds in heads})[2]  # a middle slice
    for f, ds in heads:
        if int(ds.EchoNumbers) == 2 and float(ds.ImagePositionPatient[2]) == z:
            os.remove(f)
    report = lv.scan(tmp_path / "s")
    assert len(report) == 2
    assert all(any("one volume per echo" in r for r in i.reasons) for i in report)
    (good,) = [i for i in report if not i.error]
    (bad,) = [i for i in report if i.error]
    assert good.meta["echo_numbers"] == [1] and len(bad.files) == len(good.files) - 3
    first = lv.open(tmp_path / "s", series=good.id)
    np.testing.assert_array_equal(first.compute(), truth.stored[..., 0::2])


def test_a_time_series_written_to_nifti_carries_its_repetition_time(tmp_path):
    """pixdim[4] of a DICOM time series written as NIfTI is its RepetitionTime in seconds, as
    dcm2niix writes it (FSL, AFNI and fMRIPrep read the TR there); it was 1 s."""
    write_dicom_4d_series(tmp_path / "s", SHAPE, 3, labels=("AcquisitionTime",), tr_s=2.5)
    out = lv.open(tmp_path / "s").to_nifti(tmp_path / "v.nii")
    hdr = nib.load(out).header
    assert hdr.get_zooms()[3] == pytest.approx(2.5)
    assert hdr.get_xyzt_units()[1] == "sec"
    (ref,) = _dcm2niix(tmp_path / "s", tmp_path / "ref")
    assert hdr.get_zooms()[3] == pytest.approx(nib.load(ref).header.get_zooms()[3])


def test_a_time_series_written_to_zarr_carries_its_repetition_time(tmp_path):
    """OME-Zarr of a DICOM time series: its t axis in seconds with the TR as scale (it had no unit
    and scale 1 while the same series as NIfTI had pixdim[4] = TR), read by zarr-python and by
    lazyvol; the NIfTI-Zarr header says the same."""
    import io

    import zarr

    write_dicom_4d_series(tmp_path / "s", SHAPE, 3, labels=("AcquisitionTime",), tr_s=2.5)
    vol = lv.open(tmp_path / "s")
    store = vol.to_zarr(tmp_path / "v.zarr")
    group = zarr.open_group(store, mode="r")
    (ms,) = group.attrs["ome"]["multiscales"]
    assert ms["axes"][0] == {"name": "t", "type": "time", "unit": "second"}
    scale = ms["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale[0] == pytest.approx(2.5)
    raw = np.asarray(group["nifti"][:]).tobytes()  # the NIfTI-Zarr header array
    hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(raw))
    assert hdr.get_zooms()[3] == pytest.approx(2.5) and hdr.get_xyzt_units()[1] == "sec"


def test_every_other_volume_is_twice_the_step_apart(tmp_path):
    """vol[..., ::2] keeps every other volume: its 4th-axis step, as written to NIfTI and
    OME-Zarr, is twice the series' (it stayed the TR, or the source's pixdim[4])."""
    import zarr

    write_dicom_4d_series(tmp_path / "s", SHAPE, 6, labels=("AcquisitionTime",), tr_s=2.5)
    half = lv.open(tmp_path / "s")[..., ::2]
    assert lv.open(tmp_path / "s").spacing[3] == pytest.approx(2.5)  # the TR, in seconds
    assert half.spacing[3] == pytest.approx(5.0)
    out = half.to_nifti(tmp_path / "half.nii")
    assert nib.load(out).header.get_zooms()[3] == pytest.approx(5.0)
    # The JSON sidecar agrees with pixdim[4] (it kept the series' TR: BIDS validators flag that).
    sidecar = json.loads((tmp_path / "half.json").read_text())
    assert sidecar["RepetitionTime"] == pytest.approx(5.0)
    (ms,) = zarr.open_group(half.to_zarr(tmp_path / "half.zarr"), mode="r").attrs["ome"][
        "multiscales"
    ]
    assert ms["axes"][0]["unit"] == "second"
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"][0] == pytest.approx(5.0)
    again = lv.open(out)[..., ::-1]  # a NIfTI source: its own pixdim[4], reversed
    assert again.spacing[3] == pytest.approx(5.0)
    quarter = lv.open(out)[..., ::2]
    assert quarter.spacing[3] == pytest.approx(10.0)
    times = quarter.to_xarray()["time"].values.tolist()  # the source's times, counted once
    assert times == pytest.approx([0.0, 10.0])


def test_a_series_with_only_zero_b_values_has_no_diffusion_table(tmp_path):
    """GE writes b = 0 in every BOLD image: that is no diffusion series, and no .bval/.bvec is
    written next to it (BIDS tools would take it for one); dcm2niix writes none either."""
    write_dicom_4d_series(tmp_path / "s", SHAPE, labels=(), bvals=[0.0, 0.0, 0.0], vendor="GE")
    vol = lv.open(tmp_path / "s")
    assert "diffusion" not in vol.meta
    out = vol.to_nifti(tmp_path / "v.nii")
    assert not list(tmp_path.glob("v.bval")) and not list(tmp_path.glob("v.bvec"))
    assert Path(out).exists()
    _dcm2niix(tmp_path / "s", tmp_path / "ref")
    assert not list((tmp_path / "ref").glob("*.bval"))


@pytest.mark.parametrize("shift_mm", [0.0, 3.0])
def test_single_position_volumes_moved_within_the_plane_are_not_one_grid(tmp_path, shift_mm):
    """One slice position repeated (a single-slice time series): frames whose positions differ
    within the slice plane project onto the same normal position but are not one grid. With
    several slices the check ran; with one it was skipped and the frames stacked silently."""
    from pydicom import dcmread

    path = tmp_path / "one.dcm"
    truth = write_enhanced_dicom(path, (12, 10, 1), n_volumes=3, orientation="sagittal")
    ds = dcmread(path)
    for t, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        ipp = [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient]
        ipp[2] += shift_mm * t  # sagittal: z lies in the slice plane
        item.PlanePositionSequence[0].ImagePositionPatient = [f"{v:.4f}" for v in ipp]
    ds.save_as(path)
    if not shift_mm:
        vol = lv.open(path)
        assert vol.shape == (12, 10, 1, 3)
        np.testing.assert_array_equal(vol.compute(), truth.stored)
        return
    with pytest.raises(
        SeriesError, match=r"do not share slice positions.*frame 2 of 3.*3 mm apart"
    ):
        lv.open(path)
    (info,) = lv.scan(path)
    assert "ImagePositionPatient (0020,0032)" in info.error
    with pytest.raises(SeriesError, match="not one grid"):  # nor split into 3D volumes
        lv.open(path, split_4d=True)


def test_philips_scaling_is_judged_per_echo_as_dcm2niix_writes_echoes_apart():
    """dcm2niix writes each echo to a file of its own, so its precise-float values need one
    scaling per echo, not one over the stacked 4D: two echoes each with its own constant scaling
    got "varying, dcm2niix writes display values" (and no warning) while dcm2niix wrote
    floating-point values."""
    from lazyvol.dicom.frame_table import philips_scaling
    from lazyvol.dicom.records import FrameRecord

    def frame(echo: int, k: int, rs: float, ss: float) -> FrameRecord:
        return FrameRecord(
            path=f"e{echo}_{k}",
            size=0,
            mtime_ns=0,
            transfer_syntax="1.2.840.10008.1.2.1",
            echo_number=echo,
            echo_time=5.0 * echo,
            rescale_slope=rs,
            philips_scale_slope=ss,
        )

    per_echo = [frame(e, k, 1.5 * e, 0.01 * e) for e in (1, 2) for k in range(3)]
    note, warn = philips_scaling(per_echo, use_fp=False)
    assert warn and note is not None and "vary between the images" not in note
    within = [frame(1, k, 1.5 + k, 0.01) for k in range(3)]
    note, warn = philips_scaling(within, use_fp=False)
    # (images one per file: dcm2niix's header scaling then fits none of them, a warning, h201)
    assert warn and note is not None and "vary between the images" in note


def test_one_echo_cut_from_a_multi_echo_volume_has_its_echo_time_in_the_sidecar(tmp_path):
    """A multi-echo volume's sidecar can state no single EchoTime; one echo cut from it
    (``vol[..., e]`` or ``vol[..., e:e+1]``) is what dcm2niix writes as a file of its own, with
    that echo's EchoTime: the sidecar said none."""
    truth = write_enhanced_dicom(
        tmp_path / "e.dcm", (8, 6, 4), n_volumes=3, volume_tag="EffectiveEchoTime"
    )
    ds = pydicom.dcmread(truth.files[0])
    times = sorted(
        {float(i.MREchoSequence[0].EffectiveEchoTime) for i in ds.PerFrameFunctionalGroupsSequence}
    )
    vol = lv.open(truth.files[0])
    assert vol.shape[3] == 3
    np.testing.assert_array_equal(vol[:, :, :, 1].compute(), truth.stored[..., 1])

    def sidecar(v, name):
        v.to_nifti(tmp_path / f"{name}.nii")
        return json.loads((tmp_path / f"{name}.json").read_text())

    assert "EchoTime" not in sidecar(vol, "all")
    assert sidecar(vol[:, :, :, 1], "one")["EchoTime"] == pytest.approx(times[1] / 1000)
    assert sidecar(vol[:, :, :, 2:3], "last")["EchoTime"] == pytest.approx(times[2] / 1000)
