"""Enhanced multi-frame files: per-frame geometry from functional groups, 4D, per-frame decode."""

from __future__ import annotations

import json
import os

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

import lazyvol as lv
from lazyvol.testing import write_dicom_series, write_enhanced_dicom

pytestmark = pytest.mark.usefixtures("dicom_cache")
SHAPE = (32, 48, 12)
SHUFFLED = [3, 1, 0, 2, 5, 4, 7, 6, 9, 8, 11, 10]


@pytest.mark.parametrize(
    "compress", [None, RLELossless, JPEG2000Lossless], ids=["native", "rle", "j2k"]
)
@pytest.mark.parametrize("orientation", ["axial", "oblique"])
def test_enhanced_matches_truth(tmp_path, compress, orientation):
    truth = write_enhanced_dicom(
        tmp_path / "e.dcm",
        SHAPE,
        orientation=orientation,
        frame_order=SHUFFLED,
        slope=[1.0 + (k % 3) for k in range(12)],
        intercept=-3.0,
        compress=compress,
    )
    vol = lv.open(tmp_path / "e.dcm")
    assert vol.shape == SHAPE
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    np.testing.assert_array_equal(vol.compute(), truth.scaled(np.float32))
    np.testing.assert_array_equal(lv.open(tmp_path / "e.dcm", scale=False).compute(), truth.stored)


def test_enhanced_4d_temporal_and_echo(tmp_path):
    truth = write_enhanced_dicom(tmp_path / "t.dcm", SHAPE, n_volumes=3, frame_order=SHUFFLED)
    vol = lv.open(tmp_path / "t.dcm")
    assert vol.shape == (*SHAPE, 3)
    assert vol.meta["axis4_values"]["TemporalPositionIdentifier"] == [1, 2, 3]
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    sub = vol[:, :, :, 1:]
    assert sub.meta["axis4_values"]["TemporalPositionIdentifier"] == [2, 3]
    truth = write_enhanced_dicom(
        tmp_path / "e.dcm", SHAPE, n_volumes=2, volume_tag="EffectiveEchoTime"
    )
    vol = lv.open(tmp_path / "e.dcm")
    assert vol.meta["axis4"] == "EchoTime"
    assert vol.meta["axis4_values"]["EchoTime"] == [10.0, 20.0]
    np.testing.assert_array_equal(vol.compute(), truth.stored)


def test_enhanced_echo_cut_has_its_echo_number(tmp_path):
    """An echo cut from an enhanced file of several echo times (no EchoNumbers of its own per
    frame) has dcm2niix's EchoNumber (1, 2, 3: it writes each echo apart) beside its EchoTime;
    it had none. The axis stays named by EchoTime (with or without a DimensionIndexSequence)."""
    from pydicom.datadict import tag_for_keyword
    from pydicom.dataset import Dataset

    def dimensions(ds):
        items = []
        for kw in ("InStackPositionNumber", "EffectiveEchoTime"):
            item = Dataset()
            item.DimensionIndexPointer = tag_for_keyword(kw)
            items.append(item)
        ds.DimensionIndexSequence = items
        for g in ds.PerFrameFunctionalGroupsSequence:
            fc = g.FrameContentSequence[0]
            echo = int(g.MREchoSequence[0].EffectiveEchoTime // 10)
            fc.DimensionIndexValues = [int(fc.InStackPositionNumber), echo]

    for indexed in (False, True):
        path = tmp_path / f"e{indexed}.dcm"
        write_enhanced_dicom(path, (8, 8, 4), n_volumes=3, volume_tag="EffectiveEchoTime")
        if indexed:
            _edit(path, dimensions)
        vol = lv.open(path)
        assert vol.meta["axis4"] == "EchoTime"
        assert vol.meta["axis4_values"]["EchoNumbers"] == [1, 2, 3]
        echo = vol[..., 1]
        assert echo.meta["bids"]["EchoTime"] == 0.02
        assert echo.meta["bids"]["EchoNumber"] == 2
        echo.to_nifti(tmp_path / f"echo{indexed}.nii")
        sidecar = json.loads((tmp_path / f"echo{indexed}.json").read_text())
        assert (sidecar["EchoTime"], sidecar["EchoNumber"]) == (0.02, 2)


def test_one_frame_of_compressed_multiframe_decodes_one_frame(tmp_path, monkeypatch):
    from lazyvol.dicom import pixels

    truth = write_enhanced_dicom(
        tmp_path / "e.dcm", SHAPE, compress=RLELossless, frame_order=SHUFFLED
    )
    calls = []
    orig = pixels._decode
    monkeypatch.setattr(pixels, "_decode", lambda plan, n: calls.append(n) or orig(plan, n))
    vol = lv.open(tmp_path / "e.dcm", chunks=(32, 48, 1))
    got = vol[:, :, 7:8].compute()
    assert calls == [7]
    np.testing.assert_array_equal(got[:, :, 0], truth.stored[:, :, 7])


def test_truncated_multiframe_native_refused(tmp_path):
    truth = write_enhanced_dicom(tmp_path / "e.dcm", SHAPE)
    size = os.path.getsize(truth.files[0])
    with open(truth.files[0], "r+b") as f:
        f.truncate(size - 32 * 48 * 2 - 10)
    with pytest.raises(lv.FormatError, match=r"truncated|shorter"):
        lv.open(tmp_path / "e.dcm")


def test_enhanced_against_dcm2niix(tmp_path, dcm2niix):
    write_enhanced_dicom(
        tmp_path / "in" / "e.dcm", SHAPE, orientation="oblique", frame_order=SHUFFLED
    )
    (nii,) = dcm2niix(tmp_path / "in", tmp_path / "out")
    img = nib.as_closest_canonical(nib.load(nii))
    vol = lv.open(tmp_path / "in" / "e.dcm")
    mine = nib.as_closest_canonical(nib.Nifti1Image(vol.compute(), vol.affine))
    np.testing.assert_allclose(mine.affine, img.affine, atol=1e-3)
    np.testing.assert_array_equal(np.asarray(mine.dataobj), img.get_fdata())


def _with_table(src, dst, fragments_per_frame: int, table) -> None:
    """``src`` re-encapsulated with ``fragments_per_frame`` fragments per frame and its Basic
    Offset Table passed through ``table`` (a damaged table, as a faulty writer leaves one)."""
    import struct

    import pydicom
    from pydicom.encaps import encapsulate, generate_frames

    ds = pydicom.dcmread(src)
    n = int(ds.NumberOfFrames)
    frames = list(generate_frames(ds.PixelData, number_of_frames=n))
    data = bytearray(encapsulate(frames, fragments_per_frame=fragments_per_frame, has_bot=True))
    bot = list(struct.unpack_from(f"<{n}I", data, 8))
    struct.pack_into(f"<{n}I", data, 8, *table(bot))
    ds.PixelData = bytes(data)
    ds.save_as(dst)


@pytest.mark.parametrize(
    ("compress", "per_frame"), [(RLELossless, 1), (JPEG2000Lossless, 1), (JPEG2000Lossless, 2)]
)
def test_basic_offset_table_is_checked_before_it_locates_frames(tmp_path, compress, per_frame):
    """A Basic Offset Table that does not start at 0, does not increase, or points between
    fragments never locates frames: with one fragment per frame the fragments do (each slice is
    the right one); with several, the end marker of each JPEG 2000 frame does (as pydicom finds
    frames without a table). A valid table of a frame split over fragments is used as is."""
    truth = write_enhanced_dicom(tmp_path / "e.dcm", (32, 48, 6), compress=compress)
    good = tmp_path / "good.dcm"
    _with_table(tmp_path / "e.dcm", good, per_frame, lambda t: t)
    np.testing.assert_array_equal(lv.open(good, scale=False).compute(), truth.stored)
    for name, table in [
        ("rotated", lambda t: t[1:] + t[:1]),
        ("huge", lambda t: [t[0], 0x7FFFFFFF, *t[2:]]),
        ("between", lambda t: [t[0], t[1] + 2, *t[2:]]),
    ]:
        bad = tmp_path / f"{name}.dcm"
        _with_table(tmp_path / "e.dcm", bad, per_frame, table)
        vol = lv.open(bad, scale=False, chunks=(32, 48, 1))
        for k in range(6):
            got = vol[:, :, k : k + 1].compute()[:, :, 0]
            np.testing.assert_array_equal(got, truth.stored[:, :, k])


@pytest.mark.parametrize(
    ("compress", "per_frame"), [(RLELossless, 1), (JPEG2000Lossless, 1), (JPEG2000Lossless, 2)]
)
@pytest.mark.parametrize("entries", [5, 7], ids=["one-short", "one-more"])
def test_a_basic_offset_table_of_another_count_than_the_frames_is_passed_over(
    tmp_path, compress, per_frame, entries
):
    """A Basic Offset Table with one entry more or fewer than NumberOfFrames is a damaged table
    like any other (one pointing between fragments is passed over): the file was refused ('frames
    cannot be located') where the fragments, or the JPEG 2000 end markers, locate every frame (and
    pydicom reads the one with an entry more)."""
    import struct

    from pydicom.encaps import encapsulate, generate_frames

    truth = write_enhanced_dicom(tmp_path / "e.dcm", (32, 48, 6), compress=compress)
    ds = pydicom.dcmread(tmp_path / "e.dcm")
    frames = list(generate_frames(ds.PixelData, number_of_frames=6))
    data = encapsulate(frames, fragments_per_frame=per_frame, has_bot=True)
    starts = list(struct.unpack_from("<6I", data, 8))
    table = [*starts, starts[-1] + 8][:entries]
    item = struct.pack("<HHI", 0xFFFE, 0xE000, 4 * entries) + struct.pack(f"<{entries}I", *table)
    ds.PixelData = item + data[8 + 24 :]
    ds.save_as(tmp_path / "table.dcm")
    if entries > 6 and per_frame == 1:
        pixels = pydicom.dcmread(tmp_path / "table.dcm").pixel_array
        np.testing.assert_array_equal(pixels.transpose(2, 1, 0), truth.stored)
    vol = lv.open(tmp_path / "table.dcm", scale=False, chunks=(32, 48, 1))
    np.testing.assert_array_equal(vol.compute(), truth.stored)


@pytest.mark.parametrize("compress", [RLELossless, JPEG2000Lossless], ids=["rle", "j2k"])
def test_frames_are_where_the_extended_offset_table_says(tmp_path, compress):
    """The Extended Offset Table (7FE0,0001) says where each frame's one fragment is (PS3.3
    C.7.6.3.1.8), in any order; lazyvol ignored it and took the fragments in file order, so a
    file whose table lists them in another order gave every slice another slice's pixels,
    silently, where pydicom reads each frame where the table says. A table that locates no
    frame (too short, an offset between fragments) is not used: the fragments locate them."""
    import struct

    from pydicom.encaps import encapsulate_extended, generate_frames

    truth = write_enhanced_dicom(tmp_path / "e.dcm", (32, 48, 6), compress=compress)
    ds = pydicom.dcmread(tmp_path / "e.dcm")
    frames = list(generate_frames(ds.PixelData, number_of_frames=6))
    stored = [2, 0, 1, 5, 3, 4]  # the fragment of frame f is frames[f] stored at place stored[f]
    data, offsets, lengths = encapsulate_extended([frames[stored.index(p)] for p in range(6)])
    offsets = struct.unpack("<6Q", offsets)
    lengths = struct.unpack("<6Q", lengths)
    ds.PixelData = data
    ds.ExtendedOffsetTable = struct.pack("<6Q", *(offsets[stored[f]] for f in range(6)))
    ds.ExtendedOffsetTableLengths = struct.pack("<6Q", *(lengths[stored[f]] for f in range(6)))
    ds.save_as(tmp_path / "eot.dcm")
    pixels = pydicom.dcmread(tmp_path / "eot.dcm").pixel_array  # (frames, rows, columns)
    for f in range(6):  # (write_enhanced_dicom stores frame f at slice f)
        np.testing.assert_array_equal(pixels[f].T, truth.stored[:, :, f])
    vol = lv.open(tmp_path / "eot.dcm", scale=False, chunks=(32, 48, 1))
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    np.testing.assert_array_equal(vol[:, :, 3:4].compute()[:, :, 0], truth.stored[:, :, 3])
    for name, table in [("short", offsets[:5]), ("between", (offsets[0] + 2, *offsets[1:]))]:
        ds.PixelData = encapsulate_extended(frames)[0]
        ds.ExtendedOffsetTable = struct.pack(f"<{len(table)}Q", *table)
        ds.ExtendedOffsetTableLengths = struct.pack(f"<{len(table)}Q", *lengths[: len(table)])
        ds.save_as(tmp_path / f"{name}.dcm")
        got = lv.open(tmp_path / f"{name}.dcm", scale=False).compute()
        np.testing.assert_array_equal(got, truth.stored)


@pytest.mark.parametrize("syntax", [JPEG2000Lossless, JPEGLSLossless], ids=["j2k", "jpeg-ls"])
@pytest.mark.parametrize("table", ["none", "damaged"])
def test_several_fragments_a_frame_without_a_usable_table_are_found_by_their_end_marker(
    tmp_path, syntax, table
):
    """Frames split over fragments with no Basic Offset Table (or a damaged one) were refused as
    ambiguous; a JPEG-family frame ends with FFD9 (EOI/EOC), which its coded data hold nowhere
    else, so pydicom finds them: so does lazyvol, values equal to pydicom's and the truth."""
    from pydicom.encaps import encapsulate, generate_frames
    from pydicom.pixels import get_encoder

    if not get_encoder(syntax).is_available:
        pytest.skip(f"no pydicom encoder installed for {syntax.name}")
    truth = write_enhanced_dicom(tmp_path / "e.dcm", (32, 48, 6), compress=syntax)
    ds = pydicom.dcmread(tmp_path / "e.dcm")
    frames = list(generate_frames(ds.PixelData, number_of_frames=6))
    ds.PixelData = encapsulate(frames, fragments_per_frame=3, has_bot=table == "damaged")
    if table == "damaged":  # a Basic Offset Table whose second entry is no fragment's start
        raw = bytearray(ds.PixelData)
        raw[12:16] = (int.from_bytes(raw[12:16], "little") + 2).to_bytes(4, "little")
        ds.PixelData = bytes(raw)
    ds.save_as(tmp_path / "split.dcm")
    vol = lv.open(tmp_path / "split.dcm", scale=False, chunks=(32, 48, 1))
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    k = 4
    np.testing.assert_array_equal(vol[:, :, k : k + 1].compute()[:, :, 0], truth.stored[:, :, k])
    if table == "none":
        pixels = pydicom.dcmread(tmp_path / "split.dcm").pixel_array  # (frames, rows, columns)
        assert sorted(map(bytes, pixels)) == sorted(
            bytes(np.ascontiguousarray(truth.stored[:, :, k].T)) for k in range(6)
        )


@pytest.mark.parametrize("padding", [b"\xff", b"\x00\x00", b"\xff\x00\x00\x00"])
def test_frame_ends_followed_by_padding_are_found(tmp_path, padding):
    """pydicom looks for FFD9 in a fragment's last 10 bytes (its examples_jpeg2k.dcm ends
    ``ff d9 ff``): bytes after the marker were taken for no end (a refusal pydicom reads)."""
    from pydicom.encaps import encapsulate, generate_frames

    truth = write_enhanced_dicom(tmp_path / "e.dcm", (32, 48, 6), compress=JPEG2000Lossless)
    ds = pydicom.dcmread(tmp_path / "e.dcm")
    frames = [
        f.rstrip(b"\x00") + padding for f in generate_frames(ds.PixelData, number_of_frames=6)
    ]
    assert all(f[: -len(padding)].endswith(b"\xff\xd9") for f in frames)
    ds.PixelData = encapsulate(frames, fragments_per_frame=2, has_bot=False)
    ds.save_as(tmp_path / "padded.dcm")
    vol = lv.open(tmp_path / "padded.dcm", scale=False)
    np.testing.assert_array_equal(vol.compute(), truth.stored)


def test_fragments_whose_ends_cannot_be_found_are_unsupported_not_guessed(tmp_path):
    """A frame whose last fragment lost its end marker (the markers then find 5 frames for 6):
    still refused as ambiguous (UnsupportedError, as the docs say), never stitched wrongly."""
    from pydicom.encaps import encapsulate, generate_frames

    write_enhanced_dicom(tmp_path / "e.dcm", (32, 48, 6), compress=JPEG2000Lossless)
    ds = pydicom.dcmread(tmp_path / "e.dcm")
    frames = list(generate_frames(ds.PixelData, number_of_frames=6))
    end = frames[2].rstrip(b"\x00")
    assert end.endswith(b"\xff\xd9")
    frames[2] = end[:-2] + b"\x00\x00"
    ds.PixelData = encapsulate(frames, fragments_per_frame=2, has_bot=False)
    ds.save_as(tmp_path / "split.dcm")
    with pytest.raises(lv.UnsupportedError, match="frame boundaries are ambiguous") as err:
        lv.open(tmp_path / "split.dcm")
    assert "decompress the file" in str(err.value)  # (the fix, which the refusal lacked)


def test_a_classic_multi_frame_image_is_refused_saying_why_and_what_to_do(tmp_path):
    """NumberOfFrames 4 on a plain MR image (no functional groups): where each frame lies is not
    stated; the refusal says so, names the SOP class and the way forward."""
    import pydicom

    truth = write_dicom_series(tmp_path / "s", (8, 6, 4), modality="MR")
    ds = pydicom.dcmread(truth.files[0])
    planes = [pydicom.dcmread(f).PixelData for f in sorted(truth.files)]
    ds.NumberOfFrames = 4
    ds.PixelData = b"".join(planes)
    ds.save_as(tmp_path / "legacy.dcm")
    with pytest.raises(
        lv.UnsupportedError, match=r"MR Image Storage, NumberOfFrames.*= 4\).*dcm2niix"
    ):
        lv.open(tmp_path / "legacy.dcm")


def _edit(path, fn) -> None:
    """Rewrite the enhanced file at ``path`` after ``fn(dataset)`` changed it."""
    import pydicom

    ds = pydicom.dcmread(path)
    fn(ds)
    ds.save_as(path)


def test_enhanced_acquisition_values_come_from_functional_groups(tmp_path):
    """Enhanced files hold RepetitionTime, FlipAngle, InversionTime ... in functional groups
    (MR Timing and Related Parameters, MR Modifier), not at the top level: the sidecar has them
    (dcm2niix writes RepetitionTime 2 s, FlipAngle 75 for this file), per frame included."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    def timing(ds, where, tr):
        t = Dataset()
        t.RepetitionTime, t.FlipAngle = tr, 75.0
        where.MRTimingAndRelatedParametersSequence = Sequence([t])
        m = Dataset()
        m.InversionTimes = [900.0]
        where.MRModifierSequence = Sequence([m])

    path = tmp_path / "e.dcm"
    write_enhanced_dicom(path, (16, 16, 4), n_volumes=3)
    _edit(path, lambda ds: timing(ds, ds.SharedFunctionalGroupsSequence[0], 2000.0))
    bids = lv.open(path).meta["bids"]
    assert (bids["RepetitionTime"], bids["FlipAngle"], bids["InversionTime"]) == (2.0, 75, 0.9)
    # per-frame values that agree are kept; values that differ between frames are not one value
    write_enhanced_dicom(path, (16, 16, 4), n_volumes=3)
    _edit(
        path,
        lambda ds: [
            timing(ds, g, 2000.0 + 500.0 * (n >= 8))
            for n, g in enumerate(ds.PerFrameFunctionalGroupsSequence)
        ],
    )
    bids = lv.open(path).meta["bids"]
    assert "RepetitionTime" not in bids
    assert bids["FlipAngle"] == 75


def test_enhanced_acquisition_time_is_the_files_the_volume_times_the_earliest_frames(tmp_path):
    """BIDS AcquisitionTime of an enhanced file is the file's own AcquisitionDateTime, as dcm2niix
    writes it (none where the file states none: h161), and each volume's time its earliest
    FrameAcquisitionDateTime, not the time of whichever frame happens to represent the file."""

    def times(ds, file_stamp=True):
        frames = ds.PerFrameFunctionalGroupsSequence
        for n, g in enumerate(frames):
            g.FrameContentSequence[0].FrameAcquisitionDateTime = f"20240101{120000 + n:06d}.5"
        if file_stamp:
            ds.AcquisitionDateTime = "20240101115959"

    path = tmp_path / "e.dcm"
    write_enhanced_dicom(path, (16, 16, 4), n_volumes=3, frame_order=[2, 0, 3, 1])
    _edit(path, times)
    vol = lv.open(path)
    assert vol.meta["bids"]["AcquisitionTime"] == "11:59:59.000000"
    assert vol.meta["volume_acquisition"]["time"][0] == 12 * 3600 + 0.5
    _edit(path, lambda ds: delattr(ds, "AcquisitionDateTime"))
    assert "AcquisitionTime" not in lv.open(path).meta["bids"]


def test_acquisition_time_from_acquisition_datetime_alone(tmp_path):
    """An image stating only AcquisitionDateTime (0008,002A) (an enhanced file whose frames state
    no FrameAcquisitionDateTime; a classic file without AcquisitionTime) has that time as the
    sidecar's AcquisitionTime, as dcm2niix writes it (lazyvol wrote none)."""

    def stamp(ds):
        for kw in ("AcquisitionDate", "AcquisitionTime"):
            if kw in ds:
                delattr(ds, kw)
        ds.AcquisitionDateTime = "20240101134512.25"

    enhanced = tmp_path / "e.dcm"
    write_enhanced_dicom(enhanced, (8, 8, 4))
    _edit(enhanced, stamp)
    assert lv.open(enhanced).meta["bids"]["AcquisitionTime"] == "13:45:12.250000"
    classic = write_dicom_series(tmp_path / "c", shape=(8, 8, 4))
    for f in classic.files:
        _edit(f, stamp)
    assert lv.open(tmp_path / "c").meta["bids"]["AcquisitionTime"] == "13:45:12.250000"


@pytest.mark.parametrize("bad", [float("nan"), float("inf")], ids=["nan", "inf"])
@pytest.mark.parametrize("what", ["b", "direction"])
def test_non_finite_diffusion_values_are_refused(tmp_path, bad, what):
    """A diffusion b-value or direction that is not finite (FD NaN / inf) is a malformed header,
    refused naming the attribute, in an enhanced frame's functional groups as at the top level of
    a classic file: an enhanced file's infinite direction was written to the .bvec as NaN, a NaN
    one left the volumes unorderable with no word on why, and a classic file's NaN b-value
    became b = 0."""
    from pydicom.dataset import Dataset

    def diffusion(ds, k):
        item = Dataset()
        item.DiffusionBValue = bad if what == "b" and k == 1 else 1000.0
        direction = Dataset()
        direction.DiffusionGradientOrientation = [
            bad if what == "direction" and k == 1 else 1.0,
            0.0,
            0.0,
        ]
        item.DiffusionGradientDirectionSequence = [direction]
        return item

    def enhanced(ds):
        for k, g in enumerate(ds.PerFrameFunctionalGroupsSequence):
            g.MRDiffusionSequence = [diffusion(ds, k)]

    path = tmp_path / "e.dcm"
    write_enhanced_dicom(path, (8, 8, 4))
    _edit(path, enhanced)
    keyword = "DiffusionBValue" if what == "b" else "DiffusionGradientOrientation"
    with pytest.raises(lv.FormatError, match=keyword):
        lv.open(path)
    classic = write_dicom_series(tmp_path / "c", shape=(8, 8, 4))
    for k, f in enumerate(classic.files):
        ds = pydicom.dcmread(f)
        item = diffusion(ds, k)
        ds.DiffusionBValue = item.DiffusionBValue
        ds.DiffusionGradientOrientation = item.DiffusionGradientDirectionSequence[
            0
        ].DiffusionGradientOrientation
        ds.save_as(f)
    errors = []
    for info in lv.scan(tmp_path / "c"):  # (a direction lost splits the image off: its group)
        try:
            lv.open(tmp_path / "c", series=info.id)
        except lv.FormatError as exc:
            errors.append(str(exc))
    assert len(errors) == 1 and keyword in errors[0]


def test_unorderable_volumes_name_the_malformed_attribute(tmp_path):
    """Volumes told apart by an attribute that is not finite in some images (an enhanced frame's
    EffectiveEchoTime NaN) cannot be ordered; the error names that attribute and value, not only
    'EchoTime: missing in 4 image(s)'."""
    from pydicom.dataset import Dataset

    def echoes(ds):
        for n, g in enumerate(ds.PerFrameFunctionalGroupsSequence):
            item = Dataset()
            item.EffectiveEchoTime = float("nan") if n >= 8 else 10.0 * (n // 4 + 1)
            g.MREchoSequence = [item]

    path = tmp_path / "e.dcm"
    write_enhanced_dicom(path, (8, 8, 4), n_volumes=3, volume_tag="none")
    _edit(path, echoes)
    with pytest.raises(lv.SeriesError, match=r"EffectiveEchoTime \(0018,9082\)=nan is not finite"):
        lv.open(path)


@pytest.mark.parametrize(
    ("keyword", "stated", "written"),
    [("RescaleSlope", "7.77", b"x.77"), ("RescaleIntercept", "-7.7", b"-7.x")],
)
def test_a_frame_rescale_that_is_not_a_number_is_refused(tmp_path, keyword, stated, written):
    """A frame's RescaleSlope / RescaleIntercept (PixelValueTransformationSequence) that is not a
    number (DS 'x.77') was read as absent, so the frame took the file's value, or 1 / 0: its
    values silently scaled wrongly (pydicom cannot read it; a classic file's is refused). It is
    refused, naming the attribute and the value, as the top-level one is."""
    path = tmp_path / "e.dcm"
    write_enhanced_dicom(path, (8, 8, 4), slope=2.0, intercept=-5.0)

    def one_frame(ds):
        setattr(
            ds.PerFrameFunctionalGroupsSequence[2].PixelValueTransformationSequence[0],
            keyword,
            stated,
        )

    _edit(path, one_frame)
    raw = path.read_bytes()
    assert raw.count(stated.encode()) == 1
    path.write_bytes(raw.replace(stated.encode(), written))
    with pytest.raises(lv.FormatError, match=rf"{keyword} \(0028,105.\)='{written.decode()}'"):
        lv.open(path)


def _two_stacks(path, shift, nk=8):
    """An enhanced file whose first half of frames is StackID 1 and second half StackID 2,
    the second stack moved by ``shift`` mm along the slice normal (z)."""

    def stacks(ds):
        for k, g in enumerate(ds.PerFrameFunctionalGroupsSequence):
            s = 1 if k < nk // 2 else 2
            g.FrameContentSequence[0].StackID = str(s)
            g.FrameContentSequence[0].InStackPositionNumber = k % (nk // 2) + 1
            if s == 2:
                x, y, z = (float(v) for v in g.PlanePositionSequence[0].ImagePositionPatient)
                g.PlanePositionSequence[0].ImagePositionPatient = [x, y, z + shift]

    truth = write_enhanced_dicom(path, (16, 16, nk), spacing=(1.0, 1.0, 2.0))
    _edit(path, stacks)
    return truth


def test_enhanced_stacks_are_separate_volumes(tmp_path):
    """Two stacks (StackID 1 and 2) in one file are two volumes, each with its own affine, never
    refused as one stack with a gap (dcm2niix merges them into one 5 mm-spaced stack, wrongly)."""
    truth = _two_stacks(tmp_path / "e.dcm", 100.0)
    infos = lv.scan(tmp_path / "e.dcm")
    assert len(infos) == 2
    assert any("StackID (0020,9056)" in r for r in infos[0].reasons)
    for n, info in enumerate(sorted(infos, key=lambda i: i.affine[2, 3])):
        vol = lv.open(tmp_path / "e.dcm", series=info.id, scale=False)
        assert vol.shape == (16, 16, 4)
        ks = slice(4 * n, 4 * n + 4)
        np.testing.assert_array_equal(vol.compute(), truth.stored[:, :, ks])
        want = truth.affine.copy()
        want[:3, 3] = truth.affine[:3, 3] + truth.affine[:3, 2] * 4 * n + [0, 0, 100.0 * n]
        np.testing.assert_allclose(vol.affine, want, atol=1e-6)


def test_one_stack_id_leaves_the_volume_id_unchanged(tmp_path):
    """StackID joins a volume's key (whose hash is its id) only where it splits the frames: a
    file whose frames all carry StackID 1 keeps the id it had without a StackID."""
    path = tmp_path / "e.dcm"
    write_enhanced_dicom(path, (16, 16, 6), spacing=(1.0, 1.0, 2.0))
    (before,) = lv.scan(path, use_index=False)

    def one_stack(ds):
        for g in ds.PerFrameFunctionalGroupsSequence:
            g.FrameContentSequence[0].StackID = "1"

    _edit(path, one_stack)
    (after,) = lv.scan(path, use_index=False)
    assert after.id == before.id


def test_enhanced_spacing_error_names_the_frames(tmp_path):
    """A gap inside one stack of a multi-frame file names the two frames, not the file twice."""
    path = tmp_path / "e.dcm"
    write_enhanced_dicom(path, (16, 16, 6), spacing=(1.0, 1.0, 2.0))

    def gap(ds):
        for g in list(ds.PerFrameFunctionalGroupsSequence)[3:]:
            x, y, z = (float(v) for v in g.PlanePositionSequence[0].ImagePositionPatient)
            g.PlanePositionSequence[0].ImagePositionPatient = [x, y, z + 7.0]

    _edit(path, gap)
    with pytest.raises(lv.SeriesError, match=r"frame 3 of 6\) and .*frame 4 of 6\)"):
        lv.open(path)


def _say_mosaic(path) -> None:
    """ImageType with MOSAIC and no NumberOfImagesInMosaic anywhere, as Siemens XA leaves its
    de-mosaiced enhanced exports (dcm2niix#553)."""
    import pydicom

    ds = pydicom.dcmread(path)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC"]
    ds.Manufacturer = "SIEMENS"
    ds.save_as(path)


def test_enhanced_frames_of_an_image_type_saying_mosaic_are_slices(tmp_path, dcm2niix):
    # Frames at several positions are slices, whatever ImageType says: read as dcm2niix reads
    # them, with a warning. They were refused as a mosaic without a slice count.
    four = tmp_path / "4d.dcm"
    truth = write_enhanced_dicom(four, SHAPE, orientation="oblique", n_volumes=2)
    _say_mosaic(four)
    vol = lv.open(four)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    assert any("says MOSAIC" in w and "read as slices" in w for w in vol.meta["warnings"])
    # dcm2niix reads such a file as its frames too (warning "MOSAIC but number of slices not
    # specified"), the same values in the same voxel order; compared on a 3D file. Its slice
    # spacing there is not the positions' (1.6 mm for 2.5 here; without the word it is 2.5), so
    # the slice axis is compared in direction only, and with the positions' truth above.
    path = tmp_path / "in" / "e.dcm"
    truth = write_enhanced_dicom(path, SHAPE, orientation="oblique", frame_order=SHUFFLED)
    _say_mosaic(path)
    vol = lv.open(path)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    (nii,) = dcm2niix(tmp_path / "in", tmp_path / "out")
    img = nib.as_closest_canonical(nib.load(nii))
    mine = nib.as_closest_canonical(nib.Nifti1Image(vol.compute(), vol.affine))
    np.testing.assert_array_equal(np.asarray(mine.dataobj), img.get_fdata())
    np.testing.assert_allclose(mine.affine[:, [0, 1, 3]], img.affine[:, [0, 1, 3]], atol=1e-3)
    k_mine, k_theirs = mine.affine[:3, 2], img.affine[:3, 2]
    np.testing.assert_allclose(
        k_mine / np.linalg.norm(k_mine), k_theirs / np.linalg.norm(k_theirs), atol=1e-4
    )


@pytest.mark.parametrize("step_mm", [0.0, 1e-5, 0.3])
def test_enhanced_frames_at_one_position_saying_mosaic_are_refused(tmp_path, step_mm):
    # Frames at one position, or moved less than half a slice thickness (XA keeps vNav mosaics
    # in enhanced files, their prescriptions updated for motion), may be real mosaics: with no
    # tile count, never read as one slice each.
    import pydicom

    path = tmp_path / "e.dcm"
    write_enhanced_dicom(path, (SHAPE[0], SHAPE[1], 1), n_volumes=3)
    _say_mosaic(path)
    ds = pydicom.dcmread(path)
    for i, group in enumerate(ds.PerFrameFunctionalGroupsSequence):
        ipp = [float(v) for v in group.PlanePositionSequence[0].ImagePositionPatient]
        ipp[2] += step_mm * i
        group.PlanePositionSequence[0].ImagePositionPatient = [f"{v:.6f}" for v in ipp]
    ds.save_as(path)
    with pytest.raises(lv.FormatError, match=r"NumberOfImagesInMosaic missing.*as one slice"):
        lv.open(path)


def test_enhanced_mosaic_word_with_a_broken_csa_header_is_refused(tmp_path):
    # A CSA header that does not parse may hold the tile count: the file is refused, naming it.
    import pydicom

    path = tmp_path / "e.dcm"
    write_enhanced_dicom(path, (16, 12, 5))
    _say_mosaic(path)
    ds = pydicom.dcmread(path)
    ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
    ds.add_new(0x00291010, "OB", b"SV10\x04\x03\x02\x01" + b"\xff" * 40)
    ds.save_as(path)
    with pytest.raises(lv.FormatError, match=r"CSA image header \(0029,1010\) does not parse"):
        lv.open(path)


@pytest.mark.parametrize("top_geometry", [False, True])
def test_enhanced_files_of_one_frame_each_read_their_functional_groups(tmp_path, top_geometry):
    """A series stored as Enhanced MR files of one frame each: geometry and rescale live in the
    functional groups (the rescale only in PixelValueTransformationSequence). Such files were read
    as plain single-frame ones: without geometry (a SeriesError), or, with a top-level copy of the
    geometry, with stored values for real ones (slope 2 and intercept -100 never applied)."""
    import copy

    import pydicom
    from pydicom.sequence import Sequence

    nk = 6
    truth = write_enhanced_dicom(tmp_path / "one.dcm", (16, 12, nk), slope=2.0, intercept=-100.0)
    src = pydicom.dcmread(truth.files[0])
    frames, per = src.pixel_array, list(src.PerFrameFunctionalGroupsSequence)
    shared = src.SharedFunctionalGroupsSequence[0]
    folder = tmp_path / "split"
    folder.mkdir()
    for k in range(nk):
        ds = copy.deepcopy(src)
        ds.PerFrameFunctionalGroupsSequence = Sequence([copy.deepcopy(per[k])])
        ds.NumberOfFrames = 1
        ds.PixelData = np.ascontiguousarray(frames[k]).astype("<i2").tobytes()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        ds.InstanceNumber = k + 1
        if top_geometry:
            ds.ImageOrientationPatient = shared.PlaneOrientationSequence[0].ImageOrientationPatient
            ds.PixelSpacing = shared.PixelMeasuresSequence[0].PixelSpacing
            ds.ImagePositionPatient = per[k].PlanePositionSequence[0].ImagePositionPatient
        ds.save_as(folder / f"f{k}.dcm", enforce_file_format=True)
    vol = lv.open(folder)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-4)
    np.testing.assert_array_equal(vol.compute(), truth.stored.astype(np.int64) * 2 - 100)


def test_a_frame_without_its_position_is_named_as_a_frame(tmp_path):
    """One frame of an enhanced file without PlanePositionSequence: the error names the frame
    and the file once (it listed the file once per frame), and does not suggest
    instance_order=True, which cannot order frames sharing one InstanceNumber."""
    truth = write_enhanced_dicom(tmp_path / "in" / "enh.dcm", SHAPE)

    def drop_position(ds):
        del ds.PerFrameFunctionalGroupsSequence[4].PlanePositionSequence

    _edit(truth.files[0], drop_position)
    with pytest.raises(lv.SeriesError) as exc:
        lv.open(tmp_path / "in")
    msg = str(exc.value)
    assert "1 frame(s) (5) of" in msg and msg.count("enh.dcm") == 1, msg
    assert "cannot order them" in msg and "Pass instance_order=True" not in msg


def test_one_frame_enhanced_files_edge_cases(tmp_path):
    """One-frame files with functional groups (review of 523005c): a top-level position that
    disagrees with the groups' wins, as dcm2niix reads it; a one-frame JPEG 2000 file in two
    fragments without an offset table is one frame (it was refused); a classic image carrying
    an empty PerFrameFunctionalGroupsSequence and no NumberOfFrames stays a plain image."""
    import pydicom
    from pydicom.encaps import encapsulate, generate_frames

    from lazyvol.testing import write_dicom_series

    truth = write_enhanced_dicom(tmp_path / "a" / "e.dcm", (16, 12, 1), slope=2.0, intercept=-9.0)
    path = truth.files[0]
    ds = pydicom.dcmread(path)
    ds.ImagePositionPatient = [
        float(v) + 10.0 * (i == 0)
        for i, v in enumerate(
            ds.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0].ImagePositionPatient
        )
    ]
    ds.save_as(path)
    vol = lv.open(path)
    lps = np.asarray(ds.ImagePositionPatient, float)
    np.testing.assert_allclose(vol.affine[:3, 3], [-lps[0], -lps[1], lps[2]], atol=1e-4)
    np.testing.assert_array_equal(vol.compute(), truth.stored.astype(np.int64) * 2 - 9)

    j2k = write_enhanced_dicom(
        tmp_path / "b" / "e.dcm", (32, 48, 1), slope=2.0, intercept=-9.0, compress=JPEG2000Lossless
    )
    ds = pydicom.dcmread(j2k.files[0])
    (frame,) = generate_frames(ds.PixelData, number_of_frames=1)
    ds.PixelData = encapsulate([frame], fragments_per_frame=2, has_bot=False)
    ds.save_as(j2k.files[0])
    got = lv.open(j2k.files[0]).compute()
    np.testing.assert_array_equal(got, j2k.stored.astype(np.int64) * 2 - 9)

    plain = write_dicom_series(tmp_path / "c", (8, 6, 3), modality="MR")
    for f in plain.files:
        ds = pydicom.dcmread(f)
        ds.PerFrameFunctionalGroupsSequence = pydicom.sequence.Sequence([])
        ds.save_as(f)
    np.testing.assert_array_equal(lv.open(tmp_path / "c").compute(), plain.stored)


def test_repeated_frame_positions_without_a_label_are_refused(tmp_path):
    """An enhanced file repeating every position with nothing that tells the repeats apart (no
    DimensionIndexValues, temporal index, echo, time): its frames share one InstanceNumber, so
    the "InstanceNumber rank" was their order in the file, a 4D stacked silently (dcm2niix
    scrambles such volumes). Refused, naming why; instance_order=True stacks them in file order."""
    truth = write_enhanced_dicom(tmp_path / "e.dcm", (8, 6, 4), n_volumes=2)
    ds = pydicom.dcmread(truth.files[0])
    for item in ds.PerFrameFunctionalGroupsSequence:
        for content in item.FrameContentSequence:
            for keyword in ("TemporalPositionIndex", "DimensionIndexValues"):
                if keyword in content:
                    delattr(content, keyword)
    for keyword in ("DimensionIndexSequence",):
        if keyword in ds:
            delattr(ds, keyword)
    ds.save_as(truth.files[0])
    with pytest.raises(lv.SeriesError, match=r"one InstanceNumber for several images"):
        lv.open(truth.files[0])
    vol = lv.open(truth.files[0], instance_order=True)
    np.testing.assert_array_equal(vol.compute(), truth.stored)


def test_a_multi_frame_file_is_listed_once(tmp_path):
    # SeriesInfo.files lists a volume's files: an enhanced file of 12 frames x 2 volumes is one
    # file (it was listed once per frame), as a mosaic file is; a refused one too.
    write_enhanced_dicom(tmp_path / "e" / "e.dcm", (8, 6, 12), n_volumes=2)
    (info,) = lv.scan(tmp_path / "e")
    assert info.error is None and info.shape == (8, 6, 12, 2)
    assert info.files == [str(tmp_path / "e" / "e.dcm")]
    write_enhanced_dicom(tmp_path / "r" / "r.dcm", (8, 6, 4))
    ds = pydicom.dcmread(tmp_path / "r" / "r.dcm")
    for item in ds.PerFrameFunctionalGroupsSequence:
        item.PlanePositionSequence[0].ImagePositionPatient = [0, 0, 0]
    ds.save_as(tmp_path / "r" / "r.dcm")
    (refused,) = lv.scan(tmp_path / "r")
    assert refused.error and refused.files == [str(tmp_path / "r" / "r.dcm")]
