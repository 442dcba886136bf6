"""The saved scan report of an unchanged folder: compact, exact, and distrusted when damaged."""

from __future__ import annotations

import importlib
import json
import os
import shutil

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

import lazyvol as lv
from lazyvol.dicom.listing import find_files
from lazyvol.dicom.saved_scan import (
    index_path,
    listing_digest,
    load_report,
    read_json_checked,
    save_report,
    write_json_atomic,
)
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")
header_scan_mod = importlib.import_module("lazyvol.dicom.header_scan")


def _folder(tmp_path):
    """Two series, one of them with a missing middle slice (filled in with allow_gaps)."""
    a = write_dicom_series(tmp_path / "a", (12, 10, 6), dtype="int16", series_number=1)
    b = write_dicom_series(tmp_path / "b", (8, 9, 7), dtype="uint16", series_number=2)
    os.remove(b.files[3])
    (tmp_path / "notes.txt").write_text("not DICOM")  # skipped
    # valid DICOM of a kind lazyvol does not read (not an image stack): unsupported
    shutil.copy(get_testdata_file("rtdose.dcm"), tmp_path / "rtdose.dcm")
    return a, b


def _parses(monkeypatch):
    calls: list[str] = []
    orig = header_scan_mod.read_header
    monkeypatch.setattr(
        header_scan_mod, "read_header", lambda p, **kw: calls.append(p) or orig(p, **kw)
    )
    return calls


def _report_doc(root) -> dict:
    return read_json_checked(index_path(str(root)).with_suffix(".report.json"))


def test_reopen_from_the_report_equals_a_fresh_scan(tmp_path, monkeypatch):
    _a, b = _folder(tmp_path)
    kw = {"allow_gaps": True, "fill": 0}
    first = lv.scan(tmp_path, **kw)
    fresh = [i.to_json() for i in lv.scan(tmp_path, use_index=False, **kw)]
    calls = _parses(monkeypatch)
    again = lv.scan(tmp_path, **kw)
    assert calls == []  # read from the report
    assert [i.to_json() for i in again] == fresh == [i.to_json() for i in first]
    assert again.skipped == first.skipped and again.unsupported == first.unsupported
    assert {os.path.basename(p) for p, _ in again.skipped} == {"notes.txt", "rtdose.dcm"}
    assert {os.path.basename(p) for p in again.unsupported} == {"rtdose.dcm"}
    # Every field of the frame tables, the file identities the reads check included.
    for x, y in zip(again, first, strict=True):
        assert x.frames == y.frames and x.files == y.files
        assert all(isinstance(p, str) for p in x.frames.paths)
    # Compact: listed files are listing positions, the identities are the listing's.
    doc = _report_doc(tmp_path)
    text = json.dumps(doc)
    assert str(tmp_path) not in text
    assert all(isinstance(p, int) for p, _ in doc["skipped"])
    assert all(isinstance(p, int) for p in doc["unsupported"])
    for s in doc["series"]:
        assert all(isinstance(x, int) for x in s["files"])
        assert s["frames"]["idents"] == "listing"
    gap = next(s for s in doc["series"] if len(s["files"]) == 6 and s["shape"][2] == 7)
    assert "" in gap["frames"]["paths"]  # the filled-in slice has no file
    # A column of one value is written once; the gap's offset (-1) keeps its column whole.
    full = next(s for s in doc["series"] if s is not gap)
    assert full["frames"]["offsets"] == {"same": full["frames"]["offsets"]["same"], "n": 6}
    assert isinstance(gap["frames"]["offsets"], list) and -1 in gap["frames"]["offsets"]
    # The volumes open from the report and hold the files' values (pydicom's reading).
    got = lv.open(tmp_path, series=2, **kw).compute()
    ref = {
        int(pydicom.dcmread(f).InstanceNumber): pydicom.dcmread(f).pixel_array
        for f in b.files
        if os.path.exists(f)
    }
    assert len(ref) == 6
    for k in range(7):
        if k == 3:
            assert not got[:, :, k].any()
        else:
            inst = int(pydicom.dcmread(again[1].frames.paths[k]).InstanceNumber)
            np.testing.assert_array_equal(got[:, :, k], ref[inst].T)


def test_a_file_changed_while_it_was_scanned_keeps_its_own_identity(tmp_path):
    write_dicom_series(tmp_path / "s", (6, 5, 4))
    report = lv.scan(tmp_path, use_index=False)
    listing = find_files(str(tmp_path))[0]
    # The listing saw file 0 with another mtime than its header read did.
    changed = [(listing[0][0], listing[0][1], listing[0][2] + 1, *listing[0][3:]), *listing[1:]]
    digest = listing_digest(changed)
    save_report(str(tmp_path), digest, report, changed)
    idents = _report_doc(tmp_path)["series"][0]["frames"]["idents"]
    assert isinstance(idents, list) and len(idents) == 4
    back = load_report(str(tmp_path), digest, changed)
    assert back is not None
    assert back[0].frames.idents == report[0].frames.idents
    assert back[0].frames.idents[0][1] == listing[0][2]  # the header read's, not the listing's


@pytest.mark.parametrize("bad", [-1, 10**9, 1.5, True, None, ["x"]])
def test_a_damaged_position_in_the_report_means_a_rescan(tmp_path, monkeypatch, bad):
    write_dicom_series(tmp_path / "s", (6, 5, 4))
    first = [i.to_json() for i in lv.scan(tmp_path)]
    path = index_path(str(tmp_path)).with_suffix(".report.json")
    doc = read_json_checked(path)
    doc["series"][0]["files"][1] = bad
    write_json_atomic(path, doc)
    calls = _parses(monkeypatch)
    index = index_path(str(tmp_path))
    index.unlink()  # no per-file index either: a rescan parses every header
    assert [i.to_json() for i in lv.scan(tmp_path)] == first
    assert len(calls) == 4


def test_listing_digest_tells_every_change_apart(tmp_path):
    base = [("/d/a.dcm", 10, 20, 30, 40, ""), ("/d/b.dcm", 11, 21, 31, 41, "")]
    token = listing_digest(base)
    assert token == listing_digest([tuple(f) for f in base])
    others = [listing_digest(base[::-1]), listing_digest(base[:1]), listing_digest([])]
    for n in range(2):
        for field in range(6):
            f = list(base[n])
            f[field] = f[field] + ("x" if isinstance(f[field], str) else 1)
            others.append(listing_digest([tuple(f) if i == n else base[i] for i in range(2)]))
    others.append(listing_digest(base, allow_gaps=True))
    # A path moved into the other's place, or a name boundary shifted, is a different listing.
    others.append(
        listing_digest([("/d/a.dcm/d", 10, 20, 30, 40, ""), ("/b.dcm", 11, 21, 31, 41, "")])
    )
    assert token not in others and len(set(others)) == len(others)


@pytest.mark.parametrize(
    "column",
    [
        {"same": 1010, "n": 3},
        {"same": 1010, "n": True},
        {"same": 1, "n": 4, "x": 0},
        {},
        [1010] * 3,
    ],
)
def test_a_damaged_column_in_the_report_means_a_rescan(tmp_path, monkeypatch, column):
    write_dicom_series(tmp_path / "s", (6, 5, 4))
    first = [i.to_json() for i in lv.scan(tmp_path)]
    path = index_path(str(tmp_path)).with_suffix(".report.json")
    doc = read_json_checked(path)
    assert doc["series"][0]["frames"]["offsets"]["n"] == 4  # written once: one pixel offset
    doc["series"][0]["frames"]["offsets"] = column
    write_json_atomic(path, doc)
    index_path(str(tmp_path)).unlink()
    calls = _parses(monkeypatch)
    assert [i.to_json() for i in lv.scan(tmp_path)] == first
    assert len(calls) == 4


@pytest.mark.parametrize("which", [".report.json", ".json"])
def test_a_bit_flipped_in_a_saved_scan_file_means_a_warned_rescan(tmp_path, which):
    """One bit flipped on disk in the saved report (an origin 12.5 -> 13.5, a pixel offset 1006 ->
    1004) or in the per-file index was read as valid: wrong geometry or pixels shifted by a voxel.
    The files carry the SHA-256 of their JSON: a damaged one is scanned again, with a warning."""
    root = tmp_path / "s"
    truth = write_dicom_series(root, (6, 5, 4))
    lv.scan(root)
    path = index_path(str(root)).with_suffix(which)
    raw = bytearray(path.read_bytes())
    at = raw.index(b"[", raw.index(b"\n")) + 1  # inside the JSON, past the checksum line
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))
    if which == ".json":  # another listing: the report is not used, the per-file index is
        (root / "README.txt").write_text("not an image")
    with pytest.warns(RuntimeWarning, match="does not match its checksum"):
        vol = lv.open(root)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)


@pytest.mark.parametrize("entry", [None, {"frames": "x"}, [1, 2]], ids=["none", "frames", "short"])
def test_a_checksum_valid_index_entry_that_does_not_decode_rescans(tmp_path, entry):
    """A saved index entry that passes its checksum but is malformed (edited and re-hashed, or
    written by another build of this index version) raised a bare TypeError from open and scan
    (a traceback from the CLI). The folder is scanned again, with a warning, and opens right."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 4))
    lv.open(tmp_path / "s")
    path = index_path(str(tmp_path / "s"))
    doc = read_json_checked(path)
    name = sorted(doc["entries"])[1]
    doc["entries"][name] = [*doc["entries"][name][:5], entry]
    write_json_atomic(path, doc)
    path.with_suffix(".report.json").unlink()
    with pytest.warns(RuntimeWarning, match="holds a malformed entry"):
        vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert read_json_checked(path)["entries"][name][5] != entry  # a fresh index was saved


def test_scans_compare_equal_through_the_saved_index(tmp_path):
    """Two scans of one folder (the second from the saved index) compared with == raised numpy's
    'truth value of an array is ambiguous' ValueError (the generated SeriesInfo.__eq__ compared
    the affine arrays inside a tuple); now equal, and a changed affine is unequal."""
    write_dicom_series(tmp_path / "a", (6, 5, 4), series_number=2)
    write_dicom_series(tmp_path / "b", (6, 5, 3), series_number=3, orientation="sagittal")
    first, second = lv.scan(tmp_path), lv.scan(tmp_path)
    assert first == second and first[0] == second[0] and first[0] != second[1]
    assert second.index(second[1]) == 1 and first[1] in second
    moved = lv.SeriesInfo(**{**vars(second[0]), "affine": second[0].affine + 1})
    assert moved != first[0] and first[0] != "not a SeriesInfo"
