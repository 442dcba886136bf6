"""The scan report: every skipped file, split and refusal carries a reason a user can act on, and
the same reasons reach ``lv.scan``, ``lazyvol info`` (table) and ``lazyvol info --json``."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
from collections import Counter

import pydicom
import pytest
from pydicom.data import get_testdata_file

import lazyvol as lv
from lazyvol.cli import main
from lazyvol.testing import write_dicom_series

#: (what, text that must appear in the report) for the folder built below.
EXPECTED = [
    ("non-DICOM file", "not a DICOM file"),
    ("zero-byte file", "empty file"),
    ("symbolic link", "pass follow_symlinks=True"),
    ("structured report", "no Pixel Data (7FE0,0010): not an image"),
    (
        "header cut",
        "CT Image Storage file truncated: required attributes missing (Rows (0028,0010)",
    ),
    ("series incomplete", "series incomplete"),
    ("split by size", "Rows/Columns (0028,0010)/(0028,0011) differs"),
    ("gap refusal", "allow_gaps=True"),
    ("missing position refusal", "instance_order=True"),
    ("duplicate dropped", "exact duplicate dropped"),
    ("unsupported mosaic", "MOSAIC"),
]
#: The hints naming Python keywords, as the command prints them (flags it takes).
CLI = {
    "pass follow_symlinks=True": "pass --follow-symlinks",
    "allow_gaps=True": "--allow-gaps",
    "instance_order=True": "--instance-order",
}


@pytest.fixture
def messy(tmp_path):
    root = tmp_path / "study"
    a = write_dicom_series(root / "a", (16, 12, 6), seed=1, series_number=1)
    shutil.copy(a.files[2], root / "a" / "copy_of_slice2.dcm")
    b = write_dicom_series(root / "b", (16, 12, 6), seed=2, series_number=2)
    os.remove(b.files[3])
    uid = "1.2.826.0.1.3680043.8.498.91"
    write_dicom_series(root / "c", (16, 12, 4), seed=3, series_uid=uid, prefix="C", series_number=3)
    write_dicom_series(root / "c", (8, 8, 4), seed=4, series_uid=uid, prefix="D", series_number=3)
    d = write_dicom_series(root / "d", (16, 12, 3), seed=5, series_number=4)
    for f in d.files:
        ds = pydicom.dcmread(f)
        del ds.ImagePositionPatient
        ds.save_as(f)
    e = write_dicom_series(root / "e", (16, 12, 4), seed=6, series_number=5)
    data = open(e.files[0], "rb").read()
    open(e.files[0], "wb").write(data[: data.index(b"\x28\x00\x10\x00") + 3])
    write_dicom_series(
        root / "m", (16, 12, 1), seed=7, series_number=6, modality="MR",
        image_type=("ORIGINAL", "PRIMARY", "M", "MOSAIC"),
    )  # fmt: skip
    (root / "README").write_text("exported by PACS")
    (root / "empty").write_bytes(b"")
    (root / "link.dcm").symlink_to(a.files[0])
    shutil.copy(get_testdata_file("test-SR.dcm"), root / "sr.dcm")
    return root


def _texts_of_scan(report) -> str:
    parts = [f"{p}: {r}" for p, r in report.skipped]
    for info in report:
        parts += list(info.reasons) + list(info.warnings) + ([info.error] if info.error else [])
    return "\n".join(parts)


def test_every_reason_in_scan_and_cli(messy, capsys):
    report = lv.scan(messy)
    text = _texts_of_scan(report)
    for what, needle in EXPECTED:
        assert needle in text, what
    # every skipped file has a non-empty reason and is named
    assert all(p and r for p, r in report.skipped)
    # lazyvol info: the table, its hints as the command's flags
    assert main(["info", str(messy)]) == 0
    table = capsys.readouterr().out
    for what, needle in EXPECTED:
        assert CLI.get(needle, needle) in table, what
        assert needle not in CLI or needle not in table, what
    # lazyvol info --json: the same reasons, machine-readable
    assert main(["info", str(messy), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    dump = json.dumps(doc)
    for what, needle in EXPECTED:
        assert CLI.get(needle, needle) in dump.replace("\\\\", "\\"), what
    errors = [s["error"] for s in doc["series"] if s["error"]]
    assert any("--allow-gaps" in e for e in errors)
    assert any("MOSAIC" in e for e in errors)


def test_refusals_name_files_and_the_option(messy):
    report = lv.scan(messy)
    for info in report:
        if not info.error:
            continue
        # each refusal names at least one file of the series
        assert any(f in info.error for f in info.files) or str(messy) in info.error, info.error


def _with_scout(folder, src: str, at: str) -> str:
    """An image of ``src``'s series at ``at``'s position (an axial scout, no LOCALIZER in its
    ImageType): positions then repeat a different number of times."""
    ds = pydicom.dcmread(src)
    ds.ImagePositionPatient = pydicom.dcmread(at).ImagePositionPatient
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.InstanceNumber = 900
    ds.PixelData = bytes(len(ds.PixelData))
    path = os.path.join(folder, "scout.dcm")
    ds.save_as(path)
    return path


def test_a_group_open_refuses_does_not_look_openable_in_the_scan(tmp_path):
    """A scan entry whose stacking fails (an extra image at one slice position) listed a plausible
    shape: the refusal lv.open raises is the scan's ``error``, and every listing of the entry
    (its summary, the MultipleSeriesError table) says it cannot be opened instead of a shape."""
    a = write_dicom_series(tmp_path / "a", (16, 12, 6), seed=1, series_number=1)
    scout = _with_scout(tmp_path / "a", a.files[4], at=a.files[2])
    positions = [tuple(pydicom.dcmread(f).ImagePositionPatient) for f in [*a.files, scout]]
    assert sorted(Counter(Counter(positions).values()).items()) == [(1, 5), (2, 1)]  # truth
    (info,) = lv.scan(tmp_path / "a", use_index=False)
    with pytest.raises(lv.SeriesError) as exc:
        lv.open(tmp_path / "a", use_index=False)
    assert info.error == str(exc.value) and info.error_kind == "series"
    assert "positions repeat" in info.error and scout in info.error
    assert "shape=- " in info.summary() and "cannot open: " in info.summary()
    write_dicom_series(tmp_path / "b", (8, 8, 3), seed=2, series_number=2)
    with pytest.raises(lv.MultipleSeriesError) as exc:
        lv.open(tmp_path, use_index=False)
    lines = {line.split("number=")[1][0]: line for line in str(exc.value).splitlines()[1:]}
    assert "cannot open: " in lines["1"] and "positions repeat" in lines["1"]
    assert "(16, 12, 7)" not in lines["1"]
    assert "shape=(8, 8, 3)" in lines["2"] and "cannot open" not in lines["2"]


def test_every_file_is_in_a_volume_or_skipped_with_a_reason(tmp_path, capsys):
    """An export copied twice: the copies dropped as exact duplicates were in no volume and not in
    ``report.skipped``; the warning named the first three, and the rest were nowhere (``lazyvol
    info --verbose`` and ``--json`` included). Each is now a skipped file with its reason."""
    a = write_dicom_series(tmp_path / "export" / "a", (8, 8, 6), seed=1, series_number=2)
    shutil.copytree(tmp_path / "export" / "a", tmp_path / "export" / "b")
    shutil.copy(a.files[2], tmp_path / "export" / "a" / "again.dcm")
    every = {str(p) for p in (tmp_path / "export").rglob("*.dcm")}
    (info,) = report = lv.scan(tmp_path / "export", use_index=False)
    skipped = dict(report.skipped)
    assert set(info.files) | set(skipped) == every and not set(info.files) & set(skipped)
    assert len(skipped) == 7 and all(r.startswith("exact duplicate") for r in skipped.values())
    assert main(["info", str(tmp_path / "export"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {p for p, _ in doc["skipped"]} == set(skipped)
    # the saved report (scan index) gives the same accounting back
    again = lv.scan(tmp_path / "export")
    assert lv.scan(tmp_path / "export").skipped == again.skipped == report.skipped


def test_a_cut_copy_of_a_slice_is_named_as_the_damaged_one(tmp_path):
    """A copy of a slice cut short inside its Pixel Data (a copy interrupted mid-file) beside the
    whole file was refused as two copies "with different pixel data; remove one of the files": the
    refusal says which copy is damaged and how, and that it is the one to remove."""
    a = write_dicom_series(tmp_path / "s", (8, 8, 4), seed=1)
    data = open(a.files[1], "rb").read()
    cut = tmp_path / "s" / "partial_copy.dcm"
    cut.write_bytes(data[:-50])
    with pytest.raises(lv.FormatError) as exc:
        lv.open(tmp_path / "s", use_index=False)
    msg = str(exc.value)
    assert f"{cut}: truncated" in msg and f"remove {cut} (the other copy is whole)" in msg
    assert "different pixel data" not in msg
    (info,) = lv.scan(tmp_path / "s", use_index=False)
    assert info.error == msg and info.error_kind == "format"


def test_a_folder_of_nifti_files_says_to_open_them_by_path(tmp_path, capsys):
    """A BIDS dataset given as a folder: every .nii.gz was 'not a DICOM file', and nothing said
    that lazyvol reads a folder as DICOM and opens a NIfTI file (or a Zarr store) by its path."""
    from lazyvol.testing import write_phantom_nifti

    anat = tmp_path / "bids" / "sub-01" / "anat"
    anat.mkdir(parents=True)
    nii = write_phantom_nifti(anat / "sub-01_T1w.nii.gz", (6, 6, 4))
    lv.open(nii).to_zarr(anat / "sub-01_T2w.zarr")
    (tmp_path / "bids" / "dataset_description.json").write_text('{"Name": "x"}')
    with pytest.raises(lv.FormatError) as exc:
        lv.open(tmp_path / "bids")
    for said in (f"1 NIfTI file(s) (e.g. {nii})", f"1 Zarr store(s) (e.g. {anat}/sub-01_T2w.zarr)"):
        assert said in str(exc.value)
    assert "open each NIfTI file or Zarr store by its own path" in str(exc.value)
    assert main(["info", str(tmp_path / "bids")]) == 2
    assert f"1 NIfTI file(s) (e.g. {nii})" in capsys.readouterr().err


def test_two_series_without_uid_stacked_as_one_are_flagged(tmp_path):
    """Two series of one study and frame of reference whose files state no SeriesInstanceUID and
    no SeriesNumber, the second shifted half a slice: nothing tells them apart, and they stack as
    one volume at half the spacing (dcm2niix too) with only the general missing-UID note. Their
    InstanceNumbers repeating where no position does now says they may be several series (a
    warning at open too); one such series alone gets the general note only."""
    same = {"StudyInstanceUID": "1.2.3.4", "FrameOfReferenceUID": "1.2.3.5"}
    for name, z, seed in (("a", 0.0, 1), ("b", 1.25, 2)):
        write_dicom_series(
            tmp_path / "s" / name, (8, 8, 6), spacing=(1, 1, 2.5), origin=(0, 0, z),
            description="T1", seed=seed, prefix=name, extra=same,
        )  # fmt: skip
    for path in (tmp_path / "s").rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        del ds.SeriesInstanceUID, ds.SeriesNumber
        ds.save_as(path)
    with pytest.warns(RuntimeWarning, match="several series may be stacked as one"):
        vol = lv.open(tmp_path / "s", use_index=False)
    assert vol.shape == (8, 8, 12)  # (what the files allow: the note is the remedy)
    (info,) = lv.scan(tmp_path / "s" / "a", use_index=False)
    assert info.warnings == [
        "SeriesInstanceUID (0020,000E) missing: files grouped by their other attributes"
    ]


@pytest.mark.parametrize("number", [0, 1])
def test_one_series_without_uid_with_a_constant_instance_number_is_not_flagged(tmp_path, number):
    """An anonymised series stating no SeriesInstanceUID whose every file states one
    InstanceNumber (an anonymiser's 0 or 1) is one series: it got the 'several series may be
    stacked as one' warning at open, as if each file began a series of its own."""
    write_dicom_series(tmp_path / "s", (4, 4, 6))
    for path in (tmp_path / "s").glob("*.dcm"):
        ds = pydicom.dcmread(path)
        del ds.SeriesInstanceUID, ds.SeriesNumber
        ds.InstanceNumber = number
        ds.save_as(path)
    (info,) = lv.scan(tmp_path / "s", use_index=False)
    assert info.warnings == [
        "SeriesInstanceUID (0020,000E) missing: files grouped by their other attributes"
    ]


def test_a_folder_of_zarr_stores_not_named_zarr_says_to_open_them_by_path(tmp_path):
    """A Zarr store need not be named ``*.zarr``: a folder holding one (its zarr.json and
    chunks skipped as 'not a DICOM file') got no hint to open the store by its path."""
    from lazyvol.testing import write_phantom_nifti

    nii = write_phantom_nifti(tmp_path / "t1.nii", (6, 6, 4))
    (tmp_path / "data" / "sub-01").mkdir(parents=True)
    lv.open(nii).to_zarr(tmp_path / "data" / "sub-01" / "anat_store")
    os.remove(nii)
    with pytest.raises(lv.FormatError) as exc:
        lv.open(tmp_path / "data", use_index=False)
    store = tmp_path / "data" / "sub-01" / "anat_store"
    assert f"1 Zarr store(s) (e.g. {store})" in str(exc.value)


@pytest.mark.parametrize("name", ["zarr.json", ".zgroup", ".zattrs"])
def test_a_dicom_folder_holding_a_stray_zarr_metadata_file_is_read_as_dicom(tmp_path, name):
    """A DICOM folder whose top level also holds a Zarr metadata file naming no image (a tool's
    leftover zarr.json) is the DICOM series dcm2niix converts; it was taken for a Zarr store and
    refused as 'neither a lazyvol store nor an OME-Zarr image'. A store that names an image
    stays a store (see the next test)."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 4), modality="MR")
    (tmp_path / "s" / name).write_text('{"zarr_format": 3, "node_type": "group"}')
    vol = lv.open(tmp_path / "s", use_index=False)
    assert vol.shape == (8, 6, 4)
    assert (vol.compute() == truth.stored).all()


@pytest.mark.parametrize("beside", ["appledouble", "notes", "nested"])
def test_a_dicom_folder_with_a_stray_zarr_json_and_other_files_first_is_read_as_dicom(
    tmp_path, beside
):
    """The DICOM sniff of a folder holding a stray zarr.json looked at its first 4 files by name
    only: a Mac's ``._IM0001`` AppleDouble companions (one per file, sorting first) or a README
    and a few notes hid the DICOM files, and the folder dcm2niix converts was refused as a Zarr
    store; so was a folder whose series lie in a subfolder. Hidden files are not sniffed now, a
    few more files are, and the folders below are looked in (bounded)."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 4), modality="MR")
    for f in map(pathlib.Path, truth.files):
        if beside == "appledouble":
            (f.parent / f"._{f.name}").write_bytes(b"\x00\x05\x16\x07" + bytes(200))
    if beside == "notes":
        for n in ("0README.txt", "1LICENSE", "2notes.txt", "3a.txt", "4b.txt"):
            (tmp_path / "s" / n).write_text("notes")
    if beside == "nested":  # (the series in a subfolder, as dcm2niix reads it)
        (tmp_path / "s" / "series1").mkdir()
        for f in map(pathlib.Path, truth.files):
            f.rename(tmp_path / "s" / "series1" / f.name)
    (tmp_path / "s" / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}')
    vol = lv.open(tmp_path / "s", use_index=False)
    assert (vol.compute() == truth.stored).all()


def test_a_store_naming_an_image_is_not_searched_for_dicom(tmp_path, monkeypatch):
    """The DICOM search (bounded, into the folders below) is only for metadata naming no image:
    a lazyvol store's chunk files are never sniffed when it is opened."""
    from lazyvol import _zarr_folder

    write_dicom_series(tmp_path / "s", (8, 6, 4), modality="MR")
    lv.open(tmp_path / "s", use_index=False).to_zarr(tmp_path / "store")
    sniffed: list[str] = []
    monkeypatch.setattr(_zarr_folder, "_is_dicom_file", lambda p: bool(sniffed.append(p)))
    assert _zarr_folder.is_zarr_folder(str(tmp_path / "store"))
    assert sniffed == []


def test_a_lazyvol_store_with_a_dicom_file_at_its_top_stays_a_store(tmp_path):
    """The DICOM-beside-Zarr-metadata rule leaves a store whose metadata names an image alone."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 4), modality="MR")
    lv.open(tmp_path / "s", use_index=False).to_zarr(tmp_path / "store")
    shutil.copy(truth.files[0], tmp_path / "store" / "IM0.dcm")
    from lazyvol.formats.registry import pick

    assert pick(tmp_path / "store").name == "zarr"
    assert lv.open(tmp_path / "store").shape == (8, 6, 4)


def test_header_and_references_of_a_dicom_folder_holding_a_stray_zarr_json(tmp_path):
    """``vol.header`` and ``lazyvol.references`` of that DICOM folder: they took it for a Zarr
    store too ('keeps no copy of its source's header'; 'is a Zarr store already')."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 4), modality="MR")
    (tmp_path / "s" / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}')
    vol = lv.open(tmp_path / "s", use_index=False)
    assert vol.header.SOPInstanceUID == pydicom.dcmread(truth.files[0]).SOPInstanceUID
    assert lv.references(tmp_path / "s")["refs"]


def test_repeats_written_with_rounding_noise_without_uid_are_not_flagged_as_merged(tmp_path):
    """A time series of 2 volumes stating no SeriesInstanceUID, each volume numbering its images
    from 1, the second's positions written 6e-4 mm off the first's (30.0006: 30.001 at 3
    decimals): its positions repeat (within the stacking's same-position tolerance, one 4D
    volume), so its InstanceNumbers repeating is no sign of several series. Compared rounded to 3
    decimals, no position repeated and it was flagged 'several series may be stacked as one'."""
    from lazyvol.testing import write_dicom_4d_series

    truth = write_dicom_4d_series(tmp_path / "s", (8, 8, 5), 2, shuffle_names=False)
    for path in truth.files:
        ds = pydicom.dcmread(path)
        del ds.SeriesInstanceUID, ds.SeriesNumber
        n = int(ds.InstanceNumber) - 1
        ds.InstanceNumber = n % 5 + 1
        if n >= 5:
            ds.ImagePositionPatient = [
                *ds.ImagePositionPatient[:2],
                float(ds.ImagePositionPatient[2]) + 6e-4,
            ]
        ds.save_as(path)
    (info,) = lv.scan(tmp_path / "s", use_index=False)
    assert info.shape == (8, 8, 5, 2), info
    assert not any("several series may be stacked" in w for w in info.warnings), info.warnings
