"""NM reconstructions (SPECT, ImageType RECON TOMO): one multi-frame file without functional
groups, located by the NM Image IOD's rules (lazyvol.dicom.nm_tomo).

They were refused ("a multi-frame image without per-frame functional groups"). References:
synthetic truth (lazyvol.testing.write_nm_tomo knows every slice's position), and dcm2niix where
it is right (positive spacing, frames in slice order; it ignores the sign of
SpacingBetweenSlices and the SliceVector, and says "Unable to determine slice direction").
Volumes are compared in nibabel's closest canonical orientation (voxels and affine), so the
reader's choice of slice direction does not matter, only where every voxel lies.
"""

from __future__ import annotations

import copy

import nibabel as nib
import numpy as np
import pytest
from pydicom import dcmread

import lazyvol as lv
from lazyvol.testing import write_nm_tomo


def _canonical(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    img = nib.as_closest_canonical(nib.Nifti1Image(data, affine))
    return np.asanyarray(img.dataobj), img.affine


def _assert_opens_as_truth(path, truth, slope=1.0):
    vol = lv.open(path)
    got, got_affine = _canonical(vol.compute(), vol.affine)
    want, want_affine = _canonical(truth.stored * slope, truth.affine)
    np.testing.assert_allclose(got_affine, want_affine, atol=1e-4)
    np.testing.assert_array_equal(got, want)
    return vol


@pytest.mark.parametrize(
    "orientation", ["axial", "coronal", "sagittal", [0.9, 0.1, 0.0, -0.1, 0.9, 0.4]]
)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_spect_reconstruction_opens_where_its_slices_lie(tmp_path, orientation, sign):
    """Positive SpacingBetweenSlices stacks the slices along row x column, negative against it
    (PS3.3 C.8.4.15), frames stored out of slice order (the SliceVector says which is which)."""
    order = [3, 0, 1, 2, *range(4, 12), 15, 14, 13, 12]
    iop = orientation
    if not isinstance(orientation, str):
        row = np.array(orientation[:3]) / np.linalg.norm(orientation[:3])
        col = np.array(orientation[3:])
        col = col - row * (col @ row)
        iop = [*row, *(col / np.linalg.norm(col))]
    truth = write_nm_tomo(
        tmp_path / "nm" / "spect.dcm",
        orientation=iop,
        spacing=(4.0, 3.5, 4.5 * sign),
        frame_order=order,
    )
    vol = _assert_opens_as_truth(truth.files[0], truth)
    assert vol.shape == truth.stored.shape


@pytest.mark.parametrize("compress", [None, "1.2.840.10008.1.2.5"])
def test_a_spect_reconstruction_in_slice_order_matches_dcm2niix(tmp_path, dcm2niix, compress):
    """Frames in slice order, positive spacing: where dcm2niix is right, the two agree."""
    truth = write_nm_tomo(tmp_path / "nm" / "spect.dcm", slope=0.5, compress=compress)
    vol = _assert_opens_as_truth(truth.files[0], truth, slope=0.5)
    (ref,) = dcm2niix(tmp_path / "nm", tmp_path / "ref")
    ref_img = nib.load(ref)
    want, want_affine = _canonical(np.asanyarray(ref_img.dataobj), ref_img.affine)
    got, got_affine = _canonical(vol.compute(), vol.affine)
    np.testing.assert_allclose(got_affine, want_affine, atol=1e-3)
    np.testing.assert_allclose(got, want)


def _edited(tmp_path, edit):
    truth = write_nm_tomo(tmp_path / "nm" / "spect.dcm")
    ds = dcmread(truth.files[0])
    edit(ds)
    ds.save_as(truth.files[0])
    return truth.files[0]


def _drop(name):
    return lambda ds: delattr(ds, name)


def _gated(ds):
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON GATED TOMO", "EMISSION"]
    ds.FrameIncrementPointer = [0x00540070, 0x00540080]


def _detector_without_position(ds):
    del ds.DetectorInformationSequence[0].ImagePositionPatient


def _short_slice_vector(ds):
    ds.SliceVector = list(ds.SliceVector)[:-1]


@pytest.mark.parametrize(
    ("edit", "error", "named"),
    [
        (_gated, lv.UnsupportedError, "FrameIncrementPointer (0028,0009) names (0054,0070)"),
        (_drop("DetectorInformationSequence"), lv.FormatError, "DetectorInformationSequence"),
        (_detector_without_position, lv.FormatError, "ImagePositionPatient in"),
        (_short_slice_vector, lv.FormatError, "SliceVector (0054,0080)"),
        (_drop("SpacingBetweenSlices"), lv.FormatError, "SpacingBetweenSlices (0018,0088)"),
        (_drop("FrameIncrementPointer"), lv.UnsupportedError, "names nothing"),
    ],
    ids=[
        "gated",
        "no-detector-items",
        "no-position",
        "short-slice-vector",
        "no-spacing",
        "no-pointer",
    ],
)
def test_a_spect_reconstruction_that_cannot_be_located_is_refused(tmp_path, edit, error, named):
    """Never guessed: what is missing or of another kind is named (gated frames vary by time
    slot as well as slice; without the spacing or the detector item the slices lie nowhere)."""
    path = _edited(tmp_path, edit)
    with pytest.raises(error, match=r"spect\.dcm") as err:
        lv.open(path)
    assert named in str(err.value)


def test_two_frames_of_one_slice_are_refused(tmp_path):
    """A SliceVector naming one slice twice puts two frames at one position: refused as
    duplicates, not one of them dropped."""
    path = _edited(tmp_path, lambda ds: setattr(ds, "SliceVector", [1, 1, *range(3, 17)]))
    with pytest.raises(lv.LazyvolError, match=r"spect\.dcm"):
        lv.open(path).compute()


@pytest.mark.parametrize(
    ("vector", "named"),
    [([1, 1, *range(3, 17)], "slice 1 for frames [1, 2]"), ([*range(1, 16), 15], "slice 15 for")],
)
def test_a_slice_vector_naming_a_slice_twice_is_named(tmp_path, vector, named):
    """One file whose SliceVector names a slice twice is refused for that, the slice and its frames
    named; it was refused as "mixed acquisitions sharing one SeriesInstanceUID ... move each
    acquisition's files into a folder of its own" or "the last volume is incomplete" (h198)."""
    path = _edited(tmp_path, lambda ds: setattr(ds, "SliceVector", vector))
    with pytest.raises(lv.FormatError, match=r"spect\.dcm") as err:
        lv.open(path)
    assert f"SliceVector (0054,0080) names {named}" in str(err.value)
    assert "folder of its own" not in str(err.value) and "incomplete" not in str(err.value)


def test_a_spect_reconstruction_in_implicit_vr_opens_the_same(tmp_path):
    """Implicit VR: the detector items and the Frame Increment Pointer (VR AT) read by the
    dictionary's VR."""
    truth = write_nm_tomo(tmp_path / "nm" / "spect.dcm", spacing=(4.0, 4.0, -3.0))
    ds = dcmread(truth.files[0])
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2"
    ds.save_as(truth.files[0], implicit_vr=True, little_endian=True)
    _assert_opens_as_truth(truth.files[0], truth)


@pytest.mark.parametrize("top_level", [False, True], ids=["detector-only", "top-level-disagrees"])
def test_a_one_slice_reconstruction_lies_where_its_detector_item_says(tmp_path, top_level):
    """NumberOfFrames 1: the position and orientation are still the detector item's (the NM
    Image IOD states them nowhere else). It was refused for lacking ImagePositionPatient, or read
    silently at a top-level pair some exporters add that disagrees with the item (h198)."""
    truth = write_nm_tomo(
        tmp_path / "nm" / "spect.dcm", shape=(32, 24, 1), orientation="coronal", spacing=(4, 3, 5)
    )
    if top_level:
        ds = dcmread(truth.files[0])
        ds.ImagePositionPatient = ["0", "0", "0"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.save_as(truth.files[0])
    _assert_opens_as_truth(truth.files[0], truth)


def _one_gate(ds, time_slots=None):
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON GATED TOMO", "EMISSION"]
    ds.FrameIncrementPointer = [0x00540060, 0x00540070, 0x00540080]  # (PS3.3 C.8.4.8.1.x)
    ds.NumberOfRRIntervals, ds.RRIntervalVector = 1, [1] * 16
    ds.NumberOfTimeSlots = 1
    ds.TimeSlotVector = time_slots or [1] * 16


def test_a_gated_reconstruction_of_one_gate_opens_as_its_slices(tmp_path):
    """A gated reconstruction's pointer names RRIntervalVector, TimeSlotVector, SliceVector (the
    standard's); with one R-R interval and one time slot its frames are its slices. It was
    refused as gated frames (h198)."""
    order = [3, 0, 1, 2, *range(4, 12), 15, 14, 13, 12]
    truth = write_nm_tomo(tmp_path / "nm" / "spect.dcm", spacing=(4, 4, -3), frame_order=order)
    ds = dcmread(truth.files[0])
    _one_gate(ds)
    ds.save_as(truth.files[0])
    _assert_opens_as_truth(truth.files[0], truth)


def test_a_gated_reconstruction_of_two_gates_is_still_refused(tmp_path):
    path = _edited(tmp_path, lambda ds: _one_gate(ds, [1, 2] * 8))
    with pytest.raises(lv.UnsupportedError, match="names \\(0054,0060\\), \\(0054,0070\\)"):
        lv.open(path)


def test_a_frame_increment_pointer_written_as_ul_is_read(tmp_path):
    """FrameIncrementPointer written with VR UL (one 32-bit number, 0x00540080) in an explicit VR
    file names SliceVector as pydicom reads it; it was refused as naming "nothing" (h198)."""
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    order = [3, 0, 1, 2, *range(4, 16)]
    truth = write_nm_tomo(tmp_path / "nm" / "spect.dcm", spacing=(4, 4, -3), frame_order=order)
    ds = dcmread(truth.files[0])
    del ds.FrameIncrementPointer
    value = (0x00540080).to_bytes(4, "little")
    ds._dict[Tag(0x00280009)] = RawDataElement(Tag(0x00280009), "UL", 4, value, 0, False, True)
    ds.save_as(truth.files[0])
    assert dcmread(truth.files[0]).FrameIncrementPointer == 0x00540080  # (the reference)
    _assert_opens_as_truth(truth.files[0], truth)


def _second_detector_item(ds, position=None):
    item = copy.deepcopy(ds.DetectorInformationSequence[0])
    if position is not None:
        item.ImagePositionPatient = position
    ds.DetectorInformationSequence.append(item)
    ds.NumberOfDetectors = 2


def test_detector_items_that_agree_state_one_geometry(tmp_path):
    """Two DetectorInformationSequence items (one per head) stating the same position and
    orientation place the slices as one does (GDCM reads the first item); it was refused for
    having two items (h198)."""
    truth = write_nm_tomo(
        tmp_path / "nm" / "spect.dcm", spacing=(4, 4, -3), frame_order=[*range(15, -1, -1)]
    )
    ds = dcmread(truth.files[0])
    _second_detector_item(ds)
    ds.save_as(truth.files[0])
    _assert_opens_as_truth(truth.files[0], truth)


def test_detector_items_that_disagree_are_refused(tmp_path):
    path = _edited(tmp_path, lambda ds: _second_detector_item(ds, ["0", "0", "0"]))
    with pytest.raises(lv.FormatError, match="2 items of different geometry"):
        lv.open(path)


def test_a_reconstruction_split_into_one_file_per_slice_opens(tmp_path):
    """Each file one frame, its SliceVector naming its slice, the detector item the first slice's
    position (the multi-frame rule, frame by frame): the files stack where the slices lie."""
    truth = write_nm_tomo(tmp_path / "full.dcm", shape=(32, 24, 4), spacing=(4, 4, -3))

    def edit(one, k):
        one.NumberOfSlices, one.SliceVector = 1, [k + 1]
        one.InstanceNumber = 4 - k

    _split_one_file_per_slice(truth, tmp_path / "split", edit)
    _assert_opens_as_truth(tmp_path / "split", truth)


def _split_one_file_per_slice(truth, folder, edit):
    """``truth``'s file split into one-frame files in ``folder``, each edited by ``edit(ds, k)``
    (k: its frame, here its slice) after its pixels and identity are its own."""
    import pydicom

    ds = dcmread(truth.files[0])
    size = len(ds.PixelData) // int(ds.NumberOfFrames)
    folder.mkdir()
    for k in range(int(ds.NumberOfFrames)):
        one = copy.deepcopy(ds)
        one.PixelData = ds.PixelData[k * size : (k + 1) * size]
        one.NumberOfFrames = 1
        one.SOPInstanceUID = one.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        edit(one, k)
        one.save_as(folder / f"s{k}.dcm")


@pytest.mark.parametrize("vector", ["whole", "none"])
def test_split_files_that_kept_the_whole_slice_vector_keep_their_own_positions(tmp_path, vector):
    """One-frame files that kept their source's SliceVector (one number per source frame), or
    have none, and the detector item, each placed by its own top-level ImagePositionPatient:
    those positions, not all at the detector item's first slice."""
    truth = write_nm_tomo(tmp_path / "full.dcm", shape=(32, 24, 4), spacing=(4, 4, 3))

    def edit(one, k):
        if vector == "none":
            del one.SliceVector, one.FrameIncrementPointer
        one.ImagePositionPatient = [str(v) for v in truth.positions[k]]
        one.ImageOrientationPatient = one.DetectorInformationSequence[0].ImageOrientationPatient

    _split_one_file_per_slice(truth, tmp_path / "split", edit)
    _assert_opens_as_truth(tmp_path / "split", truth)


@pytest.mark.parametrize("frames", ["0", "-3"])
def test_a_reconstruction_of_no_frames_is_refused_for_that(tmp_path, frames):
    """NumberOfFrames 0 (or negative) is a corrupt header, said so as for any image; it was
    refused for a SliceVector that "is not one slice number (1 to 0) per frame" (h198)."""
    path = _edited(tmp_path, lambda ds: setattr(ds, "NumberOfFrames", frames))
    with pytest.raises(lv.FormatError, match=r"spect\.dcm") as err:
        lv.open(path)
    assert "NumberOfFrames (0028,0008) = " in str(err.value)
    assert "SliceVector" not in str(err.value)
