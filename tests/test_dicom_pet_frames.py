"""Dynamic PET stored one image a file: frames told apart by FrameReferenceTime (0054,1300) (and
ImageIndex (0054,1330), both Type 1 in the PET Image module), AcquisitionTime the series start in
every image. dcm2niix orders such volumes by FrameReferenceTime ("Reordering volumes based on
FrameReferenceTime", its issue 577); lazyvol went by InstanceNumber (frames out of time order, no
word said) or, InstanceNumber restarting in each frame, refused them as another export's images.
Compared with the synthetic truth and with the values pydicom reads from the files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

PET_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
SHAPE = (12, 10, 5)
#: Frame t (in time order): its duration (ms) and decay factor.
DURATIONS = [30000, 60000, 120000]
DECAY = [1.0, 1.01, 1.03]


def _reference(t: int) -> float:
    """FrameReferenceTime of frame t (ms): the middle of the frame."""
    return sum(DURATIONS[:t]) + DURATIONS[t] / 2


def _dynamic_pet(folder: Path, numbers: list[list[int]], frame_refs: list[float]) -> np.ndarray:
    """Frames t = 0.. (time order) of one series, ``numbers[t]`` the InstanceNumbers of frame t's
    slices, ``frame_refs[t]`` its FrameReferenceTime; file names not in time order. The scaled
    truth, frames along the 4th axis in time order."""
    nt, ns = len(numbers), SHAPE[2]
    truths = []
    for t in range(nt):
        truth = write_dicom_series(
            folder,
            SHAPE,
            spacing=(4.0, 4.0, 3.27),
            modality="PT",
            series_uid="1.2.826.0.1.3680043.8.498.4301",
            prefix="ZMA"[t],  # (name order: frame 2, then 1, then 0)
            seed=10 + t,
            slope=0.5,
            extra={
                "Units": "BQML",
                "FrameReferenceTime": frame_refs[t],
                "ActualFrameDuration": DURATIONS[t],
                "DecayFactor": DECAY[t],
                "DecayCorrection": "START",
                "NumberOfTimeSlices": nt,
                "NumberOfSlices": ns,
                "AcquisitionTime": "100000",
                "SeriesTime": "100000",
            },
            per_slice=[
                {"InstanceNumber": numbers[t][k], "ImageIndex": t * ns + k + 1} for k in range(ns)
            ],
        )
        for path in truth.files:  # PET Image Storage (the writer's PT files are Secondary Capture)
            ds = pydicom.dcmread(path)
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = PET_STORAGE
            ds.save_as(path)
        truths.append(truth.scaled("float32"))
    return np.stack(truths, axis=-1)


@pytest.mark.parametrize("numbering", ["out_of_time_order", "restarting"])
def test_dynamic_pet_volumes_follow_frame_reference_time(tmp_path, numbering):
    """InstanceNumbers frame by frame but not in time order (frames numbered as blocks 1, 2, 0),
    or restarting at 1 in each frame: the 4th axis in FrameReferenceTime order, the rule named,
    the sidecar's frame lists in that order; InstanceNumbers that order the frames otherwise are
    said (dcm2niix goes by FrameReferenceTime too)."""
    ns = SHAPE[2]
    if numbering == "out_of_time_order":
        numbers = [[b * ns + k + 1 for k in range(ns)] for b in (1, 2, 0)]
    else:
        numbers = [[k + 1 for k in range(ns)] for _ in range(3)]
    truth = _dynamic_pet(tmp_path / "s", numbers, [_reference(t) for t in range(3)])
    vol = lv.open(tmp_path / "s")
    assert vol.shape == (*SHAPE, 3)
    assert vol.meta["axis4_rule"] == "FrameReferenceTime (0054,1300)"
    np.testing.assert_allclose(vol.compute(), truth)
    # every frame's values as pydicom reads them from its files, frames in time order
    frames = sorted(
        (pydicom.dcmread(p, stop_before_pixels=True) for p in (tmp_path / "s").glob("*.dcm")),
        key=lambda ds: float(ds.FrameReferenceTime),
    )[::ns]
    refs = [float(ds.FrameReferenceTime) for ds in frames]
    assert vol.meta["axis4_values"]["FrameReferenceTime"] == refs
    vol.to_nifti(tmp_path / "pet.nii")
    side = json.loads((tmp_path / "pet.json").read_text())
    assert side["FrameReferenceTime"] == pytest.approx([r / 1000 for r in refs])
    assert side["FrameDuration"] == pytest.approx(
        [float(ds.ActualFrameDuration) / 1000 for ds in frames]
    )
    assert side["DecayCorrectionFactor"] == pytest.approx([float(ds.DecayFactor) for ds in frames])
    said = [w for w in vol.meta.get("warnings", []) if "4th axis" in w]
    if numbering == "out_of_time_order":
        (warned,) = said
        assert "ordered by FrameReferenceTime (0054,1300)" in warned
        assert "InstanceNumber (0020,0013) orders them otherwise" in warned
    else:  # (numbers repeating at a position order nothing: nothing to contradict)
        assert said == []


def test_pet_frames_a_time_label_cannot_order_are_not_called_an_export(tmp_path):
    """Two frames stating one FrameReferenceTime (InstanceNumber restarting in each frame): no
    rule orders the volumes, and the refusal says FrameReferenceTime varies among the images at a
    position but does not order them, and why, not that the series is another export's images."""
    ns = SHAPE[2]
    numbers = [[k + 1 for k in range(ns)] for _ in range(3)]
    _dynamic_pet(tmp_path / "s", numbers, [_reference(0), _reference(0), _reference(2)])
    with pytest.raises(lv.SeriesError) as exc:
        lv.open(tmp_path / "s")
    msg = str(exc.value)
    assert "FrameReferenceTime (0054,1300) varies among the images at a slice position" in msg
    assert "2 values among its 3 images" in msg
    assert "does not order the volumes (2 distinct value(s) for 3 images at one position)" in msg
    assert "export or anonymiser" not in msg and "move one set" not in msg
