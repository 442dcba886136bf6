"""Statistics of vector images (NIfTI dim[5] and on) and of masks that hold no numbers.

A vector image (a displacement field, DTI V1, an RGB vector intent) is never pooled into one
result: ``lazyvol.stats`` refuses it without ``axis=`` and the command reports each component.
A mask whose values cannot be tested against zero is refused before any data is read.
"""

from __future__ import annotations

import json
import subprocess
import sys

import dask.array as da
import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol.cli import main as cli_main

RGB = np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")])


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))


def _vector(tmp_path, intent="vector", shape=(6, 5, 4, 1, 3)):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    x += np.arange(shape[-1], dtype=np.float32) * 10  # components far apart: pooling shows
    img = nib.Nifti1Image(x, np.eye(4))
    img.header.set_intent(intent)
    path = tmp_path / f"{intent.replace(' ', '_')}.nii"
    nib.save(img, path)
    return path, x


@pytest.mark.parametrize("intent", ["vector", "fnirt disp field", "displacement vector"])
def test_components_on_the_4th_axis_are_not_pooled_either(tmp_path, intent):
    """FSL stores displacement fields (fnirt, topup) as 4-D with an intent saying so, and a cut
    of a 5-D vector image written back is 4-D with its intent: both were pooled (count 3x)."""
    path, x = _vector(tmp_path, intent, shape=(6, 5, 4, 3))
    vol = lv.open(path)
    with pytest.raises(lv.DataTypeError, match=r"axis 3 \(NIfTI dim\[4\], 3 values\)"):
        lv.stats(vol)
    res = lv.stats(vol, axis=(0, 1, 2))
    np.testing.assert_allclose(res.mean, x.astype(np.float64).reshape(-1, 3).mean(axis=0))
    (tmp_path / "five").mkdir()
    five, _ = _vector(tmp_path / "five")  # (x, y, z, 1, 3)
    lv.open(five)[:, :, :, 0, :].to_nifti(tmp_path / "cut.nii")
    with pytest.raises(lv.DataTypeError, match="components"):
        lv.stats(lv.open(tmp_path / "cut.nii"))
    # a 4-D series without such an intent is a time series: one result, as before
    plain = nib.Nifti1Image(x, np.eye(4))
    nib.save(plain, tmp_path / "series.nii")
    assert lv.stats(lv.open(tmp_path / "series.nii")).count == x.size


@pytest.mark.parametrize("intent", ["vector", "rgb vector", "none"])
def test_stats_refuses_to_pool_the_components_of_a_vector_image(tmp_path, intent):
    """Before, count was 3 x the voxels and the mean that of x, y and z together."""
    path, x = _vector(tmp_path, intent)
    vol = lv.open(path)
    with pytest.raises(lv.DataTypeError, match=r"axis 4 \(NIfTI dim\[5\], 3 values\)") as info:
        lv.stats(vol)
    assert "axis=(0, 1, 2, 3)" in str(info.value) and str(path) in str(info.value)
    # a cut keeps track of which axis is the component one
    with pytest.raises(lv.DataTypeError, match=r"axis 3 \(NIfTI dim\[5\]"):
        lv.stats(vol[:, :, :, 0])
    res = lv.stats(vol, axis=(0, 1, 2, 3), exact_percentiles=True)
    ref = x.astype(np.float64).reshape(-1, 3)
    assert res.count.tolist() == [ref.shape[0]] * 3
    np.testing.assert_allclose(res.mean, ref.mean(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(res.percentiles, np.percentile(ref, res.q, axis=0).T)
    pooled = lv.stats(vol, axis=(0, 1, 2, 3, 4))  # asked for explicitly
    assert pooled.count == x.size


def test_a_vector_time_series_is_split_by_component_only(tmp_path):
    """dim[4] time points of dim[5] components (x, y, z, t, c): one component cut from it is a
    time series, not components on its 4th axis (the 4-D FSL-layout rule took it for one), so
    lv.stats(vol[..., 0]) and the command (which cuts each component) refused it, the command
    telling the user to run itself."""
    path, x = _vector(tmp_path, shape=(6, 5, 4, 3, 2))
    vol = lv.open(path)
    for c in range(2):
        res = lv.stats(vol[..., c])
        assert res.count == x[..., c].size
        assert res.mean == pytest.approx(x[..., c].astype(np.float64).mean(), rel=1e-12)
    r = _cli(path, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert sorted(d["channels"]) == ["0", "1"]
    for c in range(2):
        assert d["channels"][str(c)]["count"] == x[..., c].size
        assert d["channels"][str(c)]["max"] == x[..., c].max()


@pytest.mark.parametrize(
    ("shape", "cut", "kept"),
    [
        ((6, 5, 4, 3, 2), (..., 0), False),  # one component of a vector series: a time series
        ((6, 5, 4, 3, 2), (..., 1, slice(None)), True),  # one time point: FSL's 4-D layout
        ((6, 5, 4, 3, 2), (..., slice(None, None, -1), 0), False),
        ((6, 5, 4, 3), (..., 1), False),  # one component of FSL's 4-D field: a 3-D image
        ((6, 5, 4, 3), (slice(1, 4),), True),
    ],
)
def test_a_cut_without_its_components_is_written_without_their_intent(tmp_path, shape, cut, kept):
    """A NIfTI written from one component of a vector time series (x, y, z, t, c) kept the
    vector intent: a 4-D file of time points with a component intent is FSL's layout of a
    vector field, so lazyvol stats (as FSL) read the one component's 3 time points as 3
    components. The intent (code, parameters, name) is now left out of a cut that dropped the
    axis of its components, and kept while that axis is there."""
    path, x = _vector(tmp_path, shape=shape)
    part = lv.open(path)[cut]
    out = part.to_nifti(tmp_path / "part.nii")
    assert nib.load(out).header.get_intent()[0] == ("vector" if kept else "none")
    d = json.loads(_cli(out, "--json").stdout)
    want = x[cut]
    if kept:
        assert sorted(d["channels"]) == [str(c) for c in range(want.shape[3])]
    else:
        assert "channels" not in d or len(d["channels"]) == 1
        assert (d["channels"]["0"] if "channels" in d else d)["count"] == want.size


def test_stats_of_a_5d_volume_without_components_is_one_result(tmp_path):
    x = np.arange(6 * 5 * 4 * 2, dtype=np.int16).reshape(6, 5, 4, 2, 1)
    path = tmp_path / "t.nii"
    nib.save(nib.Nifti1Image(x, np.eye(4)), path)
    res = lv.stats(lv.open(path))
    assert res.count == x.size and res.sum == int(x.sum())


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "lazyvol", "-q", "stats", *map(str, args)],
        capture_output=True,
        text=True,
    )


def test_command_reports_every_component(tmp_path):
    path, x = _vector(tmp_path)
    mask = (np.arange(6 * 5 * 4).reshape(6, 5, 4) % 3 == 0).astype(np.uint8)
    mpath = tmp_path / "mask.nii"
    nib.save(nib.Nifti1Image(mask, np.eye(4)), mpath)
    r = _cli(path, "--json", "--mask", mpath)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert sorted(d["channels"]) == ["0", "1", "2"]
    for c in range(3):
        ref = x[..., 0, c][mask.astype(bool)].astype(np.float64)
        got = d["channels"][str(c)]
        assert got["count"] == ref.size and got["max"] == ref.max()
        assert got["mean"] == pytest.approx(ref.mean(), rel=1e-12)
    # a mask with the same components masks each component with its own
    vmask = np.zeros(x.shape, np.uint8)
    vmask[..., 0, 1] = 1
    vpath = tmp_path / "vmask.nii"
    nib.save(nib.Nifti1Image(vmask, np.eye(4)), vpath)
    d = json.loads(_cli(path, "--json", "--mask", vpath).stdout)
    assert [d["channels"][c]["count"] for c in "012"] == [0, x[..., 0, 1].size, 0]
    r = _cli(path, "--per-volume")
    assert r.returncode == 0 and r.stdout.count("== channel") == 3, r.stderr


@pytest.mark.parametrize(
    "mask",
    [
        np.zeros((4, 5, 6), RGB),
        np.full((4, 5, 6), "a", dtype="U1"),
        np.zeros((4, 5, 6), dtype="datetime64[s]"),
        np.zeros((4, 5, 6), dtype=object),
    ],
    ids=["rgb", "str", "datetime", "object"],
)
def test_a_mask_that_holds_no_numbers_is_refused_before_reading(mask):
    """Before, numpy's TypeError came out of a dask task after the data was read."""

    def unread(block):
        raise AssertionError("data read")

    data = da.zeros((4, 5, 6), chunks=2).map_blocks(unread, dtype=np.float64)
    with pytest.raises(lv.DataTypeError, match=r"mask .*needs boolean or numeric") as info:
        lv.stats(data, mask=mask)
    assert f"got {mask.dtype}" in str(info.value)


def test_a_complex_mask_is_nonzero_where_not_zero_and_not_nan():
    x = np.arange(60, dtype=np.float64).reshape(3, 4, 5)
    m = np.zeros(x.shape, np.complex64)
    m[0] = 1j
    m[1, 0] = complex(np.nan, 0)
    res = lv.stats(x, mask=m)
    ref = x[(m != 0) & ~np.isnan(m)]
    assert res.count == ref.size and res.sum == ref.sum()


def test_command_refuses_an_rgb_mask_in_one_line(tmp_path, capsys):
    rgb = np.zeros((5, 6, 7), RGB)
    rgb["R"][1:4, 1:4, 1:4] = 255
    mpath = tmp_path / "rgb_mask.nii"
    nib.save(nib.Nifti1Image(rgb, np.eye(4)), mpath)
    path = tmp_path / "t1.nii"
    nib.save(nib.Nifti1Image(np.arange(210, dtype=np.int16).reshape(5, 6, 7), np.eye(4)), path)
    code = cli_main(["-q", "stats", str(path), "--mask", str(mpath)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "", (out, err)
    assert err.startswith("lazyvol: error: mask ") and len(err.strip().splitlines()) == 1
    assert str(mpath) in err and "Traceback" not in err
