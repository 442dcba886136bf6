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
