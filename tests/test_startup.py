"""Start-up cost and the small-read fast path (issue 15): what a fresh process imports, and that a
read plan run directly gives exactly what nibabel and the dask graph give, errors included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol.chunking import PlanArray, direct_compute_allowed
from lazyvol.testing import write_phantom_nifti


def _fresh(code: str, tmp_path: Path) -> dict:
    """Run ``code`` in a fresh interpreter; it prints a JSON object on its last line."""
    env = dict(os.environ, LAZYVOL_CACHE_DIR=str(tmp_path / "cache"))
    for key in list(env):
        if key.startswith("DASK_"):
            env.pop(key)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


#: Expression listing the heavy modules a fresh process has loaded (tqdm is left out of the read
#: check: nibabel itself imports it through pydicom).
LOADED = (
    "sorted(m for m in sys.modules if m.split('.')[0] in {'dask', 'distributed', 'zarr', 'tqdm'} "
    "or m in {'lazyvol._stats', 'lazyvol.cache', 'lazyvol.dicom'})"
)
READ_LOADED = LOADED.replace(", 'tqdm'", "")


def test_import_loads_no_heavy_module(tmp_path: Path) -> None:
    res = _fresh(f"import sys, json, lazyvol; print(json.dumps({LOADED}))", tmp_path)
    assert res == []


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_slice_script_needs_no_dask(tmp_path: Path, suffix: str) -> None:
    path = write_phantom_nifti(tmp_path / f"v{suffix}", (40, 36, 30), slope=2.0, inter=-3.0)
    code = (
        "import sys, json, numpy as np, lazyvol as lv\n"
        f"v = lv.open({str(path)!r})\n"
        "a = v[:, :, 17:18].compute(); b = np.asarray(v[3:9, 4:30, 2:25])\n"
        f"print(json.dumps({{'a': a.tolist(), 'b': b.tolist(), 'mods': {READ_LOADED}}}))\n"
    )
    res = _fresh(code, tmp_path)
    assert res["mods"] == []
    ref = nib.load(path).get_fdata()
    np.testing.assert_array_equal(np.array(res["a"]), ref[:, :, 17:18])
    np.testing.assert_array_equal(np.array(res["b"]), ref[3:9, 4:30, 2:25])


def test_public_names_resolve_lazily() -> None:
    import lazyvol._stats as stats_module

    for name in lv.__all__:
        assert getattr(lv, name) is not None, name
    assert callable(lv.stats) and lv.stats is stats_module.stats
    assert lv.VolumeStats is stats_module.VolumeStats
    assert lv.scan is sys.modules["lazyvol.dicom"].scan
    assert set(lv.__all__) <= set(dir(lv))
    with pytest.raises(AttributeError):
        _ = lv.not_a_name  # type: ignore[attr-defined]


@pytest.fixture
def phantom(tmp_path: Path) -> Path:
    return Path(write_phantom_nifti(tmp_path / "p.nii", (33, 20, 70), slope=0.5, inter=10.0))


def test_direct_compute_matches_nibabel_and_dask(phantom: Path) -> None:
    vol = lv.open(phantom, chunks=(33, 20, 16))
    ref = nib.load(phantom).get_fdata()
    for index in [
        np.s_[:, :, :],
        np.s_[:, :, 40:41],
        np.s_[5:9, 2:19, 10:60],
        np.s_[::2, 3:11, ::-3],
        np.s_[-5:, :1, 69:],
    ]:
        cut = vol[index]
        direct = cut.compute()
        via_dask = cut.data.compute(scheduler="sync")
        np.testing.assert_array_equal(direct, ref[index])
        np.testing.assert_array_equal(via_dask, ref[index])
        assert direct.dtype == via_dask.dtype == vol.dtype
        assert direct.flags.writeable


def test_direct_compute_keeps_the_blocks_memory_order(phantom: Path, tmp_path: Path) -> None:
    """A read of several blocks comes back in the blocks' own memory order (a file's layout:
    NIfTI, DICOM and lazyvol's Zarr blocks are Fortran-ordered), not transposed into a C array;
    a plan whose blocks are C-ordered gives a C array. Values equal nibabel's, pydicom's, and
    the plan's source."""
    from lazyvol.chunking import plan_array
    from lazyvol.testing import write_dicom_series

    ref = nib.load(phantom).get_fdata()
    store = lv.open(phantom).to_zarr(tmp_path / "p.zarr")
    for vol in (lv.open(phantom, chunks=(33, 20, 16)), lv.open(store, chunks=(33, 20, 16))):
        assert vol.data.numblocks[2] == 5
        out = vol.compute()
        np.testing.assert_allclose(out, ref, rtol=1e-6)
        assert out.flags.f_contiguous and not out.flags.c_contiguous

    # 4-D blocks of a few slices of whole volumes are views with Fortran-like strides
    four = write_phantom_nifti(tmp_path / "t.nii", (30, 20, 25, 4))
    out = lv.open(four, chunks=(30, 20, 6, 2)).compute()
    np.testing.assert_array_equal(out, np.asarray(nib.load(four).dataobj))
    assert out.flags.f_contiguous

    folder = tmp_path / "ct"
    write_dicom_series(folder, (20, 24, 12), slope=2.0, intercept=-5.0, shuffle_names=True)
    vol = lv.open(folder, chunks=(20, 24, 4))
    assert vol.data.numblocks[2] == 3
    out = vol.compute()
    np.testing.assert_array_equal(out, _dicom_reference(folder))
    assert out.flags.f_contiguous and not out.flags.c_contiguous

    source = np.arange(6 * 5 * 4, dtype=np.int32).reshape(6, 5, 4)
    c_plan = plan_array(
        lambda plan, index: np.ascontiguousarray(plan[index]),
        source,
        source.shape,
        ((3, 3), (5,), (2, 2)),
        source.dtype,
        "c-blocks",
    )
    out = c_plan.compute()
    np.testing.assert_array_equal(out, source)
    assert out.flags.c_contiguous


def test_data_is_plain_dask_array(phantom: Path) -> None:
    import dask.array as da

    vol = lv.open(phantom)
    assert isinstance(vol._arr, PlanArray)
    assert isinstance(vol.data, da.Array)
    assert vol.chunks == vol.data.chunks
    assert vol[:, :, 3:5].data.shape == (33, 20, 2)
    np.testing.assert_allclose(
        float(vol.data.mean().compute()), nib.load(phantom).get_fdata().mean()
    )


def test_direct_compute_raises_what_dask_raises(phantom: Path) -> None:
    vol = lv.open(phantom)
    cut = vol[:, :, 60:61]
    with open(phantom, "r+b") as f:
        f.truncate(os.path.getsize(phantom) // 2)
    with pytest.raises(lv.FormatError, match="truncated") as direct:
        cut.compute()
    with pytest.raises(lv.FormatError, match="truncated") as via_dask:
        cut.data.compute(scheduler="sync")
    assert str(direct.value) == str(via_dask.value)


def test_configured_scheduler_is_honoured(phantom: Path) -> None:
    import dask

    assert direct_compute_allowed()
    with dask.config.set(scheduler="sync"):
        assert not direct_compute_allowed()
        np.testing.assert_array_equal(
            lv.open(phantom)[:, :, 1:2].compute(), nib.load(phantom).get_fdata()[:, :, 1:2]
        )


def _dicom_reference(folder: Path) -> np.ndarray:
    """Volume (i, j, k) from pydicom alone: slices sorted along the slice normal, rescaled."""
    import pydicom

    dss = [pydicom.dcmread(p) for p in sorted(folder.glob("*.dcm"))]
    iop = np.array([float(x) for x in dss[0].ImageOrientationPatient])
    normal = np.cross(iop[:3], iop[3:])
    dss.sort(key=lambda d: float(np.dot(normal, [float(x) for x in d.ImagePositionPatient])))
    return np.stack(
        [
            d.pixel_array.T * float(d.get("RescaleSlope", 1)) + float(d.get("RescaleIntercept", 0))
            for d in dss
        ],
        axis=-1,
    )


def test_dicom_small_reads_run_their_plan_directly(tmp_path: Path) -> None:
    from lazyvol.testing import write_dicom_series

    folder = tmp_path / "ct"
    write_dicom_series(folder, (20, 24, 12), slope=2.0, intercept=-5.0, shuffle_names=True)
    code = (
        "import sys, json, numpy as np, lazyvol as lv\n"
        f"v = lv.open({str(folder)!r})\n"
        "direct = type(v._arr).__name__\n"
        "a = v[:, :, 7:8].compute(); b = np.asarray(v[3:9, 4:20, 2:11])\n"
        "loaded = 'distributed' in sys.modules\n"
        f"mods = {READ_LOADED}\n"
        "m = float(v.data.mean().compute())\n"
        "heavy = sorted({n.split('.')[0] for n in sys.modules} & {'pydicom'})\n"
        "print(json.dumps({'a': a.tolist(), 'b': b.tolist(), 'direct': direct, 'm': m,\n"
        "                  'loaded': loaded, 'after_mean': 'distributed' in sys.modules,\n"
        "                  'heavy': heavy, 'mods': mods}))\n"
    )
    res = _fresh(code, tmp_path)
    ref = _dicom_reference(folder)
    assert res["direct"] == "PlanArray"
    # the open and the small reads imported neither dask nor zarr (dask.array alone, with the
    # xarray, pandas and scipy that dask 2026.8 brings, is 0.5-0.8 s of a fresh process)
    assert res["mods"] == ["lazyvol.dicom"]
    np.testing.assert_array_equal(np.array(res["a"]), ref[:, :, 7:8])
    np.testing.assert_array_equal(np.array(res["b"]), ref[3:9, 4:20, 2:11])
    np.testing.assert_allclose(res["m"], ref.mean())
    # neither the small reads nor a whole-volume dask reduction imported dask.distributed
    assert res["loaded"] is False and res["after_mean"] is False
    # uncompressed files: headers by lazyvol's walker, pixels read in place (no pydicom import,
    # ~0.2 s of a cold open)
    assert res["heavy"] == []


@pytest.mark.parametrize(
    ("charset", "description"),
    [(None, "plain"), ("ISO_IR 100", "Séquence pondérée"), ("ISO_IR 192", "Последовательность")],
)
def test_dicom_scan_imports_neither_pydicom_nor_a_process_pool(
    tmp_path: Path, charset: str | None, description: str
) -> None:
    import pydicom

    from lazyvol.testing import write_dicom_series

    folder = tmp_path / "ct"
    write_dicom_series(folder, (16, 16, 9), shuffle_names=True)
    if charset is not None:  # a non-ASCII description in the usual character sets
        for path in folder.glob("*.dcm"):
            ds = pydicom.dcmread(path)
            ds.SpecificCharacterSet = charset
            ds.SeriesDescription = description
            ds.save_as(path)
    code = (
        "import sys, json, lazyvol as lv\n"
        f"rep = lv.scan({str(folder)!r})\n"
        "heavy = sorted({n.split('.')[0] for n in sys.modules} & "
        "{'pydicom', 'multiprocessing', 'dask', 'tqdm'})\n"
        "print(json.dumps({'n': [len(s.files) for s in rep], 'heavy': heavy,\n"
        "                  'd': [s.description for s in rep], 'ma': 'numpy.ma' in sys.modules}))\n"
    )
    res = _fresh(code, tmp_path)
    # (numpy.ma: np.median's NaN check imports it, 9 ms of a cold scan)
    assert res == {
        "n": [9],
        "heavy": [],
        "d": [description if charset else res["d"][0]],
        "ma": False,
    }


def test_rescanning_an_unchanged_folder_reads_only_its_saved_report(tmp_path: Path) -> None:
    """``lazyvol.scan`` of a folder whose listing is unchanged reads the saved report: no header
    parsing, grouping or reading code is imported (measured: a 10,000-file folder's reopen went
    from 66 to 42 ms, a third of it these imports), and the result is the first scan's. Opening
    it and reading a slice adds the reader, not the parser."""
    import pydicom

    from lazyvol.testing import write_dicom_series

    folder = tmp_path / "ct"
    write_dicom_series(folder, (16, 16, 9))
    parsing = "{'lazyvol.dicom.header_scan', 'lazyvol.dicom.walker', 'lazyvol.dicom.series', "
    parsing += "'lazyvol.dicom.stacking', 'lazyvol.dicom.records'}"
    code = (
        "import sys, json, lazyvol as lv\n"
        f"rep = lv.scan({str(folder)!r})\n"
        "mods = sorted(m for m in sys.modules if m.split('.')[0] == 'pydicom' or m in {\n"
        "    'lazyvol.dicom.reader', 'lazyvol.dicom.pixels'} | " + parsing + ")\n"
        f"part = lv.open({str(folder)!r})[:, :, 4:5].compute()\n"
        "after = sorted(m for m in sys.modules if m.split('.')[0] == 'pydicom' or m in "
        + parsing
        + ")\n"
        "print(json.dumps({'series': [s.to_json() for s in rep], 'mods': mods, 'after': after,\n"
        "                  'part': part[:, :, 0].tolist()}, default=str))\n"
    )
    first = _fresh(code, tmp_path)
    assert "lazyvol.dicom.header_scan" in first["mods"]  # the first scan parsed the headers
    again = _fresh(code, tmp_path)
    assert again["mods"] == [] and again["after"] == []
    assert again["series"] == first["series"] and len(again["series"][0]["files"]) == 9
    ds = pydicom.dcmread(again["series"][0]["files"][4])
    expected = ds.pixel_array.T * float(ds.get("RescaleSlope", 1)) + float(
        ds.get("RescaleIntercept", 0)
    )
    np.testing.assert_array_equal(np.array(again["part"]), expected)


def test_non_dicom_files_beside_a_series_are_told_apart_without_pydicom(tmp_path: Path) -> None:
    """Real exports carry a README, JSON sidecars, a NIfTI or an empty file beside the slices:
    each is skipped as not DICOM from its first bytes, without importing pydicom (0.15-0.6 s in a
    fresh process, more than the scan; it made a 151-file GE series scan 3x slower cold)."""
    from lazyvol.testing import write_dicom_series

    folder = tmp_path / "export"
    write_dicom_series(folder, (16, 16, 9))
    (folder / "README-Series.txt").write_text("Series 4: axial EPI, 150 images\n" * 40)
    (folder / "sidecar.json").write_text(json.dumps({"RepetitionTime": 2.0, "EchoTime": 0.03}))
    write_phantom_nifti(folder / "converted.nii.gz", (8, 8, 4))
    (folder / "empty").write_bytes(b"")
    code = (
        "import sys, json, lazyvol as lv\n"
        f"rep = lv.scan({str(folder)!r})\n"
        "heavy = sorted({n.split('.')[0] for n in sys.modules} & {'pydicom', 'PIL', 'requests'})\n"
        "print(json.dumps({'n': [len(s.files) for s in rep], 'heavy': heavy,\n"
        "                  'skipped': sorted((p.rsplit('/', 1)[-1], r) for p, r in rep.skipped)}))\n"
    )
    res = _fresh(code, tmp_path)
    assert res["n"] == [9] and res["heavy"] == []
    skipped = dict(res["skipped"])
    assert sorted(skipped) == ["README-Series.txt", "converted.nii.gz", "empty", "sidecar.json"]
    for name in ("README-Series.txt", "converted.nii.gz", "sidecar.json"):
        assert skipped[name].startswith("not a DICOM file"), (name, skipped[name])


def test_zarr_small_reads_run_their_plan_directly(phantom: Path, tmp_path: Path) -> None:
    store = lv.open(phantom).to_zarr(tmp_path / "p.zarr")
    vol = lv.open(store)
    assert isinstance(vol._arr, PlanArray)
    ref = nib.load(phantom).get_fdata()
    for index in [np.s_[:, :, 33:34], np.s_[4:30, 1:19, 2:69], np.s_[::3, :, 5:9]]:
        cut = vol[index]
        np.testing.assert_allclose(cut.compute(), ref[index], rtol=1e-6)
        np.testing.assert_array_equal(cut.compute(), cut.data.compute(scheduler="sync"))


def test_local_scheduler_keeps_dasks_choices(phantom: Path) -> None:
    import dask
    import dask.array as da

    from lazyvol.chunking import local_or_client_get, prefer_local_scheduler

    with dask.config.set(scheduler=None):
        prefer_local_scheduler()
        installed = dask.config.get("scheduler", None)
        if "distributed" in sys.modules:  # another test imported it: lazyvol leaves dask alone
            assert installed is None
        else:
            assert installed is local_or_client_get
            assert direct_compute_allowed()
        with dask.config.set(scheduler="sync"):  # the user's choice wins
            assert not direct_compute_allowed()
            assert float(da.ones(10, chunks=3).sum().compute()) == 10.0
    with dask.config.set(scheduler=local_or_client_get):
        x = lv.open(phantom).data
        assert float(x.sum().compute()) == float(nib.load(phantom).get_fdata().sum())


def test_local_scheduler_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_phantom_nifti(tmp_path / "v.nii", (10, 10, 10))
    code = (
        "import sys, json, dask, lazyvol as lv\n"
        f"v = lv.open({str(path)!r}); v.data\n"
        "print(json.dumps({'s': repr(dask.config.get('scheduler', None))}))\n"
    )
    monkeypatch.setenv("LAZYVOL_LOCAL_SCHEDULER", "0")
    assert _fresh(code, tmp_path)["s"] == "None"
    monkeypatch.delenv("LAZYVOL_LOCAL_SCHEDULER")
    assert "local_or_client_get" in _fresh(code, tmp_path)["s"]


@pytest.mark.parametrize("text", ["32MiB", "1GiB", "1 GB", "4e6", "100", "5kB", "2k", "1.5 GiB"])
def test_byte_sizes_parse_as_dask_parses_them(text: str) -> None:
    import dask.utils

    from lazyvol.config import _parse_bytes

    assert _parse_bytes(text) == dask.utils.parse_bytes(text)


def test_invalid_byte_size_raises_as_dask_does() -> None:
    from lazyvol.config import _parse_bytes

    with pytest.raises(ValueError):
        _parse_bytes("12 parsecs")


def test_configured_chunk_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from lazyvol.config import configured_chunk_budget

    monkeypatch.delenv("LAZYVOL_CHUNK_SIZE", raising=False)
    assert configured_chunk_budget() is None
    monkeypatch.setenv("LAZYVOL_CHUNK_SIZE", "3MiB")
    assert configured_chunk_budget() == 3 * 2**20


def test_a_client_made_later_runs_the_graph_as_dask_would(tmp_path: Path) -> None:
    """lazyvol's scheduler choice equals dask's own (checked against LAZYVOL_LOCAL_SCHEDULER=0
    when written): a client made after lazyvol's first dask array runs computations when it is
    the default client, not when made with ``set_as_default=False``; once it is closed, local
    threads run them again."""
    pytest.importorskip("distributed")
    path = write_phantom_nifti(tmp_path / "v.nii", (10, 10, 10))
    code = (
        "import os, json, dask, lazyvol as lv\n"
        "from distributed import Client, LocalCluster\n"
        f"v = lv.open({str(path)!r}); total = float(v.data.sum().compute())\n"
        "pid = dask.delayed(os.getpid)\n"
        "with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,\n"
        "                  dashboard_address=None) as cluster:\n"
        "    with Client(cluster, set_as_default=False) as c:\n"
        "        in_client = pid().compute(); on_client = float(v.data.sum().compute())\n"
        "    with Client(cluster) as c:\n"
        "        default = pid().compute()\n"
        "after = pid().compute()\n"
        "print(json.dumps({'me': os.getpid(), 'in_client': in_client, 'default': default,\n"
        "                  'after': after, 'total': total, 'on_client': on_client}))\n"
    )
    res = _fresh(code, tmp_path)
    assert res["in_client"] == res["me"] and res["default"] != res["me"]
    assert res["after"] == res["me"]
    assert res["total"] == res["on_client"] == float(nib.load(path).get_fdata().sum())


def test_a_mosaic_series_opens_and_slices_without_dask(tmp_path: Path) -> None:
    """A 4-D Siemens mosaic series (one file per volume, tiles cut at read time): opening it and
    reading one slice of one volume import neither dask nor zarr, and give the written values."""
    from lazyvol.testing.mosaic import write_mosaic_series

    truth = write_mosaic_series(tmp_path / "epi", (12, 10, 7), volumes=3)
    code = (
        "import sys, json, numpy as np, lazyvol as lv\n"
        f"v = lv.open({str(tmp_path / 'epi')!r})\n"
        "a = v[:, :, 4:5, 1:2].compute()\n"
        f"print(json.dumps({{'a': a.tolist(), 'shape': list(v.shape), 'mods': {READ_LOADED}}}))\n"
    )
    res = _fresh(code, tmp_path)
    assert res["shape"] == list(truth.stored.shape)
    np.testing.assert_array_equal(np.array(res["a"]), truth.stored[:, :, 4:5, 1:2])
    assert res["mods"] == ["lazyvol.dicom"]
