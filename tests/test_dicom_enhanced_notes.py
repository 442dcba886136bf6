"""What lazyvol says about enhanced multi-frame files (and their classic counterparts): derived
diffusion volumes flagged, refusals naming each file once with its frames, the top-level
PixelSpacing of a file without Pixel Measures, and what tells apart the volumes split from one
series.

Truth is the synthetic file (pydicom reads it back independently) and, where it is installed,
dcm2niix's own output for the same file.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

import lazyvol as lv
from lazyvol.errors import MultipleSeriesError, SeriesError
from lazyvol.testing import write_dicom_4d_series, write_enhanced_dicom
from test_dicom_mosaic import on_reference_grid

pytestmark = pytest.mark.usefixtures("dicom_cache")

SHAPE = (12, 10, 5)
#: An oblique orientation written to 6 decimals, its column cosine's x exactly 0 (20 degrees
#: about x after 10 about y): its cosines are not quite orthogonal once rounded.
_A, _B = np.radians(20.0), np.radians(10.0)
OBLIQUE = [
    *np.round([np.cos(_B), np.sin(_A) * np.sin(_B), -np.cos(_A) * np.sin(_B)], 6),
    *np.round([0.0, np.cos(_A), np.sin(_A)], 6),
]
BVALS = [0.0, 1000.0, 1000.0, 1000.0]
DIRS = [None, (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), None]  # the last: an ISOTROPIC (trace) image


def _enhanced_dwi(path: Path) -> np.ndarray:
    """An enhanced MR DWI file: MRDiffusionSequence per frame (BVALS / DIRS by volume)."""
    truth = write_enhanced_dicom(path, SHAPE, n_volumes=len(BVALS), orientation=OBLIQUE)
    ds = pydicom.dcmread(path)
    ds.Manufacturer = "SIEMENS"  # (dcm2niix checks the vectors of Siemens and Philips files)
    dims = []
    for ptr, group in (
        (0x00209056, 0x00209111),
        (0x00209057, 0x00209111),
        (0x00189087, 0x00189117),
    ):
        item = Dataset()
        item.DimensionIndexPointer, item.FunctionalGroupPointer = ptr, group
        dims.append(item)
    ds.DimensionIndexSequence = DicomSequence(dims)
    for n, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        t, k = divmod(n, SHAPE[2])
        item.FrameContentSequence[0].StackID = "1"
        item.FrameContentSequence[0].DimensionIndexValues = [1, k + 1, t + 1]
        d = Dataset()
        d.DiffusionBValue = BVALS[t]
        d.DiffusionDirectionality = (
            "NONE" if not BVALS[t] else ("ISOTROPIC" if DIRS[t] is None else "DIRECTIONAL")
        )
        if DIRS[t] is not None:
            g = Dataset()
            g.DiffusionGradientOrientation = list(DIRS[t])
            d.DiffusionGradientDirectionSequence = DicomSequence([g])
        item.MRDiffusionSequence = DicomSequence([d])
    ds.save_as(path)
    return truth.stored


def _derived_truth(path: Path) -> list[int]:
    """The volumes (TemporalPositionIndex - 1) whose frames have b > 0 and no direction, read
    back with pydicom."""
    out = set()
    for item in pydicom.dcmread(path).PerFrameFunctionalGroupsSequence:
        d = item.MRDiffusionSequence[0]
        if float(d.DiffusionBValue) > 0 and "DiffusionGradientDirectionSequence" not in d:
            out.add(int(item.FrameContentSequence[0].TemporalPositionIndex) - 1)
    return sorted(out)


def test_enhanced_isotropic_diffusion_volume_is_flagged_as_dcm2niix_flags_it(tmp_path):
    """An ISOTROPIC (trace) volume of an enhanced DWI (b = 1000, no gradient direction) was
    written with bval 1000 and bvec 0 0 0 in silence; dcm2niix warns that it is derived. A
    RuntimeWarning at open names it (volume, file and frames), meta records it. (dcm2niix writes
    no b-values for this synthetic file: its own word is checked on the classic series below.)"""
    path = tmp_path / "in" / "dwi.dcm"
    stored = _enhanced_dwi(path)
    with pytest.warns(RuntimeWarning, match="derived diffusion volume") as caught:
        vol = lv.open(path)
    said = next(str(w.message) for w in caught if "derived diffusion" in str(w.message))
    assert f"3 (b = 1000: {path} frames 16-20)" in said
    np.testing.assert_array_equal(vol.compute(), stored)
    assert vol.meta["diffusion"]["derived_volumes"] == _derived_truth(path) == [3]


def test_bvecs_carry_no_round_off_of_the_orientation(tmp_path):
    """The .bvec of an oblique DWI: the gradient's components along the voxel axes (FSL), where
    the projection onto the written cosines is exactly 0 a 0 (9.9e-08 was written, the round-off
    of cosines rounded to 6 decimals; dcm2niix writes 0), the others within 1e-6 of it."""
    path = tmp_path / "in" / "dwi.dcm"
    _enhanced_dwi(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        vol = lv.open(path)
    out = tmp_path / "dwi.nii"
    vol.to_nifti(out)
    text = (tmp_path / "dwi.bvec").read_text().split("\n")
    got = np.array([[float(x) for x in line.split()] for line in text if line])
    # truth: each LPS direction projected onto the written cosines (pydicom's IOP), as dcm2niix
    # does: i runs along the row cosine, j along the column cosine, k along their normal (the
    # slices are written at increasing positions along it); FSL negates the first component of
    # an image with a positive determinant
    shared = pydicom.dcmread(path).SharedFunctionalGroupsSequence[0]
    iop = np.array(shared.PlaneOrientationSequence[0].ImageOrientationPatient, dtype=float)
    row, col = iop[:3], iop[3:]
    frame = np.array([row, col, np.cross(row, col)])
    truth = np.array([frame @ np.array(d or (0.0, 0.0, 0.0)) for d in DIRS]).T
    if np.linalg.det(nib.load(out).affine[:3, :3]) > 0:
        truth[0] = -truth[0]
    np.testing.assert_allclose(got, truth, atol=1e-6)
    assert (got[truth == 0] == 0).all() and (truth == 0).sum() > 6


@pytest.mark.parametrize("vendor", ["standard", "SIEMENS"])
def test_classic_dwi_trace_volume_is_flagged_as_dcm2niix_flags_it(tmp_path, dcm2niix, vendor):
    """One file per slice: a b > 0 volume without a direction (standard or Siemens tags) is
    flagged too, its files named; dcm2niix flags the same volume of the Siemens series."""
    truth = write_dicom_4d_series(
        tmp_path / "s",
        SHAPE,
        labels=(),
        bvals=BVALS,
        bvecs=[d or (0.0, 0.0, 0.0) for d in DIRS],
        vendor=vendor,
    )
    with pytest.warns(RuntimeWarning, match=r"derived diffusion volume\(s\) of 4: 3 \(b = 1000: "):
        vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    derived = [t for t, (b, d) in enumerate(zip(truth.meta["bvals"], DIRS)) if b > 0 and d is None]
    assert vol.meta["diffusion"]["derived_volumes"] == derived
    if vendor == "SIEMENS":  # (dcm2niix takes standard tags without a Manufacturer for Philips')
        log = dcm2niix.run(tmp_path / "s", tmp_path / "ref")
        assert [int(n) for n in re.findall(r"Volume (\d+) appears to be derived", log)] == derived


def test_ge_zero_vector_volume_is_not_called_derived(tmp_path):
    """GE: dcm2niix writes a b > 0 volume without a direction as b = 0 and calls it nothing; no
    derived-volume warning either."""
    write_dicom_4d_series(
        tmp_path / "s",
        SHAPE,
        labels=(),
        bvals=BVALS,
        bvecs=[d or (0, 0, 0) for d in DIRS],
        vendor="GE",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vol = lv.open(tmp_path / "s")
    assert not [w for w in caught if "derived diffusion" in str(w.message)]
    assert "derived_volumes" not in vol.meta["diffusion"]


def test_ge_zero_vector_volume_is_a_b0_image_as_dcm2niix_writes_it(tmp_path, dcm2niix):
    """GE's (0043,1039) may hold the nominal b-value in a b = 0 image: a volume with a b-value
    but no direction was written as b = 1000 with a 0 0 0 bvec (a model fit takes it for a
    weighted direction); dcm2niix writes it as b = 0, and so does lazyvol now, saying so."""
    bvals = [0, 1000, 1000, 1000]
    write_dicom_4d_series(
        tmp_path / "s",
        (8, 8, 3),
        4,
        bvals=bvals,
        bvecs=[(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 0)],
        vendor="GE",
    )
    vol = lv.open(tmp_path / "s")
    vol.to_nifti(tmp_path / "lv.nii")
    ours = np.loadtxt(tmp_path / "lv.bval")
    assert ours.tolist() == [0, 1000, 1000, 0]
    assert vol.meta["diffusion"]["ge_zero_direction"] == [3]
    assert any("b = 0 images, as dcm2niix" in w for w in vol.meta["warnings"])
    dcm2niix(tmp_path / "s", tmp_path / "ref")
    np.testing.assert_array_equal(ours, np.loadtxt(next((tmp_path / "ref").glob("*.bval"))))


def test_dwi_with_every_direction_is_not_flagged(tmp_path):
    write_dicom_4d_series(
        tmp_path / "s", SHAPE, labels=(), bvals=BVALS[:3], bvecs=[(0, 0, 0), *DIRS[1:3]]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        vol = lv.open(tmp_path / "s")
    assert "derived_volumes" not in vol.meta["diffusion"]


def _no_pixel_measures(path: Path, top_level: bool) -> np.ndarray:
    truth = write_enhanced_dicom(path, SHAPE, n_volumes=2, spacing=(0.8, 0.7, 2.5))
    ds = pydicom.dcmread(path)
    del ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence
    if top_level:
        ds.PixelSpacing = [0.7, 0.8]  # (row spacing, column spacing)
    ds.save_as(path)
    return truth.stored


def test_enhanced_file_without_pixel_measures_is_refused_naming_its_frames(tmp_path):
    """The refusal named the file once per frame ("missing in 10 file(s): a.dcm, a.dcm, ...").
    instance_order=True opens it with the frames at their stated positions (1 mm pixels assumed,
    flagged): frames sharing one InstanceNumber need no InstanceNumber order, as they did when
    that option stacked by InstanceNumber what had positions."""
    path = tmp_path / "in" / "a.dcm"
    stored = _no_pixel_measures(path, top_level=False)
    nframes = int(pydicom.dcmread(path).NumberOfFrames)
    with pytest.raises(SeriesError) as err:
        lv.open(path)
    msg = str(err.value)
    assert f"{path} frames 1-{nframes}" in msg and msg.count(str(path)) == 1
    assert "PixelMeasuresSequence (0028,9110)" in msg and "file(s)" not in msg
    assert "pass instance_order=True" in msg
    vol = lv.open(path, instance_order=True)
    assert "pixel spacing missing (1 mm assumed)" in vol.meta["geometry_approximate"]
    np.testing.assert_array_equal(vol.compute(), stored)
    np.testing.assert_allclose(np.abs(np.diag(vol.affine))[:3], [1.0, 1.0, 2.5])


#: (functional group moved out, its attribute, the ``meta`` key naming where it came from)
_TOP_LEVEL_CASES = [
    ("PixelMeasuresSequence", "PixelSpacing", "pixel_spacing_source"),
    ("PlaneOrientationSequence", "ImageOrientationPatient", "orientation_source"),
]


@pytest.mark.parametrize(("group", "attribute", "meta_key"), _TOP_LEVEL_CASES)
def test_enhanced_file_with_a_top_level_value_only_takes_it_as_dcm2niix(
    tmp_path, dcm2niix, group, attribute, meta_key
):
    """PixelSpacing or ImageOrientationPatient at the top level, none in the functional groups
    (non-conformant: the enhanced IODs require the Pixel Measures and Plane Orientation groups):
    the file's only value is taken, as dcm2niix takes it, and a note says where it came from. A
    sagittal volume of unequal pixel spacings, so a wrong orientation or spacing shows in world
    space. (The orientation was refused as missing.)"""
    path = tmp_path / "in" / "a.dcm"
    truth = write_enhanced_dicom(path, SHAPE, spacing=(0.8, 0.7, 2.5), orientation="sagittal")
    ds = pydicom.dcmread(path)
    shared = ds.SharedFunctionalGroupsSequence[0]
    value = list(getattr(getattr(shared, group)[0], attribute))
    delattr(shared, group)
    setattr(ds, attribute, value)
    ds.save_as(path)
    vol = lv.open(path)
    assert attribute in vol.meta[meta_key] and "top level" in vol.meta[meta_key]
    assert any(
        f"{attribute} (00" in w and "taken from the top level" in w for w in vol.meta["warnings"]
    )
    (ref,) = _dcm2niix_nii(dcm2niix, path.parent, tmp_path / "ref")
    got = on_reference_grid(vol, ref)  # asserts the grids coincide in world space
    np.testing.assert_array_equal(got, np.asarray(ref.dataobj))
    np.testing.assert_array_equal(vol.compute(), truth.stored)


@pytest.mark.parametrize("layout", ["classic", "shared group", "per-frame groups", "top level"])
def test_pixel_spacing_of_one_value_is_taken_for_both_axes_as_dcm2niix(tmp_path, dcm2niix, layout):
    """PixelSpacing written with one value (non-conformant: the standard requires row and column
    spacing), in a classic series, an enhanced file's shared or per-frame Pixel Measures group, or
    at its top level: taken for both in-plane axes, as dcm2niix takes it, and said. (It was
    refused as malformed.) An oblique volume, so a wrong spacing shows in world space."""
    src = tmp_path / "in"
    if layout == "classic":
        truth = write_dicom_4d_series(src, SHAPE, 1, spacing=(0.7, 0.7, 2.5), orientation=OBLIQUE)
        files = sorted(src.iterdir())
        for f in files:
            ds = pydicom.dcmread(f)
            ds.PixelSpacing = [ds.PixelSpacing[0]]
            ds.save_as(f)
    else:
        files = [src / "a.dcm"]
        truth = write_enhanced_dicom(files[0], SHAPE, spacing=(0.7, 0.7, 2.5), orientation=OBLIQUE)
        ds = pydicom.dcmread(files[0])
        shared = ds.SharedFunctionalGroupsSequence[0]
        measures = shared.PixelMeasuresSequence[0]
        if layout == "shared group":
            measures.PixelSpacing = [measures.PixelSpacing[0]]
        elif layout == "per-frame groups":
            del shared.PixelMeasuresSequence
            for item in ds.PerFrameFunctionalGroupsSequence:
                frame = Dataset()
                frame.PixelSpacing = [measures.PixelSpacing[0]]
                frame.SliceThickness = measures.SliceThickness
                item.PixelMeasuresSequence = DicomSequence([frame])
            ds.PixelSpacing = [0.7, 0.7]  # (the frames' own value is the one read, and noted)
        else:
            del shared.PixelMeasuresSequence
            ds.PixelSpacing = [measures.PixelSpacing[0]]
        ds.save_as(files[0])
    vol = lv.open(src)
    np.testing.assert_allclose(vol.spacing[:2], (0.7, 0.7))
    note = vol.meta["pixel_spacing_source"]
    assert "PixelSpacing (0028,0030)" in note and "holds one value" in note, note
    assert note in vol.meta["warnings"]
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-4)
    np.testing.assert_array_equal(vol.compute().reshape(truth.stored.shape), truth.stored)
    if layout in ("classic", "top level"):  # (dcm2niix 1.0.20260724 reads a functional group's
        # one value and the bytes after it: 0.342 x 0.7 mm, or "varies 0.7x30" and no image)
        (ref,) = _dcm2niix_nii(dcm2niix, src, tmp_path / "ref")
        got = on_reference_grid(vol, ref)  # asserts the grids coincide in world space
        np.testing.assert_array_equal(got, np.asarray(ref.dataobj).reshape(got.shape))


def test_pixel_spacing_of_two_values_has_no_one_value_note(tmp_path):
    """An enhanced file whose frames state two spacings, its top level one value: the frames'
    own value is read, and no note says otherwise."""
    path = tmp_path / "in" / "a.dcm"
    write_enhanced_dicom(path, SHAPE, spacing=(0.8, 0.7, 2.5))
    ds = pydicom.dcmread(path)
    ds.PixelSpacing = [5.0]
    ds.save_as(path)
    vol = lv.open(path)
    np.testing.assert_allclose(sorted(vol.spacing[:2]), (0.7, 0.8))
    assert "pixel_spacing_source" not in vol.meta


def _dcm2niix_nii(dcm2niix, src: Path, out: Path) -> list[nib.Nifti1Image]:
    dcm2niix.run(src, out)
    return [nib.load(p) for p in sorted(out.glob("*.nii"))]


def test_frames_repeating_a_position_are_named_as_frames(tmp_path):
    """A 4D enhanced file missing a frame: the refusal names the frames at the example position,
    not the file three times."""
    path = tmp_path / "in" / "a.dcm"
    write_enhanced_dicom(path, SHAPE, n_volumes=3)
    ds = pydicom.dcmread(path)
    nk = SHAPE[2]
    keep = [n for n in range(3 * nk) if n != nk + 2]  # volume 1 loses slice 2
    frame_bytes = SHAPE[0] * SHAPE[1] * 2
    ds.PixelData = b"".join(ds.PixelData[n * frame_bytes : (n + 1) * frame_bytes] for n in keep)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(
        [ds.PerFrameFunctionalGroupsSequence[n] for n in keep]
    )
    ds.NumberOfFrames = len(keep)
    ds.save_as(path)
    with pytest.raises(SeriesError) as err:
        lv.open(path)
    msg = str(err.value)
    assert re.search(rf"{re.escape(str(path))} frames \d+(, \d+)+", msg), msg
    assert msg.count(str(path)) == 1


def _two_echo_file(path: Path) -> np.ndarray:
    """An enhanced file of 3 time points x 2 echoes (10 and 30 ms) on one TemporalPositionIndex."""
    truth = write_enhanced_dicom(path, SHAPE, n_volumes=6)
    ds = pydicom.dcmread(path)
    for item in ds.PerFrameFunctionalGroupsSequence:
        content = item.FrameContentSequence[0]
        t = int(content.TemporalPositionIndex) - 1
        content.TemporalPositionIndex = t // 2 + 1
        echo = Dataset()
        echo.EffectiveEchoTime = 10.0 if t % 2 == 0 else 30.0
        item.MREchoSequence = DicomSequence([echo])
    ds.save_as(path)
    return truth.stored


def test_volumes_split_by_echo_say_their_echo_time(tmp_path):
    """The choice of a volume listed two identical rows for the two echoes of one enhanced file
    (same number, description, shape and reason): each row says its echo time."""
    path = tmp_path / "in" / "e.dcm"
    stored = _two_echo_file(path)
    with pytest.raises(MultipleSeriesError) as err:
        lv.open(path)
    rows = [line for line in str(err.value).splitlines() if line.startswith("  #")]
    assert len(rows) == 2 and len(set(r.split("id=")[0] for r in rows)) == 2
    times = sorted(
        {
            float(i.MREchoSequence[0].EffectiveEchoTime)
            for i in pydicom.dcmread(path).PerFrameFunctionalGroupsSequence
        }
    )
    for t in times:
        (row,) = [r for r in rows if f"EchoTime {t:g} ms)" in r]
        info = lv.scan(path)[int(row.split()[0][1:])]
        assert info.meta["echo_times"] == [t]
        echo = 0 if t == times[0] else 1
        np.testing.assert_array_equal(lv.open(path, series=info.id).compute(), stored[..., echo::2])
    for info in lv.scan(path):  # the frames counted as frames of one file, not as files
        assert info.reasons[-1].endswith(f", {3 * SHAPE[2]} frames of 1 file")


def test_volumes_split_by_image_kind_say_it(tmp_path):
    """Magnitude and phase of one series: the rows say MAGNITUDE / PHASE, and the reasons count
    files as files."""
    write_dicom_4d_series(tmp_path / "s", SHAPE, labels=(), components=["M", "P"])
    report = lv.scan(tmp_path / "s")
    labels = sorted(i.split_text() for i in report)
    assert [t.endswith(k + ")") for t, k in zip(labels, ["MAGNITUDE", "PHASE"])] == [True, True]
    assert all(i.reasons[-1].endswith(f", {SHAPE[2]} files") for i in report)
