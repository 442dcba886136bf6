"""Dynamic PET stored one image a file: frames told apart by FrameReferenceTime (0054,1300) (and
ImageIndex (0054,1330), both Type 1 in the PET Image module), AcquisitionTime the series start in
every image. dcm2niix orders such volumes by FrameReferenceTime ("Reordering volumes based on
FrameReferenceTime", its issue 577) when their InstanceNumbers do not number them slice by slice
frame after frame (restarting in each frame, or numbering position by position), and keeps the
InstanceNumber order when they do; lazyvol went by InstanceNumber (frames out of time order, no
word said; also when each slice states its own reference time) or, InstanceNumber restarting in
each frame, refused them as another export's images. Compared with the synthetic truth, with the
values pydicom reads from the files and with dcm2niix's output."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

PET_STORAGE = "1.2.840.10008.5.1.4.1.1.128"


def _pet_runs(folder, uid, extras, slopes=None):
    """One 5-slice PET run (8 x 6 x 5) per dict of ``extras`` under one SeriesInstanceUID, the
    runs numbered one after the other (InstanceNumber 1-5, 6-10, ...), run n's slope
    ``slopes[n]`` (1 by default); their truths."""
    return [
        write_dicom_series(
            folder,
            (8, 6, 5),
            modality="PT",
            series_uid=uid,
            prefix=f"R{n}",
            seed=n,
            slope=slopes[n] if slopes else 1.0,
            extra={"SOPClassUID": PET_STORAGE, **extra},
            per_slice=[{"InstanceNumber": n * 5 + k + 1} for k in range(5)],
        )
        for n, extra in enumerate(extras)
    ]


SHAPE = (12, 10, 5)
#: Frame t (in time order): its duration (ms) and decay factor.
DURATIONS = [30000, 60000, 120000]
DECAY = [1.0, 1.01, 1.03]


def _reference(t: int) -> float:
    """FrameReferenceTime of frame t (ms): the middle of the frame."""
    return sum(DURATIONS[:t]) + DURATIONS[t] / 2


def _dynamic_pet(
    folder: Path,
    numbers: list[list[int]],
    frame_refs: list[float] | list[list[float]],
    image_index: bool = True,
) -> np.ndarray:
    """Frames t = 0.. (time order) of one series, ``numbers[t]`` the InstanceNumbers of frame t's
    slices, ``frame_refs[t]`` its FrameReferenceTime (or its slices' own, a list), ImageIndex
    (0054,1330) in time order unless not ``image_index``; file names not in time order. The
    scaled truth, frames along the 4th axis in time order."""
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
                "ActualFrameDuration": DURATIONS[t],
                "DecayFactor": DECAY[t],
                "DecayCorrection": "START",
                "NumberOfTimeSlices": nt,
                "NumberOfSlices": ns,
                "AcquisitionTime": "100000",
                "SeriesTime": "100000",
            },
            per_slice=[
                {
                    "InstanceNumber": numbers[t][k],
                    "FrameReferenceTime": _at(frame_refs[t], k),
                    **({"ImageIndex": t * ns + k + 1} if image_index else {}),
                }
                for k in range(ns)
            ],
        )
        for path in truth.files:  # PET Image Storage (the writer's PT files are Secondary Capture)
            ds = pydicom.dcmread(path)
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = PET_STORAGE
            ds.save_as(path)
        truths.append(truth.scaled("float32"))
    return np.stack(truths, axis=-1)


def _at(refs: float | list[float], k: int) -> float:
    """Slice k's FrameReferenceTime: the frame's, or the slice's own."""
    return refs[k] if isinstance(refs, list) else refs


def _numbers(numbering: str, nt: int = 3) -> list[list[int]]:
    """InstanceNumbers of frame t's slices: frame by frame but not in time order (blocks 1, 2,
    0), position by position (frames in that order at each position), or restarting at 1 in
    each frame."""
    ns = SHAPE[2]
    if numbering == "out_of_time_order":
        return [[b * ns + k + 1 for k in range(ns)] for b in (1, 2, 0)[:nt]]
    if numbering == "position_by_position":
        return [[k * nt + b + 1 for k in range(ns)] for b in (1, 2, 0)[:nt]]
    return [[k + 1 for k in range(ns)] for _ in range(nt)]


#: FrameReferenceTime of frame t's slice k (ms): one per frame, the slice's own (a few ms later
#: each slice), or each bed's own (slices 0-2 one bed, 3-4 the next, a whole-body dynamic scan:
#: the next bed's frame starting after this one's, or while the frame after it runs).
TIMINGS = {
    "frame": lambda t, k: _reference(t),
    "slice_10ms": lambda t, k: _reference(t) + 10.0 * k,
    "slice_0.5ms": lambda t, k: _reference(t) + 0.5 * k,
    "bed": lambda t, k: _reference(t) + 20000.0 * (k >= 3),
    "bed_overlapping": lambda t, k: _reference(t) + 50000.0 * (k >= 3),
}


def _frame_refs(timing: str, nt: int = 3) -> list[list[float]]:
    return [[TIMINGS[timing](t, k) for k in range(SHAPE[2])] for t in range(nt)]


@pytest.mark.parametrize("timing", list(TIMINGS))
@pytest.mark.parametrize("numbering", ["out_of_time_order", "restarting"])
def test_dynamic_pet_volumes_follow_frame_reference_time(tmp_path, numbering, timing):
    """InstanceNumbers frame by frame but not in time order (frames numbered as blocks 1, 2, 0),
    or restarting at 1 in each frame; FrameReferenceTime one per frame, or each slice's or bed's
    own: the 4th axis in FrameReferenceTime order, the rule named, the sidecar's frame lists in
    that order; InstanceNumbers that order the frames otherwise are said, as is what dcm2niix
    does (it keeps the InstanceNumber order of images numbered frame by frame). Beds whose
    frames overlap in time with InstanceNumbers restarting: nothing tells which images of one
    bed go with which of the other, so no order (the next test's refusal)."""
    ns = SHAPE[2]
    truth = _dynamic_pet(tmp_path / "s", _numbers(numbering), _frame_refs(timing))
    if timing == "bed_overlapping" and numbering == "restarting":
        with pytest.raises(
            lv.SeriesError,
            match=r"FrameReferenceTime \(0054,1300\): values differ .* volumes overlap in time",
        ):
            lv.open(tmp_path / "s")
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vol = lv.open(tmp_path / "s")
    assert vol.shape == (*SHAPE, 3)
    assert vol.meta["axis4_rule"] == "FrameReferenceTime (0054,1300)"
    np.testing.assert_allclose(vol.compute(), truth)
    # every frame's values as pydicom reads them from its first slice's file (ImageIndex
    # (0054,1330): frame t's slice k is t * ns + k + 1), frames in time order
    files = [pydicom.dcmread(p, stop_before_pixels=True) for p in (tmp_path / "s").glob("*.dcm")]
    frames = sorted((ds for ds in files if ds.ImageIndex % ns == 1), key=lambda ds: ds.ImageIndex)
    refs = [float(ds.FrameReferenceTime) for ds in frames]
    assert refs == sorted(refs)
    assert vol.meta["axis4_values"]["FrameReferenceTime"] == refs
    vol.to_nifti(tmp_path / "pet.nii")
    side = json.loads((tmp_path / "pet.json").read_text())
    assert side["FrameReferenceTime"] == pytest.approx([r / 1000 for r in refs])
    assert side["FrameDuration"] == pytest.approx(
        [float(ds.ActualFrameDuration) / 1000 for ds in frames]
    )
    assert side["DecayCorrectionFactor"] == pytest.approx([float(ds.DecayFactor) for ds in frames])
    said = [w for w in vol.meta.get("warnings", []) if "4th axis" in w]
    warned = [str(w.message) for w in caught if "4th axis" in str(w.message)]
    if numbering == "out_of_time_order":
        (note,) = said
        assert "ordered by FrameReferenceTime (0054,1300)" in note
        assert "InstanceNumber (0020,0013) orders them otherwise" in note
        assert "[1, 2, 0]" in note and "else keeps the InstanceNumber order" in note
        assert warned == [f"lazyvol: {note}"]
    else:  # (numbers repeating at a position order nothing: nothing to contradict)
        assert said == warned == []


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


@pytest.mark.parametrize("image_index", [True, False], ids=["ImageIndex", "no-ImageIndex"])
@pytest.mark.parametrize("numbering", ["out_of_time_order", "position_by_position"])
def test_pet_order_warning_says_what_dcm2niix_does(tmp_path, numbering, image_index, dcm2niix):
    """The warning on frames InstanceNumber orders otherwise says what dcm2niix does, as dcm2niix
    does it (it said dcm2niix went by FrameReferenceTime too): the ImageIndex (0054,1330) order
    when stated (here the time order), else the InstanceNumber order for frames numbered frame by
    frame and the FrameReferenceTime order for frames numbered position by position. Frames
    compared through their sums (dcm2niix flips the rows)."""
    truth = _dynamic_pet(tmp_path / "s", _numbers(numbering), _frame_refs("frame"), image_index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vol = lv.open(tmp_path / "s")
    np.testing.assert_allclose(vol.compute(), truth)
    (note,) = [w for w in vol.meta["warnings"] if "4th axis" in w]
    assert "dcm2niix orders PET frames by ImageIndex (0054,1330) when stated, else " in note
    (nii,) = dcm2niix(tmp_path / "s", tmp_path / "out")
    theirs = np.asarray(nib.load(nii).dataobj, dtype=np.float64)
    sums = [float(truth[..., t].sum()) for t in range(3)]
    got = [int(np.argmin([abs(float(theirs[..., i].sum()) - x) for x in sums])) for i in range(3)]
    if image_index or "else orders them by FrameReferenceTime too" in note:
        assert got == [0, 1, 2]
    else:
        assert "else keeps the InstanceNumber order" in note
        assert got == [2, 0, 1]  # (the frame numbered first: time point 2)
    assert ("keeps the InstanceNumber order" in note) == (numbering == "out_of_time_order")


def test_overlapping_pet_beds_in_one_series_are_refused_with_a_remedy(tmp_path):
    """Two PET beds under one SeriesInstanceUID whose slices overlap (InstanceNumber restarting
    in each bed): the positions in the overlap hold two images, the others one. The refusal
    named those images and the causes but no way past them; it now says what to do."""
    uid = "1.2.826.0.1.3680043.8.498.4242"
    extra = {"SOPClassUID": PET_STORAGE, "Units": "BQML", "DecayCorrection": "START"}
    for prefix, z0, slope in (("B1", 0.0, 0.5), ("B2", 15.0, 0.25)):
        write_dicom_series(
            tmp_path / "s",
            (8, 6, 10),
            modality="PT",
            spacing=(2.0, 2.0, 2.5),
            origin=(-10.0, -10.0, z0),
            series_uid=uid,
            prefix=prefix,
            slope=slope,
            extra=extra,
        )
    with pytest.raises(lv.SeriesError) as exc:
        lv.open(tmp_path / "s")
    msg = str(exc.value)
    assert "B100006.dcm" in msg and "B200000.dcm" in msg  # (both images at 15 mm)
    assert "move each acquisition's files" in msg and "into a folder of its own" in msg


@pytest.mark.parametrize(
    ("attribute", "values"),
    [
        ("CorrectedImage", (["DECY", "ATTN", "SCAT"], ["DECY"])),
        ("Units", ("BQML", "CNTS")),
        ("ReconstructionMethod", ("OSEM3D 4i8s", "FBP")),
        ("DecayCorrection", ("START", "NONE")),
    ],
)
def test_two_pet_reconstructions_under_one_uid_are_split_not_stacked_as_frames(
    tmp_path, attribute, values
):
    """Attenuation-corrected and uncorrected images of one PET acquisition (or two methods, two
    units) filed under one SeriesInstanceUID, InstanceNumbers numbering them one set after the
    other: they were stacked as two frames of a 4D volume by InstanceNumber rank, different
    quantities given as time points, no word said (dcm2niix stacks them so). They are split, as
    two CT kernels are, each volume opening with its own values."""
    truths = _pet_runs(
        tmp_path / "s",
        "1.2.826.0.1.3680043.8.498.1212",
        [{"Units": "BQML", "AcquisitionTime": "100000", attribute: v} for v in values],
        slopes=[0.5 + n for n in range(len(values))],
    )
    with pytest.raises(lv.MultipleSeriesError, match=rf"{attribute} \(00[0-9a-fA-F,]+\) differs"):
        lv.open(tmp_path / "s")
    infos = lv.scan(tmp_path / "s")
    assert sorted(info.shape for info in infos) == [(8, 6, 5), (8, 6, 5)]
    for info in infos:
        truth = next(t for t in truths if sorted(t.files) == sorted(info.files))
        vol = lv.open(tmp_path / "s", series=info.id)
        np.testing.assert_array_equal(vol.compute(), truth.stored * truth.slopes[0])


@pytest.mark.parametrize(
    ("attribute", "values"),
    [
        ("Units", ("BQML", "Bqml")),
        ("ReconstructionMethod", ("OSEM3D 4i8s", "osem3d  4I8S ")),
        ("DecayCorrection", ("START", "start")),
    ],
)
def test_a_reconstruction_spelt_two_ways_is_one_series(tmp_path, attribute, values):
    """The frames of one dynamic PET reconstruction whose later frames spell a Units /
    ReconstructionMethod / DecayCorrection value in another case or spacing are one 4D series
    (as dcm2niix stacks them), not two reconstructions split apart."""
    _pet_runs(
        tmp_path / "s",
        "1.2.826.0.1.3680043.8.498.1213",
        [
            {"Units": "BQML", attribute: v, "AcquisitionTime": f"10{n}000"}
            for n, v in enumerate(values)
        ],
    )
    infos = lv.scan(tmp_path / "s")
    assert [info.shape for info in infos] == [(8, 6, 5, 2)]


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("ReconstructionMethod", "OSEM3D 4i8s"),
        ("DecayCorrection", "START"),
        ("CorrectedImage", ["DECY", "ATTN"]),
        ("Units", "BQML"),
    ],
)
def test_a_reconstruction_some_frames_of_which_leave_a_value_out_is_one_series(
    tmp_path, attribute, value
):
    """A value left out (an anonymiser's blank) splits nothing alone: 9f56e53 upper-cased the
    'missing' placeholder too, so frames without ReconstructionMethod / DecayCorrection /
    CorrectedImage / Units were split from those stating it (two 3D volumes where dcm2niix
    stacks one 4D series)."""
    _pet_runs(
        tmp_path / "s",
        "1.2.826.0.1.3680043.8.498.1214",
        [{"AcquisitionTime": "100000", attribute: value}, {"AcquisitionTime": "101000"}],
    )
    infos = lv.scan(tmp_path / "s")
    assert [info.shape for info in infos] == [(8, 6, 5, 2)]


@pytest.mark.parametrize("image_index", [True, False], ids=["ImageIndex", "no-ImageIndex"])
def test_gated_pet_order_warning_says_what_dcm2niix_does(tmp_path, image_index, dcm2niix):
    """Gated PET (gates told apart by TriggerTime (0018,1060), numbered out of gate order): the
    warning said dcm2niix keeps the InstanceNumber order, but dcm2niix orders PET frames by
    ImageIndex (0054,1330) whenever stated, as it does for frames told apart by
    FrameReferenceTime. lazyvol's order (TriggerTime) is compared with dcm2niix's."""
    src, nk, order = tmp_path / "s", 5, [2, 0, 3, 1]
    uid = pydicom.uid.generate_uid()
    truths = []
    for g in range(4):
        per = [
            {"TriggerTime": 250.0 * g, "InstanceNumber": order[g] * nk + k + 1}
            | ({"ImageIndex": g * nk + k + 1} if image_index else {})
            for k in range(nk)
        ]
        truths.append(
            write_dicom_series(
                src,
                (8, 6, nk),
                modality="PT",
                series_uid=uid,
                prefix=f"G{g}",
                seed=g,
                extra={"SOPClassUID": PET_STORAGE, "SeriesType": ["GATED", "IMAGE"]},
                per_slice=per,
            ).stored
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vol = lv.open(src, scale=False)
    np.testing.assert_array_equal(vol.compute(), np.stack(truths, axis=-1))
    (note,) = [w for w in vol.meta["warnings"] if "4th axis" in w]
    assert "dcm2niix orders PET frames by ImageIndex (0054,1330) when stated, else " in note
    (nii,) = dcm2niix(src, tmp_path / "out")
    theirs = np.asarray(nib.load(nii).dataobj, dtype=np.float64)
    sums = [float(t.sum()) for t in truths]
    got = [int(np.argmin([abs(float(theirs[..., i].sum()) - x) for x in sums])) for i in range(4)]
    assert got == ([0, 1, 2, 3] if image_index else [1, 3, 0, 2])  # (else InstanceNumber order)
