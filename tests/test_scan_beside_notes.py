"""The notes on damaged or unreadable files beside a volume are in the scan report itself: what
``lazyvol.scan``, the ``lazyvol info`` table and its ``--json`` say about a volume is what
``lazyvol.open`` says (an end slice lost to a damaged file leaves no gap: only the note tells)."""

from __future__ import annotations

import json
import os
import warnings

import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

BESIDE = "damaged file(s) beside this volume"
UNREAD = "could not be read and may be the missing slice(s)"


@pytest.fixture
def two(tmp_path):
    """Two series in two folders: a/ lost its first slice to a copy cut inside its header (before
    its SeriesInstanceUID), b/ its 4th slice to an emptied file."""
    a = write_dicom_series(tmp_path / "a", (8, 6, 6), series_number=1)
    b = write_dicom_series(tmp_path / "b", (8, 6, 6), series_number=2, seed=3)
    with open(a.files[0], "r+b") as f:
        f.truncate(200)
    open(b.files[3], "wb").close()
    # the truth: pydicom reads no SeriesInstanceUID from the cut file
    assert "SeriesInstanceUID" not in pydicom.dcmread(a.files[0], force=True)
    return tmp_path, a, b


def test_scan_says_what_open_says(two):
    root, a, b = two
    rep = lv.scan(root, use_index=False)
    (va,) = [i for i in rep if i.number == 1]
    (vb,) = [i for i in rep if i.number == 2]
    assert va.error is None and va.shape == (8, 6, 5)
    assert any(BESIDE in w and a.files[0] in w for w in va.warnings)
    assert vb.error and UNREAD in vb.error and b.files[3] in vb.error
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        vol = lv.open(root, series=1, use_index=False)
    assert vol.meta["warnings"] == va.warnings
    assert sum(BESIDE in str(w.message) for w in seen) == 1  # said once, not once per layer
    with pytest.raises(lv.SeriesError) as err:
        lv.open(root, series=2, use_index=False)
    assert str(err.value) == vb.error
    again = lv.scan(root)  # (a saved report says the same)
    assert [(i.warnings, i.error) for i in again] == [(i.warnings, i.error) for i in lv.scan(root)]
    assert [(i.warnings, i.error) for i in again] == [(i.warnings, i.error) for i in rep]


def test_cli_table_and_json_carry_the_notes(lazyvol_cli, two):
    root, a, _ = two
    res = lazyvol_cli("info", root, "--json")
    assert res.returncode == 0, res.stderr
    rows = {s["number"]: s for s in json.loads(res.stdout)["series"]}
    assert any(BESIDE in w and a.files[0] in w for w in rows[1]["warnings"])
    assert UNREAD in rows[2]["error"]
    table = lazyvol_cli("info", root).stdout
    assert BESIDE in table and UNREAD in table


@pytest.mark.parametrize("at", [0, -1])
def test_an_emptied_end_slice_named_like_the_volume_is_noted(tmp_path, at):
    """A zero-byte file is junk skipped quietly (BAD_INPUTS), but one named like the files of the
    volume beside it is an emptied slice: an end slice leaves no gap, and the volume opened one
    slice short without a word (dcm2niix too: it writes what it can read). An empty file named
    otherwise stays quiet."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 6))
    open(truth.files[at], "wb").close()
    (tmp_path / "s" / "notes.txt").write_bytes(b"")
    (info,) = lv.scan(tmp_path / "s", use_index=False)
    assert info.error is None and info.shape == (8, 6, 5)
    (note,) = [w for w in info.warnings if w.startswith("empty file(s) beside this volume")]
    assert truth.files[at] in note and "notes.txt" not in note
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        lv.open(tmp_path / "s", cache=None)
    assert any(truth.files[at] in str(w.message) for w in seen)


def test_a_4d_series_short_of_one_image_names_the_unread_file(tmp_path):
    """A 4D series (3 volumes of 4 slices) whose one slice file is empty: its refusal (a position
    with fewer images than the others) names the unread file as the missing slice, as a gap's
    refusal does; it named neither the empty file nor the series-incomplete note."""
    from lazyvol.testing import write_dicom_4d_series

    truth = write_dicom_4d_series(tmp_path / "f", (8, 8, 4), 3, shuffle_names=False)
    open(truth.files[5], "wb").close()
    (info,) = lv.scan(tmp_path / "f", use_index=False)
    assert "positions repeat a different number of times" in info.error
    assert UNREAD in info.error and truth.files[5] in info.error


@pytest.mark.parametrize("named", [True, False], ids=["named-like-it", "no-name-matches"])
def test_a_4d_refusal_in_a_flat_folder_names_only_the_unread_files_named_like_it(tmp_path, named):
    """A flat folder: a 4D series IM-0001-NNNNN short of one image (an emptied file) beside
    series IM-0002-NNNNN whose end slice is emptied too. The 4D refusal named both as maybe its
    missing slice; it names its own only (the name matching of the empty-file note), and every
    unread file, as before, where none is named like its files (its emptied file renamed)."""
    from lazyvol.testing import write_dicom_4d_series

    truth = write_dicom_4d_series(tmp_path / "f", (8, 8, 4), 3, shuffle_names=False)
    mine = [str(tmp_path / "f" / f"IM-0001-{n:05d}.dcm") for n in range(1, 13)]
    for f, name in zip(truth.files, mine, strict=True):
        os.rename(f, name)
    if not named:
        os.rename(mine[5], tmp_path / "f" / "lost")
        mine[5] = str(tmp_path / "f" / "lost")
    other = write_dicom_series(
        tmp_path / "f", (8, 6, 4), series_number=2, prefix="IM-0002-", shuffle_names=False
    )
    gone = other.files[-1]  # its end slice: no gap in series 2
    for f in (mine[5], gone):
        open(f, "wb").close()
    (info,) = [i for i in lv.scan(tmp_path / "f", use_index=False) if i.error]
    assert "positions repeat a different number of times" in info.error
    assert UNREAD in info.error and mine[5] in info.error
    assert (gone in info.error) is not named, info.error


def test_an_empty_file_of_another_series_in_a_flat_folder_is_not_noted(tmp_path):
    """A flat folder of two series named alike but for their numbers (IM-0001-NNNNN,
    IM-0002-NNNNN): an emptied file of series 2 (IM-0002-00004, its end slice) is noted on
    series 2 only; series 1 is complete and was noted as maybe missing it."""
    for s in (1, 2):
        write_dicom_series(tmp_path / "f", (8, 6, 4), series_number=s, prefix=f"IM-000{s}-")
    empty = tmp_path / "f" / "IM-0002-00004.dcm"
    empty.write_bytes(b"")
    notes = {
        i.number: [w for w in i.warnings if w.startswith("empty file(s) beside this volume")]
        for i in lv.scan(tmp_path / "f", use_index=False)
    }
    assert notes[1] == []
    assert len(notes[2]) == 1 and str(empty) in notes[2][0]
    # far from the volume's own numbers (another run's file): not noted either
    empty.rename(tmp_path / "f" / "IM-0002-00040.dcm")
    assert not any(
        w.startswith("empty file(s)")
        for i in lv.scan(tmp_path / "f", use_index=False)
        for w in i.warnings
    )


def test_an_emptied_file_beside_a_volume_of_one_file_is_noted(tmp_path):
    """A volume of one file (its files' numbers differ nowhere): an empty file numbered next to
    it is noted; one of another series' numbering is not."""
    write_dicom_series(tmp_path / "o", (8, 6, 1), prefix="IM-0001-")
    (tmp_path / "o" / "IM-0001-00001.dcm").write_bytes(b"")
    (tmp_path / "o" / "IM-0002-00000.dcm").write_bytes(b"")
    (info,) = lv.scan(tmp_path / "o", use_index=False)
    (note,) = [w for w in info.warnings if w.startswith("empty file(s) beside this volume")]
    assert "IM-0001-00001.dcm" in note and "IM-0002" not in note


def test_an_emptied_slice_named_with_a_time_of_day_is_noted(tmp_path):
    """Names holding the series number, the instance number and a time of day stepping by 5 (a
    Siemens-style export): the emptied next slice is noted though its time is past the others'
    by more than one; one numbered for another series is not."""
    truth = write_dicom_series(tmp_path / "t", (8, 6, 4), prefix="X")
    for i, path in enumerate(truth.files, start=1):
        os.rename(path, tmp_path / "t" / f"MR.0005.{i:04d}.{115550 + 5 * i}.dcm")
    (tmp_path / "t" / "MR.0005.0005.115575.dcm").write_bytes(b"")
    (tmp_path / "t" / "MR.0006.0001.115580.dcm").write_bytes(b"")
    (info,) = lv.scan(tmp_path / "t", use_index=False)
    (note,) = [w for w in info.warnings if w.startswith("empty file(s) beside this volume")]
    assert "MR.0005.0005.115575.dcm" in note and "MR.0006" not in note


HIDDEN_NOTE = "hidden file(s) beside this volume"


@pytest.mark.parametrize(
    "hide",
    [".{}.Xa1b2c", ".{}", "._{}"],
    ids=["rsync-temporary", "dot", "appledouble"],
)
def test_a_hidden_end_slice_named_like_the_volume_is_noted(tmp_path, hide):
    """An end slice the folder holds only under a hidden name (rsync's ``.NAME.XXXXXX`` of an
    interrupted copy, a dot-renamed or AppleDouble file) is not read, as dcm2niix; the volume
    opened one slice short without a word (no gap to see). It is noted, as an emptied one is;
    hidden files that are no lost file of it (an AppleDouble copy beside a file the volume has,
    .DS_Store) stay quiet."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 6), shuffle_names=False)
    folder, name = os.path.split(truth.files[-1])
    lost = os.path.join(folder, hide.format(name))
    os.rename(truth.files[-1], lost)
    kept = os.path.split(truth.files[0])[1]
    (tmp_path / "s" / f"._{kept}").write_bytes(b"\0" * 82)
    (tmp_path / "s" / ".DS_Store").write_bytes(b"\0" * 8)
    for use_index in (False, True, True):  # (a fresh scan, the saved report's made and reused)
        (info,) = lv.scan(tmp_path / "s", use_index=use_index)
        assert info.error is None and info.shape == (8, 6, 5)
        (note,) = [w for w in info.warnings if w.startswith(HIDDEN_NOTE)]
        assert lost in note and f"._{kept}" not in note and ".DS_Store" not in note
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        lv.open(tmp_path / "s", cache=None)
    assert any(lost in str(w.message) for w in seen)


def test_a_4d_refusal_names_a_hidden_file_named_like_it(tmp_path):
    """A 4D series short of one image whose file is there only hidden (an interrupted copy's
    temporary name): its refusal names the hidden file as the missing slice."""
    from lazyvol.testing import write_dicom_4d_series

    truth = write_dicom_4d_series(tmp_path / "f", (8, 8, 4), 3, shuffle_names=False)
    folder, name = os.path.split(truth.files[5])
    lost = os.path.join(folder, f".{name}.Ab12Cd")
    os.rename(truth.files[5], lost)
    (info,) = lv.scan(tmp_path / "f", use_index=False)
    assert "positions repeat a different number of times" in info.error
    assert HIDDEN_NOTE in info.error and lost in info.error


@pytest.mark.parametrize("size", [1, 100, 131])
def test_a_slice_cut_inside_its_preamble_is_noted_as_an_emptied_one(tmp_path, size):
    """A slice file cut within its first 132 bytes (the preamble and 'DICM' marker of a Part 10
    file: an interrupted copy) was skipped as "not a DICOM file" like a README, quietly: the volume opened one
    slice short without a word, while the same file emptied to 0 bytes is noted. It is skipped
    as too short, and noted as an empty one is where it is named like the volume's files; a short
    file named otherwise (a checksum list) stays quiet, as junk does."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 6), shuffle_names=False)
    with open(truth.files[-1], "r+b") as f:
        f.truncate(size)
    (tmp_path / "s" / "MD5SUMS").write_bytes(b"0" * 40)
    rep = lv.scan(tmp_path / "s", use_index=False)
    reasons = dict(rep.skipped)
    assert reasons[truth.files[-1]].startswith("not a DICOM file (too short: ")
    (info,) = rep
    assert info.error is None and info.shape == (8, 6, 5)
    (note,) = [w for w in info.warnings if w.startswith("empty file(s) beside this volume")]
    assert truth.files[-1] in note and "MD5SUMS" not in note
    assert not any(w.startswith(BESIDE) for w in info.warnings)


def test_appledouble_files_of_another_series_numbered_on_are_not_noted(tmp_path):
    """A flat folder of two series numbered on across them (IM00000-IM00003, then IM00004-
    IM00007) copied from a Mac, an AppleDouble ``._NAME`` beside every file: none is a lost slice
    of either (each stands for a file the scan found), though the other series' names are
    numbered next to each volume's own."""
    write_dicom_series(tmp_path / "f", (8, 6, 4), series_number=1, shuffle_names=False)
    second = write_dicom_series(tmp_path / "t", (8, 6, 4), series_number=2, seed=3)
    for i, f in enumerate(sorted(second.files), start=4):
        os.rename(f, tmp_path / "f" / f"IM{i:05d}.dcm")
    for f in os.listdir(tmp_path / "f"):
        (tmp_path / "f" / f"._{f}").write_bytes(b"\0" * 82)
    rep = lv.scan(tmp_path / "f", use_index=False)
    assert sorted(i.shape for i in rep) == [(8, 6, 4)] * 2
    assert not any(w.startswith(HIDDEN_NOTE) for i in rep for w in i.warnings)


@pytest.mark.parametrize("size", [1, 27, 100])
def test_a_short_file_named_otherwise_is_no_missing_slice_of_a_gap(tmp_path, size):
    """A series with a slice missing beside a README and a checksum list of under 132 bytes:
    skipped as junk (too short for a Part 10 file, bf3a7a9), they were named in the gap refusal
    as files that 'could not be read and may be the missing slice(s); make them readable first',
    and in the allow_gaps=True warning as what the filled slice may be. Named unlike the
    volume's files, no such file is a lost slice of it (an emptied slice keeps its name)."""
    truth = write_dicom_series(tmp_path / "s", (6, 5, 8), spacing=(0.8, 0.7, 2.5))
    os.remove(truth.files[3])
    for name in ("README", "checksums.md5"):
        with open(tmp_path / "s" / name, "wb") as f:
            f.write(b"x" * size)
    with pytest.raises(lv.SeriesError, match=r"1 slice\(s\) missing") as exc:
        lv.open(tmp_path / "s")
    assert "README" not in str(exc.value) and UNREAD not in str(exc.value)
    vol = lv.open(tmp_path / "s", allow_gaps=True)
    assert vol.meta["filled_slices"] == [3]
    assert not any("README" in w or "checksums" in w for w in vol.meta["warnings"])
    # an emptied slice named like the volume's files is still named as the missing one
    open(truth.files[3], "wb").close()
    with pytest.raises(lv.SeriesError) as exc:
        lv.open(tmp_path / "s")
    assert UNREAD in str(exc.value) and truth.files[3] in str(exc.value)
    assert "README" not in str(exc.value)


def test_the_notes_on_a_flat_folder_of_many_series_are_linear(tmp_path):
    """A flat folder of 1,500 two-file series (S0000_00000.dcm ...), each beside the hidden rsync
    temporary of its third file: each volume matched every hidden file of the folder against its
    own names (1,500 x 1,500 name matches, about 15 s; 400 series of 50 files beside 400 such
    files added 1.7 s to lazyvol.scan). The candidates are indexed once per folder: each volume
    looks up those named like its files. Each series is noted with its own hidden file only."""
    import time
    from dataclasses import replace

    from lazyvol.dicom.beside import with_beside_notes
    from lazyvol.dicom.listing import HIDDEN
    from lazyvol.dicom.model import ScanReport

    write_dicom_series(tmp_path / "f", (4, 4, 2), prefix="S0000_")
    (info,) = lv.scan(tmp_path / "f", use_index=False)
    folder, n = str(tmp_path / "f"), 1500
    infos = [
        replace(info, files=[f"{folder}/S{s:04d}_{k:05d}.dcm" for k in range(2)]) for s in range(n)
    ]
    hidden = [f"{folder}/.S{s:04d}_00002.dcm.Xa1b2c" for s in range(n)]
    report = ScanReport(infos, [(p, HIDDEN) for p in hidden])
    start = time.perf_counter()
    noted = with_beside_notes(report)
    took = time.perf_counter() - start
    for i, p in zip(noted, hidden, strict=True):
        (note,) = [w for w in i.warnings if HIDDEN_NOTE in w]
        assert f"1 file(s): {p};" in note
    assert took < 3.0, took


LINK_NOTE = "symbolic link(s) beside this volume"


@pytest.mark.parametrize("where", ["end", "middle"])
@pytest.mark.parametrize("dangling", [False, True], ids=["link", "dangling-link"])
def test_a_slice_file_that_is_a_symbolic_link_is_noted(tmp_path, where, dangling):
    """A slice file that is a symbolic link is not followed by default (BAD_INPUTS), and one
    that leads to no file (a git-annex / DataLad dataset partly fetched) cannot be read: an end
    slice so opened one slice short without a word (dcm2niix reads the link: all slices), and a
    middle one's gap refusal did not name it. Both are noted as the hidden and emptied ones
    are, naming the file and the fix; a link named otherwise stays quiet."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 6), shuffle_names=False)
    lost = truth.files[-1] if where == "end" else truth.files[2]
    (tmp_path / "annex").mkdir()
    target = tmp_path / "annex" / "key"
    os.rename(lost, target)
    if dangling:
        target.unlink()
    os.symlink(target, lost)
    os.symlink(target, tmp_path / "s" / "README")
    own = os.path.split(truth.files[1])
    os.symlink(own[1], os.path.join(own[0], "IM00006.dcm"))  # (a second name of its own slice)
    (info,) = lv.scan(tmp_path / "s")
    if where == "end":
        assert info.error is None and info.shape == (8, 6, 5)
        (note,) = [w for w in info.warnings if w.startswith(LINK_NOTE)]
    else:
        assert info.error is not None and LINK_NOTE in info.error
        note = info.error[info.error.index(LINK_NOTE) :]
    assert lost in note and "README" not in note and "IM00006" not in note
    assert (f"{lost} (leads to no file)" in note) is dangling and "follow_symlinks=True" in note
    if where == "end":
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            lv.open(tmp_path / "s", cache=None)
        assert any(lost in str(w.message) for w in seen)
    if not dangling:
        assert lv.scan(tmp_path / "s", follow_symlinks=True)[0].shape == (8, 6, 6)


def test_a_source_that_is_a_link_to_no_file_is_named_so(tmp_path):
    """lv.open of a NIfTI file that is a symbolic link leading to no file (a git-annex /
    DataLad file not fetched) said 'no such file or directory' of a name the folder lists."""
    os.symlink(tmp_path / "annex" / "key", tmp_path / "x.nii.gz")
    with pytest.raises(lv.SourceNotFoundError, match=r"symbolic link to .*leads to no file"):
        lv.open(tmp_path / "x.nii.gz")


def test_links_beyond_the_next_series_numbered_on_are_not_noted_on_this_one(tmp_path):
    """A flat folder numbered on across 200 ten-file series (IM000000-09, IM000010-19, ...), every
    other series links leading to no file (a DataLad dataset partly fetched, series by series):
    a candidate counted as 'next to' a volume's range by as many numbers as the folder has
    candidates (1,000), so each fetched series was noted with 1,000 to 1,500 links of series far
    from it as its maybe-lost slices, and each volume looked at every link (volumes x links). A
    volume's range now carries on only over the run of candidates next to its ends: each series
    is noted with the links of the series either side of it (its lost end slices may be there),
    no others."""
    from dataclasses import replace

    from lazyvol.dicom.beside import with_beside_notes
    from lazyvol.dicom.listing import DANGLING
    from lazyvol.dicom.model import ScanReport

    write_dicom_series(tmp_path / "f", (4, 4, 2), prefix="IM")
    (info,) = lv.scan(tmp_path / "f", use_index=False)
    folder, n, k = str(tmp_path / "f"), 200, 10

    def names(s: int) -> list[str]:
        return [f"{folder}/IM{s * k + i:06d}.dcm" for i in range(k)]

    infos = [replace(info, files=names(s)) for s in range(0, n, 2)]
    links = [p for s in range(1, n, 2) for p in names(s)]
    noted = with_beside_notes(ScanReport(infos, [(p, DANGLING) for p in links]))
    for s, vol in zip(range(0, n, 2), noted, strict=True):
        (note,) = [w for w in vol.warnings if LINK_NOTE in w]
        near = names(s + 1) + (names(s - 1) if s else [])
        assert f": {len(near)} file(s): {min(near)} (leads to no file);" in note, (s, note[:300])


@pytest.mark.parametrize("dangling", [False, True], ids=["link", "dangling-link"])
def test_a_link_is_told_from_a_second_name_without_a_stat_of_every_slice(
    tmp_path, monkeypatch, dangling
):
    """Whether a link named like a volume's files is a second name of one of them was asked by a
    stat of every file of the volume (100,000 on a network share for one link beside them).
    Where it leads is now compared with the files' paths: as many file-system calls for a volume
    of 40 slices as of 8; a second name is still quiet and a lost slice still noted."""
    import os as _os

    from lazyvol.dicom import beside

    counts = {}
    for nk in (8, 40):
        folder = tmp_path / f"s{nk}"
        truth = write_dicom_series(folder, (4, 4, nk))
        elsewhere = tmp_path / f"elsewhere{nk}"
        elsewhere.mkdir()
        target = elsewhere / "x.dcm" if dangling else elsewhere / "IM.dcm"
        if not dangling:
            target.write_bytes(b"x")
        _os.symlink(target, folder / f"IM{nk:05d}.dcm")  # (a lost end slice)
        _os.symlink(truth.files[1], folder / f"IM{nk + 1:05d}.dcm")  # (a second name)
        (info,) = lv.scan(folder, use_index=False)
        calls = 0
        real_stat, real_lstat = _os.stat, _os.lstat

        def counted_stat(*a, _f=real_stat, **k):
            nonlocal calls
            calls += 1
            return _f(*a, **k)

        def counted_lstat(*a, _f=real_lstat, **k):
            nonlocal calls
            calls += 1
            return _f(*a, **k)

        with monkeypatch.context() as m:
            m.setattr(_os, "stat", counted_stat)
            m.setattr(_os, "lstat", counted_lstat)
            links = beside._not_its_own(
                info, [str(folder / f"IM{nk:05d}.dcm"), str(folder / f"IM{nk + 1:05d}.dcm")]
            )
        assert links == [str(folder / f"IM{nk:05d}.dcm")]
        counts[nk] = calls
    assert counts[8] == counts[40], counts


FOREIGN = "unreadable file(s) beside this volume"


@pytest.mark.parametrize("damage", ["marker", "overwritten"])
def test_an_end_slice_that_is_no_longer_dicom_is_noted(tmp_path, damage):
    # A slice whose 'DICM' marker was damaged, or whose bytes were overwritten, is "not a DICOM
    # file" (junk, skipped quietly as a README is): the top slice lost so, the volume opened one
    # slice short with no word, as an emptied slice did before its note. Named like the
    # volume's files, it is noted now; junk named otherwise is still skipped quietly. (h197)
    truth = write_dicom_series(tmp_path / "s", (8, 6, 6))
    last = truth.files[-1]
    raw = bytearray(open(last, "rb").read())
    if damage == "marker":
        raw[128:132] = b"DXCM"
    else:
        raw[:] = bytes((37 * i + 11) % 251 for i in range(len(raw)))
    open(last, "wb").write(bytes(raw))
    with pytest.raises(pydicom.errors.InvalidDicomError):  # the truth: pydicom refuses it too
        pydicom.dcmread(last)
    (tmp_path / "s" / "README.txt").write_text("scanned 2024, slices IM00000-IM00005\n")
    (tmp_path / "s" / "thumb0001.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(300))
    rep = lv.scan(tmp_path / "s", use_index=False)
    (info,) = list(rep)
    assert info.shape == (8, 6, 5)
    (note,) = [w for w in info.warnings if w.startswith(FOREIGN)]
    assert last in note and "README" not in note and "thumb" not in note
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        lv.open(tmp_path / "s", use_index=False)
    assert sum(FOREIGN in str(w.message) and last in str(w.message) for w in seen) == 1


def test_a_middle_slice_that_is_no_longer_dicom_is_named_in_the_gap_error(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 6))
    victim = truth.files[2]
    raw = bytearray(open(victim, "rb").read())
    raw[128:132] = b"\0\0\0\0"
    open(victim, "wb").write(bytes(raw))
    with pytest.raises(lv.SeriesError) as err:
        lv.open(tmp_path / "s", use_index=False)
    assert UNREAD in str(err.value) and victim in str(err.value)


def _damage(path, how):
    raw = bytearray(open(path, "rb").read())
    if how == "group-length":  # (0002,0000) UL with a length of 65535: pydicom cannot parse it
        assert raw[132:138] == b"\x02\x00\x00\x00UL"
        raw[138:140] = b"\xff\xff"
    elif how == "meta-length":  # (0002,0001) OB of undefined length in a big-endian file
        at = raw.find(b"\x02\x00\x01\x00OB\x00\x00")
        raw[at + 8 : at + 12] = b"\xff\xff\xff\xff"
    elif how == "deflated":  # an implicit VR file whose file meta says Deflated
        import struct

        ts = b"1.2.840.10008.1.2\x00"
        at = raw.find(ts)
        new = b"1.2.840.10008.1.2.1.99"
        assert raw[at - 8 : at - 4] == b"\x02\x00\x10\x00"
        raw[at - 2 : at] = struct.pack("<H", len(new))
        raw[at : at + len(ts)] = new
        (group,) = struct.unpack_from("<I", raw, 140)
        struct.pack_into("<I", raw, 140, group + len(new) - len(ts))
    elif how == "syntax":  # a big-endian data set whose file meta says JPEG 2000 (little endian)
        ts = b"1.2.840.10008.1.2.2\x00"
        at = raw.find(ts)
        raw[at : at + len(ts)] = b"1.2.840.10008.1.2.4.90"[: len(ts)]
    open(path, "wb").write(bytes(raw))


@pytest.mark.parametrize(
    ("how", "syntax"),
    [
        ("group-length", "explicit"),
        ("meta-length", "big"),
        ("syntax", "big"),
        ("deflated", "implicit"),
    ],
)
def test_an_end_slice_whose_header_is_damaged_flags_its_series(tmp_path, how, syntax):
    # A slice whose file meta is damaged (pydicom cannot read the file) was skipped as
    # "unreadable DICOM header": not a file of the series (its SeriesInstanceUID was never read)
    # nor a damaged file beside it, so a volume missing its top slice to it opened one slice
    # short without a word. Its SeriesInstanceUID is found in its raw bytes now: the series is
    # flagged incomplete, naming the file. (h197)
    truth = write_dicom_series(tmp_path / "s", (8, 6, 6), syntax=syntax)
    last = truth.files[-1]
    _damage(last, how)
    with pytest.raises(Exception):  # noqa: B017 (the truth: pydicom cannot read it either)
        _ = pydicom.dcmread(last).pixel_array
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        vol = lv.open(tmp_path / "s", use_index=False)
    assert vol.shape == (8, 6, 5)
    said = [str(w.message) for w in seen if last in str(w.message)]
    assert said and "series incomplete" in said[0]


def test_a_damaged_header_naming_no_series_is_a_damaged_file_beside(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 6))
    last = truth.files[-1]
    _damage(last, "group-length")
    raw = bytearray(open(last, "rb").read())
    at = raw.find(b"\x20\x00\x0e\x00UI")
    raw[at + 6 : at + 8] = b"\xff\x00"  # its SeriesInstanceUID's length no longer fits a UID
    open(last, "wb").write(bytes(raw))
    info = next(iter(lv.scan(tmp_path / "s", use_index=False)))
    assert info.shape == (8, 6, 5)
    assert any(w.startswith(BESIDE) and last in w for w in info.warnings)
