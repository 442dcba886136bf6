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


def run(env, *args, script=False):
    cmd = [SCRIPT] if script else [sys.executable, "-m", "lazyvol"]
    return subprocess.run(
        [*cmd, *map(str, args)], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    path = write_phantom_nifti(d / "p.nii.gz", (40, 36, 24), dtype="int16")
    return Path(path), np.asarray(nib.load(path).dataobj)


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
    r = run(env, "cache", "list", "--json")
    entries = json.loads(r.stdout)
    assert len(entries) == 1 and entries[0]["size_bytes"] > 0
    r = run(env, "cache", "clear", "--older-than", "1")
    assert r.returncode == 0 and "removed 0" in r.stdout
    r = run(env, "cache", "clear")
    assert r.returncode == 0 and "removed 1" in r.stdout
    assert json.loads(run(env, "cache", "list", "--json").stdout) == []


def test_info_dicom_folder(env, tmp_path):
    lv = pytest.importorskip("lazyvol")
    if not hasattr(lv, "scan"):
        pytest.skip("lazyvol.scan (DICOM scan) not merged yet")
    testing_dicom = pytest.importorskip("lazyvol.testing.dicom")
    folder = tmp_path / "dcm"
    testing_dicom.write_series(folder)  # adjust to the DICOM helper's API once it lands
    (folder / "README.txt").write_text("not dicom")
    r = run(env, "info", folder, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert len(d["series"]) >= 1 and any("README.txt" in s[0] for s in d["skipped"])
