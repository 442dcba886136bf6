"""The ``lazyvol`` command, run as a real subprocess (``python -m lazyvol`` and the console script)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from lazyvol.cli import _sources
from lazyvol.cli import main as cli_main
from lazyvol.testing import write_phantom_nifti

SRC = str(Path(__file__).resolve().parents[1] / "src")
Q = (1, 5, 25, 50, 75, 95, 99)
# The installed console script next to this interpreter (PYTHONPATH makes it run this source tree).
SCRIPT = shutil.which("lazyvol", path=os.path.dirname(sys.executable)) or ""


@pytest.fixture
def env(tmp_path):
    e = dict(os.environ)
    e["PYTHONPATH"] = SRC + os.pathsep + e.get("PYTHONPATH", "")
    e["LAZYVOL_CACHE_DIR"] = str(tmp_path / "cache")
    return e


def run(env, *args, script=None):
    # the real console script when it is installed (as users run it), else ``python -m lazyvol``
    script = bool(SCRIPT) and os.path.exists(SCRIPT) if script is None else script
    cmd = [SCRIPT] if script else [sys.executable, "-m", "lazyvol"]
    return subprocess.run(
        [*cmd, *map(str, args)], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    path = write_phantom_nifti(d / "p.nii.gz", (40, 36, 24), dtype="int16")
    return Path(path), np.asarray(nib.load(path).dataobj)


@pytest.mark.parametrize(
    ("space", "time"), [("micron", "msec"), ("mm", "sec"), ("meter", "unknown")]
)
def test_info_states_the_units_of_the_voxel_size(env, tmp_path, space, time):
    """The voxel size in the file's own units (a 1500 msec step was printed as a bare 1500)."""
    img = nib.Nifti1Image(np.zeros((4, 5, 6, 3), np.int16), np.diag([0.9, 1.1, 2.5, 1.0]))
    img.header.set_zooms((0.9, 1.1, 2.5, 1500.0))
    img.header.set_xyzt_units(space, time)
    path = tmp_path / "u.nii"
    nib.save(img, path)
    units = nib.load(path).header.get_xyzt_units()
    r = run(env, "info", path, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    want_time = None if units[1] == "unknown" else units[1]
    assert d["voxel_units"] == [units[0]] * 3 + [want_time]
    r = run(env, "info", path)
    line = next(x for x in r.stdout.splitlines() if x.startswith("voxel size"))
    tail = f"1500 {units[1]}" if want_time else "1500 (unit not stated)"
    assert line.endswith(f"0.9 x 1.1 x 2.5 {units[0]}, {tail}"), line


def test_info_nifti(env, phantom):
    path, x = phantom
    r = run(env, "info", path, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    img = nib.load(path)
    assert d["shape"] == list(x.shape) and d["dtype"] == "int16"
    np.testing.assert_allclose(d["affine"], img.affine)
    assert d["voxel_size"] == [float(z) for z in img.header.get_zooms()]
    assert d["orientation"] == "".join(nib.aff2axcodes(img.affine))
    assert d["size_on_disk"] == path.stat().st_size
    assert d["size_in_memory"] == x.nbytes
    r = run(env, "info", path)
    assert r.returncode == 0 and "orientation" in r.stdout and "RAS" in r.stdout


def test_stats_json_matches_numpy(env, phantom):
    path, x = phantom
    r = run(env, "stats", path, "--json", "--bins", "32")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["count"] == x.size and d["sum"] == int(x.astype(np.int64).sum())
    assert d["min"] == int(x.min()) and d["max"] == int(x.max())
    assert d["mean"] == pytest.approx(x.mean(dtype=np.float64), rel=1e-14)
    assert d["histogram"]["counts"] == np.histogram(x, 32)[0].tolist()
    assert d["percentiles"]["values"] == np.percentile(x, Q).tolist()


def test_stats_mask_and_text_output(env, phantom, tmp_path):
    path, x = phantom
    m = (x > 600).astype(np.uint8)
    mpath = tmp_path / "m.nii"
    nib.save(nib.Nifti1Image(m, nib.load(path).affine), mpath)
    r = run(env, "stats", path, "--mask", mpath, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["count"] == int(m.sum()) and d["sum"] == int(x[m > 0].astype(np.int64).sum())
    r = run(env, "stats", path, "--quiet")
    assert r.returncode == 0 and f"count     {x.size}" in r.stdout
    assert r.stderr == ""  # no progress bar when stderr is not a terminal


def test_stats_per_volume_processes(env, tmp_path):
    path = write_phantom_nifti(tmp_path / "f.nii", (16, 16, 8, 3), dtype="float32")
    x = np.asarray(nib.load(path).dataobj)
    r = run(env, "stats", path, "--per-volume", "--json", "--scheduler", "processes")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    np.testing.assert_allclose(d["mean"], x.astype(np.float64).mean(axis=(0, 1, 2)), rtol=1e-13)
    assert d["count"] == [16 * 16 * 8] * 3


def test_errors_one_line_exit_2(env, tmp_path, phantom):
    r = run(env, "stats", tmp_path / "missing.nii")
    assert r.returncode == 2
    assert r.stderr.startswith("lazyvol: error: ") and "missing.nii" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run(env, "stats", tmp_path / "missing.nii", "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr and "SourceNotFoundError" in r.stderr
    bad = tmp_path / "bad.nii"
    bad.write_bytes(b"\0" * 100)
    r = run(env, "info", bad)
    assert r.returncode == 2 and "bad.nii" in r.stderr and "Traceback" not in r.stderr
    path, _ = phantom
    other = tmp_path / "other.nii"
    nib.save(nib.Nifti1Image(np.ones((5, 5, 5), np.uint8), np.eye(4)), other)
    r = run(env, "stats", path, "--mask", other)
    assert r.returncode == 2 and "(40, 36, 24)" in r.stderr and "(5, 5, 5)" in r.stderr
    r = run(env, "convert", path, tmp_path / "out.tiff")
    assert r.returncode == 2 and ".zarr, .nii or .nii.gz" in r.stderr


def test_help_has_examples(env, capsys):
    for sub in ("", "stats"):  # the real command ...
        r = run(env, *([sub] if sub else []), "--help")
        assert r.returncode == 0 and "examples:" in r.stdout and "lazyvol " in r.stdout
    from lazyvol.cli import main

    for sub in ("info", "convert", "cache"):  # ... and the same parser in-process (faster)
        with pytest.raises(SystemExit) as ei:
            main([sub, "--help"])
        out = capsys.readouterr().out
        assert ei.value.code == 0 and "examples:" in out and f"lazyvol {sub}" in out
    with pytest.raises(SystemExit) as ei:
        main([])
    assert ei.value.code == 2 and "usage" in capsys.readouterr().err


def test_scheduler_unreachable(env, phantom):
    path, _ = phantom
    env["DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT"] = "1s"
    r = run(env, "stats", path, "--scheduler", "tcp://127.0.0.1:9")
    assert r.returncode == 2 and "--scheduler tcp://127.0.0.1:9" in r.stderr


@pytest.mark.skipif(not os.path.exists(SCRIPT), reason="console script not installed")
def test_console_script(env, phantom):
    path, x = phantom
    r = run(env, "stats", path, "--json", script=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sum"] == int(x.astype(np.int64).sum())


def test_convert_nifti(env, phantom, tmp_path):
    pytest.importorskip("lazyvol.nifti_write")
    path, x = phantom
    out = tmp_path / "o.nii"
    r = run(env, "convert", path, out)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.asarray(nib.load(out).dataobj), x)
    r = run(env, "convert", path, out)
    assert r.returncode == 2  # exists, no --overwrite
    assert run(env, "convert", path, out, "--overwrite").returncode == 0


def test_convert_zarr(env, phantom, tmp_path):
    pytest.importorskip("lazyvol.zarr_io")
    import lazyvol as lv

    path, x = phantom
    out = tmp_path / "o.zarr"
    r = run(env, "convert", path, out)
    assert r.returncode == 0, r.stderr
    back = lv.open(out)
    np.testing.assert_array_equal(back.compute(), x)
    np.testing.assert_allclose(back.affine, nib.load(path).affine)


def test_cache_list_clear(env, phantom, tmp_path):
    pytest.importorskip("lazyvol.cache")
    path, _ = phantom
    r = run(env, "cache", "list", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == []
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"import lazyvol as lv; lv.open({str(path)!r}, cache=True).compute()",
        ],
        env=env,
        check=True,
        timeout=120,
    )
    r = run(env, "cache", "list", "--json", "--kind", "zarr")
    entries = json.loads(r.stdout)
    assert len(entries) == 1 and entries[0]["size_bytes"] > 0 and entries[0]["kind"] == "zarr"
    r = run(env, "cache", "clear", "--older-than", "1")
    assert r.returncode == 0 and "removed 0" in r.stdout
    r = run(env, "cache", "clear", "--kind", "zarr")
    assert r.returncode == 0 and "removed 1" in r.stdout
    assert json.loads(run(env, "cache", "list", "--json", "--kind", "zarr").stdout) == []


def test_cache_dir_may_be_a_folder_given_to_open(env, phantom, tmp_path):
    """``lazyvol.open(path, cache=DIR)`` keeps its copies in DIR itself, while ``--cache-dir``
    named the top of the cache (copies in DIR/zarr): the copies were neither listed nor cleared
    ("the cache is empty", "removed 0")."""
    import lazyvol as lv

    path, x = phantom
    mine = tmp_path / "mine"
    np.testing.assert_array_equal(lv.open(path, cache=mine).compute(), x)
    rows = json.loads(run(env, "cache", "list", "--json", "--cache-dir", mine).stdout)
    assert [r["kind"] for r in rows] == ["zarr"] and rows[0]["source"] == str(path)
    r = run(env, "cache", "clear", "--kind", "zarr", "--cache-dir", mine)
    assert r.returncode == 0 and "removed 1" in r.stdout
    assert lv.cache.list_entries(mine) == []


def test_cache_list_shows_scan_and_seek_indexes(env, tmp_path):
    pytest.importorskip("lazyvol.cache")
    from lazyvol.testing import write_dicom_series

    cache = Path(env["LAZYVOL_CACHE_DIR"])
    write_dicom_series(tmp_path / "dcm", (8, 8, 4))
    assert run(env, "info", tmp_path / "dcm").returncode == 0  # writes a scan index
    # a seek index, as the gzip reader saves it (its file, not its content, is what is listed)
    (cache / "gzindex").mkdir(parents=True, exist_ok=True)
    (cache / "gzindex" / "0123abcd.gzidx").write_bytes(b"x" * 1000)
    rows = json.loads(run(env, "cache", "list", "--json").stdout)
    kinds = {r["kind"] for r in rows}
    assert kinds == {"scan", "seek"}, rows
    scan_rows = [r for r in rows if r["kind"] == "scan"]
    assert all(r["size_bytes"] == os.path.getsize(r["path"]) for r in rows)
    assert any(r["source"] == str(tmp_path / "dcm") for r in scan_rows)
    text = run(env, "cache", "list").stdout
    assert "seek" in text and "scan" in text and "empty" not in text
    r = run(env, "cache", "clear", "--kind", "seek", "--json")
    assert json.loads(r.stdout)["by_kind"] == {"seek": 1}
    assert not (cache / "gzindex" / "0123abcd.gzidx").exists()
    assert all(os.path.exists(r["path"]) for r in scan_rows)
    r = run(env, "cache", "clear", "--kind", "scan", "--json")
    assert json.loads(r.stdout)["by_kind"] == {"scan": len(scan_rows)}
    assert json.loads(run(env, "cache", "list", "--json").stdout) == []


def test_info_dicom_folder(env, tmp_path):
    from lazyvol.testing import write_dicom_series

    folder = tmp_path / "dcm"
    truth = write_dicom_series(folder / "a", (16, 12, 6), spacing=(0.5, 0.6, 2.0))
    write_dicom_series(
        folder / "b", (8, 8, 4), series_number=7, description="second", seed=3, prefix="B"
    )
    (folder / "README.txt").write_text("not dicom")
    (folder / "notes.txt").write_text("not dicom either")
    r = run(env, "info", folder, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert len(d["series"]) == 2 and any("README.txt" in s[0] for s in d["skipped"])
    assert sum(d["skipped_by_reason"].values()) == 2
    a = next(s for s in d["series"] if s["number"] == 1)
    assert a["shape"] == [16, 12, 6] and a["status"] == "ok" and a["folder"] == "a"
    np.testing.assert_allclose(a["voxel_size"], [0.5, 0.6, 2.0])
    assert a["orientation"] == "".join(nib.aff2axcodes(truth.affine))
    assert a["size_on_disk"] == sum(os.path.getsize(f) for f in truth.files)
    text = run(env, "info", folder)
    assert text.returncode == 0
    assert "README.txt" not in text.stdout and "2  not a DICOM file" in text.stdout
    assert "README.txt" in run(env, "info", folder, "--verbose").stdout
    # a folder with one volume shows its details, not a table
    r = run(env, "info", folder / "a")
    assert r.returncode == 0 and "affine" in r.stdout and "lazyvol synthetic" in r.stdout
    # size on disk is the series', not the folder's
    r = run(env, "info", folder, "--series", "second", "--json")
    d = json.loads(r.stdout)
    assert d["shape"] == [8, 8, 4] and d["series"]["number"] == 7
    assert d["size_on_disk"] == sum(os.path.getsize(p) for p in (folder / "b").iterdir())


def test_info_refused_series_has_null_geometry(env, tmp_path):
    from lazyvol.testing import write_dicom_series

    truth = write_dicom_series(tmp_path / "a", (8, 8, 5))
    write_dicom_series(tmp_path / "b", (8, 8, 4), series_number=2, seed=1, prefix="B")
    os.remove(truth.files[2])  # a gap: the series cannot be stacked
    d = json.loads(run(env, "info", tmp_path, "--json").stdout)
    bad = next(s for s in d["series"] if s["number"] == 1)
    assert bad["status"].startswith("refused: ") and bad["error"]
    assert bad["affine"] is None and bad["shape"] is None and bad["voxel_size"] is None
    good = next(s for s in d["series"] if s["number"] == 2)
    assert good["status"] == "ok" and good["affine"] is not None


def test_empty_folder_exits_non_zero(env, tmp_path):
    (tmp_path / "empty").mkdir()
    r = run(env, "info", tmp_path / "empty")
    assert r.returncode == 2 and "no files" in r.stderr
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "a.txt").write_text("hello")
    r = run(env, "info", tmp_path / "txt")
    assert r.returncode == 2 and "not a DICOM file" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def _two_series(folder):
    from lazyvol.testing import write_dicom_series

    a = write_dicom_series(folder / "a", (8, 8, 4), series_number=201, description="T1 sag")
    b = write_dicom_series(
        folder / "b", (6, 6, 3), series_number=5, description="DWI b1000", seed=2, prefix="B"
    )
    c = write_dicom_series(
        folder / "c", (6, 6, 2), series_number=5, description="DWI ADC", seed=3, prefix="C"
    )
    return a, b, c


def test_series_selection_python(tmp_path):
    import lazyvol as lv

    a, b, c = _two_series(tmp_path)
    report = lv.scan(tmp_path)
    np.testing.assert_array_equal(lv.open(tmp_path, series=201).compute(), a.stored)
    np.testing.assert_array_equal(lv.open(tmp_path, series="201").compute(), a.stored)
    np.testing.assert_array_equal(lv.open(tmp_path, series="T1 sag").compute(), a.stored)
    np.testing.assert_array_equal(lv.open(tmp_path, series="adc").compute(), c.stored)
    np.testing.assert_array_equal(lv.open(tmp_path, series=b.series_uid).compute(), b.stored)
    others = (a.series_uid, c.series_uid)
    n = next(n for n in range(1, 80) if not any(u.startswith(b.series_uid[:n]) for u in others))
    prefix = b.series_uid[:n]
    np.testing.assert_array_equal(lv.open(tmp_path, series=prefix).compute(), b.stored)
    row = [i.uid for i in report].index(c.series_uid)
    np.testing.assert_array_equal(lv.open(tmp_path, series=f"#{row}").compute(), c.stored)
    with pytest.raises(lv.MultipleSeriesError) as exc:
        lv.open(tmp_path, series=5)  # two volumes have SeriesNumber 5
    assert "DWI b1000" in str(exc.value) and "DWI ADC" in str(exc.value)
    assert len(exc.value.series) == 2
    with pytest.raises(lv.MultipleSeriesError):
        lv.open(tmp_path, series="DWI")  # a part of two descriptions
    with pytest.raises(lv.SeriesError) as exc:
        lv.open(tmp_path, series=1)  # a row index is not a SeriesNumber
    assert "'#1'" in str(exc.value) and "T1 sag" in str(exc.value)
    with pytest.raises(lv.SeriesError):
        lv.open(tmp_path, series="#3")


def test_series_selection_cli(env, tmp_path):
    a, _, c = _two_series(tmp_path)
    r = run(env, "info", tmp_path, "--series", "201", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["shape"] == list(a.stored.shape)
    r = run(env, "info", tmp_path, "--series", "DWI ADC", "--json")
    assert json.loads(r.stdout)["shape"] == list(c.stored.shape)
    r = run(env, "info", tmp_path, "--series", "5")
    assert r.returncode == 2 and "DWI b1000" in r.stderr and "DWI ADC" in r.stderr
    out = tmp_path / "o.nii"
    r = run(env, "convert", tmp_path, out, "--series", "2")
    assert r.returncode == 2 and not out.exists() and "'#2'" in r.stderr
    r = run(env, "convert", tmp_path, out, "--series", "#0")
    assert r.returncode == 0, r.stderr
    r = run(env, "convert", tmp_path, out, "--series", "#0")
    assert r.returncode == 2 and "--overwrite" in r.stderr and "overwrite=True" not in r.stderr


def test_options_that_do_not_apply_are_errors(env, phantom, tmp_path):
    path, _ = phantom
    for cmd in (("info", path), ("stats", path), ("convert", path, tmp_path / "o.zarr")):
        r = run(env, *cmd, "--series", "3")
        assert r.returncode == 2 and "--series" in r.stderr and "NIfTI" in r.stderr
    r = run(env, "stats", path, "--per-volume")
    assert r.returncode == 2 and "3D" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--bins", "0"),
        ("--bins", "-5"),
        ("--bins", "x"),
        ("--range", "5", "1"),
        ("--range", "nan", "1"),
        ("--range", "0", "inf"),
        ("--range", "-inf", "0"),
        ("--bins", "1000000000000"),
        ("--percentiles", "5,101"),
        ("--percentiles", "nan"),
    ],
)
def test_cli_numbers_out_of_range(env, phantom, args):
    path, _ = phantom
    r = run(env, "stats", path, *args)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert args[0] in r.stderr


@pytest.mark.parametrize(
    "address",
    ["tcp://999.999.1.1:0", "tcp://127.0.0.1:9", "tcp://host.invalid:8786", "foo://x:1"],
)
def test_scheduler_unreachable_is_one_line(env, phantom, address):
    path, _ = phantom
    r = run(env, "stats", path, "--scheduler", address, "--connect-timeout", "3")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"lazyvol: error: --scheduler {address}: ")
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_negative_numbers_in_exponent_form(env, phantom):
    path, x = phantom
    r = run(env, "stats", path, "--range", "-1e3", "1e3", "--bins", "4", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["histogram"]["counts"] == np.histogram(x, 4, range=(-1000, 1000))[0].tolist()


def test_equal_range_ends_as_numpy(env, phantom):
    # numpy (and lv.stats) widen an empty range by 0.5 each side; the CLI refused it
    path, x = phantom
    lo = float(np.median(x))
    r = run(env, "stats", path, "--range", f"{lo!r}", f"{lo!r}", "--bins", "4", "--json")
    assert r.returncode == 0, r.stderr
    counts, edges = np.histogram(x, 4, range=(lo, lo))
    d = json.loads(r.stdout)
    assert d["histogram"]["counts"] == counts.tolist()
    assert np.allclose(d["histogram"]["bin_edges"], edges)


def test_stats_rgb_per_channel(env, tmp_path):
    rgb = np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")])
    rng = np.random.default_rng(0)
    x = np.zeros((6, 5, 4), rgb)
    for name in "RGB":
        x[name] = rng.integers(0, 256, x.shape)
    path = tmp_path / "rgb.nii"
    nib.save(nib.Nifti1Image(x, np.eye(4)), path)
    r = run(env, "stats", path, "--json", "--bins", "16")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    for name in "RGB":
        ch, ref = d["channels"][name], x[name]
        assert ch["sum"] == int(ref.astype(np.int64).sum()) and ch["max"] == int(ref.max())
        assert ch["histogram"]["counts"] == np.histogram(ref, 16)[0].tolist()
        assert ch["percentiles"]["values"] == np.percentile(ref, Q).tolist()
    r = run(env, "stats", path)
    assert r.returncode == 0 and "== channel G" in r.stdout


def test_stats_vector_data_per_volume(env, tmp_path):
    # a vector image (4th axis = components) gives one result per component with --per-volume
    x = np.random.default_rng(1).normal(size=(5, 4, 3, 3)).astype("float32")
    path = tmp_path / "vec.nii"
    nib.save(nib.Nifti1Image(x, np.eye(4)), path)
    d = json.loads(run(env, "stats", path, "--per-volume", "--json").stdout)
    np.testing.assert_allclose(d["mean"], x.astype(np.float64).mean(axis=(0, 1, 2)), rtol=1e-6)


def test_seriesinfo_repr_is_one_line(tmp_path):
    import lazyvol as lv
    from lazyvol.testing import write_dicom_series

    truth = write_dicom_series(tmp_path / "s", (8, 8, 40))
    info = lv.scan(tmp_path / "s")[0]
    text = repr(info)
    assert "\n" not in text and len(text) < 300
    assert truth.series_uid in text and "files=40" in text and truth.files[0] not in text


# -- remote sources: --storage-option / --storage-options ---------------------------------------------

SECRET = "s3cr3t-value-never-printed-7f2a"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("anon=true", ("anon", True)),
        ("default_block_size=1048576", ("default_block_size", 1048576)),
        ("profile=lab", ("profile", "lab")),
        ("key=AKIA=with=equals", ("key", "AKIA=with=equals")),  # split at the first '='
        (
            'client_kwargs={"endpoint_url": "http://h:9000"}',
            ("client_kwargs", {"endpoint_url": "http://h:9000"}),
        ),
        ("token=", ("token", "")),
        ("version_aware=null", ("version_aware", None)),
        ("x=[1, 2]", ("x", [1, 2])),
        ("requester_pays=True", ("requester_pays", "True")),  # not JSON: kept as the string
    ],
)
def test_storage_option_values(text, expected):
    assert _sources.parse_storage_option(text) == expected


@pytest.mark.parametrize("text", ["anon", "=true", " =x", "a..b=1", f"{SECRET}"])
def test_storage_option_errors_do_not_repeat_the_value(text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError) as caught:
        _sources.parse_storage_option(text)
    assert SECRET not in str(caught.value)


def test_storage_options_merge_file_and_flags(tmp_path):
    from lazyvol.cli import build_parser

    f = tmp_path / "opts.json"
    f.write_text(json.dumps({"key": "K", "client_kwargs": {"region_name": "eu", "verify": False}}))
    args = build_parser().parse_args(
        [
            "info",
            "s3://b/x.nii",
            "--storage-options",
            str(f),
            "--storage-option",
            "client_kwargs.endpoint_url=http://127.0.0.1:9000",
            "--storage-option",
            "key=K2",
            "--storage-option",
            "anon=false",
        ]
    )
    assert _sources.storage_options(args) == {
        "key": "K2",
        "anon": False,
        "client_kwargs": {
            "region_name": "eu",
            "verify": False,
            "endpoint_url": "http://127.0.0.1:9000",
        },
    }
    assert _sources.source_kwargs(args, "s3://b/x.nii")["storage_options"]["key"] == "K2"
    none = build_parser().parse_args(["info", "s3://b/x.nii"])
    assert _sources.storage_options(none) is None and _sources.source_kwargs(none, "x") == {}


@pytest.mark.parametrize("command", ["info", "stats", "convert", "references"])
def test_every_source_command_takes_storage_options(command):
    from lazyvol.cli import build_parser

    extra = {"convert": ["out.zarr"], "references": ["-o", "r.json"]}.get(command, [])
    args = build_parser().parse_args(
        [command, "s3://b/x.nii", *extra, "--storage-option", "anon=true"]
    )
    assert _sources.storage_options(args) == {"anon": True}


def test_storage_options_refused_for_a_local_path(env, phantom):
    path, _ = phantom
    r = run(env, "info", path, "--storage-option", f"secret={SECRET}")
    assert r.returncode == 2 and "local path" in r.stderr and "--storage-option" in r.stderr
    assert SECRET not in r.stdout + r.stderr


def test_storage_options_file_errors(env, tmp_path, phantom):
    bad = tmp_path / "bad.json"
    bad.write_text('{"secret": "' + SECRET + '", oops}')
    r = run(env, "info", "s3://b/x.nii", "--storage-options", bad)
    assert r.returncode == 2 and "bad.json" in r.stderr and "not valid JSON" in r.stderr
    assert SECRET not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    (tmp_path / "list.json").write_text("[1, 2]")
    r = run(env, "info", "s3://b/x.nii", "--storage-options", tmp_path / "list.json")
    assert r.returncode == 2 and "expected a JSON object" in r.stderr
    r = run(env, "info", "s3://b/x.nii", "--storage-options", tmp_path / "none.json")
    assert r.returncode == 2 and "cannot read it" in r.stderr


def test_storage_options_file_with_a_byte_order_mark_is_read(tmp_path):
    """A JSON file written with a UTF-8 byte order mark (Windows PowerShell's
    ``Out-File -Encoding utf8``) is the object it holds, as json.loads reads its bytes; it was
    refused as "not valid JSON (line 1 column 1)" (h198)."""
    from lazyvol.cli import build_parser

    f = tmp_path / "opts.json"
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps({"anon": True, "key": "K"}).encode())
    assert json.loads(f.read_bytes()) == {"anon": True, "key": "K"}  # (the reference)
    args = build_parser().parse_args(["info", "s3://b/x.nii", "--storage-options", str(f)])
    assert _sources.storage_options(args) == {"anon": True, "key": "K"}


def test_storage_options_file_nested_too_deeply_or_endless(env, tmp_path):
    """A file nested deeper than json's parser recurses, or one that never ends (/dev/zero), is a
    one-line refusal naming the file, not a RecursionError traceback or unbounded reading."""
    deep = tmp_path / "deep.json"
    deep.write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    r = run(env, "info", "s3://b/x.nii", "--storage-options", deep)
    assert r.returncode == 2 and "deep.json" in r.stderr and "nested too deeply" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run(env, "info", "s3://b/x.nii", "--storage-options", "/dev/zero")
    assert r.returncode == 2 and "/dev/zero" in r.stderr and "larger than" in r.stderr


def test_secrets_are_found_in_options_and_urls():
    found = _sources.secrets_of(
        {"key": "AKIAKEY", "anon": False, "client_kwargs": {"aws_secret_access_key": SECRET}},
        ["https://user:pa55word@host/x.nii?X-Amz-Signature=abcdef123&versionId=7", None, "/a/b"],
    )
    assert set(found) == {"AKIAKEY", SECRET, "pa55word", "abcdef123"}


def test_everything_printed_is_redacted(monkeypatch, capsys):
    """Results, errors and --debug tracebacks written while a command runs show ``***`` for every
    credential of its storage options (here a command that prints them on purpose)."""
    import lazyvol.cli.parser as parser_module
    from lazyvol.errors import FormatError

    def leaky(args):
        print(f"result with {SECRET} inside")
        print(json.dumps({"echo": SECRET}))
        raise FormatError(f"s3://b/x.nii: denied for secret {SECRET}")

    monkeypatch.setattr(parser_module, "cmd_info", leaky)
    argv = ["info", "s3://b/x.nii", "--storage-option", f"secret={SECRET}"]
    assert cli_main(argv) == 2
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert out.count("***") == 2 and "lazyvol: error: s3://b/x.nii: denied for secret ***" in err
    assert cli_main([*argv, "--debug"]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" in err and "FormatError" in err and SECRET not in out + err

    def buggy(args):
        raise RuntimeError(f"a bug quoting {SECRET}")

    monkeypatch.setattr(parser_module, "cmd_info", buggy)
    assert cli_main(argv) == 1
    out, err = capsys.readouterr()
    assert "RuntimeError: a bug quoting ***" in err and SECRET not in err
    # without credentials a bug propagates as before
    with pytest.raises(RuntimeError):
        cli_main(["info", "s3://b/x.nii"])


def test_stats_of_all_nan_data_prints_no_warning(env, tmp_path):
    """All-NaN data (or an empty mask) has no percentile error bound: the text output says so,
    with nothing on stderr (numpy's 'All-NaN slice encountered' warning leaked there)."""
    path = tmp_path / "nan.nii"
    nib.save(nib.Nifti1Image(np.full((3, 3, 3), np.nan, np.float32), np.eye(4)), path)
    r = run(env, "-q", "stats", path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert "count     0" in r.stdout and "percentiles (no values)" in r.stdout


def test_info_of_a_one_series_folder_lists_the_files_it_skipped(env, tmp_path):
    """A folder of one series and a file cut inside its header: info named no skipped file (its
    table of several series did), so the cut file went unnoticed."""
    from lazyvol.testing import write_dicom_series

    truth = write_dicom_series(tmp_path / "s", (8, 6, 4))
    cut = tmp_path / "s" / "cut.dcm"
    cut.write_bytes(Path(truth.files[0]).read_bytes()[:300])
    r = run(env, "info", tmp_path / "s", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["shape"] == [8, 6, 4]
    assert [p for p, _ in d["skipped"]] == [str(cut)]
    r = run(env, "info", tmp_path / "s", "-v")
    assert r.returncode == 0 and "skipped 1 file(s)" in r.stdout and str(cut) in r.stdout
    # a name holding a newline is one line of the list, escaped as the table escapes names
    (tmp_path / "s" / "junk\nIM9.dcm: ok").write_bytes(b"x")
    r = run(env, "info", tmp_path / "s", "-v")
    lines = r.stdout.splitlines()
    assert not any(line.startswith("IM9.dcm") for line in lines), r.stdout
    assert any("junk\\nIM9.dcm: ok: not a DICOM file" in line for line in lines), r.stdout


# -- bad paths and options: one line naming the path, exit 2 ------------------------------------------


def _one_line_error(capsys, argv, *expected):
    """Run the command in-process; it must fail with one ``lazyvol: error:`` line holding every
    ``expected`` text, and print nothing on stdout."""
    code = cli_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.startswith("lazyvol: error: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and out == "", (out, err)
    for text in expected:
        assert str(text) in err, err
    return err


def test_cache_dir_that_is_a_file_is_refused(capsys, tmp_path, monkeypatch):
    """``cache list/clear --cache-dir FILE`` said 'the cache is empty' / 'removed 0' and exited 0."""
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))
    regular = tmp_path / "regular.txt"
    regular.write_text("x")
    for action in ("list", "clear"):
        _one_line_error(capsys, ["cache", action, "--cache-dir", regular], "--cache-dir", regular)
        under = regular / "sub"
        _one_line_error(capsys, ["cache", action, "--cache-dir", under], "--cache-dir", regular)
        monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(regular))
        _one_line_error(capsys, ["cache", action], "LAZYVOL_CACHE_DIR", regular)
        monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))
    # a folder that does not exist yet is an empty cache, not an error
    assert cli_main(["cache", "list", "--cache-dir", str(tmp_path / "new")]) == 0
    assert "no such folder yet" in capsys.readouterr().out


def test_bad_source_paths_are_one_line(capsys, tmp_path, monkeypatch):
    """A missing path, a file named as a folder ('x.nii/') and a file named as a Zarr store, for
    every command taking a source: one line naming the path ('references' said 'no such file'
    for a .nii and 'cannot stat (Not a directory)' for 'x.nii/')."""
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))
    nii = write_phantom_nifti(tmp_path / "p.nii", (4, 4, 3))
    (tmp_path / "file.zarr").write_text("x")
    commands = {
        "info": [],
        "stats": [],
        "convert": [tmp_path / "o.zarr"],
        "references": ["-o", tmp_path / "r.json"],
    }
    cases = {
        tmp_path / "missing.nii": "no such file or directory",
        tmp_path / "missing.hdr": "no such file or directory",
        f"{nii}/": "is a file, not a folder",
        tmp_path / "file.zarr": "a Zarr store (.zarr) is a folder",
    }
    for command, extra in commands.items():
        for path, why in cases.items():
            _one_line_error(capsys, [command, path, *extra], f"{path}: ", why)
    _one_line_error(capsys, ["stats", nii, "--mask", tmp_path / "m.nii"], "--mask ", "m.nii: no")
    assert not (tmp_path / "o.zarr").exists() and not (tmp_path / "r.json").exists()


def test_references_output_paths(capsys, tmp_path):
    """-o naming a folder (with --overwrite) or a file in a missing folder gave a traceback."""
    nii = write_phantom_nifti(tmp_path / "p.nii", (4, 4, 3))
    (tmp_path / "folder").mkdir()
    (tmp_path / "regular").write_text("x")
    out = tmp_path / "folder"
    _one_line_error(capsys, ["references", nii, "-o", out, "--overwrite"], f"-o {out}: is a folder")
    for out in (tmp_path / "nodir" / "r.json", tmp_path / "regular" / "r.json"):
        _one_line_error(capsys, ["references", nii, "-o", out], f"-o {out}: the folder ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "p.nii", "regular"]
    assert list((tmp_path / "folder").iterdir()) == []


def test_options_without_effect_are_refused(capsys, tmp_path, monkeypatch):
    """An option that would be ignored in the given combination is a one-line usage error saying
    what to add or drop (``info --slice 3`` without ``--header`` printed the summary, exit 0)."""
    from lazyvol.testing import write_dicom_series

    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))
    nii = write_phantom_nifti(tmp_path / "p.nii", (4, 4, 3))
    dcm = tmp_path / "dcm"
    write_dicom_series(dcm, (4, 4, 3))
    refused = [
        (["info", nii, "--slice", "3"], "add --header"),
        (["info", dcm, "--slice", "0"], "add --header"),
        (["info", nii, "--header", "--slice", "1"], "drop --slice"),
        (["stats", nii, "--connect-timeout", "3"], "add --scheduler ADDRESS"),
        (["stats", nii, "--connect-timeout", "3", "--scheduler", "threads"], "--scheduler ADDRESS"),
        (["cache", "list", "--scheduler", "threads"], "drop --scheduler"),
        (["cache", "list", "--older-than", "3"], "'cache clear'"),
        (["stats", nii, "--percentiles", ""], "--percentiles is empty"),
        (["references", nii, "-o", tmp_path / "r.json", "--per-slice-rescale", "arrays"], "drop"),
    ]
    for argv, why in refused:
        _one_line_error(capsys, argv, why)
    assert not (tmp_path / "r.json").exists()
    # the same options where they do something
    assert cli_main(["info", str(dcm), "--header", "--slice", "2"]) == 0
    assert "IM00002" in capsys.readouterr().out
    assert cli_main(["info", str(dcm), "-v"]) == 0
    assert cli_main(["-q", "stats", str(nii), "--scheduler", "threads"]) == 0
    # a verbosity flag is accepted wherever it is given, also where it adds nothing
    for argv in (["info", str(nii), "-v"], ["info", str(nii), "--header", "-v"]):
        assert cli_main(argv) == 0


def test_header_of_a_gzip_with_a_bad_crc(capsys, tmp_path):
    """A .nii.gz whose gzip CRC is wrong: 'info --header' said 'nibabel cannot read the header:
    Cannot work out file type of ...'; it names the file and the broken gzip stream, one line."""
    import gzip

    nii = tmp_path / "n.nii"
    nib.save(nib.Nifti1Image(np.arange(64, dtype=np.int16).reshape(4, 4, 4), np.eye(4)), nii)
    data = bytearray(gzip.compress(nii.read_bytes()))
    data[-6] ^= 0xFF  # inside the CRC-32 of the gzip trailer
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(bytes(data))
    try:  # with indexed_gzip, nibabel reads a small file whole and meets the CRC; with gzip not
        nib.load(bad)
    except Exception:
        pass
    else:
        pytest.skip("nibabel reads this header without checking the gzip CRC")
    for extra in ([], ["--json"]):
        err = _one_line_error(capsys, ["info", bad, "--header", *extra], f"{bad}: ", "gzip")
        assert "CRC" in err and "nibabel" not in err and "fetch or copy" in err
    # the same message from Python: the header read at open meets the CRC
    from lazyvol import FormatError
    from lazyvol import open as lv_open

    with pytest.raises(
        FormatError, match=r"bad\.nii\.gz: the gzip stream fails its own checksum: the CRC-32"
    ):
        lv_open(bad)
    good = tmp_path / "good.nii.gz"
    good.write_bytes(gzip.compress(nii.read_bytes()))
    assert cli_main(["info", str(good), "--header"]) == 0
    assert "sizeof_hdr" in capsys.readouterr().out


def test_mask_on_another_grid_is_one_line(capsys, tmp_path):
    """The GridMismatchError message printed each affine over four lines; all of it is kept, on
    one line."""
    nii = write_phantom_nifti(tmp_path / "p.nii", (6, 5, 4))
    for name, shape, affine in (
        ("small.nii", (5, 5, 5), np.eye(4)),
        ("zoomed.nii", (6, 5, 4), np.diag([2.0, 2.0, 2.0, 1.0])),
    ):
        mask = tmp_path / name
        nib.save(nib.Nifti1Image(np.ones(shape, np.uint8), affine), mask)
        err = _one_line_error(capsys, ["stats", nii, "--mask", mask], name, "(6, 5, 4)", str(shape))
        assert err.count("affine [[") == 2 and "], [" in err and "Resample the mask" in err


def test_empty_paths_and_warnings_are_one_line(capsys, tmp_path, monkeypatch):
    """An empty path is named as such (``info ""`` said ': no such file or directory'), an empty
    --mask is an error (it computed statistics without a mask), and a warning is one line
    ``lazyvol: warning: ...`` printed once (Python added the warning code's source line, and the
    DICOM scan index warning came twice)."""
    from lazyvol.testing import write_dicom_series

    nii = write_phantom_nifti(tmp_path / "p.nii", (4, 4, 3))
    _one_line_error(capsys, ["info", ""], "the path is empty")
    _one_line_error(capsys, ["stats", nii, "--mask", ""], "--mask: the path is empty")
    _one_line_error(capsys, ["convert", nii, ""], "the destination is empty")
    regular = tmp_path / "regular.txt"
    regular.write_text("x")
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(regular))  # no scan index can be written
    write_dicom_series(tmp_path / "dcm", (4, 4, 3))
    assert cli_main(["info", str(tmp_path / "dcm")]) == 0
    err = capsys.readouterr().err
    assert err.startswith("lazyvol: warning: cannot write the DICOM scan index"), err
    assert len(err.strip().splitlines()) == 1, err


def test_a_warning_made_an_error_is_one_line_error(capsys, tmp_path, monkeypatch):
    """``python -W error -m lazyvol info`` on a folder that warns ended in a traceback (the one-line
    handler caught lazyvol's errors, not its warnings raised as exceptions): it is the warning's
    text as an error line and the error exit status; another package's warning raised stays a
    traceback (a bug, not the user's input)."""
    import warnings

    from lazyvol.testing import write_dicom_series

    regular = tmp_path / "regular.txt"
    regular.write_text("x")
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(regular))  # no scan index can be written
    write_dicom_series(tmp_path / "dcm", (4, 4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        status = cli_main(["info", str(tmp_path / "dcm")])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("lazyvol: error: cannot write the DICOM scan index"), err
    assert len(err.strip().splitlines()) == 1, err
    monkeypatch.setattr(
        "lazyvol.cli.parser.cmd_info",
        lambda args: warnings.warn("numpy: something", RuntimeWarning, stacklevel=2),
    )
    with warnings.catch_warnings(), pytest.raises(RuntimeWarning, match="numpy: something"):
        warnings.simplefilter("error")
        cli_main(["info", str(tmp_path / "dcm")])


def _series_with_damaged_last_slice(folder: Path) -> Path:
    """A series whose last slice file is cut short (a copy in progress): the volume opens one
    slice short, saying so only in its warnings."""
    from lazyvol.testing import write_dicom_series

    truth = write_dicom_series(folder, (8, 8, 6))
    last = Path(truth.files[-1])
    last.write_bytes(last.read_bytes()[:200])
    return folder


@pytest.mark.parametrize("command", ["convert", "stats"])
def test_convert_and_stats_say_the_volume_warnings(capsys, tmp_path, command):
    """``convert`` wrote a volume one slice short (its last file damaged) saying only "wrote ...",
    and ``stats`` said nothing either, where ``info`` warns (h33): the volume's own warnings are
    ``lazyvol: warning:`` lines on stderr, as the command's other warnings are."""
    import lazyvol as lv

    src = _series_with_damaged_last_slice(tmp_path / "s")
    notes = lv.open(src).meta["warnings"]
    assert any("damaged" in n for n in notes)
    argv = ["convert", src, tmp_path / "o.nii"] if command == "convert" else ["stats", src]
    assert cli_main([str(a) for a in argv]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("lazyvol: warning: ")]
    assert any("damaged" in ln for ln in lines), err
    assert len(lines) == len(set(lines)) >= len(notes)


@pytest.mark.parametrize("choose", [[], ["--series", "1"]])
def test_info_says_the_volume_warnings_once(capsys, tmp_path, choose):
    """``info`` of a volume with warnings (its last slice damaged) listed each in its report and
    printed it again on stderr (``lazyvol: warning: ...``, lv.open's Python warning): each is
    said once, in the report; ``--json`` keeps them in ``meta.warnings`` and on stderr."""
    src = _series_with_damaged_last_slice(tmp_path / "s")
    assert cli_main(["info", str(src), *choose]) == 0
    out, err = capsys.readouterr()
    assert any("damaged" in ln for ln in out.splitlines() if ln.startswith("warning: "))
    assert "damaged" not in err, err
    assert cli_main(["info", str(src), *choose, "--json"]) == 0
    out, err = capsys.readouterr()
    assert any("damaged" in n for n in json.loads(out)["meta"]["warnings"])
    assert "lazyvol: warning: " in err and "damaged" in err


def test_convert_no_sidecars(capsys, tmp_path):
    """A sidecar already beside the destination: the refusal offered ``sidecars=False``, a Python
    keyword no flag spelled (h33); ``--no-sidecars`` writes the NIfTI alone, as dcm2niix -b n."""
    from lazyvol.testing import write_dicom_series

    write_dicom_series(tmp_path / "s", (6, 5, 4))
    (tmp_path / "o.json").write_text("{}")
    err = _one_line_error(capsys, ["convert", tmp_path / "s", tmp_path / "o.nii"], "--no-sidecars")
    assert "sidecars=False" not in err
    assert cli_main(["convert", str(tmp_path / "s"), str(tmp_path / "o.nii"), "--no-sidecars"]) == 0
    assert (tmp_path / "o.json").read_text() == "{}"  # untouched, none written
    assert nib.load(tmp_path / "o.nii").shape == (6, 5, 4)
    capsys.readouterr()
    _one_line_error(
        capsys, ["convert", tmp_path / "s", tmp_path / "o.zarr", "--no-sidecars"], "NIfTI"
    )
    assert not (tmp_path / "o.zarr").exists()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
@pytest.mark.parametrize("args", [("info",), ("stats", "--json", "-q")], ids=["info", "stats"])
def test_output_that_cannot_be_written_is_one_error_line(env, phantom, args):
    """stdout on a full disk (/dev/full: every write fails with ENOSPC): a 20-line traceback and
    exit status 1, where the docs promise one ``lazyvol: error:`` line and status 2."""
    path, _ = phantom
    cmd = [sys.executable, "-m", "lazyvol", args[0], str(path), *args[1:]]
    with open("/dev/full", "w") as full:
        r = subprocess.run(
            cmd, env=env, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120
        )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "lazyvol: error: cannot write to standard output: No space left on device"
    ]


def test_a_closed_standard_output_is_one_error_line(env, phantom):
    """Started with stdout closed (``lazyvol info f >&-``: Python's sys.stdout is None): an
    AttributeError traceback and status 1."""
    path, _ = phantom
    cmd = [sys.executable, "-m", "lazyvol", "info", str(path)]
    r = subprocess.run(
        cmd,
        env=env,
        stdout=None,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.close(1),
    )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "lazyvol: error: cannot write to standard output: the stream is closed"
    ]


def test_info_json_meta_holds_no_identity_token(env, phantom):
    """``lazyvol info --json`` printed the source files' identity token (lazyvol's bookkeeping:
    a chmod of an unchanged file changed the output); the metadata is the file's own."""
    path, _ = phantom
    r = run(env, "info", path, "--json", "-q")
    assert r.returncode == 0, r.stderr
    meta = json.loads(r.stdout)["meta"]
    assert "header_files_token" not in meta and meta["format"].lower().startswith("nifti")


def test_info_json_shows_header_extensions_by_code_and_size(env, tmp_path):
    """A NIfTI header extension's bytes (a CIFTI XML, a DICOM header: megabytes) are not printed
    by info --json: their codes and sizes, as nibabel's header lists them."""
    import nibabel as nib

    img = nib.Nifti1Image(np.zeros((4, 4, 4), "int16"), np.eye(4))
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"a comment " * 500))
    nib.save(img, tmp_path / "x.nii")
    want = [
        {"code": int(e.get_code()), "bytes": len(e.get_content())}
        for e in nib.load(tmp_path / "x.nii").header.extensions
    ]
    r = run(env, "info", tmp_path / "x.nii", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["meta"]["nifti_fields"]["extensions"] == want
    assert "a comment" not in r.stdout
