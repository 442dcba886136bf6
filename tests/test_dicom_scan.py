"""Folder scans: header-only reads, skipped files, splitting, the persisted index."""

from __future__ import annotations

import importlib
import os
import shutil
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")
scan_mod = importlib.import_module("lazyvol.dicom.scan_index")
header_scan_mod = importlib.import_module("lazyvol.dicom.header_scan")

SHAPE = (32, 48, 16)


def _rchar() -> int:
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise RuntimeError("no rchar")


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs /proc/self/io")
def test_scan_and_open_read_a_small_fraction_of_the_bytes(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (256, 256, 12), dtype="int16")
    total = sum(os.path.getsize(f) for f in truth.files)
    # A first open in a process imports lazyvol's DICOM modules, whose files /proc/self/io counts
    # too (~19 MB against this series' 1.6 MB): open another series first, so that only the
    # opening of this one is measured, run alone or after other tests.
    warm = write_dicom_series(tmp_path / "warm", (8, 6, 2), dtype="int16")
    np.testing.assert_array_equal(lv.open(tmp_path / "warm", workers=1).compute(), warm.stored)
    before = _rchar()
    vol = lv.open(tmp_path / "s", workers=1)
    opened = _rchar() - before
    assert opened < 0.1 * total, (opened, total)
    before = _rchar()
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert _rchar() - before >= 256 * 256 * 2 * 12  # the metric does see pixel reads


def test_pixel_offsets_match_pydicom(tmp_path):
    read_header = importlib.import_module("lazyvol.dicom.header").read_header
    for syntax in ("explicit", "implicit", "big"):
        truth = write_dicom_series(tmp_path / syntax, (8, 6, 2), syntax=syntax)
        for f in truth.files:
            rec = read_header(f)
            ds = pydicom.dcmread(f, defer_size=1)
            elem = ds["PixelData"]
            with open(f, "rb") as fh:
                fh.seek(rec.pixel_offset)
                assert fh.read(rec.pixel_length) == ds.PixelData
            assert rec.pixel_length == len(ds.PixelData) == 96
            assert elem.VR == rec.pixel_vr


def test_skips_non_dicom_dicomdir_and_non_images(tmp_path):
    write_dicom_series(tmp_path / "s", SHAPE)
    (tmp_path / "README").write_text("hello")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + b"\x00" * 100)
    (tmp_path / "empty").write_bytes(b"")
    shutil.copy(get_testdata_file("test-SR.dcm"), tmp_path / "sr.dcm")
    shutil.copy(get_testdata_file("rtstruct.dcm"), tmp_path / "rt.dcm")
    dicomdir = get_testdata_file("DICOMDIR", read=False) if False else None
    src_dir = os.path.join(os.path.dirname(get_testdata_file("CT_small.dcm")), "dicomdirtests")
    shutil.copy(os.path.join(src_dir, "DICOMDIR"), tmp_path / "DICOMDIR")
    del dicomdir
    report = lv.scan(tmp_path)
    assert len(report) == 1
    assert report[0].shape == SHAPE
    reasons = dict((os.path.basename(p), r) for p, r in report.skipped)
    assert "not a DICOM" in reasons["README"]
    assert "hidden" in reasons[".DS_Store"]  # (never read, as dcm2niix)
    assert reasons["empty"] == "empty file"
    assert "SR" in reasons["sr.dcm"] and "no Pixel Data" in reasons["sr.dcm"]
    assert "RT Structure Set" in reasons["rt.dcm"]
    assert "DICOMDIR" in reasons["DICOMDIR"]
    vol = lv.open(tmp_path)
    assert vol.shape == SHAPE
    # opened directly, a DICOMDIR's refusal says to open its folder (it said only "no DICOM
    # image volume found")
    with pytest.raises(lv.LazyvolError, match="open the folder that holds it"):
        lv.open(tmp_path / "DICOMDIR")


def test_two_series_raise_multiple_and_select(tmp_path):
    a = write_dicom_series(tmp_path / "a", SHAPE, series_number=3, description="first", seed=1)
    b = write_dicom_series(
        tmp_path / "b", (16, 16, 8), series_number=4, description="second", seed=2
    )
    with pytest.raises(lv.MultipleSeriesError) as exc:
        lv.open(tmp_path)
    msg = str(exc.value)
    for text in (a.series_uid, b.series_uid, "first", "second", "(32, 48, 16)", "(16, 16, 8)"):
        assert text in msg
    assert len(exc.value.series) == 2
    report = lv.scan(tmp_path)
    assert [i.number for i in report] == [3, 4]
    np.testing.assert_array_equal(lv.open(tmp_path, series="#1", scale=False).compute(), b.stored)
    np.testing.assert_array_equal(lv.open(tmp_path, series=a.series_uid).compute(), a.stored)
    np.testing.assert_array_equal(lv.open(tmp_path, series=report[1].id).compute(), b.stored)
    with pytest.raises(lv.SeriesError):
        lv.open(tmp_path, series="1.2.3.4")


def test_series_without_a_number_is_listed_as_none_not_python_none(tmp_path):
    """A series that states no SeriesNumber shows ``(none)`` in the choice list and the
    summary, not Python's ``None``."""
    a = write_dicom_series(tmp_path / "a", (8, 8, 3), series_number=3, seed=1)
    write_dicom_series(tmp_path / "b", (8, 8, 3), series_number=4, seed=2, prefix="B")
    for f in a.files:
        ds = pydicom.dcmread(f)
        del ds.SeriesNumber
        ds.save_as(f)
    with pytest.raises(lv.MultipleSeriesError) as exc:
        lv.open(tmp_path)
    msg = str(exc.value)
    assert "number=(none)" in msg and "number=4" in msg and "None" not in msg, msg
    report = lv.scan(tmp_path)
    (nameless,) = [i for i in report if i.number is None]
    assert "#(none)" in nameless.summary() and "None" not in nameless.summary()


def test_mixed_sizes_and_orientations_split_with_reasons(tmp_path):
    uid = "1.2.826.0.1.3680043.8.498.1"
    write_dicom_series(tmp_path / "a", SHAPE, series_uid=uid, prefix="A")
    write_dicom_series(tmp_path / "b", (16, 16, 4), series_uid=uid, prefix="B")
    write_dicom_series(tmp_path / "c", SHAPE, series_uid=uid, orientation="sagittal", prefix="C")
    report = lv.scan(tmp_path)
    assert len(report) == 3
    assert all(i.uid == uid for i in report)
    assert all(any("Rows/Columns" in r for r in i.reasons) for i in report)
    assert all(any("ImageOrientationPatient" in r for r in i.reasons) for i in report)
    with pytest.raises(lv.MultipleSeriesError, match="split into 3 volumes"):
        lv.open(tmp_path, series=uid)
    shapes = sorted(i.shape for i in report)
    assert shapes == [(16, 16, 4), SHAPE, SHAPE]


def test_localizers_not_stacked(tmp_path):
    uid = "1.2.826.0.1.3680043.8.498.2"
    write_dicom_series(tmp_path / "a", SHAPE, series_uid=uid, prefix="A")
    write_dicom_series(
        tmp_path / "loc",
        (32, 48, 2),
        series_uid=uid,
        prefix="L",
        image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
    )
    report = lv.scan(tmp_path)
    assert sorted(i.shape for i in report) == [(32, 48, 1), (32, 48, 1), SHAPE]
    assert len(lv.scan(tmp_path, stack_localizers=True)) == 2


def test_localizers_set_apart_say_why_and_the_option(tmp_path):
    """A series of parallel localizer images (a scout's three slices) opened as three one-slice
    volumes whose reasons were only 'this group: 32x48, localizer, orientation [..], 1 file',
    the same for each: nothing said they were set apart for being localizers, nor that
    stack_localizers=True stacks them (lv.open's choice among them neither)."""
    write_dicom_series(
        tmp_path / "loc", (32, 48, 3), image_type=("ORIGINAL", "PRIMARY", "LOCALIZER")
    )
    report = lv.scan(tmp_path)
    assert [i.shape for i in report] == [(32, 48, 1)] * 3
    for info in report:
        assert any("LOCALIZER" in r and "stack_localizers=True" in r for r in info.reasons)
    with pytest.raises(lv.MultipleSeriesError, match="stack_localizers=True"):
        lv.open(tmp_path)
    assert lv.open(tmp_path, stack_localizers=True).shape == (32, 48, 3)


def test_an_archive_in_the_folder_is_skipped_saying_to_extract_it(tmp_path):
    """A study exported as a ZIP (or 7z, RAR) beside the folders was skipped
    as "not a DICOM file (no 'DICM' marker and no plausible dataset start)", the reason a README
    gets: nothing said it was an archive holding what the user came for, nor to extract it."""
    import bz2
    import zipfile

    truth = write_dicom_series(tmp_path / "src", (8, 8, 3))
    with zipfile.ZipFile(tmp_path / "study.zip", "w") as zf:
        for f in truth.files:
            zf.write(f, os.path.basename(f))
    (tmp_path / "study.7z").write_bytes(b"7z\xbc\xaf\x27\x1c" + bytes(200))
    (tmp_path / "notes.txt").write_text("not an archive")
    (tmp_path / "head.nii.bz2").write_bytes(bz2.compress(b"\x5c\x01" + bytes(400)))
    report = lv.scan(tmp_path)
    reasons = {os.path.basename(p): r for p, r in report.skipped}
    assert "ZIP archive" in reasons["study.zip"] and "extract it" in reasons["study.zip"]
    assert "7z archive" in reasons["study.7z"]
    assert "archive" not in reasons["notes.txt"]
    assert "archive" not in reasons["head.nii.bz2"]  # (a compressed NIfTI, not an archive)
    assert [i.shape for i in report] == [(8, 8, 3)]
    assert lv.scan(tmp_path).skipped == report.skipped  # the saved index says the same


def test_index_reused_and_changed_file_rescanned(tmp_path, monkeypatch):
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    first = lv.scan(tmp_path)
    calls = []
    orig = header_scan_mod.read_header
    monkeypatch.setattr(
        header_scan_mod, "read_header", lambda p, **kw: calls.append(p) or orig(p, **kw)
    )
    again = lv.scan(tmp_path)
    assert calls == []
    assert [i.to_json() for i in again] == [i.to_json() for i in first]
    # Change one file (new content, new mtime): only it is parsed again.
    ds = pydicom.dcmread(truth.files[3])
    ds.RescaleIntercept = 7
    ds.save_as(truth.files[3])
    os.utime(truth.files[3], ns=(1, 1))
    report = lv.scan(tmp_path)
    assert calls == [truth.files[3]]
    assert report[0].meta["rescale"] == "per slice"
    got = lv.open(tmp_path).compute()
    assert got.dtype == np.int32  # int16 + 7 no longer fits int16
    np.testing.assert_array_equal(got[:, :, 3], truth.stored[:, :, 3].astype(np.int32) + 7)


def test_torn_scan_caches_are_rejected_and_rebuilt(tmp_path, monkeypatch):
    """The scan index and report are written without fsync (caches): a file a power loss left
    empty or cut anywhere must read as absent, and the scan must parse the headers again."""
    write_dicom_series(tmp_path / "s", SHAPE)
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    first = [i.to_json() for i in lv.scan(tmp_path)]
    assert synced == []  # neither cache file (nor its directory) was fsynced
    index = scan_mod.index_path(str(tmp_path))
    report = index.with_suffix(".report.json")
    whole = {p: p.read_bytes() for p in (index, report)}
    calls = []
    orig = header_scan_mod.read_header
    monkeypatch.setattr(
        header_scan_mod, "read_header", lambda p, **kw: calls.append(p) or orig(p, **kw)
    )
    for path, data in whole.items():
        for cut in (0, 1, len(data) // 3, len(data) - 1):
            for p, d in whole.items():
                p.write_bytes(d)
            path.write_bytes(data[:cut])
            calls.clear()
            assert [i.to_json() for i in lv.scan(tmp_path)] == first
            # One torn file: the other (the report for this listing, or the per-file index)
            # spares the parsing.
            assert calls == []
            # A torn report: the index still spares the parsing; both torn: everything parsed.
            report.write_bytes(b"")
            index.write_bytes(b"{")
            calls.clear()
            assert [i.to_json() for i in lv.scan(tmp_path)] == first
            assert len(calls) == SHAPE[2]


def test_unwritable_cache_warns_and_continues(tmp_path, monkeypatch):
    write_dicom_series(tmp_path / "s", SHAPE)
    blocker = tmp_path / "cachefile"
    blocker.write_text("not a directory")
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(blocker))
    with pytest.warns(RuntimeWarning, match="scan index"):
        report = lv.scan(tmp_path / "s")
    assert len(report) == 1


def test_process_pool_scan_matches_serial(tmp_path):
    write_dicom_series(tmp_path / "s", (8, 8, 130))
    serial = scan_mod.scan_files(str(tmp_path), workers=1, use_index=False)
    parallel = scan_mod.scan_files(str(tmp_path), workers=2, use_index=False)
    assert [r.to_list() for r in serial.records] == [r.to_list() for r in parallel.records]
    assert len(serial.records) == 130


def test_progress_bar(tmp_path, capsys):
    write_dicom_series(tmp_path / "s", (8, 8, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lv.scan(tmp_path, progress=True)
    assert "lazyvol scan" in capsys.readouterr().err


def test_order_independent_of_names_and_instance_numbers(tmp_path):
    a = write_dicom_series(tmp_path / "a", SHAPE, seed=4)
    b = write_dicom_series(
        tmp_path / "b", SHAPE, seed=4, shuffle_names=True, reverse_instance_numbers=True
    )
    va, vb = lv.open(tmp_path / "a"), lv.open(tmp_path / "b")
    np.testing.assert_array_equal(va.compute(), vb.compute())
    np.testing.assert_allclose(va.affine, vb.affine)
    np.testing.assert_array_equal(va.compute(), a.stored)
    del b


def test_fast_header_path_equals_dcmread_path(tmp_path, monkeypatch):
    header = importlib.import_module("lazyvol.dicom.header")
    files = []
    for syntax in ("explicit", "implicit", "big"):
        files += write_dicom_series(tmp_path / syntax, (8, 6, 2), syntax=syntax).files
    for name in ("CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "rtplan.dcm", "test-SR.dcm"):
        files.append(get_testdata_file(name))
    fast = [header.read_header(f) for f in files]
    monkeypatch.setattr(header, "_fast_parse", lambda fp: None)
    slow = [header.read_header(f) for f in files]
    assert fast == slow
    assert sum(isinstance(r, header.HeaderSkip) for r in fast) == 2


def test_symlinks_not_followed_by_default_and_loops_detected(tmp_path):
    truth = write_dicom_series(tmp_path / "data" / "s", (8, 8, 4))
    (tmp_path / "data" / "loop").symlink_to(tmp_path / "data", target_is_directory=True)
    (tmp_path / "data" / "link.dcm").symlink_to(truth.files[0])
    report = lv.scan(tmp_path / "data")
    assert report[0].shape == (8, 8, 4)
    reasons = dict(report.skipped)
    assert "symbolic link" in reasons[str(tmp_path / "data" / "loop")]
    followed = lv.scan(tmp_path / "data", follow_symlinks=True)
    assert any("loop" in r for _, r in followed.skipped)
    # the linked file repeats a SOPInstanceUID with the same pixels: dropped with a warning
    assert followed[0].shape == (8, 8, 4)
    assert any("duplicate" in w for w in followed[0].warnings)


def test_saved_report_follows_the_listing_skips_and_follow_symlinks(tmp_path):
    """Links that add no file (a loop, a dangling link) leave the same files either way: the saved
    report must still be the one made with the same follow_symlinks (it said "pass
    follow_symlinks=True" after they were followed), and a dangling link or a FIFO is a skipped
    entry with its reason, not silently dropped."""
    data = tmp_path / "data"
    write_dicom_series(data / "s", (8, 8, 4))
    (data / "loop").symlink_to(data, target_is_directory=True)
    (data / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(data / "pipe")

    def skips(**kw):
        return {os.path.basename(p): why for p, why in lv.scan(data, **kw).skipped}

    for _ in range(2):  # the first scan, then the saved report, each way
        plain = skips()
        assert plain["loop"] == "symbolic link (pass follow_symlinks=True)"
        assert plain["dangling"].startswith("dangling symbolic link")  # following cannot help
        assert plain["pipe"].startswith("not a regular file")
        followed = skips(follow_symlinks=True)
        assert followed["loop"] == "directory loop (already visited)"
        assert followed["dangling"].startswith("dangling symbolic link")
        assert followed["pipe"].startswith("not a regular file")


def _open_in_worker(folder: str) -> tuple[np.ndarray, list[str]]:
    """A multiprocessing.Pool job (daemonic process): open with a parallel header scan."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        data = lv.open(folder, workers=2, use_index=False).compute()
    return data, [str(w.message) for w in seen]


def _pydicom_stack(folder) -> np.ndarray:
    """The folder stacked with pydicom along the slice position: (i, j, k) as lazyvol."""
    dss = [pydicom.dcmread(p) for p in sorted(folder.glob("*.dcm"))]
    dss.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    return np.stack([d.pixel_array.T for d in dss], axis=-1)


def test_parallel_scan_in_daemonic_pool_worker(tmp_path, monkeypatch):
    """A Pool worker may not start children: the header scan runs in the worker itself (it was
    an untyped AssertionError, 'daemonic processes are not allowed to have children')."""
    import multiprocessing as mp

    from lazyvol.dicom import header_scan

    monkeypatch.setattr(header_scan, "BATCH", 4)  # several batches from a few files (forked)
    write_dicom_series(tmp_path / "s", (6, 5, 12))
    with mp.get_context("fork").Pool(1) as pool:
        data, messages = pool.apply(_open_in_worker, (str(tmp_path / "s"),))
    np.testing.assert_array_equal(data, _pydicom_stack(tmp_path / "s"))
    assert messages == []  # parsed in-process from the start, not after a failure


def test_parallel_scan_refused_children_falls_back(tmp_path, monkeypatch):
    """A pool that cannot start its processes (multiprocessing's AssertionError) is a warning and
    an in-process scan, as a broken pool is."""
    import concurrent.futures.process as cfp

    from lazyvol.dicom import header_scan

    class Refused(cfp.ProcessPoolExecutor):
        def map(self, *args, **kwargs):
            raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.setattr(cfp, "ProcessPoolExecutor", Refused)
    monkeypatch.setattr(header_scan, "BATCH", 4)
    write_dicom_series(tmp_path / "s", (6, 5, 12))
    with pytest.warns(RuntimeWarning, match="continuing in-process"):
        vol = lv.open(tmp_path / "s", workers=2, use_index=False)
    np.testing.assert_array_equal(vol.compute(), _pydicom_stack(tmp_path / "s"))


def test_hidden_files_and_folders_are_not_read(tmp_path):
    """A file or folder whose name starts with "." is skipped with a reason, as dcm2niix skips it:
    a hidden slice of the series (an editor's backup, a ".snapshot" or ".Trash" copy) was stacked
    beside the visible ones, and a repeated position then refused a series dcm2niix converts."""
    write_dicom_series(tmp_path / "s", shape=(8, 8, 4), seed=1)
    names = sorted(os.listdir(tmp_path / "s"))
    (tmp_path / "s" / ".trash").mkdir()
    shutil.copy(tmp_path / "s" / names[0], tmp_path / "s" / ".trash" / "old.dcm")
    shutil.move(tmp_path / "s" / names[-1], tmp_path / "s" / ".hidden.dcm")
    report = lv.scan(tmp_path / "s", use_index=False)
    assert [i.shape for i in report] == [(8, 8, 3)]
    skipped = dict(report.skipped)
    for hidden in (".trash", ".hidden.dcm"):
        assert "hidden" in skipped[str(tmp_path / "s" / hidden)]
    assert lv.open(tmp_path / "s", cache=None).shape == (8, 8, 3)


def test_hidden_objects_under_a_prefix_are_not_read(tmp_path):
    """The same rule under a remote prefix: a key with a part starting with "." is skipped."""
    fsspec = pytest.importorskip("fsspec")
    write_dicom_series(tmp_path / "s", shape=(8, 8, 4), seed=2)
    names = sorted(os.listdir(tmp_path / "s"))
    fs = fsspec.filesystem("memory")
    root = f"/h144-{os.getpid()}/s"
    for name in names:
        fs.pipe(f"{root}/{name}", (tmp_path / "s" / name).read_bytes())
    fs.pipe(f"{root}/.old/{names[0]}", (tmp_path / "s" / names[0]).read_bytes())
    try:
        report = lv.scan(f"memory:/{root}/", use_index=False)
    finally:
        fs.rm(root, recursive=True)
    assert [i.shape for i in report] == [(8, 8, 4)]
    assert [why for _, why in report.skipped if "hidden" in why]
