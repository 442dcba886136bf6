"""Bad DICOM inputs: typed errors naming files and fields, never wrong data."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

import lazyvol as lv
from lazyvol.testing import write_dicom_series, write_enhanced_dicom, write_mosaic_series

pytestmark = pytest.mark.usefixtures("dicom_cache")
SHAPE = (32, 48, 12)


def test_truncated_pixel_data_fails_at_open(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    victim = truth.files[5]
    size = os.path.getsize(victim)
    with open(victim, "r+b") as f:
        f.truncate(size - 100)
    with pytest.raises(lv.FormatError, match="truncated") as exc:
        lv.open(tmp_path / "s")
    assert victim in str(exc.value)


def test_file_cut_inside_header_is_skipped_and_series_flagged(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    victim = truth.files[0]
    data = open(victim, "rb").read()
    cut = data.index(b"\x28\x00\x10\x00")  # the Rows (0028,0010) tag: after the UIDs
    with open(victim, "r+b") as f:
        f.truncate(cut + 3)
    report = lv.scan(tmp_path)
    assert any(p == victim for p, _ in report.skipped)
    assert len(report) == 1
    assert any("incomplete" in w for w in report[0].warnings)
    assert report[0].shape == (32, 48, 11)


def test_an_end_slice_no_reader_can_parse_flags_its_series_incomplete(tmp_path):
    """The last slice holds an undefined-length private sequence without delimiters before its
    Pixel Data: pydicom cannot read the file, which was skipped without its SeriesInstanceUID,
    so the series opened one slice short without a word. The UID the walker read before the
    damage names the series, which is flagged incomplete."""
    import struct

    def element(group, elem, vr, value, length=None):
        n = len(value) if length is None else length
        if vr == "SQ":
            return struct.pack("<HH2sHL", group, elem, b"SQ", 0, n) + value
        return struct.pack("<HH2sH", group, elem, vr.encode(), n) + value

    item = struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF) + element(8, 0x100, "SH", b"ABCD")
    damage = element(9, 0x10, "LO", b"ACME") + element(9, 0x1001, "SQ", item, 0xFFFFFFFF)
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    victim = truth.files[-1]
    data = Path(victim).read_bytes()
    at = data.rfind(b"\xe0\x7f\x10\x00OW")
    Path(victim).write_bytes(data[:at] + damage + data[at:])
    report = lv.scan(tmp_path / "s")
    assert any(p == victim for p, _ in report.skipped)
    assert any("incomplete" in w and victim in w for w in report[0].warnings)
    assert report[0].shape == (32, 48, 11)
    # The same files as objects (fsspec's in-memory store: the remote header reader).
    import fsspec

    memory = fsspec.filesystem("memory")
    for f in truth.files:
        memory.pipe(f"/{tmp_path.name}/{Path(f).name}", Path(f).read_bytes())
    remote = lv.scan(f"memory://{tmp_path.name}")
    assert remote[0].shape == (32, 48, 11)
    assert any("incomplete" in w for w in remote[0].warnings)


def test_missing_position_errors_and_instance_order_fallback_is_flagged(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE, reverse_instance_numbers=True)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        del ds.ImagePositionPatient
        ds.save_as(f)
    with pytest.raises(lv.SeriesError, match=r"ImagePositionPatient \(0020,0032\)") as exc:
        lv.open(tmp_path / "s")
    assert "instance_order=True" in str(exc.value)
    vol = lv.open(tmp_path / "s", instance_order=True)
    assert vol.meta["relaxations"] == {"instance_order": True}
    assert "geometry_approximate" in vol.meta
    # InstanceNumber runs backwards, so instance order is the reverse slice order.
    np.testing.assert_array_equal(vol.compute(), truth.stored[:, :, ::-1])


def test_missing_position_error_names_only_the_geometry_values_at_fault(tmp_path):
    """The refusal of an image without ImagePositionPatient listed every malformed value the series'
    images state (a NaN GE gradient, a Philips scale slope, in any file) as if it were why (h171)."""
    truth = write_dicom_series(tmp_path / "s", (*SHAPE[:2], 3), modality="MR")
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.Manufacturer = "GE MEDICAL SYSTEMS"
        ds.add_new(0x00190010, "LO", "GEMS_ACQU_01")
        ds.add_new(0x001910BB, "DS", "NaN")  # a gradient that is no reason for missing geometry
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1"]  # five values
        ds.save_as(f)
    with pytest.raises(lv.SeriesError, match=r"ImageOrientationPatient \(0020,0037\)") as exc:
        lv.open(tmp_path / "s")
    msg = str(exc.value)
    assert truth.files[1] in msg and "is not 6 finite numbers" in msg, msg
    assert "0019,10BB" not in msg and "GradientX" not in msg


@pytest.mark.parametrize("tilt", [0.0, 12.0])
def test_missing_pixel_spacing_with_instance_order_keeps_the_stated_positions(tmp_path, tilt):
    """Positions and orientations stated, PixelSpacing missing (XA/RF exports carry
    ImagerPixelSpacing instead): instance_order=True stacked the slices by InstanceNumber and
    stepped them along the normal from the first file, so a stack numbered against its positions
    came out mirrored along k (slice k at 42 + 3k mm where its file says 42 - 3k mm; a gantry
    tilt's shear dropped). The slices keep their stated positions, as dcm2niix and SimpleITK
    place them; only the 1 mm pixel spacing is assumed and flagged."""
    truth = write_dicom_series(
        tmp_path / "s",
        (8, 6, 5),
        spacing=(1.0, 1.0, 3.0),
        tilt_deg=tilt,
        reverse_instance_numbers=True,
        shuffle_names=True,
    )
    for f in truth.files:
        ds = pydicom.dcmread(f)
        del ds.PixelSpacing
        ds.ImagerPixelSpacing = ["1.0", "1.0"]
        ds.save_as(f)
    with pytest.raises(lv.SeriesError, match=r"PixelSpacing \(0028,0030\) missing") as exc:
        lv.open(tmp_path / "s")
    assert "pass instance_order=True" in str(exc.value)
    vol = lv.open(tmp_path / "s", instance_order=True)
    assert vol.meta["relaxations"] == {"instance_order": True}
    assert vol.meta["geometry_approximate"] == (
        "slices at their stated positions; pixel spacing missing (1 mm assumed)"
    )
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)  # (1 mm is the truth here)
    np.testing.assert_array_equal(vol.compute(), truth.stored)


@pytest.mark.parametrize("reverse", [False, True])
def test_instance_order_past_one_missing_position_places_slice_0_where_its_file_says(
    tmp_path, reverse
):
    """One file of five without ImagePositionPatient: instance_order=True took the origin from
    whichever file came first by name (slice 4's position for slice 0: the volume 12 mm off) and
    stepped +normal x SliceThickness whatever the numbering (mirrored for InstanceNumbers running
    against the positions). The four stated positions now give the step and slice 0's place."""
    truth = write_dicom_series(
        tmp_path / "s",
        (8, 6, 5),
        spacing=(1.0, 1.0, 3.0),
        shuffle_names=True,
        reverse_instance_numbers=reverse,
    )
    ds = pydicom.dcmread(truth.files[2])
    del ds.ImagePositionPatient
    ds.save_as(truth.files[2])
    vol = lv.open(tmp_path / "s", instance_order=True)
    assert "orientation/position missing" in vol.meta["geometry_approximate"]
    order = slice(None, None, -1) if reverse else slice(None)
    np.testing.assert_array_equal(vol.compute(), truth.stored[:, :, order])
    expected = truth.affine.copy()
    if reverse:  # (InstanceNumber order runs from the last slice down)
        expected[:, 3] = truth.affine @ [0, 0, 4, 1]
        expected[:3, 2] *= -1
    np.testing.assert_allclose(vol.affine, expected, atol=1e-6)


@pytest.mark.parametrize("case", ["4d volume by volume", "4d position by position", "gap"])
def test_instance_order_refuses_stated_positions_off_the_numbered_stack(tmp_path, case):
    """instance_order=True past one missing position stacked every image in InstanceNumber
    order on a line through the first and last stated positions, whatever the others stated: a
    4D series (three volumes of three slices) became one 9-slice volume 0.36 or 0.63 mm apart,
    the volumes interleaved into k; a stack missing a slice got an averaged spacing (3.125 mm
    for 2.5 mm and a 5 mm gap). A stated position off that line is now refused, naming it."""
    from lazyvol.testing import write_dicom_4d_series

    if case == "gap":
        files = write_dicom_series(tmp_path / "s", (6, 5, 6), spacing=(1.0, 1.0, 2.5)).files
        os.remove(files.pop(4))
    else:
        numbering = "position" if "position" in case else "volume"
        files = write_dicom_4d_series(tmp_path / "s", (6, 5, 3), 3, numbering=numbering).files
    files = sorted(files, key=lambda f: int(pydicom.dcmread(f).InstanceNumber))
    ds = pydicom.dcmread(files[2])
    del ds.ImagePositionPatient
    ds.save_as(files[2])
    with pytest.raises(lv.SeriesError, match=r"instance_order=True was passed, but .*\.dcm") as e:
        lv.open(tmp_path / "s", instance_order=True)
    assert "ImagePositionPatient (0020,0032)" in str(e.value) and str(files[2]) in str(e.value)


def test_numbered_stack_takes_what_the_stated_positions_say():
    """slice_grid.numbered_stack: the step from the first and last stated positions, slice 0's
    place moved back from the first; the declared spacing along the normal when the positions
    cannot say (none or one stated, one position twice, a step in the slices' plane)."""
    from lazyvol.slice_grid import numbered_stack

    normal = np.array([0.0, 0.0, 1.0])
    origin, step = numbered_stack([None, [1, 2, 7], None, [1, 2, 1]], normal, 2.5)
    np.testing.assert_allclose(step, [0, 0, -3])
    np.testing.assert_allclose(origin, [1, 2, 10])
    for positions in (
        [None, None],
        [None, [1, 2, 3]],
        [[1, 2, 3], [1, 2, 3]],
        [[0, 0, 0], [5, 0, 0]],
    ):
        origin, step = numbered_stack(positions, normal, 2.5)
        np.testing.assert_allclose(step, [0, 0, 2.5])
    assert numbered_stack([None, None], normal, 2.5)[0].tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(numbered_stack([None, [1, 2, 3]], normal, 2.5)[0], [1, 2, 0.5])


def test_gap_reports_expected_and_found_spacing(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE, spacing=(0.8, 0.7, 2.5))
    os.remove(truth.files[6])
    with pytest.raises(lv.SeriesError) as exc:
        lv.open(tmp_path / "s")
    msg = str(exc.value)
    assert "expected 2.5 mm" in msg and "found 5 mm" in msg
    assert truth.files[5] in msg and truth.files[7] in msg
    assert "1 slice(s) missing" in msg


def test_a_gap_where_a_file_could_not_be_read_says_so(tmp_path):
    # A slice file the scan could not read (here emptied, as an interrupted copy leaves it; a
    # permission error is the other usual cause) leaves a gap: the error names that file, and
    # filling the gap with allow_gaps=True warns that the filled slice may be that file.
    truth = write_dicom_series(tmp_path / "s", SHAPE, spacing=(0.8, 0.7, 2.5))
    open(truth.files[6], "wb").close()
    os.makedirs(tmp_path / "s" / "other")
    open(tmp_path / "s" / "other" / "empty.dcm", "wb").close()  # not beside the series' files
    msg = _raises_msg(lv.SeriesError, tmp_path / "s")
    assert "empty.dcm" not in msg
    assert "1 slice(s) missing" in msg
    assert (
        f"could not be read and may be the missing slice(s): {truth.files[6]} (empty file)" in msg
    )
    vol = lv.open(tmp_path / "s", allow_gaps=True)
    assert any(truth.files[6] in w and "slices filled" in w for w in vol.meta["warnings"])
    # A gap with nothing unreadable beside it: no such note.
    os.remove(truth.files[6])
    assert "could not be read" not in _raises_msg(lv.SeriesError, tmp_path / "s")


def _raises_msg(cls, path) -> str:
    with pytest.raises(cls) as exc:
        lv.open(path)
    return str(exc.value)


def test_non_uniform_spacing(tmp_path):
    pos = np.zeros((SHAPE[2], 3))
    pos[:, 2] = np.arange(SHAPE[2]) * 2.0
    pos[8:, 2] += 0.3
    write_dicom_series(tmp_path / "s", SHAPE, positions=pos)
    with pytest.raises(lv.SeriesError, match="irregular slice spacing"):
        lv.open(tmp_path / "s")
    # within tolerance (1e-3 relative) is accepted
    pos2 = np.zeros((SHAPE[2], 3))
    pos2[:, 2] = np.arange(SHAPE[2]) * 2.0 + np.tile([0, 0.0005], SHAPE[2] // 2)
    write_dicom_series(tmp_path / "ok", SHAPE, positions=pos2)
    assert lv.open(tmp_path / "ok").shape == SHAPE


def test_exact_duplicate_dropped_with_warning(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    dup = str(tmp_path / "s" / "copy.dcm")
    shutil.copy(truth.files[4], dup)
    report = lv.scan(tmp_path / "s")
    assert report[0].shape == SHAPE
    assert any("duplicate" in w and dup in w for w in report[0].warnings)
    # lv.open said nothing (the note only in vol.meta["warnings"]): a file of the folder left out
    # unannounced; the note is a Python warning naming both files, as the gap notes are
    with pytest.warns(RuntimeWarning, match="exact duplicate dropped") as caught:
        vol = lv.open(tmp_path / "s")
    (note,) = [str(w.message) for w in caught if "duplicate" in str(w.message)]
    assert dup in note and truth.files[4] in note
    np.testing.assert_array_equal(vol.compute(), truth.stored)


def test_conflicting_duplicate_errors(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    ds = pydicom.dcmread(truth.files[4])
    arr = ds.pixel_array.copy()
    arr[0, 0] += 1
    ds.PixelData = arr.tobytes()
    dup = str(tmp_path / "s" / "changed.dcm")
    ds.save_as(dup)
    with pytest.raises(lv.SeriesError, match="different pixel data") as exc:
        lv.open(tmp_path / "s")
    assert dup in str(exc.value)


def test_same_position_without_explaining_tag_errors(tmp_path):
    write_dicom_series(tmp_path / "s", SHAPE, prefix="A", series_uid="1.2.3.44", seed=1)
    write_dicom_series(tmp_path / "s", SHAPE, prefix="B", series_uid="1.2.3.44", seed=2)
    with pytest.raises(lv.SeriesError, match="positions repeat"):
        lv.open(tmp_path / "s")


def test_repeats_explained_by_echo_are_one_volume_per_echo(tmp_path):
    """Single-frame echoes of one volume: one volume per echo, as dcm2niix writes them (they were
    one 4D volume along the echo, h201)."""
    uid = "1.2.3.45"
    e1 = write_dicom_series(
        tmp_path / "s",
        SHAPE,
        prefix="A",
        series_uid=uid,
        seed=1,
        modality="MR",
        extra={"EchoTime": "10", "EchoNumbers": 1, "RepetitionTime": "2000"},
    )
    e2 = write_dicom_series(
        tmp_path / "s",
        SHAPE,
        prefix="B",
        series_uid=uid,
        seed=2,
        modality="MR",
        extra={"EchoTime": "20", "EchoNumbers": 2},
        shuffle_names=True,
    )
    report = lv.scan(tmp_path / "s")
    assert [i.shape for i in report] == [SHAPE, SHAPE]
    for info, truth, (number, te) in zip(report, (e1, e2), ((1, 10.0), (2, 20.0)), strict=True):
        vol = lv.open(tmp_path / "s", series=info.id)
        assert (vol.meta["echo_numbers"], vol.meta["echo_times"]) == ([number], [te])
        np.testing.assert_array_equal(vol.compute(), truth.stored)
    np.testing.assert_allclose(vol.affine, e1.affine)


def test_acquisition_number_change_alone_does_not_split(tmp_path):
    truth = write_dicom_series(
        tmp_path / "s", SHAPE, per_slice=[{"AcquisitionNumber": 1 + k // 6} for k in range(12)]
    )
    np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), truth.stored)


def test_multiframe_and_colour_are_unsupported_not_wrong(tmp_path):
    with pytest.raises(lv.UnsupportedError, match="multi-frame"):
        lv.open(get_testdata_file("SC_rgb_rle_2frame.dcm"))
    with pytest.raises(lv.UnsupportedError, match="colour"):
        lv.open(get_testdata_file("SC_rgb_small_odd.dcm"))


@pytest.mark.parametrize(
    ("extra", "field", "fix"),
    [
        ({"SamplesPerPixel": 3, "PhotometricInterpretation": "RGB"}, "(0028,0002)", "dcm2niix"),
        ({"PhotometricInterpretation": "PALETTE COLOR"}, "(0028,0004)", "apply_color_lut"),
        ({"BitsAllocated": 1, "BitsStored": 1, "HighBit": 0}, "(0028,0100)", "pydicom"),
    ],
)
def test_unsupported_pixel_layouts_name_file_field_and_a_way_past(tmp_path, extra, field, fix):
    """Colour, palette and 1-bit images are refused naming the file, the attribute and what
    reads them instead (the message named no way past the refusal)."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 3), dtype="uint8", extra=extra)
    if extra.get("SamplesPerPixel") == 3:  # (the pixels of a colour image: three samples each)
        for f in truth.files:
            ds = pydicom.dcmread(f)
            ds.PixelData = np.repeat(np.frombuffer(ds.PixelData, np.uint8), 3).tobytes()
            ds.PlanarConfiguration = 0
            ds.save_as(f)
    with pytest.raises(lv.UnsupportedError) as err:
        lv.open(tmp_path / "s")
    message = str(err.value)
    assert truth.files[0] in message or os.path.basename(truth.files[0]) in message
    assert field in message and fix in message


def test_folder_of_only_unsupported_files_is_unsupported(tmp_path):
    """A folder whose files are all valid DICOM of kinds lazyvol does not read (an RT Dose, objects without pixels: a structured report, an RT plan, a
    spectroscopy object, a vendor's private non-image class as a physiological log) is an
    UnsupportedError, also when reopened from the saved scan; one damaged or non-DICOM file
    among them makes it a plain FormatError."""
    from pydicom.uid import MRSpectroscopyStorage

    folder = tmp_path / "only"
    folder.mkdir()
    shutil.copy(get_testdata_file("rtdose.dcm"), folder / "b.dcm")
    shutil.copy(get_testdata_file("test-SR.dcm"), folder / "sr.dcm")
    shutil.copy(get_testdata_file("rtplan.dcm"), folder / "plan.dcm")
    for name, sop in (("mrs", MRSpectroscopyStorage), ("physio", "1.3.12.2.1107.5.9.1")):
        ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
        del ds.PixelData, ds.BitsAllocated
        # Rows and Columns kept: MR Spectroscopy states them (Type 1: the grid of its voxels),
        # as Siemens' non-image objects do.
        ds.Rows = ds.Columns = 1
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop
        ds.save_as(folder / f"{name}.dcm")
    for _ in range(2):  # the first scan, then the saved report
        with pytest.raises(lv.UnsupportedError, match="no DICOM image volume") as exc:
            lv.open(folder)
        assert "RT Dose" in str(exc.value)
        assert "MR Spectroscopy Storage" in str(exc.value)
    (folder / "c.dcm").write_bytes(b"not a DICOM file at all" * 10)
    with pytest.raises(lv.FormatError, match="not a DICOM file") as exc2:
        lv.open(folder)
    assert not isinstance(exc2.value, lv.UnsupportedError)


def _add_modality_lut(path: Path, n: int = 4096) -> None:
    """Give ``path`` a Modality LUT Sequence (stored v -> 2 v + 5) instead of its rescale."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(path)
    for kw in ("RescaleSlope", "RescaleIntercept", "RescaleType"):
        if kw in ds:
            delattr(ds, kw)
    item = Dataset()
    item.LUTDescriptor = [n, 0, 16]
    item.ModalityLUTType = "HU"
    item.LUTData = [int(x) for x in np.arange(n) * 2 + 5]
    item["LUTData"].VR = "US"
    ds.ModalityLUTSequence = Sequence([item])
    ds.save_as(path)


@pytest.mark.parametrize("walker", [True, False])
def test_modality_lut_is_refused_not_ignored(tmp_path, walker):
    """Real-world values given by a Modality LUT Sequence (0028,3000), which lazyvol does not
    apply: the files are skipped as unsupported, naming the sequence, whichever header parser
    reads them (the stored values came back as if they were the real-world ones, with
    ``meta["scaled"]`` True). One such file in a series leaves it flagged incomplete."""
    from lazyvol.dicom.scan_index import scan_files

    truth = write_dicom_series(tmp_path / "s", (8, 10, 4), dtype="uint16", bits_stored=12)
    for p in truth.files:
        _add_modality_lut(Path(p))
    scan = scan_files(tmp_path / "s", use_index=False, walker=walker)
    assert not scan.records and len(scan.skipped) == 4
    assert all("Modality LUT Sequence (0028,3000)" in why for _, why in scan.skipped)
    with pytest.raises(lv.UnsupportedError, match=r"Modality LUT Sequence \(0028,3000\)"):
        lv.open(tmp_path / "s")
    one = write_dicom_series(tmp_path / "one", (8, 10, 4), dtype="uint16", bits_stored=12)
    _add_modality_lut(Path(one.files[2]))
    (info,) = lv.scan(tmp_path / "one")
    assert info.shape == (8, 10, 3)
    assert any("incomplete" in w and one.files[2] in w for w in info.warnings), info.warnings


@pytest.mark.parametrize("syntax", ["explicit", "implicit"])
@pytest.mark.parametrize("walker", [True, False])
def test_an_empty_modality_lut_sequence_is_no_table(tmp_path, walker, syntax):
    """A Modality LUT Sequence (0028,3000) of no item beside RescaleSlope/RescaleIntercept (as
    some exporters and anonymisers leave it) holds no table: pydicom's apply_modality_lut applies
    the rescale, and so does lazyvol, whichever header parser reads the files (every file was
    skipped as holding a table lazyvol does not apply)."""
    from pydicom.pixels import apply_modality_lut
    from pydicom.sequence import Sequence

    from lazyvol.dicom.scan_index import scan_files

    truth = write_dicom_series(
        tmp_path / "s", (8, 10, 4), dtype="uint16", bits_stored=12, intercept=-1024, syntax=syntax
    )
    for p in truth.files:
        ds = pydicom.dcmread(p)
        ds.ModalityLUTSequence = Sequence([])
        ds.save_as(p)
    scan = scan_files(tmp_path / "s", use_index=False, walker=walker)
    assert len(scan.records) == 4 and not scan.skipped
    want = [apply_modality_lut(ds.pixel_array, ds).T for ds in map(pydicom.dcmread, truth.files)]
    np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), np.stack(want, axis=-1))


def test_resource_limit_before_allocation(tmp_path, monkeypatch):
    write_dicom_series(tmp_path / "s", SHAPE)
    monkeypatch.setenv("LAZYVOL_MAX_VOLUME_BYTES", "1000")
    with pytest.raises(lv.ResourceLimitError, match="LAZYVOL_MAX_VOLUME_BYTES"):
        lv.open(tmp_path / "s")


def test_malformed_needed_attribute_named(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    ds = pydicom.dcmread(truth.files[2])
    raw = "\\".join(str(v) for v in ds.ImagePositionPatient).encode()
    data = open(truth.files[2], "rb").read()
    junk = (b"1A\\" + raw[3:]) if len(raw) > 3 else raw
    assert data.count(raw) == 1
    open(truth.files[2], "wb").write(data.replace(raw, junk))
    with pytest.raises(lv.SeriesError, match="ImagePositionPatient") as exc:
        lv.open(tmp_path / "s")
    assert "1A" in str(exc.value)


def test_junk_files_only(tmp_path):
    (tmp_path / "a.txt").write_text("nothing here")
    with pytest.raises(lv.FormatError, match="no DICOM image volume"):
        lv.open(tmp_path)
    with pytest.raises(lv.FormatError):
        lv.open(tmp_path / "a.txt")


def test_another_image_format_is_named_not_called_not_dicom(tmp_path):
    """A FreeSurfer .mgz (nibabel's own test file) went to the DICOM reader and was refused as
    "no DICOM image volume found ... not a DICOM file"; it is refused as the format it is. A
    DICOM file under such a name still opens (its content decides)."""
    from nibabel.testing import data_path

    with pytest.raises(lv.UnsupportedError, match=r"test\.mgz: FreeSurfer MGH \(\.mgz\) is not"):
        lv.open(os.path.join(data_path, "test.mgz"))
    truth = write_dicom_series(tmp_path / "s", (8, 8, 1))
    renamed = tmp_path / "slice.png"
    shutil.copy(truth.files[0], renamed)
    np.testing.assert_array_equal(lv.open(renamed).compute(), truth.stored)


def test_headerless_dicom_accepted_when_plausible(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 1), syntax="implicit")
    ds = pydicom.dcmread(truth.files[0])
    bare = tmp_path / "bare"
    ds.preamble = None
    del ds.file_meta
    pydicom.dcmwrite(bare, ds, enforce_file_format=False, implicit_vr=True, little_endian=True)
    assert open(bare, "rb").read(132)[128:132] != b"DICM"
    vol = lv.open(bare)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    # A headerless non-image is skipped with a reason, not parsed into a fake volume.
    report = lv.scan(get_testdata_file("ExplVR_LitEndNoMeta.dcm"))
    assert len(report) == 0 and "no Pixel Data" in report.skipped[0][1]


def test_allow_gaps_fills_missing_slices_lazily(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE, dtype="int16", slope=1, intercept=-5)
    os.remove(truth.files[4])
    os.remove(truth.files[5])
    os.remove(truth.files[9])
    with pytest.raises(lv.SeriesError, match="allow_gaps=True"):
        lv.open(tmp_path / "s")
    vol = lv.open(tmp_path / "s", allow_gaps=True, fill=-1000)
    assert vol.shape == SHAPE
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    assert vol.meta["filled_slices"] == [4, 5, 9]
    assert vol.meta["relaxations"]["allow_gaps"] is True
    data = vol.compute()
    expected = truth.scaled(np.int32)
    for k in range(SHAPE[2]):
        if k in (4, 5, 9):
            assert (data[:, :, k] == -1000).all()
        else:
            np.testing.assert_array_equal(data[:, :, k], expected[:, :, k])
    # float output fills with NaN by default
    fvol = lv.open(tmp_path / "s", allow_gaps=True, dtype="float32")
    assert np.isnan(fvol.compute()[:, :, 4]).all()
    # a cut numbers the filled slices in its own k (the source's k 4, 5, 9 were kept), and so
    # does a cut of a cut, a reversed one and one keeping none of them
    for cut, filled in (
        (vol[:, :, 3:], [1, 2, 6]),
        (vol[:, :, 3:][:, :, 2:], [0, 4]),
        (vol[:, :, ::-1], [SHAPE[2] - 1 - k for k in (9, 5, 4)]),
        (vol[:, :, 5::2], [0, 2]),
        (vol[:, :, :4], []),
        (vol[1:3], [4, 5, 9]),
    ):
        assert cut.meta["filled_slices"] == filled
        got = cut.compute()
        assert all((got[:, :, k] == -1000).all() for k in filled)
        assert (got != -1000).any(axis=(0, 1)).sum() == got.shape[2] - len(filled)


def test_monochrome1_kept_as_stored_and_flagged(tmp_path):
    truth = write_dicom_series(
        tmp_path / "s", SHAPE, dtype="uint16", extra={"PhotometricInterpretation": "MONOCHROME1"}
    )
    vol = lv.open(tmp_path / "s")
    assert "monochrome1" in vol.meta
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    for k, f in enumerate(truth.files[:2]):
        np.testing.assert_array_equal(truth.stored[:, :, k], pydicom.dcmread(f).pixel_array.T)


def test_echoes_are_one_volume_each_with_or_without_split_4d(tmp_path):
    """Single-frame echoes of one volume are a volume each (h201; they were one 4D volume that
    ``split_4d`` split): ``split_4d`` changes nothing, each echo's volume its own echo."""
    uid = "1.2.3.46"
    e1 = write_dicom_series(
        tmp_path / "s",
        SHAPE,
        prefix="A",
        series_uid=uid,
        seed=1,
        modality="MR",
        extra={"EchoTime": "10", "EchoNumbers": 1},
    )
    e2 = write_dicom_series(
        tmp_path / "s",
        SHAPE,
        prefix="B",
        series_uid=uid,
        seed=2,
        modality="MR",
        extra={"EchoTime": "20", "EchoNumbers": 2, "RepetitionTime": "2000"},
    )
    for split in (False, True):
        report = lv.scan(tmp_path / "s", split_4d=split)
        assert [i.shape for i in report] == [SHAPE, SHAPE]
        with pytest.raises(lv.MultipleSeriesError):
            lv.open(tmp_path / "s", split_4d=split)
        v2 = lv.open(tmp_path / "s", split_4d=split, series="#1")
        assert (v2.meta["bids"]["EchoTime"], v2.meta["bids"]["EchoNumber"]) == (0.02, 2)
    np.testing.assert_array_equal(v2.compute(), e2.stored)
    np.testing.assert_array_equal(
        lv.open(tmp_path / "s", split_4d=True, series=report[0].id).compute(), e1.stored
    )


@pytest.mark.parametrize(("keyword", "value"), [("BitsStored", 20), ("HighBit", 16)])
def test_stored_bits_outside_the_allocated_ones_are_refused(tmp_path, keyword, value):
    """BitsStored above BitsAllocated, or a HighBit beyond it, cannot describe the pixels: the
    series is refused naming the file and the fields, not read with a guess."""
    write_dicom_series(tmp_path / "s", (8, 8, 3))
    f = sorted((tmp_path / "s").iterdir())[1]
    ds = pydicom.dcmread(f)
    setattr(ds, keyword, value)
    ds.save_as(f)
    with pytest.raises(lv.FormatError, match=rf"{f.name}.*BitsStored.*HighBit.*BitsAllocated"):
        lv.open(f)


@pytest.mark.parametrize(
    "changes",
    [
        {"Rows": 24},  # half of each slice's rows
        {"Columns": 16},  # a third of the columns
        {"BitsAllocated": 8, "BitsStored": 8, "HighBit": 7},  # int16 bytes as int8 values
    ],
)
def test_pixel_data_holding_whole_frames_more_than_the_header_states_is_refused(tmp_path, changes):
    """Every file's header under-states its native Pixel Data by a whole frame or more: read as
    stated, each slice came back cut or reinterpreted (32x48 int16 slices as 24x48, or as int8)
    without a word. The series is refused at open, naming the file, the element and the sizes."""
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        for keyword, value in changes.items():
            setattr(ds, keyword, value)
        ds.save_as(f)
    with pytest.raises(lv.FormatError, match=r"\(7FE0,0010\) holds \d+ bytes.*under-states"):
        lv.open(tmp_path / "s")
    with pytest.raises(lv.FormatError, match=r"IM\d+\.dcm: Pixel Data \(7FE0,0010\) holds"):
        lv.open(truth.files[0])


@pytest.mark.parametrize("changes", [{"Rows": 24}, {"Columns": 16}, {"NumberOfFrames": 5}])
def test_an_enhanced_file_whose_pixel_data_hold_whole_frames_more_is_refused(tmp_path, changes):
    """The same under-statement in an enhanced multi-frame file (48 rows x 32 columns x 6 frames
    stated as 24 rows, 16 columns or 5 frames): its frames were located at the stated size, so
    slice 1 was the bottom half of frame 0, placed at frame 1's position, without a word (pydicom
    warns). Refused at open, naming the file and the sizes; the functional groups of 5 frames
    match the 5 stated."""
    path = tmp_path / "e.dcm"
    write_enhanced_dicom(path, shape=(32, 48, 6))
    ds = pydicom.dcmread(path)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    if "NumberOfFrames" in changes:
        del ds.PerFrameFunctionalGroupsSequence[5]
    ds.save_as(path)
    with pytest.raises(lv.FormatError, match=r"e\.dcm.*holds 18432 bytes.*under-states the image"):
        lv.open(path)


def test_a_folder_whose_every_volume_is_refused_says_why_not_which(tmp_path):
    """Every file's NumberOfFrames says 2 over one frame of pixels, so each file is a volume of
    its own, and each is refused: opening the folder said "holds 5 volumes; choose one" (a
    MultipleSeriesError over nothing openable). It raises the refusal, typed, with the table."""
    truth = write_dicom_series(tmp_path / "s", (8, 10, 5))
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.NumberOfFrames = 2
        ds.save_as(f)
    with pytest.raises(
        lv.FormatError, match=r"none of its 5 volumes can be opened:\n  #0 \["
    ) as exc:
        lv.open(tmp_path / "s")
    assert "NumberOfFrames x SamplesPerPixel" in str(exc.value) and "(and " not in str(exc.value)


def test_volumes_all_refused_as_unsupported_are_checked_again_without_the_saved_scan(
    tmp_path, monkeypatch
):
    """Support can change without the files changing (a decoder installed since the scan was
    saved): when every volume was recorded as unsupported, the folder is scanned again before
    refusing (the refusal came from the stale saved scan, while series= opened the volume)."""
    import lazyvol.dicom.stacking as stacking

    write_dicom_series(tmp_path / "f" / "a", (8, 8, 3))
    truth = write_dicom_series(tmp_path / "f" / "b", (8, 8, 4))
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.SeriesInstanceUID, ds.SeriesNumber = "1.2.3.4.5", 9
        ds.save_as(f)
    real = stacking.support_error
    with monkeypatch.context() as m:
        m.setattr(stacking, "support_error", lambda rec, fetch=None: ("unsupported", "no decoder"))
        with pytest.raises(lv.UnsupportedError, match="none of its 2 volumes can be opened"):
            lv.open(tmp_path / "f")
    assert stacking.support_error is real  # "installed"
    with pytest.raises(lv.MultipleSeriesError, match="holds 2 volumes"):
        lv.open(tmp_path / "f")


def test_an_attribute_repeated_in_the_data_set_is_refused(tmp_path):
    """A second RescaleSlope and ImagePositionPatient inserted before Pixel Data (a data set must
    hold each tag once, in ascending order): the walker and pydicom both kept the last copy, so
    the series opened doubled and 100 mm away, without a word. Each file is refused naming the
    tags, and the folder says why nothing opens."""
    import struct

    truth = write_dicom_series(tmp_path / "s", (8, 6, 4))
    for k, f in enumerate(truth.files):
        data = Path(f).read_bytes()
        at = data.rfind(b"\xe0\x7f\x10\x00OW")
        ipp = "\\".join(f"{v:g}" for v in truth.positions[k] + [0, 0, 100]).encode()
        ipp += b" " * (len(ipp) % 2)
        extra = struct.pack("<HH2sH", 0x20, 0x32, b"DS", len(ipp)) + ipp
        extra += struct.pack("<HH2sH", 0x28, 0x1053, b"DS", 2) + b"2 "
        Path(f).write_bytes(data[:at] + extra + data[at:])
    match = (
        r"ImagePositionPatient \(0020,0032\), RescaleSlope \(0028,1053\) appear\(s\) more than once"
    )
    with pytest.raises(lv.FormatError, match=match):
        lv.open(tmp_path / "s")
    with pytest.raises(lv.FormatError, match=match):
        lv.open(truth.files[0])
    # The same value twice is not ambiguous: such a file is read.
    again = write_dicom_series(tmp_path / "t", (8, 6, 4))
    for f in again.files:
        data = Path(f).read_bytes()
        at = data.rfind(b"\xe0\x7f\x10\x00OW")
        start = data.index(b"\x20\x00\x32\x00DS")  # the element itself, byte for byte
        (n,) = struct.unpack_from("<H", data, start + 6)
        Path(f).write_bytes(data[:at] + data[start : start + 8 + n] + data[at:])
    np.testing.assert_array_equal(lv.open(tmp_path / "t").compute(), again.stored)


def test_a_damaged_basic_offset_table_is_refused_at_open(tmp_path):
    """An RLE file whose Basic Offset Table item holds 6 bytes (4-byte offsets: never that
    length) opened and failed only when its slice was computed; the item header says it at open."""
    import struct

    truth = write_dicom_series(tmp_path / "s", (8, 6, 4), compress="1.2.840.10008.1.2.5")
    victim = truth.files[1]
    data = Path(victim).read_bytes()
    at = data.rfind(b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff") + 12
    (length,) = struct.unpack_from("<L", data, at + 4)
    bot = struct.pack("<HHL", 0xFFFE, 0xE000, 6) + b"\0" * 6
    Path(victim).write_bytes(data[:at] + bot + data[at + 8 + length :])
    with pytest.raises(lv.FormatError, match=r"IM00001\.dcm: .*Basic Offset Table .* of 6 bytes"):
        lv.open(tmp_path / "s")


def test_pixel_data_padded_by_less_than_a_frame_is_read(tmp_path):
    """Trailing bytes shorter than one frame are padding (pydicom strips them too): the series
    opens and reads the true values."""
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.PixelData = ds.PixelData + b"\0" * 64
        ds.save_as(f)
    np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), truth.stored)


@pytest.mark.parametrize(
    ("keyword", "value"), [("Rows", [48, 99]), ("Columns", [32, 7]), ("BitsAllocated", [16, 8])]
)
def test_several_values_in_a_pixel_layout_attribute_are_refused(tmp_path, keyword, value):
    """Rows, Columns and the bit layout hold one value (VM 1). A header with several is corrupt:
    taking the first would read the pixel data in a made-up layout (Rows [48, 99] on a 32x48
    slice was read as 32x48 from the first value), so the file is refused naming the field."""
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    victim = sorted(truth.files)[4]
    ds = pydicom.dcmread(victim)
    setattr(ds, keyword, value)
    ds.save_as(victim)
    with pytest.raises(lv.FormatError, match=rf"{keyword} \(0028,0[01]\d\d\).*2 values") as exc:
        lv.open(victim)
    assert victim in str(exc.value)
    # In its folder the file is a group of its own that cannot be opened, and says why (the
    # rest, one file short, cannot be opened either: the folder says so, with both reasons).
    with pytest.raises(lv.LazyvolError, match=r"none of its 2 volumes can be opened") as exc:
        lv.open(tmp_path / "s")
    assert f"{keyword} (0028,0" in str(exc.value) and "slice(s) missing" in str(exc.value)
    (bad,) = [info for info in lv.scan(tmp_path / "s") if info.files == [victim]]
    assert bad.error and keyword in bad.error
    with pytest.raises(lv.FormatError, match=rf"{keyword} .*2 values"):
        lv.open(tmp_path / "s", series=bad.id)


def test_frame_of_reference_differing_inside_a_series_splits(tmp_path):
    """Positions in another frame of reference are in another coordinate system: the slice is
    not stacked with the others (the volume would place it by numbers that do not compare); the
    series is split with the reason, and the remaining slices report the gap they leave."""
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    victim = truth.files[5]  # slice k = 5, inside the stack
    ds = pydicom.dcmread(victim)
    assert ds.FrameOfReferenceUID
    ds.FrameOfReferenceUID = "1.2.3.4.5.6"
    ds.save_as(victim)
    with pytest.raises(lv.MultipleSeriesError, match=r"FrameOfReferenceUID \(0020,0052\) differs"):
        lv.open(tmp_path / "s")
    infos = sorted(lv.scan(tmp_path / "s"), key=lambda info: len(info.files))
    assert [info.files for info in infos[:1]] == [[victim]]
    assert infos[1].shape == (32, 48, 11)
    with pytest.raises(lv.SeriesError, match="spacing"):
        lv.open(tmp_path / "s", series=infos[1].id)


def test_one_image_without_geometry_or_instance_number_opens_with_instance_order(tmp_path):
    """A single image needs no order: instance_order=True opens it without InstanceNumber (it
    asked for InstanceNumber, so no option opened such a file; dcm2niix converts it)."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 1))
    ds = pydicom.dcmread(truth.files[0])
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "InstanceNumber"):
        delattr(ds, keyword)
    ds.save_as(truth.files[0])
    with pytest.raises(lv.SeriesError, match="instance_order=True"):
        lv.open(tmp_path / "s")
    vol = lv.open(tmp_path / "s", instance_order=True)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert "geometry_approximate" in vol.meta


def test_palette_colour_is_unsupported_not_read_as_intensities(tmp_path):
    """PALETTE COLOR values index a lookup table: they were read as grey levels without a word;
    they are refused as colour, as RGB is."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 3), dtype="uint8")
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.PhotometricInterpretation = "PALETTE COLOR"
        ds.save_as(f)
    with pytest.raises(lv.UnsupportedError, match="PALETTE COLOR"):
        lv.open(tmp_path / "s")


def test_a_duplicate_in_another_transfer_syntax_is_dropped_when_its_values_are_the_same(
    tmp_path,
):
    """The same SOPInstanceUID stored twice, once RLE-compressed (an archive holding both
    copies): the stored bytes differ, so both are decoded and compared; equal values make it an
    exact duplicate, dropped with a warning naming both files and both syntaxes."""
    from pydicom.uid import RLELossless

    truth = write_dicom_series(tmp_path / "s", (8, 6, 3))
    ds = pydicom.dcmread(truth.files[1])
    ds.compress(RLELossless, generate_instance_uid=False)
    ds.save_as(tmp_path / "s" / "copy_rle.dcm")
    vol = lv.open(tmp_path / "s", scale=False)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    (warning,) = [w for w in vol.meta["warnings"] if "duplicate" in w]
    assert "copy_rle.dcm" in warning and truth.files[1] in warning
    assert f"transfer syntaxes (1.2.840.10008.1.2.1 and {RLELossless})" in warning


def test_a_duplicate_too_big_to_decode_at_scan_time_is_refused(tmp_path, monkeypatch):
    """The decoded comparison is bounded by the decoded size the headers claim, not only by the
    file sizes: two small compressed copies claiming more than the bound are refused as
    conflicting, never decoded."""
    from pydicom.pixels import get_encoder
    from pydicom.uid import JPEGLSLossless, RLELossless

    from lazyvol.dicom import duplicates

    if not get_encoder(JPEGLSLossless).is_available:
        pytest.skip("no JPEG-LS encoder installed")
    truth = write_dicom_series(tmp_path / "s", (64, 64, 3), dtype="uint16")
    ds = pydicom.dcmread(truth.files[1])
    ds.PixelData = np.zeros((64, 64), "<u2").tobytes()  # compresses to a few hundred bytes
    ds.compress(JPEGLSLossless, generate_instance_uid=False)
    ds.save_as(truth.files[1])
    ds = pydicom.dcmread(truth.files[1])
    ds.compress(RLELossless, ds.pixel_array, generate_instance_uid=False)
    ds.save_as(tmp_path / "s" / "copy_rle.dcm")
    sizes = [truth.files[1], str(tmp_path / "s" / "copy_rle.dcm")]
    biggest = max(Path(f).stat().st_size for f in sizes)
    assert biggest < 64 * 64 * 2
    monkeypatch.setattr(duplicates, "DECODE_COMPARE_BYTES", biggest)  # files fit, decodes do not
    decodes: list[str] = []
    monkeypatch.setattr(duplicates, "_decoded", lambda r, f, c: decodes.append(r.path))
    with pytest.raises(lv.SeriesError, match=r"different transfer syntaxes.*too large to decode"):
        lv.open(tmp_path / "s")
    assert decodes == []


def test_a_duplicate_that_cannot_be_decoded_is_refused_saying_so(tmp_path, monkeypatch):
    """A copy in another transfer syntax that pydicom fails to decode: refused, the message says
    the copies could not be compared and why."""
    from pydicom.uid import RLELossless

    from lazyvol.dicom import duplicates

    truth = write_dicom_series(tmp_path / "s", (8, 6, 3))
    ds = pydicom.dcmread(truth.files[1])
    ds.compress(RLELossless, generate_instance_uid=False)
    ds.save_as(tmp_path / "s" / "copy_rle.dcm")

    def fail(rec, fetch, cache):
        raise RuntimeError("RLE segment damaged")

    monkeypatch.setattr(duplicates, "_decoded", fail)
    with pytest.raises(lv.SeriesError, match=r"one cannot be decoded \(RuntimeError: RLE segment"):
        lv.open(tmp_path / "s")


def test_a_duplicate_in_another_transfer_syntax_with_other_values_is_refused(tmp_path):
    """Two copies of one SOPInstanceUID, one RLE-compressed with one value changed: conflicting
    copies, refused naming both files and both syntaxes (never one picked silently)."""
    from pydicom.uid import RLELossless

    truth = write_dicom_series(tmp_path / "s", (8, 6, 3))
    ds = pydicom.dcmread(truth.files[1])
    arr = ds.pixel_array.copy()
    arr[2, 3] += 1
    ds.PixelData = arr.tobytes()
    ds.compress(RLELossless, generate_instance_uid=False)
    ds.save_as(tmp_path / "s" / "copy_rle.dcm")
    with pytest.raises(lv.SeriesError, match="different transfer syntaxes") as exc:
        lv.open(tmp_path / "s")
    assert "copy_rle.dcm" in str(exc.value) and truth.files[1] in str(exc.value)
    assert "their decoded pixel values differ" in str(exc.value)


def test_volume_ids_do_not_depend_on_the_frame_of_reference_unless_it_splits(tmp_path):
    """Volume ids are a hash of the split key: the frame of reference joins the key only where it
    splits the series, so the ids of every other series stay what they were (saved series= ids
    keep working)."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 4))
    (before,) = lv.scan(tmp_path / "s")
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.FrameOfReferenceUID = "1.2.3.999"
        ds.save_as(f)
    (after,) = lv.scan(tmp_path / "s")
    assert after.id == before.id


def test_a_frame_of_reference_split_elsewhere_leaves_the_other_groups_ids(tmp_path):
    """A localizer with a frame of reference of its own is a group of its own anyway: the images'
    volume id is the same whether or not the localizer's frame of reference differs."""
    ids = []
    for n, for_uid in enumerate([None, "1.2.3.777"]):
        folder = tmp_path / f"s{n}"
        write_dicom_series(folder, (8, 6, 4), series_uid="1.2.3.55")
        loc = write_dicom_series(
            folder,
            (8, 6, 1),
            series_uid="1.2.3.55",
            prefix="LOC",
            orientation="coronal",
            image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
        )
        if for_uid:
            ds = pydicom.dcmread(loc.files[0])
            ds.FrameOfReferenceUID = for_uid
            ds.save_as(loc.files[0])
        (images,) = [i for i in lv.scan(folder) if i.shape == (8, 6, 4)]
        ids.append(images.id)
    assert ids[0] == ids[1]


@pytest.mark.parametrize(
    "tag",
    [
        b"\x02\x00\x02\x00",  # MediaStorageSOPClassUID (0002,0002), file meta
        b"\x02\x00\x10\x00",  # TransferSyntaxUID (0002,0010), file meta
        b"\x08\x00\x60\x00",  # Modality (0008,0060)
        b"\x20\x00\x32\x00",  # ImagePositionPatient (0020,0032)
        b"\x28\x00\x10\x00",  # Rows (0028,0010)
    ],
    ids=["media-sop", "transfer-syntax", "modality", "position", "rows"],
)
def test_an_element_with_an_unknown_vr_never_escapes_as_a_foreign_exception(tmp_path, tag):
    # Found by the long fuzz run: an explicit-VR element whose VR and length were overwritten
    # (here "U\0" and 0) makes lazyvol's walker give up, and pydicom, which converts values
    # lazily, raised NotImplementedError only when lazyvol read the value.
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    victim = truth.files[0]
    data = bytearray(open(victim, "rb").read())
    at = data.index(tag)
    assert data[at + 4 : at + 6].isalpha()  # explicit VR: the two VR letters follow the tag
    data[at + 4 : at + 8] = b"U\x00\x00\x00"
    with open(victim, "wb") as f:
        f.write(data)
    try:
        vol = lv.open(victim)
    except lv.LazyvolError as exc:
        assert victim in str(exc)
    else:  # read anyway: then the values must be the file's own
        got = np.asarray(vol.compute())
        assert any(np.array_equal(got[:, :, 0], truth.stored[:, :, k]) for k in range(SHAPE[2]))
    report = lv.scan(tmp_path / "s")  # the others are still found; the victim is accounted for
    assert sum(s.shape[2] for s in report) + len(report.skipped) >= SHAPE[2]


def test_a_rescale_past_float64_is_refused_not_read_as_inf(tmp_path):
    # RescaleSlope 1e308 (a valid DS): 32767 * 1e308 has no float64 value. pydicom's own
    # apply_rescale returns inf for it; lazyvol raises naming the file and the fields.
    truth = write_dicom_series(tmp_path / "s", (4, 4, 2), dtype="int16", slope=1e308)
    with pytest.raises(lv.FormatError, match=r"RescaleSlope / RescaleIntercept") as exc:
        lv.open(tmp_path / "s").compute()
    assert any(f in str(exc.value) for f in truth.files)
    assert "scale=False" in str(exc.value)  # float64 is already the dtype: no wider one helps
    raw = lv.open(tmp_path / "s", scale=False).compute()
    np.testing.assert_array_equal(raw, truth.stored)
    # A slope as large but whose results fit float64 still reads, exactly as float64 arithmetic.
    truth = write_dicom_series(tmp_path / "t", (4, 4, 2), dtype="int16", slope=1e300)
    got = lv.open(tmp_path / "t").compute()
    np.testing.assert_array_equal(got, truth.stored.astype(np.float64) * 1e300)


def _relabel_syntax(path: str, uid: bytes) -> None:
    """Rewrite a file's TransferSyntaxUID (0002,0010) to ``uid`` (any length: the file meta group
    length follows), leaving the data set, and so its Pixel Data, as written."""
    raw = bytearray(Path(path).read_bytes())
    at = raw.index(b"\x02\x00\x10\x00UI")
    old = struct.unpack("<H", raw[at + 6 : at + 8])[0]
    raw[at : at + 8 + old] = raw[at : at + 6] + struct.pack("<H", len(uid)) + uid
    group = raw.index(b"\x02\x00\x00\x00UL") + 8
    size = struct.unpack("<L", raw[group : group + 4])[0] + len(uid) - old
    raw[group : group + 4] = struct.pack("<L", size)
    Path(path).write_bytes(bytes(raw))


def _rle_files(folder: Path, layout: str) -> list[str]:
    """RLE files of one volume in ``folder``, stored as ``layout`` says."""
    rle = "1.2.840.10008.1.2.5"
    if layout == "single-frame":
        return write_dicom_series(folder, (8, 6, 3), compress=rle).files
    if layout == "mosaic":
        return write_mosaic_series(folder, (8, 6, 3), compress=rle).files
    folder.mkdir()
    path = str(folder / "e.dcm")
    write_enhanced_dicom(path, shape=(8, 6, 3), compress=rle)
    if layout == "multi-frame without functional groups":
        ds = pydicom.dcmread(path)
        del ds.PerFrameFunctionalGroupsSequence, ds.SharedFunctionalGroupsSequence
        ds.save_as(path)
    return [path]


@pytest.mark.parametrize(
    "layout",
    ["single-frame", "enhanced multi-frame", "multi-frame without functional groups", "mosaic"],
)
@pytest.mark.parametrize(
    "uid",
    [b"1.2.840.10008.1.2\0", b"1.2.840.10008.1.2.1\0", b"", b"1.2.840.10008.1.2.1\0\0\0\0"],
    ids=["implicit", "explicit", "empty", "nul-padded"],
)
def test_undefined_length_pixel_data_in_an_uncompressed_syntax_is_refused(tmp_path, layout, uid):
    """RLE files whose TransferSyntaxUID was rewritten to a native syntax (or emptied): their
    Pixel Data keeps the undefined length and the encapsulated items. Read as native they gave
    the item tags and the RLE header as voxel values (an enhanced file's frames silently); every
    layout is refused at open, naming the file and the fix."""
    files = _rle_files(tmp_path / "s", layout)
    for f in files:
        _relabel_syntax(f, uid)
    ds = pydicom.dcmread(files[0])  # the reference: pydicom sees items under a native syntax
    assert ds["PixelData"].is_undefined_length
    stated = ds.file_meta.get("TransferSyntaxUID") or pydicom.uid.ImplicitVRLittleEndian
    assert not pydicom.uid.UID(stated).is_compressed
    said = r"7FE0,0010.*undefined length.*TransferSyntaxUID \(0002,0010\) is the uncompressed"
    with pytest.raises(lv.FormatError, match=said) as exc:
        lv.open(files[0])
    assert files[0] in str(exc.value)
    with pytest.raises(lv.FormatError, match=said):
        lv.open(tmp_path / "s")


@pytest.mark.parametrize(
    ("keyword", "value", "said"),
    [
        ("SamplesPerPixel", 0, r"SamplesPerPixel \(0028,0002\) = 0"),
        ("RescaleSlope", ["1", "2"], r"RescaleSlope \(0028,1053\).*2 values"),
        ("RescaleIntercept", ["0", "5"], r"RescaleIntercept \(0028,1052\).*2 values"),
        ("NumberOfFrames", "-1", r"NumberOfFrames \(0028,0008\) = -1: an image has at least"),
        ("Rows", None, r"Rows \(0028,0010\) is empty"),
        ("Columns", None, r"Columns \(0028,0011\) is empty"),
        ("BitsAllocated", None, r"BitsAllocated \(0028,0100\) is empty"),
        ("BitsStored", None, r"BitsStored \(0028,0101\) is empty"),
    ],
)
def test_impossible_values_of_read_attributes_are_refused(tmp_path, keyword, value, said):
    """A sample count of 0, a second rescale value, a negative frame count: corrupt headers that
    were read as 1 sample, the first value, or 'multi-frame, unsupported'. An empty Rows,
    Columns, BitsAllocated or BitsStored was reported as '= 0' (a value the file does not hold;
    an empty NumberOfFrames as '= -1': below)."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 3))
    victim = sorted(truth.files)[1]
    ds = pydicom.dcmread(victim)
    setattr(ds, keyword, value)
    ds.save_as(victim)
    with pytest.raises(lv.FormatError, match=said) as exc:
        lv.open(victim)
    assert victim in str(exc.value)


@pytest.mark.parametrize("value", ["", "0"])
def test_an_empty_or_zero_frame_count_over_one_native_frame_reads_as_one_frame(tmp_path, value):
    """NumberOfFrames (0028,0008) present but empty or 0 (non-conformant) on files whose Pixel
    Data holds one frame: pydicom and dcm2niix read one frame; lazyvol refused the series. Read
    as one frame, said in meta and its warnings."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 3))
    for path in truth.files:
        ds = pydicom.dcmread(path)
        ds.add_new(0x00280008, "IS", value or None)
        ds.save_as(path)
    with pytest.warns(UserWarning, match="assuming 1 frame"):  # (the reference: pydicom)
        assert pydicom.dcmread(truth.files[0]).pixel_array.shape == (6, 8)
    vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.scaled())
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    note = vol.meta["number_of_frames_source"]
    assert "empty or 0" in note and "read as one frame" in note and note in vol.meta["warnings"]


def test_a_zero_frame_count_of_one_bit_pixels_is_refused_for_its_bits(tmp_path):
    """NumberOfFrames 0 over one frame of BitsAllocated 1 (pydicom reads one frame): refused as
    'NumberOfFrames = 0 ... the header is corrupt', hiding the reason and its remedy (1-bit pixels
    are not supported: read them with pydicom), which the same file without the count gets."""
    from pydicom.pixels import pack_bits

    truth = write_dicom_series(tmp_path / "s", (8, 8, 2), dtype="uint8")
    for path in truth.files:
        ds = pydicom.dcmread(path)
        ds.BitsAllocated = ds.BitsStored = 1
        ds.HighBit = 0
        ds.PixelData = pack_bits((np.arange(64).reshape(8, 8) % 2).astype(np.uint8))
        ds.add_new(0x00280008, "IS", "0")
        ds.save_as(path)
    assert pydicom.dcmread(truth.files[0]).pixel_array.shape == (8, 8)
    with pytest.raises(lv.LazyvolError, match=r"BitsAllocated \(0028,0100\) = 1 is not supported"):
        lv.open(tmp_path / "s")


def test_an_empty_frame_count_over_two_frames_of_data_is_refused(tmp_path):
    """An empty NumberOfFrames over Pixel Data holding two frames: the count is unknown, refused
    naming the attribute (not read as one frame)."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 3))
    victim = sorted(truth.files)[1]
    ds = pydicom.dcmread(victim)
    ds.add_new(0x00280008, "IS", None)
    ds.PixelData = ds.PixelData * 2
    ds.save_as(victim)
    with pytest.raises(lv.FormatError, match=r"NumberOfFrames \(0028,0008\) is empty") as exc:
        lv.open(victim)
    assert victim in str(exc.value)


@pytest.mark.parametrize("folder", ["a_shifted", "z_shifted"])
def test_one_image_in_two_places_is_a_conflict_whatever_the_folder_names(tmp_path, folder):
    """Copies of a series with the same SOPInstanceUIDs and pixels but positions 100 mm apart were
    'exact duplicates': the copy listed first won, so the geometry depended on folder names."""
    truth = write_dicom_series(tmp_path / "x" / "orig", (8, 6, 4))
    (tmp_path / folder).mkdir()
    for path in truth.files:
        ds = pydicom.dcmread(path)
        ds.ImagePositionPatient = [
            float(v) + (100.0 if n == 2 else 0.0) for n, v in enumerate(ds.ImagePositionPatient)
        ]
        ds.save_as(tmp_path / folder / Path(path).name)
    with pytest.raises(lv.SeriesError, match=r"appears in .* with different ImagePositionPatient"):
        lv.open(tmp_path)
    np.testing.assert_array_equal(lv.open(tmp_path / "x").compute(), truth.stored)


def test_a_second_pixel_data_element_is_refused_not_read_differently_from_pydicom(tmp_path):
    """Two Pixel Data elements: lazyvol read the first, pydicom the last -- different images,
    silently. A pixel element right after the one found makes the file malformed, said so."""
    import struct

    truth = write_dicom_series(tmp_path / "s", (4, 3, 2))
    victim = sorted(truth.files)[0]
    raw = Path(victim).read_bytes()
    nbytes = 4 * 3 * 2
    extra = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, nbytes) + b"\xff" * nbytes
    Path(victim).write_bytes(raw + extra)  # appended: pydicom now reads the 0xFFFF image
    assert pydicom.dcmread(victim).pixel_array.min() == -1
    with pytest.raises(lv.FormatError, match=r"second pixel element \(7FE0,0010\)"):
        lv.open(victim)
    ok = sorted(truth.files)[1]  # a file ending in trailing padding bytes is not refused
    Path(ok).write_bytes(Path(ok).read_bytes() + b"\0" * 16)
    np.testing.assert_array_equal(lv.open(ok).compute()[:, :, 0], truth.stored[:, :, 1])


def test_a_file_cut_before_its_series_uid_is_named_by_the_volume_beside_it(tmp_path):
    """The end slice of a series cut short before its SeriesInstanceUID (a copy cut off): nothing
    ties it to the series, and an end slice leaves no gap, so the series opened one slice short
    without a word. Every volume of its folder names it; files that are no images (a README, a
    .DS_Store) and damage in another folder are not named."""
    truth = write_dicom_series(tmp_path / "s", (32, 48, 8))
    last = truth.files[-1]
    raw = open(last, "rb").read()
    uid = pydicom.dcmread(last).SeriesInstanceUID.encode()
    open(last, "wb").write(raw[: raw.index(uid) - 8])  # cut before the UID's element
    (tmp_path / "s" / "README.txt").write_text("scanner export")
    (tmp_path / "s" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + bytes(100))
    (tmp_path / "s" / "empty.dcm").write_bytes(b"")  # (junk, skipped quietly: BAD_INPUTS)
    write_dicom_series(tmp_path / "other", (8, 8, 3), seed=3)
    other = sorted((tmp_path / "other").iterdir())[0]
    other.write_bytes(other.read_bytes()[:300])  # damage in another folder
    report = lv.scan(tmp_path / "s")
    assert report.unnamed == {last}
    vol = lv.open(tmp_path / "s")
    assert vol.shape == (32, 48, 7)  # (the slices there are)
    np.testing.assert_array_equal(vol.compute(), truth.stored[..., :7])
    (note,) = [w for w in vol.meta["warnings"] if "name no series" in w]
    assert last in note and "README" not in note and ".DS_Store" not in note
    assert "empty.dcm" not in note
    # cut inside the file meta group: no SOP class, no data set; a damaged file, not a non-image
    open(last, "wb").write(raw[:140])
    report = lv.scan(tmp_path / "s")
    assert report.unnamed == {last}
    assert "truncated" in dict(report.skipped)[last]
    (other_note,) = [w for w in lv.open(tmp_path / "other").meta["warnings"] if "no series" in w]
    assert str(other) in other_note and str(tmp_path / "s") not in other_note


def test_an_enhanced_file_whose_offset_table_is_not_whole_entries_names_the_table(tmp_path):
    """An enhanced RLE file whose Basic Offset Table item holds 6 bytes (offsets are 4 bytes
    each) was skipped as "unreadable functional groups (unpack requires a buffer of 4 bytes)":
    the table is named, with the fix."""
    import struct

    from pydicom.encaps import generate_frames
    from pydicom.uid import RLELossless

    path = tmp_path / "e.dcm"
    write_enhanced_dicom(path, shape=(16, 12, 3))
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless)
    frames = list(generate_frames(ds.PixelData, number_of_frames=3))

    def item(data: bytes) -> bytes:
        data += b"\0" * (len(data) % 2)
        return struct.pack("<HHI", 0xFFFE, 0xE000, len(data)) + data

    bot = item(struct.pack("<L", 0) + b"\0\0")  # 6 bytes: one offset and a half
    ds.PixelData = bot + b"".join(item(f) for f in frames) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    ds.save_as(path)
    with pytest.raises(
        lv.FormatError, match=r"e\.dcm.*Basic Offset Table .*6 bytes.*multiple of 4"
    ):
        lv.open(path)


def test_a_gap_refusal_names_the_skipped_files_that_may_be_the_missing_slices(tmp_path):
    """A middle slice cut after its SeriesInstanceUID (series incomplete) and another cut before
    it (no series): the refusal for the gap named neither, only the irregular step."""
    truth = write_dicom_series(tmp_path / "s", (16, 16, 8))
    uid = pydicom.dcmread(truth.files[0]).SeriesInstanceUID.encode()
    for f, keep in ((truth.files[4], len(uid) + 20), (truth.files[2], -8)):
        raw = open(f, "rb").read()
        open(f, "wb").write(raw[: raw.index(uid) + keep])
    with pytest.raises(lv.SeriesError, match=r"slice\(s\) missing") as exc:
        lv.open(tmp_path / "s")
    message = str(exc.value)
    assert "series incomplete" in message and truth.files[4] in message
    assert "name no series" in message and truth.files[2] in message


def test_a_dicom_volume_of_stored_values_warns_when_written(tmp_path):
    """scale=False on a series with RescaleSlope 2 / RescaleIntercept -5: to_nifti writes the
    stored values, which readers take for real ones; it says so. With scale=True it does not."""
    import warnings

    truth = write_dicom_series(tmp_path / "s", (8, 6, 3), slope=2.0, intercept=-5)
    raw = lv.open(tmp_path / "s", scale=False)
    with pytest.warns(RuntimeWarning, match=r"RescaleSlope 2(\.0)? / RescaleIntercept -5"):
        raw.to_nifti(tmp_path / "raw.nii")
    import nibabel as nib

    written = np.asanyarray(nib.load(tmp_path / "raw.nii").dataobj)
    np.testing.assert_array_equal(written, truth.stored)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lv.open(tmp_path / "s").to_nifti(tmp_path / "real.nii")
    np.testing.assert_allclose(nib.load(tmp_path / "real.nii").get_fdata(), truth.scaled())


def test_an_integer_dtype_takes_the_rescaled_values_exactly_or_refuses_them(tmp_path):
    """dtype= an integer on a rescale it cannot hold: the values wrapped (-49252.5 became 16284
    in int16), then were truncated as numpy's astype does (1.25 read as 1, without a word). A
    rescale that is not whole numbers is refused at open; values past the dtype's range are
    refused as they are read; a whole-number rescale that fits reads exactly."""
    write_dicom_series(tmp_path / "s", (8, 6, 3), slope=1.5, intercept=-0.25)
    with pytest.raises(lv.DataTypeError, match=r"RescaleSlope.*1\.5 / -0\.25.*float32"):
        lv.open(tmp_path / "s", dtype="int32")
    whole = write_dicom_series(tmp_path / "w", (8, 6, 3), slope=3.0, intercept=-1.0)
    np.testing.assert_array_equal(
        lv.open(tmp_path / "w", dtype="int32").compute(), whole.scaled().astype(np.int32)
    )
    lo, hi = whole.scaled().min(), whole.scaled().max()
    if np.iinfo(np.int8).min <= lo and hi <= np.iinfo(np.int8).max:
        raise AssertionError("the phantom's range should not fit int8")
    with pytest.raises(lv.DataTypeError, match=r"IM\d+\.dcm: values scaled by RescaleSlope.*int8"):
        lv.open(tmp_path / "w", dtype="int8").compute()


def test_an_integer_dtype_on_stored_values_is_checked_and_the_ct_path_stays_integer(
    tmp_path, monkeypatch
):
    """scale=False with dtype="int8" cast stored values silently (2049 became -1); the same
    check as with scaling now refuses them. A 12-bit CT with RescaleIntercept -1024 read with the
    dtype lazyvol picks stays on the exact integer path (no float64 pass per frame)."""
    from lazyvol import scaling

    truth = write_dicom_series(tmp_path / "s", (8, 6, 3), slope=1.0, intercept=-1024)
    with pytest.raises(lv.DataTypeError, match=r"IM\d+\.dcm: values \(.*int8"):
        lv.open(tmp_path / "s", scale=False, dtype="int8").compute()
    calls = []
    real = scaling._checked_int_into
    monkeypatch.setattr(scaling, "_checked_int_into", lambda *a: calls.append(1) or real(*a))
    vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.scaled())
    assert vol.dtype.kind == "i" and calls == []


@pytest.mark.parametrize("dtype", [">i2", ">i4", ">f4"])
def test_a_byte_swapped_dtype_reads_the_values(tmp_path, dtype):
    """dtype=">i2" on a 12-bit series with RescaleIntercept -1024 raised numpy's TypeError (a
    ufunc's dtype= takes no byte order); the values are pydicom's, in the order asked for."""
    truth = write_dicom_series(
        tmp_path / "s", (8, 6, 3), dtype="uint16", bits_stored=12, slope=1.0, intercept=-1024
    )
    got = lv.open(tmp_path / "s", dtype=dtype).compute()
    np.testing.assert_array_equal(got, truth.scaled().astype(dtype))


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_missing_pixel_representation_is_not_taken_as_unsigned(tmp_path, state):
    """PixelRepresentation (0028,0103) is required (pydicom refuses a file without it): a slice
    of a signed series without it was read as unsigned (its negatives as large numbers) and
    stacked with the others; it is skipped, naming the attribute and the fix. An element present
    with no value (length 0) was still read as unsigned (found by the byte-level fuzzer; dcm2niix
    reads those files as signed, pydicom refuses them): skipped the same way."""
    truth = write_dicom_series(tmp_path / "s", (10, 8, 6), dtype="int16")
    bad = sorted(truth.files)[3]
    ds = pydicom.dcmread(bad)
    if state == "missing":
        del ds.PixelRepresentation
    else:
        tag = pydicom.tag.Tag(0x00280103)
        ds._dict[tag] = pydicom.dataelem.RawDataElement(tag, "US", 0, b"", 0, False, True)
    ds.save_as(bad)
    with pytest.raises(AttributeError):
        _ = pydicom.dcmread(bad).pixel_array  # the reference refuses it too
    report = lv.scan(tmp_path / "s")
    reasons = dict(report.skipped)
    assert f"PixelRepresentation (0028,0103) {state}" in reasons[str(bad)]
    with pytest.raises(lv.LazyvolError):  # one slice short: a gap in the series
        lv.open(tmp_path / "s")
    with pytest.raises(lv.FormatError, match=rf"PixelRepresentation \(0028,0103\) {state}"):
        lv.open(bad)


def test_short_float_pixel_data_is_named_by_its_element(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (8, 8, 3), dtype="float32")
    for f in truth.files:
        ds = pydicom.dcmread(f)
        assert "FloatPixelData" in ds
        ds.Rows = 64
        ds.save_as(f)
    with pytest.raises(lv.FormatError, match=r"Float Pixel Data \(7FE0,0008\) (length|holds)"):
        lv.open(tmp_path / "s")


def test_mosaic_without_position_names_its_file_once(tmp_path):
    from lazyvol.testing import write_mosaic_series

    write_mosaic_series(tmp_path / "m", volumes=2)
    bad = sorted((tmp_path / "m").iterdir())[1]
    ds = pydicom.dcmread(bad)
    del ds.ImagePositionPatient
    ds.save_as(bad)
    with pytest.raises(lv.SeriesError, match=r"in 1 mosaic file\(s\): [^,]*\.dcm; ") as exc:
        lv.open(tmp_path / "m")
    assert str(exc.value).count(bad.name) == 1


@pytest.mark.parametrize(
    ("keyword", "tag", "size"),
    [("PixelRepresentation", (0x0028, 0x0103), 10), ("RescaleSlope", (0x0028, 0x1053), 0)],
)
def test_an_attribute_after_the_pixels_is_refused_not_missed(tmp_path, keyword, tag, size):
    """Elements ascend; one the scan reads written after Pixel Data (a broken writer) was never
    seen (read up to the pixels): PixelRepresentation there read signed values as unsigned, a
    RescaleSlope there was dropped, while pydicom, which reads every element, takes it."""
    import struct

    truth = write_dicom_series(tmp_path / "s", (8, 6, 3), dtype="int16", slope=2.0)
    f = truth.files[1]
    data = Path(f).read_bytes()
    at = data.find(struct.pack("<HH", *tag))
    length = size or 8 + struct.unpack("<H", data[at + 6 : at + 8])[0]
    elem = data[at : at + length]
    # ... also behind an element the scan does not read (StudyComments (0032,4000), LT)
    unread = struct.pack("<HH2sH", 0x0032, 0x4000, b"LT", 4) + b"note"
    # ... and behind one of a long VR (OB: 2 reserved bytes, a 4-byte length), the data set's
    # trailing padding (FFFC,FFFC) as pydicom's MR_small.dcm has it
    padding = struct.pack("<HH2s2xL", 0xFFFC, 0xFFFC, b"OB", 6) + bytes(6)
    for between in (b"", unread, padding):
        Path(f).write_bytes(data[:at] + data[at + length :] + between + elem)
        ds = pydicom.dcmread(f)
        assert ds[tag].keyword == keyword  # pydicom reads it, out of order
        reasons = dict(lv.scan(tmp_path / "s").skipped)
        text = f"{keyword} ({tag[0]:04X},{tag[1]:04X}), an attribute lazyvol reads, follows"
        assert text in reasons[str(f)], reasons


@pytest.mark.parametrize(
    "sop",
    [
        "1.2.840.10008.5.1.4.1.1.30",  # Parametric Map
        "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
        "1.2.840.10008.5.1.4.1.1.6.2",  # Enhanced US Volume
        "1.3.46.670589.11.0.0.12.4",  # a vendor's private class
    ],
)
def test_a_pixel_class_cut_before_its_pixels_is_damage_not_unsupported(tmp_path, sop):
    """A file of a class that holds pixels (a parametric map, a segmentation, a vendor's private
    class) cut before its Pixel Data is a truncated image: a FormatError, not 'not an image'
    (UnsupportedError), as only classes known to hold no pixels are."""
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop
    ds.save_as(tmp_path / "x.dcm")
    data = (tmp_path / "x.dcm").read_bytes()
    # cut at its pixel element, and before its image attributes (group 0028) too
    for cut in (data.rfind(b"\xe0\x7f\x10\x00"), data.find(b"\x28\x00\x02\x00")):
        (tmp_path / "x.dcm").write_bytes(data[:cut])
        with pytest.raises(lv.FormatError, match="truncated") as exc:
            lv.open(tmp_path / "x.dcm")
        assert not isinstance(exc.value, lv.UnsupportedError)


@pytest.mark.parametrize(
    "sop",
    [
        "1.2.840.10008.5.1.4.1.1.66.6",  # Tractography Results
        "1.2.840.10008.5.1.4.1.1.66.5",  # Surface Segmentation
        "1.2.840.10008.5.1.4.1.1.67",  # Real World Value Mapping
        "1.2.840.10008.5.1.4.1.1.481.2",  # RT Dose (dose-volume histograms only)
    ],
)
def test_a_complete_object_of_a_class_without_pixels_is_unsupported(tmp_path, sop):
    """Objects of standard classes that are no image classes hold no pixels: not an image
    (UnsupportedError), never a truncated one."""
    from pydicom.dataset import FileMetaDataset

    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    ds.SeriesInstanceUID = "1.2.3"
    ds.Modality = "OT"
    ds.save_as(tmp_path / "x.dcm", enforce_file_format=True)
    with pytest.raises(lv.UnsupportedError, match="not an image"):
        lv.open(tmp_path / "x.dcm")


@pytest.mark.parametrize("enhanced", [True, False])
def test_a_nan_orientation_is_one_series_in_the_scan(tmp_path, enhanced):
    """Each frame's own NaN (NaN equals nothing) made every frame of a file whose
    ImageOrientationPatient holds a NaN a series of its own in lv.scan; now the frames of one
    orientation are one series, whose open names the attribute."""
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    from lazyvol.testing.dicom_enhanced import write_enhanced_dicom

    def nan_iop(ds):
        tag = Tag(0x00200037)
        ds._dict[tag] = RawDataElement(tag, "DS", 12, b"1\\0\\0\\0\\nan\\0 ", 0, False, True)

    folder = tmp_path / "s"
    if enhanced:
        folder.mkdir()
        write_enhanced_dicom(folder / "mf.dcm", shape=(16, 12, 6))
        ds = pydicom.dcmread(folder / "mf.dcm")
        nan_iop(ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0])
        ds.save_as(folder / "mf.dcm")
    else:
        truth = write_dicom_series(folder, (16, 12, 6))
        for p in truth.files:
            ds = pydicom.dcmread(p)
            nan_iop(ds)
            ds.save_as(p)
    report = lv.scan(folder)
    assert len(report) == 1
    with pytest.raises(lv.LazyvolError, match=r"\(0020,0037\)"):
        lv.open(folder)


@pytest.mark.parametrize("spelled", ["monochrome2", "Monochrome2 ", "MONOCHROME2\x00"])
def test_a_slice_spelling_its_photometric_otherwise_stays_in_its_series(tmp_path, spelled):
    """One slice with PhotometricInterpretation 'monochrome2' (a CS value is upper case) was split
    from the others (MultipleSeriesError); it is the same value, as pydicom decodes it."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 4))
    victim = truth.files[1]
    ds = pydicom.dcmread(victim)
    ds[0x00280004] = pydicom.DataElement(0x00280004, "CS", spelled)
    ds.save_as(victim)
    vol = lv.open(tmp_path / "s")
    np.testing.assert_allclose(vol.compute(), truth.scaled())
    assert "monochrome1" not in vol.meta


@pytest.mark.parametrize(
    ("bits", "advice"),
    [
        (64, "reads 64-bit integers"),
        (24, "pydicom does not read it either"),
        (1, "unpacks the bits"),
    ],
)
def test_an_unread_bits_allocated_is_refused_with_advice_that_fits_it(tmp_path, bits, advice):
    """BitsAllocated 64 (pydicom reads 64-bit integers) or 24 (no reader does) was refused with
    the advice for packed 1-bit pixels: 'Dataset.pixel_array unpacks the bits'."""
    from pydicom.pixels import pack_bits

    truth = write_dicom_series(tmp_path / "s", (8, 8, 2), dtype="uint8")
    for path in truth.files:
        ds = pydicom.dcmread(path)
        ds.BitsAllocated = ds.BitsStored = bits
        ds.HighBit = bits - 1
        if bits == 1:
            ds.PixelData = pack_bits((np.arange(64).reshape(8, 8) % 2).astype(np.uint8))
        else:
            ds.PixelData = bytes(64 * bits // 8)
        ds.save_as(path)
    with pytest.raises(lv.UnsupportedError, match=rf"BitsAllocated \(0028,0100\) = {bits} ") as exc:
        lv.open(tmp_path / "s")
    assert advice in str(exc.value)
    assert bits == 1 or "unpacks the bits" not in str(exc.value)


@pytest.mark.parametrize(
    ("bits", "advice"),
    [
        (12, "pydicom does not read it either"),
        (64, "reads 64-bit integers"),
        (1, "unpacks the bits"),
    ],
)
def test_an_enhanced_files_unread_bits_allocated_is_named_not_measured(tmp_path, bits, advice):
    """An enhanced file's frames were measured with BitsAllocated // 8 before BitsAllocated was
    checked, so 12 or 1 bits read as a Pixel Data 'a whole frame more than 7x8x3x1x1 describe'
    (a FormatError blaming the header's dimensions) and 64 as 'shorter than 3 frames x 448
    bytes', where a classic series of the same files is told BitsAllocated is not read and why."""
    from lazyvol.testing import write_enhanced_dicom

    (tmp_path / "e").mkdir()
    path = tmp_path / "e" / "e.dcm"
    write_enhanced_dicom(path, (8, 7, 3))
    ds = pydicom.dcmread(path)
    ds.BitsAllocated = bits
    ds.BitsStored = min(bits, 12)
    ds.HighBit = min(bits, 12) - 1
    ds.save_as(path)
    for source in (tmp_path / "e", path):
        with pytest.raises(lv.UnsupportedError, match=rf"BitsAllocated \(0028,0100\) = {bits} "):
            lv.open(source)
        with pytest.raises(lv.UnsupportedError) as exc:
            lv.open(source)
        assert advice in str(exc.value) and str(path) in str(exc.value)
        assert "describe" not in str(exc.value) and "shorter" not in str(exc.value)
